#!/usr/bin/env python3
"""run.py: satchel and Dovecot side by side on the same machine and data.

Runs Debian's Dovecot from the copy `make deps` unpacked into
build-dovecot/ (scripts/dovecotns.py: never installed, so no system
service starts; unpacked here when missing) and installs gnuplot when
missing, generates the
data set (gen_data.py), starts both servers on loopback high ports with
their state under bench/out/, runs every scenario against both, interleaved,
RUNS times, and writes bench/out/results.json, bench/out/results.txt and
bench/out/ratios.png. Only processes started here are stopped, by PID.

Environment: SATCHEL_BIN (default build/satchel), BENCH_RUNS (3),
BENCH_SECONDS (5, per throughput measurement), BENCH_QUICK=1 (one run,
short measurements: a smoke test of the script itself).
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import dovecotns  # noqa: E402  (scripts/ is not a package)

OUT = os.path.join(ROOT, "bench", "out")
DATA = os.path.join(OUT, "data")
MASTER = os.path.join(DATA, "master")
SAT_BIN = os.environ.get("SATCHEL_BIN", os.path.join(ROOT, "build", "satchel"))
QUICK = os.environ.get("BENCH_QUICK") == "1"
RUNS = int(os.environ.get("BENCH_RUNS", "1" if QUICK else "3"))
SECS = float(os.environ.get("BENCH_SECONDS", "2" if QUICK else "5"))
PASSWORD = "benchpass"
SALT = "satchelbench"          # fixed: the same hash for both servers
MAIL_USER = "satchel"
IDLE_CONNS = 1000
# Idle memory is read this long after the last idle client logged in:
# satchel's workers give the heap's free pages back once quiet for 5 s
# (MEMORY_TRIM_MS), so this is what an idle connection costs for its
# life, not what the burst of 1,000 logins left for a moment (the same
# wait for both servers).
IDLE_SETTLE_S = 7.0
PORTS = {"satchel": (21110, 21995), "dovecot": (22110, 22995)}
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEADLINE = time.monotonic() + 14 * 60   # the whole run must stay < 15 min


def log(msg):
    print("[bench %5.0fs] %s" % (time.monotonic() - T0, msg), flush=True)


T0 = time.monotonic()

# --- packages --------------------------------------------------------------


def pkg_installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                       capture_output=True, text=True)
    return r.returncode == 0 and "ok installed" in r.stdout


def ensure_packages(pkgs=(), gnuplot=True,
                    dovecot=("dovecot-core", "dovecot-pop3d")):
    """Dovecot's packages unpacked (dovecotns.fetch), the others (tools
    only: strace, gnuplot) installed when missing."""
    dovecotns.fetch(dovecot)
    missing = [p for p in pkgs if not pkg_installed(p)]
    if gnuplot and shutil.which("gnuplot") is None:
        missing.append("gnuplot-nox")
    if not missing:
        return
    log("installing " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq"] + missing, env=env,
                   check=True)

# --- processes -------------------------------------------------------------


def proc_table():
    """pid -> (ppid, utime+stime+cutime+cstime in ticks)"""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(")") + 2:].split()
        # fields after comm: state(3) ppid(4) ... utime(14) stime(15)
        # cutime(16) cstime(17); rest[0] is field 3
        table[int(d)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
    return table


def tree(root, table=None):
    table = table or proc_table()
    kids = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in table:
            out.append(p)
            todo.extend(kids.get(p, []))
    return out


def cpu_seconds(root):
    """CPU of the server: every live process of its tree, plus (through
    cutime/cstime) every child that already exited and was reaped."""
    table = proc_table()
    return sum(table[p][1] for p in tree(root, table)) / CLK_TCK


def memory_kb(root):
    pss = rss = 0
    procs = 0
    for p in tree(root):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
            procs += 1
        except OSError:
            pass
    return {"pss_kb": pss, "rss_kb": rss, "processes": procs}


def wait_port(port, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing answers on port %d" % port)


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Server:
    """satchel or dovecot from its config OUT/<tag>.conf (tag: the name,
    or another for another benchmark's instance), answering on ports."""

    def __init__(self, name, tag=None, ports=None):
        self.name = name
        self.tag = tag or name
        self.ports = ports or PORTS[name]
        self.port, self.tls_port = (tuple(self.ports) + (None,))[:2]
        self.proc = None
        self.pidfile = os.path.join(OUT, self.tag + ".pid")
        self.conf = os.path.join(OUT, self.tag + ".conf")

    def argv(self):
        if self.name == "satchel":
            return [SAT_BIN, "serve", "-c", self.conf, "--foreground"]
        return dovecotns.argv("/usr/sbin/dovecot", "-c", self.conf, "-F")

    def stop_leftover(self):
        """A previous run of this script that died may have left its own
        server: stop it by the PID it wrote, if the command line is ours."""
        try:
            pid = int(open(self.pidfile).read())
            cmd = open("/proc/%d/cmdline" % pid, "rb").read().decode()
        except (OSError, ValueError):
            return
        if self.conf in cmd:
            log("stopping a leftover %s (pid %d)" % (self.name, pid))
            self._kill_tree(pid)

    def start(self):
        for p in self.ports:
            if not port_free(p):
                raise RuntimeError("port %d is in use" % p)
        logf = open(os.path.join(OUT, self.tag + ".log"), "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL)
        with open(self.pidfile, "w") as f:
            f.write(str(self.proc.pid))
        for p in self.ports:
            wait_port(p)
        time.sleep(0.3)   # let every worker / login process come up

    @staticmethod
    def _kill_tree(pid, proc=None):
        pids = tree(pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if proc is not None and proc.poll() is not None:
                break
            if proc is None and not os.path.exists("/proc/%d" % pid):
                break
            time.sleep(0.05)
        # Whatever of the tree we started is still there goes by PID.
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc is not None:
            proc.wait()

    def stop(self):
        if self.proc is not None:
            self._kill_tree(self.proc.pid, self.proc)
            self.proc = None
        try:
            os.unlink(self.pidfile)
        except OSError:
            pass

    @property
    def pid(self):
        return self.proc.pid

# --- setup -----------------------------------------------------------------


def users():
    names = ["u%d" % i for i in range(1, 51)]
    names += ["l%d" % i for i in range(1, 1001)]
    names += ["m1k", "m10k", "m20k", "m100k"]
    return names


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", "-salt", SALT, password],
                          capture_output=True, text=True,
                          check=True).stdout.strip()


def setup_files():
    os.makedirs(OUT, exist_ok=True)
    log("data set (generated once, deterministic)")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_data.py"),
                    MASTER], check=True)
    subprocess.run(["chown", "-R", "%s:%s" % (MAIL_USER, MAIL_USER), MASTER],
                   check=True)
    h = sha512_crypt(PASSWORD)
    with open(os.path.join(OUT, "satchel.passwd"), "w") as f:
        for u in users():
            f.write("%s:{SHA512-CRYPT}%s\n" % (u, h))
    with open(os.path.join(OUT, "dovecot.passwd"), "w") as f:
        for u in users():
            f.write("%s:{SHA512-CRYPT}%s::::::\n" % (u, h))
    tls = os.path.join(OUT, "tls")
    os.makedirs(tls, exist_ok=True)
    cert, key = os.path.join(tls, "cert.pem"), os.path.join(tls, "key.pem")
    if not os.path.exists(cert):
        # ECDSA P-256, what current ACME clients issue by default.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "3650",
                        "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
    state = os.path.join(OUT, "satchel-state")
    os.makedirs(state, exist_ok=True)
    shutil.chown(state, MAIL_USER, MAIL_USER)
    sp, stp = PORTS["satchel"]
    with open(os.path.join(OUT, "satchel.conf"), "w") as f:
        f.write("""# written by bench/run.py
listen = 127.0.0.1:{sp}
listen_tls = 127.0.0.1:{stp}
tls_cert = {cert}
tls_key = {key}
users = passwd-file:{out}/satchel.passwd
mail = maildir:{data}/satchel/%u
mail_user = {mu}
state_dir = {state}
log = {out}/satchel.log
log_level = warn
auth_fail_delay = 0
max_connections = 100000
max_connections_per_ip = 100000
max_sessions_per_user = 0
""".format(sp=sp, stp=stp, cert=cert, key=key, out=OUT, data=DATA,
           mu=MAIL_USER, state=state))
    dp, dtp = PORTS["dovecot"]
    run_dir = os.path.join(OUT, "dovecot-run")
    dstate = os.path.join(OUT, "dovecot-state")
    for d in (run_dir, dstate):
        os.makedirs(d, exist_ok=True)
    dh = "ssl_dh = </usr/share/dovecot/dh.pem\n" \
        if os.path.exists(dovecotns.host_path("/usr/share/dovecot/dh.pem")) \
        else ""
    with open(os.path.join(OUT, "dovecot.conf"), "w") as f:
        f.write("""# written by bench/run.py: our own instance, nothing system-wide
base_dir = {run}
state_dir = {dstate}
instance_name = satchel-bench
{login_users}protocols = pop3
listen = 127.0.0.1
log_path = {out}/dovecot.log
# one info line per login otherwise; satchel runs at log_level = warn
info_log_path = /dev/null
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
{dh}disable_plaintext_auth = no
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {out}/dovecot.passwd
}}
userdb {{
  driver = static
  args = uid={mu} gid={mu} home={data}/dovecot/%u
}}
mail_location = maildir:{data}/dovecot/%u
first_valid_uid = 1
pop3_lock_session = yes
default_process_limit = 2000
default_client_limit = 20000
protocol pop3 {{
  mail_max_userip_connections = 100000
}}
# high-performance mode: long-lived login processes, one per core
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {dp}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {dtp}
    ssl = yes
  }}
  service_count = 0
  process_min_avail = {cores}
  client_limit = 5000
  vsz_limit = 1G
}}
# post-login processes reused (Dovecot's default forks and execs a new
# pop3 for every login, which on some machines costs more than the whole
# login: bench/dovecot_modes.py and docs/performance.md); every user
# here has the same uid, which reuse needs
service pop3 {{
  process_limit = 2000
  service_count = 1000
  process_min_avail = {cores}
}}
""".format(run=run_dir, dstate=dstate, out=OUT, cert=cert, key=key, dh=dh,
           login_users=dovecotns.settings(MAIL_USER),
           mu=MAIL_USER, data=DATA, dp=dp, dtp=dtp,
           cores=os.cpu_count() or 2))


def fresh_copy(server, names=None):
    """Hard-linked copies: neither server changes a message file in place
    (both only rename or unlink), so the master stays untouched while each
    server builds its own index and moves files new/ -> cur/ in its copy."""
    dst = os.path.join(DATA, server)
    if names is None:
        if os.path.exists(dst):
            shutil.rmtree(dst)
        subprocess.run(["cp", "-al", MASTER, dst], check=True)
        os.unlink(os.path.join(dst, ".stamp"))
        return
    for n in names:
        p = os.path.join(dst, n)
        if os.path.exists(p):
            shutil.rmtree(p)
        subprocess.run(["cp", "-al", os.path.join(MASTER, n), p], check=True)

# --- measurements ----------------------------------------------------------


def run_json(argv, timeout=300):
    """Runs `satchel bench ... --json` and returns its report."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise RuntimeError("bench failed: %s %s" % (r.stdout, r.stderr))


def bench_errors(res):
    """The kinds of failure the report counted, with their counts."""
    return {k: v for k, v in res["errors"].items() if v}


def bench(server, scenario, user_fmt, nusers, conc, seconds=None,
          sessions=None, tls=False, extra=()):
    port = server.tls_port if tls else server.port
    argv = [SAT_BIN, "bench", "-h", "127.0.0.1", "-p", str(port), "-u",
            user_fmt, "-w", PASSWORD, "-U", str(nusers), "-c", str(conc),
            "-s", scenario, "--json", "--quiet", "--max-time", "240"]
    if tls:
        argv += ["--tls", "--cafile", os.path.join(OUT, "tls", "cert.pem"),
                 "--sni", "localhost"]
    argv += ["-t", str(seconds)] if seconds else ["-n", str(sessions)]
    argv += list(extra)
    res = run_json(argv)
    bad = bench_errors(res)
    if bad:
        log("  %s %s: ERRORS %s" % (server.name, scenario, bad))
    return res


def measured(server, *args, **kw):
    """Runs bench and adds the server's CPU seconds used meanwhile."""
    before = cpu_seconds(server.pid)
    res = bench(server, *args, **kw)
    res["server_cpu_s"] = cpu_seconds(server.pid) - before
    return res


def start_idle(port, tls, cafile, user_fmt, n, seconds):
    """`satchel bench -s idle` with n logged-in clients (users user_fmt
    1..n, a NOOP every ~20 s), returned once all are in; None with the
    bench's report when they never were."""
    argv = [SAT_BIN, "bench", "-h", "127.0.0.1", "-p", str(port), "-u",
            user_fmt, "-w", PASSWORD, "-U", str(n), "-c", str(n), "-s",
            "idle", "-t", str(seconds), "--noop", "20", "--json", "--quiet",
            "--max-time", str(seconds + 30)]
    if tls:
        argv += ["--tls", "--cafile", cafile, "--sni", "localhost"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    for line in p.stderr:
        if line.startswith("ready:"):
            return p, None
    return None, stop_idle(p)


def stop_idle(p):
    """Ends a start_idle() bench (it QUITs every client) and returns its
    report."""
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=60)
    return json.loads(out)


def idle_memory(server, tls=False):
    """Memory of the whole server with IDLE_CONNS logged-in idle clients,
    minus the same server without them, per connection. One more idle
    client (user u1) is connected for both readings: the bench process
    maps the same libraries as the server (and for satchel the same
    binary), so a reading without any bench process would charge the
    server's share of those shared pages (PSS) to the connections, by
    more than a whole satchel connection costs."""
    port = server.tls_port if tls else server.port
    cafile = os.path.join(OUT, "tls", "cert.pem")
    sharer, res = start_idle(port, tls, cafile, "u%d", 1, 150)
    if sharer is None:
        raise RuntimeError("%s: the idle client never logged in: %s"
                           % (server.name, res))
    try:
        # let processes of earlier sessions exit and the heap settle
        time.sleep(IDLE_SETTLE_S)
        base = memory_kb(server.pid)
        p, res = start_idle(port, tls, cafile, "l%d", IDLE_CONNS, 120)
        if p is None:
            raise RuntimeError("%s: idle clients never all logged in: %s"
                               % (server.name, res))
        time.sleep(IDLE_SETTLE_S)
        full = memory_kb(server.pid)
        res = stop_idle(p)
    finally:
        stop_idle(sharer)
    n = res["idle_ready"]
    return {"connections": n, "base": base, "loaded": full,
            "pss_kb_per_conn": (full["pss_kb"] - base["pss_kb"]) / n,
            "rss_kb_per_conn": (full["rss_kb"] - base["rss_kb"]) / n,
            "login_all_s": res["idle_ready_s"], "errors": res["errors"]}


def read_all(user):
    """Brings a maildrop's files into the page cache (both copies share
    them through hard links), so "first access" measures the server's
    work, not whichever server happened to read the disk first."""
    for sub in ("new", "cur"):
        d = os.path.join(MASTER, user, sub)
        for n in os.listdir(d):
            with open(os.path.join(d, n), "rb") as f:
                while f.read(1 << 20):
                    pass


def list_big(server, user, cold):
    if cold:
        server.stop()
        fresh_copy(server.name, [user])
        read_all(user)
        server.start()
    # first access: the one session after a restart on a fresh copy;
    # warm: the median of 5 sessions, so which worker process a single
    # session lands on (each has its own heap) does not decide the figure
    r = bench(server, "list", user, 1, 1, sessions=1 if cold else 5)
    return r["session_p50_ms"] / 1000.0


def one_run(run, servers):
    order = servers if run % 2 == 0 else servers[::-1]
    res = {s.name: {} for s in servers}

    def each(key, fn):
        for s in order:
            res[s.name][key] = fn(s)

    T = SECS
    log("run %d: STAT+LIST+UIDL on 100,000 messages" % (run + 1))
    each("list100k_first_s", lambda s: list_big(s, "m100k", True))
    each("list100k_warm_s", lambda s: list_big(s, "m100k", False))
    for c in (1, 16, 128):
        log("run %d: login, concurrency %d" % (run + 1, c))
        each("login_c%d" % c, lambda s: measured(s, "login", "l%d", 1000, c,
                                                 seconds=T))
    for c in (1, 16):
        log("run %d: fetch, concurrency %d" % (run + 1, c))
        each("fetch_c%d" % c, lambda s: measured(s, "fetch", "u%d", 50, c,
                                                 seconds=T))
    log("run %d: TLS login and fetch, concurrency 16" % (run + 1))
    each("tls_login_c16", lambda s: measured(s, "login", "l%d", 1000, 16,
                                             seconds=T, tls=True))
    each("tls_fetch_c16", lambda s: measured(s, "fetch", "u%d", 50, 16,
                                             seconds=T, tls=True))
    log("run %d: %d idle logged-in connections" % (run + 1, IDLE_CONNS))
    each("idle", lambda s: idle_memory(s))
    each("idle_tls", lambda s: idle_memory(s, tls=True))
    return res


def scaling(servers):
    """Once: cost against maildrop size, first access and warm."""
    out = {}
    for user in ("m1k", "m10k", "m20k"):
        for s in servers:
            first = list_big(s, user, True)
            warm = list_big(s, user, False)
            out.setdefault(user, {})[s.name] = {"first_s": first,
                                                "warm_s": warm}
        log("scaling %s: %s" % (user, out[user]))
    return out


def machine_limits():
    """The ceilings: loopback TCP throughput with one stream, and reading
    the fetch data from the page cache."""
    lim = {}
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    total = 2 * 1024 ** 3
    chunk = b"x" * (256 * 1024)

    def sink():
        c, _ = srv.accept()
        got = 0
        while got < total:
            n = len(c.recv(1024 * 1024))
            if n == 0:
                break
            got += n
        c.close()
    t = threading.Thread(target=sink)
    t.start()
    s = socket.create_connection(srv.getsockname())
    t0 = time.monotonic()
    sent = 0
    while sent < total:
        sent += s.send(chunk)
    s.close()
    t.join()
    lim["loopback_MBps"] = total / 1e6 / (time.monotonic() - t0)
    srv.close()
    files = []
    for u in range(1, 51):
        d = os.path.join(MASTER, "u%d" % u, "new")
        files += [os.path.join(d, n) for n in os.listdir(d)]
    for _ in range(2):     # the second pass is from the page cache
        t0, nbytes = time.monotonic(), 0
        for fn in files:
            with open(fn, "rb", buffering=0) as f:
                while True:
                    b = f.read(256 * 1024)
                    if not b:
                        break
                    nbytes += len(b)
        lim["page_cache_read_MBps"] = nbytes / 1e6 / (time.monotonic() - t0)
    lim["fetch_data_MB"] = nbytes / 1e6
    lim["cores"] = os.cpu_count()
    return lim

# --- report ----------------------------------------------------------------


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# (key, label, unit, extractor, higher_is_better)
METRICS = [
    ("login_c1", "logins/s, concurrency 1", "/s",
     lambda r: r["login_c1"]["sessions_per_s"], True),
    ("login_c16", "logins/s, concurrency 16", "/s",
     lambda r: r["login_c16"]["sessions_per_s"], True),
    ("login_c128", "logins/s, concurrency 128", "/s",
     lambda r: r["login_c128"]["sessions_per_s"], True),
    ("fetch_c1", "fetch MB/s, concurrency 1", "MB/s",
     lambda r: r["fetch_c1"]["mb_per_s"], True),
    ("fetch_c16", "fetch MB/s, concurrency 16", "MB/s",
     lambda r: r["fetch_c16"]["mb_per_s"], True),
    ("list100k_first", "STAT+LIST+UIDL 100k msgs, first", "s",
     lambda r: r["list100k_first_s"], False),
    ("list100k_warm", "STAT+LIST+UIDL 100k msgs, warm", "s",
     lambda r: r["list100k_warm_s"], False),
    ("idle_pss", "PSS per idle connection", "KB",
     lambda r: r["idle"]["pss_kb_per_conn"], False),
    ("idle_rss", "RSS per idle connection", "KB",
     lambda r: r["idle"]["rss_kb_per_conn"], False),
    ("idle_pss_total", "PSS total, 1000 idle", "MB",
     lambda r: r["idle"]["loaded"]["pss_kb"] / 1024, False),
    ("cpu_login", "server CPU per 1000 logins (c16)", "s",
     lambda r: 1000 * r["login_c16"]["server_cpu_s"] /
     max(1, r["login_c16"]["logins"]), False),
    ("cpu_gb", "server CPU per GB fetched (c16)", "s",
     lambda r: r["fetch_c16"]["server_cpu_s"] /
     max(1e-9, r["fetch_c16"]["message_octets"] / 1e9), False),
    ("tls_login_c16", "TLS logins/s, concurrency 16", "/s",
     lambda r: r["tls_login_c16"]["sessions_per_s"], True),
    ("tls_fetch_c16", "TLS fetch MB/s, concurrency 16", "MB/s",
     lambda r: r["tls_fetch_c16"]["mb_per_s"], True),
    ("tls_cpu_login", "TLS server CPU per 1000 logins", "s",
     lambda r: 1000 * r["tls_login_c16"]["server_cpu_s"] /
     max(1, r["tls_login_c16"]["logins"]), False),
    ("tls_idle_pss", "TLS PSS per idle connection", "KB",
     lambda r: r["idle_tls"]["pss_kb_per_conn"], False),
]


def summarize(runs):
    table = []
    for key, label, unit, fn, higher in METRICS:
        row = {"key": key, "label": label, "unit": unit,
               "higher_is_better": higher}
        for name in ("satchel", "dovecot"):
            vals = []
            for r in runs:
                try:
                    vals.append(fn(r[name]))
                except (KeyError, TypeError, ZeroDivisionError):
                    pass
            row[name] = med(vals)
            row[name + "_runs"] = vals
        s, d = row["satchel"], row["dovecot"]
        row["ratio"] = s / d if s is not None and d else None
        # How many times better satchel is (>1: satchel wins).
        if row["ratio"]:
            row["advantage"] = row["ratio"] if higher else 1 / row["ratio"]
        else:
            row["advantage"] = None
        table.append(row)
    return table


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.3g" % v


def table_text(table):
    lines = ["| measure | unit | satchel | Dovecot | satchel/Dovecot | "
             "satchel better by |", "|---|---|---:|---:|---:|---:|"]
    for r in table:
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            r["label"], r["unit"], fmt(r["satchel"]), fmt(r["dovecot"]),
            fmt(r["ratio"]), (fmt(r["advantage"]) + "x")
            if r["advantage"] else "-"))
    return "\n".join(lines)


def chart(table):
    dat = os.path.join(OUT, "ratios.dat")
    with open(dat, "w") as f:
        for i, r in enumerate(table):
            if r["advantage"]:
                f.write('%d "%s" %.4f\n' % (i, r["label"].replace('"', ""),
                                            r["advantage"]))
    # The tick labels slant down to the right (-35 degrees) from their
    # bar: the last one reaches past the plot by cos(35) of its length,
    # the longest below it by sin(35). Margins are in character cells,
    # a little wider than the average glyph of a label (hence 0.6, 0.4).
    labels = [r["label"] for r in table if r["advantage"]]
    rmargin = int(len(labels[-1]) * 0.6) + 2
    bmargin = int(max(len(l) for l in labels) * 0.4) + 2
    gp = os.path.join(OUT, "ratios.gp")
    with open(gp, "w") as f:
        f.write("""set terminal png size 1200,700 font ",10"
set output "{png}"
set title "satchel vs Dovecot 2.3 on the same machine and data (median of {runs} runs)"
set ylabel "times better than Dovecot (log scale; 1 = equal)"
set logscale y
set yrange [0.1:*]
set style fill solid 0.8
set boxwidth 0.7
set grid ytics
set xtics rotate by -35 left
set bmargin {bmargin}
set rmargin {rmargin}
unset key
plot "{dat}" using 1:3:xtic(2) with boxes lc rgb "#3a7", 1 with lines lc rgb "#c33" lw 2
""".format(png=os.path.join(OUT, "ratios.png"), dat=dat, runs=RUNS,
           bmargin=bmargin, rmargin=rmargin))
    subprocess.run(["gnuplot", gp], check=False)


def hash_alone_ms(rounds=200):
    """The password check's own cost: libxcrypt's crypt(3) of the bench
    password against the users' stored hash, as the auth process runs it
    (issue 14: a login's server CPU against this)."""
    import ctypes
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    stored = sha512_crypt(PASSWORD).encode()
    t0 = time.process_time()
    for _ in range(rounds):
        if lib.crypt(PASSWORD.encode(), stored) != stored:
            raise RuntimeError("crypt(3) does not give the stored hash")
    return (time.process_time() - t0) * 1000 / rounds


def hash_ratio_text(results):
    """satchel's server CPU per login over the hash alone, c16 and c128."""
    parts = []
    for key in ("login_c16", "login_c128"):
        vals = []
        for r in results["runs"]:
            try:
                x = r["satchel"][key]
                vals.append(x["server_cpu_s"] * 1000 / max(1, x["logins"]))
            except (KeyError, TypeError):
                pass
        if vals:
            ms = med(vals)
            parts.append("%s %.3f ms = %.2fx" % (key, ms,
                                                  ms / results["hash_alone_ms"]))
    return ("satchel server CPU per login vs the hash alone (%.3f ms, "
            "SHA512-CRYPT): %s (target <= 1.2x)"
            % (results["hash_alone_ms"], ", ".join(parts)))


def check_can_run(script):
    """Exits unless root (both servers drop to MAIL_USER) with a build."""
    if os.geteuid() != 0:
        sys.exit("bench/%s runs as root (both servers drop to %s)"
                 % (script, MAIL_USER))
    if not os.path.exists(SAT_BIN):
        sys.exit("build satchel first (make)")


def main():
    check_can_run("run.py")
    ensure_packages()
    setup_files()
    servers = [Server("satchel"), Server("dovecot")]
    for s in servers:
        s.stop_leftover()
    log("fresh copies of the data for both servers")
    for s in servers:
        fresh_copy(s.name)
    version = dovecotns.version()
    results = {"dovecot_version": version, "runs": [], "seconds": SECS,
               "idle_connections": IDLE_CONNS}
    try:
        for s in servers:
            s.start()
        log("warm-up: one session for every user on both servers")
        for s in servers:
            bench(s, "login", "l%d", 1000, 16, sessions=1000)
            bench(s, "list", "u%d", 50, 16, sessions=50)
        results["machine"] = machine_limits()
        log("machine: %s" % results["machine"])
        results["hash_alone_ms"] = hash_alone_ms()
        for run in range(RUNS):
            results["runs"].append(one_run(run, servers))
            if time.monotonic() > DEADLINE - 120:
                log("stopping early to stay within 15 minutes")
                break
        if not QUICK and time.monotonic() < DEADLINE - 90:
            results["scaling"] = scaling(servers)
    finally:
        for s in servers:
            s.stop()
    table = summarize(results["runs"])
    results["table"] = table
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    text = table_text(table)
    with open(os.path.join(OUT, "results.txt"), "w") as f:
        f.write(text + "\n")
    print(text)
    print(hash_ratio_text(results))
    chart(table)
    log("wrote %s/results.json, results.txt, ratios.png" % OUT)


if __name__ == "__main__":
    main()
