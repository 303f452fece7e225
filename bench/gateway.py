#!/usr/bin/python3
"""The CoAP field gateway's figures, measured in one run against the real broker and
ingest (tkfix Stack), with ratios against baselines of the same run:

  (g1) readings/s the gateway accepts (2.04 after the spool commit) over plain CoAP
       (enabled for this bench only): the baseline
  (g2) the same over DTLS-PSK, sessions kept (handshakes excluded)
  (g3) plain CoAP again with the spool not fsynced (--spool-fsync 0): what fsync costs;
       and DTLS without fsync against it: what DTLS costs when fsync does not dominate
  (g4) catch-up: readings/s forwarded and acknowledged after a backhaul outage during
       which the devices kept posting (from the reconnection to an empty spool); the
       gateway reaches the broker through a TCP relay here that the outage cuts, so the
       broker and the ingest stay up as they would when a field link fails
  (g5) zlib on what the gateway holds: backhaul batches (a device's readings as one JSON
       array, as the forwarder sends them), spool pages and single spool rows (what one
       POST writes), bytes saved against CPU (ratio: compression CPU over the gateway's
       whole CPU per reading in (g1))

gw-load (bench/gw_load.c) is the device side: D devices, each its own session, one
confirmable POST of one reading at a time each.

    bench/gateway.py [--devices 20] [--seconds 5] [--outage-s 20] [--outage-60]
Environment: TAKUMI_BIN (default build/release), TAKUMI_TOP."""
import argparse
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from datetime import datetime

TOP = os.environ.get("TAKUMI_TOP", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TAKUMI_BIN", os.path.join(TOP, "build", "release"))
os.environ["TAKUMI_BIN"] = BIN
os.environ["TAKUMI_TOP"] = TOP
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import tkfix  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleet import cpu_s  # noqa: E402

GATEWAY = os.path.join(BIN, "gateway", "takumi-gateway")
LOAD = os.path.join(BIN, "bench", "gw-load")


class Relay:
    """A TCP relay 127.0.0.1:port -> the broker that can be cut (the backhaul)."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = tkfix.free_port()
        self.conns = []
        self.mu = threading.Lock()
        self.lsock = None
        self.up()

    def up(self):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(16)
        threading.Thread(target=self._accept, args=(self.lsock,), daemon=True).start()

    def down(self):
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close alone does not)
        except OSError:
            pass
        self.lsock.close()
        with self.mu:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns = []

    def _accept(self, ls):
        while True:
            try:
                a, _ = ls.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.target))
            for x in (a, b):
                x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.mu:
                self.conns += [a, b]
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()
            threading.Thread(target=self._pump, args=(b, a), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Bench:
    def __init__(self, st, ndev):
        self.st, self.ndev = st, ndev
        st.start_broker()
        for i in range(ndev):
            st.admin("device", "add", "--kind", "water_level", "--id", "gl-%05d" % i, "--lat",
                     "34.39", "--lon", "132.45", "--mount-height-m", "3.2", "--transport", "coap")
        pw = st.add_gateway("bench-gw")
        self.pass_file = os.path.join(st.dir, "bench-gw.pass")
        with open(self.pass_file, "w") as f:
            f.write(pw)
        st.start_ingest()
        self.port, self.plain = tkfix.free_port(), tkfix.free_port()
        self.n = 0
        self.gw = None
        self.relay = Relay(st.mqtt_port)

    def start_gateway(self, *extra):
        if self.gw is not None:
            self.st.kill(self.gw, 15)
        self.n += 1
        self.name = "gateway-%d" % self.n
        self.gw = self.st.spawn(self.name, [
            GATEWAY, "--data", self.st.dir, "--mqtt-port", self.relay.port, "--mqtt-user",
            "bench-gw", "--mqtt-password-file", self.pass_file, "--coaps-port", self.port,
            "--coap-plain-port", self.plain, "--stats-interval-s", "1", *extra])
        tkfix.wait_for(lambda: "gateway running" in self.st.log(self.name), 20, "the gateway")

    def load(self, seconds, plain):
        argv = [LOAD, "--devices", str(self.ndev), "--prefix", "gl", "--seconds", str(seconds),
                "--seq-file", os.path.join(self.st.dir, "gw-load.seq")]
        argv += ["--port", str(self.plain), "--plain"] if plain else \
            ["--port", str(self.port), "--psk-dir", os.path.join(self.st.dir, "secrets", "psk")]
        c0 = cpu_s(self.gw.pid)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
        if out.returncode != 0:
            raise RuntimeError("gw-load: %s%s" % (out.stdout, out.stderr))
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["gw_cpu_us_per_reading"] = (cpu_s(self.gw.pid) - c0) * 1e6 / max(r["readings_ok_total"], 1)
        return r

    def stats(self):
        """The gateway's stats lines: [(datetime, dict)]."""
        out = []
        for ln in self.st.log(self.name).splitlines():
            if " stats {" in ln:
                out.append((stamp(ln), json.loads(ln.split(" stats ", 1)[1])))
        return out


def stamp(line):
    return datetime.strptime(line.split(" ", 1)[0].rstrip("Z")[:26], "%Y-%m-%dT%H:%M:%S.%f")


def zlib_figures(spool_copy, gw_cpu_us):
    """Bytes saved and CPU per reading for batches of <= 128 readings of one device and for
    4 kB spool pages, at zlib levels 1 and 6."""
    c = sqlite3.connect(spool_copy)
    rows = c.execute("SELECT device, body FROM spool ORDER BY id").fetchall()
    c.close()
    if not rows:
        return {}
    per_dev = {}
    for dev, body in rows:
        per_dev.setdefault(dev, []).append(body if isinstance(body, str) else body.decode())
    batches = []
    for bodies in per_dev.values():
        for i in range(0, len(bodies), 128):
            batches.append(("[" + ",".join(bodies[i:i + 128]) + "]").encode())
    with open(spool_copy, "rb") as f:
        data = f.read()
    pages = [data[i:i + 4096] for i in range(0, len(data), 4096)]
    out = {"readings": len(rows), "batches": len(batches), "pages": len(pages),
           "gw_cpu_us_per_reading": gw_cpu_us}
    each = [b.encode() for bodies in per_dev.values() for b in bodies]
    for what, blobs in (("batch", batches), ("page", pages), ("row", each)):
        for level in (1, 6):
            raw = sum(len(b) for b in blobs)
            t0 = time.process_time()
            comp = [zlib.compress(b, level) for b in blobs]
            t1 = time.process_time()
            for z in comp:
                zlib.decompress(z)
            t2 = time.process_time()
            out["%s_z%d" % (what, level)] = {
                "bytes_per_reading": raw / len(rows),
                "saved": 1 - sum(len(z) for z in comp) / raw,
                "compress_us_per_reading": (t1 - t0) * 1e6 / len(rows),
                "decompress_us_per_reading": (t2 - t1) * 1e6 / len(rows)}
    return out


def run(ndev=20, seconds=5.0, outage_s=20.0):
    """Measure; return the rows of the table and the raw figures."""
    with tkfix.Stack("bench-gateway") as st:
        b = Bench(st, ndev)
        b.start_gateway()
        b.load(1, plain=False)  # warm-up: sessions, spool pages, acks
        dtls = b.load(seconds, plain=False)
        plain = b.load(seconds, plain=True)
        commit_fsync = b.stats()[-1][1]["commit_us_avg"] if b.stats() else 0
        b.start_gateway("--spool-fsync", "0")
        b.load(1, plain=True)
        nofsync = b.load(seconds, plain=True)
        dtls_nofsync = b.load(seconds, plain=False)
        commit_nofsync = b.stats()[-1][1]["commit_us_avg"] if b.stats() else 0

        # catch-up: the broker away while the devices post
        b.start_gateway()
        tkfix.wait_for(lambda: b.stats() and b.stats()[-1][1]["spooled"] == 0, 60,
                       "an empty spool before the outage")
        b.relay.down()
        outage = b.load(outage_s, plain=True)
        tkfix.wait_for(lambda: b.stats()[-1][1]["backhaul"] == "down", 10, "backhaul down")
        time.sleep(1.5)
        spooled = b.stats()[-1][1]["spooled"]
        spool_copy = os.path.join(st.dir, "spool-copy.db")
        src = sqlite3.connect(os.path.join(st.dir, "gateway", "spool.db"))
        dst = sqlite3.connect(spool_copy)
        src.backup(dst)
        src.close()
        dst.close()
        n_connected = st.log(b.name).count("connected to")
        b.relay.up()
        tkfix.wait_for(lambda: st.log(b.name).count("connected to") > n_connected, 60,
                       "the gateway reconnected")
        t_conn = [stamp(ln) for ln in st.log(b.name).splitlines() if "connected to" in ln][-1]
        live = sqlite3.connect("file:%s?mode=ro" % os.path.join(st.dir, "gateway", "spool.db"),
                               uri=True, timeout=10)
        deadline = time.monotonic() + 600
        while live.execute("SELECT count(*) FROM spool").fetchone()[0] and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        t_empty = datetime.utcnow()
        live.close()
        catchup_s = (t_empty - t_conn).total_seconds()
        catchup = spooled / catchup_s
        z = zlib_figures(spool_copy, plain["gw_cpu_us_per_reading"])
    base = plain["rate"]
    rows = [
        ("(g1) CoAP plain, accepted (spool fsynced)", "%.0f readings/s" % base,
         "1.00x (baseline)", "%d devices, 1 reading per POST, 1 in flight each" % ndev),
        ("(g2) CoAP over DTLS-PSK, sessions kept", "%.0f readings/s" % dtls["rate"],
         "%.2fx of (g1)" % (dtls["rate"] / base),
         "gateway CPU %.0f us/reading (plain %.0f)" % (dtls["gw_cpu_us_per_reading"],
                                                       plain["gw_cpu_us_per_reading"])),
        ("(g3) CoAP plain, spool not fsynced", "%.0f readings/s" % nofsync["rate"],
         "%.2fx of (g1)" % (nofsync["rate"] / base),
         "commit %d us fsynced, %d us not: fsync is %.1fx" % (
             commit_fsync, commit_nofsync, commit_fsync / max(commit_nofsync, 1))),
        ("     DTLS-PSK, spool not fsynced", "%.0f readings/s" % dtls_nofsync["rate"],
         "%.2fx of (g3)" % (dtls_nofsync["rate"] / nofsync["rate"]),
         "what DTLS costs once fsync is out of the way"),
        ("(g4) catch-up after a %.0f s outage" % outage_s, "%.0f readings/s" % catchup,
         "%.2fx of (g1)" % (catchup / base),
         "%d spooled, forwarded and acknowledged in %.1f s" % (spooled, catchup_s)),
    ]
    for key, label in (("batch_z1", "(g5) zlib-1 on backhaul batches"),
                       ("batch_z6", "     zlib-6 on backhaul batches"),
                       ("page_z1", "     zlib-1 on spool pages"),
                       ("page_z6", "     zlib-6 on spool pages"),
                       ("row_z6", "     zlib-6 on single spool rows")):
        if key in z:
            d = z[key]
            rows.append((label, "%.0f%% of %.0f B/reading saved" % (100 * d["saved"],
                                                                    d["bytes_per_reading"]),
                         "%.2fx of gw CPU" % (d["compress_us_per_reading"] /
                                              max(z["gw_cpu_us_per_reading"], 1e-9)),
                         "compress %.2f us, decompress %.2f us per reading" % (
                             d["compress_us_per_reading"], d["decompress_us_per_reading"])))
    return rows, {"dtls": dtls, "plain": plain, "nofsync": nofsync,
                  "dtls_nofsync": dtls_nofsync, "outage": outage,
                  "catchup_rate": catchup, "spooled": spooled, "catchup_s": catchup_s,
                  "commit_us": [commit_fsync, commit_nofsync], "zlib": z}


def print_table(rows):
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    print("%-*s  %-*s  %-*s  %s" % (w[0], "figure", w[1], "measured", w[2], "ratio", "note"))
    for r in rows:
        print("%-*s  %-*s  %-*s  %s" % (w[0], r[0], w[1], r[1], w[2], r[2], r[3]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--outage-s", type=float, default=20)
    ap.add_argument("--outage-60", action="store_true", help="the issue's 60 s outage")
    ap.add_argument("--json", action="store_true", help="also print the raw figures")
    a = ap.parse_args()
    rows, raw = run(a.devices, a.seconds, 60 if a.outage_60 else a.outage_s)
    print_table(rows)
    if a.json:
        print(json.dumps(raw))


if __name__ == "__main__":
    main()
