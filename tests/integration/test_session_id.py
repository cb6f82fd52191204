"""A session id in every log line of a POP3 session (issue 11 item 5):
the worker's and the auth process's lines of one login carry the same
session=ID, other sessions another; the fail2ban filter of admin.md still
finds the client's address."""

import base64
import re

from harness import PASSWORDS, check, eq, wait_for

STORES = ("maildir",)

LINE_RE = re.compile(r"satchel\[\d+\] (?P<role>auth|worker \d+) \w+: (?P<text>.*)$")
# docs/admin.md's failregex, <HOST> as fail2ban expands it
FAILREGEX = re.compile(r"auth failed: (mech=\S+ )?user=\S* rip=(?P<host>\S+)"
                       r"( session=\S+)?( \(.*\))?$")


def lines_with(log, session):
    out = []
    for line in log.splitlines():
        if "session=%s" % session in line:
            m = LINE_RE.search(line)
            check(m, "unexpected log line %r" % line)
            out.append((m.group("role").split()[0], m.group("text")))
    return out


def test_one_login_one_id(ctx):
    srv = ctx.srv
    p = srv.connect()
    p.login("alice", PASSWORDS["alice"])
    p.stat()
    p.quit()
    wait_for(lambda: re.search(r"logout: user=alice rip=127\.0\.0\.1 session=[0-9a-f]{16} ",
                               srv.log_text()), 5, "alice's logout line")
    ids = re.findall(r"logout: user=alice rip=127\.0\.0\.1 session=([0-9a-f]{16}) ",
                     srv.log_text())
    sid = ids[-1]
    got = lines_with(srv.log_text(), sid)
    roles = sorted(set(r for r, _ in got))
    eq(roles, ["auth", "worker"], "processes that logged session %s" % sid)
    check(any(t.startswith("login: user=alice rip=127.0.0.1 session=%s" % sid)
              for r, t in got if r == "auth"),
          "no auth 'login:' line with the session id: %s" % got)
    check(any(t.startswith("logout: user=alice") for r, t in got if r == "worker"),
          "no worker 'logout:' line with the session id: %s" % got)

    # a failed USER/PASS and a failed AUTH PLAIN: their own ids
    p = srv.connect()
    p.ok("USER bob")
    p.err("PASS wrong", "-ERR [AUTH]")
    p.quit()
    p = srv.connect()
    token = base64.b64encode(b"\0carol\0nope").decode()
    p.err("AUTH PLAIN " + token, "-ERR [AUTH]")
    p.quit()
    wait_for(lambda: "user=carol" in srv.log_text(), 5, "carol's failure")
    log = srv.log_text()
    for user in ("bob", "carol"):
        m = re.findall(r"auth failed: (?:mech=PLAIN )?user=%s rip=127\.0\.0\.1 "
                       r"session=([0-9a-f]{16})" % user, log)
        check(m, "no 'auth failed' line with a session id for %s" % user)
        check(m[-1] != sid, "%s's failure has alice's session id" % user)
        roles = set(r for r, _ in lines_with(log, m[-1]))
        eq(sorted(roles), ["auth", "worker"],
           "processes that logged %s's session (the worker's disconnect)" % user)
    # fail2ban still reads the address
    hosts = [FAILREGEX.search(l).group("host") for l in log.splitlines()
             if "auth failed:" in l and FAILREGEX.search(l)]
    eq(sorted(set(hosts)), ["127.0.0.1"], "addresses the failregex finds")
    eq(len(hosts), len([l for l in log.splitlines() if "auth failed:" in l]),
       "auth failed lines the failregex matches")
