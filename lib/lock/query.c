/*
 * query.c: who holds or waits for a resource (prdshm__shm_lock_query()), and
 * the copy of a lock record into a prdshm_holder that it and the
 * whole-segment snapshot (lib/ops/snapshot.c) hand out.
 */
#include <stdio.h>
#include <string.h>

#include "base/abi.h"
#include "lock/locktable.h"
#include "lock/table.h"
#include "session/session.h"

void prdshm__copy_record(struct prdshm_seg *seg, const struct prdshm__rec *r, prdshm_holder *h)
{
	uint32_t sess = r->sess;

	memset(h, 0, sizeof(*h));
	h->struct_size = sizeof(*h);
	memcpy(h->phase_id, r->phase, PRDSHM_ID_MAX);
	h->phase_id[PRDSHM_ID_MAX] = '\0';
	if (sess < prdshm__sessions(seg)->max_agents &&
	    __atomic_load_n(&prdshm__sessions(seg)->agents[sess].gen, __ATOMIC_ACQUIRE) != r->gen) {
		/* The slot has a new owner since: its id and pid would name
		 * the wrong agent. */
		prdshm__strlcpy(h->agent_id, "?", sizeof(h->agent_id));
	} else {
		prdshm__agent_id(seg, sess, h->agent_id);
		h->pid = sess < prdshm__sessions(seg)->max_agents ? prdshm__sessions(seg)->agents[sess].pid : 0;
	}
	h->slot = (int32_t)sess;
	h->mode = r->mode == PRDSHM_EXCLUSIVE ? PRDSHM_EXCLUSIVE : PRDSHM_SHARED;
	h->waiting = prdshm__rec_state(r) != PRDSHM__REC_HELD ||
		     (r->flags & PRDSHM__REC_UPGRADING);
	if (r->flags & PRDSHM__REC_UPGRADING)
		h->mode = PRDSHM_EXCLUSIVE;
	h->alive = prdshm__session_alive(seg, sess, r->gen);
	h->released = prdshm__rec_state(r) == PRDSHM__REC_RELEASED;
	/* Atomic: a holder taking its record back writes it without the
	 * mutex. */
	h->since_ns = __atomic_load_n(&r->since_ns, __ATOMIC_RELAXED);
}

void prdshm__describe_holder(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri,
			     char *buf, size_t size)
{
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	uint32_t n = prdshm__locks(seg)->recs_per_part;
	uint32_t i = prdshm__part_slots(prdshm__locks(seg), p)[si].head;
	prdshm_holder h;

	buf[0] = '\0';
	for (uint32_t k = 0; i < n && k < n; k++, i = recs[i].next) {
		if (i == ri || !holds(prdshm__rec_state(&recs[i])) ||
		    !prdshm__modes_conflict(recs[i].mode, recs[ri].mode))
			continue;
		prdshm__copy_record(seg, &recs[i], &h);
		snprintf(buf, size, ": held by %s (pid %d%s%s, %s%s)", h.agent_id, (int)h.pid,
			 h.phase_id[0] ? ", phase " : "", h.phase_id,
			 h.mode == PRDSHM_EXCLUSIVE ? "EXCLUSIVE" : "SHARED",
			 h.alive ? "" : ", dead");
		return;
	}
}

/*
 * Copy record @p x out to element @p i of the caller's array @p out, whose
 * stride is out[0].struct_size (see "ABI" in prdshm.h): the caller may have
 * been compiled against a shorter or longer prdshm_holder than ours.
 */
static void holder_out(struct prdshm_seg *seg, const struct prdshm__rec *x, prdshm_holder *out,
		       size_t i)
{
	uint32_t stride = prdshm__abi_size(out);
	char *dst = (char *)out + i * stride;
	prdshm_holder h;

	prdshm__copy_record(seg, x, &h);
	memcpy(dst, &stride, sizeof(stride));
	prdshm__abi_copy_out(dst, &h, sizeof(h));
}

int prdshm__shm_lock_query(prdshm_seg *seg, const char *resource, prdshm_mode mode,
		      prdshm_holder *out, size_t cap, size_t *n)
{
	size_t len, count = 0;
	uint32_t hash, p, si, i;
	struct prdshm__rec *recs;
	int r;

	prdshm__call_begin();
	if (seg == NULL || n == NULL || (cap > 0 && out == NULL))
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_lock_query: NULL argument");
	if (cap > 0) {
		r = prdshm__abi_check(out, PRDSHM_HOLDER_SIZE_1_0, "prdshm_holder",
				      "prdshm_lock_query");
		if (r)
			return r;
	}
	r = name_key(resource, &len, &hash);
	if (r)
		return r;
	p = part_of(seg, hash);
	r = part_lock(seg, p, -1);
	if (r)
		return r;
	recs = prdshm__part_recs(prdshm__locks(seg), p);
	si = slot_find(seg, p, resource, len, hash);
	i = si == PRDSHM__NIL ? PRDSHM__NIL : prdshm__part_slots(prdshm__locks(seg), p)[si].head;
	for (uint32_t k = 0; i < prdshm__locks(seg)->recs_per_part && k < prdshm__locks(seg)->recs_per_part; k++) {
		const struct prdshm__rec *x = &recs[i];

		i = x->next;
		if (prdshm__rec_state(x) == PRDSHM__REC_RELEASED)
			continue;
		/* A new request queues last: everything conflicting blocks it. */
		if (mode && !prdshm__modes_conflict(prdshm__rec_effective_mode(x), mode))
			continue;
		if (count < cap)
			holder_out(seg, x, out, count);
		count++;
	}
	part_unlock(seg, p);
	*n = count;
	return 0;
}
