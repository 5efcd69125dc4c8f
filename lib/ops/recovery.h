/*
 * recovery.h: recovery.c's test hook (never installed).
 */
#ifndef PRDSHM_INTERNAL_RECOVERY_H
#define PRDSHM_INTERNAL_RECOVERY_H

/*
 * Test-only: defined in PRDSHM_TEST_HOOKS builds (the library the tests
 * link), declared for every build so that the tests see it.  When set,
 * prdshm_recover() calls it with prdshm__recover_hook_arg, holding the
 * recovery byte, before it repairs anything: a test holds a recovery in
 * progress there (the report callback, which once served for that, now
 * runs after the recovery).  Set it before the recovering threads start.
 */
extern void (*prdshm__recover_hook)(void *arg);
extern void *prdshm__recover_hook_arg;

#endif
