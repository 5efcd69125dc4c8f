/*
 * request.h: a lock request being served, shared by the files that serve
 * one: its deadline and mutex waits, its validation, and the record's
 * expiry (acquire.c takes and releases, wait.c waits, convert.c upgrades
 * and downgrades, many.c takes several).  prdshm__shm_lock() fills one on its
 * fast path, so these are static inline here.
 */
#ifndef PRDSHM_INTERNAL_REQUEST_H
#define PRDSHM_INTERNAL_REQUEST_H

#include "lock/table.h"
#include "session/session.h"

/* A request being served: what prdshm__shm_lock() and its relatives share. */
struct request {
	struct prdshm_session *s;
	const char *name;
	size_t len;
	uint32_t hash, p;
	uint32_t mode;
	uint64_t deadline; /* CLOCK_MONOTONIC ns; 0 = try; UINT64_MAX = none */
	const char *phase;
	/* Set while the request has a record: where, and the record's use
	 * count (state word without the state bits) when it became ours. */
	uint32_t si, ri;
	uint64_t use;
};

/* The CLOCK_MONOTONIC deadline of a timeout: 0 for a try, UINT64_MAX for
 * none or for one too far away to represent (INT64_MAX means "forever" to
 * most callers, not "overflow into the past"). */
static inline uint64_t deadline_after(int64_t timeout_ms)
{
	uint64_t now;

	if (timeout_ms == PRDSHM_TRY)
		return 0;
	if (timeout_ms < 0)
		return UINT64_MAX;
	now = prdshm__now_mono();
	if ((uint64_t)timeout_ms > (UINT64_MAX - now) / 1000000u)
		return UINT64_MAX;
	return now + (uint64_t)timeout_ms * 1000000u;
}

/*
 * How long a mutex wait made for request @p q may last: PRDSHM__TRY_MUTEX_MS
 * for a try, what is left until the deadline for a timed request (0: one
 * try), -1 (without limit) for a request without one.  A stopped holder of
 * the partition mutex then fails the request instead of hanging it.
 */
static inline int64_t mutex_wait_ms(const struct request *q)
{
	uint64_t now;

	if (PRDSHM__LIKELY(q->deadline == UINT64_MAX))
		return -1;
	if (q->deadline == 0)
		return PRDSHM__TRY_MUTEX_MS;
	now = prdshm__now_mono();
	return now >= q->deadline ? 0 : (int64_t)((q->deadline - now + 999999u) / 1000000u);
}

/* How long after its deadline a timed request's record left queued is
 * withdrawn by others: longer than its owner tries to withdraw it itself
 * (withdraw_wait_ms()), so that the two never race for it. */
#define PRDSHM__EXPIRY_GRACE_MS (PRDSHM_RECOVER_WAIT_MS + 1000)

/* The mutex wait of a request that has a record queued and must take the
 * mutex once more to withdraw it: its own bound, then PRDSHM_RECOVER_WAIT_MS
 * more (see stranded()). */
static inline int64_t withdraw_wait_ms(const struct request *q)
{
	int64_t ms = mutex_wait_ms(q);

	return ms < 0 ? ms : ms + PRDSHM_RECOVER_WAIT_MS;
}

/* A request's error: a try that could not have the partition mutex in time
 * fails with PRDSHM_EBUSY, as for a conflict. */
static inline int request_error(const struct request *q, int r)
{
	if (PRDSHM__LIKELY(r == 0))
		return 0;
	return prdshm__busy_if_try(r, q->deadline == 0 ? PRDSHM_TRY : 1);
}

/* Why a request's arguments are refused; out of line, off the hot path (a
 * copy in each file that uses it). */
static __attribute__((noinline, cold, unused)) int bad_request(const struct prdshm_session *s,
							       int mode, int64_t timeout_ms)
{
	if (s == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "session is NULL");
	if (mode != PRDSHM_SHARED && mode != PRDSHM_EXCLUSIVE)
		return prdshm__fail(PRDSHM_EINVAL, "mode must be SHARED or EXCLUSIVE");
	return prdshm__fail(PRDSHM_EINVAL, "negative timeout %lld", (long long)timeout_ms);
}

static inline int request_valid(const struct prdshm_session *s, int mode, int64_t timeout_ms)
{
	return PRDSHM__LIKELY(s != NULL && (mode == PRDSHM_SHARED || mode == PRDSHM_EXCLUSIVE) &&
			      timeout_ms >= PRDSHM_WAIT_FOREVER);
}

/* Fill in a request whose arguments are valid and whose name is @p len
 * bytes long. */
static inline void request_fill(struct request *q, struct prdshm_session *s, const char *resource,
				size_t len, int mode, int64_t timeout_ms, const char *phase)
{
	q->s = s;
	q->name = resource;
	q->len = len;
	q->hash = prdshm__hash(resource, len);
	q->p = part_of(s->seg, q->hash);
	q->mode = (uint32_t)mode;
	q->phase = phase;
	if (timeout_ms == PRDSHM_WAIT_DEFAULT)
		timeout_ms = (int64_t)s->seg->hdr->lock_timeout_seconds * 1000;
	q->deadline = deadline_after(timeout_ms);
}

static inline int request_init(struct request *q, struct prdshm_session *s, const char *resource,
			       int mode, int64_t timeout_ms, const char *phase)
{
	size_t len;
	int r;

	if (!request_valid(s, mode, timeout_ms))
		return bad_request(s, mode, timeout_ms);
	r = name_len(resource, &len);
	if (r)
		return r;
	request_fill(q, s, resource, len, mode, timeout_ms, phase);
	return 0;
}

/* When a record left queued by request @p q expires (see expired()): a
 * while after its deadline; never for a request without one, nor for a
 * try, which never leaves a record queued. */
static inline uint64_t expiry(const struct request *q)
{
	const uint64_t grace = (uint64_t)PRDSHM__EXPIRY_GRACE_MS * 1000000u;

	if (q->deadline == 0 || q->deadline > UINT64_MAX - grace)
		return 0;
	return q->deadline + grace;
}

/* Remember the use count of the request's record (see rec_is_ours). */
static inline void note_use(struct prdshm_seg *seg, struct request *q)
{
	q->use = __atomic_load_n(&prdshm__part_recs(prdshm__locks(seg), q->p)[q->ri].state, __ATOMIC_RELAXED) &
		 ~PRDSHM__REC_STATE_MASK;
}

/* Wait until the request's record is granted (wait.c).  Entered holding
 * the partition mutex with the record waiting; on a grant returns 0 still
 * holding it, with *@p woke set if waiters must be woken after unlocking;
 * otherwise returns without the mutex.  Other results as for
 * prdshm__lock_wait(). */
int prdshm__wait_grant(struct prdshm_seg *seg, struct request *q, int *woke);

/* Wait until the request's record is granted, then remember the grant and
 * leave the partition (acquire.c).  Entered holding the partition mutex
 * with the record waiting (counted in nwaiting); returns without it.
 * @return 0, PRDSHM_EBUSY (a try), PRDSHM_ETIMEDOUT, PRDSHM_EINTR, PRDSHM_EDEADLK,
 * PRDSHM_ERECOVER, or 1 if the record is no longer ours: dropped by a repair,
 * or released by another thread of the session (a request starts over). */
int prdshm__lock_wait(struct prdshm_seg *seg, struct request *q);

/* Lock the resource's partition, waiting at most @p wait_ms (-1: without
 * limit), and find the session's record on it (acquire.c).  On success the
 * caller holds the partition mutex. */
int prdshm__find_own(struct request *q, int64_t wait_ms);

#endif
