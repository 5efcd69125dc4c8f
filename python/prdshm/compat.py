"""The plan's own names over the segment, so that an agent written against
the plan (``core.resource_manager``, ``models.execution_state``) runs with
only its import changed:

    from prdshm.compat import FileLock, LockType

    with FileLock("src/app.py", "phase-1", LockType.EXCLUSIVE, timeout=30):
        ...

The locks are prdshm locks in the segment that :func:`prdshm.open` finds
(``PRD_PARALLEL_SHM_NAME`` / ./prdpar.yaml), opened once per process; pass
``segment=`` to use another.  A path is locked as written (normalised with
``os.path.normpath``), like the plan's ``outputs``, so a FileLock and
prdshm-agent's lock of the same output conflict.  The registry and the
execution state are read from the segment: every process sees the same.
"""
import enum
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from . import core, errors
from . import open as _open

__all__ = ["LockType", "FileLock", "ResourceLock", "LockRegistry", "LockConflict",
           "PhaseStatus", "ExecutionState", "AgentInfo", "default_segment"]

_default = None
_default_pid = None
_default_mutex = threading.Lock()


def default_segment():
    """The process's segment for the compat names (opened on first use)."""
    global _default, _default_pid
    with _default_mutex:
        if _default is None or _default_pid != os.getpid():
            _default = _open()
            _default_pid = os.getpid()
        return _default


class LockType(enum.Enum):
    """SHARED (read) or EXCLUSIVE (write)."""
    SHARED = "shared"
    EXCLUSIVE = "exclusive"


class LockConflict(errors.LockTimeout):
    """The plan's name for a lock not granted in time."""


def _resource(path):
    return os.path.normpath(os.fspath(path))


class FileLock:
    """A lock on a file path for a phase, with a timeout (seconds; None:
    the segment's lock_timeout_seconds).  ``acquire()`` returns True, or
    raises :class:`LockConflict` (a :class:`prdshm.LockTimeout`) naming
    the holder; ``acquire(blocking=False)`` returns False instead."""

    def __init__(self, path, phase_id, lock_type=LockType.EXCLUSIVE, timeout=None,
                 segment=None):
        self.path = _resource(path)
        self.phase_id = phase_id
        self.lock_type = LockType(lock_type)
        self.timeout = core.DEFAULT if timeout is None else timeout
        self._seg = segment
        self._lock = None
        self.acquired_at = None

    @property
    def segment(self):
        return self._seg or default_segment()

    def acquire(self, blocking=True, timeout=None):
        """Take the lock, waiting up to @timeout seconds (None: the
        FileLock's own timeout); see the class."""
        t = self.timeout if timeout is None else timeout
        lk = self.segment.lock(self.path, self.lock_type is LockType.SHARED, t,
                               self.phase_id)
        try:
            lk._acquire(t if blocking else 0)
        except errors.LockTimeout as e:
            if not blocking:
                return False
            c = LockConflict(e.code, e.detail, str(e))
            c.resource, c.holders = e.resource, e.holders
            raise c from None
        self._lock, self.acquired_at = lk, time.time()
        return True

    def release(self):
        """Let it go (NotHeld if not held)."""
        if self._lock is None:
            raise errors.NotHeld(errors.CODES["ENOTHELD"], "%s is not locked" % self.path)
        lk, self._lock = self._lock, None
        lk.release()

    @property
    def is_locked(self):
        return self._lock is not None and self._lock.locked()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        if self._lock is not None:
            self.release()


@dataclass
class ResourceLock:
    """One holder of a resource: the plan's ResourceLock."""
    resource_path: str
    owner_phase: Optional[str]
    lock_time: Optional[str]
    lock_type: LockType
    agent_id: str = ""
    pid: int = 0


class LockRegistry:
    """Every active lock, as the segment records it (one registry per
    process; the data is the segment's, shared by all)."""

    _instance = None

    @classmethod
    def get_instance(cls, segment=None):
        if cls._instance is None or segment is not None:
            cls._instance = cls(segment)
        return cls._instance

    def __init__(self, segment=None):
        self._seg = segment

    @property
    def segment(self):
        return self._seg or default_segment()

    def active_locks(self) -> List[ResourceLock]:
        """One ResourceLock per holder of every resource in the segment."""
        out = []
        for lk in self.segment.state()["locks"]:
            for h in lk["holders"]:
                out.append(ResourceLock(lk["resource"], h["phase"], h["since"],
                                        LockType(h["mode"]), h["agent"], h["pid"]))
        return out

    def is_locked(self, path) -> bool:
        """True if anyone holds (or waits for) @path."""
        return bool(self.segment.holders(_resource(path)))

    def detect_conflicts(self, phase_id, paths, lock_type=LockType.EXCLUSIVE):
        """The locks held by other phases that a request of @phase_id for
        @paths in @lock_type would wait for: a list of ResourceLock."""
        mode = LockType(lock_type).value
        out = []
        for p in paths:
            for h in self.segment.holders(_resource(p), blocking=mode):
                if h.phase != phase_id or not h.phase:
                    out.append(ResourceLock(_resource(p), h.phase or None, None,
                                            LockType(h.mode), h.agent, h.pid))
        return out


class PhaseStatus(enum.Enum):
    """The phase statuses of the plan, as the segment stores them."""
    NOT_STARTED = "NOT_STARTED"
    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    BLOCKED = "BLOCKED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"


@dataclass
class AgentInfo:
    """An agent: the plan's AgentInfo, read from the segment."""
    agent_id: str
    assigned_phase: Optional[str] = None
    status: str = "IDLE"
    logs: List[str] = field(default_factory=list)


@dataclass
class ExecutionState:
    """The execution state of the whole plan (the plan's ExecutionState),
    a snapshot of the segment: ``ExecutionState.load()``."""
    phase_states: Dict[str, PhaseStatus] = field(default_factory=dict)
    waves: List[dict] = field(default_factory=list)
    agents: Dict[str, AgentInfo] = field(default_factory=dict)
    start_time: Optional[str] = None
    end_time: Optional[str] = None

    @classmethod
    def load(cls, segment=None):
        doc = (segment or default_segment()).state()
        return cls(
            phase_states={p["id"]: PhaseStatus(p["status"]) for p in doc["phases"]},
            waves=doc["waves"],
            agents={a["id"]: AgentInfo(a["id"], a["phase"], a["status"], a["log"])
                    for a in doc["agents"]},
            start_time=doc["segment"]["run_start"], end_time=doc["segment"]["run_end"])

    def get_phase_status(self, phase_id) -> PhaseStatus:
        """The status of phase @phase_id (KeyError if none)."""
        return self.phase_states[phase_id]

    def phases_in(self, status) -> List[str]:
        """The ids of the phases in @status (a PhaseStatus or its name)."""
        return [p for p, s in self.phase_states.items() if s is PhaseStatus(status)]

    @property
    def is_complete(self):
        return all(s in (PhaseStatus.COMPLETED, PhaseStatus.SKIPPED)
                   for s in self.phase_states.values())
