#!/usr/bin/env python3
"""idle_mem.py: satchel's memory per idle logged-in connection, plain and
TLS, measured the way bench/run.py measures it (PSS of the whole server
tree from /proc/PID/smaps_rollup with N idle clients, minus the same
warm server with none, divided by N, IDLE_SETTLE_S after the last
login), without Dovecot and the big data
set, so a change to the per-connection cost can be checked in a minute.
Optionally it then holds HOLD idle TLS connections and times fresh TLS
logins beside them (issue 14: 10,000 held, a login's p99 under 50 ms).

    python3 bench/idle_mem.py [N] [HOLD]    (IDLE_MEM_ROUNDS, default 2)

N (default 1000) idle connections per measurement, plain and TLS in
turn, ROUNDS times (medians printed, each round's PSS beside); HOLD (default 0: not
run) idle TLS connections for the login-latency check. Each maildrop has
5 messages of 2-5 KB like bench/run.py's l-users (hard links of one set:
the snapshot is what costs memory, not the files). The server runs from
SATCHEL_BIN (default build/satchel) as root dropping to the satchel user,
on free loopback ports, its state in a temporary directory; only
processes started here are stopped, by PID. Prints a table and one JSON
line; ~80 s with the default rounds, ~40 s more with HOLD = 10000.
"""
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_data  # noqa: E402  (the same message shapes as run.py's)
import run  # noqa: E402  (its process-tree and memory helpers)

PASSWORD = "benchpass"
MAIL_USER = "satchel"
FRESH_USERS = 200      # the fresh-login users, apart from the idle ones
ROUNDS = int(os.environ.get("IDLE_MEM_ROUNDS", "2"))   # 0: HOLD only


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(d, nusers):
    h = run.sha512_crypt(PASSWORD)
    names = ["l%d" % i for i in range(1, nusers + 1)]
    names += ["f%d" % i for i in range(1, FRESH_USERS + 1)] + ["s1"]
    with open(os.path.join(d, "passwd"), "w") as f:
        for u in names:
            f.write("%s:{SHA512-CRYPT}%s\n" % (u, h))
    rnd = random.Random(20240101)
    proto = os.path.join(d, "proto")
    gen_data.write_maildir(proto, "l0", [gen_data.text_message(
        rnd, "l0", n, 2048, 5120) for n in range(gen_data.LOGIN_MSGS)])
    src = os.path.join(proto, "l0", "new")
    files = sorted(os.listdir(src))
    for u in names:
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, "mail", u, sub))
        for n in files:
            os.link(os.path.join(src, n), os.path.join(d, "mail", u, "new",
                                                       n))
    subprocess.run(["chown", "-R", "%s:%s" % (MAIL_USER, MAIL_USER),
                    os.path.join(d, "mail")], check=True)
    state = os.path.join(d, "state")
    os.makedirs(state)
    shutil.chown(state, MAIL_USER, MAIL_USER)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                    os.path.join(d, "key.pem"), "-out",
                    os.path.join(d, "cert.pem"), "-days", "30", "-subj",
                    "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)


def start_server(d, port, tls_port):
    conf = os.path.join(d, "satchel.conf")
    with open(conf, "w") as f:
        f.write("""# written by bench/idle_mem.py (bench/run.py's settings)
listen = 127.0.0.1:{p}
listen_tls = 127.0.0.1:{tp}
tls_cert = {d}/cert.pem
tls_key = {d}/key.pem
users = passwd-file:{d}/passwd
mail = maildir:{d}/mail/%u
mail_user = {mu}
state_dir = {d}/state
log = {d}/satchel.log
log_level = warn
auth_fail_delay = 0
max_connections = 100000
max_connections_per_ip = 100000
max_sessions_per_user = 0
""".format(p=port, tp=tls_port, d=d, mu=MAIL_USER))
    proc = subprocess.Popen([run.SAT_BIN, "serve", "-c", conf,
                             "--foreground"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    run.wait_port(port)
    run.wait_port(tls_port)
    time.sleep(0.5)
    return proc


def bench_argv(d, port, tls, user_fmt, nusers, conc, scenario, extra):
    argv = [run.SAT_BIN, "bench", "-h", "127.0.0.1", "-p", str(port),
            "-u", user_fmt, "-w", PASSWORD, "-U", str(nusers), "-c",
            str(conc), "-s", scenario, "--json", "--quiet"] + extra
    if tls:
        argv += ["--tls", "--cafile", os.path.join(d, "cert.pem"), "--sni",
                 "localhost"]
    return argv


def memory(root):
    """PSS, RSS and private (Private_Clean + Private_Dirty: what only
    that process holds, so it does not move when another process maps
    the same libraries, as the bench client does) of the tree, in KB."""
    tot = {"pss_kb": 0, "rss_kb": 0, "private_kb": 0}
    for p in run.tree(root):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    key = line.split(":")[0]
                    if key == "Pss":
                        tot["pss_kb"] += int(line.split()[1])
                    elif key == "Rss":
                        tot["rss_kb"] += int(line.split()[1])
                    elif key in ("Private_Clean", "Private_Dirty"):
                        tot["private_kb"] += int(line.split()[1])
        except OSError:
            pass
    return tot


def per_process(root):
    """PSS in KB of each process of the tree, by its command name."""
    out = {}
    for p in run.tree(root):
        try:
            name = open("/proc/%d/comm" % p).read().strip()
            with open("/proc/%d/smaps_rollup" % p) as f:
                pss = next(int(x.split()[1]) for x in f
                           if x.startswith("Pss:"))
        except (OSError, StopIteration, IndexError):
            continue
        out.setdefault(name, 0)
        out[name] += pss
    return out


def hold_idle(d, port, tls, n, seconds, user_fmt="l%d"):
    """Starts n idle logged-in clients; returns the bench process once
    all are in, or raises."""
    p, res = run.start_idle(port, tls, os.path.join(d, "cert.pem"),
                            user_fmt, n, seconds)
    if p is None:
        raise RuntimeError("idle clients never all logged in: %s" % res)
    return p


def idle_memory(d, proc, port, tls, n):
    """As bench/run.py's idle_memory: one more idle client (user s1) for
    both readings, so the bench process's share of the libraries it
    maps with the server is in the base too."""
    sharer = hold_idle(d, port, tls, 1, 150, "s%d")
    try:
        time.sleep(run.IDLE_SETTLE_S)   # the last round's heap settled
        base = memory(proc.pid)
        base_by = per_process(proc.pid)
        p = hold_idle(d, port, tls, n, 100)
        time.sleep(1.5)
        burst = memory(proc.pid)
        time.sleep(run.IDLE_SETTLE_S - 1.5)
        full = memory(proc.pid)
        full_by = per_process(proc.pid)
        res = run.stop_idle(p)
    finally:
        run.stop_idle(sharer)
    n = res["idle_ready"]
    out = {"connections": n, "login_all_s": res["idle_ready_s"],
           "errors": run.bench_errors(res),
           "pss_kb_per_conn_burst": (burst["pss_kb"] - base["pss_kb"]) / n,
           "by_process_pss_kb_per_conn": {
               k: (full_by.get(k, 0) - base_by.get(k, 0)) / n
               for k in full_by}}
    for k in ("pss_kb", "rss_kb", "private_kb"):
        out[k + "_per_conn"] = (full[k] - base[k]) / n
    return out


def median_of(rounds):
    """The per-key median of the rounds' numbers (the first round's
    other values)."""
    out = dict(rounds[0])
    for k, v in rounds[0].items():
        if isinstance(v, (int, float)):
            out[k] = statistics.median(r[k] for r in rounds)
    out["rounds_pss_kb_per_conn"] = [r["pss_kb_per_conn"] for r in rounds]
    return out


def fresh_logins_beside(d, proc, tls_port, hold):
    """hold idle TLS clients, then 10 s of fresh TLS logins at
    concurrency 4 beside them: the login latency the held ones cause."""
    time.sleep(run.IDLE_SETTLE_S)
    base = memory(proc.pid)
    t0 = time.monotonic()
    p = hold_idle(d, tls_port, True, hold, 110)
    ready_s = time.monotonic() - t0
    time.sleep(run.IDLE_SETTLE_S)
    mem = memory(proc.pid)
    by = per_process(proc.pid)
    try:
        r = subprocess.run(bench_argv(d, tls_port, True, "f%d", FRESH_USERS,
                                      4, "login", ["-t", "10"]),
                           capture_output=True, text=True, timeout=80)
        fresh = json.loads(r.stdout)
    finally:
        held = run.stop_idle(p)
    return {"held": held["idle_ready"], "held_ready_s": ready_s,
            "held_pss_mb": mem["pss_kb"] / 1024,
            "held_pss_kb_per_conn": (mem["pss_kb"] - base["pss_kb"]) / hold,
            "held_pss_mb_by_process": {k: v / 1024 for k, v in by.items()},
            "held_errors": run.bench_errors(held),
            "fresh_logins_per_s": fresh["sessions_per_s"],
            "fresh_login_p50_ms": fresh["login_p50_ms"],
            "fresh_login_p99_ms": fresh["login_p99_ms"],
            "fresh_errors": run.bench_errors(fresh)}


def log_summary(path):
    """The server's warning and error lines (log_level = warn), counted by
    their text without the session's address and id."""
    counts = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                text = " ".join(w for w in line.split()[1:]
                                if not w.startswith(("rip=", "session=",
                                                     "user=")))
                counts[text[:120]] = counts.get(text[:120], 0) + 1
    except OSError:
        pass
    return counts


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    hold = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    run.check_can_run("idle_mem.py")
    d = tempfile.mkdtemp(prefix="satchel-idle-mem-")
    os.chmod(d, 0o755)
    proc = None
    try:
        run.log("setup: %d users" % (max(n, hold) + FRESH_USERS + 1))
        setup(d, max(n, hold))
        port, tls_port = free_port(), free_port()
        proc = start_server(d, port, tls_port)
        run.log("server up; warm-up")
        # warm-up as in run.py: every user's index built, the user
        # cache and the heaps at their working size
        for tls in (False, True) if ROUNDS else ():
            subprocess.run(bench_argv(d, tls_port if tls else port, tls,
                                      "l%d", n, 16, "login",
                                      ["-n", str(n)]),
                           capture_output=True, check=True, timeout=120)
        out = {"n": n, "binary": run.SAT_BIN, "rounds": ROUNDS}
        got = {"plain": [], "tls": []}
        for _ in range(ROUNDS):
            got["plain"].append(idle_memory(d, proc, port, False, n))
            got["tls"].append(idle_memory(d, proc, tls_port, True, n))
        if ROUNDS:
            out["plain"] = median_of(got["plain"])
            out["tls"] = median_of(got["tls"])
        if hold:
            run.log("holding %d idle TLS connections" % hold)
            out["hold"] = fresh_logins_beside(d, proc, tls_port, hold)
        run.log("done")
    finally:
        if proc is not None:
            run.Server._kill_tree(proc.pid, proc)
        out["server_log"] = log_summary(os.path.join(d, "satchel.log"))
        shutil.rmtree(d, True)
    for kind in ("plain", "tls") if ROUNDS else ():
        r = out[kind]
        print("%-5s %5d idle: PSS %6.2f KB/conn (rounds %s; %.2f 1.5 s "
              "after the logins), private %6.2f, RSS %6.2f KB/conn "
              "(PSS by process: %s)%s" % (
                  kind, r["connections"], r["pss_kb_per_conn"],
                  " ".join("%.2f" % x for x in r["rounds_pss_kb_per_conn"]),
                  r["pss_kb_per_conn_burst"], r["private_kb_per_conn"],
                  r["rss_kb_per_conn"],
                  ", ".join("%s %.2f" % kv for kv in sorted(
                      r["by_process_pss_kb_per_conn"].items())),
                  " errors %r" % r["errors"] if r["errors"] else ""))
    if hold:
        h = out["hold"]
        print("held %d idle TLS (all in after %.1f s, server PSS %.1f MB, "
              "%.2f KB per connection; by process MB: %s); "
              "fresh TLS logins beside them: %.0f/s, p50 %.2f ms, "
              "p99 %.2f ms%s" % (
                  h["held"], h["held_ready_s"], h["held_pss_mb"],
                  h["held_pss_kb_per_conn"],
                  ", ".join("%s %.1f" % kv for kv in sorted(
                      h["held_pss_mb_by_process"].items())),
                  h["fresh_logins_per_s"], h["fresh_login_p50_ms"],
                  h["fresh_login_p99_ms"],
                  " errors %r %r" % (h["held_errors"], h["fresh_errors"])
                  if h["held_errors"] or h["fresh_errors"] else ""))
    if out["server_log"]:
        print("server log (warnings and errors, by text): %r"
              % out["server_log"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
