/*
 * convert.c: changing the mode of a hold, prdshm__shm_upgrade() and
 * prdshm__shm_downgrade().  A downgrade lets in the waiters it blocked at once;
 * an upgrade marks the SHARED record as upgrading, which blocks newcomers
 * as if it were EXCLUSIVE, and waits (wait.c) for the other holders only.
 */
#include "lock/request.h"
#include "lock/table.h"

int prdshm__shm_downgrade(prdshm_session *s, const char *resource)
{
	struct request q;
	struct prdshm__slot *sl;
	struct prdshm__rec *rec;
	int r;
	int woke = 0;

	prdshm__call_begin();
	r = request_init(&q, s, resource, PRDSHM_SHARED, 0, NULL);
	if (r)
		return r;
	r = prdshm__find_own(&q, -1);
	if (r)
		return r;
	sl = &prdshm__part_slots(prdshm__locks(s->seg), q.p)[q.si];
	rec = &prdshm__part_recs(prdshm__locks(s->seg), q.p)[q.ri];
	if (rec->mode == PRDSHM_EXCLUSIVE) {
		count_add(sl, rec, -1);
		__atomic_store_n(&rec->mode, PRDSHM_SHARED, __ATOMIC_RELAXED);
		count_add(sl, rec, +1);
		woke = ring(sl);
	}
	part_unlock(s->seg, q.p);
	if (woke)
		wake_after(sl);
	return 0;
}

int prdshm__shm_upgrade(prdshm_session *s, const char *resource, int64_t timeout_ms)
{
	struct request q = { 0 }; /* request_init() fills it, or fails */
	struct prdshm__slot *sl;
	struct prdshm__rec *rec;
	int r;

	prdshm__call_begin();
	r = request_init(&q, s, resource, PRDSHM_EXCLUSIVE, timeout_ms, NULL);
	if (r)
		return r;
	r = prdshm__find_own(&q, mutex_wait_ms(&q));
	if (r)
		return request_error(&q, r);
	sl = &prdshm__part_slots(prdshm__locks(s->seg), q.p)[q.si];
	rec = &prdshm__part_recs(prdshm__locks(s->seg), q.p)[q.ri];
	if (rec->mode == PRDSHM_EXCLUSIVE) {
		part_unlock(s->seg, q.p);
		return 0;
	}
	if (rec->flags & PRDSHM__REC_UPGRADING) {
		/* Another thread of this session is already upgrading it. */
		part_unlock(s->seg, q.p);
		return prdshm__fail(PRDSHM_EBUSY, "an upgrade of '%.*s' is already waiting",
				    (int)(q.len > 64 ? 64 : q.len), q.name);
	}
	count_add(sl, rec, -1);
	__atomic_store_n(&rec->expires_ns, expiry(&q), __ATOMIC_RELAXED);
	__atomic_store_n(&rec->flags, rec->flags | PRDSHM__REC_UPGRADING, __ATOMIC_RELAXED);
	count_add(sl, rec, +1);
	note_use(s->seg, &q);
	r = prdshm__lock_wait(s->seg, &q);
	return r == 1 ? prdshm__fail(PRDSHM_ENOTHELD,
				     "'%.*s': hold released meanwhile or lost in a repair",
				     (int)(q.len > 64 ? 64 : q.len), q.name)
		      : r;
}
