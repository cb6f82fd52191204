"""Debian's HAProxy for the integration tests (`make deps` unpacks it into
build-haproxy/): one process in a temp dir with the config a test gives
after a common header (tcp mode, timeouts), waited on until a port
listens, stopped by its PID."""

import os
import shutil
import socket
import subprocess
import tempfile

from harness import Skip, check, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HAPROXY = os.path.join(ROOT, "build-haproxy", "usr", "sbin", "haproxy")

HEADER = """global
    pidfile {d}/haproxy.pid
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
"""


class Haproxy:
    def __init__(self, body, port):
        """body: frontends and backends ({d} is the temp dir); port: one
        of its 127.0.0.1 frontends, to wait on."""
        if not os.access(HAPROXY, os.X_OK):
            raise Skip("no %s (make deps unpacks Debian's haproxy)"
                       % HAPROXY)
        self.dir = tempfile.mkdtemp(prefix="satchel-it-haproxy-")
        self.log_path = os.path.join(self.dir, "haproxy.log")
        conf = os.path.join(self.dir, "haproxy.cfg")
        with open(conf, "w") as f:
            f.write(HEADER.format(d=self.dir) + body.replace("{d}",
                                                             self.dir))
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([HAPROXY, "-f", conf, "-db"],
                                     stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: self._listens(port), 10, "haproxy to listen")
        except BaseException:
            self.stop()
            raise

    def _listens(self, port):
        check(self.proc.poll() is None, "haproxy exited: %s"
              % open(self.log_path).read()[-500:])
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
