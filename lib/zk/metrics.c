/*
 * metrics.c: the lock metrics on ZooKeeper (docs/zookeeper.md, "Lock
 * metrics"): prdshm_lock_metrics_get() and what feeds it.
 *
 * There is no shared memory to count in, and a counter znode written by
 * every request would add a round trip to each.  So a session counts its
 * own requests in memory (prdshm__zk_metrics_count(), called by lock.c
 * once per request served), and its figures go with the writes of its
 * agent record it makes anyway (prdshm_agent_heartbeat(),
 * prdshm_agent_log()), as lines the agent parser ignores:
 *
 *   lock_totals=<figures>
 *   lock_resource=<figures> <resource, %XX-encoded as its znode>
 *
 * <figures> are acquisitions, contended, timeouts, deadlocks, wait_ns,
 * wait_max_ns and the PRDSHM_WAIT_BUCKETS buckets, in decimal, one space
 * apart.  At its close a session moves its totals into <base>/metrics (a
 * "lock_totals=" line) in the transaction that deletes its agent znode:
 * the segment's totals neither count a closed session twice nor forget it.
 * A reader adds up <base>/metrics and the live agents' records.
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "base/util.h"
#include "zk/zk.h"

/* The numbers of a <figures>. */
#define NFIG (6 + PRDSHM_WAIT_BUCKETS)

/* Conflicting closes (another session's retire wrote <base>/metrics
 * between our read and our write) before the figures are given up. */
#define RETIRE_TRIES 16

static const char TOTALS[] = "lock_totals=", RESOURCE[] = "lock_resource=";

/* The bucket of a wait of @p ns, as on shm: 0 for at most 1 us, then one
 * per decade up to 1 s, the last for longer. */
static uint32_t wait_bucket(uint64_t ns)
{
	uint64_t bound = 1000;
	uint32_t b = 0;

	for (; b < PRDSHM_WAIT_BUCKETS - 1 && ns > bound; b++)
		bound *= 10;
	return b;
}

static void fig_to(const struct prdshm__zk_figures *f, uint64_t v[NFIG])
{
	v[0] = f->acquisitions;
	v[1] = f->contended;
	v[2] = f->timeouts;
	v[3] = f->deadlocks;
	v[4] = f->wait_ns;
	v[5] = f->wait_max_ns;
	memcpy(v + 6, f->buckets, sizeof(f->buckets));
}

static void fig_from(const uint64_t v[NFIG], struct prdshm__zk_figures *f)
{
	f->acquisitions = v[0];
	f->contended = v[1];
	f->timeouts = v[2];
	f->deadlocks = v[3];
	f->wait_ns = v[4];
	f->wait_max_ns = v[5];
	memcpy(f->buckets, v + 6, sizeof(f->buckets));
}

/* Add @p from to @p to, the longest wait the longer of the two. */
static void fig_add(struct prdshm__zk_figures *to, const struct prdshm__zk_figures *from)
{
	uint64_t a[NFIG], b[NFIG];

	fig_to(to, a);
	fig_to(from, b);
	for (int i = 0; i < NFIG; i++)
		a[i] = i == 5 ? (a[i] > b[i] ? a[i] : b[i]) : a[i] + b[i];
	fig_from(a, to);
}

/* What a request that came to @p err adds: shm counts the same (a grant,
 * with its wait if it slept; a timeout; a deadlock), and neither a failed
 * try nor an interrupted wait. */
static void fig_count(struct prdshm__zk_figures *f, int err, int slept, uint64_t waited)
{
	if (err == PRDSHM_ETIMEDOUT)
		f->timeouts++;
	if (err == PRDSHM_EDEADLK)
		f->deadlocks++;
	if (err)
		return;
	f->acquisitions++;
	if (!slept)
		return;
	f->contended++;
	f->wait_ns += waited;
	if (waited > f->wait_max_ns)
		f->wait_max_ns = waited;
	f->buckets[wait_bucket(waited)]++;
}

/* The session's entry for @p resource: its own, else a free one, else the
 * one used longest ago, whose figures are dropped (the totals keep them). */
static struct prdshm__zk_res_counts *res_entry(struct prdshm__zk_counts *c, const char *resource)
{
	struct prdshm__zk_res_counts *pick = &c->res[0];

	for (int i = 0; i < PRDSHM__ZK_METRICS_RES; i++) {
		struct prdshm__zk_res_counts *e = &c->res[i];

		if (e->used && strcmp(e->name, resource) == 0)
			return e;
		if (e->used < pick->used)
			pick = e;
	}
	memset(pick, 0, sizeof(*pick));
	prdshm__strlcpy(pick->name, resource, sizeof(pick->name));
	return pick;
}

void prdshm__zk_metrics_count(struct prdshm__zk_session *s, const char *resource, int err,
			      int slept, uint64_t began_ns)
{
	uint64_t now = prdshm__now_mono(), waited = now > began_ns ? now - began_ns : 0;
	struct prdshm__zk_res_counts *e;

	if (err != 0 && err != PRDSHM_ETIMEDOUT && err != PRDSHM_EDEADLK)
		return;
	pthread_mutex_lock(&s->mu);
	fig_count(&s->counts.total, err, slept, waited);
	e = res_entry(&s->counts, resource);
	e->used = ++s->counts.tick;
	fig_count(&e->f, err, slept, waited);
	pthread_mutex_unlock(&s->mu);
}

/* "<key><figures>[ <tail>]\n" at @p buf + *@p o.  @return 0, -1 if full. */
static int put_figures(char *buf, size_t size, size_t *o, const char *key,
		       const struct prdshm__zk_figures *f, const char *tail)
{
	uint64_t v[NFIG];
	int n;

	fig_to(f, v);
	n = snprintf(buf + *o, size - *o, "%s", key);
	for (int i = 0; i < NFIG && n >= 0 && (size_t)n < size - *o; i++)
		n += snprintf(buf + *o + n, size - *o - (size_t)n, "%s%llu", i ? " " : "",
			      (unsigned long long)v[i]);
	if (n >= 0 && (size_t)n < size - *o)
		n += snprintf(buf + *o + n, size - *o - (size_t)n, "%s%s\n", tail ? " " : "",
			      tail ? tail : "");
	if (n < 0 || (size_t)n >= size - *o)
		return -1;
	*o += (size_t)n;
	return 0;
}

int prdshm__zk_metrics_format(struct prdshm__zk_session *s, char *buf, int len, size_t size)
{
	size_t skip = strlen(s->seg->base) + sizeof("/locks/") - 1, o = (size_t)len;
	struct prdshm__zk_counts *c = malloc(sizeof(*c));
	char path[PRDSHM__ZK_PATH_MAX];
	int bad;

	if (c == NULL)
		return len; /* the record goes without its figures this time */
	pthread_mutex_lock(&s->mu);
	*c = s->counts;
	pthread_mutex_unlock(&s->mu);
	bad = put_figures(buf, size, &o, TOTALS, &c->total, NULL);
	for (int i = 0; !bad && i < PRDSHM__ZK_METRICS_RES; i++) {
		if (!c->res[i].used ||
		    prdshm__zk_resource_path(s->seg, c->res[i].name, path, sizeof(path)))
			continue;
		bad = put_figures(buf, size, &o, RESOURCE, &c->res[i].f, path + skip);
	}
	free(c);
	return bad ? -1 : (int)o;
}

/* The <figures> of @p len bytes at @p v, and after them *@p tail (NULL
 * when the line ends there; else it must: " <tail>").  @return 0 or -1. */
static int parse_figures(const char *v, size_t len, struct prdshm__zk_figures *f,
			 const char **tail)
{
	uint64_t x[NFIG];
	size_t i = 0;

	for (int k = 0; k < NFIG; k++) {
		size_t start;

		if (k > 0 && (i >= len || v[i++] != ' '))
			return -1;
		start = i;
		x[k] = 0;
		for (; i < len && v[i] >= '0' && v[i] <= '9' && i - start < 20; i++)
			x[k] = x[k] * 10 + (uint64_t)(v[i] - '0');
		if (i == start || (i < len && v[i] >= '0' && v[i] <= '9'))
			return -1;
	}
	if ((tail == NULL) != (i == len) || (tail && (v[i] != ' ' || i + 1 == len)))
		return -1;
	if (tail)
		*tail = v + i + 1;
	fig_from(x, f);
	return 0;
}

/* What a reader gathers: the totals, and one entry per resource line or
 * resource znode (merged by name at the end). */
struct gather {
	struct prdshm__zk_figures total;
	prdshm_lock_metrics *res;
	size_t n, cap;
	int nomem;
};

/* A resource's figures: @p encoded as its znode's name (@p len bytes). */
static void gather_resource(struct gather *g, const char *encoded, size_t len,
			    const struct prdshm__zk_figures *f)
{
	char name[3 * PRDSHM_NAME_MAX + 1];
	prdshm_lock_info li;
	prdshm_lock_metrics *m;

	if (len >= sizeof(name))
		return;
	memcpy(name, encoded, len);
	name[len] = '\0';
	memset(&li, 0, sizeof(li));
	if (prdshm__zk_resource_decode(name, &li))
		return; /* not a name we encoded: nothing to show it as */
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 64;
		prdshm_lock_metrics *res = realloc(g->res, cap * sizeof(*res));

		if (res == NULL) {
			g->nomem = 1;
			return;
		}
		g->res = res;
		g->cap = cap;
	}
	m = &g->res[g->n++];
	memset(m, 0, sizeof(*m));
	m->struct_size = sizeof(*m);
	memcpy(m->resource, li.resource, li.resource_len + 1);
	m->resource_len = (uint32_t)li.resource_len;
	m->acquisitions = f->acquisitions;
	m->contended = f->contended;
	m->timeouts = f->timeouts;
	m->deadlocks = f->deadlocks;
	m->wait_ns = f->wait_ns;
	m->wait_max_ns = f->wait_max_ns;
	memcpy(m->wait_buckets, f->buckets, sizeof(m->wait_buckets));
}

/* The figure lines of a record or of <base>/metrics (@p len bytes at
 * @p data; any bytes: a line that does not parse counts for nothing). */
static void gather_lines(struct gather *g, const char *data, size_t len, int resources)
{
	struct prdshm__zk_figures f;
	const char *tail;

	for (size_t i = 0; i < len;) {
		const char *line = data + i, *nl = memchr(line, '\n', len - i);
		size_t n = nl ? (size_t)(nl - line) : len - i;

		i += n + 1;
		if (n > sizeof(TOTALS) - 1 && memcmp(line, TOTALS, sizeof(TOTALS) - 1) == 0 &&
		    parse_figures(line + sizeof(TOTALS) - 1, n - (sizeof(TOTALS) - 1), &f, NULL) == 0)
			fig_add(&g->total, &f);
		if (resources && n > sizeof(RESOURCE) - 1 &&
		    memcmp(line, RESOURCE, sizeof(RESOURCE) - 1) == 0 &&
		    parse_figures(line + sizeof(RESOURCE) - 1, n - (sizeof(RESOURCE) - 1), &f,
				  &tail) == 0)
			gather_resource(g, tail, (size_t)(line + n - tail), &f);
	}
}

/* Every child of <base>/@p dir: its data's figure lines (agents/), or its
 * name as a resource without figures (locks/: a resource now locked shows
 * even if no live agent counted it).  A child gone meanwhile is skipped. */
static int gather_children(struct prdshm__zk_seg *zs, struct gather *g, const char *dir,
			   char *buf)
{
	static const struct prdshm__zk_figures none;
	struct String_vector kids = { 0, NULL };
	char parent[PRDSHM__ZK_PATH_MAX], path[PRDSHM__ZK_PATH_MAX];
	int rc, len;

	snprintf(parent, sizeof(parent), "%s/%s", zs->base, dir);
	rc = prdshm__zk_children(zs, parent, &kids);
	if (rc == ZNONODE)
		return prdshm__fail(PRDSHM_ENOENT, "segment %s was removed", zs->shm_name);
	if (rc != ZOK)
		return prdshm__zk_err(zs, rc, "list", parent);
	snprintf(path, sizeof(path), "%s", parent);
	for (int i = 0; i < kids.count && !g->nomem; i++) {
		if (strcmp(dir, "locks") == 0) {
			gather_resource(g, kids.data[i], strlen(kids.data[i]), &none);
			continue;
		}
		len = PRDSHM__ZK_AGENT_MAX;
		if (prdshm__zk_join(path, sizeof(path), parent, kids.data[i]))
			continue;
		rc = prdshm__zk_get(zs, path, 0, buf, &len, NULL);
		if (rc == ZOK && len > 0)
			gather_lines(g, buf, (size_t)len, 1);
		else if (rc != ZOK && rc != ZNONODE)
			break;
	}
	deallocate_String_vector(&kids);
	return rc == ZOK || rc == ZNONODE ? 0 : prdshm__zk_err(zs, rc, "read", path);
}

/* The retired totals, <base>/metrics, into @p g; none yet is 0. */
static int gather_retired(struct prdshm__zk_seg *zs, struct gather *g, char *buf)
{
	char path[PRDSHM__ZK_PATH_MAX];
	int len = PRDSHM__ZK_AGENT_MAX, rc;

	snprintf(path, sizeof(path), "%s/metrics", zs->base);
	rc = prdshm__zk_get(zs, path, 0, buf, &len, NULL);
	if (rc == ZOK && len > 0)
		gather_lines(g, buf, (size_t)len, 0);
	return rc == ZOK || rc == ZNONODE ? 0 : prdshm__zk_err(zs, rc, "read", path);
}

static int by_name(const void *a, const void *b)
{
	const prdshm_lock_metrics *x = a, *y = b;

	return strcmp(x->resource, y->resource);
}

/* One entry per resource: the figures of the same name added up. */
static void merge(struct gather *g)
{
	size_t k = 0;

	if (g->n > 1)
		qsort(g->res, g->n, sizeof(*g->res), by_name);
	for (size_t i = 0; i < g->n; i++) {
		prdshm_lock_metrics *to = &g->res[k - (k > 0)], *from = &g->res[i];

		if (k == 0 || strcmp(to->resource, from->resource) != 0) {
			if (k != i)
				g->res[k] = *from;
			k++;
			continue;
		}
		to->acquisitions += from->acquisitions;
		to->contended += from->contended;
		to->timeouts += from->timeouts;
		to->deadlocks += from->deadlocks;
		to->wait_ns += from->wait_ns;
		if (from->wait_max_ns > to->wait_max_ns)
			to->wait_max_ns = from->wait_max_ns;
		for (int b = 0; b < PRDSHM_WAIT_BUCKETS; b++)
			to->wait_buckets[b] += from->wait_buckets[b];
	}
	g->n = k;
}

static int check_args(unsigned flags, prdshm_lock_metrics *total, prdshm_lock_metrics *out,
		      size_t cap)
{
	int r = 0;

	(void)flags; /* PRDSHM_SNAP_NOLOCK: there is no mutex to skip */
	if (cap > 0)
		r = prdshm__abi_check(out, PRDSHM_LOCK_METRICS_SIZE_1_1, "prdshm_lock_metrics",
				      "prdshm_lock_metrics_get");
	if (!r && total != NULL)
		r = prdshm__abi_check(total, PRDSHM_LOCK_METRICS_SIZE_1_1, "prdshm_lock_metrics",
				      "prdshm_lock_metrics_get");
	return r;
}

/* Copy the gathered figures out, per prdshm_lock_metrics_get()'s contract. */
static void copy_out(const struct gather *g, prdshm_lock_metrics *total,
		     prdshm_lock_metrics *out, size_t cap, size_t *n)
{
	uint32_t stride = cap > 0 ? prdshm__abi_size(out) : 0;
	prdshm_lock_metrics sum;

	for (size_t i = 0; i < g->n && i < cap; i++) {
		char *dst = (char *)out + i * stride;

		memcpy(dst, &stride, sizeof(stride));
		prdshm__abi_copy_out(dst, &g->res[i], sizeof(g->res[i]));
	}
	*n = g->n;
	if (total == NULL)
		return;
	memset(&sum, 0, sizeof(sum));
	sum.struct_size = sizeof(sum);
	sum.acquisitions = g->total.acquisitions;
	sum.contended = g->total.contended;
	sum.timeouts = g->total.timeouts;
	sum.deadlocks = g->total.deadlocks;
	sum.wait_ns = g->total.wait_ns;
	sum.wait_max_ns = g->total.wait_max_ns;
	memcpy(sum.wait_buckets, g->total.buckets, sizeof(sum.wait_buckets));
	prdshm__abi_copy_out(total, &sum, sizeof(sum));
}

int prdshm__zk_lock_metrics(prdshm_seg *seg, unsigned flags, prdshm_lock_metrics *total,
			    prdshm_lock_metrics *out, size_t cap, size_t *n)
{
	struct prdshm__zk_seg *zs = (struct prdshm__zk_seg *)(void *)seg;
	struct gather g;
	char *buf = NULL;
	int err;

	prdshm__call_begin();
	if (seg == NULL || n == NULL || (cap > 0 && out == NULL))
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_lock_metrics_get: NULL argument");
	err = check_args(flags, total, out, cap);
	if (!err)
		err = prdshm__zk_usable(zs);
	if (err)
		return err;
	memset(&g, 0, sizeof(g));
	buf = malloc(PRDSHM__ZK_AGENT_MAX);
	err = buf ? gather_retired(zs, &g, buf) : PRDSHM_ENOMEM;
	if (!err)
		err = gather_children(zs, &g, "agents", buf);
	if (!err)
		err = gather_children(zs, &g, "locks", buf);
	if (!err && g.nomem)
		err = PRDSHM_ENOMEM;
	if (err == PRDSHM_ENOMEM)
		prdshm__fail(err, "prdshm_lock_metrics_get: out of memory");
	if (!err) {
		merge(&g);
		copy_out(&g, total, out, cap, n);
	}
	free(g.res);
	free(buf);
	return err;
}

/* The transaction of a retire: <base>/metrics (at @p path, written if
 * @p exists at @p version, else made) holds @p sum, and the agent znode
 * goes.  @return ZooKeeper's answer. */
static int retire_write(struct prdshm__zk_session *s, const char *path, int exists,
			int32_t version, const struct prdshm__zk_figures *sum)
{
	char data[24 + NFIG * 21];
	zoo_op_t ops[2];
	zoo_op_result_t res[2];
	size_t o = 0;

	if (put_figures(data, sizeof(data), &o, TOTALS, sum, NULL))
		return ZBADARGUMENTS;
	if (exists)
		zoo_set_op_init(&ops[0], path, data, (int)o, version, NULL);
	else
		zoo_create_op_init(&ops[0], path, data, (int)o, s->seg->acl, 0, NULL, 0);
	zoo_delete_op_init(&ops[1], s->node, -1);
	return zoo_multi(s->seg->zh, 2, ops, res);
}

void prdshm__zk_metrics_retire(struct prdshm__zk_session *s)
{
	static const struct prdshm__zk_figures none;
	struct prdshm__zk_seg *zs = s->seg;
	struct prdshm__zk_figures mine, sum;
	char path[PRDSHM__ZK_PATH_MAX], data[512];
	uint64_t until = prdshm__zk_retry_until(zs), seen;
	struct gather g;
	struct Stat st;
	int rc, len;

	pthread_mutex_lock(&s->mu);
	mine = s->counts.total;
	pthread_mutex_unlock(&s->mu);
	if (memcmp(&mine, &none, sizeof(mine)) == 0)
		return; /* nothing to move: the caller deletes the agent znode */
	snprintf(path, sizeof(path), "%s/metrics", zs->base);
	for (int t = 0; t < RETIRE_TRIES; t++) {
		seen = prdshm__zk_events(zs);
		len = (int)sizeof(data);
		rc = prdshm__zk_get(zs, path, 0, data, &len, &st);
		if (rc != ZOK && rc != ZNONODE)
			return;
		memset(&g, 0, sizeof(g));
		if (rc == ZOK && len > 0)
			gather_lines(&g, data, (size_t)len, 0);
		sum = g.total;
		fig_add(&sum, &mine);
		rc = retire_write(s, path, rc == ZOK, rc == ZOK ? st.version : 0, &sum);
		/* A transaction lost with the connection may have gone
		 * through: then the agent znode is gone, and the next one
		 * fails (ZNONODE) without counting twice. */
		if (rc != ZBADVERSION && rc != ZNODEEXISTS &&
		    !prdshm__zk_again(zs, rc, seen, until))
			return;
	}
}
#endif
