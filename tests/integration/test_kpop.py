"""KPOP (Kerberos 5 POP, kpop_listen): fetchmail's `proto KPOP` with
`auth kerberos_v5` against a kpop_listen port, with the MIT KDC the
GSSAPI tests start (test_gssapi.Kdc: realm SATCHEL.TEST in the test's temp
dir, the service key pop/localhost in the keytab). The sendauth handshake
runs before the greeting; the ticket's user logs in with USER and a
dummy PASS. Refused without a crash: no ticket, a garbage AP_REQ, an
oversized sendauth length, Kerberos IV's version, another user's ticket
(USER must name the ticket's user)."""

import os
import select
import socket
import struct
import threading

from harness import (IO_TIMEOUT, Skip, check, eq, free_port, make_msgs,
                     wait_for)
from test_clients import check_fetchmail_ok, same_modulo_crlf
from test_gssapi import setup

STORES = ("maildir",)
HELLO = (struct.pack(">I", 19) + b"KRB5_SENDAUTH_V1.0\0" +
         struct.pack(">I", 9) + b"KPOPV1.0\0")


# fetchmail sends its "PASS krb_ticket" only when the poll's service is
# named "kpop" (on a numeric port it finds no authenticator after USER),
# and Debian's /etc/services has no kpop entry any more. So fetchmail
# runs in a private mount namespace (unshare -m) in which /etc/services
# is a copy naming the test's port "kpop" bound over it (the system's
# file is not touched).


def kpop_setup(ctx):
    port = free_port()
    kdc, srv, env = setup(ctx, config={"kpop_listen": "127.0.0.1:%d" % port})
    return kdc, srv, env, port


def fetchmail_kpop(ctx, env, port, user="alice", tag="kp"):
    import shutil
    import subprocess
    if not shutil.which("fetchmail"):
        raise Skip("fetchmail not installed")
    home = os.path.join(ctx.tmp, tag)
    out = os.path.join(home, "out")
    os.makedirs(out, exist_ok=True)
    mda = os.path.join(home, "mda.sh")
    with open(mda, "w") as f:
        f.write('#!/bin/sh\nn=$(ls "%s" | wc -l)\ncat > "%s/$(printf %%04d $n)"\n'
                % (out, out))
    os.chmod(mda, 0o755)
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        # "localhost": the ticket is for pop/localhost (fetchmail names
        # the service principal pop/<host>)
        f.write("set no bouncemail\n"
                "poll localhost with proto KPOP timeout 20"
                " auth kerberos_v5\n"
                "  user \"%s\" there with password \"dummy\" is \"alice\" here\n"
                "  sslproto '' no keep\n" % user)
    os.chmod(rc, 0o600)
    services = os.path.join(home, "services")
    with open("/etc/services") as src, open(services, "w") as f:
        f.write(src.read() + "\nkpop %d/tcp\n" % port)
    if not shutil.which("unshare") or subprocess.run(
            ["unshare", "-m", "true"], capture_output=True).returncode != 0:
        raise Skip("no private mount namespace (unshare -m) for fetchmail's "
                   "kpop service name")
    fenv = dict(env, HOME=home, FETCHMAILHOME=home)
    r = subprocess.run(["unshare", "-m", "sh", "-c",
                        'mount --bind "$0" /etc/services && exec "$@"',
                        services,
                        "fetchmail", "-f", rc, "--nosyslog", "--invisible",
                        "--norewrite", "--nodetach", "--mda", mda, "-v",
                        "--pidfile", os.path.join(home, "fetchmail.pid")],
                       capture_output=True, timeout=90, env=fenv)
    got = [open(os.path.join(out, fn), "rb").read() for fn in sorted(os.listdir(out))]
    for fn in os.listdir(out):
        os.unlink(os.path.join(out, fn))
    return r, got


def raw(port):
    s = socket.create_connection(("127.0.0.1", port), IO_TIMEOUT)
    s.settimeout(IO_TIMEOUT)
    return s


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def closed(s):
    """True when the server closed s (after whatever it sent)."""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def test_fetchmail_kpop(ctx):
    kdc, srv, env, port = kpop_setup(ctx)
    try:
        msgs = srv.fill("alice", make_msgs([b"Subject: one\n\nfirst\n",
                                            b"Subject: two\n\nsecond\n"],
                                           ctx.store))
        r, got = fetchmail_kpop(ctx, env, port)
        check_fetchmail_ok(r, "fetchmail proto KPOP")
        same_modulo_crlf(got, msgs, "fetchmail proto KPOP")
        wait_for(lambda: "login: user=alice" in srv.log_text(), 10,
                 "the KPOP login logged")
        eq(srv.read_all("alice"), [], "fetched without keep: deleted")
    finally:
        kdc.stop()


def test_kpop_refusals(ctx):
    kdc, srv, env, port = kpop_setup(ctx)
    try:
        srv.fill("alice", make_msgs([b"Subject: kept\n\nstays\n"], ctx.store))
        # no ticket: fetchmail gives up before sendauth and says QUIT,
        # which is no sendauth version (the reply octet 1, then closed)
        empty = dict(env, KRB5CCNAME="FILE:" + os.path.join(ctx.tmp, "none.cc"))
        r, got = fetchmail_kpop(ctx, empty, port, tag="none")
        check(r.returncode not in (0, 1), "no ticket: fetchmail fails")
        eq(got, [], "no ticket: nothing fetched")
        # Kerberos IV's application version: reply 2, closed
        s = raw(port)
        s.sendall(HELLO[:27] + b"KPOPV0.1\0")
        eq(read_exact(s, 1), b"\x02", "Kerberos IV refused with reply 2")
        check(closed(s), "closed after the refusal")
        # a garbage AP_REQ: a KRB_ERROR (non-empty error message), closed
        s = raw(port)
        s.sendall(HELLO)
        eq(read_exact(s, 1), b"\x00", "versions accepted")
        s.sendall(struct.pack(">I", 7) + b"garbage")
        n = struct.unpack(">I", read_exact(s, 4))[0]
        check(0 < n < 8192, "a KRB_ERROR comes back (%d octets)" % n)
        check(read_exact(s, n)[:1] == b"\x7e", "it is an [APPLICATION 30]")
        check(closed(s), "closed after the KRB_ERROR")
        # an oversized sendauth length: closed at the length field
        s = raw(port)
        s.sendall(HELLO)
        eq(read_exact(s, 1), b"\x00", "versions accepted")
        s.sendall(struct.pack(">I", 0x7fffffff))
        check(closed(s), "an oversized AP_REQ length is refused")
        wait_for(lambda: "sendauth message too long" in srv.log_text(), 10,
                 "the oversized length logged")
        # another principal's ticket naming alice: USER must match
        menv = kdc.kinit("mallory", os.path.join(ctx.tmp, "mallory.cc"))
        r, got = fetchmail_kpop(ctx, menv, port, tag="mallory")
        check(r.returncode not in (0, 1), "mallory's ticket for alice fails")
        eq(got, [], "mallory got nothing")
        wait_for(lambda: "USER names another user than the ticket"
                 in srv.log_text(), 10, "the mismatch logged")
        # the worker is alive and the mail is still there
        eq(len(srv.read_all("alice")), 1, "alice's message untouched")
        p = srv.login("alice")
        eq(p.stat()[0], 1, "a normal login still works")
        p.quit()
    finally:
        kdc.stop()


class Recorder:
    """A relay from a port of its own to the KPOP listener that keeps
    what the client sent (its sendauth messages)."""

    def __init__(self, target):
        self.target = target
        self.port = free_port()
        self.sent = b""
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(1)
        self.sock.settimeout(30)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        u = socket.create_connection(("127.0.0.1", self.target), IO_TIMEOUT)
        try:
            while True:
                r, _, _ = select.select([c, u], [], [], 30)
                if not r:
                    return
                for a in r:
                    data = a.recv(65536)
                    if not data:
                        return
                    if a is c:
                        self.sent += data
                    (u if a is c else c).sendall(data)
        finally:
            c.close()
            u.close()

    def close(self):
        self.sock.close()
        self.thread.join(10)


def test_replayed_ap_req_refused(ctx):
    """The AP_REQ of a finished KPOP login, sent again on a new
    connection, is refused by the replay cache: an eavesdropper cannot
    log in with it."""
    kdc, srv, env, port = kpop_setup(ctx)
    try:
        rec = Recorder(port)
        r, _ = fetchmail_kpop(ctx, env, rec.port, tag="rec")
        rec.close()
        check_fetchmail_ok(r, "fetchmail through the recorder")
        sent = rec.sent
        check(sent.startswith(HELLO), "the recorded hello")
        n = struct.unpack(">I", sent[len(HELLO):len(HELLO) + 4])[0]
        ap_req = sent[len(HELLO):len(HELLO) + 4 + n]
        eq(len(ap_req), 4 + n, "the recorded AP_REQ")
        s = raw(port)
        s.sendall(HELLO)
        eq(read_exact(s, 1), b"\x00", "versions accepted")
        s.sendall(ap_req)
        n = struct.unpack(">I", read_exact(s, 4))[0]
        check(n > 0, "the replayed AP_REQ gets a KRB_ERROR, not the greeting")
        check(closed(s), "closed after the replay")
        wait_for(lambda: "replay" in srv.log_text().lower(), 10,
                 "the library's replay cache named as the reason")
    finally:
        kdc.stop()
