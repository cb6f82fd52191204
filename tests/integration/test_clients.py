"""Real clients: curl, fetchmail, mpop, Perl Net::POP3."""
import os
import shutil
import subprocess

from harness import *

STORES = ("maildir", "mbox")
OPTS = {"apop": "yes"}

# Messages the MUA-side tools pass through unchanged apart from CRLF.
# (fetchmail and mpop turn CRLF into LF; a lone CR or NUL is theirs to
# mangle, and fetchmail completes a header-only message with a blank line,
# so those corpus messages are checked with curl/poplib/raw clients only.)
CLIENT_SAFE = ("01-", "02-", "03-", "05-", "07-", "08-", "11-", "12-",
               "14-", "15-", "90-", "91-")


def client_msgs(store, fetchmail=False):
    safe = CLIENT_SAFE
    if fetchmail:  # fetchmail 6.4 breaks lines longer than 8 KB itself
        safe = tuple(s for s in safe if s != "90-")
    corpus = [(l, d) for l, d in load_corpus() if l.startswith(safe)]
    return make_msgs(corpus, store)


def lf(data):
    return data.replace(b"\r\n", b"\n")


def curl(ctx, path, *args, user="alice"):
    url = "pop3://%s:%s@127.0.0.1:%d/%s" % (user, ctx.srv.passwords[user], ctx.srv.port, path)
    r = subprocess.run(["curl", "-sS", "--max-time", "30", url] + list(args),
                       capture_output=True, timeout=40)
    eq(r.returncode, 0, "curl %s %s exit status (stderr %r)" % (path, args, r.stderr[-300:]))
    return r.stdout


def need(tool):
    if not shutil.which(tool):
        raise Skip("%s not installed" % tool)


# ---------------------------------------------------------------- curl

def test_curl_retr(ctx):
    need("curl")
    msgs = ctx.srv.fill("alice", make_msgs(load_corpus(), ctx.store))
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    p.quit()
    bad = []
    for n, m in sorted(bynum.items()):
        ctx.srv.wait_unlocked("alice")
        got = curl(ctx, str(n))
        if got != m.expected:
            bad.append("%s: %s" % (m.label, describe_diff(got, m.expected)))
    check(not bad, "; ".join(bad))


def test_curl_list_uidl(ctx):
    need("curl")
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(i) for i in (1, 2, 3)], ctx.store))
    p = ctx.srv.login("alice")
    lst = p.multi_ok("LIST")
    uid = p.multi_ok("UIDL")
    p.quit()
    ctx.srv.wait_unlocked("alice")
    eq(curl(ctx, ""), lst, "curl LIST output")
    ctx.srv.wait_unlocked("alice")
    eq(curl(ctx, "", "-X", "UIDL"), uid, "curl -X UIDL output")


def test_curl_dele(ctx):
    need("curl")
    ctx.srv.fill("alice", make_msgs([simple_msg(i) for i in (1, 2, 3)], ctx.store))
    p = ctx.srv.login("alice")
    u = p.uidl()
    p.quit()
    ctx.srv.wait_unlocked("alice")
    curl(ctx, "", "-X", "DELE 1", "-I")   # the path must be empty: curl appends it
    q = ctx.srv.login_retry("alice")
    eq(sorted(q.uidl().values()), sorted([u[2], u[3]]), "UIDLs after curl -X 'DELE 1'")
    q.quit()


# ----------------------------------------------------------- fetchmail

def fetchmail(ctx, rc_extra, keep, uidl=False, apop=False, tag="fm", args=(),
              srv=None):
    need("fetchmail")
    srv = srv or ctx.srv
    home = os.path.join(ctx.tmp, tag)
    out = os.path.join(home, "out")
    os.makedirs(out, exist_ok=True)
    mda = os.path.join(home, "mda.sh")
    with open(mda, "w") as f:
        f.write('#!/bin/sh\nn=$(ls "%s" | wc -l)\ncat > "%s/$(printf %%04d $n)"\n' % (out, out))
    os.chmod(mda, 0o755)
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        f.write("set no bouncemail\n"
                "poll 127.0.0.1 with proto %s port %d timeout 20 %s\n"
                "  user \"alice\" there with password \"%s\" is \"alice\" here\n"
                "  sslproto '' %s %s\n"
                % ("APOP" if apop else "POP3", srv.port, "uidl" if uidl else "",
                   srv.passwords["alice"], "keep" if keep else "no keep", rc_extra))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    r = subprocess.run(["fetchmail"] + list(args) + ["-f", rc, "--nosyslog", "--invisible", "--norewrite",
                        "--nodetach", "--mda", mda, "-i", os.path.join(home, ".fetchids"),
                        "--pidfile", os.path.join(home, "fetchmail.pid")],
                       capture_output=True, timeout=90, env=env)
    got = [open(os.path.join(out, fn), "rb").read() for fn in sorted(os.listdir(out))]
    for fn in os.listdir(out):
        os.unlink(os.path.join(out, fn))
    return r, got


def check_fetchmail_ok(r, what):
    # 0 = mail fetched, 1 = no mail
    check(r.returncode in (0, 1), "%s: exit %d, output %r" % (what, r.returncode,
                                                              (r.stdout + r.stderr)[-600:]))


def same_modulo_crlf(got, msgs, what):
    want = sorted(lf(m.expected) for m in msgs)
    got = sorted(got)
    eq(len(got), len(want), "%s: messages delivered" % what)
    for g, w in zip(got, want):
        if g != w:
            raise AssertionError("%s: %s" % (what, describe_diff(g, w)))


def test_fetchmail_keep(ctx):
    msgs = ctx.srv.fill("alice", client_msgs(ctx.store, fetchmail=True))
    r, got = fetchmail(ctx, "", keep=True)
    check_fetchmail_ok(r, "fetchmail --keep")
    same_modulo_crlf(got, msgs, "fetchmail keep")
    ctx.srv.wait_unlocked("alice")
    p = ctx.srv.login("alice")
    eq(p.stat()[0], len(msgs), "count after fetchmail with keep")
    p.quit()


def test_fetchmail_delete(ctx):
    msgs = ctx.srv.fill("alice", client_msgs(ctx.store, fetchmail=True))
    r, got = fetchmail(ctx, "", keep=False)
    check_fetchmail_ok(r, "fetchmail")
    same_modulo_crlf(got, msgs, "fetchmail")
    ctx.srv.wait_unlocked("alice")
    p = ctx.srv.login("alice")
    eq(p.stat(), (0, 0), "maildrop after fetchmail without keep")
    p.quit()


def test_fetchmail_uidl_keep(ctx):
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(i) for i in range(1, 4)], ctx.store))
    r, got = fetchmail(ctx, "", keep=True, uidl=True, tag="fmu")
    check_fetchmail_ok(r, "fetchmail --uidl first run")
    same_modulo_crlf(got, msgs, "fetchmail uidl first run")
    ctx.srv.wait_unlocked("alice")
    r, got = fetchmail(ctx, "", keep=True, uidl=True, tag="fmu")
    check_fetchmail_ok(r, "fetchmail --uidl second run")
    eq(len(got), 0, "messages fetched again by fetchmail --uidl")
    ctx.srv.wait_unlocked("alice")
    new = make_msgs([simple_msg(i) for i in range(1, 5)], ctx.store)[3:]
    ctx.srv.add("alice", new)
    r, got = fetchmail(ctx, "", keep=True, uidl=True, tag="fmu")
    check_fetchmail_ok(r, "fetchmail --uidl third run")
    same_modulo_crlf(got, new, "fetchmail uidl: only the new message")


def test_fetchmail_apop(ctx):
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(1)], ctx.store))
    r, got = fetchmail(ctx, "", keep=True, apop=True, tag="fma")
    check_fetchmail_ok(r, "fetchmail proto APOP")
    same_modulo_crlf(got, msgs, "fetchmail APOP")


# ---------------------------------------------------------------- mpop

def mpop(ctx, auth, keep, tag="mp"):
    need("mpop")
    home = os.path.join(ctx.tmp, tag)
    md = os.path.join(home, "Maildir")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    rc = os.path.join(home, "mpoprc")
    with open(rc, "w") as f:
        f.write("defaults\n"
                "tls off\n"
                "received_header off\n"
                "account test\n"
                "host 127.0.0.1\n"
                "port %d\n"
                "user alice\n"
                "password %s\n"
                "auth %s\n"
                "timeout 20\n"
                "delivery maildir %s\n"
                "keep %s\n"
                "uidls_file %s\n"
                % (ctx.srv.port, ctx.srv.passwords["alice"], auth, md,
                   "on" if keep else "off", os.path.join(home, "uidls")))
    os.chmod(rc, 0o600)
    r = subprocess.run(["mpop", "-C", rc, "-q", "test"], capture_output=True, timeout=90,
                       env=dict(os.environ, HOME=home))
    got = []
    for sub in ("new", "cur"):
        d = os.path.join(md, sub)
        for fn in sorted(os.listdir(d)):
            with open(os.path.join(d, fn), "rb") as f:
                got.append(f.read())
            os.unlink(os.path.join(d, fn))
    return r, got


def test_mpop_user(ctx):
    msgs = ctx.srv.fill("alice", client_msgs(ctx.store))
    r, got = mpop(ctx, "user", keep=False)
    eq(r.returncode, 0, "mpop exit status (output %r)" % (r.stdout + r.stderr)[-600:])
    same_modulo_crlf(got, msgs, "mpop auth user")
    ctx.srv.wait_unlocked("alice")
    p = ctx.srv.login("alice")
    eq(p.stat(), (0, 0), "maildrop after mpop with keep off")
    p.quit()


def test_mpop_apop(ctx):
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(i) for i in (1, 2)], ctx.store))
    r, got = mpop(ctx, "apop", keep=True, tag="mpa")
    eq(r.returncode, 0, "mpop auth apop exit status (output %r)" % (r.stdout + r.stderr)[-600:])
    same_modulo_crlf(got, msgs, "mpop auth apop")


def test_mpop_keep_uidls(ctx):
    msgs = ctx.srv.fill("alice", make_msgs([simple_msg(i) for i in (1, 2, 3)], ctx.store))
    r, got = mpop(ctx, "user", keep=True, tag="mpk")
    eq(r.returncode, 0, "mpop first run (output %r)" % (r.stdout + r.stderr)[-600:])
    same_modulo_crlf(got, msgs, "mpop keep first run")
    ctx.srv.wait_unlocked("alice")
    r, got = mpop(ctx, "user", keep=True, tag="mpk")
    eq(r.returncode, 0, "mpop second run (output %r)" % (r.stdout + r.stderr)[-600:])
    eq(len(got), 0, "messages fetched again by mpop with keep on")
    ctx.srv.wait_unlocked("alice")
    p = ctx.srv.login("alice")
    eq(p.stat()[0], 3, "count after two mpop runs with keep on")
    p.quit()


# ------------------------------------------------------------- Perl

PERL = r'''
use strict; use Net::POP3;
my ($port, $user, $pass, $out) = @ARGV;
my $pop = Net::POP3->new("127.0.0.1", Port => $port, Timeout => 20) or die "connect: $@";
defined($pop->login($user, $pass)) or die "login failed: " . $pop->message;
my $list = $pop->list or die "list failed";
open(my $fh, ">", $out) or die;
binmode $fh;
for my $n (sort { $a <=> $b } keys %$list) {
    my $lines = $pop->get($n) or die "get $n failed";
    my $data = join("", @$lines);
    print $fh "== $n $list->{$n} " . length($data) . "\n" . $data;
}
close $fh;
$pop->quit;
'''


def test_perl_net_pop3(ctx):
    if not os.path.exists("/usr/bin/perl"):
        raise Skip("no /usr/bin/perl")
    r = subprocess.run(["/usr/bin/perl", "-MNet::POP3", "-e", "1"], capture_output=True)
    if r.returncode:
        raise Skip("Net::POP3 not available")
    msgs = ctx.srv.fill("alice", client_msgs(ctx.store))
    p = ctx.srv.login("alice")
    bynum = map_numbers(p, ctx.srv, msgs)
    p.quit()
    ctx.srv.wait_unlocked("alice")
    out = os.path.join(ctx.tmp, "perl.out")
    script = os.path.join(ctx.tmp, "get.pl")
    with open(script, "w") as f:
        f.write(PERL)
    r = subprocess.run(["/usr/bin/perl", script, str(ctx.srv.port), "alice",
                        ctx.srv.passwords["alice"], out], capture_output=True, timeout=60)
    eq(r.returncode, 0, "perl exit status (stderr %r)" % r.stderr[-400:])
    with open(out, "rb") as f:
        raw = f.read()
    parts = re.split(rb"(?m)^== (\d+) (\d+) (\d+)\n", raw)[1:]
    eq(len(parts) // 4, len(msgs), "messages fetched by Net::POP3")
    for i in range(0, len(parts), 4):
        n, size, length, data = int(parts[i]), int(parts[i + 1]), int(parts[i + 2]), parts[i + 3]
        m = bynum[n]
        eq(size, m.size, "Net::POP3 list size of %d" % n)
        # Net::POP3 (Net::Cmd) unstuffs dots and keeps CRLF as sent
        if lf(data) != lf(m.expected):
            raise AssertionError("Net::POP3 get %d (%s): %s" % (n, m.label,
                                 describe_diff(lf(data), lf(m.expected))))
