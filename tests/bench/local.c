/*
 * local.c: uncontended acquire+release in one process, for prdshm and for
 * what people use instead: flock(2) on an open fd, the open+flock+close
 * lock-file pattern, fcntl OFD record locks, and a bare robust
 * process-shared pthread mutex (the floor: what the lock table adds sits on
 * top of exactly one such mutex lock/unlock per call).
 *
 * Each case is a loop of n acquire+release pairs; the runner times it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "bench.h"

/* A realistic resource name (24 bytes): the hash and the comparison cost
 * grow with the length, so a one-letter name would flatter prdshm. */
#define NAME "project/build/output-dir"

struct local {
	prdshm_config cfg;
	prdshm_seg *seg;
	prdshm_session *s, *other;
	int fd;
	const char *path;
	pthread_mutex_t *mutex;
};

static struct local L = { .fd = -1 };

/* ---- prdshm ------------------------------------------------------------ */

/* WAIT_FOREVER, like flock(LOCK_EX), which blocks without a timeout. */
static int loop_excl(void *arg, long n)
{
	for (long i = 0; i < n; i++) {
		int r = prdshm_lock(L.s, NAME, PRDSHM_EXCLUSIVE, PRDSHM_WAIT_FOREVER, NULL);

		if (r == 0)
			r = prdshm_unlock(L.s, NAME);
		if (r)
			return bench_perr(r, "excl");
	}
	return 0;
}

/* Two names in turn: a thread's re-lock of the name it last locked and
 * released takes its released record back without the mutex, so this is
 * the cost of a lock that takes the partition mutex and finds the slot by
 * hash, as the first lock of a name does (the release still goes without
 * the mutex). */
static int loop_excl_alt(void *arg, long n)
{
	static const char *const names[2] = { NAME, "project/build/output-alt" };

	for (long i = 0; i < n; i++) {
		int r = prdshm_lock(L.s, names[i & 1], PRDSHM_EXCLUSIVE, PRDSHM_WAIT_FOREVER, NULL);

		if (r == 0)
			r = prdshm_unlock(L.s, names[i & 1]);
		if (r)
			return bench_perr(r, "excl_alt");
	}
	return 0;
}

static int loop_shared(void *arg, long n)
{
	for (long i = 0; i < n; i++) {
		int r = prdshm_lock(L.s, NAME, PRDSHM_SHARED, PRDSHM_WAIT_FOREVER, NULL);

		if (r == 0)
			r = prdshm_unlock(L.s, NAME);
		if (r)
			return bench_perr(r, "shared");
	}
	return 0;
}

/* Another session holds the resource: every try must fail at once. */
static int loop_busy(void *arg, long n)
{
	for (long i = 0; i < n; i++) {
		int r = prdshm_lock(L.s, "held/by/another-session", PRDSHM_EXCLUSIVE, PRDSHM_TRY,
				    NULL);

		if (r != PRDSHM_EBUSY)
			return bench_perr(r, "busy: expected PRDSHM_EBUSY");
	}
	return 0;
}

static const char *const many[4] = {
	"project/build/output-a",
	"project/build/output-b",
	"project/build/output-c",
	"project/build/output-d",
};

static int loop_many4(void *arg, long n)
{
	for (long i = 0; i < n; i++) {
		int r = prdshm_lock_many(L.s, many, 4, PRDSHM_EXCLUSIVE, PRDSHM_WAIT_FOREVER, NULL,
					 NULL);

		for (int k = 0; r == 0 && k < 4; k++)
			r = prdshm_unlock(L.s, many[k]);
		if (r)
			return bench_perr(r, "many4");
	}
	return 0;
}

/* ---- The alternatives -------------------------------------------------- */

static int loop_flock_fd(void *arg, long n)
{
	for (long i = 0; i < n; i++) {
		if (flock(L.fd, LOCK_EX) || flock(L.fd, LOCK_UN))
			return bench_err("flock: %s", strerror(errno));
	}
	return 0;
}

/* The usual lock-file pattern: closing the descriptor releases the lock. */
static int loop_lockfile(void *arg, long n)
{
	for (long i = 0; i < n; i++) {
		int fd = open(L.path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0 || flock(fd, LOCK_EX))
			return bench_err("open+flock %s: %s", L.path, strerror(errno));
		close(fd);
	}
	return 0;
}

static int ofd_set(short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET };

	return fcntl(L.fd, F_OFD_SETLK, &fl);
}

static int loop_ofd(void *arg, long n)
{
	for (long i = 0; i < n; i++) {
		if (ofd_set(F_WRLCK) || ofd_set(F_UNLCK))
			return bench_err("fcntl F_OFD_SETLK: %s", strerror(errno));
	}
	return 0;
}

static int loop_mutex(void *arg, long n)
{
	for (long i = 0; i < n; i++) {
		if (pthread_mutex_lock(L.mutex) || pthread_mutex_unlock(L.mutex))
			return bench_err("pthread_mutex_lock failed");
	}
	return 0;
}

/* ---- Set-up ------------------------------------------------------------ */

static int mutex_init(void)
{
	pthread_mutexattr_t a;

	L.mutex = bench_shared_alloc(sizeof(*L.mutex));
	if (L.mutex == NULL)
		return bench_err("mmap: %s", strerror(errno));
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(L.mutex, &a);
	pthread_mutexattr_destroy(&a);
	return 0;
}

static int setup(void)
{
	int r;

	bench_config(&L.cfg);
	r = prdshm_seg_create(&L.cfg, &L.seg);
	if (r == 0)
		r = prdshm_session_open(L.seg, "bench", 0, &L.s);
	if (r == 0)
		r = prdshm_session_open(L.seg, "holder", 0, &L.other);
	if (r == 0)
		r = prdshm_lock(L.other, "held/by/another-session", PRDSHM_EXCLUSIVE, PRDSHM_TRY,
				NULL);
	if (r)
		return bench_perr(r, "local setup");
	L.path = bench_file_name("flock");
	L.fd = open(L.path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (L.fd < 0)
		return bench_err("open %s: %s", L.path, strerror(errno));
	return mutex_init();
}

static void teardown(void)
{
	prdshm_session_close(L.other);
	prdshm_session_close(L.s);
	prdshm_seg_close(L.seg);
	prdshm_seg_unlink(L.cfg.shm_name);
	prdshm_config_free(&L.cfg);
	if (L.fd >= 0)
		close(L.fd);
	if (L.mutex) {
		pthread_mutex_destroy(L.mutex);
		bench_shared_free(L.mutex, sizeof(*L.mutex));
	}
	memset(&L, 0, sizeof(L));
	L.fd = -1;
}

/* ---- The cases ---------------------------------------------------------- */

static const struct {
	const char *id;
	const char *label;
	int (*loop)(void *, long);
	const char *ratio_to;
} cases[] = {
	{ "flock_fd", "flock(2) LOCK_EX+LOCK_UN, open fd on tmpfs", loop_flock_fd, NULL },
	{ "lockfile", "open+flock(2)+close of a lock file", loop_lockfile, "flock_fd" },
	{ "ofd", "fcntl F_OFD_SETLK F_WRLCK+F_UNLCK", loop_ofd, "flock_fd" },
	{ "mutex", "bare robust pshared mutex lock+unlock", loop_mutex, "flock_fd" },
	{ "excl", "prdshm EXCLUSIVE acquire+release by name", loop_excl, "flock_fd" },
	{ "excl_alt", "the same, two names in turn (mutex path)", loop_excl_alt, "flock_fd" },
	{ "shared", "prdshm SHARED acquire+release", loop_shared, "flock_fd" },
	{ "busy", "prdshm try on a held resource (EBUSY)", loop_busy, "flock_fd" },
	{ "many4", "prdshm lock_many(4) + 4 unlocks", loop_many4, "flock_fd" },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

const char *const local_case_ids[] = {
	"flock_fd", "lockfile", "ofd", "mutex", "excl", "excl_alt", "shared", "busy", "many4", NULL,
};

int group_local(void)
{
	int r = setup();

	for (size_t i = 0; r == 0 && i < NCASES; i++) {
		struct stats st;

		r = bench_measure_loop(cases[i].loop, NULL, &st);
		if (r == 0)
			bench_add(cases[i].id, "uncontended, one process", cases[i].label, U_NS, &st,
				  cases[i].ratio_to);
	}
	teardown();
	return r;
}

int local_run_fixed(const char *id, long n)
{
	int r;

	for (size_t i = 0; i < NCASES; i++) {
		if (strcmp(cases[i].id, id) != 0)
			continue;
		r = setup();
		if (r == 0)
			r = cases[i].loop(NULL, n);
		teardown();
		return r;
	}
	return 1;
}
