/*
 * recovery.c: reaping dead sessions and full recovery (prdshm-cleanup).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "internal/locktable.h"
#include "internal/phases.h"
#include "internal/robust.h"
#include "internal/session.h"
#include "internal/util.h"

int prdshm_reap(prdshm_seg *seg, int requeue, void (*report)(void *ctx, const char *line),
		void *ctx, size_t *nreaped)
{
	int r;

	if (seg == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "segment is NULL");
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

/* A mutex left ENOTRECOVERABLE (someone unlocked it without making it
 * consistent) can only be re-initialised; nobody can hold it. */
static int revive(struct prdshm_seg *seg, struct prdshm__mutex *m)
{
	int r = pthread_mutex_trylock(&m->m);

	if (r == ENOTRECOVERABLE)
		return prdshm__mutex_init(m);
	if (r == 0)
		pthread_mutex_unlock(&m->m);
	else if (r == EOWNERDEAD) {
		pthread_mutex_consistent(&m->m);
		pthread_mutex_unlock(&m->m);
	}
	return 0;
}

int prdshm_recover(prdshm_seg *seg, void (*report)(void *ctx, const char *line), void *ctx)
{
	int r;

	if (seg == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "segment is NULL");
	revive(seg, &seg->hdr->sess_mutex);
	for (uint32_t p = 0; p < seg->nparts; p++)
		revive(seg, &seg->parts[p].mutex);
	/* Clear the mark first: the locks below refuse to work while it is
	 * set, and each of them rebuilds what it guards. */
	__atomic_store_n(&seg->hdr->needs_recovery, 0, __ATOMIC_RELEASE);
	for (uint32_t p = 0; p < seg->nparts; p++) {
		r = prdshm__part_lock(seg, p, -1);
		if (r)
			return r;
		prdshm__part_rebuild(seg, p);
		prdshm__part_sweep_dead(seg, p, report, ctx);
		prdshm__part_unlock(seg, p);
	}
	r = prdshm__sessions_reap(seg, 0, report, ctx, NULL);
	if (r == 0)
		r = prdshm__phases_recover(seg, report, ctx);
	if (r)
		__atomic_store_n(&seg->hdr->needs_recovery, 1, __ATOMIC_RELEASE);
	return r;
}
