/*
 * family.c: sessions that act for another.  A process started under a held
 * lock (a command of prdshm-lock, a phase command of prdshm-agent) finds
 * its parent's identity in PRDSHM_PARENT_SESSION, and a session it opens
 * records that parent in its slot of the agents table.  The lock layer
 * reads the links: a child's request that an ancestor's hold covers is
 * granted at once (lib/lock/inherit.c), and a parent waits for its live
 * children in the waits-for graph (lib/lock/deadlock.c).  The contract is
 * in prdshm.h, "Nested locks".
 *
 * The links are read without sess_mutex, from any partition's critical
 * section: a slot's parent fields are written at open between the bump of
 * its generation and the store of ACTIVE, so a reader that sees the slot
 * ACTIVE in the generation it expects, reads the fields and then the same
 * generation again has read that session's parent (a seqlock on gen).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/session.h"
#include "base/util.h"

/* One decimal field of the variable, ended by ':'.  @return the next
 * field, NULL if this one does not parse. */
static const char *field_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return NULL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno || *end != ':' || *v > max)
		return NULL;
	return end + 1;
}

/* "SLOT:GEN:CREATED_NS:SHM_NAME" naming segment @p seg: 1 and *@p slot,
 * *@p gen set. */
static int parse_parent(const struct prdshm_seg *seg, const char *v, uint32_t *slot,
			uint32_t *gen)
{
	uint64_t sl, g, created;

	v = field_u64(v, UINT32_MAX, &sl);
	if (v)
		v = field_u64(v, UINT32_MAX, &g);
	if (v)
		v = field_u64(v, UINT64_MAX, &created);
	if (v == NULL || g == 0 || strcmp(v, seg->name) != 0 ||
	    created != seg->hdr->created_ns)
		return 0;
	*slot = (uint32_t)sl;
	*gen = (uint32_t)g;
	return 1;
}

int prdshm__family_parent_from_env(struct prdshm_seg *seg, unsigned flags, uint32_t *slot,
				   uint32_t *gen)
{
	const char *v = (flags & PRDSHM_SESSION_INDEPENDENT) ? NULL : getenv(PRDSHM_PARENT_ENV);
	const struct prdshm__agent *a;

	if (v == NULL || !parse_parent(seg, v, slot, gen) ||
	    *slot >= prdshm__sessions(seg)->max_agents)
		return 0;
	/* Under sess_mutex: the slot cannot change hands meanwhile.  A parent
	 * that died without closing is still ACTIVE; acting for it is
	 * harmless, as its records are swept like any dead session's. */
	a = &prdshm__sessions(seg)->agents[*slot];
	return a->state == PRDSHM__SLOT_ACTIVE && a->gen == *gen;
}

int prdshm__session_parent(struct prdshm_seg *seg, uint32_t slot, uint32_t gen, uint32_t *pslot,
			   uint32_t *pgen)
{
	struct prdshm__agent *a = prdshm__session_current(seg, slot, gen);

	if (a == NULL)
		return 0;
	/* Acquire loads, so that the second read of gen comes after them (no
	 * fence: ThreadSanitizer builds refuse one). */
	*pslot = __atomic_load_n(&a->parent, __ATOMIC_ACQUIRE);
	*pgen = __atomic_load_n(&a->parent_gen, __ATOMIC_ACQUIRE);
	return __atomic_load_n(&a->gen, __ATOMIC_RELAXED) == gen && *pgen != 0 &&
	       *pslot < prdshm__sessions(seg)->max_agents;
}

int prdshm__session_descends(struct prdshm_seg *seg, uint32_t pslot, uint32_t pgen,
			     uint32_t aslot, uint32_t agen)
{
	/* A parent opened before its child, so links never loop while the
	 * generations match; the bound is for a scribbled-on table. */
	for (uint32_t n = 0; n < prdshm__sessions(seg)->max_agents; n++) {
		uint32_t s = pslot, g = pgen;

		if (s == aslot && g == agen)
			return 1;
		if (!prdshm__session_parent(seg, s, g, &pslot, &pgen))
			return 0;
	}
	return 0;
}

uint32_t prdshm__session_root(struct prdshm_seg *seg, uint32_t slot, uint32_t gen)
{
	uint32_t ps, pg;

	for (uint32_t n = 0; n < prdshm__sessions(seg)->max_agents; n++) {
		if (!prdshm__session_parent(seg, slot, gen, &ps, &pg) ||
		    __atomic_load_n(&prdshm__sessions(seg)->agents[ps].gen, __ATOMIC_ACQUIRE) != pg)
			break;
		slot = ps;
		gen = pg;
	}
	return slot;
}

int prdshm__session_env(const prdshm_session *s, char *buf, size_t size)
{
	int n;

	prdshm__call_begin();
	if (s == NULL || buf == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_session_env: NULL argument");
	n = snprintf(buf, size, "%" PRIu32 ":%" PRIu32 ":%" PRIu64 ":%s", s->slot, s->gen,
		     s->seg->hdr->created_ns, s->seg->name);
	return prdshm__session_env_fit(buf, size, n);
}

int prdshm__session_env_fit(char *buf, size_t size, int n)
{
	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			buf[0] = '\0';
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_session_env: %zu bytes are too few",
				    size);
	}
	return 0;
}
