#!/usr/bin/python3
"""Two builds of takumi-ingest in alternating rounds, each round also measuring (a), the raw
MQTT transport, so that every figure is a ratio against a baseline taken minutes apart on
the same shared machine: per build, the median over the rounds of (b) msg/s, (b)/(a), and
the CPU milliseconds per 1,000 readings of the ingest and of the broker (bench/run.py
measures each the same way as `./takumi bench`).

Usage: ingest_ab.py --before PATH/takumi-ingest [--after PATH/takumi-ingest] [--rounds N]
[--devices N] [--count N]. The other build is typically the previous commit's: copy its
build/release/ingest/takumi-ingest aside before rebuilding, or build it from
`git archive <commit> | tar -x -C DIR` with `cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo`."""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="the takumi-ingest to compare against")
    ap.add_argument("--after", default=os.path.join(run.BIN, "ingest", "takumi-ingest"))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--count", type=int, default=1000)
    a = ap.parse_args()
    builds = [("before", a.before), ("after", a.after)]
    res = {"raw": [], "before": [], "after": []}
    for r in range(a.rounds):
        raw = run.bench_raw(a.devices, a.count)
        c = run.CPU["raw"]
        res["raw"].append((raw, 1.0, c["consumer"] * 1000, c["broker"] * 1000))
        print("round %d (a) raw: %.0f msg/s, consumer %.1f ms, broker %.1f ms per 1k; load %s"
              % (r, raw, c["consumer"] * 1000, c["broker"] * 1000,
                 open("/proc/loadavg").read().split()[0]), flush=True)
        for name, exe in builds if r % 2 == 0 else builds[::-1]:
            os.environ["TAKUMI_BENCH_INGEST_EXE"] = exe
            rate, _ = run.bench_ingest(a.devices, a.count)
            c = run.CPU["ingest"]
            res[name].append((rate, rate / raw, c["consumer"] * 1000, c["broker"] * 1000))
            print("round %d (b) %s: %.0f msg/s = %.2fx of (a), ingest %.1f ms, broker %.1f ms"
                  " per 1k" % (r, name, rate, rate / raw, c["consumer"] * 1000,
                               c["broker"] * 1000), flush=True)
    print("medians over %d rounds:" % a.rounds)
    for name, rows in res.items():
        m = [statistics.median(x[i] for x in rows) for i in range(4)]
        print("  %-6s %6.0f msg/s  %.2fx of (a)  consumer CPU %.1f ms/1k  broker CPU %.1f ms/1k"
              % (name, m[0], m[1], m[2], m[3]))


if __name__ == "__main__":
    main()
