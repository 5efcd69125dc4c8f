/*
 * common.h: code shared by the prdshm-* tools.
 *
 * Every tool is a thin layer over lib/prdshm.h; what they have in common
 * lives here once: the exit codes and the one mapping from PRDSHM_E... codes
 * to them, the command-line parser with the common options (--help,
 * --version, -q, -v, -c, --name), the choice of the segment, the error line on stderr, the JSON rendering of a
 * snapshot (jansson) and the human tables.
 *
 * Exit codes are a contract: scripts depend on them and every man page lists
 * them.  Never renumber.
 */
#ifndef PRDSHM_TOOLS_COMMON_H
#define PRDSHM_TOOLS_COMMON_H

#include <stddef.h>
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
#define TOOL_EXIT_STUCK 5     /* a stopped process holds a lock too long (--check) */
#define TOOL_EXIT_USAGE 64    /* bad command line */
#define TOOL_EXIT_CONFIG 65   /* invalid configuration */
#define TOOL_EXIT_NOSEG 66    /* no such segment */
#define TOOL_EXIT_INTERNAL 70 /* internal error (out of memory, system call) */
#define TOOL_EXIT_EXISTS 73   /* segment already exists */
#define TOOL_EXIT_NOSPACE 74  /* not enough room in /dev/shm */
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

/* ---- Command line -------------------------------------------------------- */

/*
 * Every tool parses its command line with a function of its own, declared in
 * args.h: it only fills the tool's options struct and reports a usage error,
 * so that tests/fuzz/fuzz_args.c can drive it.  The common options are
 * handled here once: -h/--help, -V/--version, -q/--quiet, -v/--verbose,
 * --name NAME and --config FILE (also -c FILE, except in prdshm-lock where
 * -c is flock's command).
 */

/* What a parser returns besides 0 (go on) and TOOL_EXIT_USAGE. */
#define TOOL_PARSED_HELP (-2)    /* -h: print the usage, exit 0 */
#define TOOL_PARSED_VERSION (-3) /* -V: print the version, exit 0 */

/* The options every tool has; the first member of each tool's options. */
typedef struct tool_common {
	const char *config_path; /* -c / --config; NULL: ./prdpar.yaml if present */
	const char *shm_name;    /* --name; NULL: from the configuration */
	int verbosity;           /* -1 with -q, 0 by default, +1 per -v */
	int silent;              /* set by the caller: usage errors print nothing */
	int argi;                /* after tool_getopt: argv index of the first operand */
} tool_common;

/* How a tool's own option stores its value in the tool's options struct. */
typedef enum tool_optkind {
	TOOL_ARG_SET, /* no argument: the int field gets value */
	TOOL_ARG_STR, /* the const char * field gets the argument */
	TOOL_ARG_FN,  /* parse() checks and stores the argument */
} tool_optkind;

/* One option of a tool; a table of them ends with an all-zero entry. */
typedef struct tool_optdef {
	const char *name; /* long name, or NULL for a short option only */
	int key;          /* the short option letter, or 0 for a long option only */
	tool_optkind kind;
	size_t offset; /* offsetof() the field in the tool's options */
	int value;     /* TOOL_ARG_SET: the value stored */
	/* TOOL_ARG_FN: store @p arg in @p field or return tool_parse_error(). */
	int (*parse)(const tool_common *tc, const char *arg, void *field);
} tool_optdef;

/* Table entries: an option that sets an int, one that stores its argument,
 * one whose argument @p fn checks and stores. */
#define TOOL_OPT_SET(name, key, type, field, value) \
	{ name, key, TOOL_ARG_SET, offsetof(type, field), value, NULL }
#define TOOL_OPT_STR(name, key, type, field) \
	{ name, key, TOOL_ARG_STR, offsetof(type, field), 0, NULL }
#define TOOL_OPT_FN(name, key, type, field, fn) \
	{ name, key, TOOL_ARG_FN, offsetof(type, field), 0, fn }

/* tool_getopt flags. */
#define TOOL_C_IS_CONFIG 0x1 /* -c FILE means --config FILE */
#define TOOL_OPTS_FIRST 0x2  /* options end at the first operand (getopt's "+") */
#define TOOL_NO_OPERANDS 0x4 /* an operand is an "unexpected argument" */

/**
 * Parse the options in @p argv with getopt_long: the common ones into @p tc,
 * those of @p defs into @p opts (the tool's options struct, which starts with
 * @p tc).  Resets getopt's state first (glibc: optind = 0), so it may be
 * called any number of times; permutes @p argv as getopt_long does.  Stops
 * at -h or -V.  Honours tc->silent, getopt's own messages included.
 * @return 0 with tc->argi set to the first operand, TOOL_PARSED_HELP,
 * TOOL_PARSED_VERSION, or TOOL_EXIT_USAGE.
 */
int tool_getopt(tool_common *tc, int argc, char **argv, unsigned flags,
		const tool_optdef *defs, void *opts);

/** A usage error while parsing: as tool_usage_error() unless tc->silent. */
int tool_parse_error(const tool_common *tc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** "unexpected argument" if @p argv has an operand left at index @p i. */
int tool_no_more_args(const tool_common *tc, int argc, char **argv, int i);

/**
 * Act on a parser's result @p rc in main(): print the usage (with @p usage)
 * or the version, or apply -q/-v to tool_verbosity.
 * @return TOOL_CONTINUE to go on, else the exit code.
 */
#define TOOL_CONTINUE (-1)
int tool_parse_done(int rc, const tool_common *tc, void (*usage)(FILE *out));

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

/** "running", "stopped", "zombie", "dead" or "unknown" (prdshm_proc_state). */
const char *tool_proc_state_name(int state);

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
