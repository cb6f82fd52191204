"""satchel fetch against faults (issue #9): the client SIGKILLed at every
RETR, DELE and QUIT, the connection cut after N octets for a sweep of N,
then a rerun: nothing lost, nothing twice in the Maildir, nothing deleted
on the server that is not stored here. Then a hostile server (over-long
lines, a huge STAT, bad and repeated UIDLs, a body without its end, a
trickle, bytes injected after STLS, refusals with response codes), a full
disk, and strace's word that everything was fsync'd before the first DELE.

The server is tests/integration/faultpop.py, in this process.
"""
import json
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

    def args(self, srv, *extra, dest=None, to=None):
        return [SATCHEL, "fetch", srv.url(), "--tls", "none",
                "--password-file", self.pw, "--state-dir", self.state,
                "--to", to or "maildir:" + (dest or self.md), "--timeout", "5",
                "--quiet"] + list(extra)

    def fetch(self, srv, *extra, timeout=30, prefix=(), dest=None, to=None):
        env = dict(os.environ)
        if prefix:
            # LeakSanitizer cannot run under ptrace (strace)
            env["ASAN_OPTIONS"] = ":".join(
                x for x in (env.get("ASAN_OPTIONS"), "detect_leaks=0") if x)
        p = subprocess.Popen(list(prefix) + self.args(srv, *extra, dest=dest, to=to),
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
    original = corpus(12)  # the per-session syncs spread over them
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
    eq(len(links), len(original), "links into new/ before the DELE")
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
    per_msg = syncs / float(len(original))
    check(per_msg <= 2.0, "syncs per message %.2f <= 2" % per_msg)

def sizes_corpus():
    """Messages of 1, 2, ... 6 KB."""
    return [b"Subject: s%d\n\n" % i + b"x" * (1024 * (i + 1) - 20) + b"\n"
            for i in range(6)]


def test_delete_larger(ctx):
    """--delete-larger: the big ones go from the server unfetched (also
    with --keep), the others are fetched and kept."""
    original = sizes_corpus()
    srv = FaultPop(original)
    run = Run(ctx, "dellarger")
    try:
        rc, err = run.fetch(srv, "--keep", "--delete-larger", "3500")
        eq(rc, 0, "fetch: %s" % err)
        eq(sorted(run.stored()), sorted(original[:3]), "the small ones stored")
        eq([m is None for m in srv.messages], [False] * 3 + [True] * 3,
           "the large ones deleted on the server, the small ones kept")
        retr = [c for _, c in srv.commands if c.startswith(b"RETR")]
        eq(retr, [b"RETR 1", b"RETR 2", b"RETR 3"], "none of the large ones retrieved")
    finally:
        srv.stop()


def test_session_caps(ctx):
    """--max-messages and --max-bytes: the rest waits for the next
    session; a single message larger than the byte cap still comes."""
    original = sizes_corpus()
    srv = FaultPop(original)
    run = Run(ctx, "caps")
    try:
        for want in (2, 4, 6, 6):
            rc, err = run.fetch(srv, "--keep", "--max-messages", "2")
            eq((rc, len(run.stored())), (0, want), "2 per session: %s" % err)
        eq(sorted(run.stored()), sorted(original), "all of them in the end, once")
        srv2 = FaultPop(original)
        run2 = Run(ctx, "bytecap")
        try:
            # 1 + 2 KB fit 3500, then 3 KB alone, then 4 KB alone, ...
            for want in (2, 3, 4, 5, 6):
                rc, err = run2.fetch(srv2, "--keep", "--max-bytes", "3500")
                eq((rc, len(run2.stored())), (0, want), "byte cap: %s" % err)
        finally:
            srv2.stop()
    finally:
        srv.stop()


def mda_store(d, kill_at=0):
    """An MDA writing each message into d; with kill_at it SIGKILLs
    satchel fetch ($PPID of the MDA's shell) right after storing the
    kill_at-th one, before exiting 0: the delivery happened, the fetch
    never learned it."""
    kill = ('[ "$(ls %s | wc -l)" -eq %d ] && kill -9 $PPID; ' % (d, kill_at)
            if kill_at else "")
    return "mda:f=%s/$$.$(date +%%s%%N); cat > $f.tmp && mv $f.tmp $f; %sexit 0" % (d, kill)


def mda_stored(d):
    out = []
    for n in os.listdir(d):
        with open(os.path.join(d, n), "rb") as f:
            out.append(f.read())
    return out


def test_ambiguous_delivery(ctx):
    """MDA (no keys): a kill between the MDA's exit and the journal
    leaves exactly that one message unknown. The default (redeliver)
    delivers it again: one duplicate, nothing lost; --ambiguous skip
    records it: no duplicate. Any other kill point makes no duplicate."""
    original = corpus(4)
    for policy, dups in (("redeliver", 1), ("skip", 0)):
        srv = FaultPop(original, pipelining=False)
        run = Run(ctx, "ambiguous-" + policy)
        d = os.path.join(run.dir, "mda")
        os.makedirs(d)
        try:
            rc, err = run.fetch(srv, to=mda_store(d, kill_at=2))
            eq(rc, -9, "%s: killed during the MDA of message 2: %s" % (policy, err))
            eq(sorted(mda_stored(d)), sorted(original[:2]), "%s: two delivered" % policy)
            check(all(m is not None for m in srv.messages),
                  "%s: nothing deleted before the kill" % policy)
            # without --quiet: the log line must tell about the message
            args = [a for a in run.args(srv, "--ambiguous", policy, to=mda_store(d))
                    if a != "--quiet"]
            proc = subprocess.run(args, capture_output=True, timeout=30)
            err = proc.stderr.decode()
            eq(proc.returncode, 0, "%s: the rerun: %s" % (policy, err))
            got = mda_stored(d)
            eq(len(got), len(original) + dups, "%s: %d duplicate(s): %s" % (policy, dups, err))
            eq(set(got), set(original), "%s: every message delivered" % policy)
            if policy == "redeliver":
                eq(got.count(original[1]), 2, "the duplicate is message 2, the one in doubt")
                check("delivered again after an interrupted delivery" in err,
                      "the log says so: %s" % err)
            else:
                check("not delivered again" in err, "the log says so: %s" % err)
            check(all(m is None for m in srv.messages), "%s: all deleted in the end" % policy)
        finally:
            srv.stop()
    # killed at a RETR (after message n-1 was recorded): no duplicate
    for n in (2, 4):
        srv = FaultPop(original, pipelining=False, kill_at=("RETR", n))
        run = Run(ctx, "mda-retr%d" % n)
        d = os.path.join(run.dir, "mda")
        os.makedirs(d)
        try:
            rc, err = run.fetch(srv, to=mda_store(d))
            eq(rc, -9, "killed at RETR %d: %s" % (n, err))
            srv.faults.pop("kill_at")
            rc, err = run.fetch(srv, to=mda_store(d))
            eq(rc, 0, "rerun: %s" % err)
            eq(sorted(mda_stored(d)), sorted(original), "killed at RETR %d: each once" % n)
        finally:
            srv.stop()


def test_uidls_changed_match_headers(ctx):
    """Every UIDL changed (a server migration): the run stops (69) and
    fetches nothing; --match-headers finds the stored ones by their
    headers (TOP n 0), records them under their new UIDLs, and fetches
    only the one not stored here."""
    original = [b"Subject: mig %d\nMessage-ID: <%d@mig>\nFrom: a@b\n"
                b"Date: Mon, 1 Dec 2026 10:%02d:00 +0000\n\nbody %d\n" % (i, i, i, i)
                for i in range(12)]
    srv = FaultPop(original)
    run = Run(ctx, "migrate")
    try:
        rc, err = run.fetch(srv, "--keep")
        eq((rc, len(run.stored())), (0, 12), "first run: %s" % err)
        # one stored message goes missing here: it must be fetched again
        gone = [n for n in os.listdir(os.path.join(run.md, "new"))
                if open(os.path.join(run.md, "new", n), "rb").read() == original[5]]
        eq(len(gone), 1, "message 6 found in new/")
        os.unlink(os.path.join(run.md, "new", gone[0]))
        srv.faults["uidls"] = [b"moved-%d" % i for i in range(1, 13)]
        srv.commands.clear()
        rc, err = run.fetch(srv, "--keep")
        eq(rc, 69, "every UIDL changed: stop: %s" % err)
        check("UIDLs" in err and "--match-headers" in err, "and say so: %s" % err)
        eq(len(run.stored()), 11, "nothing fetched")
        srv.commands.clear()
        args = [a for a in run.args(srv, "--keep", "--match-headers") if a != "--quiet"]
        p = subprocess.run(args, capture_output=True, timeout=30)
        err = p.stderr.decode()
        eq(p.returncode, 0, "--match-headers: %s" % err)
        retr = [c for _, c in srv.commands if c.startswith(b"RETR")]
        tops = [c for _, c in srv.commands if c.startswith(b"TOP")]
        eq(retr, [b"RETR 6"], "only the one not stored is fetched")
        eq(len(tops), 12, "a TOP n 0 for each new UIDL")
        check("11 under new UIDLs found stored already" in err, "the log counts them: %s" % err)
        eq(sorted(run.stored()), sorted(original), "each message once")
        srv.commands.clear()
        rc, err = run.fetch(srv, "--keep")
        eq(rc, 0, "then a plain run: %s" % err)
        check(not any(c.startswith((b"RETR", b"TOP")) for _, c in srv.commands),
              "nothing fetched or compared again: %r" % srv.commands)
    finally:
        srv.stop()


def test_sdps_envelopes(ctx):
    """--sdps: *ENV n gives each message's envelope (a multidrop
    mailbox): a Maildir gets Return-Path and Delivered-To before the
    message, an MDA SENDER and RECIPIENT; a message *ENV says nothing
    of (or something unusable) goes as without SDPS."""
    original = corpus(4)
    envelopes = {1: (b"a@example.org", b"bob@example.com"),
                 2: (b"", b"<carol@example.com>"),
                 3: (b"x@example.org", b"bad address")}
    srv = FaultPop(original, envelopes=envelopes)
    run = Run(ctx, "sdps")
    try:
        args = [a for a in run.args(srv, "--keep", "--sdps") if a != "--quiet"]
        p = subprocess.run(args, capture_output=True, timeout=30)
        err = p.stderr.decode()
        eq(p.returncode, 0, "--sdps into a Maildir: %s" % err)
        envs = [c for _, c in srv.commands if c.startswith(b"*ENV")]
        eq(envs, [b"*ENV 1", b"*ENV 2", b"*ENV 3", b"*ENV 4"], "one *ENV per message")
        got = sorted(run.stored())
        want = sorted([b"Return-Path: <a@example.org>\nDelivered-To: bob@example.com\n" + original[0],
                       b"Return-Path: <>\nDelivered-To: carol@example.com\n" + original[1],
                       original[2], original[3]])
        eq(got, want, "the envelope before the messages that have one")
        check("2 without an envelope" in err, "the log counts the others: %s" % err)
    finally:
        srv.stop()
    srv = FaultPop(original, envelopes=envelopes)
    run = Run(ctx, "sdps-mda")
    d = os.path.join(run.dir, "mda")
    os.makedirs(d)
    try:
        rc, err = run.fetch(srv, "--sdps", to="mda:f=%s/$$; { echo \"to=${RECIPIENT-none} "
                            "from=${SENDER-none}\"; cat; } > $f" % d)
        eq(rc, 0, "--sdps into an MDA: %s" % err)
        firsts = sorted(m.split(b"\n", 1)[0] for m in mda_stored(d))
        eq(firsts, sorted([b"to=bob@example.com from=a@example.org",
                           b"to=carol@example.com from=",
                           b"to=none from=none", b"to=none from=none"]),
           "SENDER and RECIPIENT in the MDA's environment")
    finally:
        srv.stop()
    srv = FaultPop(original)
    run = Run(ctx, "nosdps")
    try:
        rc, err = run.fetch(srv, "--keep")
        eq(rc, 0, "without --sdps: %s" % err)
        check(not any(c.startswith(b"*ENV") for _, c in srv.commands), "no *ENV without --sdps")
    finally:
        srv.stop()


def test_preview_and_skip_header(ctx):
    """--preview lists the new messages from TOP n 0 (the server's text
    escaped) and changes nothing anywhere; --skip-header leaves the
    matching ones on the server, unfetched, and fetches the rest."""
    original = [b"From: Alice <a@x>\nSubject: hello\nDate: Mon, 1 Dec 2026\n\nbody 1\n",
                b"From: spammer\nSubject: buy\x1b[2J now\nX-Spam-Flag: YES\n\nbody 2\n",
                b"From: Bob <b@x>\nSubject: re: hello\n\nbody 3\n"]
    srv = FaultPop(original)
    run = Run(ctx, "preview")
    try:
        p = subprocess.run(run.args(srv, "--preview"), capture_output=True, timeout=30)
        eq(p.returncode, 0, "--preview: %s" % p.stderr.decode())
        lines = p.stdout.decode().splitlines()
        eq(len(lines), 3, "one line per new message: %r" % lines)
        check(lines[0].startswith("1 ") and "\tAlice <a@x>\thello\tMon, 1 Dec 2026" in lines[0],
              "number, size, From, Subject, Date: %r" % lines[0])
        check("\x1b" not in p.stdout.decode() and "buy\\x1b[2J now" in lines[1],
              "the server's control octets escaped: %r" % lines[1])
        eq(run.stored(), [], "nothing fetched")
        check(not any(c.startswith((b"RETR", b"DELE")) for _, c in srv.commands),
              "no RETR, no DELE: %r" % srv.commands)
        p = subprocess.run(run.args(srv, "--preview", "--json"), capture_output=True, timeout=30)
        events = [json.loads(l) for l in p.stdout.decode().splitlines()]
        previews = [e for e in events if e["event"] == "preview"]
        eq([e["subject"] for e in previews], ["hello", "buy\x1b[2J now", "re: hello"],
           "--json: preview events with the header values")
        rc, err = run.fetch(srv, "--skip-header", "x-spam-flag: yes")
        eq(rc, 0, "--skip-header: %s" % err)
        eq(sorted(run.stored()), sorted([original[0], original[2]]), "the others fetched")
        eq([m is None for m in srv.messages], [True, False, True],
           "the matching one left on the server, the fetched ones deleted")
        rc, err = run.fetch(srv, "--skip-header", "nocolon")
        eq(rc, 64, "a rule without a colon is refused: %s" % err)
    finally:
        srv.stop()


def test_refused_message_does_not_block_the_rest(ctx):
    """An MDA that fails for good on one message (exit 1, not 75): that
    one stays on the server, the others are delivered and deleted, the
    run exits 74 naming it; the next run tries only it again."""
    original = corpus(4)
    srv = FaultPop(original)
    run = Run(ctx, "refused")
    d = os.path.join(run.dir, "mda")
    os.makedirs(d)
    mda = ("mda:f=%s/$$; cat > $f.tmp; if grep -q '^Subject: m1$' $f.tmp; "
           "then rm $f.tmp; exit 1; fi; mv $f.tmp $f" % d)
    try:
        args = [a for a in run.args(srv, to=mda) if a != "--quiet"]
        p = subprocess.run(args, capture_output=True, timeout=30)
        err = p.stderr.decode()
        eq(p.returncode, 74, "a refused message: exit 74: %s" % err)
        check("1 refused by the destination" in err, "the log says so: %s" % err)
        eq(sorted(mda_stored(d)), sorted([original[0], original[2], original[3]]),
           "the others delivered")
        eq([m is None for m in srv.messages], [True, False, True, True],
           "only the refused one left on the server")
        srv.commands.clear()
        rc, err = run.fetch(srv, to=mda)
        eq(rc, 74, "still refused: %s" % err)
        eq([c for _, c in srv.commands if c.startswith(b"RETR")], [b"RETR 2"],
           "the next run tries only that one")
    finally:
        srv.stop()
