/*
 * test_phases.c: the phase state machine, loading a plan, the claim rules
 * (priority, waves, eager, max_parallel_agents), failure, retry, cancel,
 * skip and attempts.  The ready index: test_phase_index.c; dead agents,
 * crashes and several processes: test_phase_crashes.c.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "phaseplan.h"
#include "plan/phases.h"
#include "lock/region.h"
#include "session/region.h"
#include "shm/segment.h"
#include "testutil.h"

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

	tp_base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	tp_plan_add(&cfg, "x", 1, NULL);
	tp_plan_add(&cfg, "y", 1, "x");
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "agent-1");
	a = tp_claim_expect(s, "x");
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
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
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

	tp_base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	tp_plan_add(&cfg, "a", 1, NULL);
	tp_plan_add(&cfg, "b", 1, NULL);
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "worker-7");
	tp_claim_expect(s, "a");
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "b", PRDSHM_PHASE_SKIPPED), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	pi = tp_info_of(snap, "a");
	CU_ASSERT_STRING_EQUAL(pi->changed_by, "worker-7");
	CU_ASSERT_STRING_EQUAL(pi->agent_id, "worker-7");
	CU_ASSERT(pi->changed_ns > 0);
	CU_ASSERT(pi->start_ns > 0);
	CU_ASSERT_EQUAL(pi->attempts, 1);
	CU_ASSERT_STRING_EQUAL(tp_info_of(snap, "b")->changed_by, "operator");
	prdshm_snapshot_free(snap);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */

/* A fake segment holding only a phase region, to call the loader alone. */
struct fake {
	struct prdshm_seg seg;
	/* Right after the handle, as prdshm__seg_view() expects them. */
	unsigned char views[PRDSHM__REGIONS_MAX * PRDSHM__VIEW_BYTES] __attribute__((aligned(16)));
	struct prdshm__hdr hdr;
};
_Static_assert(offsetof(struct fake, views) == sizeof(struct prdshm_seg), "views follow seg");

static int load_alone(const prdshm_config *cfg, struct fake *f)
{
	size_t bytes = prdshm__phases_bytes(cfg);

	memset(f, 0, sizeof(*f));
	f->seg.hdr = &f->hdr;
	f->seg.base = calloc(1, bytes);
	f->seg.size = bytes;
	prdshm__plan(&f->seg)->base = f->seg.base;
	prdshm__plan(&f->seg)->bytes = bytes;
	return prdshm__phases_init(&f->seg, cfg);
}

static void test_load_validates(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	struct fake f;

	/* A cycle is refused by the segment and by the loader on its own. */
	tp_base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	tp_plan_add(&cfg, "a", 1, "c");
	tp_plan_add(&cfg, "b", 1, "a");
	tp_plan_add(&cfg, "c", 1, "b");
	CU_ASSERT_EQUAL(prdshm_seg_create(&cfg, &seg), PRDSHM_ECONFIG);
	CU_ASSERT_PTR_NULL(seg);
	CU_ASSERT_EQUAL(load_alone(&cfg, &f), PRDSHM_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "cycle"));
	free(f.seg.base);
	prdshm_config_free(&cfg);

	tp_base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	tp_plan_add(&cfg, "a", 1, "zz");
	CU_ASSERT_EQUAL(load_alone(&cfg, &f), PRDSHM_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "zz"));
	free(f.seg.base);
	prdshm_config_free(&cfg);

	tp_base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	cfg.max_phases = 1;
	tp_plan_add(&cfg, "a", 1, NULL);
	tp_plan_add(&cfg, "b", 1, NULL);
	CU_ASSERT_EQUAL(load_alone(&cfg, &f), PRDSHM_EPHASEFULL);
	free(f.seg.base);
	prdshm_config_free(&cfg);

	/* A valid plan loads and validates on its own. */
	tp_base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	tp_plan_add(&cfg, "a", 2, NULL);
	tp_plan_add(&cfg, "b", 3, "a");
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

	tp_base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	tp_plan_add(&cfg, "a", 2, NULL);
	tp_plan_add(&cfg, "b", 3, "a");
	tp_plan_add(&cfg, "c", 1, "a b");
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
	pi = tp_info_of(snap, "c");
	CU_ASSERT_EQUAL(pi->wave, 2);
	CU_ASSERT_EQUAL_FATAL(pi->ndeps, 2);
	CU_ASSERT_STRING_EQUAL(pi->deps[0], "a");
	CU_ASSERT_STRING_EQUAL(pi->deps[1], "b");
	CU_ASSERT_STRING_EQUAL(pi->command, "make test");
	CU_ASSERT_EQUAL_FATAL(pi->noutputs, 2);
	CU_ASSERT_STRING_EQUAL(pi->outputs[1], "out/y");
	CU_ASSERT_STRING_EQUAL(pi->name, "c");
	CU_ASSERT_EQUAL(pi->agent_slot, -1);
	CU_ASSERT_PTR_NULL(tp_info_of(snap, "a")->command);
	CU_ASSERT_DOUBLE_EQUAL(tp_info_of(snap, "a")->remaining, 6.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(tp_info_of(snap, "b")->remaining, 4.0, 1e-9);
	CU_ASSERT_STRING_EQUAL(snap->waves[0].status, "pending");
	CU_ASSERT_EQUAL(snap->waves[2].nphases, 1);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* Claim rules                                                              */

static void test_claim_order_by_priority(void)
{
	prdshm_config cfg;
	prdshm_session *s[6];
	prdshm_seg *seg;

	tp_base_config(&cfg, PRDSHM_SCHED_WAVES, 6, 1);
	tp_plan_add(&cfg, "short", 1, NULL);
	tp_plan_add(&cfg, "tie1", 2, NULL);
	tp_plan_add(&cfg, "mid", 5, NULL);
	tp_plan_add(&cfg, "tie2", 2, NULL);
	tp_plan_add(&cfg, "head", 1, NULL);   /* remaining 1 + 10 */
	tp_plan_add(&cfg, "tail", 10, "head"); /* wave 1 */
	seg = tu_seg_create(&cfg);
	for (int i = 0; i < 6; i++) {
		char id[16];
		snprintf(id, sizeof(id), "s%d", i);
		s[i] = tu_session(seg, id);
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
	tu_destroy(&cfg, seg);
}

/* Plan: b (long) and a in wave 0, c after a in wave 1. */
static prdshm_seg *waves_plan(prdshm_config *cfg, prdshm_scheduling sched)
{
	tp_base_config(cfg, sched, 3, 1);
	tp_plan_add(cfg, "a", 1, NULL);
	tp_plan_add(cfg, "b", 10, NULL);
	tp_plan_add(cfg, "c", 1, "a");
	return tu_seg_create(cfg);
}

static void test_waves_mode(void)
{
	prdshm_config cfg;
	prdshm_snapshot *snap = NULL;
	prdshm_seg *seg = waves_plan(&cfg, PRDSHM_SCHED_WAVES);
	prdshm_session *s1 = tu_session(seg, "s1"), *s2 = tu_session(seg, "s2");
	int32_t b = tp_claim_expect(s1, "b");
	int32_t a = tp_claim_expect(s2, "a"), c;

	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, a), 0);
	ASSERT_STATUS(seg, "c", QUEUED);
	/* c is ready but belongs to wave 1, and wave 0 still runs b. */
	CU_ASSERT_EQUAL(tp_claim_rc(s2), PRDSHM_EWAIT);
	CU_ASSERT_EQUAL(prdshm_phase_wait(s2, 0), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s1, b), 0);
	c = tp_claim_expect(s2, "c");
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->current_wave, 1);
	CU_ASSERT_STRING_EQUAL(snap->waves[0].status, "done");
	CU_ASSERT(snap->waves[0].end_ns > 0);
	CU_ASSERT_STRING_EQUAL(snap->waves[1].status, "running");
	CU_ASSERT(snap->run_start_ns > 0);
	CU_ASSERT_EQUAL(snap->run_end_ns, 0);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, c), 0);
	CU_ASSERT_EQUAL(tp_claim_rc(s1), PRDSHM_EDONE);
	CU_ASSERT_EQUAL(prdshm_phase_wait(s1, 1000), 0); /* done: returns at once */
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT(snap->run_end_ns >= snap->run_start_ns);
	CU_ASSERT_STRING_EQUAL(snap->waves[1].status, "done");
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	prdshm_session_close(s1);
	prdshm_session_close(s2);
	tu_destroy(&cfg, seg);
}

static void test_eager_mode(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = waves_plan(&cfg, PRDSHM_SCHED_EAGER);
	prdshm_session *s1 = tu_session(seg, "s1"), *s2 = tu_session(seg, "s2");
	int32_t b = tp_claim_expect(s1, "b");
	int32_t a = tp_claim_expect(s2, "a");

	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, a), 0);
	tp_claim_expect(s2, "c"); /* no need to wait for wave 0 */
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

	tp_base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	cfg.wave_delay_seconds = 3600; /* never reached during the test */
	tp_plan_add(&cfg, "a", 1, NULL);
	tp_plan_add(&cfg, "b", 1, "a");
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "s");
	a = tp_claim_expect(s, "a"); /* the first wave opens at once */
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), 0);
	CU_ASSERT_EQUAL(tp_claim_rc(s), PRDSHM_EWAIT);
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

	tp_base_config(&cfg, PRDSHM_SCHED_EAGER, 2, 1);
	for (int i = 0; i < 5; i++) {
		char id[8];
		snprintf(id, sizeof(id), "p%d", i);
		tp_plan_add(&cfg, id, 1, NULL);
	}
	seg = tu_seg_create(&cfg);
	for (int i = 0; i < 3; i++) {
		char id[8];
		snprintf(id, sizeof(id), "s%d", i);
		s[i] = tu_session(seg, id);
	}
	first = tp_claim_expect(s[0], "p0");
	tp_claim_expect(s[1], "p1");
	CU_ASSERT_EQUAL(tp_claim_rc(s[2]), PRDSHM_EWAIT);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s[0], first), 0);
	tp_claim_expect(s[2], "p2");
	CU_ASSERT_EQUAL(tp_claim_rc(s[0]), PRDSHM_EWAIT);
	for (int i = 0; i < 3; i++)
		prdshm_session_close(s[i]);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* Failure, retry, cancel, skip                                             */

static void test_fail_blocks_retry_unblocks(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tp_chain_plan(&cfg, 1);
	prdshm_session *s = tu_session(seg, "s");
	prdshm_snapshot *snap = NULL;
	int32_t a = tp_claim_expect(s, "a"), d;

	CU_ASSERT_EQUAL(prdshm_phase_fail(s, a, 2, "compiler said no"), 0);
	ASSERT_STATUS(seg, "a", FAILED);
	ASSERT_STATUS(seg, "b", BLOCKED);
	ASSERT_STATUS(seg, "c", BLOCKED); /* transitively */
	ASSERT_STATUS(seg, "d", QUEUED);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(tp_info_of(snap, "a")->exit_status, 2);
	CU_ASSERT_STRING_EQUAL(tp_info_of(snap, "a")->message, "compiler said no");
	CU_ASSERT(tp_info_of(snap, "a")->end_ns > 0);
	prdshm_snapshot_free(snap);
	d = tp_claim_expect(s, "d");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, d), 0);
	CU_ASSERT_EQUAL(tp_claim_rc(s), PRDSHM_EDONE); /* the rest is blocked */
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);

	/* Retry the failed phase: its dependants are unblocked. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_QUEUED), 0);
	ASSERT_STATUS(seg, "a", QUEUED);
	ASSERT_STATUS(seg, "b", NOT_STARTED);
	ASSERT_STATUS(seg, "c", NOT_STARTED);
	tp_run_to_end(s);
	ASSERT_STATUS(seg, "c", COMPLETED);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* Retrying a BLOCKED phase retries the failure that blocked it. */
static void test_retry_blocked_retries_cause(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tp_chain_plan(&cfg, 1);
	prdshm_session *s = tu_session(seg, "s");
	int32_t a = tp_claim_expect(s, "a");

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
	prdshm_seg *seg = tp_chain_plan(&cfg, 1);
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
	a = tp_claim_expect(s, "a");
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
	tp_run_to_end(s);
	ASSERT_STATUS(seg, "c", COMPLETED);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
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

	tp_base_config(&cfg, PRDSHM_SCHED_EAGER, 3, 1);
	tp_plan_add(&cfg, "a", 1, NULL);
	tp_plan_add(&cfg, "b", 1, "a");
	tp_plan_add(&cfg, "c", 1, "a");
	tp_plan_add(&cfg, "e", 1, "a");
	tp_plan_add(&cfg, "f", 1, "e");
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "s");
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "e", PRDSHM_PHASE_SKIPPED), 0);
	ASSERT_STATUS(seg, "f", QUEUED); /* NOT_STARTED -> SKIPPED counts as done */
	a = tp_claim_expect(s, "a");
	CU_ASSERT_EQUAL(prdshm_phase_fail(s, a, 1, "boom"), 0);
	ASSERT_STATUS(seg, "f", QUEUED); /* its only dependency is skipped */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "b", PRDSHM_PHASE_SKIPPED), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_CANCELLED), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_CANCELLED), 0);
	ASSERT_STATUS(seg, "a", CANCELLED);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_SKIPPED), 0);
	ASSERT_STATUS(seg, "c", CANCELLED);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);

	tp_base_config(&cfg, PRDSHM_SCHED_EAGER, 3, 1);
	tp_plan_add(&cfg, "a", 1, NULL);
	tp_plan_add(&cfg, "b", 1, "a");
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "s");
	a = tp_claim_expect(s, "a");
	CU_ASSERT_EQUAL(prdshm_phase_fail(s, a, 1, "boom"), 0);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", PRDSHM_PHASE_SKIPPED), 0);
	ASSERT_STATUS(seg, "b", QUEUED); /* BLOCKED -> QUEUED */
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

static void test_attempts_requeue(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tp_chain_plan(&cfg, 2);
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
	CU_ASSERT_EQUAL(tp_info_of(snap, "a")->attempts, 2);
	CU_ASSERT_STRING_EQUAL(tp_info_of(snap, "a")->message, "still flaky");
	prdshm_snapshot_free(snap);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

static void test_only_holder_finishes(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tp_chain_plan(&cfg, 1);
	prdshm_session *s1 = tu_session(seg, "s1"), *s2 = tu_session(seg, "s2");
	int32_t a = tp_claim_expect(s1, "a");

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
	{ NULL, NULL },
};
const char *tu_suite = "phases";
