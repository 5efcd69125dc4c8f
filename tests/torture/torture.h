/*
 * torture.h: the crash torture (make torture, and a bounded run in
 * make check).
 *
 * A supervisor forks N worker processes that lock a few hot resources and
 * run a plan of phases through the library, and SIGKILLs them at random.
 * Whether the library keeps its promises is judged by a witness that lives
 * outside the library, in a MAP_SHARED anonymous mapping created before the
 * first fork (struct tt_shared):
 *
 *   - excl[r] holds the token of the EXCLUSIVE holder of resource r, and
 *     shared_w[r][w] the token of worker w while it holds r SHARED;
 *   - pown[i] holds the token of the worker running phase i.
 *
 * A token names one incarnation of a worker (inc[token]: its pid and a dead
 * flag the supervisor sets when it reaps it).  A killed holder leaves its
 * token behind; the next holder may overwrite a token only once it has
 * proved that incarnation dead (dead flag, or the kernel says the pid is a
 * zombie or gone), so stale entries never raise false alarms, while a live
 * conflicting holder is a violation.
 */
#ifndef PRDSHM_TORTURE_H
#define PRDSHM_TORTURE_H

#include <stdint.h>
#include <sys/types.h>

#include "prdshm.h"

#define TT_MAX_WORKERS 32
#define TT_NRES 8              /* hot resources "hot-0".."hot-7" */
#define TT_NPHASES 64          /* phases in each round's plan (max_phases) */
#define TT_MAX_INC (1u << 21)  /* worker incarnations (tokens) per run */
#define TT_RELEASE_FAIL_MS 3000 /* a dead holder's lock must be free by then */

struct tt_inc {
	int32_t pid;
	uint32_t dead; /* set by the supervisor once waitpid() returned */
};

struct tt_shared {
	/* Violations: the count, and the first message. */
	uint32_t violations;
	uint32_t vmsg_taken;
	char vmsg[512];

	uint32_t draining;     /* round end: workers finish the plan and exit */
	uint32_t nworkers;
	uint64_t ops;          /* library calls made by all workers */
	uint64_t excl_grants, shared_grants, claims_total, completions_total;

	/* The witness (see above).  0 = nobody. */
	uint32_t excl[TT_NRES];
	uint32_t shared_w[TT_NRES][TT_MAX_WORKERS];
	uint32_t pown[TT_NPHASES];
	/* Per phase: successful claims, complete calls begun, complete calls
	 * that returned 0 (never more than 1). */
	uint32_t claims[TT_NPHASES], completing[TT_NPHASES], completed[TT_NPHASES];

	/* Resources each worker may hold (bit r): set before asking, cleared
	 * after releasing, so it is a superset of what a killed worker held. */
	uint32_t intent[TT_MAX_WORKERS];

	uint32_t ntok;         /* tokens handed out; token 0 is never used */
	struct tt_inc inc[TT_MAX_INC];
};

extern struct tt_shared *tt_sh;
extern int tt_verbose;

/* Record a violation (first message kept) and print it. */
void tt_violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds and microseconds of CLOCK_MONOTONIC. */
int64_t tt_now_ms(void);
int64_t tt_now_us(void);

/* xorshift64*: per-process generator. */
void tt_srand(uint64_t seed);
uint32_t tt_rand(uint32_t n);

/* The name of hot resource @p r ("hot-3"). */
const char *tt_res_name(int r);

/* Fill @p cfg for a torture segment named @p shm_name with @p nphases
 * phases p0..p(n-1) whose dependencies are random earlier phases. */
void tt_config(prdshm_config *cfg, const char *shm_name, int nphases, int attempts,
	       int nworkers);

/* Worker @p w as incarnation @p tok: opens its own handles on @p shm_name
 * and runs until killed or, once draining, until the plan is done.
 * Never returns. */
void tt_worker_main(int w, uint32_t tok, const char *shm_name, const char *crash_at,
		    uint64_t seed) __attribute__((noreturn));

/* 1 once incarnation @p tok is proven dead; waits up to @p wait_ms for the
 * proof (the supervisor may not have reaped it yet). */
int tt_token_dead(uint32_t tok, int wait_ms);

/* The crash points compiled into the library (PRDSHM__CRASH_POINT names). */
extern const char *const tt_crash_points[];
extern const size_t tt_ncrash_points;

/* Check that tt_crash_points lists every PRDSHM__CRASH_POINT in
 * @p libdir/\*.c (skipped if the directory is absent); then kill a process
 * at each point in a scripted scenario and prove that the next caller
 * repairs the state (prdshm_check() == 0).  @return failures. */
int tt_crash_campaign(const char *libdir, int *passed);

/* Run a program with the segment's name in PRD_PARALLEL_SHM_NAME: the
 * inspector's --check, when the tools are built.  @return its exit code,
 * or -1 if @p path does not exist. */
int tt_run_inspect(const char *path, const char *shm_name);

/* Problem printer for prdshm_check(). */
void tt_print_problem(void *ctx, int severity, const char *problem);

#endif
