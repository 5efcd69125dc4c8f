/*
 * snapshot.h: the library's private part of a prdshm_snapshot.  Every
 * backend's snapshot_take allocates this struct, whose first member is
 * what the caller sees, and prdshm_snapshot_free() frees it: so a fact
 * the public struct has no room for (the struct has no struct_size, see
 * "ABI" in prdshm.h) is kept here and read through a function.
 */
#ifndef PRDSHM_INTERNAL_BASE_SNAPSHOT_H
#define PRDSHM_INTERNAL_BASE_SNAPSHOT_H

#include "prdshm.h"

/* The longest host name a snapshot keeps (POSIX HOST_NAME_MAX). */
#define PRDSHM__HOST_MAX 255

struct prdshm__snapshot {
	prdshm_snapshot pub; /* first: the pointer the caller holds */
	/* Each agent's host, in the order of pub.agents; NULL: every agent
	 * runs on this host (shared memory). */
	char (*hosts)[PRDSHM__HOST_MAX + 1];
};
#endif
