#!/usr/bin/python3
"""takumi-api queries end to end, on the stack of test_api.py (real broker, ingest,
mosquitto_pub, takumi-api) with the real curl:

- $filter of each family (comparison, logical, arithmetic, string, time, geo, paths across
  entities) returns exactly the entities the raw listings say it should
- a malformed filter is a 400 whose message gives the position of the error
- $resultFormat=dataArray: components, one group per Datastream, paging
- /Datastreams(id)/Observations/aggregate equals aggregates computed from the raw
  Observations fetched through the API (minute, hour, day; fn subsets; refusals)
- /Datastreams/latest: the newest Observation of each stream, null for none, paging
- /openapi.json is an OpenAPI 3 document naming both extensions, valid for
  @apidevtools/swagger-parser (validate_openapi.mjs), which refuses a broken copy of it
"""
import calendar
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402
import test_api as ta  # noqa: E402

WL = "water_level"


def get(path, params=None, status=200, **kw):
    return ta.get(path, params, status=status, **kw)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def all_pages(path, params=None):
    """Every entity of a collection, following @iot.nextLink."""
    doc = get(path, params)
    out = list(doc["value"])
    while "@iot.nextLink" in doc:
        doc = get(None, full_url=doc["@iot.nextLink"])
        out += doc["value"]
    return out


def ids(path, flt, extra=()):
    return sorted(e["@iot.id"] for e in all_pages(path, [("$filter", flt)] + list(extra)))


def wl_ds():
    return ta.datastream_of(ta.thing_id("wl-api-1"), WL)["@iot.id"]


def raw_obs(ds):
    return all_pages("/v1.1/Datastreams(%d)/Observations" % ds)


def test_filter_comparison_logical_arithmetic():
    ta.stack()
    ds = wl_ds()
    path = "/v1.1/Datastreams(%d)/Observations" % ds
    raw = raw_obs(ds)
    assert len(raw) == ta.N_WL, raw

    def want(pred):
        return sorted(o["@iot.id"] for o in raw if pred(o["result"]))

    cases = [
        ("result gt 0.95", lambda r: r > 0.95),
        ("result ge 1.0", lambda r: r >= 1.0 - 1e-9),
        ("result lt 0.25", lambda r: r < 0.25),
        ("result le 0.3 and result ne 0.2", lambda r: r <= 0.3 + 1e-9 and abs(r - 0.2) > 1e-9),
        ("result eq 0.5", lambda r: abs(r - 0.5) < 1e-9),
        ("result lt 0.25 or result ge 1.15", lambda r: r < 0.25 or r >= 1.15),
        ("not (result lt 1.15)", lambda r: not r < 1.15),
        ("(result gt 0.3 or result lt 0.2) and not (result gt 0.6)",
         lambda r: (r > 0.3 or r < 0.2) and not r > 0.6),
        ("round(result mul 10) eq 7", lambda r: round(r * 10) == 7),
        ("result add 1 gt 2.05", lambda r: r + 1 > 2.05),
        ("result sub 0.5 lt 0 and result div 0.1 gt 2.5", lambda r: r - 0.5 < 0 and r / 0.1 > 2.5),
        ("round(result mul 10) mod 4 eq 0", lambda r: round(r * 10) % 4 == 0),
        ("floor(result) eq 1 and ceiling(result) eq 2", lambda r: r > 1 and r < 2),
        ("-result lt -1.05", lambda r: -r < -1.05),
        ("result eq null", lambda r: False),
        ("result ne null", lambda r: True),
    ]
    for flt, pred in cases:
        got = ids(path, flt)
        assert got == want(pred), (flt, got, want(pred))
        assert get(path, [("$filter", flt), ("$count", "true"), ("$top", "1")])["@iot.count"] == len(got), flt
    # parameters are JSON: members by path
    got = ids(path, "parameters/distance_mm lt 2150")
    assert got == sorted(o["@iot.id"] for o in raw if o["parameters"]["distance_mm"] < 2150), got
    # /Observations across all Datastreams, filter through the Datastream's Thing
    got = ids("/v1.1/Observations", "Datastream/Thing/name eq 'wl-api-1' and "
              "Datastream/ObservedProperty/name eq '%s'" % WL)
    assert got == sorted(o["@iot.id"] for o in raw), got


def test_filter_string_and_paths():
    ta.stack()
    things = {t["name"]: t["@iot.id"] for t in all_pages("/v1.1/Things")}
    assert ids("/v1.1/Things", "name eq 'wl-api-1'") == [things["wl-api-1"]]
    assert ids("/v1.1/Things", "name ne 'wl-api-1'") == sorted([things["wl-api-2"], things["pf-api-1"]])
    assert ids("/v1.1/Things", "startswith(name, 'wl-')") == sorted([things["wl-api-1"], things["wl-api-2"]])
    assert ids("/v1.1/Things", "endswith(name, '-2')") == [things["wl-api-2"]]
    assert ids("/v1.1/Things", "substringof('f-api', name)") == [things["pf-api-1"]]
    assert ids("/v1.1/Things", "length(name) eq 8 and indexof(name, 'api') eq 3") == sorted(things.values())
    assert ids("/v1.1/Things", "substring(name, 7) eq '2'") == [things["wl-api-2"]]
    assert ids("/v1.1/Things", "substring(name, 0, 2) eq 'pf'") == [things["pf-api-1"]]
    assert ids("/v1.1/Things", "toupper(name) eq 'WL-API-1' or tolower('PF-API-1') eq name") == \
        sorted([things["wl-api-1"], things["pf-api-1"]])
    assert ids("/v1.1/Things", "trim(concat('  ', name)) eq 'wl-api-2'") == [things["wl-api-2"]]
    assert ids("/v1.1/Things", "name eq 'it''s'") == []
    assert ids("/v1.1/Things", "name eq 'x'' or ''1''=''1'") == [], "values are bound, not pasted"
    assert ids("/v1.1/Things", "properties/kind eq 'people_flow'") == [things["pf-api-1"]]
    # across entities, to many and to one
    wl_things = sorted([things["wl-api-1"], things["wl-api-2"]])
    assert ids("/v1.1/Things", "Datastreams/ObservedProperty/name eq '%s'" % WL) == wl_things
    assert ids("/v1.1/Things", "not (Datastreams/ObservedProperty/name eq '%s')" % WL) == [things["pf-api-1"]]
    ds_of_1 = sorted(d["@iot.id"] for d in all_pages("/v1.1/Things(%d)/Datastreams" % things["wl-api-1"]))
    assert ids("/v1.1/Datastreams", "Thing/name eq 'wl-api-1'") == ds_of_1
    assert ids("/v1.1/Datastreams", "Thing/name eq 'wl-api-1' and ObservedProperty/name eq '%s'" % WL) == [wl_ds()]
    # battery_v 3.6 on wl-api-1, people_in 7 on pf-api-1: a count under 10, null for an
    # anonymous caller in filters too (the privacy rule; test_api_auth.py: raw keys)
    assert ids("/v1.1/Things", "Datastreams/Observations/result gt 5") == []
    assert ids("/v1.1/Things", "Datastreams/Observations/result gt 3.5") == [things["wl-api-1"]]
    # $filter inside $expand
    doc = get("/v1.1/Things(%d)" % things["wl-api-1"],
              [("$expand", "Datastreams($filter=ObservedProperty/name eq '%s')" % WL)])
    assert [d["@iot.id"] for d in doc["Datastreams"]] == [wl_ds()], doc


def test_filter_time():
    ta.stack()
    ds = wl_ds()
    path = "/v1.1/Datastreams(%d)/Observations" % ds
    raw = raw_obs(ds)
    t = {o["@iot.id"]: calendar.timegm(time.strptime(o["phenomenonTime"][:19], "%Y-%m-%dT%H:%M:%S"))
         for o in raw}

    def want(pred):
        return sorted(i for i, ts in t.items() if pred(ts))

    a, b = ta.T0 + 3 * 60, ta.T0 + 6 * 60
    assert ids(path, "phenomenonTime ge %s and phenomenonTime lt %s" % (iso(a), iso(b))) == \
        want(lambda ts: a <= ts < b)
    # the same instant with an offset, and as a quoted string
    assert ids(path, "phenomenonTime gt 2026-11-27T00:10:00+09:00") == want(lambda ts: ts > ta.T0 + 600)
    assert ids(path, "phenomenonTime le '%s'" % iso(ta.T0 + 120)) == want(lambda ts: ts <= ta.T0 + 120)
    assert ids(path, "hour(phenomenonTime) eq 15 and minute(phenomenonTime) le 2") == \
        want(lambda ts: time.gmtime(ts).tm_min <= 2)
    assert ids(path, "year(phenomenonTime) eq 2026 and month(phenomenonTime) eq 11 and "
               "day(phenomenonTime) eq 26 and second(phenomenonTime) eq 0") == sorted(t)
    assert ids(path, "date(phenomenonTime) eq 2026-11-26") == sorted(t)
    assert ids(path, "time(phenomenonTime) eq '15:07:00'") == want(lambda ts: ts == ta.T0 + 420)
    assert ids(path, "phenomenonTime lt now() and resultTime gt phenomenonTime") == sorted(t)
    assert ids(path, "phenomenonTime gt now()") == []


def test_filter_geo():
    ta.stack()
    locs = {l["name"]: l for l in all_pages("/v1.1/Locations")}
    by_xy = {tuple(l["location"]["coordinates"]): l["@iot.id"] for l in locs.values()}
    a = by_xy[(132.45, 34.39)]  # wl-api-1
    b = by_xy[(132.46, 34.40)]  # wl-api-2
    c = by_xy[(132.44, 34.38)]  # pf-api-1
    box = "geography'POLYGON((132.445 34.385, 132.455 34.385, 132.455 34.395, 132.445 34.395, 132.445 34.385))'"
    assert ids("/v1.1/Locations", "st_within(location, %s)" % box) == [a]
    assert ids("/v1.1/Locations", "st_contains(%s, location)" % box) == [a]
    assert ids("/v1.1/Locations", "st_intersects(location, %s)" % box) == [a]
    assert ids("/v1.1/Locations", "geo.intersects(location, %s)" % box) == [a]
    assert ids("/v1.1/Locations", "st_disjoint(location, %s)" % box) == sorted([b, c])
    assert ids("/v1.1/Locations", "st_equals(location, geography'POINT(132.46 34.4)')") == [b]
    assert ids("/v1.1/Locations", "geo.distance(location, geography'POINT(132.45 34.39)') lt 0.001") == [a]
    assert ids("/v1.1/Locations", "geo.distance(location, geography'POINT(132.45 34.39)') lt 0.015") == sorted([a, b, c])
    assert ids("/v1.1/Locations", "st_touches(geography'POLYGON((132.44 34.38, 132.5 34.38, 132.5 34.5, "
               "132.44 34.5, 132.44 34.38))', location)") == [c]
    assert ids("/v1.1/Locations", "geo.length(geography'LINESTRING(0 0, 3 4)') eq 5") == sorted([a, b, c])
    # through navigation: Things whose Location lies in the box; FeaturesOfInterest too
    things = {t["name"]: t["@iot.id"] for t in all_pages("/v1.1/Things")}
    assert ids("/v1.1/Things", "st_within(Locations/location, %s)" % box) == [things["wl-api-1"]]
    fois = ids("/v1.1/FeaturesOfInterest", "st_within(feature, %s)" % box)
    assert len(fois) == 1, fois


def test_filter_errors():
    ta.stack()

    def bad(path, flt, pos, text=None):
        r = ta.curl(path, [("$filter", flt)])
        assert r.status == 400, (flt, r.status, r.body)
        body = r.json()
        assert body["code"] == "EINVAL" and body["field"] == "$filter", body
        assert ("at position %d" % pos) in body["message"], (flt, body)
        if text:
            assert text in body["message"], body
        return body

    bad("/v1.1/Things", "name eq", 7)
    bad("/v1.1/Things", "name eq 'x", 8, "unterminated")
    bad("/v1.1/Things", "(name eq 'x'", 12)
    bad("/v1.1/Things", "name eq 'x' and nosuch eq 1", 16, "nosuch")
    bad("/v1.1/Things", "frobnicate(name) eq 1", 0, "unknown function")
    bad("/v1.1/Things", "name eq 1", 5, "cannot compare")
    bad("/v1.1/Things", "Datastreams/Sensor/nope eq 1", 0, "nope")
    bad("/v1.1/Observations", "phenomenonTime gt 2026-13-01T00:00:00Z", 18, "date-time")
    bad("/v1.1/Locations", "st_within(location, geography'POINT(1 2)) eq true", 20)
    bad("/v1.1/Things", "name", 0, "condition")
    # in $expand the message names the nested filter too
    r = ta.curl("/v1.1/Things", [("$expand", "Datastreams($filter=name eq)")])
    assert r.status == 400 and "at position" in r.json()["message"], r.body


def test_data_array():
    ta.stack()
    ds = wl_ds()
    path = "/v1.1/Datastreams(%d)/Observations" % ds
    plain = get(path, [("$top", "5")])["value"]
    doc = get(path, [("$top", "5"), ("$resultFormat", "dataArray"), ("$count", "true")])
    assert doc["@iot.count"] == ta.N_WL, doc
    assert len(doc["value"]) == 1, doc
    g = doc["value"][0]
    assert g["Datastream@iot.navigationLink"] == "%s/v1.1/Datastreams(%d)" % (ta.BASE, ds), g
    assert g["components"] == ["id", "phenomenonTime", "resultTime", "result"], g
    assert g["dataArray@iot.count"] == 5 and len(g["dataArray"]) == 5, g
    assert g["dataArray"] == [[o["@iot.id"], o["phenomenonTime"], o["resultTime"], o["result"]]
                              for o in plain], (g, plain)
    assert "$resultFormat=dataArray" in doc["@iot.nextLink"], doc
    # $select chooses the components; $filter applies
    doc = get(path, [("$resultFormat", "dataArray"), ("$select", "result,phenomenonTime"),
                     ("$filter", "result gt 1.05")])
    g = doc["value"][0]
    assert g["components"] == ["result", "phenomenonTime"], g
    assert sorted(round(r[0], 6) for r in g["dataArray"]) == [1.1, 1.2], g
    # all Observations: one group per Datastream, together the page
    doc = get("/v1.1/Observations", [("$resultFormat", "dataArray")])
    links = [g["Datastream@iot.navigationLink"] for g in doc["value"]]
    assert len(links) == len(set(links)) and len(links) >= 1, links
    assert sum(g["dataArray@iot.count"] for g in doc["value"]) == ta.PAGE, doc
    r = ta.curl("/v1.1/Things", [("$resultFormat", "dataArray")])
    assert r.status == 400 and r.json()["field"] == "$resultFormat", r.body


def test_aggregate():
    ta.stack()
    ds = wl_ds()
    raw = raw_obs(ds)
    vals = [(calendar.timegm(time.strptime(o["phenomenonTime"][:19], "%Y-%m-%dT%H:%M:%S")), o["result"])
            for o in raw]
    path = "/v1.1/Datastreams(%d)/Observations/aggregate" % ds

    def expect(width, start, end):
        buckets = {}
        for t, r in vals:
            if start <= t - t % width < end:
                buckets.setdefault(t - t % width, []).append(r)
        return [(iso(b).replace("Z", ".000000Z"), len(v), sum(v) / len(v), min(v), max(v), sum(v))
                for b, v in sorted(buckets.items())]

    for interval, width in (("minute", 60), ("hour", 3600), ("day", 86400)):
        start, end = ta.T0 - 86400, ta.T0 + 86400
        doc = get(path, [("interval", interval), ("from", iso(start)), ("to", iso(end))])
        assert doc["Datastream@iot.id"] == ds and doc["interval"] == interval, doc
        assert doc["fn"] == ["avg", "min", "max", "sum", "count"], doc
        got = [(b["bucket"], b["count"], b["avg"], b["min"], b["max"], b["sum"]) for b in doc["value"]]
        want = expect(width, start - start % width, end)
        assert len(got) == len(want), (interval, got, want)
        for g, w in zip(got, want):
            assert g[0] == w[0] and g[1] == w[1], (interval, g, w)
            for x, y in zip(g[2:], w[2:]):
                assert abs(x - y) < 1e-9, (interval, g, w)
    # a sub-range, and only some functions
    doc = get(path, [("interval", "minute"), ("from", iso(ta.T0 + 180)), ("to", iso(ta.T0 + 360)),
                     ("fn", "avg,count")])
    assert [set(b) for b in doc["value"]] == [{"bucket", "avg", "count"}] * 3, doc
    assert [b["count"] for b in doc["value"]] == [1, 1, 1], doc
    # from is rounded down to its bucket
    doc = get(path, [("interval", "hour"), ("from", iso(ta.T0 + 1800)), ("to", iso(ta.T0 + 3600))])
    assert doc["from"] == "2026-11-26T15:00:00.000000Z" and doc["value"][0]["count"] == ta.N_WL, doc
    # refusals
    for params, field in (([("interval", "week"), ("from", iso(ta.T0)), ("to", iso(ta.T0 + 60))], "interval"),
                          ([("interval", "hour"), ("to", iso(ta.T0 + 60))], "from"),
                          ([("interval", "hour"), ("from", iso(ta.T0)), ("to", "tomorrow")], "to"),
                          ([("interval", "hour"), ("from", iso(ta.T0)), ("to", iso(ta.T0 - 7200))], "to"),
                          ([("interval", "minute"), ("from", iso(ta.T0)), ("to", iso(ta.T0 + 86400 * 30))], "interval"),
                          ([("interval", "hour"), ("from", iso(ta.T0)), ("to", iso(ta.T0 + 60)), ("fn", "median")], "fn")):
        r = ta.curl(path, params)
        assert r.status == 400 and r.json()["field"] == field, (params, r.status, r.body)
    r = ta.curl("/v1.1/Datastreams(987654)/Observations/aggregate",
                [("interval", "hour"), ("from", iso(ta.T0)), ("to", iso(ta.T0 + 60))])
    assert r.status == 404 and r.json()["code"] == "ENOTFOUND", r.body


def test_latest():
    ta.stack()
    ds = wl_ds()
    pf_in = ta.datastream_of(ta.thing_id("pf-api-1"), "people_in")["@iot.id"]
    wl2 = ta.datastream_of(ta.thing_id("wl-api-2"), WL)["@iot.id"]
    doc = get("/v1.1/Datastreams/latest", [("ids", "%d,%d,%d,987654" % (ds, pf_in, wl2))])
    v = doc["value"]
    assert [e["Datastream@iot.id"] for e in v] == [ds, pf_in, wl2, 987654], v
    newest = get("/v1.1/Datastreams(%d)/Observations" % ds, [("$top", "1")])["value"][0]
    assert v[0]["Observation@iot.id"] == newest["@iot.id"], (v[0], newest)
    assert v[0]["phenomenonTime"] == newest["phenomenonTime"] == "2026-11-26T15:12:00.000000Z", v[0]
    assert v[0]["result"] == newest["result"] and v[0]["resultTime"] == newest["resultTime"], v[0]
    assert v[1]["phenomenonTime"] == "2026-11-26T14:45:00.000000Z/2026-11-26T15:00:00.000000Z", v[1]
    assert v[1]["result"] is None and v[1]["resultQuality"] == "suppressed", v[1]  # 7 < 10
    assert v[2]["result"] is None and v[2]["phenomenonTime"] is None, v[2]
    assert v[3]["result"] is None, v[3]
    # every Datastream, paged
    every = get("/v1.1/Datastreams/latest")["value"]
    all_ds = sorted(d["@iot.id"] for d in all_pages("/v1.1/Datastreams"))
    assert [e["Datastream@iot.id"] for e in every] == all_ds, every
    doc = get("/v1.1/Datastreams/latest", [("$top", "3")])
    assert len(doc["value"]) == 3 and "$skip=3" in doc["@iot.nextLink"], doc
    for params in ([("ids", "1,x")], [("ids", "1,,2")]):
        r = ta.curl("/v1.1/Datastreams/latest", params)
        assert r.status == 400 and r.json()["field"] == "ids", r.body
    # a figure, not a limit: the time of one request for every stream
    t0 = time.monotonic()
    for _ in range(20):
        get("/v1.1/Datastreams/latest")
    print("latest for %d datastreams: %.1f ms per request (curl included)"
          % (len(every), (time.monotonic() - t0) / 20 * 1000))


def test_openapi():
    ta.stack()
    r = ta.curl(None, full_url=ta.BASE + "/openapi.json")
    assert r.status == 200 and r.headers["content-type"].startswith("application/json"), r.headers
    doc = r.json()
    assert doc["openapi"].startswith("3."), doc
    assert "/v1.1/Datastreams({id})/Observations/aggregate" in doc["paths"], doc["paths"].keys()
    assert "/v1.1/Datastreams/latest" in doc["paths"], doc["paths"].keys()
    for p in doc["paths"].values():
        for op in p.values():
            assert "200" in op["responses"], op
    v = validate_openapi(r.body)
    assert v.returncode == 0, v.stdout + v.stderr
    assert v.stdout.startswith("valid: OpenAPI 3."), v.stdout
    # the validator does refuse a broken copy: an operation without responses, a path
    # parameter that is not declared
    broken = json.loads(r.body)
    op = next(iter(doc["paths"]["/v1.1/Datastreams/latest"].values()))
    del next(iter(broken["paths"]["/v1.1/Datastreams/latest"].values()))["responses"]
    broken["paths"]["/v1.1/Things({thing})/nowhere"] = {"get": op}
    v = validate_openapi(json.dumps(broken).encode())
    assert v.returncode == 1, v.stdout + v.stderr
    assert "responses" in v.stdout, v.stdout
    v = validate_openapi(json.dumps({"openapi": "3.0.3", "paths": {}}).encode())
    assert v.returncode == 1 and "info" in v.stdout, v.stdout + v.stderr


def validate_openapi(body):
    """node validate_openapi.mjs on one document (bytes)."""
    node = shutil.which("node") or "/usr/bin/node"
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(body)
        name = f.name
    try:
        return subprocess.run([node, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "validate_openapi.mjs"), name],
                              capture_output=True, text=True, timeout=120,
                              cwd=os.path.dirname(os.path.abspath(__file__)))
    finally:
        os.unlink(name)


def test_api_log_clean():
    ta.stack()
    log = ta.S.log("api")
    assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]


if __name__ == "__main__":
    rc = tkfix.main([test_filter_comparison_logical_arithmetic, test_filter_string_and_paths,
                     test_filter_time, test_filter_geo, test_filter_errors, test_data_array,
                     test_aggregate, test_latest, test_openapi, test_api_log_clean])
    if ta.S is not None:
        ta.S.close()
        if rc == 0 and os.environ.get("TAKUMI_KEEP") != "1":
            shutil.rmtree(ta.S.dir, ignore_errors=True)
        else:
            print("test_api_query: kept %s" % ta.S.dir, file=sys.stderr)
    sys.exit(rc)
