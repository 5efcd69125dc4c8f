/*
 * prdshm-lock: flock(1) for the lock table.  Take RESOURCE, run a command
 * while holding it, release it, exit with the command's status.
 *
 * As with flock(1) the lock lives as long as the command: the session's
 * descriptor is inherited by the command (PRDSHM_SESSION_INHERIT), and the
 * OFD lock on it keeps the session alive, so killing prdshm-lock does not
 * free the lock while the command runs.  -o/--close makes the descriptor
 * close-on-exec instead.  See docs/man/prdshm-lock.1.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

enum { OPT_PHASE = TOOL_OPT_FIRST_PRIVATE, OPT_NO_CREATE };

struct lock_opts {
	tool_common tc;
	prdshm_mode mode;
	int nonblock;
	double timeout_s; /* < 0: lock_timeout_seconds */
	int conflict_code;
	int close_fd;
	int no_create;
	const char *phase;
	char *shell_cmd;       /* -c */
	const char *resource;
	char **argv;           /* the command, NULL-terminated */
};

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
		"                            default: lock_timeout_seconds)\n"
		"  -E, --conflict-exit-code N  exit status on conflict or timeout (default 1)\n"
		"  -o, --close               do not let the command inherit the lock: it is\n"
		"                            freed as soon as prdshm-lock itself dies\n"
		"  -c, --command CMD         run CMD with /bin/sh -c\n"
		"      --phase ID            record phase ID with the lock\n"
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
		"Exit status: the command's status (128+N if it died of signal N); 1 (or\n"
		"the -E code) if the lock was not obtained: conflict, timeout, deadlock;\n"
		"2 the lock or agents table is full; 4 segment corrupt or incompatible;\n"
		"64 usage; 65 invalid configuration; 66 no such segment (--no-create);\n"
		"77 permission denied; 70 internal error; 126/127 the command could not\n"
		"be run / was not found.\n");
}

static int parse_timeout(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 1e9)
		return tool_usage_error("invalid timeout '%s' (seconds, >= 0)", s);
	*out = v;
	return 0;
}

static int parse_code(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 255)
		return tool_usage_error("invalid exit code '%s' (0..255)", s);
	*out = (int)v;
	return 0;
}

static int parse_option(int c, struct lock_opts *o)
{
	switch (c) {
	case 's':
		o->mode = PRDSHM_SHARED;
		return 0;
	case 'x':
		o->mode = PRDSHM_EXCLUSIVE;
		return 0;
	case 'n':
		o->nonblock = 1;
		return 0;
	case 'w':
		return parse_timeout(optarg, &o->timeout_s);
	case 'E':
		return parse_code(optarg, &o->conflict_code);
	case 'o':
		o->close_fd = 1;
		return 0;
	case 'c':
		o->shell_cmd = optarg;
		return 0;
	case OPT_PHASE:
		o->phase = optarg;
		return 0;
	case OPT_NO_CREATE:
		o->no_create = 1;
		return 0;
	default:
		if (tool_common_option(c, optarg, &o->tc, usage))
			return 0;
		return tool_usage_error("invalid option");
	}
}

/* After RESOURCE: the command, or flock's "RESOURCE -c CMD" form. */
static int parse_command(int argc, char **argv, struct lock_opts *o)
{
	static char sh[] = "sh", dash_c[] = "-c";
	static char *sh_argv[4] = { sh, dash_c, NULL, NULL };

	if (optind < argc && (strcmp(argv[optind], "-c") == 0 ||
			      strcmp(argv[optind], "--command") == 0)) {
		if (o->shell_cmd || argc != optind + 2)
			return tool_usage_error("%s requires exactly one command argument",
						argv[optind]);
		o->shell_cmd = argv[optind + 1];
		optind = argc;
	}
	if (o->shell_cmd && optind < argc)
		return tool_usage_error("-c and a command exclude each other");
	if (o->shell_cmd) {
		sh_argv[2] = o->shell_cmd;
		o->argv = sh_argv;
	} else if (optind < argc) {
		o->argv = argv + optind;
	} else {
		return tool_usage_error("no command given");
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct lock_opts *o)
{
	static const struct option longopts[] = {
		TOOL_COMMON_LONGOPTS,
		{ "shared", no_argument, NULL, 's' },
		{ "exclusive", no_argument, NULL, 'x' },
		{ "nonblock", no_argument, NULL, 'n' },
		{ "nb", no_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 'w' },
		{ "wait", required_argument, NULL, 'w' },
		{ "conflict-exit-code", required_argument, NULL, 'E' },
		{ "close", no_argument, NULL, 'o' },
		{ "command", required_argument, NULL, 'c' },
		{ "phase", required_argument, NULL, OPT_PHASE },
		{ "no-create", no_argument, NULL, OPT_NO_CREATE },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->mode = PRDSHM_EXCLUSIVE;
	o->timeout_s = -1;
	o->conflict_code = TOOL_EXIT_CONFLICT;
	/* "+": stop at RESOURCE, so that the command's options stay its own. */
	while ((c = getopt_long(argc, argv, "+sxnw:E:oc:qvhV", longopts, NULL)) != -1) {
		if (parse_option(c, o))
			return TOOL_EXIT_USAGE;
	}
	if (optind >= argc)
		return tool_usage_error("no resource given");
	o->resource = argv[optind++];
	return parse_command(argc, argv, o);
}

static int64_t timeout_ms(const struct lock_opts *o, const prdshm_config *cfg)
{
	double s = o->timeout_s >= 0 ? o->timeout_s : cfg->lock_timeout_seconds;
	int64_t ms;

	if (o->nonblock || s <= 0)
		return PRDSHM_TRY;
	/* Round up (without libm): -w 0.0001 still waits, it is not -n. */
	ms = (int64_t)(s * 1000.0);
	if ((double)ms < s * 1000.0)
		ms++;
	return ms;
}

/* Conflict or timeout: say who holds it, unless -q. */
static void report_conflict(prdshm_seg *seg, const struct lock_opts *o, int err)
{
	prdshm_holder h[4];
	size_t n = 0;

	if (tool_verbosity < 0)
		return;
	fprintf(stderr, "%s: ", tool_name);
	tool_print_bytes(stderr, o->resource, strlen(o->resource));
	fprintf(stderr, ": %s", err == PRDSHM_EDEADLK ? "deadlock detected"
				: err == PRDSHM_ETIMEDOUT ? "timed out"
							   : "lock is taken");
	if (prdshm_lock_query(seg, o->resource, o->mode, h, 4, &n) == 0) {
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
	int created = 0;
	int r;

	if (o->no_create)
		return tool_open_segment(cfg, seg);
	r = prdshm_seg_open_or_create(cfg, seg, &created);
	if (r)
		return tool_fail(r, "open segment %s", cfg->shm_name);
	if (created)
		tool_verbose("created segment %s", cfg->shm_name);
	return TOOL_EXIT_OK;
}

/* In the child: run the command.  126: cannot execute, 127: not found
 * (the shell's convention, which flock(1) follows too). */
static void run_child(char **argv)
{
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], argv);
	fprintf(stderr, "%s: %s: %s\n", tool_name, argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

static int run_command(char **argv)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		tool_err("fork: %s", strerror(errno));
		return TOOL_EXIT_INTERNAL;
	}
	if (pid == 0)
		run_child(argv);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			tool_err("waitpid: %s", strerror(errno));
			return TOOL_EXIT_INTERNAL;
		}
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int lock_and_run(const struct lock_opts *o, const prdshm_config *cfg, prdshm_seg *seg)
{
	prdshm_session *s = NULL;
	char id[PRDSHM_ID_MAX + 1];
	int rc, r;

	snprintf(id, sizeof(id), "lock-%ld", (long)getpid());
	r = prdshm_session_open(seg, id, o->close_fd ? 0 : PRDSHM_SESSION_INHERIT, &s);
	if (r)
		return tool_fail(r, "open a session on %s", cfg->shm_name);
	r = prdshm_lock(s, o->resource, o->mode, timeout_ms(o, cfg), o->phase);
	if (r == PRDSHM_EBUSY || r == PRDSHM_ETIMEDOUT || r == PRDSHM_EDEADLK) {
		report_conflict(seg, o, r);
		rc = o->conflict_code;
		goto out;
	}
	if (r) {
		rc = tool_fail(r, "lock %s", o->resource);
		goto out;
	}
	tool_verbose("locked %s (%s) in %s", o->resource, prdshm_mode_name(o->mode),
		     cfg->shm_name);
	rc = run_command(o->argv);
	tool_verbose("command exited with %d; releasing %s", rc, o->resource);
out:
	prdshm_session_close(s);
	return rc;
}

int main(int argc, char **argv)
{
	struct lock_opts o;
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	int rc;

	tool_init("prdshm-lock");
	memset(&o, 0, sizeof(o));
	prdshm_config_init(&cfg);
	rc = parse_args(argc, argv, &o);
	if (rc)
		goto out;
	if (o.phase && o.phase[0] == '\0') {
		rc = tool_usage_error("--phase needs a phase id");
		goto out;
	}
	rc = tool_load_config(&o.tc, &cfg);
	if (rc)
		goto out;
	rc = open_segment(&o, &cfg, &seg);
	if (rc)
		goto out;
	rc = lock_and_run(&o, &cfg, seg);
	prdshm_seg_close(seg);
out:
	prdshm_config_free(&cfg);
	return rc;
}
