/*
 * inspect.c: prdshm_snapshot_take() on ZooKeeper: the agents from agents/,
 * the locks from locks/, the phases and waves from the plan image in
 * <base>/plan (the bytes of the shm phase region, parsed by lib/plan/).
 *
 * ZooKeeper has no snapshot read: the children and data are read one
 * after another while others change them.  The plan's version is read
 * before and after; if it changed, the whole snapshot is taken again, at
 * most SNAP_TRIES times, and the last one is kept with snap->locked = 0
 * (as a shm snapshot read without a mutex says it may be torn).  The
 * agents and locks have no such version: each znode is read once, and a
 * resource or an agent that goes meanwhile is simply not listed.
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/snapshot.h"
#include "base/util.h"
#include "plan/phases.h"
#include "zk/zk.h"

#define SNAP_TRIES 3

/* An agent znode "<agent_id>-<seq>" and its record; its host to @p host. */
static void fill_agent(struct prdshm__zk_seg *zs, const char *name, const char *data, int len,
		       prdshm_agent_info *a, char *host)
{
	struct prdshm__zk_agent_rec rec;
	const char *dash = strrchr(name, '-');
	size_t idlen = dash ? (size_t)(dash - name) : strlen(name);
	char why[80];

	(void)zs;
	memset(a, 0, sizeof(*a));
	a->slot = (int32_t)prdshm__zk_seq_of(name);
	memcpy(a->id, name, idlen < PRDSHM_ID_MAX ? idlen : PRDSHM_ID_MAX);
	a->alive = 1;
	a->phase = -1;
	if (len < 0 || prdshm__zk_agent_parse(data, (size_t)len, &rec, why, sizeof(why))) {
		/* Shown as what it is: the znode exists, its record does not
		 * say who. */
		a->status = PRDSHM_AGENT_IDLE;
		snprintf(a->log[0], sizeof(a->log[0]), "malformed agent record: %s",
			 len < 0 ? "no data" : why);
		a->nlog = 1;
		return;
	}
	prdshm__strlcpy(host, rec.host, PRDSHM__HOST_MAX + 1);
	a->pid = rec.pid;
	a->uid = rec.uid;
	a->start_ns = rec.start_ns;
	a->heartbeat_ns = rec.heartbeat_ns;
	a->status = rec.status;
	a->nlog = rec.nlog;
	memcpy(a->log, rec.log, sizeof(a->log));
}

static int snap_agents(struct prdshm__zk_seg *zs, struct prdshm__snapshot *ps)
{
	prdshm_snapshot *snap = &ps->pub;
	struct String_vector kids = { 0, NULL };
	char dir[PRDSHM__ZK_PATH_MAX], path[PRDSHM__ZK_PATH_MAX];
	char *data = malloc(PRDSHM__ZK_AGENT_MAX);
	int rc, err = 0;

	if (data == NULL)
		return PRDSHM_ENOMEM;
	snprintf(dir, sizeof(dir), "%s/agents", zs->base);
	rc = prdshm__zk_children(zs, dir, &kids);
	if (rc != ZOK) {
		free(data);
		return prdshm__zk_err(zs, rc, "list", dir);
	}
	snap->agents = calloc((size_t)kids.count + 1, sizeof(*snap->agents));
	ps->hosts = calloc((size_t)kids.count + 1, sizeof(*ps->hosts));
	for (int i = 0; snap->agents && ps->hosts && i < kids.count && !err; i++) {
		int len = PRDSHM__ZK_AGENT_MAX;

		err = prdshm__zk_join(path, sizeof(path), dir, kids.data[i]);
		rc = err ? ZOK : prdshm__zk_get(zs, path, 0, data, &len, NULL);
		if (rc == ZNONODE)
			continue; /* closed meanwhile */
		if (rc != ZOK)
			err = prdshm__zk_err(zs, rc, "read agent", path);
		if (!err)
			fill_agent(zs, kids.data[i], data, len, &snap->agents[snap->nagents],
				   ps->hosts[snap->nagents]);
		if (!err)
			snap->nagents++;
	}
	deallocate_String_vector(&kids);
	free(data);
	if (snap->agents == NULL || ps->hosts == NULL)
		return PRDSHM_ENOMEM;
	return err;
}

/* Holders first, then waiters, each in queue order (as on shm). */
static void order_records(prdshm_lock_info *li, const prdshm_holder *hs, size_t nh)
{
	size_t k = 0;

	for (int waiting = 0; waiting < 2; waiting++) {
		for (size_t i = 0; i < nh; i++) {
			if (hs[i].waiting != waiting)
				continue;
			li->holders[k] = hs[i];
			if (!waiting) {
				li->nholders++;
				if (hs[i].mode > li->mode)
					li->mode = hs[i].mode;
			}
			k++;
		}
	}
	li->nrecords = k;
}

static int snap_resource(struct prdshm__zk_seg *zs, const char *name, prdshm_lock_info *li)
{
	char rpath[PRDSHM__ZK_PATH_MAX];
	prdshm_holder *hs = NULL;
	size_t nh = 0;
	int err;

	memset(li, 0, sizeof(*li));
	if (prdshm__zk_resource_decode(name, li))
		return 0; /* not a resource: prdshm_check() says so */
	snprintf(rpath, sizeof(rpath), "%s/locks/%s", zs->base, name);
	err = strlen(rpath) + 1 >= sizeof(rpath) ? prdshm__fail(PRDSHM_ENAME, "path too long") : 0;
	if (!err)
		err = prdshm__zk_read_holders(zs, rpath, &hs, &nh, NULL);
	if (err)
		return err;
	li->holders = calloc(nh + 1, sizeof(*li->holders));
	if (li->holders == NULL) {
		free(hs);
		return PRDSHM_ENOMEM;
	}
	order_records(li, hs, nh);
	free(hs);
	return 0;
}

static int snap_locks(struct prdshm__zk_seg *zs, prdshm_snapshot *snap)
{
	struct String_vector kids = { 0, NULL };
	char locks[PRDSHM__ZK_PATH_MAX];
	int rc, err = 0;

	snprintf(locks, sizeof(locks), "%s/locks", zs->base);
	rc = prdshm__zk_children(zs, locks, &kids);
	if (rc != ZOK)
		return prdshm__zk_err(zs, rc, "list", locks);
	snap->locks = calloc((size_t)kids.count + 1, sizeof(*snap->locks));
	for (int i = 0; snap->locks && i < kids.count && !err; i++) {
		prdshm_lock_info *li = &snap->locks[snap->nlocks];

		err = snap_resource(zs, kids.data[i], li);
		if (li->holders && li->nrecords == 0)
			free(li->holders); /* a resource znode left empty */
		else if (li->holders)
			snap->nlocks++;
	}
	deallocate_String_vector(&kids);
	return snap->locks ? err : PRDSHM_ENOMEM;
}

static prdshm_agent_info *agent_of(prdshm_snapshot *snap, int32_t slot)
{
	for (size_t i = 0; i < snap->nagents; i++)
		if (snap->agents[i].slot == slot && snap->agents[i].alive)
			return &snap->agents[i];
	return NULL;
}

/* Each IN_PROGRESS phase's holder runs it (BUSY); a holder whose agent
 * znode is gone is listed as a DEAD agent: the one a stuck run waits for. */
static int link_phases(struct prdshm__snapshot *ps)
{
	prdshm_snapshot *snap = &ps->pub;

	for (size_t i = 0; i < snap->nphases; i++) {
		const prdshm_phase_info *p = &snap->phases[i];
		prdshm_agent_info *a, *more;

		if (p->status != PRDSHM_PHASE_IN_PROGRESS)
			continue;
		a = agent_of(snap, p->agent_slot);
		if (a == NULL) {
			char(*hosts)[PRDSHM__HOST_MAX + 1];

			more = realloc(snap->agents, (snap->nagents + 1) * sizeof(*more));
			if (more == NULL)
				return PRDSHM_ENOMEM;
			snap->agents = more;
			hosts = realloc(ps->hosts, (snap->nagents + 1) * sizeof(*hosts));
			if (hosts == NULL)
				return PRDSHM_ENOMEM;
			ps->hosts = hosts;
			hosts[snap->nagents][0] = '\0'; /* not known: its record is gone */
			a = &more[snap->nagents++];
			memset(a, 0, sizeof(*a));
			a->slot = p->agent_slot;
			memcpy(a->id, p->agent_id, sizeof(a->id));
			a->status = PRDSHM_AGENT_DEAD;
			a->phase = p->index;
			continue;
		}
		a->phase = p->index;
		a->status = PRDSHM_AGENT_BUSY;
	}
	return 0;
}

static void snapshot_free(struct prdshm__snapshot *ps)
{
	prdshm_snapshot *snap = &ps->pub;

	free(ps->hosts);
	for (size_t i = 0; i < snap->nlocks; i++)
		free(snap->locks[i].holders);
	free(snap->locks);
	free(snap->agents);
	prdshm__phases_snapshot_free(snap);
	memset(ps, 0, sizeof(*ps));
}

/* One try; the plan's version before it and as read (-1: none). */
static int snapshot_once(struct prdshm__zk_seg *zs, struct prdshm__snapshot *ps, int *before,
			 int *after)
{
	prdshm_snapshot *snap = &ps->pub;
	unsigned char *img = NULL;
	uint64_t bytes;
	struct Stat st;
	char plan[PRDSHM__ZK_PATH_MAX];
	int err;

	snprintf(plan, sizeof(plan), "%s/plan", zs->base);
	*before = prdshm__zk_exists(zs, plan, &st) == ZOK ? st.version : -1;
	snap->taken_ns = prdshm__now_real();
	prdshm__zk_seg_info((prdshm_seg *)(void *)zs, &snap->seg);
	err = snap_agents(zs, ps);
	if (!err)
		err = snap_locks(zs, snap);
	if (!err)
		err = prdshm__zk_plan_read(zs, &img, &bytes, after);
	if (!err && img)
		err = prdshm__phases_snapshot_image(img, bytes, snap);
	free(img);
	if (!err)
		err = link_phases(ps);
	return err;
}

int prdshm__zk_snapshot_take(prdshm_seg *seg, unsigned flags, prdshm_snapshot **out)
{
	struct prdshm__zk_seg *zs = (struct prdshm__zk_seg *)(void *)seg;
	struct prdshm__snapshot *ps;
	int err = 0, before = -1, after = -1;

	prdshm__call_begin();
	(void)flags; /* no mutex to skip */
	if (out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_snapshot_take: NULL argument");
	*out = NULL;
	err = prdshm__zk_usable(zs);
	if (err)
		return err;
	ps = calloc(1, sizeof(*ps));
	if (ps == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	for (int t = 0; t < SNAP_TRIES; t++) {
		snapshot_free(ps);
		err = snapshot_once(zs, ps, &before, &after);
		if (err || before == after)
			break;
	}
	ps->pub.locked = !err && before == after;
	if (err) {
		snapshot_free(ps);
		free(ps);
		return err == PRDSHM_ENOMEM ? prdshm__fail(err, "snapshot: out of memory") : err;
	}
	*out = &ps->pub;
	return prdshm__call_ok();
}
#endif
