/*
 * analysis.c: what prdshm_graph_build() (graph.c) works out once the
 * waves are known: the critical path, with each phase's longest remaining
 * path (the claim priority of the phase region), and the output conflicts,
 * pairs of phases that write the same output without one depending on the
 * other.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "graph/graph.h"

/*
 * The conflict search keeps one bitset per phase; this bounds its size, in
 * 64-bit words over all phases, so that a huge plan with many shared outputs
 * works in several passes instead of allocating n * n bits.
 */
#define GRAPH_BITSET_BUDGET ((size_t)1 << 20)

/* ------------------------------------------------------------------------ */
/* Critical path                                                            */

/*
 * Dependants lie in later waves, so walking wave_idx backwards sees them
 * before the phase itself.  next[i] is the dependant that continues i's
 * longest path; the first (lowest index) among equals, for determinism.
 */
static void compute_remaining(prdshm_graph *g, size_t *next)
{
	for (size_t k = g->n; k > 0; k--) {
		size_t i = g->wave_idx[k - 1];
		double best = 0;
		next[i] = NONE;
		for (size_t e = g->rdep_off[i]; e < g->rdep_off[i + 1]; e++) {
			size_t u = g->rdep[e];
			if (next[i] == NONE || g->remaining[u] > best) {
				best = g->remaining[u];
				next[i] = u;
			}
		}
		g->remaining[i] = g->phases[i].estimated_minutes + best;
	}
}

int prdshm__graph_critical_path(prdshm_graph *g, prdshm_diag *diag)
{
	size_t *next = malloc((g->n + 1) * sizeof(size_t));
	size_t start = NONE;
	int err = 0;

	g->remaining = malloc((g->n + 1) * sizeof(double));
	g->crit = malloc((g->n + 1) * sizeof(size_t));
	if (!next || !g->remaining || !g->crit) {
		err = prdshm__graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
		goto cleanup;
	}
	compute_remaining(g, next);
	g->critlen = 0;
	for (size_t i = 0; i < g->n; i++) {
		if (start == NONE || g->remaining[i] > g->critlen) {
			g->critlen = g->remaining[i];
			start = i;
		}
	}
	g->ncrit = 0;
	for (size_t v = start; v != NONE; v = next[v])
		g->crit[g->ncrit++] = v;
cleanup:
	free(next);
	return err;
}

/* ------------------------------------------------------------------------ */
/* Output groups                                                            */

/*
 * The phases grouped by output name.  Entry e is one (phase, output) pair,
 * those of phase i being ent_off[i] .. ent_off[i + 1].  ent_gid[e] is the
 * entry's group, or NONE when the phase already listed that output (it must
 * not conflict with itself).  Group k's members are mem[gofs[k] .. gofs[k +
 * 1]), ascending; name[k] is the first declaration of the output.
 */
typedef struct out_groups {
	size_t nent, ngroups;
	size_t *ent_off;
	size_t *ent_gid;
	const char **ent_name;
	size_t *gofs;
	size_t *mem;
	const char **name;
	size_t *maxwave; /* highest wave among the members */
} out_groups;

static void groups_free(out_groups *og)
{
	free(og->ent_off);
	free(og->ent_gid);
	free(og->ent_name);
	free(og->gofs);
	free(og->mem);
	free(og->name);
	free(og->maxwave);
}

static size_t gsize(const out_groups *og, size_t k)
{
	return og->gofs[k + 1] - og->gofs[k];
}

/* Find or create entry @p e's group in @p tab (entry + 1 per slot). */
static size_t group_of(out_groups *og, size_t *tab, size_t mask, size_t e)
{
	const char *s = og->ent_name[e];
	size_t h = prdshm__hash(s, strlen(s)) & mask;

	for (;; h = (h + 1) & mask) {
		if (tab[h] == 0) {
			tab[h] = e + 1;
			og->name[og->ngroups] = s;
			return og->ngroups++;
		}
		if (strcmp(og->ent_name[tab[h] - 1], s) == 0)
			return og->ent_gid[tab[h] - 1];
	}
}

static int list_entries(const prdshm_graph *g, out_groups *og, prdshm_diag *diag)
{
	size_t e = 0;

	for (size_t i = 0; i < g->n; i++) {
		if (g->phases[i].noutputs > SIZE_MAX / 8 - og->nent)
			return prdshm__graph_fail(diag, NULL, PRDSHM_ENOMEM, "too many outputs");
		og->nent += g->phases[i].noutputs;
	}
	og->ent_off = malloc((g->n + 1) * sizeof(size_t));
	og->ent_gid = malloc((og->nent + 1) * sizeof(size_t));
	og->ent_name = malloc((og->nent + 1) * sizeof(char *));
	if (!og->ent_off || !og->ent_gid || !og->ent_name)
		return prdshm__graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
	for (size_t i = 0; i < g->n; i++) {
		const prdshm_phase_def *p = &g->phases[i];
		og->ent_off[i] = e;
		for (size_t j = 0; j < p->noutputs; j++) {
			prdshm_pos at = prdshm__graph_phase_at(p);

			if (p->outputs[j] == NULL)
				return prdshm__graph_fail(diag, &at, PRDSHM_EINVAL,
							  "phase '%s' has a null output", p->id);
			og->ent_name[e++] = p->outputs[j];
		}
	}
	og->ent_off[g->n] = e;
	return 0;
}

/* Give each entry its group; @p last[k] is the last phase (+ 1) seen in k. */
static void assign_groups(const prdshm_graph *g, out_groups *og, size_t *tab, size_t mask,
			  size_t *last)
{
	for (size_t i = 0; i < g->n; i++) {
		for (size_t e = og->ent_off[i]; e < og->ent_off[i + 1]; e++) {
			size_t k = group_of(og, tab, mask, e);
			og->ent_gid[e] = NONE;
			if (last[k] == i + 1)
				continue;
			last[k] = i + 1;
			og->ent_gid[e] = k;
			og->gofs[k + 2]++;
		}
	}
}

/* Members ascending, and each group's highest wave. */
static void fill_members(const prdshm_graph *g, out_groups *og)
{
	for (size_t k = 2; k < og->ngroups + 2; k++)
		og->gofs[k] += og->gofs[k - 1];
	for (size_t i = 0; i < g->n; i++) {
		for (size_t e = og->ent_off[i]; e < og->ent_off[i + 1]; e++) {
			size_t k = og->ent_gid[e];
			if (k == NONE)
				continue;
			og->mem[og->gofs[k + 1]++] = i;
			if (g->wave[i] > og->maxwave[k])
				og->maxwave[k] = g->wave[i];
		}
	}
}

static int group_outputs(const prdshm_graph *g, out_groups *og, prdshm_diag *diag)
{
	size_t cap = 8, *tab = NULL, *last = NULL;
	int err;

	err = list_entries(g, og, diag);
	if (err)
		return err;
	while (cap < 2 * og->nent)
		cap <<= 1;
	tab = calloc(cap, sizeof(size_t));
	last = calloc(og->nent + 1, sizeof(size_t));
	og->name = malloc((og->nent + 1) * sizeof(char *));
	og->gofs = calloc(og->nent + 2, sizeof(size_t));
	og->mem = malloc((og->nent + 1) * sizeof(size_t));
	og->maxwave = calloc(og->nent + 1, sizeof(size_t));
	if (!tab || !last || !og->name || !og->gofs || !og->mem || !og->maxwave) {
		err = prdshm__graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
		goto cleanup;
	}
	assign_groups(g, og, tab, cap - 1, last);
	fill_members(g, og);
cleanup:
	free(last);
	free(tab);
	return err;
}

/* ------------------------------------------------------------------------ */
/* Conflicts                                                                */

/*
 * Two phases sharing an output conflict unless one depends on the other.
 * Same wave: neither can.  Different waves: only the later can depend on
 * the earlier, so each pair needs one question, "is the earlier one an
 * ancestor of the later?".  The earlier ones ("sources", given bit numbers)
 * are processed in chunks: one pass in topological order gives every phase
 * the set of the chunk's sources among its ancestors, as a bitset.  With a
 * handful of shared outputs that is one linear pass; in general
 * O((n + edges) * sources / 64) plus the pairs themselves.  Two phases
 * sharing several outputs give one conflict per output.
 */
typedef struct conflict_search {
	prdshm_graph *g;
	const out_groups *og;
	size_t *bit;        /* n: phase -> source number, NONE if not a source */
	size_t *src;        /* sources by number */
	size_t nsrc;
	uint64_t *anc;      /* n * words */
	size_t words;
	size_t cap;         /* allocated conflicts */
} conflict_search;

static int add_conflict(conflict_search *cs, size_t a, size_t b, const char *resource)
{
	prdshm_graph *g = cs->g;

	if (g->nconflicts == cs->cap) {
		size_t cap = cs->cap ? 2 * cs->cap : 16;
		prdshm_conflict *c = realloc(g->conflicts, cap * sizeof(*c));
		if (c == NULL)
			return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
		g->conflicts = c;
		cs->cap = cap;
	}
	g->conflicts[g->nconflicts].a = a < b ? a : b;
	g->conflicts[g->nconflicts].b = a < b ? b : a;
	g->conflicts[g->nconflicts].resource = resource;
	g->nconflicts++;
	return 0;
}

/* Same-wave pairs conflict without further question. */
static int same_wave_conflicts(conflict_search *cs)
{
	const out_groups *og = cs->og;
	const size_t *w = cs->g->wave;
	int err;

	for (size_t k = 0; k < og->ngroups; k++) {
		const size_t *m = og->mem + og->gofs[k];
		for (size_t x = 0; x < gsize(og, k); x++) {
			for (size_t y = x + 1; y < gsize(og, k); y++) {
				if (w[m[x]] != w[m[y]])
					continue;
				err = add_conflict(cs, m[x], m[y], og->name[k]);
				if (err)
					return err;
			}
		}
	}
	return 0;
}

/* A source: a phase with a group peer in a later wave. */
static void number_sources(conflict_search *cs)
{
	const out_groups *og = cs->og;
	const prdshm_graph *g = cs->g;

	for (size_t i = 0; i < g->n; i++) {
		cs->bit[i] = NONE;
		for (size_t e = og->ent_off[i]; e < og->ent_off[i + 1]; e++) {
			size_t k = og->ent_gid[e];
			if (k != NONE && g->wave[i] < og->maxwave[k]) {
				cs->bit[i] = cs->nsrc;
				cs->src[cs->nsrc++] = i;
				break;
			}
		}
	}
}

/* anc[v] = the chunk's sources [c0, c1) among v's ancestors. */
static void propagate(conflict_search *cs, size_t c0, size_t c1)
{
	const prdshm_graph *g = cs->g;
	size_t words = cs->words, first = g->wave[cs->src[c0]];

	memset(cs->anc, 0, g->n * words * sizeof(uint64_t));
	for (size_t j = c0 + 1; j < c1; j++) {
		if (g->wave[cs->src[j]] < first)
			first = g->wave[cs->src[j]];
	}
	/* Phases before the chunk's earliest wave have no ancestor in it. */
	for (size_t k = g->wave_off[first]; k < g->n; k++) {
		size_t v = g->wave_idx[k];
		uint64_t *av = cs->anc + v * words;
		for (size_t e = g->dep_off[v]; e < g->dep_off[v + 1]; e++) {
			size_t d = g->dep[e];
			const uint64_t *ad = cs->anc + d * words;
			for (size_t x = 0; x < words; x++)
				av[x] |= ad[x];
			if (cs->bit[d] != NONE && cs->bit[d] >= c0 && cs->bit[d] < c1) {
				size_t b = cs->bit[d] - c0;
				av[b / 64] |= (uint64_t)1 << (b % 64);
			}
		}
	}
}

/* Source @p s against its later-wave peers, once anc holds its chunk. */
static int check_source(conflict_search *cs, size_t s, size_t c0)
{
	const out_groups *og = cs->og;
	const size_t *w = cs->g->wave;
	size_t b = cs->bit[s] - c0;
	int err;

	for (size_t e = og->ent_off[s]; e < og->ent_off[s + 1]; e++) {
		size_t k = og->ent_gid[e];
		if (k == NONE)
			continue;
		for (size_t x = og->gofs[k]; x < og->gofs[k + 1]; x++) {
			size_t t = og->mem[x];
			const uint64_t *at = cs->anc + t * cs->words;
			if (w[t] <= w[s] || ((at[b / 64] >> (b % 64)) & 1))
				continue;
			err = add_conflict(cs, s, t, og->name[k]);
			if (err)
				return err;
		}
	}
	return 0;
}

static int cross_wave_conflicts(conflict_search *cs)
{
	size_t chunk = cs->words * 64;
	int err;

	for (size_t c0 = 0; c0 < cs->nsrc; c0 += chunk) {
		size_t c1 = cs->nsrc - c0 < chunk ? cs->nsrc : c0 + chunk;
		propagate(cs, c0, c1);
		for (size_t j = c0; j < c1; j++) {
			err = check_source(cs, cs->src[j], c0);
			if (err)
				return err;
		}
	}
	return 0;
}

static int cmp_conflict(const void *x, const void *y)
{
	const prdshm_conflict *a = x, *b = y;

	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	return strcmp(a->resource, b->resource);
}

static int search_conflicts(conflict_search *cs)
{
	size_t n = cs->g->n, budget;
	int err;

	err = same_wave_conflicts(cs);
	if (err)
		return err;
	number_sources(cs);
	if (cs->nsrc == 0)
		return 0;
	budget = GRAPH_BITSET_BUDGET / n > 0 ? GRAPH_BITSET_BUDGET / n : 1;
	cs->words = (cs->nsrc + 63) / 64;
	if (cs->words > budget)
		cs->words = budget;
	cs->anc = malloc(n * cs->words * sizeof(uint64_t));
	if (cs->anc == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	return cross_wave_conflicts(cs);
}

int prdshm__graph_find_conflicts(prdshm_graph *g, prdshm_diag *diag)
{
	out_groups og = { 0 };
	conflict_search cs = { .g = g, .og = &og };
	int err;

	err = group_outputs(g, &og, diag);
	if (err)
		goto cleanup;
	cs.bit = malloc((g->n + 1) * sizeof(size_t));
	cs.src = malloc((g->n + 1) * sizeof(size_t));
	if (!cs.bit || !cs.src) {
		err = prdshm__graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
		goto cleanup;
	}
	err = search_conflicts(&cs);
	if (err) {
		prdshm__graph_fail(diag, NULL, err, "out of memory");
		goto cleanup;
	}
	if (g->nconflicts > 1)
		qsort(g->conflicts, g->nconflicts, sizeof(*g->conflicts), cmp_conflict);
cleanup:
	free(cs.anc);
	free(cs.src);
	free(cs.bit);
	groups_free(&og);
	return err;
}
