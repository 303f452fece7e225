#!/usr/bin/python3
"""The same answers from both stores: two stacks, one on SQLite and one on PostgreSQL
(TK_TEST_PG_URI; run under tests/pg/pgserver.py), are given the same devices, the same
readings (fixed phenomenonTimes) and the same API writes, in the same order; then the same
requests, sent with the real curl to each takumi-api, must give byte-identical bodies
(after the base URL and the clocks, resultTime of ingested readings and the time of the
devices' HistoricalLocations, are masked) and the same status. The ids of Observations written through the API are not
compared: on PostgreSQL each writer takes ids in blocks (obs_id_seq), so they differ.
Aggregates are compared as numbers to 12 significant digits: a sum of floating-point
results depends on the order the rollups added them in, which follows the ingest's
batches on either store.

The requests are those where a store could answer differently: entity JSON (the
unitOfMeasurement and properties documents as stored), $filter comparing text with
numbers, JSON members against numbers and text, text order ($orderby name with upper and
lower case, accents, digits), string functions on non-ASCII text, arithmetic with
division by zero, time functions, geometry, $expand, $count, paging, dataArray, the CSV
and GeoJSON exports, latest, aggregates and NGSI-v2.
"""
import calendar
import json
import math
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402
import test_api as ta  # noqa: E402  (curl and Reply)

T0 = calendar.timegm((2026, 11, 26, 15, 0, 0))
N = 20  # readings per device
STACKS = {}  # "sqlite" / "postgresql" -> (Stack, base URL, write key)

UOM = {"name": "Degree Celsius", "symbol": "°C",
       "definition": "http://www.qudt.org/qudt/owl/1.0.0/unit/Instances.html#DegreeCelsius"}
NAMES = ["alpha", "Alpha", "beta", "Beta 2", "beta 10", "éclair", "Zulu", "zulu", "_under",
         "10 items", "9 items", "Ωmega", "日本語の名前"]


def reading(dev, seq, t, **fields):
    r = {"v": 1, "id": dev, "seq": seq, "ts": t * 1000}
    r.update(fields)
    return json.dumps(r)


def write(base, key, method, path, body):
    extra = ["-X", method, "-H", "Authorization: Bearer " + key, "-H",
             "Content-Type: application/json", "--data-binary", json.dumps(body)]
    r = ta.curl(None, extra=extra, full_url=base + path)
    assert r.status in (200, 201), (path, r.status, r.body[:400])
    return r.json() if r.body else None


def build(kind, store):
    s = tkfix.Stack("stores-" + kind, store=store)
    s.start_broker()
    pw_wl = s.add_device("water_level", "wl-st-1", lat=34.39, lon=132.45, mount_height_m=3.2)
    pw_pf = s.add_device("people_flow", "pf-st-1", lat=34.38, lon=132.44)
    s.add_device("wifi_ap", "ap-st-1", lat=34.40, lon=132.46)
    s.start_ingest()
    for i in range(1, N + 1):
        s.pub("wl-st-1", pw_wl, "city/water_level/wl-st-1/reading",
              reading("wl-st-1", i, T0 + 60 * i, distance_mm=3200 - 37 * i, battery_v=3.6))
    for i in range(1, 5):
        s.pub("pf-st-1", pw_pf, "city/people_flow/pf-st-1/reading",
              reading("pf-st-1", i, T0 + 900 * i, interval_s=900, **{"in": 4 * i, "out": 3 + i}))

    def stored():
        return s.sql_value("SELECT (SELECT count(*) FROM observations)"
                           " + (SELECT count(*) FROM obs_staging)",
                           "SELECT count(*) FROM observations") >= 2 * N + 2 * 4
    tkfix.wait_for(stored, 30, "the readings to be stored")
    key = s.add_apikey("stores", "write", rate=100000)[1]
    _, base = s.start_api("--page-max", 7, "--threads", 2, "--log-level", 3)
    # API writes: Things with properties of every JSON type, a Datastream with a unit that
    # is not ASCII, Observations with number, text and object results
    for i, name in enumerate(NAMES):
        write(base, key, "POST", "/v1.1/Things", {
            "name": name, "description": "thing %d" % i,
            "properties": {"n": i, "s": str(i), "half": i / 2, "flag": i % 2 == 0,
                           "tags": ["a", "b"][: i % 3], "nested": {"k": "v%d" % (i % 4)},
                           "mixed": i if i % 2 else "t%d" % i, "none": None}})
    t = write(base, key, "POST", "/v1.1/Things", {
        "name": "deep", "description": "deep insert",
        "Locations": [{"name": "site", "description": "a polygon", "encodingType":
                       "application/geo+json", "location": {"type": "Polygon", "coordinates": [
                           [[132.40, 34.35], [132.50, 34.35], [132.50, 34.45], [132.40, 34.35]]]}}],
        "Datastreams": [{"name": "temperature", "description": "air", "unitOfMeasurement": UOM,
                         "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                         "Sensor": {"name": "thermo", "description": "t", "encodingType":
                                    "application/pdf", "metadata": "https://example.org/t.pdf"},
                         "ObservedProperty": {"name": "temperature", "definition":
                                              "https://example.org/temperature", "description": "T"},
                         "Observations": [{"phenomenonTime": time.strftime(
                             "%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 60 * k)), "result": r}
                             for k, r in enumerate([1.5, -2, 0, 10, 3.25, 7])]}]})
    STACKS[kind] = (s, base, key, t["@iot.id"])


REQUESTS = [
    "/v1.1",
    "/v1.1/Things?$orderby=name",
    "/v1.1/Things?$orderby=name desc,id",
    "/v1.1/Things?$orderby=description&$top=100",
    "/v1.1/Things?$filter=name gt 'Zulu'&$orderby=name",
    "/v1.1/Things?$filter=name lt 'beta'&$orderby=name",
    "/v1.1/Things?$filter=properties/n gt 5&$orderby=id",
    "/v1.1/Things?$filter=properties/n eq '5'",
    "/v1.1/Things?$filter=properties/s eq 5",
    "/v1.1/Things?$filter=properties/s gt '10'&$orderby=id",
    "/v1.1/Things?$filter=properties/s gt 10&$orderby=id",
    "/v1.1/Things?$filter=properties/mixed gt 3&$orderby=id",
    "/v1.1/Things?$filter=properties/mixed eq 't4'",
    "/v1.1/Things?$filter=properties/half eq 1.5",
    "/v1.1/Things?$filter=properties/flag eq true&$orderby=id",
    "/v1.1/Things?$filter=properties/nested/k eq 'v1'&$orderby=id",
    "/v1.1/Things?$filter=properties/none eq null&$orderby=id",
    "/v1.1/Things?$filter=properties/missing eq null&$count=true&$top=0",
    "/v1.1/Things?$filter=properties/n div 0 eq 1",
    "/v1.1/Things?$filter=properties/n mod 0 eq 1",
    "/v1.1/Things?$filter=properties/n mod 3 eq 1&$orderby=id",
    "/v1.1/Things?$filter=length(name) eq 5&$orderby=id",
    "/v1.1/Things?$filter=tolower(name) eq 'alpha'&$orderby=id",
    "/v1.1/Things?$filter=toupper(name) eq 'ÉCLAIR'&$orderby=id",
    "/v1.1/Things?$filter=substring(name, 1, 2) eq 'mega'&$orderby=id",
    "/v1.1/Things?$filter=indexof(name, '語') eq 2&$orderby=id",
    "/v1.1/Things?$filter=substringof('a', name)&$orderby=name",
    "/v1.1/Things?$filter=concat(name, 'x') eq 'Zulux'",
    "/v1.1/Things?$filter=trim(concat(' ', name)) eq 'zulu'",
    "/v1.1/Things?$filter=name eq 5",
    "/v1.1/Things?$filter=description gt 'thing 10'&$orderby=id",
    "/v1.1/Things?$select=name,properties&$orderby=name&$top=50",
    "/v1.1/Things?$expand=Datastreams($select=name,unitOfMeasurement),Locations&$orderby=id",
    "/v1.1/Datastreams?$orderby=id&$top=50",
    "/v1.1/Datastreams?$filter=unitOfMeasurement/symbol eq '°C'",
    "/v1.1/Datastreams?$filter=unitOfMeasurement/name gt 'a'&$orderby=id",
    "/v1.1/Datastreams?$select=unitOfMeasurement&$orderby=id",
    "/v1.1/Locations?$orderby=id",
    "/v1.1/Locations?$filter=st_contains(location, geography'POINT(132.45 34.37)')",
    "/v1.1/Locations?$filter=geo.distance(location, geography'POINT(132.45 34.39)') lt 0.02&$orderby=id",
    "/v1.1/Sensors?$orderby=name,id",
    "/v1.1/ObservedProperties?$orderby=name desc,id",
    "/v1.1/FeaturesOfInterest?$orderby=id",
    "/v1.1/Observations?$filter=result gt 2&$orderby=phenomenonTime,id&$select=result,phenomenonTime",
    "/v1.1/Observations?$filter=result div 0 eq 1",
    "/v1.1/Observations?$filter=year(phenomenonTime) eq 2026 and hour(phenomenonTime) eq 15 and minute(phenomenonTime) lt 3&$orderby=id&$select=result,phenomenonTime",
    "/v1.1/Observations?$filter=phenomenonTime ge 2026-11-26T15:10:00Z&$count=true&$top=3&$select=result&$orderby=result desc,id",
    "/v1.1/Observations?$filter=round(result) eq 3 or ceiling(result) eq -1 or floor(result) eq 7&$select=result&$orderby=id",
    "/v1.1/Observations?$filter=Datastream/Thing/name eq 'deep'&$orderby=phenomenonTime&$select=result,phenomenonTime",
    "/v1.1/Observations?$filter=Datastream/unitOfMeasurement/symbol eq '°C'&$select=result&$orderby=result",
    "/v1.1/Observations?$filter=result eq '3.25'&$select=result",
    "/v1.1/Observations?$resultFormat=dataArray&$select=result,phenomenonTime&$filter=Datastream/Thing/name eq 'deep'&$orderby=id",
    "/v1.1/Things?$resultFormat=CSV&$orderby=name",
    "/v1.1/Datastreams?$resultFormat=CSV&$orderby=id",
    "/v1.1/Things?$resultFormat=GeoJSON&$filter=name eq 'wl-st-1' or name eq 'pf-st-1'",
    "/v1.1/Datastreams/latest?ids=1,2,3,4,5,6,7,8",
    "/v1.1/Observations?$orderby=result,id&$select=result&$top=8",
    "/v1.1/Observations?$orderby=result desc,id&$select=result&$skip=2&$top=8&$count=true",
    "/v1.1/Observations?$filter=result ne null and Datastream/ObservedProperty/name eq 'people_in'&$orderby=id&$select=result,phenomenonTime",
    "/v1.1/Things?$filter=name gt 5&$orderby=id&$select=name",
    "/v1.1/Things?$filter=name ge 'a' and name lt 'b'&$orderby=name desc&$select=name",
    "/v1.1/Things?$filter=startswith(name, 'b') or endswith(name, 'ulu')&$orderby=name&$select=name",
    "/v1.1/Things?$count=true&$top=4&$skip=3&$orderby=name&$select=name",
    "/v1.1/Things(1)?$expand=Datastreams($orderby=name;$expand=ObservedProperty,Sensor),Locations,HistoricalLocations",
    "/v1.1/HistoricalLocations?$orderby=id&$expand=Locations",
    "/v1.1/ObservedProperties?$filter=Datastreams/Thing/name eq 'deep'",
    "/v1.1/FeaturesOfInterest?$filter=substringof('wl', name)&$expand=Observations($top=2;$select=result;$orderby=phenomenonTime)",
    "/v1.1/Sensors?$filter=metadata/kind eq 'wifi_ap'",
    "/v1.1/Sensors?$filter=metadata/kind eq 3",
    "/v2/entities?limit=100",
    "/v2/entities/wl-st-1",
    "/v2/entities?type=WaterLevelSensor&options=keyValues",
]


def ds_requests(kind):
    """Requests naming the Datastream of the deep insert and the water-level one."""
    s, base, key, deep = STACKS[kind]
    doc = ta.get(None, full_url=base + "/v1.1/Things(%d)/Datastreams" % deep)
    ds = doc["value"][0]["@iot.id"]
    out = ["/v1.1/Datastreams(%d)" % ds, "/v1.1/Datastreams(%d)/unitOfMeasurement" % ds,
           "/v1.1/Datastreams(%d)/Observations?$orderby=result&$select=result,phenomenonTime" % ds,
           "/v1.1/Datastreams(%d)/Observations/aggregate?interval=minute&from=2026-11-26T15:00:00Z&to=2026-11-26T16:00:00Z" % ds]
    for d in ta.get(None, full_url=base + "/v1.1/Datastreams?$top=50")["value"]:
        if d["name"].endswith("water_level"):
            out += ["/v1.1/Datastreams(%d)/Observations/aggregate?interval=hour&from=2026-11-26T00:00:00Z&to=2026-11-27T00:00:00Z" % d["@iot.id"],
                    "/v1.1/Datastreams(%d)/Observations?$resultFormat=CSV&$orderby=phenomenonTime"
                    "&$select=id,phenomenonTime,result,parameters" % d["@iot.id"]]
    return out


# the clocks: when the ingest stored a reading, when a device was added (its
# HistoricalLocation): not part of what is compared
CLOCK = re.compile(rb'("(?:resultTime|time)":)"[^"]*"')


def fetch(kind, path):
    _, base, _, _ = STACKS[kind]
    r = ta.curl(None, full_url=base + path.replace(" ", "%20").replace("'", "%27"))
    body = r.body.replace(base.encode(), b"BASE")
    return r.status, CLOCK.sub(rb'\1"T"', body)


def close(a, b):
    """JSON values equal, numbers that are not whole to 12 significant digits."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(close, a, b))
    return a == b


def same(path, a, b):
    if a == b:
        return True
    return "/aggregate" in path and a[0] == b[0] == 200 and \
        close(json.loads(a[1]), json.loads(b[1]))


def test_same_answers():
    pg = os.environ.get("TK_TEST_PG_URI")
    assert pg, "run under tests/pg/pgserver.py (TK_TEST_PG_URI)"
    build("sqlite", None)
    build("postgresql", pg)
    reqs = REQUESTS + ds_requests("sqlite")
    assert ds_requests("postgresql") == ds_requests("sqlite")
    diffs = []
    for path in reqs:
        a, b = fetch("sqlite", path), fetch("postgresql", path)
        if not same(path, a, b):
            i = next((k for k in range(min(len(a[1]), len(b[1]))) if a[1][k] != b[1][k]),
                     min(len(a[1]), len(b[1])))
            diffs.append("%s\n  sqlite     %d ...%s\n  postgresql %d ...%s"
                         % (path, a[0], a[1][max(0, i - 150):i + 250], b[0],
                            b[1][max(0, i - 150):i + 250]))
        assert a[0] != 500, (path, a)
    assert not diffs, "%d of %d requests answered differently:\n%s" % (
        len(diffs), len(reqs), "\n".join(diffs))
    print("%d requests, the same answers from both stores" % len(reqs))


def test_clean_logs():
    for s, _, _, _ in STACKS.values():
        for name in ("api", "ingest"):
            log = s.log(name)
            assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]


if __name__ == "__main__":
    sys.exit(tkfix.main([test_same_answers, test_clean_logs]))
