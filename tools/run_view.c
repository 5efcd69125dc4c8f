/*
 * run_view.c: how prdshm-run shows a run as it goes: one line per event,
 * or on a terminal a live view (a progress bar and the running phases)
 * redrawn in place, with the important events printed above it.
 * See run_view.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common.h"
#include "run_view.h"
#include "runner.h"

#define BAR_WIDTH 20

void run_view_clear(run_view *v)
{
	if (v->drawn > 0)
		printf("\033[%dA\033[J", v->drawn);
	v->drawn = 0;
}

void run_event(run_view *v, int important, const char *fmt, ...)
{
	double t = (double)(rn_mono_ns() - v->t0) / 1e9;
	va_list ap;

	if (tool_verbosity < 0 || (v->tty && !important))
		return;
	if (v->tty) {
		run_view_clear(v);
		v->dirty = 1;
	}
	printf("[%7.2fs] ", t);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* The terminal's width, so that no line of the view wraps: the view is
 * erased by moving up one row per line printed. */
static size_t term_cols(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		return ws.ws_col;
	return 80;
}

/* One line of the view, cut to the terminal's width. */
static void view_line(size_t cols, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void view_line(size_t cols, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (strlen(line) > cols - 1)
		line[cols - 1] = '\0';
	printf("%s\n", line);
}

/* The terminal's height: the view never scrolls, or erasing it would
 * leave lines behind. */
static size_t term_rows(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 2)
		return ws.ws_row;
	return 24;
}

/* Phases in progress whose command waits for a lock. */
static size_t count_waiting(const prdshm_snapshot *s)
{
	const prdshm_lock_info *li;
	size_t n = 0, w;

	for (size_t i = 0; i < s->nphases; i++)
		n += s->phases[i].status == PRDSHM_PHASE_IN_PROGRESS &&
		     tool_phase_wait(s, &s->phases[i], &li, &w);
	return n;
}

static void draw_bar(const prdshm_snapshot *s, uint64_t elapsed, size_t cols)
{
	size_t done = tool_count_done(s);
	size_t fill = s->nphases ? done * BAR_WIDTH / s->nphases : BAR_WIDTH;
	size_t waiting = count_waiting(s);
	char bar[BAR_WIDTH + 1], el[32];

	for (size_t i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[BAR_WIDTH] = '\0';
	tool_format_duration(elapsed, el, sizeof(el));
	view_line(cols, "[%s] %zu/%zu  %s  wave %u of %zu  %zu running  %zu waiting  %zu failed",
		  bar, done, s->nphases, el, (unsigned)s->current_wave, s->nwaves,
		  tool_count_status(s, PRDSHM_PHASE_IN_PROGRESS) - waiting, waiting,
		  tool_count_status(s, PRDSHM_PHASE_FAILED));
}

/* A phase in progress: running, or waiting for a lock (since when, and who
 * holds it), which is not work even though the phase's clock runs. */
static void draw_phase(const prdshm_snapshot *s, const prdshm_phase_info *p, size_t cols)
{
	const prdshm_lock_info *li;
	char el[32], res[RUN_RES_MAX], by[RUN_BY_MAX];
	size_t w;

	if (!tool_phase_wait(s, p, &li, &w)) {
		tool_format_duration(tool_span_ns(p->start_ns, s->taken_ns), el, sizeof(el));
		view_line(cols, "  running  %-24.24s %-16.16s %s", p->id, p->agent_id, el);
		return;
	}
	tool_format_duration(tool_span_ns(li->holders[w].since_ns, s->taken_ns), el, sizeof(el));
	tool_bytes_text(li->resource, li->resource_len, res, sizeof(res));
	if (tool_blockers_text(li, w, by, sizeof(by)) > 0)
		view_line(cols, "  waiting  %-24.24s %-16.16s %s  for lock %s, held by %s", p->id,
			  p->agent_id, el, res, by);
	else
		view_line(cols, "  waiting  %-24.24s %-16.16s %s  for lock %s", p->id,
			  p->agent_id, el, res);
}

void run_view_draw(run_view *v, const prdshm_snapshot *s)
{
	size_t cols = term_cols(), room = term_rows() - 2;
	size_t shown = 0, more = 0;
	int lines = 1;

	run_view_clear(v);
	draw_bar(s, rn_mono_ns() - v->t0, cols);
	for (size_t i = 0; i < s->nphases; i++) {
		const prdshm_phase_info *p = &s->phases[i];

		if (p->status != PRDSHM_PHASE_IN_PROGRESS)
			continue;
		if (shown + 1 >= room) {
			more++;
			continue;
		}
		draw_phase(s, p, cols);
		shown++;
		lines++;
	}
	if (more > 0) {
		view_line(cols, "  ... %zu more", more);
		lines++;
	}
	fflush(stdout);
	v->drawn = lines;
	v->dirty = 0;
	v->next_draw = rn_mono_ns() + (uint64_t)v->interval_s * 1000000000u;
}

int run_view_due(const run_view *v)
{
	return v->tty && (v->dirty || rn_mono_ns() >= v->next_draw);
}
