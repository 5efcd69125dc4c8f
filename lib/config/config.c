/*
 * config.c: the configuration: built-in defaults, prdpar.yaml (read with
 * libyaml's event parser), PRD_PARALLEL_<KEY> environment variables and the
 * tools' command-line options, in that order of precedence.
 *
 * Every change is staged: a file or the environment is applied to a
 * temporary copy that replaces the caller's configuration only when all of it
 * is valid, so a bad input never leaves half its values behind.
 *
 * A value never replaces one that came from a stronger origin (default <
 * file < environment < command line), so the precedence holds whatever the
 * order in which a tool applies the sources.
 */
#include <ctype.h>
#include <grp.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "base/abi.h"
#include "base/util.h"

/*
 * Caps on the segment's limits.  The segment holds one record per lock, per
 * phase and per agent, so its size grows linearly with each limit; these caps
 * keep it to a size a 64-bit machine maps comfortably, and a value above them
 * is almost certainly a typo:
 *   max_locks  <= 4,000,000
 *   max_phases <= 100,000
 *   max_agents <= 4,096
 */
#define CAP_LOCKS 4000000L
#define CAP_PHASES 100000L
#define CAP_AGENTS 4096L
/* Seconds whose value in milliseconds still fits an int. */
#define CAP_SECONDS (INT_MAX / 1000L)
/* deadlock_timeout_ms: at most one hour. */
#define CAP_DEADLOCK_MS 3600000L
/* Retries and attempts: more than this is a loop, not a policy. */
#define CAP_ATTEMPTS 1000L
/* estimated_time: at most about 1900 years, in minutes. */
#define CAP_MINUTES 1e9

#define ENV_PREFIX "PRD_PARALLEL_"
/* A configuration file larger than this is not one. */
#define CAP_FILE_BYTES (64L << 20)
/* Keys longer than this are unknown anyway; they are shortened in messages. */
#define KEY_TEXT_MAX 64

enum key_type { KEY_INT, KEY_SCHED, KEY_SHM_NAME, KEY_SHM_MODE, KEY_SHM_GROUP };

struct key_def {
	const char *name;
	enum key_type type;
	size_t off; /* offset of the field in prdshm_config */
	long min, max;
};

#define KEY(field, type, lo, hi) { #field, type, offsetof(prdshm_config, field), lo, hi }

/* In documentation order; prdshm_config_keys() lists them in this order. */
static const struct key_def keys[] = {
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
};
#define NKEYS PRDSHM__ARRAY_SIZE(keys)

static const char *const key_names[] = {
	"max_parallel_agents", "lock_timeout_seconds", "wave_delay_seconds",
	"conflict_retry_attempts", "monitoring_update_interval", "scheduling",
	"phase_max_attempts", "deadlock_timeout_ms", "shm_name", "shm_mode",
	"shm_group", "max_locks", "max_phases", "max_agents", NULL,
};

/* The keys a top-level mapping may hold: the settings and the plan. */
static const char *const top_names[] = {
	"max_parallel_agents", "lock_timeout_seconds", "wave_delay_seconds",
	"conflict_retry_attempts", "monitoring_update_interval", "scheduling",
	"phase_max_attempts", "deadlock_timeout_ms", "shm_name", "shm_mode",
	"shm_group", "max_locks", "max_phases", "max_agents", "phases", NULL,
};

_Static_assert(PRDSHM__ARRAY_SIZE(key_names) == NKEYS + 1, "key_names must list every key");
_Static_assert(PRDSHM__ARRAY_SIZE(top_names) == NKEYS + 2, "top_names: every key and phases");

enum phase_key { PK_ID, PK_NAME, PK_DEPS, PK_OUTPUTS, PK_ESTIMATE, PK_COMMAND, PK_N };

static const char *const phase_names[] = {
	"id", "name", "dependencies", "outputs", "estimated_time", "command", NULL,
};

/* Where one value came from. */
struct origin_rec {
	prdshm_origin origin;
	int line, column; /* of the key, when from a file */
	int vline, vcolumn; /* of the value, when from a file: where errors point */
};

/* Private to this file: referenced by prdshm_config.src_ (NULL: all defaults). */
struct prdshm__config_src {
	struct origin_rec key[NKEYS];
	struct origin_rec phases;
};

/* Where a diagnostic points. */
struct where {
	const char *file;
	int line, column;
};

/* One value to set, with where it comes from. */
struct setting {
	const char *text;
	size_t len;
	prdshm_origin origin;
	struct where at; /* the value: where errors point */
	int line, column; /* the key: recorded as the origin */
};

/* A value in its parsed form. */
struct kval {
	long n; /* KEY_INT, KEY_SCHED, KEY_SHM_MODE */
	char name[PRDSHM_SHM_NAME_MAX + 1]; /* KEY_SHM_NAME, KEY_SHM_GROUP */
};

/* ------------------------------------------------------------------------ */
/* Diagnostics                                                              */

static int diag_fail(prdshm_diag *diag, const struct where *at, int err, const char *fmt, ...)
	PRDSHM__PRINTF(4, 5);

/* Fill @p diag, record the message for prdshm_last_error() and return @p err. */
static int diag_fail(prdshm_diag *diag, const struct where *at, int err, const char *fmt, ...)
{
	va_list ap;

	prdshm__strlcpy(diag->file, at->file, sizeof(diag->file));
	diag->line = at->line;
	diag->column = at->column;
	va_start(ap, fmt);
	vsnprintf(diag->msg, sizeof(diag->msg), fmt, ap);
	va_end(ap);
	if (diag->line > 0)
		return prdshm__fail(err, "%s:%d:%d: %s", diag->file, diag->line, diag->column,
				    diag->msg);
	return prdshm__fail(err, "%s: %s", diag->file, diag->msg);
}

/* Empty the caller's @p diag: its struct_size bytes only (see "ABI" in
 * prdshm.h). */
static void diag_clear(prdshm_diag *diag)
{
	prdshm__abi_clear(diag);
}

/*
 * The start of every function that reports in a diag: a NULL *diag becomes
 * @p dummy, the caller's diag is checked to be at least a 1.0 prdshm_diag
 * and cleared.  @return 0 or PRDSHM_EINVAL (nothing written).
 */
static int diag_begin(prdshm_diag **diag, prdshm_diag *dummy, const char *fn)
{
	int err;

	if (!*diag) {
		memset(dummy, 0, sizeof(*dummy));
		dummy->struct_size = sizeof(*dummy);
		*diag = dummy;
	}
	err = prdshm__abi_check(*diag, PRDSHM_DIAG_SIZE_1_0, "prdshm_diag", fn);
	if (!err)
		diag_clear(*diag);
	return err;
}

/* 0 if @p cfg is at least a 1.0 prdshm_config, else PRDSHM_EINVAL. */
static int config_ok(const prdshm_config *cfg, const char *fn)
{
	return prdshm__abi_check(cfg, PRDSHM_CONFIG_SIZE_1_0, "prdshm_config", fn);
}

/* The edit distance of two short words; large when either is long. */
static size_t levenshtein(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[KEY_TEXT_MAX + 1];

	if (la > KEY_TEXT_MAX || lb > KEY_TEXT_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag_prev = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag_prev + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag_prev = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* The closest of @p names to @p word if within 2 edits, else NULL. */
static const char *suggest(const char *word, const char *const *names)
{
	const char *best = NULL;
	size_t best_d = 3;

	for (size_t i = 0; names[i]; i++) {
		size_t d = levenshtein(word, names[i]);

		if (d < best_d) {
			best_d = d;
			best = names[i];
		}
	}
	return best;
}

static int unknown_key(prdshm_diag *diag, const struct where *at, const char *what,
		       const char *word, const char *const *names)
{
	const char *s = suggest(word, names);

	if (s)
		return diag_fail(diag, at, PRDSHM_ECONFIG, "unknown %s '%.*s' (did you mean '%s'?)",
				 what, KEY_TEXT_MAX, word, s);
	return diag_fail(diag, at, PRDSHM_ECONFIG, "unknown %s '%.*s'", what, KEY_TEXT_MAX, word);
}

/* ------------------------------------------------------------------------ */
/* Keys and values                                                          */

static int find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
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

/* "PRD_PARALLEL_MAX_LOCKS" for "max_locks". */
static void env_name(const struct key_def *k, char *buf, size_t size)
{
	size_t n = strlen(ENV_PREFIX);

	snprintf(buf, size, "%s%s", ENV_PREFIX, k->name);
	for (size_t i = n; buf[i]; i++)
		buf[i] = (char)toupper((unsigned char)buf[i]);
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
		return diag_fail(diag, &s->at, PRDSHM_ECONFIG,
				 "%s: expected an integer, got '%.64s'", k->name, s->text);
	if (overflow)
		return diag_fail(diag, &s->at, PRDSHM_ECONFIG,
				 "%s: %.64s is out of range (%ld..%ld)", k->name, s->text, k->min,
				 k->max);
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
		return diag_fail(diag, &s->at, PRDSHM_ECONFIG,
				 "%s: expected 'waves' or 'eager', got '%.64s'", k->name, s->text);
	return 0;
}

/* Octal like chmod(1): "0600", "600" or YAML 1.2's "0o600". */
static int parse_mode(const struct key_def *k, const struct setting *s, struct kval *v,
		      prdshm_diag *diag)
{
	const char *p = s->text;

	if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
		p += 2;
	if (*p == '\0' || strspn(p, "01234567") != strlen(p))
		return diag_fail(diag, &s->at, PRDSHM_ECONFIG,
				 "%s: expected an octal mode such as 0600, got '%.64s'", k->name,
				 s->text);
	/* Twelve octal digits cannot overflow a long; more is out of range anyway. */
	if (strlen(p) > 12)
		return diag_fail(diag, &s->at, PRDSHM_ECONFIG, "%s: %.64s is not within 0777",
				 k->name, s->text);
	v->n = strtol(p, NULL, 8);
	return 0;
}

static int parse_shm_name(const struct key_def *k, const struct setting *s, struct kval *v,
			  prdshm_diag *diag)
{
	size_t max = k->type == KEY_SHM_GROUP ? PRDSHM_GROUP_MAX : PRDSHM_SHM_NAME_MAX;

	if (s->len > max)
		return diag_fail(diag, &s->at, PRDSHM_ECONFIG,
				 "%s: '%.64s...' is longer than %zu bytes", k->name, s->text, max);
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
static int check_value(const struct key_def *k, const struct kval *v, const struct where *at,
		       prdshm_diag *diag)
{
	const char *why;

	switch (k->type) {
	case KEY_SHM_NAME:
	case KEY_SHM_GROUP:
		why = k->type == KEY_SHM_NAME ? shm_name_problem(v->name)
					      : shm_group_problem(v->name);
		if (why)
			return diag_fail(diag, at, PRDSHM_ECONFIG, "%s: '%.64s' %s", k->name,
					 v->name, why);
		return 0;
	case KEY_SHM_MODE:
		if (v->n < 0 || v->n > k->max)
			return diag_fail(diag, at, PRDSHM_ECONFIG, "%s: 0%lo is not within 0777",
					 k->name, (unsigned long)v->n);
		if ((v->n & 0600) != 0600)
			return diag_fail(diag, at, PRDSHM_ECONFIG,
					 "%s: 0%03lo must give the owner read and write (0600)",
					 k->name, (unsigned long)v->n);
		/* Whoever can write the segment can plant the commands agents
		 * run (docs/reliability.md, "Threat model"). */
		if (v->n & 0007)
			return diag_fail(diag, at, PRDSHM_ECONFIG,
					 "%s: 0%03lo lets every user %s the segment; never "
					 "allowed (share it with a group: shm_group and 0660)",
					 k->name, (unsigned long)v->n,
					 (v->n & 0002) ? "write" : "open");
		return 0;
	case KEY_SCHED:
	case KEY_INT:
		break;
	}
	if (v->n < k->min || v->n > k->max)
		return diag_fail(diag, at, PRDSHM_ECONFIG, "%s: %ld is out of range (%ld..%ld)",
				 k->name, v->n, k->min, k->max);
	return 0;
}

static int parse_value(const struct key_def *k, const struct setting *s, struct kval *v,
		       prdshm_diag *diag)
{
	int err;

	/* An empty shm_group says "no sharing group"; every other key needs a value. */
	if (s->len == 0 && k->type != KEY_SHM_GROUP)
		return diag_fail(diag, &s->at, PRDSHM_ECONFIG, "%s: empty value", k->name);
	if (strlen(s->text) != s->len)
		return diag_fail(diag, &s->at, PRDSHM_ECONFIG, "%s: the value holds a NUL byte",
				 k->name);
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
	case KEY_SHM_NAME:
	case KEY_SHM_GROUP:
	default:
		err = parse_shm_name(k, s, v, diag);
		break;
	}
	if (err)
		return err;
	return check_value(k, v, &s->at, diag);
}

static void get_kval(const prdshm_config *cfg, const struct key_def *k, struct kval *v)
{
	switch (k->type) {
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
	return 0;
}

/* Parse, check and store one value unless a stronger origin set it already. */
static int set_key(prdshm_config *cfg, int ki, const struct setting *s, prdshm_diag *diag)
{
	const struct key_def *k = &keys[ki];
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
static void key_where(const prdshm_config *cfg, int ki, struct where *at, char *buf, size_t size)
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
		env_name(&keys[ki], buf, size);
		at->file = buf;
		break;
	case PRDSHM_FROM_CMDLINE:
		at->file = "command line";
		break;
	case PRDSHM_FROM_DEFAULT:
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                               */

/* Fill all of @p cfg, this library's prdshm_config, with the defaults. */
static void config_defaults(prdshm_config *cfg)
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

/* prdshm_config_init_size() without touching prdshm_last_error(): also
 * what prdshm_config_free() leaves behind, after a failure it must not
 * hide. */
static int config_init(prdshm_config *cfg, size_t size)
{
	prdshm_config full;

	if (!cfg)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_config_init_size: no configuration");
	if (size < PRDSHM_CONFIG_SIZE_1_0 || size > PRDSHM_STRUCT_SIZE_MAX)
		return prdshm__fail(PRDSHM_EINVAL,
				    "prdshm_config_init_size: %zu bytes is not the size of any "
				    "prdshm_config (at least %zu)",
				    size, (size_t)PRDSHM_CONFIG_SIZE_1_0);
	config_defaults(&full);
	/* Only the caller's bytes: it may know a shorter prdshm_config. */
	cfg->struct_size = (uint32_t)size;
	prdshm__abi_copy_out(cfg, &full, sizeof(full));
	return 0;
}

int prdshm_config_init_size(prdshm_config *cfg, size_t size)
{
	prdshm__call_begin();
	return config_init(cfg, size);
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_phases(prdshm_phase_def *phases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		prdshm_phase_def *p = &phases[i];

		free(p->id);
		free(p->name);
		free_strv(p->deps, p->ndeps);
		free(p->deps_at);
		free_strv(p->outputs, p->noutputs);
		free(p->command);
	}
	free(phases);
}

void prdshm_config_free(prdshm_config *cfg)
{
	/* A configuration that was never initialised owns nothing we can
	 * trust: leave it alone. */
	if (!cfg || config_ok(cfg, "prdshm_config_free") != 0)
		return;
	free_phases(cfg->phases, cfg->nphases);
	free(cfg->src_);
	free(cfg->path_);
	/* Leave defaults behind so that a second free or a reuse is harmless. */
	config_init(cfg, cfg->struct_size);
}

/*
 * Copy the fields of @p src into @p dst, each keeping its struct_size: only
 * the bytes both have are read and written, for the caller's configuration
 * may be shorter than this library's (see "ABI" in prdshm.h).
 */
static void config_copy(prdshm_config *dst, const prdshm_config *src)
{
	const size_t skip = sizeof(src->struct_size);
	size_t n = sizeof(*dst);

	if (dst->struct_size < n)
		n = dst->struct_size;
	if (src->struct_size < n)
		n = src->struct_size;
	memcpy((char *)dst + skip, (const char *)src + skip, n - skip);
}

/*
 * Start a staged change: @p tmp gets @p cfg's values and a copy of its
 * origins, but no phases and no path, which stay with @p cfg until commit.
 */
static int stage_begin(prdshm_config *tmp, const prdshm_config *cfg)
{
	config_defaults(tmp);
	config_copy(tmp, cfg);
	tmp->phases = NULL;
	tmp->nphases = 0;
	tmp->path_ = NULL;
	tmp->src_ = calloc(1, sizeof(*tmp->src_));
	if (!tmp->src_)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	if (cfg->src_)
		*tmp->src_ = *cfg->src_;
	return 0;
}

/* Make a staged change effective; @p tmp no longer owns anything. */
static void stage_commit(prdshm_config *cfg, prdshm_config *tmp, int take_phases)
{
	prdshm_config old;

	config_defaults(&old);
	config_copy(&old, cfg);
	config_copy(cfg, tmp);
	if (!take_phases) {
		cfg->phases = old.phases;
		cfg->nphases = old.nphases;
		old.phases = NULL;
		old.nphases = 0;
	}
	if (!cfg->path_) {
		cfg->path_ = old.path_;
		old.path_ = NULL;
	}
	prdshm_config_free(&old);
	config_defaults(tmp);
}

/* ------------------------------------------------------------------------ */
/* YAML reader                                                              */

struct loader {
	yaml_parser_t parser;
	const char *text; /* the input, for placing encoding errors */
	size_t len;
	yaml_event_t ev; /* the current event, owned while have_ev */
	int have_ev;
	const char *file;
	prdshm_diag *diag;
	prdshm_config tmp;
	int have_phases;
	struct origin_rec seen[NKEYS + 1]; /* first position of each key; [NKEYS]: phases */
};

static struct where mark_where(const struct loader *L, yaml_mark_t m)
{
	struct where at = { L->file, (int)m.line + 1, (int)m.column + 1 };

	return at;
}

static struct where ev_where(const struct loader *L)
{
	return mark_where(L, L->ev.start_mark);
}

/* Line and column (in bytes) of byte @p off of the input. */
static struct where offset_where(const struct loader *L, size_t off)
{
	struct where at = { L->file, 1, 1 };

	for (size_t i = 0; i < off && i < L->len; i++) {
		if (L->text[i] == '\n') {
			at.line++;
			at.column = 1;
		} else {
			at.column++;
		}
	}
	return at;
}

static int syntax_error(struct loader *L)
{
	const yaml_parser_t *p = &L->parser;
	struct where at;

	if (p->error == YAML_MEMORY_ERROR)
		return prdshm__fail(PRDSHM_ENOMEM, "%s: out of memory", L->file);
	if (p->error == YAML_READER_ERROR) {
		/* A reader error (bad encoding) has a byte offset, not a mark. */
		at = offset_where(L, p->problem_offset);
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG, "cannot read the input: %s",
				 p->problem ? p->problem : "?");
	}
	at = mark_where(L, p->problem_mark);
	if (p->context)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG, "YAML syntax error: %s %s",
				 p->problem ? p->problem : "?", p->context);
	return diag_fail(L->diag, &at, PRDSHM_ECONFIG, "YAML syntax error: %s",
			 p->problem ? p->problem : "?");
}

static const yaml_char_t *ev_anchor(const yaml_event_t *ev)
{
	if (ev->type == YAML_SCALAR_EVENT)
		return ev->data.scalar.anchor;
	if (ev->type == YAML_SEQUENCE_START_EVENT)
		return ev->data.sequence_start.anchor;
	if (ev->type == YAML_MAPPING_START_EVENT)
		return ev->data.mapping_start.anchor;
	return NULL;
}

/* Replace the current event with the next one. */
static int next(struct loader *L)
{
	struct where at;
	const yaml_char_t *anchor;

	if (L->have_ev)
		yaml_event_delete(&L->ev);
	L->have_ev = 0;
	if (!yaml_parser_parse(&L->parser, &L->ev))
		return syntax_error(L);
	L->have_ev = 1;
	at = ev_where(L);
	/* A configuration has no use for shared nodes, and rejecting them keeps
	 * "billion laughs" documents out. */
	if (L->ev.type == YAML_ALIAS_EVENT)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG,
				 "YAML aliases are not supported (*%.64s)",
				 (const char *)L->ev.data.alias.anchor);
	anchor = ev_anchor(&L->ev);
	if (anchor)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG,
				 "YAML anchors are not supported (&%.64s)", (const char *)anchor);
	return 0;
}

static const char *ev_text(const struct loader *L)
{
	return (const char *)L->ev.data.scalar.value;
}

/* A plain "", "~" or "null": YAML's way of giving no value. */
static int ev_is_null(const struct loader *L)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (L->ev.type != YAML_SCALAR_EVENT || L->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	for (size_t i = 0; i < PRDSHM__ARRAY_SIZE(nulls); i++)
		if (strcmp(ev_text(L), nulls[i]) == 0)
			return 1;
	return 0;
}

/* The current scalar as a new string; no NUL bytes allowed inside. */
static int ev_strdup(struct loader *L, const char *what, char **out)
{
	struct where at = ev_where(L);

	if (L->ev.type != YAML_SCALAR_EVENT)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG,
				 "%s: expected a single value, not a list or mapping", what);
	if (strlen(ev_text(L)) != L->ev.data.scalar.length)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG, "%s: the value holds a NUL byte",
				 what);
	*out = strdup(ev_text(L));
	if (!*out)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	return 0;
}

static int check_dup(struct loader *L, struct origin_rec *seen, const char *key,
		     const struct where *at)
{
	if (seen->line)
		return diag_fail(L->diag, at, PRDSHM_ECONFIG,
				 "duplicate key '%s' (first at line %d, column %d)", key,
				 seen->line, seen->column);
	seen->origin = PRDSHM_FROM_FILE;
	seen->line = at->line;
	seen->column = at->column;
	return 0;
}

/* Minutes, or a duration with a unit: "90", "90m", "1.5h", "30s". */
static int parse_minutes(const char *s, double *out)
{
	char num[64];
	size_t n = strlen(s);
	double scale = 1;
	char *end;

	if (n > 0 && (s[n - 1] == 's' || s[n - 1] == 'm' || s[n - 1] == 'h')) {
		scale = s[n - 1] == 's' ? 1.0 / 60 : s[n - 1] == 'h' ? 60 : 1;
		n--;
	}
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	/* strtod would also take "inf", "nan", hex and leading blanks. */
	if (!(isdigit((unsigned char)num[0]) || num[0] == '.') ||
	    strspn(num, "0123456789.eE+-") != n)
		return -1;
	*out = strtod(num, &end) * scale;
	if (*end != '\0' || !isfinite(*out) || *out < 0 || *out > CAP_MINUTES)
		return -1;
	return 0;
}

static int load_estimate(struct loader *L, prdshm_phase_def *p)
{
	struct where at = ev_where(L);
	int scalar = L->ev.type == YAML_SCALAR_EVENT;

	if (!scalar || parse_minutes(ev_text(L), &p->estimated_minutes))
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG,
				 "estimated_time: expected minutes or a duration such as 90m, "
				 "1.5h or 30s, got '%.64s'",
				 scalar ? ev_text(L) : "a list or mapping");
	return 0;
}

/* Check one item of a phase's list: a dependency is a phase id, an output a resource. */
static int check_item(struct loader *L, enum phase_key pk, const char *item)
{
	struct where at = ev_where(L);
	size_t n = strlen(item);

	if (pk == PK_DEPS && !prdshm__valid_id(item))
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG,
				 "dependencies: '%.64s' is not a valid phase id "
				 "(1..%d printable characters, no spaces)",
				 item, PRDSHM_ID_MAX);
	if (pk == PK_OUTPUTS && (n == 0 || n > PRDSHM_NAME_MAX))
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG,
				 "outputs: a resource name has 1..%d bytes", PRDSHM_NAME_MAX);
	return 0;
}

static int push_str(char ***v, size_t *n, char *s)
{
	char **nv;

	/* Grow by powers of two: the array is full exactly when n is one. */
	if ((*n & (*n - 1)) == 0) {
		nv = realloc(*v, (*n ? *n * 2 : 1) * sizeof(*nv));
		if (!nv) {
			free(s);
			return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
		}
		*v = nv;
	}
	(*v)[(*n)++] = s;
	return 0;
}

/* Record where the next item of a list is (grown by powers of two, like
 * push_str()). */
static int push_pos(prdshm_pos **v, size_t *n, struct where at)
{
	prdshm_pos *nv;

	if ((*n & (*n - 1)) == 0) {
		nv = realloc(*v, (*n ? *n * 2 : 1) * sizeof(*nv));
		if (!nv)
			return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
		*v = nv;
	}
	(*v)[(*n)++] = (prdshm_pos){ at.line, at.column };
	return 0;
}

/*
 * A list of strings: "[a, b]", a block sequence, or nothing.  With @p pos,
 * where each item is, for the errors found later (unknown dependencies,
 * cycles).
 */
static int load_list(struct loader *L, enum phase_key pk, char ***v, size_t *n,
		     prdshm_pos **pos, size_t *npos)
{
	const char *what = phase_names[pk];
	struct where at = ev_where(L);
	char *s;
	int err;

	if (ev_is_null(L))
		return 0;
	if (L->ev.type != YAML_SEQUENCE_START_EVENT)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG, "%s: expected a list such as [a, b]",
				 what);
	for (;;) {
		err = next(L);
		if (err)
			return err;
		if (L->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		err = ev_strdup(L, what, &s);
		if (err)
			return err;
		err = pos ? push_pos(pos, npos, ev_where(L)) : 0;
		if (err) {
			free(s);
			return err;
		}
		err = push_str(v, n, s);
		if (err)
			return err;
		err = check_item(L, pk, s);
		if (err)
			return err;
	}
}

static int load_phase_string(struct loader *L, enum phase_key pk, char **dst)
{
	struct where at = ev_where(L);
	int err;

	if (ev_is_null(L) && pk == PK_ID)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG, "id: empty value");
	if (ev_is_null(L))
		return 0;
	err = ev_strdup(L, phase_names[pk], dst);
	if (err)
		return err;
	if (pk == PK_ID && !prdshm__valid_id(*dst))
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG,
				 "phase id '%.64s' is not valid (1..%d printable characters, "
				 "no spaces)",
				 *dst, PRDSHM_ID_MAX);
	return 0;
}

static int load_phase_value(struct loader *L, enum phase_key pk, prdshm_phase_def *p)
{
	struct where at;

	switch (pk) {
	case PK_ID:
		at = ev_where(L);
		p->id_at = (prdshm_pos){ at.line, at.column };
		return load_phase_string(L, pk, &p->id);
	case PK_NAME:
		return load_phase_string(L, pk, &p->name);
	case PK_COMMAND:
		return load_phase_string(L, pk, &p->command);
	case PK_DEPS:
		return load_list(L, pk, &p->deps, &p->ndeps, &p->deps_at, &p->ndeps_at);
	case PK_OUTPUTS:
		return load_list(L, pk, &p->outputs, &p->noutputs, NULL, NULL);
	case PK_ESTIMATE:
	case PK_N:
	default:
		return load_estimate(L, p);
	}
}

static int phase_key_index(const char *key)
{
	for (int i = 0; i < PK_N; i++)
		if (strcmp(phase_names[i], key) == 0)
			return i;
	return -1;
}

/* One "key: value" of a phase; the current event is the key. */
static int load_phase_entry(struct loader *L, prdshm_phase_def *p, struct origin_rec *seen)
{
	struct where at = ev_where(L);
	int pk;
	int err;

	if (L->ev.type != YAML_SCALAR_EVENT)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG,
				 "a phase's keys must be plain words");
	pk = phase_key_index(ev_text(L));
	if (pk < 0)
		return unknown_key(L->diag, &at, "phase key", ev_text(L), phase_names);
	err = check_dup(L, &seen[pk], phase_names[pk], &at);
	if (err)
		return err;
	err = next(L);
	if (err)
		return err;
	return load_phase_value(L, (enum phase_key)pk, p);
}

/* A new zeroed phase at the end of tmp's plan. */
static int push_phase(struct loader *L, prdshm_phase_def **out)
{
	prdshm_config *c = &L->tmp;
	size_t n = c->nphases;
	prdshm_phase_def *nv;
	struct where at = ev_where(L);

	if (n >= (size_t)CAP_PHASES)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG, "too many phases (at most %ld)",
				 CAP_PHASES);
	if ((n & (n - 1)) == 0) {
		nv = realloc(c->phases, (n ? n * 2 : 1) * sizeof(*nv));
		if (!nv)
			return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
		c->phases = nv;
	}
	*out = &c->phases[n];
	memset(*out, 0, sizeof(**out));
	c->nphases = n + 1;
	return 0;
}

/* One phase; the current event starts its mapping. */
static int load_phase(struct loader *L)
{
	struct origin_rec seen[PK_N] = { { 0 } };
	struct where at = ev_where(L);
	prdshm_phase_def *p = NULL;
	int err;

	if (L->ev.type != YAML_MAPPING_START_EVENT)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG,
				 "phases: each phase must be a mapping (- id: ...)");
	err = push_phase(L, &p);
	if (err)
		return err;
	p->line = at.line;
	p->column = at.column;
	for (;;) {
		err = next(L);
		if (err)
			return err;
		if (L->ev.type == YAML_MAPPING_END_EVENT)
			break;
		err = load_phase_entry(L, p, seen);
		if (err)
			return err;
	}
	if (!p->id)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG, "phase has no 'id'");
	if (!p->name) {
		p->name = strdup(p->id);
		if (!p->name)
			return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	}
	return 0;
}

/* The value of "phases:"; the current event is its first. */
static int load_phases(struct loader *L, const struct where *key_at)
{
	struct where at = ev_where(L);
	int err;

	L->have_phases = 1;
	L->tmp.src_->phases.origin = PRDSHM_FROM_FILE;
	L->tmp.src_->phases.line = key_at->line;
	L->tmp.src_->phases.column = key_at->column;
	if (ev_is_null(L))
		return 0;
	if (L->ev.type != YAML_SEQUENCE_START_EVENT)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG,
				 "phases: expected a list of phases (- id: ...)");
	for (;;) {
		err = next(L);
		if (err)
			return err;
		if (L->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		err = load_phase(L);
		if (err)
			return err;
	}
}

/* The value of a setting; the current event is the value. */
static int load_setting(struct loader *L, int ki, const struct where *key_at)
{
	struct setting s = { 0 };

	s.at = ev_where(L);
	if (L->ev.type != YAML_SCALAR_EVENT)
		return diag_fail(L->diag, &s.at, PRDSHM_ECONFIG,
				 "%s: expected a single value, not a list or mapping",
				 keys[ki].name);
	s.text = ev_is_null(L) ? "" : ev_text(L);
	s.len = ev_is_null(L) ? 0 : L->ev.data.scalar.length;
	s.origin = PRDSHM_FROM_FILE;
	s.line = key_at->line;
	s.column = key_at->column;
	return set_key(&L->tmp, ki, &s, L->diag);
}

/* One "key: value" at the top; the current event is the key. */
static int load_entry(struct loader *L)
{
	struct where at = ev_where(L);
	char key[KEY_TEXT_MAX + 1];
	int ki;
	int err;

	if (L->ev.type != YAML_SCALAR_EVENT)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG, "keys must be plain words");
	prdshm__strlcpy(key, ev_text(L), sizeof(key));
	if (strcmp(ev_text(L), "phases") == 0)
		ki = (int)NKEYS;
	else
		ki = find_key(ev_text(L));
	if (ki < 0)
		return unknown_key(L->diag, &at, "key", ev_text(L), top_names);
	err = check_dup(L, &L->seen[ki], key, &at);
	if (err)
		return err;
	err = next(L);
	if (err)
		return err;
	if (ki == (int)NKEYS)
		return load_phases(L, &at);
	return load_setting(L, ki, &at);
}

/* The document's root; the current event is its first. */
static int load_root(struct loader *L)
{
	struct where at = ev_where(L);
	int err;

	/* An empty document ("---" alone) is an empty configuration. */
	if (ev_is_null(L))
		return 0;
	if (L->ev.type != YAML_MAPPING_START_EVENT)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG,
				 "the top level must be a mapping of keys (key: value)");
	for (;;) {
		err = next(L);
		if (err)
			return err;
		if (L->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		err = load_entry(L);
		if (err)
			return err;
	}
}

static int load_stream(struct loader *L)
{
	struct where at;
	int err;

	err = next(L); /* STREAM-START */
	if (!err)
		err = next(L);
	if (err || L->ev.type == YAML_STREAM_END_EVENT)
		return err;
	err = next(L); /* past DOCUMENT-START: the root */
	if (!err)
		err = load_root(L);
	if (!err)
		err = next(L); /* DOCUMENT-END */
	if (!err)
		err = next(L);
	if (err)
		return err;
	at = ev_where(L);
	if (L->ev.type != YAML_STREAM_END_EVENT)
		return diag_fail(L->diag, &at, PRDSHM_ECONFIG,
				 "only one YAML document is allowed (a second '---')");
	return 0;
}

/* Read the parser's input over @p cfg; all or nothing. */
static int load_parser(prdshm_config *cfg, struct loader *L)
{
	int err;

	err = stage_begin(&L->tmp, cfg);
	if (err)
		return err;
	L->tmp.path_ = strdup(L->file);
	if (!L->tmp.path_) {
		err = prdshm__fail(PRDSHM_ENOMEM, "out of memory");
		goto out;
	}
	err = load_stream(L);
	if (!err)
		stage_commit(cfg, &L->tmp, L->have_phases);
out:
	if (L->have_ev)
		yaml_event_delete(&L->ev);
	L->have_ev = 0;
	prdshm_config_free(&L->tmp);
	return err;
}

static int loader_init(struct loader *L, const char *file, prdshm_diag *diag)
{
	memset(L, 0, sizeof(*L));
	L->file = file;
	L->diag = diag;
	if (!yaml_parser_initialize(&L->parser))
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	return 0;
}

static int load_text(prdshm_config *cfg, const char *text, size_t len, const char *name,
		     prdshm_diag *diag)
{
	struct loader L;
	int err;

	err = loader_init(&L, name, diag);
	if (err)
		return err;
	L.text = text;
	L.len = len;
	yaml_parser_set_input_string(&L.parser, (const unsigned char *)text, len);
	err = load_parser(cfg, &L);
	yaml_parser_delete(&L.parser);
	return err;
}

int prdshm_config_load_string(prdshm_config *cfg, const char *yaml, size_t len,
			      const char *name, prdshm_diag *diag)
{
	prdshm_diag dummy;
	int err;

	prdshm__call_begin();
	err = diag_begin(&diag, &dummy, "prdshm_config_load_string");
	if (err)
		return err;
	if (!cfg || (!yaml && len))
		return prdshm__fail(PRDSHM_EINVAL, "config_load_string: no configuration or text");
	err = config_ok(cfg, "prdshm_config_load_string");
	if (err)
		return err;
	return load_text(cfg, yaml ? yaml : "", len, name ? name : "(string)", diag);
}

/* Read all of @p f into a new buffer. */
static int read_all(FILE *f, const struct where *at, char **out, size_t *len,
		    prdshm_diag *diag)
{
	size_t cap = 4096, n = 0;
	char *buf = NULL, *nb;

	for (;;) {
		nb = realloc(buf, cap);
		if (!nb) {
			free(buf);
			return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
		}
		buf = nb;
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		if (cap >= CAP_FILE_BYTES) {
			free(buf);
			return diag_fail(diag, at, PRDSHM_ECONFIG, "larger than %ld bytes",
					 CAP_FILE_BYTES);
		}
		cap *= 2;
	}
	if (ferror(f)) {
		free(buf);
		return diag_fail(diag, at, PRDSHM_ECONFIG, "cannot read: %s", strerror(errno));
	}
	*out = buf;
	*len = n;
	return 0;
}

int prdshm_config_load_file(prdshm_config *cfg, const char *path, prdshm_diag *diag)
{
	prdshm_diag dummy;
	struct where at = { path, 0, 0 };
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	prdshm__call_begin();
	err = diag_begin(&diag, &dummy, "prdshm_config_load_file");
	if (err)
		return err;
	if (!cfg || !path)
		return prdshm__fail(PRDSHM_EINVAL, "config_load_file: no configuration or path");
	err = config_ok(cfg, "prdshm_config_load_file");
	if (err)
		return err;
	f = fopen(path, "rb");
	if (!f) {
		err = prdshm__fail_errno(PRDSHM_ECONFIG, "open %s", path);
		return diag_fail(diag, &at, err, "cannot open: %s", strerror(errno));
	}
	/* Read whole, so that an encoding error can be placed by its byte offset. */
	err = read_all(f, &at, &text, &len, diag);
	fclose(f);
	if (err)
		return err;
	err = load_text(cfg, text, len, path, diag);
	free(text);
	return err;
}

/* ------------------------------------------------------------------------ */
/* Environment and command line                                             */

int prdshm_config_apply_env(prdshm_config *cfg, prdshm_diag *diag)
{
	prdshm_diag dummy;
	prdshm_config tmp;
	char var[sizeof(ENV_PREFIX) + KEY_TEXT_MAX];
	int err;

	prdshm__call_begin();
	err = diag_begin(&diag, &dummy, "prdshm_config_apply_env");
	if (err)
		return err;
	if (!cfg)
		return prdshm__fail(PRDSHM_EINVAL, "config_apply_env: no configuration");
	err = config_ok(cfg, "prdshm_config_apply_env");
	if (err)
		return err;
	err = stage_begin(&tmp, cfg);
	if (err)
		return err;
	for (size_t i = 0; i < NKEYS; i++) {
		struct setting s = { 0 };

		env_name(&keys[i], var, sizeof(var));
		s.text = getenv(var);
		if (!s.text)
			continue;
		s.len = strlen(s.text);
		s.origin = PRDSHM_FROM_ENV;
		s.at.file = var;
		err = set_key(&tmp, (int)i, &s, diag);
		if (err)
			goto out;
	}
	stage_commit(cfg, &tmp, 0);
out:
	prdshm_config_free(&tmp);
	return err;
}

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
	int err = diag_begin(&diag, &dummy, "prdshm_config_set");

	if (err)
		return err;
	if (!cfg || !key || !value || origin < PRDSHM_FROM_DEFAULT || origin > PRDSHM_FROM_CMDLINE)
		return prdshm__fail(PRDSHM_EINVAL, "config_set: invalid argument");
	err = config_ok(cfg, "prdshm_config_set");
	if (err)
		return err;
	s.text = value;
	s.len = strlen(value);
	s.origin = origin;
	s.at.file = set_file(cfg, origin);
	ki = find_key(key);
	if (ki < 0)
		return unknown_key(diag, &s.at, "key", key, key_names);
	if (origin == PRDSHM_FROM_ENV) {
		env_name(&keys[ki], buf, sizeof(buf));
		s.at.file = buf;
	}
	return set_key(cfg, ki, &s, diag);
}

/* ------------------------------------------------------------------------ */
/* Validation                                                               */

static int check_keys(const prdshm_config *cfg, prdshm_diag *diag)
{
	char buf[sizeof(ENV_PREFIX) + KEY_TEXT_MAX];
	struct where at;
	struct kval v;
	int err;

	for (size_t i = 0; i < NKEYS; i++) {
		get_kval(cfg, &keys[i], &v);
		key_where(cfg, (int)i, &at, buf, sizeof(buf));
		err = check_value(&keys[i], &v, &at, diag);
		if (err)
			return err;
	}
	return 0;
}

static prdshm_origin origin_of(const prdshm_config *cfg, int ki)
{
	return cfg->src_ ? cfg->src_->key[ki].origin : PRDSHM_FROM_DEFAULT;
}

static int check_agents(const prdshm_config *cfg, prdshm_diag *diag)
{
	char buf[sizeof(ENV_PREFIX) + KEY_TEXT_MAX];
	int par = find_key("max_parallel_agents"), max = find_key("max_agents");
	struct where at;

	if (cfg->max_parallel_agents <= cfg->max_agents)
		return 0;
	/* Point at the value that was set more deliberately: it is the likelier mistake. */
	key_where(cfg, origin_of(cfg, max) > origin_of(cfg, par) ? max : par, &at, buf,
		  sizeof(buf));
	return diag_fail(diag, &at, PRDSHM_ECONFIG,
			 "max_parallel_agents (%d) is larger than max_agents (%d)",
			 cfg->max_parallel_agents, cfg->max_agents);
}

/* A group may open the segment only when it is named as the sharing group. */
static int check_sharing(const prdshm_config *cfg, prdshm_diag *diag)
{
	char buf[sizeof(ENV_PREFIX) + KEY_TEXT_MAX];
	struct where at;

	if (!(cfg->shm_mode & 0070) || cfg->shm_group[0] != '\0')
		return 0;
	key_where(cfg, find_key("shm_mode"), &at, buf, sizeof(buf));
	return diag_fail(diag, &at, PRDSHM_ECONFIG,
			 "shm_mode: 0%03o lets the segment's group %s it: name that group "
			 "in shm_group, or use 0600",
			 cfg->shm_mode, (cfg->shm_mode & 0020) ? "write" : "open");
}

static const char *plan_file(const prdshm_config *cfg)
{
	return cfg->path_ ? cfg->path_ : "(configuration)";
}

static int check_phases(const prdshm_config *cfg, prdshm_diag *diag)
{
	struct where at = { plan_file(cfg), 0, 0 };
	const prdshm_phase_def *p;

	if (cfg->nphases > (size_t)cfg->max_phases) {
		p = &cfg->phases[cfg->max_phases];
		at.line = p->line;
		at.column = p->column;
		return diag_fail(diag, &at, PRDSHM_ECONFIG, "%zu phases: more than max_phases (%d)",
				 cfg->nphases, cfg->max_phases);
	}
	for (size_t i = 0; i < cfg->nphases; i++) {
		p = &cfg->phases[i];
		at.line = p->id_at.line > 0 ? p->id_at.line : p->line;
		at.column = p->id_at.line > 0 ? p->id_at.column : p->column;
		if (!prdshm__valid_id(p->id))
			return diag_fail(diag, &at, PRDSHM_ECONFIG,
					 "phase %zu: id '%.64s' is not valid (1..%d printable "
					 "characters, no spaces)",
					 i + 1, p->id ? p->id : "", PRDSHM_ID_MAX);
	}
	return 0;
}

/* Duplicate ids, unknown dependencies and cycles: the graph finds them. */
static int check_graph(const prdshm_config *cfg, prdshm_diag *diag)
{
	prdshm_graph *g = NULL;
	int err;

	if (cfg->nphases == 0)
		return 0;
	err = prdshm_graph_build(cfg->phases, cfg->nphases, &g, diag);
	prdshm_graph_free(g);
	if (!err)
		return 0;
	/* The graph knows the phase, not the file it came from. */
	if (diag->file[0] == '\0')
		prdshm__strlcpy(diag->file, plan_file(cfg), sizeof(diag->file));
	if (err == PRDSHM_ENOMEM)
		return err;
	return prdshm__fail(PRDSHM_ECONFIG, "%s:%d:%d: %s", diag->file, diag->line, diag->column,
			    diag->msg);
}

int prdshm_config_validate(const prdshm_config *cfg, prdshm_diag *diag)
{
	prdshm_diag dummy;
	int err;

	prdshm__call_begin();
	err = diag_begin(&diag, &dummy, "prdshm_config_validate");
	if (err)
		return err;
	if (!cfg)
		return prdshm__fail(PRDSHM_EINVAL, "config_validate: no configuration");
	err = config_ok(cfg, "prdshm_config_validate");
	if (err)
		return err;
	err = check_keys(cfg, diag);
	if (!err)
		err = check_agents(cfg, diag);
	if (!err)
		err = check_sharing(cfg, diag);
	if (!err)
		err = check_phases(cfg, diag);
	if (!err)
		err = check_graph(cfg, diag);
	return err;
}

int prdshm_config_load_size(prdshm_config *cfg, size_t size, const char *path,
			    prdshm_diag *diag)
{
	prdshm_diag dummy;
	int err;

	prdshm__call_begin();
	err = diag_begin(&diag, &dummy, "prdshm_config_load");
	if (err)
		return err;
	if (!cfg)
		return prdshm__fail(PRDSHM_EINVAL, "config_load: no configuration");
	err = prdshm_config_init_size(cfg, size);
	if (err)
		return err;
	err = prdshm_config_load_file(cfg, path ? path : "prdpar.yaml", diag);
	/* The default file is optional; an explicit one is not. */
	if (err == PRDSHM_ENOENT && !path) {
		diag_clear(diag);
		err = 0;
	}
	if (!err)
		err = prdshm_config_apply_env(cfg, diag);
	if (!err)
		err = prdshm_config_validate(cfg, diag);
	if (err)
		prdshm_config_free(cfg);
	return err;
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                */

prdshm_origin prdshm_config_origin(const prdshm_config *cfg, const char *key, int *line,
				   int *column)
{
	const struct origin_rec *rec = NULL;
	int ki = key ? find_key(key) : -1;

	/* Not a configuration: its src_ cannot be trusted. */
	if (cfg && config_ok(cfg, "prdshm_config_origin") != 0)
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
	int ki = key ? find_key(key) : -1;
	const struct key_def *k;
	int n;

	prdshm__call_begin();
	if (!cfg || ki < 0 || !buf || size == 0)
		return prdshm__fail(PRDSHM_EINVAL, "config_get: unknown key '%s'",
				    key ? key : "(null)");
	if (config_ok(cfg, "prdshm_config_get") != 0)
		return PRDSHM_EINVAL;
	k = &keys[ki];
	switch (k->type) {
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

/* ------------------------------------------------------------------------ */
/* YAML writer                                                              */

/* libyaml's event constructors take non-const strings but copy them. */
static yaml_char_t *ych(const char *s)
{
	return (yaml_char_t *)(uintptr_t)s;
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev, int made)
{
	if (!made)
		return -1;
	return yaml_emitter_emit(em, ev) ? 0 : -1;
}

static int emit_str(yaml_emitter_t *em, const char *s)
{
	yaml_event_t ev;
	yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	/* A string the reader would take for "no value" must be quoted. */
	for (size_t i = 0; i < PRDSHM__ARRAY_SIZE(nulls); i++)
		if (strcmp(s, nulls[i]) == 0)
			style = YAML_SINGLE_QUOTED_SCALAR_STYLE;
	return emit(em, &ev,
		    yaml_scalar_event_initialize(&ev, NULL, NULL, ych(s), (int)strlen(s), 1, 1,
						 style));
}

static int emit_seq(yaml_emitter_t *em, yaml_sequence_style_t style)
{
	yaml_event_t ev;

	return emit(em, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, style));
}

static int emit_map(yaml_emitter_t *em, yaml_mapping_style_t style)
{
	yaml_event_t ev;

	return emit(em, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, style));
}

static int emit_end(yaml_emitter_t *em, int mapping)
{
	yaml_event_t ev;

	if (mapping)
		return emit(em, &ev, yaml_mapping_end_event_initialize(&ev));
	return emit(em, &ev, yaml_sequence_end_event_initialize(&ev));
}

static int emit_strv(yaml_emitter_t *em, const char *key, char *const *v, size_t n)
{
	if (emit_str(em, key) || emit_seq(em, YAML_FLOW_SEQUENCE_STYLE))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (emit_str(em, v[i]))
			return -1;
	return emit_end(em, 0);
}

/* The shortest text that reads back as exactly @p x. */
static void format_double(double x, char *buf, size_t size)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, x);
		if (strtod(buf, NULL) == x)
			return;
	}
}

static int emit_phase(yaml_emitter_t *em, const prdshm_phase_def *p)
{
	char num[64];

	if (emit_map(em, YAML_BLOCK_MAPPING_STYLE))
		return -1;
	if (emit_str(em, "id") || emit_str(em, p->id ? p->id : ""))
		return -1;
	if (p->name && (emit_str(em, "name") || emit_str(em, p->name)))
		return -1;
	if (emit_strv(em, "dependencies", p->deps, p->ndeps))
		return -1;
	if (emit_strv(em, "outputs", p->outputs, p->noutputs))
		return -1;
	format_double(p->estimated_minutes, num, sizeof(num));
	if (p->estimated_minutes != 0 && (emit_str(em, "estimated_time") || emit_str(em, num)))
		return -1;
	if (p->command && (emit_str(em, "command") || emit_str(em, p->command)))
		return -1;
	return emit_end(em, 1);
}

static int emit_config(yaml_emitter_t *em, const prdshm_config *cfg)
{
	char val[PRDSHM_SHM_NAME_MAX + 1];

	if (emit_map(em, YAML_BLOCK_MAPPING_STYLE))
		return -1;
	for (size_t i = 0; i < NKEYS; i++) {
		if (prdshm_config_get(cfg, keys[i].name, val, sizeof(val)))
			return -1;
		if (emit_str(em, keys[i].name) || emit_str(em, val))
			return -1;
	}
	if (emit_str(em, "phases") || emit_seq(em, YAML_BLOCK_SEQUENCE_STYLE))
		return -1;
	for (size_t i = 0; i < cfg->nphases; i++)
		if (emit_phase(em, &cfg->phases[i]))
			return -1;
	return emit_end(em, 0) || emit_end(em, 1) ? -1 : 0;
}

static int emit_document(yaml_emitter_t *em, const prdshm_config *cfg)
{
	yaml_event_t ev;

	if (emit(em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING)))
		return -1;
	if (emit(em, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1)))
		return -1;
	if (emit_config(em, cfg))
		return -1;
	if (emit(em, &ev, yaml_document_end_event_initialize(&ev, 1)))
		return -1;
	if (emit(em, &ev, yaml_stream_end_event_initialize(&ev)))
		return -1;
	return yaml_emitter_flush(em) ? 0 : -1;
}

/* Why emitting failed.  An event that could not be made never reached the
 * emitter, whose error then stays YAML_NO_ERROR: libyaml refuses to make a
 * scalar that is not valid UTF-8 (the only other cause is running out of
 * memory).  A writer error leaves errno from the failed write. */
static int write_failed(const yaml_emitter_t *em)
{
	const char *why = em->problem ? em->problem : "emitter error";

	if (em->error == YAML_WRITER_ERROR)
		return prdshm__fail_errno(PRDSHM_ESYS, "writing the configuration");
	if (em->error == YAML_NO_ERROR)
		why = "a value is not valid UTF-8";
	return prdshm__fail(PRDSHM_ESYS, "writing the configuration: %s", why);
}

int prdshm_config_write(const prdshm_config *cfg, FILE *out)
{
	yaml_emitter_t em;
	int err = 0;

	prdshm__call_begin();
	if (!cfg || !out)
		return prdshm__fail(PRDSHM_EINVAL, "config_write: no configuration or stream");
	if (config_ok(cfg, "prdshm_config_write") != 0)
		return PRDSHM_EINVAL;
	if (!yaml_emitter_initialize(&em))
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	yaml_emitter_set_output_file(&em, out);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	if (emit_document(&em, cfg))
		err = write_failed(&em);
	yaml_emitter_delete(&em);
	if (!err && fflush(out) != 0)
		err = prdshm__fail_errno(PRDSHM_ESYS, "writing the configuration");
	return err;
}
