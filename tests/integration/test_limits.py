"""Connection limits, LOGIN-DELAY, failed-login delay."""
import re
import subprocess
import time

from harness import *

STORES = None   # each test starts the server it needs


def refused(p):
    """The connection gets '-ERR [SYS/TEMP] ...' and is closed."""
    line = p.greeting
    starts(line, "-ERR [SYS/TEMP]", "greeting over the limit")
    check(p.wait_closed(3), "not closed after %r" % line)


def test_max_connections_per_ip(ctx):
    srv = ctx.server(opts={"max_connections_per_ip": "3"}).start()
    conns = [srv.connect() for _ in range(3)]
    for c in conns:
        starts(c.greeting, "+OK", "connection within the limit")
    refused(srv.connect())
    other = srv.connect(source="127.0.0.2")
    starts(other.greeting, "+OK", "another client address is not limited")
    other.quit()
    conns[0].quit()

    def can_connect():
        p = srv.connect()
        ok = p.greeting.startswith("+OK")
        p.close()
        return ok
    check(wait_until(can_connect, 3, 0.2), "no new connection after one of three quit")
    for c in conns[1:]:
        c.close()


def test_max_connections_total(ctx):
    srv = ctx.server(opts={"max_connections": "4", "workers": "1"}).start()
    conns = [srv.connect(source="127.0.0.%d" % (i + 2)) for i in range(4)]
    for c in conns:
        starts(c.greeting, "+OK", "connection within the total limit")
    refused(srv.connect(source="127.0.0.9"))
    for c in conns:
        c.close()


def test_login_delay(ctx):
    srv = ctx.server(opts={"login_delay": "2"}).start()
    srv.fill("alice", [])
    p = srv.login("alice")
    p.quit()
    q = srv.connect()
    q.ok("USER alice")
    eq(q.cmd("PASS wrong"), "-ERR [AUTH] invalid user name or password",
       "wrong password during the login delay (must not reveal the delay)")
    q.ok("USER alice")
    starts(q.cmd("PASS " + srv.passwords["alice"]), "-ERR [LOGIN-DELAY]",
           "correct password 0 s after the last login (login_delay = 2)")
    q.quit()
    time.sleep(2.3)
    r = srv.login("alice")
    r.quit()
    other = srv.login("bob")   # per user
    other.quit()


def test_login_delay_per_user(ctx):
    """passwd-file extra field login_delay=N overrides the global value."""
    srv = ctx.server(users={"frank": "{PLAIN}frank-Pw.ld30::::::login_delay=30"},
                     secrets=["frank-Pw.ld30"]).start()
    srv.passwords["frank"] = "frank-Pw.ld30"
    srv.fill("frank", [])
    p = srv.login("frank")
    p.quit()
    q = srv.connect()
    q.ok("USER frank")
    starts(q.cmd("PASS frank-Pw.ld30"), "-ERR [LOGIN-DELAY]", "second login of frank")
    q.quit()
    a = srv.login("alice")
    a.quit()
    b = srv.login("alice")   # alice has no delay
    b.quit()


def test_failed_login_delay_grows(ctx):
    srv = ctx.server(config={"auth_fail_delay": "300", "auth_fail_delay_max": "2000"}).start()
    p = srv.connect()
    times = []
    for i in range(4):
        p.ok("USER alice")
        t0 = time.monotonic()
        try:
            resp = p.cmd("PASS wrong%d" % i)
        except ConnectionClosed:
            p = srv.connect()
            continue
        times.append(time.monotonic() - t0)
        starts(resp, "-ERR [AUTH]", "failed login %d" % (i + 1))
    check(len(times) >= 3, "too few measured failures: %s" % times)
    check(times[0] >= 0.25, "first failure answered after %.2fs (auth_fail_delay = 300 ms)" % times[0])
    check(times[2] > times[0] * 1.5, "delay does not grow: %s" % ["%.2f" % t for t in times])
    check(max(times) < 3.0, "delay exceeds auth_fail_delay_max: %s" % times)
    p.close()
    # a correct login from another address is not delayed
    q = srv.connect(source="127.0.0.3")
    q.ok("USER bob")
    t0 = time.monotonic()
    q.ok("PASS " + srv.passwords["bob"])
    check(time.monotonic() - t0 < 0.25, "a correct login from another address was delayed")
    q.quit()


def test_unknown_user_and_wrong_password_similar_timing(ctx):
    srv = ctx.server(users={"hash": "{SHA512-CRYPT}" + __import__("crypt").crypt(
        "hash-Pw.x", "$6$saltsalt$")}, secrets=["hash-Pw.x"]).start()
    def attempt(user):
        p = srv.connect()
        p.ok("USER " + user)
        t0 = time.monotonic()
        resp = p.cmd("PASS not-the-password")
        took = time.monotonic() - t0
        eq(resp, "-ERR [AUTH] invalid user name or password", "failed login of %s" % user)
        p.quit()
        return took
    # alternated, so load from outside the test slows both alike; the
    # minimum of each is its cost with the least interference
    known, unknown = [], []
    for _ in range(5):
        known.append(attempt("hash"))
        unknown.append(attempt("nosuchuser"))
    known, unknown = min(known), min(unknown)
    check(unknown >= known * 0.3 or known < 0.01,
          "unknown user answered much faster (%.4fs) than a wrong password for a "
          "hashed user (%.4fs)" % (unknown, known))


def worker_of(srv, pop):
    """The pid of the worker serving pop's connection (from ss -tnp)."""
    lport = pop.sock.getsockname()[1]
    r = subprocess.run(["ss", "-tnpH", "state", "established",
                        "( sport = :%d and dport = :%d )" % (srv.port, lport)],
                       capture_output=True, text=True, timeout=10)
    m = re.search(r"pid=(\d+)", r.stdout)
    check(m, "ss shows no process for the connection from port %d: %r"
          % (lport, r.stdout + r.stderr))
    return int(m.group(1))


def test_failed_login_delay_shared_by_workers(ctx):
    """An attacker alternating connections between workers meets the same
    doubling delay: the failures are counted per server, not per worker."""
    srv = ctx.server(workers=2, config={"auth_fail_delay": "100",
                                        "auth_fail_delay_max": "10000"}).start()
    pops = {}
    for _ in range(40):        # one connection on each worker
        p = srv.connect()
        w = worker_of(srv, p)
        if w in pops:
            p.close()
        else:
            pops[w] = p
        if len(pops) == 2:
            break
    eq(len(pops), 2, "connections on distinct workers")
    a, b = pops.values()
    times = []
    for p in (a, b, a, b):
        p.ok("USER alice")
        t0 = time.monotonic()
        starts(p.cmd("PASS wrong"), "-ERR [AUTH]", "failed login")
        times.append(time.monotonic() - t0)
    # 100, 200, 400, 800 ms when shared; 100, 100, 200, 200 per worker
    check(times[3] >= 0.7, "the 4th failure in a row (on the other worker) "
          "was delayed %.2fs, want 0.8s: %s" % (times[3], ["%.2f" % t for t in times]))
    a.close()
    b.close()


def test_login_delay_counts_only_logins_that_opened_the_maildrop(ctx):
    """Issue 15: a login answered -ERR because the maildrop could not be
    opened gave the user no mail; it must not start the LOGIN-DELAY
    window, nor be logged as a login."""
    if not is_root():
        raise Skip("not root: the maildrop cannot be made unreadable to the workers")
    srv = ctx.server(opts={"login_delay": "30"}).start()
    srv.fill("alice", make_msgs([simple_msg(1)], "maildir"))
    drop = srv.maildrop("alice")
    os.chown(drop, 0, 0)
    os.chmod(drop, 0o700)          # mail_user cannot enter it
    start = len(srv.log_text())
    p = srv.connect()
    p.ok("USER alice")
    starts(p.cmd("PASS " + srv.passwords["alice"]), "-ERR [SYS/",
           "login with an unreadable maildrop")
    p.quit()
    srv.fix_owner(drop)            # the admin fixes the permissions
    os.chmod(drop, 0o700)
    q = srv.login("alice")         # at once: no [LOGIN-DELAY]
    eq(q.stat()[0], 1, "messages after the fix")
    q.quit()
    log = srv.log_text()[start:]
    eq(log.count("login: user=alice"), 1,
       "'login:' lines (only the login that opened the maildrop)")
    r = srv.connect()
    r.ok("USER alice")
    starts(r.cmd("PASS " + srv.passwords["alice"]), "-ERR [LOGIN-DELAY]",
           "a login right after one that reached TRANSACTION")
    r.quit()
