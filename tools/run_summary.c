/*
 * run_summary.c: prdshm-run's report at the end of a run: the waves, the
 * phases, the critical path by estimate and as it went, and what did not
 * complete.  See run_summary.h.
 */
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>

#include "common.h"
#include "run_summary.h"

static void fmt_minutes(double m, char *buf, size_t size)
{
	if (m < 1)
		snprintf(buf, size, "%.0fs", m * 60);
	else if (m < 60)
		snprintf(buf, size, "%.0fm", m);
	else
		snprintf(buf, size, "%dh%02dm", (int)(m / 60), (int)m % 60);
}

static void print_waves(const prdshm_snapshot *s)
{
	printf("\n%4s %-8s %6s %9s %6s %s\n", "WAVE", "STATUS", "PHASES", "COMPLETED", "FAILED",
	       "DURATION");
	for (size_t w = 0; w < s->nwaves; w++) {
		const prdshm_wave_info *v = &s->waves[w];
		char d[32] = "-";

		if (v->start_ns && v->end_ns)
			tool_format_duration(tool_span_ns(v->start_ns, v->end_ns), d, sizeof(d));
		printf("%4u %-8s %6u %9u %6u %s\n", (unsigned)w, v->status ? v->status : "?",
		       (unsigned)v->nphases, (unsigned)v->ncompleted, (unsigned)v->nfailed, d);
	}
}

/* The phases; LOCK WAIT is the part of the duration a phase was seen
 * waiting for locks (@p waited, by phase; NULL: none seen). */
static void print_phases(const prdshm_snapshot *s, const uint64_t *waited)
{
	printf("\n%-17s %4s %-11s %-10s %5s %8s %9s %8s\n", "PHASE", "WAVE", "STATUS", "AGENT",
	       "TRIES", "DURATION", "LOCK WAIT", "ESTIMATE");
	for (size_t i = 0; i < s->nphases; i++) {
		const prdshm_phase_info *p = &s->phases[i];
		char d[32] = "-", e[32] = "-", w[32] = "-";

		if (p->start_ns && p->end_ns)
			tool_format_duration(tool_span_ns(p->start_ns, p->end_ns), d, sizeof(d));
		if (waited && waited[i])
			tool_format_duration(waited[i], w, sizeof(w));
		if (p->estimated_minutes > 0)
			fmt_minutes(p->estimated_minutes, e, sizeof(e));
		printf("%-17s %4u %-11s %-10s %5u %8s %9s %8s\n", p->id, (unsigned)p->wave,
		       prdshm_phase_status_name(p->status), p->agent_id[0] ? p->agent_id : "-",
		       (unsigned)p->attempts, d, w, e);
	}
}

static void print_path(const char *label, const prdshm_graph *g, const prdshm_phase_def *defs,
		       const char *length)
{
	const size_t *idx;
	size_t n = prdshm_graph_critical_path(g, &idx);

	printf("%s", label);
	for (size_t k = 0; k < n; k++)
		printf("%s%s", k ? " > " : "", defs[idx[k]].id);
	printf("%s(%s)\n", n ? " " : "", length);
}

/* 1 if phase @p p ran to an end: completed, or failed after it started.
 * A phase BLOCKED, CANCELLED before it started or still QUEUED did not. */
static int ran(const prdshm_phase_info *p)
{
	return p->start_ns != 0 && p->end_ns != 0;
}

/* The graph of the phases that ran, with their actual durations: the
 * dependencies on phases that did not run are left out, so that a phase
 * that never ran cannot lengthen the path or appear on it.  @p defs and
 * @p deps (one array of every phase's kept dependencies) are the caller's
 * to free; @p map gets the snapshot index of each def.
 * @return 0 or -1 (no memory, or the graph would not build). */
static int ran_graph(prdshm_snapshot *s, prdshm_phase_def *defs, char **deps, size_t *map,
		     size_t *ndefs, prdshm_graph **g)
{
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	size_t n = 0, nd = 0;

	for (size_t i = 0; i < s->nphases; i++) {
		prdshm_phase_info *p = &s->phases[i];

		if (!ran(p))
			continue;
		defs[n] = (prdshm_phase_def){ .id = p->id, .name = p->name,
					      .deps = deps + nd };
		defs[n].estimated_minutes = (double)tool_span_ns(p->start_ns, p->end_ns) / 60e9;
		for (size_t k = 0; k < p->ndeps; k++) {
			const prdshm_phase_info *d = tool_phase_by_id(s, p->deps[k]);

			if (d && ran(d))
				deps[nd++] = p->deps[k];
		}
		defs[n].ndeps = (size_t)(deps + nd - defs[n].deps);
		map[n++] = i;
	}
	*ndefs = n;
	return n > 0 && prdshm_graph_build(defs, n, g, &diag) == 0 ? 0 : -1;
}

/* The critical path as it went: only the phases that ran (ran()). */
static void print_actual(prdshm_snapshot *s, uint64_t wall_ns)
{
	size_t ndeps = 0, n = 0, *map = calloc(s->nphases + 1, sizeof(*map));
	prdshm_phase_def *defs = calloc(s->nphases + 1, sizeof(*defs));
	prdshm_graph *g = NULL;
	char **deps, len[32], wall[32];

	for (size_t i = 0; i < s->nphases; i++)
		ndeps += s->phases[i].ndeps;
	deps = calloc(ndeps + 1, sizeof(*deps));
	tool_format_duration(wall_ns, wall, sizeof(wall));
	if (defs && deps && map && ran_graph(s, defs, deps, map, &n, &g) == 0) {
		tool_format_duration((uint64_t)(prdshm_graph_critical_length(g) * 60e9), len,
				     sizeof(len));
		print_path("Critical path, actual:    ", g, defs, len);
		printf("(the run took %s: the waits for waves and locks make the difference)\n",
		       wall);
	} else if (defs && deps && map && n == 0) {
		printf("Critical path, actual:    none: no phase ran to its end\n");
	}
	prdshm_graph_free(g);
	free(deps);
	free(defs);
	free(map);
}

/* The critical path by estimate, with the graph of the plan stored in the
 * segment, then as it went. */
static void print_critical(prdshm_snapshot *s, uint64_t wall_ns)
{
	prdshm_phase_def *defs = calloc(s->nphases ? s->nphases : 1, sizeof(*defs));
	prdshm_graph *g = NULL;
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	char len[32];

	if (defs == NULL)
		return;
	for (size_t i = 0; i < s->nphases; i++) {
		prdshm_phase_info *p = &s->phases[i];
		defs[i] = (prdshm_phase_def){ .id = p->id, .name = p->name, .deps = p->deps,
					      .ndeps = p->ndeps, .estimated_minutes =
								 p->estimated_minutes };
	}
	if (prdshm_graph_build(defs, s->nphases, &g, &diag) == 0) {
		fmt_minutes(prdshm_graph_critical_length(g), len, sizeof(len));
		print_path("\nCritical path, estimated: ", g, defs, len);
	}
	prdshm_graph_free(g);
	free(defs);
	print_actual(s, wall_ns);
}

static void print_failures(const prdshm_snapshot *s)
{
	int header = 0;

	for (size_t i = 0; i < s->nphases; i++) {
		const prdshm_phase_info *p = &s->phases[i];

		if (p->status == PRDSHM_PHASE_COMPLETED || p->status == PRDSHM_PHASE_SKIPPED)
			continue;
		if (!header++)
			printf("\nNot completed:\n");
		printf("  %s: %s", p->id, prdshm_phase_status_name(p->status));
		if (p->status == PRDSHM_PHASE_FAILED)
			printf(" on %s, exit %d", p->agent_id, p->exit_status);
		if (p->message[0])
			printf(": %s", p->message);
		putchar('\n');
	}
}

int run_summary(prdshm_snapshot *s, const char *name, uint64_t wall, unsigned agents,
		unsigned replaced, const uint64_t *waited)
{
	size_t ok = tool_count_done(s);
	char w[32];

	tool_format_duration(wall, w, sizeof(w));
	printf("\n%s: %zu of %zu phases completed in %s with %u agents (%u replaced)\n", name, ok,
	       s->nphases, w, agents, replaced);
	if (tool_verbosity >= 0) {
		print_waves(s);
		print_phases(s, waited);
		print_critical(s, wall);
	}
	print_failures(s);
	fflush(stdout);
	return ok == s->nphases ? 0 : 1;
}

/* " A B C": the phases that a retry brings back, at most @p size bytes. */
static size_t retry_ids(const prdshm_snapshot *s, char *buf, size_t size)
{
	size_t n = 0, o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->nphases; i++) {
		const prdshm_phase_info *p = &s->phases[i];
		int m;

		if (p->status != PRDSHM_PHASE_FAILED && p->status != PRDSHM_PHASE_CANCELLED)
			continue;
		n++;
		m = snprintf(buf + o, size - o, " %s", p->id);
		if (m < 0 || (size_t)m >= size - o) {
			buf[o] = '\0';
			break;
		}
		o += (size_t)m;
	}
	return n;
}

void run_resume_hint(const prdshm_snapshot *s, const char *name, const char *config, int kept)
{
	char ids[1024], opt[PATH_MAX + 16] = "";

	if (tool_count_done(s) == s->nphases)
		return;
	if (config)
		snprintf(opt, sizeof(opt), " -c %s", config);
	if (!kept)
		printf("\nThe segment is removed: to resume a run like this, run it with --keep, "
		       "then:\n");
	else
		printf("\nTo resume:\n");
	if (retry_ids(s, ids, sizeof(ids)) > 0)
		printf("  prdshm-phase --name %s retry%s\n", name, ids);
	printf("  prdshm-run%s --name %s --attach\n", opt, name);
}
