/*
 * test_config.c: the configuration: defaults, file, environment, command
 * line, precedence, origins, the YAML round trip and every kind of bad input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define FILE_NAME "test.yaml"

/* Every PRD_PARALLEL_ variable a test may set; cleared before and after. */
static const char *const env_vars[] = {
	"PRD_PARALLEL_MAX_PARALLEL_AGENTS", "PRD_PARALLEL_MAX_LOCKS", "PRD_PARALLEL_MAX_AGENTS",
	"PRD_PARALLEL_SCHEDULING",          "PRD_PARALLEL_SHM_NAME",  "PRD_PARALLEL_SHM_MODE",
	"PRD_PARALLEL_LOCK_TIMEOUT_SECONDS", "PRD_PARALLEL_BACKEND", "PRD_PARALLEL_ZOOKEEPER_HOSTS",
	"PRD_PARALLEL_ZOOKEEPER_SESSION_TIMEOUT_MS", NULL,
};

static void clear_env(void)
{
	for (size_t i = 0; env_vars[i]; i++)
		unsetenv(env_vars[i]);
}

/* Load @p yaml into fresh defaults; the caller frees @p cfg. */
static int load(prdshm_config *cfg, const char *yaml, prdshm_diag *d)
{
	prdshm_config_init(cfg);
	return prdshm_config_load_string(cfg, yaml, strlen(yaml), FILE_NAME, d);
}

/* A load that must fail with ECONFIG at @p line:@p col with @p msg in the message. */
static void expect_error(const char *yaml, int line, int col, const char *msg)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	int err = load(&cfg, yaml, &d);

	CU_ASSERT_EQUAL(err, PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.file, FILE_NAME);
	CU_ASSERT_EQUAL(d.line, line);
	CU_ASSERT_EQUAL(d.column, col);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, msg));
	if (!strstr(d.msg, msg) || d.line != line || d.column != col)
		fprintf(stderr, "\n  for %s\n  got %d:%d: %s\n  want %d:%d: %s\n", yaml, d.line,
			d.column, d.msg, line, col, msg);
	/* Nothing of a bad file is used. */
	CU_ASSERT_EQUAL(cfg.max_locks, 1024);
	CU_ASSERT_EQUAL(cfg.nphases, 0);
	CU_ASSERT_PTR_NULL(cfg.path_);
	prdshm_config_free(&cfg);
}

/* A load that succeeds and a validate that fails like expect_error(). */
static void expect_invalid(const char *yaml, int line, int col, const char *msg)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	CU_ASSERT_EQUAL_FATAL(load(&cfg, yaml, &d), 0);
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.file, FILE_NAME);
	CU_ASSERT_EQUAL(d.line, line);
	CU_ASSERT_EQUAL(d.column, col);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, msg));
	if (!strstr(d.msg, msg) || d.line != line || d.column != col)
		fprintf(stderr, "\n  for %s\n  got %d:%d: %s\n  want %d:%d: %s\n", yaml, d.line,
			d.column, d.msg, line, col, msg);
	prdshm_config_free(&cfg);
}

static void expect_value(const prdshm_config *cfg, const char *key, const char *want)
{
	char buf[300];

	CU_ASSERT_EQUAL(prdshm_config_get(cfg, key, buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, want);
}

static void test_defaults(void)
{
	const char *const *keys = prdshm_config_keys();
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	int line = -1, col = -1;
	size_t n = 0;

	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL(cfg.max_parallel_agents, 3);
	CU_ASSERT_EQUAL(cfg.lock_timeout_seconds, 300);
	CU_ASSERT_EQUAL(cfg.wave_delay_seconds, 5);
	CU_ASSERT_EQUAL(cfg.conflict_retry_attempts, 3);
	CU_ASSERT_EQUAL(cfg.monitoring_update_interval, 2);
	CU_ASSERT_EQUAL(cfg.scheduling, PRDSHM_SCHED_WAVES);
	CU_ASSERT_EQUAL(cfg.phase_max_attempts, 1);
	CU_ASSERT_EQUAL(cfg.deadlock_timeout_ms, 500);
	CU_ASSERT_STRING_EQUAL(cfg.shm_name, "/prdpar");
	CU_ASSERT_EQUAL(cfg.shm_mode, 0600);
	CU_ASSERT_EQUAL(cfg.max_locks, 1024);
	CU_ASSERT_EQUAL(cfg.max_phases, 256);
	CU_ASSERT_EQUAL(cfg.max_agents, 64);
	CU_ASSERT_EQUAL(cfg.nphases, 0);
	CU_ASSERT_PTR_NULL(cfg.src_);
	CU_ASSERT_PTR_NULL(cfg.path_);
	for (; keys[n]; n++) {
		CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, keys[n], &line, &col),
				PRDSHM_FROM_DEFAULT);
		CU_ASSERT_EQUAL(line, 0);
		CU_ASSERT_EQUAL(col, 0);
	}
	CU_ASSERT_EQUAL(n, 18);
	CU_ASSERT_STRING_EQUAL(keys[0], "max_parallel_agents");
	CU_ASSERT_STRING_EQUAL(keys[13], "max_agents");
	CU_ASSERT_STRING_EQUAL(keys[14], "backend");
	expect_value(&cfg, "shm_mode", "0600");
	expect_value(&cfg, "shm_group", "");
	expect_value(&cfg, "scheduling", "waves");
	expect_value(&cfg, "shm_name", "/prdpar");
	expect_value(&cfg, "lock_timeout_seconds", "300");
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), 0);
	CU_ASSERT_STRING_EQUAL(d.msg, "");
	prdshm_config_free(&cfg);
	prdshm_config_free(&cfg); /* a second free is harmless */
	prdshm_config_free(NULL);
}

static void test_get_errors(void)
{
	prdshm_config cfg;
	char small[4];

	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL(prdshm_config_get(&cfg, "nope", small, sizeof(small)), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_config_get(&cfg, "shm_name", small, sizeof(small)), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_config_get(&cfg, "max_agents", small, sizeof(small)), 0);
	CU_ASSERT_STRING_EQUAL(small, "64");
	prdshm_config_free(&cfg);
}

static const char full_yaml[] =
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

static void check_full(const prdshm_config *cfg)
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

static char *write_temp(const char *text)
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

static void test_file(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	char *path = write_temp(full_yaml);
	int line, col;

	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL_FATAL(prdshm_config_load_file(&cfg, path, &d), 0);
	check_full(&cfg);
	CU_ASSERT_STRING_EQUAL(cfg.path_, path);
	/* Phase positions point at the phase's first key, 1-based. */
	CU_ASSERT_EQUAL(cfg.phases[0].line, 17);
	CU_ASSERT_EQUAL(cfg.phases[0].column, 5);
	CU_ASSERT_EQUAL(cfg.phases[2].line, 26);
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "max_locks", &line, &col), PRDSHM_FROM_FILE);
	CU_ASSERT_EQUAL(line, 13);
	CU_ASSERT_EQUAL(col, 1);
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), 0);
	prdshm_config_free(&cfg);
	unlink(path);
}

static void test_file_missing(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL(prdshm_config_load_file(&cfg, "/nonexistent/prdpar.yaml", &d),
			PRDSHM_ENOENT);
	CU_ASSERT_STRING_EQUAL(d.file, "/nonexistent/prdpar.yaml");
	CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "cannot open"));
	CU_ASSERT_EQUAL(prdshm_config_load(&cfg, "/nonexistent/prdpar.yaml", &d), PRDSHM_ENOENT);
	CU_ASSERT_EQUAL(prdshm_config_load_file(&cfg, "/tmp", &d), PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.msg, "cannot read: Is a directory");
	CU_ASSERT_EQUAL(d.line, 0);
	CU_ASSERT_EQUAL(cfg.max_locks, 1024);
	prdshm_config_free(&cfg);
}

/* prdshm_config_load(NULL) reads ./prdpar.yaml if there is one. */
static void test_load_default_path(void)
{
	char dir[] = "/tmp/prdshm-cfgdir-XXXXXX";
	char old[4096];
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	FILE *f;

	clear_env();
	CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(old, sizeof(old)));
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	CU_ASSERT_EQUAL_FATAL(chdir(dir), 0);
	CU_ASSERT_EQUAL(prdshm_config_load(&cfg, NULL, &d), 0);
	CU_ASSERT_EQUAL(cfg.max_locks, 1024);
	CU_ASSERT_PTR_NULL(cfg.path_);
	prdshm_config_free(&cfg);
	f = fopen("prdpar.yaml", "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("max_locks: 77\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(prdshm_config_load(&cfg, NULL, &d), 0);
	CU_ASSERT_EQUAL(cfg.max_locks, 77);
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "max_locks", NULL, NULL), PRDSHM_FROM_FILE);
	prdshm_config_free(&cfg);
	unlink("prdpar.yaml");
	CU_ASSERT_EQUAL(chdir(old), 0);
	rmdir(dir);
}

static void test_empty_documents(void)
{
	static const char *const empties[] = { "", "# only a comment\n", "---\n", "{}\n" };
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		CU_ASSERT_EQUAL(load(&cfg, empties[i], &d), 0);
		CU_ASSERT_EQUAL(cfg.max_locks, 1024);
		CU_ASSERT_STRING_EQUAL(cfg.path_, FILE_NAME);
		prdshm_config_free(&cfg);
	}
}

static void test_env(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	int line = -1;

	clear_env();
	setenv("PRD_PARALLEL_MAX_PARALLEL_AGENTS", "5", 1);
	setenv("PRD_PARALLEL_SCHEDULING", "eager", 1);
	setenv("PRD_PARALLEL_SHM_MODE", "0660", 1);
	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL(prdshm_config_apply_env(&cfg, &d), 0);
	CU_ASSERT_EQUAL(cfg.max_parallel_agents, 5);
	CU_ASSERT_EQUAL(cfg.scheduling, PRDSHM_SCHED_EAGER);
	CU_ASSERT_EQUAL(cfg.shm_mode, 0660);
	CU_ASSERT_EQUAL(cfg.max_locks, 1024);
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "max_parallel_agents", &line, NULL),
			PRDSHM_FROM_ENV);
	CU_ASSERT_EQUAL(line, 0);
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "max_locks", NULL, NULL), PRDSHM_FROM_DEFAULT);
	prdshm_config_free(&cfg);
	clear_env();
}

/* One bad variable: nothing from the environment is used. */
static void expect_env_error(const char *value, const char *msg)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	clear_env();
	setenv("PRD_PARALLEL_MAX_AGENTS", "10", 1);
	setenv("PRD_PARALLEL_MAX_LOCKS", value, 1);
	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL(prdshm_config_apply_env(&cfg, &d), PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.file, "PRD_PARALLEL_MAX_LOCKS");
	CU_ASSERT_EQUAL(d.line, 0);
	CU_ASSERT_EQUAL(d.column, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, msg));
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "PRD_PARALLEL_MAX_LOCKS"));
	CU_ASSERT_EQUAL(cfg.max_agents, 64);
	CU_ASSERT_EQUAL(cfg.max_locks, 1024);
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "max_agents", NULL, NULL), PRDSHM_FROM_DEFAULT);
	prdshm_config_free(&cfg);
	clear_env();
}

static void test_env_errors(void)
{
	expect_env_error("", "max_locks: empty value");
	expect_env_error("lots", "max_locks: expected an integer, got 'lots'");
	expect_env_error("12abc", "expected an integer, got '12abc'");
	expect_env_error(" 12", "expected an integer, got ' 12'");
	expect_env_error("99999999999999999999999", "out of range (1..4000000)");
	expect_env_error("0", "max_locks: 0 is out of range (1..4000000)");
}

static void test_precedence(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	char *path = write_temp("max_locks: 2000\nmax_agents: 20\nmax_phases: 30\n");
	int line, col;

	clear_env();
	setenv("PRD_PARALLEL_MAX_LOCKS", "3000", 1);
	setenv("PRD_PARALLEL_MAX_AGENTS", "40", 1);
	CU_ASSERT_EQUAL_FATAL(prdshm_config_load(&cfg, path, &d), 0);
	CU_ASSERT_EQUAL(cfg.max_phases, 30);  /* file over default */
	CU_ASSERT_EQUAL(cfg.max_agents, 40);  /* env over file */
	CU_ASSERT_EQUAL(cfg.max_locks, 3000); /* env over file */
	CU_ASSERT_EQUAL(cfg.max_parallel_agents, 3);
	CU_ASSERT_EQUAL(prdshm_config_set(&cfg, "max_locks", "4000", PRDSHM_FROM_CMDLINE, &d), 0);
	CU_ASSERT_EQUAL(cfg.max_locks, 4000); /* command line over env */
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "max_locks", &line, &col),
			PRDSHM_FROM_CMDLINE);
	CU_ASSERT_EQUAL(line, 0);
	/* A weaker origin never overrides a stronger one, whatever the order. */
	CU_ASSERT_EQUAL(prdshm_config_apply_env(&cfg, &d), 0);
	CU_ASSERT_EQUAL(cfg.max_locks, 4000);
	CU_ASSERT_EQUAL(prdshm_config_load_file(&cfg, path, &d), 0);
	CU_ASSERT_EQUAL(cfg.max_locks, 4000);
	CU_ASSERT_EQUAL(cfg.max_agents, 40);
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "max_agents", NULL, NULL), PRDSHM_FROM_ENV);
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "max_phases", &line, &col), PRDSHM_FROM_FILE);
	CU_ASSERT_EQUAL(line, 3);
	CU_ASSERT_EQUAL(col, 1);
	CU_ASSERT_EQUAL(prdshm_config_set(&cfg, "max_phases", "31", PRDSHM_FROM_FILE, &d), 0);
	CU_ASSERT_EQUAL(cfg.max_phases, 31); /* the same origin replaces */
	prdshm_config_free(&cfg);
	clear_env();
	unlink(path);
}

static void test_set(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL(prdshm_config_set(&cfg, "scheduling", "eager", PRDSHM_FROM_CMDLINE, &d), 0);
	CU_ASSERT_EQUAL(cfg.scheduling, PRDSHM_SCHED_EAGER);
	CU_ASSERT_EQUAL(prdshm_config_set(&cfg, "max_lock", "5", PRDSHM_FROM_CMDLINE, &d),
			PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.msg, "unknown key 'max_lock' (did you mean 'max_locks'?)");
	CU_ASSERT_STRING_EQUAL(d.file, "command line");
	CU_ASSERT_EQUAL(prdshm_config_set(&cfg, "scheduling", "fast", PRDSHM_FROM_CMDLINE, &d),
			PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.msg, "scheduling: expected 'waves' or 'eager', got 'fast'");
	CU_ASSERT_EQUAL(cfg.scheduling, PRDSHM_SCHED_EAGER);
	CU_ASSERT_EQUAL(prdshm_config_set(&cfg, "shm_name", "/x/y", PRDSHM_FROM_ENV, &d),
			PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.file, "PRD_PARALLEL_SHM_NAME");
	CU_ASSERT_STRING_EQUAL(cfg.shm_name, "/prdpar");
	CU_ASSERT_EQUAL(prdshm_config_set(&cfg, "max_locks", "9", (prdshm_origin)7, &d),
			PRDSHM_EINVAL);
	prdshm_config_free(&cfg);
}

static void test_origin(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	int line, col;

	CU_ASSERT_EQUAL_FATAL(load(&cfg, "max_agents: 9\n  # x\nphases:\n  - id: a\n", &d), 0);
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "max_agents", &line, &col), PRDSHM_FROM_FILE);
	CU_ASSERT_EQUAL(line, 1);
	CU_ASSERT_EQUAL(col, 1);
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "phases", &line, &col), PRDSHM_FROM_FILE);
	CU_ASSERT_EQUAL(line, 3);
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "max_locks", &line, &col), PRDSHM_FROM_DEFAULT);
	CU_ASSERT_EQUAL(line, 0);
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "no_such_key", &line, &col),
			PRDSHM_FROM_DEFAULT);
	CU_ASSERT_EQUAL(col, 0);
	prdshm_config_free(&cfg);
}

static void compare_strv(char **a, size_t na, char **b, size_t nb)
{
	CU_ASSERT_EQUAL_FATAL(na, nb);
	for (size_t i = 0; i < na; i++)
		CU_ASSERT_STRING_EQUAL(a[i], b[i]);
}

static void compare_configs(const prdshm_config *a, const prdshm_config *b)
{
	const char *const *keys = prdshm_config_keys();
	char va[300], vb[300];

	for (size_t i = 0; keys[i]; i++) {
		CU_ASSERT_EQUAL(prdshm_config_get(a, keys[i], va, sizeof(va)), 0);
		CU_ASSERT_EQUAL(prdshm_config_get(b, keys[i], vb, sizeof(vb)), 0);
		CU_ASSERT_STRING_EQUAL(va, vb);
	}
	CU_ASSERT_EQUAL_FATAL(a->nphases, b->nphases);
	for (size_t i = 0; i < a->nphases; i++) {
		const prdshm_phase_def *p = &a->phases[i], *q = &b->phases[i];

		CU_ASSERT_STRING_EQUAL(p->id, q->id);
		CU_ASSERT_STRING_EQUAL(p->name, q->name);
		compare_strv(p->deps, p->ndeps, q->deps, q->ndeps);
		compare_strv(p->outputs, p->noutputs, q->outputs, q->noutputs);
		CU_ASSERT_EQUAL(p->estimated_minutes, q->estimated_minutes);
		CU_ASSERT_EQUAL(p->command == NULL, q->command == NULL);
		if (p->command && q->command)
			CU_ASSERT_STRING_EQUAL(p->command, q->command);
	}
}

/* Write @p a, read it back into @p b. */
static void round_trip(const prdshm_config *a, prdshm_config *b)
{
	char *text = NULL;
	size_t len = 0;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	FILE *f = open_memstream(&text, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(prdshm_config_write(a, f), 0);
	fclose(f);
	prdshm_config_init(b);
	CU_ASSERT_EQUAL(prdshm_config_load_string(b, text, len, "written", &d), 0);
	if (d.msg[0])
		fprintf(stderr, "\n%s\n%d:%d: %s\n", text, d.line, d.column, d.msg);
	free(text);
}

static void test_round_trip(void)
{
	prdshm_config a, b;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	CU_ASSERT_EQUAL_FATAL(load(&a, full_yaml, &d), 0);
	/* Strings that need quoting, and a time that is not a short decimal. */
	free(a.phases[0].name);
	a.phases[0].name = strdup("~");
	free(a.phases[1].command);
	a.phases[1].command = strdup("sh -c 'echo \"a: b\" # not a comment'\n\tnext line");
	free(a.phases[2].name);
	a.phases[2].name = strdup("Ünïcode: [x], {y} - z");
	a.phases[2].estimated_minutes = 1.0 / 3;
	round_trip(&a, &b);
	compare_configs(&a, &b);
	CU_ASSERT_EQUAL(prdshm_config_origin(&b, "max_locks", NULL, NULL), PRDSHM_FROM_FILE);
	prdshm_config_free(&b);
	prdshm_config_free(&a);
	/* The defaults and an empty plan too. */
	prdshm_config_init(&a);
	round_trip(&a, &b);
	compare_configs(&a, &b);
	CU_ASSERT_EQUAL(b.nphases, 0);
	prdshm_config_free(&b);
	prdshm_config_free(&a);
}

static void test_write_to_file(void)
{
	prdshm_config a, b;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	char *path = write_temp("");
	FILE *f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL_FATAL(load(&a, full_yaml, &d), 0);
	CU_ASSERT_EQUAL(prdshm_config_write(&a, f), 0);
	fclose(f);
	prdshm_config_init(&b);
	CU_ASSERT_EQUAL(prdshm_config_load_file(&b, path, &d), 0);
	check_full(&b);
	compare_configs(&a, &b);
	prdshm_config_free(&a);
	prdshm_config_free(&b);
	unlink(path);
}

static void test_syntax_error(void)
{
	expect_error("max_locks: 5\nmax_agents: 4\n\tmax_phases: 2\n", 3, 1,
		     "YAML syntax error: found a tab character that violates indentation");
	expect_error("max_locks: 5\n- x\n", 2, 1,
		     "YAML syntax error: did not find expected key while parsing a block mapping");
	expect_error("max_locks: 5\nmax_agents: \"abc\n", 3, 1,
		     "YAML syntax error: found unexpected end of stream");
	expect_error("max_locks: 5\nmax_agents: 4: 5\n", 2, 14,
		     "YAML syntax error: mapping values are not allowed in this context");
	expect_error("max_locks: 5\nphases: [{id: a, name: b\n", 3, 1,
		     "did not find expected ',' or '}'");
}

static void test_bad_encoding(void)
{
	expect_error("max_locks: 5\nshm_name: /a\xff\n", 2, 13,
		     "cannot read the input: invalid leading UTF-8 octet");
}

static void test_unknown_key(void)
{
	expect_error("max_agents: 4\nmax_lock: 5\n", 2, 1,
		     "unknown key 'max_lock' (did you mean 'max_locks'?)");
	expect_error("phase:\n  - id: a\n", 1, 1, "unknown key 'phase' (did you mean 'phases'?)");
	expect_error("colour: red\n", 1, 1, "unknown key 'colour'");
	expect_error("phases:\n  - id: a\n    dependencys: []\n", 3, 5,
		     "unknown phase key 'dependencys' (did you mean 'dependencies'?)");
	expect_error("phases:\n  - id: a\n    estimate: 3\n", 3, 5, "unknown phase key 'estimate'");
	expect_error("[1, 2]\n", 1, 1, "the top level must be a mapping");
	expect_error("? [a]\n: 1\n", 1, 3, "keys must be plain words");
}

static void test_unknown_key_no_hint(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	CU_ASSERT_EQUAL(load(&cfg, "colour: red\n", &d), PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.msg, "unknown key 'colour'");
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "test.yaml:1:1: unknown key 'colour'");
	prdshm_config_free(&cfg);
}

static void test_duplicate_key(void)
{
	expect_error("max_locks: 5\nmax_agents: 4\nmax_locks: 6\n", 3, 1,
		     "duplicate key 'max_locks' (first at line 1, column 1)");
	expect_error("phases: []\nphases: []\n", 2, 1, "duplicate key 'phases'");
	expect_error("phases:\n  - id: a\n    name: x\n    name: y\n", 4, 5,
		     "duplicate key 'name' (first at line 3, column 5)");
}

static void test_wrong_type(void)
{
	expect_error("max_locks: lots\n", 1, 12, "max_locks: expected an integer, got 'lots'");
	expect_error("max_locks: 12abc\n", 1, 12, "expected an integer, got '12abc'");
	expect_error("max_locks: 1.5\n", 1, 12, "expected an integer, got '1.5'");
	expect_error("max_locks: 0x10\n", 1, 12, "expected an integer, got '0x10'");
	expect_error("max_locks: [1]\n", 1, 12,
		     "max_locks: expected a single value, not a list or mapping");
	expect_error("max_locks:\n", 1, 11, "max_locks: empty value");
	expect_error("scheduling: parallel\n", 1, 13,
		     "scheduling: expected 'waves' or 'eager', got 'parallel'");
	expect_error("phases: 3\n", 1, 9, "phases: expected a list of phases");
	expect_error("phases:\n  - a\n", 2, 5, "each phase must be a mapping");
	expect_error("phases:\n  - id: a\n    dependencies: b\n", 3, 19,
		     "dependencies: expected a list");
	expect_error("phases:\n  - id: a\n    outputs: [[x]]\n", 3, 15,
		     "outputs: expected a single value");
	expect_error("phases:\n  - id: [a]\n", 2, 9, "id: expected a single value");
	expect_error("max_locks: \"1\\02\"\n", 1, 12, "NUL byte");
}

static void test_out_of_range(void)
{
	expect_error("max_parallel_agents: 0\n", 1, 22,
		     "max_parallel_agents: 0 is out of range (1..4096)");
	expect_error("lock_timeout_seconds: -1\n", 1, 23,
		     "lock_timeout_seconds: -1 is out of range");
	expect_error("wave_delay_seconds: -5\n", 1, 21, "is out of range (0..");
	expect_error("deadlock_timeout_ms: -1\n", 1, 22, "deadlock_timeout_ms: -1 is out of range");
	expect_error("max_locks: 4000001\n", 1, 12,
		     "max_locks: 4000001 is out of range (1..4000000)");
	expect_error("max_phases: 100001\n", 1, 13, "(1..100000)");
	expect_error("max_agents: 4097\n", 1, 13, "max_agents: 4097 is out of range (1..4096)");
	expect_error("max_agents: 99999999999999999999\n", 1, 13,
		     "max_agents: 99999999999999999999 is out of range");
	expect_error("max_agents: -99999999999999999999\n", 1, 13, "is out of range");
	expect_error("monitoring_update_interval: 0\n", 1, 29, "out of range (1..86400)");
	expect_error("phase_max_attempts: 0\n", 1, 21, "out of range (1..1000)");
}

static void test_cross_key(void)
{
	/* The explicitly set value is the one pointed at: the value, not its key. */
	expect_invalid("max_locks: 5\nmax_parallel_agents: 10\nmax_agents: 4\n", 2, 22,
		       "max_parallel_agents (10) is larger than max_agents (4)");
	expect_invalid("max_locks: 5\nmax_agents: 2\n", 2, 13,
		       "max_parallel_agents (3) is larger than max_agents (2)");
}

static void test_cross_key_env(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	clear_env();
	setenv("PRD_PARALLEL_MAX_AGENTS", "2", 1);
	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL(prdshm_config_load(&cfg, "/dev/null", &d), PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.file, "PRD_PARALLEL_MAX_AGENTS");
	CU_ASSERT_STRING_EQUAL(d.msg, "max_parallel_agents (3) is larger than max_agents (2)");
	/* A failed load leaves nothing partial behind. */
	CU_ASSERT_EQUAL(cfg.max_agents, 64);
	CU_ASSERT_PTR_NULL(cfg.src_);
	prdshm_config_free(&cfg);
	clear_env();
}

static void test_validate_direct_fields(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	/* Tools may write fields directly; validate still checks them. */
	prdshm_config_init(&cfg);
	cfg.max_locks = 0;
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.msg, "max_locks: 0 is out of range (1..4000000)");
	cfg.max_locks = 10;
	cfg.shm_mode = 0200;
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), PRDSHM_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "shm_mode: 0200 must give the owner read and write"));
	cfg.shm_mode = 0600;
	cfg.scheduling = (prdshm_scheduling)5;
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), PRDSHM_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "scheduling"));
	cfg.scheduling = PRDSHM_SCHED_WAVES;
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), 0);
	prdshm_config_free(&cfg);
}

static void test_bad_shm_name(void)
{
	char yaml[400];
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	expect_error("shm_name: prdpar\n", 1, 11, "shm_name: 'prdpar' must start with '/'");
	expect_error("shm_name: /a/b\n", 1, 11, "shm_name: '/a/b' must not contain a second '/'");
	expect_error("shm_name: /\n", 1, 11, "needs a name after the '/'");
	expect_error("shm_name: /..\n", 1, 11, "must not be '.' or '..'");
	expect_error("shm_name: \"/a\\tb\"\n", 1, 11, "must not contain control characters");
	/* 255 bytes is the limit, the '/' included. */
	snprintf(yaml, sizeof(yaml), "shm_name: /%0254d\n", 0);
	CU_ASSERT_EQUAL(load(&cfg, yaml, &d), 0);
	CU_ASSERT_EQUAL(strlen(cfg.shm_name), 255);
	prdshm_config_free(&cfg);
	snprintf(yaml, sizeof(yaml), "shm_name: /%0255d\n", 0);
	expect_error(yaml, 1, 11, "is longer than 255 bytes");
	CU_ASSERT_EQUAL(load(&cfg, "shm_name: \"/prd par-é\"\n", &d), 0);
	CU_ASSERT_STRING_EQUAL(cfg.shm_name, "/prd par-é");
	prdshm_config_free(&cfg);
}

static void test_bad_mode(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	expect_error("shm_mode: 0800\n", 1, 11,
		     "shm_mode: expected an octal mode such as 0600, got '0800'");
	expect_error("shm_mode: rw\n", 1, 11, "expected an octal mode");
	expect_error("shm_mode: -0600\n", 1, 11, "expected an octal mode");
	expect_error("shm_mode: 01777\n", 1, 11, "shm_mode: 01777 is not within 0777");
	expect_error("shm_mode: 0777777777777777777\n", 1, 11, "is not within 0777");
	expect_error("shm_mode: 0400\n", 1, 11,
		     "shm_mode: 0400 must give the owner read and write (0600)");
	expect_error("shm_mode: 0060\n", 1, 11, "must give the owner read and write");
	CU_ASSERT_EQUAL(load(&cfg, "shm_mode: 0o640\n", &d), 0);
	CU_ASSERT_EQUAL(cfg.shm_mode, 0640);
	prdshm_config_free(&cfg);
	expect_error("shm_mode: 644\n", 1, 11, "shm_mode: 0644 lets every user open the segment");
	expect_invalid("shm_mode: 0640\n", 1, 11,
		       "shm_mode: 0640 lets the segment's group open it: name that group");
	/* Writable by other users: never; by the group: only when named. */
	expect_error("shm_mode: 666\n", 1, 11, "shm_mode: 0666 lets every user write");
	expect_error("shm_group: root\nshm_mode: 0602\n", 2, 11, "lets every user write");
	expect_invalid("max_locks: 10\nshm_mode: 0660\n", 2, 11,
		       "shm_mode: 0660 lets the segment's group write it: name that group in "
		       "shm_group");
}

static void test_shm_group(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	char yaml[128];

	CU_ASSERT_EQUAL(load(&cfg, "shm_mode: 0660\nshm_group: root\n", &d), 0);
	CU_ASSERT_STRING_EQUAL(cfg.shm_group, "root");
	CU_ASSERT_EQUAL(cfg.shm_mode, 0660);
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), 0);
	prdshm_config_free(&cfg);
	CU_ASSERT_EQUAL(load(&cfg, "shm_group: \"4242\"\nshm_mode: 0660\n", &d), 0);
	CU_ASSERT_STRING_EQUAL(cfg.shm_group, "4242");
	prdshm_config_free(&cfg);
	CU_ASSERT_EQUAL(load(&cfg, "shm_group: \"\"\n", &d), 0);
	CU_ASSERT_STRING_EQUAL(cfg.shm_group, "");
	prdshm_config_free(&cfg);
	expect_error("shm_group: no-such-group-here\n", 1, 12,
		     "shm_group: 'no-such-group-here' is not a group on this system");
	snprintf(yaml, sizeof(yaml), "shm_group: g%032d\n", 0);
	expect_error(yaml, 1, 12, "is longer than 32 bytes");
}

static void test_estimated_time(void)
{
	static const struct {
		const char *text;
		double minutes;
	} ok[] = {
		{ "45", 45 }, { "90m", 90 }, { "1.5h", 90 }, { "30s", 0.5 }, { ".25", 0.25 },
		{ "2e1", 20 }, { "0", 0 },
	};
	static const char *const bad[] = { "-5",    "abc",   "inf",  "nan", "5x",
					   "h",     "1.5hh", "0x1p3", "1e999", "2e9" };
	char yaml[200];
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(yaml, sizeof(yaml), "phases:\n  - id: a\n    estimated_time: %s\n",
			 ok[i].text);
		CU_ASSERT_EQUAL(load(&cfg, yaml, &d), 0);
		CU_ASSERT_DOUBLE_EQUAL(cfg.phases[0].estimated_minutes, ok[i].minutes, 1e-12);
		prdshm_config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml), "phases:\n  - id: a\n    estimated_time: %s\n",
			 bad[i]);
		expect_error(yaml, 3, 21, "estimated_time: expected minutes or a duration");
	}
}

static void test_phase_parse_errors(void)
{
	expect_error("phases:\n  - name: x\n", 2, 5, "phase has no 'id'");
	expect_error("phases:\n  - id: \"a b\"\n", 2, 9, "phase id 'a b' is not valid");
	expect_error("phases:\n  - id: ~\n", 2, 9, "id: empty value");
	expect_error("phases:\n  - id:\n    name: x\n", 2, 8, "id: empty value");
	expect_error("phases:\n  - id: a\n    dependencies: [ok, \"b c\"]\n", 3, 24,
		     "dependencies: 'b c' is not a valid phase id");
	expect_error("phases:\n  - id: a\n    outputs: [\"\"]\n", 3, 15,
		     "outputs: a resource name has 1..255 bytes");
}

/* Errors the graph finds point at the value at fault: the duplicate id, the
 * unknown dependency, the dependency that closes a cycle. */
static void test_phase_graph_errors(void)
{
	expect_invalid("phases:\n  - id: a\n  - id: b\n  - id: a\n", 4, 9,
		       "duplicate phase id 'a' (first at line 2, column 9)");
	expect_invalid("phases:\n  - name: x\n    id: a\n  - id: a\n", 4, 9,
		       "duplicate phase id 'a' (first at line 3, column 9)");
	expect_invalid("phases:\n  - id: a\n  - id: b\n    dependencies: [x]\n", 4, 20,
		       "unknown phase 'x'");
	expect_invalid("phases:\n  - id: a\n    dependencies: [x]\n", 3, 20,
		       "depends on unknown phase 'x'");
	expect_invalid("phases:\n  - id: a\n  - id: b\n    dependencies:\n      - a\n"
		       "      - x\n",
		       6, 9, "unknown phase 'x'");
	expect_invalid("phases:\n  - id: a\n    dependencies: [a]\n", 3, 20,
		       "dependency cycle: a -> a");
}

/* A cycle is reported at the dependency that starts the loop its message
 * prints, not at the phase. */
static void test_phase_cycle_position(void)
{
	expect_invalid("phases:\n  - id: a\n    dependencies: [b]\n"
		       "  - id: b\n    dependencies: [a]\n",
		       3, 20, "dependency cycle: a -> b -> a");
	expect_invalid("phases:\n  - id: d\n  - id: a\n    dependencies: [d, b]\n"
		       "  - id: b\n    dependencies:\n      - c\n  - id: c\n"
		       "    dependencies: [d, a]\n",
		       4, 23, "dependency cycle: a -> b -> c -> a");
}

/* A dependency added by hand after the load has no position: its error
 * points at the phase (and nothing reads past the loaded positions). */
static void test_dependency_added_by_hand(void)
{
	static const char yaml[] = "phases:\n  - id: a\n    dependencies: [b]\n  - id: b\n";
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	prdshm_phase_def *p;
	char **deps;

	CU_ASSERT_EQUAL_FATAL(load(&cfg, yaml, &d), 0);
	p = &cfg.phases[0];
	CU_ASSERT_EQUAL(p->ndeps_at, 1);
	CU_ASSERT_EQUAL(p->deps_at[0].line, 3);
	CU_ASSERT_EQUAL(p->deps_at[0].column, 20);
	deps = realloc(p->deps, 2 * sizeof(*deps));
	CU_ASSERT_PTR_NOT_NULL_FATAL(deps);
	p->deps = deps;
	p->deps[p->ndeps++] = strdup("x");
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), PRDSHM_ECONFIG);
	CU_ASSERT_EQUAL(d.line, 2);
	CU_ASSERT_EQUAL(d.column, 5);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "unknown phase 'x'"));
	prdshm_config_free(&cfg);
}

/* A plan built in memory has no positions: errors point at the phase. */
static void test_phase_errors_without_positions(void)
{
	char a[] = "a", x[] = "x";
	char *deps[] = { x };
	prdshm_phase_def ph[] = { { .id = a, .line = 7, .column = 3, .deps = deps, .ndeps = 1 } };
	prdshm_graph *g = NULL;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	CU_ASSERT_EQUAL(prdshm_graph_build(ph, 1, &g, &d), PRDSHM_EUNKNOWNDEP);
	CU_ASSERT_EQUAL(d.line, 7);
	CU_ASSERT_EQUAL(d.column, 3);
	CU_ASSERT_PTR_NULL(g);
}

static void test_too_many_phases(void)
{
	expect_invalid("max_phases: 2\nphases:\n  - id: a\n  - id: b\n  - id: c\n", 5, 5,
		       "3 phases: more than max_phases (2)");
}

static void test_aliases(void)
{
	expect_error("max_locks: &n 5\nmax_agents: *n\n", 1, 12,
		     "YAML anchors are not supported (&n)");
	expect_error("phases:\n  - id: a\n    outputs: *o\n", 3, 14,
		     "YAML aliases are not supported (*o)");
}

static void test_two_documents(void)
{
	expect_error("max_locks: 5\n---\nmax_locks: 6\n", 2, 1, "only one YAML document");
}

/* A failed load leaves everything of the previous configuration. */
static void test_nothing_partial(void)
{
	static const char bad[] = "max_agents: 30\nmax_locks: 100\n"
				  "phases:\n  - id: z\n  - id: \"bad id\"\n";
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	int line;

	CU_ASSERT_EQUAL_FATAL(load(&cfg, full_yaml, &d), 0);
	CU_ASSERT_EQUAL(prdshm_config_load_string(&cfg, bad, strlen(bad), "second.yaml", &d),
			PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.file, "second.yaml");
	CU_ASSERT_EQUAL(d.line, 5);
	check_full(&cfg);
	CU_ASSERT_STRING_EQUAL(cfg.path_, FILE_NAME);
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "max_locks", &line, NULL), PRDSHM_FROM_FILE);
	CU_ASSERT_EQUAL(line, 13);
	/* A second file without a plan keeps the plan of the first. */
	CU_ASSERT_EQUAL(prdshm_config_load_string(&cfg, "max_locks: 100\n", 15, "third.yaml", &d),
			0);
	CU_ASSERT_EQUAL(cfg.max_locks, 100);
	CU_ASSERT_EQUAL(cfg.nphases, 3);
	CU_ASSERT_STRING_EQUAL(cfg.path_, "third.yaml");
	prdshm_config_free(&cfg);
}

static void test_more_phase_errors(void)
{
	char yaml[200];

	expect_error("phases:\n  - id: \"a\\0b\"\n", 2, 9, "id: the value holds a NUL byte");
	snprintf(yaml, sizeof(yaml), "phases:\n  - id: a\n    estimated_time: %070d\n", 1);
	expect_error(yaml, 3, 21, "estimated_time: expected minutes or a duration");
	expect_error("phases:\n  - {[x]: 1}\n", 2, 6, "a phase's keys must be plain words");
	expect_error("phases:\n  - [x]\n", 2, 5, "each phase must be a mapping");
	/* Syntax errors inside a list, a phase and the list of phases. */
	expect_error("phases:\n  - id: a\n    dependencies: [b, \n", 4, 1,
		     "YAML syntax error: did not find expected node content");
	expect_error("phases:\n  - id: a\n    name: x\n   bad\n", 4, 4,
		     "YAML syntax error: did not find expected '-' indicator");
	expect_error("phases:\n  - id: a\n  - {id: b\n", 4, 1, "YAML syntax error");
	/* A key too long to be a misspelling gets no hint. */
	snprintf(yaml, sizeof(yaml), "k%070d: 1\n", 0);
	expect_error(yaml, 1, 1, "unknown key 'k000");
}

/* "~" means "not given": no dependencies, the name defaults to the id,
 * and "phases: ~" is an empty plan. */
static void test_null_values(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	int line = 0;

	CU_ASSERT_EQUAL_FATAL(load(&cfg, "phases:\n  - id: a\n    dependencies: ~\n"
					 "    outputs:\n    name: ~\n    command: ~\n",
				   &d),
			      0);
	CU_ASSERT_EQUAL_FATAL(cfg.nphases, 1);
	CU_ASSERT_EQUAL(cfg.phases[0].ndeps, 0);
	CU_ASSERT_EQUAL(cfg.phases[0].noutputs, 0);
	CU_ASSERT_STRING_EQUAL(cfg.phases[0].name, "a");
	CU_ASSERT_PTR_NULL(cfg.phases[0].command);
	prdshm_config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(load(&cfg, "max_locks: 9\nphases: ~\n", &d), 0);
	CU_ASSERT_EQUAL(cfg.nphases, 0);
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "phases", &line, NULL), PRDSHM_FROM_FILE);
	CU_ASSERT_EQUAL(line, 2);
	prdshm_config_free(&cfg);
}

/* Phases written into the structure by hand are validated like a file's. */
static void test_validate_phase_set_by_hand(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	prdshm_config_init(&cfg);
	cfg.phases = calloc(1, sizeof(*cfg.phases));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg.phases);
	cfg.nphases = 1;
	cfg.phases[0].id = strdup("bad id");
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.file, "(configuration)");
	CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "phase 1: id 'bad id' is not valid"));
	free(cfg.phases[0].id);
	cfg.phases[0].id = NULL;
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), PRDSHM_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "phase 1: id '' is not valid"));
	prdshm_config_free(&cfg);
}

/* A file that never ends is cut off at the size cap. */
static void test_file_too_large(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL(prdshm_config_load_file(&cfg, "/dev/zero", &d), PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.file, "/dev/zero");
	CU_ASSERT_STRING_EQUAL(d.msg, "larger than 67108864 bytes");
	CU_ASSERT_EQUAL(cfg.max_locks, 1024);
	prdshm_config_free(&cfg);
}

/* Every entry point refuses a missing configuration; the diagnostic is
 * optional everywhere. */
static void test_null_arguments(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	clear_env();
	CU_ASSERT_EQUAL(prdshm_config_load_string(NULL, "", 0, NULL, &d), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_config_load_string(&cfg, NULL, 3, NULL, NULL), PRDSHM_EINVAL);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(),
			       "config_load_string: no configuration or text");
	CU_ASSERT_EQUAL(prdshm_config_load_file(NULL, "x", NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_config_load_file(&cfg, NULL, &d), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_config_apply_env(NULL, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_config_validate(NULL, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_config_load(NULL, NULL, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_config_write(NULL, stdout), PRDSHM_EINVAL);

	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL(prdshm_config_write(&cfg, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_config_load_string(&cfg, "max_locks: 7\n", 13, NULL, NULL), 0);
	CU_ASSERT_STRING_EQUAL(cfg.path_, "(string)");
	CU_ASSERT_EQUAL(prdshm_config_load_string(&cfg, "max_locks: x\n", 13, NULL, NULL),
			PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(),
			       "(string):1:12: max_locks: expected an integer, got 'x'");
	CU_ASSERT_EQUAL(prdshm_config_load_file(&cfg, "/dev/null", NULL), 0);
	CU_ASSERT_EQUAL(prdshm_config_set(&cfg, "max_agents", "8", PRDSHM_FROM_CMDLINE, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_config_apply_env(&cfg, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, NULL), 0);
	CU_ASSERT_EQUAL(cfg.max_locks, 7);
	CU_ASSERT_EQUAL(cfg.max_agents, 8);
	prdshm_config_free(&cfg);
	CU_ASSERT_EQUAL(prdshm_config_load(&cfg, "/dev/null", NULL), 0);
	prdshm_config_free(&cfg);
}

/* A value libyaml cannot write (not UTF-8) and a full device both fail the
 * write with a message that says which. */
static void test_write_errors(void)
{
	char bad[] = "\xff\xfe";
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	FILE *f;
	char **fields[6];

	CU_ASSERT_EQUAL_FATAL(load(&cfg, full_yaml, &d), 0);
	fields[0] = &cfg.phases[0].id;
	fields[1] = &cfg.phases[0].name;
	fields[2] = &cfg.phases[1].deps[0];
	fields[3] = &cfg.phases[0].outputs[1];
	fields[4] = &cfg.phases[1].command;
	fields[5] = NULL;
	f = fopen("/dev/null", "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (size_t i = 0; i < 6; i++) {
		char saved[PRDSHM_SHM_NAME_MAX + 1], *was = NULL;

		if (fields[i]) {
			was = *fields[i];
			*fields[i] = bad;
		} else {
			memcpy(saved, cfg.shm_name, sizeof(saved));
			snprintf(cfg.shm_name, sizeof(cfg.shm_name), "/%s", bad);
		}
		CU_ASSERT_EQUAL(prdshm_config_write(&cfg, f), PRDSHM_ESYS);
		CU_ASSERT_STRING_EQUAL(prdshm_last_error(),
				       "writing the configuration: a value is not valid UTF-8");
		if (fields[i])
			*fields[i] = was;
		else
			memcpy(cfg.shm_name, saved, sizeof(saved));
	}
	fclose(f);
	/* Buffered: the final flush fails.  Unbuffered: libyaml's write. */
	for (int unbuffered = 0; unbuffered < 2; unbuffered++) {
		f = fopen("/dev/full", "w");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		if (unbuffered)
			setvbuf(f, NULL, _IONBF, 0);
		CU_ASSERT_EQUAL(prdshm_config_write(&cfg, f), PRDSHM_ESYS);
		CU_ASSERT_STRING_EQUAL(prdshm_last_error(),
				       "writing the configuration: No space left on device");
		fclose(f);
	}
	prdshm_config_free(&cfg);
}

/* The shipped prdpar.yaml documents the defaults: its values must be them. */
/* backend: and the zookeeper: block: read, defaults, environment, written
 * back, and each bad value placed where it is. */
static void test_backend_keys(void)
{
	prdshm_config cfg, back;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	int line = 0, col = 0;

	prdshm_config_init(&cfg);
	expect_value(&cfg, "backend", "shm");
	expect_value(&cfg, "zookeeper.hosts", "127.0.0.1:2181");
	expect_value(&cfg, "zookeeper.root", "/prdshm");
	expect_value(&cfg, "zookeeper.session_timeout_ms", "10000");
	prdshm_config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(load(&cfg,
				   "backend: zookeeper\n"
				   "zookeeper:\n"
				   "  hosts: a:1,b:2\n"
				   "  session_timeout_ms: 4000\n",
				   &d),
			      0);
	expect_value(&cfg, "backend", "zookeeper");
	expect_value(&cfg, "zookeeper.hosts", "a:1,b:2");
	expect_value(&cfg, "zookeeper.root", "/prdshm");
	expect_value(&cfg, "zookeeper.session_timeout_ms", "4000");
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "zookeeper.hosts", &line, &col),
			PRDSHM_FROM_FILE);
	CU_ASSERT_EQUAL(line, 3);
	CU_ASSERT_EQUAL(col, 3);
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), 0);
	/* Written as a block, read back the same. */
	round_trip(&cfg, &back);
	expect_value(&back, "backend", "zookeeper");
	expect_value(&back, "zookeeper.hosts", "a:1,b:2");
	expect_value(&back, "zookeeper.session_timeout_ms", "4000");
	prdshm_config_free(&back);
	/* The environment wins over the file. */
	clear_env();
	setenv("PRD_PARALLEL_BACKEND", "shm", 1);
	setenv("PRD_PARALLEL_ZOOKEEPER_HOSTS", "zk1:2181,zk2:2181", 1);
	CU_ASSERT_EQUAL(prdshm_config_apply_env(&cfg, &d), 0);
	expect_value(&cfg, "backend", "shm");
	expect_value(&cfg, "zookeeper.hosts", "zk1:2181,zk2:2181");
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "zookeeper.hosts", NULL, NULL),
			PRDSHM_FROM_ENV);
	setenv("PRD_PARALLEL_BACKEND", "etcd", 1);
	CU_ASSERT_EQUAL(prdshm_config_apply_env(&cfg, &d), PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.file, "PRD_PARALLEL_BACKEND");
	clear_env();
	prdshm_config_free(&cfg);
	expect_error("backend: etcd\n", 1, 10, "backend: expected 'shm' or 'zookeeper'");
	expect_error("zookeeper: x\n", 1, 12, "zookeeper: expected a mapping");
	expect_error("zookeeper:\n  hots: a:1\n", 2, 3, "unknown zookeeper key 'hots'");
	expect_error("zookeeper:\n  root: /a/\n", 2, 9, "must not end with '/'");
	expect_error("zookeeper:\n  root: /a/../b\n", 2, 9, "'.' or '..' components");
	expect_error("zookeeper:\n  hosts: a:1, b:2\n", 2, 10, "must not contain spaces");
	expect_error("zookeeper:\n  session_timeout_ms: 5\n", 2, 23, "out of range");
	expect_error("zookeeper.hosts: a:1\n", 1, 1, "unknown key");
}

static void test_shipped_file(void)
{
	const char *const *keys = prdshm_config_keys();
	prdshm_config def, cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	char a[300], b[300];

	prdshm_config_init(&def);
	prdshm_config_init(&cfg);
	/* The tests run from the top of the tree (make check). */
	CU_ASSERT_EQUAL_FATAL(prdshm_config_load_file(&cfg, "prdpar.yaml", &d), 0);
	for (size_t i = 0; keys[i]; i++) {
		CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, keys[i], NULL, NULL), PRDSHM_FROM_FILE);
		CU_ASSERT_EQUAL(prdshm_config_get(&def, keys[i], a, sizeof(a)), 0);
		CU_ASSERT_EQUAL(prdshm_config_get(&cfg, keys[i], b, sizeof(b)), 0);
		CU_ASSERT_STRING_EQUAL(a, b);
	}
	prdshm_config_free(&cfg);
	prdshm_config_free(&def);
}

const tu_test tu_tests[] = {
	TU(test_defaults),
	TU(test_get_errors),
	TU(test_shipped_file),
	TU(test_backend_keys),
	TU(test_file),
	TU(test_file_missing),
	TU(test_load_default_path),
	TU(test_empty_documents),
	TU(test_env),
	TU(test_env_errors),
	TU(test_precedence),
	TU(test_set),
	TU(test_origin),
	TU(test_round_trip),
	TU(test_write_to_file),
	TU(test_syntax_error),
	TU(test_bad_encoding),
	TU(test_unknown_key),
	TU(test_unknown_key_no_hint),
	TU(test_duplicate_key),
	TU(test_wrong_type),
	TU(test_out_of_range),
	TU(test_cross_key),
	TU(test_cross_key_env),
	TU(test_validate_direct_fields),
	TU(test_bad_shm_name),
	TU(test_bad_mode),
	TU(test_shm_group),
	TU(test_estimated_time),
	TU(test_phase_parse_errors),
	TU(test_phase_graph_errors),
	TU(test_phase_cycle_position),
	TU(test_phase_errors_without_positions),
	TU(test_dependency_added_by_hand),
	TU(test_too_many_phases),
	TU(test_aliases),
	TU(test_two_documents),
	TU(test_nothing_partial),
	TU(test_more_phase_errors),
	TU(test_null_values),
	TU(test_validate_phase_set_by_hand),
	TU(test_file_too_large),
	TU(test_null_arguments),
	TU(test_write_errors),
	{ NULL, NULL },
};
const char *tu_suite = "config";
