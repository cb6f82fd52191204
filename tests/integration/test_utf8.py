"""RFC 6856 over real sockets with Python's poplib.utf8(): CAPA UTF8 USER
and LANG, a UTF-8 user name and password (SASLprep: NFD typed, NFC
stored), UTF-8 headers in both modes, utf8_legacy = reject ([UTF8] for
a message with a UTF-8 header of its own or of a MIME part; LIST and
UIDL the same in both modes), STLS refused and not offered after UTF8,
and utf8 = no."""
import os
import poplib
import subprocess
import unicodedata

from harness import *
import pwd

import test_clients
from test_clients import check_fetchmail_ok, fetchmail, need

STORES = ("maildir", "mbox")
NAME = "j\u00f6rg"                       # NFC, as stored
PASSWORD = "p\u00e4ss-W\u00f6rt.9"
EXTRA_USERS = {NAME: "{PLAIN}%s" % PASSWORD}

UTF8_SUBJECT = "Subject: Gr\u00fc\u00dfe aus K\u00f6ln\n".encode()
MSGS = [
    b"From: a@example.org\n" + UTF8_SUBJECT + b"\nhallo\n",
    ("From: b@example.org\nSubject: report\nMIME-Version: 1.0\n"
     "Content-Type: multipart/mixed; boundary=\"==b==\"\n\n"
     "--==b==\nContent-Type: text/plain\n\nsee attached\n"
     "--==b==\nContent-Type: application/pdf\n"
     "Content-Disposition: attachment; filename*=utf-8''x;\n"
     " filename=\"Bericht \u00fcber M\u00e4rz.pdf\"\n"
     "Content-Transfer-Encoding: base64\n\nJVBERi0=\n--==b==--\n").encode(),
    "From: c@example.org\nSubject: ascii header\n\n8-bit body: \u00e9t\u00e9\n".encode(),
]


def fill(ctx, srv, user):
    # own subjects per test: the mbox index remembers by header digest
    return srv.fill(user, make_msgs(MSGS, ctx.store))


def client(srv, utf8):
    p = poplib.POP3("127.0.0.1", srv.port, timeout=IO_TIMEOUT)
    if utf8:
        resp = p.utf8()
        check(resp.startswith(b"+OK"), "UTF8: %r" % resp)
    return p


def test_capa_lists_utf8_and_lang(ctx):
    p = client(ctx.srv, False)
    caps = p.capa()
    check(caps.get("UTF8") == ["USER"], "CAPA UTF8: %r" % caps)
    check("LANG" in caps, "CAPA LANG: %r" % caps)
    p.quit()


def test_utf8_login_nfd_and_headers(ctx):
    fill(ctx, ctx.srv, NAME)
    p = client(ctx.srv, True)
    # typed in another Unicode form: SASLprep makes it the stored name
    p.user(unicodedata.normalize("NFD", NAME))
    p.pass_(unicodedata.normalize("NFD", PASSWORD))
    count, _ = p.stat()
    eq(count, 3, "messages")
    _, lines, _ = p.retr(1)
    check(UTF8_SUBJECT.rstrip(b"\n") in lines, "UTF-8 Subject as stored: %r" % lines[:3])
    p.quit()


def test_legacy_client_gets_a_surrogate_by_default(ctx):
    fill(ctx, ctx.srv, "alice")
    p = client(ctx.srv, False)
    p.user("alice")
    p.pass_(ctx.srv.passwords["alice"])
    _, lines, _ = p.retr(1)
    check(UTF8_SUBJECT.rstrip(b"\n") not in lines and
          any(l.startswith(b"Subject: =?UTF-8?") for l in lines),
          "utf8_legacy = wrap (the default): %r" % lines[:3])
    p.quit()


def test_utf8_legacy_send(ctx):
    srv = ctx.server(store=ctx.store, opts={"utf8_legacy": "send"}).start()
    fill(ctx, srv, "alice")
    p = client(srv, False)
    p.user("alice")
    p.pass_(srv.passwords["alice"])
    _, lines, _ = p.retr(1)
    check(UTF8_SUBJECT.rstrip(b"\n") in lines, "utf8_legacy = send: %r" % lines[:3])
    p.quit()


def test_utf8_legacy_reject(ctx):
    srv = ctx.server(store=ctx.store, opts={"utf8_legacy": "reject"}).start()
    fill(ctx, srv, "alice")
    listings = {}
    for utf8 in (False, True):
        srv.wait_unlocked("alice")
        p = client(srv, utf8)
        p.user("alice")
        p.pass_(srv.passwords["alice"])
        listings[utf8] = (p.stat(), p.list()[1], p.uidl()[1])
        for n in (1, 2):
            if utf8:
                _, lines, _ = p.retr(n)
                check(len(lines) > 2, "RETR %d after UTF8" % n)
            else:
                try:
                    p.retr(n)
                    raise AssertionError("RETR %d without UTF8 was not refused" % n)
                except poplib.error_proto as e:
                    check(str(e).startswith("b'-ERR [UTF8]"), "refusal: %s" % e)
        _, lines, octets = p.retr(3)
        check(any(b"\xc3\xa9t\xc3\xa9" in l for l in lines), "8-bit body readable")
        p.quit()
    eq(listings[False], listings[True], "STAT, LIST and UIDL in both modes")


def test_stls_refused_after_utf8(ctx):
    cert, key = self_signed_cert(ctx.tmp)
    srv = ctx.server(store=ctx.store, config={"tls_cert": cert, "tls_key": key}).start()
    p = srv.connect()
    check("STLS" in p.multi_ok("CAPA").decode().split("\r\n"), "STLS offered before UTF8")
    p.ok("UTF8")
    check("STLS" not in p.multi_ok("CAPA").decode().split("\r\n"), "STLS offered after UTF8")
    check("after UTF8" in p.err("STLS"), "STLS after UTF8")
    p.quit()


def test_utf8_off(ctx):
    srv = ctx.server(store=ctx.store, opts={"utf8": "no"}).start()
    p = client(srv, False)
    caps = p.capa()
    check("UTF8" not in caps and "LANG" not in caps, "CAPA with utf8 = no: %r" % caps)
    p.quit()
    p = srv.connect()
    check("not enabled" in p.err("UTF8"), "UTF8 with utf8 = no")
    p.err("LANG")
    p.quit()


def test_utf8_legacy_wrap(ctx):
    """wrap: a client without UTF8 gets an ASCII surrogate whose LIST size
    is what RETR sends, with the original (as a UTF8 client gets it)
    base64 in a message/global part; messages without UTF-8 headers and
    the UIDLs are the same in both modes; TOP shows the surrogate."""
    import base64
    import email
    srv = ctx.server(store=ctx.store, opts={"utf8_legacy": "wrap"}).start()
    fill(ctx, srv, "alice")
    got = {}
    for utf8 in (True, False):
        srv.wait_unlocked("alice")
        p = client(srv, utf8)
        p.user("alice")
        p.pass_(srv.passwords["alice"])
        sizes = {int(l.split()[0]): int(l.split()[1]) for l in p.list()[1]}
        msgs = {}
        for n in sorted(sizes):
            resp, lines, octets = p.retr(n)
            eq(octets, sizes[n], "RETR %d octets = LIST (utf8=%s)" % (n, utf8))
            eq(int(resp.split()[1]), sizes[n], "+OK n octets = LIST")
            msgs[n] = b"\r\n".join(lines) + b"\r\n"
        eq(p.stat(), (len(sizes), sum(sizes.values())), "STAT = LIST")
        top = p.top(1, 0)[1]
        got[utf8] = (sizes, msgs, p.uidl()[1], top)
        p.quit()
    eq(got[True][2], got[False][2], "UIDL in both modes")
    eq(got[True][1][3], got[False][1][3], "an ASCII-header message is the same")
    for n in (1, 2):
        wrapped = got[False][1][n]
        check(all(b < 0x80 for b in wrapped), "surrogate %d is ASCII" % n)
        m = email.message_from_bytes(wrapped)
        eq(m.get_content_type(), "multipart/mixed", "surrogate type")
        boundary = m.get_boundary().encode()
        parts = wrapped.split(b"\r\n--" + boundary)
        eq(len(parts), 4, "preamble, two parts, the close")
        head, _, b64 = parts[2].partition(b"\r\n\r\n")
        check(b"Content-Type: message/global" in head and b"base64" in head,
              "second part header %r" % head)
        original = base64.b64decode(b64)
        eq(original, got[True][1][n], "message %d: the attachment is the original" % n)
    check(b"=?UTF-8?B?" in got[False][1][1].split(b"\r\n\r\n")[0],
          "the Subject as encoded words")
    top = got[False][3]
    check(top[-1] == b"" and any(l.startswith(b"Subject: =?UTF-8?B?") for l in top),
          "TOP 1 0 of the surrogate: %r" % top)


def test_fetchmail_under_wrap(ctx):
    """fetchmail knows no UTF8: under wrap it gets every message, the
    UTF-8 ones as surrogates that carry the original whole."""
    import base64
    srv = ctx.server(store=ctx.store, opts={"utf8_legacy": "wrap"}).start()
    msgs = fill(ctx, srv, "alice")
    r, got = fetchmail(ctx, "", keep=False, tag="fmwrap", srv=srv)
    check_fetchmail_ok(r, "fetchmail under wrap")
    eq(len(got), 3, "messages fetched")
    originals = sorted(m.expected for m in msgs)
    recovered = []
    for data in got:
        if b"=_satchel-utf8-surrogate_=" in data:
            b64 = data.split(b"filename=\"original.u8msg\"\n\n")[1].split(b"\n--")[0]
            recovered.append(base64.b64decode(b64))
        else:
            recovered.append(data.replace(b"\n", b"\r\n"))
    eq(sorted(recovered), originals, "every original, whole")
    srv.wait_unlocked("alice")
    p = srv.login("alice")
    eq(p.stat()[0], 0, "fetchmail deleted them (nothing lost: the originals came)")
    p.quit()


def originals_recovered(got, msgs, who):
    """Every message in got, a surrogate's original taken from its
    message/global part: each original whole (others as stored, modulo
    the client's line ends and headers of its own)."""
    import base64
    recovered = []
    for data in got:
        data = data.replace(b"\r\n", b"\n")
        if b"=_satchel-utf8-surrogate_=" in data:
            b64 = data.split(b"filename=\"original.u8msg\"\n\n")[1] \
                .split(b"\n--")[0]
            recovered.append(base64.b64decode(b64).replace(b"\r\n", b"\n"))
        else:
            recovered.append(data)
    eq(len(recovered), len(msgs), "%s: messages fetched" % who)
    eq(sum(b"=_satchel-utf8-surrogate_=" in d for d in got), 2,
       "%s: the two messages with UTF-8 headers came as surrogates" % who)
    for m in msgs:
        want = m.expected.replace(b"\r\n", b"\n")
        check(any(r == want or r.endswith(want) for r in recovered),
              "%s: the original of %r whole" % (who, want[:40]))


def test_mpop_under_wrap(ctx):
    """mpop knows no UTF8: under wrap (the default) it gets every
    message, the UTF-8 one as a surrogate that carries the original."""
    msgs = fill(ctx, ctx.srv, "alice")
    r, got = test_clients.mpop(ctx, "user", keep=True, tag="mpwrap")
    eq(r.returncode, 0, "mpop: %r" % (r.stdout + r.stderr)[-600:])
    originals_recovered(got, msgs, "mpop")


def test_getmail_under_wrap(ctx):
    """getmail6 the same, in keep mode."""
    need("getmail")
    msgs = fill(ctx, ctx.srv, "alice")
    home = os.path.join(ctx.tmp, "getmail-wrap")
    md = os.path.join(home, "Maildir")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub))
    user = ""
    if is_root():
        # getmail refuses to deliver as root; its Maildir writer drops to
        # this user, who must reach the Maildir
        user = "user = %s\n" % MAIL_USER
        pw = pwd.getpwnam(MAIL_USER)
        for d in (ctx.tmp, home):
            os.chmod(d, 0o755)
        for root, dirs, files in os.walk(md):
            os.chown(root, pw.pw_uid, pw.pw_gid)
    rc = os.path.join(home, "getmailrc")
    with open(rc, "w") as f:
        f.write("[retriever]\ntype = SimplePOP3Retriever\nserver = 127.0.0.1\n"
                "port = %d\nusername = alice\npassword = %s\n\n"
                "[destination]\ntype = Maildir\npath = %s/\n%s\n"
                "[options]\nread_all = true\ndelete = false\nreceived = false\n"
                "delivered_to = false\nrecord_mailbox = false\nverbose = 0\n"
                % (ctx.srv.port, ctx.srv.passwords["alice"], md, user))
    r = subprocess.run(["getmail", "--getmaildir", home, "--rcfile", rc],
                       capture_output=True, timeout=60)
    eq(r.returncode, 0, "getmail: %r" % (r.stdout + r.stderr)[-800:])
    got = []
    for n in sorted(os.listdir(os.path.join(md, "new"))):
        with open(os.path.join(md, "new", n), "rb") as f:
            got.append(f.read())
    originals_recovered(got, msgs, "getmail")
