/*
 * repair.h: taking the phase mutex (repair.c), for the operations of
 * lib/plan/ that read or change the region.
 */
#ifndef PRDSHM_INTERNAL_PLAN_REPAIR_H
#define PRDSHM_INTERNAL_PLAN_REPAIR_H

#include <stdint.h>

#include "plan/state.h"

/* Who takes the mutex, for the repair that may run when it is taken. */
struct repair_ctx {
	const char *who;
	int has_self;         /* the caller's own session: never tested */
	uint32_t slot, gen;
	void (*report)(void *ctx, const char *line);
	void *ctx;
};

/* For session @p s, or the operator when NULL; no report. */
void prdshm__phase_repair_ctx_init(struct repair_ctx *rc, const prdshm_session *s);
/* 1 if phase @p p's holder is a live session (the caller's own, in @p rc,
 * counts as live without a test; @p rc may be NULL). */
int prdshm__phase_holder_alive(struct prdshm_seg *seg, const struct prdshm__phase *p,
			       const struct repair_ctx *rc);

/* Take the phase mutex to change the region, repairing after a dead holder
 * and healing a derived field out of range.  On success the caller owns
 * the mutex and @p g describes the region.  @return 0, PRDSHM_EINVAL,
 * PRDSHM_ERECOVER, PRDSHM_ECORRUPT or the mutex's error. */
int prdshm__phase_lock_rw(struct prdshm_seg *seg, struct geom *g, struct repair_ctx *rc);
/* Unlock, then wake the waiters if @p op (may be NULL) rang the doorbell. */
void prdshm__phase_unlock(const struct geom *g, const struct op *op);
/* Rebuild the derived state from the statuses and wake the waiters.  Call
 * when holding the phase mutex. */
void prdshm__phase_heal(const struct geom *g);

/* A private copy of the region's @p bytes bytes (and of the agents' phase
 * fields into @p agent_phase unless NULL), under the mutex if @p locked and
 * it can be had quickly (*got says whether it was).  @return the copy, NULL
 * when out of memory. */
unsigned char *prdshm__phase_copy_region(struct prdshm_seg *seg, int locked, uint64_t bytes,
					 int32_t *agent_phase, int *got);
#endif
