/*
 * session.c: session slots in the agents table and their liveness.
 *
 * A session owns slot i of the agents table for as long as some process
 * holds the OFD write lock on byte 1 + i of a descriptor of the segment.
 * The kernel drops that lock when the last descriptor of the open file
 * description closes, SIGKILL included, so a checker asks the kernel
 * (F_OFD_GETLK) instead of trusting a PID that may have been reused or
 * belong to another PID namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/locktable.h"
#include "internal/phases.h"
#include "internal/robust.h"
#include "internal/session.h"
#include "internal/util.h"


int prdshm__sess_lock(struct prdshm_seg *seg, int64_t timeout_ms)
{
	return prdshm__mutex_lock(seg, &seg->hdr->sess_mutex, timeout_ms, prdshm__sess_repair, NULL);
}

void prdshm__sess_unlock(struct prdshm_seg *seg)
{
	prdshm__mutex_unlock(&seg->hdr->sess_mutex);
}

static int ofd_held_by_someone(int fd, uint32_t slot)
{
	struct flock fl = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = PRDSHM__SESSION_BYTE(slot),
		.l_len = 1,
	};

	if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
		return 1; /* cannot tell: assume alive, never free a live lock */
	return fl.l_type != F_UNLCK;
}

int prdshm__session_alive(struct prdshm_seg *seg, uint32_t slot, uint32_t gen)
{
	struct prdshm__agent *a;

	if (slot >= seg->max_agents)
		return 0;
	a = &seg->agents[slot];
	if (__atomic_load_n(&a->gen, __ATOMIC_ACQUIRE) != gen ||
	    __atomic_load_n(&a->state, __ATOMIC_ACQUIRE) != PRDSHM__SLOT_ACTIVE)
		return 0;
	return ofd_held_by_someone(seg->fd, slot);
}

void prdshm__agent_id(struct prdshm_seg *seg, uint32_t slot, char *buf)
{
	if (slot >= seg->max_agents) {
		prdshm__strlcpy(buf, "?", PRDSHM_ID_MAX + 1);
		return;
	}
	/* The id may be torn or unterminated if a peer scribbled on it. */
	memcpy(buf, seg->agents[slot].id, PRDSHM_ID_MAX);
	buf[PRDSHM_ID_MAX] = '\0';
}

/*
 * Repair after a holder of sess_mutex died: the only derived fact is
 * "ACTIVE without an OFD lock", which the normal reaping handles; clamp the
 * fields that could be half-written so that later readers stay in bounds.
 */
int prdshm__sess_repair(struct prdshm_seg *seg, void *arg)
{
	for (uint32_t i = 0; i < seg->max_agents; i++) {
		struct prdshm__agent *a = &seg->agents[i];

		if (a->state != PRDSHM__SLOT_ACTIVE)
			a->state = PRDSHM__SLOT_FREE;
		if (a->status > PRDSHM_AGENT_DEAD)
			a->status = PRDSHM_AGENT_DEAD;
		a->id[PRDSHM_ID_MAX] = '\0';
		for (int l = 0; l < PRDSHM_LOG_LINES; l++)
			a->log[l][PRDSHM_MSG_MAX] = '\0';
	}
	return 0;
}

/* Mark ACTIVE slots whose owner is gone as DEAD and FREE.  Their lock
 * records are recognised as stale by generation and swept lazily; their
 * phases are failed or requeued.  Call when holding sess_mutex. */
static size_t reap_dead_slots(struct prdshm_seg *seg, int requeue,
			      void (*report)(void *ctx, const char *line), void *ctx)
{
	size_t n = 0;
	char line[160];

	for (uint32_t i = 0; i < seg->max_agents; i++) {
		struct prdshm__agent *a = &seg->agents[i];
		char id[PRDSHM_ID_MAX + 1];

		if (a->state != PRDSHM__SLOT_ACTIVE || ofd_held_by_someone(seg->fd, i))
			continue;
		prdshm__agent_id(seg, i, id);
		__atomic_store_n(&a->state, PRDSHM__SLOT_FREE, __ATOMIC_RELEASE);
		a->status = PRDSHM_AGENT_DEAD;
		n++;
		if (report) {
			snprintf(line, sizeof(line), "agent %s (slot %u, pid %d) is dead", id, i,
				 (int)a->pid);
			report(ctx, line);
		}
		prdshm__phases_session_died(seg, i, a->gen, id, requeue, report, ctx);
	}
	return n;
}

int prdshm__sessions_reap(struct prdshm_seg *seg, int requeue,
			  void (*report)(void *ctx, const char *line), void *ctx,
			  size_t *nreaped)
{
	int r = prdshm__sess_lock(seg, -1);
	size_t n;

	if (r)
		return r;
	n = reap_dead_slots(seg, requeue, report, ctx);
	prdshm__sess_unlock(seg);
	if (nreaped)
		*nreaped = n;
	return 0;
}

/* Try to take slot @p i with descriptor @p fd.  Call holding sess_mutex. */
static int take_slot(struct prdshm_seg *seg, int fd, uint32_t i)
{
	struct flock fl = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = PRDSHM__SESSION_BYTE(i),
		.l_len = 1,
	};

	/* A FREE slot may still be locked by a process finishing its close,
	 * or by a command that inherited a session descriptor. */
	return fcntl(fd, F_OFD_SETLK, &fl) == 0;
}

/* Pick a slot: never-used slots first, so that the record of an agent that
 * exited or died stays visible to inspection as long as possible.
 * Call holding sess_mutex.  @return the slot or -1. */
static long pick_slot(struct prdshm_seg *seg, int fd)
{
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < seg->max_agents; i++) {
			struct prdshm__agent *a = &seg->agents[i];

			if (a->state != PRDSHM__SLOT_FREE || (pass == 0 && a->used))
				continue;
			if (take_slot(seg, fd, i))
				return (long)i;
		}
	}
	return -1;
}

static void fill_slot(struct prdshm__agent *a, const char *id)
{
	uint64_t now = prdshm__now_real();

	a->pid = (int32_t)getpid();
	a->uid = (uint32_t)getuid();
	a->start_ns = now;
	__atomic_store_n(&a->heartbeat_ns, now, __ATOMIC_RELAXED);
	a->status = PRDSHM_AGENT_IDLE;
	a->used = 1;
	a->nlog = 0;
	prdshm__strlcpy(a->id, id, sizeof(a->id));
	__atomic_add_fetch(&a->gen, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&a->state, PRDSHM__SLOT_ACTIVE, __ATOMIC_RELEASE);
}

/* A private open file description of the segment: OFD locks belong to it,
 * not to the process.  Reopening through /proc keeps it the same object
 * even if the name has since been unlinked and reused. */
static int open_private_fd(struct prdshm_seg *seg, unsigned flags)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", seg->fd);
	return open(path, O_RDWR | ((flags & PRDSHM_SESSION_INHERIT) ? 0 : O_CLOEXEC));
}

int prdshm_session_open(prdshm_seg *seg, const char *agent_id, unsigned flags,
			prdshm_session **out)
{
	struct prdshm_session *s;
	char defid[PRDSHM_ID_MAX + 1];
	long slot;
	int r;

	if (seg == NULL || out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_session_open: NULL argument");
	*out = NULL;
	if (agent_id == NULL) {
		snprintf(defid, sizeof(defid), "pid-%ld", (long)getpid());
		agent_id = defid;
	}
	if (!prdshm__valid_id(agent_id))
		return prdshm__fail(PRDSHM_ENAME,
				    "invalid agent id: 1..%d printable bytes without spaces",
				    PRDSHM_ID_MAX);
	if (__atomic_load_n(&seg->hdr->needs_recovery, __ATOMIC_ACQUIRE))
		return prdshm__fail(PRDSHM_ERECOVER, "%s needs recovery: run prdshm-cleanup",
				    seg->name);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	s->seg = seg;
	s->pid = getpid();
	prdshm__strlcpy(s->id, agent_id, sizeof(s->id));
	s->fd = open_private_fd(seg, flags);
	if (s->fd < 0) {
		r = prdshm__fail_errno(PRDSHM_ESYS, "reopen %s", seg->name);
		goto fail;
	}
	r = prdshm__sess_lock(seg, -1);
	if (r)
		goto fail;
	slot = pick_slot(seg, s->fd);
	if (slot < 0 && reap_dead_slots(seg, 0, NULL, NULL) > 0)
		slot = pick_slot(seg, s->fd);
	if (slot >= 0) {
		fill_slot(&seg->agents[slot], agent_id);
		s->slot = (uint32_t)slot;
		s->gen = seg->agents[slot].gen;
	}
	prdshm__sess_unlock(seg);
	if (slot < 0) {
		r = prdshm__fail(PRDSHM_EAGENTFULL, "agents table full (max_agents=%u)",
				 seg->max_agents);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	return r;
}

void prdshm_session_close(prdshm_session *s)
{
	struct prdshm__agent *a;

	if (s == NULL)
		return;
	prdshm_unlock_all(s, NULL);
	a = &s->seg->agents[s->slot];
	if (prdshm__sess_lock(s->seg, -1) == 0) {
		if (__atomic_load_n(&a->gen, __ATOMIC_ACQUIRE) == s->gen) {
			a->status = PRDSHM_AGENT_EXITED;
			__atomic_store_n(&a->state, PRDSHM__SLOT_FREE, __ATOMIC_RELEASE);
		}
		prdshm__sess_unlock(s->seg);
	}
	/* Closing the descriptor drops the OFD lock last: until then nobody
	 * can take the slot. */
	close(s->fd);
	free(s);
}

void prdshm_session_abandon(prdshm_session *s)
{
	if (s == NULL)
		return;
	close(s->fd);
	free(s);
}

int prdshm_session_slot(const prdshm_session *s)
{
	return s ? (int)s->slot : -1;
}

int prdshm_session_fd(const prdshm_session *s)
{
	return s ? s->fd : -1;
}
