"""Client workarounds (client_workarounds, and a user's
client_workarounds= field) over real sockets with Python's poplib:
outlook-no-nuls sends NUL as 0x80, oe-ns-eoh adds the missing blank line
after a header, and STAT, LIST and RETR's size always equal what RETR
sends in that session; bare AUTH lists the mechanisms."""
import poplib
import subprocess

from harness import *

STORES = ("maildir", "mbox")
# bob has both workarounds in his passwd-file line; alice has none (the
# module's server sets no global client_workarounds)
EXTRA_USERS = {
    "bob": "{PLAIN}%s::::::client_workarounds=outlook-no-nuls,oe-ns-eoh"
           % PASSWORDS["bob"],
}

NUL_MSG = (b"From: a@example.org\nSubject: with NULs\n\n"
           b"before\x00after\n\x00\n.\x00dot\n")
HEADER_ONLY = b"From: b@example.org\nSubject: only a header\nX-Test: 1\n"
HEADER_ONLY_NO_LF = b"From: c@example.org\nSubject: no LF at the end"
PLAIN = b"From: d@example.org\nSubject: plain\n\nbody\n"


def corpus(ctx, tag):
    datas = [m.replace(b"Subject: ", b"Subject: %s " % tag.encode())
             for m in (NUL_MSG, HEADER_ONLY, HEADER_ONLY_NO_LF, PLAIN)]
    return make_msgs(datas, ctx.store)


def fetch_all(srv, user):
    """poplib: STAT, LIST and every RETR (its octets as sent, without
    stuffing) and TOP n 0, in one session."""
    p = poplib.POP3("127.0.0.1", srv.port, timeout=IO_TIMEOUT)
    try:
        p.user(user)
        p.pass_(srv.passwords[user])
        count, total = p.stat()
        _, listing, _ = p.list()
        sizes = {int(l.split()[0]): int(l.split()[1]) for l in listing}
        out = {}
        for n in sorted(sizes):
            resp, lines, octets = p.retr(n)
            _, top, _ = p.top(n, 0)
            out[n] = (int(resp.split()[1]), b"\r\n".join(lines) + b"\r\n", octets, top)
        p.quit()
    finally:
        p.close()
    return count, total, sizes, out


def by_subject(out, tag):
    msgs = {}
    for n, (said, data, octets, top) in out.items():
        for name in ("with NULs", "only a header", "no LF at the end", "plain"):
            if (b"%s %s" % (tag.encode(), name.encode())) in data:
                msgs[name] = (n, said, data, octets, top)
    return msgs


def check_sizes(count, total, sizes, out):
    eq(count, len(sizes), "STAT count")
    eq(total, sum(sizes.values()), "STAT octets = the LIST sizes")
    for n, (said, data, octets, top) in out.items():
        eq(said, sizes[n], "RETR %d: +OK n octets = LIST" % n)
        eq(octets, sizes[n], "RETR %d: octets sent = LIST" % n)
        eq(len(data), sizes[n], "RETR %d: message length = LIST" % n)


def test_off_by_default(ctx):
    ctx.srv.fill("alice", corpus(ctx, "off"))
    count, total, sizes, out = fetch_all(ctx.srv, "alice")
    check_sizes(count, total, sizes, out)
    m = by_subject(out, "off")
    check(b"\x00" in m["with NULs"][2] and b"\x80" not in m["with NULs"][2],
          "without workarounds a NUL is sent as is")
    check(not m["only a header"][2].endswith(b"\r\n\r\n"),
          "without oe-ns-eoh nothing is added")


def check_workarounds(out, tag):
    m = by_subject(out, tag)
    eq(len(m), 4, "messages found")
    nul = m["with NULs"][2]
    check(b"\x00" not in nul, "outlook-no-nuls: a NUL left in %r" % nul)
    eq(nul.count(b"\x80"), 3, "outlook-no-nuls: every NUL as 0x80")
    for name in ("only a header", "no LF at the end"):
        data, top = m[name][2], m[name][4]
        check(data.endswith(b"\r\n\r\n") and data.count(b"\r\n\r\n") == 1,
              "oe-ns-eoh: %s ends with one blank line: %r" % (name, data[-40:]))
        eq(top[-1:], [b""], "oe-ns-eoh: TOP 0 of %s ends with the blank line" % name)
    check(m["plain"][2].endswith(b"\r\n\r\nbody\r\n"), "a message with a body unchanged")


def test_per_user(ctx):
    ctx.srv.fill("bob", corpus(ctx, "user"))
    count, total, sizes, out = fetch_all(ctx.srv, "bob")
    check_sizes(count, total, sizes, out)
    check_workarounds(out, "user")


def test_global(ctx):
    srv = ctx.server(store=ctx.store,
                     opts={"client_workarounds": "outlook-no-nuls oe-ns-eoh"}).start()
    srv.fill("alice", corpus(ctx, "global"))
    count, total, sizes, out = fetch_all(srv, "alice")
    check_sizes(count, total, sizes, out)
    check_workarounds(out, "global")
    # the next session (index written, sizes cached) says the same
    srv.wait_unlocked("alice")
    again = fetch_all(srv, "alice")
    eq(again[:3], (count, total, sizes), "STAT and LIST in the next session")


def test_user_none_overrides_global(ctx):
    srv = ctx.server(store=ctx.store,
                     opts={"client_workarounds": "outlook-no-nuls,oe-ns-eoh"},
                     users={"carol": "{PLAIN}%s::::::client_workarounds=none"
                            % PASSWORDS["carol"]}).start()
    srv.fill("carol", corpus(ctx, "none"))
    count, total, sizes, out = fetch_all(srv, "carol")
    check_sizes(count, total, sizes, out)
    m = by_subject(out, "none")
    check(b"\x00" in m["with NULs"][2], "client_workarounds=none: NUL as is")


def test_bare_auth_lists_mechanisms(ctx):
    p = ctx.srv.connect()
    data = p.multi_ok("AUTH").decode().split("\r\n")
    check("PLAIN" in data and "LOGIN" in data, "bare AUTH listing: %r" % data)
    p.quit()


def test_per_listener(ctx):
    """client_workarounds_listen: the workarounds on one port of two (a
    user's own client_workarounds= field still decides for that user)."""
    other = free_port()
    srv = ctx.server(store=ctx.store,
                     listen="127.0.0.1:{port},127.0.0.1:%d" % other,
                     opts={"client_workarounds": "outlook-no-nuls,oe-ns-eoh",
                           "client_workarounds_listen": "127.0.0.1:%d" % other})
    srv.start()
    srv.fill("alice", corpus(ctx, "listener"))
    count, total, sizes, out = fetch_all(srv, "alice")
    check_sizes(count, total, sizes, out)
    m = by_subject(out, "listener")
    check(b"\x00" in m["with NULs"][2], "no workaround on the main port")
    srv.wait_unlocked("alice")
    port = srv.port
    srv.port = other
    try:
        count, total, sizes, out = fetch_all(srv, "alice")
    finally:
        srv.port = port
    check_sizes(count, total, sizes, out)
    check_workarounds(out, "listener")


def test_per_listener_must_name_a_listener(ctx):
    srv = ctx.server(store=ctx.store, opts={"client_workarounds_listen": "127.0.0.1:1"})
    r = subprocess.run(srv.command() + ["--check"], capture_output=True, timeout=30)
    check(r.returncode != 0 and b"client_workarounds_listen" in r.stderr,
          "--check with a listener that is not one: %r" % r.stderr[-300:])
