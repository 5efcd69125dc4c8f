/*
 * report.c: messages for a caller's report callback, delivered once the
 * library holds no segment mutex (see base/report.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/report.h"
#include "base/util.h"

void prdshm__msgq_add(struct prdshm__msgq *q, int severity, const char *text)
{
	size_t n = strlen(text) + 1, need = sizeof(int) + n;
	char *nb;

	if (need > q->cap - q->len) {
		size_t cap = q->cap ? q->cap : 1024;

		while (cap - q->len < need)
			cap *= 2;
		nb = realloc(q->buf, cap);
		if (nb == NULL) {
			q->lost++;
			if (severity > q->lost_severity)
				q->lost_severity = severity;
			return;
		}
		q->buf = nb;
		q->cap = cap;
	}
	memcpy(q->buf + q->len, &severity, sizeof(int));
	memcpy(q->buf + q->len + sizeof(int), text, n);
	q->len += need;
}

void prdshm__msgq_line(void *q, const char *line)
{
	prdshm__msgq_add(q, 0, line);
}

void prdshm__msgq_flush(struct prdshm__msgq *q,
			void (*report)(void *ctx, int severity, const char *text), void *ctx)
{
	struct prdshm__saved_error saved;
	char note[80];
	size_t off = 0;
	int severity;

	/* The callback may call the library, which sets the thread's message:
	 * the call that is reporting keeps its own. */
	if (report && (q->len || q->lost))
		prdshm__error_save(&saved);
	while (report && off < q->len) {
		memcpy(&severity, q->buf + off, sizeof(int));
		report(ctx, severity, q->buf + off + sizeof(int));
		off += sizeof(int) + strlen(q->buf + off + sizeof(int)) + 1;
	}
	if (report && q->lost) {
		snprintf(note, sizeof(note), "(%zu more messages lost: out of memory)", q->lost);
		report(ctx, q->lost_severity, note);
	}
	if (report && (q->len || q->lost))
		prdshm__error_restore(&saved);
	q->len = 0;
	q->lost = 0;
	q->lost_severity = 0;
}

struct line_report {
	void (*report)(void *ctx, const char *line);
	void *ctx;
};

static void deliver_line(void *ctx, int severity, const char *text)
{
	const struct line_report *lr = ctx;

	(void)severity;
	lr->report(lr->ctx, text);
}

void prdshm__msgq_flush_lines(struct prdshm__msgq *q, void (*report)(void *ctx, const char *line),
			      void *ctx)
{
	struct line_report lr = { report, ctx };

	prdshm__msgq_flush(q, report ? deliver_line : NULL, &lr);
}

void prdshm__msgq_free(struct prdshm__msgq *q)
{
	free(q->buf);
	q->buf = NULL;
	q->len = q->cap = 0;
}
