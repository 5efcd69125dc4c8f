/*
 * test_tools_json.c: the tools' JSON documents parsed back with jansson
 * (schema: docs/json-schema.md), and the scripted recovery path with a real
 * agent that holds locks and a phase when it is SIGKILLed.
 *
 * The tools are run from $BUILD/bin (default build/bin) with system() and
 * popen(); the shell tests in tests/cli/ cover the rest of their contract.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"

static const char plan_yaml[] = "max_locks: 64\n"
				"max_agents: 8\n"
				"max_phases: 8\n"
				"phases:\n"
				"  - id: build\n"
				"    outputs: [out/build, out/log]\n"
				"  - id: test\n"
				"    dependencies: [build]\n"
				"    outputs: [out/test]\n";

/* A resource name that is not UTF-8 and holds a control byte and a quote. */
static const char odd_name[] = "bad\xff\x01\"name";

static char plan_path[256];
static prdshm_config cfg;
static prdshm_seg *seg;

/* Write the plan, create the segment from it under a fresh name. */
static void setup(void)
{
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	FILE *f;

	snprintf(plan_path, sizeof(plan_path), "/tmp/prdshm-tj-%ld.yaml", (long)getpid());
	f = fopen(plan_path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(plan_yaml, f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(prdshm_config_load(&cfg, plan_path, &diag), 0);
	CU_ASSERT_EQUAL_FATAL(
		prdshm_config_set(&cfg, "shm_name", tu_shm_name(), PRDSHM_FROM_CMDLINE, &diag), 0);
	seg = tu_seg_create(&cfg);
}

static void teardown(void)
{
	prdshm_seg_close(seg);
	seg = NULL;
	prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
	unlink(plan_path);
}

static void vcommand(char *buf, size_t size, const char *tool, const char *fmt, va_list ap)
{
	int n = snprintf(buf, size, "%s/prdshm-%s -c %s --name %s ", tu_bindir(), tool, plan_path,
			 cfg.shm_name);

	vsnprintf(buf + n, size - (size_t)n, fmt, ap);
}

/* Run a tool; @return its exit status, or -1. */
static int run(const char *tool, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(const char *tool, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vcommand(cmd, sizeof(cmd), tool, fmt, ap);
	va_end(ap);
	strncat(cmd, " >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	st = system(cmd);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run a tool and parse its stdout as one JSON document. */
static json_t *run_json(int *rc, const char *tool, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static json_t *run_json(int *rc, const char *tool, const char *fmt, ...)
{
	char cmd[2048];
	json_error_t err;
	json_t *doc;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vcommand(cmd, sizeof(cmd), tool, fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	doc = json_loadf(p, 0, &err);
	if (doc == NULL)
		fprintf(stderr, "%s: JSON error: %s (line %d)\n", cmd, err.text, err.line);
	st = pclose(p);
	*rc = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return doc;
}

static json_t *load_file(const char *path)
{
	json_error_t err;
	json_t *doc = json_load_file(path, 0, &err);

	if (doc == NULL)
		fprintf(stderr, "%s: JSON error: %s (line %d)\n", path, err.text, err.line);
	return doc;
}

/* The element of array @p a whose string member @p key equals @p value. */
static json_t *find_by(json_t *a, const char *key, const char *value)
{
	size_t i;
	json_t *e;

	json_array_foreach(a, i, e)
	{
		const char *s = json_string_value(json_object_get(e, key));

		if (s && strcmp(s, value) == 0)
			return e;
	}
	return NULL;
}

static const char *str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "(missing)";
}

static int is_time(json_t *v)
{
	const char *s = json_string_value(v);

	/* "2024-05-01T12:00:00.123Z" */
	return s && strlen(s) == 24 && s[10] == 'T' && s[23] == 'Z';
}

static int array_has(json_t *a, const char *value)
{
	size_t i;
	json_t *e;

	json_array_foreach(a, i, e)
	{
		if (json_is_string(e) && strcmp(json_string_value(e), value) == 0)
			return 1;
	}
	return 0;
}

static void assert_document(json_t *doc)
{
	static const char *const arrays[] = { "agents", "locks", "phases", "waves", "problems" };
	json_t *s = json_object_get(doc, "segment");
	json_t *m = json_object_get(doc, "metrics");

	CU_ASSERT_FATAL(json_is_object(doc));
	/* prdshm-inspect adds the metrics; prdshm-cleanup's evidence has the
	 * snapshot alone. */
	CU_ASSERT_EQUAL(json_object_size(doc), m ? 7 : 6);
	if (m) {
		CU_ASSERT(json_is_array(json_object_get(m, "resources")));
		CU_ASSERT(json_is_integer(json_object_get(json_object_get(m, "locks"),
							   "acquisitions")));
		CU_ASSERT_EQUAL(json_array_size(json_object_get(m, "wait_bucket_le_seconds")),
				PRDSHM_WAIT_BUCKETS);
	}
	CU_ASSERT_FATAL(json_is_object(s));
	for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++)
		CU_ASSERT(json_is_array(json_object_get(doc, arrays[i])));
	CU_ASSERT_STRING_EQUAL(str(s, "name"), cfg.shm_name);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(s, "schema_version")), 1);
	CU_ASSERT(json_is_boolean(json_object_get(s, "locked")));
	CU_ASSERT(is_time(json_object_get(s, "created")));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(s, "limits"),
							   "max_agents")),
			8);
}

/* ---- a child that holds things ------------------------------------------- */

struct child_arg {
	const char *shm_name;
	int fd;        /* write end: one byte once it holds what it should */
	int claim;     /* claim a phase and lock its outputs */
	const char *wait_for; /* block on this resource (SHARED) */
};

static int child(void *p)
{
	struct child_arg *ca = p;
	const char *outs[] = { "out/build", "out/log" };
	prdshm_seg *cseg = NULL;
	prdshm_session *s = NULL;
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	TU_CHILD_ASSERT(prdshm_seg_open(ca->shm_name, &cseg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(cseg, ca->claim ? "victim" : "waiter", 0, &s) == 0);
	if (ca->claim) {
		TU_CHILD_ASSERT(prdshm_phase_claim(s, &c) == 0);
		TU_CHILD_ASSERT(strcmp(c.id, "build") == 0);
		TU_CHILD_ASSERT(prdshm_lock_many(s, outs, 2, PRDSHM_EXCLUSIVE, PRDSHM_TRY, c.id,
						 NULL) == 0);
		TU_CHILD_ASSERT(prdshm_agent_log(s, "building") == 0);
		tu_signal(ca->fd, 'c');
	}
	if (ca->wait_for)
		prdshm_lock(s, ca->wait_for, PRDSHM_SHARED, PRDSHM_WAIT_FOREVER, NULL);
	for (;;)
		pause();
	return 0;
}

static pid_t start_victim(void)
{
	struct child_arg ca = { cfg.shm_name, -1, 1, NULL };
	int fds[2];
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	ca.fd = fds[1];
	pid = tu_fork(child, &ca);
	CU_ASSERT_EQUAL(tu_await(fds[0], 10000), 'c');
	close(fds[0]);
	close(fds[1]);
	return pid;
}

/* Poll (bounded) until a waiter shows in the lock's records. */
static int wait_for_waiter(const char *resource)
{
	int64_t deadline = tu_now_ms() + 10000;
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	size_t n;

	while (tu_now_ms() < deadline) {
		n = 0;
		if (prdshm_lock_query(seg, resource, 0, h, 4, &n) == 0)
			for (size_t i = 0; i < n && i < 4; i++)
				if (h[i].waiting)
					return 1;
		usleep(20000);
	}
	return 0;
}

/* ---- tests ----------------------------------------------------------------- */

static void assert_held_lock(json_t *locks, const char *holder_id, pid_t pid, int alive)
{
	json_t *l = find_by(locks, "resource", "out/build");
	json_t *h;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_STRING_EQUAL(str(l, "mode"), "exclusive");
	CU_ASSERT_EQUAL_FATAL(json_array_size(json_object_get(l, "holders")), 1);
	h = json_array_get(json_object_get(l, "holders"), 0);
	CU_ASSERT_STRING_EQUAL(str(h, "agent"), holder_id);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(h, "pid")), pid);
	CU_ASSERT_STRING_EQUAL(str(h, "phase"), "build");
	CU_ASSERT_STRING_EQUAL(str(h, "mode"), "exclusive");
	CU_ASSERT(is_time(json_object_get(h, "since")));
	CU_ASSERT(json_is_boolean(json_object_get(h, "alive")));
	CU_ASSERT_EQUAL(json_is_true(json_object_get(h, "alive")), alive);
	/* The victim sleeps in pause(): "running" means not stopped. */
	CU_ASSERT_STRING_EQUAL(str(h, "process"), alive ? "running" : "dead");
	CU_ASSERT(json_number_value(json_object_get(h, "held_s")) >= 0.0);
	CU_ASSERT(json_is_number(json_object_get(h, "held_s")));
	CU_ASSERT(json_is_false(json_object_get(h, "released")));
}

static void assert_waiter(json_t *locks, pid_t waiter)
{
	json_t *l = find_by(locks, "resource", "out/build");
	json_t *w;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL_FATAL(json_array_size(json_object_get(l, "waiters")), 1);
	w = json_array_get(json_object_get(l, "waiters"), 0);
	CU_ASSERT_STRING_EQUAL(str(w, "agent"), "waiter");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(w, "pid")), waiter);
	CU_ASSERT_STRING_EQUAL(str(w, "mode"), "shared");
	CU_ASSERT(json_is_null(json_object_get(w, "phase")));
	CU_ASSERT(json_is_true(json_object_get(w, "alive")));
	CU_ASSERT(array_has(json_object_get(w, "waits_for"), "victim"));
	CU_ASSERT_STRING_EQUAL(str(w, "process"), "running");
	CU_ASSERT(json_is_number(json_object_get(w, "waited_s")));
	CU_ASSERT_PTR_NULL(json_object_get(w, "released"));
}

static void assert_odd_lock(json_t *locks)
{
	json_t *l = find_by(locks, "resource_hex", "626164ff01226e616d65");

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	/* Invalid bytes become U+FFFD; the control byte and quote stay. */
	CU_ASSERT_STRING_EQUAL(str(l, "resource"), "bad\xef\xbf\xbd\x01\"name");
	CU_ASSERT_PTR_NULL(find_by(locks, "resource", "out/log") ? json_object_get(
		find_by(locks, "resource", "out/log"), "resource_hex") : NULL);
}

static void assert_phases(json_t *phases, const char *build_status, const char *agent)
{
	json_t *b = find_by(phases, "id", "build");
	json_t *t = find_by(phases, "id", "test");
	static const char *const keys[] = { "id", "name", "status", "wave", "dependencies",
					    "outputs", "agent", "attempts", "message",
					    "exit_status", "start", "end" };

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		CU_ASSERT_PTR_NOT_NULL(json_object_get(b, keys[i]));
	CU_ASSERT_STRING_EQUAL(str(b, "status"), build_status);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(b, "wave")), 0);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(b, "dependencies")), 0);
	CU_ASSERT(array_has(json_object_get(b, "outputs"), "out/log"));
	CU_ASSERT_STRING_EQUAL(str(b, "agent"), agent);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(b, "attempts")), 1);
	CU_ASSERT(is_time(json_object_get(b, "start")));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(t, "wave")), 1);
	CU_ASSERT(array_has(json_object_get(t, "dependencies"), "build"));
	CU_ASSERT(json_is_null(json_object_get(t, "agent")));
}

static void assert_victim_agent(json_t *agents, pid_t pid, int alive)
{
	json_t *a = find_by(agents, "id", "victim");

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(a, "pid")), pid);
	CU_ASSERT_EQUAL(json_is_true(json_object_get(a, "alive")), alive);
	CU_ASSERT_STRING_EQUAL(str(a, "status"), alive ? "BUSY" : "DEAD");
	CU_ASSERT_STRING_EQUAL(str(a, "phase"), "build");
	CU_ASSERT(array_has(json_object_get(a, "log"), "building"));
}

static void test_inspect_json_schema(void)
{
	struct child_arg wa;
	prdshm_session *s;
	pid_t victim, waiter;
	json_t *doc;
	int rc;

	setup();
	victim = start_victim();
	wa = (struct child_arg){ cfg.shm_name, -1, 0, "out/build" };
	waiter = tu_fork(child, &wa);
	CU_ASSERT_FATAL(wait_for_waiter("out/build"));
	s = tu_session(seg, "odd");
	CU_ASSERT_EQUAL(prdshm_lock(s, odd_name, PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);

	doc = run_json(&rc, "inspect", "--json");
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT(json_is_object(json_object_get(doc, "metrics")));
	assert_document(doc);
	/* The backend is named, and shared memory has no ZooKeeper member. */
	CU_ASSERT_STRING_EQUAL(str(json_object_get(doc, "segment"), "backend"), "shm");
	CU_ASSERT_PTR_NULL(json_object_get(json_object_get(doc, "segment"), "zookeeper"));
	assert_held_lock(json_object_get(doc, "locks"), "victim", victim, 1);
	assert_waiter(json_object_get(doc, "locks"), waiter);
	assert_odd_lock(json_object_get(doc, "locks"));
	assert_phases(json_object_get(doc, "phases"), "IN_PROGRESS", "victim");
	assert_victim_agent(json_object_get(doc, "agents"), victim, 1);
	{
		/* On shared memory every agent is on this host. */
		char host[256] = "";

		CU_ASSERT_EQUAL(gethostname(host, sizeof(host)), 0);
		CU_ASSERT_STRING_EQUAL(str(find_by(json_object_get(doc, "agents"), "id", "victim"),
					   "host"),
				       host);
	}
	CU_ASSERT_STRING_EQUAL(str(json_array_get(json_object_get(doc, "waves"), 0), "status"),
			       "running");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "problems")), 0);
	json_decref(doc);

	/* --no-lock reads the same document. */
	doc = run_json(&rc, "inspect", "--json --no-lock");
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	assert_document(doc);
	json_decref(doc);

	kill(waiter, SIGKILL);
	kill(victim, SIGKILL);
	tu_wait_child(waiter, 10000);
	tu_wait_child(victim, 10000);
	prdshm_session_close(s);
	teardown();
}

/* The holder of out/build in a fresh inspection document, which the caller
 * frees with json_decref(*doc).  Never FATAL: the caller has a stopped
 * child to kill whatever happens (NULL reads as "(missing)" below). */
static json_t *build_holder(json_t **doc)
{
	json_t *l;
	int rc;

	*doc = run_json(&rc, "inspect", "--json");
	CU_ASSERT_EQUAL(rc, 0);
	l = find_by(json_object_get(*doc, "locks"), "resource", "out/build");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(l, "holders")), 1);
	return json_array_get(json_object_get(l, "holders"), 0);
}

/*
 * A holder stopped by SIGSTOP: the kernel calls it alive, /proc says
 * stopped, and inspection shows both.  Under lock_timeout_seconds (300 s
 * here) --check still calls the segment healthy (tests/cli/stuck.sh goes
 * past it).
 */
static void test_stopped_holder(void)
{
	pid_t victim;
	json_t *doc, *h;

	setup();
	victim = start_victim();
	kill(victim, SIGSTOP);
	CU_ASSERT(tu_await_stopped(victim, 10000));
	h = build_holder(&doc);
	CU_ASSERT_STRING_EQUAL(str(h, "agent"), "victim");
	CU_ASSERT_STRING_EQUAL(str(h, "process"), "stopped");
	CU_ASSERT(json_is_true(json_object_get(h, "alive")));
	CU_ASSERT(json_number_value(json_object_get(h, "held_s")) >= 0.0);
	json_decref(doc);
	CU_ASSERT_EQUAL(run("inspect", "--check"), 0);

	kill(victim, SIGCONT);
	h = build_holder(&doc);
	CU_ASSERT_STRING_EQUAL(str(h, "process"), "running");
	json_decref(doc);
	kill(victim, SIGKILL);
	tu_wait_child(victim, 10000);
	teardown();
}

/* Poll (bounded) until @p resource is held by someone. */
static int wait_for_holder(const char *resource)
{
	int64_t deadline = tu_now_ms() + 10000;
	prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
	size_t n;

	while (tu_now_ms() < deadline) {
		n = 0;
		if (prdshm_lock_query(seg, resource, 0, h, 4, &n) == 0 && n > 0 && !h[0].waiting)
			return 1;
		usleep(20000);
	}
	return 0;
}

/* Holds "r", says 'h', and on 'u' releases it, stopped (PRDSHM_STOP_AT)
 * between its swap to RELEASED and its hand-off; then waits to be killed. */
static int releaser_child(void *p)
{
	const int *fds = p; /* [0]: read 'u' from the parent, [1]: write 'h' */
	prdshm_seg *cseg = NULL;
	prdshm_session *s = NULL;

	TU_CHILD_ASSERT(prdshm_seg_open(cfg.shm_name, &cseg) == 0);
	TU_CHILD_ASSERT(prdshm_session_open(cseg, "releaser", 0, &s) == 0);
	TU_CHILD_ASSERT(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL) == 0);
	tu_signal(fds[1], 'h');
	TU_CHILD_ASSERT(tu_await(fds[0], 20000) == 'u');
	setenv("PRDSHM_STOP_AT", "unlock_ring", 1);
	TU_CHILD_ASSERT(prdshm_unlock(s, "r") == 0);
	for (;;)
		pause();
	return 0;
}

/*
 * A hold let go without the mutex stays RELEASED until the next holder of
 * the partition mutex collects it, and blocks the waiters until then.  The
 * releaser hands over at once (docs/design.md, "The hand-off"), so it is
 * stopped between its swap and its hand-off, as a descheduled or killed
 * releaser would be, and the waiter is stopped too: inspection lists the
 * released hold among the holders, flagged, and the waiter as waiting for
 * its agent.
 */
static void test_released_record_visible(void)
{
	struct child_arg wa;
	int down[2], up[2], fds[2];
	pid_t waiter, releaser;
	json_t *doc, *l, *h;
	int rc;

	setup();
	CU_ASSERT_FATAL(pipe(down) == 0 && pipe(up) == 0);
	fds[0] = down[0];
	fds[1] = up[1];
	releaser = tu_fork(releaser_child, fds);
	CU_ASSERT_FATAL(tu_await(up[0], 10000) == 'h');
	wa = (struct child_arg){ cfg.shm_name, -1, 0, "r" };
	waiter = tu_fork(child, &wa);
	CU_ASSERT_FATAL(wait_for_waiter("r"));
	kill(waiter, SIGSTOP);
	CU_ASSERT(tu_await_stopped(waiter, 10000));
	tu_signal(down[1], 'u');
	CU_ASSERT(tu_await_stopped(releaser, 10000));

	/* No FATAL from here on: the stopped children must be killed. */
	doc = run_json(&rc, "inspect", "--json");
	CU_ASSERT_EQUAL(rc, 0);
	l = find_by(json_object_get(doc, "locks"), "resource", "r");
	CU_ASSERT_PTR_NOT_NULL(l);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(l, "holders")), 1);
	h = json_array_get(json_object_get(l, "holders"), 0);
	CU_ASSERT_STRING_EQUAL(str(h, "agent"), "releaser");
	CU_ASSERT(json_is_true(json_object_get(h, "released")));
	CU_ASSERT_STRING_EQUAL(str(l, "mode"), "exclusive");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(l, "waiters")), 1);
	h = json_array_get(json_object_get(l, "waiters"), 0);
	CU_ASSERT_STRING_EQUAL(str(h, "process"), "stopped");
	CU_ASSERT(array_has(json_object_get(h, "waits_for"), "releaser"));
	json_decref(doc);

	/* Continued, the releaser hands the lock over to the waiter. */
	kill(releaser, SIGCONT);
	kill(waiter, SIGCONT);
	CU_ASSERT(wait_for_holder("r"));
	kill(waiter, SIGKILL);
	kill(releaser, SIGKILL);
	tu_wait_child(waiter, 10000);
	tu_wait_child(releaser, 10000);
	for (int i = 0; i < 2; i++) {
		close(down[i]);
		close(up[i]);
	}
	teardown();
}

static void test_recovery_path(void)
{
	char evidence[256];
	json_t *doc, *ev;
	pid_t victim;
	int rc;

	setup();
	snprintf(evidence, sizeof(evidence), "/tmp/prdshm-tj-%ld.json", (long)getpid());
	victim = start_victim();
	CU_ASSERT_EQUAL(run("inspect", "--check"), 0);
	TU_KILL_CHILD(victim, 10000);

	CU_ASSERT_EQUAL(run("inspect", "--check"), 3);
	doc = run_json(&rc, "inspect", "--check --json");
	CU_ASSERT_EQUAL(rc, 3);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT(json_array_size(json_object_get(doc, "problems")) >= 2);
	CU_ASSERT_STRING_EQUAL(str(json_array_get(json_object_get(doc, "problems"), 0),
				   "severity"),
			       "warning");
	json_decref(doc);

	/* A dry run changes nothing. */
	doc = run_json(&rc, "cleanup", "--dry-run --json");
	CU_ASSERT_EQUAL(rc, 3);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT(json_is_false(json_object_get(doc, "healthy")));
	CU_ASSERT(json_is_true(json_object_get(doc, "dry_run")));
	CU_ASSERT(json_array_size(json_object_get(doc, "actions")) > 0);
	json_decref(doc);
	CU_ASSERT_EQUAL(run("inspect", "--check"), 3);

	doc = run_json(&rc, "cleanup", "--json --save-before %s", evidence);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT(json_is_true(json_object_get(doc, "healthy")));
	CU_ASSERT(json_array_size(json_object_get(doc, "actions")) > 0);
	json_decref(doc);

	/* The evidence shows the state before the repair. */
	ev = load_file(evidence);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
	assert_document(ev);
	assert_held_lock(json_object_get(ev, "locks"), "victim", victim, 0);
	assert_phases(json_object_get(ev, "phases"), "IN_PROGRESS", "victim");
	CU_ASSERT(json_array_size(json_object_get(ev, "problems")) >= 2);
	json_decref(ev);
	unlink(evidence);

	CU_ASSERT_EQUAL(run("inspect", "--check"), 0);
	doc = run_json(&rc, "inspect", "--json");
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "locks")), 0);
	CU_ASSERT_STRING_EQUAL(str(find_by(json_object_get(doc, "phases"), "id", "build"),
				   "status"),
			       "FAILED");
	CU_ASSERT_STRING_EQUAL(str(find_by(json_object_get(doc, "phases"), "id", "test"),
				   "status"),
			       "BLOCKED");
	json_decref(doc);

	/* And by hand: retry the failed phase. */
	doc = run_json(&rc, "phase", "--json retry build");
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_STRING_EQUAL(str(doc, "from"), "FAILED");
	CU_ASSERT_STRING_EQUAL(str(doc, "to"), "QUEUED");
	json_decref(doc);
	teardown();
}

static void test_cleanup_requeue(void)
{
	pid_t victim;
	json_t *doc;
	int rc;

	setup();
	victim = start_victim();
	TU_KILL_CHILD(victim, 10000);
	CU_ASSERT_EQUAL(run("cleanup", "--requeue"), 0);
	doc = run_json(&rc, "phase", "--json status build");
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_STRING_EQUAL(str(doc, "status"), "QUEUED");
	json_decref(doc);
	CU_ASSERT_EQUAL(run("inspect", "--check"), 0);
	teardown();
}

static void test_phase_status_json(void)
{
	json_t *doc;
	int rc;

	setup();
	doc = run_json(&rc, "phase", "--json status");
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "phases")), 2);
	CU_ASSERT_STRING_EQUAL(str(find_by(json_object_get(doc, "phases"), "id", "test"),
				   "status"),
			       "NOT_STARTED");
	json_decref(doc);
	CU_ASSERT_EQUAL(run("phase", "cancel test"), 0);
	CU_ASSERT_EQUAL(run("phase", "cancel test"), 2);
	CU_ASSERT_EQUAL(run("phase", "retry nosuch"), 2);
	teardown();
}

const tu_test tu_tests[] = {
	TU(test_inspect_json_schema),
	TU(test_stopped_holder),
	TU(test_released_record_visible),
	TU(test_recovery_path),
	TU(test_cleanup_requeue),
	TU(test_phase_status_json),
	{ NULL, NULL },
};
const char *tu_suite = "tools_json";
