"""One process: the API's contract (names, exceptions, modes, query)."""
import os

import pytest

import prdshm


def test_import_and_help():
    assert prdshm.version() == prdshm.__version__
    assert "with seg.lock" in prdshm.__doc__
    for n in prdshm.__all__:
        if n not in ("DEFAULT", "FOREVER"):
            assert getattr(prdshm, n).__doc__, n


def test_lock_context_and_acquire_release(seg):
    lk = seg.lock("out/a.txt")
    assert not lk.locked()
    with lk:
        assert lk.locked()
        [h] = seg.holders("out/a.txt")
        assert (h.pid, h.mode, h.waiting, h.alive) == (os.getpid(), "exclusive", False, True)
    assert not lk.locked()
    assert seg.holders("out/a.txt") == []
    assert lk.acquire() is True
    lk.release()
    with pytest.raises(prdshm.NotHeld):
        lk.release()


def test_threads_exclude_each_other(seg):
    # One session per thread: a second thread is another owner.
    import threading
    got = []
    with seg.lock("t"):
        th = threading.Thread(target=lambda: got.append(seg.lock("t").acquire(timeout=0.1)))
        th.start()
        th.join()
    assert got == [False]


def test_shared_and_exclusive_in_one_process(seg):
    import threading
    with seg.lock("s", shared=True):
        res = []

        def other(shared):
            lk = seg.lock("s", shared=shared)
            res.append(lk.acquire(blocking=False))
            if res[-1]:
                lk.release()
        for shared in (True, False):
            th = threading.Thread(target=other, args=(shared,))
            th.start()
            th.join()
    assert res == [True, False]


def test_try_and_timeout_exceptions(seg):
    import threading
    ready, done = threading.Event(), threading.Event()

    def holder():
        with seg.lock("busy", phase="ph-1"):
            ready.set()
            done.wait(10)
    th = threading.Thread(target=holder)
    th.start()
    assert ready.wait(10)
    try:
        with pytest.raises(prdshm.Busy):
            with seg.lock("busy", timeout=0):
                pass
        with pytest.raises(TimeoutError) as ei:
            with seg.lock("busy", timeout=0.1):
                pass
        e = ei.value
        assert isinstance(e, prdshm.LockTimeout) and isinstance(e, prdshm.Error)
        assert e.name == "PRDSHM_ETIMEDOUT" and e.code < 0
        assert e.resource == "busy" and e.holders[0].phase == "ph-1"
        assert "timed out waiting for 'busy'" in str(e) and "ph-1" in str(e)
    finally:
        done.set()
        th.join()


def test_already_held(seg):
    with seg.lock("x"):
        with pytest.raises(prdshm.AlreadyHeld):
            seg.lock("x").acquire()


def test_bad_names(seg):
    for bad in ("", "x" * 256, "a\0b", b""):
        with pytest.raises(prdshm.InvalidName) as ei:
            seg.lock(bad).acquire(timeout=0)
        assert isinstance(ei.value, ValueError)
    with pytest.raises(prdshm.InvalidName, match="resource name"):
        seg.lock("").acquire()
    with pytest.raises(TypeError):
        seg.lock(42).acquire()
    # Any byte but NUL is a name; 255 bytes is the longest.
    with seg.lock(b"\xff\x01 odd"), seg.lock("y" * 255):
        pass


def test_missing_segment():
    with pytest.raises(prdshm.NoSegment) as ei:
        prdshm.open("/prdshm-py-no-such-segment")
    assert isinstance(ei.value, FileNotFoundError)
    assert "/prdshm-py-no-such-segment" in str(ei.value)
    with pytest.raises(prdshm.ConfigError, match="shm_name: 'no-slash/x' must start"):
        prdshm.open("no-slash/x")


def test_untrusted_segment_refused(seg, name):
    os.chmod("/dev/shm" + name, 0o666)
    with pytest.raises(prdshm.PermissionDenied) as ei:
        prdshm.open(name)
    assert isinstance(ei.value, PermissionError)
    assert ei.value.name == "PRDSHM_EPERM" and "0666" in str(ei.value)
    os.chmod("/dev/shm" + name, 0o600)


def test_create_exists_and_force(seg, name):
    with pytest.raises(prdshm.SegmentExists):
        prdshm.create(config=None, name=name)
    with pytest.raises(prdshm.Error, match="1 live agent uses"):
        with seg.lock("keeps-a-session"):
            prdshm.create(config=None, name=name, force=True)


def test_create_force_replaces_group_shared_segment(name):
    import grp
    group = grp.getgrgid(os.getegid()).gr_name
    shared = dict(shm_group=group, shm_mode="0660")
    prdshm.create(config=None, name=name, **shared).close()
    assert oct(os.stat("/dev/shm" + name).st_mode & 0o777) == "0o660"
    # Replaced by its owner, as configured (the strict removal refuses a
    # group-writable segment).
    prdshm.create(config=None, name=name, force=True, **shared).close()
    assert oct(os.stat("/dev/shm" + name).st_mode & 0o777) == "0o660"


def test_lock_many_all_or_nothing(seg):
    import threading
    ready, done = threading.Event(), threading.Event()

    def holder():
        with seg.lock("m2"):
            ready.set()
            done.wait(10)
    th = threading.Thread(target=holder)
    th.start()
    assert ready.wait(10)
    try:
        ls = seg.lock_many(["m1", "m2", "m3"])
        assert ls.acquire(timeout=0.1) is False
        assert seg.holders("m1") == [] and seg.holders("m3") == []
        with pytest.raises(prdshm.LockTimeout) as ei:
            with seg.lock_many(["m1", "m2"], timeout=0):
                pass
        assert ei.value.resource == "m2"
    finally:
        done.set()
        th.join()
    with seg.lock_many(["m1", "m2", "m3"], phase="p") as ls:
        assert [h.phase for r in ("m1", "m2", "m3") for h in seg.holders(r)] == ["p"] * 3
    assert seg.holders("m2") == []


def test_upgrade_downgrade(seg):
    with seg.lock("u", shared=True) as lk:
        lk.upgrade(timeout=1)
        assert seg.holders("u")[0].mode == "exclusive"
        lk.downgrade()
        assert seg.holders("u")[0].mode == "shared"


def test_holders_blocking_filter(seg):
    import threading
    ready, done = threading.Event(), threading.Event()

    def holder():
        with seg.lock("q", shared=True):
            ready.set()
            done.wait(10)
    th = threading.Thread(target=holder)
    th.start()
    assert ready.wait(10)
    try:
        assert seg.holders("q", blocking="shared") == []
        assert len(seg.holders("q", blocking="exclusive")) == 1
    finally:
        done.set()
        th.join()


def test_state_is_inspect_json(seg, name):
    import json
    import subprocess
    import threading
    import time
    from conftest import BIN

    def waiter():  # another thread, another session: a waiting record
        lk = seg.lock("st", shared=True)
        if lk.acquire(timeout=10):
            lk.release()
    with seg.lock("st", phase="p1"):
        th = threading.Thread(target=waiter)
        th.start()
        for _ in range(2000):
            if any(h.waiting for h in seg.holders("st")):
                break
            time.sleep(0.005)
        mine = seg.state()
        env = dict(os.environ, PRD_PARALLEL_SHM_NAME=name)
        out = subprocess.run([os.path.join(BIN, "prdshm-inspect"), "--json"], env=env,
                             cwd="/", stdout=subprocess.PIPE, check=True, timeout=30).stdout
    th.join()
    tool = json.loads(out)

    def shape(x):
        if isinstance(x, dict):
            return {k: shape(v) for k, v in x.items()}
        if isinstance(x, list):
            return [shape(v) for v in x]
        return type(x).__name__ if x is not None else None
    assert list(mine) == list(tool)
    for k in ("segment", "locks", "phases", "waves", "problems", "metrics"):
        assert shape(mine[k]) == shape(tool[k]), k
    # Nothing was granted between the two: the same lock metrics.
    assert mine["metrics"] == tool["metrics"]
    # The same locks, holders, waiters and waits_for, member for member,
    # but for the ages: the two snapshots were taken at different times.
    def timeless(locks):
        return [dict(lk, holders=[{k: v for k, v in h.items() if k != "held_s"}
                                  for h in lk["holders"]],
                     waiters=[{k: v for k, v in w.items() if k != "waited_s"}
                              for w in lk["waiters"]]) for lk in locks]
    assert timeless(mine["locks"]) == timeless(tool["locks"])
    assert 0 <= mine["locks"][0]["holders"][0]["held_s"] <= tool["locks"][0]["holders"][0]["held_s"]
    [lk] = mine["locks"]
    assert lk["holders"][0]["phase"] == "p1" and lk["waiters"][0]["mode"] == "shared"
    assert lk["waiters"][0]["waits_for"] == [lk["holders"][0]["agent"]]
    for k in ("name", "size", "limits", "config", "layout_hash", "created"):
        assert mine["segment"][k] == tool["segment"][k]
    assert mine["agents"] == tool["agents"]


def test_dropped_segments_give_their_slots_back(seg, name):
    # max_agents is 32 here: 40 forgotten segments must not fill the table.
    for i in range(40):
        s = prdshm.open(name)
        with s.lock("slot-%d" % i):
            pass
        del s
    with seg.join("still-room"):
        pass


def test_exceptions_pickle():
    import pickle
    e = prdshm.errors.error_for(prdshm.errors.code_of("EDEADLK"),
                                "deadlock detected waiting for 'b': a waits for b waits for a")
    f = pickle.loads(pickle.dumps(e))
    assert type(f) is prdshm.Deadlock and f.code == e.code and str(f) == str(e)
    assert f.cycle == ["a", "b", "a"]


def test_session_env_makes_a_child_act_for_us(seg, name):
    # "SLOT:GEN:CREATED_NS:SHM_NAME" (prdshm.h, "Nested locks").
    env = seg.session_env()
    slot, gen, created, shm = env.split(":")
    assert shm == name and int(slot) >= 0 and int(gen) >= 0 and int(created) > 0
    code = ("import prdshm, sys\n"
            "seg = prdshm.open(name=sys.argv[1])\n"
            "print(seg.lock('x').acquire(blocking=False))\n"
            "seg.close()\n")
    import subprocess
    import sys
    base = dict(os.environ, PRD_PARALLEL_SHM_NAME=name,
                PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    base.pop("PRDSHM_PARENT_SESSION", None)
    with seg.lock("x"):
        for extra, want in (({}, b"False\n"), ({"PRDSHM_PARENT_SESSION": env}, b"True\n")):
            out = subprocess.run([sys.executable, "-c", code, name], cwd="/",
                                 env=dict(base, **extra), stdout=subprocess.PIPE,
                                 timeout=60).stdout
            assert out == want
