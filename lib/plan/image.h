/*
 * image.h: the phase state machine on a phase-region image (image.c), for
 * a backend that keeps the plan elsewhere than in a mapped segment.
 *
 * An image is exactly the bytes of the shm backend's phase region (the
 * layout in plan/phases.h), built by the same code from the same plan.
 * The ZooKeeper backend keeps one in a znode and changes it optimistically:
 * it reads the image into a private buffer, applies one of the operations
 * below to the buffer, and writes it back only if nobody wrote it since.
 * The shm backend runs the same operations on its region, under the phase
 * mutex (claim.c, steer.c, dead.c), so both follow one state machine.  The
 * image's mutex and doorbell fields mean nothing outside shared memory.
 *
 * Every function parses and bounds-checks the image first (PRDSHM_ECORRUPT
 * if it is not a phase region of exactly @p bytes bytes).
 */
#ifndef PRDSHM_INTERNAL_PLAN_IMAGE_H
#define PRDSHM_INTERNAL_PLAN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "plan/phases.h"

/* Who claims or finishes a phase: the identity recorded in the phase. */
struct prdshm__plan_holder {
	int32_t slot;         /* agent_slot */
	uint32_t gen;         /* agent_gen */
	const char *agent_id; /* agent_id, and changed_by */
};

/* 1 if the holder of IN_PROGRESS phase @p p is alive. */
typedef int (*prdshm__plan_alive_fn)(void *ctx, const struct prdshm__phase *p);

/* A report line (prdshm_reap()'s and prdshm_recover()'s @p report). */
typedef void (*prdshm__plan_report_fn)(void *ctx, const char *line);

/* Bytes of the image of @p cfg's plan (prdshm__phases_bytes()). */
size_t prdshm__plan_image_bytes(const prdshm_config *cfg);
/* Build the image of @p cfg's plan in @p buf (@p bytes from
 * prdshm__plan_image_bytes()), as prdshm__phases_init() builds the region.
 * @return 0, PRDSHM_EPHASEFULL, PRDSHM_ECONFIG (an invalid plan),
 * PRDSHM_ENOMEM. */
int prdshm__plan_image_init(unsigned char *buf, uint64_t bytes, const prdshm_config *cfg);

/* The checks of prdshm_phase_claim_timed()'s arguments, on every backend.
 * @return 0 or PRDSHM_EINVAL (nothing claimed). */
int prdshm__plan_claim_args(const prdshm_claim *out, int64_t timeout_ms);
/* prdshm_phase_claim() on the image for @p h: fails or requeues on its way
 * the running phases whose holders @p alive says are dead (as the shm claim
 * does), then takes the best claimable phase.  @p out is filled whole.
 * The image may change even when the claim fails (a wave opened, a dead
 * holder's phase failed): write it back whatever the result.  @return 0,
 * PRDSHM_EBUSY (@p h already holds one), PRDSHM_EDONE, PRDSHM_EWAIT,
 * PRDSHM_ECORRUPT. */
int prdshm__plan_image_claim(unsigned char *buf, uint64_t bytes,
			     const struct prdshm__plan_holder *h, prdshm__plan_alive_fn alive,
			     void *actx, prdshm_claim *out);
/* 1 if @p h holds a phase IN_PROGRESS in the image, with @p out filled as
 * its claim filled it (for a claim whose answer was lost with the
 * connection: it may have been written).  0 if not or the image is
 * corrupt. */
int prdshm__plan_image_held(unsigned char *buf, uint64_t bytes,
			    const struct prdshm__plan_holder *h, prdshm_claim *out);
/* What a retried operation needs to know of phase @p index (or @p id
 * when not NULL): whether its write, lost with the connection, was done. */
struct prdshm__plan_peek {
	uint32_t status;   /* prdshm_phase_status */
	uint32_t attempts; /* claims so far */
	int held;          /* IN_PROGRESS by @p h (NULL: 0) */
};
/* @return 0, or -1 when the image is corrupt or has no such phase. */
int prdshm__plan_image_peek(unsigned char *buf, uint64_t bytes, int32_t index, const char *id,
			    const struct prdshm__plan_holder *h, struct prdshm__plan_peek *out);
/* 1 if a claim may succeed now or every phase is final (the wait is
 * over), else 0 with *delay_ms the time until the next wave opens (0: no
 * wave is pending).  Updates the image's wave state, like a claim. */
int prdshm__plan_image_ready(unsigned char *buf, uint64_t bytes, int64_t *delay_ms);
/* prdshm_phase_complete() (@p to PRDSHM_PHASE_COMPLETED) or
 * prdshm_phase_fail() (PRDSHM_PHASE_FAILED) of phase @p index by @p h.
 * @return 0, PRDSHM_ENOPHASE, PRDSHM_ETRANSITION, PRDSHM_ECORRUPT. */
int prdshm__plan_image_finish(unsigned char *buf, uint64_t bytes,
			      const struct prdshm__plan_holder *h, int32_t index, uint32_t to,
			      int exit_status, const char *message);
/* prdshm_phase_set() by @p who (NULL: the operator).  @return 0,
 * PRDSHM_ENOPHASE, PRDSHM_ETRANSITION, PRDSHM_ECORRUPT. */
int prdshm__plan_image_set(unsigned char *buf, uint64_t bytes, const char *who, const char *id,
			   prdshm_phase_status to);
/* The IN_PROGRESS phases whose holders @p alive says are dead fail "agent
 * <id> died", or go back to QUEUED while attempts remain or when
 * @p requeue; one @p report line each (may be NULL).  *n: how many.
 * @return 0 or PRDSHM_ECORRUPT. */
int prdshm__plan_image_reap(unsigned char *buf, uint64_t bytes, prdshm__plan_alive_fn alive,
			    void *actx, int requeue, prdshm__plan_report_fn report, void *rctx,
			    size_t *n);
/* Rebuild everything derived from the statuses (prdshm_recover()), after
 * checking the immutable part.  @return 0 or PRDSHM_ECORRUPT. */
int prdshm__plan_image_rebuild(unsigned char *buf, uint64_t bytes);
#endif
