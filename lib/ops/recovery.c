/*
 * recovery.c: reaping dead sessions and full recovery (prdshm-cleanup).
 * What they release is reported to the caller's callback once they hold
 * no mutex and no recovery byte (see base/report.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "lock/locktable.h"
#include "ops/ops.h"
#include "plan/phases.h"
#include "ops/recovery.h"
#include "base/report.h"
#include "shm/robust.h"
#include "session/session.h"
#include "base/util.h"

/*
 * Reap slot @p i, whose owner is gone: fail or requeue its phases, then
 * mark it DEAD and FREE.  Its lock records are recognised as stale by
 * generation and swept lazily.  If a bounded reap cannot have the phase
 * mutex in time, the slot stays ACTIVE for the next reap to finish; any
 * other failure there is left to the phase region's own repair.  Call when
 * holding sess_mutex.  @return 0 or PRDSHM_ETIMEDOUT.
 */
static int reap_slot(struct prdshm_seg *seg, uint32_t i, int requeue,
		     void (*report)(void *ctx, const char *line), void *ctx)
{
	struct prdshm__agent *a = &prdshm__sessions(seg)->agents[i];
	char id[PRDSHM_ID_MAX + 1], line[160];
	int r;

	prdshm__agent_id(seg, i, id);
	if (report) {
		snprintf(line, sizeof(line), "agent %s (slot %u, pid %d) is dead", id, i,
			 (int)a->pid);
		report(ctx, line);
	}
	r = prdshm__phases_session_died(seg, i, a->gen, id, requeue, report, ctx);
	if (r == PRDSHM_ETIMEDOUT)
		return r;
	__atomic_store_n(&a->state, PRDSHM__SLOT_FREE, __ATOMIC_RELEASE);
	a->status = PRDSHM_AGENT_DEAD;
	return 0;
}

/* Reap every ACTIVE slot whose owner is gone; @p n counts them.  Call when
 * holding sess_mutex.  @return 0 or PRDSHM_ETIMEDOUT. */
int prdshm__reap_dead_slots(struct prdshm_seg *seg, int requeue,
			    void (*report)(void *ctx, const char *line), void *ctx, size_t *n)
{
	int r;

	*n = 0;
	for (uint32_t i = 0; i < prdshm__sessions(seg)->max_agents; i++) {
		if (prdshm__sessions(seg)->agents[i].state != PRDSHM__SLOT_ACTIVE || prdshm__session_slot_held(seg->fd, i))
			continue;
		r = reap_slot(seg, i, requeue, report, ctx);
		if (r)
			return r;
		(*n)++;
	}
	return 0;
}

static int sessions_reap(struct prdshm_seg *seg, int requeue,
			 void (*report)(void *ctx, const char *line), void *ctx,
			  size_t *nreaped)
{
	int r = prdshm__sess_lock(seg, -1);
	size_t n;

	if (r)
		return r;
	r = prdshm__reap_dead_slots(seg, requeue, report, ctx, &n);
	prdshm__sess_unlock(seg);
	if (nreaped)
		*nreaped = n;
	return r;
}

static int reap(prdshm_seg *seg, int requeue, void (*report)(void *ctx, const char *line),
		void *ctx, size_t *nreaped)
{
	int r;

	/* Locks first, so that a phase failed below is never seen as failed
	 * while its outputs are still locked by the dead agent. */
	for (uint32_t p = 0; p < prdshm__locks(seg)->nparts; p++) {
		r = prdshm__part_lock(seg, p, -1);
		if (r)
			return r;
		prdshm__part_sweep_dead(seg, p, report, ctx);
		prdshm__part_unlock(seg, p);
	}
	r = sessions_reap(seg, requeue, report, ctx, nreaped);
	if (r == 0)
		r = prdshm__phases_reap_orphans(seg, requeue, report, ctx);
	return r;
}

/* A live process stopped inside a critical section must not hang the
 * operator's cleanup: every mutex wait below shares one bound. */
int prdshm__shm_reap(prdshm_seg *seg, int requeue, void (*report)(void *ctx, const char *line),
		void *ctx, size_t *nreaped)
{
	struct prdshm__msgq queue = { 0 };
	uint64_t outer;
	int r;

	prdshm__call_begin();
	if (nreaped)
		*nreaped = 0;
	if (seg == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "segment is NULL");
	outer = prdshm__wait_bound_begin(PRDSHM_RECOVER_WAIT_MS);
	r = reap(seg, requeue, report ? prdshm__msgq_line : NULL, &queue, nreaped);
	prdshm__wait_bound_end(outer);
	prdshm__msgq_flush_lines(&queue, report, ctx);
	prdshm__msgq_free(&queue);
	return r;
}

#ifdef PRDSHM_TEST_HOOKS
void (*prdshm__recover_hook)(void *arg);
void *prdshm__recover_hook_arg;
#endif

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
 *
 * Call holding the recovery byte (recover_lock()): one recovery at a time
 * re-creates mutexes and rebuilds.
 */
static int recover(prdshm_seg *seg, void (*report)(void *ctx, const char *line), void *ctx)
{
	int r;

	r = prdshm__mutex_lock_recover(seg, prdshm__sessions(seg)->mutex, prdshm__sess_repair, NULL);
	if (r)
		return r;
	prdshm__sess_repair(seg, NULL);
	prdshm__sess_unlock(seg);
	for (uint32_t p = 0; p < prdshm__locks(seg)->nparts; p++) {
		r = prdshm__mutex_lock_recover(seg, &prdshm__locks(seg)->parts[p].mutex, prdshm__part_repair,
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
		r = sessions_reap(seg, 0, report, ctx, NULL);
	return r;
}

/*
 * Take the segment's recovery byte, waiting no longer than the thread's
 * bound.  Two recoveries at once would both find a mutex unrecoverable and
 * both re-create it, the second under the first one's critical section,
 * and both rebuild.  The lock is an OFD lock on a description of this
 * call's own (opened again through /proc): OFD locks belong to a
 * description, which the threads of a process, and a child that inherited
 * the handle, share, so seg->fd would not keep them apart.  Without /proc
 * it falls back to seg->fd.  A recoverer that dies releases the byte with
 * its descriptors.  @return 0 with *@p fd to pass to recover_unlock(),
 * PRDSHM_ETIMEDOUT or PRDSHM_ESYS.
 */
static int recover_lock(prdshm_seg *seg, int *fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = PRDSHM__RECOVER_BYTE, .l_len = 1 };
	char path[40];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", seg->fd);
	*fd = open(path, O_RDWR | O_CLOEXEC);
	for (;;) {
		if (fcntl(*fd >= 0 ? *fd : seg->fd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES) {
			r = prdshm__fail_errno(PRDSHM_ESYS, "%s: take the recovery lock", seg->name);
			break;
		}
		/* Polled, like the initialisation byte: F_OFD_SETLKW has no
		 * timeout. */
		if (prdshm__now_mono() >= prdshm__wait_deadline) {
			r = prdshm__fail(PRDSHM_ETIMEDOUT,
					 "%s: another prdshm_recover() is still running after %d ms",
					 seg->name, PRDSHM_RECOVER_WAIT_MS);
			break;
		}
		usleep(1000);
	}
	if (*fd >= 0)
		close(*fd);
	return r;
}

static void recover_unlock(prdshm_seg *seg, int fd)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET,
			    .l_start = PRDSHM__RECOVER_BYTE, .l_len = 1 };

	/* Explicitly: a child forked meanwhile by another thread shares our
	 * description until it execs, so closing alone would not unlock. */
	fcntl(fd >= 0 ? fd : seg->fd, F_OFD_SETLK, &fl);
	if (fd >= 0)
		close(fd);
}

/*
 * Settle the recovery mark after recover() returned @p r, @p seen being
 * the mark when it started.  Cleared only by a compare-and-swap from
 * @p seen: a mark set meanwhile (a repair failing in another process,
 * whose damage this call may have passed already) moved it, and stays.
 */
static int settle_mark(prdshm_seg *seg, uint32_t seen, int r)
{
	if (r == PRDSHM_ETIMEDOUT)
		return r; /* see recover(): left as it was */
	if (r) {
		prdshm__mark_recovery(seg->hdr);
		return r;
	}
	if (__atomic_compare_exchange_n(&seg->hdr->needs_recovery, &seen, 0, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return 0;
	return prdshm__fail(PRDSHM_ERECOVER,
			    "%s was marked as needing recovery while this recovery ran: "
			    "run prdshm-cleanup again",
			    seg->name);
}

int prdshm__shm_recover(prdshm_seg *seg, void (*report)(void *ctx, const char *line), void *ctx)
{
	struct prdshm__msgq queue = { 0 };
	uint64_t outer;
	uint32_t seen;
	int r, fd;

	prdshm__call_begin();
	if (seg == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "segment is NULL");
	outer = prdshm__wait_bound_begin(PRDSHM_RECOVER_WAIT_MS);
	r = recover_lock(seg, &fd);
	if (r == 0) {
		/* Read under the recovery byte: no other recovery clears it
		 * between this read and the compare-and-swap. */
		seen = __atomic_load_n(&seg->hdr->needs_recovery, __ATOMIC_ACQUIRE);
		PRDSHM__CRASH_POINT("recover_begin");
#ifdef PRDSHM_TEST_HOOKS
		if (prdshm__recover_hook)
			prdshm__recover_hook(prdshm__recover_hook_arg);
#endif
		r = settle_mark(seg, seen,
				recover(seg, report ? prdshm__msgq_line : NULL, &queue));
		recover_unlock(seg, fd);
	}
	prdshm__wait_bound_end(outer);
	prdshm__msgq_flush_lines(&queue, report, ctx);
	prdshm__msgq_free(&queue);
	return r;
}
