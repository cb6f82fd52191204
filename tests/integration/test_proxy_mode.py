"""Proxy mode (issue 11 item 4, docs/scaling.md "Proxy mode"): a satchel
proxy (proxy = yes) on 127.0.0.10 in front of two satchel backends on
127.0.0.11 and .12 that trust only the proxy's source address
(127.0.0.1) for PROXY headers. Users are logged in locally by the proxy,
then land on the backend SHA-256(user) picks; RETR, DELE and QUIT go
through; the backend logs the real client (bound to 127.0.0.20); a
killed backend's users get [SYS/TEMP] at once while the other backend's
users are unaffected; a wrong password never reaches a backend."""

import base64
import hashlib
import os
import poplib
import socket
import subprocess
import tempfile
import threading
import time

from test_sasl import scram_login
from harness import (EX_CONFIG, PASSWORDS, Pop, TcpRecorder, check, eq,
                     free_port,
                     gen_attachment, make_msgs, run_satchel, simple_msg,
                     wait_for)

STORES = None
CLIENT = "127.0.0.20"
PROXY_SRC = "127.0.0.1"   # what the kernel picks towards 127.0.0.11/.12
EXTRA_PW = "frank-Pw.3Tz8"


def first_name_on(n):
    """A user name the hash sends to backend n."""
    for i in range(100):
        if pick("frank%d" % i) == n:
            return "frank%d" % i
    raise AssertionError("no name for backend %d" % n)


def make_certs(ctx):
    """A CA and one backend certificate for 127.0.0.11 and .12 (IP SANs:
    the proxy checks the address it connects to); a second CA that
    signed nothing of theirs. Returns the directory."""
    d = tempfile.mkdtemp(prefix="satchel-it-proxycerts-", dir=ctx.tmp)
    os.chmod(d, 0o755)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes"]

    def openssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                       capture_output=True, timeout=30)
    for ca in ("ca", "otherca"):
        openssl("req", "-x509", *key, "-keyout", ca + ".key", "-out",
                ca + ".pem", "-days", "3650", "-subj", "/CN=" + ca,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    with open(os.path.join(d, "backend.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.11,IP:127.0.0.12\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("req", "-new", *key, "-keyout", "backend.key", "-out",
            "backend.csr", "-subj", "/CN=backend")
    openssl("x509", "-req", "-in", "backend.csr", "-CA", "ca.pem",
            "-CAkey", "ca.key", "-CAcreateserial", "-days", "3650",
            "-extfile", "backend.ext", "-out", "backend.pem")
    for fn in os.listdir(d):
        os.chmod(os.path.join(d, fn), 0o644)
    return d


def ticket_key(ctx, srv):
    """srv gets proxy_ticket_key: the one key of this test, in its own
    root, owned by the user its auth process runs as."""
    path = os.path.join(srv.root, "ticket.key")
    with open(path, "w") as f:
        f.write(ctx.ticket_secret if hasattr(ctx, "ticket_secret") else "")
    os.chmod(path, 0o600)
    srv.fix_owner(path)
    srv.config["proxy_ticket_key"] = path
    srv.write_config()


def setup(ctx, extra=None, tls_ca=None, certs=None, tickets=False):
    """Two backends and the proxy; each backend's users get messages
    that name the backend, so the mail itself shows where a login went.
    extra: a function (backends) -> {name: passwd-file line after
    "name:"} of more users of the proxy; the backends get them without
    their extra fields. tickets: all three share a proxy_ticket_key."""
    if tickets:
        ctx.ticket_secret = os.urandom(32).hex()
    backends = []
    for i in range(2):
        srv = ctx.server(name="backend%d" % i,
                         listen="127.0.0.%d:{port}" % (11 + i),
                         users={EXTRA_USER: "{PLAIN}" + EXTRA_PW},
                         secrets=(EXTRA_PW,))
        srv.config.update({"proxy_trusted": PROXY_SRC + "/32"})
        if certs:
            # the proxy speaks to the implicit-TLS port only
            host = "127.0.0.%d" % (11 + i)
            srv.tls_listen = "%s:%d" % (host, free_port(hosts=(host,)))
            srv.config.update({
                "listen_tls": srv.tls_listen,
                "tls_cert": os.path.join(certs, "backend.pem"),
                "tls_key": os.path.join(certs, "backend.key"),
            })
        srv.write_config()
        if tickets:
            ticket_key(ctx, srv)
        backends.append(srv)
    proxy = ctx.server(name="proxy", listen="127.0.0.10:{port}",
                       users=extra(backends) if extra else
                       {EXTRA_USER: "{PLAIN}" + EXTRA_PW},
                       secrets=(EXTRA_PW,))
    proxy.config.update({
        "proxy": "yes",
        "proxy_backends": ",".join(
            b.tls_listen if certs else b.listen.format(port=b.port)
            for b in backends),
        "proxy_timeout": "5",
    })
    if certs:
        proxy.config.update({"proxy_tls": "yes",
                             "proxy_tls_ca": os.path.join(certs, tls_ca)})
    proxy.write_config()
    if tickets:
        proxy.config["sasl_mechanisms"] = "SCRAM-SHA-256 PLAIN LOGIN"
        ticket_key(ctx, proxy)
    for i, b in enumerate(backends):
        for user in list(PASSWORDS) + [EXTRA_USER]:
            b.fill(user, make_msgs(
                [simple_msg(j, subject="backend%d %s %d" % (i, user, j))
                 for j in range(2)], "maildir"))
        b.start()
    proxy.start()
    return proxy, backends


def pick(user, n=2):
    """The proxy's choice: SHA-256 of the name, first 8 octets big-endian,
    modulo the number of backends (net/backendlist.h)."""
    return int.from_bytes(hashlib.sha256(user.encode()).digest()[:8],
                          "big") % n


EXTRA_USER = first_name_on(0)


def users_by_backend():
    by = {0: [], 1: []}
    for user in sorted(PASSWORDS):
        by[pick(user)].append(user)
    check(by[0] and by[1], "test users on both backends: %r" % by)
    return by


class BoundPOP3(poplib.POP3):
    """poplib from a chosen source address (it has no such argument)."""

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(CLIENT, 0))


def client(proxy):
    """poplib through the proxy from the client address."""
    return BoundPOP3(proxy.listen.split(":")[0], proxy.port, timeout=10)


def logged_in(proxy, user):
    """poplib through the proxy, logged in as user."""
    p = client(proxy)
    p.user(user)
    eq(p.pass_(PASSWORDS[user])[:3], b"+OK", "login of " + user)
    return p


def raw_pass(proxy, user, password):
    """A raw session through the proxy: (Pop, the reply to PASS)."""
    p = Pop(proxy.port, host=proxy.listen.split(":")[0], source=CLIENT)
    p.ok("USER " + user)
    return p, p.cmd("PASS " + password)


def test_users_land_on_their_backend(ctx):
    proxy, backends = setup(ctx)
    for i, users in users_by_backend().items():
        for user in users:
            p = logged_in(proxy, user)
            count, _ = p.stat()
            eq(count, 2, "STAT of " + user)
            _, lines, _ = p.retr(1)
            text = b"\n".join(lines)
            check(("Subject: backend%d %s 0" % (i, user)).encode() in text,
                  "%s's message comes from backend%d: %r" %
                  (user, i, text[:200]))
            eq(p.dele(2)[:3], b"+OK", "DELE")
            eq(p.quit()[:3], b"+OK", "QUIT")
            # UPDATE ran on the backend: one message left there
            wait_for(lambda: "user=%s" % user in backends[i].log_text(),
                     5, "backend%d's log names %s" % (i, user))
            p = logged_in(proxy, user)
            eq(p.stat()[0], 1, "after DELE+QUIT, %s's count" % user)
            p.quit()
        other = backends[1 - i].log_text()
        for user in users:
            check("user=%s " % user not in other,
                  "%s never reached backend%d" % (user, 1 - i))


def test_backend_logs_the_real_client(ctx):
    proxy, backends = setup(ctx)
    user = users_by_backend()[0][0]
    logged_in(proxy, user).quit()
    wait_for(lambda: "rip=%s" % CLIENT in backends[0].log_text(), 5,
             "backend0 logs rip=%s" % CLIENT)
    check("rip=%s " % PROXY_SRC not in backends[0].log_text(),
          "the backend never names the proxy as the client")


def test_wrong_password_refused_locally(ctx):
    proxy, backends = setup(ctx)
    user = users_by_backend()[1][0]
    p, reply = raw_pass(proxy, user, "wrong-password")
    check(reply.startswith("-ERR [AUTH]"), "wrong password: %s" % reply)
    p.quit()
    for b in backends:
        check("rip=%s" % CLIENT not in b.log_text(),
              "a refused login never reaches %s" % b.name)


def test_capa_offers_only_what_proxies(ctx):
    """USER/PASS and AUTH PLAIN hand the proxy the password it logs in to
    the backend with; CAPA lists nothing else, other mechanisms and APOP
    are refused, and AUTH PLAIN (initial response or "+" exchange)
    reaches the backend."""
    proxy, backends = setup(ctx)
    p = Pop(proxy.port, host="127.0.0.10", source=CLIENT)
    status, data = p.multi("CAPA")
    caps = data.decode().split("\r\n")
    check("USER" in caps, "USER offered: %r" % caps)
    sasl = [c for c in caps if c.startswith("SASL")]
    eq(sasl, ["SASL PLAIN"], "SASL in proxy mode")
    check(not any(c.startswith("EXPIRE") for c in caps),
          "no EXPIRE of ours before login: %r" % caps)
    check(p.cmd("AUTH CRAM-MD5").startswith("-ERR"), "CRAM-MD5 refused")
    check(p.cmd("APOP alice 0123456789abcdef0123456789abcdef")
          .startswith("-ERR"), "APOP refused")
    p.quit()
    for i, users in users_by_backend().items():
        user = users[0]
        plain = base64.b64encode(("\0%s\0%s" % (user, PASSWORDS[user]))
                                 .encode()).decode()
        p = Pop(proxy.port, host="127.0.0.10", source=CLIENT)
        reply = p.cmd("AUTH PLAIN " + plain)
        check(reply.startswith("+OK"), "AUTH PLAIN of %s: %s" % (user, reply))
        status, data = p.multi("RETR 1")
        check(("Subject: backend%d %s 0" % (i, user)).encode() in data,
              "%s's message comes from backend%d" % (user, i))
        p.quit()
        p = Pop(proxy.port, host="127.0.0.10", source=CLIENT)
        check(p.cmd("AUTH PLAIN").startswith("+"), "the empty challenge")
        reply = p.cmd(plain)
        check(reply.startswith("+OK"), "PLAIN after +: %s" % reply)
        p.quit()
        wait_for(lambda: backends[i].log_text().count("user=%s " % user)
                 >= 2, 5, "backend%d saw both logins" % i)


def test_backend_killed_others_unaffected(ctx):
    proxy, backends = setup(ctx)
    by = users_by_backend()
    # a session on backend 1 that stays open through the kill of 0
    live_user = by[1][0]
    live = logged_in(proxy, live_user)
    backends[0].kill()
    for user in by[0]:
        t0 = time.monotonic()
        p, reply = raw_pass(proxy, user, PASSWORDS[user])
        took = time.monotonic() - t0
        check(reply.startswith("-ERR [SYS/TEMP]"),
              "%s with its backend down: %s" % (user, reply))
        check(took < 2, "the refusal came in %.2f s" % took)
        p.quit()
    eq(live.stat()[0], 2, "the open session on backend1 goes on")
    live.quit()
    for user in by[1]:
        logged_in(proxy, user).quit()


def test_backend_in_use_reaches_the_client(ctx):
    proxy, backends = setup(ctx)
    user = users_by_backend()[0][0]
    first = logged_in(proxy, user)
    p, reply = raw_pass(proxy, user, PASSWORDS[user])
    # the backend's own words (the proxy's would be "too many sessions")
    check(reply.startswith("-ERR [IN-USE] maildrop is locked"),
          "the backend's [IN-USE] unchanged: %s" % reply)
    p.quit()
    first.quit()


def test_big_message_and_pipelining_through_the_relay(ctx):
    """A 6 MB message (far more than the 16 KB relay buffers, so the
    relay must stop reading the backend while the client's side is full)
    arrives byte for byte; commands pipelined in one write with USER and PASS reach the
    backend in order after the login."""
    proxy, backends = setup(ctx)
    user = users_by_backend()[1][0]
    msgs = make_msgs([gen_attachment(6 << 20), simple_msg(7)], "maildir")
    backends[1].fill(user, msgs)
    p = Pop(proxy.port, host="127.0.0.10", source=CLIENT)
    p.send("USER %s\r\nPASS %s\r\nSTAT\r\nUIDL 2\r\nRETR 1\r\n"
           % (user, PASSWORDS[user]))
    starts = [p.getline() for _ in range(4)]
    check(starts[0].startswith(b"+OK") and starts[1].startswith(b"+OK"),
          "USER, PASS: %r" % starts[:2])
    eq(starts[2], ("+OK 2 %d" % sum(m.size for m in msgs)).encode(),
       "STAT from the backend")
    check(starts[3].startswith(b"+OK 2 "), "UIDL 2: %r" % starts[3])
    status = p.getline()
    check(status.startswith(b"+OK"), "RETR 1: %r" % status)
    got = p.getmulti()
    check(got == msgs[0].expected, "6 MB through the relay: %d of %d "
          "octets, equal: %s" % (len(got), msgs[0].size,
                                 got == msgs[0].expected))
    p.quit()


def test_user_record_names_its_backend(ctx):
    """proxy_host= in the user's record wins over the hash: EXTRA_USER,
    whom the hash sends to backend0, lands on backend1."""
    proxy, backends = setup(ctx, extra=lambda b: {
        EXTRA_USER: "{PLAIN}%s::::::proxy_host=%s" %
        (EXTRA_PW, b[1].listen.format(port=b[1].port))})
    p, reply = raw_pass(proxy, EXTRA_USER, EXTRA_PW)
    check(reply.startswith("+OK"), "login: %s" % reply)
    status, data = p.multi("RETR 1")
    check(("Subject: backend1 %s 0" % EXTRA_USER).encode() in data,
          "the message comes from backend1")
    p.quit()
    check("user=%s " % EXTRA_USER not in backends[0].log_text(),
          "backend0 never saw the user")


def test_tls_to_the_backends(ctx):
    """proxy_tls: the PROXY header, then TLS to the backend's listen_tls,
    verified against proxy_tls_ca and the backend's address; a
    certificate from another CA is refused with [SYS/TEMP]."""
    certs = make_certs(ctx)
    proxy, backends = setup(ctx, tls_ca="ca.pem", certs=certs)
    for i, users in users_by_backend().items():
        p = logged_in(proxy, users[0])
        _, lines, _ = p.retr(1)
        check(("Subject: backend%d %s 0" % (i, users[0])).encode()
              in b"\n".join(lines), "mail from backend%d over TLS" % i)
        p.quit()
        wait_for(lambda: "rip=%s" % CLIENT in backends[i].log_text(), 5,
                 "backend%d logs the client" % i)
    # the same backends, a proxy that trusts another CA
    proxy2 = ctx.server(name="proxy2", listen="127.0.0.10:{port}")
    proxy2.config.update(dict(proxy.config))
    proxy2.config["proxy_tls_ca"] = os.path.join(certs, "otherca.pem")
    proxy2.write_config()
    proxy2.start()
    p, reply = raw_pass(proxy2, "alice", PASSWORDS["alice"])
    check(reply.startswith("-ERR [SYS/TEMP]"), "unverified backend: %s"
          % reply)
    p.quit()
    wait_for(lambda: "certificate verify failed" in proxy2.log_text(), 5,
             "the proxy logs why")


def test_backend_that_does_not_answer(ctx):
    """A backend whose kernel accepts but which never greets: the client
    hears [SYS/TEMP] after proxy_timeout, not never."""
    host = "127.0.0.13"
    silent = socket.socket()
    silent.bind((host, free_port(hosts=(host,))))
    silent.listen(8)             # never accepted: no greeting ever comes
    try:
        proxy = ctx.server(name="proxy", listen="127.0.0.10:{port}")
        proxy.config.update({
            "proxy": "yes",
            "proxy_backends": "%s:%d" % silent.getsockname(),
            "proxy_timeout": "1",
        })
        proxy.write_config()
        proxy.start()
        t0 = time.monotonic()
        p, reply = raw_pass(proxy, "alice", PASSWORDS["alice"])
        took = time.monotonic() - t0
        check(reply.startswith("-ERR [SYS/TEMP]"), "silent backend: %s"
              % reply)
        check(0.9 <= took < 3, "answered after %.2f s (proxy_timeout 1)"
              % took)
        # the session goes on in AUTHORIZATION
        eq(p.cmd("NOOP").startswith("-ERR"), True, "NOOP before login")
        p.quit()
        wait_for(lambda: "no answer in time" in proxy.log_text(), 5,
                 "the proxy logs why")
    finally:
        silent.close()


def test_config_checks(ctx):
    """The loop guard and the other refusals at config time (exit 78)."""
    srv = ctx.server(name="checks", listen="127.0.0.10:{port}")
    own = srv.listen.format(port=srv.port)
    short_key = os.path.join(srv.root, "short.key")
    open_key = os.path.join(srv.root, "open.key")
    for path, text, mode in ((short_key, "x" * 16, 0o600),
                             (open_key, "x" * 64, 0o644)):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
    bad = [
        (["proxy=yes"], "needs proxy_backends"),
        (["proxy=yes", "proxy_backends=" + own], "proxy loop"),
        (["proxy=yes", "listen=0.0.0.0:%d" % srv.port,
          "proxy_backends=127.0.0.11:%d" % srv.port], "proxy loop"),
        (["proxy=yes", "proxy_backends=127.0.0.11:110", "apop=yes"],
         "APOP"),
        (["proxy_backends=backend.example:110"], "numeric"),
        (["proxy_ticket_key=" + os.path.join(srv.root, "no-such-key")],
         "cannot open the key file"),
        (["proxy_ticket_key=" + short_key], "at least 32"),
        (["proxy_ticket_key=" + open_key], "group or others"),
    ]
    for overrides, want in bad:
        args = ["serve", "-c", srv.conf_path, "--check"]
        for o in overrides:
            args += ["-o", o]
        r = run_satchel(args)
        eq(r.returncode, EX_CONFIG, "%r exit (stderr %r)" % (overrides,
                                                               r.stderr))
        check(want in r.stderr, "%r: %r names %r" % (overrides, r.stderr,
                                                      want))
    r = run_satchel(["serve", "-c", srv.conf_path, "--check", "-o",
                     "proxy=yes", "-o", "proxy_backends=127.0.0.11:110,"
                     "[::1]:1110"])
    eq(r.returncode, 0, "a good backend list (stderr %r)" % r.stderr)


def proxy_through(ctx, name, recorder):
    """A second proxy whose only backend is recorder (a relay in front
    of backend 0)."""
    srv = ctx.server(name=name, listen="127.0.0.13:{port}")
    srv.config.update({"proxy": "yes", "proxy_timeout": "5",
                       "proxy_backends": "127.0.0.1:%d" % recorder.port})
    srv.write_config()
    srv.start()
    return srv


def test_backend_that_drops_the_first_connects(ctx):
    """A backend that closes two connections before its greeting (a
    restart, a full queue) is tried again: the third connect logs in."""
    proxy, backends = setup(ctx)
    relay = TcpRecorder(backends[0].port, drop_first=2,
                        target_host="127.0.0.11")
    try:
        retrying = proxy_through(ctx, "retrying", relay)
        user = sorted(PASSWORDS)[0]
        p = Pop(retrying.port, host="127.0.0.13", source=CLIENT)
        p.ok("USER " + user)
        reply = p.cmd("PASS " + PASSWORDS[user])
        check(reply.startswith("+OK"), "login after two drops: %s" % reply)
        eq(relay.dropped, 2, "connections dropped")
        eq(len(relay.sessions), 1, "connections relayed")
        p.ok("STAT")
        p.quit()
        log = retrying.log_text()
        for n in (2, 3):
            check("trying again (%d of 3)" % n in log,
                  "the proxy logs try %d: %s" % (n, log[-600:]))
    finally:
        relay.close()


def test_backend_that_always_drops(ctx):
    """Three connects in all, then [SYS/TEMP]; the password never went
    anywhere."""
    proxy, backends = setup(ctx)
    relay = TcpRecorder(backends[0].port, drop_first=100,
                        target_host="127.0.0.11")
    try:
        dropping = proxy_through(ctx, "dropping", relay)
        user = sorted(PASSWORDS)[0]
        t0 = time.monotonic()
        p, reply = raw_pass(dropping, user, PASSWORDS[user])
        took = time.monotonic() - t0
        check(reply.startswith("-ERR [SYS/TEMP]"), "reply: %s" % reply)
        check(took < 3, "the refusal came in %.2f s" % took)
        eq(relay.dropped, 3, "connects made")
        p.quit()
        wait_for(lambda: "(3 tries)" in dropping.log_text(), 5,
                 "the proxy logs its three tries")
    finally:
        relay.close()


def test_loop_between_two_proxies_ends(ctx):
    """Two proxies that name each other as their backend: the session
    goes A -> B -> A, A sees two satchel proxies in its PROXY header's
    TLV and refuses, and the client gets [SYS/TEMP] at once instead of
    a chain of connections."""
    a = ctx.server(name="loop-a", listen="127.0.0.14:{port}")
    b = ctx.server(name="loop-b", listen="127.0.0.15:{port}")
    for me, other, host in ((a, b, "127.0.0.15"), (b, a, "127.0.0.14")):
        me.config.update({"proxy": "yes", "proxy_timeout": "5",
                          "proxy_trusted": PROXY_SRC + "/32",
                          "proxy_backends": "%s:%d" % (host, other.port)})
        me.write_config()
    a.start()
    b.start()
    user = sorted(PASSWORDS)[0]
    t0 = time.monotonic()
    p = Pop(a.port, host="127.0.0.14", source=CLIENT)
    p.ok("USER " + user)
    reply = p.cmd("PASS " + PASSWORDS[user])
    took = time.monotonic() - t0
    check(reply.startswith("-ERR [SYS/TEMP]"), "reply: %s" % reply)
    check(took < 3, "the refusal came in %.2f s" % took)
    p.quit()
    wait_for(lambda: "proxy loop: user=%s" % user in a.log_text(), 5,
             "loop-a logs the loop")
    check("passed 2 satchel proxies" in a.log_text(),
          "two hops counted: %s" % a.log_text()[-400:])


def with_proxy_header(port, host, text):
    """A raw session to a backend from the trusted proxy address, its
    PROXY v1 header naming a client: (socket file, greeting)."""
    s = socket.create_connection((host, port), 10,
                                 source_address=(PROXY_SRC, 0))
    s.sendall(("PROXY TCP4 %s %s 40000 110\r\n" % (CLIENT, host)).encode())
    f = s.makefile("rwb")
    return s, f, f.readline().decode()


def ask(f, line):
    f.write(line.encode() + b"\r\n")
    f.flush()
    return f.readline().decode().rstrip("\r\n")


def test_tickets_proxy_any_mechanism(ctx):
    """With proxy_ticket_key on the proxy and its backends, the proxy
    offers every mechanism (SCRAM here), and logs in at the backend with
    a ticket, never with the client's password (seen by a relay in
    between); the backend takes a ticket once, for its own user, only on
    a session from a trusted proxy, and not forged."""
    proxy, backends = setup(ctx, tickets=True)
    p = Pop(proxy.port, host="127.0.0.10", source=CLIENT)
    status, data = p.multi("CAPA")
    sasl = [c for c in data.decode().split("\r\n") if c.startswith("SASL")]
    check(sasl and "SCRAM-SHA-256" in sasl[0].split(),
          "SCRAM offered in proxy mode with tickets: %r" % sasl)
    p.quit()
    for i, users in users_by_backend().items():
        user = users[0]
        p = Pop(proxy.port, host="127.0.0.10", source=CLIENT)
        reply = scram_login(p, "SCRAM-SHA-256", user, PASSWORDS[user])
        check(reply.startswith("+OK"), "SCRAM of %s through the proxy: %s"
              % (user, reply))
        status, data = p.multi("RETR 1")
        check(("Subject: backend%d %s 0" % (i, user)).encode() in data,
              "%s's message comes from backend%d" % (user, i))
        p.quit()
    # what goes to the backend: a ticket, not the password
    relay = TcpRecorder(backends[0].port, target_host="127.0.0.11")
    try:
        via = proxy_through(ctx, "ticketing", relay)
        ticket_key(ctx, via)
        via.stop()
        via.start()
        user = users_by_backend()[0][0]
        p = Pop(via.port, host="127.0.0.13", source=CLIENT)
        p.ok("USER " + user)
        reply = p.cmd("PASS " + PASSWORDS[user])
        check(reply.startswith("+OK"), "USER/PASS with a ticket: %s" % reply)
        p.quit()
        passes = [l for sess in relay.sessions for l in sess
                  if l.startswith("PASS ")]
        eq(len(passes), 1, "one backend login")
        ticket = passes[0][5:]
        check(ticket.startswith("satchel-ticket:1:") and
              PASSWORDS[user] not in ticket,
              "the backend got a ticket, not the password: %r" % ticket)
    finally:
        relay.close()
    b0 = backends[0]
    host = "127.0.0.11"
    # the same ticket again, from the trusted proxy: a replay
    s, f, greeting = with_proxy_header(b0.port, host, "")
    check(greeting.startswith("+OK"), "greeting: %r" % greeting)
    ask(f, "USER " + user)
    check(ask(f, "PASS " + ticket).startswith("-ERR"), "a replayed ticket")
    s.close()
    # a forged one, and another user's
    forged = ticket[:-1] + ("0" if ticket[-1] != "0" else "1")
    other = [u for u in users_by_backend()[0] if u != user] or \
        [EXTRA_USER]
    for name, t, why in ((user, forged, "a forged ticket"),
                         (other[0], ticket, "another user's ticket")):
        s, f, greeting = with_proxy_header(b0.port, host, "")
        ask(f, "USER " + name)
        check(ask(f, "PASS " + t).startswith("-ERR"), why)
        s.close()
    # a fresh ticket (caught by a fake backend, so never used), sent by
    # a client that is no trusted proxy: refused; then by the proxy: good
    fake = TicketCatcher()
    try:
        via2 = proxy_through(ctx, "ticketing2", fake)
        ticket_key(ctx, via2)
        via2.stop()
        via2.start()
        p = Pop(via2.port, host="127.0.0.13", source=CLIENT)
        p.ok("USER " + user)
        check(p.cmd("PASS " + PASSWORDS[user]).startswith("-ERR"),
              "the fake backend refuses")
        p.quit()
        wait_for(lambda: fake.passes, 5, lambda: "the fake backend got a PASS: %r %s" % (fake.lines, via2.log_tail(5)))
        fresh = fake.passes[0]
    finally:
        fake.close()
    direct = Pop(b0.port, host=host, source=CLIENT)
    direct.ok("USER " + user)
    check(direct.cmd("PASS " + fresh).startswith("-ERR"),
          "a ticket from a session without a trusted PROXY header")
    direct.quit()
    s, f, greeting = with_proxy_header(b0.port, host, "")
    ask(f, "USER " + user)
    reply = ask(f, "PASS " + fresh)
    check(reply.startswith("+OK"), "the same ticket from the proxy: %s"
          % reply)
    ask(f, "QUIT")
    s.close()


class TicketCatcher:
    """A fake backend on 127.0.0.1: greets, takes the PROXY header,
    answers CAPA with capa, USER with +OK, keeps what PASS sends and
    refuses it."""

    def __init__(self, capa=("UIDL", "TOP", "PIPELINING")):
        self.capa = capa
        self.capas = 0
        self.passes = []
        self.lines = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                f = c.makefile("rwb")
                try:
                    # the proxy's PROXY v2 header: 16 octets, then
                    # the length they name
                    head = f.read(16)
                    f.read(int.from_bytes(head[14:16], "big"))
                    f.write(b"+OK fake\r\n")
                    f.flush()
                    while True:
                        line = f.readline()
                        if not line:
                            break
                        self.lines.append(line)
                        if line.strip() == b"CAPA":
                            self.capas += 1
                            f.write(b"+OK\r\n" + b"".join(
                                c.encode() + b"\r\n" for c in self.capa) +
                                b".\r\n")
                        elif line.startswith(b"PASS "):
                            self.passes.append(line[5:].strip().decode())
                            f.write(b"-ERR [AUTH] no\r\n")
                        else:
                            f.write(b"+OK\r\n")
                        f.flush()
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def capa_of(srv, host):
    p = Pop(srv.port, host=host, source=CLIENT)
    status, data = p.multi("CAPA")
    p.quit()
    return data.decode().split("\r\n")


def test_capa_is_the_intersection(ctx):
    """CAPA before login lists TOP, UIDL, PIPELINING, ... only where the
    backends have them: a backend without TOP and PIPELINING (a fake one)
    is asked CAPA at the first login, and from then on every worker's
    CAPA leaves both out; the other capabilities stay."""
    fake = TicketCatcher(capa=("UIDL", "USER", "RESP-CODES"))
    try:
        srv = proxy_through(ctx, "intersecting", fake)
        before = capa_of(srv, "127.0.0.13")
        check("TOP" in before and "PIPELINING" in before,
              "before any login, the proxy's own: %r" % before)
        p = Pop(srv.port, host="127.0.0.13", source=CLIENT)
        p.ok("USER alice")
        check(p.cmd("PASS " + PASSWORDS["alice"]).startswith("-ERR"),
              "the fake backend refuses the login")
        p.quit()
        eq(fake.capas, 1, "the backend was asked CAPA once")
        for _ in range(4):  # both workers answer alike
            after = capa_of(srv, "127.0.0.13")
            check("TOP" not in after and "PIPELINING" not in after,
                  "TOP and PIPELINING left out: %r" % after)
            check("UIDL" in after and "RESP-CODES" in after and
                  "USER" in after, "the rest stays: %r" % after)
        p = Pop(srv.port, host="127.0.0.13", source=CLIENT)
        p.ok("USER alice")
        p.cmd("PASS " + PASSWORDS["alice"])
        p.quit()
        eq(fake.capas, 1, "a second login does not ask again")
    finally:
        fake.close()
