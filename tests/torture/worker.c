/*
 * worker.c: one torture worker.  It makes random library calls on a few
 * hot resources and on the round's plan, and checks mutual exclusion with
 * the witness in the shared mapping (torture.h) at every grant and before
 * every release.  It may be SIGKILLed at any instruction.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "torture.h"

/* This incarnation. */
static int me;          /* worker index */
static uint32_t tok;    /* token */
static prdshm_seg *seg;
static prdshm_session *sess;

/* ---- Proof of death ----------------------------------------------------- */

/* 1 if the kernel says @p pid is gone or a zombie.  Workers are the
 * supervisor's children, so a killed one stays a zombie until reaped; its
 * pid cannot be reused before the dead flag is set. */
static int pid_dead(pid_t pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

int tt_token_dead(uint32_t t, int wait_ms)
{
	int64_t until = tt_now_ms() + wait_ms;

	if (t == 0 || t >= TT_MAX_INC)
		return t == 0;
	for (;;) {
		if (__atomic_load_n(&tt_sh->inc[t].dead, __ATOMIC_ACQUIRE))
			return 1;
		if (pid_dead(tt_sh->inc[t].pid))
			return 1;
		if (tt_now_ms() >= until)
			return 0;
		usleep(1000);
	}
}

/* ---- The witness -------------------------------------------------------- */

/* Grace for the proof of death: the supervisor may be busy probing. */
#define DEATH_WAIT_MS 5000

/* A holder of token @p t is in the way unless it is provably dead. */
static void expect_dead(uint32_t t, const char *what, int r)
{
	if (t != 0 && t != tok && !tt_token_dead(t, DEATH_WAIT_MS))
		tt_violation("%s of %s granted to token %u while live token %u (pid %d) holds it",
			     what, tt_res_name(r), tok, t, (int)tt_sh->inc[t].pid);
}

static void excl_enter(int r)
{
	uint32_t old = __atomic_load_n(&tt_sh->excl[r], __ATOMIC_ACQUIRE);

	for (int w = 0; w < TT_MAX_WORKERS; w++)
		if (w != me)
			expect_dead(__atomic_load_n(&tt_sh->shared_w[r][w], __ATOMIC_ACQUIRE),
				    "EXCLUSIVE (shared holder present)", r);
	for (;;) {
		expect_dead(old, "EXCLUSIVE", r);
		if (__atomic_compare_exchange_n(&tt_sh->excl[r], &old, tok, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			break;
		/* While we proved the stale owner dead, the supervisor may have
		 * cleared its entry (to 0); any other writer is a second holder. */
		if (old != 0) {
			tt_violation("EXCLUSIVE witness of %s changed under token %u (now %u)",
				     tt_res_name(r), tok, old);
			__atomic_store_n(&tt_sh->excl[r], tok, __ATOMIC_RELEASE);
			break;
		}
	}
	__atomic_add_fetch(&tt_sh->excl_grants, 1, __ATOMIC_RELAXED);
}

static void excl_leave(int r)
{
	uint32_t t = __atomic_load_n(&tt_sh->excl[r], __ATOMIC_ACQUIRE);

	if (t != tok)
		tt_violation("EXCLUSIVE witness of %s taken from token %u by %u while held",
			     tt_res_name(r), tok, t);
	__atomic_store_n(&tt_sh->excl[r], 0, __ATOMIC_RELEASE);
}

static void shared_enter(int r)
{
	__atomic_store_n(&tt_sh->shared_w[r][me], tok, __ATOMIC_SEQ_CST);
	expect_dead(__atomic_load_n(&tt_sh->excl[r], __ATOMIC_SEQ_CST), "SHARED", r);
	__atomic_add_fetch(&tt_sh->shared_grants, 1, __ATOMIC_RELAXED);
}

static void shared_leave(int r)
{
	expect_dead(__atomic_load_n(&tt_sh->excl[r], __ATOMIC_SEQ_CST), "SHARED (at release)", r);
	__atomic_store_n(&tt_sh->shared_w[r][me], 0, __ATOMIC_SEQ_CST);
}

static void enter(int r, prdshm_mode mode)
{
	if (mode == PRDSHM_EXCLUSIVE)
		excl_enter(r);
	else
		shared_enter(r);
}

static void leave(int r, prdshm_mode mode)
{
	if (mode == PRDSHM_EXCLUSIVE)
		excl_leave(r);
	else
		shared_leave(r);
}

/* ---- Helpers ------------------------------------------------------------ */

static void count_op(void)
{
	__atomic_add_fetch(&tt_sh->ops, 1, __ATOMIC_RELAXED);
}

static void intend(uint32_t mask)
{
	__atomic_or_fetch(&tt_sh->intent[me], mask, __ATOMIC_SEQ_CST);
}

static void forget(uint32_t mask)
{
	__atomic_and_fetch(&tt_sh->intent[me], ~mask, __ATOMIC_SEQ_CST);
}

/* Errors a lock call may legitimately return under contention. */
static void lock_result(int rc, const char *call)
{
	if (rc == 0 || rc == PRDSHM_EBUSY || rc == PRDSHM_ETIMEDOUT || rc == PRDSHM_EDEADLK)
		return;
	tt_violation("%s: %s (%s)", call, prdshm_err_name(rc), prdshm_last_error());
}

static void must(int rc, const char *call)
{
	if (rc != 0)
		tt_violation("%s: %s (%s)", call, prdshm_err_name(rc), prdshm_last_error());
}

/* How long to hold: nothing, a yield, or a short sleep. */
static void hold(void)
{
	switch (tt_rand(4)) {
	case 0:
		break;
	case 1:
		sched_yield();
		break;
	default:
		usleep(20 + tt_rand(400));
	}
}

static int64_t pick_timeout(void)
{
	switch (tt_rand(3)) {
	case 0:
		return PRDSHM_TRY;
	case 1:
		return 1 + tt_rand(50);
	default:
		return PRDSHM_WAIT_FOREVER;
	}
}

static prdshm_mode pick_mode(void)
{
	return tt_rand(2) ? PRDSHM_EXCLUSIVE : PRDSHM_SHARED;
}

/* ---- Lock operations ---------------------------------------------------- */

/* One hold in 128 outlasts the deadlock timeout (50 ms), so that waiters
 * without limit run the deadlock check (crash point "deadlock_check"). */
#define LONG_HOLD_US 60000

static void op_single(void)
{
	int r = (int)tt_rand(TT_NRES);
	prdshm_mode mode = pick_mode();
	int rc;

	intend(1u << r);
	rc = prdshm_lock(sess, tt_res_name(r), mode, pick_timeout(), NULL);
	count_op();
	lock_result(rc, "prdshm_lock");
	if (rc == 0) {
		enter(r, mode);
		if (mode == PRDSHM_EXCLUSIVE && tt_rand(128) == 0)
			usleep(LONG_HOLD_US);
		else
			hold();
		leave(r, mode);
		must(prdshm_unlock(sess, tt_res_name(r)), "prdshm_unlock");
		count_op();
	}
	forget(1u << r);
}

static void op_many(void)
{
	const char *names[3];
	int res[3], n = 2 + (int)tt_rand(2), k = 0;
	uint32_t mask = 0;
	prdshm_mode mode = pick_mode();
	size_t freed = 0;
	int rc;

	while (k < n) {
		int r = (int)tt_rand(TT_NRES);
		if (mask & (1u << r))
			continue;
		mask |= 1u << r;
		res[k] = r;
		names[k++] = tt_res_name(r);
	}
	intend(mask);
	rc = prdshm_lock_many(sess, names, (size_t)n, mode, pick_timeout(), NULL, NULL);
	count_op();
	lock_result(rc, "prdshm_lock_many");
	if (rc == 0) {
		for (k = 0; k < n; k++)
			enter(res[k], mode);
		hold();
		for (k = 0; k < n; k++)
			leave(res[k], mode);
		must(prdshm_unlock_all(sess, &freed), "prdshm_unlock_all");
		count_op();
		if (freed != (size_t)n)
			tt_violation("prdshm_unlock_all freed %zu of %d", freed, n);
	}
	forget(mask);
}

/* SHARED, then an upgrade, then maybe a downgrade, witnessed at each step. */
static void op_upgrade(void)
{
	int r = (int)tt_rand(TT_NRES), rc;
	prdshm_mode mode = PRDSHM_SHARED;

	intend(1u << r);
	rc = prdshm_lock(sess, tt_res_name(r), PRDSHM_SHARED, 1 + tt_rand(20), NULL);
	count_op();
	lock_result(rc, "prdshm_lock");
	if (rc != 0) {
		forget(1u << r);
		return;
	}
	shared_enter(r);
	rc = prdshm_upgrade(sess, tt_res_name(r), tt_rand(2) ? PRDSHM_TRY : 1 + tt_rand(30));
	count_op();
	lock_result(rc, "prdshm_upgrade");
	if (rc == 0) {
		__atomic_store_n(&tt_sh->shared_w[r][me], 0, __ATOMIC_SEQ_CST);
		excl_enter(r);
		mode = PRDSHM_EXCLUSIVE;
		hold();
		if (tt_rand(2)) {
			/* Become a shared holder in the witness before the library
			 * lets other shared holders in. */
			__atomic_store_n(&tt_sh->shared_w[r][me], tok, __ATOMIC_SEQ_CST);
			excl_leave(r);
			must(prdshm_downgrade(sess, tt_res_name(r)), "prdshm_downgrade");
			count_op();
			mode = PRDSHM_SHARED;
		}
	}
	hold();
	leave(r, mode);
	must(prdshm_unlock(sess, tt_res_name(r)), "prdshm_unlock");
	count_op();
	forget(1u << r);
}

/* A resource of its own: allocates and frees a slot each time. */
static void op_cold(void)
{
	char name[64];
	int rc;

	snprintf(name, sizeof(name), "cold-%u-%u", tok, tt_rand(1000));
	rc = prdshm_lock(sess, name, PRDSHM_EXCLUSIVE, PRDSHM_TRY, "cold");
	count_op();
	must(rc, "prdshm_lock (cold)");
	if (rc == 0) {
		must(prdshm_unlock(sess, name), "prdshm_unlock (cold)");
		count_op();
	}
}

/* ---- Phases ------------------------------------------------------------- */

static void phase_owned(int i)
{
	uint32_t old = __atomic_load_n(&tt_sh->pown[i], __ATOMIC_ACQUIRE);

	if (old != 0 && !tt_token_dead(old, DEATH_WAIT_MS))
		tt_violation("phase %d claimed by token %u while live token %u runs it", i, tok,
			     old);
	__atomic_store_n(&tt_sh->pown[i], tok, __ATOMIC_RELEASE);
	__atomic_add_fetch(&tt_sh->claims[i], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&tt_sh->claims_total, 1, __ATOMIC_RELAXED);
}

static void phase_finish(int i, int fail)
{
	if (__atomic_load_n(&tt_sh->pown[i], __ATOMIC_ACQUIRE) != tok)
		tt_violation("phase %d: witness lost while token %u runs it", i, tok);
	__atomic_store_n(&tt_sh->pown[i], 0, __ATOMIC_RELEASE);
	if (fail) {
		must(prdshm_phase_fail(sess, i, 1, "torture"), "prdshm_phase_fail");
		count_op();
		return;
	}
	__atomic_add_fetch(&tt_sh->completing[i], 1, __ATOMIC_SEQ_CST);
	must(prdshm_phase_complete(sess, i), "prdshm_phase_complete");
	count_op();
	if (__atomic_add_fetch(&tt_sh->completed[i], 1, __ATOMIC_SEQ_CST) > 1)
		tt_violation("phase %d completed twice", i);
	__atomic_add_fetch(&tt_sh->completions_total, 1, __ATOMIC_RELAXED);
}

/* Claim, work a little, complete (or fail: attempts remain, so it is
 * requeued).  @return the claim's result. */
static int op_phase(int may_fail)
{
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	int rc = prdshm_phase_claim(sess, &c);

	count_op();
	if (rc == PRDSHM_EWAIT || rc == PRDSHM_EDONE)
		return rc;
	must(rc, "prdshm_phase_claim");
	if (rc != 0)
		return rc;
	if (c.index < 0 || c.index >= TT_NPHASES) {
		tt_violation("claim returned index %d", (int)c.index);
		return PRDSHM_EINVAL;
	}
	phase_owned(c.index);
	/* Long enough for kills to land while phases run, short enough for the
	 * plan to last about one round. */
	usleep(2000 + tt_rand(18000));
	phase_finish(c.index, may_fail && tt_rand(4) == 0);
	return 0;
}

/* Claim a phase, cancel it by hand and retry it (crash points of
 * prdshm_phase_set, "phase_retry" among them).  The holder cancels its own
 * phase, so no other worker loses one; a worker killed between the cancel
 * and the retry leaves it CANCELLED, which the drain retries. */
static void op_retry(void)
{
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	int rc = prdshm_phase_claim(sess, &c);

	count_op();
	if (rc == PRDSHM_EWAIT || rc == PRDSHM_EDONE)
		return;
	must(rc, "prdshm_phase_claim");
	if (rc != 0)
		return;
	if (c.index < 0 || c.index >= TT_NPHASES) {
		tt_violation("claim returned index %d", (int)c.index);
		return;
	}
	phase_owned(c.index);
	__atomic_store_n(&tt_sh->pown[c.index], 0, __ATOMIC_RELEASE);
	must(prdshm_phase_set(seg, sess, c.id, PRDSHM_PHASE_CANCELLED), "prdshm_phase_set cancel");
	count_op();
	/* A draining worker may have retried it in between: ETRANSITION. */
	rc = prdshm_phase_set(seg, sess, c.id, PRDSHM_PHASE_QUEUED);
	count_op();
	if (rc != PRDSHM_ETRANSITION)
		must(rc, "prdshm_phase_set retry");
}

/* Retry what killed op_retry()s left CANCELLED (and so their dependants
 * BLOCKED).  Another worker may retry it first: ETRANSITION then.
 * @return how many phases this call retried. */
static int retry_cancelled(void)
{
	prdshm_snapshot *snap = NULL;
	int n = 0;

	if (prdshm_snapshot_take(seg, 0, &snap) != 0) {
		tt_violation("drain: snapshot: %s", prdshm_last_error());
		return 0;
	}
	for (size_t i = 0; i < snap->nphases; i++) {
		int rc;

		if (snap->phases[i].status != PRDSHM_PHASE_CANCELLED)
			continue;
		rc = prdshm_phase_set(seg, sess, snap->phases[i].id, PRDSHM_PHASE_QUEUED);
		if (rc != 0 && rc != PRDSHM_ETRANSITION)
			must(rc, "prdshm_phase_set retry (drain)");
		n += rc == 0;
	}
	prdshm_snapshot_free(snap);
	return n;
}

static void drain(void)
{
	for (;;) {
		int rc = op_phase(0);

		if (rc == PRDSHM_EDONE && retry_cancelled() == 0)
			break;
		if (rc == PRDSHM_EDONE)
			continue;
		if (rc == PRDSHM_EWAIT)
			prdshm_phase_wait(sess, 50);
		else if (rc != 0)
			break;
	}
}

/* ---- Main --------------------------------------------------------------- */

static void one_op(void)
{
	uint32_t x = tt_rand(100);

	if (x < 35)
		op_single();
	else if (x < 55)
		op_many();
	else if (x < 70)
		op_upgrade();
	else if (x < 86)
		op_phase(1);
	else if (x < 90)
		op_retry();
	else
		op_cold();
}

void tt_worker_main(int w, uint32_t t, const char *shm_name, const char *crash_at,
		    uint64_t seed)
{
	char id[32];

	me = w;
	tok = t;
	tt_srand(seed ^ ((uint64_t)t * 0x9E3779B97F4A7C15ull));
	if (crash_at)
		setenv("PRDSHM_CRASH_AT", crash_at, 1);
	snprintf(id, sizeof(id), "w%d-t%u", w, t);
	if (prdshm_seg_open(shm_name, &seg) != 0 ||
	    prdshm_session_open(seg, id, 0, &sess) != 0) {
		tt_violation("worker %s cannot attach: %s", id, prdshm_last_error());
		_exit(2);
	}
	while (!__atomic_load_n(&tt_sh->draining, __ATOMIC_ACQUIRE))
		one_op();
	drain();
	prdshm_session_close(sess);
	prdshm_seg_close(seg);
	_exit(0);
}
