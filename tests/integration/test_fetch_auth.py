"""satchel fetch: how it logs in and what it trusts (issue #9): every login
mechanism against satchel serve (USER, APOP, PLAIN, CRAM-MD5, SCRAM with
and without channel binding over STLS and implicit TLS), ;AUTH=* choosing
the strongest, no second attempt after a refusal, certificate checks,
plaintext only to loopback, the password file's mode, the accounts file
with its worst exit, and --serverinfo.
"""
import json
import subprocess

from harness import *
from test_tls import CERTS

STORES = ("maildir",)
OPTS = {"apop": "yes"}
TLS_PORT = free_port()
CONFIG = {"sasl_mechanisms": "SCRAM-SHA-256-PLUS SCRAM-SHA-256 "
          "SCRAM-SHA-1-PLUS SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN",
          "listen_tls": "127.0.0.1:%d" % TLS_PORT,
          "tls_cert": CERTS.pair("server")[0],
          "tls_key": CERTS.pair("server")[1]}
USER = "alice"


def password_file(ctx, password=None, mode=0o600):
    path = os.path.join(ctx.tmp, "pass-%d" % mode)
    with open(path, "w") as f:
        f.write((password or PASSWORDS[USER]) + "\n")
    os.chmod(path, mode)
    return path


def fetch(ctx, url, *args, dest=None, state=None, password=None, mode=0o600,
          timeout=60):
    """Runs satchel fetch; returns (exit, stdout, stderr, maildir)."""
    dest = dest or os.path.join(ctx.tmp, "Maildir")
    state = state or os.path.join(ctx.tmp, "state")
    cmd = [SATCHEL, "fetch", url, "--to", "maildir:" + dest,
           "--state-dir", state, "--password-file",
           password_file(ctx, password, mode), "--timeout", "10"] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr, dest


def stored(maildir):
    """The messages stored, as bytes, sorted."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if os.path.isdir(d):
            for n in os.listdir(d):
                with open(os.path.join(d, n), "rb") as f:
                    out.append(f.read())
    return sorted(out)


def filled(ctx, n=3):
    msgs = make_msgs([simple_msg(i) for i in range(n)], "maildir")
    ctx.srv.fill(USER, msgs)
    return sorted(m.data for m in msgs)


def on_server(srv):
    """Messages left in the user's maildrop."""
    root = srv.maildrop(USER)
    return sum(len(os.listdir(os.path.join(root, sub)))
               for sub in ("new", "cur") if os.path.isdir(os.path.join(root, sub)))


def url(ctx, auth=None, tls=False, host="127.0.0.1"):
    a = ";AUTH=%s" % auth if auth else ""
    if tls:
        return "pops://%s%s@%s:%d" % (USER, a, host, TLS_PORT)
    return "pop://%s%s@%s:%d" % (USER, a, host, ctx.srv.port)


def test_every_mechanism(ctx):
    """Each mechanism fetches the mail whole: over STLS (verified against
    the test CA) and, for SCRAM-PLUS, over implicit TLS too."""
    cases = [(None, False), ("+APOP", False), ("PLAIN", False),
             ("LOGIN", False), ("CRAM-MD5", False), ("SCRAM-SHA-1", False),
             ("SCRAM-SHA-256", False), ("SCRAM-SHA-256-PLUS", False),
             ("SCRAM-SHA-1-PLUS", True), ("SCRAM-SHA-256-PLUS", True),
             ("*", True)]
    for auth, tls in cases:
        want = filled(ctx)
        dest = os.path.join(ctx.tmp, "md-%s-%s" % (auth, tls))
        rc, out, err, md = fetch(ctx, url(ctx, auth, tls, "localhost"),
                                 "--cafile", CERTS.ca, dest=dest,
                                 state=dest + ".state")
        eq(rc, 0, "exit with ;AUTH=%s (tls=%s): %s" % (auth, tls, err))
        eq(stored(md), want, "messages with ;AUTH=%s" % auth)
        ctx.srv.wait_unlocked(USER)
        eq(on_server(ctx.srv), 0, "deleted on the server (;AUTH=%s)" % auth)


def test_wrong_password_no_downgrade(ctx):
    """A refused login exits 77 after exactly one attempt: ;AUTH=* does
    not go on to a weaker mechanism."""
    filled(ctx)
    rc, out, err, md = fetch(ctx, url(ctx, "*", True, "localhost"),
                             "--cafile", CERTS.ca, password="wrong-password")
    eq(rc, 77, "exit for a refused login: %s" % err)
    check("login refused" in err, "the log line says why: %s" % err)
    attempts = [l for l in ctx.srv.log_text().splitlines()
                if "auth failed:" in l]
    eq(len(attempts), 1, "login attempts (one, no weaker retry): %s" % attempts)
    check("mech=SCRAM-SHA-256-PLUS" in attempts[0],
          ";AUTH=* over TLS chose the strongest: %s" % attempts[0])
    eq(stored(md), [], "nothing stored")


def test_certificates(ctx):
    """Without the test CA the server's certificate does not verify: 69,
    and no password goes out; plaintext only to loopback."""
    filled(ctx)
    rc, out, err, md = fetch(ctx, url(ctx, None, True, "localhost"))
    eq(rc, 69, "exit for an unverified certificate: %s" % err)
    check("certificate verify failed" in err, "says why: %s" % err)
    # STLS is required for pop:// unless --tls none
    srv = ctx.server(config={"sasl_mechanisms": "PLAIN"}).start()
    srv.fill(USER, make_msgs([simple_msg(1)], "maildir"))
    u = "pop://%s@127.0.0.1:%d" % (USER, srv.port)
    rc, out, err, md = fetch(ctx, u, dest=os.path.join(ctx.tmp, "md2"))
    eq(rc, 69, "exit without STLS: %s" % err)
    check("does not offer STLS" in err, "says why: %s" % err)
    rc, out, err, md = fetch(ctx, u, "--tls", "none",
                             dest=os.path.join(ctx.tmp, "md3"))
    eq(rc, 0, "--tls none to loopback: %s" % err)
    eq(len(stored(md)), 1, "fetched over loopback plaintext")


def test_password_file_mode(ctx):
    """A password file others may read is refused before connecting."""
    filled(ctx)
    rc, out, err, md = fetch(ctx, url(ctx, None, True, "localhost"),
                             "--cafile", CERTS.ca, mode=0o644)
    eq(rc, 78, "exit for a readable password file: %s" % err)
    check("chmod 600" in err, "says what to do: %s" % err)


def test_keep_and_json(ctx):
    """--keep leaves the mail, fetches only what is new next time; --json
    events name each message."""
    want = filled(ctx, 4)
    dest = os.path.join(ctx.tmp, "keep")
    u = url(ctx, "SCRAM-SHA-256", False, "localhost")
    rc, out, err, md = fetch(ctx, u, "--cafile", CERTS.ca, "--keep", "--json",
                             dest=dest)
    eq(rc, 0, "first run: %s" % err)
    events = [json.loads(l) for l in out.splitlines()]
    eq([e["event"] for e in events],
       ["connected"] + ["message"] * 4 + ["done"], "events")
    eq(events[-1]["new"], 4, "done: 4 new")
    eq(events[-1]["deleted"], 0, "done: none deleted")
    rc, out, err, md = fetch(ctx, u, "--cafile", CERTS.ca, "--keep", "--json",
                             dest=dest)
    eq(rc, 0, "second run: %s" % err)
    eq(json.loads(out.splitlines()[-1])["new"], 0, "second run: 0 new")
    eq(stored(md), want, "the Maildir holds each message once")
    ctx.srv.wait_unlocked(USER)
    eq(on_server(ctx.srv), 4, "--keep left them on the server")


def test_accounts_file(ctx):
    """-c FILE: two accounts in parallel, the worst exit wins (77 for the
    wrong password), named accounts only when named."""
    filled(ctx)
    good = password_file(ctx)
    bad = os.path.join(ctx.tmp, "bad.pass")
    with open(bad, "w") as f:
        f.write("nope\n")
    os.chmod(bad, 0o600)
    conf = os.path.join(ctx.tmp, "fetch.conf")
    with open(conf, "w") as f:
        f.write("state_dir = %s/cstate\nparallel = 2\n\n"
                "[good]\nurl = %s\ncafile = %s\npassword_file = %s\n"
                "to = maildir:%s/cgood\nkeep = yes\n\n"
                "[bad]\nurl = %s\ncafile = %s\npassword_file = %s\n"
                "to = maildir:%s/cbad\n"
                % (ctx.tmp, url(ctx, None, True, "localhost"), CERTS.ca, good,
                   ctx.tmp, url(ctx, None, True, "localhost"), CERTS.ca, bad,
                   ctx.tmp))
    p = subprocess.run([SATCHEL, "fetch", "-c", conf], capture_output=True,
                       text=True, timeout=60)
    eq(p.returncode, 77, "worst of 0 and 77: %s" % p.stderr)
    eq(len(stored(os.path.join(ctx.tmp, "cgood"))), 3, "good account fetched")
    p = subprocess.run([SATCHEL, "fetch", "-c", conf, "good"],
                       capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, "only the good account: %s" % p.stderr)
    p = subprocess.run([SATCHEL, "fetch", "-c", conf, "nosuch"],
                       capture_output=True, text=True, timeout=60)
    eq(p.returncode, 64, "an unknown account name")


def test_serverinfo(ctx):
    """--serverinfo: greeting, TLS with the SPKI pin, capabilities before
    and after the login."""
    p = subprocess.run([SATCHEL, "fetch", "--serverinfo",
                        url(ctx, None, True, "localhost"), "--cafile",
                        CERTS.ca, "--password-file", password_file(ctx)],
                       capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, "serverinfo: %s" % p.stderr)
    check("greeting (untrusted): +OK" in p.stdout or
          "greeting (untrusted):" in p.stdout, p.stdout)
    check("SPKI pin: sha256//" in p.stdout, "pin shown: %s" % p.stdout)
    check("capabilities after login:" in p.stdout and
          "PIPELINING" in p.stdout, "after login: %s" % p.stdout)


def test_pin(ctx):
    """--pin: the pin --serverinfo prints lets the fetch through; another
    key's pin stops it before the login."""
    filled(ctx)
    p = subprocess.run([SATCHEL, "fetch", "--serverinfo",
                        url(ctx, None, True, "localhost"), "--cafile",
                        CERTS.ca], capture_output=True, text=True, timeout=60)
    pins = [l.split()[-1] for l in p.stdout.splitlines() if "SPKI pin" in l]
    eq(len(pins), 1, "one pin in: %s" % p.stdout)
    rc, out, err, md = fetch(ctx, url(ctx, None, True, "localhost"),
                             "--cafile", CERTS.ca, "--pin",
                             "sha256//" + "A" * 43 + "=",
                             dest=os.path.join(ctx.tmp, "pin-bad"))
    eq(rc, 69, "exit for another key: %s" % err)
    check("not the pinned one" in err, "says why: %s" % err)
    eq(stored(md), [], "nothing fetched past a wrong pin")
    rc, out, err, md = fetch(ctx, url(ctx, None, True, "localhost"),
                             "--cafile", CERTS.ca, "--pin", pins[0],
                             dest=os.path.join(ctx.tmp, "pin-good"))
    eq(rc, 0, "the right pin: %s" % err)
    eq(len(stored(md)), 3, "fetched with the right pin")


def test_external_client_certificate(ctx):
    """;AUTH=EXTERNAL with --cert/--key (CN=alice, signed by the test CA)
    against a server that verifies client certificates: logged in as the
    certificate's user with no password sent; without a certificate the
    server does not offer EXTERNAL and the login is refused (77); a key
    that is not the certificate's is a configuration error (78)."""
    port = free_port()
    srv = ctx.server(config=dict(CONFIG, **{
        "sasl_mechanisms": "EXTERNAL PLAIN", "tls_ca": CERTS.ca,
        "tls_verify_client": "optional",
        "listen_tls": "127.0.0.1:%d" % port})).start()
    msgs = make_msgs([simple_msg(i) for i in range(2)], "maildir")
    srv.fill(USER, msgs)
    cert, key = CERTS.pair("client")
    u = "pops://%s;AUTH=EXTERNAL@localhost:%d" % (USER, port)
    dest = os.path.join(ctx.tmp, "md-external")
    cmd = [SATCHEL, "fetch", u, "--to", "maildir:" + dest, "--state-dir",
           dest + ".state", "--cafile", CERTS.ca, "--timeout", "10"]
    p = subprocess.run(cmd + ["--cert", cert, "--key", key],
                       capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, "EXTERNAL with the client certificate: %s" % p.stderr)
    eq(stored(dest), sorted(m.data for m in msgs), "the mail fetched")
    srv.fill(USER, msgs)
    p = subprocess.run(cmd + ["--password-file", password_file(ctx)],
                       capture_output=True, text=True, timeout=60)
    eq(p.returncode, 77, "no certificate: EXTERNAL not offered: %s" % p.stderr)
    # alice's certificate for bob's URL: refused, not alice's mail
    bob_url = "pops://bob;AUTH=EXTERNAL@localhost:%d" % port
    bob_cmd = [bob_url if c == u else c for c in cmd]
    p = subprocess.run(bob_cmd + ["--cert", cert, "--key", key],
                       capture_output=True, text=True, timeout=60)
    eq(p.returncode, 77, "another user's certificate is refused: %s" % p.stderr)
    eq(len(os.listdir(srv.maildrop(USER) + "/new")) +
       len(os.listdir(srv.maildrop(USER) + "/cur")), 2, "alice's mail untouched")
    other_key = CERTS.pair("server")[1]
    p = subprocess.run(cmd + ["--cert", cert, "--key", other_key],
                       capture_output=True, text=True, timeout=60)
    eq(p.returncode, 78, "a key that is not the certificate's: %s" % p.stderr)
    check("client key" in p.stderr and "mismatch" in p.stderr, "and says so: %s" % p.stderr)
