/*
 * segment.h: the shared segment as a container of regions, and the
 * process-local handle (lib/shm/segment.c).
 *
 * The segment layer maps the object, checks its header (magic, format,
 * layout hash, geometry) and hands each region to the layer that owns it.
 * It never names what a region holds: the layers above describe their
 * regions with a struct prdshm__region_type (size, layout hash, bind,
 * init, validate), and the shm backend passes the list of them
 * (lib/ops/regions.c) to create and open.  See docs/design.md.
 *
 * The segment is position independent: it stores offsets and indexes, never
 * pointers.  Every index read from it is checked against the limits in the
 * header before use, because any process with write access may scribble on
 * the mapping.
 *
 *   +----------------------+  0
 *   | struct prdshm__hdr   |  magic, format, layout hash, limits,
 *   |                      |  configuration, region table
 *   +----------------------+  hdr->regions[0].off
 *   | region 0             |  agents: lib/session/region.h (its own mutex)
 *   +----------------------+  hdr->regions[1].off
 *   | region 1             |  lock table: lib/lock/region.h (partition mutexes)
 *   +----------------------+  hdr->regions[2].off
 *   | region 2             |  phases: lib/plan/phases.h  (phase mutex)
 *   +----------------------+  hdr->size
 */
#ifndef PRDSHM_INTERNAL_SEGMENT_H
#define PRDSHM_INTERNAL_SEGMENT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/handle.h"
#include "prdshm.h"
#include "shm/layout.h"

#define PRDSHM__MAGIC UINT64_C(0x31304d4853445250) /* "PRDSHM01" little-endian */
#define PRDSHM__FORMAT 3u
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

/* The most regions a segment holds, and the bytes of process-local view
 * each region's layer keeps in the handle (prdshm__seg_view()). */
#define PRDSHM__REGIONS_MAX 4
#define PRDSHM__VIEW_BYTES 128

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

/* Where one region is, from the start of the segment (immutable). */
struct prdshm__region_ref {
	uint64_t off;
	uint64_t bytes;
};
#define PRDSHM__REGION_REF_FIELDS(F, S) F(S, off) F(S, bytes)
PRDSHM__LAYOUT_CHECK(prdshm__region_ref, PRDSHM__REGION_REF_FIELDS);

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

	/* Limits (immutable): the regions size themselves from these. */
	uint32_t max_locks, max_phases, max_agents;
	uint32_t nregions;

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

	/* The regions, in the order of the shm backend's list (immutable). */
	struct prdshm__region_ref regions[PRDSHM__REGIONS_MAX];
};
/* Every field, for the layout hash (see layout.h). */
#define PRDSHM__HDR_FIELDS(F, S)                                                        \
	F(S, magic) F(S, format) F(S, layout_hash) F(S, size) F(S, created_ns)           \
	F(S, shm_name) F(S, max_locks) F(S, max_phases) F(S, max_agents) F(S, nregions)  \
	F(S, max_parallel_agents) F(S, lock_timeout_seconds) F(S, wave_delay_seconds)    \
	F(S, conflict_retry_attempts) F(S, monitoring_update_interval)                   \
	F(S, phase_max_attempts) F(S, deadlock_timeout_ms) F(S, scheduling)              \
	F(S, needs_recovery) F(S, pad_) F(S, regions)
PRDSHM__LAYOUT_CHECK(prdshm__hdr, PRDSHM__HDR_FIELDS);

/* Mark the segment as needing recovery (see needs_recovery). */
static inline void prdshm__mark_recovery(struct prdshm__hdr *h)
{
	/* Never back to 0, the sound value, when the count wraps. */
	if (__atomic_add_fetch(&h->needs_recovery, 1, __ATOMIC_ACQ_REL) == 0)
		__atomic_add_fetch(&h->needs_recovery, 1, __ATOMIC_ACQ_REL);
}

/* ---- Regions ---------------------------------------------------------- */

struct prdshm_seg;

/*
 * What the segment knows of a region: supplied by the layer that owns it.
 * Creation sizes every region (bytes), maps the segment, then binds and
 * initialises each in list order; opening binds and validates each.
 */
struct prdshm__region_type {
	const char *name; /* for messages: "agents", "lock table", ... */
	/* Bytes the region needs for @p cfg, or 0 if it cannot be had. */
	uint64_t (*bytes)(const prdshm_config *cfg);
	/* Hash of the region's shared structs and stored constants. */
	uint32_t (*layout_hash)(void);
	/* Check that @p bytes at @p base are the region's size for the
	 * limits in seg->hdr, and fill the layer's view (prdshm__seg_view()).
	 * Reads only the header's limits.  @return 0 or PRDSHM_ECORRUPT. */
	int (*bind)(struct prdshm_seg *seg, unsigned char *base, uint64_t bytes);
	/* Fill the freshly zeroed region (creator, under the init lock). */
	int (*init)(struct prdshm_seg *seg, const prdshm_config *cfg);
	/* Check an existing region's own contents at open (may be NULL). */
	int (*validate)(struct prdshm_seg *seg);
	/* Name the mutex at @p m if it lives in the region, for messages:
	 * @return 1 and @p buf filled, else 0 (may be NULL). */
	int (*mutex_name)(const struct prdshm_seg *seg, const struct prdshm__mutex *m, char *buf,
			  size_t size);
};

/* The regions of one backend's segments, in segment order. */
struct prdshm__regions {
	const struct prdshm__region_type *const *type;
	uint32_t n;
};

/* ---- The process-local handle --------------------------------------- */

struct prdshm_seg {
	struct prdshm__handle h; /* first: the backend that opened it */
	int fd;                  /* O_CLOEXEC; used for OFD liveness tests */
	unsigned char *base;
	size_t size;
	struct prdshm__hdr *hdr;
	const struct prdshm__regions *regions;
	char name[PRDSHM_SHM_NAME_MAX + 1];
	/* Followed, in the same allocation, by PRDSHM__REGIONS_MAX views of
	 * PRDSHM__VIEW_BYTES each (prdshm__seg_view()): each layer's validated
	 * copy of its geometry and pointers into its region.  The library
	 * indexes with these, never with values re-read from the segment. */
} __attribute__((aligned(16)));

/* The process-local view of region @p i, PRDSHM__VIEW_BYTES bytes aligned
 * to 16.  A constant offset from the handle: no load on the fast path. */
static inline void *prdshm__seg_view(const struct prdshm_seg *seg, uint32_t i)
{
	return (unsigned char *)(uintptr_t)(seg + 1) + (size_t)i * PRDSHM__VIEW_BYTES;
}

/* Create the segment cfg->shm_name with @p regions: exclusive (O_EXCL),
 * reserved in /dev/shm, initialised under the init lock, magic last.
 * @return 0, PRDSHM_EEXIST, PRDSHM_ENOSPC, PRDSHM_EPERM, PRDSHM_ECONFIG... */
int prdshm__seg_create(const prdshm_config *cfg, const struct prdshm__regions *regions,
		       prdshm_seg **out);

/* Open @p shm_name, trusted as @p cfg says (NULL: owner alone), and bind
 * and validate its @p regions. */
int prdshm__seg_open(const char *shm_name, const prdshm_config *cfg,
		     const struct prdshm__regions *regions, prdshm_seg **out);

/* Unmap and close; NULL is ignored. */
void prdshm__seg_close(struct prdshm_seg *seg);

/* Layout hash of this build for @p regions: the header's fields, the
 * stored constants, each region's share and the platform (layout.h). */
uint32_t prdshm__layout_hash(const struct prdshm__regions *regions);

/* Name the segment mutex @p m (asks each region), for messages. */
void prdshm__seg_mutex_name(const struct prdshm_seg *seg, const struct prdshm__mutex *m,
			    char *buf, size_t size);

/* 1 if shm_name is "/name" with no other slash, 2..255 bytes. */
int prdshm__valid_shm_name(const char *name);
/* The same, failing with PRDSHM_ENAME and a message. */
int prdshm__check_shm_name(const char *name);

/* Round up to a cache line: regions and arrays start on one. */
#define PRDSHM__ALIGN64(x) (((x) + 63) & ~(uint64_t)63)
#endif
