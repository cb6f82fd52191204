"""systemd socket activation (issue 11 item 5): sockets passed as
LISTEN_FDS/LISTEN_PID (sd_listen_fds(3), from fd 3 on) are matched to the
configured listeners by address and served as they are: the test binds
them itself, and the kernel socket satchel accepts on is the test's (the
same inode, the only listener on the port), so satchel bound nothing. A
passed socket no listener wants is closed with a warning; one that is not
a listening stream socket stops the start; a reload keeps serving on it."""

import fcntl
import os
import socket

from harness import PASSWORDS, check, eq, free_port
from metrics_util import scrape

STORES = None

# LISTEN_PID must be the pid satchel runs as: sh's own, which exec keeps
ACTIVATE = ["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"]


def listening(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", port))   # no SO_REUSEADDR: nobody else binds it
    s.listen(64)
    return s


def activated(ctx, socks, **kw):
    """A server started with socks passed as fds 3, 4, ... (their order)."""
    srv = ctx.server(**kw)
    srv.prefix = list(ACTIVATE)
    srv.env["LISTEN_FDS"] = str(len(socks))
    fds = [s.fileno() for s in socks]

    def place():
        # in the child before exec: first out of the way, then 3, 4, ...
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 200 + i) for i, fd in enumerate(fds)]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i)    # dup2's copy is inherited by exec
            os.close(fd)
    srv.popen_kw = {"preexec_fn": place, "close_fds": False}
    return srv


def listen_inodes(port):
    """Inodes of the LISTEN sockets on 127.0.0.1:port (/proc/net/tcp)."""
    want = "0100007F:%04X" % port
    out = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":
                out.append(int(fields[9]))
    return out


def holds(pid, inode):
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "socket:[%d]" % inode:
                    return True
            except OSError:
                pass
    except OSError:
        pass
    return False


def test_serves_on_the_passed_sockets(ctx):
    pop_port, metrics_port = free_port(), free_port()
    pop, met = listening(pop_port), listening(metrics_port)
    srv = activated(ctx, [pop, met], config={
        "metrics_listen": "127.0.0.1:%d" % metrics_port})
    srv.port = pop_port         # listen = 127.0.0.1:pop_port
    srv.write_config()
    srv.start()
    log = srv.log_text()
    check("listening on 127.0.0.1:%d (socket from systemd)" % pop_port in log,
          "no 'socket from systemd' listening line: %s" % srv.log_tail(12))
    check("metrics on http://127.0.0.1:%d/metrics (socket from systemd)"
          % metrics_port in log, "metrics endpoint not on the passed socket")
    # the only listening socket on each port is the test's own
    for s, port in ((pop, pop_port), (met, metrics_port)):
        mine = os.fstat(s.fileno()).st_ino
        eq(listen_inodes(port), [mine], "LISTEN sockets on port %d" % port)
    workers = srv.workers_now()
    eq(len(workers), 2, "workers")
    for pid in workers:
        check(holds(pid, os.fstat(pop.fileno()).st_ino),
              "worker %d does not accept on the passed socket" % pid)
    check(holds(srv.proc.pid, os.fstat(met.fileno()).st_ino),
          "the master does not serve metrics on the passed socket")
    # the test closes its copies: satchel's own keep the sockets alive
    pop_ino = os.fstat(pop.fileno()).st_ino
    pop.close()
    met.close()
    p = srv.connect()
    p.login("alice", PASSWORDS["alice"])
    p.quit()
    eq(scrape(metrics_port)[("satchel_sessions_total", frozenset())], 1,
       "sessions counted on the passed metrics socket")
    # a reload keeps the same socket (duplicated for the new workers)
    srv.reload()
    eq(listen_inodes(pop_port), [pop_ino], "LISTEN socket after a reload")
    p = srv.connect()
    p.login("bob", PASSWORDS["bob"])
    p.quit()


def test_unwanted_socket_closed(ctx):
    pop_port, other_port = free_port(), free_port()
    pop, other = listening(pop_port), listening(other_port)
    srv = activated(ctx, [other, pop])   # order does not matter
    srv.port = pop_port
    srv.write_config()
    srv.start()
    check("systemd passed sockets no listener is configured for, closed: "
          "127.0.0.1:%d" % other_port in srv.log_text(),
          "no warning about the unused socket: %s" % srv.log_tail(12))
    ino = os.fstat(other.fileno()).st_ino
    for pid in [srv.proc.pid] + list(srv.children()):
        check(not holds(pid, ino), "pid %d kept the unused socket" % pid)
    p = srv.connect()
    p.login("alice", PASSWORDS["alice"])
    p.quit()


def test_not_a_listening_socket(ctx):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    srv = activated(ctx, [udp])
    try:
        srv.start()
    except AssertionError as e:
        check("server exited" in str(e), "start failed otherwise: %s" % e)
    else:
        raise AssertionError("satchel started with a UDP socket as LISTEN_FDS")
    check("LISTEN_FDS: descriptor 3 is not a listening TCP or unix stream "
          "socket" in srv.log_text(), "log: %s" % srv.log_tail(5))


def test_unix_lmtp_socket_passed(ctx):
    pop_port = free_port()
    pop = listening(pop_port)
    path = os.path.join(ctx.tmp, "lmtp.sock")
    lmtp = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lmtp.bind(path)
    os.chmod(path, 0o600)        # the socket unit's SocketMode, kept
    lmtp.listen(16)
    srv = activated(ctx, [pop, lmtp], config={"lmtp_listen": "unix:" + path})
    srv.port = pop_port
    srv.write_config()
    srv.start()
    check("listening for LMTP on unix:%s (socket from systemd)" % path
          in srv.log_text(), "log: %s" % srv.log_tail(12))
    eq(os.stat(path).st_mode & 0o777, 0o600, "mode of the passed unix socket")
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(path)
    greeting = c.recv(200)
    c.close()
    check(greeting.startswith(b"220 "), "LMTP greeting %r" % greeting)
