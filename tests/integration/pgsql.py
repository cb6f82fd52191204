"""PostgreSQL 15 from Debian for the user database tests (tests/
integration/test_users_pgsql.py), never the system cluster.

Cluster(dir) makes a data directory with initdb in dir (owned by the
`postgres` account the package creates, or by satchel's mail user: initdb
refuses root), and start() runs the server binary itself, under setpriv
(which execs, so the PID is the server's), on a port of the harness's
block, on 127.0.0.1 only, no Unix socket, trust authentication for
127.0.0.1 (test data only), fsync off. standby(dir) makes a streaming
standby of a running cluster with pg_basebackup -R. Every process is
stopped by its PID: stop() (SIGINT, PostgreSQL's fast shutdown), pause()/
resume() (SIGSTOP/SIGCONT of it and its backends)."""

import os
import pwd
import shutil
import signal
import subprocess
import time

import harness

PGBIN = "/usr/lib/postgresql/15/bin"


def available():
    return os.path.exists(os.path.join(PGBIN, "postgres")) and \
        shutil.which("psql") is not None


def _account():
    for name in ("postgres", harness.MAIL_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    raise harness.Skip("no postgres or %s account" % harness.MAIL_USER)


class Cluster:
    def __init__(self, dir, name="primary", data=None):
        self.dir = dir
        self.name = name
        self.data = data or os.path.join(dir, name)
        self.port = harness.free_port()
        self.log_path = os.path.join(dir, name + ".log")
        self.proc = None
        self.acct = _account()
        os.chown(dir, self.acct.pw_uid, self.acct.pw_gid)
        os.chmod(dir, 0o755)

    def as_pg(self, argv):
        if os.getuid() != 0:
            return argv
        return ["setpriv", "--reuid=%d" % self.acct.pw_uid,
                "--regid=%d" % self.acct.pw_gid, "--clear-groups", "--"] \
            + argv

    def run(self, argv, **kw):
        p = subprocess.run(self.as_pg(argv), capture_output=True,
                           timeout=60, cwd=self.dir, **kw)
        if p.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (
                " ".join(argv), p.returncode,
                (p.stderr or p.stdout).decode(errors="replace")[-800:]))
        return p.stdout.decode()

    def initdb(self):
        self.run([os.path.join(PGBIN, "initdb"), "-D", self.data, "-A",
                  "trust", "-U", "postgres", "--no-sync", "-E", "UTF8",
                  "--locale=C"])
        return self

    def start(self, timeout=30):
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.as_pg([os.path.join(PGBIN, "postgres"), "-D", self.data,
                        "-p", str(self.port),
                        "-c", "listen_addresses=127.0.0.1",
                        "-c", "unix_socket_directories=",
                        "-c", "fsync=off", "-c", "synchronous_commit=off",
                        "-c", "full_page_writes=off"]),
            stdout=logf, stderr=subprocess.STDOUT, cwd=self.dir)
        logf.close()
        harness.wait_for(self.ready, timeout,
                         lambda: "PostgreSQL %s on port %d (log: %s)" % (
                             self.name, self.port, self.log_tail()))
        return self

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("PostgreSQL %s exited: %s" % (
                self.name, self.log_tail()))
        p = subprocess.run([os.path.join(PGBIN, "pg_isready"), "-q", "-h",
                            "127.0.0.1", "-p", str(self.port)],
                           capture_output=True, timeout=10)
        return p.returncode == 0

    def log_tail(self, n=8):
        return harness.tail_file(self.log_path, n)

    def stop(self):
        """Fast shutdown (SIGINT) by PID; waits for the exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.resume()
        harness.stop_proc(self.proc, signal.SIGINT)

    def pause(self):
        """SIGSTOP to the postmaster and every backend it forked (each
        connection is served by a backend of its own): a server that
        hangs, with its sockets still open."""
        self.paused = [self.proc.pid] + list(
            harness.proc_children(self.proc.pid))
        for pid in self.paused:
            os.kill(pid, signal.SIGSTOP)

    def resume(self):
        for pid in getattr(self, "paused", []):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.paused = []

    def psql(self, sql, db="mail"):
        p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                            "-h", "127.0.0.1", "-p", str(self.port), "-U",
                            "postgres", "-d", db, "-At", "-c", sql],
                           capture_output=True, timeout=30)
        if p.returncode != 0:
            raise AssertionError("psql: %s" % p.stderr.decode()[-500:])
        return p.stdout.decode()

    def standby(self, name="standby"):
        """A streaming standby of this (running) cluster, started."""
        sb = Cluster(self.dir, name)
        sb.run([os.path.join(PGBIN, "pg_basebackup"), "-h", "127.0.0.1",
                "-p", str(self.port), "-U", "postgres", "-D", sb.data, "-R",
                "-X", "stream", "-c", "fast", "--no-sync"])
        return sb.start()

    def wait_replayed(self, standby, timeout=10):
        """Until the standby has replayed everything written so far."""
        lsn = self.psql("SELECT pg_current_wal_lsn()").strip()
        harness.wait_for(
            lambda: standby.psql("SELECT pg_last_wal_replay_lsn() >= '%s'"
                                 % lsn).strip() == "t", timeout,
            "the standby to replay up to %s" % lsn)
