"""The sandbox after the privilege drop (util/sandbox.c, issue 13): every
child of the master (auth, POP3 workers) runs with no_new_privs and is
not dumpable, each kind says so once in the log, and `sandbox = no`
turns it off with a warning. Landlock and seccomp are not built yet
(docs/security.md)."""
import re

from harness import *

STORES = ("maildir",)
WORKERS = 2


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def child_pids(srv):
    kids = srv.children()
    check(any(c == "satchel-auth" for c in kids.values()),
          "no auth process among %s" % kids)
    return kids


def test_children_have_no_new_privs(ctx):
    for pid, comm in child_pids(ctx.srv).items():
        st = proc_status(pid)
        eq(st.get("NoNewPrivs", "").strip(), "1",
           "NoNewPrivs of %s pid %d" % (comm, pid))


def test_children_not_dumpable(ctx):
    """PR_SET_DUMPABLE 0 makes the kernel give the files in /proc/PID/
    (mem, environ, fd) to root:root, whatever uid the process has dropped
    to (proc(5)); a dumpable worker's would be mail_user's."""
    if not is_root():
        raise Skip("not root: /proc ownership shows nothing here")
    for pid, comm in child_pids(ctx.srv).items():
        for name in ("mem", "environ"):
            st = os.stat("/proc/%d/%s" % (pid, name))
            eq((st.st_uid, st.st_gid), (0, 0),
               "owner of /proc/%d/%s (%s)" % (pid, name, comm))


def test_logged_once_per_kind(ctx):
    srv = ctx.server(workers=2).start()
    log = srv.log_text()
    for kind in ("auth", "worker"):
        n = len(re.findall(r"sandbox: %s: no_new_privs, not dumpable"
                           % kind, log))
        eq(n, 1, "sandbox lines for %s in %s" % (kind, short(log, 400)))


def test_sandbox_off(ctx):
    srv = ctx.server(config={"sandbox": "no"}, workers=1).start()
    check("sandbox: worker: off (sandbox = no)" in srv.log_text(),
          "no warning that the sandbox is off: %s" % srv.log_tail(8))
    for pid, comm in child_pids(srv).items():
        eq(proc_status(pid).get("NoNewPrivs", "").strip(), "0",
           "NoNewPrivs of %s with sandbox = no" % comm)
    p = srv.login("alice")
    p.quit()
