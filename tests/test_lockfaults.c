/*
 * test_lockfaults.c: the lock conformance suite's faults, on every backend
 * like test_lockconf.c (its core): a holder killed, the server restarted,
 * deadlocks found and refused, a wait ended by a signal (PRDSHM_EINTR),
 * an expired session.  Children are fresh images of this program
 * (conffix.h).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffix.h"
#include "testutil.h"

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

/* ---- Deadlocks ------------------------------------------------------------ */

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
	struct conf_child c;
	int fds[2];

	if (!conf_child(&c))
		return;
	if (strcmp(c.role, "hold") == 0) {
		fds[1] = c.out;
		_exit(hold_and_wait(fds));
	}
	if (strcmp(c.role, "cycle") == 0)
		_exit(cycle_main(c.id, c.resource, (prdshm_mode)c.mode, c.out, c.in));
	if (strcmp(c.role, "intr") == 0)
		_exit(intr_main(c.out, c.in));
	_exit(stale_main(c.out, c.in));
}

const tu_test tu_tests[] = {
	TU(test_killed_holder),
	TU(test_deadlock_two),
	TU(test_deadlock_three),
	TU(test_deadlock_upgraders),
	TU(test_no_false_deadlock),
	TU(test_interrupted_waits),
	TU(test_expired_session),
	TU(test_server_restart),
	{ NULL, NULL },
};
const char *tu_suite = "lockfaults";
