/*
 * testutil.h: the shared main of the CUnit test programs and helpers for
 * multi-process tests (bounded waits, pipes as synchronisation).
 *
 * A test program defines its tests and the suite name:
 *
 *     static void test_something(void) { CU_ASSERT_EQUAL(f(), 0); }
 *     const tu_test tu_tests[] = { TU(test_something), { NULL, NULL } };
 *     const char *tu_suite = "something";
 *
 * and links with testutil.c, which provides main().
 */
#ifndef PRDSHM_TESTUTIL_H
#define PRDSHM_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <stdint.h>
#include <sys/types.h>

#include "prdshm.h"

typedef struct tu_test {
	const char *name;
	void (*fn)(void);
} tu_test;

#define TU(fn) { #fn, fn }

extern const tu_test tu_tests[];
extern const char *tu_suite;

/* A segment name unique to this process and call: "/prdshm-t<pid>-<n>". */
const char *tu_shm_name(void);

/* Defaults with a unique shm_name and small limits; caller frees. */
void tu_config(prdshm_config *cfg);

/*
 * Wait for child @p pid at most @p timeout_ms.  Returns its exit status
 * (0..255), 128+signal if it was killed, or -1 on timeout (the child is then
 * SIGKILLed and reaped).
 */
int tu_wait_child(pid_t pid, int timeout_ms);

/* Wait at most @p timeout_ms for child @p pid to stop (SIGSTOP).
 * Returns 1 if it did, 0 otherwise (timeout, exit, error). */
int tu_await_stopped(pid_t pid, int timeout_ms);

/* Write one byte to @p fd; read one byte from @p fd within @p timeout_ms.
 * tu_await returns the byte read, or -1 on timeout / EOF. */
void tu_signal(int fd, char c);
int tu_await(int fd, int timeout_ms);

/* tu_config() for a suite run against either backend: PRDSHM_TEST_BACKEND
 * "zookeeper" selects ZooKeeper at PRDSHM_TEST_ZK_HOSTS (tests/zk/run.sh
 * starts a server and sets both), with a 2 s session timeout; anything
 * else, shared memory.  @return 1 for ZooKeeper, 0 for shared memory. */
int tu_backend_config(prdshm_config *cfg);

/* Milliseconds since an arbitrary start (CLOCK_MONOTONIC). */
int64_t tu_now_ms(void);

/* Fork a child that runs @p fn(arg) and _exit()s with its return value. */
pid_t tu_fork(int (*fn)(void *arg), void *arg);

/* A generous bound on anything the library promises to bound by
 * PRDSHM_RECOVER_WAIT_MS: past it a call is taken as hung. */
#define TU_HUNG_MS (PRDSHM_RECOVER_WAIT_MS * 5 + 10000)

/* tu_config() with @p mode as shm_mode, created (asserted). */
prdshm_seg *tu_create(prdshm_config *cfg, unsigned mode);

/* tu_config() with a plan of one phase "p0" (one attempt), created. */
prdshm_seg *tu_create_with_plan(prdshm_config *cfg);

/* Child (tu_fork): open the segment named @p arg, claim its phase and exit
 * without closing: a dead agent holding an IN_PROGRESS phase. */
int tu_die_in_phase(void *arg);

/* A prdshm_check() problem printer ("  check N: text"). */
void tu_print_problem(void *ctx, int severity, const char *problem);

/* What a report callback said, one line after another (tu_collect as the
 * callback, the struct as its context). */
struct tu_lines {
	char text[8192];
	size_t len;
};
void tu_collect(void *ctx, const char *line);
/* 1 if @p l holds @p what; else prints both and returns 0. */
int tu_said(const struct tu_lines *l, const char *what);

/* Assert inside a child: on failure print and _exit(1). */
#define TU_CHILD_ASSERT(cond)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: child assertion failed: %s\n", \
				__FILE__, __LINE__, #cond);                    \
			_exit(1);                                              \
		}                                                              \
	} while (0)

#endif
