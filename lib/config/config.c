/*
 * config.c: the life of a prdshm_config: init, free, and the staged change
 * through which a file or the environment is applied.
 *
 * Every change is staged: a file or the environment is applied to a
 * temporary copy that replaces the caller's configuration only when all of it
 * is valid, so a bad input never leaves half its values behind.
 */
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "base/util.h"
#include "config/config.h"

/* prdshm_config_init_size() without touching prdshm_last_error(): also
 * what prdshm_config_free() leaves behind, after a failure it must not
 * hide. */
static int config_init(prdshm_config *cfg, size_t size)
{
	prdshm_config full;

	if (!cfg)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_config_init_size: no configuration");
	if (size < PRDSHM_CONFIG_SIZE_1_0 || size > PRDSHM_STRUCT_SIZE_MAX)
		return prdshm__fail(PRDSHM_EINVAL,
				    "prdshm_config_init_size: %zu bytes is not the size of any "
				    "prdshm_config (at least %zu)",
				    size, (size_t)PRDSHM_CONFIG_SIZE_1_0);
	prdshm__config_defaults(&full);
	/* Only the caller's bytes: it may know a shorter prdshm_config. */
	cfg->struct_size = (uint32_t)size;
	prdshm__abi_copy_out(cfg, &full, sizeof(full));
	return 0;
}

int prdshm_config_init_size(prdshm_config *cfg, size_t size)
{
	prdshm__call_begin();
	return config_init(cfg, size);
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_phases(prdshm_phase_def *phases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		prdshm_phase_def *p = &phases[i];

		free(p->id);
		free(p->name);
		free_strv(p->deps, p->ndeps);
		free(p->deps_at);
		free_strv(p->outputs, p->noutputs);
		free(p->command);
	}
	free(phases);
}

void prdshm_config_free(prdshm_config *cfg)
{
	/* A configuration that was never initialised owns nothing we can
	 * trust: leave it alone. */
	if (!cfg || prdshm__config_ok(cfg, "prdshm_config_free") != 0)
		return;
	free_phases(cfg->phases, cfg->nphases);
	free(cfg->src_);
	free(cfg->path_);
	/* Leave defaults behind so that a second free or a reuse is harmless. */
	config_init(cfg, cfg->struct_size);
}

/*
 * Copy the fields of @p src into @p dst, each keeping its struct_size: only
 * the bytes both have are read and written, for the caller's configuration
 * may be shorter than this library's (see "ABI" in prdshm.h).
 */
static void config_copy(prdshm_config *dst, const prdshm_config *src)
{
	const size_t skip = sizeof(src->struct_size);
	size_t n = sizeof(*dst);

	if (dst->struct_size < n)
		n = dst->struct_size;
	if (src->struct_size < n)
		n = src->struct_size;
	memcpy((char *)dst + skip, (const char *)src + skip, n - skip);
}

/*
 * Start a staged change: @p tmp gets @p cfg's values and a copy of its
 * origins, but no phases and no path, which stay with @p cfg until commit.
 */
int prdshm__stage_begin(prdshm_config *tmp, const prdshm_config *cfg)
{
	prdshm__config_defaults(tmp);
	config_copy(tmp, cfg);
	tmp->phases = NULL;
	tmp->nphases = 0;
	tmp->path_ = NULL;
	tmp->src_ = calloc(1, sizeof(*tmp->src_));
	if (!tmp->src_)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	if (cfg->src_)
		*tmp->src_ = *cfg->src_;
	else
		prdshm__backend_defaults(&tmp->src_->be);
	return 0;
}

/* Make a staged change effective; @p tmp no longer owns anything. */
void prdshm__stage_commit(prdshm_config *cfg, prdshm_config *tmp, int take_phases)
{
	prdshm_config old;

	prdshm__config_defaults(&old);
	config_copy(&old, cfg);
	config_copy(cfg, tmp);
	if (!take_phases) {
		cfg->phases = old.phases;
		cfg->nphases = old.nphases;
		old.phases = NULL;
		old.nphases = 0;
	}
	if (!cfg->path_) {
		cfg->path_ = old.path_;
		old.path_ = NULL;
	}
	prdshm_config_free(&old);
	prdshm__config_defaults(tmp);
}
