#!/usr/bin/python3
"""Scale-out figures (docs/scale-out.md), measured in one run on this machine:

  ingest readings/s, end to end (tk-pub QoS 1 -> Mosquitto -> takumi-ingest -> store ->
  watermark acks back to the publisher), with 1, 2 and 4 ingest workers on one shared
  subscription, into SQLite and into PostgreSQL (a server started for each run by
  tests/pg/pgserver.py, fsync on, synchronous_commit on: the same durability);
  and the store query figures of store-bench (one day of one datastream, 30 days of hourly
  aggregates, latest of 1,000 datastreams) against PostgreSQL beside SQLite.

Usage: bench/scaleout.py [--devices N] [--count N] [--workers 1,2,4] [--db-rows N]
Run from ./takumi bench --scaleout (release build), or with TAKUMI_BIN set."""
import argparse
import json
import os
import subprocess
import sys
import time

TOP = os.environ.get("TAKUMI_TOP", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TAKUMI_BIN", os.path.join(TOP, "build", "release"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "tests", "pg"))
os.environ["TAKUMI_BIN"] = BIN
os.environ["TAKUMI_TOP"] = TOP

import tkfix  # noqa: E402
import pgserver  # noqa: E402


def ingest_rate(store_uri, workers, ndev, count):
    name = "bench-so-%s-%d" % ("pg" if store_uri else "sqlite", workers)
    with tkfix.Stack(name, store=store_uri) as st:
        st.start_broker()
        for i in range(ndev):
            st.admin("device", "add", "--kind", "water_level", "--id", "ld-%05d" % i,
                     "--lat", "34.39", "--lon", "132.45")
        gw = st.add_gateway("bench-gw")
        for w in range(workers):
            extra = ["--share-group", "ingest", "--client-id", "takumi-ingest-%d" % w] if workers > 1 else []
            st.start_ingest("--stats-interval-s", "5", *extra, name="ingest-%d" % w)
        cmd = [os.path.join(BIN, "tests", "tk-pub"), "--port", str(st.mqtt_port), "--user", "bench-gw",
               "--password", gw, "--prefix", "ld", "--ack-timeout-ms", "60000",
               "--devices", str(ndev), "--count", str(count), "--timeout-s", "600"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=700)
        if out.returncode != 0:
            raise RuntimeError("tk-pub failed: %s %s" % (out.stdout, out.stderr))
        res = json.loads(out.stdout.strip().splitlines()[-1])
        if not res.get("ok"):
            raise RuntimeError("not every reading was acknowledged: %s" % res)
        return res["rate"]


def query_figures(store_uri, db_rows, runs):
    exe = os.path.join(BIN, "bench", "store-bench")
    args = [exe, "--db-rows", str(db_rows), "--runs", str(runs), "--dir", "/tmp/tk-scaleout-bench"]
    if store_uri:
        args += ["--query-store", store_uri]
    else:
        args += ["--rows", "100000"]  # the insert figures are not the point here
    out = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError("store-bench failed: %s" % out.stderr[-2000:])
    figs = {}
    for line in out.stdout.splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        figs[d["figure"]] = d
    return figs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--db-rows", type=int, default=2000000)
    ap.add_argument("--runs", type=int, default=101)
    a = ap.parse_args()
    workers = [int(w) for w in a.workers.split(",")]

    rates = {}
    for w in workers:
        print("ingest into SQLite, %d worker(s) ..." % w, file=sys.stderr, flush=True)
        rates[("sqlite", w)] = ingest_rate(None, w, a.devices, a.count)
        print("ingest into PostgreSQL, %d worker(s) ..." % w, file=sys.stderr, flush=True)
        with pgserver.PgServer() as pg:
            rates[("pg", w)] = ingest_rate(pg.uri, w, a.devices, a.count)

    print("store queries, SQLite and PostgreSQL, %d rows ..." % a.db_rows, file=sys.stderr, flush=True)
    t0 = time.monotonic()
    q_sqlite = query_figures(None, a.db_rows, a.runs)
    with pgserver.PgServer() as pg:
        q_pg = query_figures(pg.uri, a.db_rows, a.runs)
    print("(queries took %.0f s)" % (time.monotonic() - t0), file=sys.stderr)

    base = rates[("sqlite", workers[0])]
    print("ingest, %d devices x %d readings, QoS 1, durable commit, acked end to end" % (a.devices, a.count))
    print("%-10s %8s %14s %14s %10s" % ("store", "workers", "readings/s", "vs SQLite x%d" % workers[0], ""))
    for store in ("sqlite", "pg"):
        for w in workers:
            r = rates[(store, w)]
            print("%-10s %8d %14.0f %13.2fx" % ("SQLite" if store == "sqlite" else "PostgreSQL", w, r, r / base))
    print("store queries (median of %d runs; %d rows of 1-minute readings)" % (a.runs, a.db_rows))
    for key, label in (("store.day_range", "one day of one datastream"),
                       ("store.hourly_30d", "30 days of hourly aggregates"),
                       ("store.latest_1000", "latest of 1,000 datastreams")):
        s, p = q_sqlite.get(key), q_pg.get(key)
        if s and p:
            print("  %-30s SQLite %8.0f us   PostgreSQL %8.0f us   (%.1fx)" % (label, s["value"], p["value"],
                                                                       p["value"] / s["value"]))
    if "store.load" in q_pg and "store.load" in q_sqlite:
        print("  %-30s SQLite %8.0f rows/s PostgreSQL %8.0f rows/s (5,000-row transactions)"
              % ("building the query store", q_sqlite["store.load"]["value"], q_pg["store.load"]["value"]))


if __name__ == "__main__":
    main()
