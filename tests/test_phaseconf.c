/*
 * test_phaseconf.c: the phase conformance suite, one set of tests for every
 * backend, like test_lockconf.c for locks.  `make check` runs it on shared
 * memory, and tests/cli/zookeeper.sh runs the same program again on a
 * ZooKeeper server (PRDSHM_TEST_BACKEND=zookeeper, tu_backend_config()).
 *
 * The claim rules (priority, waves, eager, max_parallel_agents), failure,
 * retry, cancel, skip and attempts through the public API; then several
 * processes: a wait woken by another process's completion, concurrent
 * claimers that never share a phase, a SIGKILLed claimer's phase failed
 * by prdshm_reap() and requeued by the next claim once its session is
 * gone.  Children are fresh images of this program (confspawn.h).
 * The shm-only parts (the transition table, loading, the ready index,
 * crashes inside the phase mutex) are in test_phases.c and its siblings.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confspawn.h"
#include "phaseplan.h"
#include "plan/phases.h"
#include "testutil.h"
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include "zk/zk.h"
#endif

static prdshm_config cfg;
static prdshm_seg *seg;
static int on_zk;

/* A configuration for the backend under test, with no phases yet. */
static void plan_config(prdshm_scheduling sched, int parallel, int attempts)
{
	on_zk = tu_backend_config(&cfg);
	cfg.scheduling = sched;
	cfg.max_parallel_agents = parallel;
	cfg.phase_max_attempts = attempts;
	cfg.wave_delay_seconds = 0;
}

static void create(void)
{
	int r = prdshm_seg_create(&cfg, &seg);

	if (r)
		fprintf(stderr, "create: %s\n", prdshm_last_error());
	CU_ASSERT_EQUAL_FATAL(r, 0);
}

/* Chain a -> b -> c, and d alone (tp_chain_plan()'s plan). */
static void chain_plan(int attempts)
{
	plan_config(PRDSHM_SCHED_EAGER, 3, attempts);
	tp_plan_add(&cfg, "a", 3, NULL);
	tp_plan_add(&cfg, "b", 1, "a");
	tp_plan_add(&cfg, "c", 1, "b");
	tp_plan_add(&cfg, "d", 1, NULL);
	create();
}

static void teardown(void)
{
	prdshm_seg_close(seg);
	seg = NULL;
	/* A killed child's ZooKeeper session may still be registered: the
	 * server's data dir goes with it. */
	if (prdshm_seg_unlink_unused_cfg(&cfg) != 0 && !on_zk)
		prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
}

static prdshm_session *session(const char *id)
{
	return tu_session(seg, id);
}

/* What the tests read of a phase. */
struct pstate {
	int status; /* -1: no such phase */
	uint32_t attempts;
	int exit_status;
	char message[PRDSHM_MSG_MAX + 1];
	uint32_t current_wave;
};

#ifdef PRDSHM_HAVE_ZOOKEEPER
/* On ZooKeeper while prdshm_snapshot_take() is not done there: the plan
 * znode's image, whose layout is the phase region's (plan/phases.h). */
static int image_state(const char *id, struct pstate *out)
{
	unsigned char *buf = NULL;
	uint64_t bytes = 0;
	int32_t version;
	const struct prdshm__phase_region *reg;
	const struct prdshm__phase *ph;

	CU_ASSERT_EQUAL_FATAL(
		prdshm__zk_plan_read((struct prdshm__zk_seg *)(void *)seg, &buf, &bytes, &version),
		0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_FATAL(bytes >= sizeof(*reg));
	reg = (const struct prdshm__phase_region *)(const void *)buf;
	CU_ASSERT_FATAL(reg->off_phases + (uint64_t)reg->nphases * sizeof(*ph) <= bytes);
	ph = (const struct prdshm__phase *)(const void *)(buf + reg->off_phases);
	out->current_wave = reg->current_wave;
	for (uint32_t i = 0; i < reg->nphases; i++) {
		if (strcmp(ph[i].id, id) != 0)
			continue;
		out->status = (int)ph[i].status;
		out->attempts = ph[i].attempts;
		out->exit_status = ph[i].exit_status;
		snprintf(out->message, sizeof(out->message), "%s", ph[i].message);
	}
	free(buf);
	return 0;
}
#endif

static struct pstate state_of(const char *id)
{
	struct pstate st = { .status = -1 };
	prdshm_snapshot *snap = NULL;
	prdshm_phase_info *pi;
	int r = prdshm_snapshot_take(seg, 0, &snap);

#ifdef PRDSHM_HAVE_ZOOKEEPER
	if (r == PRDSHM_ENOTSUP && on_zk) {
		image_state(id, &st);
		return st;
	}
#endif
	CU_ASSERT_EQUAL_FATAL(r, 0);
	st.current_wave = snap->current_wave;
	pi = tp_info_of(snap, id);
	if (pi) {
		st.status = (int)pi->status;
		st.attempts = pi->attempts;
		st.exit_status = pi->exit_status;
		snprintf(st.message, sizeof(st.message), "%s", pi->message);
	}
	prdshm_snapshot_free(snap);
	return st;
}

#define STATUS(id, st) CU_ASSERT_EQUAL(state_of(id).status, PRDSHM_PHASE_##st)

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

/* A child in a fresh image of this program (confspawn.h), told its role,
 * agent id and descriptors by PHASECONF_* variables. */
static pid_t spawn(const char *role, const char *id, int out, int in)
{
	char vars[4][128], *v[4];

	snprintf(vars[0], sizeof(vars[0]), "PHASECONF_ROLE=%s", role);
	snprintf(vars[1], sizeof(vars[0]), "PHASECONF_ID=%s", id);
	snprintf(vars[2], sizeof(vars[0]), "PHASECONF_OUT=%d", out);
	snprintf(vars[3], sizeof(vars[0]), "PHASECONF_IN=%d", in);
	for (int i = 0; i < 4; i++)
		v[i] = vars[i];
	return tu_conf_spawn(&cfg, "test_phaseconf", "PHASECONF_", v, 4);
}

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
	holder = spawn("holder", "remote", rep[1], go[0]);
	CU_ASSERT_EQUAL_FATAL(tu_await(rep[0], 20000), 'C');
	s = session("local");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, tp_claim_expect(s, "d")), 0);
	/* a runs in the child; b waits for it. */
	CU_ASSERT_EQUAL(tp_claim_rc(s), PRDSHM_EWAIT);
	teller = spawn("tell", "x", go[1], -1);
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
		pid[k] = spawn("claimer", id, fds[1], -1);
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
	pid = spawn("doomed", "doomed", fds[1], -1);
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

/* A child spawned by spawn(): run its role and exit, before main(). */
__attribute__((constructor)) static void child_entry(void)
{
	const char *role = getenv("PHASECONF_ROLE");
	const char *id = getenv("PHASECONF_ID");
	int out, in;

	if (!role)
		return;
	prdshm_config_init(&cfg);
	TU_CHILD_ASSERT(prdshm_config_apply_env(&cfg, NULL) == 0);
	out = atoi(getenv("PHASECONF_OUT"));
	in = atoi(getenv("PHASECONF_IN"));
	if (strcmp(role, "holder") == 0)
		_exit(holder_main(id, out, in));
	if (strcmp(role, "claimer") == 0)
		_exit(claimer_main(id, out));
	if (strcmp(role, "doomed") == 0)
		_exit(doomed_main(id, out));
	_exit(tell_main(out));
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
	TU(test_plan_size_limit),
	TU(test_wait_woken_by_other_process),
	TU(test_concurrent_claims),
	TU(test_killed_claimer_reaped),
	TU(test_killed_claimer_requeued_by_claim),
	TU(test_unregistered_agent_claims_nothing),
	{ NULL, NULL },
};
const char *tu_suite = "phaseconf";
