/*
 * test_phaseconf.c: the phase conformance suite, one set of tests for every
 * backend, like test_lockconf.c for locks.  `make check` runs it on shared
 * memory, and tests/cli/zookeeper.sh runs the same program again on a
 * ZooKeeper server (PRDSHM_TEST_BACKEND=zookeeper, tu_backend_config()).
 *
 * The claim rules (priority, waves, eager, max_parallel_agents), failure,
 * retry, cancel, skip and attempts through the public API, in one process;
 * the plan's size limit and several processes are in test_phaseprocs.c,
 * the fixture both share in conffix.c.
 * The shm-only parts (the transition table, loading, the ready index,
 * crashes inside the phase mutex) are in test_phases.c and its siblings.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "phaseplan.h"
#include "testutil.h"
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include "zk/zk.h"
#endif
/* Last: the library's inline functions name their parameters seg. */
#include "conffix.h"

/* prdshm_check() finds nothing wrong (where it is done: not yet on
 * ZooKeeper). */
static void assert_healthy(void)
{
	int r = prdshm_check(seg, 0, tu_print_problem, NULL);

	if (!(on_zk && r == PRDSHM_ENOTSUP))
		CU_ASSERT_EQUAL(r, 0);
}

/* ------------------------------------------------------------------------ */
/* Claim rules                                                              */

static void test_claim_order_by_priority(void)
{
	prdshm_session *s[6];

	plan_config(PRDSHM_SCHED_WAVES, 6, 1);
	tp_plan_add(&cfg, "short", 1, NULL);
	tp_plan_add(&cfg, "tie1", 2, NULL);
	tp_plan_add(&cfg, "mid", 5, NULL);
	tp_plan_add(&cfg, "tie2", 2, NULL);
	tp_plan_add(&cfg, "head", 1, NULL);   /* remaining 1 + 10 */
	tp_plan_add(&cfg, "tail", 10, "head"); /* wave 1 */
	create();
	for (int i = 0; i < 6; i++) {
		char id[16];
		snprintf(id, sizeof(id), "s%d", i);
		s[i] = session(id);
	}
	tp_claim_expect(s[0], "head");
	tp_claim_expect(s[1], "mid");
	tp_claim_expect(s[2], "tie1"); /* ties by index */
	tp_claim_expect(s[3], "tie2");
	tp_claim_expect(s[4], "short");
	CU_ASSERT_EQUAL(tp_claim_rc(s[5]), PRDSHM_EWAIT);
	/* One agent, one phase at a time. */
	CU_ASSERT_EQUAL(tp_claim_rc(s[0]), PRDSHM_EBUSY);
	for (int i = 0; i < 6; i++)
		prdshm_session_close(s[i]);
	teardown();
}

/* Plan: b (long) and a in wave 0, c after a in wave 1. */
static void waves_plan(prdshm_scheduling sched)
{
	plan_config(sched, 3, 1);
	tp_plan_add(&cfg, "a", 1, NULL);
	tp_plan_add(&cfg, "b", 10, NULL);
	tp_plan_add(&cfg, "c", 1, "a");
	create();
}

static void test_waves_mode(void)
{
	prdshm_session *s1, *s2;
	int32_t a, b, c;

	waves_plan(PRDSHM_SCHED_WAVES);
	s1 = session("s1");
	s2 = session("s2");
	b = tp_claim_expect(s1, "b");
	a = tp_claim_expect(s2, "a");

	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, a), 0);
	STATUS("c", QUEUED);
	/* c is ready but belongs to wave 1, and wave 0 still runs b. */
	CU_ASSERT_EQUAL(tp_claim_rc(s2), PRDSHM_EWAIT);
	CU_ASSERT_EQUAL(prdshm_phase_wait(s2, 0), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s1, b), 0);
	c = tp_claim_expect(s2, "c");
	CU_ASSERT_EQUAL(state_of("c").current_wave, 1);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, c), 0);
	CU_ASSERT_EQUAL(tp_claim_rc(s1), PRDSHM_EDONE);
	CU_ASSERT_EQUAL(prdshm_phase_wait(s1, 1000), 0); /* done: returns at once */
	assert_healthy();
	prdshm_session_close(s1);
	prdshm_session_close(s2);
	teardown();
}

static void test_eager_mode(void)
{
	prdshm_session *s1, *s2;
	int32_t a, b;

	waves_plan(PRDSHM_SCHED_EAGER);
	s1 = session("s1");
	s2 = session("s2");
	b = tp_claim_expect(s1, "b");
	a = tp_claim_expect(s2, "a");

	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, a), 0);
	tp_claim_expect(s2, "c"); /* no need to wait for wave 0 */
	CU_ASSERT_EQUAL(prdshm_phase_complete(s1, b), 0);
	prdshm_session_close(s1);
	prdshm_session_close(s2);
	teardown();
}

static void test_wave_delay(void)
{
	prdshm_session *s;
	int32_t a;

	plan_config(PRDSHM_SCHED_WAVES, 3, 1);
	cfg.wave_delay_seconds = 3600; /* never reached during the test */
	tp_plan_add(&cfg, "a", 1, NULL);
	tp_plan_add(&cfg, "b", 1, "a");
	create();
	s = session("s");
	a = tp_claim_expect(s, "a"); /* the first wave opens at once */
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), 0);
	CU_ASSERT_EQUAL(tp_claim_rc(s), PRDSHM_EWAIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "wave 1 opens in"));
	prdshm_session_close(s);
	teardown();
}

static void test_max_parallel(void)
{
	prdshm_session *s[3];
	int32_t first;

	plan_config(PRDSHM_SCHED_EAGER, 2, 1);
	for (int i = 0; i < 5; i++) {
		char id[8];
		snprintf(id, sizeof(id), "p%d", i);
		tp_plan_add(&cfg, id, 1, NULL);
	}
	create();
	for (int i = 0; i < 3; i++) {
		char id[8];
		snprintf(id, sizeof(id), "s%d", i);
		s[i] = session(id);
	}
	first = tp_claim_expect(s[0], "p0");
	tp_claim_expect(s[1], "p1");
	CU_ASSERT_EQUAL(tp_claim_rc(s[2]), PRDSHM_EWAIT);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s[0], first), 0);
	tp_claim_expect(s[2], "p2");
	CU_ASSERT_EQUAL(tp_claim_rc(s[0]), PRDSHM_EWAIT);
	for (int i = 0; i < 3; i++)
		prdshm_session_close(s[i]);
	teardown();
}

/* ------------------------------------------------------------------------ */
/* Failure, retry, cancel, skip                                             */

static void test_fail_blocks_retry_unblocks(void)
{
	prdshm_session *s;
	struct pstate st;
	int32_t a, d;

	chain_plan(1);
	s = session("s");
	a = tp_claim_expect(s, "a");

	CU_ASSERT_EQUAL(prdshm_phase_fail(s, a, 2, "compiler said no"), 0);
	STATUS("a", FAILED);
	STATUS("b", BLOCKED);
	STATUS("c", BLOCKED); /* transitively */
	STATUS("d", QUEUED);
	st = state_of("a");
	CU_ASSERT_EQUAL(st.exit_status, 2);
	CU_ASSERT_STRING_EQUAL(st.message, "compiler said no");
	d = tp_claim_expect(s, "d");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, d), 0);
	CU_ASSERT_EQUAL(tp_claim_rc(s), PRDSHM_EDONE); /* the rest is blocked */
	assert_healthy();

	/* Retry the failed phase: its dependants are unblocked. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_QUEUED), 0);
	STATUS("a", QUEUED);
	STATUS("b", NOT_STARTED);
	STATUS("c", NOT_STARTED);
	tp_run_to_end(s);
	STATUS("c", COMPLETED);
	assert_healthy();
	prdshm_session_close(s);
	teardown();
}

/* Retrying a BLOCKED phase retries the failure that blocked it. */
static void test_retry_blocked_retries_cause(void)
{
	prdshm_session *s;
	int32_t a;

	chain_plan(1);
	s = session("s");
	a = tp_claim_expect(s, "a");

	CU_ASSERT_EQUAL(prdshm_phase_fail(s, a, 1, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_QUEUED), 0);
	STATUS("a", QUEUED);
	STATUS("b", NOT_STARTED);
	STATUS("c", NOT_STARTED);
	/* Retry applies to FAILED, CANCELLED and BLOCKED phases only. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "b", PRDSHM_PHASE_QUEUED),
			PRDSHM_ETRANSITION);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "NOT_STARTED -> QUEUED"));
	prdshm_session_close(s);
	teardown();
}

static void test_cancel_and_skip(void)
{
	prdshm_session *s;
	int32_t a;

	chain_plan(1);
	s = session("s");
	/* NOT_STARTED -> CANCELLED blocks the dependants. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "b", PRDSHM_PHASE_CANCELLED), 0);
	STATUS("b", CANCELLED);
	STATUS("c", BLOCKED);
	/* CANCELLED -> NOT_STARTED (a not done yet); c is unblocked. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "b", PRDSHM_PHASE_QUEUED), 0);
	STATUS("b", NOT_STARTED);
	STATUS("c", NOT_STARTED);
	/* IN_PROGRESS -> CANCELLED: the holder loses it. */
	a = tp_claim_expect(s, "a");
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_CANCELLED), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), PRDSHM_ETRANSITION);
	STATUS("b", BLOCKED);
	/* CANCELLED -> SKIPPED counts as done: BLOCKED -> QUEUED. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_SKIPPED), 0);
	STATUS("a", SKIPPED);
	STATUS("b", QUEUED);
	/* QUEUED -> SKIPPED, NOT_STARTED -> QUEUED follows. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "b", PRDSHM_PHASE_SKIPPED), 0);
	STATUS("c", QUEUED);
	/* QUEUED -> CANCELLED, then CANCELLED -> QUEUED. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_CANCELLED), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_QUEUED), 0);
	STATUS("c", QUEUED);
	/* NOT_STARTED -> SKIPPED is covered by BLOCKED -> SKIPPED's sibling. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "d", PRDSHM_PHASE_SKIPPED), 0);
	tp_run_to_end(s);
	STATUS("c", COMPLETED);
	assert_healthy();
	prdshm_session_close(s);
	teardown();
}

/* FAILED -> SKIPPED / CANCELLED, BLOCKED -> SKIPPED / CANCELLED,
 * NOT_STARTED -> SKIPPED. */
static void test_give_up_paths(void)
{
	prdshm_session *s;
	int32_t a;

	plan_config(PRDSHM_SCHED_EAGER, 3, 1);
	tp_plan_add(&cfg, "a", 1, NULL);
	tp_plan_add(&cfg, "b", 1, "a");
	tp_plan_add(&cfg, "c", 1, "a");
	tp_plan_add(&cfg, "e", 1, "a");
	tp_plan_add(&cfg, "f", 1, "e");
	create();
	s = session("s");
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "e", PRDSHM_PHASE_SKIPPED), 0);
	STATUS("f", QUEUED); /* NOT_STARTED -> SKIPPED counts as done */
	a = tp_claim_expect(s, "a");
	CU_ASSERT_EQUAL(prdshm_phase_fail(s, a, 1, "boom"), 0);
	STATUS("f", QUEUED); /* its only dependency is skipped */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "b", PRDSHM_PHASE_SKIPPED), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_CANCELLED), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_CANCELLED), 0);
	STATUS("a", CANCELLED);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_SKIPPED), 0);
	STATUS("c", CANCELLED);
	assert_healthy();
	prdshm_session_close(s);
	teardown();

	plan_config(PRDSHM_SCHED_EAGER, 3, 1);
	tp_plan_add(&cfg, "a", 1, NULL);
	tp_plan_add(&cfg, "b", 1, "a");
	create();
	s = session("s");
	a = tp_claim_expect(s, "a");
	CU_ASSERT_EQUAL(prdshm_phase_fail(s, a, 1, "boom"), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_SKIPPED), 0);
	STATUS("b", QUEUED); /* BLOCKED -> QUEUED */
	prdshm_session_close(s);
	teardown();
}

static void test_attempts_requeue(void)
{
	prdshm_session *s;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	struct pstate st;

	chain_plan(2);
	s = session("s");

	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(s, &c), 0);
	CU_ASSERT_STRING_EQUAL(c.id, "a");
	CU_ASSERT_EQUAL(c.attempt, 1);
	CU_ASSERT_EQUAL(prdshm_phase_fail(s, c.index, 1, "flaky"), 0);
	STATUS("a", QUEUED); /* one attempt left */
	STATUS("b", NOT_STARTED);
	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(s, &c), 0);
	CU_ASSERT_STRING_EQUAL(c.id, "a");
	CU_ASSERT_EQUAL(c.attempt, 2);
	CU_ASSERT_EQUAL(prdshm_phase_fail(s, c.index, 1, "still flaky"), 0);
	STATUS("a", FAILED);
	STATUS("b", BLOCKED);
	st = state_of("a");
	CU_ASSERT_EQUAL(st.attempts, 2);
	CU_ASSERT_STRING_EQUAL(st.message, "still flaky");
	prdshm_session_close(s);
	teardown();
}

static void test_only_holder_finishes(void)
{
	prdshm_session *s1, *s2;
	int32_t a;

	chain_plan(1);
	s1 = session("s1");
	s2 = session("s2");
	a = tp_claim_expect(s1, "a");

	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, a), PRDSHM_ETRANSITION);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "by agent s1, not by s2"));
	CU_ASSERT_EQUAL(prdshm_phase_fail(s2, a, 1, "no"), PRDSHM_ETRANSITION);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, 3), PRDSHM_ETRANSITION); /* d: QUEUED */
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "QUEUED -> COMPLETED"));
	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, -1), PRDSHM_ENOPHASE);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s1, a), 0);
	prdshm_session_close(s1);
	prdshm_session_close(s2);
	teardown();
}

/* A configuration without phases: nothing to claim, on every backend. */
static void test_no_plan(void)
{
	prdshm_session *s;
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	plan_config(PRDSHM_SCHED_EAGER, 1, 1);
	create();
	s = session("s");
	CU_ASSERT_EQUAL(prdshm_phase_claim(s, &c), PRDSHM_EDONE);
	CU_ASSERT_EQUAL(prdshm_phase_wait(s, 1000), 0); /* done: at once */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "x", PRDSHM_PHASE_SKIPPED), PRDSHM_ENOPHASE);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, 0), PRDSHM_ENOPHASE);
	prdshm_session_close(s);
	teardown();
}

/* A plan of @p n independent phases "p<i>". */
/* An agent whose registration is gone (its ZooKeeper session expired, or
 * its agent znode was deleted: the same to the server) claims nothing: the
 * claim's write checks the agent znode in the same transaction.  On shm a
 * session cannot lose its slot while its process lives. */
static void test_unregistered_agent_claims_nothing(void)
{
#ifdef PRDSHM_HAVE_ZOOKEEPER
	struct prdshm__zk_session *z;
	prdshm_session *s;
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	chain_plan(1);
	s = session("ghost");
	if (on_zk) {
		z = (struct prdshm__zk_session *)(void *)s;
		CU_ASSERT_EQUAL_FATAL(zoo_delete(z->seg->zh, z->node, -1), ZOK);
		CU_ASSERT_EQUAL(prdshm_phase_claim(s, &c), PRDSHM_ESYS);
		CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "agent ghost: its znode"));
		STATUS("a", QUEUED);
		STATUS("d", QUEUED);
	}
	prdshm_session_close(s);
	teardown();
#endif
}

/* A completion, a failure and a transition by hand whose answers are lost
 * with the connection after the server did them (on ZooKeeper: the test
 * hook PRDSHM_ZK_LOSE_PLAN_WRITE; on shm there is no connection to lose)
 * succeed once: the retry finds them done, and neither says
 * PRDSHM_ETRANSITION for a success nor does the work twice. */
static void test_lost_answers_done_once(void)
{
	prdshm_session *s;
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	chain_plan(2);
	s = session("lossy");
	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(s, &c), 0);
	CU_ASSERT_STRING_EQUAL(c.id, "a");
	setenv("PRDSHM_ZK_LOSE_PLAN_WRITE", "1", 1);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, c.index), 0);
	STATUS("a", COMPLETED);
	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(s, &c), 0);
	setenv("PRDSHM_ZK_LOSE_PLAN_WRITE", "1", 1);
	CU_ASSERT_EQUAL(prdshm_phase_fail(s, c.index, 1, "lost"), 0);
	CU_ASSERT_EQUAL(state_of(c.id).status, PRDSHM_PHASE_QUEUED); /* 1 of 2 attempts */
	CU_ASSERT_EQUAL(state_of(c.id).attempts, 1);
	setenv("PRDSHM_ZK_LOSE_PLAN_WRITE", "1", 1);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_CANCELLED), 0);
	STATUS("c", CANCELLED);
	unsetenv("PRDSHM_ZK_LOSE_PLAN_WRITE");
	prdshm_session_close(s);
	teardown();
}

/* A signal handler that runs during prdshm_phase_wait() ends it with
 * PRDSHM_EINTR (prdshm.h), on either backend.  A thread signals the main
 * thread every 50 ms until told to stop: each wait sleeps at most a
 * second, so the test loops until one is interrupted (20 s at most). */
static volatile sig_atomic_t usr1_seen;
static atomic_int stop_signalling;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen = 1;
}

static void *signaller(void *arg)
{
	const struct timespec tick = { 0, 50 * 1000000L };

	while (!atomic_load(&stop_signalling)) {
		pthread_kill(*(pthread_t *)arg, SIGUSR1);
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static void test_phase_wait_interrupted(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 }, old;
	prdshm_session *runner, *waiter;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	pthread_t self = pthread_self(), th;
	int r = 0;

	chain_plan(1);
	runner = session("runner");
	waiter = session("waiter");
	/* "a" runs: nothing is ready for the waiter until it ends. */
	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(runner, &c), 0);
	CU_ASSERT_EQUAL(prdshm_phase_claim(waiter, &c), 0); /* d, alone */
	sigemptyset(&sa.sa_mask); /* no SA_RESTART */
	CU_ASSERT_EQUAL_FATAL(sigaction(SIGUSR1, &sa, &old), 0);
	atomic_store(&stop_signalling, 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, signaller, &self), 0);
	for (int64_t end = tu_now_ms() + 20000; r == 0 && tu_now_ms() < end;)
		r = prdshm_phase_wait(runner, 20000);
	atomic_store(&stop_signalling, 1);
	pthread_join(th, NULL);
	sigaction(SIGUSR1, &old, NULL);
	CU_ASSERT_EQUAL(r, PRDSHM_EINTR);
	CU_ASSERT(usr1_seen);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "interrupted by a signal"));
	prdshm_session_close(waiter);
	prdshm_session_close(runner);
	teardown();
}

const tu_test tu_tests[] = {
	TU(test_claim_order_by_priority),
	TU(test_waves_mode),
	TU(test_eager_mode),
	TU(test_wave_delay),
	TU(test_max_parallel),
	TU(test_fail_blocks_retry_unblocks),
	TU(test_retry_blocked_retries_cause),
	TU(test_cancel_and_skip),
	TU(test_give_up_paths),
	TU(test_attempts_requeue),
	TU(test_only_holder_finishes),
	TU(test_no_plan),
	TU(test_unregistered_agent_claims_nothing),
	TU(test_lost_answers_done_once),
	TU(test_phase_wait_interrupted),
	{ NULL, NULL },
};
const char *tu_suite = "phaseconf";
