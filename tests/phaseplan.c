/*
 * phaseplan.c: the plans and checks the phase test programs share
 * (test_phases, test_phase_index, test_phase_crashes): building a plan in a
 * configuration, a phase's status and snapshot entry, claiming with an
 * expectation, running to the end, the phase records for scribbling.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phaseplan.h"
#include "plan/phases.h"
#include "lock/region.h"
#include "session/region.h"
#include "shm/segment.h"

/* Append phase @p id to cfg's plan; @p deps is space-separated (or NULL).
 * Allocated with malloc so that prdshm_config_free() frees it. */
void tp_plan_add(prdshm_config *cfg, const char *id, double est, const char *deps)
{
	prdshm_phase_def *p;
	char *copy, *save = NULL;

	cfg->phases = realloc(cfg->phases, (cfg->nphases + 1) * sizeof(*cfg->phases));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg->phases);
	p = &cfg->phases[cfg->nphases++];
	memset(p, 0, sizeof(*p));
	p->id = strdup(id);
	p->name = strdup(id);
	p->estimated_minutes = est;
	if (deps == NULL)
		return;
	copy = strdup(deps);
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		p->deps = realloc(p->deps, (p->ndeps + 1) * sizeof(char *));
		p->deps[p->ndeps++] = strdup(t);
	}
	free(copy);
}

void tp_base_config(prdshm_config *cfg, prdshm_scheduling sched, int parallel, int attempts)
{
	tu_config(cfg);
	cfg->scheduling = sched;
	cfg->max_parallel_agents = parallel;
	cfg->phase_max_attempts = attempts;
	cfg->wave_delay_seconds = 0;
}

/* The snapshot entry of phase @p id (the snapshot is freed by the caller). */
prdshm_phase_info *tp_info_of(prdshm_snapshot *snap, const char *id)
{
	for (size_t i = 0; i < snap->nphases; i++) {
		if (strcmp(snap->phases[i].id, id) == 0)
			return &snap->phases[i];
	}
	return NULL;
}

int tp_status_of(prdshm_seg *seg, const char *id)
{
	prdshm_snapshot *snap = NULL;
	prdshm_phase_info *pi;
	int st = -1;

	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	pi = tp_info_of(snap, id);
	if (pi)
		st = (int)pi->status;
	prdshm_snapshot_free(snap);
	return st;
}

/* Claim and expect phase @p id. */
int32_t tp_claim_expect(prdshm_session *s, const char *id)
{
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	int r = prdshm_phase_claim(s, &c);

	CU_ASSERT_EQUAL(r, 0);
	if (r != 0) {
		fprintf(stderr, "claim: %s\n", prdshm_last_error());
		return -1;
	}
	CU_ASSERT_STRING_EQUAL(c.id, id);
	return c.index;
}

int tp_claim_rc(prdshm_session *s)
{
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	return prdshm_phase_claim(s, &c);
}

static void print_problem(void *ctx, int severity, const char *problem)
{
	(void)ctx;
	fprintf(stderr, "check: %d %s\n", severity, problem);
}

int tp_healthy(prdshm_seg *seg)
{
	return prdshm_check(seg, 0, print_problem, NULL);
}

/* Chain a -> b -> c, and d alone. */
prdshm_seg *tp_chain_plan(prdshm_config *cfg, int attempts)
{
	tp_base_config(cfg, PRDSHM_SCHED_EAGER, 3, attempts);
	tp_plan_add(cfg, "a", 3, NULL);
	tp_plan_add(cfg, "b", 1, "a");
	tp_plan_add(cfg, "c", 1, "b");
	tp_plan_add(cfg, "d", 1, NULL);
	return tu_seg_create(cfg);
}

void tp_run_to_end(prdshm_session *s)
{
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	int r;

	for (int n = 0; n < 100; n++) {
		r = prdshm_phase_claim(s, &c);
		if (r == PRDSHM_EDONE)
			return;
		CU_ASSERT_EQUAL_FATAL(r, 0);
		CU_ASSERT_EQUAL(prdshm_phase_complete(s, c.index), 0);
	}
	CU_FAIL("run did not end");
}

struct prdshm__phase *tp_phase_rec(prdshm_seg *seg, uint32_t i)
{
	struct prdshm__phase_region *reg = (struct prdshm__phase_region *)(void *)prdshm__plan(seg)->base;

	return (struct prdshm__phase *)(void *)(prdshm__plan(seg)->base + reg->off_phases) + i;
}

struct prdshm__phase_region *tp_region(prdshm_seg *seg)
{
	return (struct prdshm__phase_region *)(void *)prdshm__plan(seg)->base;
}

/*
 * d (claimed by a live session first), then a -> b -> c; two attempts.
 * A plan of 5000 phases' capacity, so that the ready bitmap has summary
 * levels.  Claim ranks: d 0, a 1, b 2, c 3.
 */
prdshm_seg *tp_crash_plan(prdshm_config *cfg)
{
	tp_base_config(cfg, PRDSHM_SCHED_EAGER, 3, 2);
	cfg->max_phases = 5000;
	tp_plan_add(cfg, "a", 3, NULL);
	tp_plan_add(cfg, "b", 1, "a");
	tp_plan_add(cfg, "c", 1, "b");
	tp_plan_add(cfg, "d", 10, NULL);
	return tu_seg_create(cfg);
}
