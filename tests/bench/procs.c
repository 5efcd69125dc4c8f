/*
 * procs.c: several processes at once: the team harness that forks them
 * and starts them together, the segment they share, and the hand-off
 * latency between two of them (throughput: contended.c; the spread of
 * hand-off latency under 4 processes: latency.c).
 *
 * Hand-off latency: two processes pass the turn back and forth; the time per
 * hand-off is the total divided by the number of hand-offs.  See
 * docs/performance.md for why the three-lock ring below alternates strictly.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procs.h"


/* ---- The team harness ---------------------------------------------------- */

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void child(struct team *t, int i, int ready, int go)
{
	char c = t->setup && t->setup(t->arg, i) ? 'E' : 'R';

	if (write(ready, &c, 1) != 1 || c == 'E')
		_exit(1);
	/* The parent closes its end to start everyone at once: read sees EOF. */
	while (read(go, &c, 1) < 0 && errno == EINTR)
		;
	_exit(t->run(t->arg, i) ? 1 : 0);
}

/* Read one byte per child; @return 0 if all are ready in time. */
static int await_ready(int fd, int n)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (int got = 0; got < n; got++) {
		char c;

		if (poll(&p, 1, 30000) != 1 || read(fd, &c, 1) != 1 || c != 'R')
			return -1;
	}
	return 0;
}

/* Reap the children; kill those still running after @p timeout_ms. */
static int reap(pid_t *pids, int n, int timeout_ms)
{
	uint64_t until = bench_now() + (uint64_t)timeout_ms * 1000000u;
	int bad = 0, left = n;

	while (left > 0) {
		for (int i = 0; i < n; i++) {
			int st;

			if (pids[i] <= 0 || waitpid(pids[i], &st, WNOHANG) != pids[i])
				continue;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				bad = 1;
			pids[i] = 0;
			left--;
		}
		if (left > 0 && bench_now() > until) {
			for (int i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);
			timeout_ms = 1000;
			until = bench_now() + 1000000000u;
			bad = 1;
		}
		if (left > 0)
			sleep_ms(1);
	}
	return bad ? -1 : 0;
}

int team_run(struct team *t)
{
	int ready[2], go[2], r = 0, started = 0;
	pid_t pids[MAXP] = { 0 };

	if (t->n > MAXP || pipe2(ready, O_CLOEXEC) || pipe2(go, O_CLOEXEC))
		return bench_err("team: %s", strerror(errno));
	fflush(NULL);
	for (; started < t->n; started++) {
		pids[started] = fork();
		if (pids[started] < 0)
			break;
		if (pids[started] == 0) {
			close(ready[0]);
			close(go[1]);
			child(t, started, ready[1], go[0]);
		}
	}
	close(ready[1]);
	close(go[0]);
	if (started < t->n || await_ready(ready[0], t->n)) {
		for (int i = 0; i < started; i++)
			kill(pids[i], SIGKILL);
		r = -1;
	}
	t->t_go = bench_now();
	close(go[1]);
	if (r == 0 && t->stop_after_ms > 0) {
		sleep_ms(t->stop_after_ms);
		__atomic_store_n(t->stop, 1, __ATOMIC_RELEASE);
	}
	if (reap(pids, started, 60000))
		r = -1;
	close(ready[0]);
	return r ? bench_err("a child process failed or hung") : 0;
}

/* ---- Child set-up ------------------------------------------------------- */

int prdshm_setup(void *arg, int i)
{
	struct work *w = arg;
	int r = w->cfg ? prdshm_seg_open_cfg(w->cfg, &w->seg) : prdshm_seg_open(w->shm_name, &w->seg);

	(void)i;
	if (r == 0)
		r = prdshm_session_open(w->seg, NULL, 0, &w->s);
	return r ? bench_perr(r, "child session") : 0;
}

/* ---- Hand-off latency ------------------------------------------------------ */

/*
 * The three-lock ring: child 0 starts holding L0, child 1 holds L1, L2 is
 * free.  At step k, child i locks L[(k+i+1) % 3] and then unlocks
 * L[(k+i) % 3] (hand over hand around the ring).  Each lock child 0 wants
 * is released by child 1 only after child 1 took the next one, and vice
 * versa, so the two alternate strictly: every step of one waits for the
 * other's release, and one lock is always free, so they never deadlock.
 */
static const char *const ring[3] = { "handoff/ring-0", "handoff/ring-1", "handoff/ring-2" };

static int ring_setup(void *arg, int i)
{
	struct work *w = arg;
	int r = prdshm_setup(arg, i);

	if (r == 0)
		r = prdshm_lock(w->s, ring[i], PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL);
	return r ? bench_perr(r, "ring setup") : 0;
}

static int ring_worker(void *arg, int i)
{
	struct work *w = arg;
	int r = 0;

	w->sh->t0[i] = bench_now();
	for (long k = 0; r == 0 && k < w->steps; k++) {
		r = prdshm_lock(w->s, ring[(k + i + 1) % 3], PRDSHM_EXCLUSIVE,
				PRDSHM_WAIT_FOREVER, NULL);
		if (r == 0)
			r = prdshm_unlock(w->s, ring[(k + i) % 3]);
	}
	w->sh->t1[i] = bench_now();
	prdshm_session_close(w->s);
	prdshm_seg_close(w->seg);
	return r ? bench_perr(r, "ring") : 0;
}

static long futex_op(uint32_t *word, int op, uint32_t val)
{
	/* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
	return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

/* Wait until it is child @p me's turn: optionally poll first, then sleep. */
static void await_turn(uint32_t *turn, uint32_t me, int spin)
{
	for (int k = 0; k < spin; k++) {
		if (__atomic_load_n(turn, __ATOMIC_ACQUIRE) == me)
			return;
		__builtin_ia32_pause();
	}
	for (;;) {
		uint32_t v = __atomic_load_n(turn, __ATOMIC_ACQUIRE);

		if (v == me)
			return;
		futex_op(turn, FUTEX_WAIT, v);
	}
}

static int futex_worker(void *arg, int i)
{
	struct work *w = arg;
	uint32_t *turn = &w->sh->turn;

	w->sh->t0[i] = bench_now();
	for (long k = 0; k < w->steps; k++) {
		await_turn(turn, (uint32_t)i, w->spin);
		__atomic_store_n(turn, (uint32_t)!i, __ATOMIC_RELEASE);
		futex_op(turn, FUTEX_WAKE, 1);
	}
	w->sh->t1[i] = bench_now();
	return 0;
}

/* One repetition: @return ns per hand-off, or -1. */
static double pingpong_once(struct work *w, int (*setup)(void *, int), int (*run)(void *, int))
{
	struct team t = { 2, setup, run, w, 0, &w->sh->stop, 0 };
	uint64_t t0, t1;

	w->sh->turn = 0;
	if (team_run(&t))
		return -1;
	t0 = w->sh->t0[0] < w->sh->t0[1] ? w->sh->t0[0] : w->sh->t0[1];
	t1 = w->sh->t1[0] > w->sh->t1[1] ? w->sh->t1[0] : w->sh->t1[1];
	return (double)(t1 - t0) / (2.0 * (double)w->steps);
}

static int pingpong(struct work *w, const char *id, const char *label,
		    int (*setup)(void *, int), int (*run)(void *, int), const char *ratio_to)
{
	double v[64], probe;
	struct stats st;
	long least = w->min_steps ? w->min_steps : 500;
	int reps = reps_contended();

	/* Size the run from a short probe: about half a contended duration. */
	w->steps = least;
	probe = pingpong_once(w, setup, run);
	if (probe < 0)
		return -1;
	w->steps = (long)(bench_opts.duration_ms * 1e6 / 2 / (2 * probe));
	if (w->steps < least)
		w->steps = least;
	for (int k = 0; k < reps; k++) {
		v[k] = pingpong_once(w, setup, run);
		if (v[k] < 0)
			return -1;
	}
	bench_summarise(v, reps, &st);
	bench_add(id, w->group ? w->group : "hand-off latency, 2 processes", label, U_NS, &st,
		  ratio_to);
	return 0;
}

int ring_handoff(struct work *w, const char *id, const char *label, const char *ratio_to)
{
	return pingpong(w, id, label, ring_setup, ring_worker, ratio_to);
}

static int handoff(struct work *w, uint32_t nparts)
{
	int r;

	w->spin = 0;
	r = pingpong(w, "futex_pp", "raw futex ping-pong, per hand-off", NULL, futex_worker,
		     NULL);
	w->spin = 400;
	if (r == 0)
		r = pingpong(w, "futex_spin", "futex ping-pong, 400 polls first", NULL,
			     futex_worker, "futex_pp");
	if (r == 0)
		r = pingpong(w, "handoff", "prdshm three-lock ring, per hand-off", ring_setup,
			     ring_worker, "futex_pp");
	return r;
}

/* ---- The group ------------------------------------------------------------- */

static int mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return 0;
}

/* The state both groups share: a segment and the children's shared page. */
int with_segment(int (*fn)(struct work *w, uint32_t nparts))
{
	static struct work w; /* static: the name arrays are large for a stack */
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;
	int r;

	memset(&w, 0, sizeof(w));
	w.sh = bench_shared_alloc(sizeof(*w.sh));
	if (w.sh == NULL)
		return bench_err("mmap: %s", strerror(errno));
	mutex_init(&w.sh->mutex);
	for (int i = 0; i < MAXP; i++)
		mutex_init(&w.sh->own[i].m);
	bench_config(&cfg);
	w.shm_name = cfg.shm_name;
	r = prdshm_seg_create(&cfg, &seg);
	if (r)
		bench_perr(r, "create");
	if (r == 0)
		r = prdshm_seg_info_get(seg, &info);
	if (r == 0)
		r = fn(&w, info.nparts);
	prdshm_seg_close(seg);
	prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
	pthread_mutex_destroy(&w.sh->mutex);
	bench_shared_free(w.sh, sizeof(*w.sh));
	return r ? -1 : 0;
}

int group_handoff(void)
{
	return with_segment(handoff);
}
