"""prdshm: cross-process locks and a phase scheduler over POSIX shared memory.

The Python binding of libprdshm (lib/prdshm.h).  Locks live in one shared
memory segment: acquiring and releasing one costs no system call when
uncontended (well under a microsecond from Python), a dead holder's locks are
free to others at once (the kernel reports the death), and deadlocks are
detected.

    import prdshm

    with prdshm.open() as seg:                     # PRD_PARALLEL_SHM_NAME / prdpar.yaml
        with seg.lock("build/out.txt", timeout=30):    # EXCLUSIVE
            ...
        with seg.lock("docs/spec.md", shared=True):    # SHARED
            ...

Main names:
  open(), create(), unlink()      attach to, make or remove a segment
  Segment.lock(), .lock_many()    Lock / LockSet: context managers, and
                                  acquire()/release() like threading.Lock
  Lock.upgrade(), .downgrade()    SHARED <-> EXCLUSIVE
  Segment.holders()               who holds or waits for a resource
  Segment.alock()                 ``async with`` for asyncio
  Segment.join()                  an Agent: claim(), complete(), fail()
  Segment.state()                 the ``prdshm-inspect --json`` document
  Error and its subclasses        prdshm.errors (LockTimeout is a TimeoutError)
  prdshm.compat                   the plan's FileLock, LockType, PhaseStatus...

Waits release the GIL and are interruptible: Ctrl-C during a wait raises
KeyboardInterrupt and leaves no waiting record behind.
"""
import os as _os

from . import errors
from ._prdshm import ffi as _ffi, lib as _lib
from .core import DEFAULT, FOREVER, Holder, Lock, LockSet, Segment
from .errors import (AlreadyHeld, Busy, ConfigError, CorruptSegment, Deadlock, Error,
                     Interrupted, InvalidArgument, InvalidName, LockTimeout, NoSegment,
                     NotHeld, PermissionDenied, PhaseError, SegmentExists, TableFull)
from .phases import Agent, Claim

__all__ = [
    "open", "create", "unlink", "version", "Segment", "Lock", "LockSet", "Holder",
    "Agent", "Claim", "DEFAULT", "FOREVER", "Error", "LockTimeout", "Busy", "Deadlock",
    "TableFull", "NoSegment", "SegmentExists", "CorruptSegment", "PermissionDenied",
    "InvalidName", "InvalidArgument", "ConfigError", "NotHeld", "AlreadyHeld",
    "PhaseError", "Interrupted",
]

__version__ = _ffi.string(_lib.prdshm_version()).decode()
_FROM_CMDLINE = 3  # prdshm_origin PRDSHM_FROM_CMDLINE


def version():
    """The C library's version string, e.g. ``"0.1.0"``."""
    return __version__


class _Config:
    """A loaded ``prdshm_config`` (freed on exit)."""

    def __init__(self, path, name, explicit, settings=None):
        self.cfg = _ffi.new("prdshm_config *")
        self.diag = _ffi.new("prdshm_diag *")
        self.diag.struct_size = _ffi.sizeof("prdshm_diag")  # see prdshm.h, "ABI"
        _lib.prdshm_config_init(self.cfg)
        try:
            if path is None or not (explicit or _os.path.exists(path)):
                # Defaults and the environment, no file.
                self._check(_lib.prdshm_config_apply_env(self.cfg, self.diag))
            else:
                self._check(_lib.prdshm_config_load(self.cfg, _os.fsencode(path), self.diag))
            for key, value in dict(settings or {}, **({"shm_name": name} if name else {})).items():
                self._check(_lib.prdshm_config_set(self.cfg, key.encode(),
                                                   str(value).encode(), _FROM_CMDLINE,
                                                   self.diag))
        except BaseException:
            _lib.prdshm_config_free(self.cfg)
            raise

    def _check(self, rc):
        if rc < 0:
            d = self.diag
            where = _ffi.string(d.file).decode(errors="replace")
            msg = _ffi.string(d.msg).decode(errors="replace")
            if where and d.line:
                msg = "%s:%d:%d: %s" % (where, d.line, d.column, msg)
            raise errors.error_for(rc, msg or None)

    @property
    def shm_name(self):
        return _ffi.string(self.cfg.shm_name).decode()

    def get(self, key):
        buf = _ffi.new("char[]", 1024)
        if _lib.prdshm_config_get(self.cfg, key.encode(), buf, 1024) < 0:
            return None
        return _ffi.string(buf).decode(errors="replace")

    @property
    def backend(self):
        """The segment's place, as prdshm-inspect --json names it:
        {"backend": "shm"} or {"backend": "zookeeper", "zookeeper":
        {"hosts": ..., "root": ...}}."""
        if self.get("backend") != "zookeeper":
            return {"backend": "shm"}
        return {"backend": "zookeeper", "zookeeper": {"hosts": self.get("zookeeper.hosts"),
                                                      "root": self.get("zookeeper.root")}}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _lib.prdshm_config_free(self.cfg)


def open(name=None, config=None, agent_id=None):
    """Attach to an existing segment and return a :class:`Segment`.

    ``name`` ("/prdpar") wins; otherwise it comes from the configuration as
    the tools read it: ``config`` (a prdpar.yaml path; by default
    ./prdpar.yaml if it exists), then ``PRD_PARALLEL_SHM_NAME``.  With a
    configured ``shm_group`` a group-shared segment is trusted.
    ``agent_id`` names this process's sessions (default ``py-<pid>``).
    @raise NoSegment, PermissionDenied (another user's segment, or one that
    others may write), CorruptSegment, ConfigError."""
    path, explicit = config or "prdpar.yaml", config is not None
    with _Config(path, name, explicit) as c:
        shm = c.shm_name
        backend = c.backend
    seg = Segment(shm, agent_id, _cfg_open=_opener(path, name, explicit))
    seg._backend = backend
    return seg


def _opener(path, name, explicit, settings=None):
    """Attach through the configuration each time (a forked child
    re-attaches): prdshm_seg_open_cfg() trusts the configured shm_group."""
    def opener(out):
        with _Config(path, name, explicit, settings) as c:
            return _lib.prdshm_seg_open_cfg(c.cfg, out)
    return opener


def create(config="prdpar.yaml", name=None, force=False, agent_id=None, **settings):
    """Create the segment of configuration ``config`` (its limits and its
    plan of phases; the built-in defaults and no plan if the default
    prdpar.yaml does not exist, or with ``config=None``) and return it
    attached.  ``name`` overrides the configured shm_name, and keyword
    ``settings`` any other key (``max_locks=64, deadlock_timeout_ms=200``),
    as the tools' command-line options do.  With ``force``, an existing
    segment of that name is removed first, unless live agents use it (then
    Error EINUSE).  @raise SegmentExists, ConfigError, PermissionDenied."""
    explicit = config not in ("prdpar.yaml", None)
    with _Config(config, name, explicit, settings) as c:
        if force:
            # As configured: a segment shared with shm_group opens for its owner.
            rc = _lib.prdshm_seg_unlink_unused_cfg(c.cfg)
            if rc < 0 and rc != errors.CODES["ENOENT"]:
                errors.raise_for(rc)
        c._check(_lib.prdshm_config_validate(c.cfg, c.diag))
        out = _ffi.new("prdshm_seg **")
        errors.raise_for(_lib.prdshm_seg_create(c.cfg, out))
        shm = c.shm_name
        backend = c.backend
    _lib.prdshm_seg_close(out[0])
    seg = Segment(shm, agent_id, _cfg_open=_opener(config, name, explicit, settings))
    seg._backend = backend
    return seg


def unlink(name, force=False):
    """Remove segment ``name``: only if no live agent uses it, or with
    ``force`` unconditionally (attached processes keep their mapping)."""
    fn = _lib.prdshm_seg_unlink if force else _lib.prdshm_seg_unlink_unused
    errors.raise_for(fn(_os.fsencode(name)))
