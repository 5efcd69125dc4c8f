/*
 * region.c: the agents region's registration with the segment: its size,
 * its share of the layout hash, binding the session layer's view, and its
 * initialisation.
 */
#include <stdio.h>

#include "base/util.h"
#include "session/region.h"
#include "shm/robust.h"

/* Session slots are OFD bytes below PRDSHM__RECOVER_BYTE (segment.h). */
#define MAX_AGENTS_LIMIT 65536u

static uint64_t agents_bytes_for(uint32_t max_agents)
{
	return PRDSHM__ALIGN64(sizeof(struct prdshm__agents_hdr)) +
	       (uint64_t)max_agents * sizeof(struct prdshm__agent);
}

static uint64_t agents_bytes(const prdshm_config *cfg)
{
	return agents_bytes_for((uint32_t)cfg->max_agents);
}

#define AGENTS_CONSTANTS(C)                                                             \
	C(PRDSHM_ID_MAX) C(PRDSHM_MSG_MAX) C(PRDSHM_LOG_LINES) C(PRDSHM__SLOT_FREE)         \
	C(PRDSHM__SLOT_ACTIVE) C(PRDSHM_AGENT_IDLE) C(PRDSHM_AGENT_BUSY)                   \
	C(PRDSHM_AGENT_EXITED) C(PRDSHM_AGENT_DEAD) C((int)PRDSHM__SESSION_BYTE(0))

static uint32_t agents_layout_hash(void)
{
	const uint64_t facts[] = {
		PRDSHM__STRUCT_FACTS(prdshm__agents_hdr, PRDSHM__AGENTS_HDR_FIELDS)
		PRDSHM__STRUCT_FACTS(prdshm__agent, PRDSHM__AGENT_FIELDS)
		AGENTS_CONSTANTS(PRDSHM__CONST_FACTS)
	};
	return prdshm__hash(facts, sizeof(facts));
}

static int agents_bind(struct prdshm_seg *seg, unsigned char *base, uint64_t bytes)
{
	struct prdshm__sessions *v = prdshm__sessions(seg);
	uint32_t n = seg->hdr->max_agents;

	if (n == 0 || n > MAX_AGENTS_LIMIT || bytes != agents_bytes_for(n))
		return prdshm__fail(PRDSHM_ECORRUPT, "%s: agents region does not match max_agents %u",
				    seg->name, n);
	v->mutex = &((struct prdshm__agents_hdr *)(void *)base)->sess_mutex;
	v->agents = (struct prdshm__agent *)(void *)(base +
		PRDSHM__ALIGN64(sizeof(struct prdshm__agents_hdr)));
	v->max_agents = n;
	return 0;
}

static int agents_init(struct prdshm_seg *seg, const prdshm_config *cfg)
{
	struct prdshm__sessions *v = prdshm__sessions(seg);

	for (uint32_t i = 0; i < v->max_agents; i++)
		v->agents[i].phase = -1;
	return prdshm__mutex_init(v->mutex);
}

static int agents_mutex_name(const struct prdshm_seg *seg, const struct prdshm__mutex *m,
			     char *buf, size_t size)
{
	if (m != prdshm__sessions(seg)->mutex)
		return 0;
	snprintf(buf, size, "session mutex");
	return 1;
}

const struct prdshm__region_type prdshm__agents_region = {
	.name = "agents",
	.bytes = agents_bytes,
	.layout_hash = agents_layout_hash,
	.bind = agents_bind,
	.init = agents_init,
	.validate = NULL,
	.mutex_name = agents_mutex_name,
};
