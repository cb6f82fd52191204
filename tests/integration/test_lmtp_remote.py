"""LMTP from another host (issue 8, 6.: STARTTLS and AUTH only on
non-loopback TCP): satchel serve runs inside a private network namespace
with a dummy interface, listening for LMTP on that interface's address
and on 127.0.0.1; the clients run inside the namespace too.

On the non-loopback address: LHLO offers STARTTLS (RFC 3207) and, only
after it, AUTH PLAIN (RFC 4954); MAIL before AUTH is 530 5.7.0, AUTH
before TLS 538 5.7.11, a wrong password 535 5.7.8, a second STARTTLS 503,
the session is reset by the handshake and what was pipelined after
STARTTLS is thrown away; swaks (--tls --auth PLAIN) delivers, and the
log names the authenticated user; a private Postfix on this host
delivers through a veth pair with the main.cf lines of docs/admin.md. On
127.0.0.1 nothing of this is offered or required. A non-loopback lmtp_listen without tls_cert is
refused unless lmtp_allow_insecure_remote = yes; lmtp_auth_users limits
who may authenticate."""

import atexit
import json
import os
import shutil
import subprocess
import tempfile

from harness import *

STORES = None

ADDR = "10.216.%d.1" % run_slot()


class Netns:
    """A network namespace with lo and a dummy interface holding ADDR
    (nothing leaves it: the clients run inside too). close() deletes it;
    atexit as well, should the run be cut short."""

    def __init__(self):
        self.name = "satchel-it-%d" % os.getpid()
        self.opened = False

    def ip(self, *args):
        cmd = ["ip", "-n", self.name] + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        if r.returncode:
            raise AssertionError("%s: %s" % (" ".join(cmd), r.stderr.strip()))

    def open(self):
        # a namespace of a killed run with the same pid
        subprocess.run(["ip", "netns", "del", self.name],
                       capture_output=True, timeout=20)
        r = subprocess.run(["ip", "netns", "add", self.name],
                           capture_output=True, text=True, timeout=20)
        if r.returncode:
            raise Skip("ip netns add failed: %s" % r.stderr.strip())
        self.opened = True
        atexit.register(self.close)
        try:
            self.ip("link", "set", "lo", "up")
            try:
                self.ip("link", "add", "sd0", "type", "dummy")
            except AssertionError:
                # no dummy module (containers): a veth pair with both
                # ends in the namespace serves the same
                self.ip("link", "add", "sd0", "type", "veth", "peer",
                        "name", "sd1")
                self.ip("link", "set", "sd1", "up")
            self.ip("addr", "add", ADDR + "/24", "dev", "sd0")
            self.ip("link", "set", "sd0", "up")
        except Exception:
            self.close()
            raise
        return self

    def link_host(self):
        """A veth pair to this host (host HOST_IP/30, namespace NS_IP/30,
        private, this machine only), for a client outside (Postfix).
        Returns (host address, namespace address); gone with the
        namespace."""
        n = run_slot()
        host_ip, ns_ip = "10.217.%d.1" % n, "10.217.%d.2" % n
        host_if, ns_if = "sl%dh" % os.getpid(), "sl%dn" % os.getpid()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True,
                       timeout=20)
        for cmd in (["link", "add", host_if, "type", "veth", "peer", "name",
                     ns_if],
                    ["link", "set", ns_if, "netns", self.name],
                    ["addr", "add", host_ip + "/30", "dev", host_if],
                    ["link", "set", host_if, "up"]):
            r = subprocess.run(["ip"] + cmd, capture_output=True, text=True,
                               timeout=20)
            if r.returncode:
                raise AssertionError("ip %s: %s" % (" ".join(cmd),
                                                    r.stderr.strip()))
        self.ip("addr", "add", ns_ip + "/30", "dev", ns_if)
        self.ip("link", "set", ns_if, "up")
        return host_ip, ns_ip

    def run(self, args, timeout=60, input=None):
        return subprocess.run(["ip", "netns", "exec", self.name] + list(args),
                              capture_output=True, text=True, timeout=timeout,
                              input=input)

    def close(self):
        if self.opened:
            subprocess.run(["ip", "netns", "del", self.name],
                           capture_output=True, timeout=20)
            self.opened = False


class NsServer(Server):
    """harness.Server, its master started inside the namespace (`ip netns
    exec` execs it: the PID is the master's, stopped by the harness)."""

    def __init__(self, ns, **kw):
        self.ns = ns
        Server.__init__(self, **kw)

    def command(self):
        return ["ip", "netns", "exec", self.ns.name] + Server.command(self)


_state = {}


def certs():
    """A self-signed certificate for ADDR (the clients do not verify:
    what is tested is that TLS and AUTH are required, not PKI)."""
    if "certs" not in _state:
        d = tempfile.mkdtemp(prefix="satchel-it-lmtpcert-")
        os.chmod(d, 0o755)
        atexit.register(shutil.rmtree, d, True)
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", "/CN=lmtp.test", "-addext",
             "subjectAltName=IP:%s,IP:127.0.0.1" % ADDR,
             "-keyout", os.path.join(d, "key.pem"),
             "-out", os.path.join(d, "cert.pem")],
            capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "openssl req: %s" % r.stderr[-400:])
        for fn in os.listdir(d):
            os.chmod(os.path.join(d, fn), 0o644)
        _state["certs"] = (os.path.join(d, "cert.pem"),
                           os.path.join(d, "key.pem"))
    return _state["certs"]


def need_netns():
    if not is_root():
        raise Skip("needs root for ip netns")
    if shutil.which("ip") is None:
        raise Skip("ip (iproute2) is not installed")
    if "ns_error" in _state:
        raise AssertionError(_state["ns_error"])
    if "ns" not in _state:
        try:
            _state["ns"] = Netns().open()
        except AssertionError as e:
            _state["ns_error"] = "setting up the namespace: %s" % e
            raise
    return _state["ns"]


def remote_server(ctx, config=None, addr=ADDR, **kw):
    """A started server in the namespace: LMTP on addr:port and
    127.0.0.1:port, TLS from certs()."""
    ns = need_netns()
    cert, key = certs()
    port = free_port()
    conf = {"lmtp_listen": "%s:%d,127.0.0.1:%d" % (addr, port, port),
            "tls_cert": cert, "tls_key": key}
    conf.update(config or {})
    srv = NsServer(ns, store="maildir", config=conf, workers=1, **kw)
    ctx._servers.append(srv)
    srv.lmtp_port = port
    srv.start()
    return srv


# The client inside the namespace: smtplib.LMTP over the real sockets,
# every reply recorded as [code, text]; prints one JSON object.
CLIENT = r'''
import base64, json, smtplib, socket, ssl, sys
addr, port, user, pw, rcpt = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
tls = ssl.create_default_context()
tls.check_hostname = False
tls.verify_mode = ssl.CERT_NONE
out = {}
def plain(u, p):
    return base64.b64encode(b"\0" + u.encode() + b"\0" + p.encode()).decode()
def r(reply):
    return [reply[0], reply[1].decode("latin-1")]
def lhlo(c):
    c.ehlo_resp = None
    c.esmtp_features = {}
    code, text = c.ehlo("client.test")
    return [code, sorted(c.esmtp_features)]
try:
    c = smtplib.LMTP(addr, port)
    out["lhlo_clear"] = lhlo(c)
    out["mail_clear"] = r(c.docmd("MAIL", "FROM:<s@example.net>"))
    out["auth_clear"] = r(c.docmd("AUTH", "PLAIN " + plain(user, pw)))
    out["starttls"] = r(c.docmd("STARTTLS"))
    c.sock = tls.wrap_socket(c.sock, server_hostname=None)
    c.file = None
    out["mail_reset"] = r(c.docmd("MAIL", "FROM:<s@example.net>"))
    out["lhlo_tls"] = lhlo(c)
    out["starttls_again"] = r(c.docmd("STARTTLS"))
    out["mail_tls"] = r(c.docmd("MAIL", "FROM:<s@example.net>"))
    out["auth_xyz"] = r(c.docmd("AUTH", "XYZ"))
    out["auth_wrong"] = r(c.docmd("AUTH", "PLAIN " + plain(user, pw + "x")))
    out["auth_cancel_334"] = r(c.docmd("AUTH", "PLAIN"))
    out["auth_cancel"] = r(c.docmd("*"))
    out["auth_334"] = r(c.docmd("AUTH", "PLAIN"))
    out["auth_ok"] = r(c.docmd(plain(user, pw)))
    out["auth_again"] = r(c.docmd("AUTH", "PLAIN " + plain(user, pw)))
    out["mail_auth"] = r(c.docmd("MAIL", "FROM:<s@example.net>"))
    out["rcpt"] = r(c.docmd("RCPT", "TO:<%s>" % rcpt))
    out["data"] = r(c.docmd("DATA"))
    c.send(b"Subject: remote smtplib\r\n\r\nbody\r\n.\r\n")
    out["stored"] = r(c.getreply())
    out["quit"] = r(c.docmd("QUIT"))

    # three wrong passwords: the third is followed by 421
    c = smtplib.LMTP(addr, port)
    c.ehlo("client.test")
    c.starttls(context=tls)
    c.ehlo("client.test")
    out["fails"] = [r(c.docmd("AUTH", "PLAIN " + plain(user, "bad")))
                    for _ in range(3)]
    out["fails_close"] = r(c.getreply())

    # CVE-2011-0411: a command pipelined after STARTTLS is not run
    def line(sock):
        b = b""
        while not b.endswith(b"\n"):
            ch = sock.recv(1)
            if not ch:
                break
            b += ch
        return b.decode("latin-1").strip()
    s = socket.create_connection((addr, port), 10)
    line(s)
    s.sendall(b"LHLO x\r\n")
    while not line(s).startswith("250 "):
        pass
    s.sendall(b"STARTTLS\r\nLHLO injected\r\n")
    out["inject_220"] = line(s)
    t = tls.wrap_socket(s, server_hostname=None)
    t.sendall(b"NOOP\r\n")
    out["inject_next"] = line(t)
    t.close()

    # the loopback listener of the same server: nothing of this
    c = smtplib.LMTP("127.0.0.1", port)
    out["lo_lhlo"] = lhlo(c)
    out["lo_starttls"] = r(c.docmd("STARTTLS"))
    out["lo_auth"] = r(c.docmd("AUTH", "PLAIN " + plain(user, pw)))
    out["lo_mail"] = r(c.docmd("MAIL", "FROM:<s@example.net>"))
    out["lo_quit"] = r(c.docmd("QUIT"))
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
'''


def run_client(ctx, ns, srv, user="alice", password=None, rcpt="alice"):
    script = os.path.join(ctx.tmp, "lmtp_client.py")
    with open(script, "w") as f:
        f.write(CLIENT)
    pw = password if password is not None else srv.passwords[user]
    r = ns.run(["/usr/bin/python3", script, ADDR, str(srv.lmtp_port), user,
                pw, rcpt])
    check(r.returncode == 0 and r.stdout.strip(),
          "client in the namespace: exit %d, stderr %r"
          % (r.returncode, r.stderr[-600:]))
    out = json.loads(r.stdout)
    check("error" not in out, "client: %s; so far: %s"
          % (out.get("error"), out))
    return out


def code(out, key, want_code, want_text=None):
    got = out[key]
    check(got[0] == want_code and (want_text is None or
                                   got[1].startswith(want_text)),
          "%s: got %s, want %d %s" % (key, got, want_code, want_text or ""))


def test_refusals_and_reset_and_loopback(ctx):
    srv = remote_server(ctx)
    ns = _state["ns"]
    out = run_client(ctx, ns, srv)
    feats = out["lhlo_clear"][1]
    check("starttls" in feats and "auth" not in feats,
          "LHLO in clear on %s offers STARTTLS, not AUTH: %s" % (ADDR, feats))
    code(out, "mail_clear", 530, "5.7.0 Authentication required")
    code(out, "auth_clear", 538, "5.7.11 Encryption required")
    code(out, "starttls", 220, "2.0.0")
    # RFC 3207 4.2: the handshake resets the session: LHLO again first
    code(out, "mail_reset", 503, "5.5.1 Send LHLO first")
    feats = out["lhlo_tls"][1]
    check("starttls" not in feats and "auth" in feats,
          "LHLO under TLS offers AUTH, not STARTTLS: %s" % feats)
    code(out, "starttls_again", 503, "5.5.1")
    code(out, "mail_tls", 530, "5.7.0 Authentication required")
    code(out, "auth_xyz", 504, "5.5.4")
    code(out, "auth_wrong", 535, "5.7.8")
    code(out, "auth_cancel_334", 334)
    code(out, "auth_cancel", 501, "5.0.0")
    code(out, "auth_334", 334)
    code(out, "auth_ok", 235, "2.7.0")
    code(out, "auth_again", 503, "5.5.1")
    code(out, "mail_auth", 250)
    code(out, "rcpt", 250)
    code(out, "data", 354)
    code(out, "stored", 250, "2.0.0 <alice>")
    code(out, "quit", 221)
    check([f[0] for f in out["fails"]] == [535, 535, 535],
          "three wrong passwords: %s" % out["fails"])
    code(out, "fails_close", 421, "4.7.0")
    eq(out["inject_220"][:3], "220", "STARTTLS reply")
    eq(out["inject_next"], "250 2.0.0 OK",
       "first reply under TLS (the pipelined LHLO must be gone)")
    feats = out["lo_lhlo"][1]
    check("starttls" not in feats and "auth" not in feats,
          "LHLO on 127.0.0.1 offers neither: %s" % feats)
    code(out, "lo_starttls", 500, "5.5.2")
    code(out, "lo_auth", 500, "5.5.2")
    code(out, "lo_mail", 250)
    wait_for(lambda: len(srv.maildir_files("alice")) == 1, 5,
             "the message delivered after AUTH")
    log = wait_for(lambda: "auth failed: user=alice rip=%s" % ADDR
                   in srv.log_text() and srv.log_text(), 5,
                   "the wrong password logged by the auth process")
    check("lmtp auth: user=alice rip=%s" % ADDR in log,
          "the auth process logs the LMTP AUTH: %s" % srv.log_tail(20))
    check(re.search(r"delivery: from=<s@example\.net> to=<alice> user=alice"
                    r" .* auth=alice", log),
          "the delivery line names the AUTH user: %s" % srv.log_tail(20))
    wait_for(lambda: re.search(r"disconnect: rip=%s tls user=alice "
                               r"messages=1 end=quit" % re.escape(ADDR),
                               srv.log_text()), 5,
             "the disconnect line with the AUTH user")
    check("LOGIN-DELAY" not in log and "login: user=alice" not in log,
          "an LMTP AUTH is no POP3 login")


def test_swaks_starttls_auth_plain(ctx):
    """Debian's swaks, as an MTA would: LHLO, STARTTLS, LHLO, AUTH PLAIN,
    the message; without --auth the same swaks is refused at MAIL."""
    srv = remote_server(ctx)
    ns = _state["ns"]
    if shutil.which("swaks") is None:
        raise AssertionError("swaks is not installed")
    base = ["swaks", "--protocol", "LMTP", "--server", ADDR, "--port",
            str(srv.lmtp_port), "--helo", "mx.test", "--from",
            "s@example.net", "--to", "bob@example.org", "--header",
            "Subject: over swaks", "--body", "remote body"]
    r = ns.run(base + ["--tls", "--auth", "PLAIN", "--auth-user", "bob",
                       "--auth-password", srv.passwords["bob"]])
    check(r.returncode == 0, "swaks --tls --auth PLAIN: exit %d: %s"
          % (r.returncode, r.stdout[-1500:]))
    check("235 2.7.0" in r.stdout and "250 2.0.0 <bob@example.org>"
          in r.stdout, "swaks transcript: %s" % r.stdout[-1500:])
    files = wait_for(lambda: srv.maildir_files("bob"), 5,
                     "bob's message stored")
    with open(os.path.join(srv.maildrop("bob"), files[0]), "rb") as f:
        data = f.read()
    check(b"remote body" in data and b"Subject: over swaks" in data,
          "the stored message: %r" % data[:300])
    r = ns.run(base + ["--tls"])
    check(r.returncode != 0 and "530 5.7.0" in r.stdout,
          "swaks --tls without --auth refused at MAIL: exit %d: %s"
          % (r.returncode, r.stdout[-800:]))
    r = ns.run(base + ["--tls", "--auth", "PLAIN", "--auth-user", "bob",
                       "--auth-password", "wrong"])
    check(r.returncode != 0 and "535 5.7.8" in r.stdout,
          "swaks with a wrong password: exit %d: %s"
          % (r.returncode, r.stdout[-800:]))
    eq(len(srv.maildir_files("bob")), 1, "bob's messages after the refusals")


def test_lmtp_auth_users(ctx):
    """lmtp_auth_users = bob: alice's right password gets the reply of a
    wrong one (535 5.7.8), bob authenticates."""
    srv = remote_server(ctx, config={"lmtp_auth_users": "carol, bob"})
    ns = _state["ns"]
    script = os.path.join(ctx.tmp, "auth_only.py")
    with open(script, "w") as f:
        f.write(r'''
import base64, json, smtplib, ssl, sys
tls = ssl.create_default_context()
tls.check_hostname = False
tls.verify_mode = ssl.CERT_NONE
out = []
for user, pw in zip(sys.argv[3::2], sys.argv[4::2]):
    c = smtplib.LMTP(sys.argv[1], int(sys.argv[2]))
    c.ehlo("x")
    c.starttls(context=tls)
    c.ehlo("x")
    b = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
    code, text = c.docmd("AUTH", "PLAIN " + b)
    out.append([code, text.decode()])
    c.quit()
print(json.dumps(out))
''')
    r = ns.run(["/usr/bin/python3", script, ADDR, str(srv.lmtp_port),
                "alice", srv.passwords["alice"], "bob", srv.passwords["bob"]])
    check(r.returncode == 0, "client: %s" % r.stderr[-600:])
    out = json.loads(r.stdout)
    check(out[0][0] == 535 and out[0][1].startswith("5.7.8"),
          "alice is not in lmtp_auth_users: %s" % out)
    check(out[1][0] == 235, "bob is: %s" % out)
    wait_for(lambda: "lmtp auth refused: user=alice rip=%s: not in "
             "lmtp_auth_users" % ADDR in srv.log_text(), 5,
             "the refusal logged")


def test_remote_listen_needs_tls(ctx):
    """A non-loopback lmtp_listen without tls_cert: satchel serve refuses
    to start (exit 78, the reason named); lmtp_allow_insecure_remote =
    yes allows it; loopback and unix sockets need nothing."""
    srv = ctx.server(config={"lmtp_listen": None})
    port = free_port()
    for listen in ("%s:%d" % (ADDR, port), "0.0.0.0:%d" % port,
                   "127.0.0.1:%d,[::]:%d" % (port, port)):
        r = run_satchel(["serve", "-c", srv.conf_path, "--check", "-o",
                         "lmtp_listen=" + listen])
        check(r.returncode == EX_CONFIG and
              "is not a loopback address" in r.stderr and
              "lmtp_allow_insecure_remote" in r.stderr,
              "lmtp_listen=%s without TLS: exit %d, %r"
              % (listen, r.returncode, r.stderr))
    for listen, extra in (("%s:%d" % (ADDR, port),
                           ["-o", "lmtp_allow_insecure_remote=yes"]),
                          ("127.0.0.2:%d,[::1]:%d,[::ffff:127.0.0.1]:%d,"
                           "unix:/tmp/x.sock" % (port, port, port), [])):
        r = run_satchel(["serve", "-c", srv.conf_path, "--check", "-o",
                         "lmtp_listen=" + listen] + extra)
        check(r.returncode == 0, "lmtp_listen=%s %s: exit %d, %r"
              % (listen, extra, r.returncode, r.stderr))
    cert, key = certs()
    r = run_satchel(["serve", "-c", srv.conf_path, "--check", "-o",
                     "lmtp_listen=%s:%d" % (ADDR, port), "-o",
                     "tls_cert=" + cert, "-o", "tls_key=" + key])
    check(r.returncode == 0, "with tls_cert: exit %d, %r"
          % (r.returncode, r.stderr))


def test_insecure_remote_allowed(ctx):
    """lmtp_allow_insecure_remote = yes and no certificate: the remote
    address delivers without STARTTLS or AUTH (what the key is for)."""
    ns = need_netns()
    port = free_port()
    srv = NsServer(ns, store="maildir", workers=1, config={
        "lmtp_listen": "%s:%d" % (ADDR, port),
        "lmtp_allow_insecure_remote": "yes"})
    ctx._servers.append(srv)
    srv.start()
    r = ns.run(["swaks", "--protocol", "LMTP", "--server", ADDR, "--port",
                str(port), "--from", "s@example.net", "--to", "carol",
                "--body", "insecure"])
    check(r.returncode == 0 and "STARTTLS" not in r.stdout and
          "AUTH" not in r.stdout,
          "swaks without TLS: exit %d: %s" % (r.returncode, r.stdout[-1200:]))
    wait_for(lambda: len(srv.maildir_files("carol")) == 1, 5,
             "carol's message")
    check("lmtp_allow_insecure_remote = yes" in srv.log_text(),
          "the master warns about it")


def test_postfix_starttls_auth(ctx):
    """A private Postfix (tests/integration/postfix.py) on this host
    delivers over lmtp:inet to the namespace's address with the main.cf
    lines of docs/admin.md ("LMTP from another host"): STARTTLS, AUTH
    PLAIN as the MTA's own account mx, the only one lmtp_auth_users
    allows."""
    import postfix
    if not postfix.available():
        raise Skip("needs root and Postfix")
    ns = need_netns()
    host_ip, ns_ip = ns.link_host()
    mx_pw = "mx-Pw.4Rt9"
    srv = remote_server(ctx, addr=ns_ip, config={"lmtp_auth_users": "mx"},
                        users={"mx": "{PLAIN}" + mx_pw}, secrets=(mx_pw,))
    nexthop = "[%s]:%d" % (ns_ip, srv.lmtp_port)
    pwfile = os.path.join(ctx.tmp, "lmtp_passwd")
    with open(pwfile, "w") as f:
        f.write("%s mx:%s\n" % (nexthop, mx_pw))
    # lmtp(8) not chrooted here: a chrooted one would need the SASL
    # plugins copied into the queue directory
    pf = postfix.Postfix(
        {"remote.example": "lmtpremote:inet:" + nexthop},
        services=["lmtpremote unix - - n - - lmtp",
                  # the client's TLS needs its PRNG and session cache
                  "tlsmgr unix - - n 1000? 1 tlsmgr"],
        extra={"lmtp_tls_security_level": "encrypt",
               "lmtp_sasl_auth_enable": "yes",
               "lmtp_sasl_password_maps": "texthash:" + pwfile,
               "lmtp_sasl_tls_security_options": "noanonymous"})
    try:
        pf.start()
        pf.send("s@example.net", ["alice@remote.example"],
                b"Subject: via postfix\r\n\r\nremote postfix body\r\n")
        files = wait_until(lambda: srv.maildir_files("alice"), 30)
        check(files, "alice's message from Postfix within 30 s; postfix "
              "log: %s; satchel log: %s" % (
                  " | ".join(l for l in pf.log_text().splitlines()
                             if "warning" in l or "lmtp[" in l)[-1500:],
                  srv.log_tail(8)))
        with open(os.path.join(srv.maildrop("alice"), files[0]), "rb") as f:
            check(b"remote postfix body" in f.read(), "the stored message")
        log = wait_for(lambda: "auth=mx" in srv.log_text() and
                       srv.log_text(), 5, "the delivery line with auth=mx")
        check("lmtp auth: user=mx rip=%s" % host_ip in log,
              "the auth process logged mx: %s" % srv.log_tail(12))
        wait_for(lambda: "status=sent" in pf.log_text(), 10,
                 "Postfix logs status=sent: %s" % pf.log_tail())
    finally:
        pf.cleanup()


def test_zz_namespace_removed(ctx):
    ns = _state.get("ns")
    if ns is None:
        raise Skip("no namespace was made")
    for srv in list(ctx._servers):
        srv.stop()
    ns.close()
    r = subprocess.run(["ip", "netns", "list"], capture_output=True,
                       text=True, timeout=20)
    check(ns.name not in r.stdout, "namespace %s still there" % ns.name)
