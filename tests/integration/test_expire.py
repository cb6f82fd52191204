"""EXPIRE: expire = 0 deletes retrieved messages at QUIT (only at QUIT);
per-user expire from the passwd-file."""
from harness import *

STORES = ("maildir", "mbox")
OPTS = {"expire": "0"}
EXTRA_USERS = {"tenday": "{PLAIN}tenday-Pw.e10::::::expire=10"}
EXTRA_SECRETS = ["tenday-Pw.e10"]


def four(store):
    return make_msgs([simple_msg(i) for i in range(1, 5)], store)


def test_retrieved_deleted_at_quit(ctx):
    msgs = ctx.srv.fill("alice", four(ctx.store))
    p = ctx.srv.login("alice")
    u = p.uidl()
    p.retr(1)
    p.retr(3)
    p.multi_ok("TOP 2 0")
    p.quit()
    q = ctx.srv.login_retry("alice")
    left = q.uidl()
    eq(sorted(left.values()), sorted([u[2], u[4]]), "UIDLs left after RETR 1, RETR 3, QUIT")
    q.quit()


def test_expire_zero_drop_deletes_nothing(ctx):
    ctx.srv.fill("alice", four(ctx.store))
    before = ctx.srv.drop_snapshot("alice")
    p = ctx.srv.login("alice")
    for n in range(1, 5):
        p.retr(n)
    p.close()
    q = ctx.srv.login_retry("alice")
    eq(q.stat()[0], 4, "count after RETR of all and a dropped connection")
    q.close()
    ctx.srv.wait_unlocked("alice")
    eq(ctx.srv.drop_snapshot("alice"), before, "stored messages")


def test_expire_zero_rset_keeps_retrieved(ctx):
    """RSET unmarks DELE; a retrieved message is still expired at QUIT."""
    ctx.srv.fill("alice", four(ctx.store))
    p = ctx.srv.login("alice")
    p.retr(1)
    p.ok("DELE 2")
    p.ok("RSET")
    p.quit()
    q = ctx.srv.login_retry("alice")
    eq(q.stat()[0], 3, "count (message 1 retrieved, so expired; 2 undeleted by RSET)")
    q.quit()


def test_capa_expire_zero(ctx):
    p = ctx.srv.connect()
    caps = p.multi_ok("CAPA").decode().split("\r\n")
    exp = [c for c in caps if c.split()[:1] == ["EXPIRE"]]
    check(len(exp) == 1 and exp[0].split()[1] == "0" and exp[0].split()[2:] in ([], ["USER"]),
          "CAPA lacks 'EXPIRE 0' (or 'EXPIRE 0 USER'): %s" % caps)
    p.quit()


def test_per_user_expire_days(ctx):
    ctx.srv.passwords["tenday"] = "tenday-Pw.e10"
    ctx.srv.fill("tenday", four(ctx.store))
    p = ctx.srv.login("tenday")
    caps = p.multi_ok("CAPA").decode().split("\r\n")
    check("EXPIRE 10" in caps, "CAPA after login of a user with expire=10: %s" % caps)
    p.retr(1)
    p.quit()
    q = ctx.srv.login_retry("tenday")
    eq(q.stat()[0], 4, "retrieved just now: not expired after 10 days yet")
    q.quit()
