"""TLS: STLS (RFC 2595), implicit TLS (RFC 8314), certificates, client
certificates, reload on SIGHUP, and the plaintext_auth policy.

Certificates are made once per run with the openssl CLI (EC P-256, fast):
a CA, a server certificate for localhost/127.0.0.1, a second one (for the
SIGHUP test), an expired one, a wrong-host one, a client certificate from
the CA and a self-signed client certificate from no trusted CA.
"""
import atexit
import hashlib
import json
import poplib
import random
import shutil
import ssl
import subprocess
import tempfile

from harness import *

STORES = ("maildir",)


# ----------------------------------------------------------- certificates

class Certs:
    """The run's certificates: pair(name) -> (cert.pem, key.pem)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="satchel-it-certs-")
        os.chmod(self.dir, 0o755)
        atexit.register(shutil.rmtree, self.dir, True)
        self.error = None
        try:
            self.make()
        except Exception as e:  # reported by every test that needs them
            self.error = "making certificates with openssl failed: %s" % e

    def f(self, name):
        return os.path.join(self.dir, name)

    def openssl(self, *args):
        r = subprocess.run(["openssl"] + list(args), capture_output=True,
                           text=True, timeout=30, cwd=self.dir)
        if r.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (" ".join(args[:2]), r.stderr[-400:]))

    def newkey_args(self):
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def make(self):
        self.openssl("req", "-x509", *self.newkey_args(), "-keyout", "ca.key",
                     "-out", "ca.pem", "-days", "3650", "-subj", "/CN=satchel test CA",
                     "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        with open(self.f("server.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                    "extendedKeyUsage=serverAuth\n")
        with open(self.f("wrong.ext"), "w") as f:
            f.write("subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth\n")
        with open(self.f("client.ext"), "w") as f:
            f.write("extendedKeyUsage=clientAuth\n")
        for name, cn, ext, days in (("server", "localhost", "server.ext", "3650"),
                                    ("server2", "localhost", "server.ext", "3650"),
                                    ("expired", "localhost", "server.ext", "-1"),
                                    ("wronghost", "wrong.example", "wrong.ext", "3650"),
                                    ("client", "alice", "client.ext", "3650")):
            self.openssl("req", "-new", *self.newkey_args(), "-keyout", name + ".key",
                         "-out", name + ".csr", "-subj", "/CN=" + cn)
            self.openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
                         "-CAkey", "ca.key", "-CAcreateserial", "-days", days,
                         "-extfile", ext, "-out", name + ".pem")
        self.openssl("req", "-x509", *self.newkey_args(), "-keyout", "rogue.key",
                     "-out", "rogue.pem", "-days", "3650", "-subj", "/CN=rogue client")
        for fn in os.listdir(self.dir):
            os.chmod(self.f(fn), 0o644)

    @property
    def ca(self):
        return self.f("ca.pem")

    def pair(self, name):
        return self.f(name + ".pem"), self.f(name + ".key")

    def fingerprint(self, name):
        with open(self.f(name + ".pem")) as f:
            return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


CERTS = Certs()
TLS_PORT = free_port()
OPTS = {"tls_handshake_timeout": "2"}
CONFIG = {"listen_tls": "127.0.0.1:%d" % TLS_PORT,
          "tls_cert": CERTS.pair("server")[0],
          "tls_key": CERTS.pair("server")[1]}


def need_certs():
    if CERTS.error:
        raise AssertionError(CERTS.error)


def need(tool):
    if not shutil.which(tool):
        raise Skip("%s not installed" % tool)


# ----------------------------------------------------------------- clients

def client_ctx(verify=True, cert=None, max_version=None):
    """A client context: verifying against the test CA (hostname checked),
    or not verifying at all; optionally with a client certificate."""
    if verify:
        c = ssl.create_default_context(cafile=CERTS.ca)
    else:
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
    if cert:
        c.load_cert_chain(*CERTS.pair(cert))
    if max_version is not None:
        c.maximum_version = max_version
    return c


def tls_connect(port, context=None, host="127.0.0.1"):
    """A Pop on the implicit-TLS port: handshake, then the greeting."""
    p = Pop(port, host=host, greet=False)
    p.note("C", "<TLS handshake>")
    p.sock = (context or client_ctx()).wrap_socket(p.sock, server_hostname=host)
    p.note("S", "<TLS %s %s>" % (p.sock.version(), p.sock.cipher()[0]))
    p.greeting = p.getline().decode("latin-1")
    starts(p.greeting, "+OK", "greeting after the TLS handshake")
    return p


def starttls(p, context=None, host="127.0.0.1"):
    """STLS, then the handshake on the same socket."""
    p.ok("STLS")
    eq(p.buf, b"", "bytes the server sent after +OK to STLS, before the handshake")
    p.note("C", "<TLS handshake>")
    p.sock = (context or client_ctx()).wrap_socket(p.sock, server_hostname=host)
    p.note("S", "<TLS %s %s>" % (p.sock.version(), p.sock.cipher()[0]))
    return p


def peer_fingerprint(p):
    return hashlib.sha256(p.sock.getpeercert(binary_form=True)).hexdigest()


def capa(p):
    data = p.multi_ok("CAPA")
    return {l.split()[0].upper() for l in data.decode("latin-1").split("\r\n") if l}


def nothing_arrives(p, seconds=0.5):
    """True if the server sends nothing within seconds (TLS-aware)."""
    if p.buf:
        return False
    p.sock.settimeout(seconds)
    try:
        chunk = p.sock.recv(4096)
    except (socket.timeout, ssl.SSLWantReadError):
        return True
    finally:
        p.sock.settimeout(IO_TIMEOUT)
    p.note("S", chunk if chunk else "<connection closed>")
    p.buf += chunk
    return False


def tls_server(ctx, cert="server", opts=None, config=None, **kw):
    """An extra server with a plain and a TLS listener."""
    need_certs()
    port = free_port()
    c, k = CERTS.pair(cert)
    conf = {"listen_tls": "127.0.0.1:%d" % port, "tls_cert": c, "tls_key": k}
    conf.update(config or {})
    srv = ctx.server(opts=opts, config=conf, **kw)
    srv.tls_port = port
    return srv


def handshake_fails(port, context, host="127.0.0.1", stls=False):
    """Connects (implicit TLS or STLS) and expects the handshake or the
    first read to fail. Returns the exception."""
    p = Pop(port, host=host, greet=stls)
    if stls:
        p.ok("STLS")
    try:
        p.sock = context.wrap_socket(p.sock, server_hostname=host)
        # TLS 1.3: a refused client certificate shows at the first read
        p.note("S", "<TLS handshake completed on the client side>")
        line = p.getline() if not stls else p.cmd("CAPA")
    except (ssl.SSLError, ConnectionClosed, ConnectionResetError, BrokenPipeError) as e:
        p.note("S", "<%s: %s>" % (type(e).__name__, e))
        p.close()
        return e
    raise AssertionError("TLS session established, first line %s" % short(line))


def simple(n):
    return make_msgs([simple_msg(i) for i in range(1, n + 1)], "maildir")


# ------------------------------------------------------------------ CAPA

def test_capa_stls_lifecycle(ctx):
    """STLS advertised before the handshake only, never on the TLS port,
    never after login."""
    need_certs()
    ctx.srv.fill("alice", simple(1))
    p = ctx.srv.connect()
    caps = capa(p)
    check("STLS" in caps, "plain port, before login: CAPA lacks STLS: %s" % sorted(caps))
    check("USER" in caps, "plain loopback: CAPA lacks USER: %s" % sorted(caps))
    starttls(p)
    caps = capa(p)
    check("STLS" not in caps, "after the STLS handshake CAPA still has STLS: %s" % sorted(caps))
    check("USER" in caps, "after STLS: CAPA lacks USER: %s" % sorted(caps))
    p.login("alice", ctx.srv.passwords["alice"])
    check("STLS" not in capa(p), "STLS advertised after login over TLS")
    p.quit()

    p = ctx.srv.login("alice")
    caps = capa(p)
    check("STLS" not in caps, "plain port, after login: CAPA has STLS: %s" % sorted(caps))
    p.quit()

    ctx.srv.wait_unlocked("alice")
    p = tls_connect(TLS_PORT)
    caps = capa(p)
    check("STLS" not in caps, "TLS port: CAPA has STLS: %s" % sorted(caps))
    check("USER" in caps, "TLS port: CAPA lacks USER: %s" % sorted(caps))
    p.login("alice", ctx.srv.passwords["alice"])
    check("STLS" not in capa(p), "TLS port after login: CAPA has STLS")
    p.quit()


def test_no_stls_without_tls_config(ctx):
    srv = ctx.server().start()
    p = srv.connect()
    check("STLS" not in capa(p), "STLS advertised on a server without tls_cert")
    p.err("STLS")
    p.login("alice", srv.passwords["alice"])
    p.quit()


# --------------------------------------------------------- byte-exact RETR

def retr_all(ctx, p):
    msgs = ctx.srv.fill("alice", make_msgs(load_corpus(), "maildir"))
    p.login("alice", ctx.srv.passwords["alice"])
    bynum = map_numbers(p, ctx.srv, msgs)
    eq(len(bynum), len(msgs), "messages in the maildrop")
    bad = []
    for n, m in sorted(bynum.items()):
        eq(int(p.ok("LIST %d" % n).split()[2]), m.size, "LIST %d (%s)" % (n, m.label))
        got = p.retr(n)
        if got != m.expected:
            bad.append("%s: %s" % (m.label, describe_diff(got, m.expected)))
    check(not bad, "; ".join(bad))
    p.quit()


def test_stls_retr_byte_exact(ctx):
    need_certs()
    p = starttls(ctx.srv.connect())
    retr_all(ctx, p)


def test_implicit_tls_retr_byte_exact(ctx):
    need_certs()
    p = tls_connect(TLS_PORT)
    retr_all(ctx, p)


def poplib_check(ctx, client):
    msgs = ctx.srv.fill("alice", simple(3))
    client.user("alice")
    client.pass_(ctx.srv.passwords["alice"])
    eq(client.stat(), (3, sum(m.size for m in msgs)), "poplib stat()")
    uidl = {int(l.split()[0]): l.split()[1].decode() for l in client.uidl()[1]}
    by_base = {m.base: m for m in msgs}
    for n in (1, 2, 3):
        resp, lines, octets = client.retr(n)
        got = b"".join(l + b"\r\n" for l in lines)
        eq(got, by_base[uidl[n]].expected, "poplib retr(%d)" % n)
    client.quit()


def test_poplib_stls(ctx):
    need_certs()
    client = poplib.POP3("127.0.0.1", ctx.srv.port, timeout=IO_TIMEOUT)
    try:
        check("STLS" in client.capa(), "poplib capa() lacks STLS")
        client.stls(context=client_ctx())
        check("STLS" not in client.capa(), "poplib capa() after stls() still has STLS")
        check(isinstance(client.sock, ssl.SSLSocket), "poplib socket not TLS after stls()")
        poplib_check(ctx, client)
    finally:
        client.close()


def test_poplib_pop3_ssl(ctx):
    need_certs()
    client = poplib.POP3_SSL("127.0.0.1", TLS_PORT, context=client_ctx(), timeout=IO_TIMEOUT)
    try:
        starts(client.getwelcome(), b"+OK", "POP3_SSL greeting")
        check("STLS" not in client.capa(), "POP3_SSL capa() has STLS")
        poplib_check(ctx, client)
    finally:
        client.close()


# ------------------------------------------------------------- injection

def test_injection_stls_capa(ctx):
    """CVE-2011-0411: a command pipelined in clear after STLS must be
    discarded, not answered inside TLS."""
    need_certs()
    ctx.srv.fill("alice", simple(1))
    p = ctx.srv.connect()
    p.send(b"STLS\r\nCAPA\r\n")
    starts(p.getline().decode("latin-1"), "+OK", "response to STLS")
    eq(p.buf, b"", "bytes the server sent in clear after +OK to STLS")
    p.note("C", "<TLS handshake>")
    p.sock = client_ctx().wrap_socket(p.sock, server_hostname="127.0.0.1")
    check(nothing_arrives(p, 0.7),
          "the server answered the CAPA injected before the handshake: %s" % short(p.buf))
    # the session still works and answers our commands in order
    p.err("NOOP")   # NOOP is for TRANSACTION only: -ERR, not a CAPA answer
    caps = capa(p)
    check("STLS" not in caps, "CAPA inside TLS has STLS")
    p.login("alice", ctx.srv.passwords["alice"])
    p.ok("NOOP")
    p.quit()


def test_injection_stls_user(ctx):
    """USER injected before the handshake must not count: PASS inside TLS
    then has no user."""
    need_certs()
    p = ctx.srv.connect()
    p.send(b"STLS\r\nUSER alice\r\n")
    starts(p.getline().decode("latin-1"), "+OK", "response to STLS")
    eq(p.buf, b"", "bytes after +OK to STLS")
    p.sock = client_ctx().wrap_socket(p.sock, server_hostname="127.0.0.1")
    check(nothing_arrives(p, 0.5), "the server answered the USER injected before "
          "the handshake: %s" % short(p.buf))
    p.err("PASS " + ctx.srv.passwords["alice"])
    p.login("alice", ctx.srv.passwords["alice"])
    p.quit()


def test_stls_forgets_user_sent_in_clear(ctx):
    """RFC 2595 4.: what was said before TLS is forgotten: a USER sent in
    clear does not carry over, PASS inside TLS has no user."""
    need_certs()
    p = ctx.srv.connect()
    p.ok("USER alice")
    starttls(p)
    p.err("PASS " + ctx.srv.passwords["alice"])
    p.login("alice", ctx.srv.passwords["alice"])
    p.quit()


# ----------------------------------------------------- STLS in wrong states

def test_stls_wrong_states(ctx):
    need_certs()
    ctx.srv.fill("alice", simple(1))
    # with an argument
    p = ctx.srv.connect()
    p.err("STLS now")
    starttls(p)        # still possible afterwards
    # twice
    p.err("STLS")
    eq(p.buf, b"", "bytes after -ERR to the second STLS")
    p.login("alice", ctx.srv.passwords["alice"])
    # after login, over TLS
    p.err("STLS")
    p.ok("NOOP")
    p.quit()

    # after login, in clear
    ctx.srv.wait_unlocked("alice")
    p = ctx.srv.login("alice")
    p.err("STLS")
    p.ok("NOOP")
    eq(p.retr(1), simple(1)[0].expected, "RETR after a refused STLS")
    p.quit()

    # on the implicit-TLS port
    ctx.srv.wait_unlocked("alice")
    p = tls_connect(TLS_PORT)
    p.err("STLS")
    p.err("STLS x")
    p.login("alice", ctx.srv.passwords["alice"])
    p.ok("NOOP")
    p.quit()


# ------------------------------------------------- verifying the server

def check_verify_failure(e, want, what):
    check(isinstance(e, ssl.SSLCertVerificationError),
          "%s: the client did not reject the certificate: %s: %s" % (what, type(e).__name__, e))
    check(want in str(e).lower(), "%s: verification error %r does not say %r"
          % (what, str(e), want))


def test_verify_rejects_expired_and_wrong_host(ctx):
    for cert, want in (("expired", "expired"), ("wronghost", "mismatch")):
        srv = tls_server(ctx, cert=cert).start()
        e = handshake_fails(srv.tls_port, client_ctx())
        check_verify_failure(e, want, "%s certificate on the TLS port" % cert)
        e = handshake_fails(srv.port, client_ctx(), stls=True)
        check_verify_failure(e, want, "%s certificate after STLS" % cert)
        try:
            poplib.POP3_SSL("127.0.0.1", srv.tls_port, context=client_ctx(), timeout=IO_TIMEOUT)
            raise AssertionError("poplib.POP3_SSL accepted the %s certificate" % cert)
        except ssl.SSLCertVerificationError:
            pass
        # the server survived the failed handshakes and serves the next
        # client (one that does not verify, as a careless client would)
        p = tls_connect(srv.tls_port, client_ctx(verify=False))
        p.login("alice", srv.passwords["alice"])
        p.quit()
        p = starttls(srv.connect(), client_ctx(verify=False))
        p.login("alice", srv.passwords["alice"])
        p.quit()
        check(srv.alive(), "server with the %s certificate died" % cert)


# -------------------------------------------------- handshake garbage

def close_info(sock, timeout):
    """Reads until the peer closes; returns (closed, data, seconds)."""
    t0 = time.monotonic()
    data = b""
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, OSError):
            return True, data, time.monotonic() - t0
        if not chunk:
            return True, data, time.monotonic() - t0
        data += chunk
    return False, data, time.monotonic() - t0


def client_hello():
    """The first flight of a real TLS client."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(inc, out, server_hostname="127.0.0.1")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def raw(port):
    return socket.create_connection(("127.0.0.1", port), IO_TIMEOUT)


def test_handshake_garbage(ctx):
    need_certs()
    ctx.srv.fill("alice", simple(1))
    rng = random.Random(20110411)
    cases = [("random bytes", bytes(rng.getrandbits(8) for _ in range(3000))),
             ("plain CAPA", b"CAPA\r\n"),
             ("plain USER/PASS", b"USER alice\r\nPASS x\r\n"),
             ("a TLS record header with a huge length", b"\x16\x03\x01\xff\xff" + b"\x00" * 64),
             ("an SSLv2-style hello", b"\x80\x2e\x01\x00\x02" + b"\x00" * 45),
             ("a ClientHello followed by garbage", client_hello() + b"\x17\x03\x03\x00\x10" + b"A" * 16)]
    for what, data in cases:
        s = raw(TLS_PORT)
        s.sendall(data)
        closed, got, took = close_info(s, 6)
        s.close()
        check(closed, "TLS port, %s: connection still open after %.1fs" % (what, took))
        check(not got.startswith((b"+OK", b"-ERR")),
              "TLS port, %s: the server answered in clear: %s" % (what, short(got)))
    # an immediate close, and a reset
    s = raw(TLS_PORT)
    s.close()
    s = raw(TLS_PORT)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    # garbage after STLS on the plain port
    p = ctx.srv.connect()
    p.ok("STLS")
    p.send(b"CAPA\r\n" + bytes(rng.getrandbits(8) for _ in range(500)))
    closed, got, took = close_info(p.sock, 6)
    p.closed = True
    check(closed, "plain port, garbage after STLS: connection still open after %.1fs" % took)
    check(not got.startswith((b"+OK", b"-ERR")), "garbage after STLS answered in clear: %s" % short(got))
    # the next clients are served, on both ports
    p = tls_connect(TLS_PORT)
    p.login("alice", ctx.srv.passwords["alice"])
    p.quit()
    ctx.srv.wait_unlocked("alice")
    p = starttls(ctx.srv.connect())
    p.login("alice", ctx.srv.passwords["alice"])
    p.quit()


def test_handshake_timeout(ctx):
    """tls_handshake_timeout = 2 (module OPTS): half-made handshakes are
    closed after about 2 s, all at once, and the server keeps serving."""
    need_certs()
    hello = client_hello()
    conns = []
    s = raw(TLS_PORT)                       # nothing sent at all
    conns.append(("silent TCP connection", s))
    s = raw(TLS_PORT)
    s.sendall(hello[:len(hello) // 2])      # half a ClientHello
    conns.append(("half a ClientHello", s))
    s = raw(TLS_PORT)
    s.sendall(hello)                        # ClientHello, then no Finished
    conns.append(("ClientHello, no client Finished", s))
    p = ctx.srv.connect()
    p.ok("STLS")                            # STLS, then silence
    conns.append(("STLS then silence", p.sock))
    t0 = time.monotonic()
    # meanwhile a real client is served
    q = tls_connect(TLS_PORT)
    capa(q)
    q.quit()
    problems = []
    for what, s in conns:
        closed, got, took = close_info(s, max(0.1, 8 - (time.monotonic() - t0)))
        took = time.monotonic() - t0
        s.close()
        if not closed:
            problems.append("%s: still open after %.1fs" % (what, took))
        elif took < 1.2:
            problems.append("%s: closed after %.2fs, before the 2 s timeout" % (what, took))
        elif got.startswith((b"+OK", b"-ERR")):
            problems.append("%s: answered in clear: %s" % (what, short(got)))
    p.closed = True
    check(not problems, "; ".join(problems))
    check("TLS handshake timeout" in ctx.srv.log_text(), "no 'TLS handshake timeout' in the log")
    p = tls_connect(TLS_PORT)
    caps = capa(p)
    check("USER" in caps, "CAPA after the timeouts: %s" % sorted(caps))
    p.quit()


# ------------------------------------------------------- protocol versions

def test_min_version_default_accepts_tls12(ctx):
    need_certs()
    p = tls_connect(TLS_PORT, client_ctx(max_version=ssl.TLSVersion.TLSv1_2))
    eq(p.sock.version(), "TLSv1.2", "negotiated version with a TLS 1.2-only client")
    p.quit()
    p = tls_connect(TLS_PORT)
    eq(p.sock.version(), "TLSv1.3", "negotiated version with a default client")
    p.quit()


def test_min_version_tls13(ctx):
    srv = tls_server(ctx, config={"tls_min_version": "TLSv1.3"}).start()
    old = client_ctx(max_version=ssl.TLSVersion.TLSv1_2)
    e = handshake_fails(srv.tls_port, old)
    check(isinstance(e, ssl.SSLError), "TLS 1.2-only client on the TLS port: %r" % e)
    e = handshake_fails(srv.port, old, stls=True)
    check(isinstance(e, ssl.SSLError), "TLS 1.2-only client after STLS: %r" % e)
    p = tls_connect(srv.tls_port)
    eq(p.sock.version(), "TLSv1.3", "negotiated version")
    p.login("alice", srv.passwords["alice"])
    p.quit()


def test_tls_ciphers(ctx):
    """tls_ciphers restricts the TLS 1.2 cipher list."""
    srv = tls_server(ctx, config={"tls_ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256"}).start()
    p = tls_connect(srv.tls_port, client_ctx(max_version=ssl.TLSVersion.TLSv1_2))
    eq(p.sock.cipher()[0], "ECDHE-ECDSA-AES128-GCM-SHA256", "negotiated TLS 1.2 cipher")
    p.quit()
    c = client_ctx(max_version=ssl.TLSVersion.TLSv1_2)
    c.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    handshake_fails(srv.tls_port, c)
    p = tls_connect(srv.tls_port)
    p.quit()


# ---------------------------------------------------- client certificates

def test_client_cert_required(ctx):
    srv = tls_server(ctx, config={"tls_verify_client": "required",
                                  "tls_ca": CERTS.ca}).start()
    handshake_fails(srv.tls_port, client_ctx())
    handshake_fails(srv.tls_port, client_ctx(cert="rogue"))
    handshake_fails(srv.port, client_ctx(), stls=True)
    p = tls_connect(srv.tls_port, client_ctx(cert="client"))
    p.login("alice", srv.passwords["alice"])
    p.quit()
    srv.wait_unlocked("alice")
    p = starttls(srv.connect(), client_ctx(cert="client"))
    p.login("alice", srv.passwords["alice"])
    p.quit()


def test_client_cert_optional(ctx):
    srv = tls_server(ctx, config={"tls_verify_client": "optional",
                                  "tls_ca": CERTS.ca}).start()
    p = tls_connect(srv.tls_port)
    p.login("alice", srv.passwords["alice"])
    p.quit()
    srv.wait_unlocked("alice")
    p = tls_connect(srv.tls_port, client_ctx(cert="client"))
    p.login("alice", srv.passwords["alice"])
    p.quit()
    handshake_fails(srv.tls_port, client_ctx(cert="rogue"))


# ---------------------------------------------------------- startup errors

def startup_fails(ctx, config, names, what):
    """Starts a server that must refuse to start with EX_CONFIG and a
    message naming each of names."""
    srv = ctx.server(config=config)
    srv.fix_owner()
    try:
        r = subprocess.run(srv.command(), capture_output=True, text=True, timeout=15,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s: the server started (still running after 15 s)" % what)
    out = r.stdout + r.stderr
    eq(r.returncode, EX_CONFIG, "%s: exit status (output %r)" % (what, out[-600:]))
    for n in names:
        check(n in out, "%s: message does not name %r: %r" % (what, n, out[-600:]))
    for pat in SANITIZER_PATTERNS:
        check(pat not in out, "%s: sanitizer report: %r" % (what, out[-2000:]))


def test_startup_missing_cert(ctx):
    need_certs()
    missing = os.path.join(ctx.tmp, "no-such-cert.pem")
    startup_fails(ctx, {"listen_tls": "127.0.0.1:%d" % free_port(), "tls_cert": missing,
                        "tls_key": CERTS.pair("server")[1]},
                  [missing], "missing tls_cert file")


def test_startup_missing_key(ctx):
    need_certs()
    missing = os.path.join(ctx.tmp, "no-such-key.pem")
    startup_fails(ctx, {"listen_tls": "127.0.0.1:%d" % free_port(),
                        "tls_cert": CERTS.pair("server")[0], "tls_key": missing},
                  [missing], "missing tls_key file")


def test_startup_key_mismatch(ctx):
    need_certs()
    key = CERTS.pair("server2")[1]
    startup_fails(ctx, {"listen_tls": "127.0.0.1:%d" % free_port(),
                        "tls_cert": CERTS.pair("server")[0], "tls_key": key},
                  [key, "match"], "tls_key not matching tls_cert")


def test_startup_listen_tls_without_cert(ctx):
    startup_fails(ctx, {"listen_tls": "127.0.0.1:%d" % free_port()},
                  ["listen_tls", "tls_cert"], "listen_tls without tls_cert")


def test_startup_stls_key_mismatch_without_listen_tls(ctx):
    """A certificate for STLS only (no listen_tls) is checked too."""
    need_certs()
    key = CERTS.pair("client")[1]
    startup_fails(ctx, {"tls_cert": CERTS.pair("server")[0], "tls_key": key},
                  [key], "tls_key not matching, STLS only")


# ------------------------------------------------------------------- SIGHUP

def test_sighup_reloads_certificate(ctx):
    need_certs()
    ctx.workers_may_change = True
    cert = os.path.join(ctx.tmp, "cert.pem")
    key = os.path.join(ctx.tmp, "key.pem")
    shutil.copy(CERTS.pair("server")[0], cert)
    shutil.copy(CERTS.pair("server")[1], key)
    srv = tls_server(ctx, config={"tls_cert": cert, "tls_key": key})
    srv.fill("alice", simple(2))
    srv.fill("bob", simple(1))
    srv.start()
    old_tls = tls_connect(srv.tls_port)
    eq(peer_fingerprint(old_tls), CERTS.fingerprint("server"), "certificate before SIGHUP")
    old_tls.login("alice", srv.passwords["alice"])
    old_stls = starttls(srv.connect())
    eq(peer_fingerprint(old_stls), CERTS.fingerprint("server"), "STLS certificate before SIGHUP")
    old_stls.login("bob", srv.passwords["bob"])
    old_pre = srv.connect()          # not yet TLS: STLS after the reload

    shutil.copy(CERTS.pair("server2")[0], cert + ".new")
    shutil.copy(CERTS.pair("server2")[1], key + ".new")
    os.rename(cert + ".new", cert)
    os.rename(key + ".new", key)
    before = srv.log_text().count("configuration reloaded")
    srv.signal(signal.SIGHUP)
    check(wait_until(lambda: srv.log_text().count("configuration reloaded") > before, 5),
          "no 'configuration reloaded' in the log after SIGHUP: %s" % srv.log_tail(5))

    new = wait_until(lambda: fp_of_new(srv) == CERTS.fingerprint("server2"), 5)
    check(new, "a new connection after SIGHUP still sees the old certificate")
    p = starttls(srv.connect())
    eq(peer_fingerprint(p), CERTS.fingerprint("server2"), "STLS certificate after SIGHUP")
    p.quit()

    # sessions opened before the reload carry on
    eq(old_tls.stat()[0], 2, "STAT on the TLS session opened before SIGHUP")
    old_tls.retr(1)
    old_tls.quit()
    old_stls.ok("NOOP")
    old_stls.retr(1)
    old_stls.quit()
    # a connection of the old generation still in clear can do STLS
    starttls(old_pre)
    old_pre.login("alice", srv.passwords["alice"])
    old_pre.quit()


def fp_of_new(srv):
    p = tls_connect(srv.tls_port)
    fp = peer_fingerprint(p)
    p.quit()
    return fp


# ------------------------------------------------------------ real clients

def test_curl_stls_and_pop3s(ctx):
    need("curl")
    need_certs()
    msgs = ctx.srv.fill("alice", simple(2))
    pw = ctx.srv.passwords["alice"]
    p = ctx.srv.login("alice")
    uidl = p.uidl()
    p.quit()
    want = {m.base: m.expected for m in msgs}[uidl[1]]
    for url, extra in (("pop3://127.0.0.1:%d/1" % ctx.srv.port, ["--ssl-reqd"]),
                       ("pop3s://127.0.0.1:%d/1" % TLS_PORT, [])):
        ctx.srv.wait_unlocked("alice")
        r = subprocess.run(["curl", "-sS", "-v", "--max-time", "30", "--cacert", CERTS.ca,
                            "-u", "alice:" + pw, url] + extra,
                           capture_output=True, timeout=40)
        eq(r.returncode, 0, "curl %s exit status (stderr %r)" % (url, r.stderr[-600:]))
        eq(r.stdout, want, "curl %s output" % url)
        if extra:
            check(b"> STLS" in r.stderr, "curl --ssl-reqd did not send STLS: %r" % r.stderr[-600:])
    # curl refuses a server whose certificate it cannot verify
    other = tls_server(ctx, cert="wronghost").start()
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", CERTS.ca,
                        "-u", "alice:" + pw, "pop3s://127.0.0.1:%d/" % other.tls_port],
                       capture_output=True, timeout=30)
    check(r.returncode != 0, "curl accepted the wrong-host certificate")


def fetchmail_run(ctx, port, tls_opts, tag):
    home = os.path.join(ctx.tmp, tag)
    out = os.path.join(home, "out")
    os.makedirs(out)
    mda = os.path.join(home, "mda.sh")
    with open(mda, "w") as f:
        f.write('#!/bin/sh\nn=$(ls "%s" | wc -l)\ncat > "%s/$(printf %%04d $n)"\n' % (out, out))
    os.chmod(mda, 0o755)
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        f.write("set no bouncemail\n"
                "poll 127.0.0.1 with proto POP3 port %d timeout 20\n"
                "  user \"alice\" there with password \"%s\" is \"alice\" here\n"
                "  keep %s\n" % (port, ctx.srv.passwords["alice"], tls_opts))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    r = subprocess.run(["fetchmail", "-v", "-f", rc, "--nosyslog", "--invisible",
                        "--norewrite", "--nodetach", "--mda", mda,
                        "-i", os.path.join(home, ".fetchids"),
                        "--pidfile", os.path.join(home, "fetchmail.pid")],
                       capture_output=True, timeout=60, env=env)
    got = [open(os.path.join(out, fn), "rb").read() for fn in sorted(os.listdir(out))]
    return r, got


def test_fetchmail_ssl_and_stls(ctx):
    need("fetchmail")
    need_certs()
    msgs = ctx.srv.fill("alice", simple(2))
    want = sorted(m.expected.replace(b"\r\n", b"\n") for m in msgs)
    for tag, port, opts in (
            ("implicit", TLS_PORT, "ssl sslcertck sslcertfile \"%s\" sslcommonname localhost"
             % CERTS.ca),
            ("stls", ctx.srv.port, "sslproto 'tls1.2+' sslcertck sslcertfile \"%s\" "
             "sslcommonname localhost" % CERTS.ca)):
        ctx.srv.wait_unlocked("alice")
        r, got = fetchmail_run(ctx, port, opts, tag)
        out = (r.stdout + r.stderr).decode("latin-1")
        check(r.returncode == 0, "fetchmail %s: exit %d, output %r" % (tag, r.returncode, out[-900:]))
        eq(sorted(got), want, "messages fetched by fetchmail (%s)" % tag)
        if tag == "stls":
            check("POP3> STLS" in out, "fetchmail did not use STLS: %r" % out[-900:])
    # a fetchmail that checks certificates refuses the wrong-host one
    other = tls_server(ctx, cert="wronghost").start()
    ctx.srv.wait_unlocked("alice")
    r, got = fetchmail_run(ctx, other.tls_port, "ssl sslcertck sslcertfile \"%s\"" % CERTS.ca,
                           "wrong")
    check(r.returncode not in (0, 1) and not got,
          "fetchmail accepted the wrong-host certificate: exit %d" % r.returncode)


def test_mpop_starttls_on_off(ctx):
    need("mpop")
    need_certs()
    msgs = ctx.srv.fill("alice", simple(2))
    want = sorted(m.expected.replace(b"\r\n", b"\n") for m in msgs)
    for tag, port, starttls_opt in (("starttls", ctx.srv.port, "on"),
                                    ("implicit", TLS_PORT, "off")):
        ctx.srv.wait_unlocked("alice")
        home = os.path.join(ctx.tmp, tag)
        md = os.path.join(home, "Maildir")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub))
        rc = os.path.join(home, "mpoprc")
        with open(rc, "w") as f:
            f.write("account test\nhost 127.0.0.1\nport %d\nuser alice\npassword %s\n"
                    "auth user\ntls on\ntls_starttls %s\ntls_trust_file %s\n"
                    "received_header off\ntimeout 20\ndelivery maildir %s\nkeep on\n"
                    "uidls_file %s\n"
                    % (port, ctx.srv.passwords["alice"], starttls_opt, CERTS.ca, md,
                       os.path.join(home, "uidls")))
        os.chmod(rc, 0o600)
        r = subprocess.run(["mpop", "-C", rc, "--debug", "test"], capture_output=True,
                           timeout=60, env=dict(os.environ, HOME=home))
        out = (r.stdout + r.stderr).decode("latin-1")
        eq(r.returncode, 0, "mpop tls_starttls %s exit status (output %r)"
           % (starttls_opt, out[-900:]))
        got = []
        for sub in ("new", "cur"):
            for fn in sorted(os.listdir(os.path.join(md, sub))):
                with open(os.path.join(md, sub, fn), "rb") as fh:
                    got.append(fh.read())
        eq(sorted(got), want, "messages fetched by mpop (tls_starttls %s)" % starttls_opt)
        if starttls_opt == "on":
            check("STLS" in out, "mpop did not send STLS: %r" % out[-900:])


# --------------------------------------------------------- plaintext_auth

def test_plaintext_never(ctx):
    srv = tls_server(ctx, opts={"plaintext_auth": "never"}).start()
    p = srv.connect()
    caps = capa(p)
    check("USER" not in caps, "USER advertised with plaintext_auth = never: %s" % sorted(caps))
    resp = p.err("USER alice")
    starts(resp, "-ERR [AUTH]", "USER on loopback with plaintext_auth = never")
    check("STLS" in resp, "the refusal does not mention STLS: %r" % resp)
    starts(p.cmd("PASS " + srv.passwords["alice"]), "-ERR", "PASS after a refused USER")
    starttls(p)
    check("USER" not in capa(p), "USER advertised over TLS with plaintext_auth = never")
    starts(p.cmd("USER alice"), "-ERR [AUTH]", "USER over TLS with plaintext_auth = never")
    p.quit()
    p = tls_connect(srv.tls_port)
    check("USER" not in capa(p), "USER advertised on the TLS port with never")
    starts(p.cmd("USER alice"), "-ERR [AUTH]", "USER on the TLS port with never")
    p.quit()


def test_plaintext_always_warns(ctx):
    srv = ctx.server(opts={"plaintext_auth": "always"}).start()
    log = srv.log_text()
    warn = [l for l in log.splitlines() if "plaintext_auth" in l and "always" in l]
    check(warn, "no startup warning naming plaintext_auth = always in the log: %s"
          % srv.log_tail(6))
    p = srv.connect()
    check("USER" in capa(p), "USER missing with plaintext_auth = always")
    p.login("alice", srv.passwords["alice"])
    p.quit()
    default = ctx.server().start()
    check(not [l for l in default.log_text().splitlines() if "plaintext_auth" in l],
          "a plaintext_auth warning with the default policy: %s" % default.log_tail(6))


NETNS_CLIENT = r'''
import json, socket, ssl, sys
host, port, ca, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {"log": []}
s = socket.create_connection((host, port), 10)
f = {"buf": b""}
def line():
    while b"\r\n" not in f["buf"]:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        f["buf"] += chunk
    l, f["buf"] = f["buf"].split(b"\r\n", 1)
    l = l.decode("latin-1")
    out["log"].append("S: " + l)
    return l
def cmd(c):
    out["log"].append("C: " + c)
    s.sendall(c.encode() + b"\r\n")
    return line()
def multi(c):
    r, lines = cmd(c), []
    if r.startswith("+OK"):
        while True:
            l = line()
            if l == ".":
                break
            lines.append(l[1:] if l.startswith(".") else l)
    return r, lines
try:
    out["greeting"] = line()
    out["capa_clear"] = [l.split()[0] for l in multi("CAPA")[1]]
    out["user_clear"] = cmd("USER alice")
    out["pass_clear"] = cmd("PASS " + pw)
    out["stls"] = cmd("STLS")
    if out["stls"].startswith("+OK") and mode == "default":
        c = ssl.create_default_context(cafile=ca)
        s = c.wrap_socket(s, server_hostname="localhost")
        out["capa_tls"] = [l.split()[0] for l in multi("CAPA")[1]]
        out["user_tls"] = cmd("USER alice")
        out["pass_tls"] = cmd("PASS " + pw)
    out["stat"] = cmd("STAT")
    out["retr"] = multi("RETR 1")[0]
    out["quit"] = cmd("QUIT")
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
'''


class Netns:
    """A network namespace joined to this host by a veth pair:
    host side HOST_IP/30, namespace side NS_IP/30 (private, this machine
    only). Cleaned up by close()."""

    def __init__(self):
        # unique among the suites running at once (a pid modulo 200 was
        # not: the plain and the ASan suite could get the same subnet)
        n = run_slot() + 20
        self.name = "satchel-t%d" % os.getpid()
        self.host_if = "st%dh" % os.getpid()
        self.ns_if = "st%dn" % os.getpid()
        self.host_ip = "10.213.%d.1" % n
        self.ns_ip = "10.213.%d.2" % n

    def ip(self, *args, ns=False):
        cmd = (["ip", "netns", "exec", self.name] if ns else []) + ["ip"] + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        if r.returncode:
            raise AssertionError("%s: %s" % (" ".join(cmd), r.stderr.strip()))

    def open(self):
        self.close()    # leftovers of a killed run with the same pid
        self.ip("netns", "add", self.name)
        self.ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        self.ip("link", "set", self.ns_if, "netns", self.name)
        self.ip("addr", "add", self.host_ip + "/30", "dev", self.host_if)
        self.ip("link", "set", self.host_if, "up")
        self.ip("addr", "add", self.ns_ip + "/30", "dev", self.ns_if, ns=True)
        self.ip("link", "set", self.ns_if, "up", ns=True)
        self.ip("link", "set", "lo", "up", ns=True)
        return self

    def run(self, args, timeout=60):
        return subprocess.run(["ip", "netns", "exec", self.name] + args,
                              capture_output=True, text=True, timeout=timeout)

    def close(self):
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, timeout=20)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=20)


def netns_client(ctx, ns, srv, mode):
    script = os.path.join(ctx.tmp, "client.py")
    with open(script, "w") as f:
        f.write("mode = %r\n" % mode + NETNS_CLIENT)
    r = ns.run(["/usr/bin/python3", script, ns.host_ip, str(srv.port), CERTS.ca,
                srv.passwords["alice"]])
    check(r.returncode == 0 and r.stdout.strip(),
          "client in the namespace: exit %d, stderr %r" % (r.returncode, r.stderr[-600:]))
    out = json.loads(r.stdout)
    check("error" not in out, "client in the namespace (%s): %s; dialogue: %s"
          % (mode, out.get("error"), " | ".join(out["log"])))
    return out


def test_plaintext_default_non_loopback(ctx):
    """tls-or-loopback (the default) from a non-loopback address: USER/PASS
    refused and not advertised in clear, allowed after STLS; with always
    they work in clear."""
    if not is_root():
        raise Skip("no netns (not root)")
    if not shutil.which("ip"):
        raise AssertionError("ip (iproute2) is not installed")
    need_certs()
    ns = Netns()
    try:
        ns.open()
        listen = "127.0.0.1:{port},%s:{port}" % ns.host_ip
        srv = tls_server(ctx, listen=listen)
        srv.fill("alice", simple(1))
        srv.start()
        out = netns_client(ctx, ns, srv, "default")
        dialogue = " | ".join(out["log"])
        check("STLS" in out["capa_clear"], "CAPA in clear lacks STLS: %s" % dialogue)
        check("USER" not in out["capa_clear"],
              "CAPA in clear from a non-loopback address has USER: %s" % dialogue)
        starts(out["user_clear"], "-ERR [AUTH]", "USER in clear from %s" % ns.ns_ip)
        check("STLS" in out["user_clear"], "the refusal does not say to use STLS: %r"
              % out["user_clear"])
        starts(out["pass_clear"], "-ERR", "PASS in clear from %s" % ns.ns_ip)
        starts(out["stls"], "+OK", "STLS from %s" % ns.ns_ip)
        check("USER" in out["capa_tls"] and "STLS" not in out["capa_tls"],
              "CAPA after STLS: %s" % out["capa_tls"])
        starts(out["user_tls"], "+OK", "USER after STLS")
        starts(out["pass_tls"], "+OK", "PASS after STLS")
        starts(out["stat"], "+OK 1 ", "STAT after STLS")
        starts(out["retr"], "+OK", "RETR after STLS")
        starts(out["quit"], "+OK", "QUIT")
        check(wait_until(lambda: "rip=%s" % ns.ns_ip in srv.log_text(), 3),
              "the server log does not show the client address %s" % ns.ns_ip)

        always = tls_server(ctx, listen=listen, opts={"plaintext_auth": "always"})
        always.fill("alice", simple(1))
        always.start()
        out = netns_client(ctx, ns, always, "always")
        dialogue = " | ".join(out["log"])
        check("USER" in out["capa_clear"], "always: CAPA in clear lacks USER: %s" % dialogue)
        starts(out["user_clear"], "+OK", "always: USER in clear from %s" % ns.ns_ip)
        starts(out["pass_clear"], "+OK", "always: PASS in clear from %s" % ns.ns_ip)
        starts(out["retr"], "+OK", "always: RETR")
    finally:
        ns.close()
