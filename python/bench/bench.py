"""Lock acquire+release from Python, one process, uncontended:
prdshm, fcntl.flock on an open descriptor, and python3-filelock.

    PYTHONPATH=build/python /usr/bin/python3 python/bench/bench.py [--seconds S]

Each is timed over --rounds rounds of --n pairs, in one run; the table
gives the median and the best round, and the ratios of the medians.
"""
import argparse
import fcntl
import os
import sys
import tempfile
import time

import prdshm


def median_ns(fn, n, rounds):
    """Median and best per-operation time of fn(n) over @rounds rounds, ns
    (the median as the C benchmark reports; the best shows the noise)."""
    per = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        fn(n)
        per.append((time.perf_counter_ns() - t0) / n)
    per.sort()
    return per[len(per) // 2], per[0]


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
    ap.add_argument("--rounds", type=int, default=11)
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
            res.append((label,) + median_ns(fn, n, a.rounds))
    finally:
        seg.close()
        prdshm.unlink(name, force=True)
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    base = res[0][1]
    print("python %s, prdshm %s: one process, uncontended, %d rounds"
          % (sys.version.split()[0], prdshm.version(), a.rounds))
    print("%-40s %9s %9s %9s" % ("acquire + release", "median ns", "best ns", "vs prdshm"))
    for label, med, best in res:
        print("%-40s %9.0f %9.0f %8.2fx" % (label, med, best, med / base))
    med = {r[0]: r[1] for r in res}
    print("ratio prdshm/filelock %.3f (target <= 0.2), prdshm/flock %.3f (target <= 1.0)"
          % (base / med[rows[3][0]], base / med[rows[2][0]]))


if __name__ == "__main__":
    main()
