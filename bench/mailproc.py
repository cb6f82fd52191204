#!/usr/bin/env python3
"""mailproc.py: what mail_process = per-user costs (issue 13, 3.): for
each mode, logins/s (`satchel bench -s login -c 16 -t SECONDS`, each
login a USER/PASS, STAT, QUIT on an empty Maildir) and PSS per logged-in
idle session (`satchel bench -s idle` holding IDLE sessions; the server's
whole process tree, agents included, from /proc/PID/smaps_rollup, minus
the same tree with none). Passwords are {PLAIN} by default, so a login is
mostly the session and the agent, the strictest view of the agent's
price (MAILPROC_HASH=1: SHA512-CRYPT as bench/run.py). Runs as root (the
server drops to mail_user), about 2 x (SECONDS + 20) s. Only processes
started here are stopped, by PID.

    python3 bench/mailproc.py [BINARY] [SECONDS] [IDLE]
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

MAIL_USER = "satchel"
PASSWORD = "benchpass"
USERS = 1000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("port %d did not open" % port)


def proc_table():
    table = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open("/proc/%s/stat" % d).read()
            except OSError:
                continue
            table[int(d)] = int(stat[stat.rfind(")") + 2:].split()[1])
    return table


def tree(root):
    table = proc_table()
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in table.items() if pp == p]
    return out


def memory(root):
    pss, procs = 0, 0
    for p in tree(root):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
            procs += 1
        except OSError:
            pass
    return pss, procs


def setup(d):
    scheme = "{PLAIN}" + PASSWORD
    if os.environ.get("MAILPROC_HASH") == "1":
        h = subprocess.run(["openssl", "passwd", "-6", "-salt", "satchelbench",
                            PASSWORD], capture_output=True, text=True,
                           check=True).stdout.strip()
        scheme = "{SHA512-CRYPT}" + h
    with open(os.path.join(d, "passwd"), "w") as f:
        for i in range(1, USERS + 1):
            f.write("l%d:%s\n" % (i, scheme))
    for i in range(1, USERS + 1):
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, "mail", "l%d" % i, sub))
    subprocess.run(["chown", "-R", "%s:%s" % (MAIL_USER, MAIL_USER),
                    os.path.join(d, "mail")], check=True)
    state = os.path.join(d, "state")
    os.makedirs(state)
    shutil.chown(state, MAIL_USER, MAIL_USER)


def bench(binary, port, args, timeout):
    r = subprocess.run([binary, "bench", "-p", str(port), "-u", "l%d", "-w",
                        PASSWORD, "--json", "--quiet"] + args,
                       capture_output=True, text=True, timeout=timeout)
    return json.loads(r.stdout)


def idle(binary, pid, port, n):
    base, _ = memory(pid)
    p = subprocess.Popen([binary, "bench", "-p", str(port), "-u", "l%d",
                          "-w", PASSWORD, "-U", str(n), "-c", str(n), "-s",
                          "idle", "-t", "60", "--noop", "30", "--json",
                          "--quiet", "--max-time", "90"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    ready = None
    for line in p.stderr:
        if line.startswith("ready:"):
            ready = line.strip()
            break
    time.sleep(1.5)
    full, procs = memory(pid) if ready else (None, 0)
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=60)
    res = json.loads(out)
    if full is None:
        raise RuntimeError("idle sessions never all logged in: %s" % res)
    k = res["idle_ready"]
    return (full - base) / k, procs, k, res["idle_ready_s"]


def run_mode(binary, d, mode, seconds, nidle):
    port = free_port()
    conf = os.path.join(d, "satchel.conf")
    with open(conf, "w") as f:
        f.write("""listen = 127.0.0.1:{p}
users = passwd-file:{d}/passwd
mail = maildir:{d}/mail/%u
mail_user = {mu}
mail_process = {mode}
state_dir = {d}/state
log = {d}/satchel-{mode}.log
log_level = warn
auth_fail_delay = 0
max_connections = 100000
max_connections_per_ip = 100000
max_sessions_per_user = 0
""".format(p=port, d=d, mu=MAIL_USER, mode=mode))
    proc = subprocess.Popen([binary, "serve", "-c", conf, "--foreground"],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        time.sleep(0.5)
        res = bench(binary, port, ["-U", str(USERS), "-c", "16", "-s",
                                   "login", "-t", str(seconds)],
                    seconds + 60)
        errors = {k: v for k, v in res["errors"].items() if v}
        time.sleep(6.0)   # the agents of the last sessions exit, the
        # workers trim their memory (MEMORY_TRIM_MS)
        per, procs, k, ready_s = idle(binary, proc.pid, port, nidle)
        return res["sessions_per_s"], errors, per, procs, k, ready_s
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/satchel"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10
    nidle = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    d = tempfile.mkdtemp(prefix="satchel-mailproc-")
    os.chmod(d, 0o755)
    out = {}
    try:
        setup(d)
        for mode in ("shared", "per-user"):
            rate, errors, per, procs, k, ready_s = run_mode(
                os.path.abspath(binary), d, mode, seconds, nidle)
            out[mode] = (rate, per)
            print("%-8s %8.1f logins/s (-c 16)%s; %d idle sessions: PSS "
                  "%.1f KB per session, %d processes, all logged in in "
                  "%.2f s" % (mode, rate, " errors %r" % errors if errors
                              else "", k, per, procs, ready_s), flush=True)
        s, p = out["shared"], out["per-user"]
        print("per-user/shared: logins/s %.3f, PSS per idle session %.1fx "
              "(+%.1f KB)" % (p[0] / s[0], p[1] / s[1], p[1] - s[1]))
    finally:
        shutil.rmtree(d, True)


if __name__ == "__main__":
    main()
