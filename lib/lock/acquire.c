/*
 * acquire.c: taking and releasing a lock, prdshm__shm_lock() and prdshm__shm_unlock(),
 * with their fast path: the thread's latest grant taken back or released
 * without the partition mutex.  A request that cannot have its lock at
 * once is queued here and waits in wait.c; a release under the mutex goes
 * through partition.c.  The table's layout and FIFO rule: table.h.
 *
 * Releasing without the mutex.  prdshm__shm_unlock() finds its record through
 * the thread's memory of its latest grant, or else a hint kept in the
 * session handle, and turns it from HELD to RELEASED with one
 * compare-and-swap of the record's state word (whose use count makes a
 * reused record fail the swap).  The record stays on its slot's list as
 * garbage until the next holder of the partition mutex to touch the slot
 * collects it (slot_collect), or a sweep does; until then a grant decision
 * counts it as held (below).  The release then needs to hand over to the
 * waiters, who sleep without the mutex.  Dekker's pattern, all
 * sequentially consistent, closes the race:
 *     releaser: swap state to RELEASED;   read slot->nwaiting, hand over
 *                                         (ring) if != 0
 *     waiter:   increment slot->nwaiting; read the doorbell; read states
 * Either the waiter sees RELEASED, or the releaser sees the waiter counted
 * and rings after the waiter read the doorbell, so its sleep ends at once.
 * The hand-off (wait.c, prdshm__handoff()) grants the head of the queue
 * itself when the partition mutex is free, and wakes only it.  A crash
 * between the swap and the ring costs a waiter one capped sleep.
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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "lock/locktable.h"
#include "lock/request.h"
#include "lock/table.h"
#include "session/session.h"

/* ---- Creating slots and records --------------------------------------- */

/* A free list handed out an entry in use: someone scribbled on the segment.
 * Using it would overwrite a live lock, so stop and ask for recovery. */
static uint32_t corrupt_free_list(struct prdshm_seg *seg, uint32_t p)
{
	prdshm__mark_recovery(seg->hdr);
	prdshm__fail(PRDSHM_ERECOVER, "partition %u: free list corrupt: run prdshm-cleanup", p);
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
	/* A new resource: its metrics start from nothing (a repair may have
	 * freed the slot without retiring them). */
	memset(&sl->stats, 0, sizeof(sl->stats));
	/* Atomic: a releaser may still read it on the slot's previous use. */
	__atomic_store_n(&sl->nwaiting, 0, __ATOMIC_RELAXED);
	PRDSHM__CRASH_POINT("slot_alloc");
	sl->name_len = (uint32_t)len; /* authoritative: the slot is in use */
	sl->chain = *bucket;
	*bucket = i;
	part->nslots++;
	return i;
}

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
	__atomic_store_n(&r->expires_ns, expiry(q), __ATOMIC_RELAXED);
	__atomic_store_n(&r->takes, 0, __ATOMIC_RELAXED);
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
	prdshm__rec_takes_fold(sl, r);
	sl->stats.acquired++;
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
		   (q->mode == PRDSHM_SHARED && sl->nexcl == 0 && sl->nwaiting == 0) ||
		   (q->s->parent_gen != 0 && prdshm__nested_covered(seg, q->p, q->si, q->s->parent,
								     q->s->parent_gen, q->mode));
	rec_fill(r, q, part->seq++);
	list_append(seg, q->p, q->si, q->ri);
	PRDSHM__CRASH_POINT("lock_link");
	prdshm__rec_set_state(r, *granted ? PRDSHM__REC_HELD : PRDSHM__REC_WAITING);
	count_add(sl, r, +1);
	sl->stats.acquired += (uint64_t)*granted;
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
	uint32_t p, si;     /* the slot's partition and index */
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
	g->p = q->p;
	g->si = q->si;
	g->len = (uint32_t)q->len;
	g->use = __atomic_load_n(&r->state, __ATOMIC_RELAXED) & ~PRDSHM__REC_STATE_MASK;
	g->nophase = r->phase[0] == '\0';
	memcpy(g->name, q->name, q->len);
}

/* Remember the request's record, granted by prdshm__wait_grant(), and
 * leave the partition.  @p woke: sweeping freed records others may wait
 * behind. */
static int granted_exit(struct prdshm_seg *seg, struct request *q, int woke)
{
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), q->p)[q->si];

	remember(q);
	part_unlock(seg, q->p);
	if (woke)
		wake_after(sl);
	return 0;
}

/* The same for a record that a releaser granted us (prdshm__handoff()),
 * without the mutex: the record is HELD in the allocation we queued, so
 * the use count to remember is the request's (another thread of the
 * session may release the record meanwhile; a stale memory then only
 * fails its swap). */
static int handed_exit(struct request *q)
{
	remember(q);
	last_grant.use = q->use;
	return 0;
}

int prdshm__lock_wait(struct prdshm_seg *seg, struct request *q)
{
	int woke = 0;
	int r = prdshm__wait_grant(seg, q, &woke);

	if (r == 2)
		return handed_exit(q);
	return r == 0 ? granted_exit(seg, q, woke) : r;
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
	r = prdshm__lock_wait(seg, q);
	if (r == 1)
		goto again;
	return r;
}

/* After a release without the mutex: if waiters are counted, hand the
 * resource over (file comment: the releaser's half of Dekker's pattern;
 * prdshm__handoff() rings the doorbell).  Inline: every prdshm__shm_unlock()
 * without the mutex calls it, and finds nobody waiting. */
static inline void ring_released(struct prdshm_seg *seg, uint32_t p, uint32_t si,
				 struct prdshm__slot *sl)
{
	if (__atomic_load_n(&sl->nwaiting, __ATOMIC_SEQ_CST) != 0)
		prdshm__handoff(seg, p, si);
}

/* The same for the thread's latest grant @p g.  The slot's place is read
 * only once waiters are seen: the uncontended pair does not load it. */
static __attribute__((noinline)) void handoff_last(struct prdshm_seg *seg,
						   const struct last_grant *g)
{
	prdshm__handoff(seg, g->p, g->si);
}

static inline void ring_last(struct prdshm_seg *seg, const struct last_grant *g)
{
	if (__atomic_load_n(&g->slot->nwaiting, __ATOMIC_SEQ_CST) != 0)
		handoff_last(seg, g);
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
		/* Counted in the record (lib/lock/metrics.h): only its holder
		 * writes it now, so no locked add. */
		__atomic_store_n(&r->takes, __atomic_load_n(&r->takes, __ATOMIC_RELAXED) + 1,
				 __ATOMIC_RELAXED);
		return 1;
	}
	w = g->use | PRDSHM__REC_HELD;
	if (__atomic_compare_exchange_n(&r->state, &w, g->use | PRDSHM__REC_RELEASED, 0,
					__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		ring_last(seg, g);
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

/* ---- Release -------------------------------------------------------- */

int prdshm__find_own(struct request *q, int64_t wait_ms)
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
	ring_last(seg, g);
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
	ring_released(seg, p, si, sl);
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
	r = prdshm__find_own(&q, -1);
	if (r)
		return r;
	sl = &prdshm__part_slots(prdshm__locks(seg), q.p)[q.si];
	woke = prdshm__rec_remove(seg, q.p, q.si, q.ri, 1);
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
