/*
 * test_phaseprocs.c: the phase conformance suite's plan size limit and
 * several processes, on every backend like test_phaseconf.c (the rules in
 * one process): a wait woken by another process's completion, concurrent
 * claimers that never share a phase, a SIGKILLed claimer's phase failed
 * by prdshm_reap() and requeued by the next claim once its session is
 * gone.  Children are fresh images of this program (conffix.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffix.h"
#include "phaseplan.h"
#include "testutil.h"

/* A plan of @p n independent phases "p<i>". */
static void wide_plan(int n)
{
	char id[16];

	plan_config(PRDSHM_SCHED_EAGER, 2, 1);
	cfg.max_phases = n;
	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "p%d", i);
		tp_plan_add(&cfg, id, 1, NULL);
	}
}

/* ZooKeeper keeps the plan in one znode, which its 1 MB limit bounds
 * (docs/zookeeper.md): 1,500 phases fit, 2,500 are refused at creation
 * with one message, and no segment is left.  Shared memory takes both. */
static void test_plan_size_limit(void)
{
	prdshm_session *s;
	prdshm_seg *other = NULL;
	int r;

	wide_plan(1500);
	create();
	s = session("s");
	tp_claim_expect(s, "p0");
	prdshm_session_close(s);
	teardown();

	wide_plan(2500);
	r = prdshm_seg_create(&cfg, &seg);
	if (on_zk) {
		CU_ASSERT_EQUAL(r, PRDSHM_EPHASEFULL);
		CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "plan of 2500 phases needs"));
		CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "jute.maxbuffer"));
		CU_ASSERT_EQUAL(prdshm_seg_open_cfg(&cfg, &other), PRDSHM_ENOENT);
		prdshm_config_free(&cfg);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(r, 0);
	teardown();
}

/* ------------------------------------------------------------------------ */
/* Several processes                                                        */

/* The child's own segment and session, from the configuration. */
static prdshm_session *child_session(const char *id)
{
	prdshm_session *s = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open_cfg(&cfg, &seg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(seg, id, 0, &s) == 0);
	return s;
}

/* Claim the first phase, say 'C', and complete it once told to (a byte
 * on @p in), then say 'D'. */
static int holder_main(const char *id, int out, int in)
{
	prdshm_session *s = child_session(id);
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	TU_CHILD_ASSERT(prdshm_phase_claim(s, &c) == 0);
	tu_signal(out, 'C');
	if (tu_await(in, 30000) < 0)
		return 3;
	TU_CHILD_ASSERT(prdshm_phase_complete(s, c.index) == 0);
	tu_signal(out, 'D');
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	return 0;
}

/* Claim and complete until nothing is left, writing each claimed index
 * (one byte) to @p out: a phase handed out twice shows twice, or fails
 * its second completion. */
static int claimer_main(const char *id, int out)
{
	prdshm_session *s = child_session(id);
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	int64_t end = tu_now_ms() + 60000;
	int r = PRDSHM_EWAIT;

	while (tu_now_ms() < end) {
		r = prdshm_phase_claim(s, &c);
		if (r == PRDSHM_EDONE)
			break;
		if (r == PRDSHM_EWAIT) {
			TU_CHILD_ASSERT(prdshm_phase_wait(s, 1000) == 0);
			continue;
		}
		TU_CHILD_ASSERT(r == 0);
		tu_signal(out, (char)c.index);
		TU_CHILD_ASSERT(prdshm_phase_complete(s, c.index) == 0);
	}
	TU_CHILD_ASSERT(r == PRDSHM_EDONE);
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	return 0;
}

/* Claim the first phase, say 'C', and wait to be killed. */
static int doomed_main(const char *id, int out)
{
	prdshm_session *s = child_session(id);
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	TU_CHILD_ASSERT(prdshm_phase_claim(s, &c) == 0);
	tu_signal(out, 'C');
	pause();
	return 0;
}

/* A child that tells @p out at once (the parent is about to wait). */
static int tell_main(int out)
{
	tu_signal(out, 'g');
	return 0;
}

/* A completion in another process wakes prdshm_phase_wait(): the claim
 * after the wait gets the dependant, which only that completion made
 * ready. */
static void test_wait_woken_by_other_process(void)
{
	prdshm_session *s;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	int rep[2], go[2], r = PRDSHM_EWAIT;
	pid_t holder, teller;

	chain_plan(1);
	CU_ASSERT_EQUAL_FATAL(pipe(rep), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(go), 0);
	holder = spawn("holder", "remote", NULL, 0, rep[1], go[0]);
	CU_ASSERT_EQUAL_FATAL(tu_await(rep[0], 20000), 'C');
	s = session("local");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, tp_claim_expect(s, "d")), 0);
	/* a runs in the child; b waits for it. */
	CU_ASSERT_EQUAL(tp_claim_rc(s), PRDSHM_EWAIT);
	teller = spawn("tell", "x", NULL, 0, go[1], -1);
	for (int n = 0; n < 30 && r == PRDSHM_EWAIT; n++) {
		CU_ASSERT_EQUAL(prdshm_phase_wait(s, 1000), 0);
		r = prdshm_phase_claim(s, &c);
	}
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_STRING_EQUAL(c.id, "b");
	CU_ASSERT_EQUAL(tu_await(rep[0], 10000), 'D');
	CU_ASSERT_EQUAL(tu_wait_child(holder, 10000), 0);
	CU_ASSERT_EQUAL(tu_wait_child(teller, 10000), 0);
	STATUS("a", COMPLETED);
	prdshm_session_close(s);
	teardown();
}

#define RACE_PHASES 60
#define RACE_CHILDREN 3

/* Claimers in several processes (several ZooKeeper sessions) racing for
 * independent phases: each phase is claimed exactly once. */
static void test_concurrent_claims(void)
{
	int fds[2], seen[RACE_PHASES] = { 0 }, total = 0, c;
	pid_t pid[RACE_CHILDREN];
	char id[16];

	plan_config(PRDSHM_SCHED_EAGER, RACE_CHILDREN, 1);
	for (int i = 0; i < RACE_PHASES; i++) {
		snprintf(id, sizeof(id), "p%d", i);
		tp_plan_add(&cfg, id, 1, NULL);
	}
	create();
	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	for (int k = 0; k < RACE_CHILDREN; k++) {
		snprintf(id, sizeof(id), "racer%d", k);
		pid[k] = spawn("claimer", id, NULL, 0, fds[1], -1);
	}
	close(fds[1]);
	while ((c = tu_await(fds[0], 60000)) >= 0) {
		CU_ASSERT_FATAL(c < RACE_PHASES);
		seen[c]++;
		total++;
	}
	for (int k = 0; k < RACE_CHILDREN; k++)
		CU_ASSERT_EQUAL(tu_wait_child(pid[k], 60000), 0);
	CU_ASSERT_EQUAL(total, RACE_PHASES);
	for (int i = 0; i < RACE_PHASES; i++)
		CU_ASSERT_EQUAL(seen[i], 1);
	close(fds[0]);
	teardown();
}

/* Start a child that claims the first phase, and SIGKILL it. */
static void kill_claimer(void)
{
	int fds[2];
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	pid = spawn("doomed", "doomed", NULL, 0, fds[1], -1);
	CU_ASSERT_EQUAL_FATAL(tu_await(fds[0], 20000), 'C');
	STATUS("a", IN_PROGRESS);
	kill(pid, SIGKILL);
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 128 + SIGKILL);
	close(fds[0]);
	close(fds[1]);
}

/* The phase of a SIGKILLed claimer fails when reaping finds its session
 * gone (at once on shm; once its ZooKeeper session expires, 2 s here):
 * "agent doomed died", its dependants BLOCKED. */
static void test_killed_claimer_reaped(void)
{
	struct tu_lines l = { .len = 0 };
	int64_t end;
	size_t n = 0;

	chain_plan(1);
	kill_claimer();
	end = tu_now_ms() + 20000;
	while (n == 0 && tu_now_ms() < end) {
		CU_ASSERT_EQUAL_FATAL(prdshm_reap(seg, 0, tu_collect, &l, &n), 0);
		if (n == 0)
			usleep(100000);
	}
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT(tu_said(&l, "phase a: agent doomed died, phase FAILED"));
	STATUS("a", FAILED);
	STATUS("b", BLOCKED);
	CU_ASSERT_STRING_EQUAL(state_of("a").message, "agent doomed died");
	/* Nothing left to reap. */
	CU_ASSERT_EQUAL(prdshm_reap(seg, 0, NULL, NULL, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	teardown();
}

/* The next claim requeues a dead claimer's phase on its way (attempts
 * remain) and hands it out again: its second attempt. */
static void test_killed_claimer_requeued_by_claim(void)
{
	prdshm_session *s;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	int64_t end;
	int r = PRDSHM_EWAIT;

	chain_plan(2);
	kill_claimer();
	s = session("heir");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, tp_claim_expect(s, "d")), 0);
	end = tu_now_ms() + 20000;
	while (r == PRDSHM_EWAIT && tu_now_ms() < end) {
		r = prdshm_phase_claim(s, &c);
		if (r == PRDSHM_EWAIT)
			CU_ASSERT_EQUAL(prdshm_phase_wait(s, 200), 0);
	}
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT_STRING_EQUAL(c.id, "a");
	CU_ASSERT_EQUAL(c.attempt, 2);
	CU_ASSERT_STRING_EQUAL(state_of("a").message, "");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, c.index), 0);
	tp_run_to_end(s);
	STATUS("c", COMPLETED);
	prdshm_session_close(s);
	teardown();
}

/* A child spawned by spawn(): run its role and exit, before main(). */
__attribute__((constructor)) static void child_entry(void)
{
	struct conf_child c;

	if (!conf_child(&c))
		return;
	if (strcmp(c.role, "holder") == 0)
		_exit(holder_main(c.id, c.out, c.in));
	if (strcmp(c.role, "claimer") == 0)
		_exit(claimer_main(c.id, c.out));
	if (strcmp(c.role, "doomed") == 0)
		_exit(doomed_main(c.id, c.out));
	_exit(tell_main(c.out));
}

const tu_test tu_tests[] = {
	TU(test_plan_size_limit),
	TU(test_wait_woken_by_other_process),
	TU(test_concurrent_claims),
	TU(test_killed_claimer_reaped),
	TU(test_killed_claimer_requeued_by_claim),
	{ NULL, NULL },
};
const char *tu_suite = "phaseprocs";
