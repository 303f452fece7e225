"""tkfix: the shared fixture of Takumi's integration tests (Python 3 stdlib only).

A Stack is one data directory plus the processes started for it: the real Mosquitto loaded
with broker-config/mosquitto.conf (rendered by takumi-admin on free loopback ports), the
real takumi binaries, and the stock mosquitto_pub / mosquitto_sub clients to talk to them.

    with tkfix.Stack("acl") as s:
        s.start_broker()
        pw = s.add_device("water_level", "wl-a-0001", mount_height_m=3.2)
        s.pub("wl-a-0001", pw, "city/water_level/wl-a-0001/reading", '{"v":1,...}')

Environment: TAKUMI_BIN (build dir holding admin/takumi-admin, ingest/takumi-ingest),
TAKUMI_TOP (source top), TAKUMI_TMP (where data dirs go; default TAKUMI_BIN/tmp),
TAKUMI_KEEP=1 (keep data dirs of passing tests too), TK_TEST_PG_URI (the store of every Stack
made without one: tests/pg/pgserver.py -- test_x.py runs a suite on PostgreSQL).

Nothing outlives a test: every process is remembered and stopped by pid in close(), which
also runs from atexit and on SIGTERM/SIGINT/SIGHUP; children started from the main thread
also get PR_SET_PDEATHSIG=SIGKILL, so even a SIGKILLed test leaves nothing running. Every
wait is bounded.
"""

import atexit
import ctypes
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from wait_port import wait_port  # noqa: E402,F401  (one implementation for takumi and tests)
TOP = os.environ.get("TAKUMI_TOP") or os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("TAKUMI_BIN") or os.path.join(TOP, "build", "test")
ADMIN = os.path.join(BIN, "admin", "takumi-admin")
INGEST = os.path.join(BIN, "ingest", "takumi-ingest")
API = os.path.join(BIN, "api", "takumi-api")
TEMPLATE = os.path.join(TOP, "broker-config", "mosquitto.conf")
TLS_CERTS = os.path.join(TOP, "broker-config", "tls-certs.sh")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
STDBUF = shutil.which("stdbuf") or "/usr/bin/stdbuf"  # mosquitto_sub's stdout must be line-buffered
HOST = "127.0.0.1"
# With tls_only the broker's device-facing (TLS) listener is on this other loopback address
# and the plaintext one on HOST only, as --bind 0.0.0.0 --plain-bind 127.0.0.1 would be on a
# real network: a plaintext client dialling the devices' address finds nothing.
DEVICE_HOST = "127.0.0.2"


class FixtureError(Exception):
    pass


# ---- process hygiene ----------------------------------------------------------------

_live = set()
_handed_out = set()
_libc = None
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:
    pass


def _die_with_parent():
    # preexec_fn: runs in the child. PR_SET_PDEATHSIG (1) fires when the thread that forked
    # exits, so it is only set for children of the main thread (see _preexec).
    if _libc is not None:
        _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def _preexec():
    return _die_with_parent if threading.current_thread() is threading.main_thread() else None


def _close_all():
    for st in list(_live):
        try:
            st.close()
        except Exception:  # keep closing the others
            traceback.print_exc()


def _on_signal(signum, frame):
    _close_all()
    sys.exit(128 + signum)


atexit.register(_close_all)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    if signal.getsignal(_sig) in (signal.SIG_DFL, signal.default_int_handler):
        signal.signal(_sig, _on_signal)


def free_port():
    """A loopback TCP port free right now (not handed out before by this process)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise FixtureError("no free port")




def wait_for(pred, timeout_s, what, interval=0.05):
    """Poll pred() until truthy (returns its value); FixtureError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise FixtureError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval)


class Sub:
    """A running mosquitto_sub (see Stack.sub_start). wait() returns the payloads (str)."""

    def __init__(self, proc, timeout):
        self.proc = proc
        self.timeout = timeout
        self.lines = []
        self.messages = []  # (topic, payload bytes, retained)
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.lines.append(line)
                if line.startswith("=MSG= "):
                    _, retained, topic, hexpayload = (line.split(" ", 3) + [""])[:4]
                    self.messages.append((topic, bytes.fromhex(hexpayload), retained == "1"))

    def _saw(self, text):
        with self._lock:
            return any(text in ln for ln in self.lines)

    def wait_subscribed(self, timeout=10):
        """True once the broker acknowledged the subscription, False if the client quit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._saw("received SUBACK"):
                return True
            if self.proc.poll() is not None:
                self._reader.join(2)
                return self._saw("received SUBACK")
            time.sleep(0.02)
        raise FixtureError("mosquitto_sub got no SUBACK in time")

    def wait(self):
        """Wait for the client to finish (count reached or -W timeout); payloads as str."""
        try:
            self.proc.wait(self.timeout + 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        self.stderr = self.proc.stderr.read().decode("utf-8", "replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return [p.decode("utf-8", "replace") for _, p, _ in self.messages]

    @property
    def refused(self):
        """The broker refused the connection (bad credentials)."""
        return self._saw("received CONNACK") and not self._saw("received CONNACK (0)")


# The store of a Stack made without one (pgserver.py's wrapper exports it): None is SQLite.
ENV_STORE = os.environ.get("TK_TEST_PG_URI") or None


class Stack:
    def __init__(self, name, store=ENV_STORE):
        """store: a store URI (postgresql://...) for the admin tool, the ingest and the API
        instead of DIR/takumi.db; the default is TK_TEST_PG_URI when set."""
        for path in (ADMIN,):
            if not os.access(path, os.X_OK):
                raise FixtureError(f"{path} not built (TAKUMI_BIN={BIN})")
        base = os.environ.get("TAKUMI_TMP") or os.path.join(BIN, "tmp")
        os.makedirs(base, exist_ok=True)
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"{name}-", dir=base)
        self.log_dir = os.path.join(self.dir, "log")
        os.makedirs(self.log_dir, exist_ok=True)
        self.mqtt_port = None
        self.ws_port = None
        self.mqtts_port = None
        self.tls_host = HOST
        self.tls_dir = os.path.join(self.dir, "tls")
        self.broker = None
        self.passwords = {}  # identity -> password, for convenience
        self.store = store
        self._procs = []  # (name, Popen, log file)
        self._dbs = []
        self._closed = False
        _live.add(self)

    # ---- admin tool ----

    def admin(self, *args, check=True, timeout=60):
        argv = [ADMIN, "--data", self.dir] + (["--store", self.store] if self.store else []) + \
            [str(a) for a in args]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise FixtureError(f"{' '.join(argv)} exited {r.returncode}\n"
                               f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    @staticmethod
    def _password_of(out):
        m = re.search(r"^mqtt password: (\S+)$", out, re.M)
        if not m:
            raise FixtureError(f"no password in takumi-admin output:\n{out}")
        return m.group(1)

    def add_device(self, kind, dev_id, lat=34.39, lon=132.45, **kw):
        """Register a device (kw: mount_height_m=3.2 -> --mount-height-m 3.2); return its
        password once the running broker (if any) has reloaded."""
        args = ["device", "add", "--kind", kind, "--id", dev_id, "--lat", lat, "--lon", lon]
        for k, v in kw.items():
            args += ["--" + k.replace("_", "-"), v]
        before = self._reload_count()
        pw = self._password_of(self.admin(*args).stdout)
        self._wait_reload(before)
        self.passwords[dev_id] = pw
        return pw

    def remove_device(self, dev_id):
        before = self._reload_count()
        r = self.admin("device", "remove", "--id", dev_id)
        self._wait_reload(before)
        self.passwords.pop(dev_id, None)
        return r

    def add_gateway(self, gw_id, devices="all"):
        before = self._reload_count()
        pw = self._password_of(self.admin("gateway", "add", "--id", gw_id,
                                          "--devices", devices).stdout)
        self._wait_reload(before)
        self.passwords[gw_id] = pw
        return pw

    def add_apikey(self, owner, scope, rate=None):
        """An API key of takumi-api (takumi-admin apikey add): returns (id, key)."""
        args = ["apikey", "add", "--owner", owner, "--scope", scope]
        if rate is not None:
            args += ["--rate", rate]
        out = self.admin(*args).stdout
        m = re.search(r"^api key (\d+) .*^key: (tk_\S+)$", out, re.M | re.S)
        if not m:
            raise FixtureError(f"no key in takumi-admin output:\n{out}")
        return int(m.group(1)), m.group(2)

    def secret(self, name):
        """Cleartext password of a service: "ingest" or "dashboard"."""
        with open(os.path.join(self.dir, "secrets", f"{name}.pass")) as f:
            return f.read().strip()

    # ---- broker ----

    @property
    def broker_log(self):
        return os.path.join(self.log_dir, "broker.log")

    def _reload_count(self):
        try:
            with open(self.broker_log, errors="replace") as f:
                return f.read().count("Reloading config.")
        except FileNotFoundError:
            return 0

    def _wait_reload(self, before, timeout=10):
        # takumi-admin SIGHUPs the broker after rewriting passwd/acl; mosquitto logs
        # "Reloading config." and reloads within the same loop turn, so any connection
        # made after the line appears sees the new files.
        if self.broker is None or self.broker.poll() is not None:
            return
        wait_for(lambda: self._reload_count() > before, timeout, "the broker to reload")

    @property
    def tls_ca(self):
        """The test CA's certificate (start_broker(tls=True) makes it)."""
        return os.path.join(self.tls_dir, "ca.crt")

    def make_certs(self):
        """The test CA and server certificate in DIR/tls (broker-config/tls-certs.sh)."""
        subprocess.run([TLS_CERTS, self.tls_dir, DEVICE_HOST], check=True, timeout=60,
                       stdin=subprocess.DEVNULL, capture_output=True)

    def start_broker(self, ws=True, tls=False, tls_only=False):
        """init, render the config on free ports, start mosquitto, wait for its port.
        tls: also a TLS listener (mqtts_port); tls_only: that listener on DEVICE_HOST and
        the plaintext ones on HOST only."""
        self.admin("init")
        tls = tls or tls_only
        if tls:
            self.make_certs()
        self.tls_host = DEVICE_HOST if tls_only else HOST
        last = ""
        for _ in range(3):  # a port taken between free_port() and bind: try others
            self.mqtt_port = free_port()
            self.ws_port = free_port() if ws else 0
            extra = []
            if tls:
                self.mqtts_port = free_port()
                extra = ["--mqtts-port", self.mqtts_port]
            if tls_only:
                extra += ["--bind", DEVICE_HOST, "--plain-bind", HOST]
            self.admin("broker-conf", "--template", TEMPLATE, "--mqtt-port", self.mqtt_port,
                       "--ws-port", self.ws_port, *extra)
            if self._launch_broker():
                return
            last = self._tail(self.broker_log)
            if "in use" not in last and "Unable to create" not in last:
                break
        raise FixtureError(f"mosquitto did not start; {self.broker_log}:\n{last}")

    def _launch_broker(self, timeout=10):
        conf = os.path.join(self.dir, "broker", "mosquitto.conf")
        log = open(self.broker_log, "ab")
        self.broker = subprocess.Popen([MOSQUITTO, "-c", conf], stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT,
                                       preexec_fn=_preexec())
        log.close()
        with open(os.path.join(self.dir, "broker", "mosquitto.pid"), "w") as f:
            f.write(f"{self.broker.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.broker.poll() is not None:
                self.broker = None
                return False
            if wait_port(HOST, self.mqtt_port, 0.2):
                if (not self.ws_port or wait_port(HOST, self.ws_port, 5)) and \
                        (not self.mqtts_port or wait_port(self.tls_host, self.mqtts_port, 5)):
                    return True
        self.stop_broker(signal.SIGKILL)
        return False

    def stop_broker(self, sig=signal.SIGTERM, timeout=10):
        if self.broker is None:
            return None
        p, self.broker = self.broker, None
        rc = self._stop(p, sig, timeout)
        try:
            os.unlink(os.path.join(self.dir, "broker", "mosquitto.pid"))
        except FileNotFoundError:
            pass
        return rc

    def restart_broker(self, sig=signal.SIGTERM):
        """Stop (by sig) and start again on the same ports with the same data."""
        self.stop_broker(sig)
        for _ in range(20):  # the old socket may linger for a moment
            if self._launch_broker():
                return
            time.sleep(0.1)
        raise FixtureError(f"mosquitto did not restart:\n{self._tail(self.broker_log)}")

    # ---- MQTT clients ----

    def _client_args(self, user, password, version, tls=False):
        if tls:
            a = ["-h", self.tls_host, "-p", str(self.mqtts_port), "--cafile", self.tls_ca]
        else:
            a = ["-h", HOST, "-p", str(self.mqtt_port)]
        a += ["-V", {5: "mqttv5", 311: "mqttv311"}[version]]
        if user is not None:
            a += ["-u", user]
        if password is not None:
            a += ["-P", password]
        return a

    def pub(self, user, password, topic, payload, qos=1, retain=False, check=True, version=5,
            timeout=10, tls=False):
        """Publish one message with mosquitto_pub. Returns the CompletedProcess with
        .ok (connected and, for MQTT 5 QoS>0, not refused) and .denied (MQTT 5: the ACL
        refused it, reason 0x87) added. check=True raises unless .ok."""
        argv = [MOSQUITTO_PUB] + self._client_args(user, password, version, tls)
        argv += ["-t", topic, "-q", str(qos), "-s"]
        if retain:
            argv.append("-r")
        data = payload if isinstance(payload, bytes) else str(payload).encode()
        r = subprocess.run(argv, input=data, capture_output=True, timeout=timeout)
        r.stdout = r.stdout.decode("utf-8", "replace")
        r.stderr = r.stderr.decode("utf-8", "replace")
        r.denied = "failed: Not authorized" in r.stderr  # MQTT 5 PUBACK reason 0x87
        # 3.1.1: "Connection Refused: not authorised."; 5: "Connection error: Not authorized"
        r.refused = "Connection error" in r.stderr or "connection was refused" in r.stderr
        r.ok = r.returncode == 0 and "failed" not in r.stderr and not r.refused
        if check and not r.ok:
            raise FixtureError(f"mosquitto_pub as {user} to {topic} failed "
                               f"(exit {r.returncode}): {r.stderr.strip()}")
        return r

    def sub_start(self, user, password, topic, count=1, timeout=5, version=5, qos=1,
                  wait_subscribed=True, tls=False):
        """Start mosquitto_sub for count messages or timeout seconds; returns a Sub after
        the SUBACK (so a publish made afterwards is seen). Sub.wait() -> payloads."""
        # line-buffered, so the SUBACK line is seen while the client runs, not at its exit
        argv = [STDBUF, "-oL", MOSQUITTO_SUB] + self._client_args(user, password, version, tls)
        argv += ["-t", topic, "-q", str(qos), "-C", str(count), "-W", str(int(timeout)), "-d",
                 "-F", "=MSG= %r %t %x"]
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, preexec_fn=_preexec())
        s = Sub(p, timeout)
        if wait_subscribed:
            s.wait_subscribed()
        return s

    def sub(self, user, password, topic, count=1, timeout=5, version=5):
        """Receive up to count messages within timeout seconds; list of payloads (str)."""
        return self.sub_start(user, password, topic, count, timeout, version,
                              wait_subscribed=False).wait()

    # ---- store and processes ----

    @property
    def db_path(self):
        return os.path.join(self.dir, "takumi.db")

    def db(self):
        c = sqlite3.connect(self.db_path, timeout=10)
        self._dbs.append(c)
        return c

    @property
    def db_args(self):
        """The store flag of takumi-ingest and takumi-api: [] (DIR/takumi.db) or --db URI."""
        return ["--db", self.store] if self.store else []

    def sql_rows(self, sqlite_sql, pg_sql=None):
        """Rows (tuples) of one query on the stack's store: sqlite_sql on the SQLite file,
        pg_sql (default: the same text) through psql on a PostgreSQL store, where a value
        comes back as text, a whole number as int and NULL as None."""
        if not self.store:
            c = self.db()
            try:
                return c.execute(sqlite_sql).fetchall()
            finally:
                c.close()
        # rows end with a NUL byte, fields are split by U+001F, NULL is a lone U+001E:
        # no text these tests store holds them
        r = subprocess.run(["psql", self.store, "-X", "-A", "-t", "-0", "-F", "\x1f",
                            "-P", "null=\x1e", "-v", "ON_ERROR_STOP=1", "-c", pg_sql or sqlite_sql],
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise FixtureError(f"psql: {r.stderr.decode(errors='replace')}")

        def value(v):
            if v == "\x1e":
                return None
            return int(v) if v.lstrip("-").isdigit() else v
        return [tuple(value(v) for v in rec.split("\x1f"))
                for rec in r.stdout.decode().split("\0") if rec]

    def sql_value(self, sqlite_sql, pg_sql=None):
        """The first value of one query on the stack's store (sql_rows)."""
        return self.sql_rows(sqlite_sql, pg_sql)[0][0]

    def store_bytes(self):
        """Everything the store holds, as bytes: the SQLite file and its WAL, or the text of
        pg_dump of the PostgreSQL database (to check what is never stored in any form)."""
        if not self.store:
            data = b""
            for path in (self.db_path, self.db_path + "-wal"):
                try:
                    with open(path, "rb") as f:
                        data += f.read()
                except FileNotFoundError:
                    pass
            return data
        r = subprocess.run(["pg_dump", "--no-owner", self.store], capture_output=True,
                           timeout=120, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise FixtureError(f"pg_dump: {r.stderr.decode(errors='replace')}")
        return r.stdout

    def spawn(self, name, argv, env=None):
        """Start a process (logs to DIR/log/<name>.log); env adds to os.environ."""
        full = dict(os.environ)
        if env:
            full.update(env)
        log = open(os.path.join(self.log_dir, f"{name}.log"), "ab")
        p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, env=full, preexec_fn=_preexec())
        log.close()
        self._procs.append((name, p))
        return p

    def start_ingest(self, *extra, name="ingest", env=None, wait=True):
        """takumi-ingest --data DIR --mqtt-port N [extra...], as ./takumi up starts it.
        wait: return once it has subscribed (a reading published before its first
        subscription exists has no subscriber, and the broker drops it)."""
        p = self.spawn(name, [INGEST, "--data", self.dir, "--mqtt-port", self.mqtt_port,
                              *self.db_args, *extra], env=env)
        if wait:
            wait_for(lambda: "subscribed to" in self.log(name) or p.poll() is not None, 20,
                     "the ingest to subscribe")
            if p.poll() is not None:
                raise FixtureError(f"ingest exited {p.returncode}:\n{self.log(name)[-2000:]}")
        return p

    def start_api(self, *extra, name="api", wait=True):
        """takumi-api --data DIR --http-port FREE (--mqtt-* when a broker runs, as ./takumi
        up starts it: the event streams read the broker as the dashboard identity) [extra];
        returns (Popen, base URL). wait: until it listens and, with a broker, has
        subscribed."""
        port = free_port()
        argv = [API, "--data", self.dir, "--http-port", port] + self.db_args
        if self.broker is not None:
            argv += ["--mqtt-host", HOST, "--mqtt-port", self.mqtt_port,
                     "--mqtt-user", "takumi-dashboard",
                     "--mqtt-password-file", os.path.join(self.dir, "secrets", "dashboard.pass")]
        p = self.spawn(name, argv + list(extra))
        if wait:
            if not wait_port(HOST, port, 10):
                raise FixtureError(f"takumi-api did not listen (exit {p.poll()}):\n{self.log(name)}")
            if self.broker is not None:
                wait_for(lambda: "event streams: subscribed" in self.log(name) or
                         p.poll() is not None, 20, "the API to subscribe")
                if p.poll() is not None:
                    raise FixtureError(f"takumi-api exited {p.returncode}:\n{self.log(name)[-2000:]}")
        return p, f"http://{HOST}:{port}"

    def log(self, name):
        """Text of DIR/log/<name>.log ("" if missing)."""
        try:
            with open(os.path.join(self.log_dir, f"{name}.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    @staticmethod
    def _stop(p, sig, timeout):
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        return p.returncode

    def kill(self, proc, sig=signal.SIGKILL, timeout=10):
        """Send sig; for SIGKILL/SIGTERM/SIGINT wait for the exit (SIGKILL after timeout).
        Returns the exit status (None for other signals)."""
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            return self._stop(proc, sig, timeout)
        proc.send_signal(sig)
        return None

    @staticmethod
    def _tail(path, n=40):
        try:
            with open(path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except FileNotFoundError:
            return ""

    def close(self):
        """Stop everything this stack started (SIGTERM, then SIGKILL), by pid."""
        if self._closed:
            return
        self._closed = True
        for _, p in reversed(self._procs):
            self._stop(p, signal.SIGTERM, 5)
        self._procs.clear()
        self.stop_broker(signal.SIGTERM, 5)
        for c in self._dbs:
            try:
                c.close()
            except Exception:
                pass
        self._dbs.clear()
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        if exc_type is None and os.environ.get("TAKUMI_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
        elif exc_type is not None:
            print(f"tkfix: kept {self.dir} for inspection", file=sys.stderr)
        return False


def main(tests):
    """Run test functions in order; print PASS/FAIL per test; exit status 1 if any failed.
    Usage at the bottom of a test file: sys.exit(tkfix.main([test_a, test_b]))."""
    only = set(sys.argv[1:])
    failed = []
    for t in tests:
        if only and t.__name__ not in only:
            continue
        t0 = time.monotonic()
        try:
            t()
        except Exception:
            failed.append(t.__name__)
            print(f"FAIL {t.__name__} ({time.monotonic() - t0:.1f} s)", flush=True)
            traceback.print_exc()
            sys.stdout.flush()
        else:
            print(f"PASS {t.__name__} ({time.monotonic() - t0:.1f} s)", flush=True)
    _close_all()
    if failed:
        print(f"{len(failed)} failed: {' '.join(failed)}")
        return 1
    return 0
