/*
 * tables.h: the human report of a snapshot, one table per section (the
 * segment, agents, locks, phases, waves, problems).
 */
#ifndef PRDSHM_TOOLS_TABLES_H
#define PRDSHM_TOOLS_TABLES_H

#include <stdio.h>

#include "prdshm.h"
#include "problems.h"

/* Sections of the human report. */
#define TOOL_SHOW_SEGMENT 0x01
#define TOOL_SHOW_AGENTS 0x02
#define TOOL_SHOW_LOCKS 0x04
#define TOOL_SHOW_PHASES 0x08
#define TOOL_SHOW_WAVES 0x10
#define TOOL_SHOW_PROBLEMS 0x20
#define TOOL_SHOW_ALL 0x3f
/* Not a section: agents that exited are counted on one line, not listed
 * (prdshm-inspect --watch, where 64 of them would fill the screen). */
#define TOOL_SHOW_BRIEF 0x40

/** Print the readable tables selected by @p show. */
void tool_print_snapshot(FILE *out, const prdshm_snapshot *snap, const tool_problems *pb,
			 unsigned show);

/**
 * The same for a screen of @p rows x @p cols (prdshm-inspect --watch on a
 * terminal): the segment first, then the locks, the agents, the phases,
 * the waves and the problems, each cut to its share of the rows with
 * "... N more" in place of the rows left out, every line cut to @p cols.
 * At most @p rows - 1 lines, so that the screen never scrolls.
 */
void tool_print_fitted(FILE *out, const prdshm_snapshot *snap, const tool_problems *pb,
		       unsigned show, size_t rows, size_t cols);

#endif
