/*
 * trust.h: whether a segment's file may be trusted (lib/shm/trust.c).
 *
 * A process that can write the segment can make every other process that
 * maps it do anything the library does on its behalf, and make agents run
 * the phase commands it writes there.  So an opener attaches only to an
 * object that nobody but itself (or root, or one explicitly named sharing
 * group) can have written.  docs/reliability.md, "Threat model", says who
 * can do what.
 */
#ifndef PRDSHM_INTERNAL_TRUST_H
#define PRDSHM_INTERNAL_TRUST_H

#include <sys/stat.h>
#include <sys/types.h>

#include "prdshm.h"

/* Who may have made or written a segment this process attaches to. */
struct prdshm__trust {
	int shared;   /* 1: a sharing group is configured */
	gid_t gid;    /* that group */
	char group[PRDSHM_GROUP_MAX + 1];
};

/*
 * Fill @p t from the configured sharing group @p group (NULL or "" for
 * none).  The group is a name or a numeric gid.
 * @return 0; PRDSHM_ECONFIG (no such group on this system).
 */
int prdshm__trust_init(struct prdshm__trust *t, const char *group);

/*
 * Check the object behind an open shm descriptor, described by @p st, before
 * anything in it is read: a regular file, owned by the effective uid (or,
 * with a sharing group, by root), with no permission for other users, and
 * permissions for its group only when that is the sharing group.
 * @return 0; PRDSHM_EPERM with a message naming the owner and the mode.
 */
int prdshm__trust_check(const char *shm_name, const struct stat *st,
			const struct prdshm__trust *t);

/*
 * For a name about to be removed or replaced: the object (not followed if a
 * symbolic link) must be owned by the effective uid, or by root with a
 * sharing group.  Its mode does not matter: removing it trusts nothing in
 * it.  A name that does not exist passes.
 * @return 0; PRDSHM_EPERM; PRDSHM_ESYS.
 */
int prdshm__trust_check_owner(const char *shm_name, const struct prdshm__trust *t);

#endif
