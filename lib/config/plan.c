/*
 * plan.c: the plan of prdpar.yaml, the value of its "phases:" key: each
 * phase's id, name, dependencies, outputs, estimated time and command, with
 * the position of each id and dependency for the errors the graph finds
 * later (prdshm_config_validate()).
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "base/util.h"
#include "config/config.h"

/* estimated_time: at most about 1900 years, in minutes. */
#define CAP_MINUTES 1e9

enum phase_key { PK_ID, PK_NAME, PK_DEPS, PK_OUTPUTS, PK_ESTIMATE, PK_COMMAND, PK_N };

static const char *const phase_names[] = {
	"id", "name", "dependencies", "outputs", "estimated_time", "command", NULL,
};

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
	struct where at = prdshm__ev_where(L);
	int scalar = L->ev.type == YAML_SCALAR_EVENT;

	if (!scalar || parse_minutes(prdshm__ev_text(L), &p->estimated_minutes))
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "estimated_time: expected minutes or a duration "
					 "such as 90m, 1.5h or 30s, got '%.64s'",
					 scalar ? prdshm__ev_text(L) : "a list or mapping");
	return 0;
}

/* Check one item of a phase's list: a dependency is a phase id, an output a resource. */
static int check_item(struct loader *L, enum phase_key pk, const char *item)
{
	struct where at = prdshm__ev_where(L);
	size_t n = strlen(item);

	if (pk == PK_DEPS && !prdshm__valid_id(item))
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "dependencies: '%.64s' is not a valid phase id "
					 "(1..%d printable characters, no spaces)",
					 item, PRDSHM_ID_MAX);
	if (pk == PK_OUTPUTS && (n == 0 || n > PRDSHM_NAME_MAX))
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "outputs: a resource name has 1..%d bytes",
					 PRDSHM_NAME_MAX);
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
	struct where at = prdshm__ev_where(L);
	char *s;
	int err;

	if (prdshm__ev_is_null(L))
		return 0;
	if (L->ev.type != YAML_SEQUENCE_START_EVENT)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "%s: expected a list such as [a, b]", what);
	for (;;) {
		err = prdshm__ev_next(L);
		if (err)
			return err;
		if (L->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		err = prdshm__ev_strdup(L, what, &s);
		if (err)
			return err;
		err = pos ? push_pos(pos, npos, prdshm__ev_where(L)) : 0;
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
	struct where at = prdshm__ev_where(L);
	int err;

	if (prdshm__ev_is_null(L) && pk == PK_ID)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG, "id: empty value");
	if (prdshm__ev_is_null(L))
		return 0;
	err = prdshm__ev_strdup(L, phase_names[pk], dst);
	if (err)
		return err;
	if (pk == PK_ID && !prdshm__valid_id(*dst))
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "phase id '%.64s' is not valid (1..%d printable "
					 "characters, no spaces)",
					 *dst, PRDSHM_ID_MAX);
	return 0;
}

static int load_phase_value(struct loader *L, enum phase_key pk, prdshm_phase_def *p)
{
	struct where at;

	switch (pk) {
	case PK_ID:
		at = prdshm__ev_where(L);
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
	struct where at = prdshm__ev_where(L);
	int pk;
	int err;

	if (L->ev.type != YAML_SCALAR_EVENT)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "a phase's keys must be plain words");
	pk = phase_key_index(prdshm__ev_text(L));
	if (pk < 0)
		return prdshm__unknown_key(L->diag, &at, "phase key", prdshm__ev_text(L),
					   phase_names);
	err = prdshm__check_dup(L, &seen[pk], phase_names[pk], &at);
	if (err)
		return err;
	err = prdshm__ev_next(L);
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
	struct where at = prdshm__ev_where(L);

	if (n >= (size_t)CAP_PHASES)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "too many phases (at most %ld)", CAP_PHASES);
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
	struct where at = prdshm__ev_where(L);
	prdshm_phase_def *p = NULL;
	int err;

	if (L->ev.type != YAML_MAPPING_START_EVENT)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "phases: each phase must be a mapping (- id: ...)");
	err = push_phase(L, &p);
	if (err)
		return err;
	p->line = at.line;
	p->column = at.column;
	for (;;) {
		err = prdshm__ev_next(L);
		if (err)
			return err;
		if (L->ev.type == YAML_MAPPING_END_EVENT)
			break;
		err = load_phase_entry(L, p, seen);
		if (err)
			return err;
	}
	if (!p->id)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG, "phase has no 'id'");
	if (!p->name) {
		p->name = strdup(p->id);
		if (!p->name)
			return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	}
	return 0;
}

/* The value of "phases:"; the current event is its first. */
int prdshm__load_phases(struct loader *L, const struct where *key_at)
{
	struct where at = prdshm__ev_where(L);
	int err;

	L->have_phases = 1;
	L->tmp.src_->phases.origin = PRDSHM_FROM_FILE;
	L->tmp.src_->phases.line = key_at->line;
	L->tmp.src_->phases.column = key_at->column;
	if (prdshm__ev_is_null(L))
		return 0;
	if (L->ev.type != YAML_SEQUENCE_START_EVENT)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "phases: expected a list of phases (- id: ...)");
	for (;;) {
		err = prdshm__ev_next(L);
		if (err)
			return err;
		if (L->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		err = load_phase(L);
		if (err)
			return err;
	}
}
