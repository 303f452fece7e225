#!/usr/bin/python3
"""./takumi bench --faults: the long versions of the fault tests (docs/reliability.md), one
after the other on the release build, then a table of their figures.

  ingest kill -9 x30 under load         tests/integration/test_ingest_crash.py
  broker kill -9 x5 under load          tests/integration/test_faults.py
  disk full under the store             tests/integration/test_faults.py
  backlog of 100,000 queued readings    tests/integration/test_faults.py
  gateway backhaul down 60 s            tests/integration/test_gateway.py
  gateway kill -9 under load            tests/integration/test_gateway.py

A failed guarantee stops nothing else: every scenario runs, the table says which failed and
the exit status is 1. Options: --only NAME (ingest, broker, disk, backlog, gateway)."""
import argparse
import os
import sys
import time
import traceback

TOP = os.environ.get("TAKUMI_TOP", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TAKUMI_BIN", os.path.join(TOP, "build", "release"))
os.environ["TAKUMI_BIN"] = BIN
os.environ["TAKUMI_TOP"] = TOP
# the long versions (each test reads its size from the environment)
os.environ.setdefault("TAKUMI_CRASH_KILLS", "30")
os.environ.setdefault("TAKUMI_CRASH_COUNT", "7500")
os.environ.setdefault("TAKUMI_FAULT_BROKER_KILLS", "5")
os.environ.setdefault("TAKUMI_FAULT_BACKLOG", "100000")
os.environ.setdefault("TAKUMI_GW_OUTAGE_S", "60")
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import test_faults  # noqa: E402
import test_gateway  # noqa: E402
import test_ingest_crash  # noqa: E402
import tkfix  # noqa: E402

SCENARIOS = [
    ("ingest", "ingest kill -9 x%s under load" % os.environ["TAKUMI_CRASH_KILLS"],
     test_ingest_crash.test_kill9_ingest_under_load,
     lambda: test_ingest_crash.FIGURES.get("ingest_kill9")),
    ("broker", "broker kill -9 x%s under load" % os.environ["TAKUMI_FAULT_BROKER_KILLS"],
     test_faults.test_kill9_broker_under_load, lambda: test_faults.FIGURES.get("broker_kill9")),
    ("disk", "disk full under the store", test_faults.test_disk_full,
     lambda: test_faults.FIGURES.get("disk_full")),
    ("backlog", "backlog of %s queued readings" % os.environ["TAKUMI_FAULT_BACKLOG"],
     test_faults.test_backlog_drain, lambda: test_faults.FIGURES.get("backlog")),
    ("gateway", "gateway backhaul down %s s" % os.environ["TAKUMI_GW_OUTAGE_S"],
     test_gateway.test_backhaul_outage, lambda: None),
    ("gateway", "gateway kill -9 under load", test_gateway.test_kill9_gateway_under_load,
     lambda: None),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=sorted({s[0] for s in SCENARIOS}))
    a = ap.parse_args()
    rows = []
    for key, label, fn, figs in SCENARIOS:
        if a.only and key != a.only:
            continue
        print("== %s" % label, flush=True)
        t0 = time.monotonic()
        try:
            fn()
            verdict = "PASS"
        except SystemExit as e:  # a scenario that cannot run here (e.g. no root for mount)
            verdict = "SKIP (%s)" % e.code
        except Exception:
            traceback.print_exc()
            verdict = "FAIL"
        rows.append((label, verdict, "%.0f s" % (time.monotonic() - t0), figs() or {}))
    tkfix._close_all()
    print()
    w = max(len(r[0]) for r in rows)
    print("%-*s  %-7s %-6s %s" % (w, "fault", "verdict", "time", "figures"))
    for label, verdict, took, f in rows:
        print("%-*s  %-7s %-6s %s" % (w, label, verdict, took,
                                      ", ".join("%s=%s" % kv for kv in f.items())))
    print("(gateway figures: the per-device lines printed above by test_gateway.py)")
    return 1 if any(r[1] == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
