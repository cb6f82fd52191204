"""Delivery end to end with a real Postfix (a private instance, see
postfix.py): mail submitted with swaks to Postfix's smtpd reaches satchel
over lmtp:inet:, lmtp:unix:private/... and mailbox_command = satchel
deliver, arrives exactly once per recipient, and reads back over POP3
byte-exact (LIST size = RETR octets, the body as sent).

The rig is first proven against an LMTP sink written here (LmtpSink), so a
failure of the satchel tests is satchel's, not the rig's."""

import asyncio
import os
import pwd
import re
import threading
import time

from harness import *
import postfix
from postfix import Postfix, VIRTUAL_DOMAIN, LOCAL_DOMAIN

STORES = None                   # every test makes its own servers
DELIVERY_TIMEOUT = 20           # seconds from swaks to the stored file


def need_postfix():
    if not postfix.available():
        raise Skip("needs root and Postfix (make deps installs postfix)")


# ------------------------------------------------------------- LMTP sink

class LmtpSink:
    """A tiny LMTP server (RFC 2033) on its own thread: records every
    transaction as (sender, [recipients], data with CRLF, unstuffed) and
    answers one 250 per accepted recipient after the data. Recipients
    whose local part is in refuse get 550 5.1.1 at RCPT; slow maps a
    local part to seconds to wait before its post-data reply."""

    def __init__(self, refuse=(), slow=None):
        self.port = free_port()
        self.refuse = set(refuse)
        self.slow = dict(slow or {})
        self.messages = []
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        check(self.ready.wait(5), "the LMTP sink did not start")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(
            self._session, "127.0.0.1", self.port))
        self.ready.set()
        self.loop.run_forever()

    async def _session(self, reader, writer):
        def say(text):
            writer.write(text.encode() + b"\r\n")
        say("220 sink LMTP")
        sender, rcpts = None, []
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                verb = line[:4].upper()
                if verb == b"LHLO":
                    say("250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                        "250 ENHANCEDSTATUSCODES")
                elif verb == b"MAIL":
                    sender, rcpts = line.decode().split(":", 1)[1].split()[0], []
                    say("250 2.1.0 ok")
                elif verb == b"RCPT":
                    addr = line.decode().split(":", 1)[1].split()[0].strip("<>")
                    if addr.split("@")[0] in self.refuse:
                        say("550 5.1.1 no such user")
                    else:
                        rcpts.append(addr)
                        say("250 2.1.5 ok")
                elif verb == b"DATA":
                    say("354 go ahead")
                    await writer.drain()
                    data = []
                    while True:
                        l = await reader.readline()
                        if l in (b".\r\n", b""):
                            break
                        data.append(l[1:] if l.startswith(b".") else l)
                    with self.lock:
                        self.messages.append((sender, list(rcpts),
                                              b"".join(data)))
                    for r in rcpts:
                        await asyncio.sleep(self.slow.get(r.split("@")[0], 0))
                        say("250 2.0.0 <%s> stored" % r)
                        await writer.drain()
                elif verb == b"RSET":
                    sender, rcpts = None, []
                    say("250 2.0.0 ok")
                elif verb == b"NOOP":
                    say("250 2.0.0 ok")
                elif verb == b"QUIT":
                    say("221 2.0.0 bye")
                    break
                else:
                    say("500 5.5.1 unknown command")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        writer.close()

    def received(self):
        with self.lock:
            return list(self.messages)

    def close(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# ---------------------------------------------------------------- helpers

def message(subject, body_lines=20, extra=b""):
    """A test message (LF line ends, as an MUA hands it to swaks): a
    unique Message-ID, 8-bit text, a line that needs dot-stuffing."""
    mid = "<%d.%d@client.satchel-test.example>" % (os.getpid(),
                                                   time.monotonic_ns())
    head = ("From: Sender <sender@client.satchel-test.example>\n"
            "To: someone\nSubject: %s\nMessage-ID: %s\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\n" % (subject, mid))
    body = "".join("line %d of %s: caf\u00e9 \u2713\n" % (i, subject)
                   for i in range(body_lines))
    body += ".a line that starts with a dot\n..two dots\n"
    return mid, head.encode() + body.encode() + extra


def body_of(data):
    """The body after the first empty line (CRLF or LF), as CRLF."""
    data = data.replace(b"\r\n", b"\n")
    i = data.find(b"\n\n")
    return data[i + 2:].replace(b"\n", b"\r\n")


def with_postfix(ctx, transport, extra=None):
    pf = Postfix(transport, extra)
    ctx._servers.append(PostfixGuard(pf))
    return pf


class PostfixGuard:
    """Lets Context.finish() stop a Postfix like a satchel server."""

    def __init__(self, pf):
        self.pf = pf

    def stop(self):
        self.pf.stop()
        return 0, 0, []

    def log_problems(self):
        return []

    def cleanup(self):
        self.pf.cleanup()


def maildir_count(srv, user):
    path = srv.maildrop(user)
    n = 0
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if os.path.isdir(d):
            n += len(os.listdir(d))
    return n


def wait_delivered(srv, pf, want, timeout=DELIVERY_TIMEOUT):
    """Waits until every user of want {user: count} has count messages,
    then checks none gets more while Postfix's queue drains."""
    def done():
        return all(maildir_count(srv, u) >= n for u, n in want.items())
    if not wait_until(done, timeout, 0.05):
        got = {u: maildir_count(srv, u) for u in want}
        raise AssertionError("not delivered within %ds: have %s, want %s; "
                             "postfix log: %s; satchel log: %s"
                             % (timeout, got, want, pf.log_tail(8),
                                srv.log_tail(8)))
    wait_for(pf.queue_empty, 10, "Postfix's queue to be empty (log: %s)"
             % pf.log_tail(6))
    got = {u: maildir_count(srv, u) for u in want}
    eq(got, want, "messages per recipient (exactly once each)")


def pop_read_all(srv, user):
    """Every message of user over POP3: [(LIST size, RETR data)], with
    the check that each RETR is exactly its LIST size."""
    p = srv.login(user)
    sizes = p.list()
    out = []
    for n in sorted(sizes):
        data = p.retr(n)
        eq(len(data), sizes[n], "RETR %d octets vs LIST size" % n)
        out.append(data)
    p.quit()
    return out


def check_stored(data, sent, rcpt, mid):
    """One stored message read over POP3 against what was sent."""
    eq(body_of(data), body_of(sent), "body of the message to %s" % rcpt)
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    check(("Message-ID: %s" % mid) in head,
          "Message-ID %s kept: %s" % (mid, short(head, 600)))
    check(re.search(r"(?m)^Return-Path: <sender@client\.satchel-test\."
                    r"example>$", head),
          "Return-Path from the envelope: %s" % short(head, 600))


def satchel_for_postfix(ctx, config, users=None):
    """A satchel serve whose passwd-file has the test recipients."""
    return ctx.server(store="maildir", config=config, users=users).start()


# ------------------------------------------------------------ rig itself

def test_rig_delivers_to_a_sink(ctx):
    """The rig alone: Postfix hands a 3-recipient message to the sink
    over lmtp:inet:, one transaction, every recipient, data intact."""
    need_postfix()
    sink = LmtpSink(refuse=("nobody",))
    try:
        pf = with_postfix(ctx, Postfix.lmtp_inet(sink.port)).start()
        mid, data = message("rig self-test")
        rcpts = ["r%d@%s" % (i, VIRTUAL_DOMAIN) for i in range(3)]
        pf.send("sender@client.satchel-test.example", rcpts, data)
        got = wait_for(lambda: sink.received(), DELIVERY_TIMEOUT,
                       "a transaction at the sink (postfix log: %s)"
                       % pf.log_tail(8))
        wait_for(pf.queue_empty, 10, "an empty queue")
        eq(len(sink.received()), 1, "transactions at the sink")
        sender, got_rcpts, got_data = got[0]
        eq(sender, "<sender@client.satchel-test.example>", "MAIL FROM")
        eq(sorted(r.lower() for r in got_rcpts), sorted(rcpts),
           "RCPT TO of one transaction")
        eq(body_of(got_data), body_of(data), "data at the sink")
        check(("Message-ID: %s" % mid).encode() in got_data, "Message-ID")
    finally:
        sink.close()
