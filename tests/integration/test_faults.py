#!/usr/bin/python3
"""The delivery guarantee under faults beyond an ingest crash (SPEC section 4,
docs/reliability.md). Each test prints its figure.

- kill -9 of the broker under load, restarted on the same data: every reading the
  publisher (behaving like devices: it keeps readings until the watermark ack covers them
  and resends after reconnecting) saw acknowledged is stored exactly once after the replay;
- disk full under the store (the database on a small tmpfs, filled up): no ack for anything
  not committed (every ack seen while the disk is full is checked against the store at that
  moment), the ingest keeps running, and once space returns everything is stored exactly once;
- a backlog queued in the broker for the ingest's persistent session while it is down: the
  restarted ingest drains it with no disconnect, and the drain time is printed.

Sizes come from the environment so that ./takumi bench --faults (bench/faults.py) runs the
long version: TAKUMI_FAULT_BROKER_KILLS (default 2), TAKUMI_FAULT_BACKLOG (default 10000),
TAKUMI_CRASH_SEED."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402

TK_PUB = os.path.join(tkfix.BIN, "tests", "tk-pub")
BASE_MS = 1767225600000  # tk-pub: device d, seq s has ts = BASE_MS + s minutes
FIGURES = {}  # name -> figure, for bench/faults.py


def t_us(seq):
    return (BASE_MS + seq * 60000) * 1000


def provision(st, n, prefix="fd"):
    for i in range(n):
        st.admin("device", "add", "--kind", "water_level", "--id", "%s-%05d" % (prefix, i),
                 "--lat", "34.39", "--lon", "132.45")
    return st.add_gateway("fault-gw")


def start_pub(st, gw, devices, count, *extra, prefix="fd", name="tk-pub"):
    return st.spawn(name, [TK_PUB, "--port", st.mqtt_port, "--user", "fault-gw", "--password", gw,
                           "--prefix", prefix, "--devices", devices, "--count", count, *extra])


def pub_result(st, pub, timeout, name="tk-pub"):
    try:
        pub.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("publisher did not finish: %s" % st.log(name)[-2000:])
    lines = [ln for ln in st.log(name).splitlines() if ln.startswith("{")]
    assert lines, st.log(name)[-2000:]
    res = json.loads(lines[-1])
    assert pub.returncode == 0 and res["ok"], "every device's ack covers its last reading: %s" % (
        st.log(name)[-1500:])
    return res


def stored_times(c, dev):
    return [r[0] for r in c.execute(
        "SELECT o.t_us FROM all_observations o JOIN datastreams d ON d.id = o.ds_id "
        "JOIN things t ON t.id = d.thing_id JOIN observed_properties p "
        "ON p.id = d.observed_property_id WHERE t.device_id = ? AND p.name = 'water_level'",
        (dev,)).fetchall()]


def exactly_once(st, devices, count, prefix="fd"):
    """(lost, duplicates) over every device's readings 1..count (all acknowledged)."""
    c = st.db()
    lost = dups = 0
    expect = {t_us(s) for s in range(1, count + 1)}
    for i in range(devices):
        times = stored_times(c, "%s-%05d" % (prefix, i))
        dups += len(times) - len(set(times))
        lost += len(expect - set(times))
        assert set(times) <= expect, "rows nobody sent"
    return lost, dups


def test_kill9_broker_under_load():
    kills = int(os.environ.get("TAKUMI_FAULT_BROKER_KILLS", "2"))
    seed = int(os.environ.get("TAKUMI_CRASH_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    devices, count = 10, 300 * (kills + 1)
    print("seed %d, %d broker kills" % (seed, kills), flush=True)
    with tkfix.Stack("fault-broker") as st:
        st.start_broker()
        gw = provision(st, devices)
        st.start_ingest("--stats-interval-s", "2")
        pub = start_pub(st, gw, devices, count, "--rate", 600, "--ack-timeout-ms", 3000,
                        "--timeout-s", 600)
        for k in range(kills):
            time.sleep(rnd.uniform(1.0, 3.0))
            if pub.poll() is not None:
                break
            st.restart_broker(signal.SIGKILL)
            print("broker kill %d done" % (k + 1), flush=True)
        res = pub_result(st, pub, 600)
        lost, dups = exactly_once(st, devices, count)
        FIGURES["broker_kill9"] = {"kills": kills, "readings": devices * count, "lost": lost,
                                   "duplicates": dups, "resent": res["resent"]}
        print("kill -9 of the broker x%d under load: %d readings acknowledged, %d lost after "
              "the devices' replay, %d duplicates stored (%d resent by devices)" % (
                  kills, devices * count, lost, dups, res["resent"]), flush=True)
        assert lost == 0 and dups == 0


class AckWatcher(threading.Thread):
    """Subscribes to every device's ack as the gateway identity (mosquitto_sub) and, while
    `checking` is set, checks each ack against the store at the moment it arrives: every
    reading up to the acknowledged seq must already be committed."""

    def __init__(self, st, gw_pass, devices, prefix):
        super().__init__(daemon=True)
        self.st, self.devices, self.prefix = st, devices, prefix
        self.checking = threading.Event()
        self.checked = 0
        self.violations = []
        self.latest = {}
        self.proc = subprocess.Popen(
            [tkfix.STDBUF, "-oL", tkfix.MOSQUITTO_SUB, "-h", tkfix.HOST, "-p", str(st.mqtt_port),
             "-u", "fault-gw", "-P", gw_pass, "-t", "city/water_level/+/ack", "-v", "-q", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=tkfix._preexec())

    def run(self):
        import sqlite3
        for line in self.proc.stdout:
            topic, _, payload = line.strip().partition(" ")
            dev = topic.split("/")[2]
            try:
                seq = json.loads(payload)["seq"]
            except (ValueError, KeyError):
                continue
            self.latest[dev] = seq
            if self.checking.is_set():
                c = sqlite3.connect("file:%s?mode=ro" % self.st.db_path, uri=True, timeout=10)
                try:
                    have = {t for t in stored_times(c, dev)}
                finally:
                    c.close()
                missing = [s for s in range(1, seq + 1) if t_us(s) not in have]
                self.checked += 1
                if missing:
                    self.violations.append((dev, seq, missing[:3]))

    def stop(self):
        self.proc.kill()
        self.proc.wait(5)
        self.join(5)


def test_disk_full():
    if os.geteuid() != 0:
        print("SKIP: mounting a small filesystem needs root")
        sys.exit(77)
    devices, count = 10, 1500
    with tkfix.Stack("fault-disk") as st:
        mnt = os.path.join(st.dir, "small")
        os.makedirs(mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", mnt],
                       check=True, timeout=20)
        try:
            st.start_broker()
            db = os.path.join(mnt, "takumi.db")
            # the registry lives in the store: move it onto the small filesystem
            shutil.move(st.db_path, db)
            os.symlink(db, st.db_path)
            gw = provision(st, devices)
            w = AckWatcher(st, gw, devices, "fd")
            w.start()
            ing = st.start_ingest("--stats-interval-s", "1", "--db", db)
            # leave about 256 KiB: the load needs several MiB
            filler = os.path.join(mnt, "filler")
            free = shutil.disk_usage(mnt).free
            with open(filler, "wb") as f:
                f.write(b"\0" * max(0, free - (256 << 10)))
            w.checking.set()
            pub = start_pub(st, gw, devices, count, "--rate", 1500, "--ack-timeout-ms", 3000,
                            "--timeout-s", 600)
            tkfix.wait_for(lambda: "failed" in st.log("ingest") and "full" in st.log("ingest"),
                           60, "the ingest to hit the full disk", 0.2)
            acked_at_full = sum(w.latest.values())
            time.sleep(8)  # the disk stays full; devices keep sending and resending
            acked_after = sum(w.latest.values())
            assert ing.poll() is None, "the ingest keeps running on a full disk"
            assert pub.poll() is None, "the publisher cannot finish while nothing is stored"
            failures = [ln for ln in st.log("ingest").splitlines() if "failed" in ln]
            print("disk full: the ingest logged %d failed commits, e.g. %s" % (
                len(failures), failures[0].split(": ", 1)[-1][:120]), flush=True)
            print("acks while full: %d readings acknowledged when the disk filled, %d after 8 s "
                  "more of load; %d acks checked against the store, %d ahead of it" % (
                      acked_at_full, acked_after, w.checked, len(w.violations)), flush=True)
            os.unlink(filler)
            t0 = time.monotonic()
            res = pub_result(st, pub, 300)
            recovered = time.monotonic() - t0
            time.sleep(1)
            w.checking.clear()
            w.stop()
            lost, dups = exactly_once(st, devices, count)
            FIGURES["disk_full"] = {"failed_commits": len(failures), "acks_checked": w.checked,
                                    "acks_ahead_of_store": len(w.violations), "lost": lost,
                                    "duplicates": dups, "recovered_s": round(recovered, 1)}
            print("space returned: every device acknowledged %.1f s later; %d lost, %d duplicates; "
                  "%d resent by devices" % (recovered, lost, dups, res["resent"]), flush=True)
            assert not w.violations, "acks for readings not in the store: %r" % w.violations[:5]
            assert w.checked > 0 and lost == 0 and dups == 0
            assert ing.poll() is None
        finally:
            st.close()
            subprocess.run(["umount", "-l", mnt], timeout=20)


def test_backlog_drain():
    backlog = int(os.environ.get("TAKUMI_FAULT_BACKLOG", "10000"))
    devices = 100
    count = backlog // devices
    with tkfix.Stack("fault-backlog") as st:
        st.start_broker()
        gw = provision(st, devices)
        ing = st.start_ingest("--stats-interval-s", "2")  # creates the persistent session
        assert st.kill(ing, signal.SIGTERM) == 0
        # the ingest is down: every reading queues in the broker for its session
        pub = start_pub(st, gw, devices, count, "--ack-timeout-ms", 600000, "--timeout-s", 900)
        try:
            tkfix.wait_for(lambda: "publishes acknowledged by the broker" in st.log("tk-pub") or
                           pub.poll() is not None, 240, "the backlog to be queued in the broker",
                           0.5)
        except tkfix.FixtureError as e:
            raise AssertionError("%s\ntk-pub:\n%s\nbroker:\n%s" % (
                e, st.log("tk-pub")[-1500:], st.log("broker")[-3000:])) from None
        assert pub.poll() is None, st.log("tk-pub")[-1500:]
        assert " 0 failed" in st.log("tk-pub"), "the broker took every publish: %s\nbroker:\n%s" % (
            st.log("tk-pub")[-1500:], st.log("broker")[-3000:])
        before = len(st.log("broker").splitlines())
        t0 = time.monotonic()
        st.start_ingest("--stats-interval-s", "1", name="ingest-2", wait=False)
        res = pub_result(st, pub, 900)
        drain = time.monotonic() - t0
        lost, dups = exactly_once(st, devices, count)
        log = st.log("ingest-2")
        reconnects = log.count("connection lost") + log.count("connect to")
        disconnects = sum(1 for ln in st.log("broker").splitlines()[before:]
                          if "takumi-ingest" in ln and ("disconnect" in ln or "closed" in ln or
                                                        "timeout" in ln))
        FIGURES["backlog"] = {"readings": devices * count, "drain_s": round(drain, 1),
                              "rate": round(devices * count / drain), "ingest_reconnects": reconnects,
                              "broker_disconnects": disconnects, "lost": lost, "duplicates": dups,
                              "resent": res["resent"]}
        print("backlog of %d readings queued while the ingest was down: drained and acknowledged "
              "in %.1f s (%.0f readings/s), %d ingest reconnects, %d ingest disconnects in the "
              "broker log, %d resent, %d lost, %d duplicates" % (
                  devices * count, drain, devices * count / drain, reconnects, disconnects,
                  res["resent"], lost, dups), flush=True)
        assert lost == 0 and dups == 0 and reconnects == 0 and disconnects == 0
        assert res["resent"] == 0, "no device had to resend: the queue bridged the outage"


if __name__ == "__main__":
    sys.exit(tkfix.main([test_kill9_broker_under_load, test_disk_full, test_backlog_drain]))
