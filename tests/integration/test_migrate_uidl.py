"""satchel migrate uidl (issue 12, 5.): the UIDLs a real Dovecot pop3d
showed (its dovecot-uidlist, written when a session asks UIDL) imported
into satchel's index, so `satchel serve` on the same Maildir answers UIDL
with the very same ids; a plain file:PATH list; duplicates renamed as
Dovecot's pop3_uidl_duplicates = rename; a second run changes nothing; a
message the list does not name keeps satchel's own UIDL; missing or
garbled lists and a maildrop in use are clear errors with their sysexits
codes. Dovecot runs as test_fetch_interop's class does (unpacked by `make
deps`, a private mount namespace)."""
import poplib
import shutil
import subprocess

from harness import *
from test_fetch_interop import Dovecot, dovecot_command

STORES = ("maildir",)
USER = "alice"

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_TEMPFAIL = 64, 65, 66, 75

# Names as other deliverers write them: sizes in the name, a name that
# starts with no number, one that already has flags, '=' and '-'. Only
# new/: Dovecot moves them to cur/ (adding ":2,") as it likes, and the
# base, what the uidlist keys on, stays.
TRICKY = ["1600000000.M9P9.mx.example,S=%d,W=%d",
          "zz-no-leading-number.host",
          "1650000000.Vfd01I3eM1.a=b-c.host"]


def body(i):
    return ("From: a@example.org\nSubject: migrate %d\n\nbody %d\n"
            % (i, i)).encode()


def pop_uidls(port, user=USER):
    """[(number, UIDL, message)] as poplib sees them."""
    p = poplib.POP3("127.0.0.1", port, timeout=30)
    p.user(user)
    p.pass_(PASSWORDS[user])
    out = []
    for line in p.uidl()[1]:
        n, uidl = line.decode().split()
        data = b"\n".join(p.retr(int(n))[1]) + b"\n"
        out.append((int(n), uidl, data))
    p.quit()
    return out


def migrate(*args):
    p = subprocess.run([SATCHEL, "migrate", "uidl"] + list(args),
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def migrate_ok(*args):
    rc, out = migrate(*args)
    eq(rc, 0, "satchel migrate uidl exit status (%s)" % out.strip())
    return out


def index_bytes(md):
    """The index without its listing line: opening the Maildir (the
    migration does, as a session would) records the listing once the
    directories have been quiet for 2 seconds (docs/store.md), which
    depends on how long the test took, not on what was imported."""
    with open(os.path.join(md, "satchel.index"), "rb") as f:
        return b"".join(line for line in f
                        if not line.startswith(b"listing "))


def dovecot_maildir(ctx):
    """A Maildir Dovecot has served: (its path, Dovecot's UIDL list as
    [(n, uidl, message)])."""
    dovecot_command(None)   # Skip if there is none
    dc = Dovecot(ctx, [body(i) for i in range(1, 4)])
    md = os.path.join(dc.dir, "mail", USER)
    try:
        for i, name in enumerate(TRICKY):
            data = body(10 + i)
            if "%d" in name:
                name = name % (len(data), len(to_crlf(data)))
            with open(os.path.join(md, "new", name), "wb") as f:
                f.write(data)
        subprocess.run(["chown", "-R", "%s:%s" % (MAIL_USER, MAIL_USER), md],
                       check=True)
        ref = pop_uidls(dc.port)
    except AssertionError as e:
        e.args = ("%s; %s" % (e, dc.log_tail()),)
        raise
    finally:
        dc.stop()
    check(os.path.exists(os.path.join(md, "dovecot-uidlist")),
          "Dovecot wrote no dovecot-uidlist")
    return md, ref


def install(ctx, src):
    """Copies the Maildir src to alice's maildrop of the test server."""
    dst = ctx.srv.maildrop(USER)
    ctx.srv.wait_unlocked(USER)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, symlinks=True,
                    ignore=shutil.ignore_patterns("dovecot.index*",
                                                  "dovecot-keywords"))
    ctx.srv.fix_owner(os.path.dirname(dst))
    return dst


def by_message(lst):
    return {data: uidl for _, uidl, data in lst}


def test_dovecot_uidls_survive(ctx):
    src, ref = dovecot_maildir(ctx)
    eq(len(ref), 3 + len(TRICKY), "messages Dovecot listed")
    md = install(ctx, src)
    out = migrate_ok("--from", "dovecot-uidlist", "--maildir", md)
    check("%d imported" % len(ref) in out, "import summary: %r" % out)
    got = pop_uidls(ctx.srv.port)
    # the same message -> UIDL mapping, whatever the order
    eq(by_message(got), by_message(ref), "satchel's UIDLs per message")
    # The numbering is the servers' own: Dovecot numbers by UID, which
    # its first sync gave the new files in readdir (hash) order; satchel
    # numbers in delivery order (the names' leading numbers, then bytes).
    # So the two lists agree message by message (above) and in order only
    # when those orders happen to agree; a POP3 client keys on the UIDL,
    # not on the number, so only the mapping must survive the switch.
    dovecot_order = [u for _, u, _ in ref]
    satchel_order = [u for _, u, _ in got]
    eq(sorted(satchel_order), sorted(dovecot_order), "the UIDL sets")
    # Dovecot's default pop3_uidl_format: %08Xu%08Xv
    bad = [u for u in dovecot_order if not re.match(r"^[0-9a-f]{16}$", u)]
    check(not bad, "Dovecot UIDLs not %%08Xu%%08Xv: %r" % bad)

    # a second run: nothing to change, the index not rewritten
    before = index_bytes(md)
    out = migrate_ok("--from", "dovecot-uidlist", "--maildir", md)
    check(" 0 changed" in out and "index unchanged" in out,
          "second run summary: %r" % out)
    eq(index_bytes(md), before, "index after the second run")

    # a message delivered after the switch keeps satchel's own UIDL (its
    # base name), and the imported ones stay
    new = "1900000000.M1P1.after"
    with open(os.path.join(md, "new", new), "wb") as f:
        f.write(body(99))
    ctx.srv.fix_owner(os.path.join(md, "new", new))
    out = migrate_ok("--from", "dovecot-uidlist", "--maildir", md)
    check("1 listed but gone" not in out, "summary: %r" % out)
    got2 = by_message(pop_uidls(ctx.srv.port))
    eq(got2.pop(body(99)), new, "UIDL of a message not in the list")
    eq(got2, by_message(ref), "imported UIDLs after a new delivery")


def test_config_user_and_format(ctx):
    """-c CONFIG --user NAME finds the same Maildir the server opens;
    --format changes the template (and a Dovecot P extension wins)."""
    md = ctx.srv.fill(USER, [Msg(body(i), name="17000000%02d.M%dP1.h" % (i, i))
                             for i in range(1, 4)]) and ctx.srv.maildrop(USER)
    with open(os.path.join(md, "dovecot-uidlist"), "w") as f:
        f.write("3 V1234 N4 G0123abcd\n"
                "1 W50 :1700000001.M1P1.h\n"
                "2 :1700000002.M2P1.h:2,S\n"
                "3 Pkept-uidl :1700000003.M3P1.h\n")
    migrate_ok("-c", ctx.srv.conf_path, "--user", USER,
               "--from", "dovecot-uidlist", "--format", "%u.%v-%f")
    eq([u for _, u, _ in pop_uidls(ctx.srv.port)],
       ["1.1234-1700000001.M1P1.h", "2.1234-1700000002.M2P1.h", "kept-uidl"],
       "UIDLs with --format %u.%v-%f")
    migrate_ok("-c", ctx.srv.conf_path, "--user", USER,
               "--from", "dovecot-uidlist")
    eq([u for _, u, _ in pop_uidls(ctx.srv.port)],
       ["00000001000004d2", "00000002000004d2", "kept-uidl"],
       "UIDLs with the default %08Xu%08Xv")
    rc, out = migrate("-c", ctx.srv.conf_path, "--user", "nobody-here",
                      "--from", "dovecot-uidlist")
    eq(rc, 67, "unknown user exit status (%s)" % out.strip())


def test_duplicates_renamed(ctx):
    """Two messages with one UIDL: the later (in the list's order) gets
    "-2", the next "-3"; a message whose own UIDL an import took yields
    too."""
    names = ["17000000%02d.M%dP1.h" % (i, i) for i in range(1, 5)]
    md = ctx.srv.fill(USER, [Msg(body(i), name=n)
                             for i, n in enumerate(names, 1)]) \
        and ctx.srv.maildrop(USER)
    lst = os.path.join(ctx.tmp, "uidls")
    with open(lst, "w") as f:
        f.write("# base uidl\n\n%s same\n%s:2,S same\n%s same\n"
                % (names[2], names[0], names[1]))
        # the fourth keeps its own UIDL (its base name) ... which the
        # list gives to nobody, so it stays
    out = migrate_ok("--from", "file:" + lst, "--maildir", md)
    check("2 renamed" in out, "summary: %r" % out)
    eq([u for _, u, _ in pop_uidls(ctx.srv.port)],
       ["same-2", "same-3", "same", names[3]], "UIDLs after renaming")
    # an imported UIDL equal to another message's own base name: the
    # message not in the list yields
    with open(lst, "w") as f:
        f.write("%s %s\n" % (names[0], names[3]))
    before = index_bytes(md)
    out = migrate_ok("--from", "file:" + lst, "--maildir", md, "--dry-run")
    check("dry run" in out and "2 changed" in out, "dry run: %r" % out)
    eq(index_bytes(md), before, "index after --dry-run")
    migrate_ok("--from", "file:" + lst, "--maildir", md)
    u = [u for _, u, _ in pop_uidls(ctx.srv.port)]
    eq(u[0], names[3], "imported UIDL")
    eq(u[3], names[3] + "-2", "the message whose own UIDL was taken")
    eq(len(set(u)), 4, "UIDLs unique")


def test_errors(ctx):
    md = ctx.srv.fill(USER, [Msg(body(1), name="1700000001.M1P1.h")]) \
        and ctx.srv.maildrop(USER)
    cases = [
        (["--from", "dovecot-uidlist", "--maildir", md], EX_NOINPUT,
         "dovecot-uidlist"),
        (["--from", "dovecot-uidlist", "--maildir", md + "-nope"],
         EX_NOINPUT, "No such file"),
        (["--from", "courier", "--maildir", md], EX_USAGE, "unknown --from"),
        (["--from", "file:", "--maildir", md], EX_USAGE, "PATH"),
        (["--from", "dovecot-uidlist", "--maildir", md, "--format", "%m"],
         EX_USAGE, "%m"),
        (["--from", "dovecot-uidlist", "--maildir", md, "--format", "%8u"],
         EX_USAGE, "width"),
        (["--from", "dovecot-uidlist"], EX_USAGE, "--maildir"),
    ]
    for args, want, text in cases:
        rc, out = migrate(*args)
        eq(rc, want, "exit status of %r (%s)" % (args, out.strip()))
        check(text in out, "message of %r: %r" % (args, out))
    for content, text in [("1 1234 5\n", "version 1 or 2"),
                          ("3 N5\n", "UIDVALIDITY"),
                          ("3 V1 N3\n2 :a\n1 :b\n", "line 3"),
                          ("3 V1 N3\n1 W10 b\n", "line 2"),
                          ("3 V1 N3\n1 :a", "newline"),
                          ("", "empty")]:
        with open(os.path.join(md, "dovecot-uidlist"), "w") as f:
            f.write(content)
        rc, out = migrate("--from", "dovecot-uidlist", "--maildir", md)
        eq(rc, EX_DATAERR, "exit status for %r (%s)" % (content, out.strip()))
        check(text in out, "message for %r: %r" % (content, out))
    with open(os.path.join(md, "list"), "w") as f:
        f.write("onlyonefield\n")
    rc, out = migrate("--from", "file:" + os.path.join(md, "list"),
                      "--maildir", md)
    eq(rc, EX_DATAERR, "exit status for a bad file: line (%s)" % out.strip())
    check("line 1" in out, "message for a bad file: line: %r" % out)
    # an open POP3 session holds the maildrop: try again later, nothing
    # written meanwhile
    with open(os.path.join(md, "dovecot-uidlist"), "w") as f:
        f.write("3 V1 N2\n1 :1700000001.M1P1.h\n")
    p = ctx.srv.login_retry(USER)
    try:
        rc, out = migrate("--from", "dovecot-uidlist", "--maildir", md)
        eq(rc, EX_TEMPFAIL, "exit status while a session is open (%s)"
           % out.strip())
        check("try again" in out, "message while in use: %r" % out)
    finally:
        p.quit()
    ctx.srv.wait_unlocked(USER)
    migrate_ok("--from", "dovecot-uidlist", "--maildir", md)
    eq([u for _, u, _ in pop_uidls(ctx.srv.port)], ["0000000100000001"],
       "UIDL after the session ended")


def test_x_uidl_headers(ctx):
    """--from x-uidl: each message's first X-UIDL header (qpopper and UW
    ipop3d wrote them; a Maildir converted from their mbox keeps them).
    A message without one, or with a folded one, keeps its own UIDL; a
    repeated one is renamed."""
    def msg(i, hdrs):
        return hdrs.encode() + body(i)
    names = ["17000000%02d.M%dP1.h" % (i, i) for i in range(1, 6)]
    datas = [msg(1, "X-UIDL: 3a1f0c2b9d\n"),
             msg(2, "Received: x\nx-uidl:  <qpop-77>  \r\nX-UIDL: second\n"),
             msg(3, ""),
             msg(4, "X-UIDL: 3a1f0c2b9d\n"),
             msg(5, "X-UIDL: folded\n value\n")]
    md = ctx.srv.fill(USER, [Msg(d, name=n, sub="cur" if i == 1 else "new")
                             for i, (d, n) in enumerate(zip(datas, names))]) \
        and ctx.srv.maildrop(USER)
    rc, out = migrate("--from", "x-uidl", "--maildir", md)
    eq(rc, 0, "exit status (%s)" % out.strip())
    check("folded" in out and "3 imported" in out and "1 renamed" in out,
          "summary: %r" % out)
    eq([u for _, u, _ in pop_uidls(ctx.srv.port)],
       ["3a1f0c2b9d", "<qpop-77>", names[2], "3a1f0c2b9d-2", names[4]],
       "UIDLs from X-UIDL headers")
    # a name the index cannot hold (a space): not imported, and said so
    odd = "1700000099.M9P9.with space"
    with open(os.path.join(md, "new", odd), "wb") as f:
        f.write(msg(9, "X-UIDL: spaced\n"))
    ctx.srv.fix_owner(os.path.join(md, "new", odd))
    out = migrate_ok("--from", "x-uidl", "--maildir", md)
    check("1 names the index cannot hold" in out, "summary: %r" % out)
    check("spaced" not in [u for _, u, _ in pop_uidls(ctx.srv.port)],
          "the UIDL of a name the index cannot hold")
    rc, out = migrate("--from", "x-uidl:nothing", "--maildir", md)
    eq(rc, EX_USAGE, "x-uidl with an argument (%s)" % out.strip())


def logout_hashes(srv, user=USER):
    import re
    return re.findall(r"logout: user=%s .* uidls=([0-9a-f]{16})\b" % user,
                      srv.log_text())


def test_logout_line_hashes_the_uidl_list(ctx):
    """Every logout line of a session that had the maildrop carries
    uidls=, a hash of the UIDL list it was shown: the same while the
    list is the same, another once it changed (an admin's way to see a
    migration or a store change that would make clients refetch)."""
    srv = ctx.server(store="maildir")
    srv.fill(USER, make_msgs([body(i) for i in range(3)], "maildir"))
    srv.start()

    def session(dele=None):
        before = len(logout_hashes(srv))
        p = srv.login(USER)
        if dele:
            p.ok("DELE %d" % dele)
        p.quit()
        wait_for(lambda: len(logout_hashes(srv)) > before, 5,
                 lambda: "a logout line with uidls=: %s" % srv.log_tail(3))
        return logout_hashes(srv)[-1]

    first = session()
    eq(session(), first, "the same list, the same hash")
    changed = session(dele=2)
    eq(changed, first, "the session that deleted was shown the old list")
    after = session()
    check(after != first, "one message fewer: another hash (%s)" % after)
    srv.add(USER, [Msg(body(9), name="1700000099.M99P9.added", sub="new")])
    check(session() not in (first, after), "a new message: another hash")
