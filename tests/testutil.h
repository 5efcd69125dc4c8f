/*
 * testutil.h: the shared main of the CUnit test programs and the segment
 * fixtures they share.  The multi-process helpers (bounded waits, pipes as
 * synchronisation, shared children) are in testproc.h, included here.
 *
 * A test program defines its tests and the suite name:
 *
 *     static void test_something(void) { CU_ASSERT_EQUAL(f(), 0); }
 *     const tu_test tu_tests[] = { TU(test_something), { NULL, NULL } };
 *     const char *tu_suite = "something";
 *
 * and links with testutil.c, which provides main().  The Makefile links
 * every C file of tests/ but the test_ programs into each of them: the
 * fixtures of one family of programs live there too (phaseplan.c,
 * lockfix.c, configfix.c, recoveryfix.c), each with its own header.
 */
#ifndef PRDSHM_TESTUTIL_H
#define PRDSHM_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <stdint.h>
#include <sys/types.h>

#include "prdshm.h"
#include "testproc.h"

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

/* tu_config() for a suite run against either backend: PRDSHM_TEST_BACKEND
 * "zookeeper" selects ZooKeeper at PRDSHM_TEST_ZK_HOSTS (tests/zk/run.sh
 * starts a server and sets both), with a 2 s session timeout; anything
 * else, shared memory.  @return 1 for ZooKeeper, 0 for shared memory. */
int tu_backend_config(prdshm_config *cfg);

/* A generous bound on anything the library promises to bound by
 * PRDSHM_RECOVER_WAIT_MS: past it a call is taken as hung. */
#define TU_HUNG_MS (PRDSHM_RECOVER_WAIT_MS * 5 + 10000)

/* Create the segment @p cfg describes, asserted (fatally), with the
 * library's message on failure. */
prdshm_seg *tu_seg_create(const prdshm_config *cfg);

/* Close @p seg (NULL allowed), unlink @p cfg's segment, free @p cfg. */
void tu_destroy(prdshm_config *cfg, prdshm_seg *seg);

/* Open session @p id on @p seg, asserted (fatally), with the library's
 * message on failure. */
prdshm_session *tu_session(prdshm_seg *seg, const char *id);

/* Number of sessions holding (not waiting for) @p resource. */
size_t tu_holders(prdshm_seg *seg, const char *resource);

/* tu_config() with @p mode as shm_mode, created (asserted). */
prdshm_seg *tu_create(prdshm_config *cfg, unsigned mode);

/* tu_config() with a plan of one phase "p0" (one attempt), not created. */
void tu_config_with_plan(prdshm_config *cfg);

/* tu_config_with_plan(), created. */
prdshm_seg *tu_create_with_plan(prdshm_config *cfg);

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

#endif
