/*
 * regions.c: the shm backend's segments: which regions they hold, in which
 * order (the one list the segment layer is given), and the segment-wide
 * entry points built on it: create, open, close, unlink, info.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "base/util.h"
#include "lock/region.h"
#include "ops/ops.h"
#include "plan/phases.h"
#include "session/region.h"
#include "shm/trust.h"

/* In the order of their PRDSHM__REGION_* indexes. */
static const struct prdshm__region_type *const region_list[] = {
	[PRDSHM__REGION_AGENTS] = &prdshm__agents_region,
	[PRDSHM__REGION_LOCKS] = &prdshm__locks_region,
	[PRDSHM__REGION_PHASES] = &prdshm__phases_region,
};
_Static_assert(sizeof(region_list) / sizeof(region_list[0]) <= PRDSHM__REGIONS_MAX,
	       "more regions than the header has room for");

const struct prdshm__regions prdshm__shm_regions = {
	.type = region_list,
	.n = sizeof(region_list) / sizeof(region_list[0]),
};

int prdshm__shm_seg_create(const prdshm_config *cfg, prdshm_seg **out)
{
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	int r = prdshm__check_shm_name(cfg->shm_name);

	*out = NULL;
	if (r)
		return r;
	if (prdshm_config_validate(cfg, &diag) != 0)
		return prdshm__fail(PRDSHM_ECONFIG, "%s", diag.msg);
	return prdshm__seg_create(cfg, &prdshm__shm_regions, out);
}

int prdshm__shm_seg_open(const char *shm_name, const prdshm_config *cfg, prdshm_seg **out)
{
	return prdshm__seg_open(shm_name, cfg, &prdshm__shm_regions, out);
}

void prdshm__shm_seg_close(prdshm_seg *seg)
{
	prdshm__seg_close(seg);
}

int prdshm__shm_seg_unlink(const char *shm_name)
{
	static const struct prdshm__trust alone;
	int r = prdshm__check_shm_name(shm_name);

	if (r == 0)
		r = prdshm__trust_check_owner(shm_name, &alone);
	if (r)
		return r;
	if (shm_unlink(shm_name) != 0)
		return prdshm__fail_errno(PRDSHM_ESYS, "unlink %s", shm_name);
	return 0;
}

int prdshm__shm_seg_info(prdshm_seg *seg, prdshm_seg_info *info)
{
	const struct prdshm__hdr *h = seg->hdr;

	memset(info, 0, sizeof(*info));
	info->struct_size = sizeof(*info);
	prdshm__strlcpy(info->shm_name, seg->name, sizeof(info->shm_name));
	info->size = seg->size;
	info->format = h->format;
	info->layout_hash = h->layout_hash;
	info->created_ns = h->created_ns;
	info->max_locks = h->max_locks;
	info->max_phases = h->max_phases;
	info->max_agents = prdshm__sessions(seg)->max_agents;
	info->nparts = prdshm__locks(seg)->nparts;
	/* Internally a count of marks (segment.h); callers see a flag. */
	info->needs_recovery = __atomic_load_n(&h->needs_recovery, __ATOMIC_ACQUIRE) != 0;
	info->max_parallel_agents = h->max_parallel_agents;
	info->lock_timeout_seconds = h->lock_timeout_seconds;
	info->wave_delay_seconds = h->wave_delay_seconds;
	info->conflict_retry_attempts = h->conflict_retry_attempts;
	info->monitoring_update_interval = h->monitoring_update_interval;
	info->phase_max_attempts = h->phase_max_attempts;
	info->deadlock_timeout_ms = h->deadlock_timeout_ms;
	info->scheduling = (prdshm_scheduling)h->scheduling;
	return 0;
}
