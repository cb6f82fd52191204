"""Delivery end to end with a real Exim (issue 8): Debian's Exim 4 binary,
unpacked by `make deps` (scripts/fetch-deb) because exim4-daemon-light
conflicts with Postfix in apt, runs with its own configuration, spool and
logs in the test's directory. It hands mail to satchel through each of
the transports docs/admin.md gives: `smtp` with `protocol = lmtp` to the
LMTP port, `lmtp` on the unix socket, `lmtp` with `command = satchel lmtp
--stdio`, and `pipe` to `satchel deliver`. Every message arrives exactly
once per recipient and reads back over POP3 byte-exact; an unknown user is
failed (bounced) alone, a temporary failure is deferred.

Exim looks up its compiled-in user, Debian-exim, at start; it is not made
on the system: Exim runs in a private mount namespace (unshare -m) where
/etc/passwd and /etc/group are copies with that user added, with the uid
and gid of the mail account. So Exim runs its transports as that account
without root (a -C configuration not in Exim's trusted_configs runs
without root privilege), as the transports' `user` says."""

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

import harness
from harness import *

STORES = ("maildir",)
WORKERS = 1
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EXIM = os.path.join(ROOT, "build-exim", "usr", "sbin", "exim4")
SOCK_DIR = tempfile.mkdtemp(prefix="satchel-it-eximsock-")
os.chmod(SOCK_DIR, 0o755)
SOCK = os.path.join(SOCK_DIR, "lmtp")
LMTP_PORT = free_port()
CONFIG = {
    "lmtp_listen": "127.0.0.1:%d,unix:%s" % (LMTP_PORT, SOCK),
    "lmtp_workers": "1",
    "lmtp_socket_mode": "0666",
}
# a maildrop no one can create: every delivery is a temporary failure
EXTRA_USERS = {
    "frank": "{PLAIN}frank-Pw.2x::::::mail=maildir:/proc/satchel-nowhere/f",
}
EXTRA_SECRETS = ("frank-Pw.2x",)
SENDER = "sender@client.satchel-test.example"

TRANSPORTS = {
    "lmtp_inet": """
  driver = smtp
  protocol = lmtp
  hosts = 127.0.0.1
  port = {port}
  allow_localhost
  hosts_avoid_tls = *
""",
    "lmtp_unix": """
  driver = lmtp
  socket = {sock}
  batch_max = 10
  user = {mail_user}
""",
    "lmtp_command": """
  driver = lmtp
  command = {satchel} lmtp --stdio -c {conf}
  batch_max = 10
  user = {mail_user}
""",
    # Exim 4.96 refuses tainted values ($local_part, $sender_address) in
    # a pipe command: the user is the router's untainted $local_part_data,
    # the sender comes from the From line Exim puts first (message_prefix)
    "pipe_deliver": """
  driver = pipe
  command = {satchel} deliver -c {conf} -d $local_part_data
  user = {mail_user}
  message_suffix =
  return_path_add = false
  delivery_date_add = false
  envelope_to_add = false
  log_output
""",
}

# a local part is known when its Maildir exists; dsearch makes it
# untainted ($local_part_data)
ROUTER_EXTRA = {
    "pipe_deliver": "\n  local_parts = dsearch;{mailroot}",
}

CONF = """# written by tests/integration/test_exim.py
exim_path = {exim}
primary_hostname = exim.satchel-test.example
qualify_domain = example.org
spool_directory = {dir}/spool
log_file_path = {dir}/log/%slog
domainlist local_domains = example.org
never_users =
trusted_users = root
received_header_text = Received: by exim.satchel-test.example
begin routers
to_satchel:
  driver = accept
  domains = +local_domains{router_extra}
  transport = {transport}
begin transports
{transport}:{body}
begin retry
* * F,1h,10m
"""


def need_exim():
    if not is_root():
        raise Skip("needs root (Exim's namespace, its spool)")
    if not os.access(EXIM, os.X_OK):
        raise Skip("no %s (make deps unpacks Debian's Exim there)" % EXIM)
    if shutil.which("unshare") is None:
        raise Skip("needs unshare (util-linux)")


class Exim:
    """One Exim configuration in its own directory, with its transport."""

    def __init__(self, ctx, transport):
        self.dir = os.path.join(ctx.tmp, "exim-" + transport)
        srv = ctx.srv
        acct = pwd.getpwnam(MAIL_USER)
        uid, gid = acct.pw_uid, acct.pw_gid
        for sub in ("spool", "log"):
            os.makedirs(os.path.join(self.dir, sub))
            os.chown(os.path.join(self.dir, sub), uid, gid)
        self.conf = os.path.join(self.dir, "exim.conf")
        body = TRANSPORTS[transport].format(
            port=LMTP_PORT, sock=SOCK, satchel=harness.SATCHEL,
            conf=srv.conf_path, mail_user=MAIL_USER)
        with open(self.conf, "w") as f:
            f.write(CONF.format(dir=self.dir, transport=transport, exim=EXIM,
                                body=body, router_extra=ROUTER_EXTRA.get(
                                    transport, "").format(
                                        mailroot=os.path.dirname(srv.maildrop("alice")))))
        self.passwd = os.path.join(self.dir, "passwd")
        self.group = os.path.join(self.dir, "group")
        for src, dst, line in (
                ("/etc/passwd", self.passwd,
                 "Debian-exim:x:%d:%d:Exim:/nonexistent:/usr/sbin/nologin"
                 % (uid, gid)),
                ("/etc/group", self.group, "Debian-exim:x:%d:" % gid)):
            with open(src) as f:
                text = f.read()
            with open(dst, "w") as f:
                f.write(text.rstrip("\n") + "\n" + line + "\n")
            os.chmod(dst, 0o644)

    def run(self, args, data=b""):
        script = ('mount --bind "$1" /etc/passwd && '
                  'mount --bind "$2" /etc/group && shift 2 && exec "$@"')
        p = subprocess.run(
            ["unshare", "-m", "sh", "-c", script, "sh", self.passwd,
             self.group, EXIM, "-C", self.conf] + args, input=data,
            capture_output=True, timeout=60)
        return p

    def send(self, rcpts, data):
        """Submits data (-odi: delivered before this returns)."""
        p = self.run(["-odi", "-oi", "-f", SENDER] + rcpts, data)
        eq(p.returncode, 0, "exim's exit (stderr %s, log %s)" %
           (short(p.stderr, 400), self.log_tail()))

    def log(self):
        try:
            with open(os.path.join(self.dir, "log", "mainlog"),
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, n=8):
        return self.log().splitlines()[-n:]


def message(subject):
    mid = "<%d.%d@client.satchel-test.example>" % (os.getpid(),
                                                   time.monotonic_ns())
    head = ("From: Sender <%s>\nTo: someone\nSubject: %s\n"
            "Message-ID: %s\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n\n"
            % (SENDER, subject, mid))
    body = "".join("line %d of %s: caf\u00e9\n" % (i, subject)
                   for i in range(30))
    body += ".a line that starts with a dot\n..two dots\nlast\n"
    return mid, (head + body).encode()


def body_of(data):
    data = data.replace(b"\r\n", b"\n")
    return data[data.find(b"\n\n") + 2:].replace(b"\n", b"\r\n")


def check_delivered(srv, users, sent, mid):
    """Each user has exactly one message: sent, with its Message-ID and
    the envelope sender as the one Return-Path."""
    for u in users:
        srv.wait_unlocked(u)
        got = srv.read_all(u)
        eq(len(got), 1, "messages of %s over POP3" % u)
        eq(body_of(got[0]), body_of(sent), "body of %s's message" % u)
        head = got[0].split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        check("Message-ID: %s" % mid in head, "Message-ID kept: %s" %
              short(head, 500))
        eq(re.findall(r"(?im)^Return-Path: ([^\r\n]*)", head),
           ["<%s>" % SENDER],
           "one Return-Path for %s" % u)


def run_transport(ctx, transport, users):
    need_exim()
    srv = ctx.srv
    for u in users:
        srv.fill(u, [])
    exim = Exim(ctx, transport)
    mid, data = message("through exim %s" % transport)
    exim.send(["%s@example.org" % u for u in users], data)
    log = exim.log()
    for u in users:
        check(re.search(r"[-=]> (%s@example\.org|%s <%s@example\.org>) "
                        r".*T=%s" % (u, u, u, transport), log),
              "exim delivered to %s over %s: %s" % (u, transport,
                                                   exim.log_tail()))
    check("Completed" in log, "the message completed: %s" % exim.log_tail())
    check_delivered(srv, users, data, mid)
    return exim


def test_smtp_transport_lmtp_over_tcp(ctx):
    run_transport(ctx, "lmtp_inet", ["alice", "bob", "carol"])


def test_lmtp_transport_unix_socket(ctx):
    run_transport(ctx, "lmtp_unix", ["alice", "dave"])


def test_lmtp_transport_command_stdio(ctx):
    run_transport(ctx, "lmtp_command", ["bob", "erin"])


def test_pipe_transport_satchel_deliver(ctx):
    run_transport(ctx, "pipe_deliver", ["carol", "dave"])


def test_unknown_user_failed_alone_temporary_deferred(ctx):
    """Over LMTP: nosuch gets 550 5.1.1 (Exim fails it: a bounce),
    frank's maildrop cannot be made (4.x.x: Exim defers him), alice gets
    the message."""
    need_exim()
    srv = ctx.srv
    srv.fill("alice", [])
    # frank's entry in the mail root (so the pipe router takes him); his
    # maildrop (mail= in the passwd-file) cannot be made
    os.makedirs(os.path.join(os.path.dirname(srv.maildrop("alice")), "frank"), exist_ok=True)
    for transport in ("lmtp_inet", "pipe_deliver"):
        exim = Exim(ctx, transport)
        mid, data = message("mixed results over %s" % transport)
        exim.send(["alice@example.org", "nosuch@example.org",
                   "frank@example.org"], data)
        log = exim.log()
        check(re.search(r"\*\* nosuch@example\.org\b.*(550 5\.1\.1|"
                        r"Unrouteable address)", log),
              "%s: nosuch failed permanently: %s" % (transport,
                                                     exim.log_tail()))
        check(re.search(r"== frank@example\.org ", log),
              "%s: frank deferred: %s" % (transport, exim.log_tail()))
        check(not re.search(r"\*\* frank@", log),
              "%s: frank was not bounced" % transport)
        check(re.search(r"[-=]> (alice@example\.org|alice <alice@example"
                        r"\.org>) ", log),
              "%s: alice delivered: %s" % (transport, exim.log_tail()))
        srv.wait_unlocked("alice")
        got = srv.read_all("alice")
        check(any(("Message-ID: %s" % mid).encode() in m for m in got),
              "%s: alice's copy read back" % transport)
    eq(len(srv.read_all("alice")), 2, "alice: one message per transport")
