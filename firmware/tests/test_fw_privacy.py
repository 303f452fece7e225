#!/usr/bin/python3
"""Privacy of the wifi_ap app, end to end: takumi-device is fed known MACs (globally unique
and randomised, locally administered ones, associated and probing) through its MAC list,
against the real broker and ingest. Then:

- no raw MAC, in any of its common textual forms or as 6 raw bytes, and no unsalted hash
  of it (SipHash-2-4 under an all-zero key, the app's hash, in hex, decimal and binary, and
  MD5/SHA-1/SHA-256 of its text and bytes) appears in any published payload (received
  with mosquitto_sub as takumi-ingest), in the device's log (at -v -v, which logs every
  publish), its storage file, or any other file of the stack (store, broker and ingest
  logs); the scanner itself is checked on a file that does hold them
- the counts are right in every interval: 7 distinct stations (randomised MACs seen only
  probing are not counted, randomised ones associated are), 2 never associated, 5 associated
- the salt rotates at the UTC day boundary: the clock starts five simulated minutes before
  midnight at --time-scale 60; the digest of the interval's salted hashes is constant within
  a day and changes once, at midnight, while the counts stay the same
- time scale: one-minute intervals pass in one second, stamped a minute apart
"""
import hashlib
import json
import os
import re
import signal
import struct
import sys
import tempfile
import time

TOP = os.environ.get("TAKUMI_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import tkfix  # noqa: E402

FW = os.path.join(tkfix.BIN, "firmware", "takumi-device")

# (mac, associated)
STATIONS = [
    ("00:1b:63:aa:01:01", True),   # globally unique, associated
    ("3c:22:fb:12:34:56", True),
    ("f0:18:98:ab:cd:ef", True),
    ("00:1b:63:aa:02:02", False),  # globally unique, only probing: counted, probe_only
    ("a4:83:e7:00:11:22", False),
    ("da:a1:19:5e:77:01", True),   # randomised (locally administered), associated: counted
    ("6e:3f:00:12:9a:bc", True),
    ("b2:44:55:66:77:88", False),  # randomised, only probing: not counted
    ("7a:01:02:03:04:05", False),
    ("f6:aa:bb:cc:dd:ee", False),
]
UNIQUE, PROBE_ONLY, ASSOC = 7, 2, 5


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & 0xFFFFFFFFFFFFFFFF


def siphash24(key, msg):
    k0, k1 = struct.unpack("<QQ", key)
    v0, v1 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D
    v2, v3 = k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573
    M = 0xFFFFFFFFFFFFFFFF

    def rnd():
        nonlocal v0, v1, v2, v3
        v0 = (v0 + v1) & M; v1 = _rotl(v1, 13); v1 ^= v0; v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & M; v3 = _rotl(v3, 16); v3 ^= v2
        v0 = (v0 + v3) & M; v3 = _rotl(v3, 21); v3 ^= v0
        v2 = (v2 + v1) & M; v1 = _rotl(v1, 17); v1 ^= v2; v2 = _rotl(v2, 32)
    n = len(msg) - len(msg) % 8
    for i in range(0, n, 8):
        m = struct.unpack("<Q", msg[i:i + 8])[0]
        v3 ^= m; rnd(); rnd(); v0 ^= m
    b = (len(msg) & 0xFF) << 56
    for j, c in enumerate(msg[n:]):
        b |= c << (8 * j)
    v3 ^= b; rnd(); rnd(); v0 ^= b
    v2 ^= 0xFF
    for _ in range(4):
        rnd()
    return v0 ^ v1 ^ v2 ^ v3


def forbidden(mac):
    """(label, bytes) a leak of mac could look like."""
    raw = bytes(int(x, 16) for x in mac.split(":"))
    h = raw.hex()
    forms = {
        "colon": ":".join(h[i:i + 2] for i in range(0, 12, 2)),
        "dash": "-".join(h[i:i + 2] for i in range(0, 12, 2)),
        "plain": h,
        "dotted": ".".join(h[i:i + 4] for i in range(0, 12, 4)),
    }
    out = [("raw bytes", raw)]
    for name, f in forms.items():
        out.append((name, f.encode()))
        out.append((name + " upper", f.upper().encode()))
    sip = siphash24(bytes(16), raw)
    trunc = (sip >> 32) & ~1 & 0xFFFFFFFF  # what the app keeps, unsalted
    for label, v, width in (("siphash", sip, 16), ("siphash hi32", trunc, 8)):
        out.append((label + " hex", ("%0*x" % (width, v)).encode()))
        out.append((label + " HEX", ("%0*X" % (width, v)).encode()))
        out.append((label + " dec", str(v).encode()))
    out.append(("siphash le", struct.pack("<Q", sip)))
    out.append(("siphash be", struct.pack(">Q", sip)))
    for algo in ("md5", "sha1", "sha256"):
        for label, data in [("raw", raw)] + [(n, f.encode()) for n, f in forms.items()] + \
                [(n + " upper", f.upper().encode()) for n, f in forms.items()]:
            d = hashlib.new(algo, data)
            out.append((f"{algo}({label}) hex", d.hexdigest().encode()))
            out.append((f"{algo}({label}) bin", d.digest()))
    return out


def scan(blobs):
    """[(where, mac, label)] of every forbidden pattern found in the (where, bytes) blobs."""
    hits = []
    for mac, _ in STATIONS:
        pats = forbidden(mac)
        for where, data in blobs:
            low = data.lower()
            for label, p in pats:
                if p in data or (p.isascii() and p.lower() in low and not label.endswith("bin")
                                 and label not in ("raw bytes", "siphash le", "siphash be")):
                    hits.append((where, mac, label))
    return hits


def files_under(d):
    for root, _, names in os.walk(d):
        for n in names:
            p = os.path.join(root, n)
            try:
                with open(p, "rb") as f:
                    yield p, f.read()
            except OSError:
                pass


def test_privacy_counts_and_salt_rotation():
    # the scanner and the hash are right: a known SipHash-2-4 vector, and a file that
    # holds each form is caught
    assert siphash24(bytes(range(16)), bytes(range(15))) == 0xA129CA6149BE45E5
    for mac, _ in STATIONS[:2]:
        for label, p in forbidden(mac):
            assert scan([("control", b"xx" + p + b"yy")]), (mac, label)
    assert not scan([("control", b'{"unique_devices":7,"probe_only":2}')])

    with tkfix.Stack("fw-privacy") as st, tempfile.TemporaryDirectory() as feed:
        st.start_broker()
        dev = "ap-priv-0001"
        pw = st.add_device("wifi_ap", dev)
        st.start_ingest()
        macs = os.path.join(feed, "macs.txt")  # outside the stack: it holds the MACs
        with open(macs, "w") as f:
            for i, (mac, assoc) in enumerate(STATIONS):
                m = mac if i % 2 else mac.upper().replace(":", "-")
                f.write("%s %s\n" % (m, "assoc" if assoc else "probe"))
        now = int(time.time())
        midnight = now - now % 86400 + 86400
        start = midnight - 300  # five simulated minutes before midnight
        sub = st.sub_start("takumi-ingest", st.secret("ingest"), "city/wifi_ap/%s/+" % dev,
                           count=1000, timeout=25)
        state = os.path.join(st.dir, "fw-" + dev)
        p = st.spawn("fw", [FW, "--port", st.mqtt_port, "--user", dev, "--password", pw,
                            "--id", dev, "--kind", "wifi_ap", "--state-dir", state,
                            "--macs", macs, "--time-scale", 60, "--utc-start-s", start,
                            "--interval-ms", 60000, "--count", 10, "--exit-when-drained",
                            "-v", "-v"])
        assert p.wait(60) == 0, st.log("fw")[-3000:]
        st.kill(sub.proc, signal.SIGTERM)
        sub.wait()
        log = st.log("fw")

        readings = []
        for topic, payload, _ in sub.messages:
            if topic.endswith("/reading"):
                doc = json.loads(payload)
                readings += doc if isinstance(doc, list) else [doc]
        readings.sort(key=lambda r: r["seq"])
        by_seq = {r["seq"]: r for r in readings}
        assert len(by_seq) == 10, sorted(by_seq)
        days = set()
        prev_ts = None
        for seq in sorted(by_seq):
            r = by_seq[seq]
            assert (r["unique_devices"], r["probe_only"], r["associated"]) == \
                (UNIQUE, PROBE_ONLY, ASSOC), r
            # time runs 60x faster here: a busy machine stretches a window by seconds
            assert 59 <= r["interval_s"] <= 75, r
            ts = r["ts"]
            t = time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) if isinstance(ts, str) \
                else ts / 1000
            days.add(ts[:10] if isinstance(ts, str) else int(ts // 86400000))
            if prev_ts is not None:
                assert 58 <= t - prev_ts <= 75, (prev_ts, t)
            prev_ts = t
        assert len(days) == 2, "readings on both sides of midnight: %r" % days

        # the store has them all, with the same counts
        c = st.db()
        rows = c.execute("""SELECT o.result FROM
            (SELECT ds_id, t_us, result FROM observations
             UNION ALL SELECT ds_id, t_us, result FROM obs_staging) o
            JOIN datastreams d ON d.id = o.ds_id JOIN things t ON t.id = d.thing_id
            JOIN observed_properties q ON q.id = d.observed_property_id
            WHERE t.device_id = ? AND q.name = 'unique_devices'""", (dev,)).fetchall()
        assert sorted(float(r[0]) for r in rows) == [UNIQUE] * 10, rows

        # salt rotation: one digest per day, counts unchanged
        lines = re.findall(r"wifi interval unique=(\d+) probe_only=(\d+) digest=([0-9a-f]{8}) "
                           r"salt_rotations=(\d+)", log)
        assert len(lines) == 10, log[-2000:]
        assert all((int(u), int(po)) == (UNIQUE, PROBE_ONLY) for u, po, _, _ in lines), lines
        digests = [d for _, _, d, _ in lines]
        changes = sum(1 for a, b in zip(digests, digests[1:]) if a != b)
        assert changes == 1 and len(set(digests)) == 2, digests
        assert int(lines[-1][3]) == 1, "exactly one rotation: %r" % lines[-1]

        # nothing of a MAC anywhere: payloads, the device's log, its storage, every file
        blobs = [("payload " + t, pl) for t, pl, _ in sub.messages]
        blobs += list(files_under(st.dir))
        assert any(w.endswith(dev + ".nv") for w, _ in blobs), "the storage file was scanned"
        assert any(w.endswith("fw.log") for w, _ in blobs)
        assert len(sub.messages) >= 11, "readings and status were scanned"
        hits = scan(blobs)
        assert not hits, hits[:10]


if __name__ == "__main__":
    sys.exit(tkfix.main([test_privacy_counts_and_salt_rotation]))
