"""Users in SQLite (issue 10): `users = sqlite:PATH` with the schema
`satchel user` makes. Logins over POP3 (USER/PASS, APOP from a stored
{PLAIN} secret), the same refusal for a wrong password and an unknown
user, `satchel user passwd` counting from the next login, 16 clients
logging in while the passwords of another user change (no busy error
reaches a client), delivery looking users up in the same database,
`satchel user import` of a passwd-file, and a database that cannot answer
giving [SYS/TEMP], never [AUTH]."""

import hashlib
import os
import shutil
import sqlite3
import subprocess
import threading
import time

import harness
from harness import *

STORES = None                   # each test makes its server


def user_tool(args, stdin=None):
    p = subprocess.run([harness.SATCHEL, "user"] + args, input=stdin,
                       capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def add_user(db, name, password, scheme="plain", action="add"):
    args = [action, "--db", "sqlite:" + db, "--stdin"]
    if scheme:
        args += ["--scheme", scheme]
    rc, out, err = user_tool(args + [name], (password + "\n").encode())
    eq(rc, 0, "satchel user %s %s (%s)" % (action, name, err))


def sqlite_server(ctx, extra=None, workers=2, config=None):
    """A server whose users are in a fresh SQLite database: alice
    (yescrypt) and bob (plain, for APOP), made with satchel user."""
    srv = ctx.server(store="maildir", workers=workers,
                     config=dict(config or {}))
    db = os.path.join(srv.root, "state", "users.db")
    add_user(db, "alice", srv.passwords["alice"], "yescrypt")
    add_user(db, "bob", srv.passwords["bob"])
    for name, pw in (extra or {}).items():
        add_user(db, name, pw)
    srv.config["users"] = "sqlite:" + db
    srv.write_config()
    srv.fix_owner()              # the auth process reads it as mail_user
    srv.fill("alice", make_msgs([simple_msg(1)], "maildir"))
    srv.fill("bob", [])
    srv.start()
    return srv, db


def test_login_from_sqlite(ctx):
    srv, db = sqlite_server(ctx)
    p = srv.login("alice")
    eq(p.stat()[0], 1, "alice's messages")
    p.quit()
    wrong = srv.connect()
    wrong.ok("USER alice")
    bad = wrong.cmd("PASS not-her-password")
    unknown = srv.connect()
    unknown.ok("USER nosuch")
    none = unknown.cmd("PASS whatever")
    check(bad.startswith("-ERR [AUTH]"), "wrong password: %s" % bad)
    eq(none, bad, "an unknown user is refused as a wrong password is")
    # APOP from the {PLAIN} password column (apop = yes below)
    srv.stop()
    srv.config["apop"] = "yes"
    srv.write_config()
    srv.start()
    q = srv.connect()
    ts = q.greeting[q.greeting.index("<"):q.greeting.index(">") + 1]
    digest = hashlib.md5((ts + srv.passwords["bob"]).encode()).hexdigest()
    q.ok("APOP bob " + digest)
    q.quit()


def test_passwd_counts_from_the_next_login(ctx):
    srv, db = sqlite_server(ctx)
    add_user(db, "alice", "a-New-pw.21", action="passwd")
    p = srv.connect()
    p.ok("USER alice")
    check(p.cmd("PASS " + srv.passwords["alice"]).startswith("-ERR"),
          "the old password still works after satchel user passwd")
    p = srv.connect()
    p.ok("USER alice")
    p.ok("PASS a-New-pw.21")
    p.quit()
    srv.passwords["alice"] = "a-New-pw.21"
    rc, out, err = user_tool(["del", "--db", "sqlite:" + db, "alice"])
    eq(rc, 0, "satchel user del (%s)" % err)
    p = srv.connect()
    p.ok("USER alice")
    check(p.cmd("PASS a-New-pw.21").startswith("-ERR [AUTH]"),
          "a deleted user still logs in")


def test_logins_while_passwords_change(ctx):
    """16 clients (16 users) log in again and again while satchel user
    passwd changes dave's password 20 times; each change works at once
    and no client is refused or told to try later."""
    clients = {"c%02d" % i: "c%02d-Pw.q" % i for i in range(16)}
    srv, db = sqlite_server(ctx, extra=dict(clients, dave="dave-0"))
    for name in clients:
        srv.fill(name, [])
    failures, logins = [], [0]
    stop = threading.Event()
    lock = threading.Lock()

    def client(name, password):
        while not stop.is_set():
            try:
                p = srv.connect()
                p.ok("USER " + name)
                resp = p.cmd("PASS " + password)
                if resp.startswith("+OK"):
                    p.quit()
                    p.wait_closed()
                    with lock:
                        logins[0] += 1
                    continue
                p.close()
                # the maildrop's own lock, not the user database
                if "[IN-USE]" not in resp:
                    with lock:
                        failures.append("%s: %s" % (name, resp))
            except Exception as e:   # a refused or cut connection
                with lock:
                    failures.append("%s: %r" % (name, e))

    threads = [threading.Thread(target=client, args=kv, daemon=True)
               for kv in clients.items()]
    for t in threads:
        t.start()
    try:
        for i in range(1, 21):
            add_user(db, "dave", "dave-%d" % i, action="passwd")
            p = srv.connect()
            p.ok("USER dave")
            resp = p.cmd("PASS dave-%d" % i)
            check(resp.startswith("+OK"), "change %d not in effect at "
                  "once: %s" % (i, resp))
            p.quit()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    print("# %d logins of 16 users during 20 password changes" % logins[0])
    eq(failures[:5], [], "failed logins")
    check(logins[0] >= 16, "only %d logins" % logins[0])
    check("database is locked" not in srv.log_text(),
          "a busy database in the log: %s" % srv.log_tail(5))


def test_delivery_looks_up_sqlite(ctx):
    srv, db = sqlite_server(ctx)
    msg = b"Subject: to sqlite\nMessage-ID: <sq.1@example.org>\n\nhi\n"
    p = subprocess.run([harness.SATCHEL, "deliver", "-c", srv.conf_path,
                        "-f", "s@example.org", "-d", "bob"], input=msg,
                       capture_output=True, timeout=30)
    eq(p.returncode, 0, "deliver to bob (%s)" % p.stderr)
    got = srv.read_all("bob")
    eq(len(got), 1, "bob's messages")
    check(got[0].endswith(b"\r\n\r\nhi\r\n"), "bob's message: %r" % got[0])
    p = subprocess.run([harness.SATCHEL, "deliver", "-c", srv.conf_path,
                        "-d", "nosuch"], input=msg, capture_output=True,
                       timeout=30)
    eq(p.returncode, 67, "deliver to an unknown user (%s)" % p.stderr)


def test_import_passwd_file(ctx):
    srv = ctx.server(store="maildir")
    db = os.path.join(srv.root, "state", "imported.db")
    rc, out, err = user_tool(["import", "--db", "sqlite:" + db,
                              srv.passwd_path])
    eq(rc, 0, "satchel user import (%s)" % err)
    check("imported %d users" % len(PASSWORDS) in out, "import: %s" % out)
    rc, out, err = user_tool(["import", "--db", "sqlite:" + db,
                              srv.passwd_path])
    eq(rc, 65, "a second import of the same users (%s)" % err)
    rc, out, err = user_tool(["list", "--db", "sqlite:" + db])
    eq(rc, 0, "satchel user list (%s)" % err)
    eq(sorted(l.split("\t")[0] for l in out.splitlines()),
       sorted(PASSWORDS), "listed users")
    srv.config["users"] = "sqlite:" + db
    srv.write_config()
    srv.fix_owner()
    srv.fill("erin", [])
    srv.start()
    srv.login("erin").quit()


def test_broken_database_is_temporary(ctx):
    srv, db = sqlite_server(ctx)
    srv.login("alice").quit()
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE users RENAME TO users_gone")
    con.commit()
    con.close()
    p = srv.connect()
    p.ok("USER alice")
    resp = p.cmd("PASS " + srv.passwords["alice"])
    check(resp.startswith("-ERR [SYS/TEMP]"), "a database that cannot "
          "answer: %s" % resp)
    wait_for(lambda: "user database unavailable" in srv.log_text(), 5,
             "the temporary failure in the log")


def test_own_schema_chained_with_a_passwd_file(ctx):
    """An admin's own table through sql_password_query, asked before the
    passwd-file; a quote in the name is a parameter, not SQL."""
    srv = ctx.server(store="maildir")
    db = os.path.join(srv.root, "state", "own.db")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE accounts (login TEXT, hash TEXT, "
                "active INTEGER)")
    con.execute("INSERT INTO accounts VALUES ('zed', '{PLAIN}zed-Pw.44', 1),"
                " ('off', '{PLAIN}off-Pw.44', 0)")
    con.commit()
    con.close()
    srv.config.update({
        "users": "sqlite:%s,passwd-file:%s" % (db, srv.passwd_path),
        "sql_password_query": "SELECT login AS user, hash AS password "
                              "FROM accounts WHERE login = %u AND active",
        "sql_iterate_query": "",
    })
    srv.write_config()
    srv.fix_owner()
    srv.secrets.update({"zed-Pw.44", "off-Pw.44"})
    for u in ("zed", "alice"):
        srv.fill(u, [])
    srv.start()
    p = srv.connect()
    p.ok("USER zed")
    p.ok("PASS zed-Pw.44")
    p.quit()
    srv.login("alice").quit()       # from the passwd-file, after the db
    for name, pw in (("off", "off-Pw.44"), ("zed'OR'1'='1", "zed-Pw.44")):
        p = srv.connect()
        p.ok("USER " + name)
        check(p.cmd("PASS " + pw).startswith("-ERR [AUTH]"),
              "%r logged in" % name)


def test_timing_unknown_vs_wrong_password(ctx):
    """The dummy an unknown user is checked against comes from the
    database (sql_iterate_query): its only hashed secret, so an unknown
    name costs what a wrong password costs (within 20 %), and both get
    the same line."""
    import crypt
    # ~100 ms: the hash dominates by far, so the scheduling noise of a
    # 2-core machine (~10 ms now and then) stays well inside 20 %
    slow_hash = crypt.crypt("slow-Pw.93kq", "$6$rounds=400000$aPq3xZ01$")
    # one worker: consecutive connections alternating between two
    # workers made the two kinds of login land on different ones
    srv = ctx.server(store="maildir", workers=1,
                     users={"slowpoke": "{SHA512-CRYPT}" + slow_hash})
    db = os.path.join(srv.root, "state", "timing.db")
    rc, out, err = user_tool(["import", "--db", "sqlite:" + db,
                              srv.passwd_path])
    eq(rc, 0, "import (%s)" % err)
    srv.config["users"] = "sqlite:" + db
    srv.write_config()
    srv.fix_owner()
    # on one core (harness.one_core: ~100 against ~140 ms here)
    srv.prefix = one_core()
    srv.start()

    check_unknown_like_wrong(srv, "slowpoke", "SQLite")
