/*
 * locktable.h: the lock table's internals shared with segment, session,
 * deadlock, snapshot and check code (lib/lock/locktable.c).
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

/* Release all records of session (slot, gen) in partition @p p.  Call when
 * holding the partition mutex.  @return the number released. */
uint32_t prdshm__part_release_session(struct prdshm_seg *seg, uint32_t p, uint32_t slot,
				      uint32_t gen);

/* Withdraw waiting record @p ri of partition @p p (an upgrade falls back
 * to its SHARED hold) and wake the waiters behind it.  Call holding the
 * partition mutex; the record must be valid (waiting or upgrading). */
void prdshm__part_withdraw(struct prdshm_seg *seg, uint32_t p, uint32_t ri);

/* 1 if record @p a (in mode ma) and a request in mode mb conflict. */
static inline int prdshm__modes_conflict(uint32_t ma, uint32_t mb)
{
	return ma == PRDSHM_EXCLUSIVE || mb == PRDSHM_EXCLUSIVE;
}

/* The mode a record counts as for the requests behind it: an upgrading
 * SHARED holder already blocks newcomers as if it were EXCLUSIVE.  (A
 * RELEASED record blocks nobody; callers test that first.) */
static inline uint32_t prdshm__rec_effective_mode(const struct prdshm__rec *r)
{
	return (r->flags & PRDSHM__REC_UPGRADING) ? PRDSHM_EXCLUSIVE : r->mode;
}

/* Copy a record out for inspection (lib/ops/snapshot.c). */
void prdshm__copy_record(struct prdshm_seg *seg, const struct prdshm__rec *r, prdshm_holder *h);

/* Deadlock check for the waiting record @p rec of partition @p p, owned by
 * session (slot, gen), in its allocation @p use (its state word without the
 * state bits, as the caller noted it): a record freed and allocated again
 * meanwhile, for another request of the session, is not checked.  Takes
 * every partition mutex (the caller holds none).
 * If the request closes a cycle in the waits-for graph it is withdrawn (an
 * upgrade falls back to its SHARED hold) and PRDSHM_EDEADLK is returned with
 * the cycle in prdshm_last_error(); 1 if the record was granted meanwhile;
 * 0 if there is no cycle; PRDSHM_ERECOVER. */
int prdshm__deadlock_check(struct prdshm_seg *seg, uint32_t p, uint32_t rec, uint64_t use,
			   uint32_t slot, uint32_t gen);
/* The lock table's entry points: the contracts of prdshm_lock(),
 * prdshm_unlock() ... in prdshm.h; lib/api/ checks the handle and
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
#endif
