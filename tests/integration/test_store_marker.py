"""mail_store_marker (issue 11 item 3): a store on a mount that is not
mounted must never pass for an empty store. While the marker file is
missing, a login answers -ERR [SYS/TEMP] and creates no Maildir, LMTP
answers 4.3.0 (Python's smtplib.LMTP) and `satchel deliver` exits 75 with
the mail left to the MTA; once the marker is back, both work."""

import os
import smtplib
import subprocess

import harness
from harness import PASSWORDS, Pop, check, eq, free_port

STORES = ("maildir",)
LMTP_PORT = free_port()
MSG = (b"From: bob@example.org\r\nTo: alice@example.org\r\n"
       b"Subject: marker\r\nMessage-ID: <marker.1@example.org>\r\n\r\nhi\r\n")


CONFIG = {"lmtp_listen": "127.0.0.1:%d" % LMTP_PORT}


def marker(srv):
    return os.path.join(srv.root, "mail", ".satchel-store")


def configure(ctx):
    """The module's server with the marker set (and present)."""
    srv = ctx.srv
    ctx.workers_may_change = True  # the reload replaces them
    if srv.config.get("mail_store_marker") != marker(srv):
        srv.config["mail_store_marker"] = marker(srv)
        srv.write_config()
        open(marker(srv), "w").close()
        srv.fix_owner(marker(srv))
        srv.reload()


def lmtp(rcpt):
    c = smtplib.LMTP("127.0.0.1", LMTP_PORT)
    try:
        c.sendmail("bob@example.org", [rcpt], MSG)
        return 250, ""
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients[rcpt]
        return code, text.decode("latin-1")
    except smtplib.SMTPDataError as e:  # LMTP: the recipient's status
        return e.smtp_code, e.smtp_error.decode("latin-1")
    finally:
        c.close()


def deliver(srv, user):
    p = subprocess.run([harness.SATCHEL, "deliver", "-c", srv.conf_path,
                        "-d", user], input=MSG, capture_output=True,
                       timeout=30)
    return p.returncode, p.stderr.decode("latin-1")


def test_missing_marker_is_a_temporary_failure(ctx):
    srv = ctx.srv
    configure(ctx)
    srv.fill("alice", [])
    os.unlink(marker(srv))
    try:
        p = Pop(srv.port)
        p.ok("USER alice")
        resp = p.cmd("PASS " + PASSWORDS["alice"])
        check(resp.startswith("-ERR [SYS/TEMP]"),
              "login with the store unmounted: %s" % resp)
        p.cmd("QUIT")
        check("not mounted" in srv.log_text(),
              "the log says why: %s" % srv.log_tail(3))
        p = Pop(srv.port)
        p.ok("USER carol")
        resp = p.cmd("PASS " + PASSWORDS["carol"])
        check(resp.startswith("-ERR [SYS/TEMP]"), "carol: %s" % resp)
        p.cmd("QUIT")
        check(not os.path.exists(srv.maildrop("carol")),
              "no Maildir made for carol on the unmounted store")
        code, text = lmtp("alice@example.org")
        eq(code, 451, "LMTP with the store unmounted (%s)" % text)
        check(text.startswith("4.3.0"), "LMTP says 4.3.0: %s" % text)
        rc, err = deliver(srv, "alice")
        eq(rc, 75, "satchel deliver exit with the store unmounted (%s)"
           % err)
        check("not mounted" in err, "deliver says why: %s" % err)
        eq(srv.maildir_files("alice"), [], "nothing stored")
    finally:
        open(marker(srv), "w").close()
        srv.fix_owner(marker(srv))


def test_marker_back_everything_works(ctx):
    srv = ctx.srv
    configure(ctx)
    srv.fill("alice", [])
    eq(lmtp("alice@example.org")[0], 250, "LMTP with the marker")
    rc, err = deliver(srv, "alice")
    eq(rc, 0, "satchel deliver with the marker: %s" % err)
    p = Pop(srv.port)
    p.ok("USER alice")
    p.ok("PASS " + PASSWORDS["alice"])
    eq(p.ok("STAT").split()[1], "2", "both messages are there")
    p.ok("QUIT")
