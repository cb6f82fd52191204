"""Config file and command line: --check, errors with file:line:key, exit 78."""
import os
import signal
import re

from harness import *

STORES = None


def conf_file(ctx, lines, name="satchel.conf"):
    path = os.path.join(ctx.tmp, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def base_lines(ctx):
    return ["# a comment",
            "listen = 127.0.0.1:%d" % free_port(),
            "users = passwd-file:%s/passwd" % ctx.tmp,
            "mail = maildir:%s/mail/%%u" % ctx.tmp,
            "state_dir = %s/state" % ctx.tmp,
            "",
            "log = stderr"]


def setup_files(ctx):
    with open(os.path.join(ctx.tmp, "passwd"), "w") as f:
        f.write("alice:{PLAIN}x\n")
    os.makedirs(os.path.join(ctx.tmp, "state"), exist_ok=True)


def check_error(r, path, line, key, what):
    out = r.stdout + r.stderr
    eq(r.returncode, EX_CONFIG, "%s: exit status (output %r)" % (what, out))
    check(path in out, "%s: message does not name the file %s: %r" % (what, path, out))
    if line is not None:
        check(re.search(r"(?<![0-9])%d(?![0-9])" % line, out),
              "%s: message does not name line %d: %r" % (what, line, out))
    check(key in out, "%s: message does not name the key %r: %r" % (what, key, out))


def test_check_prints_effective_config(ctx):
    setup_files(ctx)
    path = conf_file(ctx, base_lines(ctx) + ["apop = yes"])
    r = run_satchel(["serve", "-c", path, "--check", "-o", "max_bad_lines=7"])
    eq(r.returncode, 0, "--check exit status (stderr %r)" % r.stderr)
    kv = {}
    for line in r.stdout.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^([a-z][a-z0-9_]*) = ?(.*)$", line)
        check(m, "--check output line not 'key = value': %r" % line)
        kv[m.group(1)] = m.group(2)
    for key in ("listen", "users", "mail", "apop", "plaintext_auth", "expire", "login_delay",
                "max_line", "max_bad_lines", "preauth_timeout", "autologout", "workers",
                "log", "log_level", "state_dir", "mail_user"):
        check(key in kv, "--check output lacks %s: %s" % (key, sorted(kv)))
    eq(kv["apop"], "yes", "apop from the file")
    eq(kv["max_bad_lines"], "7", "max_bad_lines from -o")
    eq(kv["max_line"], "255", "max_line default")
    eq(kv["plaintext_auth"], "tls-or-loopback", "plaintext_auth default")
    eq(kv["expire"].lower(), "never", "expire default")


def test_check_output_round_trips(ctx):
    setup_files(ctx)
    path = conf_file(ctx, base_lines(ctx) + ["expire = 5", "login_delay = 30"])
    r = run_satchel(["serve", "-c", path, "--check"])
    eq(r.returncode, 0, "--check exit status (stderr %r)" % r.stderr)
    again = conf_file(ctx, [r.stdout], name="printed.conf")
    r2 = run_satchel(["serve", "-c", again, "--check"])
    eq(r2.returncode, 0, "--check of --check's own output (stderr %r)" % r2.stderr)
    eq(r2.stdout, r.stdout, "--check output of the printed config")


def test_unknown_key(ctx):
    setup_files(ctx)
    lines = base_lines(ctx) + ["bogus_key = 1"]
    path = conf_file(ctx, lines)
    for extra in (["--check"], ["--foreground"]):
        r = run_satchel(["serve", "-c", path] + extra, timeout=10)
        check_error(r, path, len(lines), "bogus_key", "unknown key %s" % extra)


def test_bad_values(ctx):
    setup_files(ctx)
    cases = [("workers", "many"), ("apop", "maybe"), ("plaintext_auth", "sometimes"),
             ("log_level", "loud"), ("expire", "-1"), ("expire", "soon"),
             ("max_line", "abc"), ("max_line", "10"), ("login_delay", "-5"),
             ("preauth_timeout", "99999999999999999999"), ("mail", "imap:/x"),
             ("users", "ldap:whatever"), ("listen", "not-an-address"),
             ("auth_fail_delay", "1.5"), ("max_connections_per_ip", "")]
    bad = []
    for key, value in cases:
        lines = base_lines(ctx)
        at = [i for i, l in enumerate(lines) if l.startswith(key + " ")]
        if at:
            lines[at[0]] = "%s = %s" % (key, value)
        else:
            lines.insert(3, "%s = %s" % (key, value))
        lineno = (at[0] if at else 3) + 1
        path = conf_file(ctx, lines)
        r = run_satchel(["serve", "-c", path, "--check"], timeout=10)
        try:
            check_error(r, path, lineno, key, "%s = %s" % (key, value))
        except AssertionError as e:
            bad.append(str(e))
    check(not bad, "; ".join(bad))


def test_bad_override(ctx):
    setup_files(ctx)
    path = conf_file(ctx, base_lines(ctx))
    r = run_satchel(["serve", "-c", path, "--check", "-o", "nosuchkey=1"])
    eq(r.returncode, EX_CONFIG, "exit status for -o nosuchkey=1 (%r)" % r.stderr)
    check("nosuchkey" in r.stdout + r.stderr, "message names the key: %r" % r.stderr)
    r = run_satchel(["serve", "-c", path, "--check", "-o", "apop=perhaps"])
    eq(r.returncode, EX_CONFIG, "exit status for -o apop=perhaps (%r)" % r.stderr)
    check("apop" in r.stdout + r.stderr, "message names the key: %r" % r.stderr)


def test_missing_config_file(ctx):
    path = os.path.join(ctx.tmp, "does-not-exist.conf")
    r = run_satchel(["serve", "-c", path, "--check"])
    check(r.returncode != 0, "--check of a missing file exits 0")
    check(path in r.stdout + r.stderr, "message names the missing file: %r" % r.stderr)


def test_line_without_equals(ctx):
    setup_files(ctx)
    lines = base_lines(ctx) + ["this is not a setting"]
    path = conf_file(ctx, lines)
    r = run_satchel(["serve", "-c", path, "--check"])
    eq(r.returncode, EX_CONFIG, "exit status (%r)" % r.stderr)
    check(path in r.stderr + r.stdout and str(len(lines)) in r.stderr + r.stdout,
          "message names file and line: %r" % r.stderr)


def test_low_autologout_accepted(ctx):
    setup_files(ctx)
    path = conf_file(ctx, base_lines(ctx) + ["autologout = 2"])
    r = run_satchel(["serve", "-c", path, "--check"])
    eq(r.returncode, 0, "autologout = 2 accepted (stderr %r)" % r.stderr)


def test_bad_passwd_file_reported(ctx):
    """A passwd-file error (duplicate user) stops startup, or fails logins
    with [SYS/TEMP] and a log line naming the file."""
    srv = ctx.server("maildir")
    with open(srv.passwd_path, "a") as f:
        f.write("alice:{PLAIN}duplicate\n")
    srv.fix_owner(srv.passwd_path)
    try:
        srv.start(timeout=5)
    except AssertionError as e:
        check(srv.passwd_path in str(e), "startup error does not name the passwd-file: %s" % e)
        return
    p = srv.connect()
    p.ok("USER alice")
    resp = p.cmd("PASS duplicate")
    p.quit()
    starts(resp, "-ERR [SYS/TEMP]", "login with a broken passwd-file")
    check(srv.passwd_path in srv.log_text(), "the log does not name the broken passwd-file")


def test_values_that_could_not_be_honoured_are_refused(ctx):
    """max_line beyond the line buffer, workers beyond the slots: an error
    naming the range, not a silent clamp."""
    setup_files(ctx)
    for key, value, want in (("max_line", "1025", "from 255 to 1024"),
                             ("workers", "33", "from 0 to 32")):
        lines = base_lines(ctx) + ["%s = %s" % (key, value)]
        path = conf_file(ctx, lines)
        r = run_satchel(["serve", "-c", path, "--check"], timeout=10)
        check_error(r, path, len(lines), key, "%s = %s" % (key, value))
        check(want in r.stderr, "%s = %s: message names the range %r: %r"
              % (key, value, want, r.stderr))
    path = conf_file(ctx, base_lines(ctx) + ["max_line = 1024", "workers = 32"])
    r = run_satchel(["serve", "-c", path, "--check"], timeout=10)
    eq(r.returncode, 0, "the largest values are accepted (%r)" % r.stderr)


def test_check_prints_the_worker_count_used(ctx):
    setup_files(ctx)
    path = conf_file(ctx, base_lines(ctx) + ["workers = 0"])
    r = run_satchel(["serve", "-c", path, "--check"], timeout=10)
    eq(r.returncode, 0, "--check (%r)" % r.stderr)
    want = min(os.cpu_count() or 1, 32)
    check("workers = %d\n" % want in r.stdout,
          "workers = 0 prints the count used (%d): %r" % (want, r.stdout))


def test_sighup_refuses_a_user_change(ctx):
    if not is_root():
        raise Skip("not root: the users are not switched")
    srv = ctx.server().start()
    srv.config["auth_user"] = "satchel-auth"   # the harness runs auth as satchel
    srv.write_config()
    srv.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in srv.log_text(), 10,
             "'reload failed' after SIGHUP with another auth_user")
    check("change only with a restart" in srv.log_text(),
          "the reason is logged: %s" % srv.log_tail(3))
    eq(srv.ready_generations(srv.log_start), [1], "no new generation")
    p = srv.login("alice")
    p.quit()
