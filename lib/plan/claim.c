/*
 * claim.c: the atomic claim that hands an agent its next phase, and the
 * wait for one.
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

/* 1 if the ready bitmap's first rank @p r, found cleanly, names a phase
 * that is claimable (or @p r is NIL and nothing is). */
static int pick_agrees(const struct geom *g, uint32_t r, int torn)
{
	uint32_t i;

	if (torn)
		return 0;
	if (r == NIL)
		return 1;
	i = g->order[r];
	return i < g->n && g->ph[i].rank == r && g->ph[i].status == QU &&
	       prdshm__phase_eligible(g, i);
}

/*
 * The best claimable phase: QUEUED, in an open wave, longest remaining
 * path first, ties by index, which is the lowest set rank of the ready
 * bitmap.  *best is its index or NIL.  A bitmap that names a phase that is
 * not claimable is rebuilt from the statuses once; if it still disagrees,
 * the claim order itself is corrupt.  Call when holding the phase mutex.
 * @return 0 or PRDSHM_ECORRUPT.
 */
static int pick(const struct geom *g, uint32_t *best)
{
	int torn = 0;
	uint32_t r = prdshm__phase_ready_first(g, &torn);

	if (!pick_agrees(g, r, torn)) {
		prdshm__phase_heal(g);
		torn = 0;
		r = prdshm__phase_ready_first(g, &torn);
		if (!pick_agrees(g, r, torn))
			return prdshm__fail(PRDSHM_ECORRUPT,
					    "phase region: ready index disagrees with the statuses");
	}
	*best = r == NIL ? NIL : g->order[r];
	return 0;
}

/* Hand phase @p i to session @p s.  Call when holding the phase mutex. */
static void take(const struct geom *g, uint32_t i, prdshm_session *s, struct op *op,
		 prdshm_claim *out)
{
	struct prdshm__phase *p = &g->ph[i];
	struct prdshm__agent *a = &prdshm__sessions(s->seg)->agents[s->slot];

	/* The holder first, then the status: a crash in between leaves a
	 * QUEUED phase with a stale holder, which nothing reads. */
	p->agent_slot = (int32_t)s->slot;
	p->agent_gen = s->gen;
	prdshm__strlcpy(p->agent_id, s->id, sizeof(p->agent_id));
	p->attempts++;
	p->start_ns = op->now;
	p->end_ns = 0;
	p->exit_status = 0;
	p->message[0] = '\0';
	PRDSHM__CRASH_POINT("phase_claim");
	prdshm__phase_set_status(g, i, IP, op);
	PRDSHM__CRASH_POINT("phase_claim_agent");
	a->phase = (int32_t)i;
	a->status = PRDSHM_AGENT_BUSY;
	if (p->wave < g->nwaves && g->waves[p->wave].start_ns == 0)
		g->waves[p->wave].start_ns = op->now;
	if (g->reg->run_start_ns == 0)
		g->reg->run_start_ns = op->now;
	out->index = (int32_t)i;
	pid_of(g, i, out->id);
	out->attempt = p->attempts;
}

/* Fail or requeue the running phases of dead holders (not the caller's),
 * walking the running list.  @return how many.  Call when holding the
 * phase mutex. */
static uint32_t reap_dead_holders(const struct geom *g, prdshm_session *s, struct op *op)
{
	struct repair_ctx rc;
	uint32_t n = 0, i = g->reg->run_head, next;

	prdshm__phase_repair_ctx_init(&rc, s);
	for (uint32_t steps = 0; i < g->n && steps < g->n; steps++, i = next) {
		/* prdshm__phase_holder_died() unlinks i: read its successor first. */
		next = g->ph[i].run_next;
		if (g->ph[i].status == IP && !prdshm__phase_holder_alive(s->seg, &g->ph[i], &rc)) {
			prdshm__phase_holder_died(s->seg, g, i, 0, op, NULL, NULL);
			n++;
		}
	}
	if (n) {
		prdshm__phase_settle(g, op);
		prdshm__phase_ring(g, op);
	}
	return n;
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

static int claim_locked(const struct geom *g, prdshm_session *s, struct op *op,
			prdshm_claim *out)
{
	struct run_state st;
	uint32_t best, held;
	char id[PRDSHM_ID_MAX + 1];
	int r;

	if (holds_phase(g, s, &held))
		return prdshm__fail(PRDSHM_EBUSY, "agent %s already holds phase '%s'", s->id,
				    pid_of(g, held, id));
	for (int pass = 0;; pass++) {
		prdshm__phase_refresh(g, op, &st);
		if (st.nopen == 0)
			return prdshm__fail(PRDSHM_EDONE, "no phase left (%u phases)", g->n);
		best = NIL;
		if (st.nrunning < (uint32_t)g->max_parallel) {
			r = pick(g, &best);
			if (r)
				return r;
		}
		if (best != NIL) {
			take(g, best, s, op, out);
			return 0;
		}
		/* Nothing ready: before saying "wait", make sure no running
		 * phase belongs to a dead agent, or the wait could be forever. */
		if (pass > 0 || reap_dead_holders(g, s, op) == 0)
			break;
	}
	if (st.delay_left_ns)
		return prdshm__fail(PRDSHM_EWAIT, "wave %u opens in %llu ms", st.minw,
				    (unsigned long long)(st.delay_left_ns / 1000000));
	return prdshm__fail(PRDSHM_EWAIT, "no phase ready (%u running, %u open)", st.nrunning,
			    st.nopen);
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
	if (out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no claim to fill");
	r = prdshm__abi_check(out, PRDSHM_CLAIM_SIZE_1_0, "prdshm_claim",
			      "prdshm_phase_claim(_timed)");
	if (r)
		return r;
	if (timeout_ms < PRDSHM_WAIT_FOREVER)
		return prdshm__fail(PRDSHM_EINVAL, "negative timeout %lld", (long long)timeout_ms);
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
				  (pick(&g, &best) != 0 || best != NIL));
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
