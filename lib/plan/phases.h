/*
 * phases.h: the phase region of the segment, as seen by the segment code
 * that sizes, initialises, validates and repairs it, and by the sessions,
 * recovery, snapshot and check code.  Its code is in lib/plan/, one file a
 * concept: region.c (geometry, sizing, layout hash), load.c (loading and
 * validating the plan), state.c (state machine, derived state), repair.c
 * (the phase mutex and its repair), image.c (the operations on a region
 * or a private image of it, for both backends: image.h), claim.c, steer.c,
 * dead.c, plan_snapshot.c and plan_check.c; their shared internals are in
 * region.h, state.h, load.h and repair.h.
 */
#ifndef PRDSHM_INTERNAL_PHASES_H
#define PRDSHM_INTERNAL_PHASES_H

#include <stddef.h>
#include <stdint.h>

#include "prdshm.h"
#include "shm/segment.h"

/* Its index in the shm backend's region list (lib/ops/regions.c). */
#define PRDSHM__REGION_PHASES 2

/* The plan layer's view (prdshm__seg_view()): where the region is. */
struct prdshm__plan {
	unsigned char *base;
	uint64_t bytes;
};

static inline struct prdshm__plan *prdshm__plan(const struct prdshm_seg *seg)
{
	return (struct prdshm__plan *)prdshm__seg_view(seg, PRDSHM__REGION_PHASES);
}

extern const struct prdshm__region_type prdshm__phases_region;

/*
 * The region, at prdshm__plan(seg)->base (offsets below are from its start):
 *
 *   +--------------------------------+  0
 *   | struct prdshm__phase_region    |  mutex, doorbell, run and wave state
 *   +--------------------------------+  off_phases
 *   | phases[max_phases]             |  struct prdshm__phase
 *   +--------------------------------+  off_waves
 *   | waves[max_phases]              |  struct prdshm__wave
 *   +--------------------------------+  off_ready
 *   | ready bitmap                   |  uint64_t words, level 0 first
 *   +--------------------------------+  off_arena
 *   | arena                          |  topological order, claim order,
 *   |                                |  dependency and dependant index
 *   |                                |  lists, output tables,
 *   |                                |  strings (NUL-terminated)
 *   +--------------------------------+  region_bytes (= the region table)
 *
 * Immutable fields are written by the creator under the init lock, before
 * the segment's magic, and only read afterwards; every value read from them
 * is still bounds-checked before use, because any process that maps the
 * segment may scribble on it.
 *
 * Statuses are authoritative.  Everything marked "derived" follows from
 * them and is rebuilt from them by the repair after a crashed holder (see
 * docs/phases.md, "The ready index").  The derived fields let a claim and a
 * completion touch only what changes: the claimable phases are the set
 * bits of the ready bitmap, indexed by claim rank, and a phase knows how
 * many of its dependencies are not done yet.
 *
 * The ready bitmap: bit r of level 0 is set when the phase of claim rank r
 * is QUEUED and in an open wave; bit k of level l + 1 is set when word k of
 * level l is not 0.  Its geometry (READY_FANOUT bits a word, level sizes)
 * follows from max_phases alone, so no offset inside it is stored.
 */
#define PRDSHM__PHASES_MAGIC 0x53414850u /* "PHAS" little-endian */

/* A string in the arena: @p len bytes at @p off, followed by a NUL.
 * off == PRDSHM__NIL means "none" (a phase without a command). */
struct prdshm__str {
	uint32_t off;
	uint32_t len;
};
/* The field lists of the phase structs, for the layout hash (layout.h). */
#define PRDSHM__STR_FIELDS(F, S) F(S, off) F(S, len)
PRDSHM__LAYOUT_CHECK(prdshm__str, PRDSHM__STR_FIELDS);

struct prdshm__phase_region {
	/* The phase mutex: guards every field marked "phase mutex" below, the
	 * phases' and waves' mutable fields, the ready bitmap, and
	 * agents[].phase / .status. */
	struct prdshm__mutex mutex;

	/* Immutable after creation. */
	uint32_t magic;           /* PRDSHM__PHASES_MAGIC */
	uint32_t max_phases;      /* capacity of phases[] and waves[] */
	uint32_t nphases;         /* phases in the plan, <= max_phases */
	uint32_t nwaves;          /* waves of the plan, <= nphases */
	uint64_t region_bytes;    /* equals the region table */
	uint64_t off_phases, off_waves, off_ready, off_arena;
	uint64_t arena_bytes;
	uint32_t topo_off;        /* arena offset of uint32_t[nphases]: wave order */
	uint32_t order_off;       /* arena offset of uint32_t[nphases]: claim rank
				   * -> phase, best first */
	int32_t max_parallel;     /* max_parallel_agents, >= 1 */
	int32_t max_attempts;     /* phase_max_attempts, >= 1 */
	int32_t wave_delay_s;     /* wave_delay_seconds, >= 0 */
	int32_t scheduling;       /* prdshm_scheduling */

	/* Futex word: incremented (phase mutex held) whenever a claim may newly
	 * succeed; waiters read it under the mutex, then sleep on it without. */
	uint32_t doorbell;

	/* Phase mutex. */
	uint32_t current_wave;    /* waves mode: the open wave */
	uint32_t nrunning;        /* derived: IN_PROGRESS phases */
	uint32_t nopen;           /* derived: NOT_STARTED + QUEUED + IN_PROGRESS */
	uint32_t minw;            /* derived: the lowest wave with an open phase
				   * (nwaves if none) as of the last recount;
				   * waves below it are closed */
	uint32_t run_head;        /* derived: IN_PROGRESS list, PRDSHM__NIL if empty */
	uint32_t settle_head;     /* derived: phases whose readiness may have
				   * changed; empty outside a critical section */
	uint32_t pad0_;
	uint64_t run_start_ns;    /* first claim, CLOCK_REALTIME; 0 before */
	uint64_t run_end_ns;      /* every phase final; 0 while open */
	uint64_t wave_done_mono;  /* CLOCK_MONOTONIC when the last wave closed */
	char pad1_[48];           /* to the end of the cache line */
} __attribute__((aligned(64)));
#define PRDSHM__PHASE_REGION_FIELDS(F, S)                                                 \
	F(S, mutex) F(S, magic) F(S, max_phases) F(S, nphases) F(S, nwaves) F(S, region_bytes) \
	F(S, off_phases) F(S, off_waves) F(S, off_ready) F(S, off_arena) F(S, arena_bytes)  \
	F(S, topo_off) F(S, order_off) F(S, max_parallel) F(S, max_attempts)                \
	F(S, wave_delay_s) F(S, scheduling) F(S, doorbell) F(S, current_wave) F(S, nrunning) \
	F(S, nopen) F(S, minw) F(S, run_head) F(S, settle_head) F(S, pad0_)                 \
	F(S, run_start_ns) F(S, run_end_ns) F(S, wave_done_mono) F(S, pad1_)
PRDSHM__LAYOUT_CHECK(prdshm__phase_region, PRDSHM__PHASE_REGION_FIELDS);

struct prdshm__phase {
	/* Immutable after creation. */
	char id[PRDSHM_ID_MAX + 1];
	struct prdshm__str name;
	struct prdshm__str command;   /* off == PRDSHM__NIL: none */
	uint32_t wave;
	uint32_t ndeps, deps_off;     /* arena: uint32_t phase indexes */
	uint32_t ndependants, dependants_off; /* arena: the phases that list this
					       * one, by index (the reverse of
					       * deps) */
	uint32_t noutputs, outputs_off; /* arena: struct prdshm__str[noutputs] */
	uint32_t rank;                /* claim rank: position in the order array */
	double estimated_minutes;
	double remaining;             /* priority: longest remaining path */

	/* Phase mutex. */
	uint32_t status;              /* prdshm_phase_status */
	uint32_t attempts;            /* claims so far */
	int32_t agent_slot;           /* holder (IN_PROGRESS) or last runner; -1 */
	uint32_t agent_gen;
	int32_t exit_status;
	uint32_t scratch;             /* meaningful within one critical section */
	uint32_t deps_left;           /* derived: dependencies not done */
	uint32_t deps_bad;            /* derived: dependencies FAILED, CANCELLED
				       * or BLOCKED */
	uint32_t run_prev, run_next;  /* derived: IN_PROGRESS list links */
	uint32_t settle_next;         /* derived: settle list link, PRDSHM__NIL
				       * when not on it, itself when last */
	uint32_t pad1_;
	uint64_t start_ns, end_ns;    /* CLOCK_REALTIME; 0 if not yet */
	uint64_t changed_ns;          /* last transition, CLOCK_REALTIME */
	char agent_id[PRDSHM_ID_MAX + 1];
	char changed_by[PRDSHM_ID_MAX + 1]; /* agent id or "operator" */
	char message[PRDSHM_MSG_MAX + 1];
};
#define PRDSHM__PHASE_FIELDS(F, S)                                                        \
	F(S, id) F(S, name) F(S, command) F(S, wave) F(S, ndeps) F(S, deps_off)             \
	F(S, ndependants) F(S, dependants_off) F(S, noutputs) F(S, outputs_off) F(S, rank)  \
	F(S, estimated_minutes) F(S, remaining) F(S, status) F(S, attempts) F(S, agent_slot) \
	F(S, agent_gen) F(S, exit_status) F(S, scratch) F(S, deps_left) F(S, deps_bad)      \
	F(S, run_prev) F(S, run_next) F(S, settle_next) F(S, pad1_) F(S, start_ns)          \
	F(S, end_ns) F(S, changed_ns) F(S, agent_id) F(S, changed_by) F(S, message)
PRDSHM__LAYOUT_CHECK(prdshm__phase, PRDSHM__PHASE_FIELDS);

/* Phase mutex. */
struct prdshm__wave {
	uint64_t start_ns;            /* first claim in the wave; 0 before */
	uint64_t end_ns;              /* all its phases final; 0 while open */
	uint32_t nopen;               /* derived: its open phases */
	uint32_t pad_;
};
#define PRDSHM__WAVE_FIELDS(F, S) F(S, start_ns) F(S, end_ns) F(S, nopen) F(S, pad_)
PRDSHM__LAYOUT_CHECK(prdshm__wave, PRDSHM__WAVE_FIELDS);

/* Bytes the phase region needs for @p cfg (max_phases and the plan). */
size_t prdshm__phases_bytes(const prdshm_config *cfg);

/* Initialise the region at prdshm__plan(seg)->base from @p cfg's plan.  Called once by
 * the creator, under the init lock, before the magic is written. */
int prdshm__phases_init(struct prdshm_seg *seg, const prdshm_config *cfg);

/* Validate the region's header at open (sizes, counts, offsets within
 * the region table).  @return 0 or PRDSHM_ECORRUPT. */
int prdshm__phases_validate(struct prdshm_seg *seg);

/* Contribution of the phase region to the layout hash: its structs' field
 * lists and the constants stored in it. */
uint32_t prdshm__phases_layout_hash(void);

/* A session died (or was reaped): its IN_PROGRESS phases become FAILED
 * "agent <id> died", or QUEUED while attempts remain or when @p requeue.
 * Takes the phase mutex.  @p report may be NULL. */
int prdshm__phases_session_died(struct prdshm_seg *seg, uint32_t slot, uint32_t gen,
				const char *agent_id, int requeue,
				void (*report)(void *ctx, const char *line), void *ctx);
/* After reaping: the IN_PROGRESS phases whose holder is in no live
 * session fail (or requeue) as on their holder's death.  A session closed
 * while it held a phase leaves one (prdshm_session_close() frees its slot,
 * which reaping then never visits), and so does a scribbled slot or
 * generation; a claim fails them on its way, but until then
 * prdshm_check() reports a dead holder, which reaping must clear.  Takes
 * the phase mutex.  @return 0 or the mutex's error. */
int prdshm__phases_reap_orphans(struct prdshm_seg *seg, int requeue,
			       void (*report)(void *ctx, const char *line), void *ctx);
/* Revive the phase mutex if it is unrecoverable, take it and rebuild
 * everything derived (as after a crash), failing or requeueing the phases
 * of dead sessions; on success clear the segment's needs-recovery mark.
 * For prdshm_recover(), as its last step.
 * @return 0, PRDSHM_ECORRUPT (cannot repair), PRDSHM_ESYS. */
int prdshm__phases_recover(struct prdshm_seg *seg,
			   void (*report)(void *ctx, const char *line), void *ctx);

/* Fill snap->phases, nphases, waves, nwaves, run_start_ns, run_end_ns and
 * current_wave with copies.  With @p locked, takes the phase mutex for at
 * most 200 ms, else (or on timeout) reads without it and sets
 * snap->locked = 0.  Strings are bounds-checked and terminated whatever the
 * segment holds.  @return 0 or PRDSHM_ENOMEM (nothing left allocated). */
int prdshm__phases_snapshot(struct prdshm_seg *seg, int locked, prdshm_snapshot *snap);
/* Free what prdshm__phases_snapshot() allocated; resets those fields. */
void prdshm__phases_snapshot_free(prdshm_snapshot *snap);

/* Check the region's invariants on a private copy of it, calling @p report
 * once per problem with PRDSHM_CHECK_WARN (a dead holder) or
 * PRDSHM_CHECK_ERROR.  The copy is made under the phase mutex if it can be
 * had within 200 ms; with PRDSHM_SNAP_NOLOCK in @p flags the mutex is not
 * touched at all (nor repaired), and a copy torn by a concurrent writer is
 * reported as inconsistent, never trusted further than its bounds checks.
 * @return 0; PRDSHM_EDEADOWNER (an IN_PROGRESS phase held by a dead
 * session); PRDSHM_ECORRUPT (status or index out of range, counts,
 * readiness or the ready index inconsistent with the statuses, a phase done
 * before its dependencies); PRDSHM_ENOMEM (no copy could be made). */
int prdshm__phases_check(struct prdshm_seg *seg, unsigned flags,
			 void (*report)(void *ctx, int severity, const char *problem), void *ctx);

/* The same two on a private image of the region from elsewhere (the
 * ZooKeeper backend's plan znode: @p bytes bytes at @p buf, which the
 * parse may not change but is not const in struct geom).  The snapshot
 * fills what prdshm__phases_snapshot() fills; the check runs the same
 * invariants, with @p holder deciding whether an IN_PROGRESS phase's
 * holder is alive: 1 alive, 0 dead (a warning, PRDSHM_EDEADOWNER), -1 no
 * such agent at all (an error).  The agents-table cross-check of the shm
 * form is left out: an image has no agents table. */
typedef int (*prdshm__holder_fn)(void *hctx, const struct prdshm__phase *p, uint32_t index);
int prdshm__phases_snapshot_image(unsigned char *buf, uint64_t bytes, prdshm_snapshot *snap);
int prdshm__phases_check_image(unsigned char *buf, uint64_t bytes, prdshm__holder_fn holder,
			       void *hctx,
			       void (*report)(void *ctx, int severity, const char *problem),
			       void *ctx);

/* The plan's entry points: the contracts of prdshm__shm_phase_claim_timed() ...
 * in prdshm.h; lib/api/ checks the handle and dispatches to them. */
int prdshm__shm_phase_claim_timed(prdshm_session *s, int64_t timeout_ms, prdshm_claim *out);
int prdshm__shm_phase_wait(prdshm_session *s, int64_t timeout_ms);
int prdshm__shm_phase_complete(prdshm_session *s, int32_t index);
int prdshm__shm_phase_fail(prdshm_session *s, int32_t index, int exit_status,
			   const char *message);
int prdshm__shm_phase_set(prdshm_seg *seg, prdshm_session *s, const char *id,
			  prdshm_phase_status to);
#endif
