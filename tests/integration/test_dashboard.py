#!/usr/bin/python3
"""The dashboard end to end: the real broker (with its WebSocket listener), ingest and
takumi-api serving the bundle that ./takumi builds (build/dashboard), driven by headless
Chromium (dashboard_e2e.mjs, playwright-core) while mosquitto_pub publishes readings and
alerts; and takumi-api's static file handler checked with curl on a directory made here.

- static files: content types, index.html at /dashboard/, / and /dashboard redirect,
  precompressed .gz for clients that accept gzip (plain otherwise), ETag and 304,
  Cache-Control (a year for assets/, revalidate otherwise), HEAD, 405 for writes, 404 for
  anything outside the directory (.., encoded .., hidden files, symlinks, odd characters)
- /dashboard/config.json: the WebSocket port and the read-only identity's password; a
  clear mqtt_error when the API has no WebSocket port
- in Chromium: no console errors, a marker per provisioned device, a reading published
  with mosquitto_pub moves the right marker (value and state), an alert on
  city/alerts/ID appears highlighted and goes when cleared, Tab reaches a marker and Enter
  opens its details with a history chart, the language toggle; screenshots are kept in
  build/test/artifacts/
"""
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402
from test_api import curl as _curl  # noqa: E402  (one curl helper for the API tests)

API = os.path.join(tkfix.BIN, "api", "takumi-api")
BUNDLE = os.path.join(tkfix.TOP, "build", "dashboard")
ARTIFACTS = os.path.join(tkfix.BIN, "artifacts")
NODE = shutil.which("node") or "/usr/bin/node"
E2E = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboard_e2e.mjs")
MOUNT = 3.2


def start_api(st, static_dir, *extra):
    port = tkfix.free_port()
    p = st.spawn("api-%d" % port, [API, "--data", st.dir, "--http-port", port,
                                   "--static", static_dir, "--threads", 2, *extra])
    if not tkfix.wait_port(tkfix.HOST, port, 10):
        raise tkfix.FixtureError("takumi-api did not listen (exit %s):\n%s"
                                 % (p.poll(), st.log("api-%d" % port)))
    return "http://%s:%d" % (tkfix.HOST, port)


def curl(base, path, extra=()):
    return _curl(None, extra=list(extra), full_url=base + path)


def test_static_files():
    with tkfix.Stack("dash-static") as st:
        st.admin("init")
        root = os.path.join(st.dir, "www")
        os.makedirs(os.path.join(root, "assets"))
        with open(os.path.join(st.dir, "outside.txt"), "w") as f:
            f.write("not for the web\n")
        page = "<!doctype html><title>t</title>" + "<p>takumi</p>" * 100
        js = "console.log('takumi');\n" * 200
        files = {"index.html": page, "assets/main-ABCD1234.js": js, "assets/a.css": "p{}",
                 "data.geojson": "{}", ".hidden": "secret", "assets/x.png": "\x89PNG"}
        for name, text in files.items():
            with open(os.path.join(root, name), "w") as f:
                f.write(text)
        with open(os.path.join(root, "assets/main-ABCD1234.js.gz"), "wb") as f:
            f.write(gzip.compress(js.encode(), 9))
        os.symlink(os.path.join(st.dir, "outside.txt"), os.path.join(root, "link.txt"))
        base = start_api(st, root)

        r = curl(base, "/")
        assert r.status == 302 and r.headers["location"] == "/dashboard/", (r.status, r.headers)
        r = curl(base, "/dashboard")
        assert r.status == 301 and r.headers["location"] == "/dashboard/", (r.status, r.headers)
        r = curl(base, "/dashboard/")
        assert r.status == 200 and r.body.decode() == page, r.status
        assert r.headers["content-type"] == "text/html; charset=utf-8", r.headers
        assert r.headers["cache-control"] == "no-cache", r.headers
        assert r.headers["x-content-type-options"] == "nosniff", r.headers
        assert "content-encoding" not in r.headers, r.headers
        etag = r.headers["etag"]
        # revalidation: 304 without a body for the same ETag, 200 for another
        r = curl(base, "/dashboard/index.html", ["-H", "If-None-Match: " + etag])
        assert r.status == 304 and r.body == b"" and r.headers["etag"] == etag, r.status
        r = curl(base, "/dashboard/index.html", ["-H", 'If-None-Match: "other"'])
        assert r.status == 200, r.status
        # gzip: the precompressed file as it is on disk, else compressed by the reply layer
        r = curl(base, "/dashboard/assets/main-ABCD1234.js", ["-H", "Accept-Encoding: gzip"])
        assert r.headers["content-encoding"] == "gzip", r.headers
        with open(os.path.join(root, "assets/main-ABCD1234.js.gz"), "rb") as f:
            assert r.body == f.read()
        assert r.headers["content-type"] == "text/javascript; charset=utf-8", r.headers
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable", r.headers
        assert r.headers["vary"] == "Accept-Encoding", r.headers
        assert r.headers["etag"].endswith('-gz"'), r.headers
        r = curl(base, "/dashboard/assets/main-ABCD1234.js")
        assert r.body.decode() == js and "content-encoding" not in r.headers, r.headers
        r = curl(base, "/dashboard/", ["--compressed"])
        assert r.headers.get("content-encoding") == "gzip" and r.body.decode() == page, r.headers
        for name, ctype in (("assets/a.css", "text/css; charset=utf-8"),
                            ("data.geojson", "application/geo+json"), ("assets/x.png", "image/png")):
            r = curl(base, "/dashboard/" + name)
            assert r.status == 200 and r.headers["content-type"] == ctype, (name, r.headers)
        r = curl(base, "/dashboard/", ["-I"])  # (curl -I writes the headers as the body)
        assert r.status == 200 and b"takumi" not in r.body, r.body
        assert int(r.headers["content-length"]) == len(page), r.headers
        r = curl(base, "/dashboard/index.html", ["-X", "POST", "-d", "x"])
        assert r.status == 405 and "GET" in r.headers["allow"], r.status
        # nothing outside the directory, nothing hidden, no symlink
        for path in ("/dashboard/../outside.txt", "/dashboard/%2e%2e/outside.txt",
                     "/dashboard/assets/..%2f..%2foutside.txt", "/dashboard/.hidden",
                     "/dashboard/link.txt", "/dashboard/assets/", "/dashboard//etc/passwd",
                     "/dashboard/a%00b", "/dashboard/nosuch.js", "/dashboard/assets",
                     "/dashboard/" + "a" * 300):
            r = curl(base, path, ["--path-as-is"])
            # a NUL byte is refused before any file is looked at (400); the rest are 404
            want = (400, "EINVAL") if "%00" in path else (404, "ENOTFOUND")
            assert r.status == want[0], (path, r.status, r.body[:200])
            assert b"not for the web" not in r.body and b"secret" not in r.body, path
            assert json.loads(r.body)["code"] == want[1], (path, r.body)
        # the SensorThings API is still there beside it
        assert curl(base, "/v1.1").status == 200

        # config.json: the identity's password from DATA/secrets; no WebSocket port: a reason
        cfg = json.loads(curl(base, "/dashboard/config.json").body)
        assert cfg["mqtt"] is None and "--ws-port" in cfg["mqtt_error"], cfg
        base2 = start_api(st, root, "--ws-port", 9001)
        r = curl(base2, "/dashboard/config.json")
        assert r.headers["cache-control"] == "no-store", r.headers
        cfg = json.loads(r.body)
        assert cfg["mqtt"]["port"] == 9001 and cfg["mqtt"]["username"] == "takumi-dashboard"
        assert cfg["mqtt"]["password"] == st.secret("dashboard"), cfg
        assert cfg["api"] == "/v1.1", cfg
        base3 = start_api(st, root, "--ws-port", 9001, "--ws-password-file",
                          os.path.join(st.dir, "nosuch.pass"))
        cfg = json.loads(curl(base3, "/dashboard/config.json").body)
        assert cfg["mqtt"] is None and "nosuch.pass" in cfg["mqtt_error"], cfg
        # without --static the API serves no page
        port = tkfix.free_port()
        st.spawn("api-plain", [API, "--data", st.dir, "--http-port", port])
        assert tkfix.wait_port(tkfix.HOST, port, 10)
        assert curl("http://%s:%d" % (tkfix.HOST, port), "/dashboard/").status == 404


def test_browser():
    if not os.path.exists(os.path.join(BUNDLE, "index.html")):
        raise AssertionError("no dashboard bundle in %s: ./takumi test builds it" % BUNDLE)
    with tkfix.Stack("dash-e2e") as st:
        st.start_broker()
        devs = []
        for i in range(1, 4):
            devs.append(("water_level", "wl-dash-%d" % i, 34.390 + i * 0.004, 132.450,
                         {"mount_height_m": MOUNT}))
        for i in range(1, 3):
            devs.append(("people_flow", "pf-dash-%d" % i, 34.3977, 132.474 + i * 0.001, {}))
            devs.append(("wifi_ap", "ap-dash-%d" % i, 34.3934, 132.458 + i * 0.001, {}))
        pw = {}
        for kind, dev_id, lat, lon, kw in devs:
            pw[dev_id] = st.add_device(kind, dev_id, lat=lat, lon=lon, **kw)
        st.start_ingest()
        now = int(time.time() * 1000)
        for kind, dev_id, *_ in devs[1:]:  # wl-dash-1 has no reading before the page loads
            body = {"water_level": {"level_m": 0.4}, "people_flow": {"interval_s": 900, "in": 14,
                    "out": 11}, "wifi_ap": {"interval_s": 300, "unique_devices": 40,
                                          "associated": 11}}[kind]
            for k in range(3):
                st.pub(dev_id, pw[dev_id], "city/%s/%s/reading" % (kind, dev_id),
                       json.dumps({"v": 1, "id": dev_id, "seq": k + 1,
                                   "ts": now - (3 - k) * 60000, **body}))
        base = start_api(st, BUNDLE, "--ws-port", st.ws_port)
        spec = {
            "url": base + "/dashboard/", "artifacts": ARTIFACTS,
            "mqtt": {"host": tkfix.HOST, "port": st.mqtt_port},
            "devices": [{"id": d[1], "kind": d[0]} for d in devs],
            "gauge": {"id": "wl-dash-2", "password": pw["wl-dash-2"], "mount_height_m": MOUNT},
            "counter": {"id": "pf-dash-1", "password": pw["pf-dash-1"]},
            # both counters (14 in, 11 out each) at the station, both APs (40) on Hondori
            "areas": {"flow": {"eki": 50, "hondori": 0}, "wifi": {"hondori": 80, "eki": 0}},
            "alert_user": "takumi-ingest", "alert_password": st.secret("ingest"),
        }
        if "alert set" in st.admin("--help", check=False).stdout + \
                st.admin("--help", check=False).stderr:  # the alert engine is there
            spec["engine"] = {"gauge": "wl-dash-3", "password": pw["wl-dash-3"]}
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=st.dir, delete=False) as f:
            json.dump(spec, f)
        r = subprocess.run([NODE, E2E, f.name], capture_output=True, text=True, timeout=180,
                           cwd=os.path.dirname(E2E))
        print(r.stdout, end="")
        assert r.returncode == 0, "dashboard_e2e.mjs failed:\n%s\n(screenshots: %s)\n%s" % (
            r.stderr, ARTIFACTS, st.log("api-%s" % base.rsplit(":", 1)[1])[-1500:])


if __name__ == "__main__":
    sys.exit(tkfix.main([test_static_files, test_browser]))
