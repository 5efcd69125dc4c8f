/*
 * callgrind.c: user-space instructions per acquire+release pair.
 *
 * Runs this program twice under valgrind --tool=callgrind, as
 *     prdshm-bench --only CASE --iterations N
 * for two values of N, and divides the difference of the instruction totals
 * by the difference of N: set-up, segment creation and exit cancel out.
 * Kernel instructions are not counted (valgrind sees user space only).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define N1 20000L
#define N2 120000L

static int have_valgrind(void)
{
	return system("valgrind --version >/dev/null 2>&1") == 0;
}

/* Run the case under callgrind; @return its instruction total, or 0. */
static uint64_t count(const char *id, long n)
{
	const char *out = bench_file_name(n == N1 ? "callgrind-1" : "callgrind-2");
	char cmd[1024], line[256];
	uint64_t total = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "valgrind --tool=callgrind --callgrind-out-file=%s '%s' --only %s "
		 "--iterations %ld >/dev/null 2>&1",
		 out, bench_opts.self, id, n);
	if (system(cmd) != 0) {
		bench_err("failed: %s", cmd);
		return 0;
	}
	f = fopen(out, "r");
	while (f && fgets(line, sizeof(line), f)) {
		/* "summary: <Ir>" (older) or "totals: <Ir>" (both are equal). */
		if (sscanf(line, "summary: %" SCNu64, &total) == 1)
			break;
		if (sscanf(line, "totals: %" SCNu64, &total) == 1)
			break;
	}
	if (f)
		fclose(f);
	unlink(out);
	if (total == 0)
		bench_err("no instruction total in %s", out);
	return total;
}

static int per_pair(const char *id, const char *row, const char *label)
{
	uint64_t a = count(id, N1), b = a ? count(id, N2) : 0;

	if (a == 0 || b == 0)
		return -1;
	bench_add_value(row, "instructions (callgrind, user space)", label, "instr",
			(double)(b - a) / (double)(N2 - N1), NULL);
	return 0;
}

int group_callgrind(void)
{
	int r;

	if (bench_opts.callgrind == 0)
		return 0;
	if (!have_valgrind()) {
		if (bench_opts.callgrind == 1)
			return bench_err("--callgrind: valgrind is not installed");
		fprintf(stderr, "bench: valgrind not found: instruction counts skipped\n");
		return 0;
	}
	r = per_pair("excl", "instr_excl", "per prdshm EXCLUSIVE acquire+release");
	if (r == 0)
		r = per_pair("excl_alt", "instr_alt", "the same, two names in turn (mutex path)");
	if (r == 0)
		r = per_pair("mutex", "instr_mutex", "per bare robust mutex lock+unlock");
	return r;
}
