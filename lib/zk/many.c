/*
 * many.c: prdshm_lock_many() on ZooKeeper: all or nothing, in the order of
 * the names (strcmp), so that two sessions asking for the same set cannot
 * deadlock each other.
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "zk/zk.h"

struct item {
	const char *name;
	size_t index; /* in the caller's array */
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->name, ((const struct item *)b)->name);
}

/* What is left of the call's time as a timeout for one lock. */
static int64_t remaining_ms(int64_t timeout_ms, uint64_t deadline)
{
	uint64_t now;

	if (timeout_ms == PRDSHM_TRY || deadline == UINT64_MAX)
		return timeout_ms;
	now = prdshm__zk_now_ms();
	/* At least 1 ms: 0 would mean "try", which is a different contract. */
	return now >= deadline ? 1 : (int64_t)(deadline - now);
}

static int prepare(const char *const *resources, size_t n, struct item *items, size_t *failed)
{
	for (size_t i = 0; i < n; i++) {
		if (prdshm__zk_valid_resource(resources[i])) {
			if (failed)
				*failed = i;
			return PRDSHM_ENAME;
		}
		items[i].name = resources[i];
		items[i].index = i;
	}
	qsort(items, n, sizeof(*items), by_name);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(items[i - 1].name, items[i].name) == 0) {
			if (failed)
				*failed = items[i].index;
			return prdshm__fail(PRDSHM_EINVAL, "resource '%.64s' is listed twice",
					    items[i].name);
		}
	}
	return 0;
}

int prdshm__zk_lock_many(prdshm_session *ps, const char *const *resources, size_t n,
			 prdshm_mode mode, int64_t timeout_ms, const char *phase_id,
			 size_t *failed)
{
	struct prdshm__zk_session *s = (struct prdshm__zk_session *)(void *)ps;
	struct item *items;
	uint64_t deadline;
	size_t got = 0;
	int r;

	prdshm__call_begin();
	if (n > 0 && resources == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_lock_many: NULL argument");
	if (timeout_ms == PRDSHM_WAIT_DEFAULT)
		timeout_ms = s->seg->default_wait_ms;
	if (timeout_ms < PRDSHM_WAIT_FOREVER)
		return prdshm__fail(PRDSHM_EINVAL, "negative timeout");
	deadline = prdshm__zk_deadline(s->seg, timeout_ms);
	items = calloc(n ? n : 1, sizeof(*items));
	if (items == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	r = prepare(resources, n, items, failed);
	for (; r == 0 && got < n; got++) {
		r = prdshm__zk_lock(ps, items[got].name, mode, remaining_ms(timeout_ms, deadline),
				    phase_id);
		if (r && failed)
			*failed = items[got].index;
	}
	if (r) {
		/* All or nothing: give back what this call took (got counts
		 * the failed item too), keeping the failure's message. */
		char msg[512];

		prdshm__strlcpy(msg, prdshm_last_error(), sizeof(msg));
		for (size_t i = 0; got > 0 && i + 1 < got; i++)
			prdshm__zk_unlock(ps, items[i].name);
		prdshm__fail(r, "%s", msg);
	}
	free(items);
	return r;
}
#endif
