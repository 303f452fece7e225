#!/usr/bin/python3
"""Alert latency: from the publish of a reading that crosses a gauge's caution level (or
falls back below it) to the alert on city/alerts/{id}, with the real broker and ingest.

One mosquitto_pub -l (the gauge's own identity, QoS 1, one connection) writes the
readings; two mosquitto_sub clients stamp what they receive with the wall clock (-F %U):
one as the read-only dashboard identity on city/alerts/#, the baseline one as the
ingest's identity on the gauge's reading topic (the raw MQTT transport of the very same
messages, in the same run). Each crossing waits for its alert, then --gap-ms, before the
next, so the figure is latency, not throughput. A reading arriving within
--commit-interval-ms (default 50 ms) of the ingest's previous commit waits for the rest of
that gather window; a lone crossing in a quiet period (the gap) does not, except when it
lands just after the ingest's once-a-second housekeeping commit (the p99).

    bench/alerts.py [--crossings 200] [--gap-ms 120] [--ingest-args "--commit-interval-ms 0"]

Prints one JSON line: median and p99 of both, in milliseconds, and their ratio."""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

TOP = os.environ.get("TAKUMI_TOP", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TAKUMI_BIN", os.path.join(TOP, "build", "release"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
os.environ["TAKUMI_BIN"] = BIN
os.environ["TAKUMI_TOP"] = TOP

import tkfix  # noqa: E402

GAUGE = "wl-bench-0001"


class Stamped:
    """A mosquitto_sub printing "<unix time> <topic> <payload>" per message."""

    def __init__(self, st, user, password, topic):
        argv = [tkfix.STDBUF, "-oL", tkfix.MOSQUITTO_SUB, "-h", tkfix.HOST, "-p", str(st.mqtt_port),
                "-u", user, "-P", password, "-t", topic, "-q", "1", "-F", "%U %t %p"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, text=True)
        self.msgs = []  # (t, topic, payload)
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            t, topic, payload = line.rstrip("\n").split(" ", 2)
            with self.cv:
                self.msgs.append((float(t), topic, payload))
                self.cv.notify_all()

    def wait(self, pred, timeout):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for m in self.msgs:
                    if pred(m):
                        return m
                left = end - time.monotonic()
                if left <= 0:
                    raise RuntimeError("no matching message in %.0f s" % timeout)
                self.cv.wait(left)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def run(crossings, ingest_args, gap_ms):
    with tkfix.Stack("bench-alerts") as st:
        st.start_broker()
        pw = st.add_device("water_level", GAUGE, mount_height_m=3.0)
        st.admin("alert", "set", "--device", GAUGE, "--caution", 1.0, "--warning", 5.0,
                 "--danger", 6.0, "--rise", 10, "--hysteresis", 0.05, "--silence-intervals", 1000)
        st.start_ingest(*ingest_args)
        alerts = Stamped(st, "takumi-dashboard", st.secret("dashboard"), "city/alerts/#")
        raw = Stamped(st, "takumi-ingest", st.secret("ingest"),
                      "city/water_level/%s/reading" % GAUGE)
        time.sleep(1.0)  # both subscriptions in place (no SUBACK line without -d)
        pub = subprocess.Popen([tkfix.MOSQUITTO_PUB, "-h", tkfix.HOST, "-p", str(st.mqtt_port),
                                "-u", GAUGE, "-P", pw, "-t", "city/water_level/%s/reading" % GAUGE,
                                "-q", "1", "-l"], stdin=subprocess.PIPE, text=True)
        t_ms = int(time.time() * 1000) - 86400 * 1000
        lat_alert, lat_raw = [], []
        try:
            for i in range(1, crossings + 1):
                level = 1.2 if i % 2 else 0.5
                t_ms += 10000
                body = json.dumps({"v": 1, "id": GAUGE, "seq": i, "ts": t_ms, "level_m": level})
                want = "raised" if i % 2 else "cleared"
                t0 = time.time()
                pub.stdin.write(body + "\n")
                pub.stdin.flush()
                ta, _, payload = alerts.wait(
                    lambda m: json.loads(m[2])["event"] == want and
                    json.loads(m[2])["rev"] == (1 if want == "raised" else 2) and
                    json.loads(m[2])["id"] == (i + 1) // 2, 10)
                tr, _, _ = raw.wait(lambda m: json.loads(m[2])["seq"] == i, 10)
                lat_alert.append((ta - t0) * 1000)
                lat_raw.append((tr - t0) * 1000)
                time.sleep(gap_ms / 1000)
        finally:
            pub.stdin.close()
            pub.wait(10)
            alerts.stop()
            raw.stop()
    res = {
        "figure": "alert_latency",
        "crossings": crossings,
        "alert_ms_median": round(pct(lat_alert, 50), 2),
        "alert_ms_p99": round(pct(lat_alert, 99), 2),
        "raw_mqtt_ms_median": round(pct(lat_raw, 50), 2),
        "raw_mqtt_ms_p99": round(pct(lat_raw, 99), 2),
        "gap_ms": gap_ms,
        "ingest_args": " ".join(ingest_args),
    }
    res["ratio_median"] = round(res["alert_ms_median"] / max(res["raw_mqtt_ms_median"], 1e-3), 1)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--crossings", type=int, default=200)
    ap.add_argument("--gap-ms", type=int, default=120, help="pause between crossings")
    ap.add_argument("--ingest-args", default="",
                    help='extra takumi-ingest arguments, e.g. "--commit-interval-ms 0"')
    a = ap.parse_args()
    print(json.dumps(run(a.crossings, a.ingest_args.split(), a.gap_ms)), flush=True)


if __name__ == "__main__":
    main()
