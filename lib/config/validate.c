/*
 * validate.c: prdshm_config_validate(): each value within its rules, the
 * rules between values (agents, sharing), the phases' ids, and the plan's
 * graph (duplicate ids, unknown dependencies, cycles), each failure placed
 * where the value came from.
 */
#include <stdio.h>

#include "base/util.h"
#include "config/config.h"

static int check_keys(const prdshm_config *cfg, prdshm_diag *diag)
{
	char buf[sizeof(ENV_PREFIX) + KEY_TEXT_MAX];
	struct where at;
	struct kval v;
	int err;

	for (size_t i = 0; i < NKEYS; i++) {
		prdshm__get_kval(cfg, &prdshm__keys[i], &v);
		prdshm__key_where(cfg, (int)i, &at, buf, sizeof(buf));
		err = prdshm__check_value(&prdshm__keys[i], &v, &at, diag);
		if (err)
			return err;
	}
	return 0;
}

static prdshm_origin origin_of(const prdshm_config *cfg, int ki)
{
	return cfg->src_ ? cfg->src_->key[ki].origin : PRDSHM_FROM_DEFAULT;
}

static int check_agents(const prdshm_config *cfg, prdshm_diag *diag)
{
	char buf[sizeof(ENV_PREFIX) + KEY_TEXT_MAX];
	int par = prdshm__find_key("max_parallel_agents"), max = prdshm__find_key("max_agents");
	struct where at;

	if (cfg->max_parallel_agents <= cfg->max_agents)
		return 0;
	/* Point at the value that was set more deliberately: it is the likelier mistake. */
	prdshm__key_where(cfg, origin_of(cfg, max) > origin_of(cfg, par) ? max : par, &at, buf,
			  sizeof(buf));
	return prdshm__diag_fail(diag, &at, PRDSHM_ECONFIG,
				 "max_parallel_agents (%d) is larger than max_agents (%d)",
				 cfg->max_parallel_agents, cfg->max_agents);
}

/* A group may open the segment only when it is named as the sharing group. */
static int check_sharing(const prdshm_config *cfg, prdshm_diag *diag)
{
	char buf[sizeof(ENV_PREFIX) + KEY_TEXT_MAX];
	struct where at;

	if (!(cfg->shm_mode & 0070) || cfg->shm_group[0] != '\0')
		return 0;
	prdshm__key_where(cfg, prdshm__find_key("shm_mode"), &at, buf, sizeof(buf));
	return prdshm__diag_fail(diag, &at, PRDSHM_ECONFIG,
				 "shm_mode: 0%03o lets the segment's group %s it: name that group "
				 "in shm_group, or use 0600",
				 cfg->shm_mode, (cfg->shm_mode & 0020) ? "write" : "open");
}

static const char *plan_file(const prdshm_config *cfg)
{
	return cfg->path_ ? cfg->path_ : "(configuration)";
}

static int check_phases(const prdshm_config *cfg, prdshm_diag *diag)
{
	struct where at = { plan_file(cfg), 0, 0 };
	const prdshm_phase_def *p;

	if (cfg->nphases > (size_t)cfg->max_phases) {
		p = &cfg->phases[cfg->max_phases];
		at.line = p->line;
		at.column = p->column;
		return prdshm__diag_fail(diag, &at, PRDSHM_ECONFIG,
					 "%zu phases: more than max_phases (%d)", cfg->nphases,
					 cfg->max_phases);
	}
	for (size_t i = 0; i < cfg->nphases; i++) {
		p = &cfg->phases[i];
		at.line = p->id_at.line > 0 ? p->id_at.line : p->line;
		at.column = p->id_at.line > 0 ? p->id_at.column : p->column;
		if (!prdshm__valid_id(p->id))
			return prdshm__diag_fail(diag, &at, PRDSHM_ECONFIG,
						 "phase %zu: id '%.64s' is not valid (1..%d "
						 "printable characters, no spaces)",
						 i + 1, p->id ? p->id : "", PRDSHM_ID_MAX);
	}
	return 0;
}

/* Duplicate ids, unknown dependencies and cycles: the graph finds them. */
static int check_graph(const prdshm_config *cfg, prdshm_diag *diag)
{
	prdshm_graph *g = NULL;
	int err;

	if (cfg->nphases == 0)
		return 0;
	err = prdshm_graph_build(cfg->phases, cfg->nphases, &g, diag);
	prdshm_graph_free(g);
	if (!err)
		return 0;
	/* The graph knows the phase, not the file it came from. */
	if (diag->file[0] == '\0')
		prdshm__strlcpy(diag->file, plan_file(cfg), sizeof(diag->file));
	if (err == PRDSHM_ENOMEM)
		return err;
	return prdshm__fail(PRDSHM_ECONFIG, "%s:%d:%d: %s", diag->file, diag->line, diag->column,
			    diag->msg);
}

int prdshm_config_validate(const prdshm_config *cfg, prdshm_diag *diag)
{
	prdshm_diag dummy;
	int err;

	prdshm__call_begin();
	err = prdshm__diag_begin(&diag, &dummy, "prdshm_config_validate");
	if (err)
		return err;
	if (!cfg)
		return prdshm__fail(PRDSHM_EINVAL, "config_validate: no configuration");
	err = prdshm__config_ok(cfg, "prdshm_config_validate");
	if (err)
		return err;
	err = check_keys(cfg, diag);
	if (!err)
		err = check_agents(cfg, diag);
	if (!err)
		err = check_sharing(cfg, diag);
	if (!err)
		err = check_phases(cfg, diag);
	if (!err)
		err = check_graph(cfg, diag);
	return err;
}
