"""Store work (maildrop open, QUIT commit) runs off the worker's event
loop: with one worker, a session opening a cold 100,000-message Maildir or
committing 100,000 deletions does not delay another session's NOOP. And
the session lock is gone when the +OK to QUIT arrives."""
import os
import select
import socket
import time

from harness import *

STORES = ("maildir",)
WORKERS = 1
OPTS = {"lock_stale_timeout": "300"}

BIG = 100000
COMMIT_BIG = 25000
NOOP_LIMIT = 0.050     # seconds: the typical (median) NOOP (issue 7, item 4)
# The worst single NOOP: on a 2-core machine running the plain and the ASan
# suites at once, one round trip can wait for a core for tens of ms; a
# blocked loop holds every NOOP for the whole job (2.3 s for the old open).
NOOP_WORST = 0.500
MIN_SAMPLES = 3        # NOOPs measured while the store job surely runs
PACE = 0.005           # seconds between NOOPs


def make_big_maildir(srv, user, count):
    """count small messages in new/, without ,S=/,W= sizes and without a
    satchel.index, so the first open must read every file (cold)."""
    path = srv.maildrop(user)
    shutil.rmtree(path, ignore_errors=True)
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub))
    uid = gid = -1
    if is_root():
        pw = pwd.getpwnam(MAIL_USER)
        uid, gid = pw.pw_uid, pw.pw_gid
        for d in (path, *(os.path.join(path, s) for s in ("new", "cur", "tmp"))):
            os.chown(d, uid, gid)
    new = os.path.join(path, "new")
    body = b"From: a@example.com\nSubject: s\n\n" + b"line of text\n" * 20
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for i in range(count):
        fd = os.open(os.path.join(new, "%d.M%dP1.test" % (1700000000 + i, i)),
                     flags, 0o600)
        try:
            os.write(fd, body)
            if uid >= 0:
                os.fchown(fd, uid, gid)
        finally:
            os.close(fd)
    check(not os.path.exists(os.path.join(path, "satchel.index")),
          "the index must be cold")


def answered(pop):
    """True when the server has sent pop something (or closed it)."""
    # select, not recv: a socket with a timeout polls inside recv
    return bool(pop.buf) or bool(select.select([pop.sock], [], [], 0)[0])


def noop_latencies_while(a, busy, deadline):
    """NOOP round trips on a, sent while busy() holds; stops when it no
    longer does. Returns the latencies of the NOOPs sent while busy."""
    samples = []
    while time.monotonic() < deadline:
        if not busy():
            return samples
        t0 = time.monotonic()
        resp = a.cmd("NOOP")
        samples.append(time.monotonic() - t0)
        starts(resp, "+OK", "NOOP while the other session's store job runs")
        # paced like a client would (a tight loop would measure the
        # scheduler of a busy 2-core machine as much as the server)
        time.sleep(PACE)
    raise AssertionError("the store job did not finish within the deadline")


def check_latencies(samples, what):
    worst = max(samples) if samples else 0.0
    sys.stdout.write("# %s: %d NOOPs, worst %.1f ms, median %.1f ms\n"
                     % (what, len(samples), worst * 1000,
                        sorted(samples)[len(samples) // 2] * 1000
                        if samples else 0.0))
    median = sorted(samples)[len(samples) // 2] if samples else 0.0
    check(median < NOOP_LIMIT,
          "%s: the median NOOP of another session took %.0f ms (limit %.0f "
          "ms)" % (what, median * 1000, NOOP_LIMIT * 1000))
    check(worst < NOOP_WORST,
          "%s: a NOOP of another session took %.0f ms (limit %.0f ms): the "
          "worker's loop was blocked" % (what, worst * 1000, NOOP_WORST * 1000))
    check(len(samples) >= MIN_SAMPLES,
          "%s: only %d NOOPs sent while it ran (want >= %d): too fast to "
          "measure" % (what, len(samples), MIN_SAMPLES))


def test_noop_during_cold_open(ctx):
    srv = ctx.srv
    srv.fill("alice", make_msgs([simple_msg(1)], "maildir"))
    make_big_maildir(srv, "bob", BIG)
    a = srv.login("alice")
    b = srv.connect()
    b.ok("USER bob")
    b.send("PASS %s\r\n" % srv.passwords["bob"])
    lock = srv.lock_path("bob")
    # The open is in progress from the moment it holds bob's lock until
    # it answers; wait for the lock first (auth runs before the open).
    check(wait_until(lambda: os.path.exists(lock) or answered(b), 30),
          "bob's open did not start")
    check(not answered(b), "the cold open of %d messages answered before it "
          "could be measured" % BIG)
    samples = noop_latencies_while(
        a, lambda: os.path.exists(lock) and not answered(b),
        time.monotonic() + 90)
    resp = b.getline().decode("latin-1")
    starts(resp, "+OK maildrop has %d messages" % BIG, "bob's login")
    check_latencies(samples, "cold open of %d messages" % BIG)
    eq(b.stat()[0], BIG, "bob's message count")
    b.quit()
    a.quit()


def test_noop_during_big_commit(ctx):
    srv = ctx.srv
    # Fewer messages than the open test: 100,000 unlinks took over a
    # minute once when the disk was shared with other suites; on the loop
    # (the old code) a commit holds every NOOP for all of its time, 2 s
    # for 100,000, so 25,000 still show it.
    make_big_maildir(srv, "carol", COMMIT_BIG)
    srv.fill("alice", make_msgs([simple_msg(1)], "maildir"))
    a = srv.login("alice")
    b = srv.login("carol")
    eq(b.stat()[0], COMMIT_BIG, "carol's message count")
    # every DELE pipelined (RFC 2449 PIPELINING), then their replies
    b.send("".join("DELE %d\r\n" % i for i in range(1, COMMIT_BIG + 1)))
    for i in range(1, COMMIT_BIG + 1):
        line = b.getline()
        check(line.startswith(b"+OK"), "DELE %d: %r" % (i, line))
    lock = srv.lock_path("carol")
    b.send("QUIT\r\n")
    check(wait_until(lambda: not os.path.exists(lock) or answered(b) or
                     not os.path.exists(os.path.join(
                         srv.maildrop("carol"), "new", "%d.M0P1.test"
                         % 1700000000)), 30), "carol's commit did not start")
    samples = noop_latencies_while(
        a, lambda: os.path.exists(lock) and not answered(b),
        time.monotonic() + 90)
    resp = b.getline().decode("latin-1")
    starts(resp, "+OK", "carol's QUIT")
    check("%d messages deleted" % COMMIT_BIG in resp, "QUIT reply: %s" % resp)
    check_latencies(samples, "commit of %d deletions" % COMMIT_BIG)
    eq(os.listdir(os.path.join(srv.maildrop("carol"), "new")), [],
       "carol's new/ after the commit")
    a.quit()


def test_dropped_during_open_deletes_nothing(ctx):
    """A client that leaves while its open runs: the open finishes, its
    result is thrown away, the lock is released, nothing is deleted."""
    srv = ctx.srv
    msgs = srv.fill("carol", make_msgs([simple_msg(i) for i in range(3)],
                                       "maildir"))
    before = srv.drop_snapshot("carol")
    c = srv.connect()
    c.ok("USER carol")
    c.send("PASS %s\r\n" % srv.passwords["carol"])
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
    c.close()
    check(srv.wait_unlocked("carol", 10), "carol's lock left behind")
    d = srv.login_retry("carol")
    eq(d.stat()[0], len(msgs), "carol's messages after the dropped login")
    d.quit()
    eq(srv.drop_snapshot("carol"), before, "carol's maildrop unchanged")


def test_lock_gone_when_quit_answered(ctx):
    """The +OK to QUIT is sent after the lock is released, so a client
    that reconnects at once never meets its own session's lock."""
    srv = ctx.server(store="maildir", workers=2)
    srv.start()
    srv.fill("dave", make_msgs([simple_msg(i) for i in range(5)], "maildir"))
    lock = srv.lock_path("dave")
    for i in range(300):
        p = srv.connect()
        p.ok("USER dave")
        resp = p.cmd("PASS " + srv.passwords["dave"])
        starts(resp, "+OK", "login %d of dave right after the last QUIT" % i)
        p.ok("STAT")
        resp = p.cmd("QUIT")
        starts(resp, "+OK", "QUIT %d" % i)
        check(not os.path.exists(lock),
              "iteration %d: dave's lock still there when +OK to QUIT "
              "arrived" % i)
        p.close()
    check("(null)" not in srv.log_text(), "the log says (null)")
