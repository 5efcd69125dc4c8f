/*
 * test_segment.c: segment life cycle, stamping and refusal of foreign or
 * corrupt segments (the phase region included), damage found after open,
 * resource limits at creation and mapping, sessions and their table, the
 * error table.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan/phases.h"
#include "lock/region.h"
#include "session/region.h"
#include "shm/segment.h"
#include "testutil.h"

static void test_create_open_close(void)
{
	prdshm_config cfg;
	prdshm_seg *a = NULL, *b = NULL;
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;

	tu_config(&cfg);
	a = tu_seg_create(&cfg);
	CU_ASSERT_EQUAL(prdshm_seg_create(&cfg, &b), PRDSHM_EEXIST);
	CU_ASSERT_PTR_NULL(b);
	CU_ASSERT_EQUAL_FATAL(prdshm_seg_open(cfg.shm_name, &b), 0);
	CU_ASSERT_EQUAL(prdshm_seg_info_get(b, &info), 0);
	CU_ASSERT_EQUAL(info.max_locks, 256);
	CU_ASSERT_EQUAL(info.max_agents, 16);
	CU_ASSERT_EQUAL(info.lock_timeout_seconds, cfg.lock_timeout_seconds);
	CU_ASSERT_STRING_EQUAL(info.shm_name, cfg.shm_name);
	prdshm_seg_close(b);
	prdshm_seg_close(a);
	prdshm_seg_close(NULL);
	CU_ASSERT_EQUAL(prdshm_seg_unlink(cfg.shm_name), 0);
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &b), PRDSHM_ENOENT);
	CU_ASSERT_EQUAL(prdshm_seg_unlink(cfg.shm_name), PRDSHM_ENOENT);
	prdshm_config_free(&cfg);
}

static void test_mode_is_applied(void)
{
	prdshm_config cfg;
	prdshm_seg *a = NULL;
	struct stat st;
	char path[300];

	tu_config(&cfg);
	a = tu_seg_create(&cfg);
	snprintf(path, sizeof(path), "/dev/shm%s", cfg.shm_name);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	tu_destroy(&cfg, a);
}

static void test_null_and_invalid_arguments(void)
{
	prdshm_config cfg;
	prdshm_seg *s = NULL;
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;
	int created = -1;

	tu_config(&cfg);
	CU_ASSERT_EQUAL(prdshm_seg_create(NULL, &s), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_seg_create(&cfg, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, NULL), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_seg_open_or_create(NULL, &s, &created), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(created, 0);
	CU_ASSERT_EQUAL(prdshm_seg_info_get(NULL, &info), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_seg_unlink("no-slash"), PRDSHM_ENAME);
	/* An invalid configuration creates nothing. */
	cfg.max_parallel_agents = cfg.max_agents + 1;
	CU_ASSERT_EQUAL(prdshm_seg_create(&cfg, &s), PRDSHM_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "is larger than max_agents"));
	cfg.max_parallel_agents = 1;
	snprintf(cfg.shm_name, sizeof(cfg.shm_name), "/two/slashes");
	CU_ASSERT_EQUAL(prdshm_seg_create(&cfg, &s), PRDSHM_ENAME);
	CU_ASSERT_PTR_NULL(s);
	prdshm_config_free(&cfg);
}

static void test_bad_names(void)
{
	prdshm_seg *s = NULL;

	CU_ASSERT_EQUAL(prdshm_seg_open("noslash", &s), PRDSHM_ENAME);
	CU_ASSERT_EQUAL(prdshm_seg_open("/a/b", &s), PRDSHM_ENAME);
	CU_ASSERT_EQUAL(prdshm_seg_open("/", &s), PRDSHM_ENAME);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "invalid segment name"));
}

/* A plan of two phases, "b" after "a", so that the phase region has
 * dependency lists to damage. */
static void add_plan(prdshm_config *cfg)
{
	static const char plan[] = "phases:\n  - id: a\n  - id: b\n    dependencies: [a]\n";
	prdshm_diag d = PRDSHM_DIAG_INIT;

	CU_ASSERT_EQUAL_FATAL(prdshm_config_load_string(cfg, plan, strlen(plan), "plan", &d), 0);
}

/* Create a segment, then let @p mutate damage its bytes; opening must fail
 * with @p want. */
/* prdshm_last_error() of the latest open_damaged(): the clean-up after it
 * succeeds, and clears the thread's message. */
static char damage_msg[512];

static void open_damaged(void (*mutate)(unsigned char *base, size_t size), int want)
{
	prdshm_config cfg;
	prdshm_seg *a = NULL, *b = NULL;
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;

	tu_config(&cfg);
	add_plan(&cfg);
	a = tu_seg_create(&cfg);
	prdshm_seg_info_get(a, &info);
	mutate(a->base, info.size);
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &b), want);
	CU_ASSERT_PTR_NULL(b);
	CU_ASSERT_NOT_EQUAL(prdshm_last_error()[0], '\0');
	snprintf(damage_msg, sizeof(damage_msg), "%s", prdshm_last_error());
	tu_destroy(&cfg, a);
}

static void bad_magic(unsigned char *base, size_t size)
{
	memcpy(base, "NOTOURS!", 8);
}

static void bad_format(unsigned char *base, size_t size)
{
	((struct prdshm__hdr *)base)->format = 99;
}

static void bad_layout(unsigned char *base, size_t size)
{
	((struct prdshm__hdr *)base)->layout_hash ^= 1;
}

static void bad_offsets(unsigned char *base, size_t size)
{
	((struct prdshm__hdr *)base)->regions[PRDSHM__REGION_LOCKS].off += 64;
}

static void bad_limits(unsigned char *base, size_t size)
{
	((struct prdshm__hdr *)base)->max_agents = 1u << 30;
}

static struct prdshm__phase_region *region_of(unsigned char *base)
{
	return (struct prdshm__phase_region *)(void *)(base +
						       ((struct prdshm__hdr *)base)->regions[PRDSHM__REGION_PHASES].off);
}

static void region_magic(unsigned char *base, size_t size)
{
	region_of(base)->magic ^= 1;
}

static void region_counts(unsigned char *base, size_t size)
{
	region_of(base)->nphases = region_of(base)->max_phases + 1;
}

static void region_offsets(unsigned char *base, size_t size)
{
	region_of(base)->off_phases += 4;
}

static void region_topo(unsigned char *base, size_t size)
{
	region_of(base)->topo_off += 2;
}

static void region_config(unsigned char *base, size_t size)
{
	region_of(base)->max_parallel = 0;
}

static void region_deps(unsigned char *base, size_t size)
{
	struct prdshm__phase_region *reg = region_of(base);
	struct prdshm__phase *ph = (struct prdshm__phase *)(void *)((unsigned char *)reg +
								     reg->off_phases);

	ph[1].deps_off = UINT32_MAX - 1;
}

/* The phase region's header and lists are checked at open like the
 * segment's own. */
static void test_refuses_corrupt_phase_region(void)
{
	static const struct {
		void (*mutate)(unsigned char *base, size_t size);
		const char *msg;
	} cases[] = {
		{ region_magic, "phase region: bad magic or size" },
		{ region_counts, "phase region: bad counts (65 phases, 2 waves)" },
		{ region_offsets, "phase region: bad offsets" },
		{ region_topo, "phase region: bad topological order" },
		{ region_config, "phase region: bad configuration" },
		{ region_deps, "phase region: dependency lists corrupt" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		open_damaged(cases[i].mutate, PRDSHM_ECORRUPT);
		CU_ASSERT_STRING_EQUAL(damage_msg, cases[i].msg);
	}
}

static void print_problem(void *ctx, int severity, const char *problem)
{
	printf("  check %d: %s\n", severity, problem);
	(*(int *)ctx)++;
}

/* Damage done after open is found by the next inspection, which refuses
 * to copy what it cannot bound. */
static void test_damage_after_open(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	prdshm_snapshot *snap = NULL;
	uint32_t saved;
	int nproblems = 0;

	tu_config(&cfg);
	add_plan(&cfg);
	seg = tu_seg_create(&cfg);
	saved = prdshm__plan(seg)->bytes;
	prdshm__plan(seg)->bytes = UINT32_MAX;
	CU_ASSERT_EQUAL(prdshm_snapshot_take(seg, 0, &snap), PRDSHM_ECORRUPT);
	CU_ASSERT_PTR_NULL(snap);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "phase region outside the mapping");
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, print_problem, &nproblems), PRDSHM_ECORRUPT);
	CU_ASSERT_EQUAL(nproblems, 1);
	prdshm__plan(seg)->bytes = saved;
	region_magic(seg->base, 0);
	CU_ASSERT_EQUAL(prdshm_snapshot_take(seg, PRDSHM_SNAP_NOLOCK, &snap), PRDSHM_ECORRUPT);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "phase region: bad magic or size");
	region_magic(seg->base, 0);
	CU_ASSERT_EQUAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->nphases, 2);
	prdshm_snapshot_free(snap);
	CU_ASSERT_EQUAL(prdshm_snapshot_take(NULL, 0, &snap), PRDSHM_EINVAL);
	CU_ASSERT_EQUAL(prdshm_snapshot_take(seg, 0, NULL), PRDSHM_EINVAL);
	tu_destroy(&cfg, seg);
}

static void test_refuses_foreign_and_corrupt(void)
{
	open_damaged(bad_magic, PRDSHM_ENOTSEG);
	CU_ASSERT_PTR_NOT_NULL(strstr(damage_msg, "bad magic"));
	open_damaged(bad_format, PRDSHM_EVERSION);
	CU_ASSERT_PTR_NOT_NULL(strstr(damage_msg, "format 99"));
	open_damaged(bad_layout, PRDSHM_EVERSION);
	CU_ASSERT_PTR_NOT_NULL(strstr(damage_msg, "layout hash"));
	open_damaged(bad_offsets, PRDSHM_ECORRUPT);
	open_damaged(bad_limits, PRDSHM_ECORRUPT);
}

static void test_not_initialised_is_corrupt(void)
{
	const char *name = tu_shm_name();
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	prdshm_seg *s = NULL;

	CU_ASSERT_FATAL(fd >= 0);
	/* A creator that died before writing anything: the opener waits its
	 * bounded time, then refuses. */
	CU_ASSERT_EQUAL(ftruncate(fd, 4096), 0);
	CU_ASSERT_EQUAL(prdshm_seg_open(name, &s), PRDSHM_ECORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "initialisation"));
	close(fd);
	shm_unlink(name);
}

/* A segment the file size limit does not allow fails to size and leaves
 * no name behind. */
static void test_file_size_limit(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	struct rlimit old, low;
	void (*was)(int);
	int r;

	tu_config(&cfg);
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old), 0);
	low = old;
	low.rlim_cur = 4096;
	/* Nothing may be written to the (redirected) output meanwhile. */
	fflush(NULL);
	was = signal(SIGXFSZ, SIG_IGN);
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &low), 0);
	r = prdshm_seg_create(&cfg, &seg);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, was);
	CU_ASSERT_EQUAL(r, PRDSHM_ESYS);
	CU_ASSERT_PTR_NULL(seg);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "initialise"));
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "File too large"));
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &seg), PRDSHM_ENOENT);
	prdshm_config_free(&cfg);
}

/* Bytes of address space this process maps (/proc/self/statm). */
static size_t mapped_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0;

	if (f) {
		if (fscanf(f, "%lu", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Lower RLIMIT_AS to what is mapped now plus @p slack; @return 1 if it
 * took effect (a larger anonymous mapping then fails). */
static int limit_address_space(struct rlimit *old, size_t slack)
{
	struct rlimit low;
	void *probe;

	if (getrlimit(RLIMIT_AS, old) != 0 || mapped_bytes() == 0)
		return 0;
	low = *old;
	low.rlim_cur = mapped_bytes() + slack;
	if (setrlimit(RLIMIT_AS, &low) != 0)
		return 0;
	probe = mmap(NULL, 2 * slack, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (probe == MAP_FAILED)
		return 1;
	munmap(probe, 2 * slack);
	setrlimit(RLIMIT_AS, old);
	return 0;
}

/* A process that cannot map the segment gets PRDSHM_ENOMEM; a creator
 * leaves no name behind.  Not under a checker, whose own mappings the
 * limit would break. */
static void test_address_space_limit(void)
{
	const size_t slack = 8u << 20;
	prdshm_config cfg;
	prdshm_seg *seg = NULL, *big = NULL;
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;
	struct rlimit old;
	int r1, r2;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	printf("  (skipped under a sanitizer)\n");
	return;
#endif
	if (getenv("TU_WRAPPED") && *getenv("TU_WRAPPED")) {
		printf("  (skipped under a checker)\n");
		return;
	}
	tu_config(&cfg);
	cfg.max_locks = 100000;
	big = tu_seg_create(&cfg);
	CU_ASSERT_EQUAL(prdshm_seg_info_get(big, &info), 0);
	CU_ASSERT(info.size > 2 * slack);
	if (!limit_address_space(&old, slack)) {
		printf("  (skipped: RLIMIT_AS not enforced)\n");
		goto out;
	}
	r1 = prdshm_seg_open(cfg.shm_name, &seg);
	prdshm_seg_unlink(cfg.shm_name);
	r2 = prdshm_seg_create(&cfg, &seg);
	setrlimit(RLIMIT_AS, &old);
	CU_ASSERT_EQUAL(r1, PRDSHM_ENOMEM);
	CU_ASSERT_EQUAL(r2, PRDSHM_ENOMEM);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "mmap"));
	CU_ASSERT_PTR_NULL(seg);
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &seg), PRDSHM_ENOENT);
out:
	tu_destroy(&cfg, big);
}

static void test_open_or_create(void)
{
	prdshm_config cfg;
	prdshm_seg *a = NULL, *b = NULL;
	int created = -1;

	tu_config(&cfg);
	CU_ASSERT_EQUAL_FATAL(prdshm_seg_open_or_create(&cfg, &a, &created), 0);
	CU_ASSERT_EQUAL(created, 1);
	CU_ASSERT_EQUAL_FATAL(prdshm_seg_open_or_create(&cfg, &b, &created), 0);
	CU_ASSERT_EQUAL(created, 0);
	prdshm_seg_close(a);
	tu_destroy(&cfg, b);
}

/* Racing creators: exactly one creates, all end with a usable segment. */
static int race_child(void *arg)
{
	prdshm_config *cfg = arg;
	prdshm_seg *s = NULL;
	prdshm_session *ss = NULL;
	int created = 0;

	if (prdshm_seg_open_or_create(cfg, &s, &created) != 0)
		return 10;
	if (prdshm_session_open(s, NULL, 0, &ss) != 0)
		return 11;
	if (prdshm_lock(ss, "race", PRDSHM_EXCLUSIVE, 5000, NULL) != 0)
		return 12;
	prdshm_session_close(ss);
	prdshm_seg_close(s);
	return created ? 1 : 0;
}

static void test_racing_creators(void)
{
	prdshm_config cfg;
	pid_t pids[6];
	int ncreated = 0;

	tu_config(&cfg);
	for (int i = 0; i < 6; i++)
		pids[i] = tu_fork(race_child, &cfg);
	for (int i = 0; i < 6; i++) {
		int st = tu_wait_child(pids[i], 20000);
		CU_ASSERT(st == 0 || st == 1);
		ncreated += st == 1;
	}
	CU_ASSERT_EQUAL(ncreated, 1);
	prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
}

static void test_sessions_table_full(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	prdshm_session *s[4] = { 0 }, *extra = NULL;

	tu_config(&cfg);
	cfg.max_agents = 4;
	cfg.max_parallel_agents = 3;
	seg = tu_seg_create(&cfg);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(prdshm_session_open(seg, NULL, 0, &s[i]), 0);
	CU_ASSERT_EQUAL(prdshm_session_open(seg, "one-more", 0, &extra), PRDSHM_EAGENTFULL);
	CU_ASSERT_STRING_EQUAL(prdshm_last_error(), "agents table full (max_agents=4)");
	/* A closed session frees its slot. */
	prdshm_session_close(s[2]);
	CU_ASSERT_EQUAL(prdshm_session_open(seg, "one-more", 0, &extra), 0);
	CU_ASSERT_EQUAL(prdshm_session_slot(extra), 2);
	CU_ASSERT_EQUAL(prdshm_session_open(seg, "bad id", 0, &s[2]), PRDSHM_ENAME);
	prdshm_session_close(extra);
	for (int i = 0; i < 4; i++)
		if (i != 2)
			prdshm_session_close(s[i]);
	tu_destroy(&cfg, seg);
}

struct child_arg {
	int fds[2];
	char name[PRDSHM_SHM_NAME_MAX + 1];
};

/* A SIGKILLed session's slot is reaped when the table is full. */
static int hold_slot_child(void *p)
{
	struct child_arg *arg = p;
	prdshm_seg *s = NULL;
	prdshm_session *ss = NULL;

	if (prdshm_seg_open(arg->name, &s) || prdshm_session_open(s, "doomed", 0, &ss))
		return 1;
	tu_signal(arg->fds[1], 'r');
	for (;;)
		pause();
}

static void test_dead_session_reaped_when_full(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	prdshm_session *a = NULL, *b = NULL;
	struct child_arg arg;
	pid_t pid;
	prdshm_snapshot *snap = NULL;

	tu_config(&cfg);
	cfg.max_agents = 2;
	cfg.max_parallel_agents = 2;
	seg = tu_seg_create(&cfg);
	CU_ASSERT_EQUAL_FATAL(pipe(arg.fds), 0);
	snprintf(arg.name, sizeof(arg.name), "%s", cfg.shm_name);
	pid = tu_fork(hold_slot_child, &arg);
	CU_ASSERT_EQUAL_FATAL(tu_await(arg.fds[0], 10000), 'r');
	CU_ASSERT_EQUAL(prdshm_session_open(seg, "a", 0, &a), 0);
	CU_ASSERT_EQUAL(prdshm_session_open(seg, "b", 0, &b), PRDSHM_EAGENTFULL);
	TU_KILL_CHILD(pid, 10000);
	CU_ASSERT_EQUAL(prdshm_session_open(seg, "b", 0, &b), 0);
	CU_ASSERT_EQUAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->nagents, 2);
	prdshm_snapshot_free(snap);
	prdshm_session_close(a);
	prdshm_session_close(b);
	tu_destroy(&cfg, seg);
	close(arg.fds[0]);
	close(arg.fds[1]);
}

static void test_errors_table(void)
{
	CU_ASSERT_STRING_EQUAL(prdshm_strerror(PRDSHM_EBUSY), "resource busy");
	CU_ASSERT_STRING_EQUAL(prdshm_err_name(PRDSHM_EDEADLK), "PRDSHM_EDEADLK");
	CU_ASSERT_STRING_EQUAL(prdshm_strerror(12345), "unknown error");
	CU_ASSERT_EQUAL(PRDSHM_EINVAL, -1);
	CU_ASSERT_EQUAL(PRDSHM_ENOAGENT, -29);
	CU_ASSERT_EQUAL(PRDSHM_EPERM, -30);
	CU_ASSERT_EQUAL(PRDSHM_EINTR, -31);
	CU_ASSERT_STRING_EQUAL(prdshm_err_name(PRDSHM_EINTR), "PRDSHM_EINTR");
	CU_ASSERT_EQUAL(PRDSHM_ENOSPC, -32);
	CU_ASSERT_STRING_EQUAL(prdshm_strerror(0), "success");
	CU_ASSERT_STRING_EQUAL(prdshm_err_name(0), "PRDSHM_OK");
	CU_ASSERT_EQUAL(PRDSHM_ENOTSUP, -33);
	CU_ASSERT_STRING_EQUAL(prdshm_err_name(PRDSHM_ENOTSUP), "PRDSHM_ENOTSUP");
	CU_ASSERT_STRING_EQUAL(prdshm_strerror(PRDSHM_ENOTSUP), "not supported by this backend");
	CU_ASSERT_EQUAL(PRDSHM_EUNREACHABLE, -34);
	CU_ASSERT_STRING_EQUAL(prdshm_err_name(PRDSHM_EUNREACHABLE), "PRDSHM_EUNREACHABLE");
	CU_ASSERT_STRING_EQUAL(prdshm_strerror(PRDSHM_EUNREACHABLE),
			       "coordination service unreachable");
	CU_ASSERT_STRING_EQUAL(prdshm_err_name(-35), "PRDSHM_UNKNOWN");
	CU_ASSERT_STRING_EQUAL(prdshm_phase_status_name(PRDSHM_PHASE_CANCELLED), "CANCELLED");
	CU_ASSERT_PTR_NULL(prdshm_phase_status_name(-1));
	CU_ASSERT_PTR_NULL(prdshm_phase_status_name(PRDSHM_PHASE_NSTATUS));
	CU_ASSERT_STRING_EQUAL(prdshm_agent_status_name(PRDSHM_AGENT_DEAD), "DEAD");
	CU_ASSERT_PTR_NULL(prdshm_agent_status_name(PRDSHM_AGENT_DEAD + 1));
	CU_ASSERT_PTR_NULL(prdshm_agent_status_name(-1));
	CU_ASSERT_STRING_EQUAL(prdshm_mode_name(PRDSHM_SHARED), "shared");
	CU_ASSERT_PTR_NULL(prdshm_mode_name(0));
}

const tu_test tu_tests[] = {
	TU(test_create_open_close),
	TU(test_null_and_invalid_arguments),
	TU(test_mode_is_applied),
	TU(test_bad_names),
	TU(test_refuses_foreign_and_corrupt),
	TU(test_refuses_corrupt_phase_region),
	TU(test_damage_after_open),
	TU(test_not_initialised_is_corrupt),
	TU(test_file_size_limit),
	TU(test_address_space_limit),
	TU(test_open_or_create),
	TU(test_racing_creators),
	TU(test_sessions_table_full),
	TU(test_dead_session_reaped_when_full),
	TU(test_errors_table),
	{ NULL, NULL },
};
const char *tu_suite = "segment";
