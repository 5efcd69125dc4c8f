/*
 * common.h: everything the prdshm-* tools share, in one include.
 *
 * Every tool is a thin layer over lib/prdshm.h; what they have in common
 * is written once, one concept per file:
 *
 *   exitcode.h  the exit codes and the one mapping from PRDSHM_E... codes
 *               to them (with the error line)
 *   messages.h  the tool's name and verbosity, its lines on stderr/stdout
 *   options.h   the command-line parser with the common options (--help,
 *               --version, -q, -v, -c, --name), usage errors, --version
 *   segopen.h   the configuration and the segment a tool works on
 *   problems.h  prdshm_check()'s findings and locks held by stopped
 *               processes
 *   snapinfo.h  questions asked of a snapshot (who blocks whom, live
 *               agents, phase counts)
 *   fmt.h       times, durations, process states, untrusted bytes as text
 *   json_out.h  the JSON documents (jansson)
 *   metrics_out.h  the lock metrics for Prometheus, as JSON, the hottest
 *               resources
 *   tables.h    the human tables
 *
 * The code that waits and runs commands (prdshm-agent, -lock, -run) is in
 * runner.h; prdshm-run's live view, events and summary in run_*.h.
 */
#ifndef PRDSHM_TOOLS_COMMON_H
#define PRDSHM_TOOLS_COMMON_H

#include "exitcode.h"
#include "fmt.h"
#include "json_out.h"
#include "messages.h"
#include "metrics_out.h"
#include "options.h"
#include "problems.h"
#include "segopen.h"
#include "snapinfo.h"
#include "tables.h"

#endif
