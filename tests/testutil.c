/*
 * testutil.c: main() of every CUnit test program and the segment fixtures
 * the tests share (testutil.h).  Multi-process helpers: testproc.c.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "testutil.h"

static char shm_names[64][64];
static int nshm_names;

const char *tu_shm_name(void)
{
	static int counter;
	char *buf = shm_names[nshm_names++ % 64];

	snprintf(buf, sizeof(shm_names[0]), "/prdshm-t%ld-%d", (long)getpid(), counter++);
	return buf;
}

void tu_config(prdshm_config *cfg)
{
	prdshm_config_init(cfg);
	snprintf(cfg->shm_name, sizeof(cfg->shm_name), "%s", tu_shm_name());
	cfg->max_locks = 256;
	cfg->max_agents = 16;
	cfg->max_phases = 64;
}

int tu_backend_config(prdshm_config *cfg)
{
	const char *backend = getenv("PRDSHM_TEST_BACKEND");
	const char *hosts = getenv("PRDSHM_TEST_ZK_HOSTS");
	prdshm_diag d = PRDSHM_DIAG_INIT;

	tu_config(cfg);
	if (!backend || strcmp(backend, "zookeeper") != 0)
		return 0;
	CU_ASSERT_EQUAL(prdshm_config_set(cfg, "backend", "zookeeper", PRDSHM_FROM_CMDLINE, &d), 0);
	CU_ASSERT_EQUAL(prdshm_config_set(cfg, "zookeeper.hosts", hosts ? hosts : "127.0.0.1:2181",
					  PRDSHM_FROM_CMDLINE, &d),
			0);
	CU_ASSERT_EQUAL(prdshm_config_set(cfg, "zookeeper.root", "/prdshm-test",
					  PRDSHM_FROM_CMDLINE, &d),
			0);
	/* Short: a killed holder's locks go this long after its death. */
	CU_ASSERT_EQUAL(prdshm_config_set(cfg, "zookeeper.session_timeout_ms", "2000",
					  PRDSHM_FROM_CMDLINE, &d),
			0);
	return 1;
}

prdshm_seg *tu_seg_create(const prdshm_config *cfg)
{
	prdshm_seg *seg = NULL;
	int r = prdshm_seg_create(cfg, &seg);

	if (r)
		fprintf(stderr, "create: %s\n", prdshm_last_error());
	CU_ASSERT_EQUAL_FATAL(r, 0);
	return seg;
}

void tu_destroy(prdshm_config *cfg, prdshm_seg *seg)
{
	prdshm_seg_close(seg);
	prdshm_seg_unlink(cfg->shm_name);
	prdshm_config_free(cfg);
}

prdshm_session *tu_session(prdshm_seg *seg, const char *id)
{
	prdshm_session *s = NULL;
	int r = prdshm_session_open(seg, id, 0, &s);

	if (r)
		fprintf(stderr, "session %s: %s\n", id, prdshm_last_error());
	CU_ASSERT_EQUAL_FATAL(r, 0);
	return s;
}

size_t tu_holders(prdshm_seg *seg, const char *resource)
{
	prdshm_holder h[8] = { PRDSHM_HOLDER_INIT };
	size_t n = 0, held = 0;

	CU_ASSERT_EQUAL(prdshm_lock_query(seg, resource, 0, h, 8, &n), 0);
	for (size_t i = 0; i < n && i < 8; i++)
		held += !h[i].waiting;
	return held;
}

prdshm_seg *tu_create(prdshm_config *cfg, unsigned mode)
{
	tu_config(cfg);
	cfg->shm_mode = mode;
	return tu_seg_create(cfg);
}

void tu_config_with_plan(prdshm_config *cfg)
{
	static const char plan[] = "phase_max_attempts: 1\nphases:\n  - id: p0\n";
	prdshm_diag diag = PRDSHM_DIAG_INIT;

	tu_config(cfg);
	CU_ASSERT_EQUAL_FATAL(prdshm_config_load_string(cfg, plan, strlen(plan), "plan", &diag), 0);
}

prdshm_seg *tu_create_with_plan(prdshm_config *cfg)
{
	tu_config_with_plan(cfg);
	return tu_seg_create(cfg);
}

void tu_print_problem(void *ctx, int severity, const char *problem)
{
	(void)ctx;
	printf("  check %d: %s\n", severity, problem);
}

void tu_collect(void *ctx, const char *line)
{
	struct tu_lines *l = ctx;
	int n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s\n", line);

	if (n > 0 && (size_t)n < sizeof(l->text) - l->len)
		l->len += (size_t)n;
}

int tu_said(const struct tu_lines *l, const char *what)
{
	if (strstr(l->text, what))
		return 1;
	fprintf(stderr, "\n  wanted \"%s\" in:\n%s", what, l->text);
	return 0;
}

static void unlink_leftovers(void)
{
	for (int i = 0; i < nshm_names && i < 64; i++)
		prdshm_seg_unlink(shm_names[i]);
}

int main(int argc, char **argv)
{
	CU_pSuite suite;
	const char *only = argc > 1 ? argv[1] : NULL;
	unsigned run, failed;
	const char *t = getenv("TU_TIMEOUT");

	/* A watchdog: a hung test fails the program instead of the CI run. */
	alarm(t ? (unsigned)atoi(t) : 600);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	suite = CU_add_suite(tu_suite, NULL, NULL);
	for (const tu_test *x = tu_tests; x->name; x++) {
		if (only && strcmp(only, x->name) != 0)
			continue;
		CU_add_test(suite, x->name, x->fn);
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	run = CU_get_number_of_tests_run();
	failed = CU_get_number_of_tests_failed();
	printf("RESULT %s passed=%u failed=%u\n", tu_suite, run - failed, failed);
	CU_cleanup_registry();
	unlink_leftovers();
	return failed ? 1 : 0;
}
