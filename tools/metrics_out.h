/*
 * metrics_out.h: the lock metrics (prdshm_lock_metrics_get()) and the
 * phases' run times, as prdshm-inspect shows them: the Prometheus text
 * format (--metrics), a JSON object (--json), and the hottest resources
 * (--watch).
 */
#ifndef PRDSHM_TOOLS_METRICS_OUT_H
#define PRDSHM_TOOLS_METRICS_OUT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "prdshm.h"

/* The metrics of one moment: the totals and each resource in the table. */
typedef struct tool_metrics {
	prdshm_lock_metrics total;
	prdshm_lock_metrics *res; /* sorted by name */
	size_t n;
} tool_metrics;

/** Take the metrics (@p flags PRDSHM_SNAP_NOLOCK or 0).  @return 0 or a
 *  PRDSHM_E* code; *@p m is then empty.  Free with tool_metrics_free(). */
int tool_metrics_take(prdshm_seg *seg, unsigned flags, tool_metrics *m);
void tool_metrics_free(tool_metrics *m);

/**
 * Print @p m and the run times of @p snap's phases in the Prometheus text
 * exposition format (version 0.0.4), every series labelled with the
 * segment's name @p segment.  @return 0, or -1 if writing failed.
 */
int tool_metrics_print(FILE *out, const tool_metrics *m, const prdshm_snapshot *snap,
		       const char *segment);

/** The "metrics" object of the inspection document (docs/json-schema.md). */
json_t *tool_json_metrics(const tool_metrics *m);

/**
 * The hottest resources: the 5 with the most contended grants since
 * @p prev (NULL: since they entered the table), then by wait time.
 */
void tool_print_hottest(FILE *out, const tool_metrics *m, const tool_metrics *prev);

#endif
