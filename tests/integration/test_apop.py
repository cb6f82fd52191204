"""APOP (apop = yes): greeting timestamp, poplib.apop(), curl AUTH=+APOP."""
import hashlib
import poplib
import re
import subprocess

from harness import *

STORES = ("maildir",)
OPTS = {"apop": "yes"}
EXTRA_USERS = {"hashed": "{SHA512-CRYPT}$6$apopsalt$" + "x" * 86}

TS_RE = re.compile(r"<([A-Za-z0-9.]+)@([A-Za-z0-9.-]+)>$")


def timestamp(greeting):
    m = TS_RE.search(greeting)
    check(m, "greeting %r does not end in <letters.digits.dots@host>" % greeting)
    return m.group(0)


def digest(ts, pw):
    return hashlib.md5((ts + pw).encode()).hexdigest()


def test_greeting_timestamp(ctx):
    p = ctx.srv.connect()
    starts(p.greeting, "+OK satchel ready.", "greeting")
    ts = timestamp(p.greeting)
    check("=" not in ts, "'=' in the APOP timestamp (mpop ignores it): %s" % ts)
    q = ctx.srv.connect()
    check(timestamp(q.greeting) != ts, "two connections got the same APOP timestamp %s" % ts)
    p.quit()
    q.quit()


def test_apop_raw(ctx):
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(1)], "maildir"))
    p = ctx.srv.connect()
    ts = timestamp(p.greeting)
    p.ok("APOP alice " + digest(ts, ctx.srv.passwords["alice"]))
    eq(p.retr(1), msgs[0].expected, "RETR after APOP")
    p.quit()


def test_apop_uppercase_digest_and_wrong(ctx):
    ctx.srv.fill("alice", [])
    p = ctx.srv.connect()
    ts = timestamp(p.greeting)
    eq(p.cmd("APOP alice " + digest(ts, "wrong")), "-ERR [AUTH] invalid user name or password",
       "APOP with a wrong digest")
    eq(p.cmd("APOP nosuchuser " + digest(ts, "x")), "-ERR [AUTH] invalid user name or password",
       "APOP of an unknown user")
    starts(p.cmd("APOP alice"), "-ERR", "APOP without a digest")
    starts(p.cmd("APOP alice nothex"), "-ERR", "APOP with a malformed digest")
    p.quit()


def test_apop_digest_of_other_timestamp_refused(ctx):
    """A digest computed for another connection's timestamp (replay)."""
    ctx.srv.fill("alice", [])
    p = ctx.srv.connect()
    q = ctx.srv.connect()
    d = digest(timestamp(p.greeting), ctx.srv.passwords["alice"])
    starts(q.cmd("APOP alice " + d), "-ERR", "replayed APOP digest")
    p.ok("APOP alice " + d)
    p.quit()
    q.quit()


def test_apop_hashed_user_refused(ctx):
    p = ctx.srv.connect()
    ts = timestamp(p.greeting)
    starts(p.cmd("APOP hashed " + digest(ts, "whatever")), "-ERR",
           "APOP for a user with a hashed password")
    p.quit()


def test_poplib_apop(ctx):
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(1), simple_msg(2)], "maildir"))
    c = poplib.POP3("127.0.0.1", ctx.srv.port, timeout=IO_TIMEOUT)
    try:
        resp = c.apop("alice", ctx.srv.passwords["alice"])
        check(resp.startswith(b"+OK"), "poplib apop: %r" % resp)
        eq(c.stat()[0], 2, "stat after poplib apop")
        c.quit()
    finally:
        c.close()


def test_curl_apop(ctx):
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(1)], "maildir"))
    url = "pop3://alice:%s@127.0.0.1:%d/1" % (ctx.srv.passwords["alice"], ctx.srv.port)
    r = subprocess.run(["curl", "-sS", "--max-time", "20", url, "--login-options", "AUTH=+APOP"],
                       capture_output=True, timeout=30)
    eq(r.returncode, 0, "curl exit status (stderr %r)" % r.stderr[-300:])
    eq(r.stdout, msgs[0].expected, "curl APOP RETR 1")


def test_capa_with_apop(ctx):
    p = ctx.srv.connect()
    caps = p.multi_ok("CAPA").decode().split("\r\n")
    check("USER" in caps, "USER in CAPA: %s" % caps)
    p.quit()
