/*
 * tables.c: the readable tables of prdshm-inspect and prdshm-phase status.
 * See tables.h.
 */
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "snapinfo.h"
#include "tables.h"

/* Print a possibly torn id, padded to @p width. */
static void print_field(FILE *out, const char *s, int width)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0) {
		fprintf(out, "%-*s", width, "-");
		return;
	}
	tool_print_bytes(out, s, len);
	for (int i = (int)len; i < width; i++)
		fputc(' ', out);
}

static void print_age(FILE *out, uint64_t since_ns, uint64_t now_ns, int width)
{
	char buf[32];

	if (since_ns == 0) {
		fprintf(out, "%-*s", width, "-");
		return;
	}
	tool_format_duration(tool_span_ns(since_ns, now_ns), buf, sizeof(buf));
	fprintf(out, "%-*s", width, buf);
}

static void print_segment(FILE *out, const prdshm_snapshot *snap)
{
	const prdshm_seg_info *si = &snap->seg;
	size_t alive = tool_live_agents(snap, NULL, 0);
	char tbuf[48];

	tool_format_time(si->created_ns, tbuf, sizeof(tbuf));
	fprintf(out, "SEGMENT %s  %llu bytes  format %u  created %s\n", si->shm_name,
		(unsigned long long)si->size, (unsigned)si->format, tbuf);
	fprintf(out, "  locks   %zu / %u\n  phases  %zu / %u\n  agents  %zu alive, %zu known / %u\n",
		snap->nlocks, (unsigned)si->max_locks, snap->nphases, (unsigned)si->max_phases,
		alive, snap->nagents, (unsigned)si->max_agents);
	fprintf(out, "  scheduling %s, max_parallel_agents %d, current wave %u\n",
		si->scheduling == PRDSHM_SCHED_EAGER ? "eager" : "waves",
		si->max_parallel_agents, (unsigned)snap->current_wave);
	if (si->needs_recovery)
		fprintf(out, "  NEEDS RECOVERY: run prdshm-cleanup\n");
	if (!snap->locked)
		fprintf(out, "  WARNING: read without locks (a mutex was busy or --no-lock): "
			     "the data may be torn\n");
}

/* An agent of the past: its session ended and its slot is kept only for
 * the record. */
static int exited(const prdshm_agent_info *a)
{
	return !a->alive && a->status == PRDSHM_AGENT_EXITED;
}

static void print_agents(FILE *out, const prdshm_snapshot *snap, int brief)
{
	size_t nexited = 0;

	fprintf(out, "\nAGENTS\n%-20s %5s %7s %-6s %-7s %-16s %-8s %s\n", "ID", "SLOT", "PID",
		"ALIVE", "STATUS", "PHASE", "AGE", "LAST LOG");
	if (snap->nagents == 0)
		fprintf(out, "(none)\n");
	for (size_t i = 0; i < snap->nagents; i++) {
		const prdshm_agent_info *a = &snap->agents[i];
		const char *st = prdshm_agent_status_name(a->status);

		if (brief && exited(a)) {
			nexited++;
			continue;
		}
		print_field(out, a->id, 20);
		fprintf(out, " %5d %7d %-6s %-7s ", (int)a->slot, (int)a->pid,
			a->alive ? "yes" : "no", st ? st : "?");
		print_field(out, a->phase >= 0 ? tool_phase_id_of(snap, a->phase) : NULL, 16);
		fputc(' ', out);
		print_age(out, a->start_ns, snap->taken_ns, 8);
		fputc(' ', out);
		if (a->nlog > 0)
			print_field(out, a->log[a->nlog - 1], 0);
		fputc('\n', out);
	}
	if (nexited > 0)
		fprintf(out, "(%zu exited agent%s not listed)\n", nexited, nexited == 1 ? "" : "s");
}

static void print_waits_for(FILE *out, const prdshm_lock_info *li, size_t w)
{
	size_t idx[64];
	size_t n = tool_blockers(li, w, idx, 64);

	for (size_t k = 0; k < n && k < 64; k++) {
		fputs(k ? "," : "", out);
		print_field(out, li->holders[idx[k]].agent_id, 0);
	}
	if (n == 0)
		fputc('-', out);
}

static void print_lock(FILE *out, const prdshm_lock_info *li, uint64_t now_ns)
{
	tool_print_bytes(out, li->resource, li->resource_len);
	fputc('\n', out);
	for (size_t i = 0; i < li->nrecords; i++) {
		const prdshm_holder *h = &li->holders[i];
		const char *mode = prdshm_mode_name(h->mode);

		fprintf(out, "    %-9s %-8s ", mode ? mode : "?",
			i >= li->nholders ? "WAITS" : h->released ? "released" : "holds");
		print_field(out, h->agent_id, 20);
		fprintf(out, " %7d %-5s ", (int)h->pid, h->alive ? "yes" : "DEAD");
		print_field(out, h->phase_id, 16);
		fputc(' ', out);
		print_age(out, h->since_ns, now_ns, 8);
		/* Upper case when it matters: a live holder that cannot move. */
		fprintf(out, " %-8s ", h->proc_state == PRDSHM_PROC_STOPPED ? "STOPPED"
				     : h->proc_state == PRDSHM_PROC_ZOMBIE ? "ZOMBIE"
				     : tool_proc_state_name(h->proc_state));
		if (i >= li->nholders)
			print_waits_for(out, li, i);
		fputc('\n', out);
	}
}

static void print_locks(FILE *out, const prdshm_snapshot *snap)
{
	fprintf(out, "\nLOCKS\nRESOURCE\n    %-9s %-8s %-20s %7s %-5s %-16s %-8s %-8s %s\n",
		"MODE", "STATE", "AGENT", "PID", "ALIVE", "PHASE", "AGE", "PROCESS", "WAITS FOR");
	if (snap->nlocks == 0)
		fprintf(out, "(none)\n");
	for (size_t i = 0; i < snap->nlocks; i++)
		print_lock(out, &snap->locks[i], snap->taken_ns);
}

static void print_phase(FILE *out, const prdshm_phase_info *p, uint64_t now_ns)
{
	const char *st = prdshm_phase_status_name(p->status);
	char dur[32] = "-";

	if (p->start_ns) {
		uint64_t end = p->end_ns ? p->end_ns : now_ns;

		tool_format_duration(tool_span_ns(p->start_ns, end), dur, sizeof(dur));
	}
	print_field(out, p->id, 20);
	fprintf(out, " %-11s %4u ", st ? st : "?", (unsigned)p->wave);
	print_field(out, p->agent_id, 20);
	fprintf(out, " %8u %-8s ", (unsigned)p->attempts, dur);
	if (p->status == PRDSHM_PHASE_FAILED)
		fprintf(out, "exit %d ", p->exit_status);
	print_field(out, p->message, 0);
	fputc('\n', out);
}

static void print_phases(FILE *out, const prdshm_snapshot *snap)
{
	fprintf(out, "\nPHASES\n%-20s %-11s %4s %-20s %8s %-8s %s\n", "ID", "STATUS", "WAVE",
		"AGENT", "ATTEMPTS", "DURATION", "MESSAGE");
	if (snap->nphases == 0)
		fprintf(out, "(none)\n");
	for (size_t i = 0; i < snap->nphases; i++)
		print_phase(out, &snap->phases[i], snap->taken_ns);
}

static void print_waves(FILE *out, const prdshm_snapshot *snap)
{
	fprintf(out, "\nWAVES\n%4s %-8s %6s %9s %6s %7s %s\n", "WAVE", "STATUS", "PHASES",
		"COMPLETED", "FAILED", "RUNNING", "DURATION");
	if (snap->nwaves == 0)
		fprintf(out, "(none)\n");
	for (size_t i = 0; i < snap->nwaves; i++) {
		const prdshm_wave_info *w = &snap->waves[i];
		char dur[32] = "-";

		if (w->start_ns)
			tool_format_duration(tool_span_ns(w->start_ns, w->end_ns ? w->end_ns
									 : snap->taken_ns),
					     dur, sizeof(dur));
		fprintf(out, "%4u %-8s %6u %9u %6u %7u %s\n", (unsigned)w->number,
			w->status ? w->status : "?", (unsigned)w->nphases,
			(unsigned)w->ncompleted, (unsigned)w->nfailed, (unsigned)w->nrunning, dur);
	}
}

static void print_problems(FILE *out, const tool_problems *pb)
{
	if (pb == NULL)
		return;
	fprintf(out, "\nPROBLEMS\n");
	if (pb->n == 0)
		fprintf(out, "(none)\n");
	for (size_t i = 0; i < pb->n; i++)
		fprintf(out, "%-7s %s\n", tool_severity_name(pb->v[i].severity), pb->v[i].message);
}

void tool_print_snapshot(FILE *out, const prdshm_snapshot *snap, const tool_problems *pb,
			 unsigned show)
{
	if (show & TOOL_SHOW_SEGMENT)
		print_segment(out, snap);
	else if (!snap->locked)
		fprintf(out, "WARNING: read without locks: the data may be torn\n");
	if (show & TOOL_SHOW_AGENTS)
		print_agents(out, snap, (show & TOOL_SHOW_BRIEF) != 0);
	if (show & TOOL_SHOW_LOCKS)
		print_locks(out, snap);
	if (show & TOOL_SHOW_PHASES)
		print_phases(out, snap);
	if (show & TOOL_SHOW_WAVES)
		print_waves(out, snap);
	if (show & TOOL_SHOW_PROBLEMS)
		print_problems(out, pb);
}

/* ------------------------------------------------------------------------ */
/* Fitting a screen                                                         */

/* One section as printed: its lines, the first @c head of which (blank
 * line, title, column names) are kept whatever the room. */
struct section {
	char *text;
	size_t size;
	size_t head, nlines, given;
};

static size_t count_lines(const char *s, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < size; i++)
		n += s[i] == '\n';
	return n;
}

/* Print section @p sec of @p snap into memory. */
static int render(struct section *sec, unsigned bit, const prdshm_snapshot *snap,
		  const tool_problems *pb, int brief)
{
	FILE *f = open_memstream(&sec->text, &sec->size);

	if (f == NULL)
		return -1;
	if (bit == TOOL_SHOW_SEGMENT)
		print_segment(f, snap);
	else if (bit == TOOL_SHOW_AGENTS)
		print_agents(f, snap, brief);
	else if (bit == TOOL_SHOW_LOCKS)
		print_locks(f, snap);
	else if (bit == TOOL_SHOW_PHASES)
		print_phases(f, snap);
	else if (bit == TOOL_SHOW_WAVES)
		print_waves(f, snap);
	else
		print_problems(f, pb);
	if (fclose(f) != 0)
		return -1;
	sec->nlines = count_lines(sec->text, sec->size);
	/* Blank line, title, column names; a lock's also "RESOURCE".  The
	 * segment's lines are all head: they say what is shown. */
	sec->head = bit == TOOL_SHOW_SEGMENT ? sec->nlines
		    : bit == TOOL_SHOW_LOCKS ? 4
		    : bit == TOOL_SHOW_PROBLEMS ? 2
						 : 3;
	if (sec->head > sec->nlines)
		sec->head = sec->nlines;
	return 0;
}

/* Share @p room lines out, in the sections' order: first the segment and
 * the locks in full and each other section's head with one row (or its
 * "... N more"), then the rest to whoever needs it.  Once a section does
 * not fit, those after it get nothing: what is shown is always the most
 * important part. */
static void share(struct section *sec, const unsigned *bits, size_t n, size_t room)
{
	for (size_t i = 0; i < n; i++) {
		int full = bits[i] == TOOL_SHOW_SEGMENT || bits[i] == TOOL_SHOW_LOCKS;
		size_t want = sec[i].head + (sec[i].nlines > sec[i].head);

		/* Never less than the head and a row, but the segment's lines,
		 * all head, as many as fit. */
		if (full && room > want)
			want = sec[i].nlines < room ? sec[i].nlines : room;
		if (bits[i] == TOOL_SHOW_SEGMENT && want > room)
			want = room;
		sec[i].given = want <= room ? want : 0;
		room = sec[i].given ? room - sec[i].given : 0;
	}
	for (size_t i = 0; i < n; i++) {
		size_t more = sec[i].nlines - sec[i].given;

		if (sec[i].given == 0)
			continue;
		more = more < room ? more : room;
		sec[i].given += more;
		room -= more;
	}
}

/* Print one line of at most @p cols - 1 bytes (the tables are ASCII:
 * untrusted bytes are escaped). */
static void put_cut(FILE *out, const char *line, size_t len, size_t cols)
{
	fprintf(out, "%.*s\n", (int)(len < cols - 1 ? len : cols - 1), line);
}

static void print_section(FILE *out, const struct section *sec, size_t cols)
{
	size_t rows = 0, shown = 0;
	const char *p = sec->text;

	/* Else only the head, or part of the segment's on a tiny screen. */
	if (sec->given > sec->head) {
		rows = sec->nlines - sec->head;
		shown = sec->given - sec->head;
	}
	if (shown < rows)
		shown--; /* its line says what is left out */
	for (size_t k = 0; k < sec->given && k < sec->head + shown; k++) {
		const char *nl = strchr(p, '\n');

		put_cut(out, p, (size_t)(nl - p), cols);
		p = nl + 1;
	}
	if (shown < rows) {
		char more[48];

		snprintf(more, sizeof(more), "... %zu more", rows - shown);
		put_cut(out, more, strlen(more), cols);
	}
}

void tool_print_fitted(FILE *out, const prdshm_snapshot *snap, const tool_problems *pb,
		       unsigned show, size_t rows, size_t cols)
{
	static const unsigned order[] = { TOOL_SHOW_SEGMENT, TOOL_SHOW_LOCKS, TOOL_SHOW_AGENTS,
					  TOOL_SHOW_PHASES,  TOOL_SHOW_WAVES, TOOL_SHOW_PROBLEMS };
	struct section sec[sizeof(order) / sizeof(order[0])];
	unsigned bits[sizeof(order) / sizeof(order[0])];
	size_t n = 0, room = rows > 1 ? rows - 1 : 1;

	memset(sec, 0, sizeof(sec));
	if (!(show & TOOL_SHOW_SEGMENT) && !snap->locked) {
		fprintf(out, "WARNING: read without locks: the data may be torn\n");
		room--;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if ((show & order[i]) &&
		    render(&sec[n], order[i], snap, pb, (show & TOOL_SHOW_BRIEF) != 0) == 0) {
			bits[n++] = order[i];
		} else {
			free(sec[n].text); /* a failed render may leave a buffer */
			sec[n].text = NULL;
		}
	}
	share(sec, bits, n, room);
	for (size_t i = 0; i < n; i++) {
		if (sec[i].given > 0)
			print_section(out, &sec[i], cols > 1 ? cols : 80);
		free(sec[i].text);
	}
}
