"""satchel fetch against faults (issue #9): the client SIGKILLed at every
RETR, DELE and QUIT, the connection cut after N octets for a sweep of N,
then a rerun: nothing lost, nothing twice in the Maildir, nothing deleted
on the server that is not stored here. Then a hostile server (over-long
lines, a huge STAT, bad and repeated UIDLs, a body without its end, a
trickle, bytes injected after STLS, refusals with response codes), a full
disk, and strace's word that everything was fsync'd before the first DELE.

The server is tests/integration/faultpop.py, in this process.
"""
import re
import subprocess
import time

from harness import *
from faultpop import FaultPop

STORES = ()


def corpus(n=5):
    msgs = []
    for i in range(n):
        body = b"line %d\n.leading dot\n..two dots\n.\nend\n" % i
        if i == 2:
            body += b"\x00nul and 8-bit \xe9\xff\n"
        msgs.append(b"Subject: m%d\nMessage-ID: <%d@faultpop>\n\n" % (i, i) + body)
    return msgs


class Run:
    """One account (state dir, Maildir, password file) for many runs."""

    def __init__(self, ctx, name="acct"):
        self.dir = os.path.join(ctx.tmp, name)
        os.makedirs(self.dir)
        self.md = os.path.join(self.dir, "Maildir")
        self.state = os.path.join(self.dir, "state")
        self.pw = os.path.join(self.dir, "pw")
        with open(self.pw, "w") as f:
            f.write("pw\n")
        os.chmod(self.pw, 0o600)

    def args(self, srv, *extra, dest=None):
        return [SATCHEL, "fetch", srv.url(), "--tls", "none",
                "--password-file", self.pw, "--state-dir", self.state,
                "--to", "maildir:" + (dest or self.md), "--timeout", "5",
                "--quiet"] + list(extra)

    def fetch(self, srv, *extra, timeout=30, prefix=(), dest=None):
        env = dict(os.environ)
        if prefix:
            # LeakSanitizer cannot run under ptrace (strace)
            env["ASAN_OPTIONS"] = ":".join(
                x for x in (env.get("ASAN_OPTIONS"), "detect_leaks=0") if x)
        p = subprocess.Popen(list(prefix) + self.args(srv, *extra, dest=dest),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env)
        srv.client_pid = p.pid
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise AssertionError("satchel fetch took over %ds" % timeout)
        return p.returncode, err.decode("utf-8", "replace")

    def stored(self):
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.md, sub)
            if os.path.isdir(d):
                for n in sorted(os.listdir(d)):
                    with open(os.path.join(d, n), "rb") as f:
                        out.append(f.read())
        return out


def invariants(run, srv, original, what):
    got = run.stored()
    for m in got:
        check(m in original, "%s: a stored message is not one of the "
              "server's: %r" % (what, m[:60]))
    eq(len(got), len(set(got)), "%s: messages stored twice" % what)
    for i, m in enumerate(original):
        if srv.messages[i] is None:
            check(m in got, "%s: message %d deleted on the server but not "
                  "stored" % (what, i + 1))


def killed_then_rerun(ctx, label, kill_at, keep=False, **faults):
    original = corpus()
    srv = FaultPop(original, kill_at=kill_at, **faults)
    run = Run(ctx, label)
    extra = ["--keep"] if keep else []
    try:
        rc, err = run.fetch(srv, *extra)
        eq(rc, -9, "%s: the client was killed (%s)" % (label, err))
        invariants(run, srv, original, label + ", after the kill")
        srv.faults.pop("kill_at")
        rc, err = run.fetch(srv, *extra)
        eq(rc, 0, "%s: the rerun: %s" % (label, err))
        invariants(run, srv, original, label + ", after the rerun")
        eq(sorted(run.stored()), sorted(original),
           "%s: every message stored once" % label)
        if not keep:
            check(all(m is None for m in srv.messages),
                  "%s: all deleted on the server after the rerun" % label)
    finally:
        srv.stop()


def test_killed_at_every_retr(ctx):
    """Without PIPELINING a kill at RETR n comes after messages 1..n-1
    are stored but before the journal knows them: the rerun must find
    them by their Maildir keys. With it, the kill lands mid-window."""
    for n in range(1, 6):
        killed_then_rerun(ctx, "retr%d" % n, ("RETR", n), pipelining=False)
    for n in (1, 3, 5):
        killed_then_rerun(ctx, "piped-retr%d" % n, ("RETR", n))


def test_killed_at_every_dele_and_quit(ctx):
    for n in (1, 3, 5):
        killed_then_rerun(ctx, "dele%d" % n, ("DELE", n), pipelining=False)
        killed_then_rerun(ctx, "piped-dele%d" % n, ("DELE", n))
    killed_then_rerun(ctx, "quit", ("QUIT", 1))
    killed_then_rerun(ctx, "quit-after-update", ("QUIT", 1),
                      update_before_kill=True)
    killed_then_rerun(ctx, "keep-retr3", ("RETR", 3), keep=True,
                      pipelining=False)


def test_connection_cut_sweep(ctx):
    """The server closes after N octets, N swept over a whole session."""
    original = corpus()
    # what a session sends: greeting, CAPA, logins, listings, the bodies
    total = 600 + sum(len(m) + 40 for m in original)
    points = sorted(set(int(total * k / 24) for k in range(25)))
    for n in points:
        original = corpus()
        srv = FaultPop(original, drop_after=n)
        run = Run(ctx, "cut%d" % n)
        try:
            rc, err = run.fetch(srv)
            check(rc in (0, 75, 76), "cut at %d: exit %d (%s)" % (n, rc, err))
            invariants(run, srv, original, "cut at %d" % n)
            srv.faults.pop("drop_after")
            rc, err = run.fetch(srv)
            eq(rc, 0, "cut at %d: the rerun: %s" % (n, err))
            eq(sorted(run.stored()), sorted(original),
               "cut at %d: every message once" % n)
        finally:
            srv.stop()


def hostile(ctx, label, want_rc, messages=None, extra=(), timeout=30,
            **faults):
    original = messages or corpus(3)
    srv = FaultPop(original, **faults)
    run = Run(ctx, label)
    t0 = time.time()
    try:
        rc, err = run.fetch(srv, *extra, timeout=timeout)
        eq(rc, want_rc, "%s: exit (%s)" % (label, err))
        invariants(run, srv, original, label)
        return run, srv, err, time.time() - t0
    finally:
        srv.stop()


def test_hostile_server(ctx):
    hostile(ctx, "long-greeting", 76, greeting=b"+OK " + b"x" * 10000)
    hostile(ctx, "huge-stat", 76, stat=b"+OK 4000000000 1")
    run, srv, err, _ = hostile(ctx, "no-terminator", 75, no_terminator=True)
    eq(run.stored(), [], "a body without its end is never stored")
    check(all(m is not None for m in srv.messages), "nothing deleted")
    run, srv, err, took = hostile(ctx, "trickle", 75, trickle=0.2,
                                  extra=("--timeout", "1",
                                         "--session-timeout", "2"))
    check(took < 10, "a trickling server is cut off in time: %.1fs" % took)
    run, srv, err, _ = hostile(ctx, "stls-injection", 76, stls_inject=True,
                               extra=("--tls", "starttls"))
    sent = [l for _, l in srv.commands]
    check(not any(l.startswith((b"USER", b"PASS", b"AUTH")) for l in sent),
          "no credentials after an injection: %r" % sent)
    for code, want in ((b"IN-USE", 75), (b"LOGIN-DELAY", 75),
                       (b"SYS/TEMP", 75), (b"AUTH", 77)):
        hostile(ctx, "login-" + code.decode().replace("/", "-"), want,
                login_error=b"-ERR [" + code + b"] no")


def test_odd_uidls(ctx):
    """Too long, control octets, repeated: every message is still
    fetched once, and a rerun fetches nothing."""
    original = corpus(4)
    uidls = [b"x" * 100, b"ok-1", b"ok-1", b"bad\x01id"]
    srv = FaultPop(original, uidls=uidls)
    run = Run(ctx, "uidls")
    try:
        rc, err = run.fetch(srv, "--keep")
        eq(rc, 0, "odd UIDLs: %s" % err)
        eq(sorted(run.stored()), sorted(original), "each fetched once")
        rc, err = run.fetch(srv, "--keep")
        eq(rc, 0, "rerun: %s" % err)
        eq(len(run.stored()), 4, "the rerun fetched nothing more")
    finally:
        srv.stop()


def test_disk_full(ctx):
    """A Maildir on a small tmpfs (in a mount namespace of its own): the
    run that fills it exits 74 and deletes only what it stored; with room
    the next run stores the rest."""
    if not is_root() or shutil.which("unshare") is None:
        raise Skip("needs root and unshare")
    original = [b"Subject: big %d\n\n" % i + b"x" * 60000 + b"\n"
                for i in range(8)]
    srv = FaultPop(original)
    run = Run(ctx, "full")
    mnt = os.path.join(run.dir, "mnt")
    os.makedirs(mnt)
    report = os.path.join(run.dir, "report")
    args1 = " ".join("'%s'" % a for a in run.args(srv, dest=mnt + "/Maildir"))
    script = ("set -u; mount -t tmpfs -o size=256k tmpfs '%s' || exit 99; "
              "%s; echo first=$? >> '%s'; "
              "ls '%s/Maildir/new' | wc -l | sed 's/^/stored=/' >> '%s'; "
              "mount -o remount,size=8m '%s'; %s; echo second=$? >> '%s'; "
              "ls '%s/Maildir/new' | wc -l | sed 's/^/total=/' >> '%s'"
              % (mnt, args1, report, mnt, report, mnt, args1, report, mnt,
                 report))
    try:
        p = subprocess.run(["unshare", "-m", "--propagation", "private",
                            "sh", "-c", script], capture_output=True,
                           timeout=60)
        with open(report) as f:
            r = dict(l.strip().split("=") for l in f if "=" in l)
        eq(r.get("first"), "74", "the run that fills the disk: %r %s" % (r, p.stderr[-300:]))
        stored = int(r["stored"])
        check(0 < stored < 8, "some stored before the disk filled: %d" % stored)
        eq(r.get("second"), "0", "the run with room")
        eq(int(r["total"]), 8, "all stored once in the end")
        check(all(m is None for m in srv.messages), "all deleted in the end")
    finally:
        srv.stop()


def test_fsync_before_dele(ctx):
    """strace -y: each message file is synced (its fsync, or a syncfs of
    the file system for a batch) after its last write and before its
    link into new/; new/ is fsync'd after the last link; the journal is
    fdatasync'd after that and before the first DELE goes out."""
    if shutil.which("strace") is None:
        raise Skip("no strace")
    original = corpus(4)
    srv = FaultPop(original)
    run = Run(ctx, "strace")
    trace = os.path.join(run.dir, "trace")
    try:
        rc, err = run.fetch(srv, prefix=["strace", "-f", "-qq", "-y", "-s", "64",
                                         "-e", "trace=fsync,fdatasync,syncfs,"
                                         "linkat,write,sendto", "-o", trace])
        eq(rc, 0, "under strace: %s" % err)
    finally:
        srv.stop()
    with open(trace) as f:
        lines = f.read().splitlines()
    first_dele = next(i for i, l in enumerate(lines) if "DELE " in l)
    before = lines[:first_dele]
    links = [(i, l) for i, l in enumerate(before)
             if "linkat(" in l and "/new>" in l]
    eq(len(links), 4, "links into new/ before the DELE")
    for i, l in links:
        m = re.search(r'"/proc/self/fd/(\d+)"', l)
        check(m, "a message linked from its open file: %s" % l)
        fd = m.group(1)
        writes = [j for j in range(i) if re.search(r"write\(%s<" % fd, before[j])]
        check(writes, "message file fd %s written before its link" % fd)
        synced = any(re.search(r"(syncfs\(|fsync\(%s<)" % fd, before[j])
                     for j in range(writes[-1], i))
        check(synced, "fd %s synced between its last write and its link" % fd)
    last_link = links[-1][0]
    dir_syncs = [i for i, l in enumerate(before)
                 if i > last_link and re.search(r"fsync\(\d+<[^>]*/new>", l)]
    check(dir_syncs, "new/ fsync'd after the last link")
    journal = [i for i, l in enumerate(before) if "fdatasync(" in l]
    check(journal and dir_syncs and journal[-1] > dir_syncs[0],
          "the journal's sync comes after new/'s, before the DELE")
    syncs = len([l for l in lines if re.search(r"\b(fsync|fdatasync|syncfs)\(", l)])
    check(syncs / 4.0 <= 2.0, "syncs per message %.2f <= 2" % (syncs / 4.0))