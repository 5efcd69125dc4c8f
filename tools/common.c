/*
 * common.c: exit codes, options, messages, segment selection, JSON and
 * human output shared by the prdshm-* tools.  See common.h.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

/* The Makefile passes the version it read from prdshm.h; other builds
 * (the fuzzers') spell it from the header's macros. */
#ifndef PRDSHM_VERSION_STRING
#define TOOL_STR(x) #x
#define TOOL_XSTR(x) TOOL_STR(x)
#define PRDSHM_VERSION_STRING                                               \
	TOOL_XSTR(PRDSHM_VERSION_MAJOR) "." TOOL_XSTR(PRDSHM_VERSION_MINOR) "." \
		TOOL_XSTR(PRDSHM_VERSION_PATCH)
#endif

const char *tool_name = "prdshm";
int tool_verbosity;

/* ------------------------------------------------------------------------ */
/* Exit codes                                                               */

int tool_exit_code(int err)
{
	switch (err) {
	case 0:
		return TOOL_EXIT_OK;
	case PRDSHM_EBUSY:
	case PRDSHM_ETIMEDOUT:
	case PRDSHM_EDEADLK:
		return TOOL_EXIT_CONFLICT;
	case PRDSHM_ETRANSITION:
	case PRDSHM_ENOPHASE:
	case PRDSHM_EINUSE:
	case PRDSHM_EHELD:
	case PRDSHM_ENOTHELD:
	case PRDSHM_ELOCKFULL:
	case PRDSHM_EAGENTFULL:
	case PRDSHM_EPHASEFULL:
	case PRDSHM_ENOAGENT:
	case PRDSHM_EWAIT:
	case PRDSHM_EDONE:
		return TOOL_EXIT_REFUSED;
	case PRDSHM_EDEADOWNER:
		return TOOL_EXIT_DEAD;
	case PRDSHM_ENOTSEG:
	case PRDSHM_EVERSION:
	case PRDSHM_ECORRUPT:
	case PRDSHM_ERECOVER:
		return TOOL_EXIT_CORRUPT;
	case PRDSHM_EINVAL:
	case PRDSHM_ENAME:
		return TOOL_EXIT_USAGE;
	case PRDSHM_ECONFIG:
	case PRDSHM_ECYCLE:
	case PRDSHM_EUNKNOWNDEP:
		return TOOL_EXIT_CONFIG;
	case PRDSHM_ENOENT:
		return TOOL_EXIT_NOSEG;
	case PRDSHM_EEXIST:
		return TOOL_EXIT_EXISTS;
	case PRDSHM_ENOSPC:
		return TOOL_EXIT_NOSPACE;
	case PRDSHM_EACCES:
	case PRDSHM_EPERM:
		return TOOL_EXIT_PERM;
	default: /* ENOMEM, ESYS and anything new */
		return TOOL_EXIT_INTERNAL;
	}
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

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

void tool_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(stderr, tool_name, fmt, ap);
	va_end(ap);
}

int tool_fail(int err, const char *fmt, ...)
{
	/* Copy the detail first: formatting may not call the library, but the
	 * message must not depend on that. */
	char why[512];
	va_list ap;

	snprintf(why, sizeof(why), "%s",
		 prdshm_last_error()[0] ? prdshm_last_error() : prdshm_strerror(err));
	fprintf(stderr, "%s: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", why);
	return tool_exit_code(err);
}

static int vusage_error(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static int vusage_error(const char *fmt, va_list ap)
{
	vline(stderr, tool_name, fmt, ap);
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

void tool_print_version(void)
{
	printf("%s %s (libprdshm %s)\n", tool_name, PRDSHM_VERSION_STRING, prdshm_version());
}

/* ------------------------------------------------------------------------ */
/* Options, configuration, segment                                          */

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

static void print_diag(const prdshm_diag *d)
{
	if (d->line > 0)
		tool_err("%s:%d:%d: %s", d->file, d->line, d->column, d->msg);
	else if (d->file[0])
		tool_err("%s: %s", d->file, d->msg);
	else
		tool_err("invalid configuration: %s", prdshm_last_error());
}

int tool_load_config(const tool_common *tc, prdshm_config *cfg)
{
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	int r;

	r = prdshm_config_load(cfg, tc->config_path, &diag);
	if (r == 0 && tc->shm_name)
		r = prdshm_config_set(cfg, "shm_name", tc->shm_name, PRDSHM_FROM_CMDLINE, &diag);
	if (r == 0) {
		tool_verbose("configuration: %s, segment %s",
			     tc->config_path ? tc->config_path : "defaults/./prdpar.yaml",
			     cfg->shm_name);
		return TOOL_EXIT_OK;
	}
	print_diag(&diag);
	/* prdshm_config_load frees cfg on error; after a failed set it still
	 * owns the file's data, which the caller frees. */
	return TOOL_EXIT_CONFIG;
}

int tool_open_segment(const prdshm_config *cfg, prdshm_seg **seg)
{
	int r = prdshm_seg_open_cfg(cfg, seg);

	if (r)
		return tool_fail(r, "open segment %s", cfg->shm_name);
	return TOOL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* Problems                                                                 */

static void collect_problem(void *ctx, int severity, const char *msg)
{
	tool_problems *pb = ctx;
	char *copy;

	if (pb->n == pb->cap) {
		size_t ncap = pb->cap ? pb->cap * 2 : 8;
		tool_problem *v = realloc(pb->v, ncap * sizeof(*v));

		if (v == NULL)
			return; /* the result code still says what was found */
		pb->v = v;
		pb->cap = ncap;
	}
	copy = strdup(msg);
	if (copy == NULL)
		return;
	pb->v[pb->n].severity = severity;
	pb->v[pb->n].message = copy;
	pb->n++;
}

int tool_check(prdshm_seg *seg, unsigned flags, tool_problems *pb)
{
	memset(pb, 0, sizeof(*pb));
	pb->result = prdshm_check(seg, flags, collect_problem, pb);
	return pb->result;
}

/* Age of @p since_ns at @p now_ns; clock steps backwards give 0. */
static uint64_t age_ns(uint64_t since_ns, uint64_t now_ns)
{
	return since_ns && now_ns > since_ns ? now_ns - since_ns : 0;
}

/* A lock held by a stopped process: a warning of its own.  The format
 * names what a reader needs to act: the holder, its pid, for how long. */
static void stuck_problem(tool_problems *pb, const prdshm_lock_info *li, const prdshm_holder *h,
			  uint64_t held_ns, int limit_s)
{
	char dur[32], msg[512];

	tool_format_duration(held_ns, dur, sizeof(dur));
	snprintf(msg, sizeof(msg),
		 "lock '%.*s': held for %s by stopped process %d (agent %s%s%s), longer "
		 "than lock_timeout_seconds (%d s)",
		 (int)(li->resource_len > 64 ? 64 : li->resource_len), li->resource, dur,
		 (int)h->pid, h->agent_id, h->phase_id[0] ? ", phase " : "", h->phase_id,
		 limit_s);
	collect_problem(pb, PRDSHM_CHECK_WARN, msg);
	pb->nstuck++;
}

size_t tool_check_stuck(const prdshm_snapshot *snap, tool_problems *pb)
{
	int limit_s = snap->seg.lock_timeout_seconds > 0 ? snap->seg.lock_timeout_seconds : 0;
	uint64_t limit_ns = (uint64_t)limit_s * 1000000000u;

	for (size_t l = 0; l < snap->nlocks; l++) {
		const prdshm_lock_info *li = &snap->locks[l];

		for (size_t i = 0; i < li->nholders && i < li->nrecords; i++) {
			const prdshm_holder *h = &li->holders[i];
			uint64_t held = age_ns(h->since_ns, snap->taken_ns);

			if (h->proc_state == PRDSHM_PROC_STOPPED && !h->released &&
			    h->since_ns != 0 && held > limit_ns)
				stuck_problem(pb, li, h, held, limit_s);
		}
	}
	return pb->nstuck;
}

void tool_problems_free(tool_problems *pb)
{
	if (pb == NULL)
		return;
	for (size_t i = 0; i < pb->n; i++)
		free(pb->v[i].message);
	free(pb->v);
	memset(pb, 0, sizeof(*pb));
}

/* ------------------------------------------------------------------------ */
/* Time                                                                     */

uint64_t tool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void format_time(uint64_t ns, char *buf, size_t size)
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

/* ------------------------------------------------------------------------ */
/* Who waits for whom                                                       */

static int conflicts(prdshm_mode a, prdshm_mode b)
{
	return a == PRDSHM_EXCLUSIVE || b == PRDSHM_EXCLUSIVE;
}

/*
 * The records of @p li that block record @p w (a waiter): each holder in a
 * conflicting mode, and each earlier waiter in a conflicting mode (grants are
 * FIFO, so a waiter never passes an earlier conflicting one), like
 * PostgreSQL's pg_blocking_pids().  A session's own records never block it
 * (an upgrading holder appears both as holder and as waiter).
 * @return the count; at most @p cap indexes go to @p out.
 */
static size_t blockers(const prdshm_lock_info *li, size_t w, size_t *out, size_t cap)
{
	const prdshm_holder *me = &li->holders[w];
	size_t n = 0;

	for (size_t i = 0; i < li->nrecords; i++) {
		const prdshm_holder *h = &li->holders[i];

		if (i == w || h->slot == me->slot)
			continue;
		if (i >= li->nholders && i > w)
			break; /* later waiters never block an earlier one */
		if (!conflicts(h->mode, me->mode))
			continue;
		if (n < cap)
			out[n] = i;
		n++;
	}
	return n;
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */

/* Length of the valid UTF-8 sequence at @p s (at most @p len bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

json_t *tool_json_bytes(const char *s, size_t len, int *lossy)
{
	const unsigned char *u = (const unsigned char *)s;
	char *buf;
	size_t o = 0;
	json_t *j;

	if (lossy)
		*lossy = 0;
	/* At most 3 output bytes (U+FFFD) per input byte. */
	buf = malloc(len * 3 + 1);
	if (buf == NULL)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = u[i] ? utf8_seq(u + i, len - i) : 0;

		if (n == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			if (lossy)
				*lossy = 1;
			continue;
		}
		memcpy(buf + o, u + i, n);
		o += n;
		i += n;
	}
	j = json_stringn(buf, o);
	free(buf);
	return j;
}

json_t *tool_json_str(const char *s)
{
	if (s == NULL)
		return json_null();
	return tool_json_bytes(s, strlen(s), NULL);
}

json_t *tool_json_time(uint64_t ns)
{
	char buf[48];

	if (ns == 0)
		return json_null();
	format_time(ns, buf, sizeof(buf));
	return json_string(buf);
}

/* A non-empty string, or null. */
static json_t *str_or_null(const char *s)
{
	return s && s[0] ? tool_json_str(s) : json_null();
}

static json_t *hex_of(const char *s, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *buf = malloc(len * 2 + 1);
	json_t *j;

	if (buf == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		buf[2 * i] = digits[(unsigned char)s[i] >> 4];
		buf[2 * i + 1] = digits[(unsigned char)s[i] & 15];
	}
	j = json_stringn(buf, len * 2);
	free(buf);
	return j;
}

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, tool_json_str(v[i]));
	return a;
}

static json_t *seg_json(const prdshm_snapshot *snap)
{
	const prdshm_seg_info *si = &snap->seg;
	size_t alive = 0;

	for (size_t i = 0; i < snap->nagents; i++)
		alive += snap->agents[i].alive != 0;
	return json_pack(
		"{s:i, s:o, s:I, s:I, s:I, s:o, s:o, s:b, s:b, "
		"s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}, "
		"s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s}, s:o, s:o, s:I}",
		"schema_version", 1, "name", tool_json_str(si->shm_name), "size",
		(json_int_t)si->size, "format", (json_int_t)si->format, "layout_hash",
		(json_int_t)si->layout_hash, "created", tool_json_time(si->created_ns), "taken",
		tool_json_time(snap->taken_ns), "locked", snap->locked, "needs_recovery",
		si->needs_recovery != 0, "limits", "max_locks", (json_int_t)si->max_locks,
		"max_phases", (json_int_t)si->max_phases, "max_agents", (json_int_t)si->max_agents,
		"partitions", (json_int_t)si->nparts, "usage", "locks", (json_int_t)snap->nlocks,
		"phases", (json_int_t)snap->nphases, "agents_alive", (json_int_t)alive, "config",
		"max_parallel_agents", si->max_parallel_agents, "lock_timeout_seconds",
		si->lock_timeout_seconds, "wave_delay_seconds", si->wave_delay_seconds,
		"conflict_retry_attempts", si->conflict_retry_attempts,
		"monitoring_update_interval", si->monitoring_update_interval,
		"phase_max_attempts", si->phase_max_attempts, "deadlock_timeout_ms",
		si->deadlock_timeout_ms, "scheduling",
		si->scheduling == PRDSHM_SCHED_EAGER ? "eager" : "waves", "run_start",
		tool_json_time(snap->run_start_ns), "run_end", tool_json_time(snap->run_end_ns),
		"current_wave", (json_int_t)snap->current_wave);
}

static const char *phase_id_of(const prdshm_snapshot *snap, int32_t index)
{
	for (size_t i = 0; i < snap->nphases; i++)
		if (snap->phases[i].index == index)
			return snap->phases[i].id;
	return NULL;
}

static json_t *agent_json(const prdshm_snapshot *snap, const prdshm_agent_info *a)
{
	const char *status = prdshm_agent_status_name(a->status);
	json_t *log = json_array();

	for (uint32_t k = 0; k < a->nlog && k < PRDSHM_LOG_LINES; k++)
		json_array_append_new(log, tool_json_str(a->log[k]));
	return json_pack("{s:o, s:i, s:i, s:I, s:b, s:s, s:o, s:o, s:o, s:o}", "id",
			 tool_json_str(a->id), "slot", (int)a->slot, "pid", (int)a->pid, "uid",
			 (json_int_t)a->uid, "alive", a->alive != 0, "status",
			 status ? status : "?", "phase",
			 str_or_null(a->phase >= 0 ? phase_id_of(snap, a->phase) : NULL), "start",
			 tool_json_time(a->start_ns), "heartbeat", tool_json_time(a->heartbeat_ns),
			 "log", log);
}

/* Seconds from @p since_ns to @p now_ns, to the millisecond; null if not
 * known. */
static json_t *age_json(uint64_t since_ns, uint64_t now_ns)
{
	if (since_ns == 0)
		return json_null();
	return json_real((double)(age_ns(since_ns, now_ns) / 1000000u) / 1000.0);
}

/* A holder, or with @p waiter the members a waiter shares with one. */
static json_t *holder_json(const prdshm_holder *h, uint64_t now_ns, int waiter)
{
	json_t *j = json_pack("{s:o, s:i, s:i, s:o, s:s, s:o, s:o, s:b, s:s}", "agent",
			      tool_json_str(h->agent_id), "slot", (int)h->slot, "pid",
			      (int)h->pid, "phase", str_or_null(h->phase_id), "mode",
			      prdshm_mode_name(h->mode) ? prdshm_mode_name(h->mode) : "?",
			      "since", tool_json_time(h->since_ns),
			      waiter ? "waited_s" : "held_s", age_json(h->since_ns, now_ns),
			      "alive", h->alive != 0, "process",
			      tool_proc_state_name(h->proc_state));

	if (!waiter)
		json_object_set_new(j, "released", json_boolean(h->released != 0));
	return j;
}

static json_t *waiter_json(const prdshm_lock_info *li, size_t w, uint64_t now_ns)
{
	json_t *j = holder_json(&li->holders[w], now_ns, 1);
	json_t *wf = json_array();
	size_t idx[64];
	size_t n = blockers(li, w, idx, 64);

	for (size_t k = 0; k < n && k < 64; k++)
		json_array_append_new(wf, tool_json_str(li->holders[idx[k]].agent_id));
	json_object_set_new(j, "waits_for", wf);
	return j;
}

static json_t *lock_json(const prdshm_lock_info *li, uint64_t now_ns)
{
	json_t *holders = json_array(), *waiters = json_array();
	const char *mode = prdshm_mode_name(li->mode);
	int lossy = 0;
	json_t *j;

	for (size_t i = 0; i < li->nrecords; i++) {
		if (i < li->nholders)
			json_array_append_new(holders, holder_json(&li->holders[i], now_ns, 0));
		else
			json_array_append_new(waiters, waiter_json(li, i, now_ns));
	}
	j = json_pack("{s:o, s:o, s:o, s:o}", "resource",
		      tool_json_bytes(li->resource, li->resource_len, &lossy), "mode",
		      mode ? json_string(mode) : json_null(), "holders", holders, "waiters",
		      waiters);
	/* The exact bytes when the readable form had to replace some. */
	if (j && lossy)
		json_object_set_new(j, "resource_hex", hex_of(li->resource, li->resource_len));
	return j;
}

json_t *tool_json_phase(const prdshm_phase_info *p, uint64_t now_ns)
{
	const char *status = prdshm_phase_status_name(p->status);
	uint64_t end = p->end_ns ? p->end_ns : now_ns;
	json_t *duration = json_null();
	json_t *exit_status = json_null();

	if (p->start_ns && end >= p->start_ns)
		duration = json_real((double)(end - p->start_ns) / 1e9);
	if (p->status == PRDSHM_PHASE_COMPLETED || p->status == PRDSHM_PHASE_FAILED)
		exit_status = json_integer(p->exit_status);
	return json_pack("{s:o, s:i, s:o, s:s, s:I, s:o, s:o, s:o, s:f, s:o, s:I, s:o, "
			 "s:o, s:o, s:o, s:o, s:o, s:o, s:f}",
			 "id", tool_json_str(p->id), "index", (int)p->index, "name",
			 tool_json_str(p->name ? p->name : p->id), "status",
			 status ? status : "?", "wave", (json_int_t)p->wave, "dependencies",
			 strv_json(p->deps, p->ndeps), "outputs",
			 strv_json(p->outputs, p->noutputs), "command", tool_json_str(p->command),
			 "estimated_minutes", p->estimated_minutes, "agent",
			 str_or_null(p->agent_id), "attempts", (json_int_t)p->attempts,
			 "exit_status", exit_status, "message", tool_json_str(p->message), "start",
			 tool_json_time(p->start_ns), "end", tool_json_time(p->end_ns),
			 "duration_seconds", duration, "changed_by", str_or_null(p->changed_by),
			 "changed", tool_json_time(p->changed_ns), "remaining_minutes",
			 p->remaining);
}

static json_t *wave_json(const prdshm_wave_info *w)
{
	return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:o, s:o}", "number",
			 (json_int_t)w->number, "status", w->status ? w->status : "?", "phases",
			 (json_int_t)w->nphases, "completed", (json_int_t)w->ncompleted, "failed",
			 (json_int_t)w->nfailed, "running", (json_int_t)w->nrunning, "start",
			 tool_json_time(w->start_ns), "end", tool_json_time(w->end_ns));
}

static json_t *problems_json(const tool_problems *pb)
{
	json_t *a = json_array();

	for (size_t i = 0; pb && i < pb->n; i++)
		json_array_append_new(
			a, json_pack("{s:s, s:o}", "severity",
				     pb->v[i].severity == PRDSHM_CHECK_ERROR ? "error" : "warning",
				     "message", tool_json_str(pb->v[i].message)));
	return a;
}

json_t *tool_json_snapshot(const prdshm_snapshot *snap, const tool_problems *pb)
{
	json_t *agents = json_array(), *locks = json_array(), *phases = json_array(),
	       *waves = json_array();

	for (size_t i = 0; i < snap->nagents; i++)
		json_array_append_new(agents, agent_json(snap, &snap->agents[i]));
	for (size_t i = 0; i < snap->nlocks; i++)
		json_array_append_new(locks, lock_json(&snap->locks[i], snap->taken_ns));
	for (size_t i = 0; i < snap->nphases; i++)
		json_array_append_new(phases, tool_json_phase(&snap->phases[i], snap->taken_ns));
	for (size_t i = 0; i < snap->nwaves; i++)
		json_array_append_new(waves, wave_json(&snap->waves[i]));
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "segment", seg_json(snap), "agents",
			 agents, "locks", locks, "phases", phases, "waves", waves, "problems",
			 problems_json(pb));
}

int tool_json_print(json_t *doc, FILE *out, int compact)
{
	size_t flags = compact ? JSON_COMPACT : JSON_INDENT(2);

	if (doc == NULL || json_dumpf(doc, out, flags | JSON_PRESERVE_ORDER) != 0)
		return -1;
	if (fputc('\n', out) == EOF || fflush(out) != 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Human output                                                             */

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

/* Print a possibly torn id, padded to @p width. */
static void print_field(FILE *out, const char *s, int width)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0) {
		fprintf(out, "%-*s", width, "-");
		return;
	}
	tool_print_bytes(out, s, len);
	for (int i = (int)len; i < width; i++)
		fputc(' ', out);
}

static void print_age(FILE *out, uint64_t since_ns, uint64_t now_ns, int width)
{
	char buf[32];

	if (since_ns == 0) {
		fprintf(out, "%-*s", width, "-");
		return;
	}
	tool_format_duration(age_ns(since_ns, now_ns), buf, sizeof(buf));
	fprintf(out, "%-*s", width, buf);
}

static void print_segment(FILE *out, const prdshm_snapshot *snap)
{
	const prdshm_seg_info *si = &snap->seg;
	size_t alive = 0;
	char tbuf[48];

	for (size_t i = 0; i < snap->nagents; i++)
		alive += snap->agents[i].alive != 0;
	format_time(si->created_ns, tbuf, sizeof(tbuf));
	fprintf(out, "SEGMENT %s  %llu bytes  format %u  created %s\n", si->shm_name,
		(unsigned long long)si->size, (unsigned)si->format, tbuf);
	fprintf(out, "  locks   %zu / %u\n  phases  %zu / %u\n  agents  %zu alive, %zu known / %u\n",
		snap->nlocks, (unsigned)si->max_locks, snap->nphases, (unsigned)si->max_phases,
		alive, snap->nagents, (unsigned)si->max_agents);
	fprintf(out, "  scheduling %s, max_parallel_agents %d, current wave %u\n",
		si->scheduling == PRDSHM_SCHED_EAGER ? "eager" : "waves",
		si->max_parallel_agents, (unsigned)snap->current_wave);
	if (si->needs_recovery)
		fprintf(out, "  NEEDS RECOVERY: run prdshm-cleanup\n");
	if (!snap->locked)
		fprintf(out, "  WARNING: read without locks (a mutex was busy or --no-lock): "
			     "the data may be torn\n");
}

static void print_agents(FILE *out, const prdshm_snapshot *snap)
{
	fprintf(out, "\nAGENTS\n%-20s %5s %7s %-6s %-7s %-16s %-8s %s\n", "ID", "SLOT", "PID",
		"ALIVE", "STATUS", "PHASE", "AGE", "LAST LOG");
	if (snap->nagents == 0)
		fprintf(out, "(none)\n");
	for (size_t i = 0; i < snap->nagents; i++) {
		const prdshm_agent_info *a = &snap->agents[i];
		const char *st = prdshm_agent_status_name(a->status);

		print_field(out, a->id, 20);
		fprintf(out, " %5d %7d %-6s %-7s ", (int)a->slot, (int)a->pid,
			a->alive ? "yes" : "no", st ? st : "?");
		print_field(out, a->phase >= 0 ? phase_id_of(snap, a->phase) : NULL, 16);
		fputc(' ', out);
		print_age(out, a->start_ns, snap->taken_ns, 8);
		fputc(' ', out);
		if (a->nlog > 0)
			print_field(out, a->log[a->nlog - 1], 0);
		fputc('\n', out);
	}
}

static void print_waits_for(FILE *out, const prdshm_lock_info *li, size_t w)
{
	size_t idx[64];
	size_t n = blockers(li, w, idx, 64);

	for (size_t k = 0; k < n && k < 64; k++) {
		fputs(k ? "," : "", out);
		print_field(out, li->holders[idx[k]].agent_id, 0);
	}
	if (n == 0)
		fputc('-', out);
}

static void print_lock(FILE *out, const prdshm_lock_info *li, uint64_t now_ns)
{
	tool_print_bytes(out, li->resource, li->resource_len);
	fputc('\n', out);
	for (size_t i = 0; i < li->nrecords; i++) {
		const prdshm_holder *h = &li->holders[i];
		const char *mode = prdshm_mode_name(h->mode);

		fprintf(out, "    %-9s %-8s ", mode ? mode : "?",
			i >= li->nholders ? "WAITS" : h->released ? "released" : "holds");
		print_field(out, h->agent_id, 20);
		fprintf(out, " %7d %-5s ", (int)h->pid, h->alive ? "yes" : "DEAD");
		print_field(out, h->phase_id, 16);
		fputc(' ', out);
		print_age(out, h->since_ns, now_ns, 8);
		/* Upper case when it matters: a live holder that cannot move. */
		fprintf(out, " %-8s ", h->proc_state == PRDSHM_PROC_STOPPED ? "STOPPED"
				     : h->proc_state == PRDSHM_PROC_ZOMBIE ? "ZOMBIE"
				     : tool_proc_state_name(h->proc_state));
		if (i >= li->nholders)
			print_waits_for(out, li, i);
		fputc('\n', out);
	}
}

static void print_locks(FILE *out, const prdshm_snapshot *snap)
{
	fprintf(out, "\nLOCKS\nRESOURCE\n    %-9s %-8s %-20s %7s %-5s %-16s %-8s %-8s %s\n",
		"MODE", "STATE", "AGENT", "PID", "ALIVE", "PHASE", "AGE", "PROCESS", "WAITS FOR");
	if (snap->nlocks == 0)
		fprintf(out, "(none)\n");
	for (size_t i = 0; i < snap->nlocks; i++)
		print_lock(out, &snap->locks[i], snap->taken_ns);
}

static void print_phase(FILE *out, const prdshm_phase_info *p, uint64_t now_ns)
{
	const char *st = prdshm_phase_status_name(p->status);
	char dur[32] = "-";

	if (p->start_ns) {
		uint64_t end = p->end_ns ? p->end_ns : now_ns;

		tool_format_duration(age_ns(p->start_ns, end), dur, sizeof(dur));
	}
	print_field(out, p->id, 20);
	fprintf(out, " %-11s %4u ", st ? st : "?", (unsigned)p->wave);
	print_field(out, p->agent_id, 20);
	fprintf(out, " %8u %-8s ", (unsigned)p->attempts, dur);
	if (p->status == PRDSHM_PHASE_FAILED)
		fprintf(out, "exit %d ", p->exit_status);
	print_field(out, p->message, 0);
	fputc('\n', out);
}

static void print_phases(FILE *out, const prdshm_snapshot *snap)
{
	fprintf(out, "\nPHASES\n%-20s %-11s %4s %-20s %8s %-8s %s\n", "ID", "STATUS", "WAVE",
		"AGENT", "ATTEMPTS", "DURATION", "MESSAGE");
	if (snap->nphases == 0)
		fprintf(out, "(none)\n");
	for (size_t i = 0; i < snap->nphases; i++)
		print_phase(out, &snap->phases[i], snap->taken_ns);
}

static void print_waves(FILE *out, const prdshm_snapshot *snap)
{
	fprintf(out, "\nWAVES\n%4s %-8s %6s %9s %6s %7s %s\n", "WAVE", "STATUS", "PHASES",
		"COMPLETED", "FAILED", "RUNNING", "DURATION");
	if (snap->nwaves == 0)
		fprintf(out, "(none)\n");
	for (size_t i = 0; i < snap->nwaves; i++) {
		const prdshm_wave_info *w = &snap->waves[i];
		char dur[32] = "-";

		if (w->start_ns)
			tool_format_duration(age_ns(w->start_ns, w->end_ns ? w->end_ns
									 : snap->taken_ns),
					     dur, sizeof(dur));
		fprintf(out, "%4u %-8s %6u %9u %6u %7u %s\n", (unsigned)w->number,
			w->status ? w->status : "?", (unsigned)w->nphases,
			(unsigned)w->ncompleted, (unsigned)w->nfailed, (unsigned)w->nrunning, dur);
	}
}

static void print_problems(FILE *out, const tool_problems *pb)
{
	if (pb == NULL)
		return;
	fprintf(out, "\nPROBLEMS\n");
	if (pb->n == 0)
		fprintf(out, "(none)\n");
	for (size_t i = 0; i < pb->n; i++)
		fprintf(out, "%-7s %s\n", pb->v[i].severity == PRDSHM_CHECK_ERROR ? "error" : "warning",
			pb->v[i].message);
}

void tool_print_snapshot(FILE *out, const prdshm_snapshot *snap, const tool_problems *pb,
			 unsigned show)
{
	if (show & TOOL_SHOW_SEGMENT)
		print_segment(out, snap);
	else if (!snap->locked)
		fprintf(out, "WARNING: read without locks: the data may be torn\n");
	if (show & TOOL_SHOW_AGENTS)
		print_agents(out, snap);
	if (show & TOOL_SHOW_LOCKS)
		print_locks(out, snap);
	if (show & TOOL_SHOW_PHASES)
		print_phases(out, snap);
	if (show & TOOL_SHOW_WAVES)
		print_waves(out, snap);
	if (show & TOOL_SHOW_PROBLEMS)
		print_problems(out, pb);
}

size_t tool_live_agents(const prdshm_snapshot *snap, char *buf, size_t size)
{
	size_t n = 0, o = 0;

	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < snap->nagents; i++) {
		const prdshm_agent_info *a = &snap->agents[i];
		int w;

		if (!a->alive)
			continue;
		if (o < size) {
			w = snprintf(buf + o, size - o, "%s%.63s (pid %d)", n ? ", " : "", a->id,
				     (int)a->pid);
			o += w > 0 ? (size_t)w : 0;
		}
		n++;
	}
	return n;
}
