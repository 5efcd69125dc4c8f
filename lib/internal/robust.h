/*
 * robust.h: taking the segment's robust mutexes (lib/robust.c).
 *
 * Every mutex in the segment is PTHREAD_PROCESS_SHARED, PTHREAD_MUTEX_ROBUST
 * and of the NORMAL type.  Taking one goes through prdshm__mutex_lock(),
 * which is the only place that handles EOWNERDEAD: it calls the repair
 * function of that mutex's data, and only then pthread_mutex_consistent().
 */
#ifndef PRDSHM_INTERNAL_ROBUST_H
#define PRDSHM_INTERNAL_ROBUST_H

#include <stdint.h>

#include "internal/segment.h"

/* Rebuild the data guarded by a mutex after its owner died inside the
 * critical section.  Called holding the mutex.  @return 0 or an error, in
 * which case the segment is marked as needing recovery. */
typedef int (*prdshm__repair_fn)(struct prdshm_seg *seg, void *arg);

/* Initialise a robust process-shared mutex.  @return 0 or PRDSHM_ESYS. */
int prdshm__mutex_init(struct prdshm__mutex *m);

/*
 * Lock @p m, repairing with @p repair(seg, arg) if its previous owner died.
 * @param timeout_ms -1 to wait without limit, else the most to wait.
 * @return 0; PRDSHM_ETIMEDOUT; PRDSHM_ERECOVER (repair failed, or the mutex
 *         is not recoverable, or the segment is marked).  On error the mutex
 *         is not held.
 */
int prdshm__mutex_lock(struct prdshm_seg *seg, struct prdshm__mutex *m, int64_t timeout_ms,
		       prdshm__repair_fn repair, void *arg);

/*
 * For prdshm_recover() only: lock @p m whatever the segment's recovery mark
 * says, re-creating it if it is ENOTRECOVERABLE, and repairing (without
 * marking) if its owner died.  @return 0 or PRDSHM_ESYS.
 */
int prdshm__mutex_lock_recover(struct prdshm_seg *seg, struct prdshm__mutex *m,
				prdshm__repair_fn repair, void *arg);

void prdshm__mutex_unlock(struct prdshm__mutex *m);

/* Test-only crash points (PRDSHM_TEST_HOOKS builds): when the environment
 * variable PRDSHM_CRASH_AT names @p point, the process kills itself with
 * SIGKILL there, inside the critical section. */
#ifdef PRDSHM_TEST_HOOKS
void prdshm__crash_point(const char *point);
#define PRDSHM__CRASH_POINT(p) prdshm__crash_point(p)
#else
#define PRDSHM__CRASH_POINT(p) ((void)0)
#endif

#endif
