/*
 * nested.c: nested locks on ZooKeeper (prdshm.h, "Nested locks";
 * docs/zookeeper.md, "Nested locks").  A process started under a held lock
 * finds its parent session in PRDSHM_PARENT_SESSION, here
 *
 *     zk:<seq>:<owner>:<created_ns>:<shm_name>
 *
 * the sequence number of the parent's agent znode (its slot), the parent's
 * ZooKeeper session id in hex (the agent znode's ephemeralOwner, and the
 * <owner> tag of its requests' names), and the segment's creation time and
 * name.  A session opened with it acts for the parent while that agent
 * znode exists with that owner: a request that one of the parent's granted
 * requests covers (EXCLUSIVE covers both modes, SHARED covers SHARED) is
 * granted at once, with no request znode: the parent's request already
 * keeps out everyone the child's would, and the parent waits for the child.
 * A shm value ("SLOT:GEN:...") is ignored here, as this one is on shm.
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "zk/zk.h"

int prdshm__zk_session_env(const prdshm_session *ps, char *buf, size_t size)
{
	const struct prdshm__zk_session *s = (const struct prdshm__zk_session *)(const void *)ps;
	int n;

	prdshm__call_begin();
	n = snprintf(buf, size, "zk:%d:%llx:%llu:%s", s->slot,
		     (unsigned long long)zoo_client_id(s->seg->zh)->client_id,
		     (unsigned long long)s->seg->created_ns, s->seg->shm_name);
	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			buf[0] = '\0';
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_session_env: %zu bytes are too few",
				    size);
	}
	return 0;
}

/* One field of the value, ended by ':', in base @p base.  @return the
 * next field, NULL if this one does not parse. */
static const char *field(const char *v, int base, unsigned long long *out)
{
	char *end;

	if (!((*v >= '0' && *v <= '9') || (base == 16 && strchr("abcdef", *v) && *v)))
		return NULL;
	errno = 0;
	*out = strtoull(v, &end, base);
	return errno || *end != ':' ? NULL : end + 1;
}

/* The agent znode under agents/ whose sequence number is @p seq, into
 * @p node.  @return 1 found, 0 not (or the list could not be read). */
static int agent_by_seq(struct prdshm__zk_seg *zs, long long seq, char *node, size_t size)
{
	struct String_vector kids = { 0, NULL };
	char dir[PRDSHM__ZK_PATH_MAX];
	int found = 0;

	snprintf(dir, sizeof(dir), "%s/agents", zs->base);
	if (prdshm__zk_children(zs, dir, &kids) != ZOK)
		return 0;
	for (int i = 0; i < kids.count && !found; i++)
		found = prdshm__zk_seq_of(kids.data[i]) == seq &&
			prdshm__zk_join(node, size, dir, kids.data[i]) == 0;
	deallocate_String_vector(&kids);
	return found;
}

void prdshm__zk_parent_from_env(struct prdshm__zk_session *s, unsigned flags)
{
	const char *v = (flags & PRDSHM_SESSION_INDEPENDENT) ? NULL : getenv(PRDSHM_PARENT_ENV);
	unsigned long long seq, owner, created;
	char node[PRDSHM__ZK_PATH_MAX];
	struct Stat st;

	s->parent_slot = -1;
	if (v == NULL || strncmp(v, "zk:", 3) != 0)
		return; /* none, or a shm session's: not ours */
	v = field(v + 3, 10, &seq);
	if (v)
		v = field(v, 16, &owner);
	if (v)
		v = field(v, 10, &created);
	if (v == NULL || seq > 9999999999ull || strcmp(v, s->seg->shm_name) != 0 ||
	    created != s->seg->created_ns)
		return; /* garbage, or another segment's (or an older one's) */
	/* The parent's agent znode, still that ZooKeeper session's: a session
	 * that ended is nobody to act for. */
	if (!agent_by_seq(s->seg, (long long)seq, node, sizeof(node)) ||
	    prdshm__zk_exists(s->seg, node, &st) != ZOK || (uint64_t)st.ephemeralOwner != owner)
		return;
	s->parent_slot = (int)seq;
	s->parent_owner = owner;
}

/* Request @p name of resource @p rpath: whether it is the parent's
 * (*mine: its name carries the parent's owner tag and its data the
 * parent's slot) and exclusive (*excl).  Another's read request needs no
 * read.  @return 0, 1 if it went meanwhile, or an error. */
static int classify(struct prdshm__zk_session *s, const char *rpath, const struct prdshm__zk_req *r,
		    int *mine, int *excl)
{
	char tag[40], path[PRDSHM__ZK_PATH_MAX], data[512], buf[32];
	const char *owner = strchr(r->name, '-');
	int len = (int)sizeof(data) - 1, rc;

	snprintf(tag, sizeof(tag), "%llx.", (unsigned long long)s->parent_owner);
	*mine = owner && strncmp(owner + 1, tag, strlen(tag)) == 0;
	*excl = 0;
	if (!*mine && !r->write)
		return 0;
	if (prdshm__zk_join(path, sizeof(path), rpath, r->name))
		return PRDSHM_ENAME;
	rc = prdshm__zk_get(s->seg, path, 0, data, &len, NULL);
	if (rc == ZNONODE)
		return 1;
	if (rc != ZOK)
		return prdshm__zk_err(s->seg, rc, "read", path);
	data[len > 0 ? len : 0] = '\0';
	prdshm__zk_field(data, "slot", buf, sizeof(buf));
	*mine = *mine && strtol(buf, NULL, 10) == s->parent_slot;
	prdshm__zk_field(data, "mode", buf, sizeof(buf));
	*excl = r->write && strcmp(buf, "shared") != 0;
	return 0;
}

/* Whether a granted request of the parent among the resource's requests
 * covers @p mode (EXCLUSIVE covers both, SHARED covers SHARED).  Granted
 * by the recipe's rule (lock.c): a write request when no request of
 * another session is before it (its own read request is the one it
 * upgrades), a read request when no exclusive one is.  @return 1, 0, or
 * an error. */
static int scan(struct prdshm__zk_session *s, const char *rpath, const struct prdshm__zk_req *reqs,
		size_t n, prdshm_mode mode)
{
	int other_before = 0, excl_before = 0, mine, excl, err;

	for (size_t i = 0; i < n; i++) {
		err = classify(s, rpath, &reqs[i], &mine, &excl);
		if (err < 0)
			return err;
		if (err)
			continue; /* went meanwhile: it blocks nobody */
		if (mine && (excl || mode == PRDSHM_SHARED) &&
		    !(reqs[i].write ? other_before : excl_before))
			return 1;
		if (!mine) {
			other_before = 1;
			excl_before |= excl;
		}
	}
	return 0;
}

int prdshm__zk_nested_covered(struct prdshm__zk_session *s, const char *resource,
			      prdshm_mode mode)
{
	char rpath[PRDSHM__ZK_PATH_MAX];
	struct prdshm__zk_req *reqs;
	size_t n;
	int r;

	if (s->parent_slot < 0)
		return 0;
	r = prdshm__zk_resource_path(s->seg, resource, rpath, sizeof(rpath));
	if (!r)
		r = prdshm__zk_requests(s->seg, rpath, &reqs, &n);
	if (r)
		return r;
	r = scan(s, rpath, reqs, n, mode);
	free(reqs);
	return r;
}
#endif
