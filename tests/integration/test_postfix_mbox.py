"""Postfix's own local(8) and satchel's LMTP delivering to the same mbox at
once (issue 8's lock matrix): 1,000 messages each, injected with Postfix's
smtp-source, one into Postfix's smtpd (local(8) appends them under its
fcntl and dotlock, Debian's mailbox_delivery_lock), the other straight
into satchel serve's LMTP port; the mbox then parses into 2,000 intact
messages, each once, and POP3 reads every one back with LIST size = RETR
octets. A private Postfix (postfix.py) whose local(8) runs as a master.cf
service with its own mail_spool_directory, no mailbox_command. How often
the two writers took turns in the file is printed (a diagnostic: how
much the runs overlapped depends on the machine)."""

import mailbox
import os
import re
import subprocess

from harness import *
import postfix
from postfix import Postfix

STORES = None
EACH = 1000                     # messages per writer
BODY_OCTETS = 300               # smtp-source -l
DOMAIN = "mbox.example"


def test_postfix_local_and_satchel_share_an_mbox(ctx):
    if not postfix.available():
        raise Skip("needs root and Postfix (make deps installs postfix)")
    try:
        pw = pwd.getpwnam(MAIL_USER)
    except KeyError:
        raise Skip("no system user %s (make deps creates it)" % MAIL_USER)
    spool = os.path.join(ctx.tmp, "mailspool")
    os.makedirs(spool)
    os.chown(spool, pw.pw_uid, pw.pw_gid)
    mbox = os.path.join(spool, MAIL_USER)
    lmtp_port = free_port()
    srv = ctx.server(store="maildir", workers=1, config={
        "lmtp_listen": "127.0.0.1:%d" % lmtp_port,
        # the mbox is in a spool outside the mail pattern's directory
        "sandbox_mail_root": spool},
        users={MAIL_USER: "{PLAIN}mbox-Pw.Zz81::::::mail=mbox:%s" % mbox})
    srv.passwords[MAIL_USER] = "mbox-Pw.Zz81"
    srv.secrets.add("mbox-Pw.Zz81")
    srv.start()
    pf = Postfix({DOMAIN: "localmbox:"}, extra={
        "mail_spool_directory": spool,
        "mailbox_delivery_lock": "fcntl, dotlock",
        "localmbox_destination_concurrency_limit": "4"},
        services=["localmbox unix - n n - - local"])
    try:
        pf.start()
        common = ["smtp-source", "-s", "4", "-d", "-m", str(EACH), "-l",
                  str(BODY_OCTETS), "-f", "sender@client.example",
                  "-t", "%s@%s" % (MAIL_USER, DOMAIN)]
        to_postfix = subprocess.Popen(
            common + ["127.0.0.1:%d" % pf.port], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        to_satchel = subprocess.Popen(
            common + ["-L", "127.0.0.1:%d" % lmtp_port],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for name, p in (("Postfix", to_postfix), ("satchel", to_satchel)):
            out = p.communicate(timeout=120)[0]
            eq(p.returncode, 0, "smtp-source into %s (%s)" % (name, out[-300:]))

        def count():
            try:
                with open(mbox, "rb") as f:
                    return len(re.findall(rb"(?m)^From ", f.read()))
            except FileNotFoundError:
                return 0
        wait_for(lambda: count() >= 2 * EACH and pf.queue_empty(), 120,
                 "%d messages in the mbox (have %d; postfix log: %s)"
                 % (2 * EACH, count(), pf.log_tail(3)))
    finally:
        pf.cleanup()

    box = mailbox.mbox(mbox, create=False)
    msgs = list(box)
    box.close()
    eq(len(msgs), 2 * EACH, "messages the mbox parses into")
    ids = [m["Message-Id"] for m in msgs]
    eq(len(set(ids)), 2 * EACH, "distinct Message-Ids (each message once)")
    # local(8) writes LF line ends, satchel stores the CRLF that LMTP
    # carried (as it came, issue 8 item 4)
    bodies = set(m.get_payload(decode=False).replace("\r\n", "\n")
                 .rstrip("\n") for m in msgs)
    eq(len(bodies), 1, "every body intact (one text, as smtp-source sent "
       "it): %s" % [short(b, 80) for b in list(bodies)[:3]])
    by_writer = {}
    for m in msgs:
        who = "satchel" if "\r\n" in m.get_payload(decode=False) else \
              "postfix"
        by_writer[who] = by_writer.get(who, 0) + 1
    eq(by_writer, {"satchel": EACH, "postfix": EACH}, "messages per writer")
    order = ["\r\n" in m.get_payload(decode=False) for m in msgs]
    switches = sum(1 for a, b in zip(order, order[1:]) if a != b)
    print("# writer switches in the mbox: %d" % switches)
    check(len(next(iter(bodies))) >= BODY_OCTETS - 10, "body length")

    # the first login scans (and indexes) 2,000 messages: seconds under
    # ASan on a loaded CI machine, more than the default socket timeout
    p = srv.login(MAIL_USER, timeout=60)
    sizes = p.list()
    eq(len(sizes), 2 * EACH, "messages over POP3")
    for n in sorted(sizes):
        eq(len(p.retr(n)), sizes[n], "RETR %d octets vs LIST size" % n)
    p.quit()
