#!/usr/bin/python3
"""Several ingest workers on one MQTT shared subscription (docs/delivery.md, "Several
workers"), each killed with SIGKILL in turn under load.

Two takumi-ingest processes subscribe as $share/ingest/...: Mosquitto spreads every
device's readings over both, so a device's gap is often closed by the other worker than the
one that saw the reading after it. A publisher behaving like devices (tk-pub: keeps readings
until the watermark ack covers them, resends after reconnect or when the ack stalls) sends
16,000 readings from 16 devices while one worker or the other is killed at random moments and
restarted. At the end every device's ack covers its last reading and every reading is in the
store exactly once: no loss, no duplicate rows. Run against the SQLite store and against
PostgreSQL (a server started for the run, tests/pg/pgserver.py).

Both workers run the alert engine. Each gauge's level climbs 1 mm a reading from 0.001 m to
0.999 m and drops to 0 at its last reading, through alert levels set at 0.5, 0.7 and
0.85 m: whichever worker sees the crossing readings, each gauge gets exactly one level
alert, escalated to danger and cleared, and no other alert (docs/alerts.md). The API's
operator view (/admin/ingest) adds the workers' counters up and shows each one's.

TAKUMI_WORKER_KILLS (default 6) and TAKUMI_CRASH_SEED choose the kills."""
import json
import os
import random
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pg"))
import tkfix  # noqa: E402
import pgserver  # noqa: E402

DEVICES = 16
COUNT = 1000  # readings per device
WORKERS = 2
BASE_MS = 1767225600000  # tk-pub's default: device d, seq s has ts = BASE_MS + s minutes
QUANTITIES = ("water_level", "battery_voltage", "water_temperature")

ROWS_SQL = ("SELECT o.t_us FROM {obs} o JOIN datastreams d ON d.id = o.ds_id "
            "JOIN things t ON t.id = d.thing_id JOIN observed_properties p "
            "ON p.id = d.observed_property_id WHERE t.device_id = '{dev}' AND p.name = '{q}'")


def check_exactly_once(query, obs, prefix, devices, count):
    """Every device's stored watermark is count, and each of its readings (tk-pub's seqs
    1..count) is in table obs exactly once for every quantity. query(sql) -> rows."""
    wm = dict(query("SELECT device_id, watermark FROM seq_state"))
    expect = {BASE_MS * 1000 + s * 60000000 for s in range(1, count + 1)}
    for i in range(devices):
        dev = "%s-%05d" % (prefix, i)
        assert int(wm.get(dev, -1)) == count, (dev, wm.get(dev))
        for q in QUANTITIES:
            times = [int(r[0]) for r in query(ROWS_SQL.format(obs=obs, dev=dev, q=q))]
            assert len(times) == len(set(times)), "%s %s: duplicate rows" % (dev, q)
            missing = expect - set(times)
            extra = set(times) - expect
            assert not missing, "%s %s: %d acknowledged readings lost, e.g. %r" % (
                dev, q, len(missing), sorted(missing)[:3])
            assert not extra, "%s %s: unexpected rows %r" % (dev, q, sorted(extra)[:3])


def run_workers(name, store_uri=None, query=None):
    """query(sql) -> list of rows (tuples); store_uri None: the stack's SQLite file."""
    kills = int(os.environ.get("TAKUMI_WORKER_KILLS", "6"))
    seed = int(os.environ.get("TAKUMI_CRASH_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    print("%s: seed %d, %d kills" % (name, seed, kills), flush=True)
    with tkfix.Stack(name, store=store_uri) as st:
        st.start_broker()
        for i in range(DEVICES):
            st.admin("device", "add", "--kind", "water_level", "--id", "wk-%05d" % i,
                     "--lat", "34.39", "--lon", "132.45")
            st.admin("alert", "set", "--device", "wk-%05d" % i, "--caution", "0.5",
                     "--warning", "0.7", "--danger", "0.85")
        gw = st.add_gateway("workers-gw")
        started = [0] * WORKERS

        def start(w):
            started[w] += 1
            return st.start_ingest("--stats-interval-s", "2", "--share-group", "ingest",
                                   "--client-id", "takumi-ingest-%d" % w,
                                   name="ingest-%d-%d" % (w, started[w]))

        ing = [start(w) for w in range(WORKERS)]
        pub = st.spawn("tk-pub", [os.path.join(tkfix.BIN, "tests", "tk-pub"), "--port", st.mqtt_port,
                                  "--user", "workers-gw", "--password", gw, "--prefix", "wk",
                                  "--devices", DEVICES, "--count", COUNT, "--rate", 1200,
                                  "--ack-timeout-ms", 2000, "--timeout-s", 400])
        done = 0
        for k in range(kills):
            time.sleep(rnd.uniform(0.5, 2.0))
            if pub.poll() is not None:
                break
            w = k % WORKERS  # each worker in turn
            st.kill(ing[w], signal.SIGKILL)
            time.sleep(rnd.uniform(0.0, 0.8))
            ing[w] = start(w)
            done += 1
            print("killed worker %d (kill %d)" % (w, done), flush=True)
        assert done >= min(kills, 4), "the publisher finished before %d kills; make it slower" % kills
        try:
            pub.wait(420)
        except subprocess.TimeoutExpired:
            raise AssertionError("publisher did not finish: %s" % st.log("tk-pub")[-2000:])
        out = st.log("tk-pub")
        res = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
        print("publisher: %s" % json.dumps(res), flush=True)
        assert pub.returncode == 0 and res["ok"], "every device's ack covers its last reading"
        for w in range(WORKERS):
            assert st.kill(ing[w], signal.SIGTERM) == 0

        # both workers did work: the shared subscription spread the load
        for w in range(WORKERS):
            logs = "".join(st.log("ingest-%d-%d" % (w, j)) for j in range(1, started[w] + 1))
            stored = [int(line.split(" observations=")[1].split()[0])
                      for line in logs.splitlines() if " observations=" in line]
            assert stored and max(stored) > 0, "worker %d stored nothing" % w

        if query is None:
            c = st.db()
            query = lambda sql: c.execute(sql).fetchall()  # noqa: E731
            obs = "all_observations"
        else:
            obs = "observations"
        check_exactly_once(query, obs, "wk", DEVICES, COUNT)
        assert int(query("SELECT count(*) FROM quarantine")[0][0]) == 0
        # one level alert per gauge (cond 0), escalated to danger (3), cleared; nothing else
        alerts = {}
        for dev, cond, active, sev_max in query(
                "SELECT device_id, cond, active, severity_max FROM alerts ORDER BY id"):
            alerts.setdefault(dev, []).append((int(cond), int(active), int(sev_max)))
        for i in range(DEVICES):
            dev = "wk-%05d" % i
            assert alerts.get(dev) == [(0, 0, 3)], "%s: alerts %r" % (dev, alerts.get(dev))
        # the operator view adds the workers' counters up and shows each one's own
        _, base = st.start_api()
        key = st.add_apikey("City operations", "admin")[1]
        r = subprocess.run(["curl", "-sf", "-H", "X-API-Key: " + key, base + "/admin/ingest"],
                           capture_output=True, text=True, timeout=30)
        view = json.loads(r.stdout)
        per = view["workers"]
        assert sorted(per) == ["takumi-ingest-%d" % w for w in range(WORKERS)], view
        for k in ("received", "stored", "acks_sent", "commits"):
            assert view["counters"][k] == sum(c[k] for c in per.values()), (k, view)
        assert view["counters"]["commit_us_max"] == max(c["commit_us_max"] for c in per.values())
        assert view["counters"]["started_at_us"] == min(c["started_at_us"] for c in per.values())
        print("%s: %d readings from %d devices stored once each across %d workers, %d kills; "
              "resent by devices: %d; one level alert per gauge" % (
                  name, DEVICES * COUNT, DEVICES, WORKERS, done, res["resent"]), flush=True)


def test_two_workers_sqlite():
    run_workers("workers-sqlite")


def test_two_workers_postgresql():
    with pgserver.PgServer() as pg:
        def query(sql):
            out = pg.psql(sql)
            return [tuple(line.split("|")) for line in out.splitlines() if line]
        run_workers("workers-pg", pg.uri, query)


if __name__ == "__main__":
    sys.exit(tkfix.main([test_two_workers_sqlite, test_two_workers_postgresql]))
