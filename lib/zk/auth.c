/*
 * auth.c: who may use a segment on ZooKeeper (docs/zookeeper.md,
 * "Security").
 *
 * On shm the kernel says who made a segment and who may write it, and a
 * segment another user made is never trusted (lib/shm/trust.c).  On
 * ZooKeeper the znodes' ACLs say it.  With zookeeper.auth_file, the
 * session authenticates with the digest scheme and every znode the backend
 * creates gets ZOO_CREATOR_ALL_ACL: all rights to that identity, nothing to
 * anyone else; a segment whose base znode lets the world change it is then
 * refused, as someone could have planted its phases.  Without the file the
 * znodes are open to anyone who reaches the ensemble, as before.
 */
#ifdef PRDSHM_HAVE_ZOOKEEPER
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/futex.h"
#include "base/util.h"
#include "zk/zk.h"

/* The ancestors of the root this backend creates, with credentials: anyone
 * may read them and create a segment under them (a root shared by teams
 * with their own credentials), only we may delete or change them; a
 * segment's own znodes keep everyone else out (ZOO_CREATOR_ALL_ACL). */
static struct ACL root_acl_entries[2];
static struct ACL_vector root_acl_creds = { 2, root_acl_entries };
static pthread_once_t root_acl_once = PTHREAD_ONCE_INIT;

static void root_acl_init(void)
{
	root_acl_entries[0].perms = ZOO_PERM_READ | ZOO_PERM_CREATE;
	root_acl_entries[0].id = ZOO_ANYONE_ID_UNSAFE;
	root_acl_entries[1].perms = ZOO_PERM_ALL;
	root_acl_entries[1].id = ZOO_AUTH_IDS;
}

/* Why the open file @p fd, the credentials file, is not to be trusted, or
 * NULL; like ssh with a private key, a file others may read or that
 * another user owns (and so may rewrite) is refused. */
static const char *file_problem(int fd, char *why, size_t size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return strerror(errno);
	if (!S_ISREG(st.st_mode))
		return "is not a regular file";
	if (st.st_uid != getuid()) {
		snprintf(why, size, "is owned by uid %lu, not by you (uid %lu)",
			 (unsigned long)st.st_uid, (unsigned long)getuid());
		return why;
	}
	if (st.st_mode & 077) {
		snprintf(why, size,
			 "is open to group or others (mode %04o): only its owner may read it "
			 "(chmod 600)",
			 (unsigned)(st.st_mode & 07777));
		return why;
	}
	return NULL;
}

/* "user:password" on the file's first line, without its line end. */
static int parse_cred(const char *path, char *cred, ssize_t n)
{
	cred[n] = '\0';
	cred[strcspn(cred, "\r\n")] = '\0';
	if (cred[0] == '\0')
		return prdshm__fail(PRDSHM_ECONFIG, "zookeeper.auth_file %s is empty", path);
	if (!strchr(cred, ':') || cred[0] == ':')
		return prdshm__fail(PRDSHM_ECONFIG,
				    "zookeeper.auth_file %s: expected one line 'user:password'",
				    path);
	return 0;
}

/* The file's "user:password" into @p cred; "" when no file is configured. */
static int auth_read(const struct prdshm__backend_cfg *be, char *cred, size_t size)
{
	const char *path = be->zk_auth_file, *problem;
	char why[128];
	ssize_t n;
	int fd, err;

	cred[0] = '\0';
	if (path[0] == '\0')
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ELOOP)
		return prdshm__fail(PRDSHM_EPERM, "zookeeper.auth_file %s is a symbolic link",
				    path);
	if (fd < 0)
		return prdshm__fail(errno == ENOENT ? PRDSHM_ECONFIG : PRDSHM_EACCES,
				    "zookeeper.auth_file %s: %s", path, strerror(errno));
	problem = file_problem(fd, why, sizeof(why));
	if (problem) {
		close(fd);
		return prdshm__fail(PRDSHM_EPERM, "zookeeper.auth_file %s %s", path, problem);
	}
	n = read(fd, cred, size - 1);
	close(fd);
	if (n < 0)
		return prdshm__fail(PRDSHM_ESYS, "zookeeper.auth_file %s: %s", path,
				    strerror(errno));
	err = parse_cred(path, cred, n);
	if (err)
		explicit_bzero(cred, size);
	return err;
}

/* zoo_add_auth()'s completion, in the client's thread: wakes the waiter as
 * the watcher does (conn.c). */
static void auth_done(int rc, const void *data)
{
	struct prdshm__zk_seg *zs = (struct prdshm__zk_seg *)(uintptr_t)data;

	pthread_mutex_lock(&zs->mu);
	zs->auth_rc = rc;
	zs->auth_done = 1;
	zs->events++;
	prdshm__doorbell_ring(&zs->bell);
	pthread_mutex_unlock(&zs->mu);
	prdshm__futex_wake_all(&zs->bell);
}

/* Wait, at most the session timeout, for the server's answer. */
static int await_auth(struct prdshm__zk_seg *zs, const char *path)
{
	uint64_t deadline = prdshm__zk_retry_until(zs), seen;
	int rc;

	for (;;) {
		pthread_mutex_lock(&zs->mu);
		seen = zs->events;
		rc = zs->auth_done ? zs->auth_rc : ZOK;
		if (zs->auth_done) {
			pthread_mutex_unlock(&zs->mu);
			break;
		}
		pthread_mutex_unlock(&zs->mu);
		if (prdshm__zk_wait_event(zs, seen, deadline) == PRDSHM_ETIMEDOUT)
			return prdshm__fail(PRDSHM_EUNREACHABLE,
					    "ZooKeeper did not answer the authentication with "
					    "zookeeper.auth_file %s within the session timeout",
					    path);
	}
	if (rc != ZOK)
		return prdshm__fail(PRDSHM_EACCES,
				    "ZooKeeper refused the credentials of zookeeper.auth_file %s "
				    "(%s)",
				    path, zerror(rc));
	return 0;
}

/* Add @p cred ("": none) to the connected session, and choose the ACLs. */
static int auth_add(struct prdshm__zk_seg *zs, const struct prdshm__backend_cfg *be,
		    const char *cred)
{
	int rc;

	zs->acl = &ZOO_OPEN_ACL_UNSAFE;
	zs->root_acl = &ZOO_OPEN_ACL_UNSAFE;
	if (cred[0] == '\0')
		return 0;
	rc = zoo_add_auth(zs->zh, "digest", cred, (int)strlen(cred), auth_done, zs);
	if (rc != ZOK)
		return prdshm__fail(PRDSHM_ESYS, "zoo_add_auth(zookeeper.auth_file %s): %s",
				    be->zk_auth_file, zerror(rc));
	rc = await_auth(zs, be->zk_auth_file);
	if (rc)
		return rc;
	pthread_once(&root_acl_once, root_acl_init);
	zs->acl = &ZOO_CREATOR_ALL_ACL;
	zs->root_acl = &root_acl_creds;
	zs->authed = 1;
	return 0;
}

int prdshm__zk_connect_auth(const prdshm_config *cfg, const char *shm_name,
			    struct prdshm__zk_seg **out)
{
	const struct prdshm__backend_cfg *be = prdshm__config_backend(cfg);
	char cred[1024];
	int err;

	*out = NULL;
	/* A bad credentials file is refused before any connection. */
	err = auth_read(be, cred, sizeof(cred));
	if (!err)
		err = prdshm__zk_connect(cfg, shm_name, out);
	if (!err)
		err = auth_add(*out, be, cred);
	if (err && *out) {
		prdshm__zk_disconnect(*out);
		*out = NULL;
	}
	explicit_bzero(cred, sizeof(cred));
	return err;
}

/* "cdrwa" for the permissions @p perms grants, as zkCli prints them (the
 * client's ZOO_PERM_* are variables: no table of them). */
static void perms_text(int32_t perms, char *buf)
{
	size_t n = 0;

	if (perms & ZOO_PERM_CREATE)
		buf[n++] = 'c';
	if (perms & ZOO_PERM_DELETE)
		buf[n++] = 'd';
	if (perms & ZOO_PERM_READ)
		buf[n++] = 'r';
	if (perms & ZOO_PERM_WRITE)
		buf[n++] = 'w';
	if (perms & ZOO_PERM_ADMIN)
		buf[n++] = 'a';
	buf[n] = '\0';
}

/* "scheme:id:perms,..." of @p acl, cut to @p size. */
static void acl_text(const struct ACL_vector *acl, char *buf, size_t size)
{
	size_t n = 0;
	char perms[8];

	buf[0] = '\0';
	for (int i = 0; i < acl->count && n < size; i++) {
		perms_text(acl->data[i].perms, perms);
		n += (size_t)snprintf(buf + n, size - n, "%s%s:%s:%s", i ? "," : "",
				      acl->data[i].id.scheme, acl->data[i].id.id, perms);
	}
}

/*
 * A segment anyone could have made or may change is not ours to trust:
 * whoever reaches the ensemble could have written the plan whose commands
 * our agents run, or could delete a holder's request and take its lock.
 * Ours has exactly the ACL ZOO_CREATOR_ALL_ACL gives: one digest entry,
 * every right.  That entry is our identity, since we could read the znode
 * (an identity's digest cannot be forged without its password), so nobody
 * else may create, change or delete anything in the tree: checking the
 * base znode is enough.  Any other entry (world:anyone read, an ip range, a
 * second identity) is refused, whatever its rights: someone made the
 * segment so that others can reach it.
 */
int prdshm__zk_trust(struct prdshm__zk_seg *zs)
{
	struct ACL_vector acl = { 0, NULL };
	struct Stat st;
	char text[256];
	int rc, ours;

	if (!zs->authed)
		return 0;
	rc = zoo_get_acl(zs->zh, zs->base, &acl, &st);
	if (rc != ZOK)
		return rc == ZNOAUTH ? prdshm__zk_denied(zs)
				     : prdshm__zk_err(zs, rc, "read the ACL of", zs->base);
	ours = acl.count == 1 && strcmp(acl.data[0].id.scheme, "digest") == 0 &&
	       acl.data[0].perms == ZOO_PERM_ALL;
	acl_text(&acl, text, sizeof(text));
	deallocate_ACL_vector(&acl);
	if (!ours)
		return prdshm__fail(PRDSHM_EPERM,
				    "segment %s on ZooKeeper is not protected: its znode %s has the "
				    "ACL %s, not only our identity's; someone could plant phases or "
				    "take locks (docs/zookeeper.md, \"Security\")",
				    zs->shm_name, zs->base, text);
	return 0;
}

/* The server said ZNOAUTH reading the base znode: its ACL grants our
 * identity (or none) nothing, as a shm segment's mode may deny us. */
int prdshm__zk_denied(struct prdshm__zk_seg *zs)
{
	return prdshm__fail(PRDSHM_EACCES,
			    "segment %s on ZooKeeper: znode %s's ACL does not let %s read it "
			    "(another identity made it; zookeeper.auth_file)",
			    zs->shm_name, zs->base,
			    zs->authed ? "these credentials" : "a client without credentials");
}
#endif
