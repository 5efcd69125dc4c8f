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

#include "base/util.h"
#include "shm/robust.h"
#include "shm/segment.h"
#include "shm/trust.h"

#define INIT_WAIT_MS 5000 /* the longest an opener waits for a creator */

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

/* The constants stored in the header, and the OFD lock bytes that tell a
 * live creator or recovery (value and width each). */
#define SEGMENT_CONSTANTS(C)                                                         \
	C(PRDSHM_SHM_NAME_MAX) C(PRDSHM__REGIONS_MAX) C(PRDSHM_SCHED_WAVES)            \
	C(PRDSHM_SCHED_EAGER) C(PRDSHM__INIT_BYTE) C(PRDSHM__RECOVER_BYTE)

/*
 * Everything whose change would make another build misread the segment or
 * take its mutexes another way (see layout.h): the header's field list and
 * constants, each region's share in order, and the platform's.
 */
uint32_t prdshm__layout_hash(const struct prdshm__regions *regions)
{
	const uint64_t facts[] = {
		PRDSHM__STRUCT_FACTS(prdshm__mutex, PRDSHM__MUTEX_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__region_ref, PRDSHM__REGION_REF_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__hdr, PRDSHM__HDR_FIELDS)
		SEGMENT_CONSTANTS(PRDSHM__CONST_FACTS)
		platform_hash(),
	};
	uint64_t all[1 + PRDSHM__REGIONS_MAX] = { prdshm__hash(facts, sizeof(facts)) };

	for (uint32_t i = 0; i < regions->n; i++)
		all[1 + i] = regions->type[i]->layout_hash();
	return prdshm__hash(all, (1 + (size_t)regions->n) * sizeof(all[0]));
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

int prdshm__check_shm_name(const char *name)
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

/* The header has room for PRDSHM__REGIONS_MAX regions. */
static int regions_fit(const struct prdshm__regions *R)
{
	if (R->n == 0 || R->n > PRDSHM__REGIONS_MAX)
		return prdshm__fail(PRDSHM_EINVAL, "%u regions: a segment holds 1 to %u", R->n,
				    PRDSHM__REGIONS_MAX);
	return 0;
}

/* Where the regions go for @p cfg: each on a cache line, in list order
 * after the header.  @return the segment's size, 0 if a region cannot be
 * had. */
static uint64_t plan_regions(const prdshm_config *cfg, const struct prdshm__regions *R,
			     struct prdshm__region_ref ref[PRDSHM__REGIONS_MAX])
{
	uint64_t off = PRDSHM__ALIGN64(sizeof(struct prdshm__hdr));

	for (uint32_t i = 0; i < R->n; i++) {
		ref[i].off = off;
		ref[i].bytes = R->type[i]->bytes(cfg);
		if (ref[i].bytes == 0)
			return 0;
		off = PRDSHM__ALIGN64(off + ref[i].bytes);
	}
	return off;
}

static void init_header(struct prdshm_seg *seg, const prdshm_config *cfg, uint64_t size,
			const struct prdshm__region_ref ref[PRDSHM__REGIONS_MAX])
{
	struct prdshm__hdr *h = seg->hdr;

	h->format = PRDSHM__FORMAT;
	h->layout_hash = prdshm__layout_hash(seg->regions);
	h->size = size;
	h->created_ns = prdshm__now_real();
	prdshm__strlcpy(h->shm_name, cfg->shm_name, sizeof(h->shm_name));
	h->max_locks = (uint32_t)cfg->max_locks;
	h->max_phases = (uint32_t)cfg->max_phases;
	h->max_agents = (uint32_t)cfg->max_agents;
	h->nregions = seg->regions->n;
	memcpy(h->regions, ref, sizeof(h->regions));
	h->max_parallel_agents = cfg->max_parallel_agents;
	h->lock_timeout_seconds = cfg->lock_timeout_seconds;
	h->wave_delay_seconds = cfg->wave_delay_seconds;
	h->conflict_retry_attempts = cfg->conflict_retry_attempts;
	h->monitoring_update_interval = cfg->monitoring_update_interval;
	h->phase_max_attempts = cfg->phase_max_attempts;
	h->deadlock_timeout_ms = cfg->deadlock_timeout_ms;
	h->scheduling = (int32_t)cfg->scheduling;
}

/* Hand each region to its layer: bind its view, then fill it (@p cfg, at
 * creation) or check it (NULL, at open). */
static int bind_regions(struct prdshm_seg *seg, const prdshm_config *cfg)
{
	const struct prdshm__regions *R = seg->regions;
	int r = 0;

	for (uint32_t i = 0; r == 0 && i < R->n; i++) {
		const struct prdshm__region_ref *ref = &seg->hdr->regions[i];

		r = R->type[i]->bind(seg, seg->base + ref->off, ref->bytes);
	}
	for (uint32_t i = 0; r == 0 && i < R->n; i++) {
		if (cfg)
			r = R->type[i]->init(seg, cfg);
		else if (R->type[i]->validate)
			r = R->type[i]->validate(seg);
	}
	return r;
}

static struct prdshm_seg *seg_alloc(const char *name, const struct prdshm__regions *regions)
{
	/* The handle, then the regions' views (prdshm__seg_view()). */
	struct prdshm_seg *seg =
		calloc(1, sizeof(*seg) + (size_t)PRDSHM__REGIONS_MAX * PRDSHM__VIEW_BYTES);

	if (seg == NULL)
		return NULL;
	seg->fd = -1;
	seg->regions = regions;
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

/* Create, size and map the object for @p size bytes, owned and moded as
 * configured.  On failure the caller unlinks it when *created. */
static int create_object(struct prdshm_seg *seg, const prdshm_config *cfg,
			 const struct prdshm__trust *trust, uint64_t size, int *created)
{
	int r;

	/* 0600 until the group is the configured one: with the final mode,
	 * the creator's own group could open it writable in between and keep
	 * that descriptor through the chown. */
	seg->fd = shm_open(cfg->shm_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (seg->fd < 0)
		return prdshm__fail_errno(PRDSHM_ESYS, "create %s", cfg->shm_name);
	*created = 1;
	r = give_to_group(seg, trust);
	if (r)
		return r;
	/* The umask must not narrow the configured mode. */
	if (fchmod(seg->fd, (mode_t)cfg->shm_mode) != 0 ||
	    ofd_lock(seg->fd, F_WRLCK, PRDSHM__INIT_BYTE, INIT_WAIT_MS) != 0 ||
	    ftruncate(seg->fd, (off_t)size) != 0)
		return prdshm__fail_errno(PRDSHM_ESYS, "initialise %s", cfg->shm_name);
	r = reserve_pages(seg, size);
	if (r)
		return r;
	seg->size = size;
	seg->base = mmap(NULL, seg->size, PROT_READ | PROT_WRITE, MAP_SHARED, seg->fd, 0);
	if (seg->base == MAP_FAILED) {
		seg->base = NULL;
		return prdshm__fail_errno(PRDSHM_ESYS, "mmap %s (%llu bytes)", cfg->shm_name,
					  (unsigned long long)size);
	}
	seg->hdr = (struct prdshm__hdr *)(void *)seg->base;
	return 0;
}

int prdshm__seg_create(const prdshm_config *cfg, const struct prdshm__regions *regions,
		       prdshm_seg **out)
{
	struct prdshm__region_ref ref[PRDSHM__REGIONS_MAX] = { { 0, 0 } };
	struct prdshm__trust trust;
	struct prdshm_seg *seg = NULL;
	uint64_t size;
	int r, created = 0;

	*out = NULL;
	r = regions_fit(regions);
	if (r == 0)
		r = prdshm__check_shm_name(cfg->shm_name);
	if (r)
		return r;
	r = prdshm__trust_init(&trust, cfg->shm_group);
	if (r)
		return r;
	size = plan_regions(cfg, regions, ref);
	if (size == 0)
		return prdshm__fail(PRDSHM_ECONFIG, "%s: the configured limits are too large",
				    cfg->shm_name);
	seg = seg_alloc(cfg->shm_name, regions);
	if (seg == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	r = create_object(seg, cfg, &trust, size, &created);
	if (r)
		goto fail;
	init_header(seg, cfg, size, ref);
	r = bind_regions(seg, cfg);
	if (r)
		goto fail;
	__atomic_store_n(&seg->hdr->magic, PRDSHM__MAGIC, __ATOMIC_RELEASE);
	ofd_lock(seg->fd, F_UNLCK, PRDSHM__INIT_BYTE, 0);
	*out = seg;
	return 0;
fail:
	if (created)
		shm_unlink(cfg->shm_name);
	prdshm__seg_close(seg);
	return r;
}

/* The region table: each region on a cache line, in order, after the
 * header, none past the end; the regions check their own sizes. */
static int regions_ok(const struct prdshm__hdr *h, uint32_t n, uint64_t file_size)
{
	uint64_t off = PRDSHM__ALIGN64(sizeof(struct prdshm__hdr));

	if (h->nregions != n || off > file_size)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct prdshm__region_ref *ref = &h->regions[i];

		if (ref->off != off || ref->bytes == 0 || ref->bytes > file_size - off)
			return 0;
		off = PRDSHM__ALIGN64(off + ref->bytes);
	}
	return off == file_size;
}

/* Everything an opener checks before trusting the header's numbers. */
static int validate_header(struct prdshm_seg *seg, uint64_t file_size)
{
	const struct prdshm__hdr *h = (const struct prdshm__hdr *)(void *)seg->base;
	uint32_t hash = prdshm__layout_hash(seg->regions);

	if (h->magic != PRDSHM__MAGIC)
		return prdshm__fail(PRDSHM_ENOTSEG, "%s: not a prdshm segment (bad magic)",
				    seg->name);
	if (h->format != PRDSHM__FORMAT)
		return prdshm__fail(PRDSHM_EVERSION,
				    "%s: segment format %u, this build reads format %u", seg->name,
				    h->format, PRDSHM__FORMAT);
	if (h->layout_hash != hash)
		return prdshm__fail(PRDSHM_EVERSION,
				    "%s: layout hash %08x, this build %08x: made by another build "
				    "of prdshm, C library or architecture",
				    seg->name, h->layout_hash, hash);
	if (h->size != file_size || !regions_ok(h, seg->regions->n, file_size))
		return prdshm__fail(PRDSHM_ECORRUPT,
				    "%s: segment geometry does not match its region table (size %llu)",
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

int prdshm__seg_open(const char *shm_name, const prdshm_config *cfg,
		     const struct prdshm__regions *regions, prdshm_seg **out)
{
	struct prdshm__trust trust;
	struct prdshm_seg *seg;
	int r;

	*out = NULL;
	r = regions_fit(regions);
	if (r == 0)
		r = prdshm__check_shm_name(shm_name);
	if (r)
		return r;
	memset(&trust, 0, sizeof(trust));
	if (cfg) {
		r = prdshm__trust_init(&trust, cfg->shm_group);
		if (r)
			return r;
	}
	seg = seg_alloc(shm_name, regions);
	if (seg == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	r = open_trusted(seg, &trust);
	if (r == 0)
		r = map_initialised(seg);
	if (r == 0)
		r = validate_header(seg, seg->size);
	if (r)
		goto fail;
	seg->hdr = (struct prdshm__hdr *)(void *)seg->base;
	r = bind_regions(seg, NULL);
	if (r)
		goto fail;
	*out = seg;
	return 0;
fail:
	prdshm__seg_close(seg);
	return r;
}

void prdshm__seg_close(struct prdshm_seg *seg)
{
	if (seg == NULL)
		return;
	if (seg->base)
		munmap(seg->base, seg->size);
	if (seg->fd >= 0)
		close(seg->fd);
	free(seg);
}

void prdshm__seg_mutex_name(const struct prdshm_seg *seg, const struct prdshm__mutex *m,
			    char *buf, size_t size)
{
	const struct prdshm__regions *R = seg->regions;

	for (uint32_t i = 0; i < R->n; i++)
		if (R->type[i]->mutex_name && R->type[i]->mutex_name(seg, m, buf, size))
			return;
	snprintf(buf, size, "segment mutex");
}
