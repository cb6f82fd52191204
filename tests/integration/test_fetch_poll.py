"""satchel fetch's no-news shortcut (issue #9, src/fetch/fetch_mark.h)
against satchel serve: after a --keep run that left nothing to do, the
next poll sends STAT, "UIDL 1" and "UIDL n" and stops there when they
match the mark. Every change a server in arrival order can show is
still seen: a new message, one deleted by another client and one new of
the same size in its place, a changed last UIDL. A mark that is too old,
torn, of another account or due for a keep=Nd deletion is ignored. A
recording proxy between the two shows what the client sent.
"""
import poplib

from harness import *

STORES = ("maildir", "mbox")
USER = "alice"


class Poller:
    def __init__(self, ctx, rec):
        self.ctx, self.rec = ctx, rec
        self.md = os.path.join(ctx.tmp, "md")
        self.state = os.path.join(ctx.tmp, "state")
        self.pw = os.path.join(ctx.tmp, "pw")
        with open(self.pw, "w") as f:
            f.write(PASSWORDS[USER] + "\n")
        os.chmod(self.pw, 0o600)

    def run(self, *extra):
        """(exit, stored count, the commands of this session)."""
        before = len(self.rec.sessions)
        p = subprocess.run([SATCHEL, "fetch", "pop://%s@127.0.0.1:%d" % (USER, self.rec.port),
                            "--tls", "none", "--password-file", self.pw,
                            "--state-dir", self.state, "--to", "maildir:" + self.md,
                            "--timeout", "10", "--quiet"] + list(extra),
                           capture_output=True, timeout=60)
        check(len(self.rec.sessions) == before + 1, "one session per run")
        # the proxy may still be copying QUIT: wait for it
        check(wait_until(lambda: self.rec.sessions[-1][-1:] == ["QUIT"], 10),
              "the client's QUIT reached the proxy: %r" % self.rec.sessions[-1])
        return p.returncode, self.stored(), self.rec.sessions[-1], p.stderr.decode()

    def stored(self):
        n = 0
        for sub in ("new", "cur"):
            d = os.path.join(self.md, sub)
            n += len(os.listdir(d)) if os.path.isdir(d) else 0
        return n

    def mark_path(self):
        names = [n for n in os.listdir(self.state) if n.endswith(".mark")]
        eq(len(names), 1, "one mark in the state directory")
        return os.path.join(self.state, names[0])


def rewrite_mark(path, i, value):
    """Field i of the mark becomes value(fields)."""
    with open(path) as f:
        fields = f.read().split()
    fields[i] = str(value(fields))
    with open(path, "w") as f:
        f.write(" ".join(fields) + "\n")


def listed(cmds):
    return "UIDL" in cmds


def shortcut(cmds):
    return not listed(cmds) and "UIDL 1" in cmds and \
        any(c.startswith("UIDL ") and c != "UIDL 1" for c in cmds)


def new_msg(srv, i):
    """Arrives after everything there (a later name, the mbox's end)."""
    srv.add(USER, [Msg(simple_msg(i), name="1900000000.M%dP1.new" % i,
                       envelope="From sender%d@example.org Tue Nov 26 05:00:00 2024" % i)])


def setup(ctx, n=5):
    srv = ctx.srv
    srv.fill(USER, make_msgs([(str(i), simple_msg(i)) for i in range(n)], srv.store))
    rec = TcpRecorder(srv.port)
    return srv, rec, Poller(ctx, rec)


def test_unchanged_poll_stops_after_stat(ctx):
    srv, rec, p = setup(ctx)
    try:
        rc, n, cmds, err = p.run("--keep")
        eq((rc, n), (0, 5), "first run fetches all: %s" % err)
        check(listed(cmds), "the first run lists the mailbox: %r" % cmds)
        rc, n, cmds, err = p.run("--keep")
        eq((rc, n), (0, 5), "second run: nothing new: %s" % err)
        check(shortcut(cmds), "unchanged: STAT, UIDL 1, UIDL n only: %r" % cmds)
        check(not any(c.startswith(("LIST", "RETR", "DELE")) for c in cmds),
              "nothing listed, fetched or deleted: %r" % cmds)
        # a new message: the count changes, a full listing fetches it
        new_msg(srv, 50)
        rc, n, cmds, err = p.run("--keep")
        eq((rc, n), (0, 6), "the new message fetched: %s" % err)
        check(listed(cmds), "a changed count lists: %r" % cmds)
        rc, n, cmds, err = p.run("--keep")
        check(shortcut(cmds), "then unchanged again: %r" % cmds)
    finally:
        rec.close()


def test_same_count_and_size_still_seen(ctx):
    """Another client deletes one, one of the very same size arrives:
    STAT looks the same, the last UIDL does not."""
    srv, rec, p = setup(ctx, 4)
    try:
        rc, n, cmds, err = p.run("--keep")
        eq((rc, n), (0, 4), "first run: %s" % err)
        pop = poplib.POP3("127.0.0.1", srv.port, timeout=10)
        pop.user(USER)
        pop.pass_(PASSWORDS[USER])
        before = pop.stat()
        pop.dele(2)
        pop.quit()
        # simple_msg(i) has the same size for every one-digit i
        new_msg(srv, 7)
        pop = poplib.POP3("127.0.0.1", srv.port, timeout=10)
        pop.user(USER)
        pop.pass_(PASSWORDS[USER])
        after = pop.stat()
        pop.quit()
        eq(after, before, "STAT is the same after the swap")
        rc, n, cmds, err = p.run("--keep")
        eq((rc, n), (0, 5), "the new message is fetched: %s" % err)
        check(listed(cmds), "the last UIDL differed, so a full listing: %r" % cmds)
    finally:
        rec.close()


def test_mark_ignored_when_stale_torn_or_due(ctx):
    srv, rec, p = setup(ctx, 3)
    try:
        rc, n, cmds, err = p.run("--keep")
        eq((rc, n), (0, 3), "first run: %s" % err)
        path = p.mark_path()
        with open(path) as f:
            good = f.read()
        # older than a day: a full listing, and a fresh mark
        rewrite_mark(path, 3, lambda f: int(f[3]) - 25 * 3600)
        rc, n, cmds, err = p.run("--keep")
        check(listed(cmds), "a day-old mark: full listing: %r" % cmds)
        rc, n, cmds, err = p.run("--keep")
        check(shortcut(cmds), "the fresh mark is used: %r" % cmds)
        # torn
        with open(path, "w") as f:
            f.write(good[:len(good) // 2])
        rc, n, cmds, err = p.run("--keep")
        eq(rc, 0, "a torn mark is no error: %s" % err)
        check(listed(cmds), "a torn mark: full listing: %r" % cmds)
        # a kept message due for deletion: keep=Nd must get to delete it
        rewrite_mark(p.mark_path(), 4, lambda f: int(f[3]) - 1)
        rc, n, cmds, err = p.run("--keep")
        check(listed(cmds), "a mark past its due time: full listing: %r" % cmds)
        # another keep setting is another account as far as the mark goes
        rc, n, cmds, err = p.run("--keep")
        check(shortcut(cmds), "--keep again: shortcut: %r" % cmds)
        rc, n, cmds, err = p.run("--keep-days", "30")
        check(listed(cmds), "keep=30d: the mark of plain keep is not used: %r" % cmds)
        # delete mode never uses it, and empties the server
        rc, n, cmds, err = p.run()
        eq(rc, 0, "delete mode: %s" % err)
        check(listed(cmds) and "DELE 1" in cmds, "delete mode lists and deletes: %r" % cmds)
    finally:
        rec.close()
