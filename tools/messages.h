/*
 * messages.h: the running tool's name and verbosity, and its lines on
 * stderr and stdout: errors ("prdshm-<tool>: ..."), information that -q
 * silences, details that -v shows.
 */
#ifndef PRDSHM_TOOLS_MESSAGES_H
#define PRDSHM_TOOLS_MESSAGES_H

#include <stdarg.h>

/* The running tool's name ("prdshm-inspect"), set by tool_init(). */
extern const char *tool_name;
/* -1 with -q, 0 by default, 1 and more with -v. */
extern int tool_verbosity;

/** Remember the tool's name for messages; call first in main(). */
void tool_init(const char *name);

/** One line on stderr: "prdshm-<tool>: <message>".  Printed even with -q. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** The same with a va_list. */
void tool_verr(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/** Informational output on stdout, suppressed by -q. */
void tool_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Details on stderr, shown only with -v. */
void tool_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
