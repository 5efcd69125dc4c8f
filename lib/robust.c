/*
 * robust.c: robust process-shared mutexes and the one place that recovers
 * from a holder that died inside a critical section.
 *
 * EOWNERDEAD means "the data may be half-updated".  The protocol (as LMDB
 * does, and unlike implementations that only call consistent):
 *   1. repair: the mutex's repair function rebuilds the derived state from
 *      the authoritative records, reaps dead sessions and wakes waiters;
 *   2. only then pthread_mutex_consistent();
 *   3. if the repair fails, mark the segment as needing recovery, still make
 *      the mutex consistent (unlocking an inconsistent robust mutex would make
 *      it ENOTRECOVERABLE for everyone, forever) and return PRDSHM_ERECOVER.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal/robust.h"
#include "internal/util.h"

int prdshm__mutex_init(struct prdshm__mutex *m)
{
	pthread_mutexattr_t a;
	int r;

	if (pthread_mutexattr_init(&a) != 0)
		return prdshm__fail(PRDSHM_ESYS, "pthread_mutexattr_init failed");
	/* NORMAL, not ERRORCHECK: ERRORCHECK compares owner TIDs, which differ
	 * across PID namespaces and misreport owners. */
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_NORMAL);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	r = pthread_mutex_init(&m->m, &a);
	pthread_mutexattr_destroy(&a);
	if (r != 0)
		return prdshm__fail(PRDSHM_ESYS, "pthread_mutex_init: %s", strerror(r));
	return 0;
}

/*
 * Critical sections last well under a microsecond, but glibc's robust
 * mutexes do not spin: a contended lock sleeps in FUTEX_WAIT at once and
 * the holder's unlock then pays a FUTEX_WAKE, microseconds on each side.
 * The common case is a waiter woken by a doorbell while the releaser, who
 * rings it under the mutex, still holds it.  So poll the lock word a little
 * before locking.  Only a read (glibc's word is 0 when free): spinning with
 * trylock instead changes the robust-list state, and on an unrecoverable
 * mutex glibc's trylock and lock then disagree.  Ownership and dead-owner
 * recovery stay entirely with pthread_mutex_lock().
 */
#define SPIN_POLLS 400

static void await_free(pthread_mutex_t *m)
{
#if defined(__GLIBC__)
	const int *word = &m->__data.__lock;

	for (int i = 0; i < SPIN_POLLS && __atomic_load_n(word, __ATOMIC_RELAXED) != 0; i++)
		prdshm__cpu_relax();
#else
	(void)m;
#endif
}

static int timed_lock(pthread_mutex_t *m, int64_t timeout_ms)
{
	struct timespec ts;

	if (timeout_ms < 0) {
		await_free(m);
		return pthread_mutex_lock(m);
	}
	if (timeout_ms == 0)
		return pthread_mutex_trylock(m);
	/* pthread_mutex_timedlock takes a CLOCK_REALTIME deadline; the bound is
	 * only used by inspection, where a clock jump merely shortens it. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return pthread_mutex_timedlock(m, &ts);
}

int prdshm__mutex_lock(struct prdshm_seg *seg, struct prdshm__mutex *m, int64_t timeout_ms,
		       prdshm__repair_fn repair, void *arg)
{
	int r = timed_lock(&m->m, timeout_ms);
	int rr;

	if (PRDSHM__LIKELY(r == 0))
		return 0;
	if (r == ETIMEDOUT || r == EBUSY)
		return prdshm__fail(PRDSHM_ETIMEDOUT, "segment mutex busy");
	if (r == ENOTRECOVERABLE) {
		__atomic_store_n(&seg->hdr->needs_recovery, 1, __ATOMIC_RELEASE);
		return prdshm__fail(PRDSHM_ERECOVER,
				    "segment mutex not recoverable: run prdshm-cleanup");
	}
	if (r != EOWNERDEAD)
		return prdshm__fail(PRDSHM_ESYS, "pthread_mutex_lock: %s", strerror(r));

	rr = repair ? repair(seg, arg) : 0;
	if (rr != 0)
		__atomic_store_n(&seg->hdr->needs_recovery, 1, __ATOMIC_RELEASE);
	pthread_mutex_consistent(&m->m);
	if (rr != 0) {
		pthread_mutex_unlock(&m->m);
		return prdshm__fail(PRDSHM_ERECOVER,
				    "repair after a crashed holder failed: run prdshm-cleanup");
	}
	return 0;
}

int prdshm__mutex_lock_recover(struct prdshm_seg *seg, struct prdshm__mutex *m,
				prdshm__repair_fn repair, void *arg)
{
	int r = pthread_mutex_lock(&m->m);

	if (r == ENOTRECOVERABLE) {
		/* Nobody can hold an unrecoverable mutex: re-create it, then
		 * rebuild what it guards as after a crash. */
		r = prdshm__mutex_init(m);
		if (r)
			return r;
		r = pthread_mutex_lock(&m->m);
		if (r == 0 && repair)
			repair(seg, arg);
	}
	if (r == EOWNERDEAD) {
		if (repair)
			repair(seg, arg);
		pthread_mutex_consistent(&m->m);
		r = 0;
	}
	if (r)
		return prdshm__fail(PRDSHM_ESYS, "pthread_mutex_lock: %s", strerror(r));
	return 0;
}

void prdshm__mutex_unlock(struct prdshm__mutex *m)
{
	pthread_mutex_unlock(&m->m);
}

#ifdef PRDSHM_TEST_HOOKS
void prdshm__crash_point(const char *point)
{
	/* Read each time: a forked child may set it after its parent read it. */
	const char *want = getenv("PRDSHM_CRASH_AT");

	if (want && strcmp(want, point) == 0)
		raise(SIGKILL);
}
#endif
