/*
 * lockfix.h: the lock-table fixture of test_locks and test_lock_procs
 * (lockfix.c).
 */
#ifndef PRDSHM_TEST_LOCKFIX_H
#define PRDSHM_TEST_LOCKFIX_H

#include "testutil.h"

/* The segment of the running test and its configuration. */
extern prdshm_config tl_cfg;
extern prdshm_seg *tl_seg;

/* Create tl_seg with @p max_locks and deadlock checks after 300 ms. */
void tl_setup(int max_locks);
void tl_teardown(void);

/* Open session @p id on tl_seg (asserted, not fatally). */
prdshm_session *tl_session(const char *id);

/* Children open their own handles: never the parent's after fork. */
prdshm_session *tl_child_session(const char *id, prdshm_seg **cseg);

/* prdshm_check() of tl_seg, its problems printed: 0 for a sound one. */
int tl_healthy(void);

/* 1 if agent @p id alone holds @p res, in @p mode, for phase @p phase. */
int tl_held_alone_by(const char *res, const char *id, prdshm_mode mode, const char *phase);

#endif
