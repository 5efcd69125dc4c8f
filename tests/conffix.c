/*
 * conffix.c: the fixture of the conformance suites (conffix.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confspawn.h"
#include "phaseplan.h"
#include "plan/phases.h"
#include "testutil.h"
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include "zk/zk.h"
#endif
/* Last: the library's inline functions name their parameters seg. */
#include "conffix.h"

prdshm_config cfg;
prdshm_seg *seg;
int on_zk;

void setup(void)
{
	on_zk = tu_backend_config(&cfg);
	CU_ASSERT_EQUAL_FATAL(prdshm_seg_create(&cfg, &seg), 0);
}

void teardown(void)
{
	prdshm_seg_close(seg);
	seg = NULL;
	/* A killed child's ZooKeeper session may still be registered: the
	 * server's data dir goes with it (tests/zk/run.sh). */
	if (prdshm_seg_unlink_unused_cfg(&cfg) != 0 && !on_zk)
		prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
}

prdshm_session *session(const char *id)
{
	return tu_session(seg, id);
}

/* ---- Children -------------------------------------------------------------- */

pid_t spawn(const char *role, const char *id, const char *resource, int mode, int out, int in)
{
	char vars[6][300], *v[6], argv0[64];

	snprintf(vars[0], sizeof(vars[0]), "CONF_ROLE=%s", role);
	snprintf(vars[1], sizeof(vars[0]), "CONF_ID=%s", id ? id : "x");
	snprintf(vars[2], sizeof(vars[0]), "CONF_RESOURCE=%s", resource ? resource : "r");
	snprintf(vars[3], sizeof(vars[0]), "CONF_MODE=%d", mode);
	snprintf(vars[4], sizeof(vars[0]), "CONF_OUT=%d", out);
	snprintf(vars[5], sizeof(vars[0]), "CONF_IN=%d", in);
	for (int i = 0; i < 6; i++)
		v[i] = vars[i];
	snprintf(argv0, sizeof(argv0), "test_%s", tu_suite);
	return tu_conf_spawn(&cfg, argv0, "CONF_", v, 6);
}

static int locker_main(void *arg)
{
	struct locker *l = arg;
	prdshm_seg *cseg = NULL;
	prdshm_session *s = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open_cfg(&cfg, &cseg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(cseg, l->id, 0, &s) == 0);
	TU_CHILD_ASSERT(prdshm_lock(s, l->resource, l->mode, 20000, "ph") == 0);
	tu_signal(l->report, l->id[0]);
	if (tu_await(l->go, 30000) < 0)
		_exit(3);
	TU_CHILD_ASSERT(prdshm_unlock(s, l->resource) == 0);
	prdshm_session_close(s);
	prdshm_seg_close(cseg);
	return 0;
}

int conf_child(struct conf_child *c)
{
	struct locker l;

	c->role = getenv("CONF_ROLE");
	if (!c->role)
		return 0;
	prdshm_config_init(&cfg);
	TU_CHILD_ASSERT(prdshm_config_apply_env(&cfg, NULL) == 0);
	c->id = getenv("CONF_ID");
	c->resource = getenv("CONF_RESOURCE");
	c->mode = atoi(getenv("CONF_MODE"));
	c->out = atoi(getenv("CONF_OUT"));
	c->in = atoi(getenv("CONF_IN"));
	if (strcmp(c->role, "locker") == 0) {
		l.id = c->id;
		l.resource = c->resource;
		l.mode = (prdshm_mode)c->mode;
		l.report = c->out;
		l.go = c->in;
		_exit(locker_main(&l));
	}
	return 1;
}

int read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	int c;

	while ((c = tu_await(fd, 10000)) >= 0 && c != '\n')
		if (n + 1 < size)
			buf[n++] = (char)c;
	buf[n] = '\0';
	return c == '\n' ? (int)n : -1;
}

void close_pipes(int a[2], int b[2])
{
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* ---- Locks ----------------------------------------------------------------- */

size_t records(const char *resource, prdshm_mode mode)
{
	size_t n = 99;

	if (prdshm_lock_query(seg, resource, mode, NULL, 0, &n) != 0)
		return SIZE_MAX;
	return n;
}

int await_records(const char *resource, size_t n)
{
	int64_t end = tu_now_ms() + 10000;

	while (tu_now_ms() < end) {
		if (records(resource, 0) == n)
			return 1;
		usleep(10000);
	}
	return 0;
}

pid_t start_locker(struct locker *l, const char *id, const char *resource, prdshm_mode mode,
		   int report_fd, int go[2])
{
	CU_ASSERT_EQUAL_FATAL(pipe(go), 0);
	l->id = id;
	l->resource = resource;
	l->mode = mode;
	l->report = report_fd;
	l->go = go[0];
	return spawn("locker", id, resource, (int)mode, report_fd, go[0]);
}

/* ---- Phases ---------------------------------------------------------------- */

void plan_config(prdshm_scheduling sched, int parallel, int attempts)
{
	on_zk = tu_backend_config(&cfg);
	cfg.scheduling = sched;
	cfg.max_parallel_agents = parallel;
	cfg.phase_max_attempts = attempts;
	cfg.wave_delay_seconds = 0;
}

void create(void)
{
	int r = prdshm_seg_create(&cfg, &seg);

	if (r)
		fprintf(stderr, "create: %s\n", prdshm_last_error());
	CU_ASSERT_EQUAL_FATAL(r, 0);
}

void chain_plan(int attempts)
{
	plan_config(PRDSHM_SCHED_EAGER, 3, attempts);
	tp_plan_add(&cfg, "a", 3, NULL);
	tp_plan_add(&cfg, "b", 1, "a");
	tp_plan_add(&cfg, "c", 1, "b");
	tp_plan_add(&cfg, "d", 1, NULL);
	create();
}

#ifdef PRDSHM_HAVE_ZOOKEEPER
/* On ZooKeeper while prdshm_snapshot_take() is not done there: the plan
 * znode's image, whose layout is the phase region's (plan/phases.h). */
static int image_state(const char *id, struct pstate *out)
{
	unsigned char *buf = NULL;
	uint64_t bytes = 0;
	int32_t version;
	const struct prdshm__phase_region *reg;
	const struct prdshm__phase *ph;

	CU_ASSERT_EQUAL_FATAL(
		prdshm__zk_plan_read((struct prdshm__zk_seg *)(void *)seg, &buf, &bytes, &version),
		0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_FATAL(bytes >= sizeof(*reg));
	reg = (const struct prdshm__phase_region *)(const void *)buf;
	CU_ASSERT_FATAL(reg->off_phases + (uint64_t)reg->nphases * sizeof(*ph) <= bytes);
	ph = (const struct prdshm__phase *)(const void *)(buf + reg->off_phases);
	out->current_wave = reg->current_wave;
	for (uint32_t i = 0; i < reg->nphases; i++) {
		if (strcmp(ph[i].id, id) != 0)
			continue;
		out->status = (int)ph[i].status;
		out->attempts = ph[i].attempts;
		out->exit_status = ph[i].exit_status;
		snprintf(out->message, sizeof(out->message), "%s", ph[i].message);
	}
	free(buf);
	return 0;
}
#endif

struct pstate state_of(const char *id)
{
	struct pstate st = { .status = -1 };
	prdshm_snapshot *snap = NULL;
	prdshm_phase_info *pi;
	int r = prdshm_snapshot_take(seg, 0, &snap);

#ifdef PRDSHM_HAVE_ZOOKEEPER
	if (r == PRDSHM_ENOTSUP && on_zk) {
		image_state(id, &st);
		return st;
	}
#endif
	CU_ASSERT_EQUAL_FATAL(r, 0);
	st.current_wave = snap->current_wave;
	pi = tp_info_of(snap, id);
	if (pi) {
		st.status = (int)pi->status;
		st.attempts = pi->attempts;
		st.exit_status = pi->exit_status;
		snprintf(st.message, sizeof(st.message), "%s", pi->message);
	}
	prdshm_snapshot_free(snap);
	return st;
}
