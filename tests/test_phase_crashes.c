/*
 * test_phase_crashes.c: phases and their agents' deaths: dead holders,
 * several processes running one plan, killed claimers, repair after a crash
 * inside the phase mutex (and in the ready index), a distrusted segment,
 * inspection while a live process holds the phase mutex, agents' heartbeat
 * and log.
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
#include "plan/phases.h"
#include "lock/region.h"
#include "session/region.h"
#include "shm/segment.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Dead agents                                                              */

/* A holder that vanishes (abandoned session: its OFD lock is gone). */
static void test_dead_holder_found_by_claim(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tp_chain_plan(&cfg, 1);
	prdshm_session *ghost = tu_session(seg, "ghost"), *s = tu_session(seg, "s");
	prdshm_snapshot *snap = NULL;
	int32_t d;

	tp_claim_expect(ghost, "a");
	prdshm_session_abandon(ghost);
	CU_ASSERT_EQUAL(tp_healthy(seg), PRDSHM_EDEADOWNER);
	d = tp_claim_expect(s, "d");
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, d), 0);
	/* Nothing ready and a dead holder: the claim applies the rule. */
	CU_ASSERT_EQUAL(tp_claim_rc(s), PRDSHM_EDONE);
	ASSERT_STATUS(seg, "a", FAILED);
	ASSERT_STATUS(seg, "c", BLOCKED);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_STRING_EQUAL(tp_info_of(snap, "a")->message, "agent ghost died");
	CU_ASSERT_STRING_EQUAL(tp_info_of(snap, "a")->changed_by, "s");
	prdshm_snapshot_free(snap);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

static void test_dead_holder_requeued_by_reap(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tp_chain_plan(&cfg, 1);
	prdshm_session *ghost = tu_session(seg, "ghost"), *s;
	size_t n = 0;

	tp_claim_expect(ghost, "a");
	prdshm_session_abandon(ghost);
	CU_ASSERT_EQUAL(prdshm_reap(seg, 1, NULL, NULL, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	ASSERT_STATUS(seg, "a", QUEUED); /* requeue forced */
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	s = tu_session(seg, "s");
	tp_run_to_end(s);
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

	tp_base_config(&cfg, sched, 2, 1);
	for (int i = 0; i < NPHASES; i++) {
		char id[16], deps[32] = "";
		for (int k = 0; k < 2; k++) {
			if (dep_of(i, k) >= 0)
				snprintf(deps + strlen(deps), sizeof(deps) - strlen(deps), "p%d ",
					 dep_of(i, k));
		}
		snprintf(id, sizeof(id), "p%d", i);
		tp_plan_add(&cfg, id, 1 + i % 4, deps[0] ? deps : NULL);
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
		CU_ASSERT_EQUAL(tp_status_of(seg, cfg.phases[i].id), PRDSHM_PHASE_COMPLETED);
	}
	CU_ASSERT_EQUAL(atomic_load(&sh->order_errors), 0);
	CU_ASSERT(atomic_load(&sh->max_running) <= 2);
	CU_ASSERT(atomic_load(&sh->max_running) >= 1);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
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

/* The dead agent's slot is reaped separately from its phase; then the
 * segment is sound.  Close @p s and the segment. */
static void reap_then_destroy(prdshm_config *cfg, prdshm_seg *seg, prdshm_session *s)
{
	CU_ASSERT_EQUAL(prdshm_reap(seg, 0, NULL, NULL, NULL), 0);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(cfg, seg);
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
	prdshm_seg *seg = tp_chain_plan(&cfg, attempts);
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
	tp_run_to_end(s);
	if (attempts == 1) {
		ASSERT_STATUS(seg, "a", FAILED);
		ASSERT_STATUS(seg, "b", BLOCKED);
		ASSERT_STATUS(seg, "c", BLOCKED);
	} else {
		ASSERT_STATUS(seg, "a", COMPLETED);
		ASSERT_STATUS(seg, "c", COMPLETED);
	}
	ASSERT_STATUS(seg, "d", COMPLETED);
	reap_then_destroy(&cfg, seg, s);
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
	prdshm_seg *seg = tp_chain_plan(&cfg, 2);
	prdshm_session *s;
	pid_t pid;

	ca = (struct crash_arg){ cfg.shm_name, point };
	pid = tu_fork(crasher, &ca);
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 128 + SIGKILL);
	s = tu_session(seg, "survivor");
	tp_run_to_end(s); /* the first claim repairs */
	ASSERT_STATUS(seg, "a", COMPLETED);
	ASSERT_STATUS(seg, "c", COMPLETED);
	ASSERT_STATUS(seg, "d", COMPLETED);
	reap_then_destroy(&cfg, seg, s);
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
	prdshm_seg *seg = tp_chain_plan(&cfg, 2);
	struct prdshm__phase_region *reg = (struct prdshm__phase_region *)(void *)prdshm__plan(seg)->base;
	prdshm_session *s;
	pid_t pid;

	ca = (struct crash_arg){ cfg.shm_name, "phase_claim_agent" };
	pid = tu_fork(crasher, &ca);
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 128 + SIGKILL);
	/* Unlock without repair: the robust mutex becomes ENOTRECOVERABLE. */
	CU_ASSERT_EQUAL_FATAL(pthread_mutex_lock(&reg->mutex.m), EOWNERDEAD);
	pthread_mutex_unlock(&reg->mutex.m);
	s = tu_session(seg, "survivor");
	CU_ASSERT_EQUAL(tp_claim_rc(s), PRDSHM_ERECOVER);
	CU_ASSERT_EQUAL(prdshm_recover(seg, NULL, NULL), 0);
	tp_run_to_end(s);
	ASSERT_STATUS(seg, "c", COMPLETED);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* Corruption, inspection, agents                                           */

static void test_check_and_snapshot_distrust_segment(void)
{
	prdshm_config cfg;
	prdshm_snapshot *snap = NULL;
	prdshm_seg *seg = tp_chain_plan(&cfg, 1), *other = NULL;
	struct prdshm__phase *b = tp_phase_rec(seg, 1);
	struct prdshm__str saved = b->name;
	uint32_t saved_status = b->status, *dep;

	/* A status out of range is corruption. */
	b->status = 42;
	CU_ASSERT_EQUAL(tp_healthy(seg), PRDSHM_ECORRUPT);
	b->status = saved_status;
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	/* A string pointing outside the arena is copied bounded, and reported. */
	b->name.off = 0xfffffff0u;
	b->name.len = 1000;
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_STRING_EQUAL(tp_info_of(snap, "b")->name, "");
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(tp_healthy(seg), PRDSHM_ECORRUPT);
	b->name = saved;
	/* A dependency index out of range makes the segment unopenable. */
	dep = (uint32_t *)(void *)(prdshm__plan(seg)->base +
				   ((struct prdshm__phase_region *)(void *)prdshm__plan(seg)->base)->off_arena +
				   b->deps_off);
	*dep = 999;
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &other), PRDSHM_ECORRUPT);
	*dep = 0;
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &other), 0);
	prdshm_seg_close(other);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
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
	prdshm_seg *seg = tp_crash_plan(&cfg);
	prdshm_session *other = tu_session(seg, "other"), *s;
	unsigned char *before;
	size_t n = prdshm__plan(seg)->bytes;
	int32_t d = tp_claim_expect(other, "d"), i;
	pid_t pid;
	int r;

	cw = (struct crash_when){ cfg.shm_name, point, at_complete };
	pid = tu_fork(crash_completer, &cw);
	CU_ASSERT_EQUAL_FATAL(tu_wait_child(pid, 10000), 128 + SIGKILL);
	before = malloc(n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(before);
	memcpy(before, prdshm__plan(seg)->base, n);
	r = prdshm_check(seg, PRDSHM_SNAP_NOLOCK, NULL, NULL);
	CU_ASSERT(check_rc == 0 || r == check_rc);
	CU_ASSERT_EQUAL(memcmp(before, prdshm__plan(seg)->base, n), 0);
	free(before);
	s = tu_session(seg, "survivor");
	i = tp_claim_expect(s, next);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(s, i), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(other, d), 0);
	tp_run_to_end(s);
	ASSERT_STATUS(seg, "c", COMPLETED);
	CU_ASSERT_EQUAL(prdshm_reap(seg, 0, NULL, NULL, NULL), 0);
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
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
	reg = (struct prdshm__phase_region *)(void *)prdshm__plan(seg)->base;
	ready = (uint64_t *)(void *)(prdshm__plan(seg)->base + reg->off_ready);
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
	prdshm_seg *seg = tp_chain_plan(&cfg, 1);
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
	CU_ASSERT_EQUAL(tp_healthy(seg), 0);
	tu_destroy(&cfg, seg);
}

static void test_agent_heartbeat_and_log(void)
{
	prdshm_config cfg;
	prdshm_snapshot *snap = NULL;
	prdshm_seg *seg = tp_chain_plan(&cfg, 1);
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
	tp_claim_expect(s, "a");
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
	TU(test_crash_in_ready_bitmap),
	TU(test_crash_in_running_list),
	TU(test_crash_after_completion_status),
	TU(test_crash_telling_dependants),
	TU(test_crash_while_settling),
	TU(test_check_nolock_with_stopped_holder),
	{ NULL, NULL },
};
const char *tu_suite = "phase_crashes";
