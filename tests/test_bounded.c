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

/* The timeout of the timed calls. */
#define TIMED_MS 300

/* A segment with one phase, p0, to claim; deadlock checks early. */
static prdshm_seg *create(prdshm_config *cfg)
{
	tu_config_with_plan(cfg);
	cfg->deadlock_timeout_ms = 20;
	return tu_seg_create(cfg);
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

/* tu_stop_in_lock_of() for the holder_arg @p arg. */
static int stop_in_lock(void *arg)
{
	const struct holder_arg *h = arg;

	return tu_stop_in_lock_of(h->shm_name, h->resource);
}

/* Claim p0; PRDSHM_STOP_AT=phase_claim stops the child holding the phase
 * mutex. */
static int stop_in_claim(void *arg)
{
	prdshm_session *s = tu_child_session((const char *)arg, "wedged", NULL);
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	setenv("PRDSHM_STOP_AT", "phase_claim", 1);
	prdshm_phase_claim(s, &c);
	return 1;
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

/* Parent: wait until @p resource has @p n records (holders and waiters). */
static int await_records(prdshm_seg *seg, const char *resource, size_t n)
{
	int64_t until = tu_now_ms() + TU_HUNG_MS;
	size_t got = 0;

	while (tu_now_ms() < until) {
		if (prdshm_lock_query(seg, resource, 0, NULL, 0, &got) == 0 && got == n)
			return 1;
		/* Polling: a queued request has no descriptor to wait on. */
		usleep(1000);
	}
	return 0;
}

/* A test's segment, its caller child's side, the stopped holder's. */
struct fx {
	prdshm_config cfg;
	prdshm_seg *seg;
	struct caller c;
	char other[32];        /* where a holder_arg holder stops */
	struct holder_arg h;
	prdshm_session *owner; /* the parent's session, or NULL */
};

/* The segment, and pipes to a caller whose messages must name @p mutex. */
static void fx_open(struct fx *f, const char *mutex)
{
	f->seg = create(&f->cfg);
	f->c = (struct caller){ .shm_name = f->cfg.shm_name, .mutex = mutex };
	f->owner = NULL;
	caller_pipes(&f->c);
}

/* Fork a caller @p fn, wait for its 'r', then start the holder @p holder
 * (with @p arg) for it to meet; returns the caller. */
static pid_t fx_caller_meets(struct fx *f, int (*fn)(void *), int (*holder)(void *), void *arg)
{
	pid_t caller = tu_fork(fn, &f->c);

	CU_ASSERT_FATAL(tu_await(f->c.ready[0], TU_HUNG_MS) == 'r');
	f->c.holder = tu_start_stopped(holder, arg, TU_HUNG_MS);
	caller_go(&f->c);
	return caller;
}

/* The owner holds "contended"; waiter @p fn is queued behind it when a
 * holder stops in the partition of "contended" (@p same == 1) or in
 * another.  Returns the waiter. */
static pid_t fx_queue_waiter(struct fx *f, int same, int (*fn)(void *))
{
	pid_t waiter;

	snprintf(f->c.resource, sizeof(f->c.resource), "contended");
	name_in(f->seg, partition_of(f->seg, f->c.resource), same, "o", f->other,
		sizeof(f->other));
	f->owner = tu_session(f->seg, "owner");
	CU_ASSERT_EQUAL_FATAL(
		prdshm_lock(f->owner, f->c.resource, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	waiter = tu_fork(fn, &f->c);
	CU_ASSERT_FATAL(await_records(f->seg, f->c.resource, 2));
	f->h = (struct holder_arg){ f->cfg.shm_name, f->other };
	f->c.holder = tu_start_stopped(stop_in_lock, &f->h, TU_HUNG_MS);
	return waiter;
}

static void fx_close(struct fx *f)
{
	prdshm_session_close(f->owner);
	caller_close_pipes(&f->c);
	tu_destroy(&f->cfg, f->seg);
}

/* Child: hold c->resource SHARED, say so, wait for the holder to stop;
 * then every lock call on the wedged partition gives up. */
static int lock_calls(void *arg)
{
	struct caller *c = arg;
	const char *many[] = { "elsewhere", "res" };
	prdshm_seg *seg = NULL;
	prdshm_session *s = tu_child_session(c->shm_name, "caller", &seg);

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
	struct fx f;
	pid_t caller;

	fx_open(&f, "lock partition ");
	f.h = (struct holder_arg){ f.cfg.shm_name, "res" };
	name_in(f.seg, partition_of(f.seg, "res"), 1, "u", f.c.resource, sizeof(f.c.resource));
	caller = fx_caller_meets(&f, lock_calls, stop_in_lock, &f.h);
	CU_ASSERT_EQUAL(tu_wait_child(caller, TU_HUNG_MS), 0);
	TU_KILL_CHILD(f.c.holder, TU_HUNG_MS);
	/* The table works on: the dead holder's mutex is repaired, the
	 * closed session's hold is swept. */
	f.owner = tu_session(f.seg, "after");
	CU_ASSERT_EQUAL(prdshm_lock(f.owner, "res", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(f.owner, f.c.resource, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	fx_close(&f);
}

/* Child: wait for c->resource, which the parent holds, with a timeout.
 * Deadlock checks (every 100 ms after 20 ms) take every partition mutex,
 * one of which a stopped process holds meanwhile: the wait must still end
 * at its deadline, withdrawn. */
static int timed_waiter(void *arg)
{
	struct caller *c = arg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = tu_child_session(c->shm_name, "waiter", &seg);
	int r;

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

/* A timed request's deadlock check meets a partition mutex whose holder is
 * stopped: the check gives up at the request's deadline. */
/* Child: as timed_waiter(), but the parent lets go while it waits: the
 * deadlock checks cut short by the stopped holder elsewhere must neither
 * keep it from the grant nor leave their message behind a success. */
static int granted_waiter(void *arg)
{
	struct caller *c = arg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = tu_child_session(c->shm_name, "waiter", &seg);
	int r;

	r = prdshm_lock(s, c->resource, PRDSHM_EXCLUSIVE, TU_HUNG_MS / 2, NULL);
	printf("  granted waiter: %s: '%s'\n", prdshm_err_name(r), prdshm_last_error());
	TU_CHILD_ASSERT(r == 0);
	TU_CHILD_ASSERT(prdshm_last_error()[0] == '\0');
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	return 0;
}

static void test_deadlock_check_cut_short_then_granted(void)
{
	struct fx f;
	pid_t waiter;

	fx_open(&f, NULL);
	waiter = fx_queue_waiter(&f, 0, granted_waiter);
	/* Not a synchronisation: time for a few deadlock checks (every 100 ms
	 * here) to meet the stopped holder before the resource is let go. */
	usleep(600 * 1000);
	CU_ASSERT_EQUAL(prdshm_unlock(f.owner, f.c.resource), 0);
	CU_ASSERT_EQUAL(tu_wait_child(waiter, TU_HUNG_MS), 0);
	TU_KILL_CHILD(f.c.holder, TU_HUNG_MS);
	fx_close(&f);
}

static void test_deadlock_check_bounded_by_request(void)
{
	struct fx f;
	pid_t waiter;

	fx_open(&f, NULL);
	waiter = fx_queue_waiter(&f, 0, timed_waiter);
	caller_go(&f.c);
	CU_ASSERT_EQUAL(tu_wait_child(waiter, TU_HUNG_MS), 0);
	TU_KILL_CHILD(f.c.holder, TU_HUNG_MS);
	CU_ASSERT(await_records(f.seg, f.c.resource, 1));
	fx_close(&f);
}

/* Child: as timed_waiter(), but the stopped holder wedges the request's own
 * partition while it is queued: it cannot have the mutex back to withdraw,
 * gives up PRDSHM_RECOVER_WAIT_MS past its deadline, and says that the
 * request stays queued. */
static int stranded_waiter(void *arg)
{
	struct caller *c = arg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = tu_child_session(c->shm_name, "waiter", &seg);
	int r;

	r = prdshm_lock(s, c->resource, PRDSHM_EXCLUSIVE, 1000, NULL);
	caller_await_go(c);
	check_gave_up(c, "queued timed lock", r, PRDSHM_ETIMEDOUT);
	TU_CHILD_ASSERT(strstr(prdshm_last_error(), "stays queued") != NULL);
	/* Still alive, the session still open: the record left queued must
	 * not block the resource for good, nor this session's next lock. */
	tu_signal(c->ready[1], 's');
	caller_await_go(c);
	r = prdshm_lock(s, c->resource, PRDSHM_EXCLUSIVE, TU_HUNG_MS / 2, NULL);
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
	struct fx f;
	pid_t waiter;

	fx_open(&f, "lock partition ");
	waiter = fx_queue_waiter(&f, 1, stranded_waiter);
	caller_go(&f.c);
	CU_ASSERT_EQUAL_FATAL(tu_await(f.c.ready[0], TU_HUNG_MS), 's');
	TU_KILL_CHILD(f.c.holder, TU_HUNG_MS);
	/* Its timeout counts, in the partition's total: the waiter could
	 * not have the mutex back to count it on the resource. */
	CU_ASSERT_EQUAL(timeouts_total(f.seg), 1);
	/* The waiter's session is alive, its record still queued ahead of
	 * everyone: the next waiter withdraws it once it expired, and gets
	 * the resource its owner lets go. */
	CU_ASSERT_EQUAL(prdshm_unlock(f.owner, f.c.resource), 0);
	CU_ASSERT_EQUAL(prdshm_lock(f.owner, f.c.resource, PRDSHM_EXCLUSIVE, TU_HUNG_MS / 2, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(f.owner, f.c.resource), 0);
	caller_go(&f.c);
	CU_ASSERT_EQUAL(tu_wait_child(waiter, TU_HUNG_MS), 0);
	CU_ASSERT_EQUAL(prdshm_check(f.seg, 0, NULL, NULL), 0);
	fx_close(&f);
}

/* Child: open a session, say so, wait for the holder of the session mutex
 * to stop; then opening gives up, and so does closing. */
static int session_calls(void *arg)
{
	struct caller *c = arg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = tu_child_session(c->shm_name, "closer", &seg), *t = NULL;

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
	char tool[600];

	snprintf(tool, sizeof(tool), "%s/prdshm-lock", tu_bindir());
	if (freopen("/dev/null", "w", stdout) == NULL)
		return 99;
	execl(tool, "prdshm-lock", "--name", (const char *)arg, "-n", "r", "true", (char *)NULL);
	return 98;
}

static void test_session_calls_bounded_on_stopped_session_holder(void)
{
	struct fx f;
	size_t nreaped = 0;
	pid_t caller;

	fx_open(&f, "session mutex");
	CU_ASSERT_EQUAL_FATAL(tu_wait_child(tu_fork(tu_die_in_phase, f.cfg.shm_name), TU_HUNG_MS), 0);
	caller = fx_caller_meets(&f, session_calls, tu_stop_in_reap, f.cfg.shm_name);
	CU_ASSERT_EQUAL(tu_wait_child(caller, TU_HUNG_MS), 0);
	/* The tool's -n gives up too: exit 1, as for a conflict. */
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(lock_tool_try, f.cfg.shm_name), TU_HUNG_MS), 1);
	TU_KILL_CHILD(f.c.holder, TU_HUNG_MS);
	/* The reap finishes; the closer's slot, which its close could not
	 * free, goes as a dead session's. */
	CU_ASSERT_EQUAL(prdshm_reap(f.seg, 0, NULL, NULL, &nreaped), 0);
	CU_ASSERT(nreaped >= 2);
	CU_ASSERT_EQUAL(prdshm_session_open_timed(f.seg, "after", 0, PRDSHM_TRY, &f.owner), 0);
	fx_close(&f);
}

/* Child: with the phase mutex held by a stopped claimer, claims and waits
 * give up. */
static int phase_calls(void *arg)
{
	struct caller *c = arg;
	prdshm_seg *seg = NULL;
	prdshm_session *s;
	prdshm_claim cl = PRDSHM_CLAIM_INIT;

	caller_await_go(c);
	s = tu_child_session(c->shm_name, "claimer", &seg);
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
	char tool[600];

	snprintf(tool, sizeof(tool), "%s/prdshm-agent", tu_bindir());
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
	struct fx f;
	prdshm_claim cl = PRDSHM_CLAIM_INIT;
	pid_t caller, agent;

	fx_open(&f, "phase mutex");
	caller = tu_fork(phase_calls, &f.c);
	f.c.holder = tu_start_stopped(stop_in_claim, f.cfg.shm_name, TU_HUNG_MS);
	caller_go(&f.c);
	CU_ASSERT_EQUAL(tu_wait_child(caller, TU_HUNG_MS), 0);
	/* prdshm-agent, claiming behind the stopped holder, still stops on
	 * SIGTERM (143) instead of waiting for the mutex. */
	agent = tu_fork(agent_tool, f.cfg.shm_name);
	CU_ASSERT(await_agents(f.seg, 2));
	kill(agent, SIGTERM);
	CU_ASSERT_EQUAL(tu_wait_child(agent, TU_HUNG_MS), 143);
	TU_KILL_CHILD(f.c.holder, TU_HUNG_MS);
	/* The claim the holder died in is repaired away: p0 is free again. */
	f.owner = tu_session(f.seg, "after");
	CU_ASSERT_EQUAL(prdshm_phase_claim_timed(f.owner, PRDSHM_TRY, &cl), 0);
	fx_close(&f);
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
	tu_destroy(&cfg, seg);
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
