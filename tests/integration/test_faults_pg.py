#!/usr/bin/python3
"""The PostgreSQL server crashes under load (tests/pg/pgserver.py: SIGQUIT, PostgreSQL's
immediate shutdown, and a restart that recovers from the WAL), twice, while two ingest
workers on a shared subscription store what a publisher behaving like devices sends and an
API reads from the same server.

Checks: the workers keep running through both outages (their transactions fail, are rolled
back and retried on a new connection) and the API answers its first request after each
restart (its connection is replaced); at the end every device's ack covers its last
reading, and every reading is in the store exactly once."""
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
from test_ingest_workers import check_exactly_once  # noqa: E402

DEVICES = 16
COUNT = 600
CRASHES = 2


def api_get(base, path):
    """The status code, and the body when it is not 200."""
    r = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", base + path],
                       capture_output=True, text=True, timeout=30)
    body, _, code = r.stdout.rpartition("\n")
    return code if code == "200" else "%s %s" % (code, body[:600])


def test_server_crash_under_load():
    with pgserver.PgServer() as pg, tkfix.Stack("faults-pg", store=pg.uri) as st:
        st.start_broker()
        for i in range(DEVICES):
            st.admin("device", "add", "--kind", "water_level", "--id", "pc-%05d" % i,
                     "--lat", "34.39", "--lon", "132.45")
        gw = st.add_gateway("pgcrash-gw")
        ing = [st.start_ingest("--stats-interval-s", "2", "--share-group", "ingest",
                               "--client-id", "takumi-ingest-%d" % w, name="ingest-%d" % w)
               for w in range(2)]
        api, base = st.start_api()
        assert api_get(base, "/v1.1/Things?$top=1") == "200"
        pub = st.spawn("tk-pub", [os.path.join(tkfix.BIN, "tests", "tk-pub"), "--port", st.mqtt_port,
                                  "--user", "pgcrash-gw", "--password", gw, "--prefix", "pc",
                                  "--devices", DEVICES, "--count", COUNT, "--rate", 800,
                                  "--ack-timeout-ms", 2000, "--timeout-s", 300])
        for k in range(CRASHES):
            time.sleep(2.5)
            assert pub.poll() is None, "the publisher finished before crash %d" % (k + 1)
            pg.crash()
            time.sleep(2.0)  # readings keep coming; every transaction fails meanwhile
            pg.restart()
            code = api_get(base, "/v1.1/Things?$top=1")
            assert code == "200", "the API's first request after restart %d: %s\n%s" % (
                k + 1, code, st.log("api")[-1500:])
            print("PostgreSQL crash %d: restarted; the API answered its next request" % (k + 1),
                  flush=True)
        try:
            pub.wait(300)
        except subprocess.TimeoutExpired:
            raise AssertionError("publisher did not finish: %s" % st.log("tk-pub")[-2000:])
        res = json.loads([ln for ln in st.log("tk-pub").splitlines() if ln.startswith("{")][-1])
        assert pub.returncode == 0 and res["ok"], "every device's ack covers its last reading"
        for w in range(2):
            assert ing[w].poll() is None, "worker %d exited:\n%s" % (w, st.log("ingest-%d" % w)[-2000:])
        failed = sum(st.log("ingest-%d" % w).count("failed") for w in range(2))
        assert failed > 0, "the crashes hit no transaction"
        for w in range(2):
            assert st.kill(ing[w], signal.SIGTERM) == 0

        def query(sql):
            return [tuple(ln.split("|")) for ln in pg.psql(sql).splitlines() if ln]
        check_exactly_once(query, "observations", "pc", DEVICES, COUNT)
        print("PostgreSQL crashed %d times under load: %d readings from %d devices acknowledged and "
              "stored once each; %d failed transactions retried; resent by devices: %d" % (
                  CRASHES, DEVICES * COUNT, DEVICES, failed, res["resent"]), flush=True)


if __name__ == "__main__":
    sys.exit(tkfix.main([test_server_crash_under_load]))
