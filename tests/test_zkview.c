/*
 * test_zkview.c: the ZooKeeper backend's agent record (lib/zk/agent.c)
 * against any bytes, and, on a server (PRDSHM_TEST_BACKEND=zookeeper, as
 * tests/cli/zk_tools.sh runs it), snapshots, checks and the segment's
 * settings: heartbeats and log lines, a held lock and its waiter, a
 * scribbled agent record and request.  Without the ZooKeeper client the
 * tests have nothing to test and pass empty; the server tests pass empty
 * on shared memory (make check runs every program once that way).
 * The lock metrics (lib/zk/metrics.c): two processes' contended
 * acquisitions and a timeout, counted in their records and kept in
 * <base>/metrics once they close.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confspawn.h"
#include "testutil.h"

#ifdef PRDSHM_HAVE_ZOOKEEPER
#include "plan/phases.h"
#include "shm/segment.h"
#include "zk/zk.h"

static int parse(const char *data, size_t len, struct prdshm__zk_agent_rec *r, char *why)
{
	return prdshm__zk_agent_parse(data, len, r, why, 80);
}

/* What is written is read back; a newline or a backslash in a host or a
 * log line is escaped, so it cannot add or change a key. */
static void test_record_roundtrip(void)
{
	struct prdshm__zk_agent_rec r, back;
	char buf[PRDSHM__ZK_AGENT_MAX], why[80];
	int len;

	prdshm__zk_agent_init(&r);
	CU_ASSERT_EQUAL(r.pid, (int32_t)getpid());
	CU_ASSERT(r.host[0] != '\0');
	r.status = PRDSHM_AGENT_BUSY;
	strcpy(r.log[0], "plain line");
	strcpy(r.log[1], "forged\nstatus=DEAD\npid=1\\x41");
	strcpy(r.log[2], "\x01\x7f\xff end");
	r.nlog = 3;
	len = prdshm__zk_agent_format(&r, buf, sizeof(buf));
	CU_ASSERT_FATAL(len > 0);
	CU_ASSERT_PTR_NULL(memchr(buf, '\0', (size_t)len));
	CU_ASSERT_PTR_NULL(strstr(buf, "\nstatus=DEAD"));
	CU_ASSERT_EQUAL_FATAL(parse(buf, (size_t)len, &back, why), 0);
	CU_ASSERT_EQUAL(back.pid, r.pid);
	CU_ASSERT_EQUAL(back.uid, r.uid);
	CU_ASSERT_EQUAL(back.start_ns, r.start_ns);
	CU_ASSERT_EQUAL(back.status, PRDSHM_AGENT_BUSY);
	CU_ASSERT_STRING_EQUAL(back.host, r.host);
	CU_ASSERT_EQUAL_FATAL(back.nlog, 3);
	for (int k = 0; k < 3; k++)
		CU_ASSERT_STRING_EQUAL(back.log[k], r.log[k]);
}

/* A ring longer than ours (a newer writer, or a scribble) keeps its
 * newest lines; unknown keys are a newer writer's and ignored. */
static void test_record_long_ring(void)
{
	struct prdshm__zk_agent_rec r;
	char buf[2048], why[80];
	size_t o = 0;

	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "pid=7\nstart=9\nfuture=x\n");
	for (int k = 0; k < PRDSHM_LOG_LINES + 3; k++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "log=line %d\n", k);
	CU_ASSERT_EQUAL_FATAL(parse(buf, o, &r, why), 0);
	CU_ASSERT_EQUAL(r.nlog, PRDSHM_LOG_LINES);
	CU_ASSERT_STRING_EQUAL(r.log[0], "line 3");
	CU_ASSERT_STRING_EQUAL(r.log[PRDSHM_LOG_LINES - 1], "line 10");
}

/* Every malformed record is refused with a reason, never read past its
 * end (ASan and valgrind runs watch that). */
static void test_record_malformed(void)
{
	static const struct {
		const char *data;
		size_t len; /* 0: strlen */
	} bad[] = {
		{ "", 0 },
		{ "pid=1\n", 0 },                      /* no start */
		{ "start=1\n", 0 },                    /* no pid */
		{ "pid=1\nstart=1", 0 },               /* last line not ended */
		{ "pid=x\nstart=1\n", 0 },
		{ "pid=\nstart=1\n", 0 },
		{ "pid=-1\nstart=1\n", 0 },
		{ "pid=99999999999\nstart=1\n", 0 },   /* past int32 */
		{ "pid=1\nstart=99999999999999999999999\n", 0 },
		{ "garbage\npid=1\nstart=1\n", 0 },    /* no '=' */
		{ "pid=1\nstart=1\nstatus=ASLEEP\n", 0 },
		{ "pid=1\nstart=1\nlog=a\\\n", 0 },    /* escape cut short */
		{ "pid=1\nstart=1\nlog=a\\x4\n", 0 },
		{ "pid=1\nstart=1\nlog=a\\y41\n", 0 },
		{ "pid=1\nstart=1\nlog=a\\x00\n", 0 }, /* an escaped NUL */
		{ "pid=1\nstart=1\nhost=a\0b\n", 21 }, /* a raw NUL */
	};
	struct prdshm__zk_agent_rec r;
	char why[80];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].data);
		char *copy = malloc(len ? len : 1);

		/* A private copy of exactly len bytes: no terminator to lean on. */
		memcpy(copy, bad[i].data, len);
		why[0] = '\0';
		if (parse(copy, len, &r, why) != PRDSHM_ECORRUPT)
			fprintf(stderr, "accepted: case %zu\n", i);
		CU_ASSERT_EQUAL(parse(copy, len, &r, why), PRDSHM_ECORRUPT);
		CU_ASSERT(why[0] != '\0');
		free(copy);
	}
}

/* Random bytes: refused or read, never a crash or an overrun. */
static void test_record_random(void)
{
	struct prdshm__zk_agent_rec r;
	unsigned seed = 18;
	char why[80];

	for (int n = 0; n < 2000; n++) {
		size_t len = (size_t)(rand_r(&seed) % 300);
		char *buf = malloc(len ? len : 1);

		for (size_t i = 0; i < len; i++) {
			static const char alphabet[] = "pid=start=log=host=\\x0a1\n";
			int c = rand_r(&seed);

			buf[i] = c & 1 ? alphabet[(c >> 1) % (sizeof(alphabet) - 1)] : (char)(c >> 3);
		}
		if (parse(buf, len, &r, why) == 0)
			CU_ASSERT(r.nlog <= PRDSHM_LOG_LINES);
		free(buf);
	}
}

/* ---- On a server ------------------------------------------------------- */

static prdshm_config cfg;

/* The segment on ZooKeeper, or NULL (and the test passes empty) when the
 * program runs on shared memory. */
static prdshm_seg *zk_setup(void)
{
	if (!tu_backend_config(&cfg)) {
		prdshm_config_free(&cfg);
		return NULL;
	}
	cfg.lock_timeout_seconds = 42;
	cfg.deadlock_timeout_ms = 321;
	cfg.max_parallel_agents = 5;
	cfg.scheduling = PRDSHM_SCHED_EAGER;
	return tu_seg_create(&cfg);
}

static void zk_teardown(prdshm_seg *seg)
{
	prdshm_seg_close(seg);
	CU_ASSERT_EQUAL(prdshm_seg_unlink_unused_cfg(&cfg), 0);
	prdshm_config_free(&cfg);
}

/* The settings stored at creation come back, from another handle too. */
static void test_seg_info(void)
{
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;
	prdshm_seg *seg = zk_setup(), *other = NULL;

	if (seg == NULL)
		return;
	CU_ASSERT_EQUAL_FATAL(prdshm_seg_open_cfg(&cfg, &other), 0);
	CU_ASSERT_EQUAL(prdshm_seg_info_get(other, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.shm_name, cfg.shm_name);
	CU_ASSERT_EQUAL(info.format, 1);
	CU_ASSERT(info.created_ns > 0);
	CU_ASSERT_EQUAL(info.max_locks, 256);
	CU_ASSERT_EQUAL(info.max_phases, 64);
	CU_ASSERT_EQUAL(info.max_agents, 16);
	CU_ASSERT_EQUAL(info.nparts, 0);
	CU_ASSERT_EQUAL(info.lock_timeout_seconds, 42);
	CU_ASSERT_EQUAL(info.deadlock_timeout_ms, 321);
	CU_ASSERT_EQUAL(info.max_parallel_agents, 5);
	CU_ASSERT_EQUAL(info.wave_delay_seconds, cfg.wave_delay_seconds);
	CU_ASSERT_EQUAL(info.phase_max_attempts, cfg.phase_max_attempts);
	CU_ASSERT_EQUAL(info.scheduling, PRDSHM_SCHED_EAGER);
	prdshm_seg_close(other);
	zk_teardown(seg);
}

static const prdshm_agent_info *find_agent(const prdshm_snapshot *snap, const char *id)
{
	for (size_t i = 0; i < snap->nagents; i++)
		if (strcmp(snap->agents[i].id, id) == 0)
			return &snap->agents[i];
	return NULL;
}

/* Heartbeats and log lines are in the agent's record, newest
 * PRDSHM_LOG_LINES lines oldest first; a newline in a line forges
 * nothing. */
static void test_heartbeat_and_log(void)
{
	prdshm_seg *seg = zk_setup();
	const prdshm_agent_info *a;
	prdshm_snapshot *snap = NULL;
	prdshm_session *s;
	char line[64], host[256], want[256] = "";

	if (seg == NULL)
		return;
	s = tu_session(seg, "logger");
	CU_ASSERT_EQUAL(prdshm_agent_heartbeat(s), 0);
	for (int k = 0; k < PRDSHM_LOG_LINES + 2; k++) {
		snprintf(line, sizeof(line), "line %d%s", k, k == 9 ? "\nstatus=DEAD" : "");
		CU_ASSERT_EQUAL(prdshm_agent_log(s, line), 0);
	}
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT(snap->locked);
	a = find_agent(snap, "logger");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->pid, (int32_t)getpid());
	CU_ASSERT_EQUAL(a->uid, (uint32_t)getuid());
	CU_ASSERT_EQUAL(a->slot, prdshm_session_slot(s));
	CU_ASSERT(a->alive);
	CU_ASSERT_EQUAL(a->status, PRDSHM_AGENT_IDLE);
	CU_ASSERT_EQUAL(a->phase, -1);
	CU_ASSERT(a->start_ns > 0);
	CU_ASSERT(a->heartbeat_ns > a->start_ns);
	CU_ASSERT_EQUAL_FATAL(a->nlog, PRDSHM_LOG_LINES);
	CU_ASSERT_STRING_EQUAL(a->log[0], "line 2");
	CU_ASSERT_EQUAL(gethostname(want, sizeof(want)), 0);
	CU_ASSERT_EQUAL(prdshm_snapshot_agent_host(snap, (size_t)(a - snap->agents), host,
						   sizeof(host)),
			0);
	CU_ASSERT_STRING_EQUAL(host, want);
	CU_ASSERT_EQUAL(prdshm_snapshot_agent_host(snap, snap->nagents, host, sizeof(host)),
			PRDSHM_EINVAL);
	CU_ASSERT_STRING_EQUAL(a->log[PRDSHM_LOG_LINES - 1], "line 9\nstatus=DEAD");
	prdshm_snapshot_free(snap);
	/* Closed: its znode is gone, so are its heartbeats. */
	prdshm_session_close(s);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_PTR_NULL(find_agent(snap, "logger"));
	prdshm_snapshot_free(snap);
	zk_teardown(seg);
}

struct waiter {
	prdshm_seg *seg;
	int result;
};

static void *wait_for_lock(void *arg)
{
	struct waiter *w = arg;
	prdshm_session *s = tu_session(w->seg, "waiter");

	w->result = prdshm_lock(s, "shared res", PRDSHM_EXCLUSIVE, 20000, "ph-w");
	prdshm_session_close(s);
	return NULL;
}

/* The lock's holders, then its waiters in FIFO order, once one waits and
 * its agent is seen too (agents are read before locks, and the waiter may
 * come in between: a snapshot is no atomic read on ZooKeeper): @return
 * the snapshot (the caller frees), NULL past the bound. */
static prdshm_snapshot *snapshot_with_waiter(prdshm_seg *seg)
{
	for (int tries = 0; tries < 200; tries++) {
		prdshm_snapshot *snap = NULL;

		CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
		if (snap->nlocks == 1 && snap->locks[0].nrecords == 2 &&
		    find_agent(snap, "waiter") != NULL)
			return snap;
		prdshm_snapshot_free(snap);
		usleep(50 * 1000);
	}
	return NULL;
}

static void test_lock_in_snapshot(void)
{
	prdshm_seg *seg = zk_setup();
	struct waiter w = { seg, 1 };
	prdshm_snapshot *snap;
	const prdshm_lock_info *li;
	prdshm_session *s;
	pthread_t t;

	if (seg == NULL)
		return;
	s = tu_session(seg, "holder");
	CU_ASSERT_EQUAL_FATAL(prdshm_lock(s, "shared res", PRDSHM_SHARED, PRDSHM_TRY, "ph-h"), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, wait_for_lock, &w), 0);
	snap = snapshot_with_waiter(seg);
	CU_ASSERT_PTR_NOT_NULL(snap);
	if (snap) {
		li = &snap->locks[0];
		CU_ASSERT_STRING_EQUAL(li->resource, "shared res");
		CU_ASSERT_EQUAL(li->resource_len, 10);
		CU_ASSERT_EQUAL(li->mode, PRDSHM_SHARED);
		CU_ASSERT_EQUAL(li->nholders, 1);
		CU_ASSERT_STRING_EQUAL(li->holders[0].agent_id, "holder");
		CU_ASSERT_STRING_EQUAL(li->holders[0].phase_id, "ph-h");
		CU_ASSERT_EQUAL(li->holders[0].pid, (int32_t)getpid());
		CU_ASSERT_EQUAL(li->holders[0].waiting, 0);
		CU_ASSERT(li->holders[0].since_ns > 0);
		CU_ASSERT_STRING_EQUAL(li->holders[1].agent_id, "waiter");
		CU_ASSERT_EQUAL(li->holders[1].mode, PRDSHM_EXCLUSIVE);
		CU_ASSERT_EQUAL(li->holders[1].waiting, 1);
		prdshm_snapshot_free(snap);
	}
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(s, "shared res"), 0);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(w.result, 0);
	prdshm_session_close(s);
	zk_teardown(seg);
}

static void count_problem(void *ctx, int severity, const char *problem)
{
	if (severity == PRDSHM_CHECK_ERROR && strstr(problem, "zk-scribble"))
		(*(int *)ctx)++;
}

/* A scribbled agent record and a request whose data is not one are
 * errors for the check; the snapshot shows the agent as malformed. */
static void test_check_scribbles(void)
{
	prdshm_seg *seg = zk_setup();
	struct prdshm__zk_seg *zs = (struct prdshm__zk_seg *)(void *)seg;
	char agent[PRDSHM__ZK_PATH_MAX], res[PRDSHM__ZK_PATH_MAX], req[PRDSHM__ZK_PATH_MAX + 32];
	const prdshm_agent_info *a;
	prdshm_snapshot *snap = NULL;
	int found = 0;

	if (seg == NULL)
		return;
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
	snprintf(agent, sizeof(agent), "%s/agents/zk-scribble-0000000777", zs->base);
	CU_ASSERT_EQUAL_FATAL(zoo_create(zs->zh, agent, "pid=1\nstart=\n", 13, &ZOO_OPEN_ACL_UNSAFE,
					 ZOO_EPHEMERAL, NULL, 0),
			      ZOK);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, count_problem, &found), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(found, 1);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	a = find_agent(snap, "zk-scribble");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->slot, 777);
	CU_ASSERT_EQUAL(a->nlog, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(a->log[0], "malformed agent record"));
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(zoo_delete(zs->zh, agent, -1), ZOK);

	snprintf(res, sizeof(res), "%s/locks/zk-scribble", zs->base);
	snprintf(req, sizeof(req), "%s/write-x-0000000001", res);
	CU_ASSERT_EQUAL_FATAL(zoo_create(zs->zh, res, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0),
			      ZOK);
	CU_ASSERT_EQUAL_FATAL(zoo_create(zs->zh, req, "mode=sideways\n", 14, &ZOO_OPEN_ACL_UNSAFE,
					 ZOO_EPHEMERAL, NULL, 0),
			      ZOK);
	found = 0;
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, count_problem, &found), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(found, 1);
	CU_ASSERT_EQUAL(zoo_delete(zs->zh, req, -1), ZOK);
	CU_ASSERT_EQUAL(zoo_delete(zs->zh, res, -1), ZOK);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
	zk_teardown(seg);
}

/* ---- The plan image ---------------------------------------------------- */

/* A plan image as the phase branch writes it to <base>/plan: the bytes of a
 * shm phase region, here of a segment whose one phase p0 a shm session
 * claimed, its holder then set to ZooKeeper agent @p slot, @p id.  The
 * caller frees it. */
static unsigned char *plan_image(int32_t slot, const char *id, int *bytes)
{
	prdshm_config pcfg;
	prdshm_seg *pseg = tu_create_with_plan(&pcfg);
	prdshm_session *s = tu_session(pseg, "shm-claimer");
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	const struct prdshm__phase_region *reg;
	struct prdshm__phase *ph;
	unsigned char *img;

	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(s, &c), 0);
	reg = (const struct prdshm__phase_region *)(void *)prdshm__plan(pseg)->base;
	*bytes = (int)reg->region_bytes;
	img = malloc(reg->region_bytes);
	CU_ASSERT_PTR_NOT_NULL_FATAL(img);
	memcpy(img, reg, reg->region_bytes);
	ph = (struct prdshm__phase *)(void *)(img + reg->off_phases);
	ph[0].agent_slot = slot;
	ph[0].agent_gen = 0;
	memset(ph[0].agent_id, 0, sizeof(ph[0].agent_id));
	memcpy(ph[0].agent_id, id, strlen(id));
	prdshm_session_close(s);
	tu_destroy(&pcfg, pseg);
	return img;
}

static void set_plan(struct prdshm__zk_seg *zs, const unsigned char *img, int bytes)
{
	char plan[PRDSHM__ZK_PATH_MAX];
	int rc;

	snprintf(plan, sizeof(plan), "%s/plan", zs->base);
	rc = zoo_set(zs->zh, plan, (const char *)img, bytes, -1);
	if (rc == ZNONODE)
		rc = zoo_create(zs->zh, plan, (const char *)img, bytes, &ZOO_OPEN_ACL_UNSAFE, 0,
				NULL, 0);
	CU_ASSERT_EQUAL_FATAL(rc, ZOK);
}

static void count_dead(void *ctx, int severity, const char *problem)
{
	if (severity == PRDSHM_CHECK_WARN && strstr(problem, "dead agent gone"))
		(*(int *)ctx)++;
}

/* The phases of a snapshot come from the plan image; its IN_PROGRESS
 * phase's holder is BUSY with it while its agent znode exists, and listed
 * as a DEAD agent once it is gone, which the check warns about. */
static void test_plan_image(void)
{
	prdshm_seg *seg = zk_setup();
	struct prdshm__zk_seg *zs = (struct prdshm__zk_seg *)(void *)seg;
	const prdshm_agent_info *a;
	prdshm_snapshot *snap = NULL;
	prdshm_session *s;
	unsigned char *img;
	int bytes, dead = 0;

	if (seg == NULL)
		return;
	/* No plan znode: a segment for locks only, no phases, no error. */
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->nphases, 0);
	prdshm_snapshot_free(snap);
	s = tu_session(seg, "runner");
	img = plan_image(prdshm_session_slot(s), "runner", &bytes);
	set_plan(zs, img, bytes);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT(snap->locked);
	CU_ASSERT_EQUAL_FATAL(snap->nphases, 1);
	CU_ASSERT_STRING_EQUAL(snap->phases[0].id, "p0");
	CU_ASSERT_EQUAL(snap->phases[0].status, PRDSHM_PHASE_IN_PROGRESS);
	CU_ASSERT_EQUAL(snap->nwaves, 1);
	a = find_agent(snap, "runner");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->status, PRDSHM_AGENT_BUSY);
	CU_ASSERT_EQUAL(a->phase, 0);
	CU_ASSERT_EQUAL(snap->nagents, 1);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
	free(img);

	/* Its holder's znode is gone (sequence numbers only grow). */
	img = plan_image(prdshm_session_slot(s) + 1000, "gone", &bytes);
	set_plan(zs, img, bytes);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	a = find_agent(snap, "gone");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->alive, 0);
	CU_ASSERT_EQUAL(a->status, PRDSHM_AGENT_DEAD);
	CU_ASSERT_EQUAL(a->phase, 0);
	CU_ASSERT_EQUAL(a->slot, prdshm_session_slot(s) + 1000);
	CU_ASSERT_EQUAL(find_agent(snap, "runner")->status, PRDSHM_AGENT_IDLE);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, count_dead, &dead), PRDSHM_EDEADOWNER);
	CU_ASSERT_EQUAL(dead, 1);

	/* A scribbled image: the check and the snapshot say corrupt. */
	((struct prdshm__phase_region *)(void *)img)->magic ^= 0xa5a5a5a5u;
	set_plan(zs, img, bytes);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, NULL, NULL), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(prdshm_snapshot_take(seg, 0, &snap), PRDSHM_ECORRUPT);
	free(img);
	prdshm_session_close(s);
	zk_teardown(seg);
}

/* ---- Lock metrics (lib/zk/metrics.c) -------------------------------------- */

/* Rounds of contended acquisitions per child. */
#define METRIC_ROUNDS 4

/* A child told what to do by one byte at a time on @p in: 'l' lock "res"
 * (blocking) and unlock, 't' a lock of "res" that times out, 'h' a
 * heartbeat (its figures go to its record), 'q' close and exit; it answers
 * each with the same byte on @p out once done. */
static int metrics_child(int out, int in)
{
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;
	int c;

	TU_CHILD_ASSERT(prdshm_seg_open_cfg(&cfg, &seg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(seg, getenv("ZKVIEW_ID"), 0, &s) == 0);
	tu_signal(out, 'r');
	while ((c = tu_await(in, 30000)) != 'q') {
		if (c == 'l') {
			TU_CHILD_ASSERT(prdshm_lock(s, "res", PRDSHM_EXCLUSIVE, 20000, NULL) == 0);
			TU_CHILD_ASSERT(prdshm_unlock(s, "res") == 0);
		} else if (c == 't') {
			TU_CHILD_ASSERT(prdshm_lock(s, "res", PRDSHM_EXCLUSIVE, 100, NULL) ==
					PRDSHM_ETIMEDOUT);
		} else if (c == 'h') {
			TU_CHILD_ASSERT(prdshm_agent_heartbeat(s) == 0);
		} else {
			return 3;
		}
		tu_signal(out, (char)c);
	}
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	return 0;
}

/* A child of the test run as ZKVIEW_ROLE says, before main(). */
__attribute__((constructor)) static void child_entry(void)
{
	const char *role = getenv("ZKVIEW_ROLE");

	if (!role)
		return;
	prdshm_config_init(&cfg);
	TU_CHILD_ASSERT(prdshm_config_apply_env(&cfg, NULL) == 0);
	_exit(metrics_child(atoi(getenv("ZKVIEW_OUT")), atoi(getenv("ZKVIEW_IN"))));
}

struct mchild {
	pid_t pid;
	int rep[2], go[2];
};

static void mchild_start(struct mchild *c, const char *id)
{
	char vars[4][64], *v[4];

	CU_ASSERT_FATAL(pipe(c->rep) == 0 && pipe(c->go) == 0);
	snprintf(vars[0], sizeof(vars[0]), "ZKVIEW_ROLE=metrics");
	snprintf(vars[1], sizeof(vars[1]), "ZKVIEW_ID=%s", id);
	snprintf(vars[2], sizeof(vars[2]), "ZKVIEW_OUT=%d", c->rep[1]);
	snprintf(vars[3], sizeof(vars[3]), "ZKVIEW_IN=%d", c->go[0]);
	for (int i = 0; i < 4; i++)
		v[i] = vars[i];
	c->pid = tu_conf_spawn(&cfg, "test_zkview", "ZKVIEW_", v, 4);
	CU_ASSERT_EQUAL_FATAL(tu_await(c->rep[0], 20000), 'r');
}

/* Tell child @p c to do @p what; 1 once it says it did. */
static int mchild_do(struct mchild *c, char what)
{
	tu_signal(c->go[1], what);
	return tu_await(c->rep[0], 20000) == what;
}

/* Poll (bounded) until "res" has @p n requests. */
static int await_requests(prdshm_seg *seg, size_t n)
{
	for (int tries = 0; tries < 400; tries++) {
		size_t got = 99;

		if (prdshm_lock_query(seg, "res", 0, NULL, 0, &got) == 0 && got == n)
			return 1;
		usleep(25 * 1000);
	}
	return 0;
}

/* The totals and the entry of "res" (zeroed if not listed). */
static void metrics_of(prdshm_seg *seg, prdshm_lock_metrics *total, prdshm_lock_metrics *res)
{
	prdshm_lock_metrics out[8] = { PRDSHM_LOCK_METRICS_INIT };
	size_t n = 0;

	memset(res, 0, sizeof(*res));
	total->struct_size = sizeof(*total);
	CU_ASSERT_EQUAL_FATAL(prdshm_lock_metrics_get(seg, 0, total, out, 8, &n), 0);
	CU_ASSERT_FATAL(n <= 8);
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(out[i].struct_size, sizeof(out[i]));
		CU_ASSERT_EQUAL(out[i].resource_len, strlen(out[i].resource));
		if (strcmp(out[i].resource, "res") == 0)
			*res = out[i];
	}
}

/* The histogram adds up: its buckets are the contended grants. */
static void assert_consistent(const prdshm_lock_metrics *m)
{
	uint64_t sum = 0;

	for (int b = 0; b < PRDSHM_WAIT_BUCKETS; b++)
		sum += m->wait_buckets[b];
	CU_ASSERT_EQUAL(sum, m->contended);
	CU_ASSERT(m->wait_max_ns <= m->wait_ns);
	CU_ASSERT(m->contended == 0 || m->wait_max_ns > 0);
}

/* Each child's request queues behind the parent's hold: the parent locks
 * "res", tells the child to lock it, and releases once the child's request
 * is queued.  Round after round: 2 * METRIC_ROUNDS grants to the children,
 * as many plus one uncontended to the parent, and a child's timeout.  A
 * child's grant is contended (it slept) unless the release came between
 * the creation of its request and its first look at the queue, which the
 * parent cannot see: so all of them, or nearly. */
static void metrics_rounds(prdshm_seg *seg, prdshm_session *p, struct mchild *kids)
{
	for (int r = 0; r < 2 * METRIC_ROUNDS; r++) {
		struct mchild *c = &kids[r % 2];

		CU_ASSERT_EQUAL_FATAL(prdshm_lock(p, "res", PRDSHM_EXCLUSIVE, 5000, NULL), 0);
		tu_signal(c->go[1], 'l');
		CU_ASSERT_FATAL(await_requests(seg, 2));
		CU_ASSERT_EQUAL(prdshm_unlock(p, "res"), 0);
		CU_ASSERT_EQUAL_FATAL(tu_await(c->rep[0], 20000), 'l');
	}
	CU_ASSERT_EQUAL_FATAL(prdshm_lock(p, "res", PRDSHM_EXCLUSIVE, 5000, NULL), 0);
	CU_ASSERT_FATAL(mchild_do(&kids[0], 't'));
	CU_ASSERT_EQUAL(prdshm_unlock(p, "res"), 0);
}

static void test_lock_metrics(void)
{
	prdshm_seg *seg = zk_setup();
	prdshm_lock_metrics total, res, small = { .struct_size = 8 };
	struct mchild kids[2];
	prdshm_session *p;
	const uint64_t child_grants = 2 * METRIC_ROUNDS, parent_grants = 2 * METRIC_ROUNDS + 1;
	uint64_t contended;
	size_t n;

	if (seg == NULL)
		return;
	p = tu_session(seg, "parent");
	CU_ASSERT_EQUAL(prdshm_lock_metrics_get(seg, 0, NULL, NULL, 0, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(prdshm_lock_metrics_get(seg, 0, &small, NULL, 0, &n), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_lock_metrics_get(seg, 0, NULL, NULL, 1, &n), PRDSHM_EINVAL);
	mchild_start(&kids[0], "m1");
	mchild_start(&kids[1], "m2");
	metrics_rounds(seg, p, kids);

	/* Counted in the sessions, written with their records. */
	CU_ASSERT(mchild_do(&kids[0], 'h') && mchild_do(&kids[1], 'h'));
	CU_ASSERT_EQUAL(prdshm_agent_heartbeat(p), 0);
	metrics_of(seg, &total, &res);
	CU_ASSERT_EQUAL(total.acquisitions, child_grants + parent_grants);
	CU_ASSERT(total.contended > 0 && total.contended <= child_grants);
	CU_ASSERT_EQUAL(total.timeouts, 1);
	CU_ASSERT_EQUAL(total.deadlocks, 0);
	CU_ASSERT(total.wait_ns > 0);
	assert_consistent(&total);
	contended = total.contended;
	CU_ASSERT_EQUAL(res.resource_len, 3);
	CU_ASSERT_EQUAL(res.acquisitions, total.acquisitions);
	CU_ASSERT_EQUAL(res.contended, total.contended);
	CU_ASSERT_EQUAL(res.timeouts, 1);
	CU_ASSERT_EQUAL(res.wait_ns, total.wait_ns);
	/* cap 0 counts, and writes nothing.  A resource now locked is listed
	 * before its holder's figures are written (locks/). */
	CU_ASSERT_EQUAL(prdshm_lock_metrics_get(seg, 0, NULL, NULL, 0, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(prdshm_lock(p, "fresh", PRDSHM_SHARED, 5000, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock_metrics_get(seg, 0, NULL, NULL, 0, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(prdshm_unlock(p, "fresh"), 0);
	CU_ASSERT_EQUAL(prdshm_lock_metrics_get(seg, 0, NULL, NULL, 0, &n), 0);
	CU_ASSERT_EQUAL(n, 1);

	/* Closed: the totals keep their figures; the resource keeps those of
	 * the live sessions (the parent's). */
	for (int i = 0; i < 2; i++) {
		tu_signal(kids[i].go[1], 'q');
		CU_ASSERT_EQUAL(tu_wait_child(kids[i].pid, 20000), 0);
		for (int k = 0; k < 2; k++) {
			close(kids[i].rep[k]);
			close(kids[i].go[k]);
		}
	}
	metrics_of(seg, &total, &res);
	CU_ASSERT_EQUAL(total.acquisitions, child_grants + parent_grants);
	CU_ASSERT_EQUAL(total.contended, contended);
	CU_ASSERT_EQUAL(total.timeouts, 1);
	assert_consistent(&total);
	CU_ASSERT_EQUAL(res.acquisitions, parent_grants); /* "fresh" is not written yet */
	CU_ASSERT_EQUAL(res.contended, 0);
	CU_ASSERT_EQUAL(res.timeouts, 0);
	/* And the parent's close moves its own. */
	prdshm_session_close(p);
	metrics_of(seg, &total, &res);
	CU_ASSERT_EQUAL(total.acquisitions, child_grants + parent_grants + 1);
	CU_ASSERT_EQUAL(res.acquisitions, 0);
	zk_teardown(seg);
}

const tu_test tu_tests[] = {
	TU(test_record_roundtrip),
	TU(test_record_long_ring),
	TU(test_record_malformed),
	TU(test_record_random),
	TU(test_seg_info),
	TU(test_heartbeat_and_log),
	TU(test_lock_in_snapshot),
	TU(test_check_scribbles),
	TU(test_plan_image),
	TU(test_lock_metrics),
	{ NULL, NULL },
};
#else
static void test_no_client(void)
{
	CU_PASS("built without the ZooKeeper client: nothing to test");
}

const tu_test tu_tests[] = {
	TU(test_no_client),
	{ NULL, NULL },
};
#endif
const char *tu_suite = "zkview";
