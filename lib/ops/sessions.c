/*
 * sessions.c: a session's start and end as the whole segment sees them.
 * Opening on a full agents table reaps the dead sessions first, failing
 * their phases (lib/ops/recovery.c).  Closing releases the session's locks
 * (lock table), then marks its slot EXITED and frees it (sessions).  A
 * phase it still holds stays IN_PROGRESS: the next reap or claim fails it
 * as orphaned (lib/plan/).
 */
#include "lock/locktable.h"
#include "ops/ops.h"
#include "session/session.h"
#include "shm/robust.h"

static int reap_for_open(struct prdshm_seg *seg, size_t *n)
{
	return prdshm__reap_dead_slots(seg, 0, NULL, NULL, n);
}

int prdshm__shm_session_open(prdshm_seg *seg, const char *agent_id, unsigned flags,
			     int64_t timeout_ms, prdshm_session **out)
{
	return prdshm__session_open(seg, agent_id, flags, timeout_ms, reap_for_open, out);
}

/*
 * Closing waits at most PRDSHM_RECOVER_WAIT_MS in all for the segment's
 * mutexes: a close must not hang on a holder that is stopped.  What it
 * could not do then (release some locks, mark the slot EXITED) is done as
 * for a session that died, once its descriptor is closed: waiters sweep
 * its records, and a reap frees its slot.
 */
void prdshm__shm_session_close(prdshm_session *s)
{
	uint64_t outer = prdshm__wait_bound_begin(PRDSHM_RECOVER_WAIT_MS);

	prdshm__shm_unlock_all(s, NULL);
	prdshm__session_end(s);
	prdshm__wait_bound_end(outer);
}
