/*
 * test_phase_index.c: the ready index of the phase region: the claim order
 * against a model on random plans, dependants readied at their last
 * dependency, failure and retry, waves opening into it, and a scribbled
 * index reported and rebuilt.
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

#include "phaseplan.h"
#include "base/util.h"
#include "plan/image.h"
#include "plan/phases.h"
#include "lock/region.h"
#include "session/region.h"
#include "shm/segment.h"
#include "testutil.h"

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
		tp_plan_add(cfg, id, 1 + next_rand(seed) % 4, deps[0] ? deps : NULL);
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

	tp_base_config(&cfg, sched, 4, 2);
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
			CU_ASSERT_EQUAL_FATAL(tp_healthy(seg), 0);
	}
	/* The run ended, having claimed a good part of the plan. */
	CU_ASSERT(ended);
	CU_ASSERT(claims >= n / 3);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
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

	tp_base_config(&cfg, PRDSHM_SCHED_EAGER, 3, 1);
	tp_plan_add(&cfg, "a", 1, NULL);
	tp_plan_add(&cfg, "b", 1, NULL);
	tp_plan_add(&cfg, "c", 1, NULL);
	tp_plan_add(&cfg, "x", 9, "a a b c");
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "s");
	a = tp_claim_expect(s, "a");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), 0);
	ASSERT_STATUS(seg, "x", NOT_STARTED);
	b = tp_claim_expect(s, "b");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, b), 0);
	ASSERT_STATUS(seg, "x", NOT_STARTED);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	/* The last one: x is next, ahead of nothing else. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_SKIPPED), 0);
	ASSERT_STATUS(seg, "x", QUEUED);
	tp_claim_expect(s, "x");
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* A failure blocks the dependants through the index too: nothing of the
 * chain is claimable, and a retry brings exactly the failed phase back. */
static void test_failure_and_retry_in_the_index(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tp_chain_plan(&cfg, 1);
	prdshm_session *s = tu_session(seg, "s");
	int32_t a = tp_claim_expect(s, "a"), d;

	CU_ASSERT_EQUAL(prdshm_phase_fail(s, a, 1, "no"), 0);
	d = tp_claim_expect(s, "d");
	CU_ASSERT_EQUAL(tp_claim_rc(s), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, d), 0);
	CU_ASSERT_EQUAL(tp_claim_rc(s), PRDSHM_EDONE);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	/* Retrying the BLOCKED end of the chain requeues its cause only. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "c", PRDSHM_PHASE_QUEUED), 0);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	a = tp_claim_expect(s, "a");
	CU_ASSERT_EQUAL(tp_claim_rc(s), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), 0);
	tp_run_to_end(s);
	ASSERT_STATUS(seg, "c", COMPLETED);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
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

	tp_base_config(&cfg, PRDSHM_SCHED_WAVES, 3, 1);
	tp_plan_add(&cfg, "a", 1, NULL);
	tp_plan_add(&cfg, "b", 5, NULL);
	tp_plan_add(&cfg, "c", 1, "a");
	tp_plan_add(&cfg, "e", 1, NULL);
	seg = tu_seg_create(&cfg);
	s1 = tu_session(seg, "s1");
	s2 = tu_session(seg, "s2");
	b = tp_claim_expect(s1, "b");
	a = tp_claim_expect(s2, "a");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, a), 0);
	/* c is QUEUED in wave 1, wave 0 still runs b and holds e. */
	tp_claim_expect(s2, "e");
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	CU_ASSERT_EQUAL(prdshm_phase_fail(s2, 3, 1, "e failed"), 0);
	CU_ASSERT_EQUAL(tp_claim_rc(s2), PRDSHM_EWAIT);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s1, b), 0);
	c = tp_claim_expect(s2, "c"); /* wave 1 opened */
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	/* A retry of wave 0's failure while wave 1 is open. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "e", PRDSHM_PHASE_QUEUED), 0);
	tp_claim_expect(s1, "e");
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s2, c), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s1, 3), 0);
	CU_ASSERT_EQUAL(tp_claim_rc(s1), PRDSHM_EDONE);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	prdshm_session_close(s1);
	prdshm_session_close(s2);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* A scribbled index                                                        */

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
	prdshm_seg *seg = tp_chain_plan(&cfg, 1);
	struct prdshm__phase_region *reg = tp_region(seg);
	uint64_t *ready = (uint64_t *)(void *)(prdshm__plan(seg)->base + reg->off_ready);
	struct prdshm__phase *b = tp_phase_rec(seg, 1);
	prdshm_session *s = tu_session(seg, "s");
	int32_t a;
	int errors = 0;

	/* Ranks: a 0, b 1, c 2, d 3.  The bit of a moved to b. */
	CU_ASSERT_EQUAL(*ready, UINT64_C(0x9));
	*ready = 0xa;
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, count_problem, &errors), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(errors, 1);
	a = tp_claim_expect(s, "a");
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	/* Fields out of range are rebuilt by the next change. */
	reg->run_head = 12345;
	reg->settle_head = 7;
	reg->current_wave = 999;
	reg->minw = 999;
	CU_ASSERT_EQUAL(tp_healthy(seg), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "d", PRDSHM_PHASE_SKIPPED), 0);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	/* Counts in range but wrong: the checker sees them, recovery fixes. */
	b->deps_left = 0;
	reg->nopen--;
	errors = 0;
	CU_ASSERT_EQUAL(prdshm_check(seg, PRDSHM_SNAP_NOLOCK, count_problem, &errors),
			PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(errors, 2);
	CU_ASSERT_EQUAL(prdshm_recover(seg, NULL, NULL), 0);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), 0);
	tp_run_to_end(s);
	ASSERT_STATUS(seg, "c", COMPLETED);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* The phase's dependant list, writable. */
static uint32_t *dependants_rec(prdshm_seg *seg, uint32_t i)
{
	return (uint32_t *)(void *)(prdshm__plan(seg)->base + tp_region(seg)->off_arena +
				    tp_phase_rec(seg, i)->dependants_off);
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
	prdshm_seg *seg = tp_crash_plan(&cfg), *other = NULL;
	struct prdshm__phase_region *reg = tp_region(seg);
	uint64_t *ready = (uint64_t *)(void *)(prdshm__plan(seg)->base + reg->off_ready);
	prdshm_session *s = tu_session(seg, "s");
	uint32_t saved;
	int32_t a, d;

	/* a (rank 1) claims b's rank: b is not claimable. */
	tp_phase_rec(seg, 0)->rank = 2;
	d = tp_claim_expect(s, "d"); /* rank 0, still agrees */
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &other), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(tp_healthy(seg), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, d), 0);
	CU_ASSERT_EQUAL(tp_claim_rc(s), PRDSHM_ECORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "ready index"));
	/* Restored, the next claim rebuilds from the statuses. */
	tp_phase_rec(seg, 0)->rank = 1;
	a = tp_claim_expect(s, "a");
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, a), 0);
	/* a's dependant b replaced by d. */
	saved = dependants_rec(seg, 0)[0];
	CU_ASSERT_EQUAL(saved, 1);
	dependants_rec(seg, 0)[0] = 3;
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &other), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(tp_healthy(seg), PRDSHM_ECORRUPT);
	dependants_rec(seg, 0)[0] = saved;
	reg->order_off += 2;
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &other), PRDSHM_ECORRUPT);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "phase region: bad claim order");
	reg->order_off -= 2;
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	/* The level-0 word emptied under its summary bits. */
	CU_ASSERT_EQUAL(*ready, UINT64_C(0x4)); /* b, rank 2 */
	*ready = 0;
	CU_ASSERT_EQUAL(tp_healthy(seg), PRDSHM_ECORRUPT);
	tp_claim_expect(s, "b");
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* The image a backend shares between hosts (plan/image.h) times its waves
 * on the realtime clock: the monotonic clocks of two hosts have nothing in
 * common, and a wave closed on one would open hours early or late on the
 * other.  After wave 0 closes, wave_done_mono is near CLOCK_REALTIME, and
 * the next wave opens wave_delay_seconds later. */
static int holder_alive(void *ctx, const struct prdshm__phase *p)
{
	(void)ctx;
	(void)p;
	return 1;
}

static void test_image_waves_on_the_realtime_clock(void)
{
	struct prdshm__plan_holder h = { 7, 0, "host-a" };
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	prdshm_config cfg;
	unsigned char *img;
	uint64_t bytes, now;
	int64_t delay_ms = -1;
	const struct prdshm__phase_region *reg;

	tp_base_config(&cfg, PRDSHM_SCHED_WAVES, 2, 1);
	cfg.wave_delay_seconds = 30;
	tp_plan_add(&cfg, "a", 1, NULL);
	tp_plan_add(&cfg, "b", 1, "a");
	bytes = prdshm__plan_image_bytes(&cfg);
	img = aligned_alloc(64, (bytes + 63) & ~(uint64_t)63);
	CU_ASSERT_PTR_NOT_NULL_FATAL(img);
	CU_ASSERT_EQUAL_FATAL(prdshm__plan_image_init(img, bytes, &cfg), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm__plan_image_claim(img, bytes, &h, holder_alive, NULL, &c), 0);
	CU_ASSERT_STRING_EQUAL(c.id, "a");
	CU_ASSERT_EQUAL(prdshm__plan_image_finish(img, bytes, &h, c.index,
						  PRDSHM_PHASE_COMPLETED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm__plan_image_ready(img, bytes, &delay_ms), 0);
	reg = (const struct prdshm__phase_region *)(const void *)img;
	now = prdshm__now_real();
	CU_ASSERT(reg->wave_done_mono <= now && now - reg->wave_done_mono < UINT64_C(60000000000));
	CU_ASSERT(delay_ms > 20000 && delay_ms <= 30000);
	free(img);
	prdshm_config_free(&cfg);
}

const tu_test tu_tests[] = {
	TU(test_claim_order_model_eager),
	TU(test_claim_order_model_waves),
	TU(test_dependant_ready_at_last_dependency),
	TU(test_failure_and_retry_in_the_index),
	TU(test_waves_open_into_the_index),
	TU(test_scribbled_index_reported_and_rebuilt),
	TU(test_scribbled_claim_order_and_summaries),
	TU(test_image_waves_on_the_realtime_clock),
	{ NULL, NULL },
};
const char *tu_suite = "phase_index";
