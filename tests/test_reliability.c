/*
 * test_reliability.c: permissions and hostile names (docs/reliability.md).
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define NOBODY 65534

static void print_problem(void *ctx, int severity, const char *problem)
{
	(void)ctx;
	printf("  check %d: %s\n", severity, problem);
}

static prdshm_seg *create(prdshm_config *cfg, unsigned mode)
{
	prdshm_seg *seg = NULL;

	tu_config(cfg);
	cfg->shm_mode = mode;
	CU_ASSERT_EQUAL_FATAL(prdshm_seg_create(cfg, &seg), 0);
	return seg;
}

static unsigned file_mode(const char *shm_name)
{
	char path[300];
	struct stat st;

	snprintf(path, sizeof(path), "/dev/shm%s", shm_name);
	if (stat(path, &st) != 0)
		return 0;
	return st.st_mode & 07777;
}

static void test_created_0600_by_default(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg, 0600);

	CU_ASSERT_EQUAL(file_mode(cfg.shm_name), 0600);
	prdshm_seg_close(seg);
	prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
}

/* As nobody/nogroup without supplementary groups: open must fail with
 * EACCES while the mode does not grant access, and succeed once it does. */
static int open_as_nobody(void *arg)
{
	prdshm_seg *seg = NULL;
	gid_t none[1] = { NOBODY };
	int r;

	if (setgroups(0, none) != 0 || setresgid(NOBODY, NOBODY, NOBODY) != 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) != 0)
		return 10;
	r = prdshm_seg_open((const char *)arg, &seg);
	prdshm_seg_close(seg);
	return r == PRDSHM_EACCES ? 0 : r == 0 ? 1 : 2;
}

static void test_other_user_gets_eacces(void)
{
	prdshm_config cfg;
	prdshm_seg *seg;

	if (geteuid() != 0) {
		printf("  (skipped: needs root to become nobody)\n");
		return;
	}
	if (getenv("TU_WRAPPED") && *getenv("TU_WRAPPED")) {
		/* valgrind cannot follow a child that drops to another user. */
		printf("  (skipped under a checker: the child changes user)\n");
		return;
	}
	seg = create(&cfg, 0600);
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(open_as_nobody, cfg.shm_name), 10000), 0);
	prdshm_seg_close(seg);
	prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
	/* Granted by the mode: the open succeeds (exit 1 from the child). */
	seg = create(&cfg, 0666);
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(open_as_nobody, cfg.shm_name), 10000), 1);
	prdshm_seg_close(seg);
	prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
}

/* Names with control bytes, quotes and the longest lengths go through the
 * snapshot intact and never break a check. */
static void test_hostile_names(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg, 0600);
	prdshm_session *s = NULL;
	prdshm_snapshot *snap = NULL;
	char longest[PRDSHM_NAME_MAX + 1];
	const char *odd = "a\"b\\c\n\x01\x1b[31m\x7f\xff end";

	memset(longest, 'x', PRDSHM_NAME_MAX);
	longest[PRDSHM_NAME_MAX] = '\0';
	CU_ASSERT_EQUAL_FATAL(prdshm_session_open(seg, "agent-\"q\"", 0, &s), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, odd, PRDSHM_EXCLUSIVE, PRDSHM_TRY, "ph\"1"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, longest, PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_session_open(seg, "bad id", 0, &(prdshm_session *){ NULL }),
			PRDSHM_ENAME);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, print_problem, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->nlocks, 2);
	for (size_t i = 0; i < snap->nlocks; i++) {
		const prdshm_lock_info *l = &snap->locks[i];
		CU_ASSERT(l->resource_len == strlen(odd) || l->resource_len == PRDSHM_NAME_MAX);
		CU_ASSERT_EQUAL(strlen(l->resource), l->resource_len);
	}
	prdshm_snapshot_free(snap);
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
}

const tu_test tu_tests[] = {
	TU(test_created_0600_by_default),
	TU(test_other_user_gets_eacces),
	TU(test_hostile_names),
	{ NULL, NULL },
};
const char *tu_suite = "reliability";
