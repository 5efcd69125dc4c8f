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
#include "shm/robust.h"
#include "session/session.h"
#include "base/util.h"


int prdshm__sess_lock(struct prdshm_seg *seg, int64_t timeout_ms)
{
	return prdshm__mutex_lock(seg, prdshm__sessions(seg)->mutex, timeout_ms, prdshm__sess_repair, NULL);
}

void prdshm__sess_unlock(struct prdshm_seg *seg)
{
	prdshm__mutex_unlock(prdshm__sessions(seg)->mutex);
}

/* The last session serial handed out in this process (see session.h). */
static uint64_t session_serial;

int prdshm__session_ok(const prdshm_session *s)
{
	if (s == NULL || s->seg == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no session");
	if (s->slot >= prdshm__sessions(s->seg)->max_agents)
		return prdshm__fail(PRDSHM_ENOAGENT, "session slot %u out of range", s->slot);
	return 0;
}

int prdshm__session_slot_held(int fd, uint32_t slot)
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
	return prdshm__session_current(seg, slot, gen) != NULL &&
	       prdshm__session_slot_held(seg->fd, slot);
}

void prdshm__agent_id(struct prdshm_seg *seg, uint32_t slot, char *buf)
{
	if (slot >= prdshm__sessions(seg)->max_agents) {
		prdshm__strlcpy(buf, "?", PRDSHM_ID_MAX + 1);
		return;
	}
	/* The id may be torn or unterminated if a peer scribbled on it. */
	memcpy(buf, prdshm__sessions(seg)->agents[slot].id, PRDSHM_ID_MAX);
	buf[PRDSHM_ID_MAX] = '\0';
}

/*
 * Repair after a holder of sess_mutex died: the only derived fact is
 * "ACTIVE without an OFD lock", which the normal reaping handles; clamp the
 * fields that could be half-written so that later readers stay in bounds.
 */
int prdshm__sess_repair(struct prdshm_seg *seg, void *arg)
{
	for (uint32_t i = 0; i < prdshm__sessions(seg)->max_agents; i++) {
		struct prdshm__agent *a = &prdshm__sessions(seg)->agents[i];

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
		for (uint32_t i = 0; i < prdshm__sessions(seg)->max_agents; i++) {
			struct prdshm__agent *a = &prdshm__sessions(seg)->agents[i];

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
static long take_any_slot(struct prdshm_seg *seg, int fd, prdshm__reap_fn reap)
{
	long slot = pick_slot(seg, fd);
	size_t n = 0;
	int r;

	if (slot >= 0)
		return slot;
	r = reap(seg, &n);
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

/* Fill slot @p a for a new session acting for @p parent (gen 0: none).
 * The parent link is written between the bump of gen and the store of
 * ACTIVE: readers without sess_mutex rely on that (family.c). */
static void fill_slot(struct prdshm__agent *a, const char *id, uint32_t parent,
		      uint32_t parent_gen)
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
	__atomic_store_n(&a->parent, parent, __ATOMIC_RELAXED);
	__atomic_store_n(&a->parent_gen, parent_gen, __ATOMIC_RELAXED);
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
			prdshm__reap_fn reap, prdshm_session **out)
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
	s->h = seg->h;
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
		slot = take_any_slot(seg, s->fd, reap);
	if (slot < -1)
		r = (int)slot;
	if (r == 0 && slot >= 0) {
		if (!prdshm__family_parent_from_env(seg, flags, &s->parent, &s->parent_gen))
			s->parent = s->parent_gen = 0;
		fill_slot(&prdshm__sessions(seg)->agents[slot], agent_id, s->parent,
			  s->parent_gen);
		s->slot = (uint32_t)slot;
		s->gen = prdshm__sessions(seg)->agents[slot].gen;
	}
	prdshm__sess_unlock(seg);
	if (r)
		goto fail;
	if (slot < 0) {
		r = prdshm__fail(PRDSHM_EAGENTFULL, "agents table full (max_agents=%u)",
				 prdshm__sessions(seg)->max_agents);
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

int prdshm__session_open(prdshm_seg *seg, const char *agent_id, unsigned flags,
			 int64_t timeout_ms, prdshm__reap_fn reap, prdshm_session **out)
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
	r = session_open(seg, agent_id, flags, reap, out);
	prdshm__wait_bound_end(outer);
	return prdshm__busy_if_try(r, timeout_ms);
}

/* What the caller could not do within its bound (mark the slot EXITED)
 * is done as for a session that died, once the descriptor is closed
 * below: a reap frees its slot. */
void prdshm__session_end(prdshm_session *s)
{
	struct prdshm__agent *a = &prdshm__sessions(s->seg)->agents[s->slot];

	if (prdshm__sess_lock(s->seg, -1) == 0) {
		if (__atomic_load_n(&a->gen, __ATOMIC_ACQUIRE) == s->gen) {
			a->status = PRDSHM_AGENT_EXITED;
			__atomic_store_n(&a->state, PRDSHM__SLOT_FREE, __ATOMIC_RELEASE);
		}
		prdshm__sess_unlock(s->seg);
	}
	/* Closing the descriptor drops the OFD lock last: until then nobody
	 * can take the slot. */
	prdshm__session_abandon(s);
}

void prdshm__session_abandon(prdshm_session *s)
{
	close(s->fd);
	free(s);
}

int prdshm__session_slot(const prdshm_session *s)
{
	return (int)s->slot;
}

int prdshm__session_fd(const prdshm_session *s)
{
	return s->fd;
}

