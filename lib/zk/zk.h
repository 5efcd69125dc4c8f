/*
 * zk.h: the ZooKeeper backend (docs/zookeeper.md): what its files share.
 *
 * A segment is a connection (one ZooKeeper session per prdshm_seg) and a
 * base znode, <zookeeper.root><shm_name>, holding
 *   agents/   one EPHEMERAL_SEQUENTIAL znode per prdshm session,
 *             "<agent_id>-<seq>": it vanishes with the ZooKeeper session;
 *   locks/    one persistent znode per resource (its name percent-encoded),
 *             whose EPHEMERAL_SEQUENTIAL children "read-<owner>-<seq>" and
 *             "write-<owner>-<seq>" are the requests, in the order of <seq>
 *             (the shared/exclusive recipe of the ZooKeeper documentation);
 *   plan      the phase-region image (plan.c), changed by version-checked
 *             writes;
 *   metrics   the lock counts of the sessions that closed (metrics.c).
 * Built only with the C client (PRDSHM_HAVE_ZOOKEEPER, the Makefile's
 * HAVE_ZK); without it lib/api/zk_backend.c refuses every segment with
 * PRDSHM_ENOTSUP.
 */
#ifndef PRDSHM_INTERNAL_ZK_H
#define PRDSHM_INTERNAL_ZK_H

#include <pthread.h>
#include <stdint.h>

#include "base/handle.h"
#include "config/backend.h"
#include "prdshm.h"

#ifdef PRDSHM_HAVE_ZOOKEEPER
/* The synchronous calls (zoo_create...) of the multi-threaded client. */
#ifndef THREADED
#define THREADED
#endif
#include <zookeeper/zookeeper.h>

/* Longest path we build: root, shm_name, "/locks/", an encoded resource
 * (3 bytes a byte at worst), a request's name. */
#define PRDSHM__ZK_PATH_MAX \
	(PRDSHM__ZK_ROOT_MAX + PRDSHM_SHM_NAME_MAX + 3 * PRDSHM_NAME_MAX + 128)

/* How many generations of parents a session acts for (nested.c). */
#define PRDSHM__ZK_ANCESTORS 8

struct prdshm__zk_seg {
	struct prdshm__handle h; /* first: the backend that made it */
	zhandle_t *zh;
	pthread_mutex_t mu;  /* guards state and events */
	uint32_t bell;       /* a doorbell (base/futex.h) rung on every event,
			      * under mu: a futex sleep, unlike a condition
			      * variable, ends when a signal handler runs */
	int state;           /* the connection's state, from the watcher */
	uint64_t events;     /* watch and session events seen so far */
	int64_t deadlock_ms; /* deadlock_timeout_ms (deadlock.c) */
	uint32_t next_owner; /* makes each request's owner tag unique (atomic) */
	int64_t default_wait_ms; /* lock_timeout_seconds, for PRDSHM_WAIT_DEFAULT */
	uint64_t created_ns;
	prdshm_seg_info settings; /* from the base znode at open (session.c) */
	int plan_bytes; /* the plan image's size once read, 0 before (atomic; plan.c) */
	/* auth.c (branch zkauth), set once at connect: the ACL of every znode
	 * the backend creates, and of the root's ancestors it creates; authed:
	 * zookeeper.auth_file's credentials were added to the session. */
	const struct ACL_vector *acl, *root_acl;
	int authed;
	int auth_rc, auth_done; /* (mu) zoo_add_auth()'s answer, once done */
	char shm_name[PRDSHM_SHM_NAME_MAX + 1];
	char base[PRDSHM__ZK_ROOT_MAX + PRDSHM_SHM_NAME_MAX + 1];
};

/* metrics.c (branch zkmetrics): what a session's lock requests came to,
 * kept in the session and written with its agent record (docs/zookeeper.md,
 * "Lock metrics"): its totals, and those of the PRDSHM__ZK_METRICS_RES
 * resources it used last. */
#define PRDSHM__ZK_METRICS_RES 16
struct prdshm__zk_figures {
	uint64_t acquisitions, contended, timeouts, deadlocks, wait_ns, wait_max_ns;
	uint64_t buckets[PRDSHM_WAIT_BUCKETS];
};
struct prdshm__zk_res_counts {
	uint64_t used; /* the tick of its last request; 0: the entry is free */
	char name[PRDSHM_NAME_MAX + 1];
	struct prdshm__zk_figures f;
};
struct prdshm__zk_counts {
	uint64_t tick; /* counts the requests: the resources' last use */
	struct prdshm__zk_figures total;
	struct prdshm__zk_res_counts res[PRDSHM__ZK_METRICS_RES];
};
/* The lines "lock_totals=" and "lock_resource=" the records carry, at most
 * this many bytes (the agent parser ignores them: unknown keys). */
#define PRDSHM__ZK_METRICS_MAX \
	((PRDSHM__ZK_METRICS_RES + 1) * (24 + 14 * 21 + 3 * PRDSHM_NAME_MAX))

/* A lock the session holds.  node is its request; upgrading a SHARED hold
 * adds a write request and drops the read one once granted (lock.c). */
struct prdshm__zk_hold {
	struct prdshm__zk_hold *next;
	prdshm_mode mode;
	char resource[PRDSHM_NAME_MAX + 1];
	char node[PRDSHM__ZK_PATH_MAX];
};

struct prdshm__zk_session {
	struct prdshm__handle h; /* first: the backend that made it */
	struct prdshm__zk_seg *seg;
	pthread_mutex_t mu;            /* guards holds and counts */
	struct prdshm__zk_hold *holds; /* (mu) */
	int slot;                      /* the sequence number of its agent znode */
	/* The sessions this one acts for (nested.c), set once at open: its
	 * parent, the parent's parent... (nanc of them, 0: none), each by its
	 * slot and ZooKeeper session id. */
	int nanc;
	int anc_slot[PRDSHM__ZK_ANCESTORS];
	unsigned long long anc_owner[PRDSHM__ZK_ANCESTORS];
	char agent_id[PRDSHM_ID_MAX + 1];
	char node[PRDSHM__ZK_PATH_MAX]; /* its agent znode */
	struct prdshm__zk_counts counts; /* (mu) its lock metrics (metrics.c) */
};

/* conn.c: the connection, errors, paths, waiting for events. */
int prdshm__zk_connect(const prdshm_config *cfg, const char *shm_name,
		       struct prdshm__zk_seg **out);
void prdshm__zk_disconnect(struct prdshm__zk_seg *zs);
int prdshm__zk_err(struct prdshm__zk_seg *zs, int rc, const char *what, const char *path);
int prdshm__zk_usable(struct prdshm__zk_seg *zs);
int prdshm__zk_retryable(int rc);
uint64_t prdshm__zk_events(struct prdshm__zk_seg *zs);
int prdshm__zk_wait_event(struct prdshm__zk_seg *zs, uint64_t seen, uint64_t deadline_ms);
void prdshm__zk_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx);
uint64_t prdshm__zk_deadline(struct prdshm__zk_seg *zs, int64_t timeout_ms);
uint64_t prdshm__zk_now_ms(void);
int prdshm__zk_resource_path(struct prdshm__zk_seg *zs, const char *resource, char *buf,
			     size_t size);
long long prdshm__zk_seq_of(const char *name);
int prdshm__zk_valid_resource(const char *resource);
int prdshm__zk_join(char *buf, size_t size, const char *a, const char *b);

/* conn.c, for the ensemble's failover (branch zkens): retrying an
 * operation through a lost connection within the session timeout. */
uint64_t prdshm__zk_retry_until(struct prdshm__zk_seg *zs);
int prdshm__zk_again(struct prdshm__zk_seg *zs, int rc, uint64_t seen, uint64_t until);
/* zoo_get_children(), zoo_get() / zoo_wget() (with the segment's watcher)
 * and zoo_exists(), retried through a lost connection as prdshm__zk_again()
 * says.  prdshm__zk_get(): *len is the room in buf, then what was read. */
int prdshm__zk_children(struct prdshm__zk_seg *zs, const char *path, struct String_vector *kids);
int prdshm__zk_get(struct prdshm__zk_seg *zs, const char *path, int watch, char *buf, int *len,
		   struct Stat *st);
int prdshm__zk_exists(struct prdshm__zk_seg *zs, const char *path, struct Stat *st);

/* auth.c (branch zkauth): zookeeper.auth_file, the digest credentials
 * (docs/zookeeper.md, "Security").  prdshm__zk_connect_auth(): as
 * prdshm__zk_connect(), then the file's "user:password" added to the
 * session, which chooses zs->acl; the file is refused (PRDSHM_EPERM)
 * unless only its owner, the caller, may read it, before any connection.
 * prdshm__zk_trust(): whether the segment at zs->base may be used with the
 * configuration's credentials (PRDSHM_EPERM: its znode lets the world
 * change it).  prdshm__zk_denied(): the PRDSHM_EACCES of a base znode
 * whose ACL refused us (ZNOAUTH). */
int prdshm__zk_connect_auth(const prdshm_config *cfg, const char *shm_name,
			    struct prdshm__zk_seg **out);
int prdshm__zk_trust(struct prdshm__zk_seg *zs);
int prdshm__zk_denied(struct prdshm__zk_seg *zs);

/* session.c: segments and sessions. */
int prdshm__zk_seg_create(const prdshm_config *cfg, prdshm_seg **out);
int prdshm__zk_seg_open(const char *name, const prdshm_config *cfg, prdshm_seg **out);
void prdshm__zk_seg_close(prdshm_seg *seg);
int prdshm__zk_seg_unlink_unused(const char *name, const prdshm_config *cfg);
int prdshm__zk_seg_info(prdshm_seg *seg, prdshm_seg_info *info);
int prdshm__zk_delete_tree(struct prdshm__zk_seg *zs, const char *path);
int prdshm__zk_session_open(prdshm_seg *seg, const char *agent_id, unsigned flags,
			    int64_t timeout_ms, prdshm_session **out);
void prdshm__zk_session_close(prdshm_session *ps);
void prdshm__zk_session_abandon(prdshm_session *ps);
int prdshm__zk_session_slot(const prdshm_session *ps);
int prdshm__zk_session_fd(const prdshm_session *ps);

/* lock.c, many.c, query.c */
int prdshm__zk_lock(prdshm_session *s, const char *resource, prdshm_mode mode,
		    int64_t timeout_ms, const char *phase_id);
int prdshm__zk_unlock(prdshm_session *s, const char *resource);
int prdshm__zk_unlock_all(prdshm_session *s, size_t *freed);
int prdshm__zk_lock_many(prdshm_session *s, const char *const *resources, size_t n,
			 prdshm_mode mode, int64_t timeout_ms, const char *phase_id,
			 size_t *failed);
int prdshm__zk_upgrade(prdshm_session *s, const char *resource, int64_t timeout_ms);
int prdshm__zk_downgrade(prdshm_session *s, const char *resource);
int prdshm__zk_lock_query(prdshm_seg *seg, const char *resource, prdshm_mode mode,
			  prdshm_holder *out, size_t cap, size_t *n);

/* The requests under one resource, sorted by sequence number (query.c). */
struct prdshm__zk_req {
	char name[128];
	long long seq;
	int write; /* a write- request: exclusive unless downgraded */
};
int prdshm__zk_requests(struct prdshm__zk_seg *zs, const char *rpath,
			struct prdshm__zk_req **out, size_t *n);
int prdshm__zk_req_exclusive(struct prdshm__zk_seg *zs, const char *rpath,
			     const struct prdshm__zk_req *r, int *exclusive);
void prdshm__zk_field(const char *data, const char *key, char *buf, size_t size);

/* deadlock.c: after deadlock_timeout_ms of waiting, request @p node (on
 * @p resource, for the message) looks for a cycle through itself in the
 * waits-for graph read out of locks/.  @p sightings counts the caller's
 * consecutive checks that saw one (0 at the start of a wait).  @return
 * PRDSHM_EDEADLK (this request is to fail: the message names the cycle),
 * else 0 (no cycle, not its turn, or the tree could not be read). */
int prdshm__zk_deadlock_check(struct prdshm__zk_seg *zs, const char *node, const char *resource,
			      int *sightings);

/* agent.c, inspect.c, check.c (the zkview branch): the agent record in an
 * agent znode's data, the settings in the base znode's, snapshots and
 * checks.  PRDSHM__ZK_HOST_MAX bounds a host name as the record keeps it;
 * PRDSHM__ZK_AGENT_MAX a record's bytes (every text byte escaped). */
#define PRDSHM__ZK_HOST_MAX 255
#define PRDSHM__ZK_AGENT_MAX                                                              \
	(256 + 4 * PRDSHM__ZK_HOST_MAX + PRDSHM_LOG_LINES * (8 + 4 * PRDSHM_MSG_MAX) + \
	 PRDSHM__ZK_METRICS_MAX)
struct prdshm__zk_agent_rec {
	int32_t pid;
	uint32_t uid;
	uint64_t start_ns, heartbeat_ns;
	prdshm_agent_status status;
	char host[PRDSHM__ZK_HOST_MAX + 1];
	char parent[48]; /* "<seq>:<owner hex>": the session it acts for
			  * (nested.c), "" if none */
	uint32_t nlog; /* lines in log[], oldest first */
	char log[PRDSHM_LOG_LINES][PRDSHM_MSG_MAX + 1];
};
void prdshm__zk_agent_init(struct prdshm__zk_agent_rec *r);
/* @return the record's length in @p buf, or -1 if it does not fit. */
int prdshm__zk_agent_format(const struct prdshm__zk_agent_rec *r, char *buf, size_t size);
/* @return 0, or PRDSHM_ECORRUPT with what is wrong in @p why (no error
 * set: a reader reports it as it sees fit). */
int prdshm__zk_agent_parse(const char *data, size_t len, struct prdshm__zk_agent_rec *r,
			   char *why, size_t wsize);
int prdshm__zk_agent_heartbeat(prdshm_session *s);
int prdshm__zk_agent_log(prdshm_session *s, const char *line);
/* The settings stored at creation after "prdshm zookeeper 1 " in the base
 * znode's data (session.c). */
void prdshm__zk_settings_parse(const char *data, prdshm_seg_info *info, uint32_t *uid);
int prdshm__zk_snapshot_take(prdshm_seg *seg, unsigned flags, prdshm_snapshot **out);
int prdshm__zk_check(prdshm_seg *seg, unsigned flags,
		     void (*report)(void *ctx, int severity, const char *problem), void *ctx);
/* A resource's requests as holders in queue order, with waiting set
 * (query.c); *bad counts the requests whose data did not parse (may be
 * NULL). */
int prdshm__zk_read_holders(struct prdshm__zk_seg *zs, const char *rpath, prdshm_holder **out,
			    size_t *n, size_t *bad);

/* nested.c (branch zknest): nested locks.  prdshm_session_env()'s value
 * "zk:<seq>:<owner hex>:<created_ns>:<shm_name>"; at open, the parent it
 * names and that one's ancestors (s->nanc, 0 if none or not honoured);
 * whether a granted request of one of them covers a request of @p s in
 * @p mode (1, 0, or an error).  An agent record's parent= is
 * "<seq>:<owner hex>" (agent.c). */
int prdshm__zk_session_env(const prdshm_session *s, char *buf, size_t size);
void prdshm__zk_parent_from_env(struct prdshm__zk_session *s, unsigned flags);
int prdshm__zk_nested_covered(struct prdshm__zk_session *s, const char *resource,
			      prdshm_mode mode);

/* plan.c: phases (docs/zookeeper.md, "Phases").  The znode <base>/plan holds
 * the phase-region image (plan/image.h), changed by version-checked writes.
 * For the other files and the other entry points: */
/* The plan's path, <base>/plan.  @return 0 or PRDSHM_ENAME (too long). */
int prdshm__zk_plan_path(struct prdshm__zk_seg *zs, char *buf, size_t size);
/* Read the image into a malloc'd *buf of *bytes bytes and its znode's
 * *version; *buf NULL when the segment has no plan znode.  The image is
 * what the server holds: parse it as untrusted (prdshm__phase_geom_parse()
 * bounds-checks it).  @return 0, PRDSHM_ENOMEM, or a ZooKeeper error
 * (prdshm__zk_err()). */
int prdshm__zk_plan_read(struct prdshm__zk_seg *zs, unsigned char **buf, uint64_t *bytes,
			 int32_t *version);
/* The sequence numbers (session slots) of the agent znodes under agents/,
 * sorted, in a malloc'd *slots of *n (free() it).  A phase's holder is
 * alive while its agent_slot is among them (agent_gen is 0 on ZooKeeper).
 * @return 0, PRDSHM_ENOMEM, or a ZooKeeper error. */
int prdshm__zk_live_slots(struct prdshm__zk_seg *zs, long long **slots, size_t *n);
/* 1 if @p slot is among the @p n sorted @p slots. */
int prdshm__zk_slot_alive(const long long *slots, size_t n, long long slot);
int prdshm__zk_plan_create_op(const prdshm_config *cfg, struct prdshm__zk_seg *zs,
			      zoo_op_t *op, char *path, size_t size, unsigned char **image);
int prdshm__zk_phase_claim(prdshm_session *s, int64_t timeout_ms, prdshm_claim *out);
int prdshm__zk_phase_wait(prdshm_session *s, int64_t timeout_ms);
int prdshm__zk_phase_complete(prdshm_session *s, int32_t index);
int prdshm__zk_phase_fail(prdshm_session *s, int32_t index, int exit_status,
			  const char *message);
int prdshm__zk_phase_set(prdshm_seg *seg, prdshm_session *s, const char *id,
			 prdshm_phase_status to);
int prdshm__zk_reap(prdshm_seg *seg, int requeue, void (*report)(void *ctx, const char *line),
		    void *ctx, size_t *nreaped);
int prdshm__zk_recover(prdshm_seg *seg, void (*report)(void *ctx, const char *line), void *ctx);

/* metrics.c (branch zkmetrics): the lock metrics (docs/zookeeper.md, "Lock
 * metrics").  prdshm__zk_metrics_count(): a request on @p resource came to
 * @p err (0: granted), having waited (@p slept) since @p began_ns
 * (CLOCK_MONOTONIC); lock.c calls it once per request served. */
void prdshm__zk_metrics_count(struct prdshm__zk_session *s, const char *resource, int err,
			      int slept, uint64_t began_ns);
/* Append the session's figures to its record in @p buf (@p len bytes so
 * far, room @p size).  @return the new length, or -1 if they do not fit. */
int prdshm__zk_metrics_format(struct prdshm__zk_session *s, char *buf, int len, size_t size);
/* At the session's close: move its totals into <base>/metrics and delete
 * its agent znode, in one transaction (what fails leaves the znode to the
 * caller's delete, the figures lost). */
void prdshm__zk_metrics_retire(struct prdshm__zk_session *s);
int prdshm__zk_lock_metrics(prdshm_seg *seg, unsigned flags, prdshm_lock_metrics *total,
			    prdshm_lock_metrics *out, size_t cap, size_t *n);
/* A resource znode's name, %XX-decoded (conn.c encodes), into li's
 * resource and resource_len (conn.c).  @return 0, or -1 if it is not one
 * we made. */
int prdshm__zk_resource_decode(const char *name, prdshm_lock_info *li);
#endif
#endif
