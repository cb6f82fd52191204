"""Every -ERR path: unknown commands, wrong state, bad message numbers,
failed logins, over-long lines, garbage, NUL bytes, the bad-command close."""
import os
import random
import time

from harness import *

STORES = ("maildir", "mbox")

BAD_NUMBERS = ["x", "1x", "0", "-1", "+1", "99999999999999999999",
               "4294967297", "18446744073709551617", "7", "1.0", "0x1", "\xb9"]


def three(store):
    return make_msgs([simple_msg(i) for i in (1, 2, 3)], store)


def test_greeting(ctx):
    p = ctx.srv.connect()
    starts(p.greeting, "+OK satchel ready.", "greeting")
    check("<" not in p.greeting, "APOP timestamp in the greeting with apop = no: %r" % p.greeting)
    p.quit()


def test_unknown_command(ctx):
    p = ctx.srv.connect()
    eq(p.cmd("FOO"), "-ERR unknown command", "FOO in AUTHORIZATION")
    eq(p.cmd("XYZZY 1 2 3"), "-ERR unknown command", "XYZZY")
    p.login("alice", ctx.srv.passwords["alice"])
    eq(p.cmd("BAR"), "-ERR unknown command", "BAR in TRANSACTION")
    p.ok("NOOP")
    p.quit()


def test_empty_line(ctx):
    p = ctx.srv.connect()
    p.err("")
    p.ok("NOOP") if False else p.ok("CAPA") and p.getmulti()
    p.quit()


def test_wrong_state_authorization(ctx):
    ctx.srv.fill("alice", three(ctx.store))
    # two connections, so the error count stays below max_bad_lines
    p = ctx.srv.connect()
    for c in ("STAT", "LIST", "LIST 1", "RETR 1", "DELE 1"):
        p.err(c)
    p.err("PASS " + ctx.srv.passwords["alice"])   # PASS without USER
    p.quit()
    p = ctx.srv.connect()
    for c in ("NOOP", "RSET", "TOP 1 1", "UIDL", "LAST"):
        p.err(c)
    p.ok("USER alice")
    p.ok("PASS " + ctx.srv.passwords["alice"])
    p.ok("NOOP")
    p.quit()


def test_wrong_state_transaction(ctx):
    ctx.srv.fill("alice", three(ctx.store))
    p = ctx.srv.login("alice")
    for c in ("USER alice", "PASS " + ctx.srv.passwords["alice"],
              "APOP alice 0123456789abcdef0123456789abcdef"):
        p.err(c)
    eq(p.stat()[0], 3, "still in TRANSACTION")
    p.quit()


def test_last_is_err(ctx):
    ctx.srv.fill("alice", three(ctx.store))
    p = ctx.srv.login("alice")
    p.err("LAST")
    p.ok("NOOP")
    p.quit()


def test_case_insensitive_keywords(ctx):
    msgs = ctx.srv.fill("alice", three(ctx.store))
    p = ctx.srv.connect()
    p.ok("user alice")
    p.ok("pAsS " + ctx.srv.passwords["alice"])
    starts(p.cmd("sTaT"), "+OK 3 ")
    st, data = p.multi("list")
    starts(st, "+OK")
    st, data = p.multi("Retr 1")
    starts(st, "+OK")
    st, data = p.multi("uidl")
    starts(st, "+OK")
    st, data = p.multi("tOp 1 0")
    starts(st, "+OK")
    p.ok("noop")
    p.ok("dele 1")
    p.ok("rset")
    eq(p.cmd("quit")[:3], "+OK", "quit")


def _bad_numbers(ctx, command, fmt):
    ctx.srv.fill("alice", three(ctx.store))
    bad = BAD_NUMBERS + ["3"]        # 3 is deleted
    if command not in ("LIST", "UIDL"):
        bad = [""] + bad                 # missing argument
    # a few per connection, so the errors stay below max_bad_lines
    for i in range(0, len(bad), 5):
        p = ctx.srv.login_retry("alice")
        p.ok("DELE 3")
        for b in bad[i:i + 5]:
            resp = p.cmd(fmt % b)
            starts(resp, "-ERR", "response to %r" % (fmt % b))
        p.ok("NOOP")
        p.close()
        ctx.srv.wait_unlocked("alice")


def test_bad_numbers_retr(ctx):
    _bad_numbers(ctx, "RETR", "RETR %s")


def test_bad_numbers_dele(ctx):
    _bad_numbers(ctx, "DELE", "DELE %s")


def test_bad_numbers_list(ctx):
    _bad_numbers(ctx, "LIST", "LIST %s")


def test_bad_numbers_uidl(ctx):
    _bad_numbers(ctx, "UIDL", "UIDL %s")


def test_bad_numbers_top(ctx):
    _bad_numbers(ctx, "TOP", "TOP %s 1")


def test_top_bad_line_counts(ctx):
    ctx.srv.fill("alice", three(ctx.store))
    p = ctx.srv.login("alice")
    for c in ("TOP", "TOP 1", "TOP 1 x", "TOP 1 -1", "TOP 1 1 1", "TOP 1 1x",
              "TOP 1 99999999999999999999"):
        resp = p.cmd(c)
        if resp.startswith("+OK") and c.endswith("99999999999999999999"):
            p.getmulti()   # a huge count may mean "whole message"
            continue
        starts(resp, "-ERR", "response to %r" % c)
    p.ok("NOOP")
    p.close()


def test_extra_arguments(ctx):
    ctx.srv.fill("alice", three(ctx.store))
    p = ctx.srv.login("alice")
    for c in ("RETR 1 2", "DELE 1 2", "LIST 1 2", "UIDL 1 2", "STAT 1", "RSET 1",
              "NOOP 1"):
        p.err(c)
    eq(p.stat()[0], 3, "nothing deleted by DELE with extra arguments")
    p.close()


def test_failed_login_texts(ctx):
    p = ctx.srv.connect()
    p.ok("USER alice")
    eq(p.cmd("PASS wrong-password"), "-ERR [AUTH] invalid user name or password",
       "wrong password")
    resp = p.cmd("USER nosuchuser")
    starts(resp, "+OK", "USER of an unknown user (must not reveal it)")
    eq(p.cmd("PASS whatever"), "-ERR [AUTH] invalid user name or password",
       "unknown user")
    p.ok("USER alice")
    p.ok("PASS " + ctx.srv.passwords["alice"])
    p.quit()


def test_password_with_spaces_and_empty(ctx):
    p = ctx.srv.connect()
    p.ok("USER alice")
    starts(p.cmd("PASS " + ctx.srv.passwords["alice"] + " extra"), "-ERR")
    p.ok("USER alice")
    starts(p.cmd("PASS"), "-ERR")
    p.quit()


def test_apop_disabled(ctx):
    p = ctx.srv.connect()
    resp = p.cmd("APOP alice 0123456789abcdef0123456789abcdef")
    starts(resp, "-ERR", "APOP with apop = no")
    p.quit()


def test_line_255_allowed_256_too_long(ctx):
    p = ctx.srv.connect()
    line255 = "USER " + "a" * (255 - 2 - 5)
    eq(len(line255) + 2, 255, "setup")
    resp = p.cmd(line255)
    check(resp != "-ERR line too long", "a 255-octet line (with CRLF) was refused: %r" % resp)
    line256 = "USER " + "a" * (256 - 2 - 5)
    eq(p.cmd(line256), "-ERR line too long", "a 256-octet line")
    p.ok("USER alice")
    p.ok("PASS " + ctx.srv.passwords["alice"])
    p.quit()


def test_long_line_rest_discarded(ctx):
    p = ctx.srv.connect()
    # the tail of the long line looks like a command: it must not run
    p.send("NOOP" + " " * 600 + "QUIT\r\nUSER alice\r\n")
    eq(p.getline().decode(), "-ERR line too long", "response to a 610-octet line")
    starts(p.getline().decode(), "+OK", "USER after the long line")
    p.ok("PASS " + ctx.srv.passwords["alice"])
    p.ok("NOOP")
    p.quit()


def test_very_long_line_bounded(ctx):
    """1 MB without a line end: one -ERR, the server survives."""
    p = ctx.srv.connect()
    try:
        p.send("X" * (1 << 20) + "\r\nNOOP\r\n")
        resp = p.getline().decode()
        eq(resp, "-ERR line too long", "response to a 1 MB line")
    except (ConnectionClosed, BrokenPipeError, ConnectionResetError):
        pass  # closing such a client is fine too
    q = ctx.srv.connect()
    q.quit()


def test_nul_in_command(ctx):
    ctx.srv.fill("alice", three(ctx.store))
    p = ctx.srv.connect()
    starts(p.cmd(b"NO\x00OP"), "-ERR", "NO<NUL>OP")
    p.ok("USER alice")
    resp = p.cmd(b"PASS " + ctx.srv.passwords["alice"].encode() + b"\x00junk")
    starts(resp, "-ERR", "PASS with a NUL after the right password")
    resp = p.cmd(b"USER alice\x00evil")
    if resp.startswith("+OK"):
        resp = p.cmd("PASS " + ctx.srv.passwords["alice"])
        starts(resp, "-ERR", "login as 'alice<NUL>evil' must not succeed as alice")
    p.ok("USER alice")
    p.ok("PASS " + ctx.srv.passwords["alice"])
    starts(p.cmd(b"RETR 1\x00"), "-ERR", "RETR 1<NUL>")
    starts(p.cmd(b"DELE \x001"), "-ERR", "DELE <NUL>1")
    eq(p.stat()[0], 3, "nothing deleted")
    p.quit()


def test_garbage_binary(ctx):
    """Random bytes: only -ERR lines (or a close), then the server is fine."""
    rnd = random.Random(1939)
    p = ctx.srv.connect()
    junk = bytes(rnd.randrange(256) for _ in range(3000)).replace(b"\n", b"") + b"\r\n"
    junk += b"\xff\xfe\xfd\r\n\x00\x00\r\n\x1b[2J\r\n"
    junk += b"CAPA\r\n"   # its +OK marks the end of the garbage's answers
    try:
        p.send(junk)
        for _ in range(30):
            line = p.getline()
            if line.startswith(b"+OK"):
                p.getmulti()
                break
            check(line.startswith(b"-ERR"), "non -ERR response to garbage: %s" % short(line))
        else:
            raise AssertionError("no answer to CAPA after the garbage")
    except (ConnectionClosed, BrokenPipeError, ConnectionResetError):
        pass  # closed after too many bad lines: fine
    p.close()
    ctx.srv.fill("alice", three(ctx.store))
    q = ctx.srv.login("alice")
    eq(q.stat()[0], 3, "after garbage")
    q.quit()


def test_bad_commands_close(ctx):
    p = ctx.srv.connect()
    p.send("".join("BOGUS%d\r\n" % i for i in range(15)))
    lines = []
    try:
        for _ in range(20):
            lines.append(p.getline().decode("latin-1"))
    except ConnectionClosed:
        pass
    check(p.closed, "connection not closed after 15 unknown commands: %s" % short(lines))
    check(lines and lines[-1] == "-ERR too many bad commands, closing",
          "last line before the close: %s" % short(lines[-2:]))
    before = lines[:-1]
    check(all(l == "-ERR unknown command" for l in before),
          "responses before the close: %s" % short(before))
    check(9 <= len(before) <= 10, "%d '-ERR unknown command' lines before the close "
          "(max_bad_lines = 10)" % len(before))


def test_long_lines_count_as_bad(ctx):
    p = ctx.srv.connect()
    p.send(("Y" * 300 + "\r\n") * 12)
    lines = []
    try:
        for _ in range(15):
            lines.append(p.getline().decode("latin-1"))
    except ConnectionClosed:
        pass
    check(p.closed, "connection not closed after 12 over-long lines")
    eq(lines[-1], "-ERR too many bad commands, closing", "last line")
    check(all(l == "-ERR line too long" for l in lines[:-1]), "other lines: %s" % short(lines))


def test_bad_lines_limit_configurable(ctx):
    srv = ctx.server(opts={"max_bad_lines": "3"}).start()
    p = srv.connect()
    p.send("A\r\nB\r\nC\r\nD\r\nE\r\n")
    lines = []
    try:
        for _ in range(6):
            lines.append(p.getline().decode("latin-1"))
    except ConnectionClosed:
        pass
    check(p.closed, "not closed with max_bad_lines = 3: %s" % short(lines))
    eq(lines[-1], "-ERR too many bad commands, closing", "last line")
    check(2 <= len(lines) - 1 <= 3, "unknown-command lines before close: %s" % short(lines))


def test_half_line_then_close(ctx):
    """A command without CRLF followed by EOF must not be executed."""
    ctx.srv.fill("alice", three(ctx.store))
    p = ctx.srv.login("alice")
    p.send("DELE 1\r\nQUIT")   # QUIT without CRLF
    starts(p.getline().decode(), "+OK")
    p.sock.shutdown(socket.SHUT_WR)
    p.wait_closed(3)
    p.close()
    q = ctx.srv.login_retry("alice")
    eq(q.stat()[0], 3, "a QUIT without CRLF must not commit the DELE")
    q.quit()
