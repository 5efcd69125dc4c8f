/*
 * trust.c: who may have made a segment this process attaches to.
 *
 * /dev/shm is writable by every user, and segment names are predictable, so
 * the name alone proves nothing: another user can create "/prdpar" first,
 * with a mode that lets anyone write it, and plant a plan whose commands the
 * next agent runs with its own privileges.  PostgreSQL and LMDB refuse data
 * files they do not own or that others may write; so does prdshm.  The rules
 * (docs/reliability.md, "Threat model"):
 *   - the object is a regular file (shm_open already refuses a symbolic
 *     link: glibc opens with O_NOFOLLOW);
 *   - it is owned by the effective uid, or, when a sharing group is
 *     configured, by root (a segment an administrator made for the group);
 *   - no other user may open it (reading is enough to hold its OFD locks,
 *     which would make every session slot look taken), and its group only
 *     when that is the configured sharing group.
 * The check runs on the open descriptor (fstat), so the object checked is
 * the object mapped.  Only its owner can change its mode or owner afterwards.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/trust.h"
#include "base/util.h"

/* Where glibc's shm_open() keeps its objects on Linux. */
#define SHM_DIR "/dev/shm"

int prdshm__trust_init(struct prdshm__trust *t, const char *group)
{
	struct group gr, *found = NULL;
	char buf[4096], *end;
	unsigned long n;

	memset(t, 0, sizeof(*t));
	if (group == NULL || group[0] == '\0')
		return 0;
	prdshm__strlcpy(t->group, group, sizeof(t->group));
	t->shared = 1;
	n = strtoul(group, &end, 10);
	if (*end == '\0' && end != group && n <= (gid_t)-2) {
		t->gid = (gid_t)n;
		return 0;
	}
	if (getgrnam_r(group, &gr, buf, sizeof(buf), &found) != 0 || found == NULL)
		return prdshm__fail(PRDSHM_ECONFIG, "shm_group: no group '%.32s' on this system",
				    group);
	t->gid = found->gr_gid;
	return 0;
}

/* "alice (uid 1000)", or "uid 1000" for a uid without a name. */
static void name_user(uid_t uid, char *out, size_t size)
{
	struct passwd pw, *found = NULL;
	char buf[4096];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found)
		snprintf(out, size, "%.32s (uid %u)", found->pw_name, (unsigned)uid);
	else
		snprintf(out, size, "uid %u", (unsigned)uid);
}

static void name_group(gid_t gid, char *out, size_t size)
{
	struct group gr, *found = NULL;
	char buf[4096];

	if (getgrgid_r(gid, &gr, buf, sizeof(buf), &found) == 0 && found)
		snprintf(out, size, "%.32s (gid %u)", found->gr_name, (unsigned)gid);
	else
		snprintf(out, size, "gid %u", (unsigned)gid);
}

static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	return "not a regular file";
}

static int check_owner(const char *shm_name, const struct stat *st,
		       const struct prdshm__trust *t)
{
	char owner[64], me[64];
	uid_t euid = geteuid();

	if (st->st_uid == euid || (t->shared && st->st_uid == 0))
		return 0;
	name_user(st->st_uid, owner, sizeof(owner));
	name_user(euid, me, sizeof(me));
	return prdshm__fail(PRDSHM_EPERM,
			    "%s is owned by %s, and this process runs as %s%s: a segment "
			    "another user made is never trusted (run as its owner, who can "
			    "also remove it)",
			    shm_name, owner, me, t->shared ? " (nor is it root's)" : "");
}

static int check_mode(const char *shm_name, const struct stat *st,
		      const struct prdshm__trust *t)
{
	unsigned mode = (unsigned)st->st_mode & 07777;
	char grp[64];

	/* Reading is enough to take OFD locks on the segment's descriptor,
	 * so a reader can make every session slot look alive and block
	 * recovery: other users get no access at all. */
	if (mode & S_IWOTH)
		return prdshm__fail(PRDSHM_EPERM,
				    "%s has mode 0%03o: any user may write it, so it is not "
				    "trusted (the owner can chmod o-rwx it)",
				    shm_name, mode);
	if (mode & S_IRWXO)
		return prdshm__fail(PRDSHM_EPERM,
				    "%s has mode 0%03o: any user may open it and hold its locks, so "
				    "it is not trusted (the owner can chmod o-rwx it)",
				    shm_name, mode);
	if (!(mode & S_IRWXG) || (t->shared && st->st_gid == t->gid))
		return 0;
	name_group(st->st_gid, grp, sizeof(grp));
	if (!t->shared)
		return prdshm__fail(PRDSHM_EPERM,
				    "%s has mode 0%03o: group %s may open it, and no shm_group "
				    "is configured to share it with",
				    shm_name, mode, grp);
	return prdshm__fail(PRDSHM_EPERM,
			    "%s has mode 0%03o: group %s may open it, not the configured "
			    "shm_group '%s'",
			    shm_name, mode, grp, t->group);
}

int prdshm__trust_check(const char *shm_name, const struct stat *st,
			const struct prdshm__trust *t)
{
	int r;

	if (!S_ISREG(st->st_mode))
		return prdshm__fail(PRDSHM_EPERM, "%s is %s, not a segment: refusing it", shm_name,
				    file_kind(st->st_mode));
	r = check_owner(shm_name, st, t);
	if (r == 0)
		r = check_mode(shm_name, st, t);
	return r;
}

int prdshm__trust_check_owner(const char *shm_name, const struct prdshm__trust *t)
{
	char path[sizeof(SHM_DIR) + PRDSHM_SHM_NAME_MAX + 1];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", SHM_DIR, shm_name);
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : prdshm__fail_errno(PRDSHM_ESYS, "lstat %s", path);
	return check_owner(shm_name, &st, t);
}
