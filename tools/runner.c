/*
 * runner.c: clock, signal latch and line splitting for prdshm-agent and
 * prdshm-run.  See runner.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

volatile sig_atomic_t rn_stop_signal;
static int wake_pipe[2] = { -1, -1 };

uint64_t rn_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void rn_nap(int64_t ms)
{
	struct pollfd p = { .fd = wake_pipe[0], .events = POLLIN };

	if (ms <= 0 || rn_stop_signal)
		return;
	/* poll() rather than nanosleep(): the self-pipe also ends the nap
	 * when a signal arrived just before the call. */
	if (poll(&p, wake_pipe[0] >= 0 ? 1 : 0, (int)ms) > 0)
		rn_wake_drain();
}

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if ((sig == SIGINT || sig == SIGTERM) && rn_stop_signal == 0)
		rn_stop_signal = sig;
	if (wake_pipe[1] >= 0 && write(wake_pipe[1], &c, 1) < 0) {
		/* Full pipe: a wake-up is already pending. */
	}
	errno = saved;
}

int rn_signals_install(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGCHLD };
	struct sigaction sa;

	if (wake_pipe[0] < 0 && pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: waits must notice the signal */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigaction(sigs[i], &sa, NULL) != 0)
			return -1;
	}
	return 0;
}

int rn_wake_fd(void)
{
	return wake_pipe[0];
}

void rn_wake_drain(void)
{
	char buf[64];

	while (wake_pipe[0] >= 0 && read(wake_pipe[0], buf, sizeof(buf)) > 0)
		;
}

void rn_signals_default(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
}

/* Deliver the complete lines at the start of the buffer; keep the rest. */
static void emit_lines(rn_lines *ls, void (*fn)(void *ctx, const char *line), void *ctx)
{
	size_t start = 0;

	for (size_t i = 0; i < ls->len; i++) {
		if (ls->buf[i] != '\n')
			continue;
		ls->buf[i] = '\0';
		fn(ctx, ls->buf + start);
		start = i + 1;
	}
	memmove(ls->buf, ls->buf + start, ls->len - start);
	ls->len -= start;
	/* A line longer than the buffer is delivered in pieces. */
	if (ls->len == sizeof(ls->buf) - 1) {
		ls->buf[ls->len] = '\0';
		fn(ctx, ls->buf);
		ls->len = 0;
	}
}

static void lines_close(rn_lines *ls, void (*fn)(void *ctx, const char *line), void *ctx)
{
	if (ls->len > 0) {
		ls->buf[ls->len] = '\0';
		fn(ctx, ls->buf);
		ls->len = 0;
	}
	close(ls->fd);
	ls->fd = -1;
}

int rn_lines_read(rn_lines *ls, void (*fn)(void *ctx, const char *line), void *ctx)
{
	ssize_t n;

	if (ls->fd < 0)
		return 0;
	n = read(ls->fd, ls->buf + ls->len, sizeof(ls->buf) - 1 - ls->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		lines_close(ls, fn, ctx);
		return n == 0 ? 0 : -1;
	}
	ls->len += (size_t)n;
	emit_lines(ls, fn, ctx);
	return 0;
}
