/*
 * configfix.c: what the configuration test programs (test_config,
 * test_config_errors) share: loading YAML into fresh defaults, a load or a
 * validation that must fail at a position with a message, a key's value,
 * a temporary file, the PRD_PARALLEL_ variables cleared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "configfix.h"

/* Every PRD_PARALLEL_ variable a test may set; cleared before and after. */
static const char *const env_vars[] = {
	"PRD_PARALLEL_MAX_PARALLEL_AGENTS", "PRD_PARALLEL_MAX_LOCKS", "PRD_PARALLEL_MAX_AGENTS",
	"PRD_PARALLEL_SCHEDULING",          "PRD_PARALLEL_SHM_NAME",  "PRD_PARALLEL_SHM_MODE",
	"PRD_PARALLEL_LOCK_TIMEOUT_SECONDS", "PRD_PARALLEL_BACKEND", "PRD_PARALLEL_ZOOKEEPER_HOSTS",
	"PRD_PARALLEL_ZOOKEEPER_SESSION_TIMEOUT_MS", NULL,
};

void tc_clear_env(void)
{
	for (size_t i = 0; env_vars[i]; i++)
		unsetenv(env_vars[i]);
}

/* Load @p yaml into fresh defaults; the caller frees @p cfg. */
int tc_load(prdshm_config *cfg, const char *yaml, prdshm_diag *d)
{
	prdshm_config_init(cfg);
	return prdshm_config_load_string(cfg, yaml, strlen(yaml), FILE_NAME, d);
}

/* @p d points at @p line:@p col of FILE_NAME (@p yaml) with @p msg in its
 * message. */
static void expect_diag(const prdshm_diag *d, const char *yaml, int line, int col,
			const char *msg)
{
	CU_ASSERT_STRING_EQUAL(d->file, FILE_NAME);
	CU_ASSERT_EQUAL(d->line, line);
	CU_ASSERT_EQUAL(d->column, col);
	CU_ASSERT_PTR_NOT_NULL(strstr(d->msg, msg));
	if (!strstr(d->msg, msg) || d->line != line || d->column != col)
		fprintf(stderr, "\n  for %s\n  got %d:%d: %s\n  want %d:%d: %s\n", yaml, d->line,
			d->column, d->msg, line, col, msg);
}

/* A load that must fail with ECONFIG at @p line:@p col with @p msg in the message. */
void tc_expect_error(const char *yaml, int line, int col, const char *msg)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	int err = tc_load(&cfg, yaml, &d);

	CU_ASSERT_EQUAL(err, PRDSHM_ECONFIG);
	expect_diag(&d, yaml, line, col, msg);
	/* Nothing of a bad file is used. */
	CU_ASSERT_EQUAL(cfg.max_locks, 1024);
	CU_ASSERT_EQUAL(cfg.nphases, 0);
	CU_ASSERT_PTR_NULL(cfg.path_);
	prdshm_config_free(&cfg);
}

/* A load that succeeds and a validate that fails like tc_expect_error(). */
void tc_expect_invalid(const char *yaml, int line, int col, const char *msg)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	CU_ASSERT_EQUAL_FATAL(tc_load(&cfg, yaml, &d), 0);
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), PRDSHM_ECONFIG);
	expect_diag(&d, yaml, line, col, msg);
	prdshm_config_free(&cfg);
}

void tc_expect_value(const prdshm_config *cfg, const char *key, const char *want)
{
	char buf[300];

	CU_ASSERT_EQUAL(prdshm_config_get(cfg, key, buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, want);
}

char *tc_write_temp(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/prdshm-cfg-XXXXXX");
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	f = fdopen(fd, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
	return path;
}

const char tc_full_yaml[] =
	"# every key\n"
	"max_parallel_agents: 4\n"
	"lock_timeout_seconds: 60\n"
	"wave_delay_seconds: 0\n"
	"conflict_retry_attempts: 7\n"
	"monitoring_update_interval: 9\n"
	"scheduling: eager\n"
	"phase_max_attempts: 2\n"
	"deadlock_timeout_ms: 250\n"
	"shm_name: /prd-test\n"
	"shm_mode: 0660\n"
	"shm_group: root\n"
	"max_locks: 2048\n"
	"max_phases: 16\n"
	"max_agents: 8\n"
	"phases:\n"
	"  - id: setup\n"
	"    name: Set up\n"
	"    outputs: [build/, \"config.h\"]\n"
	"    estimated_time: 90m\n"
	"  - id: compile\n"
	"    dependencies:\n"
	"      - setup\n"
	"    estimated_time: 1.5h\n"
	"    command: make -j4\n"
	"  - id: test\n"
	"    dependencies: [setup, compile]\n"
	"    estimated_time: 30s\n";

void tc_check_full(const prdshm_config *cfg)
{
	const prdshm_phase_def *p = cfg->phases;

	CU_ASSERT_EQUAL(cfg->max_parallel_agents, 4);
	CU_ASSERT_EQUAL(cfg->lock_timeout_seconds, 60);
	CU_ASSERT_EQUAL(cfg->wave_delay_seconds, 0);
	CU_ASSERT_EQUAL(cfg->conflict_retry_attempts, 7);
	CU_ASSERT_EQUAL(cfg->monitoring_update_interval, 9);
	CU_ASSERT_EQUAL(cfg->scheduling, PRDSHM_SCHED_EAGER);
	CU_ASSERT_EQUAL(cfg->phase_max_attempts, 2);
	CU_ASSERT_EQUAL(cfg->deadlock_timeout_ms, 250);
	CU_ASSERT_STRING_EQUAL(cfg->shm_name, "/prd-test");
	CU_ASSERT_EQUAL(cfg->shm_mode, 0660);
	CU_ASSERT_STRING_EQUAL(cfg->shm_group, "root");
	CU_ASSERT_EQUAL(cfg->max_locks, 2048);
	CU_ASSERT_EQUAL(cfg->max_phases, 16);
	CU_ASSERT_EQUAL(cfg->max_agents, 8);
	CU_ASSERT_EQUAL_FATAL(cfg->nphases, 3);
	CU_ASSERT_STRING_EQUAL(p[0].id, "setup");
	CU_ASSERT_STRING_EQUAL(p[0].name, "Set up");
	CU_ASSERT_EQUAL(p[0].ndeps, 0);
	CU_ASSERT_EQUAL_FATAL(p[0].noutputs, 2);
	CU_ASSERT_STRING_EQUAL(p[0].outputs[0], "build/");
	CU_ASSERT_STRING_EQUAL(p[0].outputs[1], "config.h");
	CU_ASSERT_DOUBLE_EQUAL(p[0].estimated_minutes, 90.0, 1e-12);
	CU_ASSERT_PTR_NULL(p[0].command);
	CU_ASSERT_STRING_EQUAL(p[1].name, "compile"); /* name defaults to the id */
	CU_ASSERT_EQUAL_FATAL(p[1].ndeps, 1);
	CU_ASSERT_STRING_EQUAL(p[1].deps[0], "setup");
	CU_ASSERT_DOUBLE_EQUAL(p[1].estimated_minutes, 90.0, 1e-12);
	CU_ASSERT_STRING_EQUAL(p[1].command, "make -j4");
	CU_ASSERT_EQUAL_FATAL(p[2].ndeps, 2);
	CU_ASSERT_STRING_EQUAL(p[2].deps[1], "compile");
	CU_ASSERT_DOUBLE_EQUAL(p[2].estimated_minutes, 0.5, 1e-12);
}
