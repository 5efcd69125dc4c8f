/*
 * shm_backend.c: the shared-memory backend's table: the entry points of
 * the layers below (lib/ops, lib/lock, lib/plan, lib/session) under the
 * public functions they implement.
 */
#include "api/backend.h"
#include "config/backend.h"
#include "lock/locktable.h"
#include "ops/ops.h"
#include "plan/phases.h"
#include "session/session.h"

const struct prdshm__backend prdshm__shm_backend = {
	.name = "shm",
	.seg_create = prdshm__shm_seg_create,
	.seg_open = prdshm__shm_seg_open,
	.seg_close = prdshm__shm_seg_close,
	.seg_unlink = prdshm__shm_seg_unlink,
	.seg_unlink_unused = prdshm__shm_seg_unlink_unused,
	.seg_info = prdshm__shm_seg_info,
	.session_open = prdshm__shm_session_open,
	.session_close = prdshm__shm_session_close,
	.session_abandon = prdshm__session_abandon,
	.session_slot = prdshm__session_slot,
	.session_fd = prdshm__session_fd,
	.session_env = prdshm__session_env,
	.lock = prdshm__shm_lock,
	.unlock = prdshm__shm_unlock,
	.unlock_all = prdshm__shm_unlock_all,
	.lock_many = prdshm__shm_lock_many,
	.upgrade = prdshm__shm_upgrade,
	.downgrade = prdshm__shm_downgrade,
	.lock_query = prdshm__shm_lock_query,
	.lock_metrics = prdshm__shm_lock_metrics,
	.phase_claim = prdshm__shm_phase_claim_timed,
	.phase_wait = prdshm__shm_phase_wait,
	.phase_complete = prdshm__shm_phase_complete,
	.phase_fail = prdshm__shm_phase_fail,
	.phase_set = prdshm__shm_phase_set,
	.agent_heartbeat = prdshm__shm_agent_heartbeat,
	.agent_log = prdshm__shm_agent_log,
	.reap = prdshm__shm_reap,
	.recover = prdshm__shm_recover,
	.check = prdshm__shm_check,
	.snapshot_take = prdshm__shm_snapshot_take,
};

/* backend: in the configuration (config/backend.h); NULL (open or unlink
 * by name alone) is shared memory, the default. */
const struct prdshm__backend *prdshm__backend_select(const prdshm_config *cfg)
{
	if (cfg && prdshm__config_backend(cfg)->backend == PRDSHM__BACKEND_ZOOKEEPER)
		return &prdshm__zk_backend;
	return &prdshm__shm_backend;
}
