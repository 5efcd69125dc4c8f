/*
 * common.h: code shared by the prdshm-* tools.
 *
 * Every tool is a thin layer over lib/prdshm.h; what they have in common
 * lives here once: the exit codes and the one mapping from PRDSHM_E... codes
 * to them, the common options (--help, --version, -q, -v, -c, --name), the
 * choice of the segment, the error line on stderr, the JSON rendering of a
 * snapshot (jansson) and the human tables.
 *
 * Exit codes are a contract: scripts depend on them and every man page lists
 * them.  Never renumber.
 */
#ifndef PRDSHM_TOOLS_COMMON_H
#define PRDSHM_TOOLS_COMMON_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "prdshm.h"

/* ---- Exit codes (the same in every tool) -------------------------------- */

#define TOOL_EXIT_OK 0
#define TOOL_EXIT_CONFLICT 1  /* lock not obtained: conflict or timeout */
#define TOOL_EXIT_REFUSED 2   /* refused in the current state */
#define TOOL_EXIT_DEAD 3      /* dead agents hold locks or phases */
#define TOOL_EXIT_CORRUPT 4   /* segment corrupt or incompatible */
#define TOOL_EXIT_USAGE 64    /* bad command line */
#define TOOL_EXIT_CONFIG 65   /* invalid configuration */
#define TOOL_EXIT_NOSEG 66    /* no such segment */
#define TOOL_EXIT_INTERNAL 70 /* internal error (out of memory, system call) */
#define TOOL_EXIT_EXISTS 73   /* segment already exists */
#define TOOL_EXIT_PERM 77     /* permission denied */

/** The exit code for library error @p err (0 for 0). */
int tool_exit_code(int err);

/* ---- Identity, verbosity and messages ----------------------------------- */

/* The running tool's name ("prdshm-inspect"), set by tool_init(). */
extern const char *tool_name;
/* -1 with -q, 0 by default, 1 and more with -v. */
extern int tool_verbosity;

/** Remember the tool's name for messages; call first in main(). */
void tool_init(const char *name);

/** One line on stderr: "prdshm-<tool>: <message>".  Printed even with -q. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * Report library error @p err on stderr as "prdshm-<tool>: <what>: <why>",
 * where why is prdshm_last_error() (or prdshm_strerror(@p err) when the
 * library left no detail), and return its exit code.
 */
int tool_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** A usage error: the message, a hint to --help, and TOOL_EXIT_USAGE. */
int tool_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Informational output on stdout, suppressed by -q. */
void tool_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Details on stderr, shown only with -v. */
void tool_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Print "prdshm-<tool> <version> (libprdshm <version>)" on stdout. */
void tool_print_version(void);

/* ---- Common options ----------------------------------------------------- */

/* Long-only option values, above any character. */
enum {
	TOOL_OPT_NAME = 256,
	TOOL_OPT_CONFIG,
	TOOL_OPT_FIRST_PRIVATE = 300 /* tools number their own from here */
};

/* What every tool accepts: -h/--help, -V/--version, -q/--quiet,
 * -v/--verbose, --name NAME and --config FILE (also -c FILE, except in
 * prdshm-lock where -c is flock's command). */
#define TOOL_COMMON_LONGOPTS                                                  \
	{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, \
		{ "quiet", no_argument, NULL, 'q' },                           \
		{ "verbose", no_argument, NULL, 'v' },                         \
		{ "name", required_argument, NULL, TOOL_OPT_NAME },            \
		{ "config", required_argument, NULL, TOOL_OPT_CONFIG }

typedef struct tool_common {
	const char *config_path; /* -c / --config; NULL: ./prdpar.yaml if present */
	const char *shm_name;    /* --name; NULL: from the configuration */
} tool_common;

/*
 * Handle option @p c if it is a common one (h V q v TOOL_OPT_NAME
 * TOOL_OPT_CONFIG); 'h' calls @p usage(stdout) and exits 0, 'V' prints the
 * version and exits 0.  @return 1 if handled, 0 if not.
 */
int tool_common_option(int c, const char *arg, tool_common *tc, void (*usage)(FILE *out));

/* ---- Configuration and segment ------------------------------------------ */

/**
 * The effective configuration: defaults < file (-c or ./prdpar.yaml) <
 * environment < --name.  On error prints "file:line:col: msg" and returns
 * TOOL_EXIT_CONFIG (the file given with -c missing or unreadable included);
 * @p cfg is then empty but safe to free.
 */
int tool_load_config(const tool_common *tc, prdshm_config *cfg);

/** Attach to cfg->shm_name; on error print it and return its exit code. */
int tool_open_segment(const prdshm_config *cfg, prdshm_seg **seg);

/* ---- Problems found by prdshm_check ------------------------------------- */

typedef struct tool_problem {
	int severity; /* PRDSHM_CHECK_WARN or PRDSHM_CHECK_ERROR */
	char *message;
} tool_problem;

typedef struct tool_problems {
	size_t n, cap;
	tool_problem *v;
	int result; /* prdshm_check's return value */
} tool_problems;

/** Run prdshm_check(seg, flags) collecting every problem into @p pb. */
int tool_check(prdshm_seg *seg, unsigned flags, tool_problems *pb);
void tool_problems_free(tool_problems *pb);

/* ---- JSON --------------------------------------------------------------- */

/**
 * A JSON string from @p len bytes that may be anything but NUL.  Valid UTF-8
 * is kept as is (jansson escapes control characters); each byte that is not
 * part of a valid UTF-8 sequence becomes U+FFFD.  Never returns NULL unless
 * out of memory.  @param lossy set to 1 if a byte was replaced (may be NULL).
 */
json_t *tool_json_bytes(const char *s, size_t len, int *lossy);
/** The same for a NUL-terminated string; NULL @p s gives JSON null. */
json_t *tool_json_str(const char *s);
/** A CLOCK_REALTIME time as "2024-05-01T12:00:00.123Z"; 0 gives null. */
json_t *tool_json_time(uint64_t ns);

/** One phase as documented in docs/json-schema.md. */
json_t *tool_json_phase(const prdshm_phase_info *p, uint64_t now_ns);

/**
 * The whole inspection document: {segment, agents, locks, phases, waves,
 * problems}.  @p pb may be NULL (problems is then []).
 */
json_t *tool_json_snapshot(const prdshm_snapshot *snap, const tool_problems *pb);

/**
 * Print @p doc on @p out followed by a newline: indented, or on one line
 * with @p compact.  @return 0, or -1 if writing failed.
 */
int tool_json_print(json_t *doc, FILE *out, int compact);

/* ---- Human output -------------------------------------------------------- */

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

/** Print @p len bytes with non-printable bytes and backslash as \xHH. */
void tool_print_bytes(FILE *out, const char *s, size_t len);

/** Format a duration in ns as "850ms", "12.3s", "5m02s", "2h03m", "3d04h". */
void tool_format_duration(uint64_t ns, char *buf, size_t size);

/** The current CLOCK_REALTIME time in ns. */
uint64_t tool_now_ns(void);

/**
 * The agents among @p snap's that are alive, as "id (pid N), ..." in @p buf.
 * @return their number.
 */
size_t tool_live_agents(const prdshm_snapshot *snap, char *buf, size_t size);

#endif
