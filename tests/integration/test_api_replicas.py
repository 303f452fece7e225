#!/usr/bin/python3
"""Two takumi-api replicas on one PostgreSQL store (docs/scale-out.md, API replicas), with
the real broker, ingest, takumi-admin and curl; run under tests/pg/pgserver.py.

- readings the ingest stores are served alike by both replicas (count, latest, the pages)
- an entity written through one replica is read at once through the other, and a change
  made through the second is seen by the first
- a key revoked with takumi-admin is refused by both on their next request
- a replica killed with SIGKILL leaves the other serving everything
"""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402
import test_api as ta  # noqa: E402  (curl, reading)

N = 40
T0 = ta.T0


def call(base, method, path, key=None, body=None):
    extra = ["-X", method]
    if key:
        extra += ["-H", "Authorization: Bearer " + key]
    if body is not None:
        extra += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    return ta.curl(path, extra=extra, full_url=base + path)


def get(base, path, key=None, status=200):
    r = call(base, "GET", path, key)
    assert r.status == status, "%s%s: %d %s" % (base, path, r.status, r.body[:400])
    return r.json() if status == 200 else r


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def same(a, b, base_a, base_b):
    """Two replies equal once each replica's own base URL is taken out."""
    return a.replace(base_a.encode(), b"BASE") == b.replace(base_b.encode(), b"BASE")


def test_two_replicas():
    uri = os.environ.get("TK_TEST_PG_URI")
    assert uri, "run under tests/pg/pgserver.py"
    with tkfix.Stack("api_replicas", store=uri) as st:
        st.start_broker()
        pw = st.add_device("water_level", "wl-rep-1", lat=34.39, lon=132.45, mount_height_m=3.0)
        _, wkey = st.add_apikey("replica writer", "write")
        kid, rkey = st.add_apikey("replica reader", "read")
        st.start_ingest()
        _, a = st.start_api("--threads", 2, name="api1")
        pb, b = st.start_api("--threads", 2, name="api2")

        for i in range(1, N + 1):
            st.pub("wl-rep-1", pw, "city/water_level/wl-rep-1/reading",
                   ta.reading("wl-rep-1", i, (T0 + 60 * i) * 1000, distance_mm=3000 - 10 * i))

        def ds_of(base):
            things = get(base, "/v1.1/Things?$filter=name%20eq%20'wl-rep-1'&$expand=Datastreams")
            assert len(things["value"]) == 1, things
            return things["value"][0]["Datastreams"][0]["@iot.id"]

        ds = ds_of(a)
        assert ds_of(b) == ds
        path = "/v1.1/Datastreams(%d)/Observations?$count=true&$top=10" % ds
        tkfix.wait_for(lambda: get(a, path)["@iot.count"] == N, 30,
                       "replica 1 to serve every reading")
        assert get(b, path)["@iot.count"] == N
        for p in (path, "/v1.1/Datastreams/latest?ids=%d" % ds,
                  "/v1.1/Datastreams(%d)/Observations/aggregate?interval=hour&from=%s&to=%s"
                  % (ds, iso(T0 - 3600), iso(T0 + 7200)),
                  "/v1.1/Things(%d)?$expand=Locations,Datastreams" %
                  get(a, "/v1.1/Datastreams(%d)/Thing" % ds)["@iot.id"]):
            ra, rb = call(a, "GET", p), call(b, "GET", p)
            assert ra.status == rb.status == 200, (p, ra.status, rb.status, rb.body[:300])
            assert same(ra.body, rb.body, a, b), (p, ra.body[:300], rb.body[:300])

        # written through one replica, read through the other at once
        r = call(a, "POST", "/v1.1/Things", wkey,
                 {"name": "pump station 7", "description": "written through replica 1",
                  "Locations": [{"name": "pump 7", "description": "", "encodingType":
                                 "application/geo+json",
                                 "location": {"type": "Point", "coordinates": [132.46, 34.4]}}]})
        assert r.status == 201, r.body
        tid = r.json()["@iot.id"]
        got = get(b, "/v1.1/Things(%d)?$expand=Locations" % tid)
        assert got["description"] == "written through replica 1", got
        assert len(got["Locations"]) == 1, got
        r = call(b, "PATCH", "/v1.1/Things(%d)" % tid, wkey, {"description": "changed on 2"})
        assert r.status == 200, r.body
        assert get(a, "/v1.1/Things(%d)" % tid)["description"] == "changed on 2"

        # a revocation reaches both replicas on their next request
        get(a, "/v1.1/Things", rkey)
        get(b, "/v1.1/Things", rkey)
        st.admin("apikey", "revoke", kid)
        for base in (a, b):
            r = call(base, "GET", "/v1.1/Things", rkey)
            assert r.status == 401, (base, r.status, r.body[:300])

        # one replica lost: the other still serves reads and writes
        st.kill(pb, signal.SIGKILL)
        assert get(a, path)["@iot.count"] == N
        r = call(a, "DELETE", "/v1.1/Things(%d)" % tid, wkey)
        assert r.status == 200, r.body
        get(a, "/v1.1/Things(%d)" % tid, status=404)


if __name__ == "__main__":
    sys.exit(tkfix.main([test_two_replicas]))
