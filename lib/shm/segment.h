/*
 * segment.h: the layout of the shared segment and the process-local handle.
 *
 * The segment is position independent: it stores offsets and indexes, never
 * pointers.  Every index read from it is checked against the limits in the
 * header before use, because any process with write access may scribble on
 * the mapping.  See docs/design.md for the diagram.
 *
 *   +----------------------+  0
 *   | struct prdshm__hdr   |  magic, format, layout hash, limits, offsets,
 *   |                      |  config, sess_mutex
 *   +----------------------+  hdr->off_agents
 *   | agents[max_agents]   |  one per session slot        (sess_mutex)
 *   +----------------------+  hdr->off_parts
 *   | parts[nparts]        |  one robust mutex per lock partition
 *   +----------------------+  hdr->off_slots
 *   | slots[nparts * S]    |  resources, S per partition  (part mutex)
 *   +----------------------+  hdr->off_recs
 *   | recs[nparts * R]     |  holders and waiters         (part mutex)
 *   +----------------------+  hdr->off_buckets
 *   | buckets[nparts * B]  |  hash chain heads            (part mutex)
 *   +----------------------+  hdr->off_phases
 *   | phase region         |  lib/plan/phases.h       (phase mutex)
 *   +----------------------+  hdr->size
 */
#ifndef PRDSHM_INTERNAL_SEGMENT_H
#define PRDSHM_INTERNAL_SEGMENT_H

#include <pthread.h>
#include <stdint.h>

#include "prdshm.h"
#include "shm/layout.h"

#define PRDSHM__MAGIC UINT64_C(0x31304d4853445250) /* "PRDSHM01" little-endian */
#define PRDSHM__FORMAT 2u
#define PRDSHM__NIL UINT32_MAX

/* Byte offsets of the OFD locks taken on the segment's descriptor (bytes
 * past the end of the object: a lock needs no data under it). */
#define PRDSHM__INIT_BYTE 0            /* held (write) while initialising */
#define PRDSHM__SESSION_BYTE(slot) (1 + (off_t)(slot)) /* held by a live session */
/* Held (write) by prdshm_recover() from start to end, on an open file
 * description of its own, so that one recovery at a time re-creates
 * mutexes and rebuilds (lib/ops/recovery.c).  Above every session byte:
 * max_agents <= 65536, checked at open. */
#define PRDSHM__RECOVER_BYTE ((off_t)INT32_MAX)

/* A robust, process-shared mutex on its own cache line.  What its bytes
 * mean is the C library's business: the layout hash covers that with
 * PRDSHM__LIBC_TAG (layout.h). */
struct prdshm__mutex {
	pthread_mutex_t m;
	/* The rest of the line (a whole line if a mutex ever filled one). */
	char pad_[64 - sizeof(pthread_mutex_t) % 64];
} __attribute__((aligned(64)));
#define PRDSHM__MUTEX_FIELDS(F, S) F(S, m) F(S, pad_)
PRDSHM__LAYOUT_CHECK(prdshm__mutex, PRDSHM__MUTEX_FIELDS);

/* ---- Segment header -------------------------------------------------- */

struct prdshm__hdr {
	/* Written once at creation, read-only afterwards.  magic is stored
	 * last, with release order, so a reader that sees it sees the rest. */
	uint64_t magic;
	uint32_t format;
	uint32_t layout_hash;
	uint64_t size;
	uint64_t created_ns;
	char shm_name[PRDSHM_SHM_NAME_MAX + 1];

	/* Limits (immutable). */
	uint32_t max_locks, max_phases, max_agents;
	uint32_t nparts;           /* lock partitions, a power of two */
	uint32_t slots_per_part;   /* resource slots per partition */
	uint32_t recs_per_part;    /* holder/waiter records per partition */
	uint32_t buckets_per_part; /* hash buckets per partition, power of two */
	uint32_t phase_bytes;      /* size of the phase region */

	/* Offsets from the start of the segment (immutable). */
	uint64_t off_agents, off_parts, off_slots, off_recs, off_buckets, off_phases;

	/* Configuration stored at creation (immutable). */
	int32_t max_parallel_agents, lock_timeout_seconds, wave_delay_seconds,
		conflict_retry_attempts, monitoring_update_interval, phase_max_attempts,
		deadlock_timeout_ms, scheduling;

	/* The recovery mark: 0 when sound, else bumped (atomically, by
	 * prdshm__mark_recovery()) each time a repair fails, a mutex is found
	 * unrecoverable or a free list corrupt.  Every operation returns
	 * PRDSHM_ERECOVER while it is not 0.  prdshm_recover() reads it when
	 * it starts and clears it at the end only by a compare-and-swap from
	 * the value it read: a mark set meanwhile moved it, and stays.  Read
	 * it as a flag (!= 0) everywhere else. */
	uint32_t needs_recovery;
	uint32_t pad_;
	char pad1_[40]; /* up to the cache line of sess_mutex */

	/* Guards agents[] (state, gen, identity, log ring). */
	struct prdshm__mutex sess_mutex;
};
/* Every field, for the layout hash (see layout.h). */
#define PRDSHM__HDR_FIELDS(F, S)                                                        \
	F(S, magic) F(S, format) F(S, layout_hash) F(S, size) F(S, created_ns)           \
	F(S, shm_name) F(S, max_locks) F(S, max_phases) F(S, max_agents) F(S, nparts)    \
	F(S, slots_per_part) F(S, recs_per_part) F(S, buckets_per_part) F(S, phase_bytes) \
	F(S, off_agents) F(S, off_parts) F(S, off_slots) F(S, off_recs) F(S, off_buckets) \
	F(S, off_phases) F(S, max_parallel_agents) F(S, lock_timeout_seconds)            \
	F(S, wave_delay_seconds) F(S, conflict_retry_attempts)                           \
	F(S, monitoring_update_interval) F(S, phase_max_attempts) F(S, deadlock_timeout_ms) \
	F(S, scheduling) F(S, needs_recovery) F(S, pad_) F(S, pad1_) F(S, sess_mutex)
PRDSHM__LAYOUT_CHECK(prdshm__hdr, PRDSHM__HDR_FIELDS);

/* Mark the segment as needing recovery (see needs_recovery). */
static inline void prdshm__mark_recovery(struct prdshm__hdr *h)
{
	/* Never back to 0, the sound value, when the count wraps. */
	if (__atomic_add_fetch(&h->needs_recovery, 1, __ATOMIC_ACQ_REL) == 0)
		__atomic_add_fetch(&h->needs_recovery, 1, __ATOMIC_ACQ_REL);
}

/* ---- Agents (session slots) ----------------------------------------- */

enum { PRDSHM__SLOT_FREE = 0, PRDSHM__SLOT_ACTIVE = 1 };

struct prdshm__agent {
	/* Guarded by sess_mutex.  gen is also read without it (atomic load):
	 * a record naming (slot, gen) belongs to a live session only while gen
	 * matches and the slot's OFD lock is held. */
	uint32_t state;   /* PRDSHM__SLOT_FREE / ACTIVE */
	uint32_t gen;     /* bumped at each session open */
	uint32_t used;    /* 1 once a session has ever used the slot */
	uint32_t status;  /* prdshm_agent_status (DEAD set by reaping) */
	int32_t pid;      /* display only */
	uint32_t uid;     /* display only */
	int32_t phase;    /* phase index or -1; guarded by the phase mutex */
	uint32_t nlog;    /* log lines written, total; ring index = n % LINES */
	uint64_t start_ns;
	uint64_t heartbeat_ns; /* written with atomic stores by the owner */
	char id[PRDSHM_ID_MAX + 1];
	char log[PRDSHM_LOG_LINES][PRDSHM_MSG_MAX + 1];
};
#define PRDSHM__AGENT_FIELDS(F, S)                                                    \
	F(S, state) F(S, gen) F(S, used) F(S, status) F(S, pid) F(S, uid) F(S, phase) \
	F(S, nlog) F(S, start_ns) F(S, heartbeat_ns) F(S, id) F(S, log)
PRDSHM__LAYOUT_CHECK(prdshm__agent, PRDSHM__AGENT_FIELDS);

/* ---- Lock table ------------------------------------------------------ */

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
} __attribute__((aligned(64)));
#define PRDSHM__PART_FIELDS(F, S) \
	F(S, mutex) F(S, free_slot) F(S, free_rec) F(S, nslots) F(S, nrecs) F(S, seq) F(S, pad_)
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
};
#define PRDSHM__SLOT_FIELDS(F, S)                                                       \
	F(S, hash) F(S, name_len) F(S, chain) F(S, head) F(S, nshared) F(S, nexcl)      \
	F(S, nwaiting) F(S, doorbell) F(S, nsleepers) F(S, pad_) F(S, name)
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
	char phase[PRDSHM_ID_MAX + 1];
};
#define PRDSHM__REC_FIELDS(F, S)                                                          \
	F(S, state) F(S, mode) F(S, slot) F(S, sess) F(S, gen) F(S, next) F(S, flags) F(S, seq) \
	F(S, since_ns) F(S, expires_ns) F(S, phase)
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

/* ---- The process-local handle --------------------------------------- */

struct prdshm_seg {
	int fd;                  /* O_CLOEXEC; used for OFD liveness tests */
	unsigned char *base;
	size_t size;
	struct prdshm__hdr *hdr;
	struct prdshm__agent *agents;
	struct prdshm__part *parts;
	struct prdshm__slot *slots;
	struct prdshm__rec *recs;
	uint32_t *buckets;
	unsigned char *phases;   /* the phase region; see phases.h */
	/* Copies of the immutable limits, validated at open: the library
	 * indexes with these, never with values re-read from the segment. */
	uint32_t max_agents, nparts, slots_per_part, recs_per_part, buckets_per_part;
	char name[PRDSHM_SHM_NAME_MAX + 1];
};

/* Layout hash of this build: every shared field's offset and size, the
 * stored constants, the C library's mutexes and the platform (layout.h). */
uint32_t prdshm__layout_hash(void);

/* 1 if shm_name is "/name" with no other slash, 2..255 bytes. */
int prdshm__valid_shm_name(const char *name);

static inline struct prdshm__slot *prdshm__part_slots(struct prdshm_seg *seg, uint32_t p)
{
	return seg->slots + (size_t)p * seg->slots_per_part;
}

static inline struct prdshm__rec *prdshm__part_recs(struct prdshm_seg *seg, uint32_t p)
{
	return seg->recs + (size_t)p * seg->recs_per_part;
}

static inline uint32_t *prdshm__part_buckets(struct prdshm_seg *seg, uint32_t p)
{
	return seg->buckets + (size_t)p * seg->buckets_per_part;
}

#endif
