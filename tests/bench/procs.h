/*
 * procs.h: what the multi-process cases share (procs.c, contended.c,
 * latency.c): the page the children share with the parent, one kind of
 * worker, and the segment they all open.
 */
#ifndef PRDSHM_BENCH_PROCS_H
#define PRDSHM_BENCH_PROCS_H

#include <pthread.h>
#include <stdint.h>

#include "bench.h"

#define MAXP 8
#define NAMELEN 48
/* Hand-off samples kept per child (latency.c); later ones are dropped. */
#define MAXSAMPLES 65536

/* A fair FIFO ticket lock (contended.c): a waiter takes the next ticket and
 * waits until it is served.  The two counters sit on their own cache lines,
 * so that taking a ticket does not disturb the waiters polling `serving`. */
struct ticket {
	uint32_t next __attribute__((aligned(64)));    /* the next ticket to hand out */
	uint32_t serving __attribute__((aligned(64))); /* the ticket that may hold it */
	uint32_t sleepers;                             /* waiters in FUTEX_WAIT */
};

/* The children's shared page (anonymous MAP_SHARED, made by the parent). */
struct shared {
	volatile int stop;
	uint32_t turn;          /* futex ping-pong: whose turn, 0 or 1 */
	uint64_t count[MAXP];   /* operations done by each child */
	uint64_t t0[MAXP], t1[MAXP]; /* when each child started and finished */
	pthread_mutex_t mutex;  /* the bare-mutex floor */
	/* One mutex per child, each on its own cache line: how well the
	 * machine itself scales with no shared data at all. */
	struct {
		pthread_mutex_t m;
	} __attribute__((aligned(64))) own[MAXP];
	struct ticket ticket;
	/* Hand-off latency (latency.c): who released last, and when; written
	 * by the holder, so ordered by the lock itself. */
	struct {
		uint64_t ns;
		int who;
	} __attribute__((aligned(64))) last;
	uint32_t nsamples[MAXP];
	uint32_t samples[MAXP][MAXSAMPLES]; /* ns from release to grant */
};

/* One kind of worker: how a child sets up and what it repeats. */
struct work {
	struct shared *sh;
	const char *shm_name;
	/* Non-NULL: the children open the segment from it, not by shm_name
	 * (another backend: zk.c); and how the hand-off rows are filed. */
	const prdshm_config *cfg;
	const char *group;
	long min_steps;            /* hand-off: steps at least (0: 500) */
	const char *path;
	char names[MAXP][NAMELEN]; /* resource of each child (hot: all equal) */
	int spin;                  /* futex ping-pong: polls before sleeping */
	long steps;                /* hand-off: steps per child */
	/* Per child, after fork. */
	prdshm_seg *seg;
	prdshm_session *s;
	int fd;
};

static inline int stopped(const struct shared *sh)
{
	return __atomic_load_n(&sh->stop, __ATOMIC_RELAXED);
}

/* Open the segment and a session in child @p i (a team's setup). */
int prdshm_setup(void *arg, int i);

/* Create a segment, the shared page and its mutexes, call @p fn, and remove
 * them again.  @return 0 or -1. */
int with_segment(int (*fn)(struct work *w, uint32_t nparts));

/* How many repetitions a contended case runs: at most 5, they last. */
int reps_contended(void);

/* The ticket lock (contended.c). */
void ticket_lock(struct ticket *t);
void ticket_unlock(struct ticket *t);

/* Resource names for n children in n distinct lock partitions (contended.c). */
void distinct_names(struct work *w, int n, uint32_t nparts);
/* The same name for every child. */
void same_name(struct work *w, const char *name);

/* The three-lock ring's hand-off latency, row @p id (procs.c). */
int ring_handoff(struct work *w, const char *id, const char *label, const char *ratio_to);

/* The p99 hand-off latency under 4 contending processes (latency.c). */
int latency_cases(struct work *w);

#endif
