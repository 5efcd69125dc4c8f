/*
 * test_abi.c: the library's version, and the size-prefixed structs of the
 * public API ("ABI" at the top of prdshm.h).  A program compiled against
 * the first published, shorter form of a struct is simulated by a buffer
 * whose struct_size is PRDSHM_<STRUCT>_SIZE_1_0, followed by guard bytes:
 * the library must fill the fields it has and never touch the guard.  A
 * program compiled against a longer, future form gets the tail it does
 * not know zeroed; a struct_size below the first version is refused.
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phaseplan.h"
#include "testutil.h"

#define GUARD 0xa5
/* Bytes a "future" caller has past today's struct. */
#define FUTURE_EXTRA 32

/* Room for any of the structs, its future extra bytes and a guard. */
typedef struct buf {
	alignas(max_align_t) unsigned char b[4096];
} buf;

#define STR(x) #x
#define XSTR(x) STR(x)

static void buf_fill(buf *x, uint32_t struct_size)
{
	memset(x->b, GUARD, sizeof(x->b));
	memcpy(x->b, &struct_size, sizeof(struct_size));
}

static uint32_t buf_size(const buf *x)
{
	uint32_t size;

	memcpy(&size, x->b, sizeof(size));
	return size;
}

/* 1 if bytes [from, to) of @p x are all @p byte. */
static int buf_all(const buf *x, size_t from, size_t to, unsigned char byte)
{
	for (size_t i = from; i < to; i++)
		if (x->b[i] != byte)
			return 0;
	return 1;
}

/* The first guard byte of @p x that was overwritten, or -1. */
static long first_touched(const buf *x, size_t from)
{
	for (size_t i = from; i < sizeof(x->b); i++)
		if (x->b[i] != GUARD)
			return (long)i;
	return -1;
}

/* The refusal of a struct whose size is below its first version. */
static void expect_refused(int r, const char *type)
{
	CU_ASSERT_EQUAL(r, PRDSHM_EINVAL);
	if (strstr(prdshm_last_error(), type) == NULL ||
	    strstr(prdshm_last_error(), "struct_size") == NULL) {
		fprintf(stderr, "message does not name %s.struct_size: %s\n", type,
			prdshm_last_error());
		CU_FAIL("the refusal names the struct");
	}
}

/* ------------------------------------------------------------------------ */
/* Version                                                                  */

static void test_version(void)
{
	const char *header = XSTR(PRDSHM_VERSION_MAJOR) "." XSTR(PRDSHM_VERSION_MINOR) "." XSTR(
		PRDSHM_VERSION_PATCH);

	CU_ASSERT_STRING_EQUAL(prdshm_version(), header);
	CU_ASSERT_EQUAL(prdshm_version_number(), PRDSHM_VERSION_NUMBER);
	CU_ASSERT_EQUAL(PRDSHM_VERSION_NUMBER, PRDSHM_VERSION_MAJOR * 10000 +
						       PRDSHM_VERSION_MINOR * 100 +
						       PRDSHM_VERSION_PATCH);
#ifdef PRDSHM_VERSION_STRING
	/* What the Makefile read from the header and passed to the tools. */
	CU_ASSERT_STRING_EQUAL(prdshm_version(), PRDSHM_VERSION_STRING);
#endif
}

/* The 1.0 sizes end at the last 1.0 field, before the reserved space. */
static void test_first_sizes_exclude_reserved(void)
{
	CU_ASSERT(PRDSHM_CONFIG_SIZE_1_0 <= offsetof(prdshm_config, reserved_));
	CU_ASSERT(PRDSHM_DIAG_SIZE_1_0 <= offsetof(prdshm_diag, reserved_));
	CU_ASSERT(PRDSHM_SEG_INFO_SIZE_1_0 <= offsetof(prdshm_seg_info, reserved_));
	CU_ASSERT(PRDSHM_HOLDER_SIZE_1_0 <= offsetof(prdshm_holder, reserved_));
	CU_ASSERT(PRDSHM_CLAIM_SIZE_1_0 <= offsetof(prdshm_claim, reserved_));
	/* Each struct_size is first, and the initializers set it. */
	CU_ASSERT_EQUAL(offsetof(prdshm_config, struct_size), 0);
	{
		prdshm_diag d = PRDSHM_DIAG_INIT;
		prdshm_seg_info si = PRDSHM_SEG_INFO_INIT;
		prdshm_holder h[2] = { PRDSHM_HOLDER_INIT };
		prdshm_claim c = PRDSHM_CLAIM_INIT;

		CU_ASSERT_EQUAL(d.struct_size, sizeof(d));
		CU_ASSERT_EQUAL(si.struct_size, sizeof(si));
		CU_ASSERT_EQUAL(h[0].struct_size, sizeof(h[0]));
		CU_ASSERT_EQUAL(c.struct_size, sizeof(c));
	}
}

/* ------------------------------------------------------------------------ */
/* prdshm_seg_info                                                          */

static void test_seg_info_sizes(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tu_create(&cfg, 0600);
	prdshm_seg_info ref = PRDSHM_SEG_INFO_INIT;
	const size_t min = PRDSHM_SEG_INFO_SIZE_1_0, full = sizeof(prdshm_seg_info);
	buf x;

	CU_ASSERT_EQUAL_FATAL(prdshm_seg_info_get(seg, &ref), 0);
	CU_ASSERT_STRING_EQUAL(ref.shm_name, cfg.shm_name);
	CU_ASSERT_EQUAL(ref.max_locks, (uint32_t)cfg.max_locks);

	/* A 1.0 caller: its fields filled, nothing past them touched. */
	buf_fill(&x, (uint32_t)min);
	CU_ASSERT_EQUAL(prdshm_seg_info_get(seg, (prdshm_seg_info *)x.b), 0);
	CU_ASSERT_EQUAL(buf_size(&x), min);
	CU_ASSERT_EQUAL(memcmp(x.b + 4, (const char *)&ref + 4, min - 4), 0);
	CU_ASSERT_EQUAL(first_touched(&x, min), -1);

	/* A future caller: today's fields, then zeros, then its guard. */
	buf_fill(&x, (uint32_t)(full + FUTURE_EXTRA));
	CU_ASSERT_EQUAL(prdshm_seg_info_get(seg, (prdshm_seg_info *)x.b), 0);
	CU_ASSERT_EQUAL(memcmp(x.b + 4, (const char *)&ref + 4, full - 4), 0);
	CU_ASSERT(buf_all(&x, full, full + FUTURE_EXTRA, 0));
	CU_ASSERT_EQUAL(first_touched(&x, full + FUTURE_EXTRA), -1);

	/* Too small, zeroed, garbage: refused, nothing written. */
	buf_fill(&x, (uint32_t)(min - 1));
	expect_refused(prdshm_seg_info_get(seg, (prdshm_seg_info *)x.b), "prdshm_seg_info");
	CU_ASSERT_EQUAL(first_touched(&x, 4), -1);
	{
		prdshm_seg_info zero = { 0 };

		expect_refused(prdshm_seg_info_get(seg, &zero), "prdshm_seg_info");
	}
	buf_fill(&x, PRDSHM_STRUCT_SIZE_MAX + 1);
	expect_refused(prdshm_seg_info_get(seg, (prdshm_seg_info *)x.b), "prdshm_seg_info");
	CU_ASSERT_EQUAL(first_touched(&x, 4), -1);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* prdshm_holder arrays: the first element's struct_size is the stride.     */

static prdshm_session *join(prdshm_seg *seg, const char *id)
{
	prdshm_session *s = NULL;

	s = tu_session(seg, id);
	return s;
}

/* Query "r" into @p x with stride @p stride and room for @p cap entries;
 * check the count (@p n) and the entries written against @p ref, and
 * return the end of the last entry written. */
static size_t query_into(prdshm_seg *seg, buf *x, size_t stride, size_t cap,
			 const prdshm_holder *ref, size_t n)
{
	size_t count = 0, written = n < cap ? n : cap;

	buf_fill(x, (uint32_t)stride);
	CU_ASSERT_EQUAL(prdshm_lock_query(seg, "r", 0, (prdshm_holder *)x->b, cap, &count), 0);
	CU_ASSERT_EQUAL(count, n);
	for (size_t i = 0; i < written; i++) {
		const unsigned char *e = x->b + i * stride;
		size_t common = stride < sizeof(*ref) ? stride : sizeof(*ref);
		uint32_t size;

		memcpy(&size, e, sizeof(size));
		CU_ASSERT_EQUAL(size, stride);
		CU_ASSERT_EQUAL(memcmp(e + 4, (const char *)&ref[i] + 4, common - 4), 0);
		if (stride > sizeof(*ref))
			CU_ASSERT(buf_all(x, i * stride + sizeof(*ref), (i + 1) * stride, 0));
	}
	return written * stride;
}

static void test_holder_array_stride(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = tu_create(&cfg, 0600);
	prdshm_session *a = join(seg, "holder-a"), *b = join(seg, "holder-b");
	prdshm_holder ref[4] = { PRDSHM_HOLDER_INIT };
	const size_t min = PRDSHM_HOLDER_SIZE_1_0, full = sizeof(prdshm_holder);
	size_t n = 0, end;
	buf x;

	CU_ASSERT_EQUAL_FATAL(prdshm_lock(a, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_lock(b, "r", PRDSHM_SHARED, PRDSHM_TRY, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(prdshm_lock_query(seg, "r", 0, ref, 4, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_STRING_EQUAL(ref[0].agent_id, "holder-a");
	CU_ASSERT_STRING_EQUAL(ref[1].agent_id, "holder-b");
	CU_ASSERT_EQUAL(ref[1].struct_size, full);

	/* 1.0 callers: an array of shorter elements, even with room for more. */
	end = query_into(seg, &x, min, 2, ref, 2);
	CU_ASSERT_EQUAL(first_touched(&x, end), -1);
	end = query_into(seg, &x, min, 5, ref, 2);
	CU_ASSERT_EQUAL(first_touched(&x, end), -1);
	/* Room for one: the second is counted, not written. */
	end = query_into(seg, &x, min, 1, ref, 2);
	CU_ASSERT_EQUAL(end, min);
	CU_ASSERT_EQUAL(first_touched(&x, end), -1);

	/* A future caller's longer elements: their tails zeroed. */
	end = query_into(seg, &x, full + FUTURE_EXTRA, 2, ref, 2);
	CU_ASSERT_EQUAL(first_touched(&x, end), -1);

	buf_fill(&x, (uint32_t)(min - 1));
	expect_refused(prdshm_lock_query(seg, "r", 0, (prdshm_holder *)x.b, 2, &n),
		       "prdshm_holder");
	CU_ASSERT_EQUAL(first_touched(&x, 4), -1);
	/* No array, no size to check. */
	CU_ASSERT_EQUAL(prdshm_lock_query(seg, "r", 0, NULL, 0, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	prdshm_session_close(a);
	prdshm_session_close(b);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* prdshm_claim                                                             */

/* The claim in @p x is one of the plan's phases, first attempt. */
static void check_claim(const buf *x, const prdshm_config *cfg)
{
	prdshm_claim c;

	memcpy(&c, x->b, PRDSHM_CLAIM_SIZE_1_0);
	CU_ASSERT_FATAL(c.index >= 0 && (size_t)c.index < cfg->nphases);
	CU_ASSERT_STRING_EQUAL(c.id, cfg->phases[c.index].id);
	CU_ASSERT_EQUAL(c.attempt, 1);
}

static void test_claim_sizes(void)
{
	const size_t min = PRDSHM_CLAIM_SIZE_1_0, full = sizeof(prdshm_claim);
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	prdshm_session *s[3];
	prdshm_snapshot *snap = NULL;
	size_t running = 0;
	buf x;

	tu_config(&cfg);
	cfg.scheduling = PRDSHM_SCHED_EAGER;
	cfg.max_parallel_agents = 3;
	tp_plan_add(&cfg, "p1", 0, NULL);
	tp_plan_add(&cfg, "p2", 0, NULL);
	tp_plan_add(&cfg, "p3", 0, NULL);
	seg = tu_seg_create(&cfg);
	s[0] = join(seg, "claim-a");
	s[1] = join(seg, "claim-b");
	s[2] = join(seg, "claim-c");

	buf_fill(&x, (uint32_t)min);
	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(s[0], (prdshm_claim *)x.b), 0);
	check_claim(&x, &cfg);
	CU_ASSERT_EQUAL(buf_size(&x), min);
	CU_ASSERT_EQUAL(first_touched(&x, min), -1);

	buf_fill(&x, (uint32_t)(full + FUTURE_EXTRA));
	CU_ASSERT_EQUAL_FATAL(prdshm_phase_claim(s[1], (prdshm_claim *)x.b), 0);
	check_claim(&x, &cfg);
	CU_ASSERT(buf_all(&x, full, full + FUTURE_EXTRA, 0));
	CU_ASSERT_EQUAL(first_touched(&x, full + FUTURE_EXTRA), -1);

	/* Refused before anything is claimed: the third phase stays QUEUED. */
	buf_fill(&x, (uint32_t)(min - 1));
	expect_refused(prdshm_phase_claim(s[2], (prdshm_claim *)x.b), "prdshm_claim");
	CU_ASSERT_EQUAL(first_touched(&x, 4), -1);
	CU_ASSERT_EQUAL_FATAL(prdshm_snapshot_take(seg, 0, &snap), 0);
	for (size_t i = 0; i < snap->nphases; i++)
		running += snap->phases[i].status == PRDSHM_PHASE_IN_PROGRESS;
	CU_ASSERT_EQUAL(running, 2);
	prdshm_snapshot_free(snap);

	for (int i = 0; i < 3; i++)
		prdshm_session_close(s[i]);
	tu_destroy(&cfg, seg);
}

/* ------------------------------------------------------------------------ */
/* prdshm_diag                                                              */

static void test_diag_sizes(void)
{
	const size_t min = PRDSHM_DIAG_SIZE_1_0, full = sizeof(prdshm_diag);
	static const char bad[] = "max_locks: many\n";
	prdshm_diag *d;
	prdshm_config cfg;
	buf x;

	prdshm_config_init(&cfg);
	buf_fill(&x, (uint32_t)min);
	d = (prdshm_diag *)x.b;
	CU_ASSERT_EQUAL(prdshm_config_load_string(&cfg, bad, strlen(bad), "t.yaml", d),
			PRDSHM_ECONFIG);
	CU_ASSERT_STRING_EQUAL(d->file, "t.yaml");
	CU_ASSERT_EQUAL(d->line, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(d->msg, "max_locks"));
	CU_ASSERT_EQUAL(buf_size(&x), min);
	CU_ASSERT_EQUAL(first_touched(&x, min), -1);

	buf_fill(&x, (uint32_t)(full + FUTURE_EXTRA));
	CU_ASSERT_EQUAL(prdshm_config_load_string(&cfg, bad, strlen(bad), "t.yaml", d),
			PRDSHM_ECONFIG);
	CU_ASSERT_EQUAL(d->line, 1);
	CU_ASSERT(buf_all(&x, full, full + FUTURE_EXTRA, 0));
	CU_ASSERT_EQUAL(first_touched(&x, full + FUTURE_EXTRA), -1);

	/* Too small: refused before the configuration is read. */
	buf_fill(&x, (uint32_t)(min - 1));
	expect_refused(prdshm_config_load_string(&cfg, bad, strlen(bad), "t.yaml", d),
		       "prdshm_diag");
	expect_refused(prdshm_config_validate(&cfg, d), "prdshm_diag");
	expect_refused(prdshm_config_set(&cfg, "max_locks", "8", PRDSHM_FROM_CMDLINE, d),
		       "prdshm_diag");
	CU_ASSERT_EQUAL(cfg.max_locks, 1024);
	expect_refused(prdshm_config_load(&cfg, "/nonexistent", d), "prdshm_diag");
	{
		prdshm_graph *g = NULL;

		expect_refused(prdshm_graph_build(NULL, 0, &g, d), "prdshm_diag");
		CU_ASSERT_PTR_NULL(g);
	}
	CU_ASSERT_EQUAL(first_touched(&x, 4), -1);
	/* A NULL diag is fine. */
	CU_ASSERT_EQUAL(prdshm_config_set(&cfg, "max_locks", "8", PRDSHM_FROM_CMDLINE, NULL), 0);
	CU_ASSERT_EQUAL(cfg.max_locks, 8);
	prdshm_config_free(&cfg);
}

/* ------------------------------------------------------------------------ */
/* prdshm_config                                                            */

static void test_config_old_size(void)
{
	const size_t min = PRDSHM_CONFIG_SIZE_1_0;
	static const char yaml[] = "max_locks: 4096\nphases:\n  - id: a\n  - id: b\n    dependencies: [a]\n";
	prdshm_diag d = PRDSHM_DIAG_INIT;
	prdshm_config *cfg;
	prdshm_seg *seg = NULL;
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;
	char name[PRDSHM_SHM_NAME_MAX + 1];
	buf x;

	memset(x.b, GUARD, sizeof(x.b));
	cfg = (prdshm_config *)x.b;
	CU_ASSERT_EQUAL_FATAL(prdshm_config_init_size(cfg, min), 0);
	CU_ASSERT_EQUAL(buf_size(&x), min);
	CU_ASSERT_EQUAL(cfg->max_locks, 1024);
	CU_ASSERT_STRING_EQUAL(cfg->shm_name, "/prdpar");
	CU_ASSERT_EQUAL(first_touched(&x, min), -1);

	/* Every change is staged in a full-size copy and copied back: only
	 * the caller's bytes. */
	CU_ASSERT_EQUAL(prdshm_config_load_string(cfg, yaml, strlen(yaml), "t.yaml", &d), 0);
	CU_ASSERT_EQUAL(cfg->max_locks, 4096);
	CU_ASSERT_EQUAL(cfg->nphases, 2);
	snprintf(name, sizeof(name), "%s", tu_shm_name());
	CU_ASSERT_EQUAL(prdshm_config_set(cfg, "shm_name", name, PRDSHM_FROM_CMDLINE, &d), 0);
	CU_ASSERT_EQUAL(prdshm_config_apply_env(cfg, &d), 0);
	CU_ASSERT_EQUAL(prdshm_config_validate(cfg, &d), 0);
	CU_ASSERT_EQUAL(first_touched(&x, min), -1);

	/* The library reads it as well as it writes it. */
	seg = tu_seg_create(cfg);
	CU_ASSERT_EQUAL(prdshm_seg_info_get(seg, &info), 0);
	CU_ASSERT_EQUAL(info.max_locks, 4096);
	prdshm_seg_close(seg);
	prdshm_seg_unlink(name);

	prdshm_config_free(cfg);
	CU_ASSERT_EQUAL(cfg->nphases, 0);
	CU_ASSERT_EQUAL(cfg->max_locks, 1024);
	CU_ASSERT_EQUAL(first_touched(&x, min), -1);

	CU_ASSERT_EQUAL(prdshm_config_load_size(cfg, min, "/nonexistent/prdpar.yaml", NULL),
			PRDSHM_ENOENT);
	CU_ASSERT_EQUAL(buf_size(&x), min);
	CU_ASSERT_EQUAL(first_touched(&x, min), -1);
}

static void test_config_sizes_refused(void)
{
	const size_t min = PRDSHM_CONFIG_SIZE_1_0, full = sizeof(prdshm_config);
	prdshm_config zero = { 0 };
	char text[64];
	buf x;

	/* Too small for init: nothing written, not even struct_size. */
	memset(x.b, GUARD, sizeof(x.b));
	CU_ASSERT_EQUAL(prdshm_config_init_size((prdshm_config *)x.b, min - 1), PRDSHM_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "prdshm_config"));
	CU_ASSERT_EQUAL(first_touched(&x, 0), -1);
	CU_ASSERT_EQUAL(prdshm_config_init_size(NULL, full), PRDSHM_EINVAL);

	/* A configuration nobody initialised. */
	expect_refused(prdshm_config_set(&zero, "max_locks", "8", PRDSHM_FROM_CMDLINE, NULL),
		       "prdshm_config");
	expect_refused(prdshm_config_validate(&zero, NULL), "prdshm_config");
	expect_refused(prdshm_config_apply_env(&zero, NULL), "prdshm_config");
	expect_refused(prdshm_config_load_string(&zero, "", 0, NULL, NULL), "prdshm_config");
	expect_refused(prdshm_config_get(&zero, "max_locks", text, sizeof(text)),
		       "prdshm_config");
	{
		prdshm_seg *seg = NULL;

		snprintf(zero.shm_name, sizeof(zero.shm_name), "%s", tu_shm_name());
		expect_refused(prdshm_seg_create(&zero, &seg), "prdshm_config");
		CU_ASSERT_PTR_NULL(seg);
		expect_refused(prdshm_seg_open_or_create(&zero, &seg, NULL), "prdshm_config");
		CU_ASSERT_PTR_NULL(seg);
	}
	prdshm_config_free(&zero); /* harmless: owns nothing we can trust */
	CU_ASSERT_EQUAL(zero.struct_size, 0);

	/* A future caller: its unknown tail zeroed by init, kept by changes. */
	memset(x.b, GUARD, sizeof(x.b));
	CU_ASSERT_EQUAL_FATAL(prdshm_config_init_size((prdshm_config *)x.b, full + FUTURE_EXTRA),
			      0);
	CU_ASSERT(buf_all(&x, offsetof(prdshm_config, reserved_), full + FUTURE_EXTRA, 0));
	CU_ASSERT_EQUAL(first_touched(&x, full + FUTURE_EXTRA), -1);
	CU_ASSERT_EQUAL(prdshm_config_set((prdshm_config *)x.b, "max_locks", "8",
					  PRDSHM_FROM_CMDLINE, NULL),
			0);
	CU_ASSERT_EQUAL(((prdshm_config *)x.b)->max_locks, 8);
	CU_ASSERT_EQUAL(buf_size(&x), full + FUTURE_EXTRA);
	CU_ASSERT_EQUAL(first_touched(&x, full + FUTURE_EXTRA), -1);
	prdshm_config_free((prdshm_config *)x.b);
}

/* The inline prdshm_config_init() and prdshm_config_load() pass the
 * caller's sizeof. */
static void test_config_inline_size(void)
{
	prdshm_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	prdshm_config_init(&cfg);
	CU_ASSERT_EQUAL(cfg.struct_size, sizeof(cfg));
	prdshm_config_free(&cfg);
	memset(&cfg, 0, sizeof(cfg));
	CU_ASSERT_EQUAL(prdshm_config_load(&cfg, "/dev/null", NULL), 0);
	CU_ASSERT_EQUAL(cfg.struct_size, sizeof(cfg));
	prdshm_config_free(&cfg);
}

const tu_test tu_tests[] = {
	TU(test_version),
	TU(test_first_sizes_exclude_reserved),
	TU(test_seg_info_sizes),
	TU(test_holder_array_stride),
	TU(test_claim_sizes),
	TU(test_diag_sizes),
	TU(test_config_old_size),
	TU(test_config_sizes_refused),
	TU(test_config_inline_size),
	{ NULL, NULL },
};
const char *tu_suite = "abi";
