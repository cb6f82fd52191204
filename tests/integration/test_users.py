"""passwd-file users: hash schemes, extra fields, `satchel user ...`."""
import crypt
import ctypes
import ctypes.util
import os

from harness import *

STORES = None


def yescrypt(pw):
    lib = ctypes.CDLL(ctypes.util.find_library("crypt"))
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    salt = lib.crypt_gensalt(b"$y$", 0, None, 0)
    check(salt, "crypt_gensalt($y$) failed")
    return crypt.crypt(pw, salt.decode())


SCHEMES = {
    "ycrypt": ("{CRYPT}", lambda pw: yescrypt(pw)),
    "sha512": ("{SHA512-CRYPT}", lambda pw: crypt.crypt(pw, crypt.mksalt(crypt.METHOD_SHA512))),
    "sha512c": ("{CRYPT}", lambda pw: crypt.crypt(pw, crypt.mksalt(crypt.METHOD_SHA512))),
    "blf": ("{BLF-CRYPT}", lambda pw: crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))),
    "bare": ("", lambda pw: crypt.crypt(pw, crypt.mksalt(crypt.METHOD_SHA512))),
}


def test_hash_schemes_login(ctx):
    users, secrets = {}, []
    for name, (prefix, fn) in SCHEMES.items():
        pw = "%s-Pw.h%d" % (name, len(name))
        users[name] = prefix + fn(pw)
        secrets.append(pw)
    srv = ctx.server("maildir", users=users, secrets=secrets).start()
    bad = []
    for name in SCHEMES:
        pw = "%s-Pw.h%d" % (name, len(name))
        p = srv.connect()
        p.ok("USER " + name)
        resp = p.cmd("PASS " + pw)
        if not resp.startswith("+OK"):
            bad.append("%s (%s): correct password got %r" % (name, users[name][:20], resp))
        p.quit()
        p = srv.connect()
        p.ok("USER " + name)
        resp = p.cmd("PASS " + pw + "x")
        if resp != "-ERR [AUTH] invalid user name or password":
            bad.append("%s: wrong password got %r" % (name, resp))
        p.quit()
    check(not bad, "; ".join(bad))


def test_mail_override_extra_field(ctx):
    srv = ctx.server("maildir")
    custom = os.path.join(srv.root, "custom", "kate")
    srv.extra_users["kate"] = "{PLAIN}kate-Pw.k1::::::mail=maildir:%s" % custom
    srv.passwords["kate"] = "kate-Pw.k1"
    srv.secrets.add("kate-Pw.k1")
    srv.write_passwd()
    # kate's maildrop is outside the mail pattern's directory: the
    # workers' Landlock ruleset must name both
    srv.config["sandbox_mail_root"] = "%s/mail,%s/custom" % (srv.root,
                                                             srv.root)
    srv.write_config()
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(custom, sub))
    m = make_msgs([simple_msg(5)], "maildir")[0]
    with open(os.path.join(custom, "new", m.name), "wb") as f:
        f.write(m.data)
    srv.start()
    p = srv.login("kate")
    eq(p.retr(1), m.expected, "kate's message from the mail= override")
    p.quit()


def test_mail_pattern_local_part_and_domain(ctx):
    srv = ctx.server("maildir", users={"mike@example.org": "{PLAIN}mike-Pw.m2"},
                     secrets=["mike-Pw.m2"])
    srv.config["mail"] = "maildir:%s/dom/%%d/%%n" % srv.root
    srv.write_config()
    srv.passwords["mike@example.org"] = "mike-Pw.m2"
    md = os.path.join(srv.root, "dom", "example.org", "mike")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub))
    m = make_msgs([simple_msg(6)], "maildir")[0]
    with open(os.path.join(md, "new", m.name), "wb") as f:
        f.write(m.data)
    srv.start()
    p = srv.login("mike@example.org")
    eq(p.retr(1), m.expected, "message from maildir:%d/%n")
    p.quit()


def user_cmd(args, pw=None):
    return run_satchel(["user"] + args, input=pw)


def test_user_add_list_passwd_del(ctx):
    pf = os.path.join(ctx.tmp, "passwd")
    with open(pf, "w") as f:
        f.write("# existing comment\nalice:{PLAIN}alice-Pw.7Qx3\n")
    created = {}
    for scheme in ("yescrypt", "sha512-crypt", "bcrypt", "plain"):
        name = "u" + scheme.replace("-", "")
        pw = "Pw-%s-1" % scheme
        r = user_cmd(["add", name, "-f", pf, "--stdin", "--scheme", scheme], pw + "\n")
        eq(r.returncode, 0, "user add --scheme %s (stderr %r)" % (scheme, r.stderr))
        created[name] = pw
    with open(pf) as f:
        text = f.read()
    check("# existing comment" in text and "alice:{PLAIN}alice-Pw.7Qx3" in text,
          "user add lost existing lines: %r" % text)
    for name, pw in created.items():
        check(name + ":" in text, "%s not in the passwd-file" % name)
        if name != "uplain":
            check(pw not in text, "the password of %s is in the file in clear" % name)
    check("uyescrypt:{CRYPT}$y$" in text or "uyescrypt:$y$" in text, "yescrypt hash: %r" % text)
    check("$6$" in text and "$2b$" in text, "sha512-crypt and bcrypt hashes: %r" % text)
    r = user_cmd(["list", "-f", pf])
    eq(r.returncode, 0, "user list (stderr %r)" % r.stderr)
    for name in list(created) + ["alice"]:
        check(name in r.stdout.split(), "user list lacks %s: %r" % (name, r.stdout))
    for pw in created.values():
        check(pw not in r.stdout, "user list prints a password")
    r = user_cmd(["add", "alice", "-f", pf, "--stdin"], "x\n")
    check(r.returncode != 0, "adding an existing user succeeded")
    # the server accepts every user the tool wrote
    os.chmod(pf, 0o644)
    srv = ctx.server("maildir", secrets=list(created.values()))
    shutil.copy(pf, srv.passwd_path)
    srv.passwords.update(created)
    srv.start()
    for name, pw in created.items():
        p = srv.login(name, pw)
        p.quit()
    # passwd and del
    r = user_cmd(["passwd", "ubcrypt", "-f", pf, "--stdin"], "New-Pw-2\n")
    eq(r.returncode, 0, "user passwd (stderr %r)" % r.stderr)
    r = user_cmd(["del", "uplain", "-f", pf])
    eq(r.returncode, 0, "user del (stderr %r)" % r.stderr)
    r = user_cmd(["list", "-f", pf])
    check("uplain" not in r.stdout.split(), "deleted user still listed: %r" % r.stdout)
    check("ubcrypt" in r.stdout.split(), "user lost by passwd: %r" % r.stdout)
    srv2 = ctx.server("maildir", secrets=list(created.values()) + ["New-Pw-2"])
    shutil.copy(pf, srv2.passwd_path)
    srv2.start()
    p = srv2.login("ubcrypt", "New-Pw-2")
    p.quit()
    p = srv2.connect()
    p.ok("USER ubcrypt")
    eq(p.cmd("PASS " + created["ubcrypt"]), "-ERR [AUTH] invalid user name or password",
       "old password after user passwd")
    p.ok("USER uplain")
    eq(p.cmd("PASS " + created["uplain"]), "-ERR [AUTH] invalid user name or password",
       "deleted user")
    p.quit()
