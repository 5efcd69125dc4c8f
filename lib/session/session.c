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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/abi.h"
#include "lock/locktable.h"
#include "plan/phases.h"
#include "base/robust.h"
#include "session/session.h"
#include "base/util.h"


int prdshm__sess_lock(struct prdshm_seg *seg, int64_t timeout_ms)
{
	return prdshm__mutex_lock(seg, &seg->hdr->sess_mutex, timeout_ms, prdshm__sess_repair, NULL);
}

void prdshm__sess_unlock(struct prdshm_seg *seg)
{
	prdshm__mutex_unlock(&seg->hdr->sess_mutex);
}

/* The last session serial handed out in this process (see session.h). */
static uint64_t session_serial;

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
	struct prdshm__agent *a = &seg->agents[i];
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
static int reap_dead_slots(struct prdshm_seg *seg, int requeue,
			   void (*report)(void *ctx, const char *line), void *ctx, size_t *n)
{
	int r;

	*n = 0;
	for (uint32_t i = 0; i < seg->max_agents; i++) {
		if (seg->agents[i].state != PRDSHM__SLOT_ACTIVE || ofd_held_by_someone(seg->fd, i))
			continue;
		r = reap_slot(seg, i, requeue, report, ctx);
		if (r)
			return r;
		(*n)++;
	}
	return 0;
}

int prdshm__sessions_reap(struct prdshm_seg *seg, int requeue,
			  void (*report)(void *ctx, const char *line), void *ctx,
			  size_t *nreaped)
{
	int r = prdshm__sess_lock(seg, -1);
	size_t n;

	if (r)
		return r;
	r = reap_dead_slots(seg, requeue, report, ctx, &n);
	prdshm__sess_unlock(seg);
	if (nreaped)
		*nreaped = n;
	return r;
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

/* pick_slot(), reaping dead sessions if the table is full.  Call holding
 * sess_mutex.  @return the slot or -1. */
/* A free slot, reaping dead sessions' slots if there is none.  @return the
 * slot, -1 if the table is full, or a PRDSHM_E... code (< -1) from the reap:
 * a stopped holder of the phase mutex is a timeout, not a full table. */
static long take_any_slot(struct prdshm_seg *seg, int fd)
{
	long slot = pick_slot(seg, fd);
	size_t n = 0;
	int r;

	if (slot >= 0)
		return slot;
	r = reap_dead_slots(seg, 0, NULL, NULL, &n);
	if (r == PRDSHM_ETIMEDOUT || r == PRDSHM_EBUSY)
		return r;
	return r == 0 && n > 0 ? pick_slot(seg, fd) : -1;
}

/*
 * A session must not join a segment whose name was removed: processes that
 * open the name from now on find another segment (or none), and two tables
 * would grant the same resources.  prdshm_seg_unlink_unused() removes the
 * name holding sess_mutex, so a session registers either before (and is
 * seen live, which refuses the removal) or after (and is refused here).
 * Call holding sess_mutex.  @return 0 or PRDSHM_ENOENT.
 */
static int check_still_named(struct prdshm_seg *seg)
{
	struct stat st;

	if (fstat(seg->fd, &st) == 0 && st.st_nlink == 0)
		return prdshm__fail(PRDSHM_ENOENT, "%s was removed: no new session may join it",
				    seg->name);
	return 0;
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

static int session_open(prdshm_seg *seg, const char *agent_id, unsigned flags,
			prdshm_session **out)
{
	struct prdshm_session *s;
	char defid[PRDSHM_ID_MAX + 1];
	long slot = -1;
	int r;

	prdshm__call_begin();
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
	s->serial = __atomic_add_fetch(&session_serial, 1, __ATOMIC_RELAXED);
	prdshm__strlcpy(s->id, agent_id, sizeof(s->id));
	s->fd = open_private_fd(seg, flags);
	if (s->fd < 0) {
		r = prdshm__fail_errno(PRDSHM_ESYS, "reopen %s", seg->name);
		goto fail;
	}
	r = prdshm__sess_lock(seg, -1);
	if (r)
		goto fail;
	r = check_still_named(seg);
	if (r == 0)
		slot = take_any_slot(seg, s->fd);
	if (slot < -1)
		r = (int)slot;
	if (r == 0 && slot >= 0) {
		fill_slot(&seg->agents[slot], agent_id);
		s->slot = (uint32_t)slot;
		s->gen = seg->agents[slot].gen;
	}
	prdshm__sess_unlock(seg);
	if (r)
		goto fail;
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

int prdshm_session_open_timed(prdshm_seg *seg, const char *agent_id, unsigned flags,
			      int64_t timeout_ms, prdshm_session **out)
{
	uint64_t outer;
	int r;

	prdshm__call_begin();
	if (out)
		*out = NULL;
	if (seg == NULL || out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_session_open: NULL argument");
	if (timeout_ms < PRDSHM_WAIT_FOREVER)
		return prdshm__fail(PRDSHM_EINVAL, "negative timeout %lld", (long long)timeout_ms);
	if (timeout_ms == PRDSHM_WAIT_DEFAULT)
		timeout_ms = (int64_t)seg->hdr->lock_timeout_seconds * 1000;
	outer = prdshm__call_bound_begin(timeout_ms);
	r = session_open(seg, agent_id, flags, out);
	prdshm__wait_bound_end(outer);
	return prdshm__busy_if_try(r, timeout_ms);
}

int prdshm_session_open(prdshm_seg *seg, const char *agent_id, unsigned flags,
			prdshm_session **out)
{
	return prdshm_session_open_timed(seg, agent_id, flags, PRDSHM_WAIT_FOREVER, out);
}

/*
 * Closing waits at most PRDSHM_RECOVER_WAIT_MS in all for the segment's
 * mutexes: a close must not hang on a holder that is stopped.  What it
 * could not do then (release some locks, mark the slot EXITED) is done as
 * for a session that died, once the descriptor is closed below: waiters
 * sweep its records, and a reap frees its slot.
 */
void prdshm_session_close(prdshm_session *s)
{
	struct prdshm__agent *a;
	uint64_t outer;

	if (s == NULL)
		return;
	outer = prdshm__wait_bound_begin(PRDSHM_RECOVER_WAIT_MS);
	prdshm_unlock_all(s, NULL);
	a = &s->seg->agents[s->slot];
	if (prdshm__sess_lock(s->seg, -1) == 0) {
		if (__atomic_load_n(&a->gen, __ATOMIC_ACQUIRE) == s->gen) {
			a->status = PRDSHM_AGENT_EXITED;
			__atomic_store_n(&a->state, PRDSHM__SLOT_FREE, __ATOMIC_RELEASE);
		}
		prdshm__sess_unlock(s->seg);
	}
	prdshm__wait_bound_end(outer);
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

/* ---- Removing the segment's name ---------------------------------------- */

/* Describe the live sessions in @p buf ("id (pid N), ...", cut to @p size).
 * Call holding sess_mutex.  @return their number. */
static size_t live_sessions(struct prdshm_seg *seg, char *buf, size_t size)
{
	size_t n = 0, o = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < seg->max_agents; i++) {
		char id[PRDSHM_ID_MAX + 1];
		int w;

		if (seg->agents[i].state != PRDSHM__SLOT_ACTIVE || !ofd_held_by_someone(seg->fd, i))
			continue;
		prdshm__agent_id(seg, i, id);
		if (o < size) {
			w = snprintf(buf + o, size - o, "%s%s (pid %d)", n ? ", " : "", id,
				     (int)seg->agents[i].pid);
			o += w > 0 ? (size_t)w : 0;
		}
		n++;
	}
	return n;
}

/* 1 if seg->name still names the object @p seg maps. */
static int still_named(struct prdshm_seg *seg)
{
	struct stat mine, named;
	/* O_NONBLOCK: whatever took the name may be a FIFO, whose open
	 * would wait for a writer (with the session mutex held). */
	int fd = shm_open(seg->name, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
	int same;

	if (fd < 0)
		return 0;
	same = fstat(fd, &named) == 0 && fstat(seg->fd, &mine) == 0 &&
	       named.st_dev == mine.st_dev && named.st_ino == mine.st_ino;
	close(fd);
	return same;
}

#define REPLACED 1 /* the name was removed or replaced meanwhile: try again */

/* One attempt of prdshm_seg_unlink_unused(): the check and the removal
 * happen under sess_mutex, which every session registers under. */
static int unlink_if_unused(const char *shm_name, const prdshm_config *cfg)
{
	struct prdshm_seg *seg = NULL;
	char live[512];
	size_t n;
	int r = cfg ? prdshm_seg_open_cfg(cfg, &seg) : prdshm_seg_open(shm_name, &seg);

	if (r)
		return r;
	r = prdshm__sess_lock(seg, -1);
	if (r)
		goto out;
	n = live_sessions(seg, live, sizeof(live));
	if (n > 0)
		r = prdshm__fail(PRDSHM_EINUSE, "%zu live agent%s use%s %s: %s", n,
				 n == 1 ? "" : "s", n == 1 ? "s" : "", shm_name, live);
	else if (!still_named(seg))
		r = REPLACED;
	else if (shm_unlink(shm_name) != 0)
		r = prdshm__fail_errno(PRDSHM_ESYS, "unlink %s", shm_name);
	prdshm__sess_unlock(seg);
out:
	prdshm_seg_close(seg);
	return r;
}

static int unlink_unused(const char *shm_name, const prdshm_config *cfg)
{
	uint64_t outer = prdshm__wait_bound_begin(PRDSHM_RECOVER_WAIT_MS);
	int r = REPLACED;

	prdshm__call_begin();
	for (int round = 0; round < 3 && r == REPLACED; round++)
		r = unlink_if_unused(shm_name, cfg);
	prdshm__wait_bound_end(outer);
	if (r == REPLACED)
		r = prdshm__fail(PRDSHM_EBUSY, "%s was replaced again and again while checking it",
				 shm_name);
	return r;
}

int prdshm_seg_unlink_unused(const char *shm_name)
{
	prdshm__call_begin();
	return unlink_unused(shm_name, NULL);
}

int prdshm_seg_unlink_unused_cfg(const prdshm_config *cfg)
{
	int r;

	prdshm__call_begin();
	if (cfg == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_seg_unlink_unused_cfg: NULL config");
	r = prdshm__abi_check(cfg, PRDSHM_CONFIG_SIZE_1_0, "prdshm_config",
			      "prdshm_seg_unlink_unused_cfg");
	return r ? r : unlink_unused(cfg->shm_name, cfg);
}
