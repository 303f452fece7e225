#!/usr/bin/python3
"""./takumi bench: figures measured in one run, printed as a table with ratios against
baselines measured in the same run (the machine is shared and noisy).

  (a) raw MQTT QoS 1 transport: tk-pub -> Mosquitto -> a subscriber that only counts
  (b) takumi-ingest QoS 1 end to end: same publisher, durable commit, watermark acks
  (c) a Python paho-mqtt + sqlite3 ingest doing the same work, same publisher
  (d) store bulk insert from 1,000 interleaved devices  (store-bench)
  (e) one day of one datastream out of 10M rows           (store-bench)
  (f) 30 days of hourly averages                          (store-bench)
  (g) the CoAP field gateway: bench/gateway.py (its own table)
  (h) the dashboard in headless Chromium: load size and time, publish -> browser latency
      of a reading and of an alert
      (bench/dashboard.py)
  (i) alert latency: a level crossing published -> its alert on city/alerts (bench/alerts.py),
      against the raw MQTT transport of the same readings
  (j)-(n) takumi-api on that store: entity GET under wrk against a bare libmicrohttpd
      server, latest of 1,000, a day of one stream, hourly over 30 days, RSS (bench/api.py)

Options: --quick (smaller runs), --devices N, --count N (readings per device),
--api-load-s N (seconds of wrk load per server), --skip-store, --skip-api, --skip-gateway,
--skip-dashboard, --gateway-outage-60 (the gateway's catch-up after 60 s, not 20).
--faults runs the long fault tests instead (bench/faults.py), --soak SECONDS the soak
(bench/soak.py), --scaleout or --only scaleout (only the scale-out figures of bench/scaleout.py: 1, 2, 4
ingest workers into SQLite and PostgreSQL; its own flags follow, e.g. --rounds 3 --queries).
--only api [--store pg] measures (j)-(n) alone; --store pg loads the same 10M rows into a
throwaway PostgreSQL server (tests/pg/pgserver.py) and measures takumi-api on it beside SQLite."""
import argparse
import json
import os
import subprocess
import sys
import time

TOP = os.environ.get("TAKUMI_TOP", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TAKUMI_BIN", os.path.join(TOP, "build", "release"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
os.environ["TAKUMI_BIN"] = BIN
os.environ["TAKUMI_TOP"] = TOP

import tkfix  # noqa: E402
sys.path.insert(0, os.path.join(TOP, "bench"))
import dashboard  # noqa: E402
import api as api_bench  # noqa: E402  (bench/api.py)

INGEST_ARGS = os.environ.get("TAKUMI_BENCH_INGEST_ARGS", "").split()


def cpu_s(pid):
    """User + system CPU seconds used so far by a live process."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU = {}  # figure -> {"broker": s, "consumer": s} CPU seconds per 1,000 readings


def provision(stack, ndev):
    for i in range(ndev):
        stack.admin("device", "add", "--kind", "water_level", "--id", "ld-%05d" % i,
                    "--lat", "34.39", "--lon", "132.45")
    return stack.add_gateway("bench-gw")


def tk_pub(stack, gw_pass, args, timeout):
    cmd = [os.path.join(BIN, "tests", "tk-pub"), "--port", str(stack.mqtt_port), "--user", "bench-gw",
           "--password", gw_pass, "--prefix", "ld", "--ack-timeout-ms", "60000"] + args
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError("tk-pub failed: %s %s" % (out.stdout, out.stderr))
    return json.loads(out.stdout.strip().splitlines()[-1])


def wait_line(proc, what, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        line = proc.stdout.readline()
        if what in line:
            return
    raise RuntimeError("timed out waiting for %r" % what)


def bench_raw(ndev, count):
    with tkfix.Stack("bench-raw") as st:
        st.start_broker()
        gw = provision(st, ndev)
        total = ndev * count
        counter = subprocess.Popen([os.path.join(BIN, "tests", "tk-count"), "127.0.0.1", str(st.mqtt_port),
                                    "takumi-ingest", st.secret("ingest"), "city/water_level/+/reading",
                                    str(total), "300"], stdout=subprocess.PIPE, text=True)
        try:
            wait_line(counter, "subscribed")
            b0, c0 = cpu_s(st.broker.pid), cpu_s(counter.pid)
            pub = tk_pub(st, gw, ["--raw", "--devices", str(ndev), "--count", str(count)], 600)
            _, status, ru = os.wait4(counter.pid, 0)
            counter.returncode = os.waitstatus_to_exitcode(status)
            out = counter.stdout.read()
            CPU["raw"] = {"broker": (cpu_s(st.broker.pid) - b0) * 1000 / total,
                          "consumer": (ru.ru_utime + ru.ru_stime - c0) * 1000 / total}
        finally:
            if counter.poll() is None:
                counter.kill()
        res = json.loads(out.strip().splitlines()[-1])
        if res["count"] < total:
            raise RuntimeError("counter saw %d of %d" % (res["count"], total))
        return total / (res["last"] - pub["start"])


def bench_ingest(ndev, count, python=False):
    with tkfix.Stack("bench-py" if python else "bench-ingest") as st:
        st.start_broker()
        gw = provision(st, ndev)
        if python:
            st.spawn("py-ingest", ["/usr/bin/python3", os.path.join(TOP, "bench", "py_ingest.py"), "127.0.0.1",
                                   str(st.mqtt_port), "takumi-ingest", st.secret("ingest"),
                                   os.path.join(st.dir, "py.db")])
        else:
            st.spawn("ingest", [os.environ.get("TAKUMI_BENCH_INGEST_EXE", os.path.join(BIN, "ingest", "takumi-ingest")), "--data", st.dir,
                                "--mqtt-port", str(st.mqtt_port), "--stats-interval-s", "5"] + INGEST_ARGS)
        if python:
            time.sleep(1.0)  # let it connect and subscribe
        else:
            # wait for the broker's SUBACK (the ingest logs it): readings published before
            # would reach no subscriber, and a device's first seq seen starts its watermark,
            # so the run would end early with a rate that is too high
            end = time.time() + 30
            while "subscribed to" not in st.log("ingest"):
                if time.time() > end:
                    raise RuntimeError("takumi-ingest did not subscribe within 30 s")
                time.sleep(0.05)
        proc = st._procs[-1][1]
        b0, c0 = cpu_s(st.broker.pid), cpu_s(proc.pid)
        pub = tk_pub(st, gw, ["--devices", str(ndev), "--count", str(count), "--timeout-s", "600"], 700)
        total = ndev * count
        CPU["python" if python else "ingest"] = {"broker": (cpu_s(st.broker.pid) - b0) * 1000 / total,
                                                 "consumer": (cpu_s(proc.pid) - c0) * 1000 / total}
        return pub["rate"], pub


STORE_DIR = os.path.join(BIN, "tmp", "store-bench")


def store_figures(quick):
    exe = os.path.join(BIN, "bench", "store-bench")
    if not os.path.exists(exe):
        return {}
    # the 10M-row store is kept for the API figures (bench/api.py reuses it)
    os.makedirs(STORE_DIR, exist_ok=True)
    args = [exe, "--dir", STORE_DIR, "--keep"] + (["--rows", "1000000"] if quick else [])
    out = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    figs = {}
    for line in out.stdout.splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        figs[d.get("figure", d.get("name", "?"))] = d
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
    return figs


def bench_alerts(quick):
    out = subprocess.run([sys.executable, os.path.join(TOP, "bench", "alerts.py"), "--crossings",
                          "40" if quick else "200"], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError("bench/alerts.py failed: %s" % out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--skip-store", action="store_true")
    ap.add_argument("--only", choices=["raw", "ingest", "python", "gateway", "dashboard", "alerts",
                                       "scaleout", "api"],
                    help="measure one figure")
    ap.add_argument("--store", choices=["sqlite", "pg"], default="sqlite",
                    help="with --only api: pg measures the API on PostgreSQL too, beside SQLite")
    ap.add_argument("--skip-gateway", action="store_true")
    ap.add_argument("--gateway-outage-60", action="store_true")
    ap.add_argument("--skip-dashboard", action="store_true")
    ap.add_argument("--skip-api", action="store_true")
    ap.add_argument("--api-load-s", type=int, default=10)
    ap.add_argument("--faults", action="store_true", help="the long fault tests (bench/faults.py)")
    ap.add_argument("--soak", type=int, metavar="SECONDS", help="the soak (bench/soak.py)")
    ap.add_argument("--scaleout", action="store_true", help="bench/scaleout.py instead")
    a, rest = ap.parse_known_args()
    if a.scaleout or a.only == "scaleout":
        # every other flag is scaleout.py's (its --devices and --count have their own defaults)
        args, i = [], 1
        while i < len(sys.argv):
            if sys.argv[i] == "--scaleout" or sys.argv[i] == "--only=scaleout":
                i += 1
            elif sys.argv[i] == "--only":
                i += 2
            else:
                args.append(sys.argv[i])
                i += 1
        os.execv(sys.executable, [sys.executable, os.path.join(TOP, "bench", "scaleout.py")] + args)
    if a.faults or a.soak:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        sys.argv = [sys.argv[0]] + rest
        if a.faults:
            import faults
            sys.exit(faults.main())
        import soak
        sys.exit(soak.main(a.soak))
    if rest:
        ap.error("unrecognized arguments: %s" % " ".join(rest))
    if a.only == "gateway":
        gateway_figures(a)
        return
    if a.only == "dashboard":
        for r in dashboard.rows(dashboard.measure()):
            print("%-44s  %-14s  %-20s  %s" % r)
        return
    if a.only == "api":
        if a.store == "pg":
            fs, fp, notes = api_bench.compare(a.api_load_s, 51 if a.quick else 201, 1 if a.quick else 3)
            api_bench.print_compare(fs, fp, notes)
            sys.exit(1 if isinstance(fp, str) else 0)
        for r in api_bench.rows(api_bench.measure(api_bench.store_db(STORE_DIR), a.api_load_s,
                                                  51 if a.quick else 201, 1 if a.quick else 3)):
            print("%-48s  %-32s  %-14s  %s" % r)
        return
    if a.only == "alerts":
        print(json.dumps(bench_alerts(a.quick)))
        return
    if a.only:
        f = {"raw": lambda: bench_raw(a.devices, a.count), "ingest": lambda: bench_ingest(a.devices, a.count)[0],
             "python": lambda: bench_ingest(a.devices, a.count, python=True)[0]}[a.only]
        print("%s: %.0f msg/s; CPU ms per 1,000 readings: %s" % (a.only, f(), json.dumps(CPU)))
        return
    if a.quick:
        a.count = min(a.count, 200)

    print("measuring (a) raw MQTT QoS 1 transport ...", file=sys.stderr)
    raw = bench_raw(a.devices, a.count)
    print("measuring (b) takumi-ingest ...", file=sys.stderr)
    ing, ing_pub = bench_ingest(a.devices, a.count)
    print("measuring (c) Python paho-mqtt + sqlite3 ingest ...", file=sys.stderr)
    py, _ = bench_ingest(a.devices, a.count, python=True)
    figs = {} if a.skip_store else store_figures(a.quick)
    dash = None
    if not a.skip_dashboard:
        print("measuring (h) the dashboard in headless Chromium ...", file=sys.stderr)
        dash = dashboard.measure(3 if a.quick else 5, 20 if a.quick else 50, 10 if a.quick else 30)
    print("measuring (i) alert latency ...", file=sys.stderr)
    al = bench_alerts(a.quick)
    api_figs = {}
    if not a.skip_api:
        print("measuring (j)-(n) takumi-api ...", file=sys.stderr)
        api_figs = api_bench.measure(api_bench.store_db(STORE_DIR), a.api_load_s,
                                     51 if a.quick else 201, 1 if a.quick else 3)

    rows = [
        ("(a) raw MQTT QoS1 transport", "%.0f msg/s" % raw, "1.00x (baseline)", ""),
        ("(b) takumi-ingest QoS1, durable, acked", "%.0f msg/s" % ing, "%.2fx of (a)" % (ing / raw),
         "target >= 0.80x; %.2fx of (c), target >= 1.5x" % (ing / py)),
        ("(c) Python paho-mqtt + sqlite3 ingest", "%.0f msg/s" % py, "%.2fx of (a)" % (py / raw), ""),
    ]
    ins, naive = figs.get("store.insert"), figs.get("store.insert_naive")
    if ins:
        rows.append(("(d) store insert, %d interleaved devices" % ins["devices"], "%.0f rows/s" % ins["value"],
                     "%.2fx of naive" % (ins["value"] / naive["value"]) if naive else "",
                     "target >= 200000 rows/s; %d-row transactions" % ins["tx_rows"]))
    if naive:
        rows.append(("    naive (stream, time) table, same rows", "%.0f rows/s" % naive["value"], "baseline", ""))
    for key, label, target in (("store.day_range", "(e) one day of one datastream", 1000),
                               ("store.hourly_30d", "(f) 30 days of hourly averages", 2000)):
        d = figs.get(key)
        if d:
            rows.append(("%s of %d rows" % (label, d["db_rows"]), "%.0f us" % d["value"], "",
                         "target < %d us (median of %d)" % (target, d["runs"])))
    d = figs.get("store.latest_1000")
    if d:
        rows.append(("    latest values of 1,000 datastreams", "%.0f us" % d["value"], "", "API target < 5000 us"))
    if dash:
        rows += [("(h) " + r[0],) + r[1:] for r in dashboard.rows(dash)]
    rows.append(("(i) alert latency, %d crossings" % al["crossings"],
                 "%.1f ms median" % al["alert_ms_median"], "%.0fx of raw MQTT" % al["ratio_median"],
                 "p99 %.1f ms; raw MQTT median %.2f ms, p99 %.2f ms" % (
                     al["alert_ms_p99"], al["raw_mqtt_ms_median"], al["raw_mqtt_ms_p99"])))
    rows += api_bench.rows(api_figs)
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    print("%-*s  %-*s  %-*s  %s" % (w0, "figure", w1, "measured", w2, "ratio", "note"))
    for r in rows:
        print("%-*s  %-*s  %-*s  %s" % (w0, r[0], w1, r[1], w2, r[2], r[3]))
    print("(%d devices x %d readings, %d resent by the publisher in (b))" % (a.devices, a.count, ing_pub["resent"]))
    print("CPU ms per 1,000 readings (less sensitive to a busy machine than rates):")
    for k, label in (("raw", "(a) counting subscriber"), ("ingest", "(b) takumi-ingest"), ("python", "(c) Python ingest")):
        if k in CPU:
            print("  %-26s consumer %6.1f   broker %6.1f" % (label, CPU[k]["consumer"] * 1000, CPU[k]["broker"] * 1000))
    if not a.skip_gateway:
        gateway_figures(a)


def gateway_figures(a):
    """(g): the CoAP field gateway's table, from bench/gateway.py."""
    sys.path.insert(0, os.path.join(TOP, "bench"))
    import gateway  # noqa: E402
    print("measuring (g) the CoAP field gateway ...", file=sys.stderr)
    rows, _ = gateway.run(seconds=3 if a.quick else 5,
                          outage_s=60 if a.gateway_outage_60 else (10 if a.quick else 20))
    print()
    gateway.print_table(rows)


if __name__ == "__main__":
    main()
