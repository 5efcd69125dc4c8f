/*
 * lockfix.c: the lock-table fixture of test_locks and test_lock_procs: one
 * segment per test (tl_seg, from tl_cfg), sessions on it, and a check.
 */
#include <stdio.h>
#include <string.h>

#include "lockfix.h"

prdshm_config tl_cfg;
prdshm_seg *tl_seg;

void tl_setup(int max_locks)
{
	tu_config(&tl_cfg);
	tl_cfg.max_locks = max_locks;
	tl_cfg.deadlock_timeout_ms = 300;
	tl_seg = tu_seg_create(&tl_cfg);
}

void tl_teardown(void)
{
	tu_destroy(&tl_cfg, tl_seg);
	tl_seg = NULL;
}

prdshm_session *tl_session(const char *id)
{
	prdshm_session *s = NULL;

	CU_ASSERT_EQUAL(prdshm_session_open(tl_seg, id, 0, &s), 0);
	return s;
}

prdshm_session *tl_child_session(const char *id, prdshm_seg **cseg)
{
	return tu_child_session(tl_cfg.shm_name, id, cseg);
}

static void print_problem(void *ctx, int severity, const char *problem)
{
	fprintf(stderr, "check: %s\n", problem);
}

int tl_healthy(void)
{
	return prdshm_check(tl_seg, 0, print_problem, NULL);
}

int tl_held_alone_by(const char *res, const char *id, prdshm_mode mode, const char *phase)
{
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	size_t n = 0;

	return prdshm_lock_query(tl_seg, res, 0, h, 4, &n) == 0 && n == 1 && !h[0].waiting &&
	       strcmp(h[0].agent_id, id) == 0 && h[0].mode == mode &&
	       strcmp(h[0].phase_id, phase) == 0;
}
