/*
 * region.c: the geometry of the phase region.  From a configuration, the
 * layout a plan needs (prdshm__phases_bytes()) and the layout hash of the
 * region's structs; from a mapped segment, the process-local struct geom
 * that every other file of lib/plan/ indexes with, validated against the
 * mapping, and the bounds-checked accessors of the arena's lists and
 * strings.  Nothing here takes the phase mutex or writes the region.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/abi.h"
#include "plan/region.h"
#include "base/util.h"

#define ALIGN64(x) (((x) + 63u) & ~(uint64_t)63u)

/* ------------------------------------------------------------------------ */
/* Geometry: the region's immutable header, read once and validated         */

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
int prdshm__phase_geom_parse(unsigned char *base, uint64_t bytes, struct geom *g)
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
int prdshm__phase_geom_load(struct prdshm_seg *seg, struct geom *g)
{
	uint64_t bytes, off;

	if (seg == NULL || seg->hdr == NULL || prdshm__plan(seg)->base == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no segment");
	bytes = prdshm__plan(seg)->bytes;
	off = (uint64_t)(prdshm__plan(seg)->base - seg->base);
	if (off > seg->size || bytes > seg->size - off)
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region outside the mapping");
	return prdshm__phase_geom_parse(prdshm__plan(seg)->base, bytes, g);
}

/* Index list @p cnt entries at arena offset @p off; NULL (and *n = 0) if it
 * does not lie in the arena.  Each index must still be checked < g->n. */
const uint32_t *prdshm__phase_idx_list(const struct geom *g, uint32_t off, uint32_t cnt,
				       uint32_t *n)
{
	*n = 0;
	if (cnt == 0 || !arena_u32_ok(g->arena_bytes, off, cnt))
		return NULL;
	*n = cnt;
	return (const uint32_t *)(const void *)(g->arena + off);
}

const uint32_t *prdshm__phase_deps_of(const struct geom *g, uint32_t i, uint32_t *n)
{
	return prdshm__phase_idx_list(g, g->ph[i].deps_off, g->ph[i].ndeps, n);
}

const uint32_t *prdshm__phase_dependants_of(const struct geom *g, uint32_t i, uint32_t *n)
{
	return prdshm__phase_idx_list(g, g->ph[i].dependants_off, g->ph[i].ndependants, n);
}

/* 1 if arena string @p s lies in the arena (NIL counts as valid). */
int prdshm__phase_str_ok(const struct geom *g, struct prdshm__str s)
{
	if (s.off == PRDSHM__NIL)
		return 1;
	return s.off < g->arena_bytes && s.len < g->arena_bytes - s.off;
}

/* ------------------------------------------------------------------------ */
/* Sizing                                                                   */

/* Arena bytes for the index arrays (4-byte aligned, first): the
 * topological and claim orders, and per phase its dependency list, its
 * dependant list (the same edges reversed) and its output table. */
uint64_t prdshm__phase_arena_ints(const prdshm_config *cfg)
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

void prdshm__phase_compute_layout(const prdshm_config *cfg, struct layout *L)
{
	uint32_t words[READY_LEVELS], nlevels;

	L->cap = cfg_capacity(cfg);
	L->off_phases = ALIGN64(sizeof(struct prdshm__phase_region));
	L->off_waves = L->off_phases + (uint64_t)L->cap * sizeof(struct prdshm__phase);
	L->off_ready = ALIGN64(L->off_waves + (uint64_t)L->cap * sizeof(struct prdshm__wave));
	L->off_arena = ALIGN64(L->off_ready + ready_geometry(L->cap, words, &nlevels) * 8);
	L->arena_bytes = prdshm__phase_arena_ints(cfg) + arena_chars(cfg);
	L->bytes = ALIGN64(L->off_arena + L->arena_bytes);
}

size_t prdshm__phases_bytes(const prdshm_config *cfg)
{
	struct layout L;

	prdshm__phase_compute_layout(cfg, &L);
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
