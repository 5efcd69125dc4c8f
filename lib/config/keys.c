/*
 * keys.c: the settings of a prdshm_config: the table of keys with their
 * defaults and ranges, the text of a value (parsed, checked, printed), and
 * where each value came from.
 *
 * A value never replaces one that came from a stronger origin (default <
 * file < environment < command line), so the precedence holds whatever the
 * order in which a tool applies the sources.
 */
#include <ctype.h>
#include <grp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "config/config.h"

/* Seconds whose value in milliseconds still fits an int. */
#define CAP_SECONDS (INT_MAX / 1000L)
/* deadlock_timeout_ms: at most one hour. */
#define CAP_DEADLOCK_MS 3600000L
/* Retries and attempts: more than this is a loop, not a policy. */
#define CAP_ATTEMPTS 1000L

#define KEY(field, type, lo, hi) { #field, type, offsetof(prdshm_config, field), lo, hi }
#define BKEY(name, field, type, lo, hi) \
	{ name, type, offsetof(struct prdshm__backend_cfg, field), lo, hi }
/* zookeeper.session_timeout_ms: ZooKeeper's own bounds are the server's
 * tickTime times 2 and 20; these only catch typos. */
#define MIN_ZK_SESSION_MS 100L
#define CAP_ZK_SESSION_MS 3600000L

/* In documentation order; prdshm_config_keys() lists them in this order. */
const struct key_def prdshm__keys[] = {
	KEY(max_parallel_agents, KEY_INT, 1, CAP_AGENTS),
	KEY(lock_timeout_seconds, KEY_INT, 0, CAP_SECONDS),
	KEY(wave_delay_seconds, KEY_INT, 0, CAP_SECONDS),
	KEY(conflict_retry_attempts, KEY_INT, 0, CAP_ATTEMPTS),
	KEY(monitoring_update_interval, KEY_INT, 1, 86400),
	KEY(scheduling, KEY_SCHED, 0, 1),
	KEY(phase_max_attempts, KEY_INT, 1, CAP_ATTEMPTS),
	KEY(deadlock_timeout_ms, KEY_INT, 0, CAP_DEADLOCK_MS),
	KEY(shm_name, KEY_SHM_NAME, 0, 0),
	KEY(shm_mode, KEY_SHM_MODE, 0, 0777),
	KEY(shm_group, KEY_SHM_GROUP, 0, 0),
	KEY(max_locks, KEY_INT, 1, CAP_LOCKS),
	KEY(max_phases, KEY_INT, 1, CAP_PHASES),
	KEY(max_agents, KEY_INT, 1, CAP_AGENTS),
	BKEY("backend", backend, KEY_BACKEND, 0, 1),
	BKEY("zookeeper.hosts", zk_hosts, KEY_ZK_TEXT, 0, PRDSHM__ZK_HOSTS_MAX),
	BKEY("zookeeper.root", zk_root, KEY_ZK_TEXT, 0, PRDSHM__ZK_ROOT_MAX),
	BKEY("zookeeper.session_timeout_ms", zk_session_timeout_ms, KEY_ZK_INT,
	     MIN_ZK_SESSION_MS, CAP_ZK_SESSION_MS),
	BKEY("zookeeper.auth_file", zk_auth_file, KEY_ZK_TEXT, 0, PRDSHM__ZK_AUTH_FILE_MAX),
};

static const char *const key_names[] = {
	"max_parallel_agents", "lock_timeout_seconds", "wave_delay_seconds",
	"conflict_retry_attempts", "monitoring_update_interval", "scheduling",
	"phase_max_attempts", "deadlock_timeout_ms", "shm_name", "shm_mode",
	"shm_group", "max_locks", "max_phases", "max_agents", "backend", "zookeeper.hosts",
	"zookeeper.root", "zookeeper.session_timeout_ms", "zookeeper.auth_file", NULL,
};

_Static_assert(PRDSHM__ARRAY_SIZE(key_names) == NKEYS + 1, "key_names must list every key");

/* ------------------------------------------------------------------------ */
/* Keys and values                                                          */

int prdshm__find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(prdshm__keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int *int_field(prdshm_config *cfg, const struct key_def *k)
{
	return (int *)(void *)((char *)cfg + k->off);
}

static const int *int_field_c(const prdshm_config *cfg, const struct key_def *k)
{
	return (const int *)(const void *)((const char *)cfg + k->off);
}

/* "PRD_PARALLEL_MAX_LOCKS" for "max_locks", "PRD_PARALLEL_ZOOKEEPER_HOSTS"
 * for "zookeeper.hosts". */
void prdshm__env_name(const struct key_def *k, char *buf, size_t size)
{
	size_t n = strlen(ENV_PREFIX);

	snprintf(buf, size, "%s%s", ENV_PREFIX, k->name);
	for (size_t i = n; buf[i]; i++)
		buf[i] = buf[i] == '.' ? '_' : (char)toupper((unsigned char)buf[i]);
}

/* Decimal digits with an optional sign: strtol alone would take " 12" and "12abc". */
static int parse_long(const char *s, long *out, int *overflow)
{
	const char *p = s;
	char *end;

	*overflow = 0;
	if (*p == '-' || *p == '+')
		p++;
	if (!isdigit((unsigned char)*p))
		return -1;
	errno = 0;
	*out = strtol(s, &end, 10);
	if (*end != '\0')
		return -1;
	if (errno == ERANGE)
		*overflow = 1;
	return 0;
}

static int parse_int_value(const struct key_def *k, const struct setting *s, struct kval *v,
			   prdshm_diag *diag)
{
	int overflow;

	if (parse_long(s->text, &v->n, &overflow) < 0)
		return prdshm__diag_fail(diag, &s->at, PRDSHM_ECONFIG,
					 "%s: expected an integer, got '%.64s'", k->name, s->text);
	if (overflow)
		return prdshm__diag_fail(diag, &s->at, PRDSHM_ECONFIG,
					 "%s: %.64s is out of range (%ld..%ld)", k->name, s->text,
					 k->min, k->max);
	return 0;
}

static int parse_sched(const struct key_def *k, const struct setting *s, struct kval *v,
		       prdshm_diag *diag)
{
	if (strcmp(s->text, "waves") == 0)
		v->n = PRDSHM_SCHED_WAVES;
	else if (strcmp(s->text, "eager") == 0)
		v->n = PRDSHM_SCHED_EAGER;
	else
		return prdshm__diag_fail(diag, &s->at, PRDSHM_ECONFIG,
					 "%s: expected 'waves' or 'eager', got '%.64s'", k->name,
					 s->text);
	return 0;
}

/* Explicit octal only: "0600" or YAML 1.2's "0o600".  Not chmod(1)'s
 * "600": YAML 1.2 reads 777 as a decimal number, YAML 1.1 0777 as octal,
 * so a mode without its leading 0 means different things to different
 * readers of the same file. */
static int parse_mode(const struct key_def *k, const struct setting *s, struct kval *v,
		      prdshm_diag *diag)
{
	const char *p = s->text;

	if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
		p += 2;
	if (*p == '\0' || strspn(p, "01234567") != strlen(p))
		return prdshm__diag_fail(diag, &s->at, PRDSHM_ECONFIG,
					 "%s: expected an octal mode such as 0600, got '%.64s'",
					 k->name, s->text);
	if (s->text[0] != '0')
		return prdshm__diag_fail(diag, &s->at, PRDSHM_ECONFIG,
					 "%s: write the mode in octal with a leading 0, such as "
					 "0%.12s, not '%.64s' (a number without it is decimal "
					 "in YAML 1.2)",
					 k->name, s->text, s->text);
	/* Twelve octal digits cannot overflow a long; more is out of range anyway. */
	if (strlen(p) > 12)
		return prdshm__diag_fail(diag, &s->at, PRDSHM_ECONFIG,
					 "%s: %.64s is not within 0777", k->name, s->text);
	v->n = strtol(p, NULL, 8);
	return 0;
}

static int parse_shm_name(const struct key_def *k, const struct setting *s, struct kval *v,
			  prdshm_diag *diag)
{
	size_t max = k->type == KEY_SHM_GROUP ? PRDSHM_GROUP_MAX : PRDSHM_SHM_NAME_MAX;

	if (s->len > max)
		return prdshm__diag_fail(diag, &s->at, PRDSHM_ECONFIG,
					 "%s: '%.64s...' is longer than %zu bytes", k->name,
					 s->text, max);
	memcpy(v->name, s->text, s->len + 1);
	return 0;
}

/* Why @p group cannot be the sharing group, or NULL if it can: a group of
 * this system, by name or number ("" is none). */
static const char *shm_group_problem(const char *group)
{
	struct group gr, *found = NULL;
	char buf[4096], *end;

	if (group[0] == '\0')
		return NULL;
	(void)strtoul(group, &end, 10);
	if (*end == '\0' && isdigit((unsigned char)group[0]))
		return NULL;
	if (getgrnam_r(group, &gr, buf, sizeof(buf), &found) != 0 || found == NULL)
		return "is not a group on this system";
	return NULL;
}

/* Why @p name cannot name a segment, or NULL if it can. */
static const char *shm_name_problem(const char *name)
{
	size_t n = strlen(name);

	if (name[0] != '/')
		return "must start with '/'";
	if (n < 2)
		return "needs a name after the '/'";
	if (n > PRDSHM_SHM_NAME_MAX)
		return "is longer than 255 bytes";
	if (strchr(name + 1, '/'))
		return "must not contain a second '/'";
	if (strcmp(name, "/.") == 0 || strcmp(name, "/..") == 0)
		return "must not be '.' or '..'";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return "must not contain control characters";
	return NULL;
}

/* The per-key rules, shared by parsing and prdshm_config_validate(). */
int prdshm__check_value(const struct key_def *k, const struct kval *v, const struct where *at,
			prdshm_diag *diag)
{
	const char *why;

	switch (k->type) {
	case KEY_BACKEND:
	case KEY_ZK_TEXT:
	case KEY_ZK_INT:
		return prdshm__check_backend_key(k, v, at, diag);
	case KEY_SHM_NAME:
	case KEY_SHM_GROUP:
		why = k->type == KEY_SHM_NAME ? shm_name_problem(v->name)
					      : shm_group_problem(v->name);
		if (why)
			return prdshm__diag_fail(diag, at, PRDSHM_ECONFIG, "%s: '%.64s' %s",
						 k->name, v->name, why);
		return 0;
	case KEY_SHM_MODE:
		if (v->n < 0 || v->n > k->max)
			return prdshm__diag_fail(diag, at, PRDSHM_ECONFIG,
						 "%s: 0%lo is not within 0777", k->name,
						 (unsigned long)v->n);
		if ((v->n & 0600) != 0600)
			return prdshm__diag_fail(diag, at, PRDSHM_ECONFIG,
						 "%s: 0%03lo must give the owner read and "
						 "write (0600)",
						 k->name, (unsigned long)v->n);
		/* Whoever can write the segment can plant the commands agents
		 * run (docs/reliability.md, "Threat model"). */
		if (v->n & 0007)
			return prdshm__diag_fail(diag, at, PRDSHM_ECONFIG,
						 "%s: 0%03lo lets every user %s the segment; "
						 "never allowed (share it with a group: "
						 "shm_group and 0660)",
						 k->name, (unsigned long)v->n,
						 (v->n & 0002) ? "write" : "open");
		return 0;
	case KEY_SCHED:
	case KEY_INT:
		break;
	}
	if (v->n < k->min || v->n > k->max)
		return prdshm__diag_fail(diag, at, PRDSHM_ECONFIG,
					 "%s: %ld is out of range (%ld..%ld)", k->name, v->n,
					 k->min, k->max);
	return 0;
}

static int parse_value(const struct key_def *k, const struct setting *s, struct kval *v,
		       prdshm_diag *diag)
{
	int err;

	/* An empty shm_group says "no sharing group", an empty
	 * zookeeper.auth_file "no credentials"; every other key needs a value. */
	if (s->len == 0 && k->type != KEY_SHM_GROUP && strcmp(k->name, "zookeeper.auth_file") != 0)
		return prdshm__diag_fail(diag, &s->at, PRDSHM_ECONFIG, "%s: empty value", k->name);
	if (strlen(s->text) != s->len)
		return prdshm__diag_fail(diag, &s->at, PRDSHM_ECONFIG,
					 "%s: the value holds a NUL byte", k->name);
	switch (k->type) {
	case KEY_INT:
		err = parse_int_value(k, s, v, diag);
		break;
	case KEY_SCHED:
		err = parse_sched(k, s, v, diag);
		break;
	case KEY_SHM_MODE:
		err = parse_mode(k, s, v, diag);
		break;
	case KEY_BACKEND:
	case KEY_ZK_TEXT:
		err = prdshm__parse_backend_key(k, s, v, diag);
		break;
	case KEY_ZK_INT:
		err = parse_int_value(k, s, v, diag);
		break;
	case KEY_SHM_NAME:
	case KEY_SHM_GROUP:
	default:
		err = parse_shm_name(k, s, v, diag);
		break;
	}
	if (err)
		return err;
	return prdshm__check_value(k, v, &s->at, diag);
}

void prdshm__get_kval(const prdshm_config *cfg, const struct key_def *k, struct kval *v)
{
	switch (k->type) {
	case KEY_BACKEND:
	case KEY_ZK_TEXT:
	case KEY_ZK_INT:
		prdshm__get_backend_key(cfg, k, v);
		break;
	case KEY_SHM_NAME:
		prdshm__strlcpy(v->name, cfg->shm_name, sizeof(v->name));
		break;
	case KEY_SHM_GROUP:
		prdshm__strlcpy(v->name, cfg->shm_group, sizeof(v->name));
		break;
	case KEY_SHM_MODE:
		v->n = (long)cfg->shm_mode;
		break;
	case KEY_SCHED:
		v->n = (long)cfg->scheduling;
		break;
	case KEY_INT:
		v->n = *int_field_c(cfg, k);
		break;
	}
}

static void put_kval(prdshm_config *cfg, const struct key_def *k, const struct kval *v)
{
	switch (k->type) {
	case KEY_BACKEND:
	case KEY_ZK_TEXT:
	case KEY_ZK_INT:
		prdshm__put_backend_key(cfg, k, v);
		break;
	case KEY_SHM_NAME:
		prdshm__strlcpy(cfg->shm_name, v->name, sizeof(cfg->shm_name));
		break;
	case KEY_SHM_GROUP:
		prdshm__strlcpy(cfg->shm_group, v->name, sizeof(cfg->shm_group));
		break;
	case KEY_SHM_MODE:
		cfg->shm_mode = (unsigned)v->n;
		break;
	case KEY_SCHED:
		cfg->scheduling = (prdshm_scheduling)v->n;
		break;
	case KEY_INT:
		*int_field(cfg, k) = (int)v->n;
		break;
	}
}

static int ensure_src(prdshm_config *cfg)
{
	if (cfg->src_)
		return 0;
	cfg->src_ = calloc(1, sizeof(*cfg->src_));
	if (!cfg->src_)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	prdshm__backend_defaults(&cfg->src_->be);
	return 0;
}

/* Parse, check and store one value unless a stronger origin set it already. */
int prdshm__set_key(prdshm_config *cfg, int ki, const struct setting *s, prdshm_diag *diag)
{
	const struct key_def *k = &prdshm__keys[ki];
	struct kval v;
	struct origin_rec *rec;
	int err;

	err = parse_value(k, s, &v, diag);
	if (err)
		return err;
	err = ensure_src(cfg);
	if (err)
		return err;
	rec = &cfg->src_->key[ki];
	if (s->origin < rec->origin)
		return 0;
	put_kval(cfg, k, &v);
	rec->origin = s->origin;
	rec->line = s->line;
	rec->column = s->column;
	rec->vline = s->line ? s->at.line : 0;
	rec->vcolumn = s->line ? s->at.column : 0;
	return 0;
}

/* Where a key's current value came from, as a diagnostic position: the
 * value itself when it came from a file. */
void prdshm__key_where(const prdshm_config *cfg, int ki, struct where *at, char *buf, size_t size)
{
	const struct origin_rec *rec = cfg->src_ ? &cfg->src_->key[ki] : NULL;

	at->line = 0;
	at->column = 0;
	at->file = "(configuration)";
	if (!rec)
		return;
	switch (rec->origin) {
	case PRDSHM_FROM_FILE:
		at->file = cfg->path_ ? cfg->path_ : "(file)";
		at->line = rec->vline > 0 ? rec->vline : rec->line;
		at->column = rec->vline > 0 ? rec->vcolumn : rec->column;
		break;
	case PRDSHM_FROM_ENV:
		prdshm__env_name(&prdshm__keys[ki], buf, size);
		at->file = buf;
		break;
	case PRDSHM_FROM_CMDLINE:
		at->file = "command line";
		break;
	case PRDSHM_FROM_DEFAULT:
		break;
	}
}

/* Fill all of @p cfg, this library's prdshm_config, with the defaults. */
void prdshm__config_defaults(prdshm_config *cfg)
{
	/* No allocation: src_ == NULL means every value is a default. */
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	cfg->max_parallel_agents = 3;
	cfg->lock_timeout_seconds = 300;
	cfg->wave_delay_seconds = 5;
	cfg->conflict_retry_attempts = 3;
	cfg->monitoring_update_interval = 2;
	cfg->scheduling = PRDSHM_SCHED_WAVES;
	cfg->phase_max_attempts = 1;
	cfg->deadlock_timeout_ms = 500;
	prdshm__strlcpy(cfg->shm_name, "/prdpar", sizeof(cfg->shm_name));
	cfg->shm_mode = 0600;
	cfg->max_locks = 1024;
	cfg->max_phases = 256;
	cfg->max_agents = 64;
}

/* ------------------------------------------------------------------------ */
/* Setting and reporting                                                    */

/* The diagnostic file of a value set by hand: the origin's usual name. */
static const char *set_file(const prdshm_config *cfg, prdshm_origin origin)
{
	if (origin == PRDSHM_FROM_CMDLINE)
		return "command line";
	if (origin == PRDSHM_FROM_FILE && cfg->path_)
		return cfg->path_;
	return "(configuration)";
}

int prdshm_config_set(prdshm_config *cfg, const char *key, const char *value,
		      prdshm_origin origin, prdshm_diag *diag)
{
	prdshm_diag dummy;
	char buf[sizeof(ENV_PREFIX) + KEY_TEXT_MAX];
	struct setting s = { 0 };
	int ki;

	prdshm__call_begin();
	int err = prdshm__diag_begin(&diag, &dummy, "prdshm_config_set");

	if (err)
		return err;
	if (!cfg || !key || !value || origin < PRDSHM_FROM_DEFAULT || origin > PRDSHM_FROM_CMDLINE)
		return prdshm__fail(PRDSHM_EINVAL, "config_set: invalid argument");
	err = prdshm__config_ok(cfg, "prdshm_config_set");
	if (err)
		return err;
	s.text = value;
	s.len = strlen(value);
	s.origin = origin;
	s.at.file = set_file(cfg, origin);
	ki = prdshm__find_key(key);
	if (ki < 0)
		return prdshm__unknown_key(diag, &s.at, "key", key, key_names);
	if (origin == PRDSHM_FROM_ENV) {
		prdshm__env_name(&prdshm__keys[ki], buf, sizeof(buf));
		s.at.file = buf;
	}
	return prdshm__set_key(cfg, ki, &s, diag);
}

prdshm_origin prdshm_config_origin(const prdshm_config *cfg, const char *key, int *line,
				   int *column)
{
	const struct origin_rec *rec = NULL;
	int ki = key ? prdshm__find_key(key) : -1;

	/* Not a configuration: its src_ cannot be trusted. */
	if (cfg && prdshm__config_ok(cfg, "prdshm_config_origin") != 0)
		cfg = NULL;
	if (cfg && cfg->src_ && ki >= 0)
		rec = &cfg->src_->key[ki];
	else if (cfg && cfg->src_ && key && strcmp(key, "phases") == 0)
		rec = &cfg->src_->phases;
	if (line)
		*line = rec ? rec->line : 0;
	if (column)
		*column = rec ? rec->column : 0;
	return rec ? rec->origin : PRDSHM_FROM_DEFAULT;
}

const char *const *prdshm_config_keys(void)
{
	return key_names;
}

int prdshm_config_get(const prdshm_config *cfg, const char *key, char *buf, size_t size)
{
	int ki = key ? prdshm__find_key(key) : -1;
	const struct key_def *k;
	int n;

	prdshm__call_begin();
	if (!cfg || ki < 0 || !buf || size == 0)
		return prdshm__fail(PRDSHM_EINVAL, "config_get: unknown key '%s'",
				    key ? key : "(null)");
	if (prdshm__config_ok(cfg, "prdshm_config_get") != 0)
		return PRDSHM_EINVAL;
	k = &prdshm__keys[ki];
	switch (k->type) {
	case KEY_BACKEND:
	case KEY_ZK_TEXT:
	case KEY_ZK_INT:
		n = prdshm__format_backend_key(cfg, k, buf, size);
		break;
	case KEY_SHM_NAME:
		n = snprintf(buf, size, "%s", cfg->shm_name);
		break;
	case KEY_SHM_GROUP:
		n = snprintf(buf, size, "%s", cfg->shm_group);
		break;
	case KEY_SHM_MODE:
		n = snprintf(buf, size, "0%03o", cfg->shm_mode);
		break;
	case KEY_SCHED:
		n = snprintf(buf, size, "%s",
			     cfg->scheduling == PRDSHM_SCHED_EAGER ? "eager" : "waves");
		break;
	case KEY_INT:
	default:
		n = snprintf(buf, size, "%d", *int_field_c(cfg, k));
		break;
	}
	if (n < 0 || (size_t)n >= size)
		return prdshm__fail(PRDSHM_EINVAL, "config_get: buffer too small for '%s'", key);
	return 0;
}
