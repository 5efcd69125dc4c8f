/*
 * deadlock.c: deadlock detection on ZooKeeper, from the waits-for graph read
 * out of the tree (docs/zookeeper.md, "Deadlocks").
 *
 * The contract is shm's (lib/lock/deadlock.c): a request that has waited
 * deadlock_timeout_ms looks for a cycle through itself, and if there is one
 * fails with PRDSHM_EDEADLK, its message naming the cycle ("deadlock
 * detected waiting for 'r2': a waits for b waits for a").
 *
 * The graph: nodes are prdshm sessions (the slot= of a request's data, its
 * agent znode's sequence number).  By the recipe's rule (lock.c), a request
 * waits for every request of another session ahead of it on its resource
 * that blocks it: any request if it is a write request, an exclusive one
 * if it is a read request (or a downgraded write request, which is granted
 * anyway).  Its own session's requests are skipped, as an upgrade's write
 * request skips the read request it upgrades.  A request with such an edge
 * is waiting, one without is granted, so the edges need no other state.
 * And, as on shm, a session waits for each of its children (the sessions
 * acting for it, nested.c): a child's requests say parent=<slot>, and
 * every request of that parent has an edge to each of them ("waits for its
 * child"), which holds while both requests are there.
 *
 * ZooKeeper has no snapshot of a tree: locks/ is read resource by resource,
 * and a cycle seen in such a torn read may never have existed at one
 * instant.  So a cycle is confirmed by a second read of its edges before
 * anyone fails.  That suffices: an edge lives from its waiter's creation
 * (its blocker is older, being ahead in the queue) until its waiter or its
 * blocker goes, or the blocker is downgraded, and none of them comes back.
 * An edge seen in both reads therefore existed throughout the time between
 * them, and so did the whole cycle, at the instant the first read ended.
 *
 * The victim: with no lock over the whole tree, every member of a cycle
 * may check at about the same time.  Only the member whose waiting request
 * is the youngest on the cycle (the greatest czxid: ZooKeeper's order of
 * creation across resources) fails; it closed the cycle, so its check
 * comes deadlock_timeout_ms after the cycle formed, when the others have
 * seen it at most once.  Should it never act (a stopped process; or each
 * member found a different cycle through itself), a member that has seen a
 * cycle through itself on VICTIM_GRACE consecutive checks fails all the
 * same: then two members may fail where one would have done.
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "zk/zk.h"

/* Checks that see a cycle before a member that is not its victim fails. */
#define VICTIM_GRACE 10

/* A request read out of the tree. */
struct dreq {
	size_t res;    /* index in graph.rpaths */
	int slot;      /* its session: the agent znode's sequence number */
	int parent;    /* the session it acts for (parent=), -1 if none */
	int write;     /* a write request: blocks and waits for anything */
	int excl;      /* a write request not downgraded */
	int64_t czxid; /* ZooKeeper's order of creation */
	char name[128];
	char agent[PRDSHM_ID_MAX + 1];
};

/* Request w waits for request b; child: w's session is b's parent. */
struct edge {
	size_t w, b;
	int child;
};

/* A session reached by the search, and how. */
struct visit {
	int slot;
	size_t via;  /* the edge that reached it */
	size_t from; /* the visit that edge left from */
};

struct graph {
	struct prdshm__zk_seg *zs;
	char **rpaths; /* each resource's znode */
	size_t nres;
	struct dreq *reqs;
	size_t nreq, capreq;
	struct edge *edges;
	size_t nedge, capedge;
	size_t me; /* the request being checked, SIZE_MAX if not seen */
};

static void graph_free(struct graph *g)
{
	for (size_t i = 0; i < g->nres; i++)
		free(g->rpaths[i]);
	free(g->rpaths);
	free(g->reqs);
	free(g->edges);
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
	void *q;

	if (n < *cap)
		return 0;
	q = realloc(*p, (*cap ? 2 * *cap : 64) * size);
	if (!q)
		return PRDSHM_ENOMEM;
	*p = q;
	*cap = *cap ? 2 * *cap : 64;
	return 0;
}

/* Read request @p r of resource @p res into the graph; one that went
 * meanwhile is left out (it waits for nobody and blocks nobody). */
static int read_request(struct graph *g, size_t res, const struct prdshm__zk_req *r,
			const char *mine)
{
	char path[PRDSHM__ZK_PATH_MAX], data[512], buf[32];
	int len = (int)sizeof(data) - 1, rc;
	struct dreq *d;
	struct Stat st;

	if (prdshm__zk_join(path, sizeof(path), g->rpaths[res], r->name))
		return 0;
	rc = zoo_get(g->zs->zh, path, 0, data, &len, &st);
	if (rc == ZNONODE)
		return 0;
	if (rc != ZOK)
		return prdshm__zk_err(g->zs, rc, "read", path);
	data[len > 0 ? len : 0] = '\0';
	if (grow((void **)&g->reqs, &g->capreq, g->nreq, sizeof(*g->reqs)))
		return PRDSHM_ENOMEM;
	d = &g->reqs[g->nreq];
	d->res = res;
	d->write = r->write;
	prdshm__zk_field(data, "mode", buf, sizeof(buf));
	d->excl = r->write && strcmp(buf, "shared") != 0;
	prdshm__zk_field(data, "slot", buf, sizeof(buf));
	d->slot = (int)strtol(buf, NULL, 10);
	prdshm__zk_field(data, "parent", buf, sizeof(buf));
	d->parent = buf[0] ? (int)strtol(buf, NULL, 10) : -1;
	prdshm__zk_field(data, "agent", d->agent, sizeof(d->agent));
	d->czxid = st.czxid;
	prdshm__strlcpy(d->name, r->name, sizeof(d->name));
	if (strcmp(path, mine) == 0)
		g->me = g->nreq;
	g->nreq++;
	return 0;
}

/* The edges out of the requests [from, g->nreq) of one resource, in
 * sequence order (see the rule at the top). */
static int add_edges(struct graph *g, size_t from)
{
	for (size_t i = from; i < g->nreq; i++) {
		for (size_t j = from; j < i; j++) {
			const struct dreq *w = &g->reqs[i], *b = &g->reqs[j];

			if (w->slot == b->slot || !(w->excl || b->excl))
				continue;
			if (grow((void **)&g->edges, &g->capedge, g->nedge, sizeof(*g->edges)))
				return PRDSHM_ENOMEM;
			g->edges[g->nedge++] = (struct edge){ i, j, 0 };
		}
	}
	return 0;
}

/* Each request of a parent to each request of its children. */
static int add_child_edges(struct graph *g)
{
	for (size_t c = 0; c < g->nreq; c++) {
		for (size_t p = 0; p < g->nreq && g->reqs[c].parent >= 0; p++) {
			if (g->reqs[p].slot != g->reqs[c].parent || g->reqs[c].slot == g->reqs[p].slot)
				continue;
			if (grow((void **)&g->edges, &g->capedge, g->nedge, sizeof(*g->edges)))
				return PRDSHM_ENOMEM;
			g->edges[g->nedge++] = (struct edge){ p, c, 1 };
		}
	}
	return 0;
}

static int read_resource(struct graph *g, const char *locks, const char *name, const char *mine)
{
	char path[PRDSHM__ZK_PATH_MAX];
	struct prdshm__zk_req *reqs = NULL;
	size_t n = 0, from = g->nreq, res = g->nres;
	int err;

	if (prdshm__zk_join(path, sizeof(path), locks, name))
		return 0;
	g->rpaths[res] = strdup(path);
	if (!g->rpaths[res])
		return PRDSHM_ENOMEM;
	g->nres++;
	err = prdshm__zk_requests(g->zs, path, &reqs, &n);
	for (size_t i = 0; i < n && !err; i++)
		err = read_request(g, res, &reqs[i], mine);
	free(reqs);
	return err ? err : add_edges(g, from);
}

/* Every resource's requests and the edges between them. */
static int read_graph(struct graph *g, const char *mine)
{
	struct String_vector kids = { 0, NULL };
	char locks[PRDSHM__ZK_PATH_MAX];
	int rc, err = 0;

	snprintf(locks, sizeof(locks), "%s/locks", g->zs->base);
	rc = zoo_get_children(g->zs->zh, locks, 0, &kids);
	if (rc != ZOK)
		return prdshm__zk_err(g->zs, rc, "list", locks);
	g->rpaths = calloc((size_t)kids.count + 1, sizeof(*g->rpaths));
	if (!g->rpaths)
		err = PRDSHM_ENOMEM;
	for (int i = 0; i < kids.count && !err; i++)
		err = read_resource(g, locks, kids.data[i], mine);
	deallocate_String_vector(&kids);
	return err ? err : add_child_edges(g);
}

static int visited(const struct visit *v, size_t n, int slot)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].slot == slot)
			return 1;
	return 0;
}

/* Breadth-first from the request being checked (only its own edges at the
 * start: another thread's wait in the same session is not its cycle) for
 * a path back to its session.  Fills @p cycle with the edges in waits-for
 * order, the first leaving that request; @return their number, 0 if none. */
static size_t find_cycle(const struct graph *g, struct visit *v, size_t *cycle)
{
	int start = g->reqs[g->me].slot;
	size_t n = 1, k = 0;

	v[0] = (struct visit){ start, SIZE_MAX, SIZE_MAX };
	for (size_t head = 0; head < n; head++) {
		for (size_t e = 0; e < g->nedge; e++) {
			const struct edge *ed = &g->edges[e];
			int to = g->reqs[ed->b].slot;

			if (head == 0 ? ed->w != g->me : g->reqs[ed->w].slot != v[head].slot)
				continue;
			if (to == start && head > 0) {
				cycle[k++] = e;
				for (size_t at = head; at != 0; at = v[at].from)
					cycle[k++] = v[at].via;
				/* Collected backwards: turn it round. */
				for (size_t i = 0; i < k / 2; i++) {
					size_t t = cycle[i];

					cycle[i] = cycle[k - 1 - i];
					cycle[k - 1 - i] = t;
				}
				return k;
			}
			if (to != start && !visited(v, n, to))
				v[n++] = (struct visit){ to, e, head };
		}
	}
	return 0;
}

/* Does the edge still hold?  Both requests are there, and the blocker is
 * still exclusive where that is what made it block. */
static int edge_holds(const struct graph *g, const struct edge *e)
{
	const struct dreq *w = &g->reqs[e->w], *b = &g->reqs[e->b];
	char path[PRDSHM__ZK_PATH_MAX], data[512], mode[16];
	int len = (int)sizeof(data) - 1;

	if (prdshm__zk_join(path, sizeof(path), g->rpaths[w->res], w->name) ||
	    zoo_exists(g->zs->zh, path, 0, NULL) != ZOK)
		return 0;
	if (prdshm__zk_join(path, sizeof(path), g->rpaths[b->res], b->name) ||
	    zoo_get(g->zs->zh, path, 0, data, &len, NULL) != ZOK)
		return 0;
	data[len > 0 ? len : 0] = '\0';
	prdshm__zk_field(data, "mode", mode, sizeof(mode));
	return e->child || w->excl || strcmp(mode, "shared") != 0;
}

/* "deadlock detected waiting for 'r2': a waits for b waits for a". */
static void describe(const struct graph *g, const size_t *cycle, size_t k, const char *resource)
{
	char buf[400];
	size_t len;

	len = (size_t)snprintf(buf, sizeof(buf), "deadlock detected waiting for '%.64s': %s",
			       resource, g->reqs[g->me].agent);
	for (size_t i = 0; i < k && len < sizeof(buf); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, " waits for %s%s",
					g->edges[cycle[i]].child ? "its child " : "",
					g->reqs[g->edges[cycle[i]].b].agent);
	prdshm__fail(PRDSHM_EDEADLK, "%s", buf);
}

/* The cycle's youngest waiting request is the one to fail (a parent's
 * edge to its child leaves a request that may be granted). */
static int is_victim(const struct graph *g, const size_t *cycle, size_t k)
{
	for (size_t i = 1; i < k; i++)
		if (!g->edges[cycle[i]].child &&
		    g->reqs[g->edges[cycle[i]].w].czxid > g->reqs[g->me].czxid)
			return 0;
	return 1;
}

static int decide(const struct graph *g, struct visit *v, size_t *cycle, const char *resource,
		  int *sightings)
{
	size_t k = find_cycle(g, v, cycle);

	if (k == 0) {
		*sightings = 0;
		return 0;
	}
	++*sightings;
	if (!is_victim(g, cycle, k) && *sightings < VICTIM_GRACE)
		return 0;
	for (size_t i = 0; i < k; i++)
		if (!edge_holds(g, &g->edges[cycle[i]]))
			return 0; /* not confirmed: look again next time */
	describe(g, cycle, k, resource);
	return PRDSHM_EDEADLK;
}

int prdshm__zk_deadlock_check(struct prdshm__zk_seg *zs, const char *node, const char *resource,
			      int *sightings)
{
	struct graph g = { .zs = zs, .me = SIZE_MAX };
	struct visit *v = NULL;
	size_t *cycle = NULL;
	int err;

	err = read_graph(&g, node);
	if (err || g.me == SIZE_MAX)
		goto out;
	v = calloc(g.nreq + 1, sizeof(*v));
	cycle = calloc(g.nreq + 1, sizeof(*cycle));
	if (!v || !cycle) {
		err = PRDSHM_ENOMEM;
		goto out;
	}
	err = decide(&g, v, cycle, resource, sightings);
out:
	free(v);
	free(cycle);
	graph_free(&g);
	/* A failed read gives no verdict: the waiter looks again later, and
	 * meets an expired session itself. */
	return err == PRDSHM_EDEADLK ? err : 0;
}
#endif
