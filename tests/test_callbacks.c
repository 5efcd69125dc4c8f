/*
 * test_callbacks.c: the report callbacks of prdshm_check(), prdshm_reap()
 * and prdshm_recover() run with no segment mutex held, so a callback may
 * call back into the library on the same segment from the same thread.
 *
 * Each call runs in a child process, waited for with a bound: a callback
 * run under a partition mutex would deadlock on it (the mutexes are not
 * recursive) and the child would be killed at the bound.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/report.h"
#include "testutil.h"

/* One segment with a single lock partition (max_locks below 256), on which
 * a dead agent still holds "res". */
static void fx_create(prdshm_config *cfg)
{
	prdshm_seg *seg = NULL;

	tu_config(cfg);
	cfg->max_locks = 64;
	seg = tu_seg_create(cfg);
	prdshm_seg_close(seg);
}

/* Lock "res" and exit without releasing it. */
static int die_holding_res(void *p)
{
	const char *name = p;
	prdshm_session *s = tu_child_session(name, "victim", NULL);

	TU_CHILD_ASSERT(prdshm_lock(s, "res", PRDSHM_EXCLUSIVE, 0, NULL) == 0);
	return 0;
}

static void fx_destroy(prdshm_config *cfg)
{
	prdshm_seg_unlink(cfg->shm_name);
	prdshm_config_free(cfg);
}

/* What a callback does, and what became of it. */
struct reentry {
	prdshm_seg *seg;
	prdshm_session *s;
	int calls;     /* callbacks made */
	int failures;  /* library calls from a callback that failed */
	char first[256]; /* the first message */
};

/* Call the library on the segment whose operation is reporting: query the
 * dead agent's resource, take and release another, take a snapshot. */
static void reenter(struct reentry *e, const char *text)
{
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	prdshm_snapshot *snap = NULL;
	size_t n = 0;

	if (e->calls++ == 0)
		snprintf(e->first, sizeof(e->first), "%s", text);
	if (prdshm_lock_query(e->seg, "res", 0, h, 4, &n) != 0)
		e->failures++;
	if (prdshm_lock(e->s, "other", PRDSHM_EXCLUSIVE, 1000, NULL) != 0 ||
	    prdshm_unlock(e->s, "other") != 0)
		e->failures++;
	if (prdshm_snapshot_take(e->seg, 0, &snap) != 0)
		e->failures++;
	prdshm_snapshot_free(snap);
	/* A failure of the callback's own is not the operation's. */
	if (prdshm_unlock(e->s, "never-held") != PRDSHM_ENOTHELD)
		e->failures++;
}

static void on_problem(void *ctx, int severity, const char *problem)
{
	(void)severity;
	reenter(ctx, problem);
}

static void on_line(void *ctx, const char *line)
{
	reenter(ctx, line);
}

enum op { OP_CHECK, OP_REAP, OP_RECOVER };

struct op_arg {
	const char *shm_name;
	enum op op;
};

/* Run the operation with a re-entering callback: exit 0 if it reported,
 * every re-entrant call succeeded, and the operation did what it should. */
static int run_op(void *p)
{
	const struct op_arg *a = p;
	struct reentry e = { 0 };
	size_t reaped = 0;
	int r;

	TU_CHILD_ASSERT(prdshm_seg_open(a->shm_name, &e.seg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(e.seg, "caller", 0, &e.s) == 0);
	if (a->op == OP_CHECK) {
		r = prdshm_check(e.seg, 0, on_problem, &e);
		TU_CHILD_ASSERT(r == PRDSHM_EDEADOWNER);
		TU_CHILD_ASSERT(strstr(e.first, "dead agent victim") != NULL);
		/* The message is the check's, not the callback's calls'. */
		TU_CHILD_ASSERT(strstr(prdshm_last_error(), "dead agents hold") != NULL);
	} else if (a->op == OP_REAP) {
		r = prdshm_reap(e.seg, 0, on_line, &e, &reaped);
		TU_CHILD_ASSERT(r == 0);
		TU_CHILD_ASSERT(reaped == 1);
		TU_CHILD_ASSERT(prdshm_last_error()[0] == '\0');
	} else {
		r = prdshm_recover(e.seg, on_line, &e);
		TU_CHILD_ASSERT(r == 0);
		TU_CHILD_ASSERT(prdshm_last_error()[0] == '\0');
	}
	if (e.calls == 0 || e.failures != 0)
		fprintf(stderr, "op %d: %d callbacks, %d failed re-entrant calls (%s)\n", a->op,
			e.calls, e.failures, prdshm_last_error());
	TU_CHILD_ASSERT(e.calls > 0);
	TU_CHILD_ASSERT(e.failures == 0);
	prdshm_session_close(e.s);
	prdshm_seg_close(e.seg);
	return 0;
}

static void reentrant_callback(enum op op)
{
	prdshm_config cfg;
	struct op_arg a;

	fx_create(&cfg);
	CU_ASSERT_EQUAL_FATAL(tu_wait_child(tu_fork(die_holding_res, cfg.shm_name), 10000), 0);
	a.shm_name = cfg.shm_name;
	a.op = op;
	/* A deadlocked child is killed at the bound: -1. */
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(run_op, &a), 8000), 0);
	fx_destroy(&cfg);
}

static void test_check_callback_may_reenter(void)
{
	reentrant_callback(OP_CHECK);
}

static void test_reap_callback_may_reenter(void)
{
	reentrant_callback(OP_REAP);
}

static void test_recover_callback_may_reenter(void)
{
	reentrant_callback(OP_RECOVER);
}

/* The queue the callbacks are given from keeps order and severities. */
static void collect_sev(void *ctx, int severity, const char *text)
{
	char *out = ctx;
	size_t len = strlen(out);

	/* Long texts as their first three bytes. */
	snprintf(out + len, 256 - len, "%d:%.3s;", severity, text);
}

static void test_queue_keeps_order(void)
{
	struct prdshm__msgq q = { 0 };
	char out[256] = "";
	char big[600];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	prdshm__msgq_add(&q, 2, "first");
	prdshm__msgq_add(&q, 0, "second");
	for (int i = 0; i < 8; i++) /* past the first allocation */
		prdshm__msgq_add(&q, 1, big);
	prdshm__msgq_add(&q, 1, "last");
	prdshm__msgq_flush(&q, collect_sev, out);
	CU_ASSERT_STRING_EQUAL(out, "2:fir;0:sec;1:xxx;1:xxx;1:xxx;1:xxx;1:xxx;1:xxx;1:xxx;1:xxx;"
				    "1:las;");
	CU_ASSERT_EQUAL(q.len, 0);
	out[0] = '\0';
	prdshm__msgq_add(&q, 1, "again");
	prdshm__msgq_flush(&q, collect_sev, out);
	CU_ASSERT_STRING_EQUAL(out, "1:aga;");
	prdshm__msgq_free(&q);
}

const tu_test tu_tests[] = {
	TU(test_queue_keeps_order),
	TU(test_check_callback_may_reenter),
	TU(test_reap_callback_may_reenter),
	TU(test_recover_callback_may_reenter),
	{ NULL, NULL },
};
const char *tu_suite = "callbacks";
