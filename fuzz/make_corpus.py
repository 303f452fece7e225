#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, built from the example payloads the schema and parser
tests already keep (schemas/examples, tests/data/readings), in each target's input layout.

    make_corpus.py TOP OUT      writes OUT/<target>/<name> for every target
"""
import json
import os
import sys

KINDS = ["water_level", "people_flow", "wifi_ap"]


def files(d):
    if not os.path.isdir(d):
        return []
    return [os.path.join(d, f) for f in sorted(os.listdir(d)) if not f.startswith((".", "_"))]


def read(p):
    with open(p, "rb") as f:
        return f.read()


def timestamps(value, found):
    """Every "ts" and "received_at" string in a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("ts", "received_at") and isinstance(v, str):
                found.add(v)
            timestamps(v, found)
    elif isinstance(value, list):
        for v in value:
            timestamps(v, found)


def main():
    top, out = sys.argv[1], sys.argv[2]
    seeds = {t: {} for t in ("reading", "topic", "ack_status", "time", "config")}
    ex = os.path.join(top, "schemas", "examples")
    ts = set()

    def note_ts(raw):
        try:
            timestamps(json.loads(raw), ts)
        except ValueError:
            pass

    # readings: byte 0 = kind (+4 when a topic id line follows), see fuzz_reading.c
    for k, kind in enumerate(KINDS):
        for verdict in ("valid", "invalid"):
            for p in files(os.path.join(ex, "reading-" + kind, verdict)):
                raw = read(p)
                name = "%s-%s-%s" % (kind, verdict, os.path.basename(p))
                seeds["reading"][name] = bytes([k]) + raw
                note_ts(raw)
                try:
                    first = json.loads(raw)
                    first = first[0] if isinstance(first, list) and first else first
                    dev = first.get("id") if isinstance(first, dict) else None
                except ValueError:
                    dev = None
                if isinstance(dev, str):
                    seeds["reading"][name + "-topic"] = bytes([k | 4 | 8 * 3]) + \
                        dev.encode() + b"\n" + raw
    cases = os.path.join(top, "tests", "data", "readings")
    for d in files(cases):
        tp, ip = os.path.join(d, "topic"), os.path.join(d, "input.json")
        if not (os.path.isfile(tp) and os.path.isfile(ip)):
            continue
        topic = read(tp).strip()
        raw = read(ip)
        note_ts(raw)
        seeds["topic"]["case-" + os.path.basename(d)] = topic
        parts = topic.decode(errors="replace").split("/")
        if len(parts) == 4 and parts[1] in KINDS:
            k = KINDS.index(parts[1])
            seeds["reading"]["case-" + os.path.basename(d)] = \
                bytes([k | 4 | 8 * 15]) + parts[2].encode() + b"\n" + raw
    for i, t in enumerate(["city/water_level/wl-0001/reading", "city/people_flow/pf-01/status",
                           "city/wifi_ap/wa-abc/ack", "city/water_level/wl-0001/config",
                           "city/alerts/a-1", "city/water_level/WL/reading",
                           "city/water_level/wl-0001/reading/extra", "city//x/reading"]):
        seeds["topic"]["hand-%d" % i] = t.encode()

    # ack (byte 0 even) and status (byte 0 odd)
    for sel, schema in ((0, "ack"), (1, "status")):
        for verdict in ("valid", "invalid"):
            for p in files(os.path.join(ex, schema, verdict)):
                seeds["ack_status"]["%s-%s-%s" % (schema, verdict, os.path.basename(p))] = \
                    bytes([sel]) + read(p)
    for p in files(os.path.join(ex, "quarantine", "valid")):
        note_ts(read(p))

    ts.update(["2026-11-26T09:00:00.123+09:00", "1970-01-01T00:00:00Z",
               "9999-12-31T23:59:59.999999-23:59", "2024-02-29T12:00:00.1234567Z",
               "2026-02-30T00:00:00Z", "2026-11-26T24:00:00Z", "2026-11-26t09:00:00z"])
    for i, t in enumerate(sorted(ts)):
        seeds["time"]["ts-%03d" % i] = t.encode()

    # config files (text before NUL) and flags (lines after it), see fuzz_config.c
    seeds["config"]["file-all"] = (b"# every type\nhost 10.0.0.1\ndata \"/var/lib/takumi\"\n"
                                   b"port 8883\ncount -12\nratio 1e-3\nflag yes\nverbose off\n")
    seeds["config"]["file-bad"] = b"port 70000\n"
    seeds["config"]["file-unknown"] = b"  nosuch  1  \n"
    seeds["config"]["flags"] = (b"port 1\n\x00--port=2\n--flag\n--host\nexample\n"
                                b"--ratio=0x1p3\n--config=/nonexistent")
    seeds["config"]["flags-env-like"] = b"\x00--count\n9223372036854775807\n--verbose=on"
    seeds["config"]["help"] = b"\x00--help"

    for target, items in seeds.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in items.items():
            path = os.path.join(d, name)
            try:
                if read(path) == data:
                    continue
            except OSError:
                pass
            with open(path, "wb") as f:
                f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
