"""Process model, signals, listeners, privileges, logging."""
import os
import signal
import time

from harness import *

STORES = ("maildir",)
WORKERS = 2


def test_process_names(ctx):
    kids = ctx.srv.children()
    comms = sorted(kids.values())
    eq(comms.count("satchel-worker"), 2, "satchel-worker children (workers = 2): %s" % comms)
    eq(comms.count("satchel-auth"), 1, "satchel-auth children: %s" % comms)
    with open("/proc/%d/comm" % ctx.srv.proc.pid) as f:
        # "satchel" for build/satchel (the name of the binary, as exec'd)
        eq(f.read().strip(), os.path.basename(SATCHEL)[:15], "master comm")


def test_privileges_dropped(ctx):
    if not is_root():
        raise Skip("not root: the server runs as the invoking user")
    uid = pwd.getpwnam(MAIL_USER).pw_uid
    for pid in ctx.srv.workers_now():
        ids = proc_uid(pid)
        eq(ids, [uid] * 4, "uids (real, effective, saved, fs) of worker %d" % pid)


def test_auth_runs_as_its_own_user(ctx):
    """DESIGN.md: secrets live only in the auth process. With auth_user
    set, the passwd-file can be readable by it alone, not by the workers
    that parse client input."""
    if not is_root():
        raise Skip("not root: everything runs as the invoking user")
    try:
        apw = pwd.getpwnam("satchel-auth")
    except KeyError:
        raise Skip("no satchel-auth user (make deps creates it)")
    srv = ctx.server(config={"auth_user": "satchel-auth"}).start()
    os.chown(srv.passwd_path, apw.pw_uid, apw.pw_gid)
    os.chmod(srv.passwd_path, 0o600)
    os.utime(srv.passwd_path)  # a new mtime: the auth process reloads
    kids = srv.children()
    auth = [pid for pid, c in kids.items() if c == "satchel-auth"]
    eq(len(auth), 1, "one auth process: %s" % kids)
    eq(proc_uid(auth[0]), [apw.pw_uid] * 4, "uids of the auth process")
    uid = pwd.getpwnam(MAIL_USER).pw_uid
    for pid in srv.workers_now():
        eq(proc_uid(pid), [uid] * 4, "uids of worker %d" % pid)
    p = srv.login("alice")
    p.quit()


def test_killed_worker_restarted(ctx):
    ctx.workers_may_change = True
    ctx.srv.fill("alice", make_msgs([simple_msg(1)], "maildir"))
    before = ctx.srv.workers_now()
    os.kill(before[0], signal.SIGKILL)
    ok = wait_until(lambda: len(ctx.srv.workers_now()) == len(before)
                    and before[0] not in ctx.srv.workers_now(), 10)
    check(ok, "worker not replaced within 10 s: before %s, now %s" % (before, ctx.srv.workers_now()))
    for _ in range(6):   # new connections are served (whichever worker)
        p = ctx.srv.login_retry("alice")
        eq(p.stat()[0], 1, "count")
        p.quit()


def test_sigterm_ends_sessions_without_deleting(ctx):
    srv = ctx.server("maildir")
    srv.start()
    msgs = srv.fill("alice", make_msgs([simple_msg(i) for i in (1, 2, 3)], "maildir"))
    before = srv.drop_snapshot("alice")
    p = srv.login("alice")
    p.ok("DELE 1")
    p.retr(2)
    q = srv.connect()      # a session still in AUTHORIZATION
    status, took, left = srv.stop()
    check(p.wait_closed(3), "session not ended by SIGTERM")
    check(q.wait_closed(3), "AUTHORIZATION session not ended by SIGTERM")
    eq(status, 0, "exit status after SIGTERM")
    check(took < 5, "took %.1fs to stop" % took)
    check(not left, "children left after the master exited: %s" % left)
    eq(srv.drop_snapshot("alice"), before, "stored messages after SIGTERM mid-session")
    check(not os.path.exists(srv.lock_path("alice")), "lock file left after SIGTERM")
    srv.start()
    r = srv.login("alice")
    eq(r.stat()[0], 3, "count after restart")
    r.quit()


def test_sighup_reloads_config(ctx):
    srv = ctx.server("maildir")
    srv.start()
    p = srv.connect()
    check("<" not in p.greeting, "greeting with apop = no: %r" % p.greeting)
    p.quit()
    srv.config["apop"] = "yes"
    srv.write_config()
    srv.reload()

    def apop_on():
        q = srv.connect()
        g = q.greeting
        q.quit()
        return "<" in g
    check(wait_until(apop_on, 5, 0.2), "greeting has no APOP timestamp 5 s after "
          "apop = yes and SIGHUP")
    check(srv.alive(), "master died on SIGHUP")


def test_sighup_reloads_passwd_file(ctx):
    srv = ctx.server("maildir")
    srv.start()
    srv.extra_users["newbie"] = "{PLAIN}newbie-Pw.n1"
    srv.passwords["newbie"] = "newbie-Pw.n1"
    srv.secrets.add("newbie-Pw.n1")
    srv.write_passwd()
    srv.reload()

    def can_login():
        q = srv.connect()
        q.ok("USER newbie")
        ok = q.cmd("PASS newbie-Pw.n1").startswith("+OK")
        q.quit()
        return ok
    check(wait_until(can_login, 5, 0.2), "user added to the passwd-file cannot log in "
          "5 s after SIGHUP")


def test_sighup_with_bad_config_keeps_serving(ctx):
    srv = ctx.server("maildir")
    srv.start()
    with open(srv.conf_path, "a") as f:
        f.write("bogus_key = 1\n")
    srv.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed, keeping the running config" in srv.log_text(),
             10, "'reload failed' in the log after SIGHUP with a bad config")
    check(srv.alive(), "master exited on SIGHUP with a bad config")
    eq(srv.ready_generations(srv.log_start), [1], "no new generation for a bad config")
    p = srv.login("alice")
    p.quit()


def test_ipv6_listener(ctx):
    if not have_ipv6_loopback():
        raise Skip("no IPv6 loopback")
    srv = ctx.server("maildir", listen="127.0.0.1:{port},[::1]:{port}")
    srv.port = free_port(("127.0.0.1", "::1"))
    srv.write_config()
    srv.start()
    p = Pop(srv.port, host="::1")
    starts(p.greeting, "+OK", "greeting over IPv6")
    p.login("alice", srv.passwords["alice"])
    p.quit()
    q = srv.connect()
    q.quit()
    check("rip=::1" in srv.log_text(), "logout line with rip=::1 missing")


def test_logout_and_auth_failed_lines(ctx):
    ctx.srv.fill("alice", make_msgs([simple_msg(1), simple_msg(2)], "maildir"))
    p = ctx.srv.login("alice")
    p.retr(1)
    p.ok("DELE 2")
    p.quit()
    q = ctx.srv.connect()
    q.ok("USER bob")
    q.err("PASS not-bobs-password")
    q.ok("USER ghost")
    q.err("PASS nothing")
    q.quit()
    ok = wait_until(lambda: "logout: user=alice rip=127.0.0.1" in ctx.srv.log_text(), 3)
    check(ok, "no 'logout: user=alice rip=127.0.0.1' line in the log")
    log = ctx.srv.log_text()
    check("auth failed: user=bob rip=127.0.0.1" in log, "no 'auth failed: user=bob rip=127.0.0.1'")
    check("auth failed: user=ghost rip=127.0.0.1" in log, "no 'auth failed: user=ghost rip=127.0.0.1'")
    check("not-bobs-password" not in log and "nothing" not in log.replace("nothing deleted", ""),
          "a wrong password is in the log")


def test_log_sanitizes_control_bytes(ctx):
    start = len(ctx.srv.log_text())
    q = ctx.srv.connect()
    if q.cmd(b"USER evil\x1b[31m\x07name").startswith("+OK"):
        q.err("PASS x")
    q.err(b"FOO\x1b[2J\x08\x7f")
    q.quit()
    # the session's last line (debug level) comes after all it logged
    wait_for(lambda: "end=quit" in ctx.srv.log_text()[start:], 5,
             "the session's disconnect line in the log")
    with open(ctx.srv.log_path, "rb") as f:
        raw = f.read()
    bad = [c for c in set(raw) if c < 0x20 and c not in (0x0a, 0x09)]
    check(not bad, "control bytes %s in the log" % sorted(bad))


def test_children_end_when_the_master_is_killed(ctx):
    """The parent-death signal is set after the privilege drop (which
    clears it), so auth and workers do not outlive a killed master."""
    srv = ctx.server("maildir").start()
    kids = list(srv.children())
    check(len(kids) >= 3, "auth and two workers: %s" % srv.children())
    srv.proc.kill()
    srv.proc.wait(5)
    def alive(pid):
        try:
            with open("/proc/%d/status" % pid) as f:
                return "State:\tZ" not in f.read()
        except OSError:
            return False
    wait_for(lambda: not any(alive(p) for p in kids), 10,
             "children %s to end after the master was killed" % kids)
