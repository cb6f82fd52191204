"""XTND XMIT (xtnd_xmit = yes): a message sent through the POP3 session
reaches an SMTP sink written here (a small socket server, no smtpd
module), with the envelope sender of the logged-in user and the To:,
Cc: and Bcc: recipients; a forged From:, plaintext from a non-loopback
address (a PROXY header names one), too large or too many messages are
refused; sendmail is run when no relay is set."""
import os
import socket
import ssl
import subprocess
import threading

from harness import *

STORES = ("maildir",)


class SmtpSink:
    """An SMTP server on loopback that keeps every transaction:
    dicts of mail_from, rcpts, data (unstuffed, CRLF), helo. A RCPT to
    an address with "reject" in it gets 550, "later" 451."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", free_port()))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.messages = []
        self.cond = threading.Condition()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        f = conn.makefile("rwb")

        def say(text):
            f.write(text.encode() + b"\r\n")
            f.flush()
        try:
            say("220 sink.test ESMTP")
            txn = {"rcpts": []}
            helo = None
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.rstrip(b"\r\n").decode("latin-1")
                verb = cmd[:4].upper()
                if verb == "EHLO":
                    helo = cmd[5:]
                    say("250-sink.test")
                    say("250 8BITMIME")
                elif verb == "MAIL":
                    txn = {"rcpts": [], "mail_from": cmd[10:].strip("<>"), "helo": helo}
                    say("250 2.1.0 ok")
                elif verb == "RCPT":
                    rcpt = cmd[8:].strip("<>")
                    if "reject" in rcpt:
                        say("550 5.1.1 <%s>: no such user\x07" % rcpt)
                    elif "later" in rcpt:
                        say("451 4.3.0 try later")
                    else:
                        txn["rcpts"].append(rcpt)
                        say("250 2.1.5 ok")
                elif verb == "DATA":
                    say("354 go ahead")
                    lines = []
                    while True:
                        l = f.readline()
                        if l in (b".\r\n", b""):
                            break
                        lines.append(l[1:] if l.startswith(b".") else l)
                    txn["data"] = b"".join(lines)
                    with self.cond:
                        self.messages.append(txn)
                        self.cond.notify_all()
                    say("250 2.0.0 queued")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("502 5.5.2 what")
        finally:
            conn.close()

    def count(self):
        with self.cond:
            return len(self.messages)


SINK = SmtpSink()
OPTS = {"xtnd_xmit": "yes", "xtnd_xmit_relay": "127.0.0.1:%d" % SINK.port}

MESSAGE = (b"From: Alice <alice@test.example>\r\n"
           b"To: Bob <bob@example.org>, \"Doe, Jane\" <jane@example.org>\r\n"
           b"Cc: carol@example.org (Carol)\r\n"
           b"Bcc: secret@example.org\r\n"
           b"Subject: sent through POP3\r\n"
           b"\r\n"
           b"Hello.\r\n"
           b".a line that began with a dot\r\n"
           b"..two dots\r\n")


def stuffed(data):
    return b"".join((b"." + l if l.startswith(b".") else l)
                    for l in data.splitlines(keepends=True))


def xmit(p, data, status="+OK"):
    """XTND XMIT with data (CRLF lines, not stuffed); returns the final
    reply."""
    eq(p.cmd("XTND XMIT"), "+OK Start sending message.", "XTND XMIT reply")
    p.send(stuffed(data) + b".\r\n")
    resp = p.getline().decode("latin-1")
    starts(resp, status, "reply after the message")
    return resp


def capa(p):
    return p.multi_ok("CAPA").decode("latin-1").split("\r\n")


def wait_messages(n):
    with SINK.cond:
        check(SINK.cond.wait_for(lambda: len(SINK.messages) >= n, timeout=10),
              "the sink has %d messages, want %d" % (len(SINK.messages), n))
        return SINK.messages[n - 1]


def test_xmit_sent(ctx):
    ctx.srv.fill("alice", [])
    before = SINK.count()
    p = ctx.srv.login("alice")
    check("XTND XMIT" in capa(p), "CAPA lacks XTND XMIT on loopback")
    eq(xmit(p, MESSAGE), "+OK Message sent", "final reply")
    got = wait_messages(before + 1)
    eq(got["mail_from"], "alice@test.example", "envelope sender")
    eq(sorted(got["rcpts"]), ["bob@example.org", "carol@example.org",
                              "jane@example.org", "secret@example.org"], "recipients")
    eq(got["helo"], "test.example", "EHLO name")
    check(b"Bcc:" not in got["data"] and b"secret@" not in got["data"],
          "Bcc: not removed: %r" % got["data"])
    eq(got["data"], MESSAGE.replace(b"Bcc: secret@example.org\r\n", b""),
       "the message as the relay got it")
    p.ok("NOOP")
    p.quit()
    check(wait_until(lambda: "xmit: user=alice" in ctx.srv.log_text() and
                     "rcpts=4" in ctx.srv.log_text(), 5),
          "no xmit log line")


def test_xmit_forged_from(ctx):
    ctx.srv.fill("alice", [])
    before = SINK.count()
    p = ctx.srv.login("alice")
    for forged in (b"From: boss@example.org\r\n",
                   b"From: alice@test.example, boss@example.org\r\n",
                   b"From: alice@test.example\r\nSender: boss@example.org\r\n",
                   b"From: \"alice@test.example\" <boss@example.org>\r\n"):
        resp = xmit(p, forged + b"To: bob@example.org\r\n\r\nhi\r\n", "-ERR")
        check("your own address" in resp, "refusal text %r" % resp)
    resp = xmit(p, b"To: bob@example.org\r\n\r\nno From\r\n", "-ERR")
    check("From:" in resp, "no From: refusal %r" % resp)
    resp = xmit(p, b"From: alice@test.example\r\n\r\nnobody\r\n", "-ERR")
    check("recipients" in resp, "no recipients refusal %r" % resp)
    resp = xmit(p, b"From: alice@test.example\r\nTo: <bob@example.org\r\n\r\nx\r\n", "-ERR")
    p.ok("STAT")
    p.quit()
    eq(SINK.count(), before, "messages the sink got from refused ones")
    check("is not <alice@test.example>" in ctx.srv.log_text(), "forgery not logged")


def test_xmit_relay_refusals(ctx):
    ctx.srv.fill("alice", [])
    p = ctx.srv.login("alice")
    base = b"From: alice@test.example\r\nTo: %s\r\n\r\nx\r\n"
    resp = xmit(p, base % b"reject@example.org", "-ERR")
    check("550 5.1.1" in resp and "\x07" not in resp and "[SYS/TEMP]" not in resp,
          "a 550 from the relay: %r" % resp)
    resp = xmit(p, base % b"later@example.org", "-ERR [SYS/TEMP]")
    check("451" in resp, "a 451 from the relay: %r" % resp)
    p.quit()


def test_xtnd_errors(ctx):
    ctx.srv.fill("alice", [])
    p = ctx.srv.connect()
    p.err("XTND XMIT")            # AUTHORIZATION
    p.quit()
    p = ctx.srv.login("alice")
    check("subcommand" in p.err("XTND"), "bare XTND")
    check("unknown XTND subcommand" in p.err("XTND BBOARDS"), "XTND BBOARDS")
    check("unknown XTND subcommand" in p.err("XTND XLST"), "XTND XLST")
    p.err("XTND XMIT now")
    p.ok("NOOP")
    p.quit()


def test_xmit_limits(ctx):
    srv = ctx.server(store=ctx.store, opts=dict(OPTS, xtnd_xmit_max_size="1K",
                                                xtnd_xmit_rate="1")).start()
    srv.fill("alice", [])
    before = SINK.count()
    p = srv.login("alice")
    big = b"From: alice@test.example\r\nTo: bob@example.org\r\n\r\n" + b"x" * 70 + b"\r\n"
    resp = xmit(p, big * 20, "-ERR")
    check("larger than 1024" in resp, "size refusal %r" % resp)
    long_line = b"From: alice@test.example\r\nTo: bob@example.org\r\n\r\n" + b"y" * 5000 + b"\r\n"
    check("too long" in xmit(p, long_line, "-ERR"), "a 5000-octet line")
    xmit(p, big, "+OK")
    resp = xmit(p, big, "-ERR [SYS/TEMP]")
    check("too many" in resp, "rate refusal %r" % resp)
    p.quit()
    # the hour counts per user across connections (and workers)
    p = srv.login("alice")
    xmit(p, big, "-ERR [SYS/TEMP]")
    p.quit()
    eq(SINK.count(), before + 1, "messages that reached the sink")


def test_xmit_off_by_default(ctx):
    srv = ctx.server(store=ctx.store).start()
    srv.fill("alice", [])
    p = srv.login("alice")
    check(not any(l.startswith("XTND") for l in capa(p)), "CAPA has XTND when off")
    check("not enabled" in p.err("XTND XMIT"), "XTND XMIT when off")
    p.quit()


def test_xmit_relay_down(ctx):
    srv = ctx.server(store=ctx.store,
                     opts=dict(OPTS, xtnd_xmit_relay="127.0.0.1:%d" % free_port())).start()
    srv.fill("alice", [])
    p = srv.login("alice")
    resp = xmit(p, MESSAGE, "-ERR [SYS/TEMP]")
    check("connect" in resp, "relay down: %r" % resp)
    p.quit()


def proxied(srv, src="192.0.2.7"):
    p = Pop(srv.port, greet=False)
    p.send("PROXY TCP4 %s 127.0.0.1 40000 %d\r\n" % (src, srv.port))
    p.greeting = p.getline().decode("latin-1")
    return p


def test_xmit_plaintext_non_loopback_refused(ctx):
    srv = ctx.server(store=ctx.store, opts=dict(OPTS, proxy_trusted="127.0.0.1",
                                                plaintext_auth="always")).start()
    srv.fill("alice", [])
    before = SINK.count()
    p = proxied(srv)
    p.login("alice", srv.passwords["alice"])
    check("XTND XMIT" not in capa(p), "CAPA offers XTND XMIT in clear from 192.0.2.7")
    check("TLS" in p.err("XTND XMIT"), "XTND XMIT in clear from 192.0.2.7")
    p.quit()
    eq(SINK.count(), before, "messages relayed")


def test_xmit_tls_non_loopback(ctx):
    cert, key = self_signed_cert(ctx.tmp)
    tls_port = free_port()
    srv = ctx.server(store=ctx.store, opts=dict(OPTS, proxy_trusted="127.0.0.1"),
                     config={"listen_tls": "127.0.0.1:%d" % tls_port,
                             "tls_cert": cert, "tls_key": key}).start()
    srv.fill("alice", [])
    before = SINK.count()
    p = Pop(tls_port, greet=False)
    p.send("PROXY TCP4 192.0.2.8 127.0.0.1 40000 %d\r\n" % tls_port)
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    p.sock = c.wrap_socket(p.sock, server_hostname="localhost")
    starts(p.getline().decode("latin-1"), "+OK", "greeting over TLS")
    p.login("alice", srv.passwords["alice"])
    check("XTND XMIT" in capa(p), "CAPA lacks XTND XMIT over TLS")
    eq(xmit(p, MESSAGE), "+OK Message sent", "XTND XMIT over TLS")
    p.quit()
    wait_messages(before + 1)
    check("rip=192.0.2.8" in srv.log_text(), "the proxied address is not logged")


def test_xmit_sendmail(ctx):
    out = os.path.join(ctx.tmp, "sendmail-out")
    os.makedirs(out, exist_ok=True)
    os.chmod(out, 0o777)
    script = os.path.join(ctx.tmp, "sendmail")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n"
                "printf '%%s\\n' \"$@\" > %s/args\n"
                "cat > %s/stdin\n"
                "case \"$*\" in *tempfail*) exit 75;; *fail*) exit 67;; esac\n"
                "exit 0\n" % (out, out))
    os.chmod(script, 0o755)
    os.chmod(ctx.tmp, 0o755)
    opts = dict(OPTS, xtnd_xmit_sendmail=script, xtnd_xmit_domain="mail.example")
    del opts["xtnd_xmit_relay"]
    srv = ctx.server(store=ctx.store, opts=opts).start()
    srv.fill("alice", [])
    p = srv.login("alice")
    msg = MESSAGE.replace(b"alice@test.example", b"alice@mail.example")
    eq(xmit(p, msg), "+OK Message sent", "through sendmail")
    with open(os.path.join(out, "args")) as f:
        args = f.read().split("\n")[:-1]
    eq(args[:4], ["-i", "-f", "alice@mail.example", "--"], "sendmail options")
    eq(sorted(args[4:]), ["bob@example.org", "carol@example.org", "jane@example.org",
                          "secret@example.org"], "sendmail recipients")
    with open(os.path.join(out, "stdin"), "rb") as f:
        eq(f.read(), msg.replace(b"Bcc: secret@example.org\r\n", b"").replace(b"\r\n", b"\n"),
           "what sendmail read (LF lines)")
    base = b"From: alice@mail.example\r\nTo: %s@example.org\r\n\r\nx\r\n"
    resp = xmit(p, base % b"tempfail", "-ERR [SYS/TEMP]")
    check("75" in resp, "EX_TEMPFAIL: %r" % resp)
    resp = xmit(p, base % b"fail", "-ERR")
    check("67" in resp and "SYS/TEMP" not in resp, "exit 67: %r" % resp)
    p.quit()


def test_xmit_through_postfix(ctx):
    """End to end: XTND XMIT -> a private Postfix's smtpd (the relay) ->
    Postfix's lmtp(8) -> satchel's LMTP listener -> bob's Maildir, where
    POP3 reads it back whole; Postfix saw alice's envelope sender."""
    import postfix
    if not postfix.available():
        raise Skip("needs root and Postfix (make deps installs postfix)")
    lmtp_port = free_port()
    pf = postfix.Postfix({"satchel.example": "lmtp:inet:127.0.0.1:%d" % lmtp_port})
    try:
        pf.start()
        srv = ctx.server(store="maildir", workers=1,
                         opts={"xtnd_xmit": "yes",
                               "xtnd_xmit_relay": "127.0.0.1:%d" % pf.port,
                               "xtnd_xmit_domain": "satchel.example"},
                         config={"lmtp_listen": "127.0.0.1:%d" % lmtp_port}).start()
        srv.fill("alice", [])
        srv.fill("bob", [])
        msg = (b"From: Alice <alice@satchel.example>\r\n"
               b"To: bob@satchel.example\r\n"
               b"Subject: through Postfix\r\n"
               b"Message-ID: <xmit.%d@satchel.example>\r\n"
               b"\r\n"
               b"Hello Bob.\r\n.a dotted line\r\n" % os.getpid())
        p = srv.login("alice")
        eq(xmit(p, msg), "+OK Message sent", "XTND XMIT to Postfix")
        p.quit()

        def delivered():
            path = srv.maildrop("bob")
            return any(os.listdir(os.path.join(path, sub)) for sub in ("new", "cur"))
        if not wait_until(delivered, 20):
            raise AssertionError("not delivered to bob within 20 s; Postfix log: %s"
                                 % pf.log_tail())
        p = srv.login("bob")
        eq(p.stat()[0], 1, "bob's messages")
        _, data = p.multi("RETR 1")
        p.quit()
        check(b"Return-Path: <alice@satchel.example>" in data,
              "the envelope sender Postfix used: %r" % data[:300])
        check(data.endswith(b"\r\n\r\nHello Bob.\r\n.a dotted line\r\n"),
              "the body as delivered: %r" % data[-80:])
        check(b"Subject: through Postfix\r\n" in data, "the header as delivered")
    finally:
        pf.cleanup()
