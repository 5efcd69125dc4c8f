/*
 * test_phases.c: the phase state machine, loading a plan, the claim rules
 * (priority, waves, eager, max_parallel_agents), failure, retry and
 * attempts, dead agents, repair after a crash inside the phase mutex, and
 * several processes running one plan.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "plan/phases.h"
#include "shm/segment.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

/* Append phase @p id to cfg's plan; @p deps is space-separated (or NULL).
 * Allocated with malloc so that prdshm_config_free() frees it. */
static void plan_add(prdshm_config *cfg, const char *id, double est, const char *deps)
{
	prdshm_phase_def *p;
	char *copy, *save = NULL;

	cfg->phases = realloc(cfg->phases, (cfg->nphases + 1) * sizeof(*cfg->phases));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg->phases);
	p = &cfg->phases[cfg->nphases++];
	memset(p, 0, sizeof(*p));
	p->id = strdup(id);
	p->name = strdup(id);
	p->estimated_minutes = est;
	if (deps == NULL)
		return;
	copy = strdup(deps);
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		p->deps = realloc(p->deps, (p->ndeps + 1) * sizeof(char *));
		p->deps[p->ndeps++] = strdup(t);
	}
	free(copy);
}

static void base_config(prdshm_config *cfg, prdshm_scheduling sched, int parallel, int attempts)
{
	tu_config(cfg);
	cfg->scheduling = sched;
	cfg->max_parallel_agents = parallel;
	cfg->phase_max_attempts = attempts;
	cfg->wave_delay_seconds = 0;
}

/* The snapshot entry of phase @p id (the snapshot is freed by the caller). */
static prdshm_phase_info *info_of(prdshm_snapshot *snap, const char *id)
{
	for (size_t i = 0; i < snap->nphases; i++) {
		if (strcmp(snap->phases[i].id, id) == 0)
			return &snap->phases[i];
	}
	return NULL;
}

static int status_of(prdshm_seg *seg, const char *id)
{
	prdshm_snapshot *snap = NULL;
	prdshm_phase_info *pi;
	int st = -1;

	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	pi = info_of(snap, id);
	if (pi)
		st = (int)pi->status;
	prdshm_snapshot_free(snap);
	return st;
}

#define ASSERT_STATUS(seg, id, st) CU_ASSERT_EQUAL(status_of(seg, id), PRDSHM_PHASE_##st)

/* Claim and expect phase @p id. */
static int32_t claim_expect(prdshm_session *s, const char *id)
{
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	int r = prdshm_phase_claim(s, &c);

	CU_ASSERT_EQUAL(r, 0);
	if (r != 0) {
		fprintf(stderr, "claim: %s\n", prdshm_last_error());
		return -1;
	}
	CU_ASSERT_STRING_EQUAL(c.id, id);
	return c.index;
}

static int claim_rc(prdshm_session *s)
{
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	return prdshm_phase_claim(s, &c);
}

static void print_problem(void *ctx, int severity, const char *problem)
{
	(void)ctx;
	fprintf(stderr, "check: %d %s\n", severity, problem);
}

static int healthy(prdshm_seg *seg)
{
	return prdshm_check(seg, 0, print_problem, NULL);
}

/* ------------------------------------------------------------------------ */
/* Transition table                                                         */

static void test_transition_table(void)
{
	/* An independent copy of docs/phases.md's table. */
	static const char *const expect[] = {
		"NOT_STARTED QUEUED",    "NOT_STARTED BLOCKED",   "NOT_STARTED SKIPPED",
		"NOT_STARTED CANCELLED", "QUEUED IN_PROGRESS",    "QUEUED SKIPPED",
		"QUEUED CANCELLED",      "IN_PROGRESS COMPLETED", "IN_PROGRESS FAILED",
		"IN_PROGRESS CANCELLED", "FAILED QUEUED",         "FAILED SKIPPED",
		"FAILED CANCELLED",      "BLOCKED NOT_STARTED",   "BLOCKED QUEUED",
		"BLOCKED SKIPPED",       "BLOCKED CANCELLED",     "CANCELLED NOT_STARTED",
		"CANCELLED QUEUED",      "CANCELLED SKIPPED",
	};
	size_t nallowed = 0;

	for (int f = 0; f < PRDSHM_PHASE_NSTATUS; f++) {
		for (int t = 0; t < PRDSHM_PHASE_NSTATUS; t++) {
			char pair[64];
			int want = 0;

			snprintf(pair, sizeof(pair), "%s %s", prdshm_phase_status_name(f),
				 prdshm_phase_status_name(t));
			for (size_t k = 0; k < sizeof(expect) / sizeof(expect[0]); k++)
				want |= strcmp(expect[k], pair) == 0;
			CU_ASSERT_EQUAL(prdshm_phase_transition_allowed(f, t), want);
			nallowed += (size_t)prdshm_phase_transition_allowed(f, t);
		}
	}
	CU_ASSERT_EQUAL(nallowed, sizeof(expect) / sizeof(expect[0]));
	CU_ASSERT_EQUAL(prdshm_phase_transition_allowed(-1, 0), 0);
	CU_ASSERT_EQUAL(prdshm_phase_transition_allowed(0, PRDSHM_PHASE_NSTATUS), 0);
}

static void test_refused_transitions_name_both_states(void)
{
	prdshm_config cfg;
	prdshm_seg *seg;
	prdshm_session *s;
	int32_t a;

	base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	plan_add(&cfg, "x", 1, NULL);
	plan_add(&cfg, "y", 1, "x");
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "agent-1");
	a = claim_expect(s, "x");
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "x", PRDSHM_PHASE_QUEUED),
			PRDSHM_ETRANSITION);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(prdshm_last_error(), "illegal phase transition IN_PROGRESS -> QUEUED for phase 'x'"));
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "x", PRDSHM_PHASE_SKIPPED),
			PRDSHM_ETRANSITION);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "IN_PROGRESS -> SKIPPED"));
	/* COMPLETED, FAILED and IN_PROGRESS are made by claim/complete/fail. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "y", PRDSHM_PHASE_COMPLETED),
			PRDSHM_ETRANSITION);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "NOT_STARTED -> COMPLETED"));
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, s, "x", PRDSHM_PHASE_CANCELLED),
			PRDSHM_ETRANSITION);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "COMPLETED -> CANCELLED"));
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), PRDSHM_ETRANSITION);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "COMPLETED -> COMPLETED"));
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "nope", PRDSHM_PHASE_SKIPPED),
			PRDSHM_ENOPHASE);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, 99), PRDSHM_ENOPHASE);
	ASSERT_STATUS(seg, "x", COMPLETED);
	ASSERT_STATUS(seg, "y", QUEUED);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* Who and when: every transition is recorded. */
static void test_changed_by(void)
{
	prdshm_config cfg;
	prdshm_snapshot *snap = NULL;
	prdshm_seg *seg;
	prdshm_session *s;
	prdshm_phase_info *pi;

	base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	plan_add(&cfg, "a", 1, NULL);
	plan_add(&cfg, "b", 1, NULL);
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "worker-7");
	claim_expect(s, "a");
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "b", PRDSHM_PHASE_SKIPPED), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	pi = info_of(snap, "a");
	CU_ASSERT_STRING_EQUAL(pi->changed_by, "worker-7");
	CU_ASSERT_STRING_EQUAL(pi->agent_id, "worker-7");
	CU_ASSERT(pi->changed_ns > 0);
	CU_ASSERT(pi->start_ns > 0);
	CU_ASSERT_EQUAL(pi->attempts, 1);
	CU_ASSERT_STRING_EQUAL(info_of(snap, "b")->changed_by, "operator");
	prdshm_snapshot_free(snap);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */

/* A fake segment holding only a phase region, to call the loader alone. */
struct fake {
	struct prdshm_seg seg;
	struct prdshm__hdr hdr;
};

static int load_alone(const prdshm_config *cfg, struct fake *f)
{
	size_t bytes = prdshm__phases_bytes(cfg);

	memset(f, 0, sizeof(*f));
	f->hdr.phase_bytes = (uint32_t)bytes;
	f->seg.hdr = &f->hdr;
	f->seg.base = calloc(1, bytes);
	f->seg.phases = f->seg.base;
	f->seg.size = bytes;
	return prdshm__phases_init(&f->seg, cfg);
}

static void test_load_validates(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	struct fake f;

	/* A cycle is refused by the segment and by the loader on its own. */
	base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	plan_add(&cfg, "a", 1, "c");
	plan_add(&cfg, "b", 1, "a");
	plan_add(&cfg, "c", 1, "b");
	CU_ASSERT_EQUAL(prdshm_seg_create(&cfg, &seg), PRDSHM_ECONFIG);
	CU_ASSERT_PTR_NULL(seg);
	CU_ASSERT_EQUAL(load_alone(&cfg, &f), PRDSHM_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "cycle"));
	free(f.seg.base);
	prdshm_config_free(&cfg);

	base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	plan_add(&cfg, "a", 1, "zz");
	CU_ASSERT_EQUAL(load_alone(&cfg, &f), PRDSHM_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "zz"));
	free(f.seg.base);
	prdshm_config_free(&cfg);

	base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	cfg.max_phases = 1;
	plan_add(&cfg, "a", 1, NULL);
	plan_add(&cfg, "b", 1, NULL);
	CU_ASSERT_EQUAL(load_alone(&cfg, &f), PRDSHM_EPHASEFULL);
	free(f.seg.base);
	prdshm_config_free(&cfg);

	/* A valid plan loads and validates on its own. */
	base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	plan_add(&cfg, "a", 2, NULL);
	plan_add(&cfg, "b", 3, "a");
	CU_ASSERT_EQUAL(load_alone(&cfg, &f), 0);
	CU_ASSERT_EQUAL(prdshm__phases_validate(&f.seg), 0);
	free(f.seg.base);
	prdshm_config_free(&cfg);
}

static void test_load_stores_plan(void)
{
	prdshm_config cfg;
	prdshm_snapshot *snap = NULL;
	prdshm_phase_info *pi;
	prdshm_seg *seg;

	base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	plan_add(&cfg, "a", 2, NULL);
	plan_add(&cfg, "b", 3, "a");
	plan_add(&cfg, "c", 1, "a b");
	cfg.phases[2].command = strdup("make test");
	cfg.phases[2].outputs = calloc(2, sizeof(char *));
	cfg.phases[2].outputs[0] = strdup("out/x");
	cfg.phases[2].outputs[1] = strdup("out/y");
	cfg.phases[2].noutputs = 2;
	seg = tu_seg_create(&cfg);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL_FATAL(snap->nphases, 3);
	CU_ASSERT_EQUAL(snap->nwaves, 3);
	CU_ASSERT_EQUAL(snap->phases[0].status, PRDSHM_PHASE_QUEUED);
	CU_ASSERT_EQUAL(snap->phases[1].status, PRDSHM_PHASE_NOT_STARTED);
	pi = info_of(snap, "c");
	CU_ASSERT_EQUAL(pi->wave, 2);
	CU_ASSERT_EQUAL_FATAL(pi->ndeps, 2);
	CU_ASSERT_STRING_EQUAL(pi->deps[0], "a");
	CU_ASSERT_STRING_EQUAL(pi->deps[1], "b");
	CU_ASSERT_STRING_EQUAL(pi->command, "make test");
	CU_ASSERT_EQUAL_FATAL(pi->noutputs, 2);
	CU_ASSERT_STRING_EQUAL(pi->outputs[1], "out/y");
	CU_ASSERT_STRING_EQUAL(pi->name, "c");
	CU_ASSERT_EQUAL(pi->agent_slot, -1);
	CU_ASSERT_PTR_NULL(info_of(snap, "a")->command);
	CU_ASSERT_DOUBLE_EQUAL(info_of(snap, "a")->remaining, 6.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(info_of(snap, "b")->remaining, 4.0, 1e-9);
	CU_ASSERT_STRING_EQUAL(snap->waves[0].status, "pending");
	CU_ASSERT_EQUAL(snap->waves[2].nphases, 1);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* Claim rules                                                              */

static void test_claim_order_by_priority(void)
{
	prdshm_config cfg;
	prdshm_session *s[6];
	prdshm_seg *seg;

	base_config(&cfg, PRDSHM_SCHED_WAVES, 6, 1);
	plan_add(&cfg, "short", 1, NULL);
	plan_add(&cfg, "tie1", 2, NULL);
	plan_add(&cfg, "mid", 5, NULL);
	plan_add(&cfg, "tie2", 2, NULL);
	plan_add(&cfg, "head", 1, NULL);   /* remaining 1 + 10 */
	plan_add(&cfg, "tail", 10, "head"); /* wave 1 */
	seg = tu_seg_create(&cfg);
	for (int i = 0; i < 6; i++) {
		char id[16];
		snprintf(id, sizeof(id), "s%d", i);
		s[i] = tu_session(seg, id);
	}
	claim_expect(s[0], "head");
	claim_expect(s[1], "mid");
	claim_expect(s[2], "tie1"); /* ties by index */
	claim_expect(s[3], "tie2");
	claim_expect(s[4], "short");
	CU_ASSERT_EQUAL(claim_rc(s[5]), PRDSHM_EWAIT);
	/* One agent, one phase at a time. */
	CU_ASSERT_EQUAL(claim_rc(s[0]), PRDSHM_EBUSY);
	for (int i = 0; i < 6; i++)
		prdshm_session_close(s[i]);
	tu_destroy(&cfg, seg);
}

/* Plan: b (long) and a in wave 0, c after a in wave 1. */
static prdshm_seg *waves_plan(prdshm_config *cfg, prdshm_scheduling sched)
{
	base_config(cfg, sched, 3, 1);
	plan_add(cfg, "a", 1, NULL);
	plan_add(cfg, "b", 10, NULL);
	plan_add(cfg, "c", 1, "a");
	return tu_seg_create(cfg);
}

static void test_waves_mode(void)
{
	prdshm_config cfg;
	prdshm_snapshot *snap = NULL;
	prdshm_seg *seg = waves_plan(&cfg, PRDSHM_SCHED_WAVES);
	prdshm_session *s1 = tu_session(seg, "s1"), *s2 = tu_session(seg, "s2");
	int32_t b = claim_expect(s1, "b");
	int32_t a = claim_expect(s2, "a"), c;

	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, a), 0);
	ASSERT_STATUS(seg, "c", QUEUED);
	/* c is ready but belongs to wave 1, and wave 0 still runs b. */
	CU_ASSERT_EQUAL(claim_rc(s2), PRDSHM_EWAIT);
	CU_ASSERT_EQUAL(prdshm_phase_wait(s2, 0), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s1, b), 0);
	c = claim_expect(s2, "c");
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->current_wave, 1);
	CU_ASSERT_STRING_EQUAL(snap->waves[0].status, "done");
	CU_ASSERT(snap->waves[0].end_ns > 0);
	CU_ASSERT_STRING_EQUAL(snap->waves[1].status, "running");
	CU_ASSERT(snap->run_start_ns > 0);
	CU_ASSERT_EQUAL(snap->run_end_ns, 0);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, c), 0);
	CU_ASSERT_EQUAL(claim_rc(s1), PRDSHM_EDONE);
	CU_ASSERT_EQUAL(prdshm_phase_wait(s1, 1000), 0); /* done: returns at once */
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT(snap->run_end_ns >= snap->run_start_ns);
	CU_ASSERT_STRING_EQUAL(snap->waves[1].status, "done");
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s1);
	prdshm_session_close(s2);
	tu_destroy(&cfg, seg);
}

static void test_eager_mode(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = waves_plan(&cfg, PRDSHM_SCHED_EAGER);
	prdshm_session *s1 = tu_session(seg, "s1"), *s2 = tu_session(seg, "s2");
	int32_t b = claim_expect(s1, "b");
	int32_t a = claim_expect(s2, "a");

	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, a), 0);
	claim_expect(s2, "c"); /* no need to wait for wave 0 */
	CU_ASSERT_EQUAL(prdshm_phase_complete(s1, b), 0);
	prdshm_session_close(s1);
	prdshm_session_close(s2);
	tu_destroy(&cfg, seg);
}

static void test_wave_delay(void)
{
	prdshm_config cfg;
	prdshm_seg *seg;
	prdshm_session *s;
	int32_t a;

	base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	cfg.wave_delay_seconds = 3600; /* never reached during the test */
	plan_add(&cfg, "a", 1, NULL);
	plan_add(&cfg, "b", 1, "a");
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "s");
	a = claim_expect(s, "a"); /* the first wave opens at once */
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), 0);
	CU_ASSERT_EQUAL(claim_rc(s), PRDSHM_EWAIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "wave 1 opens in"));
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

static void test_max_parallel(void)
{
	prdshm_config cfg;
	prdshm_session *s[3];
	prdshm_seg *seg;
	int32_t first;

	base_config(&cfg, PRDSHM_SCHED_EAGER, 2, 1);
	for (int i = 0; i < 5; i++) {
		char id[8];
		snprintf(id, sizeof(id), "p%d", i);
		plan_add(&cfg, id, 1, NULL);
	}
	seg = tu_seg_create(&cfg);
	for (int i = 0; i < 3; i++) {
		char id[8];
		snprintf(id, sizeof(id), "s%d", i);
		s[i] = tu_session(seg, id);
	}
	first = claim_expect(s[0], "p0");
	claim_expect(s[1], "p1");
	CU_ASSERT_EQUAL(claim_rc(s[2]), PRDSHM_EWAIT);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s[0], first), 0);
	claim_expect(s[2], "p2");
	CU_ASSERT_EQUAL(claim_rc(s[0]), PRDSHM_EWAIT);
	for (int i = 0; i < 3; i++)
		prdshm_session_close(s[i]);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* Failure, retry, cancel, skip                                             */

/* Chain a -> b -> c, and d alone. */
static prdshm_seg *chain_plan(prdshm_config *cfg, int attempts)
{
	base_config(cfg, PRDSHM_SCHED_EAGER, 3, attempts);
	plan_add(cfg, "a", 3, NULL);
	plan_add(cfg, "b", 1, "a");
	plan_add(cfg, "c", 1, "b");
	plan_add(cfg, "d", 1, NULL);
	return tu_seg_create(cfg);
}

static void run_to_end(prdshm_session *s)
{
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	int r;

	for (int n = 0; n < 100; n++) {
		r = prdshm_phase_claim(s, &c);
		if (r == PRDSHM_EDONE)
			return;
		CU_ASSERT_EQUAL_FATAL(r, 0);
		CU_ASSERT_EQUAL(prdshm_phase_complete(s, c.index), 0);
	}
	CU_FAIL("run did not end");
}

static void test_fail_blocks_retry_unblocks(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = chain_plan(&cfg, 1);
	prdshm_session *s = tu_session(seg, "s");
	prdshm_snapshot *snap = NULL;
	int32_t a = claim_expect(s, "a"), d;

	CU_ASSERT_EQUAL(prdshm_phase_fail(s, a, 2, "compiler said no"), 0);
	ASSERT_STATUS(seg, "a", FAILED);
	ASSERT_STATUS(seg, "b", BLOCKED);
	ASSERT_STATUS(seg, "c", BLOCKED); /* transitively */
	ASSERT_STATUS(seg, "d", QUEUED);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(info_of(snap, "a")->exit_status, 2);
	CU_ASSERT_STRING_EQUAL(info_of(snap, "a")->message, "compiler said no");
	CU_ASSERT(info_of(snap, "a")->end_ns > 0);
	prdshm_snapshot_free(snap);
	d = claim_expect(s, "d");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, d), 0);
	CU_ASSERT_EQUAL(claim_rc(s), PRDSHM_EDONE); /* the rest is blocked */
	CU_ASSERT_EQUAL(healthy(seg), 0);

	/* Retry the failed phase: its dependants are unblocked. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_QUEUED), 0);
	ASSERT_STATUS(seg, "a", QUEUED);
	ASSERT_STATUS(seg, "b", NOT_STARTED);
	ASSERT_STATUS(seg, "c", NOT_STARTED);
	run_to_end(s);
	ASSERT_STATUS(seg, "c", COMPLETED);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* Retrying a BLOCKED phase retries the failure that blocked it. */
static void test_retry_blocked_retries_cause(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = chain_plan(&cfg, 1);
	prdshm_session *s = tu_session(seg, "s");
	int32_t a = claim_expect(s, "a");

	CU_ASSERT_EQUAL(prdshm_phase_fail(s, a, 1, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_QUEUED), 0);
	ASSERT_STATUS(seg, "a", QUEUED);
	ASSERT_STATUS(seg, "b", NOT_STARTED);
	ASSERT_STATUS(seg, "c", NOT_STARTED);
	/* Retry applies to FAILED, CANCELLED and BLOCKED phases only. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "b", PRDSHM_PHASE_QUEUED),
			PRDSHM_ETRANSITION);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "NOT_STARTED -> QUEUED"));
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

static void test_cancel_and_skip(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = chain_plan(&cfg, 1);
	prdshm_session *s = tu_session(seg, "s");
	int32_t a;

	/* NOT_STARTED -> CANCELLED blocks the dependants. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "b", PRDSHM_PHASE_CANCELLED), 0);
	ASSERT_STATUS(seg, "b", CANCELLED);
	ASSERT_STATUS(seg, "c", BLOCKED);
	/* CANCELLED -> NOT_STARTED (a not done yet); c is unblocked. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "b", PRDSHM_PHASE_QUEUED), 0);
	ASSERT_STATUS(seg, "b", NOT_STARTED);
	ASSERT_STATUS(seg, "c", NOT_STARTED);
	/* IN_PROGRESS -> CANCELLED: the holder loses it. */
	a = claim_expect(s, "a");
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_CANCELLED), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), PRDSHM_ETRANSITION);
	ASSERT_STATUS(seg, "b", BLOCKED);
	/* CANCELLED -> SKIPPED counts as done: BLOCKED -> QUEUED. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_SKIPPED), 0);
	ASSERT_STATUS(seg, "a", SKIPPED);
	ASSERT_STATUS(seg, "b", QUEUED);
	/* QUEUED -> SKIPPED, NOT_STARTED -> QUEUED follows. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "b", PRDSHM_PHASE_SKIPPED), 0);
	ASSERT_STATUS(seg, "c", QUEUED);
	/* QUEUED -> CANCELLED, then CANCELLED -> QUEUED. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_CANCELLED), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_QUEUED), 0);
	ASSERT_STATUS(seg, "c", QUEUED);
	/* NOT_STARTED -> SKIPPED is covered by BLOCKED -> SKIPPED's sibling. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "d", PRDSHM_PHASE_SKIPPED), 0);
	run_to_end(s);
	ASSERT_STATUS(seg, "c", COMPLETED);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* FAILED -> SKIPPED / CANCELLED, BLOCKED -> SKIPPED / CANCELLED,
 * NOT_STARTED -> SKIPPED. */
static void test_give_up_paths(void)
{
	prdshm_config cfg;
	prdshm_seg *seg;
	prdshm_session *s;
	int32_t a;

	base_config(&cfg, PRDSHM_SCHED_EAGER, 3, 1);
	plan_add(&cfg, "a", 1, NULL);
	plan_add(&cfg, "b", 1, "a");
	plan_add(&cfg, "c", 1, "a");
	plan_add(&cfg, "e", 1, "a");
	plan_add(&cfg, "f", 1, "e");
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "s");
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "e", PRDSHM_PHASE_SKIPPED), 0);
	ASSERT_STATUS(seg, "f", QUEUED); /* NOT_STARTED -> SKIPPED counts as done */
	a = claim_expect(s, "a");
	CU_ASSERT_EQUAL(prdshm_phase_fail(s, a, 1, "boom"), 0);
	ASSERT_STATUS(seg, "f", QUEUED); /* its only dependency is skipped */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "b", PRDSHM_PHASE_SKIPPED), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_CANCELLED), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_CANCELLED), 0);
	ASSERT_STATUS(seg, "a", CANCELLED);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_SKIPPED), 0);
	ASSERT_STATUS(seg, "c", CANCELLED);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);

	base_config(&cfg, PRDSHM_SCHED_EAGER, 3, 1);
	plan_add(&cfg, "a", 1, NULL);
	plan_add(&cfg, "b", 1, "a");
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "s");
	a = claim_expect(s, "a");
	CU_ASSERT_EQUAL(prdshm_phase_fail(s, a, 1, "boom"), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_SKIPPED), 0);
	ASSERT_STATUS(seg, "b", QUEUED); /* BLOCKED -> QUEUED */
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

static void test_attempts_requeue(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = chain_plan(&cfg, 2);
	prdshm_session *s = tu_session(seg, "s");
	prdshm_snapshot *snap = NULL;
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(s, &c), 0);
	CU_ASSERT_STRING_EQUAL(c.id, "a");
	CU_ASSERT_EQUAL(c.attempt, 1);
	CU_ASSERT_EQUAL(prdshm_phase_fail(s, c.index, 1, "flaky"), 0);
	ASSERT_STATUS(seg, "a", QUEUED); /* one attempt left */
	ASSERT_STATUS(seg, "b", NOT_STARTED);
	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(s, &c), 0);
	CU_ASSERT_STRING_EQUAL(c.id, "a");
	CU_ASSERT_EQUAL(c.attempt, 2);
	CU_ASSERT_EQUAL(prdshm_phase_fail(s, c.index, 1, "still flaky"), 0);
	ASSERT_STATUS(seg, "a", FAILED);
	ASSERT_STATUS(seg, "b", BLOCKED);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(info_of(snap, "a")->attempts, 2);
	CU_ASSERT_STRING_EQUAL(info_of(snap, "a")->message, "still flaky");
	prdshm_snapshot_free(snap);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

static void test_only_holder_finishes(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = chain_plan(&cfg, 1);
	prdshm_session *s1 = tu_session(seg, "s1"), *s2 = tu_session(seg, "s2");
	int32_t a = claim_expect(s1, "a");

	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, a), PRDSHM_ETRANSITION);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "by agent s1, not by s2"));
	CU_ASSERT_EQUAL(prdshm_phase_fail(s2, a, 1, "no"), PRDSHM_ETRANSITION);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, 3), PRDSHM_ETRANSITION); /* d: QUEUED */
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "QUEUED -> COMPLETED"));
	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, -1), PRDSHM_ENOPHASE);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s1, a), 0);
	prdshm_session_close(s1);
	prdshm_session_close(s2);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* Dead agents                                                              */

/* A holder that vanishes (abandoned session: its OFD lock is gone). */
static void test_dead_holder_found_by_claim(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = chain_plan(&cfg, 1);
	prdshm_session *ghost = tu_session(seg, "ghost"), *s = tu_session(seg, "s");
	prdshm_snapshot *snap = NULL;
	int32_t d;

	claim_expect(ghost, "a");
	prdshm_session_abandon(ghost);
	CU_ASSERT_EQUAL(healthy(seg), PRDSHM_EDEADOWNER);
	d = claim_expect(s, "d");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, d), 0);
	/* Nothing ready and a dead holder: the claim applies the rule. */
	CU_ASSERT_EQUAL(claim_rc(s), PRDSHM_EDONE);
	ASSERT_STATUS(seg, "a", FAILED);
	ASSERT_STATUS(seg, "c", BLOCKED);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_STRING_EQUAL(info_of(snap, "a")->message, "agent ghost died");
	CU_ASSERT_STRING_EQUAL(info_of(snap, "a")->changed_by, "s");
	prdshm_snapshot_free(snap);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

static void test_dead_holder_requeued_by_reap(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = chain_plan(&cfg, 1);
	prdshm_session *ghost = tu_session(seg, "ghost"), *s;
	size_t n = 0;

	claim_expect(ghost, "a");
	prdshm_session_abandon(ghost);
	CU_ASSERT_EQUAL(prdshm_reap(seg, 1, NULL, NULL, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	ASSERT_STATUS(seg, "a", QUEUED); /* requeue forced */
	CU_ASSERT_EQUAL(healthy(seg), 0);
	s = tu_session(seg, "s");
	run_to_end(s);
	ASSERT_STATUS(seg, "c", COMPLETED);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* Several processes                                                        */

#define NPHASES 20

struct shared {
	atomic_int claims[NPHASES];
	atomic_int done[NPHASES];
	atomic_int running, max_running, order_errors;
};

struct child_arg {
	const char *shm_name;
	struct shared *sh;
	int n;
};

/* Phase i depends on i-3 and i-7 when they exist: several waves, fan-in. */
static int dep_of(int i, int k)
{
	int d = k == 0 ? i - 3 : i - 7;

	return d >= 0 ? d : -1;
}

static void note_running(struct shared *sh)
{
	int now = atomic_fetch_add(&sh->running, 1) + 1;
	int max = atomic_load(&sh->max_running);

	while (now > max && !atomic_compare_exchange_weak(&sh->max_running, &max, now))
		;
}

static int claimer(void *p)
{
	struct child_arg *ca = p;
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	char id[32];

	snprintf(id, sizeof(id), "child-%d", ca->n);
	s = tu_child_session(ca->shm_name, id, &seg);
	for (int loops = 0; loops < 100000; loops++) {
		int r = prdshm_phase_claim(s, &c);
		if (r == PRDSHM_EDONE)
			break;
		if (r == PRDSHM_EWAIT) {
			TU_CHILD_ASSERT(prdshm_phase_wait(s, 100) == 0);
			continue;
		}
		TU_CHILD_ASSERT(r == 0 && c.index >= 0 && c.index < NPHASES);
		note_running(ca->sh);
		atomic_fetch_add(&ca->sh->claims[c.index], 1);
		for (int k = 0; k < 2; k++) {
			int d = dep_of(c.index, k);
			if (d >= 0 && !atomic_load(&ca->sh->done[d]))
				atomic_fetch_add(&ca->sh->order_errors, 1);
		}
		sched_yield();
		atomic_store(&ca->sh->done[c.index], 1);
		atomic_fetch_sub(&ca->sh->running, 1);
		TU_CHILD_ASSERT(prdshm_phase_complete(s, c.index) == 0);
	}
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	return 0;
}

/* The parent's handle stays reachable in the children, which must not use
 * it (leak checkers then see no lost block when a child exits). */
static prdshm_seg *volatile parent_seg;

static void run_three(prdshm_scheduling sched)
{
	prdshm_config cfg;
	struct child_arg ca[3];
	struct shared *sh;
	prdshm_seg *seg;
	pid_t pid[3];

	base_config(&cfg, sched, 2, 1);
	for (int i = 0; i < NPHASES; i++) {
		char id[16], deps[32] = "";
		for (int k = 0; k < 2; k++) {
			if (dep_of(i, k) >= 0)
				snprintf(deps + strlen(deps), sizeof(deps) - strlen(deps), "p%d ",
					 dep_of(i, k));
		}
		snprintf(id, sizeof(id), "p%d", i);
		plan_add(&cfg, id, 1 + i % 4, deps[0] ? deps : NULL);
	}
	seg = tu_seg_create(&cfg);
	parent_seg = seg;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	for (int i = 0; i < 3; i++) {
		ca[i] = (struct child_arg){ cfg.shm_name, sh, i };
		pid[i] = tu_fork(claimer, &ca[i]);
	}
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(tu_wait_child(pid[i], 60000), 0);
	for (int i = 0; i < NPHASES; i++) {
		CU_ASSERT_EQUAL(atomic_load(&sh->claims[i]), 1);
		CU_ASSERT_EQUAL(status_of(seg, cfg.phases[i].id), PRDSHM_PHASE_COMPLETED);
	}
	CU_ASSERT_EQUAL(atomic_load(&sh->order_errors), 0);
	CU_ASSERT(atomic_load(&sh->max_running) <= 2);
	CU_ASSERT(atomic_load(&sh->max_running) >= 1);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	munmap(sh, sizeof(*sh));
	parent_seg = NULL;
	tu_destroy(&cfg, seg);
}

static void test_three_processes_waves(void)
{
	run_three(PRDSHM_SCHED_WAVES);
}

static void test_three_processes_eager(void)
{
	run_three(PRDSHM_SCHED_EAGER);
}

struct victim_arg {
	const char *shm_name;
	int fd; /* write end: one byte once the phase is claimed */
};

/* Claim a phase, say so, then hang until killed. */
static int victim(void *p)
{
	struct victim_arg *va = p;
	prdshm_session *s = tu_child_session(va->shm_name, "victim", NULL);
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	TU_CHILD_ASSERT(prdshm_phase_claim(s, &c) == 0);
	tu_signal(va->fd, c.index == 0 ? 'a' : '?');
	for (;;)
		pause();
	return 0;
}

static void kill_claimer(int attempts)
{
	prdshm_config cfg;
	struct victim_arg va;
	prdshm_seg *seg = chain_plan(&cfg, attempts);
	prdshm_session *s;
	int fds[2];
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	va = (struct victim_arg){ cfg.shm_name, fds[1] };
	pid = tu_fork(victim, &va);
	CU_ASSERT_EQUAL(tu_await(fds[0], 10000), 'a');
	TU_KILL_CHILD(pid, 10000);
	close(fds[0]);
	close(fds[1]);
	s = tu_session(seg, "survivor");
	run_to_end(s);
	if (attempts == 1) {
		ASSERT_STATUS(seg, "a", FAILED);
		ASSERT_STATUS(seg, "b", BLOCKED);
		ASSERT_STATUS(seg, "c", BLOCKED);
	} else {
		ASSERT_STATUS(seg, "a", COMPLETED);
		ASSERT_STATUS(seg, "c", COMPLETED);
	}
	ASSERT_STATUS(seg, "d", COMPLETED);
	/* The dead agent's slot is reaped separately from its phase. */
	CU_ASSERT_EQUAL(prdshm_reap(seg, 0, NULL, NULL, NULL), 0);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

static void test_killed_claimer_fails_phase(void)
{
	kill_claimer(1);
}

static void test_killed_claimer_requeued(void)
{
	kill_claimer(2);
}

/* ------------------------------------------------------------------------ */
/* Repair after a crash inside the phase mutex                              */

struct crash_arg {
	const char *shm_name;
	const char *point;
};

static int crasher(void *p)
{
	struct crash_arg *ca = p;
	prdshm_session *s = tu_child_session(ca->shm_name, "crasher", NULL);
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	setenv("PRDSHM_CRASH_AT", ca->point, 1);
	prdshm_phase_claim(s, &c);
	return 3; /* the crash point was not reached */
}

static void crash_at(const char *point)
{
	prdshm_config cfg;
	struct crash_arg ca;
	prdshm_seg *seg = chain_plan(&cfg, 2);
	prdshm_session *s;
	pid_t pid;

	ca = (struct crash_arg){ cfg.shm_name, point };
	pid = tu_fork(crasher, &ca);
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 128 + SIGKILL);
	s = tu_session(seg, "survivor");
	run_to_end(s); /* the first claim repairs */
	ASSERT_STATUS(seg, "a", COMPLETED);
	ASSERT_STATUS(seg, "c", COMPLETED);
	ASSERT_STATUS(seg, "d", COMPLETED);
	/* The dead agent's slot is reaped separately from its phase. */
	CU_ASSERT_EQUAL(prdshm_reap(seg, 0, NULL, NULL, NULL), 0);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

static void test_crash_in_claim_before_status(void)
{
	crash_at("phase_claim");
}

static void test_crash_in_claim_after_status(void)
{
	crash_at("phase_claim_agent");
}

/* A mutex made unrecoverable (its dead owner's state was never repaired)
 * fails every call until prdshm_recover() revives and rebuilds it. */
static void test_recover_unrecoverable_mutex(void)
{
	prdshm_config cfg;
	struct crash_arg ca;
	prdshm_seg *seg = chain_plan(&cfg, 2);
	struct prdshm__phase_region *reg = (struct prdshm__phase_region *)(void *)seg->phases;
	prdshm_session *s;
	pid_t pid;

	ca = (struct crash_arg){ cfg.shm_name, "phase_claim_agent" };
	pid = tu_fork(crasher, &ca);
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 128 + SIGKILL);
	/* Unlock without repair: the robust mutex becomes ENOTRECOVERABLE. */
	CU_ASSERT_EQUAL_FATAL(pthread_mutex_lock(&reg->mutex.m), EOWNERDEAD);
	pthread_mutex_unlock(&reg->mutex.m);
	s = tu_session(seg, "survivor");
	CU_ASSERT_EQUAL(claim_rc(s), PRDSHM_ERECOVER);
	CU_ASSERT_EQUAL(prdshm_recover(seg, NULL, NULL), 0);
	run_to_end(s);
	ASSERT_STATUS(seg, "c", COMPLETED);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* Corruption, inspection, agents                                           */

static struct prdshm__phase *phase_rec(prdshm_seg *seg, uint32_t i)
{
	struct prdshm__phase_region *reg = (struct prdshm__phase_region *)(void *)seg->phases;

	return (struct prdshm__phase *)(void *)(seg->phases + reg->off_phases) + i;
}

static void test_check_and_snapshot_distrust_segment(void)
{
	prdshm_config cfg;
	prdshm_snapshot *snap = NULL;
	prdshm_seg *seg = chain_plan(&cfg, 1), *other = NULL;
	struct prdshm__phase *b = phase_rec(seg, 1);
	struct prdshm__str saved = b->name;
	uint32_t saved_status = b->status, *dep;

	/* A status out of range is corruption. */
	b->status = 42;
	CU_ASSERT_EQUAL(healthy(seg), PRDSHM_ECORRUPT);
	b->status = saved_status;
	CU_ASSERT_EQUAL(healthy(seg), 0);
	/* A string pointing outside the arena is copied bounded, and reported. */
	b->name.off = 0xfffffff0u;
	b->name.len = 1000;
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_STRING_EQUAL(info_of(snap, "b")->name, "");
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(healthy(seg), PRDSHM_ECORRUPT);
	b->name = saved;
	/* A dependency index out of range makes the segment unopenable. */
	dep = (uint32_t *)(void *)(seg->phases +
				   ((struct prdshm__phase_region *)(void *)seg->phases)->off_arena +
				   b->deps_off);
	*dep = 999;
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &other), PRDSHM_ECORRUPT);
	*dep = 0;
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &other), 0);
	prdshm_seg_close(other);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* The ready index                                                          */

/* What the claim rules say the next claim gets, from a snapshot: the
 * QUEUED phase of an open wave with the longest remaining path, ties by
 * index.  NULL if none. */
static const char *expected_claim(prdshm_seg *seg, int eager, char *buf, size_t size,
				  int *nopen)
{
	prdshm_snapshot *snap = NULL;
	const prdshm_phase_info *best = NULL;

	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	*nopen = 0;
	for (size_t i = 0; i < snap->nphases; i++) {
		const prdshm_phase_info *p = &snap->phases[i];
		*nopen += p->status == PRDSHM_PHASE_NOT_STARTED ||
			  p->status == PRDSHM_PHASE_QUEUED || p->status == PRDSHM_PHASE_IN_PROGRESS;
		if (p->status != PRDSHM_PHASE_QUEUED || (!eager && p->wave > snap->current_wave))
			continue;
		if (best == NULL || p->remaining > best->remaining)
			best = p;
	}
	if (best)
		snprintf(buf, size, "%s", best->id);
	prdshm_snapshot_free(snap);
	return best ? buf : NULL;
}

static uint32_t next_rand(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

/* A random plan of @p n phases: each depends on up to three earlier ones
 * (sometimes the same one twice), estimates 1..4 minutes (many ties). */
static void random_plan(prdshm_config *cfg, int n, uint32_t *seed)
{
	for (int i = 0; i < n; i++) {
		char id[16], deps[64] = "";
		int nd = i ? (int)(next_rand(seed) % 4) : 0;
		for (int k = 0; k < nd; k++)
			snprintf(deps + strlen(deps), sizeof(deps) - strlen(deps), "r%d ",
				 (int)(next_rand(seed) % (uint32_t)i));
		snprintf(id, sizeof(id), "r%d", i);
		plan_add(cfg, id, 1 + next_rand(seed) % 4, deps[0] ? deps : NULL);
	}
}

/* An operator's random steering: retry, skip or cancel a random phase
 * (refused transitions are part of the test: they must change nothing). */
static void random_steer(prdshm_seg *seg, int n, uint32_t *seed)
{
	static const prdshm_phase_status to[] = { PRDSHM_PHASE_QUEUED, PRDSHM_PHASE_SKIPPED,
						  PRDSHM_PHASE_CANCELLED };
	char id[16];

	snprintf(id, sizeof(id), "r%d", (int)(next_rand(seed) % (uint32_t)n));
	prdshm_phase_set(seg, NULL, id, to[next_rand(seed) % 3]);
}

/*
 * The claim order and readiness against a model, over a random run with
 * failures, requeues, retries, skips and cancellations: every claim gets
 * what the rules computed from a snapshot say, and after every step the
 * checker finds the ready index, the dependency counts and the running
 * list consistent with the statuses.  The plan spans three bitmap levels.
 */
static void model_run(prdshm_scheduling sched, uint32_t seed)
{
	prdshm_config cfg;
	prdshm_seg *seg;
	prdshm_session *s;
	char want_buf[PRDSHM_ID_MAX + 1];
	int n = 150, claims = 0, ended = 0, nopen;

	base_config(&cfg, sched, 4, 2);
	cfg.max_phases = 5000;
	random_plan(&cfg, n, &seed);
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "model");
	for (int step = 0; step < 1500; step++) {
		const char *want = expected_claim(seg, sched == PRDSHM_SCHED_EAGER, want_buf,
						  sizeof(want_buf), &nopen);
		prdshm_claim c = PRDSHM_CLAIM_INIT;
		int r = prdshm_phase_claim(s, &c);
		uint32_t act = next_rand(&seed) % 10;

		if (want == NULL) {
			CU_ASSERT_EQUAL(r, nopen ? PRDSHM_EWAIT : PRDSHM_EDONE);
			ended = nopen == 0;
			if (ended)
				break;
			random_steer(seg, n, &seed);
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(r, 0);
		CU_ASSERT_STRING_EQUAL(c.id, want);
		claims++;
		r = act < 7 ? prdshm_phase_complete(s, c.index)
			    : prdshm_phase_fail(s, c.index, 1, "model");
		CU_ASSERT_EQUAL(r, 0);
		if (act == 9)
			random_steer(seg, n, &seed);
		if (step % 10 == 0)
			CU_ASSERT_EQUAL_FATAL(healthy(seg), 0);
	}
	/* The run ended, having claimed a good part of the plan. */
	CU_ASSERT(ended);
	CU_ASSERT(claims >= n / 3);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

static void test_claim_order_model_eager(void)
{
	model_run(PRDSHM_SCHED_EAGER, 7);
	model_run(PRDSHM_SCHED_EAGER, 1234);
}

static void test_claim_order_model_waves(void)
{
	model_run(PRDSHM_SCHED_WAVES, 7);
	model_run(PRDSHM_SCHED_WAVES, 99);
}

/* A dependant becomes claimable exactly when its last dependency is done,
 * a dependency named twice counting twice, SKIPPED counting as done. */
static void test_dependant_ready_at_last_dependency(void)
{
	prdshm_config cfg;
	prdshm_seg *seg;
	prdshm_session *s;
	int32_t a, b;

	base_config(&cfg, PRDSHM_SCHED_EAGER, 3, 1);
	plan_add(&cfg, "a", 1, NULL);
	plan_add(&cfg, "b", 1, NULL);
	plan_add(&cfg, "c", 1, NULL);
	plan_add(&cfg, "x", 9, "a a b c");
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "s");
	a = claim_expect(s, "a");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), 0);
	ASSERT_STATUS(seg, "x", NOT_STARTED);
	b = claim_expect(s, "b");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, b), 0);
	ASSERT_STATUS(seg, "x", NOT_STARTED);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	/* The last one: x is next, ahead of nothing else. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_SKIPPED), 0);
	ASSERT_STATUS(seg, "x", QUEUED);
	claim_expect(s, "x");
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* A failure blocks the dependants through the index too: nothing of the
 * chain is claimable, and a retry brings exactly the failed phase back. */
static void test_failure_and_retry_in_the_index(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = chain_plan(&cfg, 1);
	prdshm_session *s = tu_session(seg, "s");
	int32_t a = claim_expect(s, "a"), d;

	CU_ASSERT_EQUAL(prdshm_phase_fail(s, a, 1, "no"), 0);
	d = claim_expect(s, "d");
	CU_ASSERT_EQUAL(claim_rc(s), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, d), 0);
	CU_ASSERT_EQUAL(claim_rc(s), PRDSHM_EDONE);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	/* Retrying the BLOCKED end of the chain requeues its cause only. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_QUEUED), 0);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	a = claim_expect(s, "a");
	CU_ASSERT_EQUAL(claim_rc(s), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), 0);
	run_to_end(s);
	ASSERT_STATUS(seg, "c", COMPLETED);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* Waves mode: a phase QUEUED in a wave that is not open yet enters the
 * index when its wave opens, and a retried phase of an earlier wave is
 * claimable at once. */
static void test_waves_open_into_the_index(void)
{
	prdshm_config cfg;
	prdshm_seg *seg;
	prdshm_session *s1, *s2;
	int32_t a, b, c;

	base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	plan_add(&cfg, "a", 1, NULL);
	plan_add(&cfg, "b", 5, NULL);
	plan_add(&cfg, "c", 1, "a");
	plan_add(&cfg, "e", 1, NULL);
	seg = tu_seg_create(&cfg);
	s1 = tu_session(seg, "s1");
	s2 = tu_session(seg, "s2");
	b = claim_expect(s1, "b");
	a = claim_expect(s2, "a");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, a), 0);
	/* c is QUEUED in wave 1, wave 0 still runs b and holds e. */
	claim_expect(s2, "e");
	CU_ASSERT_EQUAL(healthy(seg), 0);
	CU_ASSERT_EQUAL(prdshm_phase_fail(s2, 3, 1, "e failed"), 0);
	CU_ASSERT_EQUAL(claim_rc(s2), PRDSHM_EWAIT);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s1, b), 0);
	c = claim_expect(s2, "c"); /* wave 1 opened */
	CU_ASSERT_EQUAL(healthy(seg), 0);
	/* A retry of wave 0's failure while wave 1 is open. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "e", PRDSHM_PHASE_QUEUED), 0);
	claim_expect(s1, "e");
	CU_ASSERT_EQUAL(healthy(seg), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, c), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s1, 3), 0);
	CU_ASSERT_EQUAL(claim_rc(s1), PRDSHM_EDONE);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s1);
	prdshm_session_close(s2);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* The ready index after a crash, and inspection without the mutex          */

/* Where crash_completer() sets PRDSHM_CRASH_AT: before its claim, or
 * between its claim and its completion. */
struct crash_when {
	const char *shm_name;
	const char *point;
	int at_complete;
};

/* Claim, then complete what was claimed, dying at a crash point. */
static int crash_completer(void *p)
{
	struct crash_when *cw = p;
	prdshm_session *s = tu_child_session(cw->shm_name, "crasher", NULL);
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	if (!cw->at_complete)
		setenv("PRDSHM_CRASH_AT", cw->point, 1);
	TU_CHILD_ASSERT(prdshm_phase_claim(s, &c) == 0);
	setenv("PRDSHM_CRASH_AT", cw->point, 1);
	prdshm_phase_complete(s, c.index);
	return 3; /* the crash point was not reached */
}

/*
 * d (claimed by a live session first), then a -> b -> c; two attempts.
 * A plan of 5000 phases' capacity, so that the ready bitmap has summary
 * levels.  Claim ranks: d 0, a 1, b 2, c 3.
 */
static prdshm_seg *crash_plan(prdshm_config *cfg)
{
	base_config(cfg, PRDSHM_SCHED_EAGER, 3, 2);
	cfg->max_phases = 5000;
	plan_add(cfg, "a", 3, NULL);
	plan_add(cfg, "b", 1, "a");
	plan_add(cfg, "c", 1, "b");
	plan_add(cfg, "d", 10, NULL);
	return tu_seg_create(cfg);
}

/*
 * While a live session runs d, kill a process at @p point inside the phase
 * mutex, in its claim of a or (@p at_complete) in its completion of a.  A
 * check without the mutex then neither takes it nor repairs: the region is
 * left byte for byte as the crash left it (and @p check_rc, unless 0, is
 * what it finds).  The next claimer repairs, and its claim already follows
 * a rebuilt index: @p next (a again, requeued after the crash, or b, ready
 * once a is done), with the checker agreeing right after.
 */
static void crash_then_claim(const char *point, int at_complete, const char *next,
			     int check_rc)
{
	prdshm_config cfg;
	struct crash_when cw;
	prdshm_seg *seg = crash_plan(&cfg);
	prdshm_session *other = tu_session(seg, "other"), *s;
	unsigned char *before;
	size_t n = seg->hdr->phase_bytes;
	int32_t d = claim_expect(other, "d"), i;
	pid_t pid;
	int r;

	cw = (struct crash_when){ cfg.shm_name, point, at_complete };
	pid = tu_fork(crash_completer, &cw);
	CU_ASSERT_EQUAL_FATAL(tu_wait_child(pid, 10000), 128 + SIGKILL);
	before = malloc(n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(before);
	memcpy(before, seg->phases, n);
	r = prdshm_check(seg, PRDSHM_SNAP_NOLOCK, NULL, NULL);
	CU_ASSERT(check_rc == 0 || r == check_rc);
	CU_ASSERT_EQUAL(memcmp(before, seg->phases, n), 0);
	free(before);
	s = tu_session(seg, "survivor");
	i = claim_expect(s, next);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, i), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(other, d), 0);
	run_to_end(s);
	ASSERT_STATUS(seg, "c", COMPLETED);
	CU_ASSERT_EQUAL(prdshm_reap(seg, 0, NULL, NULL, NULL), 0);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s);
	prdshm_session_close(other);
	tu_destroy(&cfg, seg);
}

static void test_crash_in_ready_bitmap(void)
{
	/* The claim had emptied a level-0 word, not yet its summary bit. */
	crash_then_claim("phase_ready", 0, "a", PRDSHM_ECORRUPT);
}

static void test_crash_in_running_list(void)
{
	/* a linked ahead of d, the list head and the running count not yet. */
	crash_then_claim("phase_running", 0, "a", PRDSHM_ECORRUPT);
}

static void test_crash_after_completion_status(void)
{
	/* a COMPLETED, nothing derived updated: counts, list, b's count. */
	crash_then_claim("phase_transition", 1, "b", PRDSHM_ECORRUPT);
}

static void test_crash_telling_dependants(void)
{
	/* a COMPLETED, b's count lowered, b not yet QUEUED. */
	crash_then_claim("phase_propagate", 1, "b", PRDSHM_ECORRUPT);
}

static void test_crash_while_settling(void)
{
	crash_then_claim("phase_settle", 1, "b", 0);
}

/* Inspection of a segment whose phase mutex a live process holds. */
static int stopped_holder(void *p)
{
	struct victim_arg *va = p;
	prdshm_seg *seg = NULL;
	struct prdshm__phase_region *reg;
	uint64_t *ready;

	TU_CHILD_ASSERT(prdshm_seg_open(va->shm_name, &seg) == 0);
	reg = (struct prdshm__phase_region *)(void *)seg->phases;
	ready = (uint64_t *)(void *)(seg->phases + reg->off_ready);
	TU_CHILD_ASSERT(pthread_mutex_lock(&reg->mutex.m) == 0);
	/* Halfway through an update: b's bit set while b is NOT_STARTED. */
	*ready ^= 2;
	tu_signal(va->fd, 'h');
	raise(SIGSTOP);
	*ready ^= 2;
	pthread_mutex_unlock(&reg->mutex.m);
	prdshm_seg_close(seg);
	return 0;
}

static void count_index_problem(void *ctx, int severity, const char *problem)
{
	if (severity == PRDSHM_CHECK_ERROR && strstr(problem, "ready index"))
		(*(int *)ctx)++;
}

static int nolock_checker(void *p)
{
	const char *shm_name = p;
	prdshm_seg *seg = NULL;
	int found = 0;

	TU_CHILD_ASSERT(prdshm_seg_open(shm_name, &seg) == 0);
	TU_CHILD_ASSERT(prdshm_check(seg, PRDSHM_SNAP_NOLOCK, count_index_problem, &found) ==
			PRDSHM_ECORRUPT);
	TU_CHILD_ASSERT(found == 1);
	prdshm_seg_close(seg);
	return 0;
}

/*
 * A process stopped (SIGSTOP) while it holds the phase mutex, in the
 * middle of an update: a check with PRDSHM_SNAP_NOLOCK, in another
 * process, still returns (bounded wait), and reports the half-done update
 * as an inconsistency of the ready index rather than trusting it.
 */
static void test_check_nolock_with_stopped_holder(void)
{
	prdshm_config cfg;
	struct victim_arg va;
	prdshm_seg *seg = chain_plan(&cfg, 1);
	int fds[2];
	pid_t holder, checker;

	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	va = (struct victim_arg){ cfg.shm_name, fds[1] };
	holder = tu_fork(stopped_holder, &va);
	CU_ASSERT_EQUAL(tu_await(fds[0], 10000), 'h');
	CU_ASSERT_FATAL(tu_await_stopped(holder, 10000));
	checker = tu_fork(nolock_checker, cfg.shm_name);
	CU_ASSERT_EQUAL(tu_wait_child(checker, 10000), 0);
	kill(holder, SIGCONT);
	CU_ASSERT_EQUAL(tu_wait_child(holder, 10000), 0);
	close(fds[0]);
	close(fds[1]);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* A scribbled index                                                        */

static struct prdshm__phase_region *region(prdshm_seg *seg)
{
	return (struct prdshm__phase_region *)(void *)seg->phases;
}

static void count_problem(void *ctx, int severity, const char *problem)
{
	(void)problem;
	(*(int *)ctx) += severity == PRDSHM_CHECK_ERROR;
}

/*
 * The index is derived: the checker reports every kind of disagreement,
 * a claim that meets one it can see (a bit naming a phase that is not
 * QUEUED, a field out of range) rebuilds from the statuses, and recovery
 * rebuilds the rest.
 */
static void test_scribbled_index_reported_and_rebuilt(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = chain_plan(&cfg, 1);
	struct prdshm__phase_region *reg = region(seg);
	uint64_t *ready = (uint64_t *)(void *)(seg->phases + reg->off_ready);
	struct prdshm__phase *b = phase_rec(seg, 1);
	prdshm_session *s = tu_session(seg, "s");
	int32_t a;
	int errors = 0;

	/* Ranks: a 0, b 1, c 2, d 3.  The bit of a moved to b. */
	CU_ASSERT_EQUAL(*ready, UINT64_C(0x9));
	*ready = 0xa;
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, count_problem, &errors), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(errors, 1);
	a = claim_expect(s, "a");
	CU_ASSERT_EQUAL(healthy(seg), 0);
	/* Fields out of range are rebuilt by the next change. */
	reg->run_head = 12345;
	reg->settle_head = 7;
	reg->current_wave = 999;
	reg->minw = 999;
	CU_ASSERT_EQUAL(healthy(seg), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "d", PRDSHM_PHASE_SKIPPED), 0);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	/* Counts in range but wrong: the checker sees them, recovery fixes. */
	b->deps_left = 0;
	reg->nopen--;
	errors = 0;
	CU_ASSERT_EQUAL(prdshm_check(seg, PRDSHM_SNAP_NOLOCK, count_problem, &errors),
			PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(errors, 2);
	CU_ASSERT_EQUAL(prdshm_recover(seg, NULL, NULL), 0);
	CU_ASSERT_EQUAL(healthy(seg), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), 0);
	run_to_end(s);
	ASSERT_STATUS(seg, "c", COMPLETED);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* The phase's dependant list, writable. */
static uint32_t *dependants_rec(prdshm_seg *seg, uint32_t i)
{
	return (uint32_t *)(void *)(seg->phases + region(seg)->off_arena +
				    phase_rec(seg, i)->dependants_off);
}

/*
 * The immutable parts of the index are validated: a claim order that does
 * not match the ranks, dependant lists that are not the dependency lists
 * reversed and a misplaced order array make the segment unopenable and are
 * reported by the checker; a claim on the open handle refuses rather than
 * hand out a phase the statuses do not make claimable.  A summary bit over
 * an emptied word is torn state, which the claim rebuilds.
 */
static void test_scribbled_claim_order_and_summaries(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = crash_plan(&cfg), *other = NULL;
	struct prdshm__phase_region *reg = region(seg);
	uint64_t *ready = (uint64_t *)(void *)(seg->phases + reg->off_ready);
	prdshm_session *s = tu_session(seg, "s");
	uint32_t saved;
	int32_t a, d;

	/* a (rank 1) claims b's rank: b is not claimable. */
	phase_rec(seg, 0)->rank = 2;
	d = claim_expect(s, "d"); /* rank 0, still agrees */
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &other), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(healthy(seg), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, d), 0);
	CU_ASSERT_EQUAL(claim_rc(s), PRDSHM_ECORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "ready index"));
	/* Restored, the next claim rebuilds from the statuses. */
	phase_rec(seg, 0)->rank = 1;
	a = claim_expect(s, "a");
	CU_ASSERT_EQUAL(healthy(seg), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), 0);
	/* a's dependant b replaced by d. */
	saved = dependants_rec(seg, 0)[0];
	CU_ASSERT_EQUAL(saved, 1);
	dependants_rec(seg, 0)[0] = 3;
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &other), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(healthy(seg), PRDSHM_ECORRUPT);
	dependants_rec(seg, 0)[0] = saved;
	reg->order_off += 2;
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &other), PRDSHM_ECORRUPT);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "phase region: bad claim order");
	reg->order_off -= 2;
	CU_ASSERT_EQUAL(healthy(seg), 0);
	/* The level-0 word emptied under its summary bits. */
	CU_ASSERT_EQUAL(*ready, UINT64_C(0x4)); /* b, rank 2 */
	*ready = 0;
	CU_ASSERT_EQUAL(healthy(seg), PRDSHM_ECORRUPT);
	claim_expect(s, "b");
	CU_ASSERT_EQUAL(healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

static void test_agent_heartbeat_and_log(void)
{
	prdshm_config cfg;
	prdshm_snapshot *snap = NULL;
	prdshm_seg *seg = chain_plan(&cfg, 1);
	prdshm_session *s = tu_session(seg, "logger");
	prdshm_agent_info *ai = NULL;
	char line[300];

	CU_ASSERT_EQUAL(prdshm_agent_heartbeat(s), 0);
	for (int i = 0; i < PRDSHM_LOG_LINES + 2; i++) {
		snprintf(line, sizeof(line), "line %d", i);
		CU_ASSERT_EQUAL(prdshm_agent_log(s, line), 0);
	}
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	CU_ASSERT_EQUAL(prdshm_agent_log(s, line), 0); /* truncated */
	claim_expect(s, "a");
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	for (size_t i = 0; i < snap->nagents; i++) {
		if (strcmp(snap->agents[i].id, "logger") == 0)
			ai = &snap->agents[i];
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(ai);
	CU_ASSERT(ai->heartbeat_ns > 0);
	CU_ASSERT_EQUAL(ai->status, PRDSHM_AGENT_BUSY);
	CU_ASSERT_EQUAL(ai->phase, 0);
	CU_ASSERT_EQUAL_FATAL(ai->nlog, PRDSHM_LOG_LINES);
	CU_ASSERT_EQUAL(strlen(ai->log[PRDSHM_LOG_LINES - 1]), PRDSHM_MSG_MAX);
	CU_ASSERT_STRING_EQUAL(ai->log[PRDSHM_LOG_LINES - 2], "line 9");
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(prdshm_agent_log(NULL, "x"), PRDSHM_EINVAL);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

const tu_test tu_tests[] = {
	TU(test_transition_table),
	TU(test_refused_transitions_name_both_states),
	TU(test_changed_by),
	TU(test_load_validates),
	TU(test_load_stores_plan),
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
	TU(test_dead_holder_found_by_claim),
	TU(test_dead_holder_requeued_by_reap),
	TU(test_three_processes_waves),
	TU(test_three_processes_eager),
	TU(test_killed_claimer_fails_phase),
	TU(test_killed_claimer_requeued),
	TU(test_crash_in_claim_before_status),
	TU(test_crash_in_claim_after_status),
	TU(test_recover_unrecoverable_mutex),
	TU(test_check_and_snapshot_distrust_segment),
	TU(test_agent_heartbeat_and_log),
	TU(test_claim_order_model_eager),
	TU(test_claim_order_model_waves),
	TU(test_dependant_ready_at_last_dependency),
	TU(test_failure_and_retry_in_the_index),
	TU(test_waves_open_into_the_index),
	TU(test_crash_in_ready_bitmap),
	TU(test_crash_in_running_list),
	TU(test_crash_after_completion_status),
	TU(test_crash_telling_dependants),
	TU(test_crash_while_settling),
	TU(test_check_nolock_with_stopped_holder),
	TU(test_scribbled_index_reported_and_rebuilt),
	TU(test_scribbled_claim_order_and_summaries),
	{ NULL, NULL },
};
const char *tu_suite = "phases";
