#!/usr/bin/python3
"""API figures for ./takumi bench (SPEC section 9, issue 3), measured in one run on the
store that store-bench builds (10M Observations: 30 days of 1-minute readings of 3
Datastreams per gauge):

  (j) entity GET /v1.1/Things(1): requests/s and p99 under wrk, against mhd-bare (a bare
      libmicrohttpd server with the API's thread settings answering the same bytes), in
      alternating rounds; the ratio is the median of the rounds' ratios
  (h) latest values of 1,000 Datastreams in one request (/Datastreams/latest?ids=...)
  (l) one day of one Datastream through the API ($filter on phenomenonTime, 1,440 rows)
  (m) hourly aggregates over 30 days through the API (/Observations/aggregate)
  (k) RSS of takumi-api sampled across the wrk load (first, peak, last), and across a
      streamed CSV export of 1M rows (the export must not grow with its size)

(h)-(j) are medians and p99 of sequential requests over one keep-alive connection (after
10 not counted), measured by the client (request sent to body read), with the server's
CPU milliseconds per request (from /proc), which a busy machine distorts less, and the
client's own CPU per request. Usage: api.py [--db PATH]
[--load-s N] [--rounds N] [--runs N] [--store pg]; --soak-s 600 measures only the RSS across
ten minutes of mixed load; imported by run.py.

--store pg: the same figures on PostgreSQL too, in the same run, beside SQLite. A throwaway
server (tests/pg/pgserver.py) gets the same 10M rows from store-bench --query-store
(through the store's write path, --pg-load-tx-rows rows per transaction), is checked against
the SQLite store (row count, rollups, the same Thing and Datastream ids), and takumi-api is
started on it with the same flags."""
import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

TOP = os.environ.get("TAKUMI_TOP", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TAKUMI_BIN", os.path.join(TOP, "build", "release"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import tkfix  # noqa: E402
sys.path.insert(0, os.path.join(TOP, "tests", "pg"))
import pgserver  # noqa: E402

THREADS = 2
WRK = shutil.which("wrk") or "/usr/bin/wrk"
T0_US = 1795651200000000  # 2026-11-26T00:00:00Z, store-bench's first reading
DAY_US = 86400 * 1000000


def iso(us):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us // 1000000))


def store_db(dbdir, db_rows=10000000):
    """store-bench's 10M-row store, built once and kept in dbdir (reused by later runs)."""
    path = os.path.join(dbdir, "query.db")
    os.makedirs(dbdir, exist_ok=True)
    exe = os.path.join(BIN, "bench", "store-bench")
    out = subprocess.run([exe, "--dir", dbdir, "--keep", "--rows", "10000", "--runs", "3",
                          "--db-rows", str(db_rows)],
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0 or not os.path.exists(path):
        raise RuntimeError("store-bench failed: %s" % out.stderr[-2000:])
    return path


def store_bench(args, timeout):
    """Run store-bench with args; its figures (one JSON object a line), by name."""
    exe = os.path.join(BIN, "bench", "store-bench")
    out = subprocess.run([exe] + [str(a) for a in args], capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError("store-bench %s failed: %s" % (" ".join(map(str, args[:2])),
                                                          out.stderr[-2000:]))
    figs = {}
    for line in out.stdout.splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        figs[d["figure"]] = d
    return figs


def pg_store(pg, db_rows=10000000, tx_rows=100000):
    """Load store-bench's query store (the same devices, readings and ids as store_db) into
    the empty PostgreSQL database of pg; returns store-bench's figures (store.load: rows/s,
    and its store-level queries)."""
    return store_bench(["--query-store", pg.uri, "--db-rows", db_rows, "--runs", 3,
                        "--load-tx-rows", tx_rows], 7200)


def check_same(db, pg):
    """The PostgreSQL store holds what the SQLite one does: the API figures then compare
    the same requests on the same data. Returns a description; raises when they differ."""
    import sqlite3
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        s = {"observations": c.execute("SELECT count(*) FROM observations").fetchone()[0],
             "things": c.execute("SELECT min(id), max(id), count(*) FROM things").fetchone(),
             "datastreams": c.execute("SELECT min(id), max(id), count(*) FROM datastreams").fetchone()}
    finally:
        c.close()
    p = {"observations": int(pg.psql("SELECT count(*) FROM observations")),
         "things": tuple(int(x) for x in pg.psql("SELECT min(id), max(id), count(*) FROM things").split("|")),
         "datastreams": tuple(int(x) for x in
                              pg.psql("SELECT min(id), max(id), count(*) FROM datastreams").split("|"))}
    for iv in ("minute", "hour", "day"):
        p["rollup_" + iv] = int(pg.psql("SELECT coalesce(sum(n), 0) FROM rollup_" + iv))
    p["latest"] = int(pg.psql("SELECT count(*) FROM latest WHERE t_us IS NOT NULL"))
    bad = [k for k in ("observations", "things", "datastreams") if tuple(
        s[k] if isinstance(s[k], tuple) else (s[k],)) != tuple(p[k] if isinstance(p[k], tuple) else (p[k],))]
    bad += [k for k in ("rollup_minute", "rollup_hour", "rollup_day") if p[k] != s["observations"]]
    if p["latest"] != s["datastreams"][2]:
        bad.append("latest")
    if bad:
        raise RuntimeError("the PostgreSQL store differs from the SQLite one in %s: SQLite %s, PostgreSQL %s"
                           % (", ".join(bad), s, p))
    return ("%d Observations, Things %d-%d, Datastreams %d-%d; rollups count every row once, "
            "latest of every Datastream" % (p["observations"], p["things"][0], p["things"][1],
                                            p["datastreams"][0], p["datastreams"][1]))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssSampler:
    def __init__(self, pid, every=0.25):
        self.pid, self.every, self.samples = pid, every, []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append(rss_kib(self.pid))
            except OSError:
                return
            self._stop.wait(self.every)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)


def wrk(url, seconds):
    out = subprocess.run([WRK, "-t2", "-c64", "-d%ds" % seconds, "--latency", url],
                         capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError("wrk failed: %s" % out.stderr)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out.stdout, re.M)
    p99_ms = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    if errors:
        raise RuntimeError("wrk saw %s error responses:\n%s" % (errors.group(1), out.stdout))
    return rps, p99_ms


def cpu_s(pid):
    """User + system CPU seconds used so far by a live process."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


WARMUP = 10


def timed(conn, path, runs, pid):
    """Median and p99 milliseconds of GET path over one connection, the server's CPU
    milliseconds per request (steadier than wall time on a busy machine), the last body.
    A few requests first are not counted (the server's statement cache and the pages of
    the store are then what they are in steady use). Also the client's own CPU per
    request, to show how much of the wall time is the client's (Python's http.client)."""
    for _ in range(WARMUP):
        conn.request("GET", path)
        conn.getresponse().read()
    t = []
    c0 = cpu_s(pid)
    p0 = time.process_time()
    body = b""
    for _ in range(runs):
        t0 = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        t.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            raise RuntimeError("%s: %d %s" % (path, r.status, body[:300]))
    cpu_ms = (cpu_s(pid) - c0) * 1000 / runs
    client_ms = (time.process_time() - p0) * 1000 / runs
    t.sort()
    return statistics.median(t), t[min(len(t) - 1, int(len(t) * 0.99))], cpu_ms, client_ms, body


class ApiRefused(RuntimeError):
    """takumi-api would not start on the store."""


def measure(db, load_s=10, runs=201, rounds=3):
    refused = None
    with tkfix.Stack("bench-api") as st:
        try:
            return _measure(st, db, load_s, runs, rounds)
        except ApiRefused as e:
            refused = e  # an expected answer, not a failure of the bench: nothing kept
    raise refused


def _measure(st, db, load_s, runs, rounds):
    figs = {}
    port = tkfix.free_port()
    api = st.spawn("api", [os.path.join(BIN, "api", "takumi-api"), "--db", db, "--data", st.dir,
                           "--http-port", port, "--threads", THREADS, "--page-max", 2000, "--anon-rate", 0,
                           "--log-level", 1])
    tkfix.wait_for(lambda: api.poll() is not None or tkfix.wait_port(tkfix.HOST, port, 0.2), 60,
                   "takumi-api to listen")
    if api.poll() is not None:
        raise ApiRefused("takumi-api exited %d at start on %s:\n%s" % (api.returncode, db, st.log("api")[-1500:]))
    base = "http://%s:%d" % (tkfix.HOST, port)
    conn = http.client.HTTPConnection(tkfix.HOST, port, timeout=60)
    conn.request("GET", "/v1.1/Things(1)")
    r = conn.getresponse()
    entity = r.read()
    if r.status != 200:
        raise RuntimeError("Things(1): %d %s" % (r.status, entity[:200]))
    body = os.path.join(st.dir, "entity.json")
    with open(body, "wb") as f:
        f.write(entity)
    bare_port = tkfix.free_port()
    bare = st.spawn("mhd-bare", [os.path.join(BIN, "bench", "mhd-bare"), "--port", bare_port,
                                 "--threads", THREADS, "--body", body])
    if not tkfix.wait_port(tkfix.HOST, bare_port, 10):
        raise RuntimeError("mhd-bare did not start:\n" + st.log("mhd-bare"))

    # rounds of API then bare, so that both see the same moments of a shared machine;
    # the medians of each and of the per-round ratios
    rss0 = rss_kib(api.pid)
    api_runs, bare_runs, samples = [], [], []
    for _ in range(rounds):
        with RssSampler(api.pid) as s:
            api_runs.append(wrk(base + "/v1.1/Things(1)", load_s))
        samples += s.samples
        bare_runs.append(wrk("http://%s:%d/x" % (tkfix.HOST, bare_port), load_s))
    figs["api_rps"] = statistics.median(r[0] for r in api_runs)
    figs["api_p99_ms"] = statistics.median(r[1] for r in api_runs)
    figs["bare_rps"] = statistics.median(r[0] for r in bare_runs)
    figs["bare_p99_ms"] = statistics.median(r[1] for r in bare_runs)
    figs["ratios"] = [a[0] / b[0] for a, b in zip(api_runs, bare_runs)]
    figs["rss_load"] = {"before": rss0, "first": samples[0], "peak": max(samples),
                        "last": samples[-1], "samples": len(samples),
                        "seconds": load_s * rounds}
    figs["entity_bytes"] = len(entity)

    # every Datastream id (store-bench's gauges have 3 each), repeated up to 1,000
    conn.close()  # idle through the load: the server may have closed it
    conn = http.client.HTTPConnection(tkfix.HOST, port, timeout=60)
    ds = []
    path = "/v1.1/Datastreams?$select=id&$top=2000"
    conn.request("GET", path)
    for d in json.loads(conn.getresponse().read())["value"]:
        ds.append(d["@iot.id"])
    ids = ",".join(str(ds[i % len(ds)]) for i in range(1000))
    figs["latest_distinct"] = min(1000, len(ds))
    med, p99, cpu, cl, b = timed(conn, "/v1.1/Datastreams/latest?ids=" + ids, runs, api.pid)
    assert len(json.loads(b)["value"]) == 1000
    figs["latest_ms"] = (med, p99, cpu)
    figs["latest_client_ms"] = cl

    day = T0_US + 10 * DAY_US
    flt = "phenomenonTime ge %s and phenomenonTime lt %s" % (iso(day), iso(day + DAY_US))
    q = urllib.parse.quote(flt)
    med, p99, cpu, cl, b = timed(conn, "/v1.1/Datastreams(%d)/Observations?$filter=%s&$top=2000"
                        % (ds[0], q), runs, api.pid)
    figs["day_rows"] = len(json.loads(b)["value"])
    figs["day_ms"] = (med, p99, cpu)
    figs["day_client_ms"] = cl
    med, p99, cpu, cl, b = timed(conn, "/v1.1/Datastreams(%d)/Observations?$filter=%s&$top=2000"
                        "&$resultFormat=dataArray&$select=phenomenonTime,result" % (ds[0], q),
                        runs, api.pid)
    figs["day_da_ms"] = (med, p99, cpu)
    figs["day_da_client_ms"] = cl
    med, p99, cpu, cl, b = timed(conn, "/v1.1/Datastreams(%d)/Observations/aggregate?interval=hour"
                        "&from=%s&to=%s&fn=avg,min,max,count"
                        % (ds[0], iso(T0_US), iso(T0_US + 30 * DAY_US)), runs, api.pid)
    figs["hourly_buckets"] = len(json.loads(b)["value"])
    figs["hourly_ms"] = (med, p99, cpu)
    figs["hourly_client_ms"] = cl
    conn.close()

    # a streamed CSV export of 1M rows: RSS must not follow its size
    with RssSampler(api.pid, 0.1) as s:
        t0 = time.perf_counter()
        c = http.client.HTTPConnection(tkfix.HOST, port, timeout=300)
        c.request("GET", "/v1.1/Observations?$resultFormat=CSV&$top=1000000")
        r = c.getresponse()
        size = 0
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
        el = time.perf_counter() - t0
        c.close()
    figs["csv"] = {"bytes": size, "seconds": el, "rss_before": s.samples[0],
                   "rss_peak": max(s.samples), "rss_last": s.samples[-1]}
    st.kill(bare, 15)
    return figs


def soak(db, seconds):
    """RSS of takumi-api under one long wrk load on a mix of entity, latest, day and
    aggregate requests (a wrk Lua script picks them in turn): samples every second."""
    with tkfix.Stack("bench-soak") as st:
        port = tkfix.free_port()
        api = st.spawn("api", [os.path.join(BIN, "api", "takumi-api"), "--db", db, "--data", st.dir,
                               "--http-port", port, "--threads", THREADS, "--page-max", 2000, "--anon-rate", 0,
                               "--log-level", 1])
        if not tkfix.wait_port(tkfix.HOST, port, 30):
            raise RuntimeError("takumi-api did not start:\n" + st.log("api"))
        day = T0_US + 10 * DAY_US
        paths = ["/v1.1/Things(1)", "/v1.1/Datastreams/latest?ids=" + ",".join(str(i) for i in range(1, 201)),
                 "/v1.1/Datastreams(2)/Observations?$filter=" + urllib.parse.quote(
                     "phenomenonTime ge %s and phenomenonTime lt %s" % (iso(day), iso(day + DAY_US))),
                 "/v1.1/Datastreams(3)/Observations/aggregate?interval=hour&from=%s&to=%s"
                 % (iso(T0_US), iso(T0_US + 30 * DAY_US))]
        script = os.path.join(st.dir, "mix.lua")
        with open(script, "w") as f:
            f.write("local paths = {%s}\nlocal i = 0\nrequest = function()\n"
                    "  i = i %% #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n"
                    % ", ".join(json.dumps(p) for p in paths))
        with RssSampler(api.pid, 1.0) as s:
            out = subprocess.run([WRK, "-t2", "-c16", "-d%ds" % seconds, "-s", script,
                                  "http://%s:%d" % (tkfix.HOST, port)],
                                 capture_output=True, text=True, timeout=seconds + 120)
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
        n = max(1, len(s.samples) // 10)
        return {"seconds": seconds, "rps": float(rps.group(1)) if rps else 0,
                "first_tenth_kib": statistics.mean(s.samples[:n]),
                "last_tenth_kib": statistics.mean(s.samples[-n:]),
                "peak_kib": max(s.samples), "samples": len(s.samples)}


def client(f, key):
    """The client's own CPU per request, for a note: what of the wall time is Python's."""
    k = key + "_client_ms"
    return "; client CPU %.2f ms" % f[k] if k in f else ""


def rows(f):
    """Table rows (figure, measured, ratio, note) for run.py. CPU is the server's CPU
    milliseconds per request."""
    out = []
    if "api_rps" in f:
        out.append(("(j) entity GET /v1.1/Things(1), wrk -t2 -c64",
                    "%.0f req/s, p99 %.2f ms" % (f["api_rps"], f["api_p99_ms"]),
                    "%.2fx of bare" % statistics.median(f["ratios"]),
                    "target >= 0.5x; rounds %s; %d-byte reply, %d threads"
                    % ("/".join("%.2f" % r for r in f["ratios"]), f["entity_bytes"], THREADS)))
        out.append(("    bare libmicrohttpd, same reply and threads",
                    "%.0f req/s, p99 %.2f ms" % (f["bare_rps"], f["bare_p99_ms"]), "baseline", ""))
        out.append(("(k) latest values of 1,000 Datastreams (API)",
                    "%.2f ms (p99 %.2f, CPU %.2f)" % tuple(f["latest_ms"]), "",
                    "target < 5 ms; %d distinct streams, repeated%s" % (f["latest_distinct"], client(f, "latest"))))
        out.append(("(l) one day of one Datastream out of 10M (API)", "%.2f ms (p99 %.2f, CPU %.2f)" % tuple(f["day_ms"]),
                    "", "target < 5 ms; %d Observations as JSON%s" % (f["day_rows"], client(f, "day"))))
        out.append(("    the same day as dataArray", "%.2f ms (p99 %.2f, CPU %.2f)" % tuple(f["day_da_ms"]), "",
                    client(f, "day_da")[2:]))
        out.append(("(m) hourly aggregates over 30 days (API)", "%.2f ms (p99 %.2f, CPU %.2f)" % tuple(f["hourly_ms"]),
                    "", "target < 5 ms; %d buckets%s" % (f["hourly_buckets"], client(f, "hourly"))))
        r = f["rss_load"]
        out.append(("(n) takumi-api RSS across the wrk load", "%d -> %d KiB (peak %d)"
                    % (r["first"], r["last"], r["peak"]), "",
                    "%d samples over %d s; %d KiB before" % (r["samples"], r["seconds"], r["before"])))
        c = f["csv"]
        out.append(("    RSS across a 1M-row CSV export", "%d -> %d KiB (peak %d)"
                    % (c["rss_before"], c["rss_last"], c["rss_peak"]), "",
                    "%.0f MB streamed in %.1f s" % (c["bytes"] / 1e6, c["seconds"])))
    return out


def pair_rows(fs, fp):
    """Rows (figure, SQLite, PostgreSQL, PostgreSQL / SQLite) of the same requests on both
    stores, measured in one run; fp may be an error text."""
    out = []
    if isinstance(fp, str):
        fp = {}
    get = lambda f, k: f.get(k) if f else None  # noqa: E731
    def ms(f, k):
        v = get(f, k)
        return "%.2f ms (CPU %.2f)" % (v[0], v[2]) if v else "-"

    def ratio(k, i=0):
        a, b = get(fs, k), get(fp, k)
        if not a or not b:
            return "-"
        a, b = (a[i], b[i]) if isinstance(a, (list, tuple)) else (a, b)
        return "%.2fx" % (b / a)
    out.append(("(j) entity GET /v1.1/Things(1), wrk -t2 -c64",
                "%.0f req/s" % fs["api_rps"], "%.0f req/s" % fp["api_rps"] if fp else "-", ratio("api_rps")))
    out.append(("    bare libmicrohttpd (each store's run)", "%.0f req/s" % fs["bare_rps"],
                "%.0f req/s" % fp["bare_rps"] if fp else "-", ratio("bare_rps")))
    out.append(("    entity GET / bare", "%.2fx" % statistics.median(fs["ratios"]),
                "%.2fx" % statistics.median(fp["ratios"]) if fp else "-", ""))
    for k, label in (("latest_ms", "(k) latest values of 1,000 Datastreams"),
                     ("day_ms", "(l) one day of one Datastream out of 10M, JSON"),
                     ("day_da_ms", "    the same day as dataArray"),
                     ("hourly_ms", "(m) hourly aggregates over 30 days")):
        out.append((label, ms(fs, k), ms(fp, k), ratio(k)))
    for k in ("day_rows", "hourly_buckets", "entity_bytes"):
        if fp and fs.get(k) != fp.get(k):
            out.append(("    differs: " + k, str(fs.get(k)), str(fp.get(k)), ""))
    return out


def compare(load_s=10, runs=201, rounds=3, db_rows=10000000, tx_rows=100000, log=sys.stderr):
    """The API figures on SQLite and on PostgreSQL in one run. Returns (sqlite figures,
    PostgreSQL figures or the reason there are none, notes)."""
    notes = []
    print("building or reusing the SQLite store ...", file=log, flush=True)
    sdir = os.path.join(BIN, "tmp", "store-bench")
    db = store_db(sdir if db_rows == 10000000 else "%s-%d" % (sdir, db_rows), db_rows)
    print("measuring takumi-api on SQLite ...", file=log, flush=True)
    fs = measure(db, load_s, runs, rounds)
    with pgserver.PgServer() as pg:
        print("loading %d rows into PostgreSQL ..." % db_rows, file=log, flush=True)
        t0 = time.monotonic()
        figs = pg_store(pg, db_rows, tx_rows)
        ld = figs.get("store.load", {})
        notes.append("PostgreSQL store loaded in %.0f s (%.0f rows/s, %s-row transactions through the write path)"
                     % (time.monotonic() - t0, ld.get("value", 0), tx_rows))
        notes.append("checked against SQLite: " + check_same(db, pg))
        for key, label in (("store.day_range", "store-level day"), ("store.hourly_30d", "store-level hourly"),
                           ("store.latest_1000", "store-level latest of 1,000")):
            if key in figs:
                notes.append("%s on PostgreSQL: %.0f us (median of 3)" % (label, figs[key]["value"]))
        print("measuring takumi-api on PostgreSQL ...", file=log, flush=True)
        try:
            fp = measure(pg.uri, load_s, runs, rounds)
        except ApiRefused as e:
            fp = str(e)
    return fs, fp, notes


def print_compare(fs, fp, notes):
    table = [("figure", "SQLite", "PostgreSQL", "PG / SQLite")] + pair_rows(fs, fp)
    w = [max(len(r[i]) for r in table) for i in range(4)]
    for r in table:
        print("  ".join("%-*s" % (w[i], r[i]) for i in range(4)).rstrip())
    for n in notes:
        print("  " + n)
    if isinstance(fp, str):
        print("no PostgreSQL figures: " + fp.strip().splitlines()[0])
        print("  (takumi-api log tail)\n    " + "\n    ".join(fp.strip().splitlines()[1:][-6:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", help="a store built by store-bench (default: build or reuse one)")
    ap.add_argument("--load-s", type=int, default=10, help="seconds of each wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="wrk runs per server, alternated")
    ap.add_argument("--runs", type=int, default=201)
    ap.add_argument("--store", choices=["sqlite", "pg"], default="sqlite",
                    help="pg: the same figures on PostgreSQL too, beside SQLite")
    ap.add_argument("--pg-rows", type=int, default=10000000, help="rows loaded into PostgreSQL")
    ap.add_argument("--pg-load-tx-rows", type=int, default=100000)
    ap.add_argument("--soak-s", type=int, default=0,
                    help="only: RSS across one load of this many seconds (600 for SPEC 9)")
    a = ap.parse_args()
    if a.store == "pg":
        fs, fp, notes = compare(a.load_s, a.runs, a.rounds, a.pg_rows, a.pg_load_tx_rows)
        print_compare(fs, fp, notes)
        sys.exit(1 if isinstance(fp, str) else 0)
    db = a.db or store_db(os.path.join(BIN, "tmp", "store-bench"))
    if a.soak_s:
        r = soak(db, a.soak_s)
        print("RSS of takumi-api across %d s of mixed load (%.0f req/s): first tenth %.0f KiB,"
              " last tenth %.0f KiB, peak %d KiB (%d samples)"
              % (r["seconds"], r["rps"], r["first_tenth_kib"], r["last_tenth_kib"], r["peak_kib"],
                 r["samples"]))
        return
    f = measure(db, a.load_s, a.runs, a.rounds)
    table = rows(f)
    w0 = max(len(r[0]) for r in table)
    w1 = max(len(r[1]) for r in table)
    for r in table:
        print("%-*s  %-*s  %-14s  %s" % (w0, r[0], w1, r[1], r[2], r[3]))
    print(json.dumps(f))


if __name__ == "__main__":
    main()
