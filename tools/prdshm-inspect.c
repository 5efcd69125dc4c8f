/*
 * prdshm-inspect: show who holds what, who waits for whom, the phases and
 * the waves; check the segment's invariants.  Never hangs on a wedged
 * segment: snapshots take each mutex with a short timeout and fall back to
 * reading without it.  See docs/man/prdshm-inspect.1.
 */
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "args.h"

static volatile sig_atomic_t interrupted;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: prdshm-inspect [options] [locks|phases|agents|waves]\n"
		"Show the state of the segment: its limits and usage, the agents, the locks\n"
		"with their holders and waiters (and whom each waiter waits for), the\n"
		"phases and the waves.  A section name shows only that table (with --json,\n"
		"only that member besides \"segment\").\n"
		"\n"
		"  -c, --config FILE   read FILE instead of ./prdpar.yaml\n"
		"      --name NAME     segment name (default: PRD_PARALLEL_SHM_NAME, then\n"
		"                      shm_name from the configuration, then /prdpar)\n"
		"      --json          print one JSON document (docs/json-schema.md); on an\n"
		"                      error, {\"error\": {\"exit\": N, \"message\": ...}}\n"
		"      --check         check the invariants; the exit status says the result\n"
		"      --metrics       print the lock metrics and the phases' run times in\n"
		"                      the Prometheus text format\n"
		"      --watch         redraw every monitoring_update_interval seconds until\n"
		"                      interrupted (with --json: one compact document per line);\n"
		"                      wait for the segment to be created, follow it when it\n"
		"                      is created again; exited agents on one line; on a\n"
		"                      terminal, fit the screen (segment and locks first);\n"
		"                      with the hottest resources since the last refresh\n"
		"      --no-lock       read without taking any mutex\n"
		"  -q, --quiet         with --check: print nothing, only the exit status\n"
		"  -v, --verbose       say more\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n"
		"\n"
		"Exit status: 0 success (with --check: healthy); 3 dead agents hold locks or\n"
		"phases (--check); 4 segment corrupt or incompatible; 5 a stopped process\n"
		"has held a lock longer than lock_timeout_seconds (--check, when nothing\n"
		"worse is found); 65 invalid configuration (only without --name: a\n"
		"broken ./prdpar.yaml or PRD_PARALLEL_* value is otherwise a warning);\n"
		"66 no such segment;\n"
		"77 permission denied; 64 usage; 70 internal error.\n");
}

static int parse_section(const tool_common *tc, const char *s, unsigned *show)
{
	static const struct {
		const char *name;
		unsigned bits;
	} sections[] = {
		{ "locks", TOOL_SHOW_LOCKS },
		{ "phases", TOOL_SHOW_PHASES },
		{ "agents", TOOL_SHOW_AGENTS },
		{ "waves", TOOL_SHOW_WAVES },
	};

	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if (strcmp(s, sections[i].name) == 0) {
			*show = sections[i].bits;
			return 0;
		}
	}
	return tool_parse_error(tc, "unknown section '%s' (locks, phases, agents, waves)", s);
}

static const tool_optdef inspect_optdefs[] = {
	TOOL_OPT_SET("json", 0, struct inspect_opts, json, 1),
	TOOL_OPT_SET("check", 0, struct inspect_opts, check, 1),
	TOOL_OPT_SET("watch", 0, struct inspect_opts, watch, 1),
	TOOL_OPT_SET("no-lock", 0, struct inspect_opts, nolock, 1),
	TOOL_OPT_SET("metrics", 0, struct inspect_opts, metrics, 1),
	{ 0 },
};

int inspect_parse(int argc, char **argv, struct inspect_opts *o, int silent)
{
	int i, rc;

	memset(o, 0, sizeof(*o));
	o->tc.silent = silent;
	o->show = TOOL_SHOW_ALL;
	rc = tool_getopt(&o->tc, argc, argv, TOOL_C_IS_CONFIG, inspect_optdefs, o);
	if (rc)
		return rc;
	i = o->tc.argi;
	if (i < argc && parse_section(&o->tc, argv[i++], &o->show))
		return TOOL_EXIT_USAGE;
	if (tool_no_more_args(&o->tc, argc, argv, i))
		return TOOL_EXIT_USAGE;
	if (o->watch && o->check)
		return tool_parse_error(&o->tc, "--watch and --check exclude each other");
	if (o->metrics && (o->watch || o->check || o->json))
		return tool_parse_error(&o->tc, "--metrics excludes --watch, --check and --json");
	return 0;
}

/* --check without --json: the problems, one per line, then the verdict. */
static void print_check(const char *name, const tool_problems *pb)
{
	if (tool_verbosity < 0)
		return;
	for (size_t i = 0; i < pb->n; i++)
		printf("%s: %s\n", tool_severity_name(pb->v[i].severity), pb->v[i].message);
	if (pb->result == 0 && pb->nstuck > 0)
		printf("%s: a stopped process holds a lock: continue or kill it\n", name);
	else if (pb->result == 0)
		printf("%s: healthy\n", name);
	else if (pb->result == PRDSHM_EDEADOWNER)
		printf("%s: dead agents hold locks or phases: run prdshm-cleanup\n", name);
	else
		printf("%s: %s: run prdshm-cleanup\n", name, prdshm_strerror(pb->result));
}

/* --metrics: the lock metrics and the phases' run times for Prometheus.
 * @return the exit status. */
static int print_metrics(prdshm_seg *seg, const struct inspect_opts *o, const char *name)
{
	unsigned flags = o->nolock ? PRDSHM_SNAP_NOLOCK : 0;
	prdshm_snapshot *snap = NULL;
	tool_metrics m;
	int rc = TOOL_EXIT_OK;
	int r;

	r = tool_metrics_take(seg, flags, &m);
	if (r)
		return tool_fail(r, "metrics of %s", name);
	r = prdshm_snapshot_take(seg, flags, &snap);
	if (r) {
		rc = tool_fail(r, "inspect %s", name);
		goto out;
	}
	if (tool_metrics_print(stdout, &m, snap, name) != 0) {
		tool_err("cannot write the metrics");
		rc = TOOL_EXIT_INTERNAL;
	}
out:
	prdshm_snapshot_free(snap);
	tool_metrics_free(&m);
	return rc;
}

/* The lines tool_print_hottest() prints at the most: a blank line, its
 * title, its header and five resources. */
#define HOTTEST_LINES 8

/* The metrics of the previous refresh of --watch, for the hottest
 * resources since then. */
static tool_metrics watched;
static int watched_ok;

/* The inspection document's "metrics" object; in --watch, the table of
 * the hottest resources.  A failure to read them costs only them. */
static void show_metrics(prdshm_seg *seg, const struct inspect_opts *o, json_t *doc)
{
	tool_metrics m;

	if (tool_metrics_take(seg, o->nolock ? PRDSHM_SNAP_NOLOCK : 0, &m) != 0) {
		if (doc)
			json_object_set_new(doc, "metrics", json_null());
		return;
	}
	if (doc) {
		json_object_set_new(doc, "metrics", tool_json_metrics(&m));
		tool_metrics_free(&m);
		return;
	}
	tool_print_hottest(stdout, &m, watched_ok ? &watched : NULL);
	tool_metrics_free(&watched);
	watched = m;
	watched_ok = 1;
}

/* The terminal --watch draws on; rows 0: not a terminal, print it all. */
struct screen {
	size_t rows, cols;
};

/* The JSON document of the sections asked for: "segment" always, as it
 * says what the document is about, and "problems" with --check, which
 * decide its exit status. */
static void json_sections(json_t *doc, const struct inspect_opts *o)
{
	static const struct {
		const char *key;
		unsigned bit;
	} members[] = {
		{ "agents", TOOL_SHOW_AGENTS }, { "locks", TOOL_SHOW_LOCKS },
		{ "phases", TOOL_SHOW_PHASES }, { "waves", TOOL_SHOW_WAVES },
		{ "problems", TOOL_SHOW_PROBLEMS },
	};

	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		if (!(o->show & members[i].bit) && !(o->check && members[i].bit == TOOL_SHOW_PROBLEMS))
			json_object_del(doc, members[i].key);
	}
	/* The metrics belong to the whole document, not to a section. */
	if ((o->show & TOOL_SHOW_ALL) != TOOL_SHOW_ALL)
		json_object_del(doc, "metrics");
}

/* Above the tables, where the segment is when it is not in this host's
 * shared memory. */
static void print_backend(const prdshm_config *cfg)
{
	char hosts[1024] = "", root[512] = "";

	if (!tool_is_zookeeper(cfg))
		return;
	prdshm_config_get(cfg, "zookeeper.hosts", hosts, sizeof(hosts));
	prdshm_config_get(cfg, "zookeeper.root", root, sizeof(root));
	printf("BACKEND zookeeper  hosts %s  root %s\n", hosts, root);
}

/* One inspection: snapshot, check, print.  @p scr: fit this screen (NULL:
 * print everything).  @return the exit status. */
static int inspect_once(prdshm_seg *seg, const struct inspect_opts *o, const prdshm_config *cfg,
			const struct screen *scr)
{
	const char *name = cfg->shm_name;
	unsigned flags = o->nolock ? PRDSHM_SNAP_NOLOCK : 0;
	prdshm_snapshot *snap = NULL;
	tool_problems pb;
	int rc = TOOL_EXIT_OK;
	json_t *doc;
	int r;

	tool_check(seg, flags, &pb);
	r = prdshm_snapshot_take(seg, flags, &snap);
	if (r) {
		if (o->check && !o->json) {
			/* The check said what is wrong; the verdict stands. */
			print_check(name, &pb);
			goto done;
		}
		rc = tool_fail(r, "inspect %s", name);
		goto out;
	}
	tool_check_stuck(snap, &pb);
	if (o->check && !o->json) {
		print_check(name, &pb);
		goto done;
	}
	if (o->json) {
		doc = tool_json_snapshot(snap, &pb);
		if (doc)
			tool_json_backend(doc, cfg);
		show_metrics(seg, o, doc);
		if (doc)
			json_sections(doc, o);
		if (tool_json_print(doc, stdout, o->watch) != 0) {
			tool_err("cannot write the JSON document");
			rc = TOOL_EXIT_INTERNAL;
		}
		json_decref(doc);
	} else if (scr && scr->rows > 0) {
		/* The hottest resources below, on a screen with room to spare:
		 * the run's own tables come first. */
		int hot = o->watch && scr->rows >= 4 * HOTTEST_LINES;

		tool_print_fitted(stdout, snap, &pb, o->show | TOOL_SHOW_BRIEF,
				  scr->rows - (hot ? HOTTEST_LINES : 0), scr->cols);
		if (hot)
			show_metrics(seg, o, NULL);
		fflush(stdout);
	} else {
		print_backend(cfg);
		tool_print_snapshot(stdout, snap, &pb, o->show | (o->watch ? TOOL_SHOW_BRIEF : 0));
		if (o->watch)
			show_metrics(seg, o, NULL);
		fflush(stdout);
	}
	if (rc)
		goto out;
done:
	/* A stuck holder is a warning: worse findings decide the status. */
	if (o->check)
		rc = pb.result == 0 && pb.nstuck > 0 ? TOOL_EXIT_STUCK : tool_exit_code(pb.result);
out:
	prdshm_snapshot_free(snap);
	tool_problems_free(&pb);
	return rc;
}

static void on_signal(int sig)
{
	interrupted = 1;
}

/* Stop cleanly on ^C or a TERM, with the screen in a sane state. */
static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* What --watch follows: the segment under the name, told apart from a
 * new one created under the same name by its creation time. */
struct watch {
	prdshm_seg *seg; /* NULL while there is none */
	uint64_t created_ns;
	int waiting;     /* said that there is no segment, since it went */
	char note[PRDSHM_SHM_NAME_MAX + 80]; /* what happened to it, to say once */
};

/* Attach to the segment the name stands for now: the same as before, a
 * new one (re-created since), or none yet.  What changed goes to
 * w->note.  @return 0 attached, 1 no segment (waiting), else the exit
 * status. */
static int follow(struct watch *w, const prdshm_config *cfg)
{
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;
	prdshm_seg *seg = NULL;
	int r = prdshm_seg_open_cfg(cfg, &seg);

	if (r == PRDSHM_ENOENT) {
		if (!w->waiting)
			snprintf(w->note, sizeof(w->note), "%s %s: waiting for it to be created",
				 w->seg ? "removed segment" : "no segment", cfg->shm_name);
		w->waiting = 1;
		prdshm_seg_close(w->seg);
		w->seg = NULL;
		return 1;
	}
	if (r)
		return tool_fail(r, "open segment %s", cfg->shm_name);
	r = prdshm_seg_info_get(seg, &info);
	if (r || (w->seg && info.created_ns == w->created_ns)) {
		prdshm_seg_close(seg);
		return r ? tool_fail(r, "read segment %s", cfg->shm_name) : 0;
	}
	if (w->seg)
		snprintf(w->note, sizeof(w->note), "segment %s was created again: showing the new one",
			 cfg->shm_name);
	prdshm_seg_close(w->seg);
	w->seg = seg;
	w->created_ns = info.created_ns;
	w->waiting = 0;
	return 0;
}

/* Say w->note once: above the tables, or on stderr beside JSON lines. */
static int say_note(struct watch *w, const struct inspect_opts *o)
{
	int said = w->note[0] != '\0' && tool_verbosity >= 0;

	if (said && o->json)
		tool_err("%s", w->note);
	else if (said)
		printf("%s\n", w->note);
	fflush(stdout);
	w->note[0] = '\0';
	return said && !o->json;
}

/* The screen's size when standard output is a terminal and the tables
 * are drawn on it. */
static void screen_size(const struct inspect_opts *o, struct screen *scr)
{
	struct winsize ws;

	scr->rows = scr->cols = 0;
	if (o->json || !isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 ||
	    ws.ws_row < 4 || ws.ws_col < 20)
		return;
	scr->rows = ws.ws_row;
	scr->cols = ws.ws_col;
}

/* Sleep @p ms, or less when a signal comes: SA_RESTART is off. */
static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (!interrupted && nanosleep(&ts, &ts) != 0)
		;
}

/* Until interrupted: redraw every @p interval_s seconds; while there is
 * no segment, look for one every WAIT_POLL_MS so that the run is seen
 * from its start. */
#define WAIT_POLL_MS 200

static int watch(const prdshm_config *cfg, const struct inspect_opts *o, int interval_s)
{
	int tty = isatty(STDOUT_FILENO) && !o->json;
	struct watch w = { 0 };
	struct screen scr;
	int rc = TOOL_EXIT_OK;

	catch_signals();
	while (!interrupted) {
		rc = follow(&w, cfg);
		if (rc != 0 && rc != 1)
			break;
		if (tty && (rc == 0 || w.note[0]))
			fputs("\033[H\033[2J", stdout);
		screen_size(o, &scr);
		if (say_note(&w, o) && scr.rows > 0)
			scr.rows--;
		if (rc == 1) {
			rc = TOOL_EXIT_OK;
			nap_ms(WAIT_POLL_MS);
			continue;
		}
		rc = inspect_once(w.seg, o, cfg, &scr);
		if (rc)
			break;
		nap_ms((long)interval_s * 1000);
	}
	prdshm_seg_close(w.seg);
	return rc;
}

/* --json and no segment to show: scripts read stdout, so the error goes
 * there too, as a document (docs/json-schema.md); stderr has it as well. */
static void json_error(const char *name, int rc)
{
	json_t *doc = json_pack("{s:i, s:o, s:{s:i, s:o}}", "schema_version", 1, "name",
				tool_json_str(name), "error", "exit", rc, "message",
				tool_json_str(tool_last_error()));

	tool_json_print(doc, stdout, 0);
	json_decref(doc);
}

int main(int argc, char **argv)
{
	struct inspect_opts o;
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	int degraded = 0;
	int rc;

	tool_init("prdshm-inspect");
	prdshm_config_init(&cfg);
	rc = tool_parse_done(inspect_parse(argc, argv, &o, 0), &o.tc, usage);
	if (rc != TOOL_CONTINUE)
		goto out;
	/* Diagnosis must run whatever the configuration says (--name helps);
	 * --watch attaches by itself: the segment may come later. */
	rc = tool_load_config_lenient(&o.tc, &cfg, &degraded);
	if (rc == 0 && !o.watch)
		rc = tool_open_lenient(&o.tc, &cfg, degraded, &seg);
	if (rc) {
		if (o.json)
			json_error(o.tc.shm_name ? o.tc.shm_name : cfg.shm_name, rc);
		goto out;
	}
	if (o.metrics)
		rc = print_metrics(seg, &o, cfg.shm_name);
	else if (o.watch)
		rc = watch(&cfg, &o, cfg.monitoring_update_interval);
	else
		rc = inspect_once(seg, &o, &cfg, NULL);
	prdshm_seg_close(seg);
out:
	prdshm_config_free(&cfg);
	return rc;
}
