/*
 * metrics.h: counting what the lock requests come to, in the segment
 * (struct prdshm__lock_stats, lib/lock/region.h), for prdshm_lock_metrics_get()
 * (metrics.c) and through it prdshm-inspect --metrics.
 *
 * Where each figure is kept, and why there:
 *   - a grant under the partition mutex counts in its slot's stats, with
 *     plain stores: the mutex is held anyway;
 *   - a take-back (lock_reclaim, no mutex) counts in its record's takes,
 *     a line the take-back writes anyway, with an atomic load and store
 *     but no read-modify-write: only the holder writes it then.  The
 *     mutex holder adds it to the slot when it frees or reuses the
 *     record (rec_takes_fold), so an uncontended pair costs a few
 *     instructions more, and no locked instruction;
 *   - a wait is counted where it ends, on the slow path: the grant with
 *     its wait time, a timeout or a deadlock;
 *   - a freed slot's figures move into its partition's retired, by
 *     atomic adds, so that the totals never go down while the segment
 *     lives.
 * Statistics only: a race with a concurrent take-back of the same hold
 * by another thread of the session may be lost or counted on the
 * record's next use, and a repair
 * after a crash drops the figures of the slots and records it drops.
 */
#ifndef PRDSHM_INTERNAL_LOCK_METRICS_H
#define PRDSHM_INTERNAL_LOCK_METRICS_H

#include <stdint.h>
#include <string.h>

#include "base/util.h"
#include "lock/region.h"

/* The bucket of a wait of @p ns: 0 for at most 1 us, then one per decade
 * up to 1 s, PRDSHM__WAIT_BUCKETS - 1 for longer. */
static inline uint32_t prdshm__wait_bucket(uint64_t ns)
{
	uint64_t bound = 1000;
	uint32_t b = 0;

	while (b < PRDSHM__WAIT_BUCKETS - 1 && ns > bound) {
		bound *= 10;
		b++;
	}
	return b;
}

/* A grant that waited @p ns.  Call holding the partition mutex. */
static inline void prdshm__stats_waited(struct prdshm__lock_stats *st, uint64_t ns)
{
	st->acquired++;
	st->wait_ns += ns;
	if (ns > st->wait_max_ns)
		st->wait_max_ns = ns;
	st->waits[prdshm__wait_bucket(ns)]++;
}

/* A grant by prdshm__wait_grant(): one that @p slept waited since
 * @p began (CLOCK_MONOTONIC ns); one granted at its first look did not
 * wait.  Call holding the partition mutex. */
static inline void prdshm__stats_granted(struct prdshm__lock_stats *st, int slept, uint64_t began)
{
	uint64_t now;

	if (!slept) {
		st->acquired++;
		return;
	}
	now = prdshm__now_mono();
	prdshm__stats_waited(st, now > began ? now - began : 0);
}

/* Waiting record @p r was granted by a releaser (prdshm__handoff()): it
 * waited from r->wait_ns until @p now.  Call holding the partition
 * mutex. */
static inline void prdshm__stats_handed(struct prdshm__lock_stats *st, const struct prdshm__rec *r,
					uint64_t now)
{
	prdshm__stats_waited(st, now > r->wait_ns ? now - r->wait_ns : 0);
}

/* Add the take-backs of record @p r to slot @p sl's grants, and clear
 * them: the record is about to be freed or reused.  Call holding the
 * partition mutex. */
static inline void prdshm__rec_takes_fold(struct prdshm__slot *sl, struct prdshm__rec *r)
{
	sl->stats.acquired += __atomic_load_n(&r->takes, __ATOMIC_RELAXED);
	__atomic_store_n(&r->takes, 0, __ATOMIC_RELAXED);
}

/* Add @p v to the partition counter @p c (prdshm__part.retired). */
static inline void prdshm__retired_add(uint64_t *c, uint64_t v)
{
	if (v != 0)
		__atomic_add_fetch(c, v, __ATOMIC_RELAXED);
}

static inline void prdshm__retired_max(uint64_t *c, uint64_t v)
{
	uint64_t old = __atomic_load_n(c, __ATOMIC_RELAXED);

	while (v > old &&
	       !__atomic_compare_exchange_n(c, &old, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Move the stats of slot @p sl, about to be freed, into its partition's.
 * Call holding the partition mutex. */
static inline void prdshm__stats_retire(struct prdshm__part *part, struct prdshm__slot *sl)
{
	struct prdshm__lock_stats *to = &part->retired, *from = &sl->stats;

	prdshm__retired_add(&to->acquired, from->acquired);
	prdshm__retired_add(&to->timeouts, from->timeouts);
	prdshm__retired_add(&to->deadlocks, from->deadlocks);
	prdshm__retired_add(&to->wait_ns, from->wait_ns);
	prdshm__retired_max(&to->wait_max_ns, from->wait_max_ns);
	for (uint32_t b = 0; b < PRDSHM__WAIT_BUCKETS; b++)
		prdshm__retired_add(&to->waits[b], from->waits[b]);
	memset(from, 0, sizeof(*from));
}
#endif
