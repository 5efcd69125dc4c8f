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

/** Print the readable tables selected by @p show. */
void tool_print_snapshot(FILE *out, const prdshm_snapshot *snap, const tool_problems *pb,
			 unsigned show);

#endif
