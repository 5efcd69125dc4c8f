/*
 * problems.h: what is wrong with a segment, as prdshm_check() reports it,
 * plus the locks that stopped processes have held too long.
 */
#ifndef PRDSHM_TOOLS_PROBLEMS_H
#define PRDSHM_TOOLS_PROBLEMS_H

#include <stddef.h>

#include "prdshm.h"

typedef struct tool_problem {
	int severity; /* PRDSHM_CHECK_WARN or PRDSHM_CHECK_ERROR */
	char *message;
} tool_problem;

typedef struct tool_problems {
	size_t n, cap;
	tool_problem *v;
	int result; /* prdshm_check's return value */
	size_t nstuck; /* of them, locks held by stopped processes (tool_check_stuck) */
} tool_problems;

/** Run prdshm_check(seg, flags) collecting every problem into @p pb. */
int tool_check(prdshm_seg *seg, unsigned flags, tool_problems *pb);
/**
 * Add a warning to @p pb for each lock that a stopped process (from /proc,
 * a hint) has held longer than the segment's lock_timeout_seconds: nobody
 * else gets it until that process is continued or killed, and the kernel
 * still calls it alive.  @return how many (also in pb->nstuck).
 */
size_t tool_check_stuck(const prdshm_snapshot *snap, tool_problems *pb);
void tool_problems_free(tool_problems *pb);

/** "error" for PRDSHM_CHECK_ERROR, else "warning". */
const char *tool_severity_name(int severity);

#endif
