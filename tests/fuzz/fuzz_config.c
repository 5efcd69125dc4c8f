/*
 * fuzz_config.c: libFuzzer target for the configuration reader.
 *
 * Any input must load or fail cleanly (no crash, no leak, diag filled on
 * failure).  An input that loads and validates must also survive the round
 * trip: written with prdshm_config_write() and read again, it gives the same
 * values, which catches writer output the reader does not accept.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prdshm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_strv(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

static int same_phase(const prdshm_phase_def *p, const prdshm_phase_def *q)
{
	if (strcmp(p->id, q->id) != 0 || strcmp(p->name, q->name) != 0)
		return 0;
	if (!same_strv(p->deps, p->ndeps, q->deps, q->ndeps))
		return 0;
	if (!same_strv(p->outputs, p->noutputs, q->outputs, q->noutputs))
		return 0;
	if (p->estimated_minutes != q->estimated_minutes)
		return 0;
	if ((p->command == NULL) != (q->command == NULL))
		return 0;
	return p->command == NULL || strcmp(p->command, q->command) == 0;
}

static int same_config(const prdshm_config *a, const prdshm_config *b)
{
	const char *const *keys = prdshm_config_keys();
	char va[300], vb[300];

	for (size_t i = 0; keys[i]; i++) {
		if (prdshm_config_get(a, keys[i], va, sizeof(va)) ||
		    prdshm_config_get(b, keys[i], vb, sizeof(vb)) || strcmp(va, vb) != 0)
			return 0;
	}
	if (a->nphases != b->nphases)
		return 0;
	for (size_t i = 0; i < a->nphases; i++)
		if (!same_phase(&a->phases[i], &b->phases[i]))
			return 0;
	return 1;
}

static void round_trip(const prdshm_config *cfg)
{
	prdshm_config back;
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	if (prdshm_config_write(cfg, f) != 0)
		abort();
	fclose(f);
	prdshm_config_init(&back);
	if (prdshm_config_load_string(&back, text, len, "written", &diag) != 0) {
		fprintf(stderr, "written config does not load: %d:%d: %s\n%s\n", diag.line,
			diag.column, diag.msg, text);
		abort();
	}
	if (!same_config(cfg, &back)) {
		fprintf(stderr, "round trip changed the configuration:\n%s\n", text);
		abort();
	}
	prdshm_config_free(&back);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	prdshm_config cfg;
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	int err;

	prdshm_config_init(&cfg);
	err = prdshm_config_load_string(&cfg, (const char *)data, size, "fuzz.yaml", &diag);
	if (err == PRDSHM_ECONFIG && diag.msg[0] == '\0')
		abort(); /* every rejection says why */
	if (err == 0 && prdshm_config_validate(&cfg, &diag) == 0)
		round_trip(&cfg);
	prdshm_config_free(&cfg);
	return 0;
}
