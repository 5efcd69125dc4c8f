/*
 * ops.h: the shm backend's operations over the whole segment (lib/ops/):
 * its region list, segment entry points, a session's close, reaping and
 * recovery, check, snapshot.  Each has the contract of the public
 * function of the same name in prdshm.h (prdshm__shm_X is prdshm_X);
 * lib/api/ checks the handle and dispatches to them.
 */
#ifndef PRDSHM_INTERNAL_OPS_H
#define PRDSHM_INTERNAL_OPS_H

#include <stddef.h>

#include "prdshm.h"
#include "shm/segment.h"

/* The regions of a shm segment, in order (lib/ops/regions.c). */
extern const struct prdshm__regions prdshm__shm_regions;

int prdshm__shm_seg_create(const prdshm_config *cfg, prdshm_seg **out);
/* @p cfg gives the trust (shm_group), NULL: the owner alone. */
int prdshm__shm_seg_open(const char *shm_name, const prdshm_config *cfg, prdshm_seg **out);
void prdshm__shm_seg_close(prdshm_seg *seg);
int prdshm__shm_seg_unlink(const char *shm_name);
int prdshm__shm_seg_unlink_unused(const char *shm_name, const prdshm_config *cfg);
/* Fills all of @p info (this library's size); the caller copies out. */
int prdshm__shm_seg_info(prdshm_seg *seg, prdshm_seg_info *info);

int prdshm__shm_session_open(prdshm_seg *seg, const char *agent_id, unsigned flags,
			     int64_t timeout_ms, prdshm_session **out);
void prdshm__shm_session_close(prdshm_session *s);

/* Reap every ACTIVE slot whose owner is gone (failing or requeueing its
 * phases); @p n counts them.  Call holding sess_mutex.
 * @return 0 or PRDSHM_ETIMEDOUT. */
int prdshm__reap_dead_slots(struct prdshm_seg *seg, int requeue,
			    void (*report)(void *ctx, const char *line), void *ctx, size_t *n);

int prdshm__shm_reap(prdshm_seg *seg, int requeue, void (*report)(void *ctx, const char *line),
		     void *ctx, size_t *nreaped);
int prdshm__shm_recover(prdshm_seg *seg, void (*report)(void *ctx, const char *line), void *ctx);
int prdshm__shm_check(prdshm_seg *seg, unsigned flags,
		      void (*report)(void *ctx, int severity, const char *problem), void *ctx);
int prdshm__shm_snapshot_take(prdshm_seg *seg, unsigned flags, prdshm_snapshot **out);
#endif
