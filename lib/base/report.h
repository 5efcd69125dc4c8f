/*
 * report.h: the messages for a caller's report callback (prdshm_check(),
 * prdshm_reap(), prdshm_recover()), collected while the library holds
 * segment mutexes and delivered once it holds none.  A callback run under
 * a mutex would deadlock if it called back into the library on the same
 * segment (prdshm_lock_query(), a snapshot: the mutexes are not
 * recursive), and a slow one would stall every process waiting for them.
 */
#ifndef PRDSHM_INTERNAL_REPORT_H
#define PRDSHM_INTERNAL_REPORT_H

#include <stddef.h>

/* Messages in the order they were added.  Zero-initialise; free with
 * prdshm__msgq_free().  Owned by one thread: never shared. */
struct prdshm__msgq {
	char *buf;        /* records: int severity, then the text and its NUL */
	size_t len, cap;  /* bytes used and allocated */
	size_t lost;      /* messages dropped for want of memory */
	int lost_severity; /* the highest severity among them */
};

/* Queue one message (a copy of @p text).  Without memory it is counted as
 * lost, and the flush says so in its place at the end. */
void prdshm__msgq_add(struct prdshm__msgq *q, int severity, const char *text);

/* A report(ctx, line) callback that queues into the prdshm__msgq @p q
 * (severity 0): what the recovery paths get instead of the caller's. */
void prdshm__msgq_line(void *q, const char *line);

/* Deliver the queued messages in order and empty @p q.  Call holding no
 * segment mutex.  @p report may be NULL (the messages are dropped). */
void prdshm__msgq_flush(struct prdshm__msgq *q,
			void (*report)(void *ctx, int severity, const char *text), void *ctx);

/* The same for a report(ctx, line) callback, which has no severity. */
void prdshm__msgq_flush_lines(struct prdshm__msgq *q, void (*report)(void *ctx, const char *line),
			      void *ctx);

void prdshm__msgq_free(struct prdshm__msgq *q);

#endif
