/*
 * segopen.c: the configuration a tool runs with and the segment it
 * attaches to, with their error messages.  See segopen.h.
 */
#include <stdio.h>

#include "exitcode.h"
#include "messages.h"
#include "segopen.h"

static void print_diag(const prdshm_diag *d)
{
	if (d->line > 0)
		tool_err("%s:%d:%d: %s", d->file, d->line, d->column, d->msg);
	else if (d->file[0])
		tool_err("%s: %s", d->file, d->msg);
	else
		tool_err("invalid configuration: %s", prdshm_last_error());
}

int tool_load_config(const tool_common *tc, prdshm_config *cfg)
{
	prdshm_diag diag = PRDSHM_DIAG_INIT;
	int r;

	r = prdshm_config_load(cfg, tc->config_path, &diag);
	if (r == 0 && tc->shm_name)
		r = prdshm_config_set(cfg, "shm_name", tc->shm_name, PRDSHM_FROM_CMDLINE, &diag);
	if (r == 0) {
		tool_verbose("configuration: %s, segment %s",
			     tc->config_path ? tc->config_path : "defaults/./prdpar.yaml",
			     cfg->shm_name);
		return TOOL_EXIT_OK;
	}
	print_diag(&diag);
	/* prdshm_config_load frees cfg on error; after a failed set it still
	 * owns the file's data, which the caller frees. */
	return TOOL_EXIT_CONFIG;
}

int tool_open_segment(const prdshm_config *cfg, prdshm_seg **seg)
{
	int r = prdshm_seg_open_cfg(cfg, seg);

	if (r)
		return tool_fail(r, "open segment %s", cfg->shm_name);
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
