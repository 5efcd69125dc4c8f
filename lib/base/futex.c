/*
 * futex.c: the futex system call behind the doorbells (see futex.h).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/futex.h"
#include "base/util.h"

/* What a sleep's system call returned, as prdshm__futex_wait() says. */
static int wait_result(long r)
{
	if (r == -1 && errno == ETIMEDOUT)
		return PRDSHM_ETIMEDOUT;
	/* A timed FUTEX_WAIT is never restarted after a signal handler ran,
	 * SA_RESTART or not (the kernel's restart block only resumes it when
	 * no handler ran): report it so that a wait can give up. */
	if (r == -1 && errno == EINTR)
		return PRDSHM_EINTR;
	return 0;
}

int prdshm__futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
	struct timespec ts;

	if (timeout_ns < 0)
		timeout_ns = 0;
	ts.tv_sec = (time_t)(timeout_ns / 1000000000);
	ts.tv_nsec = (long)(timeout_ns % 1000000000);
	/* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
	return wait_result(syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0));
}

int prdshm__futex_wait_bits(uint32_t *word, uint32_t expected, int64_t timeout_ns,
			    uint32_t bits)
{
	struct timespec ts;

	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (timeout_ns < 0)
		timeout_ns = 0;
	ts.tv_sec += (time_t)(timeout_ns / 1000000000);
	ts.tv_nsec += (long)(timeout_ns % 1000000000);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return wait_result(
		syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, &ts, NULL, bits));
}

void prdshm__futex_wake_bits(uint32_t *word, uint32_t bits)
{
	syscall(SYS_futex, word, FUTEX_WAKE_BITSET, INT_MAX, NULL, NULL, bits);
}

void prdshm__futex_wake_all(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}
