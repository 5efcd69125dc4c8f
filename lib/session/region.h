/*
 * region.h: the agents region of the segment (lib/session/region.c), one
 * slot per session, and the session layer's view of it.
 *
 *   +--------------------------+  0
 *   | struct prdshm__agents_hdr|  the session mutex (sess_mutex)
 *   +--------------------------+  64
 *   | agents[max_agents]       |  struct prdshm__agent     (sess_mutex)
 *   +--------------------------+
 */
#ifndef PRDSHM_INTERNAL_SESSION_REGION_H
#define PRDSHM_INTERNAL_SESSION_REGION_H

#include <stdint.h>

#include "shm/segment.h"

/* Its index in the shm backend's region list (lib/ops/regions.c). */
#define PRDSHM__REGION_AGENTS 0

struct prdshm__agents_hdr {
	/* Guards agents[] (state, gen, identity, log ring). */
	struct prdshm__mutex sess_mutex;
};
#define PRDSHM__AGENTS_HDR_FIELDS(F, S) F(S, sess_mutex)
PRDSHM__LAYOUT_CHECK(prdshm__agents_hdr, PRDSHM__AGENTS_HDR_FIELDS);

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
	/* The session this one acts for (lib/session/family.c): its slot and
	 * generation, parent_gen 0 for none.  Written at open between the
	 * bump of gen and the store of ACTIVE, fixed while the session lives,
	 * read without sess_mutex (atomic loads, gen read again after). */
	uint32_t parent;
	uint32_t parent_gen;
	uint64_t start_ns;
	uint64_t heartbeat_ns; /* written with atomic stores by the owner */
	char id[PRDSHM_ID_MAX + 1];
	char log[PRDSHM_LOG_LINES][PRDSHM_MSG_MAX + 1];
};
#define PRDSHM__AGENT_FIELDS(F, S)                                                    \
	F(S, state) F(S, gen) F(S, used) F(S, status) F(S, pid) F(S, uid) F(S, phase) \
	F(S, nlog) F(S, parent) F(S, parent_gen) F(S, start_ns) F(S, heartbeat_ns) F(S, id) F(S, log)
PRDSHM__LAYOUT_CHECK(prdshm__agent, PRDSHM__AGENT_FIELDS);

/* The session layer's view (prdshm__seg_view()), bound at open. */
struct prdshm__sessions {
	struct prdshm__mutex *mutex; /* sess_mutex */
	struct prdshm__agent *agents;
	uint32_t max_agents;         /* validated copy of hdr->max_agents */
};
_Static_assert(sizeof(struct prdshm__sessions) <= PRDSHM__VIEW_BYTES, "view too large");

static inline struct prdshm__sessions *prdshm__sessions(const struct prdshm_seg *seg)
{
	return (struct prdshm__sessions *)prdshm__seg_view(seg, PRDSHM__REGION_AGENTS);
}

extern const struct prdshm__region_type prdshm__agents_region;
#endif
