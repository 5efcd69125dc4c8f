/*
 * test_removal.c: removal only while unused, hostile names, and re-lock and
 * unlock without the partition mutex (docs/reliability.md).  None of these
 * kills or stops a process inside a critical section, so this program runs
 * under ThreadSanitizer; the tests that do are in test_reliability.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lock/region.h"
#include "session/region.h"
#include "shm/segment.h"
#include "testutil.h"

/* Names with control bytes, quotes and the longest lengths go through the
 * snapshot intact and never break a check. */
static void test_hostile_names(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tu_create(&cfg, 0600);
	prdshm_session *s = NULL;
	prdshm_snapshot *snap = NULL;
	char longest[PRDSHM_NAME_MAX + 1];
	const char *odd = "a\"b\\c\n\x01\x1b[31m\x7f\xff end";

	memset(longest, 'x', PRDSHM_NAME_MAX);
	longest[PRDSHM_NAME_MAX] = '\0';
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open(seg, "agent-\"q\"", 0, &s), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, odd, PRDSHM_EXCLUSIVE, PRDSHM_TRY, "ph\"1"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, longest, PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_session_open(seg, "bad id", 0, &(prdshm_session *){ NULL }),
			PRDSHM_ENAME);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->nlocks, 2);
	for (size_t i = 0; i < snap->nlocks; i++) {
		const prdshm_lock_info *l = &snap->locks[i];
		CU_ASSERT(l->resource_len == strlen(odd) || l->resource_len == PRDSHM_NAME_MAX);
		CU_ASSERT_EQUAL(strlen(l->resource), l->resource_len);
	}
	prdshm_snapshot_free(snap);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* ---- Removal only while unused ------------------------------------------ */

struct agent_pipes {
	const char *shm_name;
	int stop[2]; /* the child lives until EOF on stop[0] */
	int ready[2];
};

/* Child: a live agent until its parent closes the stop pipe. */
static int live_agent(void *arg)
{
	struct agent_pipes *ap = arg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;

	close(ap->stop[1]);
	s = tu_child_session(ap->shm_name, "busy-agent", &seg);
	tu_signal(ap->ready[1], 'r');
	while (tu_await(ap->stop[0], TU_HUNG_MS) >= 0)
		;
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	return 0;
}

static void test_unlink_unused_refuses_live_agents(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tu_create(&cfg, 0600), *again = NULL;
	prdshm_session *s = NULL;
	struct agent_pipes ap = { cfg.shm_name, { -1, -1 }, { -1, -1 } };
	pid_t agent;

	CU_ASSERT_FATAL(pipe(ap.stop) == 0 && pipe(ap.ready) == 0);
	agent = tu_fork(live_agent, &ap);
	CU_ASSERT_EQUAL_FATAL(tu_await(ap.ready[0], TU_HUNG_MS), 'r');

	/* Live agent: refused, named, and the segment is intact. */
	CU_ASSERT_EQUAL(prdshm_seg_unlink_unused(cfg.shm_name), PRDSHM_EINUSE);
	printf("  %s\n", prdshm_last_error());
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), ": busy-agent (pid "));
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "1 live agent uses /prdshm-t"));
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &again), 0);
	prdshm_seg_close(again);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);

	/* Our own session counts as live too. */
	close(ap.stop[1]);
	CU_ASSERT_EQUAL(tu_wait_child(agent, TU_HUNG_MS), 0);
	s = tu_session(seg, "me");
	CU_ASSERT_EQUAL(prdshm_seg_unlink_unused(cfg.shm_name), PRDSHM_EINUSE);
	prdshm_session_close(s);

	/* Unused: removed; a handle opened before may not add a session. */
	CU_ASSERT_EQUAL(prdshm_seg_unlink_unused(cfg.shm_name), 0);
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &again), PRDSHM_ENOENT);
	CU_ASSERT_EQUAL(prdshm_session_open(seg, "late", 0, &s), PRDSHM_ENOENT);
	CU_ASSERT_EQUAL(prdshm_seg_unlink_unused(cfg.shm_name), PRDSHM_ENOENT);
	close(ap.stop[0]);
	close(ap.ready[0]);
	close(ap.ready[1]);
	prdshm_seg_close(seg);
	prdshm_config_free(&cfg);
}

/* A dead agent does not keep the segment: it is removed. */
static void test_unlink_unused_ignores_dead_agents(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tu_create_with_plan(&cfg), *again = NULL;

	CU_ASSERT_EQUAL_FATAL(tu_wait_child(tu_fork(tu_die_in_phase, cfg.shm_name), TU_HUNG_MS), 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), PRDSHM_EDEADOWNER);
	CU_ASSERT_EQUAL(prdshm_seg_unlink_unused(cfg.shm_name), 0);
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &again), PRDSHM_ENOENT);
	prdshm_seg_close(seg);
	prdshm_config_free(&cfg);
}

/* ---- Re-lock and unlock without the partition mutex ---------------------- */

static struct {
	prdshm_session *s;
	int go[2], done[2]; /* main -> thread, thread -> main */
	int relock, unlock;
} nm;

/* Locks and unlocks "x", then, each time main says so, re-locks it and
 * unlocks it again, saying when each returned. */
static void *nm_thread(void *arg)
{
	nm.relock = prdshm_lock(nm.s, "x", PRDSHM_EXCLUSIVE, 0, NULL) ||
		    prdshm_unlock(nm.s, "x");
	tu_signal(nm.done[1], 'u');
	if (tu_await(nm.go[0], 10000) != 'l')
		return NULL;
	nm.relock = prdshm_lock(nm.s, "x", PRDSHM_EXCLUSIVE, 0, NULL);
	tu_signal(nm.done[1], 'l');
	if (tu_await(nm.go[0], 10000) != 'u')
		return NULL;
	nm.unlock = prdshm_unlock(nm.s, "x");
	tu_signal(nm.done[1], 'u');
	return NULL;
}

/* The thread's re-lock of the name it last locked, and its unlock, take no
 * mutex: both return while the partition mutex is held by someone else. */
static void test_relock_and_unlock_take_no_mutex(void)
{
	prdshm_config cfg;
	prdshm_seg *seg;
	prdshm_session *other = NULL;
	pthread_mutex_t *m;
	pthread_t th;

	tu_config(&cfg);
	cfg.max_locks = 64; /* one partition */
	seg = tu_seg_create(&cfg);
	nm.s = tu_session(seg, "a");
	other = tu_session(seg, "b");
	CU_ASSERT_FATAL(pipe(nm.go) == 0 && pipe(nm.done) == 0);
	m = &prdshm__locks(seg)->parts[0].mutex.m;
	nm.relock = nm.unlock = -1;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, nm_thread, NULL), 0);
	CU_ASSERT_EQUAL(tu_await(nm.done[0], 10000), 'u');
	CU_ASSERT_EQUAL(nm.relock, 0);

	CU_ASSERT_EQUAL(pthread_mutex_lock(m), 0);
	tu_signal(nm.go[1], 'l');
	CU_ASSERT_EQUAL(tu_await(nm.done[0], 5000), 'l');
	tu_signal(nm.go[1], 'u');
	CU_ASSERT_EQUAL(tu_await(nm.done[0], 5000), 'u');
	pthread_mutex_unlock(m); /* also lets a blocked thread go on, if it failed */
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(nm.relock, 0);
	CU_ASSERT_EQUAL(nm.unlock, 0);
	/* The re-lock held, the unlock let go. */
	CU_ASSERT_EQUAL(prdshm_lock(other, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
	for (int i = 0; i < 2; i++) {
		close(nm.go[i]);
		close(nm.done[i]);
	}
	prdshm_session_close(other);
	prdshm_session_close(nm.s);
	tu_destroy(&cfg, seg);
}

const tu_test tu_tests[] = {
	TU(test_hostile_names),
	TU(test_unlink_unused_refuses_live_agents),
	TU(test_unlink_unused_ignores_dead_agents),
	TU(test_relock_and_unlock_take_no_mutex),
	{ NULL, NULL },
};
const char *tu_suite = "removal";
