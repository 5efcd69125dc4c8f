/*
 * contended.c: throughput of n processes at once, the scaling curves.
 *
 * n forked processes (1, 2, 4, 8) start together (team_run(): a pipe
 * barrier) and acquire+release as fast as they can until the parent raises
 * a stop flag after bench_opts.duration_ms; the figure is the aggregate
 * ops/s.  Each curve is one kind of lock:
 *
 *   hot<n>        prdshm, every process on one resource
 *   distinct<n>   prdshm, each process on its own resource (own partition)
 *   flock_hot<n>  flock(2) on one file (each process opens it itself, so
 *                 each has its own open file description: an inherited
 *                 descriptor would share its flock)
 *   ofd_hot<n>    fcntl(F_OFD_SETLKW) on one file, opened the same way
 *   ticket<n>     a fair FIFO ticket lock in shared memory: the limit for a
 *                 lock that serves its waiters in order, as prdshm does
 *   mutex_hot<n>  one bare robust mutex: the floor, but not fair
 *
 * and mutex_own1/2, a mutex per process, for how far the machine itself
 * lets processes scale when they share nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procs.h"

/* Ticket polls before sleeping: as many as prdshm's doorbell wait. */
#define TICKET_SPIN 400

/* ---- The fair FIFO baseline ------------------------------------------------ */

static long futex(uint32_t *word, int op, uint32_t val)
{
	/* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
	return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

/* Take a ticket and wait for it: a short spin (a hand-off after a short hold
 * is cheaper to catch spinning), then sleep on `serving`.  Every release
 * wakes all sleepers, each of which checks whether its ticket came up: with
 * one word to sleep on, no waiter can be woken alone. */
void ticket_lock(struct ticket *t)
{
	uint32_t me = __atomic_fetch_add(&t->next, 1, __ATOMIC_RELAXED);

	for (int k = 0; k < TICKET_SPIN; k++) {
		if (__atomic_load_n(&t->serving, __ATOMIC_ACQUIRE) == me)
			return;
		__builtin_ia32_pause();
	}
	for (;;) {
		uint32_t v = __atomic_load_n(&t->serving, __ATOMIC_ACQUIRE);

		if (v == me)
			return;
		__atomic_add_fetch(&t->sleepers, 1, __ATOMIC_SEQ_CST);
		futex(&t->serving, FUTEX_WAIT, v);
		__atomic_sub_fetch(&t->sleepers, 1, __ATOMIC_SEQ_CST);
	}
}

void ticket_unlock(struct ticket *t)
{
	__atomic_add_fetch(&t->serving, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&t->sleepers, __ATOMIC_SEQ_CST) != 0)
		futex(&t->serving, FUTEX_WAKE, INT_MAX);
}

/* ---- Workers ---------------------------------------------------------------- */

static int prdshm_worker(void *arg, int i)
{
	struct work *w = arg;
	uint64_t n = 0;

	while (!stopped(w->sh)) {
		int r = prdshm_lock(w->s, w->names[i], PRDSHM_EXCLUSIVE, PRDSHM_WAIT_FOREVER,
				    NULL);

		if (r == 0)
			r = prdshm_unlock(w->s, w->names[i]);
		if (r)
			return bench_perr(r, "contended lock");
		n++;
	}
	w->sh->count[i] = n;
	prdshm_session_close(w->s);
	prdshm_seg_close(w->seg);
	return 0;
}

static int file_setup(void *arg, int i)
{
	struct work *w = arg;

	w->fd = open(w->names[i], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	return w->fd < 0 ? bench_err("open %s: %s", w->names[i], strerror(errno)) : 0;
}

static int flock_worker(void *arg, int i)
{
	struct work *w = arg;
	uint64_t n = 0;

	while (!stopped(w->sh)) {
		if (flock(w->fd, LOCK_EX) || flock(w->fd, LOCK_UN))
			return bench_err("flock: %s", strerror(errno));
		n++;
	}
	w->sh->count[i] = n;
	return 0;
}

static int ofd_worker(void *arg, int i)
{
	struct work *w = arg;
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct flock un = { .l_type = F_UNLCK, .l_whence = SEEK_SET };
	uint64_t n = 0;

	while (!stopped(w->sh)) {
		if (fcntl(w->fd, F_OFD_SETLKW, &lk) || fcntl(w->fd, F_OFD_SETLK, &un))
			return bench_err("fcntl(F_OFD_SETLKW): %s", strerror(errno));
		n++;
	}
	w->sh->count[i] = n;
	return 0;
}

static int ticket_worker(void *arg, int i)
{
	struct work *w = arg;
	uint64_t n = 0;

	while (!stopped(w->sh)) {
		ticket_lock(&w->sh->ticket);
		ticket_unlock(&w->sh->ticket);
		n++;
	}
	w->sh->count[i] = n;
	return 0;
}

static int mutex_worker(void *arg, int i)
{
	struct work *w = arg;
	uint64_t n = 0;

	while (!stopped(w->sh)) {
		if (pthread_mutex_lock(&w->sh->mutex) || pthread_mutex_unlock(&w->sh->mutex))
			return bench_err("pthread_mutex_lock failed");
		n++;
	}
	w->sh->count[i] = n;
	return 0;
}

static int own_mutex_worker(void *arg, int i)
{
	struct work *w = arg;
	pthread_mutex_t *m = &w->sh->own[i].m;
	uint64_t n = 0;

	while (!stopped(w->sh)) {
		if (pthread_mutex_lock(m) || pthread_mutex_unlock(m))
			return bench_err("pthread_mutex_lock failed");
		n++;
	}
	w->sh->count[i] = n;
	return 0;
}

/* ---- Throughput ---------------------------------------------------------- */

/* One repetition: @return aggregate ops/s, or -1. */
static double throughput_once(struct work *w, int n, int (*setup)(void *, int),
			      int (*run)(void *, int))
{
	struct team t = { n, setup, run, w, bench_opts.duration_ms, &w->sh->stop, 0 };
	uint64_t total = 0;

	w->sh->stop = 0;
	memset(w->sh->count, 0, sizeof(w->sh->count));
	if (team_run(&t))
		return -1;
	for (int i = 0; i < n; i++)
		total += w->sh->count[i];
	return (double)total / (bench_opts.duration_ms / 1e3);
}

int reps_contended(void)
{
	return bench_opts.reps < 5 ? bench_opts.reps : 5;
}

static int throughput(struct work *w, const char *id, const char *label, int n,
		      int (*setup)(void *, int), int (*run)(void *, int), const char *ratio_to)
{
	double v[64];
	struct stats st;
	int reps = reps_contended();

	for (int k = 0; k < reps; k++) {
		v[k] = throughput_once(w, n, setup, run);
		if (v[k] < 0)
			return -1;
	}
	bench_summarise(v, reps, &st);
	bench_add(id, "contended, several processes", label, U_OPS, &st, ratio_to);
	return 0;
}

void distinct_names(struct work *w, int n, uint32_t nparts)
{
	uint32_t used = 0;

	for (int i = 0; i < n; i++) {
		for (int k = 0;; k++) {
			uint32_t p;

			snprintf(w->names[i], NAMELEN, "project/worker-%d/out-%d", i, k);
			p = bench_partition(w->names[i], nparts);
			if (nparts < (uint32_t)n || !(used & (1u << p))) {
				used |= 1u << p;
				break;
			}
		}
	}
}

void same_name(struct work *w, const char *name)
{
	for (int i = 0; i < MAXP; i++)
		snprintf(w->names[i], NAMELEN, "%s", name);
}

/* ---- The curves ---------------------------------------------------------- */

/* One curve: a kind of lock measured at each process count. */
struct curve {
	const char *id;    /* row ids are <id><n> */
	const char *label; /* row labels are "<label>, <n> proc(s)" */
	int hot;           /* 1: all on one name, 0: distinct names, -1: a file */
	int (*setup)(void *, int);
	int (*run)(void *, int);
	const char *ratio_to; /* compared with <ratio_to><n>; NULL: with <id>1 */
};

static const struct curve curves[] = {
	{ "flock_hot", "flock(2), one file", -1, file_setup, flock_worker, NULL },
	{ "ofd_hot", "fcntl OFD lock, one file", -1, file_setup, ofd_worker, "flock_hot" },
	{ "ticket", "fair FIFO ticket lock in shm", 1, NULL, ticket_worker, "flock_hot" },
	{ "mutex_hot", "bare robust mutex", 1, NULL, mutex_worker, "flock_hot" },
	{ "hot", "prdshm, one hot resource", 1, prdshm_setup, prdshm_worker, "flock_hot" },
	{ "distinct", "prdshm, own resources (total)", 0, prdshm_setup, prdshm_worker, NULL },
};
static const int nprocs[] = { 1, 2, 4, 8 };

static int curve_run(struct work *w, const struct curve *c, uint32_t nparts)
{
	int r = 0;

	for (size_t k = 0; r == 0 && k < sizeof(nprocs) / sizeof(nprocs[0]); k++) {
		int n = nprocs[k];
		char id[32], label[96], to[32];

		snprintf(id, sizeof(id), "%s%d", c->id, n);
		snprintf(label, sizeof(label), "%s, %d proc%s", c->label, n, n > 1 ? "s" : "");
		if (c->ratio_to)
			snprintf(to, sizeof(to), "%s%d", c->ratio_to, n);
		else
			snprintf(to, sizeof(to), "%s1", c->id);
		if (c->hot < 0)
			same_name(w, w->path);
		else if (c->hot)
			same_name(w, "project/build/output-dir");
		else
			distinct_names(w, n, nparts);
		r = throughput(w, id, label, n, c->setup, c->run, n > 1 || c->ratio_to ? to : NULL);
	}
	return r;
}

static int contended(struct work *w, uint32_t nparts)
{
	int r = 0;

	w->path = bench_file_name("hot");
	for (size_t i = 0; r == 0 && i < sizeof(curves) / sizeof(curves[0]); i++)
		r = curve_run(w, &curves[i], nparts);
	if (r == 0)
		r = throughput(w, "mutex_own1", "bare mutex, own mutex, 1 proc", 1, NULL,
			       own_mutex_worker, NULL);
	if (r == 0)
		r = throughput(w, "mutex_own2", "bare mutex, own mutexes, 2 procs (total)", 2,
			       NULL, own_mutex_worker, "mutex_own1");
	if (r == 0)
		r = latency_cases(w);
	return r;
}

int group_contended(void)
{
	return with_segment(contended);
}
