/*
 * crashpoints.c: every PRDSHM__CRASH_POINT of the library, reached on
 * purpose.  For each point a child process runs a short script that passes
 * through it with PRDSHM_CRASH_AT set, so it dies by SIGKILL inside the
 * critical section.  The supervisor then makes the next call on that
 * partition or on the phase region (which meets EOWNERDEAD and repairs),
 * and prdshm_check() must return 0: no broken invariant, no dead owner left.
 * A child that survives its script means the point is unreachable from its
 * scenario (a stale table): that fails too.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lock/region.h"
#include "session/region.h"
#include "shm/segment.h"
#include "torture.h"

/* The scripts a crashing child can run. */
enum script {
	S_LOCK,        /* lock a new resource */
	S_LOCK_UNLOCK, /* lock, unlock, re-lock, unlock (no mutex), then another
			* session's lock and unlock_all */
	S_LOCK_WAIT,   /* wait for it while the supervisor holds it */
	S_LOCK_STUCK,  /* wait for it past the deadlock timeout (no let-in) */
	S_HANDOFF,     /* hold it, and release it once the supervisor waits:
			* the release hands it over */
	S_RECOVER,     /* prdshm_recover() with a partition mutex left
			* unrecoverable */
	S_CLAIM,       /* claim a phase */
	S_COMPLETE,    /* claim and complete p0 (p1 depends on it) */
	S_FAIL,        /* claim and fail p0, attempts remain */
	S_REAP_DEAD,   /* claim while p0 is held by a killed agent */
	S_RETRY,       /* claim, fail for good, then retry p0 by hand */
};

struct scenario {
	const char *point;
	enum script script;
};

/* Keep in step with `grep -rho 'CRASH_POINT("[a-z_]*")' lib`: the
 * campaign fails when the library has a point this table lacks. */
static const struct scenario scenarios[] = {
	{ "slot_alloc", S_LOCK },
	{ "lock_link", S_LOCK },
	{ "lock_grant", S_HANDOFF },
	{ "handoff_begin", S_HANDOFF },
	{ "handoff_lock", S_HANDOFF },
	{ "handoff_wake", S_HANDOFF },
	{ "wait_handed", S_LOCK_WAIT },
	{ "lock_remove", S_LOCK_UNLOCK },
	{ "unlock_ring", S_LOCK_UNLOCK },
	{ "lock_reuse", S_LOCK_UNLOCK },
	{ "lock_reclaim", S_LOCK_UNLOCK },
	{ "deadlock_check", S_LOCK_STUCK },
	{ "recover_begin", S_RECOVER },
	{ "recover_mutex_init", S_RECOVER },
	{ "phase_transition", S_CLAIM },
	{ "phase_claim", S_CLAIM },
	{ "phase_claim_agent", S_CLAIM },
	{ "phase_finish", S_COMPLETE },
	{ "phase_settle", S_COMPLETE },
	{ "phase_requeue", S_FAIL },
	{ "phase_died", S_REAP_DEAD },
	{ "phase_retry", S_RETRY },
	{ "phase_ready", S_CLAIM },
	{ "phase_running", S_CLAIM },
	{ "phase_propagate", S_COMPLETE },
};

const char *const tt_crash_points[] = {
	"slot_alloc", "lock_link", "lock_grant", "handoff_begin", "handoff_lock",
	"handoff_wake", "wait_handed", "lock_remove", "unlock_ring",
	"lock_reuse", "lock_reclaim", "deadlock_check", "recover_begin", "recover_mutex_init",
	"phase_transition", "phase_claim", "phase_claim_agent", "phase_finish",
	"phase_settle", "phase_requeue", "phase_died", "phase_retry",
	"phase_ready", "phase_running", "phase_propagate",
};
const size_t tt_ncrash_points = sizeof(tt_crash_points) / sizeof(tt_crash_points[0]);

#define RES "crash-res"

struct cp {
	const struct scenario *sc;
	prdshm_config cfg;
	prdshm_seg *seg;
	prdshm_session *sup;
};

/* ---- The table against the sources -------------------------------------- */

static int known(const char *name, size_t len)
{
	for (size_t i = 0; i < tt_ncrash_points; i++)
		if (strlen(tt_crash_points[i]) == len && memcmp(tt_crash_points[i], name, len) == 0)
			return 1;
	return 0;
}

/* Count the crash points of @p path missing from the table. */
static int scan_file(const char *path)
{
	static const char tag[] = "PRDSHM__CRASH_POINT(\"";
	char line[512];
	int missing = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, tag), *q;
		if (p == NULL)
			continue;
		p += sizeof(tag) - 1;
		q = strchr(p, '"');
		if (q && !known(p, (size_t)(q - p))) {
			fprintf(stderr, "torture: %s: crash point \"%.*s\" has no scenario\n", path,
				(int)(q - p), p);
			missing++;
		}
	}
	fclose(f);
	return missing;
}

/* Scan the .c files of @p dir and its sub-folders (lib/ is one folder per
 * layer), counting them in *@p nfiles.  @return the points missing. */
static int scan_dir(const char *dir, int depth, int *nfiles)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	char path[1024];
	int missing = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (depth < 2 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			missing += scan_dir(path, depth + 1, nfiles);
		} else if (n > 2 && strcmp(e->d_name + n - 2, ".c") == 0) {
			missing += scan_file(path);
			(*nfiles)++;
		}
	}
	closedir(d);
	return missing;
}

static int scan_sources(const char *libdir)
{
	int nfiles = 0, missing;
	struct stat st;

	if (stat(libdir, &st) != 0)
		return 0; /* run from elsewhere: nothing to compare with */
	missing = scan_dir(libdir, 0, &nfiles);
	if (nfiles == 0) {
		fprintf(stderr, "torture: no source file under %s to find crash points in\n",
			libdir);
		return 1;
	}
	return missing;
}

/* ---- The child ---------------------------------------------------------- */

static int claim_one(prdshm_session *s, prdshm_claim *c)
{
	int r = prdshm_phase_claim(s, c);

	if (r != 0)
		fprintf(stderr, "torture: crash child: claim: %s\n", prdshm_err_name(r));
	return r;
}

/* 1 once @p n records are on RES (bounded: 5 s). */
static int res_records(prdshm_seg *seg, size_t n)
{
	for (int64_t until = tt_now_ms() + 5000; tt_now_ms() < until; usleep(1000)) {
		size_t got = 0;

		if (prdshm_lock_query(seg, RES, 0, NULL, 0, &got) == 0 && got >= n)
			return 1;
	}
	return 0;
}

static void run_script(prdshm_seg *seg, prdshm_session *s, enum script sc)
{
	prdshm_session *other = NULL;
	prdshm_claim c = PRDSHM_CLAIM_INIT;

	switch (sc) {
	case S_LOCK:
	case S_LOCK_WAIT:
	case S_LOCK_STUCK:
		prdshm_lock(s, RES, PRDSHM_EXCLUSIVE, 5000, NULL);
		break;
	case S_HANDOFF:
		if (prdshm_lock(s, RES, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL) == 0 &&
		    res_records(seg, 2))
			prdshm_unlock(s, RES);
		break;
	case S_RECOVER:
		prdshm_recover(seg, NULL, NULL);
		break;
	case S_LOCK_UNLOCK:
		/* prdshm_unlock() releases without the mutex, the re-lock
		 * takes that record back without it too; another session's
		 * lock then reuses the record, and its unlock_all removes it
		 * under the mutex. */
		if (prdshm_lock(s, RES, PRDSHM_EXCLUSIVE, 5000, NULL) == 0)
			prdshm_unlock(s, RES);
		if (prdshm_lock(s, RES, PRDSHM_EXCLUSIVE, 5000, NULL) == 0)
			prdshm_unlock(s, RES);
		if (prdshm_session_open(seg, "crasher-2", 0, &other) == 0 &&
		    prdshm_lock(other, RES, PRDSHM_EXCLUSIVE, 5000, NULL) == 0)
			prdshm_unlock_all(other, NULL);
		break;
	case S_CLAIM:
	case S_REAP_DEAD:
		claim_one(s, &c);
		break;
	case S_COMPLETE:
		if (claim_one(s, &c) == 0)
			prdshm_phase_complete(s, c.index);
		break;
	case S_FAIL:
		if (claim_one(s, &c) == 0)
			prdshm_phase_fail(s, c.index, 1, "crash test");
		break;
	case S_RETRY:
		if (claim_one(s, &c) == 0 && prdshm_phase_fail(s, c.index, 1, "crash test") == 0)
			prdshm_phase_set(seg, s, c.id, PRDSHM_PHASE_QUEUED);
		break;
	}
}

/* Arm the crash point only once attached: the script alone must reach it. */
static void crash_child(const struct cp *cp) __attribute__((noreturn));
static void crash_child(const struct cp *cp)
{
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;

	prdshm_session_abandon(cp->sup);
	if (prdshm_seg_open(cp->cfg.shm_name, &seg) != 0 ||
	    prdshm_session_open(seg, "crasher", 0, &s) != 0)
		_exit(2);
	setenv("PRDSHM_CRASH_AT", cp->sc->point, 1);
	run_script(seg, s, cp->sc->script);
	_exit(3); /* the point was not reached */
}

/* A claimer that is killed while it runs p0 (for S_REAP_DEAD). */
static int kill_a_claimer(const struct cp *cp)
{
	int fds[2], status;
	char c = 0;
	pid_t pid;

	if (pipe(fds) != 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		prdshm_seg *seg = NULL;
		prdshm_session *s = NULL;
		prdshm_claim cl = PRDSHM_CLAIM_INIT;

		prdshm_session_abandon(cp->sup);
		if (prdshm_seg_open(cp->cfg.shm_name, &seg) == 0 &&
		    prdshm_session_open(seg, "victim", 0, &s) == 0 && prdshm_phase_claim(s, &cl) == 0)
			c = 1;
		if (write(fds[1], &c, 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	close(fds[1]);
	if (pid < 0 || read(fds[0], &c, 1) != 1)
		c = 0;
	close(fds[0]);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	return c == 1 ? 0 : -1;
}

/* ---- The supervisor's side ---------------------------------------------- */

/* S_RECOVER: leave partition 0's mutex unrecoverable, as a process that
 * unlocked it owner-dead without repairing would: a child dies holding it,
 * and the supervisor unlocks it without pthread_mutex_consistent(). */
static int leave_unrecoverable(struct cp *cp)
{
	pthread_mutex_t *m = &prdshm__locks(cp->seg)->parts[0].mutex.m;
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(pthread_mutex_lock(m) == 0 ? 0 : 1);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || pthread_mutex_lock(m) != EOWNERDEAD)
		return -1;
	pthread_mutex_unlock(m);
	return 0;
}

/* S_LOCK_WAIT: hold the resource until the child queues behind us. */
static void let_waiter_in(struct cp *cp)
{
	res_records(cp->seg, 2);
	prdshm_unlock(cp->sup, RES);
}

/* S_HANDOFF: queue behind the child once it holds the resource; its
 * release, killed inside the hand-off, must still let us in (after a
 * repair of the mutex, or at the end of a capped sleep).  @return the
 * lock's result. */
static int queue_behind_child(struct cp *cp)
{
	int r;

	if (!res_records(cp->seg, 1))
		return PRDSHM_ETIMEDOUT;
	r = prdshm_lock(cp->sup, RES, PRDSHM_EXCLUSIVE, 5000, NULL);
	if (r != 0)
		fprintf(stderr, "torture: crash point %s: the waiter was not let in: %s (%s)\n",
			cp->sc->point, prdshm_err_name(r), prdshm_last_error());
	return r;
}

static int wait_exit(pid_t pid, int ms)
{
	int64_t until = tt_now_ms() + ms;
	int status;

	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (tt_now_ms() >= until) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(1000);
	}
	return status;
}

static int setup(struct cp *cp, const struct scenario *sc)
{
	char name[64];
	int attempts = sc->script == S_RETRY ? 1 : 3;

	cp->sc = sc;
	snprintf(name, sizeof(name), "/prdshm-torture-%ld-cp", (long)getpid());
	prdshm_seg_unlink(name);
	tt_config(&cp->cfg, name, 2, attempts, 2);
	/* p1 depends on p0 (tt_config draws dependencies at random). */
	for (size_t k = 0; k < cp->cfg.phases[1].ndeps; k++)
		free(cp->cfg.phases[1].deps[k]);
	cp->cfg.phases[1].deps[0] = strdup("p0");
	cp->cfg.phases[1].ndeps = 1;
	if (prdshm_seg_create(&cp->cfg, &cp->seg) != 0 ||
	    prdshm_session_open(cp->seg, "supervisor", 0, &cp->sup) != 0) {
		fprintf(stderr, "torture: crash campaign setup: %s\n", prdshm_last_error());
		return -1;
	}
	if (sc->script == S_RECOVER && leave_unrecoverable(cp) != 0)
		return -1;
	if ((sc->script == S_LOCK_WAIT || sc->script == S_LOCK_STUCK) &&
	    prdshm_lock(cp->sup, RES, PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL) != 0)
		return -1;
	if (sc->script == S_REAP_DEAD && kill_a_claimer(cp) != 0)
		return -1;
	return 0;
}

static void teardown(struct cp *cp)
{
	prdshm_session_close(cp->sup);
	prdshm_seg_close(cp->seg);
	prdshm_seg_unlink(cp->cfg.shm_name);
	prdshm_config_free(&cp->cfg);
	memset(cp, 0, sizeof(*cp));
}

/* The next call after the crash, on the same partition or region. */
static int next_call(struct cp *cp)
{
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	int r;

	if (cp->sc->script == S_LOCK_STUCK || cp->sc->script == S_HANDOFF)
		prdshm_unlock(cp->sup, RES);
	if (cp->sc->script == S_RECOVER) {
		r = prdshm_recover(cp->seg, NULL, NULL);
		if (r)
			return r;
	}
	if (cp->sc->script <= S_RECOVER) {
		r = prdshm_lock(cp->sup, RES, PRDSHM_EXCLUSIVE, 2000, NULL);
		if (r == 0)
			r = prdshm_unlock(cp->sup, RES);
		return r;
	}
	r = prdshm_phase_claim(cp->sup, &c);
	if (r == 0)
		r = prdshm_phase_complete(cp->sup, c.index);
	return r == PRDSHM_EWAIT || r == PRDSHM_EDONE ? 0 : r;
}

/* After a phase crash the plan must still run to the end: a repair that
 * leaves a phase FAILED with attempts to spare (or its dependants BLOCKED)
 * has lost the interrupted operation's effect. */
static int finish_plan(struct cp *cp)
{
	prdshm_snapshot *snap = NULL;
	prdshm_claim c = PRDSHM_CLAIM_INIT;
	int r, bad = 0;

	while ((r = prdshm_phase_claim(cp->sup, &c)) == 0)
		prdshm_phase_complete(cp->sup, c.index);
	if (r != PRDSHM_EDONE || prdshm_snapshot_take(cp->seg, 0, &snap) != 0) {
		fprintf(stderr, "torture: crash point %s: plan stuck: %s\n", cp->sc->point,
			prdshm_err_name(r));
		return -1;
	}
	for (size_t i = 0; i < snap->nphases; i++) {
		if (snap->phases[i].status == PRDSHM_PHASE_COMPLETED)
			continue;
		fprintf(stderr, "torture: crash point %s: phase %s ends %s (attempts %u)\n",
			cp->sc->point, snap->phases[i].id,
			prdshm_phase_status_name(snap->phases[i].status), snap->phases[i].attempts);
		bad++;
	}
	prdshm_snapshot_free(snap);
	return bad ? -1 : 0;
}

static int damage_report(struct cp *cp)
{
	return prdshm_check(cp->seg, PRDSHM_SNAP_NOLOCK, tt_verbose ? tt_print_problem : NULL, NULL);
}

static int run_scenario(const struct scenario *sc)
{
	struct cp cp = { 0 };
	int status, r, before, ok = 0, handed = 0;
	pid_t pid;

	if (setup(&cp, sc) != 0)
		goto out;
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		crash_child(&cp);
	if (sc->script == S_LOCK_WAIT)
		let_waiter_in(&cp);
	if (sc->script == S_HANDOFF)
		handed = queue_behind_child(&cp);
	status = wait_exit(pid, 10000);
	if (!(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
		fprintf(stderr, "torture: crash point %s not reached (status 0x%x)\n", sc->point,
			status);
		goto out;
	}
	if (handed != 0)
		goto out;
	before = damage_report(&cp);
	r = next_call(&cp);
	if (r != 0) {
		fprintf(stderr, "torture: crash point %s: next call failed: %s (%s)\n", sc->point,
			prdshm_err_name(r), prdshm_last_error());
		goto out;
	}
	r = prdshm_check(cp.seg, 0, tt_print_problem, NULL);
	if (r != 0) {
		fprintf(stderr, "torture: crash point %s: prdshm_check after repair: %s\n",
			sc->point, prdshm_err_name(r));
		goto out;
	}
	if (sc->script > S_RECOVER && finish_plan(&cp) != 0)
		goto out;
	ok = 1;
	if (tt_verbose)
		printf("torture: crash point %-18s reached; check before repair %s, after 0\n",
		       sc->point, prdshm_err_name(before));
out:
	if (cp.seg)
		teardown(&cp);
	return ok;
}

int tt_crash_campaign(const char *libdir, int *passed)
{
	int failed = scan_sources(libdir) ? 1 : 0;

	if (sizeof(scenarios) / sizeof(scenarios[0]) != tt_ncrash_points) {
		fprintf(stderr, "torture: scenario table and point list differ\n");
		failed++;
	}
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (run_scenario(&scenarios[i]))
			(*passed)++;
		else
			failed++;
	}
	printf("torture: crash points: %d reached and repaired, %d failed\n", *passed, failed);
	return failed;
}
