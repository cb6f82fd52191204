"""satchel lmtp --stdio end to end with the real store: a pipelined
transaction (one recipient repeated, one unknown) gets one reply per
accepted RCPT, arrives once per recipient and reads back byte-exact over POP3 (LIST size = RETR
octets, the sent bytes unstuffed after the trace lines); a BDAT message
the same; a connection closed in the middle of DATA, or of a BDAT chunk,
delivers nothing and leaves tmp/ empty."""
import os
import re
import subprocess

import harness
from harness import *

STORES = ("maildir",)


def lmtp(srv, data, timeout=30):
    p = subprocess.run([harness.SATCHEL, "lmtp", "--stdio", "-c",
                        srv.conf_path], input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode("latin-1").split("\r\n")


def body_after_trace(stored):
    """The stored message without the lines delivery puts first."""
    lines = stored.split(b"\r\n")
    while lines and re.match(rb"^(Return-Path|Delivered-To): ", lines[0]):
        lines.pop(0)
    return b"\r\n".join(lines)


MESSAGE = (b"From: s@example.net\r\nSubject: lmtp\r\n"
           b"Message-ID: <lmtp.1@example.net>\r\n\r\n"
           b"first\r\n.dot line\r\n..two dots\r\n" + b"y" * 2500 +
           b"\r\n\xc3\xa9\r\n")


def stuffed(msg):
    return re.sub(rb"(?m)^\.", b"..", msg)


def test_pipelined_repeated_recipient(ctx):
    for u in ("alice", "bob"):
        ctx.srv.fill(u, [])
    data = (b"LHLO t\r\nMAIL FROM:<s@example.net> BODY=8BITMIME\r\n"
            b"RCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>\r\n"
            b"RCPT TO:<bob@example.org>\r\nRCPT TO:<alice@example.org>\r\n"
            b"DATA\r\n" + stuffed(MESSAGE) + b".\r\nQUIT\r\n")
    rc, lines = lmtp(ctx.srv, data)
    eq(rc, 0, "exit status")
    finals = [l for l in lines if l.startswith("250 2.0.0 <")]
    eq([l.split()[2] for l in finals],
       ["<alice@example.org>", "<bob@example.org>", "<alice@example.org>"],
       "one reply per accepted RCPT, in RCPT order")
    check(any(l.startswith("550 5.1.1 <nobody@") for l in lines),
          "unknown user refused: %r" % lines)
    alice = ctx.srv.read_all("alice")
    bob = ctx.srv.read_all("bob")
    # the repeated address is one recipient twice: the idempotent
    # delivery id (same sender, recipient, Message-ID, body) stores it
    # once and answers the duplicate 250 too
    eq(len(alice), 1, "alice's messages (the second RCPT is a duplicate)")
    eq(len(bob), 1, "bob's messages")
    for m in alice + bob:
        eq(body_after_trace(m), MESSAGE, "message read back over POP3")


def test_bdat_read_back(ctx):
    ctx.srv.fill("alice", [])
    half = len(MESSAGE) // 2
    data = (b"LHLO t\r\nMAIL FROM:<s@example.net>\r\n"
            b"RCPT TO:<alice@example.org>\r\n"
            b"BDAT %d\r\n" % half + MESSAGE[:half] +
            b"BDAT %d LAST\r\n" % (len(MESSAGE) - half) + MESSAGE[half:] +
            b"QUIT\r\n")
    rc, lines = lmtp(ctx.srv, data)
    eq(rc, 0, "exit status")
    check(any(l.startswith("250 2.0.0 <alice@example.org>") for l in lines),
          "BDAT LAST delivered: %r" % lines)
    eq([body_after_trace(m) for m in ctx.srv.read_all("alice")], [MESSAGE],
       "BDAT message read back")


def test_cut_data_delivers_nothing(ctx):
    ctx.srv.fill("alice", [])
    start = (b"LHLO t\r\nMAIL FROM:<s@example.net>\r\n"
             b"RCPT TO:<alice@example.org>\r\n")
    full = stuffed(MESSAGE) + b".\r\n"
    for cut in (0, 1, len(full) // 3, len(full) - 3, len(full) - 1):
        rc, lines = lmtp(ctx.srv, start + b"DATA\r\n" + full[:cut])
        check(not any(l.startswith("250 2.0.0") for l in lines),
              "a cut at %d was answered as delivered" % cut)
    for cut in (0, 10, len(MESSAGE) - 1):
        lmtp(ctx.srv, start + b"BDAT %d LAST\r\n" % len(MESSAGE) +
             MESSAGE[:cut])
    eq(ctx.srv.maildir_files("alice"), [], "messages after cut DATA")
    eq(os.listdir(os.path.join(ctx.srv.maildrop("alice"), "tmp")), [],
       "tmp/ after cut DATA")


def test_big_message_read_back(ctx):
    """Many spool chunks (256 KB each, written by jobs): DATA and BDAT."""
    ctx.srv.fill("alice", [])
    lines = [b".%d dotted" % i if i % 5 == 0 else b"line %d" % i
             for i in range(120000)]
    msg = (b"Subject: big\r\nMessage-ID: <big.1@example.net>\r\n\r\n" +
           b"\r\n".join(lines) + b"\r\n")
    data = (b"LHLO t\r\nMAIL FROM:<s@example.net>\r\n"
            b"RCPT TO:<alice@example.org>\r\nDATA\r\n" + stuffed(msg) +
            b".\r\nMAIL FROM:<s@example.net>\r\n"
            b"RCPT TO:<alice@example.org>\r\n"
            b"BDAT %d LAST\r\n" % len(msg) + msg.replace(b"big.1", b"big.2") +
            b"QUIT\r\n")
    rc, replies = lmtp(ctx.srv, data, timeout=60)
    eq(rc, 0, "exit status")
    eq(len([l for l in replies if l.startswith("250 2.0.0 <alice")]), 2,
       "two deliveries")
    got = [body_after_trace(m) for m in ctx.srv.read_all("alice")]
    eq(sorted(got), sorted([msg, msg.replace(b"big.1", b"big.2")]),
       "both big messages read back")


def test_session_from_a_regular_file(ctx):
    """`satchel lmtp --stdio < file` (epoll cannot watch a file)."""
    ctx.srv.fill("alice", [])
    path = os.path.join(ctx.tmp, "session.txt")
    with open(path, "wb") as f:
        f.write(b"LHLO t\r\nMAIL FROM:<s@example.net>\r\n"
                b"RCPT TO:<alice@example.org>\r\nDATA\r\n" +
                stuffed(MESSAGE) + b".\r\nQUIT\r\n")
    with open(path, "rb") as f:
        p = subprocess.run([harness.SATCHEL, "lmtp", "--stdio", "-c",
                            ctx.srv.conf_path], stdin=f,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
    eq(p.returncode, 0, "exit status")
    check(b"250 2.0.0 <alice@example.org>" in p.stdout,
          "delivered from a file: %r" % short(p.stdout))
    eq([body_after_trace(m) for m in ctx.srv.read_all("alice")], [MESSAGE],
       "message read back")
