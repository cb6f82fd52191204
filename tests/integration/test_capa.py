"""CAPA (RFC 2449) in both states, true to the config."""
from harness import *

STORES = ("maildir",)


def capa(p):
    data = p.multi_ok("CAPA")
    return [l for l in data.decode("latin-1").split("\r\n") if l]


def names(caps):
    return {c.split()[0].upper(): c for c in caps}


def check_caps(caps, expire="NEVER", login_delay=None, user=True):
    n = names(caps)
    for want in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                 "EXPIRE", "IMPLEMENTATION"):
        check(want in n, "CAPA lacks %s: %s" % (want, caps))
    if user:
        check("USER" in n, "CAPA lacks USER (plaintext allowed on loopback): %s" % caps)
    eq(n["EXPIRE"].split()[1:2], [expire], "EXPIRE capability %r" % n["EXPIRE"])
    check(n["IMPLEMENTATION"].startswith("IMPLEMENTATION satchel-"),
          "IMPLEMENTATION %r" % n["IMPLEMENTATION"])
    if login_delay is None:
        check("LOGIN-DELAY" not in n, "LOGIN-DELAY advertised with login_delay = 0: %s" % caps)
    else:
        eq(n.get("LOGIN-DELAY", "").split()[1:2], [str(login_delay)], "LOGIN-DELAY capability")
    check(len(caps) == len(n), "duplicate capabilities: %s" % caps)


def test_capa_authorization(ctx):
    p = ctx.srv.connect()
    check_caps(capa(p))
    p.quit()


def test_capa_transaction(ctx):
    ctx.srv.fill("alice", [])
    p = ctx.srv.login("alice")
    caps = capa(p)
    n = names(caps)
    for want in ("TOP", "UIDL", "RESP-CODES", "PIPELINING", "EXPIRE", "IMPLEMENTATION"):
        check(want in n, "CAPA (TRANSACTION) lacks %s: %s" % (want, caps))
    eq(n["EXPIRE"].split()[1:2], ["NEVER"], "EXPIRE in TRANSACTION")
    p.quit()


def test_capa_after_user_before_pass(ctx):
    p = ctx.srv.connect()
    p.ok("USER alice")
    check_caps(capa(p))
    p.ok("PASS " + ctx.srv.passwords["alice"])
    p.quit()


def test_capa_expire_and_login_delay_configured(ctx):
    srv = ctx.server(opts={"expire": "30", "login_delay": "5"}).start()
    p = srv.connect()
    check_caps(capa(p), expire="30", login_delay=5)
    p.quit()


def test_capa_expire_zero(ctx):
    srv = ctx.server(opts={"expire": "0"}).start()
    p = srv.connect()
    check_caps(capa(p), expire="0")
    p.quit()


def test_plaintext_never(ctx):
    """plaintext_auth = never: USER not advertised and refused."""
    srv = ctx.server(opts={"plaintext_auth": "never"}).start()
    p = srv.connect()
    caps = capa(p)
    check("USER" not in names(caps), "USER advertised with plaintext_auth = never: %s" % caps)
    resp = p.cmd("USER alice")
    if resp.startswith("+OK"):
        resp = p.cmd("PASS " + srv.passwords["alice"])
    starts(resp, "-ERR", "USER/PASS with plaintext_auth = never")
    p.quit()


def test_plaintext_always(ctx):
    srv = ctx.server(opts={"plaintext_auth": "always"}).start()
    p = srv.connect()
    check("USER" in names(capa(p)), "USER missing with plaintext_auth = always")
    p.login("alice", srv.passwords["alice"])
    p.quit()


def test_xtnd_xmit_only_when_enabled(ctx):
    """XTND XMIT is listed exactly when xtnd_xmit = yes (on loopback: no
    TLS needed), in both states; LAST and the client workarounds are no
    extensions and never listed."""
    ctx.srv.fill("alice", [])
    p = ctx.srv.login("alice")
    check(not any(c.startswith("XTND") for c in capa(p)), "XTND listed while off")
    p.quit()
    srv = ctx.server(opts={"xtnd_xmit": "yes", "last_command": "persistent",
                           "client_workarounds": "oe-ns-eoh"}).start()
    p = srv.connect()
    caps = capa(p)
    check_caps(caps)
    check("XTND XMIT" in caps, "XTND XMIT missing before login: %s" % caps)
    p.login("alice", srv.passwords["alice"])
    caps = capa(p)
    check("XTND XMIT" in caps, "XTND XMIT missing after login: %s" % caps)
    check(not any(c.split()[0] in ("LAST", "OE-NS-EOH") for c in caps),
          "not extensions, yet listed: %s" % caps)
    p.quit()
