/*
 * latency.c: the spread of hand-off latency under contention.
 *
 * 4 processes lock and unlock one resource as fast as they can, so that
 * nearly every acquire waits behind another process.  A holder writes the
 * time of its release (and who it is) just before releasing, in shared
 * memory ordered by the lock itself; the next holder reads it just after
 * its acquire returns.  A sample is a hand-off when the acquirer asked for
 * the lock before that release and is another process: the time from the
 * release to the grant.  Its median and 99th percentile are reported per
 * repetition; the fair ticket lock (contended.c) is measured the same way,
 * as the reference for what the machine itself does to a FIFO hand-off
 * (with 4 processes on fewer CPUs, a waiter that is not running when its
 * turn comes costs a scheduler wake-up, whatever the lock).
 */
#include <stdlib.h>
#include <string.h>

#include "procs.h"

#define NLAT 4

/* The lock a latency worker uses: prdshm's hot resource or the ticket. */
struct lat_lock {
	int (*lock)(struct work *w, int i);
	int (*unlock)(struct work *w, int i);
};

static int lat_prdshm_lock(struct work *w, int i)
{
	int r = prdshm_lock(w->s, w->names[i], PRDSHM_EXCLUSIVE, PRDSHM_WAIT_FOREVER, NULL);

	return r ? bench_perr(r, "latency lock") : 0;
}

static int lat_prdshm_unlock(struct work *w, int i)
{
	int r = prdshm_unlock(w->s, w->names[i]);

	return r ? bench_perr(r, "latency unlock") : 0;
}

static int lat_ticket_lock(struct work *w, int i)
{
	(void)i;
	ticket_lock(&w->sh->ticket);
	return 0;
}

static int lat_ticket_unlock(struct work *w, int i)
{
	(void)i;
	ticket_unlock(&w->sh->ticket);
	return 0;
}

static const struct lat_lock lat_prdshm = { lat_prdshm_lock, lat_prdshm_unlock };
static const struct lat_lock lat_ticket = { lat_ticket_lock, lat_ticket_unlock };
static const struct lat_lock *lat_current;

/* Keep the sample if it was a hand-off from another process (file comment). */
static void lat_sample(struct shared *sh, int i, uint64_t asked, uint64_t got)
{
	uint32_t k = sh->nsamples[i];

	if (sh->last.who == i || sh->last.ns < asked || k >= MAXSAMPLES)
		return;
	sh->samples[i][k] = (uint32_t)(got - sh->last.ns > UINT32_MAX ? UINT32_MAX
								       : got - sh->last.ns);
	sh->nsamples[i] = k + 1;
}

static int lat_worker(void *arg, int i)
{
	struct work *w = arg;
	struct shared *sh = w->sh;
	int r = 0;

	while (r == 0 && !stopped(sh)) {
		uint64_t asked = bench_now();

		r = lat_current->lock(w, i);
		if (r)
			break;
		lat_sample(sh, i, asked, bench_now());
		sh->last.who = i;
		sh->last.ns = bench_now();
		r = lat_current->unlock(w, i);
	}
	if (w->s) {
		prdshm_session_close(w->s);
		prdshm_seg_close(w->seg);
	}
	return r;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* One repetition: the median and p99 of all children's samples.
 * @return 0, or -1 (a child failed, or too few hand-offs to say). */
static int lat_once(struct work *w, int (*setup)(void *, int), double *p50, double *p99)
{
	struct shared *sh = w->sh;
	struct team t = { NLAT, setup, lat_worker, w, bench_opts.duration_ms, &sh->stop, 0 };
	static uint32_t all[NLAT * MAXSAMPLES];
	size_t n = 0;

	sh->stop = 0;
	sh->last.who = -1;
	sh->last.ns = 0;
	memset(sh->nsamples, 0, sizeof(sh->nsamples));
	if (team_run(&t))
		return -1;
	for (int i = 0; i < NLAT; i++) {
		memcpy(&all[n], sh->samples[i], sh->nsamples[i] * sizeof(uint32_t));
		n += sh->nsamples[i];
	}
	if (n < 100)
		return bench_err("latency: only %zu hand-offs in %d ms", n,
				 bench_opts.duration_ms);
	qsort(all, n, sizeof(all[0]), cmp_u32);
	*p50 = all[n / 2];
	*p99 = all[n * 99 / 100];
	return 0;
}

static int lat_case(struct work *w, const char *id, const char *what,
		    const struct lat_lock *lk, int (*setup)(void *, int), const char *ref)
{
	double v50[64], v99[64];
	struct stats st;
	char id50[32], id99[32], label[96], ref99[32];
	int reps = reps_contended();

	lat_current = lk;
	for (int k = 0; k < reps; k++)
		if (lat_once(w, setup, &v50[k], &v99[k]))
			return -1;
	snprintf(id50, sizeof(id50), "%s_p50", id);
	snprintf(id99, sizeof(id99), "%s_p99", id);
	snprintf(ref99, sizeof(ref99), "%s_p99", ref ? ref : "");
	snprintf(label, sizeof(label), "%s, 4 procs, median", what);
	bench_summarise(v50, reps, &st);
	bench_add(id50, "hand-off latency, 4 contending processes", label, U_NS, &st, NULL);
	snprintf(label, sizeof(label), "%s, 4 procs, 99th percentile", what);
	bench_summarise(v99, reps, &st);
	bench_add(id99, "hand-off latency, 4 contending processes", label, U_NS, &st,
		  ref ? ref99 : id50);
	return 0;
}

int latency_cases(struct work *w)
{
	int r;

	same_name(w, "project/build/output-dir");
	r = lat_case(w, "ticket4", "fair FIFO ticket lock", &lat_ticket, NULL, NULL);
	if (r == 0)
		r = lat_case(w, "handoff4", "prdshm, one hot resource", &lat_prdshm, prdshm_setup,
			     NULL);
	return r;
}
