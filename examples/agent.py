#!/usr/bin/python3
"""A complete prdshm agent in Python: what prdshm-agent does, with the
binding.  prdshm-run starts it instead of prdshm-agent with

    prdshm-run --agent-cmd "/usr/bin/python3 examples/agent.py"

which appends prdshm-agent's arguments: --name NAME --id ID [--config FILE].
(PYTHONPATH=build/python from a checkout, or the installed package.)

The loop: claim the best ready phase (waiting while none is ready), lock
its outputs EXCLUSIVE all at once (conflicts retried
conflict_retry_attempts times within lock_timeout_seconds), run its command
with /bin/sh and the PRD_* variables, heartbeat while it runs, then
complete or fail it and release the outputs.  SIGTERM or SIGINT stop the
agent: the command is terminated and its phase CANCELLED.
Exit status: 0 all phases it ran completed, 1 some failed, 128+signal.
"""
import argparse
import os
import signal
import subprocess
import sys
import time

import prdshm

stop_signal = 0


def on_stop(sig, frame):
    global stop_signal
    stop_signal = stop_signal or sig


def say(agent, text):
    print("%s: %s" % (agent.id, text), flush=True)


def lock_try(agent, claim, seconds):
    """One try: wait up to @seconds in slices of a second, heartbeating
    between them and stopping on SIGTERM (the signal handler returns, so
    the binding would otherwise wait on).  Each slice is a new request, as
    in prdshm-agent: the price of noticing a stop within a second."""
    end = time.monotonic() + seconds
    while True:
        left = max(0.0, end - time.monotonic())
        ls = agent.lock_many(claim.outputs, timeout=min(1.0, left), phase=claim.id)
        try:
            return ls.__enter__()  # held until agent.unlock_all()
        except prdshm.LockTimeout:
            if stop_signal or left <= 1.0:
                raise
        agent.heartbeat()


def lock_outputs(agent, seg_info, claim):
    """The phase's outputs, all or none: a LockSet, or False (and why)."""
    if not claim.outputs:
        return None, ""
    tries = 1 + max(0, seg_info["conflict_retry_attempts"])
    per_try = seg_info["lock_timeout_seconds"] / tries
    why = ""
    for t in range(1, tries + 1):
        try:
            return lock_try(agent, claim, per_try), ""
        except (prdshm.LockTimeout, prdshm.Deadlock) as e:
            why = "cannot lock output %s: %s" % (getattr(e, "resource", "?"), e.detail)
        if stop_signal:
            break
        agent.heartbeat()
        if per_try == 0:
            time.sleep(0.1 * t)
    return False, why


def run_command(agent, claim, seg_name):
    """Run the phase's command; @return (exit status, message)."""
    if not claim.command:
        return 0, ""  # a milestone
    env = dict(os.environ, PRD_PHASE_ID=claim.id, PRD_PHASE_NAME=claim.name,
               PRD_PHASE_DEPS=" ".join(claim.dependencies),
               PRD_PHASE_ATTEMPT=str(claim.attempt), PRD_AGENT_ID=agent.id,
               PRD_SHM_NAME=seg_name, PRD_AGENT_KIND="python")
    proc = subprocess.Popen(["/bin/sh", "-c", claim.command], env=env,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    while True:
        try:
            status = proc.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            agent.heartbeat()
        if stop_signal:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return None, "stopped by signal %d" % stop_signal
    if status < 0:
        return 128 - status, "killed by signal %d" % -status
    return status, "" if status == 0 else "exit status %d" % status


def run_phase(agent, seg, info, claim):
    """@return True if the phase completed."""
    t0 = time.monotonic()
    say(agent, "%s started (attempt %d)" % (claim.id, claim.attempt))
    agent.log("%s: started" % claim.id)
    outputs, why = lock_outputs(agent, info, claim)
    status, msg = (None, "")  # None: cancelled, unless something ran
    if outputs is False and not stop_signal:
        status, msg = 1, why
    elif outputs is not False and not stop_signal:
        status, msg = run_command(agent, claim, seg.name)
    try:
        if status is None:
            agent.cancel(claim)
            what = "cancelled"
        elif status == 0:
            agent.complete(claim)
            what = "completed"
        else:
            agent.fail(claim, status, msg)
            what = "failed"
    except prdshm.PhaseError as e:  # cancelled or skipped by hand meanwhile
        what, msg = "lost", str(e)
    agent.unlock_all()
    say(agent, "%s %s in %.1fs%s" % (claim.id, what, time.monotonic() - t0,
                                     ": " + msg if msg else ""))
    return what == "completed"


def main(argv=None):
    ap = argparse.ArgumentParser(description="a prdshm agent in Python")
    ap.add_argument("--name", help="segment name (default: from the configuration)")
    ap.add_argument("--id", help="agent id (default: py-<pid>)")
    ap.add_argument("-c", "--config", help="configuration file (prdpar.yaml)")
    a = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    ran = failed = 0
    with prdshm.open(a.name, a.config) as seg, seg.join(a.id) as agent:
        info = seg.info()
        say(agent, "python agent (prdshm %s, pid %d) on %s" % (prdshm.version(), os.getpid(),
                                                              seg.name))
        while not stop_signal:
            claim = agent.claim(timeout=1.0)
            if claim is None:
                if agent.done:
                    break
                agent.heartbeat()
                continue
            ran += 1
            failed += not run_phase(agent, seg, info, claim)
        if stop_signal:
            return 128 + stop_signal
        say(agent, "nothing left to claim: %d phase%s run, %d failed"
            % (ran, "" if ran == 1 else "s", failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
