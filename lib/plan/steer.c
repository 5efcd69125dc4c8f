/*
 * steer.c: the status changes asked for by callers: an agent completes or
 * fails the phase it holds, an agent or the operator retries, cancels or
 * skips a phase by hand (prdshm__shm_phase_set()).  The rules are the
 * transition table's (state.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "shm/robust.h"
#include "base/util.h"
#include "plan/repair.h"
#include "session/session.h"

/* ------------------------------------------------------------------------ */
/* Complete, fail, set                                                      */

/* Check that session @p s holds phase @p i IN_PROGRESS.  A refusal names
 * the transition that was asked for.  Call when holding the phase mutex. */
static int check_holder(const struct geom *g, const prdshm_session *s, uint32_t i, uint32_t to)
{
	const struct prdshm__phase *p = &g->ph[i];
	char other[PRDSHM_ID_MAX + 1];

	if (p->status != IP)
		return prdshm__phase_transition_error(g, i, p->status, to, NULL);
	if (p->agent_slot != (int32_t)s->slot || p->agent_gen != s->gen) {
		memcpy(other, p->agent_id, PRDSHM_ID_MAX);
		other[PRDSHM_ID_MAX] = '\0';
		return prdshm__fail(PRDSHM_ETRANSITION,
				    "phase '%.*s' is IN_PROGRESS by agent %s, not by %s",
				    PRDSHM_ID_MAX, p->id, other, s->id);
	}
	return 0;
}

/* Finish the session's phase @p i as @p to (COMPLETED or FAILED). */
static int finish(prdshm_session *s, int32_t index, uint32_t to, int exit_status,
		  const char *message)
{
	struct repair_ctx rc;
	struct run_state st;
	struct geom g;
	struct op op;
	int r = prdshm__session_ok(s);

	if (r)
		return r;
	prdshm__phase_repair_ctx_init(&rc, s);
	r = prdshm__phase_lock_rw(s->seg, &g, &rc);
	if (r)
		return r;
	prdshm__phase_op_init(&op, s->id);
	if (index < 0 || (uint32_t)index >= g.n)
		r = prdshm__fail(PRDSHM_ENOPHASE, "no phase with index %d", (int)index);
	else
		r = check_holder(&g, s, (uint32_t)index, to);
	if (r == 0) {
		struct prdshm__phase *p = &g.ph[index];
		p->end_ns = op.now;
		p->exit_status = exit_status;
		prdshm__strlcpy(p->message, message ? message : "", sizeof(p->message));
		prdshm__phase_release_agent(s->seg, &g, (uint32_t)index);
		PRDSHM__CRASH_POINT("phase_finish");
		prdshm__phase_set_status(&g, (uint32_t)index, to, &op);
		if (to == FA)
			prdshm__phase_maybe_requeue(&g, (uint32_t)index, 0, &op);
		prdshm__phase_settle(&g, &op);
		prdshm__phase_ring(&g, &op);
		prdshm__phase_refresh(&g, &op, &st);
	}
	prdshm__phase_unlock(&g, &op);
	return r;
}

int prdshm__shm_phase_complete(prdshm_session *s, int32_t index)
{
	prdshm__call_begin();
	return finish(s, index, CO, 0, NULL);
}

int prdshm__shm_phase_fail(prdshm_session *s, int32_t index, int exit_status, const char *message)
{
	prdshm__call_begin();
	return finish(s, index, FA, exit_status, message);
}

/*
 * Retry: phase @p i and its FAILED or CANCELLED ancestors go back in line
 * (QUEUED, or NOT_STARTED while dependencies are not done); prdshm__phase_settle() then
 * unblocks everything they blocked, @p i included if it was BLOCKED.
 * Ancestors are marked in `scratch` walking the topological order
 * backwards: linear in phases + edges.  Call when holding the phase mutex.
 */
static int retry(const struct geom *g, uint32_t i, struct op *op)
{
	uint32_t from = g->ph[i].status, nd;

	if (from != FA && from != CA && from != BL)
		return prdshm__phase_transition_error(
			g, i, from, QU, " (retry applies to FAILED, CANCELLED, BLOCKED)");
	for (uint32_t k = 0; k < g->n; k++)
		g->ph[k].scratch = 0;
	g->ph[i].scratch = 1;
	for (uint32_t k = g->n; k-- > 0;) {
		uint32_t j = g->topo[k];
		const uint32_t *d;
		if (j >= g->n || !g->ph[j].scratch)
			continue;
		d = prdshm__phase_deps_of(g, j, &nd);
		for (uint32_t e = 0; e < nd; e++)
			if (d[e] < g->n)
				g->ph[d[e]].scratch = 1;
	}
	for (uint32_t k = 0; k < g->n; k++) {
		uint32_t j = g->topo[k], s;
		if (j >= g->n || !g->ph[j].scratch)
			continue;
		s = g->ph[j].status;
		if (s == FA || s == CA) {
			prdshm__phase_set_status(
				g, j, prdshm__phase_want_of(&g->ph[j]) == QU ? QU : NS, op);
			PRDSHM__CRASH_POINT("phase_retry");
		}
	}
	return 0;
}

/* Cancel phase @p i; a running phase's holder loses it (its complete or
 * fail is then refused).  Call when holding the phase mutex. */
static int cancel(struct prdshm_seg *seg, const struct geom *g, uint32_t i, struct op *op)
{
	struct prdshm__phase *p = &g->ph[i];
	uint32_t from = p->status;
	int r = prdshm__phase_set_status(g, i, CA, op);

	if (r)
		return r;
	if (from == IP) {
		prdshm__phase_release_agent(seg, g, i);
		p->end_ns = op->now;
		snprintf(p->message, sizeof(p->message), "cancelled by %s", op->who);
	}
	return 0;
}

static long find_phase(const struct geom *g, const char *id)
{
	for (uint32_t i = 0; i < g->n; i++) {
		if (strncmp(g->ph[i].id, id, PRDSHM_ID_MAX) == 0)
			return (long)i;
	}
	return -1;
}

static int set_locked(struct prdshm_seg *seg, const struct geom *g, const char *id,
		      prdshm_phase_status to, struct op *op)
{
	long i = find_phase(g, id);

	if (i < 0)
		return prdshm__fail(PRDSHM_ENOPHASE, "no phase '%s'", id);
	switch (to) {
	case PRDSHM_PHASE_QUEUED:
		return retry(g, (uint32_t)i, op);
	case PRDSHM_PHASE_CANCELLED:
		return cancel(seg, g, (uint32_t)i, op);
	case PRDSHM_PHASE_SKIPPED:
		return prdshm__phase_set_status(g, (uint32_t)i, SK, op);
	default:
		return prdshm__phase_transition_error(
			g, (uint32_t)i, g->ph[i].status, (uint32_t)to,
			" (by hand: QUEUED to retry, CANCELLED, SKIPPED)");
	}
}

int prdshm__shm_phase_set(prdshm_seg *seg, prdshm_session *s, const char *id,
		     prdshm_phase_status to)
{
	struct repair_ctx rc;
	struct run_state st;
	struct geom g;
	struct op op;
	int r;

	prdshm__call_begin();
	r = s ? prdshm__session_ok(s) : 0;
	if (r)
		return r;
	if (!prdshm__valid_id(id))
		return prdshm__fail(PRDSHM_ENOPHASE, "invalid phase id");
	if ((int)to < 0 || (int)to >= NSTATUS)
		return prdshm__fail(PRDSHM_EINVAL, "phase status %d out of range", (int)to);
	prdshm__phase_repair_ctx_init(&rc, s);
	r = prdshm__phase_lock_rw(seg, &g, &rc);
	if (r)
		return r;
	prdshm__phase_op_init(&op, s ? s->id : NULL);
	r = set_locked(seg, &g, id, to, &op);
	if (r == 0) {
		prdshm__phase_settle(&g, &op);
		prdshm__phase_ring(&g, &op);
		prdshm__phase_refresh(&g, &op, &st);
	}
	prdshm__phase_unlock(&g, &op);
	return r;
}
