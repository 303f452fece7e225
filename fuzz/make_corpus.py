#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, built from the example payloads the schema and parser
tests already keep (schemas/examples, tests/data/readings), in each target's input layout.

    make_corpus.py TOP OUT      writes OUT/<target>/<name> for every target
"""
import json
import os
import re
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


C_STRINGS = re.compile(r'((?:"(?:[^"\\\n]|\\.)*"\s*)+)')
PY_STRINGS = re.compile(r'"([^"\n]*(?: eq | gt | lt | ne |\$)[^"\n]*)"')


def c_strings(text):
    """Every C string literal (adjacent ones joined), unescaped."""
    out = []
    for m in C_STRINGS.finditer(text):
        parts = re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(1))
        s = "".join(parts)
        out.append(s.encode().decode("unicode_escape", "replace"))
    return out


def filters_and_queries(top, seeds):
    """$filter texts and query strings from the API's unit and integration tests."""
    texts = []
    for rel in ("api/tests/test_filter.c", "api/tests/test_query.c"):
        try:
            texts += c_strings(read(os.path.join(top, rel)).decode("utf-8", "replace"))
        except OSError:
            pass
    try:
        texts += PY_STRINGS.findall(read(os.path.join(top, "tests", "integration",
                                                      "test_api_query.py")).decode())
    except OSError:
        pass
    filters = sorted({t for t in texts if " " in t and not t.startswith("$") and len(t) < 400})
    for i, f in enumerate(filters):
        seeds["filter"]["t-%03d" % i] = bytes([i % 8]) + f.encode()
        seeds["query"]["f-%03d" % i] = bytes([i % 8]) + b"$filter=" + f.encode()
    queries = sorted({t for t in texts if t.startswith("$") or "($" in t})
    for i, q in enumerate(queries):
        seeds["query"]["t-%03d" % i] = bytes([i % 8]) + q.encode()
    for i, q in enumerate(["$top=5&$skip=10&$count=true&$select=id,name&$orderby=name desc",
                           "$expand=Datastreams($top=2;$select=name;$expand=Observations($top=1))",
                           "$expand=Datastreams/Observations&$resultFormat=dataArray",
                           "$count&$top=&$filter=result gt 1"]):
        seeds["query"]["hand-%d" % i] = bytes([i]) + q.encode()


def coap_seeds(top, seeds):
    """POST /r bodies (fuzz_coap.c layout) from the reading examples of each kind."""
    ex = os.path.join(top, "schemas", "examples")
    ids = ["wl-fz-0001", "pf-fz-0001", "wa-fz-0001"]
    for k, kind in enumerate(KINDS):
        for p in files(os.path.join(ex, "reading-" + kind, "valid"))[:8]:
            raw = read(p)
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            items = doc if isinstance(doc, list) else [doc]
            for it in items:
                if isinstance(it, dict) and "id" in it:
                    it["id"] = ids[k]
            body = json.dumps(doc).encode()
            name = "%s-%s" % (kind, os.path.basename(p))
            seeds["coap"][name] = bytes([1 | (k << 3)]) + body
            seeds["coap"][name + "-id"] = bytes([1 | 4]) + ids[k].encode() + b"\n" + body
            seeds["coap"][name + "-wm"] = bytes([0x20 | (k << 3)]) + b"\x05" + body
            seeds["coap"][name + "-cf0"] = bytes([2 | (k << 3)]) + body
            seeds["coap"][name + "-incomplete"] = bytes([0x40 | 1 | (k << 3)]) + body
    seeds["coap"]["other-id"] = bytes([1]) + json.dumps(
        {"v": 1, "id": "wl-other-01", "seq": 1, "ts": 1767225600000, "level_m": 1}).encode()
    seeds["coap"]["bad-identity"] = bytes([4]) + b"WL/../x\n{}"


def main():
    top, out = sys.argv[1], sys.argv[2]
    seeds = {t: {} for t in ("reading", "topic", "ack_status", "time", "config", "filter",
                             "query", "coap")}
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

    filters_and_queries(top, seeds)
    coap_seeds(top, seeds)

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
