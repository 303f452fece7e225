#!/usr/bin/python3
"""takumi-api access control end to end: the real broker and ingest (tkfix), keys made with
takumi-admin apikey, readings published with mosquitto_pub, every request made with the
real curl.

- keys are kept hashed: no key (nor its secret part) in the database file, only its prefix
  and SHA-256; apikey list shows prefixes; the API log never shows a key
- anonymous, read, read:raw, write and admin callers on each kind of endpoint (service
  root, collections, entities, $expand, dataArray, latest, aggregate, OpenAPI, operator
  view): reads for all, the operator view for admin only (401 without a key, 403 with
  another scope), both ways of sending a key
- a wrong key, another Authorization scheme, two different keys: 401 JSON with
  WWW-Authenticate: Bearer
- a key revoked with takumi-admin while the API keeps running is refused from the next
  request on (same process, and a second API process on the same store agrees)
- 429 with Retry-After after a key's rate, served again after that many seconds; the same
  per client address without a key (a second address keeps its own bucket)
- the privacy rule: people and Wi-Fi counts under 10 are null with resultQuality
  "suppressed" for anonymous callers and read keys in Observations, $expand, dataArray,
  latest and aggregates, and invisible to $filter; read:raw and admin keys see them
- /admin/ingest counters from the ingest, /admin/quarantine newest first with reasons,
  paged, by device and time, /admin/devices (delivery state, newest reading), paged
"""
import calendar
import hashlib
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402
import test_api as ta  # noqa: E402

API = ta.API
T0 = calendar.timegm((2026, 11, 26, 15, 0, 0))
S = None
BASE = None
K = {}  # name -> (id, key)
ANON_RATE = 20  # of the second API process (test_rate_limit_anonymous)


def reading(dev, seq, t, **fields):
    r = {"v": 1, "id": dev, "seq": seq, "ts": t * 1000}
    r.update(fields)
    return json.dumps(r)


def start_api(port, *extra):
    p = S.spawn("api-%d" % port, [API, "--data", S.dir, "--http-port", port, *S.db_args,
                                  "--page-max", 50, "--threads", 2, "--log-level", 3, *extra])
    if not tkfix.wait_port(tkfix.HOST, port, 10):
        raise tkfix.FixtureError("takumi-api did not listen (exit %s):\n%s"
                                 % (p.poll(), S.log("api-%d" % port)))
    return p


def stack():
    global S, BASE
    if S is not None:
        return S
    S = tkfix.Stack("api_auth")
    S.start_broker()
    pw_wl = S.add_device("water_level", "wl-acc-1", mount_height_m=3.2)
    pw_pf = S.add_device("people_flow", "pf-acc-1")
    pw_ap = S.add_device("wifi_ap", "ap-acc-1")
    S.start_ingest()
    for i in range(1, 4):
        S.pub("wl-acc-1", pw_wl, "city/water_level/wl-acc-1/reading",
              reading("wl-acc-1", i, T0 + 60 * i, distance_mm=3000 - i, battery_v=3.6))
    # people: 3 in (withheld), 12 out; then 25 in, 4 out (withheld)
    S.pub("pf-acc-1", pw_pf, "city/people_flow/pf-acc-1/reading",
          reading("pf-acc-1", 1, T0, interval_s=900, **{"in": 3, "out": 12}))
    S.pub("pf-acc-1", pw_pf, "city/people_flow/pf-acc-1/reading",
          reading("pf-acc-1", 2, T0 + 900, interval_s=900, **{"in": 25, "out": 4}))
    # Wi-Fi: 5 devices / 2 associated (withheld), then 40 / 15
    S.pub("ap-acc-1", pw_ap, "city/wifi_ap/ap-acc-1/reading",
          reading("ap-acc-1", 1, T0, interval_s=300, unique_devices=5, associated=2))
    S.pub("ap-acc-1", pw_ap, "city/wifi_ap/ap-acc-1/reading",
          reading("ap-acc-1", 2, T0 + 300, interval_s=300, unique_devices=40, associated=15))
    # two refused messages, for the quarantine view
    S.pub("pf-acc-1", pw_pf, "city/people_flow/pf-acc-1/reading", "not json at all")
    S.pub("ap-acc-1", pw_ap, "city/wifi_ap/ap-acc-1/reading",
          reading("ap-acc-1", 3, T0 + 600, interval_s=300, unique_devices=-1, associated=0))

    def settled():
        n = S.sql_rows("SELECT (SELECT count(*) FROM all_observations),"
                       " (SELECT count(*) FROM quarantine)",
                       "SELECT (SELECT count(*) FROM observations),"
                       " (SELECT count(*) FROM quarantine)")[0]
        return n[0] >= 6 + 4 + 4 and n[1] >= 2
    tkfix.wait_for(settled, 20, "the readings and refusals to be stored")

    K["read"] = S.add_apikey("Acme Mobility", "read", rate=100000)
    K["raw"] = S.add_apikey("University lab", "read:raw", rate=100000)
    K["write"] = S.add_apikey("Sewer works", "write", rate=100000)
    K["admin"] = S.add_apikey("City operations", "admin")
    K["limited"] = S.add_apikey("Small app", "read", rate=30)
    K["revoke"] = S.add_apikey("Former partner", "read")
    port = tkfix.free_port()
    start_api(port, "--anon-rate", 100000)
    BASE = "http://%s:%d" % (tkfix.HOST, port)
    return S


def call(path, params=None, key=None, how="x", base=None, extra=()):
    """GET with curl as a caller: key None (anonymous) or a key name / raw text; how "x"
    (X-API-Key) or "bearer"."""
    args = list(extra)
    if key is not None:
        k = K[key][1] if key in K else key
        args += ["-H", ("Authorization: Bearer %s" % k) if how == "bearer" else ("X-API-Key: %s" % k)]
    return ta.curl(None, params, extra=args, full_url=(base or BASE) + path)


def ok(path, params=None, **kw):
    r = call(path, params, **kw)
    assert r.status == 200, "%s %s as %s: %d %s" % (path, params, kw.get("key"), r.status, r.body[:300])
    return r.json()


def refused(r, status, code):
    assert r.status == status, (r.status, r.body)
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body["code"] == code and body["message"], body
    if status == 401:
        assert r.headers.get("www-authenticate", "").startswith("Bearer"), r.headers
    return body


def thing(name):
    return [x for x in ok("/v1.1/Things")["value"] if x["name"] == name][0]["@iot.id"]


def ds_of(thing_name, quantity):
    return [d for d in ok("/v1.1/Things(%d)/Datastreams" % thing(thing_name))["value"]
            if d["name"].endswith(" " + quantity)][0]["@iot.id"]


# ---- tests ----------------------------------------------------------------------------------

def test_keys_hashed():
    stack()
    data = S.store_bytes()
    rows = {r[0]: r for r in S.sql_rows("SELECT id, prefix, lower(hex(hash)), scopes FROM api_keys",
                                        "SELECT id, prefix, encode(hash, 'hex'), scopes"
                                        " FROM api_keys")}
    for name, (kid, key) in K.items():
        assert re.fullmatch(r"tk_[A-Za-z0-9_-]{43}", key), key
        assert key.encode() not in data and key[10:].encode() not in data, name
        assert rows[kid][1] == key[:10], rows[kid]
        assert rows[kid][2] == hashlib.sha256(key.encode()).hexdigest(), name
    assert rows[K["raw"][0]][3] == "read:raw"
    out = S.admin("apikey", "list").stdout
    assert "University lab" in out and K["raw"][1][:10] in out and K["raw"][1] not in out, out
    # refusals of the tool
    r = S.admin("apikey", "add", "--owner", "x", "--scope", "read,everything", check=False)
    assert r.returncode == 2 and "unknown scope 'everything'" in r.stderr, r.stderr
    r = S.admin("apikey", "add", "--scope", "read", check=False)
    assert r.returncode == 2 and "--owner" in r.stderr, r.stderr
    r = S.admin("apikey", "add", "--owner", "x", "--scope", "read", "--rate", "0", check=False)
    assert r.returncode == 2 and "--rate" in r.stderr, r.stderr
    r = S.admin("apikey", "revoke", "999", check=False)
    assert r.returncode == 1 and "no key 999" in r.stderr, r.stderr
    r = S.admin("apikey", "revoke", "x1", check=False)
    assert r.returncode == 2, r.stderr


def test_scopes_on_each_endpoint():
    stack()
    wl = ds_of("wl-acc-1", "water_level")
    pf_in = ds_of("pf-acc-1", "people_in")
    reads = [
        ("/v1.1", None),
        ("/v1.1/Things", None),
        ("/v1.1/Things(1)", [("$expand", "Datastreams($expand=Observations)")]),
        ("/v1.1/Datastreams(%d)/Observations" % wl, [("$resultFormat", "dataArray")]),
        ("/v1.1/Observations", [("$filter", "result gt 0")]),
        ("/v1.1/Datastreams/latest", [("ids", "%d,%d" % (wl, pf_in))]),
        ("/v1.1/Datastreams(%d)/Observations/aggregate" % pf_in,
         [("interval", "hour"), ("from", "2026-11-26T14:00:00Z"), ("to", "2026-11-26T16:00:00Z")]),
        ("/openapi.json", None),
    ]
    admin_paths = ["/admin/ingest", "/admin/quarantine", "/admin/devices"]
    for who in (None, "read", "raw", "write", "admin"):
        for how in ("x", "bearer"):
            for path, params in reads:
                ok(path, params, key=who, how=how)
            for path in admin_paths:
                r = call(path, key=who, how=how)
                if who == "admin":
                    assert r.status == 200, (path, r.status, r.body)
                elif who is None:
                    body = refused(r, 401, "EUNAUTH")
                    assert "admin scope" in body["message"], body
                else:
                    body = refused(r, 403, "EFORBIDDEN")
                    assert "admin scope" in body["message"] and str(K[who][0]) in body["message"], body
    # unknown paths stay 404 for everyone, admin included
    refused(call("/admin/nothing", key="admin"), 404, "ENOTFOUND")
    refused(call("/admin/nothing"), 401, "EUNAUTH")  # no hint of what exists without a key
    # writes need the write scope (test_api_write.py covers them)
    body = refused(call("/v1.1/Things", extra=("-X", "DELETE")), 401, "EUNAUTH")
    assert "write scope" in body["message"], body
    refused(call("/v1.1/Things(1)", key="read", extra=("-X", "DELETE")), 403, "EFORBIDDEN")


def test_wrong_keys():
    stack()
    _, good = K["read"]
    wrong = good[:-1] + ("A" if good[-1] != "A" else "B")  # the right prefix, a wrong secret
    for key in (wrong, "tk_short", "' OR 1=1 --", good + "x"):
        for how in ("x", "bearer"):
            body = refused(call("/v1.1/Things", key=key, how=how), 401, "EUNAUTH")
            assert "unknown API key" in body["message"], body
    body = refused(call("/v1.1/Things", extra=("-H", "Authorization: Basic dXNlcjpwdw==")), 401,
                   "EUNAUTH")
    assert "Bearer" in body["message"], body
    r = call("/v1.1/Things", key="raw", how="bearer", extra=("-H", "X-API-Key: " + K["read"][1]))
    refused(r, 401, "EUNAUTH")
    # the same key in both headers is fine
    ok("/v1.1/Things", key="read", how="bearer", extra=("-H", "X-API-Key: " + K["read"][1]))
    # a refusal of a key never echoes it, and the log never holds one
    assert wrong.encode() not in call("/v1.1/Things", key=wrong).body


def test_revoked_while_running():
    stack()
    api = [p for n, p in S._procs if n.startswith("api-")][0]
    ok("/v1.1/Things", key="revoke")
    port2 = tkfix.free_port()
    start_api(port2)
    base2 = "http://%s:%d" % (tkfix.HOST, port2)
    ok("/v1.1/Things", key="revoke", base=base2)
    out = S.admin("apikey", "revoke", K["revoke"][0]).stdout
    assert "revoked" in out, out
    for base in (BASE, base2):
        body = refused(call("/v1.1/Things", key="revoke", base=base), 401, "EUNAUTH")
        assert "revoked" in body["message"], body
    assert api.poll() is None, "the API restarted"
    ok("/v1.1/Things", key="read")  # others unaffected
    listed = S.admin("apikey", "list").stdout
    line = [ln for ln in listed.splitlines() if ln.startswith("%d " % K["revoke"][0])][0]
    assert re.search(r"\d{4}-\d\d-\d\dT.*Z\s*$", line), line


def test_rate_limit_key():
    stack()
    served = 0
    r = None
    t0 = time.monotonic()
    for _ in range(90):  # 30 a minute: a burst of 30, then one every 2 s
        r = call("/v1.1/Things", key="limited")
        if r.status != 200:
            break
        served += 1
    refill = (time.monotonic() - t0) / 2  # what the bucket gained meanwhile
    assert 30 <= served <= 30 + refill + 1, (served, refill)
    body = refused(r, 429, "ERATE")
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= 2 and str(wait) in body["message"], (wait, body)
    ok("/v1.1/Things", key="read")  # another key is not held back
    time.sleep(wait)
    ok("/v1.1/Things", key="limited")


def test_rate_limit_anonymous():
    stack()
    port = tkfix.free_port()
    start_api(port, "--anon-rate", ANON_RATE)
    base = "http://%s:%d" % (tkfix.HOST, port)
    served = 0
    r = None
    t0 = time.monotonic()
    for _ in range(ANON_RATE * 3):
        r = call("/v1.1", base=base)
        if r.status != 200:
            break
        served += 1
    refill = (time.monotonic() - t0) * ANON_RATE / 60
    assert ANON_RATE <= served <= ANON_RATE + refill + 1, (served, refill)
    refused(r, 429, "ERATE")
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= 60 // ANON_RATE, wait
    # wrong keys are charged to the address too; a good key has its own bucket
    refused(call("/v1.1", base=base, key="tk_" + "A" * 43), 429, "ERATE")
    ok("/v1.1", base=base, key="read")
    # another client address has its own bucket
    ok("/v1.1", base=base, extra=("--interface", "127.0.0.2"))
    time.sleep(wait)
    ok("/v1.1", base=base)


def obs_values(path, params=None, **kw):
    return [(o.get("result"), o.get("resultQuality")) for o in ok(path, params, **kw)["value"]]


def test_suppression():
    stack()
    pf_in = ds_of("pf-acc-1", "people_in")
    pf_out = ds_of("pf-acc-1", "people_out")
    ap_u = ds_of("ap-acc-1", "unique_devices")
    ap_a = ds_of("ap-acc-1", "associated")
    wl = ds_of("wl-acc-1", "water_level")
    pf_thing = thing("pf-acc-1")
    small_things = [("$filter", "Datastreams/Observations/result lt 10"), ("$orderby", "id")]
    S_ = "suppressed"
    agg = [("interval", "day"), ("from", "2026-11-26T00:00:00Z"), ("to", "2026-11-27T00:00:00Z")]
    for who in (None, "read", "write"):  # none of them holds read:raw
        # collections, newest first
        assert obs_values("/v1.1/Datastreams(%d)/Observations" % pf_in, key=who) == [(25, None), (None, S_)]
        assert obs_values("/v1.1/Datastreams(%d)/Observations" % pf_out, key=who) == [(None, S_), (12, None)]
        assert obs_values("/v1.1/Datastreams(%d)/Observations" % ap_u, key=who) == [(40, None), (None, S_)]
        assert obs_values("/v1.1/Datastreams(%d)/Observations" % ap_a, key=who) == [(15, None), (None, S_)]
        assert all(q is None and v is not None
                   for v, q in obs_values("/v1.1/Datastreams(%d)/Observations" % wl, key=who))
        # an entity by id, its result property
        small = ok("/v1.1/Datastreams(%d)/Observations" % pf_in, key=who)["value"][1]
        one = ok("/v1.1/Observations(%d)" % small["@iot.id"], key=who)
        assert one["result"] is None and one["resultQuality"] == S_, one
        r = call("/v1.1/Observations(%d)/result" % small["@iot.id"], key=who)
        assert r.status == 204 and r.body == b"", (r.status, r.body)
        # $expand, nested
        t = ok("/v1.1/Things(%d)" % pf_thing,
               [("$expand", "Datastreams($orderby=id;$expand=Observations($orderby=phenomenonTime))")],
               key=who)
        got = {d["@iot.id"]: [(o["result"], o.get("resultQuality")) for o in d["Observations"]]
               for d in t["Datastreams"]}
        assert got[pf_in] == [(None, S_), (25, None)] and got[pf_out] == [(12, None), (None, S_)], got
        # dataArray: the value is null, and a resultQuality component says why
        da = ok("/v1.1/Datastreams(%d)/Observations" % pf_in, [("$resultFormat", "dataArray")],
                key=who)["value"][0]
        ri, qi = da["components"].index("result"), da["components"].index("resultQuality")
        assert [(row[ri], row[qi]) for row in da["dataArray"]] == [(25, None), (None, S_)], da
        da = ok("/v1.1/Datastreams(%d)/Observations" % wl, [("$resultFormat", "dataArray")],
                key=who)["value"][0]
        assert "resultQuality" not in da["components"], da  # water levels are never withheld
        # filters and ordering cannot see a withheld value
        assert ok("/v1.1/Observations", [("$filter", "result eq 3")], key=who)["value"] == []
        assert [x["name"] for x in ok("/v1.1/Things", small_things, key=who)["value"]] == ["wl-acc-1"]
        n = ok("/v1.1/Datastreams(%d)/Observations" % pf_out,
               [("$filter", "result eq null"), ("$count", "true")], key=who)
        assert n["@iot.count"] == 1, n
        # latest: 25 in (shown), 4 out (withheld); water level as it is
        lv = ok("/v1.1/Datastreams/latest", [("ids", "%d,%d,%d" % (pf_in, pf_out, wl))], key=who)["value"]
        assert lv[0]["result"] == 25 and "resultQuality" not in lv[0], lv
        assert lv[1]["result"] is None and lv[1]["resultQuality"] == S_, lv
        assert lv[2]["result"] is not None and "resultQuality" not in lv[2], lv
        # aggregates: a bucket holding a withheld count withholds its value aggregates
        a = ok("/v1.1/Datastreams(%d)/Observations/aggregate" % pf_in, agg, key=who)["value"]
        assert len(a) == 1 and a[0]["count"] == 2 and a[0]["resultQuality"] == S_, a
        assert a[0]["sum"] is None and a[0]["min"] is None and a[0]["max"] is None and a[0]["avg"] is None, a
        hourly = ok("/v1.1/Datastreams(%d)/Observations/aggregate" % ap_u,
                    [("interval", "minute")] + agg[1:], key=who)["value"]
        assert [(b["sum"], b.get("resultQuality")) for b in hourly] == [(None, S_), (40, None)], hourly
    for who in ("raw", "admin"):
        assert obs_values("/v1.1/Datastreams(%d)/Observations" % pf_in, key=who) == [(25, None), (3, None)]
        assert obs_values("/v1.1/Datastreams(%d)/Observations" % ap_a, key=who) == [(15, None), (2, None)]
        assert [o["result"] for o in ok("/v1.1/Observations", [("$filter", "result eq 3")], key=who)["value"]] == [3]
        assert [x["name"] for x in ok("/v1.1/Things", small_things, key=who)["value"]] == \
            ["wl-acc-1", "pf-acc-1", "ap-acc-1"]
        lv = ok("/v1.1/Datastreams/latest", [("ids", "%d" % pf_out)], key=who)["value"]
        assert lv[0]["result"] == 4 and "resultQuality" not in lv[0], lv
        a = ok("/v1.1/Datastreams(%d)/Observations/aggregate" % pf_in, agg, key=who)["value"]
        assert a[0]["sum"] == 28 and a[0]["min"] == 3 and "resultQuality" not in a[0], a
        da = ok("/v1.1/Datastreams(%d)/Observations" % pf_in, [("$resultFormat", "dataArray")],
                key=who)["value"][0]
        assert None not in [row[da["components"].index("result")] for row in da["dataArray"]], da
        assert "resultQuality" not in da["components"], da


def test_admin_views():
    stack()

    def counters():
        c = ok("/admin/ingest", key="admin")
        return c if c["counters"].get("quarantined", 0) >= 2 else None
    c = tkfix.wait_for(counters, 20, "the ingest to commit its counters")
    v = c["counters"]
    assert c["updatedAt"].endswith("Z"), c
    # 9 messages: 7 readings (3 water level, 2 people, 2 Wi-Fi, 2 values each) and 2 refused
    assert (v["received"], v["readings"], v["stored"]) == (9, 7, 14), v
    assert (v["quarantined"], v["quarantined_EPROTO"], v["quarantined_ESCHEMA"]) == (2, 1, 1), v
    assert v["acks_sent"] >= 1 and v["duplicates"] == 0 and v["commit_failures"] == 0, v
    for name in ("duplicates", "queue_depth", "commits", "started_at_us"):
        assert name in v, v
    q = ok("/admin/quarantine", key="admin")["value"]
    assert len(q) >= 2 and q[0]["id"] > q[1]["id"], q  # newest first
    assert all(e["reason"] and e["code"] and e["receivedAt"].endswith("Z") for e in q), q
    by_dev = {e["deviceId"]: e for e in q}
    assert by_dev["pf-acc-1"]["payload"] == "not json at all", by_dev
    assert by_dev["ap-acc-1"]["path"] == "/unique_devices", by_dev["ap-acc-1"]
    # paging: one at a time, following @iot.nextLink
    page = ok("/admin/quarantine", [("top", "1")], key="admin")
    assert len(page["value"]) == 1 and "@iot.nextLink" in page, page
    nxt = call("", key="admin", base=page["@iot.nextLink"])
    assert nxt.status == 200 and nxt.json()["value"][0]["id"] < page["value"][0]["id"], nxt.body
    # by device and time
    only = ok("/admin/quarantine", [("device", "ap-acc-1")], key="admin")["value"]
    assert only and all(e["deviceId"] == "ap-acc-1" for e in only), only
    assert ok("/admin/quarantine", [("to", "2001-01-01T00:00:00Z")], key="admin")["value"] == []
    assert len(ok("/admin/quarantine", [("from", "2001-01-01T00:00:00Z")], key="admin")["value"]) == len(q)
    for bad in ([("top", "0")], [("top", "x")], [("from", "yesterday")], [("colour", "red")],
                [("device", "a"), ("device", "b")]):
        refused(call("/admin/quarantine", bad, key="admin"), 400, "EINVAL")
    # device health, by id, a page at a time
    devs = ok("/admin/devices", key="admin")["value"]
    assert [d["deviceId"] for d in devs] == ["ap-acc-1", "pf-acc-1", "wl-acc-1"], devs
    wl = devs[2]
    assert wl["kind"] == "water_level" and wl["Thing@iot.id"] == thing("wl-acc-1"), wl
    assert wl["delivery"] == {"watermark": 3, "pendingAboveGap": 0, "gapSince": None}, wl
    assert wl["lastPhenomenonTime"] == "2026-11-26T15:03:00.000000Z", wl
    assert devs[1]["delivery"]["watermark"] == 2, devs[1]
    seen, url = [], "/admin/devices?top=1"
    while url:
        page = call("", key="admin", base=url if url.startswith("http") else BASE + url).json()
        assert len(page["value"]) == 1, page
        seen.append(page["value"][0]["deviceId"])
        url = page.get("@iot.nextLink")
    assert seen == ["ap-acc-1", "pf-acc-1", "wl-acc-1"], seen
    assert ok("/admin/devices", [("after", "wl-acc-1")], key="admin")["value"] == []
    for bad in ([("top", "1001")], [("after", "a"), ("after", "b")], [("device", "x")]):
        refused(call("/admin/devices", bad, key="admin"), 400, "EINVAL")


def test_openapi_security():
    stack()
    doc = ok("/openapi.json")
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerKey"] == {"type": "http", "scheme": "bearer",
                                    "description": schemes["bearerKey"]["description"]}, schemes
    assert schemes["headerKey"]["in"] == "header" and schemes["headerKey"]["name"] == "X-API-Key"
    for code, name in (("401", "Unauthorized"), ("403", "Forbidden"), ("429", "TooManyRequests")):
        assert name in doc["components"]["responses"], code
    assert "Retry-After" in doc["components"]["responses"]["TooManyRequests"]["headers"]
    for p in ("/admin/ingest", "/admin/quarantine", "/admin/devices"):
        responses = doc["paths"][p]["get"]["responses"]
        assert {"200", "401", "403", "429"} <= set(responses), responses
    # every $ref resolves
    def refs(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(x, list):
            for v in x:
                yield from refs(v)
    for ref in refs(doc):
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]


def test_api_log_clean():
    stack()
    for name, _ in S._procs:
        if not name.startswith("api-"):
            continue
        log = S.log(name)
        assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]
        for _, key in K.values():
            assert key not in log and key[10:] not in log, name
        assert "tk_" not in log.replace("tk_api", ""), log[-2000:]


if __name__ == "__main__":
    sys.exit(tkfix.main([test_keys_hashed, test_scopes_on_each_endpoint, test_wrong_keys,
                         test_revoked_while_running, test_rate_limit_key,
                         test_rate_limit_anonymous, test_suppression, test_admin_views,
                         test_openapi_security, test_api_log_clean]))
