/*
 * backend.h: the settings that choose and reach a backend (backend:, the
 * zookeeper: block of prdpar.yaml), for the layers that act on them
 * (lib/api, lib/zk).  prdshm_config has no public field for them: its
 * reserved space could not hold a list of hosts, and the public struct
 * stays as it was; callers read them with prdshm_config_get()
 * ("backend", "zookeeper.hosts", "zookeeper.root",
 * "zookeeper.session_timeout_ms", "zookeeper.auth_file").
 */
#ifndef PRDSHM_INTERNAL_CONFIG_BACKEND_H
#define PRDSHM_INTERNAL_CONFIG_BACKEND_H

#include "prdshm.h"

enum prdshm__backend_kind {
	PRDSHM__BACKEND_SHM = 0,
	PRDSHM__BACKEND_ZOOKEEPER = 1,
};

#define PRDSHM__ZK_HOSTS_MAX 1023 /* "host:port,host:port,...", bytes */
#define PRDSHM__ZK_ROOT_MAX 255   /* "/prdshm", bytes */
#define PRDSHM__ZK_AUTH_FILE_MAX 1023 /* a path, bytes */

struct prdshm__backend_cfg {
	int backend;               /* [shm] enum prdshm__backend_kind */
	int zk_session_timeout_ms; /* [10000] */
	char zk_hosts[PRDSHM__ZK_HOSTS_MAX + 1]; /* ["127.0.0.1:2181"] */
	char zk_root[PRDSHM__ZK_ROOT_MAX + 1];   /* ["/prdshm"] */
	/* [""] the file of "user:password" for ZooKeeper's digest scheme;
	 * "": no credentials, the segment's znodes are open to anyone
	 * (docs/zookeeper.md, "Security"). */
	char zk_auth_file[PRDSHM__ZK_AUTH_FILE_MAX + 1];
};

/* @p cfg's backend settings; the defaults for NULL or a configuration
 * that never set one.  Valid while @p cfg is unchanged. */
const struct prdshm__backend_cfg *prdshm__config_backend(const prdshm_config *cfg);

#endif
