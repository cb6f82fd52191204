"""satchel fetch with ;AUTH=GSSAPI (RFC 2384, RFC 4752) against satchel
serve and the private MIT KDC of test_gssapi (its Kdc and setup): the
Kerberos ticket in a private ccache (KRB5CCNAME=FILE:..., KRB5_CONFIG) is
the only credential. No password option is given, and fetch runs in a
session of its own, so a password prompt could not wait on a terminal.
With alice's ticket her mail comes over byte for byte and is deleted on
the server; without a ticket the login fails as an authentication
failure (77) that says no Kerberos credentials were found, before any
AUTH is sent; with another principal's ticket the server refuses (77) and
nothing is fetched, also when that principal is bob, a user with mail of
his own (the URL's user goes out as the authzid)."""

import os
import subprocess

from harness import SATCHEL, check, eq, make_msgs, simple_msg
from test_gssapi import setup

STORES = None
USER = "alice"
BOB_PASSWORD = "bob-Krb.P4ss"   # bob's Kerberos password (not his POP3 one)


def fetch(ctx, srv, env, name):
    """`satchel fetch pop://alice;AUTH=GSSAPI@localhost:PORT --tls none`
    with env and no password option, in a new session (no controlling
    terminal). Returns (exit, stderr, Maildir)."""
    dest = os.path.join(ctx.tmp, "md-" + name)
    cmd = [SATCHEL, "fetch", "pop://%s;AUTH=GSSAPI@localhost:%d"
           % (USER, srv.port), "--tls", "none", "--to", "maildir:" + dest,
           "--state-dir", dest + ".state", "--timeout", "10"]
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60,
                       start_new_session=True)
    return p.returncode, p.stderr, dest


def stored(maildir):
    """The messages in a Maildir's new/ and cur/, as bytes, sorted."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        for n in (os.listdir(d) if os.path.isdir(d) else ()):
            with open(os.path.join(d, n), "rb") as f:
                out.append(f.read())
    return sorted(out)


def fill(srv, user, n):
    """n messages in user's maildrop, one with lines that need
    dot-stuffing; returns their bytes, sorted."""
    datas = [simple_msg(i) for i in range(n - 1)]
    datas.append(simple_msg(n - 1, body=".a dot line\n..two dots\n.\nend\n"))
    msgs = make_msgs(datas, "maildir")
    srv.fill(user, msgs)
    return sorted(m.data for m in msgs)


def on_server(srv, user):
    """The messages in user's maildrop once no session holds it."""
    check(srv.wait_unlocked(user), "%s's maildrop still locked after 5 s"
          % user)
    return len(srv.maildir_files(user))


def no_prompt(err):
    """fetch did not look for a password (without a terminal it would
    have given up with "no password given")."""
    check("no password given" not in err and "password for" not in err,
          "no password asked for: %s" % err)


def test_fetch_with_ticket(ctx):
    """alice's ticket, no password: her mail whole, deleted on the
    server."""
    kdc, srv, env = setup(ctx)
    try:
        want = fill(srv, USER, 3)
        rc, err, md = fetch(ctx, srv, env, "ticket")
        eq(rc, 0, "fetch with alice's ticket: %s" % err)
        no_prompt(err)
        eq(stored(md), want, "alice's messages in the Maildir")
        eq(on_server(srv, USER), 0, "deleted on the server")
        check("login: user=alice" in srv.log_text(), "the login is logged")
    finally:
        kdc.stop()


def test_fetch_without_ticket(ctx):
    """A missing or empty ccache: 77 and says no Kerberos credentials were
    found; a ticket the stopped KDC cannot turn into one for pop/localhost:
    77 too, and says that. Nothing fetched, nothing deleted."""
    kdc, srv, env = setup(ctx)
    try:
        fill(srv, USER, 2)
        empty = os.path.join(ctx.tmp, "empty.cc")
        open(empty, "wb").close()
        for name, cc in (("missing", os.path.join(ctx.tmp, "none.cc")),
                         ("empty", empty)):
            rc, err, md = fetch(ctx, srv, dict(env, KRB5CCNAME="FILE:" + cc),
                                name)
            eq(rc, 77, "exit with a %s ccache: %s" % (name, err))
            check("no Kerberos credentials were found" in err,
                  "a %s ccache: says why: %s" % (name, err))
            no_prompt(err)
            eq(stored(md), [], "nothing fetched (%s ccache)" % name)
            eq(on_server(srv, USER), 2, "nothing deleted (%s ccache)" % name)
        check("mech=GSSAPI" not in srv.log_text(),
              "no AUTH sent without credentials: %s" % srv.log_tail(4))
        kdc.stop()
        rc, err, md = fetch(ctx, srv, env, "nokdc")
        eq(rc, 77, "exit with a ticket and no KDC: %s" % err)
        check("no service ticket" in err and "KDC" in err,
              "a ticket and no KDC: says why: %s" % err)
        eq(stored(md), [], "nothing fetched (no KDC)")
        eq(on_server(srv, USER), 2, "nothing deleted (no KDC)")
    finally:
        kdc.stop()


def test_fetch_other_principal(ctx):
    """Tickets of mallory (no passwd-file entry) and of bob (a user with
    mail) for the URL's alice: the server refuses (77), neither alice's
    nor bob's mail is fetched or deleted."""
    kdc, srv, env = setup(ctx)
    try:
        kdc.kadmin("addprinc -pw %s bob" % BOB_PASSWORD)
        fill(srv, USER, 2)
        fill(srv, "bob", 2)
        for user, pw in (("mallory", None), ("bob", BOB_PASSWORD)):
            oenv = kdc.kinit(user, os.path.join(ctx.tmp, user + ".cc"), pw)
            rc, err, md = fetch(ctx, srv, oenv, user)
            eq(rc, 77, "exit with %s's ticket: %s" % (user, err))
            check("login refused" in err, "says why: %s" % err)
            no_prompt(err)
            eq(stored(md), [], "nothing fetched with %s's ticket" % user)
            eq(on_server(srv, USER), 2, "alice's mail kept (%s)" % user)
            eq(on_server(srv, "bob"), 2, "bob's mail kept (%s)" % user)
        log = srv.log_text()
        check("login: user=" not in log, "nobody logged in: %s"
              % srv.log_tail(4))
        check(log.count("auth failed") >= 2, "both refusals logged: %s"
              % srv.log_tail(4))
    finally:
        kdc.stop()
