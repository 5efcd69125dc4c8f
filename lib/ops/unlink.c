/*
 * unlink.c: removing a segment's name only while no live session uses it
 * (prdshm_seg_unlink_unused()): the check and the removal happen under the
 * session mutex, which every session registers under.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "ops/ops.h"
#include "session/session.h"
#include "shm/robust.h"

/* Describe the live sessions in @p buf ("id (pid N), ...", cut to @p size).
 * Call holding sess_mutex.  @return their number. */
static size_t live_sessions(struct prdshm_seg *seg, char *buf, size_t size)
{
	size_t n = 0, o = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < prdshm__sessions(seg)->max_agents; i++) {
		char id[PRDSHM_ID_MAX + 1];
		int w;

		if (prdshm__sessions(seg)->agents[i].state != PRDSHM__SLOT_ACTIVE ||
		    !prdshm__session_slot_held(seg->fd, i))
			continue;
		prdshm__agent_id(seg, i, id);
		if (o < size) {
			w = snprintf(buf + o, size - o, "%s%s (pid %d)", n ? ", " : "", id,
				     (int)prdshm__sessions(seg)->agents[i].pid);
			o += w > 0 ? (size_t)w : 0;
		}
		n++;
	}
	return n;
}

/* 1 if seg->name still names the object @p seg maps. */
static int still_named(struct prdshm_seg *seg)
{
	struct stat mine, named;
	/* O_NONBLOCK: whatever took the name may be a FIFO, whose open
	 * would wait for a writer (with the session mutex held). */
	int fd = shm_open(seg->name, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
	int same;

	if (fd < 0)
		return 0;
	same = fstat(fd, &named) == 0 && fstat(seg->fd, &mine) == 0 &&
	       named.st_dev == mine.st_dev && named.st_ino == mine.st_ino;
	close(fd);
	return same;
}

#define REPLACED 1 /* the name was removed or replaced meanwhile: try again */

/* One attempt of prdshm_seg_unlink_unused(): the check and the removal
 * happen under sess_mutex, which every session registers under. */
static int unlink_if_unused(const char *shm_name, const prdshm_config *cfg)
{
	struct prdshm_seg *seg = NULL;
	char live[512];
	size_t n;
	int r = prdshm__shm_seg_open(shm_name, cfg, &seg);

	if (r)
		return r;
	r = prdshm__sess_lock(seg, -1);
	if (r)
		goto out;
	n = live_sessions(seg, live, sizeof(live));
	if (n > 0)
		r = prdshm__fail(PRDSHM_EINUSE, "%zu live agent%s use%s %s: %s", n,
				 n == 1 ? "" : "s", n == 1 ? "s" : "", shm_name, live);
	else if (!still_named(seg))
		r = REPLACED;
	else if (shm_unlink(shm_name) != 0)
		r = prdshm__fail_errno(PRDSHM_ESYS, "unlink %s", shm_name);
	prdshm__sess_unlock(seg);
out:
	prdshm__seg_close(seg);
	return r;
}

int prdshm__shm_seg_unlink_unused(const char *shm_name, const prdshm_config *cfg)
{
	uint64_t outer = prdshm__wait_bound_begin(PRDSHM_RECOVER_WAIT_MS);
	int r = REPLACED;

	for (int round = 0; round < 3 && r == REPLACED; round++)
		r = unlink_if_unused(shm_name, cfg);
	prdshm__wait_bound_end(outer);
	if (r == REPLACED)
		r = prdshm__fail(PRDSHM_EBUSY, "%s was replaced again and again while checking it",
				 shm_name);
	return r;
}
