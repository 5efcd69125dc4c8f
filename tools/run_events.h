/*
 * run_events.h: prdshm-run's events, found by diffing two snapshots.
 */
#ifndef PRDSHM_TOOLS_RUN_EVENTS_H
#define PRDSHM_TOOLS_RUN_EVENTS_H

#include "prdshm.h"
#include "run_view.h"

/** Report on @p v what changed from snapshot @p o to snapshot @p n. */
void run_diff(run_view *v, const prdshm_snapshot *o, const prdshm_snapshot *n);

/** "wave N opened: M phases", for the current wave of @p s while phases
 *  remain open. */
void run_wave_opened(run_view *v, const prdshm_snapshot *s);

#endif
