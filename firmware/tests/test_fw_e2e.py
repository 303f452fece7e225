#!/usr/bin/python3
"""The POSIX port end to end: takumi-device as a real device against the real Mosquitto
(broker-config/) and the real takumi-ingest, provisioned with takumi-admin (tkfix).

- a simulated gauge reports; its readings land in the store; it receives its acks and
  empties its ring buffer
- kill -9 of the ingest while the device runs loses nothing the device saw acknowledged
- the device rides through a broker restart and resends what was not acknowledged
- its status is retained, and its MQTT will turns it offline when it dies
"""
import json
import os
import re
import signal
import sys
import time

TOP = os.environ.get("TAKUMI_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import tkfix  # noqa: E402

FW = os.path.join(tkfix.BIN, "firmware", "takumi-device")

OBS_SQL = """
SELECT o.t_us, o.params FROM
  (SELECT ds_id, t_us, params FROM observations
   UNION ALL SELECT ds_id, t_us, params FROM obs_staging) o
JOIN datastreams d ON d.id = o.ds_id
JOIN things t ON t.id = d.thing_id
JOIN observed_properties p ON p.id = d.observed_property_id
WHERE t.device_id = ? AND p.name = 'water_level'
ORDER BY o.t_us"""


def observations(st, dev):
    c = st.db()
    try:
        return c.execute(OBS_SQL, (dev,)).fetchall()
    finally:
        c.close()


def acks_seen(st, name):
    return [int(m) for m in re.findall(r'ack \{"seq":(\d+)\}', st.log(name))]


def last_stats(st, name):
    lines = [ln for ln in st.log(name).splitlines() if ": stats " in ln]
    if not lines:
        return {}
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", lines[-1])}


def device(st, dev, pw, name, *extra):
    return st.spawn(name, [FW, "--host", "127.0.0.1", "--port", st.mqtt_port, "--user", dev,
                           "--password", pw, "--id", dev, "--kind", "water_level",
                           "--state-dir", os.path.join(st.dir, "fw-" + dev),
                           "--mount-height-mm", 3200, "-v", *extra])


def test_gauge_through_ingest_kill_and_broker_restart():
    with tkfix.Stack("fw-e2e") as st:
        st.start_broker()
        dev = "wl-fw-0001"
        pw = st.add_device("water_level", dev, mount_height_m=3.2)
        ing = st.start_ingest()
        n = 80
        p = device(st, dev, pw, "fw", "--sample-ms", 100, "--interval-ms", 400,
                   "--ack-timeout-ms", 2000, "--count", n, "--exit-when-drained")

        # acks arrive and the ring empties as they do
        tkfix.wait_for(lambda: any(a >= 10 for a in acks_seen(st, "fw")), 20, "first acks")
        # kill -9 the ingest while the device records and sends
        seen_before_kill = max(acks_seen(st, "fw"))
        st.kill(ing, signal.SIGKILL)
        time.sleep(1.0)
        st.start_ingest(name="ingest2")
        tkfix.wait_for(lambda: max(acks_seen(st, "fw")) > seen_before_kill + 5, 20,
                       "acks after the ingest restart")
        # restart the broker under the running device
        acked_before_restart = max(acks_seen(st, "fw"))
        st.restart_broker(signal.SIGKILL)  # queued messages and unsaved retained acks die
        try:
            rc = p.wait(60)
        except Exception:
            raise AssertionError("device did not drain:\n" + st.log("fw")[-3000:])
        log = st.log("fw")
        assert rc == 0, log[-3000:]
        stats = last_stats(st, "fw")
        assert stats.get("recorded") == n and stats.get("buffered") == 0, stats
        assert stats.get("connects", 0) >= 2, "reconnected after the broker restart: %r" % stats
        assert max(acks_seen(st, "fw")) == n, acks_seen(st, "fw")[-5:]
        assert "connection lost" in log, log[-2000:]

        rows = observations(st, dev)
        times = [r[0] for r in rows]
        assert len(times) == len(set(times)), "no duplicates in the store"
        assert len(rows) == n, "all %d readings stored, got %d" % (n, len(rows))
        for _, params in rows:
            assert "distance_mm" in json.loads(params), params
        # every reading acknowledged before the kill and before the restart is there
        assert len(rows) >= max(seen_before_kill, acked_before_restart)
        c = st.db()
        q = c.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        c.close()
        assert q == 0, "no reading was refused"


def test_status_and_will():
    with tkfix.Stack("fw-will") as st:
        st.start_broker()
        dev = "wl-fw-0002"
        pw = st.add_device("water_level", dev)
        p = device(st, dev, pw, "fw", "--sample-ms", 200, "--interval-ms", 1000)
        tkfix.wait_for(lambda: "online" in st.log("fw"), 15, "the device online")
        # the retained status, read with the device's own identity is not allowed
        # (devices may not read status): use the ingest identity
        got = st.sub("takumi-ingest", st.secret("ingest"), "city/water_level/%s/status" % dev,
                     count=1, timeout=5)
        assert got, "a retained status"
        s = json.loads(got[0])
        assert s["state"] == "online" and s["fw"] == "0.1.0" and "buffered" in s, s
        assert -150 <= s["rssi_dbm"] <= 0 and 0 < s["battery_v"] < 10, s
        st.kill(p, signal.SIGKILL)

        def offline():
            g = st.sub("takumi-ingest", st.secret("ingest"), "city/water_level/%s/status" % dev,
                       count=1, timeout=2)
            return g and json.loads(g[0])["state"] == "offline"
        tkfix.wait_for(offline, 15, "the will (offline status)")


def count_obs(st, dev, quantity):
    c = st.db()
    try:
        return c.execute(OBS_SQL.replace("'water_level'", "?"), (dev, quantity)).fetchall()
    finally:
        c.close()


def test_fleet_people_flow_and_wifi_ap():
    """Fleet mode: 5 people counters over one connection under a gateway identity; and
    one Wi-Fi AP with its own identity. Every reading is stored and acknowledged."""
    with tkfix.Stack("fw-fleet") as st:
        st.start_broker()
        for i in range(5):
            st.add_device("people_flow", "pf-fl-%05d" % i)
        ap_pw = st.add_device("wifi_ap", "ap-fw-0001")
        gw_pw = st.add_gateway("gw-fleet", devices="all")
        st.start_ingest()
        fleet = st.spawn("fleet", [FW, "--port", st.mqtt_port, "--user", "gw-fleet",
                                   "--password", gw_pw, "--fleet", 5, "--prefix", "pf-fl",
                                   "--kind", "people_flow", "--interval-ms", 1000,
                                   "--count", 4, "--exit-when-drained",
                                   "--state-dir", os.path.join(st.dir, "fleet")])
        ap = st.spawn("ap", [FW, "--port", st.mqtt_port, "--user", "ap-fw-0001",
                             "--password", ap_pw, "--id", "ap-fw-0001", "--kind", "wifi_ap",
                             "--interval-ms", 1000, "--count", 3, "--exit-when-drained",
                             "--state-dir", os.path.join(st.dir, "ap")])
        assert fleet.wait(60) == 0, st.log("fleet")[-3000:]
        assert ap.wait(60) == 0, st.log("ap")[-3000:]
        for i in range(5):
            rows = count_obs(st, "pf-fl-%05d" % i, "people_in")
            assert len(rows) == 4, (i, rows)
            assert "cum_in" in json.loads(rows[-1][1]), rows[-1]
        rows = count_obs(st, "ap-fw-0001", "unique_devices")
        assert len(rows) == 3, rows
        # the scenario's randomised probe MACs are not counted; fixed ones are
        assert all(0 < r[0] for r in rows)


if __name__ == "__main__":
    sys.exit(tkfix.main([test_gauge_through_ingest_kill_and_broker_restart, test_status_and_will,
                         test_fleet_people_flow_and_wifi_ap]))
