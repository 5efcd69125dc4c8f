/*
 * plan.c: the ZooKeeper backend's phases (docs/zookeeper.md, "Phases").
 *
 * The znode <base>/plan holds the phase-region image (plan/image.h): the
 * bytes the shm backend's phase region holds, built by the same code.
 * Every transition is optimistic: read the image and its version into a
 * private buffer, apply the shm backend's state machine to the buffer
 * (image.c), then write it back in one multi that also checks the caller's
 * agent znode: the write fails if anyone wrote the plan since the read
 * (ZBADVERSION: read again and start over), and an agent whose ZooKeeper
 * session expired claims nothing.  So two agents on two hosts never claim
 * the same phase, and the rules (waves, max_parallel_agents, priorities,
 * attempts, BLOCKED dependants) are the shm backend's.
 *
 * A holder is its agent znode's sequence number (phase.agent_slot, with
 * agent_gen 0): alive while a znode with that number is under agents/.
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "base/util.h"
#include "plan/image.h"
#include "zk/zk.h"

/* Conflicting writes a timed claim retries before its deadline counts
 * (PRDSHM_TRY included: one lost race is not "busy"). */
#define MIN_ATTEMPTS 8
/* The longest single wait of prdshm_phase_wait(), as on shm: a holder
 * whose session expires changes no plan, and is noticed by the next
 * claim. */
#define WAIT_CAP_MS 1000

/* The largest image written: ZooKeeper refuses a request over its
 * jute.maxbuffer (1 MB less one byte by default), and the segment's
 * creation carries the image with four paths. */
#define PLAN_MAX_BYTES (1024u * 1024u - 4096u)

int prdshm__zk_plan_path(struct prdshm__zk_seg *zs, char *buf, size_t size)
{
	return prdshm__zk_join(buf, size, zs->base, "plan");
}

/* Read the image, leaving a watch on the znode if @p watch. */
static int plan_get(struct prdshm__zk_seg *zs, int watch, unsigned char **buf, uint64_t *bytes,
		    int32_t *version)
{
	char path[PRDSHM__ZK_PATH_MAX];
	struct Stat st;
	int rc, len, err = prdshm__zk_plan_path(zs, path, sizeof(path));

	*buf = NULL;
	*bytes = 0;
	*version = -1;
	if (err)
		return err;
	/* An image's size never changes: after the first read (its size from
	 * an exists first), one get.  A znode someone rewrote with another
	 * size is read again from its Stat, and refused below if it is not
	 * an image (prdshm__phase_geom_parse() checks the size it states). */
	len = __atomic_load_n(&zs->plan_bytes, __ATOMIC_RELAXED);
	for (int pass = 0; pass < 2; pass++) {
		if (len <= 0) {
			rc = prdshm__zk_exists(zs, path, &st);
			if (rc == ZNONODE)
				return 0;
			if (rc != ZOK)
				return prdshm__zk_err(zs, rc, "read plan", path);
			len = st.dataLength;
		}
		*buf = malloc(len > 0 ? (size_t)len : 1);
		if (*buf == NULL)
			return prdshm__fail(PRDSHM_ENOMEM, "out of memory (plan of %d bytes)", len);
		rc = prdshm__zk_get(zs, path, watch, (char *)*buf, &len, &st);
		if (rc == ZOK && len == st.dataLength)
			break;
		free(*buf);
		*buf = NULL;
		if (rc == ZNONODE)
			return 0;
		if (rc != ZOK)
			return prdshm__zk_err(zs, rc, "read plan", path);
		if (pass == 1)
			return prdshm__fail(PRDSHM_ECORRUPT, "plan %s changed size while read", path);
		len = 0;
	}
	__atomic_store_n(&zs->plan_bytes, len, __ATOMIC_RELAXED);
	*bytes = (uint64_t)len;
	*version = st.version;
	return 0;
}

int prdshm__zk_plan_read(struct prdshm__zk_seg *zs, unsigned char **buf, uint64_t *bytes,
			 int32_t *version)
{
	return plan_get(zs, 0, buf, bytes, version);
}

static int cmp_seq(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

int prdshm__zk_live_slots(struct prdshm__zk_seg *zs, long long **slots, size_t *n)
{
	struct String_vector kids = { 0, NULL };
	char agents[PRDSHM__ZK_PATH_MAX];
	int rc, err = prdshm__zk_join(agents, sizeof(agents), zs->base, "agents");

	*slots = NULL;
	*n = 0;
	if (err)
		return err;
	rc = prdshm__zk_children(zs, agents, &kids);
	if (rc != ZOK)
		return prdshm__zk_err(zs, rc, "list", agents);
	*slots = malloc((kids.count > 0 ? (size_t)kids.count : 1) * sizeof(**slots));
	if (*slots == NULL) {
		deallocate_String_vector(&kids);
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory (%d agents)", kids.count);
	}
	for (int i = 0; i < kids.count; i++)
		(*slots)[(*n)++] = prdshm__zk_seq_of(kids.data[i]);
	deallocate_String_vector(&kids);
	qsort(*slots, *n, sizeof(**slots), cmp_seq);
	return 0;
}

int prdshm__zk_slot_alive(const long long *slots, size_t n, long long slot)
{
	return slot >= 0 && bsearch(&slot, slots, n, sizeof(*slots), cmp_seq) != NULL;
}

/*
 * The create operation of the plan znode, for the multi that makes the
 * segment: the image of @p cfg's plan (*image, malloc'd: free it after the
 * multi) at @p path.  The image is sized for the plan, not max_phases: a
 * plan never grows on ZooKeeper, and the znode must stay small.  A
 * configuration without phases gets an image of no phases.  @return 0,
 * PRDSHM_EPHASEFULL (more phases than max_phases, or an image over
 * ZooKeeper's 1 MB), PRDSHM_ECONFIG (an invalid plan), PRDSHM_ENOMEM.
 */
int prdshm__zk_plan_create_op(const prdshm_config *cfg, struct prdshm__zk_seg *zs,
			      zoo_op_t *op, char *path, size_t size, unsigned char **image)
{
	prdshm_config sized = *cfg; /* read only: its pointers stay cfg's */
	size_t bytes;
	int r;

	*image = NULL;
	if (cfg->max_phases >= 0 && cfg->nphases <= (size_t)cfg->max_phases)
		sized.max_phases = (int)cfg->nphases;
	bytes = prdshm__plan_image_bytes(&sized);
	if (bytes > PLAN_MAX_BYTES)
		return prdshm__fail(PRDSHM_EPHASEFULL,
				    "plan of %zu phases needs %zu bytes in znode %s/plan, more "
				    "than ZooKeeper's 1 MB limit on a znode (jute.maxbuffer) "
				    "allows: split the plan (docs/zookeeper.md, \"Phases\")",
				    cfg->nphases, bytes, zs->base);
	r = prdshm__zk_plan_path(zs, path, size);
	if (r)
		return r;
	*image = calloc(1, bytes);
	if (*image == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory (plan of %zu bytes)", bytes);
	r = prdshm__plan_image_init(*image, bytes, &sized);
	if (r) {
		free(*image);
		*image = NULL;
		return r;
	}
	zoo_create_op_init(op, path, (const char *)*image, (int)bytes, zs->acl, 0,
			   NULL, 0);
	return 0;
}

/* ---- One optimistic operation ------------------------------------------ */

enum plan_kind { PK_CLAIM, PK_FINISH, PK_SET, PK_REAP, PK_REBUILD };

/* The report lines of one attempt, given to the caller once it is written
 * (an attempt that loses the race reports nothing). */
struct lines {
	char *text;
	size_t len, cap;
};

struct plan_op {
	enum plan_kind kind;
	struct prdshm__zk_seg *zs;
	struct prdshm__zk_session *s; /* the caller's session, or NULL */
	struct prdshm__plan_holder h;
	long long *live; /* sorted sequence numbers of agents/ */
	size_t nlive;
	int listed;      /* live is this attempt's listing */
	int lost;     /* a write's answer was lost with the connection */
	int lost_now; /* ... in the last attempt */
	int peeked;   /* before is the phase as the first attempt found it */
	struct prdshm__plan_peek before;
	/* Arguments. */
	int32_t index;
	uint32_t to;
	int exit_status;
	const char *message, *id;
	int requeue;
	struct lines lines;
	/* Results. */
	prdshm_claim *claim;
	size_t nreaped;
};

/* A claim lists agents/ only when it looks for dead holders (nothing is
 * ready), once; a listing that fails counts everyone as alive: a phase is
 * never failed for a lost answer. */
static int op_alive(void *ctx, const struct prdshm__phase *p)
{
	struct plan_op *op = ctx;

	if (!op->listed) {
		op->listed = 1;
		if (prdshm__zk_live_slots(op->zs, &op->live, &op->nlive) != 0)
			op->nlive = SIZE_MAX; /* unknown */
	}
	if (op->nlive == SIZE_MAX)
		return 1;
	return p->agent_gen == 0 && prdshm__zk_slot_alive(op->live, op->nlive, p->agent_slot);
}

static void op_report(void *ctx, const char *line)
{
	struct lines *l = &((struct plan_op *)ctx)->lines;
	size_t n = strlen(line) + 1;
	char *t;

	if (l->len + n > l->cap) {
		t = realloc(l->text, (l->len + n) * 2);
		if (t == NULL)
			return; /* a report line lost to memory, not the operation */
		l->text = t;
		l->cap = (l->len + n) * 2;
	}
	memcpy(l->text + l->len, line, n);
	l->len += n;
}

/* Apply the operation to the private image @p buf. */
/*
 * A completion, failure or transition by hand whose write was lost with
 * the connection may have been done: then doing it again would answer
 * PRDSHM_ETRANSITION for a success, or, if the phase was requeued and
 * claimed again meanwhile, finish the new attempt too.  The first attempt
 * notes the phase as it found it; after a lost write, a phase no longer so
 * (no longer ours, another attempt, or already in the wanted state) says
 * the write was done.  @return 1 if it was.
 */
static int done_before(struct plan_op *op, unsigned char *buf, uint64_t bytes)
{
	const struct prdshm__plan_holder *h = op->kind == PK_FINISH ? &op->h : NULL;
	struct prdshm__plan_peek now;
	const char *id = op->kind == PK_SET ? op->id : NULL;

	if (prdshm__plan_image_peek(buf, bytes, op->index, id, h, &now) != 0)
		return 0; /* the operation itself reports it */
	if (!op->peeked) {
		op->before = now;
		op->peeked = 1;
		return 0;
	}
	if (!op->lost)
		return 0;
	if (op->kind == PK_FINISH)
		return op->before.held && (!now.held || now.attempts != op->before.attempts);
	return now.status == op->to && op->before.status != op->to;
}

static int apply(struct plan_op *op, unsigned char *buf, uint64_t bytes)
{
	switch (op->kind) {
	case PK_CLAIM:
		/* Our last write may have gone through before the connection
		 * broke: then this is our claim. */
		if (op->lost && prdshm__plan_image_held(buf, bytes, &op->h, op->claim))
			return 0;
		return prdshm__plan_image_claim(buf, bytes, &op->h, op_alive, op, op->claim);
	case PK_FINISH:
	case PK_SET:
		if (done_before(op, buf, bytes))
			return 0;
		if (op->kind == PK_SET)
			return prdshm__plan_image_set(buf, bytes, op->s ? op->h.agent_id : NULL,
						      op->id, (prdshm_phase_status)op->to);
		return prdshm__plan_image_finish(buf, bytes, &op->h, op->index, op->to,
						 op->exit_status, op->message);
	case PK_REAP:
		op->lines.len = 0;
		return prdshm__plan_image_reap(buf, bytes, op_alive, op, op->requeue, op_report,
					       op, &op->nreaped);
	case PK_REBUILD:
		return prdshm__plan_image_rebuild(buf, bytes);
	}
	return prdshm__fail(PRDSHM_EINVAL, "plan: unknown operation");
}

/* Write the image back if nobody wrote it since @p version, in one multi
 * with the check that the caller's agent znode still exists.  @return ZOK,
 * ZBADVERSION, or another ZooKeeper error (with *agent_gone when it is the
 * agent znode that is missing). */
static int plan_write(struct plan_op *op, const unsigned char *buf, uint64_t bytes,
		      int32_t version, int *agent_gone)
{
	char path[PRDSHM__ZK_PATH_MAX];
	zoo_op_t ops[2];
	zoo_op_result_t res[2];
	int rc;

	*agent_gone = 0;
	if (prdshm__zk_plan_path(op->zs, path, sizeof(path)))
		return ZBADARGUMENTS;
	if (op->s == NULL)
		return zoo_set(op->zs->zh, path, (const char *)buf, (int)bytes, version);
	zoo_set_op_init(&ops[0], path, (const char *)buf, (int)bytes, version, NULL);
	/* Version -1: any version, the znode need only exist. */
	zoo_check_op_init(&ops[1], op->s->node, -1);
	memset(res, 0, sizeof(res));
	rc = zoo_multi(op->zs->zh, 2, ops, res);
	if (rc == ZNONODE && res[1].err == ZNONODE)
		*agent_gone = 1;
	return rc;
}

/* The agent znode of the caller is gone: its ZooKeeper session expired (or
 * it was removed by hand), and with it every claim it could make. */
static int agent_gone(struct plan_op *op)
{
	int err = prdshm__zk_usable(op->zs);

	if (err)
		return err;
	return prdshm__fail(PRDSHM_ESYS,
			    "agent %s: its znode %s is gone (session expired?): close the "
			    "session and open a new one",
			    op->h.agent_id, op->s->node);
}

#ifdef PRDSHM_TEST_HOOKS
/* Test-only (PRDSHM_TEST_HOOKS builds): with PRDSHM_ZK_LOSE_PLAN_WRITE set,
 * the next successful plan write answers as lost with the connection, its
 * write done (what a failover can do, made repeatable), once: the variable
 * is then removed.  Tests set it in a single-threaded process. */
static int lose_write(int rc)
{
	if (rc != ZOK || getenv("PRDSHM_ZK_LOSE_PLAN_WRITE") == NULL)
		return rc;
	unsetenv("PRDSHM_ZK_LOSE_PLAN_WRITE");
	return ZCONNECTIONLOSS;
}
#else
#define lose_write(rc) (rc)
#endif

/* One attempt: read, apply, write if changed.  *again when it must start
 * over (conflict or a lost connection); else the operation's result. */
static int attempt(struct plan_op *op, int *again)
{
	unsigned char *buf = NULL, *orig = NULL;
	uint64_t bytes = 0;
	int32_t version = 0;
	int r, rc, gone;

	*again = 0;
	op->lost_now = 0;
	r = plan_get(op->zs, 0, &buf, &bytes, &version);
	if (r == 0 && buf == NULL)
		r = prdshm__fail(PRDSHM_ECORRUPT, "segment %s has no plan znode (%s/plan)",
				 op->zs->shm_name, op->zs->base);
	op->listed = op->kind == PK_REAP;
	if (r == 0 && op->listed)
		r = prdshm__zk_live_slots(op->zs, &op->live, &op->nlive);
	if (r == 0) {
		orig = malloc(bytes ? bytes : 1);
		if (orig == NULL)
			r = prdshm__fail(PRDSHM_ENOMEM, "out of memory (plan of %llu bytes)",
					 (unsigned long long)bytes);
	}
	if (r)
		goto out;
	memcpy(orig, buf, bytes);
	r = apply(op, buf, bytes);
	if (r == PRDSHM_ECORRUPT || memcmp(orig, buf, bytes) == 0)
		goto out; /* nothing to write */
	rc = lose_write(plan_write(op, buf, bytes, version, &gone));
	if (rc == ZBADVERSION || prdshm__zk_retryable(rc)) {
		op->lost_now = rc != ZBADVERSION;
		op->lost |= op->lost_now;
		*again = 1;
	} else if (gone) {
		r = agent_gone(op);
	} else if (rc != ZOK) {
		r = prdshm__zk_err(op->zs, rc, "write plan", op->zs->base);
	}
out:
	free(op->live);
	op->live = NULL;
	free(orig);
	free(buf);
	return r;
}

/* Run @p op until it is written or needs no write; conflicts and lost
 * connections start it over until @p deadline (after MIN_ATTEMPTS). */
static int run(struct plan_op *op, uint64_t deadline)
{
	uint64_t seen;
	int again, r;

	for (int n = 1;; n++) {
		seen = prdshm__zk_events(op->zs);
		r = attempt(op, &again);
		if (!again)
			return r;
		r = prdshm__zk_usable(op->zs);
		if (r)
			return r;
		if (n >= MIN_ATTEMPTS && prdshm__zk_now_ms() >= deadline)
			return prdshm__fail(PRDSHM_ETIMEDOUT,
					    "plan %s/plan: every write met a conflicting one or a "
					    "lost connection (%d attempts)",
					    op->zs->base, n);
		/* A lost connection: wait for the reconnection event. */
		if (op->lost_now)
			(void)prdshm__zk_wait_event(op->zs, seen, prdshm__zk_now_ms() + 100);
	}
}

static void op_init(struct plan_op *op, enum plan_kind kind, struct prdshm__zk_seg *zs,
		    struct prdshm__zk_session *s)
{
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->zs = zs;
	op->s = s;
	if (s) {
		op->h.slot = s->slot;
		op->h.gen = 0;
		op->h.agent_id = s->agent_id;
	}
}

/* ---- The entry points (contracts in prdshm.h) -------------------------- */

int prdshm__zk_phase_claim(prdshm_session *ps, int64_t timeout_ms, prdshm_claim *out)
{
	struct prdshm__zk_session *s = (struct prdshm__zk_session *)(void *)ps;
	prdshm_claim full;
	struct plan_op op;
	int r;

	prdshm__call_begin();
	r = prdshm__plan_claim_args(out, timeout_ms);
	if (r)
		return r;
	r = prdshm__zk_usable(s->seg);
	if (r)
		return r;
	memset(&full, 0, sizeof(full));
	full.struct_size = sizeof(full);
	op_init(&op, PK_CLAIM, s->seg, s);
	op.claim = &full;
	r = run(&op, prdshm__zk_deadline(s->seg, timeout_ms));
	if (r == PRDSHM_ETIMEDOUT && timeout_ms == PRDSHM_TRY)
		r = prdshm__fail(PRDSHM_EBUSY, "%s", prdshm_last_error());
	/* Only the caller's bytes: it may know a shorter prdshm_claim. */
	if (r == 0)
		prdshm__abi_copy_out(out, &full, sizeof(full));
	return r;
}

int prdshm__zk_phase_wait(prdshm_session *ps, int64_t timeout_ms)
{
	struct prdshm__zk_session *s = (struct prdshm__zk_session *)(void *)ps;
	int64_t wait_ms = timeout_ms < 0 || timeout_ms > WAIT_CAP_MS ? WAIT_CAP_MS : timeout_ms;
	int64_t delay_ms = 0;
	unsigned char *buf = NULL;
	uint64_t bytes, seen;
	int32_t version;
	int ready, r;

	prdshm__call_begin();
	r = prdshm__zk_usable(s->seg);
	if (r)
		return r;
	/* The events counted before the read: a write after it fires the
	 * watch the read leaves, and the wait below sees that event. */
	seen = prdshm__zk_events(s->seg);
	r = plan_get(s->seg, wait_ms > 0, &buf, &bytes, &version);
	if (r)
		return r;
	/* On a copy that is not written back: only whether to sleep. */
	ready = buf == NULL || prdshm__plan_image_ready(buf, bytes, &delay_ms);
	free(buf);
	if (ready || wait_ms == 0)
		return 0;
	if (delay_ms > 0 && delay_ms < wait_ms)
		wait_ms = delay_ms;
	/* No request to withdraw: an interrupted wait just says so, as on shm. */
	if (prdshm__zk_wait_event(s->seg, seen, prdshm__zk_now_ms() + (uint64_t)wait_ms) ==
	    PRDSHM_EINTR)
		return prdshm__fail(PRDSHM_EINTR, "interrupted by a signal while waiting for a phase");
	return 0;
}

static int finish(prdshm_session *ps, int32_t index, uint32_t to, int exit_status,
		  const char *message)
{
	struct prdshm__zk_session *s = (struct prdshm__zk_session *)(void *)ps;
	struct plan_op op;
	int r;

	prdshm__call_begin();
	r = prdshm__zk_usable(s->seg);
	if (r)
		return r;
	op_init(&op, PK_FINISH, s->seg, s);
	op.index = index;
	op.to = to;
	op.exit_status = exit_status;
	op.message = message;
	return run(&op, UINT64_MAX);
}

int prdshm__zk_phase_complete(prdshm_session *ps, int32_t index)
{
	return finish(ps, index, PRDSHM_PHASE_COMPLETED, 0, NULL);
}

int prdshm__zk_phase_fail(prdshm_session *ps, int32_t index, int exit_status,
			  const char *message)
{
	return finish(ps, index, PRDSHM_PHASE_FAILED, exit_status, message);
}

int prdshm__zk_phase_set(prdshm_seg *seg, prdshm_session *ps, const char *id,
			 prdshm_phase_status to)
{
	struct prdshm__zk_seg *zs = (struct prdshm__zk_seg *)(void *)seg;
	struct prdshm__zk_session *s = (struct prdshm__zk_session *)(void *)ps;
	struct plan_op op;
	int r;

	prdshm__call_begin();
	if (!prdshm__valid_id(id))
		return prdshm__fail(PRDSHM_ENOPHASE, "invalid phase id");
	if ((int)to < 0 || (int)to >= PRDSHM_PHASE_NSTATUS)
		return prdshm__fail(PRDSHM_EINVAL, "phase status %d out of range", (int)to);
	r = prdshm__zk_usable(zs);
	if (r)
		return r;
	op_init(&op, PK_SET, zs, s);
	op.id = id;
	op.to = (uint32_t)to;
	return run(&op, UINT64_MAX);
}

/* Give the lines of the attempt that was written to @p report. */
static void deliver(struct lines *l, void (*report)(void *ctx, const char *line), void *ctx)
{
	for (size_t off = 0; report && off < l->len; off += strlen(l->text + off) + 1)
		report(ctx, l->text + off);
	free(l->text);
	memset(l, 0, sizeof(*l));
}

/* Run an operator's operation (no session) @p kind on segment @p zs. */
static int run_operator(struct prdshm__zk_seg *zs, enum plan_kind kind, int requeue,
			struct plan_op *op)
{
	int r = prdshm__zk_usable(zs);

	op_init(op, kind, zs, NULL);
	op->requeue = requeue;
	return r ? r : run(op, UINT64_MAX);
}

int prdshm__zk_reap(prdshm_seg *seg, int requeue, void (*report)(void *ctx, const char *line),
		    void *ctx, size_t *nreaped)
{
	struct plan_op op;
	int r;

	prdshm__call_begin();
	r = run_operator((struct prdshm__zk_seg *)(void *)seg, PK_REAP, requeue, &op);
	if (r == 0) {
		deliver(&op.lines, report, ctx);
		if (nreaped)
			*nreaped = op.nreaped;
	}
	free(op.lines.text);
	return r;
}

int prdshm__zk_recover(prdshm_seg *seg, void (*report)(void *ctx, const char *line), void *ctx)
{
	struct plan_op op;
	int r;

	prdshm__call_begin();
	/* No torn state to rebuild: writes are whole.  The derived fields are
	 * rebuilt from the statuses all the same (a hand-edited znode), then
	 * the phases of expired sessions go as on reaping. */
	r = run_operator((struct prdshm__zk_seg *)(void *)seg, PK_REBUILD, 0, &op);
	if (r)
		return r;
	return prdshm__zk_reap(seg, 0, report, ctx, NULL);
}
#endif
