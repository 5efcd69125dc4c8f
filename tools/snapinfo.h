/*
 * snapinfo.h: questions the tools ask of a snapshot: who blocks a waiter,
 * which phase an index names, which agents are alive, how many phases are
 * in a state.
 */
#ifndef PRDSHM_TOOLS_SNAPINFO_H
#define PRDSHM_TOOLS_SNAPINFO_H

#include <stddef.h>
#include <stdint.h>

#include "prdshm.h"

/*
 * The records of @p li that block record @p w (a waiter): each holder in a
 * conflicting mode, and each earlier waiter in a conflicting mode (grants are
 * FIFO, so a waiter never passes an earlier conflicting one), like
 * PostgreSQL's pg_blocking_pids().  A session's own records never block it
 * (an upgrading holder appears both as holder and as waiter).
 * @return the count; at most @p cap indexes go to @p out.
 */
size_t tool_blockers(const prdshm_lock_info *li, size_t w, size_t *out, size_t cap);

/** The id of the phase with index @p index, or NULL. */
const char *tool_phase_id_of(const prdshm_snapshot *snap, int32_t index);

/** The phase of @p snap with id @p id, or NULL. */
const prdshm_phase_info *tool_phase_by_id(const prdshm_snapshot *snap, const char *id);

/**
 * The lock phase @p p waits for, if it does: the first waiting record of
 * the lock table that carries @p p's id (prdshm_holder.phase_id: what the
 * agent, or prdshm-lock in the phase's command, recorded), found in lock
 * *li at record *w.  A phase whose command locks nothing by phase id is
 * never found waiting.
 * @return 1 if found, else 0.
 */
int tool_phase_wait(const prdshm_snapshot *snap, const prdshm_phase_info *p,
		    const prdshm_lock_info **li, size_t *w);

/**
 * Who blocks waiter @p w of @p li, as "agent-2 (pid 123, phase build), ..."
 * in @p buf (at most @p size bytes, cut where it does not fit).
 * @return the number of blockers.
 */
size_t tool_blockers_text(const prdshm_lock_info *li, size_t w, char *buf, size_t size);

/**
 * The agents among @p snap's that are alive, as "id (pid N), ..." in @p buf
 * (with @p size 0 only counted: @p buf may then be NULL).
 * @return their number.
 */
size_t tool_live_agents(const prdshm_snapshot *snap, char *buf, size_t size);

/** How many phases of @p s have status @p st. */
size_t tool_count_status(const prdshm_snapshot *s, prdshm_phase_status st);
/** How many are done: completed, or skipped (which counts as done). */
size_t tool_count_done(const prdshm_snapshot *s);
/** How many may still run: not started, queued or in progress. */
size_t tool_count_open(const prdshm_snapshot *s);

#endif
