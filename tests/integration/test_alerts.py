"""Alerts end to end (docs/alerts.md) with the real broker, ingest, API and firmware:

- settings through takumi-admin (defaults, set, refusals);
- readings published with mosquitto_pub cross caution, then warning: each change arrives
  on city/alerts/ID (mosquitto_sub as the read-only dashboard identity), matches
  schemas/alert.schema.json (ajv), is stored, served by /alerts and /alerts/{id}, and as
  CAP 1.2 that xmllint validates against the OASIS schema (also every entry of
  /alerts.atom); the gauge's retained config switches to fast reporting and back on clear;
- the ingest killed (SIGKILL) and restarted while an alert is open continues the same
  alert;
- silence raises after the timeout and a reading clears it;
- device status is stored; a bad status is quarantined;
- the admin-only paths refuse anonymous callers;
- the firmware's POSIX device applies the fast config and reports faster, and slower again
  after the clear.
"""

import calendar
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402

API = os.path.join(tkfix.BIN, "api", "takumi-api")
DEVICE = os.path.join(tkfix.BIN, "firmware", "takumi-device")
CURL = shutil.which("curl") or "/usr/bin/curl"
XMLLINT = shutil.which("xmllint") or "/usr/bin/xmllint"
NODE = shutil.which("node") or "/usr/bin/node"
XSD = os.path.join(tkfix.TOP, "schemas", "cap", "CAP-v1.2.xsd")
CAP_NS = "{urn:oasis:names:tc:emergency:cap:1.2}"
GAUGE = "wl-al-0001"


def curl(base, path, method="GET", data=None):
    with tempfile.TemporaryDirectory() as d:
        body = os.path.join(d, "b")
        argv = [CURL, "-sS", "-g", "-o", body, "-w", "%{http_code} %{content_type}",
                "--max-time", "20", "-X", method]
        if data is not None:
            argv += ["--data-binary", data, "-H", "Content-Type: application/json"]
        r = subprocess.run(argv + [base + path], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, "curl %s: %s" % (path, r.stderr)
        status, ctype = r.stdout.split(" ", 1)
        with open(body, "rb") as f:
            return int(status), ctype, f.read()


def get_json(base, path, status=200):
    st, ctype, body = curl(base, path)
    assert st == status, "%s: %d %s" % (path, st, body[:400])
    assert ctype.startswith("application/json"), ctype
    return json.loads(body)


def xsd_valid(xml_bytes):
    """xmllint --schema on the document; returns (ok, output)."""
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(xml_bytes)
        f.flush()
        r = subprocess.run([XMLLINT, "--noout", "--schema", XSD, f.name], capture_output=True,
                           text=True, timeout=30)
        return r.returncode == 0, r.stderr


def schema_check(payloads, schema="alert"):
    """Validate payloads (str) against schemas/<schema>.schema.json with ajv; [] if all
    valid, else the errors."""
    script = (
        "import A from 'ajv/dist/2020.js'; import F from 'ajv-formats';"
        "import {readFileSync} from 'node:fs';"
        "const a = new A({strict: true, allowUnionTypes: true}); F(a);"
        "const v = a.compile(JSON.parse(readFileSync(process.argv[1], 'utf8')));"
        "const errs = [];"
        "for (const p of JSON.parse(readFileSync(0, 'utf8'))) {"
        "  if (!v(JSON.parse(p))) errs.push(a.errorsText(v.errors) + ' in ' + p); }"
        "console.log(JSON.stringify(errs));")
    r = subprocess.run([NODE, "--input-type=module", "-e", script,
                        os.path.join(tkfix.TOP, "schemas", f"{schema}.schema.json")],
                       input=json.dumps(payloads), capture_output=True, text=True, timeout=60,
                       cwd=os.path.join(tkfix.TOP, "tests"))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


class Alerts:
    """A subscriber on city/alerts/# as the dashboard identity, collecting messages."""

    def __init__(self, s, count=100, timeout=300):
        self.sub = s.sub_start("takumi-dashboard", s.secret("dashboard"), "city/alerts/#",
                               count=count, timeout=timeout)

    def all(self):
        with self.sub._lock:
            return [(t, json.loads(p)) for t, p, _ in self.sub.messages]

    def wait_for(self, pred, what, timeout=20):
        tkfix.wait_for(lambda: any(pred(a) for _, a in self.all()), timeout, what)
        return [a for _, a in self.all() if pred(a)][-1]

    def stop(self):
        self.sub.proc.terminate()
        self.sub.wait()


def retained_config(s, dev, pw):
    got = s.sub(dev, pw, f"city/water_level/{dev}/config", count=1, timeout=5)
    assert got, "no retained config for %s" % dev
    return json.loads(got[-1])


class Gauge:
    def __init__(self, s, dev, pw):
        self.s, self.dev, self.pw, self.seq = s, dev, pw, 0
        self.t_ms = int(time.time() * 1000) - 3600 * 1000

    def send(self, level, minutes=1):
        self.seq += 1
        self.t_ms += minutes * 60000
        body = json.dumps({"v": 1, "id": self.dev, "seq": self.seq, "ts": self.t_ms,
                           "level_m": level})
        self.s.pub(self.dev, self.pw, f"city/water_level/{self.dev}/reading", body)


def start_api(s):
    port = tkfix.free_port()
    p = s.spawn("api", [API, "--data", s.dir, "--http-port", port, *s.db_args, "--threads", 2,
                        "--page-max", 50])
    if not tkfix.wait_port(tkfix.HOST, port, 10):
        raise tkfix.FixtureError("takumi-api did not listen:\n" + s.log("api"))
    return p, "http://%s:%d" % (tkfix.HOST, port)


def check_api(s, raised, dang):
    """takumi-api on the stack's store while the alert raised (rev 1) is open at danger
    (dang): /alerts with its filters and refusals, /alerts/{id}, the CAP document, admin
    paths refused to anonymous callers. Returns (api process, base URL)."""
    api, base = start_api(s)
    lst = get_json(base, "/alerts?state=active")
    assert [a["id"] for a in lst["value"]] == [raised["id"]], lst
    assert lst["value"][0] == dang, (lst["value"][0], dang)
    assert get_json(base, "/alerts/%d" % raised["id"]) == dang
    assert get_json(base, "/alerts?severity=caution,warning")["value"] == []
    assert len(get_json(base, "/alerts?severity=danger&condition=level")["value"]) == 1
    assert len(get_json(base, "/alerts?bbox=132,34,133,35&device=" + GAUGE)["value"]) == 1
    assert get_json(base, "/alerts?bbox=130,30,131,31")["value"] == []
    assert get_json(base, "/alerts?state=cleared&$count=true")["@iot.count"] == 0
    assert get_json(base, "/alerts?from=2099-01-01T00:00:00Z")["value"] == []
    for q, field in [("state=open", "state"), ("severity=red", "severity"),
                     ("bbox=1,2,3", "bbox"), ("from=yesterday", "from"), ("colour=red", "colour"),
                     ("$top=-1", "$top")]:
        err = get_json(base, "/alerts?" + q, status=400)
        assert err["field"] == field, (q, err)
    get_json(base, "/alerts/999999", status=404)

    st, ctype, cap = curl(base, "/alerts/%d.cap" % raised["id"])
    assert st == 200 and ctype.startswith("application/cap+xml"), (st, ctype)
    ok, out = xsd_valid(cap)
    assert ok, out + cap.decode()
    # the check can fail: the same document without its <status>, or with a time in
    # the "Z" form the CAP pattern refuses, does not validate
    broken = cap.replace(b"<status>Actual</status>", b"")
    assert broken != cap and not xsd_valid(broken)[0]
    zulu = cap.replace(b"+00:00</sent>", b"Z</sent>")
    assert zulu != cap and not xsd_valid(zulu)[0]
    root = ET.fromstring(cap)
    infos = root.findall(CAP_NS + "info")
    assert [i.find(CAP_NS + "language").text for i in infos] == ["ja-JP", "en-US"]
    assert infos[0].find(CAP_NS + "severity").text == "Extreme"
    assert "危険" in infos[0].find(CAP_NS + "headline").text
    assert root.find(CAP_NS + "msgType").text == "Update"

    # admin paths refuse anonymous callers with a JSON error
    for method, path in [("GET", "/alerts/config/" + GAUGE), ("PUT", "/alerts/config/" + GAUGE),
                         ("GET", "/admin/devices")]:
        st, ctype, body = curl(base, path, method, data="{}" if method == "PUT" else None)
        assert st == 401 and json.loads(body)["code"] == "EUNAUTH", (path, st, body)
    st, _, _ = curl(base, "/alerts", "POST", data="{}")
    assert st == 405
    return api, base


def test_settings():
    with tkfix.Stack("alerts-cfg") as s:
        s.admin("init")
        s.admin("device", "add", "--kind", "water_level", "--id", GAUGE, "--lat", 34.39,
                "--lon", 132.45, "--mount-height-m", 3.0)
        s.admin("device", "add", "--kind", "people_flow", "--id", "pf-al-0001", "--lat", 34.39,
                "--lon", 132.45)
        show = s.admin("alert", "show", GAUGE).stdout.splitlines()
        cfg = json.loads(show[0])
        assert cfg["source"] == "default" and cfg["caution_m"] == 1.5 and cfg["warning_m"] == 2.1
        assert cfg["danger_m"] == 2.55, cfg
        out = s.admin("alert", "set", "--device", GAUGE, "--caution", 1.0, "--warning", 1.4,
                      "--danger", 1.7, "--rise", 0.5, "--silence-intervals", 2).stdout
        cfg = json.loads(out)
        assert cfg["source"] == "set" and cfg["warning_m"] == 1.4 and cfg["silence_intervals"] == 2
        assert schema_check([out.strip()], "alert-config") == []
        lst = s.admin("alert", "list").stdout
        assert GAUGE in lst and "pf-al-0001" not in lst, lst
        for args, want in [
            (["--warning", 0.9], "--warning"),
            (["--hysteresis", 0.5], "--hysteresis"),
            (["--fast-interval-s", 5000], "--fast-interval-s"),
            (["--caution", "x"], "--caution"),
        ]:
            r = s.admin("alert", "set", "--device", GAUGE, *args, check=False)
            assert r.returncode == 2 and want in r.stderr, (args, r.returncode, r.stderr)
        r = s.admin("alert", "set", "--device", "pf-al-0001", "--caution", 1, check=False)
        assert r.returncode == 2 and "water_level" in r.stderr, r.stderr
        r = s.admin("alert", "set", "--device", "wl-none", "--caution", 1, check=False)
        assert r.returncode == 1 and "no device" in r.stderr, r.stderr
        # refused changes left the stored settings alone
        assert json.loads(s.admin("alert", "show", GAUGE).stdout.splitlines()[0]) == cfg


def test_end_to_end():
    with tkfix.Stack("alerts") as s:
        s.start_broker()
        pw = s.add_device("water_level", GAUGE, lat=34.39, lon=132.45, mount_height_m=3.0)
        s.admin("alert", "set", "--device", GAUGE, "--caution", 1.0, "--warning", 1.4,
                "--danger", 1.7, "--rise", 5.0, "--hysteresis", 0.05, "--silence-intervals", 100,
                "--interval-s", 30, "--fast-interval-s", 10)
        s.start_ingest()
        al = Alerts(s)
        g = Gauge(s, GAUGE, pw)

        # below caution: no alert, no config
        g.send(0.5)
        g.send(0.6)
        # caution, then warning: raised, escalated
        g.send(1.05)
        raised = al.wait_for(lambda a: a["event"] == "raised" and a["condition"] == "level",
                             "the raised alert on city/alerts")
        assert raised["severity"] == "caution" and raised["state"] == "active", raised
        assert raised["device_id"] == GAUGE and raised["rev"] == 1 and raised["end"] is None
        cfg = retained_config(s, GAUGE, pw)
        assert cfg["interval_s"] == 10 and cfg["fast_interval_s"] == 10, cfg
        assert schema_check([json.dumps(cfg)], "config") == []
        g.send(1.45)
        esc = al.wait_for(lambda a: a["event"] == "escalated", "the escalation")
        assert esc["id"] == raised["id"] and esc["severity"] == "warning" and esc["rev"] == 2
        assert esc["threshold"] == 1.4 and esc["peak"]["value"] == 1.45
        # hovering inside the hysteresis: nothing new is published
        n_before = len(al.all())
        g.send(1.38)
        g.send(1.41)
        g.send(1.37)
        time.sleep(1.0)
        assert len(al.all()) == n_before, al.all()[n_before:]
        topics = {t for t, _ in al.all()}
        assert topics == {"city/alerts/" + GAUGE}, topics

        # stored
        c = s.db()
        row = c.execute("SELECT active, severity, rev FROM alerts WHERE id = ?",
                        (raised["id"],)).fetchone()
        assert row == (1, 2, 2), row

        # kill -9 the ingest with the alert open: after a restart the same alert continues
        s.kill(s._procs[[n for n, _ in s._procs].index("ingest")][1], sig=9)
        s.start_ingest(name="ingest2")
        g.send(1.75)
        dang = al.wait_for(lambda a: a["severity"] == "danger", "escalation after a restart")
        assert dang["id"] == raised["id"] and dang["rev"] == 3, dang
        assert c.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1

        api, base = check_api(s, raised, dang)

        # clear: below caution - hysteresis; the config goes back to normal reporting
        g.send(0.9)
        clr = al.wait_for(lambda a: a["event"] == "cleared" and a["condition"] == "level",
                          "the clear")
        assert clr["state"] == "cleared" and clr["end"] is not None and clr["severity_max"] == "danger"
        assert clr["peak"]["value"] == 1.75
        cfg = retained_config(s, GAUGE, pw)
        assert cfg["interval_s"] == 30, cfg
        assert schema_check([json.dumps(cfg)], "config") == []

        # silence: no reading for 1 x 30 s (the normal interval again); the running ingest
        # picks the changed setting up
        s.admin("alert", "set", "--device", GAUGE, "--silence-intervals", 1)
        sil = al.wait_for(lambda a: a["condition"] == "silence" and a["event"] == "raised",
                          "the silence alert", timeout=75)
        assert sil["threshold"] == 30 and sil["severity"] == "caution", sil
        assert retained_config(s, GAUGE, pw)["interval_s"] == 10
        g.send(0.5)
        sc = al.wait_for(lambda a: a["condition"] == "silence" and a["event"] == "cleared",
                         "the silence cleared")
        assert sc["id"] == sil["id"] and sc["peak"]["value"] >= 30

        # every message matches the schema
        assert schema_check([json.dumps(a) for _, a in al.all()]) == []

        # the Atom feed: every CAP message in it validates
        st, ctype, atom = curl(base, "/alerts.atom")
        assert st == 200 and ctype.startswith("application/atom+xml"), (st, ctype)
        feed = ET.fromstring(atom)
        caps = feed.findall(".//" + CAP_NS + "alert")
        assert len(caps) == 2, atom[:500]
        for a in caps:
            ok, out = xsd_valid(ET.tostring(a, encoding="utf-8"))
            assert ok, out
        for a in get_json(base, "/alerts")["value"]:
            ok, out = xsd_valid(curl(base, "/alerts/%d.cap" % a["id"])[2])
            assert ok, out
        # paging
        p1 = get_json(base, "/alerts?$top=1")
        assert len(p1["value"]) == 1 and "$skip=1" in p1["@iot.nextLink"], p1
        p2 = get_json(base, "/alerts?$top=1&$skip=1")
        assert len(p2["value"]) == 1 and "@iot.nextLink" not in p2

        # device status: stored; a bad one quarantined
        s.pub(GAUGE, pw, f"city/water_level/{GAUGE}/status",
              '{"state":"online","fw":"1.2.0","battery_v":3.6,"rssi_dbm":-95}', retain=True)
        tkfix.wait_for(lambda: c.execute("SELECT online, fw, rssi_dbm FROM device_status"
                                         " WHERE device_id = ?", (GAUGE,)).fetchone()
                       == (1, "1.2.0", -95), 10, "the status stored")
        q0 = c.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        s.pub(GAUGE, pw, f"city/water_level/{GAUGE}/status", '{"state":"sleepy"}')
        tkfix.wait_for(lambda: c.execute("SELECT count(*) FROM quarantine").fetchone()[0] > q0,
                       10, "the bad status quarantined")
        al.stop()
        s.kill(api, sig=15)


def test_firmware_fast_mode():
    """The firmware's POSIX device (60x simulated time: normal uplink every 10 s real, fast
    every 1 s) reads the retained config the ingest publishes when an alert opens."""
    with tkfix.Stack("alerts-fw") as s:
        s.start_broker()
        dev = "wl-fw-0001"
        pw = s.add_device("water_level", dev, mount_height_m=3.0)
        s.start_ingest()
        fw = s.spawn("device", [DEVICE, "--kind", "water_level", "--id", dev, "--user", dev,
                                "--password", pw, "--port", s.mqtt_port,
                                "--state-dir", os.path.join(s.dir, "nv"), "--scenario", "dry",
                                "--time-scale", 60, "--sample-ms", 60000, "--interval-ms", 600000,
                                "--fast-interval-ms", 60000, "--mount-height-mm", 3000, "-v"])
        c = s.db()
        ds = c.execute("SELECT d.id FROM datastreams d JOIN things t ON t.id = d.thing_id"
                       " WHERE t.device_id = ? AND d.name LIKE '%water_level'", (dev,)).fetchone()[0]

        def uplinks():
            return c.execute("SELECT count(DISTINCT result_time_us), max(result) FROM"
                             " all_observations WHERE ds_id = ?", (ds,)).fetchone()

        tkfix.wait_for(lambda: uplinks()[0] >= 1, 40, "the first uplink")
        level = uplinks()[1]
        assert fw.poll() is None
        # a caution level below the gauge's level: its next reading raises an alert
        lo = max(0.01, round(level / 2, 3))
        s.admin("alert", "set", "--device", dev, "--caution", lo, "--warning", lo + 5,
                "--danger", lo + 6, "--hysteresis", min(0.001, lo / 2), "--interval-s", 600,
                "--fast-interval-s", 60)
        tkfix.wait_for(lambda: s.log("device").count("config applied") >= 1, 40,
                       "the device to apply the fast config")
        n0 = uplinks()[0]
        time.sleep(6)
        fast = uplinks()[0] - n0
        assert fast >= 3, "only %d uplinks in 6 s after the fast config" % fast
        # raise the levels above the gauge: the alert clears, the config goes back
        s.admin("alert", "set", "--device", dev, "--danger", 9.0, "--warning", 8.0,
                "--caution", 7.0)
        tkfix.wait_for(lambda: s.log("device").count("config applied") >= 2, 40,
                       "the device to apply the normal config")
        time.sleep(1)
        n1 = uplinks()[0]
        time.sleep(6)
        slow = uplinks()[0] - n1
        assert slow <= 1, "%d uplinks in 6 s after the normal config" % slow
        assert c.execute("SELECT count(*) FROM alerts WHERE device_id = ? AND active = 0",
                         (dev,)).fetchone()[0] >= 1
        s.kill(fw, sig=15)


if __name__ == "__main__":
    sys.exit(tkfix.main([test_settings, test_end_to_end, test_firmware_fast_mode]))
