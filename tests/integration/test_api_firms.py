#!/usr/bin/python3
"""Firm-private data through the real takumi-api, every request made with curl
(docs/api.md "Access: private data", docs/security.md).

Firm A publishes a Thing with {"access": "private"} (a deep insert: Location, Datastream,
Sensor, ObservedProperty, Observations) with its write key; firm B has a read key and a
write key. Checked:
- A's private Thing and everything under it do not exist for anonymous callers, for B's
  read key and for B's write key: collections, entities by id (404), navigation, $expand,
  $filter probing through navigation paths, $count, latest values, aggregates, CSV and
  GeoJSON exports, NGSI-v2 and the event stream of its Datastream;
- firm A's keys and admin keys see all of it;
- B cannot PATCH or DELETE it (404), nor post Observations into it, nor link to it;
- scope escalation refused: a read key POSTing (403), a write key on /admin/* (403), a
  key naming another owner in the body (403); a write key changing a city device's Thing
  or another firm's public Thing (403), also through a deep insert, readings posted into
  the city's Datastream or a Datastream added to its Thing (403);
- a key revoked with takumi-admin while the API runs is refused (401) from the next request.
Prints the number of requests that probed the private data and were answered without it."""
import json
import os
import shutil
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402
import test_api as ta  # noqa: E402
import test_api_write as tw  # noqa: E402  (deep_thing, ts)

S = None
K = {}
KID = {}
PROBES = [0]


def stack():
    global S
    if S is not None:
        return S
    S = tkfix.Stack("api_firms")
    S.start_broker()
    S.add_device("water_level", "wl-city-1", lat=34.39, lon=132.45, mount_height_m=3.2)
    for name, owner, scope in (("a_write", "Firm A", "write"), ("a_read", "Firm A", "read"),
                               ("b_write", "Firm B", "write"), ("b_read", "Firm B", "read"),
                               ("admin", "City operations", "admin"),
                               ("b_gone", "Firm B", "read")):
        KID[name], K[name] = S.add_apikey(owner, scope, rate=100000)
    _, ta.BASE = S.start_api("--page-max", 100, "--threads", 2, "--log-level", 3)
    return S


def req(method, path, body=None, key=None, params=None, extra=()):
    argv = ["-X", method] + list(extra)
    if key:
        argv += ["-H", "Authorization: Bearer " + K[key]]
    if body is not None:
        argv += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    return ta.curl(path, params, extra=argv)


def private_thing():
    t = tw.deep_thing("secret pump", n_obs=4)
    t["properties"] = {"access": "private", "district": "minami"}
    t["Locations"][0]["name"] = "secret site"
    t["Locations"][0]["location"] = {"type": "Point", "coordinates": [132.51, 34.37]}
    ds = t["Datastreams"][0]
    ds["name"] = "secret level"
    ds["Sensor"]["name"] = "secret gauge"
    ds["ObservedProperty"]["name"] = "secret quantity"
    return t


IDS = {}


def setup_private():
    if IDS:
        return IDS
    stack()
    r = req("POST", "/v1.1/Things", private_thing(), key="a_write")
    assert r.status == 201, r.body
    tid = r.json()["@iot.id"]
    # firm A sees its own Thing and what is under it
    sub = lambda p: req("GET", "/v1.1/Things(%d)/%s" % (tid, p), key="a_write").json()["value"]
    IDS.update(thing=tid, ds=sub("Datastreams")[0]["@iot.id"], loc=sub("Locations")[0]["@iot.id"],
               hl=sub("HistoricalLocations")[0]["@iot.id"])
    d = IDS["ds"]
    ga = lambda p: req("GET", "/v1.1/Datastreams(%d)/%s" % (d, p), key="a_write").json()
    IDS.update(sensor=ga("Sensor")["@iot.id"], op=ga("ObservedProperty")["@iot.id"],
               obs=[o["@iot.id"] for o in ga("Observations")["value"]])
    IDS["foi"] = req("GET", "/v1.1/Observations(%d)/FeatureOfInterest" % IDS["obs"][0],
                     key="a_write").json()["@iot.id"]
    assert len(IDS["obs"]) == 4, IDS
    # a public Thing of firm B, for the write rule
    r = req("POST", "/v1.1/Things", tw.deep_thing("b public", n_obs=1), key="b_write")
    assert r.status == 201, r.body
    IDS["b_thing"] = r.json()["@iot.id"]
    return IDS


def outsiders():
    return (None, "b_read", "b_write")


def insiders():
    return ("a_write", "a_read", "admin")


def by_id_paths(ids):
    return ["/v1.1/Things(%d)" % ids["thing"], "/v1.1/Datastreams(%d)" % ids["ds"],
            "/v1.1/Locations(%d)" % ids["loc"], "/v1.1/HistoricalLocations(%d)" % ids["hl"],
            "/v1.1/Sensors(%d)" % ids["sensor"], "/v1.1/ObservedProperties(%d)" % ids["op"],
            "/v1.1/FeaturesOfInterest(%d)" % ids["foi"],
            "/v1.1/Observations(%d)" % ids["obs"][0],
            "/v1.1/Things(%d)/name" % ids["thing"],
            "/v1.1/Things(%d)/name/$value" % ids["thing"],
            "/v1.1/Datastreams(%d)/Thing" % ids["ds"],
            "/v1.1/Observations(%d)/Datastream" % ids["obs"][0],
            "/v1.1/Datastreams(%d)/Observations" % ids["ds"],
            "/v1.1/Things(%d)/Datastreams" % ids["thing"],
            "/v1.1/Datastreams(%d)/Observations/aggregate?interval=day&from=2026-11-20T00:00:00Z"
            "&to=2026-12-01T00:00:00Z" % ids["ds"]]


SECRET = b"secret"


def probe(key, path, params=None, status=None):
    r = req("GET", path, key=key, params=params)
    PROBES[0] += 1
    if status is not None:
        assert r.status == status, (key, path, params, r.status, r.body[:400])
    assert SECRET not in r.body, (key, path, params, r.body[:600])
    return r


def test_hidden_by_id():
    ids = setup_private()
    for key in outsiders():
        for p in by_id_paths(ids):
            r = probe(key, p)
            # navigation to a collection under a hidden entity: 404 or an empty page
            assert r.status == 404 or (r.status == 200 and r.json().get("value") == []), \
                (key, p, r.status, r.body[:300])
            if "/" not in p[6:] or p.endswith(")") or "name" in p:
                assert r.status == 404, (key, p, r.status)
    for key in insiders():
        for p in by_id_paths(ids):
            r = req("GET", p, key=key)
            assert r.status == 200, (key, p, r.status, r.body[:300])
        assert req("GET", by_id_paths(ids)[0], key=key).json()["name"] == "secret pump"


def test_hidden_in_collections_counts_filters():
    ids = setup_private()
    sets = ("Things", "Datastreams", "Locations", "HistoricalLocations", "Sensors",
            "ObservedProperties", "Observations", "FeaturesOfInterest")
    seen = {}
    for key in outsiders() + insiders():
        seen[key] = {}
        for s in sets:
            r = probe(key, "/v1.1/" + s, [("$count", "true"), ("$top", "100")]) if key in outsiders() \
                else req("GET", "/v1.1/" + s, key=key, params=[("$count", "true"), ("$top", "100")])
            assert r.status == 200, (key, s, r.body[:300])
            j = r.json()
            idset = {e["@iot.id"] for e in j["value"]}
            seen[key][s] = (j["@iot.count"], idset)
    for key in outsiders():
        assert ids["thing"] not in seen[key]["Things"][1]
        assert ids["ds"] not in seen[key]["Datastreams"][1]
        assert not set(ids["obs"]) & seen[key]["Observations"][1]
        for s in sets:  # the counts say nothing either
            assert seen["admin"][s][0] > seen[key][s][0], (key, s, seen["admin"][s], seen[key][s])
    for key in insiders():
        assert ids["thing"] in seen[key]["Things"][1]
        assert set(ids["obs"]) <= seen[key]["Observations"][1]
    # $filter probing through navigation paths, $expand, $orderby over everything
    probes = [
        ("/v1.1/Datastreams", [("$filter", "Thing/name eq 'secret pump'")]),
        ("/v1.1/Things", [("$filter", "startswith(name, 'secret')")]),
        ("/v1.1/Observations", [("$filter", "Datastream/Thing/name eq 'secret pump'")]),
        ("/v1.1/Observations", [("$filter", "Datastream/ObservedProperty/name eq 'secret quantity'")]),
        ("/v1.1/Sensors", [("$filter", "Datastreams/Thing/properties/access eq 'private'")]),
        ("/v1.1/FeaturesOfInterest", [("$filter", "Observations/Datastream/name eq 'secret level'")]),
        ("/v1.1/Locations", [("$filter", "Things/name eq 'secret pump'")]),
        ("/v1.1/Things", [("$expand", "Datastreams($expand=Observations),Locations"), ("$top", "100")]),
        ("/v1.1/Sensors", [("$expand", "Datastreams($expand=Thing)"), ("$top", "100")]),
        ("/v1.1/Locations", [("$expand", "Things,HistoricalLocations"), ("$top", "100")]),
    ]
    for key in outsiders():
        for path, params in probes:
            r = probe(key, path, params + [("$count", "true")], status=200)
            j = r.json()
            if "$filter" in dict(params):
                assert j["value"] == [] and j["@iot.count"] == 0, (key, path, params, j)
    for path, params in probes[:7]:
        j = req("GET", path, key="a_read", params=params + [("$count", "true")]).json()
        assert j["@iot.count"] >= 1, (path, params, j)


def test_hidden_in_outputs():
    ids = setup_private()
    for key in outsiders():
        for s in ("Things", "Datastreams", "Observations"):
            r = probe(key, "/v1.1/" + s, [("$resultFormat", "CSV")], status=200)
            assert r.headers.get("content-type", "").startswith("text/csv"), r.headers
        r = probe(key, "/v1.1/Things", [("$resultFormat", "GeoJSON")], status=200)
        r = probe(key, "/v1.1/Datastreams/latest", status=200)
        assert ids["ds"] not in [v["Datastream@iot.id"] for v in r.json()["value"]]
        r = probe(key, "/v1.1/Datastreams/latest", [("ids", str(ids["ds"]))], status=200)
        assert r.json()["value"][0]["result"] is None, r.body
        probe(key, "/v2/entities", [("limit", "1000")], status=200)
        probe(key, "/v2/entities/secret%20pump", status=404)
        probe(key, "/v1.1/Datastreams(%d)/Observations/stream" % ids["ds"], status=404)
    for key in insiders():
        r = req("GET", "/v1.1/Observations", key=key, params=[("$resultFormat", "CSV")])
        assert r.status == 200 and SECRET not in r.body  # Observations carry no names
        assert r.body.count(b"\n") >= 5, r.body[:300]
        r = req("GET", "/v1.1/Things", key=key, params=[("$resultFormat", "CSV")])
        assert b"secret pump" in r.body, r.body[:300]
        r = req("GET", "/v1.1/Datastreams/latest", key=key, params=[("ids", str(ids["ds"]))])
        assert r.json()["value"][0]["result"] is not None, r.body
        r = req("GET", "/v2/entities", key=key, params=[("limit", "1000")])
        assert b"secret pump" in r.body, r.body[:300]


def test_other_firm_cannot_write():
    ids = setup_private()
    n_obs = len(req("GET", "/v1.1/Datastreams(%d)/Observations" % ids["ds"], key="admin").json()["value"])
    for key in ("b_write",):
        for p in by_id_paths(ids)[:8]:
            for m in ("PATCH", "DELETE"):
                r = req(m, p, {"name": "taken"} if m == "PATCH" else None, key=key)
                PROBES[0] += 1
                assert r.status == 404, (m, p, r.status, r.body[:300])
        r = req("POST", "/v1.1/Datastreams(%d)/Observations" % ids["ds"],
                {"phenomenonTime": tw.ts(100), "result": 9}, key=key)
        assert r.status == 404, r.body
        r = req("POST", "/v1.1/Things", {"name": "b2", "description": "d",
                                         "Locations": [{"@iot.id": ids["loc"]}]}, key=key)
        assert r.status == 404, r.body
        r = req("POST", "/v1.1/CreateObservations",
                [{"Datastream": {"@iot.id": ids["ds"]}, "components": ["phenomenonTime", "result"],
                  "dataArray": [[tw.ts(101), 1]]}], key=key)
        assert r.status in (200, 201, 404) and b"secret" not in r.body, r.body
        if r.status != 404:
            assert all("error" in str(x).lower() for x in r.json()), r.body
    after = req("GET", "/v1.1/Datastreams(%d)/Observations" % ids["ds"], key="admin").json()["value"]
    assert len(after) == n_obs
    assert req("GET", "/v1.1/Things(%d)" % ids["thing"], key="a_read").json()["name"] == "secret pump"
    # firm A changes its own; admin may change anything
    r = req("PATCH", "/v1.1/Things(%d)" % ids["thing"], {"description": "still ours"}, key="a_write")
    assert r.status == 200, r.body
    r = req("PATCH", "/v1.1/Things(%d)" % ids["b_thing"], {"description": "by admin"}, key="admin")
    assert r.status == 200, r.body


def test_scope_escalation():
    ids = setup_private()
    r = req("POST", "/v1.1/Things", {"name": "x", "description": "y"}, key="a_read")
    assert r.status == 403 and r.json()["code"] == "EFORBIDDEN", r.body
    for m, p in (("GET", "/admin/devices"), ("GET", "/admin/"), ("POST", "/admin/devices")):
        r = req(m, p, key="a_write")
        assert r.status in (403, 405) and r.status != 200, (m, p, r.status, r.body[:300])
        if m == "GET":
            assert r.status == 403, (p, r.status, r.body[:300])
    # a key naming another owner: refused, nothing created
    before = req("GET", "/v1.1/Things", key="admin", params=[("$count", "true"), ("$top", "0")]).json()["@iot.count"]
    t = private_thing()
    t["properties"]["owner"] = "Firm A"
    r = req("POST", "/v1.1/Things", t, key="b_write")
    assert r.status == 403 and "Firm A" in r.json()["message"], r.body
    r = req("PATCH", "/v1.1/Things(%d)" % ids["b_thing"], {"properties": {"owner": "Firm A"}}, key="b_write")
    assert r.status == 403, r.body
    r = req("POST", "/v1.1/Things", dict(t, properties={"access": "secret"}), key="b_write")
    assert r.status == 400, r.body
    after = req("GET", "/v1.1/Things", key="admin", params=[("$count", "true"), ("$top", "0")]).json()["@iot.count"]
    assert after == before
    # writes to what another owner (or the city) created: 403, the entity unchanged
    r = req("PATCH", "/v1.1/Things(%d)" % ids["b_thing"], {"name": "taken"}, key="a_write")
    assert r.status == 403 and r.json()["code"] == "EFORBIDDEN", r.body
    r = req("DELETE", "/v1.1/Things(%d)" % ids["b_thing"], key="a_write")
    assert r.status == 403, r.body
    city = req("GET", "/v1.1/Things", params=[("$filter", "name eq 'wl-city-1'")]).json()["value"][0]["@iot.id"]
    r = req("PATCH", "/v1.1/Things(%d)" % city, {"properties": {"access": "private"}}, key="b_write")
    assert r.status == 403, r.body
    r = req("DELETE", "/v1.1/Things(%d)" % city, key="a_write")
    assert r.status == 403, r.body
    # nor through a deep insert: the city's Datastream moved under a new Thing, a new
    # Location added to the city's Thing
    city_ds = req("GET", "/v1.1/Things(%d)/Datastreams" % city).json()["value"][0]["@iot.id"]
    r = req("POST", "/v1.1/Things", {"name": "thief", "description": "d",
                                     "Datastreams": [{"@iot.id": city_ds}]}, key="b_write")
    assert r.status == 403, r.body
    r = req("POST", "/v1.1/Locations", {"name": "elsewhere", "description": "d",
                                        "encodingType": "application/geo+json",
                                        "location": {"type": "Point", "coordinates": [0, 0]},
                                        "Things": [{"@iot.id": city}]}, key="b_write")
    assert r.status == 403, r.body
    # nor readings into the city's Datastream, nor a Datastream onto the city's Thing
    n_ds = len(req("GET", "/v1.1/Things(%d)/Datastreams" % city).json()["value"])
    r = req("POST", "/v1.1/Datastreams(%d)/Observations" % city_ds,
            {"phenomenonTime": tw.ts(5), "result": 99}, key="b_write")
    assert r.status == 403, r.body
    r = req("POST", "/v1.1/Things(%d)/Datastreams" % city, tw.deep_thing("x")["Datastreams"][0],
            key="b_write")
    assert r.status == 403, r.body
    assert req("GET", "/v1.1/Datastreams(%d)/Observations" % city_ds).json()["value"] == []
    assert len(req("GET", "/v1.1/Things(%d)/Datastreams" % city).json()["value"]) == n_ds
    assert req("GET", "/v1.1/Datastreams(%d)/Thing" % city_ds).json()["@iot.id"] == city
    assert len(req("GET", "/v1.1/Things(%d)/Locations" % city).json()["value"]) == 1
    assert req("GET", "/v1.1/Things(%d)" % city).status == 200


def test_revoked_while_running():
    setup_private()
    assert req("GET", "/v1.1/Things", key="b_gone").status == 200
    S.admin("apikey", "revoke", KID["b_gone"])
    r = req("GET", "/v1.1/Things", key="b_gone")
    assert r.status == 401 and "revoked" in r.json()["message"], r.body


def test_figure_and_clean_log():
    stack()
    print("private data probes answered without it: %d" % PROBES[0])
    log = S.log("api")
    assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]


if __name__ == "__main__":
    rc = tkfix.main([test_hidden_by_id, test_hidden_in_collections_counts_filters,
                     test_hidden_in_outputs, test_other_firm_cannot_write, test_scope_escalation,
                     test_revoked_while_running, test_figure_and_clean_log])
    if S is not None:
        S.close()
        if rc == 0 and os.environ.get("TAKUMI_KEEP") != "1":
            shutil.rmtree(S.dir, ignore_errors=True)
        else:
            print("test_api_firms: kept %s" % S.dir, file=sys.stderr)
    sys.exit(rc)
