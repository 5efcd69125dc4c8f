/*
 * run_view.h: prdshm-run's output while the run goes on: event lines
 * and, on a terminal, the live view.
 */
#ifndef PRDSHM_TOOLS_RUN_VIEW_H
#define PRDSHM_TOOLS_RUN_VIEW_H

#include <stdint.h>

#include "prdshm.h"

/* Sizes of the texts that tell a lock wait: the lock's name (escaped, cut)
 * and who holds it. */
#define RUN_RES_MAX 96
#define RUN_BY_MAX 200

typedef struct run_view {
	uint64_t t0;        /* rn_mono_ns() at the start: event times count from it */
	int tty;            /* a live view; else one plain line per event */
	int interval_s;     /* redraw period: monitoring_update_interval (>= 1) */
	int drawn;          /* lines of the view on the screen, erased before output */
	int dirty;          /* an event was printed over the view: draw it again */
	uint64_t next_draw; /* rn_mono_ns() of the next periodic redraw */
	uint64_t *waited;   /* by phase: ns seen waiting for locks (NULL: none yet) */
} run_view;

/*
 * An event.  Plain output prints each one with the time since the start;
 * the live view shows progress itself and prints only the @p important
 * ones (failures, dead agents) above it, as they happen.  Nothing with -q.
 */
void run_event(run_view *v, int important, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** Erase the live view, so that the next output starts where it began. */
void run_view_clear(run_view *v);

/** Draw the live view of @p s: the bar, then one line per running phase. */
void run_view_draw(run_view *v, const prdshm_snapshot *s);

/** 1 if the live view is due to be drawn: an event hid it, or time. */
int run_view_due(const run_view *v);

#endif
