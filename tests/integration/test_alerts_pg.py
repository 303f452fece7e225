"""Alerts, device status, the ingest's counters and API keys on the PostgreSQL store, end to
end with the real broker, ingest and admin tool (takumi-admin --store postgresql://...,
takumi-ingest --db postgresql://...) against a server started for the run
(tests/pg/pgserver.py):

- alert settings stored with `alert set`, shown by `alert list`, refused when invalid;
- readings published with mosquitto_pub cross caution, then warning: each change arrives
  on city/alerts/ID, matches schemas/alert.schema.json and is stored in PostgreSQL; the
  gauge's retained config switches to fast reporting;
- the ingest killed (SIGKILL) and restarted while the alert is open continues the same
  alert (its state read back from PostgreSQL); the clear sets the config back;
- device status is stored, a bad one quarantined; the counters are written;
- takumi-api on PostgreSQL: /alerts, its filters, /alerts/{id}, CAP and the Atom feed
  (test_alerts.check_api, the checks of the SQLite run);
- `apikey add`, `apikey list`, `apikey revoke` on PostgreSQL (only the hash stored).
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pg"))
import pgserver  # noqa: E402
import tkfix  # noqa: E402
from test_alerts import (CAP_NS, GAUGE, Alerts, Gauge, check_api, curl, get_json,  # noqa: E402
                         retained_config, schema_check, xsd_valid)


def test_postgresql():
    with pgserver.PgServer() as pg, tkfix.Stack("alerts-pg", store=pg.uri) as s:
        s.start_broker()
        pw = s.add_device("water_level", GAUGE, lat=34.39, lon=132.45, mount_height_m=3.0)
        s.add_device("people_flow", "pf-pg-0001")

        # ---- settings ----
        out = s.admin("alert", "set", "--device", GAUGE, "--caution", 1.0, "--warning", 1.4,
                      "--danger", 1.7, "--rise", 5.0, "--hysteresis", 0.05,
                      "--silence-intervals", 100, "--interval-s", 30,
                      "--fast-interval-s", 10).stdout
        cfg = json.loads(out)
        assert cfg["source"] == "set" and cfg["warning_m"] == 1.4, cfg
        assert pg.psql("SELECT caution_m, warning_m, danger_m, interval_s FROM alert_config"
                       " WHERE device_id = '%s'" % GAUGE) == "1|1.4|1.7|30"
        r = s.admin("alert", "set", "--device", GAUGE, "--warning", 0.9, check=False)
        assert r.returncode == 2 and "--warning" in r.stderr, (r.returncode, r.stderr)
        assert json.loads(s.admin("alert", "show", GAUGE).stdout.splitlines()[0]) == cfg
        lst = s.admin("alert", "list").stdout
        assert re.search(r"^%s\s+set\s+1\.000\s+1\.400\s+1\.700 .* -$" % GAUGE, lst, re.M), lst
        assert "pf-pg-0001" not in lst, lst

        # ---- alerts raised by the ingest, stored in PostgreSQL ----
        s.start_ingest()
        al = Alerts(s)
        g = Gauge(s, GAUGE, pw)
        g.send(0.5)
        g.send(0.6)  # a rise below --rise: the level alert alone, as in test_alerts.py
        g.send(1.05)
        raised = al.wait_for(lambda a: a["event"] == "raised" and a["condition"] == "level",
                             "the raised alert on city/alerts")
        assert raised["severity"] == "caution" and raised["rev"] == 1, raised
        cfg_pub = retained_config(s, GAUGE, pw)
        assert cfg_pub["interval_s"] == 10, cfg_pub
        g.send(1.45)
        esc = al.wait_for(lambda a: a["event"] == "escalated", "the escalation")
        assert esc["id"] == raised["id"] and esc["severity"] == "warning" and esc["rev"] == 2
        row = pg.psql("SELECT active, severity, rev, end_us IS NULL FROM alerts WHERE id = %d"
                      % raised["id"])
        assert row == "1|2|2|t", row
        # what the gauge was told is kept too
        assert pg.psql("SELECT fast FROM alert_device WHERE device_id = '%s'" % GAUGE) == "1"
        lst = s.admin("alert", "list").stdout
        assert "level:warning" in lst, lst

        # killed with the alert open: the restarted ingest reads it back and continues it
        s.kill(s._procs[[n for n, _ in s._procs].index("ingest")][1], sig=9)
        s.start_ingest(name="ingest2")
        g.send(1.75)
        dang = al.wait_for(lambda a: a["severity"] == "danger", "escalation after a restart")
        assert dang["id"] == raised["id"] and dang["rev"] == 3, dang
        assert pg.psql("SELECT count(*) FROM alerts WHERE cond = 0") == "1"
        # takumi-api on PostgreSQL serves it as on SQLite (test_alerts.py's checks)
        _, base = check_api(s, raised, dang)

        g.send(0.9)
        clr = al.wait_for(lambda a: a["event"] == "cleared" and a["condition"] == "level",
                          "the clear")
        assert clr["id"] == raised["id"] and clr["severity_max"] == "danger", clr
        assert retained_config(s, GAUGE, pw)["interval_s"] == 30
        row = pg.psql("SELECT active, severity_max, peak_value, end_us > start_us FROM alerts"
                      " WHERE id = %d" % raised["id"])
        assert row == "0|3|1.75|t", row
        assert schema_check([json.dumps(a) for _, a in al.all()]) == []
        assert {t for t, _ in al.all()} == {"city/alerts/" + GAUGE}
        cleared = get_json(base, "/alerts?state=cleared&$count=true")
        assert cleared["@iot.count"] == 1 and cleared["value"][0] == clr, cleared
        st, ctype, atom = curl(base, "/alerts.atom")
        assert st == 200 and ctype.startswith("application/atom+xml"), (st, ctype)
        caps = ET.fromstring(atom).findall(".//" + CAP_NS + "alert")
        assert len(caps) == 1 and xsd_valid(ET.tostring(caps[0], encoding="utf-8"))[0], atom[:500]

        # ---- device status; a bad one quarantined ----
        s.pub(GAUGE, pw, f"city/water_level/{GAUGE}/status",
              '{"state":"online","fw":"1.2.0","battery_v":3.6,"rssi_dbm":-95}', retain=True)
        status_sql = ("SELECT online, fw, battery_v, rssi_dbm FROM device_status"
                      " WHERE device_id = '%s'" % GAUGE)
        tkfix.wait_for(lambda: pg.psql(status_sql) == "1|1.2.0|3.6|-95", 10, "the status stored")
        q0 = int(pg.psql("SELECT count(*) FROM quarantine"))
        s.pub(GAUGE, pw, f"city/water_level/{GAUGE}/status", '{"state":"sleepy"}')
        tkfix.wait_for(lambda: int(pg.psql("SELECT count(*) FROM quarantine")) > q0, 10,
                       "the bad status quarantined")

        # ---- the ingest's counters (the running worker's, written once a second) ----
        def counters():
            return {k: int(v) for k, v in (line.split("|") for line in pg.psql(
                "SELECT name, value FROM ingest_counters").splitlines())}

        # since its restart: two readings and two status messages, one of them refused
        tkfix.wait_for(lambda: counters().get("quarantined", 0) >= 1, 10, "the counters written")
        c = counters()
        assert c["received"] >= 4 and c["stored"] >= 2 and c["published"] >= 2, c
        assert c["quarantined_ESCHEMA"] + c["quarantined_EINVAL"] >= 1, c
        assert c["commits"] >= 1 and c["started_at_us"] > 0, c
        al.stop()

        # ---- API keys ----
        key_id, key = s.add_apikey("Acme Mobility", "read,read:raw", rate=600)
        key2_id, _ = s.add_apikey("city ops", "admin")
        assert key2_id > key_id
        rows = pg.psql("SELECT id, prefix, owner, scopes, rate_per_min, revoked_us IS NULL"
                       " FROM api_keys ORDER BY id").splitlines()
        assert rows[0] == "%d|%s|Acme Mobility|read,read:raw|600|t" % (key_id, key[:10]), rows
        assert len(rows) == 2, rows
        # only the hash: the secret part of the key is nowhere in the table
        assert key[10:] not in pg.psql("SELECT string_agg(k::text, '|') FROM api_keys k")
        lst = s.admin("apikey", "list").stdout.splitlines()
        assert lst[0].split()[:3] == ["ID", "PREFIX", "OWNER"], lst
        mine = [line for line in lst if line.split()[0] == str(key_id)]
        assert mine and key[:10] in mine[0] and mine[0].rstrip().endswith("-"), lst
        r = s.admin("apikey", "revoke", key_id)
        assert "revoked" in r.stdout, r.stdout
        assert pg.psql("SELECT revoked_us IS NOT NULL FROM api_keys WHERE id = %d"
                       % key_id) == "t"
        mine = [line for line in s.admin("apikey", "list").stdout.splitlines()
                if line.split()[0] == str(key_id)]
        assert mine and not mine[0].rstrip().endswith("-"), mine
        r = s.admin("apikey", "revoke", 999, check=False)
        assert r.returncode == 1 and "no key 999" in r.stderr, (r.returncode, r.stderr)


if __name__ == "__main__":
    sys.exit(tkfix.main([test_postgresql]))
