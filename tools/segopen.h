/*
 * segopen.h: which segment a tool works on and attaching to it: the
 * effective configuration (file, environment, --name), the segment it
 * names, and the messages when either fails.
 */
#ifndef PRDSHM_TOOLS_SEGOPEN_H
#define PRDSHM_TOOLS_SEGOPEN_H

#include <stdio.h>

#include "options.h"
#include "prdshm.h"

/**
 * The effective configuration: defaults < file (-c or ./prdpar.yaml) <
 * environment < --name.  On error prints "file:line:col: msg" and returns
 * TOOL_EXIT_CONFIG (the file given with -c missing or unreadable included);
 * @p cfg is then empty but safe to free.
 */
int tool_load_config(const tool_common *tc, prdshm_config *cfg);

/**
 * tool_load_config() for the tools that diagnose and recover (prdshm-inspect,
 * prdshm-cleanup), which a broken configuration must not stop: what cannot
 * be read (the file, a PRD_PARALLEL_* value, the whole when it does not
 * validate) is reported as a warning and left out, the rest applied, and
 * @p degraded set to 1.  Only a bad --name fails (TOOL_EXIT_CONFIG).
 */
int tool_load_config_lenient(const tool_common *tc, prdshm_config *cfg, int *degraded);

/**
 * No segment after tool_load_config_lenient(): when the configuration was
 * @p degraded and no --name was given, the configuration may name another
 * segment, so it is the likelier fault: say so, return TOOL_EXIT_CONFIG.
 * @return TOOL_EXIT_OK otherwise (nothing printed).
 */
int tool_blame_config(const tool_common *tc, const prdshm_config *cfg, int degraded);

/**
 * tool_open_segment() after tool_load_config_lenient(): when the
 * configuration was @p degraded and names no existing segment (no --name),
 * the configuration is the likelier fault: TOOL_EXIT_CONFIG.
 */
int tool_open_lenient(const tool_common *tc, const prdshm_config *cfg, int degraded,
		      prdshm_seg **seg);

/** Attach to cfg->shm_name; on error print it and return its exit code. */
int tool_open_segment(const prdshm_config *cfg, prdshm_seg **seg);

/** Read @p seg's info into @p info (struct_size set here); on error print
 *  it ("read segment @p name") and return its exit code. */
int tool_seg_info(prdshm_seg *seg, const char *name, prdshm_seg_info *info);

/** 1 if @p cfg selects backend: zookeeper, else 0 (shared memory). */
int tool_is_zookeeper(const prdshm_config *cfg);

/**
 * Remove the segment @p cfg names, on its backend: through the
 * configuration (prdshm_seg_unlink_unused_cfg(): refused with
 * PRDSHM_EINUSE while live agents use it), or, with @p force on shared
 * memory, by name whatever uses it (prdshm_seg_unlink()).  ZooKeeper has
 * no forced form: a segment live agents use is refused there too.
 * @return the library's result (nothing printed).
 */
int tool_seg_remove(const prdshm_config *cfg, int force);

/**
 * The start of a main(): act on the parser's result @p parsed as
 * tool_parse_done() does, load the configuration into @p cfg, and, unless
 * @p seg is NULL, attach to its segment.
 * @return TOOL_CONTINUE to go on, else the exit code (messages printed).
 */
int tool_start(int parsed, const tool_common *tc, void (*usage)(FILE *out), prdshm_config *cfg,
	       prdshm_seg **seg);

#endif
