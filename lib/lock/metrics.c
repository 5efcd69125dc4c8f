/*
 * metrics.c: prdshm__shm_lock_metrics(), the lock metrics copied out: each
 * resource's figures (its slot's stats and its records' take-backs) and
 * the segment's totals, summed on read over the partitions (their retired
 * figures and their live slots').  Where the figures are counted, and
 * why there: metrics.h.
 */
#include <string.h>

#include "base/abi.h"
#include "lock/locktable.h"
#include "lock/metrics.h"
#include "lock/table.h"

/* How long a partition mutex is waited for before reading without it, as
 * a snapshot does (lib/ops/snapshot.c). */
#define STATS_LOCK_MS 200

_Static_assert(PRDSHM__WAIT_BUCKETS == PRDSHM_WAIT_BUCKETS,
	       "the segment's wait buckets are the public ones");

/* Add the figures of @p from to @p to, the longest wait the longer. */
static void stats_add(prdshm_lock_metrics *to, const struct prdshm__lock_stats *from)
{
	to->acquisitions += from->acquired;
	to->timeouts += from->timeouts;
	to->deadlocks += from->deadlocks;
	to->wait_ns += from->wait_ns;
	if (from->wait_max_ns > to->wait_max_ns)
		to->wait_max_ns = from->wait_max_ns;
	for (uint32_t b = 0; b < PRDSHM__WAIT_BUCKETS; b++) {
		to->wait_buckets[b] += from->waits[b];
		to->contended += from->waits[b];
	}
}

/* A copy of a partition's retired figures: atomic loads, as they change
 * by atomic adds with or without the mutex. */
static void retired_load(const struct prdshm__part *part, struct prdshm__lock_stats *st)
{
	const struct prdshm__lock_stats *r = &part->retired;

	st->acquired = __atomic_load_n(&r->acquired, __ATOMIC_RELAXED);
	st->timeouts = __atomic_load_n(&r->timeouts, __ATOMIC_RELAXED);
	st->deadlocks = __atomic_load_n(&r->deadlocks, __ATOMIC_RELAXED);
	st->wait_ns = __atomic_load_n(&r->wait_ns, __ATOMIC_RELAXED);
	st->wait_max_ns = __atomic_load_n(&r->wait_max_ns, __ATOMIC_RELAXED);
	for (uint32_t b = 0; b < PRDSHM__WAIT_BUCKETS; b++)
		st->waits[b] = __atomic_load_n(&r->waits[b], __ATOMIC_RELAXED);
}

/* Slot @p si's figures, its records' take-backs included.  Call holding
 * the partition mutex (or reading without it, every walk bounded). */
static void slot_stats(struct prdshm_seg *seg, uint32_t p, uint32_t si, prdshm_lock_metrics *st)
{
	const struct prdshm__locks *lt = prdshm__locks(seg);
	const struct prdshm__slot *sl = &prdshm__part_slots(lt, p)[si];
	const struct prdshm__rec *recs = prdshm__part_recs(lt, p);
	uint32_t i = sl->head;

	memset(st, 0, sizeof(*st));
	st->struct_size = sizeof(*st);
	st->resource_len = sl->name_len;
	memcpy(st->resource, sl->name, st->resource_len);
	st->resource[st->resource_len] = '\0';
	stats_add(st, &sl->stats);
	for (uint32_t n = 0; i < lt->recs_per_part && n < lt->recs_per_part; n++) {
		st->acquisitions += __atomic_load_n(&recs[i].takes, __ATOMIC_RELAXED);
		i = recs[i].next;
	}
}

/* Add a resource's figures @p st to the totals @p total. */
static void total_add(prdshm_lock_metrics *total, const prdshm_lock_metrics *st)
{
	total->acquisitions += st->acquisitions;
	total->contended += st->contended;
	total->timeouts += st->timeouts;
	total->deadlocks += st->deadlocks;
	total->wait_ns += st->wait_ns;
	if (st->wait_max_ns > total->wait_max_ns)
		total->wait_max_ns = st->wait_max_ns;
	for (uint32_t b = 0; b < PRDSHM_WAIT_BUCKETS; b++)
		total->wait_buckets[b] += st->wait_buckets[b];
}

/* Copy @p st out to element @p k of the caller's array, whose stride is
 * out[0].struct_size (see "ABI" in prdshm.h). */
static void stats_out(const prdshm_lock_metrics *st, prdshm_lock_metrics *out, size_t k)
{
	uint32_t stride = prdshm__abi_size(out);
	char *dst = (char *)out + k * stride;

	memcpy(dst, &stride, sizeof(stride));
	prdshm__abi_copy_out(dst, st, sizeof(*st));
}

/* Partition @p p's figures: added to @p total, and each slot in use copied
 * to @p out while *@p n < @p cap, counted in *@p n. */
static void part_stats(struct prdshm_seg *seg, uint32_t p, prdshm_lock_metrics *total,
		       prdshm_lock_metrics *out, size_t cap, size_t *n)
{
	const struct prdshm__locks *lt = prdshm__locks(seg);
	const struct prdshm__slot *slots = prdshm__part_slots(lt, p);
	struct prdshm__lock_stats retired;
	prdshm_lock_metrics st;

	retired_load(&lt->parts[p], &retired);
	stats_add(total, &retired);
	for (uint32_t si = 0; si < lt->slots_per_part; si++) {
		if (slots[si].name_len == 0 || slots[si].name_len > PRDSHM_NAME_MAX)
			continue;
		slot_stats(seg, p, si, &st);
		total_add(total, &st);
		if (*n < cap)
			stats_out(&st, out, *n);
		(*n)++;
	}
}

int prdshm__shm_lock_metrics(prdshm_seg *seg, unsigned flags, prdshm_lock_metrics *total,
			   prdshm_lock_metrics *out, size_t cap, size_t *n)
{
	prdshm_lock_metrics sum;
	int r;

	prdshm__call_begin();
	if (seg == NULL || n == NULL || (cap > 0 && out == NULL))
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_lock_metrics_get: NULL argument");
	if (cap > 0) {
		r = prdshm__abi_check(out, PRDSHM_LOCK_METRICS_SIZE_1_1, "prdshm_lock_metrics",
				      "prdshm_lock_metrics_get");
		if (r)
			return r;
	}
	if (total != NULL) {
		r = prdshm__abi_check(total, PRDSHM_LOCK_METRICS_SIZE_1_1, "prdshm_lock_metrics",
				      "prdshm_lock_metrics_get");
		if (r)
			return r;
	}
	memset(&sum, 0, sizeof(sum));
	sum.struct_size = sizeof(sum);
	*n = 0;
	for (uint32_t p = 0; p < prdshm__locks(seg)->nparts; p++) {
		/* A partition that cannot be had in time (a stopped holder)
		 * is read without its mutex, as a snapshot does. */
		int locked = !(flags & PRDSHM_SNAP_NOLOCK) &&
			     prdshm__part_lock(seg, p, STATS_LOCK_MS) == 0;

		part_stats(seg, p, &sum, out, cap, n);
		if (locked)
			prdshm__part_unlock(seg, p);
	}
	if (total != NULL)
		prdshm__abi_copy_out(total, &sum, sizeof(sum));
	prdshm__call_ok();
	return 0;
}
