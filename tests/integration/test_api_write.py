#!/usr/bin/python3
"""takumi-api operator writes end to end: the real broker and ingest (tkfix), API keys made
with takumi-admin, every request sent with the real curl.

- who may write: anonymous 401 (WWW-Authenticate), a read key 403, write and admin keys
- POST of each entity type: 201, Location header = @iot.selfLink, the body a GET gives
- deep insert (Thing + Locations + Datastreams with Sensor, ObservedProperty and
  Observations): auto HistoricalLocation and auto FeatureOfInterest from the Location
- atomicity: a bad or dangling nested entity leaves nothing behind
- PATCH and PUT (a Thing's new Locations make a HistoricalLocation; PUT replaces)
- DELETE cascades checked through GETs; latest values and aggregates after deletes/patches
- CreateObservations: selfLinks and "error: ..." per row
- each kind of 400 with the field named; 404 for links to missing ids; 409 for a duplicate
- writes while the ingest stores readings of the same database: nothing lost on either side
"""
import calendar
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402
import test_api as ta  # noqa: E402  (curl, the Reply type and the reading helper)

S = None
KEYS = {}
DEV_PW = None
T0 = ta.T0


def stack():
    global S
    if S is not None:
        return S
    S = tkfix.Stack("api_write")
    S.start_broker()
    global DEV_PW
    DEV_PW = S.add_device("water_level", "wl-w-1", lat=34.39, lon=132.45, mount_height_m=3.2)
    for scope in ("read", "write", "admin"):
        out = S.admin("apikey", "add", "--owner", "ops-" + scope, "--scope", scope)
        key = [ln.split(":", 1)[1].strip() for ln in out.stdout.splitlines() if ln.startswith("key:")]
        assert key, out
        KEYS[scope] = key[0]
    S.start_ingest()
    port = tkfix.free_port()
    p = S.spawn("api", [ta.API, "--data", S.dir, "--http-port", port, *S.db_args,
                        "--page-max", 100, "--threads", 2, "--log-level", 3])
    if not tkfix.wait_port(tkfix.HOST, port, 10):
        raise tkfix.FixtureError("takumi-api did not listen (exit %s):\n%s" % (p.poll(), S.log("api")))
    ta.BASE = "http://%s:%d" % (tkfix.HOST, port)
    return S


def req(method, path, body=None, key="write", raw=None):
    extra = ["-X", method]
    if key:
        extra += ["-H", "Authorization: Bearer " + KEYS[key]]
    if body is not None or raw is not None:
        extra += ["-H", "Content-Type: application/json",
                  "--data-binary", raw if raw is not None else json.dumps(body)]
    return ta.curl(path, extra=extra)


def post(path, body, status=201, **kw):
    r = req("POST", path, body, **kw)
    assert r.status == status, "POST %s: %d %s" % (path, r.status, r.body[:600])
    if status == 201 and not path.endswith("CreateObservations"):
        e = r.json()
        assert r.headers.get("location") == e["@iot.selfLink"], (r.headers, e)
    return r.json()


def get(path, params=None, status=200):
    return ta.get(path, params, status=status)


def refused(method, path, body, status, code, field=None, text=None, raw=None):
    r = req(method, path, body, raw=raw)
    assert r.status == status, "%s %s: %d %s" % (method, path, r.status, r.body[:600])
    e = r.json()
    assert e["code"] == code, e
    if field is not None:
        assert e.get("field") == field, e
    if text is not None:
        assert text in e["message"], e
    return e


def counts():
    return {s: get("/v1.1/" + s, [("$count", "true"), ("$top", "0")])["@iot.count"]
            for s in ("Things", "Locations", "HistoricalLocations", "Datastreams", "Sensors",
                      "ObservedProperties", "Observations", "FeaturesOfInterest")}


UOM = {"name": "metre", "symbol": "m", "definition": "http://qudt.org/vocab/unit/M"}
OM = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
POINT = {"type": "Point", "coordinates": [132.46, 34.41]}


def ts(minute):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(calendar.timegm((2026, 11, 26, 0, 0, 0)) + 60 * minute))


def deep_thing(name, n_obs=3, bad=None):
    ds = {"name": name + " level", "description": "level in the pipe", "unitOfMeasurement": UOM,
          "observationType": OM,
          "Sensor": {"name": "gauge", "description": "radar gauge", "encodingType": "application/pdf",
                     "metadata": "https://example.org/gauge.pdf"},
          "ObservedProperty": {"name": "water level", "definition": "https://example.org/level",
                               "description": "level above the invert"},
          "Observations": [{"phenomenonTime": ts(i), "result": 0.1 * i} for i in range(n_obs)]}
    t = {"name": name, "description": "pump station", "properties": {"district": "naka"},
         "Locations": [{"name": name + " site", "description": "site", "encodingType":
                        "application/geo+json", "location": POINT}],
         "Datastreams": [ds]}
    if bad:
        bad(t)
    return t


# ---- tests ------------------------------------------------------------------------------


def test_who_may_write():
    stack()
    conf = get("/v1.1")["serverSettings"]["conformance"]
    assert "http://www.opengis.net/spec/iot_sensing/1.1/req/create-update-delete" in conf, conf
    before = counts()
    r = req("POST", "/v1.1/Things", {"name": "x", "description": "y"}, key=None)
    assert r.status == 401 and r.json()["code"] == "EUNAUTH", (r.status, r.body)
    assert "bearer" in r.headers.get("www-authenticate", "").lower(), r.headers
    r = req("POST", "/v1.1/Things", {"name": "x", "description": "y"}, key="read")
    assert r.status == 403 and r.json()["code"] == "EFORBIDDEN", (r.status, r.body)
    for m in ("PATCH", "PUT", "DELETE"):
        r = req(m, "/v1.1/Things(1)", {"name": "x"}, key="read")
        assert r.status == 403, (m, r.status, r.body)
        r = req(m, "/v1.1/Things(1)", {"name": "x"}, key=None)
        assert r.status == 401, (m, r.status, r.body)
    r = req("POST", "/v1.1/CreateObservations", [], key=None)
    assert r.status == 401, (r.status, r.body)
    assert counts() == before
    # admin holds write
    t = post("/v1.1/Things", {"name": "by admin", "description": "x"}, key="admin")
    assert req("DELETE", "/v1.1/Things(%d)" % t["@iot.id"], key="admin").status == 200


def test_create_each_entity():
    stack()
    loc = post("/v1.1/Locations", {"name": "depot", "description": "the depot",
                                   "encodingType": "application/geo+json", "location": POINT})
    assert get("/v1.1/Locations(%d)" % loc["@iot.id"]) == loc
    thing = post("/v1.1/Things", {"name": "depot pump", "description": "a pump",
                                  "Locations": [{"@iot.id": loc["@iot.id"]}]})
    tid = thing["@iot.id"]
    assert "properties" not in thing
    hls = get("/v1.1/Things(%d)/HistoricalLocations" % tid)["value"]
    assert len(hls) == 1, hls
    sensor = post("/v1.1/Sensors", {"name": "s", "description": "d", "encodingType": "application/pdf",
                                    "metadata": "https://example.org/s.pdf"})
    assert sensor["metadata"] == "https://example.org/s.pdf"
    op = post("/v1.1/ObservedProperties", {"name": "flow", "definition": "https://example.org/flow",
                                           "description": "flow rate"})
    foi = post("/v1.1/FeaturesOfInterest", {"name": "river", "description": "the river",
                                            "encodingType": "application/geo+json",
                                            "feature": {"type": "Polygon", "coordinates": [
                                                [[132, 34], [133, 34], [133, 35], [132, 34]]]}})
    ds = post("/v1.1/Datastreams", {"name": "flow", "description": "flow", "unitOfMeasurement":
                                    {"name": "cubic metre per second", "symbol": "m3/s",
                                     "definition": "http://qudt.org/vocab/unit/M3-PER-SEC"},
                                    "observationType": OM, "Thing": {"@iot.id": tid},
                                    "Sensor": {"@iot.id": sensor["@iot.id"]},
                                    "ObservedProperty": {"@iot.id": op["@iot.id"]}})
    assert ds["unitOfMeasurement"]["symbol"] == "m3/s"
    assert get("/v1.1/Datastreams(%d)/Thing" % ds["@iot.id"])["@iot.id"] == tid
    obs = post("/v1.1/Observations", {"phenomenonTime": "2026-11-26T00:00:00Z/2026-11-26T00:15:00Z",
                                      "resultTime": "2026-11-26T00:15:01Z", "result": 12.5,
                                      "parameters": {"quality": "good"},
                                      "Datastream": {"@iot.id": ds["@iot.id"]},
                                      "FeatureOfInterest": {"@iot.id": foi["@iot.id"]}})
    assert obs["phenomenonTime"] == "2026-11-26T00:00:00.000000Z/2026-11-26T00:15:00.000000Z", obs
    assert obs["resultTime"] == "2026-11-26T00:15:01.000000Z" and obs["parameters"] == {"quality": "good"}
    assert get("/v1.1/Observations(%d)/FeatureOfInterest" % obs["@iot.id"])["@iot.id"] == foi["@iot.id"]
    fo = get("/v1.1/FeaturesOfInterest(%d)/Observations" % foi["@iot.id"])["value"]
    assert [o["@iot.id"] for o in fo] == [obs["@iot.id"]], fo
    # into a navigation collection: the path gives the link
    o2 = post("/v1.1/Datastreams(%d)/Observations" % ds["@iot.id"],
              {"phenomenonTime": "2026-11-26T00:15:00Z", "result": 13})
    assert get("/v1.1/Observations(%d)/Datastream" % o2["@iot.id"])["@iot.id"] == ds["@iot.id"]
    hl = post("/v1.1/HistoricalLocations", {"time": "2026-11-25T00:00:00Z", "Thing": {"@iot.id": tid},
                                            "Locations": [{"@iot.id": loc["@iot.id"]}]})
    assert hl["time"] == "2026-11-25T00:00:00.000000Z"
    assert get("/v1.1/HistoricalLocations(%d)/Locations" % hl["@iot.id"])["value"][0]["@iot.id"] == loc["@iot.id"]
    # latest values see API writes
    lv = get("/v1.1/Datastreams/latest", [("ids", str(ds["@iot.id"]))])["value"][0]
    assert lv["Observation@iot.id"] == o2["@iot.id"] and lv["result"] == 13, lv


def test_deep_insert():
    stack()
    before = counts()
    t = post("/v1.1/Things", deep_thing("deep"))
    tid = t["@iot.id"]
    full = get("/v1.1/Things(%d)" % tid, [("$expand", "Locations,HistoricalLocations($expand=Locations),"
                                            "Datastreams($expand=Sensor,ObservedProperty,"
                                            "Observations($expand=FeatureOfInterest))")])
    assert len(full["Locations"]) == 1 and full["Locations"][0]["location"] == POINT, full
    hls = full["HistoricalLocations"]
    assert len(hls) == 1 and hls[0]["Locations"][0]["@iot.id"] == full["Locations"][0]["@iot.id"], hls
    ds = full["Datastreams"][0]
    assert ds["Sensor"]["name"] == "gauge" and ds["ObservedProperty"]["name"] == "water level", ds
    obs = ds["Observations"]
    assert sorted(o["result"] for o in obs) == [0.0, 0.1, 0.2], obs
    fois = {o["FeatureOfInterest"]["@iot.id"] for o in obs}
    assert len(fois) == 1, obs
    assert obs[0]["FeatureOfInterest"]["feature"] == POINT, obs[0]
    after = counts()
    want = {"Things": 1, "Locations": 1, "HistoricalLocations": 1, "Datastreams": 1, "Sensors": 1,
            "ObservedProperties": 1, "Observations": 3, "FeaturesOfInterest": 1}
    assert {k: after[k] - before[k] for k in after} == want, (before, after)
    # a second Observation posted later reuses that FeatureOfInterest
    o = post("/v1.1/Datastreams(%d)/Observations" % ds["@iot.id"], {"phenomenonTime": ts(30), "result": 1})
    assert get("/v1.1/Observations(%d)/FeatureOfInterest" % o["@iot.id"])["@iot.id"] == fois.pop()


def test_atomic():
    stack()
    before = counts()

    def dangling(t):
        t["Datastreams"][0]["ObservedProperty"] = {"@iot.id": 999999}

    def bad_nested(t):
        t["Datastreams"][0]["Sensor"].pop("metadata")

    def bad_obs(t):
        t["Datastreams"][0]["Observations"][2]["result"] = "high"

    def dup_obs(t):
        t["Datastreams"][0]["Observations"][1]["phenomenonTime"] = ts(0)

    e = refused("POST", "/v1.1/Things", deep_thing("a1", bad=dangling), 404, "ENOTFOUND",
                field="Datastreams[0].ObservedProperty", text="999999")
    refused("POST", "/v1.1/Things", deep_thing("a2", bad=bad_nested), 400, "EINVAL",
            field="Datastreams[0].Sensor.metadata", text="missing")
    refused("POST", "/v1.1/Things", deep_thing("a3", bad=bad_obs), 400, "EINVAL",
            field="Datastreams[0].Observations[2].result")
    refused("POST", "/v1.1/Things", deep_thing("a4", bad=dup_obs), 409, "ECONFLICT")
    assert counts() == before, (before, counts(), e)
    names = [t["name"] for t in get("/v1.1/Things", [("$top", "100")])["value"]]
    assert not any(n.startswith("a") and n[1:].isdigit() for n in names), names


def test_patch_put():
    stack()
    t = post("/v1.1/Things", deep_thing("patchme"))
    tid = t["@iot.id"]
    r = req("PATCH", "/v1.1/Things(%d)" % tid, {"name": "patched"})
    assert r.status == 200 and r.json()["name"] == "patched" and r.json()["description"] == "pump station", r.body
    assert get("/v1.1/Things(%d)" % tid)["properties"] == {"district": "naka"}
    # new Locations: a new HistoricalLocation with them
    loc = post("/v1.1/Locations", {"name": "new site", "description": "moved", "encodingType":
                                   "application/geo+json", "location": {"type": "Point", "coordinates": [132.5, 34.5]}})
    r = req("PATCH", "/v1.1/Things(%d)" % tid, {"Locations": [{"@iot.id": loc["@iot.id"]}]})
    assert r.status == 200, r.body
    assert [x["@iot.id"] for x in get("/v1.1/Things(%d)/Locations" % tid)["value"]] == [loc["@iot.id"]]
    hls = get("/v1.1/Things(%d)/HistoricalLocations" % tid, [("$expand", "Locations")])["value"]
    assert len(hls) == 2, hls
    assert any(h["Locations"][0]["@iot.id"] == loc["@iot.id"] for h in hls), hls
    # PUT replaces: mandatory ones needed, optional ones go
    refused("PUT", "/v1.1/Things(%d)" % tid, {"name": "p"}, 400, "EINVAL", field="description")
    r = req("PUT", "/v1.1/Things(%d)" % tid, {"name": "put", "description": "replaced"})
    assert r.status == 200 and "properties" not in r.json(), r.body
    refused("PATCH", "/v1.1/Things(%d)" % tid, {"@iot.id": 1234}, 400, "EINVAL", field="@iot.id")
    refused("PATCH", "/v1.1/Things(%d)" % tid, {"name": None}, 400, "EINVAL", field="name")
    refused("PATCH", "/v1.1/Things(99999)", {"name": "x"}, 404, "ENOTFOUND")
    # an Observation's result and time: aggregates and latest values follow
    ds = get("/v1.1/Things(%d)/Datastreams" % tid)["value"][0]["@iot.id"]
    obs = get("/v1.1/Datastreams(%d)/Observations" % ds)["value"]
    newest = obs[0]
    r = req("PATCH", "/v1.1/Observations(%d)" % newest["@iot.id"], {"result": 5.0, "phenomenonTime": ts(90)})
    assert r.status == 200 and r.json()["result"] == 5.0, r.body
    lv = get("/v1.1/Datastreams/latest", [("ids", str(ds))])["value"][0]
    assert lv["result"] == 5.0 and lv["phenomenonTime"].startswith("2026-11-26T01:30"), lv
    check_aggregates(ds)
    r = req("PUT", "/v1.1/Observations(%d)" % newest["@iot.id"], {"result": 6})
    assert r.status == 400 and r.json()["field"] == "phenomenonTime", r.body


def epoch(s):
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S"))


def check_aggregates(ds):
    """Every interval's aggregates equal those of the raw observations."""
    raw = get("/v1.1/Datastreams(%d)/Observations" % ds, [("$top", "100")])["value"]
    for iv, secs in (("minute", 60), ("hour", 3600), ("day", 86400)):
        agg = get("/v1.1/Datastreams(%d)/Observations/aggregate" % ds,
                  [("interval", iv), ("from", "2026-11-25T00:00:00Z"), ("to", "2026-11-28T00:00:00Z"),
                   ("fn", "count,sum,min,max")])["value"]
        want = {}
        for o in raw:
            b = epoch(o["phenomenonTime"]) // secs * secs
            w = want.setdefault(b, [0, 0.0, None, None])
            w[0] += 1
            w[1] += o["result"]
            w[2] = o["result"] if w[2] is None else min(w[2], o["result"])
            w[3] = o["result"] if w[3] is None else max(w[3], o["result"])
        got = {epoch(a["bucket"]): [a["count"], a["sum"], a["min"], a["max"]] for a in agg}
        assert sorted(got) == sorted(want), (iv, got, want)
        for b in want:
            g, w = got[b], want[b]
            assert g[0] == w[0] and abs(g[1] - w[1]) < 1e-9 and g[2] == w[2] and g[3] == w[3], (iv, b, g, w)


def test_delete_cascades():
    stack()
    t = post("/v1.1/Things", deep_thing("doomed", n_obs=5))
    tid = t["@iot.id"]
    ds = get("/v1.1/Things(%d)/Datastreams" % tid)["value"][0]["@iot.id"]
    obs = [o["@iot.id"] for o in get("/v1.1/Datastreams(%d)/Observations" % ds)["value"]]
    loc = get("/v1.1/Things(%d)/Locations" % tid)["value"][0]["@iot.id"]
    hl = get("/v1.1/Things(%d)/HistoricalLocations" % tid)["value"][0]["@iot.id"]
    sensor = get("/v1.1/Datastreams(%d)/Sensor" % ds)["@iot.id"]
    # the newest Observation: the latest value falls back to the one before
    r = req("DELETE", "/v1.1/Observations(%d)" % obs[0])
    assert r.status == 200, r.body
    get("/v1.1/Observations(%d)" % obs[0], status=404)
    lv = get("/v1.1/Datastreams/latest", [("ids", str(ds))])["value"][0]
    assert lv["Observation@iot.id"] == obs[1], lv
    check_aggregates(ds)
    # the Thing: its Datastreams, their Observations, its HistoricalLocations; not the Location
    assert req("DELETE", "/v1.1/Things(%d)" % tid).status == 200
    get("/v1.1/Things(%d)" % tid, status=404)
    get("/v1.1/Datastreams(%d)" % ds, status=404)
    for o in obs[1:]:
        get("/v1.1/Observations(%d)" % o, status=404)
    get("/v1.1/HistoricalLocations(%d)" % hl, status=404)
    get("/v1.1/Locations(%d)" % loc)
    get("/v1.1/Sensors(%d)" % sensor)
    lv = get("/v1.1/Datastreams/latest", [("ids", str(ds))])["value"][0]
    assert lv["result"] is None, lv
    refused("DELETE", "/v1.1/Things(%d)" % tid, None, 404, "ENOTFOUND")
    # a Sensor takes its Datastreams (and their Observations) along
    t = post("/v1.1/Things", deep_thing("doomed2"))
    ds = get("/v1.1/Things(%d)/Datastreams" % t["@iot.id"])["value"][0]["@iot.id"]
    sensor = get("/v1.1/Datastreams(%d)/Sensor" % ds)["@iot.id"]
    o = get("/v1.1/Datastreams(%d)/Observations" % ds)["value"][0]["@iot.id"]
    assert req("DELETE", "/v1.1/Sensors(%d)" % sensor).status == 200
    get("/v1.1/Datastreams(%d)" % ds, status=404)
    get("/v1.1/Observations(%d)" % o, status=404)
    assert get("/v1.1/Things(%d)/Datastreams" % t["@iot.id"])["value"] == []
    # a FeatureOfInterest takes its Observations; a Location its HistoricalLocations
    ds = post("/v1.1/Things(%d)/Datastreams" % t["@iot.id"], {
        "name": "again", "description": "d", "unitOfMeasurement": UOM, "observationType": OM,
        "Sensor": {"name": "s", "description": "d", "encodingType": "text/plain", "metadata": "m"},
        "ObservedProperty": {"name": "o", "definition": "https://example.org/o", "description": "d"},
        "Observations": [{"phenomenonTime": ts(1), "result": 1}, {"phenomenonTime": ts(2), "result": 2}]})["@iot.id"]
    obs = get("/v1.1/Datastreams(%d)/Observations" % ds)["value"]
    foi = get("/v1.1/Observations(%d)/FeatureOfInterest" % obs[0]["@iot.id"])["@iot.id"]
    assert req("DELETE", "/v1.1/FeaturesOfInterest(%d)" % foi).status == 200
    assert get("/v1.1/Datastreams(%d)/Observations" % ds)["value"] == []
    check_aggregates(ds)
    loc = get("/v1.1/Things(%d)/Locations" % t["@iot.id"])["value"][0]["@iot.id"]
    hls = get("/v1.1/Locations(%d)/HistoricalLocations" % loc)["value"]
    assert hls
    assert req("DELETE", "/v1.1/Locations(%d)" % loc).status == 200
    for h in hls:
        get("/v1.1/HistoricalLocations(%d)" % h["@iot.id"], status=404)
    assert get("/v1.1/Things(%d)/Locations" % t["@iot.id"])["value"] == []
    # Datastream and ObservedProperty deletes
    op = get("/v1.1/Datastreams(%d)/ObservedProperty" % ds)["@iot.id"]
    o = post("/v1.1/Datastreams(%d)/Observations" % ds, {"phenomenonTime": ts(3), "result": 3,
                                                        "FeatureOfInterest": {"name": "f", "description": "d",
                                                                              "encodingType": "application/geo+json",
                                                                              "feature": POINT}})
    assert req("DELETE", "/v1.1/ObservedProperties(%d)" % op).status == 200
    get("/v1.1/Datastreams(%d)" % ds, status=404)
    get("/v1.1/Observations(%d)" % o["@iot.id"], status=404)


def test_create_observations():
    stack()
    t = post("/v1.1/Things", deep_thing("bulk", n_obs=0))
    ds = get("/v1.1/Things(%d)/Datastreams" % t["@iot.id"])["value"][0]["@iot.id"]
    foi = post("/v1.1/FeaturesOfInterest", {"name": "f", "description": "d", "encodingType":
                                            "application/geo+json", "feature": POINT})["@iot.id"]
    body = [{"Datastream": {"@iot.id": ds},
             "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
             "dataArray@iot.count": 5,
             "dataArray": [[ts(1), 1.5, foi], [ts(2), 2.5, foi], [ts(1), 9, foi],
                           ["not a time", 3, foi], [ts(4), 4.5, 999999]]}]
    r = req("POST", "/v1.1/CreateObservations", body)
    assert r.status == 201, r.body
    ans = r.json()
    assert len(ans) == 5, ans
    assert ans[0].startswith(ta.BASE + "/v1.1/Observations(") and ans[1].startswith(ta.BASE), ans
    assert ans[2].startswith("error") and "already has" in ans[2], ans
    assert ans[3].startswith("error") and "RFC 3339" in ans[3], ans
    assert ans[4].startswith("error") and "999999" in ans[4], ans
    for link in ans[:2]:
        o = ta.get(None, full_url=link)
        assert o["result"] in (1.5, 2.5), o
    assert len(get("/v1.1/FeaturesOfInterest(%d)/Observations" % foi)["value"]) == 2
    # a malformed request refuses everything
    before = counts()["Observations"]
    refused("POST", "/v1.1/CreateObservations", [{"Datastream": {"@iot.id": ds}, "components": ["result", "colour"],
                                                 "dataArray": [[1, "red"]]}], 400, "EINVAL", text="colour")
    refused("POST", "/v1.1/CreateObservations", [{"Datastream": {"@iot.id": 999999}, "components": ["result"],
                                                 "dataArray": [[1]]}], 404, "ENOTFOUND")
    refused("POST", "/v1.1/CreateObservations", {"Datastream": 1}, 400, "EINVAL")
    assert counts()["Observations"] == before


def test_bad_bodies():
    stack()
    # a Thing and Datastream of this key's owner: a write key adds only to its own
    mine = post("/v1.1/Things", deep_thing("bad bodies", n_obs=0))["@iot.id"]
    mine_ds = get("/v1.1/Things(%d)/Datastreams" % mine)["value"][0]["@iot.id"]
    before = counts()
    thing = {"name": "x", "description": "y"}
    refused("POST", "/v1.1/Things", None, 400, "EINVAL", raw='{"name": ', text="not valid JSON")
    refused("POST", "/v1.1/Things", dict(thing, colour="red"), 400, "EINVAL", field="colour")
    refused("POST", "/v1.1/Things", {"name": "x"}, 400, "EINVAL", field="description", text="missing")
    refused("POST", "/v1.1/Things", {"name": 5, "description": "y"}, 400, "EINVAL", field="name", text="string")
    refused("POST", "/v1.1/Things", dict(thing, properties=[1]), 400, "EINVAL", field="properties")
    refused("POST", "/v1.1/Things", dict(thing, **{"@iot.id": 5}), 400, "EINVAL", field="@iot.id")
    refused("POST", "/v1.1/Things", [thing], 400, "EINVAL")
    ds = deep_thing("bad")["Datastreams"][0]
    ds["Thing"] = {"@iot.id": mine}
    for uom, why in (({"name": "m", "symbol": "m"}, "definition"), ("metre", "object"),
                     (dict(UOM, scale=1), "scale"), (dict(UOM, symbol=3), "symbol")):
        refused("POST", "/v1.1/Datastreams", dict(ds, unitOfMeasurement=uom), 400, "EINVAL",
                field="unitOfMeasurement", text=why)
    loc = {"name": "l", "description": "d", "encodingType": "application/geo+json"}
    for geo, why in (({"type": "Point", "coordinates": [200, 10]}, "outside"),
                     ({"type": "Point", "coordinates": [1]}, "2 or 3"),
                     ({"type": "Blob", "coordinates": [1, 2]}, "Blob"),
                     ({"type": "Polygon", "coordinates": [1, 2]}, "arrays"),
                     ("here", "GeoJSON")):
        refused("POST", "/v1.1/Locations", dict(loc, location=geo), 400, "EINVAL", field="location", text=why)
    obs = {"phenomenonTime": ts(0), "result": 1, "Datastream": {"@iot.id": mine_ds}}
    refused("POST", "/v1.1/Observations", dict(obs, phenomenonTime="2026-11-26 00:00"), 400, "EINVAL",
            field="phenomenonTime", text="RFC 3339")
    refused("POST", "/v1.1/Observations", dict(obs, phenomenonTime=ts(10) + "/" + ts(5)), 400, "EINVAL",
            field="phenomenonTime", text="ends before")
    refused("POST", "/v1.1/Observations", dict(obs, result="high"), 400, "EINVAL", field="result")
    refused("POST", "/v1.1/Observations", dict(obs, resultQuality="good"), 400, "EINVAL", field="resultQuality")
    refused("POST", "/v1.1/Observations", {"result": 1}, 400, "EINVAL", text="Datastream")
    refused("POST", "/v1.1/Observations", dict(obs, Datastream={"@iot.id": 999999}), 404, "ENOTFOUND",
            field="Datastream")
    refused("POST", "/v1.1/Things(999999)/Datastreams", ds, 404, "ENOTFOUND")
    nest = {"name": "n", "description": "d"}  # Thing > Locations > Things > Locations ...
    for i in range(12):
        nest = {"name": "n%d" % i, "description": "d", "encodingType": "application/geo+json",
                "location": POINT, "Things": [nest]} if i % 2 == 0 else {"name": "t", "description": "d",
                                                                         "Locations": [nest]}
    refused("POST", "/v1.1/Things", nest, 400, "EINVAL", text="nested more than")
    refused("POST", "/v1.1/Things(1)", thing, 400, "EINVAL", text="collection")
    refused("PATCH", "/v1.1/Things", thing, 400, "EINVAL", text="one entity")
    refused("DELETE", "/v1.1/Things(1)/Datastreams", None, 400, "EINVAL")
    assert counts() == before


def test_writes_during_ingest():
    """The ingest stores readings into the same database while the API writes: every
    published reading and every API Observation is there afterwards."""
    stack()
    t = post("/v1.1/Things", deep_thing("busy", n_obs=0))
    ds = get("/v1.1/Things(%d)/Datastreams" % t["@iot.id"])["value"][0]["@iot.id"]
    n = 300
    done = threading.Event()
    errors = []

    def publish():
        try:
            for i in range(1, n + 1):
                S.pub("wl-w-1", DEV_PW, "city/water_level/wl-w-1/reading",
                      ta.reading("wl-w-1", i, (T0 + 60 * i) * 1000, level_m=i / 1000))
        except Exception as e:  # reported below
            errors.append(e)
        finally:
            done.set()
    th = threading.Thread(target=publish)
    th.start()
    ids = []
    k = 0
    try:
        while not done.is_set() or k < 50:
            o = post("/v1.1/Datastreams(%d)/Observations" % ds, {"phenomenonTime": ts(k), "result": k})
            ids.append(o["@iot.id"])
            if k % 5 == 4:  # change and remove some as well
                assert req("PATCH", "/v1.1/Observations(%d)" % ids[-2], {"result": -k}).status == 200
                assert req("DELETE", "/v1.1/Observations(%d)" % ids[-3]).status == 200
            k += 1
            if k > 2000:
                break
    finally:
        th.join(120)
    assert not errors, errors
    wl = None
    for d in get("/v1.1/Things", [("$filter", "name eq 'wl-w-1'"), ("$expand", "Datastreams")])["value"][0]["Datastreams"]:
        if d["name"].endswith("water_level"):
            wl = d["@iot.id"]

    def all_stored():
        return get("/v1.1/Datastreams(%d)/Observations" % wl, [("$count", "true"), ("$top", "0")])["@iot.count"] >= n
    tkfix.wait_for(all_stored, 30, "every published reading stored")
    assert get("/v1.1/Datastreams(%d)/Observations" % wl, [("$count", "true"), ("$top", "0")])["@iot.count"] == n
    deleted = k // 5
    got = get("/v1.1/Datastreams(%d)/Observations" % ds, [("$count", "true"), ("$top", "0")])["@iot.count"]
    assert got == k - deleted, (got, k, deleted)
    check_aggregates_many(ds)
    print("writes during ingest: %d readings stored by the ingest, %d API Observations posted,"
          " %d patched, %d deleted meanwhile" % (n, k, deleted, deleted), file=sys.stderr)
    log = S.log("api")
    assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]
    assert "database is locked" not in log, log[-3000:]


def check_aggregates_many(ds):
    raw = []
    skip = 0
    while True:
        page = get("/v1.1/Datastreams(%d)/Observations" % ds, [("$top", "100"), ("$skip", str(skip))])["value"]
        raw += page
        if len(page) < 100:
            break
        skip += 100
    agg = get("/v1.1/Datastreams(%d)/Observations/aggregate" % ds,
              [("interval", "day"), ("from", "2026-11-20T00:00:00Z"), ("to", "2026-12-01T00:00:00Z")])["value"]
    assert sum(a["count"] for a in agg) == len(raw), (agg, len(raw))
    assert abs(sum(a["sum"] for a in agg) - sum(o["result"] for o in raw)) < 1e-6
    assert min(a["min"] for a in agg) == min(o["result"] for o in raw)
    assert max(a["max"] for a in agg) == max(o["result"] for o in raw)


def test_clean_log():
    stack()
    log = S.log("api")
    assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]


if __name__ == "__main__":
    rc = tkfix.main([test_who_may_write, test_create_each_entity, test_deep_insert, test_atomic,
                     test_patch_put, test_delete_cascades, test_create_observations, test_bad_bodies,
                     test_writes_during_ingest, test_clean_log])
    if S is not None:
        S.close()
        if rc == 0 and os.environ.get("TAKUMI_KEEP") != "1":
            shutil.rmtree(S.dir, ignore_errors=True)
        else:
            print("test_api_write: kept %s" % S.dir, file=sys.stderr)
    sys.exit(rc)
