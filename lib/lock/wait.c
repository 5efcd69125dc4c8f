/*
 * wait.c: a queued request's wait for its grant, and the releaser's
 * hand-off.  A releaser that finds the partition mutex free grants the
 * records at the head of the queue itself and wakes only them
 * (prdshm__handoff()); otherwise the waiter grants itself: under the
 * partition mutex it collects released records, evaluates its own against
 * the FIFO rule (grantable()), and otherwise sleeps on the slot's doorbell
 * without the mutex, a brief spin first if it is next.  On the way it
 * sweeps dead holders, checks for deadlocks (deadlock.c) after
 * deadlock_timeout_ms, and gives up on its deadline, on a signal, or when
 * the partition's mutex cannot be had back (stranded()).  The grant itself
 * is remembered by acquire.c, which owns the thread's latest grant.
 */
#include "lock/request.h"
#include "lock/table.h"

/* Longest single sleep: a waiter blocked by a holder that died notices it
 * within this bound, even though nobody rings the doorbell for it. */
#define WAIT_CAP_NS (100 * 1000000LL)
/* A waiter's first look for dead holders, after it began waiting. */
#define FIRST_SWEEP_NS (1 * 1000000LL)
/* Doorbell polls before sleeping: a hand-off after a short hold is cheaper
 * to catch spinning than through a futex round trip (microseconds). */
#define SPIN_POLLS 400

/* Whether waiting record @p ri (or the upgrade of held record @p ri) can be
 * granted now.  Call holding the partition mutex, just after slot_collect():
 * a record released since then still blocks us, but its holder saw us
 * counted in nwaiting and rang the doorbell, so we evaluate again. */
static int grantable(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri)
{
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	const struct prdshm__rec *me = &recs[ri];
	int upgrade = (me->flags & PRDSHM__REC_UPGRADING) != 0;
	int before = 1;
	uint32_t i = prdshm__part_slots(prdshm__locks(seg), p)[si].head;

	for (uint32_t n = 0; i < prdshm__locks(seg)->recs_per_part && n < prdshm__locks(seg)->recs_per_part; n++) {
		const struct prdshm__rec *x = &recs[i];
		uint32_t st = prdshm__rec_state(x);

		if (i == ri) {
			before = 0;
		} else if (upgrade) {
			/* An upgrade already holds the resource: it waits only
			 * for the other holders, not for queued requests. */
			if (holds(st))
				return 0;
		} else if (before) {
			if (prdshm__modes_conflict(prdshm__rec_effective_mode(x), me->mode))
				return 0;
		} else if (holds(st) && prdshm__modes_conflict(x->mode, me->mode)) {
			return 0;
		}
		i = x->next;
	}
	return 1;
}

/* Whether the request is covered by a hold of an ancestor of its session
 * (inherit.c): then it goes ahead of everything, as a hold already does. */
static int nested_grantable(struct prdshm_seg *seg, const struct request *q)
{
	const struct prdshm__rec *me = &prdshm__part_recs(prdshm__locks(seg), q->p)[q->ri];

	return q->s->parent_gen != 0 &&
	       prdshm__nested_covered(seg, q->p, q->si, q->s->parent, q->s->parent_gen,
				      prdshm__rec_effective_mode(me));
}

/* Whether a request waits ahead of record @p ri on slot @p si (a waiting
 * record, or an upgrade).  Call holding the partition mutex. */
static int others_ahead(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri)
{
	const struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	uint32_t nrecs = prdshm__locks(seg)->recs_per_part;
	uint32_t i = prdshm__part_slots(prdshm__locks(seg), p)[si].head;

	for (uint32_t n = 0; i < nrecs && i != ri && n < nrecs; n++, i = recs[i].next)
		if (prdshm__rec_state(&recs[i]) == PRDSHM__REC_WAITING ||
		    (recs[i].flags & PRDSHM__REC_UPGRADING))
			return 1;
	return 0;
}

/* Turn waiting record @p ri HELD (or the upgrade of held record @p ri
 * EXCLUSIVE).  Call holding the partition mutex, grantable() said yes. */
static void grant(struct prdshm_seg *seg, uint32_t p, uint32_t si, uint32_t ri)
{
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), p)[si];
	struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), p)[ri];

	count_add(sl, r, -1);
	PRDSHM__CRASH_POINT("lock_grant");
	if (r->flags & PRDSHM__REC_UPGRADING) {
		__atomic_store_n(&r->mode, PRDSHM_EXCLUSIVE, __ATOMIC_RELAXED);
		__atomic_store_n(&r->flags, r->flags & ~(uint32_t)PRDSHM__REC_UPGRADING,
				 __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&r->since_ns, prdshm__now_real_coarse(), __ATOMIC_RELAXED);
		prdshm__rec_set_state(r, PRDSHM__REC_HELD);
	}
	count_add(sl, r, +1);
}

/* Sleep until the doorbell moves, the deadline passes or the wait cap
 * expires, without holding any mutex.  The sleep is tagged with record
 * @p ri's bit, so that a hand-off to another record does not wake it
 * (prdshm__handoff()).  Only with @p spin does it poll first: a waiter with
 * others queued ahead has their hand-offs to wait for before its own, and
 * its polls would take the CPU that the holder needs.  @return 1 if the
 * sleep timed out, PRDSHM_EINTR if a signal handler ran during it, else 0. */
static int doze(struct prdshm__slot *sl, uint32_t ri, int spin, uint32_t bell, uint64_t until)
{
	uint64_t now;
	int r;

	for (int i = 0; spin && i < SPIN_POLLS; i++) {
		if (prdshm__doorbell_read(&sl->doorbell) != bell)
			return 0;
		prdshm__cpu_relax();
	}
	now = prdshm__now_mono();
	if (now >= until)
		return 1;
	__atomic_add_fetch(&sl->nsleepers, 1, __ATOMIC_SEQ_CST);
	r = prdshm__futex_wait_bits(&sl->doorbell, bell, (int64_t)(until - now), rec_bit(ri));
	__atomic_sub_fetch(&sl->nsleepers, 1, __ATOMIC_SEQ_CST);
	return r == PRDSHM_EINTR ? r : r == PRDSHM_ETIMEDOUT;
}

/* Our record is still ours: a repair may have dropped it, and another
 * thread of the session may have released it (then another request may
 * even have reused it: the use count tells). */
static int rec_is_ours(struct prdshm_seg *seg, const struct request *q)
{
	const struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), q->p)[q->ri];
	uint64_t w = __atomic_load_n(&r->state, __ATOMIC_SEQ_CST);
	uint32_t st = (uint32_t)(w & PRDSHM__REC_STATE_MASK);

	return (st == PRDSHM__REC_HELD || st == PRDSHM__REC_WAITING) &&
	       (w & ~PRDSHM__REC_STATE_MASK) == q->use && r->sess == q->s->slot &&
	       r->gen == q->s->gen && r->slot == q->si;
}

/* Whether a releaser granted the request's record (prdshm__handoff()):
 * HELD in the allocation we queued, not an upgrade (those grant
 * themselves).  Without the mutex: only a grant turns our WAITING record
 * HELD, and the use count in the state word names the allocation, so a
 * record freed and reused since cannot pass.  The grant's sequentially
 * consistent store, read here, orders the releaser's critical section
 * before ours. */
static int handed_over(struct prdshm_seg *seg, const struct request *q)
{
	const struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), q->p)[q->ri];

	return __atomic_load_n(&r->state, __ATOMIC_SEQ_CST) == (q->use | PRDSHM__REC_HELD) &&
	       __atomic_load_n(&r->flags, __ATOMIC_RELAXED) == 0 &&
	       __atomic_load_n(&r->mode, __ATOMIC_RELAXED) == q->mode;
}

/*
 * Grant the waiting records at the head of slot @p si that its releases
 * let in, in list order, stopping at the first that must go on waiting:
 * nothing behind it can be granted either (a conflicting request behind
 * it waits for it; a compatible one waits for what blocks it).  An
 * upgrade met on the way is left to grant itself.  Call holding the
 * partition mutex, just after slot_collect().  @return the granted
 * records' bits (rec_bit()); *@p all set if waiters must evaluate for
 * themselves.
 */
static uint32_t grant_head(struct prdshm_seg *seg, uint32_t p, uint32_t si, int *all)
{
	struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	uint32_t nrecs = prdshm__locks(seg)->recs_per_part, bits = 0;
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), p)[si];
	uint32_t i = sl->head;
	uint64_t now = 0;

	*all = 0;
	for (uint32_t n = 0; i < nrecs && n < nrecs; n++, i = recs[i].next) {
		if (recs[i].flags & PRDSHM__REC_UPGRADING) {
			*all = 1;
			break;
		}
		if (prdshm__rec_state(&recs[i]) != PRDSHM__REC_WAITING)
			continue;
		if (!grantable(seg, p, si, i))
			break;
		grant(seg, p, si, i);
		/* Counted here: the waiter returns without the mutex. */
		if (now == 0)
			now = prdshm__now_mono();
		prdshm__stats_handed(&sl->stats, &recs[i], now);
		bits |= rec_bit(i);
	}
	return bits;
}

/*
 * The releaser's half of the hand-off: the caller released a record of
 * slot @p si without the mutex and saw waiters counted.  If the partition
 * mutex is free, collect the release, grant the head of the queue and wake
 * only the records granted: each finds its record HELD (handed_over())
 * without taking the mutex, and the waiters behind sleep on.  The mutex
 * and the slot's list stay in the releaser's cache, and it is the one
 * likely to lock again.  Else whoever holds the mutex is about to
 * evaluate: ring and wake every waiter, as a removal does, and they grant
 * themselves.  A releaser killed anywhere in here leaves at worst a waiter
 * granted but asleep until its wait cap (WAIT_CAP_NS), or the mutex to
 * repair (the rebuild wakes everyone).
 */
void prdshm__handoff(struct prdshm_seg *seg, uint32_t p, uint32_t si)
{
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), p)[si];
	uint32_t bits;
	int all, r;

	PRDSHM__CRASH_POINT("handoff_begin");
	r = prdshm__mutex_trylock(seg, &prdshm__locks(seg)->parts[p].mutex, prdshm__part_repair,
				  (void *)(uintptr_t)p);
	if (r != 0) {
		/* A failed repair marked the segment: the release stands. */
		if (r < 0)
			prdshm__call_ok();
		prdshm__doorbell_ring(&sl->doorbell);
		wake_after(sl);
		return;
	}
	PRDSHM__CRASH_POINT("handoff_lock");
	slot_collect(seg, p, si);
	bits = grant_head(seg, p, si, &all);
	/* Everyone left meanwhile.  The slot may even be free already: a
	 * mutex holder may have collected our release and freed it between
	 * our swap and our lock (a free slot has no name). */
	if (sl->head >= prdshm__locks(seg)->recs_per_part && sl->name_len != 0)
		slot_free(seg, p, si);
	/* Moves the doorbell under a waiter that read it before the grant,
	 * so that it does not go to sleep (the doorbell's protocol). */
	prdshm__doorbell_ring(&sl->doorbell);
	part_unlock(seg, p);
	PRDSHM__CRASH_POINT("handoff_wake");
	if (all)
		wake_after(sl);
	else if (bits && __atomic_load_n(&sl->nsleepers, __ATOMIC_SEQ_CST) != 0)
		prdshm__futex_wake_bits(&sl->doorbell, bits);
}

/* Nanoseconds from now until the first deadlock check of a wait. */
static uint64_t deadlock_delay_ns(const struct prdshm_seg *seg)
{
	int32_t ms = seg->hdr->deadlock_timeout_ms;

	return ms > 0 ? (uint64_t)ms * 1000000u : 0;
}

/*
 * Leave the queue after an error that left the record behind (the segment
 * was marked as needing recovery meanwhile).  A record nobody waits behind
 * would block every later request forever, so take the mutex even though
 * the segment is marked, and withdraw it.  @return @p err.
 */
static int abandon(struct prdshm_seg *seg, struct request *q, int err)
{
	char msg[512];

	prdshm__strlcpy(msg, prdshm_last_error(), sizeof(msg));
	if (prdshm__mutex_lock(seg, &prdshm__locks(seg)->parts[q->p].mutex, withdraw_wait_ms(q),
			       prdshm__part_repair, (void *)(uintptr_t)q->p) == 0) {
		if (rec_is_ours(seg, q))
			prdshm__withdraw(seg, q->p, q->si, q->ri, 1);
		part_unlock(seg, q->p);
		wake_after(&prdshm__part_slots(prdshm__locks(seg), q->p)[q->si]);
	}
	return prdshm__fail(err, "%s", msg);
}

/*
 * A timed request whose record is queued could not have the partition
 * mutex back to withdraw it, within its deadline and PRDSHM_RECOVER_WAIT_MS
 * more: the holder is alive but stopped or stuck.  Waiting longer would
 * hang the call, so the record stays queued, behind the holder like
 * everything else of the partition, marked as expired: the next mutex
 * holder on its slot withdraws it (expired()), or the session releases
 * everything first.  (A waiter that cannot even do that, stopped before
 * its deadline, expires PRDSHM__EXPIRY_GRACE_MS after it.)
 * @return PRDSHM_ETIMEDOUT, the message naming the mutex and its holder;
 * 2 if a releaser granted the request meanwhile (then it is held).
 */
static int stranded(struct prdshm_seg *seg, const struct request *q)
{
	struct prdshm__rec *r = &prdshm__part_recs(prdshm__locks(seg), q->p)[q->ri];
	uint64_t was = expiry(q);
	char msg[512];

	/* Expire the request at once: a releaser's hand-off would otherwise
	 * grant it to us, who gave up.  A compare-and-swap from the expiry it
	 * was queued with, so that a record freed and reused meanwhile keeps
	 * its own. */
	if (was != 0)
		__atomic_compare_exchange_n(&r->expires_ns, &was, prdshm__now_mono(), 0,
					    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
	/* Granted before that: the lock is ours after all. */
	if (handed_over(seg, q))
		return 2;
	/* Without the mutex: only the partition's total can count it. */
	prdshm__retired_add(&prdshm__locks(seg)->parts[q->p].retired.timeouts, 1);
	prdshm__strlcpy(msg, prdshm_last_error(), sizeof(msg));
	return prdshm__fail(PRDSHM_ETIMEDOUT,
			    "timed out waiting for '%.*s' (%s); the request stays queued until "
			    "the next process on the resource withdraws it",
			    (int)(q->len > 64 ? 64 : q->len), q->name, msg);
}

/* The deadlock check of request @p q, its mutex waits bounded as the
 * request's (deadlock.c takes every partition mutex). */
static int deadlock_check(struct prdshm_seg *seg, const struct request *q)
{
	/* At most one wait cap on other partitions' mutexes, whatever the
	 * request's timeout: meanwhile nobody watches its doorbell, and a
	 * stopped holder elsewhere must not keep it from a grant here. */
	int64_t ms = mutex_wait_ms(q), cap = WAIT_CAP_NS / 1000000;
	uint64_t outer = prdshm__wait_bound_begin(ms < 0 || ms > cap ? cap : ms);
	int r = prdshm__deadlock_check(seg, q->p, q->ri, q->use, q->s->slot, q->s->gen);

	prdshm__wait_bound_end(outer);
	/* A check cut short found nothing; its message is no failure of the
	 * call, which goes on waiting. */
	if (r == PRDSHM_ETIMEDOUT)
		prdshm__call_ok();
	return r;
}

/* Give up the request's record and leave the partition.  @p notify as for
 * prdshm__rec_remove(); @p woke as for prdshm__wait_grant()'s *woke_out.
 * @return @p err. */
static int withdrawn_exit(struct prdshm_seg *seg, struct request *q, int notify, int woke,
			  int err)
{
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), q->p)[q->si];
	char by[160];

	if (err == PRDSHM_ETIMEDOUT)
		sl->stats.timeouts++; /* before the withdrawal may free the slot */
	/* Named before the record goes, as prdshm-lock names it. */
	prdshm__describe_holder(seg, q->p, q->si, q->ri, by, sizeof(by));
	woke |= prdshm__withdraw(seg, q->p, q->si, q->ri, notify);
	part_unlock(seg, q->p);
	if (woke)
		wake_after(sl);
	if (err == PRDSHM_EBUSY)
		return prdshm__fail(err, "'%.*s' is busy%s", (int)(q->len > 64 ? 64 : q->len),
				    q->name, by);
	if (err == PRDSHM_EINTR)
		return prdshm__fail(err, "interrupted by a signal while waiting for '%.*s'",
				    (int)(q->len > 64 ? 64 : q->len), q->name);
	return prdshm__fail(err, "timed out waiting for '%.*s'%s",
			    (int)(q->len > 64 ? 64 : q->len), q->name, by);
}

/*
 * Wait until the request's record is granted.  Entered holding the
 * partition mutex with the record waiting (counted in nwaiting); returns
 * without the mutex, except on a grant: then it returns 0 still holding
 * it, for the caller to remember the grant (prdshm__lock_wait()), with
 * *@p woke_out set if sweeping freed records others may wait behind.  The
 * doorbell is read before the record is evaluated, so a release racing
 * the evaluation moves it (acquire.c's file comment).  Dead holders
 * are looked for FIRST_SWEEP_NS after entry (at once for a try), then every
 * WAIT_CAP_NS, by the clock, not by how a sleep ended.  A sleep that a
 * signal handler interrupted ends the wait with PRDSHM_EINTR, the record
 * withdrawn as for a timeout, unless the grant came meanwhile: the caller
 * (a Python binding's Ctrl-C) decides whether to wait again.
 * @return 0, PRDSHM_EBUSY (a try), PRDSHM_ETIMEDOUT, PRDSHM_EINTR, PRDSHM_EDEADLK,
 * PRDSHM_ERECOVER, 1 if the record is no longer ours: dropped by a repair,
 * or released by another thread of the session (a request starts over),
 * or 2 if a releaser granted it (prdshm__handoff()): then without the mutex.
 */
int prdshm__wait_grant(struct prdshm_seg *seg, struct request *q, int *woke_out)
{
	struct prdshm__slot *sl = &prdshm__part_slots(prdshm__locks(seg), q->p)[q->si];
	uint64_t now = prdshm__now_mono();
	uint64_t check_at = now + deadlock_delay_ns(seg);
	/* A try looks for dead holders at once; a wait first gives the holder
	 * FIRST_SWEEP_NS to hand over, since a sweep costs a system call per
	 * record and most waits are a quick hand-off, but looks before its
	 * deadline all the same (lock_many's last items get short ones). */
	uint64_t sweep_at = now + FIRST_SWEEP_NS < q->deadline ? now + FIRST_SWEEP_NS
							      : q->deadline;
	int woke = 0, intr = 0, spin, r;
	/* Metrics: when the wait began, and whether it slept at all (a grant
	 * at the first look did not wait). */
	const uint64_t began = now;
	int slept = 0;

	/* For a releaser that grants us (grant_head()). */
	prdshm__part_recs(prdshm__locks(seg), q->p)[q->ri].wait_ns = began;
	for (;;) {
		uint32_t bell = prdshm__doorbell_read(&sl->doorbell);
		uint64_t until = now + WAIT_CAP_NS;

		/* Collect first: an upgrade's record that another thread of
		 * the session released may be among those collected, and must
		 * then not be granted. */
		slot_collect(seg, q->p, q->si);
		if (!rec_is_ours(seg, q)) {
			part_unlock(seg, q->p);
			if (woke)
				wake_after(sl);
			return 1;
		}
		if (handed_over(seg, q)) {
			/* Its releaser counted the grant (grant_head()). */
			*woke_out = woke;
			return 0;
		}
		if (grantable(seg, q->p, q->si, q->ri) || nested_grantable(seg, q)) {
			grant(seg, q->p, q->si, q->ri);
			prdshm__stats_granted(&sl->stats, slept, began);
			*woke_out = woke;
			return 0;
		}
		if (now >= sweep_at) {
			sweep_at = now + WAIT_CAP_NS;
			if (prdshm__slot_sweep_dead(seg, q->p, q->si, q->ri) > 0) {
				woke = 1;
				continue;
			}
		}
		if (q->deadline == 0)
			return withdrawn_exit(seg, q, 0, woke, PRDSHM_EBUSY);
		if (intr)
			return withdrawn_exit(seg, q, 1, woke, PRDSHM_EINTR);
		if (now >= q->deadline)
			return withdrawn_exit(seg, q, 1, woke, PRDSHM_ETIMEDOUT);
		if (until > q->deadline)
			until = q->deadline;
		if (until > check_at)
			until = check_at;
		if (until > sweep_at)
			until = sweep_at;
		spin = !others_ahead(seg, q->p, q->si, q->ri);
		part_unlock(seg, q->p);
		if (woke)
			wake_after(sl);
		woke = 0;
		intr = doze(sl, q->ri, spin, bell, until) == PRDSHM_EINTR;
		slept = 1;
		if (handed_over(seg, q)) {
			PRDSHM__CRASH_POINT("wait_handed");
			return 2;
		}
		now = prdshm__now_mono();
		if (now >= check_at) {
			/* One that could not have every partition mutex in
			 * time (PRDSHM_ETIMEDOUT) found nothing: go on. */
			r = deadlock_check(seg, q);
			if (r == PRDSHM_EDEADLK)
				return r;
			if (r == PRDSHM_ERECOVER)
				return abandon(seg, q, r);
			/* A check takes every partition mutex: repeat it no
			 * more often than the wait cap, whatever the setting. */
			check_at = now + (deadlock_delay_ns(seg) > (uint64_t)WAIT_CAP_NS
						  ? deadlock_delay_ns(seg)
						  : (uint64_t)WAIT_CAP_NS);
		}
		r = part_lock(seg, q->p, withdraw_wait_ms(q));
		if (r == PRDSHM_ETIMEDOUT)
			return stranded(seg, q);
		if (r)
			return abandon(seg, q, r);
	}
}
