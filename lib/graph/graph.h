/*
 * graph.h: the dependency graph's internals, shared by graph.c (ids, edges,
 * waves, build and queries), analysis.c (critical path, conflicts)
 * and diag.c (errors).  Not for use outside lib/graph/: the
 * rest of prdshm uses the prdshm_graph_* functions of prdshm.h.
 */
#ifndef PRDSHM_INTERNAL_PLAN_GRAPH_H
#define PRDSHM_INTERNAL_PLAN_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "prdshm.h"
#include "base/util.h"

#define NONE SIZE_MAX

struct prdshm_graph {
	const prdshm_phase_def *phases; /* the caller's; must outlive the graph */
	size_t n;
	size_t idcap;       /* power of two, at least 2n */
	size_t *idtab;      /* open addressing: phase index + 1, 0 when empty */
	size_t *dep_off;    /* n + 1 */
	size_t *dep;        /* dependencies, duplicates removed */
	size_t *rdep_off;   /* n + 1 */
	size_t *rdep;       /* dependants, ascending */
	size_t *wave;       /* n */
	size_t nwaves;
	size_t *wave_off;   /* nwaves + 1 */
	size_t *wave_idx;   /* n: wave by wave, input order within a wave */
	double *remaining;  /* n: longest path starting at i, i included */
	size_t *crit;       /* the critical path, first phase first */
	size_t ncrit;
	double critlen;
	prdshm_conflict *conflicts; /* sorted by a, then b, then resource */
	size_t nconflicts;
};

/*
 * Report a failure in @p diag (may be NULL) and in prdshm_last_error(),
 * with the position @p at (may be NULL).  @return @p err.
 */
int prdshm__graph_fail(prdshm_diag *diag, const prdshm_pos *at, int err, const char *fmt, ...)
	PRDSHM__PRINTF(4, 5);
/* Where phase @p p was defined; where its id was; where its dependency
 * @p j was (the phase when that is not known). */
prdshm_pos prdshm__graph_phase_at(const prdshm_phase_def *p);
prdshm_pos prdshm__graph_id_at(const prdshm_phase_def *p);
prdshm_pos prdshm__graph_dep_at(const prdshm_phase_def *p, size_t j);

/* Each phase's longest remaining path and the critical path, once the
 * waves are known.  @return 0 or PRDSHM_ENOMEM. */
int prdshm__graph_critical_path(prdshm_graph *g, prdshm_diag *diag);
/* The output conflicts, sorted, once the waves are known.  @return 0 or
 * PRDSHM_EINVAL (a null output), PRDSHM_ENOMEM. */
int prdshm__graph_find_conflicts(prdshm_graph *g, prdshm_diag *diag);
#endif
