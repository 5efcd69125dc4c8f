/*
 * test_session.c: sessions: their arguments and descriptors, a slot reused
 * after its owner died (the generation bump), a slot kept alive by an
 * inherited descriptor, running out of descriptors, and how holders and
 * waiters look to inspection.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lock/region.h"
#include "session/region.h"
#include "shm/segment.h"
#include "testutil.h"

static prdshm_seg *make_segment(prdshm_config *cfg, int max_agents)
{
	tu_config(cfg);
	cfg->max_agents = max_agents;
	cfg->max_parallel_agents = 1;
	return tu_seg_create(cfg);
}

static prdshm_session *join(prdshm_seg *seg, const char *id, unsigned flags)
{
	prdshm_session *s = NULL;
	int r = prdshm_session_open(seg, id, flags, &s);

	if (r)
		fprintf(stderr, "session %s: %s\n", id ? id : "(default)", prdshm_last_error());
	CU_ASSERT_EQUAL_FATAL(r, 0);
	return s;
}

/* The holders and waiters of @p resource, copied into @p h (cap 4). */
static size_t query(prdshm_seg *seg, const char *resource, prdshm_holder *h)
{
	size_t n = 0;

	CU_ASSERT_EQUAL(prdshm_lock_query(seg, resource, 0, h, 4, &n), 0);
	return n;
}

/* ------------------------------------------------------------------------ */

static void test_open_arguments(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = make_segment(&cfg, 4);
	prdshm_session *s = NULL;
	prdshm_snapshot *snap = NULL;
	char id[PRDSHM_ID_MAX + 2], want[32];

	CU_ASSERT_EQUAL(prdshm_session_open(NULL, "a", 0, &s), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_session_open(seg, "a", 0, NULL), PRDSHM_EINVAL);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "prdshm_session_open: NULL argument");
	CU_ASSERT_EQUAL(prdshm_session_open(seg, "", 0, &s), PRDSHM_ENAME);
	CU_ASSERT_EQUAL(prdshm_session_open(seg, "tab\there", 0, &s), PRDSHM_ENAME);
	memset(id, 'i', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	CU_ASSERT_EQUAL(prdshm_session_open(seg, id, 0, &s), PRDSHM_ENAME);
	CU_ASSERT_PTR_NULL(s);
	/* 63 bytes is the longest id. */
	id[PRDSHM_ID_MAX] = '\0';
	s = join(seg, id, 0);
	prdshm_session_close(s);
	/* No id: "pid-<pid>". */
	s = join(seg, NULL, 0);
	snprintf(want, sizeof(want), "pid-%ld", (long)getpid());
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL_FATAL(snap->nagents, 2);
	CU_ASSERT_STRING_EQUAL(snap->agents[1].id, want);
	CU_ASSERT_EQUAL(snap->agents[1].pid, getpid());
	CU_ASSERT_EQUAL(snap->agents[1].status, PRDSHM_AGENT_IDLE);
	CU_ASSERT_EQUAL(snap->agents[0].status, PRDSHM_AGENT_EXITED);
	prdshm_snapshot_free(snap);
	prdshm_session_close(s);

	CU_ASSERT_EQUAL(prdshm_session_slot(NULL), -1);
	CU_ASSERT_EQUAL(prdshm_session_fd(NULL), -1);
	prdshm_session_close(NULL);
	prdshm_session_abandon(NULL);
	tu_destroy(&cfg, seg);
}

/* The session descriptor is close-on-exec unless PRDSHM_SESSION_INHERIT. */
static void test_descriptor_flags(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = make_segment(&cfg, 4);
	prdshm_session *plain = join(seg, "plain", 0);
	prdshm_session *kept = join(seg, "kept", PRDSHM_SESSION_INHERIT);

	CU_ASSERT(prdshm_session_fd(plain) >= 0);
	CU_ASSERT(prdshm_session_fd(kept) >= 0);
	CU_ASSERT_NOT_EQUAL(prdshm_session_fd(plain), prdshm_session_fd(kept));
	CU_ASSERT_EQUAL(fcntl(prdshm_session_fd(plain), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	CU_ASSERT_EQUAL(fcntl(prdshm_session_fd(kept), F_GETFD) & FD_CLOEXEC, 0);
	prdshm_session_close(kept);
	prdshm_session_close(plain);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* A slot reused after its owner died                                       */

struct child {
	const char *shm_name;
	int up[2], down[2];
};

static void pipes(struct child *c)
{
	CU_ASSERT_EQUAL_FATAL(pipe(c->up), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(c->down), 0);
}

static void unpipe(struct child *c)
{
	for (int i = 0; i < 2; i++) {
		close(c->up[i]);
		close(c->down[i]);
	}
}

/* Take "r" EXCLUSIVE as "first", report, wait to be killed. */
static int hold_and_wait(void *p)
{
	struct child *c = p;
	prdshm_session *s = tu_child_session(c->shm_name, "first", NULL);

	TU_CHILD_ASSERT(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, PRDSHM_TRY, "p1") == 0);
	tu_signal(c->up[1], 'h');
	tu_await(c->down[0], 30000);
	return 0;
}

/* With one slot: its owner is killed holding "r"; the next session gets
 * the same slot with a new generation, and the dead owner's record, which
 * names the old generation, is neither alive nor the new session's. */
static void test_reopen_after_owner_died(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = make_segment(&cfg, 1);
	struct child c = { .shm_name = cfg.shm_name };
	prdshm_session *s = NULL;
	prdshm_snapshot *snap = NULL;
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	uint32_t gen;
	pid_t pid;

	pipes(&c);
	pid = tu_fork(hold_and_wait, &c);
	CU_ASSERT_EQUAL_FATAL(tu_await(c.up[0], 10000), 'h');
	CU_ASSERT_EQUAL(prdshm_session_open(seg, "second", 0, &s), PRDSHM_EAGENTFULL);
	gen = prdshm__sessions(seg)->agents[0].gen;
	TU_KILL_CHILD(pid, 10000);

	/* Before anyone reaps: the lock and the agent are shown dead. */
	CU_ASSERT_EQUAL_FATAL(query(seg, "r", h), 1);
	CU_ASSERT_STRING_EQUAL(h[0].agent_id, "first");
	CU_ASSERT_STRING_EQUAL(h[0].phase_id, "p1");
	CU_ASSERT_EQUAL(h[0].alive, 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->agents[0].status, PRDSHM_AGENT_DEAD);
	CU_ASSERT_EQUAL(snap->agents[0].alive, 0);
	prdshm_snapshot_free(snap);

	/* The full table reaps the dead slot for the newcomer. */
	s = join(seg, "second", 0);
	CU_ASSERT_EQUAL(prdshm_session_slot(s), 0);
	CU_ASSERT_EQUAL(prdshm__sessions(seg)->agents[0].gen, gen + 1);
	CU_ASSERT_EQUAL(query(seg, "r", h), 1);
	CU_ASSERT_EQUAL(h[0].alive, 0); /* the slot lives, the record's owner not */
	/* Not attributed to the slot's new owner. */
	CU_ASSERT_STRING_EQUAL(h[0].agent_id, "?");
	CU_ASSERT_EQUAL(h[0].pid, 0);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "r"), PRDSHM_ENOTHELD);
	CU_ASSERT_EQUAL(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, 5000, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(query(seg, "r", h), 1);
	CU_ASSERT_EQUAL(h[0].alive, 1);
	CU_ASSERT_STRING_EQUAL(h[0].agent_id, "second");
	CU_ASSERT_STRING_EQUAL(h[0].phase_id, "");
	prdshm_session_close(s);
	unpipe(&c);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* An abandoned session lives on in a process that inherited its descriptor */

static int keep_descriptor(void *p)
{
	struct child *c = p;

	tu_signal(c->up[1], 'k');
	return tu_await(c->down[0], 30000) == 'q' ? 0 : 1;
}

static void test_abandoned_slot_lives_with_inheritor(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = make_segment(&cfg, 4);
	struct child c = { .shm_name = cfg.shm_name };
	prdshm_session *s = join(seg, "shared-fd", PRDSHM_SESSION_INHERIT);
	prdshm_snapshot *snap = NULL;
	size_t n = 9;
	pid_t pid;

	CU_ASSERT_EQUAL(prdshm_lock(s, "job", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	pipes(&c);
	pid = tu_fork(keep_descriptor, &c);
	CU_ASSERT_EQUAL_FATAL(tu_await(c.up[0], 10000), 'k');
	/* The handle goes; the child's copy of the descriptor keeps the slot. */
	prdshm_session_abandon(s);
	CU_ASSERT_EQUAL(prdshm_reap(seg, 0, NULL, NULL, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->agents[0].alive, 1);
	CU_ASSERT_EQUAL(snap->nlocks, 1);
	prdshm_snapshot_free(snap);

	tu_signal(c.down[1], 'q');
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 0);
	CU_ASSERT_EQUAL(prdshm_reap(seg, 0, NULL, NULL, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->agents[0].status, PRDSHM_AGENT_DEAD);
	CU_ASSERT_EQUAL(snap->nlocks, 0);
	prdshm_snapshot_free(snap);
	unpipe(&c);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* A session reaped behind its back                                         */

/* The session's descriptor is replaced (its open file description, and the
 * OFD lock with it, is gone): the session is reaped, its slot goes to a
 * newcomer, and the stale handle can neither act for nor disturb it. */
static void test_session_reaped_behind_its_back(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = make_segment(&cfg, 1);
	prdshm_session *s = join(seg, "victim", 0), *next;
	prdshm_snapshot *snap = NULL;
	size_t n = 0;
	int devnull;

	CU_ASSERT_EQUAL(prdshm_agent_heartbeat(s), 0);
	CU_ASSERT_EQUAL(prdshm_agent_log(s, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_agent_log(s, "still here"), 0);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	CU_ASSERT_FATAL(devnull >= 0);
	CU_ASSERT_EQUAL_FATAL(dup2(devnull, prdshm_session_fd(s)), prdshm_session_fd(s));
	close(devnull);
	CU_ASSERT_EQUAL(prdshm_reap(seg, 0, NULL, NULL, &n), 0);
	CU_ASSERT_EQUAL(n, 1);

	next = join(seg, "next", 0);
	CU_ASSERT_EQUAL(prdshm_agent_heartbeat(s), PRDSHM_ENOAGENT);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "agent victim was reaped");
	CU_ASSERT_EQUAL(prdshm_agent_log(s, "me again"), PRDSHM_ENOAGENT);
	prdshm_session_close(s);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL_FATAL(snap->nagents, 1);
	CU_ASSERT_STRING_EQUAL(snap->agents[0].id, "next");
	CU_ASSERT_EQUAL(snap->agents[0].alive, 1);
	CU_ASSERT_EQUAL(snap->agents[0].status, PRDSHM_AGENT_IDLE);
	CU_ASSERT_EQUAL(snap->agents[0].nlog, 0);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(prdshm_agent_heartbeat(next), 0);

	/* Phase calls check their arguments before the (empty) plan. */
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, next, "bad id", PRDSHM_PHASE_SKIPPED),
			PRDSHM_ENOPHASE);
	CU_ASSERT_EQUAL(prdshm_phase_set(seg, NULL, "a", (prdshm_phase_status)99),
			PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_phase_claim(next, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_phase_claim(NULL, NULL), PRDSHM_EINVAL);
	prdshm_session_close(next);
	tu_destroy(&cfg, seg);
}

/* Calls on a session check their arguments before touching the segment. */
static void test_calls_check_arguments(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = make_segment(&cfg, 4);
	prdshm_session *s = join(seg, "careful", 0);
	const char *pair[] = { "y", NULL }, *two[] = { "m1", "m2" };
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	size_t n = 0, failed = 99;

	CU_ASSERT_EQUAL(prdshm_lock(NULL, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_lock(s, NULL, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_ENAME);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "resource name is NULL");
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, -3, NULL), PRDSHM_EINVAL);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "negative timeout -3");
	CU_ASSERT_EQUAL(prdshm_unlock(NULL, "x"), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_unlock_all(NULL, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_lock_many(NULL, two, 2, PRDSHM_SHARED, 0, NULL, NULL),
			PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_lock_many(s, NULL, 2, PRDSHM_SHARED, 0, NULL, NULL),
			PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_lock_many(s, two, 2, PRDSHM_SHARED, -5, NULL, NULL),
			PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_lock_many(s, pair, 2, PRDSHM_SHARED, 0, NULL, &failed),
			PRDSHM_ENAME);
	CU_ASSERT_EQUAL(failed, 1);
	CU_ASSERT_EQUAL(prdshm_lock_query(NULL, "x", 0, h, 4, &n), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_lock_query(seg, "x", 0, NULL, 4, &n), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_lock_query(seg, "", 0, h, 4, &n), PRDSHM_ENAME);
	CU_ASSERT_EQUAL(prdshm_unlock(s, ""), PRDSHM_ENAME);
	CU_ASSERT_EQUAL(prdshm_upgrade(NULL, "x", 0), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_downgrade(s, NULL), PRDSHM_ENAME);
	CU_ASSERT_EQUAL(prdshm_downgrade(s, "x"), PRDSHM_ENOTHELD);
	CU_ASSERT_EQUAL(prdshm_agent_heartbeat(NULL), PRDSHM_EINVAL);
	/* Nothing was taken by the refused calls. */
	CU_ASSERT_EQUAL(prdshm_unlock_all(s, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	/* The default wait (lock_timeout_seconds) on free resources. */
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, PRDSHM_WAIT_DEFAULT, NULL), 0);
	/* Upgrading what is already EXCLUSIVE succeeds and changes nothing. */
	CU_ASSERT_EQUAL(prdshm_upgrade(s, "x", PRDSHM_TRY), 0);
	CU_ASSERT_EQUAL(prdshm_lock_query(seg, "x", PRDSHM_SHARED, h, 4, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(prdshm_lock_many(s, two, 2, PRDSHM_SHARED, PRDSHM_WAIT_DEFAULT, NULL,
					 NULL),
			0);
	CU_ASSERT_EQUAL(prdshm_unlock_all(s, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* Out of descriptors                                                       */

/* A session needs a descriptor of its own: without one, PRDSHM_ESYS with
 * the reason, and nothing is taken. */
static void test_out_of_descriptors(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = make_segment(&cfg, 4), *other = NULL;
	prdshm_session *s = NULL;
	struct rlimit old, low;
	int fds[64], n = 0, r, e;

	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	if (old.rlim_cur < 64 || setrlimit(RLIMIT_NOFILE, &low) != 0) {
		printf("  (skipped: cannot lower RLIMIT_NOFILE)\n");
		tu_destroy(&cfg, seg);
		return;
	}
	while (n < 64 && (fds[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		n++;
	e = errno;
	r = prdshm_session_open(seg, "no-fd", 0, &s);
	CU_ASSERT_EQUAL(e, EMFILE);
	CU_ASSERT_EQUAL(r, PRDSHM_ESYS);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "reopen"));
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), strerror(EMFILE)));
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &other), PRDSHM_ESYS);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), strerror(EMFILE)));
	/* One descriptor back: the session opens. */
	close(fds[--n]);
	s = join(seg, "no-fd", 0);
	CU_ASSERT_EQUAL(prdshm_session_slot(s), 0);
	prdshm_session_close(s);
	while (n > 0)
		close(fds[--n]);
	CU_ASSERT_EQUAL(setrlimit(RLIMIT_NOFILE, &old), 0);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* Holders and waiters as inspection shows them                             */

/* More holders than the snapshot's first allocation, in grant order. */
static void test_many_holders(void)
{
	enum { N = 12 };
	prdshm_config cfg;
	prdshm_seg *seg = make_segment(&cfg, 16);
	prdshm_session *s[N], *x;
	prdshm_snapshot *snap = NULL;
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	size_t n = 0;
	char id[16];

	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "h%d", i);
		s[i] = join(seg, id, 0);
		CU_ASSERT_EQUAL(prdshm_lock(s[i], "many", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	}
	x = join(seg, "writer", 0);
	CU_ASSERT_EQUAL(prdshm_lock(x, "many", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	/* Every holder blocks an EXCLUSIVE request; the count exceeds cap. */
	CU_ASSERT_EQUAL(prdshm_lock_query(seg, "many", PRDSHM_EXCLUSIVE, h, 4, &n), 0);
	CU_ASSERT_EQUAL(n, N);
	CU_ASSERT_EQUAL(prdshm_lock_query(seg, "many", PRDSHM_SHARED, h, 4, &n), 0);
	CU_ASSERT_EQUAL(n, 0);

	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL_FATAL(snap->nlocks, 1);
	CU_ASSERT_EQUAL(snap->locks[0].mode, PRDSHM_SHARED);
	CU_ASSERT_EQUAL(snap->locks[0].nholders, N);
	CU_ASSERT_EQUAL_FATAL(snap->locks[0].nrecords, N);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "h%d", i);
		CU_ASSERT_STRING_EQUAL(snap->locks[0].holders[i].agent_id, id);
		CU_ASSERT_EQUAL(snap->locks[0].holders[i].alive, 1);
		CU_ASSERT_EQUAL(snap->locks[0].holders[i].waiting, 0);
	}
	prdshm_snapshot_free(snap);
	for (int i = 0; i < N; i++)
		prdshm_session_close(s[i]);
	CU_ASSERT_EQUAL(prdshm_lock(x, "many", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	prdshm_session_close(x);
	tu_destroy(&cfg, seg);
}

/* Shares "u", then upgrades it, which waits for the parent to leave. */
static int upgrade_child(void *p)
{
	struct child *c = p;
	prdshm_seg *seg = NULL;
	prdshm_session *s = tu_child_session(c->shm_name, "upgrader", &seg);
	int r;

	TU_CHILD_ASSERT(prdshm_lock(s, "u", PRDSHM_SHARED, PRDSHM_TRY, NULL) == 0);
	tu_signal(c->up[1], 's');
	r = prdshm_upgrade(s, "u", 20000);
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	return r == 0 ? 0 : 1;
}

/* Bounded wait until @p resource has a waiting record. */
static int await_waiter(prdshm_seg *seg, const char *resource, prdshm_holder *h)
{
	int64_t deadline = tu_now_ms() + 10000;

	while (tu_now_ms() < deadline) {
		size_t n = query(seg, resource, h);
		for (size_t i = 0; i < n && i < 4; i++) {
			if (h[i].waiting)
				return (int)i;
		}
		/* Polling shared state: there is nothing to wait on. */
		usleep(1000);
	}
	return -1;
}

/* An upgrading holder shows twice: SHARED holder and EXCLUSIVE waiter. */
static void test_upgrade_shown_as_holder_and_waiter(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = make_segment(&cfg, 4);
	struct child c = { .shm_name = cfg.shm_name };
	prdshm_session *s = join(seg, "reader", 0);
	prdshm_snapshot *snap = NULL;
	prdshm_lock_info *li;
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	pid_t pid;
	int w;

	CU_ASSERT_EQUAL(prdshm_lock(s, "u", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	pipes(&c);
	pid = tu_fork(upgrade_child, &c);
	CU_ASSERT_EQUAL_FATAL(tu_await(c.up[0], 10000), 's');
	w = await_waiter(seg, "u", h);
	CU_ASSERT_FATAL(w >= 0);
	CU_ASSERT_STRING_EQUAL(h[w].agent_id, "upgrader");
	CU_ASSERT_EQUAL(h[w].mode, PRDSHM_EXCLUSIVE);

	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL_FATAL(snap->nlocks, 1);
	li = &snap->locks[0];
	CU_ASSERT_EQUAL(li->mode, PRDSHM_SHARED);
	CU_ASSERT_EQUAL(li->nholders, 2);
	CU_ASSERT_EQUAL_FATAL(li->nrecords, 3);
	CU_ASSERT_EQUAL(li->holders[0].mode, PRDSHM_SHARED);
	CU_ASSERT_EQUAL(li->holders[1].mode, PRDSHM_SHARED);
	CU_ASSERT_STRING_EQUAL(li->holders[2].agent_id, "upgrader");
	CU_ASSERT_EQUAL(li->holders[2].waiting, 1);
	CU_ASSERT_EQUAL(li->holders[2].mode, PRDSHM_EXCLUSIVE);
	prdshm_snapshot_free(snap);

	/* Leaving lets the upgrade through. */
	CU_ASSERT_EQUAL(prdshm_unlock(s, "u"), 0);
	CU_ASSERT_EQUAL(tu_wait_child(pid, 20000), 0);
	CU_ASSERT_EQUAL(query(seg, "u", h), 0);
	prdshm_session_close(s);
	unpipe(&c);
	tu_destroy(&cfg, seg);
}

const tu_test tu_tests[] = {
	TU(test_open_arguments),
	TU(test_descriptor_flags),
	TU(test_reopen_after_owner_died),
	TU(test_abandoned_slot_lives_with_inheritor),
	TU(test_session_reaped_behind_its_back),
	TU(test_calls_check_arguments),
	TU(test_out_of_descriptors),
	TU(test_many_holders),
	TU(test_upgrade_shown_as_holder_and_waiter),
	{ NULL, NULL },
};
const char *tu_suite = "session";
