/*
 * test_recovery.c: what happens after things went wrong: a segment marked
 * as needing recovery, holders killed inside a critical section, mutexes
 * left unrecoverable, torn agent slots, an unrepairable phase region, and
 * inspection of a segment whose mutexes are wedged.  Scribbled records:
 * test_scribbles.c.  (Recovery after a crash in the lock table is in
 * test_reliability.c: ThreadSanitizer, which runs this program, cannot
 * follow it.)
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

/* The robust mutexes a test can make owner-dead or unrecoverable. */
enum which_mutex { SESS_MUTEX, PART_MUTEX, PHASE_MUTEX };

static pthread_mutex_t *mutex_of(prdshm_seg *seg, enum which_mutex w)
{
	if (w == SESS_MUTEX)
		return &prdshm__sessions(seg)->mutex->m;
	if (w == PART_MUTEX)
		return &prdshm__locks(seg)->parts[0].mutex.m;
	return &((struct prdshm__phase_region *)(void *)prdshm__plan(seg)->base)->mutex.m;
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
static void make_owner_dead(struct tr_fx *f, enum which_mutex w)
{
	struct child_arg a = { .shm_name = f->cfg.shm_name, .which = w };

	CU_ASSERT_EQUAL_FATAL(tu_wait_child(tu_fork(die_holding, &a), 10000), 0);
}

/* Leave @p w unrecoverable: owner-dead, then unlocked without repair. */
static void make_unrecoverable(struct tr_fx *f, enum which_mutex w)
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
	struct tr_fx f;
	prdshm_session *s, *t = NULL;
	prdshm_snapshot *snap = NULL;
	struct tu_lines l;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	size_t n = 0;

	tr_fx_create(&f, "phases:\n  - id: a\n");
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
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), PRDSHM_ERECOVER);
	CU_ASSERT(tu_said(&l, "segment is marked as needing recovery"));
	/* Inspection still works and shows the mark. */
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(f.seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->seg.needs_recovery, 1);
	CU_ASSERT_EQUAL(snap->nlocks, 1);
	prdshm_snapshot_free(snap);

	CU_ASSERT_EQUAL(prdshm_recover(f.seg, NULL, NULL), 0);
	CU_ASSERT_EQUAL(tr_needs_recovery(f.seg), 0);
	CU_ASSERT_EQUAL(tu_holders(f.seg, "kept"), 1);
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
	t = tu_session(f.seg, "after");
	CU_ASSERT_EQUAL(prdshm_lock(t, "kept", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_phase_claim(s, &c), 0);
	CU_ASSERT_STRING_EQUAL(c.id, "a");
	prdshm_session_close(t);
	prdshm_session_close(s);
	tr_fx_destroy(&f);
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
	struct tr_fx f;
	struct prdshm__agent *a;
	prdshm_snapshot *snap = NULL;
	prdshm_session *s;
	struct tu_lines l;

	tr_fx_create(&f, NULL);
	make_owner_dead(&f, SESS_MUTEX);
	a = &prdshm__sessions(f.seg)->agents[3];
	a->state = 7;
	a->status = 9;
	a->used = 1;
	memset(a->id, 'x', sizeof(a->id)); /* no terminating NUL */

	CU_ASSERT_EQUAL(tr_check(f.seg, PRDSHM_SNAP_NOLOCK, &l), PRDSHM_ECORRUPT);
	CU_ASSERT(tu_said(&l, "agent slot 3: bad state 7"));
	CU_ASSERT(tu_said(&l, ": bad status 9"));

	s = tu_session(f.seg, "repairer");
	CU_ASSERT_EQUAL(a->state, PRDSHM__SLOT_FREE);
	CU_ASSERT_EQUAL(a->status, PRDSHM_AGENT_DEAD);
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(f.seg, 0, &snap), 0);
	CU_ASSERT_EQUAL_FATAL(snap->nagents, 2);
	CU_ASSERT_EQUAL(snap->agents[1].slot, 3);
	CU_ASSERT_EQUAL(strlen(snap->agents[1].id), PRDSHM_ID_MAX);
	CU_ASSERT_EQUAL(snap->agents[1].status, PRDSHM_AGENT_DEAD);
	prdshm_snapshot_free(snap);
	prdshm_session_close(s);
	tr_fx_destroy(&f);
}

/* ------------------------------------------------------------------------ */
/* Unrecoverable mutexes                                                    */

/* An unrecoverable sess_mutex: the first call that needs it marks the
 * segment (whichever call it is), and prdshm_recover() re-creates it. */
static void test_unrecoverable_session_mutex(void)
{
	struct tr_fx f;
	prdshm_session *s = NULL;
	struct tu_lines l;
	int r;

	tr_fx_create(&f, NULL);
	for (int round = 0; round < 2; round++) {
		make_unrecoverable(&f, SESS_MUTEX);
		/* CUnit's assertions are blocks: keep the call outside them. */
		if (round == 0)
			r = prdshm_session_open(f.seg, "x", 0, &s);
		else
			r = prdshm_reap(f.seg, 0, NULL, NULL, NULL);
		CU_ASSERT_EQUAL(r, PRDSHM_ERECOVER);
		CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "not recoverable"));
		CU_ASSERT_EQUAL(tr_needs_recovery(f.seg), 1);
		/* Marked: refused before the mutex is even tried. */
		CU_ASSERT_EQUAL(prdshm_session_open(f.seg, "x", 0, &s), PRDSHM_ERECOVER);
		CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "needs recovery"));
		CU_ASSERT_EQUAL(prdshm_reap(f.seg, 0, NULL, NULL, NULL), PRDSHM_ERECOVER);

		CU_ASSERT_EQUAL(prdshm_recover(f.seg, NULL, NULL), 0);
		CU_ASSERT_EQUAL(tr_needs_recovery(f.seg), 0);
		s = tu_session(f.seg, "x");
		CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
		prdshm_session_close(s);
	}
	tr_fx_destroy(&f);
}

/* An unrecoverable partition mutex: locks fail until recovery, and the
 * locks live sessions held before are still theirs afterwards. */
static void test_unrecoverable_partition_mutex(void)
{
	struct tr_fx f;
	prdshm_session *s;
	struct tu_lines l;

	tr_fx_create(&f, NULL);
	s = tu_session(f.seg, "holder");
	CU_ASSERT_EQUAL(prdshm_lock(s, "held", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	make_unrecoverable(&f, PART_MUTEX);
	CU_ASSERT_EQUAL(prdshm_lock(s, "new", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_ERECOVER);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "not recoverable"));
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), PRDSHM_ERECOVER);

	CU_ASSERT_EQUAL(prdshm_recover(f.seg, NULL, NULL), 0);
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
	CU_ASSERT_EQUAL(tu_holders(f.seg, "held"), 1);
	CU_ASSERT_EQUAL(prdshm_lock(s, "held", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EHELD);
	CU_ASSERT_EQUAL(prdshm_lock(s, "new", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	prdshm_session_close(s);
	tr_fx_destroy(&f);
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

/* prdshm_recover() itself, not a claimer, finds the phase mutex owner-dead
 * after a crash inside a claim: the dead claimer's run ends like any death
 * (one attempt allowed: FAILED, its dependant BLOCKED). */
static void test_recover_after_crash_in_claim(void)
{
	struct tr_fx f;
	struct child_arg a;
	prdshm_snapshot *snap = NULL;
	struct tu_lines l = { .len = 0 };

	tr_fx_create(&f, "phases:\n  - id: a\n  - id: b\n    dependencies: [a]\n");
	a = (struct child_arg){ .shm_name = f.cfg.shm_name };
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(crash_in_claim, &a), 10000), 128 + SIGKILL);
	CU_ASSERT_EQUAL(prdshm_recover(f.seg, tu_collect, &l), 0);
	CU_ASSERT(tu_said(&l, "phase a: agent crasher died"));
	CU_ASSERT(tu_said(&l, "agent crasher (slot 0"));
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(f.seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->phases[0].status, PRDSHM_PHASE_FAILED);
	CU_ASSERT_EQUAL(snap->phases[1].status, PRDSHM_PHASE_BLOCKED);
	CU_ASSERT_EQUAL(snap->agents[0].status, PRDSHM_AGENT_DEAD);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "");
	tr_fx_destroy(&f);
}

/* A status out of range cannot be guessed: the repair after the crash
 * fails, the segment is marked, and prdshm_recover() keeps the mark until
 * the region makes sense again. */
static void test_unrepairable_phase_region_stays_marked(void)
{
	struct tr_fx f;
	struct child_arg a;
	prdshm_session *s;
	prdshm_snapshot *snap = NULL;
	struct tu_lines l = { .len = 0 };
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	tr_fx_create(&f, "phases:\n  - id: a\n  - id: b\n    dependencies: [a]\n");
	a = (struct child_arg){ .shm_name = f.cfg.shm_name };
	s = tu_session(f.seg, "survivor");
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(crash_in_claim, &a), 10000), 128 + SIGKILL);
	CU_ASSERT_EQUAL(tp_phase_rec(f.seg, 0)->status, PRDSHM_PHASE_IN_PROGRESS);
	tp_phase_rec(f.seg, 0)->status = 42;

	CU_ASSERT_EQUAL(prdshm_phase_claim(s, &c), PRDSHM_ERECOVER);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(),
			       "repair after a crashed holder failed: run prdshm-cleanup");
	CU_ASSERT_EQUAL(tr_needs_recovery(f.seg), 1);
	CU_ASSERT_EQUAL(prdshm_recover(f.seg, tu_collect, &l), PRDSHM_ECORRUPT);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "phase 0: status 42 out of range");
	CU_ASSERT_EQUAL(tr_needs_recovery(f.seg), 1);
	CU_ASSERT_EQUAL(prdshm_phase_claim(s, &c), PRDSHM_ERECOVER);

	/* Once the status is one the repair can work with, recovery ends the
	 * dead claimer's run like any other death. */
	tp_phase_rec(f.seg, 0)->status = PRDSHM_PHASE_IN_PROGRESS;
	CU_ASSERT_EQUAL(prdshm_recover(f.seg, tu_collect, &l), 0);
	CU_ASSERT(tu_said(&l, "phase a: agent crasher died"));
	CU_ASSERT_EQUAL(tr_needs_recovery(f.seg), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(f.seg, 0, &snap), 0);
	CU_ASSERT_EQUAL_FATAL(snap->nphases, 2);
	CU_ASSERT_EQUAL(snap->phases[0].status, PRDSHM_PHASE_FAILED);
	CU_ASSERT_EQUAL(snap->phases[1].status, PRDSHM_PHASE_BLOCKED);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(prdshm_phase_claim(s, &c), PRDSHM_EDONE);
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
	prdshm_session_close(s);
	tr_fx_destroy(&f);
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
	struct tr_fx f;
	struct child_arg a;
	prdshm_session *s;
	prdshm_snapshot *snap = NULL;
	struct tu_lines l;
	pid_t pid;

	tr_fx_create(&f, "phases:\n  - id: a\n");
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
	CU_ASSERT_EQUAL(tr_check(f.seg, 0, &l), 0);
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
	tr_fx_destroy(&f);
}

const tu_test tu_tests[] = {
	TU(test_marked_segment_refuses_until_recovered),
	TU(test_null_segment),
	TU(test_torn_agent_slot_repaired_by_next_open),
	TU(test_unrecoverable_session_mutex),
	TU(test_unrecoverable_partition_mutex),
	TU(test_recover_after_crash_in_claim),
	TU(test_unrepairable_phase_region_stays_marked),
	TU(test_inspection_of_wedged_segment),
	{ NULL, NULL },
};
const char *tu_suite = "recovery";
