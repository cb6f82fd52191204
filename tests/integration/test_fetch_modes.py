"""satchel fetch's modes and exit codes (issue #9): --json events, the
progress line on a terminal (a pty; also while a message is held back),
--daemon rounds with SIGTERM/SIGINT and LOGIN-DELAY, OAuth tokens (XOAUTH2, OAUTHBEARER) from a command with the
one refresh, and the sysexits codes.

The servers: the module's satchel serve (ctx.srv), satchel serves of a
test's own (login_delay, OAuth bearer tokens with a JWT key, made as in
test_oauth) and faultpop.py (a LOGIN-DELAY announced but not enforced,
a RETR held back, refusals with response codes, odd UIDLs and server
text). Every wait is
on a state (a file in the Maildir, a JSON line, a connection) and
bounded; none is a fixed sleep.
"""
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import threading
import time
import tty

from harness import *
from faultpop import FaultPop
import test_oauth as oauth

STORES = ("maildir",)
USER = "alice"
EX_USAGE, EX_IOERR, EX_TEMPFAIL, EX_NOPERM = 64, 74, 75, 77

PROGRESS_RE = re.compile(
    r"\r(\S+): (\d+)/(\d+) messages, (\d+\.\d) MB, (\d+\.\d) MB/s, "
    r"ETA (\d+) s ")


# ------------------------------------------------------------- helpers

class Account:
    """A local side: Maildir, state dir and password file of one test."""

    def __init__(self, ctx, name="acct", password=None):
        self.dir = os.path.join(ctx.tmp, name)
        os.makedirs(self.dir)
        self.md = os.path.join(self.dir, "Maildir")
        self.state = os.path.join(self.dir, "state")
        self.pw = os.path.join(self.dir, "pw")
        with open(self.pw, "w") as f:
            f.write((password or PASSWORDS[USER]) + "\n")
        os.chmod(self.pw, 0o600)

    def args(self, url, *extra, dest=None, password=True):
        return ([SATCHEL, "fetch", url, "--tls", "none", "--state-dir",
                 self.state, "--to", dest or "maildir:" + self.md,
                 "--timeout", "10"] +
                (["--password-file", self.pw] if password else []) +
                list(extra))

    def run(self, url, *extra, timeout=60, **kw):
        """(exit, stdout, stderr) of one run."""
        p = subprocess.run(self.args(url, *extra, **kw), capture_output=True,
                           text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr

    def run_json(self, url, *extra, **kw):
        """(exit, events, stderr); every stdout line must be JSON."""
        rc, out, err = self.run(url, "--json", *extra, **kw)
        return rc, json_lines(out), err

    def stored(self):
        return maildir_contents(self.md)

    def count(self):
        n = 0
        for sub in ("new", "cur"):
            d = os.path.join(self.md, sub)
            n += len(os.listdir(d)) if os.path.isdir(d) else 0
        return n


def maildir_contents(md):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(md, sub)
        if os.path.isdir(d):
            for n in sorted(os.listdir(d)):
                with open(os.path.join(d, n), "rb") as f:
                    out.append(f.read())
    return out


def json_lines(out):
    """Each line of stdout as a JSON object; anything else fails."""
    check(out == "" or out.endswith("\n"), "stdout ends with a newline: %r"
          % out[-80:])
    events = []
    for line in out.splitlines():
        try:
            ev = json.loads(line)
        except ValueError as e:
            raise AssertionError("stdout line is not JSON (%s): %r" % (e, line))
        check(isinstance(ev, dict) and isinstance(ev.get("event"), str),
              "a JSON object with an event: %r" % line)
        events.append(ev)
    return events


def kinds(events):
    return [e["event"] for e in events]


def done_of(events, rc, what):
    """The one "done" event, last; its exit is the process's."""
    check(events and events[-1]["event"] == "done",
          "%s: the last event is done: %r" % (what, events))
    eq(kinds(events).count("done"), 1, "%s: done events" % what)
    d = events[-1]
    eq(d.get("exit"), rc, "%s: done.exit vs the exit status" % what)
    for k in ("new", "deleted", "bytes"):
        check(isinstance(d.get(k), int) and d[k] >= 0,
              "%s: done.%s a count: %r" % (what, k, d))
    if rc == 0:
        check("error" not in d, "%s: no error on success: %r" % (what, d))
    else:
        check(isinstance(d.get("error"), str) and d["error"],
              "%s: done says why it failed: %r" % (what, d))
    return d


def server_url(srv, user=USER, auth=""):
    return "pop://%s%s@127.0.0.1:%d" % (user.replace("@", "%40"), auth,
                                        srv.port)


def on_server(srv, user=USER):
    root = srv.maildrop(user)
    return sum(len(os.listdir(os.path.join(root, sub)))
               for sub in ("new", "cur") if os.path.isdir(os.path.join(root, sub)))


def listing(srv, user=USER, password=None):
    """{uidl: LIST size} of user's maildrop, over POP3."""
    p = srv.login_retry(user) if password is None else srv.login(user, password)
    sizes, uidls = p.list(), p.uidl()
    p.quit()
    srv.wait_unlocked(user)
    return {uidls[n]: sizes[n] for n in sizes}


def fill(srv, n, user=USER, big=None, first=1):
    msgs = [simple_msg(i, body="line %d\n.dot line\n..two\nend\n" % i)
            for i in range(first, first + n)]
    if big:
        msgs.append(gen_attachment(big))
    srv.fill(user, make_msgs(msgs, "maildir"))
    return sorted(msgs)


def deliver(srv, i, user=USER):
    """One message more on the server, written into tmp/ and renamed into
    new/ (the server never sees it half written); a name later than all."""
    data = simple_msg(i, subject="arrived later %d" % i)
    root = srv.maildrop(user)
    name = "1900000000.M%dP1.later" % i
    tmp = os.path.join(root, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(data)
    srv.fix_owner(tmp)
    os.rename(tmp, os.path.join(root, "new", name))
    return data


def procs_with(text):
    """PIDs of live processes whose command line holds text."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if text.encode() in f.read():
                        out.append(int(d))
            except OSError:
                pass
    return out


class Daemon:
    """satchel fetch --daemon with --json: stdout's events collected (with
    the time each arrived) by a thread, stderr by another."""

    def __init__(self, args, unique):
        self.unique = unique          # in its command line: finds children
        self.events = []
        self.bad = []
        self.err = []
        self.p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.threads = [threading.Thread(target=self._out, daemon=True),
                        threading.Thread(target=self._errs, daemon=True)]
        for t in self.threads:
            t.start()

    def _out(self):
        for line in self.p.stdout:
            try:
                self.events.append((time.time(), json.loads(line)))
            except ValueError:
                self.bad.append(line)

    def _errs(self):
        for line in self.p.stderr:
            self.err.append(line.decode("utf-8", "replace").rstrip("\n"))

    def dones(self):
        return [e for _, e in self.events if e.get("event") == "done"]

    def wait_dones(self, n, timeout, what):
        wait_for(lambda: len(self.dones()) >= n, timeout,
                 "%s: %d done events (have %r; stderr %r)"
                 % (what, n, self.dones(), self.err[-3:]))

    def stop(self, sig=signal.SIGTERM, timeout=5):
        """Sends sig; (exit status, seconds to exit)."""
        t0 = time.monotonic()
        self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("the daemon did not exit within %ds of %s"
                                 % (timeout, signal.Signals(sig).name))
        took = time.monotonic() - t0
        for t in self.threads:
            t.join(5)
        return rc, took

    def cleanup(self):
        """Kills what is still running (by PID: the daemon, then the
        round's child processes, which carry its command line)."""
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(5)
        for pid in procs_with(self.unique):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class PtyRun:
    """args with stderr on a pseudo-terminal (raw: the bytes as written)
    and stdout a pipe, each read by a thread as it comes."""

    def __init__(self, args):
        master, slave = pty.openpty()
        tty.setraw(slave)
        try:
            self.p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=slave)
        finally:
            os.close(slave)
        self.master = master
        self.term = b""
        self.out = b""
        self.threads = [threading.Thread(target=self._term, daemon=True),
                        threading.Thread(target=self._out, daemon=True)]
        for t in self.threads:
            t.start()

    def _term(self):
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:     # EIO: every copy of the slave is closed
                return
            if not chunk:
                return
            self.term += chunk

    def _out(self):
        self.out = self.p.stdout.read()

    def text(self):
        return self.term.decode("utf-8", "replace")

    def wait(self, timeout=60):
        """(exit, stdout bytes, terminal bytes)."""
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("no end within %ds" % timeout)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait(5)
        for t in self.threads:
            t.join(5)
        os.close(self.master)
        return rc, self.out, self.term


def run_on_pty(args, timeout=60):
    return PtyRun(args).wait(timeout)


# ---------------------------------------------------------------- --json

def test_json_events(ctx):
    """--json: "connected", one "message" per message (its UIDL and its
    LIST size) and "done" (new, deleted, bytes, exit) with the account,
    one JSON object per line and nothing else on stdout; the counts say
    what happened; a refused login is a "done" with its exit and error."""
    srv = ctx.srv
    want = fill(srv, 3, big=200000)
    server = listing(srv)
    acct = Account(ctx)
    rc, events, err = acct.run_json(server_url(srv))
    eq(rc, 0, "exit (%s)" % err)
    eq(kinds(events), ["connected", "message", "message", "message",
                       "message", "done"], "the events")
    name = "%s@127.0.0.1:%d" % (USER, srv.port)
    for e in events:
        eq(e.get("account"), name, "account of %r" % e)
    msgs = [e for e in events if e["event"] == "message"]
    eq(sorted(e["uidl"] for e in msgs), sorted(server), "UIDLs of the messages")
    for e in msgs:
        eq(e["size"], server[e["uidl"]], "size of %s (LIST's)" % e["uidl"])
    d = done_of(events, rc, "first run")
    stored = acct.stored()
    eq(sorted(stored), want, "the Maildir holds the messages")
    eq(d["new"], len(stored), "done.new vs the Maildir")
    eq(d["deleted"], 4, "done.deleted")
    srv.wait_unlocked(USER)
    eq(on_server(srv), 0, "the server holds none: done.deleted was true")
    eq(d["bytes"], sum(len(m) for m in stored), "done.bytes vs what was stored")
    check("4 new, 4 deleted" in err, "the log line on stderr: %r" % err)
    check("{" not in err, "no JSON on stderr: %r" % err)

    # nothing new: connected and done, all zero
    rc, events, err = acct.run_json(server_url(srv))
    eq(rc, 0, "second run (%s)" % err)
    eq(kinds(events), ["connected", "done"], "events with nothing new")
    d = done_of(events, rc, "second run")
    eq((d["new"], d["deleted"], d["bytes"]), (0, 0, 0), "nothing done")

    # a refused login: no "connected" (no session), done with exit 77
    fill(srv, 1)
    bad = Account(ctx, "bad", password="not-the-password")
    rc, events, err = bad.run_json(server_url(srv))
    eq(rc, EX_NOPERM, "wrong password (%s)" % err)
    eq(kinds(events), ["done"], "events of a refused login")
    d = done_of(events, rc, "refused login")
    check("refused" in d["error"], "done.error says refused: %r" % d)
    eq((d["new"], d["deleted"]), (0, 0), "nothing fetched or deleted")
    eq(bad.stored(), [], "nothing stored")


def test_json_escapes_server_text(ctx):
    """UIDLs with quotes and backslashes come out as the same strings;
    server text with control octets and quotes stays one valid JSON line,
    its control octets escaped (\\xNN) rather than passed on."""
    msgs = [b"Subject: q%d\n\nbody %d\n" % (i, i) for i in range(3)]
    uidls = [b'quo"te', b"back\\slash", b"{brace}:" + b"x" * 60]
    srv = FaultPop(msgs, uidls=uidls)
    try:
        acct = Account(ctx, password="pw")
        rc, events, err = acct.run_json(srv.url(), "--keep")
        eq(rc, 0, "odd UIDLs (%s)" % err)
        got = sorted(e["uidl"] for e in events if e["event"] == "message")
        eq(got, sorted(u.decode() for u in uidls), "UIDLs as the server said")
        eq(sorted(acct.stored()), sorted(msgs), "all stored")
    finally:
        srv.stop()
    srv = FaultPop(msgs, login_error=b'-ERR [SYS/TEMP] "busy" \\ \x01\x1b[2J'
                   b"\x7f try later")
    try:
        acct = Account(ctx, "temp", password="pw")
        rc, events, err = acct.run_json(srv.url())
        eq(rc, EX_TEMPFAIL, "[SYS/TEMP] (%s)" % err)
        eq(kinds(events), ["done"], "events")
        e = done_of(events, rc, "[SYS/TEMP]")["error"]
        check("deferred" in e and '"busy"' in e, "the server's text: %r" % e)
        check(not any(ord(c) < 0x20 or ord(c) == 0x7f for c in e),
              "no control octets in done.error: %r" % e)
        check("\\x01" in e and "\\x1b" in e and "\\x5c" in e,
              "control octets and the backslash as \\xNN: %r" % e)
        check("\x1b" not in err and "\\x1b" in err,
              "nor on stderr (escaped there too): %r" % err)
    finally:
        srv.stop()


# ------------------------------------------------------------- progress

def test_progress_on_a_terminal(ctx):
    """With stderr on a terminal: "NAME: n/m messages, x MB, y MB/s, ETA
    z s", rewritten in place (\\r) per message, n counting up to m, the
    last one at the total size with ETA 0, then the log line on a line
    of its own. Not without a terminal, not with --quiet or --json."""
    srv = ctx.srv
    fill(srv, 3, big=1500000)
    acct = Account(ctx)
    url = server_url(srv)
    rc, out, term = run_on_pty(acct.args(url))
    text = term.decode("utf-8", "replace")
    eq(rc, 0, "exit on a terminal (%r)" % text[-300:])
    lines = PROGRESS_RE.findall(text)
    check(lines, "a progress line on the terminal: %r" % text[:400])
    name = "%s@127.0.0.1:%d" % (USER, srv.port)
    eq(sorted(set(l[0] for l in lines)), [name], "the account in it")
    eq(sorted(set(l[2] for l in lines)), ["4"], "m: the messages to fetch")
    counts = [int(l[1]) for l in lines]
    eq(counts, sorted(counts), "n counts up")
    eq(counts[-1], 4, "the last line: all fetched")
    last = lines[-1]
    m = re.search(r"4 new, 4 deleted, (\d+) bytes", text)
    check(m, "the log line after it: %r" % text[-300:])
    eq(float(last[3]), round(int(m.group(1)) / 1e6, 1),
       "the last line's MB: all bytes (%s)" % m.group(1))
    check(float(last[3]) >= 1.5, "over 1.5 MB fetched: %r" % (last,))
    eq(last[5], "0", "ETA at the end")
    check(float(last[4]) > 0, "a rate: %r" % (last,))
    check(re.search(r"ETA 0 s \n+fetch: ", text),
          "the log line below the progress line: %r" % text[-200:])
    eq(out, b"", "nothing on stdout")

    # no terminal: the log line only
    fill(srv, 3, big=1500000)
    rc, out, err = Account(ctx, "pipe").run(url)
    eq(rc, 0, "exit without a terminal")
    check("messages," not in err and "\r" not in err and "ETA" not in err,
          "no progress without a terminal: %r" % err)
    check(re.match(r"fetch: \S+: 4 new, 4 deleted, \d+ bytes in [\d.]+ s\n$",
                   err), "just the log line: %r" % err)

    # --quiet on a terminal: nothing at all
    fill(srv, 3, big=1500000)
    q = Account(ctx, "quiet")
    rc, out, term = run_on_pty(q.args(url, "--quiet"))
    eq(rc, 0, "exit with --quiet")
    eq(term, b"", "--quiet on a terminal: nothing written there")
    eq(q.count(), 4, "--quiet fetched")

    # --json on a terminal: events on stdout, the log line, no progress
    fill(srv, 3, big=1500000)
    j = Account(ctx, "json")
    rc, out, term = run_on_pty(j.args(url, "--json"))
    text = term.decode("utf-8", "replace")
    eq(rc, 0, "exit with --json")
    check("messages," not in text and "ETA" not in text and "\r" not in text,
          "no progress with --json: %r" % text)
    check("4 new, 4 deleted" in text, "the log line: %r" % text)
    eq(kinds(json_lines(out.decode())).count("message"), 4, "the events")


def test_progress_while_fetching(ctx):
    """The progress line is there while the mail comes, not only once it
    all came: with message 2 of 3 held back by the server, message 1
    (received whole) shows as 1/3 before the run goes on."""
    msgs = [b"Subject: p%d\n\n" % i + b"x" * 5000 + b"\n" for i in range(3)]
    srv = FaultPop(msgs, hold=("RETR", 2), pipelining=False)
    try:
        acct = Account(ctx, "live", password="pw")
        run = PtyRun(acct.args(srv.url()))
        try:
            wait_for(srv.held.is_set, 10, "RETR 2 (held)")
            shown = wait_until(lambda: re.search(r"1/3 messages", run.text()), 5)
            then = run.text()
        finally:
            srv.release.set()
        rc, out, term = run.wait()
        eq(rc, 0, "exit (%r)" % term[-200:])
        check(re.search(r"3/3 messages", run.text()), "the last line: %r" % run.text())
        check(shown, "a progress line while RETR 2 was held (5 s): the "
              "terminal showed %r then, and at the end %r"
              % (then, run.text()[:300]))
    finally:
        srv.stop()


# --------------------------------------------------------------- daemon

def daemon_args(acct, url, interval, *extra):
    return acct.args(url, "--daemon", "--interval", str(interval), "--json",
                     "--quiet", *extra)


def test_daemon_rounds_and_sigterm(ctx):
    """--daemon --interval 1: a message delivered after a round shows up
    in the Maildir by a later round, each once; SIGTERM stops it with 0
    and leaves no round running."""
    srv = ctx.srv
    want = fill(srv, 2)
    acct = Account(ctx, "daemon")
    d = Daemon(daemon_args(acct, server_url(srv), 1), acct.state)
    try:
        wait_for(lambda: acct.count() == 2, 15, "the first round's 2 messages")
        for i in (3, 4):
            want.append(deliver(srv, 100 + i))
            wait_for(lambda: acct.count() == i, 15,
                     "message %d fetched by a later round (stderr %r)"
                     % (i, d.err[-3:]))
        rounds = len(d.dones())
        d.wait_dones(rounds + 1, 15, "a round after the last message")
        rc, took = d.stop()
        eq(rc, 0, "exit after SIGTERM (stderr %r)" % d.err[-3:])
        eq(procs_with(acct.state), [], "no round left running")
        eq(sorted(acct.stored()), sorted(want), "each message once")
        dones = d.dones()
        check(len(dones) >= 3, "at least 3 rounds: %r" % dones)
        eq([x["exit"] for x in dones], [0] * len(dones), "every round's exit")
        eq(sum(x["new"] for x in dones), 4, "new messages over the rounds")
        eq(d.bad, [], "stdout: JSON lines only")
        srv.wait_unlocked(USER)
        eq(on_server(srv), 0, "all deleted on the server")
    finally:
        d.cleanup()


def test_daemon_signal_while_sleeping(ctx):
    """A long interval is cut short: SIGTERM (and SIGINT) in the sleep
    between rounds ends the daemon at once, with 0."""
    srv = FaultPop([b"Subject: one\n\nbody\n"])
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            acct = Account(ctx, "sleep-%s" % sig.name, password="pw")
            d = Daemon(daemon_args(acct, srv.url(), 600, "--keep"), acct.state)
            try:
                d.wait_dones(1, 15, "the first round")
                eq(d.dones()[0]["exit"], 0, "first round")
                rc, took = d.stop(sig, timeout=5)
                eq(rc, 0, "exit after %s in the sleep" % sig.name)
                check(took < 3, "%s ends the sleep at once: %.1fs"
                      % (sig.name, took))
                eq(len(d.dones()), 1, "no second round")
            finally:
                d.cleanup()
    finally:
        srv.stop()


def test_daemon_sigterm_after_a_failed_round(ctx):
    """SIGTERM is a clean stop also when the last round failed (the server
    went away): exit 0, as after a good round. The rounds' failures are
    in their log lines and events; the daemon's own status is how it
    stopped (systemd counts a non-zero one as a failed stop)."""
    srv = FaultPop([b"Subject: one\n\nbody\n"])
    acct = Account(ctx, "gone", password="pw")
    d = Daemon(daemon_args(acct, srv.url(), 1, "--keep"), acct.state)
    try:
        d.wait_dones(1, 15, "the first round")
        eq(d.dones()[0]["exit"], 0, "the first round")
        srv.stop()     # connection refused from now on
        wait_for(lambda: any(x["exit"] == EX_TEMPFAIL for x in d.dones()), 15,
                 "a round that finds the server down (%r)" % d.dones())
        rc, took = d.stop()
        eq(rc, 0, "exit after SIGTERM following a failed round")
    finally:
        d.cleanup()
        srv.stop()


def read_next(acct, name):
    path = os.path.join(acct.state, name + ".next")
    with open(path) as f:
        return int(f.read().strip())


def test_daemon_login_delay_serve(ctx):
    """satchel serve with login_delay = 3 announces LOGIN-DELAY 3: the
    daemon records NAME.next (its login + 3 s) and starts no session
    before then (the server would answer [LOGIN-DELAY]: no round fails),
    then fetches what arrived meanwhile."""
    srv = ctx.server(opts={"login_delay": "3"}).start()
    fill(srv, 1)
    acct = Account(ctx, "ld")
    name = "%s@127.0.0.1:%d" % (USER, srv.port)
    t0 = time.time()
    d = Daemon(daemon_args(acct, server_url(srv), 1), acct.state)
    try:
        d.wait_dones(1, 15, "the first round")
        eq(d.dones()[0]["new"], 1, "the first round's message")
        t1 = d.events[-1][0]
        nxt = read_next(acct, name)
        check(int(t0) + 3 <= nxt <= int(t1) + 3 + 1,
              "NAME.next is the login + 3 s: %d (run %.1f..%.1f)" % (nxt, t0, t1))
        later = deliver(srv, 200)
        wait_for(lambda: acct.count() == 2, 15,
                 "the message delivered during the delay (stderr %r)" % d.err[-3:])
        seen = time.time()
        check(seen >= nxt, "fetched only after NAME.next: %.2f < %d" % (seen, nxt))
        d.wait_dones(2, 10, "the second round's done")
        rc, took = d.stop()
        eq(rc, 0, "exit after SIGTERM")
        dones = d.dones()
        eq([(x["exit"], x["new"]) for x in dones], [(0, 1), (0, 1)],
           "two sessions, no refused one in between")
        check(later in acct.stored(), "the later message stored")
        wait_for(lambda: srv.log_text().count("login: user=%s " % USER) >= 2,
                 5, "the server's second login line")
        log = srv.log_text()
        eq(log.count("login: user=%s " % USER), 2, "logins on the server")
        check("login refused (login delay)" not in log,
              "no login during the delay: %s" % srv.log_tail(6))
    finally:
        d.cleanup()


def test_daemon_login_delay_not_enforced(ctx):
    """A server (faultpop) that announces LOGIN-DELAY 3 but would let the
    client in at any time: of two accounts in one daemon (-c, interval
    1), the delayed one gets no connection before its NAME.next, while
    the other is polled every round; then the delayed one is fetched."""
    a = FaultPop([b"Subject: a1\n\nfirst\n"], login_delay=3)
    b = FaultPop([], user="v")
    try:
        acct = Account(ctx, "two", password="pw")
        conf = os.path.join(acct.dir, "fetch.conf")
        with open(conf, "w") as f:
            f.write("state_dir = %s\nparallel = 2\n\n" % acct.state)
            for n, s in (("delayed", a), ("plain", b)):
                f.write("[%s]\nurl = %s\nto = maildir:%s\ntls = none\n"
                        "password_file = %s\ntimeout = 10\n\n"
                        % (n, s.url(), acct.md, acct.pw))
        d = Daemon([SATCHEL, "fetch", "-c", conf, "--daemon", "--interval",
                    "1", "--json", "--quiet"], conf)
        try:
            wait_for(lambda: (a.commands and a.commands[-1][1] == b"QUIT"),
                     15, "the delayed account's first session")
            eq(acct.count(), 1, "its message")
            nxt = read_next(acct, "delayed")
            check(nxt >= int(a.conn_times[0]) + 3,
                  "delayed.next is its login + 3: %d vs %.1f" % (nxt, a.conn_times[0]))
            check(not os.path.exists(os.path.join(acct.state, "plain.next")),
                  "no .next for the account without LOGIN-DELAY")
            a.messages.append(b"Subject: a2\n\nsecond\n")
            wait_for(lambda: a.conn_no >= 2, 15,
                     "a second session for the delayed account")
            check(a.conn_times[1] >= nxt,
                  "no connection before delayed.next: %.2f < %d"
                  % (a.conn_times[1], nxt))
            # each round ends before the next starts: A's second session
            # is in round 2 or 3, after B's sessions of rounds 0, 1, ...
            before = [t for t in b.conn_times if t < a.conn_times[1]]
            check(len(before) >= 2, "the other account went on in the "
                  "rounds that skipped the delayed one: %d sessions before"
                  % len(before))
            wait_for(lambda: acct.count() == 2, 10, "the delayed account's new message")
            rc, took = d.stop()
            eq(rc, 0, "exit after SIGTERM")
            eq([x["exit"] for x in d.dones()], [0] * len(d.dones()),
               "every session's exit")
        finally:
            d.cleanup()
    finally:
        a.stop()
        b.stop()


# ---------------------------------------------------------------- OAuth

def token_command(ctx, name, tokens):
    """A --password-command printing tokens[i] at its call i (the last
    one from then on), counting its calls in a file; (command, count
    file)."""
    d = os.path.join(ctx.tmp, name)
    os.makedirs(d)
    for i, t in enumerate(tokens):
        with open(os.path.join(d, "tok%d" % (i + 1)), "w") as f:
            f.write(t + "\n")
    count = os.path.join(d, "count")
    script = os.path.join(d, "helper.sh")
    with open(script, "w") as f:
        f.write('n=$(cat "%s" 2>/dev/null || echo 0); n=$((n + 1))\n'
                'echo $n > "%s"\n'
                '[ $n -le %d ] || n=%d\n'
                'cat "%s/tok$n"\n' % (count, count, len(tokens), len(tokens), d))
    return "sh " + script, count


def calls(count):
    try:
        with open(count) as f:
            return int(f.read())
    except FileNotFoundError:
        return 0


def auth_failures(srv, since, mech):
    return srv.log_text()[since:].count("auth failed: mech=%s " % mech)


def oauth_fetch(ctx, srv, name, mech, command):
    acct = Account(ctx, name)
    rc, events, err = acct.run_json(server_url(srv, oauth.USER, ";AUTH=" + mech),
                                    "--password-command", command,
                                    password=False)
    return acct, rc, events, err


def test_oauth_token_from_command(ctx):
    """XOAUTH2 and OAUTHBEARER against satchel serve with a JWT key, the
    token printed by --password-command: the mail comes, the token is
    in no output."""
    srv, priv = oauth.oauth_server(ctx, "rsa")
    good = oauth.token(priv)
    srv.secrets.add(good)
    for mech in ("XOAUTH2", "OAUTHBEARER"):
        want = fill(srv, 2, user=oauth.USER)
        cmd, count = token_command(ctx, "cmd-" + mech, [good])
        since = len(srv.log_text())
        acct, rc, events, err = oauth_fetch(ctx, srv, mech, mech, cmd)
        eq(rc, 0, "%s: exit (%s)" % (mech, err))
        eq(sorted(acct.stored()), want, "%s: the mail" % mech)
        eq(calls(count), 1, "%s: the command ran once" % mech)
        eq(kinds(events)[0], "connected", "%s: events" % mech)
        check(good not in err and good not in json.dumps(events),
              "%s: the token in no output" % mech)
        wait_for(lambda: "login: user=%s" % oauth.USER in srv.log_text()[since:],
                 5, "%s: the server's login line" % mech)
        eq(auth_failures(srv, since, mech), 0, "%s: no failed attempt" % mech)


def test_oauth_refresh_once(ctx):
    """A refused token is asked for once more: expired then valid is one
    retry and success; two bad ones are 77 with no third call and no
    third login; a failing helper on the retry is 77 too. A password
    command for PLAIN is never asked twice."""
    srv, priv = oauth.oauth_server(ctx, "rsa")
    good = oauth.token(priv)
    expired = oauth.token(priv, exp=-300)
    forged = good[:-8] + ("AAAAAAAA" if not good.endswith("AAAAAAAA") else "BBBBBBBB")
    srv.secrets.update((good, expired, forged))
    for mech in ("XOAUTH2", "OAUTHBEARER"):
        # expired, then a fresh one: one retry, the mail
        want = fill(srv, 2, user=oauth.USER)
        cmd, count = token_command(ctx, "refresh-" + mech, [expired, good])
        since = len(srv.log_text())
        acct, rc, events, err = oauth_fetch(ctx, srv, "r-" + mech, mech, cmd)
        eq(rc, 0, "%s: expired then fresh token (%s)" % (mech, err))
        eq(calls(count), 2, "%s: the command asked twice" % mech)
        eq(sorted(acct.stored()), want, "%s: fetched after the refresh" % mech)
        wait_for(lambda: auth_failures(srv, since, mech) >= 1, 5,
                 "%s: the server saw the expired token" % mech)
        eq(auth_failures(srv, since, mech), 1, "%s: one refused attempt" % mech)
        check(expired not in err and good not in err, "%s: no token on stderr" % mech)

        # two bad tokens: 77, two attempts, no third
        fill(srv, 1, user=oauth.USER)
        cmd, count = token_command(ctx, "twice-" + mech, [expired, forged, good])
        since = len(srv.log_text())
        acct, rc, events, err = oauth_fetch(ctx, srv, "b-" + mech, mech, cmd)
        eq(rc, EX_NOPERM, "%s: two refused tokens (%s)" % (mech, err))
        eq(calls(count), 2, "%s: no third call of the command" % mech)
        wait_for(lambda: auth_failures(srv, since, mech) >= 2, 5,
                 "%s: two refused attempts on the server" % mech)
        eq(auth_failures(srv, since, mech), 2, "%s: no third attempt" % mech)
        eq(acct.stored(), [], "%s: nothing stored" % mech)
        done_of(events, rc, "%s: two bad tokens" % mech)

    # the helper fails on the retry: the refusal stands (77), once more
    fill(srv, 1, user=oauth.USER)
    d = os.path.join(ctx.tmp, "failing")
    os.makedirs(d)
    count = os.path.join(d, "count")
    with open(os.path.join(d, "helper.sh"), "w") as f:
        f.write('n=$(cat "%s" 2>/dev/null || echo 0); echo $((n + 1)) > "%s"\n'
                '[ $n -eq 0 ] || exit 1\necho "%s"\n' % (count, count, expired))
    acct, rc, events, err = oauth_fetch(ctx, srv, "f", "XOAUTH2",
                                        "sh " + os.path.join(d, "helper.sh"))
    eq(rc, EX_NOPERM, "a helper failing on the retry (%s)" % err)
    eq(calls(count), 2, "asked twice")

    # not a token: a refused PLAIN password is not asked for again
    cmd, count = token_command(ctx, "plain", ["wrong-Pw.1", "wrong-Pw.2"])
    srv.secrets.update(("wrong-Pw.1", "wrong-Pw.2"))
    acct, rc, events, err = oauth_fetch(ctx, srv, "p", "PLAIN", cmd)
    eq(rc, EX_NOPERM, "PLAIN with a wrong password (%s)" % err)
    eq(calls(count), 1, "PLAIN: no refresh")


# ----------------------------------------------------------- exit codes

def test_exit_refused_77(ctx):
    """A refused password is 77, with USER/PASS and with SASL PLAIN, and
    for an -ERR with [AUTH] or without any code."""
    srv = ctx.srv
    fill(srv, 2)
    for auth in ("", ";AUTH=PLAIN", ";AUTH=*"):
        acct = Account(ctx, "wrong%d" % len(auth), password="wrong-Pw.77")
        rc, events, err = acct.run_json(server_url(srv, auth=auth))
        eq(rc, EX_NOPERM, "wrong password, %r (%s)" % (auth, err))
        done_of(events, rc, "wrong password %r" % auth)
        eq(acct.stored(), [], "nothing stored")
    srv.wait_unlocked(USER)
    eq(on_server(srv), 2, "nothing deleted")
    for reply in (b"-ERR [AUTH] invalid password", b"-ERR invalid password"):
        fp = FaultPop([b"Subject: x\n\nx\n"], login_error=reply)
        try:
            rc, events, err = Account(ctx, "fp%d" % len(reply),
                                      password="pw").run_json(fp.url())
            eq(rc, EX_NOPERM, "%r (%s)" % (reply, err))
            done_of(events, rc, repr(reply))
        finally:
            fp.stop()


def test_exit_tempfail_75(ctx):
    """75, and nothing lost, for [IN-USE] (satchel serve with the maildrop
    held by another session: USER/PASS and AUTH PLAIN), [LOGIN-DELAY]
    (satchel serve with login_delay, one run after another), [IN-USE],
    [LOGIN-DELAY] and [SYS/TEMP] from faultpop, a server that is down,
    and another run of the same account."""
    srv = ctx.srv
    fill(srv, 2)
    held = srv.login(USER)
    try:
        for auth in ("", ";AUTH=PLAIN"):
            acct = Account(ctx, "inuse%d" % len(auth))
            rc, events, err = acct.run_json(server_url(srv, auth=auth))
            eq(rc, EX_TEMPFAIL, "maildrop in use, %r (%s)" % (auth, err))
            e = done_of(events, rc, "in use")["error"]
            check("deferred" in e and "locked by another session" in e,
                  "the error says deferred, with the server's text: %r" % e)
            eq(acct.stored(), [], "nothing stored")
    finally:
        held.quit()
    srv.wait_unlocked(USER)
    eq(on_server(srv), 2, "nothing deleted")

    ld = ctx.server(opts={"login_delay": "60"}).start()
    fill(ld, 1)
    acct = Account(ctx, "delay")
    rc, out, err = acct.run(server_url(ld))
    eq(rc, 0, "the first login (%s)" % err)
    deliver(ld, 300)
    rc, events, err = acct.run_json(server_url(ld))
    eq(rc, EX_TEMPFAIL, "a login within login_delay (%s)" % err)
    e = done_of(events, rc, "login delay")["error"]
    check("deferred" in e and "too recently" in e,
          "the error says deferred, with the server's text: %r" % e)
    eq(acct.count(), 1, "nothing more stored")
    ld.wait_unlocked(USER)
    eq(on_server(ld), 1, "the new message waits on the server")

    for code in (b"IN-USE", b"LOGIN-DELAY", b"SYS/TEMP"):
        fp = FaultPop([b"Subject: x\n\nx\n"], login_error=b"-ERR [%s] later" % code)
        try:
            rc, events, err = Account(ctx, "fp-" + code.decode().replace("/", "-"),
                                      password="pw").run_json(fp.url())
            eq(rc, EX_TEMPFAIL, "[%s] (%s)" % (code.decode(), err))
            check("deferred" in done_of(events, rc, code.decode())["error"],
                  "the error says deferred: %r" % events)
            check(fp.messages[0] is not None, "nothing deleted")
        finally:
            fp.stop()

    down = free_port()
    rc, events, err = Account(ctx, "down").run_json(
        "pop://%s@127.0.0.1:%d" % (USER, down))
    eq(rc, EX_TEMPFAIL, "connection refused (%s)" % err)
    eq(kinds(events), ["done"], "a server that is down: no connected event")
    check("connect" in done_of(events, rc, "down")["error"],
          "the error says connect: %r" % events)

    # another run of the account: the first one holds its lock
    fp = FaultPop([b"Subject: x\n\nx\n"], trickle=0.05)
    acct = Account(ctx, "locked", password="pw")
    first = subprocess.Popen(acct.args(fp.url(), "--quiet"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: fp.conn_no == 1, 10, "the first run's connection")
        rc, events, err = acct.run_json(fp.url())
        eq(rc, EX_TEMPFAIL, "a second run of the account (%s)" % err)
        check("running" in done_of(events, rc, "second run")["error"],
              "says another run holds it: %r" % events)
        eq(kinds(events), ["done"], "no session of its own")
    finally:
        first.kill()
        first.wait(5)
        fp.stop()


def usage_cases(acct, url, port):
    return {
        "no URL": [SATCHEL, "fetch", "--to", "maildir:" + acct.md],
        "two URLs": acct.args(url, url),
        "no --to": [SATCHEL, "fetch", url, "--tls", "none",
                    "--password-file", acct.pw, "--state-dir", acct.state],
        "unknown option": acct.args(url, "--no-such-option"),
        "bad --tls": acct.args(url, "--tls", "sometimes"),
        "bad --timeout": acct.args(url, "--timeout", "soon"),
        "--timeout 0": acct.args(url, "--timeout", "0"),
        "--interval 0": acct.args(url, "--daemon", "--interval", "0"),
        "--interval soon": acct.args(url, "--daemon", "--interval", "soon"),
        "--keep-days 0": acct.args(url, "--keep-days", "0"),
        "imap URL": acct.args("imap://u@127.0.0.1:%d" % port),
        "no user": acct.args("pop://127.0.0.1:%d" % port),
        "a password in the URL": acct.args("pop://u:%s@127.0.0.1:%d"
                                           % (URL_SECRET, port)),
    }


URL_SECRET = "Url-Secret.9z"


def test_exit_usage_64(ctx):
    """A bad command line (options, URL, a password in the URL: RFC 2384)
    is 64, prints nothing on stdout and contacts nobody."""
    fp = FaultPop([b"Subject: x\n\nx\n"])
    acct = Account(ctx, "usage", password="pw")
    try:
        for what, args in usage_cases(acct, fp.url(), fp.port).items():
            p = subprocess.run(args, capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
            eq(p.returncode, EX_USAGE, "%s (%s)" % (what, p.stderr[-200:]))
            eq(p.stdout, "", "%s: nothing on stdout" % what)
        # every run ended before connecting: a probe's greeting comes
        # after any connection queued before it
        probe = Pop(fp.port)
        probe.ok("QUIT")
        eq(fp.conn_no, 1, "connections to the server (the probe's only)")
        eq(acct.stored(), [], "nothing stored")
    finally:
        fp.stop()


def test_usage_errors_say_why(ctx):
    """Each of those usage errors says something on stderr, and the one
    for a password in the URL does not print the password back ("secrets
    never printed": stderr goes to cron mail and logs)."""
    acct = Account(ctx, "why", password="pw")
    port = free_port()    # nothing listens: nothing may be contacted
    silent = []
    for what, args in usage_cases(acct, "pop://u@127.0.0.1:%d" % port,
                                  port).items():
        p = subprocess.run(args, capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        eq(p.returncode, EX_USAGE, "%s (%s)" % (what, p.stderr[-200:]))
        if not p.stderr.strip():
            silent.append(what)
        if what == "a password in the URL":
            leaked = URL_SECRET in p.stderr
            leak_text = p.stderr.strip()
    problems = []
    if silent:
        problems.append("64 without a word on stderr: %s" % ", ".join(silent))
    if leaked:
        problems.append("the URL's password printed back: %r" % leak_text)
    check(not problems, "; ".join(problems))


def test_exit_ioerr_74(ctx):
    """74 when the destination or the journal cannot be written: a Maildir
    or mbox path under a regular file, a state dir that is a file, a
    read-only Maildir (a read-only bind mount, as root: permissions do
    not stop root). Nothing deleted on the server."""
    srv = ctx.srv
    fill(srv, 2)
    acct = Account(ctx, "io")
    afile = os.path.join(acct.dir, "afile")
    with open(afile, "w") as f:
        f.write("not a directory\n")
    url = server_url(srv)
    for what, dest in (("Maildir under a file", "maildir:%s/Maildir" % afile),
                       ("mbox under a file", "mbox:%s/mbox" % afile),
                       ("mbox that is a directory", "mbox:%s" % acct.dir)):
        rc, events, err = acct.run_json(url, dest=dest)
        eq(rc, EX_IOERR, "%s (%s)" % (what, err))
        done_of(events, rc, what)
    state = Account(ctx, "state")
    with open(state.state, "w") as f:
        f.write("a file\n")
    rc, events, err = state.run_json(url)
    eq(rc, EX_IOERR, "state dir is a file (%s)" % err)
    check("journal" in done_of(events, rc, "state dir")["error"] or
          state.state in events[-1]["error"],
          "says the journal: %r" % events[-1])
    srv.wait_unlocked(USER)
    eq(on_server(srv), 2, "nothing deleted after those")

    if not is_root() or shutil.which("unshare") is None:
        raise Skip("the read-only Maildir needs root and unshare")
    ro = Account(ctx, "ro")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(ro.md, sub))
    args = ro.args(url, "--json")
    script = ("mount --bind '%s' '%s' && mount -o remount,bind,ro '%s' && "
              "exec %s" % (ro.md, ro.md, ro.md,
                           " ".join("'%s'" % a for a in args)))
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh",
                        "-c", script], capture_output=True, text=True,
                       timeout=60)
    eq(p.returncode, EX_IOERR, "a read-only Maildir (%s)" % p.stderr[-300:])
    events = json_lines(p.stdout)
    eq(kinds(events)[0], "connected", "it logged in (the write failed later)")
    d = done_of(events, p.returncode, "read-only Maildir")
    check(d["error"].startswith("delivery:"), "the error: %r" % d["error"])
    eq((d["new"], d["deleted"]), (0, 0), "nothing stored or deleted")
    eq(ro.stored(), [], "nothing in the Maildir")
    srv.wait_unlocked(USER)
    eq(on_server(srv), 2, "nothing deleted on the server")
