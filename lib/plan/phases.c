/*
 * phases.c: the plan of phases in the segment, its state machine and the
 * atomic claim that hands agents their next phase.
 *
 * One robust mutex (the phase mutex) guards the whole region.  Statuses are
 * authoritative; everything else is derived and can be rebuilt from them:
 * the ready index (which phases are claimable, in claim order), each
 * phase's count of unfinished and of failed dependencies, the list of
 * running phases, the running and open counts, the wave state and the
 * agents' `phase` fields.  index_rebuild() is the one definition of the
 * derived state; the repair after a crashed holder runs it.
 *
 * Every status change goes through set_status(), which consults the one
 * transition table below, records who made the change and when, and keeps
 * the derived state in step (derive()): so a claim costs O(1) (the first
 * set bit of the ready bitmap), and a completion O(its dependants).
 * Readiness changes cascade through a settle list drained by settle().
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

#include "base/abi.h"
#include "base/futex.h"
#include "plan/phases.h"
#include "shm/robust.h"
#include "session/session.h"
#include "base/util.h"

#define NS PRDSHM_PHASE_NOT_STARTED
#define QU PRDSHM_PHASE_QUEUED
#define IP PRDSHM_PHASE_IN_PROGRESS
#define CO PRDSHM_PHASE_COMPLETED
#define FA PRDSHM_PHASE_FAILED
#define BL PRDSHM_PHASE_BLOCKED
#define SK PRDSHM_PHASE_SKIPPED
#define CA PRDSHM_PHASE_CANCELLED
#define NSTATUS PRDSHM_PHASE_NSTATUS
#define NIL PRDSHM__NIL

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
/* The ready bitmap: 64 bits a word, and levels enough for MAX_PHASES_LIMIT
 * ranks (64^4 = 2^24). */
#define READY_FANOUT 64u
#define READY_LEVELS 4u

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
	const uint32_t *topo;  /* wave order */
	const uint32_t *order; /* claim rank -> phase */
	uint64_t *ready[READY_LEVELS];
	uint32_t ready_words[READY_LEVELS];
	uint32_t nlevels;
	uint32_t n, nwaves, max_phases;
	int32_t max_parallel, max_attempts, delay_s, sched;
};

/* The ready bitmap's level sizes for @p cap ranks.  @return its words. */
static uint64_t ready_geometry(uint32_t cap, uint32_t words[READY_LEVELS], uint32_t *nlevels)
{
	uint32_t w = cap / READY_FANOUT + (cap % READY_FANOUT != 0);
	uint64_t total = 0;

	*nlevels = 0;
	if (w == 0)
		w = 1;
	/* cap <= MAX_PHASES_LIMIT ends the loop at one word within the levels. */
	while (*nlevels < READY_LEVELS) {
		words[(*nlevels)++] = w;
		total += w;
		if (w == 1)
			break;
		w = (w + READY_FANOUT - 1) / READY_FANOUT;
	}
	return total;
}

/* 1 if an arena array of @p cnt uint32_t at @p off lies in the arena. */
static int arena_u32_ok(uint64_t abytes, uint64_t off, uint64_t cnt)
{
	return off % 4 == 0 && off <= abytes && cnt * 4 <= abytes - off;
}

static int geom_offsets_ok(const struct geom *g, const struct prdshm__phase_region *reg,
			   uint64_t ready_bytes)
{
	uint64_t off_ph = reg->off_phases, off_w = reg->off_waves, off_r = reg->off_ready;
	uint64_t off_a = reg->off_arena, abytes = reg->arena_bytes, bytes = g->region_bytes;

	if (off_ph < sizeof(*reg) || off_ph % 8 || off_w % 8 || off_r % 8 || off_a % 8)
		return 0;
	if (off_ph + (uint64_t)g->max_phases * sizeof(struct prdshm__phase) > off_w ||
	    off_w + (uint64_t)g->max_phases * sizeof(struct prdshm__wave) > off_r ||
	    off_r + ready_bytes > off_a || off_a > bytes || abytes > bytes - off_a)
		return 0;
	return 1;
}

/* Parse and check the header of the region at @p base of @p bytes bytes. */
static int geom_parse(unsigned char *base, uint64_t bytes, struct geom *g)
{
	struct prdshm__phase_region *reg = (struct prdshm__phase_region *)(void *)base;
	uint64_t ready_bytes, off;

	memset(g, 0, sizeof(*g));
	if (base == NULL || bytes < sizeof(*reg))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region too small");
	g->reg = reg;
	g->region_bytes = bytes;
	g->max_phases = reg->max_phases;
	g->n = reg->nphases;
	g->nwaves = reg->nwaves;
	g->arena_bytes = reg->arena_bytes;
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
	ready_bytes = ready_geometry(g->max_phases, g->ready_words, &g->nlevels) * 8;
	if (!geom_offsets_ok(g, reg, ready_bytes))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: bad offsets");
	if (!arena_u32_ok(g->arena_bytes, reg->topo_off, g->n))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: bad topological order");
	if (!arena_u32_ok(g->arena_bytes, reg->order_off, g->n))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: bad claim order");
	if (g->max_parallel < 1 || g->max_attempts < 1 || g->delay_s < 0 ||
	    (g->sched != PRDSHM_SCHED_WAVES && g->sched != PRDSHM_SCHED_EAGER))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: bad configuration");
	g->ph = (struct prdshm__phase *)(void *)(base + reg->off_phases);
	g->waves = (struct prdshm__wave *)(void *)(base + reg->off_waves);
	g->arena = base + reg->off_arena;
	g->topo = (const uint32_t *)(const void *)(g->arena + reg->topo_off);
	g->order = (const uint32_t *)(const void *)(g->arena + reg->order_off);
	off = reg->off_ready;
	for (uint32_t l = 0; l < g->nlevels; l++) {
		g->ready[l] = (uint64_t *)(void *)(base + off);
		off += (uint64_t)g->ready_words[l] * 8;
	}
	return 0;
}

/* The geometry of @p seg's region; the region must lie inside the mapping. */
static int geom_load(struct prdshm_seg *seg, struct geom *g)
{
	uint64_t bytes, off;

	if (seg == NULL || seg->hdr == NULL || prdshm__plan(seg)->base == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no segment");
	bytes = prdshm__plan(seg)->bytes;
	off = (uint64_t)(prdshm__plan(seg)->base - seg->base);
	if (off > seg->size || bytes > seg->size - off)
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region outside the mapping");
	return geom_parse(prdshm__plan(seg)->base, bytes, g);
}

/* Index list @p cnt entries at arena offset @p off; NULL (and *n = 0) if it
 * does not lie in the arena.  Each index must still be checked < g->n. */
static const uint32_t *idx_list(const struct geom *g, uint32_t off, uint32_t cnt, uint32_t *n)
{
	*n = 0;
	if (cnt == 0 || !arena_u32_ok(g->arena_bytes, off, cnt))
		return NULL;
	*n = cnt;
	return (const uint32_t *)(const void *)(g->arena + off);
}

static const uint32_t *deps_of(const struct geom *g, uint32_t i, uint32_t *n)
{
	return idx_list(g, g->ph[i].deps_off, g->ph[i].ndeps, n);
}

static const uint32_t *dependants_of(const struct geom *g, uint32_t i, uint32_t *n)
{
	return idx_list(g, g->ph[i].dependants_off, g->ph[i].ndependants, n);
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

/* The statuses that follow from the dependencies. */
static int settles(uint32_t s)
{
	return s == NS || s == QU || s == BL;
}

/* ------------------------------------------------------------------------ */
/* Sizing and loading a plan                                                */

/* Arena bytes for the index arrays (4-byte aligned, first): the
 * topological and claim orders, and per phase its dependency list, its
 * dependant list (the same edges reversed) and its output table. */
static uint64_t arena_ints(const prdshm_config *cfg)
{
	uint64_t a = (uint64_t)cfg->nphases * 4 * 2;

	for (size_t i = 0; i < cfg->nphases; i++) {
		const prdshm_phase_def *d = &cfg->phases[i];

		a += (uint64_t)d->ndeps * 4 * 2;
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
	uint64_t off_phases, off_waves, off_ready, off_arena, arena_bytes, bytes;
	uint32_t cap;
};

static void compute_layout(const prdshm_config *cfg, struct layout *L)
{
	uint32_t words[READY_LEVELS], nlevels;

	L->cap = cfg_capacity(cfg);
	L->off_phases = ALIGN64(sizeof(struct prdshm__phase_region));
	L->off_waves = L->off_phases + (uint64_t)L->cap * sizeof(struct prdshm__phase);
	L->off_ready = ALIGN64(L->off_waves + (uint64_t)L->cap * sizeof(struct prdshm__wave));
	L->off_arena = ALIGN64(L->off_ready + ready_geometry(L->cap, words, &nlevels) * 8);
	L->arena_bytes = arena_ints(cfg) + arena_chars(cfg);
	L->bytes = ALIGN64(L->off_arena + L->arena_bytes);
}

size_t prdshm__phases_bytes(const prdshm_config *cfg)
{
	struct layout L;

	compute_layout(cfg, &L);
	return (size_t)L.bytes;
}

/* The constants stored in the region or sizing it (value and width). */
#define PHASE_CONSTANTS(C)                                                               \
	C(PRDSHM__PHASES_MAGIC) C(NSTATUS) C(PRDSHM_PHASE_NOT_STARTED) C(PRDSHM_PHASE_QUEUED) \
	C(PRDSHM_PHASE_IN_PROGRESS) C(PRDSHM_PHASE_COMPLETED) C(PRDSHM_PHASE_FAILED)       \
	C(PRDSHM_PHASE_BLOCKED) C(PRDSHM_PHASE_SKIPPED) C(PRDSHM_PHASE_CANCELLED)          \
	C(READY_FANOUT) C(READY_LEVELS)

uint32_t prdshm__phases_layout_hash(void)
{
	const uint64_t v[] = {
		PRDSHM__STRUCT_FACTS(prdshm__str, PRDSHM__STR_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__phase_region, PRDSHM__PHASE_REGION_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__phase, PRDSHM__PHASE_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__wave, PRDSHM__WAVE_FIELDS)
		sizeof(uint32_t), /* an arena index */
		sizeof(uint64_t), /* a ready bitmap word */
		PHASE_CONSTANTS(PRDSHM__CONST_FACTS)
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
	struct prdshm__phase_region *reg = (struct prdshm__phase_region *)(void *)prdshm__plan(seg)->base;
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
		const uint32_t *dep = deps_of(g, d, &nd);
		for (uint32_t k = 0; k < nd; k++)
			g->ph[dep[k]].ndependants++;
	}
	for (uint32_t j = 0; r == 0 && j < g->n; j++)
		r = fill_ints(f, (uint64_t)g->ph[j].ndependants * 4, &g->ph[j].dependants_off);
	for (uint32_t d = 0; r == 0 && d < g->n; d++) {
		uint32_t nd;
		const uint32_t *dep = deps_of(g, d, &nd);
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

static void index_rebuild(const struct geom *g);

static int load_plan(struct prdshm_seg *seg, const prdshm_config *cfg, const prdshm_graph *gr,
		     const struct layout *L)
{
	struct arena_fill f;
	struct geom g;
	uint64_t now = prdshm__now_real();
	int r = load_header(seg, cfg, L, prdshm_graph_nwaves(gr));

	if (r == 0)
		r = geom_parse(prdshm__plan(seg)->base, L->bytes, &g);
	if (r)
		return r;
	f.arena = g.arena;
	f.ints = (uint64_t)g.n * 4 * 2;
	f.ints_end = arena_ints(cfg);
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
		index_rebuild(&g);
	return r;
}

int prdshm__phases_init(struct prdshm_seg *seg, const prdshm_config *cfg)
{
	prdshm_graph *gr = NULL;
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	struct layout L;
	int r;

	if (seg == NULL || prdshm__plan(seg)->base == NULL || cfg == NULL || (cfg->nphases && !cfg->phases))
		return prdshm__fail(PRDSHM_EINVAL, "phases: no segment or no plan");
	if (cfg->max_phases < 0 || cfg->nphases > (size_t)cfg->max_phases)
		return prdshm__fail(PRDSHM_EPHASEFULL, "plan has %zu phases (max_phases=%d)",
				    cfg->nphases, cfg->max_phases);
	compute_layout(cfg, &L);
	if (L.bytes > UINT32_MAX || L.bytes != prdshm__plan(seg)->bytes)
		return prdshm__fail(PRDSHM_ECONFIG, "phase region of %llu bytes does not fit",
				    (unsigned long long)L.bytes);
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
	uint32_t bad = 0, nd, nt, nw;
	const uint32_t *d = deps_of(g, i, &nd);
	const uint32_t *w = idx_list(g, p->outputs_off,
				     p->noutputs <= UINT32_MAX / 2 ? p->noutputs * 2 : 0, &nw);

	dependants_of(g, i, &nt);
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

/* The claim order must be a permutation (order[r] = i and ph[i].rank = r
 * make it one) sorted by priority. */
static uint32_t check_order(const struct geom *g, problem_fn report, void *ctx)
{
	for (uint32_t r = 0; r < g->n; r++) {
		uint32_t i = g->order[r], prev = r ? g->order[r - 1] : 0;
		if (i >= g->n || g->ph[i].rank != r ||
		    (r && !better(g->ph[prev].remaining, prev, g->ph[i].remaining, i))) {
			problem(report, ctx, PRDSHM_CHECK_ERROR, "claim order broken at rank %u", r);
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
		problem(report, ctx, PRDSHM_CHECK_ERROR, "out of memory checking dependants");
		return 1;
	}
	for (uint32_t d = 0; d < g->n && !bad; d++) {
		uint32_t nd, nt;
		const uint32_t *dep = deps_of(g, d, &nd);
		for (uint32_t k = 0; k < nd && !bad; k++) {
			const uint32_t *t = dependants_of(g, dep[k], &nt);
			uint32_t c = cursor[dep[k]]++;
			bad = c >= nt || t[c] != d;
		}
	}
	for (uint32_t j = 0; j < g->n && !bad; j++)
		bad = cursor[j] != g->ph[j].ndependants;
	free(cursor);
	if (bad)
		problem(report, ctx, PRDSHM_CHECK_ERROR,
			"dependant lists disagree with the dependency lists");
	return bad;
}

/* Check everything immutable.  @return the number of problems. */
static uint32_t check_static(const struct geom *g, problem_fn report, void *ctx)
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
	int r = geom_load(seg, &g);

	if (r)
		return r;
	if (check_static(&g, NULL, NULL))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: dependency lists corrupt");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The derived state: ready bitmap, running list, settle list               */

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

/*
 * Set or clear rank @p r (< g->n) in the bitmap, then the summary bits
 * above it: a summary bit changes only when its word turns non-zero or
 * zero.  Call when holding the phase mutex.
 */
static void ready_set(const struct geom *g, uint32_t r)
{
	for (uint32_t l = 0; l < g->nlevels; l++, r /= READY_FANOUT) {
		uint64_t *w = &g->ready[l][r / READY_FANOUT];
		uint64_t was = *w;

		*w = was | (UINT64_C(1) << (r % READY_FANOUT));
		if (was)
			break;
	}
}

static void ready_clear(const struct geom *g, uint32_t r)
{
	for (uint32_t l = 0; l < g->nlevels; l++, r /= READY_FANOUT) {
		uint64_t *w = &g->ready[l][r / READY_FANOUT];

		*w &= ~(UINT64_C(1) << (r % READY_FANOUT));
		if (l == 0)
			PRDSHM__CRASH_POINT("phase_ready");
		if (*w)
			break;
	}
}

/*
 * The lowest set rank, descending from the top word: NIL if none.  Sets
 * *torn when the summaries lead nowhere (a set bit above a zero word or
 * past the ranks), which a consistent bitmap never does.
 */
static uint32_t ready_first(const struct geom *g, int *torn)
{
	uint32_t pos = 0;

	for (uint32_t l = g->nlevels; l-- > 0;) {
		uint64_t w;

		if (pos >= g->ready_words[l]) {
			*torn = 1;
			return NIL;
		}
		w = g->ready[l][pos];
		if (w == 0) {
			*torn = l + 1 != g->nlevels;
			return NIL;
		}
		pos = pos * READY_FANOUT + (uint32_t)__builtin_ctzll(w);
	}
	if (pos >= g->n) {
		*torn = 1;
		return NIL;
	}
	return pos;
}

/* Claimable now: QUEUED, and in an open wave (any wave in eager mode). */
static int eligible(const struct geom *g, uint32_t i)
{
	return g->sched == PRDSHM_SCHED_EAGER || g->ph[i].wave <= g->reg->current_wave;
}

/* Enter QUEUED phase @p i in the ready bitmap if it is claimable now. */
static void ready_add(const struct geom *g, uint32_t i, struct op *op)
{
	if (!eligible(g, i) || g->ph[i].rank >= g->n)
		return;
	ready_set(g, g->ph[i].rank);
	if (op)
		ring(g, op);
}

/* Push IN_PROGRESS phase @p i on the running list. */
static void run_link(const struct geom *g, uint32_t i)
{
	struct prdshm__phase *p = &g->ph[i];
	uint32_t h = g->reg->run_head;

	p->run_prev = NIL;
	p->run_next = h < g->n ? h : NIL;
	PRDSHM__CRASH_POINT("phase_running");
	if (h < g->n)
		g->ph[h].run_prev = i;
	g->reg->run_head = i;
}

static void run_unlink(const struct geom *g, uint32_t i)
{
	struct prdshm__phase *p = &g->ph[i];
	uint32_t prev = p->run_prev, next = p->run_next < g->n ? p->run_next : NIL;

	if (prev < g->n)
		g->ph[prev].run_next = next;
	else if (g->reg->run_head == i)
		g->reg->run_head = next;
	if (next < g->n)
		g->ph[next].run_prev = prev < g->n ? prev : NIL;
	p->run_prev = p->run_next = NIL;
}

/* The settle list: a stack threaded through settle_next, NIL meaning "not
 * on it" and a self link ending it. */
static void settle_push(const struct geom *g, uint32_t i)
{
	uint32_t h = g->reg->settle_head;

	if (g->ph[i].settle_next != NIL)
		return;
	g->ph[i].settle_next = h < g->n ? h : i;
	g->reg->settle_head = i;
}

static uint32_t settle_pop(const struct geom *g)
{
	uint32_t h = g->reg->settle_head, next;

	if (h >= g->n) {
		g->reg->settle_head = NIL;
		return NIL;
	}
	next = g->ph[h].settle_next;
	g->reg->settle_head = next < g->n && next != h ? next : NIL;
	g->ph[h].settle_next = NIL;
	return h;
}

/* The status that NOT_STARTED / QUEUED / BLOCKED phase @p p should have,
 * from its counts. */
static uint32_t want_of(const struct prdshm__phase *p)
{
	if (p->deps_bad)
		return BL;
	return p->deps_left ? NS : QU;
}

/* The same, recounted from the dependencies (the checker's reference). */
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

/* 1 if phase @p p's readiness disagrees with its status in a way the
 * table lets settle() fix.  QUEUED never goes back: its dependencies are
 * terminal. */
static int unsettled(const struct prdshm__phase *p)
{
	uint32_t s = p->status, want = want_of(p);

	return settles(s) && want != s && allowed[s][want];
}

static uint32_t add_clamped(uint32_t v, int delta)
{
	if (delta < 0)
		return v ? v - 1 : 0;
	return v + (uint32_t)delta;
}

/* Phase @p i left or entered done / bad: adjust its dependants' counts and
 * put those whose readiness changes on the settle list. */
static void tell_dependants(const struct geom *g, uint32_t i, uint32_t from, uint32_t to)
{
	int dleft = is_done(from) - is_done(to), dbad = is_bad(to) - is_bad(from);
	uint32_t nt;
	const uint32_t *t = dependants_of(g, i, &nt);

	for (uint32_t k = 0; k < nt; k++) {
		struct prdshm__phase *q;

		if (t[k] >= g->n)
			continue;
		q = &g->ph[t[k]];
		q->deps_left = add_clamped(q->deps_left, dleft);
		q->deps_bad = add_clamped(q->deps_bad, dbad);
		PRDSHM__CRASH_POINT("phase_propagate");
		if (unsettled(q))
			settle_push(g, t[k]);
	}
}

/* A phase of wave @p w opened or closed.  A wave reopened (by a retry)
 * loses its end time, and so do the closed waves after it. */
static void count_open(const struct geom *g, uint32_t w, int delta)
{
	struct prdshm__phase_region *reg = g->reg;

	reg->nopen = add_clamped(reg->nopen, delta);
	if (w >= g->nwaves)
		return;
	g->waves[w].nopen = add_clamped(g->waves[w].nopen, delta);
	if (delta <= 0 || w >= reg->minw)
		return;
	for (uint32_t x = w; x < reg->minw && x < g->nwaves; x++)
		g->waves[x].end_ns = 0;
	reg->minw = w;
}

/* Keep the derived state in step with phase @p i going @p from -> @p to.
 * Call when holding the phase mutex. */
static void derive(const struct geom *g, uint32_t i, uint32_t from, uint32_t to, struct op *op)
{
	struct prdshm__phase *p = &g->ph[i];

	count_open(g, p->wave, is_open(to) - is_open(from));
	if (from == IP) {
		run_unlink(g, i);
		g->reg->nrunning = add_clamped(g->reg->nrunning, -1);
	}
	if (to == IP) {
		run_link(g, i);
		g->reg->nrunning++;
	}
	if (from == QU && p->rank < g->n)
		ready_clear(g, p->rank);
	if (to == QU)
		ready_add(g, i, op);
	if (is_done(from) != is_done(to) || is_bad(from) != is_bad(to))
		tell_dependants(g, i, from, to);
}

/* Move minw up past the waves with nothing open, closing them at @p now
 * (@p mono).  Amortised O(1): it only moves back when a retry reopens a
 * wave.  Call when holding the phase mutex. */
static void close_waves(const struct geom *g, uint64_t now, uint64_t mono)
{
	struct prdshm__phase_region *reg = g->reg;
	uint32_t m = reg->minw < g->nwaves ? reg->minw : g->nwaves;
	int closed = 0;

	for (; m < g->nwaves && g->waves[m].nopen == 0; m++) {
		if (g->waves[m].end_ns == 0) {
			g->waves[m].end_ns = now;
			closed = 1;
		}
	}
	if (closed)
		reg->wave_done_mono = mono;
	reg->minw = m;
}

/*
 * Rebuild every derived field from the statuses: the counts, the wave open
 * counts, the dependency counts, the running list, an empty settle list
 * and the ready bitmap.  Linear in phases + dependencies + bitmap words.
 * A wave before the lowest open one that was left unclosed is closed now.
 * Call when holding the phase mutex (or at creation).
 */
static void index_rebuild(const struct geom *g)
{
	struct prdshm__phase_region *reg = g->reg;
	uint32_t low = g->nwaves;

	if (g->nwaves ? reg->current_wave >= g->nwaves : reg->current_wave != 0)
		reg->current_wave = 0;
	reg->nrunning = reg->nopen = reg->minw = 0;
	reg->run_head = reg->settle_head = NIL;
	for (uint32_t w = 0; w < g->nwaves; w++)
		g->waves[w].nopen = 0;
	for (uint32_t l = 0; l < g->nlevels; l++)
		memset(g->ready[l], 0, (size_t)g->ready_words[l] * 8);
	for (uint32_t i = 0; i < g->n; i++) {
		struct prdshm__phase *p = &g->ph[i];
		uint32_t nd;
		const uint32_t *d = deps_of(g, i, &nd);

		p->deps_left = p->deps_bad = 0;
		p->run_prev = p->run_next = p->settle_next = NIL;
		for (uint32_t k = 0; k < nd; k++) {
			uint32_t s = d[k] < g->n ? g->ph[d[k]].status : FA;
			p->deps_left += !is_done(s);
			p->deps_bad += is_bad(s);
		}
	}
	for (uint32_t i = 0; i < g->n; i++) {
		uint32_t s = g->ph[i].status;

		if (!is_open(s))
			continue;
		count_open(g, g->ph[i].wave, 1);
		if (s == IP) {
			run_link(g, i);
			reg->nrunning++;
		}
		if (s == QU)
			ready_add(g, i, NULL);
		if (g->ph[i].wave < low)
			low = g->ph[i].wave;
	}
	/* Every wave from the lowest open one on is unfinished, including
	 * later waves closed when all the rest failed. */
	for (uint32_t w = low; w < g->nwaves; w++)
		g->waves[w].end_ns = 0;
	reg->minw = 0;
	close_waves(g, prdshm__now_real(), prdshm__now_mono());
}

/* ------------------------------------------------------------------------ */
/* The state machine                                                        */

static int transition_error(const struct geom *g, uint32_t i, uint32_t from, uint32_t to,
			    const char *why)
{
	char id[PRDSHM_ID_MAX + 1];

	return prdshm__fail(PRDSHM_ETRANSITION, "illegal phase transition %s -> %s for phase '%s'%s",
			    sname(from), sname(to), pid_of(g, i, id), why ? why : "");
}

/* Move phase @p i to @p to if the table allows it, recording who and when,
 * and update the derived state.  Call when holding the phase mutex. */
static int set_status(const struct geom *g, uint32_t i, uint32_t to, struct op *op)
{
	struct prdshm__phase *p = &g->ph[i];
	uint32_t from = p->status;

	if (from >= NSTATUS || to >= NSTATUS || !allowed[from][to])
		return transition_error(g, i, from, to, NULL);
	p->status = to;
	PRDSHM__CRASH_POINT("phase_transition");
	p->changed_ns = op->now;
	prdshm__strlcpy(p->changed_by, op->who, sizeof(p->changed_by));
	derive(g, i, from, to, op);
	return 0;
}

/*
 * Drain the settle list: bring each listed phase's readiness in line with
 * its dependencies (block the dependants of failed, cancelled or blocked
 * phases, unblock those whose dependencies recovered, queue those whose
 * dependencies are all done).  A change lists that phase's own dependants,
 * so chains settle in one drain, touching only the phases that change and
 * their dependants.  The plan is acyclic, so the drain ends; the bound
 * only guards against a scribbled list.  Call when holding the phase mutex.
 */
static void settle(const struct geom *g, struct op *op)
{
	for (uint64_t budget = 4 * ((uint64_t)g->n + g->arena_bytes / 4 + 1); budget > 0;
	     budget--) {
		uint32_t i = settle_pop(g);

		if (i == NIL)
			break;
		if (!unsettled(&g->ph[i]))
			continue;
		set_status(g, i, want_of(&g->ph[i]), op);
		PRDSHM__CRASH_POINT("phase_settle");
	}
}

/* List every phase whose readiness is off, dependencies first, and settle:
 * the full pass of a repair.  Call when holding the phase mutex. */
static void settle_all(const struct geom *g, struct op *op)
{
	/* The list is a stack: push in reverse topological order. */
	for (uint32_t k = g->n; k-- > 0;) {
		uint32_t i = g->topo[k];
		if (i < g->n && unsettled(&g->ph[i]))
			settle_push(g, i);
	}
	settle(g, op);
}

/* What refresh() found. */
struct run_state {
	uint32_t nrunning;      /* IN_PROGRESS */
	uint32_t nopen;         /* NOT_STARTED, QUEUED, IN_PROGRESS */
	uint32_t minw;          /* lowest wave with an open phase; nwaves if none */
	uint64_t delay_left_ns; /* waves mode: until the next wave opens */
};

/* The checker's reference: the counts recounted from the statuses. */
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

/* Waves mode: waves (@p from, @p to] have just opened; their QUEUED phases
 * become claimable.  Each wave opens once (current_wave only grows), and
 * its phases are one run of the topological order, found by bisection. */
static void open_waves(const struct geom *g, uint32_t from, uint32_t to, struct op *op)
{
	uint32_t lo = 0, hi = g->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2, i = g->topo[mid];
		if (i < g->n && g->ph[i].wave <= from)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint32_t k = lo; k < g->n; k++) {
		uint32_t i = g->topo[k];
		if (i >= g->n)
			continue;
		if (g->ph[i].wave > to)
			break;
		if (g->ph[i].status == QU)
			ready_add(g, i, op);
	}
}

/*
 * Open the lowest wave with an open phase once wave_delay_seconds have
 * passed since the last one closed (at once in eager mode, where
 * current_wave is only for display).  Call when holding the phase mutex.
 */
static void update_waves(const struct geom *g, struct op *op, struct run_state *st)
{
	struct prdshm__phase_region *reg = g->reg;
	uint32_t cw = reg->current_wave;
	uint64_t delay = (uint64_t)g->delay_s * 1000000000u, due;

	if (st->minw <= cw || st->minw >= g->nwaves)
		return;
	due = reg->wave_done_mono + delay;
	if (g->sched == PRDSHM_SCHED_EAGER || op->mono >= due) {
		reg->current_wave = st->minw;
		if (g->sched == PRDSHM_SCHED_WAVES)
			open_waves(g, cw, st->minw, op);
		ring(g, op);
	} else {
		st->delay_left_ns = due - op->mono;
	}
}

/* Read the counts, close finished waves, record the run's end and open the
 * next wave.  O(1) amortised.  Call when holding the phase mutex. */
static void refresh(const struct geom *g, struct op *op, struct run_state *st)
{
	struct prdshm__phase_region *reg = g->reg;

	memset(st, 0, sizeof(*st));
	close_waves(g, op->now, op->mono);
	st->nrunning = reg->nrunning;
	st->nopen = reg->nopen;
	st->minw = reg->minw;
	if (st->nopen > 0)
		reg->run_end_ns = 0;
	else if (reg->run_end_ns == 0 && reg->run_start_ns != 0)
		reg->run_end_ns = op->now;
	update_waves(g, op, st);
}

/* Clear the holder's agent record, if it still points at phase @p i.
 * Call when holding the phase mutex (guards agents[].phase and .status). */
static void release_agent(struct prdshm_seg *seg, const struct geom *g, uint32_t i)
{
	int32_t slot = g->ph[i].agent_slot;
	struct prdshm__agent *a;

	if (slot < 0 || (uint32_t)slot >= prdshm__sessions(seg)->max_agents)
		return;
	a = &prdshm__sessions(seg)->agents[slot];
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
	if (p->agent_slot < 0 || (uint32_t)p->agent_slot >= prdshm__sessions(seg)->max_agents)
		return 0;
	if (rc && rc->has_self && rc->slot == (uint32_t)p->agent_slot && rc->gen == p->agent_gen)
		return 1;
	return prdshm__session_alive(seg, (uint32_t)p->agent_slot, p->agent_gen);
}

/* The agents' phase fields follow from the IN_PROGRESS phases. */
static void rebuild_agents(struct prdshm_seg *seg, const struct geom *g)
{
	for (uint32_t a = 0; a < prdshm__sessions(seg)->max_agents; a++)
		prdshm__sessions(seg)->agents[a].phase = -1;
	for (uint32_t i = 0; i < g->n; i++) {
		int32_t slot = g->ph[i].agent_slot;
		if (g->ph[i].status == IP && slot >= 0 && (uint32_t)slot < prdshm__sessions(seg)->max_agents)
			prdshm__sessions(seg)->agents[slot].phase = (int32_t)i;
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
 * A QUEUED, IN_PROGRESS or COMPLETED phase whose dependencies are not all
 * done (only a scribble makes one: no transition leads there) goes back
 * to what its dependencies say, NOT_STARTED or BLOCKED, reported.  A
 * holder loses its phase as on a cancel; a completion is not trusted,
 * since its inputs did not exist, so the phase runs again.  Walking the
 * topological order, dependencies first, takes the dependants of a
 * rewound phase along in one pass.  Bypasses the table (its reverse
 * edges are absent on purpose); index_rebuild() must follow.  Call when
 * holding the phase mutex.
 */
static void rewind_early(struct prdshm_seg *seg, const struct geom *g, struct op *op,
			 const struct repair_ctx *rc)
{
	char id[PRDSHM_ID_MAX + 1], line[256];

	for (uint32_t k = 0; k < g->n; k++) {
		uint32_t i = g->topo[k], from, to;
		struct prdshm__phase *p;

		if (i >= g->n)
			continue;
		p = &g->ph[i];
		from = p->status;
		to = readiness(g, i);
		if ((from != QU && from != IP && from != CO) || to == QU)
			continue;
		if (from == IP) {
			release_agent(seg, g, i);
			p->end_ns = op->now;
		}
		if (from != QU)
			snprintf(p->message, sizeof(p->message), "%s before its dependencies were done",
				 sname(from));
		p->status = to;
		p->changed_ns = op->now;
		prdshm__strlcpy(p->changed_by, op->who, sizeof(p->changed_by));
		if (rc->report) {
			snprintf(line, sizeof(line),
				 "phase %s: %s before its dependencies were done, now %s",
				 pid_of(g, i, id), sname(from), sname(to));
			rc->report(rc->ctx, line);
		}
	}
}

/*
 * Rebuild everything derived after a holder of the phase mutex died inside
 * the critical section: validate the immutable indexes, rewind statuses
 * that contradict the dependencies, rebuild the ready
 * index and the counts from the statuses, fail or requeue the phases of
 * dead holders, settle readiness, recount the waves and the agents' phase
 * fields, and wake every waiter.  A status out of range cannot be guessed,
 * so it makes the repair fail.  Call when holding the phase mutex.
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
	rewind_early(seg, g, &op, rc);
	/* First, so that the transitions below update a consistent index. */
	index_rebuild(g);
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
	settle_all(g, &op);
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

/* The derived fields that are indexes or bounds are in range, and the
 * settle list is empty, as every critical section leaves it. */
static int derived_sane(const struct geom *g)
{
	const struct prdshm__phase_region *reg = g->reg;

	return (g->nwaves ? reg->current_wave < g->nwaves : reg->current_wave == 0) &&
	       reg->minw <= g->nwaves && reg->nopen <= g->n && reg->nrunning <= reg->nopen &&
	       (reg->run_head == NIL || reg->run_head < g->n) && reg->settle_head == NIL;
}

/* Rebuild the derived state from the statuses (they are authoritative) and
 * wake the waiters.  Call when holding the phase mutex. */
static void heal(const struct geom *g)
{
	index_rebuild(g);
	prdshm__doorbell_ring(&g->reg->doorbell);
	prdshm__futex_wake_all(&g->reg->doorbell);
}

/* Take the phase mutex to change the region: as phase_lock(), then a
 * derived field out of range (a scribble, not a crash) is rebuilt rather
 * than trusted.  Inspection uses phase_lock() and reports it instead. */
static int phase_lock_rw(struct prdshm_seg *seg, struct geom *g, struct repair_ctx *rc)
{
	/* Without limit, or as the public call's bound (claim, wait). */
	int r = phase_lock(seg, g, rc, -1);

	if (r == 0 && !derived_sane(g))
		heal(g);
	return r;
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
	if (s->slot >= prdshm__sessions(s->seg)->max_agents)
		return prdshm__fail(PRDSHM_ENOAGENT, "session slot %u out of range", s->slot);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Claim and wait                                                           */

/* 1 if the ready bitmap's first rank @p r, found cleanly, names a phase
 * that is claimable (or @p r is NIL and nothing is). */
static int pick_agrees(const struct geom *g, uint32_t r, int torn)
{
	uint32_t i;

	if (torn)
		return 0;
	if (r == NIL)
		return 1;
	i = g->order[r];
	return i < g->n && g->ph[i].rank == r && g->ph[i].status == QU && eligible(g, i);
}

/*
 * The best claimable phase: QUEUED, in an open wave, longest remaining
 * path first, ties by index, which is the lowest set rank of the ready
 * bitmap.  *best is its index or NIL.  A bitmap that names a phase that is
 * not claimable is rebuilt from the statuses once; if it still disagrees,
 * the claim order itself is corrupt.  Call when holding the phase mutex.
 * @return 0 or PRDSHM_ECORRUPT.
 */
static int pick(const struct geom *g, uint32_t *best)
{
	int torn = 0;
	uint32_t r = ready_first(g, &torn);

	if (!pick_agrees(g, r, torn)) {
		heal(g);
		torn = 0;
		r = ready_first(g, &torn);
		if (!pick_agrees(g, r, torn))
			return prdshm__fail(PRDSHM_ECORRUPT,
					    "phase region: ready index disagrees with the statuses");
	}
	*best = r == NIL ? NIL : g->order[r];
	return 0;
}

/* Hand phase @p i to session @p s.  Call when holding the phase mutex. */
static void take(const struct geom *g, uint32_t i, prdshm_session *s, struct op *op,
		 prdshm_claim *out)
{
	struct prdshm__phase *p = &g->ph[i];
	struct prdshm__agent *a = &prdshm__sessions(s->seg)->agents[s->slot];

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
	if (p->wave < g->nwaves && g->waves[p->wave].start_ns == 0)
		g->waves[p->wave].start_ns = op->now;
	if (g->reg->run_start_ns == 0)
		g->reg->run_start_ns = op->now;
	out->index = (int32_t)i;
	pid_of(g, i, out->id);
	out->attempt = p->attempts;
}

/* Fail or requeue the running phases of dead holders (not the caller's),
 * walking the running list.  @return how many.  Call when holding the
 * phase mutex. */
static uint32_t reap_dead_holders(const struct geom *g, prdshm_session *s, struct op *op)
{
	struct repair_ctx rc;
	uint32_t n = 0, i = g->reg->run_head, next;

	repair_ctx_init(&rc, s);
	for (uint32_t steps = 0; i < g->n && steps < g->n; steps++, i = next) {
		/* holder_died() unlinks i: read its successor first. */
		next = g->ph[i].run_next;
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
	int32_t i = prdshm__sessions(s->seg)->agents[s->slot].phase;

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
	int r;

	if (holds_phase(g, s, &held))
		return prdshm__fail(PRDSHM_EBUSY, "agent %s already holds phase '%s'", s->id,
				    pid_of(g, held, id));
	for (int pass = 0;; pass++) {
		refresh(g, op, &st);
		if (st.nopen == 0)
			return prdshm__fail(PRDSHM_EDONE, "no phase left (%u phases)", g->n);
		best = NIL;
		if (st.nrunning < (uint32_t)g->max_parallel) {
			r = pick(g, &best);
			if (r)
				return r;
		}
		if (best != NIL) {
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

static int claim(prdshm_session *s, prdshm_claim *out)
{
	prdshm_claim full;
	struct repair_ctx rc;
	struct geom g;
	struct op op;
	int r;

	repair_ctx_init(&rc, s);
	r = phase_lock_rw(s->seg, &g, &rc);
	if (r)
		return r;
	op_init(&op, s->id);
	memset(&full, 0, sizeof(full));
	full.struct_size = sizeof(full);
	r = claim_locked(&g, s, &op, &full);
	phase_unlock(&g, &op);
	/* Only the caller's bytes: it may know a shorter prdshm_claim. */
	if (r == 0)
		prdshm__abi_copy_out(out, &full, sizeof(full));
	return r;
}

int prdshm__shm_phase_claim_timed(prdshm_session *s, int64_t timeout_ms, prdshm_claim *out)
{
	uint64_t outer;
	int r;

	prdshm__call_begin();
	r = session_ok(s);
	if (r)
		return r;
	if (out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no claim to fill");
	r = prdshm__abi_check(out, PRDSHM_CLAIM_SIZE_1_0, "prdshm_claim",
			      "prdshm_phase_claim(_timed)");
	if (r)
		return r;
	if (timeout_ms < PRDSHM_WAIT_FOREVER)
		return prdshm__fail(PRDSHM_EINVAL, "negative timeout %lld", (long long)timeout_ms);
	if (timeout_ms == PRDSHM_WAIT_DEFAULT)
		timeout_ms = (int64_t)s->seg->hdr->lock_timeout_seconds * 1000;
	outer = prdshm__call_bound_begin(timeout_ms);
	r = claim(s, out);
	prdshm__wait_bound_end(outer);
	return prdshm__busy_if_try(r, timeout_ms);
}

int prdshm__shm_phase_wait(prdshm_session *s, int64_t timeout_ms)
{
	struct repair_ctx rc;
	struct run_state st;
	struct geom g;
	struct op op;
	uint32_t seen, best = NIL;
	int64_t wait_ms = timeout_ms < 0 || timeout_ms > WAIT_CAP_MS ? WAIT_CAP_MS : timeout_ms;
	uint64_t outer;
	int ready, r;

	prdshm__call_begin();
	r = session_ok(s);
	if (r)
		return r;
	repair_ctx_init(&rc, s);
	/* The mutex wait counts against the wait: a stopped holder fails
	 * it (PRDSHM_EBUSY for 0) instead of hanging it. */
	outer = prdshm__call_bound_begin(wait_ms);
	r = phase_lock_rw(s->seg, &g, &rc);
	prdshm__wait_bound_end(outer);
	if (r)
		return prdshm__busy_if_try(r, wait_ms);
	op_init(&op, s->id);
	/* Re-check under the mutex: a phase may have finished between the
	 * caller's failed claim and now, and its ring would be lost.  A
	 * corrupt index counts as "ready": the claim reports it. */
	refresh(&g, &op, &st);
	ready = st.nopen == 0 || (st.nrunning < (uint32_t)g.max_parallel &&
				  (pick(&g, &best) != 0 || best != NIL));
	seen = prdshm__doorbell_read(&g.reg->doorbell);
	phase_unlock(&g, &op);
	if (ready || wait_ms == 0)
		return 0;
	if (st.delay_left_ns && (int64_t)(st.delay_left_ns / 1000000) + 1 < wait_ms)
		wait_ms = (int64_t)(st.delay_left_ns / 1000000) + 1;
	/* No record to withdraw here: an interrupted wait just says so. */
	if (prdshm__futex_wait(&g.reg->doorbell, seen, wait_ms * 1000000) == PRDSHM_EINTR)
		return prdshm__fail(PRDSHM_EINTR, "interrupted by a signal while waiting "
						  "for a phase");
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
	r = phase_lock_rw(s->seg, &g, &rc);
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

int prdshm__shm_phase_complete(prdshm_session *s, int32_t index)
{
	prdshm__call_begin();
	return finish(s, index, CO, 0, NULL);
}

int prdshm__shm_phase_fail(prdshm_session *s, int32_t index, int exit_status, const char *message)
{
	prdshm__call_begin();
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
			set_status(g, j, want_of(&g->ph[j]) == QU ? QU : NS, op);
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

int prdshm__shm_phase_set(prdshm_seg *seg, prdshm_session *s, const char *id,
		     prdshm_phase_status to)
{
	struct repair_ctx rc;
	struct run_state st;
	struct geom g;
	struct op op;
	int r;

	prdshm__call_begin();
	r = s ? session_ok(s) : 0;
	if (r)
		return r;
	if (!prdshm__valid_id(id))
		return prdshm__fail(PRDSHM_ENOPHASE, "invalid phase id");
	if ((int)to < 0 || (int)to >= NSTATUS)
		return prdshm__fail(PRDSHM_EINVAL, "phase status %d out of range", (int)to);
	repair_ctx_init(&rc, s);
	r = phase_lock_rw(seg, &g, &rc);
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

/* Which IN_PROGRESS phases fail_dead() fails: those of one dead session
 * (slot and generation), or with slot -1 every one whose holder is in no
 * live session. */
struct dead_sel {
	struct prdshm_seg *seg;
	int64_t slot;
	uint32_t gen;
};

static int is_dead(const struct dead_sel *d, const struct prdshm__phase *p)
{
	if (p->status != IP)
		return 0;
	if (d->slot < 0)
		return !holder_alive(d->seg, p, NULL);
	return p->agent_slot == (int32_t)d->slot && p->agent_gen == d->gen;
}

/* Fail (or requeue) the phases @p d selects, under the phase mutex.  All
 * phases, not the running list: reaping is rare, and this way a phase is
 * failed even if a scribble unlinked it. */
static int fail_dead(const struct dead_sel *d, int requeue,
		     void (*report)(void *ctx, const char *line), void *ctx)
{
	struct repair_ctx rc;
	struct run_state st;
	struct geom g;
	struct op op;
	uint32_t n = 0;
	int r;

	repair_ctx_init(&rc, NULL);
	r = phase_lock_rw(d->seg, &g, &rc);
	if (r)
		return r;
	op_init(&op, NULL);
	for (uint32_t i = 0; i < g.n; i++) {
		if (is_dead(d, &g.ph[i])) {
			holder_died(d->seg, &g, i, requeue, &op, report, ctx);
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

int prdshm__phases_session_died(struct prdshm_seg *seg, uint32_t slot, uint32_t gen,
				const char *agent_id, int requeue,
				void (*report)(void *ctx, const char *line), void *ctx)
{
	const struct dead_sel d = { seg, slot, gen };

	(void)agent_id; /* the phase keeps the id its holder had at claim */
	return fail_dead(&d, requeue, report, ctx);
}

int prdshm__phases_reap_orphans(struct prdshm_seg *seg, int requeue,
			       void (*report)(void *ctx, const char *line), void *ctx)
{
	const struct dead_sel d = { seg, -1, 0 };

	return fail_dead(&d, requeue, report, ctx);
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
	/* The recovery mark is prdshm_recover()'s to clear, and only if
	 * nobody marked the segment again meanwhile. */
	return r;
}

/* ------------------------------------------------------------------------ */
/* Agents: heartbeat and log                                                */

int prdshm__shm_agent_heartbeat(prdshm_session *s)
{
	struct prdshm__agent *a;
	int r;

	prdshm__call_begin();
	r = session_ok(s);
	if (r)
		return r;
	a = &prdshm__sessions(s->seg)->agents[s->slot];
	if (__atomic_load_n(&a->gen, __ATOMIC_ACQUIRE) != s->gen)
		return prdshm__fail(PRDSHM_ENOAGENT, "agent %s was reaped", s->id);
	/* Lock-free: only the owner writes it, readers want any recent value. */
	__atomic_store_n(&a->heartbeat_ns, prdshm__now_real(), __ATOMIC_RELAXED);
	return 0;
}

int prdshm__shm_agent_log(prdshm_session *s, const char *line)
{
	struct prdshm__agent *a;
	int r;

	prdshm__call_begin();
	r = session_ok(s);
	if (r)
		return r;
	if (line == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no log line");
	r = prdshm__sess_lock(s->seg, -1);
	if (r)
		return r;
	a = &prdshm__sessions(s->seg)->agents[s->slot];
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

/* Copy the region into private memory, and the agents' phase fields into
 * @p agent_phase unless NULL, under the mutex if @p locked and it can be
 * had quickly, so that parsing never races with writers.  @return the
 * copy, NULL when out of memory. */
static unsigned char *copy_region(struct prdshm_seg *seg, int locked, uint64_t bytes,
				  int32_t *agent_phase, int *got)
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
	memcpy(copy, prdshm__plan(seg)->base, bytes);
	for (uint32_t a = 0; agent_phase && a < prdshm__sessions(seg)->max_agents; a++)
		agent_phase[a] = prdshm__sessions(seg)->agents[a].phase;
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
	copy = copy_region(seg, locked, live.region_bytes, NULL, &got);
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

/*
 * The checker works on a private copy of the region (and of the agents'
 * phase fields), made under the mutex when it can be had, else without it
 * (PRDSHM_SNAP_NOLOCK, or a holder that does not let go): a torn copy then
 * shows up as reported inconsistencies, and every index in it is
 * bounds-checked as in a scribbled segment.
 */
struct check_state {
	struct prdshm_seg *seg;
	const int32_t *agent_phase; /* copies of agents[].phase */
	problem_fn report;
	void *ctx;
	int corrupt, dead;
};

static void check_error(struct check_state *cs, const char *fmt, ...) PRDSHM__PRINTF(2, 3);

static void check_error(struct check_state *cs, const char *fmt, ...)
{
	char line[320];
	va_list ap;

	cs->corrupt++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	problem(cs->report, cs->ctx, PRDSHM_CHECK_ERROR, "%s", line);
}

/* Readiness and holder of phase @p i against its dependencies. */
static void check_phase_state(struct check_state *cs, const struct geom *g, uint32_t i)
{
	const struct prdshm__phase *p = &g->ph[i];
	uint32_t s = p->status;
	char id[PRDSHM_ID_MAX + 1];

	pid_of(g, i, id);
	if (s >= NSTATUS) {
		check_error(cs, "phase '%s': status %u out of range", id, s);
		return;
	}
	if (settles(s)) {
		uint32_t want = readiness(g, i);
		if (want != s && allowed[s][want])
			check_error(cs, "phase '%s' is %s but its dependencies say %s", id,
				    sname(s), sname(want));
	}
	if ((s == QU || s == IP || s == CO) && readiness(g, i) != QU)
		check_error(cs, "phase '%s' is %s before its dependencies are done", id, sname(s));
	if (s != IP)
		return;
	if (p->agent_slot < 0 || (uint32_t)p->agent_slot >= prdshm__sessions(cs->seg)->max_agents ||
	    cs->agent_phase[p->agent_slot] != (int32_t)i) {
		check_error(cs, "phase '%s' is IN_PROGRESS without a matching agent (slot %d)", id,
			    (int)p->agent_slot);
	} else if (!prdshm__session_alive(cs->seg, (uint32_t)p->agent_slot, p->agent_gen)) {
		problem(cs->report, cs->ctx, PRDSHM_CHECK_WARN,
			"phase '%s' is IN_PROGRESS by dead agent %.*s (slot %d)", id, PRDSHM_ID_MAX,
			p->agent_id, (int)p->agent_slot);
		cs->dead++;
	}
}

/* Each wave's open count and end time; its phases are one run of the
 * topological order (check_topo() held). */
static void check_waves(struct check_state *cs, const struct geom *g, uint32_t minw)
{
	uint32_t k = 0;

	for (uint32_t w = 0; w < g->nwaves; w++) {
		uint32_t nopen = 0;

		for (; k < g->n && g->ph[g->topo[k]].wave == w; k++)
			nopen += is_open(g->ph[g->topo[k]].status);
		if (nopen != g->waves[w].nopen)
			check_error(cs, "wave %u: %u open phases, recorded %u", w, nopen,
				    g->waves[w].nopen);
		if ((w >= minw) != (g->waves[w].end_ns == 0))
			check_error(cs, "wave %u: end time %s while the lowest open wave is %u", w,
				    g->waves[w].end_ns ? "set" : "unset", minw);
	}
}

static void check_counts(struct check_state *cs, const struct geom *g)
{
	const struct prdshm__phase_region *reg = g->reg;
	struct run_state st;

	scan_counts(g, &st);
	if (st.nrunning != reg->nrunning || st.nrunning > (uint32_t)g->max_parallel)
		check_error(cs, "%u phases IN_PROGRESS, recorded %u, max_parallel_agents %d",
			    st.nrunning, reg->nrunning, (int)g->max_parallel);
	if (st.nopen != reg->nopen)
		check_error(cs, "%u phases open, recorded %u", st.nopen, reg->nopen);
	if (st.minw != reg->minw)
		check_error(cs, "lowest open wave %u, recorded %u", st.minw, reg->minw);
	if (g->nwaves && reg->current_wave >= g->nwaves)
		check_error(cs, "current wave %u out of range", reg->current_wave);
	check_waves(cs, g, st.minw);
	for (uint32_t a = 0; a < prdshm__sessions(cs->seg)->max_agents; a++) {
		int32_t i = cs->agent_phase[a];
		if (i == -1)
			continue;
		if (i < 0 || (uint32_t)i >= g->n || g->ph[i].agent_slot != (int32_t)a ||
		    g->ph[i].status != IP)
			check_error(cs, "agent slot %u points at phase %d, which it does not hold", a,
				    (int)i);
	}
}

/* Each phase's dependency counts, and the settle list, empty between
 * critical sections. */
static void check_dep_counts(struct check_state *cs, const struct geom *g)
{
	uint32_t wrong = 0, first = 0, listed = 0;
	char id[PRDSHM_ID_MAX + 1];

	for (uint32_t i = 0; i < g->n; i++) {
		const struct prdshm__phase *p = &g->ph[i];
		uint32_t nd, left = 0, bad = 0;
		const uint32_t *d = deps_of(g, i, &nd);

		for (uint32_t k = 0; k < nd; k++) {
			left += !is_done(g->ph[d[k]].status);
			bad += is_bad(g->ph[d[k]].status);
		}
		if ((left != p->deps_left || bad != p->deps_bad) && wrong++ == 0)
			first = i;
		listed += p->settle_next != NIL;
	}
	if (wrong)
		check_error(cs, "%u phases' dependency counts disagree with the statuses "
				"(first: '%s')", wrong, pid_of(g, first, id));
	if (listed || g->reg->settle_head != NIL)
		check_error(cs, "settle list not empty (%u phases linked)", listed);
}

/* The running list holds exactly the IN_PROGRESS phases, doubly linked. */
static void check_running(struct check_state *cs, const struct geom *g)
{
	uint32_t i = g->reg->run_head, prev = NIL, steps = 0, nip = 0;

	for (uint32_t k = 0; k < g->n; k++)
		nip += g->ph[k].status == IP;
	for (; i != NIL && steps <= g->n; steps++) {
		if (i >= g->n || g->ph[i].status != IP || g->ph[i].run_prev != prev) {
			check_error(cs, "running list broken at its entry %u", steps);
			return;
		}
		prev = i;
		i = g->ph[i].run_next;
	}
	if (steps != nip)
		check_error(cs, "running list holds %u phases, %u are IN_PROGRESS", steps, nip);
}

static int bit_of(const uint64_t *words, uint64_t b)
{
	return (int)((words[b / READY_FANOUT] >> (b % READY_FANOUT)) & 1);
}

/* Level 0 of the ready bitmap against the statuses, each summary level
 * against the level below, and nothing set past the ranks. */
static void check_ready(struct check_state *cs, const struct geom *g)
{
	uint64_t nbits = (uint64_t)g->ready_words[0] * READY_FANOUT, first = 0;
	uint32_t wrong = 0, sums = 0;
	char id[PRDSHM_ID_MAX + 1] = "-";

	for (uint64_t r = 0; r < nbits; r++) {
		uint32_t i = r < g->n ? g->order[r] : NIL;
		int want = i != NIL && g->ph[i].status == QU && eligible(g, i);

		if (bit_of(g->ready[0], r) != want && wrong++ == 0)
			first = r;
	}
	if (wrong && first < g->n)
		pid_of(g, g->order[first], id);
	if (wrong)
		check_error(cs, "ready index: %u ranks disagree with the statuses (first: rank "
				"%llu, phase '%s')", wrong, (unsigned long long)first, id);
	for (uint32_t l = 1; l < g->nlevels; l++) {
		for (uint64_t b = 0; b < (uint64_t)g->ready_words[l] * READY_FANOUT; b++) {
			int want = b < g->ready_words[l - 1] && g->ready[l - 1][b] != 0;
			sums += bit_of(g->ready[l], b) != want;
		}
	}
	if (sums)
		check_error(cs, "ready index: %u summary bits disagree with the level below", sums);
}

/* Check the parsed copy @p g. */
static void check_copy(struct check_state *cs, const struct geom *g)
{
	if (check_static(g, cs->report, cs->ctx)) {
		cs->corrupt++;
		return;
	}
	for (uint32_t i = 0; i < g->n; i++)
		check_phase_state(cs, g, i);
	check_counts(cs, g);
	check_dep_counts(cs, g);
	check_running(cs, g);
	check_ready(cs, g);
}

int prdshm__phases_check(struct prdshm_seg *seg, unsigned flags, problem_fn report, void *ctx)
{
	struct check_state cs = { seg, NULL, report, ctx, 0, 0 };
	struct geom live, g;
	unsigned char *copy = NULL;
	int32_t *agent_phase;
	int got, r = geom_load(seg, &live);

	if (r) {
		problem(report, ctx, PRDSHM_CHECK_ERROR, "%s", prdshm_last_error());
		return PRDSHM_ECORRUPT;
	}
	agent_phase = malloc((prdshm__sessions(seg)->max_agents ? prdshm__sessions(seg)->max_agents : 1) * sizeof(*agent_phase));
	if (agent_phase)
		copy = copy_region(seg, !(flags & PRDSHM_SNAP_NOLOCK), live.region_bytes,
				   agent_phase, &got);
	if (copy == NULL) {
		free(agent_phase);
		problem(report, ctx, PRDSHM_CHECK_ERROR, "out of memory copying the phase region");
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	}
	cs.agent_phase = agent_phase;
	if (geom_parse(copy, live.region_bytes, &g) == 0) {
		check_copy(&cs, &g);
	} else {
		problem(report, ctx, PRDSHM_CHECK_ERROR, "%s", prdshm_last_error());
		cs.corrupt++;
	}
	free(copy);
	free(agent_phase);
	if (cs.corrupt)
		return PRDSHM_ECORRUPT;
	return cs.dead ? PRDSHM_EDEADOWNER : 0;
}
