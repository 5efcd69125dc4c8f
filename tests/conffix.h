/*
 * conffix.h: the fixture of the conformance suites, run on every backend
 * (`make check` on shared memory, tests/cli/zookeeper.sh again on a
 * ZooKeeper server): test_lockconf and test_lockfaults for locks,
 * test_phaseconf and test_phaseprocs for phases.
 *
 * One segment at a time, from tu_backend_config(), in cfg and seg; the
 * children are fresh images of the test program (confspawn.h), told their
 * role by CONF_* variables, which the program's constructor reads through
 * conf_child() before main().  Only the public API, but for the plan
 * image read on ZooKeeper while snapshots are not done there.
 */
#ifndef PRDSHM_CONFFIX_H
#define PRDSHM_CONFFIX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "prdshm.h"

/* The configuration under test (a child's: from its environment), its
 * segment, and whether it is ZooKeeper's. */
extern prdshm_config cfg;
extern prdshm_seg *seg;
extern int on_zk;

/* A segment for the backend under test, with the default configuration. */
void setup(void);
/* Close the segment and remove it, and free cfg. */
void teardown(void);
prdshm_session *session(const char *id);

/* ---- Children -------------------------------------------------------------- */

/* What a child is told: its role and the arguments of that role. */
struct conf_child {
	const char *role;
	const char *id;
	const char *resource;
	int mode;
	int out; /* write end to the parent */
	int in;  /* read end from the parent */
};

/* Start this program again as a child of role @p role (NULL @p id or
 * @p resource: "x" and "r"). */
pid_t spawn(const char *role, const char *id, const char *resource, int mode, int out, int in);
/* In a child: fill @p c and load cfg from the environment, and run the
 * role "locker" (struct locker) to its exit.  @return 0 in the parent. */
int conf_child(struct conf_child *c);

/* Read a line (without its '\n') from a child, bounded.  @return its
 * length, or -1. */
int read_line(int fd, char *buf, size_t size);
void close_pipes(int a[2], int b[2]);

/* ---- Locks ----------------------------------------------------------------- */

/* Records of @p resource that would block @p mode (0: all); SIZE_MAX if
 * the query fails.  No CUnit assertion: children use it too. */
size_t records(const char *resource, prdshm_mode mode);
/* Poll (bounded) until @p resource has @p n records. */
int await_records(const char *resource, size_t n);

/* A child that locks, reports, and waits to be told to unlock. */
struct locker {
	const char *id;
	const char *resource;
	prdshm_mode mode;
	int report; /* write end: one byte ('0' + id[0]) once granted */
	int go;     /* read end: unlock and exit once a byte comes */
};

/* Start a child of role "locker", with a new pipe @p go to tell it to
 * unlock. */
pid_t start_locker(struct locker *l, const char *id, const char *resource, prdshm_mode mode,
		   int report_fd, int go[2]);

/* ---- Phases ---------------------------------------------------------------- */

/* A configuration for the backend under test, with no phases yet. */
void plan_config(prdshm_scheduling sched, int parallel, int attempts);
/* The segment of cfg's plan. */
void create(void);
/* Chain a -> b -> c, and d alone (tp_chain_plan()'s plan). */
void chain_plan(int attempts);

/* What the tests read of a phase. */
struct pstate {
	int status; /* -1: no such phase */
	uint32_t attempts;
	int exit_status;
	char message[PRDSHM_MSG_MAX + 1];
	uint32_t current_wave;
};

struct pstate state_of(const char *id);

#define STATUS(id, st) CU_ASSERT_EQUAL(state_of(id).status, PRDSHM_PHASE_##st)

#endif
