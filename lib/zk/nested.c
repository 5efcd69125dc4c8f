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
 * name.  A session opened with it, if that agent znode exists with that
 * owner, acts for the parent and, through the parent= of their agent
 * records, for the parent's ancestors: a request that a granted request of
 * one of them covers (EXCLUSIVE covers both modes, SHARED covers SHARED)
 * is granted at once, with no request znode: the ancestor's request
 * already keeps out everyone the child's would, and the ancestor waits for
 * the child.  So the child's hold lasts only as long as that request (on
 * shm it is a record of its own; docs/zookeeper.md says what differs).
 * A shm value ("SLOT:GEN:...") is ignored here, as this one is on shm.
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "session/session.h"
#include "zk/zk.h"

int prdshm__zk_session_env(const prdshm_session *ps, char *buf, size_t size)
{
	const struct prdshm__zk_session *s = (const struct prdshm__zk_session *)(const void *)ps;
	int n;

	prdshm__call_begin();
	n = snprintf(buf, size, "zk:%d:%llx:%llu:%s", s->slot,
		     (unsigned long long)zoo_client_id(s->seg->zh)->client_id,
		     (unsigned long long)s->seg->created_ns, s->seg->shm_name);
	return prdshm__session_env_fit(buf, size, n);
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

/* Session @p seq of ZooKeeper session @p owner, if its agent znode is
 * there and still that ZooKeeper session's (a session that ended is
 * nobody to act for): 1 and its record's parent= in @p up ("" if none). */
static int live_agent(struct prdshm__zk_seg *zs, unsigned long long seq, unsigned long long owner,
		      char *up, size_t size)
{
	char node[PRDSHM__ZK_PATH_MAX], data[PRDSHM__ZK_AGENT_MAX], why[64];
	struct prdshm__zk_agent_rec *rec;
	int len = (int)sizeof(data) - 1, ok;
	struct Stat st;

	if (seq > 9999999999ull || !agent_by_seq(zs, (long long)seq, node, sizeof(node)) ||
	    prdshm__zk_get(zs, node, 0, data, &len, &st) != ZOK ||
	    (uint64_t)st.ephemeralOwner != owner)
		return 0;
	rec = malloc(sizeof(*rec));
	ok = rec && prdshm__zk_agent_parse(data, len > 0 ? (size_t)len : 0, rec, why,
					   sizeof(why)) == 0;
	prdshm__strlcpy(up, ok ? rec->parent : "", size);
	free(rec);
	return 1;
}

void prdshm__zk_parent_from_env(struct prdshm__zk_session *s, unsigned flags)
{
	const char *v = (flags & PRDSHM_SESSION_INDEPENDENT) ? NULL : getenv(PRDSHM_PARENT_ENV);
	unsigned long long seq, owner, created;
	char up[sizeof(((struct prdshm__zk_agent_rec *)0)->parent) + 1];

	s->nanc = 0;
	if (v == NULL || strncmp(v, "zk:", 3) != 0)
		return; /* none, or a shm session's: not ours */
	v = field(v + 3, 10, &seq);
	if (v)
		v = field(v, 16, &owner);
	if (v)
		v = field(v, 10, &created);
	if (v == NULL || strcmp(v, s->seg->shm_name) != 0 || created != s->seg->created_ns)
		return; /* garbage, or another segment's (or an older one's) */
	/* The parent, then up its records' parent= while they are live: the
	 * holds of any of them cover ours, as on shm. */
	while (s->nanc < PRDSHM__ZK_ANCESTORS && live_agent(s->seg, seq, owner, up, sizeof(up) - 1)) {
		s->anc_slot[s->nanc] = (int)seq;
		s->anc_owner[s->nanc++] = owner;
		strcat(up, ":");
		v = field(up, 10, &seq);
		if (v == NULL || field(v, 16, &owner) == NULL)
			break;
	}
}

/* What the covering check needs of a request. */
struct nreq {
	int slot;   /* its session */
	int excl;   /* a write request not downgraded */
	int mode;   /* its mode covers the request being made */
	int family; /* its session is one we act for */
};

/* Request @p r of resource @p rpath into @p out.  @return 0, 1 if it went
 * meanwhile, or an error. */
static int classify(struct prdshm__zk_session *s, const char *rpath, const struct prdshm__zk_req *r,
		    prdshm_mode want, struct nreq *out)
{
	char path[PRDSHM__ZK_PATH_MAX], data[512], buf[32], tag[40];
	const char *owner = strchr(r->name, '-');
	int len = (int)sizeof(data) - 1, rc;

	if (prdshm__zk_join(path, sizeof(path), rpath, r->name))
		return PRDSHM_ENAME;
	rc = prdshm__zk_get(s->seg, path, 0, data, &len, NULL);
	if (rc == ZNONODE)
		return 1;
	if (rc != ZOK)
		return prdshm__zk_err(s->seg, rc, "read", path);
	data[len > 0 ? len : 0] = '\0';
	prdshm__zk_field(data, "slot", buf, sizeof(buf));
	out->slot = (int)strtol(buf, NULL, 10);
	prdshm__zk_field(data, "mode", buf, sizeof(buf));
	out->excl = r->write && strcmp(buf, "shared") != 0;
	out->mode = out->excl || want == PRDSHM_SHARED;
	/* Ours by its slot, and by the owner tag in its name: the slot alone
	 * is data anyone may write. */
	out->family = 0;
	for (int k = 0; k < s->nanc && !out->family && owner; k++) {
		snprintf(tag, sizeof(tag), "%llx.", s->anc_owner[k]);
		out->family = out->slot == s->anc_slot[k] && strncmp(owner + 1, tag, strlen(tag)) == 0;
	}
	return 0;
}

/* Whether request i of @p q is granted, by the recipe's rule (lock.c): a
 * write request when no request of another session is before it (its own
 * read request is the one it upgrades), a read request when no exclusive
 * one of another session is. */
static int granted(const struct nreq *q, const struct prdshm__zk_req *reqs, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (q[j].slot != q[i].slot && (reqs[i].write || q[j].excl))
			return 0;
	return 1;
}

/* Whether a granted request of one we act for among the resource's
 * requests covers @p mode (EXCLUSIVE covers both, SHARED covers SHARED).
 * @return 1, 0, or an error. */
static int scan(struct prdshm__zk_session *s, const char *rpath, const struct prdshm__zk_req *reqs,
		size_t n, prdshm_mode mode)
{
	struct nreq *q = calloc(n + 1, sizeof(*q));
	struct prdshm__zk_req *kept = calloc(n + 1, sizeof(*kept));
	size_t k = 0;
	int err = 0, found = 0;

	if (!q || !kept)
		err = prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	/* Those that went meanwhile block nobody: left out. */
	for (size_t i = 0; i < n && !err; i++) {
		err = classify(s, rpath, &reqs[i], mode, &q[k]);
		if (err == 0)
			kept[k++] = reqs[i];
		err = err > 0 ? 0 : err;
	}
	for (size_t i = 0; i < k && !err && !found; i++)
		found = q[i].family && q[i].mode && granted(q, kept, i);
	free(kept);
	free(q);
	return err ? err : found;
}

int prdshm__zk_nested_covered(struct prdshm__zk_session *s, const char *resource,
			      prdshm_mode mode)
{
	char rpath[PRDSHM__ZK_PATH_MAX];
	struct prdshm__zk_req *reqs;
	size_t n;
	int r;

	if (s->nanc == 0)
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
