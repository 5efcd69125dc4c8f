/*
 * state.c: the phase state machine and the derived state that follows from
 * the statuses.
 *
 * Statuses are authoritative; everything else is derived and can be
 * rebuilt from them: the ready index (which phases are claimable, in claim
 * order), each phase's count of unfinished and of failed dependencies, the
 * list of running phases, the running and open counts, the wave state and
 * the agents' `phase` fields.  prdshm__phase_index_rebuild() is the one
 * definition of the derived state; the repair after a crashed holder
 * (repair.c) runs it.
 *
 * Every status change goes through prdshm__phase_set_status(), which
 * consults the one transition table below, records who made the change and
 * when, and keeps the derived state in step (derive()): so a claim costs
 * O(1) (the first set bit of the ready bitmap), and a completion O(its
 * dependants).  Readiness changes cascade through a settle list drained by
 * prdshm__phase_settle().  Everything here is called with the phase mutex
 * held (or at creation); the callers in claim.c, steer.c, dead.c and
 * repair.c take it.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/futex.h"
#include "shm/robust.h"
#include "base/util.h"
#include "session/region.h"
#include "plan/state.h"

/*
 * The transition table: allowed[from][to].  It is copied into
 * docs/phases.md and docs/design.md; change them together.
 *
 *   NOT_STARTED -> QUEUED     its dependencies are all done
 *   NOT_STARTED -> BLOCKED    a dependency failed, was cancelled or blocked
 *   QUEUED -> IN_PROGRESS     claimed
 *   IN_PROGRESS -> COMPLETED  the holder completed it
 *   IN_PROGRESS -> FAILED     the holder failed it, or the holder died
 *   FAILED -> QUEUED          retry, by hand or while attempts remain
 *   BLOCKED -> NOT_STARTED / QUEUED   the failed dependency was retried
 *   CANCELLED -> NOT_STARTED / QUEUED retry
 *   * -> SKIPPED, * -> CANCELLED      by hand, from the states marked
 *
 * COMPLETED and SKIPPED are terminal: dependants may already have run.
 * IN_PROGRESS -> QUEUED is absent on purpose: a requeue after a failure is
 * recorded as IN_PROGRESS -> FAILED -> QUEUED, so the failure stays visible.
 */
static const unsigned char allowed[NSTATUS][NSTATUS] = {
	/*          NS QU IP CO FA BL SK CA */
	[NS] = { 0, 1, 0, 0, 0, 1, 1, 1 },
	[QU] = { 0, 0, 1, 0, 0, 0, 1, 1 },
	[IP] = { 0, 0, 0, 1, 1, 0, 0, 1 },
	[CO] = { 0, 0, 0, 0, 0, 0, 0, 0 },
	[FA] = { 0, 1, 0, 0, 0, 0, 1, 1 },
	[BL] = { 1, 1, 0, 0, 0, 0, 1, 1 },
	[SK] = { 0, 0, 0, 0, 0, 0, 0, 0 },
	[CA] = { 1, 1, 0, 0, 0, 0, 1, 0 },
};

/* ------------------------------------------------------------------------ */
/* The derived state: ready bitmap, running list, settle list               */

void prdshm__phase_op_init(struct op *op, const char *who)
{
	op->who = who ? who : "operator";
	op->now = prdshm__now_real();
	op->mono = prdshm__now_mono();
	op->ring = 0;
}

/* Call when holding the phase mutex. */
void prdshm__phase_ring(const struct geom *g, struct op *op)
{
	prdshm__doorbell_ring(&g->reg->doorbell);
	op->ring = 1;
}

/*
 * Set or clear rank @p r (< g->n) in the bitmap, then the summary bits
 * above it: a summary bit changes only when its word turns non-zero or
 * zero.  Call when holding the phase mutex.
 */
static void ready_set(const struct geom *g, uint32_t r)
{
	for (uint32_t l = 0; l < g->nlevels; l++, r /= READY_FANOUT) {
		uint64_t *w = &g->ready[l][r / READY_FANOUT];
		uint64_t was = *w;

		*w = was | (UINT64_C(1) << (r % READY_FANOUT));
		if (was)
			break;
	}
}

static void ready_clear(const struct geom *g, uint32_t r)
{
	for (uint32_t l = 0; l < g->nlevels; l++, r /= READY_FANOUT) {
		uint64_t *w = &g->ready[l][r / READY_FANOUT];

		*w &= ~(UINT64_C(1) << (r % READY_FANOUT));
		if (l == 0)
			PRDSHM__CRASH_POINT("phase_ready");
		if (*w)
			break;
	}
}

/*
 * The lowest set rank, descending from the top word: NIL if none.  Sets
 * *torn when the summaries lead nowhere (a set bit above a zero word or
 * past the ranks), which a consistent bitmap never does.
 */
uint32_t prdshm__phase_ready_first(const struct geom *g, int *torn)
{
	uint32_t pos = 0;

	for (uint32_t l = g->nlevels; l-- > 0;) {
		uint64_t w;

		if (pos >= g->ready_words[l]) {
			*torn = 1;
			return NIL;
		}
		w = g->ready[l][pos];
		if (w == 0) {
			*torn = l + 1 != g->nlevels;
			return NIL;
		}
		pos = pos * READY_FANOUT + (uint32_t)__builtin_ctzll(w);
	}
	if (pos >= g->n) {
		*torn = 1;
		return NIL;
	}
	return pos;
}

/* Claimable now: QUEUED, and in an open wave (any wave in eager mode). */
int prdshm__phase_eligible(const struct geom *g, uint32_t i)
{
	return g->sched == PRDSHM_SCHED_EAGER || g->ph[i].wave <= g->reg->current_wave;
}

/* Enter QUEUED phase @p i in the ready bitmap if it is claimable now. */
static void ready_add(const struct geom *g, uint32_t i, struct op *op)
{
	if (!prdshm__phase_eligible(g, i) || g->ph[i].rank >= g->n)
		return;
	ready_set(g, g->ph[i].rank);
	if (op)
		prdshm__phase_ring(g, op);
}

/* Push IN_PROGRESS phase @p i on the running list. */
static void run_link(const struct geom *g, uint32_t i)
{
	struct prdshm__phase *p = &g->ph[i];
	uint32_t h = g->reg->run_head;

	p->run_prev = NIL;
	p->run_next = h < g->n ? h : NIL;
	PRDSHM__CRASH_POINT("phase_running");
	if (h < g->n)
		g->ph[h].run_prev = i;
	g->reg->run_head = i;
}

static void run_unlink(const struct geom *g, uint32_t i)
{
	struct prdshm__phase *p = &g->ph[i];
	uint32_t prev = p->run_prev, next = p->run_next < g->n ? p->run_next : NIL;

	if (prev < g->n)
		g->ph[prev].run_next = next;
	else if (g->reg->run_head == i)
		g->reg->run_head = next;
	if (next < g->n)
		g->ph[next].run_prev = prev < g->n ? prev : NIL;
	p->run_prev = p->run_next = NIL;
}

/* The settle list: a stack threaded through settle_next, NIL meaning "not
 * on it" and a self link ending it. */
static void settle_push(const struct geom *g, uint32_t i)
{
	uint32_t h = g->reg->settle_head;

	if (g->ph[i].settle_next != NIL)
		return;
	g->ph[i].settle_next = h < g->n ? h : i;
	g->reg->settle_head = i;
}

static uint32_t settle_pop(const struct geom *g)
{
	uint32_t h = g->reg->settle_head, next;

	if (h >= g->n) {
		g->reg->settle_head = NIL;
		return NIL;
	}
	next = g->ph[h].settle_next;
	g->reg->settle_head = next < g->n && next != h ? next : NIL;
	g->ph[h].settle_next = NIL;
	return h;
}

/* The status that NOT_STARTED / QUEUED / BLOCKED phase @p p should have,
 * from its counts. */
uint32_t prdshm__phase_want_of(const struct prdshm__phase *p)
{
	if (p->deps_bad)
		return BL;
	return p->deps_left ? NS : QU;
}

/* The same, recounted from the dependencies (the checker's reference). */
uint32_t prdshm__phase_readiness(const struct geom *g, uint32_t i)
{
	uint32_t nd, ndone = 0;
	const uint32_t *d = prdshm__phase_deps_of(g, i, &nd);

	for (uint32_t k = 0; k < nd; k++) {
		uint32_t s = d[k] < g->n ? g->ph[d[k]].status : FA;
		if (is_bad(s))
			return BL;
		ndone += is_done(s);
	}
	return ndone == nd ? QU : NS;
}

/* 1 if phase @p p's readiness disagrees with its status in a way the
 * table lets prdshm__phase_settle() fix.  QUEUED never goes back: its dependencies are
 * terminal. */
static int unsettled(const struct prdshm__phase *p)
{
	uint32_t s = p->status, want = prdshm__phase_want_of(p);

	return settles(s) && want != s && prdshm_phase_transition_allowed(s, want);
}

static uint32_t add_clamped(uint32_t v, int delta)
{
	if (delta < 0)
		return v ? v - 1 : 0;
	return v + (uint32_t)delta;
}

/* Phase @p i left or entered done / bad: adjust its dependants' counts and
 * put those whose readiness changes on the settle list. */
static void tell_dependants(const struct geom *g, uint32_t i, uint32_t from, uint32_t to)
{
	int dleft = is_done(from) - is_done(to), dbad = is_bad(to) - is_bad(from);
	uint32_t nt;
	const uint32_t *t = prdshm__phase_dependants_of(g, i, &nt);

	for (uint32_t k = 0; k < nt; k++) {
		struct prdshm__phase *q;

		if (t[k] >= g->n)
			continue;
		q = &g->ph[t[k]];
		q->deps_left = add_clamped(q->deps_left, dleft);
		q->deps_bad = add_clamped(q->deps_bad, dbad);
		PRDSHM__CRASH_POINT("phase_propagate");
		if (unsettled(q))
			settle_push(g, t[k]);
	}
}

/* A phase of wave @p w opened or closed.  A wave reopened (by a retry)
 * loses its end time, and so do the closed waves after it. */
static void count_open(const struct geom *g, uint32_t w, int delta)
{
	struct prdshm__phase_region *reg = g->reg;

	reg->nopen = add_clamped(reg->nopen, delta);
	if (w >= g->nwaves)
		return;
	g->waves[w].nopen = add_clamped(g->waves[w].nopen, delta);
	if (delta <= 0 || w >= reg->minw)
		return;
	for (uint32_t x = w; x < reg->minw && x < g->nwaves; x++)
		g->waves[x].end_ns = 0;
	reg->minw = w;
}

/* Keep the derived state in step with phase @p i going @p from -> @p to.
 * Call when holding the phase mutex. */
static void derive(const struct geom *g, uint32_t i, uint32_t from, uint32_t to, struct op *op)
{
	struct prdshm__phase *p = &g->ph[i];

	count_open(g, p->wave, is_open(to) - is_open(from));
	if (from == IP) {
		run_unlink(g, i);
		g->reg->nrunning = add_clamped(g->reg->nrunning, -1);
	}
	if (to == IP) {
		run_link(g, i);
		g->reg->nrunning++;
	}
	if (from == QU && p->rank < g->n)
		ready_clear(g, p->rank);
	if (to == QU)
		ready_add(g, i, op);
	if (is_done(from) != is_done(to) || is_bad(from) != is_bad(to))
		tell_dependants(g, i, from, to);
}

/* Move minw up past the waves with nothing open, closing them at @p now
 * (@p mono).  Amortised O(1): it only moves back when a retry reopens a
 * wave.  Call when holding the phase mutex. */
static void close_waves(const struct geom *g, uint64_t now, uint64_t mono)
{
	struct prdshm__phase_region *reg = g->reg;
	uint32_t m = reg->minw < g->nwaves ? reg->minw : g->nwaves;
	int closed = 0;

	for (; m < g->nwaves && g->waves[m].nopen == 0; m++) {
		if (g->waves[m].end_ns == 0) {
			g->waves[m].end_ns = now;
			closed = 1;
		}
	}
	if (closed)
		reg->wave_done_mono = mono;
	reg->minw = m;
}

/*
 * Rebuild every derived field from the statuses: the counts, the wave open
 * counts, the dependency counts, the running list, an empty settle list
 * and the ready bitmap.  Linear in phases + dependencies + bitmap words.
 * A wave before the lowest open one that was left unclosed is closed now.
 * Call when holding the phase mutex (or at creation).
 */
void prdshm__phase_index_rebuild(const struct geom *g)
{
	struct prdshm__phase_region *reg = g->reg;
	uint32_t low = g->nwaves;

	if (g->nwaves ? reg->current_wave >= g->nwaves : reg->current_wave != 0)
		reg->current_wave = 0;
	reg->nrunning = reg->nopen = reg->minw = 0;
	reg->run_head = reg->settle_head = NIL;
	for (uint32_t w = 0; w < g->nwaves; w++)
		g->waves[w].nopen = 0;
	for (uint32_t l = 0; l < g->nlevels; l++)
		memset(g->ready[l], 0, (size_t)g->ready_words[l] * 8);
	for (uint32_t i = 0; i < g->n; i++) {
		struct prdshm__phase *p = &g->ph[i];
		uint32_t nd;
		const uint32_t *d = prdshm__phase_deps_of(g, i, &nd);

		p->deps_left = p->deps_bad = 0;
		p->run_prev = p->run_next = p->settle_next = NIL;
		for (uint32_t k = 0; k < nd; k++) {
			uint32_t s = d[k] < g->n ? g->ph[d[k]].status : FA;
			p->deps_left += !is_done(s);
			p->deps_bad += is_bad(s);
		}
	}
	for (uint32_t i = 0; i < g->n; i++) {
		uint32_t s = g->ph[i].status;

		if (!is_open(s))
			continue;
		count_open(g, g->ph[i].wave, 1);
		if (s == IP) {
			run_link(g, i);
			reg->nrunning++;
		}
		if (s == QU)
			ready_add(g, i, NULL);
		if (g->ph[i].wave < low)
			low = g->ph[i].wave;
	}
	/* Every wave from the lowest open one on is unfinished, including
	 * later waves closed when all the rest failed. */
	for (uint32_t w = low; w < g->nwaves; w++)
		g->waves[w].end_ns = 0;
	reg->minw = 0;
	close_waves(g, prdshm__now_real(), prdshm__now_mono());
}

/* ------------------------------------------------------------------------ */
/* The state machine                                                        */

int prdshm__phase_transition_error(const struct geom *g, uint32_t i, uint32_t from,
				   uint32_t to, const char *why)
{
	char id[PRDSHM_ID_MAX + 1];

	return prdshm__fail(PRDSHM_ETRANSITION, "illegal phase transition %s -> %s for phase '%s'%s",
			    sname(from), sname(to), pid_of(g, i, id), why ? why : "");
}

/* Move phase @p i to @p to if the table allows it, recording who and when,
 * and update the derived state.  Call when holding the phase mutex. */
int prdshm__phase_set_status(const struct geom *g, uint32_t i, uint32_t to, struct op *op)
{
	struct prdshm__phase *p = &g->ph[i];
	uint32_t from = p->status;

	if (from >= NSTATUS || to >= NSTATUS || !allowed[from][to])
		return prdshm__phase_transition_error(g, i, from, to, NULL);
	p->status = to;
	PRDSHM__CRASH_POINT("phase_transition");
	p->changed_ns = op->now;
	prdshm__strlcpy(p->changed_by, op->who, sizeof(p->changed_by));
	derive(g, i, from, to, op);
	return 0;
}

/*
 * Drain the settle list: bring each listed phase's readiness in line with
 * its dependencies (block the dependants of failed, cancelled or blocked
 * phases, unblock those whose dependencies recovered, queue those whose
 * dependencies are all done).  A change lists that phase's own dependants,
 * so chains settle in one drain, touching only the phases that change and
 * their dependants.  The plan is acyclic, so the drain ends; the bound
 * only guards against a scribbled list.  Call when holding the phase mutex.
 */
void prdshm__phase_settle(const struct geom *g, struct op *op)
{
	for (uint64_t budget = 4 * ((uint64_t)g->n + g->arena_bytes / 4 + 1); budget > 0;
	     budget--) {
		uint32_t i = settle_pop(g);

		if (i == NIL)
			break;
		if (!unsettled(&g->ph[i]))
			continue;
		prdshm__phase_set_status(g, i, prdshm__phase_want_of(&g->ph[i]), op);
		PRDSHM__CRASH_POINT("phase_settle");
	}
}

/* List every phase whose readiness is off, dependencies first, and settle:
 * the full pass of a repair.  Call when holding the phase mutex. */
void prdshm__phase_settle_all(const struct geom *g, struct op *op)
{
	/* The list is a stack: push in reverse topological order. */
	for (uint32_t k = g->n; k-- > 0;) {
		uint32_t i = g->topo[k];
		if (i < g->n && unsettled(&g->ph[i]))
			settle_push(g, i);
	}
	prdshm__phase_settle(g, op);
}

/* Waves mode: waves (@p from, @p to] have just opened; their QUEUED phases
 * become claimable.  Each wave opens once (current_wave only grows), and
 * its phases are one run of the topological order, found by bisection. */
static void open_waves(const struct geom *g, uint32_t from, uint32_t to, struct op *op)
{
	uint32_t lo = 0, hi = g->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2, i = g->topo[mid];
		if (i < g->n && g->ph[i].wave <= from)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint32_t k = lo; k < g->n; k++) {
		uint32_t i = g->topo[k];
		if (i >= g->n)
			continue;
		if (g->ph[i].wave > to)
			break;
		if (g->ph[i].status == QU)
			ready_add(g, i, op);
	}
}

/*
 * Open the lowest wave with an open phase once wave_delay_seconds have
 * passed since the last one closed (at once in eager mode, where
 * current_wave is only for display).  Call when holding the phase mutex.
 */
static void update_waves(const struct geom *g, struct op *op, struct run_state *st)
{
	struct prdshm__phase_region *reg = g->reg;
	uint32_t cw = reg->current_wave;
	uint64_t delay = (uint64_t)g->delay_s * 1000000000u, due;

	if (st->minw <= cw || st->minw >= g->nwaves)
		return;
	due = reg->wave_done_mono + delay;
	if (g->sched == PRDSHM_SCHED_EAGER || op->mono >= due) {
		reg->current_wave = st->minw;
		if (g->sched == PRDSHM_SCHED_WAVES)
			open_waves(g, cw, st->minw, op);
		prdshm__phase_ring(g, op);
	} else {
		st->delay_left_ns = due - op->mono;
	}
}

/* Read the counts, close finished waves, record the run's end and open the
 * next wave.  O(1) amortised.  Call when holding the phase mutex. */
void prdshm__phase_refresh(const struct geom *g, struct op *op, struct run_state *st)
{
	struct prdshm__phase_region *reg = g->reg;

	memset(st, 0, sizeof(*st));
	close_waves(g, op->now, op->mono);
	st->nrunning = reg->nrunning;
	st->nopen = reg->nopen;
	st->minw = reg->minw;
	if (st->nopen > 0)
		reg->run_end_ns = 0;
	else if (reg->run_end_ns == 0 && reg->run_start_ns != 0)
		reg->run_end_ns = op->now;
	update_waves(g, op, st);
}

/* Clear the holder's agent record, if it still points at phase @p i (none
 * when @p seg is NULL: a private image).  Call when holding the phase mutex (guards agents[].phase and .status). */
void prdshm__phase_release_agent(struct prdshm_seg *seg, const struct geom *g, uint32_t i)
{
	int32_t slot = g->ph[i].agent_slot;
	struct prdshm__agent *a;

	/* No agents table on a private image (image.h). */
	if (seg == NULL || slot < 0 || (uint32_t)slot >= prdshm__sessions(seg)->max_agents)
		return;
	a = &prdshm__sessions(seg)->agents[slot];
	if (a->phase != (int32_t)i)
		return;
	a->phase = -1;
	if (a->status == PRDSHM_AGENT_BUSY)
		a->status = PRDSHM_AGENT_IDLE;
}

/* Requeue phase @p i after a failure if attempts remain (or @p force).
 * Call when holding the phase mutex. */
void prdshm__phase_maybe_requeue(const struct geom *g, uint32_t i, int force, struct op *op)
{
	if (!force && g->ph[i].attempts >= (uint32_t)g->max_attempts)
		return;
	PRDSHM__CRASH_POINT("phase_requeue");
	if (prdshm__phase_set_status(g, i, QU, op) == 0)
		prdshm__phase_ring(g, op);
}

/*
 * The dead-agent rule: IN_PROGRESS phase @p i, whose holder is gone, fails
 * with "agent <id> died", then goes back to QUEUED while attempts remain
 * or when @p requeue.  Call when holding the phase mutex.
 */
void prdshm__phase_holder_died(struct prdshm_seg *seg, const struct geom *g, uint32_t i,
			       int requeue, struct op *op,
			       void (*report)(void *ctx, const char *line), void *ctx)
{
	struct prdshm__phase *p = &g->ph[i];
	char agent[PRDSHM_ID_MAX + 1], id[PRDSHM_ID_MAX + 1], line[256];

	memcpy(agent, p->agent_id, PRDSHM_ID_MAX);
	agent[PRDSHM_ID_MAX] = '\0';
	snprintf(p->message, sizeof(p->message), "agent %s died", agent);
	p->exit_status = -1;
	p->end_ns = op->now;
	prdshm__phase_release_agent(seg, g, i);
	if (prdshm__phase_set_status(g, i, FA, op) != 0)
		return;
	PRDSHM__CRASH_POINT("phase_died");
	prdshm__phase_maybe_requeue(g, i, requeue, op);
	if (report) {
		snprintf(line, sizeof(line), "phase %s: agent %s died, phase %s", pid_of(g, i, id),
			 agent, sname(p->status));
		report(ctx, line);
	}
}

int prdshm_phase_transition_allowed(prdshm_phase_status from, prdshm_phase_status to)
{
	if ((int)from < 0 || (int)from >= NSTATUS || (int)to < 0 || (int)to >= NSTATUS)
		return 0;
	return allowed[from][to];
}
