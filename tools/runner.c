/*
 * runner.c: clock, signal latch (and the start of main() that installs
 * it) and line splitting for prdshm-agent, prdshm-run and prdshm-lock.
 * See runner.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "messages.h"
#include "segopen.h"
#include "runner.h"

volatile sig_atomic_t rn_stop_signal;
static int wake_pipe[2] = { -1, -1 };
/* The stop signals, and for each one whether a process sent it since
 * rn_forward() last looked (the handler sets it, rn_forward swaps it). */
static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define NSTOP (sizeof(stop_signals) / sizeof(stop_signals[0]))
static volatile sig_atomic_t sent[NSTOP];
/* SIGHUP's disposition at start: nohup(1) leaves it ignored, and so do we. */
static struct sigaction hup_at_start;
static int installed;

uint64_t rn_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void rn_nap(int64_t ms)
{
	if (ms <= 0 || rn_stop_signal)
		return;
	rn_await((int)ms);
}

void rn_await(int ms)
{
	struct pollfd p = { .fd = wake_pipe[0], .events = POLLIN };

	/* poll() rather than nanosleep(): the self-pipe also ends the sleep
	 * when a signal arrived just before the call. */
	if (poll(&p, wake_pipe[0] >= 0 ? 1 : 0, ms) > 0)
		rn_wake_drain();
}

static int stop_index(int sig)
{
	for (size_t i = 0; i < NSTOP; i++) {
		if (stop_signals[i] == sig)
			return (int)i;
	}
	return -1;
}

int rn_is_stop_signal(int sig)
{
	return stop_index(sig) >= 0;
}

static void on_signal(int sig, siginfo_t *si, void *uctx)
{
	int saved = errno;
	int i = stop_index(sig);
	char c = (char)sig;

	if (i >= 0 && rn_stop_signal == 0)
		rn_stop_signal = sig;
	if (i >= 0 && si->si_code != SI_KERNEL)
		sent[i] = 1;
	/* The library's wait ends only when a handler runs during its sleep:
	 * one that ran just before it (a window of microseconds) is repeated
	 * every second until the tool is gone.  alarm() is async-signal-safe. */
	if (rn_stop_signal && (i >= 0 || sig == SIGALRM))
		alarm(1);
	if (wake_pipe[1] >= 0 && write(wake_pipe[1], &c, 1) < 0) {
		/* Full pipe: a wake-up is already pending. */
	}
	errno = saved;
}

int rn_signals_install(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGALRM };
	struct sigaction sa;

	if (wake_pipe[0] < 0 && pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	if (!installed && sigaction(SIGHUP, NULL, &hup_at_start) != 0)
		return -1;
	installed = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	/* One handler at a time: rn_stop_signal keeps the first stop signal. */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: waits must notice the signal */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigs[i] == SIGHUP && hup_at_start.sa_handler == SIG_IGN)
			continue;
		if (sigaction(sigs[i], &sa, NULL) != 0)
			return -1;
	}
	return 0;
}

int rn_signals_setup(void)
{
	if (rn_signals_install() == 0)
		return 0;
	tool_err("cannot install signal handlers: %s", strerror(errno));
	return TOOL_EXIT_INTERNAL;
}

int rn_start(int parsed, const tool_common *tc, void (*usage)(FILE *out), prdshm_config *cfg)
{
	int rc = tool_parse_done(parsed, tc, usage);

	if (rc != TOOL_CONTINUE)
		return rc;
	rc = rn_signals_setup();
	if (rc == 0)
		rc = tool_load_config(tc, cfg);
	return rc ? rc : TOOL_CONTINUE;
}

unsigned rn_forward(pid_t pid)
{
	unsigned done = 0;

	for (size_t i = 0; i < NSTOP; i++) {
		/* Swapped, not read then cleared: a signal in between is kept. */
		if (__atomic_exchange_n(&sent[i], 0, __ATOMIC_SEQ_CST) &&
		    kill(pid, stop_signals[i]) == 0)
			done |= 1u << stop_signals[i];
	}
	return done;
}

void rn_block(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < NSTOP; i++)
		sigaddset(&set, stop_signals[i]);
	sigprocmask(SIG_BLOCK, &set, old);
}

int rn_die_of(int sig)
{
	sigset_t set;

	fflush(NULL);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	return 128 + sig;
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
	signal(SIGALRM, SIG_DFL);
	if (installed)
		sigaction(SIGHUP, &hup_at_start, NULL);
	else
		signal(SIGHUP, SIG_DFL);
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
