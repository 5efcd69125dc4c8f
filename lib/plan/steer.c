/*
 * steer.c: the status changes asked for by callers: an agent completes or
 * fails the phase it holds, an agent or the operator retries, cancels or
 * skips a phase by hand (prdshm__shm_phase_set()), on shared memory: the
 * phase mutex around the operations of image.c.  The rules are the
 * transition table's (state.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "shm/robust.h"
#include "base/util.h"
#include "plan/repair.h"
#include "session/session.h"

/* ------------------------------------------------------------------------ */
/* Complete, fail, set                                                      */

/* Finish the session's phase @p i as @p to (COMPLETED or FAILED). */
static int finish(prdshm_session *s, int32_t index, uint32_t to, int exit_status,
		  const char *message)
{
	struct repair_ctx rc;
	struct geom g;
	struct op op;
	int r = prdshm__session_ok(s);
	struct prdshm__plan_holder h;

	if (r)
		return r;
	h = (struct prdshm__plan_holder){ (int32_t)s->slot, s->gen, s->id };
	prdshm__phase_repair_ctx_init(&rc, s);
	r = prdshm__phase_lock_rw(s->seg, &g, &rc);
	if (r)
		return r;
	prdshm__phase_op_init(&op, s->id);
	r = prdshm__phase_finish_core(s->seg, &g, &h, index, to, exit_status, message, &op);
	prdshm__phase_unlock(&g, &op);
	return r;
}

int prdshm__shm_phase_complete(prdshm_session *s, int32_t index)
{
	prdshm__call_begin();
	return finish(s, index, CO, 0, NULL);
}

int prdshm__shm_phase_fail(prdshm_session *s, int32_t index, int exit_status, const char *message)
{
	prdshm__call_begin();
	return finish(s, index, FA, exit_status, message);
}

int prdshm__shm_phase_set(prdshm_seg *seg, prdshm_session *s, const char *id,
		     prdshm_phase_status to)
{
	struct repair_ctx rc;
	struct geom g;
	struct op op;
	int r;

	prdshm__call_begin();
	r = s ? prdshm__session_ok(s) : 0;
	if (r)
		return r;
	if (!prdshm__valid_id(id))
		return prdshm__fail(PRDSHM_ENOPHASE, "invalid phase id");
	if ((int)to < 0 || (int)to >= NSTATUS)
		return prdshm__fail(PRDSHM_EINVAL, "phase status %d out of range", (int)to);
	prdshm__phase_repair_ctx_init(&rc, s);
	r = prdshm__phase_lock_rw(seg, &g, &rc);
	if (r)
		return r;
	prdshm__phase_op_init(&op, s ? s->id : NULL);
	r = prdshm__phase_set_core(seg, &g, id, to, &op);
	prdshm__phase_unlock(&g, &op);
	return r;
}
