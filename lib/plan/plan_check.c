/*
 * plan_check.c: the invariants of the phase region, for prdshm_check():
 * statuses against dependencies, the counts, the wave state, the running
 * list, the settle list and the ready index against the statuses, and the
 * holders against the live sessions.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "plan/load.h"
#include "plan/repair.h"
#include "session/session.h"

/* ------------------------------------------------------------------------ */
/* Invariant check                                                          */

/*
 * The checker works on a private copy of the region (and of the agents'
 * phase fields), made under the mutex when it can be had, else without it
 * (PRDSHM_SNAP_NOLOCK, or a holder that does not let go): a torn copy then
 * shows up as reported inconsistencies, and every index in it is
 * bounds-checked as in a scribbled segment.
 */
struct check_state {
	const int32_t *agent_phase; /* copies of agents[].phase; NULL: no table */
	uint32_t max_agents;        /* entries of agent_phase */
	prdshm__holder_fn holder;   /* is an IN_PROGRESS phase's holder alive */
	void *hctx;
	problem_fn report;
	void *ctx;
	int corrupt, dead;
};

static void check_error(struct check_state *cs, const char *fmt, ...) PRDSHM__PRINTF(2, 3);

static void check_error(struct check_state *cs, const char *fmt, ...)
{
	char line[320];
	va_list ap;

	cs->corrupt++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	prdshm__phase_problem(cs->report, cs->ctx, PRDSHM_CHECK_ERROR, "%s", line);
}

/* Readiness and holder of phase @p i against its dependencies. */
static void check_phase_state(struct check_state *cs, const struct geom *g, uint32_t i)
{
	const struct prdshm__phase *p = &g->ph[i];
	uint32_t s = p->status;
	char id[PRDSHM_ID_MAX + 1];
	int alive;

	pid_of(g, i, id);
	if (s >= NSTATUS) {
		check_error(cs, "phase '%s': status %u out of range", id, s);
		return;
	}
	if (settles(s)) {
		uint32_t want = prdshm__phase_readiness(g, i);
		if (want != s && prdshm_phase_transition_allowed(s, want))
			check_error(cs, "phase '%s' is %s but its dependencies say %s", id,
				    sname(s), sname(want));
	}
	if ((s == QU || s == IP || s == CO) && prdshm__phase_readiness(g, i) != QU)
		check_error(cs, "phase '%s' is %s before its dependencies are done", id, sname(s));
	if (s != IP)
		return;
	alive = cs->holder(cs->hctx, p, i);
	if (alive < 0) {
		check_error(cs, "phase '%s' is IN_PROGRESS without a matching agent (slot %d)", id,
			    (int)p->agent_slot);
	} else if (!alive) {
		prdshm__phase_problem(cs->report, cs->ctx, PRDSHM_CHECK_WARN,
			"phase '%s' is IN_PROGRESS by dead agent %.*s (slot %d)", id, PRDSHM_ID_MAX,
			p->agent_id, (int)p->agent_slot);
		cs->dead++;
	}
}

/* The checker's reference: the counts recounted from the statuses. */
static void scan_counts(const struct geom *g, struct run_state *st)
{
	memset(st, 0, sizeof(*st));
	st->minw = g->nwaves;
	for (uint32_t i = 0; i < g->n; i++) {
		uint32_t s = g->ph[i].status;
		if (!is_open(s))
			continue;
		st->nopen++;
		st->nrunning += s == IP;
		if (g->ph[i].wave < st->minw)
			st->minw = g->ph[i].wave;
	}
}

/* Each wave's open count and end time; its phases are one run of the
 * topological order (check_topo() in load.c held). */
static void check_waves(struct check_state *cs, const struct geom *g, uint32_t minw)
{
	uint32_t k = 0;

	for (uint32_t w = 0; w < g->nwaves; w++) {
		uint32_t nopen = 0;

		for (; k < g->n && g->ph[g->topo[k]].wave == w; k++)
			nopen += is_open(g->ph[g->topo[k]].status);
		if (nopen != g->waves[w].nopen)
			check_error(cs, "wave %u: %u open phases, recorded %u", w, nopen,
				    g->waves[w].nopen);
		if ((w >= minw) != (g->waves[w].end_ns == 0))
			check_error(cs, "wave %u: end time %s while the lowest open wave is %u", w,
				    g->waves[w].end_ns ? "set" : "unset", minw);
	}
}

static void check_counts(struct check_state *cs, const struct geom *g)
{
	const struct prdshm__phase_region *reg = g->reg;
	struct run_state st;

	scan_counts(g, &st);
	if (st.nrunning != reg->nrunning || st.nrunning > (uint32_t)g->max_parallel)
		check_error(cs, "%u phases IN_PROGRESS, recorded %u, max_parallel_agents %d",
			    st.nrunning, reg->nrunning, (int)g->max_parallel);
	if (st.nopen != reg->nopen)
		check_error(cs, "%u phases open, recorded %u", st.nopen, reg->nopen);
	if (st.minw != reg->minw)
		check_error(cs, "lowest open wave %u, recorded %u", st.minw, reg->minw);
	if (g->nwaves && reg->current_wave >= g->nwaves)
		check_error(cs, "current wave %u out of range", reg->current_wave);
	check_waves(cs, g, st.minw);
	for (uint32_t a = 0; cs->agent_phase && a < cs->max_agents; a++) {
		int32_t i = cs->agent_phase[a];
		if (i == -1)
			continue;
		if (i < 0 || (uint32_t)i >= g->n || g->ph[i].agent_slot != (int32_t)a ||
		    g->ph[i].status != IP)
			check_error(cs, "agent slot %u points at phase %d, which it does not hold", a,
				    (int)i);
	}
}

/* Each phase's dependency counts, and the settle list, empty between
 * critical sections. */
static void check_dep_counts(struct check_state *cs, const struct geom *g)
{
	uint32_t wrong = 0, first = 0, listed = 0;
	char id[PRDSHM_ID_MAX + 1];

	for (uint32_t i = 0; i < g->n; i++) {
		const struct prdshm__phase *p = &g->ph[i];
		uint32_t nd, left = 0, bad = 0;
		const uint32_t *d = prdshm__phase_deps_of(g, i, &nd);

		for (uint32_t k = 0; k < nd; k++) {
			left += !is_done(g->ph[d[k]].status);
			bad += is_bad(g->ph[d[k]].status);
		}
		if ((left != p->deps_left || bad != p->deps_bad) && wrong++ == 0)
			first = i;
		listed += p->settle_next != NIL;
	}
	if (wrong)
		check_error(cs, "%u phases' dependency counts disagree with the statuses "
				"(first: '%s')", wrong, pid_of(g, first, id));
	if (listed || g->reg->settle_head != NIL)
		check_error(cs, "settle list not empty (%u phases linked)", listed);
}

/* The running list holds exactly the IN_PROGRESS phases, doubly linked. */
static void check_running(struct check_state *cs, const struct geom *g)
{
	uint32_t i = g->reg->run_head, prev = NIL, steps = 0, nip = 0;

	for (uint32_t k = 0; k < g->n; k++)
		nip += g->ph[k].status == IP;
	for (; i != NIL && steps <= g->n; steps++) {
		if (i >= g->n || g->ph[i].status != IP || g->ph[i].run_prev != prev) {
			check_error(cs, "running list broken at its entry %u", steps);
			return;
		}
		prev = i;
		i = g->ph[i].run_next;
	}
	if (steps != nip)
		check_error(cs, "running list holds %u phases, %u are IN_PROGRESS", steps, nip);
}

static int bit_of(const uint64_t *words, uint64_t b)
{
	return (int)((words[b / READY_FANOUT] >> (b % READY_FANOUT)) & 1);
}

/* Level 0 of the ready bitmap against the statuses, each summary level
 * against the level below, and nothing set past the ranks. */
static void check_ready(struct check_state *cs, const struct geom *g)
{
	uint64_t nbits = (uint64_t)g->ready_words[0] * READY_FANOUT, first = 0;
	uint32_t wrong = 0, sums = 0;
	char id[PRDSHM_ID_MAX + 1] = "-";

	for (uint64_t r = 0; r < nbits; r++) {
		uint32_t i = r < g->n ? g->order[r] : NIL;
		int want = i != NIL && g->ph[i].status == QU && prdshm__phase_eligible(g, i);

		if (bit_of(g->ready[0], r) != want && wrong++ == 0)
			first = r;
	}
	if (wrong && first < g->n)
		pid_of(g, g->order[first], id);
	if (wrong)
		check_error(cs, "ready index: %u ranks disagree with the statuses (first: rank "
				"%llu, phase '%s')", wrong, (unsigned long long)first, id);
	for (uint32_t l = 1; l < g->nlevels; l++) {
		for (uint64_t b = 0; b < (uint64_t)g->ready_words[l] * READY_FANOUT; b++) {
			int want = b < g->ready_words[l - 1] && g->ready[l - 1][b] != 0;
			sums += bit_of(g->ready[l], b) != want;
		}
	}
	if (sums)
		check_error(cs, "ready index: %u summary bits disagree with the level below", sums);
}

/* Check the parsed copy @p g. */
static void check_copy(struct check_state *cs, const struct geom *g)
{
	if (prdshm__phase_check_static(g, cs->report, cs->ctx)) {
		cs->corrupt++;
		return;
	}
	for (uint32_t i = 0; i < g->n; i++)
		check_phase_state(cs, g, i);
	check_counts(cs, g);
	check_dep_counts(cs, g);
	check_running(cs, g);
	check_ready(cs, g);
}

/* Parse the private copy @p buf and check it.  @return 0,
 * PRDSHM_EDEADOWNER or PRDSHM_ECORRUPT. */
static int check_image(struct check_state *cs, unsigned char *buf, uint64_t bytes)
{
	struct geom g;

	if (prdshm__phase_geom_parse(buf, bytes, &g) == 0) {
		check_copy(cs, &g);
	} else {
		prdshm__phase_problem(cs->report, cs->ctx, PRDSHM_CHECK_ERROR, "%s",
				      prdshm_last_error());
		cs->corrupt++;
	}
	if (cs->corrupt)
		return PRDSHM_ECORRUPT;
	return cs->dead ? PRDSHM_EDEADOWNER : 0;
}

int prdshm__phases_check_image(unsigned char *buf, uint64_t bytes, prdshm__holder_fn holder,
			       void *hctx, problem_fn report, void *ctx)
{
	struct check_state cs = { NULL, 0, holder, hctx, report, ctx, 0, 0 };

	return check_image(&cs, buf, bytes);
}

/* The shared-memory holder test: the agent slot points back at the phase,
 * and its session (slot and generation) holds its OFD lock. */
struct shm_holders {
	struct prdshm_seg *seg;
	const int32_t *agent_phase;
};

static int shm_holder(void *hctx, const struct prdshm__phase *p, uint32_t i)
{
	const struct shm_holders *sh = hctx;

	if (p->agent_slot < 0 || (uint32_t)p->agent_slot >= prdshm__sessions(sh->seg)->max_agents ||
	    sh->agent_phase[p->agent_slot] != (int32_t)i)
		return -1;
	return prdshm__session_alive(sh->seg, (uint32_t)p->agent_slot, p->agent_gen);
}

int prdshm__phases_check(struct prdshm_seg *seg, unsigned flags, problem_fn report, void *ctx)
{
	struct shm_holders sh = { seg, NULL };
	struct check_state cs = { NULL, 0, shm_holder, &sh, report, ctx, 0, 0 };
	struct geom live;
	unsigned char *copy = NULL;
	int32_t *agent_phase;
	int got, r = prdshm__phase_geom_load(seg, &live);

	if (r) {
		prdshm__phase_problem(report, ctx, PRDSHM_CHECK_ERROR, "%s", prdshm_last_error());
		return PRDSHM_ECORRUPT;
	}
	cs.max_agents = prdshm__sessions(seg)->max_agents;
	agent_phase = malloc((cs.max_agents ? cs.max_agents : 1) * sizeof(*agent_phase));
	if (agent_phase)
		copy = prdshm__phase_copy_region(seg, !(flags & PRDSHM_SNAP_NOLOCK),
						 live.region_bytes, agent_phase, &got);
	if (copy == NULL) {
		free(agent_phase);
		prdshm__phase_problem(report, ctx, PRDSHM_CHECK_ERROR,
				      "out of memory copying the phase region");
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	}
	cs.agent_phase = sh.agent_phase = agent_phase;
	r = check_image(&cs, copy, live.region_bytes);
	free(copy);
	free(agent_phase);
	return r;
}
