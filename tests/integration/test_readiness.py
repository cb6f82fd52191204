"""The readiness handshake: a worker accepts only once its auth process has
said which file-backed mechanisms (GSSAPI keytab, OAuth key) it can
serve, so CAPA and AUTH are true on the very first connection after a
start, a SIGHUP and an auth-process restart; the master logs one "ready"
line per generation and sends READY=1 to systemd's NOTIFY_SOCKET."""

import os
import signal
import socket
import time

from harness import capa_sasl, check, eq, wait_for

STORES = None
MECHS = ["GSSAPI", "OAUTHBEARER", "XOAUTH2", "PLAIN"]


def mech_server(ctx, workers=2, env=None):
    """A server offering GSSAPI and OAuth; the keytab and key only need to
    be readable by the auth process for CAPA to offer them."""
    srv = ctx.server(config={"sasl_mechanisms": " ".join(MECHS),
                             "oauth_issuer": "https://idp.test",
                             "oauth_audience": "pop.test"},
                     workers=workers, env=env)
    for key, name in (("gssapi_keytab", "pop.keytab"),
                      ("oauth_public_key", "oauth-pub.pem")):
        path = os.path.join(srv.root, name)
        with open(path, "w") as f:
            f.write("not parsed for CAPA\n")
        os.chmod(path, 0o644)
        srv.config[key] = path
    srv.write_config()
    return srv


def burst_capa(srv, n, what):
    """n connections opened at once, each asked CAPA: every one must
    offer every mechanism (they spread over the workers)."""
    conns = [srv.connect() for _ in range(n)]
    try:
        for i, p in enumerate(conns):
            eq(capa_sasl(p), MECHS, "SASL in CAPA, connection %d %s" % (i + 1, what))
    finally:
        for p in conns:
            p.close()


def test_capa_true_on_first_connection_after_start(ctx):
    for attempt in range(3):
        srv = mech_server(ctx)
        srv.start()
        burst_capa(srv, 8, "right after start (attempt %d)" % (attempt + 1))
        srv.stop()


def test_ready_line_once_per_generation(ctx):
    srv = mech_server(ctx).start()
    eq(srv.ready_generations(srv.log_start), [1], "ready lines after start")
    eq(len(srv.workers_now()), 2, "workers listening when ready was logged")
    srv.reload()
    eq(srv.ready_generations(srv.log_start), [1, 2], "ready lines after one SIGHUP")


def test_capa_true_during_and_after_sighup(ctx):
    srv = mech_server(ctx).start()
    before = srv.generation
    # Connections made while the new generation starts are served by an
    # old worker or wait in the listen queue for a new one that has heard
    # its auth process: never by a worker that has not.
    srv.signal(signal.SIGHUP)
    burst_capa(srv, 8, "while the SIGHUP generation starts")
    srv.wait_generation_after(before)
    burst_capa(srv, 8, "after the SIGHUP generation said ready")


def test_capa_true_after_auth_restart(ctx):
    srv = mech_server(ctx).start()
    auth = [pid for pid, comm in srv.children().items() if comm == "satchel-auth"]
    eq(len(auth), 1, "auth processes")
    before = srv.generation
    ctx.workers_may_change = True
    os.kill(auth[0], signal.SIGKILL)
    burst_capa(srv, 6, "while a new auth process starts")
    srv.wait_generation_after(before)
    burst_capa(srv, 8, "after the auth restart")


def test_sd_notify_ready(ctx):
    path = os.path.join(ctx.tmp, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o666)
    sock.settimeout(15)
    try:
        srv = mech_server(ctx, env={"NOTIFY_SOCKET": path})
        srv.start()
        msg = sock.recv(4096).decode()
        fields = dict(l.split("=", 1) for l in msg.split("\n") if "=" in l)
        eq(fields.get("READY"), "1", "READY in %r" % msg)
        eq(fields.get("MAINPID"), str(srv.proc.pid), "MAINPID in %r" % msg)
        burst_capa(srv, 4, "after READY=1")
        srv.signal(signal.SIGHUP)
        msg = sock.recv(4096).decode()
        check("READY=1" in msg, "READY=1 after SIGHUP: %r" % msg)
        check("generation 2" in msg, "STATUS names generation 2: %r" % msg)
    finally:
        sock.close()
