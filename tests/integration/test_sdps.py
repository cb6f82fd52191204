"""SDPS on the server (issue 12, 3.): *ENV n tells a multidrop client
the envelope the delivery recorded on top of message n (Return-Path,
X-Original-To, Delivered-To; serve/cmd_sdps.h), opt-in with sdps = yes
or a list of domains; CAPA lists SDPS exactly where *ENV answers.
Clients: the raw dialogue, getmail6's MultidropSDPSRetriever, fetchmail's
proto SDPS on a multidrop account (it never looks at *ENV's status, so
every message gets the five lines) and satchel fetch --sdps."""
import pwd
import re
import subprocess

from harness import *
from test_clients import check_fetchmail_ok, need

STORES = ("maildir", "mbox")
OPTS = {"sdps": "yes"}

EXT = "ext.example"
DOM = "dom.example"
# the account itself, where a delivery recorded no recipient
ACCOUNT = "alice@test.example"


def sdps_msgs(store):
    """(message, envelope *ENV must tell): as Postfix's virtual writes
    them, as satchel's delivery writes them, none, and forged ones
    below the block."""
    cases = [
        (b"Return-Path: <ann@ext.example>\nX-Original-To: bob@dom.example\n"
         b"Delivered-To: catchall@dom.example\nReceived: by mx.dom.example\n"
         b"From: ann@ext.example\nTo: list@dom.example\nSubject: one\n\nfor bob\n",
         ("ann@ext.example", "bob@dom.example")),
        (b"Return-Path: <>\nDelivered-To: carol@dom.example\n"
         b"Received: by mx.dom.example\nFrom: MAILER-DAEMON\nSubject: two\n\n"
         b".a bounce for carol\n",
         ("", "carol@dom.example")),
        (b"From: x@ext.example\nSubject: three\nTo: carol@dom.example\n\nno envelope\n",
         ("", ACCOUNT)),
        (b"Subject: four\nReturn-Path: <forged@ext.example>\n"
         b"Delivered-To: carol@dom.example\n\nforged below the block\n",
         ("", ACCOUNT)),
        (b"Return-Path: <dan@ext.example>\r\nDelivered-To: <bob@dom.example>\r\n"
         b"Subject: five\r\n\r\nCRLF and brackets\r\n",
         ("dan@ext.example", "bob@dom.example")),
    ]
    msgs = make_msgs([c[0] for c in cases], store)
    return msgs, [c[1] for c in cases]


def split_lines(data):
    """A multi-line body (CRLF lines, unstuffed) as a list of str."""
    return data.decode().split("\r\n")[:-1]


def env_lines(p, n):
    """The reply to *ENV n: its status line and the lines before '.'."""
    status, data = p.multi("*ENV %d" % n)
    return status, split_lines(data or b"")


def by_subject(data):
    for line in data.split(b"\n"):
        if line.lower().startswith(b"subject:"):
            return line.split(b":", 1)[1].strip().decode()
    return None


def test_env_dialogue(ctx):
    msgs, envs = sdps_msgs(ctx.store)
    ctx.srv.fill("alice", msgs)
    p = ctx.srv.connect()
    capa = p.multi_ok("CAPA")
    check(b"\r\nSDPS\r\n" in b"\r\n" + capa, "CAPA before login: %r" % capa)
    p.err("*ENV 1")
    p.login("alice", ctx.srv.passwords["alice"])
    capa = p.multi_ok("CAPA")
    check(b"\r\nSDPS\r\n" in b"\r\n" + capa, "CAPA after login: %r" % capa)
    uidls = dict(p.uidl())
    for i, (sender, rcpt) in enumerate(envs, 1):
        status, lines = env_lines(p, i)
        starts(status, "+OK", "*ENV %d" % i)
        eq(lines, ["alice", uidls[i], sender, rcpt], "*ENV %d" % i)
    p.err("*ENV 99")
    p.err("*ENV 0")
    p.err("*ENV x")
    p.err("*ENV")
    p.err("*ENV 1 2")
    p.ok("DELE 1")
    p.err("*ENV 1")
    # the message is untouched: RETR after *ENV is what it was
    eq(p.retr(2), msgs[1].expected, "RETR 2 after *ENV 2")
    p.ok("RSET")
    p.quit()


def test_env_pipelined(ctx):
    """satchel fetch pipelines *ENV: a burst gets its replies in order."""
    msgs, envs = sdps_msgs(ctx.store)
    ctx.srv.fill("alice", msgs)
    p = ctx.srv.login("alice")
    p.send(b"".join(b"*ENV %d\r\n" % i for i in range(1, len(envs) + 1)))
    for i, (sender, rcpt) in enumerate(envs, 1):
        starts(p.getline().decode(), "+OK", "pipelined *ENV %d" % i)
        eq(split_lines(p.getmulti())[2:], [sender, rcpt], "pipelined *ENV %d" % i)
    p.quit()


def test_sdps_off_by_default(ctx):
    srv = ctx.server(store=ctx.store).start()
    msgs, _ = sdps_msgs(ctx.store)
    srv.fill("alice", msgs)
    p = srv.connect()
    capa = p.multi_ok("CAPA")
    check(b"SDPS" not in capa, "no SDPS in CAPA by default: %r" % capa)
    p.login("alice", srv.passwords["alice"])
    capa = p.multi_ok("CAPA")
    check(b"SDPS" not in capa, "no SDPS in CAPA after login: %r" % capa)
    p.err("*ENV 1")
    p.quit()


def test_sdps_per_domain(ctx):
    """sdps = a list of domains: their users only (the canonical name's
    domain); CAPA before login says some may have it."""
    srv = ctx.server(store=ctx.store, opts={"sdps": "Dom.Example, other.example"},
                     users={"bob@dom.example": "{PLAIN}bob-sdps-pw"},
                     secrets=("bob-sdps-pw",)).start()
    msgs, envs = sdps_msgs(ctx.store)
    srv.fill("alice", msgs)
    srv.fill("bob@dom.example", msgs)
    p = srv.connect()
    check(b"SDPS" in p.multi_ok("CAPA"), "CAPA before login")
    p.login("alice", srv.passwords["alice"])
    check(b"SDPS" not in p.multi_ok("CAPA"), "alice has no domain in the list")
    p.err("*ENV 1")
    p.quit()
    p = srv.connect()
    p.login("bob@DOM.example", "bob-sdps-pw")
    check(b"SDPS" in p.multi_ok("CAPA"), "bob@dom.example: CAPA after login")
    status, lines = env_lines(p, 3)
    eq(lines[2:], ["", "bob@dom.example"],
       "the account's own name is the fallback recipient")
    p.quit()


def test_sdps_bad_config(ctx):
    r = run_satchel(["serve", "-c", ctx.srv.conf_path, "--check", "-o", "sdps=dom.example;rm"])
    eq(r.returncode, EX_CONFIG, "sdps with a bad domain: %r" % r.stderr[-300:])


def test_env_after_satchel_deliver(ctx):
    """What satchel deliver writes is what *ENV tells."""
    ctx.srv.fill("alice", [])
    r = subprocess.run([SATCHEL, "deliver", "-c", ctx.srv.conf_path, "-f",
                        "dan@ext.example", "-d", "alice"],
                       input=b"From: dan@ext.example\nSubject: delivered\n\nhello\n",
                       capture_output=True, timeout=30)
    eq(r.returncode, 0, "satchel deliver: %r" % r.stderr[-300:])
    p = ctx.srv.login("alice")
    status, lines = env_lines(p, 1)
    eq(lines[2:], ["dan@ext.example", "alice"], "*ENV of a delivered message")
    p.quit()


def test_env_original_recipient(ctx):
    """An original recipient other than the final one (ORCPT over LMTP,
    -a for satchel deliver: a catch-all's alias) is stored as
    X-Original-To, and *ENV tells it."""
    ctx.srv.fill("alice", [])
    r = subprocess.run([SATCHEL, "deliver", "-c", ctx.srv.conf_path, "-f",
                        "ann@ext.example", "-a", "bob@dom.example", "-d", "alice"],
                       input=b"From: ann@ext.example\nSubject: aliased\n\nhello\n",
                       capture_output=True, timeout=30)
    eq(r.returncode, 0, "satchel deliver -a: %r" % r.stderr[-300:])
    p = ctx.srv.login("alice")
    status, lines = env_lines(p, 1)
    eq(lines[2:], ["ann@ext.example", "bob@dom.example"], "*ENV of an aliased delivery")
    top = p.multi_ok("TOP 1 0").split(b"\r\n")[:3]
    eq(top, [b"Return-Path: <ann@ext.example>", b"X-Original-To: bob@dom.example",
             b"Delivered-To: alice"], "the delivery's header block")
    p.quit()


def getmail_addr(text):
    """An address as getmail6 6.18 writes it: its MultidropSDPSRetriever
    keeps poplib's bytes, so Python 3 formats them as b'...' (and its
    MDA_external and delivered_to crash on them: a getmail bug)."""
    m = re.fullmatch(r"b'(.*)'", text)
    return m.group(1) if m else text


def test_getmail_multidrop_sdps(ctx):
    """getmail6's MultidropSDPSRetriever: the sender of *ENV becomes the
    stored Return-Path and its recipient the Received field's "for"."""
    need("getmail")
    msgs, envs = sdps_msgs(ctx.store)
    ctx.srv.fill("alice", msgs)
    home = os.path.join(ctx.tmp, "getmail")
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
        f.write("[retriever]\ntype = MultidropSDPSRetriever\nserver = 127.0.0.1\n"
                "port = %d\nusername = alice\npassword = %s\n\n"
                "[destination]\ntype = Maildir\npath = %s/\n%s\n"
                "[options]\nread_all = true\ndelete = false\nreceived = true\n"
                "delivered_to = false\nverbose = 0\n"
                % (ctx.srv.port, ctx.srv.passwords["alice"], md, user))
    r = subprocess.run(["getmail", "--getmaildir", home, "--rcfile", rc],
                       capture_output=True, timeout=60)
    eq(r.returncode, 0, "getmail: %r" % (r.stdout + r.stderr)[-800:])
    got = {}
    for n in os.listdir(os.path.join(md, "new")):
        with open(os.path.join(md, "new", n), "rb") as f:
            data = re.sub(r"\n[ \t]+", " ", f.read().decode())
        sender = re.search(r"^Return-Path: <(.*)>$", data, re.M)
        rcpt = re.search(r"^Received: .* for <(.*)>;", data, re.M)
        check(sender and rcpt, "getmail's header: %r" % data[:300])
        got[by_subject(data.encode())] = (getmail_addr(sender.group(1)),
                                          getmail_addr(rcpt.group(1)))
    want = {by_subject(m.data): env for m, env in zip(msgs, envs)}
    eq(got, want, "getmail's senders and recipients")


def test_fetchmail_multidrop_sdps(ctx):
    """fetchmail proto SDPS on a multidrop account: each message goes to
    the local user its *ENV recipient names (the fallback, the account
    itself, is alice here)."""
    need("fetchmail")
    msgs, envs = sdps_msgs(ctx.store)
    ctx.srv.fill("alice", msgs)
    home = os.path.join(ctx.tmp, "fetchmail")
    out = os.path.join(home, "out")
    os.makedirs(out)
    mda = os.path.join(home, "mda.sh")
    with open(mda, "w") as f:
        f.write('#!/bin/sh\nd="%s/$1"\nmkdir -p "$d"\nn=$(ls "$d" | wc -l)\n'
                'cat > "$d/$n"\n' % out)
    os.chmod(mda, 0o755)
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        f.write("set no bouncemail\nset postmaster \"nobody-here\"\n"
                "poll 127.0.0.1 with proto SDPS port %d timeout 20\n"
                "  localdomains dom.example test.example\n"
                "  user \"alice\" there with password \"%s\" is bob carol alice here\n"
                "  sslproto '' keep\n"
                % (ctx.srv.port, ctx.srv.passwords["alice"]))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    r = subprocess.run(["fetchmail", "-v", "-f", rc, "--nosyslog", "--invisible",
                        "--norewrite", "--nodetach", "--mda", mda + " %T",
                        "-i", os.path.join(home, ".fetchids"),
                        "--pidfile", os.path.join(home, "fetchmail.pid")],
                       capture_output=True, timeout=90, env=env)
    check_fetchmail_ok(r, "fetchmail proto SDPS")
    log = (r.stdout + r.stderr).decode("utf-8", "replace")
    check("POP3> *ENV 1" in log, "fetchmail sent no *ENV: %s" % log[-800:])
    got = {}
    for user in os.listdir(out):
        for n in os.listdir(os.path.join(out, user)):
            with open(os.path.join(out, user, n), "rb") as f:
                got.setdefault(user, []).append(by_subject(f.read()))
    want = {}
    for m, (sender, rcpt) in zip(msgs, envs):
        want.setdefault(rcpt, []).append(by_subject(m.data))
    eq({u: sorted(s) for u, s in got.items()}, {u: sorted(s) for u, s in want.items()},
       "fetchmail's local recipients (log %s)" % log[-600:])


def test_satchel_fetch_sdps(ctx):
    """The two halves of satchel agree: fetch --sdps stores *ENV's
    envelope as Return-Path and Delivered-To above each message."""
    msgs, envs = sdps_msgs(ctx.store)
    ctx.srv.fill("alice", msgs)
    d = os.path.join(ctx.tmp, "fetch-sdps")
    md = os.path.join(d, "Maildir")
    os.makedirs(d)
    pw = os.path.join(d, "pw")
    with open(pw, "w") as f:
        f.write(ctx.srv.passwords["alice"] + "\n")
    os.chmod(pw, 0o600)
    r = subprocess.run([SATCHEL, "fetch", "pop://alice@127.0.0.1:%d" % ctx.srv.port,
                        "--tls", "none", "--password-file", pw, "--state-dir",
                        os.path.join(d, "state"), "--to", "maildir:" + md,
                        "--timeout", "10", "--keep", "--sdps"],
                       capture_output=True, timeout=60)
    eq(r.returncode, 0, "satchel fetch --sdps: %r" % r.stderr[-600:])
    got = []
    for sub in ("new", "cur"):
        for n in sorted(os.listdir(os.path.join(md, sub))):
            with open(os.path.join(md, sub, n), "rb") as f:
                got.append(f.read())
    want = [b"Return-Path: <%s>\nDelivered-To: %s\n" % (s.encode(), rc.encode())
            + m.expected.replace(b"\r\n", b"\n")
            for m, (s, rc) in zip(msgs, envs)]
    eq(sorted(got), sorted(want),
       "the envelope above each message")
