/*
 * locktable.h: what the other folders call of the lock table (lib/lock/):
 * the partition mutex, repair, rebuild and sweep of dead sessions
 * (partition.c), and the copy of a record for inspection (query.c).  What
 * only the lock files share is in lock/table.h.
 */
#ifndef PRDSHM_INTERNAL_LOCKTABLE_H
#define PRDSHM_INTERNAL_LOCKTABLE_H

#include <stdint.h>

#include "shm/segment.h"

/* Empty partition @p p: all slots and records on the free lists.  Called
 * by the creator, and by repair before rebuilding (lib/shm/segment.c). */
void prdshm__part_reset_lists(struct prdshm_seg *seg, uint32_t p);

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

#endif
