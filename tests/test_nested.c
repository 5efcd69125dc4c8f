/*
 * test_nested.c: sessions that act for another (prdshm.h, "Nested locks"):
 * a child's request covered by its parent's hold is granted and counted
 * apart; siblings still exclude each other; the variable is ignored when
 * it names another segment or with PRDSHM_SESSION_INDEPENDENT; a child
 * process SIGKILLed while holding a nested lock leaves the parent's hold
 * whole and nothing stranded.  Sessions of one process are as separate as
 * those of two (each has its own open file description), so most tests
 * open parent and child here; the kill test uses a real child process.
 * tests/cli/zookeeper.sh runs it again on ZooKeeper
 * (PRDSHM_TEST_BACKEND=zookeeper, tu_backend_config()), where a nested
 * hold has no request of its own (docs/zookeeper.md, "Nested locks"): the
 * tests say where that differs, and what is not done there yet.
 */
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confspawn.h"
#include "testutil.h"

static prdshm_config cfg;
static prdshm_seg *seg;
static int on_zk;

static void setup(void)
{
	on_zk = tu_backend_config(&cfg);
	cfg.shm_mode = 0600;
	seg = tu_seg_create(&cfg);
}

static void teardown(void)
{
	unsetenv(PRDSHM_PARENT_ENV);
	prdshm_seg_close(seg);
	/* A killed child's ZooKeeper session may still be registered: the
	 * server's data dir goes with it (tests/cli/zookeeper.sh). */
	(void)prdshm_seg_unlink_unused_cfg(&cfg);
	prdshm_config_free(&cfg);
}

/* Open a session acting for @p parent (NULL: none, and independent). */
static prdshm_session *open_for(prdshm_session *parent, const char *id)
{
	char env[PRDSHM_PARENT_ENV_MAX];
	prdshm_session *s = NULL;

	if (parent) {
		CU_ASSERT_EQUAL_FATAL(prdshm_session_env(parent, env, sizeof(env)), 0);
		setenv(PRDSHM_PARENT_ENV, env, 1);
	}
	CU_ASSERT_EQUAL_FATAL(
		prdshm_session_open(seg, id, parent ? 0 : PRDSHM_SESSION_INDEPENDENT, &s), 0);
	unsetenv(PRDSHM_PARENT_ENV);
	return s;
}

static int check(void)
{
	return prdshm_check(seg, 0, tu_print_problem, NULL);
}

static void test_reentrant_counted(void)
{
	prdshm_session *p, *c, *o;

	setup();
	p = open_for(NULL, "parent");
	c = open_for(p, "child");
	o = open_for(NULL, "other");
	CU_ASSERT_EQUAL(prdshm_lock(p, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	/* Covered: EXCLUSIVE covers both modes. */
	CU_ASSERT_EQUAL(prdshm_lock(c, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(check(), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(c, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(o, "x", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	/* The other way round: the child's hold outlives the parent's on
	 * shm.  On ZooKeeper it is the parent's request: it ends with it. */
	CU_ASSERT_EQUAL(prdshm_lock(c, "x", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(p, "x"), 0);
	if (!on_zk) {
		CU_ASSERT_EQUAL(prdshm_lock(o, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL),
				PRDSHM_EBUSY);
	}
	CU_ASSERT_EQUAL(prdshm_unlock(c, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(o, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(check(), 0);
	prdshm_session_close(o);
	prdshm_session_close(c);
	prdshm_session_close(p);
	teardown();
}

static void test_not_covered(void)
{
	prdshm_session *p, *c1, *c2, *g;

	setup();
	p = open_for(NULL, "parent");
	c1 = open_for(p, "child1");
	c2 = open_for(p, "child2");
	/* A heartbeat rewrites the agent's record: its parent stays. */
	CU_ASSERT_EQUAL(prdshm_agent_heartbeat(c1), 0);
	g = open_for(c1, "grandchild");
	/* The parent does not hold y: siblings exclude each other. */
	CU_ASSERT_EQUAL(prdshm_lock(c1, "y", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(c2, "y", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	/* A grandchild is covered by any ancestor's hold. */
	CU_ASSERT_EQUAL(prdshm_lock(g, "y", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	/* Also through a child that holds nothing of its own. */
	CU_ASSERT_EQUAL(prdshm_lock(p, "v", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(g, "v", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(p, "z", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(g, "z", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	/* SHARED does not cover EXCLUSIVE: the child would wait for its own
	 * parent, a deadlock reported as such, before the 10 s timeout. */
	CU_ASSERT_EQUAL(prdshm_lock(c2, "z", PRDSHM_EXCLUSIVE, 10000, NULL), PRDSHM_EDEADLK);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "parent waits for its child child2"));
	CU_ASSERT_EQUAL(check(), 0);
	prdshm_session_close(g);
	prdshm_session_close(c2);
	prdshm_session_close(c1);
	prdshm_session_close(p);
	teardown();
}

/* A session opened with PRDSHM_PARENT_SESSION set to @p env. */
static int try_with_env(const char *env, unsigned flags)
{
	prdshm_session *s = NULL;
	int r;

	setenv(PRDSHM_PARENT_ENV, env, 1);
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open(seg, "c", flags, &s), 0);
	unsetenv(PRDSHM_PARENT_ENV);
	r = prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL);
	prdshm_session_close(s);
	return r;
}

/* On ZooKeeper: "zk:SEQ:OWNER:CREATED_NS:SHM_NAME" (lib/zk/nested.c). */
static void variable_ignored_zk(const char *env)
{
	char bad[PRDSHM_PARENT_ENV_MAX + 8];
	unsigned seq;
	unsigned long long owner, created;

	CU_ASSERT_EQUAL_FATAL(sscanf(env, "zk:%u:%llx:%llu:", &seq, &owner, &created), 3);
	CU_ASSERT_EQUAL(try_with_env(env, 0), 0);
	CU_ASSERT_EQUAL(try_with_env(env, PRDSHM_SESSION_INDEPENDENT), PRDSHM_EBUSY);
	snprintf(bad, sizeof(bad), "zk:%u:%llx:%llu:%s", seq + 1000, owner, created, cfg.shm_name);
	CU_ASSERT_EQUAL(try_with_env(bad, 0), PRDSHM_EBUSY);
	snprintf(bad, sizeof(bad), "zk:%u:%llx:%llu:%s", seq, owner + 1, created, cfg.shm_name);
	CU_ASSERT_EQUAL(try_with_env(bad, 0), PRDSHM_EBUSY);
	snprintf(bad, sizeof(bad), "zk:%u:%llx:%llu:%s", seq, owner, created + 1, cfg.shm_name);
	CU_ASSERT_EQUAL(try_with_env(bad, 0), PRDSHM_EBUSY);
	snprintf(bad, sizeof(bad), "zk:%u:%llx:%llu:/another", seq, owner, created);
	CU_ASSERT_EQUAL(try_with_env(bad, 0), PRDSHM_EBUSY);
	/* A shm session's value names no ZooKeeper session. */
	snprintf(bad, sizeof(bad), "%u:1:%llu:%s", seq, created, cfg.shm_name);
	CU_ASSERT_EQUAL(try_with_env(bad, 0), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(try_with_env("garbage", 0), PRDSHM_EBUSY);
}

static void test_variable_ignored(void)
{
	char env[PRDSHM_PARENT_ENV_MAX], bad[PRDSHM_PARENT_ENV_MAX + 8];
	unsigned slot, gen;
	unsigned long long created;
	prdshm_session *p;

	setup();
	p = open_for(NULL, "parent");
	CU_ASSERT_EQUAL(prdshm_lock(p, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_session_env(p, env, 4), PRDSHM_EINVAL);
	CU_ASSERT_STRING_EQUAL(env, "");
	CU_ASSERT_EQUAL_FATAL(prdshm_session_env(p, env, sizeof(env)), 0);
	if (on_zk) {
		variable_ignored_zk(env);
		prdshm_session_close(p);
		teardown();
		return;
	}
	CU_ASSERT_EQUAL_FATAL(sscanf(env, "%u:%u:%llu:", &slot, &gen, &created), 3);
	CU_ASSERT_EQUAL(try_with_env(env, 0), 0);
	CU_ASSERT_EQUAL(try_with_env(env, PRDSHM_SESSION_INDEPENDENT), PRDSHM_EBUSY);
	snprintf(bad, sizeof(bad), "%u:%u:%llu:%s", slot, gen + 1, created, cfg.shm_name);
	CU_ASSERT_EQUAL(try_with_env(bad, 0), PRDSHM_EBUSY);
	snprintf(bad, sizeof(bad), "%u:%u:%llu:%s", slot, gen, created + 1, cfg.shm_name);
	CU_ASSERT_EQUAL(try_with_env(bad, 0), PRDSHM_EBUSY);
	snprintf(bad, sizeof(bad), "%u:%u:%llu:/another", slot, gen, created);
	CU_ASSERT_EQUAL(try_with_env(bad, 0), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(try_with_env("garbage", 0), PRDSHM_EBUSY);
	prdshm_session_close(p);
	teardown();
}

/* Child process, a fresh image of this program (confspawn.h: the
 * ZooKeeper client does not survive fork()): act for the session the
 * environment names, take x (nested), say so on fd @p fd, and wait to be
 * killed. */
static int nested_holder(int fd)
{
	prdshm_seg *sg = NULL;
	prdshm_session *s = NULL;

	if (prdshm_seg_open_cfg(&cfg, &sg) != 0 || prdshm_session_open(sg, "kid", 0, &s) != 0 ||
	    prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL) != 0)
		return 1;
	tu_signal(fd, 'h');
	pause();
	return 2;
}

__attribute__((constructor)) static void child_entry(void)
{
	const char *fd = getenv("NESTED_HOLDER_FD");

	if (!fd)
		return;
	prdshm_config_init(&cfg);
	if (prdshm_config_apply_env(&cfg, NULL) != 0)
		_exit(1);
	_exit(nested_holder(atoi(fd)));
}

static void test_killed_child(void)
{
	char env[PRDSHM_PARENT_ENV_MAX];
	prdshm_session *p, *o;
	int fds[2];
	char var[32], *vars[] = { var };
	pid_t kid;

	setup();
	p = open_for(NULL, "parent");
	o = open_for(NULL, "other");
	CU_ASSERT_EQUAL(prdshm_lock(p, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_session_env(p, env, sizeof(env)), 0);
	setenv(PRDSHM_PARENT_ENV, env, 1);
	snprintf(var, sizeof(var), "NESTED_HOLDER_FD=%d", fds[1]);
	kid = tu_conf_spawn(&cfg, "test_nested", "NESTED_", vars, 1);
	unsetenv(PRDSHM_PARENT_ENV);
	CU_ASSERT_EQUAL(tu_await(fds[0], 10000), 'h');
	kill(kid, SIGKILL);
	CU_ASSERT_EQUAL(tu_wait_child(kid, 10000), 128 + SIGKILL);
	/* The parent's hold is whole; the try sweeps the dead child's record
	 * (on ZooKeeper the child's hold had no request: nothing to sweep). */
	CU_ASSERT_EQUAL(prdshm_lock(o, "x", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(check(), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(p, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(o, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(check(), 0);
	close(fds[0]);
	close(fds[1]);
	prdshm_session_close(o);
	prdshm_session_close(p);
	teardown();
}

struct waiter {
	prdshm_session *s;
	pthread_t t;
	int r;
};

static void *wait_for_w(void *arg)
{
	struct waiter *w = arg;

	w->r = prdshm_lock(w->s, "w", PRDSHM_EXCLUSIVE, 10000, NULL);
	return NULL;
}

/* Wait (bounded) until @p n requests wait for "w". */
static int waiters_are(size_t n)
{
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	struct timespec ms = { 0, 1000000 };

	for (int i = 0; i < 10000; i++) {
		size_t k = 0, got = 0;

		if (prdshm_lock_query(seg, "w", 0, h, 4, &k) == 0)
			for (size_t j = 0; j < k && j < 4; j++)
				got += h[j].waiting != 0;
		if (got == n)
			return 1;
		nanosleep(&ms, NULL);
	}
	return 0;
}

/* A child queued behind its parent's request: once the parent's is
 * granted, the child's is covered and granted too, not a deadlock. */
static void test_covered_while_waiting(void)
{
	struct waiter p = { 0 }, c = { 0 };
	prdshm_session *o;

	setup();
	o = open_for(NULL, "other");
	p.s = open_for(NULL, "parent");
	c.s = open_for(p.s, "child");
	CU_ASSERT_EQUAL(prdshm_lock(o, "w", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&p.t, NULL, wait_for_w, &p), 0);
	CU_ASSERT(waiters_are(1));
	/* The parent's request waits: it covers nothing yet. */
	CU_ASSERT_EQUAL(prdshm_lock(c.s, "w", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&c.t, NULL, wait_for_w, &c), 0);
	CU_ASSERT(waiters_are(2));
	CU_ASSERT_EQUAL(prdshm_unlock(o, "w"), 0);
	pthread_join(p.t, NULL);
	pthread_join(c.t, NULL);
	CU_ASSERT_EQUAL(p.r, 0);
	CU_ASSERT_EQUAL(c.r, 0);
	CU_ASSERT_EQUAL(check(), 0);
	prdshm_session_close(c.s);
	prdshm_session_close(p.s);
	prdshm_session_close(o);
	teardown();
}

/* The test that forks runs before the one that starts threads. */
const tu_test tu_tests[] = {
	TU(test_reentrant_counted),
	TU(test_not_covered),
	TU(test_variable_ignored),
	TU(test_killed_child),
	TU(test_covered_while_waiting),
	{ NULL, NULL },
};
const char *tu_suite = "nested";
