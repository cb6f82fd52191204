"""Exclusive maildrop lock: [IN-USE], lock files, stale lock recovery."""
import os
import time

from harness import *

STORES = ("maildir", "mbox")
OPTS = {"lock_stale_timeout": "10"}   # the smallest allowed


def two(store):
    return make_msgs([simple_msg(1), simple_msg(2)], store)


def test_in_use(ctx):
    ctx.srv.fill("alice", two(ctx.store))
    a = ctx.srv.login("alice")
    b = ctx.srv.connect()
    b.ok("USER alice")
    resp = b.cmd("PASS " + ctx.srv.passwords["alice"])
    starts(resp, "-ERR [IN-USE]", "second session on the same maildrop")
    eq(a.stat()[0], 2, "first session unaffected")
    a.ok("DELE 1")
    a.quit()
    c = ctx.srv.login_retry("alice")
    eq(c.stat()[0], 1, "after the first session's QUIT")
    c.quit()


def test_in_use_only_after_correct_password(ctx):
    ctx.srv.fill("alice", two(ctx.store))
    a = ctx.srv.login("alice")
    b = ctx.srv.connect()
    b.ok("USER alice")
    eq(b.cmd("PASS wrong"), "-ERR [AUTH] invalid user name or password",
       "wrong password while the maildrop is in use")
    a.quit()


def test_in_use_same_connection_retry(ctx):
    """After [IN-USE] the client may try again on the same connection."""
    ctx.srv.fill("alice", two(ctx.store))
    a = ctx.srv.login("alice")
    b = ctx.srv.connect()
    b.ok("USER alice")
    starts(b.cmd("PASS " + ctx.srv.passwords["alice"]), "-ERR [IN-USE]")
    a.quit()
    ctx.srv.wait_unlocked("alice")
    resp = b.cmd("USER alice")
    if resp.startswith("+OK"):
        starts(b.cmd("PASS " + ctx.srv.passwords["alice"]), "+OK", "login after the lock was freed")
        b.quit()


def test_other_users_not_blocked(ctx):
    ctx.srv.fill("alice", two(ctx.store))
    ctx.srv.fill("bob", two(ctx.store))
    a = ctx.srv.login("alice")
    b = ctx.srv.login("bob")
    eq(b.stat()[0], 2, "bob while alice is logged in")
    a.quit()
    b.quit()


def test_lock_file_exists_during_session(ctx):
    ctx.srv.fill("alice", two(ctx.store))
    lock = ctx.srv.lock_path("alice")
    check(not os.path.exists(lock), "lock file %s before login" % lock)
    a = ctx.srv.login("alice")
    check(os.path.exists(lock), "no lock file %s during the session" % lock)
    a.quit()
    check(wait_until(lambda: not os.path.exists(lock), 3), "lock file %s left after QUIT" % lock)


def test_lock_released_after_drop(ctx):
    ctx.srv.fill("alice", two(ctx.store))
    a = ctx.srv.login("alice")
    a.close()
    check(ctx.srv.wait_unlocked("alice", 5), "lock not released within 5 s of a dropped connection")
    b = ctx.srv.login("alice")
    b.quit()


def test_stale_lock_recovered(ctx):
    """A lock file nobody refreshed for longer than lock_stale_timeout."""
    ctx.srv.fill("alice", two(ctx.store))
    lock = ctx.srv.lock_path("alice")
    with open(lock, "w") as f:
        f.write("99999 otherhost 1700000000\n")
    old = time.time() - 3600
    os.utime(lock, (old, old))
    ctx.srv.fix_owner(lock)
    a = ctx.srv.login("alice")
    eq(a.stat()[0], 2, "count after recovering a stale lock")
    a.quit()


def test_fresh_foreign_lock_is_in_use(ctx):
    """A fresh lock file (another host's session) means [IN-USE]."""
    ctx.srv.fill("alice", two(ctx.store))
    lock = ctx.srv.lock_path("alice")
    with open(lock, "w") as f:
        f.write("12345 otherhost.example %d\n" % int(time.time()))
    ctx.srv.fix_owner(lock)
    try:
        p = ctx.srv.connect()
        p.ok("USER alice")
        starts(p.cmd("PASS " + ctx.srv.passwords["alice"]), "-ERR [IN-USE]",
               "login with a fresh lock of another host")
        p.quit()
    finally:
        os.unlink(lock)


def test_concurrent_logins_one_wins(ctx):
    """Ten simultaneous logins: exactly one gets the maildrop."""
    ctx.srv.fill("alice", two(ctx.store))
    conns = [ctx.srv.connect() for _ in range(10)]
    for c in conns:
        c.send("USER alice\r\nPASS %s\r\n" % ctx.srv.passwords["alice"])
    results = []
    for c in conns:
        c.getline()
        results.append(c.getline().decode())
    ok = [r for r in results if r.startswith("+OK")]
    eq(len(ok), 1, "successful logins among 10 concurrent ones (%s)" % results)
    check(all(r.startswith("-ERR [IN-USE]") for r in results if not r.startswith("+OK")),
          "the others get [IN-USE]: %s" % results)
    for c in conns:
        c.close()
