#!/usr/bin/python3
"""Dashboard figures (called by bench/run.py, or alone: bench/dashboard.py [--loads N]
[--readings N] [--crossings N]): the demo city's 126 devices provisioned and reporting (demo-fleet), the
real broker, ingest and takumi-api serving build/dashboard, measured in headless
Chromium by bench/dashboard_bench.mjs:

  load size     bytes of the page's own files, plain and as sent (gzip)
  load time     navigation to the map drawn with data, and to live over MQTT, median of
                N fresh loads; baseline: the same browser loading /v1.1 from the server
  latency       publish of a reading -> the marker updated in the page, median and p99
                of N readings; baseline: a plain MQTT subscriber of the same observations
  alerts        publish of a reading crossing the gauge's warning level -> the alert
                engine's alert listed highlighted in the page, median and p99 of N
                crossings (each followed by a reading below the clear threshold);
                baseline: a plain MQTT subscriber of city/alerts/ID in the same run
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

TOP = os.environ.get("TAKUMI_TOP", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TAKUMI_BIN", os.path.join(TOP, "build", "release"))
os.environ["TAKUMI_BIN"], os.environ["TAKUMI_TOP"] = BIN, TOP
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import tkfix  # noqa: E402

NODE = shutil.which("node") or "/usr/bin/node"


def measure(loads=5, readings=50, crossings=30):
    bundle = os.path.join(TOP, "build", "dashboard")
    if not os.path.exists(os.path.join(bundle, "index.html")):
        raise RuntimeError("no dashboard bundle in %s (./takumi bench builds it)" % bundle)
    with tkfix.Stack("bench-dash") as st:
        st.start_broker()
        st.start_ingest()
        demo = st.spawn("demo", [os.path.join(TOP, "firmware", "posix", "demo-fleet"), "--data",
                                 st.dir, "--mqtt-port", st.mqtt_port, "--bin", BIN])
        tkfix.wait_for(lambda: "provisioned" in st.log("demo") or demo.poll() is not None, 180,
                       "the demo city to be provisioned")
        gw = st.add_device("water_level", "wl-bench-0001", lat=34.392, lon=132.452,
                           mount_height_m=3.2)
        # warning at 1.5 m: the readings below stay normal; no rise or silence alerts
        st.admin("alert", "set", "--device", "wl-bench-0001", "--caution", 1.0, "--warning", 1.5,
                 "--danger", 2.5, "--rise", 10, "--hysteresis", 0.05, "--silence-intervals", 1000)
        c = st.db()
        ds = c.execute("SELECT d.id FROM datastreams d JOIN things t ON t.id = d.thing_id"
                       " WHERE t.device_id = 'wl-bench-0001' AND d.quantity = 0").fetchone()[0]
        c.close()
        port = tkfix.free_port()
        st.spawn("api", [os.path.join(BIN, "api", "takumi-api"), "--data", st.dir, "--http-port",
                         port, "--static", bundle, "--ws-port", st.ws_port])
        if not tkfix.wait_port(tkfix.HOST, port, 10):
            raise RuntimeError("takumi-api did not start:\n" + st.log("api"))
        time.sleep(3)  # the fleet's first readings
        base = "http://%s:%d" % (tkfix.HOST, port)
        spec = {"top": TOP, "url": base + "/dashboard/", "blank_url": base + "/v1.1",
                "loads": loads, "readings": readings,
                "mqtt": {"host": tkfix.HOST, "port": st.mqtt_port},
                "dashboard_password": st.secret("dashboard"),
                "gauge": {"id": "wl-bench-0001", "password": gw, "ds": ds},
                "alerts": {"crossings": crossings, "high": 1.6, "low": 0.5, "gap_ms": 200,
                           "mosquitto_pub": tkfix.MOSQUITTO_PUB}}
        path = os.path.join(st.dir, "bench.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        r = subprocess.run([NODE, os.path.join(TOP, "bench", "dashboard_bench.mjs"), path],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("dashboard_bench.mjs failed:\n" + r.stderr[-3000:])
        return json.loads(r.stdout.strip().splitlines()[-1])


def rows(f):
    ld, lt = f["load"], f["latency"]
    return [
        ("dashboard files (%d markers, %d requests)" % (ld["markers"], ld["requests"]),
         "%d B gzip" % ld["static_bytes_gzip"], "%.2fx of plain" % (ld["static_bytes_gzip"] / ld["static_bytes"]),
         "%d B plain; everything incl. API data: %d B on the wire" % (ld["static_bytes"], ld["all_bytes_wire"])),
        ("dashboard load to map with data", "%.0f ms" % ld["ready_ms_median"],
         "%.1fx of blank" % (ld["ready_ms_median"] / max(ld["blank_ms_median"], 1)),
         "median of %d; live over MQTT at %.0f ms; blank page %.0f ms" % (
             ld["runs"], ld["live_ms_median"], ld["blank_ms_median"])),
        ("publish -> browser marker, median", "%.1f ms" % lt["browser_median_ms"],
         "%.2fx of MQTT sub" % (lt["browser_median_ms"] / max(lt["mqtt_sub_median_ms"], 0.1)),
         "MQTT subscriber median %.1f ms (%d readings)" % (lt["mqtt_sub_median_ms"], lt["readings"])),
        ("publish -> browser marker, p99", "%.1f ms" % lt["browser_p99_ms"],
         "%.2fx of MQTT sub" % (lt["browser_p99_ms"] / max(lt["mqtt_sub_p99_ms"], 0.1)),
         "MQTT subscriber p99 %.1f ms" % lt["mqtt_sub_p99_ms"]),
    ] + alert_rows(f.get("alerts"))


def alert_rows(al):
    if not al:
        return []
    return [
        ("publish -> browser alert, median", "%.1f ms" % al["browser_median_ms"],
         "%.2fx of MQTT alert" % (al["browser_median_ms"] / max(al["mqtt_sub_median_ms"], 0.1)),
         "city/alerts subscriber median %.1f ms (%d warning crossings)" % (
             al["mqtt_sub_median_ms"], al["crossings"])),
        ("publish -> browser alert, p99", "%.1f ms" % al["browser_p99_ms"],
         "%.2fx of MQTT alert" % (al["browser_p99_ms"] / max(al["mqtt_sub_p99_ms"], 0.1)),
         "city/alerts subscriber p99 %.1f ms" % al["mqtt_sub_p99_ms"]),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--readings", type=int, default=50)
    ap.add_argument("--crossings", type=int, default=30)
    a = ap.parse_args()
    f = measure(a.loads, a.readings, a.crossings)
    for r in rows(f):
        print("%-44s  %-14s  %-20s  %s" % r)
    print(json.dumps(f))


if __name__ == "__main__":
    main()
