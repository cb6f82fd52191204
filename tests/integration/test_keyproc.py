"""The TLS private key lives in the key process only (issue 13,
docs/security.md): as root, every readable mapping of each worker (and of
the master and the auth process) is read through /proc/PID/mem and
searched for the key's DER encoding and its private scalar (EC) or first
prime (RSA), big-endian and in BIGNUM's little-endian word order. The same
search must find the secret in the key process, which proves the search
works. TLS logins (poplib implicit TLS and STLS, TLS 1.2 and 1.3, curl,
openssl s_client with RSA PKCS #1 signatures), a reload with a new
certificate and key, and a killed key process (restarted by the master,
the next login works) are checked for an RSA and an EC certificate.

Certificates: self-signed for localhost/127.0.0.1, made with the openssl
CLI per test in the test's directory.
"""
import hashlib
import poplib
import re
import shutil
import signal
import socket
import ssl
import subprocess

from harness import *

STORES = ("maildir",)

KEY_ARGS = {"ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
            "rsa": ["-newkey", "rsa:2048"]}
# what `openssl pkey -text` calls the secret we search for
SECRET_LABEL = {"ec": "priv", "rsa": "prime1"}


def openssl(*args, **kw):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, timeout=60, **kw)
    check(r.returncode == 0, "openssl %s: %r" % (args[0], r.stderr[-400:]))
    return r.stdout


def make_pair(directory, kind, name):
    """(cert, key) paths: a self-signed kind certificate for localhost."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    openssl("req", "-x509", *KEY_ARGS[kind], "-nodes", "-keyout", key, "-out", cert,
            "-days", "30", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    os.chmod(key, 0o600)   # root only: the key process reads it through the master
    os.chmod(cert, 0o644)
    return cert, key


def key_needles(kind, key):
    """{name: bytes} of what must never be in a worker's memory."""
    der = openssl("pkey", "-in", key, "-outform", "DER")
    text = openssl("pkey", "-in", key, "-text", "-noout").decode()
    m = re.search(r"^%s:\s*\n((?:\s+[0-9a-f:]+\n)+)" % SECRET_LABEL[kind], text, re.M)
    check(m, "no %s in openssl pkey -text: %s" % (SECRET_LABEL[kind], text[:300]))
    secret = bytes.fromhex(re.sub(r"[\s:]", "", m.group(1))).lstrip(b"\0")
    check(len(secret) >= 32, "secret too short to search for: %d octets" % len(secret))
    return {"DER": der, "secret": secret, "secret (little-endian)": secret[::-1]}


# Skipped: ASan's shadow memory on x86-64 (one byte of state per eight of
# memory, never the data itself) and any mapping over 1 GB (only the ASan
# build has such: reserved allocator and fake-stack space; its heap is in
# small regions of their own, which are read). The plain build's heap,
# arenas and stacks are all read.
ASAN_SHADOW = (0x7fff8000, 0x10007fff8000)
SCAN_MAX = 1 << 30
CHUNK = 16 << 20


def found_in(pid, needles):
    """Names of needles found in a readable mapping of pid, read in
    overlapping chunks."""
    found = set()
    overlap = max(len(n) for n in needles.values())
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if end - start > SCAN_MAX or (ASAN_SHADOW[0] <= start and
                                          end <= ASAN_SHADOW[1]):
                continue
            pos = start
            while pos < end:
                try:
                    data = os.pread(mem.fileno(), min(CHUNK + overlap, end - pos), pos)
                except OSError:
                    break   # a mapping that cannot be read (guard pages)
                for name, needle in needles.items():
                    if needle in data:
                        found.add(name)
                pos += CHUNK
    return found


def key_pids(srv):
    return [p for p, c in srv.children().items() if c == "satchel-key"]


def others(srv):
    """The master and every child that is not the key process."""
    return [srv.proc.pid] + [p for p, c in srv.children().items() if c != "satchel-key"]


def client_ctx(cert, max_version=None):
    c = ssl.create_default_context(cafile=cert)
    if max_version is not None:
        c.maximum_version = max_version
    return c


def poplib_logins(srv, cert):
    """Implicit TLS and STLS, TLS 1.3 and 1.2, each a login and STAT."""
    for version in (None, ssl.TLSVersion.TLSv1_2):
        p = poplib.POP3_SSL("127.0.0.1", srv.tls_port, timeout=IO_TIMEOUT,
                            context=client_ctx(cert, version))
        p.user("alice")
        p.pass_(srv.passwords["alice"])
        p.stat()
        p.quit()
        srv.wait_unlocked("alice")
        p = poplib.POP3("127.0.0.1", srv.port, timeout=IO_TIMEOUT)
        p.stls(client_ctx(cert, version))
        p.user("alice")
        p.pass_(srv.passwords["alice"])
        p.stat()
        p.quit()
        srv.wait_unlocked("alice")


def s_client_greeting(srv, cert, *args):
    """openssl s_client over implicit TLS with args: its output."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.tls_port,
                        "-CAfile", cert, "-verify_return_error", "-quiet"] + list(args),
                       input=b"QUIT\r\n", capture_output=True, timeout=30)
    out = r.stdout + r.stderr
    check(b"+OK" in r.stdout, "s_client %s: no greeting: %r" % (" ".join(args), out[-600:]))
    return out


def curl_login(srv, cert):
    if not shutil.which("curl"):
        return
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", cert,
                        "-u", "alice:" + srv.passwords["alice"],
                        "pop3s://127.0.0.1:%d/" % srv.tls_port],
                       capture_output=True, timeout=30)
    eq(r.returncode, 0, "curl pop3s exit status (stderr %r)" % r.stderr[-400:])
    srv.wait_unlocked("alice")


def tls_logins(srv, kind, cert):
    poplib_logins(srv, cert)
    curl_login(srv, cert)
    if kind == "rsa":
        # TLS 1.2 with PKCS #1 v1.5 signatures, then RSA-PSS
        s_client_greeting(srv, cert, "-tls1_2", "-sigalgs", "RSA+SHA256")
        s_client_greeting(srv, cert, "-tls1_2", "-sigalgs", "RSA-PSS+SHA256")
        s_client_greeting(srv, cert, "-tls1_3")
    else:
        s_client_greeting(srv, cert, "-tls1_2", "-sigalgs", "ECDSA+SHA256")


def keyproc_server(ctx, kind, name="server"):
    cert, key = make_pair(ctx.tmp, kind, name)
    port = free_port()
    srv = ctx.server(config={"listen_tls": "127.0.0.1:%d" % port,
                             "tls_cert": cert, "tls_key": key})
    srv.tls_port = port
    srv.fill("alice", make_msgs([simple_msg(1)], "maildir"))
    srv.start()
    return srv, cert, key


def check_memory(srv, kind, key):
    """The secret is in the key process and in no other process."""
    needles = key_needles(kind, key)
    kp = key_pids(srv)
    eq(len(kp), 1, "key processes (children %r)" % srv.children())
    in_key = found_in(kp[0], needles)
    check(in_key & {"secret", "secret (little-endian)"},
          "the search does not find the %s secret in the key process itself "
          "(found %r): the test cannot prove anything" % (kind, in_key))
    for pid in others(srv):
        with open("/proc/%d/comm" % pid) as f:
            comm = f.read().strip()
        got = found_in(pid, needles)
        check(not got, "%s (pid %d) has the private key in memory: %s"
              % (comm, pid, ", ".join(sorted(got))))


def kill_key_process(srv, cert):
    """SIGKILL the key process: the master starts another; every login
    afterwards works (the workers reconnect on the EOF)."""
    old = key_pids(srv)
    eq(len(old), 1, "key processes before the kill")
    before = srv.log_text().count("key process started")
    os.kill(old[0], signal.SIGKILL)
    wait_for(lambda: srv.log_text().count("key process started") > before, 10,
             lambda: "a new 'key process started' line (log: %s)" % srv.log_tail(6))
    check("key process (restarting)" in srv.log_text(),
          "the master did not log the key process's death: %s" % srv.log_tail(6))
    new = key_pids(srv)
    check(len(new) == 1 and new[0] != old[0], "key processes after the kill: %r" % new)
    # Each worker's channel died with it: the worker's next operation
    # sees EOF, opens a new channel and asks again, so no login fails.
    for _ in range(3):
        poplib_logins(srv, cert)


def reload_new_pair(ctx, srv, kind, cert, key):
    """New certificate and key in the same files, SIGHUP: new connections
    get the new certificate, signed by the new key process."""
    new_cert, new_key = make_pair(ctx.tmp, kind, "next")
    shutil.copy(new_cert, cert)
    shutil.copy(new_key, key)
    with open(new_cert) as f:
        want = hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()
    old_keyproc = key_pids(srv)
    srv.reload()
    ctx.workers_may_change = True

    def fingerprint():
        p = poplib.POP3_SSL("127.0.0.1", srv.tls_port, timeout=IO_TIMEOUT,
                            context=client_ctx(cert))
        fp = hashlib.sha256(p.sock.getpeercert(binary_form=True)).hexdigest()
        p.quit()
        return fp
    wait_for(lambda: fingerprint() == want, 10, "the new certificate after SIGHUP")
    poplib_logins(srv, cert)
    srv.wait_settled()
    new_keyproc = key_pids(srv)
    check(len(new_keyproc) == 1 and new_keyproc != old_keyproc,
          "key processes after the reload: %r (before %r)" % (new_keyproc, old_keyproc))
    return key


def need_root():
    if not is_root():
        raise Skip("reading other processes' memory needs root")


def run_all(ctx, kind):
    need_root()
    srv, cert, key = keyproc_server(ctx, kind)
    tls_logins(srv, kind, cert)
    check_memory(srv, kind, key)
    kill_key_process(srv, cert)
    check_memory(srv, kind, key)
    key = reload_new_pair(ctx, srv, kind, cert, key)
    tls_logins(srv, kind, cert)
    check_memory(srv, kind, key)


def test_ec_key_only_in_key_process(ctx):
    run_all(ctx, "ec")


def test_rsa_key_only_in_key_process(ctx):
    run_all(ctx, "rsa")


def test_key_readable_by_root_only(ctx):
    """tls_key mode 0600 root: the master opens it for the key process,
    which runs as auth_user and could not open it itself."""
    need_root()
    srv, cert, key = keyproc_server(ctx, "ec")
    eq(os.stat(key).st_mode & 0o777, 0o600, "key file mode")
    kp = key_pids(srv)
    eq(len(kp), 1, "key processes")
    check(proc_uid(kp[0])[0] != 0, "the key process runs as root")
    poplib_logins(srv, cert)


def test_rsa_key_exchange_not_offered(ctx):
    """The key process only signs: TLS 1.2 RSA key exchange is refused."""
    need_root()
    srv, cert, key = keyproc_server(ctx, "rsa")
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.tls_port,
                        "-tls1_2", "-cipher", "AES128-GCM-SHA256", "-quiet"],
                       input=b"QUIT\r\n", capture_output=True, timeout=30)
    check(b"+OK" not in r.stdout, "a TLS 1.2 RSA key exchange succeeded: %r" % r.stdout[-300:])
    s_client_greeting(srv, cert, "-tls1_2")


def test_stuck_key_process_fails_handshakes_in_bounded_time(ctx):
    """A key process that does not answer (SIGSTOP): the handshake fails
    after the worker's 2 s wait instead of hanging, and the worker serves
    others meanwhile; once it runs again (SIGCONT) logins work."""
    need_root()
    srv, cert, key = keyproc_server(ctx, "ec")
    poplib_logins(srv, cert)
    kp = key_pids(srv)
    eq(len(kp), 1, "key processes")
    os.kill(kp[0], signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        try:
            p = poplib.POP3_SSL("127.0.0.1", srv.tls_port, timeout=IO_TIMEOUT,
                                context=client_ctx(cert))
            p.quit()
            raise AssertionError("a TLS handshake succeeded while the key process was stopped")
        except (ssl.SSLError, OSError, poplib.error_proto) as e:
            took = time.monotonic() - t0
            check(not isinstance(e, socket.timeout),
                  "the handshake hung until the client's timeout (%.1fs)" % took)
        check(took < 5, "the failed handshake took %.1fs" % took)
        wait_for(lambda: "key process: no answer in" in srv.log_text(), 5,
                 lambda: "the worker's timeout in the log: %s" % srv.log_tail(5))
        # plain POP3 still answers (the worker was not held)
        p = srv.connect()
        starts(p.greeting, "+OK", "greeting while the key process is stopped")
        p.close()
    finally:
        os.kill(kp[0], signal.SIGCONT)
    deadline = time.monotonic() + 10
    while True:
        try:
            poplib_logins(srv, cert)
            break
        except (ssl.SSLError, OSError, poplib.error_proto) as e:
            check(time.monotonic() < deadline, "no TLS login after SIGCONT: %r" % e)
    eq(key_pids(srv), kp, "the key process after SIGCONT")
