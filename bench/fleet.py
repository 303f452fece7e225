#!/usr/bin/python3
"""Fleet benchmark: how many simulated devices one takumi-device process runs, and the
readings per second it sustains end to end (stored by takumi-ingest and acknowledged back
to the device) against the real broker. Prints one JSON line.

A tkfix Stack (real Mosquitto with broker-config/, real takumi-ingest) is provisioned with
`takumi-admin device add-many` (N water-level gauges) and a gateway identity; the fleet
runs for --warmup-s + --duration-s; the figure is acknowledged readings over the measured
window, from the fleet's own JSON stats lines (acked = removed from the rings by the
platform's watermark acks, i.e. durably stored).

    bench/fleet.py [--devices 2000] [--sample-ms 1000] [--interval-ms 5000]
                   [--connections 1] [--duration-s 30] [--warmup-s 10]

Environment: TAKUMI_BIN (default build/release), TAKUMI_TOP."""
import argparse
import json
import os
import sys
import time

TOP = os.environ.get("TAKUMI_TOP", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TAKUMI_BIN", os.path.join(TOP, "build", "release"))
os.environ["TAKUMI_BIN"] = BIN
os.environ["TAKUMI_TOP"] = TOP
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import tkfix  # noqa: E402


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(st):
    out = []
    for ln in st.log("fleet").splitlines():
        if ln.startswith("{"):
            try:
                out.append(json.loads(ln))
            except ValueError:
                pass
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--sample-ms", type=int, default=1000)
    ap.add_argument("--interval-ms", type=int, default=5000)
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--duration-s", type=float, default=30)
    ap.add_argument("--warmup-s", type=float, default=10)
    a = ap.parse_args()
    with tkfix.Stack("bench-fleet") as st:
        st.start_broker()
        t0 = time.monotonic()
        st.admin("device", "add-many", "--kind", "water_level", "--prefix", "fl",
                 "--count", a.devices, "--lat", 34.36, "--lon", 132.43, "--spread-deg", 0.0005,
                 "--mount-height-m", 3.2, timeout=600)
        gw = st.add_gateway("gw-bench")
        provision_s = time.monotonic() - t0
        ing = st.start_ingest()
        fleet = st.spawn("fleet", [os.path.join(BIN, "firmware", "takumi-device"),
                                   "--port", st.mqtt_port, "--user", "gw-bench", "--password", gw,
                                   "--fleet", a.devices, "--prefix", "fl", "--kind", "water_level",
                                   "--sample-ms", a.sample_ms, "--interval-ms", a.interval_ms,
                                   "--fast-interval-ms", a.interval_ms,
                                   "--connections", a.connections, "--ack-timeout-ms", 30000,
                                   "--stats-ms", 1000, "--state-dir", os.path.join(st.dir, "nv")])
        tkfix.wait_for(lambda: any(s["online"] == a.devices for s in stats(st)) or
                       fleet.poll() is not None, 120, "the fleet online")
        t_online = stats(st)[-1]["t_s"]
        time.sleep(a.warmup_s)
        s0, c0 = stats(st)[-1], (cpu_s(fleet.pid), cpu_s(ing.pid), cpu_s(st.broker.pid))
        time.sleep(a.duration_s)
        s1, c1 = stats(st)[-1], (cpu_s(fleet.pid), cpu_s(ing.pid), cpu_s(st.broker.pid))
        dt = s1["t_s"] - s0["t_s"]
        st.kill(fleet)
        res = {
            "figure": "fleet",
            "devices_per_process": a.devices,
            "connections": a.connections,
            "provision_s": round(provision_s, 1),
            "online_after_s": round(t_online, 1),
            "offered_readings_per_s": round((s1["recorded"] - s0["recorded"]) / dt),
            "acked_readings_per_s": round((s1["acked"] - s0["acked"]) / dt),
            "backlog_start": s0["buffered"],
            "backlog_end": s1["buffered"],
            "dropped": s1["dropped"],
            "cpu_share": {"fleet": round((c1[0] - c0[0]) / dt, 2),
                          "ingest": round((c1[1] - c0[1]) / dt, 2),
                          "broker": round((c1[2] - c0[2]) / dt, 2)},
            "window_s": round(dt, 1),
            "sample_ms": a.sample_ms,
            "interval_ms": a.interval_ms,
        }
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
