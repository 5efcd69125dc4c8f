/*
 * region.h: the phase region as the files of lib/plan/ see it (region.c):
 * the process-local geometry every operation indexes with, the status
 * shorthands, and the bounds-checked accessors of the arena.  Not for use
 * outside lib/plan/ (the segment code uses plan/phases.h).
 *
 * Functions shared between the files of lib/plan/ are named
 * prdshm__phase_ followed by the name they had in the one phases.c these
 * files came from; the small helpers at the end, inline, kept their short
 * names.
 */
#ifndef PRDSHM_INTERNAL_PLAN_REGION_H
#define PRDSHM_INTERNAL_PLAN_REGION_H

#include <stdint.h>
#include <string.h>

#include "plan/phases.h"

#define NS PRDSHM_PHASE_NOT_STARTED
#define QU PRDSHM_PHASE_QUEUED
#define IP PRDSHM_PHASE_IN_PROGRESS
#define CO PRDSHM_PHASE_COMPLETED
#define FA PRDSHM_PHASE_FAILED
#define BL PRDSHM_PHASE_BLOCKED
#define SK PRDSHM_PHASE_SKIPPED
#define CA PRDSHM_PHASE_CANCELLED
#define NSTATUS PRDSHM_PHASE_NSTATUS
#define NIL PRDSHM__NIL

/* A sanity bound on max_phases read from the segment. */
#define MAX_PHASES_LIMIT (1u << 24)
/* The ready bitmap: 64 bits a word, and levels enough for MAX_PHASES_LIMIT
 * ranks (64^4 = 2^24). */
#define READY_FANOUT 64u
#define READY_LEVELS 4u

/*
 * Process-local copies of the immutable header fields, validated against
 * the mapping's size before each operation: the code indexes with these,
 * never with values re-read from the segment.
 */
struct geom {
	struct prdshm__phase_region *reg;
	struct prdshm__phase *ph;
	struct prdshm__wave *waves;
	unsigned char *arena;
	uint64_t arena_bytes;
	uint64_t region_bytes;
	const uint32_t *topo;  /* wave order */
	const uint32_t *order; /* claim rank -> phase */
	uint64_t *ready[READY_LEVELS];
	uint32_t ready_words[READY_LEVELS];
	uint32_t nlevels;
	uint32_t n, nwaves, max_phases;
	int32_t max_parallel, max_attempts, delay_s, sched;
};

/* Where the parts of a region for a configuration go, and its size. */
struct layout {
	uint64_t off_phases, off_waves, off_ready, off_arena, arena_bytes, bytes;
	uint32_t cap;
};

/* Parse and check the header of the region at @p base of @p bytes bytes
 * (the live region or a private copy of it).  @return 0 or
 * PRDSHM_ECORRUPT. */
int prdshm__phase_geom_parse(unsigned char *base, uint64_t bytes, struct geom *g);
/* The geometry of @p seg's region; the region must lie inside the mapping.
 * @return 0, PRDSHM_EINVAL (no segment) or PRDSHM_ECORRUPT. */
int prdshm__phase_geom_load(struct prdshm_seg *seg, struct geom *g);

/* The layout of the region for @p cfg. */
void prdshm__phase_compute_layout(const prdshm_config *cfg, struct layout *L);
/* Arena bytes for the index arrays of @p cfg's plan (they come first). */
uint64_t prdshm__phase_arena_ints(const prdshm_config *cfg);

/* Index list of @p cnt entries at arena offset @p off; NULL (and *n = 0)
 * if it does not lie in the arena.  Each index must still be checked
 * < g->n. */
const uint32_t *prdshm__phase_idx_list(const struct geom *g, uint32_t off, uint32_t cnt,
				       uint32_t *n);
/* Phase @p i's dependencies and dependants, as prdshm__phase_idx_list(). */
const uint32_t *prdshm__phase_deps_of(const struct geom *g, uint32_t i, uint32_t *n);
const uint32_t *prdshm__phase_dependants_of(const struct geom *g, uint32_t i, uint32_t *n);
/* 1 if arena string @p s lies in the arena (NIL counts as valid). */
int prdshm__phase_str_ok(const struct geom *g, struct prdshm__str s);
/* A bounded copy of phase @p i's id, for messages. */
static inline const char *pid_of(const struct geom *g, uint32_t i, char buf[PRDSHM_ID_MAX + 1])
{
	memcpy(buf, g->ph[i].id, PRDSHM_ID_MAX);
	buf[PRDSHM_ID_MAX] = '\0';
	return buf;
}

static inline const char *sname(uint32_t status)
{
	const char *s = prdshm_phase_status_name((int)status);

	return s ? s : "INVALID";
}

static inline int is_done(uint32_t s)
{
	return s == CO || s == SK;
}

/* A status that blocks the dependants. */
static inline int is_bad(uint32_t s)
{
	return s == FA || s == CA || s == BL;
}

static inline int is_open(uint32_t s)
{
	return s == NS || s == QU || s == IP;
}

/* The statuses that follow from the dependencies. */
static inline int settles(uint32_t s)
{
	return s == NS || s == QU || s == BL;
}
#endif
