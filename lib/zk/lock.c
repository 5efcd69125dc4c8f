/*
 * lock.c: locks on ZooKeeper, by the shared/exclusive recipe of its
 * documentation (docs/zookeeper.md).
 *
 * A request is an EPHEMERAL_SEQUENTIAL child of the resource's znode,
 * "write-<owner>-<seq>" or "read-<owner>-<seq>".  A write request is granted
 * when no request has a lower sequence number; a read request when no
 * exclusive one has.  A waiter watches only the request just before it
 * that blocks it, so a release wakes one waiter, not all.  The <owner> tag
 * (the ZooKeeper session id and a counter) finds our request again after a
 * connection lost while it was being created.
 *
 * What the recipe does not give, and how it is done here:
 *   - downgrade: a request cannot change its name, so a downgraded write
 *     request says "mode=shared" in its data; readers read the data of the
 *     write requests before theirs, and the change fires their watch.
 *   - upgrade: a SHARED holder adds a write request at the end of the
 *     queue, which ignores the holder's own read request, then drops the
 *     read request once granted.  It queues behind earlier requests (on shm
 *     it goes first), and two upgraders of one resource wait for each
 *     other: a deadlock, which deadlock.c finds as any other.
 *   - deadlocks: after deadlock_timeout_ms of waiting, and as often again,
 *     the waiter reads the waits-for graph out of the tree (deadlock.c).
 *   - PRDSHM_EINTR: a waiter sleeps on a futex (conn.c), which a signal
 *     handler ends, where a condition variable would sleep on.
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "zk/zk.h"

/* One request being served. */
struct zreq {
	struct prdshm__zk_session *s;
	struct prdshm__zk_seg *zs;
	const char *resource; /* its name, for the messages */
	char rpath[PRDSHM__ZK_PATH_MAX]; /* the resource's znode */
	char node[PRDSHM__ZK_PATH_MAX];  /* our request */
	const char *ignore;  /* our own other request (upgrade), or NULL */
	int write;
	int try_;
	int nested; /* granted as its parent's (nested.c): the request goes */
	int slept;         /* it waited at least once (metrics.c) */
	uint64_t deadline; /* prdshm__zk_now_ms() */
};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* The request's data: what prdshm_lock_query() shows of it. */
static void request_data(const struct prdshm__zk_session *s, prdshm_mode mode, const char *phase,
			 uint64_t since, char *buf, size_t size)
{
	int n = snprintf(buf, size, "mode=%s\nagent=%s\nslot=%d\npid=%ld\nphase=%s\nsince=%llu\n",
			 mode == PRDSHM_EXCLUSIVE ? "exclusive" : "shared", s->agent_id, s->slot,
			 (long)getpid(), phase ? phase : "", (unsigned long long)since);

	/* A session acting for another says so: its parent waits for it in
	 * the waits-for graph (deadlock.c). */
	if (s->nanc > 0 && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, "parent=%d\n", s->anc_slot[0]);
}

/* How long a connection may stay lost before we give up on an operation:
 * past the session timeout the session has expired anyway. */
static uint64_t retry_until(struct zreq *q)
{
	uint64_t bound = prdshm__zk_now_ms() + (uint64_t)zoo_recv_timeout(q->zs->zh);

	return q->deadline > bound ? q->deadline : bound;
}

/* After a lost connection: did our create reach the server?  Look for a
 * child whose name starts with our prefix.  @return 1 found, 0 not there,
 * -1 cannot tell yet (the connection is still lost: creating again could
 * make a second request that would queue before us). */
static int find_own(struct zreq *q, const char *prefix)
{
	struct String_vector kids = { 0, NULL };
	int found = 0, rc;

	rc = zoo_get_children(q->zs->zh, q->rpath, 0, &kids);
	if (rc != ZOK)
		return prdshm__zk_retryable(rc) ? -1 : 0;
	for (int i = 0; i < kids.count && !found; i++) {
		if (strncmp(kids.data[i], prefix, strlen(prefix)) == 0) {
			found = prdshm__zk_join(q->node, sizeof(q->node), q->rpath, kids.data[i]) == 0;
		}
	}
	deallocate_String_vector(&kids);
	return found;
}

static int create_request(struct zreq *q, const char *data)
{
	char path[PRDSHM__ZK_PATH_MAX], prefix[96];
	uint64_t until = retry_until(q);
	uint32_t n = __atomic_add_fetch(&q->zs->next_owner, 1, __ATOMIC_RELAXED);
	int rc = ZOK, lost = 0, own;

	snprintf(prefix, sizeof(prefix), "%s-%llx.%x-", q->write ? "write" : "read",
		 (unsigned long long)zoo_client_id(q->zs->zh)->client_id, n);
	if (prdshm__zk_join(path, sizeof(path), q->rpath, prefix))
		return PRDSHM_ENAME;
	for (;;) {
		uint64_t seen = prdshm__zk_events(q->zs);

		own = lost ? find_own(q, prefix) : 0;
		if (own > 0)
			return 0;
		if (own < 0) {
			if (prdshm__zk_wait_event(q->zs, seen, until) == PRDSHM_ETIMEDOUT)
				return prdshm__zk_err(q->zs, rc, "create", path);
			continue;
		}
		rc = zoo_create(q->zs->zh, path, data, (int)strlen(data), q->zs->acl,
				ZOO_EPHEMERAL_SEQUENTIAL, q->node, (int)sizeof(q->node));
		if (rc == ZOK)
			return 0;
		if (rc == ZNONODE) {
			/* The resource's znode: made by the first locker, removed
			 * by the last unlocker (a race with it just loops). */
			rc = zoo_create(q->zs->zh, q->rpath, NULL, -1, q->zs->acl, 0,
					NULL, 0);
			if (rc == ZNONODE)
				return prdshm__fail(PRDSHM_ENOENT, "segment %s was removed",
						    q->zs->shm_name);
			if (rc == ZOK || rc == ZNODEEXISTS)
				continue;
		}
		if (!prdshm__zk_retryable(rc))
			return prdshm__zk_err(q->zs, rc, "create", path);
		lost = 1;
		if (prdshm__zk_wait_event(q->zs, seen, until) == PRDSHM_ETIMEDOUT)
			return prdshm__zk_err(q->zs, rc, "create", path);
	}
}

/* Delete our request, through a lost connection if need be (it would stay
 * and block others for as long as this process keeps its session).  Not
 * interrupted by a signal.  A delete whose answer was lost may have been
 * done: the node is ours alone (its sequential name), so its absence
 * afterwards is that delete's success, not a lost lock.  @return
 * ZooKeeper's last answer. */
static int delete_node(struct prdshm__zk_seg *zs, const char *path)
{
	uint64_t until = prdshm__zk_now_ms() + (uint64_t)zoo_recv_timeout(zs->zh);
	int rc, lost = 0;

	for (;;) {
		uint64_t seen = prdshm__zk_events(zs);

		rc = zoo_delete(zs->zh, path, -1);
		if (rc == ZNONODE && lost && prdshm__zk_usable(zs) == 0)
			return ZOK;
		lost |= prdshm__zk_retryable(rc);
		if (!prdshm__zk_retryable(rc) ||
		    prdshm__zk_wait_event(zs, seen, until) == PRDSHM_ETIMEDOUT)
			return rc;
	}
}

/* Set our request's data, through a lost connection (setting it twice is
 * setting it once).  @return ZooKeeper's last answer. */
static int set_node(struct prdshm__zk_seg *zs, const char *path, const char *data)
{
	uint64_t until = prdshm__zk_retry_until(zs), seen;
	int rc;

	do {
		seen = prdshm__zk_events(zs);
		rc = zoo_set(zs->zh, path, data, (int)strlen(data), -1);
	} while (prdshm__zk_again(zs, rc, seen, until));
	return rc;
}

/* The request that blocks ours, into @p blocker ("" if none). */
static int find_blocker(struct zreq *q, char *blocker, size_t size)
{
	const char *mine = base_name(q->node);
	struct prdshm__zk_req *reqs;
	size_t n, at;
	int err, excl;

	blocker[0] = '\0';
	err = prdshm__zk_requests(q->zs, q->rpath, &reqs, &n);
	if (err)
		return err;
	for (at = 0; at < n && strcmp(reqs[at].name, mine) != 0; at++)
		;
	if (at == n) {
		free(reqs);
		err = prdshm__zk_usable(q->zs);
		return err ? err : prdshm__fail(PRDSHM_ESYS, "our request %s vanished", q->node);
	}
	for (size_t i = at; i-- > 0 && !err;) {
		if (q->ignore && strcmp(reqs[i].name, q->ignore) == 0)
			continue;
		excl = 1;
		if (!q->write)
			err = prdshm__zk_req_exclusive(q->zs, q->rpath, &reqs[i], &excl);
		if (!err && excl) {
			err = prdshm__zk_join(blocker, size, q->rpath, reqs[i].name);
			break;
		}
	}
	free(reqs);
	return err;
}

/* When the next deadlock check is due: deadlock_timeout_ms after the
 * start of the wait, then as often again (but not more than ten times a
 * second: each reads the whole of locks/). */
static uint64_t next_check(const struct zreq *q, int first)
{
	int64_t ms = q->zs->deadlock_ms > 0 ? q->zs->deadlock_ms : 0;

	if (!first && ms < 100)
		ms = 100;
	return prdshm__zk_now_ms() + (uint64_t)ms;
}

/* Sleep until an event, the deadline or the next deadlock check.
 * @return 1 if the deadline has passed, 0, or PRDSHM_EINTR. */
static int doze(struct zreq *q, uint64_t seen, uint64_t check_at)
{
	uint64_t until = q->deadline < check_at ? q->deadline : check_at;

	q->slept = 1;
	if (prdshm__zk_wait_event(q->zs, seen, until) == PRDSHM_EINTR)
		return prdshm__fail(PRDSHM_EINTR, "interrupted by a signal while waiting for '%.64s'",
				    q->resource);
	return prdshm__zk_now_ms() >= q->deadline;
}

/* Wait until the request is granted, the deadline passes, a deadlock, a
 * signal or an error. */
static int await_grant(struct zreq *q)
{
	char blocker[PRDSHM__ZK_PATH_MAX];
	uint64_t check_at = next_check(q, 1);
	int err, rc, last = 0, sightings = 0;

	for (;;) {
		uint64_t seen = prdshm__zk_events(q->zs);

		err = find_blocker(q, blocker, sizeof(blocker));
		if (err || !blocker[0])
			return err;
		/* Blocked, maybe by the parent we act for, which may have
		 * been granted since we queued. */
		err = prdshm__zk_nested_covered(q->s, q->resource,
						q->write ? PRDSHM_EXCLUSIVE : PRDSHM_SHARED);
		if (err < 0)
			return err;
		if (err) {
			q->nested = 1;
			return 0;
		}
		if (q->try_)
			return prdshm__fail(PRDSHM_EBUSY, "busy: %s", base_name(blocker));
		if (last)
			return prdshm__fail(PRDSHM_ETIMEDOUT, "timed out behind %s",
					    base_name(blocker));
		if (prdshm__zk_now_ms() >= check_at) {
			err = prdshm__zk_deadlock_check(q->zs, q->node, q->resource, &sightings);
			if (err)
				return err;
			check_at = next_check(q, 0);
			continue; /* the check took time: look again */
		}
		rc = zoo_wexists(q->zs->zh, blocker, prdshm__zk_watcher, q->zs, NULL);
		if (rc == ZNONODE)
			continue;
		if (rc != ZOK && !prdshm__zk_retryable(rc))
			return prdshm__zk_err(q->zs, rc, "watch", blocker);
		/* At the deadline, look once more: the grant may have come. */
		last = doze(q, seen, check_at);
		if (last < 0)
			return last;
	}
}

static int request_init(struct zreq *q, prdshm_session *ps, const char *resource, int write,
			int64_t timeout_ms)
{
	memset(q, 0, sizeof(*q));
	q->s = (struct prdshm__zk_session *)(void *)ps;
	q->zs = q->s->seg;
	q->resource = resource;
	q->write = write;
	q->try_ = timeout_ms == PRDSHM_TRY;
	q->deadline = prdshm__zk_deadline(q->zs, timeout_ms);
	return prdshm__zk_resource_path(q->zs, resource, q->rpath, sizeof(q->rpath));
}

/* Create, wait, and on failure take the request back. */
static int serve(struct zreq *q, prdshm_mode mode, const char *phase)
{
	uint64_t began = prdshm__now_mono();
	char data[512];
	int err;

	request_data(q->s, mode, phase, prdshm__now_real(), data, sizeof(data));
	err = create_request(q, data);
	if (err)
		return err;
	err = await_grant(q);
	if (err || q->nested)
		delete_node(q->zs, q->node);
	if (q->nested)
		q->node[0] = '\0'; /* a nested hold has no request */
	prdshm__zk_metrics_count(q->s, q->resource, err, q->slept, began);
	return err;
}

static struct prdshm__zk_hold *hold_find(struct prdshm__zk_session *s, const char *resource)
{
	for (struct prdshm__zk_hold *h = s->holds; h; h = h->next)
		if (strcmp(h->resource, resource) == 0)
			return h;
	return NULL;
}

static int holds_resource(struct prdshm__zk_session *s, const char *resource)
{
	int held;

	pthread_mutex_lock(&s->mu);
	held = hold_find(s, resource) != NULL;
	pthread_mutex_unlock(&s->mu);
	return held;
}

static int check_args(prdshm_session *ps, const char *resource, int mode, int64_t timeout_ms)
{
	if (mode != PRDSHM_SHARED && mode != PRDSHM_EXCLUSIVE)
		return prdshm__fail(PRDSHM_EINVAL, "invalid mode %d", mode);
	if (timeout_ms < PRDSHM_WAIT_FOREVER)
		return prdshm__fail(PRDSHM_EINVAL, "invalid timeout %lld", (long long)timeout_ms);
	if (prdshm__zk_valid_resource(resource))
		return PRDSHM_ENAME;
	return prdshm__zk_usable(((struct prdshm__zk_session *)(void *)ps)->seg);
}

int prdshm__zk_lock(prdshm_session *ps, const char *resource, prdshm_mode mode,
		    int64_t timeout_ms, const char *phase_id)
{
	struct prdshm__zk_session *s = (struct prdshm__zk_session *)(void *)ps;
	struct prdshm__zk_hold *h;
	struct zreq q;
	int err;

	prdshm__call_begin();
	err = check_args(ps, resource, (int)mode, timeout_ms);
	if (err)
		return err;
	if (holds_resource(s, resource))
		return prdshm__fail(PRDSHM_EHELD, "'%s' is already held by this session", resource);
	err = request_init(&q, ps, resource, mode == PRDSHM_EXCLUSIVE, timeout_ms);
	/* Covered by the parent's hold: granted at once, no request. */
	q.nested = err ? 0 : prdshm__zk_nested_covered(s, resource, mode);
	if (q.nested < 0)
		return q.nested;
	if (q.nested) /* an acquire, as on shm, that did not wait */
		prdshm__zk_metrics_count(s, resource, 0, 0, prdshm__now_mono());
	if (!err && !q.nested)
		err = serve(&q, mode, phase_id);
	if (err)
		return err;
	h = calloc(1, sizeof(*h));
	if (!h) {
		if (q.node[0])
			delete_node(q.zs, q.node);
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	}
	h->mode = mode;
	prdshm__strlcpy(h->resource, resource, sizeof(h->resource));
	prdshm__strlcpy(h->node, q.node, sizeof(h->node));
	pthread_mutex_lock(&s->mu);
	h->next = s->holds;
	s->holds = h;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* Drop a hold's request, and the resource's znode if nobody else is
 * queued on it (ZooKeeper refuses to delete it otherwise).  The request
 * must have been there until now: if it had gone, so had the lock (the
 * ZooKeeper session expired, and another may have been granted it), and
 * the holder hears so rather than a success.  @return 0 or that error. */
static int release(struct prdshm__zk_seg *zs, struct prdshm__zk_hold *h)
{
	char rpath[PRDSHM__ZK_PATH_MAX];
	int rc, err = 0;

	if (!h->node[0]) { /* nested: the parent's request stays */
		free(h);
		return 0;
	}
	rc = delete_node(zs, h->node);
	if (rc == ZOK && prdshm__zk_resource_path(zs, h->resource, rpath, sizeof(rpath)) == 0)
		(void)zoo_delete(zs->zh, rpath, -1);
	if (rc != ZOK)
		err = prdshm__zk_usable(zs);
	if (rc == ZNONODE && !err)
		err = prdshm__fail(PRDSHM_ESYS, "lock on '%.64s' was lost: its request %s had gone",
				   h->resource, h->node);
	else if (rc != ZOK && !err)
		err = prdshm__zk_err(zs, rc, "unlock", h->node);
	free(h);
	return err;
}

int prdshm__zk_unlock(prdshm_session *ps, const char *resource)
{
	struct prdshm__zk_session *s = (struct prdshm__zk_session *)(void *)ps;
	struct prdshm__zk_hold **pp, *h = NULL;

	prdshm__call_begin();
	if (prdshm__zk_valid_resource(resource))
		return PRDSHM_ENAME;
	pthread_mutex_lock(&s->mu);
	for (pp = &s->holds; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->resource, resource) == 0) {
			h = *pp;
			*pp = h->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (!h)
		return prdshm__fail(PRDSHM_ENOTHELD, "'%s' is not held by this session", resource);
	return release(s->seg, h);
}

int prdshm__zk_unlock_all(prdshm_session *ps, size_t *freed)
{
	struct prdshm__zk_session *s = (struct prdshm__zk_session *)(void *)ps;
	struct prdshm__zk_hold *h, *next;
	size_t n = 0;
	int err = 0, e;

	prdshm__call_begin();
	pthread_mutex_lock(&s->mu);
	h = s->holds;
	s->holds = NULL;
	pthread_mutex_unlock(&s->mu);
	for (; h; h = next, n++) {
		next = h->next;
		e = release(s->seg, h);
		err = err ? err : e;
	}
	if (freed)
		*freed = n;
	return err ? err : prdshm__zk_usable(s->seg);
}

/* The hold on @p resource and a copy of its request's path. */
static int held_copy(struct prdshm__zk_session *s, const char *resource, prdshm_mode *mode,
		     char *node, size_t size)
{
	struct prdshm__zk_hold *h;

	pthread_mutex_lock(&s->mu);
	h = hold_find(s, resource);
	if (h) {
		*mode = h->mode;
		prdshm__strlcpy(node, h->node, size);
	}
	pthread_mutex_unlock(&s->mu);
	if (!h)
		return prdshm__fail(PRDSHM_ENOTHELD, "'%s' is not held by this session", resource);
	return 0;
}

/* Record the hold's new request and mode; 0 if another thread released
 * it meanwhile. */
static int hold_update(struct prdshm__zk_session *s, const char *resource, prdshm_mode mode,
		       const char *node)
{
	struct prdshm__zk_hold *h;

	pthread_mutex_lock(&s->mu);
	h = hold_find(s, resource);
	if (h) {
		h->mode = mode;
		if (node)
			prdshm__strlcpy(h->node, node, sizeof(h->node));
	}
	pthread_mutex_unlock(&s->mu);
	return h != NULL;
}

int prdshm__zk_upgrade(prdshm_session *ps, const char *resource, int64_t timeout_ms)
{
	struct prdshm__zk_session *s = (struct prdshm__zk_session *)(void *)ps;
	char old[PRDSHM__ZK_PATH_MAX];
	prdshm_mode mode;
	struct zreq q;
	int err;

	prdshm__call_begin();
	err = check_args(ps, resource, PRDSHM_EXCLUSIVE, timeout_ms);
	if (!err)
		err = held_copy(s, resource, &mode, old, sizeof(old));
	if (err || mode == PRDSHM_EXCLUSIVE)
		return err;
	err = request_init(&q, ps, resource, 1, timeout_ms);
	if (err)
		return err;
	/* A nested hold (no request) the parent's covers in full. */
	q.nested = old[0] ? 0 : prdshm__zk_nested_covered(s, resource, PRDSHM_EXCLUSIVE);
	if (q.nested < 0)
		return q.nested;
	q.ignore = base_name(old);
	err = q.nested ? 0 : serve(&q, PRDSHM_EXCLUSIVE, NULL);
	if (err)
		return err;
	if (!hold_update(s, resource, PRDSHM_EXCLUSIVE, q.node)) {
		delete_node(q.zs, q.node);
		return prdshm__fail(PRDSHM_ENOTHELD, "'%s' was released while upgrading", resource);
	}
	if (old[0])
		delete_node(q.zs, old);
	return 0;
}

int prdshm__zk_downgrade(prdshm_session *ps, const char *resource)
{
	struct prdshm__zk_session *s = (struct prdshm__zk_session *)(void *)ps;
	char node[PRDSHM__ZK_PATH_MAX], data[512];
	prdshm_mode mode;
	int err, rc;

	prdshm__call_begin();
	if (prdshm__zk_valid_resource(resource))
		return PRDSHM_ENAME;
	err = held_copy(s, resource, &mode, node, sizeof(node));
	if (err || mode == PRDSHM_SHARED)
		return err;
	if (!node[0]) { /* nested: nobody queues behind it */
		hold_update(s, resource, PRDSHM_SHARED, NULL);
		return 0;
	}
	/* The readers queued behind us watch this request: the change of its
	 * data wakes them, and they find it shared. */
	request_data(s, PRDSHM_SHARED, NULL, prdshm__now_real(), data, sizeof(data));
	rc = set_node(s->seg, node, data);
	if (rc != ZOK) {
		/* The change may have reached the server, and readers may be
		 * inside already: the hold is shared from now on, whatever the
		 * answer (an upgrade then queues for exclusivity again). */
		hold_update(s, resource, PRDSHM_SHARED, NULL);
		return prdshm__zk_err(s->seg, rc, "downgrade", node);
	}
	hold_update(s, resource, PRDSHM_SHARED, NULL);
	return 0;
}
#endif
