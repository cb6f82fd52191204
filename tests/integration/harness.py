#!/usr/bin/python3
"""Integration test harness for satchel.

Starts the real binary on loopback and drives it with a raw POP3 client,
Python's poplib and real clients (curl, fetchmail, mpop, Perl Net::POP3).
Standard library only.

Usage:
    /usr/bin/python3 tests/integration/harness.py [--satchel build/satchel]
                     [-k SUBSTRING]... [--store maildir|mbox]
                     [--shard K/N | --queue DIR] [MODULE]...

Each tests/integration/test_*.py module may define:

    STORES = ("maildir", "mbox")  # run every test once per store; None = no
                                  # store, no shared server (tests make
                                  # their own with ctx.server(...))
    OPTS = {"key": "value"}       # -o overrides for the module's server
    CONFIG = {"key": "value"}     # extra lines in its config file
    EXTRA_USERS = {...}           # see Server.__init__

and functions test_NAME(ctx) in file order. A test fails by raising (plain
assert, or the helpers eq()/check() below). Output is one line per test:

    ok - MODULE[STORE].NAME
    not ok - MODULE[STORE].NAME: reason
    # diagnostic lines (the POP3 dialogue of the failed test, log tail)

followed by "# N passed, N failed". Exit status 1 if anything failed.

One server per module and store is reused by all of its tests; after each
test the harness checks that the master is alive and that no worker died
unexpectedly, and after the module that the server stops cleanly on SIGTERM
and that its log holds no sanitizer report and no password.
"""

import argparse
import errno
import importlib
import inspect
import os
import poplib
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS_DIR = os.path.join(HERE, "corpus")
SATCHEL = os.environ.get("SATCHEL", os.path.join(REPO, "build", "satchel"))
MAIL_USER = "satchel"           # the system user the Makefile creates
TEST_TIMEOUT = 120              # seconds, per test function
IO_TIMEOUT = 10                 # seconds, per socket operation
EX_CONFIG = 78

# poplib refuses lines longer than 2048 octets; the corpus has 20 KB lines.
poplib._MAXLINE = 1 << 24

SANITIZER_PATTERNS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                      "ThreadSanitizer", "MemorySanitizer")


def is_root():
    return os.geteuid() == 0


# ---------------------------------------------------------------- checks

class Skip(Exception):
    """Raise to report a test as skipped (counts as passed, says why)."""


def short(value, limit=160):
    text = repr(value)
    if len(text) > limit:
        text = text[:limit] + "...(%d chars)" % len(text)
    return text


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def eq(got, want, what="value"):
    if got != want:
        if isinstance(got, (bytes, str)) and isinstance(want, (bytes, str)) \
                and type(got) is type(want):
            raise AssertionError("%s differs: %s" % (what, describe_diff(got, want)))
        raise AssertionError("%s: got %s, want %s" % (what, short(got), short(want)))


def describe_diff(got, want):
    n = min(len(got), len(want))
    i = 0
    while i < n and got[i] == want[i]:
        i += 1
    return ("lengths got %d want %d, first difference at offset %d: "
            "got %s want %s" % (len(got), len(want), i,
                                short(got[max(0, i - 20):i + 40], 200),
                                short(want[max(0, i - 20):i + 40], 200)))


def capa_sasl(p):
    """The mechanisms of the SASL line of CAPA on session p ([] if none)."""
    data = p.multi_ok("CAPA").decode("latin-1")
    for line in data.split("\r\n"):
        if line.upper().startswith("SASL "):
            return line.split()[1:]
    return []


def starts(line, prefix, what="response"):
    if not line.startswith(prefix):
        raise AssertionError("%s: got %s, want it to start with %s"
                             % (what, short(line), short(prefix)))


def only(*stores):
    """Decorator: run this test only for these stores."""
    def deco(func):
        func.stores = stores
        return func
    return deco


def wait_for(predicate, timeout, what):
    """Polls predicate until it is true; raises AssertionError naming what
    was awaited when timeout seconds pass (what may be a callable, made
    into the text only then: a log tail as of the timeout). Returns the
    predicate's value."""
    value = wait_until(predicate, timeout, 0.02)
    if not value:
        raise AssertionError("timed out after %.1fs waiting for %s"
                             % (timeout, what() if callable(what) else what))
    return value


class TcpRecorder:
    """127.0.0.1:port -> target_host:target, one thread pair per connection:
    counts the octets the client sent (sent) and keeps its lines, one
    list per connection (sessions). The first drop_first connections
    are closed at once, before a byte is read (dropped counts them)."""

    def __init__(self, target, drop_first=0, target_host="127.0.0.1"):
        self.target = target
        self.target_host = target_host
        self.drop_first = drop_first
        self.dropped = 0
        self.sent = 0
        self.sessions = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.dropped < self.drop_first:
                self.dropped += 1
                c.close()
                continue
            s = socket.create_connection((self.target_host, self.target), 30)
            lines = []
            self.sessions.append(lines)
            threading.Thread(target=self._pipe, args=(c, s, lines), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, None), daemon=True).start()

    def _pipe(self, a, b, lines):
        buf = b""
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                if lines is not None:
                    self.sent += len(d)
                    buf += d
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        lines.append(line.rstrip(b"\r").decode("ascii", "replace"))
                b.sendall(d)
        except OSError:
            pass
        finally:
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def self_signed_cert(directory, name="selfsigned"):
    """A throw-away EC certificate for localhost in directory (for a test
    that only needs TLS up, not test_tls's CA): (cert, key) paths."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "30", "-subj", "/CN=localhost"],
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError("openssl req: %r" % r.stderr[-300:])
    os.chmod(key, 0o644)
    return cert, key


def wait_until(predicate, timeout=5.0, interval=0.05):
    """Polls predicate (bounded); returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# ------------------------------------------------------- message helpers

def to_crlf(data):
    """What RETR must send for stored bytes, before stuffing: bare LF ->
    CRLF, existing CRLF kept, lone CR kept, final CRLF added if missing."""
    out = re.sub(rb"(?<!\r)\n", b"\r\n", data)
    if not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out


def top_expected(data, nlines):
    """TOP n m of stored bytes: header, blank line, first m body lines."""
    conv = to_crlf(data)
    lines = re.findall(rb"[^\n]*\n", conv)
    out = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        i += 1
        if lines[i - 1] == b"\r\n":
            break
    else:
        return b"".join(out)
    out.extend(lines[i:i + nlines])
    return b"".join(out)


def stuff(data):
    return re.sub(rb"(^|\n)\.", rb"\1..", data)


class Msg:
    """One stored message. name: Maildir file name (base, with ':2,...'
    info if any); sub: 'new' or 'cur'; envelope: mbox From_ line."""

    def __init__(self, data, name=None, sub="new", envelope=None, label=None):
        self.data = data
        self.name = name
        self.sub = sub
        self.envelope = envelope
        self.label = label or name

    @property
    def base(self):
        return self.name.split(":", 1)[0] if self.name else None

    @property
    def expected(self):
        return to_crlf(self.data)

    @property
    def size(self):
        return len(self.expected)

    def __repr__(self):
        return "<Msg %s %d octets>" % (self.label, len(self.data))


def load_corpus():
    """The corpus: every file in corpus/ plus generated big messages."""
    msgs = []
    for fn in sorted(os.listdir(CORPUS_DIR)):
        if fn.endswith(".eml"):
            with open(os.path.join(CORPUS_DIR, fn), "rb") as f:
                msgs.append((fn[:-4], f.read()))
    msgs.append(("90-long-lines", gen_long_lines()))
    msgs.append(("91-attachment-1mb", gen_attachment(1 << 20)))
    return msgs


def gen_long_lines():
    parts = [b"From: long@example.org\nTo: alice@example.org\n"
             b"Subject: very long lines\n\n"]
    parts.append(b"x" * 12000 + b"\n")
    parts.append(b"." + b"d" * 15000 + b"\n")          # stuffed long line
    parts.append(b"y" * 20480 + b"\r\n")
    parts.append(b"z" * 1000 + b"\n.\n")
    parts.append(bytes(range(32, 127)) * 200 + b"\n")  # ~19 KB printable
    return b"".join(parts)


def gen_attachment(size):
    import base64
    import hashlib
    # a chain of digests, joined once: "blob += seed" copied the whole
    # blob each time (quadratic: seconds of CPU per call, minutes on a
    # loaded machine)
    chunks = []
    seed = b"satchel"
    for _ in range((size + 31) // 32):
        seed = hashlib.sha256(seed).digest()
        chunks.append(seed)
    blob = b"".join(chunks)[:size]
    b64 = base64.encodebytes(blob)  # 76-char lines, LF
    return (b"From: att@example.org\nTo: alice@example.org\n"
            b"Subject: a 1 MB attachment\nMIME-Version: 1.0\n"
            b"Content-Type: multipart/mixed; boundary=\"BOUNDARY\"\n\n"
            b"This is a multi-part message in MIME format.\n\n"
            b"--BOUNDARY\nContent-Type: text/plain; charset=us-ascii\n\n"
            b"See the attachment.\n.\n..\n\n"
            b"--BOUNDARY\nContent-Type: application/octet-stream\n"
            b"Content-Transfer-Encoding: base64\n"
            b"Content-Disposition: attachment; filename=\"blob.bin\"\n\n"
            + b64 + b"\n--BOUNDARY--\n")


def simple_msg(i, subject=None, body=None):
    subject = subject or "message %d" % i
    body = body if body is not None else ("Body of message %d.\n" % i)
    data = ("From: sender%d@example.org\nTo: alice@example.org\n"
            "Subject: %s\nMessage-ID: <%d.test@example.org>\n"
            "Date: Tue, 26 Nov 2024 04:%02d:00 +0000\n\n%s"
            % (i, subject, i, i % 60, body)).encode()
    return data


def maildir_name(i, sub="new", flags=None, sizes=None, data=None):
    """A Maildir file name as Postfix/Dovecot write them."""
    base = "%d.M%dP%d.testhost" % (1732590000 + i, 100000 + i, 4000 + i)
    if sizes and data is not None:
        base += ",S=%d,W=%d" % (len(data), len(to_crlf(data)))
    if sub == "cur":
        base += ":2," + (flags if flags is not None else "S")
    return base


def make_msgs(datas, store, mixed=True, sizes_every=3):
    """Msg objects for a list of (label, data): alternating new/ and cur/,
    some with Maildir++ sizes, all with distinct names and envelopes."""
    out = []
    for i, item in enumerate(datas):
        label, data = item if isinstance(item, tuple) else ("m%d" % (i + 1), item)
        sub = "cur" if (mixed and i % 2) else "new"
        sizes = (i % sizes_every) == (sizes_every - 1)
        name = maildir_name(i + 1, sub, data=data, sizes=sizes)
        env = "From sender%d@example.org Tue Nov 26 04:%02d:00 2024" % (i + 1, i % 60)
        out.append(Msg(data, name=name, sub=sub, envelope=env, label=label))
    return out


def mboxrd_quote(data):
    return re.sub(rb"(?m)^(>*From )", rb">\1", data)


# ------------------------------------------------------------ POP3 client

TRANSCRIPTS = []        # Pop objects of the running test
MAX_TRANSCRIPT = 60     # lines kept per connection


class ConnectionClosed(Exception):
    pass


class Pop:
    """A raw POP3 client that keeps a transcript. Lines are bytes without
    CRLF; cmd() returns the status line as str (latin-1)."""

    counter = 0

    def __init__(self, port, host="127.0.0.1", timeout=IO_TIMEOUT,
                 source=None, greet=True):
        Pop.counter += 1
        self.name = "conn%d" % Pop.counter
        self.port = port
        self.log = []
        self.buf = b""
        self.closed = False
        self.sock = socket.create_connection(
            (host, port), timeout,
            source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        TRANSCRIPTS.append(self)
        self.greeting = self.getline().decode("latin-1") if greet else None

    # transcript
    def note(self, direction, data):
        if len(self.log) < MAX_TRANSCRIPT:
            if isinstance(data, bytes):
                data = data.decode("latin-1")
            self.log.append("%s %s: %s" % (self.name, direction, short(data, 200)))
        elif len(self.log) == MAX_TRANSCRIPT:
            self.log.append("%s: (transcript truncated)" % self.name)

    # raw I/O
    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.note("C", data)
        self.sock.sendall(data)

    def _fill(self):
        try:
            chunk = self.sock.recv(1 << 17)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
            self.note("S", "<connection closed>")
            raise ConnectionClosed("connection closed by server")
        self.buf += chunk

    def getline(self):
        """One line without its CRLF (or LF)."""
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
                self.note("S", line)
                return line
            start = len(self.buf)
            if len(self.buf) > 1 << 20:
                raise AssertionError("status line longer than 1 MB")
            self._fill()

    def getmulti(self):
        """Body of a multi-line response, unstuffed, every line with its
        CRLF, without the terminating '.CRLF'."""
        pos = 0
        while True:
            if self.buf.startswith(b".\r\n"):  # a first line "." is the end
                self.buf = self.buf[3:]
                self.note("S", "<0 octets> .")
                return b""
            i = self.buf.find(b"\r\n.\r\n", pos)
            if i >= 0:
                raw, self.buf = self.buf[:i + 2], self.buf[i + 5:]
                break
            pos = max(0, len(self.buf) - 4)
            self._fill()
        data = b"\n".join(l[1:] if l.startswith(b".") else l
                          for l in raw.split(b"\n"))
        self.note("S", "<%d octets> %s ." % (len(data), short(data[:60], 100)))
        return data

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.getline().decode("latin-1")

    def multi(self, line):
        """Sends a command; returns (status, data or None on -ERR)."""
        status = self.cmd(line)
        if status.startswith("+OK"):
            return status, self.getmulti()
        return status, None

    def ok(self, line):
        resp = self.cmd(line)
        starts(resp, "+OK", "response to %s" % short(line))
        return resp

    def err(self, line, prefix="-ERR"):
        resp = self.cmd(line)
        starts(resp, prefix, "response to %s" % short(line))
        return resp

    def multi_ok(self, line):
        status, data = self.multi(line)
        starts(status, "+OK", "response to %s" % short(line))
        return data

    def login(self, user, password):
        self.ok("USER " + user)
        return self.ok("PASS " + password)

    def quit(self):
        resp = self.ok("QUIT")
        check(self.wait_closed(), "connection still open after QUIT")
        return resp

    def wait_closed(self, timeout=IO_TIMEOUT):
        """True if the server closes the connection (data is discarded)."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                self._fill()
                self.note("S", self.buf[:200])
                self.buf = b""
            except ConnectionClosed:
                break
            except socket.timeout:
                break
        return self.closed

    # parsed helpers
    def stat(self):
        resp = self.ok("STAT")
        m = re.match(r"\+OK (\d+) (\d+)", resp)
        check(m, "STAT response not '+OK nn mm': %s" % short(resp))
        return int(m.group(1)), int(m.group(2))

    def list(self):
        data = self.multi_ok("LIST")
        out = {}
        for line in data.decode("latin-1").splitlines():
            m = re.match(r"^(\d+) (\d+)$", line)
            check(m, "bad LIST line %s" % short(line))
            out[int(m.group(1))] = int(m.group(2))
        return out

    def uidl(self):
        data = self.multi_ok("UIDL")
        out = {}
        for line in data.decode("latin-1").splitlines():
            m = re.match(r"^(\d+) (\S+)$", line)
            check(m, "bad UIDL line %s" % short(line))
            out[int(m.group(1))] = m.group(2)
        return out

    def retr(self, n):
        return self.multi_ok("RETR %d" % n)

    def close(self):
        if not self.closed:
            self.note("C", "<close>")
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True


# ----------------------------------------------------------------- server

# Ports: each harness process claims its own block below the kernel's
# ephemeral range (flock on a file per block, held until it exits), so two
# suites running at once (plain and ASan, or two checkouts) never pick the
# same port, and no client socket's ephemeral port can take a server's.
PORT_FIRST = 20000
PORT_BLOCK = 400
PORT_BLOCKS = 30                # 20000 .. 31999, below 32768
_port_block = None              # (lock file, first port, next offset)


def _claim_port_block():
    global _port_block
    import fcntl
    for b in range(PORT_BLOCKS):
        path = os.path.join(tempfile.gettempdir(), "satchel-it-ports.%d.lock" % b)
        f = open(path, "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _port_block = [f, PORT_FIRST + b * PORT_BLOCK, 0, b]
        return
    raise RuntimeError("all %d port blocks are taken by other test runs" % PORT_BLOCKS)


def run_slot():
    """A small number (0..PORT_BLOCKS-1) no other harness process running
    at the same time has: its port block. Tests derive other per-run
    names from it (a network namespace's subnet)."""
    if _port_block is None:
        _claim_port_block()
    return _port_block[3]


def free_port(hosts=("127.0.0.1",)):
    """The next port of this process's block that is free on every given
    host. Ports are handed out once each, so a port a test gave up is not
    handed out again while its TIME_WAIT sockets linger."""
    if _port_block is None:
        _claim_port_block()
    for _ in range(PORT_BLOCK):
        port = _port_block[1] + _port_block[2] % PORT_BLOCK
        _port_block[2] += 1
        ok = True
        for h in hosts:
            fam = socket.AF_INET6 if ":" in h else socket.AF_INET
            t = socket.socket(fam, socket.SOCK_STREAM)
            try:
                t.bind((h, port))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return port
    raise RuntimeError("no free port in block %d-%d"
                       % (_port_block[1], _port_block[1] + PORT_BLOCK - 1))


def have_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def one_core():
    """A server prefix that keeps it on one core, for the timing tests:
    this VM's two cores run the same hash at speeds ~40 % apart, and
    which of the hash pool's threads (cores) gets a login is chance."""
    return ["taskset", "-c", "0"] if shutil.which("taskset") else []


def pass_reply(srv, user, password):
    """The reply to PASS after USER (or USER's own refusal), the session
    closed: for the user database tests."""
    p = srv.connect()
    try:
        r = p.cmd("USER " + user)
        if not r.startswith("+OK"):
            return r
        return p.cmd("PASS " + password)
    except OSError as e:
        raise AssertionError("PASS of %s: %s (log: %s)"
                             % (user, e, srv.log_tail(12)))
    finally:
        p.close()


def timed(fn, *args):
    """fn(*args) and the seconds it took."""
    t = time.monotonic()
    r = fn(*args)
    return r, time.monotonic() - t


def tail_file(path, n=8):
    """The last n lines of a log file, joined by " | " ("" if none)."""
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().splitlines()[-n:])
    except FileNotFoundError:
        return ""


def stop_proc(proc, sig):
    """Sends sig to proc (a Popen, by its PID) and waits for its exit,
    killing it after 30 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def check_unknown_like_wrong(srv, user, label, rounds=21):
    """Times PASS for unknown names and for user with wrong passwords,
    interleaved (the order alternating), and checks one failure text for
    both and a median pair ratio within 20 % (each pair measured back to
    back: the median of their ratios is free of the machine's slow
    drifts, which move both alike). user's hash should cost ~100 ms so
    that it dominates the scheduling noise."""
    import statistics

    def one(name, pw):
        p = srv.connect()
        p.ok("USER " + name)
        t0 = time.monotonic()
        resp = p.cmd("PASS " + pw)
        took = time.monotonic() - t0
        p.close()
        return resp, took

    unknown, wrong, answers = [], [], set()
    for i in range(rounds):
        pair = [("nosuchuser%d" % i, unknown), (user, wrong)]
        for name, times in (pair if i % 2 == 0 else pair[::-1]):
            resp, t = one(name, "guess-%d" % i)
            times.append(t)
            answers.add(resp)
    mu, mw = statistics.median(unknown), statistics.median(wrong)
    ratio = statistics.median(u / w for u, w in zip(unknown, wrong))
    print("# %s, PASS median: unknown %.1f ms, wrong password %.1f ms, "
          "median pair ratio %.2f" % (label, mu * 1000, mw * 1000, ratio))
    eq(len(answers), 1, "one failure text (%s)" % sorted(answers))
    check(mw > 0.010, "the slow hash dominates (%.1f ms)" % (mw * 1000))
    check(0.8 <= ratio <= 1.25, "unknown within 20%% of a wrong password: "
          "median pair ratio %.2f (medians %.1f and %.1f ms)"
          % (ratio, mu * 1000, mw * 1000))


def proc_children(ppid):
    """{pid: comm} of the live processes whose parent is ppid."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...
        rp = stat.rfind(")")
        fields = stat[rp + 2:].split()
        if len(fields) > 1 and int(fields[1]) == ppid and fields[0] != "Z":
            out[int(d)] = stat[stat.find("(") + 1:rp]
    return out


def proc_uid(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Uid:"):
                    return [int(x) for x in line.split()[1:]]
    except OSError:
        return None
    return None


PASSWORDS = {
    "alice": "alice-Pw.7Qx3",
    "bob": "bob-Pw.Kd82z",
    "carol": "carol-Pw.M1x9",
    "dave": "dave-Pw.Zq47",
    "erin": "erin-Pw.Lp05",
}


class Server:
    """A satchel server in a temp dir: config, passwd-file, one maildrop per
    user, state dir, log file. Users: PASSWORDS plus `users` (name ->
    passwd-file line after 'name:', e.g. '{PLAIN}pw::::::expire=0'), whose
    passwords (for the log check) go in `secrets`. `env`: extra environment
    variables of the server (e.g. KRB5_CONFIG)."""

    def __init__(self, store="maildir", opts=None, config=None, users=None,
                 secrets=(), listen=None, name="server", workers=2, env=None,
                 prefix=None):
        self.store = store or "maildir"
        # run the server under these (e.g. taskset: timing tests)
        self.prefix = list(prefix or [])
        self.opts = dict(opts or {})
        self.config = dict(config or {})
        self.name = name
        self.root = tempfile.mkdtemp(prefix="satchel-it-")
        os.chmod(self.root, 0o755)
        self.port = free_port()
        self.listen = listen or "127.0.0.1:{port}"
        self.passwords = dict(PASSWORDS)
        self.extra_users = dict(users or {})
        self.secrets = set(self.passwords.values()) | set(secrets)
        self.proc = None
        self.logf = None
        self.log_path = os.path.join(self.root, "server.log")
        self.conf_path = os.path.join(self.root, "satchel.conf")
        self.passwd_path = os.path.join(self.root, "passwd")
        self.state_dir = os.path.join(self.root, "state")
        self.workers = workers
        self.env = dict(env or {})
        self.popen_kw = {}              # more Popen arguments (preexec_fn)
        self.log_start = 0              # log offset of the running master
        self.generation = 0             # its newest generation said ready
        os.makedirs(self.state_dir)
        os.makedirs(os.path.join(self.root, "mail"))
        os.makedirs(os.path.join(self.root, "mbox"))
        self.write_passwd()
        self.write_config()

    # files
    def mail_setting(self):
        if self.store == "mbox":
            return "mbox:%s/mbox/%%u" % self.root
        return "maildir:%s/mail/%%u" % self.root

    def config_lines(self):
        base = {
            "listen": self.listen.format(port=self.port),
            "users": "passwd-file:" + self.passwd_path,
            "mail": self.mail_setting(),
            "state_dir": self.state_dir,
            "log": "stderr",
            "log_level": "debug",
            "hostname": "test.example",
            "auth_fail_delay": "0",
            "workers": str(self.workers),
        }
        if is_root():
            base["mail_user"] = MAIL_USER
            # one account for both: the temp tree belongs to MAIL_USER
            # (test_process checks a separate auth_user on its own)
            base["auth_user"] = MAIL_USER
        base.update(self.config)
        lines = ["# written by tests/integration/harness.py"]
        lines += ["%s = %s" % kv for kv in base.items() if kv[1] is not None]
        return lines

    def write_config(self, lines=None):
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines or self.config_lines()) + "\n")
        self.fix_owner(self.conf_path)

    def write_passwd(self):
        with open(self.passwd_path, "w") as f:
            f.write("# test users\n")
            for u, pw in PASSWORDS.items():
                if u not in self.extra_users:
                    f.write("%s:{PLAIN}%s\n" % (u, pw))
            for u, rest in self.extra_users.items():
                f.write("%s:%s\n" % (u, rest))
        os.chmod(self.passwd_path, 0o600)
        self.fix_owner(self.passwd_path)

    def fix_owner(self, path=None):
        """As root, the tree must belong to the mail user."""
        if not is_root():
            return
        pw = pwd.getpwnam(MAIL_USER)
        path = path or self.root
        os.chown(path, pw.pw_uid, pw.pw_gid)
        if os.path.isdir(path):
            for dp, dns, fns in os.walk(path):
                for n in dns + fns:
                    try:
                        os.lchown(os.path.join(dp, n), pw.pw_uid, pw.pw_gid)
                    except FileNotFoundError:
                        pass

    def maildrop(self, user):
        if self.store == "mbox":
            return os.path.join(self.root, "mbox", user)
        return os.path.join(self.root, "mail", user)

    def lock_path(self, user):
        if self.store == "mbox":
            return self.maildrop(user) + ".satchel-lock"
        return os.path.join(self.maildrop(user), "satchel.lock")

    def wait_unlocked(self, user, timeout=5):
        return wait_until(lambda: not os.path.exists(self.lock_path(user)), timeout)

    def fill(self, user, msgs, wait=True):
        """Replaces user's maildrop with msgs (list of Msg)."""
        if wait:
            self.wait_unlocked(user)
        path = self.maildrop(user)
        if self.store == "mbox":
            for p in (path, path + ".lock", path + ".satchel-lock"):
                if os.path.exists(p):
                    os.unlink(p)
            self.append_mbox(user, msgs)
        else:
            shutil.rmtree(path, ignore_errors=True)
            for sub in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(path, sub))
            self.add_maildir(user, msgs)
        self.fix_owner(os.path.dirname(path))
        return msgs

    def add_maildir(self, user, msgs):
        path = self.maildrop(user)
        for m in msgs:
            fn = os.path.join(path, m.sub, m.name)
            with open(fn, "wb") as f:
                f.write(m.data)
            os.utime(fn, (1732590000, 1732590000))
            self.fix_owner(fn)

    def append_mbox(self, user, msgs):
        path = self.maildrop(user)
        with open(path, "ab") as f:
            for m in msgs:
                body = mboxrd_quote(m.data)
                if not body.endswith(b"\n"):
                    body += b"\n"
                f.write(m.envelope.encode() + b"\n" + body + b"\n")
        if is_root():
            self.fix_owner(path)

    def add(self, user, msgs):
        """Delivers more messages without wiping (no lock taken)."""
        if self.store == "mbox":
            self.append_mbox(user, msgs)
        else:
            self.add_maildir(user, msgs)

    def maildir_files(self, user):
        """Sorted 'new/NAME' and 'cur/NAME' entries of a Maildir."""
        path = self.maildrop(user)
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(path, sub)
            if os.path.isdir(d):
                out += ["%s/%s" % (sub, n) for n in os.listdir(d)]
        return sorted(out)

    def drop_snapshot(self, user):
        """Something that changes when the stored messages change."""
        if self.store == "mbox":
            try:
                with open(self.maildrop(user), "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return b""
        out = []
        for rel in self.maildir_files(user):
            with open(os.path.join(self.maildrop(user), rel), "rb") as f:
                out.append((rel.split(":")[0].split("/")[1], f.read()))
        return sorted(out)

    # process
    def command(self):
        cmd = self.prefix + [SATCHEL, "serve", "-c", self.conf_path,
                             "--foreground"]
        for k, v in self.opts.items():
            cmd += ["-o", "%s=%s" % (k, v)]
        return cmd

    READY_RE = re.compile(rb"ready: generation (\d+), (\d+) workers")
    READY_FULL_RE = re.compile(rb"ready: generation \d+, (\d+) workers, "
                               rb"(\d+) lmtp workers")

    def wait_settled(self, timeout=20):
        """After a reload: waits until the children are those of the
        newest generation alone (its workers, LMTP workers and auth
        process), so the old one's exits do not land in the next test."""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_start)
            found = self.READY_FULL_RE.findall(f.read())
        if not found:
            return
        want = int(found[-1][0]) + int(found[-1][1]) + 1
        names = ("satchel-worker", "satchel-lmtp", "satchel-auth")
        wait_for(lambda: not self.alive() or len(
            [c for c in self.children().values() if c in names]) == want,
            timeout, "only the newest generation's %d children (log: %s)"
            % (want, self.log_tail(4)))

    def ready_generations(self, since=0):
        """Generation numbers of the "ready" lines logged after byte
        offset since."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                data = f.read()
        except FileNotFoundError:
            return []
        return [int(m.group(1)) for m in self.READY_RE.finditer(data)]

    def start(self, timeout=15):
        """Starts the master and returns once it logged "ready" for its
        first generation: every worker listens and has heard its auth
        process, so the first connection sees the true CAPA."""
        check(os.access(SATCHEL, os.X_OK), "no executable %s" % SATCHEL)
        self.fix_owner()
        self.logf = open(self.log_path, "ab")
        self.logf.write(("=== start %s\n" % " ".join(self.command())).encode())
        self.logf.flush()
        self.log_start = self.logf.tell()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf,
                                     cwd=self.root,
                                     env=dict(os.environ, **self.env),
                                     **self.popen_kw)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("server exited with status %s at startup; "
                                     "log: %s" % (self.proc.returncode,
                                                  self.log_tail(8)))
            if self.ready_generations(self.log_start):
                self.generation = max(self.ready_generations(self.log_start))
                return self
            time.sleep(0.02)
        self.kill()
        raise AssertionError("server logged no 'ready' line within %ds; log: %s"
                             % (timeout, self.log_tail(8)))

    def reload(self, timeout=15):
        """SIGHUP, then waits until a newer generation logged "ready"."""
        before = max(self.ready_generations(self.log_start) or [0])
        self.signal(signal.SIGHUP)
        wait_for(lambda: max(self.ready_generations(self.log_start) or [0]) > before,
                 timeout, "a 'ready' line for a generation after %d (log: %s)"
                 % (before, self.log_tail(5)))
        self.generation = max(self.ready_generations(self.log_start))

    def wait_generation_after(self, before, timeout=15):
        """Waits until a generation newer than before logged "ready"."""
        wait_for(lambda: max(self.ready_generations(self.log_start) or [0]) > before,
                 timeout, "a 'ready' line for a generation after %d (log: %s)"
                 % (before, self.log_tail(5)))
        self.generation = max(self.ready_generations(self.log_start))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def children(self):
        return proc_children(self.proc.pid) if self.alive() else {}

    def workers_now(self):
        return sorted(p for p, c in self.children().items() if c == "satchel-worker")

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, timeout=5):
        """SIGTERM, wait up to timeout, then SIGKILL. Returns
        (exit status, seconds taken, pids of children still alive)."""
        if self.proc is None:
            return None, 0, []
        kids = list(self.children())
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        took = time.monotonic() - t0
        status = self.proc.returncode
        left = [p for p in kids if wait_until(
            lambda: not os.path.exists("/proc/%d" % p), 2) is False
            and os.path.exists("/proc/%d" % p)]
        for p in left:  # our own grandchildren, by PID
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        if self.logf:
            self.logf.close()
            self.logf = None
        self.proc = None
        return status, took, left

    def kill(self):
        if self.proc is not None:
            kids = list(self.children())
            self.proc.kill()
            self.proc.wait(5)
            for p in kids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None

    def restart(self):
        self.stop()
        return self.start()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=10):
        lines = self.log_text().splitlines()[-n:]
        return " | ".join(lines)

    def log_problems(self):
        """Sanitizer reports and leaked passwords in the log."""
        text = self.log_text()
        problems = []
        for pat in SANITIZER_PATTERNS:
            if pat in text:
                i = text.find(pat)
                problems.append("log contains %r: %s" % (pat, short(text[max(0, i - 200):i + 600], 900)))
        for secret in self.secrets:
            if secret and secret in text:
                problems.append("log contains the password %r" % secret)
        return problems

    def cleanup(self):
        self.kill()
        if os.environ.get("KEEP"):
            sys.stdout.write("# kept %s\n" % self.root)
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    # clients
    def connect(self, **kw):
        return Pop(self.port, **kw)

    def login(self, user="alice", password=None, **kw):
        p = self.connect(**kw)
        p.login(user, password if password is not None else self.passwords[user])
        return p

    def read_all(self, user="alice"):
        """Every message of user over POP3 in LIST order, each checked:
        RETR gives exactly its LIST size."""
        p = self.login_retry(user)
        sizes = p.list()
        out = []
        for n in sorted(sizes):
            data = p.retr(n)
            eq(len(data), sizes[n], "RETR %d octets vs LIST size" % n)
            out.append(data)
        p.quit()
        return out

    def login_retry(self, user="alice", timeout=5):
        """Logs in, retrying while the maildrop is still [IN-USE] (the
        server may need a moment to notice a dropped connection)."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.connect()
            p.ok("USER " + user)
            resp = p.cmd("PASS " + self.passwords[user])
            if resp.startswith("+OK"):
                return p
            p.close()
            if "[IN-USE]" not in resp or time.monotonic() > deadline:
                raise AssertionError("login as %s failed: %s" % (user, resp))
            time.sleep(0.1)


def run_satchel(args, input=None, timeout=30, env=None):
    """Runs `satchel ARGS`, returns CompletedProcess with str output."""
    return subprocess.run([SATCHEL] + list(args), input=input, timeout=timeout,
                          capture_output=True, text=True, env=env)


# --------------------------------------------------------------- mapping

def map_numbers(pop, srv, msgs):
    """{message number: Msg} for a fresh session over exactly msgs.
    Maildir: by UIDL (the base file name); mbox: file order."""
    if srv.store == "mbox":
        return {i + 1: m for i, m in enumerate(msgs)}
    uidls = pop.uidl()
    by_base = {m.base: m for m in msgs}
    out = {}
    for n, u in uidls.items():
        if u in by_base:
            out[n] = by_base[u]
    if len(out) != len(msgs):
        # fall back to file-name order so content can still be checked
        ordered = sorted(msgs, key=lambda m: m.base)
        out = {i + 1: m for i, m in enumerate(ordered)}
    return out


# ---------------------------------------------------------------- runner

class Context:
    def __init__(self, module, store, srv, tmp):
        self.module = module
        self.store = store
        self.srv = srv
        self.tmp = tmp
        self.workers_may_change = False
        self._servers = []

    def server(self, store=None, **kw):
        """An extra server for this test only (stopped afterwards)."""
        srv = Server(store or self.store or "maildir", **kw)
        self._servers.append(srv)
        return srv

    def finish(self):
        problems = []
        for srv in self._servers:
            status, took, left = srv.stop()
            problems += srv.log_problems()
            srv.cleanup()
        return problems


class Runner:
    def __init__(self, out=sys.stdout):
        self.out = out
        self.passed = 0
        self.failed = 0

    def emit(self, ok, name, reason=None, diag=()):
        if ok:
            self.passed += 1
            line = "ok - %s" % name
            if reason:
                line += " # SKIP %s" % reason
        else:
            self.failed += 1
            reason = (reason or "failed").replace("\n", " ")
            line = "not ok - %s: %s" % (name, reason)
        self.out.write(line + "\n")
        for d in diag:
            for dl in str(d).splitlines():
                self.out.write("#   %s\n" % dl)
        self.out.flush()

    def run_module(self, modname, stores_filter, patterns):
        mod = importlib.import_module(modname)
        tests = [(n, f) for n, f in inspect.getmembers(mod, inspect.isfunction)
                 if n.startswith("test_") and f.__module__ == mod.__name__]
        tests.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
        stores = getattr(mod, "STORES", ("maildir", "mbox"))
        short_mod = modname[5:] if modname.startswith("test_") else modname
        for store in (stores or (None,)):
            if store and stores_filter and store != stores_filter:
                continue
            label = "%s[%s]" % (short_mod, store) if store else short_mod
            selected = [(n, f) for n, f in tests
                        if store in getattr(f, "stores", (store,))]
            selected = [(n, f) for n, f in selected
                        if not patterns or any(p in "%s.%s" % (label, n) for p in patterns)]
            if not selected:
                continue
            self.run_tests(mod, label, store, selected)

    def start_module_server(self, mod, store, label):
        srv = Server(store, opts=getattr(mod, "OPTS", None),
                     config=getattr(mod, "CONFIG", None),
                     users=getattr(mod, "EXTRA_USERS", None),
                     secrets=getattr(mod, "EXTRA_SECRETS", ()),
                     workers=getattr(mod, "WORKERS", 2),
                     prefix=getattr(mod, "SERVER_PREFIX", None),
                     name=label)
        srv.start()
        return srv

    def run_tests(self, mod, label, store, tests):
        srv = None
        if store is not None:
            try:
                srv = self.start_module_server(mod, store, label)
            except Exception as e:  # every test of the module fails
                for n, f in tests:
                    self.emit(False, "%s.%s" % (label, n), "server did not start: %s" % e)
                return
        for n, f in tests:
            srv = self.run_one(mod, label, store, srv, n, f)
        if srv is not None:
            status, took, left = srv.stop()
            problems = []
            if status != 0:
                problems.append("exit status %s after SIGTERM (want 0)" % status)
            if took > 5:
                problems.append("took %.1fs to stop after SIGTERM" % took)
            if left:
                problems.append("children still alive after the master exited: %s" % left)
            self.emit(not problems, "%s.(clean SIGTERM shutdown)" % label,
                      "; ".join(problems), diag=[srv.log_tail(6)] if problems else ())
            lp = srv.log_problems()
            self.emit(not lp, "%s.(server log: no sanitizer report, no password)" % label,
                      "; ".join(lp)[:2000])
            srv.cleanup()

    def run_one(self, mod, label, store, srv, name, func):
        del TRANSCRIPTS[:]
        tmp = tempfile.mkdtemp(prefix="satchel-it-t-")
        os.chmod(tmp, 0o755)
        ctx = Context(mod, store, srv, tmp)
        full = "%s.%s" % (label, name)
        workers_before = srv.workers_now() if srv else []
        log_len = len(srv.log_text()) if srv else 0
        ok, reason, diag = True, None, []

        def on_alarm(signum, frame):
            raise TimeoutError("test took longer than %ds" % TEST_TIMEOUT)
        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(TEST_TIMEOUT)
        t0 = time.monotonic()
        try:
            func(ctx)
        except Skip as e:
            reason = str(e)
        except Exception as e:
            ok = False
            reason = "%s: %s" % (type(e).__name__, e) if not isinstance(e, AssertionError) else str(e)
            tb = traceback.extract_tb(e.__traceback__)
            where = [fr for fr in tb if os.path.basename(fr.filename).startswith("test_")]
            if where:
                fr = where[-1]
                diag.append("at %s:%d: %s" % (os.path.basename(fr.filename), fr.lineno, fr.line))
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        elapsed = time.monotonic() - t0
        for p in TRANSCRIPTS:
            p.close()
        problems = ctx.finish()
        if srv is not None and ctx.workers_may_change and srv.alive():
            try:
                srv.wait_settled()
            except AssertionError as e:
                problems.append(str(e))
        if srv is not None:
            if not srv.alive():
                problems.append("the server master died (status %s)" % srv.proc.returncode)
            elif not ctx.workers_may_change:
                after = srv.workers_now()
                gone = set(workers_before) - set(after)
                if gone:
                    problems.append("worker(s) %s died during the test" % sorted(gone))
            if problems:
                newlog = srv.log_text()[log_len:]
                san = [pat for pat in SANITIZER_PATTERNS if pat in newlog]
                if san:
                    problems.append("sanitizer report in the log")
        if problems:
            if ok:
                ok = False
                reason = "; ".join(problems)
            else:
                reason += "; " + "; ".join(problems)
        if not ok:
            for p in TRANSCRIPTS:
                diag.extend(p.log)
            if srv is not None:
                newlog = srv.log_text()[log_len:].splitlines()
                if newlog:
                    diag.append("server log (last lines of this test):")
                    diag.extend("  " + l for l in newlog[-12:])
        if elapsed > 3:
            diag.append("(test took %.1fs)" % elapsed)
        self.emit(ok, full, reason, diag)
        shutil.rmtree(tmp, ignore_errors=True)
        del TRANSCRIPTS[:]
        if srv is not None and not srv.alive():
            srv.kill()
            try:
                srv = self.start_module_server(mod, store, label)
            except Exception as e:
                self.emit(False, "%s.(restart after master death)" % label, str(e))
                srv = None
        return srv


WEIGHTS_FILE = os.path.join(HERE, "module_weights.txt")
DEFAULT_WEIGHT = 20.0   # seconds assumed for a module not yet measured


def by_weight(mods):
    """mods, slowest first, by the seconds in module_weights.txt
    ("MODULE SECONDS" lines, from the "# module" lines of a run): with
    the longest modules started first, the processes sharing a queue end
    within about one short module of each other."""
    weights = {}
    try:
        with open(WEIGHTS_FILE) as f:
            for line in f:
                fields = line.split()
                if len(fields) == 2 and not line.startswith("#"):
                    weights[fields[0]] = float(fields[1])
    except FileNotFoundError:
        pass
    return sorted(mods, key=lambda m: -weights.get(m, DEFAULT_WEIGHT))


def claim_module(queue_dir, mod):
    """True when this process is the first to claim mod in queue_dir."""
    try:
        fd = os.open(os.path.join(queue_dir, mod), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def main(argv):
    global SATCHEL
    # `timeout` (scripts/run-tests) ends a suite with SIGTERM: exit
    # through Python so the atexit cleanups run (the private Postfix of
    # test_postfix would otherwise keep running)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser()
    ap.add_argument("--satchel", default=SATCHEL)
    ap.add_argument("-k", action="append", default=[], help="run tests whose name contains this")
    ap.add_argument("--store", choices=("maildir", "mbox"))
    ap.add_argument("--shard", metavar="K/N",
                    help="run only every N-th module, starting at K (0-based)")
    ap.add_argument("--queue", metavar="DIR",
                    help="share the modules with the other harness processes "
                         "given the same DIR: each takes the next unclaimed "
                         "one, slowest first (module_weights.txt)")
    ap.add_argument("modules", nargs="*")
    args = ap.parse_args(argv)
    SATCHEL = os.path.abspath(args.satchel)
    os.environ["SATCHEL"] = SATCHEL
    sys.path.insert(0, HERE)
    sys.modules.setdefault("harness", sys.modules[__name__])
    mods = args.modules or sorted(fn[:-3] for fn in os.listdir(HERE)
                                  if fn.startswith("test_") and fn.endswith(".py"))
    mods = [m[:-3] if m.endswith(".py") else m for m in mods]
    mods = [os.path.basename(m) for m in mods]
    if args.shard:
        k, n = (int(x) for x in args.shard.split("/"))
        if not 0 <= k < n:
            ap.error("--shard K/N needs 0 <= K < N")
        mods = mods[k::n]
    if args.queue:
        mods = by_weight(mods)
    runner = Runner()
    t0 = time.monotonic()
    if is_root():
        try:
            pwd.getpwnam(MAIL_USER)
        except KeyError:
            runner.emit(False, "setup", "running as root but the system user %r "
                        "is missing (make deps creates it)" % MAIL_USER)
            return 1
    if not os.access(SATCHEL, os.X_OK):
        runner.emit(False, "setup", "%s is missing or not executable" % SATCHEL)
        return 1
    for m in mods:
        if args.queue and not claim_module(args.queue, m):
            continue
        started = time.monotonic()
        try:
            runner.run_module(m, args.store, args.k)
        except Exception as e:
            runner.emit(False, "%s.(module)" % m, "%s: %s" % (type(e).__name__, e),
                        diag=traceback.format_exc().splitlines()[-6:])
        sys.stdout.write("# module %s: %.1fs\n" % (m, time.monotonic() - started))
        sys.stdout.flush()
    sys.stdout.write("# integration: %d passed, %d failed in %.1fs\n"
                     % (runner.passed, runner.failed, time.monotonic() - t0))
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.modules["harness"] = sys.modules["__main__"]
    sys.exit(main(sys.argv[1:]))
