"""PAM and system users (issue 10, 5. and 8.): `users = pam[:SERVICE]`
with pam_unix, without touching the system: the test writes copies of
/etc/passwd, /etc/shadow and /etc/group with its own users added, and a
PAM service file in a private directory (pam_confdir); the server runs
in a private mount namespace (unshare --mount) where the copies are bind
mounted over the real files, so its users exist only there.

Checked: two system users read their own mail from ~/Maildir (0700,
owned by them); CAPA offers only the plaintext mechanisms although
sasl_mechanisms names CRAM-MD5 and SCRAM; AUTH PLAIN works; a wrong
password and an unknown user get the same -ERR and both wait out
pam_unix's failure delay (the unknown name goes through PAM too), with
medians within 20 %; 10 wrong-password logins waiting out that delay do
not slow 10 concurrent right ones (p99 < 100 ms: the delay is a timer of
the auth loop, the helpers are free meanwhile); pam_acct_mgmt refuses an
expired account; root and uids below first_valid_uid never log in; the
helpers run as root under the spawner and are replaced after
pam_helper_requests answers. Users of other uids than mail_user's,
served by mail agents, are test_mail_agent.py's."""

import base64
import crypt
import os
import pwd
import shutil
import sys
import functools
import statistics
import tempfile
import threading
import time

import harness
from harness import *

STORES = None                   # each test makes its server

PW = "Sys-Pw.4Rt9"
ROOT_PW = "Root-Pw.8Kq2"
# the namespace's view: bind mounts of the test's copies, then satchel
NS_SCRIPT = ('mount --bind "$1" /etc/passwd && '
             'mount --bind "$2" /etc/shadow && '
             'mount --bind "$3" /etc/group && shift 3 && exec "$@"')


def need_namespace():
    if not is_root():
        raise Skip("needs root (mount namespace, pam_unix reads shadow)")
    if shutil.which("unshare") is None:
        raise Skip("unshare (util-linux) missing")
    if not os.path.exists("/lib/x86_64-linux-gnu/security/pam_unix.so") \
            and not os.path.exists("/usr/lib/x86_64-linux-gnu/security/"
                                   "pam_unix.so"):
        raise Skip("pam_unix.so missing (libpam-modules)")


def sha512(password):
    # few rounds: the tests time the delay, not the hash
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512,
                                              rounds=1000))


class SystemUsers:
    """The copies of the account files, with the test's users."""

    def __init__(self, root):
        self.root = root
        self.dir = os.path.join(root, "etc")
        os.makedirs(self.dir)
        self.passwd = os.path.join(self.dir, "passwd")
        self.shadow = os.path.join(self.dir, "shadow")
        self.group = os.path.join(self.dir, "group")
        for src, dst in (("/etc/passwd", self.passwd),
                         ("/etc/shadow", self.shadow),
                         ("/etc/group", self.group)):
            shutil.copyfile(src, dst)
        os.chmod(self.shadow, 0o600)
        # root's password is known only inside the namespace
        self.edit_shadow("root", sha512(ROOT_PW))
        self.homes = {}

    def edit_shadow(self, name, stored, expire=""):
        with open(self.shadow) as f:
            lines = f.read().splitlines()
        out = []
        for line in lines:
            f = line.split(":")
            if f[0] == name:
                f[1] = stored
                f[7] = expire
                line = ":".join(f)
            out.append(line)
        with open(self.shadow, "w") as f:
            f.write("\n".join(out) + "\n")

    def add(self, name, uid, gid, password=PW, expire=""):
        """A user whose home (with a 0700 Maildir) is theirs."""
        home = os.path.join(self.root, "home", name)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(home, "Maildir", sub))
        for dp, dns, fns in os.walk(home):
            os.chown(dp, uid, gid)
        os.chmod(os.path.join(home, "Maildir"), 0o700)
        with open(self.passwd, "a") as f:
            f.write("%s:x:%d:%d::%s:/bin/sh\n" % (name, uid, gid, home))
        with open(self.shadow, "a") as f:
            f.write("%s:%s:19000:0:99999:7::%s:\n"
                    % (name, sha512(password), expire))
        self.homes[name] = home
        return home

    def deliver(self, name, data, n):
        md = os.path.join(self.homes[name], "Maildir")
        st = os.stat(md)
        path = os.path.join(md, "new", "1732590000.M%dP1.test" % n)
        with open(path, "wb") as f:
            f.write(data)
        os.chown(path, st.st_uid, st.st_gid)
        os.chmod(path, 0o600)
        return path

    def prefix(self):
        return ["unshare", "--mount", "--propagation", "private",
                "sh", "-c", NS_SCRIPT, "sh",
                self.passwd, self.shadow, self.group]


def mail_ids():
    pw = pwd.getpwnam(MAIL_USER)
    return pw.pw_uid, pw.pw_gid


def with_system(func):
    """Removes the test's system files (outside the server's tree, which
    the harness hands to mail_user) after the test."""
    @functools.wraps(func)
    def run(ctx):
        ctx.pam_dirs = []
        try:
            func(ctx)
        finally:
            for srv in ctx._servers:
                srv.stop()
            for d in ctx.pam_dirs:
                shutil.rmtree(d, ignore_errors=True)
    return run


def login_quit(srv, user, password):
    """The PASS reply; after +OK, QUIT and its reply (the lock is free
    then)."""
    p = srv.connect()
    try:
        p.cmd("USER " + user)
        r = p.cmd("PASS " + password)
        if r.startswith("+OK"):
            starts(p.cmd("QUIT"), "+OK", "QUIT of " + user)
        return r
    finally:
        p.close()


def pam_server(ctx, users, config=None):
    """A server on users = pam with pam_unix in its own service file;
    users: {name: kwargs of SystemUsers.add}."""
    need_namespace()
    srv = ctx.server(store="maildir", workers=1)
    sysdir = tempfile.mkdtemp(prefix="satchel-pam-")
    ctx.pam_dirs.append(sysdir)
    os.chmod(sysdir, 0o755)
    sysu = SystemUsers(sysdir)
    for name, kw in users.items():
        sysu.add(name, **kw)
    confdir = os.path.join(sysdir, "pam.d")
    os.makedirs(confdir)
    with open(os.path.join(confdir, "satchel-test"), "w") as f:
        f.write("auth required pam_unix.so\n"
                "account required pam_unix.so\n")
    uid, _ = mail_ids()
    cfg = {"users": "pam:satchel-test",
           "pam_confdir": confdir,
           "mail": "maildir:~/Maildir",
           # most system users here share mail_user's uid: the workers
           # serve them (other uids: test_mail_agent.py)
           "first_valid_uid": str(uid),
           "sasl_mechanisms": "PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256",
           "pam_helpers": "4"}
    cfg.update(config or {})
    srv.config.update(cfg)
    srv.write_config()
    srv.secrets = set(srv.secrets) | {PW, ROOT_PW}
    srv.prefix = sysu.prefix()
    srv.start()
    return srv, sysu


def timed_pass(srv, user, password, out, i):
    """Times the PASS reply alone (the connection and USER before)."""
    p = srv.connect()
    try:
        p.cmd("USER " + user)
        t = time.monotonic()
        r = p.cmd("PASS " + password)
        out[i] = (r, time.monotonic() - t)
        if r.startswith("+OK"):
            p.cmd("QUIT")
    finally:
        p.close()


def parallel(jobs):
    """Runs each (fn, args) on its own thread; waits for all."""
    threads = [threading.Thread(target=fn, args=args) for fn, args in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        check(not t.is_alive(), "a login thread hung")


@with_system
def test_read_own_mail(ctx):
    uid, gid = mail_ids()
    srv, sysu = pam_server(ctx, {"sysann": dict(uid=uid, gid=gid),
                                 "sysben": dict(uid=uid, gid=gid)})
    mine = {u: b"From: x@example\nSubject: for %s\n\nhello %s\n"
            % (u.encode(), u.encode()) for u in ("sysann", "sysben")}
    for i, u in enumerate(mine):
        sysu.deliver(u, mine[u], i)
    for u in mine:
        p = srv.connect()
        p.login(u, PW)
        eq(p.stat()[0], 1, "%s's maildrop" % u)
        data = p.retr(1)
        check(b"hello " + u.encode() in data,
              "%s reads its own message: %r" % (u, data[:80]))
        p.quit()
    # CAPA: no mechanism that needs a stored secret (item 8)
    p = srv.connect()
    eq(sorted(capa_sasl(p)), ["LOGIN", "PLAIN"], "SASL offered")
    token = base64.b64encode(("\0sysben\0" + PW).encode()).decode()
    starts(p.cmd("AUTH PLAIN " + token), "+OK", "AUTH PLAIN of sysben")
    p.quit()


@with_system
def test_wrong_and_unknown_alike(ctx):
    uid, gid = mail_ids()
    srv, _ = pam_server(ctx, {"sysann": dict(uid=uid, gid=gid)})
    n = 10
    out = [None] * (2 * n)
    jobs = [(timed_pass, (srv, "sysann", "not-the-password", out, i))
            for i in range(n)]
    jobs += [(timed_pass, (srv, "sysnobody%d" % i, PW, out, n + i))
             for i in range(n)]
    parallel(jobs)
    texts = set(r for r, _ in out)
    eq(len(texts), 1, "one reply text for wrong and unknown: %s" % texts)
    starts(out[0][0], "-ERR [AUTH]", "a wrong password")
    wrong = statistics.median(t for _, t in out[:n])
    unknown = statistics.median(t for _, t in out[n:])
    # pam_unix asks for 2 s (+-25 %): both went through PAM and waited
    check(wrong > 1.2 and unknown > 1.2,
          "PAM's failure delay: wrong %.3f s, unknown %.3f s"
          % (wrong, unknown))
    # a name no account can have never reaches PAM's modules as sent,
    # and reads the same
    bad = login_quit(srv, "../sysann", PW)
    eq(bad, out[0][0], "a name that is no login name")
    wait_for(lambda: "pam: -satchel-no-user-: " in srv.log_text(), 5,
             "PAM asked with a name no account has (log: %s)"
             % srv.log_tail(3))
    ratio = min(wrong, unknown) / max(wrong, unknown)
    check(ratio > 0.8, "medians within 20 %%: wrong %.3f s, unknown %.3f s"
          % (wrong, unknown))


@with_system
def test_delay_does_not_block(ctx):
    uid, gid = mail_ids()
    users = {"sysr%d" % i: dict(uid=uid, gid=gid) for i in range(10)}
    users["sysw"] = dict(uid=uid, gid=gid)
    srv, _ = pam_server(ctx, users)
    # every user looked up once, so the right logins below measure the
    # checks, not the first lookups
    for u in users:
        starts(login_quit(srv, u, PW), "+OK", "first login of " + u)
    wrong = [None] * 10
    right = [None] * 10
    threads = [threading.Thread(target=timed_pass,
                                args=(srv, "sysw", "wrong-%d" % i, wrong, i))
               for i in range(10)]
    for t in threads:
        t.start()
    # the wrong ones are waiting out their delay (checked, not slept)
    wait_for(lambda: srv.log_text().count("pam: sysw: Authentication "
                                          "failure") >= 10, 10,
             "the 10 wrong passwords checked (log: %s)" % srv.log_tail(4))
    parallel([(timed_pass, (srv, "sysr%d" % i, PW, right, i))
              for i in range(10)])
    for t in threads:
        t.join(30)
    for r, _ in right:
        starts(r, "+OK", "a right login beside the wrong ones")
    for r, t in wrong:
        starts(r, "-ERR [AUTH]", "a wrong password")
        check(t > 1.0, "a wrong password waited %.3f s" % t)
    times = sorted(t for _, t in right)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    sys.stdout.write("# right logins beside 10 delayed wrong ones: p99 "
                     "%.3f s\n" % p99)
    check(p99 < 0.1, "right logins beside delayed wrong ones: p99 %.3f s "
          "(all: %s)" % (p99, ["%.3f" % t for t in times]))


@with_system
def test_account_refused(ctx):
    uid, gid = mail_ids()
    srv, _ = pam_server(ctx, {"sysold": dict(uid=uid, gid=gid, expire="1"),
                              "syslow": dict(uid=uid - 1, gid=gid)})
    # the password is right, the account expired: pam_acct_mgmt says no
    starts(login_quit(srv, "sysold", PW), "-ERR [AUTH]", "expired account")
    wait_for(lambda: "pam: sysold refused by pam_acct_mgmt" in
             srv.log_text(), 5, "the refusal logged")
    # right passwords, but no mail user: root, and a uid below the first
    starts(login_quit(srv, "root", ROOT_PW), "-ERR [AUTH]", "root")
    starts(login_quit(srv, "syslow", PW), "-ERR [AUTH]",
           "uid below first_valid_uid")
    check("root has uid 0, below first_valid_uid" in srv.log_text(),
          "root refused as no mail user (log: %s)" % srv.log_tail(5))


@with_system
def test_helpers_replaced(ctx):
    uid, gid = mail_ids()
    srv, _ = pam_server(ctx, {"sysann": dict(uid=uid, gid=gid)},
                        config={"pam_helpers": "1",
                                "pam_helper_requests": "3"})

    def helpers():
        out = {}
        for auth in [p for p, c in srv.children().items()
                     if c == "satchel-auth"]:
            for sp, c in proc_children(auth).items():
                if c == "satchel-spawn":
                    eq(proc_uid(sp)[0], 0, "the spawner's uid")
                    out.update({h: hc for h, hc in
                                proc_children(sp).items()
                                if hc == "satchel-pam"})
        return out

    wait_for(lambda: len(helpers()) == 1, 5, "one PAM helper")
    first = set(helpers())
    for h in first:
        eq(proc_uid(h)[0], 0, "a PAM helper's uid (reads shadow)")
    # a lookup and a check per login: the third answer retires it
    for _ in range(2):
        starts(login_quit(srv, "sysann", PW), "+OK", "sysann")
    wait_for(lambda: len(helpers()) == 1 and not (set(helpers()) & first),
             5, "a new helper after 3 answers (had %s, now %s)"
             % (first, helpers()))
    starts(login_quit(srv, "sysann", PW), "+OK", "sysann after the change")
