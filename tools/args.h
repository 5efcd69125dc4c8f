/*
 * args.h: the command line of each prdshm-* tool, parsed into its options.
 *
 * Each <tool>_parse() lives in tools/prdshm-<tool>.c next to the tool's
 * usage text.  It sets every field of @p o (defaults included), points
 * into @p argv rather than copying, allocates nothing, and does nothing but
 * that: no exit, no segment, no command; getopt_long may permute @p argv.
 * A usage error is printed on stderr unless @p silent.
 * @return 0 to go on, TOOL_PARSED_HELP, TOOL_PARSED_VERSION or
 * TOOL_EXIT_USAGE; main() hands it to tool_parse_done().
 * tests/fuzz/fuzz_args.c calls them with any argv.
 */
#ifndef PRDSHM_TOOLS_ARGS_H
#define PRDSHM_TOOLS_ARGS_H

#include "common.h"

struct create_opts {
	tool_common tc;
	int force;
	int print_config;
};

struct inspect_opts {
	tool_common tc;
	int json, check, watch, nolock, metrics;
	unsigned show; /* TOOL_SHOW_... */
};

struct cleanup_opts {
	tool_common tc;
	int dry_run, json, requeue, unlink, force;
	const char *save_before;
};

struct lock_opts {
	tool_common tc;
	int mode; /* prdshm_mode */
	int nonblock;
	double timeout_s; /* < 0: lock_timeout_seconds */
	int conflict_code;
	int close_fd;
	int no_create;
	int path; /* --path: RESOURCE is a file's path, made canonical */
	const char *phase;
	const char *shell_cmd; /* -c */
	const char *resource;
	char **argv;        /* the command, NULL-terminated */
	char *sh_argv[4];   /* argv for -c: sh -c CMD */
};

struct phase_opts {
	tool_common tc;
	int json;
	const char *verb; /* status, retry, cancel or skip */
	const char *id;   /* NULL: status of all; else ids[0] */
	char **ids;       /* retry|cancel|skip: every id given, in order */
	int nids;
};

struct agent_opts {
	tool_common tc;
	const char *id; /* NULL: pid-<pid> */
};

struct run_opts {
	tool_common tc;
	int jobs; /* 0: max_parallel_agents */
	int keep, attach, plain;
	const char *log_path;
	const char *agent_cmd; /* run instead of prdshm-agent (sh -c) */
};

int create_parse(int argc, char **argv, struct create_opts *o, int silent);
int inspect_parse(int argc, char **argv, struct inspect_opts *o, int silent);
int cleanup_parse(int argc, char **argv, struct cleanup_opts *o, int silent);
int lock_parse(int argc, char **argv, struct lock_opts *o, int silent);
int phase_parse(int argc, char **argv, struct phase_opts *o, int silent);
int agent_parse(int argc, char **argv, struct agent_opts *o, int silent);
int run_parse(int argc, char **argv, struct run_opts *o, int silent);

#endif
