"""The whole state of a segment as plain data: the document that
``prdshm-inspect --json`` prints (docs/json-schema.md is the contract),
built here from ``prdshm_snapshot_take()`` and ``prdshm_check()``.

Dicts and lists, member for member as the tool prints them: times are
ISO-8601 UTC strings with milliseconds (None when the event has not
happened), identifiers None where there is none.
"""
import time

from ._prdshm import ffi, lib
from .errors import CODES, raise_for

__all__ = ["state", "check", "iso_time", "metrics"]

_MODES = {lib.PRDSHM_SHARED: "shared", lib.PRDSHM_EXCLUSIVE: "exclusive"}


def iso_time(ns):
    """ns since the epoch -> "2024-05-01T12:00:00.123Z" (None for 0)."""
    if not ns:
        return None
    ms = ns // 1000000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def _s(p):
    return ffi.string(p).decode("utf-8", "replace") if p != ffi.NULL else None


def _or_none(p):
    s = _s(p)
    return s if s else None


def _strv(v, n):
    return [_s(v[i]) for i in range(n)]


@ffi.def_extern()
def _prdshm_check_report(ctx, severity, problem):
    ffi.from_handle(ctx).append(
        ("error" if severity == lib.PRDSHM_CHECK_ERROR else "warning", _s(problem)))


def check(seg):
    """(code, [(severity, message), ...]) of ``prdshm_check()``."""
    out = []
    h = ffi.new_handle(out)
    rc = lib.prdshm_check(seg, 0, lib._prdshm_check_report, h)
    return rc, out


def _segment(snap, alive):
    si = snap.seg
    return {
        "schema_version": 1, "name": _s(si.shm_name), "size": si.size,
        "format": si.format, "layout_hash": si.layout_hash,
        "created": iso_time(si.created_ns), "taken": iso_time(snap.taken_ns),
        "locked": bool(snap.locked), "needs_recovery": bool(si.needs_recovery),
        "limits": {"max_locks": si.max_locks, "max_phases": si.max_phases,
                   "max_agents": si.max_agents, "partitions": si.nparts},
        "usage": {"locks": snap.nlocks, "phases": snap.nphases, "agents_alive": alive},
        "config": {
            "max_parallel_agents": si.max_parallel_agents,
            "lock_timeout_seconds": si.lock_timeout_seconds,
            "wave_delay_seconds": si.wave_delay_seconds,
            "conflict_retry_attempts": si.conflict_retry_attempts,
            "monitoring_update_interval": si.monitoring_update_interval,
            "phase_max_attempts": si.phase_max_attempts,
            "deadlock_timeout_ms": si.deadlock_timeout_ms,
            "scheduling": "eager" if si.scheduling == 1 else "waves",
        },
        "run_start": iso_time(snap.run_start_ns), "run_end": iso_time(snap.run_end_ns),
        "current_wave": snap.current_wave,
    }


def _host(snap, i):
    buf = ffi.new("char[]", 256)
    lib.prdshm_snapshot_agent_host(snap, i, buf, 256)
    return _or_none(buf)


def _agent(snap, a, phase_ids, host):
    return {
        "id": _s(a.id), "slot": a.slot, "pid": a.pid, "uid": a.uid, "alive": bool(a.alive),
        "status": _s(lib.prdshm_agent_status_name(a.status)) or "?",
        "phase": phase_ids.get(a.phase) if a.phase >= 0 else None,
        "start": iso_time(a.start_ns), "heartbeat": iso_time(a.heartbeat_ns),
        "log": [_s(a.log[k]) for k in range(min(a.nlog, len(a.log)))],
        "host": host,
    }


_PROC_STATES = {1: "running", 2: "stopped", 3: "zombie", 4: "dead"}


def _age_s(since_ns, now_ns):
    """Seconds from since_ns to now_ns, in whole ms, as the tool prints them."""
    if not since_ns:
        return None
    return (now_ns - since_ns if now_ns > since_ns else 0) // 1000000 / 1000.0


def _holder(h, now_ns, waiter=False):
    d = {"agent": _s(h.agent_id), "slot": h.slot, "pid": h.pid,
         "phase": _or_none(h.phase_id), "mode": _MODES.get(h.mode, "?"),
         "since": iso_time(h.since_ns),
         "waited_s" if waiter else "held_s": _age_s(h.since_ns, now_ns),
         "alive": bool(h.alive), "process": _PROC_STATES.get(h.proc_state, "unknown")}
    if not waiter:
        d["released"] = bool(h.released)
    return d


def _conflicts(a, b):
    return a == lib.PRDSHM_EXCLUSIVE or b == lib.PRDSHM_EXCLUSIVE


def _waits_for(li, w):
    """As the tool: each conflicting holder and earlier conflicting waiter,
    never the waiter's own session (pg_blocking_pids())."""
    me = li.holders[w]
    out = []
    for i in range(li.nrecords):
        h = li.holders[i]
        if i == w or h.slot == me.slot:
            continue
        if i >= li.nholders and i > w:
            break
        if _conflicts(h.mode, me.mode):
            out.append(_s(h.agent_id))
    return out


def _lock(li, now_ns):
    raw = bytes(ffi.buffer(li.resource, li.resource_len))
    name = raw.decode("utf-8", "replace")
    d = {"resource": name}
    if name.encode("utf-8") != raw:
        d["resource_hex"] = raw.hex()
    d["mode"] = _MODES.get(li.mode)
    d["holders"] = [_holder(li.holders[i], now_ns) for i in range(li.nholders)]
    waiters = []
    for i in range(li.nholders, li.nrecords):
        h = _holder(li.holders[i], now_ns, waiter=True)
        h["waits_for"] = _waits_for(li, i)
        waiters.append(h)
    d["waiters"] = waiters
    return d


def _phase(p, now_ns):
    end = p.end_ns or now_ns
    done = p.status in (3, 4)  # COMPLETED, FAILED
    return {
        "id": _s(p.id), "index": p.index, "name": _s(p.name) if p.name else _s(p.id),
        "status": _s(lib.prdshm_phase_status_name(p.status)) or "?", "wave": p.wave,
        "dependencies": _strv(p.deps, p.ndeps), "outputs": _strv(p.outputs, p.noutputs),
        "command": _s(p.command), "estimated_minutes": p.estimated_minutes,
        "agent": _or_none(p.agent_id), "attempts": p.attempts,
        "exit_status": p.exit_status if done else None, "message": _s(p.message),
        "start": iso_time(p.start_ns), "end": iso_time(p.end_ns),
        "duration_seconds": (end - p.start_ns) / 1e9 if p.start_ns and end >= p.start_ns
        else None,
        "changed_by": _or_none(p.changed_by), "changed": iso_time(p.changed_ns),
        "remaining_minutes": p.remaining,
    }


def _wave(w):
    return {"number": w.number, "status": _s(w.status) or "?", "phases": w.nphases,
            "completed": w.ncompleted, "failed": w.nfailed, "running": w.nrunning,
            "start": iso_time(w.start_ns), "end": iso_time(w.end_ns)}


# Upper bounds of the wait buckets (prdshm.h, PRDSHM_WAIT_BUCKETS), as
# prdshm-inspect --json gives them; None: no bound.
_WAIT_LE = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, None]


def _figures(m, resource=False):
    d = {"acquisitions": m.acquisitions, "contended": m.contended, "timeouts": m.timeouts,
         "deadlocks": m.deadlocks, "wait_seconds": m.wait_ns / 1e9,
         "wait_max_seconds": m.wait_max_ns / 1e9,
         "wait_buckets": [m.wait_buckets[b] for b in range(lib.PRDSHM_WAIT_BUCKETS)]}
    if resource:
        d["resource"] = bytes(ffi.buffer(m.resource, m.resource_len)).decode("utf-8",
                                                                          "replace")
    return d


def metrics(seg):
    """The lock metrics (``prdshm_lock_metrics_get()``): the ``metrics``
    member of the ``prdshm-inspect --json`` document."""
    size = ffi.sizeof("prdshm_lock_metrics")
    total = ffi.new("prdshm_lock_metrics *")
    total.struct_size = size
    n = ffi.new("size_t *")
    cap, out = 0, ffi.NULL
    for _ in range(8):  # the count may grow between two calls
        raise_for(lib.prdshm_lock_metrics_get(seg, 0, total, out, cap, n))
        if n[0] <= cap:
            break
        cap = n[0] + 64
        out = ffi.new("prdshm_lock_metrics[]", cap)
        out[0].struct_size = size  # the array's stride
    res = sorted((bytes(ffi.buffer(out[i].resource, out[i].resource_len)), i)
                 for i in range(min(n[0], cap)))
    return {"wait_bucket_le_seconds": list(_WAIT_LE), "locks": _figures(total),
            "resources": [_figures(out[i], True) for _, i in res]}


def state(seg, backend=None):
    """The ``prdshm-inspect --json`` document of segment handle @seg;
    @backend the members that name its backend (default shared memory)."""
    out = ffi.new("prdshm_snapshot **")
    raise_for(lib.prdshm_snapshot_take(seg, 0, out))
    snap = out[0]
    try:
        phase_ids = {snap.phases[i].index: _s(snap.phases[i].id) for i in range(snap.nphases)}
        agents = [snap.agents[i] for i in range(snap.nagents)]
        doc = {
            "segment": dict(_segment(snap, sum(1 for a in agents if a.alive)),
                            **(backend or {"backend": "shm"})),
            "agents": [_agent(snap, a, phase_ids, _host(snap, i))
                       for i, a in enumerate(agents)],
            "locks": [_lock(snap.locks[i], snap.taken_ns) for i in range(snap.nlocks)],
            "phases": [_phase(snap.phases[i], snap.taken_ns) for i in range(snap.nphases)],
            "waves": [_wave(snap.waves[i]) for i in range(snap.nwaves)],
        }
    finally:
        lib.prdshm_snapshot_free(snap)
    rc, problems = check(seg)
    if rc not in (0, CODES["EDEADOWNER"], CODES["ECORRUPT"], CODES["ERECOVER"]):
        raise_for(rc)
    doc["problems"] = [{"severity": s, "message": m} for s, m in problems]
    doc["metrics"] = metrics(seg)
    return doc
