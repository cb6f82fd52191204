#!/usr/bin/env python3
"""nodes.py: the two figures of issue 11's benchmark (docs/scaling.md).

1. Lock takeover after a node is killed: two satchel nodes (127.0.0.2,
   127.0.0.3) on one Maildir store with node_heartbeat_dir and
   node_heartbeat_timeout = 3; a session is open on node-0, then all of
   node-0's processes are stopped and SIGKILLed at once (a power cut);
   the time until the same user's login on node-1 gets +OK, polled every
   50 ms. TAKEOVERS times (node-0 restarted in between); min, median,
   max. Without heartbeats the same lock would wait lock_stale_timeout
   (300 s, as Dovecot's).
2. PROXY v2 overhead: `satchel bench` logins/s and fetch MB/s against
   node-0 directly, through Debian's HAProxy (build-haproxy/, `make
   deps`) without a header, and through HAProxy with send-proxy-v2 from
   the source node-0 trusts: the last two differ only by the header, so
   their ratio is the PROXY v2 cost; direct vs send-proxy-v2 is the
   whole path with HAProxy's relay. Interleaved, RUNS times, medians.

Writes bench/out/nodes.json and bench/out/nodes.txt; stays under 2
minutes with the defaults. Only processes started here are stopped, by
PID. Environment: SATCHEL_BIN, BENCH_RUNS (3), BENCH_SECONDS (3),
BENCH_TAKEOVERS (5).
"""
import json
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import time

from run import (OUT, SAT_BIN, MAIL_USER, bench_errors, log, run_json, tree)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAPROXY = os.path.join(ROOT, "build-haproxy", "usr", "sbin", "haproxy")
DIR = os.path.join(OUT, "nodes")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECS = float(os.environ.get("BENCH_SECONDS", "3"))
TAKEOVERS = int(os.environ.get("BENCH_TAKEOVERS", "5"))
TIMEOUT = 3
PASSWORD = "benchpass"
NUSERS = 20
PORT = 23110                    # node-0 and node-1, each on its address
HA_PLAIN, HA_PROXY = 23111, 23112
PROXY_SRC, PLAIN_SRC = "127.0.0.9", "127.0.0.10"


def chown_tree(path):
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam(MAIL_USER)
    for dp, dns, fns in os.walk(path):
        os.lchown(dp, pw.pw_uid, pw.pw_gid)
        for n in fns:
            os.lchown(os.path.join(dp, n), pw.pw_uid, pw.pw_gid)


def setup():
    shutil.rmtree(DIR, ignore_errors=True)
    os.makedirs(os.path.join(DIR, "mail"))
    with open(os.path.join(DIR, "passwd"), "w") as f:
        for i in range(1, NUSERS + 1):
            f.write("user%d:{PLAIN}%s\n" % (i, PASSWORD))
    body = ("x" * 76 + "\n") * 650          # ~50 KB
    for i in range(1, NUSERS + 1):
        md = os.path.join(DIR, "mail", "user%d" % i)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub))
        for n in range(10):
            with open(os.path.join(md, "new", "17000000%02d.M%dP1.bench"
                                   % (n, i)), "w") as f:
                f.write("Subject: %d\n\n%s" % (n, body))
    for n in range(2):
        with open(conf_path(n), "w") as f:
            f.write("\n".join([
                "listen = 127.0.0.%d:%d" % (n + 2, PORT),
                "users = passwd-file:" + os.path.join(DIR, "passwd"),
                "mail = maildir:%s/mail/%%u" % DIR,
                "state_dir = " + os.path.join(DIR, "state%d" % n),
                "log = stderr", "hostname = bench.example",
                "auth_fail_delay = 0", "workers = 1",
                "node_id = node-%d" % n,
                "node_heartbeat_dir = " + os.path.join(DIR, "nodes"),
                "node_heartbeat_timeout = %d" % TIMEOUT,
                "proxy_trusted = %s/32" % PROXY_SRC,
                "lock_stale_timeout = 300",
            ] + (["mail_user = " + MAIL_USER] if os.geteuid() == 0 else []))
                + "\n")
        os.makedirs(os.path.join(DIR, "state%d" % n))
    chown_tree(DIR)


def conf_path(n):
    return os.path.join(DIR, "node%d.conf" % n)


def wait_listen(host, port, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection((host, port), 1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %s:%d" % (host, port))


class Node:
    def __init__(self, n):
        self.n = n
        self.host = "127.0.0.%d" % (n + 2)
        self.proc = None

    def start(self):
        logf = open(os.path.join(DIR, "node%d.log" % self.n), "ab")
        self.proc = subprocess.Popen(
            [SAT_BIN, "serve", "-c", conf_path(self.n), "--foreground"],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        wait_listen(self.host, PORT)
        time.sleep(0.3)     # its worker said ready

    def kill_all(self):
        """A power cut: every process stopped first (no child sees its
        master go and cleans up), then killed."""
        pids = tree(self.proc.pid)
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for p in pids:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
        self.proc.wait()
        self.proc = None

    def stop(self):
        if self.proc is None:
            return
        pids = tree(self.proc.pid)
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc = None


def pop_login(host, user):
    """(socket, PASS reply) of a fresh USER/PASS login."""
    s = socket.create_connection((host, PORT), 5)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"USER %s\r\n" % user.encode())
    f.readline()
    s.sendall(b"PASS %s\r\n" % PASSWORD.encode())
    return s, f.readline().decode("latin-1")


def takeover(nodes):
    held, resp = pop_login(nodes[0].host, "user1")
    if not resp.startswith("+OK"):
        raise RuntimeError("login on node-0: %s" % resp)
    nodes[0].kill_all()
    t0 = time.monotonic()
    held.close()
    while time.monotonic() - t0 < 60:
        s, resp = pop_login(nodes[1].host, "user1")
        if resp.startswith("+OK"):
            waited = time.monotonic() - t0
            s.sendall(b"QUIT\r\n")
            s.close()
            return waited
        s.close()
        time.sleep(0.05)
    raise RuntimeError("no takeover within 60 s")


def haproxy():
    cfg = os.path.join(DIR, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write("""global
    pidfile {d}/haproxy.pid
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
listen plain
    bind 127.0.0.1:{plain}
    server node-0 127.0.0.2:{port} source {psrc}
listen proxy
    bind 127.0.0.1:{proxy}
    server node-0 127.0.0.2:{port} source {xsrc} send-proxy-v2
""".format(d=DIR, plain=HA_PLAIN, proxy=HA_PROXY, port=PORT,
           psrc=PLAIN_SRC, xsrc=PROXY_SRC))
    logf = open(os.path.join(DIR, "haproxy.log"), "ab")
    proc = subprocess.Popen([HAPROXY, "-f", cfg, "-db"], stdout=logf,
                            stderr=subprocess.STDOUT)
    wait_listen("127.0.0.1", HA_PLAIN)
    wait_listen("127.0.0.1", HA_PROXY)
    return proc


def node_cpu(node):
    """CPU seconds (user + system) of node's processes so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in tree(node.proc.pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / ticks


def bench(host, port, scenario, node=None):
    """The figure of one run; with node, also node's CPU milliseconds per
    session (the server's own cost, apart from HAProxy's and the
    client's, which share the cores)."""
    cpu0 = node_cpu(node) if node else 0
    res = run_json([SAT_BIN, "bench", "-h", host, "-p", str(port), "-u",
                    "user%d", "-w", PASSWORD, "-U", str(NUSERS), "-c", "4",
                    "-s", scenario, "-t", str(SECS), "--json", "--quiet",
                    "--max-time", "60"])
    bad = bench_errors(res)
    if bad:
        raise RuntimeError("%s %s:%d: errors %s" % (scenario, host, port,
                                                     bad))
    figure = res["sessions_per_s" if scenario == "login" else "mb_per_s"]
    if node is None:
        return figure
    return figure, (node_cpu(node) - cpu0) * 1000 / max(res["sessions"], 1)


def main():
    if not os.access(HAPROXY, os.X_OK):
        raise SystemExit("no %s: run make deps" % HAPROXY)
    os.makedirs(OUT, exist_ok=True)
    setup()
    nodes = [Node(0), Node(1)]
    ha = None
    result = {"heartbeat_timeout_s": TIMEOUT, "takeover_s": []}
    try:
        for n in nodes:
            n.start()
        for i in range(TAKEOVERS):
            w = takeover(nodes)
            result["takeover_s"].append(round(w, 3))
            log("takeover %d: %.2f s" % (i + 1, w))
            nodes[0].start()
        ha = haproxy()
        paths = {"direct": ("127.0.0.2", PORT),
                 "haproxy": ("127.0.0.1", HA_PLAIN),
                 "haproxy_proxy_v2": ("127.0.0.1", HA_PROXY)}
        raw = {p: {"login": [], "fetch": [], "cpu_ms": []} for p in paths}
        for r in range(RUNS):
            for scenario in ("login", "fetch"):
                for p, (host, port) in paths.items():
                    v, cpu_ms = bench(host, port, scenario, nodes[0])
                    raw[p][scenario].append(v)
                    if scenario == "login":
                        raw[p]["cpu_ms"].append(cpu_ms)
                    log("run %d %s %s: %.1f (node-0 %.3f ms CPU per "
                        "session)" % (r + 1, scenario, p, v, cpu_ms))
        result["raw"] = raw
        result["median"] = {p: {s: statistics.median(v) for s, v in d.items()}
                            for p, d in raw.items()}
    finally:
        if ha is not None:
            ha.terminate()
            ha.wait()
        for n in nodes:
            n.stop()
    t = result["takeover_s"]
    med = result["median"]
    lines = [
        "lock takeover after a node kill (heartbeat timeout %d s), %d runs:"
        % (TIMEOUT, len(t)),
        "  min %.2f s, median %.2f s, max %.2f s (target <= 4 s; without "
        "heartbeats: lock_stale_timeout, 300 s)"
        % (min(t), statistics.median(t), max(t)),
        "PROXY v2 overhead (satchel bench -c 4, %g s each, median of %d):"
        % (SECS, RUNS),
        "  %-18s %12s %12s %14s" % ("path", "logins/s", "fetch MB/s",
                                    "node ms/login"),
    ]
    for p in ("direct", "haproxy", "haproxy_proxy_v2"):
        lines.append("  %-18s %12.1f %12.1f %14.3f" % (
            p, med[p]["login"], med[p]["fetch"], med[p]["cpu_ms"]))
    for s, what in (("login", "logins/s"), ("fetch", "fetch MB/s")):
        hp, hx, d = (med["haproxy"][s], med["haproxy_proxy_v2"][s],
                     med["direct"][s])
        lines.append("  %s: PROXY v2 header %+.1f %% (vs HAProxy without), "
                     "whole path %+.1f %% (vs direct)"
                     % (what, (hx / hp - 1) * 100, (hx / d - 1) * 100))
    hp, hx = med["haproxy"]["cpu_ms"], med["haproxy_proxy_v2"]["cpu_ms"]
    lines.append("  node-0 CPU per login: PROXY v2 header %+.1f %% (vs HAProxy "
                 "without; the server's own cost, apart from HAProxy's)"
                 % ((hx / hp - 1) * 100))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(OUT, "nodes.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(OUT, "nodes.txt"), "w") as f:
        f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
