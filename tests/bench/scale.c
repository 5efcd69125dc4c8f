/*
 * scale.c: the lock table at scale, the phase scheduler, graph analysis and
 * the segment's memory cost.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* ---- Acquire+release in a full table -------------------------------------- */

#define BIG_LOCKS 1000000
#define NPROBES 1024

struct fill {
	prdshm_session *holder, *probe;
	char names[NPROBES][24];
	long next; /* next probe name, in rotation */
};

/* Probe names rotate through NPROBES resources, so that the lookups touch
 * different buckets and slots (as real names would) instead of one hot
 * cache line. */
static int loop_probe(void *arg, long n)
{
	struct fill *f = arg;

	for (long i = 0; i < n; i++) {
		const char *name = f->names[f->next++ % NPROBES];
		int r = prdshm_lock(f->probe, name, PRDSHM_EXCLUSIVE, PRDSHM_WAIT_FOREVER, NULL);

		if (r == 0)
			r = prdshm_unlock(f->probe, name);
		if (r)
			return bench_perr(r, "probe");
	}
	return 0;
}

/* Hold locks "fill/<i>" for i in [from, to). */
static int fill_to(struct fill *f, long from, long to)
{
	char name[32];

	for (long i = from; i < to; i++) {
		int r;

		snprintf(name, sizeof(name), "fill/%ld", i);
		r = prdshm_lock(f->holder, name, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL);
		if (r)
			return bench_perr(r, "fill");
	}
	return 0;
}

static int fill_levels(prdshm_seg *seg)
{
	static struct fill f;
	static const int pct[] = { 10, 50, 90 };
	long held = 0;
	int r = prdshm_session_open(seg, "holder", 0, &f.holder);

	if (r == 0)
		r = prdshm_session_open(seg, "probe", 0, &f.probe);
	if (r)
		return bench_perr(r, "fill sessions");
	for (int j = 0; j < NPROBES; j++)
		snprintf(f.names[j], sizeof(f.names[j]), "probe/%d", j);
	for (size_t k = 0; r == 0 && k < sizeof(pct) / sizeof(pct[0]); k++) {
		long want = (long)BIG_LOCKS * pct[k] / 100;
		char id[16], label[64];
		struct stats st;

		r = fill_to(&f, held, want);
		held = want;
		if (r == 0)
			r = bench_measure_loop(loop_probe, &f, &st);
		snprintf(id, sizeof(id), "fill%d", pct[k]);
		snprintf(label, sizeof(label), "EXCLUSIVE pair, %d%% of 1,000,000 held", pct[k]);
		if (r == 0)
			bench_add(id, "table fill (max_locks = 1,000,000)", label, U_NS, &st,
				  k ? "fill10" : NULL);
	}
	/* Releasing 900,000 records one by one would only slow the run down:
	 * the segment is unlinked right after. */
	prdshm_session_abandon(f.holder);
	prdshm_session_close(f.probe);
	return r;
}

int group_scale(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	int r;

	bench_config(&cfg);
	cfg.max_locks = BIG_LOCKS;
	r = prdshm_seg_create(&cfg, &seg);
	if (r)
		bench_perr(r, "create (max_locks 1,000,000)");
	else
		r = fill_levels(seg);
	prdshm_seg_close(seg);
	prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
	return r ? -1 : 0;
}

/* ---- A generated plan -------------------------------------------------------- */

#define NPHASES 10000
#define MAXDEPS 5
#define WINDOW 100

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		bench_err("out of memory");
		exit(1);
	}
	return d;
}

/* Phase i depends on min(i, 5) distinct phases among the 100 before it
 * (a fixed pseudo-random choice), which gives 49,985 edges and a DAG of
 * moderate depth with plenty of parallelism. */
static void plan_phase(prdshm_phase_def *p, int i, uint32_t *seed)
{
	char id[16];
	int nd = i < MAXDEPS ? i : MAXDEPS, lo = i > WINDOW ? i - WINDOW : 0, got = 0;
	int pick[MAXDEPS];

	snprintf(id, sizeof(id), "p%05d", i);
	p->id = xstrdup(id);
	p->name = xstrdup(id);
	p->estimated_minutes = 1 + i % 7;
	p->deps = nd ? calloc((size_t)nd, sizeof(char *)) : NULL;
	while (got < nd) {
		int d, dup = 0;

		*seed = *seed * 1103515245u + 12345u;
		d = lo + (int)((*seed >> 8) % (uint32_t)(i - lo));
		for (int k = 0; k < got; k++)
			dup |= pick[k] == d;
		if (dup)
			continue;
		pick[got] = d;
		snprintf(id, sizeof(id), "p%05d", d);
		p->deps[got++] = xstrdup(id);
	}
	p->ndeps = (size_t)nd;
}

/* Fill @p cfg's plan; @return the number of edges. */
static size_t plan_make(prdshm_config *cfg)
{
	uint32_t seed = 42;
	size_t edges = 0;

	cfg->phases = calloc(NPHASES, sizeof(*cfg->phases));
	if (cfg->phases == NULL)
		return 0;
	cfg->nphases = NPHASES;
	for (int i = 0; i < NPHASES; i++) {
		plan_phase(&cfg->phases[i], i, &seed);
		edges += cfg->phases[i].ndeps;
	}
	return edges;
}

/* ---- Claim + complete with 3 agents ---------------------------------------- */

struct agents {
	const char *shm_name;
	uint64_t *t_end; /* shared: when each agent found nothing left */
	prdshm_seg *seg;
	prdshm_session *s;
};

static int agent_setup(void *arg, int i)
{
	struct agents *a = arg;
	char id[16];
	int r = prdshm_seg_open(a->shm_name, &a->seg);

	snprintf(id, sizeof(id), "agent-%d", i);
	if (r == 0)
		r = prdshm_session_open(a->seg, id, 0, &a->s);
	return r ? bench_perr(r, "agent") : 0;
}

int bench_claim_all(prdshm_session *s)
{
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	int r;

	for (;;) {
		r = prdshm_phase_claim(s, &c);
		if (r == 0)
			r = prdshm_phase_complete(s, c.index);
		else if (r == PRDSHM_EWAIT)
			r = prdshm_phase_wait(s, 50);
		if (r)
			return r;
	}
}

static int agent_run(void *arg, int i)
{
	struct agents *a = arg;
	int r = bench_claim_all(a->s);

	a->t_end[i] = bench_now();
	prdshm_session_close(a->s);
	prdshm_seg_close(a->seg);
	return r == PRDSHM_EDONE ? 0 : bench_perr(r, "claim");
}

/* One run of the whole plan: @return phases per second, or -1. */
static double claim_once(prdshm_config *cfg, uint64_t *t_end)
{
	struct agents a = { cfg->shm_name, t_end, NULL, NULL };
	struct team t = { 3, agent_setup, agent_run, &a, 0, NULL, 0 };
	prdshm_seg *seg = NULL;
	uint64_t last = 0;
	int r;

	snprintf(cfg->shm_name, sizeof(cfg->shm_name), "%s", bench_shm_name());
	r = prdshm_seg_create(cfg, &seg);
	if (r)
		return bench_perr(r, "create (10,000 phases)");
	r = team_run(&t);
	prdshm_seg_close(seg);
	prdshm_seg_unlink(cfg->shm_name);
	for (int i = 0; i < 3; i++)
		last = t_end[i] > last ? t_end[i] : last;
	return r ? -1 : NPHASES / ((double)(last - t.t_go) / 1e9);
}

static int claims(prdshm_config *cfg)
{
	uint64_t *t_end = bench_shared_alloc(3 * sizeof(uint64_t));
	int reps = bench_opts.reps < 3 ? bench_opts.reps : 3;
	double v[3];
	struct stats st;

	if (t_end == NULL)
		return bench_err("mmap: %s", strerror(errno));
	for (int k = 0; k < reps; k++) {
		v[k] = claim_once(cfg, t_end);
		if (v[k] < 0) {
			bench_shared_free(t_end, 3 * sizeof(uint64_t));
			return -1;
		}
	}
	bench_shared_free(t_end, 3 * sizeof(uint64_t));
	bench_summarise(v, reps, &st);
	bench_add("claim3", "phases (10,000-phase plan)",
		  "claim+complete, 3 agent procs, eager (total)", U_OPS, &st, NULL);
	return 0;
}

/* ---- Graph analysis ------------------------------------------------------------ */

static int graph_once(const prdshm_config *cfg, double *ms)
{
	uint64_t t0 = bench_now();
	prdshm_graph *g = NULL;
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	const size_t *path;
	int r = prdshm_graph_build(cfg->phases, cfg->nphases, &g, &diag);

	if (r)
		return bench_err("graph: %s", diag.msg);
	/* Waves are computed by the build; read them as a user would. */
	for (size_t w = 0; w < prdshm_graph_nwaves(g); w++) {
		const size_t *idx;

		prdshm_graph_wave(g, w, &idx);
	}
	prdshm_graph_critical_path(g, &path);
	(void)prdshm_graph_critical_length(g);
	prdshm_graph_free(g);
	*ms = (double)(bench_now() - t0) / 1e6;
	return 0;
}

static int graph(const prdshm_config *cfg, size_t edges)
{
	double v[64];
	struct stats st;
	char label[80];

	for (int k = 0; k < bench_opts.reps; k++)
		if (graph_once(cfg, &v[k]))
			return -1;
	bench_summarise(v, bench_opts.reps, &st);
	snprintf(label, sizeof(label), "graph build+waves+critical path, %zu edges", edges);
	bench_add("graph", "phases (10,000-phase plan)", label, U_MS, &st, NULL);
	return 0;
}

int group_phases(void)
{
	prdshm_config cfg;
	size_t edges;
	int r;

	bench_config(&cfg);
	cfg.max_phases = NPHASES;
	cfg.max_parallel_agents = 3;
	cfg.wave_delay_seconds = 0;
	cfg.scheduling = PRDSHM_SCHED_EAGER;
	edges = plan_make(&cfg);
	if (edges == 0) {
		prdshm_config_free(&cfg);
		return bench_err("out of memory");
	}
	r = graph(&cfg, edges);
	if (r == 0)
		r = claims(&cfg);
	prdshm_config_free(&cfg);
	return r;
}

/* ---- Memory ------------------------------------------------------------------ */

/* Size of a segment created with these limits (no plan). */
static int seg_size(int max_locks, int max_phases, int max_agents, double *size)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;
	int r;

	bench_config(&cfg);
	cfg.max_locks = max_locks;
	cfg.max_phases = max_phases;
	cfg.max_agents = max_agents;
	if (cfg.max_parallel_agents > max_agents)
		cfg.max_parallel_agents = max_agents;
	r = prdshm_seg_create(&cfg, &seg);
	if (r == 0)
		r = prdshm_seg_info_get(seg, &info);
	if (r == 0)
		*size = (double)info.size;
	prdshm_seg_close(seg);
	prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
	return r ? bench_perr(r, "create (memory)") : 0;
}

int group_memory(void)
{
	const char *grp = "memory (segment bytes, from prdshm_seg_info_get)";
	prdshm_config def;
	double base, locks, phases, agents;
	int r;

	/* The two sizes compared lie in the same regime (16 partitions, power of
	 * two bucket arrays in the same proportion), so the difference is the
	 * marginal cost, slack and hash buckets included. */
	prdshm_config_init(&def);
	r = seg_size(100000, 1000, 64, &base);
	if (r == 0)
		r = seg_size(200000, 1000, 64, &locks);
	if (r == 0)
		r = seg_size(100000, 2000, 64, &phases);
	if (r == 0)
		r = seg_size(100000, 1000, 128, &agents);
	if (r == 0) {
		bench_add_value("mem_lock", grp, "per lock slot (max_locks)", U_BYTES,
				(locks - base) / 100000, NULL);
		bench_add_value("mem_phase", grp, "per phase (max_phases, no plan text)",
				U_BYTES, (phases - base) / 1000, NULL);
		bench_add_value("mem_agent", grp, "per agent (max_agents)", U_BYTES,
				(agents - base) / 64, NULL);
		r = seg_size(def.max_locks, def.max_phases, def.max_agents, &base);
	}
	if (r == 0) {
		char label[96];

		snprintf(label, sizeof(label), "total, defaults (%d locks, %d phases, %d agents)",
			 def.max_locks, def.max_phases, def.max_agents);
		bench_add_value("mem_default", grp, label, U_BYTES, base, NULL);
	}
	prdshm_config_free(&def);
	return r;
}
