/*
 * test_lockconf.c: the lock conformance suite, one set of tests for every
 * backend.  `make check` runs it on shared memory like any test program,
 * and tests/cli/zookeeper.sh runs the same program again on a ZooKeeper
 * server it starts (PRDSHM_TEST_BACKEND=zookeeper, tu_backend_config()).
 * Only the public API; children open their own handles from the
 * configuration, so on ZooKeeper each child is its own ZooKeeper session.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confspawn.h"
#include "testutil.h"

static prdshm_config cfg;
static prdshm_seg *seg;
static int on_zk;

static void setup(void)
{
	on_zk = tu_backend_config(&cfg);
	CU_ASSERT_EQUAL_FATAL(prdshm_seg_create(&cfg, &seg), 0);
}

static void teardown(void)
{
	prdshm_seg_close(seg);
	seg = NULL;
	/* A killed child's ZooKeeper session may still be registered: the
	 * server's data dir goes with it (tests/zk/run.sh). */
	(void)prdshm_seg_unlink_unused_cfg(&cfg);
	prdshm_config_free(&cfg);
}

static prdshm_session *session(const char *id)
{
	prdshm_session *s = NULL;

	CU_ASSERT_EQUAL(prdshm_session_open(seg, id, 0, &s), 0);
	return s;
}

/* Records of @p resource that would block @p mode (0: all); SIZE_MAX if
 * the query fails.  No CUnit assertion: children use it too. */
static size_t records(const char *resource, prdshm_mode mode)
{
	size_t n = 99;

	if (prdshm_lock_query(seg, resource, mode, NULL, 0, &n) != 0)
		return SIZE_MAX;
	return n;
}

/* Poll (bounded) until @p resource has @p n records. */
static int await_records(const char *resource, size_t n)
{
	int64_t end = tu_now_ms() + 10000;

	while (tu_now_ms() < end) {
		if (records(resource, 0) == n)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* ---- A child that locks, reports, and waits to be told to unlock ------- */

struct locker {
	const char *id;
	const char *resource;
	prdshm_mode mode;
	int report; /* write end: one byte ('0' + id[0]) once granted */
	int go;     /* read end: unlock and exit once a byte comes */
};

static int locker_main(void *arg)
{
	struct locker *l = arg;
	prdshm_seg *cseg = NULL;
	prdshm_session *s = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open_cfg(&cfg, &cseg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(cseg, l->id, 0, &s) == 0);
	TU_CHILD_ASSERT(prdshm_lock(s, l->resource, l->mode, 20000, "ph") == 0);
	tu_signal(l->report, l->id[0]);
	if (tu_await(l->go, 30000) < 0)
		_exit(3);
	TU_CHILD_ASSERT(prdshm_unlock(s, l->resource) == 0);
	prdshm_session_close(s);
	prdshm_seg_close(cseg);
	return 0;
}

/* A child in a fresh image of this program (confspawn.h), told its role
 * and descriptors by LOCKCONF_* variables. */
static pid_t spawn(const char *role, const char *id, const char *resource, int mode, int out,
		   int in)
{
	char vars[6][300], *v[6];

	snprintf(vars[0], sizeof(vars[0]), "LOCKCONF_ROLE=%s", role);
	snprintf(vars[1], sizeof(vars[0]), "LOCKCONF_ID=%s", id ? id : "x");
	snprintf(vars[2], sizeof(vars[0]), "LOCKCONF_RESOURCE=%s", resource ? resource : "r");
	snprintf(vars[3], sizeof(vars[0]), "LOCKCONF_MODE=%d", mode);
	snprintf(vars[4], sizeof(vars[0]), "LOCKCONF_OUT=%d", out);
	snprintf(vars[5], sizeof(vars[0]), "LOCKCONF_IN=%d", in);
	for (int i = 0; i < 6; i++)
		v[i] = vars[i];
	return tu_conf_spawn(&cfg, "test_lockconf", "LOCKCONF_", v, 6);
}

static pid_t start_locker(struct locker *l, const char *id, const char *resource,
			  prdshm_mode mode, int report_fd, int go[2])
{
	CU_ASSERT_EQUAL_FATAL(pipe(go), 0);
	l->id = id;
	l->resource = resource;
	l->mode = mode;
	l->report = report_fd;
	l->go = go[0];
	return spawn("locker", id, resource, (int)mode, report_fd, go[0]);
}

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

static int hold_and_wait(void *arg)
{
	int *fds = arg;
	prdshm_seg *cseg = NULL;
	prdshm_session *s = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open_cfg(&cfg, &cseg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(cseg, "doomed", 0, &s) == 0);
	TU_CHILD_ASSERT(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, 0, NULL) == 0);
	tu_signal(fds[1], 'L');
	pause();
	return 0;
}

/* kill -9 of a holder frees its lock: at once on shm (the kernel drops its
 * OFD lock), after the session timeout on ZooKeeper (2 s here). */
static void test_killed_holder(void)
{
	prdshm_session *s;
	int fds[2];
	pid_t pid;

	setup();
	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	pid = spawn("hold", "doomed", "r", 0, fds[1], -1);
	CU_ASSERT_EQUAL_FATAL(tu_await(fds[0], 10000), 'L');
	s = session("heir");
	CU_ASSERT_EQUAL(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	kill(pid, SIGKILL);
	CU_ASSERT_EQUAL(tu_wait_child(pid, 5000), 128 + SIGKILL);
	CU_ASSERT_EQUAL(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, 20000, NULL), 0);
	CU_ASSERT_EQUAL(records("r", 0), 1);
	prdshm_session_close(s);
	teardown();
}

/* A lost connection within the session timeout is survived (ZooKeeper
 * only, when tests/cli/zookeeper.sh says how to halt and start the
 * server): a lock asked for while the server is down (a child starts it
 * again, with its data, which takes the JVM a second or more) is granted
 * once the client reconnects, and the lock held before is still held. */
static void test_server_restart(void)
{
	const char *halt = getenv("PRDSHM_TEST_ZK_HALT");
	const char *start = getenv("PRDSHM_TEST_ZK_START");
	prdshm_diag d = PRDSHM_DIAG_INIT;
	prdshm_session *a, *b;
	prdshm_seg *seg2 = NULL;
	pid_t starter;

	on_zk = tu_backend_config(&cfg);
	if (!on_zk || !halt || !start) {
		prdshm_config_free(&cfg);
		return;
	}
	/* Long enough for a restart on a loaded machine. */
	CU_ASSERT_EQUAL(prdshm_config_set(&cfg, "zookeeper.session_timeout_ms", "20000",
					  PRDSHM_FROM_CMDLINE, &d),
			0);
	CU_ASSERT_EQUAL_FATAL(prdshm_seg_create(&cfg, &seg), 0);
	a = session("a");
	CU_ASSERT_EQUAL(prdshm_lock(a, "r", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(system(halt), 0);
	starter = fork();
	if (starter == 0) {
		execl("/bin/sh", "sh", "-c", start, (char *)NULL);
		_exit(127);
	}
	CU_ASSERT_EQUAL(prdshm_lock(a, "r2", PRDSHM_EXCLUSIVE, 15000, NULL), 0);
	CU_ASSERT_EQUAL(tu_wait_child(starter, 60000), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_seg_open_cfg(&cfg, &seg2), 0);
	CU_ASSERT_EQUAL(prdshm_session_open(seg2, "b", 0, &b), 0);
	CU_ASSERT_EQUAL(prdshm_lock(b, "r", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_unlock(a, "r"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(b, "r", PRDSHM_EXCLUSIVE, 5000, NULL), 0);
	prdshm_session_close(b);
	prdshm_seg_close(seg2);
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

/* ---- Deadlocks ------------------------------------------------------------ */

static void close_pipes(int a[2], int b[2])
{
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* Read a line (without its '\n') from a child, bounded.  @return its
 * length, or -1. */
static int read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	int c;

	while ((c = tu_await(fd, 10000)) >= 0 && c != '\n')
		if (n + 1 < size)
			buf[n++] = (char)c;
	buf[n] = '\0';
	return c == '\n' ? (int)n : -1;
}

/* Role "cycle": hold the first of "HELD WANTED" in the mode given, report
 * 'L', and once told, lock WANTED (upgrade if it is HELD).  Report 'G' if
 * granted; 'D' and the message if refused with PRDSHM_EDEADLK, then let go
 * of the hold (which the refusal kept) so that the others proceed. */
static int cycle_main(const char *id, const char *spec, prdshm_mode mode, int out, int in)
{
	char held[64], wanted[64], line[600];
	prdshm_seg *cseg = NULL;
	prdshm_session *s = NULL;
	int r;

	TU_CHILD_ASSERT(sscanf(spec, "%63s %63s", held, wanted) == 2);
	TU_CHILD_ASSERT(prdshm_seg_open_cfg(&cfg, &cseg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(cseg, id, 0, &s) == 0);
	TU_CHILD_ASSERT(prdshm_lock(s, held, mode, 0, NULL) == 0);
	tu_signal(out, 'L');
	if (tu_await(in, 30000) < 0)
		_exit(3);
	if (strcmp(held, wanted) == 0)
		r = prdshm_upgrade(s, held, 30000);
	else
		r = prdshm_lock(s, wanted, PRDSHM_EXCLUSIVE, 30000, NULL);
	if (r == PRDSHM_EDEADLK) {
		snprintf(line, sizeof(line), "D%s\n", prdshm_last_error());
		TU_CHILD_ASSERT(write(out, line, strlen(line)) == (ssize_t)strlen(line));
		/* The refused request took nothing and left the hold. */
		TU_CHILD_ASSERT(prdshm_unlock(s, held) == 0);
	} else {
		if (r)
			fprintf(stderr, "cycle %s: %s: %s\n", id, prdshm_err_name(r),
				prdshm_last_error());
		TU_CHILD_ASSERT(r == 0);
		tu_signal(out, 'G');
	}
	TU_CHILD_ASSERT(prdshm_unlock_all(s, NULL) == 0);
	prdshm_session_close(s);
	prdshm_seg_close(cseg);
	return 0;
}

/*
 * @p n processes: process i holds res[i] (in @p mode) and then wants
 * res[i + 1] (a ring), so that they wait for each other.  Exactly one of
 * them fails with PRDSHM_EDEADLK, its message naming the cycle from
 * itself round, and the others get their locks.  With one resource for
 * all, SHARED, each upgrades.
 */
static void deadlock_ring(size_t n, const char *const *res, prdshm_mode mode)
{
	static const char *const ids[] = { "A", "B", "C" };
	int rep[3][2], go[3][2], victims = 0;
	char spec[140], line[600], want[600];
	pid_t pid[3];

	setup();
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_FATAL(pipe(rep[i]) == 0 && pipe(go[i]) == 0);
		snprintf(spec, sizeof(spec), "%s %s", res[i], res[(i + 1) % n]);
		pid[i] = spawn("cycle", ids[i], spec, (int)mode, rep[i][1], go[i][0]);
		CU_ASSERT_EQUAL(tu_await(rep[i][0], 10000), 'L');
	}
	for (size_t i = 0; i < n; i++)
		tu_signal(go[i][1], 'g');
	for (size_t i = 0; i < n; i++) {
		int c = tu_await(rep[i][0], 30000);

		CU_ASSERT(c == 'D' || c == 'G');
		if (c != 'D')
			continue;
		victims++;
		CU_ASSERT(read_line(rep[i][0], line, sizeof(line)) > 0);
		/* "X waits for Y waits for X", in the order of the waits. */
		snprintf(want, sizeof(want), "deadlock detected waiting for '%s': %s",
			 res[(i + 1) % n], ids[i]);
		for (size_t k = 1; k <= n; k++)
			snprintf(want + strlen(want), sizeof(want) - strlen(want), " waits for %s",
				 ids[(i + k) % n]);
		CU_ASSERT_STRING_EQUAL(line, want);
	}
	CU_ASSERT_EQUAL(victims, 1);
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(tu_wait_child(pid[i], 20000), 0);
		close_pipes(rep[i], go[i]);
	}
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(records(res[i], 0), 0);
	teardown();
}

/* A holds r1 and wants r2, B holds r2 and wants r1. */
static void test_deadlock_two(void)
{
	static const char *const res[] = { "r1", "r2" };

	deadlock_ring(2, res, PRDSHM_EXCLUSIVE);
}

static void test_deadlock_three(void)
{
	static const char *const res[] = { "r1", "r2", "r3" };

	deadlock_ring(3, res, PRDSHM_EXCLUSIVE);
}

/* Two SHARED holders of r both upgrade: each waits for the other's hold.
 * The one refused keeps its SHARED hold (and lets it go). */
static void test_deadlock_upgraders(void)
{
	static const char *const res[] = { "r", "r" };

	deadlock_ring(2, res, PRDSHM_SHARED);
}

/* A long wait in a chain that is no cycle is no deadlock: we wait for B
 * (r2), who waits for the holder of r1, for several deadlock checks of
 * both (deadlock_timeout_ms, 500 ms here), and time out; B is granted
 * once r1 goes. */
static void test_no_false_deadlock(void)
{
	prdshm_session *s;
	struct locker l;
	int rep[2], go[2], repb[2], gob[2];
	pid_t holder, b;

	setup();
	CU_ASSERT_FATAL(pipe(rep) == 0 && pipe(repb) == 0 && pipe(gob) == 0);
	holder = start_locker(&l, "holder", "r1", PRDSHM_EXCLUSIVE, rep[1], go);
	CU_ASSERT_EQUAL(tu_await(rep[0], 10000), 'h');
	b = spawn("cycle", "B", "r2 r1", PRDSHM_EXCLUSIVE, repb[1], gob[0]);
	CU_ASSERT_EQUAL(tu_await(repb[0], 10000), 'L');
	tu_signal(gob[1], 'g');
	CU_ASSERT(await_records("r1", 2));
	s = session("me");
	/* And a reader behind a reader waits for nobody. */
	CU_ASSERT_EQUAL(prdshm_lock(s, "r3", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "r2", PRDSHM_EXCLUSIVE, 1600, NULL), PRDSHM_ETIMEDOUT);
	CU_ASSERT_EQUAL(tu_await(repb[0], 0), -1);
	tu_signal(go[1], 'g');
	CU_ASSERT_EQUAL(tu_await(repb[0], 10000), 'G');
	CU_ASSERT_EQUAL(tu_wait_child(holder, 10000), 0);
	CU_ASSERT_EQUAL(tu_wait_child(b, 10000), 0);
	prdshm_session_close(s);
	teardown();
}

/* ---- A signal handler ends a wait (PRDSHM_EINTR) ------------------------ */

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	(void)sig;
	handled = 1;
}

/* Role "intr": with a SIGUSR1 handler (not restarted), wait for "r"
 * (held EXCLUSIVE by the parent), for {"q", "r"}, and to upgrade "u" (held
 * SHARED by the parent too), each ended by the parent's signal with
 * PRDSHM_EINTR, nothing taken and the SHARED hold kept.  Report '1', '2',
 * '3', each time waiting to be told to go on (the parent looks at the
 * records meanwhile). */
static int intr_main(int out, int in)
{
	static const char *const qr[] = { "q", "r" };
	struct sigaction sa;
	prdshm_seg *cseg = NULL;
	prdshm_session *s = NULL;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	TU_CHILD_ASSERT(sigaction(SIGUSR1, &sa, NULL) == 0);
	TU_CHILD_ASSERT(prdshm_seg_open_cfg(&cfg, &cseg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(cseg, "intr", 0, &s) == 0);
	tu_signal(out, 'R');
	TU_CHILD_ASSERT(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, 20000, NULL) == PRDSHM_EINTR);
	TU_CHILD_ASSERT(strstr(prdshm_last_error(), "interrupted by a signal") != NULL);
	tu_signal(out, '1');
	TU_CHILD_ASSERT(tu_await(in, 10000) == 'g');
	TU_CHILD_ASSERT(prdshm_lock_many(s, qr, 2, PRDSHM_EXCLUSIVE, 20000, NULL, NULL) ==
			PRDSHM_EINTR);
	tu_signal(out, '2');
	TU_CHILD_ASSERT(tu_await(in, 10000) == 'g');
	TU_CHILD_ASSERT(prdshm_lock(s, "u", PRDSHM_SHARED, 0, NULL) == 0);
	TU_CHILD_ASSERT(prdshm_upgrade(s, "u", 20000) == PRDSHM_EINTR);
	TU_CHILD_ASSERT(prdshm_unlock(s, "u") == 0);
	TU_CHILD_ASSERT(prdshm_unlock_all(s, NULL) == 0);
	tu_signal(out, '3');
	prdshm_session_close(s);
	prdshm_seg_close(cseg);
	return 0;
}

/* Signal @p pid until it reports (a signal that lands between its sleeps
 * does not end its wait: prdshm_lock()).  @return the byte, -1 if none. */
static int interrupt(pid_t pid, int fd)
{
	int64_t end = tu_now_ms() + 10000;
	int c = -1;

	while (c < 0 && tu_now_ms() < end) {
		kill(pid, SIGUSR1);
		c = tu_await(fd, 100);
	}
	return c;
}

static void test_interrupted_waits(void)
{
	prdshm_session *a;
	int rep[2], go[2];
	pid_t pid;

	setup();
	a = session("a");
	CU_ASSERT_EQUAL(prdshm_lock(a, "r", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(a, "u", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_FATAL(pipe(rep) == 0 && pipe(go) == 0);
	pid = spawn("intr", NULL, NULL, 0, rep[1], go[0]);
	CU_ASSERT_EQUAL(tu_await(rep[0], 10000), 'R');
	CU_ASSERT(await_records("r", 2));
	CU_ASSERT_EQUAL(interrupt(pid, rep[0]), '1');
	CU_ASSERT_EQUAL(records("r", 0), 1);
	tu_signal(go[1], 'g');
	CU_ASSERT_EQUAL(interrupt(pid, rep[0]), '2');
	CU_ASSERT_EQUAL(records("r", 0), 1);
	CU_ASSERT_EQUAL(records("q", 0), 0);
	tu_signal(go[1], 'g');
	CU_ASSERT_EQUAL(interrupt(pid, rep[0]), '3');
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 0);
	CU_ASSERT_EQUAL(records("u", 0), 1);
	CU_ASSERT_EQUAL(prdshm_upgrade(a, "u", PRDSHM_TRY), 0);
	close_pipes(rep, go);
	prdshm_session_close(a);
	teardown();
}

/* ---- An expired session (ZooKeeper only) --------------------------------- */

/* Role "stale": hold "r", report 'L', and once told (after a stop longer
 * than the session timeout), find every call failing and saying why. */
static int stale_main(int out, int in)
{
	prdshm_seg *cseg = NULL;
	prdshm_session *s = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open_cfg(&cfg, &cseg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(cseg, "stale", 0, &s) == 0);
	TU_CHILD_ASSERT(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, 0, NULL) == 0);
	tu_signal(out, 'L');
	if (tu_await(in, 60000) < 0)
		_exit(3);
	TU_CHILD_ASSERT(prdshm_unlock(s, "r") == PRDSHM_ESYS);
	TU_CHILD_ASSERT(strstr(prdshm_last_error(), "expired") != NULL);
	TU_CHILD_ASSERT(prdshm_lock(s, "r2", PRDSHM_EXCLUSIVE, 0, NULL) == PRDSHM_ESYS);
	TU_CHILD_ASSERT(strstr(prdshm_last_error(), "expired") != NULL);
	tu_signal(out, 'X');
	prdshm_session_close(s);
	prdshm_seg_close(cseg);
	return 0;
}

/* A holder stopped past the session timeout (2 s here) loses its lock to a
 * waiter, and once it runs again its next calls fail with PRDSHM_ESYS
 * naming the expiry: it never goes on believing it holds the lock. */
static void test_expired_session(void)
{
	prdshm_session *s;
	prdshm_holder h[2] = { PRDSHM_HOLDER_INIT };
	int rep[2], go[2];
	size_t n = 0;
	pid_t pid;

	setup();
	if (!on_zk) {
		teardown();
		return;
	}
	CU_ASSERT_FATAL(pipe(rep) == 0 && pipe(go) == 0);
	pid = spawn("stale", NULL, NULL, 0, rep[1], go[0]);
	CU_ASSERT_EQUAL_FATAL(tu_await(rep[0], 10000), 'L');
	s = session("heir");
	CU_ASSERT_EQUAL(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	kill(pid, SIGSTOP);
	CU_ASSERT_EQUAL(tu_await_stopped(pid, 5000), 1);
	CU_ASSERT_EQUAL(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, 20000, NULL), 0);
	kill(pid, SIGCONT);
	tu_signal(go[1], 'g');
	CU_ASSERT_EQUAL(tu_await(rep[0], 20000), 'X');
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 0);
	CU_ASSERT_EQUAL(prdshm_lock_query(seg, "r", 0, h, 2, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_STRING_EQUAL(h[0].agent_id, "heir");
	close_pipes(rep, go);
	prdshm_session_close(s);
	teardown();
}

/* A child spawned by spawn(): run its role and exit, before main(). */
__attribute__((constructor)) static void child_entry(void)
{
	const char *role = getenv("LOCKCONF_ROLE");
	struct locker l;
	int fds[2];

	if (!role)
		return;
	prdshm_config_init(&cfg);
	TU_CHILD_ASSERT(prdshm_config_apply_env(&cfg, NULL) == 0);
	helper_fd = atoi(getenv("LOCKCONF_OUT"));
	if (strcmp(role, "locker") == 0) {
		l.id = getenv("LOCKCONF_ID");
		l.resource = getenv("LOCKCONF_RESOURCE");
		l.mode = (prdshm_mode)atoi(getenv("LOCKCONF_MODE"));
		l.report = helper_fd;
		l.go = atoi(getenv("LOCKCONF_IN"));
		_exit(locker_main(&l));
	}
	if (strcmp(role, "hold") == 0) {
		fds[1] = helper_fd;
		_exit(hold_and_wait(fds));
	}
	if (strcmp(role, "cycle") == 0)
		_exit(cycle_main(getenv("LOCKCONF_ID"), getenv("LOCKCONF_RESOURCE"),
				 (prdshm_mode)atoi(getenv("LOCKCONF_MODE")), helper_fd,
				 atoi(getenv("LOCKCONF_IN"))));
	if (strcmp(role, "intr") == 0)
		_exit(intr_main(helper_fd, atoi(getenv("LOCKCONF_IN"))));
	if (strcmp(role, "stale") == 0)
		_exit(stale_main(helper_fd, atoi(getenv("LOCKCONF_IN"))));
	if (strcmp(role, "queued") == 0)
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
	TU(test_killed_holder),
	TU(test_deadlock_two),
	TU(test_deadlock_three),
	TU(test_deadlock_upgraders),
	TU(test_no_false_deadlock),
	TU(test_interrupted_waits),
	TU(test_expired_session),
	TU(test_server_restart),
	TU(test_not_supported),
	{ NULL, NULL },
};
const char *tu_suite = "lockconf";
