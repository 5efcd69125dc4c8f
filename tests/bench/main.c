/*
 * main.c: prdshm-bench, the options, the repetition runner, the results
 * table with its targets, and the JSON output.
 *
 *   prdshm-bench [--reps N] [--rep-ms MS] [--duration MS] [--json[=FILE]]
 *                [--callgrind | --no-callgrind] [--only CASE|GROUP]
 *   prdshm-bench --only CASE --iterations N     (for valgrind --tool=callgrind)
 *
 * The exit status is 0 when every case ran, whether or not the targets are
 * met (they are measurements, not tests), and 1 when something failed.
 */
#include <errno.h>
#include <getopt.h>
#include <gnu/libc-version.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "base/util.h"

struct bench_opts bench_opts = {
	.reps = 11,
	.rep_ms = 20,
	.duration_ms = 200,
	.callgrind = -1,
};

/* ---- Clean-up of what the run creates ---------------------------------- */

#define MAX_NAMES 128

/* Names created by this process; unlinked at exit, including on SIGINT.
 * Fixed arrays so that the signal handler needs no allocation. */
static char shm_names[MAX_NAMES][64];
static char file_names[MAX_NAMES][96];
static volatile int nshm, nfiles;
static pid_t main_pid;

static void cleanup(void)
{
	/* Children inherit the atexit handler; only the creator cleans up. */
	if (getpid() != main_pid)
		return;
	bench_zk_stop();
	for (int i = 0; i < nshm; i++)
		shm_unlink(shm_names[i]);
	for (int i = 0; i < nfiles; i++)
		unlink(file_names[i]);
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

const char *bench_shm_name(void)
{
	static int seq;
	int i = nshm;

	if (i >= MAX_NAMES)
		i = MAX_NAMES - 1; /* never reached: the run creates a few dozen */
	snprintf(shm_names[i], sizeof(shm_names[i]), "/prdshm-bench-%d-%d", (int)main_pid,
		 seq++);
	if (nshm < MAX_NAMES)
		nshm++;
	return shm_names[i];
}

const char *bench_file_name(const char *what)
{
	int i = nfiles;

	if (i >= MAX_NAMES)
		i = MAX_NAMES - 1;
	snprintf(file_names[i], sizeof(file_names[i]), "/dev/shm/prdshm-bench-%d-%s",
		 (int)main_pid, what);
	if (nfiles < MAX_NAMES)
		nfiles++;
	return file_names[i];
}

void bench_config(prdshm_config *cfg)
{
	prdshm_config_init(cfg);
	snprintf(cfg->shm_name, sizeof(cfg->shm_name), "%s", bench_shm_name());
}

/* ---- Small helpers ------------------------------------------------------ */

uint64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_err(const char *fmt, ...)
{
	va_list ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

int bench_perr(int r, const char *what)
{
	return bench_err("%s: %s (%s)", what, prdshm_strerror(r), prdshm_last_error());
}

uint32_t bench_partition(const char *name, uint32_t nparts)
{
	return (prdshm__hash(name, strlen(name)) >> 24) & (nparts - 1);
}

void *bench_shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void bench_shared_free(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void bench_summarise(double *v, int n, struct stats *st)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	st->n = n;
	st->min = v[0];
	st->max = v[n - 1];
	st->median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- The repetition runner ---------------------------------------------- */

static int timed(int (*loop)(void *, long), void *arg, long n, double *ns)
{
	uint64_t t0 = bench_now();

	if (loop(arg, n))
		return -1;
	*ns = (double)(bench_now() - t0);
	return 0;
}

int bench_measure_loop(int (*loop)(void *st, long n), void *arg, struct stats *st)
{
	double v[64], ns = 0;
	long n = 256;
	int reps = bench_opts.reps < 64 ? bench_opts.reps : 64;

	/* Warm up (page faults, caches, branch predictors) while growing n until
	 * one call lasts a few milliseconds, then size a repetition from it. */
	for (;;) {
		if (timed(loop, arg, n, &ns))
			return -1;
		if (ns >= 5e6 || n >= (1L << 30))
			break;
		n *= 4;
	}
	n = (long)((double)n * (bench_opts.rep_ms * 1e6) / ns);
	if (n < 16)
		n = 16;
	for (int i = 0; i < reps; i++) {
		if (timed(loop, arg, n, &ns))
			return -1;
		v[i] = ns / (double)n;
	}
	bench_summarise(v, reps, st);
	return 0;
}

/* ---- Results ------------------------------------------------------------- */

struct row {
	char id[32];
	char group[64];
	char label[96];
	const char *unit;
	struct stats st;
	char ratio_to[32];
	char na[64]; /* why it was not measured ("": it was) */
};

static struct row rows[128];
static int nrows;

void bench_add(const char *id, const char *group, const char *label, const char *unit,
	       const struct stats *st, const char *ratio_to)
{
	struct row *r;

	if (nrows == (int)(sizeof(rows) / sizeof(rows[0])))
		return;
	r = &rows[nrows++];
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->group, sizeof(r->group), "%s", group);
	snprintf(r->label, sizeof(r->label), "%s", label);
	r->unit = unit;
	r->st = *st;
	snprintf(r->ratio_to, sizeof(r->ratio_to), "%s", ratio_to ? ratio_to : "");
}

void bench_add_na(const char *id, const char *group, const char *label, const char *unit,
		  const char *why)
{
	struct stats st = { 0, 0, 0, 0 };

	bench_add(id, group, label, unit, &st, NULL);
	if (nrows > 0 && strcmp(rows[nrows - 1].id, id) == 0) /* the table may be full */
		snprintf(rows[nrows - 1].na, sizeof(rows[0].na), "%s", why);
}

void bench_add_value(const char *id, const char *group, const char *label, const char *unit,
		     double value, const char *ratio_to)
{
	struct stats st = { value, value, value, 1 };

	bench_add(id, group, label, unit, &st, ratio_to);
}

static const struct row *find_row(const char *id)
{
	for (int i = 0; i < nrows; i++)
		if (strcmp(rows[i].id, id) == 0)
			return &rows[i];
	return NULL;
}

double bench_median(const char *id)
{
	const struct row *r = find_row(id);

	return r && !r->na[0] ? r->st.median : -1;
}

/* The row's median divided by its reference's; NAN if there is none. */
static double row_ratio(const struct row *r)
{
	const struct row *to = r->ratio_to[0] ? find_row(r->ratio_to) : NULL;

	if (to == NULL || to->st.median <= 0)
		return NAN;
	return r->st.median / to->st.median;
}

/* ---- Targets -------------------------------------------------------------- */

/* A target: median(num) / median(den) compared with limit.  With den NULL,
 * median(num) itself is compared.  With worst set, num's worst repetition
 * (the minimum of a throughput) stands for num: a target met only by the
 * median is met only on average. */
struct target {
	const char *name;
	const char *num, *den;
	int at_most; /* 1: value <= limit; 0: value >= limit */
	double limit;
	int worst;
};

static const struct target targets[] = {
	{ "EXCLUSIVE pair vs flock(2) on an open fd", "excl", "flock_fd", 1, 1.0 / 3, 0 },
	{ "EXCLUSIVE pair vs open+flock+close", "excl", "lockfile", 1, 0.1, 0 },
	{ "instructions per EXCLUSIVE pair (callgrind)", "instr_excl", NULL, 1, 400, 0 },
	{ "pair at 90% fill vs at 10% fill", "fill90", "fill10", 1, 1.5, 0 },
	{ "one hot resource, 2 procs, vs flock", "hot2", "flock_hot2", 0, 5, 0 },
	{ "the same, slowest repetition of hot2", "hot2", "flock_hot2", 0, 5, 1 },
	{ "one hot resource, 4 procs vs 2 procs", "hot4", "hot2", 0, 0.7, 0 },
	{ "one hot resource, 8 procs vs 2 procs", "hot8", "hot2", 0, 0.7, 0 },
	{ "one hot resource, 2 procs, vs ticket lock", "hot2", "ticket2", 0, 0.5, 0 },
	{ "distinct resources, 2 procs, vs 1 proc", "distinct2", "distinct1", 0, 1.5, 0 },
	{ "hand-off latency vs raw futex ping-pong", "handoff", "futex_pp", 1, 2, 0 },
	{ "hand-off p99 vs median, 4 procs", "handoff4_p99", "handoff4_p50", 1, 10, 0 },
};
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

/* @return 1 pass, 0 miss, -1 not measured; *value gets the figure. */
static int target_eval(const struct target *t, double *value)
{
	const struct row *r = find_row(t->num);
	double num = r == NULL ? -1 : t->worst ? r->st.min : r->st.median;
	double den = t->den ? bench_median(t->den) : 1;

	if (num < 0 || den <= 0)
		return -1;
	*value = num / den;
	return t->at_most ? *value <= t->limit : *value >= t->limit;
}

/* ---- Output ----------------------------------------------------------------- */

static void fmt_value(char *buf, size_t size, const char *unit, double v)
{
	if (strcmp(unit, U_OPS) == 0) {
		if (v >= 1e6)
			snprintf(buf, size, "%.2fM", v / 1e6);
		else if (v >= 1e4)
			snprintf(buf, size, "%.1fk", v / 1e3);
		else /* ZooKeeper's claims: a few hundred a second */
			snprintf(buf, size, "%.0f", v);
	} else if (strcmp(unit, U_BYTES) == 0 || v >= 1e5) {
		snprintf(buf, size, "%.0f", v);
	} else if (v >= 100) {
		snprintf(buf, size, "%.0f", v);
	} else {
		snprintf(buf, size, "%.1f", v);
	}
}

static void print_row(const struct row *r)
{
	char med[32], lo[32], hi[32], ratio[48] = "";
	double x = row_ratio(r);

	if (r->na[0]) {
		printf("  %-11s %-44s n/a (%s)\n", r->id, r->label, r->na);
		return;
	}
	fmt_value(med, sizeof(med), r->unit, r->st.median);
	fmt_value(lo, sizeof(lo), r->unit, r->st.min);
	fmt_value(hi, sizeof(hi), r->unit, r->st.max);
	if (!isnan(x))
		snprintf(ratio, sizeof(ratio), x >= 0.01 ? "%6.2fx %s" : "%6.2gx %s", x, r->ratio_to);
	if (r->st.n > 1)
		printf("  %-11s %-44s %10s %10s %10s %-6s %s\n", r->id, r->label, med, lo, hi,
		       r->unit, ratio);
	else
		printf("  %-11s %-44s %10s %10s %10s %-6s %s\n", r->id, r->label, med, "", "",
		       r->unit, ratio);
}

static void print_machine(FILE *f)
{
	struct utsname u;
	char model[128] = "?", line[256];
	FILE *ci = fopen("/proc/cpuinfo", "r");

	while (ci && fgets(line, sizeof(line), ci)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (ci)
		fclose(ci);
	uname(&u);
	fprintf(f, "machine: %s, %ld CPUs, Linux %s, glibc %s\n", model,
		sysconf(_SC_NPROCESSORS_ONLN), u.release, gnu_get_libc_version());
}

static void print_table(void)
{
	const char *group = "";

	print_machine(stdout);
	printf("%d repetitions per case (median, min, max); contended cases %d ms each\n\n",
	       bench_opts.reps, bench_opts.duration_ms);
	printf("  %-11s %-44s %10s %10s %10s %-6s %s\n", "case", "what", "median", "min", "max",
	       "unit", "ratio");
	for (int i = 0; i < nrows; i++) {
		if (strcmp(rows[i].group, group) != 0) {
			group = rows[i].group;
			printf("%s\n", group);
		}
		print_row(&rows[i]);
	}
	printf("\ntargets (ratios measured in this run)\n");
	for (size_t i = 0; i < NTARGETS; i++) {
		double v = 0;
		int ok = target_eval(&targets[i], &v);
		char got[32] = "not measured";

		if (ok >= 0)
			snprintf(got, sizeof(got), "%.3g", v);
		printf("  %-46s %s %-8.3g %-12s %s\n", targets[i].name,
		       targets[i].at_most ? "<=" : ">=", targets[i].limit, got,
		       ok < 0 ? "-" : ok ? "PASS" : "MISS");
	}
}

static json_t *row_json(const struct row *r)
{
	double x = row_ratio(r);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:i}", "id", r->id,
			      "group", r->group, "label", r->label, "unit", r->unit, "median",
			      r->st.median, "min", r->st.min, "max", r->st.max, "samples",
			      r->st.n);

	if (o && !isnan(x)) {
		json_object_set_new(o, "ratio", json_real(x));
		json_object_set_new(o, "ratio_to", json_string(r->ratio_to));
	}
	return o;
}

static json_t *targets_json(void)
{
	json_t *a = json_array();

	for (size_t i = 0; i < NTARGETS; i++) {
		double v = 0;
		int ok = target_eval(&targets[i], &v);
		json_t *o = json_pack("{s:s, s:s, s:f, s:s}", "target", targets[i].name, "op",
				      targets[i].at_most ? "<=" : ">=", "limit", targets[i].limit,
				      "status", ok < 0 ? "not measured" : ok ? "PASS" : "MISS");

		if (o && ok >= 0)
			json_object_set_new(o, "value", json_real(v));
		json_array_append_new(a, o);
	}
	return a;
}

static int write_json(const char *path)
{
	json_t *root = json_object(), *res = json_array(), *na = json_array();
	struct utsname u;
	int r;

	uname(&u);
	for (int i = 0; i < nrows; i++) {
		if (rows[i].na[0])
			json_array_append_new(na, json_pack("{s:s, s:s, s:s}", "id", rows[i].id,
							    "label", rows[i].label, "why",
							    rows[i].na));
		else
			json_array_append_new(res, row_json(&rows[i]));
	}
	json_object_set_new(root, "kernel", json_string(u.release));
	json_object_set_new(root, "glibc", json_string(gnu_get_libc_version()));
	json_object_set_new(root, "cpus", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
	json_object_set_new(root, "prdshm", json_string(prdshm_version()));
	json_object_set_new(root, "repetitions", json_integer(bench_opts.reps));
	json_object_set_new(root, "results", res);
	json_object_set_new(root, "not_measured", na);
	json_object_set_new(root, "targets", targets_json());
	if (strcmp(path, "-") == 0)
		r = json_dumpf(root, stdout, JSON_INDENT(2)) == 0 ? 0 : -1;
	else
		r = json_dump_file(root, path, JSON_INDENT(2));
	if (strcmp(path, "-") == 0)
		putchar('\n');
	json_decref(root);
	return r ? bench_err("cannot write %s", path) : 0;
}

/* ---- Command line --------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: prdshm-bench [options]\n"
		"  --reps N          repetitions per case (default 11; median, min, max)\n"
		"  --rep-ms MS       duration of one repetition of a loop case (default 20)\n"
		"  --duration MS     duration of one contended repetition (default 200)\n"
		"  --json[=FILE]     JSON to FILE, or to stdout instead of the table\n"
		"  --callgrind       count instructions per pair with valgrind (default:\n"
		"                    when valgrind is installed); --no-callgrind: skip it\n"
		"  --only NAME       one group (local contended handoff scale phases\n"
		"                    memory callgrind zookeeper)\n"
		"                    or, with --iterations N, one loop case run N times:\n"
		"                   ");
	for (int i = 0; local_case_ids[i]; i++)
		fprintf(f, " %s", local_case_ids[i]);
	fprintf(f, "\n  -h, --help        this text\n");
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return bench_err("bad number '%s' (%ld..%ld)", s, lo, hi);
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "reps", required_argument, NULL, 'r' },
		{ "rep-ms", required_argument, NULL, 'm' },
		{ "duration", required_argument, NULL, 'd' },
		{ "json", optional_argument, NULL, 'j' },
		{ "callgrind", no_argument, NULL, 'c' },
		{ "no-callgrind", no_argument, NULL, 'C' },
		{ "only", required_argument, NULL, 'o' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v = 0;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'r' && parse_int(optarg, 1, 64, &v) == 0)
			bench_opts.reps = (int)v;
		else if (c == 'm' && parse_int(optarg, 1, 10000, &v) == 0)
			bench_opts.rep_ms = (int)v;
		else if (c == 'd' && parse_int(optarg, 10, 60000, &v) == 0)
			bench_opts.duration_ms = (int)v;
		else if (c == 'n' && parse_int(optarg, 1, 1L << 40, &v) == 0)
			bench_opts.iterations = v;
		else if (c == 'j')
			bench_opts.json = optarg ? optarg : "-";
		else if (c == 'c' || c == 'C')
			bench_opts.callgrind = c == 'c';
		else if (c == 'o')
			bench_opts.only = optarg;
		else if (c == 'h') {
			usage(stdout);
			exit(0);
		} else {
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc || (bench_opts.iterations && !bench_opts.only)) {
		usage(stderr);
		return -1;
	}
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} groups[] = {
	{ "local", group_local },   { "contended", group_contended },
	{ "handoff", group_handoff }, { "scale", group_scale },
	{ "phases", group_phases }, { "memory", group_memory }, { "callgrind", group_callgrind },
	{ "zookeeper", group_zookeeper },
};

static int run_groups(void)
{
	int found = 0;

	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		if (bench_opts.only && strcmp(bench_opts.only, groups[i].name) != 0)
			continue;
		found = 1;
		fprintf(stderr, "bench: %s...\n", groups[i].name);
		if (groups[i].fn())
			return -1;
	}
	return found ? 0 : bench_err("no group named '%s'", bench_opts.only);
}

int main(int argc, char **argv)
{
	int r;

	main_pid = getpid();
	bench_opts.self = argv[0];
	if (parse_opts(argc, argv))
		return 2;
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	if (bench_opts.iterations) {
		r = local_run_fixed(bench_opts.only, bench_opts.iterations);
		if (r == 1)
			bench_err("no loop case named '%s'", bench_opts.only);
		return r ? 1 : 0;
	}
	r = run_groups();
	if (bench_opts.json == NULL || strcmp(bench_opts.json, "-") != 0)
		print_table();
	if (bench_opts.json && write_json(bench_opts.json))
		r = -1;
	return r ? 1 : 0;
}
