"""Pre-auth timeout and autologout (set short with -o)."""
import time

from harness import *

STORES = ("maildir", "mbox")
OPTS = {"preauth_timeout": "2", "autologout": "2"}


def wait_err_close(p, lo, hi):
    """Waits for '-ERR ...' then the close; returns seconds taken."""
    t0 = time.monotonic()
    p.sock.settimeout(hi + 3)
    line = p.getline().decode("latin-1")
    took = time.monotonic() - t0
    starts(line, "-ERR", "line sent at the timeout")
    check(p.wait_closed(3), "not closed after %r" % line)
    check(lo <= took <= hi, "timeout after %.1fs, want %s..%s s" % (took, lo, hi))
    return took


def test_preauth_timeout(ctx):
    p = ctx.srv.connect()
    wait_err_close(p, 1.5, 6)


def test_preauth_timeout_after_user(ctx):
    p = ctx.srv.connect()
    p.ok("USER alice")
    wait_err_close(p, 1.5, 6)


def test_preauth_timeout_not_reset_by_chatter(ctx):
    """NOOPs in AUTHORIZATION must not keep an unauthenticated client."""
    p = ctx.srv.connect()
    t0 = time.monotonic()
    closed = False
    try:
        for _ in range(40):
            resp = p.cmd("CAPA")
            if not resp.startswith("+OK"):
                closed = p.wait_closed(3)
                break
            p.getmulti()
            time.sleep(0.25)
            if time.monotonic() - t0 > 9:
                break
    except (ConnectionClosed, BrokenPipeError, ConnectionResetError):
        closed = True
    check(closed or p.closed, "an unauthenticated client sending CAPA every 0.25 s "
          "was still connected after %.1fs (preauth_timeout = 2)" % (time.monotonic() - t0))


def test_autologout_deletes_nothing(ctx):
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(1), simple_msg(2)], ctx.store))
    before = ctx.srv.drop_snapshot("alice")
    p = ctx.srv.login("alice")
    p.ok("DELE 1")
    wait_err_close(p, 1.5, 6)
    q = ctx.srv.login_retry("alice")
    eq(q.stat()[0], 2, "count after autologout")
    q.close()
    ctx.srv.wait_unlocked("alice")
    eq(ctx.srv.drop_snapshot("alice"), before, "stored messages after autologout")


def test_activity_keeps_session(ctx):
    ctx.srv.fill("alice", make_msgs([simple_msg(1)], ctx.store))
    p = ctx.srv.login("alice")
    for _ in range(8):          # 4 s in all, twice the autologout
        time.sleep(0.5)
        p.ok("NOOP")
    p.quit()


def test_autologout_warning_logged(ctx):
    """autologout below RFC 1939's 10 minutes is accepted with a warning."""
    log = ctx.srv.log_text().lower()
    check("autologout" in log, "no warning naming autologout in the log")
