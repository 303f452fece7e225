#!/usr/bin/python3
"""The broker STOPPED FOR 60 s under a running fleet of all three kinds (water_level,
people_flow, wifi_ap; one takumi-device process under a gateway identity, devices
registered with `takumi-admin device add-many`): the devices keep sampling into their
rings; after the restart every reading taken meanwhile arrives exactly once in the store
(observations UNION ALL obs_staging, no duplicate (datastream, time)), and every reading
recorded is stored and acknowledged."""
import json
import os
import signal
import sys
import time

TOP = os.environ.get("TAKUMI_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import tkfix  # noqa: E402

FW = os.path.join(tkfix.BIN, "firmware", "takumi-device")
OUTAGE_S = 60
PRIMARY = {"water_level": "water_level", "people_flow": "people_in",
           "wifi_ap": "unique_devices"}
# kind -> (prefix, reading period in s)
KINDS = {"water_level": ("wl-out", 1.0), "people_flow": ("pf-out", 2.0),
         "wifi_ap": ("ap-out", 2.0)}

OBS_SQL = """
SELECT t.device_id, o.t_us, count(*) FROM
  (SELECT ds_id, t_us FROM observations UNION ALL SELECT ds_id, t_us FROM obs_staging) o
JOIN datastreams d ON d.id = o.ds_id
JOIN things t ON t.id = d.thing_id
JOIN observed_properties p ON p.id = d.observed_property_id
WHERE p.name = ? GROUP BY t.device_id, o.t_us"""


def totals(st):
    lines = [ln for ln in st.log("fleet").splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def test_broker_stopped_60s():
    with tkfix.Stack("fw-outage") as st:
        st.start_broker()
        devfile = os.path.join(st.dir, "devices.txt")
        with open(devfile, "w") as f:
            for kind, (prefix, _) in KINDS.items():
                extra = ["--mount-height-m", 3.2] if kind == "water_level" else []
                r = st.admin("device", "add-many", "--kind", kind, "--prefix", prefix,
                             "--count", 2, "--lat", 34.39, "--lon", 132.45, *extra)
                assert "2 %s devices registered" % kind in r.stdout, r.stdout
                for i in range(2):
                    f.write("%s %s-%05d\n" % (kind, prefix, i))
        # add-many refuses ids that exist, and changes nothing then
        r = st.admin("device", "add-many", "--kind", "wifi_ap", "--prefix", "ap-out",
                     "--count", 3, "--lat", 34.39, "--lon", 132.45, check=False)
        assert r.returncode == 1 and "already exists" in r.stderr, r.stderr
        gw = st.add_gateway("gw-outage", devices="all")
        st.start_ingest()
        fleet = st.spawn("fleet", [FW, "--port", st.mqtt_port, "--user", "gw-outage",
                                   "--password", gw, "--devices", devfile,
                                   "--sample-ms", 1000, "--interval-ms", 2000,
                                   "--fast-interval-ms", 2000, "--ring-slots", 256,
                                   "--ack-timeout-ms", 3000, "--stats-ms", 500,
                                   "--state-dir", os.path.join(st.dir, "fleet")])
        tkfix.wait_for(lambda: totals(st).get("acked", 0) >= 12, 30, "first acks")

        t_stop = time.time()
        st.stop_broker(signal.SIGTERM)
        time.sleep(OUTAGE_S / 2)
        mid = totals(st)
        assert mid["online"] == 0 and mid["buffered"] >= 40, mid
        time.sleep(OUTAGE_S / 2)
        t_restart = time.time()
        during = totals(st)
        assert fleet.poll() is None, st.log("fleet")[-2000:]
        st.restart_broker()
        # the ingest and the devices reconnect; the backlog drains while sampling goes on
        tkfix.wait_for(lambda: totals(st).get("acked", 0) >= during["recorded"], 60,
                       "every reading taken during the outage acknowledged")
        st.kill(fleet, signal.SIGUSR1)  # stop sampling, exit once drained
        assert fleet.wait(60) == 0, st.log("fleet")[-3000:]
        final = totals(st)
        assert final.get("final") and final["buffered"] == 0 and final["dropped"] == 0, final
        assert final["acked"] == final["recorded"], final

        c = st.db()
        stored = 0
        for kind, (prefix, period) in KINDS.items():
            rows = c.execute(OBS_SQL, (PRIMARY[kind],)).fetchall()
            dup = [r for r in rows if r[2] != 1]
            assert not dup, "exactly once: %r" % dup[:5]
            for i in range(2):
                dev = "%s-%05d" % (prefix, i)
                times = [r[1] / 1e6 for r in rows if r[0] == dev]
                stored += len(times)
                gap = [t for t in times if t_stop + 1 < t < t_restart - 1]
                want = (OUTAGE_S - 2) / period
                assert len(gap) >= 0.8 * want, (dev, len(gap), want)
        assert stored == final["recorded"], (stored, final)
        q = c.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        assert q == 0, "no reading was refused"


if __name__ == "__main__":
    sys.exit(tkfix.main([test_broker_stopped_60s]))
