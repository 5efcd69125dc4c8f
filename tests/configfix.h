/*
 * configfix.h: what the configuration test programs share (configfix.c).
 */
#ifndef PRDSHM_TEST_CONFIGFIX_H
#define PRDSHM_TEST_CONFIGFIX_H

#include "testutil.h"

/* The name tc_load() gives its YAML, as if from a file. */
#define FILE_NAME "test.yaml"

/* Unset every PRD_PARALLEL_ variable a test may set. */
void tc_clear_env(void);

/* Load @p yaml into fresh defaults; the caller frees @p cfg. */
int tc_load(prdshm_config *cfg, const char *yaml, prdshm_diag *d);

/* A load that must fail with ECONFIG at @p line:@p col with @p msg in the message. */
void tc_expect_error(const char *yaml, int line, int col, const char *msg);

/* A load that succeeds and a validate that fails like tc_expect_error(). */
void tc_expect_invalid(const char *yaml, int line, int col, const char *msg);

/* Key @p key of @p cfg reads @p want. */
void tc_expect_value(const prdshm_config *cfg, const char *key, const char *want);

/* A new temporary file holding @p text; its path (static: one at a time). */
char *tc_write_temp(const char *text);

/* A file that sets every key, and the check that a configuration holds
 * exactly its values. */
extern const char tc_full_yaml[];
void tc_check_full(const prdshm_config *cfg);

#endif
