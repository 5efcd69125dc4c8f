/*
 * test_last_error.c: the contract of prdshm_last_error() (prdshm.h): after
 * a call that returns an error code, the message of its failure, or "" if
 * it succeeded; never an earlier call's message.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* Leave a message behind: open a segment under a name that cannot be one. */
static void fail_something(void)
{
	prdshm_seg *seg = NULL;

	CU_ASSERT_NOT_EQUAL(prdshm_seg_open("no-slash", &seg), 0);
	CU_ASSERT_NOT_EQUAL(prdshm_last_error()[0], '\0');
}

/* @p r is a success and left no message. */
static void ok_and_clear(int r, const char *what)
{
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "");
	if (r != 0 || prdshm_last_error()[0] != '\0')
		fprintf(stderr, "\n  %s: %d, message \"%s\"\n", what, r, prdshm_last_error());
}

/* Each after a failure, so that a message left over would show. */
#define OK(call)                          \
	do {                              \
		fail_something();         \
		ok_and_clear(call, #call); \
	} while (0)

struct fx {
	prdshm_config cfg;
	prdshm_seg *seg;
	prdshm_session *s;
};

static void fx_create(struct fx *f)
{
	tu_config(&f->cfg);
	CU_ASSERT_EQUAL_FATAL(prdshm_config_set(&f->cfg, "max_phases", "4", PRDSHM_FROM_CMDLINE,
						NULL),
			      0);
	f->seg = tu_seg_create(&f->cfg);
	f->s = tu_session(f->seg, "me");
}

static void fx_destroy(struct fx *f)
{
	prdshm_session_close(f->s);
	tu_destroy(&f->cfg, f->seg);
}

/* Another session on @p f's segment, @p id, holding @p res EXCLUSIVE. */
static prdshm_session *fx_holder(struct fx *f, const char *id, const char *res)
{
	prdshm_session *s = tu_session(f->seg, id);

	CU_ASSERT_EQUAL(prdshm_lock(s, res, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	return s;
}

/* The lock path, its fast ways included: the thread's latest grant taken
 * back and released without the mutex. */
static void test_lock_path_clears(void)
{
	struct fx f;
	prdshm_holder h[2] = { PRDSHM_HOLDER_INIT };
	size_t n = 0, failed = 0;
	const char *two[] = { "m1", "m2" };

	fx_create(&f);
	OK(prdshm_lock(f.s, "a", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL));
	OK(prdshm_unlock(f.s, "a"));
	OK(prdshm_lock(f.s, "a", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL));
	OK(prdshm_unlock(f.s, "a"));
	OK(prdshm_lock(f.s, "a", PRDSHM_SHARED, 1000, NULL));
	OK(prdshm_upgrade(f.s, "a", 1000));
	OK(prdshm_downgrade(f.s, "a"));
	OK(prdshm_lock_query(f.seg, "a", 0, h, 2, &n));
	CU_ASSERT_EQUAL(n, 1);
	OK(prdshm_unlock_all(f.s, &n));
	OK(prdshm_lock_many(f.s, two, 2, PRDSHM_EXCLUSIVE, 1000, NULL, &failed));
	OK(prdshm_unlock_all(f.s, NULL));
	fx_destroy(&f);
}

/* A failure leaves its own message, and the next success clears it. */
static void test_failure_then_success(void)
{
	struct fx f;
	prdshm_session *other;

	fx_create(&f);
	other = fx_holder(&f, "other", "held");
	CU_ASSERT_EQUAL(prdshm_lock(f.s, "held", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "'held' is busy"));
	/* The naming functions leave it alone, in any order. */
	CU_ASSERT_STRING_EQUAL(prdshm_strerror(PRDSHM_EBUSY), "resource busy");
	CU_ASSERT_STRING_EQUAL(prdshm_err_name(PRDSHM_EBUSY), "PRDSHM_EBUSY");
	CU_ASSERT_PTR_NOT_NULL(prdshm_mode_name(PRDSHM_SHARED));
	CU_ASSERT_PTR_NOT_NULL(prdshm_version());
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "'held' is busy"));
	/* A failure replaces the message; a success clears it. */
	CU_ASSERT_EQUAL(prdshm_unlock(f.s, "held"), PRDSHM_ENOTHELD);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "not held by this session"));
	CU_ASSERT_PTR_NULL(strstr(prdshm_last_error(), "busy"));
	CU_ASSERT_EQUAL(prdshm_unlock(other, "held"), 0);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "");
	prdshm_session_close(other);
	fx_destroy(&f);
}

/* The segment, session, inspection and phase entry points. */
static void test_other_calls_clear(void)
{
	static const char plan[] = "phases:\n  - id: a\n  - id: b\n";
	struct fx f;
	prdshm_seg_info si = PRDSHM_SEG_INFO_INIT;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	prdshm_snapshot *snap = NULL;
	prdshm_session *s2 = NULL;
	prdshm_seg *seg2 = NULL;
	size_t reaped = 0;

	tu_config(&f.cfg);
	OK(prdshm_config_load_string(&f.cfg, plan, strlen(plan), "plan", NULL));
	OK(prdshm_seg_create(&f.cfg, &f.seg));
	OK(prdshm_session_open(f.seg, "me", 0, &f.s));
	OK(prdshm_seg_open(f.cfg.shm_name, &seg2));
	prdshm_seg_close(seg2);
	OK(prdshm_seg_open_cfg(&f.cfg, &seg2));
	prdshm_seg_close(seg2);
	OK(prdshm_seg_open_or_create(&f.cfg, &seg2, NULL));
	OK(prdshm_session_open(seg2, "two", 0, &s2));
	prdshm_session_close(s2);
	prdshm_seg_close(seg2);
	OK(prdshm_seg_info_get(f.seg, &si));
	OK(prdshm_snapshot_take(f.seg, 0, &snap));
	prdshm_snapshot_free(snap);
	OK(prdshm_check(f.seg, 0, NULL, NULL));
	OK(prdshm_reap(f.seg, 0, NULL, NULL, &reaped));
	OK(prdshm_recover(f.seg, NULL, NULL));
	OK(prdshm_agent_heartbeat(f.s));
	OK(prdshm_agent_log(f.s, "hello"));
	OK(prdshm_phase_claim(f.s, &c));
	OK(prdshm_phase_complete(f.s, c.index));
	OK(prdshm_phase_claim(f.s, &c));
	OK(prdshm_phase_fail(f.s, c.index, 1, "no"));
	OK(prdshm_phase_set(f.seg, f.s, "b", PRDSHM_PHASE_QUEUED));
	prdshm_session_close(f.s);
	prdshm_seg_close(f.seg);
	OK(prdshm_seg_unlink_unused(f.cfg.shm_name));
	OK(prdshm_seg_create(&f.cfg, &f.seg));
	prdshm_seg_close(f.seg);
	OK(prdshm_seg_unlink(f.cfg.shm_name));
	prdshm_config_free(&f.cfg);
}

/* Configuration calls; and a failed load keeps its message although it
 * frees what it began. */
static void test_config_calls(void)
{
	static const char bad[] = "max_locks: lots\n";
	prdshm_config cfg;
	prdshm_graph *g = NULL;
	char buf[64];
	FILE *out = fopen("/dev/null", "w");

	OK(prdshm_config_init_size(&cfg, sizeof(cfg)));
	OK(prdshm_config_set(&cfg, "max_locks", "64", PRDSHM_FROM_CMDLINE, NULL));
	OK(prdshm_config_get(&cfg, "max_locks", buf, sizeof(buf)));
	OK(prdshm_config_apply_env(&cfg, NULL));
	OK(prdshm_config_validate(&cfg, NULL));
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	OK(prdshm_config_write(&cfg, out));
	fclose(out);
	OK(prdshm_graph_build(cfg.phases, 0, &g, NULL));
	prdshm_graph_free(g);
	prdshm_config_free(&cfg);

	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL(prdshm_config_load_string(&cfg, bad, strlen(bad), "bad", NULL),
			PRDSHM_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "bad:1:12: max_locks: expected"));
	prdshm_config_free(&cfg);
}

/* prdshm_check()'s failures say what they are. */
static void test_check_failure_has_message(void)
{
	struct fx f;
	prdshm_session *dead;

	fx_create(&f);
	dead = fx_holder(&f, "gone", "r");
	/* Its OFD lock goes with its descriptor: the session is dead. */
	prdshm_session_abandon(dead);
	OK(prdshm_seg_info_get(f.seg, &(prdshm_seg_info)PRDSHM_SEG_INFO_INIT));
	CU_ASSERT_EQUAL(prdshm_check(f.seg, 0, NULL, NULL), PRDSHM_EDEADOWNER);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "dead agents hold locks or phases"));
	fx_destroy(&f);
}

/* A lock not obtained names its holder, as prdshm-lock does (issue 19). */
static void test_busy_names_holder(void)
{
	struct fx f;
	prdshm_session *other = NULL;
	char want[128];

	fx_create(&f);
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open(f.seg, "agent-2", 0, &other), 0);
	CU_ASSERT_EQUAL(prdshm_lock(other, "out.txt", PRDSHM_EXCLUSIVE, PRDSHM_TRY, "write"), 0);
	snprintf(want, sizeof(want), "held by agent-2 (pid %d, phase write, EXCLUSIVE)",
		 (int)getpid());
	CU_ASSERT_EQUAL(prdshm_lock(f.s, "out.txt", PRDSHM_SHARED, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "'out.txt' is busy: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), want));
	CU_ASSERT_EQUAL(prdshm_lock(f.s, "out.txt", PRDSHM_EXCLUSIVE, 30, NULL), PRDSHM_ETIMEDOUT);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "timed out waiting for 'out.txt': "));
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), want));
	if (strstr(prdshm_last_error(), want) == NULL)
		fprintf(stderr, "\n  message \"%s\"\n", prdshm_last_error());
	prdshm_session_close(other);
	fx_destroy(&f);
}

const tu_test tu_tests[] = {
	TU(test_busy_names_holder),
	TU(test_lock_path_clears),
	TU(test_failure_then_success),
	TU(test_other_calls_clear),
	TU(test_config_calls),
	TU(test_check_failure_has_message),
	{ NULL, NULL },
};
const char *tu_suite = "last_error";
