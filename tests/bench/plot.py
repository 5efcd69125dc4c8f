#!/usr/bin/env python3
"""Draw prdshm-bench's JSON (build/bench.json) as PNG plots with gnuplot.

    plot.py BENCH_JSON OUT_DIR

scaling.png: aggregate acquire+release pairs per second against the number
of processes (1, 2, 4, 8), one curve per kind of lock, the bars spanning the
repetitions' min..max.  latency.png: the median and 99th percentile of the
hand-off latency under 4 contending processes, prdshm against the fair
ticket lock.  Without gnuplot (Debian: gnuplot-nox) it says so and exits 0:
the plots are an extra, the JSON is the result.
"""
import json
import os
import shutil
import subprocess
import sys

# (id prefix, legend), in the order the curves are drawn.
CURVES = [
    ("hot", "prdshm, one hot resource"),
    ("distinct", "prdshm, own resources"),
    ("ticket", "fair FIFO ticket lock"),
    ("mutex_hot", "bare robust mutex (unfair)"),
    ("flock_hot", "flock(2)"),
    ("ofd_hot", "fcntl OFD lock"),
]
NPROCS = [1, 2, 4, 8]
LATENCY = [("handoff4", "prdshm"), ("ticket4", "ticket lock")]


def rows_by_id(path):
    with open(path) as f:
        doc = json.load(f)
    return doc, {r["id"]: r for r in doc["results"]}


def write_scaling(rows, out):
    """One data block per curve, in CURVES order; @return the drawn curves."""
    drawn = []
    with open(os.path.join(out, "scaling.dat"), "w") as f:
        for prefix, legend in CURVES:
            pts = [(n, rows.get("%s%d" % (prefix, n))) for n in NPROCS]
            pts = [(n, r) for n, r in pts if r]
            if not pts:
                continue
            for n, r in pts:
                f.write("%d %g %g %g\n" % (n, r["median"], r["min"], r["max"]))
            f.write("\n\n")
            drawn.append(legend)
    return drawn


def write_latency(rows, out):
    drawn = []
    with open(os.path.join(out, "latency.dat"), "w") as f:
        for prefix, legend in LATENCY:
            p50, p99 = rows.get(prefix + "_p50"), rows.get(prefix + "_p99")
            if p50 and p99:
                f.write('"%s" %g %g\n' % (legend, p50["median"] / 1e3, p99["median"] / 1e3))
                drawn.append(legend)
    return drawn


def script(doc, out, curves, latency):
    title = "prdshm %s, %s CPUs, Linux %s" % (doc.get("prdshm", "?"), doc.get("cpus", "?"),
                                             doc.get("kernel", "?"))
    lines = [
        "set terminal pngcairo size 900,560 noenhanced font ',10'",
        "set grid",
        "set key outside right",
    ]
    if curves:
        plots = ", ".join(
            "'%s' index %d using 1:2:3:4 with yerrorlines lw 2 title '%s'"
            % (os.path.join(out, "scaling.dat"), i, legend) for i, legend in enumerate(curves))
        lines += [
            "set output '%s'" % os.path.join(out, "scaling.png"),
            "set title 'Acquire+release throughput by process count (%s)'" % title,
            "set xlabel 'processes'", "set ylabel 'pairs per second (all processes)'",
            "set logscale xy 2", "set xtics (1, 2, 4, 8)", "set xrange [0.8:10]",
            "set format y '%.0s%c'",
            "plot " + plots,
            "unset logscale", "set format y '%g'",
        ]
    if latency:
        lines += [
            "set output '%s'" % os.path.join(out, "latency.png"),
            "set title 'Hand-off latency, 4 contending processes (%s)'" % title,
            "set style data histogram", "set style histogram clustered gap 1",
            "set style fill solid 0.7 border -1", "set boxwidth 0.9",
            "set xlabel ''", "set ylabel 'microseconds, release to grant'",
            "set xtics auto", "set xrange [*:*]", "set yrange [0:*]",
            "plot '%s' using 2:xtic(1) title 'median', '' using 3 title '99th percentile'"
            % os.path.join(out, "latency.dat"),
        ]
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: plot.py BENCH_JSON OUT_DIR\n")
        return 2
    if shutil.which("gnuplot") is None:
        print("bench: no plots: gnuplot is not installed (Debian: gnuplot-nox)")
        return 0
    doc, rows = rows_by_id(sys.argv[1])
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    curves, latency = write_scaling(rows, out), write_latency(rows, out)
    if not curves and not latency:
        print("bench: no plots: %s has no scaling or latency cases" % sys.argv[1])
        return 0
    subprocess.run(["gnuplot"], input=script(doc, out, curves, latency), text=True,
                   check=True)
    for name in ("scaling.png", "latency.png"):
        if os.path.exists(os.path.join(out, name)):
            print("bench: plot %s" % os.path.join(out, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
