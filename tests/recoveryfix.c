/*
 * recoveryfix.c: the fixture of the recovery test programs (test_recovery,
 * test_scribbles): one segment with a single lock partition, and
 * prdshm_check() with its problems collected.
 */
#include <string.h>

#include "recoveryfix.h"


void tr_fx_create(struct tr_fx *f, const char *plan_yaml)
{
	prdshm_diag d = PRDSHM_DIAG_INIT;

	tu_config(&f->cfg);
	f->cfg.max_locks = 64;
	f->cfg.wave_delay_seconds = 0;
	if (plan_yaml)
		CU_ASSERT_EQUAL_FATAL(prdshm_config_load_string(&f->cfg, plan_yaml,
								strlen(plan_yaml), "plan", &d),
				      0);
	f->seg = tu_seg_create(&f->cfg);
}

void tr_fx_destroy(struct tr_fx *f)
{
	tu_destroy(&f->cfg, f->seg);
}

static void collect_problem(void *ctx, int severity, const char *problem)
{
	tu_collect(ctx, problem);
}

int tr_check(prdshm_seg *seg, unsigned flags, struct tu_lines *l)
{
	l->len = 0;
	l->text[0] = '\0';
	return prdshm_check(seg, flags, collect_problem, l);
}

uint32_t tr_needs_recovery(prdshm_seg *seg)
{
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;

	CU_ASSERT_EQUAL(prdshm_seg_info_get(seg, &info), 0);
	return info.needs_recovery;
}
