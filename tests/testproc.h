/*
 * testproc.h: helpers for multi-process tests: bounded waits for a child's
 * exit or stop, pipes as synchronisation, and the children the tests share
 * (a dead agent, a holder stopped inside the library with a mutex held).
 *
 * Included by testutil.h; implemented in testproc.c.
 */
#ifndef PRDSHM_TESTPROC_H
#define PRDSHM_TESTPROC_H

#include <CUnit/CUnit.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

#include "prdshm.h"

/* Assert inside a child: on failure print and _exit(1). */
#define TU_CHILD_ASSERT(cond)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: child assertion failed: %s\n", \
				__FILE__, __LINE__, #cond);                    \
			_exit(1);                                              \
		}                                                              \
	} while (0)

/*
 * Wait for child @p pid at most @p timeout_ms.  Returns its exit status
 * (0..255), 128+signal if it was killed, or -1 on timeout (the child is then
 * SIGKILLed and reaped).
 */
int tu_wait_child(pid_t pid, int timeout_ms);

/* SIGKILL child @p pid and assert it died of it within @p timeout_ms.  A
 * macro, so that a failure names the test's line. */
#define TU_KILL_CHILD(pid, timeout_ms)                                         \
	do {                                                                   \
		kill((pid), SIGKILL);                                          \
		CU_ASSERT_EQUAL(tu_wait_child((pid), (timeout_ms)), 128 + SIGKILL); \
	} while (0)

/* Wait at most @p timeout_ms for child @p pid to stop (SIGSTOP).
 * Returns 1 if it did, 0 otherwise (timeout, exit, error). */
int tu_await_stopped(pid_t pid, int timeout_ms);

/* Write one byte to @p fd; read one byte from @p fd within @p timeout_ms.
 * tu_await returns the byte read, or -1 on timeout / EOF. */
void tu_signal(int fd, char c);
int tu_await(int fd, int timeout_ms);

/* Two pipes between a parent and its children: up (child -> parent) and
 * down (parent -> child), for tu_signal() and tu_await(). */
struct tu_pipes {
	int up[2];
	int down[2];
};
void tu_pipes_open(struct tu_pipes *p); /* asserted, fatally */
void tu_pipes_close(struct tu_pipes *p);

/* Milliseconds since an arbitrary start (CLOCK_MONOTONIC). */
int64_t tu_now_ms(void);

/* Where the tools are: "$BUILD/bin" ("build/bin" without BUILD). */
const char *tu_bindir(void);

/* Fork a child that runs @p fn(arg) and _exit()s with its return value. */
pid_t tu_fork(int (*fn)(void *arg), void *arg);

/* tu_fork(), then wait at most @p timeout_ms until the child has stopped
 * (a PRDSHM_STOP_AT holder); both asserted, fatally. */
pid_t tu_start_stopped(int (*fn)(void *arg), void *arg, int timeout_ms);

/* In a child: open the segment @p shm_name and a session @p id on it, or
 * _exit(1).  *@p segp (if not NULL) gets the segment, for the child to
 * close; a child that exits without closing leaves them as a dead agent's. */
prdshm_session *tu_child_session(const char *shm_name, const char *id, prdshm_seg **segp);

/* Child (tu_fork): open the segment named @p arg, claim its phase and exit
 * without closing: a dead agent holding an IN_PROGRESS phase. */
int tu_die_in_phase(void *arg);

/* Child: lock @p resource, new in the segment @p shm_name, as session
 * "wedged"; PRDSHM_STOP_AT=slot_alloc stops it holding the mutex of the
 * resource's lock partition.  Returns 1 if it ever gets past the stop. */
int tu_stop_in_lock_of(const char *shm_name, const char *resource);

/* tu_stop_in_lock_of() for the segment named @p arg and resource "res". */
int tu_stop_in_lock(void *arg);

/* Child: reap the segment named @p arg; PRDSHM_STOP_AT=phase_died stops it
 * while it fails a dead agent's phase, holding the session mutex and the
 * phase mutex.  Returns 1 if it ever gets past the stop. */
int tu_stop_in_reap(void *arg);

#endif
