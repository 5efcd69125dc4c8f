/*
 * exitcode.h: the exit codes of the prdshm-* tools, and the one mapping
 * from a library error to its exit code and its message on stderr.
 *
 * Exit codes are a contract: scripts depend on them and every man page lists
 * them.  Never renumber.
 */
#ifndef PRDSHM_TOOLS_EXITCODE_H
#define PRDSHM_TOOLS_EXITCODE_H

/* ---- Exit codes (the same in every tool) -------------------------------- */

#define TOOL_EXIT_OK 0
#define TOOL_EXIT_CONFLICT 1  /* lock not obtained: conflict or timeout */
#define TOOL_EXIT_REFUSED 2   /* refused in the current state */
#define TOOL_EXIT_DEAD 3      /* dead agents hold locks or phases */
#define TOOL_EXIT_CORRUPT 4   /* segment corrupt or incompatible */
#define TOOL_EXIT_STUCK 5     /* a stopped process holds a lock too long (--check) */
#define TOOL_EXIT_USAGE 64    /* bad command line */
#define TOOL_EXIT_CONFIG 65   /* invalid configuration */
#define TOOL_EXIT_NOSEG 66    /* no such segment */
#define TOOL_EXIT_NOTSUP 69   /* not supported by the selected backend, or its
				* service (ZooKeeper) unreachable: EX_UNAVAILABLE */
#define TOOL_EXIT_INTERNAL 70 /* internal error (out of memory, system call) */
#define TOOL_EXIT_EXISTS 73   /* segment already exists */
#define TOOL_EXIT_NOSPACE 74  /* not enough room in /dev/shm */
#define TOOL_EXIT_PERM 77     /* permission denied */

/** The exit code for library error @p err (0 for 0). */
int tool_exit_code(int err);

/**
 * Report library error @p err on stderr as "prdshm-<tool>: <what>: <why>",
 * where why is prdshm_last_error() (or prdshm_strerror(@p err) when the
 * library left no detail), and return its exit code.
 */
int tool_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
