/*
 * zk.c: what going multi-host costs (group "zookeeper"): the same cases on
 * the ZooKeeper backend next to shm, in the same run, so that the ratios
 * compare like with like.
 *
 *   mh_pair_*   an uncontended EXCLUSIVE lock+unlock pair, one process
 *   mh_handoff_* two processes handing locks to each other, strictly in
 *               turn (procs.c's three-lock ring): time per hand-off
 *   mh_claim_*  claim+complete by 2 agent processes through a plan of
 *               NCLAIM phases with no dependencies (the phases do nothing)
 *
 * The server is a standalone ZooKeeper started by the bench itself with
 * tests/zk/server.sh (run from the source tree, as make bench does) on a
 * free loopback port, its data in a directory under PRDSHM_BENCH_ZK_DIR (or
 * TMPDIR, or /tmp: whichever file system that is decides what its
 * transaction log's fsync costs), stopped after the group.
 * PRDSHM_BENCH_ZK_HOSTS names a running server instead.  With no server
 * (no java or no zookeeper package) or a build without the ZooKeeper
 * client, the ZooKeeper rows are skipped with a message and the group
 * still succeeds; a case the backend does not do yet (PRDSHM_ENOTSUP) is
 * shown as "n/a (not supported by this build)".
 *
 * The children open their own connection after fork(): the parent closes
 * its segment before forking, since the ZooKeeper client's threads do not
 * survive fork().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procs.h"

#define GROUP "multi-host: ZooKeeper (standalone server, loopback) next to shm"
#define NCLAIM 200
#define ZK_PAIRS 100 /* pairs per repetition on ZooKeeper */
#define ZK_REPS 5
#define NA "not supported by this build"

/* The server this group started ("" when none, or one given by hosts). */
static char zk_dir[256];
static char zk_script[256];
static char zk_hosts[256];

/* ---- The server ---------------------------------------------------------- */

static int run_script(const char *verb, const char *arg)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "bash '%s' %s %s", zk_script, verb, arg);
	return system(cmd);
}

/* Start the server, or take PRDSHM_BENCH_ZK_HOSTS.  @return 1 with
 * zk_hosts set, 0 when there is none to be had (said on stderr). */
static int server_start(void)
{
	const char *hosts = getenv("PRDSHM_BENCH_ZK_HOSTS");
	const char *script = getenv("PRDSHM_BENCH_ZK_SERVER");
	const char *base = getenv("PRDSHM_BENCH_ZK_DIR");
	char cmd[640], port[32] = "";
	FILE *p;

	if (hosts && *hosts) {
		snprintf(zk_hosts, sizeof(zk_hosts), "%s", hosts);
		return 1;
	}
	snprintf(zk_script, sizeof(zk_script), "%s", script ? script : "tests/zk/server.sh");
	if (access(zk_script, R_OK) != 0 || run_script("available", "") != 0) {
		bench_err("zookeeper: no server to start (%s: no java or no Debian package "
			  "zookeeper): its rows are skipped", zk_script);
		return 0;
	}
	if (!base)
		base = getenv("TMPDIR");
	snprintf(zk_dir, sizeof(zk_dir), "%s/prdshm-bench-zk-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(zk_dir) == NULL) {
		bench_err("zookeeper: mkdtemp %s: %s: its rows are skipped", zk_dir,
			  strerror(errno));
		zk_dir[0] = '\0';
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "bash '%s' start '%s'", zk_script, zk_dir);
	p = popen(cmd, "r");
	if (p == NULL || fgets(port, sizeof(port), p) == NULL || pclose(p) != 0) {
		bench_err("zookeeper: the server did not start (log in %s): its rows are skipped",
			  zk_dir);
		return 0;
	}
	port[strcspn(port, "\n")] = '\0';
	snprintf(zk_hosts, sizeof(zk_hosts), "127.0.0.1:%s", port);
	fprintf(stderr, "bench: zookeeper: a standalone server at %s, data in %s\n", zk_hosts,
		zk_dir);
	return 1;
}

void bench_zk_stop(void)
{
	char arg[600];

	if (!zk_dir[0])
		return;
	snprintf(arg, sizeof(arg), "'%s' && rm -rf '%s'", zk_dir, zk_dir);
	run_script("stop", arg);
	zk_dir[0] = '\0';
}

/* ---- Configurations -------------------------------------------------------- */

/* A fresh segment on shm (@p zk 0) or on the server (1). */
static int make_config(prdshm_config *cfg, int zk)
{
	prdshm_diag d = PRDSHM_DIAG_INIT;

	bench_config(cfg);
	cfg->max_parallel_agents = 2;
	cfg->wave_delay_seconds = 0;
	cfg->scheduling = PRDSHM_SCHED_EAGER;
	if (!zk)
		return 0;
	if (prdshm_config_set(cfg, "backend", "zookeeper", PRDSHM_FROM_CMDLINE, &d) ||
	    prdshm_config_set(cfg, "zookeeper.hosts", zk_hosts, PRDSHM_FROM_CMDLINE, &d) ||
	    prdshm_config_set(cfg, "zookeeper.root", "/prdshm-bench", PRDSHM_FROM_CMDLINE, &d) ||
	    prdshm_config_set(cfg, "zookeeper.session_timeout_ms", "10000", PRDSHM_FROM_CMDLINE,
			      &d)) {
		prdshm_config_free(cfg);
		return bench_err("zookeeper configuration: %s", d.msg);
	}
	return 0;
}

static void drop_segment(prdshm_config *cfg, prdshm_seg *seg)
{
	prdshm_seg_close(seg);
	prdshm_seg_unlink_unused_cfg(cfg);
}

/* ---- The uncontended pair -------------------------------------------------- */

static int loop_pair(void *arg, long n)
{
	prdshm_session *s = arg;

	for (long i = 0; i < n; i++) {
		int r = prdshm_lock(s, "project/build/output-dir", PRDSHM_EXCLUSIVE,
				    PRDSHM_WAIT_FOREVER, NULL);

		if (r == 0)
			r = prdshm_unlock(s, "project/build/output-dir");
		if (r)
			return bench_perr(r, "pair");
	}
	return 0;
}

/* ZooKeeper: ZK_REPS repetitions of ZK_PAIRS pairs after a warm-up (each
 * pair is milliseconds: the shared runner's sizing would take seconds). */
static int measure_zk(prdshm_session *s, struct stats *st)
{
	double v[ZK_REPS];

	if (loop_pair(s, 10))
		return -1;
	for (int k = 0; k < ZK_REPS; k++) {
		uint64_t t0 = bench_now();

		if (loop_pair(s, ZK_PAIRS))
			return -1;
		v[k] = (double)(bench_now() - t0) / ZK_PAIRS;
	}
	bench_summarise(v, ZK_REPS, st);
	return 0;
}

static int pair(int zk)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;
	struct stats st;
	int r;

	if (make_config(&cfg, zk))
		return -1;
	r = prdshm_seg_create(&cfg, &seg);
	if (r == 0)
		r = prdshm_session_open(seg, "bench", 0, &s);
	if (r)
		bench_perr(r, zk ? "pair (zookeeper)" : "pair (shm)");
	else
		r = zk ? measure_zk(s, &st) : bench_measure_loop(loop_pair, s, &st);
	prdshm_session_close(s);
	drop_segment(&cfg, seg);
	prdshm_config_free(&cfg);
	if (r)
		return -1;
	if (zk)
		bench_add("mh_pair_zk", GROUP, "EXCLUSIVE lock+unlock pair, ZooKeeper", U_NS, &st,
			  "mh_pair_shm");
	else
		bench_add("mh_pair_shm", GROUP, "EXCLUSIVE lock+unlock pair, shm", U_NS, &st,
			  NULL);
	return 0;
}

/* ---- Claims, and hand-offs between two processes ------------------------------ */

/* The agents' shared page. */
struct mh_shared {
	volatile int stop;
	uint64_t t_end[2];
	int err[2]; /* a child's failing prdshm code, 0 if none */
};

struct mh_work {
	prdshm_config *cfg;
	struct mh_shared *sh;
	prdshm_seg *seg; /* per child, after fork */
	prdshm_session *s;
};

static int mh_setup(void *arg, int i)
{
	struct mh_work *w = arg;
	char id[16];
	int r = prdshm_seg_open_cfg(w->cfg, &w->seg);

	snprintf(id, sizeof(id), "agent-%d", i);
	if (r == 0)
		r = prdshm_session_open(w->seg, id, 0, &w->s);
	w->sh->err[i] = r;
	return r ? bench_perr(r, "child session") : 0;
}

static void mh_close(struct mh_work *w)
{
	prdshm_session_close(w->s);
	prdshm_seg_close(w->seg);
}

static int claim_run(void *arg, int i)
{
	struct mh_work *w = arg;
	int r = bench_claim_all(w->s);

	w->sh->t_end[i] = bench_now();
	w->sh->err[i] = r == PRDSHM_EDONE ? 0 : r;
	mh_close(w);
	/* Not done yet on this backend: the parent says so in the table. */
	if (r == PRDSHM_EDONE || r == PRDSHM_ENOTSUP)
		return 0;
	return bench_perr(r, "claim");
}

/* NCLAIM phases, no dependencies, no commands. */
static int plan_make(prdshm_config *cfg)
{
	cfg->phases = calloc(NCLAIM, sizeof(*cfg->phases));
	if (cfg->phases == NULL)
		return bench_err("out of memory");
	cfg->nphases = NCLAIM;
	cfg->max_phases = NCLAIM;
	for (int i = 0; i < NCLAIM; i++) {
		char id[16];

		snprintf(id, sizeof(id), "p%03d", i);
		cfg->phases[i].id = strdup(id);
		cfg->phases[i].name = strdup(id);
		if (!cfg->phases[i].id || !cfg->phases[i].name)
			return bench_err("out of memory");
	}
	return 0;
}

/* One run of the plan by 2 agents: @return claims per second, -1 on
 * failure, or -2 when the backend does not do it (PRDSHM_ENOTSUP). */
static double claims_once(struct mh_work *w)
{
	struct team t = { 2, mh_setup, claim_run, w, 0, &w->sh->stop, 0 };
	prdshm_seg *seg = NULL;
	uint64_t last;
	int r;

	snprintf(w->cfg->shm_name, sizeof(w->cfg->shm_name), "%s", bench_shm_name());
	r = prdshm_seg_create(w->cfg, &seg);
	if (r == PRDSHM_ENOTSUP)
		return -2;
	if (r)
		return bench_perr(r, "create (claims)");
	/* Closed before fork(): the children connect on their own. */
	prdshm_seg_close(seg);
	memset(w->sh, 0, sizeof(*w->sh));
	r = team_run(&t);
	prdshm_seg_unlink_unused_cfg(w->cfg);
	if (w->sh->err[0] == PRDSHM_ENOTSUP || w->sh->err[1] == PRDSHM_ENOTSUP)
		return -2;
	if (r)
		return -1;
	last = w->sh->t_end[0] > w->sh->t_end[1] ? w->sh->t_end[0] : w->sh->t_end[1];
	return NCLAIM / ((double)(last - t.t_go) / 1e9);
}

static int claims(int zk)
{
	const char *id = zk ? "mh_claim_zk" : "mh_claim_shm";
	prdshm_config cfg;
	struct mh_work w = { &cfg, NULL, NULL, NULL };
	char label[96];
	struct stats st;
	double v[3];
	int reps = bench_opts.reps < 3 ? bench_opts.reps : 3, r = 0;

	if (make_config(&cfg, zk))
		return -1;
	w.sh = bench_shared_alloc(sizeof(*w.sh));
	if (w.sh == NULL)
		r = bench_err("mmap: %s", strerror(errno));
	if (r == 0)
		r = plan_make(&cfg);
	for (int k = 0; r == 0 && k < reps; k++) {
		v[k] = claims_once(&w);
		if (v[k] < 0)
			r = (int)v[k];
	}
	bench_shared_free(w.sh, sizeof(*w.sh));
	prdshm_config_free(&cfg);
	snprintf(label, sizeof(label), "claim+complete, 2 agents, %d phases, %s", NCLAIM,
		 zk ? "ZooKeeper" : "shm");
	if (r == -2) {
		bench_add_na(id, GROUP, label, U_OPS, NA);
		return 0;
	}
	if (r)
		return -1;
	bench_summarise(v, reps, &st);
	bench_add(id, GROUP, label, U_OPS, &st, zk ? "mh_claim_shm" : NULL);
	return 0;
}

/* Two processes in the three-lock ring (procs.c), on a segment of either
 * backend. */
static int handoff(int zk)
{
	static struct work w; /* static: the name arrays are large for a stack */
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	int r;

	if (make_config(&cfg, zk))
		return -1;
	memset(&w, 0, sizeof(w));
	w.sh = bench_shared_alloc(sizeof(*w.sh));
	w.cfg = &cfg;
	w.shm_name = cfg.shm_name;
	w.group = GROUP;
	w.min_steps = zk ? 100 : 0; /* a ZooKeeper hand-off is milliseconds */
	if (w.sh == NULL) {
		prdshm_config_free(&cfg);
		return bench_err("mmap: %s", strerror(errno));
	}
	r = prdshm_seg_create(&cfg, &seg);
	/* Closed before fork(): the children connect on their own. */
	prdshm_seg_close(seg);
	if (r)
		bench_perr(r, "create (hand-off)");
	else if (zk)
		r = ring_handoff(&w, "mh_handoff_zk", "three-lock ring, per hand-off, ZooKeeper",
				 "mh_handoff_shm");
	else
		r = ring_handoff(&w, "mh_handoff_shm", "three-lock ring, per hand-off, shm", NULL);
	prdshm_seg_unlink_unused_cfg(&cfg);
	prdshm_config_free(&cfg);
	bench_shared_free(w.sh, sizeof(*w.sh));
	return r ? -1 : 0;
}

/* ---- The group ------------------------------------------------------------- */

/* A build without the ZooKeeper client answers PRDSHM_ENOTSUP at create. */
static int zk_built(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	int r;

	if (make_config(&cfg, 1))
		return 0;
	r = prdshm_seg_create(&cfg, &seg);
	drop_segment(&cfg, seg);
	prdshm_config_free(&cfg);
	if (r == PRDSHM_ENOTSUP)
		bench_err("zookeeper: %s: its rows are skipped", prdshm_last_error());
	else if (r)
		bench_perr(r, "zookeeper: create");
	return r == 0;
}

int group_zookeeper(void)
{
	int r = pair(0), zk;

	if (r == 0)
		r = handoff(0);
	if (r == 0)
		r = claims(0);
	if (r)
		return -1;
	zk = server_start();
	if (zk && zk_built()) {
		r = pair(1);
		if (r == 0)
			r = handoff(1);
		if (r == 0)
			r = claims(1);
	}
	bench_zk_stop();
	return r;
}
