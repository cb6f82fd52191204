"""GSSAPI (Kerberos V5, RFC 4752) against a real MIT KDC that each test
starts on loopback with its own realm SATCHEL.TEST: krb5.conf and kdc.conf
in the test's temp dir, the database made with kdb5_util, principals and
the service keytab with kadmin.local, tickets with kinit into a private
ccache. Clients: curl (--login-options AUTH=GSSAPI) and the gsasl
command-line client relayed over a raw POP3 session, so failures and a
retry can happen in one session. The KDC is stopped by PID."""

import os
import shutil
import signal
import socket
import subprocess
import time

from harness import capa_sasl, Pop, Skip, check, eq, free_port, starts

STORES = None
REALM = "SATCHEL.TEST"
PASSWORDS = {"alice": "alice-Krb.P4ss", "mallory": "mallory-Krb.P4ss"}
KRB_TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit")


def find(tool):
    for d in ("", "/usr/sbin/", "/usr/bin/"):
        path = shutil.which(tool) if not d else d + tool
        if path and os.access(path, os.X_OK):
            return path
    return None


class Kdc:
    """An MIT KDC for one test, in dir; stop() ends it by PID."""

    def __init__(self, dir):
        for t in KRB_TOOLS:
            if not find(t):
                raise Skip("%s not installed (krb5-kdc, krb5-admin-server, "
                           "krb5-user: make deps)" % t)
        self.dir = dir
        self.port = free_port()
        self.conf = os.path.join(dir, "krb5.conf")
        self.kdc_conf = os.path.join(dir, "kdc.conf")
        self.proc = None
        with open(self.conf, "w") as f:
            f.write("[libdefaults]\n default_realm = %s\n"
                    " dns_lookup_kdc = false\n dns_lookup_realm = false\n"
                    " dns_canonicalize_hostname = false\n rdns = false\n"
                    " udp_preference_limit = 1\n"
                    "[realms]\n %s = {\n  kdc = 127.0.0.1:%d\n }\n"
                    % (REALM, REALM, self.port))
        with open(self.kdc_conf, "w") as f:
            f.write("[kdcdefaults]\n kdc_listen = 127.0.0.1:%d\n"
                    " kdc_tcp_listen = 127.0.0.1:%d\n"
                    "[realms]\n %s = {\n  database_name = %s/principal\n"
                    "  key_stash_file = %s/stash\n  acl_file = %s/kadm5.acl\n"
                    " }\n[logging]\n kdc = FILE:%s/kdc.log\n"
                    % (self.port, self.port, REALM, dir, dir, dir, dir))
        self.env = dict(os.environ, KRB5_CONFIG=self.conf,
                        KRB5_KDC_PROFILE=self.kdc_conf)
        self.run("kdb5_util", "create", "-s", "-r", REALM, "-P",
                 "master-" + os.urandom(6).hex())

    def run(self, tool, *args, input=None):
        r = subprocess.run([find(tool)] + list(args), input=input, env=self.env,
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "%s %s: %s" % (tool, " ".join(args[:3]),
                                                (r.stdout + r.stderr)[-300:]))
        return r

    def kadmin(self, query):
        return self.run("kadmin.local", "-r", REALM, "-q", query)

    def start(self):
        self.proc = subprocess.Popen([find("krb5kdc"), "-n", "-r", REALM],
                                     env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            check(self.proc.poll() is None, "krb5kdc exited at startup")
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("krb5kdc did not listen within 10 s")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def kinit(self, user, ccache, password=None):
        env = dict(self.env, KRB5CCNAME="FILE:" + ccache)
        r = subprocess.run([find("kinit"), user],
                           input=(password or PASSWORDS[user]) + "\n",
                           env=env, capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "kinit %s: %s" % (user, r.stderr[-300:]))
        return env


def setup(ctx, keytab=True, config=None):
    """A KDC with alice, mallory (no passwd-file entry), pop/localhost (in
    the keytab) and imap/localhost (not); a server with GSSAPI; alice's
    ticket. Returns (kdc, srv, alice_env)."""
    kdc = Kdc(ctx.tmp)
    try:
        for user, pw in PASSWORDS.items():
            kdc.kadmin("addprinc -pw %s %s" % (pw, user))
        kdc.kadmin("addprinc -randkey pop/localhost")
        kdc.kadmin("addprinc -randkey imap/localhost")
        kdc.start()
        conf = {"sasl_mechanisms": "GSSAPI PLAIN", "gssapi_hostname": "localhost"}
        conf.update(config or {})
        srv = ctx.server(config=conf, env={"KRB5_CONFIG": kdc.conf},
                         secrets=PASSWORDS.values())
        if keytab:
            kt = os.path.join(srv.root, "pop.keytab")
            kdc.kadmin("ktadd -k %s pop/localhost" % kt)
            srv.config["gssapi_keytab"] = kt
            srv.write_config()
        srv.start()
        env = kdc.kinit("alice", os.path.join(ctx.tmp, "alice.cc"))
        return kdc, srv, env
    except BaseException:
        kdc.stop()
        raise


def curl(srv, env, user=":"):
    return subprocess.run(["curl", "-sS", "--max-time", "20", "--login-options",
                           "AUTH=GSSAPI", "-u", user,
                           "pop3://localhost:%d/" % srv.port],
                          capture_output=True, text=True, timeout=30, env=env)


class GsaslClient:
    """The gsasl command-line client in stdin/stdout mode: it prints
    "Output from client:" then a base64 line, and reads the server's
    base64 challenges from stdin."""

    def __init__(self, env, service="pop", authzid=None):
        cmd = ["gsasl", "--client", "--mechanism", "GSSAPI", "--service", service,
               "--hostname", "localhost", "-a", "alice"]
        if authzid:
            cmd += ["-z", authzid]
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.buf = b""

    def token(self, timeout=10):
        """The client's next base64 output, or None when it stopped."""
        import select
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.buf.split(b"\n")
            for i, l in enumerate(lines[:-2]):
                if l.startswith(b"Output from client:"):
                    self.buf = b"\n".join(lines[i + 2:])
                    return lines[i + 1].strip().decode()
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return None
                self.buf += chunk
        return None

    def challenge(self, b64):
        self.proc.stdin.write(b64.encode() + b"\n")
        self.proc.stdin.flush()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


def relay(p, env, service="pop", authzid=None):
    """One AUTH GSSAPI exchange on session p driven by gsasl; returns the
    final status line."""
    c = GsaslClient(env, service, authzid)
    try:
        tok = c.token()
        check(tok, "gsasl produced a first token (service %s)" % service)
        # RFC 5034 4.: a token this long cannot go in the AUTH line
        eq(p.cmd("AUTH GSSAPI"), "+ ", "empty first challenge")
        resp = p.cmd(tok)
        for _ in range(5):
            if not resp.startswith("+ "):
                return resp
            c.challenge(resp[2:])
            tok = c.token()
            if tok is None:
                return p.cmd("*")
            resp = p.cmd(tok)
        raise AssertionError("GSSAPI exchange did not end")
    finally:
        c.close()


# ------------------------------------------------------------ the tests

def test_gssapi_curl(ctx):
    if not shutil.which("curl"):
        raise Skip("curl not installed")
    if "GSS-API" not in subprocess.run(["curl", "-V"], capture_output=True,
                                       text=True).stdout:
        raise Skip("curl built without GSS-API")
    kdc, srv, env = setup(ctx)
    try:
        p = srv.connect()
        eq(capa_sasl(p), ["GSSAPI", "PLAIN"], "GSSAPI offered with a keytab")
        p.quit()
        r = curl(srv, env)
        eq(r.returncode, 0, "curl AUTH=GSSAPI with alice's ticket (%r)" % r.stderr[-300:])
        r = curl(srv, env, user="alice@%s:" % REALM)
        eq(r.returncode, 0, "curl with the principal as user (%r)" % r.stderr[-300:])
        # no ticket: an empty ccache; curl gives up before or after AUTH
        empty = dict(env, KRB5CCNAME="FILE:" + os.path.join(ctx.tmp, "none.cc"))
        r = curl(srv, empty)
        check(r.returncode != 0, "curl without a ticket fails")
        check("login: user=alice" in srv.log_text(), "the logins are logged")
    finally:
        kdc.stop()


def test_gssapi_failures_and_retry(ctx):
    if not shutil.which("gsasl"):
        raise Skip("gsasl (the command-line client) not installed")
    kdc, srv, env = setup(ctx)
    try:
        p = srv.connect()
        # a ticket for a service whose key the server does not have
        starts(relay(p, env, service="imap"), "-ERR [AUTH]", "wrong service principal")
        # garbage in place of a Kerberos token, then cancel mid-way
        eq(p.cmd("AUTH GSSAPI"), "+ ", "empty first challenge")
        starts(p.cmd("Z2FyYmFnZQ=="), "-ERR", "garbage token")
        eq(p.cmd("AUTH GSSAPI"), "+ ", "empty first challenge")
        starts(p.cmd("*"), "-ERR", "cancelled")
        # another authorization identity (no proxy authorization)
        starts(relay(p, env, authzid="bob"), "-ERR [AUTH]", "authzid other than the user")
        # the same session can still log in
        starts(relay(p, env), "+OK", "GSSAPI login after the failures")
        eq(p.stat(), (0, 0), "maildrop open")
        p.quit()
        p = srv.connect()
        starts(relay(p, env, authzid="alice"), "+OK", "authzid equal to the user")
        p.quit()
        # a valid principal that is not in the passwd-file
        menv = kdc.kinit("mallory", os.path.join(ctx.tmp, "mallory.cc"))
        p = srv.connect()
        starts(relay(p, menv), "-ERR [AUTH]", "principal without a passwd-file entry")
        p.quit()
        log = srv.log_text()
        check("mech=GSSAPI" in log and "auth failed" in log, "failures logged")
    finally:
        kdc.stop()


def test_gssapi_not_offered_without_keytab(ctx):
    kdc, srv, env = setup(ctx, keytab=False)
    try:
        p = srv.connect()
        eq(capa_sasl(p), ["PLAIN"], "no keytab: GSSAPI not offered")
        starts(p.cmd("AUTH GSSAPI"), "-ERR", "AUTH GSSAPI refused")
        p.quit()
        # a keytab that is configured but unreadable: not offered either
        srv.stop()
        srv.config["gssapi_keytab"] = os.path.join(srv.root, "missing.keytab")
        srv.write_config()
        srv.start()
        p = srv.connect()
        eq(capa_sasl(p), ["PLAIN"], "unreadable keytab: GSSAPI not offered")
        p.quit()
    finally:
        kdc.stop()
