#!/usr/bin/env python3
"""gen_data.py: the deterministic data set of the side-by-side benchmark.

Maildirs as an MTA writes them: LF line ends, files in new/, names without
,S= or ,W= (so a server must compute the CRLF sizes on first access).

  u1..u50      40 messages each: mostly 2-50 KB text with lines starting
               with "." (dot-stuffing), ~1 in 10 a 200 KB-2 MB attachment
  l1..l1000    5 small messages (2-5 KB): login and idle scenarios
  m1k, m10k, m20k, m100k   1,000 / 10,000 / 20,000 / 100,000 messages of
               1-4 KB: STAT+LIST+UIDL on large maildrops

The same seed always gives the same bytes. Usage: gen_data.py DIR
"""
import base64
import os
import random
import sys

VERSION = "satchel-bench-data 1"
MAIL_USERS, MAIL_MSGS = 50, 40
LOGIN_USERS, LOGIN_MSGS = 1000, 5
BIG = [("m1k", 1000), ("m10k", 10000), ("m20k", 20000), ("m100k", 100000)]

WORDS = ("the of and to in is that for it as with was on be by this at from "
         "mail server message maildrop octets queue delivery relay header "
         "body line report invoice meeting schedule project budget review "
         "draft figure table appendix minutes agenda notes summary").split()


def text_lines(rnd, nbytes):
    out, size = [], 0
    while size < nbytes:
        r = rnd.random()
        if r < 0.04:
            line = "." + " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(0, 8)))
        elif r < 0.05:
            line = "."
        elif r < 0.10:
            line = ""
        else:
            line = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 14)))
        out.append(line)
        size += len(line) + 1
    return out


def headers(rnd, user, n, extra=()):
    day = 1 + n % 28
    h = ["Return-Path: <sender%d@example.org>" % rnd.randint(1, 999),
         "Received: from mx.example.org (mx.example.org [192.0.2.%d])\n"
         "\tby mail.example.net (Postfix) with ESMTPS id %08X\n"
         "\tfor <%s@example.net>; Mon, %d Jan 2024 10:%02d:%02d +0000"
         % (rnd.randint(1, 254), rnd.getrandbits(32), user, day,
            n % 60, rnd.randint(0, 59)),
         "From: Sender %d <sender@example.org>" % rnd.randint(1, 999),
         "To: %s@example.net" % user,
         "Subject: %s %d" % (" ".join(rnd.choice(WORDS) for _ in range(5)), n),
         "Date: Mon, %d Jan 2024 10:%02d:00 +0000" % (day, n % 60),
         "Message-ID: <%d.%08x@example.org>" % (n, rnd.getrandbits(32)),
         "MIME-Version: 1.0"]
    h.extend(extra)
    return h


def text_message(rnd, user, n, lo, hi):
    body = text_lines(rnd, rnd.randint(lo, hi))
    h = headers(rnd, user, n, ["Content-Type: text/plain; charset=us-ascii"])
    return "\n".join(h) + "\n\n" + "\n".join(body) + "\n"


def attachment_message(rnd, user, n):
    size = rnd.randint(200 * 1024, 2 * 1024 * 1024)
    raw = rnd.randbytes(size * 3 // 4)
    b64 = base64.encodebytes(raw).decode("ascii")
    h = headers(rnd, user, n, ['Content-Type: multipart/mixed; boundary="b%d"' % n])
    text = "\n".join(text_lines(rnd, 2000))
    return ("\n".join(h) + "\n\nThis is a MIME message.\n\n--b%d\n"
            "Content-Type: text/plain\n\n%s\n--b%d\n"
            "Content-Type: application/octet-stream\n"
            "Content-Transfer-Encoding: base64\n"
            'Content-Disposition: attachment; filename="f%d.bin"\n\n'
            "%s--b%d--\n" % (n, text, n, n, b64, n))


def write_maildir(root, user, messages):
    d = os.path.join(root, user)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    t0 = 1700000000
    for i, msg in enumerate(messages):
        # Postfix-style name: time.VdevIinodeMusec.host, no sizes.
        name = "%d.V801I%xM%06d.bench.example" % (t0 + i, 0x10000 + i, i % 1000000)
        with open(os.path.join(d, "new", name), "w", newline="\n") as f:
            f.write(msg)


def main():
    root = sys.argv[1]
    stamp = os.path.join(root, ".stamp")
    if os.path.exists(stamp) and open(stamp).read() == VERSION:
        return
    os.makedirs(root, exist_ok=True)
    rnd = random.Random(20240101)
    for u in range(1, MAIL_USERS + 1):
        user = "u%d" % u
        msgs = []
        for n in range(MAIL_MSGS):
            if rnd.random() < 0.1:
                msgs.append(attachment_message(rnd, user, n))
            else:
                msgs.append(text_message(rnd, user, n, 2 * 1024, 50 * 1024))
        write_maildir(root, user, msgs)
    for u in range(1, LOGIN_USERS + 1):
        user = "l%d" % u
        write_maildir(root, user, [text_message(rnd, user, n, 2048, 5120)
                                   for n in range(LOGIN_MSGS)])
    for user, count in BIG:
        write_maildir(root, user, (text_message(rnd, user, n, 600, 3500)
                                   for n in range(count)))
    with open(stamp, "w") as f:
        f.write(VERSION)


if __name__ == "__main__":
    main()
