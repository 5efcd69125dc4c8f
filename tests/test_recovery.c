/*
 * test_recovery.c: what happens after things went wrong: a segment marked
 * as needing recovery, holders killed inside a critical section, mutexes
 * left unrecoverable, torn agent slots, an unrepairable phase region,
 * scribbled lock records found by prdshm_check() and rebuilt by
 * prdshm_recover(), and inspection of a segment whose mutexes are wedged.
 * (Recovery after a crash in the lock table is in test_reliability.c:
 * ThreadSanitizer, which runs this program, cannot follow it.)
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan/phases.h"
#include "shm/segment.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Fixture and helpers                                                      */

/* One segment; max_locks below 256 gives a single lock partition. */
struct fx {
	prdshm_config cfg;
	prdshm_seg *seg;
};

static void fx_create(struct fx *f, const char *plan_yaml)
{
	prdshm_diag d = PRDSHM_DIAG_INIT;
	int r;

	tu_config(&f->cfg);
	f->cfg.max_locks = 64;
	f->cfg.wave_delay_seconds = 0;
	if (plan_yaml)
		CU_ASSERT_EQUAL_FATAL(prdshm_config_load_string(&f->cfg, plan_yaml,
								strlen(plan_yaml), "plan", &d),
				      0);
	f->seg = NULL;
	r = prdshm_seg_create(&f->cfg, &f->seg);
	if (r)
		fprintf(stderr, "create: %s\n", prdshm_last_error());
	CU_ASSERT_EQUAL_FATAL(r, 0);
}

static void fx_destroy(struct fx *f)
{
	tu_destroy(&f->cfg, f->seg);
}

/* What a report callback printed, one line after another. */
struct lines {
	char text[8192];
	size_t len;
};

static void add_line(struct lines *l, const char *line)
{
	int n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s\n", line);

	if (n > 0 && (size_t)n < sizeof(l->text) - l->len)
		l->len += (size_t)n;
}

static void collect(void *ctx, const char *line)
{
	add_line(ctx, line);
}

static void collect_problem(void *ctx, int severity, const char *problem)
{
	add_line(ctx, problem);
}

static int said(const struct lines *l, const char *what)
{
	if (strstr(l->text, what))
		return 1;
	fprintf(stderr, "\n  wanted \"%s\" in:\n%s", what, l->text);
	return 0;
}

/* prdshm_check() with its problems collected into @p l (cleared first). */
static int check(prdshm_seg *seg, unsigned flags, struct lines *l)
{
	l->len = 0;
	l->text[0] = '\0';
	return prdshm_check(seg, flags, collect_problem, l);
}

static uint32_t needs_recovery(prdshm_seg *seg)
{
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;

	CU_ASSERT_EQUAL(prdshm_seg_info_get(seg, &info), 0);
	return info.needs_recovery;
}

/* The robust mutexes a test can make owner-dead or unrecoverable. */
enum which_mutex { SESS_MUTEX, PART_MUTEX, PHASE_MUTEX };

static pthread_mutex_t *mutex_of(prdshm_seg *seg, enum which_mutex w)
{
	if (w == SESS_MUTEX)
		return &seg->hdr->sess_mutex.m;
	if (w == PART_MUTEX)
		return &seg->parts[0].mutex.m;
	return &((struct prdshm__phase_region *)(void *)seg->phases)->mutex.m;
}

struct child_arg {
	const char *shm_name;
	enum which_mutex which;
	const char *crash_at;
	int up[2], down[2];
};

/* Take a mutex and exit with it held: the kernel marks it owner-dead. */
static int die_holding(void *p)
{
	struct child_arg *a = p;
	prdshm_seg *seg = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open(a->shm_name, &seg) == 0);
	TU_CHILD_ASSERT(pthread_mutex_lock(mutex_of(seg, a->which)) == 0);
	return 0;
}

/* Leave @p w owner-dead (a holder died inside the critical section). */
static void make_owner_dead(struct fx *f, enum which_mutex w)
{
	struct child_arg a = { .shm_name = f->cfg.shm_name, .which = w };

	CU_ASSERT_EQUAL_FATAL(tu_wait_child(tu_fork(die_holding, &a), 10000), 0);
}

/* Leave @p w unrecoverable: owner-dead, then unlocked without repair. */
static void make_unrecoverable(struct fx *f, enum which_mutex w)
{
	pthread_mutex_t *m = mutex_of(f->seg, w);

	make_owner_dead(f, w);
	CU_ASSERT_EQUAL_FATAL(pthread_mutex_lock(m), EOWNERDEAD);
	pthread_mutex_unlock(m);
}

/* ------------------------------------------------------------------------ */
/* The recovery mark                                                        */

/* A marked segment refuses every operation, inspection aside, until
 * prdshm_recover(); the locks of live sessions survive the recovery. */
static void test_marked_segment_refuses_until_recovered(void)
{
	struct fx f;
	prdshm_session *s, *t = NULL;
	prdshm_snapshot *snap = NULL;
	struct lines l;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	size_t n = 0;

	fx_create(&f, "phases:\n  - id: a\n");
	s = tu_session(f.seg, "before");
	CU_ASSERT_EQUAL(prdshm_lock(s, "kept", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	/* What a failed repair leaves behind. */
	__atomic_store_n(&f.seg->hdr->needs_recovery, 1, __ATOMIC_RELEASE);

	CU_ASSERT_EQUAL(prdshm_session_open(f.seg, "after", 0, &t), PRDSHM_ERECOVER);
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "needs recovery: run prdshm-cleanup"));
	CU_ASSERT_EQUAL(prdshm_lock(s, "other", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_ERECOVER);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "kept"), PRDSHM_ERECOVER);
	CU_ASSERT_EQUAL(prdshm_phase_claim(s, &c), PRDSHM_ERECOVER);
	CU_ASSERT_EQUAL(prdshm_reap(f.seg, 0, NULL, NULL, NULL), PRDSHM_ERECOVER);
	CU_ASSERT_EQUAL(prdshm_lock_query(f.seg, "kept", 0, NULL, 0, &n), PRDSHM_ERECOVER);
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), PRDSHM_ERECOVER);
	CU_ASSERT(said(&l, "segment is marked as needing recovery"));
	/* Inspection still works and shows the mark. */
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(f.seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->seg.needs_recovery, 1);
	CU_ASSERT_EQUAL(snap->nlocks, 1);
	prdshm_snapshot_free(snap);

	CU_ASSERT_EQUAL(prdshm_recover(f.seg, NULL, NULL), 0);
	CU_ASSERT_EQUAL(needs_recovery(f.seg), 0);
	CU_ASSERT_EQUAL(tu_holders(f.seg, "kept"), 1);
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
	t = tu_session(f.seg, "after");
	CU_ASSERT_EQUAL(prdshm_lock(t, "kept", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_phase_claim(s, &c), 0);
	CU_ASSERT_STRING_EQUAL(c.id, "a");
	prdshm_session_close(t);
	prdshm_session_close(s);
	fx_destroy(&f);
}

static void test_null_segment(void)
{
	CU_ASSERT_EQUAL(prdshm_recover(NULL, NULL, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_reap(NULL, 0, NULL, NULL, NULL), PRDSHM_EINVAL);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "segment is NULL");
	CU_ASSERT_EQUAL(prdshm_check(NULL, 0, NULL, NULL), PRDSHM_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Holders that died inside a critical section                              */

/* A holder of sess_mutex died while a slot was half written: the checker
 * sees the torn fields, and the next session open repairs them. */
static void test_torn_agent_slot_repaired_by_next_open(void)
{
	struct fx f;
	struct prdshm__agent *a;
	prdshm_snapshot *snap = NULL;
	prdshm_session *s;
	struct lines l;

	fx_create(&f, NULL);
	make_owner_dead(&f, SESS_MUTEX);
	a = &f.seg->agents[3];
	a->state = 7;
	a->status = 9;
	a->used = 1;
	memset(a->id, 'x', sizeof(a->id)); /* no terminating NUL */

	CU_ASSERT_EQUAL(check(f.seg, PRDSHM_SNAP_NOLOCK, &l), PRDSHM_ECORRUPT);
	CU_ASSERT(said(&l, "agent slot 3: bad state 7"));
	CU_ASSERT(said(&l, ": bad status 9"));

	s = tu_session(f.seg, "repairer");
	CU_ASSERT_EQUAL(a->state, PRDSHM__SLOT_FREE);
	CU_ASSERT_EQUAL(a->status, PRDSHM_AGENT_DEAD);
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(f.seg, 0, &snap), 0);
	CU_ASSERT_EQUAL_FATAL(snap->nagents, 2);
	CU_ASSERT_EQUAL(snap->agents[1].slot, 3);
	CU_ASSERT_EQUAL(strlen(snap->agents[1].id), PRDSHM_ID_MAX);
	CU_ASSERT_EQUAL(snap->agents[1].status, PRDSHM_AGENT_DEAD);
	prdshm_snapshot_free(snap);
	prdshm_session_close(s);
	fx_destroy(&f);
}

/* ------------------------------------------------------------------------ */
/* Unrecoverable mutexes                                                    */

/* An unrecoverable sess_mutex: the first call that needs it marks the
 * segment (whichever call it is), and prdshm_recover() re-creates it. */
static void test_unrecoverable_session_mutex(void)
{
	struct fx f;
	prdshm_session *s = NULL;
	struct lines l;
	int r;

	fx_create(&f, NULL);
	for (int round = 0; round < 2; round++) {
		make_unrecoverable(&f, SESS_MUTEX);
		/* CUnit's assertions are blocks: keep the call outside them. */
		if (round == 0)
			r = prdshm_session_open(f.seg, "x", 0, &s);
		else
			r = prdshm_reap(f.seg, 0, NULL, NULL, NULL);
		CU_ASSERT_EQUAL(r, PRDSHM_ERECOVER);
		CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "not recoverable"));
		CU_ASSERT_EQUAL(needs_recovery(f.seg), 1);
		/* Marked: refused before the mutex is even tried. */
		CU_ASSERT_EQUAL(prdshm_session_open(f.seg, "x", 0, &s), PRDSHM_ERECOVER);
		CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "needs recovery"));
		CU_ASSERT_EQUAL(prdshm_reap(f.seg, 0, NULL, NULL, NULL), PRDSHM_ERECOVER);

		CU_ASSERT_EQUAL(prdshm_recover(f.seg, NULL, NULL), 0);
		CU_ASSERT_EQUAL(needs_recovery(f.seg), 0);
		s = tu_session(f.seg, "x");
		CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
		prdshm_session_close(s);
	}
	fx_destroy(&f);
}

/* An unrecoverable partition mutex: locks fail until recovery, and the
 * locks live sessions held before are still theirs afterwards. */
static void test_unrecoverable_partition_mutex(void)
{
	struct fx f;
	prdshm_session *s;
	struct lines l;

	fx_create(&f, NULL);
	s = tu_session(f.seg, "holder");
	CU_ASSERT_EQUAL(prdshm_lock(s, "held", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	make_unrecoverable(&f, PART_MUTEX);
	CU_ASSERT_EQUAL(prdshm_lock(s, "new", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_ERECOVER);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "not recoverable"));
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), PRDSHM_ERECOVER);

	CU_ASSERT_EQUAL(prdshm_recover(f.seg, NULL, NULL), 0);
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
	CU_ASSERT_EQUAL(tu_holders(f.seg, "held"), 1);
	CU_ASSERT_EQUAL(prdshm_lock(s, "held", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EHELD);
	CU_ASSERT_EQUAL(prdshm_lock(s, "new", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	prdshm_session_close(s);
	fx_destroy(&f);
}

/* ------------------------------------------------------------------------ */
/* An unrepairable phase region                                             */

static int crash_in_claim(void *p)
{
	struct child_arg *a = p;
	prdshm_session *s = tu_child_session(a->shm_name, "crasher", NULL);
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	setenv("PRDSHM_CRASH_AT", "phase_claim_agent", 1);
	prdshm_phase_claim(s, &c);
	return 3;
}

static struct prdshm__phase *phase_record(prdshm_seg *seg, uint32_t i)
{
	struct prdshm__phase_region *reg = (struct prdshm__phase_region *)(void *)seg->phases;

	return (struct prdshm__phase *)(void *)(seg->phases + reg->off_phases) + i;
}

/* prdshm_recover() itself, not a claimer, finds the phase mutex owner-dead
 * after a crash inside a claim: the dead claimer's run ends like any death
 * (one attempt allowed: FAILED, its dependant BLOCKED). */
static void test_recover_after_crash_in_claim(void)
{
	struct fx f;
	struct child_arg a;
	prdshm_snapshot *snap = NULL;
	struct lines l = { .len = 0 };

	fx_create(&f, "phases:\n  - id: a\n  - id: b\n    dependencies: [a]\n");
	a = (struct child_arg){ .shm_name = f.cfg.shm_name };
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(crash_in_claim, &a), 10000), 128 + SIGKILL);
	CU_ASSERT_EQUAL(prdshm_recover(f.seg, collect, &l), 0);
	CU_ASSERT(said(&l, "phase a: agent crasher died"));
	CU_ASSERT(said(&l, "agent crasher (slot 0"));
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(f.seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->phases[0].status, PRDSHM_PHASE_FAILED);
	CU_ASSERT_EQUAL(snap->phases[1].status, PRDSHM_PHASE_BLOCKED);
	CU_ASSERT_EQUAL(snap->agents[0].status, PRDSHM_AGENT_DEAD);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "");
	fx_destroy(&f);
}

/* A status out of range cannot be guessed: the repair after the crash
 * fails, the segment is marked, and prdshm_recover() keeps the mark until
 * the region makes sense again. */
static void test_unrepairable_phase_region_stays_marked(void)
{
	struct fx f;
	struct child_arg a;
	prdshm_session *s;
	prdshm_snapshot *snap = NULL;
	struct lines l = { .len = 0 };
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	fx_create(&f, "phases:\n  - id: a\n  - id: b\n    dependencies: [a]\n");
	a = (struct child_arg){ .shm_name = f.cfg.shm_name };
	s = tu_session(f.seg, "survivor");
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(crash_in_claim, &a), 10000), 128 + SIGKILL);
	CU_ASSERT_EQUAL(phase_record(f.seg, 0)->status, PRDSHM_PHASE_IN_PROGRESS);
	phase_record(f.seg, 0)->status = 42;

	CU_ASSERT_EQUAL(prdshm_phase_claim(s, &c), PRDSHM_ERECOVER);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(),
			       "repair after a crashed holder failed: run prdshm-cleanup");
	CU_ASSERT_EQUAL(needs_recovery(f.seg), 1);
	CU_ASSERT_EQUAL(prdshm_recover(f.seg, collect, &l), PRDSHM_ECORRUPT);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "phase 0: status 42 out of range");
	CU_ASSERT_EQUAL(needs_recovery(f.seg), 1);
	CU_ASSERT_EQUAL(prdshm_phase_claim(s, &c), PRDSHM_ERECOVER);

	/* Once the status is one the repair can work with, recovery ends the
	 * dead claimer's run like any other death. */
	phase_record(f.seg, 0)->status = PRDSHM_PHASE_IN_PROGRESS;
	CU_ASSERT_EQUAL(prdshm_recover(f.seg, collect, &l), 0);
	CU_ASSERT(said(&l, "phase a: agent crasher died"));
	CU_ASSERT_EQUAL(needs_recovery(f.seg), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(f.seg, 0, &snap), 0);
	CU_ASSERT_EQUAL_FATAL(snap->nphases, 2);
	CU_ASSERT_EQUAL(snap->phases[0].status, PRDSHM_PHASE_FAILED);
	CU_ASSERT_EQUAL(snap->phases[1].status, PRDSHM_PHASE_BLOCKED);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(prdshm_phase_claim(s, &c), PRDSHM_EDONE);
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
	prdshm_session_close(s);
	fx_destroy(&f);
}

/* ------------------------------------------------------------------------ */
/* Scribbled lock records: found by check, rebuilt by recover               */

/* Slot of @p name in partition 0 (the fixture has one partition). */
static struct prdshm__slot *slot_named(prdshm_seg *seg, const char *name)
{
	struct prdshm__slot *slots = prdshm__part_slots(seg, 0);
	size_t len = strlen(name);

	for (uint32_t i = 0; i < seg->slots_per_part; i++) {
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
	struct prdshm__rec *recs = prdshm__part_recs(seg, 0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(sl);
	CU_ASSERT_FATAL(sl->head < seg->recs_per_part);
	*first = &recs[sl->head];
	CU_ASSERT_FATAL((*first)->next < seg->recs_per_part);
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

/* Sessions "a" and "b" share "r"; each scribble is reported by check, and
 * recovery rebuilds the lists from the records: what can be attributed to
 * a session is kept, the rest dropped. */
static void test_check_finds_scribbles_recover_rebuilds(void)
{
	for (size_t k = 0; k < sizeof(scribbles) / sizeof(scribbles[0]); k++) {
		struct fx f;
		prdshm_session *a, *b;
		struct lines l;

		fx_create(&f, NULL);
		a = tu_session(f.seg, "a");
		b = tu_session(f.seg, "b");
		CU_ASSERT_EQUAL(prdshm_lock(a, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
		CU_ASSERT_EQUAL(prdshm_lock(b, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
		CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
		scribbles[k].apply(f.seg);
		CU_ASSERT_EQUAL(check(f.seg, 0, &l), PRDSHM_ECORRUPT);
		CU_ASSERT(said(&l, scribbles[k].problem));
		CU_ASSERT_EQUAL(prdshm_recover(f.seg, NULL, NULL), 0);
		CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
		CU_ASSERT_EQUAL(tu_holders(f.seg, "r"), scribbles[k].holders_after);
		CU_ASSERT_EQUAL(prdshm_lock(b, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EHELD);
		prdshm_session_close(a);
		prdshm_session_close(b);
		CU_ASSERT_EQUAL(tu_holders(f.seg, "r"), 0);
		fx_destroy(&f);
	}
}

/* Two EXCLUSIVE holders at once cannot come from a crash, only from a
 * scribble; check names it. */
static void test_check_finds_conflicting_holders(void)
{
	struct fx f;
	prdshm_session *a, *b;
	struct prdshm__rec *x, *y;
	struct lines l;

	fx_create(&f, NULL);
	a = tu_session(f.seg, "a");
	b = tu_session(f.seg, "b");
	CU_ASSERT_EQUAL(prdshm_lock(a, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(b, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	two_records(f.seg, "r", &x, &y);
	x->mode = y->mode = PRDSHM_EXCLUSIVE;
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), PRDSHM_ECORRUPT);
	CU_ASSERT(said(&l, "lock 'r': 2 exclusive and 0 shared holders at once"));
	prdshm_session_close(a);
	prdshm_session_close(b);
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
	fx_destroy(&f);
}

/* ------------------------------------------------------------------------ */
/* Scribbled phase state: found by check, rebuilt by recover                */

static struct prdshm__phase_region *region(prdshm_seg *seg)
{
	return (struct prdshm__phase_region *)(void *)seg->phases;
}

static void wrong_running_count(prdshm_seg *seg)
{
	region(seg)->nrunning = 7;
}

static void wave_out_of_range(prdshm_seg *seg)
{
	region(seg)->current_wave = 99;
}

static void agent_points_elsewhere(prdshm_seg *seg)
{
	seg->agents[1].phase = 2; /* "idle", which holds nothing */
}

static void queued_too_early(prdshm_seg *seg)
{
	phase_record(seg, 1)->status = PRDSHM_PHASE_QUEUED; /* "b", after "a" */
}

static void ready_not_queued(prdshm_seg *seg)
{
	phase_record(seg, 2)->status = PRDSHM_PHASE_NOT_STARTED; /* "c", no deps */
}

static void runner_forgets_phase(prdshm_seg *seg)
{
	seg->agents[0].phase = -1; /* "busy", running "a" */
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

/* "busy" runs "a" (phase 0); "b" (phase 1) comes after it; "c" is free;
 * "idle" holds nothing.  @p scribble damages the phase state; it must be
 * reported as @p problem, then prdshm_recover() must leave a healthy
 * segment in which "busy" still finishes "a", reporting @p repaired if
 * not NULL. */
static void phase_scribble(void (*scribble)(prdshm_seg *seg), const char *problem,
			   const char *repaired)
{
	struct fx f;
	prdshm_session *busy, *idle;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	struct lines l, r = { .len = 0 };

	fx_create(&f, "scheduling: eager\nphases:\n  - id: a\n    estimated_time: 9\n"
		      "  - id: b\n    dependencies: [a]\n  - id: c\n");
	busy = tu_session(f.seg, "busy");
	idle = tu_session(f.seg, "idle");
	CU_ASSERT_EQUAL(prdshm_phase_claim(busy, &c), 0);
	CU_ASSERT_STRING_EQUAL(c.id, "a");
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
	scribble(f.seg);
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), PRDSHM_ECORRUPT);
	CU_ASSERT(said(&l, problem));
	CU_ASSERT_EQUAL(prdshm_recover(f.seg, collect, &r), 0);
	if (repaired)
		CU_ASSERT(said(&r, repaired));
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
	if (l.len)
		fprintf(stderr, "\n  after recover:\n%s", l.text);
	CU_ASSERT_EQUAL(prdshm_phase_complete(busy, c.index), 0);
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
	prdshm_session_close(idle);
	prdshm_session_close(busy);
	fx_destroy(&f);
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
	struct fx f;
	prdshm_session *busy, *idle;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	struct lines l, r = { .len = 0 };

	fx_create(&f, "scheduling: eager\nphases:\n  - id: a\n"
		      "  - id: b\n    dependencies: [a]\n  - id: c\n    dependencies: [a]\n"
		      "  - id: d\n    dependencies: [b]\n");
	busy = tu_session(f.seg, "busy");
	idle = tu_session(f.seg, "idle");
	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(busy, &c), 0);
	CU_ASSERT_STRING_EQUAL(c.id, "a");
	phase_record(f.seg, 1)->status = PRDSHM_PHASE_COMPLETED;
	phase_record(f.seg, 3)->status = PRDSHM_PHASE_COMPLETED;
	phase_record(f.seg, 2)->status = PRDSHM_PHASE_IN_PROGRESS;
	phase_record(f.seg, 2)->agent_slot = 1;
	phase_record(f.seg, 2)->agent_gen = f.seg->agents[1].gen;
	f.seg->agents[1].phase = 2;
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), PRDSHM_ECORRUPT);
	CU_ASSERT(said(&l, "phase 'b' is COMPLETED before its dependencies are done"));
	CU_ASSERT(said(&l, "phase 'c' is IN_PROGRESS before its dependencies are done"));
	CU_ASSERT_PTR_NULL(strstr(l.text, "phase 'd'"));
	CU_ASSERT_EQUAL(prdshm_recover(f.seg, collect, &r), 0);
	CU_ASSERT(said(&r, "phase b: COMPLETED before its dependencies were done, now NOT_STARTED"));
	CU_ASSERT(said(&r, "phase c: IN_PROGRESS before its dependencies were done, now NOT_STARTED"));
	CU_ASSERT(said(&r, "phase d: COMPLETED before its dependencies were done, now NOT_STARTED"));
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
	CU_ASSERT_EQUAL(f.seg->agents[1].phase, -1);
	CU_ASSERT_EQUAL(prdshm_phase_complete(idle, 2), PRDSHM_ETRANSITION);
	CU_ASSERT_EQUAL(prdshm_phase_claim(idle, &c), PRDSHM_EWAIT);
	CU_ASSERT_EQUAL(prdshm_phase_complete(busy, 0), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(idle, &c), 0);
	CU_ASSERT(strcmp(c.id, "b") == 0 || strcmp(c.id, "c") == 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(idle, c.index), 0);
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
	prdshm_session_close(idle);
	prdshm_session_close(busy);
	fx_destroy(&f);
}

/* A status out of range is reported by check as well as refused by repair. */
static void test_check_finds_status_out_of_range(void)
{
	struct fx f;
	struct lines l;

	fx_create(&f, "phases:\n  - id: a\n");
	phase_record(f.seg, 0)->status = 42;
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), PRDSHM_ECORRUPT);
	CU_ASSERT(said(&l, "phase 'a': status 42 out of range"));
	phase_record(f.seg, 0)->status = PRDSHM_PHASE_QUEUED;
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
	fx_destroy(&f);
}

/* ------------------------------------------------------------------------ */
/* Inspection of a wedged segment                                           */

/* Hold every mutex of the segment until told to let go. */
static int wedge(void *p)
{
	struct child_arg *a = p;
	prdshm_seg *seg = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open(a->shm_name, &seg) == 0);
	for (int w = SESS_MUTEX; w <= PHASE_MUTEX; w++)
		TU_CHILD_ASSERT(pthread_mutex_lock(mutex_of(seg, (enum which_mutex)w)) == 0);
	tu_signal(a->up[1], 'w');
	TU_CHILD_ASSERT(tu_await(a->down[0], 30000) == 'g');
	for (int w = SESS_MUTEX; w <= PHASE_MUTEX; w++)
		pthread_mutex_unlock(mutex_of(seg, (enum which_mutex)w));
	prdshm_seg_close(seg);
	return 0;
}

/* Snapshots and checks never wait for a wedged mutex: they read without it
 * and say so. */
static void test_inspection_of_wedged_segment(void)
{
	struct fx f;
	struct child_arg a;
	prdshm_session *s;
	prdshm_snapshot *snap = NULL;
	struct lines l;
	pid_t pid;

	fx_create(&f, "phases:\n  - id: a\n");
	s = tu_session(f.seg, "viewer");
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	a = (struct child_arg){ .shm_name = f.cfg.shm_name };
	CU_ASSERT_EQUAL_FATAL(pipe(a.up), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(a.down), 0);
	pid = tu_fork(wedge, &a);
	CU_ASSERT_EQUAL_FATAL(tu_await(a.up[0], 10000), 'w');

	CU_ASSERT_EQUAL(prdshm_snapshot_take(f.seg, 0, &snap), 0);
	/* Success: the mutexes not taken in time leave no message. */
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
	CU_ASSERT_EQUAL(snap->locked, 0);
	CU_ASSERT_EQUAL(snap->nagents, 1);
	CU_ASSERT_EQUAL(snap->nlocks, 1);
	CU_ASSERT_EQUAL(snap->nphases, 1);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(check(f.seg, 0, &l), 0);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "");

	tu_signal(a.down[1], 'g');
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(f.seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->locked, 1);
	prdshm_snapshot_free(snap);
	prdshm_session_close(s);
	for (int i = 0; i < 2; i++) {
		close(a.up[i]);
		close(a.down[i]);
	}
	fx_destroy(&f);
}

const tu_test tu_tests[] = {
	TU(test_marked_segment_refuses_until_recovered),
	TU(test_null_segment),
	TU(test_torn_agent_slot_repaired_by_next_open),
	TU(test_unrecoverable_session_mutex),
	TU(test_unrecoverable_partition_mutex),
	TU(test_recover_after_crash_in_claim),
	TU(test_unrepairable_phase_region_stays_marked),
	TU(test_check_finds_scribbles_recover_rebuilds),
	TU(test_check_finds_conflicting_holders),
	TU(test_check_finds_phase_scribbles),
	TU(test_recover_rewinds_queued_before_deps),
	TU(test_recover_rewinds_run_before_deps),
	TU(test_check_finds_status_out_of_range),
	TU(test_inspection_of_wedged_segment),
	{ NULL, NULL },
};
const char *tu_suite = "recovery";
