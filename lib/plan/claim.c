/*
 * claim.c: the atomic claim that hands an agent its next phase, and the
 * wait for one, on shared memory: the phase mutex, the agents table and
 * the doorbell around the claim of image.c.
 *
 * Waiting uses a futex doorbell, not a condition variable (see
 * docs/phases.md): a waiter reads the doorbell under the mutex, unlocks and
 * sleeps while it is unchanged; anything that may let a claim succeed rings
 * it under the mutex and wakes the sleepers after unlocking.
 */
#include <stdint.h>
#include <string.h>

#include "base/abi.h"
#include "base/futex.h"
#include "shm/robust.h"
#include "base/util.h"
#include "plan/repair.h"
#include "session/session.h"

/* Waits are capped so that a holder that died (which rings no doorbell) is
 * noticed by the waiter's next claim. */
#define WAIT_CAP_MS 1000

/* ------------------------------------------------------------------------ */
/* Claim and wait                                                           */

/* The shm claim's liveness test: the caller's own session counts as live
 * without a test. */
struct alive_ctx {
	struct prdshm_seg *seg;
	struct repair_ctx rc;
};

static int holder_alive(void *ctx, const struct prdshm__phase *p)
{
	struct alive_ctx *a = ctx;

	return prdshm__phase_holder_alive(a->seg, p, &a->rc);
}

/* 1 if session @p s holds a phase IN_PROGRESS (its index in *held). */
static int holds_phase(const struct geom *g, const prdshm_session *s, uint32_t *held)
{
	int32_t i = prdshm__sessions(s->seg)->agents[s->slot].phase;

	if (i < 0 || (uint32_t)i >= g->n)
		return 0;
	if (g->ph[i].status != IP || g->ph[i].agent_slot != (int32_t)s->slot ||
	    g->ph[i].agent_gen != s->gen)
		return 0;
	*held = (uint32_t)i;
	return 1;
}

/* The claim (image.c's, as on every backend), then the agent record.
 * Call when holding the phase mutex. */
static int claim_locked(const struct geom *g, prdshm_session *s, struct op *op,
			prdshm_claim *out)
{
	const struct prdshm__plan_holder h = { (int32_t)s->slot, s->gen, s->id };
	struct prdshm__agent *a = &prdshm__sessions(s->seg)->agents[s->slot];
	struct alive_ctx ac = { s->seg, { 0 } };
	uint32_t held;
	char id[PRDSHM_ID_MAX + 1];
	int r;

	if (holds_phase(g, s, &held))
		return prdshm__fail(PRDSHM_EBUSY, "agent %s already holds phase '%s'", s->id,
				    pid_of(g, held, id));
	prdshm__phase_repair_ctx_init(&ac.rc, s);
	r = prdshm__phase_claim_core(s->seg, g, &h, holder_alive, &ac, op, out);
	if (r)
		return r;
	/* A crash here leaves the phase IN_PROGRESS without the agent's
	 * record of it, which the repair rebuilds from the phases. */
	PRDSHM__CRASH_POINT("phase_claim_agent");
	a->phase = out->index;
	a->status = PRDSHM_AGENT_BUSY;
	return 0;
}

static int claim(prdshm_session *s, prdshm_claim *out)
{
	prdshm_claim full;
	struct repair_ctx rc;
	struct geom g;
	struct op op;
	int r;

	prdshm__phase_repair_ctx_init(&rc, s);
	r = prdshm__phase_lock_rw(s->seg, &g, &rc);
	if (r)
		return r;
	prdshm__phase_op_init(&op, s->id);
	memset(&full, 0, sizeof(full));
	full.struct_size = sizeof(full);
	r = claim_locked(&g, s, &op, &full);
	prdshm__phase_unlock(&g, &op);
	/* Only the caller's bytes: it may know a shorter prdshm_claim. */
	if (r == 0)
		prdshm__abi_copy_out(out, &full, sizeof(full));
	return r;
}

int prdshm__shm_phase_claim_timed(prdshm_session *s, int64_t timeout_ms, prdshm_claim *out)
{
	uint64_t outer;
	int r;

	prdshm__call_begin();
	r = prdshm__session_ok(s);
	if (r)
		return r;
	r = prdshm__plan_claim_args(out, timeout_ms);
	if (r)
		return r;
	if (timeout_ms == PRDSHM_WAIT_DEFAULT)
		timeout_ms = (int64_t)s->seg->hdr->lock_timeout_seconds * 1000;
	outer = prdshm__call_bound_begin(timeout_ms);
	r = claim(s, out);
	prdshm__wait_bound_end(outer);
	return prdshm__busy_if_try(r, timeout_ms);
}

int prdshm__shm_phase_wait(prdshm_session *s, int64_t timeout_ms)
{
	struct repair_ctx rc;
	struct run_state st;
	struct geom g;
	struct op op;
	uint32_t seen, best = NIL;
	int64_t wait_ms = timeout_ms < 0 || timeout_ms > WAIT_CAP_MS ? WAIT_CAP_MS : timeout_ms;
	uint64_t outer;
	int ready, r;

	prdshm__call_begin();
	r = prdshm__session_ok(s);
	if (r)
		return r;
	prdshm__phase_repair_ctx_init(&rc, s);
	/* The mutex wait counts against the wait: a stopped holder fails
	 * it (PRDSHM_EBUSY for 0) instead of hanging it. */
	outer = prdshm__call_bound_begin(wait_ms);
	r = prdshm__phase_lock_rw(s->seg, &g, &rc);
	prdshm__wait_bound_end(outer);
	if (r)
		return prdshm__busy_if_try(r, wait_ms);
	prdshm__phase_op_init(&op, s->id);
	/* Re-check under the mutex: a phase may have finished between the
	 * caller's failed claim and now, and its ring would be lost.  A
	 * corrupt index counts as "ready": the claim reports it. */
	prdshm__phase_refresh(&g, &op, &st);
	ready = st.nopen == 0 || (st.nrunning < (uint32_t)g.max_parallel &&
				  (prdshm__phase_pick(&g, &op, &best) != 0 || best != NIL));
	seen = prdshm__doorbell_read(&g.reg->doorbell);
	prdshm__phase_unlock(&g, &op);
	if (ready || wait_ms == 0)
		return 0;
	if (st.delay_left_ns && (int64_t)(st.delay_left_ns / 1000000) + 1 < wait_ms)
		wait_ms = (int64_t)(st.delay_left_ns / 1000000) + 1;
	/* No record to withdraw here: an interrupted wait just says so. */
	if (prdshm__futex_wait(&g.reg->doorbell, seen, wait_ms * 1000000) == PRDSHM_EINTR)
		return prdshm__fail(PRDSHM_EINTR, "interrupted by a signal while waiting "
						  "for a phase");
	return 0;
}
