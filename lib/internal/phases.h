/*
 * phases.h: the phase region of the segment (lib/phases.c), as seen by the
 * segment code that sizes, initialises, validates and repairs it.
 */
#ifndef PRDSHM_INTERNAL_PHASES_H
#define PRDSHM_INTERNAL_PHASES_H

#include <stddef.h>
#include <stdint.h>

#include "prdshm.h"
#include "internal/segment.h"

/* Bytes the phase region needs for @p cfg (max_phases and the plan). */
size_t prdshm__phases_bytes(const prdshm_config *cfg);

/* Initialise the region at seg->phases from @p cfg's plan.  Called once by
 * the creator, under the init lock, before the magic is written. */
int prdshm__phases_init(struct prdshm_seg *seg, const prdshm_config *cfg);

/* Validate the region's header at open (sizes, counts, offsets within
 * hdr->phase_bytes).  @return 0 or PRDSHM_ECORRUPT. */
int prdshm__phases_validate(struct prdshm_seg *seg);

/* Contribution of the phase structs to the layout hash. */
uint32_t prdshm__phases_layout_hash(void);

/* A session died (or was reaped): its IN_PROGRESS phases become FAILED
 * "agent <id> died", or QUEUED while attempts remain or when @p requeue.
 * Takes the phase mutex.  @p report may be NULL. */
int prdshm__phases_session_died(struct prdshm_seg *seg, uint32_t slot, uint32_t gen,
				const char *agent_id, int requeue,
				void (*report)(void *ctx, const char *line), void *ctx);
#endif
