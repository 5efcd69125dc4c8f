/*
 * test_reliability.c: the tests that stop or kill a process inside a
 * critical section and then meet its mutex with a bounded wait: no hang on
 * a wedged segment, recovery after a crash in the lock table, and a
 * wake-up lost to a killed sleeper (docs/reliability.md).  They do not run
 * under ThreadSanitizer, which does not model a robust mutex handed over
 * with EOWNERDEAD by pthread_mutex_timedlock(), and whose builds wait on
 * segment mutexes in one unbounded sleep (lib/shm/robust.c).  Removal only
 * while unused and hostile names are in test_removal.c; permissions and
 * trust in test_trust.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lock/region.h"
#include "session/region.h"
#include "shm/segment.h"
#include "testutil.h"

/* ---- No hang on a wedged segment ---------------------------------------- */

struct bounded_call {
	const char *shm_name;
	const char *what;     /* "reap", "recover" or "unlink" */
	const char *mutex;    /* the mutex the message must name */
	pid_t holder;
	uint32_t marked;      /* the recovery mark, before and after */
};

/* Child: the call must give up with PRDSHM_ETIMEDOUT and a message naming
 * the mutex and its live, stopped holder.  Run in a child so that a hang
 * fails the test instead of the program. */
static int call_gives_up(void *arg)
{
	const struct bounded_call *bc = arg;
	prdshm_seg *seg = NULL;
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;
	char holder[64];
	int r;

	TU_CHILD_ASSERT(prdshm_seg_open(bc->shm_name, &seg) == 0);
	if (strcmp(bc->what, "reap") == 0)
		r = prdshm_reap(seg, 0, NULL, NULL, NULL);
	else if (strcmp(bc->what, "recover") == 0)
		r = prdshm_recover(seg, NULL, NULL);
	else
		r = prdshm_seg_unlink_unused(bc->shm_name);
	printf("  %s: %s: %s\n", bc->what, prdshm_err_name(r), prdshm_last_error());
	TU_CHILD_ASSERT(r == PRDSHM_ETIMEDOUT);
	TU_CHILD_ASSERT(strstr(prdshm_last_error(), bc->mutex) != NULL);
	snprintf(holder, sizeof(holder), "thread %d (alive, stopped)", (int)bc->holder);
	TU_CHILD_ASSERT(strstr(prdshm_last_error(), holder) != NULL);
	/* Giving up leaves the mark as it was: a sound segment stays usable by
	 * the live agents, a marked one stays refused. */
	TU_CHILD_ASSERT(prdshm_seg_info_get(seg, &info) == 0 && info.needs_recovery == bc->marked);
	prdshm_seg_close(seg);
	return 0;
}

/* Start prdshm-cleanup --name @p shm_name, its stderr into @p err_path. */
static pid_t start_cleanup(const char *shm_name, const char *err_path)
{
	char tool[600];
	pid_t pid;

	snprintf(tool, sizeof(tool), "%s/prdshm-cleanup", tu_bindir());
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(99);
		execl(tool, tool, "-q", "--name", shm_name, (char *)NULL);
		_exit(98);
	}
	return pid;
}

static int file_contains(const char *path, const char *needle)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	printf("  prdshm-cleanup said: %s", buf);
	return strstr(buf, needle) != NULL;
}

/* What every wedge test checks while the holder is stopped, then after it
 * is killed: reap, recover, (removal) and the cleanup tool give up within
 * the bound (the tool with exit status 1, documented), then all succeed.
 * The bounded calls run at once, each in its own process. */
static void check_wedged_then_killed(prdshm_config *cfg, prdshm_seg *seg, pid_t holder,
				     const char *mutex, int try_unlink)
{
	static const char *const calls[] = { "reap", "recover", "unlink" };
	struct bounded_call bc[3];
	pid_t pid[3], tool;
	char err_path[128];
	size_t nreaped = 0;
	int n = try_unlink ? 3 : 2;

	snprintf(err_path, sizeof(err_path), "/tmp/prdshm-rel-%ld.err", (long)getpid());
	for (int i = 0; i < n; i++) {
		bc[i] = (struct bounded_call){ cfg->shm_name, calls[i], mutex, holder, 0 };
		pid[i] = tu_fork(call_gives_up, &bc[i]);
	}
	tool = start_cleanup(cfg->shm_name, err_path);
	for (int i = 0; i < n; i++)
		CU_ASSERT_EQUAL(tu_wait_child(pid[i], TU_HUNG_MS), 0);
	CU_ASSERT_EQUAL(tu_wait_child(tool, TU_HUNG_MS), 1);
	CU_ASSERT(file_contains(err_path, mutex));

	/* The holder dies inside its critical section: the mutex is handed
	 * over with EOWNERDEAD and repaired, and recovery goes through. */
	TU_KILL_CHILD(holder, TU_HUNG_MS);
	CU_ASSERT_EQUAL(prdshm_reap(seg, 0, NULL, NULL, &nreaped), 0);
	CU_ASSERT_EQUAL(prdshm_recover(seg, NULL, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
	CU_ASSERT_EQUAL(tu_wait_child(start_cleanup(cfg->shm_name, err_path), TU_HUNG_MS), 0);
	unlink(err_path);
}

/* A live process stopped inside a lock-partition critical section. */
static void test_no_hang_on_stopped_partition_holder(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tu_create(&cfg, 0600);
	pid_t holder = tu_start_stopped(tu_stop_in_lock, cfg.shm_name, TU_HUNG_MS);
	prdshm_session *s;

	check_wedged_then_killed(&cfg, seg, holder, "lock partition ", 0);
	/* The table works on: the resource the holder was taking is free. */
	s = tu_session(seg, "after");
	CU_ASSERT_EQUAL(prdshm_lock(s, "res", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* A live process stopped while reaping, holding the session mutex (and
 * the phase mutex): removal is bounded too. */
static void test_no_hang_on_stopped_session_holder(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tu_create_with_plan(&cfg);
	prdshm_snapshot *snap = NULL;
	pid_t holder;

	CU_ASSERT_EQUAL_FATAL(tu_wait_child(tu_fork(tu_die_in_phase, cfg.shm_name), TU_HUNG_MS), 0);
	holder = tu_start_stopped(tu_stop_in_reap, cfg.shm_name, TU_HUNG_MS);
	check_wedged_then_killed(&cfg, seg, holder, "session mutex", 1);
	/* The dead agent's phase was failed once, by whichever repair. */
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->nphases, 1);
	CU_ASSERT_EQUAL(snap->phases[0].status, PRDSHM_PHASE_FAILED);
	prdshm_snapshot_free(snap);
	tu_destroy(&cfg, seg);
}

/* A marked segment makes prdshm-cleanup run the full recovery: it gives up
 * as well, with the same exit status (1, not 4: nothing is corrupt). */
/* Wait at most @p ms until a recovery holds @p seg's recovery byte (an OFD
 * lock of another description than ours).  @return 1 if one does. */
static int recovery_running(prdshm_seg *seg, int ms)
{
	int64_t deadline = tu_now_ms() + ms;

	while (tu_now_ms() < deadline) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
				    .l_start = PRDSHM__RECOVER_BYTE, .l_len = 1 };

		if (fcntl(seg->fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
			return 1;
		usleep(1000); /* a lock has no descriptor to wait on */
	}
	return 0;
}

static void test_no_hang_recovering_a_marked_segment(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tu_create(&cfg, 0600);
	struct bounded_call bc = { cfg.shm_name, "recover", "lock partition ", 0, 1 };
	char err_path[128];
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;
	pid_t caller, tool;

	snprintf(err_path, sizeof(err_path), "/tmp/prdshm-rel-%ld.err", (long)getpid());
	bc.holder = tu_start_stopped(tu_stop_in_lock, cfg.shm_name, TU_HUNG_MS);
	/* What a failed repair leaves behind. */
	__atomic_store_n(&seg->hdr->needs_recovery, 1, __ATOMIC_RELEASE);
	caller = tu_fork(call_gives_up, &bc);
	/* One recovery at a time: the tool starts once the caller's runs, so
	 * that the caller meets the stopped holder itself.  (The tool gives up
	 * too, waiting for the caller or for the holder.) */
	CU_ASSERT(recovery_running(seg, TU_HUNG_MS));
	tool = start_cleanup(cfg.shm_name, err_path);
	CU_ASSERT_EQUAL(tu_wait_child(caller, TU_HUNG_MS), 0);
	CU_ASSERT_EQUAL(tu_wait_child(tool, TU_HUNG_MS), 1);
	CU_ASSERT(file_contains(err_path, "recover: "));

	TU_KILL_CHILD(bc.holder, TU_HUNG_MS);
	CU_ASSERT_EQUAL(tu_wait_child(start_cleanup(cfg.shm_name, err_path), TU_HUNG_MS), 0);
	CU_ASSERT_EQUAL(prdshm_seg_info_get(seg, &info), 0);
	CU_ASSERT_EQUAL(info.needs_recovery, 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
	unlink(err_path);
	tu_destroy(&cfg, seg);
}

/* ---- A crash in the lock table, recovered ------------------------------- */

struct crash_arg {
	const char *shm_name;
	const char *crash_at;
};

/* Holds "keep", then walks into the crash point while creating "victim". */
static int crash_in_lock_table(void *p)
{
	struct crash_arg *a = p;
	prdshm_session *s = tu_child_session(a->shm_name, "crasher", NULL);

	TU_CHILD_ASSERT(prdshm_lock(s, "keep", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL) == 0);
	setenv("PRDSHM_CRASH_AT", a->crash_at, 1);
	prdshm_lock(s, "victim", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL);
	return 3; /* the crash point was not reached */
}

/* prdshm_recover() itself, not a locker, finds the partition mutex
 * owner-dead (its bounded wait takes it): it rebuilds the partition and
 * frees the dead agent's locks. */
static void test_recover_after_crash_in_lock_table(void)
{
	static const char *const points[] = { "slot_alloc", "lock_link" };

	for (size_t k = 0; k < sizeof(points) / sizeof(points[0]); k++) {
		prdshm_config cfg;
		prdshm_seg *seg;
		struct crash_arg a = { .crash_at = points[k] };
		prdshm_snapshot *snap = NULL;
		prdshm_session *s = NULL;
		struct tu_lines l = { .len = 0 };

		tu_config(&cfg);
		cfg.max_locks = 64; /* one partition */
		seg = NULL;
		seg = tu_seg_create(&cfg);
		a.shm_name = cfg.shm_name;
		CU_ASSERT_EQUAL(tu_wait_child(tu_fork(crash_in_lock_table, &a), 10000),
				128 + SIGKILL);

		/* The repair of the owner-dead mutex only rebuilds: the
		 * reported sweep releases "keep" and says so. */
		CU_ASSERT_EQUAL(prdshm_recover(seg, tu_collect, &l), 0);
		CU_ASSERT(tu_said(&l, "released lock records of dead agents on 'keep'"));
		CU_ASSERT(tu_said(&l, "agent crasher (slot 0"));
		CU_ASSERT(tu_said(&l, "is dead"));
		CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
		CU_ASSERT_EQUAL(tu_holders(seg, "keep"), 0);
		s = tu_session(seg, "next");
		CU_ASSERT_EQUAL(prdshm_lock(s, "keep", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
		CU_ASSERT_EQUAL(prdshm_lock(s, "victim", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
		CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
		CU_ASSERT_EQUAL_FATAL(snap->nagents, 2);
		CU_ASSERT_STRING_EQUAL(snap->agents[0].id, "crasher");
		CU_ASSERT_EQUAL(snap->agents[0].status, PRDSHM_AGENT_DEAD);
		CU_ASSERT_EQUAL(snap->agents[0].alive, 0);
		CU_ASSERT_EQUAL(snap->nlocks, 2);
		prdshm_snapshot_free(snap);
		prdshm_session_close(s);
		tu_destroy(&cfg, seg);
	}
}

/* ---- A wake-up lost to a killed sleeper ---------------------------------- */

/* 1 once process @p pid sleeps in the futex system call, on @p addr unless
 * it is NULL (/proc/PID/syscall: number, then arguments; bounded:
 * @p timeout_ms). */
static int await_futex_sleep(pid_t pid, const void *addr, int timeout_ms)
{
	char path[64], line[256];

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	for (int64_t end = tu_now_ms() + timeout_ms; tu_now_ms() < end;) {
		FILE *f = fopen(path, "re");
		long nr = -1;
		unsigned long a0 = 0;

		if (f && fgets(line, sizeof(line), f) && sscanf(line, "%ld %lx", &nr, &a0) == 2 &&
		    nr == SYS_futex && (addr == NULL || a0 == (unsigned long)(uintptr_t)addr)) {
			fclose(f);
			return 1;
		}
		if (f)
			fclose(f);
		/* Polling: a sleep in the kernel has no descriptor to wait on. */
		usleep(1000);
	}
	return 0;
}

/* Run on CPU 0 only, after the parent (SCHED_IDLE): a woken child then
 * cannot run while the parent has work, so the parent decides the order. */
static void behind_parent(void)
{
	struct sched_param sp = { 0 };

	TU_CHILD_ASSERT(sched_setscheduler(0, SCHED_IDLE, &sp) == 0);
}

static struct {
	const char *shm_name;
	int up[2];
} lw;

/* Locks "x" (which the parent's session holds) and says when granted. */
static int lw_locker(void *arg)
{
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;

	behind_parent();
	s = tu_child_session(lw.shm_name, "locker", &seg);
	TU_CHILD_ASSERT(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 20000, NULL) == 0);
	tu_signal(lw.up[1], 'g');
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	return 0;
}

/* Sleeps on the partition mutex, as any process of the table could. */
static int lw_sleeper(void *arg)
{
	pthread_mutex_t *m = arg;

	behind_parent();
	pthread_mutex_lock(m);
	pthread_mutex_unlock(m);
	return 0;
}

/*
 * A glibc robust mutex loses a wake-up when the sleeper an unlock woke is
 * SIGKILLed before it takes the mutex while another process took it first:
 * the kernel passes the wake-up on only if the lock word is 0 by then, and
 * the other process's unlock sees no sleepers.  A request sleeping on the
 * partition mutex behind that sleeper must still get through: the library
 * sleeps on its mutexes in bounded slices (lib/shm/robust.c).  (This is what
 * made the torture's probe time out now and then.)
 */
static void test_mutex_wakeup_lost_to_killed_sleeper(void)
{
	prdshm_config cfg;
	prdshm_seg *seg;
	prdshm_session *holder = NULL;
	pthread_mutex_t *m;
	cpu_set_t cpu0;
	pid_t sleeper, locker;

	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	CU_ASSERT_EQUAL_FATAL(sched_setaffinity(0, sizeof(cpu0), &cpu0), 0);
	tu_config(&cfg);
	cfg.max_locks = 64; /* one partition */
	seg = tu_seg_create(&cfg);
	holder = tu_session(seg, "holder");
	CU_ASSERT_EQUAL_FATAL(prdshm_lock(holder, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_FATAL(pipe(lw.up) == 0);
	lw.shm_name = cfg.shm_name;
	m = &prdshm__locks(seg)->parts[0].mutex.m;

	/* The sleeper queues on the mutex first, then the locker. */
	CU_ASSERT_EQUAL_FATAL(pthread_mutex_lock(m), 0);
	sleeper = tu_fork(lw_sleeper, m);
	CU_ASSERT_FATAL(await_futex_sleep(sleeper, m, 10000));
	locker = tu_fork(lw_locker, NULL);
	/* (On the same mutex, through its own mapping: the locker cannot go
	 * further than the partition mutex while the parent holds it.) */
	CU_ASSERT_FATAL(await_futex_sleep(locker, NULL, 10000));
	/* The unlock wakes the sleeper; the parent takes the mutex before it
	 * runs, and it dies before it can take it. */
	pthread_mutex_unlock(m);
	CU_ASSERT_EQUAL(pthread_mutex_lock(m), 0);
	TU_KILL_CHILD(sleeper, 10000);
	pthread_mutex_unlock(m); /* wakes no one */

	CU_ASSERT_EQUAL(prdshm_unlock(holder, "x"), 0);
	CU_ASSERT_EQUAL(tu_await(lw.up[0], 5000), 'g');
	CU_ASSERT_EQUAL(tu_wait_child(locker, 10000), 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
	CPU_ZERO(&cpu0);
	for (int i = 0; i < CPU_SETSIZE && i < 1024; i++)
		CPU_SET(i, &cpu0);
	sched_setaffinity(0, sizeof(cpu0), &cpu0);
	close(lw.up[0]);
	close(lw.up[1]);
	prdshm_session_close(holder);
	tu_destroy(&cfg, seg);
}

const tu_test tu_tests[] = {
	TU(test_no_hang_on_stopped_partition_holder),
	TU(test_no_hang_on_stopped_session_holder),
	TU(test_no_hang_recovering_a_marked_segment),
	TU(test_recover_after_crash_in_lock_table),
	TU(test_mutex_wakeup_lost_to_killed_sleeper),
	{ NULL, NULL },
};
const char *tu_suite = "reliability";
