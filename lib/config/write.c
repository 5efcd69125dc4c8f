/*
 * write.c: prdshm_config_write(): a configuration as a prdpar.yaml that
 * reads back to the same values and plan, through libyaml's emitter.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "base/util.h"
#include "config/config.h"

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

/* The keys named "<block>.<key>" (zookeeper.hosts), or those without a dot
 * for @p block NULL, as "key: value" entries of the current mapping. */
static int emit_keys(yaml_emitter_t *em, const prdshm_config *cfg, const char *block)
{
	char val[PRDSHM__ZK_HOSTS_MAX + 1];
	size_t n = block ? strlen(block) : 0;

	for (size_t i = 0; i < NKEYS; i++) {
		const char *name = prdshm__keys[i].name;
		const char *dot = strchr(name, '.');

		if (block ? !dot || (size_t)(dot - name) != n || strncmp(name, block, n) : !!dot)
			continue;
		if (prdshm_config_get(cfg, name, val, sizeof(val)))
			return -1;
		if (emit_str(em, block ? dot + 1 : name) || emit_str(em, val))
			return -1;
	}
	return 0;
}

static int emit_config(yaml_emitter_t *em, const prdshm_config *cfg)
{
	if (emit_map(em, YAML_BLOCK_MAPPING_STYLE) || emit_keys(em, cfg, NULL))
		return -1;
	if (emit_str(em, "zookeeper") || emit_map(em, YAML_BLOCK_MAPPING_STYLE) ||
	    emit_keys(em, cfg, "zookeeper") || emit_end(em, 1))
		return -1;
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
	if (prdshm__config_ok(cfg, "prdshm_config_write") != 0)
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
