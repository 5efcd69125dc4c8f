"""Real processes: os.fork() children open their own segment handles, and
pipes (never sleeps) say when a child is where the test needs it."""
import os
import signal
import struct
import time

import pytest

import prdshm
from conftest import inspect_check


def fork(fn, *args):
    """Run fn(*args) in a child; its return value is the exit status."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = fn(*args) or 0
        except BaseException as e:  # report, never return into pytest
            os.write(2, ("child: %r\n" % (e,)).encode())
        os._exit(code)
    return pid


def wait(pid, timeout=20):
    """Exit status of child @pid (-signal if killed); kills it after @timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        p, st = os.waitpid(pid, os.WNOHANG)
        if p:
            return os.waitstatus_to_exitcode(st)
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "timeout"


def read_byte(fd, timeout=10):
    import select
    r, _, _ = select.select([fd], [], [], timeout)
    return os.read(fd, 1) if r else b""


def test_eight_processes_no_lost_update(seg, name, tmp_path):
    witness = tmp_path / "counter"
    witness.write_bytes(struct.pack("q", 0))
    rounds = 200

    def worker():
        with prdshm.open(name) as s:
            lk = s.lock("counter")
            for _ in range(rounds):
                with lk:
                    # Read, yield the CPU, write: without the lock, lost updates.
                    n = struct.unpack("q", witness.read_bytes())[0]
                    os.sched_yield()
                    witness.write_bytes(struct.pack("q", n + 1))
        return 0
    pids = [fork(worker) for _ in range(8)]
    assert [wait(p, 60) for p in pids] == [0] * 8
    assert struct.unpack("q", witness.read_bytes())[0] == 8 * rounds
    assert inspect_check(name)[0] == 0


def test_shared_overlap_exclusive_excludes(seg, name):
    up_r, up_w = os.pipe()
    go_r, go_w = os.pipe()

    def reader():
        with prdshm.open(name) as s, s.lock("doc", shared=True, timeout=10):
            os.write(up_w, b"r")
            read_byte(go_r, 20)
        return 0
    pids = [fork(reader) for _ in range(2)]
    # Both readers hold it at once...
    assert read_byte(up_r) == b"r" and read_byte(up_r) == b"r"
    assert [h.mode for h in seg.holders("doc")] == ["shared", "shared"]
    # ...and exclude a writer until both leave.
    assert seg.lock("doc").acquire(timeout=0.1) is False
    os.write(go_w, b"gg")
    wlock = seg.lock("doc")
    assert wlock.acquire(timeout=10) is True
    assert [wait(p) for p in pids] == [0, 0]
    assert seg.holders("doc")[0].mode == "exclusive"
    wlock.release()
    for fd in (up_r, up_w, go_r, go_w):
        os.close(fd)


def hold_and_report(name, resource, fd, agent_id="holder", phase=None):
    s = prdshm.open(name, agent_id=agent_id)
    s.lock(resource, phase=phase).acquire()
    os.write(fd, b"h")
    while True:
        signal.pause()


def test_killed_holder_freed_without_cleanup(seg, name):
    r, w = os.pipe()
    pid = fork(hold_and_report, name, "k", w)
    assert read_byte(r) == b"h"
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    assert wait(pid) == -signal.SIGKILL
    # No reap, no tool: the waiting request itself frees the dead lock.
    with seg.lock("k", timeout=5):
        assert time.monotonic() - t0 < 1.0
    os.close(r)
    os.close(w)


def test_timeout_names_holder(seg, name):
    r, w = os.pipe()
    pid = fork(hold_and_report, name, "t", w, "holder-7", "build-phase")
    try:
        assert read_byte(r) == b"h"
        with pytest.raises(prdshm.LockTimeout) as ei:
            with seg.lock("t", timeout=0.2):
                pass
        e = ei.value
        assert isinstance(e, TimeoutError)
        assert [h.pid for h in e.holders] == [pid]
        assert "holder-7" in str(e) and "build-phase" in str(e) and str(pid) in str(e)
    finally:
        os.kill(pid, signal.SIGKILL)
        wait(pid)
        os.close(r)
        os.close(w)


def test_deadlock_between_two_processes(seg, name):
    up_r, up_w = os.pipe()
    go_r, go_w = os.pipe()

    def party(first, second, aid):
        with prdshm.open(name, agent_id=aid) as s, s.lock(first):
            os.write(up_w, b"1")
            read_byte(go_r, 20)
            try:
                with s.lock(second, timeout=10):
                    return 0
            except prdshm.Deadlock as e:
                os.write(up_w, ("D" + " ".join(e.cycle) + "\n").encode())
                return 3
    a = fork(party, "a", "b", "dl-a")
    b = fork(party, "b", "a", "dl-b")
    assert read_byte(up_r) == b"1" and read_byte(up_r) == b"1"
    os.write(go_w, b"gg")
    codes = sorted([wait(a), wait(b)])
    # One of them is refused (and lets go of its lock), the other proceeds.
    assert codes == [0, 3]
    assert read_byte(up_r) == b"D"
    cycle = os.read(up_r, 200).decode()
    assert "dl-a" in cycle and "dl-b" in cycle
    for fd in (up_r, up_w, go_r, go_w):
        os.close(fd)
    assert inspect_check(name)[0] == 0


def test_fork_with_held_lock(seg, name):
    # Documented: a child does not inherit its parent's locks; the parent
    # keeps them; the child's Segment re-attaches with its own sessions.
    lk = seg.lock("f")
    lk.acquire()
    r, w = os.pipe()

    def child():
        ok = (not lk.locked()
              and seg.lock("f").acquire(timeout=0) is False
              and seg.holders("f")[0].pid == os.getppid())
        try:
            lk.release()
            ok = False
        except prdshm.NotHeld:
            pass
        with seg.lock("child-own"):
            ok = ok and seg.holders("child-own")[0].pid == os.getpid()
        os.write(w, b"y" if ok else b"n")
        return 0
    pid = fork(child)
    assert read_byte(r) == b"y"
    assert wait(pid) == 0
    assert lk.locked() and seg.holders("f")[0].pid == os.getpid()
    lk.release()
    assert seg.holders("f") == []
    os.close(r)
    os.close(w)
