/*
 * test_metrics.c: the lock metrics (prdshm_lock_metrics_get()): grants,
 * take-backs, contended grants and their waits across real processes,
 * timeouts, deadlocks, and the totals of resources that left the table.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static prdshm_config cfg;
static prdshm_seg *seg;

static void setup(void)
{
	tu_config(&cfg);
	cfg.max_locks = 64;
	cfg.deadlock_timeout_ms = 200;
	CU_ASSERT_EQUAL_FATAL(prdshm_seg_create(&cfg, &seg), 0);
}

static void teardown(void)
{
	prdshm_seg_close(seg);
	seg = NULL;
	prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
}

static prdshm_session *session(prdshm_seg *sg, const char *id)
{
	prdshm_session *s = NULL;

	CU_ASSERT_EQUAL(prdshm_session_open(sg, id, 0, &s), 0);
	return s;
}

/* The totals, and @p name's figures in *@p res (zeroed if not listed).
 * @return the number of resources listed. */
static size_t metrics(const char *name, prdshm_lock_metrics *total, prdshm_lock_metrics *res)
{
	prdshm_lock_metrics all[16] = { PRDSHM_LOCK_METRICS_INIT };
	size_t n = 0;

	*total = (prdshm_lock_metrics)PRDSHM_LOCK_METRICS_INIT;
	memset(res, 0, sizeof(*res));
	CU_ASSERT_EQUAL_FATAL(prdshm_lock_metrics_get(seg, 0, total, all, 16, &n), 0);
	CU_ASSERT_FATAL(n <= 16);
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(all[i].struct_size, sizeof(all[i]));
		if (name && strcmp(all[i].resource, name) == 0)
			*res = all[i];
	}
	return n;
}

static uint64_t bucket_sum(const prdshm_lock_metrics *m, int from)
{
	uint64_t sum = 0;

	for (int b = from; b < PRDSHM_WAIT_BUCKETS; b++)
		sum += m->wait_buckets[b];
	return sum;
}

/* Take-backs (no mutex) count as grants, and the figures of a resource
 * that leaves the table stay in the totals. */
static void test_uncontended_grants_counted(void)
{
	prdshm_lock_metrics total, r;
	prdshm_session *s, *s2;

	setup();
	s = session(seg, "a");
	s2 = session(seg, "b");
	for (int i = 0; i < 1000; i++) {
		CU_ASSERT_EQUAL(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
		CU_ASSERT_EQUAL(prdshm_unlock(s, "r"), 0);
	}
	CU_ASSERT_EQUAL(metrics("r", &total, &r), 1);
	CU_ASSERT_EQUAL(r.resource_len, 1);
	CU_ASSERT_EQUAL(r.acquisitions, 1000);
	CU_ASSERT_EQUAL(r.contended, 0);
	CU_ASSERT_EQUAL(total.acquisitions, 1000);
	/* Another session reuses the released record: its take-backs are
	 * moved into the slot's grants, and the new grant is added. */
	CU_ASSERT_EQUAL(prdshm_lock(s2, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	metrics("r", &total, &r);
	CU_ASSERT_EQUAL(r.acquisitions, 1001);
	/* Closing releases under the mutex and frees the slot: the resource
	 * leaves the list, its figures stay in the totals. */
	prdshm_session_close(s2);
	CU_ASSERT_EQUAL(metrics("r", &total, &r), 0);
	CU_ASSERT_EQUAL(total.acquisitions, 1001);
	CU_ASSERT_EQUAL(total.contended, 0);
	CU_ASSERT_EQUAL(total.timeouts, 0);
	/* Take-backs of a record that its session's close collects. */
	for (int i = 0; i < 10; i++) {
		CU_ASSERT_EQUAL(prdshm_lock(s, "q", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
		CU_ASSERT_EQUAL(prdshm_unlock(s, "q"), 0);
	}
	prdshm_session_close(s);
	CU_ASSERT_EQUAL(metrics("q", &total, &r), 0);
	CU_ASSERT_EQUAL(total.acquisitions, 1011);
	teardown();
}

/* Child: K times, on the parent's byte, lock "hot" (waiting behind the
 * parent), answer, and unlock. */
#define ROUNDS 5
static int down[2], up[2];

static int waiter_child(void *arg)
{
	prdshm_seg *sg = NULL;
	prdshm_session *s = NULL;

	(void)arg;
	TU_CHILD_ASSERT(prdshm_seg_open(cfg.shm_name, &sg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(sg, "waiter", 0, &s) == 0);
	for (int i = 0; i < ROUNDS; i++) {
		TU_CHILD_ASSERT(tu_await(down[0], 10000) == 'g');
		TU_CHILD_ASSERT(prdshm_lock(s, "hot", PRDSHM_EXCLUSIVE, 10000, NULL) == 0);
		TU_CHILD_ASSERT(prdshm_unlock(s, "hot") == 0);
		tu_signal(up[1], 'd');
	}
	/* Its session's close frees the slot: not before the parent looked. */
	TU_CHILD_ASSERT(tu_await(down[0], 10000) == 'q');
	prdshm_session_close(s);
	prdshm_seg_close(sg);
	return 0;
}

/* Wait (bounded) until "hot" has a waiter. */
static int await_waiter(void)
{
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	int64_t until = tu_now_ms() + 10000;
	size_t n;

	while (tu_now_ms() < until) {
		if (prdshm_lock_query(seg, "hot", 0, h, 4, &n) == 0 && n >= 2 && n <= 4 &&
		    h[n - 1].waiting)
			return 1;
		usleep(1000);
	}
	return 0;
}

/* A waiter in another process, kept waiting at least 20 ms each round:
 * ROUNDS contended grants, each in a bucket above 10 ms. */
static void test_contended_grants_and_waits(void)
{
	struct timespec hold = { 0, 20 * 1000000L };
	prdshm_lock_metrics total, r;
	prdshm_session *s;
	pid_t pid;

	setup();
	CU_ASSERT_FATAL(pipe(down) == 0 && pipe(up) == 0);
	s = session(seg, "holder");
	pid = tu_fork(waiter_child, NULL);
	for (int i = 0; i < ROUNDS; i++) {
		CU_ASSERT_EQUAL_FATAL(prdshm_lock(s, "hot", PRDSHM_EXCLUSIVE, 10000, NULL), 0);
		tu_signal(down[1], 'g');
		CU_ASSERT_FATAL(await_waiter());
		nanosleep(&hold, NULL);
		CU_ASSERT_EQUAL(prdshm_unlock(s, "hot"), 0);
		CU_ASSERT_EQUAL_FATAL(tu_await(up[0], 10000), 'd');
	}
	metrics("hot", &total, &r);
	tu_signal(down[1], 'q');
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 0);
	CU_ASSERT_EQUAL(r.acquisitions, 2 * ROUNDS);
	CU_ASSERT_EQUAL(r.contended, ROUNDS);
	CU_ASSERT_EQUAL(bucket_sum(&r, 0), ROUNDS);
	/* Each wait lasted at least the hold after the waiter was seen. */
	CU_ASSERT_EQUAL(bucket_sum(&r, 5), ROUNDS);
	CU_ASSERT(r.wait_ns >= ROUNDS * 20 * 1000000ull);
	CU_ASSERT(r.wait_max_ns >= 20 * 1000000ull);
	CU_ASSERT(r.wait_max_ns <= r.wait_ns);
	CU_ASSERT_EQUAL(total.contended, ROUNDS);
	CU_ASSERT_EQUAL(total.acquisitions, 2 * ROUNDS);
	/* The resource left with the waiter's session: its figures stay. */
	CU_ASSERT_EQUAL(metrics("hot", &total, &r), 0);
	CU_ASSERT_EQUAL(total.contended, ROUNDS);
	CU_ASSERT_EQUAL(bucket_sum(&total, 5), ROUNDS);
	CU_ASSERT(total.wait_max_ns >= 20 * 1000000ull);
	close(down[0]), close(down[1]), close(up[0]), close(up[1]);
	prdshm_session_close(s);
	teardown();
}

/* A timed request that gives up counts a timeout; a try that finds the
 * resource busy does not. */
static void test_timeouts_counted(void)
{
	prdshm_lock_metrics total, r;
	prdshm_session *a, *b;

	setup();
	a = session(seg, "a");
	b = session(seg, "b");
	CU_ASSERT_EQUAL(prdshm_lock(a, "t", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(b, "t", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_lock(b, "t", PRDSHM_EXCLUSIVE, 30, NULL), PRDSHM_ETIMEDOUT);
	CU_ASSERT_EQUAL(prdshm_lock(b, "t", PRDSHM_SHARED, 30, NULL), PRDSHM_ETIMEDOUT);
	metrics("t", &total, &r);
	CU_ASSERT_EQUAL(r.timeouts, 2);
	CU_ASSERT_EQUAL(r.acquisitions, 1);
	CU_ASSERT_EQUAL(r.contended, 0);
	CU_ASSERT_EQUAL(total.timeouts, 2);
	prdshm_session_close(b);
	prdshm_session_close(a);
	teardown();
}

struct ab {
	prdshm_session *s;
	int result;
};

static void *lock_b(void *arg)
{
	struct ab *x = arg;

	x->result = prdshm_lock(x->s, "B", PRDSHM_EXCLUSIVE, 10000, NULL);
	return NULL;
}

/* Two sessions in an ABBA cycle: one deadlock counted, on the resource
 * its victim waited for. */
static void test_deadlock_counted(void)
{
	prdshm_lock_metrics total, ra, rb;
	prdshm_session *s1, *s2;
	struct ab x;
	pthread_t t;
	int r;

	setup();
	s1 = session(seg, "one");
	s2 = session(seg, "two");
	CU_ASSERT_EQUAL(prdshm_lock(s1, "A", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s2, "B", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	x.s = s1;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, lock_b, &x), 0);
	r = prdshm_lock(s2, "A", PRDSHM_EXCLUSIVE, 10000, NULL);
	if (r == 0)
		prdshm_unlock(s2, "A");
	else
		prdshm_unlock(s2, "B");
	pthread_join(t, NULL);
	CU_ASSERT((r == PRDSHM_EDEADLK) != (x.result == PRDSHM_EDEADLK));
	metrics("A", &total, &ra);
	metrics("B", &total, &rb);
	CU_ASSERT_EQUAL(total.deadlocks, 1);
	CU_ASSERT_EQUAL(r == PRDSHM_EDEADLK ? ra.deadlocks : rb.deadlocks, 1);
	prdshm_session_close(s1);
	prdshm_session_close(s2);
	teardown();
}

/* The ABI rules of the other caller-allocated structs. */
static void test_arguments_checked(void)
{
	prdshm_lock_metrics m = { 0 }, ok = PRDSHM_LOCK_METRICS_INIT;
	size_t n;

	setup();
	CU_ASSERT_EQUAL(prdshm_lock_metrics_get(NULL, 0, &ok, NULL, 0, &n), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_lock_metrics_get(seg, 0, &ok, NULL, 0, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_lock_metrics_get(seg, 0, &ok, NULL, 1, &n), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_lock_metrics_get(seg, 0, &m, NULL, 0, &n), PRDSHM_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "prdshm_lock_metrics"));
	CU_ASSERT_EQUAL(prdshm_lock_metrics_get(seg, PRDSHM_SNAP_NOLOCK, NULL, NULL, 0, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	teardown();
}

const tu_test tu_tests[] = {
	TU(test_uncontended_grants_counted),
	TU(test_contended_grants_and_waits),
	TU(test_timeouts_counted),
	TU(test_deadlock_counted),
	TU(test_arguments_checked),
	{ NULL, NULL },
};
const char *tu_suite = "metrics";
