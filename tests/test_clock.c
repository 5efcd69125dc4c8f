/*
 * test_clock.c: a step of the wall clock does not stretch a mutex wait
 * (docs/reliability.md, "Monotonic slices").
 *
 * This program defines clock_gettime(), so the library, linked in
 * statically, reads the clocks through it; glibc's own calls (the futex
 * deadlines the kernel checks) do not.  When `stepped` is set, the wall
 * clock (CLOCK_REALTIME and its coarse variant) reads one hour ahead: to
 * the library, as if the clock had stepped back by an hour after it
 * computed a deadline.  A mutex wait whose slices had CLOCK_REALTIME
 * deadlines would then sleep an hour; on the monotonic clock it ends at
 * its timeout.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "testutil.h"

#define STEP_S 3600
#define HUNG_MS 20000

static volatile int stepped;

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	int r = (int)syscall(SYS_clock_gettime, clk, ts);

	if (r == 0 && stepped && (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE))
		ts->tv_sec += STEP_S;
	return r;
}

/* Child: with the wall clock stepped, a timed lock on the wedged partition
 * ends with PRDSHM_ETIMEDOUT, not an hour later. */
static int timed_lock_stepped(void *arg)
{
	prdshm_session *s = tu_child_session((const char *)arg, "waiter", NULL);
	int r;

	stepped = 1;
	r = prdshm_lock(s, "res", PRDSHM_EXCLUSIVE, 300, NULL);
	printf("  timed lock: %s: %s\n", prdshm_err_name(r), prdshm_last_error());
	TU_CHILD_ASSERT(r == PRDSHM_ETIMEDOUT);
	return 0;
}

/* The interposition reaches the library: the time it records for a grant
 * (CLOCK_REALTIME_COARSE) is the stepped one. */
static void test_library_sees_the_stepped_clock(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tu_create(&cfg, 0600);
	prdshm_session *s = tu_session(seg, "a");
	prdshm_holder h = PRDSHM_HOLDER_INIT;
	struct timespec now;
	size_t n = 0;

	stepped = 1;
	CU_ASSERT_EQUAL(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	stepped = 0;
	CU_ASSERT_EQUAL(prdshm_lock_query(seg, "r", 0, &h, 1, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &now);
	CU_ASSERT(h.since_ns / 1000000000u >= (uint64_t)now.tv_sec + STEP_S - 60);
	prdshm_session_close(s);
	tu_destroy(&cfg, seg);
}

static void test_wall_clock_step_does_not_stretch_a_wait(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	pid_t holder;

#ifdef PRDSHM__TSAN
	/* ThreadSanitizer builds keep CLOCK_REALTIME slices (lib/shm/robust.c,
	 * lock_slice): it does not know pthread_mutex_clocklock. */
	printf("  ThreadSanitizer build: realtime slices by design, not tested\n");
	return;
#endif
	tu_config(&cfg);
	seg = tu_seg_create(&cfg);
	holder = tu_start_stopped(tu_stop_in_lock, cfg.shm_name, HUNG_MS);
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(timed_lock_stepped, cfg.shm_name), HUNG_MS), 0);
	TU_KILL_CHILD(holder, HUNG_MS);
	tu_destroy(&cfg, seg);
}

const tu_test tu_tests[] = {
	TU(test_library_sees_the_stepped_clock),
	TU(test_wall_clock_step_does_not_stretch_a_wait),
	{ NULL, NULL },
};
const char *tu_suite = "clock";
