/*
 * prdshm-cleanup: scripted recovery after a crash.  Reap dead agents (free
 * their locks, fail or requeue their phases), repair what the library can
 * repair, or remove the segment.  --save-before writes the inspection
 * document first, so that recovery never destroys the evidence.
 * See docs/man/prdshm-cleanup.1.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "args.h"

/* What was done, for the human lines and the JSON document. */
struct actions {
	json_t *list;
	int print; /* print each action as it happens */
	int absent; /* there was no segment */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: prdshm-cleanup [options]\n"
		"Recover the segment after a crash: reap dead agents (free their locks,\n"
		"mark their IN_PROGRESS phases FAILED), repair what can be repaired, and\n"
		"print each action.\n"
		"\n"
		"  -c, --config FILE       read FILE instead of ./prdpar.yaml\n"
		"      --name NAME         segment name (default: PRD_PARALLEL_SHM_NAME, then\n"
		"                          shm_name from the configuration, then /prdpar)\n"
		"      --dry-run           only report what would be done\n"
		"      --json              print {\"actions\": [...], \"healthy\": bool, ...}\n"
		"      --save-before FILE  first write the inspection JSON (as prdshm-inspect\n"
		"                          --json) to FILE\n"
		"      --requeue           put the dead agents' phases back to QUEUED\n"
		"      --unlink            remove the segment (refused while live agents use\n"
		"                          it)\n"
		"      --force             with --unlink: remove it even so (live agents then\n"
		"                          keep locks that no longer exclude newcomers; not\n"
		"                          on backend: zookeeper, which refuses all the same)\n"
		"  -q, --quiet             print nothing but errors\n"
		"  -v, --verbose           say more\n"
		"  -h, --help              show this help and exit\n"
		"  -V, --version           show the version and exit\n"
		"\n"
		"Exit status: 0 healthy afterwards (also when there was nothing to do) or\n"
		"removed; 1 gave up: a live process kept a segment mutex for 2 s (stopped\n"
		"or stuck inside the library); 2 --unlink refused: live agents use the\n"
		"segment; 3 (--dry-run)\n"
		"dead agents hold locks or phases; 4 corrupt and not repairable, or\n"
		"incompatible; 65 invalid configuration (only when it may name another\n"
		"segment: without --name); 77 permission denied; 64 usage; 70 internal\n"
		"error.  No segment: 0, nothing to do.  A broken ./prdpar.yaml or\n"
		"PRD_PARALLEL_* value is a warning here, never a reason to stop.\n");
}

static const tool_optdef cleanup_optdefs[] = {
	TOOL_OPT_SET("dry-run", 0, struct cleanup_opts, dry_run, 1),
	TOOL_OPT_SET("json", 0, struct cleanup_opts, json, 1),
	TOOL_OPT_STR("save-before", 0, struct cleanup_opts, save_before),
	TOOL_OPT_SET("requeue", 0, struct cleanup_opts, requeue, 1),
	TOOL_OPT_SET("unlink", 0, struct cleanup_opts, unlink, 1),
	TOOL_OPT_SET("force", 0, struct cleanup_opts, force, 1),
	{ 0 },
};

int cleanup_parse(int argc, char **argv, struct cleanup_opts *o, int silent)
{
	int rc;

	memset(o, 0, sizeof(*o));
	o->tc.silent = silent;
	rc = tool_getopt(&o->tc, argc, argv, TOOL_C_IS_CONFIG | TOOL_NO_OPERANDS,
			 cleanup_optdefs, o);
	if (rc)
		return rc;
	if (o->force && !o->unlink)
		return tool_parse_error(&o->tc, "--force only applies to --unlink");
	return 0;
}

static void on_action(void *ctx, const char *line)
{
	struct actions *a = ctx;

	json_array_append_new(a->list, tool_json_str(line));
	if (a->print)
		printf("%s\n", line);
}

static void action(struct actions *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void action(struct actions *a, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	on_action(a, line);
}

/* The evidence: the same document as prdshm-inspect --json, in FILE. */
static int save_before(prdshm_seg *seg, const char *name, const char *file)
{
	prdshm_snapshot *snap = NULL;
	json_t *doc = NULL;
	tool_problems pb;
	int rc = TOOL_EXIT_OK;
	FILE *f;
	int r, bad;

	tool_check(seg, 0, &pb);
	r = prdshm_snapshot_take(seg, 0, &snap);
	if (r) {
		rc = tool_fail(r, "inspect %s", name);
		goto out;
	}
	doc = tool_json_snapshot(snap, &pb);
	f = fopen(file, "w");
	if (f == NULL) {
		tool_err("save the state to %s: %s", file, strerror(errno));
		rc = errno == EACCES || errno == EPERM ? TOOL_EXIT_PERM : TOOL_EXIT_INTERNAL;
		goto out;
	}
	bad = tool_json_print(doc, f, 0) != 0;
	if (fclose(f) != 0)
		bad = 1;
	if (bad) {
		tool_err("save the state to %s: write failed", file);
		rc = TOOL_EXIT_INTERNAL;
		goto out;
	}
	tool_verbose("saved the state of %s to %s", name, file);
out:
	json_decref(doc);
	prdshm_snapshot_free(snap);
	tool_problems_free(&pb);
	return rc;
}

/* Print what remains wrong on stderr. */
static void print_problems(const tool_problems *pb)
{
	for (size_t i = 0; i < pb->n; i++)
		tool_err("%s: %s", tool_severity_name(pb->v[i].severity), pb->v[i].message);
}

static int dry_run(prdshm_seg *seg, struct actions *a, tool_problems *after)
{
	tool_check(seg, 0, after);
	for (size_t i = 0; i < after->n; i++)
		action(a, "would repair: %s", after->v[i].message);
	if (after->result == PRDSHM_ERECOVER || after->result == PRDSHM_ECORRUPT)
		action(a, "would run full recovery");
	return tool_exit_code(after->result);
}

/*
 * Reap, then recover if the segment is marked or still breaks an invariant.
 * Reaping is refused while the segment is marked as needing recovery;
 * recovery reaps too, but always fails the dead agents' phases (it has no
 * requeue option), so reaping comes first whenever it can.
 */
static int repair(prdshm_seg *seg, const struct cleanup_opts *o, struct actions *a,
		  tool_problems *after)
{
	tool_problems before;
	size_t nreaped = 0;
	int need_recover, before_ok;
	int r;

	tool_check(seg, 0, &before);
	need_recover = before.result == PRDSHM_ERECOVER;
	before_ok = before.result == 0;
	tool_problems_free(&before);
	if (!need_recover) {
		r = prdshm_reap(seg, o->requeue, on_action, a, &nreaped);
		/* A backend without reaping yet (ZooKeeper: a dead session's
		 * locks go with it) has nothing to reap when all is healthy. */
		if (r == PRDSHM_ENOTSUP && before_ok)
			r = 0;
		if (r == PRDSHM_ERECOVER)
			need_recover = 1;
		else if (r)
			return tool_fail(r, "reap dead agents");
		tool_check(seg, 0, after);
		need_recover |= after->result == PRDSHM_ECORRUPT ||
				after->result == PRDSHM_ERECOVER;
	}
	if (need_recover) {
		tool_problems_free(after);
		action(a, "running full recovery");
		r = prdshm_recover(seg, on_action, a);
		if (r) {
			int rc = tool_fail(r, "recover");

			/* A live process holding a mutex too long is not corruption. */
			return r == PRDSHM_ETIMEDOUT ? rc : TOOL_EXIT_CORRUPT;
		}
		tool_check(seg, 0, after);
	}
	if (after->result)
		print_problems(after);
	return tool_exit_code(after->result);
}

static int unlink_segment(prdshm_seg *seg, const prdshm_config *cfg,
			  const struct cleanup_opts *o, struct actions *a)
{
	const char *name = cfg->shm_name;
	prdshm_snapshot *snap = NULL;
	char live[1024];
	size_t n = 0;
	int r;

	/* An unreadable segment (seg == NULL) shows no agents: --force only. */
	if (seg && prdshm_snapshot_take(seg, 0, &snap) == 0) {
		n = tool_live_agents(snap, live, sizeof(live));
		prdshm_snapshot_free(snap);
	}
	if (n > 0 && !o->force) {
		tool_err("remove %s: refused: %zu live agent%s use%s it: %s (--force removes it "
			 "anyway, and then their locks no longer exclude anyone who comes after)",
			 name, n, n == 1 ? "" : "s", n == 1 ? "s" : "", live);
		return TOOL_EXIT_REFUSED;
	}
	if (o->dry_run) {
		action(a, "would remove segment %s", name);
		return TOOL_EXIT_OK;
	}
	/* Without --force the library checks again, and removes the name under
	 * the session mutex: no agent can attach between check and removal. */
	r = tool_seg_remove(cfg, o->force);
	if (r == PRDSHM_EINUSE) {
		tool_err("remove %s: refused: %s (--force removes it anyway)", name,
			 prdshm_last_error());
		return TOOL_EXIT_REFUSED;
	}
	if (r)
		return tool_fail(r, "remove %s", name);
	action(a, "removed segment %s%s", name, n ? " while live agents used it" : "");
	if (n > 0)
		tool_warn("%s was removed while %zu live agent%s used it (%s): the agents go on in the "
			  "removed segment, and whoever comes now gets a new, empty one, so the "
			  "locks they hold no longer exclude anyone: the same lock can be taken "
			  "twice.  Stop them, or let them finish",
			  name, n, n == 1 ? "" : "s", live);
	return TOOL_EXIT_OK;
}

static int print_result(const struct cleanup_opts *o, const char *name, struct actions *a,
			const tool_problems *after, int rc)
{
	json_t *doc, *problems = json_array();
	int healthy = rc == TOOL_EXIT_OK;

	if (!o->json) {
		/* Without a segment, no_segment() has said what there is to say. */
		int verdict = !o->unlink && !a->absent;

		if (verdict && json_array_size(a->list) == 0)
			tool_info("%s: nothing to do", name);
		if (verdict && !o->dry_run)
			tool_info("%s: %s", name, healthy ? "healthy" : "NOT healthy");
		json_decref(problems);
		return rc;
	}
	for (size_t i = 0; after && i < after->n; i++)
		json_array_append_new(problems, tool_json_str(after->v[i].message));
	doc = json_pack("{s:o, s:b, s:b, s:O, s:b, s:o}", "segment", tool_json_str(name), "exists",
			!a->absent, "dry_run", o->dry_run, "actions", a->list, "healthy", healthy,
			"problems", problems);
	if (tool_json_print(doc, stdout, 0) != 0 && rc == TOOL_EXIT_OK)
		rc = TOOL_EXIT_INTERNAL;
	json_decref(doc);
	return rc;
}

/*
 * No segment: nothing to recover, so success, which lets scripts write
 * "prdshm-inspect --check || prdshm-cleanup" where no run ever started.
 * Unless the configuration was not read and no --name says which segment
 * is meant: then the configuration is at fault (65).
 */
static int no_segment(const struct cleanup_opts *o, const prdshm_config *cfg, int degraded,
		      struct actions *a)
{
	if (tool_blame_config(&o->tc, cfg, degraded))
		return TOOL_EXIT_CONFIG;
	if (!o->json)
		tool_info("no segment %s: nothing to %s", cfg->shm_name,
			  o->unlink ? "remove" : "do");
	a->absent = 1;
	return TOOL_EXIT_OK;
}

static int run(const struct cleanup_opts *o, const prdshm_config *cfg, int degraded,
	       struct actions *a, tool_problems *after)
{
	prdshm_seg *seg = NULL;
	int r = prdshm_seg_open_cfg(cfg, &seg);
	int rc;

	if (r == PRDSHM_ENOENT)
		return no_segment(o, cfg, degraded, a);

	if (r == 0 && o->save_before) {
		rc = save_before(seg, cfg->shm_name, o->save_before);
		if (rc)
			goto out;
	}
	if (o->unlink && (r == 0 || (o->force && tool_exit_code(r) == TOOL_EXIT_CORRUPT))) {
		rc = unlink_segment(seg, cfg, o, a);
		goto out;
	}
	if (r) {
		rc = tool_fail(r, "open segment %s", cfg->shm_name);
		goto out;
	}
	rc = o->dry_run ? dry_run(seg, a, after) : repair(seg, o, a, after);
out:
	prdshm_seg_close(seg);
	return rc;
}

int main(int argc, char **argv)
{
	struct cleanup_opts o;
	struct actions a = { NULL, 0, 0 };
	tool_problems after;
	prdshm_config cfg;
	int degraded = 0;
	int rc;

	tool_init("prdshm-cleanup");
	memset(&after, 0, sizeof(after));
	prdshm_config_init(&cfg);
	rc = tool_parse_done(cleanup_parse(argc, argv, &o, 0), &o.tc, usage);
	if (rc != TOOL_CONTINUE)
		goto out;
	/* Recovery must run whatever the configuration says (--name helps). */
	rc = tool_load_config_lenient(&o.tc, &cfg, &degraded);
	if (rc)
		goto out;
	a.list = json_array();
	a.print = !o.json && tool_verbosity >= 0;
	rc = run(&o, &cfg, degraded, &a, &after);
	/* Errors before any action (no segment, bad options) print no document. */
	if (rc == TOOL_EXIT_OK || rc == TOOL_EXIT_DEAD || rc == TOOL_EXIT_CORRUPT ||
	    rc == TOOL_EXIT_REFUSED)
		rc = print_result(&o, cfg.shm_name, &a, &after, rc);
out:
	json_decref(a.list);
	tool_problems_free(&after);
	prdshm_config_free(&cfg);
	return rc;
}
