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


def test_legacy_client_gets_utf8_as_stored_by_default(ctx):
    fill(ctx, ctx.srv, "alice")
    p = client(ctx.srv, False)
    p.user("alice")
    p.pass_(ctx.srv.passwords["alice"])
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


def make_cert(ctx):
    cert, key = os.path.join(ctx.tmp, "u.pem"), os.path.join(ctx.tmp, "u.key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "30", "-subj", "/CN=localhost"],
                       capture_output=True, timeout=30)
    eq(r.returncode, 0, "openssl req: %r" % r.stderr[-300:])
    os.chmod(key, 0o644)
    return cert, key


def test_stls_refused_after_utf8(ctx):
    cert, key = make_cert(ctx)
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
