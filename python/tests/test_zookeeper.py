"""The binding on the ZooKeeper backend (docs/zookeeper.md): with
PRD_PARALLEL_BACKEND=zookeeper and the hosts in the environment, Python
agents lock through ZooKeeper with their code unchanged.  The tests start
their own standalone server (tests/zk/server.sh) on a free loopback port,
and are skipped, saying why, when it cannot run or the library was built
without the ZooKeeper client."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

import prdshm

from conftest import unique_name

SERVER = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "tests", "zk",
                                      "server.sh"))


@pytest.fixture(scope="module")
def zk_hosts():
    if subprocess.run(["bash", SERVER, "available"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        pytest.skip("no ZooKeeper server (Debian package zookeeper) or no java")
    d = tempfile.mkdtemp(prefix="prdshm-pyzk-")
    try:
        r = subprocess.run(["bash", SERVER, "start", os.path.join(d, "zk")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90)
        if r.returncode != 0:
            pytest.skip("the ZooKeeper server did not start: %s" % r.stderr.decode()[-300:])
        yield "127.0.0.1:%s" % r.stdout.decode().strip()
    finally:
        subprocess.run(["bash", SERVER, "stop", os.path.join(d, "zk")], timeout=60)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def zk_env(zk_hosts, monkeypatch):
    """The environment that selects the server, for us and our children."""
    env = {"PRD_PARALLEL_BACKEND": "zookeeper", "PRD_PARALLEL_ZOOKEEPER_HOSTS": zk_hosts,
           "PRD_PARALLEL_ZOOKEEPER_ROOT": "/prdshm-py%d" % os.getpid(),
           "PRD_PARALLEL_ZOOKEEPER_SESSION_TIMEOUT_MS": "2000"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.fixture
def zk_seg(zk_env):
    name = unique_name()
    try:
        seg = prdshm.create(config=None, name=name)
    except prdshm.Error as e:
        if e.code == prdshm.errors.CODES["ENOTSUP"]:
            pytest.skip("this libprdshm was built without the ZooKeeper client")
        raise
    yield seg
    seg.close()


CHILD = r"""
import sys, prdshm
seg = prdshm.open(name=sys.argv[1])
lk = seg.lock("out/report.txt")
print("try", lk.acquire(blocking=False), flush=True)
print("waiting", flush=True)
print("got", lk.acquire(timeout=30), flush=True)
sys.stdin.readline()
lk.release()
seg.close()
"""


def test_two_processes_exclude_each_other(zk_seg):
    name = zk_seg.name
    # Not in this host's shared memory: on the server.
    assert not os.path.exists("/dev/shm" + name)
    lk = zk_seg.lock("out/report.txt")
    assert lk.acquire(blocking=False)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    child = subprocess.Popen([sys.executable, "-c", CHILD, name], env=env, cwd="/",
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"try False\n"
        assert child.stdout.readline() == b"waiting\n"
        # Its request is queued behind ours.
        for _ in range(200):
            if len(zk_seg.holders("out/report.txt")) == 2:
                break
            time.sleep(0.05)
        assert [(h.pid, h.waiting) for h in zk_seg.holders("out/report.txt")] == [
            (os.getpid(), False), (child.pid, True)]
        lk.release()
        assert child.stdout.readline() == b"got True\n"
        # Now it holds the lock and we are kept out.
        assert not lk.acquire(blocking=False)
        child.stdin.write(b"go\n")
        child.stdin.close()
        assert child.wait(timeout=30) == 0, child.stderr.read().decode()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert lk.acquire(blocking=False)
    lk.release()


def test_session_env_on_zookeeper(zk_seg):
    # No nested locks on ZooKeeper yet: a value that names no session.
    assert isinstance(zk_seg.session_env(), str)


PLAN = """
scheduling: eager
wave_delay_seconds: 0
phases:
  - id: first
    outputs: [out/one]
  - id: second
    dependencies: [first]
"""


def test_an_agent_runs_the_plan_on_zookeeper(zk_env, tmp_path):
    """The Python agent's code, unchanged: join, claim, lock the outputs,
    complete, until the plan is done; the state says where it lives."""
    cfg = tmp_path / "prdpar.yaml"
    cfg.write_text(PLAN)
    try:
        seg = prdshm.create(config=str(cfg), name=unique_name())
    except prdshm.Error as e:
        if e.code == prdshm.errors.CODES["ENOTSUP"]:
            pytest.skip("this libprdshm was built without the ZooKeeper client")
        raise
    try:
        with seg.join("py-agent") as agent:
            c = agent.claim()
            assert (c.id, c.attempt, c.outputs) == ("first", 1, ["out/one"])
            with agent.lock_many(c.outputs, phase=c.id):
                h = seg.holders("out/one")[0]
                assert (h.agent, h.phase) == ("py-agent", "first")
            agent.complete(c)
            c2 = agent.claim()
            assert c2.id == "second"
            agent.fail(c2, 3, "broken")
            assert agent.claim() is None  # nothing left to claim
        st = seg.state()
        assert st["segment"]["backend"] == "zookeeper"
        assert {p["id"]: p["status"] for p in st["phases"]} == {"first": "COMPLETED",
                                                               "second": "FAILED"}
    finally:
        seg.close()
