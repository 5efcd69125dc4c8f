/*
 * fuzz_segment.c: libFuzzer target for opening and checking a segment that
 * another process may have scribbled on.
 *
 * A valid image is built once (a small lock table with held records, a
 * plan with a running phase).  Each input is a list of patches
 *     [flags] then { offset:u32le, len-1:u8, bytes[len] }...
 * applied to a copy, which is written over one shm object and given to
 * the library: prdshm_seg_open, prdshm_check, prdshm_snapshot_take, then
 * (flags) prdshm_recover and a lock, unlock, claim and reap.  The library
 * must accept the image as consistent or report it corrupt; never crash,
 * read or write out of bounds (ASan) or hang.
 *
 * The robust mutexes' bytes are always restored from the valid image: a
 * scribbled lock word naming a live owner makes pthread_mutex_lock() wait
 * for ever by design, which is not what this target is about.  For the
 * same reason an image whose magic is 0 is skipped: to an opener that is a
 * segment still being initialised, and it waits for its creator (5 s)
 * before calling it corrupt.  Any other wrong magic is tried.
 *
 * Speed: the shm object is created and mapped once, and each input is
 * copied into that mapping, so that an input costs no shm_open, ftruncate,
 * page allocation or unlink of its own (the library still opens and maps
 * the segment by name, as a client does).
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prdshm.h"
#include "lock/region.h"
#include "plan/phases.h"
#include "session/region.h"
#include "shm/segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char *image;     /* the valid image */
static size_t image_size;
static size_t mutex_off[64];     /* where the mutexes are */
static size_t nmutex;
static char shm_name[64];
static unsigned char *shm_map;   /* the shm object each input is copied into */

static void add_phase(prdshm_config *cfg, const char *id, const char *dep)
{
	prdshm_phase_def *p = &cfg->phases[cfg->nphases++];

	memset(p, 0, sizeof(*p));
	p->id = strdup(id);
	p->name = strdup(id);
	p->estimated_minutes = 1;
	p->outputs = calloc(1, sizeof(char *));
	p->outputs[p->noutputs++] = strdup(id);
	if (dep) {
		p->deps = calloc(1, sizeof(char *));
		p->deps[p->ndeps++] = strdup(dep);
	}
}

static void note_mutexes(const prdshm_seg *seg)
{
	const struct prdshm__locks *lt = prdshm__locks(seg);
	size_t parts = (size_t)((const unsigned char *)lt->parts - seg->base);

	mutex_off[nmutex++] =
		(size_t)((const unsigned char *)prdshm__sessions(seg)->mutex - seg->base);
	for (uint32_t p = 0; p < lt->nparts && nmutex < 63; p++)
		mutex_off[nmutex++] = parts + p * sizeof(struct prdshm__part);
	/* The phase region starts with its mutex. */
	mutex_off[nmutex++] = seg->hdr->regions[PRDSHM__REGION_PHASES].off;
}

/* Fill the valid image: records held by two sessions, a running phase. */
static void populate(prdshm_seg *seg)
{
	prdshm_session *a = NULL, *b = NULL;
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	if (prdshm_session_open(seg, "agent-a", 0, &a) || prdshm_session_open(seg, "agent-b", 0, &b))
		abort();
	prdshm_lock(a, "alpha", PRDSHM_EXCLUSIVE, PRDSHM_TRY, "p0");
	prdshm_lock(a, "beta", PRDSHM_SHARED, PRDSHM_TRY, NULL);
	prdshm_lock(b, "beta", PRDSHM_SHARED, PRDSHM_TRY, NULL);
	prdshm_lock(b, "gamma \"quoted\"\x01", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL);
	prdshm_phase_claim(a, &c);
	prdshm_agent_log(a, "a log line");
	/* Abandon: the records stay, and in the fuzzed copy (another file,
	 * without our OFD locks) their sessions look dead. */
	prdshm_session_abandon(a);
	prdshm_session_abandon(b);
}

static void build_image(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	char tname[64];
	int fd;

	snprintf(shm_name, sizeof(shm_name), "/prdshm-fuzz-%ld", (long)getpid());
	snprintf(tname, sizeof(tname), "/prdshm-fuzzt-%ld", (long)getpid());
	prdshm_config_init(&cfg);
	snprintf(cfg.shm_name, sizeof(cfg.shm_name), "%s", tname);
	cfg.max_locks = 8;
	cfg.max_agents = 4;
	cfg.max_phases = 4;
	cfg.max_parallel_agents = 2;
	cfg.phase_max_attempts = 2;
	cfg.wave_delay_seconds = 0;
	cfg.phases = calloc(3, sizeof(*cfg.phases));
	add_phase(&cfg, "p0", NULL);
	add_phase(&cfg, "p1", "p0");
	add_phase(&cfg, "p2", NULL);
	prdshm_seg_unlink(tname);
	if (prdshm_seg_create(&cfg, &seg) != 0)
		abort();
	populate(seg);
	note_mutexes(seg);
	image_size = seg->size;
	image = malloc(image_size);
	fd = shm_open(tname, O_RDONLY, 0);
	if (image == NULL || fd < 0 || pread(fd, image, image_size, 0) != (ssize_t)image_size)
		abort();
	close(fd);
	prdshm_seg_close(seg);
	prdshm_seg_unlink(tname);
	prdshm_config_free(&cfg);
}

static void remove_shm(void)
{
	shm_unlink(shm_name);
}

/* The object the inputs are written to, created and mapped once. */
static void map_shm(void)
{
	int fd = shm_open(shm_name, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || ftruncate(fd, (off_t)image_size) != 0)
		abort();
	shm_map = mmap(NULL, image_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (shm_map == MAP_FAILED)
		abort();
	close(fd);
	atexit(remove_shm);
}

/* Apply the input's patches to @p img; @return the flags byte. */
static unsigned apply(unsigned char *img, const uint8_t *data, size_t size)
{
	unsigned flags = size ? data[0] : 0;
	size_t i = 1;

	while (i + 5 <= size) {
		uint32_t off = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 |
			       (uint32_t)data[i + 2] << 16 | (uint32_t)data[i + 3] << 24;
		size_t len = (size_t)data[i + 4] + 1;

		i += 5;
		if (len > size - i)
			len = size - i;
		off %= (uint32_t)image_size;
		if (len > image_size - off)
			len = image_size - off;
		memcpy(img + off, data + i, len);
		i += len;
	}
	for (size_t k = 0; k < nmutex; k++)
		memcpy(img + mutex_off[k], image + mutex_off[k], sizeof(struct prdshm__mutex));
	return flags;
}

/* 0 while a creator initialises: an opener would wait for it (see above). */
static uint64_t magic_of(const unsigned char *img)
{
	uint64_t magic;

	memcpy(&magic, img + offsetof(struct prdshm__hdr, magic), sizeof(magic));
	return magic;
}

/* Use the segment as a client would. */
static void exercise(prdshm_seg *seg, unsigned flags)
{
	prdshm_session *s = NULL;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	size_t n;

	if (prdshm_session_open(seg, "fuzz", 0, &s) != 0)
		return;
	if (prdshm_lock(s, (flags & 4) ? "beta" : "alpha", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL) == 0)
		prdshm_unlock(s, (flags & 4) ? "beta" : "alpha");
	prdshm_lock(s, "delta", PRDSHM_SHARED, PRDSHM_TRY, NULL);
	prdshm_lock_query(seg, "beta", 0, NULL, 0, &n);
	if (prdshm_phase_claim(s, &c) == 0)
		prdshm_phase_complete(s, c.index);
	prdshm_unlock_all(s, NULL);
	prdshm_session_close(s);
	prdshm_reap(seg, 1, NULL, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	prdshm_seg *seg = NULL;
	prdshm_snapshot *snap = NULL;
	unsigned flags;
	int r;

	if (image == NULL) {
		build_image();
		map_shm();
	}
	/* Nobody maps the object between two inputs: overwrite it whole. */
	memcpy(shm_map, image, image_size);
	flags = apply(shm_map, data, size);
	if (magic_of(shm_map) != 0 && prdshm_seg_open(shm_name, &seg) == 0) {
		r = prdshm_check(seg, (flags & 1) ? PRDSHM_SNAP_NOLOCK : 0, NULL, NULL);
		if (prdshm_snapshot_take(seg, (flags & 1) ? PRDSHM_SNAP_NOLOCK : 0, &snap) == 0)
			prdshm_snapshot_free(snap);
		if (r == PRDSHM_ECORRUPT || r == PRDSHM_ERECOVER || (flags & 2))
			r = prdshm_recover(seg, NULL, NULL);
		/* Only a segment the library calls sound is used as one. */
		if (r == 0 || r == PRDSHM_EDEADOWNER)
			r = prdshm_check(seg, 0, NULL, NULL);
		if (r == 0 || r == PRDSHM_EDEADOWNER)
			exercise(seg, flags);
		prdshm_seg_close(seg);
	}
	return 0;
}
