"""satchel reload / stop / status and the pid file (issue 11 item 5):
reload makes the running master pick up a config change, stop ends it and
waits (the pid file is gone when it returns), a second instance with the
same pid_file is refused before it binds anything, a stale pid file is
taken over, status shows the counters of a scripted run."""

import os
import re
import subprocess

from harness import (PASSWORDS, SATCHEL, capa_sasl, check, eq, free_port,
                     make_msgs, run_satchel, simple_msg, wait_for)
from metrics_util import metrics_server

STORES = None


def pid_server(ctx, metrics=False, **kw):
    srv = metrics_server(ctx, **kw) if metrics else ctx.server(**kw)
    srv.pid_path = os.path.join(srv.root, "satchel.pid")
    srv.config["pid_file"] = srv.pid_path
    srv.write_config()
    return srv


def read_pid(srv):
    with open(srv.pid_path) as f:
        return f.read()


def control(srv, cmd, *args):
    return run_satchel([cmd, "-c", srv.conf_path] + list(args))


def test_pid_file_holds_the_master(ctx):
    srv = pid_server(ctx).start()
    eq(read_pid(srv), "%d\n" % srv.proc.pid, "pid file content")
    eq([n for n in os.listdir(srv.root) if n.startswith("satchel.pid")],
       ["satchel.pid"], "no temporary pid file left")


def test_stop_ends_it_and_removes_the_pid_file(ctx):
    srv = pid_server(ctx).start()
    kids = list(srv.children())
    check(kids, "children before stop")
    p = srv.connect()   # an open session does not keep stop waiting long
    r = control(srv, "stop")
    eq(r.returncode, 0, "satchel stop status (stderr %r)" % r.stderr)
    check("pid %d stopped" % srv.proc.pid in r.stdout, "stop said %r" % r.stdout)
    # stop returned: the master has exited and so have its children
    check(not os.path.exists(srv.pid_path), "pid file still there after stop")
    eq(srv.proc.wait(5), 0, "master exit status")
    for pid in kids:
        check(not os.path.exists("/proc/%d/status" % pid) or
              "zombie" in open("/proc/%d/status" % pid).read(),
              "child %d alive after stop" % pid)
    p.close()
    r = control(srv, "stop")
    eq(r.returncode, 69, "stop of a stopped server (EX_UNAVAILABLE)")
    check("not running" in r.stderr, "stop said %r" % r.stderr)
    r = control(srv, "status")
    eq(r.returncode, 3, "status of a stopped server (LSB: not running)")


def test_second_instance_refused(ctx):
    srv = pid_server(ctx).start()
    other = ctx.server()
    # same pid_file, another port: refused for the pid file, not the port
    other.config["pid_file"] = srv.pid_path
    other.write_config()
    r = subprocess.run(other.command(), capture_output=True, text=True, timeout=15)
    eq(r.returncode, 69, "second instance's exit status (EX_UNAVAILABLE)")
    check("another satchel serve is running: pid %d holds %s"
          % (srv.proc.pid, srv.pid_path) in r.stderr,
          "second instance said %r" % r.stderr[-300:])
    check("listening on" not in r.stderr, "the second instance bound a port")
    eq(read_pid(srv), "%d\n" % srv.proc.pid, "the first one's pid file")
    p = srv.connect()
    p.login("alice", PASSWORDS["alice"])
    p.quit()


def test_stale_pid_file_taken_over(ctx):
    srv = pid_server(ctx)
    with open(srv.pid_path, "w") as f:
        f.write("999999\n")     # left by a killed master: no lock
    srv.start()
    eq(read_pid(srv), "%d\n" % srv.proc.pid, "pid file after taking it over")


def test_reload_picks_up_a_config_change(ctx):
    srv = pid_server(ctx).start()
    p = srv.connect()
    eq(capa_sasl(p), ["PLAIN", "LOGIN"], "SASL before the reload")
    p.close()
    srv.config["sasl_mechanisms"] = "PLAIN"
    srv.write_config()
    before = srv.generation
    r = control(srv, "reload")
    eq(r.returncode, 0, "satchel reload status (stderr %r)" % r.stderr)
    check("SIGHUP sent to pid %d" % srv.proc.pid in r.stdout, "reload said %r" % r.stdout)
    srv.wait_generation_after(before)
    p = srv.connect()
    eq(capa_sasl(p), ["PLAIN"], "SASL after satchel reload")
    p.close()


def test_status_shows_counters(ctx):
    srv = pid_server(ctx, metrics=True, workers=1)
    srv.fill("alice", make_msgs([simple_msg(i) for i in range(3)], "maildir"))
    srv.start()
    p = srv.connect()
    p.login("alice", PASSWORDS["alice"])
    p.retr(1)
    p.retr(2)
    p.ok("DELE 1")
    p.quit()
    p = srv.connect()
    p.ok("USER alice")
    p.err("PASS wrong")
    p.quit()
    wait_for(lambda: re.search(r"sessions_active +0\n",
                               control(srv, "status").stdout), 5,
             "status showing no open session")
    r = control(srv, "status")
    eq(r.returncode, 0, "status exit (stderr %r)" % r.stderr)
    out = r.stdout
    check(out.startswith("satchel serve is running: pid %d (%s)\n"
                         % (srv.proc.pid, srv.pid_path)), "first line of %r" % out[:200])
    for want in (r"\n  logins mechanism=USER result=ok +1\n",
                 r"\n  logins mechanism=USER result=failed +1\n",
                 r"\n  retrievals +2\n", r"\n  deletions +1\n",
                 r"\n  sessions +2\n", r"\n  maildrop_open +1 \(mean [0-9.]+ ms\)\n",
                 r"\n  worker_sessions worker=0 kind=pop3 generation=1 +0\n"):
        check(re.search(want, out), "status lacks %r:\n%s" % (want, out))
    check("result=permfail" not in out, "status shows zero login results")
    check("_bucket" not in out, "status shows histogram buckets")


def test_status_without_metrics_listen(ctx):
    srv = pid_server(ctx).start()
    r = control(srv, "status")
    eq(r.returncode, 0, "status exit")
    check("metrics_listen is not set" in r.stdout, "status said %r" % r.stdout)


def test_control_needs_pid_file(ctx):
    srv = ctx.server().start()
    for cmd in ("reload", "stop", "status"):
        r = control(srv, cmd)
        eq(r.returncode, 78, "%s without pid_file (EX_CONFIG)" % cmd)
        check("pid_file is not set" in r.stderr, "%s said %r" % (cmd, r.stderr))
    check(srv.alive(), "the server survived")


def test_stop_gives_up_at_its_timeout(ctx):
    import signal
    import time
    srv = pid_server(ctx).start()
    srv.signal(signal.SIGSTOP)      # a master that cannot act on SIGTERM
    try:
        t0 = time.monotonic()
        r = control(srv, "stop", "--timeout", "1")
        took = time.monotonic() - t0
    finally:
        srv.signal(signal.SIGCONT)  # the pending SIGTERM now stops it
    eq(r.returncode, 75, "stop at its timeout (EX_TEMPFAIL)")
    check("still running after 1 s" in r.stderr, "stop said %r" % r.stderr)
    check(1 <= took < 5, "stop took %.1fs with --timeout 1" % took)
    eq(srv.proc.wait(15), 0, "master exit once continued")
    check(not os.path.exists(srv.pid_path), "pid file left after the stop")
    r = control(srv, "stop", "--timeout", "0")
    eq(r.returncode, 64, "--timeout 0 (EX_USAGE)")
