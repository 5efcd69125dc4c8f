/*
 * run_summary.h: the summary prdshm-run prints when the run is over.
 */
#ifndef PRDSHM_TOOLS_RUN_SUMMARY_H
#define PRDSHM_TOOLS_RUN_SUMMARY_H

#include <stdint.h>

#include "prdshm.h"

/**
 * Print the summary of the run in @p s, the last snapshot of segment
 * @p name: one line, then (unless -q) the waves, the phases and the
 * critical path, then the phases that did not complete.  @p wall is the
 * run's duration, @p agents how many agents were started, @p replaced how
 * many of them replaced dead ones; @p waited, by phase, how long each was
 * seen waiting for locks (NULL: none).
 * @return the exit code: 0 when every phase completed (or was skipped),
 * else 1.
 */
int run_summary(prdshm_snapshot *s, const char *name, uint64_t wall, unsigned agents,
		unsigned replaced, const uint64_t *waited);

/**
 * After a run that did not complete every phase, say how to go on with
 * segment @p name: which phases to retry (the FAILED and CANCELLED ones,
 * with one "prdshm-phase retry ID..."; their BLOCKED dependants follow),
 * then "prdshm-run --attach".  @p kept: the segment is still there;
 * else the run must be made again with --keep to be resumable.
 * @p config: the -c given to prdshm-run, or NULL.  Prints nothing when
 * every phase completed or was skipped.
 */
void run_resume_hint(const prdshm_snapshot *s, const char *name, const char *config, int kept);

#endif
