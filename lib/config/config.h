/*
 * config.h: what the files of the configuration group (lib/config/) share;
 * included by them only, never installed.  The public functions are in
 * prdshm.h.
 *
 * The configuration: built-in defaults, prdpar.yaml (read with libyaml's
 * event parser), PRD_PARALLEL_<KEY> environment variables and the tools'
 * command-line options, in that order of precedence.  The group stands
 * apart from the segment: it calls lib/base and the pure graph code
 * (prdshm_graph_build()) only.  Its files, each calling only files listed before it:
 *
 *   diag.c      failures with their position, the checks at every entry
 *   backend.c   the backend's keys (backend:, the zookeeper: block)
 *   keys.c      the key table, defaults, values, origins; set, get, origin
 *   config.c    init, free, the staged change
 *   yaml.c      the cursor over libyaml's events, positions, syntax errors
 *   plan.c      the "phases:" section
 *   env.c       the environment
 *   validate.c  prdshm_config_validate()
 *   write.c     prdshm_config_write()
 *   load.c      the document's top level, load from a string or a file,
 *               prdshm_config_load_size()
 */
#ifndef PRDSHM_INTERNAL_CONFIG_H
#define PRDSHM_INTERNAL_CONFIG_H

#include <stddef.h>

#include <yaml.h>

#include "prdshm.h"
#include "base/util.h"
#include "config/backend.h"

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

#define ENV_PREFIX "PRD_PARALLEL_"
/* Keys longer than this are unknown anyway; they are shortened in messages. */
#define KEY_TEXT_MAX 64

/* KEY_BACKEND, KEY_ZK_TEXT and KEY_ZK_INT live in struct prdshm__backend_cfg
 * (backend.c), not in prdshm_config: their off is into that struct. */
enum key_type {
	KEY_INT,
	KEY_SCHED,
	KEY_SHM_NAME,
	KEY_SHM_MODE,
	KEY_SHM_GROUP,
	KEY_BACKEND,
	KEY_ZK_TEXT,
	KEY_ZK_INT,
};

struct key_def {
	const char *name;
	enum key_type type;
	size_t off; /* offset of the field in prdshm_config */
	long min, max;
};

/* The number of keys: the compiler checks it against the table in keys.c. */
#define NKEYS 19
/* In documentation order; prdshm_config_keys() lists them in this order. */
extern const struct key_def prdshm__keys[NKEYS];

/* Where one value came from. */
struct origin_rec {
	prdshm_origin origin;
	int line, column; /* of the key, when from a file */
	int vline, vcolumn; /* of the value, when from a file: where errors point */
};

/* Private to lib/config: referenced by prdshm_config.src_ (NULL: all defaults). */
struct prdshm__config_src {
	struct origin_rec key[NKEYS];
	struct origin_rec phases;
	struct prdshm__backend_cfg be; /* the backend's values (backend.h) */
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
	char name[PRDSHM__ZK_HOSTS_MAX + 1]; /* KEY_SHM_NAME, KEY_SHM_GROUP, KEY_ZK_TEXT */
};

/* The YAML reader's state (yaml.c, plan.c, load.c). */
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
	/* First position of each key; [NKEYS]: phases, [NKEYS + 1]: the zookeeper: block. */
	struct origin_rec seen[NKEYS + 2];
};

/* diag.c */
int prdshm__diag_fail(prdshm_diag *diag, const struct where *at, int err, const char *fmt, ...)
	PRDSHM__PRINTF(4, 5);
void prdshm__diag_clear(prdshm_diag *diag);
int prdshm__diag_begin(prdshm_diag **diag, prdshm_diag *dummy, const char *fn);
int prdshm__config_ok(const prdshm_config *cfg, const char *fn);
int prdshm__unknown_key(prdshm_diag *diag, const struct where *at, const char *what,
			const char *word, const char *const *names);

/* backend.c */
void prdshm__backend_defaults(struct prdshm__backend_cfg *be);
int prdshm__parse_backend_key(const struct key_def *k, const struct setting *s, struct kval *v,
			      prdshm_diag *diag);
int prdshm__check_backend_key(const struct key_def *k, const struct kval *v,
			      const struct where *at, prdshm_diag *diag);
void prdshm__get_backend_key(const prdshm_config *cfg, const struct key_def *k, struct kval *v);
void prdshm__put_backend_key(prdshm_config *cfg, const struct key_def *k, const struct kval *v);
int prdshm__format_backend_key(const prdshm_config *cfg, const struct key_def *k, char *buf,
			       size_t size);

/* keys.c */
int prdshm__find_key(const char *name);
void prdshm__env_name(const struct key_def *k, char *buf, size_t size);
int prdshm__check_value(const struct key_def *k, const struct kval *v, const struct where *at,
			prdshm_diag *diag);
void prdshm__get_kval(const prdshm_config *cfg, const struct key_def *k, struct kval *v);
int prdshm__set_key(prdshm_config *cfg, int ki, const struct setting *s, prdshm_diag *diag);
void prdshm__key_where(const prdshm_config *cfg, int ki, struct where *at, char *buf,
		       size_t size);
void prdshm__config_defaults(prdshm_config *cfg);

/* config.c */
int prdshm__stage_begin(prdshm_config *tmp, const prdshm_config *cfg);
void prdshm__stage_commit(prdshm_config *cfg, prdshm_config *tmp, int take_phases);

/* yaml.c */
int prdshm__ev_next(struct loader *L);
struct where prdshm__ev_where(const struct loader *L);
const char *prdshm__ev_text(const struct loader *L);
int prdshm__ev_is_null(const struct loader *L);
int prdshm__ev_strdup(struct loader *L, const char *what, char **out);
int prdshm__check_dup(struct loader *L, struct origin_rec *seen, const char *key,
		      const struct where *at);

/* plan.c */
int prdshm__load_phases(struct loader *L, const struct where *key_at);

#endif
