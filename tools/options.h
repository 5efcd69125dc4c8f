/*
 * options.h: the command line of the prdshm-* tools: the common options
 * (--help, --version, -q, -v, -c, --name), each tool's own from a table,
 * usage errors, and what main() does with the parser's result.
 */
#ifndef PRDSHM_TOOLS_OPTIONS_H
#define PRDSHM_TOOLS_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

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

/** A usage error: the message, a hint to --help, and TOOL_EXIT_USAGE. */
int tool_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Print "prdshm-<tool> <version> (libprdshm <version>)" on stdout. */
void tool_print_version(void);

#endif
