/*
 * recovery.c: reaping dead sessions and full recovery (prdshm-cleanup).
 */
#include <stdio.h>

#include "internal/locktable.h"
#include "internal/phases.h"
#include "internal/robust.h"
#include "internal/session.h"
#include "internal/util.h"

static int reap(prdshm_seg *seg, int requeue, void (*report)(void *ctx, const char *line),
		void *ctx, size_t *nreaped)
{
	int r;

	/* Locks first, so that a phase failed below is never seen as failed
	 * while its outputs are still locked by the dead agent. */
	for (uint32_t p = 0; p < seg->nparts; p++) {
		r = prdshm__part_lock(seg, p, -1);
		if (r)
			return r;
		prdshm__part_sweep_dead(seg, p, report, ctx);
		prdshm__part_unlock(seg, p);
	}
	return prdshm__sessions_reap(seg, requeue, report, ctx, nreaped);
}

/* A live process stopped inside a critical section must not hang the
 * operator's cleanup: every mutex wait below shares one bound. */
int prdshm_reap(prdshm_seg *seg, int requeue, void (*report)(void *ctx, const char *line),
		void *ctx, size_t *nreaped)
{
	uint64_t outer;
	int r;

	if (nreaped)
		*nreaped = 0;
	if (seg == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "segment is NULL");
	outer = prdshm__wait_bound_begin(PRDSHM_RECOVER_WAIT_MS);
	r = reap(seg, requeue, report, ctx, nreaped);
	prdshm__wait_bound_end(outer);
	return r;
}

/*
 * Every mutex is taken whatever the recovery mark says (a mutex left
 * ENOTRECOVERABLE is re-created), everything derived is rebuilt from the
 * authoritative records, dead sessions are reaped, and only then is the
 * mark cleared: nobody may use a half-repaired table in between, because
 * until the end every other caller still gets PRDSHM_ERECOVER.
 *
 * A mutex held past the bound by a live process leaves the mark as it was:
 * each step done so far is complete under its own mutex, and marking a
 * sound segment would stop every live agent for nothing.
 */
static int recover(prdshm_seg *seg, void (*report)(void *ctx, const char *line), void *ctx)
{
	int r;

	r = prdshm__mutex_lock_recover(seg, &seg->hdr->sess_mutex, prdshm__sess_repair, NULL);
	if (r)
		return r;
	prdshm__sess_repair(seg, NULL);
	prdshm__sess_unlock(seg);
	for (uint32_t p = 0; p < seg->nparts; p++) {
		r = prdshm__mutex_lock_recover(seg, &seg->parts[p].mutex, prdshm__part_repair,
					       (void *)(uintptr_t)p);
		if (r)
			return r;
		prdshm__part_rebuild(seg, p);
		prdshm__part_sweep_dead(seg, p, report, ctx);
		prdshm__part_unlock(seg, p);
	}
	/* The phase region revives and rebuilds its own mutex and state. */
	r = prdshm__phases_recover(seg, report, ctx);
	if (r == 0)
		r = prdshm__sessions_reap(seg, 0, report, ctx, NULL);
	return r;
}

int prdshm_recover(prdshm_seg *seg, void (*report)(void *ctx, const char *line), void *ctx)
{
	uint64_t outer;
	int r;

	if (seg == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "segment is NULL");
	outer = prdshm__wait_bound_begin(PRDSHM_RECOVER_WAIT_MS);
	r = recover(seg, report, ctx);
	prdshm__wait_bound_end(outer);
	if (r != PRDSHM_ETIMEDOUT)
		__atomic_store_n(&seg->hdr->needs_recovery, r ? 1u : 0u, __ATOMIC_RELEASE);
	return r;
}
