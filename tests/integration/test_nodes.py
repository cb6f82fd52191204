"""Several satchel nodes on one shared Maildir store (issue 11 item 2,
docs/scaling.md): three nodes on 127.0.0.2-4 with distinct node_ids and
one node_heartbeat_dir, behind Debian's HAProxy (unpacked by `make deps`
into build-haproxy/) with PROXY v2 from a source address only the nodes
trust. One login per user across all nodes; a node killed or stopped
loses its locks within node_heartbeat_timeout (seconds, not
lock_stale_timeout's 300); a stopped node that comes back deletes
nothing; a node that cannot write its heartbeat ends its sessions."""

import os
import re
import signal
import smtplib
import subprocess
import threading
import time

from harness import (PASSWORDS, Msg, Pop, Skip, check, eq, free_port,
                     make_msgs, simple_msg, wait_for)
from haproxy import Haproxy

STORES = None
TIMEOUT = 3                 # node_heartbeat_timeout of every node
PROXY_SRC = "127.0.0.9"     # HAProxy's source: the only trusted one
USER = "alice"


def cluster(ctx, n=3, extra=None):
    """n nodes whose Maildirs and heartbeats are node 0's directories.
    extra: {node number: more config}. Returns the started servers."""
    first = None
    nodes = []
    for i in range(n):
        srv = ctx.server(name="node%d" % i,
                         listen="127.0.0.%d:{port}" % (i + 2))
        first = first or srv
        srv.config.update({
            "mail": "maildir:%s/mail/%%u" % first.root,
            "node_id": "node-%d" % i,
            "node_heartbeat_dir": os.path.join(first.root, "nodes"),
            "node_heartbeat_timeout": str(TIMEOUT),
            "proxy_trusted": PROXY_SRC + "/32",
        })
        srv.config.update((extra or {}).get(i, {}))
        srv.write_config()
        nodes.append(srv)
    for srv in nodes:
        srv.start()
    return nodes


def addr(srv):
    return srv.listen.split(":")[0]


def login(srv, user=USER):
    p = Pop(srv.port, host=addr(srv))
    p.ok("USER " + user)
    return p, p.cmd("PASS " + PASSWORDS[user])


def uidls(p):
    status, data = p.multi("UIDL")
    check(status.startswith("+OK"), "UIDL: %s" % status)
    return data


def fill(nodes, n=3):
    msgs = make_msgs([simple_msg(i) for i in range(n)], "maildir")
    nodes[0].fill(USER, msgs)
    return msgs


def processes(srv):
    return [srv.proc.pid] + list(srv.children())


def login_until(srv, deadline):
    """Logs in on srv again and again until +OK; returns (pop, seconds
    the successful attempt itself took) or fails at deadline."""
    last = None
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        p, resp = login(srv)
        if resp.startswith("+OK"):
            return p, time.monotonic() - t0
        last = resp
        p.sock.close()
        time.sleep(0.05)
    raise AssertionError("no login on %s before the deadline; last: %s"
                         % (srv.name, last))


def test_heartbeats_are_written(ctx):
    nodes = cluster(ctx)
    hb = os.path.join(nodes[0].root, "nodes")
    for srv in nodes:
        check("heartbeat in %s" % hb in srv.log_text(),
              "%s logs its heartbeat: %s" % (srv.name, srv.log_tail(3)))
    wait_for(lambda: sorted(os.listdir(hb)) == ["node-0", "node-1",
                                               "node-2"],
             5, "one heartbeat file per node in %s" % hb)
    before = os.stat(os.path.join(hb, "node-1")).st_mtime_ns
    wait_for(lambda: os.stat(os.path.join(hb, "node-1")).st_mtime_ns >
             before, TIMEOUT, "node-1's heartbeat to be touched again")


def test_one_session_per_user_across_nodes(ctx):
    """A second login on another node is [IN-USE]; after QUIT it works."""
    nodes = cluster(ctx)
    fill(nodes)
    a, resp = login(nodes[0])
    check(resp.startswith("+OK"), "login on node-0: %s" % resp)
    for srv in nodes[1:]:
        b, resp = login(srv)
        check(resp.startswith("-ERR [IN-USE]"),
              "login on %s while node-0 holds the lock: %s"
              % (srv.name, resp))
        b.sock.close()
    a.ok("QUIT")
    b, resp = login(nodes[2])
    check(resp.startswith("+OK"), "login on node-2 after QUIT: %s" % resp)
    b.ok("QUIT")


def haproxy(nodes):
    """HAProxy round-robin over the nodes with PROXY v2. Returns (port,
    the Haproxy)."""
    port = free_port()
    servers = "\n".join(
        "    server %s %s:%d source %s send-proxy-v2"
        % (srv.name, addr(srv), srv.port, PROXY_SRC) for srv in nodes)
    body = """frontend pop
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
{servers}
""".format(port=port, servers=servers)
    return port, Haproxy(body, port)


def signal_all(pids, sig):
    for pid in pids:
        os.kill(pid, sig)


def test_eight_logins_through_haproxy_one_wins(ctx):
    """8 clients (sources 127.0.0.10-17) log in as one user at once
    through HAProxy, spread over the 3 nodes: exactly one +OK, seven
    -ERR [IN-USE]; each node logs its clients' own addresses."""
    nodes = cluster(ctx)
    fill(nodes)
    port, proxy = haproxy(nodes)
    try:
        clients = []
        for i in range(8):
            p = Pop(port, source="127.0.0.%d" % (10 + i))
            p.ok("USER " + USER)
            clients.append(p)
        answers = [None] * 8
        go = threading.Barrier(8)

        def one(i):
            go.wait(10)
            answers[i] = clients[i].cmd("PASS " + PASSWORDS[USER])
        threads = [threading.Thread(target=one, args=(i,))
                   for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        ok = [a for a in answers if a and a.startswith("+OK")]
        busy = [a for a in answers if a and a.startswith("-ERR [IN-USE]")]
        eq((len(ok), len(busy)), (1, 7),
           "(+OK, [IN-USE]) among 8 logins: %s" % answers)
        for p in clients:
            p.cmd("QUIT")
        logs = "".join(srv.log_text() for srv in nodes)
        for i in range(8):
            check("rip=127.0.0.%d" % (10 + i) in logs,
                  "client 127.0.0.%d is logged by its own address"
                  % (10 + i))
        served = [srv.name for srv in nodes if "rip=127.0.0.1" in
                  srv.log_text()]
        eq(len(served), 3, "nodes that served the clients")
    finally:
        proxy.stop()


def session_with_a_dele(nodes):
    """Three messages; a session on node-0 that marked message 1 deleted.
    Returns (its Pop, the UIDL listing before, node-0's pids)."""
    fill(nodes)
    a, resp = login(nodes[0])
    check(resp.startswith("+OK"), "login on node-0: %s" % resp)
    before = uidls(a)
    a.ok("DELE 1")
    return a, before, processes(nodes[0])


def takeover(srv, since):
    """Logs in on srv until it works; fails unless within the timeout and
    a second since the node went away."""
    b, attempt = login_until(srv, since + TIMEOUT + 10)
    waited = time.monotonic() - since
    # the time until the lock could be taken: the successful attempt's
    # own connect, greeting and password check (slow under ASan on a
    # busy machine) are not the takeover's
    check(waited - attempt <= TIMEOUT + 1, "login on %s %.1f s after the "
          "other node went, %.1f s of it the login itself (want <= %d s)"
          % (srv.name, waited, attempt, TIMEOUT + 1))
    return b


def test_killed_node_loses_its_lock_in_seconds(ctx):
    """node-0 is SIGKILLed with a session that marked a message deleted:
    the user logs in on node-1 within the heartbeat timeout + 1 s, the
    deletion was never applied and the UIDLs are those of before."""
    nodes = cluster(ctx)
    a, before, pids = session_with_a_dele(nodes)
    # the whole node at once, as a power cut: stopped first, so no child
    # sees its master go (PR_SET_PDEATHSIG) and cleans up
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


def stopped_node_deletes_nothing(nodes):
    """node-0 SIGSTOPped with a DELE pending, the user logs in on node-1,
    node-0 continued: its QUIT answers -ERR [SYS/TEMP] and node-1 still
    sees every message (also test_nodes_pgsql's). Returns node-0's
    UIDL listing from before."""
    a, before, pids = session_with_a_dele(nodes)
    signal_all(pids, signal.SIGSTOP)
    try:
        b = takeover(nodes[1], time.monotonic())
    finally:
        signal_all(pids, signal.SIGCONT)
    a.send("QUIT\r\n")
    resp = a.getline().decode("latin-1")
    check(resp.startswith("-ERR [SYS/TEMP]"),
          "node-0's QUIT after the takeover: %s" % resp)
    eq(uidls(b), before, "UIDLs on node-1 (nothing deleted)")
    b.ok("QUIT")
    return before


def test_stopped_node_comes_back_and_deletes_nothing(ctx):
    """node-0 is SIGSTOPped past the timeout with a DELE pending; the user
    logs in on node-1; node-0 is continued and its client sends QUIT:
    -ERR [SYS/TEMP], and the message is still there."""
    nodes = cluster(ctx)
    before = stopped_node_deletes_nothing(nodes)
    c, resp = login(nodes[2])
    check(resp.startswith("+OK"), "login on node-2: %s" % resp)
    eq(uidls(c), before, "UIDLs after node-0 came back")
    c.ok("QUIT")


def test_node_without_heartbeat_ends_its_sessions(ctx):
    """node-0's heartbeat file replaced by a directory (the master can no
    longer write it): within the timeout and a refresh its session ends
    with -ERR [SYS/TEMP]; once the file can be written again, logins on
    node-0 work."""
    nodes = cluster(ctx, 2)
    fill(nodes)
    hb = os.path.join(nodes[0].root, "nodes", "node-0")
    a, resp = login(nodes[0])
    check(resp.startswith("+OK"), "login on node-0: %s" % resp)
    os.unlink(hb)
    os.mkdir(hb)
    try:
        a.sock.settimeout(TIMEOUT * 3 + 5)
        resp = a.getline().decode("latin-1")
        check(resp.startswith("-ERR [SYS/TEMP]"),
              "node-0 ends the session on its own: %s" % resp)
        check("heartbeat failed" in nodes[0].log_text(),
              "the failed heartbeat is logged: %s" % nodes[0].log_tail(4))
    finally:
        os.rmdir(hb)
    wait_for(lambda: "heartbeat written again" in nodes[0].log_text(),
             TIMEOUT + 5, "node-0 to write its heartbeat again")
    a, resp = login(nodes[0])
    check(resp.startswith("+OK"), "login on node-0 again: %s" % resp)
    a.ok("QUIT")


def bindfs(source, mountpoint):
    """Debian's bindfs: source at mountpoint with FUSE attributes and
    entries cached for 60 s, standing in for an NFS client's attribute
    cache. Returns a stop function."""
    if not os.path.exists("/dev/fuse") or not os.access(
            "/usr/bin/bindfs", os.X_OK):
        raise Skip("no FUSE or no bindfs (make deps installs bindfs)")
    os.makedirs(mountpoint)
    proc = subprocess.Popen(
        ["/usr/bin/bindfs", "-f", "-o",
         "allow_other,attr_timeout=60,entry_timeout=60", source,
         mountpoint], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop():
        subprocess.run(["fusermount", "-u", mountpoint],
                       capture_output=True, timeout=30)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    try:
        wait_for(lambda: proc.poll() is None and os.path.ismount(
            mountpoint), 10, "bindfs to mount %s" % mountpoint)
    except BaseException:
        stop()
        raise
    return stop


def test_cached_attributes_never_hide_a_change(ctx):
    """node-1 sees the store through bindfs with 60 s attribute caching:
    a message that arrives in new/ (written there, as an MDA does, with
    no session of ours) and a deletion through node-0 both show on
    node-1's next login at once: the directories are read, never trusted
    by their cached mtimes."""
    nodes = cluster(ctx, 2)
    shared = os.path.join(nodes[0].root, "mail")
    mnt = os.path.join(ctx.tmp, "bindfs")
    fill(nodes)
    md = nodes[0].maildrop(USER)
    for sub in ("new", "cur"):   # directories old enough to be trusted
        os.utime(os.path.join(md, sub), (1732590000, 1732590000))
    stop = bindfs(shared, mnt)
    try:
        nodes[1].stop()
        nodes[1].config["mail"] = "maildir:%s/%%u" % mnt
        nodes[1].write_config()
        nodes[1].start()

        def stat_on_node1(want, what, retr=False):
            b, resp = login(nodes[1])
            check(resp.startswith("+OK"), "node-1 login: %s" % resp)
            eq(b.ok("STAT").split()[1], str(want), "node-1 STAT " + what)
            listed = uidls(b).decode()
            for n in range(1, want + 1 if retr else 1):
                status, _ = b.multi("RETR %d" % n)
                check(status.startswith("+OK"), "RETR %d on node-1 %s: %s"
                      % (n, what, status))
            b.ok("QUIT")
            return listed
        stat_on_node1(3, "at first")
        stat_on_node1(3, "from its recorded listing")
        nodes[0].add_maildir(USER, [Msg(simple_msg(9),
                                        name="1732599999.M9P9.testhost")])
        listed = stat_on_node1(4, "after an arrival in new/", retr=True)
        check("1732599999.M9P9.testhost" in listed,
              "the new message is listed on node-1: %s" % listed)
        a, resp = login(nodes[0])
        check(resp.startswith("+OK"), "node-0 login: %s" % resp)
        a.ok("DELE 1")
        a.ok("QUIT")
        stat_on_node1(3, "after a deletion through node-0", retr=True)
    finally:
        nodes[1].stop()
        stop()


def lmtp_send(conn, user, token):
    """One LMTP transaction for user on an open smtplib.LMTP: the message
    carries token as its Subject. Fails unless the recipient got 250."""
    msg = ("From: lmtp@example.org\r\nTo: %s@example.org\r\nSubject: "
           "%s\r\nMessage-ID: <%s@example.org>\r\n\r\nbody of %s\r\n"
           % (user, token, token, token))
    refused = conn.sendmail("lmtp@example.org", [user], msg)
    eq(refused, {}, "LMTP refusals for %s" % token)


def tokens_of(p, what, read="RETR %s"):
    """{UIDL: Subject} of every message of p's snapshot, read with RETR
    (or read: "TOP %s 0" leaves them unretrieved); fails on a message
    without a Subject."""
    listed = {}
    for line in uidls(p).decode().splitlines():
        n, uidl = line.split()
        status, data = p.multi(read % n)
        check(status.startswith("+OK"), "RETR %s %s: %s" % (n, what, status))
        m = re.search(rb"^Subject: (\S+)\r$", data, re.M)
        check(m, "message %s %s has a Subject: %r" % (n, what, data[:200]))
        listed[uidl] = m.group(1).decode()
    return listed


def session_round(p, kept, before, what):
    """One session of test_lmtp_on_one_node_pop_on_the_others while
    deliveries go on: lists and RETRs everything, checks it against kept
    ({UIDL: token}, updated here) and the tokens delivered before the
    login, DELEs the oldest message and QUITs."""
    got = tokens_of(p, what)
    tokens = sorted(got.values())
    eq(len(tokens), len(set(tokens)), "%s: no message twice: %s"
       % (what, tokens))
    for uidl, token in kept.items():
        eq(got.get(uidl), token, "%s: kept message %s keeps its UIDL"
           % (what, token))
    new = set(got.values()) - set(kept.values())
    # the snapshot is taken at login: exactly what arrived before it
    # (nothing deleted before, nothing delivered since)
    eq(sorted(new), sorted(before), "%s: the messages new in this "
       "session" % what)
    eq(p.ok("STAT").split()[1], str(len(got)),
       "%s: STAT while deliveries go on (the snapshot)" % what)
    oldest = min(got, key=lambda k: int(got[k].rsplit("-", 1)[1]))
    n = uidls(p).decode().split().index(oldest) // 2 + 1
    p.ok("DELE %d" % n)
    p.ok("QUIT")
    kept.clear()
    kept.update(got)
    del kept[oldest]


def test_lmtp_on_one_node_pop_on_the_others(ctx):
    """Issue 11: delivery (LMTP) to node A while POP3 sessions run on B
    and C (through HAProxy, which balances over B and C only). Five
    rounds; in each alice and bob log in (in alternating order, so each
    user moves between B and C), then a thread delivers to each through
    node A's LMTP (3 messages at least, and on until both sessions have
    ended) while each session RETRs everything, DELEs its oldest message
    and QUITs. Every message shows in the next session exactly
    once and never in the session it arrived during; a kept message
    keeps its UIDL on both nodes; a message deleted on one node does not
    come back when A delivers; the Maildirs end with exactly the
    messages expected."""
    lmtp_port = free_port(("127.0.0.2",))
    nodes = cluster(ctx, extra={0: {
        "lmtp_listen": "127.0.0.2:%d" % lmtp_port}})
    users = ("alice", "bob")
    port, proxy = haproxy(nodes[1:])
    # per user: {UIDL: token} of the messages kept, and the tokens
    # delivered since the last session
    kept = {u: {} for u in users}
    pending = {u: set() for u in users}
    seq = [0]
    lmtp = smtplib.LMTP("127.0.0.2", lmtp_port)
    try:
        lmtp.ehlo_or_helo_if_needed()
        for u in users:          # something to list in the first round
            for _ in range(2):
                seq[0] += 1
                token = "tok-%s-%d" % (u, seq[0])
                lmtp_send(lmtp, u, token)
                pending[u].add(token)
        for rnd in range(5):
            order = users if rnd % 2 == 0 else users[::-1]
            sessions = {}
            for u in order:
                p = Pop(port)
                p.ok("USER " + u)
                resp = p.cmd("PASS " + PASSWORDS[u])
                check(resp.startswith("+OK"), "round %d: %s logs in: %s"
                      % (rnd, u, resp))
                sessions[u] = p
            errors = []
            before = {u: set(pending[u]) for u in users}
            done = threading.Event()

            def deliver_during():
                try:
                    n = 0
                    while n < 3 or not done.is_set():
                        n += 1
                        for u in users:
                            seq[0] += 1
                            token = "tok-%s-%d" % (u, seq[0])
                            lmtp_send(lmtp, u, token)
                            pending[u].add(token)
                except Exception as e:  # reported by the main thread
                    errors.append(e)
            t = threading.Thread(target=deliver_during)
            t.start()
            try:
                for u in users:
                    session_round(sessions[u], kept[u], before[u],
                                  "round %d, %s" % (rnd, u))
            finally:
                done.set()
                t.join(60)
            check(not t.is_alive() and not errors,
                  "LMTP deliveries during round %d: %s" % (rnd, errors))
            for u in users:
                pending[u] -= before[u]
        # the last round's deliveries, listed once more by a session
        for u in users:
            p = Pop(port)
            p.ok("USER " + u)
            check(p.cmd("PASS " + PASSWORDS[u]).startswith("+OK"),
                  "%s logs in at the end" % u)
            got = tokens_of(p, "at the end for " + u)
            p.ok("QUIT")
            eq(sorted(got.values()),
               sorted(list(kept[u].values()) + list(pending[u])),
               "%s's messages at the end: the kept and the pending" % u)
            for uidl, token in kept[u].items():
                eq(got.get(uidl), token, "%s at the end: %s keeps its UIDL"
                   % (u, token))
            eq(len(nodes[0].maildir_files(u)), len(got),
               "%s's files in the shared Maildir" % u)
        for srv in nodes[1:]:
            served = srv.log_text().count("logout: user=alice")
            check(served >= 2, "%s served alice's sessions (%d)"
                  % (srv.name, served))
        check("logout: user=" not in nodes[0].log_text(),
              "node-0 served no POP3 session")
    finally:
        lmtp.quit()
        proxy.stop()


def index_dirs(ctx, n):
    """A node-local index_dir per node (made here, owned by the mail
    user, as an administrator would)."""
    dirs = []
    for i in range(n):
        d = os.path.join(ctx.tmp, "index-node%d" % i)
        os.makedirs(d)
        dirs.append(d)
    return dirs


def last(p):
    return int(p.ok("LAST").split()[1])


TOP = "TOP %s 0"    # headers only: no retrieval recorded


def test_index_dir_per_node(ctx):
    """Two nodes with their own index_dir over one Maildir, LMTP on each
    (last_command = persistent shows the retrieval times): deliveries and
    deletions through either node are seen by the other, UIDLs stay, a
    message retrieved on one node counts as seen on the other, each
    node's cache is in its own index_dir, and the Maildir's
    satchel.index holds only the facts (the retrieved messages)."""
    dirs = index_dirs(ctx, 2)
    ports = [free_port(("127.0.0.%d" % (i + 2),)) for i in range(2)]
    nodes = cluster(ctx, 2, extra={i: {
        "index_dir": dirs[i], "last_command": "persistent",
        "lmtp_listen": "127.0.0.%d:%d" % (i + 2, ports[i])}
        for i in range(2)})
    for i, d in enumerate(dirs):
        nodes[i].fix_owner(d)
    lmtp = [smtplib.LMTP("127.0.0.%d" % (i + 2), ports[i])
            for i in range(2)]
    try:
        lmtp_send(lmtp[0], USER, "tok-1")
        lmtp_send(lmtp[0], USER, "tok-2")
        lmtp_send(lmtp[1], USER, "tok-3")
        b, resp = login(nodes[1])
        check(resp.startswith("+OK"), "node-1 login: %s" % resp)
        got = tokens_of(b, "on node-1", TOP)
        eq(sorted(got.values()), ["tok-1", "tok-2", "tok-3"],
           "node-1 lists what both nodes delivered")
        by_token = {t: u for u, t in got.items()}
        order = uidls(b).decode().split()[1::2]
        b.multi("RETR %d" % (order.index(by_token["tok-1"]) + 1))
        b.ok("DELE %d" % (order.index(by_token["tok-2"]) + 1))
        b.ok("QUIT")
        lmtp_send(lmtp[0], USER, "tok-4")

        a, resp = login(nodes[0])
        check(resp.startswith("+OK"), "node-0 login: %s" % resp)
        eq(last(a), 1, "node-0's LAST: tok-1 was retrieved on node-1")
        got0 = tokens_of(a, "on node-0", TOP)
        eq(sorted(got0.values()), ["tok-1", "tok-3", "tok-4"],
           "node-0: node-1's deletion and node-0's delivery")
        for t in ("tok-1", "tok-3"):
            eq(got0.get(by_token[t]), t, "node-0: the UIDL of " + t)
        order = uidls(a).decode().split()[1::2]
        by_token = {t: u for u, t in got0.items()}
        a.multi("RETR %d" % (order.index(by_token["tok-4"]) + 1))
        a.ok("DELE %d" % (order.index(by_token["tok-3"]) + 1))
        a.ok("QUIT")
        lmtp_send(lmtp[1], USER, "tok-5")

        b, resp = login(nodes[1])
        check(resp.startswith("+OK"), "node-1 login again: %s" % resp)
        eq(last(b), 2, "node-1's LAST: tok-4 retrieved on node-0 too")
        got1 = tokens_of(b, "on node-1 again", TOP)
        b.ok("QUIT")
        eq(sorted(got1.values()), ["tok-1", "tok-4", "tok-5"],
           "node-1: node-0's deletion and node-1's delivery")
        for t in ("tok-1", "tok-4"):
            eq(got1.get(by_token[t]), t, "node-1: the UIDL of " + t)
    finally:
        for c in lmtp:
            c.quit()
    for d in dirs:
        eq(len([f for f in os.listdir(d) if f.endswith(".index")]), 1,
           "one cache file in %s: %s" % (d, os.listdir(d)))
    shared = os.path.join(nodes[0].maildrop(USER), "satchel.index")
    with open(shared) as f:
        facts = f.read().splitlines()[2:]
    eq(sorted(line.split()[0] for line in facts),
       sorted([by_token["tok-1"], by_token["tok-4"]]),
       "the Maildir's satchel.index: the two retrieved messages only")
