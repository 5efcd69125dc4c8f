/*
 * graph.c: the plan's dependency graph: validation, waves, transitive
 * dependencies, and the queries of the graph prdshm_graph_build() makes.
 *
 * Pure computation over an array of prdshm_phase_def; no segment involved.
 * The graph keeps a pointer to the caller's array instead of copying ids and
 * output names: the phases must outlive the graph (prdshm_graph_find()
 * compares ids there, and each prdshm_conflict's resource points there).
 *
 * Edges are stored in both directions as compressed arrays (CSR): the
 * dependencies of phase i are dep[dep_off[i] .. dep_off[i + 1]) and its
 * dependants rdep[rdep_off[i] .. rdep_off[i + 1]), the latter in ascending
 * index order.  Everything is linear in phases + edges, except the conflict
 * search (analysis.c, with the critical path), which also pays for
 * the pairs of phases sharing an output.  Errors are reported with the
 * position of the value they are about (diag.c).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "base/util.h"
#include "graph/graph.h"

/* ------------------------------------------------------------------------ */
/* Id table                                                                 */

static size_t id_slot(const char *id)
{
	return prdshm__hash(id, strlen(id));
}

static long lookup_id(const prdshm_graph *g, const char *id)
{
	size_t mask = g->idcap - 1;

	for (size_t s = id_slot(id) & mask;; s = (s + 1) & mask) {
		size_t v = g->idtab[s];
		if (v == 0)
			return -1;
		if (strcmp(g->phases[v - 1].id, id) == 0)
			return (long)(v - 1);
	}
}

/* Check phase @p i's id and weight, and enter the id in the table. */
static int index_phase(prdshm_graph *g, size_t i, prdshm_diag *diag)
{
	const prdshm_phase_def *p = &g->phases[i];
	size_t mask = g->idcap - 1;
	size_t s;

	prdshm_pos at = prdshm__graph_id_at(p);

	if (!prdshm__valid_id(p->id))
		return prdshm__graph_fail(diag, &at, PRDSHM_EINVAL,
					  "invalid phase id '%.*s' (phase %zu)", PRDSHM_ID_MAX + 1,
					  p->id ? p->id : "", i + 1);
	/* NaN or a negative estimate would make the longest path meaningless. */
	if (!(p->estimated_minutes >= 0) || isinf(p->estimated_minutes))
		return prdshm__graph_fail(diag, &at, PRDSHM_EINVAL,
					  "phase '%s': invalid estimated_minutes", p->id);
	for (s = id_slot(p->id) & mask; g->idtab[s] != 0; s = (s + 1) & mask) {
		const prdshm_phase_def *first = &g->phases[g->idtab[s] - 1];

		if (strcmp(first->id, p->id) != 0)
			continue;
		if (first->id_at.line > 0)
			return prdshm__graph_fail(
				diag, &at, PRDSHM_EINVAL,
				"duplicate phase id '%s' (first at line %d, column %d)", p->id,
				first->id_at.line, first->id_at.column);
		return prdshm__graph_fail(diag, &at, PRDSHM_EINVAL, "duplicate phase id '%s'",
					  p->id);
	}
	g->idtab[s] = i + 1;
	return 0;
}

static int index_ids(prdshm_graph *g, prdshm_diag *diag)
{
	int err;

	g->idcap = 8;
	while (g->idcap < 2 * g->n)
		g->idcap <<= 1;
	g->idtab = calloc(g->idcap, sizeof(*g->idtab));
	if (g->idtab == NULL)
		return prdshm__graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory (%zu phases)",
					  g->n);
	for (size_t i = 0; i < g->n; i++) {
		err = index_phase(g, i, diag);
		if (err)
			return err;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Edges                                                                    */

static size_t ndeps_of(const prdshm_graph *g, size_t i)
{
	return g->dep_off[i + 1] - g->dep_off[i];
}

/*
 * Resolve phase @p i's dependency list into g->dep.  A dependency listed
 * twice is kept once: "b after a" said twice is still "b after a", and
 * rejecting it would fail a plan over something harmless.  @p mark[k] holds
 * i + 1 when k was already taken for phase i.
 */
static int link_phase(prdshm_graph *g, size_t i, size_t *mark, size_t *m, prdshm_diag *diag)
{
	const prdshm_phase_def *p = &g->phases[i];

	for (size_t j = 0; j < p->ndeps; j++) {
		const char *d = p->deps[j];
		long k = d ? lookup_id(g, d) : -1;
		prdshm_pos at = prdshm__graph_dep_at(p, j);

		if (d == NULL)
			return prdshm__graph_fail(diag, &at, PRDSHM_EINVAL,
						  "phase '%s' has a null dependency", p->id);
		if (k < 0)
			return prdshm__graph_fail(diag, &at, PRDSHM_EUNKNOWNDEP,
						  "phase '%s' depends on unknown phase '%s'",
						  p->id, d);
		if ((size_t)k == i)
			return prdshm__graph_fail(diag, &at, PRDSHM_ECYCLE,
						  "dependency cycle: %s -> %s", p->id, p->id);
		if (mark[k] == i + 1)
			continue;
		mark[k] = i + 1;
		g->dep[(*m)++] = (size_t)k;
	}
	g->dep_off[i + 1] = *m;
	return 0;
}

/* Fill the dependants' arrays from the dependencies' (counting sort). */
static void link_reverse(prdshm_graph *g)
{
	size_t m = g->dep_off[g->n];

	for (size_t e = 0; e < m; e++)
		g->rdep_off[g->dep[e] + 1]++;
	for (size_t i = 0; i < g->n; i++)
		g->rdep_off[i + 1] += g->rdep_off[i];
	/* Visiting phases in order leaves each list ascending; rdep_off[k] is
	 * used as k's fill cursor and restored afterwards. */
	for (size_t i = 0; i < g->n; i++) {
		for (size_t e = g->dep_off[i]; e < g->dep_off[i + 1]; e++)
			g->rdep[g->rdep_off[g->dep[e]]++] = i;
	}
	for (size_t i = g->n; i > 0; i--)
		g->rdep_off[i] = g->rdep_off[i - 1];
	g->rdep_off[0] = 0;
}

static int link_deps(prdshm_graph *g, prdshm_diag *diag)
{
	size_t total = 0, m = 0;
	size_t *mark = NULL;
	int err = 0;

	for (size_t i = 0; i < g->n; i++) {
		if (g->phases[i].ndeps > SIZE_MAX / 4 - total)
			return prdshm__graph_fail(diag, NULL, PRDSHM_ENOMEM,
						  "too many dependencies");
		total += g->phases[i].ndeps;
	}
	g->dep_off = calloc(g->n + 1, sizeof(size_t));
	g->rdep_off = calloc(g->n + 1, sizeof(size_t));
	g->dep = malloc((total + 1) * sizeof(size_t));
	g->rdep = malloc((total + 1) * sizeof(size_t));
	mark = calloc(g->n + 1, sizeof(size_t));
	if (!g->dep_off || !g->rdep_off || !g->dep || !g->rdep || !mark) {
		err = prdshm__graph_fail(diag, NULL, PRDSHM_ENOMEM,
					 "out of memory (%zu dependencies)", total);
		goto cleanup;
	}
	for (size_t i = 0; i < g->n; i++) {
		err = link_phase(g, i, mark, &m, diag);
		if (err)
			goto cleanup;
	}
	link_reverse(g);
cleanup:
	free(mark);
	return err;
}

/* ------------------------------------------------------------------------ */
/* Waves (Kahn's algorithm) and cycles                                      */

/* A message being built; once something did not fit, it ends with "...". */
typedef struct msgbuf {
	char buf[sizeof(((prdshm_diag *)0)->msg)];
	size_t len;
	int full;
} msgbuf;

static void append(msgbuf *m, const char *s)
{
	size_t n = strlen(s);

	if (m->full)
		return;
	if (m->len + n + 4 > sizeof(m->buf)) {
		memcpy(m->buf + m->len, "...", 4);
		m->len += 3;
		m->full = 1;
		return;
	}
	memcpy(m->buf + m->len, s, n + 1);
	m->len += n;
}

/* Where phase @p v names phase @p next as a dependency: the cycle's first
 * edge, which the message prints first. */
static prdshm_pos cycle_at(const prdshm_graph *g, size_t v, size_t next)
{
	const prdshm_phase_def *p = &g->phases[v];

	for (size_t j = 0; j < p->ndeps; j++) {
		if (strcmp(p->deps[j], g->phases[next].id) == 0)
			return prdshm__graph_dep_at(p, j);
	}
	return prdshm__graph_phase_at(p);
}

/*
 * Kahn's algorithm stopped early: the phases it could not place (indeg > 0)
 * each have a dependency among themselves, so following such dependencies
 * from any of them must come back to a phase already seen.  Only that loop
 * is reported, not the path that led to it.  @p path has room for n.
 */
static int report_cycle(prdshm_graph *g, const size_t *indeg, size_t *path,
			prdshm_diag *diag)
{
	size_t *pos = malloc(g->n * sizeof(size_t));
	msgbuf m = { .len = 0 };
	size_t v = 0, steps = 0;
	prdshm_pos at;

	if (pos == NULL)
		return prdshm__graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
	for (size_t i = 0; i < g->n; i++)
		pos[i] = NONE;
	while (indeg[v] == 0)
		v++;
	while (pos[v] == NONE) {
		size_t e = g->dep_off[v];
		pos[v] = steps;
		path[steps++] = v;
		while (indeg[g->dep[e]] == 0)
			e++;
		v = g->dep[e];
	}
	append(&m, "dependency cycle: ");
	for (size_t s = pos[v]; s < steps; s++) {
		append(&m, g->phases[path[s]].id);
		append(&m, " -> ");
	}
	append(&m, g->phases[v].id);
	at = cycle_at(g, v, path[pos[v] + 1 < steps ? pos[v] + 1 : pos[v]]);
	free(pos);
	return prdshm__graph_fail(diag, &at, PRDSHM_ECYCLE, "%s", m.buf);
}

/* Group the phases by wave, input order within a wave (counting sort). */
static int sort_waves(prdshm_graph *g)
{
	g->nwaves = 0;
	for (size_t i = 0; i < g->n; i++) {
		if (g->wave[i] + 1 > g->nwaves)
			g->nwaves = g->wave[i] + 1;
	}
	g->wave_off = calloc(g->nwaves + 2, sizeof(size_t));
	if (g->wave_off == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	for (size_t i = 0; i < g->n; i++)
		g->wave_off[g->wave[i] + 2]++;
	for (size_t w = 2; w < g->nwaves + 2; w++)
		g->wave_off[w] += g->wave_off[w - 1];
	/* wave_off[w + 1] is wave w's fill cursor; it ends at wave w + 1's start. */
	for (size_t i = 0; i < g->n; i++)
		g->wave_idx[g->wave_off[g->wave[i] + 1]++] = i;
	return 0;
}

/*
 * A phase's wave is 1 + the highest wave of its dependencies, known once the
 * last of them has been taken off the queue.  @p queue has room for n.
 */
static size_t run_kahn(prdshm_graph *g, size_t *indeg, size_t *queue)
{
	size_t head = 0, tail = 0;

	for (size_t i = 0; i < g->n; i++) {
		indeg[i] = ndeps_of(g, i);
		if (indeg[i] == 0)
			queue[tail++] = i;
	}
	while (head < tail) {
		size_t v = queue[head++];
		for (size_t e = g->rdep_off[v]; e < g->rdep_off[v + 1]; e++) {
			size_t u = g->rdep[e];
			if (g->wave[u] < g->wave[v] + 1)
				g->wave[u] = g->wave[v] + 1;
			if (--indeg[u] == 0)
				queue[tail++] = u;
		}
	}
	return tail;
}

static int layer_waves(prdshm_graph *g, prdshm_diag *diag)
{
	size_t *indeg = malloc((g->n + 1) * sizeof(size_t));
	int err;

	g->wave = calloc(g->n + 1, sizeof(size_t));
	g->wave_idx = malloc((g->n + 1) * sizeof(size_t));
	if (!indeg || !g->wave || !g->wave_idx) {
		err = prdshm__graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* wave_idx serves as Kahn's queue before it holds the waves. */
	if (run_kahn(g, indeg, g->wave_idx) < g->n) {
		err = report_cycle(g, indeg, g->wave_idx, diag);
		goto cleanup;
	}
	err = sort_waves(g);
	if (err)
		prdshm__graph_fail(diag, NULL, err, "out of memory");
cleanup:
	free(indeg);
	return err;
}

/* ------------------------------------------------------------------------ */
/* Build and free                                                           */

int prdshm_graph_build(const prdshm_phase_def *phases, size_t n, prdshm_graph **out,
		       prdshm_diag *diag)
{
	prdshm_graph *g;
	int err;

	prdshm__call_begin();
	if (out)
		*out = NULL;
	/* Only the 1.0 fields of the diag are written below. */
	if (diag) {
		err = prdshm__abi_check(diag, PRDSHM_DIAG_SIZE_1_0, "prdshm_diag",
					"prdshm_graph_build");
		if (err)
			return err;
	}
	if (out == NULL || (phases == NULL && n > 0))
		return prdshm__graph_fail(diag, NULL, PRDSHM_EINVAL,
					  "graph: no phases or no output");
	if (n > SIZE_MAX / 64)
		return prdshm__graph_fail(diag, NULL, PRDSHM_ENOMEM, "too many phases (%zu)", n);
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return prdshm__graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
	g->phases = phases;
	g->n = n;
	err = index_ids(g, diag);
	if (err == 0)
		err = link_deps(g, diag);
	if (err == 0)
		err = layer_waves(g, diag);
	if (err == 0)
		err = prdshm__graph_critical_path(g, diag);
	if (err == 0)
		err = prdshm__graph_find_conflicts(g, diag);
	if (err) {
		prdshm_graph_free(g);
		return err;
	}
	*out = g;
	return 0;
}

void prdshm_graph_free(prdshm_graph *g)
{
	if (g == NULL)
		return;
	free(g->idtab);
	free(g->dep_off);
	free(g->dep);
	free(g->rdep_off);
	free(g->rdep);
	free(g->wave);
	free(g->wave_off);
	free(g->wave_idx);
	free(g->remaining);
	free(g->crit);
	free(g->conflicts);
	free(g);
}

/* ------------------------------------------------------------------------ */
/* Queries.  An index out of range is a caller's bug; the queries answer    */
/* with a neutral value (0, SIZE_MAX for a wave) rather than crash.         */

size_t prdshm_graph_nphases(const prdshm_graph *g)
{
	return g ? g->n : 0;
}

long prdshm_graph_find(const prdshm_graph *g, const char *id)
{
	if (g == NULL || id == NULL)
		return -1;
	return lookup_id(g, id);
}

size_t prdshm_graph_nwaves(const prdshm_graph *g)
{
	return g ? g->nwaves : 0;
}

size_t prdshm_graph_wave_of(const prdshm_graph *g, size_t i)
{
	if (g == NULL || i >= g->n)
		return SIZE_MAX;
	return g->wave[i];
}

size_t prdshm_graph_wave(const prdshm_graph *g, size_t w, const size_t **idx)
{
	if (g == NULL || w >= g->nwaves) {
		if (idx)
			*idx = NULL;
		return 0;
	}
	if (idx)
		*idx = g->wave_idx + g->wave_off[w];
	return g->wave_off[w + 1] - g->wave_off[w];
}

/*
 * Search @p a's ancestors for @p b.  Ancestors in waves at or below b's
 * cannot lead to b, which keeps the search short when b is early.
 */
static int search_ancestors(const prdshm_graph *g, size_t a, size_t b)
{
	uint64_t *seen = calloc((g->n + 63) / 64, sizeof(uint64_t));
	size_t *stack = malloc(g->n * sizeof(size_t));
	size_t top = 0;
	int found = 0;

	if (!seen || !stack) {
		prdshm__fail(PRDSHM_ENOMEM, "out of memory");
		goto cleanup;
	}
	stack[top++] = a;
	while (top > 0 && !found) {
		size_t v = stack[--top];
		for (size_t e = g->dep_off[v]; e < g->dep_off[v + 1] && !found; e++) {
			size_t d = g->dep[e];
			found = d == b;
			if (g->wave[d] <= g->wave[b] || ((seen[d / 64] >> (d % 64)) & 1))
				continue;
			seen[d / 64] |= (uint64_t)1 << (d % 64);
			stack[top++] = d;
		}
	}
cleanup:
	free(stack);
	free(seen);
	return found;
}

/*
 * The graph holds no scratch space so that concurrent queries are safe: each
 * call allocates O(n) for its search, and answers 0 (with
 * prdshm_last_error() set) if that allocation fails.
 */
int prdshm_graph_depends_on(const prdshm_graph *g, size_t a, size_t b)
{
	if (g == NULL || a >= g->n || b >= g->n || g->wave[a] <= g->wave[b])
		return 0;
	return search_ancestors(g, a, b);
}

size_t prdshm_graph_conflicts(const prdshm_graph *g, const prdshm_conflict **out)
{
	if (out)
		*out = g && g->nconflicts ? g->conflicts : NULL;
	return g ? g->nconflicts : 0;
}

double prdshm_graph_critical_length(const prdshm_graph *g)
{
	return g ? g->critlen : 0;
}

size_t prdshm_graph_critical_path(const prdshm_graph *g, const size_t **idx)
{
	if (idx)
		*idx = g && g->ncrit ? g->crit : NULL;
	return g ? g->ncrit : 0;
}

double prdshm_graph_remaining(const prdshm_graph *g, size_t i)
{
	if (g == NULL || i >= g->n)
		return 0;
	return g->remaining[i];
}
