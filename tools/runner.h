/*
 * runner.h: code shared by prdshm-agent and prdshm-run (and linked, unused,
 * into the other tools): a monotonic clock, a signal latch that wakes
 * poll(), and line splitting for a child's output.
 */
#ifndef PRDSHM_TOOLS_RUNNER_H
#define PRDSHM_TOOLS_RUNNER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Time --------------------------------------------------------------- */

/** CLOCK_MONOTONIC in ns: for deadlines and intervals. */
uint64_t rn_mono_ns(void);

/** Sleep @p ms milliseconds or until a latched signal arrives. */
void rn_nap(int64_t ms);

/* ---- Signal latch -------------------------------------------------------- */

/*
 * The first SIGINT or SIGTERM is recorded in rn_stop_signal and wakes
 * poll() through a self-pipe; SIGCHLD only wakes.  The handlers are
 * installed without SA_RESTART, so blocking calls return EINTR.
 */
extern volatile sig_atomic_t rn_stop_signal;

/** Install the handlers.  @return 0, or -1 with errno set. */
int rn_signals_install(void);

/** The read end of the self-pipe, for poll(); -1 before install. */
int rn_wake_fd(void);

/** Empty the self-pipe after poll() reported it readable. */
void rn_wake_drain(void);

/** Restore the default dispositions (in a child, before exec). */
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
