"""`satchel bench` counts every failed login ([IN-USE] included) and exits
non-zero on any; a clean run against our server has none (issue 7, item
3: a login benchmark once hid an [IN-USE] from our own QUIT)."""
import json
import os
import socket

from harness import *

STORES = None
BENCH_PW = "bench-Pw.4Rt8"
NUSERS = 6


def bench_server(ctx):
    users = {"bu%d" % i: "{PLAIN}" + BENCH_PW for i in range(1, NUSERS + 1)}
    srv = ctx.server(store="maildir", users=users, secrets=[BENCH_PW],
                     workers=2)
    srv.passwords.update({u: BENCH_PW for u in users})
    srv.start()
    for u in users:
        srv.fill(u, make_msgs([simple_msg(i) for i in range(3)], "maildir"))
    return srv


def run_bench(srv, *extra):
    return run_satchel(["bench", "-p", str(srv.port), "-u", "bu%d",
                        "-w", BENCH_PW, "-U", str(NUSERS), "--json",
                        "--quiet"] + list(extra), timeout=120)


def test_bench_fails_on_in_use(ctx):
    srv = bench_server(ctx)
    lock = srv.lock_path("bu2")
    # a fresh lock of a live process on this host: the server says [IN-USE]
    with open(lock, "w") as f:
        f.write("%s %d 0\n" % (socket.gethostname(), os.getpid()))
    srv.fix_owner(lock)
    r = run_bench(srv, "-c", "2", "-n", "30")
    os.unlink(lock)
    check(r.returncode != 0, "bench exit status %d with [IN-USE] logins "
          "(want non-zero); stdout %s" % (r.returncode, short(r.stdout)))
    res = json.loads(r.stdout)
    check(res["errors"].get("in_use", 0) > 0,
          "bench did not count the [IN-USE] logins: %s" % short(res["errors"]))


def test_login_bench_has_no_errors(ctx):
    """The issue's benchmark, shortened: back-to-back login sessions of
    few users on 2 workers, so a user logs in again right after QUIT."""
    srv = bench_server(ctx)
    r = run_bench(srv, "-c", "4", "-t", "3")
    res = json.loads(r.stdout) if r.stdout.strip() else {}
    eq(r.returncode, 0, "bench exit status (errors %s, stderr %s)"
       % (short(res.get("errors")), short(r.stderr)))
    check(res["sessions"] > 100, "too few sessions: %s" % res["sessions"])
    check("(null)" not in srv.log_text(), "the server log says (null)")
