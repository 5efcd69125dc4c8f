/*
 * test_locks.c: the lock table in one process: names, modes, timeouts, a
 * full table, take-back of a released record, upgrade and downgrade,
 * lock_many, partitions, threads sharing a handle.  Across real processes:
 * test_lock_procs.c.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lockfix.h"
#include "testutil.h"

/* ---- single process ---------------------------------------------------- */

static void test_names_validated(void)
{
	prdshm_session *s;
	char big[300];

	tl_setup(64);
	s = tl_session("a");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(prdshm_lock(s, "", PRDSHM_EXCLUSIVE, 0, NULL), PRDSHM_ENAME);
	CU_ASSERT_EQUAL(prdshm_lock(s, big, PRDSHM_EXCLUSIVE, 0, NULL), PRDSHM_ENAME);
	big[255] = '\0';
	CU_ASSERT_EQUAL(prdshm_lock(s, big, PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "\x01\"quote\n", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "m", 7, 0, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_lock(s, "m", PRDSHM_SHARED, -5, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(s);
	tl_teardown();
}

static void test_held_and_not_held(void)
{
	prdshm_session *s;
	size_t n = 0;

	tl_setup(64);
	s = tl_session("a");
	CU_ASSERT_EQUAL(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, 0, "p1"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "r", PRDSHM_SHARED, 0, NULL), PRDSHM_EHELD);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "other"), PRDSHM_ENOTHELD);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "r"), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "r"), PRDSHM_ENOTHELD);
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "y", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock_all(s, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "x"), PRDSHM_ENOTHELD);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(s);
	tl_teardown();
}

static void test_shared_coexist_exclusive_busy(void)
{
	prdshm_session *a, *b, *c;
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	size_t n = 0;

	tl_setup(64);
	a = tl_session("a");
	b = tl_session("b");
	c = tl_session("c");
	CU_ASSERT_EQUAL(prdshm_lock(a, "r", PRDSHM_SHARED, 0, "pa"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(b, "r", PRDSHM_SHARED, 0, "pb"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(c, "r", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_lock_query(tl_seg, "r", 0, h, 4, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_STRING_EQUAL(h[0].agent_id, "a");
	CU_ASSERT_STRING_EQUAL(h[0].phase_id, "pa");
	CU_ASSERT_EQUAL(h[0].mode, PRDSHM_SHARED);
	CU_ASSERT_EQUAL(h[0].waiting, 0);
	CU_ASSERT_EQUAL(h[0].pid, getpid());
	CU_ASSERT_EQUAL(h[0].alive, 1);
	CU_ASSERT(h[0].since_ns > 0);
	/* Conflict query: what would block a SHARED request?  Nothing. */
	CU_ASSERT_EQUAL(prdshm_lock_query(tl_seg, "r", PRDSHM_SHARED, h, 4, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(prdshm_lock_query(tl_seg, "r", PRDSHM_EXCLUSIVE, h, 4, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(prdshm_unlock(a, "r"), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(b, "r"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(c, "r", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(a, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(a);
	prdshm_session_close(b);
	prdshm_session_close(c);
	tl_teardown();
}

static void test_timed_acquire_times_out_near_deadline(void)
{
	prdshm_session *a, *b;
	int64_t t0, dt;

	tl_setup(64);
	a = tl_session("a");
	b = tl_session("b");
	CU_ASSERT_EQUAL(prdshm_lock(a, "r", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(prdshm_lock(b, "r", PRDSHM_SHARED, 400, NULL), PRDSHM_ETIMEDOUT);
	dt = tu_now_ms() - t0;
	/* The contract: it returns at its deadline, not long after (±100 ms). */
	CU_ASSERT(dt >= 390 && dt <= 500);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(a);
	prdshm_session_close(b);
	tl_teardown();
}

static void test_table_full_message(void)
{
	prdshm_session *s;
	char name[32];

	tl_setup(8);
	s = tl_session("a");
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "res-%d", i);
		CU_ASSERT_EQUAL(prdshm_lock(s, name, PRDSHM_EXCLUSIVE, 0, NULL), 0);
	}
	CU_ASSERT_EQUAL(prdshm_lock(s, "res-8", PRDSHM_EXCLUSIVE, 0, NULL), PRDSHM_ELOCKFULL);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "lock table full (max_locks=8)");
	CU_ASSERT_EQUAL(prdshm_unlock(s, "res-3"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "res-8", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(s);
	tl_teardown();
}

/* prdshm_unlock() releases without the mutex, leaving the record for the
 * next mutex holder to collect: that garbage must never show, block, or
 * fill the table, and a hint must never release someone else's hold. */
static void test_release_without_mutex(void)
{
	prdshm_session *s, *t;
	prdshm_snapshot *snap = NULL;
	char name[32];
	size_t n = 0;

	tl_setup(8);
	s = tl_session("a");
	t = tl_session("b");
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "cycle-%d", i);
		CU_ASSERT_EQUAL(prdshm_lock(s, name, PRDSHM_EXCLUSIVE, 0, NULL), 0);
		CU_ASSERT_EQUAL(prdshm_unlock(s, name), 0);
	}
	CU_ASSERT_EQUAL(prdshm_snapshot_take(tl_seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->nlocks, 0);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(tl_healthy(), 0);

	/* a's hint for "x" outlives its hold; b now holds "x", likely in the
	 * very record a's hint names. */
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock_all(s, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(t, "x", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "x"), PRDSHM_ENOTHELD);
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_SHARED, 0, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_unlock(t, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(t, "x"), PRDSHM_ENOTHELD);

	/* A released SHARED hold no longer counts; the other one does. */
	CU_ASSERT_EQUAL(prdshm_lock(s, "y", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(t, "y", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "y"), 0);
	CU_ASSERT_EQUAL(prdshm_lock_query(tl_seg, "y", PRDSHM_EXCLUSIVE, NULL, 0, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(prdshm_lock(s, "y", PRDSHM_EXCLUSIVE, 0, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_unlock(t, "y"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "y", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(s);
	prdshm_session_close(t);
	tl_teardown();
}

/* A re-lock takes the released record back without the mutex only while it
 * is still that session's, in that mode, unused by anyone else. */
static void test_relock_takes_record_back(void)
{
	prdshm_session *s, *t, *s2;

	tl_setup(64);
	s = tl_session("a");
	t = tl_session("b");
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT(tl_held_alone_by("x", "a", PRDSHM_EXCLUSIVE, ""));
	CU_ASSERT_EQUAL(prdshm_lock(t, "x", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 0, NULL), PRDSHM_EHELD);
	CU_ASSERT_EQUAL(tl_healthy(), 0);

	/* b takes a's released record over: a's memory of it is stale. */
	CU_ASSERT_EQUAL(prdshm_unlock(s, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(t, "x", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "x"), PRDSHM_ENOTHELD);
	CU_ASSERT(tl_held_alone_by("x", "b", PRDSHM_EXCLUSIVE, ""));
	CU_ASSERT_EQUAL(prdshm_unlock(t, "x"), 0);

	/* Another mode, or a phase, goes the normal way and is recorded. */
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT(tl_held_alone_by("x", "a", PRDSHM_SHARED, ""));
	CU_ASSERT_EQUAL(prdshm_lock(t, "x", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(t, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_SHARED, 0, "ph"), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT(tl_held_alone_by("x", "a", PRDSHM_SHARED, ""));
	CU_ASSERT_EQUAL(prdshm_unlock(s, "x"), 0);

	/* A session opened after a's is closed (perhaps at the same
	 * address, in the same slot) is not a. */
	CU_ASSERT_EQUAL(prdshm_lock(s, "z", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "z"), 0);
	prdshm_session_close(s);
	s2 = tl_session("c");
	CU_ASSERT_EQUAL(prdshm_lock(s2, "z", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT(tl_held_alone_by("z", "c", PRDSHM_EXCLUSIVE, ""));
	CU_ASSERT_EQUAL(prdshm_lock(t, "z", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_unlock(s2, "z"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(t, "z", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(s2);
	prdshm_session_close(t);
	tl_teardown();
}

/* The thread's memory of its latest grant keeps names up to 64 bytes; a
 * longer one goes the normal way.  Both must lock, unlock and re-lock the
 * same, and a release must free the slot for unlock_all too. */
static void test_relock_name_lengths(void)
{
	prdshm_session *s, *t;
	prdshm_snapshot *snap = NULL;
	char name[80];

	tl_setup(64);
	s = tl_session("a");
	t = tl_session("b");
	for (size_t len = 63; len <= 66; len++) {
		memset(name, 'n', len);
		name[len] = '\0';
		CU_ASSERT_EQUAL(prdshm_lock(s, name, PRDSHM_EXCLUSIVE, 0, NULL), 0);
		CU_ASSERT_EQUAL(prdshm_unlock(s, name), 0);
		CU_ASSERT_EQUAL(prdshm_lock(s, name, PRDSHM_EXCLUSIVE, 0, NULL), 0);
		CU_ASSERT(tl_held_alone_by(name, "a", PRDSHM_EXCLUSIVE, ""));
		CU_ASSERT_EQUAL(prdshm_lock(t, name, PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
		/* Another name in between: the unlock finds the hold by hint. */
		CU_ASSERT_EQUAL(prdshm_lock(s, "other", PRDSHM_SHARED, 0, NULL), 0);
		CU_ASSERT_EQUAL(prdshm_unlock(s, name), 0);
		CU_ASSERT_EQUAL(prdshm_unlock(s, name), PRDSHM_ENOTHELD);
		CU_ASSERT_EQUAL(prdshm_lock(t, name, PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
		CU_ASSERT_EQUAL(prdshm_unlock(t, name), 0);
		CU_ASSERT_EQUAL(prdshm_unlock(s, "other"), 0);
	}
	/* Released holds are garbage that unlock_all collects with the rest:
	 * no resource is left in the table. */
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "y", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_unlock_all(s, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock_all(t, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_snapshot_take(tl_seg, 0, &snap), 0);
	if (snap)
		CU_ASSERT_EQUAL(snap->nlocks, 0);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(s);
	prdshm_session_close(t);
	tl_teardown();
}

/* One thread of a session upgrades while another releases the same hold:
 * the upgrade must not carry on with (or be granted on) a record that is
 * no longer the session's. */
struct upgrader {
	prdshm_session *s;
	int result;
};

static void *upgrade_thread(void *p)
{
	struct upgrader *u = p;

	u->result = prdshm_upgrade(u->s, "u", 10000);
	return NULL;
}

/* 1 once the resource "u" has an upgrading waiter (bounded: 10 s). */
static int upgrade_waiting(void)
{
	for (int64_t end = tu_now_ms() + 10000; tu_now_ms() < end; usleep(1000)) {
		prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
		size_t n = 0;

		if (prdshm_lock_query(tl_seg, "u", 0, h, 4, &n) != 0)
			return 0;
		for (size_t i = 0; i < n && i < 4; i++)
			if (h[i].waiting)
				return 1;
	}
	return 0;
}

static void test_upgrade_loses_hold_released_by_sibling(void)
{
	prdshm_session *s, *t;
	struct upgrader u;
	pthread_t th;

	tl_setup(64);
	s = tl_session("a");
	t = tl_session("b");
	CU_ASSERT_EQUAL(prdshm_lock(s, "u", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(t, "u", PRDSHM_SHARED, 0, NULL), 0);
	u = (struct upgrader){ s, 1 };
	pthread_create(&th, NULL, upgrade_thread, &u); /* waits for b's hold */
	CU_ASSERT_FATAL(upgrade_waiting());
	CU_ASSERT_EQUAL(prdshm_unlock(s, "u"), 0); /* the hold being upgraded */
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(u.result, PRDSHM_ENOTHELD);
	/* b still holds it, alone; a holds nothing. */
	CU_ASSERT_EQUAL(prdshm_lock(s, "u", PRDSHM_EXCLUSIVE, 0, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_upgrade(t, "u", 0), 0);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(s);
	prdshm_session_close(t);
	tl_teardown();
}

static void test_lock_many_all_or_nothing(void)
{
	prdshm_session *a, *b;
	const char *set[] = { "d", "a", "c", "b" };
	const char *dup[] = { "a", "a" };
	size_t failed = 99, n = 0;
	prdshm_holder h[2] = { PRDSHM_HOLDER_INIT };

	tl_setup(64);
	a = tl_session("a");
	b = tl_session("b");
	CU_ASSERT_EQUAL(prdshm_lock(b, "c", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock_many(a, set, 4, PRDSHM_EXCLUSIVE, PRDSHM_TRY, "p", &failed),
			PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(failed, 2);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(prdshm_lock_query(tl_seg, set[i], 0, h, 2, &n), 0);
		CU_ASSERT_EQUAL(n, strcmp(set[i], "c") == 0 ? 1 : 0);
	}
	CU_ASSERT_EQUAL(prdshm_unlock(b, "c"), 0);
	CU_ASSERT_EQUAL(prdshm_lock_many(a, set, 4, PRDSHM_EXCLUSIVE, 1000, "p", &failed), 0);
	CU_ASSERT_EQUAL(prdshm_lock(b, "b", PRDSHM_SHARED, 0, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_lock_many(b, dup, 2, PRDSHM_SHARED, 0, NULL, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(a);
	prdshm_session_close(b);
	tl_teardown();
}

static void test_upgrade_downgrade(void)
{
	prdshm_session *a, *b;
	prdshm_holder h[2] = { PRDSHM_HOLDER_INIT };
	size_t n = 0;

	tl_setup(64);
	a = tl_session("a");
	b = tl_session("b");
	CU_ASSERT_EQUAL(prdshm_upgrade(a, "r", 0), PRDSHM_ENOTHELD);
	CU_ASSERT_EQUAL(prdshm_lock(a, "r", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(b, "r", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_upgrade(a, "r", PRDSHM_TRY), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_upgrade(a, "r", 200), PRDSHM_ETIMEDOUT);
	/* The failed upgrade kept the SHARED hold. */
	CU_ASSERT_EQUAL(prdshm_lock_query(tl_seg, "r", 0, h, 2, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(prdshm_unlock(b, "r"), 0);
	CU_ASSERT_EQUAL(prdshm_upgrade(a, "r", PRDSHM_TRY), 0);
	CU_ASSERT_EQUAL(prdshm_lock(b, "r", PRDSHM_SHARED, 0, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(prdshm_downgrade(a, "r"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(b, "r", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock_query(tl_seg, "r", 0, h, 2, &n), 0);
	CU_ASSERT_EQUAL(h[0].mode, PRDSHM_SHARED);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(a);
	prdshm_session_close(b);
	tl_teardown();
}

static void test_large_table_partitions(void)
{
	prdshm_session *s;
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;
	char name[32];

	tl_setup(4096);
	prdshm_seg_info_get(tl_seg, &info);
	CU_ASSERT_EQUAL(info.nparts, 16);
	s = tl_session("a");
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "file-%d.c", i);
		CU_ASSERT_EQUAL(prdshm_lock(s, name, i % 2 ? PRDSHM_SHARED : PRDSHM_EXCLUSIVE, 0,
					    NULL),
				0);
	}
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	for (int i = 0; i < 3000; i += 2) {
		snprintf(name, sizeof(name), "file-%d.c", i);
		CU_ASSERT_EQUAL(prdshm_unlock(s, name), 0);
	}
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(s);
	tl_teardown();
}

/* ---- threads sharing one segment handle ------------------------------- */

struct thread_arg {
	long *counter;
	int n;
	int failures;
};

static void *increment_thread(void *p)
{
	struct thread_arg *t = p;
	prdshm_session *s = NULL;

	if (prdshm_session_open(tl_seg, NULL, 0, &s) != 0) {
		t->failures++;
		return NULL;
	}
	for (int i = 0; i < t->n; i++) {
		if (prdshm_lock(s, "counter", PRDSHM_EXCLUSIVE, 10000, NULL) != 0) {
			t->failures++;
			continue;
		}
		/* Relaxed atomics: TSan must see that the lock, not the
		 * atomicity, is what keeps the increments exact. */
		long v = __atomic_load_n(t->counter, __ATOMIC_RELAXED);
		__atomic_store_n(t->counter, v + 1, __ATOMIC_RELAXED);
		prdshm_unlock(s, "counter");
	}
	prdshm_session_close(s);
	return NULL;
}

static void test_threads_share_a_handle(void)
{
	pthread_t th[4];
	struct thread_arg args[4];
	long counter = 0;

	tl_setup(64);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){ .counter = &counter, .n = 2000 };
		pthread_create(&th[i], NULL, increment_thread, &args[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CU_ASSERT_EQUAL(args[i].failures, 0);
	}
	CU_ASSERT_EQUAL(counter, 8000);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	tl_teardown();
}

const tu_test tu_tests[] = {
	TU(test_names_validated),
	TU(test_held_and_not_held),
	TU(test_shared_coexist_exclusive_busy),
	TU(test_timed_acquire_times_out_near_deadline),
	TU(test_table_full_message),
	TU(test_release_without_mutex),
	TU(test_relock_takes_record_back),
	TU(test_relock_name_lengths),
	TU(test_upgrade_loses_hold_released_by_sibling),
	TU(test_lock_many_all_or_nothing),
	TU(test_upgrade_downgrade),
	TU(test_large_table_partitions),
	TU(test_threads_share_a_handle),
	{ NULL, NULL },
};
const char *tu_suite = "locks";
