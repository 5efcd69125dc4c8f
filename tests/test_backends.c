/*
 * test_backends.c: the backend tables (lib/api/backend.h).  An entry left
 * unset in one backend's table crashes the first call that reaches it,
 * far from the table: every entry of every table must be set, the
 * entries a backend has not done yet included (they answer
 * PRDSHM_ENOTSUP).  A ZooKeeper build without the C client sets only the
 * segment entries: nothing else can be reached without a segment.
 */
#include <stddef.h>
#include <string.h>

#include "api/backend.h"
#include "testutil.h"

/* After the name, the table is function pointers only. */
#define FIRST_ENTRY offsetof(struct prdshm__backend, seg_create)
#define NENTRIES ((sizeof(struct prdshm__backend) - FIRST_ENTRY) / sizeof(void (*)(void)))
_Static_assert((sizeof(struct prdshm__backend) - FIRST_ENTRY) % sizeof(void (*)(void)) == 0,
	       "the backend table holds function pointers after its name");

/* How many entries of @p be, from the first, are unset. */
static size_t unset_entries(const struct prdshm__backend *be, size_t *first)
{
	size_t n = 0;

	*first = NENTRIES;
	for (size_t i = 0; i < NENTRIES; i++) {
		void (*fn)(void);

		memcpy(&fn, (const char *)be + FIRST_ENTRY + i * sizeof(fn), sizeof(fn));
		if (fn == NULL) {
			if (*first == NENTRIES)
				*first = i;
			n++;
		}
	}
	return n;
}

static void test_shm_table_complete(void)
{
	size_t first;

	CU_ASSERT_STRING_EQUAL(prdshm__shm_backend.name, "shm");
	CU_ASSERT_EQUAL(unset_entries(&prdshm__shm_backend, &first), 0);
	if (first != NENTRIES)
		fprintf(stderr, "\n  shm: entry %zu (from seg_create) is unset\n", first);
}

static void test_zookeeper_table_complete(void)
{
	size_t first, n = unset_entries(&prdshm__zk_backend, &first);

	CU_ASSERT_STRING_EQUAL(prdshm__zk_backend.name, "zookeeper");
#ifdef PRDSHM_HAVE_ZOOKEEPER
	CU_ASSERT_EQUAL(n, 0);
	if (first != NENTRIES)
		fprintf(stderr, "\n  zookeeper: entry %zu (from seg_create) is unset\n", first);
#else
	CU_ASSERT_PTR_NOT_NULL(prdshm__zk_backend.seg_create);
	CU_ASSERT_PTR_NOT_NULL(prdshm__zk_backend.seg_open);
	CU_ASSERT(n < NENTRIES);
#endif
}

/* The backend a configuration selects. */
static void test_select(void)
{
	prdshm_config cfg;
	prdshm_diag d = PRDSHM_DIAG_INIT;

	prdshm_config_init(&cfg);
	CU_ASSERT_PTR_EQUAL(prdshm__backend_select(&cfg), &prdshm__shm_backend);
	CU_ASSERT_PTR_EQUAL(prdshm__backend_select(NULL), &prdshm__shm_backend);
	CU_ASSERT_EQUAL(prdshm_config_set(&cfg, "backend", "zookeeper", PRDSHM_FROM_CMDLINE, &d), 0);
	CU_ASSERT_PTR_EQUAL(prdshm__backend_select(&cfg), &prdshm__zk_backend);
	prdshm_config_free(&cfg);
}

const tu_test tu_tests[] = {
	TU(test_shm_table_complete),
	TU(test_zookeeper_table_complete),
	TU(test_select),
	{ NULL, NULL },
};
const char *tu_suite = "backends";
