"""SASL AUTH (RFC 5034): PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1/-256 (and
-PLUS offers), EXTERNAL with a client certificate; curl, fetchmail, mpop;
every failure path (wrong password, wrong proof, channel-binding
mismatch, cancel, garbage base64, over-long response): -ERR, the session
can retry, and no secret reaches the log (the harness checks the log for
every password of the module's server). -PLUS with tls-server-end-point
(RFC 5929) is checked with the binding computed here from the server
certificate Python's ssl sees."""

import base64
import hashlib
import hmac
import os
import shutil
import ssl
import subprocess

from harness import capa_sasl, Skip, check, eq, starts
from test_tls import CERTS, client_ctx, need_certs, starttls, tls_connect, tls_server

STORES = ("maildir",)

# The default is PLAIN LOGIN; this module exercises every mechanism.
ALL_MECHS = ("SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 "
             "CRAM-MD5 EXTERNAL PLAIN LOGIN")
CONFIG = {"sasl_mechanisms": ALL_MECHS}

# "pencil" with RFC 7677's salt, derived independently (hashlib)
SCRAM256 = ("{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
            "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
            "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=")
SCRAM1 = ("{SCRAM-SHA-1}4096,QSXCR+Q6sek8bf92,6dlGYMOdZcOPutkcNY8U2g7vK9Y=,"
          "D+CSWLOshSulAsxiupA+qs2/fTE=")
EXTRA_USERS = {
    # SCRAM without any plaintext: a yescrypt-looking field nobody can
    # match, the SCRAM secrets in secret= fields
    "sam": "{SHA512-CRYPT}$6$x$y::::::secret=%s secret=%s" % (SCRAM256, SCRAM1),
    "scramonly": SCRAM256,
}
EXTRA_SECRETS = ("pencil",)


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unb64(line):
    starts(line, "+ ", "SASL challenge")
    return base64.b64decode(line[2:])


def need(tool):
    if not shutil.which(tool):
        raise Skip("%s not installed" % tool)


# ------------------------------------------------------- a SCRAM client

class Scram:
    """RFC 5802 client side; cb = (name, data) for -PLUS."""

    def __init__(self, hashname, user, password, cb=None, flag=None):
        self.h = hashname
        self.user, self.password = user, password
        self.cb = cb
        self.nonce = b64(os.urandom(18))
        if cb:
            self.gs2 = "p=%s,," % cb[0]
        else:
            self.gs2 = (flag or "n") + ",,"
        self.first_bare = "n=%s,r=%s" % (user, self.nonce)

    def first(self):
        return self.gs2 + self.first_bare

    def final(self, server_first, tamper=False):
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        check(attrs["r"].startswith(self.nonce), "server nonce extends ours")
        salted = hashlib.pbkdf2_hmac(self.h, self.password.encode(),
                                     base64.b64decode(attrs["s"]), int(attrs["i"]))
        ck = hmac.new(salted, b"Client Key", self.h).digest()
        sk = hashlib.new(self.h, ck).digest()
        cbind = self.gs2.encode() + (self.cb[1] if self.cb else b"")
        without_proof = "c=%s,r=%s" % (b64(cbind), attrs["r"])
        auth = ",".join((self.first_bare, server_first, without_proof)).encode()
        sig = hmac.new(sk, auth, self.h).digest()
        proof = bytes(a ^ b for a, b in zip(ck, sig))
        if tamper:
            proof = bytes([proof[0] ^ 1]) + proof[1:]
        self.server_sig = hmac.new(hmac.new(salted, b"Server Key", self.h).digest(),
                                   auth, self.h).digest()
        return without_proof + ",p=" + b64(proof)

    def check_final(self, server_final):
        eq(server_final, "v=" + b64(self.server_sig), "server signature")


def scram_login(p, mech, user, password, cb=None, tamper=False, flag=None):
    """Runs a SCRAM exchange; returns the final status line."""
    c = Scram("sha1" if mech.startswith("SCRAM-SHA-1") else "sha256",
              user, password, cb, flag)
    resp = p.cmd("AUTH %s %s" % (mech, b64(c.first())))
    if not resp.startswith("+ "):
        return resp
    resp = p.cmd(b64(c.final(unb64(resp).decode(), tamper)))
    if not resp.startswith("+ "):
        return resp
    c.check_final(unb64(resp).decode())
    return p.cmd("")


def plain_ir(user, password, authzid=""):
    return b64("%s\0%s\0%s" % (authzid, user, password))


# ------------------------------------------------------------ the tests

def test_capa_and_list(ctx):
    p = ctx.srv.connect()
    mechs = capa_sasl(p)
    eq(mechs, ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"],
       "SASL mechanisms on plain loopback (no -PLUS, no EXTERNAL)")
    data = p.multi_ok("AUTH").decode()
    eq(data.split(), mechs, "AUTH without argument lists the same")
    p.ok("USER alice")
    p.ok("PASS " + ctx.srv.passwords["alice"])
    check(not capa_sasl(p), "no SASL line after login")
    p.err("AUTH PLAIN " + plain_ir("alice", "x"))
    p.quit()


def test_capa_plaintext_never(ctx):
    srv = ctx.server(config={"plaintext_auth": "never",
                             "sasl_mechanisms": ALL_MECHS}).start()
    p = srv.connect()
    eq(capa_sasl(p), ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5"],
       "PLAIN and LOGIN left out where plaintext is refused")
    resp = p.err("AUTH PLAIN " + plain_ir("alice", srv.passwords["alice"]))
    check("[AUTH]" in resp and "STLS" in resp, "refusal says why: %s" % resp)
    eq(scram_login(p, "SCRAM-SHA-256", "alice", srv.passwords["alice"])[:3], "+OK",
       "SCRAM still works")
    p.quit()


def test_capa_default_mechanisms(ctx):
    srv = ctx.server().start()
    p = srv.connect()
    eq(capa_sasl(p), ["PLAIN", "LOGIN"],
       "default: only what every stored secret can serve")
    p.quit()


def test_capa_mechanism_setting(ctx):
    srv = ctx.server(config={"sasl_mechanisms": "plain cram-md5"}).start()
    p = srv.connect()
    eq(capa_sasl(p), ["CRAM-MD5", "PLAIN"], "only the configured ones")
    p.err("AUTH SCRAM-SHA-256")
    p.quit()
    srv2 = ctx.server(config={"sasl_mechanisms": ""}).start()
    p = srv2.connect()
    eq(capa_sasl(p), [], "sasl_mechanisms empty: no SASL capability")
    p.quit()


def test_plain(ctx):
    pw = ctx.srv.passwords["alice"]
    p = ctx.srv.connect()
    resp = p.err("AUTH PLAIN " + plain_ir("alice", "wrong"))
    check("[AUTH]" in resp, "wrong password: -ERR [AUTH]: %s" % resp)
    p.err("AUTH PLAIN " + plain_ir("alice", pw, authzid="bob"))
    resp = p.cmd("AUTH PLAIN")
    eq(resp, "+ ", "empty challenge without initial response")
    p.ok(plain_ir("alice", pw))
    eq(p.stat(), (0, 0), "logged in, maildrop open")
    p.quit()
    p = ctx.srv.connect()
    # PLAIN checks the password field, whatever its scheme (SCRAM here)
    p.ok("AUTH PLAIN " + plain_ir("scramonly", "pencil"))
    p.quit()
    p = ctx.srv.connect()
    # secret= fields serve their mechanisms only, not PLAIN
    p.err("AUTH PLAIN " + plain_ir("sam", "pencil"))
    p.close()


def test_login(ctx):
    pw = ctx.srv.passwords["bob"]
    p = ctx.srv.connect()
    eq(base64.b64decode(p.cmd("AUTH LOGIN")[2:]), b"User Name", "LOGIN asks for the name")
    eq(base64.b64decode(p.cmd(b64("bob"))[2:]), b"Password", "then the password")
    p.err(b64("nope"))
    eq(p.cmd("AUTH LOGIN " + b64("bob"))[:2], "+ ", "LOGIN with initial response")
    p.ok(b64(pw))
    p.quit()


def test_cram_md5(ctx):
    pw = ctx.srv.passwords["carol"]
    p = ctx.srv.connect()
    for secret, want in (("wrong", "-ERR"), (pw, "+OK")):
        chal = unb64(p.cmd("AUTH CRAM-MD5"))
        check(chal.startswith(b"<") and chal.endswith(b">"), "RFC 2195 challenge %r" % chal)
        digest = hmac.new(secret.encode(), chal, "md5").hexdigest()
        resp = p.cmd(b64("carol " + digest))
        starts(resp, want, "CRAM-MD5 with %s password" % ("the" if want == "+OK" else "a wrong"))
    p.quit()
    p = ctx.srv.connect()
    chal = unb64(p.cmd("AUTH CRAM-MD5"))
    p.err(b64("sam " + hmac.new(b"pencil", chal, "md5").hexdigest()))
    p.close()


def test_scram(ctx):
    p = ctx.srv.connect()
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1"):
        resp = scram_login(p, mech, "sam", "pencil", tamper=True)
        starts(resp, "-ERR [AUTH]", "%s wrong proof" % mech)
        resp = scram_login(p, mech, "sam", "pencel")
        starts(resp, "-ERR [AUTH]", "%s wrong password" % mech)
    starts(scram_login(p, "SCRAM-SHA-256", "nosuch", "pencil"), "-ERR [AUTH]",
           "SCRAM unknown user")
    starts(scram_login(p, "SCRAM-SHA-256", "sam", "pencil"), "+OK",
           "SCRAM-SHA-256 from the stored secret, after failures")
    p.quit()
    p = ctx.srv.connect()
    starts(scram_login(p, "SCRAM-SHA-1", "dave", ctx.srv.passwords["dave"]), "+OK",
           "SCRAM-SHA-1 from a {PLAIN} secret")
    p.quit()
    p = ctx.srv.connect()
    starts(scram_login(p, "SCRAM-SHA-256", "scramonly", "pencil"), "+OK",
           "SCRAM-SHA-256 from the password field")
    p.quit()


def test_cancel_garbage_and_limits(ctx):
    p = ctx.srv.connect()
    p.cmd("AUTH SCRAM-SHA-256")
    resp = p.err("*")
    check("cancel" in resp, "cancel reply: %s" % resp)
    p.err("AUTH PLAIN !!!notbase64")
    eq(p.cmd("AUTH PLAIN"), "+ ", "PLAIN challenge")
    p.err("%%%")
    eq(p.cmd("AUTH LOGIN"), "+ VXNlciBOYW1l", "LOGIN challenge")
    resp = p.err("A" * 9000)
    check("longer" in resp, "over-long response: %s" % resp)
    p.err("AUTH NOSUCHMECH")
    p.err("AUTH SCRAM-SHA-256-PLUS")     # no TLS: no channel binding
    p.err("AUTH EXTERNAL")
    # a long but allowed response (a few KB, like a GSSAPI token) passes
    # the line reader and fails as bad PLAIN data
    eq(p.cmd("AUTH PLAIN"), "+ ", "PLAIN challenge")
    p.err(b64("x" * 4000))
    p.ok("AUTH PLAIN " + plain_ir("erin", ctx.srv.passwords["erin"]))
    p.quit()


def test_curl(ctx):
    need("curl")
    for mech, user in (("PLAIN", "alice"), ("LOGIN", "bob"), ("CRAM-MD5", "carol")):
        url = "pop3://127.0.0.1:%d/" % ctx.srv.port
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "--login-options",
                            "AUTH=" + mech, "-u", "%s:%s" % (user, ctx.srv.passwords[user]),
                            url], capture_output=True, text=True, timeout=30)
        eq(r.returncode, 0, "curl AUTH=%s (stderr %r)" % (mech, r.stderr[-300:]))
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "--login-options",
                            "AUTH=" + mech, "-u", "%s:wrong" % user, url],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0, "curl AUTH=%s with a wrong password fails" % mech)


def test_fetchmail_cram_md5(ctx):
    need("fetchmail")
    home = os.path.join(ctx.tmp, "fm")
    os.makedirs(home)
    rc = os.path.join(home, "rc")
    with open(rc, "w") as f:
        f.write("poll 127.0.0.1 with proto POP3 port %d auth cram-md5 timeout 20\n"
                "  user \"carol\" there with password \"%s\" is \"carol\" here keep\n"
                "  sslproto ''\n"
                % (ctx.srv.port, ctx.srv.passwords["carol"]))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    r = subprocess.run(["fetchmail", "-f", rc, "--nosyslog", "--check", "-v",
                        "--pidfile", os.path.join(home, "pid")],
                       capture_output=True, text=True, timeout=60, env=env)
    out = r.stdout + r.stderr
    check(r.returncode == 1 and "AUTH CRAM-MD5" in out,
          "fetchmail --auth cram-md5: exit %d (1 = no mail), %r" % (r.returncode, out[-600:]))


def test_mpop_scram(ctx):
    need("mpop")
    home = os.path.join(ctx.tmp, "mp")
    os.makedirs(home)
    rc = os.path.join(home, "mpoprc")
    for user, pw, want in (("sam", "pencil", 0), ("sam", "pencel", None),
                           ("alice", ctx.srv.passwords["alice"], 0)):
        with open(rc, "w") as f:
            f.write("account test\nhost 127.0.0.1\nport %d\ntls off\n"
                    "auth scram-sha-256\nuser %s\npassword %s\ntimeout 20\n"
                    "delivery mbox %s/mbox\nkeep on\n" % (ctx.srv.port, user, pw, home))
        os.chmod(rc, 0o600)
        r = subprocess.run(["mpop", "-C", rc, "-q", "test"], capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, HOME=home))
        if want == 0:
            eq(r.returncode, 0, "mpop scram-sha-256 as %s (%r)" % (user, r.stderr[-300:]))
        else:
            check(r.returncode != 0, "mpop with a wrong password fails")


def test_tls_plus_and_external(ctx):
    need_certs()
    srv = tls_server(ctx, config={"sasl_mechanisms": ALL_MECHS,
                                  "tls_ca": CERTS.ca, "tls_verify_client": "optional",
                                  "tls_min_version": "TLSv1.3"},
                     users=EXTRA_USERS, secrets=EXTRA_SECRETS).start()
    # STLS, no client certificate: -PLUS appears, EXTERNAL does not
    p = starttls(srv.connect())
    mechs = capa_sasl(p)
    check("SCRAM-SHA-256-PLUS" in mechs and "SCRAM-SHA-1-PLUS" in mechs and
          "EXTERNAL" not in mechs, "SASL on TLS without a certificate: %s" % mechs)
    # Python cannot export keying material: a made-up binding must fail
    resp = scram_login(p, "SCRAM-SHA-256-PLUS", "sam", "pencil",
                       cb=("tls-exporter", os.urandom(32)))
    starts(resp, "-ERR [AUTH]", "-PLUS with a wrong tls-exporter binding")
    resp = scram_login(p, "SCRAM-SHA-256", "sam", "pencil", flag="y")
    starts(resp, "-ERR [AUTH]", "flag y while the server offers -PLUS (downgrade)")
    p.err("AUTH EXTERNAL =")
    starts(scram_login(p, "SCRAM-SHA-256", "sam", "pencil"), "+OK",
           "plain SCRAM on TLS after the failures")
    p.quit()
    # implicit TLS with the client certificate (CN=alice)
    p = tls_connect(srv.tls_port, client_ctx(cert="client"))
    check("EXTERNAL" in capa_sasl(p), "EXTERNAL offered with a verified certificate")
    p.err("AUTH EXTERNAL " + b64("bob"))
    p.ok("AUTH EXTERNAL =")
    eq(p.stat(), (0, 0), "logged in as the certificate's user")
    p.quit()
    p = tls_connect(srv.tls_port, client_ctx(cert="client"))
    eq(p.cmd("AUTH EXTERNAL"), "+ ", "EXTERNAL without initial response")
    p.ok(b64("alice"))
    p.quit()


def endpoint_binding(der):
    """RFC 5929 4.1 tls-server-end-point: the certificate hashed with its
    signature hash. The test certificates are ecdsa-with-SHA256 (openssl's
    default); MD5 or SHA-1 would be upgraded to SHA-256."""
    return hashlib.sha256(der).digest()


def test_tls_server_end_point(ctx):
    need_certs()
    srv = tls_server(ctx, config={"sasl_mechanisms": ALL_MECHS},
                     users=EXTRA_USERS, secrets=EXTRA_SECRETS).start()
    with open(CERTS.f("server2.pem")) as f:
        other = endpoint_binding(ssl.PEM_cert_to_DER_cert(f.read()))
    p = starttls(srv.connect())
    cb = endpoint_binding(p.sock.getpeercert(binary_form=True))
    check(cb != other, "two certificates, two bindings")
    resp = scram_login(p, "SCRAM-SHA-256-PLUS", "sam", "pencil",
                       cb=("tls-server-end-point", other))
    starts(resp, "-ERR [AUTH]", "tls-server-end-point of another certificate")
    resp = scram_login(p, "SCRAM-SHA-256-PLUS", "sam", "pencil",
                       cb=("tls-server-end-point", cb), tamper=True)
    starts(resp, "-ERR [AUTH]", "tls-server-end-point with a wrong proof")
    resp = scram_login(p, "SCRAM-SHA-256-PLUS", "sam", "pencel",
                       cb=("tls-server-end-point", cb))
    starts(resp, "-ERR [AUTH]", "tls-server-end-point with a wrong password")
    starts(scram_login(p, "SCRAM-SHA-256-PLUS", "sam", "pencil",
                       cb=("tls-server-end-point", cb)), "+OK",
           "SCRAM-SHA-256-PLUS with tls-server-end-point over STLS, after failures")
    eq(p.stat(), (0, 0), "logged in, maildrop open")
    p.quit()
    # implicit TLS, TLS 1.2, SHA-1, a user with only a {PLAIN} secret
    p = tls_connect(srv.tls_port, client_ctx(max_version=ssl.TLSVersion.TLSv1_2))
    eq(p.sock.version(), "TLSv1.2", "TLS 1.2 negotiated")
    check("SCRAM-SHA-1-PLUS" in capa_sasl(p), "-PLUS offered on TLS 1.2")
    starts(scram_login(p, "SCRAM-SHA-1-PLUS", "dave", srv.passwords["dave"],
                       cb=("tls-server-end-point", cb)), "+OK",
           "SCRAM-SHA-1-PLUS with tls-server-end-point on TLS 1.2, {PLAIN} user")
    p.quit()
