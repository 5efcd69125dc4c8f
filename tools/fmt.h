/*
 * fmt.h: values as the tools print them: times, durations, spans between
 * two clock readings, process states, untrusted bytes.
 */
#ifndef PRDSHM_TOOLS_FMT_H
#define PRDSHM_TOOLS_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** The current CLOCK_REALTIME time in ns. */
uint64_t tool_now_ns(void);

/** A CLOCK_REALTIME time as "2024-05-01T12:00:00.123Z" ("?" if out of range). */
void tool_format_time(uint64_t ns, char *buf, size_t size);

/** Format a duration in ns as "850ms", "12.3s", "5m02s", "2h03m", "3d04h". */
void tool_format_duration(uint64_t ns, char *buf, size_t size);

/** From @p from_ns to @p to_ns; 0 if @p from_ns is 0 (not known) or the
 *  clock stepped backwards. */
uint64_t tool_span_ns(uint64_t from_ns, uint64_t to_ns);

/** "running", "stopped", "zombie", "dead" or "unknown" (prdshm_proc_state). */
const char *tool_proc_state_name(int state);

/** Print @p len bytes with non-printable bytes and backslash as \xHH. */
void tool_print_bytes(FILE *out, const char *s, size_t len);

/** The same into @p buf, cut (not mid-escape) to fit @p size. */
void tool_bytes_text(const char *s, size_t len, char *buf, size_t size);

#endif
