/*
 * query.c: reading a resource's queue of requests out of ZooKeeper: the
 * requests in order, whether one is exclusive, and prdshm_lock_query().
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "base/util.h"
#include "zk/zk.h"

static int by_seq(const void *a, const void *b)
{
	const struct prdshm__zk_req *x = a, *y = b;

	return (x->seq > y->seq) - (x->seq < y->seq);
}

int prdshm__zk_requests(struct prdshm__zk_seg *zs, const char *rpath,
			struct prdshm__zk_req **out, size_t *n)
{
	struct String_vector kids = { 0, NULL };
	struct prdshm__zk_req *reqs;
	uint64_t until = prdshm__zk_retry_until(zs), seen;
	size_t k = 0;
	int rc;

	*out = NULL;
	*n = 0;
	do {
		seen = prdshm__zk_events(zs);
		rc = zoo_get_children(zs->zh, rpath, 0, &kids);
	} while (prdshm__zk_again(zs, rc, seen, until));
	if (rc == ZNONODE)
		return 0;
	if (rc != ZOK)
		return prdshm__zk_err(zs, rc, "list", rpath);
	reqs = calloc((size_t)kids.count + 1, sizeof(*reqs));
	if (!reqs) {
		deallocate_String_vector(&kids);
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	}
	for (int i = 0; i < kids.count; i++) {
		const char *name = kids.data[i];
		int write = strncmp(name, "write-", 6) == 0;

		/* Anything else is not ours: ignored. */
		if ((!write && strncmp(name, "read-", 5) != 0) || strlen(name) >= sizeof(reqs->name))
			continue;
		prdshm__strlcpy(reqs[k].name, name, sizeof(reqs[k].name));
		reqs[k].seq = prdshm__zk_seq_of(name);
		reqs[k].write = write;
		k++;
	}
	deallocate_String_vector(&kids);
	qsort(reqs, k, sizeof(*reqs), by_seq);
	*out = reqs;
	*n = k;
	return 0;
}

/* The value of "key=" in a request's data, into @p buf ("" if absent). */
void prdshm__zk_field(const char *data, const char *key, char *buf, size_t size)
{
	size_t klen = strlen(key);

	buf[0] = '\0';
	for (const char *p = data; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t len = strcspn(p + klen + 1, "\n");

			if (len >= size)
				len = size - 1;
			memcpy(buf, p + klen + 1, len);
			buf[len] = '\0';
			return;
		}
	}
}

/* A request's data; ZNONODE when it went meanwhile. */
static int get_data(struct prdshm__zk_seg *zs, const char *rpath, const char *name, char *buf,
		    int size)
{
	char path[PRDSHM__ZK_PATH_MAX];
	uint64_t until = prdshm__zk_retry_until(zs), seen;
	int len, rc;

	if (prdshm__zk_join(path, sizeof(path), rpath, name))
		return ZBADARGUMENTS;
	do {
		seen = prdshm__zk_events(zs);
		len = size - 1;
		rc = zoo_get(zs->zh, path, 0, buf, &len, NULL);
	} while (prdshm__zk_again(zs, rc, seen, until));
	buf[rc == ZOK && len > 0 ? len : 0] = '\0';
	return rc;
}

/* A write request is exclusive unless it was downgraded (lock.c); one
 * that went meanwhile blocks nobody. */
int prdshm__zk_req_exclusive(struct prdshm__zk_seg *zs, const char *rpath,
			     const struct prdshm__zk_req *r, int *exclusive)
{
	char data[512], mode[16];
	int rc;

	*exclusive = 0;
	if (!r->write)
		return 0;
	rc = get_data(zs, rpath, r->name, data, sizeof(data));
	if (rc == ZNONODE)
		return 0;
	if (rc != ZOK)
		return prdshm__zk_err(zs, rc, "read", r->name);
	prdshm__zk_field(data, "mode", mode, sizeof(mode));
	*exclusive = strcmp(mode, "shared") != 0;
	return 0;
}

/* A request as a prdshm_holder; its waiting flag is set by the caller.
 * @return 0, or -1 when the data is not a request's (read anyway). */
static int holder_of(const char *data, prdshm_holder *h)
{
	char buf[64], *end;
	int bad;

	memset(h, 0, sizeof(*h));
	h->struct_size = sizeof(*h);
	prdshm__zk_field(data, "agent", h->agent_id, sizeof(h->agent_id));
	prdshm__zk_field(data, "phase", h->phase_id, sizeof(h->phase_id));
	prdshm__zk_field(data, "mode", buf, sizeof(buf));
	h->mode = strcmp(buf, "shared") == 0 ? PRDSHM_SHARED : PRDSHM_EXCLUSIVE;
	bad = !prdshm__valid_id(h->agent_id) ||
	      (strcmp(buf, "shared") != 0 && strcmp(buf, "exclusive") != 0);
	prdshm__zk_field(data, "pid", buf, sizeof(buf));
	h->pid = (int32_t)strtol(buf, &end, 10);
	bad |= buf[0] == '\0' || *end != '\0';
	prdshm__zk_field(data, "slot", buf, sizeof(buf));
	h->slot = (int32_t)strtol(buf, NULL, 10);
	prdshm__zk_field(data, "since", buf, sizeof(buf));
	h->since_ns = strtoull(buf, NULL, 10);
	/* Its znode is there, so its ZooKeeper session has not expired. */
	h->alive = 1;
	return bad ? -1 : 0;
}

static void holder_out(const prdshm_holder *h, prdshm_holder *out, size_t i)
{
	uint32_t stride = prdshm__abi_size(out);
	char *dst = (char *)out + i * stride;

	memcpy(dst, &stride, sizeof(stride));
	prdshm__abi_copy_out(dst, h, sizeof(*h));
}

/* The requests as holders, in sequence order, with who waits. */
int prdshm__zk_read_holders(struct prdshm__zk_seg *zs, const char *rpath, prdshm_holder **out,
			    size_t *n, size_t *bad)
{
	struct prdshm__zk_req *reqs;
	prdshm_holder *hs;
	size_t k = 0, nreq;
	int err, excl_before = 0;
	char data[512];

	if (bad)
		*bad = 0;
	err = prdshm__zk_requests(zs, rpath, &reqs, &nreq);
	if (err)
		return err;
	hs = calloc(nreq + 1, sizeof(*hs));
	if (!hs) {
		free(reqs);
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < nreq; i++) {
		if (get_data(zs, rpath, reqs[i].name, data, sizeof(data)) != ZOK)
			continue;
		if (holder_of(data, &hs[k]) && bad)
			(*bad)++;
		/* The recipe's rule: a write waits for anything before it, a
		 * read for an exclusive request before it. */
		hs[k].waiting = reqs[i].write && hs[k].mode == PRDSHM_EXCLUSIVE ? k > 0
										 : excl_before;
		if (hs[k].mode == PRDSHM_EXCLUSIVE)
			excl_before = 1;
		k++;
	}
	free(reqs);
	*out = hs;
	*n = k;
	return 0;
}

int prdshm__zk_lock_query(prdshm_seg *seg, const char *resource, prdshm_mode mode,
			  prdshm_holder *out, size_t cap, size_t *n)
{
	struct prdshm__zk_seg *zs = (struct prdshm__zk_seg *)(void *)seg;
	char rpath[PRDSHM__ZK_PATH_MAX];
	prdshm_holder *hs = NULL;
	size_t nh = 0, count = 0;
	int err;

	prdshm__call_begin();
	if (n == NULL || (cap > 0 && out == NULL))
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_lock_query: NULL argument");
	if (cap > 0) {
		err = prdshm__abi_check(out, PRDSHM_HOLDER_SIZE_1_0, "prdshm_holder",
					"prdshm_lock_query");
		if (err)
			return err;
	}
	err = prdshm__zk_valid_resource(resource);
	if (!err)
		err = prdshm__zk_resource_path(zs, resource, rpath, sizeof(rpath));
	if (!err)
		err = prdshm__zk_read_holders(zs, rpath, &hs, &nh, NULL);
	if (err)
		return err;
	/* Holders first, then waiters, each in queue order; with @p mode only
	 * those that would block a new request in that mode. */
	for (int waiting = 0; waiting < 2; waiting++) {
		for (size_t i = 0; i < nh; i++) {
			if (hs[i].waiting != waiting)
				continue;
			if (mode == PRDSHM_SHARED && hs[i].mode != PRDSHM_EXCLUSIVE)
				continue;
			if (count < cap)
				holder_out(&hs[i], out, count);
			count++;
		}
	}
	free(hs);
	*n = count;
	return 0;
}
#endif
