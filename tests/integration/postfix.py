"""A private Postfix instance for the delivery tests (tests/integration/
test_postfix.py), never the system one.

Everything lives in one temporary directory D made by the test:

    D/etc      config_directory: main.cf and master.cf written here
    D/spool    queue_directory (its private/ holds lmtp:unix: sockets)
    D/data     data_directory
    D/maillog  Postfix's own log (postlogd), shown when a wait fails

The instance listens on 127.0.0.1 only (inet_interfaces = loopback-only,
inet_protocols = ipv4), its smtpd on a port from the harness's port block,
and has no aliases, no relaying and no outside delivery (default_transport
= error:). /etc/postfix is only read (postfix-files, postfix-script, as
every instance does); nothing there is changed, and the system instance is
neither started nor stopped: start() runs `postfix -c D/etc start`, stop()
`postfix -c D/etc stop`, and if that fails the master is killed by the PID
in D/spool/pid/master.pid.

Where mail goes: `routes` maps a recipient domain to a Postfix next hop
(transport_maps, an inline: table), each domain a virtual mailbox domain
with no recipient map, so Postfix accepts every local part and the LMTP
server decides (550 5.1.1 for an unknown user):

    {"inet.example": "lmtp:inet:127.0.0.1:PORT",
     "unix.example": "lmtp:unix:private/satchel"}

lmtp:unix:private/NAME is the socket D/spool/private/NAME: lmtp(8) runs
chrooted in D/spool, as on Debian, and resolves the name there. Extra
master.cf services (`services`, e.g. an lmtp with -o overrides) can be
named as next hops too.

`mailbox_command` routes LOCAL_DOMAIN (mydestination) to local(8), which
runs the command. local(8) runs it only for a recipient that is a system
account (getpwnam), as that account, with HOME and the cwd set to its
home (a missing home is only a warning). So the tests deliver to system
accounts that exist anyway (`satchel`, created by make deps) with the
same name in satchel's passwd-file, and set `local_recipient_maps =` (no
smtpd check against the unix passwd map) and `alias_maps =` (no
/etc/aliases).
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import free_port, wait_until

POSTFIX = "/usr/sbin/postfix"
LOCAL_DOMAIN = "local.example"
START_TIMEOUT = 20              # seconds until smtpd answers 220


def available():
    return os.access(POSTFIX, os.X_OK) and os.geteuid() == 0


class Postfix:
    """One private instance; start(), inject mail, stop()."""

    def __init__(self, routes, mailbox_command=None, extra=None,
                 services=(), port=None):
        """routes {domain: next hop}; mailbox_command: local(8)'s command
        for LOCAL_DOMAIN (None: no local delivery); extra: more main.cf
        settings; services: more master.cf lines."""
        self.dir = tempfile.mkdtemp(prefix="satchel-it-postfix-")
        os.chmod(self.dir, 0o755)
        self.etc = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "data")
        self.maillog = os.path.join(self.dir, "maillog")
        for d in (self.etc, self.spool, self.data):
            os.makedirs(d)
            os.chmod(d, 0o755)
        # the queue directory is root's (postfix check makes the rest);
        # the data directory belongs to mail_owner
        pw = pwd.getpwnam("postfix")
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        os.chmod(self.data, 0o700)
        self.port = port or free_port()
        self.routes = dict(routes)
        self.command = mailbox_command
        self.extra = dict(extra or {})
        self.services = list(services)
        self.started = False
        self.write_config()

    def private_socket(self, name="satchel"):
        """The path satchel listens on for lmtp:unix:private/NAME."""
        return os.path.join(self.spool, "private", name)

    # --- configuration
    def main_cf(self):
        cf = {
            "compatibility_level": "3.6",
            "queue_directory": self.spool,
            "data_directory": self.data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "myhostname": "mx.satchel-test.example",
            "mydomain": "satchel-test.example",
            "myorigin": "$myhostname",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "",
            "relay_domains": "",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "default_transport": "error:no outside delivery in tests",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "smtputf8_enable": "yes",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": self.dir,
            # quick retries: a deferred message is tried again soon
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "delay_warning_time": "0",
            # no DNS anywhere (loopback, numeric addresses)
            "disable_dns_lookups": "yes",
            "smtp_host_lookup": "native",
            "lmtp_host_lookup": "native",
            "smtpd_banner": "$myhostname ESMTP satchel-test",
            "message_size_limit": "10240000",
            # every delivery on a connection of its own: a cached one to
            # an LMTP server a test has stopped would defer the next
            "lmtp_connection_cache_on_demand": "no",
            "lmtp_connection_cache_destinations": "",
        }
        if self.routes:
            cf["virtual_mailbox_domains"] = ", ".join(sorted(self.routes))
            cf["transport_maps"] = "inline:{ %s }" % ", ".join(
                "%s=%s" % kv for kv in sorted(self.routes.items()))
        if self.command:
            cf["mydestination"] = LOCAL_DOMAIN
            cf["local_transport"] = "local"
            cf["mailbox_command"] = self.command
        cf.update(self.extra)
        return cf

    def master_cf(self):
        # chroot n except lmtp (as Debian runs it): a chrooted smtpd or
        # qmgr would need copies of /etc files in the queue directory
        return "\n".join([
            "127.0.0.1:%d inet n - n - - smtpd" % self.port,
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "local unix - n n - - local",
            "virtual unix - n n - - virtual",
            "lmtp unix - - y - - lmtp",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ] + self.services) + "\n"

    def write_config(self):
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            for k, v in self.main_cf().items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(self.master_cf())

    def postfix(self, *args, timeout=60):
        return subprocess.run([POSTFIX, "-c", self.etc] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    # --- running
    def start(self):
        r = self.postfix("start")
        if r.returncode != 0:
            raise AssertionError("postfix -c %s start failed (%d): %s %s; "
                                 "log: %s" % (self.etc, r.returncode,
                                              r.stdout, r.stderr,
                                              self.log_tail()))
        self.started = True
        if not wait_until(self.smtpd_answers, START_TIMEOUT):
            raise AssertionError("the private Postfix's smtpd on 127.0.0.1:%d "
                                 "did not answer 220 within %ds; log: %s"
                                 % (self.port, START_TIMEOUT, self.log_tail()))
        return self

    def smtpd_answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=2) as s:
                return s.recv(512).startswith(b"220 ")
        except OSError:
            return False

    def master_pid(self):
        try:
            with open(os.path.join(self.spool, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        if not self.started:
            return
        pid = self.master_pid()
        r = self.postfix("stop")
        if pid is not None:
            if r.returncode != 0 or not wait_until(
                    lambda: not os.path.exists("/proc/%d" % pid), 10):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.started = False

    def flush(self):
        """Asks the queue manager to retry deferred mail now."""
        self.postfix("flush")

    def queue_empty(self):
        """No message left in the instance's queues."""
        for q in ("incoming", "active", "deferred", "hold", "maildrop"):
            d = os.path.join(self.spool, q)
            for _, _, files in os.walk(d):
                if files:
                    return False
        return True

    def log_text(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_since_send(self):
        """The log from the last send() on: a status line of an earlier
        test (the same recipient, the same Postfix) never matches."""
        return self.log_text()[getattr(self, "send_mark", 0):]

    def log_tail(self, n=12):
        return " | ".join(self.log_text().splitlines()[-n:])

    def cleanup(self):
        self.stop()
        if os.environ.get("KEEP"):
            print("# kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- injecting
    def send(self, sender, recipients, data, timeout=30):
        """Submits one message over SMTP with swaks. data: the message
        (bytes, LF or CRLF). Returns swaks' output."""
        # the log is shared by every test of a module: what this
        # message causes is what comes after here (log_since_send)
        self.send_mark = len(self.log_text())
        path = os.path.join(self.dir, "msg-%d.eml" % time.monotonic_ns())
        # swaks ends the data with CRLF . CRLF itself: a final line end
        # of ours would become an extra empty line
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        with open(path, "wb") as f:
            f.write(data)
        cmd = ["swaks", "--server", "127.0.0.1", "--port", str(self.port),
               "--from", sender, "--to", ",".join(recipients),
               "--data", path, "--helo", "client.satchel-test.example",
               "--timeout", "20", "--silent", "1"]
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout)
        os.unlink(path)
        if r.returncode != 0:
            raise AssertionError("swaks failed (%d): %s %s" %
                                 (r.returncode, r.stdout[-800:],
                                  r.stderr[-800:]))
        return r.stdout
