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

/** "prdshm-<tool>: warning: <message>" on stderr, printed even with -q;
 *  not an error: tool_last_error() does not change. */
void tool_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** "prdshm-<tool>: hint: <message>" on stderr after an error: what to do
 *  next.  Suppressed by -q. */
void tool_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** The message of the last tool_err() (without the tool's name), or "". */
const char *tool_last_error(void);

/** Informational output on stdout, suppressed by -q. */
void tool_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Details on stderr, shown only with -v. */
void tool_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
