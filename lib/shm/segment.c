/*
 * segment.c: creating, opening, validating and closing the shared segment.
 *
 * Creation is exclusive (O_EXCL) and the creator initialises the segment
 * while holding an OFD write lock on byte 0 of its descriptor; an opener
 * takes a read lock on the same byte, so it waits for initialisation to end
 * and never sees a half-built table.  The magic number is written last.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/abi.h"
#include "lock/locktable.h"
#include "plan/phases.h"
#include "base/robust.h"
#include "shm/segment.h"
#include "shm/trust.h"
#include "base/util.h"

#define INIT_WAIT_MS 5000 /* the longest an opener waits for a creator */
#define ALIGN64(x) (((x) + 63) & ~(uint64_t)63)

/* The lock table's geometry, computed from the limits alone so that an
 * opener can recompute it and compare with what the header says. */
struct layout {
	uint32_t nparts, slots_per_part, recs_per_part, buckets_per_part;
	uint64_t off_agents, off_parts, off_slots, off_recs, off_buckets, off_phases, size;
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
static void compute_layout(uint32_t max_locks, uint32_t max_agents, uint64_t phase_bytes,
			   struct layout *L)
{
	uint64_t off;

	L->nparts = max_locks >= 256 ? 16 : 1;
	if (L->nparts == 1)
		L->slots_per_part = max_locks;
	else
		L->slots_per_part = (uint32_t)(((uint64_t)max_locks * 9 / 8 + 15) / 16);
	L->recs_per_part = L->slots_per_part * 2 + max_agents;
	L->buckets_per_part = pow2_at_least((uint64_t)L->slots_per_part * 2);

	off = ALIGN64(sizeof(struct prdshm__hdr));
	L->off_agents = off;
	off = ALIGN64(off + (uint64_t)max_agents * sizeof(struct prdshm__agent));
	L->off_parts = off;
	off = ALIGN64(off + (uint64_t)L->nparts * sizeof(struct prdshm__part));
	L->off_slots = off;
	off = ALIGN64(off + (uint64_t)L->nparts * L->slots_per_part * sizeof(struct prdshm__slot));
	L->off_recs = off;
	off = ALIGN64(off + (uint64_t)L->nparts * L->recs_per_part * sizeof(struct prdshm__rec));
	L->off_buckets = off;
	off = ALIGN64(off + (uint64_t)L->nparts * L->buckets_per_part * sizeof(uint32_t));
	L->off_phases = off;
	L->size = ALIGN64(off + phase_bytes);
}

/* The platform half of the layout hash: what the field offsets cannot
 * show (layout.h explains the tags). */
static uint32_t platform_hash(void)
{
	static const char tags[] = PRDSHM__LIBC_TAG "/" PRDSHM__OS_TAG;
	const uint64_t facts[] = {
		prdshm__hash(tags, sizeof(tags) - 1),
		__BYTE_ORDER__, /* of the doubles in the phases too */
		DBL_MANT_DIG,
		sizeof(void *),
		sizeof(pthread_mutex_t),
		_Alignof(pthread_mutex_t),
	};
	return prdshm__hash(facts, sizeof(facts));
}

/* The constants stored in the segment or sizing its arrays, and the OFD
 * lock bytes that tell a live creator or session (value and width each). */
#define SEGMENT_CONSTANTS(C)                                                              \
	C(PRDSHM_SHM_NAME_MAX) C(PRDSHM_NAME_MAX) C(PRDSHM_ID_MAX) C(PRDSHM_MSG_MAX)        \
	C(PRDSHM_LOG_LINES) C(PRDSHM__NIL) C(PRDSHM__SLOT_FREE) C(PRDSHM__SLOT_ACTIVE)      \
	C(PRDSHM_AGENT_IDLE) C(PRDSHM_AGENT_BUSY) C(PRDSHM_AGENT_EXITED) C(PRDSHM_AGENT_DEAD) \
	C(PRDSHM_SHARED) C(PRDSHM_EXCLUSIVE) C(PRDSHM_SCHED_WAVES) C(PRDSHM_SCHED_EAGER)    \
	C(PRDSHM__REC_FREE) C(PRDSHM__REC_HELD) C(PRDSHM__REC_WAITING)                      \
	C(PRDSHM__REC_RELEASED) C(PRDSHM__REC_STATE_MASK) C(PRDSHM__REC_USE)                \
	C(PRDSHM__REC_UPGRADING) C(PRDSHM__INIT_BYTE) C((int)PRDSHM__SESSION_BYTE(0))       \
	C(PRDSHM__RECOVER_BYTE)                                                             \
	C(PRDSHM__HASH_VERSION) /* the slots store name hashes */

/*
 * Everything whose change would make another build misread the segment or
 * take its mutexes another way (see layout.h): the field lists of the
 * segment's structs, the constants, the phase region's share, and the
 * platform's.
 */
uint32_t prdshm__layout_hash(void)
{
	const uint64_t facts[] = {
		PRDSHM__STRUCT_FACTS(prdshm__mutex, PRDSHM__MUTEX_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__hdr, PRDSHM__HDR_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__agent, PRDSHM__AGENT_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__part, PRDSHM__PART_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__slot, PRDSHM__SLOT_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__rec, PRDSHM__REC_FIELDS)
		sizeof(uint32_t), /* a bucket */
		SEGMENT_CONSTANTS(PRDSHM__CONST_FACTS)
		prdshm__phases_layout_hash(),
		platform_hash(),
	};
	return prdshm__hash(facts, sizeof(facts));
}

int prdshm__valid_shm_name(const char *name)
{
	size_t n;

	if (name == NULL || name[0] != '/')
		return 0;
	n = strnlen(name, PRDSHM_SHM_NAME_MAX + 1);
	if (n < 2 || n > PRDSHM_SHM_NAME_MAX)
		return 0;
	return strchr(name + 1, '/') == NULL;
}

static int check_shm_name(const char *name)
{
	if (!prdshm__valid_shm_name(name))
		return prdshm__fail(PRDSHM_ENAME,
				    "invalid segment name '%.64s': must be '/name', 2..255 bytes, "
				    "no other '/'",
				    name ? name : "(null)");
	return 0;
}

/* Take (F_WRLCK / F_RDLCK) or drop (F_UNLCK) the OFD lock on @p byte,
 * retrying for at most @p wait_ms.  @return 0 or -1 with errno. */
static int ofd_lock(int fd, short type, off_t byte, int wait_ms)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
	uint64_t deadline = prdshm__now_mono() + (uint64_t)wait_ms * 1000000u;

	for (;;) {
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if ((errno != EAGAIN && errno != EACCES) || prdshm__now_mono() >= deadline)
			return -1;
		/* Initialisation takes milliseconds; poll rather than block so
		 * that the wait is bounded (F_OFD_SETLKW has no timeout). */
		usleep(1000);
	}
}

static void bind_pointers(struct prdshm_seg *seg, const struct layout *L)
{
	seg->hdr = (struct prdshm__hdr *)seg->base;
	seg->agents = (struct prdshm__agent *)(seg->base + L->off_agents);
	seg->parts = (struct prdshm__part *)(seg->base + L->off_parts);
	seg->slots = (struct prdshm__slot *)(seg->base + L->off_slots);
	seg->recs = (struct prdshm__rec *)(seg->base + L->off_recs);
	seg->buckets = (uint32_t *)(seg->base + L->off_buckets);
	seg->phases = seg->base + L->off_phases;
	seg->nparts = L->nparts;
	seg->slots_per_part = L->slots_per_part;
	seg->recs_per_part = L->recs_per_part;
	seg->buckets_per_part = L->buckets_per_part;
}

void prdshm__part_reset_lists(struct prdshm_seg *seg, uint32_t p)
{
	struct prdshm__part *part = &seg->parts[p];
	struct prdshm__slot *slots = prdshm__part_slots(seg, p);
	struct prdshm__rec *recs = prdshm__part_recs(seg, p);
	uint32_t *buckets = prdshm__part_buckets(seg, p);

	for (uint32_t b = 0; b < seg->buckets_per_part; b++)
		buckets[b] = PRDSHM__NIL;
	part->free_slot = PRDSHM__NIL;
	for (uint32_t i = seg->slots_per_part; i-- > 0;) {
		slots[i].chain = part->free_slot;
		slots[i].head = PRDSHM__NIL;
		part->free_slot = i;
	}
	part->free_rec = PRDSHM__NIL;
	for (uint32_t i = seg->recs_per_part; i-- > 0;) {
		recs[i].next = part->free_rec;
		part->free_rec = i;
	}
	part->nslots = 0;
	part->nrecs = 0;
}

static void init_header(struct prdshm_seg *seg, const prdshm_config *cfg,
			const struct layout *L, uint64_t phase_bytes)
{
	struct prdshm__hdr *h = seg->hdr;

	h->format = PRDSHM__FORMAT;
	h->layout_hash = prdshm__layout_hash();
	h->size = L->size;
	h->created_ns = prdshm__now_real();
	prdshm__strlcpy(h->shm_name, cfg->shm_name, sizeof(h->shm_name));
	h->max_locks = (uint32_t)cfg->max_locks;
	h->max_phases = (uint32_t)cfg->max_phases;
	h->max_agents = (uint32_t)cfg->max_agents;
	h->nparts = L->nparts;
	h->slots_per_part = L->slots_per_part;
	h->recs_per_part = L->recs_per_part;
	h->buckets_per_part = L->buckets_per_part;
	h->phase_bytes = (uint32_t)phase_bytes;
	h->off_agents = L->off_agents;
	h->off_parts = L->off_parts;
	h->off_slots = L->off_slots;
	h->off_recs = L->off_recs;
	h->off_buckets = L->off_buckets;
	h->off_phases = L->off_phases;
	h->max_parallel_agents = cfg->max_parallel_agents;
	h->lock_timeout_seconds = cfg->lock_timeout_seconds;
	h->wave_delay_seconds = cfg->wave_delay_seconds;
	h->conflict_retry_attempts = cfg->conflict_retry_attempts;
	h->monitoring_update_interval = cfg->monitoring_update_interval;
	h->phase_max_attempts = cfg->phase_max_attempts;
	h->deadlock_timeout_ms = cfg->deadlock_timeout_ms;
	h->scheduling = (int32_t)cfg->scheduling;
}

/* Fill a freshly truncated (all-zero) segment. */
static int init_segment(struct prdshm_seg *seg, const prdshm_config *cfg,
			const struct layout *L, uint64_t phase_bytes)
{
	int r;

	init_header(seg, cfg, L, phase_bytes);
	r = prdshm__mutex_init(&seg->hdr->sess_mutex);
	for (uint32_t i = 0; r == 0 && i < (uint32_t)cfg->max_agents; i++)
		seg->agents[i].phase = -1;
	for (uint32_t p = 0; r == 0 && p < L->nparts; p++) {
		r = prdshm__mutex_init(&seg->parts[p].mutex);
		prdshm__part_reset_lists(seg, p);
	}
	if (r == 0)
		r = prdshm__phases_init(seg, cfg);
	if (r == 0)
		__atomic_store_n(&seg->hdr->magic, PRDSHM__MAGIC, __ATOMIC_RELEASE);
	return r;
}

static struct prdshm_seg *seg_alloc(const char *name)
{
	struct prdshm_seg *seg = calloc(1, sizeof(*seg));

	if (seg == NULL)
		return NULL;
	seg->fd = -1;
	prdshm__strlcpy(seg->name, name, sizeof(seg->name));
	return seg;
}

/*
 * Give the segment its memory now.  ftruncate() only sets the size: on a
 * full tmpfs the first store into a page the filesystem cannot provide
 * raises SIGBUS, in whichever process touches it first, long after
 * creation said "done".  posix_fallocate() takes every page up front, so
 * the lack of room is an error here, with the figures.
 */
static int reserve_pages(struct prdshm_seg *seg, uint64_t size)
{
	struct statvfs vfs;
	int e = posix_fallocate(seg->fd, 0, (off_t)size);

	if (e == 0)
		return 0;
	if (e != ENOSPC) {
		errno = e;
		return prdshm__fail_errno(PRDSHM_ESYS, "reserve %llu bytes for %s",
					  (unsigned long long)size, seg->name);
	}
	if (fstatvfs(seg->fd, &vfs) != 0)
		return prdshm__fail(PRDSHM_ENOSPC, "%s needs %llu KiB: no room left in /dev/shm",
				    seg->name, (unsigned long long)(size + 1023) / 1024);
	return prdshm__fail(PRDSHM_ENOSPC,
			    "%s needs %llu KiB, and /dev/shm has %llu KiB free of %llu KiB: free "
			    "some room or lower max_locks, max_phases or max_agents",
			    seg->name, (unsigned long long)(size + 1023) / 1024,
			    (unsigned long long)vfs.f_bavail * vfs.f_frsize / 1024,
			    (unsigned long long)vfs.f_blocks * vfs.f_frsize / 1024);
}

/* With a sharing group, the new object's group becomes it (before the mode
 * lets the group in).  The kernel allows that to members and root only. */
static int give_to_group(struct prdshm_seg *seg, const struct prdshm__trust *t)
{
	if (!t->shared || fchown(seg->fd, (uid_t)-1, t->gid) == 0)
		return 0;
	if (errno == EPERM)
		return prdshm__fail(PRDSHM_EPERM,
				    "%s: cannot give the segment to shm_group '%s': you are not a "
				    "member of it",
				    seg->name, t->group);
	return prdshm__fail_errno(PRDSHM_ESYS, "%s: give the segment to group %s", seg->name,
				  t->group);
}

int prdshm_seg_create(const prdshm_config *cfg, prdshm_seg **out)
{
	struct prdshm__trust trust;
	struct prdshm_seg *seg = NULL;
	struct layout L;
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	uint64_t phase_bytes;
	int r, created = 0;

	prdshm__call_begin();
	if (cfg == NULL || out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_seg_create: NULL argument");
	*out = NULL;
	r = prdshm__abi_check(cfg, PRDSHM_CONFIG_SIZE_1_0, "prdshm_config", "prdshm_seg_create");
	if (r)
		return r;
	r = check_shm_name(cfg->shm_name);
	if (r)
		return r;
	if (prdshm_config_validate(cfg, &diag) != 0)
		return prdshm__fail(PRDSHM_ECONFIG, "%s", diag.msg);
	r = prdshm__trust_init(&trust, cfg->shm_group);
	if (r)
		return r;
	phase_bytes = prdshm__phases_bytes(cfg);
	compute_layout((uint32_t)cfg->max_locks, (uint32_t)cfg->max_agents, phase_bytes, &L);

	seg = seg_alloc(cfg->shm_name);
	if (seg == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	/* 0600 until the group is the configured one: with the final mode,
	 * the creator's own group could open it writable in between and keep
	 * that descriptor through the chown. */
	seg->fd = shm_open(cfg->shm_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (seg->fd < 0) {
		r = prdshm__fail_errno(PRDSHM_ESYS, "create %s", cfg->shm_name);
		goto fail;
	}
	created = 1;
	r = give_to_group(seg, &trust);
	if (r)
		goto fail;
	/* The umask must not narrow the configured mode. */
	if (fchmod(seg->fd, (mode_t)cfg->shm_mode) != 0 ||
	    ofd_lock(seg->fd, F_WRLCK, PRDSHM__INIT_BYTE, INIT_WAIT_MS) != 0 ||
	    ftruncate(seg->fd, (off_t)L.size) != 0) {
		r = prdshm__fail_errno(PRDSHM_ESYS, "initialise %s", cfg->shm_name);
		goto fail;
	}
	r = reserve_pages(seg, L.size);
	if (r)
		goto fail;
	seg->size = L.size;
	seg->base = mmap(NULL, seg->size, PROT_READ | PROT_WRITE, MAP_SHARED, seg->fd, 0);
	if (seg->base == MAP_FAILED) {
		seg->base = NULL;
		r = prdshm__fail_errno(PRDSHM_ESYS, "mmap %s (%llu bytes)", cfg->shm_name,
				       (unsigned long long)L.size);
		goto fail;
	}
	bind_pointers(seg, &L);
	seg->max_agents = (uint32_t)cfg->max_agents;
	r = init_segment(seg, cfg, &L, phase_bytes);
	if (r)
		goto fail;
	ofd_lock(seg->fd, F_UNLCK, PRDSHM__INIT_BYTE, 0);
	*out = seg;
	return 0;
fail:
	if (created)
		shm_unlink(cfg->shm_name);
	prdshm_seg_close(seg);
	return r;
}

/* Everything an opener checks before trusting the header's numbers. */
static int validate_header(struct prdshm_seg *seg, uint64_t file_size, struct layout *L)
{
	const struct prdshm__hdr *h = (const struct prdshm__hdr *)seg->base;

	if (h->magic != PRDSHM__MAGIC)
		return prdshm__fail(PRDSHM_ENOTSEG, "%s: not a prdshm segment (bad magic)",
				    seg->name);
	if (h->format != PRDSHM__FORMAT)
		return prdshm__fail(PRDSHM_EVERSION,
				    "%s: segment format %u, this build reads format %u", seg->name,
				    h->format, PRDSHM__FORMAT);
	if (h->layout_hash != prdshm__layout_hash())
		return prdshm__fail(PRDSHM_EVERSION,
				    "%s: layout hash %08x, this build %08x: made by another build "
				    "of prdshm, C library or architecture",
				    seg->name, h->layout_hash, prdshm__layout_hash());
	if (h->max_locks == 0 || h->max_locks > 100000000u || h->max_agents == 0 ||
	    h->max_agents > 65536u || h->phase_bytes > file_size)
		return prdshm__fail(PRDSHM_ECORRUPT, "%s: segment limits out of range", seg->name);
	compute_layout(h->max_locks, h->max_agents, h->phase_bytes, L);
	if (h->size != L->size || h->size != file_size || h->nparts != L->nparts ||
	    h->slots_per_part != L->slots_per_part || h->recs_per_part != L->recs_per_part ||
	    h->buckets_per_part != L->buckets_per_part || h->off_agents != L->off_agents ||
	    h->off_parts != L->off_parts || h->off_slots != L->off_slots ||
	    h->off_recs != L->off_recs || h->off_buckets != L->off_buckets ||
	    h->off_phases != L->off_phases)
		return prdshm__fail(PRDSHM_ECORRUPT,
				    "%s: segment geometry does not match its limits (size %llu)",
				    seg->name, (unsigned long long)file_size);
	return 0;
}

/* Wait for a concurrent creator, then map the segment.  A creator holds
 * byte 0 while it initialises; between its shm_open and its lock there is
 * a short window where the object exists with size 0, so retry that too. */
static int map_initialised(struct prdshm_seg *seg)
{
	uint64_t deadline = prdshm__now_mono() + (uint64_t)INIT_WAIT_MS * 1000000u;
	struct stat st;
	uint64_t magic = 0;

	for (;;) {
		if (ofd_lock(seg->fd, F_RDLCK, PRDSHM__INIT_BYTE, INIT_WAIT_MS) != 0)
			return prdshm__fail_errno(PRDSHM_ESYS, "%s: wait for initialisation",
						  seg->name);
		if (fstat(seg->fd, &st) != 0)
			return prdshm__fail_errno(PRDSHM_ESYS, "fstat %s", seg->name);
		if ((uint64_t)st.st_size >= sizeof(struct prdshm__hdr) &&
		    pread(seg->fd, &magic, sizeof(magic), 0) == (ssize_t)sizeof(magic) && magic != 0)
			break;
		ofd_lock(seg->fd, F_UNLCK, PRDSHM__INIT_BYTE, 0);
		if (prdshm__now_mono() >= deadline)
			return prdshm__fail(PRDSHM_ECORRUPT,
					    "%s: segment never finished initialisation (creator died?)",
					    seg->name);
		usleep(2000);
	}
	seg->size = (size_t)st.st_size;
	seg->base = mmap(NULL, seg->size, PROT_READ | PROT_WRITE, MAP_SHARED, seg->fd, 0);
	ofd_lock(seg->fd, F_UNLCK, PRDSHM__INIT_BYTE, 0);
	if (seg->base == MAP_FAILED) {
		seg->base = NULL;
		return prdshm__fail_errno(PRDSHM_ESYS, "mmap %s", seg->name);
	}
	return 0;
}

/* shm_open() an existing object and check who may have written it, before
 * anything in it is read (lib/shm/trust.c). */
static int open_trusted(struct prdshm_seg *seg, const struct prdshm__trust *t)
{
	struct stat st;

	seg->fd = shm_open(seg->name, O_RDWR | O_CLOEXEC, 0);
	if (seg->fd < 0 && errno == ELOOP)
		return prdshm__fail(PRDSHM_EPERM, "%s is a symbolic link: refusing it", seg->name);
	if (seg->fd < 0)
		return prdshm__fail_errno(PRDSHM_ESYS, "open %s", seg->name);
	if (fstat(seg->fd, &st) != 0)
		return prdshm__fail_errno(PRDSHM_ESYS, "fstat %s", seg->name);
	return prdshm__trust_check(seg->name, &st, t);
}

static int seg_open(const char *shm_name, const struct prdshm__trust *t, prdshm_seg **out)
{
	struct prdshm_seg *seg;
	struct layout L;
	int r;

	if (out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_seg_open: NULL argument");
	*out = NULL;
	r = check_shm_name(shm_name);
	if (r)
		return r;
	seg = seg_alloc(shm_name);
	if (seg == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	r = open_trusted(seg, t);
	if (r)
		goto fail;
	r = map_initialised(seg);
	if (r)
		goto fail;
	r = validate_header(seg, seg->size, &L);
	if (r)
		goto fail;
	bind_pointers(seg, &L);
	seg->max_agents = seg->hdr->max_agents;
	r = prdshm__phases_validate(seg);
	if (r)
		goto fail;
	*out = seg;
	return 0;
fail:
	prdshm_seg_close(seg);
	return r;
}

int prdshm_seg_open(const char *shm_name, prdshm_seg **out)
{
	static const struct prdshm__trust alone;

	prdshm__call_begin();
	return seg_open(shm_name, &alone, out);
}

int prdshm_seg_open_cfg(const prdshm_config *cfg, prdshm_seg **out)
{
	struct prdshm__trust trust;
	int r;

	prdshm__call_begin();
	if (cfg == NULL || out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_seg_open_cfg: NULL argument");
	*out = NULL;
	r = prdshm__abi_check(cfg, PRDSHM_CONFIG_SIZE_1_0, "prdshm_config", "prdshm_seg_open_cfg");
	if (r)
		return r;
	r = prdshm__trust_init(&trust, cfg->shm_group);
	if (r)
		return r;
	return seg_open(cfg->shm_name, &trust, out);
}

int prdshm_seg_open_or_create(const prdshm_config *cfg, prdshm_seg **out, int *created)
{
	int r;

	prdshm__call_begin();
	if (created)
		*created = 0;
	if (cfg == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_seg_open_or_create: NULL config");
	r = prdshm__abi_check(cfg, PRDSHM_CONFIG_SIZE_1_0, "prdshm_config",
			      "prdshm_seg_open_or_create");
	if (r)
		return r;
	/* Two rounds are enough: the loser of a creation race opens, and a
	 * segment unlinked between our two calls is created again. */
	for (int round = 0; round < 3; round++) {
		r = prdshm_seg_open_cfg(cfg, out);
		if (r != PRDSHM_ENOENT)
			return r;
		r = prdshm_seg_create(cfg, out);
		if (r == 0 && created)
			*created = 1;
		if (r != PRDSHM_EEXIST)
			return r;
	}
	return r;
}

void prdshm_seg_close(prdshm_seg *seg)
{
	if (seg == NULL)
		return;
	if (seg->base)
		munmap(seg->base, seg->size);
	if (seg->fd >= 0)
		close(seg->fd);
	free(seg);
}

int prdshm_seg_unlink(const char *shm_name)
{
	static const struct prdshm__trust alone;
	int r;

	prdshm__call_begin();
	r = check_shm_name(shm_name);
	if (r == 0)
		r = prdshm__trust_check_owner(shm_name, &alone);
	if (r)
		return r;
	if (shm_unlink(shm_name) != 0)
		return prdshm__fail_errno(PRDSHM_ESYS, "unlink %s", shm_name);
	return 0;
}

/* Fill all of @p info, this library's prdshm_seg_info. */
static void seg_info_fill(prdshm_seg *seg, prdshm_seg_info *info)
{
	const struct prdshm__hdr *h = seg->hdr;

	memset(info, 0, sizeof(*info));
	info->struct_size = sizeof(*info);
	prdshm__strlcpy(info->shm_name, seg->name, sizeof(info->shm_name));
	info->size = seg->size;
	info->format = h->format;
	info->layout_hash = h->layout_hash;
	info->created_ns = h->created_ns;
	info->max_locks = h->max_locks;
	info->max_phases = h->max_phases;
	info->max_agents = seg->max_agents;
	info->nparts = seg->nparts;
	/* Internally a count of marks (segment.h); callers see a flag. */
	info->needs_recovery = __atomic_load_n(&h->needs_recovery, __ATOMIC_ACQUIRE) != 0;
	info->max_parallel_agents = h->max_parallel_agents;
	info->lock_timeout_seconds = h->lock_timeout_seconds;
	info->wave_delay_seconds = h->wave_delay_seconds;
	info->conflict_retry_attempts = h->conflict_retry_attempts;
	info->monitoring_update_interval = h->monitoring_update_interval;
	info->phase_max_attempts = h->phase_max_attempts;
	info->deadlock_timeout_ms = h->deadlock_timeout_ms;
	info->scheduling = (prdshm_scheduling)h->scheduling;
}

int prdshm_seg_info_get(prdshm_seg *seg, prdshm_seg_info *info)
{
	prdshm_seg_info full;
	int r;

	prdshm__call_begin();
	if (seg == NULL || info == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_seg_info_get: NULL argument");
	r = prdshm__abi_check(info, PRDSHM_SEG_INFO_SIZE_1_0, "prdshm_seg_info",
			      "prdshm_seg_info_get");
	if (r)
		return r;
	/* Filled whole here, then only the caller's bytes copied out. */
	seg_info_fill(seg, &full);
	prdshm__abi_copy_out(info, &full, sizeof(full));
	return 0;
}
