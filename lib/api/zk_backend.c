/*
 * zk_backend.c: the ZooKeeper backend's table (api/backend.h): lib/zk/'s
 * entry points under the public functions they implement.  What is not
 * done yet on ZooKeeper (phases, reaping, recovery, lock metrics, removal
 * by name alone) answers PRDSHM_ENOTSUP,
 * naming the function (docs/zookeeper.md, "Not done yet").
 */
#include "api/backend.h"
#include "base/util.h"
#include "zk/zk.h"

#ifdef PRDSHM_HAVE_ZOOKEEPER

static int not_yet(const char *fn)
{
	prdshm__call_begin();
	return prdshm__fail(PRDSHM_ENOTSUP,
			    "%s: not done yet for backend: zookeeper (docs/zookeeper.md)", fn);
}

static int seg_unlink(const char *name)
{
	(void)name;
	return not_yet("prdshm_seg_unlink (use prdshm_seg_unlink_unused_cfg)");
}

static int phase_claim(prdshm_session *s, int64_t timeout_ms, prdshm_claim *out)
{
	return not_yet("prdshm_phase_claim");
}

static int phase_wait(prdshm_session *s, int64_t timeout_ms)
{
	return not_yet("prdshm_phase_wait");
}

static int phase_complete(prdshm_session *s, int32_t index)
{
	return not_yet("prdshm_phase_complete");
}

static int phase_fail(prdshm_session *s, int32_t index, int exit_status, const char *message)
{
	return not_yet("prdshm_phase_fail");
}

static int phase_set(prdshm_seg *seg, prdshm_session *s, const char *id, prdshm_phase_status to)
{
	return not_yet("prdshm_phase_set");
}

/* Nested locks are not done yet on ZooKeeper: a command started under a
 * lock acts for itself (an empty value, which the tools do not export). */
static int session_env(const prdshm_session *s, char *buf, size_t size)
{
	prdshm__call_begin();
	if (size == 0)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_session_env: no room");
	buf[0] = '\0';
	return 0;
}

static int lock_metrics(prdshm_seg *seg, unsigned flags, prdshm_lock_metrics *total,
			prdshm_lock_metrics *out, size_t cap, size_t *n)
{
	return not_yet("prdshm_lock_metrics_get");
}

static int reap(prdshm_seg *seg, int requeue, void (*report)(void *ctx, const char *line),
		void *ctx, size_t *nreaped)
{
	return not_yet("prdshm_reap");
}

static int recover(prdshm_seg *seg, void (*report)(void *ctx, const char *line), void *ctx)
{
	return not_yet("prdshm_recover");
}


const struct prdshm__backend prdshm__zk_backend = {
	.name = "zookeeper",
	.seg_create = prdshm__zk_seg_create,
	.seg_open = prdshm__zk_seg_open,
	.seg_close = prdshm__zk_seg_close,
	.seg_unlink = seg_unlink,
	.seg_unlink_unused = prdshm__zk_seg_unlink_unused,
	.seg_info = prdshm__zk_seg_info,
	.session_open = prdshm__zk_session_open,
	.session_close = prdshm__zk_session_close,
	.session_abandon = prdshm__zk_session_abandon,
	.session_slot = prdshm__zk_session_slot,
	.session_fd = prdshm__zk_session_fd,
	.session_env = session_env,
	.lock = prdshm__zk_lock,
	.unlock = prdshm__zk_unlock,
	.unlock_all = prdshm__zk_unlock_all,
	.lock_many = prdshm__zk_lock_many,
	.upgrade = prdshm__zk_upgrade,
	.downgrade = prdshm__zk_downgrade,
	.lock_query = prdshm__zk_lock_query,
	.lock_metrics = lock_metrics,
	.phase_claim = phase_claim,
	.phase_wait = phase_wait,
	.phase_complete = phase_complete,
	.phase_fail = phase_fail,
	.phase_set = phase_set,
	.agent_heartbeat = prdshm__zk_agent_heartbeat,
	.agent_log = prdshm__zk_agent_log,
	.reap = reap,
	.recover = recover,
	.check = prdshm__zk_check,
	.snapshot_take = prdshm__zk_snapshot_take,
};
#else
/* Built without the ZooKeeper C client (libzookeeper-mt-dev): a segment
 * cannot be made or opened, so no other entry is ever reached. */
static int no_client(void)
{
	prdshm__call_begin();
	return prdshm__fail(PRDSHM_ENOTSUP,
			    "backend: zookeeper: this libprdshm was built without the ZooKeeper "
			    "C client (install libzookeeper-mt-dev and rebuild)");
}

static int seg_create(const prdshm_config *cfg, prdshm_seg **out)
{
	return no_client();
}

static int seg_open(const char *name, const prdshm_config *cfg, prdshm_seg **out)
{
	return no_client();
}

static int seg_unlink(const char *name)
{
	return no_client();
}

static int seg_unlink_unused(const char *name, const prdshm_config *cfg)
{
	return no_client();
}

const struct prdshm__backend prdshm__zk_backend = {
	.name = "zookeeper",
	.seg_create = seg_create,
	.seg_open = seg_open,
	.seg_unlink = seg_unlink,
	.seg_unlink_unused = seg_unlink_unused,
};
#endif
