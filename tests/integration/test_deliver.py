"""satchel deliver (the LDA): exit codes (0, 67, 75, 64; never 73, 74,
78), the first stderr line (an enhanced status code), the envelope sender
from -f or a leading From line, the child and its deadline, the log line,
and the message read back byte-exact over POP3 (LIST size = RETR
octets)."""
import os
import re
import signal
import subprocess
import time

import harness
from harness import *

STORES = ("maildir",)
EXTRA_USERS = {
    # a maildrop no one can create: every delivery is a temporary error
    "frank": "{PLAIN}frank-Pw.1::::::mail=maildir:/proc/satchel-nowhere/f",
}
EXTRA_SECRETS = ("frank-Pw.1",)

STATUS_RE = re.compile(r"^[245]\.\d{1,3}\.\d{1,3} \S")


def deliver(srv, args, data=b"", timeout=30, conf=True):
    cmd = [harness.SATCHEL, "deliver"]
    if conf:
        cmd += ["-c", srv.conf_path]
    cmd += args
    p = subprocess.run(cmd, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def first_line(err):
    return err.split("\n", 1)[0]


def check_status_line(err, prefix):
    line = first_line(err)
    check(STATUS_RE.match(line), "first stderr line is not an enhanced "
          "status code: %r" % err)
    check(line.startswith(prefix), "first stderr line %r, want %s..."
          % (line, prefix))


def header_prefix_ok(stored, original):
    """stored = a few added trace lines, then the original (CRLF)."""
    want = to_crlf(original)
    if not stored.endswith(want):
        return False
    added = stored[:len(stored) - len(want)]
    return all(re.match(rb"^(Return-Path|Delivered-To): ", line)
               for line in added.split(b"\r\n") if line)


def test_delivered_and_read_back(ctx):
    ctx.srv.fill("alice", [])
    msg = (b"From: bob@example.org\nTo: alice@example.org\n"
           b"Subject: lda\nMessage-ID: <lda.1@example.org>\n\n"
           b"line one\n.leading dot\n" + b"x" * 3000 + b"\n\xe9t\xe9\n")
    rc, err = deliver(ctx.srv, ["-f", "bob@example.org", "-d", "alice"],
                      msg)
    eq(rc, 0, "exit status (stderr %r)" % err)
    eq(err, "", "stderr on success")
    got = ctx.srv.read_all("alice")
    eq(len(got), 1, "messages in the maildrop")
    stored = got[0]
    check(header_prefix_ok(stored, msg), "stored message is not the "
          "original with trace lines before it: %r" % short(stored, 400))
    check(b"Return-Path: <bob@example.org>\r\n" in stored,
          "Return-Path from -f: %r" % short(stored))
    if is_root():
        # never written as root: the user's ids, else mail_user
        for rel in ctx.srv.maildir_files("alice"):
            st = os.stat(os.path.join(ctx.srv.maildrop("alice"), rel))
            check(st.st_uid != 0, "%s is owned by root" % rel)


def test_crlf_input_and_from_line_sender(ctx):
    ctx.srv.fill("alice", [])
    body = (b"Subject: crlf\r\nMessage-ID: <lda.2@example.org>\r\n\r\n"
            b"hello\r\n")
    msg = b"From carol@example.net Mon Nov 25 10:00:00 2024\n" + body
    rc, err = deliver(ctx.srv, ["-d", "alice"], msg)
    eq(rc, 0, "exit status (stderr %r)" % err)
    stored = ctx.srv.read_all("alice")[0]
    check(b"\r\nFrom carol" not in stored and
          not stored.startswith(b"From "), "the From line was kept")
    check(b"Return-Path: <carol@example.net>\r\n" in stored,
          "sender from the From line: %r" % short(stored))
    check(stored.endswith(body), "CRLF body not stored as it came: %r"
          % short(stored))


def test_unknown_user(ctx):
    rc, err = deliver(ctx.srv, ["-d", "nosuchuser"], b"Subject: x\n\nx\n")
    eq(rc, 67, "exit status for an unknown user")
    check_status_line(err, "5.1.1")


def test_usage(ctx):
    for args in ([], ["-d"], ["-x", "-d", "alice"], ["-d", "alice", "extra"]):
        rc, err = deliver(ctx.srv, args, b"")
        eq(rc, 64, "exit status for %r" % args)
        check_status_line(err, "5.5.4")


def test_missing_config_is_temporary(ctx):
    rc, err = deliver(ctx.srv, ["-c", os.path.join(ctx.tmp, "none.conf"),
                                "-d", "alice"], b"Subject: x\n\nx\n",
                      conf=False)
    eq(rc, 75, "exit status for a missing config file")
    check_status_line(err, "4.")


def test_bad_config_is_temporary(ctx):
    rc, err = deliver(ctx.srv, ["-o", "no_such_key=1", "-d", "alice"],
                      b"Subject: x\n\nx\n")
    eq(rc, 75, "exit status for a bad config key")
    check_status_line(err, "4.")


def test_unwritable_maildir_is_temporary(ctx):
    rc, err = deliver(ctx.srv, ["-d", "frank"], b"Subject: x\n\nx\n")
    eq(rc, 75, "exit status for a maildrop that cannot be written")
    check_status_line(err, "4.")


def spawn_waiting(srv, extra=()):
    """A deliver whose child blocks reading the message (stdin open)."""
    cmd = [harness.SATCHEL, "deliver", "-c", srv.conf_path] + list(extra) + \
        ["-d", "alice"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdin.write(b"Subject: half\n\nnot all of it")
    p.stdin.flush()
    return p


def test_child_killed_is_temporary(ctx):
    ctx.srv.fill("alice", [])
    p = spawn_waiting(ctx.srv)
    kids = []
    wait_for(lambda: kids.extend(proc_children(p.pid)) or kids, 5,
             "the delivery child")
    os.kill(kids[0], signal.SIGKILL)
    out, err = p.communicate(timeout=10)
    eq(p.returncode, 75, "exit status after the child was killed")
    check_status_line(err.decode(), "4.3.0")
    eq(ctx.srv.maildir_files("alice"), [], "messages after the kill")
    eq(os.listdir(os.path.join(ctx.srv.maildrop("alice"), "tmp")), [],
       "tmp/ after the kill")


def test_deadline_is_temporary(ctx):
    ctx.srv.fill("alice", [])
    t0 = time.monotonic()
    p = spawn_waiting(ctx.srv, ["-o", "delivery_deadline=1"])
    # stdin stays open: the child waits for the rest of the message
    p.wait(timeout=15)
    took = time.monotonic() - t0
    out, err = p.communicate(timeout=5)
    eq(p.returncode, 75, "exit status at the deadline")
    check_status_line(err.decode(), "4.3.0")
    check(took < 10, "the deadline of 1 s took %.1f s" % took)
    eq(ctx.srv.maildir_files("alice"), [], "messages after the deadline")


def test_log_line(ctx):
    ctx.srv.fill("alice", [])
    log = os.path.join(ctx.tmp, "deliver.log")
    rc, err = deliver(ctx.srv, ["-o", "log=" + log, "-f", "s@example.net",
                                "-d", "alice"],
                      b"Message-ID: <log.1@example.net>\nSubject: l\n\nb\n")
    eq(rc, 0, "exit status (stderr %r)" % err)
    with open(log) as f:
        text = f.read()
    check(re.search(r"delivery: from=<s@example\.net> to=<alice> user=alice "
                    r"msgid=<log\.1@example\.net> size=\d+ id=\S+ "
                    r"result=stored status=2\.\d\.\d .* time=[\d.]+s", text),
          "no per-recipient log line: %r" % text)
