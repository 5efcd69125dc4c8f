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
		rc = zoo_create(zs->zh, path, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
		if (rc != ZOK && rc != ZNODEEXISTS)
			return prdshm__zk_err(zs, rc, "create", path);
	}
	return 0;
}

int prdshm__zk_seg_create(const prdshm_config *cfg, prdshm_seg **out)
{
	struct prdshm__zk_seg *zs;
	char agents[PRDSHM__ZK_PATH_MAX], locks[PRDSHM__ZK_PATH_MAX], plan[PRDSHM__ZK_PATH_MAX];
	char stamp[64];
	unsigned char *image = NULL;
	zoo_op_t ops[4];
	zoo_op_result_t res[4];
	int err, rc;

	err = prdshm__zk_connect(cfg, cfg->shm_name, &zs);
	if (err)
		return err;
	err = ensure_root(zs);
	if (err)
		goto fail;
	zs->created_ns = prdshm__now_real();
	snprintf(stamp, sizeof(stamp), "prdshm zookeeper 1 created=%llu",
		 (unsigned long long)zs->created_ns);
	snprintf(agents, sizeof(agents), "%s/agents", zs->base);
	snprintf(locks, sizeof(locks), "%s/locks", zs->base);
	zoo_create_op_init(&ops[0], zs->base, stamp, (int)strlen(stamp), &ZOO_OPEN_ACL_UNSAFE, 0,
			   NULL, 0);
	zoo_create_op_init(&ops[1], agents, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	zoo_create_op_init(&ops[2], locks, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
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

int prdshm__zk_seg_open(const char *name, const prdshm_config *cfg, prdshm_seg **out)
{
	struct prdshm__zk_seg *zs;
	char buf[64] = "", locks[PRDSHM__ZK_PATH_MAX];
	int len = sizeof(buf) - 1, rc, err;
	struct Stat st;

	err = prdshm__zk_connect(cfg, name, &zs);
	if (err)
		return err;
	rc = zoo_get(zs->zh, zs->base, 0, buf, &len, &st);
	if (rc == ZNONODE) {
		err = prdshm__fail(PRDSHM_ENOENT, "no segment %s in ZooKeeper (znode %s)", name,
				   zs->base);
		goto fail;
	}
	snprintf(locks, sizeof(locks), "%s/locks", zs->base);
	if (rc == ZOK && len >= 0)
		buf[len] = '\0';
	if (rc == ZOK && (strncmp(buf, "prdshm zookeeper 1 ", 19) != 0 ||
			  zoo_exists(zs->zh, locks, 0, NULL) != ZOK)) {
		err = prdshm__fail(PRDSHM_ENOTSEG, "znode %s is not a prdshm segment", zs->base);
		goto fail;
	}
	if (rc != ZOK) {
		err = prdshm__zk_err(zs, rc, "open segment", zs->base);
		goto fail;
	}
	zs->created_ns = strtoull(buf + 27, NULL, 10);
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

int prdshm__zk_seg_info(prdshm_seg *seg, prdshm_seg_info *info)
{
	struct prdshm__zk_seg *zs = (struct prdshm__zk_seg *)(void *)seg;

	prdshm__call_begin();
	memset(info, 0, sizeof(*info));
	info->struct_size = sizeof(*info);
	prdshm__strlcpy(info->shm_name, zs->shm_name, sizeof(info->shm_name));
	info->created_ns = zs->created_ns;
	info->lock_timeout_seconds = (int)(zs->default_wait_ms / 1000);
	return 0;
}

/* ---- Sessions ---------------------------------------------------------- */

int prdshm__zk_session_open(prdshm_seg *seg, const char *agent_id, unsigned flags,
			    int64_t timeout_ms, prdshm_session **out)
{
	struct prdshm__zk_seg *zs = (struct prdshm__zk_seg *)(void *)seg;
	struct prdshm__zk_session *s;
	char path[PRDSHM__ZK_PATH_MAX], data[128], pid_id[32];
	int rc, err;

	(void)flags;
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
	snprintf(path, sizeof(path), "%s/agents/%s-", zs->base, agent_id);
	snprintf(data, sizeof(data), "pid=%ld\nstart=%llu\n", (long)getpid(),
		 (unsigned long long)prdshm__now_real());
	rc = zoo_create(zs->zh, path, data, (int)strlen(data), &ZOO_OPEN_ACL_UNSAFE,
			ZOO_EPHEMERAL_SEQUENTIAL, s->node, (int)sizeof(s->node));
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
