/*
 * recoveryfix.h: the fixture of the recovery test programs (recoveryfix.c).
 */
#ifndef PRDSHM_TEST_RECOVERYFIX_H
#define PRDSHM_TEST_RECOVERYFIX_H

#include <stdint.h>

#include "testutil.h"

/* One segment; max_locks below 256 gives a single lock partition. */
struct tr_fx {
	prdshm_config cfg;
	prdshm_seg *seg;
};

/* Create it, with the plan @p plan_yaml (or none) and no wave delay. */
void tr_fx_create(struct tr_fx *f, const char *plan_yaml);
void tr_fx_destroy(struct tr_fx *f);

/* prdshm_check() with its problems collected into @p l (cleared first). */
int tr_check(prdshm_seg *seg, unsigned flags, struct tu_lines *l);

/* The segment's recovery mark (prdshm_seg_info_get()). */
uint32_t tr_needs_recovery(prdshm_seg *seg);

#endif
