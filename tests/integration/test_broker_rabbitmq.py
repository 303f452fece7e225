#!/usr/bin/python3
"""The ingest and devices unchanged against another broker: RabbitMQ's MQTT plugin
(Debian rabbitmq-server, docs/scale-out.md "Broker tier").

A RabbitMQ node is started for the run on free ports (epmd, AMQP, distribution and MQTT
all on 127.0.0.1), as the rabbitmq user, with only the rabbitmq_mqtt plugin, and stopped by
pid at the end. takumi-ingest connects to it exactly as to Mosquitto, and a publisher
behaving like devices (tk-pub: keeps readings until the retained watermark ack covers
them, resends otherwise) sends 8 x 500 readings while the ingest is killed with SIGKILL twice
and restarted: every reading is acknowledged and stored exactly once.

Access control is RabbitMQ's own (users and vhost permissions set with rabbitmqctl), not
the ACL file takumi-admin writes for Mosquitto."""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402

RMQ_BIN = "/usr/lib/rabbitmq/bin"
START_TIMEOUT_S = 120
DEVICES = 8
COUNT = 500
BASE_MS = 1767225600000


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Rabbit:
    """One RabbitMQ node in a temporary directory."""

    def __init__(self):
        if not os.path.exists(os.path.join(RMQ_BIN, "rabbitmq-server")):
            raise tkfix.FixtureError("rabbitmq-server is not installed (Debian: rabbitmq-server; "
                                     "./takumi test installs it)")
        self.user = "rabbitmq" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.dir = tempfile.mkdtemp(prefix="tk-rabbitmq-")
        self.epmd_port, self.amqp_port, self.dist_port, self.mqtt_port = free_ports(4)
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write("listeners.tcp.default = 127.0.0.1:%d\n" % self.amqp_port)
            f.write("mqtt.listeners.tcp.default = 127.0.0.1:%d\n" % self.mqtt_port)
            f.write("mqtt.allow_anonymous = false\n")
            f.write("loopback_users = none\n")
            f.write("distribution.listener.interface = 127.0.0.1\n")
            f.write("distribution.listener.port_range.min = %d\n" % self.dist_port)
            f.write("distribution.listener.port_range.max = %d\n" % self.dist_port)
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[rabbitmq_mqtt].\n")
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            for root, dirs, files in os.walk(self.dir):
                for p in [root] + [os.path.join(root, x) for x in files]:
                    os.chown(p, pw.pw_uid, pw.pw_gid)
        self.env = dict(os.environ, HOME=self.dir, ERL_EPMD_PORT=str(self.epmd_port),
                        RABBITMQ_NODENAME="tk@localhost",
                        RABBITMQ_CONFIG_FILE=os.path.join(self.dir, "rabbitmq.conf"),
                        RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.dir, "enabled_plugins"),
                        RABBITMQ_MNESIA_BASE=os.path.join(self.dir, "mnesia"),
                        RABBITMQ_LOG_BASE=os.path.join(self.dir, "log"),
                        RABBITMQ_PID_FILE=os.path.join(self.dir, "node.pid"))
        self.epmd = self.server = None

    def _demote(self):
        os.setsid()
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)

    def start(self):
        log = open(os.path.join(self.dir, "server.out"), "wb")
        # our own epmd on a free port, so that the machine's (if any) is left alone
        self.epmd = subprocess.Popen(["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                                     stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                     preexec_fn=self._demote, cwd=self.dir)
        time.sleep(0.3)
        # the script execs erl: this pid is the node's
        self.server = subprocess.Popen([os.path.join(RMQ_BIN, "rabbitmq-server")], stdout=log,
                                       stderr=subprocess.STDOUT, env=self.env,
                                       preexec_fn=self._demote, cwd=self.dir)
        log.close()
        t0 = time.monotonic()
        while True:
            if self.server.poll() is not None:
                raise tkfix.FixtureError("rabbitmq-server exited %d:\n%s" % (self.server.returncode,
                                                                             self.output()))
            try:
                socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=1).close()
                break
            except OSError:
                pass
            if time.monotonic() - t0 > START_TIMEOUT_S:
                raise tkfix.FixtureError("RabbitMQ's MQTT listener did not open within %d s:\n%s"
                                         % (START_TIMEOUT_S, self.output()))
            time.sleep(0.5)
        print("RabbitMQ MQTT listener up after %.1f s" % (time.monotonic() - t0), flush=True)

    def output(self):
        try:
            with open(os.path.join(self.dir, "server.out"), "rb") as f:
                return f.read()[-3000:].decode(errors="replace")
        except OSError:
            return ""

    def ctl(self, *args):
        r = subprocess.run([os.path.join(RMQ_BIN, "rabbitmqctl")] + list(args), env=self.env,
                           capture_output=True, text=True, timeout=120,
                           preexec_fn=self._demote, cwd=self.dir)
        if r.returncode != 0:
            raise tkfix.FixtureError("rabbitmqctl %s: %s %s" % (" ".join(args), r.stdout, r.stderr))
        return r.stdout

    def add_user(self, name, password):
        self.ctl("add_user", name, password)
        self.ctl("set_permissions", "-p", "/", name, ".*", ".*", ".*")

    def stop(self):
        for p in (self.server, self.epmd):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def test_ingest_against_rabbitmq():
    rmq = Rabbit()
    try:
        rmq.start()
        with tkfix.Stack("rabbitmq") as st:
            for i in range(DEVICES):
                st.admin("device", "add", "--kind", "water_level", "--id", "rq-%05d" % i,
                         "--lat", "34.39", "--lon", "132.45")
            st.mqtt_port = rmq.mqtt_port  # no Mosquitto in this stack
            rmq.add_user("takumi-ingest", st.secret("ingest"))
            rmq.add_user("rq-gw", "rq-gw-password")
            ing = st.start_ingest("--stats-interval-s", "2", name="ingest-0")
            pub = st.spawn("tk-pub", [os.path.join(tkfix.BIN, "tests", "tk-pub"), "--port", rmq.mqtt_port,
                                      "--user", "rq-gw", "--password", "rq-gw-password", "--prefix", "rq",
                                      "--devices", DEVICES, "--count", COUNT, "--rate", 400,
                                      "--ack-timeout-ms", 2000, "--timeout-s", 300])
            for k in range(2):
                time.sleep(2.0)
                st.kill(ing, signal.SIGKILL)
                ing = st.start_ingest("--stats-interval-s", "2", name="ingest-%d" % (k + 1))
            pub.wait(320)
            res = json.loads([line for line in st.log("tk-pub").splitlines() if line.startswith("{")][-1])
            print("publisher: %s" % json.dumps(res), flush=True)
            assert pub.returncode == 0 and res["ok"], "every device's ack covers its last reading"
            assert st.kill(ing, signal.SIGTERM) == 0
            c = st.db()
            expect = {BASE_MS * 1000 + s * 60000000 for s in range(1, COUNT + 1)}
            for i in range(DEVICES):
                dev = "rq-%05d" % i
                (wm,) = c.execute("SELECT watermark FROM seq_state WHERE device_id = ?", (dev,)).fetchone()
                assert wm == COUNT, (dev, wm)
                times = [r[0] for r in c.execute(
                    "SELECT o.t_us FROM all_observations o JOIN datastreams d ON d.id = o.ds_id "
                    "JOIN things t ON t.id = d.thing_id WHERE t.device_id = ? AND d.quantity = 0",
                    (dev,))]
                assert len(times) == len(set(times)), "%s: duplicate rows" % dev
                assert set(times) == expect, "%s: %d readings missing" % (dev, len(expect - set(times)))
    finally:
        rmq.stop()


if __name__ == "__main__":
    sys.exit(tkfix.main([test_ingest_against_rabbitmq]))
