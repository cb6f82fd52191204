"""Users in LDAP (issue 10, 4. and 6.): `users = ldap:URIS` against
OpenLDAP's slapd from Debian, started by the tests (slapd.py) in a temp
dir on a port of the harness's block, with a service account bound by
DN and a password file. Logins with USER/PASS and AUTH PLAIN against
{CRYPT} SHA-512-crypt and {SSHA} hashes; a wrong password and an unknown
user read the same, with similar timing; a login name built to widen the
filter ("*)(uid=*", "al*") matches nobody; the directory stopped ->
[SYS/TEMP] for users never seen, the cached ones stale, then logins again
once it is back; a hung directory (SIGSTOP) -> answers within the search
timeout; a dead first URI -> the second serves; StartTLS and ldaps with
the CA checked (a wrong CA -> [SYS/TEMP]); LMTP delivery to an LDAP user
and satchel deliver through the same lookup (EX_TEMPFAIL with the
directory down); attributes of the admin's choice for the mail location
and the quota; ldap_auth_bind = yes (the password checked by a
bind as the user: a hash only slapd can check logs in, an empty password
never binds, CAPA offers only PLAIN and LOGIN, the directory down is
[SYS/TEMP] even for a cached user)."""

import base64
import hashlib
import os
import smtplib
import subprocess
import tempfile
import time

import harness
import slapd
from harness import *

STORES = None                   # each test makes its server

SALT = b"sAlt9"


def ssha(password, salt=SALT):
    return "{SSHA}" + base64.b64encode(
        hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def sha512_crypt(password, salt="q8Yx2LmA", rounds=None):
    argv = ["openssl", "passwd", "-6", "-salt", salt, password]
    if rounds:
        import crypt
        return crypt.crypt(password, "$6$rounds=%d$%s$" % (rounds, salt))
    p = subprocess.run(argv, capture_output=True, timeout=30, check=True)
    return p.stdout.decode().strip()


def mail_ids():
    if is_root():
        import pwd
        pw = pwd.getpwnam(MAIL_USER)
        return pw.pw_uid, pw.pw_gid
    return os.getuid(), os.getgid()


def people(extra=None):
    """alice and carol with {CRYPT} SHA-512-crypt, bob and dave with
    {SSHA}; erin is not in the directory."""
    uid, gid = mail_ids()
    out = []
    for u in ("alice", "bob", "carol", "dave"):
        pw = harness.PASSWORDS[u]
        stored = "{CRYPT}" + sha512_crypt(pw) if u in ("alice", "carol") \
            else ssha(pw)
        out.append(slapd.person(u, stored, uid, gid, "/home/" + u))
    for u, stored in (extra or {}).items():
        out.append(slapd.person(u, stored, uid, gid, "/home/" + u))
    return "\n".join(out)


def need_slapd():
    if not slapd.available():
        raise Skip("slapd and ldap-utils not installed (make deps)")


def make_directory(ctx, tls=False, extra=None):
    need_slapd()
    d = tempfile.mkdtemp(prefix="satchel-ldap-")
    ctx.cleanups = getattr(ctx, "cleanups", [])
    directory = slapd.Directory(d, people(extra), tls=tls)
    ctx.cleanups.append(directory.stop)
    ctx.cleanups.append(lambda: subprocess.run(["rm", "-rf", d]))
    return directory.start()


def finish(ctx):
    # the directory first, then its files (in the order they were added)
    for f in getattr(ctx, "cleanups", []):
        f()


def ldap_server(ctx, uris, config=None, users=("alice", "bob", "carol",
                                                "dave", "erin"), prefix=None):
    srv = ctx.server(store="maildir", workers=1, config={})
    if prefix is not None:
        srv.prefix = prefix
    pwfile = os.path.join(srv.root, "ldap-bind.pw")
    with open(pwfile, "w") as f:
        f.write(slapd.SERVICE_PW + "\n")
    os.chmod(pwfile, 0o600)
    srv.secrets = list(srv.secrets) + [slapd.SERVICE_PW]
    cfg = {"users": "ldap:" + uris,
           "ldap_base": slapd.PEOPLE,
           "ldap_bind_dn": slapd.SERVICE_DN,
           "ldap_bind_password_file": pwfile,
           "ldap_timeout": "1500",
           "ldap_network_timeout": "1500"}
    # "{root}" in a value: the server's directory (sandbox_mail_root)
    cfg.update({k: v.replace("{root}", srv.root)
                for k, v in (config or {}).items()})
    srv.config.update(cfg)
    srv.write_config()
    srv.fix_owner()             # the auth process reads the file
    for u in users:
        srv.fill(u, [])
    srv.start()
    return srv


try_login = harness.pass_reply


def try_plain(srv, user, password):
    p = srv.connect()
    try:
        token = base64.b64encode(("\0%s\0%s" % (user, password))
                                 .encode()).decode()
        return p.cmd("AUTH PLAIN " + token)
    finally:
        p.close()


def test_logins(ctx):
    try:
        d = make_directory(ctx)
        srv = ldap_server(ctx, d.uri())
        # {CRYPT} $6$ over USER/PASS, {SSHA} over USER/PASS
        p = srv.login("alice")
        eq(p.stat()[0], 0, "alice's maildrop")
        p.quit()
        starts(try_login(srv, "bob", harness.PASSWORDS["bob"]), "+OK",
               "bob ({SSHA}) with USER/PASS")
        # AUTH PLAIN: the lookup under way, the check parked, then run
        starts(try_plain(srv, "carol", harness.PASSWORDS["carol"]), "+OK",
               "carol ({CRYPT}) with AUTH PLAIN")
        starts(try_plain(srv, "dave", harness.PASSWORDS["dave"]), "+OK",
               "dave ({SSHA}) with AUTH PLAIN")
        bad = try_login(srv, "carol", "not-her-password")
        unknown = try_login(srv, "erin", harness.PASSWORDS["erin"])
        check(bad.startswith("-ERR [AUTH]"), "wrong password: %s" % bad)
        eq(unknown, bad, "an unknown user is refused as a wrong password")
        bad_ssha = try_login(srv, "bob", "not-bobs")
        eq(bad_ssha, bad, "a wrong password against {SSHA}")
        # from the cache now: the same texts again
        eq(try_login(srv, "carol", "not-her-password"), bad, "cached wrong")
        eq(try_login(srv, "erin", "whatever"), bad, "cached unknown")
        plain_bad = try_plain(srv, "nosuch", "x")
        check(plain_bad.startswith("-ERR [AUTH]"),
              "AUTH PLAIN for an unknown user: %s" % plain_bad)
        eq(try_plain(srv, "alice", "wrong"), plain_bad,
           "AUTH PLAIN: wrong password reads as unknown user")
        check("ldap: lookup of" not in srv.log_text(),
              "no failed lookup logged: %s" % srv.log_tail(8))
    finally:
        finish(ctx)


def test_filter_injection(ctx):
    """Names that would widen an unescaped filter: "*)(uid=*" makes
    (&(objectClass=posixAccount)(uid=*)(uid=*)) and "al*" (uid=al*),
    which would find alice; escaped (RFC 4515) they match nobody, so
    alice's password does not log them in and they read as unknown."""
    try:
        d = make_directory(ctx)
        srv = ldap_server(ctx, d.uri())
        unknown = try_login(srv, "nosuch", harness.PASSWORDS["alice"])
        check(unknown.startswith("-ERR [AUTH]"), "unknown: %s" % unknown)
        for name in ("*)(uid=*", "al*", "*", "alice)(uid=*",
                     "x)(|(uid=alice"):
            r = try_login(srv, name, harness.PASSWORDS["alice"])
            check(r.startswith("-ERR"), "%r with alice's password is "
                  "refused: %s" % (name, r))
            check(not r.startswith("-ERR [SYS/TEMP]"),
                  "%r is no directory error (no second entry found): %s"
                  % (name, r))
            r = try_plain(srv, name, harness.PASSWORDS["alice"])
            check(r.startswith("-ERR [AUTH]"),
                  "%r by AUTH PLAIN: %s" % (name, r))
        check("more than one entry" not in srv.log_text(),
              "no filter matched several entries: %s" % srv.log_tail(8))
        starts(try_login(srv, "alice", harness.PASSWORDS["alice"]), "+OK",
               "alice herself")
    finally:
        finish(ctx)


def test_directory_down_and_back(ctx):
    try:
        d = make_directory(ctx)
        # TTL 0: what answers during the outage is the stale use
        srv = ldap_server(ctx, d.uri(), {"user_cache_ttl": "0"})
        starts(try_login(srv, "alice", harness.PASSWORDS["alice"]), "+OK",
               "alice before the outage")
        d.stop()
        r, took = timed(try_login, srv, "bob", harness.PASSWORDS["bob"])
        check(r.startswith("-ERR [SYS/TEMP]"),
              "a user never seen while the directory is down: %s" % r)
        check(took < 3, "[SYS/TEMP] within 3 s (took %.1fs)" % took)
        for i in range(5):
            r, took = timed(try_login, srv, "carol",
                            harness.PASSWORDS["carol"])
            check(r.startswith("-ERR [SYS/TEMP]"), "carol: %s" % r)
            check(took < 1, "the circuit answers at once (%.2fs)" % took)
        r = try_login(srv, "alice", harness.PASSWORDS["alice"])
        starts(r, "+OK", "alice, seen before, from the cache (stale)")
        r = try_login(srv, "alice", "not-alices")
        check(r.startswith("-ERR [AUTH]"), "a wrong password never "
              "succeeds from the cache: %s" % r)
        check("alice answered from the cache (stale" in srv.log_text(),
              "the stale use is logged")
        check(" is down " in srv.log_text(), "the URI is logged down")
        d.start()
        wait_for(lambda: try_login(srv, "bob", harness.PASSWORDS["bob"])
                 .startswith("+OK"), 40,
                 lambda: "bob after the directory came back (log: %s)"
                 % srv.log_tail(6))
        check("is up again" in srv.log_text(), "the recovery is logged")
    finally:
        finish(ctx)


def test_hung_directory(ctx):
    try:
        d = make_directory(ctx)
        srv = ldap_server(ctx, d.uri(), {"user_cache_ttl": "0",
                                         "ldap_timeout": "1000"})
        starts(try_login(srv, "alice", harness.PASSWORDS["alice"]), "+OK",
               "alice")
        d.pause()
        r, took = timed(try_login, srv, "bob", harness.PASSWORDS["bob"])
        check(r.startswith("-ERR [SYS/TEMP]"), "bob, never seen, while "
              "slapd is stopped: %s (log: %s)" % (r, srv.log_tail(12)))
        check(took < 3, "answered within the search timeout (%.2fs)" % took)
        r, took = timed(try_login, srv, "alice", harness.PASSWORDS["alice"])
        starts(r, "+OK", "alice from the cache while slapd hangs")
        check(took < 3, "alice answered in %.2fs" % took)
        d.resume()
        wait_for(lambda: try_login(srv, "bob", harness.PASSWORDS["bob"])
                 .startswith("+OK"), 40,
                 lambda: "bob after SIGCONT (log: %s)" % srv.log_tail(6))
    finally:
        finish(ctx)


def test_second_uri(ctx):
    try:
        d = make_directory(ctx)
        dead = "ldap://127.0.0.1:%d/" % harness.free_port()
        srv = ldap_server(ctx, dead + " " + d.uri())
        r, took = timed(try_login, srv, "alice", harness.PASSWORDS["alice"])
        starts(r, "+OK", "alice through the second URI (log: %s)"
               % srv.log_tail(6))
        check(took < 5, "answered in %.1fs" % took)
        check(dead in srv.log_text() and " is down " in srv.log_text(),
              "the first URI is logged down")
    finally:
        finish(ctx)


def test_tls(ctx):
    try:
        d = make_directory(ctx, tls=True)
        srv = ldap_server(ctx, d.uri(), {"ldap_starttls": "yes",
                                         "ldap_tls_cafile": d.ca})
        starts(try_login(srv, "alice", harness.PASSWORDS["alice"]), "+OK",
               "alice over StartTLS (log: %s)" % srv.log_tail(6))
        srv2 = ldap_server(ctx, d.uri(tls=True), {"ldap_tls_cafile": d.ca})
        starts(try_login(srv2, "bob", harness.PASSWORDS["bob"]), "+OK",
               "bob over ldaps (log: %s)" % srv2.log_tail(6))
        # another CA: the directory's certificate is not trusted
        other = tempfile.mkdtemp(prefix="satchel-ldap-ca-")
        ctx.cleanups.append(lambda: subprocess.run(["rm", "-rf", other]))
        wrong_ca = slapd.make_ca(other)[0]
        srv3 = ldap_server(ctx, d.uri(tls=True),
                           {"ldap_tls_cafile": wrong_ca})
        r = try_login(srv3, "carol", harness.PASSWORDS["carol"])
        check(r.startswith("-ERR [SYS/TEMP]"), "an untrusted directory "
              "certificate: %s" % r)
        check(" is down (bind: " in srv3.log_text(), "the handshake (in "
              "the bind) failed, not the settings: %s" % srv3.log_tail(4))
        srv4 = ldap_server(ctx, d.uri(), {"ldap_starttls": "yes",
                                          "ldap_tls_cafile": wrong_ca})
        r = try_login(srv4, "carol", harness.PASSWORDS["carol"])
        check(r.startswith("-ERR [SYS/TEMP]"), "StartTLS, untrusted "
              "certificate: %s" % r)
    finally:
        finish(ctx)


def test_lmtp_delivery(ctx):
    try:
        d = make_directory(ctx)
        port = free_port()
        srv = ldap_server(ctx, d.uri(), {
            "lmtp_listen": "127.0.0.1:%d" % port, "lmtp_workers": "1"})
        c = smtplib.LMTP("127.0.0.1", port)
        try:
            msg = ("From: a@example.org\r\nSubject: to LDAP\r\nMessage-ID: "
                   "<%d@t>\r\n\r\nbody\r\n" % time.monotonic_ns())
            refused = {}
            try:
                refused = c.sendmail("a@example.org", ["bob", "erin"], msg)
            except smtplib.SMTPRecipientsRefused as e:
                refused = e.recipients
        finally:
            c.quit()
        check("erin" in refused, "erin (not in the directory) is refused: "
              "%s" % refused)
        check("bob" not in refused, "bob accepted: %s" % refused)
        wait_for(lambda: len(srv.maildir_files("bob")) == 1, 5,
                 "bob's message in his Maildir")
        p = srv.login("bob")
        eq(p.stat()[0], 1, "bob reads the message delivered over LMTP")
        p.quit()
        # satchel deliver: the same lookup, the driver waiting itself
        msg = b"Subject: deliver to LDAP\nMessage-ID: <ld.1@t>\n\nhi\n"
        r = subprocess.run([harness.SATCHEL, "deliver", "-c", srv.conf_path,
                            "-f", "s@example.org", "-d", "carol"],
                           input=msg, capture_output=True, timeout=30)
        eq(r.returncode, 0, "satchel deliver to carol (%s)" % r.stderr)
        eq(len(srv.maildir_files("carol")), 1, "carol's message")
        r = subprocess.run([harness.SATCHEL, "deliver", "-c", srv.conf_path,
                            "-d", "erin"], input=msg, capture_output=True,
                           timeout=30)
        eq(r.returncode, 67, "satchel deliver to erin, not in the "
           "directory (%s)" % r.stderr)
        d.stop()
        r = subprocess.run([harness.SATCHEL, "deliver", "-c", srv.conf_path,
                            "-d", "dave"], input=msg, capture_output=True,
                           timeout=30)
        eq(r.returncode, 75, "satchel deliver with the directory down: "
           "EX_TEMPFAIL (%s)" % r.stderr)
    finally:
        finish(ctx)


def test_timing_unknown_vs_wrong(ctx):
    """Unknown users take the same-scheme dummy: against a slow
    SHA-512-crypt hash (~100 ms), an unknown name and a wrong password
    answer alike and within 20 % (as test_users_sqlite measures)."""
    try:
        slow = "{CRYPT}" + sha512_crypt("slow-Pw.93kq", "aPq3xZ01",
                                        rounds=400000)
        d = make_directory(ctx, extra={"slowpoke": slow})
        # on one core (harness.one_core), as test_users_sqlite
        srv = ldap_server(ctx, d.uri(), users=("slowpoke",),
                          prefix=one_core())
        # the dummy is learned from the first user looked up
        try_login(srv, "slowpoke", "warm-up")
        check_unknown_like_wrong(srv, "slowpoke", "LDAP")
    finally:
        finish(ctx)


def test_attribute_map(ctx):
    """ldap_attributes with attributes of the admin's choice: a mail
    location (description=mail) and a delivery quota
    (employeeNumber=quota_bytes), read over POP3 and LMTP."""
    try:
        pw = "frank-Pw.5Tq1"
        d = make_directory(ctx, extra={"frank": ssha(pw)})
        port = free_port()
        srv = ldap_server(ctx, d.uri(), {
            "ldap_attributes": "userPassword=password,uidNumber=uid,"
                               "gidNumber=gid,description=mail,"
                               "employeeNumber=quota_bytes",
            "lmtp_listen": "127.0.0.1:%d" % port, "lmtp_workers": "1",
            # frank's maildrop is outside the mail pattern's directory
            "sandbox_mail_root": "{root}/mail, {root}/elsewhere"},
            users=("alice",))
        srv.secrets = list(srv.secrets) + [pw]
        place = os.path.join(srv.root, "elsewhere", "frank")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(place, sub))
        with open(os.path.join(place, "new", "1.frank"), "wb") as f:
            f.write(b"Subject: where the directory says\n\nhi\n")
        srv.fix_owner()
        d.modify("dn: uid=frank,%s\nchangetype: modify\nreplace: "
                 "description\ndescription: maildir:%s\n-\nreplace: "
                 "employeeNumber\nemployeeNumber: 100\n"
                 % (slapd.PEOPLE, place))
        p = srv.login("frank", pw)
        eq(p.stat()[0], 1, "frank's Maildir is the one description names")
        p.quit()
        c = smtplib.LMTP("127.0.0.1", port)
        try:
            big = ("From: a@example.org\r\nSubject: big\r\n\r\n" +
                   "x" * 500 + "\r\n")
            try:
                refused = c.sendmail("a@example.org", ["frank"], big)
            except smtplib.SMTPRecipientsRefused as e:
                refused = e.recipients
            except smtplib.SMTPDataError as e:
                refused = {"frank": (e.smtp_code, e.smtp_error)}
        finally:
            c.quit()
        check("frank" in refused and b"mailbox full" in refused["frank"][1],
              "a message over frank's 100-octet quota is refused: %s"
              % refused)
        eq(len(os.listdir(os.path.join(place, "new"))), 1,
           "nothing delivered over the quota")
    finally:
        finish(ctx)


def md5_scheme(password):
    """{MD5}: a scheme slapd checks and satchel does not."""
    return "{MD5}" + base64.b64encode(
        hashlib.md5(password.encode()).digest()).decode()


def test_auth_bind(ctx):
    try:
        frank_pw = "frank-Pw.8Lk2"
        d = make_directory(ctx, extra={"frank": md5_scheme(frank_pw)})
        srv = ldap_server(ctx, d.uri(), {
            "ldap_auth_bind": "yes",
            # no password attribute: the directory checks it
            "ldap_attributes": "uidNumber=uid,gidNumber=gid,"
                               "homeDirectory=home",
            "sasl_mechanisms": "SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN"},
            users=("alice", "bob", "carol", "frank"))
        srv.secrets = list(srv.secrets) + [frank_pw]
        p = srv.connect()
        eq(capa_sasl(p), ["PLAIN", "LOGIN"], "CAPA offers only what a "
           "bind can serve")
        r = p.cmd("AUTH CRAM-MD5")
        check(r.startswith("-ERR"), "CRAM-MD5 refused: %s" % r)
        p.close()
        starts(try_login(srv, "alice", harness.PASSWORDS["alice"]), "+OK",
               "alice ({CRYPT} in the directory) by a bind (log: %s)"
               % srv.log_tail(6))
        starts(try_login(srv, "frank", frank_pw), "+OK",
               "frank ({MD5}: only slapd can check it)")
        starts(try_plain(srv, "bob", harness.PASSWORDS["bob"]), "+OK",
               "bob by AUTH PLAIN")
        bad = try_login(srv, "carol", "not-her-password")
        check(bad.startswith("-ERR [AUTH]"), "wrong password: %s" % bad)
        eq(try_login(srv, "nosuch", "whatever"), bad,
           "an unknown user reads as a wrong password")
        eq(try_login(srv, "*)(uid=*", harness.PASSWORDS["alice"]), bad,
           "an injection attempt reads as unknown")
        # an empty password would be an unauthenticated bind, which
        # LDAP servers may answer with success (RFC 4513 5.1.2)
        r = try_plain(srv, "alice", "")
        check(r.startswith("-ERR [AUTH]"), "empty password: %s" % r)
        starts(try_login(srv, "alice", harness.PASSWORDS["alice"]), "+OK",
               "alice again (her record cached, the bind done anew)")
        eq(try_login(srv, "alice", "not-alices"), bad,
           "a wrong password with the record cached")
        # the record is cached, but no bind can be made: not [AUTH]
        d.stop()
        r, took = timed(try_login, srv, "alice", harness.PASSWORDS["alice"])
        check(r.startswith("-ERR [SYS/TEMP]"), "alice while the directory "
              "is down: %s" % r)
        check(took < 3, "answered in %.1fs" % took)
        d.start()
        wait_for(lambda: try_login(srv, "alice", harness.PASSWORDS["alice"])
                 .startswith("+OK"), 20,
                 lambda: "alice after the directory came back (log: %s)"
                 % srv.log_tail(6))
    finally:
        finish(ctx)
