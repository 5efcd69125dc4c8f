/*
 * test_phases.c: the phase state machine and loading a plan, on shared
 * memory.  The claim rules (priority, waves, eager, max_parallel_agents),
 * failure, retry, cancel, skip and attempts, on every backend:
 * test_phaseconf.c.  The ready index: test_phase_index.c; dead agents,
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

const tu_test tu_tests[] = {
	TU(test_transition_table),
	TU(test_refused_transitions_name_both_states),
	TU(test_changed_by),
	TU(test_load_validates),
	TU(test_load_stores_plan),
	{ NULL, NULL },
};
const char *tu_suite = "phases";
