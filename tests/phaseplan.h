/*
 * phaseplan.h: the plans and checks the phase test programs share
 * (phaseplan.c).
 */
#ifndef PRDSHM_TEST_PHASEPLAN_H
#define PRDSHM_TEST_PHASEPLAN_H

#include <stdint.h>

#include "testutil.h"

struct prdshm__phase;
struct prdshm__phase_region;

/* Append phase @p id to cfg's plan; @p deps is space-separated (or NULL).
 * Allocated with malloc so that prdshm_config_free() frees it. */
void tp_plan_add(prdshm_config *cfg, const char *id, double est, const char *deps);

/* tu_config() with @p sched, @p parallel agents at most, @p attempts per
 * phase and no wave delay; no plan yet. */
void tp_base_config(prdshm_config *cfg, prdshm_scheduling sched, int parallel, int attempts);

/* The snapshot entry of phase @p id (the snapshot is freed by the caller). */
prdshm_phase_info *tp_info_of(prdshm_snapshot *snap, const char *id);

/* Phase @p id's status from a snapshot, or -1 if there is no such phase. */
int tp_status_of(prdshm_seg *seg, const char *id);

/* Claim and expect phase @p id. */
int32_t tp_claim_expect(prdshm_session *s, const char *id);

/* A claim's result alone. */
int tp_claim_rc(prdshm_session *s);

/* prdshm_check(), its problems printed: 0 for a sound segment. */
int tp_healthy(prdshm_seg *seg);

/* Chain a -> b -> c, and d alone. */
prdshm_seg *tp_chain_plan(prdshm_config *cfg, int attempts);

/* Claim and complete until PRDSHM_EDONE (100 claims at most). */
void tp_run_to_end(prdshm_session *s);

/* Phase record @p i of the segment, writable (to scribble on). */
struct prdshm__phase *tp_phase_rec(prdshm_seg *seg, uint32_t i);

/* The segment's phase region header, writable. */
struct prdshm__phase_region *tp_region(prdshm_seg *seg);
/*
 * d (claimed by a live session first), then a -> b -> c; two attempts.
 * A plan of 5000 phases' capacity, so that the ready bitmap has summary
 * levels.  Claim ranks: d 0, a 1, b 2, c 3.
 */
prdshm_seg *tp_crash_plan(prdshm_config *cfg);

#define ASSERT_STATUS(seg, id, st) CU_ASSERT_EQUAL(tp_status_of(seg, id), PRDSHM_PHASE_##st)

#endif
