/*
 * locktable.h: what the other folders call of the lock table (lib/lock/):
 * the partition mutex, repair, rebuild and sweep of dead sessions
 * (partition.c), and the copy of a record for inspection (query.c).  What
 * only the lock files share is in lock/table.h.
 */
#ifndef PRDSHM_INTERNAL_LOCKTABLE_H
#define PRDSHM_INTERNAL_LOCKTABLE_H

#include <stdint.h>

#include "lock/region.h"
#include "shm/segment.h"

/* The repair function of partition (uintptr_t)@p arg: rebuild its derived
 * state.  Call holding the partition mutex. */
int prdshm__part_repair(struct prdshm_seg *seg, void *arg);

/* Take partition @p p's mutex, repairing it if its holder died.
 * @return 0 or PRDSHM_ERECOVER. */
int prdshm__part_lock(struct prdshm_seg *seg, uint32_t p, int64_t timeout_ms);
void prdshm__part_unlock(struct prdshm_seg *seg, uint32_t p);

/* Rebuild partition @p p's derived state from its records.  Call when
 * holding the partition mutex.  @return 0 (it cannot fail: whatever is
 * invalid is dropped). */
int prdshm__part_rebuild(struct prdshm_seg *seg, uint32_t p);

/* Remove the records of dead sessions from partition @p p and wake the
 * waiters they blocked.  Call when holding the partition mutex.
 * @return the number of records removed. */
uint32_t prdshm__part_sweep_dead(struct prdshm_seg *seg, uint32_t p,
				 void (*report)(void *ctx, const char *line), void *ctx);

/* Copy a record out for inspection (query.c; used by lib/ops/snapshot.c). */
void prdshm__copy_record(struct prdshm_seg *seg, const struct prdshm__rec *r, prdshm_holder *h);
/* ": held by agent-2 (pid 42, phase write, EXCLUSIVE)": the first holder of
 * slot @p si that keeps record @p ri from its grant, in @p buf ("" if none),
 * for the message of a try or a wait that gave up (what prdshm-lock says).
 * Call holding partition @p p's mutex. */
void prdshm__describe_holder(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri,
			     char *buf, size_t size);

/* The lock table's entry points: the contracts of prdshm__shm_lock(),
 * prdshm__shm_unlock() ... in prdshm.h; lib/api/ checks the handle and
 * dispatches to them. */
int prdshm__shm_lock(prdshm_session *s, const char *resource, prdshm_mode mode,
		     int64_t timeout_ms, const char *phase_id);
int prdshm__shm_unlock(prdshm_session *s, const char *resource);
int prdshm__shm_unlock_all(prdshm_session *s, size_t *freed);
int prdshm__shm_lock_many(prdshm_session *s, const char *const *resources, size_t n,
			  prdshm_mode mode, int64_t timeout_ms, const char *phase_id,
			  size_t *failed);
int prdshm__shm_upgrade(prdshm_session *s, const char *resource, int64_t timeout_ms);
int prdshm__shm_downgrade(prdshm_session *s, const char *resource);
int prdshm__shm_lock_query(prdshm_seg *seg, const char *resource, prdshm_mode mode,
			   prdshm_holder *out, size_t cap, size_t *n);
int prdshm__shm_lock_metrics(prdshm_seg *seg, unsigned flags, prdshm_lock_metrics *total,
			   prdshm_lock_metrics *out, size_t cap, size_t *n);
#endif
