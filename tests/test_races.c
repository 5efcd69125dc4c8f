/*
 * test_races.c: races between whole-segment operations that a read of the
 * code found: two recoveries at once, a recovery mark set while a recovery
 * runs, and a deadlock check whose record was reused by another request of
 * the same session.
 *
 * Each race is staged with real processes stopped where the race opens
 * (PRDSHM_STOP_AT, test builds only), pipes for everything else, and
 * bounded waits.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ops/recovery.h"
#include "lock/region.h"
#include "session/region.h"
#include "shm/segment.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

/* One lock partition (max_locks below 256), deadlock checks after 50 ms. */
static prdshm_seg *create(prdshm_config *cfg)
{
	tu_config(cfg);
	cfg->max_locks = 64;
	cfg->deadlock_timeout_ms = 50;
	return tu_seg_create(cfg);
}

static uint32_t marked(prdshm_seg *seg)
{
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;

	CU_ASSERT_EQUAL(prdshm_seg_info_get(seg, &info), 0);
	return info.needs_recovery;
}

#define STOPPED (-2)

/* Wait at most @p ms for child @p pid to stop or end.  @return STOPPED,
 * its exit status, 128 + the signal that killed it, or -1 on timeout. */
static int stop_or_exit(pid_t pid, int ms)
{
	int64_t deadline = tu_now_ms() + ms;
	int status;

	while (tu_now_ms() < deadline) {
		pid_t r = waitpid(pid, &status, WUNTRACED | WNOHANG);

		if (r == pid && WIFSTOPPED(status))
			return STOPPED;
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0 && errno != EINTR)
			return -1;
		/* Polling: a stop has no descriptor to wait on. */
		usleep(1000);
	}
	return -1;
}

/* End a child that may be stopped, whatever it was doing, unless
 * stop_or_exit() returned @p st, its end (then it is reaped already). */
static void kill_child(pid_t pid, int st)
{
	if (st == STOPPED || st == -1) {
		kill(pid, SIGKILL);
		tu_wait_child(pid, TU_HUNG_MS);
	}
}

/* Leave partition 0's mutex unrecoverable: a child dies holding it, and
 * it is unlocked without repair (pthread_mutex_consistent). */
static void make_unrecoverable(prdshm_seg *seg)
{
	pthread_mutex_t *m = &prdshm__locks(seg)->parts[0].mutex.m;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(pthread_mutex_lock(m) == 0 ? 0 : 1);
	CU_ASSERT_EQUAL_FATAL(tu_wait_child(pid, TU_HUNG_MS), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_mutex_lock(m), EOWNERDEAD);
	pthread_mutex_unlock(m);
}

/* ------------------------------------------------------------------------ */
/* One recovery at a time                                                   */

struct recoverer {
	const char *shm_name;
	const char *stop_at; /* PRDSHM_STOP_AT, or NULL */
	int expect;          /* what prdshm_recover() must return */
	const char *says;    /* what its message must contain, or NULL */
};

/* Child: open the segment (a description of its own) and recover. */
static int recover_child(void *arg)
{
	const struct recoverer *rc = arg;
	prdshm_seg *seg = NULL;
	int r;

	TU_CHILD_ASSERT(prdshm_seg_open(rc->shm_name, &seg) == 0);
	if (rc->stop_at)
		setenv("PRDSHM_STOP_AT", rc->stop_at, 1);
	r = prdshm_recover(seg, NULL, NULL);
	printf("  recover: %s: %s\n", prdshm_err_name(r), r ? prdshm_last_error() : "");
	TU_CHILD_ASSERT(r == rc->expect);
	TU_CHILD_ASSERT(rc->says == NULL || strstr(prdshm_last_error(), rc->says) != NULL);
	prdshm_seg_close(seg);
	return 0;
}

/*
 * A recovery stopped where it found a mutex unrecoverable, just before it
 * re-creates it.  A second recovery must not get there too (it would
 * re-create the mutex under the first one's critical section, and both
 * would rebuild): it waits for the first, within its bound, and gives up
 * saying why.  The first then completes alone.
 */
static void test_one_recovery_at_a_time(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	struct recoverer first = { cfg.shm_name, "recover_mutex_init", 0, NULL };
	struct recoverer second = { cfg.shm_name, "recover_mutex_init", PRDSHM_ETIMEDOUT,
				    "another prdshm_recover() is still running" };
	prdshm_session *s = NULL;
	pid_t p1, p2;
	int st;

	make_unrecoverable(seg);
	p1 = tu_start_stopped(recover_child, &first, TU_HUNG_MS);
	p2 = tu_fork(recover_child, &second);
	st = stop_or_exit(p2, TU_HUNG_MS);
	/* STOPPED: two recoveries about to re-create the same mutex. */
	CU_ASSERT_EQUAL(st, 0);
	kill_child(p2, st);

	kill(p1, SIGCONT);
	CU_ASSERT_EQUAL(tu_wait_child(p1, TU_HUNG_MS), 0);
	CU_ASSERT_EQUAL(marked(seg), 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, NULL, NULL), 0);
	s = tu_session(seg, "after");
	CU_ASSERT_EQUAL(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* A recovery that blocks in the test hook (holding the recovery byte)
 * until told to go on.  Report callbacks cannot serve: they run once the
 * recovery is over. */
struct blocked {
	prdshm_seg *seg;
	int entered[2], go[2];
	int ncalls, r;
};

static void block_in_recovery(void *arg)
{
	struct blocked *b = arg;

	if (b->ncalls++ > 0)
		return;
	tu_signal(b->entered[1], 'r');
	tu_await(b->go[0], TU_HUNG_MS);
}

static void *recover_thread(void *arg)
{
	struct blocked *b = arg;

	b->r = prdshm_recover(b->seg, NULL, NULL);
	return NULL;
}

/* Child: take a lock and die without closing the session. */
static int die_holding_lock(void *arg)
{
	prdshm_session *s = tu_child_session((const char *)arg, "doomed", NULL);

	TU_CHILD_ASSERT(prdshm_lock(s, "held", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL) == 0);
	return 0;
}

/*
 * Two threads recovering through one prdshm_seg share its descriptor, and
 * an OFD lock belongs to the open file description: each recovery must
 * still lock out the other.  The first blocks in the test hook, before it
 * releases the dead session's lock; the second waits for it and gives up
 * within its bound.
 */
static void test_threads_sharing_a_handle_recover_one_at_a_time(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	struct blocked b = { .seg = seg };
	pthread_t th;
	int r;

	CU_ASSERT_EQUAL_FATAL(tu_wait_child(tu_fork(die_holding_lock, cfg.shm_name), TU_HUNG_MS), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(b.entered), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(b.go), 0);
	prdshm__recover_hook_arg = &b;
	prdshm__recover_hook = block_in_recovery;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, recover_thread, &b), 0);
	CU_ASSERT_EQUAL_FATAL(tu_await(b.entered[0], TU_HUNG_MS), 'r');

	r = prdshm_recover(seg, NULL, NULL);
	printf("  second recover: %s: %s\n", prdshm_err_name(r), prdshm_last_error());
	CU_ASSERT_EQUAL(r, PRDSHM_ETIMEDOUT);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "another prdshm_recover()"));
	tu_signal(b.go[1], 'g');
	pthread_join(th, NULL);
	prdshm__recover_hook = NULL;
	CU_ASSERT_EQUAL(b.r, 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, NULL, NULL), 0);
	for (int i = 0; i < 2; i++) {
		close(b.entered[i]);
		close(b.go[i]);
	}
	tu_destroy(&cfg, seg);
}

/* A recoverer that dies (SIGKILL) holding the recovery byte lets the next
 * one in at once: the byte goes with its descriptors. */
static void test_dead_recoverer_releases_recovery(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	struct recoverer first = { cfg.shm_name, "recover_mutex_init", 0, NULL };
	pid_t p1;

	make_unrecoverable(seg);
	p1 = tu_start_stopped(recover_child, &first, TU_HUNG_MS);
	kill_child(p1, STOPPED);
	CU_ASSERT_EQUAL(prdshm_recover(seg, NULL, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, NULL, NULL), 0);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* A mark set while a recovery runs                                         */

/* Make the library itself mark the segment, as a lock call of another
 * process does when it finds a free list corrupt: the head of the free
 * record list is scribbled as HELD, and a new lock allocates it. */
static void mark_by_corrupt_free_list(prdshm_seg *seg, prdshm_session *s)
{
	struct prdshm__rec *r = &prdshm__locks(seg)->recs[prdshm__locks(seg)->parts[0].free_rec];

	__atomic_store_n(&r->state, r->state | PRDSHM__REC_HELD, __ATOMIC_SEQ_CST);
	CU_ASSERT_EQUAL(prdshm_lock(s, "new", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL),
			PRDSHM_ERECOVER);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "free list corrupt"));
}

/*
 * A recovery of a sound segment is stopped after it started; meanwhile a
 * lock call marks the segment.  The recovery must not clear a mark it did
 * not see: it says so, and the segment stays marked until a recovery that
 * starts after the mark.
 */
static void test_mark_set_during_recovery_stays(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	struct recoverer rc = { cfg.shm_name, "recover_begin", PRDSHM_ERECOVER,
				"marked as needing recovery while this recovery ran" };
	prdshm_session *s = NULL;
	pid_t pid;

	s = tu_session(seg, "marker");
	pid = tu_start_stopped(recover_child, &rc, TU_HUNG_MS);
	mark_by_corrupt_free_list(seg, s);
	CU_ASSERT_EQUAL(marked(seg), 1);
	kill(pid, SIGCONT);
	CU_ASSERT_EQUAL(tu_wait_child(pid, TU_HUNG_MS), 0);
	CU_ASSERT_EQUAL(marked(seg), 1);

	CU_ASSERT_EQUAL(prdshm_recover(seg, NULL, NULL), 0);
	CU_ASSERT_EQUAL(marked(seg), 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, NULL, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "new", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/*
 * The same on a segment already marked when the recovery starts: a second
 * mark (an operation of another process that passed the mark check before
 * the first mark, and whose repair failed) must survive too, although the
 * segment was marked before and after.  A flag cleared by compare-and-swap
 * from "marked" would lose it.
 */
static void test_second_mark_during_recovery_stays(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	struct recoverer rc = { cfg.shm_name, "recover_begin", PRDSHM_ERECOVER,
				"marked as needing recovery while this recovery ran" };
	pid_t pid;

	prdshm__mark_recovery(seg->hdr);
	pid = tu_start_stopped(recover_child, &rc, TU_HUNG_MS);
	prdshm__mark_recovery(seg->hdr);
	kill(pid, SIGCONT);
	CU_ASSERT_EQUAL(tu_wait_child(pid, TU_HUNG_MS), 0);
	CU_ASSERT_EQUAL(marked(seg), 1);
	CU_ASSERT_EQUAL(prdshm_recover(seg, NULL, NULL), 0);
	CU_ASSERT_EQUAL(marked(seg), 0);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* A deadlock check of a reused record                                      */

/*
 * The threads of one session are played by forked children that keep the
 * parent's session handle, so that each can be stopped on its own (a
 * SIGSTOP stops every thread of a process).  Real programs must not do
 * this (prdshm.h, fork); here it is the same session, the same records.
 */
struct sibling {
	prdshm_session *s;
	const char *what; /* "lock" or "upgrade" */
	const char *res;
};

/* Child: wait for @p res, stopped when the wait's deadlock check is due. */
static int sibling_waits(void *arg)
{
	const struct sibling *sb = arg;
	int r;

	setenv("PRDSHM_STOP_AT", "deadlock_check", 1);
	if (strcmp(sb->what, "lock") == 0)
		r = prdshm_lock(sb->s, sb->res, PRDSHM_EXCLUSIVE, TU_HUNG_MS, NULL);
	else
		r = prdshm_upgrade(sb->s, sb->res, TU_HUNG_MS);
	printf("  %s %s: %s: %s\n", sb->what, sb->res, prdshm_err_name(r),
	       r ? prdshm_last_error() : "");
	return r == PRDSHM_EDEADLK ? 2 : 3;
}

struct other {
	const char *shm_name;
	int cmd[2], ack[2];
};

/* Child, session "other": hold "x"; on 'z' take "z" SHARED; on 'u' upgrade
 * it, stopped when that wait's deadlock check is due. */
static int other_session(void *arg)
{
	struct other *o = arg;
	prdshm_session *t = tu_child_session(o->shm_name, "other", NULL);

	TU_CHILD_ASSERT(prdshm_lock(t, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL) == 0);
	tu_signal(o->ack[1], 'x');
	TU_CHILD_ASSERT(tu_await(o->cmd[0], TU_HUNG_MS) == 'z');
	TU_CHILD_ASSERT(prdshm_lock(t, "z", PRDSHM_SHARED, PRDSHM_TRY, NULL) == 0);
	tu_signal(o->ack[1], 'z');
	TU_CHILD_ASSERT(tu_await(o->cmd[0], TU_HUNG_MS) == 'u');
	setenv("PRDSHM_STOP_AT", "deadlock_check", 1);
	prdshm_upgrade(t, "z", TU_HUNG_MS);
	return 1; /* not reached before the parent kills it */
}

/* The records of session slot @p slot (one partition), and the last one
 * found in *@p last. */
static uint32_t records_of(prdshm_seg *seg, uint32_t slot, uint32_t *last)
{
	uint32_t n = 0;

	*last = PRDSHM__NIL;
	for (uint32_t i = 0; i < prdshm__locks(seg)->recs_per_part; i++) {
		const struct prdshm__rec *r = &prdshm__locks(seg)->recs[i];

		if (prdshm__rec_state(r) != PRDSHM__REC_FREE && r->sess == slot) {
			*last = i;
			n++;
		}
	}
	return n;
}

/* The session slot of the agent named @p id. */
static uint32_t slot_of(prdshm_seg *seg, const char *id)
{
	for (uint32_t i = 0; i < prdshm__sessions(seg)->max_agents; i++)
		if (prdshm__sessions(seg)->agents[i].state == PRDSHM__SLOT_ACTIVE && strcmp(prdshm__sessions(seg)->agents[i].id, id) == 0)
			return i;
	return PRDSHM__NIL;
}

/*
 * Thread A of session S waits for "x" (held by session T); its deadlock
 * check is due.  Before it runs, thread B of S releases everything
 * (prdshm_unlock_all, A's request included), takes "z" SHARED in the very
 * record A's request had, and waits to upgrade it, in a real cycle with T
 * (T holds "z" SHARED and waits to upgrade it too).  A's check must see
 * that the record is no longer its request: it leaves B's upgrade alone
 * and A's request starts over.  Identified without the use count, it finds
 * B's cycle, withdraws B's upgrade and fails A with PRDSHM_EDEADLK.
 */
static void test_deadlock_check_skips_reused_record(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	struct other o = { .shm_name = cfg.shm_name };
	prdshm_session *s = NULL;
	struct sibling a, b;
	pid_t pt, pa, pb;
	uint32_t slot, ri, rz;
	int st;

	CU_ASSERT_EQUAL_FATAL(pipe(o.cmd), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(o.ack), 0);
	pt = tu_fork(other_session, &o);
	CU_ASSERT_EQUAL_FATAL(tu_await(o.ack[0], TU_HUNG_MS), 'x');
	s = tu_session(seg, "S");
	slot = slot_of(seg, "S");

	a = (struct sibling){ s, "lock", "x" };
	pa = tu_start_stopped(sibling_waits, &a, TU_HUNG_MS);
	CU_ASSERT_EQUAL_FATAL(records_of(seg, slot, &ri), 1);

	/* B: A's request goes, and "z" takes its record. */
	CU_ASSERT_EQUAL(prdshm_unlock_all(s, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_lock(s, "z", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(records_of(seg, slot, &rz), 1);
	CU_ASSERT_EQUAL_FATAL(rz, ri);
	tu_signal(o.cmd[1], 'z');
	CU_ASSERT_EQUAL_FATAL(tu_await(o.ack[0], TU_HUNG_MS), 'z');
	tu_signal(o.cmd[1], 'u');
	CU_ASSERT_FATAL(tu_await_stopped(pt, TU_HUNG_MS));
	b = (struct sibling){ s, "upgrade", "z" };
	pb = tu_start_stopped(sibling_waits, &b, TU_HUNG_MS);
	CU_ASSERT_FATAL(prdshm__locks(seg)->recs[ri].flags & PRDSHM__REC_UPGRADING);

	/* A's check runs now, with B and T stopped before theirs. */
	kill(pa, SIGCONT);
	st = stop_or_exit(pa, TU_HUNG_MS);
	/* 2: A failed with PRDSHM_EDEADLK for B's cycle.  STOPPED: its
	 * request started over and its next check is due. */
	CU_ASSERT_EQUAL(st, STOPPED);
	CU_ASSERT(prdshm__locks(seg)->recs[ri].flags & PRDSHM__REC_UPGRADING);
	CU_ASSERT_EQUAL(records_of(seg, slot, &rz), 2); /* "z", and A's new "x" */

	kill_child(pa, st);
	kill_child(pb, STOPPED);
	kill_child(pt, STOPPED);
	for (int i = 0; i < 2; i++) {
		close(o.cmd[i]);
		close(o.ack[i]);
	}
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

const tu_test tu_tests[] = {
	TU(test_one_recovery_at_a_time),
	TU(test_threads_sharing_a_handle_recover_one_at_a_time),
	TU(test_dead_recoverer_releases_recovery),
	TU(test_mark_set_during_recovery_stays),
	TU(test_second_mark_during_recovery_stays),
	TU(test_deadlock_check_skips_reused_record),
	{ NULL, NULL },
};
const char *tu_suite = "races";
