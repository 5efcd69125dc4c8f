/*
 * deadlock.c: detecting a cycle in the waits-for graph across sessions.
 *
 * Like PostgreSQL, the check runs only after a request has waited for
 * deadlock_timeout_ms, so the common case pays nothing.  It takes every
 * partition mutex in ascending order (the only place that holds more than
 * one), so nothing is granted or queued while it looks, and checks are
 * serialised: when two requests of a cycle both check, the first withdraws
 * and the second then finds no cycle.  Only releases without the mutex can
 * happen meanwhile; they remove edges, never add them (see blocks()), so a
 * cycle found existed when the search began.  A member of a real cycle is
 * waiting, so only another thread of its session can release meanwhile and
 * break the cycle; the request is then withdrawn with PRDSHM_EDEADLK although
 * it would have been granted (as with any detector, a cycle can also break
 * right after a check).
 *
 * Nodes are sessions; session u waits for session v when v has a record on
 * the slot u waits on that blocks u's record (see grantable() in
 * wait.c: an earlier conflicting record, or a later conflicting hold).
 * A session waits on at most one record at a time.  And a session waits
 * for each live child (lib/session/family.c): a parent that started a
 * command under its locks waits for it to end before it releases them, so
 * a child's wait counts as its parent's (prdshm.h, "Nested locks").  Only
 * that way: a child does not wait for its parent, except on a lock.
 *
 * The request is named by its record's index and allocation (the use count
 * in the record's state word), not by the index and session alone: while
 * it slept, another thread of its session may have released it and a
 * sibling's new request taken the same record, which this check must not
 * withdraw.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lock/locktable.h"
#include "lock/table.h"
#include "shm/robust.h"
#include "session/session.h"
#include "base/util.h"

/* A waiting record: partition, record index, owning session. */
struct wait_ref {
	uint32_t p, ri, sess;
};

struct dfs {
	struct prdshm_seg *seg;
	struct wait_ref *waits; /* every waiting record, sorted by session */
	size_t nwaits;
	uint32_t *first;   /* first[u]..first[u + 1]: session u's waiting records */
	uint32_t *parent;  /* session that reached this one, NIL = unvisited */
	uint8_t *as_child; /* 1 if that was its parent waiting for it, not a lock */
	uint32_t *kid;     /* kid[u]: u's first live child, kid[n + c]: c's next
			    * sibling (NIL ends) */
	uint32_t *stack;
	uint32_t nstack;
	struct wait_ref start; /* the request being checked */
};

static int lock_all(struct prdshm_seg *seg, uint32_t *nlocked)
{
	for (*nlocked = 0; *nlocked < prdshm__locks(seg)->nparts; (*nlocked)++) {
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

static int wait_cmp(const void *x, const void *y)
{
	const struct wait_ref *a = x, *b = y;

	return a->sess < b->sess ? -1 : a->sess > b->sess;
}

static int is_waiting(const struct prdshm__rec *r)
{
	uint32_t st = prdshm__rec_state(r);

	return st == PRDSHM__REC_WAITING ||
	       (st == PRDSHM__REC_HELD && (r->flags & PRDSHM__REC_UPGRADING));
}

/* Every waiting record of a current session, grouped by session: threads
 * sharing a session may each wait on a record.  @return 0 or ENOMEM. */
static int collect_waits(struct dfs *d)
{
	struct prdshm_seg *seg = d->seg;
	size_t cap = 64;

	d->waits = malloc(cap * sizeof(*d->waits));
	if (d->waits == NULL)
		return PRDSHM_ENOMEM;
	for (uint32_t p = 0; p < prdshm__locks(seg)->nparts; p++) {
		struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);

		for (uint32_t i = 0; i < prdshm__locks(seg)->recs_per_part; i++) {
			struct prdshm__rec *r = &recs[i];

			if (r->sess >= prdshm__sessions(seg)->max_agents || r->slot >= prdshm__locks(seg)->slots_per_part ||
			    !is_waiting(r) ||
			    __atomic_load_n(&prdshm__sessions(seg)->agents[r->sess].gen, __ATOMIC_ACQUIRE) != r->gen)
				continue;
			if (d->nwaits == cap) {
				struct wait_ref *w = realloc(d->waits, 2 * cap * sizeof(*w));
				if (w == NULL)
					return PRDSHM_ENOMEM;
				d->waits = w;
				cap *= 2;
			}
			d->waits[d->nwaits++] = (struct wait_ref){ p, i, r->sess };
		}
	}
	qsort(d->waits, d->nwaits, sizeof(*d->waits), wait_cmp);
	for (uint32_t u = 0, k = 0; u <= prdshm__sessions(seg)->max_agents; u++) {
		while (k < d->nwaits && d->waits[k].sess < u)
			k++;
		d->first[u] = k;
	}
	return 0;
}

/* Link every live child session to its parent: the parent waits for it.
 * Read without sess_mutex, as liveness is (family.c). */
static void collect_children(struct dfs *d)
{
	struct prdshm_seg *seg = d->seg;
	struct prdshm__agent *agents = prdshm__sessions(seg)->agents;
	uint32_t n = prdshm__sessions(seg)->max_agents;

	for (uint32_t u = 0; u < 2 * n; u++)
		d->kid[u] = PRDSHM__NIL;
	for (uint32_t c = 0; c < n; c++) {
		uint32_t gen = __atomic_load_n(&agents[c].gen, __ATOMIC_ACQUIRE);
		uint32_t ps, pg;

		if (!prdshm__session_parent(seg, c, gen, &ps, &pg) || ps == c ||
		    __atomic_load_n(&agents[ps].gen, __ATOMIC_ACQUIRE) != pg ||
		    !prdshm__session_alive(seg, c, gen))
			continue;
		d->kid[n + c] = d->kid[ps];
		d->kid[ps] = c;
	}
}

/* As grantable() in wait.c, RELEASED records aside.  Holders may turn
 * RELEASED under us (they release without the mutex), and take a release
 * back only while no one waits for the resource, or for an instant before
 * they see the waiter and give it back (lock_reclaim): so every edge this
 * search follows was real when it began, or for that instant while it
 * ran.  The verdict may be stale by the time it is given (see
 * docs/design.md). */
static int blocks(const struct prdshm__rec *me, const struct prdshm__rec *x, int before)
{
	uint32_t st = prdshm__rec_state(x);

	if (st == PRDSHM__REC_RELEASED)
		return 0;
	if (me->flags & PRDSHM__REC_UPGRADING)
		return st == PRDSHM__REC_HELD;
	if (before)
		return prdshm__modes_conflict(prdshm__rec_effective_mode(x), me->mode);
	return st == PRDSHM__REC_HELD && prdshm__modes_conflict(x->mode, me->mode);
}

/* Push the sessions that waiting record @p w (of session u) waits for.
 * Dead sessions are skipped: their records are about to be swept and wait
 * for nobody.  @return 1 if one of them is @p target (the cycle closes). */
static int expand_record(struct dfs *d, struct wait_ref w, uint32_t target)
{
	struct prdshm_seg *seg = d->seg;
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), w.p);
	const struct prdshm__rec *me = &recs[w.ri];
	uint32_t i = prdshm__part_slots(prdshm__locks(seg), w.p)[me->slot].head;
	int before = 1;

	for (uint32_t n = 0; i < prdshm__locks(seg)->recs_per_part && n < prdshm__locks(seg)->recs_per_part; n++) {
		const struct prdshm__rec *x = &recs[i];
		uint32_t v = x->sess;

		if (i == w.ri) {
			before = 0;
		} else if (v < prdshm__sessions(seg)->max_agents && v != w.sess && blocks(me, x, before) &&
			   prdshm__session_alive(seg, v, x->gen)) {
			if (v == target) {
				d->parent[target] = w.sess;
				return 1;
			}
			if (d->parent[v] == PRDSHM__NIL) {
				d->parent[v] = w.sess;
				d->stack[d->nstack++] = v;
			}
		}
		i = x->next;
	}
	return 0;
}

/* Push the live children of session @p u, which it waits for.  @return 1
 * if one of them is @p target (the cycle closes). */
static int expand_children(struct dfs *d, uint32_t u, uint32_t target)
{
	uint32_t n = prdshm__sessions(d->seg)->max_agents;

	for (uint32_t c = d->kid[u], k = 0; c < n && k < n; c = d->kid[n + c], k++) {
		if (c == target) {
			d->parent[target] = u;
			d->as_child[target] = 1;
			return 1;
		}
		if (d->parent[c] == PRDSHM__NIL) {
			d->parent[c] = u;
			d->as_child[c] = 1;
			d->stack[d->nstack++] = c;
		}
	}
	return 0;
}

/* Depth-first search from the request being checked for a path back to its
 * session.  Only that request counts for the start: another thread's wait
 * in the same session is not this request's cycle. */
static int find_cycle(struct dfs *d)
{
	uint32_t start = d->start.sess;

	for (uint32_t i = 0; i < prdshm__sessions(d->seg)->max_agents; i++) {
		d->parent[i] = PRDSHM__NIL;
		d->as_child[i] = 0;
	}
	d->nstack = 0;
	d->parent[start] = start;
	if (expand_record(d, d->start, start))
		return 1;
	while (d->nstack > 0) {
		uint32_t u = d->stack[--d->nstack];

		for (uint32_t k = d->first[u]; k < d->first[u + 1]; k++)
			if (expand_record(d, d->waits[k], start))
				return 1;
		if (expand_children(d, u, start))
			return 1;
	}
	return 0;
}

/* "deadlock: a -> b -> a": follow parent links back from start.  An edge
 * from a parent to its child reads "waits for its child". */
static void describe_cycle(struct dfs *d, uint32_t start, const char *resource, int rlen)
{
	char buf[400], id[PRDSHM_ID_MAX + 1];
	uint32_t chain[64], n = 0, u = start;
	size_t len;

	do {
		chain[n++] = u;
		u = d->parent[u];
	} while (u != start && u < prdshm__sessions(d->seg)->max_agents && n < 64);
	len = (size_t)snprintf(buf, sizeof(buf), "deadlock detected waiting for '%.*s': ",
			       rlen < 0 || rlen > 64 ? 64 : rlen, resource);
	/* parent links point backwards along the waits-for edges. */
	for (uint32_t k = n + 1; k-- > 0 && len < sizeof(buf);) {
		prdshm__agent_id(d->seg, chain[k % n], id);
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", id,
					k == 0		       ? ""
					: d->as_child[chain[k - 1]] ? " waits for its child "
								    : " waits for ");
	}
	prdshm__fail(PRDSHM_EDEADLK, "%s", buf);
}

/* Record @p r is still the request being checked: the same allocation
 * (@p use) of session (slot, gen).  Another thread of the session may have
 * released the request (prdshm_unlock_all) while it waited, and a sibling's
 * new request may have taken the record since: same session, same index,
 * but not the request whose wait is up.  Call holding its partition mutex. */
static int same_request(const struct prdshm__rec *r, uint64_t use, uint32_t slot, uint32_t gen)
{
	uint64_t w = __atomic_load_n(&r->state, __ATOMIC_SEQ_CST);

	return (w & ~PRDSHM__REC_STATE_MASK) == use && r->sess == slot && r->gen == gen;
}

int prdshm__deadlock_check(struct prdshm_seg *seg, uint32_t p, uint32_t ri, uint64_t use,
			   uint32_t slot, uint32_t gen)
{
	struct dfs d = { .seg = seg, .start = { p, ri, slot } };
	struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), p)[ri];
	uint32_t nlocked = 0;
	int ret;

	PRDSHM__CRASH_POINT("deadlock_check");

	d.first = calloc((size_t)prdshm__sessions(seg)->max_agents + 1, sizeof(*d.first));
	d.parent = calloc(prdshm__sessions(seg)->max_agents, sizeof(*d.parent));
	d.stack = calloc(prdshm__sessions(seg)->max_agents, sizeof(*d.stack));
	d.as_child = calloc(prdshm__sessions(seg)->max_agents, sizeof(*d.as_child));
	d.kid = calloc(2 * (size_t)prdshm__sessions(seg)->max_agents, sizeof(*d.kid));
	if (!d.first || !d.parent || !d.stack || !d.as_child || !d.kid) {
		ret = 0; /* no memory to look: keep waiting, check again later */
		goto out;
	}
	ret = lock_all(seg, &nlocked);
	if (ret)
		goto unlock;
	if (!same_request(r, use, slot, gen)) {
		ret = 0; /* the waiter finds it gone and starts over */
		goto unlock;
	}
	if (!is_waiting(r)) {
		ret = prdshm__rec_state(r) == PRDSHM__REC_HELD ? 1 : 0;
		goto unlock;
	}
	collect_children(&d);
	if (collect_waits(&d) != 0 || !find_cycle(&d)) {
		ret = 0;
		goto unlock;
	}
	{
		struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), p)[r->slot];
		describe_cycle(&d, slot, sl->name, (int)sl->name_len);
		sl->stats.deadlocks++; /* before the withdrawal may free the slot */
	}
	prdshm__part_withdraw(seg, p, ri);
	ret = PRDSHM_EDEADLK;
unlock:
	unlock_all(seg, nlocked);
out:
	free(d.waits);
	free(d.first);
	free(d.parent);
	free(d.stack);
	free(d.as_child);
	free(d.kid);
	return ret;
}
