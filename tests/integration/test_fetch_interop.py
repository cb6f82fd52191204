"""satchel fetch against real POP3 servers (issue #9): satchel serve,
Dovecot's pop3d (Debian's dovecot-core and dovecot-pop3d, unpacked by
`make deps` into build-dovecot/ since an installed dovecot-core starts a
system service; run from a config of its own in a temp dir, in a mount
namespace of its own where the unpacked tree is at its compiled-in /usr
paths, and stopped by PID; an installed /usr/sbin/dovecot only when
there is no unpacked one) and GNU Mailutils' pop3d (Debian's
mailutils-pop3d, unpacked into build-mailutils/ by `make deps` because an
installed one starts a system service; daemon mode on a harness port
from a config of its own, users from a virtual-domain passwd file, so
the login is alice@satchel.test, in the URL alice%40satchel.test). The
corpus (dot lines, no final newline, CRLF and LF mixed, NUL, 8-bit, lone
CR, long lines, a 5 MB attachment) must arrive exactly as the server's
RETR gives it: un-stuffed, CRLF made LF, nothing added. Python's poplib
reads each message for comparison. Then delete mode (the server ends
empty), --keep (a second run fetches nothing, a new message then is
fetched alone), mbox, mda and lmtp destinations.

What Mailutils' pop3d 3.15 sends is not the stored file: once a session
has asked UIDL it adds an X-UIDL header to each RETR (LIST's sizes leave
it out), and it serves the header-only and the CRLF-only corpus messages
as an empty header and body. The client must keep what came, so the
reference session asks UIDL too.
"""
import mailbox
import poplib
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse

from harness import *

STORES = ("maildir",)
USER = "alice"


def corpus():
    msgs = [data for _, data in load_corpus()]
    msgs.append(gen_attachment(5 << 20))
    return msgs


def reference(port, login=USER):
    """Every message as poplib gets it: lines un-stuffed, joined by LF.
    UIDL first, as a fetcher's session goes: Mailutils' pop3d adds an
    X-UIDL header to what RETR sends once the session has asked UIDL."""
    p = poplib.POP3("127.0.0.1", port, timeout=30)
    p._max_line = 1 << 20  # the corpus has 20 KB lines
    p.user(login)
    p.pass_(PASSWORDS[USER])
    p.uidl()
    out = []
    for i in range(1, len(p.list()[1]) + 1):
        lines = p.retr(i)[1]
        out.append(b"".join(l + b"\n" for l in lines))
    p.quit()
    return sorted(out)


def server_count(port, login=USER):
    p = poplib.POP3("127.0.0.1", port, timeout=30)
    p.user(login)
    p.pass_(PASSWORDS[USER])
    n = p.stat()[0]
    p.quit()
    return n


def pwfile(ctx):
    path = os.path.join(ctx.tmp, "pw")
    with open(path, "w") as f:
        f.write(PASSWORDS[USER] + "\n")
    os.chmod(path, 0o600)
    return path


def fetch(ctx, port, dest, *extra, state="state", login=USER):
    """satchel fetch as `login` (%-encoded into the URL), PASSWORDS[USER]."""
    cmd = [SATCHEL, "fetch", "pop://%s@127.0.0.1:%d"
           % (urllib.parse.quote(login, safe=""), port),
           "--tls", "none", "--password-file", pwfile(ctx), "--state-dir",
           os.path.join(ctx.tmp, state), "--to", dest, "--timeout", "20"]
    p = subprocess.run(cmd + list(extra), capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stderr


def maildir_msgs(path):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        for n in (os.listdir(d) if os.path.isdir(d) else ()):
            with open(os.path.join(d, n), "rb") as f:
                out.append(f.read())
    return sorted(out)


sys.path.insert(0, os.path.join(REPO, "scripts"))
import dovecotns  # noqa: E402  (scripts/ is not a package)

DOVECOT_INSTALLED = "/usr/sbin/dovecot"


def dovecot_command(conf):
    """The argv that runs Dovecot's master in the foreground from conf:
    the copy `make deps` unpacked into build-dovecot/ if it is there
    (dovecotns.py: in a private mount namespace), else an installed
    /usr/sbin/dovecot. Raises Skip if neither can run."""
    if dovecotns.unpacked():
        check(dovecotns.unpacked("dovecot-pop3d"),
              "dovecot-pop3d is not unpacked in %s (make deps)"
              % dovecotns.ROOT)
        try:
            return dovecotns.argv("/usr/sbin/dovecot", "-c", str(conf), "-F")
        except RuntimeError as e:
            raise Skip(str(e))
    if os.access(DOVECOT_INSTALLED, os.X_OK):
        return [DOVECOT_INSTALLED, "-c", conf, "-F"]
    raise Skip("dovecot is missing: `make deps` unpacks it into %s"
               % dovecotns.ROOT)


def pid_gone(pid):
    """True once pid no longer runs (gone, or a zombie left for init)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def wait_greeting(server, timeout):
    """Until a connection to server.port gets its +OK greeting (Dovecot's
    pop3-login starts on the first connection); a dead server process or
    the deadline fails with its log (server.name, .proc, .log_tail())."""
    deadline = time.monotonic() + timeout
    greeting = None
    while True:
        try:
            with socket.create_connection(("127.0.0.1", server.port), 2) as c:
                c.settimeout(5)
                greeting = c.makefile("rb").readline()
                if greeting.startswith(b"+OK"):
                    c.sendall(b"QUIT\r\n")
                    return
        except OSError:
            pass
        if server.proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise AssertionError("%s did not start (exit %s, last greeting "
                                 "%r): %s" % (server.name, server.proc.returncode,
                                              greeting, server.log_tail()))
        time.sleep(0.05)


class Dovecot:
    """Dovecot's pop3d from a config of its own (nothing system-wide):
    base_dir, state_dir and the log in the test's directory, a listener
    on a harness port, users from a passwd-file, the mail user as login
    and internal user (a new machine has no dovenull or dovecot user).
    Run as dovecot_command() says; ready once a connection gets its +OK
    greeting; stopped by its master's PID."""

    name = "dovecot"  # in wait_greeting's failure

    def __init__(self, ctx, msgs):
        self.dir = os.path.join(ctx.tmp, "dovecot")
        self.port = free_port()
        mail = os.path.join(self.dir, "mail")
        md = os.path.join(mail, USER)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        for i, data in enumerate(msgs):
            with open(os.path.join(md, "new", "%d.M%dP1.host" % (1700000000 + i, i)), "wb") as f:
                f.write(data)
        for d in ("run", "state"):
            os.makedirs(os.path.join(self.dir, d))
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            f.write("%s:{PLAIN}%s::::::\n" % (USER, PASSWORDS[USER]))
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log = os.path.join(self.dir, "dovecot.log")
        with open(self.conf, "w") as f:
            f.write("""base_dir = {d}/run
state_dir = {d}/state
instance_name = satchel-test-fetch
protocols = pop3
listen = 127.0.0.1
log_path = {log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
{unpacked}passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = static
  args = uid={mu} gid={mu} home={mail}/%u
}}
mail_location = maildir:{mail}/%u
first_valid_uid = 1
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service imap-urlauth-login {{
  inet_listener imap-urlauth {{
    port = 0
  }}
}}
""".format(d=self.dir, log=self.log, mu=MAIL_USER, mail=mail,
           port=self.port, unpacked=dovecotns.settings(MAIL_USER)))
        subprocess.run(["chown", "-R", "%s:%s" % (MAIL_USER, MAIL_USER), mail],
                       check=True)
        self.stderr = os.path.join(self.dir, "stderr")
        with open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(dovecot_command(self.conf),
                                         stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=err)
        wait_greeting(self, 20)

    def log_tail(self):
        out = []
        for path in (self.stderr, self.log):
            try:
                with open(path, "rb") as f:
                    data = f.read()[-600:].decode("latin-1")
            except FileNotFoundError:
                continue
            if data:
                out.append("%s: %s" % (os.path.basename(path), data))
        return "; ".join(out) or "(no output)"

    def stop(self):
        """SIGTERM to the master, then until it and the processes it had
        are gone: it waits for its services, but a session whose client
        is still connected (a failed check) can outlive it; whatever
        still runs 10 s after the master gets SIGKILL, by PID."""
        if self.proc.poll() is None:
            children = list(proc_children(self.proc.pid))
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if not wait_until(lambda: all(map(pid_gone, children)), 10):
                for pid in children:
                    if not pid_gone(pid):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass


MAILUTILS_POP3D = os.path.join(REPO, "build-mailutils", "usr", "sbin", "pop3d")
MU_DOMAIN = "satchel.test"


class MailutilsPop3d:
    """GNU Mailutils' pop3d, unpacked by `make deps` (scripts/fetch-deb),
    in daemon mode from a config of its own: --config-file reads no site
    config, logs go to stderr (a file here), no TCP wrappers, its lock
    files in the temp dir. Users come from a virtual-domain passwd file
    (passwd-dir/DOMAIN, crypt(3) hashes), so they log in as user@DOMAIN:
    a bare name finds its domain only by getsockname(0), inetd mode. The
    mailbox is HOME/INBOX, a Maildir here."""

    name = "mailutils pop3d"  # in wait_greeting's failure

    def __init__(self, ctx, msgs):
        self.dir = os.path.join(ctx.tmp, "mailutils")
        self.port = free_port()
        self.login = "%s@%s" % (USER, MU_DOMAIN)
        home = os.path.join(self.dir, "mail", USER)
        self.inbox = os.path.join(home, "INBOX")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.inbox, sub))
        for i, data in enumerate(msgs):
            self.add(data, "%d.M%dP1.host" % (1700000000 + i, i))
        for d in ("passwd", "lock"):
            os.makedirs(os.path.join(self.dir, d))
        hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                                input=PASSWORDS[USER], capture_output=True,
                                text=True, check=True).stdout.strip()
        pw = pwd.getpwnam(MAIL_USER)
        pwpath = os.path.join(self.dir, "passwd", MU_DOMAIN)
        with open(pwpath, "w") as f:
            f.write("%s:%s:%d:%d::%s:/usr/sbin/nologin\n"
                    % (USER, hashed, pw.pw_uid, pw.pw_gid, home))
        os.chmod(pwpath, 0o600)
        self.conf = os.path.join(self.dir, "pop3d.conf")
        with open(self.conf, "w") as f:
            f.write("""mode daemon;
foreground yes;
pidfile {d}/pop3d.pid;
logging {{ syslog no; }};
tcp-wrappers {{ enable no; }};
auth {{ authentication generic; authorization virtdomain; }};
virtdomain {{ passwd-dir {d}/passwd; }};
mandatory-locking {{ enable yes; lock-directory {d}/lock; }};
timeout 60;
server 127.0.0.1:{port} {{ tls-mode false; }};
""".format(d=self.dir, port=self.port))
        subprocess.run(["chown", "-R", "%s:%s" % (MAIL_USER, MAIL_USER),
                        os.path.join(self.dir, "mail"),
                        os.path.join(self.dir, "lock")], check=True)
        self.log = os.path.join(self.dir, "pop3d.log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([MAILUTILS_POP3D, "--config-file",
                                          self.conf],
                                         stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        wait_greeting(self, 20)

    def log_tail(self):
        with open(self.log, "rb") as f:
            return f.read()[-600:].decode("latin-1")

    def add(self, data, name):
        path = os.path.join(self.inbox, "new", name)
        with open(path, "wb") as f:
            f.write(data)
        subprocess.run(["chown", "%s:%s" % (MAIL_USER, MAIL_USER), path],
                       check=True)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def exercise(ctx, port, name, add_one, login=USER):
    """The same checks against any server holding the corpus."""
    want = reference(port, login)
    n = len(want)
    keep_md = os.path.join(ctx.tmp, name + "-keep")
    rc, err = fetch(ctx, port, "maildir:" + keep_md, "--keep",
                    state=name + "-keepstate", login=login)
    eq(rc, 0, "%s: --keep: %s" % (name, err))
    got = maildir_msgs(keep_md)
    eq(len(got), n, "%s: every message fetched" % name)
    for i, (g, w) in enumerate(zip(got, want)):
        check(g == w, "%s: message %d differs: %s" % (name, i, describe_diff(g, w)))
    eq(server_count(port, login), n, "%s: --keep left them" % name)
    rc, err = fetch(ctx, port, "maildir:" + keep_md, "--keep",
                    state=name + "-keepstate", login=login)
    eq((rc, len(maildir_msgs(keep_md))), (0, n), "%s: second run: 0 new (%s)" % (name, err))
    add_one()
    rc, err = fetch(ctx, port, "maildir:" + keep_md, "--keep",
                    state=name + "-keepstate", login=login)
    eq((rc, len(maildir_msgs(keep_md))), (0, n + 1), "%s: a new one: 1 new (%s)" % (name, err))
    # the other destinations, in keep mode, from scratch
    box = os.path.join(ctx.tmp, name + ".mbox")
    rc, err = fetch(ctx, port, "mbox:" + box, "--keep",
                    state=name + "-mboxstate", login=login)
    eq(rc, 0, "%s: mbox: %s" % (name, err))
    eq(len(mailbox.mbox(box)), n + 1, "%s: mbox holds them all" % name)
    sink = os.path.join(ctx.tmp, name + "-mda")
    os.makedirs(sink)
    rc, err = fetch(ctx, port, "mda:cat > %s/$$.eml" % sink, "--keep",
                    state=name + "-mdastate", login=login)
    eq(rc, 0, "%s: mda: %s" % (name, err))
    mda = []
    for fn in os.listdir(sink):
        with open(os.path.join(sink, fn), "rb") as f:
            mda.append(f.read())
    eq(len(mda), n + 1, "%s: the MDA ran once per message" % name)
    check(set(want) <= set(mda), "%s: the MDA got the messages whole" % name)
    # delete mode empties the server
    del_md = os.path.join(ctx.tmp, name + "-del")
    rc, err = fetch(ctx, port, "maildir:" + del_md, state=name + "-delstate",
                    login=login)
    eq(rc, 0, "%s: delete mode: %s" % (name, err))
    eq(len(maildir_msgs(del_md)), n + 1, "%s: delete mode fetched all" % name)
    eq(server_count(port, login), 0, "%s: the server is empty" % name)


def test_satchel_serve(ctx):
    srv = ctx.srv
    srv.fill(USER, make_msgs([(str(i), d) for i, d in enumerate(corpus())],
                             "maildir"))
    exercise(ctx, srv.port, "satchel",
             lambda: srv.add_maildir(USER, [Msg(simple_msg(99), name="1800000000.M1P1.new")]))


def test_dovecot(ctx):
    dovecot_command(None)   # Skip if there is none
    dc = Dovecot(ctx, corpus())

    def add_one():
        md = os.path.join(dc.dir, "mail", USER, "new")
        path = os.path.join(md, "1800000000.M1P1.host")
        with open(path, "wb") as f:
            f.write(simple_msg(99))
        subprocess.run(["chown", "%s:%s" % (MAIL_USER, MAIL_USER), path], check=True)
    try:
        exercise(ctx, dc.port, "dovecot", add_one)
    except AssertionError as e:
        e.args = ("%s; %s" % (e, dc.log_tail()),)
        raise
    finally:
        dc.stop()


def test_mailutils(ctx):
    if not os.access(MAILUTILS_POP3D, os.X_OK):
        raise Skip("%s is missing (make deps)" % MAILUTILS_POP3D)
    mu = MailutilsPop3d(ctx, corpus())
    try:
        exercise(ctx, mu.port, "mailutils",
                 lambda: mu.add(simple_msg(99), "1800000000.M1P1.host"),
                 login=mu.login)
    except AssertionError as e:
        e.args = ("%s; pop3d log: %s" % (e, mu.log_tail()),)
        raise
    finally:
        mu.stop()


def test_lmtp_destination(ctx):
    """lmtp:HOST:PORT into satchel serve's own LMTP listener: the message
    arrives in the recipient's maildrop (after its Return-Path, with the
    CRLF line ends LMTP carries)."""
    lport = free_port()
    dst = ctx.server(config={"lmtp_listen": "127.0.0.1:%d" % lport}).start()
    src = ctx.srv
    msgs = make_msgs([simple_msg(i) for i in range(3)], "maildir")
    src.fill(USER, msgs)
    rc, err = fetch(ctx, src.port, "lmtp:127.0.0.1:%d" % lport, "--rcpt",
                    "bob", state="lmtpstate")
    eq(rc, 0, "lmtp: %s" % err)
    got = maildir_msgs(dst.maildrop("bob"))
    eq(len(got), 3, "three messages delivered over LMTP to bob")
    for m in msgs:
        # LMTP carries CRLF, and the store keeps what it was given
        check(any(g.endswith(to_crlf(m.data)) for g in got),
              "delivered whole: %r" % got[:1])


def test_import_from_mpop_and_fetchmail(ctx):
    """Moving from mpop or fetchmail: their UIDL files imported, a --keep
    run of satchel fetch downloads nothing they had."""
    srv = ctx.srv
    srv.fill(USER, make_msgs([simple_msg(i) for i in range(4)], "maildir"))
    if shutil.which("mpop"):
        md = os.path.join(ctx.tmp, "mpop-md")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub))
        uidls = os.path.join(ctx.tmp, "mpop_uidls")
        p = subprocess.run(["mpop", "--host=127.0.0.1", "--port=%d" % srv.port,
                            "--tls=off", "--auth=user", "--user=" + USER,
                            "--passwordeval=cat " + pwfile(ctx), "--keep=on",
                            "--delivery=maildir," + md, "--uidls-file=" + uidls,
                            "-q"], capture_output=True, text=True, timeout=60)
        eq(p.returncode, 0, "mpop: %s" % p.stderr)
        url = "pop://%s@127.0.0.1:%d" % (USER, srv.port)
        p = subprocess.run([SATCHEL, "fetch", url, "--state-dir",
                            os.path.join(ctx.tmp, "mstate"), "--import-uidls",
                            "mpop:" + uidls], capture_output=True, text=True,
                           timeout=60)
        eq(p.returncode, 0, "import: %s" % p.stderr)
        check("4 UIDLs imported" in p.stderr, p.stderr)
        out = os.path.join(ctx.tmp, "after-mpop")
        rc, err = fetch(ctx, srv.port, "maildir:" + out, "--keep", state="mstate")
        eq((rc, len(maildir_msgs(out))), (0, 0), "nothing twice after mpop: %s" % err)
    if shutil.which("fetchmail"):
        ids = os.path.join(ctx.tmp, "fetchids")
        p3 = poplib.POP3("127.0.0.1", srv.port, timeout=30)
        p3.user(USER)
        p3.pass_(PASSWORDS[USER])
        server_uidls = [l.split()[1].decode() for l in p3.uidl()[1]]
        p3.quit()
        eq(len(server_uidls), 4, "UIDLs")
        with open(ids, "w") as f:   # the format fetchmail 6 writes
            f.write("someone@else.example x-1\n")
            for u in server_uidls:
                f.write("%s@127.0.0.1 %s\n" % (USER, u))
        url = "pop://%s@127.0.0.1:%d" % (USER, srv.port)
        p = subprocess.run([SATCHEL, "fetch", url, "--state-dir",
                            os.path.join(ctx.tmp, "fstate"), "--import-uidls",
                            "fetchmail:" + ids], capture_output=True, text=True,
                           timeout=60)
        eq(p.returncode, 0, "import: %s" % p.stderr)
        out = os.path.join(ctx.tmp, "after-fetchmail")
        rc, err = fetch(ctx, srv.port, "maildir:" + out, "--keep", state="fstate")
        eq((rc, len(maildir_msgs(out))), (0, 0),
           "nothing twice after fetchmail: %s" % err)
