/*
 * locktable.c: named SHARED / EXCLUSIVE locks in a fixed-size hash table.
 *
 * The table is split into partitions, each guarded by its own robust mutex
 * (one partition below 256 locks).  A resource name hashes to a partition
 * and, within it, to a bucket whose chain links the partition's slots.
 *
 * Each slot keeps one list of records, holders and waiters together, in
 * arrival order (seq).  A request is grantable when no earlier record
 * conflicts with it and no later record holds a conflicting mode: that is
 * FIFO among conflicting requests, so a stream of SHARED requests cannot
 * pass a waiting EXCLUSIVE one.  Waiters grant themselves: a releaser only
 * rings the slot's doorbell, and each woken waiter re-evaluates its record
 * under the mutex.
 *
 * Releasing without the mutex.  prdshm__shm_unlock() finds its record through
 * the thread's memory of its latest grant, or else a hint kept in the
 * session handle, and turns it from HELD to RELEASED with one
 * compare-and-swap of the record's state word (whose use count makes a
 * reused record fail the swap).  The record stays on its slot's list as
 * garbage until the next holder of the partition mutex to touch the slot
 * collects it (slot_collect), or a sweep does; until then a grant decision
 * counts it as held (below).  The release then needs to wake waiters, who evaluate their
 * records under the mutex but sleep without it.  Dekker's pattern, all
 * sequentially consistent, closes the race:
 *     releaser: swap state to RELEASED;   read slot->nwaiting, ring if != 0
 *     waiter:   increment slot->nwaiting; read the doorbell; read states
 * Either the waiter sees RELEASED, or the releaser sees the waiter counted
 * and rings after the waiter read the doorbell, so its sleep ends at once.
 * A crash between the swap and the ring costs a waiter one capped sleep.
 *
 * Taking a release back.  A thread that locks again the name it last
 * locked and released swaps its RELEASED record back to HELD, still
 * without the mutex (lock_reclaim), if that record is still the same
 * allocation.  So the mutex holder takes a RELEASED record only by a
 * compare-and-swap (rec_take_released): exactly one of the two wins.  And
 * a grant decision counts a RELEASED record as held: waiters collect
 * before they evaluate, and one released after that rings for them.  To
 * keep FIFO order the re-lock checks nwaiting after its swap (Dekker again)
 * and, if someone waits, gives the record back, rings, and queues.
 *
 * Authoritative state is the records (state, mode, slot, session, seq) and
 * the slots' names; lists, chains, free lists and counters are derived and
 * are rebuilt by prdshm__part_rebuild() after a crash (see docs/design.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "base/futex.h"
#include "lock/locktable.h"
#include "shm/robust.h"
#include "session/session.h"
#include "base/util.h"

/* Longest single sleep: a waiter blocked by a holder that died notices it
 * within this bound, even though nobody rings the doorbell for it. */
#define WAIT_CAP_NS (100 * 1000000LL)
/* A waiter's first look for dead holders, after it began waiting. */
#define FIRST_SWEEP_NS (1 * 1000000LL)
/* Doorbell polls before sleeping: a hand-off after a short hold is cheaper
 * to catch spinning than through a futex round trip (microseconds). */
#define SPIN_POLLS 400

/* ---- Partition mutex and repair ------------------------------------- */

/* Only the rebuild: the records of dead sessions are left for whoever
 * they block (waiters sweep them, FIRST_SWEEP_NS after they start waiting
 * and then every WAIT_CAP_NS) or for prdshm_reap() and
 * prdshm_recover(), which report each one they release. */
int prdshm__part_repair(struct prdshm_seg *seg, void *arg)
{
	prdshm__part_rebuild(seg, (uint32_t)(uintptr_t)arg);
	return 0;
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

int prdshm__part_lock(struct prdshm_seg *seg, uint32_t p, int64_t timeout_ms)
{
	return part_lock(seg, p, timeout_ms);
}

static inline void part_unlock(struct prdshm_seg *seg, uint32_t p)
{
	prdshm__mutex_unlock(&prdshm__locks(seg)->parts[p].mutex);
}

void prdshm__part_unlock(struct prdshm_seg *seg, uint32_t p)
{
	part_unlock(seg, p);
}

static inline uint32_t part_of(const struct prdshm_seg *seg, uint32_t hash)
{
	return (hash >> 24) & (prdshm__locks(seg)->nparts - 1);
}

/* ---- Slots ------------------------------------------------------------ */

/* Why a resource name is refused; out of line, off the hot path. */
static __attribute__((noinline, cold)) int bad_name(const char *resource)
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

/* A free list handed out an entry in use: someone scribbled on the segment.
 * Using it would overwrite a live lock, so stop and ask for recovery. */
static uint32_t corrupt_free_list(struct prdshm_seg *seg, uint32_t p)
{
	prdshm__mark_recovery(seg->hdr);
	prdshm__fail(PRDSHM_ERECOVER, "partition %u: free list corrupt: run prdshm-cleanup", p);
	return PRDSHM__NIL;
}

/* Find the slot of @p name in partition @p p.  Call holding its mutex.
 * Chains are walked at most slots_per_part steps, so a corrupted chain
 * cannot loop forever. */
static uint32_t slot_find(struct prdshm_seg *seg, uint32_t p, const char *name, size_t len,
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

static uint32_t slot_alloc(struct prdshm_seg *seg, uint32_t p, const char *name, size_t len,
			   uint32_t hash)
{
	struct prdshm__part *part = &prdshm__locks(seg)->parts[p];
	struct prdshm__slot *slots = prdshm__part_slots(prdshm__locks(seg), p);
	uint32_t *bucket = &prdshm__part_buckets(prdshm__locks(seg), p)[hash & (prdshm__locks(seg)->buckets_per_part - 1)];
	uint32_t i = part->free_slot;
	struct prdshm__slot *sl;

	if (i >= prdshm__locks(seg)->slots_per_part)
		return PRDSHM__NIL;
	sl = &slots[i];
	if (sl->name_len != 0)
		return corrupt_free_list(seg, p);
	part->free_slot = sl->chain;
	memcpy(sl->name, name, len);
	sl->name[len] = '\0';
	sl->hash = hash;
	sl->head = PRDSHM__NIL;
	sl->nshared = sl->nexcl = 0;
	/* Atomic: a releaser may still read it on the slot's previous use. */
	__atomic_store_n(&sl->nwaiting, 0, __ATOMIC_RELAXED);
	PRDSHM__CRASH_POINT("slot_alloc");
	sl->name_len = (uint32_t)len; /* authoritative: the slot is in use */
	sl->chain = *bucket;
	*bucket = i;
	part->nslots++;
	return i;
}

/* Return an empty slot to the free list. */
static void slot_free(struct prdshm_seg *seg, uint32_t p, uint32_t i)
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
	slots[i].name_len = 0;
	slots[i].chain = part->free_slot;
	part->free_slot = i;
	part->nslots--;
}

/* ---- Records ---------------------------------------------------------- */

/* Take a record off the free list, counting one more use of it. */
static uint32_t rec_alloc(struct prdshm_seg *seg, uint32_t p)
{
	struct prdshm__part *part = &prdshm__locks(seg)->parts[p];
	uint32_t i = part->free_rec;
	struct prdshm__rec *r;
	uint64_t w;

	if (i >= prdshm__locks(seg)->recs_per_part)
		return PRDSHM__NIL;
	r = &prdshm__part_recs(prdshm__locks(seg), p)[i];
	w = __atomic_load_n(&r->state, __ATOMIC_RELAXED);
	if ((w & PRDSHM__REC_STATE_MASK) != PRDSHM__REC_FREE)
		return corrupt_free_list(seg, p);
	__atomic_store_n(&r->state, w + PRDSHM__REC_USE, __ATOMIC_RELAXED);
	part->free_rec = r->next;
	part->nrecs++;
	return i;
}

static void rec_free(struct prdshm_seg *seg, uint32_t p, uint32_t i)
{
	struct prdshm__part *part = &prdshm__locks(seg)->parts[p];
	struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), p)[i];

	prdshm__rec_set_state(r, PRDSHM__REC_FREE);
	__atomic_store_n(&r->flags, 0, __ATOMIC_RELAXED);
	r->next = part->free_rec;
	part->free_rec = i;
	part->nrecs--;
}

/* Append record @p ri to the end of slot @p si's list. */
static void list_append(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri)
{
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	uint32_t *link = &prdshm__part_slots(prdshm__locks(seg), p)[si].head;

	for (uint32_t n = 0; *link < prdshm__locks(seg)->recs_per_part && n < prdshm__locks(seg)->recs_per_part; n++)
		link = &recs[*link].next;
	recs[ri].next = PRDSHM__NIL;
	*link = ri;
}

static void list_remove(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri)
{
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	uint32_t *link = &prdshm__part_slots(prdshm__locks(seg), p)[si].head;

	for (uint32_t n = 0; *link < prdshm__locks(seg)->recs_per_part && *link != ri && n < prdshm__locks(seg)->recs_per_part;
	     n++)
		link = &recs[*link].next;
	if (*link == ri)
		*link = recs[ri].next;
}

/* Count record @p r in (+1) or out of (-1) its slot's counters.  A
 * RELEASED record counts as HELD, so the holder's swap changes no counter.
 * nwaiting changes atomically: see the file comment. */
static void count_add_as(struct prdshm__slot *sl, const struct prdshm__rec *r, uint32_t st,
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

static void count_add(struct prdshm__slot *sl, const struct prdshm__rec *r, int delta)
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
static int rec_take_released(struct prdshm__rec *r)
{
	uint64_t w = __atomic_load_n(&r->state, __ATOMIC_RELAXED);

	return (w & PRDSHM__REC_STATE_MASK) == PRDSHM__REC_RELEASED &&
	       __atomic_compare_exchange_n(&r->state, &w, w & ~PRDSHM__REC_STATE_MASK, 0,
					   __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

/* The record of session (slot, gen) on slot @p si, or NIL.  A session has
 * at most one record per slot, RELEASED ones included: a RELEASED record
 * may still be taken back by its holder (lock_reclaim). */
static uint32_t rec_find(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t sess,
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
static int ring(struct prdshm__slot *sl)
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
static int expired(const struct prdshm__rec *r, uint32_t st, uint64_t *now)
{
	uint64_t when;

	if (PRDSHM__LIKELY(st != PRDSHM__REC_WAITING &&
			   !(st == PRDSHM__REC_HELD && (r->flags & PRDSHM__REC_UPGRADING))))
		return 0;
	when = r->expires_ns;
	if (when == 0)
		return 0;
	if (*now == 0)
		*now = prdshm__now_mono();
	return *now > when;
}

/* Collect the records on slot @p si that their holders RELEASED, and the
 * requests that expired().  Call holding the partition mutex.  The slot
 * stays even if it is left empty: the caller is about to use it. */
static void slot_collect(struct prdshm_seg *seg, uint32_t p, uint32_t si)
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

/* ---- Granting --------------------------------------------------------- */

/* 1 if a record in state @p st holds the resource.  A RELEASED record
 * still does for a grant decision: its holder may take it back without the
 * mutex (lock_reclaim) until slot_collect() takes it. */
static inline int holds(uint32_t st)
{
	return st == PRDSHM__REC_HELD || st == PRDSHM__REC_RELEASED;
}

/* Whether waiting record @p ri (or the upgrade of held record @p ri) can be
 * granted now.  Call holding the partition mutex, just after slot_collect():
 * a record released since then still blocks us, but its holder saw us
 * counted in nwaiting and rang the doorbell, so we evaluate again. */
static int grantable(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri)
{
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	const struct prdshm__rec *me = &recs[ri];
	int upgrade = (me->flags & PRDSHM__REC_UPGRADING) != 0;
	int before = 1;
	uint32_t i = prdshm__part_slots(prdshm__locks(seg), p)[si].head;

	for (uint32_t n = 0; i < prdshm__locks(seg)->recs_per_part && n < prdshm__locks(seg)->recs_per_part; n++) {
		const struct prdshm__rec *x = &recs[i];
		uint32_t st = prdshm__rec_state(x);

		if (i == ri) {
			before = 0;
		} else if (upgrade) {
			/* An upgrade already holds the resource: it waits only
			 * for the other holders, not for queued requests. */
			if (holds(st))
				return 0;
		} else if (before) {
			if (prdshm__modes_conflict(prdshm__rec_effective_mode(x), me->mode))
				return 0;
		} else if (holds(st) && prdshm__modes_conflict(x->mode, me->mode)) {
			return 0;
		}
		i = x->next;
	}
	return 1;
}

static void grant(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri)
{
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), p)[si];
	struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), p)[ri];

	count_add(sl, r, -1);
	PRDSHM__CRASH_POINT("lock_grant");
	if (r->flags & PRDSHM__REC_UPGRADING) {
		__atomic_store_n(&r->mode, PRDSHM_EXCLUSIVE, __ATOMIC_RELAXED);
		__atomic_store_n(&r->flags, r->flags & ~(uint32_t)PRDSHM__REC_UPGRADING,
				 __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&r->since_ns, prdshm__now_real_coarse(), __ATOMIC_RELAXED);
		prdshm__rec_set_state(r, PRDSHM__REC_HELD);
	}
	count_add(sl, r, +1);
}

static void wake_after(struct prdshm__slot *sl)
{
	if (__atomic_load_n(&sl->nsleepers, __ATOMIC_SEQ_CST) != 0)
		prdshm__futex_wake_all(&sl->doorbell);
}

/* Remove record @p ri from slot @p si; free the slot if it is now empty.
 * @p notify is 0 for a record nobody else has seen (created in this same
 * critical section): removing it cannot let anyone in, and ringing would
 * wake every waiter for nothing.  @return 1 if waiters must be woken (after
 * unlocking). */
static int rec_remove(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri, int notify)
{
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), p)[si];
	struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), p)[ri];
	int woke;

	count_add(sl, r, -1);
	list_remove(seg, p, si, ri);
	PRDSHM__CRASH_POINT("lock_remove");
	rec_free(seg, p, ri);
	woke = notify ? ring(sl) : 0;
	if (sl->head >= prdshm__locks(seg)->recs_per_part)
		slot_free(seg, p, si);
	return woke;
}

/* Give up waiting: a request is removed, an upgrade falls back to its
 * SHARED hold.  @p notify as for rec_remove().  @return 1 if waiters must
 * be woken. */
static int withdraw(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri, int notify)
{
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), p)[si];
	struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), p)[ri];

	if (!(r->flags & PRDSHM__REC_UPGRADING))
		return rec_remove(seg, p, si, ri, notify);
	count_add(sl, r, -1);
	__atomic_store_n(&r->flags, r->flags & ~(uint32_t)PRDSHM__REC_UPGRADING, __ATOMIC_RELAXED);
	count_add(sl, r, +1);
	return notify ? ring(sl) : 0;
}

void prdshm__part_withdraw(struct prdshm_seg *seg, uint32_t p, uint32_t ri)
{
	struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), p)[ri];
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), p)[r->slot];

	if (withdraw(seg, p, r->slot, ri, 1))
		wake_after(sl); /* under the mutex: rare path */
}

/* Remove the records on slot @p si whose sessions are dead, other than
 * @p keep, and collect the RELEASED ones.  Frees the slot if it empties.
 * @return the number of dead sessions' records removed. */
static uint32_t slot_sweep_dead(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t keep)
{
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), p)[si];
	uint32_t i, n = 0;

	slot_collect(seg, p, si);
	i = sl->head;
	for (uint32_t steps = 0; i < prdshm__locks(seg)->recs_per_part && steps < prdshm__locks(seg)->recs_per_part; steps++) {
		uint32_t next = recs[i].next;

		if (i != keep && !prdshm__session_alive(seg, recs[i].sess, recs[i].gen)) {
			count_add(sl, &recs[i], -1);
			list_remove(seg, p, si, i);
			rec_free(seg, p, i);
			n++;
		}
		i = next;
	}
	if (n)
		ring(sl);
	if (sl->head >= prdshm__locks(seg)->recs_per_part)
		slot_free(seg, p, si);
	return n;
}

/* ---- Acquire ---------------------------------------------------------- */

/* A request being served: what prdshm__shm_lock() and its relatives share. */
struct request {
	struct prdshm_session *s;
	const char *name;
	size_t len;
	uint32_t hash, p;
	uint32_t mode;
	uint64_t deadline; /* CLOCK_MONOTONIC ns; 0 = try; UINT64_MAX = none */
	const char *phase;
	/* Set while the request has a record: where, and the record's use
	 * count (state word without the state bits) when it became ours. */
	uint32_t si, ri;
	uint64_t use;
};

/* The CLOCK_MONOTONIC deadline of a timeout: 0 for a try, UINT64_MAX for
 * none or for one too far away to represent (INT64_MAX means "forever" to
 * most callers, not "overflow into the past"). */
static uint64_t deadline_after(int64_t timeout_ms)
{
	uint64_t now;

	if (timeout_ms == PRDSHM_TRY)
		return 0;
	if (timeout_ms < 0)
		return UINT64_MAX;
	now = prdshm__now_mono();
	if ((uint64_t)timeout_ms > (UINT64_MAX - now) / 1000000u)
		return UINT64_MAX;
	return now + (uint64_t)timeout_ms * 1000000u;
}

/*
 * How long a mutex wait made for request @p q may last: PRDSHM__TRY_MUTEX_MS
 * for a try, what is left until the deadline for a timed request (0: one
 * try), -1 (without limit) for a request without one.  A stopped holder of
 * the partition mutex then fails the request instead of hanging it.
 */
static inline int64_t mutex_wait_ms(const struct request *q)
{
	uint64_t now;

	if (PRDSHM__LIKELY(q->deadline == UINT64_MAX))
		return -1;
	if (q->deadline == 0)
		return PRDSHM__TRY_MUTEX_MS;
	now = prdshm__now_mono();
	return now >= q->deadline ? 0 : (int64_t)((q->deadline - now + 999999u) / 1000000u);
}

/* How long after its deadline a timed request's record left queued is
 * withdrawn by others: longer than its owner tries to withdraw it itself
 * (withdraw_wait_ms()), so that the two never race for it. */
#define PRDSHM__EXPIRY_GRACE_MS (PRDSHM_RECOVER_WAIT_MS + 1000)

/* The mutex wait of a request that has a record queued and must take the
 * mutex once more to withdraw it: its own bound, then PRDSHM_RECOVER_WAIT_MS
 * more (see stranded()). */
static int64_t withdraw_wait_ms(const struct request *q)
{
	int64_t ms = mutex_wait_ms(q);

	return ms < 0 ? ms : ms + PRDSHM_RECOVER_WAIT_MS;
}

/* A request's error: a try that could not have the partition mutex in time
 * fails with PRDSHM_EBUSY, as for a conflict. */
static inline int request_error(const struct request *q, int r)
{
	if (PRDSHM__LIKELY(r == 0))
		return 0;
	return prdshm__busy_if_try(r, q->deadline == 0 ? PRDSHM_TRY : 1);
}

/* Why a request's arguments are refused; out of line, off the hot path. */
static __attribute__((noinline, cold)) int bad_request(const struct prdshm_session *s, int mode,
						       int64_t timeout_ms)
{
	if (s == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "session is NULL");
	if (mode != PRDSHM_SHARED && mode != PRDSHM_EXCLUSIVE)
		return prdshm__fail(PRDSHM_EINVAL, "mode must be SHARED or EXCLUSIVE");
	return prdshm__fail(PRDSHM_EINVAL, "negative timeout %lld", (long long)timeout_ms);
}

static inline int request_valid(const struct prdshm_session *s, int mode, int64_t timeout_ms)
{
	return PRDSHM__LIKELY(s != NULL && (mode == PRDSHM_SHARED || mode == PRDSHM_EXCLUSIVE) &&
			      timeout_ms >= PRDSHM_WAIT_FOREVER);
}

/* Fill in a request whose arguments are valid and whose name is @p len
 * bytes long. */
static void request_fill(struct request *q, struct prdshm_session *s, const char *resource,
			 size_t len, int mode, int64_t timeout_ms, const char *phase)
{
	q->s = s;
	q->name = resource;
	q->len = len;
	q->hash = prdshm__hash(resource, len);
	q->p = part_of(s->seg, q->hash);
	q->mode = (uint32_t)mode;
	q->phase = phase;
	if (timeout_ms == PRDSHM_WAIT_DEFAULT)
		timeout_ms = (int64_t)s->seg->hdr->lock_timeout_seconds * 1000;
	q->deadline = deadline_after(timeout_ms);
}

static int request_init(struct request *q, struct prdshm_session *s, const char *resource,
			int mode, int64_t timeout_ms, const char *phase)
{
	size_t len;
	int r;

	if (!request_valid(s, mode, timeout_ms))
		return bad_request(s, mode, timeout_ms);
	r = name_len(resource, &len);
	if (r)
		return r;
	request_fill(q, s, resource, len, mode, timeout_ms, phase);
	return 0;
}

/* When a record left queued by request @p q expires (see expired()): a
 * while after its deadline; never for a request without one, nor for a
 * try, which never leaves a record queued. */
static uint64_t expiry(const struct request *q)
{
	const uint64_t grace = (uint64_t)PRDSHM__EXPIRY_GRACE_MS * 1000000u;

	if (q->deadline == 0 || q->deadline > UINT64_MAX - grace)
		return 0;
	return q->deadline + grace;
}

static void rec_fill(struct prdshm__rec *r, const struct request *q, uint64_t seq)
{
	/* Atomic: a holder releasing or taking back its record without the
	 * mutex reads them, perhaps through a stale hint (see the record's
	 * comment in segment.h). */
	__atomic_store_n(&r->mode, q->mode, __ATOMIC_RELAXED);
	__atomic_store_n(&r->slot, q->si, __ATOMIC_RELAXED);
	__atomic_store_n(&r->sess, q->s->slot, __ATOMIC_RELAXED);
	__atomic_store_n(&r->gen, q->s->gen, __ATOMIC_RELAXED);
	__atomic_store_n(&r->flags, 0, __ATOMIC_RELAXED);
	r->seq = seq;
	/* Display only ("held for 3 s"): the coarse clock is enough. */
	__atomic_store_n(&r->since_ns, prdshm__now_real_coarse(), __ATOMIC_RELAXED);
	r->expires_ns = expiry(q);
	if (q->phase)
		prdshm__strlcpy(r->phase, q->phase, sizeof(r->phase));
	else
		r->phase[0] = '\0';
}

/*
 * The common re-lock by another thread or session: the slot's only record
 * is one its holder RELEASED.  Take it (rec_take_released) and make it the
 * request's, granted (nothing else is there), in place: no trip through
 * the free list.  Call holding the partition mutex.  @return 1 if done.
 */
static int reuse_released(struct prdshm_seg *seg, struct request *q)
{
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), q->p)[q->si];
	uint32_t ri = sl->head;
	struct prdshm__rec *r;
	uint64_t w;

	if (ri >= prdshm__locks(seg)->recs_per_part)
		return 0;
	r = &prdshm__part_recs(prdshm__locks(seg), q->p)[ri];
	if (r->next != PRDSHM__NIL || !rec_take_released(r))
		return 0;
	count_add_as(sl, r, PRDSHM__REC_RELEASED, -1);
	/* One more use, so that stale hints cannot match it. */
	w = (__atomic_load_n(&r->state, __ATOMIC_RELAXED) & ~PRDSHM__REC_STATE_MASK) +
	    PRDSHM__REC_USE;
	q->ri = ri;
	rec_fill(r, q, prdshm__locks(seg)->parts[q->p].seq++);
	PRDSHM__CRASH_POINT("lock_reuse");
	__atomic_store_n(&r->state, w | PRDSHM__REC_HELD, __ATOMIC_SEQ_CST);
	count_add(sl, r, +1);
	return 1;
}

/* Create the request's record on slot q->si (NIL: none yet), granted if
 * nothing can conflict.  Call holding the partition mutex.  @return 0
 * (q->si, q->ri set; *granted), PRDSHM_EHELD or PRDSHM_ELOCKFULL. */
static int enqueue(struct prdshm_seg *seg, struct request *q, int *granted)
{
	struct prdshm__part *part = &prdshm__locks(seg)->parts[q->p];
	struct prdshm__slot *sl;
	struct prdshm__rec *r;
	int fresh = 0;

	if (q->si == PRDSHM__NIL) {
		q->si = slot_alloc(seg, q->p, q->name, q->len, q->hash);
		if (q->si == PRDSHM__NIL)
			return PRDSHM_ELOCKFULL;
		fresh = 1;
	} else if (prdshm__part_slots(prdshm__locks(seg), q->p)[q->si].head < prdshm__locks(seg)->recs_per_part) {
		if (reuse_released(seg, q)) {
			*granted = 1;
			return 0;
		}
		slot_collect(seg, q->p, q->si);
		/* Also a record of ours released since slot_collect(): the
		 * request then came before that release. */
		if (rec_find(seg, q->p, q->si, q->s->slot, q->s->gen) != PRDSHM__NIL)
			return prdshm__fail(PRDSHM_EHELD, "'%.*s' is already held by this session",
					    (int)(q->len > 64 ? 64 : q->len), q->name);
	}
	q->ri = rec_alloc(seg, q->p);
	if (q->ri == PRDSHM__NIL) {
		if (fresh || prdshm__part_slots(prdshm__locks(seg), q->p)[q->si].head >= prdshm__locks(seg)->recs_per_part)
			slot_free(seg, q->p, q->si);
		return PRDSHM_ELOCKFULL;
	}
	sl = &prdshm__part_slots(prdshm__locks(seg), q->p)[q->si];
	r = &prdshm__part_recs(prdshm__locks(seg), q->p)[q->ri];
	/* Nothing that could conflict is there.  (The counters count a
	 * RELEASED record as held: that only sends us the slow way, through
	 * grantable().) */
	*granted = sl->head >= prdshm__locks(seg)->recs_per_part ||
		   (q->mode == PRDSHM_SHARED && sl->nexcl == 0 && sl->nwaiting == 0);
	rec_fill(r, q, part->seq++);
	list_append(seg, q->p, q->si, q->ri);
	PRDSHM__CRASH_POINT("lock_link");
	prdshm__rec_set_state(r, *granted ? PRDSHM__REC_HELD : PRDSHM__REC_WAITING);
	count_add(sl, r, +1);
	return 0;
}

static int table_full(struct prdshm_seg *seg)
{
	if (__atomic_load_n(&seg->hdr->needs_recovery, __ATOMIC_ACQUIRE))
		return PRDSHM_ERECOVER; /* corrupt_free_list() said why */
	if (prdshm__locks(seg)->nparts == 1)
		return prdshm__fail(PRDSHM_ELOCKFULL, "lock table full (max_locks=%u)",
				    seg->hdr->max_locks);
	return prdshm__fail(PRDSHM_ELOCKFULL,
			    "lock table full (max_locks=%u; partition of %u slots, %u records "
			    "is full)",
			    seg->hdr->max_locks, prdshm__locks(seg)->slots_per_part, prdshm__locks(seg)->recs_per_part);
}

/* Sleep until the doorbell moves, the deadline passes or the wait cap
 * expires, without holding any mutex.  @return 1 if the sleep timed out,
 * PRDSHM_EINTR if a signal handler ran during it, else 0. */
static int doze(struct prdshm__slot *sl, uint32_t bell, uint64_t until)
{
	uint64_t now;
	int r;

	for (int i = 0; i < SPIN_POLLS; i++) {
		if (prdshm__doorbell_read(&sl->doorbell) != bell)
			return 0;
		prdshm__cpu_relax();
	}
	now = prdshm__now_mono();
	if (now >= until)
		return 1;
	__atomic_add_fetch(&sl->nsleepers, 1, __ATOMIC_SEQ_CST);
	r = prdshm__futex_wait(&sl->doorbell, bell, (int64_t)(until - now));
	__atomic_sub_fetch(&sl->nsleepers, 1, __ATOMIC_SEQ_CST);
	return r == PRDSHM_EINTR ? r : r == PRDSHM_ETIMEDOUT;
}

/* Our record is still ours: a repair may have dropped it, and another
 * thread of the session may have released it (then another request may
 * even have reused it: the use count tells). */
static int rec_is_ours(struct prdshm_seg *seg, const struct request *q)
{
	const struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), q->p)[q->ri];
	uint64_t w = __atomic_load_n(&r->state, __ATOMIC_SEQ_CST);
	uint32_t st = (uint32_t)(w & PRDSHM__REC_STATE_MASK);

	return (st == PRDSHM__REC_HELD || st == PRDSHM__REC_WAITING) &&
	       (w & ~PRDSHM__REC_STATE_MASK) == q->use && r->sess == q->s->slot &&
	       r->gen == q->s->gen && r->slot == q->si;
}

/* Remember the use count of the request's record (see rec_is_ours). */
static void note_use(struct prdshm_seg *seg, struct request *q)
{
	q->use = __atomic_load_n(&prdshm__part_recs(prdshm__locks(seg), q->p)[q->ri].state, __ATOMIC_RELAXED) &
		 ~PRDSHM__REC_STATE_MASK;
}

/* Nanoseconds from now until the first deadlock check of a wait. */
static uint64_t deadlock_delay_ns(const struct prdshm_seg *seg)
{
	int32_t ms = seg->hdr->deadlock_timeout_ms;

	return ms > 0 ? (uint64_t)ms * 1000000u : 0;
}

/*
 * Leave the queue after an error that left the record behind (the segment
 * was marked as needing recovery meanwhile).  A record nobody waits behind
 * would block every later request forever, so take the mutex even though
 * the segment is marked, and withdraw it.  @return @p err.
 */
static int abandon(struct prdshm_seg *seg, struct request *q, int err)
{
	char msg[512];

	prdshm__strlcpy(msg, prdshm_last_error(), sizeof(msg));
	if (prdshm__mutex_lock(seg, &prdshm__locks(seg)->parts[q->p].mutex, withdraw_wait_ms(q),
			       prdshm__part_repair, (void *)(uintptr_t)q->p) == 0) {
		if (rec_is_ours(seg, q))
			withdraw(seg, q->p, q->si, q->ri, 1);
		part_unlock(seg, q->p);
		wake_after(&prdshm__part_slots(prdshm__locks(seg), q->p)[q->si]);
	}
	return prdshm__fail(err, "%s", msg);
}

/*
 * A timed request whose record is queued could not have the partition
 * mutex back to withdraw it, within its deadline and PRDSHM_RECOVER_WAIT_MS
 * more: the holder is alive but stopped or stuck.  Waiting longer would
 * hang the call, so the record stays queued, behind the holder like
 * everything else of the partition, until it expires: the next mutex
 * holder on its slot withdraws it PRDSHM__EXPIRY_GRACE_MS after the
 * deadline (expired()), or the session releases everything first.
 * @return PRDSHM_ETIMEDOUT, the message naming the mutex and its holder.
 */
static int stranded(const struct request *q)
{
	char msg[512];

	prdshm__strlcpy(msg, prdshm_last_error(), sizeof(msg));
	return prdshm__fail(PRDSHM_ETIMEDOUT,
			    "timed out waiting for '%.*s' (%s); the request stays queued until "
			    "the next process on the resource withdraws it, %d ms after the "
			    "deadline",
			    (int)(q->len > 64 ? 64 : q->len), q->name, msg,
			    PRDSHM__EXPIRY_GRACE_MS);
}

/* The deadlock check of request @p q, its mutex waits bounded as the
 * request's (deadlock.c takes every partition mutex). */
static int deadlock_check(struct prdshm_seg *seg, const struct request *q)
{
	/* At most one wait cap on other partitions' mutexes, whatever the
	 * request's timeout: meanwhile nobody watches its doorbell, and a
	 * stopped holder elsewhere must not keep it from a grant here. */
	int64_t ms = mutex_wait_ms(q), cap = WAIT_CAP_NS / 1000000;
	uint64_t outer = prdshm__wait_bound_begin(ms < 0 || ms > cap ? cap : ms);
	int r = prdshm__deadlock_check(seg, q->p, q->ri, q->use, q->s->slot, q->s->gen);

	prdshm__wait_bound_end(outer);
	/* A check cut short found nothing; its message is no failure of the
	 * call, which goes on waiting. */
	if (r == PRDSHM_ETIMEDOUT)
		prdshm__call_ok();
	return r;
}

/*
 * The calling thread's latest grant.  The usual pattern, one name locked
 * and unlocked again and again, then needs neither the name's hash nor,
 * for a re-lock (lock_reclaim), the partition mutex.  Per thread, so that
 * threads sharing a session never race on it, and private, so that the
 * name is compared with bytes no other process can change.  Only a hint:
 * the record's state word is the proof (its use count names the
 * allocation), and it is checked by the compare-and-swap that acts.
 */
#define LAST_NAME_MAX 64
struct last_grant {
	uint64_t serial;    /* the session's (0: none); its mapping stays while
			     * it is open, so the pointers below stay valid */
	struct prdshm__rec *rec;
	struct prdshm__slot *slot;
	uint32_t len;       /* 0: nothing remembered */
	uint64_t use;       /* the record's use count (state bits clear) */
	int nophase;        /* the grant named no phase */
	char name[LAST_NAME_MAX];
};
static __thread struct last_grant last_grant __attribute__((tls_model("initial-exec")));

/* The thread's latest grant if it was of @p name by session @p s. */
static inline const struct last_grant *last_grant_of(const struct prdshm_session *s,
						     const char *name, size_t len)
{
	const struct last_grant *g = &last_grant;

	if (g->serial != s->serial || g->len != len || !prdshm__bytes_equal(g->name, name, len))
		return NULL;
	return g;
}

/* Remember the granted request: in the session's hints, for an unlock by
 * any thread, and as this thread's latest grant.  Call holding the
 * partition mutex: the use count read here must be the grant's, before
 * anyone can collect or reuse the record. */
static void remember(const struct request *q)
{
	struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(q->s->seg), q->p)[q->ri];
	struct last_grant *g = &last_grant;

	__atomic_store_n(&q->s->hints[q->hash & (PRDSHM__HINTS - 1)],
			 (uint64_t)q->hash << 32 | q->ri, __ATOMIC_RELAXED);
	if (q->len > LAST_NAME_MAX) {
		g->len = 0;
		return;
	}
	g->serial = q->s->serial;
	g->rec = r;
	g->slot = &prdshm__part_slots(prdshm__locks(q->s->seg), q->p)[q->si];
	g->len = (uint32_t)q->len;
	g->use = __atomic_load_n(&r->state, __ATOMIC_RELAXED) & ~PRDSHM__REC_STATE_MASK;
	g->nophase = r->phase[0] == '\0';
	memcpy(g->name, q->name, q->len);
}

/* Grant the request's record and leave the partition.  @p woke: sweeping
 * freed records others may wait behind. */
static int granted_exit(struct prdshm_seg *seg, struct request *q, int woke)
{
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), q->p)[q->si];

	grant(seg, q->p, q->si, q->ri);
	remember(q);
	part_unlock(seg, q->p);
	if (woke)
		wake_after(sl);
	return 0;
}

/* Give up the request's record and leave the partition.  @p notify as for
 * rec_remove(); @p woke as for granted_exit().  @return @p err. */
static int withdrawn_exit(struct prdshm_seg *seg, struct request *q, int notify, int woke,
			  int err)
{
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), q->p)[q->si];

	woke |= withdraw(seg, q->p, q->si, q->ri, notify);
	part_unlock(seg, q->p);
	if (woke)
		wake_after(sl);
	if (err == PRDSHM_EBUSY)
		return prdshm__fail(err, "'%.*s' is busy", (int)(q->len > 64 ? 64 : q->len),
				    q->name);
	if (err == PRDSHM_EINTR)
		return prdshm__fail(err, "interrupted by a signal while waiting for '%.*s'",
				    (int)(q->len > 64 ? 64 : q->len), q->name);
	return prdshm__fail(err, "timed out waiting for '%.*s'",
			    (int)(q->len > 64 ? 64 : q->len), q->name);
}

/*
 * Wait until the request's record is granted.  Entered holding the
 * partition mutex with the record waiting (counted in nwaiting); returns
 * without the mutex.  The doorbell is read before the record is evaluated,
 * so a release racing the evaluation moves it (file comment).  Dead holders
 * are looked for FIRST_SWEEP_NS after entry (at once for a try), then every
 * WAIT_CAP_NS, by the clock, not by how a sleep ended.  A sleep that a
 * signal handler interrupted ends the wait with PRDSHM_EINTR, the record
 * withdrawn as for a timeout, unless the grant came meanwhile: the caller
 * (a Python binding's Ctrl-C) decides whether to wait again.
 * @return 0, PRDSHM_EBUSY (a try), PRDSHM_ETIMEDOUT, PRDSHM_EINTR, PRDSHM_EDEADLK,
 * PRDSHM_ERECOVER, or 1 if the record is no longer ours: dropped by a repair,
 * or released by another thread of the session (a request starts over).
 */
static int wait_grant(struct prdshm_seg *seg, struct request *q)
{
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), q->p)[q->si];
	uint64_t now = prdshm__now_mono();
	uint64_t check_at = now + deadlock_delay_ns(seg);
	/* A try looks for dead holders at once; a wait first gives the holder
	 * FIRST_SWEEP_NS to hand over, since a sweep costs a system call per
	 * record and most waits are a quick hand-off, but looks before its
	 * deadline all the same (lock_many's last items get short ones). */
	uint64_t sweep_at = now + FIRST_SWEEP_NS < q->deadline ? now + FIRST_SWEEP_NS
							      : q->deadline;
	int woke = 0, intr = 0, r;

	for (;;) {
		uint32_t bell = prdshm__doorbell_read(&sl->doorbell);
		uint64_t until = now + WAIT_CAP_NS;

		/* Collect first: an upgrade's record that another thread of
		 * the session released may be among those collected, and must
		 * then not be granted. */
		slot_collect(seg, q->p, q->si);
		if (!rec_is_ours(seg, q)) {
			part_unlock(seg, q->p);
			if (woke)
				wake_after(sl);
			return 1;
		}
		if (grantable(seg, q->p, q->si, q->ri))
			return granted_exit(seg, q, woke);
		if (now >= sweep_at) {
			sweep_at = now + WAIT_CAP_NS;
			if (slot_sweep_dead(seg, q->p, q->si, q->ri) > 0) {
				woke = 1;
				continue;
			}
		}
		if (q->deadline == 0)
			return withdrawn_exit(seg, q, 0, woke, PRDSHM_EBUSY);
		if (intr)
			return withdrawn_exit(seg, q, 1, woke, PRDSHM_EINTR);
		if (now >= q->deadline)
			return withdrawn_exit(seg, q, 1, woke, PRDSHM_ETIMEDOUT);
		if (until > q->deadline)
			until = q->deadline;
		if (until > check_at)
			until = check_at;
		if (until > sweep_at)
			until = sweep_at;
		part_unlock(seg, q->p);
		if (woke)
			wake_after(sl);
		woke = 0;
		intr = doze(sl, bell, until) == PRDSHM_EINTR;
		now = prdshm__now_mono();
		if (now >= check_at) {
			/* One that could not have every partition mutex in
			 * time (PRDSHM_ETIMEDOUT) found nothing: go on. */
			r = deadlock_check(seg, q);
			if (r == PRDSHM_EDEADLK)
				return r;
			if (r == PRDSHM_ERECOVER)
				return abandon(seg, q, r);
			/* A check takes every partition mutex: repeat it no
			 * more often than the wait cap, whatever the setting. */
			check_at = now + (deadlock_delay_ns(seg) > (uint64_t)WAIT_CAP_NS
						  ? deadlock_delay_ns(seg)
						  : (uint64_t)WAIT_CAP_NS);
		}
		r = part_lock(seg, q->p, withdraw_wait_ms(q));
		if (r == PRDSHM_ETIMEDOUT)
			return stranded(q);
		if (r)
			return abandon(seg, q, r);
	}
}

/* Take the request's partition mutex and find its slot (NIL if none). */
static int lock_find_slot(struct request *q)
{
	struct prdshm_seg *seg = q->s->seg;
	int r = part_lock(seg, q->p, mutex_wait_ms(q));

	if (r == 0)
		q->si = slot_find(seg, q->p, q->name, q->len, q->hash);
	return request_error(q, r);
}

static int acquire(struct request *q)
{
	struct prdshm_seg *seg = q->s->seg;
	int granted = 0, r, reaped = 0;

again:
	r = lock_find_slot(q);
	if (r)
		return r;
	r = enqueue(seg, q, &granted);
	if (r == PRDSHM_ELOCKFULL && !reaped) {
		/* Dead sessions' and released records may be what fills the
		 * table. */
		prdshm__part_sweep_dead(seg, q->p, NULL, NULL);
		reaped = 1;
		q->si = slot_find(seg, q->p, q->name, q->len, q->hash);
		r = enqueue(seg, q, &granted);
	}
	if (r) {
		part_unlock(seg, q->p);
		return r == PRDSHM_ELOCKFULL ? table_full(seg) : r;
	}
	if (granted) {
		remember(q);
		part_unlock(seg, q->p);
		return 0;
	}
	note_use(seg, q);
	r = wait_grant(seg, q);
	if (r == 1)
		goto again;
	return r;
}

/* A releaser saw waiters counted: ring the doorbell and wake them (file
 * comment: the releaser's half of Dekker's pattern). */
static void ring_released(struct prdshm__slot *sl)
{
	if (__atomic_load_n(&sl->nwaiting, __ATOMIC_SEQ_CST) != 0) {
		__atomic_add_fetch(&sl->doorbell, 1, __ATOMIC_SEQ_CST);
		wake_after(sl);
	}
}

/*
 * The re-lock, without the partition mutex: take back the record that this
 * thread's latest grant of the name released, if it is still RELEASED in
 * that same allocation (the use count), in this mode, not upgrading, with
 * no phase: RELEASED -> HELD by a compare-and-swap.  Everyone else removes
 * or reuses a RELEASED record only by compare-and-swap (rec_take_released),
 * so exactly one side wins, and grant decisions count a RELEASED record as
 * held.  A waiter must keep its place in line, so the swap is followed by
 * Dekker's check (file comment): if a waiter is counted, give the record
 * back, ring for it, and queue the normal way.  @return 1 if granted.
 */
static inline int lock_reclaim(struct prdshm_session *s, const char *name, size_t len,
			       uint32_t mode)
{
	struct prdshm_seg *seg = s->seg;
	const struct last_grant *g = last_grant_of(s, name, len);
	struct prdshm__rec *r;
	uint64_t w;

	if (g == NULL || !g->nophase ||
	    __atomic_load_n(&seg->hdr->needs_recovery, __ATOMIC_RELAXED))
		return 0;
	r = g->rec;
	w = g->use | PRDSHM__REC_RELEASED;
	/* Someone waits already: do not make it see the record held for
	 * nothing (it would go back to sleep until the give-back rings). */
	if (__atomic_load_n(&g->slot->nwaiting, __ATOMIC_RELAXED) != 0 ||
	    __atomic_load_n(&r->mode, __ATOMIC_RELAXED) != mode ||
	    __atomic_load_n(&r->flags, __ATOMIC_RELAXED) != 0 ||
	    !__atomic_compare_exchange_n(&r->state, &w, g->use | PRDSHM__REC_HELD, 0,
					 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return 0;
	PRDSHM__CRASH_POINT("lock_reclaim");
	if (PRDSHM__LIKELY(__atomic_load_n(&g->slot->nwaiting, __ATOMIC_SEQ_CST) == 0)) {
		__atomic_store_n(&r->since_ns, prdshm__now_real_coarse(), __ATOMIC_RELAXED);
		return 1;
	}
	w = g->use | PRDSHM__REC_HELD;
	if (__atomic_compare_exchange_n(&r->state, &w, g->use | PRDSHM__REC_RELEASED, 0,
					__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		ring_released(g->slot);
	return 0;
}

/* prdshm__shm_lock() when the take-back did not apply: hash the name, take the
 * mutex. */
static __attribute__((noinline)) int lock_slow(prdshm_session *s, const char *resource,
					       size_t len, int mode, int64_t timeout_ms,
					       const char *phase_id)
{
	struct request q;

	request_fill(&q, s, resource, len, mode, timeout_ms, phase_id);
	return acquire(&q);
}

int prdshm__shm_lock(prdshm_session *s, const char *resource, prdshm_mode mode, int64_t timeout_ms,
		const char *phase_id)
{
	size_t len;
	int r;

	prdshm__call_begin();
	if (!request_valid(s, (int)mode, timeout_ms))
		return bad_request(s, (int)mode, timeout_ms);
	r = name_len(resource, &len);
	if (PRDSHM__UNLIKELY(r))
		return r;
	if (phase_id == NULL && lock_reclaim(s, resource, len, (uint32_t)mode))
		return 0;
	return lock_slow(s, resource, len, (int)mode, timeout_ms, phase_id);
}

/* ---- Release, upgrade, downgrade ------------------------------------ */

/* Lock the resource's partition, waiting at most @p wait_ms (-1: without
 * limit), and find the session's record on it.  On success the caller
 * holds the partition mutex. */
static int find_own(struct request *q, int64_t wait_ms)
{
	struct prdshm_seg *seg = q->s->seg;
	int r = part_lock(seg, q->p, wait_ms);

	if (r)
		return r;
	q->si = slot_find(seg, q->p, q->name, q->len, q->hash);
	q->ri = q->si == PRDSHM__NIL ? PRDSHM__NIL
				     : rec_find(seg, q->p, q->si, q->s->slot, q->s->gen);
	if (q->ri == PRDSHM__NIL ||
	    prdshm__rec_state(&prdshm__part_recs(prdshm__locks(seg), q->p)[q->ri]) != PRDSHM__REC_HELD) {
		part_unlock(seg, q->p);
		return prdshm__fail(PRDSHM_ENOTHELD, "'%.*s' is not held by this session",
				    (int)(q->len > 64 ? 64 : q->len), q->name);
	}
	return 0;
}

/*
 * Release the session's hold on @p name without the partition mutex, if
 * this thread's latest grant was of it: HELD -> RELEASED by a
 * compare-and-swap that fails if the record is not that allocation any
 * more, or not held (see lock_reclaim).  @return 1 if released.
 */
static inline int release_last(struct prdshm_session *s, const char *name, size_t len)
{
	struct prdshm_seg *seg = s->seg;
	const struct last_grant *g = last_grant_of(s, name, len);
	uint64_t w;

	/* A segment marked for recovery refuses every operation, this one
	 * too: the slow way says so. */
	if (g == NULL || __atomic_load_n(&seg->hdr->needs_recovery, __ATOMIC_RELAXED))
		return 0;
	w = g->use | PRDSHM__REC_HELD;
	if (!__atomic_compare_exchange_n(&g->rec->state, &w, g->use | PRDSHM__REC_RELEASED, 0,
					 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return 0;
	PRDSHM__CRASH_POINT("unlock_ring");
	ring_released(g->slot);
	return 1;
}

/*
 * The same through the session's hint for the name's hash, left by a grant
 * in any thread (see session.h).  Unlike the thread's own latest grant, it
 * says nothing of the allocation, so the record is checked: HELD, this
 * session's, on a slot whose name (stable while the record holds it) is
 * this one.  A record reused since these reads fails the swap: its use
 * count moved.  @return 1 if released.
 */
static int release_hinted(struct prdshm_session *s, uint32_t hash, const char *name, size_t len)
{
	struct prdshm_seg *seg = s->seg;
	uint64_t hint = __atomic_load_n(&s->hints[hash & (PRDSHM__HINTS - 1)], __ATOMIC_RELAXED);
	uint32_t p = part_of(seg, hash), ri = (uint32_t)hint, si;
	struct prdshm__slot *sl;
	struct prdshm__rec *r;
	uint64_t w;

	if ((uint32_t)(hint >> 32) != hash || ri >= prdshm__locks(seg)->recs_per_part ||
	    __atomic_load_n(&seg->hdr->needs_recovery, __ATOMIC_RELAXED))
		return 0;
	r = &prdshm__part_recs(prdshm__locks(seg), p)[ri];
	w = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
	si = __atomic_load_n(&r->slot, __ATOMIC_RELAXED);
	if ((w & PRDSHM__REC_STATE_MASK) != PRDSHM__REC_HELD || si >= prdshm__locks(seg)->slots_per_part ||
	    __atomic_load_n(&r->sess, __ATOMIC_RELAXED) != s->slot ||
	    __atomic_load_n(&r->gen, __ATOMIC_RELAXED) != s->gen)
		return 0;
	sl = &prdshm__part_slots(prdshm__locks(seg), p)[si];
	if (sl->name_len != len || !prdshm__bytes_equal(sl->name, name, len) ||
	    !__atomic_compare_exchange_n(&r->state, &w, w | PRDSHM__REC_RELEASED, 0,
					 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return 0;
	PRDSHM__CRASH_POINT("unlock_ring");
	ring_released(sl);
	return 1;
}

/* prdshm__shm_unlock() when the thread's latest grant was not of this name:
 * the session's hint, else under the mutex. */
static __attribute__((noinline)) int unlock_slow(prdshm_session *s, const char *resource,
						 size_t len)
{
	struct request q;
	struct prdshm_seg *seg = s->seg;
	struct prdshm__slot *sl;
	int woke, r;

	q.s = s;
	q.name = resource;
	q.len = len;
	q.hash = prdshm__hash(resource, len);
	if (release_hinted(s, q.hash, resource, len))
		return 0;
	q.p = part_of(seg, q.hash);
	r = find_own(&q, -1);
	if (r)
		return r;
	sl = &prdshm__part_slots(prdshm__locks(seg), q.p)[q.si];
	woke = rec_remove(seg, q.p, q.si, q.ri, 1);
	part_unlock(seg, q.p);
	if (woke)
		wake_after(sl);
	return 0;
}

int prdshm__shm_unlock(prdshm_session *s, const char *resource)
{
	size_t len;
	int r;

	prdshm__call_begin();
	if (PRDSHM__UNLIKELY(s == NULL))
		return prdshm__fail(PRDSHM_EINVAL, "session is NULL");
	r = name_len(resource, &len);
	if (PRDSHM__UNLIKELY(r))
		return r;
	if (release_last(s, resource, len))
		return 0;
	return unlock_slow(s, resource, len);
}

int prdshm__shm_downgrade(prdshm_session *s, const char *resource)
{
	struct request q;
	struct prdshm__slot *sl;
	struct prdshm__rec *rec;
	int r;
	int woke = 0;

	prdshm__call_begin();
	r = request_init(&q, s, resource, PRDSHM_SHARED, 0, NULL);
	if (r)
		return r;
	r = find_own(&q, -1);
	if (r)
		return r;
	sl = &prdshm__part_slots(prdshm__locks(s->seg), q.p)[q.si];
	rec = &prdshm__part_recs(prdshm__locks(s->seg), q.p)[q.ri];
	if (rec->mode == PRDSHM_EXCLUSIVE) {
		count_add(sl, rec, -1);
		__atomic_store_n(&rec->mode, PRDSHM_SHARED, __ATOMIC_RELAXED);
		count_add(sl, rec, +1);
		woke = ring(sl);
	}
	part_unlock(s->seg, q.p);
	if (woke)
		wake_after(sl);
	return 0;
}

int prdshm__shm_upgrade(prdshm_session *s, const char *resource, int64_t timeout_ms)
{
	struct request q = { 0 }; /* request_init() fills it, or fails */
	struct prdshm__slot *sl;
	struct prdshm__rec *rec;
	int r;

	prdshm__call_begin();
	r = request_init(&q, s, resource, PRDSHM_EXCLUSIVE, timeout_ms, NULL);
	if (r)
		return r;
	r = find_own(&q, mutex_wait_ms(&q));
	if (r)
		return request_error(&q, r);
	sl = &prdshm__part_slots(prdshm__locks(s->seg), q.p)[q.si];
	rec = &prdshm__part_recs(prdshm__locks(s->seg), q.p)[q.ri];
	if (rec->mode == PRDSHM_EXCLUSIVE) {
		part_unlock(s->seg, q.p);
		return 0;
	}
	if (rec->flags & PRDSHM__REC_UPGRADING) {
		/* Another thread of this session is already upgrading it. */
		part_unlock(s->seg, q.p);
		return prdshm__fail(PRDSHM_EBUSY, "an upgrade of '%.*s' is already waiting",
				    (int)(q.len > 64 ? 64 : q.len), q.name);
	}
	count_add(sl, rec, -1);
	rec->expires_ns = expiry(&q);
	__atomic_store_n(&rec->flags, rec->flags | PRDSHM__REC_UPGRADING, __ATOMIC_RELAXED);
	count_add(sl, rec, +1);
	note_use(s->seg, &q);
	r = wait_grant(s->seg, &q);
	return r == 1 ? prdshm__fail(PRDSHM_ENOTHELD,
				     "'%.*s': hold released meanwhile or lost in a repair",
				     (int)(q.len > 64 ? 64 : q.len), q.name)
		      : r;
}

/* ---- Whole-session and whole-partition operations --------------------- */

uint32_t prdshm__part_release_session(struct prdshm_seg *seg, uint32_t p, uint32_t slot,
				      uint32_t gen)
{
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	uint32_t n = 0;

	for (uint32_t i = 0; i < prdshm__locks(seg)->recs_per_part && prdshm__locks(seg)->parts[p].nrecs > 0; i++) {
		struct prdshm__rec *r = &recs[i];
		uint32_t st = prdshm__rec_state(r), si = r->slot;
		struct prdshm__slot *sl;

		if (st == PRDSHM__REC_FREE || r->sess != slot || r->gen != gen ||
		    si >= prdshm__locks(seg)->slots_per_part)
			continue;
		sl = &prdshm__part_slots(prdshm__locks(seg), p)[si];
		if (st == PRDSHM__REC_RELEASED) {
			/* Garbage, taken only by compare-and-swap (another
			 * thread of the session may be taking it back): collect
			 * the slot, and free it if nothing else is left. */
			slot_collect(seg, p, si);
			st = prdshm__rec_state(r);
			if (st == PRDSHM__REC_FREE) {
				if (sl->head >= prdshm__locks(seg)->recs_per_part)
					slot_free(seg, p, si);
				continue;
			}
		}
		if (rec_remove(seg, p, si, i, 1))
			wake_after(sl); /* under the mutex: rare path, keep it simple */
		n += st != PRDSHM__REC_RELEASED; /* garbage goes too, uncounted */
	}
	return n;
}

int prdshm__shm_unlock_all(prdshm_session *s, size_t *freed)
{
	size_t n = 0;
	int r = 0;

	prdshm__call_begin();
	if (s == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "session is NULL");
	for (uint32_t p = 0; p < prdshm__locks(s->seg)->nparts; p++) {
		r = part_lock(s->seg, p, -1);
		if (r)
			break;
		n += prdshm__part_release_session(s->seg, p, s->slot, s->gen);
		part_unlock(s->seg, p);
	}
	if (freed)
		*freed = n;
	return r;
}

uint32_t prdshm__part_sweep_dead(struct prdshm_seg *seg, uint32_t p,
				 void (*report)(void *ctx, const char *line), void *ctx)
{
	struct prdshm__slot *slots = prdshm__part_slots(prdshm__locks(seg), p);
	uint32_t n = 0;

	for (uint32_t si = 0; si < prdshm__locks(seg)->slots_per_part && prdshm__locks(seg)->parts[p].nslots > 0; si++) {
		struct prdshm__slot *sl = &slots[si];
		char line[PRDSHM_NAME_MAX + 96];
		uint32_t k, len = sl->name_len;

		if (len == 0 || len > PRDSHM_NAME_MAX)
			continue;
		/* Format before sweeping: the slot may be freed by it. */
		snprintf(line, sizeof(line), "released lock records of dead agents on '%.*s'",
			 (int)len, sl->name);
		k = slot_sweep_dead(seg, p, si, PRDSHM__NIL);
		if (k == 0)
			continue;
		if (report)
			report(ctx, line);
		wake_after(sl);
		n += k;
	}
	return n;
}

/* ---- Repair ----------------------------------------------------------- */

/* Insert record @p ri into slot @p si's list in seq order. */
static void list_insert_sorted(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri)
{
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	uint32_t *link = &prdshm__part_slots(prdshm__locks(seg), p)[si].head;

	for (uint32_t n = 0; *link < prdshm__locks(seg)->recs_per_part && recs[*link].seq < recs[ri].seq &&
			     n < prdshm__locks(seg)->recs_per_part;
	     n++)
		link = &recs[*link].next;
	recs[ri].next = *link;
	*link = ri;
}

static int rec_valid(struct prdshm_seg *seg, uint32_t p, const struct prdshm__rec *r)
{
	const struct prdshm__slot *slots = prdshm__part_slots(prdshm__locks(seg), p);
	uint32_t st = prdshm__rec_state(r);

	/* A RELEASED record stays, as if held: its holder may take it back
	 * without the mutex (lock_reclaim), so only rec_take_released() may
	 * drop it, and the next slot_collect() will. */
	return (holds(st) || st == PRDSHM__REC_WAITING) &&
	       (r->mode == PRDSHM_SHARED || r->mode == PRDSHM_EXCLUSIVE) &&
	       r->slot < prdshm__locks(seg)->slots_per_part && slots[r->slot].name_len != 0 &&
	       r->sess < prdshm__sessions(seg)->max_agents;
}

/* Chain every named slot into its bucket. */
static void chain_slots(struct prdshm_seg *seg, uint32_t p)
{
	struct prdshm__slot *slots = prdshm__part_slots(prdshm__locks(seg), p);
	uint32_t *buckets = prdshm__part_buckets(prdshm__locks(seg), p);

	for (uint32_t b = 0; b < prdshm__locks(seg)->buckets_per_part; b++)
		buckets[b] = PRDSHM__NIL;
	for (uint32_t i = 0; i < prdshm__locks(seg)->slots_per_part; i++) {
		uint32_t b = slots[i].hash & (prdshm__locks(seg)->buckets_per_part - 1);

		if (slots[i].name_len == 0)
			continue;
		slots[i].chain = buckets[b];
		buckets[b] = i;
	}
}

/* Slot pass of the rebuild: keep named slots whose hash belongs here, and
 * drop duplicate names (keeping the first). */
static void rebuild_slots(struct prdshm_seg *seg, uint32_t p)
{
	struct prdshm__slot *slots = prdshm__part_slots(prdshm__locks(seg), p);
	uint32_t *buckets = prdshm__part_buckets(prdshm__locks(seg), p);

	for (uint32_t b = 0; b < prdshm__locks(seg)->buckets_per_part; b++)
		buckets[b] = PRDSHM__NIL;
	for (uint32_t i = 0; i < prdshm__locks(seg)->slots_per_part; i++) {
		struct prdshm__slot *sl = &slots[i];

		sl->head = PRDSHM__NIL;
		sl->nshared = sl->nexcl = 0;
		/* Above zero while the records are counted again: a re-lock
		 * reads it without the mutex and must not pass a waiter that
		 * is not counted yet (prdshm__part_rebuild takes the 1 off). */
		__atomic_store_n(&sl->nwaiting, 1, __ATOMIC_SEQ_CST);
		if (sl->name_len == 0 || sl->name_len > PRDSHM_NAME_MAX ||
		    memchr(sl->name, '\0', sl->name_len) != NULL) {
			sl->name_len = 0;
			continue;
		}
		sl->hash = prdshm__hash(sl->name, sl->name_len);
		if (part_of(seg, sl->hash) != p ||
		    slot_find(seg, p, sl->name, sl->name_len, sl->hash) != PRDSHM__NIL) {
			sl->name_len = 0;
			continue;
		}
		sl->name[sl->name_len] = '\0';
		sl->chain = buckets[sl->hash & (prdshm__locks(seg)->buckets_per_part - 1)];
		buckets[sl->hash & (prdshm__locks(seg)->buckets_per_part - 1)] = i;
	}
}

int prdshm__part_rebuild(struct prdshm_seg *seg, uint32_t p)
{
	struct prdshm__part *part = &prdshm__locks(seg)->parts[p];
	struct prdshm__slot *slots = prdshm__part_slots(prdshm__locks(seg), p);
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	uint64_t maxseq = 0;

	rebuild_slots(seg, p);
	part->free_rec = PRDSHM__NIL;
	part->nrecs = 0;
	for (uint32_t i = prdshm__locks(seg)->recs_per_part; i-- > 0;) {
		struct prdshm__rec *r = &recs[i];

		/* Only a held SHARED record can be upgrading.  A RELEASED one
		 * keeps the mark: a take-back then refuses it (its upgrader
		 * must see it as lost, not granted). */
		__atomic_store_n(&r->flags,
				 holds(prdshm__rec_state(r)) && r->mode == PRDSHM_SHARED
					 ? r->flags & PRDSHM__REC_UPGRADING
					 : 0,
				 __ATOMIC_RELAXED);
		if (!rec_valid(seg, p, r) ||
		    rec_find(seg, p, r->slot, r->sess, r->gen) != PRDSHM__NIL) {
			prdshm__rec_set_state(r, PRDSHM__REC_FREE);
			r->next = part->free_rec;
			part->free_rec = i;
			continue;
		}
		r->phase[PRDSHM_ID_MAX] = '\0';
		list_insert_sorted(seg, p, r->slot, i);
		count_add(&slots[r->slot], r, +1);
		if (r->seq > maxseq)
			maxseq = r->seq;
		part->nrecs++;
	}
	if (part->seq <= maxseq)
		part->seq = maxseq + 1;
	part->free_slot = PRDSHM__NIL;
	part->nslots = 0;
	for (uint32_t i = prdshm__locks(seg)->slots_per_part; i-- > 0;) {
		struct prdshm__slot *sl = &slots[i];

		__atomic_sub_fetch(&sl->nwaiting, 1, __ATOMIC_SEQ_CST); /* rebuild_slots() */
		if (sl->head >= prdshm__locks(seg)->recs_per_part)
			sl->name_len = 0; /* no records: the resource is free */
		if (sl->name_len == 0) {
			sl->chain = part->free_slot;
			part->free_slot = i;
		} else {
			part->nslots++;
			/* Wake everyone: waiters re-evaluate against the
			 * rebuilt lists. */
			prdshm__doorbell_ring(&sl->doorbell);
			prdshm__futex_wake_all(&sl->doorbell);
		}
	}
	chain_slots(seg, p);
	return 0;
}

/* ---- Several resources at once ---------------------------------------- */

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

/* ---- Query ------------------------------------------------------------ */

/*
 * Copy record @p x out to element @p i of the caller's array @p out, whose
 * stride is out[0].struct_size (see "ABI" in prdshm.h): the caller may have
 * been compiled against a shorter or longer prdshm_holder than ours.
 */
static void holder_out(struct prdshm_seg *seg, const struct prdshm__rec *x, prdshm_holder *out,
		       size_t i)
{
	uint32_t stride = prdshm__abi_size(out);
	char *dst = (char *)out + i * stride;
	prdshm_holder h;

	prdshm__copy_record(seg, x, &h);
	memcpy(dst, &stride, sizeof(stride));
	prdshm__abi_copy_out(dst, &h, sizeof(h));
}

int prdshm__shm_lock_query(prdshm_seg *seg, const char *resource, prdshm_mode mode,
		      prdshm_holder *out, size_t cap, size_t *n)
{
	size_t len, count = 0;
	uint32_t hash, p, si, i;
	struct prdshm__rec *recs;
	int r;

	prdshm__call_begin();
	if (seg == NULL || n == NULL || (cap > 0 && out == NULL))
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_lock_query: NULL argument");
	if (cap > 0) {
		r = prdshm__abi_check(out, PRDSHM_HOLDER_SIZE_1_0, "prdshm_holder",
				      "prdshm_lock_query");
		if (r)
			return r;
	}
	r = name_key(resource, &len, &hash);
	if (r)
		return r;
	p = part_of(seg, hash);
	r = part_lock(seg, p, -1);
	if (r)
		return r;
	recs = prdshm__part_recs(prdshm__locks(seg), p);
	si = slot_find(seg, p, resource, len, hash);
	i = si == PRDSHM__NIL ? PRDSHM__NIL : prdshm__part_slots(prdshm__locks(seg), p)[si].head;
	for (uint32_t k = 0; i < prdshm__locks(seg)->recs_per_part && k < prdshm__locks(seg)->recs_per_part; k++) {
		const struct prdshm__rec *x = &recs[i];

		i = x->next;
		if (prdshm__rec_state(x) == PRDSHM__REC_RELEASED)
			continue;
		/* A new request queues last: everything conflicting blocks it. */
		if (mode && !prdshm__modes_conflict(prdshm__rec_effective_mode(x), mode))
			continue;
		if (count < cap)
			holder_out(seg, x, out, count);
		count++;
	}
	part_unlock(seg, p);
	*n = count;
	return 0;
}
