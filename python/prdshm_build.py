"""cffi builder of prdshm._prdshm: API mode, compiled against lib/prdshm.h.

Only the public header is used (never the internal headers under lib/).  The declarations
below name the fields the binding reads; every struct ends in "...;" so
that the C compiler, not this file, decides the layout: a field added to a
struct (a size field, say) changes nothing here.

Where the library comes from:
  PRDSHM_INCLUDE  directory holding prdshm.h   (default: ../lib, then the system)
  PRDSHM_STATIC   path of libprdshm.a: linked in, so the module needs no
                  libprdshm.so at run time (default: ../build/libprdshm.a
                  if it exists)
  otherwise the module links with -lprdshm (an installed library).
"""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)

CDEF = r"""
const char *prdshm_version(void);
const char *prdshm_strerror(int err);
const char *prdshm_err_name(int err);
const char *prdshm_last_error(void);
const char *prdshm_phase_status_name(int status);
const char *prdshm_agent_status_name(int status);

typedef enum prdshm_mode { PRDSHM_SHARED = 1, PRDSHM_EXCLUSIVE = 2 } prdshm_mode;
typedef int prdshm_phase_status;
typedef int prdshm_origin;
#define PRDSHM_TRY ...
#define PRDSHM_WAIT_DEFAULT ...
#define PRDSHM_WAIT_FOREVER ...
#define PRDSHM_SNAP_NOLOCK ...
#define PRDSHM_CHECK_ERROR ...

typedef struct prdshm_diag { uint32_t struct_size; char file[...]; int line; int column; char msg[...]; ...; } prdshm_diag;
typedef struct prdshm_config { char shm_name[...]; int lock_timeout_seconds; ...; } prdshm_config;
void prdshm_config_init(prdshm_config *cfg);
void prdshm_config_free(prdshm_config *cfg);
int prdshm_config_load(prdshm_config *cfg, const char *path, prdshm_diag *diag);
int prdshm_config_apply_env(prdshm_config *cfg, prdshm_diag *diag);
int prdshm_config_set(prdshm_config *cfg, const char *key, const char *value,
		      prdshm_origin origin, prdshm_diag *diag);
int prdshm_config_validate(const prdshm_config *cfg, prdshm_diag *diag);

typedef struct prdshm_seg prdshm_seg;
typedef struct prdshm_session prdshm_session;
int prdshm_seg_create(const prdshm_config *cfg, prdshm_seg **out);
int prdshm_seg_open(const char *shm_name, prdshm_seg **out);
int prdshm_seg_open_cfg(const prdshm_config *cfg, prdshm_seg **out);
int prdshm_config_get(const prdshm_config *cfg, const char *key, char *buf, size_t size);
void prdshm_seg_close(prdshm_seg *seg);
int prdshm_seg_unlink(const char *shm_name);
int prdshm_seg_unlink_unused(const char *shm_name);
int prdshm_seg_unlink_unused_cfg(const prdshm_config *cfg);

int prdshm_session_open(prdshm_seg *seg, const char *agent_id, unsigned flags,
			prdshm_session **out);
int prdshm_session_open_timed(prdshm_seg *seg, const char *agent_id, unsigned flags,
			      int64_t timeout_ms, prdshm_session **out);
void prdshm_session_close(prdshm_session *s);
void prdshm_session_abandon(prdshm_session *s);
#define PRDSHM_PARENT_ENV_MAX ...
int prdshm_session_env(const prdshm_session *s, char *buf, size_t size);

int prdshm_lock(prdshm_session *s, const char *resource, prdshm_mode mode,
		int64_t timeout_ms, const char *phase_id);
int prdshm_unlock(prdshm_session *s, const char *resource);
int prdshm_unlock_all(prdshm_session *s, size_t *freed);
int prdshm_lock_many(prdshm_session *s, const char *const *resources, size_t n,
		     prdshm_mode mode, int64_t timeout_ms, const char *phase_id,
		     size_t *failed);
int prdshm_upgrade(prdshm_session *s, const char *resource, int64_t timeout_ms);
int prdshm_downgrade(prdshm_session *s, const char *resource);

typedef struct prdshm_holder {
	uint32_t struct_size;
	char agent_id[...];
	char phase_id[...];
	int32_t pid;
	int32_t slot;
	prdshm_mode mode;
	int waiting;
	int alive;
	uint64_t since_ns;
	int32_t proc_state;
	int32_t released;
	...;
} prdshm_holder;
int prdshm_lock_query(prdshm_seg *seg, const char *resource, prdshm_mode mode,
		      prdshm_holder *out, size_t cap, size_t *n);
#define PRDSHM_WAIT_BUCKETS ...
typedef struct prdshm_lock_metrics {
	uint32_t struct_size;
	char resource[...];
	uint32_t resource_len;
	uint64_t acquisitions;
	uint64_t contended;
	uint64_t timeouts;
	uint64_t deadlocks;
	uint64_t wait_ns;
	uint64_t wait_max_ns;
	uint64_t wait_buckets[...];
	...;
} prdshm_lock_metrics;
int prdshm_lock_metrics_get(prdshm_seg *seg, unsigned flags, prdshm_lock_metrics *total,
			    prdshm_lock_metrics *out, size_t cap, size_t *n);
int prdshm_reap(prdshm_seg *seg, int requeue,
		void (*report)(void *ctx, const char *line), void *ctx, size_t *nreaped);

typedef struct prdshm_claim { uint32_t struct_size; int32_t index; char id[...]; uint32_t attempt; ...; } prdshm_claim;
int prdshm_phase_claim(prdshm_session *s, prdshm_claim *out);
int prdshm_phase_claim_timed(prdshm_session *s, int64_t timeout_ms, prdshm_claim *out);
int prdshm_phase_wait(prdshm_session *s, int64_t timeout_ms);
int prdshm_phase_complete(prdshm_session *s, int32_t index);
int prdshm_phase_fail(prdshm_session *s, int32_t index, int exit_status, const char *message);
int prdshm_phase_set(prdshm_seg *seg, prdshm_session *s, const char *id, prdshm_phase_status to);
int prdshm_agent_heartbeat(prdshm_session *s);
int prdshm_agent_log(prdshm_session *s, const char *line);

typedef struct prdshm_seg_info {
	uint32_t struct_size;
	char shm_name[...];
	uint64_t size;
	uint32_t format;
	uint32_t layout_hash;
	uint64_t created_ns;
	uint32_t max_locks, max_phases, max_agents, nparts;
	uint32_t needs_recovery;
	int max_parallel_agents, lock_timeout_seconds, wave_delay_seconds,
		conflict_retry_attempts, monitoring_update_interval, phase_max_attempts,
		deadlock_timeout_ms;
	int scheduling;
	...;
} prdshm_seg_info;
int prdshm_seg_info_get(prdshm_seg *seg, prdshm_seg_info *info);

typedef struct prdshm_agent_info {
	int32_t slot;
	char id[...];
	int32_t pid;
	uint32_t uid;
	uint64_t start_ns;
	uint64_t heartbeat_ns;
	int status;
	int alive;
	int32_t phase;
	uint32_t nlog;
	char log[...][...];
	...;
} prdshm_agent_info;
typedef struct prdshm_lock_info {
	char resource[...];
	size_t resource_len;
	prdshm_mode mode;
	size_t nholders;
	size_t nrecords;
	prdshm_holder *holders;
	...;
} prdshm_lock_info;
typedef struct prdshm_phase_info {
	int32_t index;
	char id[...];
	char *name;
	char **deps;
	size_t ndeps;
	char **outputs;
	size_t noutputs;
	char *command;
	double estimated_minutes;
	int status;
	uint32_t wave;
	int32_t agent_slot;
	char agent_id[...];
	uint32_t attempts;
	int exit_status;
	uint64_t start_ns, end_ns;
	char message[...];
	char changed_by[...];
	uint64_t changed_ns;
	double remaining;
	...;
} prdshm_phase_info;
typedef struct prdshm_wave_info {
	uint32_t number;
	uint32_t nphases, ncompleted, nfailed, nrunning;
	uint64_t start_ns, end_ns;
	const char *status;
	...;
} prdshm_wave_info;
typedef struct prdshm_snapshot {
	prdshm_seg_info seg;
	uint64_t taken_ns;
	int locked;
	uint64_t run_start_ns, run_end_ns;
	uint32_t current_wave;
	size_t nagents;
	prdshm_agent_info *agents;
	size_t nlocks;
	prdshm_lock_info *locks;
	size_t nphases;
	prdshm_phase_info *phases;
	size_t nwaves;
	prdshm_wave_info *waves;
	...;
} prdshm_snapshot;
int prdshm_snapshot_take(prdshm_seg *seg, unsigned flags, prdshm_snapshot **out);
void prdshm_snapshot_free(prdshm_snapshot *snap);
int prdshm_snapshot_agent_host(const prdshm_snapshot *snap, size_t i, char *buf, size_t size);

extern "Python" void _prdshm_check_report(void *ctx, int severity, const char *problem);
int prdshm_check(prdshm_seg *seg, unsigned flags,
		 void (*report)(void *ctx, int severity, const char *problem), void *ctx);
"""


def builder():
    ffi = FFI()
    ffi.cdef(CDEF)
    # Absolute: cffi compiles from its temporary directory.
    inc = os.path.abspath(os.environ.get("PRDSHM_INCLUDE") or os.path.join(TOP, "lib"))
    static = os.environ.get("PRDSHM_STATIC")
    if static is None:
        guess = os.path.join(TOP, "build", "libprdshm.a")
        static = guess if os.path.exists(guess) else ""
    static = os.path.abspath(static) if static else ""
    kw = dict(include_dirs=[inc] if os.path.isdir(inc) else [],
              extra_compile_args=["-std=gnu11"])
    # The libraries the static library needs beyond ours (the ZooKeeper
    # client when the build has it: the Makefile passes PRDSHM_EXTRA_LIBS).
    extra = os.environ.get("PRDSHM_EXTRA_LIBS", "").split()
    if static:
        kw.update(extra_objects=[static], libraries=extra + ["yaml", "rt", "pthread"])
    else:
        kw.update(libraries=["prdshm", "yaml", "rt", "pthread"])
    ffi.set_source("prdshm._prdshm", '#include "prdshm.h"\n', **kw)
    return ffi


ffibuilder = builder()

if __name__ == "__main__":
    # python3 prdshm_build.py OUTDIR: compile the module into OUTDIR/prdshm/.
    import sys
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    tmp = os.path.join(out, ".cffi")
    so = ffibuilder.compile(tmpdir=tmp, verbose=False)
    dest = os.path.join(out, "prdshm", os.path.basename(so))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    os.replace(so, dest)
    print(dest)
