"""Faults in delivery (issue 8), against the real binaries:

- the LDA's child and the LMTP worker of `satchel serve` killed (SIGKILL,
  injected by strace at the system call) after the write, after the
  fsync, after the link into new/, after the sync of new/, and the LMTP
  worker after its 250: the MTA's retry of the same message leaves
  exactly one copy, and what was answered as delivered is there;
- a connection cut at sampled byte offsets of DATA delivers nothing and
  leaves tmp/ clean;
- a POP3 session holding the maildrop neither blocks a delivery nor sees
  it (RFC 1939: its snapshot is unchanged); the next session does.

The kill points are checked, not assumed: the strace log must show the
process killed at the expected call, and the maildrop must be in the
state that point leaves (no file in new/ before the link, one after)."""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time

import harness
from harness import *

STORES = ("maildir",)
WORKERS = 1
LMTP_PORT = free_port()
CONFIG = {
    "lmtp_listen": "127.0.0.1:%d" % LMTP_PORT,
    "lmtp_workers": "1",
}
STRACE = shutil.which("strace")
TRACED = "fsync,fdatasync,linkat,unlinkat"

# (what, system call, its n-th call in the process or thread, what the
# killed call must look like in the trace, a file in new/ after the kill)
STEPS = [
    ("after the write", "fsync", 1, r"^fsync\(\d+<[^>]*/tmp/", False),
    ("after the fsync", "linkat", 1, r"^linkat\(\d+<[^>]*/tmp>", False),
    ("after the link", "fsync", 2, r"^fsync\(\d+<[^>]*/new>", True),
    ("after the sync of new/", "unlinkat", 1, r"^unlinkat\(\d+<[^>]*/tmp>",
     True),
]


def need_strace():
    if STRACE is None:
        raise Skip("needs strace (make deps installs it)")


def strace_env():
    # LeakSanitizer cannot run under ptrace (the sanitizer build)
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(
        x for x in (env.get("ASAN_OPTIONS"), "detect_leaks=0") if x)
    return env


def inject_args(call, nth, log):
    return [STRACE, "-f", "-y", "-o", log, "-e", "trace=" + TRACED,
            "-e", "inject=%s:signal=SIGKILL:when=%d" % (call, nth)]


def check_killed_at(log, pattern, what):
    """The trace shows a process killed by SIGKILL right at a call
    matching pattern."""
    with open(log, errors="replace") as f:
        lines = [l.rstrip("\n") for l in f]
    last, killed = {}, []
    for line in lines:
        m = re.match(r"(\d+) +(.*)$", line)
        if not m:
            continue
        pid, text = m.group(1), m.group(2)
        if text.startswith("+++ killed by SIGKILL"):
            killed.append(pid)
        elif not text.startswith("<... "):
            last[pid] = text    # a resumed call keeps its first line
    # every thread of the process reports the kill; the one that got it
    # was in the call
    check(killed, "%s: no process killed in the trace: %s" %
          (what, short(lines[-12:], 1500)))
    check(any(re.search(pattern, last.get(pid, "")) for pid in killed),
          "%s: killed at %r, want a call like %s" %
          (what, [last.get(pid) for pid in killed], pattern))


def message(tag):
    return (b"From: s@example.org\r\nTo: dave@example.org\r\n"
            b"Subject: fault %s\r\nMessage-ID: <%s@faults.example>\r\n\r\n"
            b"body of %s\r\n" % (tag, tag, tag)) + b"filler line\r\n" * 40


def copies(srv, user, tag):
    """Files in new/ and cur/ holding the message tagged tag."""
    needle = b"Message-ID: <%s@faults.example>" % tag
    found = []
    for name in srv.maildir_files(user):
        with open(os.path.join(srv.maildrop(user), name), "rb") as f:
            if needle in f.read():
                found.append(name)
    return found


def lda(srv, user, data, argv_prefix=(), env=None):
    p = subprocess.run(list(argv_prefix) + [
        harness.SATCHEL, "deliver", "-c", srv.conf_path, "-f",
        "s@example.org", "-d", user], input=data, capture_output=True,
        timeout=60, env=env)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def warm(srv, user):
    """One delivery first, so the Maildir and its id file exist and the
    counted calls are the message's own."""
    srv.fill(user, [])
    rc, err = lda(srv, user, message(b"warm-%d" % time.monotonic_ns()))
    eq(rc, 0, "warm-up delivery (%s)" % err)


def test_lda_child_killed_at_each_step(ctx):
    need_strace()
    srv = ctx.srv
    warm(srv, "dave")
    for n, (what, call, nth, pattern, in_new) in enumerate(STEPS):
        tag = b"lda-%d-%d" % (n, os.getpid())
        log = os.path.join(ctx.tmp, "lda-%d.trace" % n)
        rc, err = lda(srv, "dave", message(tag),
                      inject_args(call, nth, log), strace_env())
        eq(rc, 75, "%s: exit of the LDA whose child was killed (%s)" %
           (what, err))
        check(re.match(r"4\.\d+\.\d+ ", err), "%s: first stderr line %r" %
              (what, err.split("\n", 1)[0]))
        check_killed_at(log, pattern, what)
        eq(len(copies(srv, "dave", tag)), 1 if in_new else 0,
           "%s: copies before the retry" % what)
        rc, err = lda(srv, "dave", message(tag))
        eq(rc, 0, "%s: the retry (%s)" % (what, err))
        eq(len(copies(srv, "dave", tag)), 1, "%s: copies after the retry"
           % what)


MBOX_STEPS = [
    ("mbox: after the write", "fdatasync", 1,
     r"^fdatasync\(\d+<[^>]*/mbox/dave>", True),
    # the dotlock's removal: the mbox is synced, the done entry not yet
    # (the first unlink is the dotlock's temporary file, at the lock)
    ("mbox: after the sync", "unlink", 2, r"^unlink\(\"[^\"]*/dave\.lock\"",
     True),
]


def mbox_copies(srv, tag):
    try:
        with open(srv.maildrop("dave"), "rb") as f:
            return f.read().count(b"Message-ID: <%s@faults.example>" % tag)
    except FileNotFoundError:
        return 0


def test_lda_child_killed_mbox(ctx):
    """The same for an mbox: the pending entry names the offset, and the
    retry finds the killed attempt's message there (compared octet for
    octet but the From_ line's date) instead of appending it again."""
    need_strace()
    srv = ctx.server(store="mbox")
    srv.fill("dave", [])
    rc, err = lda(srv, "dave", message(b"mbox-warm-%d" % os.getpid()))
    eq(rc, 0, "warm-up delivery (%s)" % err)
    for n, (what, call, nth, pattern, written) in enumerate(MBOX_STEPS):
        tag = b"mbox-%d-%d" % (n, os.getpid())
        log = os.path.join(ctx.tmp, "mbox-%d.trace" % n)
        rc, err = lda(srv, "dave", message(tag), inject_args(call, nth, log) +
                      ["-e", "trace=fdatasync,unlink"], strace_env())
        eq(rc, 75, "%s: exit of the LDA whose child was killed (%s)" %
           (what, err))
        check_killed_at(log, pattern, what)
        eq(mbox_copies(srv, tag), 1 if written else 0,
           "%s: copies before the retry" % what)
        rc, err = lda(srv, "dave", message(tag))
        eq(rc, 0, "%s: the retry (%s)" % (what, err))
        eq(mbox_copies(srv, tag), 1, "%s: copies after the retry" % what)
    # a message the mbox does not hold at the recorded offset is stored
    tag = b"mbox-moved-%d" % os.getpid()
    log = os.path.join(ctx.tmp, "mbox-moved.trace")
    rc, err = lda(srv, "dave", message(tag),
                  inject_args("fdatasync", 1, log) +
                  ["-e", "trace=fdatasync,unlink"], strace_env())
    eq(rc, 75, "the killed attempt (%s)" % err)
    with open(srv.maildrop("dave"), "r+b") as f:
        data = f.read()
        cut = data.rindex(b"From s@example.org ")
        f.truncate(cut)          # as if the attempt never wrote
    rc, err = lda(srv, "dave", message(tag))
    eq(rc, 0, "the retry after the copy vanished (%s)" % err)
    eq(mbox_copies(srv, tag), 1, "stored again when not found")


# --- LMTP, the worker of satchel serve ---------------------------------


def lmtp_workers(srv):
    return [p for p, c in srv.children().items() if c == "satchel-lmtp"]


def lmtp_worker(srv):
    wait_for(lambda: len(lmtp_workers(srv)) == 1, 15, "one LMTP worker")
    return lmtp_workers(srv)[0]


def new_lmtp_worker(srv, old):
    wait_for(lambda: [p for p in lmtp_workers(srv) if p != old], 15,
             "an LMTP worker in place of %d" % old)
    return lmtp_worker(srv)


def lmtp_transaction(data, rcpt="dave@example.org"):
    """One LMTP transaction over TCP. Returns the replies as text, up to
    the end of the connection or the reply after the final dot."""
    s = socket.create_connection(("127.0.0.1", LMTP_PORT), timeout=30)
    out = b""
    try:
        s.sendall(b"LHLO faults.example\r\nMAIL FROM:<s@example.org>\r\n"
                  b"RCPT TO:<%s>\r\nDATA\r\n" % rcpt.encode())
        while out.count(b"\r\n354 ") + out.startswith(b"354 ") == 0:
            chunk = s.recv(4096)
            if not chunk:
                return out.decode("latin-1")
            out += chunk
        s.sendall(stuff(data) + b".\r\n")
        mark = len(out)
        while b"\r\n" not in out[mark:]:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out.decode("latin-1")
    finally:
        s.close()


def attach(pid, call, nth, log):
    """strace attached to every thread of pid ("Process N attached with
    M threads" once all are), killing at the n-th call."""
    tr = subprocess.Popen(inject_args(call, nth, log) + ["-p", str(pid)],
                          stderr=subprocess.PIPE, env=strace_env())
    try:
        line = tr.stderr.readline()
        check(b"attached" in line, "strace did not attach to %d: %r" %
              (pid, line))
    except BaseException:
        tr.kill()
        tr.wait()
        raise
    return tr


def test_lmtp_worker_killed_at_each_step(ctx):
    need_strace()
    ctx.workers_may_change = True
    srv = ctx.srv
    warm(srv, "dave")
    for n, (what, call, nth, pattern, in_new) in enumerate(STEPS):
        tag = b"lmtp-%d-%d" % (n, os.getpid())
        pid = lmtp_worker(srv)
        log = os.path.join(ctx.tmp, "lmtp-%d.trace" % n)
        tr = attach(pid, call, nth, log)
        try:
            replies = lmtp_transaction(message(tag))
            tr.wait(timeout=20)
        finally:
            if tr.poll() is None:
                tr.kill()
                tr.wait()
        check("250 2.0.0" not in replies.split("354 ", 1)[-1],
              "%s: answered as delivered: %r" % (what, replies))
        check_killed_at(log, pattern, what)
        eq(len(copies(srv, "dave", tag)), 1 if in_new else 0,
           "%s: copies before the retry" % what)
        new_lmtp_worker(srv, pid)
        replies = lmtp_transaction(message(tag))
        check(re.search(r"\r\n250 2\.0\.0 <dave@example\.org>", replies),
              "%s: the retry: %r" % (what, replies))
        eq(len(copies(srv, "dave", tag)), 1, "%s: copies after the retry"
           % what)


def test_lmtp_worker_killed_after_its_250(ctx):
    ctx.workers_may_change = True
    srv = ctx.srv
    warm(srv, "dave")
    tag = b"after-250-%d" % os.getpid()
    pid = lmtp_worker(srv)
    replies = lmtp_transaction(message(tag))
    check(re.search(r"\r\n250 2\.0\.0 <dave@example\.org>", replies),
          "delivered: %r" % replies)
    os.kill(pid, signal.SIGKILL)
    eq(len(copies(srv, "dave", tag)), 1, "answered delivered: stored")
    new_lmtp_worker(srv, pid)
    # an MTA that lost the 250 with the connection sends it again
    replies = lmtp_transaction(message(tag))
    check(re.search(r"\r\n250 2\.0\.0 <dave@example\.org>", replies),
          "the retry: %r" % replies)
    eq(len(copies(srv, "dave", tag)), 1, "copies after the retry")


# --- a connection cut in DATA ---------------------------------------------


def test_cut_at_sampled_offsets_delivers_nothing(ctx):
    srv = ctx.srv
    srv.fill("erin", [])
    full = stuff(message(b"cut")) + b".\r\n"
    rng = random.Random(8)
    cuts = sorted(set(rng.sample(range(1, len(full) - 5), 20) +
                      [0, 1, len(full) - 5, len(full) - 4, len(full) - 3,
                       len(full) - 2, len(full) - 1]))
    for cut in cuts:
        s = socket.create_connection(("127.0.0.1", LMTP_PORT), timeout=30)
        s.sendall(b"LHLO cut.example\r\nMAIL FROM:<s@example.org>\r\n"
                  b"RCPT TO:<erin@example.org>\r\nDATA\r\n")
        got = b""
        while b"354 " not in got:
            chunk = s.recv(4096)
            check(chunk, "closed before 354 (cut %d): %r" % (cut, got))
            got += chunk
        s.sendall(full[:cut])
        s.close()
    # a whole message afterwards: the worker lives and read every cut
    replies = lmtp_transaction(message(b"whole"), "erin@example.org")
    check(re.search(r"\r\n250 2\.0\.0 <erin@example\.org>", replies),
          "the whole message: %r" % replies)
    eq(len(copies(srv, "erin", b"cut")), 0, "copies of the cut message "
       "(cuts at %s)" % cuts)
    eq(len(srv.maildir_files("erin")), 1, "files in erin's Maildir")
    eq(os.listdir(os.path.join(srv.maildrop("erin"), "tmp")), [],
       "tmp/ after the cuts")


# --- a POP3 session holding the maildrop -----------------------------------


def test_pop3_session_keeps_its_snapshot(ctx):
    srv = ctx.srv
    srv.fill("carol", make_msgs([simple_msg(1), simple_msg(2)], "maildir"))
    p = srv.login("carol")
    before = (p.stat(), p.list(), p.uidl())
    eq(before[0][0], 2, "messages at login")
    # both front ends deliver while the session holds the maildrop: not
    # blocked (the LDA would wait for its deadline, far past the timeout)
    rc, err = lda(srv, "carol", message(b"during-lda"))
    eq(rc, 0, "LDA delivery during the session (%s)" % err)
    replies = lmtp_transaction(message(b"during-lmtp"), "carol@example.org")
    check(re.search(r"\r\n250 2\.0\.0 <carol@example\.org>", replies),
          "LMTP delivery during the session: %r" % replies)
    eq((p.stat(), p.list(), p.uidl()), before,
       "STAT, LIST and UIDL in the session after the deliveries")
    p.ok("DELE 1")
    p.quit()
    srv.wait_unlocked("carol")
    p = srv.login_retry("carol")
    check(before[2][1] not in p.uidl().values(), "the deleted one is gone")
    p.quit()
    got = srv.read_all("carol")
    eq(len(got), 3, "messages in the next session (2 + 2 delivered - 1)")
    for tag in (b"during-lda", b"during-lmtp"):
        check(any(b"<%s@faults.example>" % tag in d for d in got),
              "%s read back in the next session" % tag.decode())
