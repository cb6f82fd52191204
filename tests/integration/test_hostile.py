"""Clients that misbehave at the transport level: one that stops reading
must not keep its session once it is closing, and a reset during the
failed-login delay must not make the worker spin."""
import os
import socket
import struct
import subprocess
import time

from harness import *

STORES = ("maildir",)
OPTS = {"preauth_timeout": "2", "auth_fail_delay": "3000",
        "auth_fail_delay_max": "3000"}


def established(port):
    """Server-side TCP connections on port that are still established."""
    out = subprocess.run(["ss", "-tnH", "state", "established",
                          "( sport = :%d )" % port],
                         capture_output=True, text=True).stdout
    return len([l for l in out.splitlines() if l.strip()])


def worker_cpu_seconds(srv):
    total = 0
    for pid in srv.workers_now():
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / 100.0


def test_nonreading_client_dropped_after_grace(ctx):
    """The pre-auth timeout fires while the reply queue is full: the
    session must still end (within the 10 s close grace)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", ctx.srv.port))
    s.setblocking(False)
    sent = 0
    t0 = time.monotonic()
    # fill both directions' buffers with CAPA replies nobody reads
    while time.monotonic() - t0 < 1.0 and sent < 4 << 20:
        try:
            sent += s.send(b"CAPA\r\n" * 200)
        except BlockingIOError:
            time.sleep(0.01)
    check(established(ctx.srv.port) >= 1, "the connection was not established")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and established(ctx.srv.port) > 0:
        time.sleep(0.5)
    took = time.monotonic() - t0
    left = established(ctx.srv.port)
    s.close()
    check(left == 0, "a client that stopped reading still held its session "
          "%.0f s after connecting (preauth_timeout = 2 s)" % took)


def test_reset_during_login_delay_does_not_spin(ctx):
    p = ctx.srv.connect()
    p.ok("USER alice")
    p.send("PASS wrong\r\n")
    time.sleep(0.2)  # the reply is now held back for 3 s
    p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    p.sock.close()    # RST
    p.closed = True
    before = worker_cpu_seconds(ctx.srv)
    time.sleep(2.5)
    used = worker_cpu_seconds(ctx.srv) - before
    check(used < 0.5, "workers used %.2f s of CPU in 2.5 s after a reset "
          "during the failed-login delay (busy loop)" % used)
    q = ctx.srv.connect()
    q.quit()


def test_symlink_and_fifo_in_maildir_not_served(ctx):
    """A symlink in a Maildir (to another user's message here) and a FIFO
    are no messages: STAT counts neither, nothing hangs, and the
    messages around them are served."""
    srv = ctx.srv
    srv.fill("alice", make_msgs([simple_msg(i) for i in range(2)], "maildir"))
    bob = srv.fill("bob", make_msgs([simple_msg(9, subject="bob's secret")],
                                    "maildir"))
    bob_file = os.path.join(srv.maildrop("bob"), bob[0].sub, bob[0].name)
    cur = os.path.join(srv.maildrop("alice"), "cur")
    os.symlink(bob_file, os.path.join(cur, "1732590000.link.host:2,"))
    os.mkfifo(os.path.join(srv.maildrop("alice"), "new", "1732590001.fifo.host"))
    srv.fix_owner(srv.maildrop("alice"))
    p = srv.connect()
    p.login("alice", PASSWORDS["alice"])
    eq(p.cmd("STAT").split()[:2], ["+OK", "2"], "STAT without them")
    for n in (1, 2):
        data = p.multi_ok("RETR %d" % n)
        check(b"bob's secret" not in data, "RETR %d is alice's own" % n)
    p.quit()
