/*
 * test_lockconf.c: the lock conformance suite, one set of tests for every
 * backend.  `make check` runs it on shared memory like any test program,
 * and tests/cli/zookeeper.sh runs the same program again on a ZooKeeper
 * server it starts (PRDSHM_TEST_BACKEND=zookeeper, tu_backend_config()).
 * Only the public API; children open their own handles from the
 * configuration, so on ZooKeeper each child is its own ZooKeeper session.
 * The core: modes, queueing, conversions, lock_many; deadlocks, signals,
 * dead holders and lost sessions are in test_lockfaults.c, the fixture
 * both share in conffix.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffix.h"
#include "testutil.h"

/* Helpers forked while the parent waits: they tell a locker to go
 * through helper_fd (the parent cannot, being blocked). */
static int helper_fd = -1;

static int release_when_queued(void *arg)
{
	TU_CHILD_ASSERT(prdshm_seg_open_cfg(&cfg, &seg) == 0);
	TU_CHILD_ASSERT(await_records("r", 2));
	tu_signal(helper_fd, 'g');
	return 0;
}

/* The parent is about to wait (no record shows an upgrade waiting on
 * every backend): telling at once still makes it wait, as it is queued
 * before the holder's unlock can reach it, or is granted at once after. */
static int release_later(void *arg)
{
	tu_signal(helper_fd, 'g');
	return 0;
}

/* ---- Tests --------------------------------------------------------------- */

static void test_arguments(void)
{
	prdshm_session *s;
	char big[300];
	size_t n = 0;

	setup();
	s = session("a");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(prdshm_lock(s, "", PRDSHM_EXCLUSIVE, 0, NULL), PRDSHM_ENAME);
	CU_ASSERT_EQUAL(prdshm_lock(s, big, PRDSHM_EXCLUSIVE, 0, NULL), PRDSHM_ENAME);
	CU_ASSERT_EQUAL(prdshm_lock(s, "m", 7, 0, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_lock(s, "m", PRDSHM_SHARED, -5, NULL), PRDSHM_EINVAL);
	/* Any byte but NUL, up to 255 of them. */
	big[255] = '\0';
	CU_ASSERT_EQUAL(prdshm_lock(s, big, PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "a/b %.\x01\"..", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(records("a/b %.\x01\"..", 0), 1);
	CU_ASSERT_EQUAL(prdshm_lock(s, "a/b %.\x01\"..", PRDSHM_SHARED, 0, NULL), PRDSHM_EHELD);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "other"), PRDSHM_ENOTHELD);
	CU_ASSERT_EQUAL(prdshm_unlock_all(s, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(prdshm_unlock(s, big), PRDSHM_ENOTHELD);
	CU_ASSERT_EQUAL(records(big, 0), 0);
	prdshm_session_close(s);
	teardown();
}

static void test_exclusive_and_shared(void)
{
	prdshm_session *a, *b, *c;
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	size_t n = 0;

	setup();
	a = session("a");
	b = session("b");
	c = session("c");
	CU_ASSERT_EQUAL(prdshm_lock(a, "r", PRDSHM_SHARED, PRDSHM_TRY, "pa"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(b, "r", PRDSHM_SHARED, PRDSHM_TRY, "pb"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(c, "r", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_lock(c, "r", PRDSHM_EXCLUSIVE, 200, NULL), PRDSHM_ETIMEDOUT);
	/* The failed requests left nothing behind. */
	CU_ASSERT_EQUAL(prdshm_lock_query(seg, "r", 0, h, 4, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_STRING_EQUAL(h[0].agent_id, "a");
	CU_ASSERT_STRING_EQUAL(h[0].phase_id, "pa");
	CU_ASSERT_EQUAL(h[0].mode, PRDSHM_SHARED);
	CU_ASSERT_EQUAL(h[0].waiting, 0);
	CU_ASSERT_EQUAL(h[0].pid, getpid());
	CU_ASSERT_EQUAL(h[0].alive, 1);
	CU_ASSERT_STRING_EQUAL(h[1].agent_id, "b");
	CU_ASSERT_EQUAL(records("r", PRDSHM_EXCLUSIVE), 2);
	CU_ASSERT_EQUAL(records("r", PRDSHM_SHARED), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(a, "r"), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(b, "r"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(c, "r", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(a, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(records("r", PRDSHM_SHARED), 1);
	prdshm_session_close(a);
	prdshm_session_close(b);
	prdshm_session_close(c);
	teardown();
}

/* A blocked request is granted when the holder, in another process,
 * releases; the holder releases only once the request is queued. */
static void test_blocking_handoff(void)
{
	prdshm_session *s;
	struct locker l;
	int rep[2], go[2];
	pid_t pid, helper;
	int r;

	setup();
	CU_ASSERT_EQUAL_FATAL(pipe(rep), 0);
	pid = start_locker(&l, "holder", "r", PRDSHM_EXCLUSIVE, rep[1], go);
	CU_ASSERT_EQUAL(tu_await(rep[0], 10000), 'h');
	s = session("waiter");
	CU_ASSERT_EQUAL(prdshm_lock(s, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	/* The holder is told to go only once we are queued. */
	helper_fd = go[1];
	helper = spawn("queued", NULL, "r", 0, go[1], -1);
	r = prdshm_lock(s, "r", PRDSHM_SHARED, 20000, NULL);
	CU_ASSERT_EQUAL(r, 0);
	if (r)
		fprintf(stderr, "lock: %s: %s\n", prdshm_err_name(r), prdshm_last_error());
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 0);
	CU_ASSERT_EQUAL(tu_wait_child(helper, 10000), 0);
	CU_ASSERT_EQUAL(records("r", 0), 1);
	prdshm_session_close(s);
	teardown();
}

/* Requests are granted in order: a SHARED request behind a waiting
 * EXCLUSIVE one does not pass it. */
static void test_fifo(void)
{
	prdshm_session *a;
	struct locker lb, lc;
	int rep[2], gob[2], goc[2];
	pid_t pb, pc;

	setup();
	a = session("a");
	CU_ASSERT_EQUAL(prdshm_lock(a, "r", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(rep), 0);
	pb = start_locker(&lb, "B", "r", PRDSHM_EXCLUSIVE, rep[1], gob);
	CU_ASSERT(await_records("r", 2));
	pc = start_locker(&lc, "C", "r", PRDSHM_SHARED, rep[1], goc);
	CU_ASSERT(await_records("r", 3));
	/* C is compatible with a's hold but queued behind B. */
	CU_ASSERT_EQUAL(tu_await(rep[0], 300), -1);
	CU_ASSERT_EQUAL(prdshm_unlock(a, "r"), 0);
	CU_ASSERT_EQUAL(tu_await(rep[0], 10000), 'B');
	CU_ASSERT_EQUAL(tu_await(rep[0], 300), -1);
	tu_signal(gob[1], 'g');
	CU_ASSERT_EQUAL(tu_await(rep[0], 10000), 'C');
	tu_signal(goc[1], 'g');
	CU_ASSERT_EQUAL(tu_wait_child(pb, 10000), 0);
	CU_ASSERT_EQUAL(tu_wait_child(pc, 10000), 0);
	prdshm_session_close(a);
	teardown();
}

/* Downgrading lets a queued SHARED request in, and still keeps out an
 * EXCLUSIVE one; upgrading waits for the other holders. */
static void test_downgrade_upgrade(void)
{
	prdshm_session *a, *b;
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	struct locker lc;
	int rep[2], go[2];
	size_t n = 0;
	pid_t pc, helper;

	setup();
	a = session("a");
	b = session("b");
	CU_ASSERT_EQUAL(prdshm_lock(a, "r", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(rep), 0);
	pc = start_locker(&lc, "C", "r", PRDSHM_SHARED, rep[1], go);
	CU_ASSERT(await_records("r", 2));
	CU_ASSERT_EQUAL(prdshm_downgrade(a, "r"), 0);
	CU_ASSERT_EQUAL(prdshm_downgrade(a, "r"), 0);
	CU_ASSERT_EQUAL(tu_await(rep[0], 10000), 'C');
	CU_ASSERT_EQUAL(prdshm_lock(b, "r", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	/* C holds SHARED too: a's upgrade waits for it. */
	CU_ASSERT_EQUAL(prdshm_upgrade(a, "r", PRDSHM_TRY), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_upgrade(a, "r", 200), PRDSHM_ETIMEDOUT);
	CU_ASSERT_EQUAL(prdshm_lock_query(seg, "r", 0, h, 4, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(h[0].mode, PRDSHM_SHARED);
	CU_ASSERT_EQUAL(h[1].mode, PRDSHM_SHARED);
	helper_fd = go[1];
	helper = spawn("later", NULL, "r", 0, go[1], -1);
	CU_ASSERT_EQUAL(prdshm_upgrade(a, "r", 10000), 0);
	CU_ASSERT_EQUAL(tu_wait_child(helper, 10000), 0);
	CU_ASSERT_EQUAL(prdshm_upgrade(a, "r", 0), 0);
	CU_ASSERT_EQUAL(tu_wait_child(pc, 10000), 0);
	CU_ASSERT_EQUAL(prdshm_lock_query(seg, "r", 0, h, 4, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(h[0].mode, PRDSHM_EXCLUSIVE);
	CU_ASSERT_STRING_EQUAL(h[0].agent_id, "a");
	CU_ASSERT_EQUAL(prdshm_upgrade(b, "r", 0), PRDSHM_ENOTHELD);
	CU_ASSERT_EQUAL(prdshm_downgrade(b, "r"), PRDSHM_ENOTHELD);
	prdshm_session_close(a);
	prdshm_session_close(b);
	teardown();
}

static void test_lock_many(void)
{
	static const char *const set[] = { "c", "a", "b" };
	static const char *const dup[] = { "x", "y", "x" };
	prdshm_session *a, *b;
	size_t failed = 99;

	setup();
	a = session("a");
	b = session("b");
	CU_ASSERT_EQUAL(prdshm_lock(a, "b", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock_many(b, set, 3, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL, &failed),
			PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(failed, 2);
	/* All or nothing: "a", taken before "b" failed, was given back. */
	CU_ASSERT_EQUAL(records("a", 0), 0);
	CU_ASSERT_EQUAL(records("c", 0), 0);
	CU_ASSERT_EQUAL(prdshm_lock_many(b, dup, 3, PRDSHM_SHARED, 0, NULL, &failed), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(failed, 2);
	CU_ASSERT_EQUAL(prdshm_unlock(a, "b"), 0);
	CU_ASSERT_EQUAL(prdshm_lock_many(b, set, 3, PRDSHM_SHARED, 1000, "pm", &failed), 0);
	CU_ASSERT_EQUAL(records("a", 0) + records("b", 0) + records("c", 0), 3);
	CU_ASSERT_EQUAL(prdshm_lock(a, "a", PRDSHM_SHARED, 0, NULL), 0);
	prdshm_session_close(b);
	/* Closing the session released its locks. */
	CU_ASSERT_EQUAL(records("b", 0), 0);
	CU_ASSERT_EQUAL(records("a", 0), 1);
	prdshm_session_close(a);
	teardown();
}

/* What the backend does not do yet says so (ZooKeeper only). */
static void test_not_supported(void)
{
	prdshm_session *s;
	size_t n;

	setup();
	s = session("a");
	/* The lock metrics answer on every backend (ZooKeeper: metrics.c). */
	CU_ASSERT_EQUAL(prdshm_lock_metrics_get(seg, 0, NULL, NULL, 0, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	if (on_zk) {
		CU_ASSERT_STRING_EQUAL(prdshm_strerror(PRDSHM_ENOTSUP),
				       "not supported by this backend");
	}
	prdshm_session_close(s);
	teardown();
}

/* A child spawned by spawn(): run its role and exit, before main(). */
__attribute__((constructor)) static void child_entry(void)
{
	struct conf_child c;

	if (!conf_child(&c))
		return;
	helper_fd = c.out;
	if (strcmp(c.role, "queued") == 0)
		_exit(release_when_queued(NULL));
	_exit(release_later(NULL));
}

const tu_test tu_tests[] = {
	TU(test_arguments),
	TU(test_exclusive_and_shared),
	TU(test_blocking_handoff),
	TU(test_fifo),
	TU(test_downgrade_upgrade),
	TU(test_lock_many),
	TU(test_not_supported),
	{ NULL, NULL },
};
const char *tu_suite = "lockconf";
