/*
 * session.h: sessions and liveness (lib/session/session.c).
 */
#ifndef PRDSHM_INTERNAL_SESSION_H
#define PRDSHM_INTERNAL_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "session/region.h"
#include "shm/segment.h"

/* Where the session's recent grants are, so that prdshm__shm_unlock() can find
 * the record without the partition mutex.  A hint is one 64-bit word, so
 * that threads sharing the session, which race on hints, never see half of
 * one: the name's hash in the high half (it names the partition) and the
 * record's index in that partition in the low half.  Only a hint: every use
 * checks it against the record itself (lib/lock/acquire.c). */
#define PRDSHM__HINTS 64 /* a power of two; indexed by name hash */

struct prdshm_session {
	struct prdshm__handle h; /* first: its segment's backend */
	struct prdshm_seg *seg;
	int fd;         /* private open file description holding the OFD lock */
	uint32_t slot;
	uint32_t gen;
	pid_t pid;      /* the process that opened it */
	/* The session this one acts for (parent_gen 0: none), decided once at
	 * open (lib/session/family.c): only a request of a session that has
	 * one looks for its ancestors' holds, never the fast path. */
	uint32_t parent, parent_gen;
	/* Unique among this process's sessions, ever: what a thread's memory
	 * of its latest grant is tied to (lib/lock/acquire.c), where the handle's
	 * address, or slot and generation, could be those of a closed one. */
	uint64_t serial;
	char id[PRDSHM_ID_MAX + 1];
	uint64_t hints[PRDSHM__HINTS]; /* relaxed atomics */
};

/*
 * 1 if session (slot, gen) is alive: the slot still carries generation @p gen
 * and some process holds the OFD lock on the slot's byte.  Does not take
 * sess_mutex (gen is read atomically); never trust it for the caller's own
 * session, whose lock does not conflict with itself.
 */
int prdshm__session_alive(struct prdshm_seg *seg, uint32_t slot, uint32_t gen);

/* The slot of session (slot, gen) if it is current: in range, in that
 * generation and ACTIVE (atomic loads, without sess_mutex); else NULL.
 * Says nothing of liveness (prdshm__session_alive()). */
static inline struct prdshm__agent *prdshm__session_current(struct prdshm_seg *seg,
							     uint32_t slot, uint32_t gen)
{
	struct prdshm__agent *a;

	if (slot >= prdshm__sessions(seg)->max_agents)
		return NULL;
	a = &prdshm__sessions(seg)->agents[slot];
	if (__atomic_load_n(&a->gen, __ATOMIC_ACQUIRE) != gen ||
	    __atomic_load_n(&a->state, __ATOMIC_ACQUIRE) != PRDSHM__SLOT_ACTIVE)
		return NULL;
	return a;
}

/* The repair function of sess_mutex.  Call holding it. */
int prdshm__sess_repair(struct prdshm_seg *seg, void *arg);

/* Take sess_mutex (repairing if needed).  @return 0 or PRDSHM_ERECOVER. */
int prdshm__sess_lock(struct prdshm_seg *seg, int64_t timeout_ms);
void prdshm__sess_unlock(struct prdshm_seg *seg);

/* Copy the agent id of slot @p slot into @p buf (PRDSHM_ID_MAX + 1 bytes),
 * without locking ("?" if out of range). */
void prdshm__agent_id(struct prdshm_seg *seg, uint32_t slot, char *buf);

/* 0 if @p s is a session whose slot is in range, else PRDSHM_EINVAL ("no
 * session") or PRDSHM_ENOAGENT, with the message. */
int prdshm__session_ok(const prdshm_session *s);

/* The agent's own record (lib/session/agent.c): prdshm_agent_heartbeat()
 * and prdshm_agent_log(). */
int prdshm__shm_agent_heartbeat(prdshm_session *s);
int prdshm__shm_agent_log(prdshm_session *s, const char *line);

/* 1 if some process holds the OFD lock of session slot @p slot on the
 * segment behind @p fd (or if that cannot be told: never free a live one). */
int prdshm__session_slot_held(int fd, uint32_t slot);

/* Free the slots of dead sessions, counting them in *@p n: what the layer
 * above does when the agents table is full (it also fails their phases,
 * which this layer knows nothing of).  Called holding sess_mutex.
 * @return 0, PRDSHM_ETIMEDOUT or PRDSHM_EBUSY. */
typedef int (*prdshm__reap_fn)(struct prdshm_seg *seg, size_t *n);

/* Open a session on @p seg (prdshm_session_open_timed()'s contract),
 * reaping with @p reap when every slot is taken. */
int prdshm__session_open(prdshm_seg *seg, const char *agent_id, unsigned flags,
			 int64_t timeout_ms, prdshm__reap_fn reap, prdshm_session **out);

/* The session layer's part of a close: mark the slot EXITED and free it
 * (if its mutex can be had within the thread's bound), then close the
 * descriptor, which drops the slot's OFD lock, and free @p s.  The lock
 * table and the phases are released first by the caller
 * (lib/ops/session_end.c). */
void prdshm__session_end(prdshm_session *s);

/* Close the descriptor and free @p s, touching nothing in the segment. */
void prdshm__session_abandon(prdshm_session *s);

/* ---- Families (lib/session/family.c) ------------------------------------
 * A session opened under PRDSHM_PARENT_SESSION acts for the session the
 * variable names, its parent: together with the parent's other children
 * and their own, a family.  See prdshm.h, "Nested locks". */

/* The parent that PRDSHM_PARENT_SESSION names for a session opening on
 * @p seg with @p flags, if it is a current session of this segment: 1 and
 * *@p slot, *@p gen set; else 0.  Call holding sess_mutex. */
int prdshm__family_parent_from_env(struct prdshm_seg *seg, unsigned flags, uint32_t *slot,
				   uint32_t *gen);

/* The parent of current session (@p slot, @p gen): 1 and *@p pslot,
 * *@p pgen set; 0 if it has none or is not current.  Without sess_mutex. */
int prdshm__session_parent(struct prdshm_seg *seg, uint32_t slot, uint32_t gen, uint32_t *pslot,
			   uint32_t *pgen);

/* 1 if session (@p aslot, @p agen) is a proper ancestor of the session
 * whose parent is (@p pslot, @p pgen): the parent, its parent, and so on
 * (at most max_agents steps).  Without sess_mutex. */
int prdshm__session_descends(struct prdshm_seg *seg, uint32_t pslot, uint32_t pgen,
			     uint32_t aslot, uint32_t agen);

/* The slot of the topmost current ancestor of session (@p slot, @p gen),
 * or @p slot itself: the family's root.  Without sess_mutex. */
uint32_t prdshm__session_root(struct prdshm_seg *seg, uint32_t slot, uint32_t gen);

/* prdshm_session_env(): the value of PRDSHM_PARENT_SESSION that names @p s. */
int prdshm__session_env(const prdshm_session *s, char *buf, size_t size);
/* The end of prdshm_session_env() on every backend: @p n is what
 * snprintf() answered writing the value into @p buf of @p size bytes.
 * @return 0, or PRDSHM_EINVAL with @p buf "" if it did not fit. */
int prdshm__session_env_fit(char *buf, size_t size, int n);

int prdshm__session_slot(const prdshm_session *s);
int prdshm__session_fd(const prdshm_session *s);
#endif
