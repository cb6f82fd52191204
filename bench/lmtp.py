#!/usr/bin/env python3
"""lmtp.py: LMTP delivery, satchel serve against Dovecot's lmtp (issue 8).

Unpacks Debian's dovecot-lmtpd next to dovecot-core in build-dovecot/
when missing (scripts/dovecotns.py: never installed), starts both
servers on
loopback high ports (configs and logs under bench/out/, the same users
from a passwd-file, Maildir, each server's default fsync behaviour), and
drives both with `satchel bench --lmtp`: LHLO, then per message MAIL,
RCPT per recipient, DATA (pipelined) and a ~4 KB message with its own
Message-ID. Matrix: Maildir on disk (bench/out/) and on tmpfs (/dev/shm),
1 and 16 connections, 1 and 5 recipients; per cell satchel and Dovecot
alternately, RUNS times, medians of messages/s, p50/p99 from the final dot
to the last per-recipient reply, server CPU per 1,000 deliveries, and in a
separate short pass under strace the fsyncs per message. Every
measurement starts on empty maildrops (a mailbox's size changes what a
delivery costs, most for Dovecot, whose index sync reads new/), and after
it each user's new/ must hold what the bench was told was delivered to
it. Writes bench/out/lmtp.json and bench/out/lmtp.txt.
Only processes started here are stopped, by PID.

Environment: SATCHEL_BIN (default build/satchel), BENCH_RUNS (3),
BENCH_SECONDS (5, per measurement), BENCH_QUICK=1 (one run, short
measurements: a smoke test of the script itself).
"""
import json
import os
import pwd
import re
import resource
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

from run import (OUT, SAT_BIN, MAIL_USER, Server, bench_errors, check_can_run,
                 cpu_seconds, ensure_packages, fmt, log, med, run_json,
                 sha512_crypt, tree)
import dovecotns  # noqa: E402  (scripts/, on sys.path once run is imported)

QUICK = os.environ.get("BENCH_QUICK") == "1"
RUNS = int(os.environ.get("BENCH_RUNS", "1" if QUICK else "3"))
SECS = float(os.environ.get("BENCH_SECONDS", "1" if QUICK else "5"))
STRACE_MSGS = 20 if QUICK else 100     # messages of the fsync pass
CONNS = (1, 16)
RCPTS = (1, 5)
USERS = max(CONNS) * max(RCPTS)        # each connection its own users
USER_FMT = "d%d@localhost"
PORTS = {"satchel": 21024, "dovecot": 22024}
TAGS = {"satchel": "satchel-lmtp", "dovecot": "dovecot-lmtp"}
SYNC_CALLS = "fsync,fdatasync,sync_file_range,syncfs"
DEADLINE = time.monotonic() + 10 * 60


def user_names():
    return ["d%d" % i for i in range(1, USERS + 1)]

# --- setup -----------------------------------------------------------------


def write_configs(mail_root):
    """Both servers' configs for a mail root (disk or tmpfs): the users,
    Maildir under mail_root/<server>/<user>, each server's defaults."""
    pw = pwd.getpwnam(MAIL_USER)
    h = sha512_crypt("benchpass")
    with open(os.path.join(OUT, "lmtp.passwd"), "w") as f:
        for u in user_names():
            f.write("%s:{SHA512-CRYPT}%s\n" % (u, h))
    with open(os.path.join(OUT, "dovecot-lmtp.passwd"), "w") as f:
        for u in user_names():
            f.write("%s:{SHA512-CRYPT}%s:%d:%d::%s/dovecot/%s::\n"
                    % (u, h, pw.pw_uid, pw.pw_gid, mail_root, u))
    for server in ("satchel", "dovecot"):
        os.makedirs(os.path.join(mail_root, server), exist_ok=True)
        shutil.chown(os.path.join(mail_root, server), MAIL_USER, MAIL_USER)
    shutil.chown(mail_root, MAIL_USER, MAIL_USER)
    state = os.path.join(mail_root, "satchel-state")
    os.makedirs(state, exist_ok=True)
    shutil.chown(state, MAIL_USER, MAIL_USER)
    with open(os.path.join(OUT, TAGS["satchel"] + ".conf"), "w") as f:
        f.write("""# written by bench/lmtp.py
listen =
lmtp_listen = 127.0.0.1:{port}
lmtp_workers = {cores}
users = passwd-file:{out}/lmtp.passwd
mail = maildir:{root}/satchel/%u
mail_user = {mu}
state_dir = {state}
log = {out}/satchel-lmtp.log
log_level = warn
""".format(port=PORTS["satchel"], cores=os.cpu_count() or 2, out=OUT,
           root=mail_root, mu=MAIL_USER, state=state))
    run_dir = os.path.join(OUT, "dovecot-lmtp-run")
    dstate = os.path.join(mail_root, "dovecot-state")
    for d in (run_dir, dstate):
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(OUT, TAGS["dovecot"] + ".conf"), "w") as f:
        f.write("""# written by bench/lmtp.py: our own instance, nothing system-wide
base_dir = {run}
state_dir = {dstate}
instance_name = satchel-bench-lmtp
{login_users}protocols = lmtp
listen = 127.0.0.1
log_path = {out}/dovecot-lmtp.log
# one info line per delivery otherwise; satchel runs at log_level = warn
info_log_path = /dev/null
ssl = no
# RCPT TO:<d1@localhost> is user d1, as satchel looks it up
auth_username_format = %Ln
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {out}/dovecot-lmtp.passwd
}}
userdb {{
  driver = passwd-file
  args = {out}/dovecot-lmtp.passwd
}}
mail_location = maildir:~/
first_valid_uid = 1
default_process_limit = 200
# lmtp processes reused (service_count = 0, Debian's default too) and
# one per core forked ahead, so no connection waits for a fork
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
  service_count = 0
  process_min_avail = {cores}
  process_limit = 200
}}
""".format(run=run_dir, dstate=dstate, out=OUT, port=PORTS["dovecot"],
           login_users=dovecotns.settings(MAIL_USER),
           cores=os.cpu_count() or 2))

# --- measurements ----------------------------------------------------------


def empty_maildrops(mail_root, server):
    """Removes every bench user's maildrop (the servers create them again
    at the first delivery, as for a new account); the servers keep no
    per-user state elsewhere that a delivery depends on."""
    for u in user_names():
        shutil.rmtree(os.path.join(mail_root, server, u), ignore_errors=True)
    # the unlinks' journal writes go out now, not into the next fsyncs
    os.sync()


def new_counts(mail_root, server):
    """Files in each user's new/ (0 for a maildrop not created yet)."""
    out = {}
    for u in user_names():
        try:
            out[u] = len(os.listdir(os.path.join(mail_root, server, u,
                                                 "new")))
        except FileNotFoundError:
            out[u] = 0
    return out


def bench(server, conns, rcpts, extra):
    argv = [SAT_BIN, "bench", "--lmtp", "-h", "127.0.0.1", "-p",
            str(server.port), "-u", USER_FMT, "-U", str(conns * rcpts),
            "--rcpts", str(rcpts), "-c", str(conns), "--json", "--quiet",
            "--max-time", "120"] + list(extra)
    res = run_json(argv, timeout=180)
    bad = bench_errors(res)
    if bad:
        raise RuntimeError("%s c%d r%d: bench errors %s"
                           % (server.name, conns, rcpts, bad))
    return res


def check_delivered(mail_root, server, before, res):
    """Every user's new/ grew by exactly what the server answered 250 for
    it: nothing lost, nothing doubled."""
    after = new_counts(mail_root, server.name)
    for u in user_names():
        want = res["user_deliveries"].get(u + "@localhost", 0)
        got = after[u] - before[u]
        if got != want:
            raise RuntimeError("%s: %s/new grew by %d files, the bench had "
                               "%d deliveries to it" % (server.name, u, got,
                                                        want))


def measured(server, mail_root, conns, rcpts, seconds):
    empty_maildrops(mail_root, server.name)
    before = new_counts(mail_root, server.name)
    cpu0 = cpu_seconds(server.pid)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = bench(server, conns, rcpts, ["-t", str(seconds)])
    res["server_cpu_s"] = cpu_seconds(server.pid) - cpu0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # the load generator shares the cores: what it took bounds the rest
    res["client_cpu_s"] = (ru1.ru_utime + ru1.ru_stime -
                           ru0.ru_utime - ru0.ru_stime)
    # another job on the machine shows here (the bench itself adds ~2-4)
    res["loadavg1"] = float(open("/proc/loadavg").read().split()[0])
    check_delivered(mail_root, server, before, res)
    return res


def tasks(pid):
    """Every thread of every process of the server's tree."""
    out = []
    for p in tree(pid):
        try:
            out += [int(t) for t in os.listdir("/proc/%d/task" % p)]
        except OSError:
            pass
    return out


def fsyncs_per_message(server, mail_root, conns, rcpts):
    """A short pass under strace -f -c attached to the server's threads:
    sync calls / messages."""
    argv = ["strace", "-f", "-c", "-e", "trace=" + SYNC_CALLS]
    for t in tasks(server.pid):
        argv += ["-p", str(t)]
    fd, path = tempfile.mkstemp(prefix="strace-", dir=OUT)
    os.close(fd)
    st = subprocess.Popen(argv + ["-o", path], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)    # strace attaches to every thread
        before = new_counts(mail_root, server.name)
        res = bench(server, conns, rcpts, ["-n", str(STRACE_MSGS)])
        check_delivered(mail_root, server, before, res)
        time.sleep(0.2)
    finally:
        st.send_signal(signal.SIGINT)    # detaches and writes the summary
        st.wait(timeout=30)
    calls = 0
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?"
                         r"(\w+)$", line)
            if m and m.group(2) in SYNC_CALLS.split(","):
                calls += int(m.group(1))
    os.unlink(path)
    return calls / max(1, res["messages"])


def fsync_latency(directory, seconds):
    """Median of 4 KB write + fsync of one file in directory (the disk's
    cost of one durable step), in seconds."""
    path = os.path.join(directory, "fsync-probe")
    lat = []
    end = time.monotonic() + seconds
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block = b"x" * 4096
        while time.monotonic() < end or len(lat) < 20:
            t0 = time.monotonic()
            os.write(fd, block)
            os.fsync(fd)
            lat.append(time.monotonic() - t0)
    finally:
        os.close(fd)
        os.unlink(path)
    return statistics.median(lat)


def one_run(run, servers, mail_root, store):
    order = servers if run % 2 == 0 else servers[::-1]
    res = {}
    for conns in CONNS:
        for rcpts in RCPTS:
            cell = "%s_c%d_r%d" % (store, conns, rcpts)
            res[cell] = {}
            for s in order:
                res[cell][s.name] = measured(s, mail_root, conns, rcpts,
                                             SECS)
            log("run %d %s: %s" % (run + 1, cell, ", ".join(
                "%s %.0f msg/s" % (n, r["messages_per_s"])
                for n, r in res[cell].items())))
    return res

# --- report ----------------------------------------------------------------


# (key, label, extractor, higher_is_better)
METRICS = [
    ("msgs", "msgs/s", lambda r: r["messages_per_s"], True),
    ("p50", "p50 ms", lambda r: r["delivery_p50_ms"], False),
    ("p99", "p99 ms", lambda r: r["delivery_p99_ms"], False),
    ("cpu", "CPU s/1k", lambda r: 1000 * r["server_cpu_s"] /
     max(1, r["deliveries"]), False),
]
# Not in the table, in lmtp.json: the cores the server and the load
# generator kept busy (CPU seconds per second of the run).
LOAD = [
    ("server_cores", lambda r: r["server_cpu_s"] / r["elapsed_s"]),
    ("client_cores", lambda r: r["client_cpu_s"] / r["elapsed_s"]),
]


def summarize(results):
    table = []
    for store in ("disk", "tmpfs"):
        for conns in CONNS:
            for rcpts in RCPTS:
                cell = "%s_c%d_r%d" % (store, conns, rcpts)
                row = {"cell": cell, "store": store, "conns": conns,
                       "rcpts": rcpts}
                for key, _, fn, higher in METRICS:
                    for name in ("satchel", "dovecot"):
                        vals = [fn(r[cell][name]) for r in results["runs"]
                                if cell in r]
                        row["%s_%s" % (key, name)] = med(vals)
                        row["%s_%s_runs" % (key, name)] = vals
                    s, d = row[key + "_satchel"], row[key + "_dovecot"]
                    # how many times better satchel is (>1: satchel wins)
                    row[key + "_x"] = None if not s or not d else \
                        (s / d if higher else d / s)
                for key, fn in LOAD:
                    for name in ("satchel", "dovecot"):
                        row["%s_%s" % (key, name)] = med(
                            [fn(r[cell][name]) for r in results["runs"]
                             if cell in r])
                for name in ("satchel", "dovecot"):
                    row["fsync_" + name] = results["fsyncs"].get(
                        cell, {}).get(name)
                table.append(row)
    return table


def table_text(table):
    head = ["store", "conns", "rcpts"]
    for _, label, _, _ in METRICS:
        head += [label + " satchel", "Dovecot", "x"]
    head += ["fsyncs/msg satchel", "Dovecot"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for r in table:
        cells = [r["store"], str(r["conns"]), str(r["rcpts"])]
        for key, _, _, _ in METRICS:
            cells += [fmt(r[key + "_satchel"]), fmt(r[key + "_dovecot"]),
                      (fmt(r[key + "_x"]) + "x") if r[key + "_x"] else "-"]
        cells += [fmt(r["fsync_satchel"]), fmt(r["fsync_dovecot"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_text(table):
    """Cores kept busy during each cell by the server and by the load
    generator (2 in all on the reference machine)."""
    lines = ["| store | conns | rcpts | server cores satchel | Dovecot | "
             "client cores with satchel | with Dovecot |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in table:
        lines.append("| %s | %d | %d | %s | %s | %s | %s |" % (
            r["store"], r["conns"], r["rcpts"],
            fmt(r["server_cores_satchel"]), fmt(r["server_cores_dovecot"]),
            fmt(r["client_cores_satchel"]), fmt(r["client_cores_dovecot"])))
    return "\n".join(lines)


def targets(table):
    """Issue 8's targets, each with the figures it was judged on."""
    def x(pred):
        return [(r["cell"], r["msgs_x"]) for r in table if pred(r)]

    out = []
    for label, rows, bound in (
            ("throughput >= 2x Dovecot at 16 connections",
             x(lambda r: r["conns"] == 16), 2.0),
            ("throughput >= 2x Dovecot on tmpfs",
             x(lambda r: r["store"] == "tmpfs"), 2.0),
            ("throughput >= Dovecot at 1 connection on disk",
             x(lambda r: r["conns"] == 1 and r["store"] == "disk"), 1.0)):
        out.append({"target": label, "met": all(v is not None and v >= bound
                                                for _, v in rows),
                    "figures": rows})
    rows = [(r["cell"], r["fsync_satchel"]) for r in table
            if r["rcpts"] == 1]
    out.append({"target": "<= 2 fsyncs per single-recipient delivery",
                "met": all(v is not None and v <= 2.0 for _, v in rows),
                "figures": rows})
    return out


def targets_text(tg):
    lines = []
    for t in tg:
        lines.append("- %s: %s (%s)" % (
            t["target"], "met" if t["met"] else "NOT met",
            ", ".join("%s %s" % (c, fmt(v)) for c, v in t["figures"])))
    return "\n".join(lines)


def machine_text(m):
    return ("disk fsync (4 KB write + fsync, median): %.2f ms (%.2f at the "
            "start, %.2f at the end); ceiling at 1 connection with 2 fsyncs "
            "per message: %.0f msgs/s (1 fsync: %.0f); tmpfs fsync: %.3f ms; "
            "load average before the run: %s, highest after a measurement: "
            "%.1f; %d cores"
            % (m["disk_fsync_ms"], m["disk_fsync_ms_start"],
               m["disk_fsync_ms_end"], m["disk_ceiling_2fsync"],
               m["disk_ceiling_1fsync"], m["tmpfs_fsync_ms"], m["loadavg"],
               m.get("loadavg1_max", 0), m["cores"]))

# --- main ------------------------------------------------------------------


def run_store(results, store, mail_root, servers):
    write_configs(mail_root)
    try:
        for s in servers:
            s.start()
        log("%s: warm-up (every user's maildrop created on both)" % store)
        for s in servers:
            bench(s, max(CONNS), max(RCPTS), ["-n", str(max(CONNS) * 2)])
        for run in range(RUNS):
            if run > 0 and time.monotonic() > DEADLINE - 150:
                log("stopping early to stay within 10 minutes")
                break
            results["runs"][run] = dict(results["runs"][run],
                                        **one_run(run, servers, mail_root,
                                                  store))
        log("%s: fsyncs per message (strace pass)" % store)
        for conns in CONNS:
            for rcpts in RCPTS:
                cell = "%s_c%d_r%d" % (store, conns, rcpts)
                results["fsyncs"][cell] = {
                    s.name: fsyncs_per_message(s, mail_root, conns, rcpts)
                    for s in servers}
                log("  %s: %s" % (cell, results["fsyncs"][cell]))
    finally:
        for s in servers:
            s.stop()


def main():
    check_can_run("lmtp.py")
    if shutil.which("strace") is None:
        ensure_packages(("strace",), gnuplot=False, dovecot=())
    ensure_packages(gnuplot=False, dovecot=("dovecot-core", "dovecot-lmtpd"))
    os.makedirs(OUT, exist_ok=True)
    servers = [Server(n, TAGS[n], (PORTS[n],)) for n in ("satchel",
                                                          "dovecot")]
    for s in servers:
        s.stop_leftover()
    disk_root = os.path.join(OUT, "lmtp-mail")
    if os.path.exists(disk_root):
        shutil.rmtree(disk_root)
    os.makedirs(disk_root)
    tmpfs_root = tempfile.mkdtemp(prefix="satchel-bench-lmtp-",
                                  dir="/dev/shm")
    version = dovecotns.version()
    results = {"dovecot_version": version, "seconds": SECS,
               "runs": [{} for _ in range(RUNS)], "fsyncs": {},
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    try:
        probe = 1 if QUICK else 3
        results["machine"] = {
            "disk_fsync_ms_start": fsync_latency(disk_root, probe) * 1000,
            "tmpfs_fsync_ms": fsync_latency(tmpfs_root, 0.5) * 1000,
            "loadavg": open("/proc/loadavg").read().split()[:3],
            "cores": os.cpu_count()}
        run_store(results, "disk", disk_root, servers)
        run_store(results, "tmpfs", tmpfs_root, servers)
        # again at the end: another job's writes can slow the disk for
        # a while; the ceiling is what the disk gives at its best
        m = results["machine"]
        m["disk_fsync_ms_end"] = fsync_latency(disk_root, probe) * 1000
        lat = min(m["disk_fsync_ms_start"], m["disk_fsync_ms_end"]) / 1000
        m.update(disk_fsync_ms=lat * 1000, disk_ceiling_2fsync=1 / (2 * lat),
                 disk_ceiling_1fsync=1 / lat)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmpfs_root, ignore_errors=True)
        # up to a few hundred MB of 4 KB files, of no use afterwards
        shutil.rmtree(disk_root, ignore_errors=True)
    results["runs"] = [r for r in results["runs"] if r]
    results["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    results["machine"]["loadavg1_max"] = max(
        r[c][n]["loadavg1"] for r in results["runs"] for c in r for n in r[c])
    table = summarize(results)
    results["table"] = table
    results["targets"] = targets(table)
    with open(os.path.join(OUT, "lmtp.json"), "w") as f:
        json.dump(results, f, indent=1)
    text = "%s\n\n%s\n\n%s\n\n%s\n" % (
        table_text(table), load_text(table),
        machine_text(results["machine"]), targets_text(results["targets"]))
    with open(os.path.join(OUT, "lmtp.txt"), "w") as f:
        f.write(text)
    print(text)
    log("wrote %s/lmtp.json, lmtp.txt" % OUT)


if __name__ == "__main__":
    main()
