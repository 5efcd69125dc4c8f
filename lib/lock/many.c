/*
 * many.c: several resources at once, all or nothing (prdshm__shm_lock_many()).
 * The resources are taken one by one through prdshm__shm_lock(), in a canonical
 * order, so that two such calls cannot deadlock against each other.
 */
#include <stdlib.h>
#include <string.h>

#include "lock/request.h"
#include "lock/table.h"

struct many_item {
	const char *name;
	size_t len, index;
	uint32_t p, hash;
};

/* The canonical order: partition, hash, then bytes.  Any two sessions
 * asking for overlapping sets take the common resources in the same order,
 * so lock_many cannot deadlock against lock_many. */
static int many_cmp(const void *x, const void *y)
{
	const struct many_item *a = x, *b = y;
	int c;

	if (a->p != b->p)
		return a->p < b->p ? -1 : 1;
	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	c = memcmp(a->name, b->name, a->len < b->len ? a->len : b->len);
	if (c)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

static int64_t remaining_ms(int64_t timeout_ms, uint64_t deadline)
{
	uint64_t now;

	if (timeout_ms == PRDSHM_TRY || timeout_ms == PRDSHM_WAIT_FOREVER ||
	    deadline == UINT64_MAX)
		return timeout_ms;
	now = prdshm__now_mono();
	/* At least 1 ms: 0 would mean "try", which is a different contract. */
	return now >= deadline ? 1 : (int64_t)((deadline - now + 999999) / 1000000);
}

static int many_prepare(prdshm_session *s, const char *const *resources, size_t n,
			struct many_item *items, size_t *failed)
{
	for (size_t i = 0; i < n; i++) {
		int r = name_key(resources ? resources[i] : NULL, &items[i].len, &items[i].hash);

		if (r) {
			if (failed)
				*failed = i;
			return r;
		}
		items[i].name = resources[i];
		items[i].index = i;
		items[i].p = part_of(s->seg, items[i].hash);
	}
	qsort(items, n, sizeof(*items), many_cmp);
	for (size_t i = 1; i < n; i++) {
		if (many_cmp(&items[i - 1], &items[i]) == 0) {
			if (failed)
				*failed = items[i].index;
			return prdshm__fail(PRDSHM_EINVAL, "resource '%.64s' is listed twice",
					    items[i].name);
		}
	}
	return 0;
}

int prdshm__shm_lock_many(prdshm_session *s, const char *const *resources, size_t n,
		     prdshm_mode mode, int64_t timeout_ms, const char *phase_id, size_t *failed)
{
	struct many_item *items;
	uint64_t deadline;
	size_t got = 0;
	int r;

	prdshm__call_begin();
	if (s == NULL || (n > 0 && resources == NULL))
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_lock_many: NULL argument");
	if (timeout_ms == PRDSHM_WAIT_DEFAULT)
		timeout_ms = (int64_t)s->seg->hdr->lock_timeout_seconds * 1000;
	if (timeout_ms < PRDSHM_WAIT_FOREVER)
		return prdshm__fail(PRDSHM_EINVAL, "negative timeout");
	deadline = deadline_after(timeout_ms);
	items = calloc(n ? n : 1, sizeof(*items));
	if (items == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	r = many_prepare(s, resources, n, items, failed);
	for (; r == 0 && got < n; got++) {
		r = prdshm__shm_lock(s, items[got].name, mode, remaining_ms(timeout_ms, deadline),
				phase_id);
		if (r && failed)
			*failed = items[got].index;
	}
	if (r) {
		/* All or nothing: give back what this call took.  got counts
		 * the failed item too. */
		char msg[512];

		prdshm__strlcpy(msg, prdshm_last_error(), sizeof(msg));
		for (size_t i = 0; got > 0 && i + 1 < got; i++)
			prdshm__shm_unlock(s, items[i].name);
		prdshm__fail(r, "%s", msg);
	}
	free(items);
	return r;
}
