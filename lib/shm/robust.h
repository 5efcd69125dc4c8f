/*
 * robust.h: taking the segment's robust mutexes (lib/shm/robust.c).
 *
 * Every mutex in the segment is PTHREAD_PROCESS_SHARED, PTHREAD_MUTEX_ROBUST
 * and of the NORMAL type.  Taking one goes through prdshm__mutex_lock(),
 * which is the only place that handles EOWNERDEAD: it calls the repair
 * function of that mutex's data, and only then pthread_mutex_consistent().
 */
#ifndef PRDSHM_INTERNAL_ROBUST_H
#define PRDSHM_INTERNAL_ROBUST_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "shm/segment.h"
#include "base/util.h"

/* Rebuild the data guarded by a mutex after its owner died inside the
 * critical section.  Called holding the mutex.  @return 0 or an error, in
 * which case the segment is marked as needing recovery. */
typedef int (*prdshm__repair_fn)(struct prdshm_seg *seg, void *arg);

/* Initialise a robust process-shared mutex.  @return 0 or PRDSHM_ESYS. */
int prdshm__mutex_init(struct prdshm__mutex *m);

/* The longest single sleep on a segment mutex: a wait "without limit" is a
 * loop of these, because a robust mutex can lose a wake-up when a process
 * is killed at the wrong moment (see timed_lock() in lib/shm/robust.c). */
#define PRDSHM__MUTEX_SLICE_MS 50

/* The most a try (PRDSHM_TRY) waits for a segment mutex.  Not 0: holders
 * keep a mutex for a microsecond, but one preempted inside its critical
 * section keeps it for a scheduler time slice (a few ms), and a try must
 * not fail for that.  A holder that keeps it longer is stopped or stuck:
 * the try then fails with PRDSHM_EBUSY naming it. */
#define PRDSHM__TRY_MUTEX_MS 5

/* The end of the thread's current bound (CLOCK_MONOTONIC ns), 0 outside
 * one: see prdshm__wait_bound_begin().  Initial-exec, so that reading it
 * on every lock is one load, not a call to __tls_get_addr. */
extern __thread uint64_t prdshm__wait_deadline __attribute__((tls_model("initial-exec")));

/* A mutex deadline: @p ms milliseconds after now on @p clock
 * (CLOCK_MONOTONIC, or its coarse variant on the hot path). */
static inline struct timespec prdshm__deadline_in(clockid_t clock, int64_t ms)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	/* Slices are shorter than a second: no division on the hot path. */
	if (ms >= 1000) {
		ts.tv_sec += (time_t)(ms / 1000);
		ms %= 1000;
	}
	ts.tv_nsec += (long)ms * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* The rest of prdshm__mutex_lock(), out of line. */
int prdshm__mutex_lock_slow(struct prdshm_seg *seg, struct prdshm__mutex *m, int64_t timeout_ms,
			    prdshm__repair_fn repair, void *arg);
/* Act on the result @p r (not 0) of locking @p m: repair on EOWNERDEAD. */
int prdshm__mutex_settle(struct prdshm_seg *seg, struct prdshm__mutex *m, int r,
			 prdshm__repair_fn repair, void *arg);

/*
 * Lock @p m, repairing with @p repair(seg, arg) if its previous owner died.
 * @param timeout_ms -1 to wait without limit, else the most to wait (0: one
 *        try); both cut to the thread's bound if one is set
 *        (prdshm__wait_bound_begin).
 * @return 0; PRDSHM_ETIMEDOUT (the message names the mutex and, as far as
 *         this process can tell, its holder thread and whether it is alive
 *         or stopped); PRDSHM_ERECOVER (repair failed, or the mutex is not
 *         recoverable, or the segment is marked).  On error the mutex is not
 *         held.
 *
 * Most locks of the table take one of these, so the common case is inline:
 * no bound, and glibc's lock word reads free.  Even then the sleep is
 * bounded (by PRDSHM__MUTEX_SLICE_MS or @p timeout_ms if shorter, from the
 * coarse monotonic clock, which is the monotonic clock at a jiffy's
 * resolution: pthread_mutex_clocklock accepts its deadlines): another
 * process may take the mutex between the read and the lock.  That slice
 * counts against @p timeout_ms.  (Not pthread_mutex_trylock: on an
 * unrecoverable mutex glibc's trylock returns ENOTRECOVERABLE still holding
 * it.)  Spinning on a held mutex, bounds and further slices are in
 * prdshm__mutex_lock_slow().
 */
static inline int prdshm__mutex_lock(struct prdshm_seg *seg, struct prdshm__mutex *m,
				     int64_t timeout_ms, prdshm__repair_fn repair, void *arg)
{
#if defined(__GLIBC__) && !defined(PRDSHM__TSAN)
	if (PRDSHM__LIKELY(prdshm__wait_deadline == 0 &&
			   __atomic_load_n(&m->m.__data.__lock, __ATOMIC_RELAXED) == 0)) {
		/* A negative timeout converts to a huge one. */
		int64_t slice = (uint64_t)timeout_ms > PRDSHM__MUTEX_SLICE_MS
					? PRDSHM__MUTEX_SLICE_MS
					: timeout_ms;
		/* The coarse clock lags by up to a tick (4 ms), which would cut
		 * a short wait (a try's PRDSHM__TRY_MUTEX_MS) to nothing. */
		struct timespec ts = prdshm__deadline_in(
			slice < PRDSHM__MUTEX_SLICE_MS ? CLOCK_MONOTONIC : CLOCK_MONOTONIC_COARSE,
			slice);
		int r = pthread_mutex_clocklock(&m->m, CLOCK_MONOTONIC, &ts);

		if (PRDSHM__LIKELY(r == 0))
			return 0;
		if (r != ETIMEDOUT)
			return prdshm__mutex_settle(seg, m, r, repair, arg);
		if (timeout_ms >= 0)
			timeout_ms -= slice;
	}
#endif
	return prdshm__mutex_lock_slow(seg, m, timeout_ms, repair, arg);
}

/*
 * Lock @p m only if it is free now, without a message when it is not: for
 * a path that has something else to do then (a releaser's hand-off, which
 * leaves the grant to the waiters).  Repairs with @p repair(seg, arg) as
 * prdshm__mutex_lock() does if the previous owner died.
 * @return 0 (held), 1 (held by someone else, or the segment is marked), or
 * an error as prdshm__mutex_lock()'s, the mutex not held.
 */
int prdshm__mutex_trylock(struct prdshm_seg *seg, struct prdshm__mutex *m,
			  prdshm__repair_fn repair, void *arg);

/*
 * For prdshm_recover() only: lock @p m whatever the segment's recovery mark
 * says, re-creating it if it is ENOTRECOVERABLE, and repairing (without
 * marking) if its owner died.  Waits no longer than the thread's bound.
 * Call holding the segment's recovery byte (PRDSHM__RECOVER_BYTE), so that
 * no other recovery re-creates the same mutex meanwhile.
 * @return 0, PRDSHM_ETIMEDOUT or PRDSHM_ESYS.
 */
int prdshm__mutex_lock_recover(struct prdshm_seg *seg, struct prdshm__mutex *m,
				prdshm__repair_fn repair, void *arg);

static inline void prdshm__mutex_unlock(struct prdshm__mutex *m)
{
	pthread_mutex_unlock(&m->m);
}

/*
 * Bound every mutex wait of the calling thread, from now until the matching
 * prdshm__wait_bound_end(), to @p ms milliseconds in all: waits "without
 * limit" included, in whichever file they are made.  For the calls that
 * must not hang on a mutex whose holder is alive but stuck (prdshm_reap,
 * prdshm_recover, prdshm_seg_unlink_unused).  Past the deadline a mutex is
 * still tried once, so a free one is taken.  A nested bound never extends
 * the outer one.  @return the outer bound, for prdshm__wait_bound_end().
 */
uint64_t prdshm__wait_bound_begin(int64_t ms);
void prdshm__wait_bound_end(uint64_t outer);

/*
 * The bound of a public call that takes a timeout: for PRDSHM_TRY
 * PRDSHM__TRY_MUTEX_MS, for a number of milliseconds that many, none for
 * PRDSHM_WAIT_FOREVER (resolve PRDSHM_WAIT_DEFAULT first).  @return the
 * outer bound, for prdshm__wait_bound_end().
 */
uint64_t prdshm__call_bound_begin(int64_t timeout_ms);

/* A try's result: @p r, or PRDSHM_EBUSY (same message) if @p r is a mutex
 * wait that ran out and @p timeout_ms is PRDSHM_TRY. */
int prdshm__busy_if_try(int r, int64_t timeout_ms);

/* Test-only crash points (PRDSHM_TEST_HOOKS builds): when the environment
 * variable PRDSHM_CRASH_AT names @p point, the process kills itself with
 * SIGKILL there, inside the critical section; when PRDSHM_STOP_AT names it,
 * the process stops itself with SIGSTOP there, still holding the mutex (a
 * live but wedged holder, until SIGCONT or SIGKILL). */
#ifdef PRDSHM_TEST_HOOKS
void prdshm__crash_point(const char *point);
#define PRDSHM__CRASH_POINT(p) prdshm__crash_point(p)
#else
#define PRDSHM__CRASH_POINT(p) ((void)0)
#endif

#endif
