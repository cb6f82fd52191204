"""LAST (RFC 1460): off by default, persistent on request (last_command);
fetchmail's use of it in keep mode without UIDL."""
from harness import *
from test_clients import check_fetchmail_ok, fetchmail

STORES = ("maildir", "mbox")
OPTS = {"last_command": "persistent"}


def fetchmail_keep(ctx, tag):
    """fetchmail -v in keep mode, no uidl (test_clients' run): what it
    fetched and its log."""
    r, got = fetchmail(ctx, "", keep=True, tag=tag, args=["-v"])
    check_fetchmail_ok(r, "fetchmail keep")
    return got, (r.stdout + r.stderr).decode("utf-8", "replace")


def msgs_for(ctx, test, count):
    """Messages of their own per test: the mbox index is keyed by UIDL
    (a digest of the headers), so it would remember another test's."""
    return make_msgs([simple_msg(i, subject="%s %d" % (test, i)) for i in range(1, count + 1)],
                     ctx.store)


def last(p):
    resp = p.ok("LAST")
    return int(resp.split()[1])


def test_last_persistent_across_sessions(ctx):
    ctx.srv.fill("alice", msgs_for(ctx, "sessions", 4))
    p = ctx.srv.login("alice")
    eq(last(p), 0, "LAST of a fresh maildrop")
    p.retr(2)
    eq(last(p), 2, "LAST after RETR 2")
    p.ok("RSET")
    eq(last(p), 0, "LAST after RSET")
    p.retr(3)
    p.quit()
    ctx.srv.wait_unlocked("alice")
    p = ctx.srv.login("alice")
    eq(last(p), 3, "LAST in the next session")
    p.ok("DELE 1")
    p.quit()
    ctx.srv.wait_unlocked("alice")
    p = ctx.srv.login("alice")
    eq(last(p), 2, "LAST after message 1 was deleted (3 is 2 now)")
    p.quit()


def test_last_off_by_default(ctx):
    srv = ctx.server(store=ctx.store).start()
    srv.fill("alice", msgs_for(ctx, "off", 1))
    p = srv.login("alice")
    p.retr(1)
    p.err("LAST")
    p.err("RPOP x")
    p.quit()


def test_fetchmail_keep_with_last(ctx):
    """fetchmail in keep mode without uidl: everything the first time;
    whatever it asks (LAST or UIDL), nothing again the second time and
    only the new message the third."""
    msgs = msgs_for(ctx, "fetchmail", 4)
    new = msgs.pop()
    ctx.srv.fill("alice", msgs)
    got, log = fetchmail_keep(ctx, "fm1")
    eq(sorted(got), sorted(m.expected.replace(b"\r\n", b"\n") for m in msgs), "first fetchmail run")
    ctx.srv.wait_unlocked("alice")
    got, log = fetchmail_keep(ctx, "fm1")
    check("POP3> LAST" in log and "POP3< +OK 3" in log,
          "fetchmail did not use LAST: %s" % log[-800:])
    eq(len(got), 0, "messages fetched again by the second run")
    ctx.srv.wait_unlocked("alice")
    ctx.srv.add("alice", [new])
    got, log = fetchmail_keep(ctx, "fm1")
    eq(got, [new.expected.replace(b"\r\n", b"\n")], "third run: only the new message")
