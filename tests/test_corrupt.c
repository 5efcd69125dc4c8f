/*
 * test_corrupt.c: a real segment scribbled on, one byte at a time.
 *
 * A populated segment (sessions that hold, share and have released locks,
 * a running and a completed phase, a log line) is copied into another shm
 * object, where its sessions look dead.  Then, one flip at a time and
 * restored after, every byte of the header and a sample of the bytes of
 * each region (agents, partitions, slots, records, buckets, phase region)
 * is inverted, or has its low bit flipped, and the library and the tools
 * are run on the result:
 *
 *   - in-process, for every flip: prdshm_seg_open, prdshm_check (with and
 *     without the mutexes), a snapshot, and what prdshm-cleanup does (reap,
 *     recover when the check says so, check again); a segment the cleanup
 *     calls healthy must then take a lock;
 *   - the tools, for a smaller sample: prdshm-inspect, prdshm-inspect
 *     --check and prdshm-cleanup, each killed after 10 s.
 *
 * The only outcomes allowed are the tools' exit 4 (corrupt or
 * incompatible: PRDSHM_ECORRUPT, ERECOVER, ENOTSEG, EVERSION) or a healthy
 * or repaired state (exit 0, or 3 before the cleanup: dead agents); never a
 * crash, a hang or another error.  After the cleanup only 0 and 4 are
 * allowed: a 3 ("dead agents: run prdshm-cleanup") would send the operator
 * round in a circle.  Out-of-bounds reads are the sanitizer builds' part (make
 * asan runs this program).  Each region's in-process flips run in a child
 * with a time limit, so that a hang fails the test instead of stalling it.
 *
 * The bytes of the pthread mutexes are left alone (as in fuzz_segment): a
 * lock word naming some thread is what a held mutex looks like, and a live
 * holder is waited for by design (bounded: test_reliability), and their
 * other words are the C library's private state, which nobody can check.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "phaseplan.h"
#include "plan/phases.h"
#include "lock/region.h"
#include "session/region.h"
#include "shm/segment.h"
#include "testutil.h"

/* Time limits: a region's in-process flips, one tool run. */
#define REGION_LIMIT_MS 120000
#define TOOL_LIMIT_MS 10000

struct region {
	const char *name;
	size_t off, len;
};

static unsigned char *image;  /* the populated segment */
static size_t image_size;
static struct region regions[8];
static size_t nregions;
static size_t mutex_off[64];  /* where each pthread_mutex_t starts */
static size_t nmutex;
static char victim[64];       /* the shm object the flips go to */
static unsigned char *vmap;   /* its mapping */

/* Outcomes of the in-process flips, counted by the children in a shared
 * mapping and printed with each test: the figures in docs/reliability.md. */
static struct tally {
	unsigned flips;
	unsigned refused;   /* prdshm_seg_open: exit 4 */
	unsigned healthy;   /* opened, then healthy (0) after the cleanup */
	unsigned dead;      /* opened, dead agents left after it (3) */
	unsigned corrupt;   /* opened, corrupt even after it (4) */
	unsigned bad;       /* anything else */
} *tally;

/* ---- The populated segment ---------------------------------------------- */

/* Phase @p id (one minute, command "true", writing @p id) after @p dep. */
static void add_phase(prdshm_config *cfg, const char *id, const char *dep)
{
	prdshm_phase_def *p;

	tp_plan_add(cfg, id, 1, dep);
	p = &cfg->phases[cfg->nphases - 1];
	p->command = strdup("true");
	p->outputs = calloc(1, sizeof(char *));
	p->outputs[p->noutputs++] = strdup(id);
}

/* Two sessions: held EXCLUSIVE and SHARED records, a shared resource, a
 * RELEASED record (unlock without the mutex: collected by the next mutex
 * holder), a completed and a running phase.  Abandoned, so the records
 * stay; in the copy, without our OFD locks, their sessions are dead. */
static void populate(prdshm_seg *seg)
{
	prdshm_session *a = NULL, *b = NULL;
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	a = tu_session(seg, "agent-a");
	b = tu_session(seg, "agent-b");
	CU_ASSERT_EQUAL(prdshm_lock(a, "alpha", PRDSHM_EXCLUSIVE, PRDSHM_TRY, "p0"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(a, "beta", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(b, "beta", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(b, "gamma", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock(b, "gamma"), 0);
	CU_ASSERT_EQUAL(prdshm_phase_claim(a, &c), 0);
	CU_ASSERT_EQUAL(prdshm_phase_complete(a, c.index), 0);
	CU_ASSERT_EQUAL(prdshm_phase_claim(b, &c), 0);
	CU_ASSERT_EQUAL(prdshm_agent_log(a, "a log line"), 0);
	prdshm_session_abandon(a);
	prdshm_session_abandon(b);
}

static void add_region(const char *name, size_t off, size_t end)
{
	regions[nregions++] = (struct region){ name, off, end - off };
}

/* The regions, in segment order, from the header the creator wrote. */
static void note_layout(const prdshm_seg *seg)
{
	const struct prdshm__hdr *h = seg->hdr;
	const struct prdshm__locks *lt = prdshm__locks(seg);
	const unsigned char *base = seg->base;
	size_t parts = (size_t)((const unsigned char *)lt->parts - base);
	size_t slots = (size_t)((const unsigned char *)lt->slots - base);
	size_t recs = (size_t)((const unsigned char *)lt->recs - base);
	size_t buckets = (size_t)((const unsigned char *)lt->buckets - base);
	size_t phases = (size_t)h->regions[PRDSHM__REGION_PHASES].off;

	nregions = 0;
	add_region("header", 0, sizeof(*h));
	add_region("agents", h->regions[PRDSHM__REGION_AGENTS].off, parts);
	add_region("partitions", parts, slots);
	add_region("slots", slots, recs);
	add_region("records", recs, buckets);
	add_region("buckets", buckets, phases);
	add_region("phase region", phases, h->size);
	nmutex = 0;
	mutex_off[nmutex++] = (size_t)((const unsigned char *)prdshm__sessions(seg)->mutex - base);
	for (uint32_t p = 0; p < lt->nparts && nmutex < 63; p++)
		mutex_off[nmutex++] = parts + p * sizeof(struct prdshm__part);
	mutex_off[nmutex++] = phases; /* the phase region starts with it */
}

static int in_mutex(size_t off)
{
	for (size_t k = 0; k < nmutex; k++)
		if (off >= mutex_off[k] && off < mutex_off[k] + sizeof(pthread_mutex_t))
			return 1;
	return 0;
}

static void build_image(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	int fd;

	tu_config(&cfg);
	cfg.max_locks = 512; /* two partitions or more */
	cfg.max_agents = 4;
	cfg.max_phases = 4;
	cfg.max_parallel_agents = 2;
	cfg.wave_delay_seconds = 0;
	add_phase(&cfg, "p0", NULL);
	add_phase(&cfg, "p1", "p0");
	add_phase(&cfg, "p2", NULL);
	seg = tu_seg_create(&cfg);
	populate(seg);
	note_layout(seg);
	image_size = seg->size;
	image = malloc(image_size);
	CU_ASSERT_PTR_NOT_NULL_FATAL(image);
	fd = shm_open(cfg.shm_name, O_RDONLY | O_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(pread(fd, image, image_size, 0) == (ssize_t)image_size);
	close(fd);
	tu_destroy(&cfg, seg);
}

/* The object the flips are written to, created and mapped once: nobody
 * else maps it between two flips, so it is overwritten whole each time. */
static void map_victim(void)
{
	int fd;

	snprintf(victim, sizeof(victim), "%s", tu_shm_name());
	fd = shm_open(victim, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(ftruncate(fd, (off_t)image_size) == 0);
	vmap = mmap(NULL, image_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	CU_ASSERT_FATAL(vmap != MAP_FAILED);
}

static void setup(void)
{
	if (image == NULL) {
		tally = mmap(NULL, sizeof(*tally), PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		CU_ASSERT_FATAL(tally != MAP_FAILED);
		build_image();
		map_victim();
	}
	memset(tally, 0, sizeof(*tally));
}

static void print_tally(void)
{
	printf("\n  %u flips: refused at open %u; opened %u, after the cleanup healthy %u, "
	       "dead agents %u, corrupt %u; not allowed %u\n",
	       tally->flips, tally->refused, tally->flips - tally->refused, tally->healthy,
	       tally->dead, tally->corrupt, tally->bad);
}

/* The victim as the image with byte @p off XORed with @p x. */
static void load(size_t off, unsigned char x)
{
	memcpy(vmap, image, image_size);
	vmap[off] ^= x;
}

/* Each byte is flipped twice: inverted (an index becomes far out of
 * range, which bounds checks catch at once), and its low bit only (an
 * index becomes another valid one: a chain that loops, a record in the
 * wrong list, a count one off). */
static const unsigned char flips[] = { 0xff, 0x01 };
#define NFLIPS (sizeof(flips) / sizeof(flips[0]))

/* ---- Outcomes ----------------------------------------------------------- */

/* The tools' exit code for a library result, or -1 for an outcome a
 * scribbled segment must not produce. */
static int exit_class(int r)
{
	switch (r) {
	case 0:
		return 0;
	case PRDSHM_EDEADOWNER:
		return 3;
	case PRDSHM_ECORRUPT:
	case PRDSHM_ERECOVER:
	case PRDSHM_ENOTSEG:
	case PRDSHM_EVERSION:
		return 4;
	default:
		return -1;
	}
}

/* What prdshm-cleanup does (tools/prdshm-cleanup.c, repair()): reap, and
 * recover when the check says the segment needs it.  @return the last
 * check's result, or recovery's error. */
static int cleanup_like(prdshm_seg *seg)
{
	int r = prdshm_check(seg, 0, NULL, NULL);

	if (r != PRDSHM_ERECOVER) {
		r = prdshm_reap(seg, 0, NULL, NULL, NULL);
		if (r != 0 && r != PRDSHM_ERECOVER)
			return r;
		r = prdshm_check(seg, 0, NULL, NULL);
	}
	if (r == PRDSHM_ECORRUPT || r == PRDSHM_ERECOVER) {
		r = prdshm_recover(seg, NULL, NULL);
		if (r == 0)
			r = prdshm_check(seg, 0, NULL, NULL);
	}
	return r;
}

/* A segment the cleanup calls healthy is used as one: a session takes and
 * releases a lock.  @return 0, or the failing call's error. */
static int use(prdshm_seg *seg)
{
	prdshm_session *s = NULL;
	int r = prdshm_session_open(seg, "after", 0, &s);

	if (r == 0)
		r = prdshm_lock(s, "delta", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL);
	if (r == 0)
		r = prdshm_unlock(s, "delta");
	prdshm_session_close(s);
	return r;
}

static int report(const struct region *rg, size_t off, const char *what, int r)
{
	fprintf(stderr, "flip of byte %zu (%s +%zu, now 0x%02x): %s returned %s (%s)\n", off,
		rg->name, off - rg->off, vmap[off], what, prdshm_err_name(r), prdshm_last_error());
	return 1;
}

/* One flip, in-process.  @return 1 if an outcome was not allowed. */
static int flip_in_process(const struct region *rg, size_t off, unsigned char x)
{
	prdshm_seg *seg = NULL;
	prdshm_snapshot *snap = NULL;
	int r, bad = 0;

	load(off, x);
	tally->flips++;
	r = prdshm_seg_open(victim, &seg);
	if (r != 0) {
		tally->refused++;
		return exit_class(r) == 4 ? 0 : report(rg, off, "prdshm_seg_open", r);
	}
	r = prdshm_check(seg, PRDSHM_SNAP_NOLOCK, NULL, NULL);
	if (exit_class(r) < 0)
		bad = report(rg, off, "prdshm_check(NOLOCK)", r);
	r = prdshm_snapshot_take(seg, 0, &snap);
	prdshm_snapshot_free(snap);
	if (r != 0 && exit_class(r) != 4)
		bad = report(rg, off, "prdshm_snapshot_take", r);
	r = prdshm_check(seg, 0, NULL, NULL);
	if (exit_class(r) < 0)
		bad = report(rg, off, "prdshm_check", r);
	/* prdshm-cleanup exits 0 or 4, never 3 ("dead agents: run
	 * prdshm-cleanup") after it ran: that would send the operator round in
	 * a circle. */
	r = cleanup_like(seg);
	if (exit_class(r) != 0 && exit_class(r) != 4) {
		bad = report(rg, off, "cleanup (reap, recover, check)", r);
		prdshm_check(seg, 0, tu_print_problem, NULL);
	}
	tally->healthy += r == 0;
	tally->dead += exit_class(r) == 3;
	tally->corrupt += exit_class(r) == 4;
	if (r == 0 && (r = use(seg)) != 0)
		bad = report(rg, off, "a lock after a healthy cleanup", r);
	prdshm_seg_close(seg);
	tally->bad += bad;
	return bad;
}

/* ---- Which bytes ---------------------------------------------------------- */

/* Up to @p max offsets of region @p rg to flip (every byte if it has no
 * more), mutex bytes left out.  The non-zero bytes of the image come first,
 * spread evenly: they are the fields in use (records, names, links, free
 * lists); then zero bytes, spread evenly too.  @return how many. */
static size_t pick(const struct region *rg, size_t max, size_t *out)
{
	size_t nz = 0, n = 0;

	for (size_t i = 0; i < rg->len; i++)
		nz += image[rg->off + i] != 0 && !in_mutex(rg->off + i);
	for (int zero = 0; zero < 2 && n < max; zero++) {
		size_t have = zero ? rg->len - nz : nz, want = max - n, seen = 0;
		size_t take = have < want ? have : want;

		for (size_t i = 0; i < rg->len && take; i++) {
			size_t off = rg->off + i;
			if (in_mutex(off) || (image[off] == 0) != zero)
				continue;
			/* The k-th of @p have is taken when it crosses a step
			 * of have/take. */
			if ((seen * take) / have != ((seen + 1) * take) / have)
				out[n++] = off;
			seen++;
		}
	}
	return n;
}

/* ---- In-process ------------------------------------------------------------ */

/* Every flip of region @p rg in a child, within REGION_LIMIT_MS. */
static void flip_region(const struct region *rg, size_t max)
{
	size_t *offs = calloc(max, sizeof(*offs));
	size_t n;
	pid_t pid;
	int st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(offs);
	n = pick(rg, max, offs);
	CU_ASSERT(n > 0);
	printf("\n  %s: %zu bytes, %zu of them changed", rg->name, rg->len, n);
	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		int bad = 0;

		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < NFLIPS; k++)
				bad += flip_in_process(rg, offs[i], flips[k]);
		fflush(NULL);
		_exit(bad > 100 ? 100 : bad);
	}
	st = tu_wait_child(pid, REGION_LIMIT_MS);
	if (st != 0)
		fprintf(stderr, "%s: %zu flips: child ended with %d (-1: still running after %d ms)\n",
			rg->name, n, st, REGION_LIMIT_MS);
	CU_ASSERT_EQUAL(st, 0);
	free(offs);
}

/* Every byte of the header, mutex excepted. */
static void test_header_every_byte(void)
{
	setup();
	flip_region(&regions[0], regions[0].len);
	print_tally();
	CU_ASSERT(tally->flips >= NFLIPS * (sizeof(struct prdshm__hdr) - sizeof(pthread_mutex_t)));
}

/* Samples of each region: the bytes in use first. */
static void test_regions_sampled(void)
{
	setup();
	for (size_t i = 1; i < nregions; i++)
		flip_region(&regions[i], 384);
	print_tally();
	CU_ASSERT(tally->flips >= NFLIPS * 6 * 300);
}

/* The image itself, unflipped: its sessions are dead (exit 3), cleanup
 * makes it healthy.  The baseline for the flips above. */
static void test_unflipped_is_dead_then_healthy(void)
{
	prdshm_seg *seg = NULL;

	setup();
	memcpy(vmap, image, image_size);
	CU_ASSERT_EQUAL_FATAL(prdshm_seg_open(victim, &seg), 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, NULL, NULL), PRDSHM_EDEADOWNER);
	CU_ASSERT_EQUAL(cleanup_like(seg), 0);
	CU_ASSERT_EQUAL(use(seg), 0);
	prdshm_seg_close(seg);
}

/* Found by the flips of an agent's state (ACTIVE to FREE): a session
 * closed while it held a phase frees its slot and leaves the phase
 * IN_PROGRESS.  prdshm_check() then reports a dead holder ("run
 * prdshm-cleanup"), but reaping visits only ACTIVE slots, so prdshm-cleanup
 * exited 3 again and again.  Reaping now fails such a phase (requeued:
 * attempts remain). */
static void test_closed_holder_phase_is_reaped(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;
	prdshm_snapshot *snap = NULL;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	size_t n = 0;

	tu_config(&cfg);
	cfg.phase_max_attempts = 3;
	add_phase(&cfg, "p0", NULL);
	seg = tu_seg_create(&cfg);
	s = tu_session(seg, "closer");
	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(s, &c), 0);
	prdshm_session_close(s);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, NULL, NULL), PRDSHM_EDEADOWNER);
	CU_ASSERT_EQUAL(prdshm_reap(seg, 0, NULL, NULL, &n), 0);
	CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	CU_ASSERT_EQUAL(snap->phases[0].status, PRDSHM_PHASE_QUEUED);
	CU_ASSERT_STRING_EQUAL(snap->phases[0].message, "agent closer died");
	prdshm_snapshot_free(snap);
	tu_destroy(&cfg, seg);
}

/* Found by the flips of a partition's free-record head: a free list cut
 * short (a link out of range) passed prdshm_check(), so prdshm-cleanup
 * called the segment healthy and left it, and locks then failed with
 * PRDSHM_ELOCKFULL in an empty table.  The check now walks the free lists;
 * recovery rebuilds them. */
static void test_free_list_cut_short_is_reported(void)
{
	for (int which = 0; which < 2; which++) {
		prdshm_config cfg;
		prdshm_seg *seg = NULL;
		prdshm_session *s = NULL;

		tu_config(&cfg);
		cfg.max_locks = 64; /* one partition: every name is in partition 0 */
		seg = tu_seg_create(&cfg);
		if (which == 0)
			prdshm__locks(seg)->parts[0].free_slot = prdshm__locks(seg)->slots_per_part + 1;
		else
			prdshm__locks(seg)->parts[0].free_rec = prdshm__locks(seg)->recs_per_part + 1;
		CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), PRDSHM_ECORRUPT);
		CU_ASSERT_EQUAL(prdshm_recover(seg, NULL, NULL), 0);
		CU_ASSERT_EQUAL(prdshm_check(seg, 0, tu_print_problem, NULL), 0);
		s = tu_session(seg, "after");
		CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), 0);
		prdshm_session_close(s);
		tu_destroy(&cfg, seg);
	}
}

/* ---- The tools -------------------------------------------------------------- */

/* Run tool @p tool with @p opt (or none) on the victim, stderr to @p err.
 * @return its exit code, 128+signal, or -1 when killed after
 * TOOL_LIMIT_MS. */
static int run_tool(const char *tool, const char *opt, const char *err)
{
	char path[600];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", tu_bindir(), tool);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (freopen("/dev/null", "w", stdout) == NULL || freopen(err, "w", stderr) == NULL)
			_exit(126);
		if (opt)
			execl(path, tool, "--name", victim, opt, (char *)NULL);
		else
			execl(path, tool, "--name", victim, (char *)NULL);
		_exit(127);
	}
	return pid < 0 ? -2 : tu_wait_child(pid, TOOL_LIMIT_MS);
}

/* 1 if @p err holds a sanitizer's report. */
static int sanitizer_spoke(const char *err)
{
	char line[1024];
	int found = 0;
	FILE *f = fopen(err, "r");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, "Sanitizer") != NULL || strstr(line, "runtime error:") != NULL;
	if (f)
		fclose(f);
	return found;
}

/* @return 1 if the tool's outcome is not one of @p allowed (a string of
 * exit codes such as "034", one digit each). */
static int tool_outcome(const char *tool, const char *opt, const char *allowed, size_t off,
			int *rc)
{
	char err[64];
	int bad;

	snprintf(err, sizeof(err), "/tmp/prdshm-corrupt-%ld.err", (long)getpid());
	*rc = run_tool(tool, opt, err);
	bad = *rc < 0 || *rc > 9 || strchr(allowed, '0' + *rc) == NULL || sanitizer_spoke(err);
	if (bad) {
		char cmd[128];

		fprintf(stderr, "flip of byte %zu (now 0x%02x): %s %s exited %d; its stderr:\n",
			off, vmap[off], tool, opt ? opt : "", *rc);
		snprintf(cmd, sizeof(cmd), "head -20 %s >&2", err);
		if (system(cmd) != 0)
			fprintf(stderr, "(cannot show it)\n");
	}
	unlink(err);
	return bad;
}

/* The three tools on one flip; cleanup last (it writes). */
static int flip_tools(size_t off, unsigned char x)
{
	int rc, bad = 0;

	load(off, x);
	bad += tool_outcome("prdshm-inspect", NULL, "04", off, &rc);
	bad += tool_outcome("prdshm-inspect", "--check", "034", off, &rc);
	bad += tool_outcome("prdshm-cleanup", NULL, "04", off, &rc);
	if (rc == 0)
		bad += tool_outcome("prdshm-inspect", "--check", "0", off, &rc);
	return bad;
}

static void test_tools_sampled(void)
{
	size_t offs[32];
	int bad = 0, tried = 0;
	char path[600];

	setup();
	snprintf(path, sizeof(path), "%s/prdshm-inspect", tu_bindir());
	if (access(path, X_OK) != 0) {
		printf("\n  skipped: %s not built\n", path);
		return;
	}
	for (size_t i = 0; i < nregions; i++) {
		size_t n = pick(&regions[i], i == 0 ? 32 : 6, offs);

		for (size_t k = 0; k < n; k++, tried++)
			bad += flip_tools(offs[k], flips[k % NFLIPS]);
	}
	printf("\n  %d flips, 3 or 4 tool runs each\n", tried);
	CU_ASSERT(tried > 60);
	CU_ASSERT_EQUAL(bad, 0);
}

const tu_test tu_tests[] = {
	TU(test_unflipped_is_dead_then_healthy),
	TU(test_closed_holder_phase_is_reaped),
	TU(test_free_list_cut_short_is_reported),
	TU(test_header_every_byte),
	TU(test_regions_sampled),
	TU(test_tools_sampled),
	{ NULL, NULL },
};
const char *tu_suite = "corrupt";
