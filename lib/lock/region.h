/*
 * region.h: the lock table's region of the segment (lib/lock/region.c):
 * its shared structs, and the lock layer's view of it.
 *
 *   +----------------------+  0
 *   | parts[nparts]        |  one robust mutex per lock partition
 *   +----------------------+
 *   | slots[nparts * S]    |  resources, S per partition  (part mutex)
 *   +----------------------+
 *   | recs[nparts * R]     |  holders and waiters         (part mutex)
 *   +----------------------+
 *   | buckets[nparts * B]  |  hash chain heads            (part mutex)
 *   +----------------------+
 *
 * The geometry (nparts, S, R, B and the offsets, each on a cache line)
 * follows from max_locks and max_agents alone, so an opener recomputes it
 * rather than trusting numbers stored in the segment.
 */
#ifndef PRDSHM_INTERNAL_LOCK_REGION_H
#define PRDSHM_INTERNAL_LOCK_REGION_H

#include <stdint.h>

#include "shm/segment.h"

/* Its index in the shm backend's region list (lib/ops/regions.c). */
#define PRDSHM__REGION_LOCKS 1

/*
 * Lock metrics (lib/lock/metrics.h): what the grants and the failures of
 * the requests on a resource, or a partition, came to.  Statistics, not
 * state: no decision reads them, a repair keeps them as they are (or
 * drops them with the slot it frees), and any value is valid.  Who guards
 * them depends on where they are: see prdshm__slot.stats and
 * prdshm__part.retired.
 */
#define PRDSHM__WAIT_BUCKETS 8 /* PRDSHM_WAIT_BUCKETS of prdshm.h */
struct prdshm__lock_stats {
	uint64_t acquired;    /* grants, except take-backs (prdshm__rec.takes) */
	uint64_t timeouts;    /* requests given up at their deadline */
	uint64_t deadlocks;   /* requests refused with PRDSHM_EDEADLK */
	uint64_t wait_ns;     /* total wait of the grants that waited */
	uint64_t wait_max_ns; /* the longest of those waits */
	/* Grants that waited, by wait: at most 1 us, 10 us ... 1 s, longer
	 * (not cumulative; their sum is the count of contended grants). */
	uint64_t waits[PRDSHM__WAIT_BUCKETS];
};
#define PRDSHM__LOCK_STATS_FIELDS(F, S)                                                  \
	F(S, acquired) F(S, timeouts) F(S, deadlocks) F(S, wait_ns) F(S, wait_max_ns)    \
	F(S, waits)
PRDSHM__LAYOUT_CHECK(prdshm__lock_stats, PRDSHM__LOCK_STATS_FIELDS);

/* One partition of the lock table: its mutex guards its slots, records and
 * buckets.  Free lists and counters are derived state, rebuilt on repair. */
struct prdshm__part {
	struct prdshm__mutex mutex;
	uint32_t free_slot;   /* head of the free-slot list (derived) */
	uint32_t free_rec;    /* head of the free-record list (derived) */
	uint32_t nslots;      /* slots in use (derived) */
	uint32_t nrecs;       /* records in use (derived) */
	uint64_t seq;         /* next arrival number: FIFO order of records */
	char pad_[40];        /* to the end of the cache line */
	/* The metrics of the resources that left the partition (their slots
	 * were freed), and the timeouts of requests that could not have the
	 * mutex back to withdraw.  Changed only by atomic adds (relaxed;
	 * wait_max_ns by a compare-and-swap), with or without the mutex;
	 * read with atomic loads.  On lines of their own: the mutex's line
	 * is the hot one. */
	struct prdshm__lock_stats retired;
	char pad2_[24];       /* to the end of the cache line */
} __attribute__((aligned(64)));
#define PRDSHM__PART_FIELDS(F, S)                                                          \
	F(S, mutex) F(S, free_slot) F(S, free_rec) F(S, nslots) F(S, nrecs) F(S, seq) F(S, pad_) \
	F(S, retired) F(S, pad2_)
PRDSHM__LAYOUT_CHECK(prdshm__part, PRDSHM__PART_FIELDS);

/* A named resource.  Authoritative: name_len (0 = free), name, hash.
 * Everything else is derived from the records and rebuilt on repair. */
struct prdshm__slot {
	uint32_t hash;
	uint32_t name_len;
	uint32_t chain;     /* next slot in the bucket chain or free list */
	uint32_t head;      /* first record, in arrival order */
	/* Records counted by state as the mutex holder last saw them: a
	 * RELEASED record counts as held until it is collected. */
#ifndef PRDSHM_TEST_LAYOUT_SWAP
	uint32_t nshared;   /* SHARED holds */
	uint32_t nexcl;     /* EXCLUSIVE holds */
#else
	/* A test build (tests/cli/layout.sh): the same fields in the other
	 * order, which the layout hash must tell from the real build. */
	uint32_t nexcl;
	uint32_t nshared;
#endif
	/* Waiting records (incl. upgrades).  Changed atomically under the
	 * mutex, read without it by a holder releasing without the mutex: it
	 * rings the doorbell when this is not 0. */
	uint32_t nwaiting;
	/* Futex word: bumped (under the mutex) whenever a waiter may have
	 * become grantable; waiters sleep on it without the mutex. */
	uint32_t doorbell;
	/* Waiters inside FUTEX_WAIT (atomic).  A waker skips the wake system
	 * call when it is 0.  Too high after a crash only costs a system call;
	 * too low costs at most one capped sleep. */
	uint32_t nsleepers;
	uint32_t pad_;
	char name[PRDSHM_NAME_MAX + 1];
	/* The resource's metrics since its slot was allocated, take-backs
	 * aside (its records' takes).  Guarded by the partition mutex (plain
	 * stores; read without it only by a snapshot that could not have
	 * it).  Moved into the partition's retired when the slot is freed;
	 * zeroed when it is allocated. */
	struct prdshm__lock_stats stats;
};
#define PRDSHM__SLOT_FIELDS(F, S)                                                       \
	F(S, hash) F(S, name_len) F(S, chain) F(S, head) F(S, nshared) F(S, nexcl)      \
	F(S, nwaiting) F(S, doorbell) F(S, nsleepers) F(S, pad_) F(S, name) F(S, stats)
PRDSHM__LAYOUT_CHECK(prdshm__slot, PRDSHM__SLOT_FIELDS);

/* Record states: the low two bits of prdshm__rec.state. */
enum {
	PRDSHM__REC_FREE = 0,     /* on the free list */
	PRDSHM__REC_HELD = 1,     /* granted */
	PRDSHM__REC_WAITING = 2,  /* queued */
	PRDSHM__REC_RELEASED = 3, /* let go by its holder without the mutex; still
				   * on its slot's list until the next mutex
				   * holder collects it (see lib/lock/acquire.c) */
};
#define PRDSHM__REC_STATE_MASK UINT64_C(3)
/* The rest of the state word counts the record's allocations, so that a
 * compare-and-swap of the whole word fails if the record was freed and
 * reused in between (no ABA). */
#define PRDSHM__REC_USE UINT64_C(4)
#define PRDSHM__REC_UPGRADING 0x1 /* a HELD SHARED record waiting to become EXCLUSIVE */

/* A holder or waiter.  Authoritative: state, mode, slot, sess, gen, seq,
 * flags; next is derived (slot list or free list).  Guarded by the
 * partition mutex, with two exceptions, both compare-and-swaps of state by
 * the holder itself without the mutex: HELD -> RELEASED (a release) and
 * RELEASED -> HELD of the same allocation (a re-lock taking the release
 * back; then it also stores since_ns).  So state is only accessed
 * atomically, the mutex holder takes a RELEASED record only by a
 * compare-and-swap, and mode, slot, sess, gen, flags and since_ns, which
 * such a holder reads or writes, are written atomically. */
struct prdshm__rec {
	uint64_t state;
	uint32_t mode;
	uint32_t slot;   /* slot index within the partition */
	uint32_t sess;   /* session slot */
	uint32_t gen;    /* session generation */
	uint32_t next;
	uint32_t flags;
	uint64_t seq;
	uint64_t since_ns;
	/* A waiting request (or upgrade) with a timeout: the CLOCK_MONOTONIC
	 * time after which the next mutex holder on its slot withdraws it, in
	 * case its owner gave up without the mutex (see expired() in
	 * lib/lock/table.h); 0 for a request without a timeout. */
	uint64_t expires_ns;
	/* Take-backs of this record by its holder (lock_reclaim): the grants
	 * that took no mutex.  Written by the holder alone, right after its
	 * swap to HELD, with an atomic load and store (no lock prefix on the
	 * fast path); read and reset under the partition mutex, which adds it
	 * to the slot's stats.acquired when the record is freed or reused.
	 * On the first cache line, which the take-back writes anyway. */
	uint64_t takes;
	char phase[PRDSHM_ID_MAX + 1];
	/* A waiting request: the CLOCK_MONOTONIC time its wait began, for the
	 * metrics of a releaser that grants it (prdshm__handoff()).  Written
	 * by the waiter, read by the releaser, both under the partition
	 * mutex. */
	uint64_t wait_ns;
};
#define PRDSHM__REC_FIELDS(F, S)                                                          \
	F(S, state) F(S, mode) F(S, slot) F(S, sess) F(S, gen) F(S, next) F(S, flags) F(S, seq) \
	F(S, since_ns) F(S, expires_ns) F(S, takes) F(S, phase) F(S, wait_ns)
PRDSHM__LAYOUT_CHECK(prdshm__rec, PRDSHM__REC_FIELDS);

/* The state of record @p r (PRDSHM__REC_*). */
static inline uint32_t prdshm__rec_state(const struct prdshm__rec *r)
{
	return (uint32_t)(__atomic_load_n(&r->state, __ATOMIC_SEQ_CST) & PRDSHM__REC_STATE_MASK);
}

/* Set the state of record @p r, keeping its use count.  Call holding the
 * partition mutex.  Not a compare-and-swap: use it on a record no holder
 * swaps meanwhile (WAITING, FREE, just allocated or taken), or where a
 * race with the session's own thread reads as an order of its calls (a
 * sibling's unlock, or unlock and re-lock, against rec_remove() of the
 * same hold: the hold ends, as if that call came last).  A RELEASED record
 * is taken with rec_take_released() (lib/lock/table.h). */
static inline void prdshm__rec_set_state(struct prdshm__rec *r, uint32_t st)
{
	uint64_t w = __atomic_load_n(&r->state, __ATOMIC_RELAXED);

	__atomic_store_n(&r->state, (w & ~PRDSHM__REC_STATE_MASK) | st, __ATOMIC_SEQ_CST);
}


/* The lock layer's view (prdshm__seg_view()), bound at open: validated
 * copies of the geometry, never re-read from the segment. */
struct prdshm__locks {
	struct prdshm__part *parts;
	struct prdshm__slot *slots;
	struct prdshm__rec *recs;
	uint32_t *buckets;
	uint32_t nparts, slots_per_part, recs_per_part, buckets_per_part;
};
_Static_assert(sizeof(struct prdshm__locks) <= PRDSHM__VIEW_BYTES, "view too large");

static inline struct prdshm__locks *prdshm__locks(const struct prdshm_seg *seg)
{
	return (struct prdshm__locks *)prdshm__seg_view(seg, PRDSHM__REGION_LOCKS);
}

static inline struct prdshm__slot *prdshm__part_slots(const struct prdshm__locks *lt, uint32_t p)
{
	return lt->slots + (size_t)p * lt->slots_per_part;
}

static inline struct prdshm__rec *prdshm__part_recs(const struct prdshm__locks *lt, uint32_t p)
{
	return lt->recs + (size_t)p * lt->recs_per_part;
}

static inline uint32_t *prdshm__part_buckets(const struct prdshm__locks *lt, uint32_t p)
{
	return lt->buckets + (size_t)p * lt->buckets_per_part;
}

/* Empty partition @p p's hash chains and rebuild its free lists with every
 * slot and record free.  Call holding its mutex (or at creation). */
void prdshm__part_reset_lists(struct prdshm__locks *lt, uint32_t p);

extern const struct prdshm__region_type prdshm__locks_region;
#endif
