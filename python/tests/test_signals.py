"""Waits and signals: Ctrl-C during a wait raises KeyboardInterrupt and
leaves no waiter behind; a handler that does not raise lets the wait go
on; the GIL is released while waiting."""
import os
import select
import signal
import threading
import time

import prdshm
from conftest import inspect_check, python_child

WAITER = r"""
import signal, sys, time, prdshm
seg = prdshm.open()
print("ready", flush=True)
try:
    with seg.lock("sig", timeout=30):
        print("granted", flush=True)
except KeyboardInterrupt:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("KeyboardInterrupt %.6f" % time.monotonic(), flush=True)
seg.close()
"""


def line(proc, timeout):
    r, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().decode() if r else ""


def await_waiter(seg, resource, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(h.waiting for h in seg.holders(resource)):
            return True
        time.sleep(0.002)
    return False


def test_sigint_during_wait_raises_keyboardinterrupt(seg, name):
    with seg.lock("sig"):
        child = python_child(WAITER, name)
        try:
            assert line(child, 20) == "ready\n"
            assert await_waiter(seg, "sig")
            t0 = time.monotonic()
            # A signal that lands between two sleeps of the wait only runs
            # the handler (prdshm.h): repeat it as a user repeats Ctrl-C.
            for _ in range(50):
                child.send_signal(signal.SIGINT)
                out = line(child, 0.2)
                if out:
                    break
            assert out.startswith("KeyboardInterrupt"), out + child.stderr.read().decode()
            latency = float(out.split()[1]) - t0
            print("KeyboardInterrupt %.1f ms after SIGINT" % (latency * 1000))
            assert latency < 1.0
            assert child.wait(10) == 0
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
            child.stderr.close()
        # The waiter withdrew its record: only our hold is left.
        assert [h.waiting for h in seg.holders("sig")] == [False]
    assert inspect_check(name)[0] == 0


HANDLED = r"""
import signal, prdshm
seen = []
signal.signal(signal.SIGUSR1, lambda *a: seen.append(1))
seg = prdshm.open()
print("ready", flush=True)
with seg.lock("h", timeout=30):
    print("granted after %d signals" % len(seen), flush=True)
seg.close()
"""


def test_handler_that_returns_lets_the_wait_go_on(seg, name):
    lk = seg.lock("h")
    lk.acquire()
    child = python_child(HANDLED, name)
    try:
        assert line(child, 20) == "ready\n"
        assert await_waiter(seg, "h")
        for _ in range(3):
            child.send_signal(signal.SIGUSR1)
            time.sleep(0.05)  # not synchronisation: spacing the signals out
        assert await_waiter(seg, "h")  # waiting again, not failed
        lk.release()
        out = line(child, 20)
        assert out.startswith("granted after") and not out.startswith("granted after 0")
        assert child.wait(10) == 0
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()


def test_wait_releases_the_gil(seg, name):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        s = prdshm.open(name)
        s.lock("g").acquire()
        os.write(w, b"h")
        signal.pause()
        os._exit(0)
    try:
        assert os.read(r, 1) == b"h"
        ticks = []
        stop = threading.Event()

        def ticker():
            while not stop.is_set():
                ticks.append(1)
                time.sleep(0.001)
        th = threading.Thread(target=ticker)
        th.start()
        assert seg.lock("g").acquire(timeout=0.3) is False
        stop.set()
        th.join()
        # Blocked in the library for 0.3 s, the other thread kept running.
        assert len(ticks) > 5
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
        os.close(w)
