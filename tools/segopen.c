/*
 * segopen.c: the configuration a tool runs with and the segment it
 * attaches to, with their error messages.  See segopen.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "messages.h"
#include "segopen.h"

/* The variables of the configuration's keys: PRD_PARALLEL_<KEY>. */
#define ENV_PREFIX "PRD_PARALLEL_"

/* The error of @p d; @p ignored: as a warning that the tool goes on. */
static void print_diag(const prdshm_diag *d, int ignored)
{
	void (*say)(const char *fmt, ...) = ignored ? tool_warn : tool_err;
	const char *tail = ignored ? " (ignored)" : "";

	if (d->line > 0)
		say("%s:%d:%d: %s%s", d->file, d->line, d->column, d->msg, tail);
	else if (d->file[0])
		say("%s: %s%s", d->file, d->msg, tail);
	else
		say("invalid configuration: %s%s", prdshm_last_error(), tail);
}

/* Attaching to @p name failed with @p r: the error, and what to do when
 * there is no segment.  @return the exit code. */
static int open_failed(int r, const char *name)
{
	int rc = tool_fail(r, "open segment %s", name);

	if (r == PRDSHM_ENOENT)
		tool_hint("no run has created %s: start one with prdshm-run (make run), or name "
			  "another segment with --name or PRD_PARALLEL_SHM_NAME",
			  name);
	return rc;
}

/* The key of variable @p var ("PRD_PARALLEL_MAX_LOCKS=5"), lowercase, in
 * @p key; @return 0, or -1 if it is not PRD_PARALLEL_<something>. */
static int env_key(const char *var, char *key, size_t size)
{
	size_t plen = strlen(ENV_PREFIX), n = 0;

	if (strncmp(var, ENV_PREFIX, plen) != 0)
		return -1;
	for (var += plen; *var && *var != '=' && n + 1 < size; var++)
		key[n++] = (char)tolower((unsigned char)*var);
	key[n] = '\0';
	return n > 0 ? 0 : -1;
}

/* A key's variable has '_' for its '.' (PRD_PARALLEL_ZOOKEEPER_HOSTS for
 * zookeeper.hosts): compare as the library names the variables. */
static int is_key(const char *key)
{
	for (const char *const *k = prdshm_config_keys(); *k; k++) {
		size_t i = 0;

		while ((*k)[i] && ((*k)[i] == key[i] || ((*k)[i] == '.' && key[i] == '_')))
			i++;
		if ((*k)[i] == '\0' && key[i] == '\0')
			return 1;
	}
	return 0;
}

/* The library's "did you mean 'max_locks'" in @p msg, turned back into a
 * variable in @p hint (" (did you mean PRD_PARALLEL_MAX_LOCKS?)"), or "". */
static void env_hint(const char *msg, char *hint, size_t size)
{
	static const char mean[] = "did you mean '";
	const char *s = strstr(msg, mean);
	size_t o;

	hint[0] = '\0';
	if (s == NULL)
		return;
	o = (size_t)snprintf(hint, size, " (did you mean %s", ENV_PREFIX);
	for (s += strlen(mean); *s && *s != '\'' && o + 3 < size; s++)
		hint[o++] = (char)toupper((unsigned char)*s);
	memcpy(hint + o, "?)", 3);
}

/* A PRD_PARALLEL_ variable that sets nothing is a typo more often than not:
 * say so, with the library's suggestion for the key. */
static void warn_unknown_env(void)
{
	for (char **e = environ; *e; e++) {
		prdshm_diag d = PRDSHM_DIAG_INIT;
		prdshm_config scratch;
		char key[64], hint[96];

		if (env_key(*e, key, sizeof(key)) != 0 || is_key(key))
			continue;
		/* The library's message for an unknown key has the suggestion. */
		prdshm_config_init(&scratch);
		prdshm_config_set(&scratch, key, "", PRDSHM_FROM_ENV, &d);
		prdshm_config_free(&scratch);
		env_hint(d.msg, hint, sizeof(hint));
		tool_warn("%.*s is not a setting and is ignored%s",
			 (int)strcspn(*e, "="), *e, hint);
	}
}

int tool_load_config(const tool_common *tc, prdshm_config *cfg)
{
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	int r;

	warn_unknown_env();
	r = prdshm_config_load(cfg, tc->config_path, &diag);
	if (r == 0 && tc->shm_name)
		r = prdshm_config_set(cfg, "shm_name", tc->shm_name, PRDSHM_FROM_CMDLINE, &diag);
	if (r == 0) {
		tool_verbose("configuration: %s, segment %s",
			     tc->config_path ? tc->config_path : "defaults/./prdpar.yaml",
			     cfg->shm_name);
		return TOOL_EXIT_OK;
	}
	print_diag(&diag, 0);
	/* prdshm_config_load frees cfg on error; after a failed set it still
	 * owns the file's data, which the caller frees. */
	return TOOL_EXIT_CONFIG;
}

/* Each PRD_PARALLEL_<KEY> over @p cfg on its own: a bad one is a warning. */
static void env_each(prdshm_config *cfg)
{
	for (const char *const *k = prdshm_config_keys(); *k; k++) {
		prdshm_diag d = PRDSHM_DIAG_INIT;
		char var[96];
		const char *val;
		size_t o;

		o = (size_t)snprintf(var, sizeof(var), "%s", ENV_PREFIX);
		for (const char *c = *k; *c && o + 1 < sizeof(var); c++)
			var[o++] = *c == '.' ? '_' : (char)toupper((unsigned char)*c);
		var[o] = '\0';
		val = getenv(var);
		if (val && prdshm_config_set(cfg, *k, val, PRDSHM_FROM_ENV, &d) != 0)
			print_diag(&d, 1);
	}
}

/* Start over from the defaults: the configuration in @p cfg is dropped. */
static void defaults(prdshm_config *cfg)
{
	prdshm_config_free(cfg);
	prdshm_config_init(cfg);
}

int tool_load_config_lenient(const tool_common *tc, prdshm_config *cfg, int *degraded)
{
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	int r;

	*degraded = 0;
	warn_unknown_env();
	if (prdshm_config_load(cfg, tc->config_path, &diag) == 0)
		goto name;
	/* Again piece by piece, to keep what can be kept and say what cannot. */
	*degraded = 1;
	defaults(cfg);
	diag = (prdshm_diag)PRDSHM_DIAG_INIT;
	r = prdshm_config_load_file(cfg, tc->config_path ? tc->config_path : "prdpar.yaml", &diag);
	if (r != 0 && !(r == PRDSHM_ENOENT && !tc->config_path)) {
		print_diag(&diag, 1);
		defaults(cfg);
	}
	env_each(cfg);
	diag = (prdshm_diag)PRDSHM_DIAG_INIT;
	if (prdshm_config_validate(cfg, &diag) != 0) {
		print_diag(&diag, 1);
		defaults(cfg);
	}
name:
	diag = (prdshm_diag)PRDSHM_DIAG_INIT;
	if (tc->shm_name &&
	    prdshm_config_set(cfg, "shm_name", tc->shm_name, PRDSHM_FROM_CMDLINE, &diag) != 0) {
		print_diag(&diag, 0);
		return TOOL_EXIT_CONFIG;
	}
	return TOOL_EXIT_OK;
}

int tool_blame_config(const tool_common *tc, const prdshm_config *cfg, int degraded)
{
	/* Without --name the configuration not read may name another segment. */
	if (!degraded || tc->shm_name)
		return TOOL_EXIT_OK;
	tool_err("no segment %s, and the configuration that may name another could not be "
		 "read (above): fix it, or give --name",
		 cfg->shm_name);
	return TOOL_EXIT_CONFIG;
}

int tool_open_lenient(const tool_common *tc, const prdshm_config *cfg, int degraded,
		      prdshm_seg **seg)
{
	int r = prdshm_seg_open_cfg(cfg, seg);

	if (r == PRDSHM_ENOENT && tool_blame_config(tc, cfg, degraded))
		return TOOL_EXIT_CONFIG;
	if (r)
		return open_failed(r, cfg->shm_name);
	return TOOL_EXIT_OK;
}

int tool_open_segment(const prdshm_config *cfg, prdshm_seg **seg)
{
	int r = prdshm_seg_open_cfg(cfg, seg);

	if (r)
		return open_failed(r, cfg->shm_name);
	return TOOL_EXIT_OK;
}

int tool_seg_info(prdshm_seg *seg, const char *name, prdshm_seg_info *info)
{
	int r;

	info->struct_size = sizeof(*info);
	r = prdshm_seg_info_get(seg, info);
	if (r)
		return tool_fail(r, "read segment %s", name);
	return TOOL_EXIT_OK;
}

int tool_is_zookeeper(const prdshm_config *cfg)
{
	char backend[32] = "";

	return prdshm_config_get(cfg, "backend", backend, sizeof(backend)) == 0 &&
	       strcmp(backend, "zookeeper") == 0;
}

int tool_seg_remove(const prdshm_config *cfg, int force)
{
	if (force && !tool_is_zookeeper(cfg))
		return prdshm_seg_unlink(cfg->shm_name);
	return prdshm_seg_unlink_unused_cfg(cfg);
}

int tool_start(int parsed, const tool_common *tc, void (*usage)(FILE *out), prdshm_config *cfg,
	       prdshm_seg **seg)
{
	int rc = tool_parse_done(parsed, tc, usage);

	if (rc != TOOL_CONTINUE)
		return rc;
	rc = tool_load_config(tc, cfg);
	if (rc == 0 && seg)
		rc = tool_open_segment(cfg, seg);
	return rc ? rc : TOOL_CONTINUE;
}
