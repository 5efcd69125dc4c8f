/*
 * yaml.c: the YAML reader's cursor over libyaml's events: the current
 * event, its position for diagnostics (line and column, or a byte offset for
 * an encoding error), syntax errors, and the checks every value gets (no
 * aliases or anchors, no NUL bytes, no key twice).  What the events mean is
 * read by load.c (the top level) and plan.c (the phases).
 */
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "base/util.h"
#include "config/config.h"

static struct where mark_where(const struct loader *L, yaml_mark_t m)
{
	struct where at = { L->file, (int)m.line + 1, (int)m.column + 1 };

	return at;
}

struct where prdshm__ev_where(const struct loader *L)
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
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG, "cannot read the input: %s",
					 p->problem ? p->problem : "?");
	}
	at = mark_where(L, p->problem_mark);
	if (p->context)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG, "YAML syntax error: %s %s",
					 p->problem ? p->problem : "?", p->context);
	return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG, "YAML syntax error: %s",
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
int prdshm__ev_next(struct loader *L)
{
	struct where at;
	const yaml_char_t *anchor;

	if (L->have_ev)
		yaml_event_delete(&L->ev);
	L->have_ev = 0;
	if (!yaml_parser_parse(&L->parser, &L->ev))
		return syntax_error(L);
	L->have_ev = 1;
	at = prdshm__ev_where(L);
	/* A configuration has no use for shared nodes, and rejecting them keeps
	 * "billion laughs" documents out. */
	if (L->ev.type == YAML_ALIAS_EVENT)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "YAML aliases are not supported (*%.64s)",
					 (const char *)L->ev.data.alias.anchor);
	anchor = ev_anchor(&L->ev);
	if (anchor)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "YAML anchors are not supported (&%.64s)",
					 (const char *)anchor);
	return 0;
}

const char *prdshm__ev_text(const struct loader *L)
{
	return (const char *)L->ev.data.scalar.value;
}

/* A plain "", "~" or "null": YAML's way of giving no value. */
int prdshm__ev_is_null(const struct loader *L)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (L->ev.type != YAML_SCALAR_EVENT || L->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	for (size_t i = 0; i < PRDSHM__ARRAY_SIZE(nulls); i++)
		if (strcmp(prdshm__ev_text(L), nulls[i]) == 0)
			return 1;
	return 0;
}

/* The current scalar as a new string; no NUL bytes allowed inside. */
int prdshm__ev_strdup(struct loader *L, const char *what, char **out)
{
	struct where at = prdshm__ev_where(L);

	if (L->ev.type != YAML_SCALAR_EVENT)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "%s: expected a single value, not a list or mapping",
					 what);
	if (strlen(prdshm__ev_text(L)) != L->ev.data.scalar.length)
		return prdshm__diag_fail(L->diag, &at, PRDSHM_ECONFIG,
					 "%s: the value holds a NUL byte", what);
	*out = strdup(prdshm__ev_text(L));
	if (!*out)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	return 0;
}

int prdshm__check_dup(struct loader *L, struct origin_rec *seen, const char *key,
		      const struct where *at)
{
	if (seen->line)
		return prdshm__diag_fail(L->diag, at, PRDSHM_ECONFIG,
					 "duplicate key '%s' (first at line %d, column %d)", key,
					 seen->line, seen->column);
	seen->origin = PRDSHM_FROM_FILE;
	seen->line = at->line;
	seen->column = at->column;
	return 0;
}
