"""Delivery end to end with a real Postfix (a private instance, see
postfix.py): mail submitted with swaks to Postfix's smtpd reaches satchel
over lmtp:inet:, lmtp:unix:private/... and mailbox_command = satchel
deliver, arrives exactly once per recipient, and reads back over POP3
byte-exact (LIST size = RETR octets, the body as sent).

The rig is first proven against an LMTP sink written here (LmtpSink), so a
failure of the satchel tests is satchel's, not the rig's."""

import asyncio
import atexit
import fcntl
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time

from harness import *
import postfix
from postfix import Postfix, LOCAL_DOMAIN

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

    def __init__(self, port, refuse=(), slow=None):
        self.port = port
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


# ------------------------------------------------ the shared instance

SINK_DOMAIN = "sink.example"    # -> the LmtpSink of the rig self-test
INET_DOMAIN = "inet.example"    # -> lmtp:inet: satchel serve
UNIX_DOMAIN = "unix.example"    # -> lmtp:unix:private/satchel
SLOW_DOMAIN = "slow.example"    # -> lmtp:inet: with a short data timeout
PIPE_DOMAIN = "pipe.example"    # -> pipe(8) running satchel deliver
DATA_DONE_TIMEOUT = 6           # seconds, that short timeout
SENDER = "sender@client.satchel-test.example"
_shared = {}


def shared_postfix():
    """One private Postfix for the whole module (a start costs seconds),
    stopped when the harness exits. Its routes name fixed ports and
    paths: each test's satchel serve listens on them, and the
    mailbox_command reads the config a symlink points at."""
    need_postfix()
    if "pf" in _shared:
        return _shared["pf"]
    sink_port, lmtp_port = free_port(), free_port()
    link_dir = tempfile.mkdtemp(prefix="satchel-it-pfconf-")
    os.chmod(link_dir, 0o755)
    conf_link = os.path.join(link_dir, "satchel.conf")
    command = ('%s deliver -c %s -f "$SENDER" -a "$ORIGINAL_RECIPIENT" '
               '-r "$RECIPIENT" -d "$USER"' % (SATCHEL, conf_link))
    inet = "lmtp:inet:127.0.0.1:%d" % lmtp_port
    # pipe(8) as docs/admin.md shows it: one recipient per run (argv has
    # one ${user}), no D/R flags (satchel deliver writes Delivered-To and
    # Return-Path itself)
    pipe = ("satchelpipe unix - n n - - pipe flags=hu user=%s argv=%s "
            "deliver -c %s -f ${sender} -a ${original_recipient} -d ${user}"
            % (MAIL_USER, SATCHEL, conf_link))
    pf = Postfix(
        {SINK_DOMAIN: "lmtp:inet:127.0.0.1:%d" % sink_port,
         INET_DOMAIN: inet, UNIX_DOMAIN: "lmtp:unix:private/satchel",
         SLOW_DOMAIN: "lmtpshort:inet:127.0.0.1:%d" % lmtp_port,
         PIPE_DOMAIN: "satchelpipe:"},
        mailbox_command=command,
        extra={"satchelpipe_destination_recipient_limit": "1"},
        services=["lmtpshort unix - - y - - lmtp -o lmtp_data_done_timeout"
                  "=%ds" % DATA_DONE_TIMEOUT, pipe])
    pf.start()
    atexit.register(pf.cleanup)
    atexit.register(shutil.rmtree, link_dir, True)
    _shared.update(pf=pf, sink_port=sink_port, lmtp_port=lmtp_port,
                   conf_link=conf_link)
    return pf


def satchel_for_postfix(ctx, config=None, users=None, prepare=None):
    """satchel serve listening where the shared Postfix delivers; its
    config is the one mailbox_command's satchel deliver reads. prepare
    (srv) runs before the start (passwd-file changes)."""
    pf = shared_postfix()
    cfg = {"lmtp_listen": "127.0.0.1:%d,unix:%s"
           % (_shared["lmtp_port"], pf.private_socket("satchel")),
           "lmtp_socket_owner": "postfix"}
    cfg.update(config or {})
    srv = ctx.server(store="maildir", config=cfg, users=users, workers=1)
    if prepare is not None:
        prepare(srv)
    srv.start()
    tmp = _shared["conf_link"] + ".new"
    os.symlink(srv.conf_path, tmp)
    os.replace(tmp, _shared["conf_link"])
    return pf, srv


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


def header_values(data, name):
    """The values of every header field name in data (CRLF)."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    return [l.split(":", 1)[1].strip() for l in head.split("\r\n")
            if l.lower().startswith(name.lower() + ":")]


def check_stored(data, sent, rcpt, mid):
    """One stored message read over POP3 against what was sent."""
    eq(body_of(data), body_of(sent), "body of the message to %s" % rcpt)
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    check(("Message-ID: %s" % mid) in head,
          "Message-ID %s kept: %s" % (mid, short(head, 600)))
    eq(header_values(data, "Return-Path"), ["<%s>" % SENDER],
       "Return-Path from the envelope (one)")


# ------------------------------------------------------------ rig itself

def test_rig_delivers_to_a_sink(ctx):
    """The rig alone: Postfix hands a 3-recipient message to the sink
    over lmtp:inet:, one transaction, every recipient, data intact."""
    pf = shared_postfix()
    sink = LmtpSink(_shared["sink_port"])
    try:
        mid, data = message("rig self-test")
        rcpts = ["r%d@%s" % (i, SINK_DOMAIN) for i in range(3)]
        pf.send(SENDER, rcpts, data)
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


# --------------------------------------------------- satchel end to end

def check_mailbox(srv, user, sent, rcpt, mid):
    """user's maildrop holds exactly one message, sent, read over POP3."""
    got = srv.read_all(user)
    eq(len(got), 1, "messages of %s over POP3" % user)
    check_stored(got[0], sent, rcpt, mid)
    return got[0]


def test_lmtp_inet_five_recipients(ctx):
    """One message for five users over lmtp:inet: one LMTP transaction,
    each user gets it exactly once, byte-exact over POP3."""
    pf, srv = satchel_for_postfix(ctx)
    users = ["alice", "bob", "carol", "dave", "erin"]
    rcpts = ["%s@%s" % (u, INET_DOMAIN) for u in users]
    mid, data = message("five recipients", body_lines=400)
    pf.send(SENDER, rcpts, data)
    wait_delivered(srv, pf, {u: 1 for u in users})
    for u, r in zip(users, rcpts):
        check_mailbox(srv, u, data, r, mid)
    log = pf.log_text()
    eq(len(re.findall(r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d.*status=sent"
                      % _shared["lmtp_port"], log)), 5,
       "Postfix's status=sent lines, one per recipient")


def test_lmtp_unix_private_socket(ctx):
    """lmtp:unix:private/satchel from a chrooted lmtp(8): the socket
    satchel's master made in Postfix's queue directory (owner postfix,
    mode 0660), one delivery, with Delivered-To for the recipient."""
    pf, srv = satchel_for_postfix(ctx)
    st = os.lstat(pf.private_socket("satchel"))
    check(stat.S_ISSOCK(st.st_mode), "a socket at private/satchel")
    eq(oct(st.st_mode & 0o7777), "0o660", "socket mode (lmtp_socket_mode)")
    eq(st.st_uid, pwd.getpwnam("postfix").pw_uid, "socket owner")
    rcpt = "alice@%s" % UNIX_DOMAIN
    mid, data = message("over the unix socket")
    pf.send(SENDER, [rcpt], data)
    wait_delivered(srv, pf, {"alice": 1})
    got = check_mailbox(srv, "alice", data, rcpt, mid)
    eq(header_values(got, "Delivered-To"), [rcpt],
       "Delivered-To of a single-recipient delivery")
    check("relay=satchel" in pf.log_text() or
          "private/satchel" in pf.log_text(),
          "Postfix delivered over the unix socket: %s" % pf.log_tail(4))


def test_forged_store_headers_stripped(ctx):
    """A sender cannot forge what the store reads: X-UIDL, Status and
    Return-Path sent through Postfix are gone, and the Return-Path is the
    envelope sender's."""
    pf, srv = satchel_for_postfix(ctx)
    mid, data = message("forged headers")
    data = (b"Return-Path: <forged@evil.example>\nX-UIDL: forged-uidl\n"
            b"Status: RO\n") + data
    pf.send(SENDER, ["carol@%s" % INET_DOMAIN], data)
    wait_delivered(srv, pf, {"carol": 1})
    got = check_mailbox(srv, "carol", data, "carol@%s" % INET_DOMAIN, mid)
    eq(header_values(got, "X-UIDL") + header_values(got, "Status"), [],
       "X-UIDL and Status stripped")
    p = srv.login("carol")
    check("forged" not in " ".join(p.uidl().values()), "UIDL not forged")
    p.quit()


def test_unknown_recipient_refused_alone(ctx):
    """An unknown user is refused at RCPT (550 5.1.1): Postfix bounces
    that one and delivers the other."""
    pf, srv = satchel_for_postfix(ctx)
    mid, data = message("one unknown")
    pf.send(SENDER, ["nosuch@%s" % INET_DOMAIN, "bob@%s" % INET_DOMAIN],
            data)
    wait_delivered(srv, pf, {"bob": 1})
    check_mailbox(srv, "bob", data, "bob@%s" % INET_DOMAIN, mid)
    check(re.search(r"to=<nosuch@inet\.example>.*dsn=5\.1\.1.*status=bounced",
                    pf.log_since_send()),
          "nosuch bounced with 5.1.1: %s" % pf.log_tail(6))


def test_mailbox_command_satchel_deliver(ctx):
    """local(8) with mailbox_command = satchel deliver: the system
    account satchel (make deps creates it) is also a passwd-file user;
    the message arrives once and reads back over POP3."""
    try:
        pwd.getpwnam(MAIL_USER)
    except KeyError:
        raise Skip("no system user %s (make deps creates it)" % MAIL_USER)
    pf, srv = satchel_for_postfix(
        ctx, users={MAIL_USER: "{PLAIN}satchel-Pw.Lda77"})
    srv.passwords[MAIL_USER] = "satchel-Pw.Lda77"
    rcpt = "%s@%s" % (MAIL_USER, LOCAL_DOMAIN)
    mid, data = message("through satchel deliver")
    pf.send(SENDER, [rcpt], data)
    wait_delivered(srv, pf, {MAIL_USER: 1})
    got = check_mailbox(srv, MAIL_USER, data, rcpt, mid)
    # local(8) prepends Delivered-To: RECIPIENT before it runs the
    # command (prepend_delivered_header's default includes "command"),
    # which satchel deliver, given the same -r, must neither take for a
    # loop nor repeat
    eq(header_values(got, "Delivered-To"), [rcpt],
       "local(8)'s Delivered-To, and no second one")
    check(re.search(r"to=<%s>.*relay=local.*status=sent" % re.escape(rcpt),
                    pf.log_since_send()), "local(8) reported it sent: %s"
          % pf.log_tail(4))


def test_pipe_satchel_deliver(ctx):
    """pipe(8) with argv = satchel deliver, two recipients (one run
    each): both arrive once with their own Delivered-To; an unknown user
    is exit 67, which Postfix bounces."""
    pf, srv = satchel_for_postfix(ctx)
    rcpts = ["alice@%s" % PIPE_DOMAIN, "bob@%s" % PIPE_DOMAIN,
             "nosuch@%s" % PIPE_DOMAIN]
    mid, data = message("through pipe(8)")
    pf.send(SENDER, rcpts, data)
    wait_delivered(srv, pf, {"alice": 1, "bob": 1})
    for u in ("alice", "bob"):
        got = check_mailbox(srv, u, data, "%s@%s" % (u, PIPE_DOMAIN), mid)
        eq(len(header_values(got, "Delivered-To")), 1,
           "one Delivered-To for %s: %s" % (u, header_values(
               got, "Delivered-To")))
    check(re.search(r"to=<nosuch@pipe\.example>.*status=bounced",
                    pf.log_since_send()),
          "the unknown user bounced: %s" % pf.log_tail(4))


def satchel_with_locked_mbox(ctx, recipient_timeout):
    """satchel_for_postfix with one more user, slowpoke, whose mbox the
    test holds an fcntl lock on (returned open: unlock and close it);
    state["mbox"] is its path."""
    state = {}

    def prepare(srv):
        path = os.path.join(srv.root, "mbox", "slowpoke")
        srv.extra_users["slowpoke"] = ("{PLAIN}slow-Pw.q1::::::mail=mbox:%s"
                                       % path)
        srv.write_passwd()
        # slowpoke's mbox is outside the mail pattern's directory
        srv.config["sandbox_mail_root"] = "%s/mail,%s/mbox" % (srv.root,
                                                               srv.root)
        srv.write_config()
        with open(path, "wb"):
            pass
        srv.fix_owner(path)
        state["mbox"] = path

    pf, srv = satchel_for_postfix(
        ctx, config={"lmtp_recipient_timeout": str(recipient_timeout)},
        prepare=prepare)
    srv.passwords["slowpoke"] = "slow-Pw.q1"
    srv.secrets.add("slow-Pw.q1")
    holder = open(state["mbox"], "r+b")
    fcntl.lockf(holder, fcntl.LOCK_EX)
    return pf, srv, state, holder


def test_slow_recipient_not_duplicated(ctx):
    """Postfix's lmtp_data_done_timeout is short (6 s) and one of three
    recipients is slow (its mbox locked by the test): satchel answers
    that one 451 4.2.0 at lmtp_recipient_timeout (2 s) and the others
    250 as soon as they are stored, so Postfix retries only the slow
    one: in the end every recipient has exactly one copy."""
    pf, srv, state, holder = satchel_with_locked_mbox(ctx, 2)
    try:
        rcpts = ["alice@%s" % SLOW_DOMAIN, "slowpoke@%s" % SLOW_DOMAIN,
                 "bob@%s" % SLOW_DOMAIN]
        mid, data = message("one slow recipient")
        t0 = time.monotonic()
        pf.send(SENDER, rcpts, data)
        wait_for(lambda: maildir_count(srv, "alice") == 1 and
                 maildir_count(srv, "bob") == 1, DELIVERY_TIMEOUT,
                 "alice and bob delivered (postfix log: %s)" % pf.log_tail(6))
        wait_for(lambda: re.search(r"to=<slowpoke@slow\.example>.*"
                                   r"status=deferred", pf.log_since_send()),
                 DELIVERY_TIMEOUT, "slowpoke deferred by Postfix (log: %s)"
                 % pf.log_tail(6))
        took = time.monotonic() - t0
        check(os.path.getsize(state["mbox"]) == 0,
              "nothing written to the locked mbox")
    finally:
        fcntl.lockf(holder, fcntl.LOCK_UN)
        holder.close()
    log = pf.log_text()
    check(re.search(r"to=<slowpoke@slow\.example>.*dsn=4\.2\.0", log),
          "the slow one was 451 4.2.0: %s" % pf.log_tail(6))
    check("conversation with" not in log or "timed out" not in log,
          "Postfix never timed the LMTP transaction out: %s" % pf.log_tail(6))
    pf.flush()
    wait_for(lambda: os.path.getsize(state["mbox"]) > 0, DELIVERY_TIMEOUT,
             "slowpoke delivered on Postfix's retry (log: %s)" % pf.log_tail(6))
    wait_for(pf.queue_empty, 10, "an empty queue")
    eq({u: maildir_count(srv, u) for u in ("alice", "bob")},
       {"alice": 1, "bob": 1}, "alice and bob still exactly once")
    for u in ("alice", "bob"):
        check_mailbox(srv, u, data, "%s@%s" % (u, SLOW_DOMAIN), mid)
    check_mailbox(srv, "slowpoke", data, "slowpoke@%s" % SLOW_DOMAIN, mid)
    check(took < DATA_DONE_TIMEOUT + DELIVERY_TIMEOUT, "took %.1fs" % took)


def test_lmtp_worker_killed_mid_transaction(ctx):
    """SIGKILL of the LMTP worker while a transaction is under way (the
    first recipient stored and answered, the second waiting for its mbox
    lock): the master starts a new worker, Postfix retries what was not
    answered, and every recipient ends with exactly one copy."""
    pf, srv, state, holder = satchel_with_locked_mbox(ctx, 30)
    try:
        mid, data = message("worker killed")
        pf.send(SENDER, ["alice@%s" % INET_DOMAIN,
                         "slowpoke@%s" % INET_DOMAIN,
                         "bob@%s" % INET_DOMAIN], data)
        wait_for(lambda: maildir_count(srv, "alice") == 1, DELIVERY_TIMEOUT,
                 "alice stored first (postfix log: %s)" % pf.log_tail(4))
        wait_for(lambda: re.search(r"to=<alice@inet\.example>.*status=sent",
                                   pf.log_since_send()), DELIVERY_TIMEOUT,
                 "Postfix got alice's 250 (log: %s)" % pf.log_tail(4))
        workers = [p for p, c in srv.children().items()
                   if c == "satchel-lmtp"]
        eq(len(workers), 1, "one LMTP worker")
        os.kill(workers[0], signal.SIGKILL)
        wait_for(lambda: re.search(r"to=<slowpoke@inet\.example>.*"
                                   r"status=deferred", pf.log_since_send()),
                 DELIVERY_TIMEOUT, "Postfix deferred the rest (log: %s)"
                 % pf.log_tail(4))
        wait_for(lambda: [p for p, c in srv.children().items()
                          if c == "satchel-lmtp" and p != workers[0]], 10,
                 "a new LMTP worker")
    finally:
        fcntl.lockf(holder, fcntl.LOCK_UN)
        holder.close()
    # Postfix may still be backing off from the lost connection (or the
    # new worker still starting, slower under ASan) when a flush comes:
    # ask again every few seconds until the retry has happened
    last_flush = [0.0]

    def retried():
        if time.monotonic() - last_flush[0] > 3:
            pf.flush()
            last_flush[0] = time.monotonic()
        return os.path.getsize(state["mbox"]) > 0 and \
            maildir_count(srv, "bob") == 1

    wait_for(retried, DELIVERY_TIMEOUT,
             lambda: "slowpoke and bob delivered on the retry (postfix log "
             "at the timeout: %s; satchel log: %s)"
             % (pf.log_tail(8), srv.log_tail(8)))
    wait_for(pf.queue_empty, 10, "an empty queue")
    for u in ("alice", "bob", "slowpoke"):
        check_mailbox(srv, u, data, "%s@%s" % (u, INET_DOMAIN), mid)


def test_disk_full_defers(ctx):
    """alice's maildrop on a 128 KB tmpfs and a 400 KB message: satchel
    answers 452 4.3.1, Postfix defers it, tmp/ is left empty; with room
    again (the tmpfs gone) Postfix's retry stores it once."""
    state = {}

    def prepare(srv):
        path = srv.maildrop("alice")
        os.makedirs(path)
        pw = pwd.getpwnam(MAIL_USER)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                            "size=128k,mode=0700,uid=%d,gid=%d"
                            % (pw.pw_uid, pw.pw_gid), "tmpfs", path],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Skip("cannot mount a tmpfs: %s" % r.stderr.strip())
        state["mnt"] = path

    try:
        pf, srv = satchel_for_postfix(ctx, prepare=prepare)
        mid, data = message("too big for the disk", body_lines=9000)
        check(len(data) > 300 * 1024, "a message bigger than the tmpfs")
        pf.send(SENDER, ["alice@%s" % INET_DOMAIN], data)
        wait_for(lambda: re.search(r"to=<alice@inet\.example>.*dsn=4\.3\.1"
                                   r".*status=deferred", pf.log_since_send()),
                 DELIVERY_TIMEOUT, "a 4.3.1 deferral (log: %s)"
                 % pf.log_tail(4))
        eq(maildir_count(srv, "alice"), 0, "nothing stored")
        tmp = os.path.join(state["mnt"], "tmp")
        eq(os.listdir(tmp) if os.path.isdir(tmp) else [], [],
           "tmp/ left empty")
    finally:
        if "mnt" in state:
            if subprocess.run(["umount", state["mnt"]]).returncode != 0:
                subprocess.run(["umount", "-l", state["mnt"]])
    srv.fix_owner(srv.maildrop("alice"))
    pf.flush()
    wait_delivered(srv, pf, {"alice": 1})
    check_mailbox(srv, "alice", data, "alice@%s" % INET_DOMAIN, mid)
