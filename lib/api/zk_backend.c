/*
 * zk_backend.c: the ZooKeeper backend's table (api/backend.h): lib/zk/'s
 * entry points under the public functions they implement.  What is not
 * done yet on ZooKeeper (removal by name alone) answers
 * PRDSHM_ENOTSUP,
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
	.session_env = prdshm__zk_session_env,
	.lock = prdshm__zk_lock,
	.unlock = prdshm__zk_unlock,
	.unlock_all = prdshm__zk_unlock_all,
	.lock_many = prdshm__zk_lock_many,
	.upgrade = prdshm__zk_upgrade,
	.downgrade = prdshm__zk_downgrade,
	.lock_query = prdshm__zk_lock_query,
	.lock_metrics = prdshm__zk_lock_metrics,
	.phase_claim = prdshm__zk_phase_claim,
	.phase_wait = prdshm__zk_phase_wait,
	.phase_complete = prdshm__zk_phase_complete,
	.phase_fail = prdshm__zk_phase_fail,
	.phase_set = prdshm__zk_phase_set,
	.agent_heartbeat = prdshm__zk_agent_heartbeat,
	.agent_log = prdshm__zk_agent_log,
	.reap = prdshm__zk_reap,
	.recover = prdshm__zk_recover,
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
