/*
 * repair.c: taking the phase mutex.  When its holder died inside the
 * critical section, the repair rebuilds everything the mutex guards from
 * the statuses before anyone goes on (repair_locked()); a derived field
 * found out of range by a writer is healed the same way; prdshm_recover()
 * revives and repairs it as its last step (prdshm__phases_recover()).  Also
 * the private copy of the region that inspection reads, made under the
 * mutex when it can be had quickly.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/futex.h"
#include "shm/robust.h"
#include "base/util.h"
#include "plan/load.h"
#include "plan/repair.h"
#include "session/session.h"

/* How long inspection waits for the phase mutex before reading without it. */
#define INSPECT_TIMEOUT_MS 200

/* ------------------------------------------------------------------------ */
/* Locking and repair                                                       */

void prdshm__phase_repair_ctx_init(struct repair_ctx *rc, const prdshm_session *s)
{
	memset(rc, 0, sizeof(*rc));
	rc->who = s ? s->id : "operator";
	if (s) {
		rc->has_self = 1;
		rc->slot = s->slot;
		rc->gen = s->gen;
	}
}

int prdshm__phase_holder_alive(struct prdshm_seg *seg, const struct prdshm__phase *p,
			       const struct repair_ctx *rc)
{
	if (p->agent_slot < 0 || (uint32_t)p->agent_slot >= prdshm__sessions(seg)->max_agents)
		return 0;
	if (rc && rc->has_self && rc->slot == (uint32_t)p->agent_slot && rc->gen == p->agent_gen)
		return 1;
	return prdshm__session_alive(seg, (uint32_t)p->agent_slot, p->agent_gen);
}

/* The agents' phase fields follow from the IN_PROGRESS phases. */
static void rebuild_agents(struct prdshm_seg *seg, const struct geom *g)
{
	for (uint32_t a = 0; a < prdshm__sessions(seg)->max_agents; a++)
		prdshm__sessions(seg)->agents[a].phase = -1;
	for (uint32_t i = 0; i < g->n; i++) {
		int32_t slot = g->ph[i].agent_slot;
		if (g->ph[i].status == IP && slot >= 0 && (uint32_t)slot < prdshm__sessions(seg)->max_agents)
			prdshm__sessions(seg)->agents[slot].phase = (int32_t)i;
	}
}

/* Terminate the mutable strings, which a crash may have left half-written. */
static void terminate_strings(const struct geom *g)
{
	for (uint32_t i = 0; i < g->n; i++) {
		struct prdshm__phase *p = &g->ph[i];
		p->id[PRDSHM_ID_MAX] = '\0';
		p->agent_id[PRDSHM_ID_MAX] = '\0';
		p->changed_by[PRDSHM_ID_MAX] = '\0';
		p->message[PRDSHM_MSG_MAX] = '\0';
	}
}

/*
 * A QUEUED, IN_PROGRESS or COMPLETED phase whose dependencies are not all
 * done (only a scribble makes one: no transition leads there) goes back
 * to what its dependencies say, NOT_STARTED or BLOCKED, reported.  A
 * holder loses its phase as on a cancel; a completion is not trusted,
 * since its inputs did not exist, so the phase runs again.  Walking the
 * topological order, dependencies first, takes the dependants of a
 * rewound phase along in one pass.  Bypasses the table (its reverse
 * edges are absent on purpose); prdshm__phase_index_rebuild() must follow.  Call when
 * holding the phase mutex.
 */
static void rewind_early(struct prdshm_seg *seg, const struct geom *g, struct op *op,
			 const struct repair_ctx *rc)
{
	char id[PRDSHM_ID_MAX + 1], line[256];

	for (uint32_t k = 0; k < g->n; k++) {
		uint32_t i = g->topo[k], from, to;
		struct prdshm__phase *p;

		if (i >= g->n)
			continue;
		p = &g->ph[i];
		from = p->status;
		to = prdshm__phase_readiness(g, i);
		if ((from != QU && from != IP && from != CO) || to == QU)
			continue;
		if (from == IP) {
			prdshm__phase_release_agent(seg, g, i);
			p->end_ns = op->now;
		}
		if (from != QU)
			snprintf(p->message, sizeof(p->message), "%s before its dependencies were done",
				 sname(from));
		p->status = to;
		p->changed_ns = op->now;
		prdshm__strlcpy(p->changed_by, op->who, sizeof(p->changed_by));
		if (rc->report) {
			snprintf(line, sizeof(line),
				 "phase %s: %s before its dependencies were done, now %s",
				 pid_of(g, i, id), sname(from), sname(to));
			rc->report(rc->ctx, line);
		}
	}
}

/*
 * Rebuild everything derived after a holder of the phase mutex died inside
 * the critical section: validate the immutable indexes, rewind statuses
 * that contradict the dependencies, rebuild the ready
 * index and the counts from the statuses, fail or requeue the phases of
 * dead holders, settle readiness, recount the waves and the agents' phase
 * fields, and wake every waiter.  A status out of range cannot be guessed,
 * so it makes the repair fail.  Call when holding the phase mutex.
 */
static int repair_locked(struct prdshm_seg *seg, const struct geom *g, struct repair_ctx *rc)
{
	struct run_state st;
	struct op op;

	if (prdshm__phase_check_static(g, NULL, NULL))
		return prdshm__fail(PRDSHM_ECORRUPT, "phase region: dependency lists corrupt");
	for (uint32_t i = 0; i < g->n; i++) {
		if (g->ph[i].status >= NSTATUS)
			return prdshm__fail(PRDSHM_ECORRUPT, "phase %u: status %u out of range", i,
					    g->ph[i].status);
	}
	prdshm__phase_op_init(&op, rc->who);
	terminate_strings(g);
	rewind_early(seg, g, &op, rc);
	/* First, so that the transitions below update a consistent index. */
	prdshm__phase_index_rebuild(g);
	rebuild_agents(seg, g);
	for (uint32_t i = 0; i < g->n; i++) {
		if (g->ph[i].status == IP && !prdshm__phase_holder_alive(seg, &g->ph[i], rc))
			prdshm__phase_holder_died(seg, g, i, 0, &op, rc->report, rc->ctx);
	}
	/* Every path to FAILED requeues while attempts remain, in the same
	 * critical section; a crash in between (after prdshm__phase_set_status(FAILED),
	 * before maybe_requeue) leaves a FAILED phase with attempts to spare
	 * and its dependants BLOCKED for good.  Finish the requeue. */
	for (uint32_t i = 0; i < g->n; i++) {
		if (g->ph[i].status == FA)
			prdshm__phase_maybe_requeue(g, i, 0, &op);
	}
	prdshm__phase_settle_all(g, &op);
	prdshm__phase_refresh(g, &op, &st);
	prdshm__doorbell_ring(&g->reg->doorbell);
	/* Waking while holding the mutex is fine here: repair is rare. */
	prdshm__futex_wake_all(&g->reg->doorbell);
	return 0;
}

static int phases_repair(struct prdshm_seg *seg, void *arg)
{
	struct geom g;
	int r = prdshm__phase_geom_load(seg, &g);

	if (r)
		return r;
	return repair_locked(seg, &g, arg);
}

/* Take the phase mutex (repairing if its holder died).  On success the
 * caller owns the mutex and @p g describes the region. */
static int phase_lock(struct prdshm_seg *seg, struct geom *g, struct repair_ctx *rc,
		      int64_t timeout_ms)
{
	int r;

	if (seg == NULL || seg->hdr == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no segment");
	if (__atomic_load_n(&seg->hdr->needs_recovery, __ATOMIC_ACQUIRE))
		return prdshm__fail(PRDSHM_ERECOVER, "segment needs recovery: run prdshm-cleanup");
	r = prdshm__phase_geom_load(seg, g);
	if (r)
		return r;
	return prdshm__mutex_lock(seg, &g->reg->mutex, timeout_ms, phases_repair, rc);
}

/* The derived fields that are indexes or bounds are in range, and the
 * settle list is empty, as every critical section leaves it. */
static int derived_sane(const struct geom *g)
{
	const struct prdshm__phase_region *reg = g->reg;

	return (g->nwaves ? reg->current_wave < g->nwaves : reg->current_wave == 0) &&
	       reg->minw <= g->nwaves && reg->nopen <= g->n && reg->nrunning <= reg->nopen &&
	       (reg->run_head == NIL || reg->run_head < g->n) && reg->settle_head == NIL;
}

/* Rebuild the derived state from the statuses (they are authoritative) and
 * wake the waiters.  Call when holding the phase mutex. */
void prdshm__phase_heal(const struct geom *g)
{
	prdshm__phase_index_rebuild(g);
	prdshm__doorbell_ring(&g->reg->doorbell);
	prdshm__futex_wake_all(&g->reg->doorbell);
}

/* Take the phase mutex to change the region: as phase_lock(), then a
 * derived field out of range (a scribble, not a crash) is rebuilt rather
 * than trusted.  Inspection uses phase_lock() and reports it instead. */
int prdshm__phase_lock_rw(struct prdshm_seg *seg, struct geom *g, struct repair_ctx *rc)
{
	/* Without limit, or as the public call's bound (claim, wait). */
	int r = phase_lock(seg, g, rc, -1);

	if (r == 0 && !derived_sane(g))
		prdshm__phase_heal(g);
	return r;
}

/* Unlock, then wake the waiters if the operation rang the doorbell. */
void prdshm__phase_unlock(const struct geom *g, const struct op *op)
{
	prdshm__mutex_unlock(&g->reg->mutex);
	if (op && op->ring)
		prdshm__futex_wake_all(&g->reg->doorbell);
}

/* ------------------------------------------------------------------------ */
/* Recovery                                                                 */

/* Make the phase mutex usable again, whatever state a crash or a misuse
 * left it in: recovery rebuilds everything it guards anyway. */
static int revive(struct geom *g)
{
	pthread_mutex_t *m = &g->reg->mutex.m;
	int r = pthread_mutex_trylock(m);

	if (r == ENOTRECOVERABLE)
		return prdshm__mutex_init(&g->reg->mutex);
	if (r == EOWNERDEAD)
		pthread_mutex_consistent(m);
	if (r == 0 || r == EOWNERDEAD)
		pthread_mutex_unlock(m);
	return 0;
}

int prdshm__phases_recover(struct prdshm_seg *seg, void (*report)(void *ctx, const char *line),
			   void *ctx)
{
	struct repair_ctx rc;
	struct geom g;
	int r;

	prdshm__phase_repair_ctx_init(&rc, NULL);
	rc.report = report;
	rc.ctx = ctx;
	if (seg == NULL || seg->hdr == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no segment");
	/* Not phase_lock(): recovery runs while the segment is marked. */
	r = prdshm__phase_geom_load(seg, &g);
	if (r == 0)
		r = revive(&g);
	if (r)
		return r;
	r = prdshm__mutex_lock(seg, &g.reg->mutex, -1, phases_repair, &rc);
	if (r)
		return r;
	r = repair_locked(seg, &g, &rc);
	prdshm__mutex_unlock(&g.reg->mutex);
	/* The recovery mark is prdshm_recover()'s to clear, and only if
	 * nobody marked the segment again meanwhile. */
	return r;
}

/* ------------------------------------------------------------------------ */
/* Inspection                                                               */

/* Copy the region into private memory, and the agents' phase fields into
 * @p agent_phase unless NULL, under the mutex if @p locked and it can be
 * had quickly, so that parsing never races with writers.  @return the
 * copy, NULL when out of memory. */
unsigned char *prdshm__phase_copy_region(struct prdshm_seg *seg, int locked, uint64_t bytes,
					 int32_t *agent_phase, int *got)
{
	struct repair_ctx rc;
	struct geom g;
	unsigned char *copy = malloc(bytes ? bytes : 1);

	*got = 0;
	if (copy == NULL)
		return NULL;
	prdshm__phase_repair_ctx_init(&rc, NULL);
	if (locked && phase_lock(seg, &g, &rc, INSPECT_TIMEOUT_MS) == 0)
		*got = 1;
	memcpy(copy, prdshm__plan(seg)->base, bytes);
	for (uint32_t a = 0; agent_phase && a < prdshm__sessions(seg)->max_agents; a++)
		agent_phase[a] = prdshm__sessions(seg)->agents[a].phase;
	if (*got)
		prdshm__mutex_unlock(&g.reg->mutex);
	return copy;
}
