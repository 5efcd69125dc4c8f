/*
 * test_trust.c: who may have made a segment this process attaches to
 * (lib/shm/trust.c; docs/reliability.md, "Threat model"), its permissions at
 * creation, and the size check an opener makes before reading past the
 * header.
 */
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lock/region.h"
#include "session/region.h"
#include "shm/segment.h"
#include "testutil.h"

#define NOBODY 65534

static char path_buf[300];

static const char *shm_path(const char *shm_name)
{
	snprintf(path_buf, sizeof(path_buf), "/dev/shm%s", shm_name);
	return path_buf;
}

static prdshm_seg *create(prdshm_config *cfg)
{
	prdshm_seg *seg = NULL;

	tu_config(cfg);
	seg = tu_seg_create(cfg);
	return seg;
}

static void destroy(prdshm_seg *seg, prdshm_config *cfg)
{
	prdshm_seg_close(seg);
	unlink(shm_path(cfg->shm_name));
	prdshm_config_free(cfg);
}

/* Open must fail with @p err and a message holding @p text. */
static void expect_open_fails(const char *shm_name, int err, const char *text)
{
	prdshm_seg *seg = NULL;

	CU_ASSERT_EQUAL(prdshm_seg_open(shm_name, &seg), err);
	CU_ASSERT_PTR_NULL(seg);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), text));
	if (!strstr(prdshm_last_error(), text))
		printf("\n  got '%s', want '%s'\n", prdshm_last_error(), text);
	prdshm_seg_close(seg);
}

static int root_only(const char *what)
{
	if (geteuid() == 0)
		return 1;
	printf("  (skipped: %s needs root to give an object away; CI runs as root)\n", what);
	return 0;
}

/* The default, whatever the umask: only the owner may read or write. */
static void test_created_0600_by_default(void)
{
	const mode_t masks[] = { 0, 0022, 0077 };

	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		prdshm_config cfg;
		mode_t old = umask(masks[i]);
		prdshm_seg *seg = create(&cfg);
		struct stat st;

		umask(old);
		CU_ASSERT_EQUAL(stat(shm_path(cfg.shm_name), &st), 0);
		CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
		CU_ASSERT_EQUAL(st.st_uid, geteuid());
		destroy(seg, &cfg);
	}
}

/* Any user may write it: refused even for its owner, and by open-or-create
 * too, which must not replace it either. */
static void test_writable_by_others_refused(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg), *other = NULL;
	int created = 1;

	CU_ASSERT_EQUAL(chmod(shm_path(cfg.shm_name), 0666), 0);
	expect_open_fails(cfg.shm_name, PRDSHM_EPERM, "has mode 0666: any user may write it");
	CU_ASSERT_EQUAL(prdshm_seg_open_or_create(&cfg, &other, &created), PRDSHM_EPERM);
	CU_ASSERT_EQUAL(created, 0);
	CU_ASSERT_PTR_NULL(other);
	CU_ASSERT_EQUAL(chmod(shm_path(cfg.shm_name), 0602), 0);
	expect_open_fails(cfg.shm_name, PRDSHM_EPERM, "any user may write it");
	/* Readable is enough to hold the segment's OFD locks (every session
	 * slot would look taken): refused too, for others and for a group
	 * that is not the sharing group. */
	CU_ASSERT_EQUAL(chmod(shm_path(cfg.shm_name), 0604), 0);
	expect_open_fails(cfg.shm_name, PRDSHM_EPERM, "any user may open it");
	CU_ASSERT_EQUAL(chmod(shm_path(cfg.shm_name), 0640), 0);
	expect_open_fails(cfg.shm_name, PRDSHM_EPERM, "no shm_group is configured");
	CU_ASSERT_EQUAL(chmod(shm_path(cfg.shm_name), 0600), 0);
	CU_ASSERT_EQUAL(prdshm_seg_open(cfg.shm_name, &other), 0);
	prdshm_seg_close(other);
	destroy(seg, &cfg);
}

/* Writable by its group: only when the configuration names that group. */
static void test_group_writable_needs_shm_group(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg), *other = NULL;
	struct group *gr;
	struct stat st;

	CU_ASSERT_EQUAL(chmod(shm_path(cfg.shm_name), 0660), 0);
	CU_ASSERT_EQUAL_FATAL(stat(shm_path(cfg.shm_name), &st), 0);
	expect_open_fails(cfg.shm_name, PRDSHM_EPERM, "no shm_group is configured");
	CU_ASSERT_EQUAL(prdshm_seg_open_cfg(&cfg, &other), PRDSHM_EPERM);
	/* Named by number, then by name. */
	snprintf(cfg.shm_group, sizeof(cfg.shm_group), "%u", (unsigned)st.st_gid);
	CU_ASSERT_EQUAL(prdshm_seg_open_cfg(&cfg, &other), 0);
	prdshm_seg_close(other);
	other = NULL;
	gr = getgrgid(st.st_gid);
	if (gr) {
		snprintf(cfg.shm_group, sizeof(cfg.shm_group), "%s", gr->gr_name);
		CU_ASSERT_EQUAL(prdshm_seg_open_cfg(&cfg, &other), 0);
		prdshm_seg_close(other);
		other = NULL;
	}
	/* Another group: refused, the configured one named. */
	snprintf(cfg.shm_group, sizeof(cfg.shm_group), "%u", (unsigned)st.st_gid + 1);
	CU_ASSERT_EQUAL(prdshm_seg_open_cfg(&cfg, &other), PRDSHM_EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(prdshm_last_error(), "not the configured shm_group"));
	/* A group never makes a segment writable by others acceptable. */
	snprintf(cfg.shm_group, sizeof(cfg.shm_group), "%u", (unsigned)st.st_gid);
	CU_ASSERT_EQUAL(chmod(shm_path(cfg.shm_name), 0666), 0);
	CU_ASSERT_EQUAL(prdshm_seg_open_cfg(&cfg, &other), PRDSHM_EPERM);
	CU_ASSERT_PTR_NULL(other);
	cfg.shm_group[0] = '\0';
	destroy(seg, &cfg);
}

/* With shm_group, create gives the segment to the group. */
static void test_create_with_shm_group(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL, *other = NULL;
	struct stat st;

	tu_config(&cfg);
	cfg.shm_mode = 0660;
	snprintf(cfg.shm_group, sizeof(cfg.shm_group), "%u",
		 geteuid() == 0 ? (unsigned)NOBODY : (unsigned)getegid());
	seg = tu_seg_create(&cfg);
	CU_ASSERT_EQUAL(stat(shm_path(cfg.shm_name), &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0660);
	CU_ASSERT_EQUAL(st.st_gid, (gid_t)atoi(cfg.shm_group));
	CU_ASSERT_EQUAL(prdshm_seg_open_cfg(&cfg, &other), 0);
	prdshm_seg_close(other);
	destroy(seg, &cfg);
}

/* Another user's segment: refused by every open path, and never removed. */
static void test_other_owner_refused(void)
{
	prdshm_config cfg;
	prdshm_seg *seg, *other = NULL;
	struct stat st;

	if (!root_only("another user's segment"))
		return;
	seg = create(&cfg);
	CU_ASSERT_EQUAL(chown(shm_path(cfg.shm_name), NOBODY, NOBODY), 0);
	expect_open_fails(cfg.shm_name, PRDSHM_EPERM, "is owned by nobody (uid 65534)");
	CU_ASSERT_EQUAL(prdshm_seg_open_or_create(&cfg, &other, NULL), PRDSHM_EPERM);
	CU_ASSERT_EQUAL(prdshm_seg_unlink(cfg.shm_name), PRDSHM_EPERM);
	CU_ASSERT_EQUAL(prdshm_seg_unlink_unused(cfg.shm_name), PRDSHM_EPERM);
	CU_ASSERT_EQUAL(stat(shm_path(cfg.shm_name), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, NOBODY);
	/* A sharing group trusts root's segments, not another user's. */
	snprintf(cfg.shm_group, sizeof(cfg.shm_group), "%u", (unsigned)NOBODY);
	CU_ASSERT_EQUAL(chmod(shm_path(cfg.shm_name), 0660), 0);
	CU_ASSERT_EQUAL(prdshm_seg_open_cfg(&cfg, &other), PRDSHM_EPERM);
	CU_ASSERT_PTR_NULL(other);
	destroy(seg, &cfg);
}

/* As nobody/nogroup without supplementary groups, open @p arg: exits 0 on
 * EACCES, 3 on EPERM, 1 on success. */
static int open_as_nobody(void *arg)
{
	const prdshm_config *cfg = arg;
	prdshm_seg *seg = NULL;
	gid_t none[1] = { NOBODY };
	int r;

	if (setgroups(0, none) != 0 || setresgid(NOBODY, NOBODY, NOBODY) != 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) != 0)
		return 10;
	r = prdshm_seg_open_cfg(cfg, &seg);
	prdshm_seg_close(seg);
	return r == PRDSHM_EACCES ? 0 : r == PRDSHM_EPERM ? 3 : r == 0 ? 1 : 2;
}

/*
 * Seen from another user: the kernel denies a 0600 segment (EACCES); a
 * segment any user may write is refused by the library (EPERM) though the
 * kernel lets it in; root's segment shared with the user's group opens when
 * the group is configured, and only then.
 */
static void test_other_user_view(void)
{
	prdshm_config cfg, as_member;
	prdshm_seg *seg;

	if (!root_only("becoming another user"))
		return;
	if (getenv("TU_WRAPPED") && *getenv("TU_WRAPPED")) {
		printf("  (skipped under a checker: valgrind cannot follow a child that "
		       "changes user; plain make check runs it)\n");
		return;
	}
	seg = create(&cfg);
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(open_as_nobody, &cfg), 10000), 0);
	CU_ASSERT_EQUAL(chmod(shm_path(cfg.shm_name), 0666), 0);
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(open_as_nobody, &cfg), 10000), 3);
	CU_ASSERT_EQUAL(chown(shm_path(cfg.shm_name), 0, NOBODY), 0);
	CU_ASSERT_EQUAL(chmod(shm_path(cfg.shm_name), 0660), 0);
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(open_as_nobody, &cfg), 10000), 3);
	as_member = cfg;
	snprintf(as_member.shm_group, sizeof(as_member.shm_group), "%u", (unsigned)NOBODY);
	CU_ASSERT_EQUAL(tu_wait_child(tu_fork(open_as_nobody, &as_member), 10000), 1);
	destroy(seg, &cfg);
}

/* Not a regular file: refused before anything is read from it. */
static void test_not_a_regular_file(void)
{
	const char *name = tu_shm_name();
	char target[300];

	CU_ASSERT_EQUAL_FATAL(mkfifo(shm_path(name), 0600), 0);
	expect_open_fails(name, PRDSHM_EPERM, "is a FIFO, not a segment");
	unlink(shm_path(name));
	snprintf(target, sizeof(target), "/dev/shm%s", tu_shm_name());
	CU_ASSERT_EQUAL_FATAL(symlink(target, shm_path(name)), 0);
	expect_open_fails(name, PRDSHM_EPERM, "is a symbolic link");
	unlink(shm_path(name));
}

/* The file's size must be the header's, checked before the body is read:
 * a segment grown or shrunk behind the library's back is corrupt. */
static void test_size_must_match_header(void)
{
	prdshm_config cfg;
	prdshm_seg *seg = create(&cfg);
	prdshm_seg_info info = PRDSHM_SEG_INFO_INIT;
	int fd = shm_open(cfg.shm_name, O_RDWR, 0);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(prdshm_seg_info_get(seg, &info), 0);
	CU_ASSERT_EQUAL(ftruncate(fd, (off_t)info.size + 4096), 0);
	expect_open_fails(cfg.shm_name, PRDSHM_ECORRUPT, "geometry does not match");
	CU_ASSERT_EQUAL(ftruncate(fd, (off_t)info.size - 4096), 0);
	expect_open_fails(cfg.shm_name, PRDSHM_ECORRUPT, "geometry does not match");
	close(fd);
	destroy(seg, &cfg);
}

const tu_test tu_tests[] = {
	TU(test_created_0600_by_default),
	TU(test_writable_by_others_refused),
	TU(test_group_writable_needs_shm_group),
	TU(test_create_with_shm_group),
	TU(test_other_owner_refused),
	TU(test_other_user_view),
	TU(test_not_a_regular_file),
	TU(test_size_must_match_header),
	{ NULL, NULL },
};
const char *tu_suite = "trust";
