#!/usr/bin/python3
"""takumi-api end to end: the real broker and ingest (tkfix), devices provisioned with
takumi-admin, readings published with mosquitto_pub, and every SensorThings endpoint of
takumi-api checked with the real curl.

- service root: the eight entity sets with URLs, serverSettings.conformance
- every entity set: mandatory properties, @iot.id, @iot.selfLink, navigation links
- /Set(id), /Set(id)/property, /property/$value, navigation one and two levels deep, $ref
- paging: the server's page limit, @iot.nextLink only when more exist (followed with curl
  until the end), $top, $skip, $count; Observations newest first under a Datastream
- $select, $orderby, $expand (one level and nested options)
- errors: 404 and 400 with a JSON body naming the problem, 401 for anonymous writes, 405 for other methods, 400 for a malformed $filter
  (filters themselves: test_api_query.py)
- gzip when asked (curl --compressed), plain otherwise
"""
import calendar
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402

CURL = shutil.which("curl") or "/usr/bin/curl"
PAGE = 5
T0 = calendar.timegm((2026, 11, 26, 15, 0, 0))
MOUNT = 3.2
N_WL = 12  # water-level readings of wl-api-1: more than two pages

API = os.path.join(tkfix.BIN, "api", "takumi-api")  # takumi-api, for tests that start their own
S = None  # the one stack every test uses (see stack())
BASE = None
RAW_KEY = None  # a read:raw key: sees counts under 10 that anonymous callers do not


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body)


def curl(path, params=None, extra=(), full_url=None):
    """GET with curl; params are sent URL-encoded with -G --data-urlencode."""
    url = full_url or BASE + path
    with tempfile.TemporaryDirectory() as d:
        hdr, body = os.path.join(d, "h"), os.path.join(d, "b")
        argv = [CURL, "-sS", "-g", "-D", hdr, "-o", body, "-w", "%{http_code}", "--max-time", "20"]
        argv += list(extra)
        if params:
            argv.append("-G")
            for k, v in params:
                argv += ["--data-urlencode", "%s=%s" % (k, v)]
        argv.append(url)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, "curl %s failed: %s" % (url, r.stderr)
        headers = {}
        with open(hdr, errors="replace") as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
        data = b""
        if os.path.exists(body):  # curl writes no file for an empty body (HEAD, 304)
            with open(body, "rb") as f:
                data = f.read()
    return Reply(int(r.stdout), headers, data)


def get(path, params=None, status=200, **kw):
    r = curl(path, params, **kw)
    assert r.status == status, "%s %s: %d %s" % (path, params, r.status, r.body[:500])
    if status == 200:
        assert r.headers.get("content-type", "").startswith("application/json"), r.headers
        return r.json()
    return r


def reading(dev, seq, ts_ms, **fields):
    r = {"v": 1, "id": dev, "seq": seq, "ts": ts_ms}
    r.update(fields)
    return json.dumps(r)


def stack():
    """Broker, ingest, three devices with readings, then takumi-api on a free port."""
    global S, BASE, RAW_KEY
    if S is not None:
        return S
    S = tkfix.Stack("api")  # on PostgreSQL under tests/pg/pgserver.py (TK_TEST_PG_URI)
    S.start_broker()
    RAW_KEY = S.add_apikey("api tests", "read:raw")[1]
    pw1 = S.add_device("water_level", "wl-api-1", lat=34.39, lon=132.45, mount_height_m=MOUNT)
    S.add_device("water_level", "wl-api-2", lat=34.40, lon=132.46)
    pwf = S.add_device("people_flow", "pf-api-1", lat=34.38, lon=132.44)
    S.start_ingest()
    for i in range(1, N_WL + 1):  # level = MOUNT - distance = i / 10 m
        S.pub("wl-api-1", pw1, "city/water_level/wl-api-1/reading",
              reading("wl-api-1", i, (T0 + 60 * i) * 1000, distance_mm=round((MOUNT - i / 10) * 1000),
                      battery_v=3.6))
    S.pub("pf-api-1", pwf, "city/people_flow/pf-api-1/reading",
          reading("pf-api-1", 1, T0 * 1000, interval_s=900, **{"in": 7, "out": 3}))

    def stored():
        return S.sql_value("SELECT (SELECT count(*) FROM observations)"
                           " + (SELECT count(*) FROM obs_staging)",
                           "SELECT count(*) FROM observations") >= 2 * N_WL + 2
    tkfix.wait_for(stored, 20, "the readings to be stored")

    _, BASE = S.start_api("--page-max", PAGE, "--threads", 2, "--log-level", 3)
    return S


def thing_id(name):
    for t in get("/v1.1/Things", [("$top", "100")])["value"]:
        if t["name"] == name:
            return t["@iot.id"]
    raise AssertionError("no Thing named " + name)


def datastream_of(thing, quantity):
    for d in get("/v1.1/Things(%d)/Datastreams" % thing)["value"]:
        if d["name"].endswith(" " + quantity):
            return d
    raise AssertionError("no %s Datastream on Things(%d)" % (quantity, thing))


NAVS = {
    "Things": ["Locations", "HistoricalLocations", "Datastreams"],
    "Locations": ["Things", "HistoricalLocations"],
    "HistoricalLocations": ["Thing", "Locations"],
    "Datastreams": ["Thing", "Sensor", "ObservedProperty", "Observations"],
    "Sensors": ["Datastreams"],
    "ObservedProperties": ["Datastreams"],
    "Observations": ["Datastream", "FeatureOfInterest"],
    "FeaturesOfInterest": ["Observations"],
}
MANDATORY = {
    "Things": ["name", "description"],
    "Locations": ["name", "description", "encodingType", "location"],
    "HistoricalLocations": ["time"],
    "Datastreams": ["name", "description", "unitOfMeasurement", "observationType"],
    "Sensors": ["name", "description", "encodingType", "metadata"],
    "ObservedProperties": ["name", "definition", "description"],
    "Observations": ["phenomenonTime", "result", "resultTime"],
    "FeaturesOfInterest": ["name", "description", "encodingType", "feature"],
}


def check_entity(set_name, e):
    eid = e["@iot.id"]
    assert isinstance(eid, int), e
    assert e["@iot.selfLink"] == "%s/v1.1/%s(%d)" % (BASE, set_name, eid), e
    for p in MANDATORY[set_name]:
        assert p in e, "%s lacks %s: %r" % (set_name, p, e)
    for n in NAVS[set_name]:
        assert e[n + "@iot.navigationLink"] == "%s/v1.1/%s(%d)/%s" % (BASE, set_name, eid, n), e


# ---- tests ---------------------------------------------------------------------------------

def test_service_root():
    stack()
    root = get("/v1.1")
    names = [v["name"] for v in root["value"]]
    assert names == list(NAVS), names
    for v in root["value"]:
        assert v["url"] == "%s/v1.1/%s" % (BASE, v["name"]), v
    conf = root["serverSettings"]["conformance"]
    assert "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel" in conf, conf
    assert get("/v1.1/") == root


def test_every_entity_set():
    stack()
    for set_name in NAVS:
        doc = get("/v1.1/" + set_name)
        assert doc["value"], "%s is empty" % set_name
        for e in doc["value"]:
            check_entity(set_name, e)
        one = doc["value"][0]
        assert get("/v1.1/%s(%d)" % (set_name, one["@iot.id"])) == one, set_name
    # counts the registry implies: 3 Things with 3 + 3 + 2 Datastreams
    assert get("/v1.1/Things", [("$count", "true")])["@iot.count"] == 3
    assert get("/v1.1/Datastreams", [("$count", "true")])["@iot.count"] == 8
    assert get("/v1.1/Observations", [("$count", "true")])["@iot.count"] == 2 * N_WL + 2


def test_entity_property_value():
    stack()
    tid = thing_id("wl-api-1")
    t = get("/v1.1/Things(%d)" % tid)
    assert t["name"] == "wl-api-1" and t["properties"]["kind"] == "water_level", t
    assert get("/v1.1/Things(%d)/name" % tid) == {"name": "wl-api-1"}
    r = curl("/v1.1/Things(%d)/name/$value" % tid)
    assert r.status == 200 and r.body == b"wl-api-1", (r.status, r.body)
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    assert get("/v1.1/Things(%d)/id" % tid) == {"@iot.id": tid}
    loc = get("/v1.1/Things(%d)/Locations" % tid)["value"]
    assert len(loc) == 1, loc
    assert loc[0]["location"] == {"type": "Point", "coordinates": [132.45, 34.39]}, loc
    r = curl("/v1.1/Locations(%d)/location/$value" % loc[0]["@iot.id"])
    assert r.status == 200 and json.loads(r.body)["type"] == "Point", r.body


def test_navigation():
    stack()
    tid = thing_id("wl-api-1")
    ds = datastream_of(tid, "water_level")
    check_entity("Datastreams", ds)
    assert ds["unitOfMeasurement"]["symbol"] == "m", ds
    assert ds["observationType"].endswith("OM_Measurement"), ds
    # one level: to one and to many
    assert get("/v1.1/Datastreams(%d)/Thing" % ds["@iot.id"])["@iot.id"] == tid
    sensor = get("/v1.1/Datastreams(%d)/Sensor" % ds["@iot.id"])
    check_entity("Sensors", sensor)
    op = get("/v1.1/Datastreams(%d)/ObservedProperty" % ds["@iot.id"])
    check_entity("ObservedProperties", op)
    assert op["name"] == "water_level", op
    assert ds["@iot.id"] in [d["@iot.id"] for d in
                             get("/v1.1/ObservedProperties(%d)/Datastreams" % op["@iot.id"])["value"]]
    # two levels
    locs = get("/v1.1/Datastreams(%d)/Thing/Locations" % ds["@iot.id"])["value"]
    assert [l["@iot.id"] for l in locs] == [l["@iot.id"] for l in
                                            get("/v1.1/Things(%d)/Locations" % tid)["value"]]
    hl = get("/v1.1/Things(%d)/HistoricalLocations" % tid)["value"]
    assert len(hl) == 1 and hl[0]["time"].endswith("Z"), hl
    assert get("/v1.1/HistoricalLocations(%d)/Thing" % hl[0]["@iot.id"])["@iot.id"] == tid
    assert get("/v1.1/HistoricalLocations(%d)/Locations" % hl[0]["@iot.id"])["value"] == locs
    things = get("/v1.1/Locations(%d)/Things" % locs[0]["@iot.id"])["value"]
    assert [t["@iot.id"] for t in things] == [tid], things
    # a related entity by id, and one that is not related
    assert get("/v1.1/Things(%d)/Datastreams(%d)" % (tid, ds["@iot.id"]))["@iot.id"] == ds["@iot.id"]
    other = datastream_of(thing_id("wl-api-2"), "water_level")
    r = get("/v1.1/Things(%d)/Datastreams(%d)" % (tid, other["@iot.id"]), status=404)
    assert r.json()["code"] == "ENOTFOUND", r.body
    # $ref
    refs = get("/v1.1/Things(%d)/Datastreams/$ref" % tid)["value"]
    assert refs and all(list(x) == ["@iot.selfLink"] for x in refs), refs
    assert get("/v1.1/Datastreams(%d)/Thing/$ref" % ds["@iot.id"]) == \
        {"@iot.selfLink": "%s/v1.1/Things(%d)" % (BASE, tid)}


def test_observations_paged_newest_first():
    stack()
    ds = datastream_of(thing_id("wl-api-1"), "water_level")
    path = "/v1.1/Datastreams(%d)/Observations" % ds["@iot.id"]
    doc = get(path, [("$count", "true")])
    seen = []
    pages = 0
    while True:
        pages += 1
        assert doc["@iot.count"] == N_WL, doc
        assert len(doc["value"]) <= PAGE, doc
        for o in doc["value"]:
            check_entity("Observations", o)
        seen += doc["value"]
        if "@iot.nextLink" not in doc:
            break
        assert doc["@iot.nextLink"].startswith(BASE + path + "?"), doc["@iot.nextLink"]
        doc = get(None, full_url=doc["@iot.nextLink"])
    assert pages == 3 and len(seen) == N_WL, (pages, len(seen))
    times = [o["phenomenonTime"] for o in seen]
    assert times == sorted(times, reverse=True), times
    assert times[0] == "2026-11-26T15:12:00.000000Z", times
    assert [round(o["result"], 6) for o in seen] == [round(i / 10, 6) for i in range(N_WL, 0, -1)]
    # resultTime: when the platform stored it (the ingest's clock), after the reading
    assert seen[0]["resultTime"].endswith("Z") and seen[0]["resultTime"] > times[0], seen[0]
    assert seen[0]["parameters"]["distance_mm"] == round((MOUNT - 1.2) * 1000), seen[0]
    assert len({o["@iot.id"] for o in seen}) == N_WL

    # an exact last page has no nextLink
    doc = get(path, [("$top", "4"), ("$skip", "8")])
    assert len(doc["value"]) == 4 and "@iot.nextLink" not in doc, doc
    # $top above the page limit is capped, and a nextLink says there is more
    doc = get(path, [("$top", "1000")])
    assert len(doc["value"]) == PAGE and "@iot.nextLink" in doc, doc
    # $orderby overrides the default order; the nextLink keeps it
    doc = get(path, [("$orderby", "phenomenonTime asc"), ("$top", "3")])
    assert [round(o["result"], 6) for o in doc["value"]] == [0.1, 0.2, 0.3], doc
    nxt = get(None, full_url=doc["@iot.nextLink"])
    assert [round(o["result"], 6) for o in nxt["value"]] == [0.4, 0.5, 0.6], nxt

    # one observation, its links and navigation
    o = seen[0]
    assert get("/v1.1/Observations(%d)" % o["@iot.id"]) == o
    assert get("/v1.1/Observations(%d)/Datastream" % o["@iot.id"])["@iot.id"] == ds["@iot.id"]
    foi = get("/v1.1/Observations(%d)/FeatureOfInterest" % o["@iot.id"])
    check_entity("FeaturesOfInterest", foi)
    assert foi["feature"]["type"] == "Point", foi
    fo = get("/v1.1/FeaturesOfInterest(%d)/Observations" % foi["@iot.id"], [("$count", "true")])
    assert fo["@iot.count"] == 2 * N_WL, fo  # water level and battery of wl-api-1
    r = curl("/v1.1/Observations(%d)/result/$value" % o["@iot.id"])
    assert r.status == 200 and float(r.body) == o["result"], r.body
    assert get("/v1.1/Datastreams(%d)/Observations(%d)" % (ds["@iot.id"], o["@iot.id"]))["@iot.id"] == o["@iot.id"]


def test_interval_phenomenon_time():
    stack()
    # a people count covers the interval_s before its ts
    ds = datastream_of(thing_id("pf-api-1"), "people_in")
    obs = get("/v1.1/Datastreams(%d)/Observations" % ds["@iot.id"])["value"]
    assert len(obs) == 1, obs
    assert obs[0]["phenomenonTime"] == "2026-11-26T14:45:00.000000Z/2026-11-26T15:00:00.000000Z", obs
    # 7 people is under 10: withheld from anonymous callers, shown to a read:raw key
    assert obs[0]["result"] is None and obs[0]["resultQuality"] == "suppressed", obs
    raw = get("/v1.1/Datastreams(%d)/Observations" % ds["@iot.id"],
              extra=("-H", "X-API-Key: " + RAW_KEY))["value"]
    assert raw[0]["result"] == 7 and "resultQuality" not in raw[0], raw


def test_top_skip_count_orderby_select():
    stack()
    names = [t["name"] for t in get("/v1.1/Things", [("$orderby", "name desc")])["value"]]
    assert names == sorted(names, reverse=True) and len(names) == 3, names
    doc = get("/v1.1/Things", [("$orderby", "name"), ("$top", "1"), ("$skip", "1"), ("$count", "true")])
    assert [t["name"] for t in doc["value"]] == [sorted(names)[1]], doc
    assert doc["@iot.count"] == 3 and "@iot.nextLink" in doc, doc
    nxt = doc["@iot.nextLink"]
    assert "%24skip=2" in nxt or "$skip=2" in nxt, nxt
    last = get(None, full_url=nxt)
    assert [t["name"] for t in last["value"]] == [sorted(names)[2]] and "@iot.nextLink" not in last
    doc = get("/v1.1/Things", [("$top", "0"), ("$count", "true")])
    assert doc["value"] == [] and doc["@iot.count"] == 3 and "@iot.nextLink" not in doc, doc
    sel = get("/v1.1/Things", [("$select", "id,name")])["value"]
    assert all(sorted(t) == ["@iot.id", "name"] for t in sel), sel
    sel = get("/v1.1/Things(%d)" % thing_id("wl-api-1"), [("$select", "name,Datastreams")])
    assert sorted(sel) == ["Datastreams@iot.navigationLink", "name"], sel


def test_expand():
    stack()
    doc = get("/v1.1/Things", [("$expand", "Locations,Datastreams"), ("$orderby", "name")])
    for t in doc["value"]:
        assert isinstance(t["Locations"], list) and len(t["Locations"]) == 1, t
        assert "Locations@iot.navigationLink" not in t, t
        check_entity("Locations", t["Locations"][0])
        assert len(t["Datastreams"]) in (2, 3), t
        for d in t["Datastreams"]:
            check_entity("Datastreams", d)
        assert "HistoricalLocations@iot.navigationLink" in t, t
    tid = thing_id("wl-api-1")
    t = get("/v1.1/Things(%d)" % tid,
            [("$expand", "Datastreams($select=name;$orderby=name;$top=2;$count=true;"
                         "$expand=Observations($top=1))")])
    assert t["Datastreams@iot.count"] == 3, t
    assert len(t["Datastreams"]) == 2, t
    d0 = t["Datastreams"][0]
    assert sorted(d0) == ["Observations", "name"], d0
    assert len(d0["Observations"]) == 1, d0
    ds = datastream_of(tid, "water_level")
    o = get("/v1.1/Datastreams(%d)/Observations" % ds["@iot.id"],
            [("$top", "1"), ("$expand", "Datastream($select=name),FeatureOfInterest")])["value"][0]
    assert o["Datastream"] == {"name": ds["name"]}, o
    check_entity("FeaturesOfInterest", o["FeatureOfInterest"])
    # a path in $expand
    t = get("/v1.1/Things(%d)" % tid, [("$expand", "Datastreams/ObservedProperty")])
    assert all(d["ObservedProperty"]["name"] in ("water_level", "battery_voltage", "water_temperature")
               for d in t["Datastreams"]), t


def test_errors():
    stack()

    def err(path, params, status, field=None, text=None):
        r = curl(path, params)
        assert r.status == status, (path, params, r.status, r.body)
        assert r.headers["content-type"].startswith("application/json"), r.headers
        body = r.json()
        assert set(body) >= {"code", "message"}, body
        if field:
            assert body.get("field") == field, body
        if text:
            assert text in body["message"], body
        return body

    assert err("/v1.1/Things(99999)", None, 404, text="Things(99999)")["code"] == "ENOTFOUND"
    err("/v1.1/Things(99999)/Datastreams", None, 404)
    err("/v1.1/Observations(987654321)", None, 404)
    err("/v1.1/Nothing", None, 404, text="Nothing")
    err("/v1.1/Things(1)/nosuch", None, 404)
    err("/", None, 404)
    err("/v1.1/Things(abc)", None, 400)
    body = err("/v1.1/Things", [("$top", "abc")], 400, field="$top", text="abc")
    assert body["code"] == "EINVAL", body
    err("/v1.1/Things", [("$top", "-3")], 400, field="$top")
    err("/v1.1/Things", [("$count", "maybe")], 400, field="$count")
    err("/v1.1/Things", [("$orderby", "properties")], 400, field="$orderby", text="properties")
    err("/v1.1/Things", [("$select", "nosuch")], 400, field="$select", text="nosuch")
    err("/v1.1/Things", [("$expand", "Sensor")], 400, field="$expand", text="Sensor")
    err("/v1.1/Things", [("$expand", "Datastreams($top=x)")], 400, field="$top")
    err("/v1.1/Things", [("$frobnicate", "1")], 400, field="$frobnicate")
    err("/v1.1/Things", [("$filter", "name eq")], 400, field="$filter", text="at position 7")
    r = curl("/v1.1/Things", extra=["-X", "POST", "-H", "Content-Type: application/json",
                                    "--data", '{"name":"x","description":"y"}'])
    assert r.status == 401 and r.json()["code"] == "EUNAUTH", (r.status, r.body)
    r = curl("/v1.1/Things", extra=["-X", "OPTIONS"])
    assert r.status == 405 and r.json()["code"] == "EMETHOD", (r.status, r.body)
    assert "GET" in r.headers.get("allow", ""), r.headers
    big = os.path.join(S.dir, "big.bin")
    with open(big, "wb") as f:
        f.write(b"x" * (2 * 1024 * 1024))
    r = curl("/v1.1/Things", extra=["-X", "PUT", "-H", "Content-Type: application/octet-stream",
                                    "--data-binary", "@" + big])
    assert r.status == 413 and r.json()["code"] == "ETOOLARGE", (r.status, r.body[:200])
    # still serving after all that
    get("/v1.1/Things")
    assert "ERROR" not in S.log("api").upper().replace("LOG-LEVEL", ""), S.log("api")[-2000:]


def test_gzip():
    stack()
    path = "/v1.1/Things"
    params = [("$expand", "Datastreams,Locations")]
    plain = curl(path, params)
    assert plain.status == 200 and "content-encoding" not in plain.headers, plain.headers
    packed = curl(path, params, extra=["--compressed"])
    assert packed.status == 200, packed.status
    assert packed.headers.get("content-encoding") == "gzip", packed.headers
    assert "accept-encoding" in packed.headers.get("vary", "").lower(), packed.headers
    assert packed.body == plain.body, "curl --compressed inflates to the same JSON"
    # the compressed size on the wire: ask again without letting curl inflate
    raw = curl(path, params, extra=["-H", "Accept-Encoding: gzip"])
    assert raw.headers.get("content-encoding") == "gzip" and raw.body[:2] == b"\x1f\x8b", raw.headers
    assert len(raw.body) < len(plain.body), (len(raw.body), len(plain.body))
    # HEAD: headers without a body (curl -I writes the headers where the body would go)
    r = curl(path, extra=["-I"])
    assert r.status == 200 and r.body.startswith(b"HTTP/1.1 200") and b"{" not in r.body, r.body


def test_sigterm_exits_cleanly():
    stack()
    api = [p for name, p in S._procs if name == "api"][0]
    rc = S.kill(api, signal.SIGTERM)
    log = S.log("api")
    assert rc == 0, "takumi-api exit status %s:\n%s" % (rc, log[-3000:])
    assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]
    assert "api stopped" in log, log[-2000:]
    assert " warn " not in log and " error " not in log, log[-3000:]


if __name__ == "__main__":
    rc = tkfix.main([test_service_root, test_every_entity_set, test_entity_property_value,
                     test_navigation, test_observations_paged_newest_first,
                     test_interval_phenomenon_time, test_top_skip_count_orderby_select, test_expand,
                     test_errors, test_gzip, test_sigterm_exits_cleanly])
    if S is not None:
        S.close()
        if rc == 0 and os.environ.get("TAKUMI_KEEP") != "1":
            shutil.rmtree(S.dir, ignore_errors=True)
        else:
            print("test_api: kept %s" % S.dir, file=sys.stderr)
    sys.exit(rc)
