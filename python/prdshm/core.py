"""Segments, sessions and locks: the heart of the binding.

A :class:`Segment` is one attached prdshm segment.  Lock ownership belongs
to a library *session*; the binding opens one session per thread that uses
the segment (lazily), so two threads of one process exclude each other like
two processes do, as ``threading.Lock`` users expect.  A :class:`Lock`
remembers the session it was granted to, so another thread may release it.

Every wait releases the GIL (cffi does so around each call) and is
interruptible: a signal whose handler runs during the wait makes the
library withdraw the request and return ``PRDSHM_EINTR``; the binding then
lets Python run its handlers (Ctrl-C raises ``KeyboardInterrupt`` there)
and, if none raised, waits again for the time that is left: PEP 475's rule
for system calls, and ``threading.Lock.acquire()``'s.  To stop a wait from a
handler, raise from it (or wait in slices and check a flag between them, as
examples/agent.py does).
"""
import asyncio
import concurrent.futures
import math
import os
import threading
import time
import weakref
from dataclasses import dataclass

from . import errors
from ._prdshm import ffi, lib
from .errors import CODES, Busy, LockTimeout, NotHeld, error_for, raise_for

__all__ = ["Segment", "Lock", "LockSet", "Holder", "DEFAULT", "FOREVER"]

EINTR = CODES["EINTR"]
ETIMEDOUT = CODES["ETIMEDOUT"]
EBUSY = CODES["EBUSY"]

#: timeout: the segment's lock_timeout_seconds (the library's default wait).
DEFAULT = "default"
#: timeout: wait as long as it takes (deadlocks are still detected).
FOREVER = None

SHARED, EXCLUSIVE = lib.PRDSHM_SHARED, lib.PRDSHM_EXCLUSIVE
_MODE_NAMES = {SHARED: "shared", EXCLUSIVE: "exclusive"}


def _s(p):
    return ffi.string(p).decode("utf-8", "replace") if p != ffi.NULL else ""


def _b(text, what="name"):
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogateescape")
    elif not isinstance(text, bytes):
        raise TypeError("%s must be str or bytes, not %s" % (what, type(text).__name__))
    if b"\0" in text:
        # C strings end at the first NUL: the library would see another name.
        raise errors.InvalidName(CODES["ENAME"], "%s %r contains a NUL byte" % (what, text))
    return text


@dataclass(frozen=True)
class Holder:
    """One holder or waiter of a resource (``prdshm_holder``).

    ``mode`` is ``"shared"`` or ``"exclusive"``; ``waiting`` is False for a
    holder; ``alive`` is the kernel's word on its session; ``since`` is a
    Unix time (when granted, or when it began waiting)."""

    agent: str
    phase: str
    pid: int
    slot: int
    mode: str
    waiting: bool
    alive: bool
    since: float

    def __str__(self):
        what = "waits for it" if self.waiting else "holds it"
        phase = ", phase %s" % self.phase if self.phase else ""
        dead = "" if self.alive else ", dead"
        return "agent %s (pid %d%s%s) %s %s" % (self.agent, self.pid, phase, dead,
                                                what, self.mode)


def _holder(h):
    return Holder(_s(h.agent_id), _s(h.phase_id), h.pid, h.slot,
                  _MODE_NAMES.get(h.mode, "?"), bool(h.waiting), bool(h.alive),
                  h.since_ns / 1e9)


class _Deadline:
    """A timeout as the library wants it, re-computed after each EINTR."""

    def __init__(self, timeout, seg):
        if timeout == DEFAULT:
            timeout = seg.info()["lock_timeout_seconds"]
        self.timeout = timeout
        self.forever = timeout is None or timeout < 0
        self.end = None if self.forever else time.monotonic() + timeout

    def ms(self):
        if self.forever:
            return lib.PRDSHM_WAIT_FOREVER
        if self.timeout == 0:
            return lib.PRDSHM_TRY
        return max(1, math.ceil((self.end - time.monotonic()) * 1000))


def _quick_ms(timeout):
    """The library's timeout when no deadline needs keeping across retries
    (as long as it takes, or a try); None otherwise."""
    if timeout is None:
        return lib.PRDSHM_WAIT_FOREVER
    if timeout == DEFAULT:
        return None
    if timeout < 0:
        return lib.PRDSHM_WAIT_FOREVER
    return lib.PRDSHM_TRY if timeout == 0 else None


def _acquire_bool(lock, blocking, timeout):
    """``threading.Lock.acquire`` semantics over ``lock._acquire(timeout)``,
    which raises LockTimeout when the lock was not granted in time."""
    if not blocking:
        if timeout not in (-1, None):
            raise ValueError("can't specify a timeout for a non-blocking call")
        timeout = 0
    try:
        lock._acquire(timeout)
    except LockTimeout:
        return False
    return True


def wait_call(fn, timeout, seg):
    """Call ``fn(timeout_ms)`` (a library wait) until it is not interrupted.

    After ``PRDSHM_EINTR`` the C-level handler has run; the call to
    ``_signals()`` below lets the interpreter run the Python-level handler,
    which raises ``KeyboardInterrupt`` for Ctrl-C.  A handler that returns
    means: wait again, for what is left of the timeout."""
    d = _Deadline(timeout, seg)
    while True:
        rc = fn(d.ms())
        if rc != EINTR:
            return rc
        _signals()


def _signals():
    # Any Python-level call gives the interpreter its chance to run pending
    # signal handlers; this one is documented to do nothing else.
    time.sleep(0)


_live = weakref.WeakSet()


def _after_fork_in_child():
    global _executor
    for seg in list(_live):
        seg._forked()
    _executor = None  # its threads stayed in the parent


os.register_at_fork(after_in_child=_after_fork_in_child)


class Segment:
    """An attached segment.  Use :func:`prdshm.open` or :func:`prdshm.create`.

    A context manager: ``with prdshm.open() as seg:`` closes it (and every
    session the binding opened on it, releasing their locks) at the end.

    fork(): a child does not inherit its parent's locks or sessions.  In the
    child, the segment re-attaches itself on first use and opens new
    sessions; the parent's locks stay the parent's (a :class:`Lock` held by
    the parent is not held in the child).
    """

    def __init__(self, name, agent_id=None, _cfg_open=None):
        self.name = name
        self.agent_id = agent_id
        self._cfg_open = _cfg_open
        self._backend = {"backend": "shm"}  # open() and create() say otherwise
        self._mutex = threading.Lock()
        self._local = threading.local()
        self._sessions = []
        self._spare = []
        self._agents = weakref.WeakSet()  # joined: closed before we detach
        self._gen = 0
        self._seg = None
        self._attach()
        _live.add(self)

    # ---- handles --------------------------------------------------------

    def _attach(self):
        out = ffi.new("prdshm_seg **")
        if self._cfg_open is not None:
            raise_for(self._cfg_open(out))
        else:
            raise_for(lib.prdshm_seg_open(_b(self.name), out))
        self._seg = out[0]
        self._pid = os.getpid()

    def _forked(self):
        # The child must not act for its parent: forget the handles without
        # touching the segment (the parent keeps its sessions and locks).
        for a in list(self._agents):
            a._abandon()
        for s in self._sessions:
            lib.prdshm_session_abandon(s)
        self._sessions, self._spare = [], []
        self._local = threading.local()
        self._mutex = threading.Lock()
        self._gen += 1
        if self._seg is not None:
            lib.prdshm_seg_close(self._seg)
            self._seg = None
        self._pid = None

    def _handle(self):
        if self._seg is None:
            if self._pid is None:
                self._attach()  # a forked child's first use
            else:
                raise ValueError("segment %s is closed" % self.name)
        return self._seg

    def session_id(self):
        """The agent id of this thread's session."""
        self._session()
        return self._local.agent_id

    def session_env(self):
        """The value of ``PRDSHM_PARENT_SESSION`` that makes the sessions of
        a command this thread starts, and waits for while it holds its
        locks, act for this thread's session (nested locks, prdshm.h): put
        it in the command's environment.  "" on a backend without nested
        locks (ZooKeeper, for now)."""
        buf = ffi.new("char[]", lib.PRDSHM_PARENT_ENV_MAX)
        raise_for(lib.prdshm_session_env(self._session(), buf, len(buf)))
        return _s(buf)

    def _session(self, ms=None):
        """This thread's session, opened on first use.  ``ms`` bounds the
        wait for the session mutex (a stopped holder fails it with
        LockTimeout/Busy instead of hanging the caller)."""
        s = getattr(self._local, "session", None)
        if s is not None:
            return s
        seg = self._handle()
        with self._mutex:
            n = len(self._sessions)
            base = self.agent_id or "py-%d" % os.getpid()
            aid = base if n == 0 else "%s.%d" % (base, n)
            out = ffi.new("prdshm_session **")
            raise_for(lib.prdshm_session_open_timed(
                seg, _b(aid), 0, lib.PRDSHM_WAIT_FOREVER if ms is None else ms, out))
            self._sessions.append(out[0])
        self._local.session = out[0]
        self._local.agent_id = aid
        return out[0]

    def _borrow(self):
        """A session of its own for one asyncio lock: tasks of one thread
        are separate owners.  Kept for reuse by _give_back()."""
        with self._mutex:
            if self._spare:
                return self._spare.pop()
            seg = self._handle()
            aid = "%s.a%d" % (self.agent_id or "py-%d" % os.getpid(), len(self._sessions))
            out = ffi.new("prdshm_session **")
            raise_for(lib.prdshm_session_open(seg, _b(aid), 0, out))
            self._sessions.append(out[0])
            return out[0]

    def _give_back(self, s):
        with self._mutex:
            if s in self._sessions:
                self._spare.append(s)

    def close(self):
        """Close every session the binding opened (their locks are released)
        and detach.  Idempotent."""
        for a in list(self._agents):
            a.close()  # its session lives in our mapping
        with self._mutex:
            for s in self._sessions:
                lib.prdshm_session_close(s)
            self._sessions, self._spare = [], []
            self._local = threading.local()
            if self._seg is not None:
                lib.prdshm_seg_close(self._seg)
            self._seg = None
            self._pid = os.getpid()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # Unreachable: no Lock or Agent refers to it any more, so no thread
        # can be inside the library with its sessions.  Give the agents
        # table its slots back.
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<prdshm.Segment %s%s>" % (self.name, "" if self._seg else " closed")

    # ---- locks ----------------------------------------------------------

    def lock(self, resource, shared=False, timeout=None, phase=None):
        """A :class:`Lock` on ``resource`` (str or bytes, 1..255 bytes).

        ``with seg.lock("out/report.md"):`` waits up to ``timeout`` seconds
        (None: as long as it takes; 0: not at all; :data:`DEFAULT`: the
        segment's lock_timeout_seconds) and raises :class:`LockTimeout`
        naming the holders if it is not granted.  ``phase`` is recorded
        with the lock for inspection.  Nothing is acquired until
        ``__enter__`` or :meth:`Lock.acquire`."""
        return Lock(self, resource, shared, timeout, phase)

    def lock_many(self, resources, shared=False, timeout=None, phase=None):
        """A :class:`LockSet`: all of ``resources`` or none, taken in a
        canonical order so that two callers asking for overlapping sets do
        not deadlock each other.  ``timeout`` bounds the whole call."""
        return LockSet(self, resources, shared, timeout, phase)

    def holders(self, resource, blocking=None):
        """Who holds or waits for ``resource``: a list of :class:`Holder`,
        holders first, then waiters in FIFO order.  With ``blocking`` =
        ``"shared"`` or ``"exclusive"``, only the records that would block a
        new request in that mode (who blocks whom)."""
        mode = {None: 0, "shared": SHARED, "exclusive": EXCLUSIVE}[blocking]
        cap = 16
        while True:
            out = ffi.new("prdshm_holder[]", cap)
            out[0].struct_size = ffi.sizeof("prdshm_holder")  # the array's stride
            n = ffi.new("size_t *")
            raise_for(lib.prdshm_lock_query(self._handle(), _b(resource), mode, out, cap, n))
            if n[0] <= cap:
                return [_holder(out[i]) for i in range(n[0])]
            cap = n[0]

    def alock(self, resource, shared=False, timeout=None, phase=None):
        """``async with seg.alock(name):`` -- :meth:`lock` for asyncio.  The
        wait runs in a worker thread, so the event loop keeps running; a
        cancelled waiter gives the lock back as soon as its wait ends."""
        return AsyncLock(self.lock(resource, shared, timeout, phase))

    # ---- the segment as a whole -----------------------------------------

    def info(self):
        """The segment's facts and stored configuration, as a dict."""
        si = ffi.new("prdshm_seg_info *")
        si.struct_size = ffi.sizeof("prdshm_seg_info")
        raise_for(lib.prdshm_seg_info_get(self._handle(), si))
        keys = ("size", "format", "layout_hash", "max_locks", "max_phases", "max_agents",
                "nparts", "max_parallel_agents", "lock_timeout_seconds",
                "wave_delay_seconds", "conflict_retry_attempts",
                "monitoring_update_interval", "phase_max_attempts", "deadlock_timeout_ms")
        d = {k: getattr(si, k) for k in keys}
        d.update(name=_s(si.shm_name), created=si.created_ns / 1e9,
                 needs_recovery=bool(si.needs_recovery),
                 scheduling="eager" if si.scheduling == 1 else "waves")
        return d

    def state(self):
        """The whole state: the document ``prdshm-inspect --json`` prints, as
        dicts and lists (docs/json-schema.md; times are ISO-8601 strings)."""
        from .state import state
        return state(self._handle(), self._backend)

    def check(self):
        """The invariant check: a list of ``(severity, message)``, severity
        ``"warning"`` (a dead agent holds something) or ``"error"``; empty
        when healthy."""
        from .state import check
        return check(self._handle())[1]

    def reap(self):
        """Release what dead sessions hold (as ``prdshm-cleanup`` does).
        @return the number of dead sessions reaped."""
        n = ffi.new("size_t *")
        raise_for(lib.prdshm_reap(self._handle(), 0, ffi.NULL, ffi.NULL, n))
        return n[0]

    def join(self, agent_id=None):
        """Join the plan as an agent: a :class:`prdshm.Agent` with its own
        session, to claim phases and run them."""
        from .phases import Agent
        return Agent(self, agent_id)


class Lock:
    """A lock on one resource, in the style of ``threading.Lock``.

    Not reentrant: acquiring it again while held raises
    :class:`prdshm.AlreadyHeld`.  Made by :meth:`Segment.lock`."""

    def __init__(self, seg, resource, shared=False, timeout=None, phase=None):
        self.segment = seg
        self.resource = resource
        self._name = _b(resource)
        self.shared = bool(shared)
        self.timeout = timeout
        self.phase = phase
        self._phase = _b(phase, "phase") if phase else ffi.NULL
        self._session = None
        self._gen = -1

    @property
    def _mode(self):
        return SHARED if self.shared else EXCLUSIVE

    def acquire(self, blocking=True, timeout=None):
        """Acquire; like ``threading.Lock.acquire``: ``blocking=False`` tries
        once, ``timeout`` is in seconds (None or -1: as long as it takes;
        :data:`DEFAULT`: the segment's lock_timeout_seconds).
        @return True if granted, False if not granted in time.
        @raise prdshm.Deadlock, prdshm.InvalidName, prdshm.TableFull, ..."""
        return _acquire_bool(self, blocking, timeout)

    def _acquire(self, timeout, session=None):
        seg = self.segment
        # The usual calls go straight to the library: a lock taken and
        # released in a loop costs about what fcntl.flock() does.
        ms = _quick_ms(timeout)
        s = session or getattr(seg._local, "session", None)
        if s is None:
            s = self._open_session(seg, ms, timeout)
        mode, phase = self._mode, self._phase
        rc = None if ms is None else lib.prdshm_lock(s, self._name, mode, ms, phase)
        if rc is None or rc == EINTR:
            if rc == EINTR:
                _signals()
            rc = wait_call(lambda ms: lib.prdshm_lock(s, self._name, mode, ms, phase),
                           timeout, seg)
        if rc == 0:
            self._session, self._gen = s, seg._gen
            return
        if rc in (ETIMEDOUT, EBUSY):
            raise self._timeout_error(rc, timeout)
        raise_for(rc)

    def _open_session(self, seg, ms, timeout):
        """The thread's first session, opened within the lock's own bound."""
        if ms is None:
            left = seg.info()["lock_timeout_seconds"] if timeout == DEFAULT else timeout
            ms = max(1, int(left * 1000))
        try:
            return seg._session(ms)
        except (LockTimeout, errors.Busy) as e:
            raise self._timeout_error(e.code, timeout) from None

    def _timeout_error(self, rc, timeout):
        detail = _s(lib.prdshm_last_error())
        try:
            blockers = self.segment.holders(self.resource,
                                            _MODE_NAMES[self._mode])
        except errors.Error:
            blockers = []
        msg = detail
        if blockers:
            msg += ": " + "; ".join(str(h) for h in blockers)
        e = (Busy if rc == EBUSY else LockTimeout)(rc, detail, msg)
        e.resource, e.holders = self.resource, blockers
        return e

    def release(self):
        """Release.  @raise prdshm.NotHeld if this Lock does not hold it."""
        s = self._session
        if s is None or self._gen != self.segment._gen:
            raise NotHeld(CODES["ENOTHELD"], "'%s' is not held by this Lock" % (self.resource,))
        self._session = None
        rc = lib.prdshm_unlock(s, self._name)
        if rc:
            raise_for(rc)

    def locked(self):
        """True while this Lock holds its resource (in this process)."""
        return self._session is not None and self._gen == self.segment._gen

    def upgrade(self, timeout=None):
        """SHARED -> EXCLUSIVE, keeping the SHARED hold while waiting for the
        other holders to leave.  @raise LockTimeout, Deadlock (two upgraders:
        one of them gets it and keeps its SHARED hold)."""
        if not self.locked():
            raise NotHeld(CODES["ENOTHELD"], "'%s' is not held by this Lock" % (self.resource,))
        s = self._session
        rc = wait_call(lambda ms: lib.prdshm_upgrade(s, self._name, ms), timeout,
                       self.segment)
        if rc in (ETIMEDOUT, EBUSY):
            raise self._timeout_error(rc, timeout)
        raise_for(rc)
        self.shared = False

    def downgrade(self):
        """EXCLUSIVE -> SHARED; never waits for other holders."""
        if not self.locked():
            raise NotHeld(CODES["ENOTHELD"], "'%s' is not held by this Lock" % (self.resource,))
        raise_for(lib.prdshm_downgrade(self._session, self._name))
        self.shared = True

    def __enter__(self):
        self._acquire(self.timeout)
        return self

    def __exit__(self, *exc):
        if self.locked():
            self.release()

    def __repr__(self):
        return "<prdshm.Lock %r %s%s>" % (self.resource, _MODE_NAMES[self._mode],
                                          " held" if self.locked() else "")


class LockSet:
    """All-or-nothing locks on several resources (:meth:`Segment.lock_many`).
    A context manager; also ``acquire()``/``release()``."""

    def __init__(self, seg, resources, shared=False, timeout=None, phase=None):
        self.segment = seg
        self.resources = list(resources)
        self.shared = bool(shared)
        self.timeout = timeout
        self.phase = phase
        self._session = None
        self._gen = -1

    def acquire(self, blocking=True, timeout=None):
        """As :meth:`Lock.acquire`, for the whole set."""
        return _acquire_bool(self, blocking, timeout)

    def _acquire(self, timeout):
        seg = self.segment
        s = seg._session()
        keep = [ffi.new("char[]", _b(r)) for r in self.resources]
        names = ffi.new("const char *[]", keep)
        failed = ffi.new("size_t *")
        phase = _b(self.phase, "phase") if self.phase else ffi.NULL
        mode = SHARED if self.shared else EXCLUSIVE
        rc = wait_call(lambda ms: lib.prdshm_lock_many(s, names, len(keep), mode, ms,
                                                       phase, failed), timeout, seg)
        if rc in (ETIMEDOUT, EBUSY) and failed[0] < len(self.resources):
            one = Lock(seg, self.resources[failed[0]], self.shared)
            raise one._timeout_error(rc, timeout)
        raise_for(rc)
        self._session, self._gen = s, seg._gen

    def locked(self):
        """True while this set holds its resources (in this process)."""
        return self._session is not None and self._gen == self.segment._gen

    def release(self):
        """Release every resource of the set."""
        if not self.locked():
            raise NotHeld(CODES["ENOTHELD"], "the lock set is not held")
        s, self._session = self._session, None
        first = None
        for r in self.resources:
            rc = lib.prdshm_unlock(s, _b(r))
            if rc < 0 and first is None:
                first = error_for(rc)
        if first is not None:
            raise first

    def __enter__(self):
        self._acquire(self.timeout)
        return self

    def __exit__(self, *exc):
        if self.locked():
            self.release()


_executor = None


def _pool():
    global _executor
    if _executor is None:
        _executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="prdshm-alock")
    return _executor


class AsyncLock:
    """``async with seg.alock(...)``: the wait runs in a worker thread, with
    a session of its own, so that two tasks of one event loop exclude each
    other like two threads do."""

    def __init__(self, lock):
        self.lock = lock
        self._s = None

    async def acquire(self, timeout=None):
        """Wait for the lock without blocking the event loop."""
        t = self.lock.timeout if timeout is None else timeout
        seg = self.lock.segment
        s = seg._borrow()
        cf = _pool().submit(self.lock._acquire, t, s)
        try:
            await asyncio.wrap_future(cf)
        except asyncio.CancelledError:
            # The worker cannot be stopped mid-wait: give the lock back as
            # soon as it is granted.
            cf.add_done_callback(lambda f: self._cancelled(f, s))
            raise
        except BaseException:
            seg._give_back(s)
            raise
        self._s = s

    def _cancelled(self, f, s):
        if f.exception() is None:
            self.lock.release()
        self.lock.segment._give_back(s)

    def release(self):
        """Release the lock (from the event loop's thread or any other)."""
        self.lock.release()
        s, self._s = self._s, None
        if s is not None:
            self.lock.segment._give_back(s)

    async def __aenter__(self):
        await self.acquire()
        return self.lock

    async def __aexit__(self, *exc):
        if self.lock.locked():
            self.release()
