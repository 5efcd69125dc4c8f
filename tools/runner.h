/*
 * runner.h: code shared by the tools that wait and run commands,
 * prdshm-agent, prdshm-run and prdshm-lock (and linked, unused, into the
 * other tools): a monotonic clock, a signal latch that wakes poll() and
 * ends the library's waits (and the start of main() that installs it), and
 * line splitting for a child's output.
 */
#ifndef PRDSHM_TOOLS_RUNNER_H
#define PRDSHM_TOOLS_RUNNER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "options.h"
#include "prdshm.h"

/* ---- Time --------------------------------------------------------------- */

/** CLOCK_MONOTONIC in ns: for deadlines and intervals. */
uint64_t rn_mono_ns(void);

/** Sleep @p ms milliseconds or until a latched signal arrives. */
void rn_nap(int64_t ms);

/* ---- Signal latch -------------------------------------------------------- */

/*
 * The first SIGINT, SIGTERM or SIGHUP (the stop signals) is recorded in
 * rn_stop_signal and wakes poll() through a self-pipe; SIGCHLD only wakes.
 * The handlers are installed without SA_RESTART, so blocking calls return
 * EINTR and the library's lock and phase waits PRDSHM_EINTR (the lock
 * record withdrawn).  SIGHUP stays ignored when it was at start (nohup).
 *
 * A wait in the library ends only if the handler runs while it sleeps
 * (prdshm.h): after a stop signal, SIGALRM comes every second until the
 * tool exits, so a signal that landed just before a sleep still ends it.
 */
extern volatile sig_atomic_t rn_stop_signal;

/** Install the handlers.  @return 0, or -1 with errno set. */
int rn_signals_install(void);

/** rn_signals_install(), or say on stderr why it failed.
 *  @return 0, or TOOL_EXIT_INTERNAL. */
int rn_signals_setup(void);

/**
 * tool_start() for the tools that handle the stop signals: act on the
 * parser's result @p parsed, install the handlers (rn_signals_setup), then
 * load the configuration into @p cfg.  From then on a stop signal is the
 * tool's to handle: it leaves nothing half done.
 * @return TOOL_CONTINUE to go on, else the exit code (messages printed).
 */
int rn_start(int parsed, const tool_common *tc, void (*usage)(FILE *out), prdshm_config *cfg);

/** 1 if @p sig is a stop signal (SIGINT, SIGTERM, SIGHUP), else 0. */
int rn_is_stop_signal(int sig);

/**
 * Pass on to @p pid each stop signal that a process sent us (kill(2),
 * timeout(1)) since the last call.  Those the terminal sent (Ctrl-C, a
 * hangup: si_code SI_KERNEL) went to the whole foreground process group,
 * @p pid's included, and are not sent twice.
 * @return the signals passed on, as a mask of (1u << sig).
 */
unsigned rn_forward(pid_t pid);

/** Block the stop signals (around fork(): the child restores the
 *  dispositions before it unblocks them).  @p old gets the previous mask. */
void rn_block(sigset_t *old);

/** Sleep until a handled signal arrives (SIGCHLD too) or @p ms pass. */
void rn_await(int ms);

/**
 * Die of @p sig, one of the stop signals, once everything is cleaned up:
 * stdio flushed, its default disposition restored, raised.  The parent sees
 * a death by the signal (a shell's $? is 128 + @p sig), as if no handler
 * had been installed.  @return 128 + @p sig if still alive.
 */
int rn_die_of(int sig);

/** The read end of the self-pipe, for poll(); -1 before install. */
int rn_wake_fd(void);

/** Empty the self-pipe after poll() reported it readable. */
void rn_wake_drain(void);

/** Restore the dispositions a command should start with (in a child,
 *  before exec): the defaults, SIGHUP as the tool found it. */
void rn_signals_default(void);

/* ---- Lines of a child's output ------------------------------------------ */

#define RN_LINE_MAX 4096

/* A stream read from a pipe, split into lines; an overlong line is cut. */
typedef struct rn_lines {
	int fd;          /* -1 once at end of file */
	size_t len;
	char buf[RN_LINE_MAX];
} rn_lines;

/**
 * Read what is available from @p ls->fd and call @p fn once per complete
 * line (without its newline).  At end of file the unfinished last line is
 * delivered too, the descriptor is closed and set to -1.
 * @return 0, or -1 on a read error (the stream is then closed).
 */
int rn_lines_read(rn_lines *ls, void (*fn)(void *ctx, const char *line), void *ctx);

#endif
