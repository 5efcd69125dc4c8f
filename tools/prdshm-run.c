/*
 * prdshm-run: the whole job in one command.
 *
 * Create the segment from the configuration (or attach to an existing
 * one), start N prdshm-agent processes, follow the run by diffing
 * snapshots taken every TICK_MS, replace an agent that dies, and print a
 * summary.  The runner itself holds no session: it only watches, reaps and
 * signals, so killing it leaves the agents to finish the plan on their own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "runner.h"

/* How often the state is read to find events. */
#define TICK_MS 150
/* How long agents have to stop after SIGTERM (they give their commands
 * 5 s) before they are killed. */
#define CANCEL_GRACE_MS 10000
#define BAR_WIDTH 20

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
	uint64_t t0;
	int cancelling;
	uint64_t kill_at;
	/* The live view (on a terminal). */
	int tty, drawn, dirty;
	uint64_t next_draw;
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
		"by SIGHUP/SIGINT/SIGTERM (the segment is kept), 4 segment corrupt,\n"
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
/* Events and the live view                                                 */

static void view_clear(struct run *r)
{
	if (r->drawn > 0)
		printf("\033[%dA\033[J", r->drawn);
	r->drawn = 0;
}

/*
 * An event.  Plain output prints each one with the time since the start;
 * the live view shows progress itself and prints only the @p important
 * ones (failures, dead agents) above it, as they happen.
 */
static void event(struct run *r, int important, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void event(struct run *r, int important, const char *fmt, ...)
{
	double t = (double)(rn_mono_ns() - r->t0) / 1e9;
	va_list ap;

	if (tool_verbosity < 0 || (r->tty && !important))
		return;
	if (r->tty) {
		view_clear(r);
		r->dirty = 1;
	}
	printf("[%7.2fs] ", t);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static uint64_t span(uint64_t from, uint64_t to)
{
	return from && to > from ? to - from : 0;
}

static void dur(uint64_t ns, char *buf, size_t size)
{
	tool_format_duration(ns, buf, size);
}

static size_t count_status(const prdshm_snapshot *s, prdshm_phase_status st)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nphases; i++)
		n += s->phases[i].status == st;
	return n;
}

static int is_open(prdshm_phase_status st)
{
	return st == PRDSHM_PHASE_NOT_STARTED || st == PRDSHM_PHASE_QUEUED ||
	       st == PRDSHM_PHASE_IN_PROGRESS;
}

static size_t count_open(const prdshm_snapshot *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nphases; i++)
		n += is_open(s->phases[i].status);
	return n;
}

/* The terminal's width, so that no line of the view wraps: the view is
 * erased by moving up one row per line printed. */
static size_t term_cols(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		return ws.ws_col;
	return 80;
}

/* One line of the view, cut to the terminal's width. */
static void view_line(size_t cols, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void view_line(size_t cols, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (strlen(line) > cols - 1)
		line[cols - 1] = '\0';
	printf("%s\n", line);
}

static void draw_bar(const prdshm_snapshot *s, uint64_t elapsed, size_t cols)
{
	size_t done = count_status(s, PRDSHM_PHASE_COMPLETED) + count_status(s, PRDSHM_PHASE_SKIPPED);
	size_t fill = s->nphases ? done * BAR_WIDTH / s->nphases : BAR_WIDTH;
	char bar[BAR_WIDTH + 1], el[32];

	for (size_t i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[BAR_WIDTH] = '\0';
	dur(elapsed, el, sizeof(el));
	view_line(cols, "[%s] %zu/%zu  %s  wave %u of %zu  %zu running  %zu failed", bar,
		  done, s->nphases, el, (unsigned)s->current_wave, s->nwaves,
		  count_status(s, PRDSHM_PHASE_IN_PROGRESS), count_status(s, PRDSHM_PHASE_FAILED));
}

static void draw(struct run *r, const prdshm_snapshot *s)
{
	size_t cols = term_cols();
	int lines = 1;

	view_clear(r);
	draw_bar(s, rn_mono_ns() - r->t0, cols);
	for (size_t i = 0; i < s->nphases; i++) {
		const prdshm_phase_info *p = &s->phases[i];
		char el[32];

		if (p->status != PRDSHM_PHASE_IN_PROGRESS)
			continue;
		dur(span(p->start_ns, s->taken_ns), el, sizeof(el));
		view_line(cols, "  running  %-24.24s %-16.16s %s", p->id, p->agent_id, el);
		lines++;
	}
	fflush(stdout);
	r->drawn = lines;
	r->dirty = 0;
	r->next_draw = rn_mono_ns() + (uint64_t)r->info.monitoring_update_interval * 1000000000u;
}

/* ------------------------------------------------------------------------ */
/* Diffing snapshots                                                        */

static void phase_started(struct run *r, const prdshm_phase_info *n)
{
	if (n->attempts > 1)
		event(r, 0, "%s started on %s (attempt %u)", n->id, n->agent_id,
		      (unsigned)n->attempts);
	else
		event(r, 0, "%s started on %s", n->id, n->agent_id);
}

static void phase_changed(struct run *r, const prdshm_phase_info *o, const prdshm_phase_info *n)
{
	char d[32];

	dur(span(n->start_ns, n->end_ns), d, sizeof(d));
	switch (n->status) {
	case PRDSHM_PHASE_COMPLETED:
		event(r, 0, "%s completed on %s in %s", n->id, n->agent_id, d);
		break;
	case PRDSHM_PHASE_FAILED:
		event(r, 1, "%s FAILED on %s after %s (exit %d): %s", n->id, n->agent_id, d,
		      n->exit_status, n->message);
		break;
	case PRDSHM_PHASE_QUEUED:
		if (o->status == PRDSHM_PHASE_IN_PROGRESS)
			event(r, 1, "%s failed on %s after %s (exit %d): %s; queued again", n->id,
			      n->agent_id, d, n->exit_status, n->message);
		else if (o->status != PRDSHM_PHASE_NOT_STARTED)
			event(r, 0, "%s queued again (was %s)", n->id,
			      prdshm_phase_status_name(o->status));
		break;
	case PRDSHM_PHASE_CANCELLED:
		event(r, 1, "%s cancelled%s%s", n->id, n->message[0] ? ": " : "", n->message);
		break;
	case PRDSHM_PHASE_BLOCKED:
		event(r, 0, "%s blocked: a dependency did not complete", n->id);
		break;
	case PRDSHM_PHASE_SKIPPED:
		event(r, 0, "%s skipped", n->id);
		break;
	default:
		break;
	}
}

/* A phase may go through several states between two snapshots: report
 * the start of each new attempt, then where it is now. */
static void diff_phase(struct run *r, const prdshm_phase_info *o, const prdshm_phase_info *n)
{
	int new_attempt = n->attempts > o->attempts;

	if (new_attempt && o->status == PRDSHM_PHASE_IN_PROGRESS)
		event(r, 1, "%s attempt %u on %s failed; queued again", o->id,
		      (unsigned)o->attempts, o->agent_id);
	if (new_attempt)
		phase_started(r, n);
	if (n->status != o->status || new_attempt)
		phase_changed(r, o, n);
}

static void waves_finished(struct run *r, const prdshm_snapshot *o, const prdshm_snapshot *n)
{
	for (size_t w = 0; w < n->nwaves && w < o->nwaves; w++) {
		const prdshm_wave_info *a = &o->waves[w], *b = &n->waves[w];
		char d[32];

		if (a->end_ns != 0 || b->end_ns == 0)
			continue;
		dur(span(b->start_ns, b->end_ns), d, sizeof(d));
		if (b->start_ns == 0)
			event(r, 0, "wave %u closed: none of its %u phases could run", (unsigned)w,
			      (unsigned)b->nphases);
		else if (b->nfailed)
			event(r, 0, "wave %u finished in %s: %u of %u phases did not complete",
			      (unsigned)w, d, (unsigned)b->nfailed, (unsigned)b->nphases);
		else
			event(r, 0, "wave %u finished in %s", (unsigned)w, d);
	}
}

static void wave_opened(struct run *r, const prdshm_snapshot *s)
{
	unsigned n;

	if (s->current_wave >= s->nwaves || count_open(s) == 0)
		return;
	n = (unsigned)s->waves[s->current_wave].nphases;
	event(r, 0, "wave %u opened: %u phase%s", (unsigned)s->current_wave, n, n == 1 ? "" : "s");
}

/* Events in the order they happened as far as one can tell: phases that
 * ended, then the waves that this closed and opened, then new starts. */
static void diff(struct run *r, const prdshm_snapshot *o, const prdshm_snapshot *n)
{
	for (size_t i = 0; i < n->nphases && i < o->nphases; i++) {
		if (n->phases[i].status != PRDSHM_PHASE_IN_PROGRESS)
			diff_phase(r, &o->phases[i], &n->phases[i]);
	}
	waves_finished(r, o, n);
	if (n->current_wave != o->current_wave)
		wave_opened(r, n);
	for (size_t i = 0; i < n->nphases && i < o->nphases; i++) {
		if (n->phases[i].status == PRDSHM_PHASE_IN_PROGRESS)
			diff_phase(r, &o->phases[i], &n->phases[i]);
	}
}

/* Take a snapshot, report what changed since the last one, keep it. */
static int observe(struct run *r)
{
	prdshm_snapshot *s = NULL;
	int err = prdshm_snapshot_take(r->seg, 0, &s);

	if (err)
		return tool_fail(err, "snapshot of %s", r->info.shm_name);
	if (r->prev)
		diff(r, r->prev, s);
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
	event(r, 0, "%s started (pid %ld)", p->id, (long)p->pid);
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
	event(ctx, 1, "reaped: %s", line);
}

static void reap_dead(struct run *r)
{
	int err = prdshm_reap(r->seg, 0, on_reap, r, NULL);

	if (err)
		tool_fail(err, "reap %s", r->info.shm_name);
}

/* An agent exited: say how; @return 1 if it died (killed by a signal). */
static int agent_exited(struct run *r, struct proc *p, int st)
{
	p->running = 0;
	if (WIFSIGNALED(st)) {
		event(r, 1, "%s (pid %ld) killed by signal %d", p->id, (long)p->pid, WTERMSIG(st));
		return 1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) > 1 && !r->cancelling)
		event(r, 1, "%s (pid %ld) stopped with exit status %d", p->id, (long)p->pid,
		      WEXITSTATUS(st));
	else
		event(r, 0, "%s finished (exit %d)", p->id, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
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
	for (; died > 0 && !r->cancelling && count_open(r->prev) > 0; died--) {
		if (r->replaced >= r->max_replace) {
			event(r, 1, "not replacing the dead agent: %u replaced already",
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
	event(r, 1, "%s: stopping the agents",
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
		if (r->tty && (r->dirty || rn_mono_ns() >= r->next_draw))
			draw(r, r->prev);
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
/* Summary                                                                  */

static void fmt_minutes(double m, char *buf, size_t size)
{
	if (m < 1)
		snprintf(buf, size, "%.0fs", m * 60);
	else if (m < 60)
		snprintf(buf, size, "%.0fm", m);
	else
		snprintf(buf, size, "%dh%02dm", (int)(m / 60), (int)m % 60);
}

static void print_waves(const prdshm_snapshot *s)
{
	printf("\n%4s %-8s %6s %9s %6s %s\n", "WAVE", "STATUS", "PHASES", "COMPLETED", "FAILED",
	       "DURATION");
	for (size_t w = 0; w < s->nwaves; w++) {
		const prdshm_wave_info *v = &s->waves[w];
		char d[32] = "-";

		if (v->start_ns && v->end_ns)
			dur(span(v->start_ns, v->end_ns), d, sizeof(d));
		printf("%4u %-8s %6u %9u %6u %s\n", (unsigned)w, v->status ? v->status : "?",
		       (unsigned)v->nphases, (unsigned)v->ncompleted, (unsigned)v->nfailed, d);
	}
}

static void print_phases(const prdshm_snapshot *s)
{
	printf("\n%-20s %4s %-11s %-12s %5s %9s %9s\n", "PHASE", "WAVE", "STATUS", "AGENT",
	       "TRIES", "DURATION", "ESTIMATE");
	for (size_t i = 0; i < s->nphases; i++) {
		const prdshm_phase_info *p = &s->phases[i];
		char d[32] = "-", e[32] = "-";

		if (p->start_ns && p->end_ns)
			dur(span(p->start_ns, p->end_ns), d, sizeof(d));
		if (p->estimated_minutes > 0)
			fmt_minutes(p->estimated_minutes, e, sizeof(e));
		printf("%-20s %4u %-11s %-12s %5u %9s %9s\n", p->id, (unsigned)p->wave,
		       prdshm_phase_status_name(p->status), p->agent_id[0] ? p->agent_id : "-",
		       (unsigned)p->attempts, d, e);
	}
}

static void print_path(const char *label, const prdshm_graph *g, const prdshm_phase_def *defs,
		       const char *length)
{
	const size_t *idx;
	size_t n = prdshm_graph_critical_path(g, &idx);

	printf("%s", label);
	for (size_t k = 0; k < n; k++)
		printf("%s%s", k ? " > " : "", defs[idx[k]].id);
	printf("%s(%s)\n", n ? " " : "", length);
}

/* The critical path by estimate, then by the phases' actual durations,
 * both with the graph of the plan stored in the segment. */
static void print_critical(prdshm_snapshot *s, uint64_t wall_ns)
{
	prdshm_phase_def *defs = calloc(s->nphases ? s->nphases : 1, sizeof(*defs));
	prdshm_graph *g = NULL;
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	char len[32], wall[32];

	if (defs == NULL)
		return;
	for (size_t i = 0; i < s->nphases; i++) {
		prdshm_phase_info *p = &s->phases[i];
		defs[i] = (prdshm_phase_def){ .id = p->id, .name = p->name, .deps = p->deps,
					      .ndeps = p->ndeps, .estimated_minutes =
								 p->estimated_minutes };
	}
	if (prdshm_graph_build(defs, s->nphases, &g, &diag) == 0) {
		fmt_minutes(prdshm_graph_critical_length(g), len, sizeof(len));
		print_path("\nCritical path, estimated: ", g, defs, len);
	}
	prdshm_graph_free(g);
	g = NULL;
	for (size_t i = 0; i < s->nphases; i++)
		defs[i].estimated_minutes =
			(double)span(s->phases[i].start_ns, s->phases[i].end_ns) / 60e9;
	if (prdshm_graph_build(defs, s->nphases, &g, &diag) == 0) {
		dur((uint64_t)(prdshm_graph_critical_length(g) * 60e9), len, sizeof(len));
		dur(wall_ns, wall, sizeof(wall));
		print_path("Critical path, actual:    ", g, defs, len);
		printf("(the run took %s: the waits for waves and locks make the difference)\n",
		       wall);
	}
	prdshm_graph_free(g);
	free(defs);
}

static void print_failures(const prdshm_snapshot *s)
{
	int header = 0;

	for (size_t i = 0; i < s->nphases; i++) {
		const prdshm_phase_info *p = &s->phases[i];

		if (p->status == PRDSHM_PHASE_COMPLETED || p->status == PRDSHM_PHASE_SKIPPED)
			continue;
		if (!header++)
			printf("\nNot completed:\n");
		printf("  %s: %s", p->id, prdshm_phase_status_name(p->status));
		if (p->status == PRDSHM_PHASE_FAILED)
			printf(" on %s, exit %d", p->agent_id, p->exit_status);
		if (p->message[0])
			printf(": %s", p->message);
		putchar('\n');
	}
}

/* @return the exit code: 0 when every phase completed (or was skipped). */
static int summary(struct run *r)
{
	prdshm_snapshot *s = r->prev;
	size_t ok = count_status(s, PRDSHM_PHASE_COMPLETED) + count_status(s, PRDSHM_PHASE_SKIPPED);
	uint64_t wall = rn_mono_ns() - r->t0;
	char w[32];

	view_clear(r);
	dur(wall, w, sizeof(w));
	printf("\n%s: %zu of %zu phases completed in %s with %u agents (%u replaced)\n",
	       r->info.shm_name, ok, s->nphases, w, r->next_no, r->replaced);
	if (tool_verbosity >= 0) {
		print_waves(s);
		print_phases(s);
		print_critical(s, wall);
	}
	print_failures(s);
	fflush(stdout);
	return ok == s->nphases ? 0 : 1;
}

/* ------------------------------------------------------------------------ */
/* Setting up                                                               */

static int create_segment(struct run *r)
{
	int err = prdshm_seg_create(&r->cfg, &r->seg);

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

static int open_segment(struct run *r)
{
	int err = r->opt.attach ? tool_open_segment(&r->cfg, &r->seg) : create_segment(r);

	if (err)
		return err;
	r->info.struct_size = sizeof(r->info);
	err = prdshm_seg_info_get(r->seg, &r->info);
	if (err)
		return tool_fail(err, "read segment %s", r->cfg.shm_name);
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
	if (rn_signals_install() != 0) {
		tool_err("cannot install signal handlers: %s", strerror(errno));
		return TOOL_EXIT_INTERNAL;
	}
	r->tty = !r->opt.plain && tool_verbosity == 0 && isatty(STDOUT_FILENO) &&
		 !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0);
	r->t0 = rn_mono_ns();
	return 0;
}

static void header(struct run *r)
{
	const prdshm_snapshot *s = r->prev;
	size_t done = count_status(s, PRDSHM_PHASE_COMPLETED) + count_status(s, PRDSHM_PHASE_SKIPPED);

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
	wave_opened(r, s);
}

static int finish(struct run *r)
{
	int rc;

	rc = summary(r);
	if (r->cancelling) {
		printf("segment %s kept for inspection: prdshm-inspect --name %s\n",
		       r->info.shm_name, r->info.shm_name);
		return rn_stop_signal ? 128 + rn_stop_signal : TOOL_EXIT_INTERNAL;
	}
	if (r->opt.keep)
		printf("segment %s kept (--keep)\n", r->info.shm_name);
	else if (prdshm_seg_unlink(r->info.shm_name) != 0)
		tool_fail(PRDSHM_ESYS, "unlink %s", r->info.shm_name);
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
	rc = tool_parse_done(run_parse(argc, argv, &r.opt, 0), &r.opt.tc, usage);
	if (rc == TOOL_CONTINUE) {
		rc = tool_load_config(&r.opt.tc, &r.cfg);
		if (rc == 0)
			rc = run(&r);
	}
	prdshm_snapshot_free(r.prev);
	prdshm_seg_close(r.seg);
	prdshm_config_free(&r.cfg);
	free(r.procs);
	if (r.out_fd >= 0)
		close(r.out_fd);
	return rc;
}
