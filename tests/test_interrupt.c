/*
 * test_interrupt.c: a signal handler interrupts a wait (PRDSHM_EINTR), and
 * the interrupted waiter leaves nothing behind in the segment.
 *
 * Each test forks a waiter that installs a SIGUSR1 handler, blocks in the
 * library, reports the call's result through a pipe, and exits.  The parent
 * sees the waiting record (prdshm_lock_query) before it sends the signal, so
 * the signal lands during the wait, not before it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static prdshm_config cfg;
static prdshm_seg *seg;
static int up[2];   /* waiter -> parent: 'w' about to wait, then the result */
static int down[2]; /* parent -> waiter: 'q' to quit */
static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	handled = 1;
}

/* The segment, with @p plan (or none), and the pipes. */
static void setup(const char *plan)
{
	prdshm_diag d = PRDSHM_DIAG_INIT;

	tu_config(&cfg);
	if (plan)
		CU_ASSERT_EQUAL_FATAL(
			prdshm_config_load_string(&cfg, plan, strlen(plan), "plan", &d), 0);
	seg = tu_seg_create(&cfg);
	CU_ASSERT_FATAL(pipe(up) == 0 && pipe(down) == 0);
}

/* Close the parent's session @p s, then the segment and the pipes. */
static void teardown(prdshm_session *s)
{
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
	seg = NULL;
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}

static void print_problem(void *ctx, int severity, const char *problem)
{
	fprintf(stderr, "check: %s\n", problem);
}

static int healthy(void)
{
	return prdshm_check(seg, 0, print_problem, NULL);
}

/* setup(), and session "holder" holding "x" in @p mode. */
static prdshm_session *setup_holding_x(prdshm_mode mode)
{
	prdshm_session *s;

	setup(NULL);
	s = tu_session(seg, "holder");
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", mode, 0, NULL), 0);
	return s;
}

/* The records of @p res: holders first, then waiters.  -1 on error. */
static int records(const char *res, prdshm_holder *h, size_t cap)
{
	size_t n = 0;

	if (prdshm_lock_query(seg, res, 0, h, cap, &n) != 0)
		return -1;
	return (int)n;
}

/* 1 once @p res has a waiting record (or an upgrading holder), bounded. */
static int has_waiter(const char *res)
{
	for (int64_t end = tu_now_ms() + 10000; tu_now_ms() < end; usleep(1000)) {
		prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
		int n = records(res, h, 4);

		for (int i = 0; i < n && i < 4; i++) {
			if (h[i].waiting)
				return 1;
		}
	}
	return 0;
}

/* What the waiter child does, and how its handler is installed. */
enum what { LOCK, LOCK_MANY, UPGRADE, PHASE_WAIT };
struct waiter {
	enum what what;
	int sa_flags; /* 0 or SA_RESTART */
};

static int waiter_child(void *arg)
{
	const struct waiter *w = arg;
	static const char *const two[] = { "a-free", "x" };
	struct sigaction sa;
	prdshm_seg *cs = NULL;
	prdshm_session *s = NULL;
	int r = -1;
	char c;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = w->sa_flags;
	sigemptyset(&sa.sa_mask);
	TU_CHILD_ASSERT(sigaction(SIGUSR1, &sa, NULL) == 0);
	s = tu_child_session(cfg.shm_name, "waiter", &cs);
	if (w->what == UPGRADE)
		TU_CHILD_ASSERT(prdshm_lock(s, "x", PRDSHM_SHARED, 0, NULL) == 0);
	tu_signal(up[1], 'w');
	switch (w->what) {
	case LOCK:
		r = prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 20000, NULL);
		break;
	case LOCK_MANY:
		r = prdshm_lock_many(s, two, 2, PRDSHM_EXCLUSIVE, 20000, NULL, NULL);
		break;
	case UPGRADE:
		r = prdshm_upgrade(s, "x", 20000);
		break;
	case PHASE_WAIT:
		/* Each call sleeps at most a second: loop until one is
		 * interrupted (or 20 s pass). */
		for (int64_t end = tu_now_ms() + 20000; tu_now_ms() < end;) {
			r = prdshm_phase_wait(s, 20000);
			if (r != 0)
				break;
		}
		break;
	}
	if (r == PRDSHM_EINTR && !handled)
		r = -100; /* interrupted, but no handler ran */
	c = (char)-r;
	tu_signal(up[1], c);
	/* An upgrade that gave up keeps its SHARED hold: stay until the
	 * parent has looked at it. */
	if (w->what == UPGRADE)
		TU_CHILD_ASSERT(tu_await(down[0], 20000) == 'q');
	prdshm_session_close(s);
	prdshm_seg_close(cs);
	return 0;
}

/* Fork the waiter, wait for it to block (@p blocked, when the segment
 * shows it), signal it, and return the (negated) code its call returned;
 * 0 if none came in 5 s.  A signal that lands while the waiter is not
 * asleep (before its first sleep, or while it is preempted just before it)
 * only runs the handler: prdshm.h says so.  Signal again every 50 ms. */
static int interrupt_waiter(struct waiter *w, pid_t *pid, int (*blocked)(void))
{
	*pid = tu_fork(waiter_child, w);
	if (tu_await(up[0], 10000) != 'w' || (blocked && !blocked()))
		return 0;
	for (int i = 0; i < 100; i++) {
		int c;

		kill(*pid, SIGUSR1);
		c = tu_await(up[0], 50);
		if (c != -1)
			return c;
	}
	return 0;
}

static int x_blocked(void)
{
	return has_waiter("x");
}

static void lock_interrupted(int sa_flags)
{
	struct waiter w = { LOCK, sa_flags };
	prdshm_session *s = setup_holding_x(PRDSHM_EXCLUSIVE);
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	pid_t pid;

	CU_ASSERT_EQUAL(interrupt_waiter(&w, &pid, x_blocked), -PRDSHM_EINTR);
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 0);
	/* The waiter withdrew its record: only the holder is left. */
	CU_ASSERT_EQUAL(records("x", h, 4), 1);
	CU_ASSERT_EQUAL(h[0].waiting, 0);
	CU_ASSERT_EQUAL(healthy(), 0);
	teardown(s);
}

/* A handler installed without SA_RESTART ends the wait. */
static void test_lock_wait_interrupted(void)
{
	lock_interrupted(0);
}

/* With SA_RESTART too: a timed sleep is never restarted (documented). */
static void test_lock_wait_interrupted_sa_restart(void)
{
	lock_interrupted(SA_RESTART);
}

/* lock_many gives back what it took before it waited. */
static void test_lock_many_interrupted_holds_nothing(void)
{
	struct waiter w = { LOCK_MANY, 0 };
	prdshm_session *s = setup_holding_x(PRDSHM_EXCLUSIVE);
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	pid_t pid;

	CU_ASSERT_EQUAL(interrupt_waiter(&w, &pid, x_blocked), -PRDSHM_EINTR);
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 0);
	CU_ASSERT_EQUAL(records("a-free", h, 4), 0);
	CU_ASSERT_EQUAL(records("x", h, 4), 1);
	CU_ASSERT_EQUAL(healthy(), 0);
	teardown(s);
}

/* An interrupted upgrade falls back to its SHARED hold. */
static void test_upgrade_interrupted_keeps_shared(void)
{
	struct waiter w = { UPGRADE, 0 };
	prdshm_session *s = setup_holding_x(PRDSHM_SHARED);
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	pid_t pid;

	/* An upgrade waits in its held record: no waiting record to see. */
	CU_ASSERT_EQUAL(interrupt_waiter(&w, &pid, NULL), -PRDSHM_EINTR);
	CU_ASSERT_EQUAL(records("x", h, 4), 2);
	CU_ASSERT(h[0].mode == PRDSHM_SHARED && !h[0].waiting);
	CU_ASSERT(h[1].mode == PRDSHM_SHARED && !h[1].waiting);
	CU_ASSERT_EQUAL(healthy(), 0);
	tu_signal(down[1], 'q');
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 0);
	teardown(s);
}

/* The phase wait has no record to withdraw; it just says so. */
static void test_phase_wait_interrupted(void)
{
	static const char plan[] = "phases:\n"
				   "  - id: first\n"
				   "  - id: second\n"
				   "    dependencies: [first]\n";
	struct waiter w = { PHASE_WAIT, 0 };
	prdshm_session *s;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	pid_t pid;

	setup(plan);
	s = tu_session(seg, "runner");
	/* "first" runs: nothing is ready for the waiter until it ends. */
	CU_ASSERT_EQUAL(prdshm_phase_claim(s, &c), 0);
	CU_ASSERT_EQUAL(interrupt_waiter(&w, &pid, NULL), -PRDSHM_EINTR);
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 0);
	teardown(s);
}

const tu_test tu_tests[] = {
	TU(test_lock_wait_interrupted),
	TU(test_lock_wait_interrupted_sa_restart),
	TU(test_lock_many_interrupted_holds_nothing),
	TU(test_upgrade_interrupted_keeps_shared),
	TU(test_phase_wait_interrupted),
	{ NULL, NULL },
};
const char *tu_suite = "interrupt";
