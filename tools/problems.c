/*
 * problems.c: collecting prdshm_check()'s findings, and finding the locks
 * held too long by stopped processes.  See problems.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "problems.h"

static void collect_problem(void *ctx, int severity, const char *msg)
{
	tool_problems *pb = ctx;
	char *copy;

	if (pb->n == pb->cap) {
		size_t ncap = pb->cap ? pb->cap * 2 : 8;
		tool_problem *v = realloc(pb->v, ncap * sizeof(*v));

		if (v == NULL)
			return; /* the result code still says what was found */
		pb->v = v;
		pb->cap = ncap;
	}
	copy = strdup(msg);
	if (copy == NULL)
		return;
	pb->v[pb->n].severity = severity;
	pb->v[pb->n].message = copy;
	pb->n++;
}

int tool_check(prdshm_seg *seg, unsigned flags, tool_problems *pb)
{
	memset(pb, 0, sizeof(*pb));
	pb->result = prdshm_check(seg, flags, collect_problem, pb);
	return pb->result;
}

/* A lock held by a stopped process: a warning of its own.  The format
 * names what a reader needs to act: the holder, its pid, for how long. */
static void stuck_problem(tool_problems *pb, const prdshm_lock_info *li, const prdshm_holder *h,
			  uint64_t held_ns, int limit_s)
{
	char dur[32], msg[512];

	tool_format_duration(held_ns, dur, sizeof(dur));
	snprintf(msg, sizeof(msg),
		 "lock '%.*s': held for %s by stopped process %d (agent %s%s%s), longer "
		 "than lock_timeout_seconds (%d s)",
		 (int)(li->resource_len > 64 ? 64 : li->resource_len), li->resource, dur,
		 (int)h->pid, h->agent_id, h->phase_id[0] ? ", phase " : "", h->phase_id,
		 limit_s);
	collect_problem(pb, PRDSHM_CHECK_WARN, msg);
	pb->nstuck++;
}

size_t tool_check_stuck(const prdshm_snapshot *snap, tool_problems *pb)
{
	int limit_s = snap->seg.lock_timeout_seconds > 0 ? snap->seg.lock_timeout_seconds : 0;
	uint64_t limit_ns = (uint64_t)limit_s * 1000000000u;

	for (size_t l = 0; l < snap->nlocks; l++) {
		const prdshm_lock_info *li = &snap->locks[l];

		for (size_t i = 0; i < li->nholders && i < li->nrecords; i++) {
			const prdshm_holder *h = &li->holders[i];
			uint64_t held = tool_span_ns(h->since_ns, snap->taken_ns);

			if (h->proc_state == PRDSHM_PROC_STOPPED && !h->released &&
			    h->since_ns != 0 && held > limit_ns)
				stuck_problem(pb, li, h, held, limit_s);
		}
	}
	return pb->nstuck;
}

void tool_problems_free(tool_problems *pb)
{
	if (pb == NULL)
		return;
	for (size_t i = 0; i < pb->n; i++)
		free(pb->v[i].message);
	free(pb->v);
	memset(pb, 0, sizeof(*pb));
}

const char *tool_severity_name(int severity)
{
	return severity == PRDSHM_CHECK_ERROR ? "error" : "warning";
}
