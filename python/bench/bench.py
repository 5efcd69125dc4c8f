"""Lock acquire+release from Python, one process, uncontended:
prdshm, fcntl.flock on an open descriptor, and python3-filelock.

    PYTHONPATH=build/python /usr/bin/python3 python/bench/bench.py [--seconds S]

Each is timed over repeated rounds (the best round counts: the machine is
shared) and the ratios are printed against prdshm.
"""
import argparse
import fcntl
import os
import sys
import tempfile
import time

import prdshm


def best_ns(fn, n, rounds):
    """Best per-operation time of fn(n) over @rounds rounds, in ns."""
    best = None
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        fn(n)
        dt = (time.perf_counter_ns() - t0) / n
        best = dt if best is None or dt < best else best
    return best


def bench_prdshm(seg):
    lk = seg.lock("bench/resource")

    def run(n):
        acquire, release = lk.acquire, lk.release
        for _ in range(n):
            acquire()
            release()
    return run


def bench_with(seg):
    lk = seg.lock("bench/with")

    def run(n):
        for _ in range(n):
            with lk:
                pass
    return run


def bench_flock(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def run(n):
        flock, ex, un = fcntl.flock, fcntl.LOCK_EX, fcntl.LOCK_UN
        for _ in range(n):
            flock(fd, ex)
            flock(fd, un)
    return run


def bench_filelock(path):
    import filelock
    fl = filelock.FileLock(path)

    def run(n):
        acquire, release = fl.acquire, fl.release
        for _ in range(n):
            acquire()
            release()
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000, help="operations per round")
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    name = "/prdshm-bench-py-%d" % os.getpid()
    tmp = tempfile.mkdtemp(prefix="prdshm-bench-")
    seg = prdshm.create(config=None, name=name)
    try:
        rows = [("prdshm Lock.acquire()+release()", bench_prdshm(seg)),
                ("prdshm with seg.lock(...)", bench_with(seg)),
                ("fcntl.flock(LOCK_EX)+flock(LOCK_UN)", bench_flock(os.path.join(tmp, "f"))),
                ("filelock.FileLock acquire()+release()",
                 bench_filelock(os.path.join(tmp, "fl.lock")))]
        res = []
        for label, fn in rows:
            fn(1000)  # warm up
            n = a.n if "filelock" not in label else max(1000, a.n // 10)
            res.append((label, best_ns(fn, n, a.rounds)))
    finally:
        seg.close()
        prdshm.unlink(name, force=True)
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    base = res[0][1]
    print("python %s, prdshm %s: one process, uncontended, best of %d rounds"
          % (sys.version.split()[0], prdshm.version(), a.rounds))
    print("%-40s %10s %8s" % ("acquire + release", "ns/op", "vs prdshm"))
    for label, ns in res:
        print("%-40s %10.0f %8.2fx" % (label, ns, ns / base))
    fl = dict(res)
    print("ratio prdshm/filelock %.3f (target <= 0.2), prdshm/flock %.3f (target <= 1.0)"
          % (base / fl[rows[3][0]], base / fl[rows[2][0]]))


if __name__ == "__main__":
    main()
