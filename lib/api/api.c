/*
 * api.c: the public entry points of prdshm.h that act on a segment or a
 * session.  Each checks what no backend should have to (NULL handles,
 * struct sizes), then calls the backend that made the handle, or the one
 * the configuration selects (api/backend.h).  The thread's last error is
 * cleared on entry (prdshm__call_begin()), as every public function does;
 * the backend's function clears it again, harmlessly.
 */
#include <unistd.h>

#include "api/backend.h"
#include "base/abi.h"
#include "base/snapshot.h"
#include "base/util.h"

/* ---- Segments ---------------------------------------------------------- */

static int config_ok(const prdshm_config *cfg, const char *fn)
{
	if (cfg == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "%s: NULL config", fn);
	return prdshm__abi_check(cfg, PRDSHM_CONFIG_SIZE_1_0, "prdshm_config", fn);
}

/* Stamp a new segment handle with the backend that made it. */
static void stamp(prdshm_seg *seg, const struct prdshm__backend *be)
{
	((struct prdshm__handle *)(void *)seg)->backend = be;
}

int prdshm_seg_create(const prdshm_config *cfg, prdshm_seg **out)
{
	const struct prdshm__backend *be;
	int r;

	prdshm__call_begin();
	if (out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_seg_create: NULL argument");
	*out = NULL;
	r = config_ok(cfg, "prdshm_seg_create");
	if (r)
		return r;
	be = prdshm__backend_select(cfg);
	r = be->seg_create(cfg, out);
	if (r == 0)
		stamp(*out, be);
	return r;
}

static int seg_open(const char *shm_name, const prdshm_config *cfg, prdshm_seg **out)
{
	const struct prdshm__backend *be = prdshm__backend_select(cfg);
	int r;

	if (out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_seg_open: NULL argument");
	*out = NULL;
	r = be->seg_open(shm_name, cfg, out);
	if (r == 0)
		stamp(*out, be);
	return r;
}

int prdshm_seg_open(const char *shm_name, prdshm_seg **out)
{
	prdshm__call_begin();
	return seg_open(shm_name, NULL, out);
}

int prdshm_seg_open_cfg(const prdshm_config *cfg, prdshm_seg **out)
{
	int r;

	prdshm__call_begin();
	if (out)
		*out = NULL;
	if (out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_seg_open_cfg: NULL argument");
	r = config_ok(cfg, "prdshm_seg_open_cfg");
	return r ? r : seg_open(cfg->shm_name, cfg, out);
}

int prdshm_seg_open_or_create(const prdshm_config *cfg, prdshm_seg **out, int *created)
{
	int r;

	prdshm__call_begin();
	if (created)
		*created = 0;
	r = config_ok(cfg, "prdshm_seg_open_or_create");
	if (r)
		return r;
	/* Two rounds are enough: the loser of a creation race opens, and a
	 * segment unlinked between our two calls is created again. */
	for (int round = 0; round < 3; round++) {
		r = prdshm_seg_open_cfg(cfg, out);
		if (r != PRDSHM_ENOENT)
			return r;
		r = prdshm_seg_create(cfg, out);
		if (r == 0 && created)
			*created = 1;
		if (r != PRDSHM_EEXIST)
			return r;
	}
	return r;
}

void prdshm_seg_close(prdshm_seg *seg)
{
	if (seg)
		prdshm__backend_of_seg(seg)->seg_close(seg);
}

int prdshm_seg_unlink(const char *shm_name)
{
	prdshm__call_begin();
	return prdshm__backend_select(NULL)->seg_unlink(shm_name);
}

int prdshm_seg_unlink_unused(const char *shm_name)
{
	prdshm__call_begin();
	return prdshm__backend_select(NULL)->seg_unlink_unused(shm_name, NULL);
}

int prdshm_seg_unlink_unused_cfg(const prdshm_config *cfg)
{
	int r;

	prdshm__call_begin();
	r = config_ok(cfg, "prdshm_seg_unlink_unused_cfg");
	return r ? r : prdshm__backend_select(cfg)->seg_unlink_unused(cfg->shm_name, cfg);
}

int prdshm_seg_info_get(prdshm_seg *seg, prdshm_seg_info *info)
{
	prdshm_seg_info full;
	int r;

	prdshm__call_begin();
	if (seg == NULL || info == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_seg_info_get: NULL argument");
	r = prdshm__abi_check(info, PRDSHM_SEG_INFO_SIZE_1_0, "prdshm_seg_info",
			      "prdshm_seg_info_get");
	if (r == 0)
		r = prdshm__backend_of_seg(seg)->seg_info(seg, &full);
	/* Filled whole by the backend, then only the caller's bytes copied. */
	if (r == 0)
		prdshm__abi_copy_out(info, &full, sizeof(full));
	return r;
}

/* ---- Sessions ---------------------------------------------------------- */

int prdshm_session_open_timed(prdshm_seg *seg, const char *agent_id, unsigned flags,
			      int64_t timeout_ms, prdshm_session **out)
{
	prdshm__call_begin();
	if (out)
		*out = NULL;
	if (seg == NULL || out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_session_open: NULL argument");
	return prdshm__backend_of_seg(seg)->session_open(seg, agent_id, flags, timeout_ms, out);
}

int prdshm_session_open(prdshm_seg *seg, const char *agent_id, unsigned flags,
			prdshm_session **out)
{
	return prdshm_session_open_timed(seg, agent_id, flags, PRDSHM_WAIT_FOREVER, out);
}

void prdshm_session_close(prdshm_session *s)
{
	if (s)
		prdshm__backend_of(s)->session_close(s);
}

void prdshm_session_abandon(prdshm_session *s)
{
	if (s)
		prdshm__backend_of(s)->session_abandon(s);
}

int prdshm_session_slot(const prdshm_session *s)
{
	return s ? prdshm__backend_of(s)->session_slot(s) : -1;
}

int prdshm_session_fd(const prdshm_session *s)
{
	return s ? prdshm__backend_of(s)->session_fd(s) : -1;
}

int prdshm_session_env(const prdshm_session *s, char *buf, size_t size)
{
	prdshm__call_begin();
	if (s == NULL || buf == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_session_env: NULL argument");
	return prdshm__backend_of(s)->session_env(s, buf, size);
}

/* ---- Locks ------------------------------------------------------------- */

/* A NULL session, for the calls that take one. */
static int no_session(void)
{
	prdshm__call_begin();
	return prdshm__fail(PRDSHM_EINVAL, "session is NULL");
}

int prdshm_lock(prdshm_session *s, const char *resource, prdshm_mode mode, int64_t timeout_ms,
		const char *phase_id)
{
	if (PRDSHM__UNLIKELY(s == NULL))
		return no_session();
	return prdshm__backend_of(s)->lock(s, resource, mode, timeout_ms, phase_id);
}

int prdshm_unlock(prdshm_session *s, const char *resource)
{
	if (PRDSHM__UNLIKELY(s == NULL))
		return no_session();
	return prdshm__backend_of(s)->unlock(s, resource);
}

int prdshm_unlock_all(prdshm_session *s, size_t *freed)
{
	if (s == NULL)
		return no_session();
	return prdshm__backend_of(s)->unlock_all(s, freed);
}

int prdshm_lock_many(prdshm_session *s, const char *const *resources, size_t n,
		     prdshm_mode mode, int64_t timeout_ms, const char *phase_id, size_t *failed)
{
	if (s == NULL) {
		prdshm__call_begin();
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_lock_many: NULL argument");
	}
	return prdshm__backend_of(s)->lock_many(s, resources, n, mode, timeout_ms, phase_id,
						failed);
}

int prdshm_upgrade(prdshm_session *s, const char *resource, int64_t timeout_ms)
{
	if (s == NULL)
		return no_session();
	return prdshm__backend_of(s)->upgrade(s, resource, timeout_ms);
}

int prdshm_downgrade(prdshm_session *s, const char *resource)
{
	if (s == NULL)
		return no_session();
	return prdshm__backend_of(s)->downgrade(s, resource);
}

int prdshm_lock_query(prdshm_seg *seg, const char *resource, prdshm_mode mode,
		      prdshm_holder *out, size_t cap, size_t *n)
{
	if (seg == NULL) {
		prdshm__call_begin();
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_lock_query: NULL argument");
	}
	return prdshm__backend_of_seg(seg)->lock_query(seg, resource, mode, out, cap, n);
}

int prdshm_lock_metrics_get(prdshm_seg *seg, unsigned flags, prdshm_lock_metrics *total,
		      prdshm_lock_metrics *out, size_t cap, size_t *n)
{
	if (seg == NULL) {
		prdshm__call_begin();
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_lock_metrics_get: NULL argument");
	}
	return prdshm__backend_of_seg(seg)->lock_metrics(seg, flags, total, out, cap, n);
}

/* ---- Phases and agents ------------------------------------------------- */

/* A NULL session, for the plan's calls (their message since 1.0). */
static int no_agent(void)
{
	prdshm__call_begin();
	return prdshm__fail(PRDSHM_EINVAL, "no session");
}

int prdshm_phase_claim_timed(prdshm_session *s, int64_t timeout_ms, prdshm_claim *out)
{
	if (s == NULL)
		return no_agent();
	return prdshm__backend_of(s)->phase_claim(s, timeout_ms, out);
}

int prdshm_phase_claim(prdshm_session *s, prdshm_claim *out)
{
	return prdshm_phase_claim_timed(s, PRDSHM_WAIT_FOREVER, out);
}

int prdshm_phase_wait(prdshm_session *s, int64_t timeout_ms)
{
	if (s == NULL)
		return no_agent();
	return prdshm__backend_of(s)->phase_wait(s, timeout_ms);
}

int prdshm_phase_complete(prdshm_session *s, int32_t index)
{
	if (s == NULL)
		return no_agent();
	return prdshm__backend_of(s)->phase_complete(s, index);
}

int prdshm_phase_fail(prdshm_session *s, int32_t index, int exit_status, const char *message)
{
	if (s == NULL)
		return no_agent();
	return prdshm__backend_of(s)->phase_fail(s, index, exit_status, message);
}

int prdshm_phase_set(prdshm_seg *seg, prdshm_session *s, const char *id, prdshm_phase_status to)
{
	if (seg == NULL) {
		prdshm__call_begin();
		return prdshm__fail(PRDSHM_EINVAL, "no segment");
	}
	return prdshm__backend_of_seg(seg)->phase_set(seg, s, id, to);
}

int prdshm_agent_heartbeat(prdshm_session *s)
{
	if (s == NULL)
		return no_agent();
	return prdshm__backend_of(s)->agent_heartbeat(s);
}

int prdshm_agent_log(prdshm_session *s, const char *line)
{
	if (s == NULL)
		return no_agent();
	return prdshm__backend_of(s)->agent_log(s, line);
}

/* ---- The whole segment -------------------------------------------------- */

static int no_segment(void)
{
	prdshm__call_begin();
	return prdshm__fail(PRDSHM_EINVAL, "segment is NULL");
}

int prdshm_reap(prdshm_seg *seg, int requeue, void (*report)(void *ctx, const char *line),
		void *ctx, size_t *nreaped)
{
	if (nreaped)
		*nreaped = 0;
	if (seg == NULL)
		return no_segment();
	return prdshm__backend_of_seg(seg)->reap(seg, requeue, report, ctx, nreaped);
}

int prdshm_recover(prdshm_seg *seg, void (*report)(void *ctx, const char *line), void *ctx)
{
	if (seg == NULL)
		return no_segment();
	return prdshm__backend_of_seg(seg)->recover(seg, report, ctx);
}

int prdshm_check(prdshm_seg *seg, unsigned flags,
		 void (*report)(void *ctx, int severity, const char *problem), void *ctx)
{
	if (seg == NULL)
		return no_segment();
	return prdshm__backend_of_seg(seg)->check(seg, flags, report, ctx);
}

int prdshm_snapshot_agent_host(const prdshm_snapshot *snap, size_t i, char *buf, size_t size)
{
	const struct prdshm__snapshot *ps = (const struct prdshm__snapshot *)(const void *)snap;

	prdshm__call_begin();
	if (snap == NULL || buf == NULL || size == 0)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_snapshot_agent_host: NULL argument");
	if (i >= snap->nagents)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_snapshot_agent_host: agent %zu of %zu", i,
				    snap->nagents);
	if (ps->hosts) {
		prdshm__strlcpy(buf, ps->hosts[i], size);
		return 0;
	}
	if (gethostname(buf, size) != 0)
		buf[0] = '\0';
	buf[size - 1] = '\0';
	return 0;
}

int prdshm_snapshot_take(prdshm_seg *seg, unsigned flags, prdshm_snapshot **out)
{
	if (out)
		*out = NULL;
	if (seg == NULL || out == NULL) {
		prdshm__call_begin();
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_snapshot_take: NULL argument");
	}
	return prdshm__backend_of_seg(seg)->snapshot_take(seg, flags, out);
}
