/*
 * test_graph_large.c: the dependency graph (lib/plan/graph.c) on a large
 * random plan, its waves, conflicts, dependencies and critical path checked
 * against a brute-force reference.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* A large random plan                                                      */

#define BIG_N 10000
#define BIG_E 50000

/*
 * A random DAG: phase ranks 0..n-1, each edge from a higher rank to a lower
 * one, placed in the array in a shuffled order so that the input order is
 * not a topological order.  Strings are shared: deps point at the ids.
 */
typedef struct bigplan {
	size_t n;
	prdshm_phase_def *p;
	char (*ids)[32];
	char (*outs)[32];
	char **deps;
	char **outputs;
	size_t (*edges)[2]; /* (phase, dependency), both as array positions */
	size_t nedges;
} bigplan;

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Insert key into a set (0 is never a key); 1 if it was new. */
static int set_add(uint64_t *set, size_t cap, uint64_t key)
{
	size_t h = (size_t)(key * 11400714819323198485ull) & (cap - 1);

	while (set[h] != 0 && set[h] != key)
		h = (h + 1) & (cap - 1);
	if (set[h] == key)
		return 0;
	set[h] = key;
	return 1;
}

static void random_edges(bigplan *b, const size_t *pos, uint64_t *seed)
{
	size_t cap = 1 << 18;
	uint64_t *set = calloc(cap, sizeof(uint64_t));

	while (b->nedges < BIG_E) {
		size_t u = 1 + (size_t)(rng_next(seed) % (b->n - 1));
		size_t v = (size_t)(rng_next(seed) % u);
		if (!set_add(set, cap, (uint64_t)u * b->n + v + 1))
			continue;
		b->edges[b->nedges][0] = pos[u];
		b->edges[b->nedges][1] = pos[v];
		b->nedges++;
	}
	free(set);
}

/* Phase i writes "out-<rank % noutnames>"; noutnames 0: no outputs. */
static void fill_phases(bigplan *b, const size_t *rank, size_t noutnames, uint64_t *seed)
{
	size_t e = 0;

	for (size_t i = 0; i < b->n; i++) {
		snprintf(b->ids[i], sizeof(b->ids[i]), "p%05zu", i);
		b->p[i].id = b->ids[i];
		b->p[i].estimated_minutes = (double)(1 + rng_next(seed) % 10);
		b->p[i].line = (int)i + 1;
		if (noutnames) {
			b->outputs[i] = b->outs[rank[i] % noutnames];
			b->p[i].outputs = &b->outputs[i];
			b->p[i].noutputs = 1;
		}
	}
	/* Group the edges by phase into one shared array. */
	for (size_t k = 0; k < b->nedges; k++)
		b->p[b->edges[k][0]].ndeps++;
	for (size_t i = 0; i < b->n; i++) {
		b->p[i].deps = b->deps + e;
		e += b->p[i].ndeps;
		b->p[i].ndeps = 0;
	}
	for (size_t k = 0; k < b->nedges; k++) {
		prdshm_phase_def *ph = &b->p[b->edges[k][0]];
		ph->deps[ph->ndeps++] = b->ids[b->edges[k][1]];
	}
}

static void big_make(bigplan *b, size_t noutnames)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	size_t *pos = malloc(BIG_N * sizeof(size_t));
	size_t *rank = malloc(BIG_N * sizeof(size_t));

	memset(b, 0, sizeof(*b));
	b->n = BIG_N;
	b->p = calloc(BIG_N, sizeof(*b->p));
	b->ids = calloc(BIG_N, sizeof(*b->ids));
	b->outs = calloc(noutnames + 1, sizeof(*b->outs));
	b->deps = calloc(BIG_E, sizeof(char *));
	b->outputs = calloc(BIG_N, sizeof(char *));
	b->edges = calloc(BIG_E, sizeof(*b->edges));
	for (size_t r = 0; r < BIG_N; r++)
		pos[r] = r;
	for (size_t r = BIG_N - 1; r > 0; r--) {
		size_t j = (size_t)(rng_next(&seed) % (r + 1)), t = pos[r];
		pos[r] = pos[j];
		pos[j] = t;
	}
	for (size_t r = 0; r < BIG_N; r++)
		rank[pos[r]] = r;
	for (size_t k = 0; k < noutnames; k++)
		snprintf(b->outs[k], sizeof(b->outs[k]), "out-%zu", k);
	random_edges(b, pos, &seed);
	fill_phases(b, rank, noutnames, &seed);
	free(rank);
	free(pos);
}

static void big_free(bigplan *b)
{
	free(b->p);
	free(b->ids);
	free(b->outs);
	free(b->deps);
	free(b->outputs);
	free(b->edges);
}

/* Every edge goes up a wave; each wave is 1 + the highest of its deps. */
static void check_layering(const prdshm_graph *g, const bigplan *b)
{
	size_t bad = 0, total = 0;

	for (size_t i = 0; i < b->n; i++) {
		size_t w = prdshm_graph_wave_of(g, i), want = 0;
		for (size_t j = 0; j < b->p[i].ndeps; j++) {
			size_t d = (size_t)prdshm_graph_find(g, b->p[i].deps[j]);
			size_t wd = prdshm_graph_wave_of(g, d);
			bad += wd >= w;
			if (wd + 1 > want)
				want = wd + 1;
		}
		bad += w != want;
	}
	CU_ASSERT_EQUAL(bad, 0);
	for (size_t w = 0; w < prdshm_graph_nwaves(g); w++) {
		const size_t *v = NULL;
		size_t n = prdshm_graph_wave(g, w, &v);
		CU_ASSERT(n > 0);
		for (size_t k = 0; k < n; k++) {
			bad += prdshm_graph_wave_of(g, v[k]) != w;
			bad += k > 0 && v[k] <= v[k - 1];
		}
		total += n;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(total, b->n);
}

static void test_large_graph_waves(void)
{
	bigplan b;
	prdshm_graph *g = NULL;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	big_make(&b, 0);
	CU_ASSERT_EQUAL_FATAL(b.nedges, BIG_E);
	CU_ASSERT_EQUAL_FATAL(prdshm_graph_build(b.p, b.n, &g, &d), 0);
	CU_ASSERT_EQUAL(prdshm_graph_nphases(g), BIG_N);
	CU_ASSERT(prdshm_graph_nwaves(g) > 2);
	check_layering(g, &b);
	for (size_t i = 0; i < b.n; i += 997)
		CU_ASSERT_EQUAL(prdshm_graph_find(g, b.ids[i]), (long)i);
	CU_ASSERT_EQUAL(prdshm_graph_conflicts(g, NULL), 0);
	prdshm_graph_free(g);
	big_free(&b);
}

/* The ancestors of every phase as bitsets, by repeated relaxation over the
 * edges in wave order (waves already checked by the test above). */
static uint64_t *closure(const prdshm_graph *g, const bigplan *b, size_t words)
{
	uint64_t *anc = calloc(b->n * words, sizeof(uint64_t));

	for (size_t w = 0; w < prdshm_graph_nwaves(g); w++) {
		const size_t *v = NULL;
		size_t n = prdshm_graph_wave(g, w, &v);
		for (size_t k = 0; k < n; k++) {
			const prdshm_phase_def *ph = &b->p[v[k]];
			uint64_t *a = anc + v[k] * words;
			for (size_t j = 0; j < ph->ndeps; j++) {
				size_t d = (size_t)prdshm_graph_find(g, ph->deps[j]);
				for (size_t x = 0; x < words; x++)
					a[x] |= anc[d * words + x];
				a[d / 64] |= (uint64_t)1 << (d % 64);
			}
		}
	}
	return anc;
}

static int has(const uint64_t *anc, size_t words, size_t a, size_t b)
{
	return (int)((anc[a * words + b / 64] >> (b % 64)) & 1);
}

static void check_conflicts(const prdshm_graph *g, const bigplan *b, const uint64_t *anc,
			    size_t words)
{
	const prdshm_conflict *c = NULL;
	size_t nc = prdshm_graph_conflicts(g, &c), want = 0, bad = 0;

	for (size_t i = 0; i < b->n; i++) {
		for (size_t j = i + 1; j < b->n; j++) {
			if (b->outputs[i] != b->outputs[j])
				continue;
			want += !has(anc, words, i, j) && !has(anc, words, j, i);
		}
	}
	CU_ASSERT(want > 0);
	CU_ASSERT_EQUAL(nc, want);
	for (size_t k = 0; k < nc; k++) {
		bad += c[k].a >= c[k].b || c[k].b >= b->n;
		if (bad)
			break;
		bad += strcmp(c[k].resource, b->outputs[c[k].a]) != 0;
		bad += c[k].resource != b->outputs[c[k].b];
		bad += has(anc, words, c[k].a, c[k].b) || has(anc, words, c[k].b, c[k].a);
		bad += k > 0 && !(c[k - 1].a < c[k].a ||
				  (c[k - 1].a == c[k].a && c[k - 1].b < c[k].b));
	}
	CU_ASSERT_EQUAL(bad, 0);
}

static void check_depends_on(const prdshm_graph *g, const uint64_t *anc, size_t words)
{
	uint64_t seed = 42;
	size_t bad = 0, yes = 0;

	for (int k = 0; k < 400; k++) {
		size_t a = (size_t)(rng_next(&seed) % BIG_N);
		size_t c = (size_t)(rng_next(&seed) % BIG_N);
		int r = prdshm_graph_depends_on(g, a, c);
		bad += r != has(anc, words, a, c);
		yes += r;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(yes > 0);
}

/* remaining(i) = own minutes + the best dependant's; the path follows it. */
static void check_critical(const prdshm_graph *g, const bigplan *b)
{
	double *best = calloc(b->n, sizeof(double)), top = 0, sum = 0;
	const size_t *path = NULL;
	size_t np, bad = 0;

	for (size_t k = 0; k < b->nedges; k++) {
		double r = prdshm_graph_remaining(g, b->edges[k][0]);
		if (r > best[b->edges[k][1]])
			best[b->edges[k][1]] = r;
	}
	for (size_t i = 0; i < b->n; i++) {
		double r = prdshm_graph_remaining(g, i);
		bad += r != b->p[i].estimated_minutes + best[i];
		if (r > top)
			top = r;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(prdshm_graph_critical_length(g), top);
	np = prdshm_graph_critical_path(g, &path);
	CU_ASSERT_FATAL(np > 1);
	for (size_t k = 0; k < np; k++)
		sum += b->p[path[k]].estimated_minutes;
	/* Each step is a dependant of the previous phase and carries its rest. */
	for (size_t k = 1; k < np; k++) {
		double r = prdshm_graph_remaining(g, path[k - 1]);
		bad += !prdshm_graph_depends_on(g, path[k], path[k - 1]);
		bad += r != b->p[path[k - 1]].estimated_minutes + prdshm_graph_remaining(g, path[k]);
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(sum, top);
	CU_ASSERT_EQUAL(best[path[np - 1]], 0.0);
	free(best);
}

static void test_large_graph_reference(void)
{
	/* 2000 output names: groups of five writers, thousands of sources. */
	bigplan b;
	prdshm_graph *g = NULL;
	size_t words = (BIG_N + 63) / 64;
	uint64_t *anc;

	big_make(&b, 2000);
	CU_ASSERT_EQUAL_FATAL(prdshm_graph_build(b.p, b.n, &g, NULL), 0);
	check_layering(g, &b);
	anc = closure(g, &b, words);
	check_conflicts(g, &b, anc, words);
	check_depends_on(g, anc, words);
	check_critical(g, &b);
	free(anc);
	prdshm_graph_free(g);
	big_free(&b);
}

const tu_test tu_tests[] = {
	TU(test_large_graph_waves),
	TU(test_large_graph_reference),
	{ NULL, NULL },
};
const char *tu_suite = "graph_large";
