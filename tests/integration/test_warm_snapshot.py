"""The worker's warm snapshots (maildrop_cache_size): a login to a large
Maildir that nothing changed since the last session reuses that session's
snapshot; anything that changed the directories or the index since, or a
session that deleted or moved mail, makes the next login build a new one,
and what a session marked without committing is never carried over."""
import os
import re
import socket

from harness import *

STORES = ("maildir",)
WORKERS = 1         # both logins of a test land on the one worker
CONFIG = {"log_level": "debug"}
COUNT = 1200        # above the 1,000 messages a snapshot is kept from
REUSED = re.compile(r"the last session's snapshot reused \((\d+) messages\)")
OLD = 1732590000    # directory mtimes well before any listing


def age_dirs(srv, user="alice"):
    """new/ and cur/ as if last changed long ago, so a listing of them is
    trusted (the 2-second margin of docs/store.md)."""
    for sub in ("new", "cur"):
        os.utime(os.path.join(srv.maildrop(user), sub), (OLD, OLD))


def fill_big(srv, count=COUNT):
    msgs = srv.fill("alice", make_msgs([simple_msg(i) for i in range(count)],
                                       "maildir"))
    age_dirs(srv)
    return msgs


class LogMark:
    """The reuse lines of the server log written after this point."""

    def __init__(self, srv):
        self.srv = srv
        self.start = len(srv.log_text())

    def reused(self):
        return [int(n) for n in
                REUSED.findall(self.srv.log_text()[self.start:])]


def session(srv, commands=(), quit=True):
    """Logs in, runs commands, returns (STAT, UIDL listing)."""
    p = srv.login_retry("alice")
    stat = p.stat()
    uidl = p.uidl()
    for c in commands:
        p.ok(c)
    if quit:
        p.quit()
    else:
        p.sock.shutdown(socket.SHUT_RDWR)
        p.close()
    return stat, uidl


def parked(srv):
    """One session that ends unchanged, then one that must reuse it."""
    first = session(srv)
    mark = LogMark(srv)
    again = session(srv)
    eq(again, first, "the second session (warm) against the first")
    eq(mark.reused(), [COUNT], "snapshots reused by the second session")
    return first


def test_reused_when_nothing_changed(ctx):
    fill_big(ctx.srv)
    stat, uidl = parked(ctx.srv)
    eq(stat[0], COUNT, "messages")
    eq(len(set(uidl.values())), COUNT, "distinct UIDLs")


def test_new_mail_is_seen(ctx):
    fill_big(ctx.srv)
    _, before = parked(ctx.srv)
    data = simple_msg(COUNT + 1, subject="late")
    extra = [Msg(data, name=maildir_name(COUNT + 1))]
    ctx.srv.add("alice", extra)
    mark = LogMark(ctx.srv)
    stat, uidl = session(ctx.srv)
    eq(stat[0], COUNT + 1, "messages after a delivery")
    check(extra[0].base in uidl.values(), "the new message listed")
    eq(mark.reused(), [], "reused after new/ changed")


def test_mail_removed_by_another_program(ctx):
    fill_big(ctx.srv)
    _, before = parked(ctx.srv)
    gone = ctx.srv.maildir_files("alice")[7]
    os.unlink(os.path.join(ctx.srv.maildrop("alice"), gone))
    mark = LogMark(ctx.srv)
    stat, uidl = session(ctx.srv)
    eq(stat[0], COUNT - 1, "messages after an outside deletion")
    base = gone.split("/")[1].split(":")[0]
    check(base not in uidl.values(), "the removed message not listed")
    eq(mark.reused(), [], "reused after the directory changed")


def test_deletions_are_not_reused(ctx):
    fill_big(ctx.srv)
    _, before = parked(ctx.srv)
    session(ctx.srv, ["DELE 1", "DELE 2"])
    # the directories' mtimes back as they were: only the session's own
    # record (a deletion) keeps its snapshot from being parked
    age_dirs(ctx.srv)
    mark = LogMark(ctx.srv)
    stat, uidl = session(ctx.srv)
    eq(stat[0], COUNT - 2, "messages after DELE 1, DELE 2 and QUIT")
    eq(sorted(uidl.values()),
       sorted(u for n, u in before.items() if n > 2), "remaining UIDLs")
    eq(mark.reused(), [], "a snapshot reused after deletions")


def test_marks_of_a_dropped_session_are_not_carried(ctx):
    fill_big(ctx.srv)
    _, before = parked(ctx.srv)
    mark = LogMark(ctx.srv)
    # DELE without QUIT: nothing is deleted, and the next session (which
    # reuses the snapshot) starts with no message marked
    session(ctx.srv, ["DELE 1", "DELE 3"], quit=False)
    p = ctx.srv.login_retry("alice")
    eq(p.stat()[0], COUNT, "messages after a dropped session")
    eq(p.uidl(), before, "UIDLs after a dropped session")
    p.ok("DELE 1")      # not "already deleted"
    p.ok("RSET")
    p.quit()
    eq(mark.reused(), [COUNT, COUNT], "snapshots reused")


def test_retrieved_mail_is_moved_and_seen(ctx):
    fill_big(ctx.srv)
    _, before = parked(ctx.srv)
    p = ctx.srv.login_retry("alice")
    p.retr(1)
    p.quit()
    cur = [f for f in ctx.srv.maildir_files("alice") if f.startswith("cur/")]
    check(any(f.split("/")[1].split(":")[0] == before[1] for f in cur),
          "message 1 moved to cur/ with the S flag: %s" % short(cur))
    mark = LogMark(ctx.srv)
    _, uidl = session(ctx.srv)
    eq(uidl, before, "UIDLs after a retrieval")
    eq(mark.reused(), [], "a snapshot reused after new/ -> cur/ moves")


def test_changed_index_is_seen(ctx):
    """satchel migrate uidl rewrites the index under the session lock:
    the next login must list the imported UIDLs, not the parked ones."""
    fill_big(ctx.srv)
    _, before = parked(ctx.srv)
    listing = os.path.join(ctx.tmp, "uidls")
    with open(listing, "w") as f:
        for n in sorted(before):
            f.write("%s imported-%05d\n" % (before[n], n))
    r = run_satchel(["migrate", "uidl", "--from", "file:" + listing,
                     "--maildir", ctx.srv.maildrop("alice")])
    eq(r.returncode, 0, "migrate uidl exit status (%s)" % r.stderr.strip())
    ctx.srv.fix_owner(ctx.srv.maildrop("alice"))
    mark = LogMark(ctx.srv)
    _, uidl = session(ctx.srv)
    eq(uidl, {n: "imported-%05d" % n for n in before}, "UIDLs after import")
    eq(mark.reused(), [], "a snapshot reused after the index changed")


def test_small_maildirs_are_not_kept(ctx):
    fill_big(ctx.srv, 20)
    session(ctx.srv)
    mark = LogMark(ctx.srv)
    eq(session(ctx.srv)[0][0], 20, "messages")
    eq(mark.reused(), [], "a 20-message snapshot reused")


def test_off_with_size_zero(ctx):
    srv = ctx.server(workers=1, config={"log_level": "debug",
                                        "maildrop_cache_size": "0"})
    srv.start()
    fill_big(srv)
    first = session(srv)
    mark = LogMark(srv)
    eq(session(srv), first, "the second session")
    eq(mark.reused(), [], "snapshots reused with maildrop_cache_size = 0")
