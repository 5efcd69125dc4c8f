#!/usr/bin/env python3
"""Compare two prdshm-bench JSON files case by case (make bench-compare).

    compare.py OLD.json NEW.json

For each case in both, the medians and NEW/OLD, then "better" or "worse"
by the unit (ops/s: higher is better; ns/op, ms, bytes: lower is) when the
change exceeds 10 %, which is less than these runs move on a noisy machine:
read a single "worse" as a hint to rerun, not as a verdict.  Then the
targets whose status changed.  Exit status 0, or 2 on a usage error.
"""
import json
import signal
import sys

NOISE = 0.10


def load(path):
    with open(path) as f:
        doc = json.load(f)
    return doc, {r["id"]: r for r in doc.get("results", [])}


def verdict(unit, ratio):
    if abs(ratio - 1) <= NOISE:
        return ""
    higher_better = unit == "ops/s"
    return "better" if (ratio > 1) == higher_better else "worse"


def fmt(v):
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return "%.3g%s" % (v / div, suffix)
    return "%.3g" % v


def main():
    # Piped into head(1): stop quietly.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if len(sys.argv) != 3:
        sys.stderr.write("usage: compare.py OLD.json NEW.json\n")
        return 2
    old_doc, old = load(sys.argv[1])
    new_doc, new = load(sys.argv[2])
    print("%-14s %-7s %10s %10s %8s" % ("case", "unit", "old", "new", "new/old"))
    for rid, n in new.items():
        o = old.get(rid)
        if o is None or o["median"] <= 0:
            continue
        ratio = n["median"] / o["median"]
        print("%-14s %-7s %10s %10s %7.2fx %s" % (rid, n["unit"], fmt(o["median"]),
                                                  fmt(n["median"]), ratio,
                                                  verdict(n["unit"], ratio)))
    only = sorted(set(old) ^ set(new))
    if only:
        print("in one file only: " + " ".join(only))
    was = {t["target"]: t["status"] for t in old_doc.get("targets", [])}
    for t in new_doc.get("targets", []):
        if t["target"] in was and was[t["target"]] != t["status"]:
            print("target %s: %s -> %s" % (t["target"], was[t["target"]], t["status"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
