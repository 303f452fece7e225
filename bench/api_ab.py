#!/usr/bin/python3
"""Two builds of takumi-api side by side on store-bench's 10M-row store: the read figures of
bench/api.py ((h) latest of 1,000, (i) a day as JSON and as dataArray, (j) hourly over 30
days) for each, in alternating rounds so that both see the same moments of a shared
machine, and their replies compared byte for byte (a change of speed must not change
what the API returns).

Usage: api_ab.py --before PATH/takumi-api [--after PATH/takumi-api] [--db PATH]
[--rounds N] [--runs N]. The other build is typically the previous commit's, built with
`git archive <commit> | tar -x -C DIR` and `cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo` there."""
import argparse
import http.client
import os
import statistics
import sys
import urllib.parse

import api as B

tkfix = B.tkfix


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="the takumi-api to compare against")
    ap.add_argument("--after", default=os.path.join(B.BIN, "api", "takumi-api"))
    ap.add_argument("--db", help="a store built by store-bench (default: build or reuse one)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=101)
    a = ap.parse_args()
    db = a.db or B.store_db(os.path.join(B.BIN, "tmp", "store-bench"))
    bins = {"before": a.before, "after": a.after}
    with tkfix.Stack("bench-api-ab") as st:
        srv = {}
        for name, exe in bins.items():
            port = tkfix.free_port()
            p = st.spawn("api-" + name, [exe, "--db", db, "--data", st.dir, "--http-port", port,
                                          "--threads", B.THREADS, "--page-max", 2000,
                                          "--anon-rate", 0, "--log-level", 1])
            if not tkfix.wait_port(tkfix.HOST, port, 30):
                raise RuntimeError("%s did not start:\n%s" % (exe, st.log("api-" + name)))
            srv[name] = (p, port, http.client.HTTPConnection(tkfix.HOST, port, timeout=60))
        conn = srv["after"][2]
        conn.request("GET", "/v1.1/Datastreams?$select=id&$top=2000")
        ds = [d["@iot.id"] for d in B.json.loads(conn.getresponse().read())["value"]]
        day = B.T0_US + 10 * B.DAY_US
        q = urllib.parse.quote("phenomenonTime ge %s and phenomenonTime lt %s"
                               % (B.iso(day), B.iso(day + B.DAY_US)))
        paths = {
            "(h) latest of 1,000": "/v1.1/Datastreams/latest?ids="
            + ",".join(str(ds[i % len(ds)]) for i in range(1000)),
            "(i) a day, JSON": "/v1.1/Datastreams(%d)/Observations?$filter=%s&$top=2000" % (ds[0], q),
            "(i) a day, dataArray": "/v1.1/Datastreams(%d)/Observations?$filter=%s&$top=2000"
            "&$resultFormat=dataArray&$select=phenomenonTime,result" % (ds[0], q),
            "(j) hourly, 30 days": "/v1.1/Datastreams(%d)/Observations/aggregate?interval=hour"
            "&from=%s&to=%s&fn=avg,min,max,count" % (ds[0], B.iso(B.T0_US), B.iso(B.T0_US + 30 * B.DAY_US)),
        }
        res = {(n, k): [] for n in bins for k in paths}
        for _ in range(a.rounds):
            for k, path in paths.items():
                bodies = {}
                for n in bins:
                    p, port, c = srv[n]
                    med, p99, cpu, cl, body = B.timed(c, path, a.runs, p.pid)
                    res[(n, k)].append((med, p99, cpu, cl))
                    bodies[n] = body.replace(b"%d" % port, b"PORT")
                if bodies["before"] != bodies["after"]:
                    raise RuntimeError("%s: the two builds answer differently" % k)
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
        print("median of %d rounds of %d requests each (load average %s); replies identical"
              % (a.rounds, a.runs, load))
        for k in paths:
            for n in bins:
                v = res[(n, k)]
                print("%-22s %-6s %.2f ms (p99 %.2f, server CPU %.2f, client CPU %.2f)  rounds %s"
                      % (k, n, statistics.median(x[0] for x in v), statistics.median(x[1] for x in v),
                         statistics.median(x[2] for x in v), statistics.median(x[3] for x in v),
                         "/".join("%.2f" % x[0] for x in v)))


if __name__ == "__main__":
    main()
