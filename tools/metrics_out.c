/*
 * metrics_out.c: the lock metrics and the phases' run times as text for
 * Prometheus, as JSON, and as the table of the hottest resources.  See
 * metrics_out.h; the names follow Prometheus's conventions (base units,
 * _total for counters, a histogram's _bucket/_sum/_count).
 */
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "json_out.h"
#include "metrics_out.h"

static int by_name(const void *a, const void *b)
{
	const prdshm_lock_metrics *x = a, *y = b;
	size_t n = x->resource_len < y->resource_len ? x->resource_len : y->resource_len;
	int c = memcmp(x->resource, y->resource, n);

	return c ? c : (x->resource_len > y->resource_len) - (x->resource_len < y->resource_len);
}

int tool_metrics_take(prdshm_seg *seg, unsigned flags, tool_metrics *m)
{
	size_t cap = 0;
	int r;

	memset(m, 0, sizeof(*m));
	m->total.struct_size = sizeof(m->total);
	/* The count may grow between two calls: ask again with room. */
	for (int tries = 0; tries < 8; tries++) {
		r = prdshm_lock_metrics_get(seg, flags, &m->total, m->res, cap, &m->n);
		if (r || m->n <= cap)
			break;
		free(m->res);
		cap = m->n + 64;
		m->res = calloc(cap, sizeof(*m->res));
		if (m->res == NULL) {
			r = PRDSHM_ENOMEM;
			break;
		}
		m->res[0].struct_size = sizeof(*m->res);
	}
	if (r == 0 && m->n > cap)
		m->n = cap;
	if (r) {
		tool_metrics_free(m);
		return r;
	}
	if (m->n > 1)
		qsort(m->res, m->n, sizeof(*m->res), by_name);
	return 0;
}

void tool_metrics_free(tool_metrics *m)
{
	free(m->res);
	m->res = NULL;
	m->n = 0;
}

/* ---- Prometheus text format ------------------------------------------- */

/* A label value: UTF-8 (bytes that are not become U+FFFD, as in the JSON
 * document) with backslash, double quote and newline escaped. */
static void print_label(FILE *out, const char *s, size_t len)
{
	json_t *j = tool_json_bytes(s, len, NULL);
	const char *u = j ? json_string_value(j) : "";

	for (; *u; u++) {
		if (*u == '\\' || *u == '"')
			fprintf(out, "\\%c", *u);
		else if (*u == '\n')
			fputs("\\n", out);
		else
			fputc(*u, out);
	}
	json_decref(j);
}

/* The labels of a series: {segment="..."[,resource="..."][,extra]}. */
static void print_labels(FILE *out, const char *segment, const prdshm_lock_metrics *r,
			 const char *extra)
{
	fputs("{segment=\"", out);
	print_label(out, segment, strlen(segment));
	fputc('"', out);
	if (r) {
		fputs(",resource=\"", out);
		print_label(out, r->resource, r->resource_len);
		fputc('"', out);
	}
	if (extra)
		fprintf(out, ",%s", extra);
	fputc('}', out);
}

static void print_head(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The counters of one family, for the totals (@p prefix "prdshm_lock") or
 * each resource ("prdshm_resource"). */
struct counter {
	const char *suffix, *help;
	size_t offset;
};
static const struct counter counters[] = {
	{ "acquisitions_total", "Grants of lock requests and upgrades, take-backs included.",
	  offsetof(prdshm_lock_metrics, acquisitions) },
	{ "contended_total", "Grants that had to wait.",
	  offsetof(prdshm_lock_metrics, contended) },
	{ "timeouts_total", "Requests that gave up at their deadline.",
	  offsetof(prdshm_lock_metrics, timeouts) },
	{ "deadlocks_total", "Requests refused to break a deadlock.",
	  offsetof(prdshm_lock_metrics, deadlocks) },
};

static uint64_t field(const prdshm_lock_metrics *r, size_t offset)
{
	uint64_t v;

	memcpy(&v, (const char *)r + offset, sizeof(v));
	return v;
}

/* The wait histogram's series of @p r (cumulative buckets, as Prometheus
 * wants them), and its longest wait. */
static void print_waits(FILE *out, const char *prefix, const char *segment,
			const prdshm_lock_metrics *r, int per_resource)
{
	static const char *const le[PRDSHM_WAIT_BUCKETS] = {
		"1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1", "1", "+Inf"
	};
	const prdshm_lock_metrics *lab = per_resource ? r : NULL;
	uint64_t cum = 0;
	char extra[32];

	for (int b = 0; b < PRDSHM_WAIT_BUCKETS; b++) {
		cum += r->wait_buckets[b];
		snprintf(extra, sizeof(extra), "le=\"%s\"", le[b]);
		fprintf(out, "%s_wait_seconds_bucket", prefix);
		print_labels(out, segment, lab, extra);
		fprintf(out, " %llu\n", (unsigned long long)cum);
	}
	fprintf(out, "%s_wait_seconds_sum", prefix);
	print_labels(out, segment, lab, NULL);
	fprintf(out, " %.9f\n", (double)r->wait_ns / 1e9);
	fprintf(out, "%s_wait_seconds_count", prefix);
	print_labels(out, segment, lab, NULL);
	fprintf(out, " %llu\n", (unsigned long long)cum);
}

static void print_family(FILE *out, const char *prefix, const char *segment,
			 const tool_metrics *m, int per_resource)
{
	char name[96];
	size_t n = per_resource ? m->n : 1;

	for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
		snprintf(name, sizeof(name), "%s_%s", prefix, counters[c].suffix);
		print_head(out, name, "counter", counters[c].help);
		for (size_t i = 0; i < n; i++) {
			const prdshm_lock_metrics *r = per_resource ? &m->res[i] : &m->total;

			fputs(name, out);
			print_labels(out, segment, per_resource ? r : NULL, NULL);
			fprintf(out, " %llu\n", (unsigned long long)field(r, counters[c].offset));
		}
	}
	snprintf(name, sizeof(name), "%s_wait_seconds", prefix);
	print_head(out, name, "histogram", "How long the contended grants waited.");
	for (size_t i = 0; i < n; i++)
		print_waits(out, prefix, segment, per_resource ? &m->res[i] : &m->total,
			    per_resource);
	snprintf(name, sizeof(name), "%s_wait_max_seconds", prefix);
	print_head(out, name, "gauge", "The longest wait of a contended grant.");
	for (size_t i = 0; i < n; i++) {
		const prdshm_lock_metrics *r = per_resource ? &m->res[i] : &m->total;

		fputs(name, out);
		print_labels(out, segment, per_resource ? r : NULL, NULL);
		fprintf(out, " %.9f\n", (double)r->wait_max_ns / 1e9);
	}
}

/* Each phase that ran: its run time (to now if it still runs). */
static void print_phases(FILE *out, const prdshm_snapshot *snap, const char *segment)
{
	char extra[2 * PRDSHM_ID_MAX + 48];

	print_head(out, "prdshm_phase_run_seconds", "gauge",
		   "How long each phase ran (so far, if it runs).");
	for (size_t i = 0; i < snap->nphases; i++) {
		const prdshm_phase_info *p = &snap->phases[i];
		const char *status = prdshm_phase_status_name(p->status);
		uint64_t end = p->end_ns ? p->end_ns : snap->taken_ns;

		if (p->start_ns == 0)
			continue;
		/* Phase ids are printable ASCII without spaces; quotes and
		 * backslashes are escaped all the same. */
		fputs("prdshm_phase_run_seconds", out);
		fputs("{segment=\"", out);
		print_label(out, segment, strlen(segment));
		fputs("\",phase=\"", out);
		print_label(out, p->id, strlen(p->id));
		snprintf(extra, sizeof(extra), "\",status=\"%s\"}", status ? status : "?");
		fputs(extra, out);
		fprintf(out, " %.3f\n", (double)tool_span_ns(p->start_ns, end) / 1e9);
	}
}

int tool_metrics_print(FILE *out, const tool_metrics *m, const prdshm_snapshot *snap,
		       const char *segment)
{
	print_family(out, "prdshm_lock", segment, m, 0);
	print_family(out, "prdshm_resource", segment, m, 1);
	if (snap)
		print_phases(out, snap, segment);
	return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

/* ---- JSON -------------------------------------------------------------- */

static json_t *one_json(const prdshm_lock_metrics *r, int per_resource)
{
	json_t *buckets = json_array();
	json_t *j;

	for (int b = 0; b < PRDSHM_WAIT_BUCKETS; b++)
		json_array_append_new(buckets, json_integer((json_int_t)r->wait_buckets[b]));
	j = json_pack("{s:I, s:I, s:I, s:I, s:f, s:f, s:o}", "acquisitions",
		      (json_int_t)r->acquisitions, "contended", (json_int_t)r->contended,
		      "timeouts", (json_int_t)r->timeouts, "deadlocks", (json_int_t)r->deadlocks,
		      "wait_seconds", (double)r->wait_ns / 1e9, "wait_max_seconds",
		      (double)r->wait_max_ns / 1e9, "wait_buckets", buckets);
	if (j && per_resource)
		json_object_set_new(j, "resource",
				    tool_json_bytes(r->resource, r->resource_len, NULL));
	return j;
}

json_t *tool_json_metrics(const tool_metrics *m)
{
	static const double bound[PRDSHM_WAIT_BUCKETS - 1] = { 1e-6, 1e-5, 1e-4, 1e-3,
							       1e-2, 1e-1, 1 };
	json_t *res = json_array(), *le = json_array();

	for (size_t i = 0; i < m->n; i++)
		json_array_append_new(res, one_json(&m->res[i], 1));
	for (int b = 0; b < PRDSHM_WAIT_BUCKETS - 1; b++)
		json_array_append_new(le, json_real(bound[b]));
	json_array_append_new(le, json_null()); /* +Inf */
	return json_pack("{s:o, s:o, s:o}", "wait_bucket_le_seconds", le, "locks",
			 one_json(&m->total, 0), "resources", res);
}

/* ---- The hottest resources ------------------------------------------- */

#define HOTTEST 5

struct hot {
	const prdshm_lock_metrics *r;
	uint64_t contended, wait_ns, acquisitions;
};

static int hotter(const void *a, const void *b)
{
	const struct hot *x = a, *y = b;

	if (x->contended != y->contended)
		return x->contended < y->contended ? 1 : -1;
	if (x->wait_ns != y->wait_ns)
		return x->wait_ns < y->wait_ns ? 1 : -1;
	return 0;
}

/* @p r's figures since @p prev (a counter that went down was reset: the
 * resource left the table and came back). */
static struct hot since(const prdshm_lock_metrics *r, const tool_metrics *prev)
{
	const prdshm_lock_metrics *p =
		prev && prev->n ? bsearch(r, prev->res, prev->n, sizeof(*r), by_name) : NULL;
	struct hot h = { r, r->contended, r->wait_ns, r->acquisitions };

	if (p && p->contended <= r->contended && p->acquisitions <= r->acquisitions &&
	    p->wait_ns <= r->wait_ns) {
		h.contended -= p->contended;
		h.wait_ns -= p->wait_ns;
		h.acquisitions -= p->acquisitions;
	}
	return h;
}

void tool_print_hottest(FILE *out, const tool_metrics *m, const tool_metrics *prev)
{
	struct hot *h = m->n ? calloc(m->n, sizeof(*h)) : NULL;
	size_t k = 0;
	char wait[32];

	for (size_t i = 0; h && i < m->n; i++) {
		h[k] = since(&m->res[i], prev);
		if (h[k].contended || h[k].wait_ns)
			k++;
	}
	fprintf(out, "\nHottest resources (%s):\n", prev ? "since the last refresh" : "so far");
	if (k == 0)
		fputs("  none contended\n", out);
	else
		fprintf(out, "  %-32s %12s %12s %12s\n", "RESOURCE", "CONTENDED", "ACQUIRED",
			"WAITED");
	if (k > 1)
		qsort(h, k, sizeof(*h), hotter);
	for (size_t i = 0; i < k && i < HOTTEST; i++) {
		fputs("  ", out);
		tool_print_bytes(out, h[i].r->resource,
				 h[i].r->resource_len > 32 ? 32 : h[i].r->resource_len);
		fprintf(out, "%*s", (int)(h[i].r->resource_len > 32 ? 1 : 33 - h[i].r->resource_len),
			"");
		tool_format_duration(h[i].wait_ns, wait, sizeof(wait));
		fprintf(out, "%12llu %12llu %12s\n", (unsigned long long)h[i].contended,
			(unsigned long long)h[i].acquisitions, wait);
	}
	free(h);
}
