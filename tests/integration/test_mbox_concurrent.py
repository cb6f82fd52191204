"""mbox UPDATE against a locking MDA: a delivery that opened the mbox and
waits on its fcntl lock while QUIT's compaction holds the locks is kept;
the deleted messages are gone and the kept ones intact (issue 7, item 6:
the old rewrite renamed a new file over the mbox, and the waiting MDA
appended to the unlinked one)."""
import fcntl
import os
import select
import subprocess
import sys

from harness import *

STORES = ("mbox",)

# The MDA, as Postfix local or procmail behave once they have the file
# open: wait for the fcntl lock (lockf = F_SETLKW), append, sync, unlock.
APPENDER = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
print("opened", flush=True)
if sys.stdin.readline() != "go\n":
    sys.exit(11)
fcntl.lockf(fd, fcntl.LOCK_EX)
data = sys.argv[2].encode()
while data:
    data = data[os.write(fd, data):]
os.fsync(fd)
fcntl.lockf(fd, fcntl.LOCK_UN)
print("appended", flush=True)
"""

LATE = ("From mda@example.org Tue Nov 26 05:00:00 2024\n"
        "From: mda@example.org\nSubject: delivered during UPDATE\n"
        "Message-ID: <late.test@example.org>\n\nLate body.\n\n")


def proc_locks(ino):
    """[(waiting, kind, pid)] of the locks /proc/locks shows on inode ino."""
    out = []
    with open("/proc/locks") as f:
        for line in f:
            tok = line.split()
            waiting = len(tok) > 1 and tok[1] == "->"
            i = 2 if waiting else 1
            if len(tok) >= i + 5 and tok[i + 4].rsplit(":", 1)[-1] == str(ino):
                out.append((waiting, tok[i], int(tok[i + 3])))
    return out


def mbox_bytes(msg):
    body = mboxrd_quote(msg.data)
    if not body.endswith(b"\n"):
        body += b"\n"
    return msg.envelope.encode() + b"\n" + body + b"\n"


def test_mda_appends_during_update(ctx):
    srv = ctx.srv
    msgs = srv.fill("alice", make_msgs(
        [("m%d" % i, simple_msg(i)) for i in (1, 2, 3)], "mbox"))
    path = srv.maildrop("alice")
    ino = os.stat(path).st_ino
    p = srv.login("alice")
    eq(p.stat()[0], 3, "messages at login")
    p.ok("DELE 1")
    p.ok("DELE 3")

    # our flock makes the commit wait while it holds dotlock + fcntl
    blocker = os.open(path, os.O_RDONLY)
    fcntl.flock(blocker, fcntl.LOCK_EX)
    mda = subprocess.Popen([sys.executable, "-c", APPENDER, path, LATE],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True)
    try:
        eq(mda.stdout.readline(), "opened\n", "the MDA opened the mbox")
        p.send("QUIT\r\n")

        def commit_holds_fcntl():
            return any(not w and k == "POSIX" and pid != mda.pid
                       for w, k, pid in proc_locks(ino))

        def quit_answered():
            return bool(p.buf) or bool(select.select([p.sock], [], [], 0)[0])

        wait_until(lambda: commit_holds_fcntl() or quit_answered(),
                   timeout=10, interval=0.001)
        held = commit_holds_fcntl()
        mda.stdin.write("go\n")
        mda.stdin.flush()
        blocked = held and wait_until(
            lambda: (True, "POSIX", mda.pid) in proc_locks(ino),
            timeout=10, interval=0.001)
    finally:
        os.close(blocker)
    starts(p.getline().decode("latin-1"), "+OK", "QUIT reply")
    check(p.wait_closed(), "connection still open after QUIT")
    try:
        out, _ = mda.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        mda.kill()
        mda.wait()
        raise AssertionError("the MDA never got the lock after QUIT")
    eq(mda.returncode, 0, "MDA exit status")

    with open(path, "rb") as f:
        now = f.read()
    check(LATE.encode() in now,
          "the message the MDA appended during UPDATE is lost "
          "(mbox: %s)" % short(now, 300))
    eq(now, mbox_bytes(msgs[1]) + LATE.encode(),
       "mbox after QUIT: the kept message, then the MDA's")
    eq(os.stat(path).st_ino, ino, "the mbox keeps its inode")
    check(held, "the server's commit never held the fcntl lock while "
          "waiting (QUIT answered first)")
    check(blocked, "the MDA was not seen blocked on the commit's lock")

    p = srv.login_retry("alice")
    eq(p.stat()[0], 2, "messages in the next session")
    eq(p.retr(1), msgs[1].expected, "the kept message, intact")
    check(b"Late body." in p.retr(2), "the MDA's message is the second")
    p.quit()
