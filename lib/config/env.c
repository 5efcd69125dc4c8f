/*
 * env.c: the PRD_PARALLEL_<KEY> environment variables, applied all or
 * nothing over a configuration (prdshm_config_apply_env()).
 */
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "config/config.h"

int prdshm_config_apply_env(prdshm_config *cfg, prdshm_diag *diag)
{
	prdshm_diag dummy;
	prdshm_config tmp;
	char var[sizeof(ENV_PREFIX) + KEY_TEXT_MAX];
	int err;

	prdshm__call_begin();
	err = prdshm__diag_begin(&diag, &dummy, "prdshm_config_apply_env");
	if (err)
		return err;
	if (!cfg)
		return prdshm__fail(PRDSHM_EINVAL, "config_apply_env: no configuration");
	err = prdshm__config_ok(cfg, "prdshm_config_apply_env");
	if (err)
		return err;
	err = prdshm__stage_begin(&tmp, cfg);
	if (err)
		return err;
	for (size_t i = 0; i < NKEYS; i++) {
		struct setting s = { 0 };

		prdshm__env_name(&prdshm__keys[i], var, sizeof(var));
		s.text = getenv(var);
		if (!s.text)
			continue;
		s.len = strlen(s.text);
		s.origin = PRDSHM_FROM_ENV;
		s.at.file = var;
		err = prdshm__set_key(&tmp, (int)i, &s, diag);
		if (err)
			goto out;
	}
	prdshm__stage_commit(cfg, &tmp, 0);
out:
	prdshm_config_free(&tmp);
	return err;
}
