#!/usr/bin/env python3
"""dovecot_modes.py: why the anchor's login rate differs between machines.

Starts Dovecot (Debian's dovecot-pop3d, from the copy unpacked into
build-dovecot/: scripts/dovecotns.py) from a config of its own under
bench/out/modes/, once per mode of its post-login `pop3` service, and
measures logins (USER/PASS/QUIT on empty Maildirs, SHA512-CRYPT) with
`satchel bench -s login` at 1 and 16 connections, interleaved, RUNS
times. With --strace it also counts, for the stock mode, the processes
Dovecot creates per login (clone, execve).

    stock     Dovecot's default: a new pop3 process (fork + exec of
              /usr/lib/dovecot/pop3) for every login
    reuse     service pop3 { service_count = 1000; process_min_avail =
              cores }: a pop3 process serves up to 1000 logins in turn,
              what Dovecot's service documentation suggests for speed
              (every user here has the same uid, which reuse needs)

Run as root (Dovecot drops to the satchel user). Only processes started
here are stopped, by PID. Environment: SATCHEL_BIN, RUNS (default 3),
SECONDS_EACH (default 4).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import dovecotns  # noqa: E402  (scripts/ is not a package)

OUT = os.path.join(ROOT, "bench", "out", "modes")
DATA = os.path.join(OUT, "data")
SAT_BIN = os.environ.get("SATCHEL_BIN", os.path.join(ROOT, "build", "satchel"))
RUNS = int(os.environ.get("RUNS", "3"))
SECONDS_EACH = os.environ.get("SECONDS_EACH", "4")
PORT = 22210
USERS = 50
CORES = os.cpu_count() or 2
MODES = {
    "stock": "",
    "reuse": "service pop3 {\n  service_count = 1000\n"
             "  process_min_avail = %d\n}\n" % CORES,
}


def write_files():
    for d in ("run", "state"):
        os.makedirs(os.path.join(OUT, d), exist_ok=True)
    h = subprocess.run(["openssl", "passwd", "-6", "-salt", "satchelbench",
                        "benchpass"], capture_output=True, text=True,
                       check=True).stdout.strip()
    with open(os.path.join(OUT, "passwd"), "w") as f:
        for i in range(1, USERS + 1):
            f.write("u%d:{SHA512-CRYPT}%s::::::\n" % (i, h))
    for i in range(1, USERS + 1):
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(DATA, "u%d" % i, sub), exist_ok=True)
    subprocess.run(["chown", "-R", "satchel:satchel", DATA], check=True)


def config(mode):
    path = os.path.join(OUT, "dovecot-%s.conf" % mode)
    with open(path, "w") as f:
        f.write("""# written by bench/dovecot_modes.py
base_dir = {o}/run
state_dir = {o}/state
instance_name = satchel-modes
{u}protocols = pop3
listen = 127.0.0.1
log_path = {o}/dovecot.log
info_log_path = /dev/null
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {o}/passwd
}}
userdb {{
  driver = static
  args = uid=satchel gid=satchel home={d}/%u
}}
mail_location = maildir:{d}/%u
first_valid_uid = 1
pop3_lock_session = yes
default_process_limit = 2000
default_client_limit = 20000
protocol pop3 {{
  mail_max_userip_connections = 100000
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {p}
  }}
  inet_listener pop3s {{
    port = 0
  }}
  service_count = 0
  process_min_avail = {c}
  client_limit = 5000
}}
""".format(o=OUT, d=DATA, p=PORT, c=CORES,
           u=dovecotns.settings("satchel")) + MODES[mode])
    return path


def wait_port(timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", PORT), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("dovecot did not listen on %d in %ds" % (PORT, timeout))


def logins(conc):
    r = subprocess.run([SAT_BIN, "bench", "-h", "127.0.0.1", "-p", str(PORT),
                        "-u", "u%d", "-w", "benchpass", "-U", str(USERS),
                        "-c", str(conc), "-t", SECONDS_EACH, "-s", "login",
                        "--json"], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def with_dovecot(mode, fn):
    p = subprocess.Popen(dovecotns.argv("/usr/sbin/dovecot", "-c",
                                        config(mode), "-F"),
                         stdin=subprocess.DEVNULL)
    try:
        wait_port()
        logins(1)   # warm-up: login and pop3 processes up, caches filled
        return fn(p)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def count_processes(p):
    trace = os.path.join(OUT, "strace.txt")
    st = subprocess.Popen(["strace", "-f", "-c", "-e", "trace=clone,execve",
                           "-o", trace, "-p", str(p.pid)],
                          stderr=subprocess.DEVNULL)
    time.sleep(1)
    n = logins(1)["sessions"]
    st.send_signal(signal.SIGINT)
    st.wait()
    calls = {}
    for line in open(trace):
        parts = line.split()
        if len(parts) >= 5 and parts[-1] in ("clone", "clone3", "execve"):
            calls[parts[-1]] = int(parts[3])
    return n, calls


def main():
    dovecotns.fetch(("dovecot-core", "dovecot-pop3d"))
    write_files()
    rates = {(m, c): [] for m in MODES for c in (1, 16)}
    for run in range(RUNS):
        for mode in MODES:
            for conc in (1, 16):
                r = with_dovecot(mode, lambda p, c=conc: logins(c))
                rates[(mode, conc)].append(r["sessions_per_s"])
                print("run %d %-6s c%-2d %8.1f logins/s" %
                      (run + 1, mode, conc, r["sessions_per_s"]), flush=True)
    print("\nmedian logins/s over %d runs" % RUNS)
    for conc in (1, 16):
        med = {m: sorted(rates[(m, conc)])[RUNS // 2] for m in MODES}
        print("  c%-2d stock %7.1f  reuse %7.1f  (reuse/stock %.1fx)" %
              (conc, med["stock"], med["reuse"],
               med["reuse"] / med["stock"]))
    if "--strace" in sys.argv:
        n, calls = with_dovecot("stock", count_processes)
        print("\nstock, under strace: %d logins, %s" % (n, ", ".join(
            "%s %d (%.2f per login)" % (k, v, v / n)
            for k, v in sorted(calls.items()))))


if __name__ == "__main__":
    main()
