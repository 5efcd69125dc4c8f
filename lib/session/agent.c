/*
 * agent.c: what a session writes of its own agent record, without the
 * phase layer: the heartbeat (lock-free, the owner alone writes it) and
 * the log ring (under the session mutex).
 */
#include "base/util.h"
#include "session/session.h"

int prdshm__shm_agent_heartbeat(prdshm_session *s)
{
	struct prdshm__agent *a;
	int r;

	prdshm__call_begin();
	r = prdshm__session_ok(s);
	if (r)
		return r;
	a = &prdshm__sessions(s->seg)->agents[s->slot];
	if (__atomic_load_n(&a->gen, __ATOMIC_ACQUIRE) != s->gen)
		return prdshm__fail(PRDSHM_ENOAGENT, "agent %s was reaped", s->id);
	/* Lock-free: only the owner writes it, readers want any recent value. */
	__atomic_store_n(&a->heartbeat_ns, prdshm__now_real(), __ATOMIC_RELAXED);
	return 0;
}

int prdshm__shm_agent_log(prdshm_session *s, const char *line)
{
	struct prdshm__agent *a;
	int r;

	prdshm__call_begin();
	r = prdshm__session_ok(s);
	if (r)
		return r;
	if (line == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no log line");
	r = prdshm__sess_lock(s->seg, -1);
	if (r)
		return r;
	a = &prdshm__sessions(s->seg)->agents[s->slot];
	if (a->gen != s->gen || a->state != PRDSHM__SLOT_ACTIVE) {
		r = prdshm__fail(PRDSHM_ENOAGENT, "agent %s was reaped", s->id);
	} else {
		prdshm__strlcpy(a->log[a->nlog % PRDSHM_LOG_LINES], line, PRDSHM_MSG_MAX + 1);
		a->nlog++;
	}
	prdshm__sess_unlock(s->seg);
	return r;
}
