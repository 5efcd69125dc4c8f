/*
 * run_events.c: what happened in a run between two snapshots, told as
 * prdshm-run's events: phases that started, ended, failed or were queued
 * again, waves that closed and opened.  See run_events.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "run_events.h"

static void phase_started(run_view *v, const prdshm_phase_info *n)
{
	if (n->attempts > 1)
		run_event(v, 0, "%s started on %s (attempt %u)", n->id, n->agent_id,
		      (unsigned)n->attempts);
	else
		run_event(v, 0, "%s started on %s", n->id, n->agent_id);
}

static void phase_changed(run_view *v, const prdshm_phase_info *o, const prdshm_phase_info *n)
{
	char d[32];

	tool_format_duration(tool_span_ns(n->start_ns, n->end_ns), d, sizeof(d));
	switch (n->status) {
	case PRDSHM_PHASE_COMPLETED:
		run_event(v, 0, "%s completed on %s in %s", n->id, n->agent_id, d);
		break;
	case PRDSHM_PHASE_FAILED:
		run_event(v, 1, "%s FAILED on %s after %s (exit %d): %s", n->id, n->agent_id, d,
		      n->exit_status, n->message);
		break;
	case PRDSHM_PHASE_QUEUED:
		if (o->status == PRDSHM_PHASE_IN_PROGRESS)
			run_event(v, 1, "%s failed on %s after %s (exit %d): %s; queued again", n->id,
			      n->agent_id, d, n->exit_status, n->message);
		else if (o->status != PRDSHM_PHASE_NOT_STARTED)
			run_event(v, 0, "%s queued again (was %s)", n->id,
			      prdshm_phase_status_name(o->status));
		break;
	case PRDSHM_PHASE_CANCELLED:
		run_event(v, 1, "%s cancelled%s%s", n->id, n->message[0] ? ": " : "", n->message);
		break;
	case PRDSHM_PHASE_BLOCKED:
		run_event(v, 0, "%s blocked: a dependency did not complete", n->id);
		break;
	case PRDSHM_PHASE_SKIPPED:
		run_event(v, 0, "%s skipped", n->id);
		break;
	default:
		break;
	}
}

/* A phase may go through several states between two snapshots: report
 * the start of each new attempt, then where it is now. */
static void diff_phase(run_view *v, const prdshm_phase_info *o, const prdshm_phase_info *n)
{
	int new_attempt = n->attempts > o->attempts;

	if (new_attempt && o->status == PRDSHM_PHASE_IN_PROGRESS)
		run_event(v, 1, "%s attempt %u on %s failed; queued again", o->id,
		      (unsigned)o->attempts, o->agent_id);
	if (new_attempt)
		phase_started(v, n);
	if (n->status != o->status || new_attempt)
		phase_changed(v, o, n);
}

static void waves_finished(run_view *v, const prdshm_snapshot *o, const prdshm_snapshot *n)
{
	for (size_t w = 0; w < n->nwaves && w < o->nwaves; w++) {
		const prdshm_wave_info *a = &o->waves[w], *b = &n->waves[w];
		char d[32];

		if (a->end_ns != 0 || b->end_ns == 0)
			continue;
		tool_format_duration(tool_span_ns(b->start_ns, b->end_ns), d, sizeof(d));
		if (b->start_ns == 0)
			run_event(v, 0, "wave %u closed: none of its %u phases could run", (unsigned)w,
			      (unsigned)b->nphases);
		else if (b->nfailed)
			run_event(v, 0, "wave %u finished in %s: %u of %u phases did not complete",
			      (unsigned)w, d, (unsigned)b->nfailed, (unsigned)b->nphases);
		else
			run_event(v, 0, "wave %u finished in %s", (unsigned)w, d);
	}
}

void run_wave_opened(run_view *v, const prdshm_snapshot *s)
{
	unsigned n;

	if (s->current_wave >= s->nwaves || tool_count_open(s) == 0)
		return;
	n = (unsigned)s->waves[s->current_wave].nphases;
	run_event(v, 0, "wave %u opened: %u phase%s", (unsigned)s->current_wave, n, n == 1 ? "" : "s");
}

/* What phase @p p of @p s waits for: its lock's name in @p res, and who
 * holds it, "A (pid N, phase P), ..." in @p by ("" for nobody now: the
 * grant is on its way).  @return 1, or 0 if it waits for no lock. */
static int phase_waits(const prdshm_snapshot *s, const prdshm_phase_info *p, char *res,
		       char *by)
{
	const prdshm_lock_info *li;
	size_t w;

	if (p->status != PRDSHM_PHASE_IN_PROGRESS || !tool_phase_wait(s, p, &li, &w))
		return 0;
	tool_bytes_text(li->resource, li->resource_len, res, RUN_RES_MAX);
	tool_blockers_text(li, w, by, RUN_BY_MAX);
	return 1;
}

/* 1 if phase @p p of @p s holds the lock named @p res (as phase_waits()
 * writes it): an agent that waits in slices lets go of its request between
 * two, which is no grant. */
static int holds(const prdshm_snapshot *s, const prdshm_phase_info *p, const char *res)
{
	char name[RUN_RES_MAX];

	if (p->status != PRDSHM_PHASE_IN_PROGRESS)
		return 0;
	for (size_t i = 0; i < s->nlocks; i++) {
		const prdshm_lock_info *li = &s->locks[i];

		tool_bytes_text(li->resource, li->resource_len, name, sizeof(name));
		if (strcmp(name, res) != 0)
			continue;
		for (size_t k = 0; k < li->nholders; k++)
			if (strcmp(li->holders[k].phase_id, p->id) == 0)
				return 1;
	}
	return 0;
}

/* Phase @p i of @p n waits: count the time since the last snapshot, or
 * since its wait began if later, as waiting. */
static void add_wait(run_view *v, const prdshm_snapshot *o, const prdshm_snapshot *n, size_t i)
{
	const prdshm_lock_info *li;
	uint64_t from = o->taken_ns;
	size_t w;

	if (v->waited == NULL)
		v->waited = calloc(n->nphases, sizeof(*v->waited));
	if (v->waited == NULL || !tool_phase_wait(n, &n->phases[i], &li, &w))
		return;
	if (li->holders[w].since_ns > from)
		from = li->holders[w].since_ns;
	v->waited[i] += tool_span_ns(from, n->taken_ns);
}

/* A phase in progress whose command began or stopped waiting for a lock:
 * without this its time would read as work.  Only waits that last over a
 * tick are seen. */
static void lock_waits(run_view *v, const prdshm_snapshot *o, const prdshm_snapshot *n)
{
	for (size_t i = 0; i < n->nphases && i < o->nphases; i++) {
		const prdshm_phase_info *a = &o->phases[i], *b = &n->phases[i];
		char ra[RUN_RES_MAX], rb[RUN_RES_MAX], ba[RUN_BY_MAX], bb[RUN_BY_MAX];
		int wa = phase_waits(o, a, ra, ba), wb = phase_waits(n, b, rb, bb);

		if (wa && a->attempts != b->attempts)
			wa = 0; /* a new attempt: a new wait */
		if (wb)
			add_wait(v, o, n, i);
		if (wb && (!wa || strcmp(ra, rb) != 0))
			run_event(v, 0, "%s waiting for lock %s%s%s", b->id, rb,
				  bb[0] ? ", held by " : "", bb);
		else if (wa && !wb && holds(n, b, ra))
			run_event(v, 0, "%s got lock %s: running", b->id, ra);
	}
}

/* Events in the order they happened as far as one can tell: phases that
 * ended, then the waves that this closed and opened, then new starts. */
void run_diff(run_view *v, const prdshm_snapshot *o, const prdshm_snapshot *n)
{
	for (size_t i = 0; i < n->nphases && i < o->nphases; i++) {
		if (n->phases[i].status != PRDSHM_PHASE_IN_PROGRESS)
			diff_phase(v, &o->phases[i], &n->phases[i]);
	}
	waves_finished(v, o, n);
	if (n->current_wave != o->current_wave)
		run_wave_opened(v, n);
	for (size_t i = 0; i < n->nphases && i < o->nphases; i++) {
		if (n->phases[i].status == PRDSHM_PHASE_IN_PROGRESS)
			diff_phase(v, &o->phases[i], &n->phases[i]);
	}
	lock_waits(v, o, n);
}
