/*
 * test_config.c: the configuration's sources: defaults, file, environment,
 * command line, precedence, origins, the YAML round trip and the shipped
 * prdpar.yaml.  Bad input of every kind: test_config_errors.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "configfix.h"
#include "testutil.h"

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
	CU_ASSERT_EQUAL(n, 19);
	CU_ASSERT_STRING_EQUAL(keys[14], "backend");
	CU_ASSERT_STRING_EQUAL(keys[0], "max_parallel_agents");
	CU_ASSERT_STRING_EQUAL(keys[13], "max_agents");
	tc_expect_value(&cfg, "shm_mode", "0600");
	tc_expect_value(&cfg, "shm_group", "");
	tc_expect_value(&cfg, "scheduling", "waves");
	tc_expect_value(&cfg, "shm_name", "/prdpar");
	tc_expect_value(&cfg, "lock_timeout_seconds", "300");
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

static void test_file(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	char *path = tc_write_temp(tc_full_yaml);
	int line, col;

	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL_FATAL(prdshm_config_load_file(&cfg, path, &d), 0);
	tc_check_full(&cfg);
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

	tc_clear_env();
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
		CU_ASSERT_EQUAL(tc_load(&cfg, empties[i], &d), 0);
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

	tc_clear_env();
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
	tc_clear_env();
}

/* One bad variable: nothing from the environment is used. */
static void expect_env_error(const char *value, const char *msg)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	tc_clear_env();
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
	tc_clear_env();
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
	char *path = tc_write_temp("max_locks: 2000\nmax_agents: 20\nmax_phases: 30\n");
	int line, col;

	tc_clear_env();
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
	tc_clear_env();
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

	CU_ASSERT_EQUAL_FATAL(tc_load(&cfg, "max_agents: 9\n  # x\nphases:\n  - id: a\n", &d), 0);
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

	CU_ASSERT_EQUAL_FATAL(tc_load(&a, tc_full_yaml, &d), 0);
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
	char *path = tc_write_temp("");
	FILE *f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL_FATAL(tc_load(&a, tc_full_yaml, &d), 0);
	CU_ASSERT_EQUAL(prdshm_config_write(&a, f), 0);
	fclose(f);
	prdshm_config_init(&b);
	CU_ASSERT_EQUAL(prdshm_config_load_file(&b, path, &d), 0);
	tc_check_full(&b);
	compare_configs(&a, &b);
	prdshm_config_free(&a);
	prdshm_config_free(&b);
	unlink(path);
}

/* The shipped prdpar.yaml documents the defaults: its values must be them. */
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

/* backend: and the zookeeper: block: read, defaults, environment, written
 * back, and each bad value placed where it is. */
static void test_backend_keys(void)
{
	prdshm_config cfg, back;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	int line = 0, col = 0;

	prdshm_config_init(&cfg);
	tc_expect_value(&cfg, "backend", "shm");
	tc_expect_value(&cfg, "zookeeper.hosts", "127.0.0.1:2181");
	tc_expect_value(&cfg, "zookeeper.root", "/prdshm");
	tc_expect_value(&cfg, "zookeeper.session_timeout_ms", "10000");
	prdshm_config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(tc_load(&cfg,
				   "backend: zookeeper\n"
				   "zookeeper:\n"
				   "  hosts: a:1,b:2\n"
				   "  session_timeout_ms: 4000\n",
				   &d),
			      0);
	tc_expect_value(&cfg, "backend", "zookeeper");
	tc_expect_value(&cfg, "zookeeper.hosts", "a:1,b:2");
	tc_expect_value(&cfg, "zookeeper.root", "/prdshm");
	tc_expect_value(&cfg, "zookeeper.session_timeout_ms", "4000");
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "zookeeper.hosts", &line, &col),
			PRDSHM_FROM_FILE);
	CU_ASSERT_EQUAL(line, 3);
	CU_ASSERT_EQUAL(col, 3);
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), 0);
	/* Written as a block, read back the same. */
	round_trip(&cfg, &back);
	tc_expect_value(&back, "backend", "zookeeper");
	tc_expect_value(&back, "zookeeper.hosts", "a:1,b:2");
	tc_expect_value(&back, "zookeeper.session_timeout_ms", "4000");
	prdshm_config_free(&back);
	/* The environment wins over the file. */
	tc_clear_env();
	setenv("PRD_PARALLEL_BACKEND", "shm", 1);
	setenv("PRD_PARALLEL_ZOOKEEPER_HOSTS", "zk1:2181,zk2:2181", 1);
	CU_ASSERT_EQUAL(prdshm_config_apply_env(&cfg, &d), 0);
	tc_expect_value(&cfg, "backend", "shm");
	tc_expect_value(&cfg, "zookeeper.hosts", "zk1:2181,zk2:2181");
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "zookeeper.hosts", NULL, NULL),
			PRDSHM_FROM_ENV);
	setenv("PRD_PARALLEL_BACKEND", "etcd", 1);
	CU_ASSERT_EQUAL(prdshm_config_apply_env(&cfg, &d), PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.file, "PRD_PARALLEL_BACKEND");
	tc_clear_env();
	prdshm_config_free(&cfg);
	tc_expect_error("backend: etcd\n", 1, 10, "backend: expected 'shm' or 'zookeeper'");
	tc_expect_error("zookeeper: x\n", 1, 12, "zookeeper: expected a mapping");
	tc_expect_error("zookeeper:\n  hots: a:1\n", 2, 3, "unknown zookeeper key 'hots'");
	tc_expect_error("zookeeper:\n  root: /a/\n", 2, 9, "must not end with '/'");
	tc_expect_error("zookeeper:\n  root: /a/../b\n", 2, 9, "'.' or '..' components");
	tc_expect_error("zookeeper:\n  hosts: a:1, b:2\n", 2, 10, "must not contain spaces");
	tc_expect_error("zookeeper:\n  session_timeout_ms: 5\n", 2, 23, "out of range");
	tc_expect_error("zookeeper.hosts: a:1\n", 1, 1, "unknown key");
	tc_expect_error("zookeeper:\n  auth_file: \"a\\tb\"\n", 2, 14,
			"must not contain control characters");
}

/* zookeeper.auth_file: none by default (empty, as written back); a path longer than a root (the
 * field is its own size) read, written back and overridden by the
 * environment. */
static void test_auth_file_key(void)
{
	char path[280], yaml[400];
	prdshm_config cfg, back;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	prdshm_config_init(&cfg);
	tc_expect_value(&cfg, "zookeeper.auth_file", "");
	prdshm_config_free(&cfg);
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(yaml, sizeof(yaml), "zookeeper:\n  auth_file: %s\n", path);
	CU_ASSERT_EQUAL_FATAL(tc_load(&cfg, yaml, &d), 0);
	tc_expect_value(&cfg, "zookeeper.auth_file", path);
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), 0);
	round_trip(&cfg, &back);
	tc_expect_value(&back, "zookeeper.auth_file", path);
	prdshm_config_free(&back);
	tc_clear_env();
	setenv("PRD_PARALLEL_ZOOKEEPER_AUTH_FILE", "/etc/prdshm/zk.auth", 1);
	CU_ASSERT_EQUAL(prdshm_config_apply_env(&cfg, &d), 0);
	tc_expect_value(&cfg, "zookeeper.auth_file", "/etc/prdshm/zk.auth");
	CU_ASSERT_EQUAL(prdshm_config_origin(&cfg, "zookeeper.auth_file", NULL, NULL),
			PRDSHM_FROM_ENV);
	tc_clear_env();
	prdshm_config_free(&cfg);
}

const tu_test tu_tests[] = {
	TU(test_defaults),
	TU(test_get_errors),
	TU(test_shipped_file),
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
	TU(test_backend_keys),
	TU(test_auth_file_key),
	{ NULL, NULL },
};
const char *tu_suite = "config";
