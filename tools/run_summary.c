/*
 * run_summary.c: prdshm-run's report at the end of a run: the waves, the
 * phases, the critical path by estimate and as it went, and what did not
 * complete.  See run_summary.h.
 */
#include <stdio.h>
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

static void print_phases(const prdshm_snapshot *s)
{
	printf("\n%-20s %4s %-11s %-12s %5s %9s %9s\n", "PHASE", "WAVE", "STATUS", "AGENT",
	       "TRIES", "DURATION", "ESTIMATE");
	for (size_t i = 0; i < s->nphases; i++) {
		const prdshm_phase_info *p = &s->phases[i];
		char d[32] = "-", e[32] = "-";

		if (p->start_ns && p->end_ns)
			tool_format_duration(tool_span_ns(p->start_ns, p->end_ns), d, sizeof(d));
		if (p->estimated_minutes > 0)
			fmt_minutes(p->estimated_minutes, e, sizeof(e));
		printf("%-20s %4u %-11s %-12s %5u %9s %9s\n", p->id, (unsigned)p->wave,
		       prdshm_phase_status_name(p->status), p->agent_id[0] ? p->agent_id : "-",
		       (unsigned)p->attempts, d, e);
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

/* The critical path by estimate, then by the phases' actual durations,
 * both with the graph of the plan stored in the segment. */
static void print_critical(prdshm_snapshot *s, uint64_t wall_ns)
{
	prdshm_phase_def *defs = calloc(s->nphases ? s->nphases : 1, sizeof(*defs));
	prdshm_graph *g = NULL;
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	char len[32], wall[32];

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
	g = NULL;
	for (size_t i = 0; i < s->nphases; i++)
		defs[i].estimated_minutes =
			(double)tool_span_ns(s->phases[i].start_ns, s->phases[i].end_ns) / 60e9;
	if (prdshm_graph_build(defs, s->nphases, &g, &diag) == 0) {
		tool_format_duration((uint64_t)(prdshm_graph_critical_length(g) * 60e9), len, sizeof(len));
		tool_format_duration(wall_ns, wall, sizeof(wall));
		print_path("Critical path, actual:    ", g, defs, len);
		printf("(the run took %s: the waits for waves and locks make the difference)\n",
		       wall);
	}
	prdshm_graph_free(g);
	free(defs);
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
		unsigned replaced)
{
	size_t ok = tool_count_done(s);
	char w[32];

	tool_format_duration(wall, w, sizeof(w));
	printf("\n%s: %zu of %zu phases completed in %s with %u agents (%u replaced)\n", name, ok,
	       s->nphases, w, agents, replaced);
	if (tool_verbosity >= 0) {
		print_waves(s);
		print_phases(s);
		print_critical(s, wall);
	}
	print_failures(s);
	fflush(stdout);
	return ok == s->nphases ? 0 : 1;
}
