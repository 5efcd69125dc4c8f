/*
 * prdshm-agent: a worker that executes the plan stored in a segment.
 *
 * It registers a session, then claims the best ready phase, takes the
 * phase's outputs EXCLUSIVE (all or nothing), runs its command with
 * /bin/sh -c, records the result and releases the outputs, until nothing
 * is left to claim.  Any number of agents, started by hand or by
 * prdshm-run, may work on one segment: the claim and the lock table keep
 * them apart, and the kernel tells the others when one of them dies.
 *
 * SIGTERM, SIGINT or SIGHUP: stop claiming (a wait for a phase or for the
 * outputs' locks ends at once, its request withdrawn), pass SIGTERM to the
 * running command's process group, mark its phase CANCELLED, exit 128 +
 * the signal (an exit status, not a death: prdshm-run tells an agent that
 * stopped from one that died by it).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "runner.h"

/* The longest wait without looking at signals and heartbeats. */
#define SLICE_MS 1000
/* How long a command may take to exit after SIGTERM before SIGKILL. */
#define TERM_GRACE_MS 5000
/* How long output is still read after the shell exited (its background
 * children may keep the pipes open forever). */
#define DRAIN_MS 1000
/* The exit status recorded for a phase whose command never started. */
#define STATUS_NOT_RUN (-1)

struct agent {
	prdshm_seg *seg;
	prdshm_session *s;
	prdshm_seg_info info;
	const char *id;
	uint64_t hb_every_ns, next_hb_ns;
	unsigned ran, failed;
	char parent_env[PRDSHM_PARENT_ENV_MAX]; /* PRDSHM_PARENT_SESSION for commands */
};

/* One claimed phase: what it needs to run, copied from a snapshot. */
struct job {
	prdshm_claim c;
	char *name, *command, *deps;
	char **outputs;
	size_t noutputs;
	pid_t pid;
	int wstatus, reaped, stopped;
	uint64_t kill_at_ns;
	char message[PRDSHM_MSG_MAX + 1]; /* why it did not run or failed */
	char last_err[PRDSHM_MSG_MAX + 1];
	struct agent *a;
	FILE *fwd; /* where the current stream's lines go */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: prdshm-agent [OPTIONS]\n"
		"Claim and run the phases of the plan in a prdshm segment until none is left.\n"
		"\n"
		"  -i, --id ID        agent id shown by the tools (default: pid-<pid>)\n"
		"      --name NAME    segment name (default: shm_name of the configuration)\n"
		"  -c, --config FILE  configuration (default: ./prdpar.yaml if present)\n"
		"  -q, --quiet        no progress lines (command output is still shown)\n"
		"  -v, --verbose      more detail on stderr\n"
		"  -h, --help         show this help and exit\n"
		"  -V, --version      show the version and exit\n"
		"\n"
		"Exit status: 0 every phase it ran completed, 1 one failed, 2 agents table\n"
		"full, 129/130/143 stopped by SIGHUP/SIGINT/SIGTERM, 4 segment corrupt,\n"
		"64 usage, 65 configuration, 66 no such segment, 77 permission denied or\n"
		"segment not trusted, 70 internal error.\n"
		"See prdshm-agent(1).\n");
}

static const tool_optdef agent_optdefs[] = {
	TOOL_OPT_STR("id", 'i', struct agent_opts, id),
	{ 0 },
};

int agent_parse(int argc, char **argv, struct agent_opts *o, int silent)
{
	memset(o, 0, sizeof(*o));
	o->tc.silent = silent;
	return tool_getopt(&o->tc, argc, argv, TOOL_C_IS_CONFIG | TOOL_NO_OPERANDS,
			   agent_optdefs, o);
}

/* ------------------------------------------------------------------------ */
/* Heartbeat and log                                                        */

static void heartbeat(struct agent *a, int force)
{
	uint64_t now = rn_mono_ns();

	if (!force && now < a->next_hb_ns)
		return;
	a->next_hb_ns = now + a->hb_every_ns;
	if (prdshm_agent_heartbeat(a->s) != 0)
		tool_verbose("heartbeat: %s", prdshm_last_error());
}

/* Milliseconds until the next heartbeat is due, at most SLICE_MS. */
static int64_t until_heartbeat_ms(const struct agent *a)
{
	uint64_t now = rn_mono_ns();
	int64_t ms;

	if (now >= a->next_hb_ns)
		return 0;
	ms = (int64_t)((a->next_hb_ns - now) / 1000000u) + 1;
	return ms < SLICE_MS ? ms : SLICE_MS;
}

/* "<phase>: <text>" into the agent's log ring. */
static void agent_log(struct agent *a, const char *phase, const char *text)
{
	char line[PRDSHM_MSG_MAX + 1];

	snprintf(line, sizeof(line), "%s: %s", phase, text);
	/* The ring is a convenience for the tools: losing a line is harmless. */
	(void)prdshm_agent_log(a->s, line);
}

/* ------------------------------------------------------------------------ */
/* The claimed phase                                                        */

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void job_free(struct job *j)
{
	free(j->name);
	free(j->command);
	free(j->deps);
	free_strv(j->outputs, j->noutputs);
}

/* "a b c" from the dependency ids, for PRD_PHASE_DEPS. */
static char *join_ids(char *const *v, size_t n)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	s = malloc(len);
	if (s == NULL)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, v[i]);
	}
	return s;
}

static int copy_phase(struct job *j, const prdshm_phase_info *p)
{
	j->name = strdup(p->name ? p->name : p->id);
	j->command = p->command ? strdup(p->command) : NULL;
	j->deps = join_ids(p->deps, p->ndeps);
	j->outputs = calloc(p->noutputs ? p->noutputs : 1, sizeof(char *));
	if (j->name == NULL || (p->command && j->command == NULL) || j->deps == NULL ||
	    j->outputs == NULL)
		return PRDSHM_ENOMEM;
	for (size_t i = 0; i < p->noutputs; i++) {
		j->outputs[i] = strdup(p->outputs[i]);
		if (j->outputs[i] == NULL)
			return PRDSHM_ENOMEM;
		j->noutputs = i + 1;
	}
	return 0;
}

/* Fill @p j from a snapshot: the claim gives only the index and the id. */
static int job_load(struct agent *a, struct job *j)
{
	prdshm_snapshot *snap = NULL;
	int r = prdshm_snapshot_take(a->seg, 0, &snap);

	if (r)
		return r;
	if (j->c.index < 0 || (size_t)j->c.index >= snap->nphases)
		r = PRDSHM_ENOPHASE;
	else
		r = copy_phase(j, &snap->phases[j->c.index]);
	prdshm_snapshot_free(snap);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Outputs                                                                  */

/* One try: wait up to @p try_ms in slices, heartbeating in between.
 * Each slice is a new request, so a long wait loses its place in line
 * once per slice; the price of noticing SIGTERM within a second. */
static int lock_try(struct agent *a, struct job *j, int64_t try_ms, size_t *failed)
{
	uint64_t end = rn_mono_ns() + (uint64_t)try_ms * 1000000u;
	int r;

	for (;;) {
		uint64_t now = rn_mono_ns();
		int64_t left = now < end ? (int64_t)((end - now) / 1000000u) : 0;
		int64_t slice = left < SLICE_MS ? left : SLICE_MS;

		r = prdshm_lock_many(a->s, (const char *const *)j->outputs, j->noutputs,
				     PRDSHM_EXCLUSIVE, slice, j->c.id, failed);
		/* A signal that does not stop the agent (SIGCHLD) ended the
		 * wait: wait again for what is left. */
		if (r == PRDSHM_EINTR && !rn_stop_signal)
			continue;
		if (r != PRDSHM_ETIMEDOUT || rn_stop_signal || slice == left)
			return r;
		heartbeat(a, 0);
	}
}

static int is_conflict(int r)
{
	return r == PRDSHM_EBUSY || r == PRDSHM_ETIMEDOUT || r == PRDSHM_EDEADLK;
}

/* Who is in the way of @p output, for the failure message: the first
 * record that blocks an EXCLUSIVE request (a holder, unless only earlier
 * waiters are left), "; held by agent b (pid 12, phase build)". */
static void describe_blocker(struct agent *a, const char *output, char *buf, size_t size)
{
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	size_t n = 0, k = 0;

	buf[0] = '\0';
	if (prdshm_lock_query(a->seg, output, PRDSHM_EXCLUSIVE, h, 4, &n) != 0 || n == 0)
		return;
	while (k + 1 < n && k + 1 < 4 && h[k].waiting)
		k++;
	snprintf(buf, size, "; %s by agent %.63s (pid %d%s%.63s%s)%s",
		 h[k].waiting ? "wanted" : "held", h[k].agent_id, (int)h[k].pid,
		 h[k].phase_id[0] ? ", phase " : "", h[k].phase_id, h[k].alive ? "" : ", dead",
		 n > 1 ? " and others" : "");
}

/* Why taking the outputs failed, in j->message: which output, why, and
 * (for a conflict) who holds it. */
static void lock_failure(struct agent *a, struct job *j, size_t failed, int r)
{
	const char *out = failed < j->noutputs ? j->outputs[failed] : "?";
	char why[PRDSHM_MSG_MAX + 1], who[256] = "";

	/* Before the query, which may change the thread's last error. */
	if (r == PRDSHM_ETIMEDOUT && !rn_stop_signal)
		snprintf(why, sizeof(why), "gave up after lock_timeout_seconds (%d s)",
			 a->info.lock_timeout_seconds);
	else
		snprintf(why, sizeof(why), "%s", r == PRDSHM_EBUSY ? "busy" : prdshm_last_error());
	if (is_conflict(r))
		describe_blocker(a, out, who, sizeof(who));
	/* Cut to the phase message's size, as every message is. */
	if (snprintf(j->message, sizeof(j->message), "cannot lock output %s: %s%s", out, why,
		     who) >= (int)sizeof(j->message))
		tool_verbose("%s: %s: message cut to %zu bytes", a->id, j->c.id,
			     sizeof(j->message) - 1);
}

/*
 * Take every output EXCLUSIVE.  A conflict is retried up to
 * conflict_retry_attempts times; the tries share lock_timeout_seconds
 * (with 0, each try is immediate and the retries back off 100 ms more
 * each time).  On failure j->message says which output and why.
 */
static int lock_outputs(struct agent *a, struct job *j)
{
	int tries = 1 + (a->info.conflict_retry_attempts > 0 ? a->info.conflict_retry_attempts : 0);
	int64_t try_ms = (int64_t)a->info.lock_timeout_seconds * 1000 / tries;
	size_t failed = 0;
	int r = 0;

	if (j->noutputs == 0)
		return 0;
	for (int t = 1; t <= tries && !rn_stop_signal; t++) {
		r = lock_try(a, j, try_ms, &failed);
		if (!is_conflict(r))
			break;
		if (t < tries) {
			tool_verbose("%s: %s: output %s busy, retry %d of %d", a->id, j->c.id,
				     j->outputs[failed], t, tries - 1);
			heartbeat(a, 0);
			if (try_ms == 0)
				rn_nap(100 * t);
		}
	}
	if (r)
		lock_failure(a, j, failed, r);
	return r;
}

/* ------------------------------------------------------------------------ */
/* The command                                                              */

static void child_env(const struct agent *a, const struct job *j)
{
	char attempt[16];

	snprintf(attempt, sizeof(attempt), "%u", (unsigned)j->c.attempt);
	setenv("PRD_PHASE_ID", j->c.id, 1);
	setenv("PRD_PHASE_NAME", j->name, 1);
	setenv("PRD_PHASE_DEPS", j->deps, 1);
	setenv("PRD_PHASE_ATTEMPT", attempt, 1);
	setenv("PRD_AGENT_ID", a->id, 1);
	setenv("PRD_SHM_NAME", a->info.shm_name, 1);
	/* The command acts for the agent: it may lock the outputs the agent
	 * holds for it (prdshm.h, "Nested locks"). */
	if (a->parent_env[0])
		setenv(PRDSHM_PARENT_ENV, a->parent_env, 1);
}

/* In the child: own process group (so that SIGTERM reaches the whole
 * command, and a terminal's Ctrl-C only reaches the agents, which pass it
 * on), killed if the agent dies, stdin from /dev/null. */
static void child_exec(const struct agent *a, const struct job *j, pid_t parent, int out, int err)
{
	int null = open("/dev/null", O_RDONLY);

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127); /* the agent died before prctl took effect */
	rn_signals_default();
	if (null >= 0)
		dup2(null, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	child_env(a, j);
	execl("/bin/sh", "sh", "-c", j->command, (char *)NULL);
	dprintf(STDERR_FILENO, "prdshm-agent: exec /bin/sh: %s\n", strerror(errno));
	_exit(127);
}

static int spawn(struct agent *a, struct job *j, rn_lines *out, rn_lines *err)
{
	int po[2], pe[2];
	pid_t parent = getpid();

	if (pipe2(po, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(pe, O_CLOEXEC) != 0) {
		close(po[0]);
		close(po[1]);
		return -1;
	}
	fflush(NULL);
	j->pid = fork();
	if (j->pid == 0)
		child_exec(a, j, parent, po[1], pe[1]);
	close(po[1]);
	close(pe[1]);
	if (j->pid < 0) {
		close(po[0]);
		close(pe[0]);
		return -1;
	}
	setpgid(j->pid, j->pid); /* also here: whichever runs first wins */
	out->fd = po[0];
	err->fd = pe[0];
	return 0;
}

static void on_line(struct job *j, FILE *to, const char *line)
{
	fprintf(to, "[%s] %s\n", j->c.id, line);
	agent_log(j->a, j->c.id, line);
}

static void on_out_line(void *ctx, const char *line)
{
	on_line(ctx, stdout, line);
}

static void on_err_line(void *ctx, const char *line)
{
	struct job *j = ctx;

	on_line(j, stderr, line);
	if (line[0])
		snprintf(j->last_err, sizeof(j->last_err), "%s", line);
}

/* SIGTERM to the command's group once asked to stop; SIGKILL after the
 * grace period. */
static void maybe_stop(struct job *j)
{
	if (j->reaped)
		return;
	if (rn_stop_signal && !j->stopped) {
		j->stopped = 1;
		j->kill_at_ns = rn_mono_ns() + (uint64_t)TERM_GRACE_MS * 1000000u;
		kill(-j->pid, SIGTERM);
	} else if (j->stopped && rn_mono_ns() >= j->kill_at_ns) {
		kill(-j->pid, SIGKILL);
	}
}

static void try_reap(struct job *j, uint64_t *drain_until)
{
	if (j->reaped || waitpid(j->pid, &j->wstatus, WNOHANG) != j->pid)
		return;
	j->reaped = 1;
	*drain_until = rn_mono_ns() + (uint64_t)DRAIN_MS * 1000000u;
}

/* Forward the command's output until it exits and its pipes are drained. */
static void pump(struct agent *a, struct job *j, rn_lines *out, rn_lines *err)
{
	uint64_t drain_until = 0;

	while (!j->reaped || out->fd >= 0 || err->fd >= 0) {
		struct pollfd p[3] = {
			{ .fd = out->fd, .events = POLLIN },
			{ .fd = err->fd, .events = POLLIN },
			{ .fd = rn_wake_fd(), .events = POLLIN },
		};
		int64_t ms = until_heartbeat_ms(a);

		if (j->reaped && rn_mono_ns() >= drain_until)
			break;
		if (poll(p, 3, (int)(j->reaped && ms > 100 ? 100 : ms)) > 0) {
			if (p[0].revents)
				rn_lines_read(out, on_out_line, j);
			if (p[1].revents)
				rn_lines_read(err, on_err_line, j);
			if (p[2].revents)
				rn_wake_drain();
		}
		try_reap(j, &drain_until);
		maybe_stop(j);
		heartbeat(a, 0);
	}
	if (out->fd >= 0)
		close(out->fd);
	if (err->fd >= 0)
		close(err->fd);
	if (!j->reaped && waitpid(j->pid, &j->wstatus, 0) == j->pid)
		j->reaped = 1;
}

/* The exit status to record: the code, or 128 + signal like a shell. */
static int exit_status(const struct job *j)
{
	if (WIFEXITED(j->wstatus))
		return WEXITSTATUS(j->wstatus);
	if (WIFSIGNALED(j->wstatus))
		return 128 + WTERMSIG(j->wstatus);
	return STATUS_NOT_RUN;
}

static void describe_failure(struct job *j, int status)
{
	if (j->last_err[0])
		snprintf(j->message, sizeof(j->message), "%s", j->last_err);
	else if (WIFSIGNALED(j->wstatus))
		snprintf(j->message, sizeof(j->message), "killed by signal %d",
			 WTERMSIG(j->wstatus));
	else
		snprintf(j->message, sizeof(j->message), "exit status %d", status);
}

static int run_command(struct agent *a, struct job *j)
{
	rn_lines out = { .fd = -1 }, err = { .fd = -1 };

	if (j->command == NULL)
		return 0; /* a milestone: nothing to run */
	if (spawn(a, j, &out, &err) != 0) {
		snprintf(j->message, sizeof(j->message), "cannot start /bin/sh: %s",
			 strerror(errno));
		return STATUS_NOT_RUN;
	}
	pump(a, j, &out, &err);
	if (!j->reaped) {
		snprintf(j->message, sizeof(j->message), "lost the command's status");
		return STATUS_NOT_RUN;
	}
	return exit_status(j);
}

/* ------------------------------------------------------------------------ */
/* One phase                                                                */

enum outcome { DONE_OK, DONE_FAILED, DONE_STOPPED };

static void phase_msg(struct agent *a, const struct job *j, const char *what, uint64_t t0)
{
	char dur[32];

	tool_format_duration(rn_mono_ns() - t0, dur, sizeof(dur));
	tool_info("%s: %s %s in %s%s%s", a->id, j->c.id, what, dur, j->message[0] ? ": " : "",
		  j->message);
}

/* Record the result in the segment and release the outputs. */
static enum outcome record(struct agent *a, struct job *j, int status, uint64_t t0)
{
	enum outcome o = DONE_OK;
	int r;

	if (j->stopped || (rn_stop_signal && status == STATUS_NOT_RUN)) {
		r = prdshm_phase_set(a->seg, a->s, j->c.id, PRDSHM_PHASE_CANCELLED);
		o = DONE_STOPPED;
		phase_msg(a, j, "cancelled", t0);
	} else if (status == 0) {
		r = prdshm_phase_complete(a->s, j->c.index);
		phase_msg(a, j, "completed", t0);
	} else {
		if (j->message[0] == '\0')
			describe_failure(j, status);
		r = prdshm_phase_fail(a->s, j->c.index, status, j->message);
		o = DONE_FAILED;
		phase_msg(a, j, "failed", t0);
	}
	if (r) {
		/* Cancelled or skipped by hand meanwhile: not ours any more. */
		tool_fail(r, "%s: record phase %s", a->id, j->c.id);
		if (o == DONE_OK)
			o = DONE_FAILED;
	}
	prdshm_unlock_all(a->s, NULL);
	return o;
}

static enum outcome run_phase(struct agent *a, const prdshm_claim *c)
{
	struct job j;
	uint64_t t0 = rn_mono_ns();
	int status = STATUS_NOT_RUN, r;
	enum outcome o;

	memset(&j, 0, sizeof(j));
	j.c = *c;
	j.a = a;
	tool_info("%s: %s started (attempt %u)", a->id, c->id, (unsigned)c->attempt);
	agent_log(a, c->id, "started");
	r = job_load(a, &j);
	if (r)
		snprintf(j.message, sizeof(j.message), "cannot read the phase: %s",
			 prdshm_strerror(r));
	else if (lock_outputs(a, &j) == 0 && !rn_stop_signal)
		status = run_command(a, &j);
	o = record(a, &j, status, t0);
	job_free(&j);
	return o;
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                 */

/* Claim and run until nothing is left.  @return the exit code. */
static int agent_loop(struct agent *a)
{
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	int r;

	while (!rn_stop_signal) {
		int64_t ms = until_heartbeat_ms(a);

		heartbeat(a, 0);
		/* Bounded: a process stopped holding the phase mutex must not
		 * keep the agent from its heartbeat, nor from a stop signal
		 * (a mutex wait is not interrupted by one). */
		r = prdshm_phase_claim_timed(a->s, ms > 0 ? ms : 1, &c);
		if (r == PRDSHM_ETIMEDOUT)
			continue;
		if (r == PRDSHM_EDONE)
			break;
		if (r == PRDSHM_EWAIT) {
			prdshm_phase_wait(a->s, until_heartbeat_ms(a));
			continue;
		}
		if (r)
			return tool_fail(r, "%s: claim", a->id);
		a->ran++;
		switch (run_phase(a, &c)) {
		case DONE_FAILED:
			a->failed++;
			break;
		case DONE_STOPPED:
		case DONE_OK:
			break;
		}
	}
	if (rn_stop_signal)
		return 128 + rn_stop_signal;
	tool_info("%s: nothing left to claim: %u phase%s run, %u failed", a->id, a->ran,
		  a->ran == 1 ? "" : "s", a->failed);
	return a->failed ? 1 : 0;
}

static int agent_open(struct agent *a, const prdshm_config *cfg, const char *id)
{
	int r = tool_open_segment(cfg, &a->seg);

	if (r)
		return r;
	r = tool_seg_info(a->seg, cfg->shm_name, &a->info);
	if (r)
		return r;
	r = prdshm_session_open(a->seg, id, 0, &a->s);
	if (r)
		return tool_fail(r, "register agent in %s", cfg->shm_name);
	a->id = id;
	r = prdshm_session_env(a->s, a->parent_env, sizeof(a->parent_env));
	if (r)
		return tool_fail(r, "register agent in %s", cfg->shm_name);
	a->hb_every_ns = (uint64_t)(a->info.monitoring_update_interval > 0
					    ? a->info.monitoring_update_interval
					    : 1) *
			 1000000000u;
	heartbeat(a, 1);
	return 0;
}

int main(int argc, char **argv)
{
	struct agent_opts o;
	prdshm_config cfg;
	struct agent a;
	char defid[32];
	const char *id;
	int rc;

	tool_init("prdshm-agent");
	prdshm_config_init(&cfg);
	memset(&a, 0, sizeof(a));
	rc = rn_start(agent_parse(argc, argv, &o, 0), &o.tc, usage, &cfg);
	if (rc != TOOL_CONTINUE)
		goto out;
	id = o.id;
	if (id == NULL) {
		snprintf(defid, sizeof(defid), "pid-%ld", (long)getpid());
		id = defid;
	}
	/* Lines from several agents and commands interleave: keep them whole. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = agent_open(&a, &cfg, id);
	if (rc == 0)
		rc = agent_loop(&a);
out:
	prdshm_session_close(a.s);
	prdshm_seg_close(a.seg);
	prdshm_config_free(&cfg);
	return rc;
}
