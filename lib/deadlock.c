/*
 * deadlock.c: detecting a cycle in the waits-for graph across sessions.
 *
 * Like PostgreSQL, the check runs only after a request has waited for
 * deadlock_timeout_ms, so the common case pays nothing.  It takes every
 * partition mutex in ascending order (the only place that holds more than
 * one), so the graph it sees is consistent and checks are serialised: when
 * two requests of a cycle both check, the first withdraws and the second
 * then finds no cycle.
 *
 * Nodes are sessions; session u waits for session v when v has a record on
 * the slot u waits on that blocks u's record (see grantable() in
 * locktable.c: an earlier conflicting record, or a later conflicting hold).
 * A session waits on at most one record at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/futex.h"
#include "internal/locktable.h"
#include "internal/session.h"
#include "internal/util.h"

struct wait_ref {
	uint32_t p, ri; /* the record session i waits on; p = NIL if none */
};

struct dfs {
	struct prdshm_seg *seg;
	struct wait_ref *waits;
	uint32_t *parent;  /* session that reached this one, NIL = unvisited */
	uint32_t *stack;
	uint32_t nstack;
};

static int lock_all(struct prdshm_seg *seg, uint32_t *nlocked)
{
	for (*nlocked = 0; *nlocked < seg->nparts; (*nlocked)++) {
		int r = prdshm__part_lock(seg, *nlocked, -1);
		if (r)
			return r;
	}
	return 0;
}

static void unlock_all(struct prdshm_seg *seg, uint32_t nlocked)
{
	while (nlocked-- > 0)
		prdshm__part_unlock(seg, nlocked);
}

/* Which record each live session waits on. */
static void collect_waits(struct prdshm_seg *seg, struct wait_ref *waits)
{
	for (uint32_t i = 0; i < seg->max_agents; i++)
		waits[i].p = PRDSHM__NIL;
	for (uint32_t p = 0; p < seg->nparts; p++) {
		struct prdshm__rec *recs = prdshm__part_recs(seg, p);

		for (uint32_t i = 0; i < seg->recs_per_part; i++) {
			struct prdshm__rec *r = &recs[i];

			if (r->sess >= seg->max_agents || r->slot >= seg->slots_per_part)
				continue;
			if (r->state != PRDSHM__REC_WAITING && !(r->flags & PRDSHM__REC_UPGRADING))
				continue;
			if (seg->agents[r->sess].gen != r->gen)
				continue;
			waits[r->sess].p = p;
			waits[r->sess].ri = i;
		}
	}
}

static int blocks(const struct prdshm__rec *me, const struct prdshm__rec *x, int before)
{
	if (me->flags & PRDSHM__REC_UPGRADING)
		return x->state == PRDSHM__REC_HELD;
	if (before)
		return prdshm__modes_conflict(prdshm__rec_effective_mode(x), me->mode);
	return x->state == PRDSHM__REC_HELD && prdshm__modes_conflict(x->mode, me->mode);
}

/* Push the sessions that session @p u waits for.  @return 1 if one of them
 * is @p target (the cycle closes). */
static int expand(struct dfs *d, uint32_t u, uint32_t target)
{
	struct prdshm_seg *seg = d->seg;
	struct wait_ref w = d->waits[u];
	struct prdshm__rec *recs;
	const struct prdshm__rec *me;
	uint32_t i;
	int before = 1;

	if (w.p == PRDSHM__NIL)
		return 0;
	recs = prdshm__part_recs(seg, w.p);
	me = &recs[w.ri];
	i = prdshm__part_slots(seg, w.p)[me->slot].head;
	for (uint32_t n = 0; i < seg->recs_per_part && n < seg->recs_per_part; n++) {
		const struct prdshm__rec *x = &recs[i];
		uint32_t v = x->sess;

		if (i == w.ri) {
			before = 0;
		} else if (v < seg->max_agents && v != u && blocks(me, x, before) &&
			   seg->agents[v].gen == x->gen) {
			if (v == target) {
				d->parent[target] = u;
				return 1;
			}
			if (d->parent[v] == PRDSHM__NIL) {
				d->parent[v] = u;
				d->stack[d->nstack++] = v;
			}
		}
		i = x->next;
	}
	return 0;
}

/* Depth-first search from @p start for a path back to it. */
static int find_cycle(struct dfs *d, uint32_t start)
{
	for (uint32_t i = 0; i < d->seg->max_agents; i++)
		d->parent[i] = PRDSHM__NIL;
	d->nstack = 0;
	d->parent[start] = start;
	d->stack[d->nstack++] = start;
	while (d->nstack > 0) {
		uint32_t u = d->stack[--d->nstack];

		if (expand(d, u, start))
			return 1;
	}
	return 0;
}

/* "deadlock: a -> b -> a": follow parent links back from start. */
static void describe_cycle(struct dfs *d, uint32_t start, const char *resource, int rlen)
{
	char buf[400], id[PRDSHM_ID_MAX + 1];
	uint32_t chain[64], n = 0, u = start;
	size_t len;

	do {
		chain[n++] = u;
		u = d->parent[u];
	} while (u != start && u < d->seg->max_agents && n < 64);
	len = (size_t)snprintf(buf, sizeof(buf), "deadlock detected waiting for '%.*s': ",
			       rlen > 64 ? 64 : rlen, resource);
	/* parent links point backwards along the waits-for edges. */
	for (uint32_t k = n + 1; k-- > 0 && len < sizeof(buf);) {
		prdshm__agent_id(d->seg, chain[k % n], id);
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", id,
					k ? " waits for " : "");
	}
	prdshm__fail(PRDSHM_EDEADLK, "%s", buf);
}

/* Withdraw the waiting record (or upgrade) after a deadlock. */
static void withdraw_locked(struct prdshm_seg *seg, uint32_t p, uint32_t ri)
{
	struct prdshm__rec *r = &prdshm__part_recs(seg, p)[ri];
	struct prdshm__slot *sl = &prdshm__part_slots(seg, p)[r->slot];
	struct prdshm__rec *recs = prdshm__part_recs(seg, p);
	uint32_t *link = &sl->head;

	if (r->flags & PRDSHM__REC_UPGRADING) {
		r->flags &= ~(uint32_t)PRDSHM__REC_UPGRADING;
		sl->nwaiting--;
	} else {
		while (*link < seg->recs_per_part && *link != ri)
			link = &recs[*link].next;
		if (*link == ri)
			*link = r->next;
		sl->nwaiting--;
		r->state = PRDSHM__REC_FREE;
		r->next = seg->parts[p].free_rec;
		seg->parts[p].free_rec = ri;
		seg->parts[p].nrecs--;
		/* A slot left without records is freed by the next rebuild or
		 * release; it cannot be empty here, since something blocked us. */
	}
	prdshm__doorbell_ring(&sl->doorbell);
	prdshm__futex_wake_all(&sl->doorbell);
}

int prdshm__deadlock_check(struct prdshm_seg *seg, uint32_t p, uint32_t ri, uint32_t slot,
			   uint32_t gen)
{
	struct dfs d = { .seg = seg };
	struct prdshm__rec *r = &prdshm__part_recs(seg, p)[ri];
	uint32_t nlocked;
	int ret;

	d.waits = calloc(seg->max_agents, sizeof(*d.waits));
	d.parent = calloc(seg->max_agents, sizeof(*d.parent));
	d.stack = calloc(seg->max_agents, sizeof(*d.stack));
	if (!d.waits || !d.parent || !d.stack) {
		ret = 0; /* no memory to look: keep waiting, check again later */
		goto out;
	}
	ret = lock_all(seg, &nlocked);
	if (ret)
		goto unlock;
	if (r->sess != slot || r->gen != gen ||
	    (r->state != PRDSHM__REC_WAITING && !(r->flags & PRDSHM__REC_UPGRADING))) {
		ret = r->state == PRDSHM__REC_HELD ? 1 : 0;
		goto unlock;
	}
	collect_waits(seg, d.waits);
	if (!find_cycle(&d, slot)) {
		ret = 0;
		goto unlock;
	}
	{
		const struct prdshm__slot *sl = &prdshm__part_slots(seg, p)[r->slot];
		describe_cycle(&d, slot, sl->name, (int)sl->name_len);
	}
	withdraw_locked(seg, p, ri);
	ret = PRDSHM_EDEADLK;
unlock:
	unlock_all(seg, nlocked);
out:
	free(d.waits);
	free(d.parent);
	free(d.stack);
	return ret;
}
