/*
 * options.c: the command-line parser with the common options, usage
 * errors, --help and --version.  See options.h.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "messages.h"
#include "options.h"
#include "prdshm.h"

/* The Makefile passes the version it read from prdshm.h; other builds
 * (the fuzzers') spell it from the header's macros. */
#ifndef PRDSHM_VERSION_STRING
#define TOOL_STR(x) #x
#define TOOL_XSTR(x) TOOL_STR(x)
#define PRDSHM_VERSION_STRING                                               \
	TOOL_XSTR(PRDSHM_VERSION_MAJOR) "." TOOL_XSTR(PRDSHM_VERSION_MINOR) "." \
		TOOL_XSTR(PRDSHM_VERSION_PATCH)
#endif

static int vusage_error(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static int vusage_error(const char *fmt, va_list ap)
{
	tool_verr(fmt, ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", tool_name);
	return TOOL_EXIT_USAGE;
}

int tool_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vusage_error(fmt, ap);
	va_end(ap);
	return TOOL_EXIT_USAGE;
}

void tool_print_version(void)
{
	printf("%s %s (libprdshm %s)\n", tool_name, PRDSHM_VERSION_STRING, prdshm_version());
}

/* Long-only option values, above any character: the common ones, then
 * TOOL_OPT_PRIVATE + i for entry i of a tool's table. */
enum { TOOL_OPT_NAME = 256, TOOL_OPT_CONFIG, TOOL_OPT_PRIVATE = 300 };

/* Room for the common options, a tool's own and the terminator. */
#define MAX_OPTS 32

static const struct option common_longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "name", required_argument, NULL, TOOL_OPT_NAME },
	{ "config", required_argument, NULL, TOOL_OPT_CONFIG },
};
#define NCOMMON (sizeof(common_longopts) / sizeof(common_longopts[0]))

int tool_parse_error(const tool_common *tc, const char *fmt, ...)
{
	va_list ap;

	if (tc->silent)
		return TOOL_EXIT_USAGE;
	va_start(ap, fmt);
	vusage_error(fmt, ap);
	va_end(ap);
	return TOOL_EXIT_USAGE;
}

int tool_no_more_args(const tool_common *tc, int argc, char **argv, int i)
{
	if (i < argc)
		return tool_parse_error(tc, "unexpected argument '%s'", argv[i]);
	return 0;
}

/* getopt_long's tables from the common options and @p defs.
 * @return 0, or -1 if they do not fit (a tool with too many options). */
static int build_tables(const tool_optdef *defs, unsigned flags, struct option *lo,
			char *shorts, size_t size)
{
	size_t n = 0, o = 0;

	if (flags & TOOL_OPTS_FIRST)
		shorts[o++] = '+';
	memcpy(shorts + o, "hVqv", 4);
	o += 4;
	if (flags & TOOL_C_IS_CONFIG) {
		memcpy(shorts + o, "c:", 2);
		o += 2;
	}
	for (; n < NCOMMON; n++)
		lo[n] = common_longopts[n];
	for (size_t i = 0; defs[i].name || defs[i].key; i++) {
		int has_arg = defs[i].kind == TOOL_ARG_SET ? no_argument : required_argument;

		if (n + 1 >= MAX_OPTS || o + 3 >= size)
			return -1;
		if (defs[i].name)
			lo[n++] = (struct option){ defs[i].name, has_arg, NULL,
						   defs[i].key ? defs[i].key
							       : TOOL_OPT_PRIVATE + (int)i };
		if (defs[i].key && memchr(shorts, defs[i].key, o) == NULL) {
			shorts[o++] = (char)defs[i].key;
			if (has_arg == required_argument)
				shorts[o++] = ':';
		}
	}
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	shorts[o] = '\0';
	return 0;
}

/* The entry of @p defs that getopt_long's result @p c stands for. */
static const tool_optdef *find_def(const tool_optdef *defs, int c)
{
	for (size_t i = 0; defs[i].name || defs[i].key; i++) {
		if (defs[i].key ? defs[i].key == c : TOOL_OPT_PRIVATE + (int)i == c)
			return &defs[i];
	}
	return NULL;
}

static int tool_option(tool_common *tc, int c, const char *arg, const tool_optdef *defs,
		       void *opts)
{
	const tool_optdef *d = find_def(defs, c);
	char *field;

	if (d == NULL)
		return tool_parse_error(tc, "invalid option");
	field = (char *)opts + d->offset;
	switch (d->kind) {
	case TOOL_ARG_SET:
		*(int *)(void *)field = d->value;
		return 0;
	case TOOL_ARG_STR:
		*(const char **)(void *)field = arg;
		return 0;
	case TOOL_ARG_FN:
		return d->parse(tc, arg, field);
	}
	return tool_parse_error(tc, "invalid option");
}

/* One option returned by getopt_long: 0 to go on, else what to return. */
static int one_option(tool_common *tc, int c, const char *arg, unsigned flags,
		      const tool_optdef *defs, void *opts)
{
	if (c == 'c' && (flags & TOOL_C_IS_CONFIG))
		c = TOOL_OPT_CONFIG;
	switch (c) {
	case 'h':
		return TOOL_PARSED_HELP;
	case 'V':
		return TOOL_PARSED_VERSION;
	case 'q':
		tc->verbosity = -1;
		return 0;
	case 'v':
		tc->verbosity = tc->verbosity < 0 ? 1 : tc->verbosity + 1;
		return 0;
	case TOOL_OPT_NAME:
		tc->shm_name = arg;
		return 0;
	case TOOL_OPT_CONFIG:
		tc->config_path = arg;
		return 0;
	default:
		return tool_option(tc, c, arg, defs, opts);
	}
}

int tool_getopt(tool_common *tc, int argc, char **argv, unsigned flags,
		const tool_optdef *defs, void *opts)
{
	struct option lo[MAX_OPTS];
	char shorts[2 * MAX_OPTS + 8];
	int c, rc;

	if (build_tables(defs, flags, lo, shorts, sizeof(shorts)) != 0)
		return tool_parse_error(tc, "internal error: too many options");
	/* 0, not 1: glibc then forgets a scan that an earlier call left in
	 * the middle of "-abc", whose string may be gone. */
	optind = 0;
	opterr = !tc->silent;
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		rc = one_option(tc, c, optarg, flags, defs, opts);
		if (rc)
			return rc;
	}
	tc->argi = optind;
	if (flags & TOOL_NO_OPERANDS)
		return tool_no_more_args(tc, argc, argv, tc->argi);
	return 0;
}

int tool_parse_done(int rc, const tool_common *tc, void (*usage)(FILE *out))
{
	switch (rc) {
	case 0:
		tool_verbosity = tc->verbosity;
		return TOOL_CONTINUE;
	case TOOL_PARSED_HELP:
		usage(stdout);
		return TOOL_EXIT_OK;
	case TOOL_PARSED_VERSION:
		tool_print_version();
		return TOOL_EXIT_OK;
	default:
		return rc;
	}
}
