/*
 * test_handoff.c: the releaser's hand-off (lib/lock/wait.c,
 * prdshm__handoff()).  A release that finds the partition mutex free grants
 * the head of the queue itself, so a waiter that cannot run (stopped here
 * with SIGSTOP, as a descheduled process would be) holds the lock as soon
 * as the release returns, in FIFO order, and those behind stay queued.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static prdshm_config cfg;
static prdshm_seg *seg;

/* Child -> parent ('g' and the waiter's tag once granted), parent -> child
 * ('q': release and exit). */
static int up[2], down[2];

static void setup(void)
{
	tu_config(&cfg);
	CU_ASSERT_EQUAL_FATAL(prdshm_seg_create(&cfg, &seg), 0);
	CU_ASSERT_FATAL(pipe(up) == 0 && pipe(down) == 0);
}

static void teardown(void)
{
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	prdshm_seg_close(seg);
	seg = NULL;
	prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
}

struct waiter {
	const char *id;
	prdshm_mode mode;
};

/* Wait for "x" in the waiter's mode; once granted, say so and hold it until
 * told to release. */
static int waiter_child(void *arg)
{
	const struct waiter *w = arg;
	prdshm_seg *cs = NULL;
	prdshm_session *s = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open(cfg.shm_name, &cs) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(cs, w->id, 0, &s) == 0);
	TU_CHILD_ASSERT(prdshm_lock(s, "x", w->mode, 20000, NULL) == 0);
	tu_signal(up[1], w->id[0]);
	TU_CHILD_ASSERT(tu_await(down[0], 20000) == 'q');
	TU_CHILD_ASSERT(prdshm_unlock(s, "x") == 0);
	prdshm_session_close(s);
	prdshm_seg_close(cs);
	return 0;
}

/* The number of records on "x", @p nwait of them waiting. */
static int x_records(size_t n, size_t nwait)
{
	prdshm_holder h[8] = { PRDSHM_HOLDER_INIT };
	size_t got = 0, waiting = 0;

	if (prdshm_lock_query(seg, "x", 0, h, 8, &got) != 0 || got != n)
		return 0;
	for (size_t i = 0; i < got; i++)
		waiting += h[i].waiting != 0;
	return waiting == nwait;
}

/* x_records(), waited for at most 10 s. */
static int await_x_records(size_t n, size_t nwait)
{
	for (int64_t end = tu_now_ms() + 10000; tu_now_ms() < end; usleep(1000))
		if (x_records(n, nwait))
			return 1;
	return 0;
}

/* Process @p pid's state letter in /proc, or 0. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *paren;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' ? paren[2] : 0;
}

/* Fork a waiter and stop it once it is queued as the @p nwait-th waiter
 * and asleep: a sleeping waiter holds no mutex, so the stop leaves it
 * unable to do anything for itself, and only a releaser can grant it. */
static pid_t queued_and_stopped(struct waiter *w, size_t nrecs, size_t nwait)
{
	pid_t pid = tu_fork(waiter_child, w);
	int64_t end = tu_now_ms() + 10000;

	while (tu_now_ms() < end && !(x_records(nrecs, nwait) && proc_state(pid) == 'S'))
		usleep(1000);
	CU_ASSERT_FATAL(x_records(nrecs, nwait));
	kill(pid, SIGSTOP);
	CU_ASSERT_FATAL(tu_await_stopped(pid, 10000));
	return pid;
}

/* The holder of "x" at position @p i in grant order is @p id, holding
 * (@p waiting 0) or waiting. */
static int x_entry(size_t i, const char *id, int waiting)
{
	prdshm_holder h[8] = { PRDSHM_HOLDER_INIT };
	size_t n = 0;

	return prdshm_lock_query(seg, "x", 0, h, 8, &n) == 0 && i < n &&
	       strcmp(h[i].agent_id, id) == 0 && (h[i].waiting != 0) == waiting;
}

/* A waiter that cannot run holds the lock once the release returns. */
static void test_release_grants_stopped_waiter(void)
{
	static struct waiter w = { "waiter", PRDSHM_EXCLUSIVE };
	prdshm_session *s = NULL;
	pid_t pid;

	setup();
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open(seg, "holder", 0, &s), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	pid = queued_and_stopped(&w, 2, 1);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "x"), 0);
	CU_ASSERT(x_records(1, 0));
	CU_ASSERT(x_entry(0, "waiter", 0));
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	kill(pid, SIGCONT);
	CU_ASSERT_EQUAL(tu_await(up[0], 10000), 'w');
	tu_signal(down[1], 'q');
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
	prdshm_session_close(s);
	teardown();
}

/* The release grants the run of SHARED waiters at the head of the queue,
 * in order, and stops at the EXCLUSIVE one behind them, which the FIFO
 * rule keeps waiting for them. */
static void test_release_grants_shared_run_in_order(void)
{
	static struct waiter ws[3] = {
		{ "a-shared", PRDSHM_SHARED },
		{ "b-shared", PRDSHM_SHARED },
		{ "c-exclusive", PRDSHM_EXCLUSIVE },
	};
	prdshm_session *s = NULL;
	pid_t pids[3];
	char got[2];

	setup();
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open(seg, "holder", 0, &s), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	for (int i = 0; i < 3; i++)
		pids[i] = queued_and_stopped(&ws[i], (size_t)i + 2, (size_t)i + 1);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "x"), 0);
	CU_ASSERT(x_records(3, 1));
	CU_ASSERT(x_entry(0, "a-shared", 0));
	CU_ASSERT(x_entry(1, "b-shared", 0));
	CU_ASSERT(x_entry(2, "c-exclusive", 1));
	for (int i = 0; i < 3; i++)
		kill(pids[i], SIGCONT);
	got[0] = (char)tu_await(up[0], 10000);
	got[1] = (char)tu_await(up[0], 10000);
	CU_ASSERT((got[0] == 'a' && got[1] == 'b') || (got[0] == 'b' && got[1] == 'a'));
	tu_signal(down[1], 'q');
	tu_signal(down[1], 'q');
	CU_ASSERT_EQUAL(tu_await(up[0], 10000), 'c');
	tu_signal(down[1], 'q');
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(tu_wait_child(pids[i], 10000), 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
	prdshm_session_close(s);
	teardown();
}

/* Holds "x", says 'h' on fds[1], and on 'u' from fds[0] releases it,
 * stopped (PRDSHM_STOP_AT) between its swap, which saw a waiter, and its
 * hand-off; says 'r' once the release returned. */
static int releaser_child(void *arg)
{
	const int *fds = arg;
	prdshm_seg *cs = NULL;
	prdshm_session *s = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open(cfg.shm_name, &cs) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(cs, "releaser", 0, &s) == 0);
	TU_CHILD_ASSERT(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL) == 0);
	tu_signal(fds[1], 'h');
	TU_CHILD_ASSERT(tu_await(fds[0], 20000) == 'u');
	setenv("PRDSHM_STOP_AT", "handoff_begin", 1);
	TU_CHILD_ASSERT(prdshm_unlock(s, "x") == 0);
	unsetenv("PRDSHM_STOP_AT");
	tu_signal(fds[1], 'r');
	prdshm_session_close(s);
	prdshm_seg_close(cs);
	return 0;
}

/* A releaser delayed before its hand-off finds the slot gone: the waiter
 * it saw collected the release itself, was granted, and left, freeing the
 * slot.  The hand-off must leave the free slot alone (freeing it twice
 * would hand it out twice later). */
static void test_late_handoff_leaves_freed_slot_alone(void)
{
	static struct waiter w = { "waiter", PRDSHM_EXCLUSIVE };
	int rdown[2], rup[2], fds[2];
	prdshm_session *s = NULL;
	pid_t releaser, waiter;
	size_t n = 1;

	setup();
	CU_ASSERT_FATAL(pipe(rdown) == 0 && pipe(rup) == 0);
	fds[0] = rdown[0];
	fds[1] = rup[1];
	releaser = tu_fork(releaser_child, fds);
	CU_ASSERT_FATAL(tu_await(rup[0], 10000) == 'h');
	waiter = tu_fork(waiter_child, &w);
	CU_ASSERT(await_x_records(2, 1));
	tu_signal(rdown[1], 'u');
	CU_ASSERT(tu_await_stopped(releaser, 10000));
	/* The waiter collects the release at its next look (within its wait
	 * cap), is granted, and leaves: the slot is freed. */
	CU_ASSERT_EQUAL(tu_await(up[0], 10000), 'w');
	tu_signal(down[1], 'q');
	CU_ASSERT_EQUAL(tu_wait_child(waiter, 10000), 0);
	CU_ASSERT(prdshm_lock_query(seg, "x", 0, NULL, 0, &n) == 0 && n == 0);
	kill(releaser, SIGCONT);
	CU_ASSERT_EQUAL(tu_await(rup[0], 10000), 'r');
	CU_ASSERT_EQUAL(tu_wait_child(releaser, 10000), 0);
	/* Two new names take two slots: a slot on the free list twice would
	 * be handed out twice. */
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open(seg, "after", 0, &s), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "y", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "z", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
	prdshm_session_close(s);
	for (int i = 0; i < 2; i++) {
		close(rdown[i]);
		close(rup[i]);
	}
	teardown();
}

const tu_test tu_tests[] = {
	TU(test_release_grants_stopped_waiter),
	TU(test_release_grants_shared_run_in_order),
	TU(test_late_handoff_leaves_freed_slot_alone),
	{ NULL, NULL },
};
const char *tu_suite = "handoff";
