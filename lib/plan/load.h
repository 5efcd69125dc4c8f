/*
 * load.h: the validation of the phase region's immutable part (load.c), for
 * the repair and the checker.
 */
#ifndef PRDSHM_INTERNAL_PLAN_LOAD_H
#define PRDSHM_INTERNAL_PLAN_LOAD_H

#include <stdint.h>

#include "base/util.h"
#include "plan/region.h"

typedef void (*problem_fn)(void *ctx, int severity, const char *problem);

/* Format a problem and give it to @p report, unless NULL. */
void prdshm__phase_problem(problem_fn report, void *ctx, int severity, const char *fmt, ...)
	PRDSHM__PRINTF(4, 5);

/* Check everything immutable: the dependency, dependant and output lists,
 * the strings, the waves, the topological and claim orders.  Each problem
 * goes to @p report (may be NULL).  @return the number of problems. */
uint32_t prdshm__phase_check_static(const struct geom *g, problem_fn report, void *ctx);
#endif
