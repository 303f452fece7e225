#!/usr/bin/python3
"""`./takumi up --ingest-workers 2 --store postgresql://...` end to end, as a user runs it
(README, docs/scale-out.md): on free ports, without the demo fleet, against a PostgreSQL
server started for the test (tests/pg/pgserver.py), with the binaries of this build
(TAKUMI_UP_BIN). Checks:
- two ingest workers run on one shared subscription, and the API and the admin tool use
  the PostgreSQL store (no SQLite file appears in the data directory);
- `./takumi device add --data DIR` uses the store `up` remembered (DIR/store.uri);
- a reading published with mosquitto_pub is acknowledged with {"seq":1} and is in
  PostgreSQL and in the SensorThings API;
- SIGINT (Ctrl-C) stops every component: no process of the stack and no session on the
  PostgreSQL server is left."""
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pg"))
import tkfix  # noqa: E402
import pgserver  # noqa: E402

TAKUMI = os.path.join(tkfix.TOP, "takumi")


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def stack_pids(data):
    """Pids of processes whose command line names the data directory."""
    r = subprocess.run(["pgrep", "-f", data], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def test_up_workers_postgresql():
    with pgserver.PgServer() as pg, tkfix.Stack("up-pg") as st:
        data = os.path.join(st.dir, "up")
        ports = {k: tkfix.free_port() for k in ("mqtt", "ws", "http", "coap", "mqtts")}
        env = dict(os.environ, TAKUMI_UP_BIN=tkfix.BIN)
        log = open(os.path.join(st.dir, "up.log"), "wb")
        up = subprocess.Popen([TAKUMI, "up", "--data", data, "--no-demo", "--ingest-workers", "2",
                               "--store", pg.uri, "--mqtt-port", str(ports["mqtt"]),
                               "--ws-port", str(ports["ws"]), "--http-port", str(ports["http"]),
                               "--coap-port", str(ports["coap"]), "--mqtts-port", str(ports["mqtts"])],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                              start_new_session=True)
        log.close()

        def out():
            return read(os.path.join(st.dir, "up.log"))
        try:
            tkfix.wait_for(lambda: "Takumi is running" in out() or up.poll() is not None, 180,
                           "takumi up to start")
            assert up.poll() is None, out()[-3000:]
            assert "postgresql://" in out(), out()
            # two workers on one shared subscription
            for w in (1, 2):
                tkfix.wait_for(lambda: "subscribed to $share/ingest/" in read(
                    os.path.join(data, "log", "ingest-%d.log" % w)), 30, "worker %d to subscribe" % w)
            assert not os.path.exists(os.path.join(data, "takumi.db")), "no SQLite store made"

            # a device added through ./takumi uses the remembered store
            r = subprocess.run([TAKUMI, "device", "add", "--data", data, "--kind", "water_level",
                                "--id", "wl-up-0001", "--lat", "34.39", "--lon", "132.45",
                                "--mount-height-m", "3.2"], capture_output=True, text=True,
                               timeout=120, env=env)
            assert r.returncode == 0, r.stderr
            password = [ln.split()[-1] for ln in r.stdout.splitlines() if "password" in ln][0]
            assert pg.psql("SELECT count(*) FROM things WHERE device_id = 'wl-up-0001'") == "1"

            st.mqtt_port = ports["mqtt"]
            sub = st.sub_start("wl-up-0001", password, "city/water_level/wl-up-0001/ack", 1, 30)
            st.pub("wl-up-0001", password, "city/water_level/wl-up-0001/reading",
                   json.dumps({"v": 1, "id": "wl-up-0001", "seq": 1, "ts": "2026-11-26T09:00:00+09:00",
                               "distance_mm": 2700, "battery_v": 3.6}))
            got = sub.wait()
            assert got and json.loads(got[0]) == {"seq": 1}, got
            n = pg.psql("SELECT count(*) FROM observations o JOIN datastreams d ON d.id = o.ds_id "
                        "JOIN things t ON t.id = d.thing_id WHERE t.device_id = 'wl-up-0001'")
            assert n == "2", n  # the level and the battery
            url = ("http://127.0.0.1:%d/v1.1/Things?$filter=name%%20eq%%20'wl-up-0001'"
                   "&$expand=Datastreams($expand=Observations)" % ports["http"])
            thing = json.loads(subprocess.run(["curl", "-sf", "-g", url], capture_output=True,
                                              text=True, timeout=30).stdout)["value"]
            levels = [o["result"] for ds in thing[0]["Datastreams"] for o in ds["Observations"]
                      if ds["unitOfMeasurement"]["symbol"] == "m"]
            assert levels == [0.5], thing  # 3.2 m mount height - 2.7 m to the surface
        finally:
            os.kill(up.pid, signal.SIGINT)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
                raise AssertionError("takumi up did not stop on SIGINT:\n" + out()[-2000:])
        assert up.returncode == 0, out()[-2000:]
        tkfix.wait_for(lambda: not stack_pids(data), 10, "every component to exit")
        sessions = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'takumi' "
                           "AND pid <> pg_backend_pid()")
        assert sessions == "0", "PostgreSQL sessions left: " + sessions
        print("takumi up --ingest-workers 2 --store postgresql: reading acknowledged, stored in "
              "PostgreSQL, served by the API; Ctrl-C left no process and no session", flush=True)


if __name__ == "__main__":
    sys.exit(tkfix.main([test_up_workers_postgresql]))
