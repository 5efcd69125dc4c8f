/*
 * plan_snapshot.c: the phases part of a snapshot (prdshm_snapshot's
 * phases, waves and run times): a private copy of the region, parsed and
 * bounds-checked as a scribbled segment would be, into heap copies that
 * prdshm__phases_snapshot_free() releases.  The image may also come from
 * elsewhere (the ZooKeeper backend's plan znode): prdshm__phases_snapshot_image().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "plan/repair.h"

/* ------------------------------------------------------------------------ */
/* Snapshot                                                                 */

/* A heap copy of arena string @p s, bounded by the arena; NULL when
 * *oom is set.  A NIL string gives NULL without error. */
static char *str_dup(const struct geom *g, struct prdshm__str s, int *oom)
{
	uint64_t len = 0;
	const char *src = "";
	char *out;

	if (s.off == PRDSHM__NIL)
		return NULL;
	if (s.off < g->arena_bytes) {
		src = (const char *)g->arena + s.off;
		len = s.len < g->arena_bytes - s.off ? s.len : g->arena_bytes - s.off;
	}
	out = malloc(len + 1);
	if (out == NULL) {
		*oom = 1;
		return NULL;
	}
	memcpy(out, src, len);
	out[len] = '\0';
	/* A NUL inside the string ends it, as it would for any C reader. */
	return out;
}

static char **dep_ids(const struct geom *g, uint32_t i, size_t *n, int *oom)
{
	uint32_t nd;
	const uint32_t *d = prdshm__phase_deps_of(g, i, &nd);
	char **v = calloc(nd ? nd : 1, sizeof(*v));
	char id[PRDSHM_ID_MAX + 1];

	*n = 0;
	if (v == NULL) {
		*oom = 1;
		return NULL;
	}
	for (uint32_t k = 0; k < nd; k++) {
		v[k] = strdup(d[k] < g->n ? pid_of(g, d[k], id) : "?");
		if (v[k] == NULL) {
			*oom = 1;
			break;
		}
		*n = k + 1;
	}
	return v;
}

static char **output_strs(const struct geom *g, uint32_t i, size_t *n, int *oom)
{
	const struct prdshm__phase *p = &g->ph[i];
	uint32_t cnt = p->noutputs <= UINT32_MAX / 2 ? p->noutputs * 2 : 0, nw;
	const uint32_t *w = prdshm__phase_idx_list(g, p->outputs_off, cnt, &nw);
	char **v = calloc(nw / 2 ? nw / 2 : 1, sizeof(*v));

	*n = 0;
	if (v == NULL) {
		*oom = 1;
		return NULL;
	}
	for (uint32_t k = 0; k + 1 < nw; k += 2) {
		/* An output is never "none": NIL gives an empty string. */
		struct prdshm__str s = { w[k] == PRDSHM__NIL ? UINT32_MAX - 1 : w[k], w[k + 1] };
		v[k / 2] = str_dup(g, s, oom);
		if (v[k / 2] == NULL)
			break;
		*n = k / 2 + 1;
	}
	return v;
}

static void copy_fixed(char *dst, const char *src, size_t size)
{
	memcpy(dst, src, size - 1);
	dst[size - 1] = '\0';
}

static int fill_phase_info(const struct geom *g, uint32_t i, prdshm_phase_info *pi)
{
	const struct prdshm__phase *p = &g->ph[i];
	int oom = 0;

	pi->index = (int32_t)i;
	copy_fixed(pi->id, p->id, sizeof(pi->id));
	pi->name = str_dup(g, p->name, &oom);
	pi->deps = dep_ids(g, i, &pi->ndeps, &oom);
	pi->outputs = output_strs(g, i, &pi->noutputs, &oom);
	pi->command = str_dup(g, p->command, &oom);
	pi->estimated_minutes = p->estimated_minutes;
	pi->status = (prdshm_phase_status)p->status;
	pi->wave = p->wave;
	pi->agent_slot = p->agent_slot;
	copy_fixed(pi->agent_id, p->agent_id, sizeof(pi->agent_id));
	pi->attempts = p->attempts;
	pi->exit_status = p->exit_status;
	pi->start_ns = p->start_ns;
	pi->end_ns = p->end_ns;
	copy_fixed(pi->message, p->message, sizeof(pi->message));
	copy_fixed(pi->changed_by, p->changed_by, sizeof(pi->changed_by));
	pi->changed_ns = p->changed_ns;
	pi->remaining = p->remaining;
	return oom ? PRDSHM_ENOMEM : 0;
}

static const char *wave_status(const prdshm_wave_info *w)
{
	if (w->nphases > 0 && w->ncompleted + w->nfailed == w->nphases)
		return w->nfailed ? "failed" : "done";
	if (w->nrunning || w->start_ns || w->ncompleted + w->nfailed > 0)
		return "running";
	return "pending";
}

static void fill_waves(const struct geom *g, prdshm_wave_info *wv)
{
	for (uint32_t w = 0; w < g->nwaves; w++) {
		wv[w].number = w;
		wv[w].start_ns = g->waves[w].start_ns;
		wv[w].end_ns = g->waves[w].end_ns;
	}
	for (uint32_t i = 0; i < g->n; i++) {
		uint32_t s = g->ph[i].status, w = g->ph[i].wave;
		if (w >= g->nwaves)
			continue;
		wv[w].nphases++;
		wv[w].ncompleted += is_done(s);
		wv[w].nfailed += is_bad(s);
		wv[w].nrunning += s == IP;
	}
	for (uint32_t w = 0; w < g->nwaves; w++)
		wv[w].status = wave_status(&wv[w]);
}

static int snapshot_parse(const struct geom *g, prdshm_snapshot *snap)
{
	snap->phases = calloc(g->n ? g->n : 1, sizeof(*snap->phases));
	snap->waves = calloc(g->nwaves ? g->nwaves : 1, sizeof(*snap->waves));
	if (snap->phases == NULL || snap->waves == NULL)
		return PRDSHM_ENOMEM;
	snap->run_start_ns = g->reg->run_start_ns;
	snap->run_end_ns = g->reg->run_end_ns;
	snap->current_wave = g->reg->current_wave;
	for (uint32_t i = 0; i < g->n; i++) {
		snap->nphases = i + 1;
		if (fill_phase_info(g, i, &snap->phases[i]))
			return PRDSHM_ENOMEM;
	}
	fill_waves(g, snap->waves);
	snap->nwaves = g->nwaves;
	return 0;
}

int prdshm__phases_snapshot_image(unsigned char *buf, uint64_t bytes, prdshm_snapshot *snap)
{
	struct geom g;
	int r;

	if (snap == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no snapshot");
	snap->phases = NULL;
	snap->waves = NULL;
	snap->nphases = snap->nwaves = 0;
	r = prdshm__phase_geom_parse(buf, bytes, &g);
	if (r == 0)
		r = snapshot_parse(&g, snap);
	if (r) {
		prdshm__phases_snapshot_free(snap);
		return r == PRDSHM_ENOMEM ? prdshm__fail(r, "out of memory") : r;
	}
	return 0;
}

int prdshm__phases_snapshot(struct prdshm_seg *seg, int locked, prdshm_snapshot *snap)
{
	struct geom live;
	unsigned char *copy;
	int got, r;

	if (snap == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no snapshot");
	snap->phases = NULL;
	snap->waves = NULL;
	snap->nphases = snap->nwaves = 0;
	r = prdshm__phase_geom_load(seg, &live);
	if (r)
		return r;
	copy = prdshm__phase_copy_region(seg, locked, live.region_bytes, NULL, &got);
	if (copy == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	if (!got)
		snap->locked = 0;
	r = prdshm__phases_snapshot_image(copy, live.region_bytes, snap);
	free(copy);
	return r;
}

static void free_strv(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t k = 0; k < n; k++)
		free(v[k]);
	free(v);
}

void prdshm__phases_snapshot_free(prdshm_snapshot *snap)
{
	if (snap == NULL)
		return;
	for (size_t i = 0; snap->phases && i < snap->nphases; i++) {
		prdshm_phase_info *pi = &snap->phases[i];
		free(pi->name);
		free(pi->command);
		free_strv(pi->deps, pi->ndeps);
		free_strv(pi->outputs, pi->noutputs);
	}
	free(snap->phases);
	free(snap->waves);
	snap->phases = NULL;
	snap->waves = NULL;
	snap->nphases = snap->nwaves = 0;
}
