"""satchel serve's LMTP front end as the master runs it: lmtp_listen
(TCP and unix:PATH), LMTP workers in every generation (named, counted in
the ready line, unprivileged, restarted, replaced on SIGHUP with the
sockets kept), and user lookups through the auth process (no session, no
LOGIN-DELAY)."""

import atexit
import os
import shutil
import signal
import smtplib
import stat
import tempfile
import time

from harness import *

STORES = ("maildir",)
WORKERS = 1
LMTP_WORKERS = 2
SOCK_DIR = tempfile.mkdtemp(prefix="satchel-it-lmtpsock-")
os.chmod(SOCK_DIR, 0o755)
atexit.register(shutil.rmtree, SOCK_DIR, True)
SOCK = os.path.join(SOCK_DIR, "lmtp")
LMTP_PORT = free_port()
CONFIG = {
    "lmtp_listen": "127.0.0.1:%d,unix:%s" % (LMTP_PORT, SOCK),
    "lmtp_workers": str(LMTP_WORKERS),
    "lmtp_socket_mode": "0620",
}
EXTRA_USERS = {"delayed": "{PLAIN}delayed-Pw.3x::::::login_delay=3600"}
EXTRA_SECRETS = ("delayed-Pw.3x",)


def lmtp_workers(srv):
    return sorted(p for p, c in srv.children().items() if c == "satchel-lmtp")


def ready_lines(srv):
    return [l for l in srv.log_text().splitlines() if " ready: " in l]


def deliver(target, rcpts, subject="t"):
    """One LMTP transaction (smtplib.LMTP: host:port or a unix path).
    Returns {rcpt: (code, text)} for the refused ones."""
    c = smtplib.LMTP(target[0], target[1]) if isinstance(target, tuple) \
        else smtplib.LMTP(target)
    try:
        c.ehlo_or_helo_if_needed()
        msg = ("From: a@example.org\r\nSubject: %s\r\nMessage-ID: "
               "<%d@t>\r\n\r\nbody\r\n" % (subject, time.monotonic_ns()))
        try:
            return c.sendmail("a@example.org", rcpts, msg)
        except smtplib.SMTPRecipientsRefused as e:
            return e.recipients
    finally:
        c.quit()


def count(srv, user):
    return len(srv.maildir_files(user))


def test_lmtp_workers_started_and_counted(ctx):
    srv = ctx.srv
    eq(len(lmtp_workers(srv)), LMTP_WORKERS, "satchel-lmtp children: %s"
       % srv.children())
    lines = ready_lines(srv)
    check(lines and ("1 workers, %d lmtp workers, auth pid=" % LMTP_WORKERS)
          in lines[-1], "the ready line counts the LMTP workers: %s" % lines)
    if is_root():
        uid = pwd.getpwnam(MAIL_USER).pw_uid
        for pid in lmtp_workers(srv):
            eq(proc_uid(pid), [uid] * 4, "uids of LMTP worker %d" % pid)


def test_unix_socket_mode_and_owner(ctx):
    st = os.lstat(SOCK)
    check(stat.S_ISSOCK(st.st_mode), "%s is a socket" % SOCK)
    eq(oct(st.st_mode & 0o7777), "0o620", "mode from lmtp_socket_mode")
    if is_root():
        pw = pwd.getpwnam(MAIL_USER)
        eq((st.st_uid, st.st_gid), (pw.pw_uid, pw.pw_gid),
           "owner: mail_user and its group (lmtp_socket_owner empty)")


def test_delivers_over_tcp_and_unix(ctx):
    srv = ctx.srv
    eq(deliver(("127.0.0.1", LMTP_PORT), ["alice@example.org"]), {},
       "refused over TCP")
    eq(deliver(SOCK, ["alice", "bob"]), {}, "refused over the unix socket")
    wait_for(lambda: count(srv, "alice") == 2 and count(srv, "bob") == 1, 5,
             "the three deliveries stored")


def test_userdb_lookup_is_no_login(ctx):
    """RCPT looks the user up through the auth process: unknown is 550
    5.1.1; a user with login_delay=3600 receives any number of messages
    and can still log in (a lookup is no login), and a lookup after the
    login does not disturb it."""
    srv = ctx.srv
    refused = deliver(("127.0.0.1", LMTP_PORT),
                      ["nosuch@example.org", "delayed@example.org"])
    check(list(refused) == ["nosuch@example.org"] and
          refused["nosuch@example.org"][0] == 550 and
          b"5.1.1" in refused["nosuch@example.org"][1],
          "only the unknown user refused, 550 5.1.1: %s" % refused)
    for i in range(3):
        eq(deliver(SOCK, ["delayed"]), {}, "delivery %d to delayed" % i)
    p = srv.login("delayed", "delayed-Pw.3x")
    eq(p.stat()[0], 4, "delayed's messages")
    p.quit()
    eq(deliver(SOCK, ["delayed"]), {}, "delivery after the login")
    p = srv.connect()
    p.ok("USER delayed")
    check("LOGIN-DELAY" in p.cmd("PASS delayed-Pw.3x"),
          "the login (not the lookups) started the delay")
    p.close()


def test_killed_lmtp_worker_restarted(ctx):
    ctx.workers_may_change = True
    srv = ctx.srv
    before = lmtp_workers(srv)
    os.kill(before[0], signal.SIGKILL)
    wait_for(lambda: len(lmtp_workers(srv)) == LMTP_WORKERS and
             before[0] not in lmtp_workers(srv), 10,
             "a new LMTP worker in place of %d" % before[0])
    logged = "lmtp worker (restarting) pid=%d killed by signal 9" % before[0]
    wait_for(lambda: logged in srv.log_text(), 10,
             lambda: "the crash is logged (%s; log: %s)"
             % (logged, srv.log_tail(6)))
    for _ in range(4):
        eq(deliver(SOCK, ["carol"]), {}, "delivery after the restart")


def test_sighup_replaces_lmtp_workers_keeps_socket(ctx):
    ctx.workers_may_change = True
    srv = ctx.srv
    before = lmtp_workers(srv)
    ino = os.lstat(SOCK).st_ino
    srv.reload()
    wait_for(lambda: not set(before) & set(lmtp_workers(srv)), 10,
             "the old LMTP workers gone")
    eq(len(lmtp_workers(srv)), LMTP_WORKERS, "new LMTP workers")
    eq(os.lstat(SOCK).st_ino, ino, "the unix socket is the same file")
    eq(deliver(SOCK, ["dave"]), {}, "delivery over the kept socket")
    eq(deliver(("127.0.0.1", LMTP_PORT), ["dave"]), {},
       "delivery over the kept TCP socket")


def test_reload_adds_an_address(ctx):
    ctx.workers_may_change = True
    srv = ctx.srv
    port2 = free_port()
    srv.config["lmtp_listen"] = CONFIG["lmtp_listen"] + ",127.0.0.1:%d" % port2
    srv.write_config()
    try:
        srv.reload()
        eq(deliver(("127.0.0.1", port2), ["erin"]), {}, "the new address")
        eq(deliver(SOCK, ["erin"]), {}, "the old unix socket")
    finally:
        srv.config["lmtp_listen"] = CONFIG["lmtp_listen"]
        srv.write_config()
        srv.reload()


def test_regular_file_at_socket_path_refused(ctx):
    path = os.path.join(ctx.tmp, "not-a-socket")
    with open(path, "w") as f:
        f.write("keep me\n")
    srv = ctx.server(config={"lmtp_listen": "unix:" + path})
    try:
        srv.start(timeout=5)
        raise AssertionError("started with a regular file at the path")
    except AssertionError as e:
        check("exited with status" in str(e), "start failed: %s" % e)
    check("is not a socket" in srv.log_text(),
          "the reason is logged: %s" % srv.log_tail(3))
    with open(path) as f:
        eq(f.read(), "keep me\n", "the file is untouched")


def test_delivery_only_node(ctx):
    """listen empty, lmtp_listen set: no POP3 worker, the LMTP ones
    serve, the ready line says 0 workers."""
    port = free_port()
    srv = ctx.server(config={"listen": "", "lmtp_listen": "127.0.0.1:%d"
                             % port}).start()
    kids = sorted(srv.children().values())
    eq(kids, ["satchel-auth", "satchel-lmtp"], "children")
    check("ready: generation 1, 0 workers, 1 lmtp workers" in
          srv.log_text(), "ready line: %s" % ready_lines(srv))
    eq(deliver(("127.0.0.1", port), ["alice"]), {}, "delivery")
    wait_for(lambda: count(srv, "alice") == 1, 5, "stored")
