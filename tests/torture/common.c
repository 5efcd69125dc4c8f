/*
 * common.c: what the torture's supervisor (torture.c), its workers
 * (worker.c) and its crash-point campaign (crashpoints.c) share: the
 * witness mapping, violations, clocks, the random generator, the plan of a
 * round, and running prdshm-inspect.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "torture.h"

struct tt_shared *tt_sh;
int tt_verbose;

void tt_violation(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	__atomic_add_fetch(&tt_sh->violations, 1, __ATOMIC_SEQ_CST);
	if (__atomic_exchange_n(&tt_sh->vmsg_taken, 1, __ATOMIC_SEQ_CST) == 0)
		memcpy(tt_sh->vmsg, buf, sizeof(buf));
	fprintf(stderr, "torture: VIOLATION (pid %ld): %s\n", (long)getpid(), buf);
}

int64_t tt_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t tt_now_ms(void)
{
	return tt_now_us() / 1000;
}

static uint64_t rng_state = 88172645463325252ull;

void tt_srand(uint64_t seed)
{
	rng_state = seed ? seed : 88172645463325252ull;
}

uint32_t tt_rand(uint32_t n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return n ? (uint32_t)((rng_state * 2685821657736338717ull) >> 32) % n : 0;
}

const char *tt_res_name(int r)
{
	static const char *const names[TT_NRES] = {
		"hot-0", "hot-1", "hot-2", "hot-3", "hot-4", "hot-5", "hot-6", "hot-7",
	};

	return names[r];
}

void tt_print_problem(void *ctx, int severity, const char *problem)
{
	fprintf(stderr, "torture:   check %s: %s\n",
		severity == PRDSHM_CHECK_ERROR ? "ERROR" : "warning", problem);
}

/* Phases p0..p(n-1); each depends on up to two random earlier phases, so
 * the plan has a few waves and completions settle dependants. */
static void add_phase(prdshm_config *cfg, int i)
{
	prdshm_phase_def *p = &cfg->phases[i];
	char id[16];
	int ndeps = i == 0 ? 0 : (int)tt_rand(3);

	memset(p, 0, sizeof(*p));
	snprintf(id, sizeof(id), "p%d", i);
	p->id = strdup(id);
	p->name = strdup(id);
	p->estimated_minutes = 1 + tt_rand(10);
	p->deps = calloc(2, sizeof(char *));
	for (int k = 0; k < ndeps; k++) {
		int d = (int)tt_rand((uint32_t)i);

		snprintf(id, sizeof(id), "p%d", d);
		if (k == 1 && strcmp(p->deps[0], id) == 0)
			continue;
		p->deps[p->ndeps++] = strdup(id);
	}
}

void tt_config(prdshm_config *cfg, const char *shm_name, int nphases, int attempts,
	       int nworkers)
{
	prdshm_config_init(cfg);
	snprintf(cfg->shm_name, sizeof(cfg->shm_name), "%s", shm_name);
	cfg->max_locks = 1024; /* several partitions */
	cfg->max_agents = 64;
	cfg->max_phases = 64;
	cfg->max_parallel_agents = nworkers < 64 ? nworkers : 64;
	cfg->phase_max_attempts = attempts;
	cfg->scheduling = PRDSHM_SCHED_EAGER;
	cfg->wave_delay_seconds = 0;
	cfg->deadlock_timeout_ms = 50;
	cfg->lock_timeout_seconds = 5;
	cfg->phases = calloc((size_t)(nphases ? nphases : 1), sizeof(*cfg->phases));
	cfg->nphases = (size_t)nphases;
	for (int i = 0; i < nphases; i++)
		add_phase(cfg, i);
}

int tt_run_inspect(const char *path, const char *shm_name)
{
	pid_t pid;
	int status;

	if (access(path, X_OK) != 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		setenv("PRD_PARALLEL_SHM_NAME", shm_name, 1);
		if (!tt_verbose && freopen("/dev/null", "w", stdout) == NULL)
			_exit(126);
		execl(path, path, "--check", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -2;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

