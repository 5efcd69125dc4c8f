/*
 * diag.c: the errors of the dependency graph, in prdshm_diag and in
 * prdshm_last_error(), with the line and column of the value they are
 * about when the phases came from a file.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "graph/graph.h"

/*
 * Report a failure in @p diag (may be NULL) and in prdshm_last_error().
 * Line and column come from @p at, the value the message is about (see
 * prdshm__graph_id_at() and prdshm__graph_dep_at()); the diag's file is
 * left to the caller, who knows where the phases came from.
 */
int prdshm__graph_fail(prdshm_diag *diag, const prdshm_pos *at, int err, const char *fmt, ...)
{
	char msg[sizeof(diag->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (diag) {
		memcpy(diag->msg, msg, sizeof(msg));
		diag->line = at ? at->line : 0;
		diag->column = at ? at->column : 0;
	}
	return prdshm__fail(err, "%s", msg);
}

/* Where phase @p p was defined. */
prdshm_pos prdshm__graph_phase_at(const prdshm_phase_def *p)
{
	return (prdshm_pos){ p->line, p->column };
}

/* Where @p p's id was, or the phase when that is not known. */
prdshm_pos prdshm__graph_id_at(const prdshm_phase_def *p)
{
	return p->id_at.line > 0 ? p->id_at : prdshm__graph_phase_at(p);
}

/* Where @p p's dependency @p j was, or the phase when that is not known. */
prdshm_pos prdshm__graph_dep_at(const prdshm_phase_def *p, size_t j)
{
	return j < p->ndeps_at && p->deps_at && p->deps_at[j].line > 0
		       ? p->deps_at[j]
		       : prdshm__graph_phase_at(p);
}
