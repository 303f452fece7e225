#!/usr/bin/python3
"""Scale-out figures (docs/scale-out.md), measured in one run on this machine:

  ingest readings/s, end to end (tk-pub QoS 1 behaving like --devices devices: seq numbers,
  retained watermark acks watched, resends when an ack stalls -> Mosquitto -> takumi-ingest
  -> store -> watermark acks back; the publisher finishes when every device's ack covers
  its last reading), with 1, 2 and 4 ingest workers started as `./takumi up
  --ingest-workers N` starts them (one worker: a plain subscription; several: one shared
  subscription, --share-group ingest, distinct --client-id, the alert engine in the first
  only), into SQLite and into PostgreSQL (a server started for each run by
  tests/pg/pgserver.py, fsync on, synchronous_commit on: the same durability as SQLite's
  synchronous=FULL). A fixed number of readings per run, bounded by --timeout-s.

  Printed as ratios against SQLite with one worker measured in the same round (the machine
  is shared and noisy), with the CPU each part used per 1,000 readings (ingest workers,
  broker, PostgreSQL's processes, the publisher), the rows per commit the ingest made, and
  the workers' transactions (from their stats lines: average milliseconds from store_begin
  to the end of store_commit, parsing and the store's work included, and the share of each
  worker's time spent inside them; the rest is gathering, waiting for readings and
  publishing acks).

  --queries adds store-bench's query figures (one day of one datastream, 30 days of hourly
  aggregates, latest of 1,000 datastreams) against PostgreSQL beside SQLite (slow: it
  builds a --db-rows store in each).

Usage: bench/scaleout.py [--devices N] [--count N] [--workers 1,2,4] [--stores sqlite,pg]
                         [--rounds N] [--timeout-s N] [--queries [--db-rows N] [--runs N]]
Run from ./takumi bench --scaleout (release build), or with TAKUMI_BIN set."""
import argparse
import json
import os
import re
import statistics
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
import api  # noqa: E402  (bench/api.py: store-bench's runner)

TICK = os.sysconf("SC_CLK_TCK")
NAMES = {"sqlite": "SQLite", "pg": "PostgreSQL"}


def _stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_s(pid):
    """User + system CPU seconds of a live process."""
    f = _stat(pid)
    return (int(f[11]) + int(f[12])) / TICK


def tree_cpu_s(pid):
    """CPU seconds of a process, its live children and the children it has reaped (the
    postmaster and its backends, WAL writer, checkpointer...)."""
    f = _stat(pid)
    total = int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            c = _stat(int(d))
        except OSError:
            continue
        if int(c[1]) == pid:
            total += int(c[11]) + int(c[12])
    return total / TICK


STATS_RE = re.compile(r"stats received=(\d+) readings=(\d+) observations=(\d+) .* commits=(\d+)"
                      r" commit_failures=\d+ commit_ms_avg=([\d.]+)")


def last_stats(log):
    """(readings, observations, commits, commit ms in all) of the last stats line of an
    ingest log."""
    m = None
    for m in STATS_RE.finditer(log):
        pass
    if not m:
        return (0, 0, 0, 0.0)
    return (int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(4)) * float(m.group(5)))


def ingest_run(store, workers, ndev, count, timeout_s):
    """One measured run. store: "sqlite" or "pg". Returns a dict of figures."""
    pg = pgserver.PgServer().start() if store == "pg" else None
    try:
        name = "bench-so-%s-%d" % (store, workers)
        with tkfix.Stack(name, store=pg.uri if pg else None) as st:
            st.start_broker()
            for i in range(ndev):
                st.admin("device", "add", "--kind", "water_level", "--id", "ld-%05d" % i,
                         "--lat", "34.39", "--lon", "132.45")
            gw = st.add_gateway("bench-gw")
            procs = []
            for w in range(workers):
                extra = (["--share-group", "ingest", "--client-id", "takumi-ingest-%d" % w]
                         if workers > 1 else [])
                procs.append(st.start_ingest("--stats-interval-s", "1", *extra, name="ingest-%d" % w))
            cmd = [os.path.join(BIN, "tests", "tk-pub"), "--port", str(st.mqtt_port), "--user", "bench-gw",
                   "--password", gw, "--prefix", "ld", "--ack-timeout-ms", "60000",
                   "--devices", str(ndev), "--count", str(count), "--timeout-s", str(timeout_s)]
            c_ing = sum(cpu_s(p.pid) for p in procs)
            c_brk = cpu_s(st.broker.pid)
            c_pg = tree_cpu_s(pg.proc.pid) if pg else 0.0
            t0 = time.monotonic()
            outf = os.path.join(st.dir, "tk-pub.out")
            with open(outf, "w") as fo:
                pub = subprocess.Popen(cmd, stdout=fo, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout_s + 60
            while True:  # wait4 for the publisher's own CPU, bounded
                pid, status, ru = os.wait4(pub.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    pub.kill()
                    pub.wait()
                    raise RuntimeError("tk-pub did not finish within %d s" % (timeout_s + 60))
                time.sleep(0.02)
            pub.returncode = os.waitstatus_to_exitcode(status)
            wall = time.monotonic() - t0
            total = ndev * count
            per_k = 1000.0 / total
            cpu = {"ingest": (sum(cpu_s(p.pid) for p in procs) - c_ing) * per_k,
                   "broker": (cpu_s(st.broker.pid) - c_brk) * per_k,
                   "postgres": ((tree_cpu_s(pg.proc.pid) - c_pg) * per_k) if pg else 0.0,
                   "publisher": (ru.ru_utime + ru.ru_stime) * per_k}
            with open(outf) as fo:
                out = fo.read()
            if pub.returncode != 0:
                raise RuntimeError("tk-pub failed: %s" % out[-2000:])
            res = json.loads(out.strip().splitlines()[-1])
            if not res.get("ok"):
                raise RuntimeError("not every reading was acknowledged: %s" % res)
            # each worker logs stats after its periodic transaction (1 s apart): wait for a
            # line written after its last reading's transaction
            time.sleep(2.2)
            rd = obs = commits = 0
            commit_ms = 0.0
            for w in range(workers):
                r, o, c, ms = last_stats(st.log("ingest-%d" % w))
                rd, obs, commits, commit_ms = rd + r, obs + o, commits + c, commit_ms + ms
            return {"rate": res["rate"], "wall": wall, "resent": res.get("resent", 0), "cpu": cpu,
                    "rows_per_commit": obs / commits if commits else 0.0,
                    "commit_ms": commit_ms / commits if commits else 0.0,
                    "commit_share": commit_ms / 1000.0 / wall / workers,
                    "readings_per_commit": rd / commits if commits else 0.0}
    finally:
        if pg:
            pg.stop()


def query_figures(store_uri, db_rows, runs):
    args = ["--db-rows", db_rows, "--runs", runs, "--dir", "/tmp/tk-scaleout-bench"]
    if store_uri:
        args += ["--query-store", store_uri]
    else:
        args += ["--rows", 100000]  # the insert figures are not the point here
    return api.store_bench(args, 3600)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--count", type=int, default=300, help="readings per device")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--stores", default="sqlite,pg")
    ap.add_argument("--rounds", type=int, default=1,
                    help="each round measures every store and worker count once")
    ap.add_argument("--timeout-s", type=int, default=600, help="bound of one run")
    ap.add_argument("--queries", action="store_true", help="store-bench's query figures too")
    ap.add_argument("--db-rows", type=int, default=2000000)
    ap.add_argument("--runs", type=int, default=101)
    ap.add_argument("--json", action="store_true", help="also print every run as JSON")
    a = ap.parse_args(argv)
    workers = [int(w) for w in a.workers.split(",")]
    stores = a.stores.split(",")
    for s in stores:
        if s not in NAMES:
            ap.error("--stores takes sqlite and pg, not %r" % s)
    base_key = (stores[0], workers[0])

    runs = {}  # (store, workers) -> [figures per round]
    ratios = {}  # (store, workers) -> [rate / same round's baseline]
    for r in range(a.rounds):
        this = {}
        # alternate the order between rounds so that no configuration always runs first
        order = [(s, w) for w in workers for s in stores]
        if r % 2:
            order.reverse()
        for s, w in order:
            print("round %d: %s, %d worker(s) ..." % (r + 1, NAMES[s], w), file=sys.stderr, flush=True)
            this[(s, w)] = ingest_run(s, w, a.devices, a.count, a.timeout_s)
            if a.json:
                print(json.dumps({"round": r + 1, "store": s, "workers": w, **this[(s, w)]}), flush=True)
        for k, v in this.items():
            runs.setdefault(k, []).append(v)
            ratios.setdefault(k, []).append(v["rate"] / this[base_key]["rate"])

    print("ingest, %d devices x %d readings (3 observations each), QoS 1, durable commit, "
          "every reading acked end to end; %d round(s)" % (a.devices, a.count, a.rounds))
    print("%-10s %7s %11s %14s %9s %9s %9s %9s %8s %14s" % (
        "store", "workers", "readings/s", "vs %s x%d" % (NAMES[base_key[0]], base_key[1]),
        "ingest", "broker", "postgres", "publisher", "rows/tx", "transactions"))
    print("%-10s %7s %11s %14s   %-40s %17s" % ("", "", "(median)", "(median)",
                                                "CPU ms per 1,000 readings (median)",
                                                "ms avg, % of time"))
    for s in stores:
        for w in workers:
            rr = runs[(s, w)]
            med = lambda key: statistics.median(x["cpu"][key] for x in rr)  # noqa: E731
            rat = ratios[(s, w)]
            print("%-10s %7d %11.0f %13.2fx %9.0f %9.0f %9s %9.0f %8.0f %7.1f %4.0f%%%s" % (
                NAMES[s], w, statistics.median(x["rate"] for x in rr), statistics.median(rat),
                med("ingest") * 1000, med("broker") * 1000,
                "%.0f" % (med("postgres") * 1000) if s == "pg" else "-", med("publisher") * 1000,
                statistics.median(x["rows_per_commit"] for x in rr),
                statistics.median(x["commit_ms"] for x in rr),
                statistics.median(x["commit_share"] for x in rr) * 100,
                "   rounds " + "/".join("%.2f" % x for x in rat) if a.rounds > 1 else ""))

    if not a.queries:
        return
    print("store queries, SQLite and PostgreSQL, %d rows ..." % a.db_rows, file=sys.stderr, flush=True)
    t0 = time.monotonic()
    q_sqlite = query_figures(None, a.db_rows, a.runs)
    with pgserver.PgServer() as pg:
        q_pg = query_figures(pg.uri, a.db_rows, a.runs)
    print("(queries took %.0f s)" % (time.monotonic() - t0), file=sys.stderr)
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
