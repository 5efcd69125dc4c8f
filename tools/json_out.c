/*
 * json_out.c: the JSON rendering of a snapshot, its phases and the
 * problems found, and the printing of a document.  See json_out.h.
 */
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "json_out.h"
#include "segopen.h"
#include "snapinfo.h"

/* Length of the valid UTF-8 sequence at @p s (at most @p len bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

json_t *tool_json_bytes(const char *s, size_t len, int *lossy)
{
	const unsigned char *u = (const unsigned char *)s;
	char *buf;
	size_t o = 0;
	json_t *j;

	if (lossy)
		*lossy = 0;
	/* At most 3 output bytes (U+FFFD) per input byte. */
	buf = malloc(len * 3 + 1);
	if (buf == NULL)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = u[i] ? utf8_seq(u + i, len - i) : 0;

		if (n == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			if (lossy)
				*lossy = 1;
			continue;
		}
		memcpy(buf + o, u + i, n);
		o += n;
		i += n;
	}
	j = json_stringn(buf, o);
	free(buf);
	return j;
}

json_t *tool_json_str(const char *s)
{
	if (s == NULL)
		return json_null();
	return tool_json_bytes(s, strlen(s), NULL);
}

json_t *tool_json_time(uint64_t ns)
{
	char buf[48];

	if (ns == 0)
		return json_null();
	tool_format_time(ns, buf, sizeof(buf));
	return json_string(buf);
}

/* A non-empty string, or null. */
static json_t *str_or_null(const char *s)
{
	return s && s[0] ? tool_json_str(s) : json_null();
}

static json_t *hex_of(const char *s, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *buf = malloc(len * 2 + 1);
	json_t *j;

	if (buf == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		buf[2 * i] = digits[(unsigned char)s[i] >> 4];
		buf[2 * i + 1] = digits[(unsigned char)s[i] & 15];
	}
	j = json_stringn(buf, len * 2);
	free(buf);
	return j;
}

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, tool_json_str(v[i]));
	return a;
}

static json_t *seg_json(const prdshm_snapshot *snap)
{
	const prdshm_seg_info *si = &snap->seg;
	size_t alive = tool_live_agents(snap, NULL, 0);

	return json_pack(
		"{s:i, s:o, s:I, s:I, s:I, s:o, s:o, s:b, s:b, "
		"s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}, "
		"s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s}, s:o, s:o, s:I}",
		"schema_version", 1, "name", tool_json_str(si->shm_name), "size",
		(json_int_t)si->size, "format", (json_int_t)si->format, "layout_hash",
		(json_int_t)si->layout_hash, "created", tool_json_time(si->created_ns), "taken",
		tool_json_time(snap->taken_ns), "locked", snap->locked, "needs_recovery",
		si->needs_recovery != 0, "limits", "max_locks", (json_int_t)si->max_locks,
		"max_phases", (json_int_t)si->max_phases, "max_agents", (json_int_t)si->max_agents,
		"partitions", (json_int_t)si->nparts, "usage", "locks", (json_int_t)snap->nlocks,
		"phases", (json_int_t)snap->nphases, "agents_alive", (json_int_t)alive, "config",
		"max_parallel_agents", si->max_parallel_agents, "lock_timeout_seconds",
		si->lock_timeout_seconds, "wave_delay_seconds", si->wave_delay_seconds,
		"conflict_retry_attempts", si->conflict_retry_attempts,
		"monitoring_update_interval", si->monitoring_update_interval,
		"phase_max_attempts", si->phase_max_attempts, "deadlock_timeout_ms",
		si->deadlock_timeout_ms, "scheduling",
		si->scheduling == PRDSHM_SCHED_EAGER ? "eager" : "waves", "run_start",
		tool_json_time(snap->run_start_ns), "run_end", tool_json_time(snap->run_end_ns),
		"current_wave", (json_int_t)snap->current_wave);
}

static json_t *agent_json(const prdshm_snapshot *snap, size_t i)
{
	const prdshm_agent_info *a = &snap->agents[i];
	const char *status = prdshm_agent_status_name(a->status);
	json_t *log = json_array(), *j;
	char host[256] = "";

	for (uint32_t k = 0; k < a->nlog && k < PRDSHM_LOG_LINES; k++)
		json_array_append_new(log, tool_json_str(a->log[k]));
	prdshm_snapshot_agent_host(snap, i, host, sizeof(host));
	j = json_pack("{s:o, s:i, s:i, s:I, s:b, s:s, s:o, s:o, s:o, s:o}", "id",
			 tool_json_str(a->id), "slot", (int)a->slot, "pid", (int)a->pid, "uid",
			 (json_int_t)a->uid, "alive", a->alive != 0, "status",
			 status ? status : "?", "phase",
			 str_or_null(a->phase >= 0 ? tool_phase_id_of(snap, a->phase) : NULL), "start",
			 tool_json_time(a->start_ns), "heartbeat", tool_json_time(a->heartbeat_ns),
			 "log", log);
	/* Added after the others: where the agent runs (null if not known). */
	if (j)
		json_object_set_new(j, "host", str_or_null(host));
	return j;
}

/* Seconds from @p since_ns to @p now_ns, to the millisecond; null if not
 * known. */
static json_t *age_json(uint64_t since_ns, uint64_t now_ns)
{
	if (since_ns == 0)
		return json_null();
	return json_real((double)(tool_span_ns(since_ns, now_ns) / 1000000u) / 1000.0);
}

/* A holder, or with @p waiter the members a waiter shares with one. */
static json_t *holder_json(const prdshm_holder *h, uint64_t now_ns, int waiter)
{
	json_t *j = json_pack("{s:o, s:i, s:i, s:o, s:s, s:o, s:o, s:b, s:s}", "agent",
			      tool_json_str(h->agent_id), "slot", (int)h->slot, "pid",
			      (int)h->pid, "phase", str_or_null(h->phase_id), "mode",
			      prdshm_mode_name(h->mode) ? prdshm_mode_name(h->mode) : "?",
			      "since", tool_json_time(h->since_ns),
			      waiter ? "waited_s" : "held_s", age_json(h->since_ns, now_ns),
			      "alive", h->alive != 0, "process",
			      tool_proc_state_name(h->proc_state));

	if (!waiter)
		json_object_set_new(j, "released", json_boolean(h->released != 0));
	return j;
}

static json_t *waiter_json(const prdshm_lock_info *li, size_t w, uint64_t now_ns)
{
	json_t *j = holder_json(&li->holders[w], now_ns, 1);
	json_t *wf = json_array();
	size_t idx[64];
	size_t n = tool_blockers(li, w, idx, 64);

	for (size_t k = 0; k < n && k < 64; k++)
		json_array_append_new(wf, tool_json_str(li->holders[idx[k]].agent_id));
	json_object_set_new(j, "waits_for", wf);
	return j;
}

static json_t *lock_json(const prdshm_lock_info *li, uint64_t now_ns)
{
	json_t *holders = json_array(), *waiters = json_array();
	const char *mode = prdshm_mode_name(li->mode);
	int lossy = 0;
	json_t *j;

	for (size_t i = 0; i < li->nrecords; i++) {
		if (i < li->nholders)
			json_array_append_new(holders, holder_json(&li->holders[i], now_ns, 0));
		else
			json_array_append_new(waiters, waiter_json(li, i, now_ns));
	}
	j = json_pack("{s:o, s:o, s:o, s:o}", "resource",
		      tool_json_bytes(li->resource, li->resource_len, &lossy), "mode",
		      mode ? json_string(mode) : json_null(), "holders", holders, "waiters",
		      waiters);
	/* The exact bytes when the readable form had to replace some. */
	if (j && lossy)
		json_object_set_new(j, "resource_hex", hex_of(li->resource, li->resource_len));
	return j;
}

json_t *tool_json_phase(const prdshm_phase_info *p, uint64_t now_ns)
{
	const char *status = prdshm_phase_status_name(p->status);
	uint64_t end = p->end_ns ? p->end_ns : now_ns;
	json_t *duration = json_null();
	json_t *exit_status = json_null();

	if (p->start_ns && end >= p->start_ns)
		duration = json_real((double)(end - p->start_ns) / 1e9);
	if (p->status == PRDSHM_PHASE_COMPLETED || p->status == PRDSHM_PHASE_FAILED)
		exit_status = json_integer(p->exit_status);
	return json_pack("{s:o, s:i, s:o, s:s, s:I, s:o, s:o, s:o, s:f, s:o, s:I, s:o, "
			 "s:o, s:o, s:o, s:o, s:o, s:o, s:f}",
			 "id", tool_json_str(p->id), "index", (int)p->index, "name",
			 tool_json_str(p->name ? p->name : p->id), "status",
			 status ? status : "?", "wave", (json_int_t)p->wave, "dependencies",
			 strv_json(p->deps, p->ndeps), "outputs",
			 strv_json(p->outputs, p->noutputs), "command", tool_json_str(p->command),
			 "estimated_minutes", p->estimated_minutes, "agent",
			 str_or_null(p->agent_id), "attempts", (json_int_t)p->attempts,
			 "exit_status", exit_status, "message", tool_json_str(p->message), "start",
			 tool_json_time(p->start_ns), "end", tool_json_time(p->end_ns),
			 "duration_seconds", duration, "changed_by", str_or_null(p->changed_by),
			 "changed", tool_json_time(p->changed_ns), "remaining_minutes",
			 p->remaining);
}

static json_t *wave_json(const prdshm_wave_info *w)
{
	return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:o, s:o}", "number",
			 (json_int_t)w->number, "status", w->status ? w->status : "?", "phases",
			 (json_int_t)w->nphases, "completed", (json_int_t)w->ncompleted, "failed",
			 (json_int_t)w->nfailed, "running", (json_int_t)w->nrunning, "start",
			 tool_json_time(w->start_ns), "end", tool_json_time(w->end_ns));
}

static json_t *problems_json(const tool_problems *pb)
{
	json_t *a = json_array();

	for (size_t i = 0; pb && i < pb->n; i++)
		json_array_append_new(
			a, json_pack("{s:s, s:o}", "severity", tool_severity_name(pb->v[i].severity),
				     "message", tool_json_str(pb->v[i].message)));
	return a;
}

json_t *tool_json_snapshot(const prdshm_snapshot *snap, const tool_problems *pb)
{
	json_t *agents = json_array(), *locks = json_array(), *phases = json_array(),
	       *waves = json_array();

	for (size_t i = 0; i < snap->nagents; i++)
		json_array_append_new(agents, agent_json(snap, i));
	for (size_t i = 0; i < snap->nlocks; i++)
		json_array_append_new(locks, lock_json(&snap->locks[i], snap->taken_ns));
	for (size_t i = 0; i < snap->nphases; i++)
		json_array_append_new(phases, tool_json_phase(&snap->phases[i], snap->taken_ns));
	for (size_t i = 0; i < snap->nwaves; i++)
		json_array_append_new(waves, wave_json(&snap->waves[i]));
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "segment", seg_json(snap), "agents",
			 agents, "locks", locks, "phases", phases, "waves", waves, "problems",
			 problems_json(pb));
}

void tool_json_backend(json_t *doc, const prdshm_config *cfg)
{
	json_t *seg = json_object_get(doc, "segment");
	char hosts[1024] = "", root[512] = "";

	if (seg == NULL)
		return;
	if (!tool_is_zookeeper(cfg)) {
		json_object_set_new(seg, "backend", json_string("shm"));
		return;
	}
	json_object_set_new(seg, "backend", json_string("zookeeper"));
	prdshm_config_get(cfg, "zookeeper.hosts", hosts, sizeof(hosts));
	prdshm_config_get(cfg, "zookeeper.root", root, sizeof(root));
	json_object_set_new(seg, "zookeeper",
			    json_pack("{s:o, s:o}", "hosts", tool_json_str(hosts), "root",
				      tool_json_str(root)));
}

int tool_json_print(json_t *doc, FILE *out, int compact)
{
	size_t flags = compact ? JSON_COMPACT : JSON_INDENT(2);

	if (doc == NULL || json_dumpf(doc, out, flags | JSON_PRESERVE_ORDER) != 0)
		return -1;
	if (fputc('\n', out) == EOF || fflush(out) != 0)
		return -1;
	return 0;
}
