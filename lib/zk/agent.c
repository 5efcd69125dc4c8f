/*
 * agent.c: the ZooKeeper backend's agent record, the data of a session's
 * agent znode <base>/agents/<agent_id>-<seq> (docs/zookeeper.md, "The
 * agent record"): key=value lines
 *
 *   pid=<n> uid=<n> host=<text> start=<ns> heartbeat=<ns> status=<IDLE...>
 *   parent=<text>     "<seq>:<owner>", the session it acts for (nested.c)
 *   log=<text>        one per line of the log ring, oldest first
 *
 * A <text> value has every '\' and every byte below 0x20 or 0x7f written
 * as "\xHH", so a newline in a host or log line cannot forge a key.  Only
 * the session's own process writes its record (read-modify-write checked
 * against the znode's version); anyone reads it, and any bytes may be
 * there: the parser bounds everything and says what is wrong instead.
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "zk/zk.h"

/* Read-modify-write attempts lost to a concurrent writer of the same
 * session (another thread) before giving up. */
#define RMW_TRIES 8

/* Append @p s escaped to @p buf (at @p *o, room @p size); -1 if full. */
static int put_text(char *buf, size_t size, size_t *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int esc = *p < 0x20 || *p == 0x7f || *p == '\\';

		if (*o + (esc ? 4 : 1) >= size)
			return -1;
		if (!esc) {
			buf[(*o)++] = (char)*p;
			continue;
		}
		buf[(*o)++] = '\\';
		buf[(*o)++] = 'x';
		buf[(*o)++] = hex[*p >> 4];
		buf[(*o)++] = hex[*p & 15];
	}
	return 0;
}

static int put(char *buf, size_t size, size_t *o, const char *fmt, ...) PRDSHM__PRINTF(4, 5);

static int put(char *buf, size_t size, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *o, size - *o, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *o)
		return -1;
	*o += (size_t)n;
	return 0;
}

int prdshm__zk_agent_format(const struct prdshm__zk_agent_rec *r, char *buf, size_t size)
{
	const char *status = prdshm_agent_status_name(r->status);
	size_t o = 0;
	int bad;

	bad = put(buf, size, &o, "pid=%ld\nuid=%lu\nhost=", (long)r->pid, (unsigned long)r->uid) ||
	      put_text(buf, size, &o, r->host) ||
	      put(buf, size, &o, "\nstart=%llu\nheartbeat=%llu\nstatus=%s\n",
		  (unsigned long long)r->start_ns, (unsigned long long)r->heartbeat_ns,
		  status ? status : "IDLE");
	if (!bad && r->parent[0])
		bad = put(buf, size, &o, "parent=") || put_text(buf, size, &o, r->parent) ||
		      put(buf, size, &o, "\n");
	for (uint32_t k = 0; !bad && k < r->nlog && k < PRDSHM_LOG_LINES; k++)
		bad = put(buf, size, &o, "log=") || put_text(buf, size, &o, r->log[k]) ||
		      put(buf, size, &o, "\n");
	return bad ? -1 : (int)o;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Unescape the @p len bytes at @p s into @p out (room @p size, longer
 * values cut, as a log line is cut at PRDSHM_MSG_MAX).  @return 0, -1 on
 * a bad escape or a NUL. */
static int get_text(const char *s, size_t len, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			int hi, lo;

			if (i + 3 >= len || s[i + 1] != 'x')
				return -1;
			hi = hexval(s[i + 2]);
			lo = hexval(s[i + 3]);
			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 3;
		} else if (c == '\0') {
			return -1;
		}
		if (o + 1 < size)
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* A decimal value of @p len bytes at @p s, at most @p max.  @return 0 or -1. */
static int get_num(const char *s, size_t len, unsigned long long max, unsigned long long *v)
{
	*v = 0;
	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || *v > (max - (unsigned)(s[i] - '0')) / 10)
			return -1;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return 0;
}

static int get_status(const char *s, size_t len, prdshm_agent_status *st)
{
	for (int k = PRDSHM_AGENT_IDLE; k <= PRDSHM_AGENT_DEAD; k++) {
		const char *name = prdshm_agent_status_name((prdshm_agent_status)k);

		if (name && strlen(name) == len && memcmp(name, s, len) == 0) {
			*st = (prdshm_agent_status)k;
			return 0;
		}
	}
	return -1;
}

/* One "key=value" line of @p n bytes into @p r; @p seen counts the keys.
 * @return 0, or -1 (with @p why) if malformed. */
static int parse_line(const char *line, size_t n, struct prdshm__zk_agent_rec *r,
		      unsigned *seen, char *why, size_t wsize)
{
	const char *eq = memchr(line, '=', n);
	size_t klen = eq ? (size_t)(eq - line) : n, vlen = eq ? n - klen - 1 : 0;
	const char *v = eq ? eq + 1 : "";
	unsigned long long x;
	int bad = 0;

#define KEY(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)
	if (!eq) {
		bad = 1;
	} else if (KEY("pid")) {
		bad = get_num(v, vlen, INT32_MAX, &x);
		r->pid = (int32_t)x;
		*seen |= 1;
	} else if (KEY("uid")) {
		bad = get_num(v, vlen, UINT32_MAX, &x);
		r->uid = (uint32_t)x;
	} else if (KEY("host")) {
		bad = get_text(v, vlen, r->host, sizeof(r->host));
	} else if (KEY("start")) {
		bad = get_num(v, vlen, UINT64_MAX, &x);
		r->start_ns = x;
		*seen |= 2;
	} else if (KEY("heartbeat")) {
		bad = get_num(v, vlen, UINT64_MAX, &x);
		r->heartbeat_ns = x;
	} else if (KEY("status")) {
		bad = get_status(v, vlen, &r->status);
	} else if (KEY("parent")) {
		bad = get_text(v, vlen, r->parent, sizeof(r->parent));
	} else if (KEY("log")) {
		/* A longer ring than ours keeps its newest lines. */
		if (r->nlog == PRDSHM_LOG_LINES) {
			memmove(r->log[0], r->log[1], sizeof(r->log[0]) * (PRDSHM_LOG_LINES - 1));
			r->nlog--;
		}
		bad = get_text(v, vlen, r->log[r->nlog], sizeof(r->log[0]));
		r->nlog++;
	}
	/* Any other key is a newer writer's: ignored. */
#undef KEY
	if (bad)
		snprintf(why, wsize, "bad line '%.*s'", (int)(n < 40 ? n : 40), line);
	return bad ? -1 : 0;
}

int prdshm__zk_agent_parse(const char *data, size_t len, struct prdshm__zk_agent_rec *r,
			   char *why, size_t wsize)
{
	unsigned seen = 0;
	size_t i = 0;

	memset(r, 0, sizeof(*r));
	r->status = PRDSHM_AGENT_IDLE;
	snprintf(why, wsize, "%s", "");
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (data + i)) : len - i;

		if (!nl) {
			snprintf(why, wsize, "last line not ended");
			return PRDSHM_ECORRUPT;
		}
		if (parse_line(data + i, n, r, &seen, why, wsize))
			return PRDSHM_ECORRUPT;
		i += n + 1;
	}
	if ((seen & 3) != 3) {
		snprintf(why, wsize, "no %s", seen & 1 ? "start=" : "pid=");
		return PRDSHM_ECORRUPT;
	}
	return 0;
}

/* This process's record for a new session. */
void prdshm__zk_agent_init(struct prdshm__zk_agent_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->pid = (int32_t)getpid();
	r->uid = (uint32_t)getuid();
	if (gethostname(r->host, sizeof(r->host) - 1) != 0)
		prdshm__strlcpy(r->host, "?", sizeof(r->host));
	r->host[sizeof(r->host) - 1] = '\0';
	r->start_ns = prdshm__now_real();
	r->heartbeat_ns = r->start_ns;
	r->status = PRDSHM_AGENT_IDLE;
}

/* Change the session's own record with @p edit, checked against the
 * znode's version: a concurrent write by another thread of the session
 * makes it read again.  @return 0, PRDSHM_ENOAGENT (the znode is gone: its
 * ZooKeeper session expired or the session was closed) or the error. */
static int rewrite(struct prdshm__zk_session *s,
		   void (*edit)(struct prdshm__zk_agent_rec *r, const void *arg), const void *arg)
{
	struct prdshm__zk_seg *zs = s->seg;
	struct prdshm__zk_agent_rec rec;
	char buf[PRDSHM__ZK_AGENT_MAX], why[80];
	struct Stat st;
	int err = prdshm__zk_usable(zs);

	for (int t = 0; !err && t < RMW_TRIES; t++) {
		int len = (int)sizeof(buf), rc;

		rc = prdshm__zk_get(zs, s->node, 0, buf, &len, &st);
		if (rc == ZNONODE)
			return prdshm__fail(PRDSHM_ENOAGENT, "agent %s: its znode %s is gone",
					    s->agent_id, s->node);
		if (rc != ZOK)
			return prdshm__zk_err(zs, rc, "read agent", s->node);
		/* Our own record: a bad one was scribbled by someone else, and
		 * this session's facts replace it. */
		if (len < 0 || prdshm__zk_agent_parse(buf, (size_t)len, &rec, why, sizeof(why)))
			prdshm__zk_agent_init(&rec);
		edit(&rec, arg);
		len = prdshm__zk_agent_format(&rec, buf, sizeof(buf));
		if (len >= 0) /* the session's lock metrics go with every write */
			len = prdshm__zk_metrics_format(s, buf, len, sizeof(buf));
		if (len < 0)
			return prdshm__fail(PRDSHM_EINVAL, "agent %s: record too long", s->agent_id);
		rc = zoo_set(zs->zh, s->node, buf, len, st.version);
		if (rc == ZOK)
			return 0;
		if (rc == ZNONODE)
			return prdshm__fail(PRDSHM_ENOAGENT, "agent %s: its znode %s is gone",
					    s->agent_id, s->node);
		/* A write lost with the connection is read back and made
		 * again (at worst a log line twice), as a conflict is. */
		if (rc != ZBADVERSION && !prdshm__zk_retryable(rc))
			return prdshm__zk_err(zs, rc, "write agent", s->node);
	}
	return err ? err
		   : prdshm__fail(PRDSHM_EBUSY, "agent %s: its record kept changing (%d tries)",
				  s->agent_id, RMW_TRIES);
}

static void beat(struct prdshm__zk_agent_rec *r, const void *arg)
{
	(void)arg;
	r->heartbeat_ns = prdshm__now_real();
}

static void append(struct prdshm__zk_agent_rec *r, const void *arg)
{
	if (r->nlog == PRDSHM_LOG_LINES) {
		memmove(r->log[0], r->log[1], sizeof(r->log[0]) * (PRDSHM_LOG_LINES - 1));
		r->nlog--;
	}
	prdshm__strlcpy(r->log[r->nlog++], arg, sizeof(r->log[0]));
}

int prdshm__zk_agent_heartbeat(prdshm_session *ps)
{
	struct prdshm__zk_session *s = (struct prdshm__zk_session *)(void *)ps;

	prdshm__call_begin();
	return rewrite(s, beat, NULL);
}

int prdshm__zk_agent_log(prdshm_session *ps, const char *line)
{
	struct prdshm__zk_session *s = (struct prdshm__zk_session *)(void *)ps;

	prdshm__call_begin();
	if (line == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "no log line");
	return rewrite(s, append, line);
}
#endif
