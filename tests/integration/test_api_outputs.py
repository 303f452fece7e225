#!/usr/bin/python3
"""takumi-api outputs end to end: the real broker, ingest and a load publisher (tk-pub) fill
the store; curl, Python's csv module, ajv and mosquitto_pub check what the API gives out.

- $resultFormat=CSV of Things, Datastreams and Observations (with $filter, $select,
  $orderby, $top) parses with the csv module and equals the JSON answer, field by field
- CSV gzip (Content-Encoding, and the same rows), CSV of every Observation (thousands of
  rows, streamed: chunked, no Content-Length) equals the store's rows, the row limit
  (a larger result fails the transfer; $top above it is a 400), refusals
- $resultFormat=GeoJSON validates with ajv (schemas/geojson-things.schema.json), carries
  the Locations' geometry and the latest values, pages with @iot.nextLink
- Server-Sent Events with curl -N: a client gets the Observations published (with
  mosquitto_pub) after it connected, per Datastream and per kind; it resumes with
  Last-Event-ID without gaps or repeats (replayed from the store); alerts from
  city/alerts/+ resume inside the ring and get a gap event outside it; keep-alive comments;
  the client limit answers 503
- NGSI-v2: /v2/entities (type, id, limit/offset, options=keyValues and count,
  Fiware-Service), /v2/entities/{id} and /attrs equal the SensorThings latest values;
  NGSI error bodies
"""
import calendar
import csv
import gzip
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402

CURL = shutil.which("curl") or "/usr/bin/curl"
NODE = shutil.which("node") or "/usr/bin/node"
HERE = os.path.dirname(os.path.abspath(__file__))
GEO_SCHEMA = os.path.join(tkfix.TOP, "schemas", "geojson-things.schema.json")
T0 = calendar.timegm((2026, 11, 26, 15, 0, 0))
MOUNT = 3.2
FLEET = 2          # tk-pub devices
FLEET_COUNT = 2500  # readings each
ROWS_MAX = 100     # --export-rows-max of the second API

S = None
BASE = None
BASE_CUT = None
PW = {}


# ---- HTTP with curl ---------------------------------------------------------------------

class Reply:
    def __init__(self, status, headers, body, rc):
        self.status, self.headers, self.body, self.rc = status, headers, body, rc

    def json(self):
        return json.loads(self.body)


def curl(url, params=None, headers=(), timeout=60):
    with tempfile.TemporaryDirectory() as d:
        hdr, body = os.path.join(d, "h"), os.path.join(d, "b")
        argv = [CURL, "-sS", "-g", "-D", hdr, "-o", body, "-w", "%{http_code}",
                "--max-time", str(timeout)]
        for h in headers:
            argv += ["-H", h]
        if params:
            argv.append("-G")
            for k, v in params:
                argv += ["--data-urlencode", "%s=%s" % (k, v)]
        argv.append(url)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10)
        hs = {}
        if os.path.exists(hdr):
            with open(hdr, errors="replace") as f:
                for line in f:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        hs[k.strip().lower()] = v.strip()
        data = b""
        if os.path.exists(body):
            with open(body, "rb") as f:
                data = f.read()
    return Reply(int(r.stdout or 0), hs, data, r.returncode)


def get_json(path, params=None, status=200, base=None, headers=()):
    r = curl((base or BASE) + path, params, headers)
    assert r.rc == 0, (path, r.rc)
    assert r.status == status, "%s %s: %d %s" % (path, params, r.status, r.body[:400])
    return r.json()


def all_pages(path, params=None):
    doc = get_json(path, params)
    out = list(doc["value"])
    while "@iot.nextLink" in doc:
        r = curl(doc["@iot.nextLink"])
        assert r.status == 200, r.body[:300]
        doc = r.json()
        out += doc["value"]
    return out


def get_csv(path, params, base=None, headers=()):
    r = curl((base or BASE) + path, list(params) + [("$resultFormat", "CSV")], headers)
    assert r.rc == 0 and r.status == 200, (path, params, r.rc, r.status, r.body[:400])
    assert r.headers.get("content-type", "").startswith("text/csv"), r.headers
    return r


def parse_csv(data):
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows, "an empty CSV body"
    return rows[0], rows[1:]


# ---- the stack -------------------------------------------------------------------------------

def reading(dev, seq, ts, **fields):
    r = {"v": 1, "id": dev, "seq": seq, "ts": ts * 1000}
    r.update(fields)
    return json.dumps(r)


def wl(seq):
    """Reading seq of wl-out-1: level seq / 100 m."""
    S.pub("wl-out-1", PW["wl-out-1"], "city/water_level/wl-out-1/reading",
          reading("wl-out-1", seq, T0 + 60 * seq, distance_mm=round((MOUNT - seq / 100) * 1000),
                  battery_v=3.6))


def count_obs():
    return S.sql_value("SELECT (SELECT count(*) FROM observations)"
                       " + (SELECT count(*) FROM obs_staging)", "SELECT count(*) FROM observations")


def stack():
    global S, BASE, BASE_CUT
    if S is not None:
        return S
    S = tkfix.Stack("outputs")
    S.start_broker()
    PW["wl-out-1"] = S.add_device("water_level", "wl-out-1", lat=34.39, lon=132.45,
                                  mount_height_m=MOUNT)
    PW["pf-out-1"] = S.add_device("people_flow", "pf-out-1", lat=34.38, lon=132.44)
    for i in range(FLEET):
        S.admin("device", "add", "--kind", "water_level", "--id", "lg-%05d" % i, "--lat", "34.4",
                "--lon", "132.5")
    gw = S.add_gateway("out-gw")
    S.start_ingest()
    r = subprocess.run([os.path.join(tkfix.BIN, "tests", "tk-pub"), "--port", str(S.mqtt_port),
                        "--user", "out-gw", "--password", gw, "--prefix", "lg", "--devices",
                        str(FLEET), "--count", str(FLEET_COUNT), "--timeout-s", "120"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    for seq in range(1, 4):
        wl(seq)
    S.pub("pf-out-1", PW["pf-out-1"], "city/people_flow/pf-out-1/reading",
          reading("pf-out-1", 1, T0, interval_s=900, **{"in": 7, "out": 3}))
    tkfix.wait_for(lambda: count_obs() >= FLEET * FLEET_COUNT + 3 * 2 + 2, 60,
                   "the readings to be stored")
    _, BASE = S.start_api("--page-max", 50, "--threads", 2, "--log-level", 3,
                          "--sse-keepalive-s", 1, "--sse-max", 3)
    _, BASE_CUT = S.start_api("--export-rows-max", ROWS_MAX, name="api-cut")
    return S


def thing(name):
    v = get_json("/v1.1/Things", [("$filter", "name eq '%s'" % name),
                                  ("$expand", "Locations,Datastreams($expand=ObservedProperty)")])
    assert len(v["value"]) == 1, v
    return v["value"][0]


def ds_of(name, prop):
    for d in thing(name)["Datastreams"]:
        if d["ObservedProperty"]["name"] == prop:
            return d["@iot.id"]
    raise AssertionError("no %s Datastream on %s" % (prop, name))


# ---- CSV -------------------------------------------------------------------------------------

def cell(v):
    """A JSON value as the CSV has it."""
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        return v  # compared after json.loads
    return str(v)


def same(csv_value, json_value, col):
    if isinstance(json_value, (dict, list)):
        assert json.loads(csv_value) == json_value, (col, csv_value, json_value)
    elif isinstance(json_value, float) or col == "result":
        assert abs(float(csv_value) - json_value) < 1e-9, (col, csv_value, json_value)
    else:
        assert csv_value == cell(json_value), (col, csv_value, json_value)


def check_csv_equals_json(path, params, json_path=None, extra_cols=()):
    header, rows = parse_csv(get_csv(path, params).body)
    want = all_pages(json_path or path, params)
    assert len(rows) == len(want), (path, params, len(rows), len(want))
    for row, ent in zip(rows, want):
        assert len(row) == len(header), (row, header)
        for col, val in zip(header, row):
            if col in extra_cols:
                continue
            same(val, ent[col], col)
    return header, rows, want


def test_csv_things_datastreams_observations():
    stack()
    h, rows, want = check_csv_equals_json("/v1.1/Things", [("$orderby", "name desc")])
    assert h == ["@iot.id", "name", "description", "properties"], h
    assert [r[1] for r in rows] == sorted((t["name"] for t in want), reverse=True)
    assert any('"' in r[3] for r in rows), "properties (JSON with quotes) went through quoting"
    h, rows, _ = check_csv_equals_json(
        "/v1.1/Datastreams", [("$select", "id,name,unitOfMeasurement"),
                              ("$filter", "endswith(name, 'water_level')"), ("$orderby", "id desc"),
                              ("$top", "3")])
    assert h == ["@iot.id", "name", "unitOfMeasurement"] and len(rows) == 3, (h, rows)
    ds = ds_of("wl-out-1", "water_level")
    path = "/v1.1/Datastreams(%d)/Observations" % ds
    h, rows, want = check_csv_equals_json(path, [("$filter", "result gt 0.015"),
                                                 ("$orderby", "result desc")],
                                          extra_cols=("Datastream@iot.id",))
    assert h == ["@iot.id", "phenomenonTime", "resultTime", "result", "parameters",
                 "Datastream@iot.id"], h
    assert [round(float(r[3]), 6) for r in rows] == [0.03, 0.02], rows
    assert all(int(r[5]) == ds for r in rows), rows
    h, rows, _ = check_csv_equals_json("/v1.1/Observations",
                                       [("$filter", "Datastream/Thing/name eq 'wl-out-1'"),
                                        ("$select", "result,id"), ("$orderby", "phenomenonTime,id")])
    assert h == ["result", "@iot.id"] and len(rows) == 6, (h, rows)


def test_csv_gzip_and_large():
    stack()
    plain = get_csv("/v1.1/Observations", [])
    assert "content-length" not in plain.headers and \
        plain.headers.get("transfer-encoding", "").lower() == "chunked", plain.headers
    header, rows = parse_csv(plain.body)
    total = get_json("/v1.1/Observations", [("$count", "true"), ("$top", "1")])["@iot.count"]
    assert len(rows) == total and total >= FLEET * FLEET_COUNT, (len(rows), total)
    ids = sorted(r[0] for r in S.sql_rows("SELECT id FROM observations UNION ALL"
                                          " SELECT id FROM obs_staging", "SELECT id FROM observations"))
    assert [int(r[0]) for r in rows] == ids, "every stored Observation once, by @iot.id"
    assert len(plain.body) > 8 * 32768, "large enough to take many chunks"
    z = curl(BASE + "/v1.1/Observations?$resultFormat=CSV", headers=["Accept-Encoding: gzip"])
    assert z.rc == 0 and z.status == 200, (z.rc, z.status)
    assert z.headers.get("content-encoding") == "gzip", z.headers
    assert gzip.decompress(z.body) == plain.body
    assert len(z.body) < len(plain.body) / 3, (len(z.body), len(plain.body))
    # small gzip answers too (header only, no rows)
    z = curl(BASE + "/v1.1/Things?$resultFormat=CSV&$filter=name%20eq%20'none'",
             headers=["Accept-Encoding: gzip"])
    assert z.status == 200 and gzip.decompress(z.body) == b"@iot.id,name,description,properties\r\n"


def test_csv_limit_and_refusals():
    stack()
    r = curl(BASE_CUT + "/v1.1/Observations?$resultFormat=CSV")
    assert r.status == 200 and r.rc != 0, "a result over the row limit fails the transfer"
    assert r.headers.get("takumi-export-rows-max") == str(ROWS_MAX), r.headers
    assert "cut at %d rows" % ROWS_MAX in S.log("api-cut")
    header, rows = parse_csv(get_csv("/v1.1/Observations", [("$top", ROWS_MAX)], base=BASE_CUT).body)
    assert len(rows) == ROWS_MAX
    r = curl(BASE_CUT + "/v1.1/Observations?$resultFormat=CSV&$top=%d" % (ROWS_MAX + 1))
    assert r.status == 400 and r.json()["field"] == "$top", r.body
    for path, field in [("/v1.1/Things?$resultFormat=CSV&$expand=Datastreams", "$resultFormat"),
                        ("/v1.1/Things(1)?$resultFormat=CSV", "$resultFormat"),
                        ("/v1.1/Things?$resultFormat=XML", "$resultFormat"),
                        ("/v1.1/Datastreams?$resultFormat=GeoJSON", "$resultFormat"),
                        ("/v1.1/Things?$resultFormat=CSV&$select=Datastreams", "$select")]:
        r = curl(BASE + path)
        assert r.status == 400 and r.headers["content-type"].startswith("application/json"), \
            (path, r.status, r.body)
        assert r.json()["field"] == field, (path, r.body)


# ---- GeoJSON ------------------------------------------------------------------------------------

def validate(doc):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(doc, f)
        name = f.name
    try:
        return subprocess.run([NODE, os.path.join(HERE, "validate_json.mjs"), GEO_SCHEMA, name],
                              capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(name)


def test_geojson():
    stack()
    r = curl(BASE + "/v1.1/Things?$resultFormat=GeoJSON")
    assert r.status == 200 and r.headers["content-type"] == "application/geo+json", r.headers
    doc = r.json()
    v = validate(doc)
    assert v.returncode == 0, v.stdout + v.stderr
    things = all_pages("/v1.1/Things")
    assert sorted(f["id"] for f in doc["features"]) == sorted(t["@iot.id"] for t in things)
    t = thing("wl-out-1")
    f = next(f for f in doc["features"] if f["id"] == t["@iot.id"])
    loc = t["Locations"][0]["location"]
    assert f["geometry"] == (loc.get("geometry") if loc.get("type") == "Feature" else loc), (f, loc)
    assert f["properties"]["name"] == "wl-out-1" and f["properties"]["properties"] == t["properties"]
    dss = {d["observedProperty"]: d for d in f["properties"]["Datastreams"]}
    latest = get_json("/v1.1/Datastreams/latest", [("ids", str(dss["water_level"]["@iot.id"]))])
    assert dss["water_level"]["result"] == latest["value"][0]["result"], (dss, latest)
    assert dss["water_level"]["Observation@iot.id"] == latest["value"][0]["Observation@iot.id"]
    assert dss["water_level"]["unitOfMeasurement"]["symbol"] == "m", dss
    # paging, with a filter
    r = curl(BASE + "/v1.1/Things?$resultFormat=GeoJSON&$top=2&$filter=startswith(name,'lg-')"
             "%20or%20name%20eq%20'wl-out-1'")
    page = r.json()
    assert len(page["features"]) == 2 and "@iot.nextLink" in page, page
    rest = curl(page["@iot.nextLink"]).json()
    assert len(rest["features"]) == 1 and "@iot.nextLink" not in rest, rest
    assert validate(page).returncode == 0 and validate(rest).returncode == 0
    # the validator can fail
    f["geometry"]["coordinates"] = "here"
    assert validate(doc).returncode == 1


# ---- Server-Sent Events -----------------------------------------------------------------------

class Stream:
    """curl -N on an event stream; events parsed as they arrive."""

    def __init__(self, path, last_id=None):
        argv = [CURL, "-sN", "--max-time", "120", "-H", "Accept: text/event-stream"]
        if last_id is not None:
            argv += ["-H", "Last-Event-ID: %s" % last_id]
        self.p = subprocess.Popen(argv + [BASE + path], stdout=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, preexec_fn=tkfix._preexec())
        self.q = queue.Queue()
        self.comments = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        ev = {}
        for raw in self.p.stdout:
            line = raw.decode("utf-8").rstrip("\r\n")
            if not line:
                if ev:
                    self.q.put(ev)
                ev = {}
            elif line.startswith(":"):
                self.comments.append(line)
                self.q.put({"comment": line})
            else:
                k, _, v = line.partition(":")
                ev[k] = v[1:] if v.startswith(" ") else v
        self.q.put(None)

    def next(self, timeout=20, skip_comments=True):
        end = time.monotonic() + timeout
        while True:
            try:
                e = self.q.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError("no event within %s s" % timeout)
            if e is None:
                raise AssertionError("the stream ended")
            if ("comment" in e and skip_comments) or set(e) == {"retry"}:
                continue
            return e

    def wait_open(self):
        e = self.next(skip_comments=False)
        assert e.get("comment", "").startswith(": takumi event stream"), e

    def close(self):
        if self.p.poll() is None:
            self.p.terminate()
        self.p.wait(10)


def open_when_admitted(path, timeout=20):
    """A stream, retried while the client limit turns it away."""
    end = time.monotonic() + timeout
    while True:
        s = Stream(path)
        try:
            e = s.q.get(timeout=20)
        except queue.Empty:
            e = None
        if e is not None and e.get("comment", "").startswith(": takumi event stream"):
            return s
        s.close()
        assert time.monotonic() < end, "no stream admitted within %d s" % timeout
        time.sleep(0.2)


def obs_ids(ds):
    return sorted(o["@iot.id"] for o in all_pages("/v1.1/Datastreams(%d)/Observations" % ds))


def test_sse_live_and_resume():
    stack()
    ds = ds_of("wl-out-1", "water_level")
    before = obs_ids(ds)
    s = Stream("/v1.1/Datastreams(%d)/Observations/stream" % ds)
    k = Stream("/v1.1/Observations/stream?kind=water_level")
    try:
        s.wait_open()
        k.wait_open()
        wl(4)
        wl(5)
        got = [s.next(), s.next()]
        assert [e["event"] for e in got] == ["observation"] * 2, got
        data = [json.loads(e["data"]) for e in got]
        assert [round(d["result"], 6) for d in data] == [0.04, 0.05], data
        assert all(d["Datastream@iot.id"] == ds for d in data)
        assert [int(e["id"]) for e in got] == [d["@iot.id"] for d in data]
        assert obs_ids(ds) == before + [d["@iot.id"] for d in data], "the ids the store has"
        kd = [json.loads(k.next()["data"]) for _ in range(2)]
        assert [round(d["result"], 6) for d in kd] == [0.04, 0.05], "only water_level, not battery"
        # idle: keep-alive comments (--sse-keepalive-s 1)
        n = len(s.comments)
        tkfix.wait_for(lambda: len(s.comments) >= n + 2, 10, "keep-alive comments")
        assert all(c == ": keep-alive" for c in s.comments[n:n + 2]), s.comments
        last = got[-1]["id"]
    finally:
        s.close()
        k.close()
    # missed while away: replayed from the store, then live again
    for seq in (6, 7, 8):
        wl(seq)
    tkfix.wait_for(lambda: len(obs_ids(ds)) == len(before) + 5, 20, "6..8 stored")
    s = Stream("/v1.1/Datastreams(%d)/Observations/stream" % ds, last_id=last)
    try:
        s.wait_open()
        replayed = [s.next() for _ in range(3)]
        wl(9)
        live = s.next()
        ids = [int(e["id"]) for e in replayed + [live]]
        assert ids == [i for i in obs_ids(ds) if i > int(last)], (ids, obs_ids(ds))
        assert [round(json.loads(e["data"])["result"], 6) for e in replayed + [live]] == \
            [0.06, 0.07, 0.08, 0.09]
    finally:
        s.close()
    # the stream of a kind resumes the same way (battery Observations are not in it)
    k = Stream("/v1.1/Observations/stream?kind=water_level", last_id=last)
    try:
        k.wait_open()
        got = [json.loads(k.next()["data"]) for _ in range(4)]
        assert [round(d["result"], 6) for d in got] == [0.06, 0.07, 0.08, 0.09], got
        assert all(d["Datastream@iot.id"] == ds for d in got), got
    finally:
        k.close()
    # a missing Datastream, a bad Last-Event-ID, a bad kind
    r = curl(BASE + "/v1.1/Datastreams(999999)/Observations/stream", timeout=5)
    assert r.status == 404 and r.json()["code"] == "ENOTFOUND", r.body
    r = curl(BASE + "/v1.1/Datastreams(%d)/Observations/stream" % ds, headers=["Last-Event-ID: x"],
             timeout=5)
    assert r.status == 400 and r.json()["field"] == "Last-Event-ID", r.body
    r = curl(BASE + "/v1.1/Observations/stream", timeout=5)
    assert r.status == 400 and r.json()["field"] == "kind", r.body


def test_sse_alerts_and_limit():
    stack()
    a = Stream("/alerts/stream")
    try:
        a.wait_open()
        S.pub("takumi-ingest", S.secret("ingest"), "city/alerts/wl-out-1",
              '{"level":"warning","device":"wl-out-1"}')
        e1 = a.next()
        assert e1["event"] == "alert", e1
        d = json.loads(e1["data"])
        assert d == {"topic": "city/alerts/wl-out-1",
                     "alert": {"level": "warning", "device": "wl-out-1"}}, d
        # the limit (--sse-max 3): two more fit, the fourth is refused
        # (the clients of the test before end when their next keep-alive finds them gone)
        b, c = open_when_admitted("/alerts/stream"), open_when_admitted("/alerts/stream")
        r = curl(BASE + "/alerts/stream", timeout=5)
        assert r.status == 503 and r.json()["code"] == "EBUSY", (r.status, r.body)
        b.close()
        c.close()
    finally:
        a.close()
    S.pub("takumi-ingest", S.secret("ingest"), "city/alerts/wl-out-1", "not json: kept as text")
    S.pub("takumi-ingest", S.secret("ingest"), "city/alerts/pf-out-1", '{"level":"info"}')
    a = Stream("/alerts/stream", last_id=e1["id"])
    try:
        a.wait_open()
        e2, e3 = a.next(), a.next()
        assert json.loads(e2["data"])["alert"] == "not json: kept as text", e2
        assert json.loads(e3["data"])["topic"] == "city/alerts/pf-out-1", e3
        assert int(e1["id"]) < int(e2["id"]) < int(e3["id"])
    finally:
        a.close()
    a = Stream("/alerts/stream", last_id=1)  # from before the ring
    try:
        a.wait_open()
        g = a.next()
        assert g["event"] == "gap" and "no longer kept" in json.loads(g["data"])["message"], g
    finally:
        a.close()


# ---- NGSI-v2 -------------------------------------------------------------------------------------

def ngsi(path, params=None, status=200, headers=()):
    r = curl(BASE + path, params, headers)
    assert r.status == status, (path, params, r.status, r.body[:400])
    return r


def test_ngsi():
    stack()
    t = thing("wl-out-1")
    ds = ds_of("wl-out-1", "water_level")
    latest = get_json("/v1.1/Datastreams/latest", [("ids", str(ds))])["value"][0]
    r = ngsi("/v2/entities", [("id", "wl-out-1")], headers=["Fiware-Service: takumi",
                                                            "Fiware-ServicePath: /"])
    ents = r.json()
    assert len(ents) == 1, ents
    e = ents[0]
    assert e["id"] == "wl-out-1" and e["type"] == "water_level", e
    assert e["water_level"]["type"] == "Number" and e["water_level"]["value"] == latest["result"]
    md = e["water_level"]["metadata"]
    assert md["dateObserved"] == {"type": "DateTime", "value": latest["phenomenonTime"]}, md
    assert md["unitOfMeasurement"]["value"]["symbol"] == "m", md
    assert md["datastream"]["value"].endswith("/v1.1/Datastreams(%d)" % ds), md
    loc = t["Locations"][0]["location"]
    assert e["location"] == {"type": "geo:json", "metadata": {},
                             "value": loc.get("geometry") if loc.get("type") == "Feature" else loc}
    assert e["battery_voltage"]["value"] == 3.6, e
    one = ngsi("/v2/entities/wl-out-1").json()
    assert one == e, (one, e)
    kv = ngsi("/v2/entities/wl-out-1", [("options", "keyValues")]).json()
    assert kv["water_level"] == latest["result"] and kv["id"] == "wl-out-1", kv
    attrs = ngsi("/v2/entities/wl-out-1/attrs", [("attrs", "water_level")]).json()
    assert list(attrs) == ["water_level"] and attrs["water_level"] == e["water_level"], attrs
    # type, count, limit and offset
    r = ngsi("/v2/entities", [("type", "water_level"), ("options", "count,keyValues"),
                              ("limit", "2")])
    assert r.headers["fiware-total-count"] == str(1 + FLEET), r.headers
    page1 = r.json()
    page2 = ngsi("/v2/entities", [("type", "water_level"), ("options", "keyValues"),
                                  ("limit", "2"), ("offset", "2")]).json()
    names = [x["id"] for x in page1 + page2]
    assert sorted(names) == sorted(["wl-out-1"] + ["lg-%05d" % i for i in range(FLEET)]), names
    pf = ngsi("/v2/entities", [("type", "people_flow"), ("options", "keyValues")]).json()
    # 7 in and 3 out are under the privacy threshold: withheld from anonymous callers
    assert [x["id"] for x in pf] == ["pf-out-1"] and pf[0]["people_in"] is None, pf
    _, raw = S.add_apikey("research", "read:raw")
    pf = ngsi("/v2/entities", [("type", "people_flow"), ("options", "keyValues")],
              headers=["X-API-Key: " + raw]).json()
    assert pf[0]["people_in"] == 7 and pf[0]["people_out"] == 3, pf
    bare = ngsi("/v2/entities", [("id", "wl-out-1,pf-out-1"), ("attrs", "none")]).json()
    assert sorted(bare, key=lambda x: x["id"]) == \
        [{"id": "pf-out-1", "type": "people_flow"}, {"id": "wl-out-1", "type": "water_level"}], bare
    # errors, in NGSI's shape
    for path, params, status, error, headers in [
            ("/v2/entities/nobody", None, 404, "NotFound", ()),
            ("/v2/entities/wl-out-1", [("type", "people_flow")], 404, "NotFound", ()),
            ("/v2/entities", [("limit", "1001")], 400, "BadRequest", ()),
            ("/v2/entities", [("options", "sysAttrs")], 400, "BadRequest", ()),
            ("/v2/entities", [("q", "x>1")], 400, "BadRequest", ()),
            ("/v2/entities", None, 400, "BadRequest", ("Fiware-Service: bad-tenant!",)),
            ("/v2/subscriptions", None, 404, "NotFound", ())]:
        b = ngsi(path, params, status, headers).json()
        assert b["error"] == error and b["description"], (path, b)
    r = subprocess.run([CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                        "-H", "Content-Type: application/json", "-d", "{}",
                        BASE + "/v2/entities"], capture_output=True, text=True, timeout=20)
    assert r.stdout == "405", r.stdout


def test_openapi():
    stack()
    doc = get_json("/openapi.json")
    assert doc["openapi"].startswith("3."), doc
    for path in ["/v1.1/Things", "/v1.1/Observations", "/v1.1/Datastreams",
                 "/v1.1/Datastreams({id})/Observations/stream", "/v1.1/Observations/stream",
                 "/alerts/stream", "/v2/entities", "/v2/entities/{entityId}",
                 "/v2/entities/{entityId}/attrs"]:
        assert path in doc["paths"], (path, list(doc["paths"]))
    params = doc["paths"]["/v1.1/Things"]["get"]["parameters"]
    assert next(p for p in params if p["name"] == "$resultFormat")["schema"]["enum"] == \
        ["CSV", "GeoJSON"], params

    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)
    for ref in refs(doc):
        target = doc
        for part in ref.lstrip("#/").split("/"):
            assert part in target, "unresolved " + ref
            target = target[part]
    for path, item in doc["paths"].items():
        for op in item.values():
            assert "200" in op["responses"], (path, op)
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(x.strip("{}") for x in path.split("/") if "{" in x) or \
                declared == {"id"}, (path, declared)


def test_api_log_clean():
    stack()
    for name in ("api", "api-cut"):
        log = S.log(name)
        for bad in ("Sanitizer", "runtime error"):
            assert bad not in log, (name, bad, log[-3000:])


if __name__ == "__main__":
    sys.exit(tkfix.main([test_csv_things_datastreams_observations, test_csv_gzip_and_large,
                         test_csv_limit_and_refusals, test_geojson, test_sse_live_and_resume,
                         test_sse_alerts_and_limit, test_ngsi, test_openapi, test_api_log_clean]))
