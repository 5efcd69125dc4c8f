/*
 * fmt.c: times, durations, process states and untrusted bytes as text,
 * for the tables and the JSON documents alike.  See fmt.h.
 */
#include <stdio.h>
#include <time.h>

#include "fmt.h"
#include "prdshm.h"

uint64_t tool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void tool_format_time(uint64_t ns, char *buf, size_t size)
{
	time_t sec = (time_t)(ns / 1000000000u);
	unsigned ms = (unsigned)(ns / 1000000u % 1000u);
	struct tm tm;

	if (gmtime_r(&sec, &tm) == NULL) {
		snprintf(buf, size, "?");
		return;
	}
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

void tool_format_duration(uint64_t ns, char *buf, size_t size)
{
	uint64_t s = ns / 1000000000u;

	if (ns < 1000000000u)
		snprintf(buf, size, "%ums", (unsigned)(ns / 1000000u));
	else if (s < 60)
		snprintf(buf, size, "%.1fs", (double)ns / 1e9);
	else if (s < 3600)
		snprintf(buf, size, "%um%02us", (unsigned)(s / 60), (unsigned)(s % 60));
	else if (s < 86400)
		snprintf(buf, size, "%uh%02um", (unsigned)(s / 3600), (unsigned)(s / 60 % 60));
	else
		snprintf(buf, size, "%ud%02uh", (unsigned)(s / 86400), (unsigned)(s / 3600 % 24));
}

const char *tool_proc_state_name(int state)
{
	switch (state) {
	case PRDSHM_PROC_RUNNING:
		return "running";
	case PRDSHM_PROC_STOPPED:
		return "stopped";
	case PRDSHM_PROC_ZOMBIE:
		return "zombie";
	case PRDSHM_PROC_DEAD:
		return "dead";
	default:
		return "unknown";
	}
}

uint64_t tool_span_ns(uint64_t from_ns, uint64_t to_ns)
{
	return from_ns && to_ns > from_ns ? to_ns - from_ns : 0;
}

void tool_print_bytes(FILE *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
}

void tool_bytes_text(const char *s, size_t len, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int esc = c < 0x20 || c >= 0x7f || c == '\\';

		if (o + (esc ? 4 : 1) >= size)
			break;
		if (esc)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (size)
		buf[o] = '\0';
}
