/*
 * prdshm-lock: flock(1) for the lock table.  Take RESOURCE, run a command
 * while holding it, release it, exit with the command's status.
 *
 * As with flock(1) the lock lives as long as the command: the session's
 * descriptor is inherited by the command (PRDSHM_SESSION_INHERIT), and the
 * OFD lock on it keeps the session alive, so killing prdshm-lock does not
 * free the lock while the command runs.  -o/--close makes the descriptor
 * close-on-exec instead.  See docs/man/prdshm-lock.1.
 *
 * SIGINT, SIGTERM, SIGHUP: while waiting, the request is withdrawn and
 * prdshm-lock dies of the signal, leaving nothing behind (flock(1) leaves
 * nothing either: the kernel drops its waiting flock()).  While the command
 * runs, the signal is passed on to it; prdshm-lock waits for it, releases
 * the lock and exits with its status (dying of the signal if the command
 * did), so the lock is never left to a command that outlived it.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "runner.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: prdshm-lock [options] RESOURCE COMMAND [ARG...]\n"
		"       prdshm-lock [options] RESOURCE -c 'SHELL COMMAND'\n"
		"Take RESOURCE in the lock table, run the command while holding it, then\n"
		"release it and exit with the command's status, like flock(1).\n"
		"\n"
		"  -s, --shared              take a shared lock\n"
		"  -x, --exclusive           take an exclusive lock (the default)\n"
		"  -n, --nonblock            fail at once if the lock is taken (same as -w 0)\n"
		"  -w, --timeout SECS        wait at most SECS seconds (fractions allowed;\n"
		"                            default: lock_timeout_seconds); -w inf waits\n"
		"                            forever, as flock(1) does without -w\n"
		"  -E, --conflict-exit-code N  exit status on conflict or timeout (default 1)\n"
		"  -o, --close               do not let the command inherit the lock: it is\n"
		"                            freed as soon as prdshm-lock itself dies\n"
		"  -c, --command CMD         run CMD with /bin/sh -c (as in flock(1); the\n"
		"                            other tools' -c is --config here)\n"
		"      --path                RESOURCE is a file's path: lock its absolute,\n"
		"                            canonical path, so out.txt, ./out.txt and\n"
		"                            $PWD/out.txt are one lock\n"
		"      --phase ID            record phase ID (at most 63 bytes) with the lock\n"
		"                            (default: PRD_PHASE_ID, set by prdshm-agent for a\n"
		"                            phase's command, so that prdshm-run shows the wait)\n"
		"      --name NAME           segment name (default: PRD_PARALLEL_SHM_NAME,\n"
		"                            then shm_name from the configuration, /prdpar)\n"
		"      --config FILE         read FILE instead of ./prdpar.yaml\n"
		"      --no-create           fail (66) if the segment does not exist instead\n"
		"                            of creating it from the configuration\n"
		"  -q, --quiet               no message on conflict\n"
		"  -v, --verbose             say when the lock is taken and released\n"
		"  -h, --help                show this help and exit\n"
		"  -V, --version             show the version and exit\n"
		"\n"
		"SIGINT, SIGTERM, SIGHUP: while waiting, withdraw and die of the signal;\n"
		"while the command runs, pass it on and exit with the command's status.\n"
		"\n"
		"Exit status: the command's status (128+N if it died of signal N); 1 (or\n"
		"the -E code) if the lock was not obtained: conflict, timeout, deadlock;\n"
		"2 the lock or agents table is full; 4 segment corrupt or incompatible;\n"
		"64 usage; 65 invalid configuration; 66 no such segment (--no-create);\n"
		"74 no room in /dev/shm to create the segment; 77 permission denied or\n"
		"segment not trusted; 70 internal error; 126/127 the command could not\n"
		"be run / was not found.\n");
}

/* Seconds, or "inf" (also "infinity", "forever"): no limit, as flock(1)
 * waits without -w. */
static int parse_timeout(const tool_common *tc, const char *s, void *field)
{
	char *end;
	double v;

	if (strcmp(s, "forever") == 0) {
		*(double *)field = INFINITY;
		return 0;
	}
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || isnan(v) || v < 0)
		return tool_parse_error(tc, "invalid timeout '%s' (seconds >= 0, fractions "
					    "allowed, or inf to wait forever)", s);
	/* "inf" or "infinity" spelt out; a number too large for a double
	 * (2e400) is infinite too, with ERANGE: that one is too long. */
	if (isinf(v) && errno != ERANGE) {
		*(double *)field = INFINITY;
		return 0;
	}
	if (errno || v > 1e9)
		return tool_parse_error(tc, "timeout '%s' is too long (at most 1e9 seconds; "
					    "-w inf waits forever)", s);
	*(double *)field = v;
	return 0;
}

/* A -c that names a YAML file: the other tools' -c, not a command. */
static int looks_like_config(const char *s)
{
	size_t n = strlen(s);

	if (strpbrk(s, " \t;|&") != NULL)
		return 0;
	return (n > 5 && strcmp(s + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(s + n - 4, ".yml") == 0);
}

static int parse_code(const tool_common *tc, const char *s, void *field)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 255)
		return tool_parse_error(tc, "invalid exit code '%s' (0..255)", s);
	*(int *)field = (int)v;
	return 0;
}

/* After RESOURCE at argv[i]: the command, or flock's "RESOURCE -c CMD". */
static int parse_command(int argc, char **argv, int i, struct lock_opts *o)
{
	static char sh[] = "sh", dash_c[] = "-c";

	if (i < argc && (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--command") == 0)) {
		if (o->shell_cmd || argc != i + 2)
			return tool_parse_error(&o->tc, "%s requires exactly one command argument",
						argv[i]);
		o->shell_cmd = argv[i + 1];
		i = argc;
	}
	if (o->shell_cmd && i < argc)
		return tool_parse_error(&o->tc, "-c and a command exclude each other");
	if (o->shell_cmd) {
		/* execvp() takes char *const *; sh never writes to them. */
		o->sh_argv[0] = sh;
		o->sh_argv[1] = dash_c;
		o->sh_argv[2] = (char *)(uintptr_t)o->shell_cmd;
		o->argv = o->sh_argv;
	} else if (i < argc) {
		o->argv = argv + i;
	} else {
		return tool_parse_error(&o->tc, "no command given");
	}
	return 0;
}

static const tool_optdef lock_optdefs[] = {
	TOOL_OPT_SET("shared", 's', struct lock_opts, mode, PRDSHM_SHARED),
	TOOL_OPT_SET("exclusive", 'x', struct lock_opts, mode, PRDSHM_EXCLUSIVE),
	TOOL_OPT_SET("nonblock", 'n', struct lock_opts, nonblock, 1),
	TOOL_OPT_SET("nb", 'n', struct lock_opts, nonblock, 1),
	TOOL_OPT_FN("timeout", 'w', struct lock_opts, timeout_s, parse_timeout),
	TOOL_OPT_FN("wait", 'w', struct lock_opts, timeout_s, parse_timeout),
	TOOL_OPT_FN("conflict-exit-code", 'E', struct lock_opts, conflict_code, parse_code),
	TOOL_OPT_SET("close", 'o', struct lock_opts, close_fd, 1),
	TOOL_OPT_STR("command", 'c', struct lock_opts, shell_cmd),
	TOOL_OPT_STR("phase", 0, struct lock_opts, phase),
	TOOL_OPT_SET("no-create", 0, struct lock_opts, no_create, 1),
	TOOL_OPT_SET("path", 0, struct lock_opts, path, 1),
	{ 0 },
};

/* The other tools' "-c FILE" given to prdshm-lock, whose -c is flock(1)'s. */
static int config_for_command(const struct lock_opts *o)
{
	if (o->shell_cmd && looks_like_config(o->shell_cmd))
		return tool_parse_error(&o->tc, "-c is the command in prdshm-lock, as in flock(1), "
					"and '%s' looks like a configuration file: give it with "
					"--config", o->shell_cmd);
	return 0;
}

int lock_parse(int argc, char **argv, struct lock_opts *o, int silent)
{
	int rc;

	memset(o, 0, sizeof(*o));
	o->tc.silent = silent;
	o->mode = PRDSHM_EXCLUSIVE;
	o->timeout_s = -1;
	o->conflict_code = TOOL_EXIT_CONFLICT;
	/* Options end at RESOURCE, so that the command's options stay its own;
	 * -c is the command, as in flock(1). */
	rc = tool_getopt(&o->tc, argc, argv, TOOL_OPTS_FIRST, lock_optdefs, o);
	if (rc == 0)
		rc = config_for_command(o);
	if (rc)
		return rc;
	if (o->tc.argi >= argc)
		return tool_parse_error(&o->tc, "no resource given");
	o->resource = argv[o->tc.argi];
	rc = parse_command(argc, argv, o->tc.argi + 1, o);
	if (rc)
		return rc;
	if (o->phase && o->phase[0] == '\0')
		return tool_parse_error(&o->tc, "--phase needs a phase id");
	/* Refused, not cut: a cut id would name another phase. */
	if (o->phase && strlen(o->phase) > PRDSHM_ID_MAX)
		return tool_parse_error(&o->tc, "--phase: '%.20s...' is longer than %d bytes",
					o->phase, PRDSHM_ID_MAX);
	return config_for_command(o);
}

static int64_t timeout_ms(const struct lock_opts *o, const prdshm_config *cfg)
{
	double s = o->timeout_s >= 0 ? o->timeout_s : cfg->lock_timeout_seconds;
	int64_t ms;

	if (o->nonblock || s <= 0)
		return PRDSHM_TRY;
	if (isinf(s))
		return PRDSHM_WAIT_FOREVER;
	/* Round up (without libm): -w 0.0001 still waits, it is not -n. */
	ms = (int64_t)(s * 1000.0);
	if ((double)ms < s * 1000.0)
		ms++;
	return ms;
}

/* Conflict or timeout: say who holds it, unless -q. */
static void report_conflict(prdshm_seg *seg, const struct lock_opts *o, int err)
{
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	char cycle[512];
	size_t n = 0;

	if (tool_verbosity < 0)
		return;
	/* The cycle, before the query resets the thread's message. */
	snprintf(cycle, sizeof(cycle), "%s", prdshm_last_error());
	fprintf(stderr, "%s: ", tool_name);
	tool_print_bytes(stderr, o->resource, strlen(o->resource));
	if (err == PRDSHM_EDEADLK && cycle[0])
		fprintf(stderr, ": %s", cycle);
	else
		fprintf(stderr, ": %s", err == PRDSHM_EDEADLK ? "deadlock detected"
					: err == PRDSHM_ETIMEDOUT ? "timed out"
								   : "lock is taken");
	if (prdshm_lock_query(seg, o->resource, (prdshm_mode)o->mode, h, 4, &n) == 0) {
		for (size_t i = 0; i < n && i < 4; i++) {
			fprintf(stderr, "%s %s by %.63s (pid %d", i ? "," : ";",
				h[i].waiting ? "wanted" : "held", h[i].agent_id, (int)h[i].pid);
			if (h[i].phase_id[0])
				fprintf(stderr, ", phase %.63s", h[i].phase_id);
			fprintf(stderr, ", %s%s)", prdshm_mode_name(h[i].mode),
				h[i].alive ? "" : ", dead");
		}
		if (n > 4)
			fprintf(stderr, " and %zu more", n - 4);
	}
	fputc('\n', stderr);
}

static int open_segment(const struct lock_opts *o, const prdshm_config *cfg, prdshm_seg **seg)
{
	prdshm_config locks_only = *cfg;
	int created = 0;
	int r;

	if (o->no_create)
		return tool_open_segment(cfg, seg);
	/* A segment made here holds locks only, never the plan: prdshm-run
	 * recognises it and replaces it once unused, where a plan loaded here
	 * would look like a run that crashed before it began.  The copy shares
	 * the caller's strings; only the plan is left out. */
	locks_only.phases = NULL;
	locks_only.nphases = 0;
	r = prdshm_seg_open_or_create(&locks_only, seg, &created);
	if (r)
		return tool_fail(r, "open segment %s", cfg->shm_name);
	if (created)
		tool_verbose("created segment %s", cfg->shm_name);
	return TOOL_EXIT_OK;
}

/*
 * --path: the absolute, canonical path of @p in in @p out (PATH_MAX bytes),
 * so that out.txt, ./out.txt and its absolute path are one lock.  The file
 * need not exist (a lock often guards its creation): then its directory is
 * resolved, symbolic links included, and its name kept.
 * @return 0, or the exit code after a message.
 */
static int canonical_path(const char *in, char *out)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(in, '/'), *base = slash ? slash + 1 : in;
	size_t dlen = slash ? (size_t)(slash - in) : 0;

	if (realpath(in, out) != NULL)
		return 0;
	if (errno != ENOENT || *base == '\0' || strcmp(base, ".") == 0 ||
	    strcmp(base, "..") == 0 || dlen + 1 >= sizeof(dir))
		goto fail;
	if (slash == NULL) {
		strcpy(dir, ".");
	} else if (slash == in) {
		strcpy(dir, "/");
	} else {
		memcpy(dir, in, dlen);
		dir[dlen] = '\0';
	}
	if (realpath(dir, out) == NULL)
		goto fail;
	if (strlen(out) + 1 + strlen(base) + 1 > PATH_MAX) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	if (strcmp(out, "/") != 0)
		strcat(out, "/");
	strcat(out, base);
	return 0;
fail:
	tool_err("--path %s: %s", in, strerror(errno));
	return TOOL_EXIT_USAGE;
}

/* In the child: run the command with the dispositions prdshm-lock found
 * and the signal mask it had (@p mask), acting for the session that holds
 * the lock (@p parent: PRDSHM_PARENT_SESSION, see prdshm.h "Nested
 * locks").  126: cannot execute, 127: not found (the shell's convention,
 * which flock(1) follows too). */
static void run_child(char **argv, const sigset_t *mask, const char *parent)
{
	rn_signals_default();
	sigprocmask(SIG_SETMASK, mask, NULL);
	/* Empty where the backend has no nesting (prdshm_session_env()). */
	if (parent[0])
		setenv(PRDSHM_PARENT_ENV, parent, 1);
	execvp(argv[0], argv);
	fprintf(stderr, "%s: %s: %s\n", tool_name, argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

/* Wait for the command, passing on the stop signals sent to prdshm-lock
 * meanwhile; only before it is reaped, so its pid is still its own. */
static int wait_command(pid_t pid, int *status)
{
	for (;;) {
		unsigned passed = rn_forward(pid);
		pid_t r;

		for (int sig = 1; passed; sig++) {
			if (passed & (1u << sig))
				tool_verbose("passed signal %d (%s) on to the command (pid %ld)",
					     sig, strsignal(sig), (long)pid);
			passed &= ~(1u << sig);
		}
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		/* SIGCHLD and the stop signals wake this (self-pipe: one that
		 * came since waitpid() too); the bound is a safety net. */
		rn_await(1000);
	}
}

/* Run the command on behalf of session @p s, @return its exit code;
 * @p die_of gets the signal that killed it if prdshm-lock was stopped by
 * one too (flock(1), which has no handler, would have died of it as
 * well). */
static int run_command(char **argv, prdshm_session *s, int *die_of)
{
	char parent[PRDSHM_PARENT_ENV_MAX];
	sigset_t mask;
	int status;
	pid_t pid;

	if (prdshm_session_env(s, parent, sizeof(parent)) != 0) {
		tool_err("%s", prdshm_last_error());
		return TOOL_EXIT_INTERNAL;
	}
	fflush(NULL);
	/* A stop signal between fork() and exec() would run our handler in
	 * the child and be lost: it waits, blocked, until the child has the
	 * default dispositions back. */
	rn_block(&mask);
	pid = fork();
	if (pid == 0)
		run_child(argv, &mask, parent);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	if (pid < 0) {
		tool_err("fork: %s", strerror(errno));
		return TOOL_EXIT_INTERNAL;
	}
	if (wait_command(pid, &status) != 0) {
		tool_err("waitpid: %s", strerror(errno));
		return TOOL_EXIT_INTERNAL;
	}
	if (WIFSIGNALED(status)) {
		if (rn_stop_signal && rn_is_stop_signal(WTERMSIG(status)))
			*die_of = WTERMSIG(status);
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}

/* The phase recorded with the lock: --phase, else the phase whose command
 * this is (prdshm-agent sets PRD_PHASE_ID), so that a phase waiting for a
 * lock shows as waiting, not running.  An id the library would refuse
 * (too long, not printable) is not recorded rather than failing the lock. */
static const char *lock_phase(const struct lock_opts *o)
{
	const char *env = getenv("PRD_PHASE_ID");
	size_t len;

	if (o->phase || env == NULL)
		return o->phase;
	len = strlen(env);
	if (len == 0 || len > PRDSHM_ID_MAX)
		return NULL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)env[i] <= 0x20 || (unsigned char)env[i] >= 0x7f)
			return NULL;
	return env;
}

/* Take the lock, run the command, release the lock.  @p die_of gets the
 * signal prdshm-lock should die of once everything is closed (0: none). */
static int lock_and_run(const struct lock_opts *o, const prdshm_config *cfg, prdshm_seg *seg,
			int *die_of)
{
	prdshm_session *s = NULL;
	char id[PRDSHM_ID_MAX + 1];
	int rc, r;

	snprintf(id, sizeof(id), "lock-%ld", (long)getpid());
	/* Bounded like the lock: -n must not hang on a stopped process that
	 * holds the session mutex (the message names it). */
	r = prdshm_session_open_timed(seg, id, o->close_fd ? 0 : PRDSHM_SESSION_INHERIT,
				      timeout_ms(o, cfg), &s);
	if (r == PRDSHM_EBUSY || r == PRDSHM_ETIMEDOUT) {
		tool_err("open a session on %s: %s", cfg->shm_name, prdshm_last_error());
		return o->conflict_code;
	}
	if (r)
		return tool_fail(r, "open a session on %s", cfg->shm_name);
	/* A stop signal during the wait ends it (PRDSHM_EINTR, the request
	 * withdrawn); one that came before, or with the grant, stops us here. */
	r = rn_stop_signal ? PRDSHM_EINTR
			   : prdshm_lock(s, o->resource, (prdshm_mode)o->mode,
					 timeout_ms(o, cfg), lock_phase(o));
	if (rn_stop_signal) {
		tool_verbose("signal %d: %s given up", (int)rn_stop_signal, o->resource);
		*die_of = rn_stop_signal;
		rc = 128 + rn_stop_signal;
		goto out;
	}
	if (r == PRDSHM_EBUSY || r == PRDSHM_ETIMEDOUT || r == PRDSHM_EDEADLK) {
		report_conflict(seg, o, r);
		rc = o->conflict_code;
		goto out;
	}
	if (r) {
		rc = tool_fail(r, "lock %s", o->resource);
		goto out;
	}
	tool_verbose("locked %s (%s) in %s", o->resource, prdshm_mode_name((prdshm_mode)o->mode),
		     cfg->shm_name);
	rc = run_command(o->argv, s, die_of);
	tool_verbose("command exited with %d; releasing %s", rc, o->resource);
out:
	prdshm_session_close(s);
	return rc;
}

int main(int argc, char **argv)
{
	static char path[PATH_MAX];
	struct lock_opts o;
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	int die_of = 0;
	int rc;

	tool_init("prdshm-lock");
	prdshm_config_init(&cfg);
	/* Once parsed, a stop signal is ours to handle: nothing is left half
	 * done, in the segment or in the lock table. */
	rc = rn_start(lock_parse(argc, argv, &o, 0), &o.tc, usage, &cfg);
	if (rc != TOOL_CONTINUE)
		goto out;
	if (o.path) {
		rc = canonical_path(o.resource, path);
		if (rc)
			goto out;
		o.resource = path;
		tool_verbose("resource %s", path);
	}
	rc = open_segment(&o, &cfg, &seg);
	if (rc == 0)
		rc = lock_and_run(&o, &cfg, seg, &die_of);
	else if (rn_stop_signal)
		die_of = rn_stop_signal; /* what failed was interrupted */
	prdshm_seg_close(seg);
out:
	prdshm_config_free(&cfg);
	/* Everything is released: now end the way the signal would have. */
	if (die_of)
		rc = rn_die_of(die_of);
	return rc;
}
