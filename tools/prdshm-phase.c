/*
 * prdshm-phase: steer phases by hand: show their status, retry a failed
 * one, cancel one, skip one.  Transitions go through prdshm_phase_set(),
 * which refuses the illegal ones.  See docs/man/prdshm-phase.1.
 */
#include <string.h>

#include "args.h"

static const struct verb {
	const char *name;
	prdshm_phase_status to;
} verbs[] = {
	{ "retry", PRDSHM_PHASE_QUEUED },
	{ "cancel", PRDSHM_PHASE_CANCELLED },
	{ "skip", PRDSHM_PHASE_SKIPPED },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: prdshm-phase [options] status [ID]\n"
		"       prdshm-phase [options] retry|cancel|skip ID...\n"
		"Show or steer the phases of the plan by hand.\n"
		"\n"
		"  status [ID]   the phases and waves, or one phase in detail\n"
		"  retry ID...   FAILED, CANCELLED or BLOCKED -> QUEUED (its blocked\n"
		"                dependants become runnable again)\n"
		"  cancel ID...  -> CANCELLED (its dependants become BLOCKED)\n"
		"  skip ID...    -> SKIPPED (counts as done for its dependants)\n"
		"A change applies to each ID in turn; one refused does not stop the others.\n"
		"\n"
		"  -c, --config FILE   read FILE instead of ./prdpar.yaml\n"
		"      --name NAME     segment name (default: PRD_PARALLEL_SHM_NAME, then\n"
		"                      shm_name from the configuration, then /prdpar)\n"
		"      --json          print JSON (docs/json-schema.md)\n"
		"  -q, --quiet         print nothing on success\n"
		"  -v, --verbose       say more\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n"
		"\n"
		"Exit status: 0 success; 2 refused (for one ID or more): illegal transition\n"
		"(both states are named) or no such phase; 4 segment corrupt or incompatible; 65 invalid\n"
		"configuration; 66 no such segment; 77 permission denied; 64 usage;\n"
		"70 internal error.\n");
}

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(name, verbs[i].name) == 0)
			return &verbs[i];
	return NULL;
}

static const tool_optdef phase_optdefs[] = {
	TOOL_OPT_SET("json", 0, struct phase_opts, json, 1),
	{ 0 },
};

int phase_parse(int argc, char **argv, struct phase_opts *o, int silent)
{
	int i, rc;

	memset(o, 0, sizeof(*o));
	o->tc.silent = silent;
	rc = tool_getopt(&o->tc, argc, argv, TOOL_C_IS_CONFIG, phase_optdefs, o);
	if (rc)
		return rc;
	i = o->tc.argi;
	if (i >= argc)
		return tool_parse_error(&o->tc, "no command given (status, retry, cancel, skip)");
	o->verb = argv[i];
	o->id = i + 1 < argc ? argv[i + 1] : NULL;
	o->ids = argv + i + 1;
	o->nids = argc - i - 1;
	if (strcmp(o->verb, "status") == 0 && tool_no_more_args(&o->tc, argc, argv, i + 2))
		return TOOL_EXIT_USAGE;
	if (strcmp(o->verb, "status") != 0 && find_verb(o->verb) == NULL)
		return tool_parse_error(&o->tc, "unknown command '%s' (status, retry, cancel, skip)",
					o->verb);
	if (strcmp(o->verb, "status") != 0 && o->id == NULL)
		return tool_parse_error(&o->tc, "%s needs a phase id", o->verb);
	return 0;
}

static const prdshm_phase_info *find_phase(const prdshm_snapshot *snap, const char *id)
{
	for (size_t i = 0; i < snap->nphases; i++)
		if (strcmp(snap->phases[i].id, id) == 0)
			return &snap->phases[i];
	return NULL;
}

static void print_list(const char *label, char *const *v, size_t n)
{
	printf("%-12s", label);
	for (size_t i = 0; i < n; i++)
		printf(" %s", v[i]);
	printf("%s\n", n ? "" : " -");
}

static void print_detail(const prdshm_phase_info *p, uint64_t now_ns)
{
	const char *st = prdshm_phase_status_name(p->status);
	char dur[32] = "-";

	if (p->start_ns)
		tool_format_duration((p->end_ns ? p->end_ns : now_ns) - p->start_ns, dur,
				     sizeof(dur));
	printf("%-12s %s\n%-12s %s\n%-12s %s\n%-12s %u\n", "id", p->id, "name",
	       p->name ? p->name : p->id, "status", st ? st : "?", "wave", (unsigned)p->wave);
	print_list("dependencies", p->deps, p->ndeps);
	print_list("outputs", p->outputs, p->noutputs);
	printf("%-12s %s\n%-12s %u\n%-12s %s\n", "agent", p->agent_id[0] ? p->agent_id : "-",
	       "attempts", (unsigned)p->attempts, "duration", dur);
	if (p->status == PRDSHM_PHASE_COMPLETED || p->status == PRDSHM_PHASE_FAILED)
		printf("%-12s %d\n", "exit status", p->exit_status);
	if (p->message[0])
		printf("%-12s %s\n", "message", p->message);
	if (p->changed_by[0])
		printf("%-12s %s\n", "changed by", p->changed_by);
}

static int status(prdshm_seg *seg, const struct phase_opts *o)
{
	prdshm_snapshot *snap = NULL;
	const prdshm_phase_info *p = NULL;
	json_t *doc = NULL;
	int rc = TOOL_EXIT_OK;
	int r = prdshm_snapshot_take(seg, 0, &snap);

	if (r)
		return tool_fail(r, "read the phases");
	if (o->id) {
		p = find_phase(snap, o->id);
		if (p == NULL) {
			tool_err("status %s: no such phase", o->id);
			rc = TOOL_EXIT_REFUSED;
			goto out;
		}
	}
	if (o->json) {
		if (p) {
			doc = tool_json_phase(p, snap->taken_ns);
		} else {
			json_t *a = json_array();

			for (size_t i = 0; i < snap->nphases; i++)
				json_array_append_new(a, tool_json_phase(&snap->phases[i],
									 snap->taken_ns));
			doc = json_pack("{s:o}", "phases", a);
		}
		if (tool_json_print(doc, stdout, 0) != 0)
			rc = TOOL_EXIT_INTERNAL;
	} else if (p) {
		print_detail(p, snap->taken_ns);
	} else {
		tool_print_snapshot(stdout, snap, NULL, TOOL_SHOW_PHASES | TOOL_SHOW_WAVES);
	}
out:
	json_decref(doc);
	prdshm_snapshot_free(snap);
	return rc;
}

/* The status before the change, for the report ("FAILED -> QUEUED"). */
static const char *status_now(prdshm_seg *seg, const char *id)
{
	prdshm_snapshot *snap = NULL;
	const prdshm_phase_info *p;
	const char *name = NULL;

	if (prdshm_snapshot_take(seg, 0, &snap) != 0)
		return "?";
	p = find_phase(snap, id);
	if (p)
		name = prdshm_phase_status_name(p->status);
	prdshm_snapshot_free(snap);
	return name ? name : "?";
}

/* Change one phase; with --json, add {"id", "from", "to"} to @p changes. */
static int steer_one(prdshm_seg *seg, const char *id, const struct verb *v, json_t *changes)
{
	const char *from = status_now(seg, id);
	const char *to = prdshm_phase_status_name(v->to);
	int r = prdshm_phase_set(seg, NULL, id, v->to);

	if (r == PRDSHM_ENOPHASE) {
		tool_err("%s %s: no such phase", v->name, id);
		return TOOL_EXIT_REFUSED;
	}
	if (r == PRDSHM_ETRANSITION) {
		tool_err("%s %s: refused: %s", v->name, id, prdshm_last_error());
		return TOOL_EXIT_REFUSED;
	}
	if (r)
		return tool_fail(r, "%s %s", v->name, id);
	if (changes)
		json_array_append_new(changes, json_pack("{s:o, s:s, s:s}", "id",
							 tool_json_str(id), "from", from,
							 "to", to));
	else
		tool_info("%s: %s -> %s", id, from, to);
	return TOOL_EXIT_OK;
}

/* Each id in turn, so that "retry A B" after a failed run needs one
 * command; the first failure decides the exit status.  With --json, one
 * id prints its change alone (as before several were allowed), several an
 * array of them. */
static int steer(prdshm_seg *seg, const struct phase_opts *o, const struct verb *v)
{
	json_t *changes = o->json ? json_array() : NULL;
	int rc = TOOL_EXIT_OK;

	for (int i = 0; i < o->nids; i++) {
		int r = steer_one(seg, o->ids[i], v, changes);

		if (rc == TOOL_EXIT_OK)
			rc = r;
	}
	if (changes && json_array_size(changes) > 0) {
		json_t *doc = o->nids == 1 ? json_incref(json_array_get(changes, 0)) : changes;

		if (o->nids == 1)
			json_decref(changes);
		if (tool_json_print(doc, stdout, 0) != 0 && rc == TOOL_EXIT_OK)
			rc = TOOL_EXIT_INTERNAL;
		json_decref(doc);
	} else {
		json_decref(changes);
	}
	return rc;
}

static int dispatch(prdshm_seg *seg, const struct phase_opts *o)
{
	if (strcmp(o->verb, "status") == 0)
		return status(seg, o);
	return steer(seg, o, find_verb(o->verb));
}

int main(int argc, char **argv)
{
	struct phase_opts o;
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	int rc;

	tool_init("prdshm-phase");
	prdshm_config_init(&cfg);
	rc = tool_start(phase_parse(argc, argv, &o, 0), &o.tc, usage, &cfg, &seg);
	if (rc != TOOL_CONTINUE)
		goto out;
	rc = dispatch(seg, &o);
	prdshm_seg_close(seg);
out:
	prdshm_config_free(&cfg);
	return rc;
}
