/*
 * load.c: reading a configuration document: its top-level mapping of
 * settings and the plan, applied all or nothing over the caller's
 * configuration, from a string or a file; and prdshm_config_load_size(),
 * which puts defaults, prdpar.yaml, the environment and validation together.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "base/util.h"
#include "config/config.h"

/* A configuration file larger than this is not one. */
#define CAP_FILE_BYTES (64L << 20)

/* The keys a top-level mapping may hold: the settings and the plan. */
static const char *const top_names[] = {
	"max_parallel_agents", "lock_timeout_seconds", "wave_delay_seconds",
	"conflict_retry_attempts", "monitoring_update_interval", "scheduling",
	"phase_max_attempts", "deadlock_timeout_ms", "shm_name", "shm_mode",
	"shm_group", "max_locks", "max_phases", "max_agents", "backend", "zookeeper", "phases",
	NULL,
};
/* The keys of the zookeeper: block: "hosts" is the setting "zookeeper.hosts". */
static const char *const zk_names[] = { "hosts", "root", "session_timeout_ms", "auth_file",
					 NULL };
#define ZK_PREFIX "zookeeper."
/* The index of the zookeeper: block and of the plan in top_names and L->seen. */
#define KI_PHASES ((int)NKEYS)
#define KI_ZK_BLOCK ((int)NKEYS + 1)

/* Every key but the four zookeeper.* ones, the zookeeper: block, phases, NULL. */
_Static_assert(PRDSHM__ARRAY_SIZE(top_names) == NKEYS - 4 + 1 + 1 + 1,
	       "top_names: every top-level key and phases");

/* The value of a setting; the current event is the value. */
static int load_setting(struct loader *L, int ki, const struct where *key_at)
{
	struct setting s = { 0 };

	s.at = prdshm__ev_where(L);
	if (L->ev.type != YAML_SCALAR_EVENT)
		return prdshm__diag_fail(L->diag, &s.at, PRDSHM_ECONFIG,
					 "%s: expected a single value, not a list or mapping",
					 prdshm__keys[ki].name);
	s.text = prdshm__ev_is_null(L) ? "" : prdshm__ev_text(L);
	s.len = prdshm__ev_is_null(L) ? 0 : L->ev.data.scalar.length;
	s.origin = PRDSHM_FROM_FILE;
	s.line = key_at->line;
	s.column = key_at->column;
	return prdshm__set_key(&L->tmp, ki, &s, L->diag);
}

/* The zookeeper: block, a mapping of hosts, root, session_timeout_ms and
 * auth_file;
 * the current event is its start. */
static int load_zk_block(struct loader *L)
{
	char name[sizeof(ZK_PREFIX) + KEY_TEXT_MAX];
	struct where at = prdshm__ev_where(L);
	int ki, err;

	if (L->ev.type != YAML_MAPPING_START_EVENT)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "zookeeper: expected a mapping (hosts:, root:, "
					 "session_timeout_ms:, auth_file:)");
	for (;;) {
		err = prdshm__ev_next(L);
		if (err || L->ev.type == YAML_MAPPING_END_EVENT)
			return err;
		at = prdshm__ev_where(L);
		if (L->ev.type != YAML_SCALAR_EVENT)
			return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
						 "keys must be plain words");
		snprintf(name, sizeof(name), ZK_PREFIX "%.*s", KEY_TEXT_MAX, prdshm__ev_text(L));
		ki = prdshm__find_key(name);
		if (ki < 0)
			return prdshm__unknown_key(L->diag, &at, "zookeeper key",
						   prdshm__ev_text(L), zk_names);
		err = prdshm__check_dup(L, &L->seen[ki], name, &at);
		if (!err)
			err = prdshm__ev_next(L);
		if (!err)
			err = load_setting(L, ki, &at);
		if (err)
			return err;
	}
}

/* One "key: value" at the top; the current event is the key. */
static int load_entry(struct loader *L)
{
	struct where at = prdshm__ev_where(L);
	char key[KEY_TEXT_MAX + 1];
	int ki;
	int err;

	if (L->ev.type != YAML_SCALAR_EVENT)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG, "keys must be plain words");
	prdshm__strlcpy(key, prdshm__ev_text(L), sizeof(key));
	if (strcmp(prdshm__ev_text(L), "phases") == 0)
		ki = KI_PHASES;
	else if (strcmp(prdshm__ev_text(L), "zookeeper") == 0)
		ki = KI_ZK_BLOCK;
	else if (strchr(prdshm__ev_text(L), '.'))
		ki = -1; /* "zookeeper.hosts" is written inside the block */
	else
		ki = prdshm__find_key(prdshm__ev_text(L));
	if (ki < 0)
		return prdshm__unknown_key(L->diag, &at, "key", prdshm__ev_text(L), top_names);
	err = prdshm__check_dup(L, &L->seen[ki], key, &at);
	if (err)
		return err;
	err = prdshm__ev_next(L);
	if (err)
		return err;
	if (ki == KI_PHASES)
		return prdshm__load_phases(L, &at);
	if (ki == KI_ZK_BLOCK)
		return load_zk_block(L);
	return load_setting(L, ki, &at);
}

/* The document's root; the current event is its first. */
static int load_root(struct loader *L)
{
	struct where at = prdshm__ev_where(L);
	int err;

	/* An empty document ("---" alone) is an empty configuration. */
	if (prdshm__ev_is_null(L))
		return 0;
	if (L->ev.type != YAML_MAPPING_START_EVENT)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "the top level must be a mapping of keys (key: value)");
	for (;;) {
		err = prdshm__ev_next(L);
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

	err = prdshm__ev_next(L); /* STREAM-START */
	if (!err)
		err = prdshm__ev_next(L);
	if (err || L->ev.type == YAML_STREAM_END_EVENT)
		return err;
	err = prdshm__ev_next(L); /* past DOCUMENT-START: the root */
	if (!err)
		err = load_root(L);
	if (!err)
		err = prdshm__ev_next(L); /* DOCUMENT-END */
	if (!err)
		err = prdshm__ev_next(L);
	if (err)
		return err;
	at = prdshm__ev_where(L);
	if (L->ev.type != YAML_STREAM_END_EVENT)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "only one YAML document is allowed (a second '---')");
	return 0;
}

/* Read the parser's input over @p cfg; all or nothing. */
static int load_parser(prdshm_config *cfg, struct loader *L)
{
	int err;

	err = prdshm__stage_begin(&L->tmp, cfg);
	if (err)
		return err;
	L->tmp.path_ = strdup(L->file);
	if (!L->tmp.path_) {
		err = prdshm__fail(PRDSHM_ENOMEM, "out of memory");
		goto out;
	}
	err = load_stream(L);
	if (!err)
		prdshm__stage_commit(cfg, &L->tmp, L->have_phases);
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
	err = prdshm__diag_begin(&diag, &dummy, "prdshm_config_load_string");
	if (err)
		return err;
	if (!cfg || (!yaml && len))
		return prdshm__fail(PRDSHM_EINVAL, "config_load_string: no configuration or text");
	err = prdshm__config_ok(cfg, "prdshm_config_load_string");
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
			return prdshm__diag_fail(diag, at, PRDSHM_ECONFIG, "larger than %ld bytes",
						 CAP_FILE_BYTES);
		}
		cap *= 2;
	}
	if (ferror(f)) {
		free(buf);
		return prdshm__diag_fail(diag, at, PRDSHM_ECONFIG, "cannot read: %s",
					 strerror(errno));
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
	err = prdshm__diag_begin(&diag, &dummy, "prdshm_config_load_file");
	if (err)
		return err;
	if (!cfg || !path)
		return prdshm__fail(PRDSHM_EINVAL, "config_load_file: no configuration or path");
	err = prdshm__config_ok(cfg, "prdshm_config_load_file");
	if (err)
		return err;
	f = fopen(path, "rb");
	if (!f) {
		err = prdshm__fail_errno(PRDSHM_ECONFIG, "open %s", path);
		return prdshm__diag_fail(diag, &at, err, "cannot open: %s", strerror(errno));
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

int prdshm_config_load_size(prdshm_config *cfg, size_t size, const char *path,
			    prdshm_diag *diag)
{
	prdshm_diag dummy;
	int err;

	prdshm__call_begin();
	err = prdshm__diag_begin(&diag, &dummy, "prdshm_config_load");
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
		prdshm__diag_clear(diag);
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
