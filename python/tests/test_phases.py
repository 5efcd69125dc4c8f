"""Agents and phases, the compat names, asyncio."""
import asyncio
import os
import struct
import time

import pytest

import prdshm
from prdshm import compat
from test_processes import fork, wait

PLAN = """
scheduling: eager
wave_delay_seconds: 0
max_parallel_agents: 2
phases:
  - id: first
    outputs: [out/one]
    command: "true"
  - id: second
    dependencies: [first]
  - id: third
    dependencies: [first]
"""


@pytest.fixture
def plan_seg(name, tmp_path):
    cfg = tmp_path / "prdpar.yaml"
    cfg.write_text(PLAN)
    s = prdshm.create(config=str(cfg), name=name)
    yield s
    s.close()


def test_join_claim_complete_fail(plan_seg):
    with plan_seg.lock("gives-this-thread-a-session"):
        pass
    with plan_seg.join("agent-1") as agent:
        c = agent.claim()
        assert (c.id, c.attempt, c.outputs, c.command) == ("first", 1, ["out/one"], "true")
        with agent.lock_many(c.outputs, phase=c.id):
            h = plan_seg.holders("out/one")[0]
            assert (h.agent, h.phase) == ("agent-1", "first")
        # One phase at a time per agent.
        with pytest.raises(prdshm.PhaseError, match="already holds phase 'first'"):
            agent.claim()
        # Nothing else is ready until "first" ends: no wait, no claim.
        with plan_seg.join("agent-2") as other:
            assert other.claim(wait=False) is None
        agent.log("first done")
        agent.complete(c)
        c2 = agent.claim()
        agent.fail(c2, 3, "broken")
        c3 = agent.claim()
        agent.complete(c3)
        assert agent.claim() is None  # the plan is done
        with pytest.raises(prdshm.PhaseError):
            agent.complete(c3)
    doc = plan_seg.state()
    st = {p["id"]: (p["status"], p["exit_status"], p["message"]) for p in doc["phases"]}
    assert st["first"] == ("COMPLETED", 0, "")
    assert st[c2.id] == ("FAILED", 3, "broken")
    assert st[c3.id][0] == "COMPLETED"
    assert [a["log"] for a in doc["agents"] if a["id"] == "agent-1"] == [["first done"]]
    state = compat.ExecutionState.load(plan_seg)
    assert state.get_phase_status("first") is compat.PhaseStatus.COMPLETED
    assert state.phases_in("FAILED") == [c2.id]


def test_claim_waits_for_a_phase(plan_seg, name):
    with plan_seg.join("a1") as a1:
        c = a1.claim()
        t0 = time.monotonic()
        with plan_seg.join("a0") as a0:
            assert a0.claim(timeout=0.2) is None  # waited, nothing ready
        assert time.monotonic() - t0 >= 0.2

        def other():
            with prdshm.open(name).join("a2") as a2:
                got = a2.claim(timeout=20)
                return 0 if got and got.id in ("second", "third") else 1
        pid = fork(other)
        a1.complete(c)
        assert wait(pid) == 0


def test_compat_filelock_several_processes(seg, name, tmp_path):
    witness = tmp_path / "n"
    witness.write_bytes(struct.pack("q", 0))

    def worker(i):
        os.environ["PRD_PARALLEL_SHM_NAME"] = name
        for _ in range(100):
            with compat.FileLock(str(tmp_path / "n"), "phase-%d" % i,
                                 compat.LockType.EXCLUSIVE, timeout=20):
                n = struct.unpack("q", witness.read_bytes())[0]
                os.sched_yield()
                witness.write_bytes(struct.pack("q", n + 1))
        return 0
    pids = [fork(worker, i) for i in range(4)]
    assert [wait(p, 60) for p in pids] == [0] * 4
    assert struct.unpack("q", witness.read_bytes())[0] == 400


def test_compat_conflicts_and_registry(seg):
    fl = compat.FileLock("./src//app.py", "phase-1", compat.LockType.SHARED, segment=seg)
    with fl:
        assert fl.is_locked
        reg = compat.LockRegistry(seg)
        [rl] = reg.active_locks()
        assert (rl.resource_path, rl.owner_phase, rl.lock_type) == \
            ("src/app.py", "phase-1", compat.LockType.SHARED)
        assert reg.is_locked("src/app.py")
        assert reg.detect_conflicts("phase-2", ["src/app.py"], compat.LockType.SHARED) == []
        [c] = reg.detect_conflicts("phase-2", ["src/app.py"], compat.LockType.EXCLUSIVE)
        assert c.owner_phase == "phase-1"
    assert not fl.is_locked


def test_compat_filelock_timeout_is_lockconflict(seg):
    import threading
    ready, done = threading.Event(), threading.Event()

    def holder():
        with compat.FileLock("f.txt", "p1", segment=seg):
            ready.set()
            done.wait(10)
    th = threading.Thread(target=holder)
    th.start()
    assert ready.wait(10)
    try:
        with pytest.raises(compat.LockConflict) as ei:
            compat.FileLock("f.txt", "p2", timeout=0.1, segment=seg).acquire()
        assert isinstance(ei.value, TimeoutError) and "p1" in str(ei.value)
        assert compat.FileLock("f.txt", "p2", segment=seg).acquire(blocking=False) is False
    finally:
        done.set()
        th.join()


def test_asyncio_alock_does_not_block_the_loop(seg):
    async def main():
        ticks = 0
        order = []

        async def ticker(stop):
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.001)

        async def user(tag, hold):
            async with seg.alock("aio", timeout=10):
                order.append(tag)
                await asyncio.sleep(hold)
        stop = asyncio.Event()
        t = asyncio.create_task(ticker(stop))
        first = asyncio.create_task(user("first", 0.2))
        await asyncio.sleep(0.05)
        before = ticks
        await asyncio.gather(first, user("second", 0))
        stop.set()
        await t
        return order, ticks - before
    order, ticks = asyncio.run(main())
    assert order == ["first", "second"]
    assert ticks > 5  # the loop ran while "second" waited (blocked: 0 or 1)
    assert seg.holders("aio") == []


def test_asyncio_cancelled_waiter_gives_lock_back(seg):
    async def main():
        lk = seg.lock("c")
        lk.acquire()
        task = asyncio.create_task(seg.alock("c", timeout=10).acquire())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        lk.release()
        # The worker's wait ends with a grant, which goes straight back.
        for _ in range(500):
            if seg.holders("c") == []:
                return True
            await asyncio.sleep(0.01)
        return False
    assert asyncio.run(main())
