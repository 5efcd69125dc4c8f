/*
 * test_config_errors.c: every kind of bad configuration input, each
 * reported at its position with its message and nothing of it used:
 * syntax, encoding, unknown and duplicate keys, types, ranges, cross-key
 * rules, names and modes, phases and their graph, sizes, NULL arguments,
 * write errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "configfix.h"
#include "testutil.h"

static void test_syntax_error(void)
{
	tc_expect_error("max_locks: 5\nmax_agents: 4\n\tmax_phases: 2\n", 3, 1,
		     "YAML syntax error: found a tab character that violates indentation");
	tc_expect_error("max_locks: 5\n- x\n", 2, 1,
		     "YAML syntax error: did not find expected key while parsing a block mapping");
	tc_expect_error("max_locks: 5\nmax_agents: \"abc\n", 3, 1,
		     "YAML syntax error: found unexpected end of stream");
	tc_expect_error("max_locks: 5\nmax_agents: 4: 5\n", 2, 14,
		     "YAML syntax error: mapping values are not allowed in this context");
	tc_expect_error("max_locks: 5\nphases: [{id: a, name: b\n", 3, 1,
		     "did not find expected ',' or '}'");
}

static void test_bad_encoding(void)
{
	tc_expect_error("max_locks: 5\nshm_name: /a\xff\n", 2, 13,
		     "cannot read the input: invalid leading UTF-8 octet");
}

static void test_unknown_key(void)
{
	tc_expect_error("max_agents: 4\nmax_lock: 5\n", 2, 1,
		     "unknown key 'max_lock' (did you mean 'max_locks'?)");
	tc_expect_error("phase:\n  - id: a\n", 1, 1, "unknown key 'phase' (did you mean 'phases'?)");
	tc_expect_error("colour: red\n", 1, 1, "unknown key 'colour'");
	tc_expect_error("phases:\n  - id: a\n    dependencys: []\n", 3, 5,
		     "unknown phase key 'dependencys' (did you mean 'dependencies'?)");
	tc_expect_error("phases:\n  - id: a\n    estimate: 3\n", 3, 5, "unknown phase key 'estimate'");
	tc_expect_error("[1, 2]\n", 1, 1, "the top level must be a mapping");
	tc_expect_error("? [a]\n: 1\n", 1, 3, "keys must be plain words");
}

static void test_unknown_key_no_hint(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	CU_ASSERT_EQUAL(tc_load(&cfg, "colour: red\n", &d), PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.msg, "unknown key 'colour'");
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "test.yaml:1:1: unknown key 'colour'");
	prdshm_config_free(&cfg);
}

static void test_duplicate_key(void)
{
	tc_expect_error("max_locks: 5\nmax_agents: 4\nmax_locks: 6\n", 3, 1,
		     "duplicate key 'max_locks' (first at line 1, column 1)");
	tc_expect_error("phases: []\nphases: []\n", 2, 1, "duplicate key 'phases'");
	tc_expect_error("phases:\n  - id: a\n    name: x\n    name: y\n", 4, 5,
		     "duplicate key 'name' (first at line 3, column 5)");
}

static void test_wrong_type(void)
{
	tc_expect_error("max_locks: lots\n", 1, 12, "max_locks: expected an integer, got 'lots'");
	tc_expect_error("max_locks: 12abc\n", 1, 12, "expected an integer, got '12abc'");
	tc_expect_error("max_locks: 1.5\n", 1, 12, "expected an integer, got '1.5'");
	tc_expect_error("max_locks: 0x10\n", 1, 12, "expected an integer, got '0x10'");
	tc_expect_error("max_locks: [1]\n", 1, 12,
		     "max_locks: expected a single value, not a list or mapping");
	tc_expect_error("max_locks:\n", 1, 11, "max_locks: empty value");
	tc_expect_error("scheduling: parallel\n", 1, 13,
		     "scheduling: expected 'waves' or 'eager', got 'parallel'");
	tc_expect_error("phases: 3\n", 1, 9, "phases: expected a list of phases");
	tc_expect_error("phases:\n  - a\n", 2, 5, "each phase must be a mapping");
	tc_expect_error("phases:\n  - id: a\n    dependencies: b\n", 3, 19,
		     "dependencies: expected a list");
	tc_expect_error("phases:\n  - id: a\n    outputs: [[x]]\n", 3, 15,
		     "outputs: expected a single value");
	tc_expect_error("phases:\n  - id: [a]\n", 2, 9, "id: expected a single value");
	tc_expect_error("max_locks: \"1\\02\"\n", 1, 12, "NUL byte");
}

static void test_out_of_range(void)
{
	tc_expect_error("max_parallel_agents: 0\n", 1, 22,
		     "max_parallel_agents: 0 is out of range (1..4096)");
	tc_expect_error("lock_timeout_seconds: -1\n", 1, 23,
		     "lock_timeout_seconds: -1 is out of range");
	tc_expect_error("wave_delay_seconds: -5\n", 1, 21, "is out of range (0..");
	tc_expect_error("deadlock_timeout_ms: -1\n", 1, 22, "deadlock_timeout_ms: -1 is out of range");
	tc_expect_error("max_locks: 4000001\n", 1, 12,
		     "max_locks: 4000001 is out of range (1..4000000)");
	tc_expect_error("max_phases: 100001\n", 1, 13, "(1..100000)");
	tc_expect_error("max_agents: 4097\n", 1, 13, "max_agents: 4097 is out of range (1..4096)");
	tc_expect_error("max_agents: 99999999999999999999\n", 1, 13,
		     "max_agents: 99999999999999999999 is out of range");
	tc_expect_error("max_agents: -99999999999999999999\n", 1, 13, "is out of range");
	tc_expect_error("monitoring_update_interval: 0\n", 1, 29, "out of range (1..86400)");
	tc_expect_error("phase_max_attempts: 0\n", 1, 21, "out of range (1..1000)");
}

static void test_cross_key(void)
{
	/* The explicitly set value is the one pointed at: the value, not its key. */
	tc_expect_invalid("max_locks: 5\nmax_parallel_agents: 10\nmax_agents: 4\n", 2, 22,
		       "max_parallel_agents (10) is larger than max_agents (4)");
	tc_expect_invalid("max_locks: 5\nmax_agents: 2\n", 2, 13,
		       "max_parallel_agents (3) is larger than max_agents (2)");
}

static void test_cross_key_env(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	tc_clear_env();
	setenv("PRD_PARALLEL_MAX_AGENTS", "2", 1);
	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL(prdshm_config_load(&cfg, "/dev/null", &d), PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.file, "PRD_PARALLEL_MAX_AGENTS");
	CU_ASSERT_STRING_EQUAL(d.msg, "max_parallel_agents (3) is larger than max_agents (2)");
	/* A failed load leaves nothing partial behind. */
	CU_ASSERT_EQUAL(cfg.max_agents, 64);
	CU_ASSERT_PTR_NULL(cfg.src_);
	prdshm_config_free(&cfg);
	tc_clear_env();
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

	tc_expect_error("shm_name: prdpar\n", 1, 11, "shm_name: 'prdpar' must start with '/'");
	tc_expect_error("shm_name: /a/b\n", 1, 11, "shm_name: '/a/b' must not contain a second '/'");
	tc_expect_error("shm_name: /\n", 1, 11, "needs a name after the '/'");
	tc_expect_error("shm_name: /..\n", 1, 11, "must not be '.' or '..'");
	tc_expect_error("shm_name: \"/a\\tb\"\n", 1, 11, "must not contain control characters");
	/* 255 bytes is the limit, the '/' included. */
	snprintf(yaml, sizeof(yaml), "shm_name: /%0254d\n", 0);
	CU_ASSERT_EQUAL(tc_load(&cfg, yaml, &d), 0);
	CU_ASSERT_EQUAL(strlen(cfg.shm_name), 255);
	prdshm_config_free(&cfg);
	snprintf(yaml, sizeof(yaml), "shm_name: /%0255d\n", 0);
	tc_expect_error(yaml, 1, 11, "is longer than 255 bytes");
	CU_ASSERT_EQUAL(tc_load(&cfg, "shm_name: \"/prd par-é\"\n", &d), 0);
	CU_ASSERT_STRING_EQUAL(cfg.shm_name, "/prd par-é");
	prdshm_config_free(&cfg);
}

static void test_bad_mode(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	tc_expect_error("shm_mode: 0800\n", 1, 11,
		     "shm_mode: expected an octal mode such as 0600, got '0800'");
	tc_expect_error("shm_mode: rw\n", 1, 11, "expected an octal mode");
	tc_expect_error("shm_mode: -0600\n", 1, 11, "expected an octal mode");
	tc_expect_error("shm_mode: 01777\n", 1, 11, "shm_mode: 01777 is not within 0777");
	tc_expect_error("shm_mode: 0777777777777777777\n", 1, 11, "is not within 0777");
	tc_expect_error("shm_mode: 0400\n", 1, 11,
		     "shm_mode: 0400 must give the owner read and write (0600)");
	tc_expect_error("shm_mode: 0060\n", 1, 11, "must give the owner read and write");
	CU_ASSERT_EQUAL(tc_load(&cfg, "shm_mode: 0o640\n", &d), 0);
	CU_ASSERT_EQUAL(cfg.shm_mode, 0640);
	prdshm_config_free(&cfg);
	tc_expect_error("shm_mode: 0644\n", 1, 11, "shm_mode: 0644 lets every user open the segment");
	/* Explicit octal only (issue 19): 777 is not read as 0777. */
	tc_expect_error("shm_mode: 777\n", 1, 11,
			"shm_mode: write the mode in octal with a leading 0, such as 0777, not '777'");
	tc_expect_error("shm_mode: 600\n", 1, 11, "with a leading 0, such as 0600, not '600'");
	CU_ASSERT_EQUAL(tc_load(&cfg, "shm_mode: \"0600\"\n", &d), 0);
	CU_ASSERT_EQUAL(cfg.shm_mode, 0600);
	prdshm_config_free(&cfg);
	tc_expect_invalid("shm_mode: 0640\n", 1, 11,
		       "shm_mode: 0640 lets the segment's group open it: name that group");
	/* Writable by other users: never; by the group: only when named. */
	tc_expect_error("shm_mode: 0666\n", 1, 11, "shm_mode: 0666 lets every user write");
	tc_expect_error("shm_group: root\nshm_mode: 0602\n", 2, 11, "lets every user write");
	tc_expect_invalid("max_locks: 10\nshm_mode: 0660\n", 2, 11,
		       "shm_mode: 0660 lets the segment's group write it: name that group in "
		       "shm_group");
}

static void test_shm_group(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	char yaml[128];

	CU_ASSERT_EQUAL(tc_load(&cfg, "shm_mode: 0660\nshm_group: root\n", &d), 0);
	CU_ASSERT_STRING_EQUAL(cfg.shm_group, "root");
	CU_ASSERT_EQUAL(cfg.shm_mode, 0660);
	CU_ASSERT_EQUAL(prdshm_config_validate(&cfg, &d), 0);
	prdshm_config_free(&cfg);
	CU_ASSERT_EQUAL(tc_load(&cfg, "shm_group: \"4242\"\nshm_mode: 0660\n", &d), 0);
	CU_ASSERT_STRING_EQUAL(cfg.shm_group, "4242");
	prdshm_config_free(&cfg);
	CU_ASSERT_EQUAL(tc_load(&cfg, "shm_group: \"\"\n", &d), 0);
	CU_ASSERT_STRING_EQUAL(cfg.shm_group, "");
	prdshm_config_free(&cfg);
	tc_expect_error("shm_group: no-such-group-here\n", 1, 12,
		     "shm_group: 'no-such-group-here' is not a group on this system");
	snprintf(yaml, sizeof(yaml), "shm_group: g%032d\n", 0);
	tc_expect_error(yaml, 1, 12, "is longer than 32 bytes");
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
		CU_ASSERT_EQUAL(tc_load(&cfg, yaml, &d), 0);
		CU_ASSERT_DOUBLE_EQUAL(cfg.phases[0].estimated_minutes, ok[i].minutes, 1e-12);
		prdshm_config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml), "phases:\n  - id: a\n    estimated_time: %s\n",
			 bad[i]);
		tc_expect_error(yaml, 3, 21, "estimated_time: expected minutes or a duration");
	}
}

static void test_phase_parse_errors(void)
{
	tc_expect_error("phases:\n  - name: x\n", 2, 5, "phase has no 'id'");
	tc_expect_error("phases:\n  - id: \"a b\"\n", 2, 9, "phase id 'a b' is not valid");
	tc_expect_error("phases:\n  - id: ~\n", 2, 9, "id: empty value");
	tc_expect_error("phases:\n  - id:\n    name: x\n", 2, 8, "id: empty value");
	tc_expect_error("phases:\n  - id: a\n    dependencies: [ok, \"b c\"]\n", 3, 24,
		     "dependencies: 'b c' is not a valid phase id");
	tc_expect_error("phases:\n  - id: a\n    outputs: [\"\"]\n", 3, 15,
		     "outputs: a resource name has 1..255 bytes");
}

/* Errors the graph finds point at the value at fault: the duplicate id, the
 * unknown dependency, the dependency that closes a cycle. */
static void test_phase_graph_errors(void)
{
	tc_expect_invalid("phases:\n  - id: a\n  - id: b\n  - id: a\n", 4, 9,
		       "duplicate phase id 'a' (first at line 2, column 9)");
	tc_expect_invalid("phases:\n  - name: x\n    id: a\n  - id: a\n", 4, 9,
		       "duplicate phase id 'a' (first at line 3, column 9)");
	tc_expect_invalid("phases:\n  - id: a\n  - id: b\n    dependencies: [x]\n", 4, 20,
		       "unknown phase 'x'");
	tc_expect_invalid("phases:\n  - id: a\n    dependencies: [x]\n", 3, 20,
		       "depends on unknown phase 'x'");
	tc_expect_invalid("phases:\n  - id: a\n  - id: b\n    dependencies:\n      - a\n"
		       "      - x\n",
		       6, 9, "unknown phase 'x'");
	tc_expect_invalid("phases:\n  - id: a\n    dependencies: [a]\n", 3, 20,
		       "dependency cycle: a -> a");
}

/* A cycle is reported at the dependency that starts the loop its message
 * prints, not at the phase. */
static void test_phase_cycle_position(void)
{
	tc_expect_invalid("phases:\n  - id: a\n    dependencies: [b]\n"
		       "  - id: b\n    dependencies: [a]\n",
		       3, 20, "dependency cycle: a -> b -> a");
	tc_expect_invalid("phases:\n  - id: d\n  - id: a\n    dependencies: [d, b]\n"
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

	CU_ASSERT_EQUAL_FATAL(tc_load(&cfg, yaml, &d), 0);
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
	tc_expect_invalid("max_phases: 2\nphases:\n  - id: a\n  - id: b\n  - id: c\n", 5, 5,
		       "3 phases: more than max_phases (2)");
}

static void test_aliases(void)
{
	tc_expect_error("max_locks: &n 5\nmax_agents: *n\n", 1, 12,
		     "YAML anchors are not supported (&n)");
	tc_expect_error("phases:\n  - id: a\n    outputs: *o\n", 3, 14,
		     "YAML aliases are not supported (*o)");
}

static void test_two_documents(void)
{
	tc_expect_error("max_locks: 5\n---\nmax_locks: 6\n", 2, 1, "only one YAML document");
}

/* A failed load leaves everything of the previous configuration. */
static void test_nothing_partial(void)
{
	static const char bad[] = "max_agents: 30\nmax_locks: 100\n"
				  "phases:\n  - id: z\n  - id: \"bad id\"\n";
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	int line;

	CU_ASSERT_EQUAL_FATAL(tc_load(&cfg, tc_full_yaml, &d), 0);
	CU_ASSERT_EQUAL(prdshm_config_load_string(&cfg, bad, strlen(bad), "second.yaml", &d),
			PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d.file, "second.yaml");
	CU_ASSERT_EQUAL(d.line, 5);
	tc_check_full(&cfg);
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

	tc_expect_error("phases:\n  - id: \"a\\0b\"\n", 2, 9, "id: the value holds a NUL byte");
	snprintf(yaml, sizeof(yaml), "phases:\n  - id: a\n    estimated_time: %070d\n", 1);
	tc_expect_error(yaml, 3, 21, "estimated_time: expected minutes or a duration");
	tc_expect_error("phases:\n  - {[x]: 1}\n", 2, 6, "a phase's keys must be plain words");
	tc_expect_error("phases:\n  - [x]\n", 2, 5, "each phase must be a mapping");
	/* Syntax errors inside a list, a phase and the list of phases. */
	tc_expect_error("phases:\n  - id: a\n    dependencies: [b, \n", 4, 1,
		     "YAML syntax error: did not find expected node content");
	tc_expect_error("phases:\n  - id: a\n    name: x\n   bad\n", 4, 4,
		     "YAML syntax error: did not find expected '-' indicator");
	tc_expect_error("phases:\n  - id: a\n  - {id: b\n", 4, 1, "YAML syntax error");
	/* A key too long to be a misspelling gets no hint. */
	snprintf(yaml, sizeof(yaml), "k%070d: 1\n", 0);
	tc_expect_error(yaml, 1, 1, "unknown key 'k000");
}

/* "~" means "not given": no dependencies, the name defaults to the id,
 * and "phases: ~" is an empty plan. */
static void test_null_values(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;
	int line = 0;

	CU_ASSERT_EQUAL_FATAL(tc_load(&cfg, "phases:\n  - id: a\n    dependencies: ~\n"
					 "    outputs:\n    name: ~\n    command: ~\n",
				   &d),
			      0);
	CU_ASSERT_EQUAL_FATAL(cfg.nphases, 1);
	CU_ASSERT_EQUAL(cfg.phases[0].ndeps, 0);
	CU_ASSERT_EQUAL(cfg.phases[0].noutputs, 0);
	CU_ASSERT_STRING_EQUAL(cfg.phases[0].name, "a");
	CU_ASSERT_PTR_NULL(cfg.phases[0].command);
	prdshm_config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(tc_load(&cfg, "max_locks: 9\nphases: ~\n", &d), 0);
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

	tc_clear_env();
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

	CU_ASSERT_EQUAL_FATAL(tc_load(&cfg, tc_full_yaml, &d), 0);
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

const tu_test tu_tests[] = {
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
const char *tu_suite = "config_errors";
