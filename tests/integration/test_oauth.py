"""OAUTHBEARER (RFC 7628) and XOAUTH2 with JWTs the test signs itself:
keys made with the openssl CLI, signatures with `openssl dgst -sha256
-sign` (RS256 as it comes, ES256 converted from DER to r||s). Raw-socket
exchanges and curl --oauth2-bearer; expired, wrongly signed, wrong
issuer/audience, alg none, another user's token: each gets the error
challenge, the dummy response gets -ERR [AUTH], and the session can
retry. No token may reach the log (the harness checks every token the
test adds to the server's secrets)."""

import base64
import json
import os
import shutil
import subprocess
import time

from harness import capa_sasl, Skip, check, eq, starts

STORES = None
ISSUER = "https://idp.satchel.test"
AUDIENCE = "pop.satchel.test"
USER = "alice@example.org"
USERS = {USER: "{PLAIN}oauth-unused.Pw1", "alice": "{PLAIN}oauth-unused.Pw2"}


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, input=None):
    r = subprocess.run(["openssl"] + list(args), input=input,
                       capture_output=True, timeout=30)
    check(r.returncode == 0, "openssl %s: %r" % (args[0], r.stderr[-300:]))
    return r.stdout


def make_key(dir, kind):
    """(private key path, public key path) of an RSA-2048 or P-256 key."""
    if not shutil.which("openssl"):
        raise Skip("openssl not installed")
    priv = os.path.join(dir, "%s-key.pem" % kind)
    pub = os.path.join(dir, "%s-pub.pem" % kind)
    if kind == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", priv)
    else:
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", priv)
    openssl("pkey", "-in", priv, "-pubout", "-out", pub)
    return priv, pub


def der_to_raw(der):
    """ECDSA-Sig-Value DER (SEQUENCE of INTEGER r, s) to r||s, 32 octets each
    (RFC 7518 3.4)."""
    check(der[0] == 0x30, "DER sequence")
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7f)
    out = b""
    for _ in range(2):
        check(der[i] == 0x02, "DER integer")
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b"\0").rjust(32, b"\0")
        i += 2 + n
    return out


def token(priv, alg="RS256", claims=None, header=None, exp=300, sign=True):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "email": USER, "sub": "alice",
         "iat": now - 5, "exp": now + exp}
    c.update(claims or {})
    for k in [k for k, v in c.items() if v is None]:
        del c[k]
    h = header or {"alg": alg, "typ": "JWT"}
    signing_input = b64url(json.dumps(h)) + "." + b64url(json.dumps(c))
    if not sign:
        return signing_input + "."
    sig = openssl("dgst", "-sha256", "-sign", priv, input=signing_input.encode())
    if alg == "ES256":
        sig = der_to_raw(sig)
    return signing_input + "." + b64url(sig)


def oauthbearer(tok, user=USER, port=None):
    gs2 = "n,a=%s," % user if user else "n,,"
    return "%s\x01host=127.0.0.1\x01port=%s\x01auth=Bearer %s\x01\x01" % (
        gs2, port or 110, tok)


def xoauth2(tok, user=USER):
    return "user=%s\x01auth=Bearer %s\x01\x01" % (user, tok)


def oauth_server(ctx, kind="rsa", config=None, key=True):
    """A server with OAUTHBEARER and XOAUTH2 and a key of this kind; returns
    (server, private key path)."""
    priv, pub = make_key(ctx.tmp, kind)
    conf = {"sasl_mechanisms": "OAUTHBEARER XOAUTH2 PLAIN",
            "oauth_issuer": ISSUER, "oauth_audience": AUDIENCE}
    conf.update(config or {})
    srv = ctx.server(config=conf, users=USERS)
    if key:
        dst = os.path.join(srv.root, "oauth-pub.pem")
        shutil.copy(pub, dst)
        srv.config["oauth_public_key"] = dst
        srv.write_config()
    return srv.start(), priv


def refused(p, line, mech="OAUTHBEARER"):
    """Sends a client message that must be refused: the error challenge,
    then -ERR [AUTH] for the dummy response."""
    resp = p.cmd(line)
    starts(resp, "+ ", "error challenge")
    err = json.loads(base64.b64decode(resp[2:]))
    if mech == "OAUTHBEARER":
        eq(err.get("status"), "invalid_token", "RFC 7628 3.2.2 status")
        resp = p.cmd(b64("\x01"))    # RFC 7628 3.2.3 dummy response
    else:
        check(err.get("status") == "401", "XOAUTH2 status: %r" % err)
        resp = p.cmd("")             # XOAUTH2 clients send an empty line
    starts(resp, "-ERR [AUTH]", "dummy response after the error")
    return resp


# ------------------------------------------------------------ the tests

def test_oauthbearer_rs256(ctx):
    srv, priv = oauth_server(ctx, "rsa")
    good = token(priv)
    srv.secrets.add(good)
    p = srv.connect()
    eq(capa_sasl(p), ["OAUTHBEARER", "XOAUTH2", "PLAIN"], "offered on loopback")
    # failures, one session
    bad = [token(priv, exp=-300),                                # expired
           good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB"),
           token(priv, claims={"aud": "imap.satchel.test"}),     # audience
           token(priv, claims={"iss": "https://evil.test"}),     # issuer
           token(priv, header={"alg": "none"}, sign=False),      # alg none
           token(priv, claims={"email": None}),                  # no user claim
           token(priv, claims={"email": "nosuch@example.org"})]  # not a user
    for tok in bad:
        srv.secrets.add(tok)
        eq(p.cmd("AUTH OAUTHBEARER"), "+ ", "empty challenge without initial response")
        refused(p, b64(oauthbearer(tok, port=srv.port)))
    eq(p.cmd("AUTH OAUTHBEARER"), "+ ", "empty challenge")
    refused(p, b64(oauthbearer(good, user="bob@example.org")))   # another user
    # malformed messages fail at once, without the error round trip
    eq(p.cmd("AUTH OAUTHBEARER"), "+ ", "empty challenge")
    starts(p.cmd(b64("p=tls-unique,,\x01auth=Bearer x\x01\x01")), "-ERR", "channel binding")
    starts(p.cmd("AUTH OAUTHBEARER"), "+ ", "empty challenge")
    starts(p.cmd("*"), "-ERR", "cancel")
    starts(p.cmd("AUTH OAUTHBEARER"), "+ ", "empty challenge")
    starts(p.cmd("!!notbase64"), "-ERR", "garbage base64")
    # and the same session logs in
    eq(p.cmd("AUTH OAUTHBEARER"), "+ ", "empty challenge")
    p.ok(b64(oauthbearer(good, port=srv.port)))
    eq(p.stat(), (0, 0), "logged in as %s" % USER)
    p.quit()
    # gs2 header without a=: the token names the user
    p = srv.connect()
    eq(p.cmd("AUTH OAUTHBEARER"), "+ ", "empty challenge")
    p.ok(b64(oauthbearer(good, user=None)))
    p.quit()
    log = srv.log_text()
    check("mech=OAUTHBEARER" in log and "token expired" in log,
          "failures logged with their reason")


def test_xoauth2_es256(ctx):
    srv, priv = oauth_server(ctx, "ec")
    good = token(priv, alg="ES256")
    srv.secrets.add(good)
    p = srv.connect()
    eq(p.cmd("AUTH XOAUTH2"), "+ ", "empty challenge")
    rs = token(priv, alg="ES256", header={"alg": "RS256"})
    for tok in (token(priv, alg="ES256", exp=-300), rs,
                token(priv, alg="ES256", claims={"aud": ["x", "y"]})):
        srv.secrets.add(tok)
        refused(p, b64(xoauth2(tok)), mech="XOAUTH2")
        eq(p.cmd("AUTH XOAUTH2"), "+ ", "empty challenge")
    refused(p, b64(xoauth2(good, user="alice")), mech="XOAUTH2")
    eq(p.cmd("AUTH XOAUTH2"), "+ ", "empty challenge")
    starts(p.cmd(b64("auth=Bearer %s\x01\x01" % good)), "-ERR", "XOAUTH2 without user=")
    # success with the message in the AUTH line would exceed 255 octets
    # (RFC 5034 4.), so it goes after the empty challenge
    eq(p.cmd("AUTH XOAUTH2"), "+ ", "empty challenge")
    p.ok(b64(xoauth2(good)))
    p.quit()
    p = srv.connect()
    eq(p.cmd("AUTH OAUTHBEARER"), "+ ", "empty challenge")
    p.ok(b64(oauthbearer(good)))
    p.quit()


def test_oauth_user_claim_sub_and_limits(ctx):
    srv, priv = oauth_server(ctx, "rsa", config={"oauth_user_claim": "sub",
                                                 "sasl_max_line": "1024"})
    good = token(priv)
    srv.secrets.add(good)
    p = srv.connect()
    eq(p.cmd("AUTH XOAUTH2"), "+ ", "empty challenge")
    refused(p, b64(xoauth2(good, user=USER)), mech="XOAUTH2")  # sub is "alice"
    # a token longer than sasl_max_line: -ERR, the session goes on
    big = token(priv, claims={"pad": "x" * 1200})
    srv.secrets.add(big)
    eq(p.cmd("AUTH XOAUTH2"), "+ ", "empty challenge")
    resp = p.cmd(b64(xoauth2(big, user="alice")))
    check(resp.startswith("-ERR") and "longer" in resp, "over-long token: %s" % resp)
    eq(p.cmd("AUTH XOAUTH2"), "+ ", "empty challenge")
    p.ok(b64(xoauth2(good, user="alice")))
    p.quit()


def test_oauth_capa_and_policy(ctx):
    srv, priv = oauth_server(ctx, "rsa", key=False)
    p = srv.connect()
    eq(capa_sasl(p), ["PLAIN"], "no oauth_public_key: not offered")
    starts(p.cmd("AUTH OAUTHBEARER"), "-ERR", "not configured")
    p.quit()
    srv2, priv2 = oauth_server(ctx, "rsa", config={"plaintext_auth": "never"})
    good = token(priv2)
    srv2.secrets.add(good)
    p = srv2.connect()
    eq(capa_sasl(p), [], "bearer tokens are treated like passwords")
    resp = p.cmd("AUTH XOAUTH2")
    check(resp.startswith("-ERR [AUTH]") and "STLS" in resp, "refused: %s" % resp)
    p.quit()


def test_curl_oauth2_bearer(ctx):
    if not shutil.which("curl"):
        raise Skip("curl not installed")
    # curl prefers OAUTHBEARER; a server offering only XOAUTH2 makes it
    # use that one
    for mechs, want in (("OAUTHBEARER XOAUTH2", "OAUTHBEARER"), ("XOAUTH2", "XOAUTH2")):
        srv, priv = oauth_server(ctx, "rsa", config={"sasl_mechanisms": mechs})
        good = token(priv)
        expired = token(priv, exp=-300)
        srv.secrets.update((good, expired))
        url = "pop3://127.0.0.1:%d/" % srv.port
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "-u", USER + ":",
                            "--oauth2-bearer", good, url],
                           capture_output=True, text=True, timeout=30)
        eq(r.returncode, 0, "curl --oauth2-bearer, %s (%r)" % (want, r.stderr[-300:]))
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "-u", USER + ":",
                            "--oauth2-bearer", expired, url],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0, "curl with an expired token fails (%s)" % want)
        # curl cancels after the error challenge; the auth process logs
        # the failure when the worker's ABORT reaches it, which may be
        # just after curl has exited
        line = "auth failed: mech=%s user=%s" % (want, USER)
        deadline = time.monotonic() + 3
        while line not in srv.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        check(line in srv.log_text(),
              "curl used %s: %s" % (want, srv.log_tail(4)))
