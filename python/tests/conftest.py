"""Fixtures of the binding's tests: a fresh segment per test, named after
the pid and a counter (parallel runs never collide), removed afterwards;
the built tools (PRDSHM_BUILD/bin) for cross-checks."""
import itertools
import os
import subprocess
import sys

import pytest

import prdshm

_n = itertools.count()
BUILD = os.environ.get("PRDSHM_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
BIN = os.path.abspath(os.path.join(BUILD, "bin"))


def unique_name():
    return "/prdshm-py%d-%d" % (os.getpid(), next(_n))


@pytest.fixture
def name():
    n = unique_name()
    yield n
    try:
        prdshm.unlink(n, force=True)
    except prdshm.NoSegment:
        pass


@pytest.fixture
def seg(name):
    s = prdshm.create(config=None, name=name, max_locks=256, max_agents=32,
                      deadlock_timeout_ms=200)
    yield s
    s.close()


def inspect_check(name):
    """Exit status of `prdshm-inspect --check` on segment @name."""
    env = dict(os.environ, PRD_PARALLEL_SHM_NAME=name)
    r = subprocess.run([os.path.join(BIN, "prdshm-inspect"), "--check"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30,
                       cwd="/")
    return r.returncode, r.stdout.decode(errors="replace")


def python_child(code, name, **kw):
    """Start /usr/bin/python3 (this interpreter) running @code with the
    segment's name in PRD_PARALLEL_SHM_NAME and this PYTHONPATH."""
    env = dict(os.environ, PRD_PARALLEL_SHM_NAME=name,
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd="/",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
