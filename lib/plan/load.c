/*
 * load.c: the immutable part of the phase region.  The creator loads the
 * plan into it (prdshm__phases_init(): phases, dependency and dependant
 * lists, outputs, the topological and claim orders), and every opener
 * validates it (prdshm__phases_validate()), as does the repair after a
 * crashed holder and the checker (prdshm__phase_check_static()): the
 * indexes in it are bounds-checked once there, then trusted.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/robust.h"
#include "base/util.h"
#include "plan/image.h"
#include "plan/load.h"
#include "plan/state.h"

/* ------------------------------------------------------------------------ */
/* Loading a plan                                                           */

/* A bump allocator over the arena while loading the plan. */
struct arena_fill {
	unsigned char *arena;
	uint64_t ints, ints_end; /* next free index-list byte, and its limit */
	uint64_t chars, end;     /* next free string byte, and the arena's end */
};

static int fill_ints(struct arena_fill *f, uint64_t nbytes, uint32_t *off)
{
	if (nbytes > f->ints_end - f->ints)
		return prdshm__fail(PRDSHM_ECORRUPT, "phase arena overflow (index lists)");
	*off = (uint32_t)f->ints;
	f->ints += nbytes;
	return 0;
}

static int fill_str(struct arena_fill *f, const char *s, struct prdshm__str *out)
{
	uint64_t len = s ? strlen(s) : 0;

	if (len + 1 > f->end - f->chars || len > UINT32_MAX - 1)
		return prdshm__fail(PRDSHM_ECORRUPT, "phase arena overflow (strings)");
	out->off = (uint32_t)f->chars;
	out->len = (uint32_t)len;
	if (len)
		memcpy(f->arena + f->chars, s, len);
	f->arena[f->chars + len] = '\0';
	f->chars += len + 1;
	return 0;
}

static int map_graph_error(int err, const prdshm_diag *diag)
{
	if (err == PRDSHM_ENOMEM)
		return err;
	return prdshm__fail(PRDSHM_ECONFIG, "invalid plan: %s", diag->msg);
}

static int load_header(unsigned char *base, const prdshm_config *cfg, const struct layout *L,
		       size_t nwaves)
{
	struct prdshm__phase_region *reg = (struct prdshm__phase_region *)(void *)base;
	int r = prdshm__mutex_init(&reg->mutex);

	if (r)
		return r;
	reg->max_phases = L->cap;
	reg->nphases = (uint32_t)cfg->nphases;
	reg->nwaves = (uint32_t)nwaves;
	reg->region_bytes = L->bytes;
	reg->off_phases = L->off_phases;
	reg->off_waves = L->off_waves;
	reg->off_ready = L->off_ready;
	reg->off_arena = L->off_arena;
	reg->arena_bytes = L->arena_bytes;
	reg->topo_off = 0;
	reg->order_off = (uint32_t)cfg->nphases * 4;
	reg->max_parallel = cfg->max_parallel_agents > 0 ? cfg->max_parallel_agents : 1;
	reg->max_attempts = cfg->phase_max_attempts > 0 ? cfg->phase_max_attempts : 1;
	reg->wave_delay_s = cfg->wave_delay_seconds > 0 ? cfg->wave_delay_seconds : 0;
	reg->scheduling = cfg->scheduling == PRDSHM_SCHED_EAGER ? PRDSHM_SCHED_EAGER
								 : PRDSHM_SCHED_WAVES;
	reg->doorbell = 0;
	reg->current_wave = 0;
	reg->run_start_ns = reg->run_end_ns = reg->wave_done_mono = 0;
	reg->magic = PRDSHM__PHASES_MAGIC;
	return 0;
}

/* Phase @p i's immutable part, its dependency list and its initial status. */
static int load_phase(const struct geom *g, const prdshm_graph *gr, const prdshm_phase_def *d,
		      uint32_t i, struct arena_fill *f, uint64_t now)
{
	struct prdshm__phase *p = &g->ph[i];
	uint32_t *deps;
	int r;

	prdshm__strlcpy(p->id, d->id, sizeof(p->id));
	p->wave = (uint32_t)prdshm_graph_wave_of(gr, i);
	p->estimated_minutes = d->estimated_minutes;
	p->remaining = prdshm_graph_remaining(gr, i);
	r = fill_str(f, d->name ? d->name : "", &p->name);
	if (r == 0 && d->command)
		r = fill_str(f, d->command, &p->command);
	else
		p->command.off = PRDSHM__NIL;
	if (r == 0)
		r = fill_ints(f, (uint64_t)d->ndeps * 4, &p->deps_off);
	deps = (uint32_t *)(void *)(g->arena + p->deps_off);
	for (size_t k = 0; r == 0 && k < d->ndeps; k++) {
		long j = prdshm_graph_find(gr, d->deps[k]);
		if (j < 0 || (size_t)j >= g->n)
			return prdshm__fail(PRDSHM_ECONFIG, "phase '%s': unknown dependency '%s'",
					    d->id, d->deps[k]);
		deps[k] = (uint32_t)j;
	}
	p->ndeps = (uint32_t)d->ndeps;
	p->status = d->ndeps == 0 ? QU : NS;
	p->agent_slot = -1;
	p->changed_ns = now;
	prdshm__strlcpy(p->changed_by, "operator", sizeof(p->changed_by));
	return r;
}

static int load_outputs(const struct geom *g, const prdshm_phase_def *d, uint32_t i,
			struct arena_fill *f)
{
	struct prdshm__phase *p = &g->ph[i];
	struct prdshm__str *t;
	int r = fill_ints(f, (uint64_t)d->noutputs * sizeof(*t), &p->outputs_off);

	t = (struct prdshm__str *)(void *)(g->arena + p->outputs_off);
	for (size_t k = 0; r == 0 && k < d->noutputs; k++)
		r = fill_str(f, d->outputs[k], &t[k]);
	p->noutputs = (uint32_t)d->noutputs;
	return r;
}

/*
 * The dependant lists: phase j's lists every d with j among d's
 * dependencies, by increasing d, once per mention (a dependency named
 * twice is counted twice on both sides).  check_dependants() relies on
 * exactly this order.  Called on a fresh plan whose dependency indexes
 * load_phase() checked; `scratch` serves as the fill cursor.
 */
static int load_dependants(const struct geom *g, struct arena_fill *f)
{
	int r = 0;

	for (uint32_t d = 0; d < g->n; d++) {
		uint32_t nd;
		const uint32_t *dep = prdshm__phase_deps_of(g, d, &nd);
		for (uint32_t k = 0; k < nd; k++)
			g->ph[dep[k]].ndependants++;
	}
	for (uint32_t j = 0; r == 0 && j < g->n; j++)
		r = fill_ints(f, (uint64_t)g->ph[j].ndependants * 4, &g->ph[j].dependants_off);
	for (uint32_t d = 0; r == 0 && d < g->n; d++) {
		uint32_t nd;
		const uint32_t *dep = prdshm__phase_deps_of(g, d, &nd);
		for (uint32_t k = 0; k < nd; k++) {
			struct prdshm__phase *pj = &g->ph[dep[k]];
			uint32_t *list = (uint32_t *)(void *)(g->arena + pj->dependants_off);
			list[pj->scratch++] = d;
		}
	}
	for (uint32_t j = 0; j < g->n; j++)
		g->ph[j].scratch = 0;
	return r;
}

/* The topological order: wave by wave (a phase's dependencies lie in
 * earlier waves), which the repair's readiness pass walks so that
 * dependencies come first. */
static void load_topo(const struct geom *g, const prdshm_graph *gr)
{
	uint32_t *topo = (uint32_t *)(void *)(g->arena + g->reg->topo_off);
	size_t k = 0;

	for (size_t w = 0; w < g->nwaves; w++) {
		const size_t *idx;
		size_t cnt = prdshm_graph_wave(gr, w, &idx);
		for (size_t j = 0; j < cnt && k < g->n; j++)
			topo[k++] = (uint32_t)idx[j];
	}
}

/* Claim priority: longest remaining path first, ties by lowest index. */
struct rank_key {
	double remaining;
	uint32_t i;
};

static int better(double ra, uint32_t ia, double rb, uint32_t ib)
{
	return ra > rb || (ra == rb && ia < ib);
}

static int rank_cmp(const void *a, const void *b)
{
	const struct rank_key *x = a, *y = b;

	if (better(x->remaining, x->i, y->remaining, y->i))
		return -1;
	return better(y->remaining, y->i, x->remaining, x->i) ? 1 : 0;
}

/* The claim order: order[rank] = phase, ph[phase].rank = rank.  Remaining
 * paths are immutable, so claim priority is a fixed total order. */
static int load_order(const struct geom *g)
{
	uint32_t *order = (uint32_t *)(void *)(g->arena + g->reg->order_off);
	struct rank_key *keys = malloc((g->n ? g->n : 1) * sizeof(*keys));

	if (keys == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory (%u phases)", g->n);
	for (uint32_t i = 0; i < g->n; i++)
		keys[i] = (struct rank_key){ g->ph[i].remaining, i };
	qsort(keys, g->n, sizeof(*keys), rank_cmp);
	for (uint32_t r = 0; r < g->n; r++) {
		order[r] = keys[r].i;
		g->ph[keys[r].i].rank = r;
	}
	free(keys);
	return 0;
}
static int load_plan(unsigned char *base, const prdshm_config *cfg, const prdshm_graph *gr,
		     const struct layout *L)
{
	struct arena_fill f;
	struct geom g;
	uint64_t now = prdshm__now_real();
	int r = load_header(base, cfg, L, prdshm_graph_nwaves(gr));

	if (r == 0)
		r = prdshm__phase_geom_parse(base, L->bytes, &g);
	if (r)
		return r;
	f.arena = g.arena;
	f.ints = (uint64_t)g.n * 4 * 2;
	f.ints_end = prdshm__phase_arena_ints(cfg);
	f.chars = f.ints_end;
	f.end = g.arena_bytes;
	memset(g.ph, 0, (size_t)g.max_phases * sizeof(*g.ph));
	memset(g.waves, 0, (size_t)g.max_phases * sizeof(*g.waves));
	for (uint32_t i = 0; r == 0 && i < g.n; i++)
		r = load_phase(&g, gr, &cfg->phases[i], i, &f, now);
	if (r == 0)
		r = load_dependants(&g, &f);
	for (uint32_t i = 0; r == 0 && i < g.n; i++)
		r = load_outputs(&g, &cfg->phases[i], i, &f);
	if (r == 0) {
		load_topo(&g, gr);
		r = load_order(&g);
	}
	if (r == 0)
		prdshm__phase_index_rebuild(&g);
	return r;
}

/* The region, or an image of it (image.h), of @p bytes bytes at @p base. */
int prdshm__plan_image_init(unsigned char *base, uint64_t bytes, const prdshm_config *cfg)
{
	prdshm_graph *gr = NULL;
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	struct layout L;
	int r;

	if (base == NULL || cfg == NULL || (cfg->nphases && !cfg->phases))
		return prdshm__fail(PRDSHM_EINVAL, "phases: no segment or no plan");
	if (cfg->max_phases < 0 || cfg->nphases > (size_t)cfg->max_phases)
		return prdshm__fail(PRDSHM_EPHASEFULL, "plan has %zu phases (max_phases=%d)",
				    cfg->nphases, cfg->max_phases);
	prdshm__phase_compute_layout(cfg, &L);
	if (L.bytes > UINT32_MAX || L.bytes != bytes)
		return prdshm__fail(PRDSHM_ECONFIG, "phase region of %llu bytes does not fit",
				    (unsigned long long)L.bytes);
	r = prdshm_graph_build(cfg->phases, cfg->nphases, &gr, &diag);
	if (r)
		return map_graph_error(r, &diag);
	r = load_plan(base, cfg, gr, &L);
	prdshm_graph_free(gr);
	return r;
}

int prdshm__phases_init(struct prdshm_seg *seg, const prdshm_config *cfg)
{
	if (seg == NULL || prdshm__plan(seg)->base == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "phases: no segment or no plan");
	return prdshm__plan_image_init(prdshm__plan(seg)->base, prdshm__plan(seg)->bytes, cfg);
}

/* ------------------------------------------------------------------------ */
/* Validation of the immutable part                                         */

void prdshm__phase_problem(problem_fn report, void *ctx, int severity, const char *fmt, ...)
{
	char line[320];
	va_list ap;

	if (report == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	report(ctx, severity, line);
}

static uint32_t check_phase_static(const struct geom *g, uint32_t i, problem_fn report,
				   void *ctx)
{
	const struct prdshm__phase *p = &g->ph[i];
	uint32_t bad = 0, nd, nt, nw;
	const uint32_t *d = prdshm__phase_deps_of(g, i, &nd);
	const uint32_t *w =
		prdshm__phase_idx_list(g, p->outputs_off,
				       p->noutputs <= UINT32_MAX / 2 ? p->noutputs * 2 : 0, &nw);

	prdshm__phase_dependants_of(g, i, &nt);
	if (nd != p->ndeps || nt != p->ndependants || (uint64_t)nw != 2 * (uint64_t)p->noutputs)
		bad++;
	/* A dependency in the same or a later wave breaks the topological
	 * order that the readiness pass relies on. */
	for (uint32_t k = 0; k < nd; k++) {
		if (d[k] >= g->n || g->ph[d[k]].wave >= p->wave)
			bad++;
	}
	for (uint32_t k = 0; k + 1 < nw; k += 2) {
		struct prdshm__str s = { w[k], w[k + 1] };
		if (!prdshm__phase_str_ok(g, s))
			bad++;
	}
	if (p->wave >= g->nwaves || p->name.off == PRDSHM__NIL ||
	    !prdshm__phase_str_ok(g, p->name) || !prdshm__phase_str_ok(g, p->command))
		bad++;
	if (bad)
		prdshm__phase_problem(report, ctx, PRDSHM_CHECK_ERROR,
			"phase %u: dependency list, wave or string out of range", i);
	return bad;
}

/* The topological order must be a permutation in which dependencies come
 * first; waves give that (checked per phase above), so check the order. */
static uint32_t check_topo(const struct geom *g, problem_fn report, void *ctx)
{
	uint32_t prev_wave = 0;

	for (uint32_t k = 0; k < g->n; k++) {
		uint32_t i = g->topo[k];
		if (i >= g->n || g->ph[i].wave < prev_wave) {
			prdshm__phase_problem(report, ctx, PRDSHM_CHECK_ERROR,
				"topological order broken at position %u", k);
			return 1;
		}
		prev_wave = g->ph[i].wave;
	}
	return 0;
}

/* The claim order must be a permutation (order[r] = i and ph[i].rank = r
 * make it one) sorted by priority. */
static uint32_t check_order(const struct geom *g, problem_fn report, void *ctx)
{
	for (uint32_t r = 0; r < g->n; r++) {
		uint32_t i = g->order[r], prev = r ? g->order[r - 1] : 0;
		if (i >= g->n || g->ph[i].rank != r ||
		    (r && !better(g->ph[prev].remaining, prev, g->ph[i].remaining, i))) {
			prdshm__phase_problem(report, ctx, PRDSHM_CHECK_ERROR,
					      "claim order broken at rank %u", r);
			return 1;
		}
	}
	return 0;
}

/*
 * The dependant lists must be exactly the dependency lists reversed, in
 * the order load_dependants() writes them: walking the phases by index,
 * each mention of j as a dependency is the next entry of j's list.  A
 * cursor per phase makes it linear in phases + dependencies.
 */
static uint32_t check_dependants(const struct geom *g, problem_fn report, void *ctx)
{
	uint32_t *cursor = calloc(g->n ? g->n : 1, sizeof(*cursor)), bad = 0;

	if (cursor == NULL) {
		prdshm__phase_problem(report, ctx, PRDSHM_CHECK_ERROR,
				      "out of memory checking dependants");
		return 1;
	}
	for (uint32_t d = 0; d < g->n && !bad; d++) {
		uint32_t nd, nt;
		const uint32_t *dep = prdshm__phase_deps_of(g, d, &nd);
		for (uint32_t k = 0; k < nd && !bad; k++) {
			const uint32_t *t = prdshm__phase_dependants_of(g, dep[k], &nt);
			uint32_t c = cursor[dep[k]]++;
			bad = c >= nt || t[c] != d;
		}
	}
	for (uint32_t j = 0; j < g->n && !bad; j++)
		bad = cursor[j] != g->ph[j].ndependants;
	free(cursor);
	if (bad)
		prdshm__phase_problem(report, ctx, PRDSHM_CHECK_ERROR,
			"dependant lists disagree with the dependency lists");
	return bad;
}

/* Check everything immutable.  @return the number of problems. */
uint32_t prdshm__phase_check_static(const struct geom *g, problem_fn report, void *ctx)
{
	uint32_t bad = 0;

	for (uint32_t i = 0; i < g->n; i++)
		bad += check_phase_static(g, i, report, ctx);
	/* Only meaningful once every index and list is known to be in range. */
	if (bad == 0)
		bad += check_topo(g, report, ctx) + check_order(g, report, ctx);
	if (bad == 0)
		bad += check_dependants(g, report, ctx);
	return bad;
}

int prdshm__phases_validate(struct prdshm_seg *seg)
{
	struct geom g;
	int r = prdshm__phase_geom_load(seg, &g);

	if (r)
		return r;
	if (prdshm__phase_check_static(&g, NULL, NULL))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: dependency lists corrupt");
	return 0;
}
