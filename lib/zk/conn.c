/*
 * conn.c: the ZooKeeper backend's connection: connecting within the session
 * timeout, the watcher that wakes waiters, ZooKeeper's errors as prdshm's,
 * and the paths of resources and requests.
 *
 * One ZooKeeper session per prdshm_seg: the sessions of one process share
 * it, and their ephemeral znodes vanish together when the process dies (once
 * the ensemble expires the session, zookeeper.session_timeout_ms later).
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/futex.h"
#include "base/util.h"
#include "zk/zk.h"

uint64_t prdshm__zk_now_ms(void)
{
	return prdshm__now_mono() / 1000000u;
}

/* The deadline of a wait of @p timeout_ms (UINT64_MAX: none). */
uint64_t prdshm__zk_deadline(struct prdshm__zk_seg *zs, int64_t timeout_ms)
{
	if (timeout_ms == PRDSHM_WAIT_DEFAULT)
		timeout_ms = zs->default_wait_ms;
	if (timeout_ms == PRDSHM_WAIT_FOREVER)
		return UINT64_MAX;
	return prdshm__zk_now_ms() + (uint64_t)timeout_ms;
}

/* Every event, of the session or of a watch, wakes every waiter of the
 * segment: each then asks the server again about the one znode it waits
 * for (a waiter watches only that one: no herd on the server).  The
 * doorbell is rung under mu and the sleepers woken after, as futex.h
 * says, so a waiter that read it under mu misses no event. */
void prdshm__zk_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct prdshm__zk_seg *zs = ctx;

	(void)zh;
	(void)path;
	pthread_mutex_lock(&zs->mu);
	if (type == ZOO_SESSION_EVENT)
		zs->state = state;
	zs->events++;
	prdshm__doorbell_ring(&zs->bell);
	pthread_mutex_unlock(&zs->mu);
	prdshm__futex_wake_all(&zs->bell);
}

uint64_t prdshm__zk_events(struct prdshm__zk_seg *zs)
{
	uint64_t n;

	pthread_mutex_lock(&zs->mu);
	n = zs->events;
	pthread_mutex_unlock(&zs->mu);
	return n;
}

/* Sleep until an event after the @p seen th, or until @p deadline_ms, or at
 * most a second (a slice: the caller looks again).  @return 0, or
 * PRDSHM_ETIMEDOUT at the deadline, or PRDSHM_EINTR when a signal handler
 * ran in this thread during the sleep (a lock wait gives up with it, as
 * on shm; the other callers just look again). */
int prdshm__zk_wait_event(struct prdshm__zk_seg *zs, uint64_t seen, uint64_t deadline_ms)
{
	uint64_t now = prdshm__zk_now_ms(), until = now + 1000;
	uint32_t bell;
	int r;

	if (deadline_ms <= now)
		return PRDSHM_ETIMEDOUT;
	if (deadline_ms < until)
		until = deadline_ms;
	pthread_mutex_lock(&zs->mu);
	if (zs->events != seen) {
		pthread_mutex_unlock(&zs->mu);
		return 0;
	}
	bell = prdshm__doorbell_read(&zs->bell);
	pthread_mutex_unlock(&zs->mu);
	r = prdshm__futex_wait(&zs->bell, bell, (int64_t)(until - now) * 1000000);
	return r == PRDSHM_EINTR ? r : 0;
}

/* An expired session lost every ephemeral znode: every lock and session of
 * this handle is gone, and the library says so rather than carry on. */
int prdshm__zk_usable(struct prdshm__zk_seg *zs)
{
	int state;

	pthread_mutex_lock(&zs->mu);
	state = zs->state;
	pthread_mutex_unlock(&zs->mu);
	/* The client's own state may be ahead of its event to the watcher:
	 * a call answered ZINVALIDSTATE before the event came. */
	if (state != ZOO_EXPIRED_SESSION_STATE && zs->zh)
		state = zoo_state(zs->zh);
	if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE)
		return prdshm__fail(PRDSHM_ESYS,
				    "ZooKeeper session of %s expired: its sessions and locks are "
				    "gone; close the segment and open it again",
				    zs->shm_name);
	return 0;
}

/* A failure a later attempt may not meet: the connection is being
 * re-established, within the session timeout. */
int prdshm__zk_retryable(int rc)
{
	return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT;
}

/* How long an operation may go on through a lost connection: past the
 * session timeout the session has expired anyway. */
uint64_t prdshm__zk_retry_until(struct prdshm__zk_seg *zs)
{
	return prdshm__zk_now_ms() + (uint64_t)zoo_recv_timeout(zs->zh);
}

/* After an attempt that answered @p rc: 1 to try again.  A lost connection
 * comes back within the session timeout (to another server of the ensemble
 * when one died: electing a new leader takes a second or two), so wait for
 * the client's next event, at most until @p until, rather than fail a
 * caller whose session is still alive.  @p seen is prdshm__zk_events()
 * from before the attempt. */
int prdshm__zk_again(struct prdshm__zk_seg *zs, int rc, uint64_t seen, uint64_t until)
{
	return prdshm__zk_retryable(rc) &&
	       prdshm__zk_wait_event(zs, seen, until) != PRDSHM_ETIMEDOUT;
}

/*
 * The reads, through a lost connection within the session timeout
 * (prdshm__zk_again()): a tool following a run or an agent between two
 * claims must not give up while the ensemble elects a new leader.  They
 * answer what the client's call answers once it is final.
 */
int prdshm__zk_children(struct prdshm__zk_seg *zs, const char *path, struct String_vector *kids)
{
	uint64_t until = prdshm__zk_retry_until(zs), seen;
	int rc;

	do {
		seen = prdshm__zk_events(zs);
		rc = zoo_get_children(zs->zh, path, 0, kids);
	} while (prdshm__zk_again(zs, rc, seen, until));
	return rc;
}

/* @p len is the room in @p buf, and on ZOK what was read (-1: no data). */
int prdshm__zk_get(struct prdshm__zk_seg *zs, const char *path, int watch, char *buf, int *len,
		   struct Stat *st)
{
	uint64_t until = prdshm__zk_retry_until(zs), seen;
	int room = *len, rc;

	do {
		seen = prdshm__zk_events(zs);
		*len = room;
		rc = watch ? zoo_wget(zs->zh, path, prdshm__zk_watcher, zs, buf, len, st)
			   : zoo_get(zs->zh, path, 0, buf, len, st);
	} while (prdshm__zk_again(zs, rc, seen, until));
	return rc;
}

int prdshm__zk_exists(struct prdshm__zk_seg *zs, const char *path, struct Stat *st)
{
	uint64_t until = prdshm__zk_retry_until(zs), seen;
	int rc;

	do {
		seen = prdshm__zk_events(zs);
		rc = zoo_exists(zs->zh, path, 0, st);
	} while (prdshm__zk_again(zs, rc, seen, until));
	return rc;
}

int prdshm__zk_err(struct prdshm__zk_seg *zs, int rc, const char *what, const char *path)
{
	int err = prdshm__zk_usable(zs);

	if (err)
		return err;
	switch (rc) {
	case ZNONODE:
		return prdshm__fail(PRDSHM_ENOENT, "%s %s: no such znode", what, path);
	case ZNODEEXISTS:
		return prdshm__fail(PRDSHM_EEXIST, "%s %s: znode exists", what, path);
	case ZNOAUTH:
		return prdshm__fail(PRDSHM_EACCES, "%s %s: not allowed by the znode's ACL", what,
				    path);
	case ZNOTEMPTY:
		return prdshm__fail(PRDSHM_EINUSE, "%s %s: znode has children", what, path);
	case ZCONNECTIONLOSS:
	case ZOPERATIONTIMEOUT:
		/* Retried until the session timeout (prdshm__zk_again()) */
		return prdshm__fail(PRDSHM_EUNREACHABLE,
				    "%s %s: ZooKeeper unreachable for the session timeout (%s)",
				    what, path, zerror(rc));
	default:
		return prdshm__fail(PRDSHM_ESYS, "%s %s: ZooKeeper: %s", what, path, zerror(rc));
	}
}

/* Wait for the first connection: ZooKeeper connects in the background. */
static int await_connected(struct prdshm__zk_seg *zs, const char *hosts, int timeout_ms)
{
	uint64_t deadline = prdshm__zk_now_ms() + (uint64_t)timeout_ms;
	uint64_t seen;

	for (;;) {
		pthread_mutex_lock(&zs->mu);
		seen = zs->events;
		if (zs->state == ZOO_CONNECTED_STATE) {
			pthread_mutex_unlock(&zs->mu);
			return 0;
		}
		pthread_mutex_unlock(&zs->mu);
		if (prdshm__zk_wait_event(zs, seen, deadline) == PRDSHM_ETIMEDOUT)
			return prdshm__fail(PRDSHM_EUNREACHABLE,
					    "cannot reach ZooKeeper at %s within %d ms (is a server "
					    "running? zookeeper.hosts)",
					    hosts, timeout_ms);
	}
}

static void seg_free(struct prdshm__zk_seg *zs)
{
	pthread_mutex_destroy(&zs->mu);
	free(zs);
}

static int seg_alloc(const prdshm_config *cfg, const char *shm_name, struct prdshm__zk_seg **out)
{
	const struct prdshm__backend_cfg *be = prdshm__config_backend(cfg);
	struct prdshm__zk_seg *zs = calloc(1, sizeof(*zs));

	if (!zs)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	pthread_mutex_init(&zs->mu, NULL);
	zs->default_wait_ms = cfg ? (int64_t)cfg->lock_timeout_seconds * 1000 : 300000;
	zs->deadlock_ms = cfg ? cfg->deadlock_timeout_ms : 500;
	prdshm__strlcpy(zs->shm_name, shm_name, sizeof(zs->shm_name));
	/* "/" as the root puts the segment right under it. */
	snprintf(zs->base, sizeof(zs->base), "%s%s", strcmp(be->zk_root, "/") ? be->zk_root : "",
		 shm_name);
	*out = zs;
	return 0;
}

/* zookeeper_init() starts the client's threads, which inherit our signal
 * mask: started with every signal blocked, they never take a signal meant
 * for the process, which then reaches a thread of the application (the
 * waiter a handler must interrupt, PRDSHM_EINTR). */
static zhandle_t *init_quiet(const struct prdshm__backend_cfg *be, struct prdshm__zk_seg *zs)
{
	sigset_t all, old;
	zhandle_t *zh;
	int saved;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	zh = zookeeper_init(be->zk_hosts, prdshm__zk_watcher, be->zk_session_timeout_ms, NULL, zs,
			    0);
	saved = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return zh;
}

/* The client's own log (to stderr), off unless PRDSHM_ZOOKEEPER_LOG asks
 * for it: during a failover it prints a line for every refused connection,
 * which a tool's user would take for the failure it is not; what does fail
 * is reported by this library's messages. */
static ZooLogLevel client_log_level(void)
{
	static const char *const names[] = { "off", "error", "warn", "info", "debug" };
	const char *v = getenv("PRDSHM_ZOOKEEPER_LOG");

	if (v == NULL || *v == '\0')
		return (ZooLogLevel)0;
	for (int i = 0; i < 5; i++)
		if (strcmp(v, names[i]) == 0)
			return (ZooLogLevel)i;
	return ZOO_LOG_LEVEL_ERROR; /* asked for, but not by a name we know */
}

int prdshm__zk_connect(const prdshm_config *cfg, const char *shm_name,
		       struct prdshm__zk_seg **out)
{
	const struct prdshm__backend_cfg *be = prdshm__config_backend(cfg);
	struct prdshm__zk_seg *zs = NULL;
	int err;

	*out = NULL;
	if (!shm_name || shm_name[0] != '/' || strchr(shm_name + 1, '/') || !shm_name[1])
		return prdshm__fail(PRDSHM_ENAME, "bad segment name '%s'", shm_name ? shm_name : "");
	err = seg_alloc(cfg, shm_name, &zs);
	if (err)
		return err;
	zoo_set_debug_level(client_log_level());
	zs->zh = init_quiet(be, zs);
	if (!zs->zh) {
		err = prdshm__fail_errno(PRDSHM_ESYS, "zookeeper_init(%s)", be->zk_hosts);
		seg_free(zs);
		return err;
	}
	err = await_connected(zs, be->zk_hosts, be->zk_session_timeout_ms);
	if (err) {
		prdshm__zk_disconnect(zs);
		return err;
	}
	*out = zs;
	return 0;
}

/* Closing the ZooKeeper session removes its ephemeral znodes at once. */
void prdshm__zk_disconnect(struct prdshm__zk_seg *zs)
{
	if (!zs)
		return;
	if (zs->zh)
		zookeeper_close(zs->zh);
	seg_free(zs);
}

int prdshm__zk_valid_resource(const char *resource)
{
	size_t len = resource ? strnlen(resource, PRDSHM_NAME_MAX + 1) : 0;

	if (len == 0 || len > PRDSHM_NAME_MAX)
		return prdshm__fail(PRDSHM_ENAME, "resource name must be 1..%d bytes",
				    PRDSHM_NAME_MAX);
	return 0;
}

/* Bytes a znode name may hold as they are; the rest is written %XX. */
static int plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* <base>/locks/<resource, percent-encoded>: any name of 1..255 bytes but
 * NUL maps to one znode name, never "." or "..", never with a "/". */
int prdshm__zk_resource_path(struct prdshm__zk_seg *zs, const char *resource, char *buf,
			     size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = (size_t)snprintf(buf, size, "%s/locks/", zs->base);

	for (const unsigned char *p = (const unsigned char *)resource; *p; p++) {
		if (n + 4 > size)
			return prdshm__fail(PRDSHM_ENAME, "resource name too long for a znode path");
		if (plain(*p)) {
			buf[n++] = (char)*p;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[*p >> 4];
			buf[n++] = hex[*p & 15];
		}
	}
	buf[n] = '\0';
	return 0;
}

/* A resource znode's name, %XX-decoded (prdshm__zk_resource_path()
 * encodes); -1 if it is not one we made (inspect.c, metrics.c). */
int prdshm__zk_resource_decode(const char *name, prdshm_lock_info *li)
{
	size_t n = 0;

	for (const char *p = name; *p; p++) {
		unsigned v;

		if (n == PRDSHM_NAME_MAX)
			return -1;
		if (*p != '%') {
			li->resource[n++] = *p;
			continue;
		}
		if (sscanf(p + 1, "%2x", &v) != 1 || v == 0 || p[1] == '\0' || p[2] == '\0')
			return -1;
		li->resource[n++] = (char)v;
		p += 2;
	}
	li->resource[n] = '\0';
	li->resource_len = n;
	return n ? 0 : -1;
}

/* @p a "/" @p b into @p buf; 0, or PRDSHM_ENAME when it does not fit
 * (never truncated: a shorter path would name another znode). */
int prdshm__zk_join(char *buf, size_t size, const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	if (na + 1 + nb + 1 > size)
		return prdshm__fail(PRDSHM_ENAME, "znode path %s/%s too long", a, b);
	memcpy(buf, a, na);
	buf[na] = '/';
	memcpy(buf + na + 1, b, nb + 1);
	return 0;
}

/* The sequence number ZooKeeper appended (ten digits), or -1. */
long long prdshm__zk_seq_of(const char *name)
{
	size_t n = strlen(name);
	char *end;
	long long v;

	if (n < 10)
		return -1;
	v = strtoll(name + n - 10, &end, 10);
	return *end == '\0' ? v : -1;
}
#endif
