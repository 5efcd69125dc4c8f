/*
 * snapshot.c: copying the whole state out for inspection.
 *
 * Inspection must never hang on a wedged segment: each mutex is taken with
 * a short timeout (repairing it, like any locker, if its holder died), or
 * not at all with PRDSHM_SNAP_NOLOCK, and held only while copying.  Without
 * the mutex the copy may be torn, so everything read is bounds-checked as if
 * hostile, and snap->locked says so.  Each holder's process state comes from
 * /proc afterwards, with no mutex held.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "lock/locktable.h"
#include "ops/ops.h"
#include "plan/phases.h"
#include "shm/robust.h"
#include "session/session.h"
#include "base/snapshot.h"
#include "base/util.h"

#define SNAP_LOCK_MS 200

static void copy_agent(struct prdshm_seg *seg, uint32_t i, prdshm_agent_info *out)
{
	const struct prdshm__agent *a = &prdshm__sessions(seg)->agents[i];
	uint32_t nlog = a->nlog;
	uint32_t n = nlog < PRDSHM_LOG_LINES ? nlog : PRDSHM_LOG_LINES;

	out->slot = (int32_t)i;
	prdshm__agent_id(seg, i, out->id);
	out->pid = a->pid;
	out->uid = a->uid;
	out->start_ns = a->start_ns;
	out->heartbeat_ns = __atomic_load_n(&a->heartbeat_ns, __ATOMIC_RELAXED);
	out->alive = a->state == PRDSHM__SLOT_ACTIVE && prdshm__session_alive(seg, i, a->gen);
	out->status = a->status <= PRDSHM_AGENT_DEAD ? (prdshm_agent_status)a->status
						     : PRDSHM_AGENT_DEAD;
	if (a->state == PRDSHM__SLOT_ACTIVE && !out->alive)
		out->status = PRDSHM_AGENT_DEAD;
	out->phase = a->phase;
	out->nlog = n;
	/* Oldest first: the ring's next write position is nlog % LINES. */
	for (uint32_t k = 0; k < n; k++) {
		uint32_t idx = (nlog - n + k) % PRDSHM_LOG_LINES;

		memcpy(out->log[k], a->log[idx], PRDSHM_MSG_MAX);
		out->log[k][PRDSHM_MSG_MAX] = '\0';
	}
}

static int snap_agents(struct prdshm_seg *seg, unsigned flags, prdshm_snapshot *snap)
{
	int locked = !(flags & PRDSHM_SNAP_NOLOCK) &&
		     prdshm__sess_lock(seg, SNAP_LOCK_MS) == 0;
	size_t n = 0;

	if (!locked)
		snap->locked = 0;
	snap->agents = calloc(prdshm__sessions(seg)->max_agents ? prdshm__sessions(seg)->max_agents : 1, sizeof(*snap->agents));
	if (snap->agents == NULL)
		goto out;
	for (uint32_t i = 0; i < prdshm__sessions(seg)->max_agents; i++)
		if (prdshm__sessions(seg)->agents[i].used)
			copy_agent(seg, i, &snap->agents[n++]);
	snap->nagents = n;
out:
	if (locked)
		prdshm__sess_unlock(seg);
	return snap->agents ? 0 : PRDSHM_ENOMEM;
}

/* Copy one slot's records, holders first, then waiters in FIFO order.
 * An upgrading holder appears twice: as a SHARED holder and an EXCLUSIVE
 * waiter. */
static int copy_slot(struct prdshm_seg *seg, uint32_t p, const struct prdshm__slot *sl,
		     prdshm_lock_info *li)
{
	const struct prdshm__rec *recs = prdshm__part_recs(prdshm__locks(seg), p);
	size_t cap = 8, n = 0;
	int show_released;

	li->holders = malloc(cap * sizeof(*li->holders));
	if (li->holders == NULL)
		return PRDSHM_ENOMEM;
	li->resource_len = sl->name_len <= PRDSHM_NAME_MAX ? sl->name_len : PRDSHM_NAME_MAX;
	memcpy(li->resource, sl->name, li->resource_len);
	li->resource[li->resource_len] = '\0';
	/* A RELEASED record blocks the waiters until the next of them
	 * collects it (docs/design.md): shown as a holder while they wait. */
	show_released = __atomic_load_n(&sl->nwaiting, __ATOMIC_RELAXED) != 0;

	for (int waiting = 0; waiting < 2; waiting++) {
		uint32_t i = sl->head;

		for (uint32_t k = 0; i < prdshm__locks(seg)->recs_per_part && k < prdshm__locks(seg)->recs_per_part; k++) {
			const struct prdshm__rec *r = &recs[i];
			uint32_t st = prdshm__rec_state(r);
			int held = st == PRDSHM__REC_HELD ||
				   (show_released && st == PRDSHM__REC_RELEASED);
			int waits = st == PRDSHM__REC_WAITING ||
				    (held && (r->flags & PRDSHM__REC_UPGRADING));

			i = r->next;
			if (waiting ? !waits : !held)
				continue; /* RELEASED, blocking nobody */
			if (n == cap) {
				prdshm_holder *h = realloc(li->holders, 2 * cap * sizeof(*h));
				if (h == NULL)
					return PRDSHM_ENOMEM;
				li->holders = h;
				cap *= 2;
			}
			prdshm__copy_record(seg, r, &li->holders[n]);
			if (!waiting) {
				li->holders[n].waiting = 0;
				li->holders[n].mode = r->mode == PRDSHM_EXCLUSIVE ? PRDSHM_EXCLUSIVE
										  : PRDSHM_SHARED;
				if (li->holders[n].mode > li->mode || li->mode == 0)
					li->mode = li->holders[n].mode;
				li->nholders++;
			}
			n++;
		}
	}
	li->nrecords = n;
	return 0;
}

static int snap_partition(struct prdshm_seg *seg, uint32_t p, prdshm_snapshot *snap,
			  size_t *cap)
{
	const struct prdshm__slot *slots = prdshm__part_slots(prdshm__locks(seg), p);

	for (uint32_t i = 0; i < prdshm__locks(seg)->slots_per_part; i++) {
		prdshm_lock_info *li;

		if (slots[i].name_len == 0)
			continue;
		if (snap->nlocks == *cap) {
			size_t ncap = *cap ? *cap * 2 : 16;
			li = realloc(snap->locks, ncap * sizeof(*li));
			if (li == NULL)
				return PRDSHM_ENOMEM;
			snap->locks = li;
			*cap = ncap;
		}
		li = &snap->locks[snap->nlocks++];
		memset(li, 0, sizeof(*li));
		if (copy_slot(seg, p, &slots[i], li) != 0)
			return PRDSHM_ENOMEM;
		if (li->nrecords == 0) {
			/* Only released records, not collected yet: free. */
			free(li->holders);
			snap->nlocks--;
		}
	}
	return 0;
}

static int snap_locks(struct prdshm_seg *seg, unsigned flags, prdshm_snapshot *snap)
{
	size_t cap = 0;
	int r = 0;

	for (uint32_t p = 0; p < prdshm__locks(seg)->nparts && r == 0; p++) {
		int locked = !(flags & PRDSHM_SNAP_NOLOCK) &&
			     prdshm__part_lock(seg, p, SNAP_LOCK_MS) == 0;

		if (!locked)
			snap->locked = 0;
		r = snap_partition(seg, p, snap, &cap);
		if (locked)
			prdshm__part_unlock(seg, p);
	}
	return r;
}

/* ---- Process states: a hint from /proc, read without any mutex ---------- */

/* CLOCK_REALTIME of the boot, as the kernel counts process start times. */
static uint64_t boot_real_ns(void)
{
	struct timespec ts;
	uint64_t up;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
		return 0;
	up = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	return prdshm__now_real() - up;
}

/* 1 if the process whose stat fields follow the state letter at @p f
 * (field 3) started after @p not_after_ns (CLOCK_REALTIME): then it is not
 * the process that opened the session.  Unreadable: 0. */
static int started_after(const char *f, uint64_t not_after_ns)
{
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long ticks;
	uint64_t boot = boot_real_ns();
	char *end;

	/* starttime is field 22: 19 fields after the state. */
	for (int k = 0; k < 19 && f != NULL; k++) {
		f = strchr(f, ' ');
		f = f ? f + 1 : NULL;
	}
	if (f == NULL || hz <= 0 || boot == 0)
		return 0;
	ticks = strtoull(f, &end, 10);
	if (end == f)
		return 0;
	/* A second of slack: ticks are coarse, and the two clocks were read
	 * at different instants. */
	return boot + ticks / (unsigned long long)hz * 1000000000u +
		       ticks % (unsigned long long)hz * 1000000000u / (unsigned long long)hz >
	       not_after_ns + 1000000000u;
}

/* Whether process @p pid maps the file @p st (the segment): 1 yes, 0 no,
 * -1 cannot tell (its maps are not ours to read). */
static int maps_segment(int32_t pid, const struct stat *st)
{
	char path[40], line[512];
	int found = 0, whole = 1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	/* "start-end perms offset major:minor inode path" */
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		unsigned maj, min;
		unsigned long long ino;
		int start = whole;

		whole = strchr(line, '\n') != NULL; /* else a long path goes on */
		if (start && sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &ino) == 3 &&
		    ino == (unsigned long long)st->st_ino && makedev(maj, min) == st->st_dev)
			found = 1;
	}
	fclose(f);
	return found;
}

/*
 * The state of process @p pid, which opened its session at @p session_ns
 * (CLOCK_REALTIME, 0 if not known) and maps the segment @p st, from
 * /proc/<pid>/stat.  Only a hint for display: a pid from another PID
 * namespace is not found here, or names another process, which betrays
 * itself by not mapping the segment or by a start after the session's:
 * UNKNOWN.
 */
static prdshm_proc_state proc_state(int32_t pid, uint64_t session_ns, const struct stat *st)
{
	char path[32], buf[1024];
	const char *p;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return PRDSHM_PROC_UNKNOWN;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return PRDSHM_PROC_UNKNOWN;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return PRDSHM_PROC_UNKNOWN;
	buf[n] = '\0';
	/* "pid (comm) S ...": the command name may hold ')' and spaces. */
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ' || p[2] == '\0')
		return PRDSHM_PROC_UNKNOWN;
	/* An exited process maps nothing any more. */
	if (p[2] == 'Z')
		return PRDSHM_PROC_ZOMBIE;
	if (p[2] == 'X' || p[2] == 'x')
		return PRDSHM_PROC_DEAD;
	/* Unsure is UNKNOWN: a process whose maps we may not read (another
	 * user's, or not dumpable) may be anyone. */
	if (st == NULL || maps_segment(pid, st) != 1 ||
	    (session_ns && started_after(p + 2, session_ns)))
		return PRDSHM_PROC_UNKNOWN;
	return p[2] == 'T' || p[2] == 't' ? PRDSHM_PROC_STOPPED : PRDSHM_PROC_RUNNING;
}

/* When the session in @p slot opened, from the snapshot's agents (0 if
 * not found). */
static uint64_t session_start(const prdshm_snapshot *snap, int32_t slot, int32_t pid)
{
	for (size_t i = 0; i < snap->nagents; i++)
		if (snap->agents[i].slot == slot && snap->agents[i].pid == pid)
			return snap->agents[i].start_ns;
	return 0;
}

/* Fill every record's proc_state, after the copy and without any mutex:
 * /proc is read once per session slot. */
static void snap_proc_states(struct prdshm_seg *seg, prdshm_snapshot *snap)
{
	struct stat st;
	int have_st = fstat(seg->fd, &st) == 0;
	uint32_t nslots = snap->seg.max_agents;
	/* Per slot: 0 not read yet, else the state + 1. */
	unsigned char *memo = calloc(nslots ? nslots : 1, 1);

	for (size_t l = 0; l < snap->nlocks; l++) {
		for (size_t i = 0; i < snap->locks[l].nrecords; i++) {
			prdshm_holder *h = &snap->locks[l].holders[i];
			uint32_t slot = (uint32_t)h->slot;

			if (!h->alive) {
				h->proc_state = PRDSHM_PROC_DEAD;
				continue;
			}
			if (memo && slot < nslots && memo[slot]) {
				h->proc_state = memo[slot] - 1;
				continue;
			}
			h->proc_state = proc_state(h->pid, session_start(snap, h->slot, h->pid),
						   have_st ? &st : NULL);
			if (memo && slot < nslots)
				memo[slot] = (unsigned char)(h->proc_state + 1);
		}
	}
	free(memo);
}

int prdshm__shm_snapshot_take(prdshm_seg *seg, unsigned flags, prdshm_snapshot **out)
{
	prdshm_snapshot *snap;
	int r;

	prdshm__call_begin();
	if (seg == NULL || out == NULL)
		return prdshm__fail(PRDSHM_EINVAL, "prdshm_snapshot_take: NULL argument");
	*out = NULL;
	/* The private part stays zero: every agent is on this host. */
	snap = calloc(1, sizeof(struct prdshm__snapshot));
	if (snap == NULL)
		return prdshm__fail(PRDSHM_ENOMEM, "out of memory");
	snap->locked = 1;
	snap->taken_ns = prdshm__now_real();
	prdshm__shm_seg_info(seg, &snap->seg);
	r = snap_agents(seg, flags, snap);
	if (r == 0)
		r = snap_locks(seg, flags, snap);
	if (r == 0)
		r = prdshm__phases_snapshot(seg, !(flags & PRDSHM_SNAP_NOLOCK), snap);
	if (r == 0)
		snap_proc_states(seg, snap);
	if (r) {
		prdshm_snapshot_free(snap);
		if (r == PRDSHM_ENOMEM)
			return prdshm__fail(r, "snapshot: out of memory");
		return r; /* the phase code said what is wrong */
	}
	*out = snap;
	/* A mutex not taken in time is no failure: the copy says so. */
	return prdshm__call_ok();
}

void prdshm_snapshot_free(prdshm_snapshot *snap)
{
	if (snap == NULL)
		return;
	for (size_t i = 0; i < snap->nlocks; i++)
		free(snap->locks[i].holders);
	free(snap->locks);
	free(snap->agents);
	prdshm__phases_snapshot_free(snap);
	free(((struct prdshm__snapshot *)snap)->hosts);
	free(snap);
}
