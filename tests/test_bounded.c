/*
 * test_bounded.c: a call with a timeout never hangs on a segment mutex
 * whose holder is stopped (docs/reliability.md, "Bounded waits").
 *
 * A holder child stops itself inside a critical section (PRDSHM_STOP_AT),
 * still holding the mutex: alive, but it will never let go.  The calls
 * under test run in another child, so that a hang fails the test (the
 * bounded wait kills it) instead of stopping the program.  A try must fail
 * with PRDSHM_EBUSY and a timed call with PRDSHM_ETIMEDOUT, each naming the
 * mutex and its stopped holder.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"
#include "testutil.h"

/* A generous bound on a call that must give up by itself: timeouts of a
 * few hundred ms plus PRDSHM_RECOVER_WAIT_MS at most.  Past it the call is
 * taken as hung. */
#define HUNG_MS (PRDSHM_RECOVER_WAIT_MS * 5 + 10000)
/* The timeout of the timed calls. */
#define TIMED_MS 300

/* A segment with one phase, p0, to claim; deadlock checks early. */
static prdshm_seg *create(prdshm_config *cfg)
{
	static const char plan[] = "phase_max_attempts: 1\nphases:\n  - id: p0\n";
	prdshm_seg *seg = NULL;
	prdshm_diag diag = PRDSHM_DIAG_INIT;

	tu_config(cfg);
	CU_ASSERT_EQUAL_FATAL(prdshm_config_load_string(cfg, plan, strlen(plan), "plan", &diag), 0);
	cfg->deadlock_timeout_ms = 20;
	CU_ASSERT_EQUAL_FATAL(prdshm_seg_create(cfg, &seg), 0);
	return seg;
}

static void destroy(prdshm_config *cfg, prdshm_seg *seg)
{
	prdshm_seg_close(seg);
	prdshm_seg_unlink(cfg->shm_name);
	prdshm_config_free(cfg);
}

/* The lock partition of @p name in a segment of tu_config()'s size. */
static uint32_t partition_of(prdshm_seg *seg, const char *name)
{
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;

	CU_ASSERT_EQUAL_FATAL(prdshm_seg_info_get(seg, &info), 0);
	return (prdshm__hash(name, strlen(name)) >> 24) & (info.nparts - 1);
}

/* A name "<prefix><n>" in partition @p p (same == 1) or not in it. */
static void name_in(prdshm_seg *seg, uint32_t p, int same, const char *prefix, char *buf,
		    size_t size)
{
	for (int n = 0; n < 100000; n++) {
		snprintf(buf, size, "%s%d", prefix, n);
		if ((partition_of(seg, buf) == p) == same)
			return;
	}
	CU_FAIL_FATAL("no such name");
}

/* ---- Holders that stop inside a critical section ------------------------ */

struct holder_arg {
	const char *shm_name;
	const char *resource;
};

/* Lock a new resource; PRDSHM_STOP_AT=slot_alloc stops the child holding
 * the mutex of the resource's lock partition. */
static int stop_in_lock(void *arg)
{
	const struct holder_arg *h = arg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open(h->shm_name, &seg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(seg, "wedged", 0, &s) == 0);
	setenv("PRDSHM_STOP_AT", "slot_alloc", 1);
	prdshm_lock(s, h->resource, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL);
	return 1; /* not reached before SIGCONT */
}

/* Claim p0; PRDSHM_STOP_AT=phase_claim stops the child holding the phase
 * mutex. */
static int stop_in_claim(void *arg)
{
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	TU_CHILD_ASSERT(prdshm_seg_open((const char *)arg, &seg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(seg, "wedged", 0, &s) == 0);
	setenv("PRDSHM_STOP_AT", "phase_claim", 1);
	prdshm_phase_claim(s, &c);
	return 1;
}

/* Claim p0 and die without closing: a dead agent for a reap to fail. */
static int die_in_phase(void *arg)
{
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	TU_CHILD_ASSERT(prdshm_seg_open((const char *)arg, &seg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(seg, "doomed", 0, &s) == 0);
	TU_CHILD_ASSERT(prdshm_phase_claim(s, &c) == 0);
	return 0;
}

/* Reap; PRDSHM_STOP_AT=phase_died stops the child while it fails the dead
 * agent's phase, holding the session mutex (and the phase mutex). */
static int stop_in_reap(void *arg)
{
	prdshm_seg *seg = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open((const char *)arg, &seg) == 0);
	setenv("PRDSHM_STOP_AT", "phase_died", 1);
	prdshm_reap(seg, 0, NULL, NULL, NULL);
	return 1;
}

/* Fork @p fn and wait until it has stopped holding its mutex. */
static pid_t start_holder(int (*fn)(void *), void *arg)
{
	pid_t pid = tu_fork(fn, arg);

	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_FATAL(tu_await_stopped(pid, HUNG_MS));
	return pid;
}

static void kill_holder(pid_t pid)
{
	kill(pid, SIGKILL);
	CU_ASSERT_EQUAL(tu_wait_child(pid, HUNG_MS), 128 + SIGKILL);
}

/* ---- The calls under test ----------------------------------------------- */

/* What the calls under test share with their child. */
struct caller {
	const char *shm_name;
	char resource[32];    /* in the stopped holder's partition, or not */
	const char *mutex;    /* what the message must name */
	pid_t holder;
	int go[2], ready[2];  /* parent -> child, child -> parent */
};

/* In a child: @p r is @p want, and the message names the mutex and the
 * stopped holder. */
static void check_gave_up(const struct caller *c, const char *call, int r, int want)
{
	char holder[64];

	printf("  %s: %s: %s\n", call, prdshm_err_name(r), prdshm_last_error());
	TU_CHILD_ASSERT(r == want);
	TU_CHILD_ASSERT(strstr(prdshm_last_error(), c->mutex) != NULL);
	snprintf(holder, sizeof(holder), "thread %d (alive, stopped)", (int)c->holder);
	TU_CHILD_ASSERT(strstr(prdshm_last_error(), holder) != NULL);
}

static void caller_pipes(struct caller *c)
{
	CU_ASSERT_FATAL(pipe(c->go) == 0 && pipe(c->ready) == 0);
}

/* Parent: the holder has stopped; tell the child who it is. */
static void caller_go(struct caller *c)
{
	CU_ASSERT_FATAL(write(c->go[1], &c->holder, sizeof(c->holder)) == sizeof(c->holder));
}

/* Child: wait for caller_go() (EOF if the parent died). */
static void caller_await_go(struct caller *c)
{
	TU_CHILD_ASSERT(read(c->go[0], &c->holder, sizeof(c->holder)) == sizeof(c->holder));
}

static void caller_close_pipes(struct caller *c)
{
	close(c->go[0]);
	close(c->go[1]);
	close(c->ready[0]);
	close(c->ready[1]);
}

/* Child: hold c->resource SHARED, say so, wait for the holder to stop;
 * then every lock call on the wedged partition gives up. */
static int lock_calls(void *arg)
{
	struct caller *c = arg;
	const char *many[] = { "elsewhere", "res" };
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open(c->shm_name, &seg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(seg, "caller", 0, &s) == 0);
	TU_CHILD_ASSERT(prdshm_lock(s, c->resource, PRDSHM_SHARED, PRDSHM_TRY, NULL) == 0);
	tu_signal(c->ready[1], 'r');
	caller_await_go(c);
	check_gave_up(c, "try lock", prdshm_lock(s, "res", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL),
		      PRDSHM_EBUSY);
	check_gave_up(c, "timed lock", prdshm_lock(s, "res", PRDSHM_SHARED, TIMED_MS, NULL),
		      PRDSHM_ETIMEDOUT);
	check_gave_up(c, "timed lock_many",
		      prdshm_lock_many(s, many, 2, PRDSHM_SHARED, TIMED_MS, NULL, NULL),
		      PRDSHM_ETIMEDOUT);
	check_gave_up(c, "try upgrade", prdshm_upgrade(s, c->resource, PRDSHM_TRY), PRDSHM_EBUSY);
	check_gave_up(c, "timed upgrade", prdshm_upgrade(s, c->resource, TIMED_MS),
		      PRDSHM_ETIMEDOUT);
	/* Close cannot release c->resource: it gives up after its bound, and
	 * the hold goes as a dead session's. */
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	return 0;
}

/* A live process stopped inside a lock partition's critical section:
 * tries and timed lock calls on that partition give up. */
static void test_lock_calls_bounded_on_stopped_partition_holder(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	struct holder_arg h = { cfg.shm_name, "res" };
	struct caller c = { .shm_name = cfg.shm_name, .mutex = "lock partition " };
	prdshm_session *s = NULL;
	pid_t caller;

	name_in(seg, partition_of(seg, "res"), 1, "u", c.resource, sizeof(c.resource));
	caller_pipes(&c);
	caller = tu_fork(lock_calls, &c);
	CU_ASSERT_FATAL(tu_await(c.ready[0], HUNG_MS) == 'r');
	c.holder = start_holder(stop_in_lock, &h);
	caller_go(&c);
	CU_ASSERT_EQUAL(tu_wait_child(caller, HUNG_MS), 0);
	kill_holder(c.holder);
	/* The table works on: the dead holder's mutex is repaired, the
	 * closed session's hold is swept. */
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open(seg, "after", 0, &s), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "res", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, c.resource, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	prdshm_session_close(s);
	caller_close_pipes(&c);
	destroy(&cfg, seg);
}

/* Child: wait for c->resource, which the parent holds, with a timeout.
 * Deadlock checks (every 100 ms after 20 ms) take every partition mutex,
 * one of which a stopped process holds meanwhile: the wait must still end
 * at its deadline, withdrawn. */
static int timed_waiter(void *arg)
{
	struct caller *c = arg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;
	int r;

	TU_CHILD_ASSERT(prdshm_seg_open(c->shm_name, &seg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(seg, "waiter", 0, &s) == 0);
	r = prdshm_lock(s, c->resource, PRDSHM_EXCLUSIVE, 1000, NULL);
	printf("  waiter: %s: %s\n", prdshm_err_name(r), prdshm_last_error());
	TU_CHILD_ASSERT(r == PRDSHM_ETIMEDOUT);
	caller_await_go(c);
	/* Withdrawn: the session holds nothing, waits for nothing. */
	TU_CHILD_ASSERT(prdshm_unlock(s, c->resource) == PRDSHM_ENOTHELD);
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	return 0;
}

/* Parent: wait until @p resource has @p n records (holders and waiters). */
static int await_records(prdshm_seg *seg, const char *resource, size_t n)
{
	int64_t until = tu_now_ms() + HUNG_MS;
	size_t got = 0;

	while (tu_now_ms() < until) {
		if (prdshm_lock_query(seg, resource, 0, NULL, 0, &got) == 0 && got == n)
			return 1;
		/* Polling: a queued request has no descriptor to wait on. */
		usleep(1000);
	}
	return 0;
}

/* A timed request's deadlock check meets a partition mutex whose holder is
 * stopped: the check gives up at the request's deadline. */
/* Child: as timed_waiter(), but the parent lets go while it waits: the
 * deadlock checks cut short by the stopped holder elsewhere must neither
 * keep it from the grant nor leave their message behind a success. */
static int granted_waiter(void *arg)
{
	struct caller *c = arg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;
	int r;

	TU_CHILD_ASSERT(prdshm_seg_open(c->shm_name, &seg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(seg, "waiter", 0, &s) == 0);
	r = prdshm_lock(s, c->resource, PRDSHM_EXCLUSIVE, HUNG_MS / 2, NULL);
	printf("  granted waiter: %s: '%s'\n", prdshm_err_name(r), prdshm_last_error());
	TU_CHILD_ASSERT(r == 0);
	TU_CHILD_ASSERT(prdshm_last_error()[0] == '\0');
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	return 0;
}

static void test_deadlock_check_cut_short_then_granted(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	struct caller c = { .shm_name = cfg.shm_name };
	char other[32];
	struct holder_arg h = { cfg.shm_name, other };
	prdshm_session *s = NULL;
	pid_t waiter;

	snprintf(c.resource, sizeof(c.resource), "contended");
	name_in(seg, partition_of(seg, c.resource), 0, "o", other, sizeof(other));
	caller_pipes(&c);
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open(seg, "owner", 0, &s), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_lock(s, c.resource, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	waiter = tu_fork(granted_waiter, &c);
	CU_ASSERT_FATAL(await_records(seg, c.resource, 2));
	c.holder = start_holder(stop_in_lock, &h);
	/* Not a synchronisation: time for a few deadlock checks (every 100 ms
	 * here) to meet the stopped holder before the resource is let go. */
	usleep(600 * 1000);
	CU_ASSERT_EQUAL(prdshm_unlock(s, c.resource), 0);
	CU_ASSERT_EQUAL(tu_wait_child(waiter, HUNG_MS), 0);
	kill_holder(c.holder);
	prdshm_session_close(s);
	caller_close_pipes(&c);
	destroy(&cfg, seg);
}

static void test_deadlock_check_bounded_by_request(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	struct caller c = { .shm_name = cfg.shm_name };
	char other[32];
	struct holder_arg h = { cfg.shm_name, other };
	prdshm_session *s = NULL;
	pid_t waiter;

	snprintf(c.resource, sizeof(c.resource), "contended");
	name_in(seg, partition_of(seg, c.resource), 0, "o", other, sizeof(other));
	caller_pipes(&c);
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open(seg, "owner", 0, &s), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_lock(s, c.resource, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	waiter = tu_fork(timed_waiter, &c);
	CU_ASSERT_FATAL(await_records(seg, c.resource, 2));
	c.holder = start_holder(stop_in_lock, &h);
	caller_go(&c);
	CU_ASSERT_EQUAL(tu_wait_child(waiter, HUNG_MS), 0);
	kill_holder(c.holder);
	CU_ASSERT(await_records(seg, c.resource, 1));
	prdshm_session_close(s);
	caller_close_pipes(&c);
	destroy(&cfg, seg);
}

/* Child: as timed_waiter(), but the stopped holder wedges the request's own
 * partition while it is queued: it cannot have the mutex back to withdraw,
 * gives up PRDSHM_RECOVER_WAIT_MS past its deadline, and says that the
 * request stays queued. */
static int stranded_waiter(void *arg)
{
	struct caller *c = arg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;
	int r;

	TU_CHILD_ASSERT(prdshm_seg_open(c->shm_name, &seg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(seg, "waiter", 0, &s) == 0);
	r = prdshm_lock(s, c->resource, PRDSHM_EXCLUSIVE, 1000, NULL);
	caller_await_go(c);
	check_gave_up(c, "queued timed lock", r, PRDSHM_ETIMEDOUT);
	TU_CHILD_ASSERT(strstr(prdshm_last_error(), "stays queued") != NULL);
	/* Still alive, the session still open: the record left queued must
	 * not block the resource for good, nor this session's next lock. */
	tu_signal(c->ready[1], 's');
	caller_await_go(c);
	r = prdshm_lock(s, c->resource, PRDSHM_EXCLUSIVE, HUNG_MS / 2, NULL);
	printf("  the stranded session locks again: %s: %s\n", prdshm_err_name(r),
	       r ? prdshm_last_error() : "");
	TU_CHILD_ASSERT(r == 0);
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	return 0;
}

/* The segment's count of timed-out requests (prdshm_lock_metrics_get()). */
static uint64_t timeouts_total(prdshm_seg *seg)
{
	prdshm_lock_metrics total = PRDSHM_LOCK_METRICS_INIT;
	size_t n;

	CU_ASSERT_EQUAL(prdshm_lock_metrics_get(seg, 0, &total, NULL, 0, &n), 0);
	return total.timeouts;
}

static void test_queued_request_bounded_on_stopped_partition_holder(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	struct caller c = { .shm_name = cfg.shm_name, .mutex = "lock partition " };
	char other[32];
	struct holder_arg h = { cfg.shm_name, other };
	prdshm_session *s = NULL;
	pid_t waiter;

	snprintf(c.resource, sizeof(c.resource), "contended");
	name_in(seg, partition_of(seg, c.resource), 1, "o", other, sizeof(other));
	caller_pipes(&c);
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open(seg, "owner", 0, &s), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_lock(s, c.resource, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	waiter = tu_fork(stranded_waiter, &c);
	CU_ASSERT_FATAL(await_records(seg, c.resource, 2));
	c.holder = start_holder(stop_in_lock, &h);
	caller_go(&c);
	CU_ASSERT_EQUAL_FATAL(tu_await(c.ready[0], HUNG_MS), 's');
	kill_holder(c.holder);
	/* Its timeout counts, in the partition's total: the waiter could
	 * not have the mutex back to count it on the resource. */
	CU_ASSERT_EQUAL(timeouts_total(seg), 1);
	/* The waiter's session is alive, its record still queued ahead of
	 * everyone: the next waiter withdraws it once it expired, and gets
	 * the resource its owner lets go. */
	CU_ASSERT_EQUAL(prdshm_unlock(s, c.resource), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, c.resource, PRDSHM_EXCLUSIVE, HUNG_MS / 2, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(s, c.resource), 0);
	caller_go(&c);
	CU_ASSERT_EQUAL(tu_wait_child(waiter, HUNG_MS), 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, NULL, NULL), 0);
	prdshm_session_close(s);
	caller_close_pipes(&c);
	destroy(&cfg, seg);
}

/* Child: open a session, say so, wait for the holder of the session mutex
 * to stop; then opening gives up, and so does closing. */
static int session_calls(void *arg)
{
	struct caller *c = arg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL, *t = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open(c->shm_name, &seg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(seg, "closer", 0, &s) == 0);
	tu_signal(c->ready[1], 'r');
	caller_await_go(c);
	check_gave_up(c, "try session open",
		      prdshm_session_open_timed(seg, "late", 0, PRDSHM_TRY, &t), PRDSHM_EBUSY);
	TU_CHILD_ASSERT(t == NULL);
	check_gave_up(c, "timed session open",
		      prdshm_session_open_timed(seg, "late", 0, TIMED_MS, &t), PRDSHM_ETIMEDOUT);
	TU_CHILD_ASSERT(t == NULL);
	prdshm_session_close(s); /* must return: the test's bound */
	prdshm_seg_close(seg);
	return 0;
}

/* A reaper stopped holding the session mutex: session open (try, timed)
 * and close give up. */
/* Child: prdshm-lock -n on the segment @p arg, its output discarded; its
 * exit status is the child's. */
static int lock_tool_try(void *arg)
{
	const char *b = getenv("BUILD");
	char tool[512];

	snprintf(tool, sizeof(tool), "%s/bin/prdshm-lock", b && b[0] ? b : "build");
	if (freopen("/dev/null", "w", stdout) == NULL)
		return 99;
	execl(tool, "prdshm-lock", "--name", (const char *)arg, "-n", "r", "true", (char *)NULL);
	return 98;
}

static void test_session_calls_bounded_on_stopped_session_holder(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	struct caller c = { .shm_name = cfg.shm_name, .mutex = "session mutex" };
	prdshm_session *s = NULL;
	size_t nreaped = 0;
	pid_t caller;

	caller_pipes(&c);
	CU_ASSERT_EQUAL_FATAL(tu_wait_child(tu_fork(die_in_phase, cfg.shm_name), HUNG_MS), 0);
	caller = tu_fork(session_calls, &c);
	CU_ASSERT_FATAL(tu_await(c.ready[0], HUNG_MS) == 'r');
	c.holder = start_holder(stop_in_reap, (void *)cfg.shm_name);
	caller_go(&c);
	CU_ASSERT_EQUAL(tu_wait_child(caller, HUNG_MS), 0);
	/* The tool's -n gives up too: exit 1, as for a conflict. */
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(lock_tool_try, (void *)cfg.shm_name), HUNG_MS), 1);
	kill_holder(c.holder);
	/* The reap finishes; the closer's slot, which its close could not
	 * free, goes as a dead session's. */
	CU_ASSERT_EQUAL(prdshm_reap(seg, 0, NULL, NULL, &nreaped), 0);
	CU_ASSERT(nreaped >= 2);
	CU_ASSERT_EQUAL(prdshm_session_open_timed(seg, "after", 0, PRDSHM_TRY, &s), 0);
	prdshm_session_close(s);
	caller_close_pipes(&c);
	destroy(&cfg, seg);
}

/* Child: with the phase mutex held by a stopped claimer, claims and waits
 * give up. */
static int phase_calls(void *arg)
{
	struct caller *c = arg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;
	prdshm_claim cl = PRDSHM_CLAIM_INIT;

	caller_await_go(c);
	TU_CHILD_ASSERT(prdshm_seg_open(c->shm_name, &seg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(seg, "claimer", 0, &s) == 0);
	check_gave_up(c, "try claim", prdshm_phase_claim_timed(s, PRDSHM_TRY, &cl), PRDSHM_EBUSY);
	check_gave_up(c, "timed claim", prdshm_phase_claim_timed(s, TIMED_MS, &cl),
		      PRDSHM_ETIMEDOUT);
	check_gave_up(c, "phase wait 0", prdshm_phase_wait(s, 0), PRDSHM_EBUSY);
	check_gave_up(c, "phase wait", prdshm_phase_wait(s, TIMED_MS), PRDSHM_ETIMEDOUT);
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	return 0;
}

/* Child: prdshm-agent on the segment @p arg, its output discarded; its exit
 * status is the child's. */
static int agent_tool(void *arg)
{
	const char *b = getenv("BUILD");
	char tool[512];

	snprintf(tool, sizeof(tool), "%s/bin/prdshm-agent", b && b[0] ? b : "build");
	if (freopen("/dev/null", "w", stdout) == NULL)
		return 99;
	execl(tool, "prdshm-agent", "--name", (const char *)arg, "--id", "tool-agent",
	      (char *)NULL);
	return 98;
}

/* Wait (bounded) until the segment lists @p n agent sessions. */
static int await_agents(prdshm_seg *seg, size_t n)
{
	for (int i = 0; i < 2000; i++) {
		prdshm_snapshot *snap = NULL;
		size_t live = 0;

		if (prdshm_snapshot_take(seg, PRDSHM_SNAP_NOLOCK, &snap) == 0) {
			for (size_t k = 0; k < snap->nagents; k++)
				live += snap->agents[k].alive != 0;
			prdshm_snapshot_free(snap);
		}
		if (live >= n)
			return 1;
		usleep(5000);
	}
	return 0;
}

static void test_phase_calls_bounded_on_stopped_phase_holder(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	struct caller c = { .shm_name = cfg.shm_name, .mutex = "phase mutex" };
	prdshm_session *s = NULL;
	prdshm_claim cl = PRDSHM_CLAIM_INIT;
	pid_t caller, agent;

	caller_pipes(&c);
	caller = tu_fork(phase_calls, &c);
	c.holder = start_holder(stop_in_claim, (void *)cfg.shm_name);
	caller_go(&c);
	CU_ASSERT_EQUAL(tu_wait_child(caller, HUNG_MS), 0);
	/* prdshm-agent, claiming behind the stopped holder, still stops on
	 * SIGTERM (143) instead of waiting for the mutex. */
	agent = tu_fork(agent_tool, (void *)cfg.shm_name);
	CU_ASSERT(await_agents(seg, 2));
	kill(agent, SIGTERM);
	CU_ASSERT_EQUAL(tu_wait_child(agent, HUNG_MS), 143);
	kill_holder(c.holder);
	/* The claim the holder died in is repaired away: p0 is free again. */
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open(seg, "after", 0, &s), 0);
	CU_ASSERT_EQUAL(prdshm_phase_claim_timed(s, PRDSHM_TRY, &cl), 0);
	prdshm_session_close(s);
	caller_close_pipes(&c);
	destroy(&cfg, seg);
}

/* The timed variants take the timeouts prdshm_lock() takes, and only those;
 * without a stopped holder they work as the plain calls. */
static void test_timed_variants_timeouts(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	prdshm_session *s = NULL, *t = NULL;
	prdshm_claim cl = PRDSHM_CLAIM_INIT;

	CU_ASSERT_EQUAL(prdshm_session_open_timed(seg, "x", 0, PRDSHM_WAIT_FOREVER - 1, &s),
			PRDSHM_EINVAL);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open_timed(seg, "x", 0, PRDSHM_WAIT_DEFAULT, &s), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open_timed(seg, "y", 0, PRDSHM_TRY, &t), 0);
	CU_ASSERT_EQUAL(prdshm_phase_claim_timed(s, PRDSHM_WAIT_FOREVER - 1, &cl), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_phase_claim_timed(s, PRDSHM_TRY, &cl), 0);
	CU_ASSERT_STRING_EQUAL(cl.id, "p0");
	CU_ASSERT_EQUAL(prdshm_phase_claim_timed(t, TIMED_MS, &cl), PRDSHM_EWAIT);
	CU_ASSERT_EQUAL(prdshm_phase_wait(t, 0), 0);
	prdshm_session_close(t);
	prdshm_session_close(s);
	destroy(&cfg, seg);
}

const tu_test tu_tests[] = {
	TU(test_timed_variants_timeouts),
	TU(test_lock_calls_bounded_on_stopped_partition_holder),
	TU(test_deadlock_check_bounded_by_request),
	TU(test_deadlock_check_cut_short_then_granted),
	TU(test_queued_request_bounded_on_stopped_partition_holder),
	TU(test_session_calls_bounded_on_stopped_session_holder),
	TU(test_phase_calls_bounded_on_stopped_phase_holder),
	{ NULL, NULL },
};
const char *tu_suite = "bounded";
