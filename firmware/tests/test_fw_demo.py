#!/usr/bin/python3
"""firmware/posix/demo-fleet, the demo city of `./takumi up`: the first run provisions 40
devices of the three kinds in Hiroshima's delta and a gateway, and runs them in one
takumi-device fleet process whose readings reach the store; a second run reuses them."""
import os
import signal
import sys

TOP = os.environ.get("TAKUMI_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import tkfix  # noqa: E402

DEMO = os.path.join(TOP, "firmware", "posix", "demo-fleet")

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
        tkfix.wait_for(lambda: len(stored(st)) == 40 or p.poll() is not None, 40,
                       "readings from all 40 demo devices")
        assert p.poll() is None, st.log("demo")[-2000:]
        got = stored(st)
        kinds = {k.split("-")[0] for k in got}
        assert kinds == {"wl", "pf", "ap"}, got
        assert "wl-naka-0001" in got and "ap-eki-0010" in got, sorted(got)
        assert st.kill(p, signal.SIGTERM) == 0, st.log("demo")[-2000:]
        log = st.log("demo")
        assert log.count("provisioned 40 devices") == 1, log[-1000:]
        assert '"final":true' in log and '"devices":40' in log, log[-1000:]
        assert os.stat(os.path.join(st.dir, "demo-fleet", "gateway.pass")).st_mode & 0o077 == 0

        # again: the same devices, no new provisioning
        p = st.spawn("demo2", argv)
        tkfix.wait_for(lambda: '"devices":40' in st.log("demo2"), 30, "the second run")
        assert st.kill(p, signal.SIGTERM) == 0, st.log("demo2")[-2000:]
        assert "provisioned" not in st.log("demo2")
        r = st.admin("device", "list")
        assert len([ln for ln in r.stdout.splitlines()[1:] if ln.strip()]) == 40, r.stdout


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
        coap_ids = ["wl-higashi-%04d" % i for i in (2, 3, 4)]
        tkfix.wait_for(lambda: all(d in stored(st) for d in coap_ids) or p.poll() is not None,
                       60, "readings of the CoAP gauges through the gateway")
        assert p.poll() is None, st.log("demo")[-3000:]
        log = st.log("demo")
        assert "provisioned 3 CoAP gauges: " + " ".join(coap_ids) in log, log[-2000:]
        for d in coap_ids:
            with open(os.path.join(st.dir, "secrets", "psk", d)) as f:
                assert f.read().startswith("water_level "), d
        tkfix.wait_for(lambda: len(stored(st)) == 40, 60, "readings from all 40 devices")
        assert st.kill(p, signal.SIGTERM) == 0, st.log("demo")[-2000:]
        assert st.log("demo").count('"final":true') == 4, "the fleet and three gauges stopped"
        assert gw.poll() is None


if __name__ == "__main__":
    sys.exit(tkfix.main([test_demo_fleet, test_demo_fleet_coap]))
