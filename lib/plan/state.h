/*
 * state.h: the phase state machine and the derived state (state.c), for the
 * operations of lib/plan/.  Everything here is called when holding the
 * phase mutex (or, for prdshm__phase_index_rebuild(), at creation).
 */
#ifndef PRDSHM_INTERNAL_PLAN_STATE_H
#define PRDSHM_INTERNAL_PLAN_STATE_H

#include <stdint.h>

#include "plan/image.h"
#include "plan/region.h"

/* One operation in progress: who acts, when, and whether to wake waiters. */
struct op {
	const char *who; /* agent id or "operator" */
	uint64_t now;    /* CLOCK_REALTIME */
	uint64_t mono;   /* CLOCK_MONOTONIC */
	int ring;        /* a claim may newly succeed: the doorbell was rung */
};

/* What prdshm__phase_refresh() found. */
struct run_state {
	uint32_t nrunning;      /* IN_PROGRESS */
	uint32_t nopen;         /* NOT_STARTED, QUEUED, IN_PROGRESS */
	uint32_t minw;          /* lowest wave with an open phase; nwaves if none */
	uint64_t delay_left_ns; /* waves mode: until the next wave opens */
};

/* Start an operation by @p who (NULL: "operator"), now. */
void prdshm__phase_op_init(struct op *op, const char *who);
/* Ring the doorbell; the waiters are woken after unlocking. */
void prdshm__phase_ring(const struct geom *g, struct op *op);

/* The lowest set rank of the ready bitmap, NIL if none; *torn is set when
 * the summaries lead nowhere. */
uint32_t prdshm__phase_ready_first(const struct geom *g, int *torn);
/* Claimable now: QUEUED, and in an open wave (any wave in eager mode). */
int prdshm__phase_eligible(const struct geom *g, uint32_t i);
/* The status NOT_STARTED / QUEUED / BLOCKED phase @p p should have, from
 * its dependency counts. */
uint32_t prdshm__phase_want_of(const struct prdshm__phase *p);
/* The same, recounted from phase @p i's dependencies (the checker's
 * reference). */
uint32_t prdshm__phase_readiness(const struct geom *g, uint32_t i);

/* Rebuild every derived field from the statuses. */
void prdshm__phase_index_rebuild(const struct geom *g);

/* Fail with PRDSHM_ETRANSITION naming @p from -> @p to for phase @p i, and
 * @p why (may be NULL). */
int prdshm__phase_transition_error(const struct geom *g, uint32_t i, uint32_t from,
				   uint32_t to, const char *why);
/* Move phase @p i to @p to if the table allows it, recording who and when,
 * and update the derived state.  @return 0 or PRDSHM_ETRANSITION. */
int prdshm__phase_set_status(const struct geom *g, uint32_t i, uint32_t to, struct op *op);
/* Drain the settle list: readiness follows the dependencies again. */
void prdshm__phase_settle(const struct geom *g, struct op *op);
/* List every phase whose readiness is off, and settle (a repair's pass). */
void prdshm__phase_settle_all(const struct geom *g, struct op *op);
/* Read the counts into @p st, close finished waves, record the run's end
 * and open the next wave. */
void prdshm__phase_refresh(const struct geom *g, struct op *op, struct run_state *st);

/* Clear the holder's agent record, if it still points at phase @p i
 * (nothing when @p seg is NULL: a private image has no agents table). */
void prdshm__phase_release_agent(struct prdshm_seg *seg, const struct geom *g, uint32_t i);
/* Requeue FAILED phase @p i if attempts remain (or @p force). */
void prdshm__phase_maybe_requeue(const struct geom *g, uint32_t i, int force, struct op *op);
/* The dead-agent rule: IN_PROGRESS phase @p i, whose holder is gone, fails
 * with "agent <id> died", then goes back to QUEUED while attempts remain or
 * when @p requeue.  @p report may be NULL. */
void prdshm__phase_holder_died(struct prdshm_seg *seg, const struct geom *g, uint32_t i,
			       int requeue, struct op *op,
			       void (*report)(void *ctx, const char *line), void *ctx);

/*
 * The operations, on the region of @p g (image.c): the shm backend calls
 * them holding the phase mutex, with its segment as @p seg so that the
 * holder's agent record follows; the image entry points of image.h call
 * them on a private copy with @p seg NULL.  Their contracts are those of
 * the public calls they implement.
 */
/* The best claimable phase into *best (NIL if none); a ready index that
 * disagrees with the statuses is rebuilt once.  @return 0 or
 * PRDSHM_ECORRUPT. */
int prdshm__phase_pick(const struct geom *g, struct op *op, uint32_t *best);
/* The claim once the caller is known to hold no phase: reap the running
 * phases of dead holders (@p alive) when nothing is ready, then take the
 * best.  @return 0, PRDSHM_EDONE, PRDSHM_EWAIT, PRDSHM_ECORRUPT. */
int prdshm__phase_claim_core(struct prdshm_seg *seg, const struct geom *g,
			     const struct prdshm__plan_holder *h, prdshm__plan_alive_fn alive,
			     void *actx, struct op *op, prdshm_claim *out);
/* Complete (@p to CO) or fail (FA) phase @p index held by @p h.
 * @return 0, PRDSHM_ENOPHASE, PRDSHM_ETRANSITION. */
int prdshm__phase_finish_core(struct prdshm_seg *seg, const struct geom *g,
			      const struct prdshm__plan_holder *h, int32_t index, uint32_t to,
			      int exit_status, const char *message, struct op *op);
/* Retry, cancel or skip phase @p id by hand.  @return 0, PRDSHM_ENOPHASE,
 * PRDSHM_ETRANSITION. */
int prdshm__phase_set_core(struct prdshm_seg *seg, const struct geom *g, const char *id,
			   prdshm_phase_status to, struct op *op);
/* Every IN_PROGRESS phase whose holder @p alive says is dead dies
 * (prdshm__phase_holder_died()).  @return how many. */
uint32_t prdshm__phase_reap_core(struct prdshm_seg *seg, const struct geom *g,
				 prdshm__plan_alive_fn alive, void *actx, int requeue,
				 struct op *op, prdshm__plan_report_fn report, void *rctx);
#endif
