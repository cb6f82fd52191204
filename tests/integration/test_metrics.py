"""The metrics endpoint (metrics_listen, issue 11 item 5): GET /metrics
from the master in the Prometheus text format, parsed by prometheus_client's
parser; its counters match a scripted run exactly; only GET /metrics is
answered; requests are bounded in size and time and a stalled client holds
nothing up; no child process holds the endpoint's socket."""

import base64
import os
import signal
import smtplib
import socket
import time

from harness import (PASSWORDS, check, eq, free_port, simple_msg, make_msgs,
                     wait_for, proc_children)
from metrics_util import (CountingPop, http, metrics_server, scrape, value,
                          wait_value)

STORES = None


def test_scripted_run_counts_exactly(ctx):
    srv = metrics_server(ctx, workers=2)
    srv.fill("alice", make_msgs([simple_msg(i) for i in range(6)], "maildir"))
    srv.fill("bob", make_msgs([simple_msg(i) for i in range(3)], "maildir"))
    srv.start()
    base = scrape(srv.metrics_port)
    eq(value(base, "satchel_sessions_total"), 0, "sessions before any client")
    eq(value(base, "satchel_ready"), 1, "satchel_ready after the ready line")

    sent = [0]
    ok_user = failed = retr = dele = sessions = 0
    # N successful USER/PASS logins with RETRs, one of them deleting
    for user, retrs, deletes in (("alice", 2, 0), ("bob", 3, 2),
                                 ("alice", 1, 1)):
        p = CountingPop(srv.port, sent)
        sessions += 1
        p.login(user, PASSWORDS[user])
        ok_user += 1
        p.multi_ok("TOP 1 0")   # TOP is not a retrieval
        for n in range(1, retrs + 1):
            p.retr(n)
            retr += 1
        for n in range(1, deletes + 1):
            p.ok("DELE %d" % n)
            dele += 1
        p.quit()
    # M failed logins: a wrong password, an unknown user
    for user, pw in (("alice", "wrong"), ("nobody", "x")):
        p = CountingPop(srv.port, sent)
        sessions += 1
        p.ok("USER " + user)
        p.err("PASS " + pw, "-ERR [AUTH]")
        failed += 1
        p.quit()
    # one AUTH PLAIN login, and a session that only says QUIT
    p = CountingPop(srv.port, sent)
    sessions += 1
    token = base64.b64encode(b"\0carol\0" + PASSWORDS["carol"].encode()).decode()
    p.ok("AUTH PLAIN " + token)
    p.quit()
    p = CountingPop(srv.port, sent)
    sessions += 1
    p.quit()

    wait_value(srv.metrics_port, "satchel_sessions_active", 0)
    m = scrape(srv.metrics_port)
    eq(value(m, "satchel_logins_total", mechanism="USER", result="ok"), ok_user,
       "USER logins ok")
    eq(value(m, "satchel_logins_total", mechanism="USER", result="failed"), failed,
       "USER logins failed")
    eq(value(m, "satchel_logins_total", mechanism="PLAIN", result="ok"), 1,
       "PLAIN logins ok")
    eq(value(m, "satchel_logins_total", mechanism="PLAIN", result="failed"), 0,
       "PLAIN logins failed")
    eq(value(m, "satchel_retrievals_total"), retr, "retrievals (RETR only)")
    eq(value(m, "satchel_deletions_total"), dele, "deletions at UPDATE")
    eq(value(m, "satchel_sessions_total"), sessions, "sessions started")
    eq(value(m, "satchel_bytes_sent_total"), sent[0],
       "octets sent (as the clients received them)")
    eq(value(m, "satchel_maildrop_open_seconds_count"), ok_user + 1,
       "maildrop opens (one per successful login)")
    eq(value(m, "satchel_maildrop_open_seconds_bucket", le="+Inf"), ok_user + 1,
       "the +Inf bucket counts every open")
    check(value(m, "satchel_maildrop_open_seconds_sum") > 0, "open latency sum > 0")
    eq(value(m, "satchel_auth_queue_depth"), 0, "auth queue depth when idle")
    per_worker = [v for (n, l), v in m.items()
                  if n == "satchel_worker_sessions_total"]
    eq(len(per_worker), 2, "per-worker series (2 workers)")
    eq(sum(per_worker), sessions, "sessions summed over the workers")
    # the deletions reached the store
    eq(len(srv.maildir_files("bob")), 1, "bob's messages left")
    eq(len(srv.maildir_files("alice")), 5, "alice's messages left")


def test_refusal_reason_counted(ctx):
    srv = metrics_server(ctx, workers=1,
                         config={"max_connections_per_ip": "2"}).start()
    a, b = srv.connect(), srv.connect()
    s = socket.create_connection(("127.0.0.1", srv.port), 5)
    s.settimeout(5)
    line = s.recv(200)
    check(line.startswith(b"-ERR [SYS/TEMP] too many connections from your address"),
          "third connection: %r" % line)
    s.close()
    m = scrape(srv.metrics_port)
    eq(value(m, "satchel_connections_refused_total", reason="max_connections_per_ip"),
       1, "refusals by max_connections_per_ip")
    eq(value(m, "satchel_connections_refused_total", reason="max_connections"), 0,
       "refusals by max_connections")
    eq(value(m, "satchel_sessions_active"), 2, "sessions open")
    a.close()
    b.close()
    wait_value(srv.metrics_port, "satchel_sessions_active", 0)


def test_only_get_metrics(ctx):
    srv = metrics_server(ctx, workers=1).start()
    port = srv.metrics_port
    code, hdr, body = http(port, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
    eq(code, 404, "GET /other")
    code, hdr, body = http(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\n"
                                 b"Content-Length: 0\r\n\r\n")
    eq(code, 405, "POST /metrics")
    eq(hdr.get("allow"), "GET", "Allow header of the 405")
    code, hdr, body = http(port, b"HEAD /metrics HTTP/1.0\r\n\r\n")
    eq(code, 405, "HEAD /metrics")
    code, hdr, body = http(port, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n")
    eq(code, 200, "GET /metrics with a query")
    for bad in (b"\x16\x03\x01\x00\xa5garbage\r\n\r\n",
                b"GET /metrics HTTP/2.0\r\n\r\n",
                b"GET  /metrics HTTP/1.1\r\n\r\n",
                b"GET /metrics HTTP/1.1\r\n folded: no\r\n\r\n",
                b"GET /metrics HTTP/1.1\r\nX-Long: " + b"a" * 5000 + b"\r\n\r\n"):
        code, hdr, body = http(port, bad)
        eq(code, 400, "answer to %r" % bad[:40])
    scrape(port)  # still serving


def test_stalled_client_holds_nothing(ctx):
    srv = metrics_server(ctx, workers=1).start()
    port = srv.metrics_port
    stalled = [socket.create_connection(("127.0.0.1", port), 5) for _ in range(3)]
    stalled[0].sendall(b"GET /metr")     # half a request, then nothing
    t0 = time.monotonic()
    scrape(port)                          # served while they wait
    check(time.monotonic() - t0 < 2, "a scrape beside stalled clients took %.1fs"
          % (time.monotonic() - t0))
    # the endpoint closes them itself (METRICS_HTTP_TIMEOUT_MS = 5 s)
    for s in stalled:
        s.settimeout(9)
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
        except socket.timeout:
            raise AssertionError("a stalled client was not closed within 9 s")
        eq(data, b"", "what a stalled client got")
        s.close()
    check(time.monotonic() - t0 >= 4, "stalled clients closed before the time "
          "limit (%.1fs)" % (time.monotonic() - t0))
    # and a POP3 login still works: the master's loop was never blocked
    p = srv.connect()
    p.login("alice", PASSWORDS["alice"])
    p.quit()


def socket_inode(port):
    """The inode of the socket listening on 127.0.0.1:port."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":
                return fields[9]
    raise AssertionError("nothing listens on 127.0.0.1:%d" % port)


def holders(pid, inode):
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "socket:[%s]" % inode:
                return True
        except OSError:
            pass
    return False


def test_served_by_the_master_only(ctx):
    srv = metrics_server(ctx, workers=2).start()
    inode = socket_inode(srv.metrics_port)
    check(holders(srv.proc.pid, inode), "the master does not hold the metrics socket")
    kids = proc_children(srv.proc.pid)
    eq(sorted(set(kids.values())), ["satchel-auth", "satchel-worker"], "children")
    for pid, comm in kids.items():
        check(not holders(pid, inode), "%s (pid %d) holds the metrics socket"
              % (comm, pid))


def test_counters_survive_a_worker_crash(ctx):
    srv = metrics_server(ctx, workers=1).start()
    ctx.workers_may_change = True
    p = srv.connect()
    p.login("alice", PASSWORDS["alice"])
    p.quit()
    before = scrape(srv.metrics_port)
    eq(value(before, "satchel_sessions_total"), 1, "sessions before the crash")
    hanging = srv.connect()     # open while its worker dies
    wait_value(srv.metrics_port, "satchel_sessions_active", 1)
    old = srv.workers_now()
    eq(len(old), 1, "workers")
    os.kill(old[0], signal.SIGKILL)
    wait_for(lambda: srv.workers_now() and srv.workers_now() != old, 10,
             "a restarted worker")
    hanging.close()
    wait_value(srv.metrics_port, "satchel_sessions_active", 0)
    after = scrape(srv.metrics_port)
    eq(value(after, "satchel_sessions_total"), 2, "sessions after the crash")
    eq(value(after, "satchel_logins_total", mechanism="USER", result="ok"), 1,
       "logins after the crash")


def test_deliveries_counted(ctx):
    """satchel_deliveries_total{result} counts each recipient's result in
    the LMTP workers (two of them, so both rows add up), read by the
    master: stored copies, a retried transaction answered as a duplicate,
    a temporary failure (a maildrop path that is a file) and a permanent
    one (a NUL with delivery_refuse_nul), and nothing for a recipient
    refused at RCPT."""
    lmtp_port = free_port()
    srv = metrics_server(ctx, workers=1, config={
        "lmtp_listen": "127.0.0.1:%d" % lmtp_port, "lmtp_workers": "2",
        "delivery_refuse_nul": "yes"})
    with open(os.path.join(srv.root, "mail", "dave"), "w") as f:
        f.write("not a Maildir\n")
    srv.start()
    m = scrape(srv.metrics_port)
    for r in ("stored", "duplicate", "tempfail", "permfail"):
        eq(value(m, "satchel_deliveries_total", result=r), 0,
           "deliveries %s before any" % r)

    def send(rcpts, body, refused=()):
        # a connection each, so both LMTP workers get some
        c = smtplib.LMTP("127.0.0.1", lmtp_port)
        try:
            try:
                c.sendmail("a@example.org", rcpts, body)
            except smtplib.SMTPRecipientsRefused:
                pass
            except smtplib.SMTPDataError:
                pass
        finally:
            c.quit()

    one = ("From: a@example.org\r\nSubject: one\r\nMessage-ID: "
           "<one@example.org>\r\n\r\nbody\r\n")
    send(["alice", "bob"], one)             # 2 stored
    send(["alice"], one)                    # the retry: a duplicate
    send(["carol", "nobody"], one)          # 1 stored, nobody at RCPT
    send(["dave"], one)                     # 4.x: not a directory
    send(["erin"], one.replace("body", "b\0dy"))  # 5.6.0
    want = {"stored": 3, "duplicate": 1, "tempfail": 1, "permfail": 1}
    wait_value(srv.metrics_port, "satchel_deliveries_total", 3,
               result="stored")
    m = scrape(srv.metrics_port)
    for r, n in want.items():
        eq(value(m, "satchel_deliveries_total", result=r), n,
           "deliveries %s" % r)
    eq(len(srv.maildir_files("alice")), 1, "alice has one copy")
    eq(len(srv.maildir_files("erin")), 0, "erin has none")
