/*
 * prdshm.h: cross-process lock table and phase scheduler over POSIX shared memory.
 *
 * One shared-memory segment (shm_open + mmap) holds
 *   - a fixed-size lock table: named resources locked SHARED or EXCLUSIVE,
 *     granted in FIFO order, with try / timed / blocking acquire, deadlock
 *     detection and automatic release of a dead process's locks;
 *   - a phase-state array: a plan of phases with dependencies, claimed
 *     atomically by agents and executed wave by wave;
 *   - an agents table: one slot per session, whose liveness the kernel
 *     reports through an OFD lock the session holds on the segment's fd.
 *
 * Conventions
 *   - Every function that can fail returns int: 0 on success, a negative
 *     PRDSHM_E... code otherwise.  prdshm_strerror() names the code;
 *     prdshm_last_error() gives the detailed message of the calling thread's
 *     latest call if it failed ("lock table full (max_locks=1024)"), and ""
 *     if it succeeded.
 *   - Handles are opaque.  Every *_close / *_free accepts NULL.
 *   - Thread safety: a prdshm_seg and a prdshm_session may be shared by the
 *     threads of one process.  Lock ownership belongs to the session: two
 *     threads using one session are one owner.  Give each independent worker
 *     thread its own session.
 *   - fork(): a child inherits the parent's file descriptors, and with them
 *     the open file description whose OFD lock keeps the parent's sessions
 *     "alive".  A child must not use its parent's handles; it opens its own
 *     prdshm_seg and sessions.  Session descriptors are O_CLOEXEC unless
 *     PRDSHM_SESSION_INHERIT is given (see prdshm_session_open()).
 *   - Names: resource names are 1..255 bytes, with no NUL byte.  Phase ids and
 *     agent ids are 1..63 bytes of printable ASCII without spaces.
 *   - ABI: the exported symbols carry the version node PRDSHM_1.0
 *     (lib/prdshm.map); prdshm_version() and prdshm_version_number() tell
 *     which library runs, the PRDSHM_VERSION_* macros which header a program
 *     was compiled against.  Every struct the caller allocates and the
 *     library fills or reads (prdshm_config, prdshm_diag, prdshm_seg_info,
 *     prdshm_holder, prdshm_claim) starts with a uint32_t struct_size and
 *     ends in reserved space:
 *       . the caller sets struct_size to sizeof(the struct) as it was
 *         compiled: with the initializer macro (prdshm_diag d =
 *         PRDSHM_DIAG_INIT;) or, for prdshm_config, through
 *         prdshm_config_init() / prdshm_config_load(), inline functions
 *         that pass sizeof(prdshm_config) to the library;
 *       . for an array (prdshm_lock_query()), the first element's
 *         struct_size is the array's stride; the library sets every
 *         element's struct_size;
 *       . the library reads and writes only the first struct_size bytes: a
 *         program compiled against an older, shorter struct keeps working
 *         with a newer library, and the bytes of a newer, longer struct
 *         that this library does not know are zeroed on output;
 *       . a struct_size below the struct's first published size
 *         (PRDSHM_<STRUCT>_SIZE_1_0, which excludes the reserved space) is
 *         refused with PRDSHM_EINVAL, and prdshm_last_error() names the
 *         struct: a struct zeroed with {0} or memset is caught, and so is a
 *         struct_size above PRDSHM_STRUCT_SIZE_MAX (stack garbage, most
 *         likely);
 *       . a new field is appended after the last one, before the reserved
 *         space, which shrinks by as many bytes: sizeof stays the same,
 *         the PRDSHM_<STRUCT>_SIZE_1_0 values never change, and the library
 *         writes the new field only when struct_size covers it (and reads
 *         it as its default when it does not).  New functions go into a
 *         new version node (PRDSHM_1.1).
 *     The structs the library allocates (prdshm_snapshot and its arrays,
 *     prdshm_conflict) and prdshm_phase_def have no struct_size: changing
 *     one of them takes new functions in a new version node.
 */
#ifndef PRDSHM_H
#define PRDSHM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */

#define PRDSHM_VERSION_MAJOR 0
#define PRDSHM_VERSION_MINOR 1
#define PRDSHM_VERSION_PATCH 0
#define PRDSHM_VERSION_NUMBER \
	(PRDSHM_VERSION_MAJOR * 10000 + PRDSHM_VERSION_MINOR * 100 + PRDSHM_VERSION_PATCH)

/**
 * The running library's version, which may differ from the header's
 * (PRDSHM_VERSION_*) when a program runs against another libprdshm.so.
 * @return "MAJOR.MINOR.PATCH", e.g. "0.1.0"; a static string.
 */
const char *prdshm_version(void);

/** @return the running library's PRDSHM_VERSION_NUMBER, e.g. 100 for 0.1.0. */
int prdshm_version_number(void);

/* No version of a size-prefixed struct will be larger (see "ABI" above). */
#define PRDSHM_STRUCT_SIZE_MAX 65536u

/* The end of @p field in @p type: a struct's first published size is the
 * end of its last field of that version. */
#define PRDSHM__END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

/*
 * XX(NAME, value, message).  Values are part of the ABI: never renumber,
 * never reuse.  A retired code keeps its line with the message "(retired)".
 */
#define PRDSHM_ERRNO_MAP(XX)                                                   \
	XX(EINVAL, -1, "invalid argument")                                     \
	XX(ENOMEM, -2, "out of memory")                                        \
	XX(ENOENT, -3, "no such segment")                                      \
	XX(EEXIST, -4, "segment already exists")                               \
	XX(EACCES, -5, "permission denied")                                    \
	XX(ENOTSEG, -6, "not a prdshm segment (bad magic)")                    \
	XX(EVERSION, -7, "segment format or layout mismatch")                  \
	XX(ECORRUPT, -8, "segment corrupt")                                    \
	XX(ERECOVER, -9, "segment needs recovery")                             \
	XX(EBUSY, -10, "resource busy")                                        \
	XX(ETIMEDOUT, -11, "timed out")                                        \
	XX(EDEADLK, -12, "deadlock detected")                                  \
	XX(ELOCKFULL, -13, "lock table full")                                  \
	XX(EAGENTFULL, -14, "agents table full")                               \
	XX(EPHASEFULL, -15, "phase table full")                                \
	XX(ESYS, -16, "system call failed")                                    \
	XX(EHELD, -17, "resource already held by this session")                \
	XX(ENOTHELD, -18, "resource not held by this session")                 \
	XX(ENAME, -19, "invalid name")                                         \
	XX(ETRANSITION, -20, "illegal phase transition")                       \
	XX(ENOPHASE, -21, "no such phase")                                     \
	XX(ECONFIG, -22, "invalid configuration")                              \
	XX(ECYCLE, -23, "dependency cycle")                                    \
	XX(EUNKNOWNDEP, -24, "unknown dependency")                             \
	XX(EWAIT, -25, "no phase ready yet")                                   \
	XX(EDONE, -26, "no phase left to claim")                               \
	XX(EINUSE, -27, "segment in use by live agents")                       \
	XX(EDEADOWNER, -28, "dead agents hold locks or phases")                \
	XX(ENOAGENT, -29, "no such agent")                                     \
	XX(EPERM, -30, "segment not trusted: another user made it or may write it") \
	XX(EINTR, -31, "interrupted by a signal")                              \
	XX(ENOSPC, -32, "not enough room in /dev/shm for the segment")        \
	XX(ENOTSUP, -33, "not supported by this backend")                     \
	XX(EUNREACHABLE, -34, "coordination service unreachable")

enum prdshm_errno {
	PRDSHM_OK = 0,
#define PRDSHM__ERR_ENUM(name, val, msg) PRDSHM_##name = (val),
	PRDSHM_ERRNO_MAP(PRDSHM__ERR_ENUM)
#undef PRDSHM__ERR_ENUM
};

/** @return a static message for @p err ("unknown error" if not ours). */
const char *prdshm_strerror(int err);

/** @return the code's name, e.g. "PRDSHM_EBUSY"; "PRDSHM_OK" for 0. */
const char *prdshm_err_name(int err);

/**
 * The detailed message of the calling thread's latest call, e.g.
 * "lock table full (max_locks=1024)" or "open /prdpar: Permission denied".
 *   - Every function that returns an error code (0 or a PRDSHM_E... code)
 *     sets it: to the message of its failure when it fails (or "" for a
 *     failure with nothing to add to prdshm_strerror() of the code), and to
 *     "" when it succeeds, even when it met and handled failures on the
 *     way.  So after a successful call it is "", and after a failed one it
 *     is never an earlier call's message.  The lock path pays one
 *     thread-local store for this.
 *   - prdshm_strerror(), prdshm_err_name(), the *_name() functions,
 *     prdshm_version(), prdshm_version_number() and prdshm_last_error()
 *     itself leave it as it is: a failure may be described with them in
 *     any order.
 *   - The other functions, which return no error code (*_close(),
 *     *_free(), prdshm_session_abandon(), accessors such as
 *     prdshm_session_slot() or prdshm_graph_find()), may change it: read it
 *     before calling them.
 * Per thread: another thread's calls never change it.  The string stays
 * valid until the thread's next call that may change it.
 */
const char *prdshm_last_error(void);

/* ------------------------------------------------------------------------ */
/* Enumerations                                                             */

typedef enum prdshm_mode {
	PRDSHM_SHARED = 1,
	PRDSHM_EXCLUSIVE = 2,
} prdshm_mode;

/** Phase statuses.  The values are stored in the segment: never renumber. */
typedef enum prdshm_phase_status {
	PRDSHM_PHASE_NOT_STARTED = 0,
	PRDSHM_PHASE_QUEUED = 1,
	PRDSHM_PHASE_IN_PROGRESS = 2,
	PRDSHM_PHASE_COMPLETED = 3,
	PRDSHM_PHASE_FAILED = 4,
	PRDSHM_PHASE_BLOCKED = 5,
	PRDSHM_PHASE_SKIPPED = 6,
	PRDSHM_PHASE_CANCELLED = 7,
} prdshm_phase_status;
#define PRDSHM_PHASE_NSTATUS 8

/** Agent statuses.  DEAD is derived: the session's OFD lock is gone. */
typedef enum prdshm_agent_status {
	PRDSHM_AGENT_IDLE = 0,
	PRDSHM_AGENT_BUSY = 1,
	PRDSHM_AGENT_EXITED = 2,
	PRDSHM_AGENT_DEAD = 3,
} prdshm_agent_status;

typedef enum prdshm_scheduling {
	PRDSHM_SCHED_WAVES = 0,
	PRDSHM_SCHED_EAGER = 1,
} prdshm_scheduling;

/** @return "NOT_STARTED", "QUEUED", ...; NULL if out of range. */
const char *prdshm_phase_status_name(int status);
/** @return "IDLE", "BUSY", "EXITED", "DEAD"; NULL if out of range. */
const char *prdshm_agent_status_name(int status);
/** @return "shared" or "exclusive"; NULL if out of range. */
const char *prdshm_mode_name(int mode);

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */

#define PRDSHM_NAME_MAX 255    /* resource name, bytes */
#define PRDSHM_ID_MAX 63       /* phase id, agent id, bytes */
#define PRDSHM_SHM_NAME_MAX 255 /* "/name", bytes */
#define PRDSHM_GROUP_MAX 32     /* shm_group: a group name or gid, bytes */
#define PRDSHM_MSG_MAX 191     /* phase message, log line, bytes */
#define PRDSHM_LOG_LINES 8     /* log ring per agent */

/* ------------------------------------------------------------------------ */
/* Configuration (lib/config/)                                              */

/**
 * Where a diagnostic points: file, 1-based line and column (0 if none).
 * Declare it with PRDSHM_DIAG_INIT (see "ABI" at the top): a diag whose
 * struct_size is below PRDSHM_DIAG_SIZE_1_0 makes the call fail with
 * PRDSHM_EINVAL.  A NULL diag is always accepted.
 */
typedef struct prdshm_diag {
	uint32_t struct_size; /* sizeof(prdshm_diag), set by PRDSHM_DIAG_INIT */
	char file[256];
	int line;
	int column;
	char msg[512];
	uint64_t reserved_[8]; /* new fields are taken from here */
} prdshm_diag;
#define PRDSHM_DIAG_INIT { .struct_size = sizeof(prdshm_diag) }
#define PRDSHM_DIAG_SIZE_1_0 PRDSHM__END_OF(prdshm_diag, msg)

/** A place in a configuration file: 1-based line and column (in bytes);
 *  0, 0 when the value did not come from a file. */
typedef struct prdshm_pos {
	int line, column;
} prdshm_pos;

/** One phase of the plan, as written in prdpar.yaml. */
typedef struct prdshm_phase_def {
	char *id;
	char *name;
	char **deps;
	size_t ndeps;
	char **outputs;
	size_t noutputs;
	double estimated_minutes; /* 0 when not given */
	char *command;            /* NULL when not given */
	int line, column;         /* where it was defined; 0 if not from a file */
	/* Where its values were, so that an error points at the value at
	 * fault.  prdshm_config_load_*() fill them and prdshm_config_free()
	 * frees deps_at with the rest; a plan built by the caller leaves them
	 * zero/NULL, and its errors point at line, column.  (Added before 1.0
	 * was released: no struct_size, see "ABI" at the top.) */
	prdshm_pos id_at;         /* of the id */
	prdshm_pos *deps_at;      /* deps[j] is at deps_at[j] for j < ndeps_at */
	size_t ndeps_at;          /* (deps edited by hand may outgrow it) */
} prdshm_phase_def;

/** Where a configuration value came from. */
typedef enum prdshm_origin {
	PRDSHM_FROM_DEFAULT = 0,
	PRDSHM_FROM_FILE = 1,
	PRDSHM_FROM_ENV = 2,
	PRDSHM_FROM_CMDLINE = 3,
} prdshm_origin;

/**
 * The effective configuration.  Plain data: tools may read any field.
 * Change fields through prdshm_config_set() so that the origin is tracked
 * and the value validated.  Start it with prdshm_config_init() or
 * prdshm_config_load(), which set struct_size (see "ABI" at the top); every
 * function refuses a configuration whose struct_size is below
 * PRDSHM_CONFIG_SIZE_1_0 with PRDSHM_EINVAL.  A copy (struct assignment)
 * is a configuration of the same size.  The keys that choose and reach a
 * backend ("backend": shm or zookeeper, "zookeeper.hosts", "zookeeper.root",
 * "zookeeper.session_timeout_ms", "zookeeper.auth_file") have no field: they live in the private
 * part, read them with prdshm_config_get() (docs/zookeeper.md).
 */
typedef struct prdshm_config {
	uint32_t struct_size;         /* set by prdshm_config_init() */
	/* Parallel execution. */
	int max_parallel_agents;      /* [3] */
	int lock_timeout_seconds;     /* [300] */
	int wave_delay_seconds;       /* [5] */
	int conflict_retry_attempts;  /* [3] */
	int monitoring_update_interval; /* [2] seconds */
	prdshm_scheduling scheduling; /* [waves] */
	int phase_max_attempts;       /* [1] */
	int deadlock_timeout_ms;      /* [500] wait before checking for a deadlock */
	/* Segment. */
	char shm_name[PRDSHM_SHM_NAME_MAX + 1]; /* ["/prdpar"] */
	unsigned shm_mode;            /* [0600]; never writable by others, by the
				       * group only with shm_group */
	char shm_group[PRDSHM_GROUP_MAX + 1]; /* [""] the group the segment is
				       * shared with (name or gid); "" for none */
	int max_locks;                /* [1024] */
	int max_phases;               /* [256] */
	int max_agents;               /* [64] */
	/* The plan. */
	prdshm_phase_def *phases;
	size_t nphases;
	/* Private: origin and position of each key; use prdshm_config_origin(). */
	struct prdshm__config_src *src_;
	char *path_; /* the file read, if any */
	/* New keys are taken from here, after path_: the reserved space
	 * shrinks by their size and sizeof(prdshm_config) stays the same. */
	uint64_t reserved_[16];
} prdshm_config;
#define PRDSHM_CONFIG_SIZE_1_0 PRDSHM__END_OF(prdshm_config, path_)

/**
 * Fill the first @p size bytes of @p cfg: struct_size = @p size, the
 * built-in defaults, no phases, zeros past the fields this library knows.
 * For bindings that cannot use the inline prdshm_config_init().
 * @return 0, or PRDSHM_EINVAL (NULL @p cfg, @p size below
 *         PRDSHM_CONFIG_SIZE_1_0: nothing written).
 */
int prdshm_config_init_size(prdshm_config *cfg, size_t size);

/** Fill @p cfg with the built-in defaults and no phases.  Never fails. */
static inline void prdshm_config_init(prdshm_config *cfg)
{
	(void)prdshm_config_init_size(cfg, sizeof(*cfg));
}

/** Free what @p cfg owns (phases, origins).  Accepts NULL. */
void prdshm_config_free(prdshm_config *cfg);

/**
 * Read a YAML file over @p cfg.  Nothing is applied unless the whole file is
 * valid: on error @p cfg is unchanged and @p diag says what and where.
 * @return 0; PRDSHM_ENOENT if the file does not exist; PRDSHM_EACCES;
 *         PRDSHM_ECONFIG (syntax, unknown or duplicate key, wrong type, out of
 *         range, bad phase: @p diag has file, line, column and message).
 */
int prdshm_config_load_file(prdshm_config *cfg, const char *path, prdshm_diag *diag);

/** The same from a string; @p name is used as the file name in @p diag. */
int prdshm_config_load_string(prdshm_config *cfg, const char *yaml, size_t len,
			      const char *name, prdshm_diag *diag);

/**
 * Apply PRD_PARALLEL_<KEY> environment variables over @p cfg.  All or
 * nothing, like prdshm_config_load_file(); @p diag->file names the variable.
 * @return 0 or PRDSHM_ECONFIG.
 */
int prdshm_config_apply_env(prdshm_config *cfg, prdshm_diag *diag);

/**
 * Set one key from its text form ("max_locks", "2048") as @p origin.
 * @return 0, or PRDSHM_ECONFIG (unknown key, bad value) with @p diag set.
 */
int prdshm_config_set(prdshm_config *cfg, const char *key, const char *value,
		      prdshm_origin origin, prdshm_diag *diag);

/**
 * Check the cross-key constraints (max_parallel_agents <= max_agents, the
 * segment size cap, the plan's graph: duplicate id, unknown dependency,
 * cycle, more phases than max_phases).
 * @return 0 or PRDSHM_ECONFIG with @p diag set.
 */
int prdshm_config_validate(const prdshm_config *cfg, prdshm_diag *diag);

/**
 * Defaults, then @p path (or ./prdpar.yaml if @p path is NULL and it exists),
 * then the environment, then validate.  The usual way to start: @p cfg need
 * not be initialised (it is, with struct_size = @p size).  On error @p cfg
 * is left initialised with the defaults.
 * @return 0, PRDSHM_ENOENT (an explicit @p path is missing), PRDSHM_ECONFIG,
 *         PRDSHM_EINVAL (NULL @p cfg, @p size below PRDSHM_CONFIG_SIZE_1_0).
 */
int prdshm_config_load_size(prdshm_config *cfg, size_t size, const char *path,
			    prdshm_diag *diag);

/** prdshm_config_load_size() with the size of the caller's prdshm_config. */
static inline int prdshm_config_load(prdshm_config *cfg, const char *path, prdshm_diag *diag)
{
	return prdshm_config_load_size(cfg, sizeof(*cfg), path, diag);
}

/** Where key @p key came from, with its line/column when from a file. */
prdshm_origin prdshm_config_origin(const prdshm_config *cfg, const char *key,
				   int *line, int *column);

/** The names of all keys, NULL-terminated, in documentation order. */
const char *const *prdshm_config_keys(void);

/** Format key @p key's value as text into @p buf.  @return 0 or PRDSHM_EINVAL. */
int prdshm_config_get(const prdshm_config *cfg, const char *key, char *buf, size_t size);

/**
 * Write @p cfg as YAML (libyaml's emitter) to @p out; reading the result back
 * gives the same values.  @return 0 or PRDSHM_ESYS.
 */
int prdshm_config_write(const prdshm_config *cfg, FILE *out);

/* ------------------------------------------------------------------------ */
/* Dependency graph (lib/graph/): pure computation, no segment needed.      */

typedef struct prdshm_graph prdshm_graph;

/**
 * Build the graph of @p n phases.  Phase i of the graph is phases[i].
 * @p diag's line and column point at the value at fault when the phases
 * carry positions (id_at, deps_at: the duplicate id, the unknown
 * dependency, the dependency that opens the cycle printed), else at the
 * phase (line, column); its file is the caller's to fill.
 * @return 0; PRDSHM_EINVAL (duplicate or invalid id: @p diag names it);
 *         PRDSHM_EUNKNOWNDEP ("phase 'b' depends on unknown phase 'x'");
 *         PRDSHM_ECYCLE (@p diag->msg prints the cycle "a -> b -> c -> a");
 *         PRDSHM_ENOMEM.  Linear in phases + edges.
 */
int prdshm_graph_build(const prdshm_phase_def *phases, size_t n, prdshm_graph **out,
		       prdshm_diag *diag);
void prdshm_graph_free(prdshm_graph *g);

size_t prdshm_graph_nphases(const prdshm_graph *g);
/** Index of phase @p id, or -1. */
long prdshm_graph_find(const prdshm_graph *g, const char *id);
/** Number of waves: wave k holds the phases whose deps all lie in waves < k. */
size_t prdshm_graph_nwaves(const prdshm_graph *g);
/** The wave of phase @p i (0-based). */
size_t prdshm_graph_wave_of(const prdshm_graph *g, size_t i);
/** The phases of wave @p w; @return their count, *idx points into @p g. */
size_t prdshm_graph_wave(const prdshm_graph *g, size_t w, const size_t **idx);
/** True if @p a depends on @p b, directly or transitively. */
int prdshm_graph_depends_on(const prdshm_graph *g, size_t a, size_t b);

/** A pair of phases that may run at once and declare the same output. */
typedef struct prdshm_conflict {
	size_t a, b;          /* phase indexes, a < b */
	const char *resource; /* points into the phase definitions */
} prdshm_conflict;
/** @return the number of conflicts; *out points into @p g. */
size_t prdshm_graph_conflicts(const prdshm_graph *g, const prdshm_conflict **out);

/** Length (minutes) of the longest path by estimated time. */
double prdshm_graph_critical_length(const prdshm_graph *g);
/** The critical path, first phase first; @return its length in phases. */
size_t prdshm_graph_critical_path(const prdshm_graph *g, const size_t **idx);
/** Longest remaining path from phase @p i, itself included (its priority). */
double prdshm_graph_remaining(const prdshm_graph *g, size_t i);

/* ------------------------------------------------------------------------ */
/* Segment (lib/shm/, lib/ops/regions.c)                                    */

typedef struct prdshm_seg prdshm_seg;
typedef struct prdshm_session prdshm_session;

/**
 * Create segment cfg->shm_name with mode cfg->shm_mode, sized from the limits
 * in @p cfg, and load cfg's plan of phases (every phase NOT_STARTED, or
 * QUEUED when its dependencies are none).  Creation is exclusive (O_EXCL)
 * and initialisation happens under an OFD lock on byte 0, so a concurrent
 * prdshm_seg_open() waits for it and never sees a half-built table.  With
 * cfg->shm_group set, the segment's group becomes that group (the caller
 * must belong to it, or be root).
 * Every page is reserved before initialisation (posix_fallocate), so a
 * full /dev/shm is an error here, never a SIGBUS later in some process.
 * On any error nothing is left under the name.
 * @return 0; PRDSHM_EEXIST; PRDSHM_EACCES; PRDSHM_ECONFIG (invalid @p cfg,
 *         unknown shm_group); PRDSHM_EPERM (the group cannot be given);
 *         PRDSHM_ENOSPC (the message gives the size needed and the room
 *         left); PRDSHM_EINVAL (NULL argument, cfg->struct_size below
 *         PRDSHM_CONFIG_SIZE_1_0); PRDSHM_ENOMEM; PRDSHM_ESYS (shm_open,
 *         ftruncate, mmap failed).
 */
int prdshm_seg_create(const prdshm_config *cfg, prdshm_seg **out);

/**
 * Attach to an existing segment.  First checks who may have written it,
 * before reading a byte: the object must be a regular file owned by the
 * effective uid and writable by no other user or group (see
 * prdshm_seg_open_cfg() for a segment shared with a group).  A segment
 * another user made could plant phase commands that agents run with the
 * caller's privileges, so it is refused even for root.  Then checks magic,
 * format version, layout hash and the stored sizes against the file before
 * trusting anything.  Waits at most a few seconds for a concurrent creator
 * to finish.
 * @return 0; PRDSHM_ENOENT; PRDSHM_EACCES (the mode denies the caller);
 *         PRDSHM_EPERM (not trusted: another owner, writable by others, a
 *         group without shm_group, not a regular file, a symbolic link; the
 *         message names the owner and the mode); PRDSHM_ENOTSEG (wrong magic);
 *         PRDSHM_EVERSION (other format or layout: another build or ABI);
 *         PRDSHM_ECORRUPT (sizes or offsets inconsistent, or initialisation
 *         never finished); PRDSHM_ENAME (bad @p shm_name); PRDSHM_ESYS.
 */
int prdshm_seg_open(const char *shm_name, prdshm_seg **out);

/**
 * prdshm_seg_open() of cfg->shm_name, trusting the sharing group
 * cfg->shm_group if one is set: the segment may then be owned by the caller
 * or by root, and writable by that group (never by others).  Members of the
 * group can change the plan's commands, so give it only to users who may
 * run commands as each other.  With no group, exactly prdshm_seg_open().
 * @return the errors of prdshm_seg_open(); PRDSHM_ECONFIG (shm_group names
 *         no group on this system); PRDSHM_EINVAL (NULL argument,
 *         cfg->struct_size below PRDSHM_CONFIG_SIZE_1_0).
 */
int prdshm_seg_open_cfg(const prdshm_config *cfg, prdshm_seg **out);

/**
 * Open (as prdshm_seg_open_cfg()), or create from @p cfg if it does not
 * exist; safe against a concurrent creator (the loser of the race opens what
 * the winner made).  An untrusted segment under the name is refused
 * (PRDSHM_EPERM), never replaced.
 * @param created set to 1 if this call created the segment (may be NULL).
 */
int prdshm_seg_open_or_create(const prdshm_config *cfg, prdshm_seg **out, int *created);

/**
 * Detach.  Does not close sessions: close them first (their memory stays
 * valid only while the segment is attached).  Accepts NULL.
 */
void prdshm_seg_close(prdshm_seg *seg);

/**
 * Remove the name; attached processes keep their mapping.  Unconditional:
 * live agents carry on with a segment nobody else can find (and
 * prdshm_session_open() refuses new sessions on it).  See
 * prdshm_seg_unlink_unused() for the safe form.  Never removes an object
 * owned by another user (root included: /dev/shm's sticky bit stops other
 * users, and root is stopped here), whatever it holds.
 * @return 0, PRDSHM_ENOENT, PRDSHM_EACCES, PRDSHM_EPERM (another user's
 *         object: the message names the owner), PRDSHM_ENAME, PRDSHM_ESYS.
 */
int prdshm_seg_unlink(const char *shm_name);

/**
 * Remove the name only if no live session uses the segment (lib/ops/unlink.c).
 * Liveness is the kernel's (each session's OFD lock), and the check and the
 * removal are made holding the session mutex, under which every session
 * registers: a session either registered before and refuses the removal,
 * or tries after and gets PRDSHM_ENOENT.  No agent can slip in between.
 * Waits at most PRDSHM_RECOVER_WAIT_MS for that mutex (plus, like
 * prdshm_seg_open(), a few seconds for a creator still initialising).
 * @return 0 (removed); PRDSHM_EINUSE (live agents: prdshm_last_error() lists
 *         them, "2 live agents use /prdpar: a (pid 10), b (pid 11)"; nothing
 *         changed);
 *         PRDSHM_ETIMEDOUT (a live process holds the session mutex, see
 *         prdshm_reap()); PRDSHM_ERECOVER (the session mutex is not
 *         recoverable); the errors of prdshm_seg_open(): a name that does
 *         not open as a readable prdshm segment is not removed (use
 *         prdshm_seg_unlink()); PRDSHM_EBUSY (the name kept being replaced
 *         while checking); PRDSHM_ESYS.
 */
int prdshm_seg_unlink_unused(const char *shm_name);

/**
 * prdshm_seg_unlink_unused() of cfg->shm_name, opening it as
 * prdshm_seg_open_cfg() does: a segment shared with cfg->shm_group is
 * removed (when unused) by its owner.
 * @return the errors of prdshm_seg_unlink_unused() and of
 *         prdshm_seg_open_cfg().
 */
int prdshm_seg_unlink_unused_cfg(const prdshm_config *cfg);

/**
 * Segment facts, copied out.  Declare it with PRDSHM_SEG_INFO_INIT (see
 * "ABI" at the top).
 */
typedef struct prdshm_seg_info {
	uint32_t struct_size;   /* sizeof(prdshm_seg_info), set by the caller */
	char shm_name[PRDSHM_SHM_NAME_MAX + 1];
	uint64_t size;          /* bytes mapped */
	uint32_t format;        /* format version */
	uint32_t layout_hash;
	uint64_t created_ns;    /* CLOCK_REALTIME */
	uint32_t max_locks, max_phases, max_agents, nparts;
	uint32_t needs_recovery; /* 1 after an unrepairable crash */
	/* The configuration stored at creation. */
	int max_parallel_agents, lock_timeout_seconds, wave_delay_seconds,
		conflict_retry_attempts, monitoring_update_interval, phase_max_attempts,
		deadlock_timeout_ms;
	prdshm_scheduling scheduling;
	uint64_t reserved_[8];  /* new fields are taken from here */
} prdshm_seg_info;
#define PRDSHM_SEG_INFO_INIT { .struct_size = sizeof(prdshm_seg_info) }
#define PRDSHM_SEG_INFO_SIZE_1_0 PRDSHM__END_OF(prdshm_seg_info, scheduling)

/**
 * Fill the first info->struct_size bytes of @p info.  Never blocks.
 * @return 0 or PRDSHM_EINVAL (NULL argument, struct_size below
 *         PRDSHM_SEG_INFO_SIZE_1_0).
 */
int prdshm_seg_info_get(prdshm_seg *seg, prdshm_seg_info *info);

/* ------------------------------------------------------------------------ */
/* Sessions (lib/session/session.c)                                         */

/** Keep the session's descriptor across exec (flock(1)'s "lock lives as long
 *  as the command").  Default: O_CLOEXEC. */
#define PRDSHM_SESSION_INHERIT 0x1
/** Ignore PRDSHM_PARENT_SESSION: the session acts for nobody but itself
 *  (see "Nested locks" below). */
#define PRDSHM_SESSION_INDEPENDENT 0x2

/*
 * Nested locks: a process started under a held lock acts for its parent.
 *
 * A process that holds locks and starts a command it waits for (prdshm-lock
 * runs its command, prdshm-agent a phase's command) sets the environment
 * variable PRDSHM_PARENT_SESSION of the command to the value
 * prdshm_session_env() gives: "SLOT:GEN:CREATED_NS:SHM_NAME", the session's
 * slot in the agents table, the slot's generation, the creation time of the
 * segment (CLOCK_REALTIME ns) and its name.  prdshm_session_open() in that
 * command, or in anything it starts, reads the variable: if it names a
 * current session of the segment being opened (same name, same creation
 * time, the slot still in that generation), the new session is that
 * session's child and acts for it.  (On backend: zookeeper the value is
 * "zk:SEQ:OWNER:CREATED_NS:SHM_NAME", and a nested hold lasts only as long
 * as the ancestor's: docs/zookeeper.md, "Nested locks".)  A value that does not parse, or names
 * another segment or a session that has ended, is ignored; so is the
 * variable with PRDSHM_SESSION_INDEPENDENT.  A session, its children, their
 * children and so on form a family.
 *  - Reentrant: a request of a child is granted at once, ahead of any queue,
 *    when an ancestor holds the resource (not released) in a mode at least
 *    as strong: EXCLUSIVE covers both modes, SHARED covers SHARED.  The
 *    child's hold is a record of its own, counted apart from the ancestor's:
 *    the child's unlock leaves the ancestor's hold, the ancestor's unlock
 *    leaves the child's (others wait until both are gone), and a child that
 *    dies (SIGKILL) leaves a dead session's record, freed like any other
 *    while the ancestor keeps its hold.  A request the ancestors' holds do
 *    not cover is an ordinary one: siblings exclude each other on resources
 *    their parent does not hold, and a child asking EXCLUSIVE for what its
 *    parent holds SHARED waits for its own parent: PRDSHM_EDEADLK.
 *  - Deadlocks: the parent is taken to wait for each live child (it waits
 *    for the command to end before it releases anything), so a child's wait
 *    counts as its parent's in the waits-for graph.  "prdshm-lock a -c
 *    'prdshm-lock b ...'" beside "prdshm-lock b -c 'prdshm-lock a ...'" is
 *    a cycle: one inner request fails with PRDSHM_EDEADLK after
 *    deadlock_timeout_ms, its message naming the cycle ("lock-11 waits for
 *    lock-20 waits for its child lock-21 waits for lock-10 waits for its
 *    child lock-11").  A process that starts a command it does not wait for
 *    while holding locks should not pass the variable on.
 * The variable grants nothing a process of the segment's trusted users
 * could not do anyway (docs/reliability.md, threat model).
 */
#define PRDSHM_PARENT_ENV "PRDSHM_PARENT_SESSION"
/** Room for prdshm_session_env()'s value, its terminating NUL included. */
#define PRDSHM_PARENT_ENV_MAX (3 * 21 + PRDSHM_SHM_NAME_MAX + 1)

/**
 * Register a session: a slot in the agents table whose liveness the kernel
 * tracks through an OFD lock on the slot's byte of a private descriptor of
 * the segment.  PID, start time and uid are recorded for display only.
 * @param agent_id 1..63 printable bytes; NULL for "pid-<pid>".
 * @param flags PRDSHM_SESSION_INHERIT, PRDSHM_SESSION_INDEPENDENT.  Unless
 *        the latter is given, PRDSHM_PARENT_SESSION in the environment may
 *        make the session act for another (see "Nested locks" above).
 * Dead sessions are reaped before the table is declared full.  Waits
 * without limit for the session mutex (see prdshm_session_open_timed()).
 * @return 0; PRDSHM_ENAME; PRDSHM_EAGENTFULL ("agents table full
 *         (max_agents=N)"); PRDSHM_ENOENT (the segment's name was removed
 *         since @p seg was opened: a session would join a table that new
 *         processes cannot find); PRDSHM_ERECOVER; PRDSHM_ESYS.
 */
int prdshm_session_open(prdshm_seg *seg, const char *agent_id, unsigned flags,
			prdshm_session **out);

/**
 * prdshm_session_open() waiting at most @p timeout_ms in all for the
 * segment's mutexes (the session mutex; the phase mutex when it reaps a
 * dead session to make room).  They are held for microseconds; one held
 * longer belongs to a process that is alive but stopped or stuck inside
 * the library.
 * @param timeout_ms PRDSHM_TRY (a few milliseconds), a number of
 *        milliseconds, PRDSHM_WAIT_DEFAULT (lock_timeout_seconds) or
 *        PRDSHM_WAIT_FOREVER.
 * @return as prdshm_session_open(), and PRDSHM_EBUSY (PRDSHM_TRY) or
 *         PRDSHM_ETIMEDOUT: the session mutex stayed held; prdshm_last_error()
 *         names it and, as far as this process can see, the holder thread
 *         and whether it is alive or stopped ("... session mutex still held
 *         after 300 ms by thread 4242 (alive, stopped)").  Nothing changed.
 *         PRDSHM_EINVAL for a timeout below PRDSHM_WAIT_FOREVER.
 */
int prdshm_session_open_timed(prdshm_seg *seg, const char *agent_id, unsigned flags,
			      int64_t timeout_ms, prdshm_session **out);

/**
 * Release every lock the session holds, mark its agent EXITED, free its slot
 * and drop its OFD lock.  Accepts NULL.  Waits at most PRDSHM_RECOVER_WAIT_MS
 * in all for the segment's mutexes: if a stopped process holds one, what
 * could not be done then is done as for a session that died (its locks are
 * released by whoever waits for them, its slot by the next reap, which
 * marks it DEAD rather than EXITED).
 */
void prdshm_session_close(prdshm_session *s);

/**
 * Forget the session without touching the segment: close the descriptor and
 * free the handle.  The slot stays held for as long as any process keeps an
 * inherited copy of the descriptor, then counts as dead and is reaped.
 * For a forked child that must not act for its parent.  Accepts NULL.
 */
void prdshm_session_abandon(prdshm_session *s);

/**
 * The value of PRDSHM_PARENT_SESSION that makes sessions opened by a
 * command act for @p s (see "Nested locks" above): for the environment of
 * a command the caller starts and waits for while holding its locks.
 * @param size at least PRDSHM_PARENT_ENV_MAX is always enough.
 * @return 0; PRDSHM_EINVAL (NULL argument, or @p size too small: @p buf
 *         then holds "").  Since 1.1 (symbol version PRDSHM_1.1).
 */
int prdshm_session_env(const prdshm_session *s, char *buf, size_t size);

/** The session's slot index in the agents table. */
int prdshm_session_slot(const prdshm_session *s);
/** The session's descriptor (for PRDSHM_SESSION_INHERIT users). */
int prdshm_session_fd(const prdshm_session *s);

/* ------------------------------------------------------------------------ */
/* Locks (lib/lock/)                                                        */

#define PRDSHM_TRY 0             /* timeout: fail with PRDSHM_EBUSY at once */
#define PRDSHM_WAIT_DEFAULT (-1) /* timeout: lock_timeout_seconds */
#define PRDSHM_WAIT_FOREVER (-2) /* timeout: none (deadlocks still detected) */

/**
 * Acquire @p resource in @p mode.  Requests are granted in FIFO order: a
 * request never passes an earlier conflicting one, so a stream of SHARED
 * requests cannot starve a waiting EXCLUSIVE one.  While waiting, locks held
 * by dead sessions are released, and after deadlock_timeout_ms the waits-for
 * graph is checked: if this request closes a cycle it fails with
 * PRDSHM_EDEADLK and the others proceed.  A thread that locks again the
 * resource it last locked and released (a name of at most 64 bytes, the
 * same mode, no phase either time) takes no mutex: it takes its released
 * hold back, unless someone waits for the resource (docs/design.md,
 * "Taking a release back").
 * Interruptible: when a signal handler runs in the waiting thread, the wait
 * ends with PRDSHM_EINTR and leaves no record behind (unless the grant came
 * first: then 0, and the lock is held; or unless a stopped holder keeps the
 * partition mutex from the withdrawal: then PRDSHM_ETIMEDOUT, the request
 * left queued until it expires, as below).  Like sem_timedwait(3) and poll(2),
 * the wait is never restarted after a handler, whether or not it was
 * installed with SA_RESTART; a caller that ignores the signal calls again
 * (and queues again, behind later requests).  Signals without a handler,
 * and stops (SIGSTOP, SIGCONT), do not interrupt it.  Only the sleep is
 * interruptible: a handler that runs while the thread is between sleeps
 * (microseconds, unless it is preempted there) does not end the wait, so a
 * sender that must be heard repeats its signal (as a user repeats Ctrl-C).
 * @param timeout_ms PRDSHM_TRY, a number of milliseconds, PRDSHM_WAIT_DEFAULT
 *        or PRDSHM_WAIT_FOREVER.  It bounds the mutex waits too: a try waits
 *        at most a few milliseconds for the partition mutex, a timed request
 *        no longer than its timeout (also in a deadlock check, which takes
 *        every partition mutex); only PRDSHM_WAIT_FOREVER waits for a mutex
 *        without limit.
 * @param phase_id recorded with the lock for inspection (NULL: none).
 * @return 0; PRDSHM_ENAME (bad resource name); PRDSHM_EHELD (this session
 *         holds it already: use upgrade/downgrade); PRDSHM_EBUSY (try mode:
 *         conflict, and prdshm_last_error() names the first holder in the
 *         way, as prdshm-lock does: "'r' is busy: held by agent-2 (pid 42,
 *         phase build, EXCLUSIVE)"; or the partition mutex is held by a
 *         stopped process, and then prdshm_last_error() names the mutex and,
 *         as far as this process can see, the holder thread and whether it
 *         is stopped);
 *         PRDSHM_ETIMEDOUT (the same for a timed request; if the request was
 *         already queued and the mutex stays held even PRDSHM_RECOVER_WAIT_MS
 *         past the deadline, the request stays queued until the next process
 *         on the resource withdraws it, and
 *         the message says so); PRDSHM_EINTR (a signal handler ran while
 *         waiting); PRDSHM_EDEADLK; PRDSHM_ELOCKFULL ("lock table full
 *         (max_locks=N)"); PRDSHM_ERECOVER; PRDSHM_EINVAL.
 */
int prdshm_lock(prdshm_session *s, const char *resource, prdshm_mode mode,
		int64_t timeout_ms, const char *phase_id);

/**
 * Release @p resource.  Usually takes no mutex: the hold is found through
 * the thread's memory of its latest grant or a hint the grant left in @p s,
 * and let go with one atomic swap, and waiters are woken at once
 * (docs/design.md, "Releasing without the mutex").  A
 * hold that another thread of the session is upgrading is released all the
 * same; that upgrade then fails with PRDSHM_ENOTHELD.
 * @return 0, PRDSHM_ENOTHELD, PRDSHM_ENAME, PRDSHM_EINVAL (NULL session),
 *         PRDSHM_ERECOVER; on ZooKeeper PRDSHM_ESYS when the hold had been
 *         lost meanwhile (its ZooKeeper session expired, the message says
 *         so: another may have been granted the lock; docs/zookeeper.md).
 */
int prdshm_unlock(prdshm_session *s, const char *resource);

/**
 * Release everything the session holds.  @param freed number released (may be
 * NULL).  @return 0 or PRDSHM_ERECOVER.
 */
int prdshm_unlock_all(prdshm_session *s, size_t *freed);

/**
 * Acquire @p n resources all-or-nothing: on failure nothing is held and the
 * return value is the failing resource's error; *failed (may be NULL) gets
 * its index.  Resources are taken in a canonical order, so two sessions
 * asking for the same set cannot deadlock each other.  @p timeout_ms bounds
 * the whole call, mutex waits included, as for prdshm_lock().  Duplicate
 * names are PRDSHM_EINVAL.  A signal handler interrupts the wait as for
 * prdshm_lock() (PRDSHM_EINTR, nothing held).
 */
int prdshm_lock_many(prdshm_session *s, const char *const *resources, size_t n,
		     prdshm_mode mode, int64_t timeout_ms, const char *phase_id,
		     size_t *failed);

/**
 * Upgrade a SHARED hold to EXCLUSIVE.  The session keeps its SHARED hold while
 * it waits for the other holders to leave; an upgrade goes ahead of queued
 * requests (it already holds the resource).  Two sessions upgrading the same
 * resource deadlock: one gets PRDSHM_EDEADLK and keeps its SHARED hold.
 * @p timeout_ms bounds the mutex waits as for prdshm_lock().
 * @return 0 (also if already EXCLUSIVE); PRDSHM_ENOTHELD (not held, or
 *         another thread of this session released it while this waited);
 *         PRDSHM_EBUSY (try mode: a conflict, or the partition mutex held by
 *         a stopped process, named by prdshm_last_error(); or another thread
 *         of this session is already upgrading it); PRDSHM_ETIMEDOUT (as for
 *         prdshm_lock()); PRDSHM_EINTR (a signal handler ran while waiting,
 *         as for prdshm_lock()); PRDSHM_EDEADLK; PRDSHM_ERECOVER.  On the
 *         other failures the SHARED hold stays.
 */
int prdshm_upgrade(prdshm_session *s, const char *resource, int64_t timeout_ms);

/**
 * Downgrade an EXCLUSIVE hold to SHARED; waiting SHARED requests that are now
 * compatible are woken.  Never waits for other holders (only for the
 * partition mutex).  @return 0 (also if already SHARED), PRDSHM_ENOTHELD.
 */
int prdshm_downgrade(prdshm_session *s, const char *resource);

/**
 * What /proc says of a holder's process (prdshm_holder.proc_state): a hint
 * for display, never for liveness, which is the session's OFD lock (alive).
 * prdshm_snapshot_take() fills it; prdshm_lock_query() leaves it UNKNOWN.
 */
typedef enum prdshm_proc_state {
	/* Not looked at, or not sure: the pid is not found in this process's
	 * /proc (a holder in another PID namespace), or names a process that
	 * does not map the segment or started after the session opened (the
	 * pid was reused, or is another namespace's), or one whose
	 * /proc/<pid>/maps the caller may not read (another user's). */
	PRDSHM_PROC_UNKNOWN = 0,
	PRDSHM_PROC_RUNNING = 1, /* running or sleeping: not stopped */
	PRDSHM_PROC_STOPPED = 2, /* stopped (SIGSTOP, job control) or traced */
	PRDSHM_PROC_ZOMBIE = 3,  /* exited, not yet waited for */
	PRDSHM_PROC_DEAD = 4,    /* the session is dead (alive is 0) */
} prdshm_proc_state;

/**
 * One holder or waiter of a resource, copied out.  Declare an array for
 * prdshm_lock_query() as prdshm_holder h[N] = { PRDSHM_HOLDER_INIT }: the
 * first element's struct_size is the stride (see "ABI" at the top).
 */
typedef struct prdshm_holder {
	uint32_t struct_size; /* sizeof(prdshm_holder), set by the caller */
	char agent_id[PRDSHM_ID_MAX + 1];
	char phase_id[PRDSHM_ID_MAX + 1];
	int32_t pid;
	int32_t slot;        /* session slot */
	prdshm_mode mode;
	int waiting;         /* 0: holds it, 1: waits for it */
	int alive;           /* session alive (kernel OFD lock) */
	uint64_t since_ns;   /* CLOCK_REALTIME when granted / when it began waiting */
	/* Added after PRDSHM_HOLDER_SIZE_1_0, from the reserved space. */
	int32_t proc_state;  /* prdshm_proc_state, in snapshots */
	int32_t released;    /* 1: let go, still blocks waiters (prdshm_lock_info) */
	uint64_t reserved_[3]; /* new fields are taken from here */
} prdshm_holder;
#define PRDSHM_HOLDER_INIT { .struct_size = sizeof(prdshm_holder) }
#define PRDSHM_HOLDER_SIZE_1_0 PRDSHM__END_OF(prdshm_holder, since_ns)

/**
 * Who holds or waits for @p resource, in grant order.  With @p mode non-zero,
 * only the records that would block a request in @p mode from a new session.
 * @param out array of @p cap entries of out[0].struct_size bytes each (may
 *        be NULL when @p cap is 0); every entry written gets that
 *        struct_size.  @param n total count (may exceed cap).
 * @return 0, PRDSHM_ENAME, or PRDSHM_EINVAL (NULL argument, out[0].struct_size
 *         below PRDSHM_HOLDER_SIZE_1_0).
 */
int prdshm_lock_query(prdshm_seg *seg, const char *resource, prdshm_mode mode,
		      prdshm_holder *out, size_t cap, size_t *n);

/**
 * Buckets of the wait-time histogram of prdshm_lock_metrics: bucket i counts
 * the waits of at most 10^i microseconds (1 us, 10 us ... 1 s), the last
 * one the longer waits.  Not cumulative (Prometheus's buckets are: add
 * them up).
 */
#define PRDSHM_WAIT_BUCKETS 8

/**
 * What the lock requests on a resource, or on the whole segment, came to,
 * copied out by prdshm_lock_metrics_get().  Declare an array as
 * prdshm_lock_metrics st[N] = { PRDSHM_LOCK_METRICS_INIT } (see "ABI" at the
 * top).  Counters only grow while the segment exists, except a resource's:
 * they start at 0 when the resource enters the lock table (someone locks
 * it while nobody holds or waits for it) and their figures move into the
 * totals when it leaves, as a Prometheus counter that resets.
 */
typedef struct prdshm_lock_metrics {
	uint32_t struct_size; /* sizeof(prdshm_lock_metrics), set by the caller */
	char resource[PRDSHM_NAME_MAX + 1]; /* "" for the totals */
	uint32_t resource_len;  /* the name may hold any byte but NUL */
	/* Grants: prdshm_lock() (each resource of prdshm_lock_many()) and
	 * prdshm_upgrade(), a thread's take-back of its own release included. */
	uint64_t acquisitions;
	/* Grants that had to wait (slept at least once): the sum of
	 * wait_buckets. */
	uint64_t contended;
	uint64_t timeouts;      /* requests that gave up at their deadline */
	uint64_t deadlocks;     /* requests refused with PRDSHM_EDEADLK */
	uint64_t wait_ns;       /* total wait of the contended grants */
	uint64_t wait_max_ns;   /* the longest of those waits */
	uint64_t wait_buckets[PRDSHM_WAIT_BUCKETS]; /* contended grants by wait */
	uint64_t reserved_[4];  /* new fields are taken from here */
} prdshm_lock_metrics;
#define PRDSHM_LOCK_METRICS_INIT { .struct_size = sizeof(prdshm_lock_metrics) }
#define PRDSHM_LOCK_METRICS_SIZE_1_1 PRDSHM__END_OF(prdshm_lock_metrics, wait_buckets)

/**
 * The lock metrics of the segment: its totals, and those of each resource
 * now in the lock table (held, waited for, or released but not collected
 * yet), in no particular order.  Counted in the segment by every process
 * (docs/design.md, "Metrics"): timeouts and deadlocks where the request
 * gives up, waits where they end; a crash inside a critical section may
 * lose the figures of what the repair drops.  (On ZooKeeper each session
 * counts its own, written with its agent record: docs/zookeeper.md, "Lock
 * metrics".)  Takes each partition mutex
 * with a short timeout, as prdshm_snapshot_take() does, and reads a
 * partition without it when it cannot be had in time, or with @p flags
 * PRDSHM_SNAP_NOLOCK (figures may then be torn).  Never blocks for long.
 * @param total (may be NULL) the whole segment's figures: those of the
 *        resources that left the table and of those in it.
 * @param out array of @p cap entries of out[0].struct_size bytes each (may
 *        be NULL when @p cap is 0); every entry written gets that
 *        struct_size.  @param n number of resources (may exceed cap; may
 *        change between two calls).
 * @return 0, or PRDSHM_EINVAL (NULL @p seg or @p n, NULL @p out with
 *         @p cap > 0, a struct_size below PRDSHM_LOCK_METRICS_SIZE_1_1).
 */
int prdshm_lock_metrics_get(prdshm_seg *seg, unsigned flags, prdshm_lock_metrics *total,
		      prdshm_lock_metrics *out, size_t cap, size_t *n);

/**
 * The longest prdshm_reap(), prdshm_recover() and prdshm_seg_unlink_unused()
 * wait, in all, for the segment's mutexes.  Their holders keep them for
 * microseconds; one held longer belongs to a process that is alive but
 * stuck inside the library (stopped by SIGSTOP or a debugger, for
 * instance): recovery then gives up with PRDSHM_ETIMEDOUT instead of waiting
 * for it.  (A holder that died is no obstacle: its mutex is repaired.)
 */
#define PRDSHM_RECOVER_WAIT_MS 2000

/**
 * Release the locks of every dead session, mark its agent DEAD and free its
 * slot.  Phases the dead agents held IN_PROGRESS are failed (or requeued while
 * attempts remain, or always when @p requeue is set), and so is any phase
 * IN_PROGRESS by no live session (one whose session was closed while it
 * held the phase: "agent <id> died").  Never waits more than
 * PRDSHM_RECOVER_WAIT_MS in all for a mutex.
 * @param report called once per action with a one-line description (may be
 *        NULL), in the order of the actions, by the calling thread, after
 *        the work is done and every segment mutex released: it may call the
 *        library on this segment (prdshm_lock_query(), a snapshot, a lock),
 *        and a slow one delays only its caller.  Its own calls do not change
 *        what prdshm_last_error() says of this one.
 * @param nreaped number of dead sessions reaped (may be NULL).
 * @return 0; PRDSHM_ERECOVER; PRDSHM_ETIMEDOUT (a live process held a mutex
 *         too long: prdshm_last_error() names the mutex and, as far as this
 *         process can see, the holder thread and whether it is alive or
 *         stopped; what was reaped stays reaped, the rest is left for the
 *         next call).
 */
int prdshm_reap(prdshm_seg *seg, int requeue,
		void (*report)(void *ctx, const char *line), void *ctx, size_t *nreaped);

/* ------------------------------------------------------------------------ */
/* Phases (lib/plan/)                                                       */

/**
 * Result of a claim: the phase handed to the caller.  Declare it with
 * PRDSHM_CLAIM_INIT (see "ABI" at the top).
 */
typedef struct prdshm_claim {
	uint32_t struct_size; /* sizeof(prdshm_claim), set by the caller */
	int32_t index;   /* phase index */
	char id[PRDSHM_ID_MAX + 1];
	uint32_t attempt; /* 1 for the first run */
	uint64_t reserved_[4]; /* new fields are taken from here */
} prdshm_claim;
#define PRDSHM_CLAIM_INIT { .struct_size = sizeof(prdshm_claim) }
#define PRDSHM_CLAIM_SIZE_1_0 PRDSHM__END_OF(prdshm_claim, attempt)

/**
 * Hand the session the best ready phase, atomically: dependencies
 * COMPLETED or SKIPPED, not taken, fewer than max_parallel_agents IN_PROGRESS, and in
 * waves mode only phases of the current wave (a new wave opens
 * wave_delay_seconds after the previous one finished).  Ready phases are
 * offered longest-remaining-path first.  The phase becomes IN_PROGRESS and
 * the agent BUSY.
 * Waits without limit for the phase mutex (see prdshm_phase_claim_timed()).
 * @return 0; PRDSHM_EWAIT (nothing ready now, others still running or a wave
 *         delay pending: wait and call again); PRDSHM_EDONE (all phases
 *         finished, or the rest is blocked: stop); PRDSHM_ERECOVER;
 *         PRDSHM_EINVAL (NULL @p out, out->struct_size below
 *         PRDSHM_CLAIM_SIZE_1_0: nothing claimed).
 */
int prdshm_phase_claim(prdshm_session *s, prdshm_claim *out);

/**
 * prdshm_phase_claim() waiting at most @p timeout_ms in all for the phase
 * mutex (it never waits for a phase to become ready: see prdshm_phase_wait()).
 * @param timeout_ms PRDSHM_TRY (a few milliseconds), a number of
 *        milliseconds, PRDSHM_WAIT_DEFAULT (lock_timeout_seconds) or
 *        PRDSHM_WAIT_FOREVER.
 * @return as prdshm_phase_claim(), and PRDSHM_EBUSY (PRDSHM_TRY) or
 *         PRDSHM_ETIMEDOUT: the phase mutex stayed held (by a process that is
 *         stopped or stuck); prdshm_last_error() names the mutex and the
 *         holder thread.  Nothing was claimed.  PRDSHM_EINVAL for a timeout
 *         below PRDSHM_WAIT_FOREVER.
 */
int prdshm_phase_claim_timed(prdshm_session *s, int64_t timeout_ms, prdshm_claim *out);

/**
 * Wait until a claim may succeed (a phase finished, a wave opened) or
 * @p timeout_ms passes (one second at most, also for a negative one).  Uses the
 * phase doorbell; never holds a mutex while sleeping, and waits for the
 * phase mutex no longer than @p timeout_ms either.
 * @return 0 (woken or timed out: call claim again); PRDSHM_EBUSY
 *         (@p timeout_ms 0) or PRDSHM_ETIMEDOUT: the phase mutex stayed held
 *         (a stopped holder, named by prdshm_last_error()); PRDSHM_EINTR (a
 *         signal handler ran during the wait, see prdshm_lock()).
 */
int prdshm_phase_wait(prdshm_session *s, int64_t timeout_ms);

/** Mark the session's IN_PROGRESS phase @p index COMPLETED.  @return 0,
 *  PRDSHM_ENOPHASE, PRDSHM_ETRANSITION (not IN_PROGRESS by this session). */
int prdshm_phase_complete(prdshm_session *s, int32_t index);

/**
 * Mark phase @p index FAILED with @p exit_status and @p message (truncated to
 * PRDSHM_MSG_MAX).  Its dependants become BLOCKED, transitively.
 */
int prdshm_phase_fail(prdshm_session *s, int32_t index, int exit_status,
		      const char *message);

/**
 * Move phase @p id to @p to by hand (prdshm-phase): retry (FAILED, CANCELLED,
 * BLOCKED -> QUEUED, unblocking dependants), cancel (-> CANCELLED), skip
 * (-> SKIPPED; counts as done for its dependants).  @p s may be NULL (the
 * transition is recorded as made by "operator").
 * @return 0; PRDSHM_ENOPHASE; PRDSHM_ETRANSITION (prdshm_last_error() names
 *         both states: "IN_PROGRESS -> QUEUED").
 */
int prdshm_phase_set(prdshm_seg *seg, prdshm_session *s, const char *id,
		     prdshm_phase_status to);

/** 1 if @p from -> @p to is in the transition table, else 0. */
int prdshm_phase_transition_allowed(prdshm_phase_status from, prdshm_phase_status to);

/** Record a heartbeat for the session's agent and its status. */
int prdshm_agent_heartbeat(prdshm_session *s);

/** Append a line (truncated to PRDSHM_MSG_MAX) to the agent's log ring. */
int prdshm_agent_log(prdshm_session *s, const char *line);

/* ------------------------------------------------------------------------ */
/* Snapshot (lib/ops/snapshot.c): a consistent copy for inspection.         */

typedef struct prdshm_agent_info {
	int32_t slot;
	char id[PRDSHM_ID_MAX + 1];
	int32_t pid;
	uint32_t uid;
	uint64_t start_ns;      /* session opened, CLOCK_REALTIME */
	uint64_t heartbeat_ns;
	prdshm_agent_status status;
	int alive;
	int32_t phase;          /* phase index, -1 if none */
	uint32_t nlog;          /* lines in log[], oldest first */
	char log[PRDSHM_LOG_LINES][PRDSHM_MSG_MAX + 1];
} prdshm_agent_info;

typedef struct prdshm_lock_info {
	char resource[PRDSHM_NAME_MAX + 1];
	size_t resource_len;    /* the name may hold any byte but NUL */
	prdshm_mode mode;       /* strongest mode held; 0 if only waiters */
	size_t nholders;        /* entries of holders[] that hold; the rest wait */
	size_t nrecords;
	/* Holders first, then waiters in FIFO order.  While someone waits, a
	 * hold let go without the mutex and not collected yet still blocks
	 * the waiters (until the next of them looks): it is listed among the
	 * holders with released = 1.  Without waiters it blocks nobody and is
	 * not listed. */
	prdshm_holder *holders;
} prdshm_lock_info;

typedef struct prdshm_phase_info {
	int32_t index;
	char id[PRDSHM_ID_MAX + 1];
	char *name;
	char **deps;
	size_t ndeps;
	char **outputs;
	size_t noutputs;
	char *command;          /* NULL if none */
	double estimated_minutes;
	prdshm_phase_status status;
	uint32_t wave;
	int32_t agent_slot;     /* -1 if none */
	char agent_id[PRDSHM_ID_MAX + 1];
	uint32_t attempts;
	int exit_status;
	uint64_t start_ns, end_ns;
	char message[PRDSHM_MSG_MAX + 1];
	char changed_by[PRDSHM_ID_MAX + 1]; /* who made the last transition */
	uint64_t changed_ns;
	double remaining;       /* longest remaining path (minutes) */
} prdshm_phase_info;

typedef struct prdshm_wave_info {
	uint32_t number;
	uint32_t nphases, ncompleted, nfailed, nrunning;
	uint64_t start_ns, end_ns; /* 0 if not started / not finished */
	const char *status;     /* "pending", "running", "done", "failed" */
} prdshm_wave_info;

typedef struct prdshm_snapshot {
	prdshm_seg_info seg;
	uint64_t taken_ns;
	int locked;             /* 0 if read without the mutexes (may be torn) */
	uint64_t run_start_ns, run_end_ns;
	uint32_t current_wave;
	size_t nagents;
	prdshm_agent_info *agents; /* slots ever used */
	size_t nlocks;
	prdshm_lock_info *locks;
	size_t nphases;
	prdshm_phase_info *phases;
	size_t nwaves;
	prdshm_wave_info *waves;
} prdshm_snapshot;

/** How to take a snapshot. */
#define PRDSHM_SNAP_NOLOCK 0x1 /* read without taking any mutex */

/**
 * Copy the whole state out.  Each mutex is taken with a short timeout and
 * held only while copying; a mutex that cannot be taken in time is skipped
 * and its part read without it (snap->locked = 0).  Never blocks for long; a
 * mutex whose holder died is repaired first, as by any locker.
 * @return 0, PRDSHM_ENOMEM, PRDSHM_ECORRUPT (the phase region's header is
 *         damaged).
 */
int prdshm_snapshot_take(prdshm_seg *seg, unsigned flags, prdshm_snapshot **out);
void prdshm_snapshot_free(prdshm_snapshot *snap);

/**
 * The host agent @p i of @p snap (snap->agents[i]) runs on, into @p buf
 * (cut to @p size bytes, terminated): on ZooKeeper the host name its
 * session recorded (gethostname()), "" for a dead holder whose record is
 * gone; on shared memory every agent shares this host's /dev/shm, so this
 * host's name.  (prdshm_agent_info has no room left for it: see "ABI".)
 * @return 0, or PRDSHM_EINVAL (NULL argument, @p size 0, @p i not below
 *         snap->nagents).
 */
int prdshm_snapshot_agent_host(const prdshm_snapshot *snap, size_t i, char *buf, size_t size);

/* ------------------------------------------------------------------------ */
/* Invariant check (lib/ops/check.c)                                        */

#define PRDSHM_CHECK_WARN 1  /* severity: recoverable (a dead holder) */
#define PRDSHM_CHECK_ERROR 2 /* severity: a broken invariant */

/**
 * Check every invariant of the segment; call @p report once per problem with
 * its severity, in the order found, by the calling thread, never while a
 * segment mutex is held (the problems found under a mutex are delivered
 * once it is released): @p report may call the library on this segment,
 * and its calls do not change what prdshm_last_error() says of this one.
 * Takes each mutex with a short timeout like a snapshot;
 * with @p flags PRDSHM_SNAP_NOLOCK it takes (and repairs) none, so it
 * returns even while a stopped process holds one, and a state torn by a
 * concurrent writer is reported as broken invariants.
 * @return 0 healthy; PRDSHM_EDEADOWNER (recoverable: dead sessions hold locks
 *         or IN_PROGRESS phases); PRDSHM_ECORRUPT (an invariant is broken);
 *         PRDSHM_ERECOVER (marked as needing recovery); PRDSHM_ENOMEM (no
 *         memory for the private copy of the phase region it checks).
 */
int prdshm_check(prdshm_seg *seg, unsigned flags,
		 void (*report)(void *ctx, int severity, const char *problem), void *ctx);

/**
 * Rebuild every derived structure from the authoritative records (as after a
 * crash inside a critical section), reap dead sessions and clear the
 * needs-recovery mark, unless the segment was marked again while it ran
 * (then the mark stays).  A mutex left unrecoverable is re-created.  One
 * recovery runs at a time per segment, across processes and threads.
 * Never waits more than PRDSHM_RECOVER_WAIT_MS in all, for another
 * recovery and for the mutexes.  @p report (may be NULL) is called as for
 * prdshm_reap(): once the recovery is over, holding no segment mutex.
 * @return 0; PRDSHM_ECORRUPT (cannot repair: the segment stays marked);
 *         PRDSHM_ERECOVER (the segment was marked again while this call
 *         ran, by another process: call again);
 *         PRDSHM_ETIMEDOUT (a live process held a mutex too long, as for
 *         prdshm_reap(), or another recovery ran that long: what was
 *         rebuilt stays rebuilt and the mark is left as it was; call again
 *         once that process is resumed or killed); PRDSHM_ESYS.
 */
int prdshm_recover(prdshm_seg *seg, void (*report)(void *ctx, const char *line), void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* PRDSHM_H */
