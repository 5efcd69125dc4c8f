/*
 * check.c: the invariants of the segment, checked for prdshm-inspect --check
 * and the tests.  Like inspection it never waits long for a mutex.  The
 * problems found under a mutex reach the caller's callback once it is
 * released (see base/report.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lock/locktable.h"
#include "ops/ops.h"
#include "plan/phases.h"
#include "base/report.h"
#include "session/session.h"
#include "base/util.h"

#define CHECK_LOCK_MS 200

struct checker {
	struct prdshm_seg *seg;
	void (*report)(void *ctx, int severity, const char *problem);
	void *ctx;
	int worst; /* 0, PRDSHM_CHECK_WARN or PRDSHM_CHECK_ERROR */
	int nproblems;
	struct prdshm__msgq queue; /* problems not yet given to report */
};

static void problem(struct checker *c, int severity, const char *fmt, ...)
	PRDSHM__PRINTF(3, 4);

static void problem(struct checker *c, int severity, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (severity > c->worst)
		c->worst = severity;
	c->nproblems++;
	if (c->report)
		prdshm__msgq_add(&c->queue, severity, buf);
}

/* Give the problems found so far to the caller.  Call holding no mutex. */
static void deliver(struct checker *c)
{
	prdshm__msgq_flush(&c->queue, c->report, c->ctx);
}

/* Walk slot @p si's record list, checking each record and the counters. */
static uint32_t check_slot(struct checker *c, uint32_t p, uint32_t si)
{
	struct prdshm_seg *seg = c->seg;
	const struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), p)[si];
	const struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	uint32_t nshared = 0, nexcl = 0, nwaiting = 0, n = 0, i = sl->head;
	uint32_t live_shared = 0, live_excl = 0;
	/* The family of the first live hold, and whether another family holds
	 * too: the members of one family nest their holds (prdshm.h, "Nested
	 * locks"), so mutual exclusion is between families. */
	uint32_t family = PRDSHM__NIL;
	int families = 0;
	uint64_t lastseq = 0;
	int nl = (int)(sl->name_len > 64 ? 64 : sl->name_len);

	for (; i < prdshm__locks(seg)->recs_per_part && n <= prdshm__locks(seg)->recs_per_part; n++) {
		const struct prdshm__rec *r = &recs[i];

		uint32_t st = prdshm__rec_state(r);

		if (st == PRDSHM__REC_FREE)
			problem(c, PRDSHM_CHECK_ERROR, "lock '%.*s': free record %u on its list", nl,
				sl->name, i);
		if (r->slot != si || r->sess >= prdshm__sessions(seg)->max_agents)
			problem(c, PRDSHM_CHECK_ERROR, "lock '%.*s': record %u points elsewhere", nl,
				sl->name, i);
		if (n > 0 && r->seq <= lastseq)
			problem(c, PRDSHM_CHECK_ERROR, "lock '%.*s': records out of FIFO order", nl,
				sl->name);
		lastseq = r->seq;
		/* The counters count a RELEASED record as held until it is
		 * collected; mutual exclusion counts only the live holds. */
		if (st == PRDSHM__REC_HELD || st == PRDSHM__REC_RELEASED) {
			if (r->mode == PRDSHM_EXCLUSIVE)
				nexcl++;
			else
				nshared++;
		}
		if (st == PRDSHM__REC_HELD && r->mode == PRDSHM_EXCLUSIVE)
			live_excl++;
		else if (st == PRDSHM__REC_HELD)
			live_shared++;
		if (st == PRDSHM__REC_HELD) {
			uint32_t root = prdshm__session_root(seg, r->sess, r->gen);

			if (family != root)
				families++;
			if (family == PRDSHM__NIL)
				family = root;
		}
		if (st == PRDSHM__REC_WAITING || (r->flags & PRDSHM__REC_UPGRADING))
			nwaiting++;
		if (st != PRDSHM__REC_RELEASED && r->sess < prdshm__sessions(seg)->max_agents &&
		    !prdshm__session_alive(seg, r->sess, r->gen)) {
			char id[PRDSHM_ID_MAX + 1];

			prdshm__agent_id(seg, r->sess, id);
			problem(c, PRDSHM_CHECK_WARN, "lock '%.*s': dead agent %s still %s it", nl,
				sl->name, id, st == PRDSHM__REC_HELD ? "holds" : "waits for");
		}
		i = r->next;
	}
	if (n > prdshm__locks(seg)->recs_per_part)
		problem(c, PRDSHM_CHECK_ERROR, "lock '%.*s': record list loops", nl, sl->name);
	if (n == 0)
		problem(c, PRDSHM_CHECK_ERROR, "lock '%.*s': in use without records", nl, sl->name);
	if (live_excl > 0 && families > 1)
		problem(c, PRDSHM_CHECK_ERROR,
			"lock '%.*s': %u exclusive and %u shared holders at once", nl, sl->name,
			live_excl, live_shared);
	if (nexcl != sl->nexcl || nshared != sl->nshared || nwaiting != sl->nwaiting)
		problem(c, PRDSHM_CHECK_ERROR, "lock '%.*s': counters disagree with records", nl,
			sl->name);
	return n;
}

/* The free lists hold exactly the unused slots and records (@p nslots and
 * @p nrecs are in use): a list cut short by a link out of range makes a
 * lock fail with ELOCKFULL in a table with room, and an entry in use on it
 * would be handed out twice.  Each walk stops after as many steps as there
 * are entries, so a loop ends too. */
static void check_free_lists(struct checker *c, uint32_t p, uint32_t nslots, uint32_t nrecs)
{
	struct prdshm_seg *seg = c->seg;
	const struct prdshm__slot *slots = prdshm__part_slots(prdshm__locks(seg), p);
	const struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	uint32_t i, n = 0;

	for (i = prdshm__locks(seg)->parts[p].free_slot; i < prdshm__locks(seg)->slots_per_part && n <= prdshm__locks(seg)->slots_per_part;
	     i = slots[i].chain, n++)
		if (slots[i].name_len != 0)
			break;
	if (i != PRDSHM__NIL || n != prdshm__locks(seg)->slots_per_part - nslots)
		problem(c, PRDSHM_CHECK_ERROR, "partition %u: free slot list corrupt (%u listed, %u free)",
			p, n, prdshm__locks(seg)->slots_per_part - nslots);
	n = 0;
	for (i = prdshm__locks(seg)->parts[p].free_rec; i < prdshm__locks(seg)->recs_per_part && n <= prdshm__locks(seg)->recs_per_part;
	     i = recs[i].next, n++)
		if (prdshm__rec_state(&recs[i]) != PRDSHM__REC_FREE)
			break;
	if (i != PRDSHM__NIL || n != prdshm__locks(seg)->recs_per_part - nrecs)
		problem(c, PRDSHM_CHECK_ERROR,
			"partition %u: free record list corrupt (%u listed, %u free)", p, n,
			prdshm__locks(seg)->recs_per_part - nrecs);
}

static void check_partition(struct checker *c, uint32_t p)
{
	struct prdshm_seg *seg = c->seg;
	const struct prdshm__slot *slots = prdshm__part_slots(prdshm__locks(seg), p);
	const struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	uint32_t nslots = 0, nrecs_listed = 0, nrecs = 0;

	for (uint32_t i = 0; i < prdshm__locks(seg)->slots_per_part; i++) {
		const struct prdshm__slot *sl = &slots[i];

		if (sl->name_len == 0)
			continue;
		nslots++;
		if (sl->name_len > PRDSHM_NAME_MAX ||
		    sl->hash != prdshm__hash(sl->name, sl->name_len)) {
			problem(c, PRDSHM_CHECK_ERROR, "partition %u slot %u: bad name or hash", p, i);
			continue;
		}
		nrecs_listed += check_slot(c, p, i);
	}
	for (uint32_t i = 0; i < prdshm__locks(seg)->recs_per_part; i++)
		nrecs += prdshm__rec_state(&recs[i]) != PRDSHM__REC_FREE;
	if (nslots != prdshm__locks(seg)->parts[p].nslots || nrecs != prdshm__locks(seg)->parts[p].nrecs)
		problem(c, PRDSHM_CHECK_ERROR, "partition %u: usage counters disagree", p);
	if (nrecs != nrecs_listed)
		problem(c, PRDSHM_CHECK_ERROR, "partition %u: %u records in use, %u on lists", p,
			nrecs, nrecs_listed);
	check_free_lists(c, p, nslots, nrecs);
}

static void check_locks(struct checker *c, unsigned flags)
{
	for (uint32_t p = 0; p < prdshm__locks(c->seg)->nparts; p++) {
		int locked = !(flags & PRDSHM_SNAP_NOLOCK) &&
			     prdshm__part_lock(c->seg, p, CHECK_LOCK_MS) == 0;

		check_partition(c, p);
		if (locked)
			prdshm__part_unlock(c->seg, p);
		deliver(c);
	}
}

static void check_agents(struct checker *c)
{
	struct prdshm_seg *seg = c->seg;

	for (uint32_t i = 0; i < prdshm__sessions(seg)->max_agents; i++) {
		const struct prdshm__agent *a = &prdshm__sessions(seg)->agents[i];
		char id[PRDSHM_ID_MAX + 1];

		/* A dead agent that holds nothing is history, not a problem:
		 * what it holds is reported by the lock and phase checks. */
		if (a->state != PRDSHM__SLOT_ACTIVE && a->state != PRDSHM__SLOT_FREE)
			problem(c, PRDSHM_CHECK_ERROR, "agent slot %u: bad state %u", i, a->state);
		if (a->status > PRDSHM_AGENT_DEAD) {
			prdshm__agent_id(seg, i, id);
			problem(c, PRDSHM_CHECK_ERROR, "agent %s: bad status %u", id, a->status);
		}
	}
}

static void phase_report(void *ctx, int severity, const char *msg)
{
	problem(ctx, severity, "%s", msg);
}

static int check(struct checker *c, unsigned flags)
{
	const char *name = c->seg->name;

	if (__atomic_load_n(&c->seg->hdr->needs_recovery, __ATOMIC_ACQUIRE)) {
		problem(c, PRDSHM_CHECK_ERROR, "segment is marked as needing recovery");
		return prdshm__fail(PRDSHM_ERECOVER, "%s is marked as needing recovery", name);
	}
	check_agents(c);
	deliver(c);
	check_locks(c, flags);
	if (prdshm__phases_check(c->seg, flags, phase_report, c) == PRDSHM_ENOMEM)
		return PRDSHM_ENOMEM;
	if (c->worst == PRDSHM_CHECK_ERROR)
		return prdshm__fail(PRDSHM_ECORRUPT, "%s: invariants broken (%d problems found)",
				    name, c->nproblems);
	if (c->worst)
		return prdshm__fail(PRDSHM_EDEADOWNER,
				    "%s: dead agents hold locks or phases (%d problems found)", name,
				    c->nproblems);
	/* A mutex not taken in time is no failure: the check read without it. */
	return prdshm__call_ok();
}

int prdshm__shm_check(prdshm_seg *seg, unsigned flags,
		 void (*report)(void *ctx, int severity, const char *problem), void *ctx)
{
	struct checker c = { .seg = seg, .report = report, .ctx = ctx };
	int r;

	prdshm__call_begin();
	if (seg == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "segment is NULL");
	r = check(&c, flags);
	deliver(&c);
	prdshm__msgq_free(&c.queue);
	return r;
}
