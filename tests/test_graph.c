/*
 * test_graph.c: the dependency graph (lib/plan/graph.c) on small plans:
 * validation and its messages, waves, transitive dependencies, conflicts,
 * critical path.  A large random plan: test_graph_large.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Small plans written as specs                                             */

typedef struct spec {
	const char *id;
	const char *deps;    /* space-separated ids, NULL for none */
	const char *outputs; /* space-separated names, NULL for none */
	double minutes;
} spec;

/* Split @p s on spaces into a new NULL-terminated array; *n gets the count. */
static char **split(const char *s, size_t *n)
{
	char *copy = strdup(s ? s : "");
	char **v = calloc(strlen(copy) / 2 + 2, sizeof(char *));
	char *save = NULL;

	*n = 0;
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
		v[(*n)++] = strdup(t);
	free(copy);
	return v;
}

/* Phase i is defined at line 10 * (i + 1), column 3, as if from a file. */
static prdshm_phase_def *make_plan(const spec *s, size_t n)
{
	prdshm_phase_def *p = calloc(n + 1, sizeof(*p));

	for (size_t i = 0; i < n; i++) {
		p[i].id = strdup(s[i].id);
		p[i].deps = split(s[i].deps, &p[i].ndeps);
		p[i].outputs = split(s[i].outputs, &p[i].noutputs);
		p[i].estimated_minutes = s[i].minutes;
		p[i].line = 10 * ((int)i + 1);
		p[i].column = 3;
	}
	return p;
}

static void free_plan(prdshm_phase_def *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < p[i].ndeps; j++)
			free(p[i].deps[j]);
		for (size_t j = 0; j < p[i].noutputs; j++)
			free(p[i].outputs[j]);
		free(p[i].deps);
		free(p[i].outputs);
		free(p[i].id);
	}
	free(p);
}

/* Build a plan that must be valid; the caller frees both. */
static prdshm_graph *build_ok(const spec *s, size_t n, prdshm_phase_def **plan)
{
	prdshm_graph *g = NULL;
	prdshm_diag diag = { .struct_size = sizeof(prdshm_diag), .line = -1 };
	int rc;

	*plan = make_plan(s, n);
	rc = prdshm_graph_build(*plan, n, &g, &diag);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	return g;
}

/* A valid plan built from specs: its definitions and its graph. */
struct built {
	prdshm_phase_def *p;
	prdshm_graph *g;
	size_t n;
};

/* build_ok() of the spec array @p s, whole. */
#define BUILD_OK(s) build_plan((s), sizeof(s) / sizeof((s)[0]))

static struct built build_plan(const spec *s, size_t n)
{
	struct built b = { NULL, NULL, n };

	b.g = build_ok(s, n, &b.p);
	return b;
}

static void unbuild(struct built *b)
{
	prdshm_graph_free(b->g);
	free_plan(b->p, b->n);
}

/* Build a plan that must fail with @p err; @p diag gets the diagnostic. */
static void build_fails(const spec *s, size_t n, int err, prdshm_diag *diag)
{
	prdshm_phase_def *plan = make_plan(s, n);
	prdshm_graph *g = (prdshm_graph *)&g; /* must be reset to NULL */
	int rc;

	memset(diag, 0, sizeof(*diag));
	diag->struct_size = sizeof(*diag);
	rc = prdshm_graph_build(plan, n, &g, diag);
	CU_ASSERT_EQUAL(rc, err);
	CU_ASSERT_PTR_NULL(g);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), diag->msg);
	free_plan(plan, n);
}

static size_t idx(const prdshm_graph *g, const char *id)
{
	long i = prdshm_graph_find(g, id);

	CU_ASSERT_FATAL(i >= 0);
	return (size_t)i;
}

/* The ids of wave @p w, space-separated, in the order the graph gives. */
static const char *wave_ids(const prdshm_graph *g, const prdshm_phase_def *p, size_t w)
{
	static char buf[256];
	const size_t *v = NULL;
	size_t n = prdshm_graph_wave(g, w, &v), len = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < n; k++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", k ? " " : "",
					p[v[k]].id);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* Waves                                                                    */

static void test_waves_chain(void)
{
	/* Listed last phase first: the waves must not depend on input order. */
	const spec s[] = {
		{ "d", "c", NULL, 0 },
		{ "c", "b", NULL, 0 },
		{ "b", "a", NULL, 0 },
		{ "a", NULL, NULL, 0 },
	};
	struct built bp = BUILD_OK(s);

	CU_ASSERT_EQUAL(prdshm_graph_nphases(bp.g), 4);
	CU_ASSERT_EQUAL(prdshm_graph_nwaves(bp.g), 4);
	CU_ASSERT_EQUAL(prdshm_graph_wave_of(bp.g, idx(bp.g, "a")), 0);
	CU_ASSERT_EQUAL(prdshm_graph_wave_of(bp.g, idx(bp.g, "b")), 1);
	CU_ASSERT_EQUAL(prdshm_graph_wave_of(bp.g, idx(bp.g, "c")), 2);
	CU_ASSERT_EQUAL(prdshm_graph_wave_of(bp.g, idx(bp.g, "d")), 3);
	CU_ASSERT_STRING_EQUAL(wave_ids(bp.g, bp.p, 0), "a");
	CU_ASSERT_STRING_EQUAL(wave_ids(bp.g, bp.p, 3), "d");
	unbuild(&bp);
}

static void test_waves_diamond(void)
{
	const spec s[] = {
		{ "top", "left right", NULL, 0 },
		{ "right", "base", NULL, 0 },
		{ "base", NULL, NULL, 0 },
		{ "left", "base", NULL, 0 },
	};
	struct built bp = BUILD_OK(s);
	const size_t *v = (const size_t *)&v;

	CU_ASSERT_EQUAL(prdshm_graph_nwaves(bp.g), 3);
	CU_ASSERT_STRING_EQUAL(wave_ids(bp.g, bp.p, 0), "base");
	/* Input order within a wave: right is listed before left. */
	CU_ASSERT_STRING_EQUAL(wave_ids(bp.g, bp.p, 1), "right left");
	CU_ASSERT_STRING_EQUAL(wave_ids(bp.g, bp.p, 2), "top");
	CU_ASSERT_EQUAL(prdshm_graph_wave_of(bp.g, 0), 2);
	/* Past the last wave: empty. */
	CU_ASSERT_EQUAL(prdshm_graph_wave(bp.g, 3, &v), 0);
	CU_ASSERT_PTR_NULL(v);
	unbuild(&bp);
}

static void test_waves_independent(void)
{
	const spec s[] = {
		{ "x", NULL, NULL, 0 },
		{ "y", NULL, NULL, 0 },
		{ "z", NULL, NULL, 0 },
	};
	struct built bp = BUILD_OK(s);

	CU_ASSERT_EQUAL(prdshm_graph_nwaves(bp.g), 1);
	CU_ASSERT_STRING_EQUAL(wave_ids(bp.g, bp.p, 0), "x y z");
	for (size_t i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(prdshm_graph_wave_of(bp.g, i), 0);
	unbuild(&bp);
}

static void test_empty_plan(void)
{
	prdshm_graph *g = NULL;
	const size_t *v = (const size_t *)&v;

	CU_ASSERT_EQUAL_FATAL(prdshm_graph_build(NULL, 0, &g, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_graph_nphases(g), 0);
	CU_ASSERT_EQUAL(prdshm_graph_nwaves(g), 0);
	CU_ASSERT_EQUAL(prdshm_graph_find(g, "a"), -1);
	CU_ASSERT_EQUAL(prdshm_graph_critical_path(g, &v), 0);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_EQUAL(prdshm_graph_critical_length(g), 0.0);
	CU_ASSERT_EQUAL(prdshm_graph_conflicts(g, NULL), 0);
	prdshm_graph_free(g);
	prdshm_graph_free(NULL);
	CU_ASSERT_EQUAL(prdshm_graph_build(NULL, 1, &g, NULL), PRDSHM_EINVAL);
}

static void test_find(void)
{
	const spec s[] = {
		{ "setup", NULL, NULL, 0 },
		{ "build-1", "setup", NULL, 0 },
		{ "test_all", "build-1", NULL, 0 },
	};
	struct built bp = BUILD_OK(s);

	CU_ASSERT_EQUAL(prdshm_graph_find(bp.g, "setup"), 0);
	CU_ASSERT_EQUAL(prdshm_graph_find(bp.g, "build-1"), 1);
	CU_ASSERT_EQUAL(prdshm_graph_find(bp.g, "test_all"), 2);
	CU_ASSERT_EQUAL(prdshm_graph_find(bp.g, "build"), -1);
	CU_ASSERT_EQUAL(prdshm_graph_find(bp.g, ""), -1);
	CU_ASSERT_EQUAL(prdshm_graph_find(bp.g, NULL), -1);
	unbuild(&bp);
}

/* ------------------------------------------------------------------------ */
/* Invalid plans                                                            */

static void test_unknown_dependency(void)
{
	const spec s[] = {
		{ "a", NULL, NULL, 0 },
		{ "b", "a x", NULL, 0 },
	};
	prdshm_diag d = PRDSHM_DIAG_INIT;

	build_fails(s, 2, PRDSHM_EUNKNOWNDEP, &d);
	CU_ASSERT_STRING_EQUAL(d.msg, "phase 'b' depends on unknown phase 'x'");
	CU_ASSERT_EQUAL(d.line, 20);
	CU_ASSERT_EQUAL(d.column, 3);
}

static void test_self_dependency(void)
{
	const spec s[] = {
		{ "a", NULL, NULL, 0 },
		{ "b", "a b", NULL, 0 },
	};
	prdshm_diag d = PRDSHM_DIAG_INIT;

	build_fails(s, 2, PRDSHM_ECYCLE, &d);
	CU_ASSERT_STRING_EQUAL(d.msg, "dependency cycle: b -> b");
	CU_ASSERT_EQUAL(d.line, 20);
}

static void test_cycle_of_three(void)
{
	const spec s[] = {
		{ "a", "b", NULL, 0 },
		{ "b", "c", NULL, 0 },
		{ "c", "a", NULL, 0 },
		{ "free", NULL, NULL, 0 },
	};
	prdshm_diag d = PRDSHM_DIAG_INIT;

	build_fails(s, 4, PRDSHM_ECYCLE, &d);
	CU_ASSERT_STRING_EQUAL(d.msg, "dependency cycle: a -> b -> c -> a");
	CU_ASSERT_EQUAL(d.line, 10);
}

static void test_cycle_after_prefix(void)
{
	/* "top" and "mid" lead into the cycle but are not part of it. */
	const spec s[] = {
		{ "top", "mid", NULL, 0 },
		{ "mid", "b root", NULL, 0 },
		{ "root", NULL, NULL, 0 },
		{ "a", "b", NULL, 0 },
		{ "b", "c", NULL, 0 },
		{ "c", "a", NULL, 0 },
	};
	prdshm_diag d = PRDSHM_DIAG_INIT;

	build_fails(s, 6, PRDSHM_ECYCLE, &d);
	CU_ASSERT_STRING_EQUAL(d.msg, "dependency cycle: b -> c -> a -> b");
	CU_ASSERT_PTR_NULL(strstr(d.msg, "top"));
	CU_ASSERT_PTR_NULL(strstr(d.msg, "mid"));
	CU_ASSERT_EQUAL(d.line, 50);
}

static void test_duplicate_id(void)
{
	const spec s[] = {
		{ "a", NULL, NULL, 0 },
		{ "b", NULL, NULL, 0 },
		{ "a", "b", NULL, 0 },
	};
	prdshm_diag d = PRDSHM_DIAG_INIT;

	build_fails(s, 3, PRDSHM_EINVAL, &d);
	CU_ASSERT_STRING_EQUAL(d.msg, "duplicate phase id 'a'");
	/* The second definition is the one to point at. */
	CU_ASSERT_EQUAL(d.line, 30);
	CU_ASSERT_EQUAL(d.column, 3);
}

static void test_invalid_id_and_weight(void)
{
	const spec bad_id[] = { { "a", NULL, NULL, 0 }, { "has space", NULL, NULL, 0 } };
	const spec neg[] = { { "a", NULL, NULL, -1 } };
	prdshm_diag d = PRDSHM_DIAG_INIT;

	build_fails(bad_id, 2, PRDSHM_EINVAL, &d);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "invalid phase id 'has space'"));
	CU_ASSERT_EQUAL(d.line, 20);
	build_fails(neg, 1, PRDSHM_EINVAL, &d);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "estimated_minutes"));
}

/* A cycle found from a phase whose first dependency is already placed,
 * with phase 0 outside it. */
static void test_cycle_behind_placed_phases(void)
{
	const spec s[] = {
		{ "root", NULL, NULL, 0 },
		{ "a", "root b", NULL, 0 },
		{ "b", "a", NULL, 0 },
	};
	prdshm_diag d = PRDSHM_DIAG_INIT;

	build_fails(s, 3, PRDSHM_ECYCLE, &d);
	CU_ASSERT_STRING_EQUAL(d.msg, "dependency cycle: a -> b -> a");
	CU_ASSERT_EQUAL(d.line, 20);
}

/* A cycle too long for the message ends with "..." within the buffer. */
static void test_long_cycle_message_truncated(void)
{
	enum { N = 12 };
	spec s[N];
	char ids[N][PRDSHM_ID_MAX + 1];
	prdshm_diag d = PRDSHM_DIAG_INIT;
	size_t len;

	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "phase-%02d-%054d", i, 0);
		s[i] = (spec){ ids[i], NULL, NULL, 0 };
	}
	for (int i = 0; i < N; i++)
		s[i].deps = ids[(i + 1) % N];
	build_fails(s, N, PRDSHM_ECYCLE, &d);
	len = strlen(d.msg);
	CU_ASSERT(len < sizeof(d.msg));
	CU_ASSERT(len > sizeof(d.msg) - 70);
	CU_ASSERT_EQUAL(strncmp(d.msg, "dependency cycle: phase-00-", 27), 0);
	CU_ASSERT_STRING_EQUAL(d.msg + len - 3, "...");
}

/* Hand-built definitions may hold NULL names: refused, not followed. */
static void test_null_dependency_and_output(void)
{
	const spec s[] = {
		{ "a", NULL, "out", 0 },
		{ "b", "a", NULL, 0 },
	};
	prdshm_phase_def *p = make_plan(s, 2);
	prdshm_graph *g = NULL;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	char *saved = p[1].deps[0];

	p[1].deps[0] = NULL;
	CU_ASSERT_EQUAL(prdshm_graph_build(p, 2, &g, &d), PRDSHM_EINVAL);
	CU_ASSERT_STRING_EQUAL(d.msg, "phase 'b' has a null dependency");
	CU_ASSERT_EQUAL(d.line, 20);
	CU_ASSERT_PTR_NULL(g);
	p[1].deps[0] = saved;
	saved = p[0].outputs[0];
	p[0].outputs[0] = NULL;
	CU_ASSERT_EQUAL(prdshm_graph_build(p, 2, &g, &d), PRDSHM_EINVAL);
	CU_ASSERT_STRING_EQUAL(d.msg, "phase 'a' has a null output");
	CU_ASSERT_EQUAL(d.line, 10);
	CU_ASSERT_PTR_NULL(g);
	p[0].outputs[0] = saved;
	free_plan(p, 2);
}

static void test_duplicate_dependency_kept_once(void)
{
	const spec s[] = {
		{ "a", NULL, NULL, 2 },
		{ "b", "a a", NULL, 3 },
	};
	struct built bp = BUILD_OK(s);

	CU_ASSERT_EQUAL(prdshm_graph_wave_of(bp.g, 1), 1);
	CU_ASSERT_TRUE(prdshm_graph_depends_on(bp.g, 1, 0));
	CU_ASSERT_EQUAL(prdshm_graph_remaining(bp.g, 0), 5.0);
	unbuild(&bp);
}

/* ------------------------------------------------------------------------ */
/* Dependencies and conflicts                                               */

static void test_depends_on_transitive(void)
{
	const spec s[] = {
		{ "a", NULL, NULL, 0 },
		{ "b", "a", NULL, 0 },
		{ "c", "b", NULL, 0 },
		{ "d", NULL, NULL, 0 },
		{ "e", "c d", NULL, 0 },
	};
	struct built bp = BUILD_OK(s);

	CU_ASSERT_TRUE(prdshm_graph_depends_on(bp.g, 1, 0));
	CU_ASSERT_TRUE(prdshm_graph_depends_on(bp.g, 2, 0));
	CU_ASSERT_TRUE(prdshm_graph_depends_on(bp.g, 4, 0));
	CU_ASSERT_TRUE(prdshm_graph_depends_on(bp.g, 4, 3));
	CU_ASSERT_FALSE(prdshm_graph_depends_on(bp.g, 0, 2));
	CU_ASSERT_FALSE(prdshm_graph_depends_on(bp.g, 2, 3));
	CU_ASSERT_FALSE(prdshm_graph_depends_on(bp.g, 3, 0));
	CU_ASSERT_FALSE(prdshm_graph_depends_on(bp.g, 2, 2));
	CU_ASSERT_FALSE(prdshm_graph_depends_on(bp.g, 2, 99));
	unbuild(&bp);
}

static void test_conflict_independent(void)
{
	const spec s[] = {
		{ "a", NULL, "report.txt lib.a", 0 },
		{ "b", NULL, "other", 0 },
		{ "c", NULL, "report.txt", 0 },
	};
	struct built bp = BUILD_OK(s);
	const prdshm_conflict *c = NULL;

	CU_ASSERT_EQUAL_FATAL(prdshm_graph_conflicts(bp.g, &c), 1);
	CU_ASSERT_EQUAL(c[0].a, 0);
	CU_ASSERT_EQUAL(c[0].b, 2);
	CU_ASSERT_STRING_EQUAL(c[0].resource, "report.txt");
	/* The resource points into the phase definitions. */
	CU_ASSERT_PTR_EQUAL(c[0].resource, bp.p[0].outputs[0]);
	unbuild(&bp);
}

static void test_conflict_ordered_phases(void)
{
	/* c depends on a through b: never at once, no conflict.  d is free. */
	const spec s[] = {
		{ "c", "b", "out", 0 },
		{ "a", NULL, "out", 0 },
		{ "b", "a", NULL, 0 },
	};
	const spec s2[] = {
		{ "c", "b", "out", 0 },
		{ "a", NULL, "out", 0 },
		{ "b", "a", NULL, 0 },
		{ "d", "a", "out out", 0 },
	};
	struct built bp = BUILD_OK(s);
	const prdshm_conflict *c = NULL;

	CU_ASSERT_EQUAL(prdshm_graph_conflicts(bp.g, &c), 0);
	unbuild(&bp);

	/* d comes after a but may run with c, and lists "out" twice. */
	bp = BUILD_OK(s2);
	CU_ASSERT_EQUAL_FATAL(prdshm_graph_conflicts(bp.g, &c), 1);
	CU_ASSERT_EQUAL(c[0].a, 0);
	CU_ASSERT_EQUAL(c[0].b, 3);
	CU_ASSERT_STRING_EQUAL(c[0].resource, "out");
	unbuild(&bp);
}

static void test_conflicts_sorted(void)
{
	/* Four writers of "x": e after a; the rest free.  Sorted by (a, b). */
	const spec s[] = {
		{ "e", "a", "x", 0 },
		{ "a", NULL, "x y", 0 },
		{ "b", NULL, "x", 0 },
		{ "c", NULL, "y", 0 },
	};
	struct built bp = BUILD_OK(s);
	const prdshm_conflict *c = NULL;
	const size_t want[][2] = { { 0, 2 }, { 1, 2 }, { 1, 3 } };
	const char *res[] = { "x", "x", "y" };

	CU_ASSERT_EQUAL_FATAL(prdshm_graph_conflicts(bp.g, &c), 3);
	for (size_t k = 0; k < 3; k++) {
		CU_ASSERT_EQUAL(c[k].a, want[k][0]);
		CU_ASSERT_EQUAL(c[k].b, want[k][1]);
		CU_ASSERT_STRING_EQUAL(c[k].resource, res[k]);
	}
	unbuild(&bp);
}

/* One pair conflicting over two resources: both listed, by name. */
static void test_pair_conflicts_on_two_resources(void)
{
	const spec s[] = {
		{ "a", NULL, "y x", 0 },
		{ "b", NULL, "x y", 0 },
	};
	struct built bp = BUILD_OK(s);
	const prdshm_conflict *c = NULL;

	CU_ASSERT_EQUAL_FATAL(prdshm_graph_conflicts(bp.g, &c), 2);
	CU_ASSERT_EQUAL(c[0].a, 0);
	CU_ASSERT_EQUAL(c[0].b, 1);
	CU_ASSERT_STRING_EQUAL(c[0].resource, "x");
	CU_ASSERT_STRING_EQUAL(c[1].resource, "y");
	/* Out of range questions get neutral answers. */
	CU_ASSERT_EQUAL(prdshm_graph_wave_of(bp.g, 2), SIZE_MAX);
	CU_ASSERT_EQUAL(prdshm_graph_remaining(bp.g, 2), 0.0);
	CU_ASSERT_EQUAL(prdshm_graph_wave_of(NULL, 0), SIZE_MAX);
	CU_ASSERT_EQUAL(prdshm_graph_remaining(NULL, 0), 0.0);
	unbuild(&bp);
}

/* ------------------------------------------------------------------------ */
/* Critical path                                                            */

/* A weighted plan; f, weightless, comes last so that a test can leave it
 * out. */
static const spec weighted[] = {
	{ "a", NULL, NULL, 10 },
	{ "b", "a", NULL, 5 },
	{ "c", "a", NULL, 20 },
	{ "d", "b c", NULL, 1 },
	{ "e", NULL, NULL, 30 },
	{ "f", NULL, NULL, 0 },
};

static void test_critical_path(void)
{
	struct built bp = build_plan(weighted, 5); /* without f */
	const size_t *path = NULL;

	CU_ASSERT_EQUAL(prdshm_graph_critical_length(bp.g), 31.0);
	CU_ASSERT_EQUAL_FATAL(prdshm_graph_critical_path(bp.g, &path), 3);
	CU_ASSERT_EQUAL(path[0], 0);
	CU_ASSERT_EQUAL(path[1], 2);
	CU_ASSERT_EQUAL(path[2], 3);
	unbuild(&bp);
}

static void test_remaining_priorities(void)
{
	struct built bp = BUILD_OK(weighted);

	CU_ASSERT_EQUAL(prdshm_graph_remaining(bp.g, 0), 31.0);
	CU_ASSERT_EQUAL(prdshm_graph_remaining(bp.g, 1), 6.0);
	CU_ASSERT_EQUAL(prdshm_graph_remaining(bp.g, 2), 21.0);
	CU_ASSERT_EQUAL(prdshm_graph_remaining(bp.g, 3), 1.0);
	CU_ASSERT_EQUAL(prdshm_graph_remaining(bp.g, 4), 30.0);
	CU_ASSERT_EQUAL(prdshm_graph_remaining(bp.g, 5), 0.0);
	unbuild(&bp);
}

static void test_critical_path_ties(void)
{
	/* Two equal branches and two equal roots: input order decides. */
	const spec s[] = {
		{ "r2", NULL, NULL, 4 },
		{ "r1", NULL, NULL, 1 },
		{ "x", "r1", NULL, 3 },
		{ "y", "r1", NULL, 3 },
	};
	struct built bp = BUILD_OK(s);
	const size_t *path = NULL;

	CU_ASSERT_EQUAL(prdshm_graph_critical_length(bp.g), 4.0);
	CU_ASSERT_EQUAL_FATAL(prdshm_graph_critical_path(bp.g, &path), 1);
	CU_ASSERT_EQUAL(path[0], 0);
	unbuild(&bp);

	bp.p = make_plan(s + 1, 3);
	CU_ASSERT_EQUAL_FATAL(prdshm_graph_build(bp.p, 3, &bp.g, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_graph_critical_path(bp.g, &path), 2);
	CU_ASSERT_EQUAL(path[0], 0);
	CU_ASSERT_EQUAL(path[1], 1);
	prdshm_graph_free(bp.g);
	free_plan(bp.p, 3);
}

const tu_test tu_tests[] = {
	TU(test_waves_chain),
	TU(test_waves_diamond),
	TU(test_waves_independent),
	TU(test_empty_plan),
	TU(test_find),
	TU(test_unknown_dependency),
	TU(test_self_dependency),
	TU(test_cycle_of_three),
	TU(test_cycle_after_prefix),
	TU(test_duplicate_id),
	TU(test_invalid_id_and_weight),
	TU(test_cycle_behind_placed_phases),
	TU(test_long_cycle_message_truncated),
	TU(test_null_dependency_and_output),
	TU(test_duplicate_dependency_kept_once),
	TU(test_depends_on_transitive),
	TU(test_conflict_independent),
	TU(test_conflict_ordered_phases),
	TU(test_conflicts_sorted),
	TU(test_pair_conflicts_on_two_resources),
	TU(test_critical_path),
	TU(test_remaining_priorities),
	TU(test_critical_path_ties),
	{ NULL, NULL },
};
const char *tu_suite = "graph";
