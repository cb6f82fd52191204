#!/usr/bin/env python3
"""keyproc_ab.py: TLS logins/s of two satchel binaries side by side, for
the key process (issue 13: at most 10 % fewer TLS logins/s than with the
key in the workers). Each round runs `satchel bench -s login --tls -c 16
-t SECONDS` against each binary in turn, with an EC P-256 and an RSA-2048
certificate, on the same config as bench/run.py (SHA512-CRYPT passwords,
1000 users, empty maildirs). Only processes started here are stopped, by
PID.

    python3 bench/keyproc_ab.py OLD_BINARY NEW_BINARY [SECONDS] [ROUNDS]

Environment: KEYPROC_AB_KINDS (default "ec rsa"); KEYPROC_AB_PLAIN=1
stores the passwords as {PLAIN}, so the handshake is most of a login's
cost (the strictest view of the key process's price).
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


def wait_port(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("port %d did not open" % port)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root):
    """CPU of root's live process tree (and its reaped children)."""
    table = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open("/proc/%s/stat" % d).read()
            except OSError:
                continue
            f = stat[stat.rfind(")") + 2:].split()
            table[int(d)] = (int(f[1]), sum(int(x) for x in f[11:15]))
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += table.get(p, (0, 0))[1]
        todo += [c for c, (pp, _) in table.items() if pp == p]
    return total / CLK_TCK


def setup(d):
    h = subprocess.run(["openssl", "passwd", "-6", "-salt", "satchelbench", PASSWORD],
                       capture_output=True, text=True, check=True).stdout.strip()
    scheme = "{SHA512-CRYPT}" + h
    if os.environ.get("KEYPROC_AB_PLAIN") == "1":
        scheme = "{PLAIN}" + PASSWORD
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
    for kind, args in (("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]),
                       ("rsa", ["-newkey", "rsa:2048"])):
        subprocess.run(["openssl", "req", "-x509", *args, "-nodes", "-keyout",
                        os.path.join(d, kind + ".key"), "-out", os.path.join(d, kind + ".pem"),
                        "-days", "30", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)


def run_one(binary, d, kind, seconds):
    port, tls_port = free_port(), free_port()
    conf = os.path.join(d, "satchel.conf")
    with open(conf, "w") as f:
        f.write("""listen = 127.0.0.1:{p}
listen_tls = 127.0.0.1:{tp}
tls_cert = {d}/{k}.pem
tls_key = {d}/{k}.key
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
""".format(p=port, tp=tls_port, d=d, k=kind, mu=MAIL_USER))
    proc = subprocess.Popen([binary, "serve", "-c", conf, "--foreground"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(tls_port)
        time.sleep(0.3)
        cpu0 = cpu_seconds(proc.pid)
        r = subprocess.run([binary, "bench", "-p", str(tls_port), "--tls", "--cafile",
                            os.path.join(d, kind + ".pem"), "--sni", "localhost",
                            "-u", "l%d", "-w", PASSWORD, "-U", str(USERS), "-c", "16",
                            "-s", "login", "-t", str(seconds), "--json", "--quiet"],
                           capture_output=True, text=True, timeout=seconds + 60)
        cpu = cpu_seconds(proc.pid) - cpu0
        res = json.loads(r.stdout)
        errors = {k: v for k, v in res["errors"].items() if v}
        done = res["sessions_per_s"] * seconds
        return res["sessions_per_s"], 1000 * cpu / max(done, 1), errors
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    old, new = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    kinds = os.environ.get("KEYPROC_AB_KINDS", "ec rsa").split()
    d = tempfile.mkdtemp(prefix="satchel-keyproc-ab-")
    os.chmod(d, 0o755)
    try:
        setup(d)
        results = {(k, b): [] for k in kinds for b in ("old", "new")}
        cpus = {(k, b): [] for k in kinds for b in ("old", "new")}
        for rnd in range(rounds):
            for kind in kinds:
                for tag, binary in (("old", old), ("new", new)):
                    rate, cpu, errors = run_one(binary, d, kind, seconds)
                    results[(kind, tag)].append(rate)
                    cpus[(kind, tag)].append(cpu)
                    print("round %d %-3s %-3s %8.1f TLS logins/s, server CPU "
                          "%.2f s per 1000%s" % (
                              rnd + 1, kind, tag, rate, cpu,
                              " errors %r" % errors if errors else ""), flush=True)
        for kind in kinds:
            o = sum(results[(kind, "old")]) / rounds
            n = sum(results[(kind, "new")]) / rounds
            co = sum(cpus[(kind, "old")]) / rounds
            cn = sum(cpus[(kind, "new")]) / rounds
            print("%-3s logins/s old %8.1f new %8.1f new/old %.3f; CPU s/1000 "
                  "old %.2f new %.2f new/old %.3f" % (kind, o, n, n / o, co, cn, cn / co))
    finally:
        shutil.rmtree(d, True)


if __name__ == "__main__":
    main()
