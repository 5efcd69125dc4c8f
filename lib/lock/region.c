/*
 * region.c: the lock table region's registration with the segment: its
 * geometry, its share of the layout hash, binding the lock layer's view,
 * and its initialisation (empty partitions, every slot and record free).
 */
#include <stdio.h>

#include "base/util.h"
#include "lock/region.h"
#include "shm/robust.h"

/* max_locks above this is refused at open as a scribbled header. */
#define MAX_LOCKS_LIMIT 100000000u

struct geometry {
	uint32_t nparts, slots_per_part, recs_per_part, buckets_per_part;
	uint64_t off_slots, off_recs, off_buckets, bytes;
};

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t p = 1;

	while (p < n && p < (1u << 31))
		p <<= 1;
	return p;
}

/*
 * Small tables are one partition, so that max_locks is exact.  Larger ones
 * are split into 16 partitions with their own mutexes (as PostgreSQL splits
 * its lock manager) so that distinct resources do not serialise on one
 * mutex; each partition gets 1/8 slack so that uneven hashing rarely fills
 * one partition before the table holds max_locks resources.
 */
static void geometry(uint32_t max_locks, uint32_t max_agents, struct geometry *G)
{
	G->nparts = max_locks >= 256 ? 16 : 1;
	if (G->nparts == 1)
		G->slots_per_part = max_locks;
	else
		G->slots_per_part = (uint32_t)(((uint64_t)max_locks * 9 / 8 + 15) / 16);
	G->recs_per_part = G->slots_per_part * 2 + max_agents;
	G->buckets_per_part = pow2_at_least((uint64_t)G->slots_per_part * 2);

	G->off_slots = PRDSHM__ALIGN64((uint64_t)G->nparts * sizeof(struct prdshm__part));
	G->off_recs = PRDSHM__ALIGN64(G->off_slots + (uint64_t)G->nparts * G->slots_per_part *
						     sizeof(struct prdshm__slot));
	G->off_buckets = PRDSHM__ALIGN64(G->off_recs + (uint64_t)G->nparts * G->recs_per_part *
						       sizeof(struct prdshm__rec));
	G->bytes = PRDSHM__ALIGN64(G->off_buckets +
				   (uint64_t)G->nparts * G->buckets_per_part * sizeof(uint32_t));
}

static uint64_t locks_bytes(const prdshm_config *cfg)
{
	struct geometry G;

	geometry((uint32_t)cfg->max_locks, (uint32_t)cfg->max_agents, &G);
	return G.bytes;
}

/* The constants stored in the region or sizing its arrays. */
#define LOCKS_CONSTANTS(C)                                                                \
	C(PRDSHM_NAME_MAX) C(PRDSHM_ID_MAX) C(PRDSHM__NIL) C(PRDSHM_SHARED)                \
	C(PRDSHM_EXCLUSIVE) C(PRDSHM__REC_FREE) C(PRDSHM__REC_HELD) C(PRDSHM__REC_WAITING) \
	C(PRDSHM__REC_RELEASED) C(PRDSHM__REC_STATE_MASK) C(PRDSHM__REC_USE)               \
	C(PRDSHM__REC_UPGRADING)                                                            \
	C(PRDSHM__HASH_VERSION) /* the slots store name hashes */ \
	C(PRDSHM__WAIT_BUCKETS)

static uint32_t locks_layout_hash(void)
{
	const uint64_t facts[] = {
		PRDSHM__STRUCT_FACTS(prdshm__part, PRDSHM__PART_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__slot, PRDSHM__SLOT_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__rec, PRDSHM__REC_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__lock_stats, PRDSHM__LOCK_STATS_FIELDS)
		sizeof(uint32_t), /* a bucket */
		LOCKS_CONSTANTS(PRDSHM__CONST_FACTS)
	};
	return prdshm__hash(facts, sizeof(facts));
}

static int locks_bind(struct prdshm_seg *seg, unsigned char *base, uint64_t bytes)
{
	struct prdshm__locks *lt = prdshm__locks(seg);
	const struct prdshm__hdr *h = seg->hdr;
	struct geometry G;

	if (h->max_locks == 0 || h->max_locks > MAX_LOCKS_LIMIT)
		return prdshm__fail(PRDSHM_ECORRUPT, "%s: max_locks %u out of range", seg->name,
				    h->max_locks);
	geometry(h->max_locks, h->max_agents, &G);
	if (bytes != G.bytes)
		return prdshm__fail(PRDSHM_ECORRUPT,
				    "%s: lock table region of %llu bytes, its limits need %llu",
				    seg->name, (unsigned long long)bytes, (unsigned long long)G.bytes);
	lt->parts = (struct prdshm__part *)(void *)base;
	lt->slots = (struct prdshm__slot *)(void *)(base + G.off_slots);
	lt->recs = (struct prdshm__rec *)(void *)(base + G.off_recs);
	lt->buckets = (uint32_t *)(void *)(base + G.off_buckets);
	lt->nparts = G.nparts;
	lt->slots_per_part = G.slots_per_part;
	lt->recs_per_part = G.recs_per_part;
	lt->buckets_per_part = G.buckets_per_part;
	return 0;
}

void prdshm__part_reset_lists(struct prdshm__locks *lt, uint32_t p)
{
	struct prdshm__part *part = &lt->parts[p];
	struct prdshm__slot *slots = prdshm__part_slots(lt, p);
	struct prdshm__rec *recs = prdshm__part_recs(lt, p);
	uint32_t *buckets = prdshm__part_buckets(lt, p);

	for (uint32_t b = 0; b < lt->buckets_per_part; b++)
		buckets[b] = PRDSHM__NIL;
	part->free_slot = PRDSHM__NIL;
	for (uint32_t i = lt->slots_per_part; i-- > 0;) {
		slots[i].chain = part->free_slot;
		slots[i].head = PRDSHM__NIL;
		part->free_slot = i;
	}
	part->free_rec = PRDSHM__NIL;
	for (uint32_t i = lt->recs_per_part; i-- > 0;) {
		recs[i].next = part->free_rec;
		part->free_rec = i;
	}
	part->nslots = 0;
	part->nrecs = 0;
}

static int locks_init(struct prdshm_seg *seg, const prdshm_config *cfg)
{
	struct prdshm__locks *lt = prdshm__locks(seg);
	int r = 0;

	for (uint32_t p = 0; r == 0 && p < lt->nparts; p++) {
		r = prdshm__mutex_init(&lt->parts[p].mutex);
		prdshm__part_reset_lists(lt, p);
	}
	return r;
}

static int locks_mutex_name(const struct prdshm_seg *seg, const struct prdshm__mutex *m,
			    char *buf, size_t size)
{
	const struct prdshm__locks *lt = prdshm__locks(seg);
	uintptr_t a = (uintptr_t)m, parts = (uintptr_t)lt->parts;

	if (a < parts || a >= parts + (uintptr_t)lt->nparts * sizeof(*lt->parts))
		return 0;
	snprintf(buf, size, "lock partition %u mutex",
		 (unsigned)((a - parts) / sizeof(*lt->parts)));
	return 1;
}

const struct prdshm__region_type prdshm__locks_region = {
	.name = "lock table",
	.bytes = locks_bytes,
	.layout_hash = locks_layout_hash,
	.bind = locks_bind,
	.init = locks_init,
	.validate = NULL,
	.mutex_name = locks_mutex_name,
};
