#!/usr/bin/python3
"""The firmware's CoAP transport through the real gateway, GET /cfg with Observe, the
block-wise memory bound and the gateway's own status (issue #5).

- a simulated water-level gauge (takumi-device --transport coap) reports through the
  gateway, the broker and the ingest into the store, learns its watermark from the gateway
  and empties its ring only under it, across a kill -9 and restart of the gateway: every
  reading is stored exactly once; it applies the configuration the platform publishes,
  read from GET /cfg (Observe), again when it changes;
- coap-client-openssl -s observes /cfg and is notified of a change; 4.04 before any;
- a block-wise body that grows past --payload-max without declaring its size gets 4.13 at
  the block that crosses it; more transfers than --bodies-max get 5.03; the gateway stays up;
- the gateway's retained status says online, and offline after kill -9 (its will) and
  after a clean stop; --mqtt-password-file is where its broker password comes from.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402
from test_gateway import (COAP_CLIENT, Rig, coap, coap_post_block1,  # noqa: E402
                          reading)

FW = os.path.join(tkfix.BIN, "firmware", "takumi-device")

OBS_SQL = """
SELECT o.t_us FROM
  (SELECT ds_id, t_us FROM observations UNION ALL SELECT ds_id, t_us FROM obs_staging) o
JOIN datastreams d ON d.id = o.ds_id JOIN things t ON t.id = d.thing_id
JOIN observed_properties p ON p.id = d.observed_property_id
WHERE t.device_id = ? AND p.name = 'water_level'"""


def stored(st, dev):
    c = st.db()
    try:
        return [r[0] for r in c.execute(OBS_SQL, (dev,)).fetchall()]
    finally:
        c.close()


def publish_config(st, dev, cfg):
    st.pub("takumi-ingest", st.secret("ingest"), "city/water_level/%s/config" % dev,
           json.dumps(cfg), retain=True)


def acks_seen(st, name):
    return [int(m) for m in re.findall(r'ack \{"seq":(\d+)\}', st.log(name))]


def last_totals(st, name):
    lines = [ln for ln in st.log(name).splitlines() if ln.startswith("{") and '"final"' in ln]
    return json.loads(lines[-1]) if lines else {}


class GaugeRig(Rig):
    """Gauges that measure distance need their mount height to become water levels."""
    DEVICE_ARGS = ("--mount-height-m", "3.2")


def psk_file(st, dev):
    return os.path.join(st.dir, "secrets", "psk", dev)


def test_gauge_through_gateway_with_restart():
    dev = "wl-cf-0001"
    with tkfix.Stack("gateway-fw") as st:
        rig = GaugeRig(st, [dev])
        # the configuration exists before the gauge first speaks: the gateway follows
        # every provisioned device's config topic from its start
        publish_config(st, dev, {"version": 2, "interval_s": 10, "sample_s": 1})
        n = 400
        # 20x clock: a reading every 50 ms, a report every 500 ms (real time)
        fw = st.spawn("fw", [FW, "--transport", "coap", "--coap-host", "127.0.0.1",
                             "--coap-port", rig.port, "--psk-file", psk_file(st, dev),
                             "--id", dev, "--kind", "water_level", "--time-scale", 20,
                             "--state-dir", os.path.join(st.dir, "fw"), "--ack-poll-ms", 300,
                             "--ack-timeout-ms", 3000, "--count", n, "--exit-when-drained",
                             "-v"])
        tkfix.wait_for(lambda: "config applied" in st.log("fw"), 20,
                       "the gauge applying the configuration from GET /cfg")
        tkfix.wait_for(lambda: any(a >= 20 for a in acks_seen(st, "fw")) or fw.poll(), 30,
                       "the first watermarks through the gateway")
        before_kill = max(acks_seen(st, "fw"))
        st.kill(rig.gw, signal.SIGKILL)
        time.sleep(2.0)  # the gauge keeps recording into its ring meanwhile
        rig.start_gateway()
        # a changed configuration reaches the running gauge as an Observe notification
        publish_config(st, dev, {"version": 3, "interval_s": 10, "sample_s": 1,
                                 "fast_interval_s": 10})
        try:
            rc = fw.wait(120)
        except subprocess.TimeoutExpired:
            raise AssertionError("the gauge did not drain:\n" + st.log("fw")[-3000:])
        log = st.log("fw")
        assert rc == 0, log[-3000:]
        totals = last_totals(st, "fw")
        print("gauge totals: %s" % json.dumps(totals), flush=True)
        assert totals["recorded"] == n and totals["buffered"] == 0, totals
        assert totals["acked"] == n and totals["dropped"] == 0, totals
        assert max(acks_seen(st, "fw")) == n, acks_seen(st, "fw")[-5:]
        assert max(acks_seen(st, "fw")) > before_kill
        assert log.count("config applied") >= 2, "the notification of version 3"
        assert "DTLS session up" in log and log.count("DTLS session up") >= 2, \
            "a new session after the gateway restart"
        rows = stored(st, dev)
        assert len(rows) == len(set(rows)), "no reading stored twice"
        assert len(rows) == n, "every reading stored: %d of %d" % (len(rows), n)
        c = st.db()
        assert c.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
        c.close()


def test_cfg_observe_with_coap_client():
    dev, other = "wl-cf-0002", "wl-cf-0003"
    with tkfix.Stack("gateway-cfg") as st:
        rig = Rig(st, [dev, other])
        out = coap("get", rig.url("cfg"), dev, rig.psk[dev])
        assert out.startswith("4.04") and dev in out, out
        publish_config(st, dev, {"version": 5, "interval_s": 600})
        publish_config(st, other, {"version": 9, "interval_s": 60})
        tkfix.wait_for(lambda: '"version": 5' in coap("get", rig.url("cfg"), dev,
                                                      rig.psk[dev]), 20,
                       "GET /cfg answering with the retained configuration")
        # each device sees its own configuration only
        tkfix.wait_for(lambda: '"version": 9' in coap("get", rig.url("cfg"), other,
                                                      rig.psk[other]), 20,
                       "GET /cfg answering the other device's configuration")
        out = coap("get", rig.url("cfg"), other, rig.psk[other])
        assert '"version": 9' in out and '"version": 5' not in out, out
        # observe for 8 s; the configuration changes meanwhile
        p = subprocess.Popen([COAP_CLIENT, "-m", "get", "-s", "8", "-B", "10", "-k",
                              rig.psk[dev], "-u", dev, rig.url("cfg")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, text=True)
        try:
            time.sleep(2.5)
            publish_config(st, dev, {"version": 6, "interval_s": 300})
            out, _ = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        print("coap-client -s: %r" % out[-500:], flush=True)
        assert '"version": 5' in out and '"version": 6' in out, out
        assert out.index('"version": 5') < out.index('"version": 6'), out
        assert rig.gw.poll() is None


def test_blockwise_bound():
    dev = "wl-cf-0004"
    with tkfix.Stack("gateway-blocks") as st:
        plain = tkfix.free_port()
        rig = Rig(st, [dev], "--payload-max", "1024", "--bodies-max", "2",
                  "--coap-plain-port", str(plain))
        chunk = b"[" + b" " * 63
        # no Size1: the body grows block by block (64 bytes) until it passes 1024
        codes = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # one session
            s.settimeout(2)
            for num in range(20):
                s.sendto(coap_post_block1(0x2000 + num, dev, num, 1, 2, chunk),
                         ("127.0.0.1", plain))
                r = s.recvfrom(2048)[0]
                codes.append((r[1] >> 5, r[1] & 31))
                if codes[-1] != (2, 31):
                    print("block %d -> %d.%02d %r" % (num, r[1] >> 5, r[1] & 31, r[4:]),
                          flush=True)
                    break
        # block 15 (bytes 960..1023) says more follow: the body passes --payload-max
        assert codes == [(2, 31)] * 15 + [(4, 13)], codes
        # more transfers at once than --bodies-max: the third gets 5.03
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
        try:
            got = []
            for i, s in enumerate(socks):
                s.settimeout(2)
                s.sendto(coap_post_block1(0x3000 + i, dev, 0, 1, 2, chunk), ("127.0.0.1", plain))
                got.append(s.recvfrom(2048)[0])
            assert [(g[1] >> 5, g[1] & 31) for g in got] == [(2, 31), (2, 31), (5, 3)], got
            print("third transfer -> %r" % got[2][4:], flush=True)
            # the two open ones end with a block that does not follow: 4.08, buffers free
            for i, s in enumerate(socks[:2]):
                s.sendto(coap_post_block1(0x3100 + i, dev, 5, 0, 2, chunk), ("127.0.0.1", plain))
                r = s.recvfrom(2048)[0]
                assert (r[1] >> 5, r[1] & 31) == (4, 8), r
        finally:
            for s in socks:
                s.close()
        assert rig.gw.poll() is None, "the gateway survived"
        # block-wise within the bound still works over DTLS (its own buffer is free again
        # once a transfer completes)
        out = rig.post(dev, [reading(dev, s) for s in range(1, 8)], block=64)
        assert '"accepted":7' in out, out
        tkfix.wait_for(lambda: rig.stats().get("refused_busy", 0) >= 1, 10, "refused_busy")


def test_gateway_status_and_password_file():
    dev = "wl-cf-0005"
    with tkfix.Stack("gateway-status") as st:
        rig = Rig(st, [dev])
        topic = "gateway/field-gw/status"

        def status():
            got = st.sub("takumi-ingest", st.secret("ingest"), topic, count=1, timeout=3)
            return json.loads(got[0]) if got else None
        tkfix.wait_for(lambda: status() == {"online": True}, 20, "the retained online status")
        st.kill(rig.gw, signal.SIGKILL)
        tkfix.wait_for(lambda: status() == {"online": False}, 60, "the will: offline")
        # started again from a password file given explicitly
        moved = os.path.join(st.dir, "gw-broker.pass")
        os.rename(rig.pass_file, moved)
        rig.start_gateway("--mqtt-password-file", moved)
        tkfix.wait_for(lambda: status() == {"online": True}, 20, "online again")
        st.kill(rig.gw, signal.SIGTERM)
        assert status() == {"online": False}, "a clean stop says offline"
        # a missing password file is a clear error
        p = st.spawn("gw-nopass", [rig.gw.args[0], "--data", st.dir, "--mqtt-port",
                                   st.mqtt_port, "--mqtt-user", "field-gw",
                                   "--coaps-port", tkfix.free_port(),
                                   "--mqtt-password-file", os.path.join(st.dir, "nope")])
        assert p.wait(20) != 0
        assert "nope" in st.log("gw-nopass"), st.log("gw-nopass")


if __name__ == "__main__":
    sys.exit(tkfix.main([test_gauge_through_gateway_with_restart, test_cfg_observe_with_coap_client,
                         test_blockwise_bound, test_gateway_status_and_password_file]))
