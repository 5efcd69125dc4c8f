/*
 * messages.c: the tool's name and verbosity, and the lines it prints:
 * errors, information, details.  See messages.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "messages.h"

const char *tool_name = "prdshm";
int tool_verbosity;

void tool_init(const char *name)
{
	tool_name = name;
	tool_verbosity = 0;
}

static void vline(FILE *out, const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vline(FILE *out, const char *prefix, const char *fmt, va_list ap)
{
	if (prefix)
		fprintf(out, "%s: ", prefix);
	vfprintf(out, fmt, ap);
	fputc('\n', out);
}

/* The last error line, for a tool that reports it again in JSON. */
static char last_err[512];

const char *tool_last_error(void)
{
	return last_err;
}

void tool_verr(const char *fmt, va_list ap)
{
	vsnprintf(last_err, sizeof(last_err), fmt, ap);
	fprintf(stderr, "%s: %s\n", tool_name, last_err);
}

void tool_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tool_verr(fmt, ap);
	va_end(ap);
}

/* "prdshm-<tool>: <tag>: <message>" on stderr, not remembered as an error. */
static void vtagged(const char *tag, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void vtagged(const char *tag, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s: ", tool_name, tag);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void tool_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vtagged("warning", fmt, ap);
	va_end(ap);
}

void tool_hint(const char *fmt, ...)
{
	va_list ap;

	if (tool_verbosity < 0)
		return;
	va_start(ap, fmt);
	vtagged("hint", fmt, ap);
	va_end(ap);
}

void tool_info(const char *fmt, ...)
{
	va_list ap;

	if (tool_verbosity < 0)
		return;
	va_start(ap, fmt);
	vline(stdout, NULL, fmt, ap);
	va_end(ap);
}

void tool_verbose(const char *fmt, ...)
{
	va_list ap;

	if (tool_verbosity < 1)
		return;
	va_start(ap, fmt);
	vline(stderr, tool_name, fmt, ap);
	va_end(ap);
}
