"""Agents and phases: join the plan, claim a phase, complete or fail it.

    with seg.join("agent-1") as agent:
        while (claim := agent.claim()) is not None:
            with agent.lock_many(claim.outputs, phase=claim.id):
                ok = run(claim.command)
            if ok:
                agent.complete(claim)
            else:
                agent.fail(claim, 1, "command failed")

An :class:`Agent` has its own library session (one slot of the agents
table): its phases and locks are its own, and when its process dies the
kernel says so and the phase is failed or requeued by whoever reaps it.
"""
import os
import time
import types
from dataclasses import dataclass, field

from ._prdshm import ffi, lib
from .core import Lock, LockSet, _b, _s, wait_call
from .errors import CODES, PhaseError, raise_for

__all__ = ["Agent", "Claim", "PHASE_STATUSES"]

EWAIT, EDONE, EBUSY = CODES["EWAIT"], CODES["EDONE"], CODES["EBUSY"]
ETIMEDOUT = CODES["ETIMEDOUT"]

#: The phase statuses, in the library's order (their stored values).
PHASE_STATUSES = tuple(ffi.string(lib.prdshm_phase_status_name(i)).decode()
                       for i in range(8))


@dataclass
class Claim:
    """A phase handed to an agent: its index and id, which run this is
    (``attempt``, 1 for the first), and its definition from the plan."""

    index: int
    id: str
    attempt: int
    name: str = ""
    command: str = None
    outputs: list = field(default_factory=list)
    dependencies: list = field(default_factory=list)


class _Session:
    """Stands in for the per-thread session of a Segment: an Agent's locks
    all belong to the agent's one session."""

    def __init__(self, seg, session):
        self._seg_obj = seg
        self._s = session
        self._local = types.SimpleNamespace(session=session)

    def _session(self):
        return self._s

    def __getattr__(self, name):
        return getattr(self._seg_obj, name)


class Agent:
    """An agent of the plan (:meth:`prdshm.Segment.join`).  A context
    manager: leaving it closes the session (its locks are released and the
    agent is marked EXITED)."""

    def __init__(self, seg, agent_id=None):
        self.segment = seg
        self.id = agent_id or "py-%d" % os.getpid()
        out = ffi.new("prdshm_session **")
        raise_for(lib.prdshm_session_open(seg._handle(), _b(self.id), 0, out))
        self._s = out[0]
        self._view = _Session(seg, self._s)
        seg._agents.add(self)
        #: True once claim() found nothing left to claim in the plan.
        self.done = False

    def claim(self, wait=True, timeout=None):
        """The next ready phase, as a :class:`Claim`, now IN_PROGRESS for
        this agent; None when there is none.  With ``wait``, a plan where
        nothing is ready yet is waited for (up to ``timeout`` seconds,
        None: until something is ready or the plan is done).  After a None,
        ``agent.done`` tells whether the plan has nothing left to claim
        (True) or nothing was ready in time (False)."""
        c = ffi.new("prdshm_claim *")
        c.struct_size = ffi.sizeof("prdshm_claim")
        seg = self.segment
        self.done = False
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            # Bounded by the time left: a stopped holder of the phase mutex
            # ends the claim (None) instead of hanging it.
            left = None if end is None else end - time.monotonic()
            ms = lib.PRDSHM_WAIT_FOREVER if left is None else max(1, int(left * 1000))
            rc = lib.prdshm_phase_claim_timed(self._s, ms, c)
            if rc == 0:
                return self._claim(c)
            if rc == ETIMEDOUT:
                return None
            if rc == EDONE:
                self.done = True
                return None
            if rc == EBUSY:
                # The agent runs a phase already: not a lock's Busy.
                raise PhaseError(rc, ffi.string(lib.prdshm_last_error()).decode())
            if rc != EWAIT:
                raise_for(rc)
            left = None if end is None else end - time.monotonic()
            if not wait or (left is not None and left <= 0):
                return None
            # Each library wait lasts at most a second: heartbeat between.
            raise_for(wait_call(lambda ms: lib.prdshm_phase_wait(self._s, ms), left, seg))
            lib.prdshm_agent_heartbeat(self._s)

    def _claim(self, c):
        cl = Claim(c.index, _s(c.id), c.attempt)
        for p in self.segment.state()["phases"]:
            if p["index"] == c.index:
                cl.name, cl.command = p["name"], p["command"]
                cl.outputs, cl.dependencies = p["outputs"], p["dependencies"]
        return cl

    def complete(self, claim):
        """Mark the claimed phase COMPLETED."""
        raise_for(lib.prdshm_phase_complete(self._s, _index(claim)))

    def fail(self, claim, exit_status=1, message=""):
        """Mark the claimed phase FAILED (its dependants become BLOCKED)."""
        raise_for(lib.prdshm_phase_fail(self._s, _index(claim), int(exit_status),
                                        _b(message or "", "message")))

    def cancel(self, claim):
        """Mark the claimed phase CANCELLED (an agent told to stop)."""
        raise_for(lib.prdshm_phase_set(self.segment._handle(), self._s,
                                       _b(claim.id if isinstance(claim, Claim) else claim),
                                       PHASE_STATUSES.index("CANCELLED")))

    def unlock_all(self):
        """Release every lock this agent holds.  @return how many."""
        n = ffi.new("size_t *")
        raise_for(lib.prdshm_unlock_all(self._s, n))
        return n[0]

    def heartbeat(self):
        """Record that the agent is alive and working."""
        raise_for(lib.prdshm_agent_heartbeat(self._s))

    def log(self, line):
        """Append a line to the agent's log ring (``prdshm-inspect``)."""
        raise_for(lib.prdshm_agent_log(self._s, _b(line, "line")))

    def lock(self, resource, shared=False, timeout=None, phase=None):
        """A :class:`prdshm.Lock` owned by this agent's session."""
        return Lock(self._view, resource, shared, timeout, phase)

    def lock_many(self, resources, shared=False, timeout=None, phase=None):
        """A :class:`prdshm.LockSet` owned by this agent's session."""
        return LockSet(self._view, resources, shared, timeout, phase)

    def close(self):
        """Release the agent's locks, mark it EXITED, free its slot.  Also
        done by the segment's close(), and when the Agent is dropped."""
        if self._s is not None:
            s, self._s = self._s, None
            lib.prdshm_session_close(s)

    def _abandon(self):
        # A forked child: the session is the parent's.
        if self._s is not None:
            s, self._s = self._s, None
            lib.prdshm_session_abandon(s)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _index(claim):
    return claim.index if isinstance(claim, Claim) else int(claim)
