/*
 * testproc.c: the multi-process helpers of testproc.h: bounded waits for a
 * child, one-byte pipe messages, and the children several tests fork.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

int64_t tu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tu_wait_child(pid_t pid, int timeout_ms)
{
	int64_t deadline = tu_now_ms() + timeout_ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (tu_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		/* Polling a child's exit: there is no descriptor to wait on. */
		usleep(1000);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int tu_await_stopped(pid_t pid, int timeout_ms)
{
	int64_t deadline = tu_now_ms() + timeout_ms;
	int status;

	while (tu_now_ms() < deadline) {
		pid_t r = waitpid(pid, &status, WUNTRACED | WNOHANG);
		if (r == pid)
			return WIFSTOPPED(status);
		if (r < 0 && errno != EINTR)
			return 0;
		/* Polling: a stop has no descriptor to wait on. */
		usleep(1000);
	}
	return 0;
}

void tu_signal(int fd, char c)
{
	while (write(fd, &c, 1) < 0 && errno == EINTR)
		;
}

int tu_await(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	unsigned char c;
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return -1;
	if (read(fd, &c, 1) != 1)
		return -1;
	return c;
}

void tu_pipes_open(struct tu_pipes *p)
{
	CU_ASSERT_FATAL(pipe(p->up) == 0 && pipe(p->down) == 0);
}

void tu_pipes_close(struct tu_pipes *p)
{
	close(p->up[0]);
	close(p->up[1]);
	close(p->down[0]);
	close(p->down[1]);
}

pid_t tu_fork(int (*fn)(void *arg), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

const char *tu_bindir(void)
{
	static char dir[512];
	const char *b = getenv("BUILD");

	snprintf(dir, sizeof(dir), "%s/bin", b && b[0] ? b : "build");
	return dir;
}

pid_t tu_start_stopped(int (*fn)(void *arg), void *arg, int timeout_ms)
{
	pid_t pid = tu_fork(fn, arg);

	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_FATAL(tu_await_stopped(pid, timeout_ms));
	return pid;
}

prdshm_session *tu_child_session(const char *shm_name, const char *id, prdshm_seg **segp)
{
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open(shm_name, &seg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(seg, id, 0, &s) == 0);
	if (segp)
		*segp = seg;
	return s;
}

int tu_die_in_phase(void *arg)
{
	prdshm_session *s = tu_child_session((const char *)arg, "doomed", NULL);
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	TU_CHILD_ASSERT(prdshm_phase_claim(s, &c) == 0);
	return 0;
}

int tu_stop_in_lock_of(const char *shm_name, const char *resource)
{
	prdshm_session *s = tu_child_session(shm_name, "wedged", NULL);

	setenv("PRDSHM_STOP_AT", "slot_alloc", 1);
	prdshm_lock(s, resource, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL);
	return 1; /* not reached before SIGCONT */
}

int tu_stop_in_lock(void *arg)
{
	return tu_stop_in_lock_of((const char *)arg, "res");
}

int tu_stop_in_reap(void *arg)
{
	prdshm_seg *seg = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open((const char *)arg, &seg) == 0);
	setenv("PRDSHM_STOP_AT", "phase_died", 1);
	prdshm_reap(seg, 0, NULL, NULL, NULL);
	return 1;
}
