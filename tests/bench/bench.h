/*
 * bench.h: the benchmark's shared pieces (tests/bench/).
 *
 *   main.c       options, the repetition runner, the table, JSON, targets
 *   local.c      one process: prdshm and the alternatives (flock, fcntl, mutex)
 *   procs.c      several processes: the team harness, hand-off latency of two
 *                (group "handoff")
 *   contended.c  throughput of 1, 2, 4, 8 processes, the scaling curves, and
 *                the fair ticket-lock baseline (group "contended")
 *   latency.c    median and p99 hand-off latency under 4 processes
 *   plot.py      the curves as PNG plots (gnuplot); compare.py: two runs' JSON
 *   scale.c      a 1,000,000-lock table, phases, graph analysis, memory
 *   callgrind.c  instruction count per acquire+release, by re-running
 *                ourselves under valgrind
 *   zk.c         the same lock pair, hand-off and claims on a ZooKeeper
 *                server next to shm: what going multi-host costs
 *
 * Every figure is produced in the same run, so ratios compare like with like
 * on the user's machine.  A group function returns 0, or -1 after printing
 * why to stderr; main() then stops and unlinks what was created.
 */
#ifndef PRDSHM_BENCH_H
#define PRDSHM_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "prdshm.h"

/* What the command line chose. */
struct bench_opts {
	int reps;          /* repetitions per case (median, min, max) */
	int rep_ms;        /* target duration of one repetition of a loop case */
	int duration_ms;   /* duration of one repetition of a contended case */
	const char *only;  /* a case id or a group name, or NULL for all */
	long iterations;   /* > 0: run case `only` exactly this many times */
	int callgrind;     /* -1 auto (if valgrind is found), 0 no, 1 yes */
	const char *json;  /* NULL, "-" (stdout instead of the table) or a path */
	const char *self;  /* path of this program, for callgrind */
};

extern struct bench_opts bench_opts;

/* Statistics of one case's repetitions. */
struct stats {
	double median, min, max;
	int n;
};

/* Units; "higher is better" is derived from them. */
#define U_NS "ns/op"
#define U_OPS "ops/s"
#define U_MS "ms"
#define U_BYTES "bytes"

/* Add a result row.  @p ratio_to names the row it is compared with (its id),
 * or NULL; the ratio is computed when the table is printed. */
void bench_add(const char *id, const char *group, const char *label, const char *unit,
	       const struct stats *st, const char *ratio_to);
/* The same for a single value (memory sizes, instruction counts). */
void bench_add_value(const char *id, const char *group, const char *label,
		     const char *unit, double value, const char *ratio_to);
/* A row for a case that could not be measured: the table shows
 * "n/a (@p why)", the JSON lists it under "not_measured". */
void bench_add_na(const char *id, const char *group, const char *label, const char *unit,
		  const char *why);
/* The median of a row added earlier, or -1 if there is none. */
double bench_median(const char *id);

/* Time @p loop (n iterations per call) over bench_opts.reps repetitions after
 * a warm-up that also picks n; fill @p st with ns per iteration.
 * @return 0 or -1 if @p loop failed. */
int bench_measure_loop(int (*loop)(void *st, long n), void *arg, struct stats *st);

/* Sort @p v and summarise it into @p st. */
void bench_summarise(double *v, int n, struct stats *st);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now(void);

/* Print "bench: <message>" to stderr; @return -1. */
int bench_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, with prdshm_strerror(@p r) and prdshm_last_error() appended. */
int bench_perr(int r, const char *what);

/* A unique segment name "/prdshm-bench-<pid>-<n>", registered so that it is
 * unlinked at exit (also on error and on SIGINT/SIGTERM). */
const char *bench_shm_name(void);
/* A unique file under /dev/shm, registered the same way. */
const char *bench_file_name(const char *what);

/* A configuration with defaults and a fresh unique shm_name. */
void bench_config(prdshm_config *cfg);

/* The lock partition of @p name, computed with the library's own name hash
 * (lib/base/util.h): used to pick names in distinct partitions. */
uint32_t bench_partition(const char *name, uint32_t nparts);

/* ---- Child processes (procs.c, scale.c) ------------------------------- */

/*
 * Run @p n children together.  Each calls setup(arg, i) before the start
 * barrier, then run(arg, i) once all have finished setup; a non-zero return
 * from either makes the child exit with status 1.  The parent releases the
 * barrier, sleeps @p stop_after_ms if > 0 and then sets *stop (shared) to 1,
 * and waits for all children (at most 60 s).  *t_go gets the release time.
 * @return 0, or -1 if a child failed or hung.
 */
struct team {
	int n;
	int (*setup)(void *arg, int i);
	int (*run)(void *arg, int i);
	void *arg;
	int stop_after_ms;
	volatile int *stop;
	uint64_t t_go;
};
int team_run(struct team *t);

/* Anonymous MAP_SHARED memory that children share with the parent. */
void *bench_shared_alloc(size_t size);
void bench_shared_free(void *p, size_t size);

/* ---- Groups ---------------------------------------------------------- */

int group_local(void);
int group_contended(void);
int group_handoff(void);
int group_scale(void);
int group_phases(void);
int group_memory(void);
int group_callgrind(void);
int group_zookeeper(void);
/* Stop the ZooKeeper server group_zookeeper() started, if it runs. */
void bench_zk_stop(void);

/* Claim and complete phases until none is left (scale.c): an agent that
 * runs nothing.  @return PRDSHM_EDONE, or the first other failure. */
int bench_claim_all(prdshm_session *s);

/* Run local case @p id exactly @p n times (for callgrind).
 * @return 0, -1 on error, 1 if there is no such case. */
int local_run_fixed(const char *id, long n);
/* The ids of the local cases, NULL-terminated (for --help). */
extern const char *const local_case_ids[];

#endif
