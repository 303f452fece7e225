#!/usr/bin/python3
"""takumi-admin device add/list/remove and init, checked through what they leave behind:
the printed credentials against the real broker, the SQLite registry (Thing, Location,
Datastreams with units), the credentials/passwd/acl files and the secrets directory."""
import base64
import hashlib
import json
import os
import re
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402

S = None

EXPECTED = {  # kind -> {ObservedProperty name: unit symbol}
    "water_level": {"water_level": "m", "battery_voltage": "V", "water_temperature": "Cel"},
    "people_flow": {"people_in": "{count}", "people_out": "{count}"},
    "wifi_ap": {"unique_devices": "{count}", "associated": "{count}", "probe_only": "{count}"},
}


def add(*args, check=True):
    return S.admin("device", "add", *args, check=check)


def thing_row(dev_id):
    c = S.db()
    return c.execute("SELECT id, name, kind, mount_height_m, transport FROM things "
                     "WHERE device_id = ?", (dev_id,)).fetchone()


def test_add_prints_credentials_once_and_they_work():
    reloads = S._reload_count()
    r = add("--kind", "water_level", "--id", "wl-naka-0001", "--lat", "34.3963",
            "--lon", "132.4596", "--mount-height-m", "3.2", "--name", "Naka ward gauge 1")
    out = r.stdout
    m = re.search(r"^device wl-naka-0001 \(water_level\) registered: thing (\d+)", out, re.M)
    assert m, f"no registration line in {out!r}"
    assert re.search(r"^mqtt username: wl-naka-0001$", out, re.M), out
    pw = re.search(r"^mqtt password: (\S+)$", out, re.M).group(1)
    assert len(pw) >= 24 and re.fullmatch(r"[A-Za-z0-9_-]+", pw), f"weak password {pw!r}"
    # only a hash is kept anywhere in the data directory
    for root, _, files in os.walk(S.dir):
        for name in files:
            p = os.path.join(root, name)
            with open(p, "rb") as f:
                assert pw.encode() not in f.read(), f"cleartext password found in {p}"
    # and the broker accepts it (wait for the reload takumi-admin triggered)
    S._wait_reload(reloads)
    S.pub("wl-naka-0001", pw, "city/water_level/wl-naka-0001/status", '{"state":"online"}')
    r = S.pub("wl-naka-0001", pw + "x", "city/water_level/wl-naka-0001/status", "{}",
              check=False)
    assert r.refused, "a wrong password was accepted"
    # the registry has what the operator typed
    row = thing_row("wl-naka-0001")
    assert row is not None, "no Thing for the device"
    assert int(m.group(1)) == row[0]
    assert row[1] == "Naka ward gauge 1" and row[2] == "water_level", row
    assert abs(row[3] - 3.2) < 1e-9 and row[4] == "mqtt", row


def test_hash_is_mosquitto_pbkdf2():
    pw = S.add_device("wifi_ap", "ap-hondori-01", lat=34.3935, lon=132.4590)
    with open(os.path.join(S.dir, "broker", "passwd")) as f:
        line = [ln for ln in f.read().splitlines() if ln.startswith("ap-hondori-01:")]
    assert len(line) == 1, line
    m = re.fullmatch(r"ap-hondori-01:\$7\$101\$([A-Za-z0-9+/=]{16})\$([A-Za-z0-9+/=]{88})",
                     line[0])
    assert m, f"not a mosquitto 2.0 $7$ line: {line[0]!r}"
    salt = base64.b64decode(m.group(1))
    assert len(salt) == 12
    want = base64.b64decode(m.group(2))
    assert hashlib.pbkdf2_hmac("sha512", pw.encode(), salt, 101, 64) == want


def test_store_has_thing_location_datastreams_with_units():
    for kind, dev in (("people_flow", "pf-kamiyacho-01"), ("water_level", "wl-ujina-0002")):
        S.add_device(kind, dev, lat=34.3915, lon=132.4570)
        c = S.db()
        thing_id = thing_row(dev)[0]
        locs = c.execute("SELECT l.location, l.encoding_type FROM locations l "
                         "JOIN thing_locations tl ON tl.location_id = l.id "
                         "WHERE tl.thing_id = ?", (thing_id,)).fetchall()
        assert len(locs) == 1, locs
        geo = json.loads(locs[0][0])
        assert geo["type"] == "Point" and geo["coordinates"][:2] == [132.4570, 34.3915], geo
        assert locs[0][1] == "application/geo+json"
        ds = c.execute("SELECT o.name, d.unit_symbol, d.unit_name, d.observation_type "
                       "FROM datastreams d JOIN observed_properties o "
                       "ON o.id = d.observed_property_id WHERE d.thing_id = ?",
                       (thing_id,)).fetchall()
        got = {name: sym for name, sym, _, _ in ds}
        assert got == EXPECTED[kind], f"{kind}: datastreams {got}"
        assert all(unit and otype for _, _, unit, otype in ds), ds


def test_list_shows_devices():
    out = S.admin("device", "list").stdout.splitlines()
    assert out[0].split()[:2] == ["ID", "KIND"], out[0]
    rows = {ln.split()[0]: ln.split() for ln in out[1:]}
    r = rows.get("pf-kamiyacho-01")
    assert r, f"device missing from list: {out}"
    assert r[1] == "people_flow" and r[2] == "pf-kamiyacho-01"
    assert abs(float(r[3]) - 34.3915) < 1e-6 and abs(float(r[4]) - 132.4570) < 1e-6
    assert r[5] == "mqtt" and int(r[6]) == thing_row("pf-kamiyacho-01")[0]
    ids = [ln.split()[0] for ln in out[1:]]
    assert ids == sorted(ids), "list not ordered by id"


def test_duplicate_add_refused():
    before = open(os.path.join(S.dir, "broker", "credentials")).read()
    r = add("--kind", "people_flow", "--id", "pf-kamiyacho-01", "--lat", "1", "--lon", "1",
            check=False)
    assert r.returncode == 1, f"duplicate: exit {r.returncode}"
    assert "already exists" in r.stderr, r.stderr
    assert "mqtt password" not in r.stdout
    assert open(os.path.join(S.dir, "broker", "credentials")).read() == before
    # also for the same id under another kind, and for the service identities' names
    r = add("--kind", "wifi_ap", "--id", "pf-kamiyacho-01", "--lat", "1", "--lon", "1",
            check=False)
    assert r.returncode == 1
    r = add("--kind", "wifi_ap", "--id", "takumi-ingest", "--lat", "1", "--lon", "1",
            check=False)
    assert r.returncode == 1, "a device took the ingest service's name"
    assert "mqtt password" not in r.stdout


def test_invalid_input_refused():
    base = ["--kind", "water_level", "--id", "wl-bad-0001", "--lat", "34.4", "--lon", "132.4"]

    def refused(args, needle):
        r = add(*args, check=False)
        assert r.returncode == 2, f"{args}: exit {r.returncode}: {r.stderr}"
        assert needle in r.stderr, f"{args}: message {r.stderr!r} lacks {needle!r}"

    refused(["--kind", "tide_gauge"] + base[2:], "unknown kind")
    refused(base[:5] + ["91"] + base[6:], "--lat")
    refused(base[:7] + ["-180.5"], "--lon")
    refused(base[:5] + ["nan"] + base[6:], "--lat")
    refused(base + ["--mount-height-m", "0"], "--mount-height-m")
    refused(base + ["--mount-height-m", "-1.5"], "--mount-height-m")
    refused(["--kind", "people_flow"] + base[2:] + ["--mount-height-m", "2"], "water_level")
    refused(base + ["--transport", "lora"], "--transport")
    refused(base[2:], "--kind is required")
    refused(base + ["--colour", "red"], "unknown flag")
    assert thing_row("wl-bad-0001") is None, "a refused device reached the registry"


def test_remove():
    pw = S.add_device("water_level", "wl-gone-0001")
    S.pub("wl-gone-0001", pw, "city/water_level/wl-gone-0001/status", "{}")
    r = S.remove_device("wl-gone-0001")
    assert "removed" in r.stdout
    assert thing_row("wl-gone-0001") is None
    c = S.db()
    assert c.execute("SELECT count(*) FROM datastreams d LEFT JOIN things t "
                     "ON t.id = d.thing_id WHERE t.id IS NULL").fetchone()[0] == 0
    assert "wl-gone-0001" not in S.admin("device", "list").stdout
    assert "wl-gone-0001" not in open(os.path.join(S.dir, "broker", "credentials")).read()
    r = S.pub("wl-gone-0001", pw, "city/water_level/wl-gone-0001/status", "{}", check=False)
    assert r.refused, "removed device still logs in"
    r = S.admin("device", "remove", "--id", "wl-gone-0001", check=False)
    assert r.returncode == 1 and "no device" in r.stderr, (r.returncode, r.stderr)
    # and the id can be registered again, with a new password
    pw2 = S.add_device("water_level", "wl-gone-0001")
    assert pw2 != pw
    S.pub("wl-gone-0001", pw2, "city/water_level/wl-gone-0001/status", "{}")


def test_init_idempotent_and_secrets_private():
    def state():
        with open(os.path.join(S.dir, "secrets", "ingest.pass")) as f:
            ing = f.read()
        with open(os.path.join(S.dir, "broker", "credentials")) as f:
            creds = f.read()
        return ing, creds
    before = state()
    S.admin("init")
    S.admin("init")
    assert state() == before, "init changed existing identities"
    mode = stat.S_IMODE(os.stat(os.path.join(S.dir, "secrets")).st_mode)
    assert mode == 0o700, oct(mode)
    for name in ("ingest.pass", "dashboard.pass"):
        mode = stat.S_IMODE(os.stat(os.path.join(S.dir, "secrets", name)).st_mode)
        assert mode == 0o600, (name, oct(mode))
    for name in ("credentials", "passwd", "acl"):
        mode = stat.S_IMODE(os.stat(os.path.join(S.dir, "broker", name)).st_mode)
        assert mode & 0o077 == 0, (name, oct(mode))
    # the service passwords work at the broker
    S.pub("takumi-ingest", S.secret("ingest"), "city/alerts/x", "{}")
    leftovers = [f for f in os.listdir(os.path.join(S.dir, "broker")) if ".tmp." in f]
    assert not leftovers, leftovers


def test_broker_conf_rendering():
    out = os.path.join(S.dir, "broker", "check.conf")
    S.admin("broker-conf", "--template", tkfix.TEMPLATE, "--mqtt-port", "1883", "--out", out)
    text = open(out).read()
    assert "listener 1883 127.0.0.1" in text
    assert "protocol websockets" not in text, "websockets listener rendered without a port"
    assert "@" not in "".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    S.admin("broker-conf", "--template", tkfix.TEMPLATE, "--mqtt-port", "1883", "--ws-port",
            "9001", "--bind", "0.0.0.0", "--out", out)
    text = open(out).read()
    assert "listener 9001 0.0.0.0\nprotocol websockets" in text, text
    assert f"password_file {S.dir}/broker/passwd" in text
    bad = os.path.join(S.dir, "bad.tmpl")
    with open(bad, "w") as f:
        f.write("listener @MQTT_PORT@\nfoo @NOPE@\n")
    r = S.admin("broker-conf", "--template", bad, "--mqtt-port", "1", "--out", out, check=False)
    assert r.returncode == 1 and "@NOPE@" in r.stderr, r.stderr
    r = S.admin("broker-conf", "--template", tkfix.TEMPLATE, "--mqtt-port", "70000", check=False)
    assert r.returncode == 2


def main():
    global S
    S = tkfix.Stack("device_cli")
    try:
        S.start_broker()
        return tkfix.main([
            test_add_prints_credentials_once_and_they_work,
            test_hash_is_mosquitto_pbkdf2,
            test_store_has_thing_location_datastreams_with_units,
            test_list_shows_devices,
            test_duplicate_add_refused,
            test_invalid_input_refused,
            test_remove,
            test_init_idempotent_and_secrets_private,
            test_broker_conf_rendering,
        ])
    finally:
        S.close()


if __name__ == "__main__":
    sys.exit(main())
