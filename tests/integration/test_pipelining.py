"""PIPELINING (RFC 2449): whole batches in one write, answers in order."""
import time

from harness import *

STORES = ("maildir", "mbox")


def test_whole_session_in_one_write(ctx):
    corpus = load_corpus()
    msgs = ctx.srv.fill("alice", make_msgs(corpus, ctx.store))
    # learn the number -> message mapping first (Maildir order is the server's)
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    p.quit()
    n = len(msgs)
    batch = ["USER alice", "PASS " + ctx.srv.passwords["alice"], "STAT", "LIST", "UIDL"]
    batch += ["RETR %d" % i for i in range(1, n + 1)]
    batch += ["QUIT"]
    p = ctx.srv.connect()
    p.send("".join(c + "\r\n" for c in batch))
    starts(p.getline().decode(), "+OK", "USER")
    starts(p.getline().decode(), "+OK", "PASS")
    st = p.getline().decode()
    eq(st.split()[:3], ["+OK", str(n), str(sum(m.size for m in msgs))], "STAT")
    starts(p.getline().decode(), "+OK", "LIST")
    lst = p.getmulti().decode().split("\r\n")
    eq(len([l for l in lst if l]), n, "LIST lines")
    starts(p.getline().decode(), "+OK", "UIDL")
    uid = p.getmulti().decode().split("\r\n")
    eq(len([l for l in uid if l]), n, "UIDL lines")
    for i in range(1, n + 1):
        starts(p.getline().decode("latin-1"), "+OK", "RETR %d" % i)
        eq(p.getmulti(), bynum[i].expected, "pipelined RETR %d (%s)" % (i, bynum[i].label))
    starts(p.getline().decode(), "+OK", "QUIT")
    check(p.wait_closed(), "not closed after the pipelined QUIT")


def test_errors_interleaved(ctx):
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(i) for i in (1, 2)], ctx.store))
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    p.send("RETR 9\r\nLIST 1\r\nFOO\r\nRETR 1\r\nTOP 2 0\r\nDELE 0\r\nUIDL 2\r\nNOOP\r\n")
    starts(p.getline().decode(), "-ERR", "RETR 9")
    starts(p.getline().decode(), "+OK 1 ", "LIST 1")
    eq(p.getline().decode(), "-ERR unknown command", "FOO")
    starts(p.getline().decode(), "+OK", "RETR 1")
    eq(p.getmulti(), bynum[1].expected, "RETR 1")
    starts(p.getline().decode(), "+OK", "TOP 2 0")
    eq(p.getmulti(), top_expected(bynum[2].data, 0), "TOP 2 0")
    starts(p.getline().decode(), "-ERR", "DELE 0")
    starts(p.getline().decode(), "+OK 2 ", "UIDL 2")
    starts(p.getline().decode(), "+OK", "NOOP")
    p.quit()


def test_user_pass_back_to_back(ctx):
    """mpop sends USER and PASS in one write."""
    ctx.srv.fill("alice", [])
    p = ctx.srv.connect()
    p.send("USER alice\r\nPASS %s\r\nSTAT\r\n" % ctx.srv.passwords["alice"])
    starts(p.getline().decode(), "+OK", "USER")
    starts(p.getline().decode(), "+OK", "PASS")
    eq(p.getline().decode().split()[:3], ["+OK", "0", "0"], "STAT")
    p.quit()


def test_failed_pass_then_pipelined_commands(ctx):
    """After a failed PASS in a batch, later commands see AUTHORIZATION."""
    ctx.srv.fill("alice", make_msgs([simple_msg(1)], ctx.store))
    p = ctx.srv.connect()
    p.send("USER alice\r\nPASS wrong\r\nSTAT\r\nRETR 1\r\nUSER alice\r\nPASS %s\r\nSTAT\r\n"
           % ctx.srv.passwords["alice"])
    starts(p.getline().decode(), "+OK", "USER")
    starts(p.getline().decode(), "-ERR [AUTH]", "wrong PASS")
    starts(p.getline().decode(), "-ERR", "STAT before login")
    starts(p.getline().decode(), "-ERR", "RETR before login")
    starts(p.getline().decode(), "+OK", "USER")
    starts(p.getline().decode(), "+OK", "PASS")
    starts(p.getline().decode(), "+OK 1 ", "STAT")
    p.quit()


def test_many_commands_one_write(ctx):
    ctx.srv.fill("alice", make_msgs([simple_msg(i) for i in (1, 2, 3)], ctx.store))
    p = ctx.srv.login("alice")
    cmds = []
    for i in range(300):
        cmds += ["NOOP", "STAT", "LIST %d" % (i % 3 + 1), "UIDL", "TOP %d 0" % (i % 3 + 1)]
    p.send("".join(c + "\r\n" for c in cmds))
    for c in cmds:
        st = p.getline().decode()
        starts(st, "+OK", c)
        if c in ("UIDL",) or c.startswith("TOP"):
            p.getmulti()
    p.quit()


def test_byte_at_a_time(ctx):
    """Commands split into single bytes (and CR/LF split) still work."""
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(1)], ctx.store))
    p = ctx.srv.connect()
    data = ("USER alice\r\nPASS %s\r\nRETR 1\r\n" % ctx.srv.passwords["alice"]).encode()
    for i in range(len(data)):
        p.sock.sendall(data[i:i + 1])
        if i % 8 == 0:
            time.sleep(0.002)
    starts(p.getline().decode(), "+OK", "USER")
    starts(p.getline().decode(), "+OK", "PASS")
    starts(p.getline().decode(), "+OK", "RETR 1")
    eq(p.getmulti(), msgs[0].expected, "RETR 1")
    p.quit()


def test_pipelined_after_quit_ignored(ctx):
    """Commands after QUIT in the same write are not executed."""
    ctx.srv.fill("alice", make_msgs([simple_msg(i) for i in (1, 2)], ctx.store))
    p = ctx.srv.login("alice")
    p.send("QUIT\r\nDELE 1\r\n")
    starts(p.getline().decode(), "+OK", "QUIT")
    p.wait_closed()
    q = ctx.srv.login_retry("alice")
    eq(q.stat()[0], 2, "count")
    q.quit()
