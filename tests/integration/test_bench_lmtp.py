"""`satchel bench --lmtp` against satchel serve's LMTP (the load generator
of bench/lmtp.py, issue 8): it delivers what it says, to whom it says,
each message once, and exits non-zero when the server refuses."""
import json
import os

from harness import *

STORES = ("maildir",)
WORKERS = 1
LMTP_PORT = free_port()
CONFIG = {"lmtp_listen": "127.0.0.1:%d" % LMTP_PORT}
BENCH_USERS = ["bl%d" % i for i in range(1, 7)]
EXTRA_USERS = {u: "{PLAIN}bl-Pw.8k2" for u in BENCH_USERS}
EXTRA_SECRETS = ("bl-Pw.8k2",)


def run_bench(*extra):
    r = run_satchel(["bench", "--lmtp", "-p", str(LMTP_PORT), "-u",
                     "bl%d@example.org", "--json", "--quiet"] + list(extra),
                    timeout=60)
    res = json.loads(r.stdout) if r.stdout.strip() else {}
    return r, res


def new_files(srv, user):
    return [f for f in srv.maildir_files(user) if f.startswith("new/")]


def test_counts_match_the_maildrops(ctx):
    """3 connections, 2 recipients each, 30 messages: 60 deliveries, each
    user's new/ holds what the bench counted for it, every Message-ID is
    distinct (no delivery id taken for a retry), the sizes sent."""
    srv = ctx.srv
    r, res = run_bench("-U", "6", "--rcpts", "2", "-c", "3", "-n", "30")
    eq(r.returncode, 0, "exit status (errors %s, stderr %s)"
       % (short(res.get("errors")), short(r.stderr)))
    eq(res["messages"], 30, "messages")
    eq(res["deliveries"], 60, "deliveries")
    check(res["delivery_p50_ms"] > 0, "a latency: %s" % res)
    ids = set()
    for u in BENCH_USERS:
        files = new_files(srv, u)
        eq(len(files), res["user_deliveries"]["%s@example.org" % u],
           "%s: files in new/ against the bench's count" % u)
        for f in files:
            with open(os.path.join(srv.maildrop(u), f), "rb") as fh:
                data = fh.read()
            check(b"\n..3 " not in data and b"\n.3 " in data,
                  "the stuffed line arrived un-stuffed")
            mid = [l for l in data.split(b"\n")
                   if l.lower().startswith(b"message-id:")]
            eq(len(mid), 1, "one Message-ID")
            ids.add((u, mid[0]))
    eq(len(ids), 60, "distinct (user, Message-ID) pairs")
    rcpts = {}
    for u, mid in ids:
        rcpts.setdefault(mid, []).append(u)
    eq(len(rcpts), 30, "distinct Message-IDs")
    groups = [["bl1", "bl2"], ["bl3", "bl4"], ["bl5", "bl6"]]
    for mid, users in rcpts.items():
        check(sorted(users) in groups, "%s went to %s, not to one "
              "connection's 2 users" % (mid, users))


def test_refused_recipient_fails_the_run(ctx):
    """A user the server does not know: RCPT is answered 550, the bench
    counts err_reply and exits non-zero."""
    r, res = run_bench("-u", "nobody%d@example.org", "-U", "1", "-n", "3")
    check(r.returncode != 0, "exit status %d (want non-zero)" % r.returncode)
    check(res["errors"]["err_reply"] > 0, "err_reply counted: %s"
          % short(res["errors"]))
    eq(res["deliveries"], 0, "deliveries")


def test_timed_run_quits_cleanly(ctx):
    """-t: connections stop starting messages and QUIT; no error."""
    r, res = run_bench("-U", "2", "-c", "2", "-t", "1")
    eq(r.returncode, 0, "exit status (errors %s)" % short(res.get("errors")))
    eq(res["sessions"], 2, "two connections ended with QUIT")
    check(res["messages"] > 0, "messages: %s" % res)


def test_refused_connections_end_the_run(ctx):
    """Nothing listens: each refused connection counts as one message
    tried, so -n 3 ends after 3 (not at --max-time)."""
    r = run_satchel(["bench", "--lmtp", "-p", str(free_port()), "-u",
                     "bl%d@example.org", "-n", "3", "--json", "--quiet",
                     "--max-time", "30"], timeout=20)
    res = json.loads(r.stdout)
    check(r.returncode != 0, "exit status %d (want non-zero)" % r.returncode)
    eq(res["errors"]["connect"], 3, "connect errors")
