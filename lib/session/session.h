/*
 * session.h: sessions and liveness (lib/session/session.c).
 */
#ifndef PRDSHM_INTERNAL_SESSION_H
#define PRDSHM_INTERNAL_SESSION_H

#include <stdint.h>
#include <sys/types.h>

#include "shm/segment.h"

/* Where the session's recent grants are, so that prdshm_unlock() can find
 * the record without the partition mutex.  A hint is one 64-bit word, so
 * that threads sharing the session, which race on hints, never see half of
 * one: the name's hash in the high half (it names the partition) and the
 * record's index in that partition in the low half.  Only a hint: every use
 * checks it against the record itself (lib/lock/acquire.c). */
#define PRDSHM__HINTS 64 /* a power of two; indexed by name hash */

struct prdshm_session {
	struct prdshm_seg *seg;
	int fd;         /* private open file description holding the OFD lock */
	uint32_t slot;
	uint32_t gen;
	pid_t pid;      /* the process that opened it */
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

/* The repair function of sess_mutex.  Call holding it. */
int prdshm__sess_repair(struct prdshm_seg *seg, void *arg);

/* Take sess_mutex (repairing if needed).  @return 0 or PRDSHM_ERECOVER. */
int prdshm__sess_lock(struct prdshm_seg *seg, int64_t timeout_ms);
void prdshm__sess_unlock(struct prdshm_seg *seg);

/* Copy the agent id of slot @p slot into @p buf (PRDSHM_ID_MAX + 1 bytes),
 * without locking ("?" if out of range). */
void prdshm__agent_id(struct prdshm_seg *seg, uint32_t slot, char *buf);

/* Mark dead session slots free (status DEAD) and fail their phases.
 * Called by prdshm_reap() after the lock partitions are swept. */
int prdshm__sessions_reap(struct prdshm_seg *seg, int requeue,
			  void (*report)(void *ctx, const char *line), void *ctx,
			  size_t *nreaped);
#endif
