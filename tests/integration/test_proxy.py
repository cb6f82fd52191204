"""The PROXY protocol (issue 11, item 1), with Debian's HAProxy (unpacked
by `make deps` into build-haproxy/, run from the test's directory) in
front of satchel, and with headers written here for what HAProxy cannot
be made to send (a non-loopback client, a forged one):

- send-proxy-v2 and send-proxy (v1): the client's own address (the
  clients bind 127.0.0.5 and .6) is what satchel logs;
- TLS ended at HAProxy with send-proxy-v2-ssl counts as TLS when
  proxy_trust_ssl is set (a password in clear is then allowed), and not
  without it; a client behind the proxy is loopback only if it is;
- the per-address limits count the proxied address;
- HAProxy's health checks (v2 LOCAL) are closed without a session;
- a trusted peer without a header, or with a broken one, is closed; a
  header from an untrusted peer is refused with -ERR and closed."""

import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time

from harness import *
from haproxy import Haproxy
STORES = ("maildir",)
WORKERS = 1
PROXY_SRC = "127.0.0.3"         # HAProxy's (and our forger's) source
SAT_HOST = "127.0.0.2"
SAT_PORT = free_port((SAT_HOST,))
CONFIG = {
    "listen": "%s:%d" % (SAT_HOST, SAT_PORT),
    "proxy_trusted": PROXY_SRC,
    "max_connections_per_ip": "2",
}
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, dst="198.51.100.1", sport=40000, dport=110, tlvs=b"",
              command=0x21):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + \
        struct.pack("!HH", sport, dport) + tlvs
    return SIG + bytes([command, 0x11]) + struct.pack("!H", len(body)) + body


def ssl_tlv(verified=True):
    # PP2_CLIENT_SSL only (no client certificate), verify 0
    value = bytes([0x01]) + struct.pack("!I", 0 if verified else 1)
    return bytes([0x20]) + struct.pack("!H", len(value)) + value


def pop_over(sock, name):
    """A harness Pop on a connected (maybe TLS) socket; reads the
    greeting."""
    p = Pop.__new__(Pop)
    Pop.counter += 1
    p.name, p.port, p.log, p.buf, p.closed = ("%s%d" % (name, Pop.counter),
                                              0, [], b"", False)
    p.sock = sock
    TRANSCRIPTS.append(p)
    p.greeting = p.getline().decode("latin-1")
    return p


def forged(header):
    """A connection from the trusted proxy's address sending header."""
    s = socket.create_connection((SAT_HOST, SAT_PORT), timeout=10,
                                 source_address=(PROXY_SRC, 0))
    s.sendall(header)
    return pop_over(s, "forged")


def closed_without_reply(sock, timeout=10):
    sock.settimeout(timeout)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


_haproxy = {}


def haproxy(ctx):
    """One HAProxy for the module: frontends for v2, v1 and TLS."""
    if "ports" in _haproxy:
        return _haproxy["ports"]
    d = tempfile.mkdtemp(prefix="satchel-it-haproxy-pem-")
    pem = os.path.join(d, "site.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-subj", "/CN=localhost", "-days", "1",
                    "-keyout", pem + ".key", "-out", pem + ".crt"],
                   check=True, capture_output=True, timeout=60)
    with open(pem, "wb") as out:
        for part in (".crt", ".key"):
            with open(pem + part, "rb") as f:
                out.write(f.read())
    ports = {"v2": free_port(), "v1": free_port(), "tls": free_port()}
    server = "server s1 %s:%d source %s" % (SAT_HOST, SAT_PORT, PROXY_SRC)
    body = """frontend pop_v2
    bind 127.0.0.1:{v2}
    default_backend sat_v2
frontend pop_v1
    bind 127.0.0.1:{v1}
    default_backend sat_v1
frontend pop_tls
    bind 127.0.0.1:{tls} ssl crt {pem}
    default_backend sat_ssl
backend sat_v2
    {server} send-proxy-v2 check check-send-proxy inter 500ms
backend sat_v1
    {server} send-proxy
backend sat_ssl
    {server} send-proxy-v2-ssl
""".format(pem=pem, server=server, **ports)
    _haproxy.update(ports=ports, dir=d, proc=Haproxy(body, ports["v1"]))
    import atexit
    atexit.register(stop_haproxy)
    return ports


def stop_haproxy():
    proc = _haproxy.pop("proc", None)
    if proc is not None:
        proc.stop()
    d = _haproxy.pop("dir", None)
    if d:
        shutil.rmtree(d, ignore_errors=True)
    _haproxy.pop("ports", None)


def login_through(port, source, use_ssl=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=10,
                                 source_address=(source, 0))
    if use_ssl:
        s = ssl._create_unverified_context().wrap_socket(
            s, server_hostname="localhost")
    p = pop_over(s, "via-haproxy")
    p.ok("USER alice")
    p.ok("PASS " + PASSWORDS["alice"])
    p.stat()
    p.quit()


def test_haproxy_v2_and_v1_carry_the_client(ctx):
    ports = haproxy(ctx)
    ctx.srv.fill("alice", [])
    login_through(ports["v2"], "127.0.0.5")
    wait_for(lambda: "login: user=alice rip=127.0.0.5" in
             ctx.srv.log_text(), 5, "the v2 client's address in the log")
    ctx.srv.wait_unlocked("alice")
    login_through(ports["v1"], "127.0.0.6")
    wait_for(lambda: "login: user=alice rip=127.0.0.6" in
             ctx.srv.log_text(), 5, "the v1 client's address in the log")
    check("rip=%s" % PROXY_SRC not in ctx.srv.log_text().replace(
        "proxy health check: rip=%s" % PROXY_SRC, ""),
        "the proxy's own address was taken for a client's")
    # HAProxy's checks send v2 LOCAL: closed without a session
    wait_for(lambda: "proxy health check: rip=%s" % PROXY_SRC in
             ctx.srv.log_text(), 5, "a health check")


def test_haproxy_tls_counts_as_tls(ctx):
    ports = haproxy(ctx)
    ctx.srv.fill("alice", [])
    login_through(ports["tls"], "127.0.0.5", use_ssl=True)
    wait_for(lambda: "login: user=alice rip=127.0.0.5" in
             ctx.srv.log_text(), 5, "the TLS client's address in the log")


def test_proxied_address_decides_plaintext(ctx):
    """A client the header names at 192.0.2.7 is no loopback client: no
    password in clear without TLS; with TLS at the proxy it may, but only
    when proxy_trust_ssl says so."""
    ctx.srv.fill("alice", [])
    p = forged(v2_header("192.0.2.7"))
    check(p.cmd("USER alice").startswith("-ERR [AUTH] plaintext"),
          "a password in clear from a non-loopback client behind the proxy")
    p.close()
    wait_for(lambda: "disconnect: rip=192.0.2.7" in ctx.srv.log_text(), 5,
             "the header's address in the log")
    p = forged(v2_header("192.0.2.7", tlvs=ssl_tlv()))
    check(p.cmd("USER alice").startswith("-ERR [AUTH] plaintext"),
          "the SSL TLV was trusted without proxy_trust_ssl")
    p.close()
    srv = ctx.server(config=dict(CONFIG, proxy_trust_ssl="yes"))
    srv.port = SAT_PORT
    ctx.workers_may_change = True
    ctx.srv.stop()
    srv.start()
    try:
        srv.fill("alice", [])
        p = forged(v2_header("192.0.2.7", tlvs=ssl_tlv(verified=False)))
        check(p.cmd("USER alice").startswith("-ERR [AUTH] plaintext"),
              "TLS at the proxy trusted though its verification failed")
        p.close()
        p = forged(v2_header("192.0.2.7", tlvs=ssl_tlv()))
        check("STLS" not in p.multi_ok("CAPA").decode(),
              "STLS offered on a session that is TLS already")
        p.ok("USER alice")
        p.ok("PASS " + PASSWORDS["alice"])
        p.quit()
    finally:
        srv.stop()
        ctx.srv.start()


def test_limits_count_the_proxied_address(ctx):
    held = [forged(v2_header("192.0.2.9", sport=40000 + i))
            for i in range(2)]
    third = forged(v2_header("192.0.2.9", sport=40002))
    check(third.greeting.startswith("-ERR [SYS/TEMP]"),
          "a third connection of 192.0.2.9 (max 2): %s" % third.greeting)
    other = forged(v2_header("192.0.2.10"))
    check(other.greeting.startswith("+OK"), "another client is served: %s"
          % other.greeting)
    for p in held + [other]:
        p.quit()


def test_headers_that_are_refused(ctx):
    # from the trusted address: a command instead of a header
    s = socket.create_connection((SAT_HOST, SAT_PORT), timeout=10,
                                 source_address=(PROXY_SRC, 0))
    s.sendall(b"USER alice\r\n")
    check(closed_without_reply(s), "a trusted peer without a header")
    s.close()
    # a v2 header claiming a 64 KB body
    s = socket.create_connection((SAT_HOST, SAT_PORT), timeout=10,
                                 source_address=(PROXY_SRC, 0))
    s.sendall(SIG + b"\x21\x11\xff\xff")
    check(closed_without_reply(s), "an oversized v2 header")
    s.close()
    # LOCAL: no session, closed
    s = socket.create_connection((SAT_HOST, SAT_PORT), timeout=10,
                                 source_address=(PROXY_SRC, 0))
    s.sendall(v2_header("192.0.2.7", command=0x20))
    check(closed_without_reply(s), "a v2 LOCAL header gets no session")
    s.close()
    # a header from a peer that is no trusted proxy
    p = Pop(SAT_PORT, host=SAT_HOST, source="127.0.0.7")
    check(p.cmd("PROXY TCP4 192.0.2.7 198.51.100.1 40000 110").startswith(
        "-ERR [SYS/PERM]"), "a header from an untrusted peer")
    p.wait_closed()
    check("PROXY header refused: rip=127.0.0.7" in ctx.srv.log_text(),
          "the refusal is logged")


def test_no_header_in_time(ctx):
    s = socket.create_connection((SAT_HOST, SAT_PORT), timeout=10,
                                 source_address=(PROXY_SRC, 0))
    t0 = time.monotonic()
    check(closed_without_reply(s, timeout=15), "a silent trusted peer")
    took = time.monotonic() - t0
    s.close()
    check(4 <= took <= 12, "closed after %.1f s (PROXY_WAIT_MS 5 s)" % took)


def test_implicit_tls_starts_after_the_header(ctx):
    """On a listen_tls address the header comes first, in clear, and the
    TLS handshake right after it (HAProxy's send-proxy-v2 in front of
    port 995 without ending TLS)."""
    cert, key = os.path.join(ctx.tmp, "c.pem"), os.path.join(ctx.tmp, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-subj", "/CN=localhost", "-days", "1",
                    "-keyout", key, "-out", cert], check=True,
                   capture_output=True, timeout=60)
    tls_port = free_port((SAT_HOST,))
    srv = ctx.server(listen="%s:{port}" % SAT_HOST, config={
        "listen_tls": "%s:%d" % (SAT_HOST, tls_port),
        "tls_cert": cert, "tls_key": key,
        "proxy_trusted": PROXY_SRC})
    srv.fix_owner(cert)
    srv.fix_owner(key)
    srv.start()
    srv.fill("alice", [])
    s = socket.create_connection((SAT_HOST, tls_port), timeout=10,
                                 source_address=(PROXY_SRC, 0))
    s.sendall(v2_header("192.0.2.44", dport=995))
    s = ssl._create_unverified_context().wrap_socket(
        s, server_hostname="localhost")
    p = pop_over(s, "tls-after-header")
    check(p.greeting.startswith("+OK"), "greeting over TLS after the "
          "header: %s" % p.greeting)
    p.ok("USER alice")          # TLS: a password may be sent
    p.ok("PASS " + PASSWORDS["alice"])
    p.quit()
    wait_for(lambda: "login: user=alice rip=192.0.2.44" in srv.log_text(), 5,
             "the header's client in the log")
