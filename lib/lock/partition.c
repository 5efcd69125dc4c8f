/*
 * partition.c: the partitions of the lock table and their upkeep: the
 * partition mutex and its repair, the rebuild of a partition's derived
 * state from its records after a crash, the removal of records (released,
 * withdrawn, or left by dead sessions), and the release of everything a
 * session holds.  Nothing here waits for a lock: the files that do
 * (acquire.c, wait.c, deadlock.c) call down to it.
 */
#include <stdio.h>
#include <string.h>

#include "lock/locktable.h"
#include "lock/table.h"
#include "session/session.h"

/* ---- Partition mutex and repair ------------------------------------- */

/* Only the rebuild: the records of dead sessions are left for whoever
 * they block (waiters sweep them, FIRST_SWEEP_NS after they start waiting
 * and then every WAIT_CAP_NS: wait.c) or for prdshm_reap() and
 * prdshm_recover(), which report each one they release. */
int prdshm__part_repair(struct prdshm_seg *seg, void *arg)
{
	prdshm__part_rebuild(seg, (uint32_t)(uintptr_t)arg);
	return 0;
}

int prdshm__part_lock(struct prdshm_seg *seg, uint32_t p, int64_t timeout_ms)
{
	return part_lock(seg, p, timeout_ms);
}

void prdshm__part_unlock(struct prdshm_seg *seg, uint32_t p)
{
	part_unlock(seg, p);
}

/* ---- Removing records ----------------------------------------------- */

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

/* Remove record @p ri from slot @p si; free the slot if it is now empty.
 * @p notify is 0 for a record nobody else has seen (created in this same
 * critical section): removing it cannot let anyone in, and ringing would
 * wake every waiter for nothing.  @return 1 if waiters must be woken (after
 * unlocking). */
int prdshm__rec_remove(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri, int notify)
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
 * SHARED hold.  @p notify as for prdshm__rec_remove().  @return 1 if waiters must
 * be woken. */
int prdshm__withdraw(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri, int notify)
{
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), p)[si];
	struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), p)[ri];

	if (!(r->flags & PRDSHM__REC_UPGRADING))
		return prdshm__rec_remove(seg, p, si, ri, notify);
	count_add(sl, r, -1);
	__atomic_store_n(&r->flags, r->flags & ~(uint32_t)PRDSHM__REC_UPGRADING, __ATOMIC_RELAXED);
	count_add(sl, r, +1);
	return notify ? ring(sl) : 0;
}

void prdshm__part_withdraw(struct prdshm_seg *seg, uint32_t p, uint32_t ri)
{
	struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), p)[ri];
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), p)[r->slot];

	if (prdshm__withdraw(seg, p, r->slot, ri, 1))
		wake_after(sl); /* under the mutex: rare path */
}

/* Remove the records on slot @p si whose sessions are dead, other than
 * @p keep, and collect the RELEASED ones.  Frees the slot if it empties.
 * @return the number of dead sessions' records removed. */
uint32_t prdshm__slot_sweep_dead(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t keep)
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
		if (prdshm__rec_remove(seg, p, si, i, 1))
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
		k = prdshm__slot_sweep_dead(seg, p, si, PRDSHM__NIL);
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
