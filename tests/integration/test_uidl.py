"""UIDL: format, uniqueness, stability across sessions, deletions and
restarts."""
import os
import re

from harness import *

STORES = ("maildir", "mbox")

UIDL_RE = re.compile(r"^[\x21-\x7e]{1,70}$")


def msgs_for(store, n=6):
    return make_msgs([simple_msg(i) for i in range(1, n + 1)], store)


def get_uidls(srv, user="alice"):
    p = srv.login_retry(user)
    u = p.uidl()
    single = {}
    for n in u:
        resp = p.ok("UIDL %d" % n)
        single[n] = resp.split()[2] if len(resp.split()) > 2 else None
        check(resp.split()[1:2] == [str(n)], "UIDL %d response %r" % (n, resp))
    p.quit()
    eq(single, u, "UIDL n versus the UIDL listing")
    return u


def check_format(u):
    bad = [x for x in u.values() if not UIDL_RE.match(x)]
    check(not bad, "UIDLs not 1-70 octets of 0x21-0x7E: %s" % short(bad))
    check(len(set(u.values())) == len(u), "UIDLs not unique: %s" % short(sorted(u.values())))


def test_format_unique(ctx):
    ctx.srv.fill("alice", make_msgs(load_corpus(), ctx.store))
    check_format(get_uidls(ctx.srv))


def test_stable_across_sessions(ctx):
    ctx.srv.fill("alice", msgs_for(ctx.store))
    a = get_uidls(ctx.srv)
    b = get_uidls(ctx.srv)
    eq(b, a, "UIDLs of the second session")
    check_format(a)


@only("maildir")
def test_maildir_uidl_is_base_name(ctx):
    msgs = ctx.srv.fill("alice", msgs_for("maildir"))
    u = get_uidls(ctx.srv)
    eq(sorted(u.values()), sorted(m.base for m in msgs), "UIDLs (Maildir base names)")


def test_stable_after_deleting_others(ctx):
    ctx.srv.fill("alice", msgs_for(ctx.store))
    a = get_uidls(ctx.srv)
    p = ctx.srv.login_retry("alice")
    p.ok("DELE 1")
    p.ok("DELE 4")
    p.quit()
    b = get_uidls(ctx.srv)
    eq(sorted(b.values()), sorted(a[n] for n in (2, 3, 5, 6)), "UIDLs after deleting 1 and 4")
    eq([b[n] for n in sorted(b)], [a[n] for n in (2, 3, 5, 6)], "order of the remaining UIDLs")


def test_stable_after_new_mail(ctx):
    ctx.srv.fill("alice", msgs_for(ctx.store, 3))
    a = get_uidls(ctx.srv)
    ctx.srv.add("alice", msgs_for(ctx.store, 5)[3:])
    b = get_uidls(ctx.srv)
    eq(len(b), 5, "count after new mail")
    check(set(a.values()) <= set(b.values()), "old UIDLs kept after new mail: %s vs %s"
          % (short(a), short(b)))
    check_format(b)


def test_stable_across_restart(ctx):
    ctx.workers_may_change = True
    ctx.srv.fill("alice", make_msgs(load_corpus()[:8], ctx.store))
    a = get_uidls(ctx.srv)
    ctx.srv.restart()
    b = get_uidls(ctx.srv)
    eq(b, a, "UIDLs after a server restart")


def test_stable_after_retrieval(ctx):
    """Maildir moves retrieved mail to cur/: the UIDL must not change."""
    ctx.srv.fill("alice", msgs_for(ctx.store))
    a = get_uidls(ctx.srv)
    p = ctx.srv.login_retry("alice")
    for n in a:
        p.retr(n)
    p.quit()
    eq(get_uidls(ctx.srv), a, "UIDLs after every message was retrieved")


@only("maildir")
def test_maildir_odd_names_get_valid_stable_uidls(ctx):
    """Base names too long or with a space/8-bit byte cannot be UIDLs."""
    datas = [simple_msg(i) for i in range(1, 5)]
    msgs = make_msgs(datas, "maildir", mixed=False)
    msgs[0].name = "1732590001." + "L" * 80 + ".testhost"
    msgs[1].name = "1732590002.M2P2.test host"
    msgs[2].name = "1732590003.M3P3.t\u00e9sthost"
    ctx.srv.fill("alice", msgs)
    a = get_uidls(ctx.srv)
    eq(len(a), 4, "count")
    check_format(a)
    check(msgs[3].base in a.values(), "the plain name keeps its base-name UIDL")
    eq(get_uidls(ctx.srv), a, "odd-name UIDLs in a second session")
    ctx.workers_may_change = True
    ctx.srv.restart()
    eq(get_uidls(ctx.srv), a, "odd-name UIDLs after a restart")


@only("mbox")
def test_mbox_identical_messages_unique(ctx):
    """Duplicates (same bytes) and equal X-UIDL headers: still unique."""
    same = simple_msg(1)
    xu = b"X-UIDL: samesame\n" + simple_msg(2)
    msgs = make_msgs([same, same, same, xu, xu, simple_msg(3)], "mbox")
    ctx.srv.fill("alice", msgs)
    a = get_uidls(ctx.srv)
    eq(len(a), 6, "count")
    check_format(a)
    eq(get_uidls(ctx.srv), a, "UIDLs of duplicates in a second session")


@only("mbox")
def test_mbox_x_uidl_header(ctx):
    msgs = make_msgs([b"X-UIDL: abc123xyz\n" + simple_msg(1), simple_msg(2)], "mbox")
    ctx.srv.fill("alice", msgs)
    a = get_uidls(ctx.srv)
    eq(a[1], "abc123xyz", "UIDL taken from the X-UIDL header")


@only("mbox")
def test_mbox_duplicates_stable_after_deleting_first(ctx):
    same = simple_msg(7)
    msgs = make_msgs([same, same, same, simple_msg(8)], "mbox")
    ctx.srv.fill("alice", msgs)
    a = get_uidls(ctx.srv)
    p = ctx.srv.login_retry("alice")
    p.ok("DELE 1")
    p.quit()
    b = get_uidls(ctx.srv)
    eq([b[n] for n in sorted(b)], [a[n] for n in (2, 3, 4)],
       "UIDLs of the remaining duplicates after deleting the first")
