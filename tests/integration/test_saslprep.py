"""SASLprep of stored names and passwords (issue 12, 1.; auth/saslprep.h):
`satchel user add` stores a UTF-8 name and password prepared (RFC 4013
stored strings), every lookup prepares the name (loginname.c), so USER
with or without UTF8, APOP and AUTH PLAIN find the same user whatever
Unicode form the client typed; a password with a code point Unicode 3.2
did not have (an emoji) logs in in UTF-8 mode (GNU SASL 2.2.0 reads
GSASL_ALLOW_UNASSIGNED inverted: saslprep.c probes it)."""
import base64
import hashlib
import re
import subprocess
import unicodedata

from harness import *

STORES = None

NAME_NFD = unicodedata.normalize("NFD", "j\u00f6rg\u00e9")
NAME_NFC = unicodedata.normalize("NFC", NAME_NFD)
# a soft hyphen (mapped to nothing) and a no-break space (to a space)
PASS_TYPED = "pa\u00adss W\u00f6rt\u00a0" + unicodedata.normalize("NFD", "\u00e4") + ".9"
PASS_PREP = "pass W\u00f6rt \u00e4.9"
EMOJI_USER = "emoji"
EMOJI_PASS = "pw-\U0001F600-1"


def user_add(pf, name, pw, scheme="plain"):
    return subprocess.run([SATCHEL, "user", "add", name, "-f", pf, "--stdin",
                           "--scheme", scheme], input=(pw + "\n").encode(),
                          capture_output=True, timeout=30)


def utf8(s):
    return s.encode("utf-8")


def server_with_users(ctx, scheme="plain"):
    srv = ctx.server(opts={"apop": "yes"},
                     users={EMOJI_USER: "{PLAIN}" + EMOJI_PASS},
                     secrets=(PASS_PREP, PASS_TYPED, EMOJI_PASS))
    r = user_add(srv.passwd_path, NAME_NFD, PASS_TYPED, scheme)
    eq(r.returncode, 0, "satchel user add (stderr %r)" % r.stderr)
    srv.fix_owner(srv.passwd_path)
    return srv, r


def login_ok(p, user, password):
    starts(p.cmd(b"USER " + utf8(user)), "+OK", "USER")
    starts(p.cmd(b"PASS " + utf8(password)), "+OK", "PASS %r" % password)


def test_user_add_stores_prepared(ctx):
    srv, r = server_with_users(ctx)
    check(b"SASLprep form" in r.stderr, "the prepared form is told: %r" % r.stderr)
    with open(srv.passwd_path, "rb") as f:
        text = f.read().decode("utf-8")
    line = [l for l in text.splitlines() if l.startswith(NAME_NFC + ":")]
    check(line, "the NFC name is stored: %r" % text)
    check(line[0].startswith(NAME_NFC + ":{PLAIN}" + PASS_PREP),
          "the prepared password is stored: %r" % line[0])
    check(NAME_NFD not in text, "no NFD name left: %r" % text)


def test_user_add_refuses_unpreparable(ctx):
    pf = os.path.join(ctx.tmp, "passwd-bad")
    open(pf, "w").close()
    # U+200E LEFT-TO-RIGHT MARK is prohibited (RFC 4013 2.3)
    r = user_add(pf, "bad\u200ename", "pw-1")
    eq(r.returncode, 65, "a prohibited name: %r" % r.stderr)
    r = user_add(pf, "okname", "pw\u200e-1")
    eq(r.returncode, 65, "a prohibited password: %r" % r.stderr)
    r = user_add(pf, "asciiname", "plain-Pw.1")
    eq(r.returncode, 0, "an ASCII name and password as before: %r" % r.stderr)
    with open(pf) as f:
        eq(f.read(), "asciiname:{PLAIN}plain-Pw.1\n", "the ASCII entry as typed")


def test_logins_agree_in_every_form(ctx):
    srv, _ = server_with_users(ctx, scheme="yescrypt")
    srv.start()
    srv.fill(NAME_NFC, [])
    cases = [("UTF8, NFD name, typed password", True, NAME_NFD, PASS_TYPED),
             ("UTF8, NFC name, prepared password", True, NAME_NFC, PASS_PREP),
             ("no UTF8, NFD name (looked up prepared)", False, NAME_NFD, PASS_PREP),
             ("no UTF8, NFC name", False, NAME_NFC, PASS_PREP)]
    for what, mode, name, pw in cases:
        p = srv.connect()
        if mode:
            p.ok("UTF8")
        login_ok(p, name, pw)
        p.quit()
        srv.wait_unlocked(NAME_NFC)
    # AUTH PLAIN in UTF-8 mode: authcid NFD, password as typed
    p = srv.connect()
    p.ok("UTF8")
    blob = base64.b64encode(b"\0" + utf8(NAME_NFD) + b"\0" + utf8(PASS_TYPED)).decode()
    starts(p.cmd("AUTH PLAIN " + blob), "+OK", "AUTH PLAIN with the NFD name")
    p.quit()
    srv.wait_unlocked(NAME_NFC)
    # the wrong password is still wrong in every form
    p = srv.connect()
    p.ok("UTF8")
    p.cmd(b"USER " + utf8(NAME_NFD))
    starts(p.cmd(b"PASS " + utf8(PASS_PREP + "x")), "-ERR", "a wrong password")
    p.close()


def test_apop_finds_the_prepared_name(ctx):
    srv, _ = server_with_users(ctx)
    srv.start()
    srv.fill(NAME_NFC, [])
    p = srv.connect()
    ts = re.search(r"<[^>]+>", p.greeting).group(0)
    digest = hashlib.md5(ts.encode() + utf8(PASS_PREP)).hexdigest()
    starts(p.cmd(b"APOP " + utf8(NAME_NFD) + b" " + digest.encode()), "+OK",
           "APOP with the NFD name")
    p.quit()


def test_emoji_password_in_utf8_mode(ctx):
    srv, _ = server_with_users(ctx)
    srv.start()
    srv.fill(EMOJI_USER, [])
    p = srv.connect()
    p.ok("UTF8")
    login_ok(p, EMOJI_USER, EMOJI_PASS)
    p.quit()
