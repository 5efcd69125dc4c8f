/*
 * confspawn.h: the children of the conformance suites (test_lockconf,
 * test_phaseconf), run on every backend (confspawn.c).
 *
 * A child is a fresh image of the test program (fork, then exec of the
 * path /proc/self/exe names): a child merely forked would inherit the
 * ZooKeeper client's state while its threads, which do not survive fork(),
 * may hold its locks, and could hang in its own connection.  The child
 * learns its configuration from PRD_PARALLEL_* variables
 * (prdshm_config_apply_env()) and its role from the suite's own variables,
 * which a constructor of the suite reads before main().
 */
#ifndef PRDSHM_CONFSPAWN_H
#define PRDSHM_CONFSPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "prdshm.h"

/* Start this program again with @p cfg's segment and backend settings in
 * its environment, and @p vars ("NAME=value", @p nvars of them, each name
 * starting with @p prefix) in place of the caller's own variables of that
 * prefix.  @return the child's pid (a CUnit fatal assertion on failure). */
pid_t tu_conf_spawn(const prdshm_config *cfg, const char *argv0, const char *prefix,
		    char *const *vars, size_t nvars);
#endif
