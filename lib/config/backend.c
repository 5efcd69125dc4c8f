/*
 * backend.c: the keys that choose and reach a backend: "backend" (shm or
 * zookeeper) and the zookeeper: block ("zookeeper.hosts", "zookeeper.root",
 * "zookeeper.session_timeout_ms", "zookeeper.auth_file").  Their values
 * live with the origins in the configuration's private part (struct
 * prdshm__config_src), not in prdshm_config (config/backend.h says why).
 */
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "config/config.h"

void prdshm__backend_defaults(struct prdshm__backend_cfg *be)
{
	memset(be, 0, sizeof(*be));
	be->backend = PRDSHM__BACKEND_SHM;
	be->zk_session_timeout_ms = 10000;
	prdshm__strlcpy(be->zk_hosts, "127.0.0.1:2181", sizeof(be->zk_hosts));
	prdshm__strlcpy(be->zk_root, "/prdshm", sizeof(be->zk_root));
}

const struct prdshm__backend_cfg *prdshm__config_backend(const prdshm_config *cfg)
{
	static struct prdshm__backend_cfg defaults;
	static int ready;

	if (cfg && cfg->src_)
		return &cfg->src_->be;
	/* Written once with the same bytes by any thread that gets here. */
	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		prdshm__backend_defaults(&defaults);
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	return &defaults;
}

static const struct prdshm__backend_cfg *be_of(const prdshm_config *cfg)
{
	return prdshm__config_backend(cfg);
}

/* The field @p k names; the caller made sure cfg->src_ exists. */
static void *be_field(prdshm_config *cfg, const struct key_def *k)
{
	return (char *)&cfg->src_->be + k->off;
}

static const void *be_field_c(const prdshm_config *cfg, const struct key_def *k)
{
	return (const char *)be_of(cfg) + k->off;
}

int prdshm__parse_backend_key(const struct key_def *k, const struct setting *s, struct kval *v,
			      prdshm_diag *diag)
{
	if (k->type == KEY_BACKEND) {
		if (strcmp(s->text, "shm") == 0)
			v->n = PRDSHM__BACKEND_SHM;
		else if (strcmp(s->text, "zookeeper") == 0)
			v->n = PRDSHM__BACKEND_ZOOKEEPER;
		else
			return prdshm__diag_fail(diag, &s->at, PRDSHM_ECONFIG,
						 "%s: expected 'shm' or 'zookeeper', got '%.64s'",
						 k->name, s->text);
		return 0;
	}
	/* KEY_ZK_TEXT: k->max is the longest value. */
	if (s->len > (size_t)k->max)
		return prdshm__diag_fail(diag, &s->at, PRDSHM_ECONFIG,
					 "%s: '%.64s...' is longer than %ld bytes", k->name, s->text,
					 k->max);
	memcpy(v->name, s->text, s->len + 1);
	return 0;
}

/* Why @p hosts cannot be a ZooKeeper connection string, or NULL. */
static const char *hosts_problem(const char *hosts)
{
	if (hosts[0] == '\0')
		return "needs at least one host:port";
	for (const char *p = hosts; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return "must not contain spaces or control characters";
	return NULL;
}

/* Why @p path cannot name the credentials file, or NULL: "" is no file
 * (no credentials).  The file itself is read at connect (lib/zk/auth.c):
 * a configuration may name one that only the machine running the agents
 * has. */
static const char *auth_file_problem(const char *path)
{
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "must not contain control characters";
	return NULL;
}

/* Why @p root cannot be the znode the segments live under, or NULL. */
static const char *root_problem(const char *root)
{
	size_t n = strlen(root);

	if (root[0] != '/')
		return "must start with '/'";
	if (n > 1 && root[n - 1] == '/')
		return "must not end with '/'";
	if (strstr(root, "//"))
		return "must not contain '//'";
	/* ZooKeeper refuses "." and ".." as a component of a path. */
	for (const char *c = root + 1; *c; c += strcspn(c, "/") + (c[strcspn(c, "/")] != '\0')) {
		size_t len = strcspn(c, "/");

		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return "must not contain '.' or '..' components";
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)root[i] < 0x20 || root[i] == 0x7f)
			return "must not contain control characters";
	if (strcmp(root, "/zookeeper") == 0 || strncmp(root, "/zookeeper/", 11) == 0)
		return "is ZooKeeper's own subtree";
	return NULL;
}

int prdshm__check_backend_key(const struct key_def *k, const struct kval *v,
			      const struct where *at, prdshm_diag *diag)
{
	const char *why = NULL;

	if (k->type == KEY_ZK_TEXT) {
		if (strcmp(k->name, "zookeeper.hosts") == 0)
			why = hosts_problem(v->name);
		else if (strcmp(k->name, "zookeeper.auth_file") == 0)
			why = auth_file_problem(v->name);
		else
			why = root_problem(v->name);
		if (why)
			return prdshm__diag_fail(diag, at, PRDSHM_ECONFIG, "%s: '%.64s' %s",
						 k->name, v->name, why);
		return 0;
	}
	if (v->n < k->min || v->n > k->max)
		return prdshm__diag_fail(diag, at, PRDSHM_ECONFIG,
					 "%s: %ld is out of range (%ld..%ld)", k->name, v->n,
					 k->min, k->max);
	return 0;
}

void prdshm__get_backend_key(const prdshm_config *cfg, const struct key_def *k, struct kval *v)
{
	if (k->type == KEY_ZK_TEXT)
		prdshm__strlcpy(v->name, be_field_c(cfg, k), sizeof(v->name));
	else
		v->n = *(const int *)be_field_c(cfg, k);
}

void prdshm__put_backend_key(prdshm_config *cfg, const struct key_def *k, const struct kval *v)
{
	size_t size = (size_t)k->max + 1; /* the field's size */

	if (k->type == KEY_ZK_TEXT)
		prdshm__strlcpy(be_field(cfg, k), v->name, size);
	else
		*(int *)be_field(cfg, k) = (int)v->n;
}

int prdshm__format_backend_key(const prdshm_config *cfg, const struct key_def *k, char *buf,
			       size_t size)
{
	const struct prdshm__backend_cfg *be = be_of(cfg);

	switch (k->type) {
	case KEY_BACKEND:
		return snprintf(buf, size, "%s",
				be->backend == PRDSHM__BACKEND_ZOOKEEPER ? "zookeeper" : "shm");
	case KEY_ZK_TEXT:
		return snprintf(buf, size, "%s", (const char *)be_field_c(cfg, k));
	default:
		return snprintf(buf, size, "%d", *(const int *)be_field_c(cfg, k));
	}
}
