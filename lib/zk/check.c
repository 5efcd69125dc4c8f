/*
 * check.c: prdshm_check() on ZooKeeper.
 *
 * - The plan image (<base>/plan), when there is one, gets the invariants
 *   the shm phase region gets (lib/plan/plan_check.c on a private copy);
 *   an IN_PROGRESS phase's holder is alive while an agent znode with its
 *   sequence number exists: a missing one is a dead holder (a warning,
 *   PRDSHM_EDEADOWNER), which reaping clears.
 * - Every agent znode's record must parse (agent.c), and every request
 *   under locks/ must be one (query.c): else an error, PRDSHM_ECORRUPT.
 *   So must every resource znode's name (conn.c's %XX encoding).
 * A request whose owner's ZooKeeper session is gone cannot be seen: it is
 * ephemeral and went with the session; nothing to check there.
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "plan/phases.h"
#include "zk/zk.h"

struct zcheck {
	struct prdshm__zk_seg *zs;
	void (*report)(void *ctx, int severity, const char *problem);
	void *ctx;
	long long *seqs; /* live agent znodes, sorted */
	size_t nseqs;
	int corrupt;
};

static void problem(struct zcheck *c, int severity, const char *fmt, ...) PRDSHM__PRINTF(3, 4);

static void problem(struct zcheck *c, int severity, const char *fmt, ...)
{
	char line[400];
	va_list ap;

	if (severity == PRDSHM_CHECK_ERROR)
		c->corrupt++;
	if (c->report == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->report(c->ctx, severity, line);
}

/* The holder test of the plan check: a live agent znode has its slot. */
static int holder_alive(void *hctx, const struct prdshm__phase *p, uint32_t index)
{
	const struct zcheck *c = hctx;

	(void)index;
	if (p->agent_slot < 0)
		return -1;
	return prdshm__zk_slot_alive(c->seqs, c->nseqs, p->agent_slot);
}

static int check_plan(struct zcheck *c)
{
	unsigned char *img;
	uint64_t bytes;
	int version, err;

	err = prdshm__zk_plan_read(c->zs, &img, &bytes, &version);
	if (err || img == NULL)
		return err;
	err = prdshm__phases_check_image(img, bytes, holder_alive, c, c->report, c->ctx);
	free(img);
	if (err == PRDSHM_ECORRUPT)
		c->corrupt++;
	return err == PRDSHM_EDEADOWNER ? 1 : 0;
}

static int check_agents(struct zcheck *c)
{
	struct String_vector kids = { 0, NULL };
	char dir[PRDSHM__ZK_PATH_MAX], path[PRDSHM__ZK_PATH_MAX], why[80];
	char *data = malloc(PRDSHM__ZK_AGENT_MAX);
	struct prdshm__zk_agent_rec rec;
	int rc, err = 0;

	if (data == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	snprintf(dir, sizeof(dir), "%s/agents", c->zs->base);
	rc = prdshm__zk_children(c->zs, dir, &kids);
	if (rc != ZOK)
		err = prdshm__zk_err(c->zs, rc, "list", dir);
	for (int i = 0; !err && i < kids.count; i++) {
		int len = PRDSHM__ZK_AGENT_MAX;

		err = prdshm__zk_join(path, sizeof(path), dir, kids.data[i]);
		rc = err ? ZOK : prdshm__zk_get(c->zs, path, 0, data, &len, NULL);
		if (rc == ZNONODE || err)
			continue;
		if (rc != ZOK)
			err = prdshm__zk_err(c->zs, rc, "read agent", path);
		else if (prdshm__zk_seq_of(kids.data[i]) < 0)
			problem(c, PRDSHM_CHECK_ERROR, "agent znode %s: no sequence number", path);
		else if (len < 0 || prdshm__zk_agent_parse(data, (size_t)len, &rec, why, sizeof(why)))
			problem(c, PRDSHM_CHECK_ERROR, "agent znode %s: unparsable record: %s", path,
				len < 0 ? "no data" : why);
	}
	deallocate_String_vector(&kids);
	free(data);
	return err;
}

static int check_locks(struct zcheck *c)
{
	struct String_vector kids = { 0, NULL };
	char dir[PRDSHM__ZK_PATH_MAX], rpath[PRDSHM__ZK_PATH_MAX];
	int rc, err = 0;

	snprintf(dir, sizeof(dir), "%s/locks", c->zs->base);
	rc = prdshm__zk_children(c->zs, dir, &kids);
	if (rc != ZOK)
		err = prdshm__zk_err(c->zs, rc, "list", dir);
	for (int i = 0; !err && i < kids.count; i++) {
		prdshm_holder *hs = NULL;
		size_t nh, bad = 0;

		err = prdshm__zk_join(rpath, sizeof(rpath), dir, kids.data[i]);
		if (!err)
			err = prdshm__zk_read_holders(c->zs, rpath, &hs, &nh, &bad);
		free(hs);
		if (!err && bad)
			problem(c, PRDSHM_CHECK_ERROR,
				"resource znode %s: %zu requests whose data does not parse", rpath,
				bad);
	}
	deallocate_String_vector(&kids);
	return err;
}

int prdshm__zk_check(prdshm_seg *seg, unsigned flags,
		     void (*report)(void *ctx, int severity, const char *problem), void *ctx)
{
	struct zcheck c = { (struct prdshm__zk_seg *)(void *)seg, report, ctx, NULL, 0, 0 };
	int err, dead = 0;

	prdshm__call_begin();
	(void)flags; /* no mutex to skip */
	err = prdshm__zk_usable(c.zs);
	if (!err)
		err = prdshm__zk_live_slots(c.zs, &c.seqs, &c.nseqs);
	if (!err)
		dead = check_plan(&c);
	if (dead < 0)
		err = dead;
	if (!err)
		err = check_agents(&c);
	if (!err)
		err = check_locks(&c);
	free(c.seqs);
	if (err)
		return err;
	if (c.corrupt)
		return prdshm__fail(PRDSHM_ECORRUPT, "segment %s: broken invariants (reported)",
				    c.zs->shm_name);
	if (dead)
		return prdshm__fail(PRDSHM_EDEADOWNER, "segment %s: dead agents hold phases",
				    c.zs->shm_name);
	return 0;
}
#endif
