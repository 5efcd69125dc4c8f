/*
 * snapinfo.c: what the tools read out of a snapshot besides printing it:
 * who waits for whom, phase ids, live agents, phase counts.
 * See snapinfo.h.
 */
#include <stdio.h>
#include <string.h>

#include "fmt.h"
#include "snapinfo.h"

/* ------------------------------------------------------------------------ */
/* Who waits for whom                                                       */

static int conflicts(prdshm_mode a, prdshm_mode b)
{
	return a == PRDSHM_EXCLUSIVE || b == PRDSHM_EXCLUSIVE;
}

size_t tool_blockers(const prdshm_lock_info *li, size_t w, size_t *out, size_t cap)
{
	const prdshm_holder *me = &li->holders[w];
	size_t n = 0;

	for (size_t i = 0; i < li->nrecords; i++) {
		const prdshm_holder *h = &li->holders[i];

		if (i == w || h->slot == me->slot)
			continue;
		if (i >= li->nholders && i > w)
			break; /* later waiters never block an earlier one */
		if (!conflicts(h->mode, me->mode))
			continue;
		if (n < cap)
			out[n] = i;
		n++;
	}
	return n;
}

const char *tool_phase_id_of(const prdshm_snapshot *snap, int32_t index)
{
	for (size_t i = 0; i < snap->nphases; i++)
		if (snap->phases[i].index == index)
			return snap->phases[i].id;
	return NULL;
}

const prdshm_phase_info *tool_phase_by_id(const prdshm_snapshot *snap, const char *id)
{
	for (size_t i = 0; i < snap->nphases; i++)
		if (strcmp(snap->phases[i].id, id) == 0)
			return &snap->phases[i];
	return NULL;
}

int tool_phase_wait(const prdshm_snapshot *snap, const prdshm_phase_info *p,
		    const prdshm_lock_info **li, size_t *w)
{
	for (size_t i = 0; i < snap->nlocks; i++) {
		const prdshm_lock_info *l = &snap->locks[i];

		for (size_t k = l->nholders; k < l->nrecords; k++) {
			if (strcmp(l->holders[k].phase_id, p->id) == 0) {
				*li = l;
				*w = k;
				return 1;
			}
		}
	}
	return 0;
}

size_t tool_blockers_text(const prdshm_lock_info *li, size_t w, char *buf, size_t size)
{
	size_t idx[8], o = 0;
	size_t n = tool_blockers(li, w, idx, 8);

	buf[0] = '\0';
	for (size_t k = 0; k < n && k < 8 && o < size; k++) {
		const prdshm_holder *h = &li->holders[idx[k]];
		char agent[4 * PRDSHM_ID_MAX + 1], phase[4 * PRDSHM_ID_MAX + 1];
		int m;

		/* Read from the segment: escaped like any untrusted bytes. */
		tool_bytes_text(h->agent_id, strlen(h->agent_id), agent, sizeof(agent));
		tool_bytes_text(h->phase_id, strlen(h->phase_id), phase, sizeof(phase));
		m = snprintf(buf + o, size - o, "%s%s (pid %d%s%s)", k ? ", " : "",
			     agent[0] ? agent : "?", (int)h->pid, phase[0] ? ", phase " : "", phase);
		if (m < 0)
			break;
		o += (size_t)m;
	}
	if (n > 8 && o < size)
		snprintf(buf + o, size - o, " and %zu more", n - 8);
	return n;
}

size_t tool_live_agents(const prdshm_snapshot *snap, char *buf, size_t size)
{
	size_t n = 0, o = 0;

	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < snap->nagents; i++) {
		const prdshm_agent_info *a = &snap->agents[i];
		int w;

		if (!a->alive)
			continue;
		if (o < size) {
			w = snprintf(buf + o, size - o, "%s%.63s (pid %d)", n ? ", " : "", a->id,
				     (int)a->pid);
			o += w > 0 ? (size_t)w : 0;
		}
		n++;
	}
	return n;
}

/* ------------------------------------------------------------------------ */
/* Phase counts                                                             */

size_t tool_count_status(const prdshm_snapshot *s, prdshm_phase_status st)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nphases; i++)
		n += s->phases[i].status == st;
	return n;
}

static int is_open(prdshm_phase_status st)
{
	return st == PRDSHM_PHASE_NOT_STARTED || st == PRDSHM_PHASE_QUEUED ||
	       st == PRDSHM_PHASE_IN_PROGRESS;
}

size_t tool_count_open(const prdshm_snapshot *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nphases; i++)
		n += is_open(s->phases[i].status);
	return n;
}

size_t tool_count_done(const prdshm_snapshot *s)
{
	return tool_count_status(s, PRDSHM_PHASE_COMPLETED) +
	       tool_count_status(s, PRDSHM_PHASE_SKIPPED);
}
