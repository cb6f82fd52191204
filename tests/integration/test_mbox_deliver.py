"""mbox delivery against the real lockers of Debian (issue 8, "Lock matrix
for mbox"): while dotlockfile (liblockfile-bin), flock(1) (util-linux),
postlock (postfix) or mutt_dotlock (mutt) holds the mbox, satchel's
appender (src/store/delivery_mbox.c, driven through the --append mode of
build/tests/test-delivery_mbox until `satchel deliver` exists) waits and
then appends; held past its deadline it fails temporarily (exit 75) and
leaves the mbox as it was. Then two writers append 1,000 messages each to
one mbox at once (satchel and procmail, satchel and satchel): the mbox
parses into 2,000 intact messages."""
import mailbox
import os
import shutil
import subprocess
import threading
import time

from harness import *
from test_mbox_concurrent import proc_locks

STORES = ()          # no server: the appender runs as a tool
HOLD_SECS = 1.0      # how long a holder keeps the lock while we wait
COUNT = 1000         # messages per writer in the concurrency tests


def tool():
    satchel = os.environ.get("SATCHEL", SATCHEL)
    path = os.path.join(os.path.dirname(satchel), "tests",
                        "test-delivery_mbox")
    check(os.access(path, os.X_OK), "no executable %s (make all)" % path)
    return path


def need(path, package):
    found = shutil.which(path) if not os.path.isabs(path) else (
        path if os.access(path, os.X_OK) else None)
    if found is None:
        raise Skip("%s not installed (Debian package %s)" % (path, package))
    return found


def message(tag, i):
    # a "From " line in the body: quoted by every writer (mboxo)
    return ("Subject: %s %d\nMessage-ID: <%s.%d@example.org>\n\n"
            "From inside %s %d\nbody %s %d\n" % (tag, i, tag, i, tag, i,
                                                 tag, i))


def body_on_disk(tag, i):
    return ">From inside %s %d\nbody %s %d\n" % (tag, i, tag, i)


def append(mbox, text, deadline_ms=10000):
    return subprocess.Popen([tool(), "--append", mbox, "a@example.org",
                             "--deadline-ms", str(deadline_ms)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def append_now(mbox, text):
    p = append(mbox, text)
    out, err = p.communicate(text.encode(), timeout=30)
    eq(p.returncode, 0, "append exit status (%s)" % err.decode().strip())


def parse(mbox):
    box = mailbox.mbox(mbox, create=False)
    try:
        return [(m.get_from(), m["Subject"], m.get_payload()) for m in box]
    finally:
        box.close()


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class Holder:
    """One real program holding the mbox lock its way until release()."""

    def __init__(self, ctx, mbox, kind):
        self.mbox, self.kind, self.proc = mbox, kind, None
        lock = mbox + ".lock"
        if kind == "dotlockfile":
            cmd = [need("dotlockfile", "liblockfile-bin"), "-l", "-r", "0",
                   lock, "cat"]
            self.holds = lambda: os.path.exists(lock)
        elif kind == "flock":
            cmd = [need("flock", "util-linux"), mbox, "cat"]
            self.holds = lambda: self._kernel_lock("FLOCK")
        elif kind == "postlock":
            conf = os.path.join(ctx.tmp, "postfix")
            os.makedirs(conf, exist_ok=True)
            # an empty main.cf: Postfix's own default locks, which are
            # Debian's "mailbox_delivery_lock = fcntl, dotlock"
            open(os.path.join(conf, "main.cf"), "w").close()
            cmd = [need("/usr/sbin/postlock", "postfix (installed with "
                        "the Postfix integration tests)"),
                   "-c", conf, mbox, "cat"]
            self.holds = lambda: (os.path.exists(lock) and
                                  self._kernel_lock("POSIX"))
        elif kind == "mutt_dotlock":
            self.dotlock = need("mutt_dotlock", "mutt")
            cmd = None
            self.holds = lambda: os.path.exists(lock)
        if cmd is not None:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL)
        else:
            r = subprocess.run([self.dotlock, mbox], timeout=10)
            eq(r.returncode, 0, "mutt_dotlock exit status")
        wait_for(self.holds, 10, "%s holds the lock" % kind)

    def _kernel_lock(self, kind):
        ino = os.stat(self.mbox).st_ino
        return any(not w and k == kind for w, k, pid in proc_locks(ino))

    def release(self):
        if self.proc is not None:
            self.proc.stdin.close()
            eq(self.proc.wait(timeout=10), 0, "%s exit status" % self.kind)
        else:
            r = subprocess.run([self.dotlock, "-u", self.mbox], timeout=10)
            eq(r.returncode, 0, "mutt_dotlock -u exit status")
        wait_for(lambda: not self.holds(), 10,
                 "%s released the lock" % self.kind)


def lock_matrix(ctx, kind):
    mbox = os.path.join(ctx.tmp, "u")
    append_now(mbox, message("first", 0))
    before = read_bytes(mbox)

    # held about a second: the append waits, then goes through
    h = Holder(ctx, mbox, kind)
    try:
        p = append(mbox, message("waited", 1))
        p.stdin.write(message("waited", 1).encode())
        p.stdin.close()
        try:
            p.wait(timeout=HOLD_SECS)
            raise AssertionError("the append ended (exit %s) while %s held "
                                 "the lock" % (p.returncode, kind))
        except subprocess.TimeoutExpired:
            pass
        eq(read_bytes(mbox), before, "mbox while the lock is held")
    finally:
        h.release()
    eq(p.wait(timeout=15), 0, "append exit status after the release")
    got = parse(mbox)
    eq(len(got), 2, "messages after the waited append")
    eq(got[1][1], "waited 1", "subject of the waited message")
    eq(got[1][2], body_on_disk("waited", 1), "body of the waited message")
    after = read_bytes(mbox)

    # held past the deadline: temporary failure, the mbox as it was
    h = Holder(ctx, mbox, kind)
    try:
        t0 = time.monotonic()
        p = append(mbox, message("late", 2), deadline_ms=1000)
        out, err = p.communicate(message("late", 2).encode(), timeout=15)
        took = time.monotonic() - t0
        eq(p.returncode, 75, "exit status with the lock held past the "
           "deadline")
        check(err.decode().startswith("4."),
              "the error starts with an enhanced status code: %r" % err)
        check(0.9 <= took < 8, "gave up after its deadline (%.2fs)" % took)
        eq(read_bytes(mbox), after, "mbox after the timed-out append")
    finally:
        h.release()
    check(not os.path.exists(mbox + ".lock"), "no dotlock left behind")


def test_dotlockfile(ctx):
    lock_matrix(ctx, "dotlockfile")


def test_flock(ctx):
    lock_matrix(ctx, "flock")


def test_postlock(ctx):
    lock_matrix(ctx, "postlock")


def test_mutt_dotlock(ctx):
    lock_matrix(ctx, "mutt_dotlock")


def satchel_writer(mbox, tag, results):
    """One process appending COUNT messages, each its own delivery."""
    data = "".join(message(tag, i) + "\0\n" for i in range(COUNT))
    p = subprocess.run([tool(), "--append", mbox, "a@example.org",
                        "--deadline-ms", "60000", "--each"],
                       input=data.encode(), capture_output=True,
                       timeout=110)
    results[tag] = (p.returncode, p.stderr.decode()[:300])


def procmail_writer(ctx, mbox, tag, results):
    """formail splits COUNT messages and runs procmail for each: dotlock
    (link) and fcntl, as procmail delivers to /var/mail."""
    rc = os.path.join(ctx.tmp, "procmailrc")
    with open(rc, "w") as f:
        # LOCKSLEEP: retry the dotlock at once, not after 8 s
        f.write("LOCKSLEEP=0\nLOGFILE=%s/procmail.log\n:0:\n%s\n"
                % (ctx.tmp, mbox))
    os.chmod(rc, 0o644)
    data = "".join("From pm@example.org Wed Dec  2 03:00:00 2026\n" +
                   message(tag, i) + "\n" for i in range(COUNT))
    p = subprocess.run([need("formail", "procmail"), "-s",
                        need("procmail", "procmail"), "-m", rc],
                       input=data.encode(), capture_output=True,
                       timeout=110)
    results[tag] = (p.returncode, p.stderr.decode()[:300])


def check_all(mbox, tags):
    got = parse(mbox)
    eq(len(got), COUNT * len(tags), "messages in the mbox")
    seen = set()
    for frm, subject, body in got:
        tag, num = subject.split(" ")
        i = int(num)
        check(tag in tags and (tag, i) not in seen,
              "unexpected or repeated message %r" % subject)
        seen.add((tag, i))
        eq(body, body_on_disk(tag, i), "body of %s" % subject)
        want = "pm@example.org" if tag == "procmail" else "a@example.org"
        check(frm.startswith(want + " "), "From_ line %r" % frm)


def concurrent(ctx, writers):
    mbox = os.path.join(ctx.tmp, "u")
    results = {}
    threads = [threading.Thread(target=w, args=a + (results,))
               for w, a in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for tag, (rc, err) in sorted(results.items()):
        eq(rc, 0, "%s writer exit status (%s)" % (tag, err))
    check_all(mbox, set(results))


def test_concurrent_satchel_procmail(ctx):
    need("procmail", "procmail")
    mbox = os.path.join(ctx.tmp, "u")
    concurrent(ctx, [(satchel_writer, (mbox, "satchel")),
                     (procmail_writer, (ctx, mbox, "procmail"))])


def test_concurrent_two_satchels(ctx):
    mbox = os.path.join(ctx.tmp, "u")
    concurrent(ctx, [(satchel_writer, (mbox, "one")),
                     (satchel_writer, (mbox, "two"))])
