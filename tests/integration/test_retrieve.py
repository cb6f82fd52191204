"""Byte-exact retrieval of the corpus: RETR, LIST/STAT sizes, TOP, poplib."""
import poplib
import re

from harness import *

STORES = ("maildir", "mbox")


def corpus_msgs(store):
    return make_msgs(load_corpus(), store)


def test_retr_byte_exact(ctx):
    """Raw client: every corpus message equals to_crlf(stored bytes)."""
    msgs = ctx.srv.fill("alice", corpus_msgs(ctx.store))
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    eq(len(bynum), len(msgs), "message count")
    bad = []
    for n, m in sorted(bynum.items()):
        got = p.retr(n)
        if got != m.expected:
            bad.append("RETR %d (%s): %s" % (n, m.label, describe_diff(got, m.expected)))
    p.quit()
    check(not bad, "; ".join(bad))


def test_list_sizes_equal_retr_octets(ctx):
    msgs = ctx.srv.fill("alice", corpus_msgs(ctx.store))
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    sizes = p.list()
    eq(sorted(sizes), sorted(bynum), "LIST message numbers")
    bad = []
    for n, m in sorted(bynum.items()):
        got = p.retr(n)
        if sizes[n] != len(got) or sizes[n] != m.size:
            bad.append("%s: LIST %d, RETR sent %d, expected %d"
                       % (m.label, sizes[n], len(got), m.size))
        one = p.ok("LIST %d" % n)
        if one.split()[1:3] != [str(n), str(m.size)]:
            bad.append("LIST %d said %r, want '+OK %d %d'" % (n, one, n, m.size))
    count, total = p.stat()
    eq((count, total), (len(msgs), sum(m.size for m in msgs)), "STAT")
    p.quit()
    check(not bad, "; ".join(bad))


@only("maildir")
def test_maildir_plus_plus_sizes(ctx):
    """Files named with ,S= and ,W= (Maildir++): LIST equals W=."""
    datas = [simple_msg(i, body="line\n" * i) for i in range(1, 6)]
    msgs = make_msgs(datas, "maildir", sizes_every=1)
    check(all(",W=" in m.name for m in msgs), "setup: names carry W=")
    ctx.srv.fill("alice", msgs)
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    sizes = p.list()
    for n, m in bynum.items():
        eq(sizes[n], m.size, "LIST size of %s" % m.name)
        eq(p.retr(n), m.expected, "RETR of %s" % m.name)
    p.quit()


def test_poplib_retr(ctx):
    """Python's poplib: RETR lines joined with CRLF equal the expected."""
    msgs = ctx.srv.fill("alice", corpus_msgs(ctx.store))
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    p.quit()
    c = poplib.POP3("127.0.0.1", ctx.srv.port, timeout=IO_TIMEOUT)
    try:
        c.user("alice")
        c.pass_(ctx.srv.passwords["alice"])
        count, total = c.stat()
        eq(count, len(msgs), "poplib stat count")
        bad = []
        for n, m in sorted(bynum.items()):
            resp, lines, octets = c.retr(n)
            got = b"".join(l + b"\r\n" for l in lines)
            if got != m.expected:
                bad.append("%s: %s" % (m.label, describe_diff(got, m.expected)))
        c.quit()
    finally:
        c.close()
    check(not bad, "; ".join(bad))


def test_top(ctx):
    msgs = ctx.srv.fill("alice", corpus_msgs(ctx.store))
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    bad = []
    for n, m in sorted(bynum.items()):
        for k in (0, 1, 3, 99999999):
            st, got = p.multi("TOP %d %d" % (n, k))
            if not st.startswith("+OK"):
                bad.append("TOP %d %d: %s" % (n, k, st))
                continue
            want = top_expected(m.data, k)
            if got != want:
                bad.append("TOP %d %d (%s): %s" % (n, k, m.label, describe_diff(got, want)))
    p.quit()
    check(not bad, "; ".join(bad[:6]) + (" (+%d more)" % (len(bad) - 6) if len(bad) > 6 else ""))


def test_top_then_retr_same_session(ctx):
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(i, body="a\nb\nc\n") for i in (1, 2)], ctx.store))
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    for n, m in bynum.items():
        eq(p.multi_ok("TOP %d 1" % n), top_expected(m.data, 1), "TOP %d 1" % n)
        eq(p.retr(n), m.expected, "RETR %d after TOP" % n)
    p.quit()


def test_big_message_backpressure(ctx):
    """Ten RETRs of the 1 MB message pipelined without reading, then read."""
    big = [d for l, d in load_corpus() if l.startswith("91-")][0]
    msgs = ctx.srv.fill("alice", make_msgs([("big", big), ("small", simple_msg(2))], ctx.store))
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    n = [k for k, m in bynum.items() if m.label == "big"][0]
    p.send("".join("RETR %d\r\n" % n for _ in range(10)) + "NOOP\r\n")
    for i in range(10):
        st = p.getline().decode()
        starts(st, "+OK", "RETR #%d" % (i + 1))
        data = p.getmulti()
        eq(data, msgs[0].expected, "pipelined RETR #%d" % (i + 1))
    starts(p.getline().decode(), "+OK", "NOOP after the RETRs")
    p.quit()


def test_snapshot_new_mail_next_session(ctx):
    """Mail delivered during a session appears only in the next one."""
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(i) for i in (1, 2)], ctx.store))
    p = ctx.srv.login("alice")
    eq(p.stat()[0], 2, "STAT count at login")
    newmsg = make_msgs([simple_msg(i) for i in (1, 2, 3)], ctx.store)[2:]
    if ctx.store == "mbox":
        # a polite delivery agent: dotlock first
        lock = ctx.srv.maildrop("alice") + ".lock"
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            p.quit()
            raise Skip("the mbox is dotlocked during the whole session")
        os.close(fd)
        try:
            ctx.srv.add("alice", newmsg)
        finally:
            os.unlink(lock)
    else:
        ctx.srv.add("alice", newmsg)
    eq(p.stat()[0], 2, "STAT count after a delivery in the session")
    eq(len(p.list()), 2, "LIST entries after a delivery in the session")
    p.quit()
    p = ctx.srv.login_retry("alice")
    eq(p.stat()[0], 3, "STAT count in the next session")
    bynum = map_numbers(p, ctx.srv, msgs + newmsg)
    for n, m in bynum.items():
        eq(p.retr(n), m.expected, "RETR %d in the next session" % n)
    p.quit()


def test_empty_maildrop(ctx):
    ctx.srv.fill("bob", [])
    p = ctx.srv.login("bob")
    eq(p.stat(), (0, 0), "STAT of an empty maildrop")
    eq(p.list(), {}, "LIST of an empty maildrop")
    eq(p.uidl(), {}, "UIDL of an empty maildrop")
    p.err("RETR 1")
    p.quit()


def test_missing_maildrop_is_empty(ctx):
    """A user whose Maildir/mbox does not exist yet has an empty maildrop."""
    path = ctx.srv.maildrop("dave")
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.unlink(path)
    p = ctx.srv.login("dave")
    eq(p.stat(), (0, 0), "STAT of a missing maildrop")
    p.quit()


@only("maildir")
def test_maildir_ignores_tmp_and_dotfiles(ctx):
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(i) for i in (1, 2)], "maildir"))
    root = ctx.srv.maildrop("alice")
    for rel in ("tmp/1732590099.M1P1.testhost", "new/.hidden", "cur/.nfs000001",
                ".Sent/cur/1732590098.M1P1.testhost:2,S"):
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(simple_msg(9))
    with open(os.path.join(root, "dovecot-uidlist"), "w") as f:
        f.write("3 V1 N2\n")
    ctx.srv.fix_owner(root)
    p = ctx.srv.login("alice")
    eq(p.stat()[0], 2, "messages counted (tmp/, dot files, subfolders ignored)")
    eq(sorted(p.uidl().values()), sorted(m.base for m in msgs), "UIDLs")
    p.quit()


@only("maildir")
def test_maildir_corrupt_index_not_trusted(ctx):
    """satchel.index is a cache: garbage in it changes nothing."""
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(i, body="x\n" * i) for i in (1, 2, 3)], "maildir"))
    p = ctx.srv.login("alice")
    first = p.uidl(), p.list()
    p.quit()
    ctx.srv.wait_unlocked("alice")
    idx = os.path.join(ctx.srv.maildrop("alice"), "satchel.index")
    with open(idx, "wb") as f:
        f.write(b"\x00garbage\nnot an index 1 2 3\n" + os.urandom(200))
    ctx.srv.fix_owner(idx)
    p = ctx.srv.login("alice")
    eq((p.uidl(), p.list()), first, "UIDL and LIST with a corrupt index")
    bynum = map_numbers(p, ctx.srv, msgs)
    for n, m in bynum.items():
        eq(p.retr(n), m.expected, "RETR %d with a corrupt index" % n)
    p.quit()


@only("maildir")
def test_maildir_external_change_between_sessions(ctx):
    """A message removed or added by another program between sessions."""
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(i) for i in (1, 2, 3)], "maildir"))
    p = ctx.srv.login("alice")
    eq(p.stat()[0], 3, "count")
    p.quit()
    ctx.srv.wait_unlocked("alice")
    os.unlink(os.path.join(ctx.srv.maildrop("alice"), msgs[0].sub, msgs[0].name))
    extra = make_msgs([simple_msg(i) for i in range(1, 6)], "maildir")[4:]
    ctx.srv.add("alice", extra)
    p = ctx.srv.login("alice")
    now = msgs[1:] + extra
    eq(sorted(p.uidl().values()), sorted(m.base for m in now), "UIDLs after external changes")
    bynum = map_numbers(p, ctx.srv, now)
    sizes = p.list()
    for n, m in bynum.items():
        eq(sizes[n], m.size, "LIST %d" % n)
        eq(p.retr(n), m.expected, "RETR %d" % n)
    p.quit()


@only("maildir")
def test_maildir_message_vanishes_during_session(ctx):
    """RETR of a file removed behind the server's back: -ERR, session goes on."""
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(i) for i in (1, 2)], "maildir"))
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    n_gone = [n for n, m in bynum.items() if m is msgs[0]][0]
    n_ok = 3 - n_gone
    os.unlink(os.path.join(ctx.srv.maildrop("alice"), msgs[0].sub, msgs[0].name))
    st, data = p.multi("RETR %d" % n_gone)
    starts(st, "-ERR", "RETR of a vanished message")
    eq(p.retr(n_ok), msgs[1].expected, "RETR of the other message")
    p.quit()
