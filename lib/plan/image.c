/*
 * image.c: the phase operations on a struct geom, shared by both backends,
 * and their entry points on a private image of the region (image.h).
 *
 * The cores (prdshm__phase_claim_core() ...) change only the phase region:
 * statuses, holders, derived state.  On shm, claim.c, steer.c and dead.c
 * call them with the phase mutex held and keep, around them, the agents
 * table (through @p seg), the doorbell's wake-up and the crash points; on
 * ZooKeeper, lib/zk/plan.c calls the image entry points on a copy it then
 * writes back version-checked, with @p seg NULL.  One state machine, so
 * waves, priorities, attempts and BLOCKED dependants behave alike.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/abi.h"
#include "base/util.h"
#include "shm/robust.h"
#include "plan/image.h"
#include "plan/load.h"
#include "plan/state.h"

/* ------------------------------------------------------------------------ */
/* Claim                                                                    */

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
 * the claim order itself is corrupt.
 */
int prdshm__phase_pick(const struct geom *g, struct op *op, uint32_t *best)
{
	int torn = 0;
	uint32_t r = prdshm__phase_ready_first(g, &torn);

	if (!pick_agrees(g, r, torn)) {
		/* The statuses are authoritative; the waiters are woken (on shm)
		 * after unlocking. */
		prdshm__phase_index_rebuild(g);
		prdshm__phase_ring(g, op);
		torn = 0;
		r = prdshm__phase_ready_first(g, &torn);
		if (!pick_agrees(g, r, torn))
			return prdshm__fail(PRDSHM_ECORRUPT,
					    "phase region: ready index disagrees with the statuses");
	}
	*best = r == NIL ? NIL : g->order[r];
	return 0;
}

/* Hand phase @p i to @p h. */
static void take(const struct geom *g, uint32_t i, const struct prdshm__plan_holder *h,
		 struct op *op, prdshm_claim *out)
{
	struct prdshm__phase *p = &g->ph[i];

	/* The holder first, then the status: a crash in between leaves a
	 * QUEUED phase with a stale holder, which nothing reads. */
	p->agent_slot = h->slot;
	p->agent_gen = h->gen;
	prdshm__strlcpy(p->agent_id, h->agent_id, sizeof(p->agent_id));
	p->attempts++;
	p->start_ns = op->now;
	p->end_ns = 0;
	p->exit_status = 0;
	p->message[0] = '\0';
	PRDSHM__CRASH_POINT("phase_claim");
	prdshm__phase_set_status(g, i, IP, op);
	if (p->wave < g->nwaves && g->waves[p->wave].start_ns == 0)
		g->waves[p->wave].start_ns = op->now;
	if (g->reg->run_start_ns == 0)
		g->reg->run_start_ns = op->now;
	out->index = (int32_t)i;
	pid_of(g, i, out->id);
	out->attempt = p->attempts;
}

/* Fail or requeue the running phases of dead holders, walking the running
 * list.  @return how many. */
static uint32_t reap_dead_holders(struct prdshm_seg *seg, const struct geom *g,
				  prdshm__plan_alive_fn alive, void *actx, struct op *op)
{
	uint32_t n = 0, i = g->reg->run_head, next;

	for (uint32_t steps = 0; i < g->n && steps < g->n; steps++, i = next) {
		/* prdshm__phase_holder_died() unlinks i: read its successor first. */
		next = g->ph[i].run_next;
		if (g->ph[i].status == IP && !alive(actx, &g->ph[i])) {
			prdshm__phase_holder_died(seg, g, i, 0, op, NULL, NULL);
			n++;
		}
	}
	if (n) {
		prdshm__phase_settle(g, op);
		prdshm__phase_ring(g, op);
	}
	return n;
}

int prdshm__phase_claim_core(struct prdshm_seg *seg, const struct geom *g,
			     const struct prdshm__plan_holder *h, prdshm__plan_alive_fn alive,
			     void *actx, struct op *op, prdshm_claim *out)
{
	struct run_state st;
	uint32_t best;
	int r;

	for (int pass = 0;; pass++) {
		prdshm__phase_refresh(g, op, &st);
		if (st.nopen == 0)
			return prdshm__fail(PRDSHM_EDONE, "no phase left (%u phases)", g->n);
		best = NIL;
		if (st.nrunning < (uint32_t)g->max_parallel) {
			r = prdshm__phase_pick(g, op, &best);
			if (r)
				return r;
		}
		if (best != NIL) {
			take(g, best, h, op, out);
			return 0;
		}
		/* Nothing ready: before saying "wait", make sure no running
		 * phase belongs to a dead agent, or the wait could be forever. */
		if (pass > 0 || reap_dead_holders(seg, g, alive, actx, op) == 0)
			break;
	}
	if (st.delay_left_ns)
		return prdshm__fail(PRDSHM_EWAIT, "wave %u opens in %llu ms", st.minw,
				    (unsigned long long)(st.delay_left_ns / 1000000));
	return prdshm__fail(PRDSHM_EWAIT, "no phase ready (%u running, %u open)", st.nrunning,
			    st.nopen);
}

/* ------------------------------------------------------------------------ */
/* Complete, fail, set                                                      */

/* Check that @p h holds phase @p i IN_PROGRESS.  A refusal names the
 * transition that was asked for. */
static int check_holder(const struct geom *g, const struct prdshm__plan_holder *h, uint32_t i,
			uint32_t to)
{
	const struct prdshm__phase *p = &g->ph[i];
	char other[PRDSHM_ID_MAX + 1];

	if (p->status != IP)
		return prdshm__phase_transition_error(g, i, p->status, to, NULL);
	if (p->agent_slot != h->slot || p->agent_gen != h->gen) {
		memcpy(other, p->agent_id, PRDSHM_ID_MAX);
		other[PRDSHM_ID_MAX] = '\0';
		return prdshm__fail(PRDSHM_ETRANSITION,
				    "phase '%.*s' is IN_PROGRESS by agent %s, not by %s",
				    PRDSHM_ID_MAX, p->id, other, h->agent_id);
	}
	return 0;
}

int prdshm__phase_finish_core(struct prdshm_seg *seg, const struct geom *g,
			      const struct prdshm__plan_holder *h, int32_t index, uint32_t to,
			      int exit_status, const char *message, struct op *op)
{
	struct run_state st;
	struct prdshm__phase *p;
	int r;

	if (index < 0 || (uint32_t)index >= g->n)
		return prdshm__fail(PRDSHM_ENOPHASE, "no phase with index %d", (int)index);
	r = check_holder(g, h, (uint32_t)index, to);
	if (r)
		return r;
	p = &g->ph[index];
	p->end_ns = op->now;
	p->exit_status = exit_status;
	prdshm__strlcpy(p->message, message ? message : "", sizeof(p->message));
	prdshm__phase_release_agent(seg, g, (uint32_t)index);
	PRDSHM__CRASH_POINT("phase_finish");
	prdshm__phase_set_status(g, (uint32_t)index, to, op);
	if (to == FA)
		prdshm__phase_maybe_requeue(g, (uint32_t)index, 0, op);
	prdshm__phase_settle(g, op);
	prdshm__phase_ring(g, op);
	prdshm__phase_refresh(g, op, &st);
	return 0;
}

/*
 * Retry: phase @p i and its FAILED or CANCELLED ancestors go back in line
 * (QUEUED, or NOT_STARTED while dependencies are not done); prdshm__phase_settle() then
 * unblocks everything they blocked, @p i included if it was BLOCKED.
 * Ancestors are marked in `scratch` walking the topological order
 * backwards: linear in phases + edges.
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
 * fail is then refused). */
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

static int set_status_by_hand(struct prdshm_seg *seg, const struct geom *g, const char *id,
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

int prdshm__phase_set_core(struct prdshm_seg *seg, const struct geom *g, const char *id,
			   prdshm_phase_status to, struct op *op)
{
	struct run_state st;
	int r = set_status_by_hand(seg, g, id, to, op);

	if (r == 0) {
		prdshm__phase_settle(g, op);
		prdshm__phase_ring(g, op);
		prdshm__phase_refresh(g, op, &st);
	}
	return r;
}

/* ------------------------------------------------------------------------ */
/* Dead holders                                                             */

/* All phases, not the running list: reaping is rare, and this way a phase
 * is failed even if a scribble unlinked it. */
uint32_t prdshm__phase_reap_core(struct prdshm_seg *seg, const struct geom *g,
				 prdshm__plan_alive_fn alive, void *actx, int requeue,
				 struct op *op, prdshm__plan_report_fn report, void *rctx)
{
	struct run_state st;
	uint32_t n = 0;

	for (uint32_t i = 0; i < g->n; i++) {
		if (g->ph[i].status == IP && !alive(actx, &g->ph[i])) {
			prdshm__phase_holder_died(seg, g, i, requeue, op, report, rctx);
			n++;
		}
	}
	if (n) {
		prdshm__phase_settle(g, op);
		prdshm__phase_ring(g, op);
		prdshm__phase_refresh(g, op, &st);
	}
	return n;
}

/* ------------------------------------------------------------------------ */
/* On a private image                                                       */

size_t prdshm__plan_image_bytes(const prdshm_config *cfg)
{
	return prdshm__phases_bytes(cfg);
}

/* The image's geometry, and a check that its statuses are in range (the
 * transitions index the table with them). */
/* An operation on an image: agents on several hosts share it, and their
 * monotonic clocks have nothing in common, so the wave timing stored in it
 * (wave_done_mono, the wave delay) follows the realtime clock, which NTP
 * keeps within milliseconds across hosts.  A clock stepped back by hand
 * only lengthens one wave's delay. */
static void image_op_init(struct op *op, const char *who)
{
	prdshm__phase_op_init(op, who);
	op->mono = op->now;
}

static int image_geom(unsigned char *buf, uint64_t bytes, struct geom *g)
{
	int r = prdshm__phase_geom_parse(buf, bytes, g);

	if (r)
		return r;
	for (uint32_t i = 0; i < g->n; i++) {
		if (g->ph[i].status >= NSTATUS)
			return prdshm__fail(PRDSHM_ECORRUPT, "phase %u: status %u out of range", i,
					    g->ph[i].status);
	}
	return 0;
}

/* 1 if phase @p p is held by @p h. */
static int holds(const struct prdshm__phase *p, const struct prdshm__plan_holder *h)
{
	return p->status == IP && p->agent_slot == h->slot && p->agent_gen == h->gen;
}

int prdshm__plan_claim_args(const prdshm_claim *out, int64_t timeout_ms)
{
	int r;

	if (out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no claim to fill");
	r = prdshm__abi_check(out, PRDSHM_CLAIM_SIZE_1_0, "prdshm_claim",
			      "prdshm_phase_claim(_timed)");
	if (r)
		return r;
	if (timeout_ms < PRDSHM_WAIT_FOREVER)
		return prdshm__fail(PRDSHM_EINVAL, "negative timeout %lld", (long long)timeout_ms);
	return 0;
}

int prdshm__plan_image_claim(unsigned char *buf, uint64_t bytes,
			     const struct prdshm__plan_holder *h, prdshm__plan_alive_fn alive,
			     void *actx, prdshm_claim *out)
{
	struct geom g;
	struct op op;
	char id[PRDSHM_ID_MAX + 1];
	int r = image_geom(buf, bytes, &g);

	if (r)
		return r;
	/* No agents table to ask: the running phases say who holds what. */
	for (uint32_t i = 0; i < g.n; i++) {
		if (holds(&g.ph[i], h))
			return prdshm__fail(PRDSHM_EBUSY, "agent %s already holds phase '%s'",
					    h->agent_id, pid_of(&g, i, id));
	}
	image_op_init(&op, h->agent_id);
	return prdshm__phase_claim_core(NULL, &g, h, alive, actx, &op, out);
}

int prdshm__plan_image_held(unsigned char *buf, uint64_t bytes,
			    const struct prdshm__plan_holder *h, prdshm_claim *out)
{
	struct geom g;

	if (image_geom(buf, bytes, &g) != 0)
		return 0;
	for (uint32_t i = 0; i < g.n; i++) {
		if (holds(&g.ph[i], h)) {
			out->index = (int32_t)i;
			pid_of(&g, i, out->id);
			out->attempt = g.ph[i].attempts;
			return 1;
		}
	}
	return 0;
}

int prdshm__plan_image_peek(unsigned char *buf, uint64_t bytes, int32_t index, const char *id,
			    const struct prdshm__plan_holder *h, struct prdshm__plan_peek *out)
{
	struct geom g;
	long i = index;

	if (image_geom(buf, bytes, &g) != 0)
		return -1;
	if (id)
		i = find_phase(&g, id);
	if (i < 0 || (uint64_t)i >= g.n)
		return -1;
	out->status = g.ph[i].status;
	out->attempts = g.ph[i].attempts;
	out->held = h != NULL && holds(&g.ph[i], h);
	return 0;
}

int prdshm__plan_image_ready(unsigned char *buf, uint64_t bytes, int64_t *delay_ms)
{
	struct run_state st;
	struct geom g;
	struct op op;
	uint32_t best = NIL;

	*delay_ms = 0;
	if (image_geom(buf, bytes, &g) != 0)
		return 1; /* the claim reports it */
	image_op_init(&op, NULL);
	prdshm__phase_refresh(&g, &op, &st);
	if (st.nopen == 0 || (st.nrunning < (uint32_t)g.max_parallel &&
			      (prdshm__phase_pick(&g, &op, &best) != 0 || best != NIL)))
		return 1;
	if (st.delay_left_ns)
		*delay_ms = (int64_t)(st.delay_left_ns / 1000000) + 1;
	return 0;
}

int prdshm__plan_image_finish(unsigned char *buf, uint64_t bytes,
			      const struct prdshm__plan_holder *h, int32_t index, uint32_t to,
			      int exit_status, const char *message)
{
	struct geom g;
	struct op op;
	int r = image_geom(buf, bytes, &g);

	if (r)
		return r;
	image_op_init(&op, h->agent_id);
	return prdshm__phase_finish_core(NULL, &g, h, index, to, exit_status, message, &op);
}

int prdshm__plan_image_set(unsigned char *buf, uint64_t bytes, const char *who, const char *id,
			   prdshm_phase_status to)
{
	struct geom g;
	struct op op;
	int r = image_geom(buf, bytes, &g);

	if (r)
		return r;
	image_op_init(&op, who);
	return prdshm__phase_set_core(NULL, &g, id, to, &op);
}

int prdshm__plan_image_reap(unsigned char *buf, uint64_t bytes, prdshm__plan_alive_fn alive,
			    void *actx, int requeue, prdshm__plan_report_fn report, void *rctx,
			    size_t *n)
{
	struct geom g;
	struct op op;
	int r = image_geom(buf, bytes, &g);

	*n = 0;
	if (r)
		return r;
	image_op_init(&op, NULL);
	*n = prdshm__phase_reap_core(NULL, &g, alive, actx, requeue, &op, report, rctx);
	return 0;
}

int prdshm__plan_image_rebuild(unsigned char *buf, uint64_t bytes)
{
	struct run_state st;
	struct geom g;
	struct op op;
	uint64_t mono;
	int r = image_geom(buf, bytes, &g);

	if (r)
		return r;
	if (prdshm__phase_check_static(&g, NULL, NULL))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: dependency lists corrupt");
	image_op_init(&op, NULL);
	mono = g.reg->wave_done_mono;
	prdshm__phase_index_rebuild(&g);
	/* The rebuild closes waves at this host's monotonic time: an image's
	 * is the realtime clock (image_op_init()). */
	if (g.reg->wave_done_mono != mono)
		g.reg->wave_done_mono = op.now;
	prdshm__phase_settle_all(&g, &op);
	prdshm__phase_refresh(&g, &op, &st);
	return 0;
}
