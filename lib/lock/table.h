/*
 * table.h: the lock table's storage, shared by the files of lib/lock/:
 * which partition a name falls in, the partition mutex, slot lookup, the
 * records' lists and counters, and the collection of released records.
 * The lock and unlock fast path (acquire.c) uses these, so they are static
 * inline here rather than calls into another file.
 *
 * The table is split into partitions, each guarded by its own robust mutex
 * (one partition below 256 locks).  A resource name hashes to a partition
 * and, within it, to a bucket whose chain links the partition's slots.
 *
 * Each slot keeps one list of records, holders and waiters together, in
 * arrival order (seq).  A request is grantable when no earlier record
 * conflicts with it and no later record holds a conflicting mode: that is
 * FIFO among conflicting requests, so a stream of SHARED requests cannot
 * pass a waiting EXCLUSIVE one (wait.c).  A releaser that finds the mutex
 * free grants the head of the queue and wakes only it (prdshm__handoff());
 * otherwise waiters grant themselves: the releaser rings the slot's
 * doorbell, and each woken waiter re-evaluates its record under the mutex.
 * A holder releases without the mutex, and may take its release back
 * without it (acquire.c).
 *
 * Authoritative state is the records (state, mode, slot, session, seq) and
 * the slots' names; lists, chains, free lists and counters are derived and
 * are rebuilt by prdshm__part_rebuild() after a crash (partition.c; see
 * docs/design.md).
 */
#ifndef PRDSHM_INTERNAL_TABLE_H
#define PRDSHM_INTERNAL_TABLE_H

#include <stdint.h>
#include <string.h>

#include "base/futex.h"
#include "shm/robust.h"
#include "base/util.h"
#include "lock/locktable.h"
#include "lock/metrics.h"
#include "shm/segment.h"

/* 1 if record @p a (in mode ma) and a request in mode mb conflict. */
static inline int prdshm__modes_conflict(uint32_t ma, uint32_t mb)
{
	return ma == PRDSHM_EXCLUSIVE || mb == PRDSHM_EXCLUSIVE;
}

/* The mode a record counts as for the requests behind it: an upgrading
 * SHARED holder already blocks newcomers as if it were EXCLUSIVE.  (A
 * RELEASED record blocks nobody; callers test that first.) */
static inline uint32_t prdshm__rec_effective_mode(const struct prdshm__rec *r)
{
	return (r->flags & PRDSHM__REC_UPGRADING) ? PRDSHM_EXCLUSIVE : r->mode;
}

/* ---- Partitions and names --------------------------------------------- */

static inline uint32_t part_of(const struct prdshm_seg *seg, uint32_t hash)
{
	return (hash >> 24) & (prdshm__locks(seg)->nparts - 1);
}

/* Every lock call takes a partition mutex: the common case inline. */
static inline int part_lock(struct prdshm_seg *seg, uint32_t p, int64_t timeout_ms)
{
	if (PRDSHM__UNLIKELY(__atomic_load_n(&seg->hdr->needs_recovery, __ATOMIC_ACQUIRE)))
		return prdshm__fail(PRDSHM_ERECOVER, "%s needs recovery: run prdshm-cleanup",
				    seg->name);
	return prdshm__mutex_lock(seg, &prdshm__locks(seg)->parts[p].mutex, timeout_ms, prdshm__part_repair,
				  (void *)(uintptr_t)p);
}

static inline void part_unlock(struct prdshm_seg *seg, uint32_t p)
{
	prdshm__mutex_unlock(&prdshm__locks(seg)->parts[p].mutex);
}

/* Why a resource name is refused; out of line, off the hot path (a copy
 * in each file that uses it). */
static __attribute__((noinline, cold, unused)) int bad_name(const char *resource)
{
	if (resource == NULL)
		return prdshm__fail(PRDSHM_ENAME, "resource name is NULL");
	return prdshm__fail(PRDSHM_ENAME, "resource name must be 1..%d bytes (got %s)",
			    PRDSHM_NAME_MAX, resource[0] == '\0' ? "0" : "more");
}

/* Validate a resource name and set its length. */
static inline int name_len(const char *resource, size_t *len)
{
	*len = 0;
	if (PRDSHM__UNLIKELY(resource == NULL))
		return bad_name(resource);
	*len = strnlen(resource, PRDSHM_NAME_MAX + 1);
	if (PRDSHM__UNLIKELY(*len - 1 >= PRDSHM_NAME_MAX)) /* 0 wraps */
		return bad_name(resource);
	return 0;
}

/* Validate a resource name; set its length and hash. */
static inline int name_key(const char *resource, size_t *len, uint32_t *hash)
{
	int r = name_len(resource, len);

	if (PRDSHM__LIKELY(r == 0))
		*hash = prdshm__hash(resource, *len);
	return r;
}

/* ---- Slots and records ------------------------------------------------- */

/* 1 if a record in state @p st holds the resource.  A RELEASED record
 * still does for a grant decision: its holder may take it back without the
 * mutex (lock_reclaim) until slot_collect() takes it. */
static inline int holds(uint32_t st)
{
	return st == PRDSHM__REC_HELD || st == PRDSHM__REC_RELEASED;
}

/* Find the slot of @p name in partition @p p.  Call holding its mutex.
 * Chains are walked at most slots_per_part steps, so a corrupted chain
 * cannot loop forever. */
static inline uint32_t slot_find(struct prdshm_seg *seg, uint32_t p, const char *name, size_t len,
				 uint32_t hash)
{
	struct prdshm__slot *slots = prdshm__part_slots(prdshm__locks(seg), p);
	uint32_t i = prdshm__part_buckets(prdshm__locks(seg), p)[hash & (prdshm__locks(seg)->buckets_per_part - 1)];

	for (uint32_t steps = 0; i < prdshm__locks(seg)->slots_per_part && steps < prdshm__locks(seg)->slots_per_part;
	     steps++) {
		struct prdshm__slot *sl = &slots[i];

		if (sl->hash == hash && sl->name_len == len &&
		    prdshm__bytes_equal(sl->name, name, len))
			return i;
		i = sl->chain;
	}
	return PRDSHM__NIL;
}

/* Return an empty slot to the free list. */
static inline void slot_free(struct prdshm_seg *seg, uint32_t p, uint32_t i)
{
	struct prdshm__part *part = &prdshm__locks(seg)->parts[p];
	struct prdshm__slot *slots = prdshm__part_slots(prdshm__locks(seg), p);
	uint32_t *link = &prdshm__part_buckets(prdshm__locks(seg), p)[slots[i].hash & (prdshm__locks(seg)->buckets_per_part - 1)];

	for (uint32_t steps = 0; *link < prdshm__locks(seg)->slots_per_part && steps < prdshm__locks(seg)->slots_per_part;
	     steps++) {
		if (*link == i) {
			*link = slots[i].chain;
			break;
		}
		link = &slots[*link].chain;
	}
	prdshm__stats_retire(part, &slots[i]);
	slots[i].name_len = 0;
	slots[i].chain = part->free_slot;
	part->free_slot = i;
	part->nslots--;
}

static inline void rec_free(struct prdshm_seg *seg, uint32_t p, uint32_t i)
{
	struct prdshm__part *part = &prdshm__locks(seg)->parts[p];
	struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), p)[i];

	if (r->slot < prdshm__locks(seg)->slots_per_part)
		prdshm__rec_takes_fold(&prdshm__part_slots(prdshm__locks(seg), p)[r->slot], r);
	prdshm__rec_set_state(r, PRDSHM__REC_FREE);
	__atomic_store_n(&r->flags, 0, __ATOMIC_RELAXED);
	r->next = part->free_rec;
	part->free_rec = i;
	part->nrecs--;
}

/* Count record @p r in (+1) or out of (-1) its slot's counters.  A
 * RELEASED record counts as HELD, so the holder's swap changes no counter.
 * nwaiting changes atomically: see acquire.c's file comment. */
static inline void count_add_as(struct prdshm__slot *sl, const struct prdshm__rec *r, uint32_t st,
				int delta)
{
	if (st == PRDSHM__REC_WAITING || (r->flags & PRDSHM__REC_UPGRADING))
		__atomic_add_fetch(&sl->nwaiting, (uint32_t)delta, __ATOMIC_SEQ_CST);
	if (st != PRDSHM__REC_HELD && st != PRDSHM__REC_RELEASED)
		return;
	if (r->mode == PRDSHM_EXCLUSIVE)
		sl->nexcl += (uint32_t)delta;
	else
		sl->nshared += (uint32_t)delta;
}

static inline void count_add(struct prdshm__slot *sl, const struct prdshm__rec *r, int delta)
{
	count_add_as(sl, r, prdshm__rec_state(r), delta);
}

/*
 * Take RELEASED record @p r for freeing or reuse, leaving it FREE with the
 * same use count.  Its holder may take it back at the same moment without
 * the mutex (lock_reclaim), so this is a compare-and-swap, and everyone
 * who removes or reuses a RELEASED record goes through here: exactly one
 * side wins.  Call holding the partition mutex.
 * @return 1 if taken; 0 if it is not RELEASED (any more).
 */
static inline int rec_take_released(struct prdshm__rec *r)
{
	uint64_t w = __atomic_load_n(&r->state, __ATOMIC_RELAXED);

	return (w & PRDSHM__REC_STATE_MASK) == PRDSHM__REC_RELEASED &&
	       __atomic_compare_exchange_n(&r->state, &w, w & ~PRDSHM__REC_STATE_MASK, 0,
					   __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

/* The record of session (slot, gen) on slot @p si, or NIL.  A session has
 * at most one record per slot, RELEASED ones included: a RELEASED record
 * may still be taken back by its holder (lock_reclaim). */
static inline uint32_t rec_find(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t sess,
				uint32_t gen)
{
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	uint32_t i = prdshm__part_slots(prdshm__locks(seg), p)[si].head;

	for (uint32_t n = 0; i < prdshm__locks(seg)->recs_per_part && n < prdshm__locks(seg)->recs_per_part; n++) {
		if (recs[i].sess == sess && recs[i].gen == gen)
			return i;
		i = recs[i].next;
	}
	return PRDSHM__NIL;
}

/* Something changed that may let waiters in: ring the doorbell.  The
 * futex wake itself is issued after unlocking (wake_after). */
static inline int ring(struct prdshm__slot *sl)
{
	if (sl->nwaiting == 0)
		return 0;
	prdshm__doorbell_ring(&sl->doorbell);
	return 1;
}

/*
 * Whether waiting record @p r (or the upgrade of held record @p r) outlived
 * its owner's timeout by PRDSHM__EXPIRY_GRACE_MS.  Its owner withdraws it
 * itself, under the mutex, unless a stopped holder kept the mutex from it
 * past its timeout and PRDSHM_RECOVER_WAIT_MS more (stranded()); then the
 * owner has returned, and the record would block everyone behind it.  The
 * clock is read once per collect, and only when a timed request waits.
 */
static inline int expired(const struct prdshm__rec *r, uint32_t st, uint64_t *now)
{
	uint64_t when;

	if (PRDSHM__LIKELY(st != PRDSHM__REC_WAITING &&
			   !(st == PRDSHM__REC_HELD && (r->flags & PRDSHM__REC_UPGRADING))))
		return 0;
	when = __atomic_load_n(&r->expires_ns, __ATOMIC_RELAXED);
	if (when == 0)
		return 0;
	if (*now == 0)
		*now = prdshm__now_mono();
	return *now > when;
}

/* Collect the records on slot @p si that their holders RELEASED, and the
 * requests that expired().  Call holding the partition mutex.  The slot
 * stays even if it is left empty: the caller is about to use it. */
static inline void slot_collect(struct prdshm_seg *seg, uint32_t p, uint32_t si)
{
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), p)[si];
	uint32_t *link = &sl->head;
	uint64_t now = 0;

	for (uint32_t n = 0; *link < prdshm__locks(seg)->recs_per_part && n < prdshm__locks(seg)->recs_per_part; n++) {
		uint32_t i = *link;
		uint32_t st = prdshm__rec_state(&recs[i]);

		if (st == PRDSHM__REC_HELD && expired(&recs[i], st, &now)) {
			/* An upgrade given up: back to its SHARED hold. */
			count_add_as(sl, &recs[i], st, -1);
			__atomic_store_n(&recs[i].flags,
					 recs[i].flags & ~(uint32_t)PRDSHM__REC_UPGRADING,
					 __ATOMIC_RELAXED);
			count_add_as(sl, &recs[i], st, +1);
			ring(sl);
		} else if (expired(&recs[i], st, &now)) {
			count_add_as(sl, &recs[i], st, -1);
			*link = recs[i].next;
			rec_free(seg, p, i);
			ring(sl);
			continue;
		}
		if (!rec_take_released(&recs[i])) {
			link = &recs[i].next;
			continue;
		}
		count_add_as(sl, &recs[i], PRDSHM__REC_RELEASED, -1);
		*link = recs[i].next;
		rec_free(seg, p, i);
	}
}

static inline void wake_after(struct prdshm__slot *sl)
{
	if (__atomic_load_n(&sl->nsleepers, __ATOMIC_SEQ_CST) != 0)
		prdshm__futex_wake_all(&sl->doorbell);
}

/* The bit a waiter on record @p ri sleeps with (prdshm__futex_wait_bits()):
 * a hand-off wakes the records it granted and, where two share a bit, a
 * waiter that then finds nothing and sleeps again. */
static inline uint32_t rec_bit(uint32_t ri)
{
	return 1u << (ri & 31);
}

/* A release without the mutex saw waiters counted: grant the head of the
 * queue and wake only it if the partition mutex is free, else ring for
 * every waiter (wait.c). */
void prdshm__handoff(struct prdshm_seg *seg, uint32_t p, uint32_t si);

/* ---- Removing records (partition.c) ---------------------------------- */

/* Remove record @p ri from slot @p si; free the slot if it is now empty.
 * @p notify is 0 for a record nobody else has seen (created in this same
 * critical section): removing it cannot let anyone in, and ringing would
 * wake every waiter for nothing.  @return 1 if waiters must be woken (after
 * unlocking). */
int prdshm__rec_remove(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri,
		       int notify);

/* Give up waiting: a request is removed, an upgrade falls back to its
 * SHARED hold.  @p notify as for prdshm__rec_remove().  @return 1 if
 * waiters must be woken. */
int prdshm__withdraw(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri, int notify);

/* Remove the records on slot @p si whose sessions are dead, other than
 * @p keep, and collect the RELEASED ones.  Frees the slot if it empties.
 * @return the number of dead sessions' records removed. */
uint32_t prdshm__slot_sweep_dead(struct prdshm_seg *seg, uint32_t p, uint32_t si,
				 uint32_t keep);

/* Withdraw waiting record @p ri of partition @p p (an upgrade falls back
 * to its SHARED hold) and wake the waiters behind it.  Call holding the
 * partition mutex; the record must be valid (waiting or upgrading). */
void prdshm__part_withdraw(struct prdshm_seg *seg, uint32_t p, uint32_t ri);

/* Release all records of session (slot, gen) in partition @p p.  Call when
 * holding the partition mutex.  @return the number released. */
uint32_t prdshm__part_release_session(struct prdshm_seg *seg, uint32_t p, uint32_t slot,
				      uint32_t gen);

/* ---- Nested locks (inherit.c) ------------------------------------------ */

/* 1 if a proper ancestor of a session whose parent is (@p pslot, @p pgen)
 * holds slot @p si of partition @p p (HELD, alive) in a mode that covers
 * @p mode (EXCLUSIVE covers both): the session's request is then granted
 * at once, ahead of the queue.  Call holding the partition mutex. */
int prdshm__nested_covered(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t pslot,
			   uint32_t pgen, uint32_t mode);

/* ---- Deadlock detection (deadlock.c) ------------------------------------ */

/* Deadlock check for the waiting record @p rec of partition @p p, owned by
 * session (slot, gen), in its allocation @p use (its state word without the
 * state bits, as the caller noted it): a record freed and allocated again
 * meanwhile, for another request of the session, is not checked.  Takes
 * every partition mutex (the caller holds none).
 * If the request closes a cycle in the waits-for graph it is withdrawn (an
 * upgrade falls back to its SHARED hold) and PRDSHM_EDEADLK is returned with
 * the cycle in prdshm_last_error(); 1 if the record was granted meanwhile;
 * 0 if there is no cycle; PRDSHM_ERECOVER. */
int prdshm__deadlock_check(struct prdshm_seg *seg, uint32_t p, uint32_t rec, uint64_t use,
			   uint32_t slot, uint32_t gen);
#endif
