"""DELE/RSET/QUIT semantics: deletions only in UPDATE; drops and kills
delete nothing; Maildir flags after retrieval; mbox rewrites stay exact."""
import os
import signal

from harness import *

STORES = ("maildir", "mbox")
OPTS = {"lock_stale_timeout": "10"}   # the smallest allowed


def five(store):
    datas = [("m%d" % i, simple_msg(i, body="Line one of %d.\nFrom here on.\n.\n" % i))
             for i in range(1, 6)]
    return make_msgs(datas, store)


def uidl_content(srv, user, msgs):
    """{uidl: bytes} of a new session: checks every message on the way."""
    p = srv.login_retry(user)
    uidls = p.uidl()
    bynum = map_numbers(p, srv, msgs) if len(uidls) == len(msgs) else None
    out = {}
    for n in uidls:
        out[uidls[n]] = p.retr(n)
    p.quit()
    return out


def test_dele_then_quit_deletes(ctx):
    msgs = ctx.srv.fill("alice", five(ctx.store))
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    uid = p.uidl()
    p.ok("DELE 2")
    p.ok("DELE 4")
    count, size = p.stat()
    eq(count, 3, "STAT count after two DELE")
    eq(size, sum(m.size for n, m in bynum.items() if n not in (2, 4)), "STAT size after DELE")
    lst = p.list()
    eq(sorted(lst), [1, 3, 5], "LIST after DELE keeps numbers, hides deleted")
    eq(sorted(p.uidl()), [1, 3, 5], "UIDL after DELE")
    p.quit()
    p = ctx.srv.login_retry("alice")
    eq(p.stat()[0], 3, "count in the next session")
    eq(sorted(p.uidl().values()), sorted(uid[n] for n in (1, 3, 5)), "remaining UIDLs")
    left = map_numbers(p, ctx.srv, [bynum[1], bynum[3], bynum[5]])
    for n, m in left.items():
        eq(p.retr(n), m.expected, "RETR %d after deleting others" % n)
    p.quit()
    if ctx.store == "maildir":
        eq(len(ctx.srv.maildir_files("alice")), 3, "files left in the Maildir")


def test_dropped_connection_deletes_nothing(ctx):
    msgs = ctx.srv.fill("alice", five(ctx.store))
    before = ctx.srv.drop_snapshot("alice")
    p = ctx.srv.login("alice")
    for n in range(1, 6):
        p.ok("DELE %d" % n)
    p.close()  # no QUIT
    p = ctx.srv.login_retry("alice")
    eq(p.stat()[0], 5, "count after a dropped connection")
    p.ok("NOOP")
    p.close()
    ctx.srv.wait_unlocked("alice")
    eq(ctx.srv.drop_snapshot("alice"), before, "stored messages after dropped connections")


def test_dropped_connection_mid_retr_deletes_nothing(ctx):
    big = [d for l, d in load_corpus() if l.startswith("91-")][0]
    msgs = ctx.srv.fill("alice", make_msgs([("big", big), ("small", simple_msg(2))], ctx.store))
    before = ctx.srv.drop_snapshot("alice")
    p = ctx.srv.login("alice")
    p.ok("DELE 2") if True else None
    p.send("RETR 1\r\n")
    p.getline()
    p.close()  # in the middle of a 1 MB response
    p = ctx.srv.login_retry("alice")
    eq(p.stat()[0], 2, "count after dropping mid-RETR")
    p.close()
    ctx.srv.wait_unlocked("alice")
    eq(ctx.srv.drop_snapshot("alice"), before, "stored messages")


def test_rset(ctx):
    msgs = ctx.srv.fill("alice", five(ctx.store))
    p = ctx.srv.login("alice")
    full = p.stat()
    p.ok("DELE 1")
    p.ok("DELE 3")
    eq(p.stat()[0], 3, "count after DELE")
    p.ok("RSET")
    eq(p.stat(), full, "STAT after RSET")
    eq(sorted(p.list()), [1, 2, 3, 4, 5], "LIST after RSET")
    p.retr(3)  # readable again
    p.ok("DELE 5")
    p.quit()
    p = ctx.srv.login_retry("alice")
    eq(p.stat()[0], 4, "count after RSET, DELE 5, QUIT")
    p.quit()


def test_deleted_message_errors(ctx):
    ctx.srv.fill("alice", five(ctx.store))
    p = ctx.srv.login("alice")
    p.ok("DELE 2")
    for c in ("DELE 2", "RETR 2", "LIST 2", "TOP 2 0", "UIDL 2"):
        p.err(c)
    p.ok("NOOP")
    p.quit()


def test_quit_in_authorization_deletes_nothing(ctx):
    ctx.srv.fill("alice", five(ctx.store))
    before = ctx.srv.drop_snapshot("alice")
    p = ctx.srv.connect()
    p.ok("USER alice")
    p.quit()
    eq(ctx.srv.drop_snapshot("alice"), before, "stored messages")


def test_retrieve_without_dele_keeps_messages(ctx):
    msgs = ctx.srv.fill("alice", five(ctx.store))
    p = ctx.srv.login("alice")
    uid = p.uidl()
    for n in range(1, 6):
        p.retr(n)
    p.quit()
    p = ctx.srv.login_retry("alice")
    eq(p.uidl(), uid, "UIDLs after RETR of all and QUIT (expire never)")
    p.quit()


@only("maildir")
def test_maildir_retrieved_moved_to_cur_seen(ctx):
    datas = [simple_msg(i) for i in range(1, 5)]
    msgs = make_msgs(datas, "maildir", mixed=False)
    msgs[2].sub, msgs[2].name = "cur", msgs[2].base + ":2,F"      # flagged
    msgs[3].sub, msgs[3].name = "cur", msgs[3].base + ":2,RS"     # replied+seen
    ctx.srv.fill("alice", msgs)
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    num = {m.label: n for n, m in bynum.items()}
    for m in msgs[:1] + msgs[2:]:
        p.retr(num[m.label])
    p.quit()
    ctx.srv.wait_unlocked("alice")
    files = set(ctx.srv.maildir_files("alice"))
    for want in ("cur/%s:2,S" % msgs[0].base, "cur/%s:2,FS" % msgs[2].base,
                 "cur/%s:2,RS" % msgs[3].base):
        check(want in files, "%s missing after RETR and QUIT; files: %s" % (want, sorted(files)))
    # the unretrieved one may stay in new/ or move to cur/, but is not Seen
    check(files & {"new/%s" % msgs[1].base, "cur/%s:2," % msgs[1].base},
          "unretrieved message: files %s" % sorted(files))
    eq(len(files), 4, "number of message files")


@only("mbox")
def test_mbox_rewrite_keeps_quoting_and_order(ctx):
    corpus = load_corpus()
    msgs = ctx.srv.fill("alice", make_msgs(corpus, "mbox"))
    p = ctx.srv.login("alice")
    p.ok("DELE 1")
    p.ok("DELE %d" % len(msgs))
    p.quit()
    rest = msgs[1:-1]
    p = ctx.srv.login_retry("alice")
    eq(p.stat()[0], len(rest), "count after deleting first and last")
    bad = []
    for i, m in enumerate(rest):
        got = p.retr(i + 1)
        if got != m.expected:
            bad.append("%s: %s" % (m.label, describe_diff(got, m.expected)))
    p.quit()
    check(not bad, "; ".join(bad))
    with open(ctx.srv.maildrop("alice"), "rb") as f:
        raw = f.read()
    check(raw.startswith(b"From "), "mbox still starts with a From_ line")
    eq(raw.count(b"\nFrom sender"), len(rest) - 1, "From_ lines in the rewritten mbox")
    check(b"\n>From the start of a body line." in raw,
          "body 'From ' line still quoted in the rewritten mbox")


@only("mbox")
def test_mbox_delete_all(ctx):
    ctx.srv.fill("alice", five("mbox"))
    p = ctx.srv.login("alice")
    for n in range(1, 6):
        p.ok("DELE %d" % n)
    p.quit()
    p = ctx.srv.login_retry("alice")
    eq(p.stat(), (0, 0), "STAT after deleting everything")
    p.quit()


def test_sigkill_worker_mid_session(ctx):
    """SIGKILL every worker during a session with DELEs: nothing deleted,
    workers restarted, the maildrop usable again (stale lock recovered)."""
    ctx.workers_may_change = True
    msgs = ctx.srv.fill("alice", five(ctx.store))
    before = ctx.srv.drop_snapshot("alice")
    p = ctx.srv.login("alice")
    p.ok("DELE 1")
    p.ok("DELE 2")
    p.retr(3)
    workers = ctx.srv.workers_now()
    check(workers, "no satchel-worker children of the master found")
    for w in workers:
        os.kill(w, signal.SIGKILL)
    check(p.wait_closed(5), "connection not closed after its worker was killed")
    check(ctx.srv.alive(), "master died after its workers were killed")
    back = wait_until(lambda: len(ctx.srv.workers_now()) >= len(workers), 10)
    check(back, "workers not restarted within 10 s (now %s)" % ctx.srv.workers_now())
    eq(ctx.srv.drop_snapshot("alice"), before, "stored messages after SIGKILL")
    # the killed session's lock must be recovered (stale after 10 s here)
    p = ctx.srv.login_retry("alice", timeout=25)
    eq(p.stat()[0], 5, "count after SIGKILL of the worker")
    bynum = map_numbers(p, ctx.srv, msgs)
    for n, m in bynum.items():
        eq(p.retr(n), m.expected, "RETR %d after SIGKILL" % n)
    p.quit()
