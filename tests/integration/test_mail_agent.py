"""Mail agents (issue 10, 5.; issue 13, 3.): a maildrop served by a
process with the user's uid, started by the auth process's root agent
spawner for the user who just logged in, its socket handed to the worker
with the login reply (store/agent_proto.h, auth/sysspawn.h).

System users (users = pam, pam_unix in a private mount namespace, as
test_users_pam.py does it) of uids other than mail_user's, with 0700
Maildirs the worker cannot read: they read and delete their mail through
Python's poplib; the agent runs with the user's uid (/proc/PID/status) and
exits when the session ends; a symlink in one user's Maildir to the other
user's message is not served; an agent killed in mid-session gives
-ERR [SYS/TEMP] and deletes nothing, and the next login works.

mail_process = per-user with virtual users (passwd-file): logins, RETR,
DELE and QUIT work through agents of mail_user's uid; an open of another
user's maildrop made by a session's agent (inject.py makes the agent's own
thread call openat, as code execution in it would) gets EACCES from its
Landlock ruleset, and the worker itself, whose ruleset has no mail root in
this mode, gets EACCES for every maildrop; in shared mode virtual users
get no agent."""

import base64
import os
import poplib
import signal
import sys

import inject
import test_users_pam as pam
from harness import *

STORES = None                   # each test makes its server

UID_A, UID_B = 64101, 64102
EACCES = 13
O_RDONLY = 0


with_system = pam.with_system  # its cleanup of the system files


def two_users(ctx):
    """A server with sysann (uid UID_A) and sysben (UID_B), 2 messages
    each."""
    srv, sysu = pam.pam_server(ctx, {"sysann": dict(uid=UID_A, gid=UID_A),
                                     "sysben": dict(uid=UID_B, gid=UID_B)},
                               config={"first_valid_uid": "1000"})
    paths = {}
    for u in ("sysann", "sysben"):
        paths[u] = [sysu.deliver(u, b"From: x@example\nSubject: %d for %s"
                                 b"\n\nsecret of %s %d\n"
                                 % (i, u.encode(), u.encode(), i), i)
                    for i in range(2)]
    return srv, sysu, paths


def agents(srv):
    """{pid: uid list} of the live mail agents (master -> auth -> agent
    spawner -> agents)."""
    out = {}
    for auth in [p for p, c in srv.children().items() if c == "satchel-auth"]:
        for sp, c in proc_children(auth).items():
            if c != "satchel-agents":
                continue
            eq(proc_uid(sp)[0], 0, "the agent spawner's uid")
            for a, ac in proc_children(sp).items():
                if ac == "satchel-agent":
                    out[a] = proc_uid(a)
    return out


def one_agent(srv, what):
    wait_for(lambda: len(agents(srv)) == 1, 5, "one agent (%s): %s"
             % (what, agents(srv)))
    return next(iter(agents(srv).items()))


def open_in(pid, path):
    """openat(AT_FDCWD, path, O_RDONLY) made by pid: the fd or -errno."""
    what, value = inject.inject(pid, "openat",
                                (inject.AT_FDCWD, None, O_RDONLY),
                                [path.encode()])
    eq(what, "result", "the injected openat in pid %d (%s)" % (pid, value))
    return value


@with_system
def test_system_users_read_and_delete(ctx):
    srv, _, paths = two_users(ctx)
    for u, uid in (("sysann", UID_A), ("sysben", UID_B)):
        p = poplib.POP3("127.0.0.1", srv.port, timeout=10)
        p.user(u)
        starts(p.pass_(pam.PW).decode(), "+OK", "PASS of " + u)
        pid, uids = one_agent(srv, u)
        eq(uids, [uid] * 4, "uids (real, effective, saved, fs) of %s's "
           "agent pid %d" % (u, pid))
        eq(p.stat()[0], 2, "%s's messages" % u)
        _, lines, _ = p.retr(1)
        check(b"secret of %s 0" % u.encode() in b"\n".join(lines),
              "%s reads its own first message: %r" % (u, lines[:6]))
        _, top, _ = p.top(2, 0)
        check(b"Subject: 1 for " + u.encode() in top,
              "TOP 2 0 of %s: %r" % (u, top))
        p.dele(1)
        starts(p.quit().decode(), "+OK", "QUIT of " + u)
        wait_for(lambda: not agents(srv), 5, "the agent of %s gone after "
                 "QUIT: %s" % (u, agents(srv)))
        md = os.path.dirname(os.path.dirname(paths[u][0]))
        left = sorted(os.listdir(os.path.join(md, "new")) +
                      os.listdir(os.path.join(md, "cur")))
        eq(len(left), 1, "%s's Maildir after DELE 1 and QUIT: %s"
           % (u, left))
        check(os.path.basename(paths[u][1]) in left[0],
              "the second message of %s stayed: %s" % (u, left))


@with_system
def test_symlink_to_other_user_not_served(ctx):
    srv, sysu, paths = two_users(ctx)
    md = os.path.join(sysu.homes["sysann"], "Maildir")
    link = os.path.join(md, "new", "1732590100.M9P1.link")
    os.symlink(paths["sysben"][0], link)
    os.lchown(link, UID_A, UID_A)
    p = srv.connect()
    p.login("sysann", pam.PW)
    seen = []
    for n in sorted(p.list()):
        r = p.cmd("RETR %d" % n)
        if r.startswith("+OK"):
            seen.append(p.getmulti())
        else:
            starts(r, "-ERR", "RETR %d of the symlink" % n)
    p.quit()
    check(seen, "sysann read none of its own messages")
    for data in seen:
        check(b"secret of sysben" not in data,
              "sysben's message served to sysann through a symlink: %r"
              % data[:120])
    check(sum(b"secret of sysann" in d for d in seen) == 2,
          "sysann's own two messages served: %d" % len(seen))


@with_system
def test_agent_killed_mid_session(ctx):
    srv, _, paths = two_users(ctx)
    p = srv.connect()
    p.login("sysann", pam.PW)
    eq(p.stat()[0], 2, "sysann's messages")
    p.ok("DELE 1")
    pid, _ = one_agent(srv, "sysann")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid not in agents(srv), 5, "the agent %d gone" % pid)
    starts(p.cmd("RETR 2"), "-ERR [SYS/TEMP]", "RETR after the agent died")
    starts(p.cmd("QUIT"), "-ERR [SYS/TEMP]", "QUIT after the agent died")
    p.close()
    for path in paths["sysann"]:
        check(os.path.exists(path), "%s deleted although the agent died "
              "before UPDATE" % path)
    # the dead agent's lock is taken over at once (its pid is gone)
    p = srv.connect()
    p.login("sysann", pam.PW)
    eq(p.stat()[0], 2, "sysann's messages in the next session")
    p.quit()


@with_system
def test_other_uid_served_by_agent(ctx):
    """The login test_users_pam used to refuse ([SYS/PERM], no agent)."""
    _, gid = pam.mail_ids()
    srv, _ = pam.pam_server(ctx, {"sysfar": dict(uid=64000, gid=gid)})
    starts(pam.login_quit(srv, "sysfar", pam.PW), "+OK",
           "a system user of another uid than mail_user")


# ------------------------------------------------------------ per-user

def per_user_server(ctx, mode="per-user", store="maildir"):
    srv = ctx.server(store=store, workers=1, config={"mail_process": mode})
    for u in ("alice", "bob"):
        srv.fill(u, make_msgs([simple_msg(i, body="body of %s %d\n"
                                          % (u, i)) for i in range(3)],
                              store))
    return srv.start()


def test_per_user_sessions(ctx):
    srv = per_user_server(ctx)
    p = srv.login("alice")
    pid, uids = one_agent(srv, "alice")
    eq(uids[0], pwd_uid(MAIL_USER) if is_root() else os.geteuid(),
       "a virtual user's agent runs as mail_user")
    eq(p.stat()[0], 3, "alice's messages")
    data = p.retr(2)
    check(b"body of alice 1" in data, "RETR 2: %r" % data[:80])
    p.ok("DELE 1")
    p.ok("DELE 3")
    p.quit()
    wait_for(lambda: not agents(srv), 5, "alice's agent gone after QUIT")
    eq(len(srv.maildir_files("alice")), 1, "alice's messages after QUIT")
    # a SASL login gets its agent the same way
    q = srv.connect()
    token = base64.b64encode(("\0bob\0" + srv.passwords["bob"]).encode())
    starts(q.cmd("AUTH PLAIN " + token.decode()), "+OK", "AUTH PLAIN of bob")
    one_agent(srv, "bob")
    eq(q.stat()[0], 3, "bob's messages")
    q.quit()


def test_per_user_utf8_wrap(ctx):
    """A message with a UTF-8 Subject through an agent: the agent's
    store scans it as the worker's would, so a client that did not send
    UTF8 gets the surrogate (utf8_legacy = wrap, the default) and LIST
    gives the size RETR sends; a UTF8 client gets it as stored."""
    subject = "Subject: Gr\u00fc\u00dfe\n".encode()
    srv = ctx.server(store="maildir", workers=1,
                     config={"mail_process": "per-user"})
    srv.fill("alice", make_msgs([b"From: a@example.org\n" + subject +
                                 b"\nhallo\n"], "maildir"))
    srv.start()
    p = poplib.POP3("127.0.0.1", srv.port, timeout=IO_TIMEOUT)
    p.user("alice")
    p.pass_(srv.passwords["alice"])
    one_agent(srv, "alice")
    size = int(p.list(1).split()[2])
    _, lines, octets = p.retr(1)
    check(subject.rstrip(b"\n") not in lines and
          any(l.startswith(b"Subject: =?UTF-8?") for l in lines),
          "the surrogate for a legacy client: %r" % lines[:3])
    sent = sum(len(l) + 2 for l in lines)
    eq(size, sent, "LIST size is what RETR sent")
    p.quit()
    p = poplib.POP3("127.0.0.1", srv.port, timeout=IO_TIMEOUT)
    check(p.utf8().startswith(b"+OK"), "UTF8")
    p.user("alice")
    p.pass_(srv.passwords["alice"])
    _, lines, _ = p.retr(1)
    check(subject.rstrip(b"\n") in lines, "as stored in UTF-8 mode: %r"
          % lines[:3])
    p.quit()


def test_per_user_mbox(ctx):
    """An mbox message reaches the worker as a sealed memfd copy, its
    mboxrd quoting undone: RETR gives exactly the LIST size."""
    srv = per_user_server(ctx, store="mbox")
    p = srv.login("alice")
    sizes = p.list()
    eq(len(sizes), 3, "alice's mbox messages")
    for n in sorted(sizes):
        data = p.retr(n)
        eq(len(data), sizes[n], "RETR %d octets vs LIST" % n)
        check(b"body of alice %d" % (n - 1) in data, "RETR %d: %r"
              % (n, data[:80]))
    p.ok("DELE 2")
    p.quit()
    wait_for(lambda: not agents(srv), 5, "alice's agent gone after QUIT")
    p = srv.login("alice")
    eq(p.stat()[0], 2, "alice's mbox after DELE 2 and QUIT")
    p.quit()


def test_per_user_landlock(ctx):
    """What a forged path gets: a session's agent may open its own
    maildrop only; the worker no maildrop at all."""
    if not inject.supported():
        raise Skip("needs root on x86_64 (ptrace into the agent)")
    srv = per_user_server(ctx)
    p = srv.login("alice")
    pid, _ = one_agent(srv, "alice")
    own, other = srv.maildrop("alice"), srv.maildrop("bob")
    fd = open_in(pid, own)
    sys.stdout.write("# agent %d (uids %s): own maildrop fd %d, bob's %d\n"
                     % (pid, proc_uid(pid), fd, open_in(pid, other)))
    check(fd >= 0, "alice's agent cannot open %s: %d" % (own, fd))
    eq(open_in(pid, other), -EACCES, "alice's agent opening bob's "
       "maildrop %s" % other)
    eq(open_in(pid, os.path.join(other, "new")), -EACCES,
       "alice's agent opening bob's new/")
    worker = sorted(x for x, c in srv.children().items()
                    if c == "satchel-worker")[0]
    eq(open_in(worker, other), -EACCES, "the worker opening bob's "
       "maildrop %s (no mail root in per-user mode)" % other)
    eq(open_in(worker, own), -EACCES, "the worker opening alice's "
       "maildrop %s" % own)
    # the session goes on
    eq(p.stat()[0], 3, "alice's STAT after the injections")
    p.quit()


def test_agent_seccomp(ctx):
    """The agent's filter (compiled once by its spawner) is loaded: a
    system call outside it kills the agent, and its session answers
    [SYS/TEMP] from then on."""
    if not inject.supported():
        raise Skip("needs root on x86_64 (ptrace into the agent)")
    srv = per_user_server(ctx)
    p = srv.login("alice")
    pid, _ = one_agent(srv, "alice")
    with open("/proc/%d/status" % pid) as f:
        st = dict(line.rstrip("\n").split(":\t", 1) for line in f
                  if ":\t" in line)
    eq((st.get("Seccomp", "").strip(), st.get("NoNewPrivs", "").strip()),
       ("2", "1"), "Seccomp and NoNewPrivs of the agent")
    eq(inject.inject(pid, "setuid", (0,)), ("killed", signal.SIGSYS),
       "the agent after an injected setuid(0)")
    starts(p.cmd("RETR 1"), "-ERR [SYS/TEMP]", "RETR after the agent died")
    starts(p.cmd("QUIT"), "-ERR [SYS/TEMP]", "QUIT after the agent died")
    p.close()
    eq(len(srv.maildir_files("alice")), 3, "alice's messages, untouched")


def test_shared_mode_no_agent(ctx):
    srv = per_user_server(ctx, mode="shared")
    p = srv.login("alice")
    eq(p.stat()[0], 3, "alice's messages")
    eq(agents(srv), {}, "agents of a virtual user in shared mode")
    p.quit()


def pwd_uid(name):
    import pwd
    return pwd.getpwnam(name).pw_uid
