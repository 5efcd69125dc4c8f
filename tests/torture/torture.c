/*
 * torture.c: the supervisor of the crash torture.
 *
 *   prdshm-torture [--kills N] [--seconds S] [--workers N] [--seed X]
 *                  [--round-kills N] [--no-crash-points] [--all-points] [-v]
 *
 * First the crash-point campaign (crashpoints.c).  Then rounds until N
 * kills or S seconds: each round creates a segment with a plan, starts the
 * workers (worker.c), SIGKILLs random ones at random moments and starts
 * replacements (some of them armed with a random crash point), and after
 * each death probes every resource the dead worker may have held: the
 * library must free it, without any cleanup call, within
 * TT_RELEASE_FAIL_MS.  At the end of a round the workers finish the plan;
 * then no lock may be held, prdshm_check() must return 0, and every phase
 * must be COMPLETED exactly once.  With --all-points the run also fails
 * unless a worker died at each crash point of the lock and phase paths
 * (make torture-long).  The last line is "torture: N passed, N failed";
 * the exit status is 0 only without failures.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "torture.h"

/* ---- The run ------------------------------------------------------------ */

struct opts {
	long kills;        /* stop after this many kills (0: no limit) */
	long seconds;      /* stop after this long (0: no limit) */
	int workers;
	long round_kills;
	uint64_t seed;
	int crash_points;
	int all_points;    /* fail unless a worker died at each worker point */
	const char *inspect;
};

struct stats {
	long kills, signal_kills, point_kills, rounds, probes;
	int64_t max_release_us;
	uint64_t release_sum_us;
	long passed, failed;
	long point_hits[32];
};

struct round {
	const struct opts *o;
	struct stats *st;
	prdshm_config cfg;
	prdshm_seg *seg;
	prdshm_session *probe;
	pid_t pid[TT_MAX_WORKERS];
	uint32_t tok[TT_MAX_WORKERS];
	const char *armed[TT_MAX_WORKERS]; /* crash point of the incarnation */
	int64_t killed_at_us[TT_MAX_WORKERS];
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int failing(void)
{
	return interrupted || __atomic_load_n(&tt_sh->violations, __ATOMIC_ACQUIRE) != 0;
}

/* The crash points a worker's calls pass through: all but recovery's,
 * which the crash-point campaign reaches (workers never call
 * prdshm_recover). */
static const char *worker_points[32];
static size_t nworker_points;

static void pick_worker_points(void)
{
	for (size_t i = 0; i < tt_ncrash_points && nworker_points < 32; i++)
		if (strncmp(tt_crash_points[i], "recover_", 8) != 0)
			worker_points[nworker_points++] = tt_crash_points[i];
}

/* Start incarnation of worker @p w; armed with a random crash point one
 * time in eight (never while draining: the plan must finish). */
static int spawn(struct round *rd, int w)
{
	uint32_t t = __atomic_add_fetch(&tt_sh->ntok, 1, __ATOMIC_SEQ_CST);
	const char *armed = NULL;
	pid_t pid;

	if (t >= TT_MAX_INC) {
		tt_violation("out of worker tokens (%u)", t);
		return -1;
	}
	if (rd->o->crash_points && !tt_sh->draining && tt_rand(8) == 0)
		armed = worker_points[tt_rand((uint32_t)nworker_points)];
	tt_sh->inc[t].pid = 0;
	tt_sh->inc[t].dead = 0;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		tt_violation("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* The parent's handles stay the parent's (see prdshm.h, fork). */
		prdshm_session_abandon(rd->probe);
		tt_worker_main(w, t, rd->cfg.shm_name, armed, rd->o->seed + (uint64_t)t);
	}
	__atomic_store_n(&tt_sh->inc[t].pid, (int32_t)pid, __ATOMIC_RELEASE);
	rd->pid[w] = pid;
	rd->tok[w] = t;
	rd->armed[w] = armed;
	rd->killed_at_us[w] = 0;
	return 0;
}

/* Forget the dead incarnation's stale witness entries: harmless once it is
 * marked dead, and it keeps later proofs of death cheap. */
static void clear_witness(int w, uint32_t t)
{
	for (int r = 0; r < TT_NRES; r++) {
		uint32_t x = t;
		__atomic_compare_exchange_n(&tt_sh->excl[r], &x, 0, 0, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
		x = t;
		__atomic_compare_exchange_n(&tt_sh->shared_w[r][w], &x, 0, 0, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
	}
	for (int i = 0; i < TT_NPHASES; i++) {
		uint32_t x = t;
		__atomic_compare_exchange_n(&tt_sh->pown[i], &x, 0, 0, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
	}
}

static void print_check_problem(void *ctx, int severity, const char *problem)
{
	fprintf(stderr, "torture:   check: %s\n", problem);
}

/* After a failed probe: what prdshm_check() finds wrong, and who is in the
 * way, so that the log says it. */
static void describe_lock(struct round *rd, const char *name)
{
	prdshm_holder h[16] = { PRDSHM_HOLDER_INIT };
	size_t n = 0;

	prdshm_check(rd->seg, 0, print_check_problem, NULL);
	if (prdshm_lock_query(rd->seg, name, 0, h, 16, &n) != 0)
		return;
	for (size_t i = 0; i < n && i < 16; i++)
		fprintf(stderr,
			"torture:   %s: agent %s slot %d pid %d %s %s, %s, since %llu ns\n",
			name, h[i].agent_id, h[i].slot, h[i].pid,
			h[i].waiting ? "waits for" : "holds",
			h[i].mode == PRDSHM_EXCLUSIVE ? "exclusive" : "shared",
			h[i].alive ? "alive" : "dead", (unsigned long long)h[i].since_ns);
}

/* Acquire, EXCLUSIVE, every resource the dead worker may have held: its
 * records must be gone (swept by the library as it sees the dead session)
 * within TT_RELEASE_FAIL_MS of the death, live holders included. */
static void probe(struct round *rd, uint32_t mask, int64_t since_us)
{
	for (int r = 0; r < TT_NRES; r++) {
		int64_t dt;
		int rc;

		if (!(mask & (1u << r)))
			continue;
		rc = prdshm_lock(rd->probe, tt_res_name(r), PRDSHM_EXCLUSIVE, TT_RELEASE_FAIL_MS,
				 "probe");
		dt = tt_now_us() - since_us;
		if (rc != 0) {
			tt_violation("probe: %s not free %lld ms after its holder died: %s (%s)",
				     tt_res_name(r), (long long)dt / 1000, prdshm_err_name(rc),
				     prdshm_last_error());
			describe_lock(rd, tt_res_name(r));
			continue;
		}
		prdshm_unlock(rd->probe, tt_res_name(r));
		rd->st->probes++;
		rd->st->release_sum_us += (uint64_t)dt;
		if (dt > rd->st->max_release_us)
			rd->st->max_release_us = dt;
	}
}

static int point_index(const char *name)
{
	for (size_t i = 0; i < tt_ncrash_points; i++)
		if (name && strcmp(tt_crash_points[i], name) == 0)
			return (int)i;
	return -1;
}

/* Worker @p w's process ended with @p status: mark it dead, probe what it
 * held, start a replacement. */
static void handle_death(struct round *rd, int w, int status)
{
	uint32_t t = rd->tok[w];
	int64_t since = rd->killed_at_us[w] ? rd->killed_at_us[w] : tt_now_us();
	uint32_t mask = __atomic_load_n(&tt_sh->intent[w], __ATOMIC_SEQ_CST);
	int killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;

	__atomic_store_n(&tt_sh->inc[t].dead, 1, __ATOMIC_RELEASE);
	rd->pid[w] = 0;
	if (killed && !rd->killed_at_us[w]) {
		int k = point_index(rd->armed[w]);
		rd->st->point_kills++;
		if (k >= 0)
			rd->st->point_hits[k]++;
	}
	if (killed)
		rd->st->kills++;
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		tt_violation("worker %d (token %u) ended with status 0x%x", w, t, status);
	if (killed) {
		probe(rd, mask, since);
		clear_witness(w, t);
	}
	__atomic_store_n(&tt_sh->intent[w], 0, __ATOMIC_SEQ_CST);
	if (killed && !failing())
		spawn(rd, w);
}

static int worker_of(const struct round *rd, pid_t pid)
{
	for (int w = 0; w < rd->o->workers; w++)
		if (rd->pid[w] == pid)
			return w;
	return -1;
}

/* Reap workers that ended by themselves (crash points, or the drain). */
static int reap_some(struct round *rd, int block_ms)
{
	int64_t until = tt_now_ms() + block_ms;
	int n = 0, status, w;
	pid_t pid;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			w = worker_of(rd, pid);
			if (w >= 0)
				handle_death(rd, w, status);
			n++;
			continue;
		}
		if (n > 0 || tt_now_ms() >= until || pid < 0)
			return n;
		usleep(500);
	}
}

static void kill_one(struct round *rd)
{
	int w = (int)tt_rand((uint32_t)rd->o->workers);
	int status;
	pid_t pid = rd->pid[w];

	if (pid <= 0)
		return;
	rd->killed_at_us[w] = tt_now_us();
	kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) != pid)
		return;
	rd->st->signal_kills++;
	handle_death(rd, w, status);
}

static int live_workers(const struct round *rd)
{
	int n = 0;

	for (int w = 0; w < rd->o->workers; w++)
		n += rd->pid[w] > 0;
	return n;
}

/* Let the workers finish the plan and exit; kill whatever is left after
 * the deadline.  @return 0 or -1 (they did not finish). */
static int drain(struct round *rd)
{
	int64_t until = tt_now_ms() + 60000;

	__atomic_store_n(&tt_sh->draining, 1, __ATOMIC_RELEASE);
	while (live_workers(rd) > 0 && tt_now_ms() < until && !interrupted)
		reap_some(rd, 100);
	if (live_workers(rd) == 0)
		return 0;
	tt_violation("round %ld: the workers did not finish the plan within 60 s",
		     rd->st->rounds);
	for (int w = 0; w < rd->o->workers; w++) {
		if (rd->pid[w] > 0) {
			kill(rd->pid[w], SIGKILL);
			waitpid(rd->pid[w], NULL, 0);
			rd->pid[w] = 0;
		}
	}
	return -1;
}

/* ---- End-of-round verification ----------------------------------------- */

static int verify_locks(struct round *rd)
{
	int bad = 0;

	for (int r = 0; r < TT_NRES; r++) {
		size_t n = 1;
		if (prdshm_lock_query(rd->seg, tt_res_name(r), 0, NULL, 0, &n) != 0 || n != 0) {
			tt_violation("round end: %s still has %zu records", tt_res_name(r), n);
			bad++;
		}
	}
	return bad;
}

static int verify_phase(const prdshm_phase_info *p, int i)
{
	uint32_t done = tt_sh->completed[i], tried = tt_sh->completing[i];

	if (p->status != PRDSHM_PHASE_COMPLETED) {
		tt_violation("round end: phase %s is %s, not COMPLETED", p->id,
			     prdshm_phase_status_name(p->status));
		return 1;
	}
	/* Completed by a worker that saw 0, or by one killed inside the call. */
	if (done > 1 || (done == 0 && tried == 0)) {
		tt_violation("round end: phase %s completed %u times (%u calls)", p->id, done,
			     tried);
		return 1;
	}
	if (p->attempts < tt_sh->claims[i]) {
		tt_violation("round end: phase %s: %u attempts recorded, %u claims seen", p->id,
			     p->attempts, tt_sh->claims[i]);
		return 1;
	}
	return 0;
}

static int verify_phases(struct round *rd)
{
	prdshm_snapshot *snap = NULL;
	int bad = 0;

	if (prdshm_snapshot_take(rd->seg, 0, &snap) != 0) {
		tt_violation("round end: snapshot failed: %s", prdshm_last_error());
		return 1;
	}
	if (snap->nlocks != 0) {
		tt_violation("round end: %zu locks in the table", snap->nlocks);
		bad++;
	}
	for (size_t i = 0; i < snap->nphases && i < TT_NPHASES; i++)
		bad += verify_phase(&snap->phases[i], (int)i);
	prdshm_snapshot_free(snap);
	return bad;
}

static int verify_round(struct round *rd)
{
	size_t nreaped = 0;
	int rc, bad = 0;

	rc = prdshm_reap(rd->seg, 1, NULL, NULL, &nreaped);
	if (rc != 0)
		tt_violation("round end: prdshm_reap: %s", prdshm_err_name(rc));
	rc = prdshm_check(rd->seg, 0, tt_print_problem, NULL);
	if (rc != 0) {
		tt_violation("round end: prdshm_check: %s", prdshm_err_name(rc));
		bad++;
	}
	bad += verify_locks(rd) + verify_phases(rd);
	rc = tt_run_inspect(rd->o->inspect, rd->cfg.shm_name);
	if (rc > 0) {
		tt_violation("round end: %s --check exited %d", rd->o->inspect, rc);
		bad++;
	}
	return bad || rc < -1;
}

/* ---- One round ---------------------------------------------------------- */

static void reset_shared(int nworkers)
{
	memset(tt_sh->excl, 0, sizeof(tt_sh->excl));
	memset(tt_sh->shared_w, 0, sizeof(tt_sh->shared_w));
	memset(tt_sh->pown, 0, sizeof(tt_sh->pown));
	memset(tt_sh->claims, 0, sizeof(tt_sh->claims));
	memset(tt_sh->completing, 0, sizeof(tt_sh->completing));
	memset(tt_sh->completed, 0, sizeof(tt_sh->completed));
	memset(tt_sh->intent, 0, sizeof(tt_sh->intent));
	tt_sh->draining = 0;
	tt_sh->nworkers = (uint32_t)nworkers;
}

static int round_setup(struct round *rd)
{
	char name[64];
	int rc;

	snprintf(name, sizeof(name), "/prdshm-torture-%ld-%ld", (long)getpid(), rd->st->rounds);
	prdshm_seg_unlink(name);
	tt_config(&rd->cfg, name, TT_NPHASES, 1000, rd->o->workers);
	rc = prdshm_seg_create(&rd->cfg, &rd->seg);
	if (rc == 0)
		rc = prdshm_session_open(rd->seg, "probe", 0, &rd->probe);
	if (rc != 0) {
		tt_violation("round setup: %s (%s)", prdshm_err_name(rc), prdshm_last_error());
		return -1;
	}
	reset_shared(rd->o->workers);
	return 0;
}

static void round_teardown(struct round *rd)
{
	prdshm_session_close(rd->probe);
	prdshm_seg_close(rd->seg);
	prdshm_seg_unlink(rd->cfg.shm_name);
	prdshm_config_free(&rd->cfg);
}

static int budget_left(const struct opts *o, const struct stats *st, int64_t start_ms)
{
	if (o->kills > 0 && st->kills >= o->kills)
		return 0;
	return o->seconds <= 0 || tt_now_ms() - start_ms < o->seconds * 1000;
}

static int run_round(const struct opts *o, struct stats *st, int64_t start_ms)
{
	struct round rd = { .o = o, .st = st };
	long kills0 = st->kills;
	int bad;

	if (round_setup(&rd) != 0)
		return 1;
	for (int w = 0; w < o->workers && !failing(); w++)
		spawn(&rd, w);
	while (!failing() && st->kills - kills0 < o->round_kills && budget_left(o, st, start_ms)) {
		usleep(tt_rand(3000));
		reap_some(&rd, 0);
		kill_one(&rd);
	}
	bad = drain(&rd) != 0;
	if (!failing())
		bad |= verify_round(&rd);
	bad |= failing();
	round_teardown(&rd);
	st->rounds++;
	if (tt_verbose)
		printf("torture: round %ld: kills %ld, ops %llu: %s\n", st->rounds,
		       st->kills - kills0, (unsigned long long)tt_sh->ops, bad ? "FAILED" : "ok");
	return bad;
}

/* ---- Main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: prdshm-torture [--kills N] [--seconds S] [--workers N] [--seed X]\n"
		   "                      [--round-kills N] [--no-crash-points] [--all-points]\n"
		   "                      [--inspect PATH] [-v]\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "kills", required_argument, NULL, 'k' },
		{ "seconds", required_argument, NULL, 's' },
		{ "workers", required_argument, NULL, 'w' },
		{ "seed", required_argument, NULL, 'S' },
		{ "round-kills", required_argument, NULL, 'r' },
		{ "no-crash-points", no_argument, NULL, 'n' },
		{ "all-points", no_argument, NULL, 'a' },
		{ "inspect", required_argument, NULL, 'i' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "k:s:w:S:r:nai:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'k': o->kills = atol(optarg); break;
		case 's': o->seconds = atol(optarg); break;
		case 'w': o->workers = atoi(optarg); break;
		case 'S': o->seed = strtoull(optarg, NULL, 0); break;
		case 'r': o->round_kills = atol(optarg); break;
		case 'n': o->crash_points = 0; break;
		case 'a': o->all_points = 1; break;
		case 'i': o->inspect = optarg; break;
		case 'v': tt_verbose = 1; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (o->workers < 1 || o->workers > TT_MAX_WORKERS || o->round_kills < 1) {
		usage(stderr);
		exit(2);
	}
	if (o->kills <= 0 && o->seconds <= 0)
		o->kills = 2000;
	return 0;
}

static void summary(const struct opts *o, const struct stats *st)
{
	printf("torture: seed %llu, %d workers, %ld rounds\n", (unsigned long long)o->seed,
	       o->workers, st->rounds);
	printf("torture: kills %ld (%ld by the supervisor, %ld at crash points), "
	       "operations %llu, violations %u\n",
	       st->kills, st->signal_kills, st->point_kills, (unsigned long long)tt_sh->ops,
	       tt_sh->violations);
	printf("torture: grants %llu exclusive, %llu shared; phase claims %llu, "
	       "completions %llu\n",
	       (unsigned long long)tt_sh->excl_grants, (unsigned long long)tt_sh->shared_grants,
	       (unsigned long long)tt_sh->claims_total,
	       (unsigned long long)tt_sh->completions_total);
	printf("torture: dead holder's lock free after: max %.1f ms, mean %.1f ms "
	       "(%ld probes, bound %d ms)\n",
	       (double)st->max_release_us / 1000,
	       st->probes ? (double)st->release_sum_us / 1000 / (double)st->probes : 0.0,
	       st->probes, TT_RELEASE_FAIL_MS);
	printf("torture: crash-point deaths:");
	for (size_t i = 0; i < tt_ncrash_points; i++)
		printf(" %s=%ld", tt_crash_points[i], st->point_hits[i]);
	printf("\n");
	if (tt_sh->violations)
		printf("torture: first violation: %s\n", tt_sh->vmsg);
}

/* --all-points: a worker must have died at each point its calls pass
 * through, killed inside that critical section by its own hook, mixed
 * with the other workers' traffic (not only in the campaign's script).
 * @return the number of points never hit. */
static int missing_points(const struct stats *st)
{
	int missing = 0;

	for (size_t i = 0; i < tt_ncrash_points; i++) {
		if (strncmp(tt_crash_points[i], "recover_", 8) == 0 || st->point_hits[i] > 0)
			continue;
		printf("torture: no worker died at crash point %s\n", tt_crash_points[i]);
		missing++;
	}
	return missing;
}

int main(int argc, char **argv)
{
	struct opts o = { .workers = 8, .round_kills = 250, .crash_points = 1,
			  .inspect = "build/bin/prdshm-inspect" };
	struct stats st = { 0 };
	int64_t start;
	int cp_passed = 0, cp_failed = 0;

	o.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	parse(argc, argv, &o);
	tt_srand(o.seed);
	pick_worker_points();
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	tt_sh = mmap(NULL, sizeof(*tt_sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	if (tt_sh == MAP_FAILED) {
		perror("torture: mmap");
		return 2;
	}
	start = tt_now_ms();
	if (o.crash_points)
		cp_failed = tt_crash_campaign("lib", &cp_passed);
	st.passed = cp_passed;
	st.failed = cp_failed;
	while (!failing() && budget_left(&o, &st, start)) {
		if (run_round(&o, &st, start))
			st.failed++;
		else
			st.passed++;
	}
	if (interrupted)
		st.failed++;
	if (o.all_points && o.crash_points && !failing() && missing_points(&st) > 0)
		st.failed++;
	summary(&o, &st);
	printf("torture: %.1f s\n", (double)(tt_now_ms() - start) / 1000);
	printf("torture: %ld passed, %ld failed\n", st.passed, st.failed);
	return st.failed || tt_sh->violations ? 1 : 0;
}
