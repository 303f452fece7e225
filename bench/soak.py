#!/usr/bin/python3
"""./takumi bench --soak SECONDS: the demo fleet (firmware/posix/demo-fleet: 40 simulated
devices in fleet mode, rain storm, clock 60x) through the real broker and ingest, plus a
steady API load (entity lists, $filter, latest values, aggregates), for SECONDS.

Every 5 s it samples the resident memory (VmRSS) of each process (mosquitto, takumi-ingest,
takumi-api, takumi-device) and the database size (main file + WAL). Verdict:
  - memory: each process's RSS at the end is within max(8 MiB, 20 %) of its RSS once warmed
    up (the sample at a quarter of the run, at least 30 s in) -- flat, not growing;
  - database: after the run (writers stopped, WAL checkpointed into the file) it holds
    less than 400 bytes per observation stored -- it grows with the data and nothing else
    (the ingest runs with --retention-days so old rows go) -- and during the run the WAL
    stays under max(64 MiB, 1.5x its warm size) (store: wal_autocheckpoint 10000 pages);
  - errors: 0 (API answers other than 200, failed commits, quarantined readings, readings
    dropped by the devices' rings).
Prints the samples, a table and PASS/FAIL; exit status 1 on FAIL."""
import http.client
import json
import os
import re
import signal
import sys
import threading
import time

TOP = os.environ.get("TAKUMI_TOP", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TAKUMI_BIN", os.path.join(TOP, "build", "release"))
os.environ["TAKUMI_BIN"] = BIN
os.environ["TAKUMI_TOP"] = TOP
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import tkfix  # noqa: E402

SAMPLE_S = 5
RSS_SLACK_KIB = 8 * 1024
RSS_SLACK = 0.20
DB_BYTES_PER_OBS_MAX = 400
WAL_MAX = 64 << 20


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def db_bytes(path):
    """(main file, WAL) sizes in bytes."""
    return tuple(os.path.getsize(path + s) if os.path.exists(path + s) else 0 for s in ("", "-wal"))


def observations(path):
    import sqlite3
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return c.execute("SELECT count(*) FROM all_observations").fetchone()[0]
    finally:
        c.close()


class ApiLoad(threading.Thread):
    """Well-behaved clients of the API: a mix of requests, one at a time, keep-alive."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.ok = 0
        self.errors = []
        self.stop = threading.Event()

    def paths(self, c):
        ds = []
        try:
            c.request("GET", "/v1.1/Datastreams?$select=id&$top=100")
            r = c.getresponse()
            ds = [d["@iot.id"] for d in json.loads(r.read())["value"]]
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            pass
        ps = ["/v1.1/Things?$top=50", "/v1.1/Datastreams/latest",
              "/v1.1/Things?$expand=Locations,Datastreams($top=3)&$top=10",
              "/v1.1/Observations?$top=100&$orderby=phenomenonTime%20desc",
              "/v1.1/Observations?$filter=result%20gt%201.0&$top=50&$count=true"]
        # the fleet's clock runs ahead (60x): a range from a day ago to two days ahead
        day = 86400
        span = "from=%s&to=%s" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - day)),
                                  time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                time.gmtime(time.time() + 2 * day)))
        for d in ds[:5]:
            ps.append("/v1.1/Datastreams(%d)/Observations?$top=100" % d)
            ps.append("/v1.1/Datastreams(%d)/Observations/aggregate?interval=hour&fn=avg,max&%s" % (
                d, span))
        return ps

    def run(self):
        c = http.client.HTTPConnection(tkfix.HOST, self.port, timeout=10)
        ps, i, refreshed = self.paths(c), 0, time.monotonic()
        while not self.stop.is_set():
            if time.monotonic() - refreshed > 30:
                ps, refreshed = self.paths(c), time.monotonic()
            p = ps[i % len(ps)]
            i += 1
            try:
                c.request("GET", p)
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    self.ok += 1
                else:
                    self.errors.append("%s -> %d" % (p, r.status))
            except (OSError, http.client.HTTPException) as e:
                self.errors.append("%s -> %r" % (p, e))
                c.close()
                c = http.client.HTTPConnection(tkfix.HOST, self.port, timeout=10)
            time.sleep(0.005)
        c.close()


def main(seconds):
    seconds = max(int(seconds), 30)
    with tkfix.Stack("soak") as st:
        st.start_broker()
        ing = st.start_ingest("--stats-interval-s", "10", "--retention-days", "1",
                              "--quarantine-retention-days", "1")
        port = tkfix.free_port()
        api = st.spawn("api", [os.path.join(BIN, "api", "takumi-api"), "--data", st.dir,
                               "--http-port", port])
        if not tkfix.wait_port(tkfix.HOST, port, 10):
            raise SystemExit("the API did not start:\n" + st.log("api"))
        fleet = st.spawn("fleet", ["/usr/bin/python3", os.path.join(TOP, "firmware", "posix",
                                                                    "demo-fleet"),
                                   "--data", st.dir, "--mqtt-port", st.mqtt_port, "--bin", BIN])
        tkfix.wait_for(lambda: '"online"' in st.log("fleet") or fleet.poll() is not None, 60,
                       "the demo fleet to start", 0.5)
        load = [ApiLoad(port) for _ in range(2)]
        for l in load:
            l.start()
        procs = {"mosquitto": st.broker, "takumi-ingest": ing, "takumi-api": api,
                 "takumi-device": fleet}  # demo-fleet execs takumi-device: same pid
        samples = []  # (t, {name: rss_kib}, (db, wal) bytes, observations)
        t0 = time.monotonic()
        print("%6s  %s  %10s %10s %12s" % ("t_s", "  ".join("%14s" % n for n in procs), "db_kib",
                                          "wal_kib", "observations"), flush=True)
        while time.monotonic() - t0 < seconds:
            time.sleep(SAMPLE_S)
            dead = [n for n, p in procs.items() if p.poll() is not None]
            if dead:
                raise SystemExit("exited during the soak: %s" % ", ".join(dead))
            s = {n: rss_kib(p.pid) for n, p in procs.items()}
            samples.append((time.monotonic() - t0, s, db_bytes(st.db_path), observations(st.db_path)))
            print("%6.0f  %s  %10d %10d %12d" % (
                samples[-1][0], "  ".join("%14d" % (s[n] or 0) for n in procs),
                samples[-1][2][0] // 1024, samples[-1][2][1] // 1024, samples[-1][3]), flush=True)
        for l in load:
            l.stop.set()
        for l in load:
            l.join(15)

        # the file's size for the data it holds: stop the writers, fold the WAL back in
        for name in ("fleet", "api", "ingest"):
            st.kill(dict(fleet=fleet, api=api, ingest=ing)[name], signal.SIGTERM)
        c = st.db()
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        final_bytes = os.path.getsize(st.db_path)
        obs = c.execute("SELECT count(*) FROM all_observations").fetchone()[0]
        quarantined = c.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        stats = [ln for ln in st.log("ingest").splitlines() if " stats " in ln]
        failed_commits = int(re.search(r"commit_failures=(\d+)", stats[-1]).group(1)) if stats else -1
        fleet_stats = [json.loads(ln) for ln in st.log("fleet").splitlines() if ln.startswith("{")]
        last = fleet_stats[-1] if fleet_stats else {}
        dropped = last.get("dropped", -1)
        api_ok = sum(l.ok for l in load)
        api_errors = [e for l in load for e in l.errors]

        warm_t = max(seconds / 4, 30)
        warm = next((s for s in samples if s[0] >= warm_t), samples[0])
        end = samples[-1]
        verdicts = []
        print()
        print("%-14s %12s %12s %12s %8s" % ("process", "warm RSS KiB", "end RSS KiB", "max RSS KiB",
                                            "verdict"))
        for n in procs:
            w, e = warm[1][n], end[1][n]
            mx = max(s[1][n] or 0 for s in samples)
            ok = w is not None and e is not None and e - w <= max(RSS_SLACK_KIB, w * RSS_SLACK)
            verdicts.append(ok)
            print("%-14s %12d %12d %12d %8s" % (n, w or 0, e or 0, mx, "flat" if ok else "GROWING"))
        per_obs = final_bytes / obs if obs else float("inf")
        wal_max = max(s[2][1] for s in samples)
        wal_ok = end[2][1] <= max(WAL_MAX, 1.5 * warm[2][1])
        db_ok = per_obs < DB_BYTES_PER_OBS_MAX and wal_ok
        verdicts.append(db_ok)
        errors = len(api_errors) + max(failed_commits, 0) + quarantined + max(dropped, 0)
        errors_ok = errors == 0 and failed_commits == 0 and dropped == 0
        verdicts.append(errors_ok)
        print("database: %d KiB for %d observations after a final checkpoint (%.0f bytes each, "
              "bound %d); WAL during the run: %d KiB at the end, at most %d KiB (bound %d KiB): "
              "%s" % (final_bytes // 1024, obs, per_obs, DB_BYTES_PER_OBS_MAX, end[2][1] // 1024,
                      wal_max // 1024, WAL_MAX // 1024, "ok" if db_ok else "TOO BIG"))
        print("fleet: %s readings recorded, %s acknowledged, %s dropped; API: %d requests answered "
              "200, %d errors; ingest: %d failed commits; %d quarantined" % (
                  last.get("recorded"), last.get("acked"), dropped, api_ok, len(api_errors),
                  failed_commits, quarantined))
        for e in api_errors[:5]:
            print("  API error: %s" % e)
        verdict = all(verdicts)
        print("soak %d s: %s" % (seconds, "PASS" if verdict else "FAIL"), flush=True)
        return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 600))
