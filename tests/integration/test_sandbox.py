"""The sandbox after the privilege drop (util/sandbox*.c, issue 13): every
child of the master (auth, POP3 and LMTP workers) runs with no_new_privs,
not dumpable and under its kind's seccomp filter; the workers under a
Landlock ruleset that opens only the mail root; each kind says which
protections are on once in the log; sandbox = no, sandbox_seccomp = no
and sandbox_landlock = no turn them off.

The Landlock and seccomp tests run the production binary and filter with
no hook in it: inject.py makes a worker's own main thread execute a
system call the code never makes (what an attacker with code execution
would try), with ptrace as root. A worker that opens a file outside the
mail root gets EACCES (the same file opens with sandbox_landlock = no);
setuid(0), outside every allow-list, kills the process with SIGSYS and
the master restarts it (with sandbox_seccomp = no it is merely EPERM).
The master's children keep the production filter under the ASan build
too, so these run against both builds (only deliver and the --stdio
sessions go without seccomp there: docs/security.md)."""
import re
import shutil
import signal
import tempfile

import inject
from harness import *

STORES = ("maildir",)
WORKERS = 2

EACCES = 13
EPERM = 1
O_RDONLY = 0
KIND_COMM = {"auth": "satchel-auth", "worker": "satchel-worker",
             "lmtp worker": "satchel-lmtp"}


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def child_pids(srv):
    kids = srv.children()
    check(any(c == "satchel-auth" for c in kids.values()),
          "no auth process among %s" % kids)
    return kids


def pids_of(srv, comm):
    return sorted(p for p, c in srv.children().items() if c == comm)


def need_inject():
    if not inject.supported():
        raise Skip("needs root on x86_64 (ptrace into a worker)")


def lmtp_server(ctx, **config):
    config.setdefault("lmtp_listen", "127.0.0.1:%d" % free_port())
    config.setdefault("lmtp_workers", "1")
    return ctx.server(config=config, workers=1).start()


class Outside:
    """A file outside the mail root (and outside /tmp, which the LMTP
    workers' spool may use) that mail_user may read by its mode."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="satchel-it-sandbox-",
                                    dir="/var/tmp")
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "not-mail")
        with open(self.path, "w") as f:
            f.write("outside the mail root\n")
        os.chmod(self.path, 0o644)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)


def open_in(pid, path):
    """openat(AT_FDCWD, path, O_RDONLY) made by pid: the fd or -errno."""
    what, value = inject.inject(pid, "openat",
                                (inject.AT_FDCWD, None, O_RDONLY),
                                [path.encode()])
    eq(what, "result", "the injected openat in pid %d (%s)" % (pid, value))
    return value


# ------------------------------------------------------------ /proc state

def test_children_have_no_new_privs(ctx):
    for pid, comm in child_pids(ctx.srv).items():
        st = proc_status(pid)
        eq(st.get("NoNewPrivs", "").strip(), "1",
           "NoNewPrivs of %s pid %d" % (comm, pid))


def test_every_kind_seccomp_filtered(ctx):
    """Seccomp: 2 (a filter) and NoNewPrivs: 1 in each kind of child."""
    srv = lmtp_server(ctx)
    kids = child_pids(srv)
    eq(sorted(set(kids.values())),
       ["satchel-auth", "satchel-lmtp", "satchel-worker"], "child kinds")
    for pid, comm in kids.items():
        st = proc_status(pid)
        eq((st.get("Seccomp", "").strip(), st.get("NoNewPrivs", "").strip()),
           ("2", "1"), "Seccomp and NoNewPrivs of %s pid %d" % (comm, pid))


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
    srv = lmtp_server(ctx, workers="2", lmtp_workers="2")
    log = srv.log_text()
    for kind in ("auth", "worker", "lmtp worker"):
        lines = re.findall(r"sandbox: %s: no_new_privs, not dumpable, "
                           r"([^\n]*)" % kind, log)
        eq(len(lines), 1, "sandbox lines for %s in %s"
           % (kind, short(log, 400)))
        check(re.search(r"seccomp on \(\d+ system calls\)", lines[0]),
              "%s: seccomp not on: %s" % (kind, lines[0]))
        if kind == "auth":
            check("landlock off (not applied to auth)" in lines[0],
                  "auth's landlock: %s" % lines[0])
            continue
        # the kernel here has Landlock (6.x); say so if one does not
        if "landlock unavailable" in lines[0]:
            raise Skip("this kernel has no Landlock: %s" % lines[0])
        check(re.search(r"landlock ABI \d+ \(%s/mail " % re.escape(srv.root),
                        lines[0]),
              "%s: landlock not limited to the mail root: %s"
              % (kind, lines[0]))


# ------------------------------------------------------------ Landlock

def test_worker_open_outside_mail_root_eacces(ctx):
    need_inject()
    srv = ctx.srv
    with Outside() as out:
        inside = os.path.join(srv.root, "mail")
        pid = pids_of(srv, "satchel-worker")[0]
        eq(open_in(pid, out.path), -EACCES,
           "a worker's open of %s outside the mail root" % out.path)
        fd = open_in(pid, inside)
        check(fd >= 0, "a worker could not open %s inside the mail root: "
              "%d" % (inside, fd))
    # the worker goes on serving
    srv.login("alice").quit()


def test_lmtp_worker_open_outside_mail_root_eacces(ctx):
    need_inject()
    srv = lmtp_server(ctx)
    with Outside() as out:
        pid = pids_of(srv, "satchel-lmtp")[0]
        eq(open_in(pid, out.path), -EACCES,
           "an LMTP worker's open of %s outside the mail root" % out.path)


def test_landlock_off(ctx):
    """The control: the same open succeeds with sandbox_landlock = no, so
    the EACCES above is Landlock's, not the file's mode."""
    need_inject()
    srv = ctx.server(config={"sandbox_landlock": "no"}, workers=1).start()
    check("landlock off (sandbox_landlock = no)" in srv.log_text(),
          "no line saying landlock is off: %s" % srv.log_tail(6))
    with Outside() as out:
        pid = pids_of(srv, "satchel-worker")[0]
        check(open_in(pid, out.path) >= 0,
              "with sandbox_landlock = no the worker still cannot open %s"
              % out.path)


# ------------------------------------------------------------ seccomp

def kill_with_setuid(srv, comm):
    pid = pids_of(srv, comm)[0]
    before = len(srv.log_text())
    what, value = inject.inject(pid, "setuid", (0,))
    eq((what, value), ("killed", signal.SIGSYS),
       "%s pid %d after an injected setuid(0)" % (comm, pid))
    return pid, before


def test_seccomp_kills_worker_master_restarts(ctx):
    need_inject()
    srv = ctx.server(workers=1).start()
    pid, before = kill_with_setuid(srv, "satchel-worker")
    line = "worker (restarting) pid=%d killed by signal %d (SIGSYS" % (
        pid, signal.SIGSYS)
    wait_for(lambda: line in srv.log_text()[before:], 10,
             lambda: "the master's line %r: %s" % (line, srv.log_tail(6)))
    wait_for(lambda: [p for p in pids_of(srv, "satchel-worker") if p != pid],
             10, lambda: "a new worker: %s" % srv.log_tail(6))
    srv.login_retry("alice").quit()


def test_seccomp_kills_lmtp_worker_master_restarts(ctx):
    need_inject()
    srv = lmtp_server(ctx)
    pid, before = kill_with_setuid(srv, "satchel-lmtp")
    line = "lmtp worker (restarting) pid=%d killed by signal %d (SIGSYS" % (
        pid, signal.SIGSYS)
    wait_for(lambda: line in srv.log_text()[before:], 10,
             lambda: "the master's line %r: %s" % (line, srv.log_tail(6)))
    wait_for(lambda: [p for p in pids_of(srv, "satchel-lmtp") if p != pid],
             10, lambda: "a new LMTP worker: %s" % srv.log_tail(6))


def test_seccomp_kills_auth_new_generation(ctx):
    """A killed auth process is replaced by a whole new generation."""
    need_inject()
    srv = ctx.server(workers=1).start()
    pid, before = kill_with_setuid(srv, "satchel-auth")
    line = ("auth process (restarting all workers) pid=%d killed by "
            "signal %d (SIGSYS" % (pid, signal.SIGSYS))
    wait_for(lambda: line in srv.log_text()[before:], 10,
             lambda: "the master's line %r: %s" % (line, srv.log_tail(6)))
    srv.wait_generation_after(1)
    srv.login_retry("alice").quit()


def test_seccomp_off(ctx):
    """The control: with sandbox_seccomp = no the same call is only
    refused by the kernel (EPERM: the worker is not root)."""
    need_inject()
    srv = ctx.server(config={"sandbox_seccomp": "no"}, workers=1).start()
    check("seccomp off (sandbox_seccomp = no)" in srv.log_text(),
          "no line saying seccomp is off: %s" % srv.log_tail(6))
    pid = pids_of(srv, "satchel-worker")[0]
    eq(proc_status(pid).get("Seccomp", "").strip(), "0", "Seccomp")
    eq(inject.inject(pid, "setuid", (0,)), ("result", -EPERM),
       "setuid(0) without the filter")
    srv.login("alice").quit()


# ------------------------------------------------------------ all off

def test_sandbox_off(ctx):
    srv = ctx.server(config={"sandbox": "no"}, workers=1).start()
    check("sandbox: worker: off (sandbox = no)" in srv.log_text(),
          "no warning that the sandbox is off: %s" % srv.log_tail(8))
    for pid, comm in child_pids(srv).items():
        st = proc_status(pid)
        eq((st.get("NoNewPrivs", "").strip(), st.get("Seccomp", "").strip()),
           ("0", "0"), "NoNewPrivs and Seccomp of %s with sandbox = no"
           % comm)
    p = srv.login("alice")
    p.quit()
