/*
 * phases.c: the plan of phases in the segment, its state machine and the
 * atomic claim that hands agents their next phase.
 *
 * One robust mutex (the phase mutex) guards the whole region.  Statuses are
 * authoritative; everything else is derived and can be rebuilt from them:
 * readiness (NOT_STARTED / QUEUED / BLOCKED follow from the dependencies'
 * statuses, see settle()), the running and open counts and the wave state
 * (see refresh()), and the agents' `phase` fields.  Every mutating call
 * ends with settle() and refresh(), and the repair after a crashed holder
 * runs the same two functions, so there is one definition of "consistent".
 *
 * Every status change goes through set_status(), which consults the one
 * transition table below and records who made the change and when.
 *
 * Waiting uses a futex doorbell, not a condition variable (see
 * docs/phases.md): a waiter reads the doorbell under the mutex, unlocks and
 * sleeps while it is unchanged; anything that may let a claim succeed rings
 * it under the mutex and wakes the sleepers after unlocking.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/futex.h"
#include "internal/phases.h"
#include "internal/robust.h"
#include "internal/session.h"
#include "internal/util.h"

#define NS PRDSHM_PHASE_NOT_STARTED
#define QU PRDSHM_PHASE_QUEUED
#define IP PRDSHM_PHASE_IN_PROGRESS
#define CO PRDSHM_PHASE_COMPLETED
#define FA PRDSHM_PHASE_FAILED
#define BL PRDSHM_PHASE_BLOCKED
#define SK PRDSHM_PHASE_SKIPPED
#define CA PRDSHM_PHASE_CANCELLED
#define NSTATUS PRDSHM_PHASE_NSTATUS

/*
 * The transition table: allowed[from][to].  It is copied into
 * docs/phases.md and docs/design.md; change them together.
 *
 *   NOT_STARTED -> QUEUED     its dependencies are all done
 *   NOT_STARTED -> BLOCKED    a dependency failed, was cancelled or blocked
 *   QUEUED -> IN_PROGRESS     claimed
 *   IN_PROGRESS -> COMPLETED  the holder completed it
 *   IN_PROGRESS -> FAILED     the holder failed it, or the holder died
 *   FAILED -> QUEUED          retry, by hand or while attempts remain
 *   BLOCKED -> NOT_STARTED / QUEUED   the failed dependency was retried
 *   CANCELLED -> NOT_STARTED / QUEUED retry
 *   * -> SKIPPED, * -> CANCELLED      by hand, from the states marked
 *
 * COMPLETED and SKIPPED are terminal: dependants may already have run.
 * IN_PROGRESS -> QUEUED is absent on purpose: a requeue after a failure is
 * recorded as IN_PROGRESS -> FAILED -> QUEUED, so the failure stays visible.
 */
static const unsigned char allowed[NSTATUS][NSTATUS] = {
	/*          NS QU IP CO FA BL SK CA */
	[NS] = { 0, 1, 0, 0, 0, 1, 1, 1 },
	[QU] = { 0, 0, 1, 0, 0, 0, 1, 1 },
	[IP] = { 0, 0, 0, 1, 1, 0, 0, 1 },
	[CO] = { 0, 0, 0, 0, 0, 0, 0, 0 },
	[FA] = { 0, 1, 0, 0, 0, 0, 1, 1 },
	[BL] = { 1, 1, 0, 0, 0, 0, 1, 1 },
	[SK] = { 0, 0, 0, 0, 0, 0, 0, 0 },
	[CA] = { 1, 1, 0, 0, 0, 0, 1, 0 },
};

/* Waits are capped so that a holder that died (which rings no doorbell) is
 * noticed by the waiter's next claim. */
#define WAIT_CAP_MS 1000
/* How long inspection waits for the phase mutex before reading without it. */
#define INSPECT_TIMEOUT_MS 200
/* A sanity bound on max_phases read from the segment. */
#define MAX_PHASES_LIMIT (1u << 24)

#define ALIGN64(x) (((x) + 63u) & ~(uint64_t)63u)

/* ------------------------------------------------------------------------ */
/* Geometry: the region's immutable header, read once and validated         */

/*
 * Process-local copies of the immutable header fields, validated against
 * the mapping's size before each operation: the code indexes with these,
 * never with values re-read from the segment.
 */
struct geom {
	struct prdshm__phase_region *reg;
	struct prdshm__phase *ph;
	struct prdshm__wave *waves;
	unsigned char *arena;
	uint64_t arena_bytes;
	uint64_t region_bytes;
	const uint32_t *topo;
	uint32_t n, nwaves, max_phases;
	int32_t max_parallel, max_attempts, delay_s, sched;
};

/* Parse and check the header of the region at @p base of @p bytes bytes. */
static int geom_parse(unsigned char *base, uint64_t bytes, struct geom *g)
{
	struct prdshm__phase_region *reg = (struct prdshm__phase_region *)(void *)base;
	uint64_t off_ph, off_w, off_a, abytes, topo_off;

	memset(g, 0, sizeof(*g));
	if (base == NULL || bytes < sizeof(*reg))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region too small");
	g->reg = reg;
	g->region_bytes = bytes;
	g->max_phases = reg->max_phases;
	g->n = reg->nphases;
	g->nwaves = reg->nwaves;
	off_ph = reg->off_phases;
	off_w = reg->off_waves;
	off_a = reg->off_arena;
	abytes = reg->arena_bytes;
	topo_off = reg->topo_off;
	g->max_parallel = reg->max_parallel;
	g->max_attempts = reg->max_attempts;
	g->delay_s = reg->wave_delay_s;
	g->sched = reg->scheduling;
	if (reg->magic != PRDSHM__PHASES_MAGIC || reg->region_bytes != bytes)
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: bad magic or size");
	if (g->max_phases > MAX_PHASES_LIMIT || g->n > g->max_phases || g->nwaves > g->n ||
	    (g->n > 0 && g->nwaves == 0))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: bad counts (%u phases, %u waves)",
				    g->n, g->nwaves);
	if (off_ph < sizeof(*reg) || off_ph % 8 || off_w % 8 || off_a % 8 ||
	    off_ph + (uint64_t)g->max_phases * sizeof(struct prdshm__phase) > off_w ||
	    off_w + (uint64_t)g->max_phases * sizeof(struct prdshm__wave) > off_a ||
	    off_a > bytes || abytes > bytes - off_a)
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: bad offsets");
	if (topo_off % 4 || topo_off > abytes || (uint64_t)g->n * 4 > abytes - topo_off)
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: bad topological order");
	if (g->max_parallel < 1 || g->max_attempts < 1 || g->delay_s < 0 ||
	    (g->sched != PRDSHM_SCHED_WAVES && g->sched != PRDSHM_SCHED_EAGER))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: bad configuration");
	g->ph = (struct prdshm__phase *)(void *)(base + off_ph);
	g->waves = (struct prdshm__wave *)(void *)(base + off_w);
	g->arena = base + off_a;
	g->arena_bytes = abytes;
	g->topo = (const uint32_t *)(const void *)(g->arena + topo_off);
	return 0;
}

/* The geometry of @p seg's region; the region must lie inside the mapping. */
static int geom_load(struct prdshm_seg *seg, struct geom *g)
{
	uint64_t bytes, off;

	if (seg == NULL || seg->hdr == NULL || seg->phases == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no segment");
	bytes = seg->hdr->phase_bytes;
	off = (uint64_t)(seg->phases - seg->base);
	if (off > seg->size || bytes > seg->size - off)
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region outside the mapping");
	return geom_parse(seg->phases, bytes, g);
}

/* Index list @p cnt entries at arena offset @p off; NULL (and *n = 0) if it
 * does not lie in the arena.  Each index must still be checked < g->n. */
static const uint32_t *idx_list(const struct geom *g, uint32_t off, uint32_t cnt, uint32_t *n)
{
	*n = 0;
	if (cnt == 0 || off % 4 || off > g->arena_bytes || cnt > (g->arena_bytes - off) / 4)
		return NULL;
	*n = cnt;
	return (const uint32_t *)(const void *)(g->arena + off);
}

static const uint32_t *deps_of(const struct geom *g, uint32_t i, uint32_t *n)
{
	return idx_list(g, g->ph[i].deps_off, g->ph[i].ndeps, n);
}

/* 1 if arena string @p s lies in the arena (NIL counts as valid). */
static int str_ok(const struct geom *g, struct prdshm__str s)
{
	if (s.off == PRDSHM__NIL)
		return 1;
	return s.off < g->arena_bytes && s.len < g->arena_bytes - s.off;
}

/* A bounded copy of phase @p i's id, for messages. */
static const char *pid_of(const struct geom *g, uint32_t i, char buf[PRDSHM_ID_MAX + 1])
{
	memcpy(buf, g->ph[i].id, PRDSHM_ID_MAX);
	buf[PRDSHM_ID_MAX] = '\0';
	return buf;
}

static const char *sname(uint32_t status)
{
	const char *s = prdshm_phase_status_name((int)status);

	return s ? s : "INVALID";
}

static int is_done(uint32_t s)
{
	return s == CO || s == SK;
}

/* A status that blocks the dependants. */
static int is_bad(uint32_t s)
{
	return s == FA || s == CA || s == BL;
}

static int is_open(uint32_t s)
{
	return s == NS || s == QU || s == IP;
}

/* ------------------------------------------------------------------------ */
/* Sizing and loading a plan                                                */

/* Arena bytes: index lists first (4-byte aligned), then the strings. */
static uint64_t arena_ints(const prdshm_config *cfg)
{
	uint64_t a = (uint64_t)cfg->nphases * 4;

	for (size_t i = 0; i < cfg->nphases; i++) {
		const prdshm_phase_def *d = &cfg->phases[i];

		a += (uint64_t)d->ndeps * 4;
		a += (uint64_t)d->noutputs * sizeof(struct prdshm__str);
	}
	return a;
}

static uint64_t str_need(const char *s)
{
	return (s ? strlen(s) : 0) + 1;
}

static uint64_t arena_chars(const prdshm_config *cfg)
{
	uint64_t a = 0;

	for (size_t i = 0; i < cfg->nphases; i++) {
		const prdshm_phase_def *d = &cfg->phases[i];

		a += str_need(d->name) + str_need(d->command);
		for (size_t k = 0; k < d->noutputs; k++)
			a += str_need(d->outputs[k]);
	}
	return a;
}

static uint32_t cfg_capacity(const prdshm_config *cfg)
{
	uint64_t cap = cfg->max_phases > 0 ? (uint64_t)cfg->max_phases : 0;

	/* Sized for the plan even if it exceeds max_phases: init refuses it,
	 * but the layout stays well defined. */
	if (cfg->nphases > cap)
		cap = cfg->nphases;
	return cap > MAX_PHASES_LIMIT ? MAX_PHASES_LIMIT : (uint32_t)cap;
}

struct layout {
	uint64_t off_phases, off_waves, off_arena, arena_bytes, bytes;
	uint32_t cap;
};

static void compute_layout(const prdshm_config *cfg, struct layout *L)
{
	L->cap = cfg_capacity(cfg);
	L->off_phases = ALIGN64(sizeof(struct prdshm__phase_region));
	L->off_waves = L->off_phases + (uint64_t)L->cap * sizeof(struct prdshm__phase);
	L->off_arena = ALIGN64(L->off_waves + (uint64_t)L->cap * sizeof(struct prdshm__wave));
	L->arena_bytes = arena_ints(cfg) + arena_chars(cfg);
	L->bytes = ALIGN64(L->off_arena + L->arena_bytes);
}

size_t prdshm__phases_bytes(const prdshm_config *cfg)
{
	struct layout L;

	compute_layout(cfg, &L);
	return (size_t)L.bytes;
}

uint32_t prdshm__phases_layout_hash(void)
{
	const uint64_t v[] = {
		sizeof(struct prdshm__phase_region), sizeof(struct prdshm__phase),
		sizeof(struct prdshm__wave),         sizeof(struct prdshm__str),
		PRDSHM__PHASES_MAGIC,                NSTATUS,
		offsetof(struct prdshm__phase_region, doorbell),
		offsetof(struct prdshm__phase, status),
	};
	return prdshm__hash(v, sizeof(v));
}

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

static int load_header(struct prdshm_seg *seg, const prdshm_config *cfg,
		       const struct layout *L, size_t nwaves)
{
	struct prdshm__phase_region *reg = (struct prdshm__phase_region *)(void *)seg->phases;
	int r = prdshm__mutex_init(&reg->mutex);

	if (r)
		return r;
	reg->max_phases = L->cap;
	reg->nphases = (uint32_t)cfg->nphases;
	reg->nwaves = (uint32_t)nwaves;
	reg->region_bytes = L->bytes;
	reg->off_phases = L->off_phases;
	reg->off_waves = L->off_waves;
	reg->off_arena = L->off_arena;
	reg->arena_bytes = L->arena_bytes;
	reg->topo_off = 0;
	reg->max_parallel = cfg->max_parallel_agents > 0 ? cfg->max_parallel_agents : 1;
	reg->max_attempts = cfg->phase_max_attempts > 0 ? cfg->phase_max_attempts : 1;
	reg->wave_delay_s = cfg->wave_delay_seconds > 0 ? cfg->wave_delay_seconds : 0;
	reg->scheduling = cfg->scheduling == PRDSHM_SCHED_EAGER ? PRDSHM_SCHED_EAGER
								 : PRDSHM_SCHED_WAVES;
	reg->doorbell = 0;
	reg->current_wave = 0;
	reg->nrunning = 0;
	reg->nopen = (uint32_t)cfg->nphases;
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

/* The topological order: wave by wave (a phase's dependencies lie in
 * earlier waves), which settle() walks so that dependencies come first. */
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

static int load_plan(struct prdshm_seg *seg, const prdshm_config *cfg, const prdshm_graph *gr,
		     const struct layout *L)
{
	struct arena_fill f;
	struct geom g;
	uint64_t now = prdshm__now_real();
	int r = load_header(seg, cfg, L, prdshm_graph_nwaves(gr));

	if (r == 0)
		r = geom_parse(seg->phases, L->bytes, &g);
	if (r)
		return r;
	f.arena = g.arena;
	f.ints = (uint64_t)g.n * 4;
	f.ints_end = arena_ints(cfg);
	f.chars = f.ints_end;
	f.end = g.arena_bytes;
	memset(g.ph, 0, (size_t)g.max_phases * sizeof(*g.ph));
	memset(g.waves, 0, (size_t)g.max_phases * sizeof(*g.waves));
	for (uint32_t i = 0; r == 0 && i < g.n; i++)
		r = load_phase(&g, gr, &cfg->phases[i], i, &f, now);
	for (uint32_t i = 0; r == 0 && i < g.n; i++)
		r = load_outputs(&g, &cfg->phases[i], i, &f);
	if (r == 0)
		load_topo(&g, gr);
	return r;
}

int prdshm__phases_init(struct prdshm_seg *seg, const prdshm_config *cfg)
{
	prdshm_graph *gr = NULL;
	prdshm_diag diag;
	struct layout L;
	int r;

	if (seg == NULL || seg->phases == NULL || cfg == NULL || (cfg->nphases && !cfg->phases))
		return prdshm__fail(PRDSHM_EINVAL, "phases: no segment or no plan");
	if (cfg->max_phases < 0 || cfg->nphases > (size_t)cfg->max_phases)
		return prdshm__fail(PRDSHM_EPHASEFULL, "plan has %zu phases (max_phases=%d)",
				    cfg->nphases, cfg->max_phases);
	compute_layout(cfg, &L);
	if (L.bytes > UINT32_MAX || L.bytes != seg->hdr->phase_bytes)
		return prdshm__fail(PRDSHM_ECONFIG, "phase region of %llu bytes does not fit",
				    (unsigned long long)L.bytes);
	memset(&diag, 0, sizeof(diag));
	r = prdshm_graph_build(cfg->phases, cfg->nphases, &gr, &diag);
	if (r)
		return map_graph_error(r, &diag);
	r = load_plan(seg, cfg, gr, &L);
	prdshm_graph_free(gr);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Validation of the immutable part                                         */

typedef void (*problem_fn)(void *ctx, int severity, const char *problem);

static void problem(problem_fn report, void *ctx, int severity, const char *fmt, ...)
	PRDSHM__PRINTF(4, 5);

static void problem(problem_fn report, void *ctx, int severity, const char *fmt, ...)
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
	uint32_t bad = 0, nd, nw;
	const uint32_t *d = deps_of(g, i, &nd);
	const uint32_t *w = idx_list(g, p->outputs_off,
				     p->noutputs <= UINT32_MAX / 2 ? p->noutputs * 2 : 0, &nw);

	if (nd != p->ndeps || (uint64_t)nw != 2 * (uint64_t)p->noutputs)
		bad++;
	/* A dependency in the same or a later wave breaks the topological
	 * order that settle() relies on. */
	for (uint32_t k = 0; k < nd; k++) {
		if (d[k] >= g->n || g->ph[d[k]].wave >= p->wave)
			bad++;
	}
	for (uint32_t k = 0; k + 1 < nw; k += 2) {
		struct prdshm__str s = { w[k], w[k + 1] };
		if (!str_ok(g, s))
			bad++;
	}
	if (p->wave >= g->nwaves || p->name.off == PRDSHM__NIL || !str_ok(g, p->name) ||
	    !str_ok(g, p->command))
		bad++;
	if (bad)
		problem(report, ctx, PRDSHM_CHECK_ERROR,
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
			problem(report, ctx, PRDSHM_CHECK_ERROR,
				"topological order broken at position %u", k);
			return 1;
		}
		prev_wave = g->ph[i].wave;
	}
	return 0;
}

/* Check everything immutable.  @return the number of problems. */
static uint32_t check_static(const struct geom *g, problem_fn report, void *ctx)
{
	uint32_t bad = 0;

	for (uint32_t i = 0; i < g->n; i++)
		bad += check_phase_static(g, i, report, ctx);
	/* Only meaningful once every wave is known to be in range. */
	if (bad == 0)
		bad += check_topo(g, report, ctx);
	return bad;
}

int prdshm__phases_validate(struct prdshm_seg *seg)
{
	struct geom g;
	int r = geom_load(seg, &g);

	if (r)
		return r;
	if (check_static(&g, NULL, NULL))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: dependency lists corrupt");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The state machine                                                        */

/* One operation in progress: who acts, when, and whether to wake waiters. */
struct op {
	const char *who; /* agent id or "operator" */
	uint64_t now;    /* CLOCK_REALTIME */
	uint64_t mono;   /* CLOCK_MONOTONIC */
	int ring;        /* a claim may newly succeed: the doorbell was rung */
};

static void op_init(struct op *op, const char *who)
{
	op->who = who ? who : "operator";
	op->now = prdshm__now_real();
	op->mono = prdshm__now_mono();
	op->ring = 0;
}

/* Call when holding the phase mutex. */
static void ring(const struct geom *g, struct op *op)
{
	prdshm__doorbell_ring(&g->reg->doorbell);
	op->ring = 1;
}

static int transition_error(const struct geom *g, uint32_t i, uint32_t from, uint32_t to,
			    const char *why)
{
	char id[PRDSHM_ID_MAX + 1];

	return prdshm__fail(PRDSHM_ETRANSITION, "illegal phase transition %s -> %s for phase '%s'%s",
			    sname(from), sname(to), pid_of(g, i, id), why ? why : "");
}

/* Move phase @p i to @p to if the table allows it, recording who and when.
 * Call when holding the phase mutex. */
static int set_status(const struct geom *g, uint32_t i, uint32_t to, const struct op *op)
{
	struct prdshm__phase *p = &g->ph[i];
	uint32_t from = p->status;

	if (from >= NSTATUS || to >= NSTATUS || !allowed[from][to])
		return transition_error(g, i, from, to, NULL);
	p->status = to;
	PRDSHM__CRASH_POINT("phase_transition");
	p->changed_ns = op->now;
	prdshm__strlcpy(p->changed_by, op->who, sizeof(p->changed_by));
	return 0;
}

/* The status that NOT_STARTED / QUEUED / BLOCKED phase @p i should have. */
static uint32_t readiness(const struct geom *g, uint32_t i)
{
	uint32_t nd, ndone = 0;
	const uint32_t *d = deps_of(g, i, &nd);

	for (uint32_t k = 0; k < nd; k++) {
		uint32_t s = d[k] < g->n ? g->ph[d[k]].status : FA;
		if (is_bad(s))
			return BL;
		ndone += is_done(s);
	}
	return ndone == nd ? QU : NS;
}

/*
 * Bring readiness in line with the dependencies: block the dependants of
 * failed, cancelled or blocked phases, unblock those whose dependencies
 * recovered, queue those whose dependencies are all done.  One pass in
 * topological order settles chains, since dependencies are visited first.
 * Linear in phases + edges.  Call when holding the phase mutex.
 */
static void settle(const struct geom *g, struct op *op)
{
	for (uint32_t k = 0; k < g->n; k++) {
		uint32_t i = g->topo[k], s, want;

		if (i >= g->n)
			continue;
		s = g->ph[i].status;
		if (s != NS && s != QU && s != BL)
			continue;
		want = readiness(g, i);
		/* QUEUED never goes back: its dependencies are terminal. */
		if (want == s || !allowed[s][want])
			continue;
		set_status(g, i, want, op);
		PRDSHM__CRASH_POINT("phase_settle");
		if (want == QU)
			ring(g, op);
	}
}

/* What refresh() found. */
struct run_state {
	uint32_t nrunning;      /* IN_PROGRESS */
	uint32_t nopen;         /* NOT_STARTED, QUEUED, IN_PROGRESS */
	uint32_t minw;          /* lowest wave with an open phase; nwaves if none */
	uint64_t delay_left_ns; /* waves mode: until the next wave opens */
};

static void scan_counts(const struct geom *g, struct run_state *st)
{
	memset(st, 0, sizeof(*st));
	st->minw = g->nwaves;
	for (uint32_t i = 0; i < g->n; i++) {
		uint32_t s = g->ph[i].status;
		if (!is_open(s))
			continue;
		st->nopen++;
		st->nrunning += s == IP;
		if (g->ph[i].wave < st->minw)
			st->minw = g->ph[i].wave;
	}
}

/*
 * Close the waves before the lowest open one and open the next wave once
 * wave_delay_seconds have passed since the last one closed (at once in
 * eager mode, where current_wave is only for display).  A wave reopened by
 * a retry loses its end time.  Call when holding the phase mutex.
 */
static void update_waves(const struct geom *g, struct op *op, struct run_state *st)
{
	struct prdshm__phase_region *reg = g->reg;
	uint32_t cw = reg->current_wave < g->nwaves ? reg->current_wave : 0;
	uint64_t delay = (uint64_t)g->delay_s * 1000000000u, due;
	int closed = 0;

	/* Every wave from the lowest open one on is unfinished, including
	 * later waves closed when all the rest failed and reopened by a retry. */
	for (uint32_t w = st->minw; w < g->nwaves; w++)
		g->waves[w].end_ns = 0;
	if (st->minw <= cw)
		return;
	for (uint32_t w = cw; w < st->minw && w < g->nwaves; w++) {
		if (g->waves[w].end_ns == 0) {
			g->waves[w].end_ns = op->now;
			closed = 1;
		}
	}
	if (closed)
		reg->wave_done_mono = op->mono;
	if (st->minw >= g->nwaves)
		return;
	due = reg->wave_done_mono + delay;
	if (g->sched == PRDSHM_SCHED_EAGER || op->mono >= due) {
		reg->current_wave = st->minw;
		ring(g, op);
	} else {
		st->delay_left_ns = due - op->mono;
	}
}

/* Recompute the derived counts, the run's end and the wave state.
 * Call when holding the phase mutex. */
static void refresh(const struct geom *g, struct op *op, struct run_state *st)
{
	struct prdshm__phase_region *reg = g->reg;

	scan_counts(g, st);
	reg->nrunning = st->nrunning;
	reg->nopen = st->nopen;
	if (st->nopen > 0)
		reg->run_end_ns = 0;
	else if (reg->run_end_ns == 0 && reg->run_start_ns != 0)
		reg->run_end_ns = op->now;
	if (reg->current_wave >= g->nwaves)
		reg->current_wave = 0;
	update_waves(g, op, st);
}

/* Clear the holder's agent record, if it still points at phase @p i.
 * Call when holding the phase mutex (guards agents[].phase and .status). */
static void release_agent(struct prdshm_seg *seg, const struct geom *g, uint32_t i)
{
	int32_t slot = g->ph[i].agent_slot;
	struct prdshm__agent *a;

	if (slot < 0 || (uint32_t)slot >= seg->max_agents)
		return;
	a = &seg->agents[slot];
	if (a->phase != (int32_t)i)
		return;
	a->phase = -1;
	if (a->status == PRDSHM_AGENT_BUSY)
		a->status = PRDSHM_AGENT_IDLE;
}

/* Requeue phase @p i after a failure if attempts remain (or @p force).
 * Call when holding the phase mutex. */
static void maybe_requeue(const struct geom *g, uint32_t i, int force, struct op *op)
{
	if (!force && g->ph[i].attempts >= (uint32_t)g->max_attempts)
		return;
	PRDSHM__CRASH_POINT("phase_requeue");
	if (set_status(g, i, QU, op) == 0)
		ring(g, op);
}

/*
 * The dead-agent rule: IN_PROGRESS phase @p i, whose holder is gone, fails
 * with "agent <id> died", then goes back to QUEUED while attempts remain
 * or when @p requeue.  Call when holding the phase mutex.
 */
static void holder_died(struct prdshm_seg *seg, const struct geom *g, uint32_t i, int requeue,
			struct op *op, void (*report)(void *ctx, const char *line), void *ctx)
{
	struct prdshm__phase *p = &g->ph[i];
	char agent[PRDSHM_ID_MAX + 1], id[PRDSHM_ID_MAX + 1], line[256];

	memcpy(agent, p->agent_id, PRDSHM_ID_MAX);
	agent[PRDSHM_ID_MAX] = '\0';
	snprintf(p->message, sizeof(p->message), "agent %s died", agent);
	p->exit_status = -1;
	p->end_ns = op->now;
	release_agent(seg, g, i);
	if (set_status(g, i, FA, op) != 0)
		return;
	PRDSHM__CRASH_POINT("phase_died");
	maybe_requeue(g, i, requeue, op);
	if (report) {
		snprintf(line, sizeof(line), "phase %s: agent %s died, phase %s", pid_of(g, i, id),
			 agent, sname(p->status));
		report(ctx, line);
	}
}

/* ------------------------------------------------------------------------ */
/* Locking and repair                                                       */

/* Who takes the mutex, for the repair that may run when it is taken. */
struct repair_ctx {
	const char *who;
	int has_self;         /* the caller's own session: never tested */
	uint32_t slot, gen;
	void (*report)(void *ctx, const char *line);
	void *ctx;
};

static void repair_ctx_init(struct repair_ctx *rc, const prdshm_session *s)
{
	memset(rc, 0, sizeof(*rc));
	rc->who = s ? s->id : "operator";
	if (s) {
		rc->has_self = 1;
		rc->slot = s->slot;
		rc->gen = s->gen;
	}
}

static int holder_alive(struct prdshm_seg *seg, const struct prdshm__phase *p,
			const struct repair_ctx *rc)
{
	if (p->agent_slot < 0 || (uint32_t)p->agent_slot >= seg->max_agents)
		return 0;
	if (rc && rc->has_self && rc->slot == (uint32_t)p->agent_slot && rc->gen == p->agent_gen)
		return 1;
	return prdshm__session_alive(seg, (uint32_t)p->agent_slot, p->agent_gen);
}

/* The agents' phase fields follow from the IN_PROGRESS phases. */
static void rebuild_agents(struct prdshm_seg *seg, const struct geom *g)
{
	for (uint32_t a = 0; a < seg->max_agents; a++)
		seg->agents[a].phase = -1;
	for (uint32_t i = 0; i < g->n; i++) {
		int32_t slot = g->ph[i].agent_slot;
		if (g->ph[i].status == IP && slot >= 0 && (uint32_t)slot < seg->max_agents)
			seg->agents[slot].phase = (int32_t)i;
	}
}

/* Terminate the mutable strings, which a crash may have left half-written. */
static void terminate_strings(const struct geom *g)
{
	for (uint32_t i = 0; i < g->n; i++) {
		struct prdshm__phase *p = &g->ph[i];
		p->id[PRDSHM_ID_MAX] = '\0';
		p->agent_id[PRDSHM_ID_MAX] = '\0';
		p->changed_by[PRDSHM_ID_MAX] = '\0';
		p->message[PRDSHM_MSG_MAX] = '\0';
	}
}

/*
 * Rebuild everything derived after a holder of the phase mutex died inside
 * the critical section: validate the indexes, fail or requeue the phases
 * of dead holders, recompute readiness, counts, wave state and the agents'
 * phase fields, and wake every waiter.  A status out of range cannot be
 * guessed, so it makes the repair fail.  Call when holding the phase mutex.
 */
static int repair_locked(struct prdshm_seg *seg, const struct geom *g, struct repair_ctx *rc)
{
	struct run_state st;
	struct op op;

	if (check_static(g, NULL, NULL))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: dependency lists corrupt");
	for (uint32_t i = 0; i < g->n; i++) {
		if (g->ph[i].status >= NSTATUS)
			return prdshm__fail(PRDSHM_ECORRUPT, "phase %u: status %u out of range", i,
					    g->ph[i].status);
	}
	op_init(&op, rc->who);
	terminate_strings(g);
	rebuild_agents(seg, g);
	for (uint32_t i = 0; i < g->n; i++) {
		if (g->ph[i].status == IP && !holder_alive(seg, &g->ph[i], rc))
			holder_died(seg, g, i, 0, &op, rc->report, rc->ctx);
	}
	/* Every path to FAILED requeues while attempts remain, in the same
	 * critical section; a crash in between (after set_status(FAILED),
	 * before maybe_requeue) leaves a FAILED phase with attempts to spare
	 * and its dependants BLOCKED for good.  Finish the requeue. */
	for (uint32_t i = 0; i < g->n; i++) {
		if (g->ph[i].status == FA)
			maybe_requeue(g, i, 0, &op);
	}
	settle(g, &op);
	refresh(g, &op, &st);
	prdshm__doorbell_ring(&g->reg->doorbell);
	/* Waking while holding the mutex is fine here: repair is rare. */
	prdshm__futex_wake_all(&g->reg->doorbell);
	return 0;
}

static int phases_repair(struct prdshm_seg *seg, void *arg)
{
	struct geom g;
	int r = geom_load(seg, &g);

	if (r)
		return r;
	return repair_locked(seg, &g, arg);
}

/* Take the phase mutex (repairing if its holder died).  On success the
 * caller owns the mutex and @p g describes the region. */
static int phase_lock(struct prdshm_seg *seg, struct geom *g, struct repair_ctx *rc,
		      int64_t timeout_ms)
{
	int r;

	if (seg == NULL || seg->hdr == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no segment");
	if (__atomic_load_n(&seg->hdr->needs_recovery, __ATOMIC_ACQUIRE))
		return prdshm__fail(PRDSHM_ERECOVER, "segment needs recovery: run prdshm-cleanup");
	r = geom_load(seg, g);
	if (r)
		return r;
	return prdshm__mutex_lock(seg, &g->reg->mutex, timeout_ms, phases_repair, rc);
}

/* Unlock, then wake the waiters if the operation rang the doorbell. */
static void phase_unlock(const struct geom *g, const struct op *op)
{
	prdshm__mutex_unlock(&g->reg->mutex);
	if (op && op->ring)
		prdshm__futex_wake_all(&g->reg->doorbell);
}

static int session_ok(const prdshm_session *s)
{
	if (s == NULL || s->seg == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no session");
	if (s->slot >= s->seg->max_agents)
		return prdshm__fail(PRDSHM_ENOAGENT, "session slot %u out of range", s->slot);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Claim and wait                                                           */

/* The best claimable phase: QUEUED, in an open wave, longest remaining
 * path first, ties by index.  @return its index or PRDSHM__NIL. */
static uint32_t pick(const struct geom *g)
{
	uint32_t best = PRDSHM__NIL, cw = g->reg->current_wave;
	double best_rem = 0;

	for (uint32_t i = 0; i < g->n; i++) {
		const struct prdshm__phase *p = &g->ph[i];
		if (p->status != QU || (g->sched == PRDSHM_SCHED_WAVES && p->wave > cw))
			continue;
		if (best == PRDSHM__NIL || p->remaining > best_rem) {
			best = i;
			best_rem = p->remaining;
		}
	}
	return best;
}

/* Hand phase @p i to session @p s.  Call when holding the phase mutex. */
static void take(const struct geom *g, uint32_t i, prdshm_session *s, struct op *op,
		 prdshm_claim *out)
{
	struct prdshm__phase *p = &g->ph[i];
	struct prdshm__agent *a = &s->seg->agents[s->slot];

	/* The holder first, then the status: a crash in between leaves a
	 * QUEUED phase with a stale holder, which nothing reads. */
	p->agent_slot = (int32_t)s->slot;
	p->agent_gen = s->gen;
	prdshm__strlcpy(p->agent_id, s->id, sizeof(p->agent_id));
	p->attempts++;
	p->start_ns = op->now;
	p->end_ns = 0;
	p->exit_status = 0;
	p->message[0] = '\0';
	PRDSHM__CRASH_POINT("phase_claim");
	set_status(g, i, IP, op);
	PRDSHM__CRASH_POINT("phase_claim_agent");
	a->phase = (int32_t)i;
	a->status = PRDSHM_AGENT_BUSY;
	g->reg->nrunning++;
	if (p->wave < g->nwaves && g->waves[p->wave].start_ns == 0)
		g->waves[p->wave].start_ns = op->now;
	if (g->reg->run_start_ns == 0)
		g->reg->run_start_ns = op->now;
	out->index = (int32_t)i;
	pid_of(g, i, out->id);
	out->attempt = p->attempts;
}

/* Fail or requeue the phases of dead holders (not the caller's).
 * @return how many.  Call when holding the phase mutex. */
static uint32_t reap_dead_holders(const struct geom *g, prdshm_session *s, struct op *op)
{
	struct repair_ctx rc;
	uint32_t n = 0;

	repair_ctx_init(&rc, s);
	for (uint32_t i = 0; i < g->n; i++) {
		if (g->ph[i].status == IP && !holder_alive(s->seg, &g->ph[i], &rc)) {
			holder_died(s->seg, g, i, 0, op, NULL, NULL);
			n++;
		}
	}
	if (n) {
		settle(g, op);
		ring(g, op);
	}
	return n;
}

/* 1 if session @p s holds a phase IN_PROGRESS (its index in *held). */
static int holds_phase(const struct geom *g, const prdshm_session *s, uint32_t *held)
{
	int32_t i = s->seg->agents[s->slot].phase;

	if (i < 0 || (uint32_t)i >= g->n)
		return 0;
	if (g->ph[i].status != IP || g->ph[i].agent_slot != (int32_t)s->slot ||
	    g->ph[i].agent_gen != s->gen)
		return 0;
	*held = (uint32_t)i;
	return 1;
}

static int claim_locked(const struct geom *g, prdshm_session *s, struct op *op,
			prdshm_claim *out)
{
	struct run_state st;
	uint32_t best, held;
	char id[PRDSHM_ID_MAX + 1];

	if (holds_phase(g, s, &held))
		return prdshm__fail(PRDSHM_EBUSY, "agent %s already holds phase '%s'", s->id,
				    pid_of(g, held, id));
	for (int pass = 0;; pass++) {
		refresh(g, op, &st);
		if (st.nopen == 0)
			return prdshm__fail(PRDSHM_EDONE, "no phase left (%u phases)", g->n);
		best = st.nrunning < (uint32_t)g->max_parallel ? pick(g) : PRDSHM__NIL;
		if (best != PRDSHM__NIL) {
			take(g, best, s, op, out);
			return 0;
		}
		/* Nothing ready: before saying "wait", make sure no running
		 * phase belongs to a dead agent, or the wait could be forever. */
		if (pass > 0 || reap_dead_holders(g, s, op) == 0)
			break;
	}
	if (st.delay_left_ns)
		return prdshm__fail(PRDSHM_EWAIT, "wave %u opens in %llu ms", st.minw,
				    (unsigned long long)(st.delay_left_ns / 1000000));
	return prdshm__fail(PRDSHM_EWAIT, "no phase ready (%u running, %u open)", st.nrunning,
			    st.nopen);
}

int prdshm_phase_claim(prdshm_session *s, prdshm_claim *out)
{
	struct repair_ctx rc;
	struct geom g;
	struct op op;
	int r = session_ok(s);

	if (r)
		return r;
	if (out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no claim to fill");
	repair_ctx_init(&rc, s);
	r = phase_lock(s->seg, &g, &rc, -1);
	if (r)
		return r;
	op_init(&op, s->id);
	r = claim_locked(&g, s, &op, out);
	phase_unlock(&g, &op);
	return r;
}

int prdshm_phase_wait(prdshm_session *s, int64_t timeout_ms)
{
	struct repair_ctx rc;
	struct run_state st;
	struct geom g;
	struct op op;
	uint32_t seen;
	int64_t wait_ms = timeout_ms < 0 || timeout_ms > WAIT_CAP_MS ? WAIT_CAP_MS : timeout_ms;
	int ready, r = session_ok(s);

	if (r)
		return r;
	repair_ctx_init(&rc, s);
	r = phase_lock(s->seg, &g, &rc, -1);
	if (r)
		return r;
	op_init(&op, s->id);
	/* Re-check under the mutex: a phase may have finished between the
	 * caller's failed claim and now, and its ring would be lost. */
	refresh(&g, &op, &st);
	ready = st.nopen == 0 ||
		(st.nrunning < (uint32_t)g.max_parallel && pick(&g) != PRDSHM__NIL);
	seen = prdshm__doorbell_read(&g.reg->doorbell);
	phase_unlock(&g, &op);
	if (ready || wait_ms == 0)
		return 0;
	if (st.delay_left_ns && (int64_t)(st.delay_left_ns / 1000000) + 1 < wait_ms)
		wait_ms = (int64_t)(st.delay_left_ns / 1000000) + 1;
	prdshm__futex_wait(&g.reg->doorbell, seen, wait_ms * 1000000);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Complete, fail, set                                                      */

/* Check that session @p s holds phase @p i IN_PROGRESS.  A refusal names
 * the transition that was asked for.  Call when holding the phase mutex. */
static int check_holder(const struct geom *g, const prdshm_session *s, uint32_t i, uint32_t to)
{
	const struct prdshm__phase *p = &g->ph[i];
	char other[PRDSHM_ID_MAX + 1];

	if (p->status != IP)
		return transition_error(g, i, p->status, to, NULL);
	if (p->agent_slot != (int32_t)s->slot || p->agent_gen != s->gen) {
		memcpy(other, p->agent_id, PRDSHM_ID_MAX);
		other[PRDSHM_ID_MAX] = '\0';
		return prdshm__fail(PRDSHM_ETRANSITION,
				    "phase '%.*s' is IN_PROGRESS by agent %s, not by %s",
				    PRDSHM_ID_MAX, p->id, other, s->id);
	}
	return 0;
}

/* Finish the session's phase @p i as @p to (COMPLETED or FAILED). */
static int finish(prdshm_session *s, int32_t index, uint32_t to, int exit_status,
		  const char *message)
{
	struct repair_ctx rc;
	struct run_state st;
	struct geom g;
	struct op op;
	int r = session_ok(s);

	if (r)
		return r;
	repair_ctx_init(&rc, s);
	r = phase_lock(s->seg, &g, &rc, -1);
	if (r)
		return r;
	op_init(&op, s->id);
	if (index < 0 || (uint32_t)index >= g.n)
		r = prdshm__fail(PRDSHM_ENOPHASE, "no phase with index %d", (int)index);
	else
		r = check_holder(&g, s, (uint32_t)index, to);
	if (r == 0) {
		struct prdshm__phase *p = &g.ph[index];
		p->end_ns = op.now;
		p->exit_status = exit_status;
		prdshm__strlcpy(p->message, message ? message : "", sizeof(p->message));
		release_agent(s->seg, &g, (uint32_t)index);
		PRDSHM__CRASH_POINT("phase_finish");
		set_status(&g, (uint32_t)index, to, &op);
		if (to == FA)
			maybe_requeue(&g, (uint32_t)index, 0, &op);
		settle(&g, &op);
		ring(&g, &op);
		refresh(&g, &op, &st);
	}
	phase_unlock(&g, &op);
	return r;
}

int prdshm_phase_complete(prdshm_session *s, int32_t index)
{
	return finish(s, index, CO, 0, NULL);
}

int prdshm_phase_fail(prdshm_session *s, int32_t index, int exit_status, const char *message)
{
	return finish(s, index, FA, exit_status, message);
}

/*
 * Retry: phase @p i and its FAILED or CANCELLED ancestors go back in line
 * (QUEUED, or NOT_STARTED while dependencies are not done); settle() then
 * unblocks everything they blocked, @p i included if it was BLOCKED.
 * Ancestors are marked in `scratch` walking the topological order
 * backwards: linear in phases + edges.  Call when holding the phase mutex.
 */
static int retry(const struct geom *g, uint32_t i, struct op *op)
{
	uint32_t from = g->ph[i].status, nd;

	if (from != FA && from != CA && from != BL)
		return transition_error(g, i, from, QU,
					" (retry applies to FAILED, CANCELLED, BLOCKED)");
	for (uint32_t k = 0; k < g->n; k++)
		g->ph[k].scratch = 0;
	g->ph[i].scratch = 1;
	for (uint32_t k = g->n; k-- > 0;) {
		uint32_t j = g->topo[k];
		const uint32_t *d;
		if (j >= g->n || !g->ph[j].scratch)
			continue;
		d = deps_of(g, j, &nd);
		for (uint32_t e = 0; e < nd; e++)
			if (d[e] < g->n)
				g->ph[d[e]].scratch = 1;
	}
	for (uint32_t k = 0; k < g->n; k++) {
		uint32_t j = g->topo[k], s;
		if (j >= g->n || !g->ph[j].scratch)
			continue;
		s = g->ph[j].status;
		if (s == FA || s == CA) {
			set_status(g, j, readiness(g, j) == QU ? QU : NS, op);
			PRDSHM__CRASH_POINT("phase_retry");
		}
	}
	return 0;
}

/* Cancel phase @p i; a running phase's holder loses it (its complete or
 * fail is then refused).  Call when holding the phase mutex. */
static int cancel(struct prdshm_seg *seg, const struct geom *g, uint32_t i, struct op *op)
{
	struct prdshm__phase *p = &g->ph[i];
	uint32_t from = p->status;
	int r = set_status(g, i, CA, op);

	if (r)
		return r;
	if (from == IP) {
		release_agent(seg, g, i);
		p->end_ns = op->now;
		snprintf(p->message, sizeof(p->message), "cancelled by %s", op->who);
	}
	return 0;
}

static long find_phase(const struct geom *g, const char *id)
{
	for (uint32_t i = 0; i < g->n; i++) {
		if (strncmp(g->ph[i].id, id, PRDSHM_ID_MAX) == 0)
			return (long)i;
	}
	return -1;
}

static int set_locked(struct prdshm_seg *seg, const struct geom *g, const char *id,
		      prdshm_phase_status to, struct op *op)
{
	long i = find_phase(g, id);

	if (i < 0)
		return prdshm__fail(PRDSHM_ENOPHASE, "no phase '%s'", id);
	switch (to) {
	case PRDSHM_PHASE_QUEUED:
		return retry(g, (uint32_t)i, op);
	case PRDSHM_PHASE_CANCELLED:
		return cancel(seg, g, (uint32_t)i, op);
	case PRDSHM_PHASE_SKIPPED:
		return set_status(g, (uint32_t)i, SK, op);
	default:
		return transition_error(g, (uint32_t)i, g->ph[i].status, (uint32_t)to,
					" (by hand: QUEUED to retry, CANCELLED, SKIPPED)");
	}
}

int prdshm_phase_set(prdshm_seg *seg, prdshm_session *s, const char *id,
		     prdshm_phase_status to)
{
	struct repair_ctx rc;
	struct run_state st;
	struct geom g;
	struct op op;
	int r = s ? session_ok(s) : 0;

	if (r)
		return r;
	if (!prdshm__valid_id(id))
		return prdshm__fail(PRDSHM_ENOPHASE, "invalid phase id");
	if ((int)to < 0 || (int)to >= NSTATUS)
		return prdshm__fail(PRDSHM_EINVAL, "phase status %d out of range", (int)to);
	repair_ctx_init(&rc, s);
	r = phase_lock(seg, &g, &rc, -1);
	if (r)
		return r;
	op_init(&op, s ? s->id : NULL);
	r = set_locked(seg, &g, id, to, &op);
	if (r == 0) {
		settle(&g, &op);
		ring(&g, &op);
		refresh(&g, &op, &st);
	}
	phase_unlock(&g, &op);
	return r;
}

int prdshm_phase_transition_allowed(prdshm_phase_status from, prdshm_phase_status to)
{
	if ((int)from < 0 || (int)from >= NSTATUS || (int)to < 0 || (int)to >= NSTATUS)
		return 0;
	return allowed[from][to];
}

/* ------------------------------------------------------------------------ */
/* Dead sessions and recovery                                               */

int prdshm__phases_session_died(struct prdshm_seg *seg, uint32_t slot, uint32_t gen,
				const char *agent_id, int requeue,
				void (*report)(void *ctx, const char *line), void *ctx)
{
	struct repair_ctx rc;
	struct run_state st;
	struct geom g;
	struct op op;
	uint32_t n = 0;
	int r;

	(void)agent_id; /* the phase keeps the id its holder had at claim */
	repair_ctx_init(&rc, NULL);
	r = phase_lock(seg, &g, &rc, -1);
	if (r)
		return r;
	op_init(&op, NULL);
	for (uint32_t i = 0; i < g.n; i++) {
		const struct prdshm__phase *p = &g.ph[i];
		if (p->status == IP && p->agent_slot == (int32_t)slot && p->agent_gen == gen) {
			holder_died(seg, &g, i, requeue, &op, report, ctx);
			n++;
		}
	}
	if (n) {
		settle(&g, &op);
		ring(&g, &op);
		refresh(&g, &op, &st);
	}
	phase_unlock(&g, &op);
	return 0;
}

/* Make the phase mutex usable again, whatever state a crash or a misuse
 * left it in: recovery rebuilds everything it guards anyway. */
static int revive(struct geom *g)
{
	pthread_mutex_t *m = &g->reg->mutex.m;
	int r = pthread_mutex_trylock(m);

	if (r == ENOTRECOVERABLE)
		return prdshm__mutex_init(&g->reg->mutex);
	if (r == EOWNERDEAD)
		pthread_mutex_consistent(m);
	if (r == 0 || r == EOWNERDEAD)
		pthread_mutex_unlock(m);
	return 0;
}

int prdshm__phases_recover(struct prdshm_seg *seg, void (*report)(void *ctx, const char *line),
			   void *ctx)
{
	struct repair_ctx rc;
	struct geom g;
	int r;

	repair_ctx_init(&rc, NULL);
	rc.report = report;
	rc.ctx = ctx;
	if (seg == NULL || seg->hdr == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no segment");
	/* Not phase_lock(): recovery runs while the segment is marked. */
	r = geom_load(seg, &g);
	if (r == 0)
		r = revive(&g);
	if (r)
		return r;
	r = prdshm__mutex_lock(seg, &g.reg->mutex, -1, phases_repair, &rc);
	if (r)
		return r;
	r = repair_locked(seg, &g, &rc);
	prdshm__mutex_unlock(&g.reg->mutex);
	/* prdshm_recover() runs this last, after reaping, whose call into
	 * prdshm__phases_session_died() may have found this mutex still
	 * unrecoverable and marked the segment again: it is rebuilt now. */
	if (r == 0)
		__atomic_store_n(&seg->hdr->needs_recovery, 0, __ATOMIC_RELEASE);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Agents: heartbeat and log                                                */

int prdshm_agent_heartbeat(prdshm_session *s)
{
	struct prdshm__agent *a;
	int r = session_ok(s);

	if (r)
		return r;
	a = &s->seg->agents[s->slot];
	if (__atomic_load_n(&a->gen, __ATOMIC_ACQUIRE) != s->gen)
		return prdshm__fail(PRDSHM_ENOAGENT, "agent %s was reaped", s->id);
	/* Lock-free: only the owner writes it, readers want any recent value. */
	__atomic_store_n(&a->heartbeat_ns, prdshm__now_real(), __ATOMIC_RELAXED);
	return 0;
}

int prdshm_agent_log(prdshm_session *s, const char *line)
{
	struct prdshm__agent *a;
	int r = session_ok(s);

	if (r)
		return r;
	if (line == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no log line");
	r = prdshm__sess_lock(s->seg, -1);
	if (r)
		return r;
	a = &s->seg->agents[s->slot];
	if (a->gen != s->gen || a->state != PRDSHM__SLOT_ACTIVE) {
		r = prdshm__fail(PRDSHM_ENOAGENT, "agent %s was reaped", s->id);
	} else {
		prdshm__strlcpy(a->log[a->nlog % PRDSHM_LOG_LINES], line, PRDSHM_MSG_MAX + 1);
		a->nlog++;
	}
	prdshm__sess_unlock(s->seg);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Snapshot                                                                 */

/* A heap copy of arena string @p s, bounded by the arena; NULL when
 * *oom is set.  A NIL string gives NULL without error. */
static char *str_dup(const struct geom *g, struct prdshm__str s, int *oom)
{
	uint64_t len = 0;
	const char *src = "";
	char *out;

	if (s.off == PRDSHM__NIL)
		return NULL;
	if (s.off < g->arena_bytes) {
		src = (const char *)g->arena + s.off;
		len = s.len < g->arena_bytes - s.off ? s.len : g->arena_bytes - s.off;
	}
	out = malloc(len + 1);
	if (out == NULL) {
		*oom = 1;
		return NULL;
	}
	memcpy(out, src, len);
	out[len] = '\0';
	/* A NUL inside the string ends it, as it would for any C reader. */
	return out;
}

static char **dep_ids(const struct geom *g, uint32_t i, size_t *n, int *oom)
{
	uint32_t nd;
	const uint32_t *d = deps_of(g, i, &nd);
	char **v = calloc(nd ? nd : 1, sizeof(*v));
	char id[PRDSHM_ID_MAX + 1];

	*n = 0;
	if (v == NULL) {
		*oom = 1;
		return NULL;
	}
	for (uint32_t k = 0; k < nd; k++) {
		v[k] = strdup(d[k] < g->n ? pid_of(g, d[k], id) : "?");
		if (v[k] == NULL) {
			*oom = 1;
			break;
		}
		*n = k + 1;
	}
	return v;
}

static char **output_strs(const struct geom *g, uint32_t i, size_t *n, int *oom)
{
	const struct prdshm__phase *p = &g->ph[i];
	uint32_t cnt = p->noutputs <= UINT32_MAX / 2 ? p->noutputs * 2 : 0, nw;
	const uint32_t *w = idx_list(g, p->outputs_off, cnt, &nw);
	char **v = calloc(nw / 2 ? nw / 2 : 1, sizeof(*v));

	*n = 0;
	if (v == NULL) {
		*oom = 1;
		return NULL;
	}
	for (uint32_t k = 0; k + 1 < nw; k += 2) {
		/* An output is never "none": NIL gives an empty string. */
		struct prdshm__str s = { w[k] == PRDSHM__NIL ? UINT32_MAX - 1 : w[k], w[k + 1] };
		v[k / 2] = str_dup(g, s, oom);
		if (v[k / 2] == NULL)
			break;
		*n = k / 2 + 1;
	}
	return v;
}

static void copy_fixed(char *dst, const char *src, size_t size)
{
	memcpy(dst, src, size - 1);
	dst[size - 1] = '\0';
}

static int fill_phase_info(const struct geom *g, uint32_t i, prdshm_phase_info *pi)
{
	const struct prdshm__phase *p = &g->ph[i];
	int oom = 0;

	pi->index = (int32_t)i;
	copy_fixed(pi->id, p->id, sizeof(pi->id));
	pi->name = str_dup(g, p->name, &oom);
	pi->deps = dep_ids(g, i, &pi->ndeps, &oom);
	pi->outputs = output_strs(g, i, &pi->noutputs, &oom);
	pi->command = str_dup(g, p->command, &oom);
	pi->estimated_minutes = p->estimated_minutes;
	pi->status = (prdshm_phase_status)p->status;
	pi->wave = p->wave;
	pi->agent_slot = p->agent_slot;
	copy_fixed(pi->agent_id, p->agent_id, sizeof(pi->agent_id));
	pi->attempts = p->attempts;
	pi->exit_status = p->exit_status;
	pi->start_ns = p->start_ns;
	pi->end_ns = p->end_ns;
	copy_fixed(pi->message, p->message, sizeof(pi->message));
	copy_fixed(pi->changed_by, p->changed_by, sizeof(pi->changed_by));
	pi->changed_ns = p->changed_ns;
	pi->remaining = p->remaining;
	return oom ? PRDSHM_ENOMEM : 0;
}

static const char *wave_status(const prdshm_wave_info *w)
{
	if (w->nphases > 0 && w->ncompleted + w->nfailed == w->nphases)
		return w->nfailed ? "failed" : "done";
	if (w->nrunning || w->start_ns || w->ncompleted + w->nfailed > 0)
		return "running";
	return "pending";
}

static void fill_waves(const struct geom *g, prdshm_wave_info *wv)
{
	for (uint32_t w = 0; w < g->nwaves; w++) {
		wv[w].number = w;
		wv[w].start_ns = g->waves[w].start_ns;
		wv[w].end_ns = g->waves[w].end_ns;
	}
	for (uint32_t i = 0; i < g->n; i++) {
		uint32_t s = g->ph[i].status, w = g->ph[i].wave;
		if (w >= g->nwaves)
			continue;
		wv[w].nphases++;
		wv[w].ncompleted += is_done(s);
		wv[w].nfailed += is_bad(s);
		wv[w].nrunning += s == IP;
	}
	for (uint32_t w = 0; w < g->nwaves; w++)
		wv[w].status = wave_status(&wv[w]);
}

/* Copy the region into private memory, under the mutex if it can be had
 * quickly, so that parsing never races with writers.  @return the copy. */
static unsigned char *copy_region(struct prdshm_seg *seg, int locked, uint64_t bytes, int *got)
{
	struct repair_ctx rc;
	struct geom g;
	unsigned char *copy = malloc(bytes ? bytes : 1);

	*got = 0;
	if (copy == NULL)
		return NULL;
	repair_ctx_init(&rc, NULL);
	if (locked && phase_lock(seg, &g, &rc, INSPECT_TIMEOUT_MS) == 0)
		*got = 1;
	memcpy(copy, seg->phases, bytes);
	if (*got)
		prdshm__mutex_unlock(&g.reg->mutex);
	return copy;
}

static int snapshot_parse(const struct geom *g, prdshm_snapshot *snap)
{
	snap->phases = calloc(g->n ? g->n : 1, sizeof(*snap->phases));
	snap->waves = calloc(g->nwaves ? g->nwaves : 1, sizeof(*snap->waves));
	if (snap->phases == NULL || snap->waves == NULL)
		return PRDSHM_ENOMEM;
	snap->run_start_ns = g->reg->run_start_ns;
	snap->run_end_ns = g->reg->run_end_ns;
	snap->current_wave = g->reg->current_wave;
	for (uint32_t i = 0; i < g->n; i++) {
		snap->nphases = i + 1;
		if (fill_phase_info(g, i, &snap->phases[i]))
			return PRDSHM_ENOMEM;
	}
	fill_waves(g, snap->waves);
	snap->nwaves = g->nwaves;
	return 0;
}

int prdshm__phases_snapshot(struct prdshm_seg *seg, int locked, prdshm_snapshot *snap)
{
	struct geom live, g;
	unsigned char *copy;
	int got, r;

	if (snap == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no snapshot");
	snap->phases = NULL;
	snap->waves = NULL;
	snap->nphases = snap->nwaves = 0;
	r = geom_load(seg, &live);
	if (r)
		return r;
	copy = copy_region(seg, locked, live.region_bytes, &got);
	if (copy == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	if (!got)
		snap->locked = 0;
	r = geom_parse(copy, live.region_bytes, &g);
	if (r == 0)
		r = snapshot_parse(&g, snap);
	free(copy);
	if (r) {
		prdshm__phases_snapshot_free(snap);
		return r == PRDSHM_ENOMEM ? prdshm__fail(r, "out of memory") : r;
	}
	return 0;
}

static void free_strv(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t k = 0; k < n; k++)
		free(v[k]);
	free(v);
}

void prdshm__phases_snapshot_free(prdshm_snapshot *snap)
{
	if (snap == NULL)
		return;
	for (size_t i = 0; snap->phases && i < snap->nphases; i++) {
		prdshm_phase_info *pi = &snap->phases[i];
		free(pi->name);
		free(pi->command);
		free_strv(pi->deps, pi->ndeps);
		free_strv(pi->outputs, pi->noutputs);
	}
	free(snap->phases);
	free(snap->waves);
	snap->phases = NULL;
	snap->waves = NULL;
	snap->nphases = snap->nwaves = 0;
}

/* ------------------------------------------------------------------------ */
/* Invariant check                                                          */

struct check_state {
	problem_fn report;
	void *ctx;
	int corrupt, dead;
};

/* Readiness and holder of phase @p i against its dependencies. */
static void check_phase_state(struct prdshm_seg *seg, const struct geom *g, uint32_t i,
			      struct check_state *cs)
{
	const struct prdshm__phase *p = &g->ph[i];
	uint32_t s = p->status;
	char id[PRDSHM_ID_MAX + 1];

	pid_of(g, i, id);
	if (s >= NSTATUS) {
		problem(cs->report, cs->ctx, PRDSHM_CHECK_ERROR, "phase '%s': status %u out of range",
			id, s);
		cs->corrupt++;
		return;
	}
	if (s == NS || s == QU || s == BL) {
		uint32_t want = readiness(g, i);
		if (want != s && allowed[s][want]) {
			problem(cs->report, cs->ctx, PRDSHM_CHECK_ERROR,
				"phase '%s' is %s but its dependencies say %s", id, sname(s),
				sname(want));
			cs->corrupt++;
		}
	}
	if ((s == QU || s == IP || s == CO) && readiness(g, i) != QU) {
		problem(cs->report, cs->ctx, PRDSHM_CHECK_ERROR,
			"phase '%s' is %s before its dependencies are done", id, sname(s));
		cs->corrupt++;
	}
	if (s != IP)
		return;
	if (p->agent_slot < 0 || (uint32_t)p->agent_slot >= seg->max_agents ||
	    seg->agents[p->agent_slot].phase != (int32_t)i) {
		problem(cs->report, cs->ctx, PRDSHM_CHECK_ERROR,
			"phase '%s' is IN_PROGRESS without a matching agent (slot %d)", id,
			(int)p->agent_slot);
		cs->corrupt++;
	} else if (!prdshm__session_alive(seg, (uint32_t)p->agent_slot, p->agent_gen)) {
		problem(cs->report, cs->ctx, PRDSHM_CHECK_WARN,
			"phase '%s' is IN_PROGRESS by dead agent %.*s (slot %d)", id, PRDSHM_ID_MAX,
			p->agent_id, (int)p->agent_slot);
		cs->dead++;
	}
}

static void check_counts(struct prdshm_seg *seg, const struct geom *g, struct check_state *cs)
{
	struct run_state st;

	scan_counts(g, &st);
	if (st.nrunning != g->reg->nrunning || st.nrunning > (uint32_t)g->max_parallel) {
		problem(cs->report, cs->ctx, PRDSHM_CHECK_ERROR,
			"%u phases IN_PROGRESS, recorded %u, max_parallel_agents %d", st.nrunning,
			g->reg->nrunning, (int)g->max_parallel);
		cs->corrupt++;
	}
	if (g->nwaves && g->reg->current_wave >= g->nwaves) {
		problem(cs->report, cs->ctx, PRDSHM_CHECK_ERROR, "current wave %u out of range",
			g->reg->current_wave);
		cs->corrupt++;
	}
	for (uint32_t a = 0; a < seg->max_agents; a++) {
		int32_t i = seg->agents[a].phase;
		if (i == -1)
			continue;
		if (i < 0 || (uint32_t)i >= g->n || g->ph[i].agent_slot != (int32_t)a ||
		    g->ph[i].status != IP) {
			problem(cs->report, cs->ctx, PRDSHM_CHECK_ERROR,
				"agent slot %u points at phase %d, which it does not hold", a,
				(int)i);
			cs->corrupt++;
		}
	}
}

int prdshm__phases_check(struct prdshm_seg *seg, problem_fn report, void *ctx)
{
	struct check_state cs = { report, ctx, 0, 0 };
	struct repair_ctx rc;
	struct geom g;
	int locked, r = geom_load(seg, &g);

	if (r) {
		problem(report, ctx, PRDSHM_CHECK_ERROR, "%s", prdshm_last_error());
		return PRDSHM_ECORRUPT;
	}
	if (check_static(&g, report, ctx))
		return PRDSHM_ECORRUPT;
	repair_ctx_init(&rc, NULL);
	/* Without the mutex the counts may be torn; still report what is seen. */
	locked = phase_lock(seg, &g, &rc, INSPECT_TIMEOUT_MS) == 0;
	for (uint32_t i = 0; i < g.n; i++)
		check_phase_state(seg, &g, i, &cs);
	check_counts(seg, &g, &cs);
	if (locked)
		prdshm__mutex_unlock(&g.reg->mutex);
	if (cs.corrupt)
		return PRDSHM_ECORRUPT;
	return cs.dead ? PRDSHM_EDEADOWNER : 0;
}
