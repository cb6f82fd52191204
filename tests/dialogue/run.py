#!/usr/bin/python3
"""Protocol dialogues: what the client sends, what must come back.

Runs every tests/dialogue/*.pop file through `satchel serve --stdio`, and
every *.lmtp file through `satchel lmtp --stdio` (LMTP, RFC 2033, with the
same fixture: RCPT TO:<alice@...> delivers into alice's Maildir), and
compares the server's replies exactly, line by line, CRLF included.
Standard library only.

Usage:
    /usr/bin/python3 tests/dialogue/run.py [--satchel build/satchel] [NAME]...

Output is TAP-like, one line per file:

    ok - dialogue NAME
    not ok - dialogue NAME: reason
    # a unified diff of the expected and the received lines

followed by "# N passed, N failed"; the exit status is 1 if anything
failed.

File format (one directive per line; blank lines are ignored):

    # text                 a comment
    #! option KEY=VALUE    a -o override for every session of the file
    #! stream pipes|unix|tcp
                           fd 0/1 of the server: two pipes (default), one
                           UNIX socket, or one accepted loopback TCP
                           connection (as inetd passes it)
    C: text                the client sends text + CRLF
    R: text                the client sends text as is (no CRLF added)
    S: text                the server must send exactly text + CRLF
    --- ...                the session ends (stdin closed, the server must
                           exit with status 0 and send nothing more);
                           the next line starts a new session on the
                           same maildrops (UPDATE checks)

In C: and R: lines, \\r \\n \\0 \\t \\\\ and \\xNN are escapes, and
    {B64:text}            is the base64 of text (escapes apply inside),
    {APOP:secret}         the APOP digest of secret with this session's
                          greeting timestamp (RFC 1939 7.),
    {REPEAT:N:text}       text N times.
In S: lines the same escapes apply (a byte such as \\x80 is matched as
is), and
    {TIMESTAMP}           matches the APOP timestamp <...@...>,
    {VERSION}             is the version `satchel --version` prints,
    {ANY}                 matches any text.

Every file runs in a fresh temporary directory with the fixture below
(users, a Maildir and an mbox), made by this runner. The session ends at
EOF of the file or at "---"; an unread reply or a reply that does not
come within IO_TIMEOUT seconds is a failure, so is any sanitizer report
in the server's log.
"""

import argparse
import base64
import difflib
import glob
import hashlib
import os
import pwd
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
IO_TIMEOUT = 10        # seconds to wait for one reply line or for exit
MAIL_USER = "satchel"  # the accounts `make deps` creates
AUTH_USER = "satchel-auth"
SANITIZER_PATTERNS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")

# ------------------------------------------------------------- fixture
#
# alice (Maildir, three messages), bob (an empty Maildir), carol (mbox,
# two messages), eve (uid 0, never served), olive (Maildir, two odd
# messages), oscar (olive's Maildir with client_workarounds=), ute
# (UTF-8 headers, RFC 6856) and j\u00f6rg (a UTF-8 name with ute's
# Maildir). All passwords are {PLAIN},
# so APOP works for each.
# The messages are written with LF line ends: sizes are after LF->CRLF.

ALICE_MSGS = [
    ("cur", "1732590001.M1P100.test:2,S",
     b"From: bob@example.org\nTo: alice@example.org\nSubject: one\n"
     b"\nfirst message\n"),
    ("new", "1732590002.M2P100.test",
     b"From: carol@example.org\nSubject: two\n\nline 1\n.dotted line\n"
     b"line 3\n"),
    ("new", "1732590003.M3P100.test",
     b"Subject: three\n\n.\n..\nlast\n"),
]

# olive: what the client workarounds are for (a NUL in a body, a message
# without the blank line after its header)
OLIVE_MSGS = [
    ("new", "1732590011.M11P100.test", b"Subject: nul\n\nA\0B\n"),
    ("new", "1732590012.M12P100.test",
     b"Subject: headers only\nX-Test: yes\n"),
]

# ute: RFC 6856 (a UTF-8 Subject, a UTF-8 file name in a MIME part's
# header, UTF-8 only in a body); j\u00f6rg (a UTF-8 name, NFC) has ute's
# Maildir
UTE_MSGS = [
    ("new", "1732590021.M21P100.test",
     "Subject: gr\u00fc\u00dfe\n\nhallo\n".encode()),
    ("new", "1732590022.M22P100.test",
     ("Subject: attachment\nMIME-Version: 1.0\n"
      "Content-Type: multipart/mixed;\n boundary=\"b1\"\n\n"
      "preamble\n--b1\nContent-Type: text/plain\n\ntext\n"
      "--b1\nContent-Type: text/plain\n"
      "Content-Disposition: attachment; filename=\"r\u00e9sum\u00e9.txt\"\n"
      "\nbody\n--b1--\n").encode()),
    ("new", "1732590023.M23P100.test",
     "Subject: plain\n\nbody: gr\u00fc\u00dfe\n".encode()),
]

CAROL_MBOX = (
    b"From carol@example.org Mon Nov 25 10:00:00 2024\n"
    b"Subject: mbox one\nX-UIDL: carol-one\n\nhello carol\n"
    b">From the past\n\n"
    b"From dave@example.org Mon Nov 25 11:00:00 2024\n"
    b"Subject: mbox two\nX-UIDL: carol-two\n\nbye\n\n"
)


def chown_tree(path, user):
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    for dp, dns, fns in os.walk(path):
        for n in dns + fns:
            os.lchown(os.path.join(dp, n), pw.pw_uid, pw.pw_gid)


def have_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def make_fixture(root):
    """Writes the config, passwd-file and maildrops; returns the config
    path."""
    mail = os.path.join(root, "mail")
    for user in ("alice", "bob", "olive", "ute"):
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(mail, user, sub))
    for user, msgs in (("alice", ALICE_MSGS), ("olive", OLIVE_MSGS),
                       ("ute", UTE_MSGS)):
        for sub, name, data in msgs:
            fn = os.path.join(mail, user, sub, name)
            with open(fn, "wb") as f:
                f.write(data)
            os.utime(fn, (1732590000, 1732590000))
    os.makedirs(os.path.join(root, "mbox"))
    carol = os.path.join(root, "mbox", "carol")
    with open(carol, "wb") as f:
        f.write(CAROL_MBOX)
    os.makedirs(os.path.join(root, "state"))
    passwd = os.path.join(root, "passwd")
    with open(passwd, "w", encoding="utf-8") as f:
        f.write("alice:{PLAIN}secret\n"
                "bob:{PLAIN}bobpw\n"
                "olive:{PLAIN}olivepw\n"
                "ute:{PLAIN}utepw\n"
                "j\u00f6rg:{PLAIN}p\u00e4sswort::::::mail=maildir:%s/ute\n"
                # the workarounds for this user only
                "oscar:{PLAIN}oscarpw::::::mail=maildir:%s/olive "
                "client_workarounds=outlook-no-nuls,oe-ns-eoh\n"
                "carol:{PLAIN}carolpw:::::: mail=mbox:%s\n"
                # uid 0: refused after a correct password ([SYS/PERM])
                "eve:{PLAIN}evepw:0:0\n" % (mail, mail, carol))
    os.chmod(passwd, 0o600)
    lines = [
        "users = passwd-file:%s" % passwd,
        "mail = maildir:%s/%%u" % mail,
        "state_dir = %s" % os.path.join(root, "state"),
        "log = stderr",
        "log_level = debug",
        "hostname = test.example",
        "auth_fail_delay = 0",
    ]
    if os.geteuid() == 0:
        # as root: the session runs as mail_user and only the auth
        # process (auth_user) can read the passwd-file, as in production
        auth_user = AUTH_USER if have_user(AUTH_USER) else MAIL_USER
        lines += ["mail_user = %s" % MAIL_USER, "auth_user = %s" % auth_user]
        chown_tree(os.path.join(root, "mail"), MAIL_USER)
        chown_tree(os.path.join(root, "mbox"), MAIL_USER)
        chown_tree(os.path.join(root, "state"), auth_user)
        chown_tree(passwd, auth_user)
    conf = os.path.join(root, "satchel.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    return conf


# ------------------------------------------------------------- parsing

class Session:
    def __init__(self):
        # ("send", template, add_crlf) and ("expect", text, lineno)
        self.steps = []


class Dialogue:
    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.options = []
        self.stream = "pipes"
        self.sessions = [Session()]
        self.parse()

    def parse(self):
        with open(self.path, encoding="utf-8") as f:
            for lineno, raw in enumerate(f, 1):
                line = raw.rstrip("\n")
                if line.startswith("#!"):
                    words = line[2:].split(None, 1)
                    if len(words) == 2 and words[0] == "option":
                        self.options.append(words[1].strip())
                    elif len(words) == 2 and words[0] == "stream" and \
                            words[1].strip() in ("pipes", "unix", "tcp"):
                        self.stream = words[1].strip()
                    else:
                        raise ValueError("%s:%d: bad directive %r"
                                         % (self.path, lineno, line))
                elif line.startswith("#") or line.strip() == "":
                    continue
                elif line.startswith("---"):
                    self.sessions.append(Session())
                elif line[:3] in ("C: ", "R: ") or line in ("C:", "R:"):
                    self.sessions[-1].steps.append(
                        ("send", line[3:], line[0] == "C"))
                elif line[:3] == "S: " or line == "S:":
                    self.sessions[-1].steps.append(
                        ("expect", line[3:], lineno))
                else:
                    raise ValueError("%s:%d: cannot parse %r"
                                     % (self.path, lineno, line))
        self.sessions = [s for s in self.sessions if s.steps]


ESCAPES = {"r": b"\r", "n": b"\n", "0": b"\0", "t": b"\t", "\\": b"\\"}


def unescape(text):
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n in ESCAPES:
                out += ESCAPES[n]
                i += 2
                continue
            if n == "x" and re.match(r"[0-9a-fA-F]{2}", text[i + 2:i + 4]):
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
        out += c.encode()
        i += 1
    return bytes(out)


MACRO = re.compile(r"\{(B64|APOP|REPEAT):([^{}]*)\}")


def expand_send(template, timestamp):
    out = b""
    pos = 0
    for m in MACRO.finditer(template):
        out += unescape(template[pos:m.start()])
        kind, arg = m.group(1), m.group(2)
        if kind == "B64":
            out += base64.b64encode(unescape(arg))
        elif kind == "APOP":
            if timestamp is None:
                raise ValueError("{APOP:...} without a greeting timestamp")
            out += hashlib.md5(timestamp.encode() +
                               unescape(arg)).hexdigest().encode()
        else:
            count, _, text = arg.partition(":")
            out += unescape(text) * int(count)
        pos = m.end()
    return out + unescape(template[pos:])


def expect_regex(text, version):
    """The S: text as a regex over one received line (CRLF included)."""
    parts = re.split(r"(\{TIMESTAMP\}|\{VERSION\}|\{ANY\})", text)
    rx = ""
    for p in parts:
        if p == "{TIMESTAMP}":
            rx += r"(?P<ts><[^<>\s]+@[^<>\s]+>)"
        elif p == "{VERSION}":
            rx += re.escape(version)
        elif p == "{ANY}":
            rx += r"[^\r\n]*"
        else:
            rx += re.escape(unescape(p).decode("latin-1"))
    return re.compile(rx.encode("latin-1") + rb"\r\n\Z", re.S)


def show(line):
    """A received line for the diff: CRLF shown as is, other control
    bytes escaped, a missing CR or LF visible."""
    body = line
    end = ""
    if body.endswith(b"\r\n"):
        body = body[:-2]
    else:
        end = "  <no CRLF: %r>" % body[-2:]
    text = body.decode("latin-1")
    text = "".join(ch if 0x20 <= ord(ch) < 0x7f else "\\x%02x" % ord(ch)
                   for ch in text)
    return text + end


# ------------------------------------------------------------- running

class Failure(Exception):
    pass


class Server:
    """One `satchel serve --stdio` process with its client stream."""

    def __init__(self, satchel, conf, options, stream, log, dlg_path):
        front = "lmtp" if dlg_path.endswith(".lmtp") else "serve"
        cmd = [satchel, front, "--stdio", "-c", conf]
        for opt in options:
            cmd += ["-o", opt]
        self.buf = b""
        self.listener = None
        if stream == "pipes":
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log)
            self.wfd = self.proc.stdin.fileno()
            self.rfd = self.proc.stdout.fileno()
            return
        if stream == "unix":
            mine, theirs = socket.socketpair()
        else:
            self.listener = socket.socket()
            self.listener.bind(("127.0.0.1", 0))
            self.listener.listen(1)
            mine = socket.create_connection(self.listener.getsockname())
            theirs, _ = self.listener.accept()
            self.listener.close()
        self.proc = subprocess.Popen(cmd, stdin=theirs, stdout=theirs,
                                     stderr=log)
        theirs.close()
        self.sock = mine
        self.wfd = self.rfd = mine.fileno()

    def send(self, data):
        deadline = time.monotonic() + IO_TIMEOUT
        while data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [self.wfd], [], left)[1]:
                raise Failure("timed out sending to the server")
            try:
                n = os.write(self.wfd, data[:65536])
            except BrokenPipeError:
                raise Failure("the server closed its input while the "
                              "client was still sending")
            data = data[n:]

    def readline(self, timeout=IO_TIMEOUT):
        """One line (up to LF) within timeout seconds, b"" at EOF, None
        on timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
                return None
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                line, self.buf = self.buf, b""
                return line
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def finish(self):
        """Closes the client's side of input; returns what the server
        sent after the dialogue and its exit status."""
        if hasattr(self, "sock"):
            self.sock.shutdown(socket.SHUT_WR)
        else:
            self.proc.stdin.close()
        rest = []
        while True:
            line = self.readline()
            if line is None:
                rest.append(None)
                break
            if not line:
                break
            rest.append(line)
        try:
            status = self.proc.wait(IO_TIMEOUT)
        except subprocess.TimeoutExpired:
            status = None
        self.close()
        return rest, status

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if hasattr(self, "sock"):
            self.sock.close()
        else:
            for f in (self.proc.stdin, self.proc.stdout):
                if f is not None and not f.closed:
                    f.close()


def run_session(satchel, conf, dlg, session, version, log, transcript):
    """Runs one session; appends (expected, got) pairs to transcript.
    Returns a reason string on failure, else None."""
    srv = Server(satchel, conf, dlg.options, dlg.stream, log, dlg.path)
    timestamp = None
    pending = b""
    failed = None
    try:
        for step in session.steps:
            if step[0] == "send":
                # after a difference too: the diff shows what follows
                pending += expand_send(step[1], timestamp)
                if step[2]:
                    pending += b"\r\n"
                continue
            _, text, lineno = step
            if pending:
                srv.send(pending)
                pending = b""
            if failed is not None and failed.startswith("no reply"):
                transcript.append((text, None, False))
                continue
            # once out of step, a missing line is not waited for long
            line = srv.readline(IO_TIMEOUT if failed is None else 1)
            if line is None:
                failed = failed or "no reply within %d s (line %d)" % (
                    IO_TIMEOUT, lineno)
                transcript.append((text, None, False))
                continue
            m = expect_regex(text, version).match(line)
            transcript.append((text, line, m is not None))
            if m is None:
                failed = failed or "line %d differs" % lineno
                continue
            if m.groupdict().get("ts") and timestamp is None:
                timestamp = m.group("ts").decode()
        if pending:
            srv.send(pending)
        rest, status = srv.finish()
    finally:
        srv.close()
    for line in rest:
        transcript.append((None, line, False))
        if failed is None:
            failed = ("no EOF from the server within %d s" % IO_TIMEOUT
                      if line is None else "unexpected output after the "
                      "last expected line")
    if failed is None and status != 0:
        failed = "the server exited with status %s" % status
    return failed


def render(transcript):
    """Expected and received lines for difflib; a received line that
    matched is shown as its S: text, placeholders and all."""
    want, got = [], []
    for text, line, matched in transcript:
        if text is not None:
            want.append(text)
        if matched:
            got.append(text)
        elif line is None:
            got.append("<no reply>" if text is not None else "<no EOF>")
        else:
            got.append(show(line))
    return want, got


def run_dialogue(satchel, path, version):
    dlg = Dialogue(path)
    root = tempfile.mkdtemp(prefix="satchel-dialogue-")
    os.chmod(root, 0o755)
    log_path = os.path.join(root, "server.log")
    diag = []
    reason = None
    try:
        conf = make_fixture(root)
        with open(log_path, "ab") as log:
            for i, session in enumerate(dlg.sessions, 1):
                transcript = []
                failed = run_session(satchel, conf, dlg, session, version,
                                     log, transcript)
                if failed:
                    want, got = render(transcript)
                    reason = "session %d: %s" % (i, failed)
                    diag += list(difflib.unified_diff(
                        want, got, "expected", "received", lineterm="", n=3))
                    break
        with open(log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        if reason is None:
            for pat in SANITIZER_PATTERNS:
                if pat in text:
                    reason = "sanitizer report in the server log"
        if reason is not None:
            diag += ["server log:"] + text.splitlines()[-30:]
    except Failure as e:
        reason = str(e)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return reason, diag


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--satchel", default=os.environ.get(
        "SATCHEL", os.path.join(REPO, "build", "satchel")))
    ap.add_argument("names", nargs="*", help="dialogue names (default: all)")
    args = ap.parse_args()
    satchel = os.path.abspath(args.satchel)
    if not os.access(satchel, os.X_OK):
        print("not ok - dialogue: no executable %s" % satchel)
        return 1
    version = subprocess.run([satchel, "--version"], capture_output=True,
                             text=True).stdout.split()[-1]
    paths = sorted(glob.glob(os.path.join(HERE, "*.pop")) +
                   glob.glob(os.path.join(HERE, "*.lmtp")))
    if args.names:
        paths = [p for p in paths
                 if os.path.splitext(os.path.basename(p))[0] in args.names]
    passed = failed = 0
    for path in paths:
        name = os.path.splitext(os.path.basename(path))[0]
        try:
            reason, diag = run_dialogue(satchel, path, version)
        except ValueError as e:
            reason, diag = "bad dialogue file: %s" % e, []
        if reason is None:
            print("ok - dialogue %s" % name)
            passed += 1
        else:
            print("not ok - dialogue %s: %s" % (name, reason))
            for line in diag:
                print("# " + line)
            failed += 1
        sys.stdout.flush()
    print("# %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
