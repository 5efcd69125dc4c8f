/*
 * diag.c: how the configuration group reports a failure: the prdshm_diag it
 * fills (file, line, column, message) and records for prdshm_last_error(),
 * the checks each public function makes first on the caller's prdshm_diag
 * and prdshm_config (their struct_size, see "ABI" in prdshm.h), and the
 * "did you mean" of an unknown key.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/abi.h"
#include "base/util.h"
#include "config/config.h"

/* Fill @p diag, record the message for prdshm_last_error() and return @p err. */
int prdshm__diag_fail(prdshm_diag *diag, const struct where *at, int err, const char *fmt, ...)
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
void prdshm__diag_clear(prdshm_diag *diag)
{
	prdshm__abi_clear(diag);
}

/*
 * The start of every function that reports in a diag: a NULL *diag becomes
 * @p dummy, the caller's diag is checked to be at least a 1.0 prdshm_diag
 * and cleared.  @return 0 or PRDSHM_EINVAL (nothing written).
 */
int prdshm__diag_begin(prdshm_diag **diag, prdshm_diag *dummy, const char *fn)
{
	int err;

	if (!*diag) {
		memset(dummy, 0, sizeof(*dummy));
		dummy->struct_size = sizeof(*dummy);
		*diag = dummy;
	}
	err = prdshm__abi_check(*diag, PRDSHM_DIAG_SIZE_1_0, "prdshm_diag", fn);
	if (!err)
		prdshm__diag_clear(*diag);
	return err;
}

/* 0 if @p cfg is at least a 1.0 prdshm_config, else PRDSHM_EINVAL. */
int prdshm__config_ok(const prdshm_config *cfg, const char *fn)
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

int prdshm__unknown_key(prdshm_diag *diag, const struct where *at, const char *what,
			const char *word, const char *const *names)
{
	const char *s = suggest(word, names);

	if (s)
		return prdshm__diag_fail(diag, at, PRDSHM_ECONFIG,
					 "unknown %s '%.*s' (did you mean '%s'?)", what,
					 KEY_TEXT_MAX, word, s);
	return prdshm__diag_fail(diag, at, PRDSHM_ECONFIG, "unknown %s '%.*s'", what, KEY_TEXT_MAX,
				 word);
}
