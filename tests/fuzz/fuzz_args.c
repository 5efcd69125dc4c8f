/*
 * fuzz_args.c: libFuzzer target for the tools' command-line parsers.
 *
 * The first byte picks the tool (create, inspect, cleanup, lock, phase,
 * agent, run); the rest, split on NUL bytes, gives argv[1..] (argv[0] is
 * the tool's name).  Each string is a separate allocation, so that ASan sees
 * a read past its end.  The tool's own parser (tools/args.h, linked from the
 * tool's object with main renamed) runs silently on two separate copies of
 * the command line; both must give the same result, which catches getopt
 * state left over from an earlier call (the previous input's strings are
 * freed by then: a stale pointer into them is a use after free).  A parse
 * must return 0, TOOL_EXIT_USAGE or ask for the help or the version; after
 * 0 the options must make sense: each string points into argv, the values
 * are in their documented ranges, and what the tool checks after parsing
 * (a command for prdshm-lock, a verb for prdshm-phase) is there.
 */
#include <stdarg.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64

/* One copy of the command line.  argv is what the parser sees (getopt may
 * permute it); str keeps the strings in their original order. */
struct cmdline {
	int argc;
	char *argv[MAX_ARGS + 2];
	char *str[MAX_ARGS + 1];
};

union opts {
	struct create_opts create;
	struct inspect_opts inspect;
	struct cleanup_opts cleanup;
	struct lock_opts lock;
	struct phase_opts phase;
	struct agent_opts agent;
	struct run_opts run;
};

/* A readable account of the options, to compare two parses. */
struct desc {
	char buf[4096];
	size_t len;
};

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_args: %s\n", what);
	abort();
}

static void put(struct desc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct desc *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (d->len >= sizeof(d->buf))
		return;
	va_start(ap, fmt);
	n = vsnprintf(d->buf + d->len, sizeof(d->buf) - d->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		d->len += (size_t)n;
}

/* A string of the options: NULL, or inside one of the arguments, which is
 * read to its end (ASan checks it is still there).  Described by position,
 * so that two copies of the command line compare equal. */
static void put_str(struct desc *d, const struct cmdline *c, const char *name, const char *s)
{
	if (s == NULL) {
		put(d, "%s=NULL ", name);
		return;
	}
	for (int i = 0; i < c->argc; i++) {
		size_t len = strlen(c->str[i]);

		if (s >= c->str[i] && s <= c->str[i] + len) {
			put(d, "%s=%d+%zu(%zu) ", name, i, (size_t)(s - c->str[i]), strlen(s));
			return;
		}
	}
	fail("an option points outside argv");
}

static void put_common(struct desc *d, const struct cmdline *c, const tool_common *tc)
{
	if (tc->argi < 1 || tc->argi > c->argc)
		fail("first operand outside argv");
	if (tc->verbosity < -1)
		fail("verbosity below -1");
	put_str(d, c, "config", tc->config_path);
	put_str(d, c, "name", tc->shm_name);
	put(d, "v=%d argi=%d ", tc->verbosity, tc->argi);
}

static int parse_create(struct cmdline *c, union opts *o)
{
	return create_parse(c->argc, c->argv, &o->create, 1);
}

static void check_create(struct desc *d, const struct cmdline *c, const union opts *o)
{
	put_common(d, c, &o->create.tc);
	put(d, "force=%d print=%d", o->create.force, o->create.print_config);
}

static int parse_inspect(struct cmdline *c, union opts *o)
{
	return inspect_parse(c->argc, c->argv, &o->inspect, 1);
}

static void check_inspect(struct desc *d, const struct cmdline *c, const union opts *o)
{
	const struct inspect_opts *i = &o->inspect;

	put_common(d, c, &i->tc);
	if (i->show != TOOL_SHOW_ALL && i->show != TOOL_SHOW_LOCKS &&
	    i->show != TOOL_SHOW_PHASES && i->show != TOOL_SHOW_AGENTS &&
	    i->show != TOOL_SHOW_WAVES)
		fail("inspect: not one section nor all");
	if (i->watch && i->check)
		fail("inspect: --watch with --check accepted");
	put(d, "json=%d check=%d watch=%d nolock=%d show=%u", i->json, i->check, i->watch,
	    i->nolock, i->show);
}

static int parse_cleanup(struct cmdline *c, union opts *o)
{
	return cleanup_parse(c->argc, c->argv, &o->cleanup, 1);
}

static void check_cleanup(struct desc *d, const struct cmdline *c, const union opts *o)
{
	const struct cleanup_opts *k = &o->cleanup;

	put_common(d, c, &k->tc);
	if (k->force && !k->unlink)
		fail("cleanup: --force without --unlink accepted");
	put_str(d, c, "save", k->save_before);
	put(d, "dry=%d json=%d requeue=%d unlink=%d force=%d", k->dry_run, k->json, k->requeue,
	    k->unlink, k->force);
}

static int parse_lock(struct cmdline *c, union opts *o)
{
	return lock_parse(c->argc, c->argv, &o->lock, 1);
}

/* The command prdshm-lock would run: NULL-terminated, inside argv or its
 * own "sh -c CMD". */
static void put_command(struct desc *d, const struct cmdline *c, const struct lock_opts *l)
{
	size_t max;

	if (l->argv == l->sh_argv) {
		if (l->sh_argv[2] != l->shell_cmd || l->sh_argv[3] != NULL ||
		    strcmp(l->sh_argv[0], "sh") != 0 || strcmp(l->sh_argv[1], "-c") != 0)
			fail("lock: -c command is not sh -c CMD");
		put(d, "sh-c ");
		return;
	}
	if (l->argv < c->argv + 1 || l->argv > c->argv + c->argc)
		fail("lock: command outside argv");
	if (l->shell_cmd)
		fail("lock: both -c and a command");
	max = (size_t)(c->argv + c->argc - l->argv);
	if (max == 0 || l->argv[max] != NULL)
		fail("lock: empty or unterminated command");
	for (size_t k = 0; k < max; k++)
		put_str(d, c, "arg", l->argv[k]);
}

static void check_lock(struct desc *d, const struct cmdline *c, const union opts *o)
{
	const struct lock_opts *l = &o->lock;

	put_common(d, c, &l->tc);
	if (l->mode != PRDSHM_SHARED && l->mode != PRDSHM_EXCLUSIVE)
		fail("lock: bad mode");
	if (l->timeout_s != -1 && !(l->timeout_s >= 0 && l->timeout_s <= 1e9) &&
	    !(isinf(l->timeout_s) && l->timeout_s > 0))
		fail("lock: timeout out of range");
	if (l->conflict_code < 0 || l->conflict_code > 255)
		fail("lock: conflict code out of range");
	if (l->resource == NULL || (l->phase && l->phase[0] == '\0'))
		fail("lock: no resource, or an empty phase");
	put_str(d, c, "res", l->resource);
	put_str(d, c, "phase", l->phase);
	put_str(d, c, "sh", l->shell_cmd);
	put_command(d, c, l);
	put(d, "mode=%d nb=%d w=%a E=%d close=%d nocreate=%d", l->mode, l->nonblock, l->timeout_s,
	    l->conflict_code, l->close_fd, l->no_create);
}

static int parse_phase(struct cmdline *c, union opts *o)
{
	return phase_parse(c->argc, c->argv, &o->phase, 1);
}

static void check_phase(struct desc *d, const struct cmdline *c, const union opts *o)
{
	const struct phase_opts *p = &o->phase;
	int status;

	put_common(d, c, &p->tc);
	if (p->verb == NULL)
		fail("phase: no verb");
	status = strcmp(p->verb, "status") == 0;
	if (!status && strcmp(p->verb, "retry") != 0 && strcmp(p->verb, "cancel") != 0 &&
	    strcmp(p->verb, "skip") != 0)
		fail("phase: unknown verb accepted");
	if (!status && p->id == NULL)
		fail("phase: a change without an id");
	put_str(d, c, "verb", p->verb);
	put_str(d, c, "id", p->id);
	put(d, "json=%d", p->json);
}

static int parse_agent(struct cmdline *c, union opts *o)
{
	return agent_parse(c->argc, c->argv, &o->agent, 1);
}

static void check_agent(struct desc *d, const struct cmdline *c, const union opts *o)
{
	put_common(d, c, &o->agent.tc);
	put_str(d, c, "id", o->agent.id);
}

static int parse_run(struct cmdline *c, union opts *o)
{
	return run_parse(c->argc, c->argv, &o->run, 1);
}

static void check_run(struct desc *d, const struct cmdline *c, const union opts *o)
{
	const struct run_opts *r = &o->run;

	put_common(d, c, &r->tc);
	if (r->jobs < 0 || r->jobs > 4096)
		fail("run: -j out of range");
	put_str(d, c, "log", r->log_path);
	put(d, "j=%d keep=%d attach=%d plain=%d", r->jobs, r->keep, r->attach, r->plain);
}

static const struct tool {
	const char *name;
	int (*parse)(struct cmdline *c, union opts *o);
	void (*check)(struct desc *d, const struct cmdline *c, const union opts *o);
} tools[] = {
	{ "prdshm-create", parse_create, check_create },
	{ "prdshm-inspect", parse_inspect, check_inspect },
	{ "prdshm-cleanup", parse_cleanup, check_cleanup },
	{ "prdshm-lock", parse_lock, check_lock },
	{ "prdshm-phase", parse_phase, check_phase },
	{ "prdshm-agent", parse_agent, check_agent },
	{ "prdshm-run", parse_run, check_run },
};

static void cmdline_free(struct cmdline *c)
{
	for (int i = 0; i < c->argc; i++)
		free(c->str[i]);
	c->argc = 0;
}

/* argv[0] = @p name, then the NUL-separated strings of @p data. */
static int cmdline_make(struct cmdline *c, const char *name, const uint8_t *data, size_t size)
{
	size_t at = 0;

	memset(c, 0, sizeof(*c));
	c->str[c->argc++] = strdup(name);
	while (at < size && c->argc <= MAX_ARGS) {
		const uint8_t *nul = memchr(data + at, 0, size - at);
		size_t len = nul ? (size_t)(nul - (data + at)) : size - at;
		char *s = malloc(len + 1);

		c->str[c->argc++] = s;
		if (s == NULL)
			break;
		memcpy(s, data + at, len);
		s[len] = '\0';
		at += len + 1;
	}
	for (int i = 0; i < c->argc; i++) {
		if (c->str[i] == NULL)
			return -1;
		c->argv[i] = c->str[i];
	}
	c->argv[c->argc] = NULL;
	return 0;
}

/* Parse one copy; @return the result, with the options described in @p d. */
static int parse_once(const struct tool *t, const uint8_t *data, size_t size, struct desc *d)
{
	struct cmdline c;
	union opts o;
	int rc;

	d->len = 0;
	d->buf[0] = '\0';
	if (cmdline_make(&c, t->name, data, size) != 0) {
		cmdline_free(&c);
		return INT32_MIN;
	}
	rc = t->parse(&c, &o);
	if (rc != 0 && rc != TOOL_EXIT_USAGE && rc != TOOL_PARSED_HELP &&
	    rc != TOOL_PARSED_VERSION)
		fail("a parser returned something else than 0, 64, help or version");
	if (rc == 0)
		t->check(d, &c, &o);
	cmdline_free(&c);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct tool *t;
	static struct desc d1, d2;
	int rc1, rc2;

	if (size < 1)
		return 0;
	t = &tools[data[0] % (sizeof(tools) / sizeof(tools[0]))];
	rc1 = parse_once(t, data + 1, size - 1, &d1);
	rc2 = parse_once(t, data + 1, size - 1, &d2);
	if (rc1 == INT32_MIN || rc2 == INT32_MIN)
		return 0; /* out of memory */
	if (rc1 != rc2 || strcmp(d1.buf, d2.buf) != 0) {
		fprintf(stderr, "%s: %d [%s] then %d [%s]\n", t->name, rc1, d1.buf, rc2, d2.buf);
		fail("the same command line parsed twice gives two results");
	}
	return 0;
}
