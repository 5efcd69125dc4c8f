/*
 * session.c: the ZooKeeper backend's segments and sessions.
 *
 * A segment is its base znode with agents/, locks/ and plan (plan.c) under
 * it, made in one multi so that nobody sees half of it; opening checks that it is there.
 * A session is an EPHEMERAL_SEQUENTIAL znode under agents/; its slot is
 * the znode's sequence number.
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "zk/zk.h"

/* Create each missing ancestor of the root (persistent, empty). */
static int ensure_root(struct prdshm__zk_seg *zs)
{
	char path[sizeof(zs->base)];
	size_t n = strlen(zs->base) - strlen(zs->shm_name);
	int rc;

	for (size_t i = 1; i <= n; i++) {
		if (i < n && zs->base[i] != '/')
			continue;
		memcpy(path, zs->base, i);
		path[i] = '\0';
		rc = zoo_create(zs->zh, path, NULL, -1, zs->root_acl, 0, NULL, 0);
		if (rc != ZOK && rc != ZNODEEXISTS)
			return prdshm__zk_err(zs, rc, "create", path);
	}
	return 0;
}

/* The base znode's data: the format, the creation time, then the
 * settings a shared-memory segment keeps in its header, as " key=value"
 * pairs (docs/zookeeper.md, "The segment's settings"). */
static void format_stamp(const prdshm_config *cfg, uint64_t created_ns, char *buf, size_t size)
{
	snprintf(buf, size,
		 "prdshm zookeeper 1 created=%llu uid=%lu max_parallel_agents=%d "
		 "lock_timeout_seconds=%d wave_delay_seconds=%d conflict_retry_attempts=%d "
		 "monitoring_update_interval=%d phase_max_attempts=%d deadlock_timeout_ms=%d "
		 "scheduling=%s max_locks=%d max_phases=%d max_agents=%d",
		 (unsigned long long)created_ns, (unsigned long)getuid(), cfg->max_parallel_agents,
		 cfg->lock_timeout_seconds, cfg->wave_delay_seconds, cfg->conflict_retry_attempts,
		 cfg->monitoring_update_interval, cfg->phase_max_attempts, cfg->deadlock_timeout_ms,
		 cfg->scheduling == PRDSHM_SCHED_EAGER ? "eager" : "waves", cfg->max_locks,
		 cfg->max_phases, cfg->max_agents);
}

/* The integer after " <key>=" in @p data, or @p dflt. */
static long long setting(const char *data, const char *key, long long dflt)
{
	size_t klen = strlen(key);

	for (const char *p = strchr(data, ' '); p; p = strchr(p + 1, ' ')) {
		if (strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '=')
			return strtoll(p + 2 + klen, NULL, 10);
	}
	return dflt;
}

/* What a shm segment's header says, from the base znode's data (a segment
 * made before the settings were stored gives the defaults' zeros). */
void prdshm__zk_settings_parse(const char *data, prdshm_seg_info *info, uint32_t *uid)
{
	info->format = 1;
	info->created_ns = (uint64_t)setting(data, "created", 0);
	info->max_parallel_agents = (int)setting(data, "max_parallel_agents", 0);
	info->lock_timeout_seconds = (int)setting(data, "lock_timeout_seconds", 0);
	info->wave_delay_seconds = (int)setting(data, "wave_delay_seconds", 0);
	info->conflict_retry_attempts = (int)setting(data, "conflict_retry_attempts", 0);
	info->monitoring_update_interval = (int)setting(data, "monitoring_update_interval", 0);
	info->phase_max_attempts = (int)setting(data, "phase_max_attempts", 0);
	info->deadlock_timeout_ms = (int)setting(data, "deadlock_timeout_ms", 0);
	info->scheduling = strstr(data, " scheduling=eager") ? PRDSHM_SCHED_EAGER
							      : PRDSHM_SCHED_WAVES;
	info->max_locks = (uint32_t)setting(data, "max_locks", 0);
	info->max_phases = (uint32_t)setting(data, "max_phases", 0);
	info->max_agents = (uint32_t)setting(data, "max_agents", 0);
	if (uid)
		*uid = (uint32_t)setting(data, "uid", 0);
}

int prdshm__zk_seg_create(const prdshm_config *cfg, prdshm_seg **out)
{
	struct prdshm__zk_seg *zs;
	char agents[PRDSHM__ZK_PATH_MAX], locks[PRDSHM__ZK_PATH_MAX], plan[PRDSHM__ZK_PATH_MAX];
	char stamp[512];
	unsigned char *image = NULL;
	zoo_op_t ops[4];
	zoo_op_result_t res[4];
	int err, rc;

	err = prdshm__zk_connect_auth(cfg, cfg->shm_name, &zs);
	if (err)
		return err;
	err = ensure_root(zs);
	if (err)
		goto fail;
	zs->created_ns = prdshm__now_real();
	format_stamp(cfg, zs->created_ns, stamp, sizeof(stamp));
	prdshm__zk_settings_parse(stamp, &zs->settings, NULL);
	snprintf(agents, sizeof(agents), "%s/agents", zs->base);
	snprintf(locks, sizeof(locks), "%s/locks", zs->base);
	zoo_create_op_init(&ops[0], zs->base, stamp, (int)strlen(stamp), zs->acl, 0, NULL, 0);
	zoo_create_op_init(&ops[1], agents, NULL, -1, zs->acl, 0, NULL, 0);
	zoo_create_op_init(&ops[2], locks, NULL, -1, zs->acl, 0, NULL, 0);
	/* The plan in the same multi: nobody sees a segment without it. */
	err = prdshm__zk_plan_create_op(cfg, zs, &ops[3], plan, sizeof(plan), &image);
	if (err)
		goto fail;
	rc = zoo_multi(zs->zh, 4, ops, res);
	free(image);
	if (rc != ZOK) {
		err = prdshm__zk_err(zs, rc, "create segment", zs->base);
		goto fail;
	}
	*out = (prdshm_seg *)(void *)zs;
	return 0;
fail:
	prdshm__zk_disconnect(zs);
	return err;
}

/* Whether @p path exists, asking again through a lost connection. */
static int has_node(struct prdshm__zk_seg *zs, const char *path, uint64_t until)
{
	uint64_t seen;
	int rc;

	do {
		seen = prdshm__zk_events(zs);
		rc = zoo_exists(zs->zh, path, 0, NULL);
	} while (prdshm__zk_again(zs, rc, seen, until));
	return rc == ZOK;
}

int prdshm__zk_seg_open(const char *name, const prdshm_config *cfg, prdshm_seg **out)
{
	struct prdshm__zk_seg *zs;
	char buf[1024] = "", locks[PRDSHM__ZK_PATH_MAX];
	int len, rc, err;
	uint64_t until, seen;
	struct Stat st;

	err = prdshm__zk_connect_auth(cfg, name, &zs);
	if (err)
		return err;
	until = prdshm__zk_retry_until(zs);
	do {
		seen = prdshm__zk_events(zs);
		len = sizeof(buf) - 1;
		rc = zoo_get(zs->zh, zs->base, 0, buf, &len, &st);
	} while (prdshm__zk_again(zs, rc, seen, until));
	if (rc == ZNONODE) {
		err = prdshm__fail(PRDSHM_ENOENT, "no segment %s in ZooKeeper (znode %s)", name,
				   zs->base);
		goto fail;
	}
	if (rc == ZNOAUTH) {
		err = prdshm__zk_denied(zs);
		goto fail;
	}
	snprintf(locks, sizeof(locks), "%s/locks", zs->base);
	if (rc == ZOK && len >= 0)
		buf[len] = '\0';
	if (rc == ZOK && (strncmp(buf, "prdshm zookeeper 1 ", 19) != 0 ||
			  !has_node(zs, locks, until))) {
		err = prdshm__fail(PRDSHM_ENOTSEG, "znode %s is not a prdshm segment", zs->base);
		goto fail;
	}
	if (rc != ZOK) {
		err = prdshm__zk_err(zs, rc, "open segment", zs->base);
		goto fail;
	}
	err = prdshm__zk_trust(zs);
	if (err)
		goto fail;
	zs->created_ns = strtoull(buf + 27, NULL, 10);
	prdshm__zk_settings_parse(buf, &zs->settings, NULL);
	*out = (prdshm_seg *)(void *)zs;
	return 0;
fail:
	prdshm__zk_disconnect(zs);
	return err;
}

void prdshm__zk_seg_close(prdshm_seg *seg)
{
	prdshm__zk_disconnect((struct prdshm__zk_seg *)(void *)seg);
}

/* Delete @p path and everything under it (depth first). */
int prdshm__zk_delete_tree(struct prdshm__zk_seg *zs, const char *path)
{
	struct String_vector kids = { 0, NULL };
	char child[PRDSHM__ZK_PATH_MAX];
	int rc, err = 0;

	rc = zoo_get_children(zs->zh, path, 0, &kids);
	if (rc == ZNONODE)
		return 0;
	if (rc != ZOK)
		return prdshm__zk_err(zs, rc, "list", path);
	for (int i = 0; i < kids.count && !err; i++) {
		err = prdshm__zk_join(child, sizeof(child), path, kids.data[i]);
		if (!err)
			err = prdshm__zk_delete_tree(zs, child);
	}
	deallocate_String_vector(&kids);
	if (err)
		return err;
	rc = zoo_delete(zs->zh, path, -1);
	if (rc != ZOK && rc != ZNONODE)
		return prdshm__zk_err(zs, rc, "delete", path);
	return 0;
}

/* Remove the segment unless a session is registered.  A session that
 * registers meanwhile makes the removal of agents/ fail (not empty), and
 * the call then answers PRDSHM_EINUSE with the segment partly emptied of
 * resource znodes, which the next lock recreates. */
int prdshm__zk_seg_unlink_unused(const char *name, const prdshm_config *cfg)
{
	struct prdshm__zk_seg *zs;
	struct String_vector kids = { 0, NULL };
	char agents[PRDSHM__ZK_PATH_MAX];
	int rc, err;

	err = prdshm__zk_seg_open(name, cfg, (prdshm_seg **)(void *)&zs);
	if (err)
		return err;
	snprintf(agents, sizeof(agents), "%s/agents", zs->base);
	rc = zoo_get_children(zs->zh, agents, 0, &kids);
	if (rc == ZOK && kids.count > 0)
		err = prdshm__fail(PRDSHM_EINUSE, "%d live agents use %s (first: %s)", kids.count,
				   name, kids.data[0]);
	else if (rc != ZOK)
		err = prdshm__zk_err(zs, rc, "list", agents);
	deallocate_String_vector(&kids);
	if (!err)
		err = prdshm__zk_delete_tree(zs, zs->base);
	prdshm__zk_disconnect(zs);
	return err;
}

/* The settings read at open; what has no meaning on ZooKeeper is 0:
 * size and layout_hash (nothing is mapped), nparts (no partitions),
 * needs_recovery (no critical section can be left half done). */
int prdshm__zk_seg_info(prdshm_seg *seg, prdshm_seg_info *info)
{
	struct prdshm__zk_seg *zs = (struct prdshm__zk_seg *)(void *)seg;

	prdshm__call_begin();
	*info = zs->settings;
	info->struct_size = sizeof(*info);
	prdshm__strlcpy(info->shm_name, zs->shm_name, sizeof(info->shm_name));
	info->created_ns = zs->created_ns;
	return 0;
}

/* ---- Sessions ---------------------------------------------------------- */

/* After a connection lost during the create of an agent znode: did it
 * reach the server?  Ours is the child of @p prefix's name whose data is
 * @p data (its pid and start time in ns: no one else's).  @return 1 found,
 * 0 not there, -1 cannot tell yet (the connection is still lost). */
static int find_agent(struct prdshm__zk_seg *zs, const char *prefix, const char *data,
		      char *node, size_t size)
{
	const char *base = strrchr(prefix, '/') + 1;
	struct String_vector kids = { 0, NULL };
	char dir[PRDSHM__ZK_PATH_MAX], path[PRDSHM__ZK_PATH_MAX], buf[PRDSHM__ZK_AGENT_MAX];
	int found = 0, len, rc;

	snprintf(dir, sizeof(dir), "%.*s", (int)(base - 1 - prefix), prefix);
	rc = zoo_get_children(zs->zh, dir, 0, &kids);
	if (rc != ZOK)
		return prdshm__zk_retryable(rc) ? -1 : 0;
	for (int i = 0; i < kids.count && found == 0; i++) {
		len = sizeof(buf) - 1;
		if (strncmp(kids.data[i], base, strlen(base)) != 0 ||
		    prdshm__zk_join(path, sizeof(path), dir, kids.data[i]))
			continue;
		rc = zoo_get(zs->zh, path, 0, buf, &len, NULL);
		if (prdshm__zk_retryable(rc))
			found = -1; /* lost again: this one may be ours */
		if (rc != ZOK || len < 0)
			continue;
		buf[len] = '\0';
		if (strcmp(buf, data) == 0)
			found = snprintf(node, size, "%s", path) < (int)size;
	}
	deallocate_String_vector(&kids);
	return found;
}

/* Create the agent znode, through a lost connection (a failover of the
 * ensemble) within the session timeout, never twice.  @return ZOK or the
 * last ZooKeeper error. */
static int register_agent(struct prdshm__zk_seg *zs, const char *prefix, const char *data,
			  char *node, size_t size)
{
	uint64_t until = prdshm__zk_retry_until(zs), seen;
	int rc = ZOK, lost = 0, own;

	do {
		seen = prdshm__zk_events(zs);
		own = lost ? find_agent(zs, prefix, data, node, size) : 0;
		if (own > 0)
			return ZOK;
		if (own < 0)
			continue; /* rc is still the lost create's: wait and look again */
		rc = zoo_create(zs->zh, prefix, data, (int)strlen(data), zs->acl,
				ZOO_EPHEMERAL_SEQUENTIAL, node, (int)size);
		lost = prdshm__zk_retryable(rc);
	} while (prdshm__zk_again(zs, rc, seen, until));
	return rc;
}

int prdshm__zk_session_open(prdshm_seg *seg, const char *agent_id, unsigned flags,
			    int64_t timeout_ms, prdshm_session **out)
{
	struct prdshm__zk_seg *zs = (struct prdshm__zk_seg *)(void *)seg;
	struct prdshm__zk_session *s;
	char path[PRDSHM__ZK_PATH_MAX], data[PRDSHM__ZK_AGENT_MAX], pid_id[32];
	struct prdshm__zk_agent_rec rec;
	int rc, err, len;

	(void)timeout_ms;
	if (!agent_id) {
		snprintf(pid_id, sizeof(pid_id), "pid-%ld", (long)getpid());
		agent_id = pid_id;
	}
	if (!prdshm__valid_id(agent_id))
		return prdshm__fail(PRDSHM_ENAME, "invalid agent id");
	err = prdshm__zk_usable(zs);
	if (err)
		return err;
	s = calloc(1, sizeof(*s));
	if (!s)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	s->h = zs->h; /* its segment's backend */
	s->seg = zs;
	pthread_mutex_init(&s->mu, NULL);
	prdshm__strlcpy(s->agent_id, agent_id, sizeof(s->agent_id));
	prdshm__zk_parent_from_env(s, flags);
	snprintf(path, sizeof(path), "%s/agents/%s-", zs->base, agent_id);
	prdshm__zk_agent_init(&rec);
	if (s->nanc > 0)
		snprintf(rec.parent, sizeof(rec.parent), "%d:%llx", s->anc_slot[0], s->anc_owner[0]);
	len = prdshm__zk_agent_format(&rec, data, sizeof(data));
	rc = len < 0 ? ZBADARGUMENTS : register_agent(zs, path, data, s->node, sizeof(s->node));
	if (rc != ZOK) {
		err = rc == ZNONODE ? prdshm__fail(PRDSHM_ENOENT, "segment %s was removed",
						   zs->shm_name)
				    : prdshm__zk_err(zs, rc, "register agent", path);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return err;
	}
	s->slot = (int)prdshm__zk_seq_of(s->node);
	*out = (prdshm_session *)(void *)s;
	return 0;
}

static void session_free(struct prdshm__zk_session *s)
{
	struct prdshm__zk_hold *h, *next;

	for (h = s->holds; h; h = next) {
		next = h->next;
		free(h);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void prdshm__zk_session_close(prdshm_session *ps)
{
	struct prdshm__zk_session *s = (struct prdshm__zk_session *)(void *)ps;

	/* Nothing to report to: what cannot be deleted now goes with the
	 * ZooKeeper session. */
	(void)prdshm__zk_unlock_all(ps, NULL);
	prdshm__zk_metrics_retire(s);
	(void)zoo_delete(s->seg->zh, s->node, -1);
	session_free(s);
}

/* A forked child's copy: the connection is the parent's, never touched. */
void prdshm__zk_session_abandon(prdshm_session *ps)
{
	session_free((struct prdshm__zk_session *)(void *)ps);
}

int prdshm__zk_session_slot(const prdshm_session *ps)
{
	return ((const struct prdshm__zk_session *)(const void *)ps)->slot;
}

/* No descriptor stands for a ZooKeeper session. */
int prdshm__zk_session_fd(const prdshm_session *ps)
{
	(void)ps;
	return -1;
}
#endif
