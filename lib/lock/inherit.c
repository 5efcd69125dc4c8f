/*
 * inherit.c: the lock table's side of nested locks (prdshm.h, "Nested
 * locks"; the sessions' parent links are lib/session/family.c).  A request
 * of a session that acts for another is granted at once, ahead of any
 * queue, when an ancestor holds the resource in a mode at least as strong:
 * the ancestor already keeps out everyone the request would, and the
 * process making it runs on the ancestor's behalf, which waits for it
 * (queueing behind the ancestor's own waiters would deadlock the family).
 * The grant is a record of the child's own, so each member's release, or
 * death, ends only its own hold.
 *
 * Only sessions opened with a parent come here: the decision is made once,
 * at session open, and the lock's fast path never looks.
 */
#include "lock/table.h"
#include "session/session.h"

/* 1 if a hold in mode @p held covers a request in mode @p want. */
static int mode_covers(uint32_t held, uint32_t want)
{
	return held == PRDSHM_EXCLUSIVE || want == PRDSHM_SHARED;
}

int prdshm__nested_covered(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t pslot,
			   uint32_t pgen, uint32_t mode)
{
	const struct prdshm__locks *lt = prdshm__locks(seg);
	const struct prdshm__rec *recs = prdshm__part_recs(lt, p);
	uint32_t i = prdshm__part_slots(lt, p)[si].head;

	for (uint32_t n = 0; i < lt->recs_per_part && n < lt->recs_per_part; n++) {
		const struct prdshm__rec *x = &recs[i];

		/* Not RELEASED: a release is no hold to nest in, even if its
		 * holder may take it back (the take-back then sees a live
		 * record of the family, which is as it should be). */
		if (prdshm__rec_state(x) == PRDSHM__REC_HELD && mode_covers(x->mode, mode) &&
		    prdshm__session_descends(seg, pslot, pgen, x->sess, x->gen) &&
		    prdshm__session_alive(seg, x->sess, x->gen))
			return 1;
		i = x->next;
	}
	return 0;
}
