/*
 * graph.c: the plan's dependency graph: validation, waves, transitive
 * dependencies, output conflicts and the critical path.
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
 * search, which also pays for the pairs of phases sharing an output (see
 * find_conflicts()).
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "base/util.h"

/*
 * The conflict search keeps one bitset per phase; this bounds its size, in
 * 64-bit words over all phases, so that a huge plan with many shared outputs
 * works in several passes instead of allocating n * n bits.
 */
#define GRAPH_BITSET_BUDGET ((size_t)1 << 20)

#define NONE SIZE_MAX

struct prdshm_graph {
	const prdshm_phase_def *phases; /* the caller's; must outlive the graph */
	size_t n;
	size_t idcap;       /* power of two, at least 2n */
	size_t *idtab;      /* open addressing: phase index + 1, 0 when empty */
	size_t *dep_off;    /* n + 1 */
	size_t *dep;        /* dependencies, duplicates removed */
	size_t *rdep_off;   /* n + 1 */
	size_t *rdep;       /* dependants, ascending */
	size_t *wave;       /* n */
	size_t nwaves;
	size_t *wave_off;   /* nwaves + 1 */
	size_t *wave_idx;   /* n: wave by wave, input order within a wave */
	double *remaining;  /* n: longest path starting at i, i included */
	size_t *crit;       /* the critical path, first phase first */
	size_t ncrit;
	double critlen;
	prdshm_conflict *conflicts; /* sorted by a, then b, then resource */
	size_t nconflicts;
};

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

/*
 * Report a failure in @p diag (may be NULL) and in prdshm_last_error().
 * Line and column come from @p at, the value the message is about (see
 * id_at() and dep_at()); the diag's file is left to the caller, who knows
 * where the phases came from.
 */
static int graph_fail(prdshm_diag *diag, const prdshm_pos *at, int err, const char *fmt, ...)
	PRDSHM__PRINTF(4, 5);

static int graph_fail(prdshm_diag *diag, const prdshm_pos *at, int err, const char *fmt, ...)
{
	char msg[sizeof(diag->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (diag) {
		memcpy(diag->msg, msg, sizeof(msg));
		diag->line = at ? at->line : 0;
		diag->column = at ? at->column : 0;
	}
	return prdshm__fail(err, "%s", msg);
}

/* Where phase @p p was defined. */
static prdshm_pos phase_at(const prdshm_phase_def *p)
{
	return (prdshm_pos){ p->line, p->column };
}

/* Where @p p's id was, or the phase when that is not known. */
static prdshm_pos id_at(const prdshm_phase_def *p)
{
	return p->id_at.line > 0 ? p->id_at : phase_at(p);
}

/* Where @p p's dependency @p j was, or the phase when that is not known. */
static prdshm_pos dep_at(const prdshm_phase_def *p, size_t j)
{
	return j < p->ndeps_at && p->deps_at && p->deps_at[j].line > 0 ? p->deps_at[j]
									: phase_at(p);
}

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

	prdshm_pos at = id_at(p);

	if (!prdshm__valid_id(p->id))
		return graph_fail(diag, &at, PRDSHM_EINVAL, "invalid phase id '%.*s' (phase %zu)",
				  PRDSHM_ID_MAX + 1, p->id ? p->id : "", i + 1);
	/* NaN or a negative estimate would make the longest path meaningless. */
	if (!(p->estimated_minutes >= 0) || isinf(p->estimated_minutes))
		return graph_fail(diag, &at, PRDSHM_EINVAL, "phase '%s': invalid estimated_minutes",
				  p->id);
	for (s = id_slot(p->id) & mask; g->idtab[s] != 0; s = (s + 1) & mask) {
		const prdshm_phase_def *first = &g->phases[g->idtab[s] - 1];

		if (strcmp(first->id, p->id) != 0)
			continue;
		if (first->id_at.line > 0)
			return graph_fail(diag, &at, PRDSHM_EINVAL,
					  "duplicate phase id '%s' (first at line %d, column %d)",
					  p->id, first->id_at.line, first->id_at.column);
		return graph_fail(diag, &at, PRDSHM_EINVAL, "duplicate phase id '%s'", p->id);
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
		return graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory (%zu phases)", g->n);
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
		prdshm_pos at = dep_at(p, j);

		if (d == NULL)
			return graph_fail(diag, &at, PRDSHM_EINVAL,
					  "phase '%s' has a null dependency", p->id);
		if (k < 0)
			return graph_fail(diag, &at, PRDSHM_EUNKNOWNDEP,
					  "phase '%s' depends on unknown phase '%s'", p->id, d);
		if ((size_t)k == i)
			return graph_fail(diag, &at, PRDSHM_ECYCLE, "dependency cycle: %s -> %s",
					  p->id, p->id);
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
			return graph_fail(diag, NULL, PRDSHM_ENOMEM, "too many dependencies");
		total += g->phases[i].ndeps;
	}
	g->dep_off = calloc(g->n + 1, sizeof(size_t));
	g->rdep_off = calloc(g->n + 1, sizeof(size_t));
	g->dep = malloc((total + 1) * sizeof(size_t));
	g->rdep = malloc((total + 1) * sizeof(size_t));
	mark = calloc(g->n + 1, sizeof(size_t));
	if (!g->dep_off || !g->rdep_off || !g->dep || !g->rdep || !mark) {
		err = graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory (%zu dependencies)",
				 total);
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
			return dep_at(p, j);
	}
	return phase_at(p);
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
		return graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
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
	return graph_fail(diag, &at, PRDSHM_ECYCLE, "%s", m.buf);
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
		err = graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* wave_idx serves as Kahn's queue before it holds the waves. */
	if (run_kahn(g, indeg, g->wave_idx) < g->n) {
		err = report_cycle(g, indeg, g->wave_idx, diag);
		goto cleanup;
	}
	err = sort_waves(g);
	if (err)
		graph_fail(diag, NULL, err, "out of memory");
cleanup:
	free(indeg);
	return err;
}

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

static int critical_path(prdshm_graph *g, prdshm_diag *diag)
{
	size_t *next = malloc((g->n + 1) * sizeof(size_t));
	size_t start = NONE;
	int err = 0;

	g->remaining = malloc((g->n + 1) * sizeof(double));
	g->crit = malloc((g->n + 1) * sizeof(size_t));
	if (!next || !g->remaining || !g->crit) {
		err = graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
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
			return graph_fail(diag, NULL, PRDSHM_ENOMEM, "too many outputs");
		og->nent += g->phases[i].noutputs;
	}
	og->ent_off = malloc((g->n + 1) * sizeof(size_t));
	og->ent_gid = malloc((og->nent + 1) * sizeof(size_t));
	og->ent_name = malloc((og->nent + 1) * sizeof(char *));
	if (!og->ent_off || !og->ent_gid || !og->ent_name)
		return graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
	for (size_t i = 0; i < g->n; i++) {
		const prdshm_phase_def *p = &g->phases[i];
		og->ent_off[i] = e;
		for (size_t j = 0; j < p->noutputs; j++) {
			prdshm_pos at = phase_at(p);

			if (p->outputs[j] == NULL)
				return graph_fail(diag, &at, PRDSHM_EINVAL,
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
		err = graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
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

static int find_conflicts(prdshm_graph *g, prdshm_diag *diag)
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
		err = graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
		goto cleanup;
	}
	err = search_conflicts(&cs);
	if (err) {
		graph_fail(diag, NULL, err, "out of memory");
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
		return graph_fail(diag, NULL, PRDSHM_EINVAL, "graph: no phases or no output");
	if (n > SIZE_MAX / 64)
		return graph_fail(diag, NULL, PRDSHM_ENOMEM, "too many phases (%zu)", n);
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return graph_fail(diag, NULL, PRDSHM_ENOMEM, "out of memory");
	g->phases = phases;
	g->n = n;
	err = index_ids(g, diag);
	if (err == 0)
		err = link_deps(g, diag);
	if (err == 0)
		err = layer_waves(g, diag);
	if (err == 0)
		err = critical_path(g, diag);
	if (err == 0)
		err = find_conflicts(g, diag);
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
