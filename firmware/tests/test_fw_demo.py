#!/usr/bin/python3
"""firmware/posix/demo-fleet, the demo city of `./takumi up`: the first run provisions 126
devices (56 water-level gauges, 30 people counters, 40 Wi-Fi access points) on the map of
Hiroshima's delta that the dashboard draws, their alert levels and a gateway, and runs
them in one takumi-device fleet process whose readings reach the store; a second run
reuses them."""
import json
import os
import signal
import sys

TOP = os.environ.get("TAKUMI_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import tkfix  # noqa: E402

DEMO = os.path.join(TOP, "firmware", "posix", "demo-fleet")
GEO = os.path.join(TOP, "dashboard", "src", "geo", "hiroshima.geojson")
N = 126

SQL = """SELECT t.device_id, count(*) FROM
  (SELECT ds_id FROM observations UNION ALL SELECT ds_id FROM obs_staging) o
  JOIN datastreams d ON d.id = o.ds_id JOIN things t ON t.id = d.thing_id
  GROUP BY t.device_id"""


def stored(st):
    c = st.db()
    try:
        return dict(c.execute(SQL).fetchall())
    finally:
        c.close()


def test_demo_fleet():
    with tkfix.Stack("fw-demo") as st:
        st.start_broker()
        st.start_ingest()
        argv = [DEMO, "--data", st.dir, "--mqtt-port", st.mqtt_port, "--bin", tkfix.BIN,
                "--time-scale", 600]
        p = st.spawn("demo", argv)
        tkfix.wait_for(lambda: len(stored(st)) == N or p.poll() is not None, 90,
                       "readings from all %d demo devices" % N)
        assert p.poll() is None, st.log("demo")[-2000:]
        got = stored(st)
        kinds = {k.split("-")[0] for k in got}
        assert kinds == {"wl", "pf", "ap"}, got
        assert "wl-honkawa-0001" in got and "ap-eki-0012" in got, sorted(got)
        count = lambda pre: len([k for k in got if k.startswith(pre)])  # noqa: E731
        assert (count("wl-"), count("pf-"), count("ap-")) == (56, 30, 40), sorted(got)
        # every device on the dashboard's map, counters and access points in their area
        with open(GEO) as f:
            feats = json.load(f)["features"]
        areas = {x["properties"]["id"]: x["geometry"]["coordinates"][0] for x in feats
                 if x["properties"]["kind"] == "area"}
        c = st.db()
        rows = c.execute("SELECT t.device_id, json_extract(l.location, '$.coordinates')"
                         " FROM things t JOIN thing_locations tl ON tl.thing_id = t.id"
                         " JOIN locations l ON l.id = tl.location_id").fetchall()
        c.close()
        for dev, coords in rows:
            lon, lat = json.loads(coords)
            assert 34.34 < lat < 34.46 and 132.41 < lon < 132.50, (dev, lat, lon)
            if not dev.startswith("wl-"):
                assert inside(lon, lat, areas[dev.split("-")[1]]), (dev, lat, lon)
        # alert levels for every gauge: caution < warning < danger below the mount height
        with open(os.path.join(st.dir, "demo-fleet", "alert-levels.txt")) as f:
            levels = [ln.split() for ln in f if not ln.startswith("#")]
        assert len(levels) == 56 and all(float(a) < float(b) < float(c) < 3.7
                                         for _, a, b, c, _ in levels), levels
        assert st.kill(p, signal.SIGTERM) == 0, st.log("demo")[-2000:]
        log = st.log("demo")
        assert log.count("provisioned %d devices" % N) == 1, log[-1000:]
        assert '"final":true' in log and '"devices":%d' % N in log, log[-1000:]
        assert os.stat(os.path.join(st.dir, "demo-fleet", "gateway.pass")).st_mode & 0o077 == 0

        # again: the same devices, no new provisioning
        p = st.spawn("demo2", argv)
        tkfix.wait_for(lambda: '"devices":%d' % N in st.log("demo2"), 30, "the second run")
        assert st.kill(p, signal.SIGTERM) == 0, st.log("demo2")[-2000:]
        assert "provisioned" not in st.log("demo2")
        r = st.admin("device", "list")
        assert len([ln for ln in r.stdout.splitlines()[1:] if ln.strip()]) == N, r.stdout


def inside(x, y, ring):
    """Point in polygon (even-odd), as the dashboard assigns devices to areas."""
    hit = False
    for i in range(len(ring)):
        (xi, yi), (xj, yj) = ring[i], ring[i - 1]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            hit = not hit
    return hit


def test_demo_fleet_coap():
    """With --coap-port, three of the gauges report through the CoAP gateway."""
    gateway = os.path.join(tkfix.BIN, "gateway", "takumi-gateway")
    with tkfix.Stack("fw-demo-coap") as st:
        st.start_broker()
        st.start_ingest()
        pw = st.add_gateway("takumi-gateway", devices="all")
        pass_file = os.path.join(st.dir, "gw.pass")
        with open(pass_file, "w") as f:
            f.write(pw)
        port = tkfix.free_port()
        gw = st.spawn("gateway", [gateway, "--data", st.dir, "--mqtt-port", st.mqtt_port,
                                  "--mqtt-user", "takumi-gateway", "--mqtt-password-file",
                                  pass_file, "--coaps-port", port])
        tkfix.wait_for(lambda: "gateway running" in st.log("gateway"), 20, "the gateway")
        p = st.spawn("demo", [DEMO, "--data", st.dir, "--mqtt-port", st.mqtt_port,
                              "--bin", tkfix.BIN, "--time-scale", 600, "--coap-port", port])
        coap_txt = os.path.join(st.dir, "demo-fleet", "coap.txt")
        tkfix.wait_for(lambda: os.path.exists(coap_txt) or p.poll() is not None, 60,
                       "the demo city provisioned")
        with open(coap_txt) as f:
            coap_ids = [ln.split()[0] for ln in f if ln.strip() and not ln.startswith("#")]
        assert len(coap_ids) == 3 and all(d.startswith("wl-") for d in coap_ids), coap_ids
        tkfix.wait_for(lambda: all(d in stored(st) for d in coap_ids) or p.poll() is not None,
                       60, "readings of the CoAP gauges through the gateway")
        assert p.poll() is None, st.log("demo")[-3000:]
        log = st.log("demo")
        assert "provisioned 3 CoAP gauges: " + " ".join(coap_ids) in log, log[-2000:]
        for d in coap_ids:
            with open(os.path.join(st.dir, "secrets", "psk", d)) as f:
                assert f.read().startswith("water_level "), d
        tkfix.wait_for(lambda: len(stored(st)) == N, 60, "readings from all %d devices" % N)
        assert st.kill(p, signal.SIGTERM) == 0, st.log("demo")[-2000:]
        assert st.log("demo").count('"final":true') == 4, "the fleet and three gauges stopped"
        assert gw.poll() is None


if __name__ == "__main__":
    sys.exit(tkfix.main([test_demo_fleet, test_demo_fleet_coap]))
