/*
 * register.c: the phase region's registration with the segment (its
 * size, layout hash, initialisation from the plan and validation at open
 * are in the plan's own files; this binds the view and lists them).
 */
#include <stdio.h>

#include "plan/phases.h"
#include "shm/robust.h"

static uint64_t phases_bytes(const prdshm_config *cfg)
{
	return prdshm__phases_bytes(cfg);
}

static int phases_bind(struct prdshm_seg *seg, unsigned char *base, uint64_t bytes)
{
	struct prdshm__plan *v = prdshm__plan(seg);

	v->base = base;
	v->bytes = bytes;
	return 0;
}

static int phases_mutex_name(const struct prdshm_seg *seg, const struct prdshm__mutex *m,
			     char *buf, size_t size)
{
	const struct prdshm__plan *v = prdshm__plan(seg);

	if ((const unsigned char *)m < v->base || (const unsigned char *)m >= v->base + v->bytes)
		return 0;
	snprintf(buf, size, "phase mutex");
	return 1;
}

const struct prdshm__region_type prdshm__phases_region = {
	.name = "phases",
	.bytes = phases_bytes,
	.layout_hash = prdshm__phases_layout_hash,
	.bind = phases_bind,
	.init = prdshm__phases_init,
	.validate = prdshm__phases_validate,
	.mutex_name = phases_mutex_name,
};
