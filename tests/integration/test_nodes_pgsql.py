"""Node heartbeats in PostgreSQL (node_heartbeat_pgsql, issue 11 item 2,
docs/scaling.md): the nodes of test_nodes, with rows of
satchel_node_heartbeats in a private PostgreSQL 15 (pgsql.py) instead of
files in the store. Ages are judged by the database's clock; a killed or
stopped node loses its locks within node_heartbeat_timeout; a node that
cannot reach the database ends its sessions and serves again once it
can."""

import signal
import tempfile
import time

import pgsql
from harness import Skip, check, eq, wait_for
from test_nodes import (TIMEOUT, USER, cluster, fill, login,
                        session_with_a_dele, signal_all,
                        stopped_node_deletes_nothing, takeover, uidls)

STORES = None


def database():
    """A started private cluster with the database mail (stopped by the
    caller, by PID)."""
    if not pgsql.available():
        raise Skip("PostgreSQL 15 not installed (make deps)")
    pg = pgsql.Cluster(tempfile.mkdtemp(prefix="satchel-pg-")).initdb()
    pg.start()
    try:
        pg.psql("CREATE DATABASE mail", db="postgres")
    except BaseException:
        pg.stop()
        raise
    return pg


def pg_cluster(ctx, pg, n=2):
    conninfo = ("host=127.0.0.1 port=%d dbname=mail user=postgres "
                "connect_timeout=2" % pg.port)
    return cluster(ctx, n, extra={i: {
        "node_heartbeat_dir": None,
        "node_heartbeat_pgsql": conninfo} for i in range(n)})


def beats(pg):
    """{node_id: (boot, instance, beat)} of the table."""
    rows = pg.psql("SELECT node_id, boot, instance, beat FROM "
                   "satchel_node_heartbeats")
    return {r.split("|")[0]: tuple(r.split("|")[1:])
            for r in rows.splitlines() if r}


def test_rows_are_written(ctx):
    pg = database()
    try:
        nodes = pg_cluster(ctx, pg)
        for srv in nodes:
            check("heartbeat in PostgreSQL" in srv.log_text(),
                  "%s logs its heartbeat: %s" % (srv.name, srv.log_tail(3)))
        wait_for(lambda: sorted(beats(pg)) == ["node-0", "node-1"], 5,
                 "one row per node")
        before = beats(pg)["node-1"][2]
        wait_for(lambda: beats(pg)["node-1"][2] > before, TIMEOUT,
                 "node-1's beat to move on")
    finally:
        pg.stop()


def test_killed_node_loses_its_lock_in_seconds(ctx):
    """As in test_nodes, with the heartbeats in PostgreSQL: the user logs
    in on node-1 within the timeout + 1 s of node-0's SIGKILL, and the
    DELE of the killed session was never applied."""
    pg = database()
    try:
        nodes = pg_cluster(ctx, pg)
        a, before, pids = session_with_a_dele(nodes)
        signal_all(pids, signal.SIGSTOP)
        signal_all(pids, signal.SIGKILL)
        killed = time.monotonic()
        nodes[0].kill()
        b = takeover(nodes[1], killed)
        eq(uidls(b), before, "UIDLs after the takeover")
        b.ok("QUIT")
        check("broken (its node missed its heartbeat or restarted)" in
              nodes[1].log_text(), "node-1 logs why it took the lock: %s"
              % nodes[1].log_tail(4))
    finally:
        pg.stop()


def test_stopped_node_comes_back_and_deletes_nothing(ctx):
    pg = database()
    try:
        stopped_node_deletes_nothing(pg_cluster(ctx, pg))
    finally:
        pg.stop()


def test_database_down_ends_sessions(ctx):
    """The database hangs (every PostgreSQL process SIGSTOPped): node-0
    cannot beat, logs it, and ends its session with -ERR [SYS/TEMP]
    within the timeout and a check; once the database answers again,
    logins work."""
    pg = database()
    try:
        nodes = pg_cluster(ctx, pg, 1)
        fill(nodes)
        a, resp = login(nodes[0])
        check(resp.startswith("+OK"), "login on node-0: %s" % resp)
        pg.pause()
        try:
            a.sock.settimeout(TIMEOUT * 3 + 5)
            resp = a.getline().decode("latin-1")
            check(resp.startswith("-ERR [SYS/TEMP]"),
                  "node-0 ends the session on its own: %s" % resp)
            check("heartbeat failed" in nodes[0].log_text(),
                  "the failed heartbeat is logged: %s"
                  % nodes[0].log_tail(4))
        finally:
            pg.resume()
        wait_for(lambda: "heartbeat written again" in nodes[0].log_text(),
                 TIMEOUT + 5, "node-0 to beat again")
        a, resp = login(nodes[0])
        check(resp.startswith("+OK"), "login on node-0 again: %s" % resp)
        a.ok("QUIT")
    finally:
        pg.stop()
