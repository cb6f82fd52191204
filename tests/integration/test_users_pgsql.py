"""Users in PostgreSQL (issue 10, 3. and 6.): `users = pgsql:CONNINFO`
against PostgreSQL 15 from Debian, started by the tests (pgsql.py) with a
streaming standby for failover. Logins (USER/PASS and AUTH PLAIN, whose
lookups never block the auth loop); the primary stopped -> logins go on
against the standby; both stopped -> users seen before log in from the
cache (logged as stale), a user never seen gets [SYS/TEMP] at once, a
wrong password never succeeds; a stopped (SIGSTOP) server -> answers
within the statement timeout; a password changed by SQL is refused within
1 s (NOTIFY); satchel auth flush; no descriptors leak in the auth process
across the outage; unknown user and wrong password read the same."""

import base64
import os
import re
import subprocess
import tempfile
import time

import harness
import pgsql
from harness import *

STORES = None                   # each test makes its server

USERS = ("alice", "bob", "carol", "dave", "erin")

# the schema and trigger of docs/admin.md, "Users in PostgreSQL"
SCHEMA = """
CREATE TABLE users (
    "user"          text PRIMARY KEY,
    password        text NOT NULL,
    secrets         text,
    uid             integer,
    gid             integer,
    home            text,
    mail            text,
    quota_bytes     bigint,
    quota_messages  bigint,
    login_delay     integer,
    expire          integer
);
CREATE FUNCTION satchel_users_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('satchel_users', OLD."user");
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('satchel_users', NEW."user");
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER satchel_users_notify
    AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION satchel_users_notify();
"""


def need_pg():
    if not pgsql.available():
        raise Skip("PostgreSQL 15 not installed (make deps)")


def make_cluster(ctx, standby=False):
    """A primary with the users table (and a standby of it), stopped at
    the end of the test by PID."""
    need_pg()
    d = tempfile.mkdtemp(prefix="satchel-pg-")
    primary = pgsql.Cluster(d).initdb().start()
    clusters = [primary]
    ctx.cleanups = getattr(ctx, "cleanups", [])
    ctx.cleanups.append(lambda: [c.stop() for c in reversed(clusters)])
    primary.psql("CREATE DATABASE mail", db="postgres")
    primary.psql(SCHEMA)
    for u in USERS:
        primary.psql("INSERT INTO users (\"user\", password) VALUES "
                     "('%s', '{PLAIN}%s')" % (u, harness.PASSWORDS[u]))
    sb = None
    if standby:
        sb = primary.standby()
        clusters.append(sb)
        primary.wait_replayed(sb)
    return primary, sb, d


def conninfo(*clusters, extra=""):
    return ("host=%s port=%s dbname=mail user=postgres connect_timeout=2%s"
            % (",".join("127.0.0.1" for _ in clusters),
               ",".join(str(c.port) for c in clusters), extra))


def pg_server(ctx, clusters, config=None):
    cfg = {"users": "pgsql:" + conninfo(*clusters),
           "pgsql_statement_timeout": "1500"}
    cfg.update(config or {})
    srv = ctx.server(store="maildir", workers=1, config=cfg)
    for u in USERS:
        srv.fill(u, [])
    srv.start()
    return srv


def finish(ctx):
    for f in getattr(ctx, "cleanups", []):
        f()


try_login = harness.pass_reply


def auth_pid(srv):
    m = re.findall(r"auth pid=(\d+)", srv.log_text())
    check(m, "the ready line names the auth process")
    return int(m[-1])


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_logins(ctx):
    try:
        primary, _, _ = make_cluster(ctx)
        srv = pg_server(ctx, [primary])
        p = srv.login("alice")
        eq(p.stat()[0], 0, "alice's maildrop")
        p.quit()
        # AUTH PLAIN with an initial response: the lookup under way, the
        # check parked, then run
        q = srv.connect()
        token = base64.b64encode(("\0bob\0" + harness.PASSWORDS["bob"])
                                 .encode()).decode()
        starts(q.cmd("AUTH PLAIN " + token), "+OK", "AUTH PLAIN for bob")
        q.quit()
        bad = try_login(srv, "carol", "not-her-password")
        unknown = try_login(srv, "nosuch", "whatever")
        check(bad.startswith("-ERR [AUTH]"), "wrong password: %s" % bad)
        eq(unknown, bad, "an unknown user is refused as a wrong password")
        # from the cache now: the same texts again
        eq(try_login(srv, "carol", "not-her-password"), bad, "cached wrong")
        eq(try_login(srv, "nosuch", "whatever"), bad, "cached unknown")
        # 16 logins at once, none cached
        srv.stop()
        srv.start()
        import threading
        results = []

        def one(u):
            results.append(try_login(srv, u, harness.PASSWORDS[u]))
        ts = [threading.Thread(target=one, args=(USERS[i % 5],))
              for i in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        eq(len(results), 16, "16 answers")
        # [IN-USE]: authenticated, the maildrop held by another of them
        check(all(r.startswith("+OK") or r.startswith("-ERR [IN-USE]")
                  for r in results),
              "every concurrent login authenticated: %s" % results)
    finally:
        finish(ctx)


def test_failover_to_standby(ctx):
    try:
        primary, sb, _ = make_cluster(ctx, standby=True)
        srv = pg_server(ctx, [primary, sb], {"user_cache_ttl": "0"})
        starts(try_login(srv, "alice", harness.PASSWORDS["alice"]), "+OK",
               "alice before the failover")
        primary.stop()
        # every login goes to the database (TTL 0): the standby answers
        for u in ("bob", "carol", "alice", "dave"):
            r, took = timed(try_login, srv, u, harness.PASSWORDS[u])
            starts(r, "+OK", "%s after the primary stopped (log: %s)"
                   % (u, srv.log_tail(6)))
            check(took < 5, "%s answered in %.1fs" % (u, took))
        check("is down" in srv.log_text(), "the primary is logged down")
        bad = try_login(srv, "erin", "wrong")
        check(bad.startswith("-ERR [AUTH]"), "wrong password on the "
              "standby: %s" % bad)
    finally:
        finish(ctx)


def test_both_down(ctx):
    try:
        primary, sb, _ = make_cluster(ctx, standby=True)
        # TTL 0: every cached entry is past its TTL, so what answers in
        # the outage is the stale use
        srv = pg_server(ctx, [primary, sb], {"user_cache_ttl": "0"})
        for u in ("alice", "bob"):
            starts(try_login(srv, u, harness.PASSWORDS[u]), "+OK", u)
        bad_before = try_login(srv, "nosuch", "x")
        apid = auth_pid(srv)
        fds_before = fd_count(apid)
        sb.stop()
        primary.stop()
        # a user seen before logs in; one never seen gets [SYS/TEMP]
        r, took = timed(try_login, srv, "alice", harness.PASSWORDS["alice"])
        starts(r, "+OK", "alice, seen before, in the outage")
        check(took < 3, "alice answered in %.1fs" % took)
        r, took = timed(try_login, srv, "carol", harness.PASSWORDS["carol"])
        check(r.startswith("-ERR [SYS/TEMP]"),
              "an uncached user in the outage: %s" % r)
        check(took < 3, "[SYS/TEMP] within 3 s (took %.1fs)" % took)
        for i in range(10):
            r, took = timed(try_login, srv, "dave",
                            harness.PASSWORDS["dave"])
            check(r.startswith("-ERR [SYS/TEMP]"), "dave: %s" % r)
            check(took < 1, "the circuit answers at once (%.2fs)" % took)
            r = try_login(srv, "bob", harness.PASSWORDS["bob"])
            starts(r, "+OK", "bob from the cache (stale), round %d" % i)
            r = try_login(srv, "bob", "not-bobs")
            check(r.startswith("-ERR [AUTH]"), "a wrong password never "
                  "succeeds from the cache: %s" % r)
        # a name refused before is refused the same way (no enumeration
        # by [SYS/TEMP] against [AUTH])
        eq(try_login(srv, "nosuch", "x"), bad_before, "known-unknown name")
        check(re.search(r"alice answered from the cache \(stale",
                        srv.log_text()), "the stale use is logged")
        fds_outage = fd_count(apid)
        check(fds_outage <= fds_before, "no descriptors gained in the "
              "outage: %d -> %d" % (fds_before, fds_outage))
        # back: the primary again; carol logs in once a probe succeeded
        primary.start()
        wait_for(lambda: try_login(srv, "carol", harness.PASSWORDS["carol"])
                 .startswith("+OK"), 40,
                 lambda: "carol after the primary came back (log: %s)"
                 % srv.log_tail(6))
        fds_after = fd_count(apid)
        check(fds_after <= fds_before, "no descriptors gained across the "
              "outage: %d -> %d" % (fds_before, fds_after))
    finally:
        finish(ctx)


def test_stopped_server(ctx):
    try:
        primary, _, _ = make_cluster(ctx)
        srv = pg_server(ctx, [primary], {"user_cache_ttl": "0",
                                         "pgsql_statement_timeout": "1000"})
        starts(try_login(srv, "alice", harness.PASSWORDS["alice"]), "+OK",
               "alice")
        primary.pause()
        # the query gets no answer: the client's own timer (1 s + 0.25 s)
        r, took = timed(try_login, srv, "alice", harness.PASSWORDS["alice"])
        starts(r, "+OK", "alice from the cache while the server is stopped")
        check(took < 2.5, "answered within the statement timeout "
              "(%.2fs)" % took)
        r, took = timed(try_login, srv, "bob", harness.PASSWORDS["bob"])
        check(r.startswith("-ERR [SYS/TEMP]"), "bob, never seen: %s" % r)
        check(took < 2.5, "bob answered in %.2fs" % took)
        primary.resume()
        wait_for(lambda: try_login(srv, "bob", harness.PASSWORDS["bob"])
                 .startswith("+OK"), 40,
                 lambda: "bob after SIGCONT (log: %s)" % srv.log_tail(6))
    finally:
        finish(ctx)


def test_notify_password_change(ctx):
    try:
        primary, _, _ = make_cluster(ctx)
        srv = pg_server(ctx, [primary])   # TTL 300 s: only NOTIFY helps
        old = harness.PASSWORDS["alice"]
        starts(try_login(srv, "alice", old), "+OK", "alice (now cached)")
        primary.psql("UPDATE users SET password = '{PLAIN}new-Pw.1' "
                     "WHERE \"user\" = 'alice'")
        t = time.monotonic()
        wait_for(lambda: try_login(srv, "alice", old).startswith("-ERR"), 1,
                 lambda: "the old password refused (log: %s)"
                 % srv.log_tail(6))
        check(time.monotonic() - t < 1.0, "refused within 1 s")
        starts(try_login(srv, "alice", "new-Pw.1"), "+OK", "the new one")
        # a user added after a failed login: the INSERT's NOTIFY drops
        # the negative entry
        check(try_login(srv, "frank", "frank-Pw").startswith("-ERR [AUTH]"),
              "frank unknown")
        primary.psql("INSERT INTO users (\"user\", password) VALUES "
                     "('frank', '{PLAIN}frank-Pw')")
        srv.fill("frank", [])
        wait_for(lambda: try_login(srv, "frank", "frank-Pw")
                 .startswith("+OK"), 1, "frank logs in after his INSERT")
    finally:
        finish(ctx)


def test_auth_flush(ctx):
    try:
        primary, _, _ = make_cluster(ctx)
        # no NOTIFY: only satchel auth flush makes the change count
        srv = pg_server(ctx, [primary], {"pgsql_notify_channel": ""})
        old = harness.PASSWORDS["bob"]
        starts(try_login(srv, "bob", old), "+OK", "bob (now cached)")
        primary.psql("UPDATE users SET password = '{PLAIN}bob-new' "
                     "WHERE \"user\" = 'bob'")
        starts(try_login(srv, "bob", old), "+OK",
               "bob's old password still cached")
        p = subprocess.run([harness.SATCHEL, "auth", "flush", "bob", "-c",
                            srv.conf_path], capture_output=True, timeout=30)
        eq(p.returncode, 0, "satchel auth flush bob (%s)" % p.stderr)
        wait_for(lambda: try_login(srv, "bob", old).startswith("-ERR"), 3,
                 lambda: "the old password refused after the flush "
                 "(log: %s)" % srv.log_tail(6))
        starts(try_login(srv, "bob", "bob-new"), "+OK", "bob's new one")
        check("auth flush: bob" in srv.log_text(), "the flush is logged")
        p = subprocess.run([harness.SATCHEL, "auth", "flush", "-c",
                            srv.conf_path], capture_output=True, timeout=30)
        eq(p.returncode, 0, "satchel auth flush (everyone)")
        wait_for(lambda: "auth flush: every cached user" in srv.log_text(),
                 3, "the flush of everyone logged")
    finally:
        finish(ctx)
