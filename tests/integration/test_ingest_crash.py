#!/usr/bin/python3
"""The delivery guarantee under kill -9 (SPEC section 4, docs/delivery.md).

A publisher that behaves like devices (tk-pub: keeps readings until the watermark ack
covers them, resends after reconnect or when the ack stalls) sends 20,000 readings from 20
devices through the real Mosquitto while takumi-ingest is killed with SIGKILL at random
moments and restarted. At the end every device's ack covers its last reading, and every
reading at or below it is in the store exactly once: no loss, no duplicate rows.

TAKUMI_CRASH_KILLS (default 6) and TAKUMI_CRASH_SEED choose the kills, TAKUMI_CRASH_COUNT
(default 1000) the readings per device (bench/faults.py: 30 kills, a longer load)."""
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402

DEVICES = 20
COUNT = int(os.environ.get("TAKUMI_CRASH_COUNT", "1000"))  # readings per device
FIGURES = {}  # for bench/faults.py
BASE_MS = 1767225600000  # tk-pub's default: device d, seq s has ts = BASE_MS + s minutes


def test_kill9_ingest_under_load():
    kills = int(os.environ.get("TAKUMI_CRASH_KILLS", "6"))
    seed = int(os.environ.get("TAKUMI_CRASH_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    print("seed %d, %d kills" % (seed, kills), flush=True)
    with tkfix.Stack("ingest-crash") as st:
        st.start_broker()
        for i in range(DEVICES):
            st.admin("device", "add", "--kind", "water_level", "--id", "ld-%05d" % i,
                     "--lat", "34.39", "--lon", "132.45")
        gw = st.add_gateway("crash-gw")
        n = 0
        ing = st.start_ingest("--stats-interval-s", "2", name="ingest-%d" % n)
        pub = st.spawn("tk-pub", [os.path.join(tkfix.BIN, "tests", "tk-pub"), "--port", st.mqtt_port,
                                  "--user", "crash-gw", "--password", gw, "--prefix", "ld",
                                  "--devices", DEVICES, "--count", COUNT, "--rate", 1500,
                                  "--ack-timeout-ms", 2000, "--timeout-s", 400])
        for k in range(kills):
            time.sleep(rnd.uniform(0.5, 2.5))
            if pub.poll() is not None:
                break
            st.kill(ing, signal.SIGKILL)
            time.sleep(rnd.uniform(0.0, 1.0))
            n += 1
            ing = st.start_ingest("--stats-interval-s", "2", name="ingest-%d" % n)
            print("kill %d done" % (k + 1), flush=True)
        assert n >= min(kills, 5), "the publisher finished before %d kills; make it slower" % kills
        try:
            pub.wait(420)
        except subprocess.TimeoutExpired:
            raise AssertionError("publisher did not finish: %s" % st.log("tk-pub")[-2000:])
        out = st.log("tk-pub")
        res = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
        print("publisher: %s" % json.dumps(res), flush=True)
        assert pub.returncode == 0 and res["ok"], "every device's ack covers its last reading"

        # the retained acks say COUNT for every device
        for i in (0, DEVICES - 1):
            dev = "ld-%05d" % i
            got = st.sub("takumi-ingest", st.secret("ingest"), "city/water_level/%s/ack" % dev, timeout=5)
            # the ingest identity may not read acks; fall back to the store's watermark
            if got:
                assert json.loads(got[0])["seq"] == COUNT, got
        assert st.kill(ing, signal.SIGTERM) == 0

        c = st.db()
        wm = dict(c.execute("SELECT device_id, watermark FROM seq_state").fetchall())
        expect = {BASE_MS * 1000 + s * 60000000 for s in range(1, COUNT + 1)}
        stored = {}  # (device, quantity) -> stored times, with duplicates
        for i in range(DEVICES):
            dev = "ld-%05d" % i
            for q in ("water_level", "battery_voltage", "water_temperature"):
                stored[dev, q] = [r[0] for r in c.execute(
                    "SELECT o.t_us FROM all_observations o JOIN datastreams d ON d.id = o.ds_id "
                    "JOIN things t ON t.id = d.thing_id JOIN observed_properties p "
                    "ON p.id = d.observed_property_id WHERE t.device_id = ? AND p.name = ?",
                    (dev, q)).fetchall()]
        lost = sum(len(expect - set(t)) for (_, q), t in stored.items() if q == "water_level")
        dup_rows = sum(len(t) - len(set(t)) for t in stored.values())
        FIGURES["ingest_kill9"] = {"kills": n, "readings": DEVICES * COUNT, "lost": lost,
                                   "duplicates": dup_rows, "resent": res["resent"]}
        print("kill -9 of the ingest x%d under load: %d readings acknowledged, %d lost, %d "
              "duplicate rows stored" % (n, DEVICES * COUNT, lost, dup_rows), flush=True)
        for (dev, q), times in stored.items():
            assert wm.get(dev) == COUNT, (dev, wm.get(dev))
            assert len(times) == len(set(times)), "%s %s: duplicate rows" % (dev, q)
            missing = expect - set(times)
            extra = set(times) - expect
            assert not missing, "%s %s: %d acknowledged readings lost, e.g. %r" % (
                dev, q, len(missing), sorted(missing)[:3])
            assert not extra, "%s %s: unexpected rows %r" % (dev, q, sorted(extra)[:3])
        assert c.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
        dups = sum(int(l.split("duplicates=")[1].split()[0]) for name in ["ingest-%d" % j for j in range(n + 1)]
                   for l in st.log(name).splitlines() if "duplicates=" in l and "stopped" not in l)
        print("resent by devices: %d; ingest logs report duplicates absorbed (sum of last lines "
              "not exact): %d" % (res["resent"], dups), flush=True)


if __name__ == "__main__":
    sys.exit(tkfix.main([test_kill9_ingest_under_load]))
