/*
 * test_scribbles.c: scribbled lock records and phase state, each found by
 * prdshm_check() and rebuilt by prdshm_recover().
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phaseplan.h"
#include "plan/phases.h"
#include "recoveryfix.h"
#include "lock/region.h"
#include "session/region.h"
#include "shm/segment.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Scribbled lock records: found by check, rebuilt by recover               */

/* Slot of @p name in partition 0 (the fixture has one partition). */
static struct prdshm__slot *slot_named(prdshm_seg *seg, const char *name)
{
	struct prdshm__slot *slots = prdshm__part_slots(prdshm__locks(seg), 0);
	size_t len = strlen(name);

	for (uint32_t i = 0; i < prdshm__locks(seg)->slots_per_part; i++) {
		if (slots[i].name_len == len && memcmp(slots[i].name, name, len) == 0)
			return &slots[i];
	}
	return NULL;
}

/* The first two records of @p name's list. */
static void two_records(prdshm_seg *seg, const char *name, struct prdshm__rec **first,
			struct prdshm__rec **second)
{
	struct prdshm__slot *sl = slot_named(seg, name);
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), 0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(sl);
	CU_ASSERT_FATAL(sl->head < prdshm__locks(seg)->recs_per_part);
	*first = &recs[sl->head];
	CU_ASSERT_FATAL((*first)->next < prdshm__locks(seg)->recs_per_part);
	*second = &recs[(*first)->next];
}

static void foreign_session(prdshm_seg *seg)
{
	struct prdshm__rec *a, *b;
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	size_t n = 0;

	two_records(seg, "r", &a, &b);
	a->sess = 60000;
	/* Inspection shows such a record without trusting it. */
	CU_ASSERT_EQUAL(prdshm_lock_query(seg, "r", 0, h, 4, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_STRING_EQUAL(h[0].agent_id, "?");
	CU_ASSERT_EQUAL(h[0].pid, 0);
	CU_ASSERT_EQUAL(h[0].alive, 0);
}

static void swapped_order(prdshm_seg *seg)
{
	struct prdshm__rec *a, *b;
	uint64_t seq;

	two_records(seg, "r", &a, &b);
	seq = a->seq;
	a->seq = b->seq;
	b->seq = seq;
}

static void looping_list(prdshm_seg *seg)
{
	struct prdshm__rec *a, *b;

	two_records(seg, "r", &a, &b);
	b->next = a->next; /* b points at itself */
}

static void wrong_hash(prdshm_seg *seg)
{
	slot_named(seg, "r")->hash ^= 1;
}

static void wrong_counters(prdshm_seg *seg)
{
	slot_named(seg, "r")->nshared = 5;
}

static const struct scribble {
	void (*apply)(prdshm_seg *seg);
	const char *problem;
	size_t holders_after; /* of "r", after recovery */
} scribbles[] = {
	{ foreign_session, "lock 'r': record", 1 },
	{ swapped_order, "lock 'r': records out of FIFO order", 2 },
	{ looping_list, "lock 'r': record list loops", 2 },
	{ wrong_hash, "bad name or hash", 2 },
	{ wrong_counters, "lock 'r': counters disagree with records", 2 },
};

/* A segment on which sessions "a" and "b" share "r". */
static void open_sharing_r(struct tr_fx *f, prdshm_session **a, prdshm_session **b)
{
	tr_fx_create(f, NULL);
	*a = tu_session(f->seg, "a");
	*b = tu_session(f->seg, "b");
	CU_ASSERT_EQUAL(prdshm_lock(*a, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(*b, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
}

/* Sessions "a" and "b" share "r"; each scribble is reported by check, and
 * recovery rebuilds the lists from the records: what can be attributed to
 * a session is kept, the rest dropped. */
static void test_check_finds_scribbles_recover_rebuilds(void)
{
	for (size_t k = 0; k < sizeof(scribbles) / sizeof(scribbles[0]); k++) {
		struct tr_fx f;
		prdshm_session *a, *b;
		struct tu_lines l;

		open_sharing_r(&f, &a, &b);
		CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
		scribbles[k].apply(f.seg);
		CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), PRDSHM_ECORRUPT);
		CU_ASSERT(tu_said(&l, scribbles[k].problem));
		CU_ASSERT_EQUAL(prdshm_recover(f.seg, NULL, NULL), 0);
		CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
		CU_ASSERT_EQUAL(tu_holders(f.seg, "r"), scribbles[k].holders_after);
		CU_ASSERT_EQUAL(prdshm_lock(b, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EHELD);
		prdshm_session_close(a);
		prdshm_session_close(b);
		CU_ASSERT_EQUAL(tu_holders(f.seg, "r"), 0);
		tr_fx_destroy(&f);
	}
}

/* Two EXCLUSIVE holders at once cannot come from a crash, only from a
 * scribble; check names it. */
static void test_check_finds_conflicting_holders(void)
{
	struct tr_fx f;
	prdshm_session *a, *b;
	struct prdshm__rec *x, *y;
	struct tu_lines l;

	open_sharing_r(&f, &a, &b);
	two_records(f.seg, "r", &x, &y);
	x->mode = y->mode = PRDSHM_EXCLUSIVE;
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), PRDSHM_ECORRUPT);
	CU_ASSERT(tu_said(&l, "lock 'r': 2 exclusive and 0 shared holders at once"));
	prdshm_session_close(a);
	prdshm_session_close(b);
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
	tr_fx_destroy(&f);
}

/* ------------------------------------------------------------------------ */
/* Scribbled phase state: found by check, rebuilt by recover                */

static void wrong_running_count(prdshm_seg *seg)
{
	tp_region(seg)->nrunning = 7;
}

static void wave_out_of_range(prdshm_seg *seg)
{
	tp_region(seg)->current_wave = 99;
}

static void agent_points_elsewhere(prdshm_seg *seg)
{
	prdshm__sessions(seg)->agents[1].phase = 2; /* "idle", which holds nothing */
}

static void queued_too_early(prdshm_seg *seg)
{
	tp_phase_rec(seg, 1)->status = PRDSHM_PHASE_QUEUED; /* "b", after "a" */
}

static void ready_not_queued(prdshm_seg *seg)
{
	tp_phase_rec(seg, 2)->status = PRDSHM_PHASE_NOT_STARTED; /* "c", no deps */
}

static void runner_forgets_phase(prdshm_seg *seg)
{
	prdshm__sessions(seg)->agents[0].phase = -1; /* "busy", running "a" */
}

static const struct phase_scribble {
	void (*apply)(prdshm_seg *seg);
	const char *problem;
} phase_scribbles[] = {
	{ wrong_running_count, "1 phases IN_PROGRESS, recorded 7" },
	{ wave_out_of_range, "current wave 99 out of range" },
	{ agent_points_elsewhere, "agent slot 1 points at phase 2, which it does not hold" },
	{ ready_not_queued, "phase 'c' is NOT_STARTED but its dependencies say QUEUED" },
	{ runner_forgets_phase, "phase 'a' is IN_PROGRESS without a matching agent (slot 0)" },
};

/* A segment with @p plan, sessions "busy", which claims "a" (phase 0),
 * and "idle", which holds nothing. */
static void open_busy_idle(struct tr_fx *f, const char *plan, prdshm_session **busy,
			   prdshm_session **idle, prdshm_claim *c)
{
	tr_fx_create(f, plan);
	*busy = tu_session(f->seg, "busy");
	*idle = tu_session(f->seg, "idle");
	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(*busy, c), 0);
	CU_ASSERT_STRING_EQUAL(c->id, "a");
}

/* The segment is sound again; close it all. */
static void close_busy_idle(struct tr_fx *f, prdshm_session *busy, prdshm_session *idle)
{
	struct tu_lines l;

	CU_ASSERT_EQUAL(tr_check(f->seg, 0, &l), 0);
	prdshm_session_close(idle);
	prdshm_session_close(busy);
	tr_fx_destroy(f);
}

/* "busy" runs "a" (phase 0); "b" (phase 1) comes after it; "c" is free;
 * "idle" holds nothing.  @p scribble damages the phase state; it must be
 * reported as @p problem, then prdshm_recover() must leave a healthy
 * segment in which "busy" still finishes "a", reporting @p repaired if
 * not NULL. */
static void phase_scribble(void (*scribble)(prdshm_seg *seg), const char *problem,
			   const char *repaired)
{
	struct tr_fx f;
	prdshm_session *busy, *idle;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	struct tu_lines l, r = { .len = 0 };

	open_busy_idle(&f,
		       "scheduling: eager\nphases:\n  - id: a\n    estimated_time: 9\n"
		       "  - id: b\n    dependencies: [a]\n  - id: c\n",
		       &busy, &idle, &c);
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
	scribble(f.seg);
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), PRDSHM_ECORRUPT);
	CU_ASSERT(tu_said(&l, problem));
	CU_ASSERT_EQUAL(prdshm_recover(f.seg, tu_collect, &r), 0);
	if (repaired)
		CU_ASSERT(tu_said(&r, repaired));
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
	if (l.len)
		fprintf(stderr, "\n  after recover:\n%s", l.text);
	CU_ASSERT_EQUAL(prdshm_phase_complete(busy, c.index), 0);
	close_busy_idle(&f, busy, idle);
}

static void test_check_finds_phase_scribbles(void)
{
	for (size_t k = 0; k < sizeof(phase_scribbles) / sizeof(phase_scribbles[0]); k++)
		phase_scribble(phase_scribbles[k].apply, phase_scribbles[k].problem, NULL);
}

/* A status that contradicts the dependencies ("b" QUEUED while "a", which
 * it depends on, still runs) is reported by check, and recover puts it
 * back to what the dependencies say, so "b" cannot be claimed before "a"
 * ends (it once returned 0 and left it; docs/reliability.md). */
static void test_recover_rewinds_queued_before_deps(void)
{
	phase_scribble(queued_too_early, "phase 'b' is QUEUED before its dependencies are done",
		       "phase b: QUEUED before its dependencies were done, now NOT_STARTED");
}

/* The same for a running and a completed phase: "a" runs; "c" is scribbled
 * IN_PROGRESS by "idle", "b" and "d" (after "b") COMPLETED.  Check names
 * "b" and "c" ("d" follows a COMPLETED phase); recover rewinds all three,
 * "d" because "b" was, and "idle" loses "c" as on a cancel. */
static void test_recover_rewinds_run_before_deps(void)
{
	struct tr_fx f;
	prdshm_session *busy, *idle;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	struct tu_lines l, r = { .len = 0 };

	open_busy_idle(&f,
		       "scheduling: eager\nphases:\n  - id: a\n"
		       "  - id: b\n    dependencies: [a]\n  - id: c\n    dependencies: [a]\n"
		       "  - id: d\n    dependencies: [b]\n",
		       &busy, &idle, &c);
	tp_phase_rec(f.seg, 1)->status = PRDSHM_PHASE_COMPLETED;
	tp_phase_rec(f.seg, 3)->status = PRDSHM_PHASE_COMPLETED;
	tp_phase_rec(f.seg, 2)->status = PRDSHM_PHASE_IN_PROGRESS;
	tp_phase_rec(f.seg, 2)->agent_slot = 1;
	tp_phase_rec(f.seg, 2)->agent_gen = prdshm__sessions(f.seg)->agents[1].gen;
	prdshm__sessions(f.seg)->agents[1].phase = 2;
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), PRDSHM_ECORRUPT);
	CU_ASSERT(tu_said(&l, "phase 'b' is COMPLETED before its dependencies are done"));
	CU_ASSERT(tu_said(&l, "phase 'c' is IN_PROGRESS before its dependencies are done"));
	CU_ASSERT_PTR_NULL(strstr(l.text, "phase 'd'"));
	CU_ASSERT_EQUAL(prdshm_recover(f.seg, tu_collect, &r), 0);
	CU_ASSERT(tu_said(&r, "phase b: COMPLETED before its dependencies were done, now NOT_STARTED"));
	CU_ASSERT(tu_said(&r, "phase c: IN_PROGRESS before its dependencies were done, now NOT_STARTED"));
	CU_ASSERT(tu_said(&r, "phase d: COMPLETED before its dependencies were done, now NOT_STARTED"));
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
	CU_ASSERT_EQUAL(prdshm__sessions(f.seg)->agents[1].phase, -1);
	CU_ASSERT_EQUAL(prdshm_phase_complete(idle, 2), PRDSHM_ETRANSITION);
	CU_ASSERT_EQUAL(prdshm_phase_claim(idle, &c), PRDSHM_EWAIT);
	CU_ASSERT_EQUAL(prdshm_phase_complete(busy, 0), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(idle, &c), 0);
	CU_ASSERT(strcmp(c.id, "b") == 0 || strcmp(c.id, "c") == 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(idle, c.index), 0);
	close_busy_idle(&f, busy, idle);
}

/* A status out of range is reported by check as well as refused by repair. */
static void test_check_finds_status_out_of_range(void)
{
	struct tr_fx f;
	struct tu_lines l;

	tr_fx_create(&f, "phases:\n  - id: a\n");
	tp_phase_rec(f.seg, 0)->status = 42;
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), PRDSHM_ECORRUPT);
	CU_ASSERT(tu_said(&l, "phase 'a': status 42 out of range"));
	tp_phase_rec(f.seg, 0)->status = PRDSHM_PHASE_QUEUED;
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
	tr_fx_destroy(&f);
}

const tu_test tu_tests[] = {
	TU(test_check_finds_scribbles_recover_rebuilds),
	TU(test_check_finds_conflicting_holders),
	TU(test_check_finds_phase_scribbles),
	TU(test_recover_rewinds_queued_before_deps),
	TU(test_recover_rewinds_run_before_deps),
	TU(test_check_finds_status_out_of_range),
	{ NULL, NULL },
};
const char *tu_suite = "scribbles";
