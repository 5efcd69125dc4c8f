/*
 * backend.h: the seam between the public API and an implementation.
 *
 * A backend is a table of functions with the contracts of the public
 * functions of the same names (prdshm.h).  The entry points in lib/api/
 * check what every backend would check the same way (NULL handles, struct
 * sizes, a configuration's validity), then call the backend that made the
 * handle: every segment and session handle starts with a struct
 * prdshm__handle (base/handle.h) naming it.  Calls without a handle (open
 * by name, unlink) go to the backend the configuration selects (backend:,
 * shared memory by default): shared memory (lib/api/shm_backend.c) or
 * ZooKeeper (lib/api/zk_backend.c, docs/zookeeper.md).
 */
#ifndef PRDSHM_INTERNAL_BACKEND_H
#define PRDSHM_INTERNAL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "base/handle.h"
#include "prdshm.h"

struct prdshm__backend {
	const char *name; /* "shm", "zookeeper" */

	/* Segments.  open: @p cfg gives the trust settings, NULL the owner
	 * alone.  info fills all of this library's prdshm_seg_info. */
	int (*seg_create)(const prdshm_config *cfg, prdshm_seg **out);
	int (*seg_open)(const char *name, const prdshm_config *cfg, prdshm_seg **out);
	void (*seg_close)(prdshm_seg *seg);
	int (*seg_unlink)(const char *name);
	int (*seg_unlink_unused)(const char *name, const prdshm_config *cfg);
	int (*seg_info)(prdshm_seg *seg, prdshm_seg_info *info);

	/* Sessions. */
	int (*session_open)(prdshm_seg *seg, const char *agent_id, unsigned flags,
			    int64_t timeout_ms, prdshm_session **out);
	void (*session_close)(prdshm_session *s);
	void (*session_abandon)(prdshm_session *s);
	int (*session_slot)(const prdshm_session *s);
	int (*session_fd)(const prdshm_session *s);
	int (*session_env)(const prdshm_session *s, char *buf, size_t size);

	/* Locks. */
	int (*lock)(prdshm_session *s, const char *resource, prdshm_mode mode,
		    int64_t timeout_ms, const char *phase_id);
	int (*unlock)(prdshm_session *s, const char *resource);
	int (*unlock_all)(prdshm_session *s, size_t *freed);
	int (*lock_many)(prdshm_session *s, const char *const *resources, size_t n,
			 prdshm_mode mode, int64_t timeout_ms, const char *phase_id,
			 size_t *failed);
	int (*upgrade)(prdshm_session *s, const char *resource, int64_t timeout_ms);
	int (*downgrade)(prdshm_session *s, const char *resource);
	int (*lock_query)(prdshm_seg *seg, const char *resource, prdshm_mode mode,
			  prdshm_holder *out, size_t cap, size_t *n);
	int (*lock_metrics)(prdshm_seg *seg, unsigned flags, prdshm_lock_metrics *total,
			  prdshm_lock_metrics *out, size_t cap, size_t *n);

	/* Phases and agents. */
	int (*phase_claim)(prdshm_session *s, int64_t timeout_ms, prdshm_claim *out);
	int (*phase_wait)(prdshm_session *s, int64_t timeout_ms);
	int (*phase_complete)(prdshm_session *s, int32_t index);
	int (*phase_fail)(prdshm_session *s, int32_t index, int exit_status,
			  const char *message);
	int (*phase_set)(prdshm_seg *seg, prdshm_session *s, const char *id,
			 prdshm_phase_status to);
	int (*agent_heartbeat)(prdshm_session *s);
	int (*agent_log)(prdshm_session *s, const char *line);

	/* The whole segment. */
	int (*reap)(prdshm_seg *seg, int requeue, void (*report)(void *ctx, const char *line),
		    void *ctx, size_t *nreaped);
	int (*recover)(prdshm_seg *seg, void (*report)(void *ctx, const char *line), void *ctx);
	int (*check)(prdshm_seg *seg, unsigned flags,
		     void (*report)(void *ctx, int severity, const char *problem), void *ctx);
	int (*snapshot_take)(prdshm_seg *seg, unsigned flags, prdshm_snapshot **out);
};

/* The shared-memory backend (lib/api/shm_backend.c). */
extern const struct prdshm__backend prdshm__shm_backend;

/* The ZooKeeper backend (lib/api/zk_backend.c over lib/zk/); without the
 * ZooKeeper client it refuses every segment with PRDSHM_ENOTSUP. */
extern const struct prdshm__backend prdshm__zk_backend;

/* The backend that made a handle. */
static inline const struct prdshm__backend *prdshm__backend_of_seg(const prdshm_seg *seg)
{
	return ((const struct prdshm__handle *)(const void *)seg)->backend;
}

static inline const struct prdshm__backend *prdshm__backend_of(const prdshm_session *s)
{
	return ((const struct prdshm__handle *)(const void *)s)->backend;
}

/* The backend for @p cfg (NULL: the default one). */
const struct prdshm__backend *prdshm__backend_select(const prdshm_config *cfg);
#endif
