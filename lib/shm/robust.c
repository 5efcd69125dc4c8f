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
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/robust.h"
#include "base/util.h"

#ifdef PRDSHM__TSAN
#include <sanitizer/tsan_interface.h>
#endif

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
 * mutex glibc's trylock returns still holding it.  Ownership and dead-owner
 * recovery stay entirely with the locking call (lock_slice()).
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

__thread uint64_t prdshm__wait_deadline;

uint64_t prdshm__wait_bound_begin(int64_t ms)
{
	uint64_t prev = prdshm__wait_deadline;

	prdshm__wait_deadline = prdshm__now_mono() + (uint64_t)ms * 1000000u;
	/* A nested bound never extends the caller's. */
	if (prev != 0 && prev < prdshm__wait_deadline)
		prdshm__wait_deadline = prev;
	return prev;
}

void prdshm__wait_bound_end(uint64_t prev)
{
	prdshm__wait_deadline = prev;
}

uint64_t prdshm__call_bound_begin(int64_t timeout_ms)
{
	if (timeout_ms == PRDSHM_TRY)
		return prdshm__wait_bound_begin(PRDSHM__TRY_MUTEX_MS);
	/* A bound beyond a year is no bound (and would overflow). */
	if (timeout_ms > 0 && timeout_ms < 366LL * 86400 * 1000)
		return prdshm__wait_bound_begin(timeout_ms);
	return prdshm__wait_deadline;
}

int prdshm__busy_if_try(int r, int64_t timeout_ms)
{
	char msg[512];

	if (r != PRDSHM_ETIMEDOUT || timeout_ms != PRDSHM_TRY)
		return r;
	prdshm__strlcpy(msg, prdshm_last_error(), sizeof(msg));
	return prdshm__fail(PRDSHM_EBUSY, "%s", msg);
}

/* @p timeout_ms cut to what is left of the thread's bound, if any. */
static int64_t bounded(int64_t timeout_ms)
{
	uint64_t now;
	int64_t left;

	if (PRDSHM__LIKELY(prdshm__wait_deadline == 0))
		return timeout_ms;
	now = prdshm__now_mono();
	/* Past the deadline a mutex is still tried once: a free one is taken. */
	left = now >= prdshm__wait_deadline ? 0 : (int64_t)((prdshm__wait_deadline - now + 999999u) / 1000000u);
	return timeout_ms < 0 || timeout_ms > left ? left : timeout_ms;
}

/* One bounded sleep on @p m: a deadline @p ms from now on the monotonic
 * clock, so that a step of the wall clock neither stretches nor shortens
 * it.  ThreadSanitizer does not know pthread_mutex_clocklock (it would miss
 * the lock), so its builds use pthread_mutex_timedlock and CLOCK_REALTIME,
 * where a clock step changes this one slice only.  Its interceptor records
 * the lock only when timedlock returns 0, so the lock that comes with
 * EOWNERDEAD is annotated here (else TSan reports the unlock). */
static int lock_slice(pthread_mutex_t *m, int64_t ms)
{
#ifdef PRDSHM__TSAN
	struct timespec ts = prdshm__deadline_in(CLOCK_REALTIME, ms);
	int r = pthread_mutex_timedlock(m, &ts);

	if (r == EOWNERDEAD) {
		__tsan_mutex_pre_lock(m, __tsan_mutex_try_lock);
		__tsan_mutex_post_lock(m, __tsan_mutex_try_lock, 0);
	}
	return r;
#else
	struct timespec ts = prdshm__deadline_in(CLOCK_MONOTONIC, ms);

	return pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
#endif
}

/*
 * Lock @p m within @p timeout_ms (-1: without limit, 0: try once), never
 * sleeping in the kernel longer than PRDSHM__MUTEX_SLICE_MS at a time.  A
 * glibc robust mutex can lose a wake-up: its unlock wakes one sleeper; if
 * that sleeper is SIGKILLed before it takes the mutex, and another process
 * took the mutex meanwhile on the fast path (so the lock word no longer
 * says that anyone sleeps), the kernel does not pass the wake-up on (it
 * does only while the word is 0), and the next unlock wakes nobody.  The
 * other sleepers would sleep with the mutex free until some later
 * contended unlock.  With slices, each wakes within one slice and tries
 * again.
 */
static int timed_lock(pthread_mutex_t *m, int64_t timeout_ms)
{
	uint64_t end = timeout_ms < 0 ? UINT64_MAX
				      : prdshm__now_mono() + (uint64_t)timeout_ms * 1000000u;

	/* A try is a slice of 0 ms: POSIX has clocklock and timedlock take a
	 * free mutex whatever the deadline.  (Not pthread_mutex_trylock: on an
	 * unrecoverable mutex glibc's trylock returns still holding it.  The
	 * price: on a held mutex glibc marks the word as having sleepers
	 * before it sees the deadline passed, so the holder's unlock then
	 * makes one FUTEX_WAKE for nobody.  Tries are for inspection and
	 * recovery, not for the lock table's hot paths.) */
	if (timeout_ms == 0)
		return lock_slice(m, 0);
#ifdef PRDSHM__TSAN
	/* ThreadSanitizer does not know that pthread_mutex_timedlock returns
	 * holding the mutex with EOWNERDEAD (it reports the later unlock), so
	 * its builds wait without limit in pthread_mutex_lock().  They run no
	 * SIGKILL torture, where the slices matter. */
	if (timeout_ms < 0) {
		await_free(m);
		return pthread_mutex_lock(m);
	}
#endif
	for (;;) {
		uint64_t now;
		int64_t slice = PRDSHM__MUTEX_SLICE_MS;
		int r;

		await_free(m);
		now = prdshm__now_mono();
		if (end != UINT64_MAX) {
			if (now >= end)
				return lock_slice(m, 0);
			if ((end - now) / 1000000u < (uint64_t)slice)
				slice = (int64_t)((end - now + 999999u) / 1000000u);
		}
		r = lock_slice(m, slice);
		if (r != ETIMEDOUT)
			return r;
	}
}

/*
 * Who holds @p m, as far as this process can tell: glibc keeps the owner's
 * thread id in the lock word.  The id is one of the owner's PID namespace,
 * so it is looked up in ours only as a hint.  A robust mutex whose owner
 * died would have been handed over with EOWNERDEAD, so an owner that times
 * us out is normally alive.
 */
static void describe_holder(const pthread_mutex_t *m, char *buf, size_t size)
{
#if defined(__GLIBC__)
	int tid = __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) & FUTEX_TID_MASK;
	char path[48], stat[512];
	const char *close_paren;
	FILE *f;
	size_t n;

	snprintf(buf, size, " (holder unknown)");
	if (tid == 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/stat", tid);
	f = fopen(path, "re");
	if (f == NULL) {
		snprintf(buf, size, " by thread %d (not found in this PID namespace)", tid);
		return;
	}
	n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	/* "pid (comm) S ...": comm may hold anything, so look for the last ')'. */
	close_paren = strrchr(stat, ')');
	if (close_paren && (close_paren[1] == ' ') && (close_paren[2] == 'T' || close_paren[2] == 't'))
		snprintf(buf, size, " by thread %d (alive, stopped)", tid);
	else
		snprintf(buf, size, " by thread %d (alive)", tid);
#else
	(void)m;
	snprintf(buf, size, " (holder unknown)");
#endif
}

static int fail_busy(const struct prdshm_seg *seg, const struct prdshm__mutex *m,
		     int64_t timeout_ms)
{
	char name[48], holder[96];

	prdshm__seg_mutex_name(seg, m, name, sizeof(name));
	describe_holder(&m->m, holder, sizeof(holder));
	return prdshm__fail(PRDSHM_ETIMEDOUT, "%s: %s still held after %lld ms%s", seg->name, name,
			    (long long)timeout_ms, holder);
}

int prdshm__mutex_settle(struct prdshm_seg *seg, struct prdshm__mutex *m, int r,
			 prdshm__repair_fn repair, void *arg)
{
	int rr;

	if (r == ENOTRECOVERABLE) {
		prdshm__mark_recovery(seg->hdr);
		return prdshm__fail(PRDSHM_ERECOVER,
				    "segment mutex not recoverable: run prdshm-cleanup");
	}
	if (r != EOWNERDEAD)
		return prdshm__fail(PRDSHM_ESYS, "locking a segment mutex: %s", strerror(r));

	rr = repair ? repair(seg, arg) : 0;
	if (rr != 0)
		prdshm__mark_recovery(seg->hdr);
	pthread_mutex_consistent(&m->m);
	if (rr != 0) {
		pthread_mutex_unlock(&m->m);
		return prdshm__fail(PRDSHM_ERECOVER,
				    "repair after a crashed holder failed: run prdshm-cleanup");
	}
	return 0;
}

int prdshm__mutex_lock_slow(struct prdshm_seg *seg, struct prdshm__mutex *m, int64_t timeout_ms,
			    prdshm__repair_fn repair, void *arg)
{
	int r;

	timeout_ms = bounded(timeout_ms);
	r = timed_lock(&m->m, timeout_ms);
	if (PRDSHM__LIKELY(r == 0))
		return 0;
	if (r == ETIMEDOUT)
		return fail_busy(seg, m, timeout_ms);
	return prdshm__mutex_settle(seg, m, r, repair, arg);
}

int prdshm__mutex_trylock(struct prdshm_seg *seg, struct prdshm__mutex *m,
			  prdshm__repair_fn repair, void *arg)
{
	int r;

	if (__atomic_load_n(&seg->hdr->needs_recovery, __ATOMIC_ACQUIRE))
		return 1;
#if defined(__GLIBC__)
	/* Read first: a slice of 0 ms on a held mutex marks its word as having
	 * sleepers (timed_lock()), which costs the holder a wake for nobody. */
	if (__atomic_load_n(&m->m.__data.__lock, __ATOMIC_RELAXED) != 0)
		return 1;
#endif
	r = lock_slice(&m->m, 0);
	if (r == 0)
		return 0;
	if (r == ETIMEDOUT || r == EBUSY)
		return 1;
	return prdshm__mutex_settle(seg, m, r, repair, arg);
}

int prdshm__mutex_lock_recover(struct prdshm_seg *seg, struct prdshm__mutex *m,
				prdshm__repair_fn repair, void *arg)
{
	int64_t timeout_ms = bounded(-1);
	int r = timed_lock(&m->m, timeout_ms);

	if (r == ENOTRECOVERABLE) {
		/* Nobody can hold an unrecoverable mutex: re-create it, then
		 * rebuild what it guards as after a crash.  Only one recovery
		 * at a time gets here (prdshm_recover() holds the segment's
		 * recovery byte), so no other recoverer re-creates it under us
		 * once we hold it.  (A caller outside recovery may take the new
		 * mutex first, hence the bounded wait again.) */
		PRDSHM__CRASH_POINT("recover_mutex_init");
		r = prdshm__mutex_init(m);
		if (r)
			return r;
		timeout_ms = bounded(-1);
		r = timed_lock(&m->m, timeout_ms);
		if (r == 0 && repair)
			repair(seg, arg);
	}
	if (r == ETIMEDOUT)
		return fail_busy(seg, m, timeout_ms);
	if (r == EOWNERDEAD) {
		if (repair)
			repair(seg, arg);
		pthread_mutex_consistent(&m->m);
		r = 0;
	}
	if (r)
		return prdshm__fail(PRDSHM_ESYS, "locking a segment mutex: %s", strerror(r));
	return 0;
}

#ifdef PRDSHM_TEST_HOOKS
void prdshm__crash_point(const char *point)
{
	/* Read each time: a forked child may set them after its parent read
	 * them. */
	const char *kill_at = getenv("PRDSHM_CRASH_AT");
	const char *stop_at = getenv("PRDSHM_STOP_AT");

	if (kill_at && strcmp(kill_at, point) == 0)
		raise(SIGKILL);
	if (stop_at && strcmp(stop_at, point) == 0)
		raise(SIGSTOP);
}
#endif
