/*
 * prdshm-run: the whole job in one command.
 *
 * Create the segment from the configuration (or attach to an existing
 * one), start N prdshm-agent processes, follow the run by diffing
 * snapshots taken every TICK_MS, replace an agent that dies, and print a
 * summary.  The runner itself holds no session: it only watches, reaps and
 * signals, so killing it leaves the agents to finish the plan on their own.
 * What it prints lives beside it: the event lines and the live view in
 * run_view.c, the events found by diffing in run_events.c, the summary in
 * run_summary.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "run_events.h"
#include "run_summary.h"
#include "run_view.h"
#include "runner.h"

/* How often the state is read to find events. */
#define TICK_MS 150
/* How long agents have to stop after SIGTERM (they give their commands
 * 5 s) before they are killed. */
#define CANCEL_GRACE_MS 10000

struct proc {
	pid_t pid;
	char id[32];
	int running;
};

struct run {
	struct run_opts opt;
	/* State. */
	prdshm_config cfg;
	prdshm_seg *seg;
	prdshm_seg_info info;
	char agent_bin[PATH_MAX];
	int out_fd; /* the agents' stdout and stderr */
	struct proc *procs;
	size_t nprocs, cap;
	unsigned next_no, replaced, max_replace;
	prdshm_snapshot *prev;
	int cancelling;
	uint64_t kill_at;
	run_view view; /* event lines, the live view on a terminal */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: prdshm-run [OPTIONS]\n"
		"Run the plan of the configuration with N agents and show its progress.\n"
		"\n"
		"  -c, --config FILE  configuration (default: ./prdpar.yaml if present)\n"
		"      --name NAME    segment name (default: shm_name of the configuration)\n"
		"  -j, --jobs N       agents to start (default: max_parallel_agents)\n"
		"      --attach       work on an existing segment instead of creating one\n"
		"                     (refused, 2, for one without a plan: prdshm-lock's)\n"
		"      --keep         keep the segment at the end (for prdshm-inspect)\n"
		"      --plain        one line per event even on a terminal\n"
		"      --log FILE     append the agents' output (commands included) to FILE\n"
		"      --agent-cmd CMD  start CMD (by /bin/sh) as each agent instead of\n"
		"                     prdshm-agent, with prdshm-agent's arguments appended:\n"
		"                     --name NAME --id ID [--config FILE]\n"
		"  -q, --quiet        only the summary\n"
		"  -v, --verbose      show the agents' output (implies --plain)\n"
		"  -h, --help         show this help and exit\n"
		"  -V, --version      show the version and exit\n"
		"\n"
		"Exit status: 0 every phase completed, 1 some did not, 129/130/143 stopped\n"
		"by SIGHUP/SIGINT/SIGTERM (the segment is kept), 2 --attach to a segment\n"
		"without a plan, 4 segment corrupt,\n"
		"64 usage, 65 configuration, 66 no such segment (--attach), 70 internal\n"
		"error, 73 the segment exists (a crashed run? see prdshm-cleanup), 74 no\n"
		"room in /dev/shm, 77 permission denied or segment not trusted.\n"
		"See prdshm-run(1).\n");
}

static int parse_jobs(const tool_common *tc, const char *s, void *field)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 4096)
		return tool_parse_error(tc, "-j: expected a number of agents (1..4096), not '%s'",
					s);
	*(int *)field = (int)v;
	return 0;
}

static const tool_optdef run_optdefs[] = {
	TOOL_OPT_FN("jobs", 'j', struct run_opts, jobs, parse_jobs),
	TOOL_OPT_SET("keep", 0, struct run_opts, keep, 1),
	TOOL_OPT_SET("attach", 0, struct run_opts, attach, 1),
	TOOL_OPT_SET("plain", 0, struct run_opts, plain, 1),
	TOOL_OPT_STR("log", 0, struct run_opts, log_path),
	TOOL_OPT_STR("agent-cmd", 0, struct run_opts, agent_cmd),
	{ 0 },
};

int run_parse(int argc, char **argv, struct run_opts *o, int silent)
{
	memset(o, 0, sizeof(*o));
	o->tc.silent = silent;
	return tool_getopt(&o->tc, argc, argv, TOOL_C_IS_CONFIG | TOOL_NO_OPERANDS,
			   run_optdefs, o);
}

/* ------------------------------------------------------------------------ */
/* Following the run                                                        */

/* Take a snapshot, report what changed since the last one, keep it. */
static int observe(struct run *r)
{
	prdshm_snapshot *s = NULL;
	int err = prdshm_snapshot_take(r->seg, 0, &s);

	if (err)
		return tool_fail(err, "snapshot of %s", r->info.shm_name);
	if (r->prev)
		run_diff(&r->view, r->prev, s);
	prdshm_snapshot_free(r->prev);
	r->prev = s;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Agents                                                                   */

/* The prdshm-agent next to this binary: tools are installed together. */
static int find_agent(struct run *r)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0) {
		tool_err("cannot find my own binary: /proc/self/exe: %s", strerror(errno));
		return TOOL_EXIT_INTERNAL;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if (strlen(self) + sizeof("/prdshm-agent") > sizeof(r->agent_bin)) {
		tool_err("path too long: %s", self);
		return TOOL_EXIT_INTERNAL;
	}
	memcpy(r->agent_bin, self, strlen(self));
	memcpy(r->agent_bin + strlen(self), "/prdshm-agent", sizeof("/prdshm-agent"));
	if (access(r->agent_bin, X_OK) != 0) {
		tool_err("cannot run %s: %s", r->agent_bin, strerror(errno));
		return TOOL_EXIT_INTERNAL;
	}
	return 0;
}

static void exec_agent(const struct run *r, const char *id)
{
	const char *argv[12];
	int n = 0;

	rn_signals_default();
	if (r->out_fd >= 0) {
		dup2(r->out_fd, STDOUT_FILENO);
		dup2(r->out_fd, STDERR_FILENO);
	}
	if (r->opt.agent_cmd) {
		/* The arguments below go after the user's command line,
		 * quoted as they are; exec, so that the agent is our child
		 * and gets our signals, not a shell in between. */
		argv[n++] = "sh";
		argv[n++] = "-c";
		argv[n++] = "eval exec \"$PRDSHM_AGENT_CMD\" '\"$@\"'";
		setenv("PRDSHM_AGENT_CMD", r->opt.agent_cmd, 1);
	}
	argv[n++] = "prdshm-agent";
	argv[n++] = "--name";
	argv[n++] = r->info.shm_name;
	argv[n++] = "--id";
	argv[n++] = id;
	if (r->opt.tc.config_path) {
		argv[n++] = "--config";
		argv[n++] = r->opt.tc.config_path;
	}
	argv[n] = NULL;
	execv(r->opt.agent_cmd ? "/bin/sh" : r->agent_bin, (char *const *)(uintptr_t)argv);
	dprintf(STDERR_FILENO, "prdshm-run: exec %s: %s\n",
		r->opt.agent_cmd ? "/bin/sh" : r->agent_bin, strerror(errno));
	_exit(TOOL_EXIT_INTERNAL);
}

static int start_agent(struct run *r)
{
	struct proc *p;

	if (r->nprocs == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 8;
		struct proc *v = realloc(r->procs, ncap * sizeof(*v));

		if (v == NULL)
			return -1;
		r->procs = v;
		r->cap = ncap;
	}
	p = &r->procs[r->nprocs];
	snprintf(p->id, sizeof(p->id), "agent-%u", ++r->next_no);
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0)
		exec_agent(r, p->id);
	p->running = 1;
	r->nprocs++;
	run_event(&r->view, 0, "%s started (pid %ld)", p->id, (long)p->pid);
	return 0;
}

static size_t running_agents(const struct run *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nprocs; i++)
		n += r->procs[i].running;
	return n;
}

static void signal_agents(struct run *r, int sig)
{
	for (size_t i = 0; i < r->nprocs; i++) {
		if (r->procs[i].running)
			kill(r->procs[i].pid, sig);
	}
}

static void on_reap(void *ctx, const char *line)
{
	run_event(ctx, 1, "reaped: %s", line);
}

static void reap_dead(struct run *r)
{
	int err = prdshm_reap(r->seg, 0, on_reap, &r->view, NULL);

	if (err)
		tool_fail(err, "reap %s", r->info.shm_name);
}

/* An agent exited: say how; @return 1 if it died (killed by a signal). */
static int agent_exited(struct run *r, struct proc *p, int st)
{
	p->running = 0;
	if (WIFSIGNALED(st)) {
		run_event(&r->view, 1, "%s (pid %ld) killed by signal %d", p->id, (long)p->pid, WTERMSIG(st));
		return 1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) > 1 && !r->cancelling)
		run_event(&r->view, 1, "%s (pid %ld) stopped with exit status %d", p->id, (long)p->pid,
		      WEXITSTATUS(st));
	else
		run_event(&r->view, 0, "%s finished (exit %d)", p->id, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}

/* Reap exited agents; release what dead ones held (their phase fails or
 * goes back to the queue, per phase_max_attempts) and replace them while
 * phases remain. */
static void collect_agents(struct run *r)
{
	unsigned died = 0;
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (size_t i = 0; i < r->nprocs; i++) {
			if (r->procs[i].pid == pid && r->procs[i].running)
				died += (unsigned)agent_exited(r, &r->procs[i], st);
		}
	}
	if (died == 0)
		return;
	reap_dead(r);
	observe(r);
	for (; died > 0 && !r->cancelling && tool_count_open(r->prev) > 0; died--) {
		if (r->replaced >= r->max_replace) {
			run_event(&r->view, 1, "not replacing the dead agent: %u replaced already",
			      r->replaced);
			break;
		}
		r->replaced++;
		if (start_agent(r) != 0)
			tool_err("cannot start a replacement agent: %s", strerror(errno));
	}
}

/* ------------------------------------------------------------------------ */
/* The run                                                                  */

static void cancel(struct run *r)
{
	r->cancelling = 1;
	r->kill_at = rn_mono_ns() + (uint64_t)CANCEL_GRACE_MS * 1000000u;
	run_event(&r->view, 1, "%s: stopping the agents",
	      rn_stop_signal == SIGINT	 ? "interrupted"
	      : rn_stop_signal == SIGTERM ? "terminated"
	      : rn_stop_signal == SIGHUP  ? "hung up"
					  : "cannot go on");
	signal_agents(r, SIGTERM);
}

static void run_loop(struct run *r)
{
	while (running_agents(r) > 0) {
		/* Not rn_nap(), which returns at once once stopped: the agents
		 * may take seconds to stop, and SIGCHLD wakes this anyway. */
		rn_await(TICK_MS);
		if (rn_stop_signal && !r->cancelling)
			cancel(r);
		if (r->cancelling && rn_mono_ns() >= r->kill_at) {
			signal_agents(r, SIGKILL);
			r->kill_at = UINT64_MAX;
		}
		observe(r);
		collect_agents(r);
		if (run_view_due(&r->view))
			run_view_draw(&r->view, r->prev);
	}
}

static int start_agents(struct run *r)
{
	for (int i = 0; i < r->opt.jobs; i++) {
		if (start_agent(r) != 0) {
			tool_err("cannot start agent: %s", strerror(errno));
			return TOOL_EXIT_INTERNAL;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Setting up                                                               */

/*
 * The segment exists: if it holds no plan (prdshm-lock made it, it never
 * holds one) and nobody uses it, it is only a lock table left behind: put
 * the run's segment in its place.  @return 0 if replaced, else the error of
 * prdshm_seg_create() (PRDSHM_EEXIST to keep the crashed-run message).
 */
static int replace_planless(struct run *r)
{
	prdshm_snapshot *snap = NULL;
	prdshm_seg *old = NULL;
	char live[512];
	size_t nphases = 1, nlive = 0;

	if (prdshm_seg_open_cfg(&r->cfg, &old) == 0 && prdshm_snapshot_take(old, 0, &snap) == 0) {
		nphases = snap->nphases;
		nlive = tool_live_agents(snap, live, sizeof(live));
	}
	prdshm_snapshot_free(snap);
	prdshm_seg_close(old);
	if (nphases > 0)
		return PRDSHM_EEXIST;
	if (nlive > 0) {
		tool_err("segment %s holds locks only (made by prdshm-lock) and is in use by %s: "
			 "wait for them to finish, or set another shm_name for the run",
			 r->cfg.shm_name, live);
		return TOOL_EXIT_EXISTS;
	}
	/* Removed only if still unused, under the session mutex. */
	if (prdshm_seg_unlink_unused_cfg(&r->cfg) != 0)
		return PRDSHM_EEXIST;
	tool_verbose("replaced segment %s, which held locks only", r->cfg.shm_name);
	return prdshm_seg_create(&r->cfg, &r->seg);
}

static int create_segment(struct run *r)
{
	int err = prdshm_seg_create(&r->cfg, &r->seg);

	if (err == PRDSHM_EEXIST)
		err = replace_planless(r);
	if (err == TOOL_EXIT_EXISTS)
		return err;
	if (err == PRDSHM_EEXIST) {
		tool_err("segment %s already exists: left by a run that crashed or was "
			 "interrupted, or in use",
			 r->cfg.shm_name);
		tool_err("inspect it with 'prdshm-inspect --name %s', continue it with "
			 "'prdshm-run --attach', or remove it with 'prdshm-cleanup --unlink "
			 "--name %s'",
			 r->cfg.shm_name, r->cfg.shm_name);
		return TOOL_EXIT_EXISTS;
	}
	if (err)
		return tool_fail(err, "create segment %s", r->cfg.shm_name);
	return 0;
}

/* Whether the segment holds phases: 0 only when sure it holds none. */
static int has_plan(struct run *r)
{
	prdshm_snapshot *snap = NULL;
	int yes = 1;

	if (prdshm_snapshot_take(r->seg, 0, &snap) == 0)
		yes = snap->nphases > 0;
	prdshm_snapshot_free(snap);
	return yes;
}

static int open_segment(struct run *r)
{
	int err = r->opt.attach ? tool_open_segment(&r->cfg, &r->seg) : create_segment(r);

	if (err)
		return err;
	err = tool_seg_info(r->seg, r->cfg.shm_name, &r->info);
	if (err)
		return err;
	if (r->opt.attach && !has_plan(r)) {
		tool_err("segment %s holds no plan (prdshm-lock made it for its locks): "
			 "run 'prdshm-run' without --attach, which replaces it",
			 r->info.shm_name);
		return TOOL_EXIT_REFUSED;
	}
	if (r->info.needs_recovery) {
		tool_err("segment %s needs recovery: run 'prdshm-cleanup --name %s' first",
			 r->info.shm_name, r->info.shm_name);
		return TOOL_EXIT_CORRUPT;
	}
	if (r->opt.jobs == 0)
		r->opt.jobs = r->info.max_parallel_agents;
	if ((uint32_t)r->opt.jobs > r->info.max_agents)
		return tool_usage_error("-j %d: more than max_agents (%u)", r->opt.jobs,
					(unsigned)r->info.max_agents);
	if (r->info.monitoring_update_interval < 1)
		r->info.monitoring_update_interval = 1;
	return 0;
}

static int open_log(struct run *r)
{
	if (tool_verbosity > 0 && !r->opt.log_path) {
		r->out_fd = -1; /* inherit: the agents write where we write */
		return 0;
	}
	r->out_fd = open(r->opt.log_path ? r->opt.log_path : "/dev/null",
			 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (r->out_fd < 0) {
		tool_err("cannot open %s: %s", r->opt.log_path ? r->opt.log_path : "/dev/null",
			 strerror(errno));
		return TOOL_EXIT_INTERNAL;
	}
	return 0;
}

static int setup(struct run *r)
{
	int rc = r->opt.agent_cmd ? 0 : find_agent(r);

	if (rc == 0)
		rc = open_log(r);
	if (rc == 0)
		rc = open_segment(r);
	if (rc)
		return rc;
	rc = rn_signals_setup();
	if (rc)
		return rc;
	r->view.tty = !r->opt.plain && tool_verbosity == 0 && isatty(STDOUT_FILENO) &&
		 !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0);
	r->view.interval_s = r->info.monitoring_update_interval;
	r->view.t0 = rn_mono_ns();
	return 0;
}

static void header(struct run *r)
{
	const prdshm_snapshot *s = r->prev;
	size_t done = tool_count_done(s);

	if (tool_verbosity < 0)
		return;
	printf("%s %s: %zu phases in %zu waves (%s scheduling), %d agents", r->opt.attach ? "attached to"
										   : "created",
	       r->info.shm_name, s->nphases, s->nwaves,
	       r->info.scheduling == PRDSHM_SCHED_EAGER ? "eager" : "waves", r->opt.jobs);
	if (r->opt.attach)
		printf(", %zu phase%s done already", done, done == 1 ? "" : "s");
	printf("\n");
	fflush(stdout);
	run_wave_opened(&r->view, s);
}

/* @return the exit code: 0 when every phase completed (or was skipped). */
static int summary(struct run *r)
{
	uint64_t wall = rn_mono_ns() - r->view.t0;

	run_view_clear(&r->view);
	return run_summary(r->prev, r->info.shm_name, wall, r->next_no, r->replaced,
			   r->view.waited);
}

static int finish(struct run *r)
{
	int rc;

	rc = summary(r);
	if (r->cancelling) {
		printf("segment %s kept for inspection: prdshm-inspect --name %s\n",
		       r->info.shm_name, r->info.shm_name);
		run_resume_hint(r->prev, r->info.shm_name, r->opt.tc.config_path, 1);
		return rn_stop_signal ? 128 + rn_stop_signal : TOOL_EXIT_INTERNAL;
	}
	if (r->opt.keep)
		printf("segment %s kept (--keep)\n", r->info.shm_name);
	else if (tool_seg_remove(&r->cfg, 1) != 0)
		tool_fail(PRDSHM_ESYS, "unlink %s", r->info.shm_name);
	run_resume_hint(r->prev, r->info.shm_name, r->opt.tc.config_path, r->opt.keep);
	return rc;
}

static int run(struct run *r)
{
	int rc = setup(r);

	if (rc)
		return rc;
	r->max_replace = (unsigned)r->opt.jobs + 3;
	if (r->opt.attach)
		reap_dead(r);
	rc = observe(r);
	if (rc)
		return rc;
	if (r->prev->nphases > r->max_replace)
		r->max_replace = (unsigned)r->prev->nphases;
	header(r);
	if (start_agents(r) != 0)
		cancel(r);
	run_loop(r);
	observe(r);
	return finish(r);
}

int main(int argc, char **argv)
{
	struct run r;
	int rc;

	tool_init("prdshm-run");
	memset(&r, 0, sizeof(r));
	r.out_fd = -1;
	prdshm_config_init(&r.cfg);
	rc = tool_start(run_parse(argc, argv, &r.opt, 0), &r.opt.tc, usage, &r.cfg, NULL);
	if (rc == TOOL_CONTINUE)
		rc = run(&r);
	prdshm_snapshot_free(r.prev);
	prdshm_seg_close(r.seg);
	prdshm_config_free(&r.cfg);
	free(r.procs);
	free(r.view.waited);
	if (r.out_fd >= 0)
		close(r.out_fd);
	return rc;
}
