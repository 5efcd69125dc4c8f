/*
 * dead.c: the phases of dead sessions.  When a session dies or is reaped,
 * or reaping finds a running phase whose holder is in no live session, that
 * phase fails "agent <id> died", or goes back to QUEUED while attempts
 * remain.  The claim applies the same rule on its way (claim.c), and so
 * does the repair (repair.c).
 */
#include <stdint.h>

#include "plan/repair.h"

/* ------------------------------------------------------------------------ */
/* Dead sessions                                                            */

/* Which IN_PROGRESS phases fail_dead() fails: those of one dead session
 * (slot and generation), or with slot -1 every one whose holder is in no
 * live session. */
struct dead_sel {
	struct prdshm_seg *seg;
	int64_t slot;
	uint32_t gen;
};

static int is_alive(void *ctx, const struct prdshm__phase *p)
{
	const struct dead_sel *d = ctx;

	if (d->slot < 0)
		return prdshm__phase_holder_alive(d->seg, p, NULL);
	return p->agent_slot != (int32_t)d->slot || p->agent_gen != d->gen;
}

/* Fail (or requeue) the phases @p d selects, under the phase mutex.  All
 * phases, not the running list: reaping is rare, and this way a phase is
 * failed even if a scribble unlinked it. */
static int fail_dead(const struct dead_sel *d, int requeue,
		     void (*report)(void *ctx, const char *line), void *ctx)
{
	struct dead_sel sel = *d; /* the callback's context is not const */
	struct repair_ctx rc;
	struct geom g;
	struct op op;
	int r;

	prdshm__phase_repair_ctx_init(&rc, NULL);
	r = prdshm__phase_lock_rw(d->seg, &g, &rc);
	if (r)
		return r;
	prdshm__phase_op_init(&op, NULL);
	(void)prdshm__phase_reap_core(d->seg, &g, is_alive, &sel, requeue, &op, report, ctx);
	prdshm__phase_unlock(&g, &op);
	return 0;
}

int prdshm__phases_session_died(struct prdshm_seg *seg, uint32_t slot, uint32_t gen,
				const char *agent_id, int requeue,
				void (*report)(void *ctx, const char *line), void *ctx)
{
	const struct dead_sel d = { seg, slot, gen };

	(void)agent_id; /* the phase keeps the id its holder had at claim */
	return fail_dead(&d, requeue, report, ctx);
}

int prdshm__phases_reap_orphans(struct prdshm_seg *seg, int requeue,
			       void (*report)(void *ctx, const char *line), void *ctx)
{
	const struct dead_sel d = { seg, -1, 0 };

	return fail_dead(&d, requeue, report, ctx);
}
