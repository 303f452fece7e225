#!/usr/bin/env python3
"""A throwaway PostgreSQL server for one test run.

initdb into a temporary directory, then `postgres -D DIR -k SOCKDIR -p PORT -c
listen_addresses=127.0.0.1` on a free port, as the `postgres` user when run as root
(PostgreSQL refuses to run as root), stopped by its pid at the end and the directory
removed. The store URI it gives is postgresql:///takumi?host=SOCKDIR&port=PORT&user=...

As a module: `with PgServer() as pg: pg.uri`. As a command:
    pgserver.py -- CMD ARGS...   run CMD with TK_TEST_PG_URI set to the server's store URI
(the exit status is CMD's). Debian's binaries are looked for under /usr/lib/postgresql/*/bin.
"""
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


def _bindir():
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if cands:
        return os.path.dirname(cands[-1])
    p = shutil.which("postgres")
    if p:
        return os.path.dirname(p)
    raise RuntimeError("no PostgreSQL server binaries (Debian: apt-get install postgresql)")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, dbname="takumi", settings=None):
        self.dbname = dbname
        self.settings = dict(settings or {})
        self.bindir = _bindir()
        self.proc = None
        self.dir = None
        self.port = None
        self.user = None
        self.sockdir = None
        self.log = None

    # Commands run as the server's owner (PostgreSQL refuses root), in the child itself
    # so that the pid we hold is the postmaster's.
    def _demote(self):
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)

    def start(self):
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.dir = tempfile.mkdtemp(prefix="tk-pg-")
        os.chmod(self.dir, 0o755)
        data = os.path.join(self.dir, "data")
        self.sockdir = os.path.join(self.dir, "sock")
        os.mkdir(self.sockdir)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            for d in (self.dir, self.sockdir):
                os.chown(d, pw.pw_uid, pw.pw_gid)
        r = subprocess.run(
            [os.path.join(self.bindir, "initdb"), "-D", data, "-A", "trust", "-U", self.user,
             "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"],
            capture_output=True, text=True, timeout=120, preexec_fn=self._demote, cwd=self.dir)
        if r.returncode != 0:
            raise RuntimeError("initdb failed: " + r.stderr[-2000:])
        self.port = _free_port()
        self._launch("CREATE DATABASE " + self.dbname)
        return self

    def _launch(self, first_sql):
        """Start the server on self.dir and self.port; done once first_sql succeeds."""
        data = os.path.join(self.dir, "data")
        argv = [os.path.join(self.bindir, "postgres"), "-D", data, "-k", self.sockdir,
                "-p", str(self.port), "-c", "listen_addresses=127.0.0.1"]
        for k, v in self.settings.items():
            argv += ["-c", "%s=%s" % (k, v)]
        if self.log is None:
            self.log = open(os.path.join(self.dir, "postgres.log"), "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=self._demote, cwd=self.dir)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited at start:\n" + self.log_tail())
            r = subprocess.run([os.path.join(self.bindir, "psql"), "-h", self.sockdir, "-p",
                                str(self.port), "-U", self.user, "-d", "postgres", "-Atqc",
                                first_sql], capture_output=True, text=True, timeout=30)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("postgres did not accept connections within %d s: %s\n%s"
                                   % (START_TIMEOUT_S, r.stderr, self.log_tail()))
            time.sleep(0.2)

    def crash(self):
        """Stop the server as a crash would: SIGQUIT, PostgreSQL's immediate shutdown (no
        checkpoint; the next start recovers from the WAL). Every client connection drops."""
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(timeout=STOP_TIMEOUT_S)
        self.proc = None

    def restart(self):
        """Start the server again on the same data directory and port."""
        self._launch("SELECT 1")

    @property
    def uri(self):
        return "postgresql:///%s?host=%s&port=%d&user=%s" % (self.dbname, self.sockdir,
                                                              self.port, self.user)

    def psql(self, sql):
        """Run SQL, return its unaligned output (for tests that look inside)."""
        r = subprocess.run([os.path.join(self.bindir, "psql"), "-h", self.sockdir, "-p",
                            str(self.port), "-U", self.user, "-d", self.dbname, "-Atqc", sql],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("psql: " + r.stderr)
        return r.stdout.strip()

    def log_tail(self, n=3000):
        try:
            with open(os.path.join(self.dir, "postgres.log"), "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            # SIGINT is PostgreSQL's fast shutdown
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


def main():
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit("usage: pgserver.py -- CMD ARGS...")
    with PgServer() as pg:
        env = dict(os.environ, TK_TEST_PG_URI=pg.uri)
        r = subprocess.run(args, env=env)
        if r.returncode != 0:
            sys.stderr.write("--- postgres log (tail) ---\n" + pg.log_tail() + "\n")
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
