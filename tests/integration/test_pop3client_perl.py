"""Perl's Mail::POP3Client (Debian's libmail-pop3client-perl) against
satchel serve (issue 12): USER/PASS, APOP and AUTH CRAM-MD5 logins (its
AUTH_MODE), Count/Size/List/Uidl, HeadAndBody byte-exact (CRLF lines,
dots unstuffed), Delete then Close (QUIT), over plain TCP and over
implicit TLS (its USESSL, IO::Socket::SSL verifying our certificate)."""
import subprocess

from harness import *

STORES = ("maildir", "mbox")
TLS_PORT = free_port()
CERT_DIR = tempfile.mkdtemp(prefix="satchel-it-perl-")
os.chmod(CERT_DIR, 0o755)
CERT, KEY = self_signed_cert(CERT_DIR)
OPTS = {"apop": "yes"}
CONFIG = {"listen_tls": "127.0.0.1:%d" % TLS_PORT, "tls_cert": CERT, "tls_key": KEY,
          "sasl_mechanisms": "CRAM-MD5 PLAIN LOGIN",
          # USER/PASS over TLS to 127.0.0.1 and plain loopback both
          "plaintext_auth": "tls-or-loopback"}

# What the script prints, one line each, then every message it read as
# "MSG n LEN" followed by the octets: parsed by run_perl below.
SCRIPT = r'''
use strict;
use warnings;
use Mail::POP3Client;
use IO::Socket::SSL;
my ($port, $user, $pass, $mode, $ssl, $ca, $out, @dele) = @ARGV;
# Mail::POP3Client passes no SSL options: the defaults carry our CA
IO::Socket::SSL::set_defaults(SSL_ca_file => $ca, SSL_verifycn_name => "localhost",
                              SSL_verifycn_scheme => "default");
my $pop = Mail::POP3Client->new(USER => $user, PASSWORD => $pass,
                                HOST => "127.0.0.1", PORT => $port,
                                AUTH_MODE => $mode, USESSL => $ssl,
                                TIMEOUT => 20);
$pop->State eq "TRANSACTION" or die "login ($mode): " . $pop->Message . "\n";
open(my $fh, ">:raw", $out) or die "$out: $!\n";
my $n = $pop->Count;
print $fh "COUNT $n\n";
for my $i (1 .. $n) {
    my $size = $pop->List($i);
    $size =~ s/\s+$//;
    my $uidl = $pop->Uidl($i);
    $uidl =~ s/\s+$//;
    print $fh "LIST $size\nUIDL $uidl\n";
    my $msg = $pop->HeadAndBody($i);
    defined $msg or die "RETR $i: " . $pop->Message . "\n";
    print $fh "MSG $i " . length($msg) . "\n" . $msg;
}
for my $i (@dele) {
    $pop->Delete($i) or die "DELE $i: " . $pop->Message . "\n";
}
print $fh "TRANLOG " . join("|", grep { /^\+OK|^-ERR/ } @{$pop->{tranlog}}) . "\n";
$pop->Close or die "QUIT: " . $pop->Message . "\n";
close($fh);
'''


def need_module():
    r = subprocess.run(["/usr/bin/perl", "-MMail::POP3Client", "-MIO::Socket::SSL",
                        "-e", "1"], capture_output=True)
    if r.returncode != 0:
        raise Skip("Mail::POP3Client or IO::Socket::SSL missing (make deps)")


def run_perl(ctx, tag, mode, ssl=False, dele=()):
    """Runs the script; returns (counts and sizes, uidls, messages)."""
    need_module()
    script = os.path.join(ctx.tmp, "pop3client.pl")
    with open(script, "w") as f:
        f.write(SCRIPT)
    out = os.path.join(ctx.tmp, tag + ".out")
    port = TLS_PORT if ssl else ctx.srv.port
    r = subprocess.run(["/usr/bin/perl", script, str(port), "alice",
                        ctx.srv.passwords["alice"], mode, "1" if ssl else "0", CERT,
                        out] + [str(n) for n in dele],
                       capture_output=True, timeout=60)
    eq(r.returncode, 0, "perl %s (stderr %r)" % (tag, r.stderr[-600:]))
    with open(out, "rb") as f:
        data = f.read()
    sizes, uidls, msgs, log = [], [], [], ""
    pos = 0
    while pos < len(data):
        nl = data.index(b"\n", pos)
        line = data[pos:nl].decode("latin-1")
        pos = nl + 1
        if line.startswith("LIST "):
            sizes.append(int(line.split()[2]))
        elif line.startswith("UIDL "):
            uidls.append(line.split()[2])
        elif line.startswith("MSG "):
            length = int(line.split()[2])
            msgs.append(data[pos:pos + length])
            pos += length
        elif line.startswith("TRANLOG "):
            log = line[8:]
    return sizes, uidls, msgs, log


def perl_msgs(ctx):
    """Dots, an empty line, CRLF and LF, 8-bit and a larger message."""
    datas = [simple_msg(1, body=b".leading dot\n..two\n.\n\nend\n"),
             b"From: a@example.org\r\nSubject: crlf\r\n\r\nline\r\n.\r\n",
             b"From: b@example.org\nSubject: 8bit\n\n\xe9t\xe9 \xff\n" + b"x" * 70000 + b"\n"]
    return make_msgs(datas, ctx.store)


def check_session(ctx, tag, mode, ssl=False):
    msgs = ctx.srv.fill("alice", perl_msgs(ctx))
    sizes, uidls, got, log = run_perl(ctx, tag, mode, ssl=ssl, dele=[2])
    eq(len(got), len(msgs), "%s: messages read" % tag)
    eq(sizes, [m.size for m in msgs], "%s: LIST sizes" % tag)
    for i, (g, m) in enumerate(zip(got, msgs), 1):
        if g != m.expected:
            raise AssertionError("%s: message %d: %s" % (tag, i, describe_diff(g, m.expected)))
    ctx.srv.wait_unlocked("alice")
    p = ctx.srv.login_retry("alice")
    eq(p.stat()[0], len(msgs) - 1, "%s: message 2 deleted at QUIT" % tag)
    eq([u for _, u in sorted(p.uidl().items())], [uidls[0], uidls[2]],
       "%s: the UIDLs it saw" % tag)
    p.quit()
    return log


def test_pass_plain(ctx):
    log = check_session(ctx, "pass", "PASS")
    check("+OK send PASS" in log, "USER/PASS was used: %s" % log)


def test_apop_plain(ctx):
    log = check_session(ctx, "apop", "APOP")
    check("+OK send PASS" not in log, "APOP, not USER/PASS: %s" % log)


def test_cram_md5_plain(ctx):
    log = check_session(ctx, "cram", "CRAM-MD5")
    check("+OK send PASS" not in log, "CRAM-MD5, not USER/PASS: %s" % log)


def test_best_picks_apop(ctx):
    """AUTH_MODE BEST tries APOP first when the greeting has a timestamp."""
    check_session(ctx, "best", "BEST")


def test_pass_tls(ctx):
    check_session(ctx, "pass-tls", "PASS", ssl=True)


def test_cram_md5_tls(ctx):
    check_session(ctx, "cram-tls", "CRAM-MD5", ssl=True)


def test_wrong_password_refused(ctx):
    need_module()
    script = os.path.join(ctx.tmp, "pop3client.pl")
    with open(script, "w") as f:
        f.write(SCRIPT)
    for mode in ("PASS", "APOP", "CRAM-MD5"):
        r = subprocess.run(["/usr/bin/perl", script, str(ctx.srv.port), "alice", "wrong",
                            mode, "0", CERT, os.path.join(ctx.tmp, "wrong.out")],
                           capture_output=True, timeout=60)
        check(r.returncode != 0 and b"login (%s)" % mode.encode() in r.stderr,
              "%s with a wrong password: rc %d %r" % (mode, r.returncode, r.stderr[-300:]))


# RFC 6856 with Mail::POP3Client's UTF8(): sent before login (new()
# without USER does not connect; Connect without one does not log in),
# then USER/PASS. Its UTF8() returns undef
# even on +OK (it assigns s/// on $_ to the result), so the transaction
# log tells whether the server accepted it.
UTF8_SCRIPT = r'''
use strict;
use warnings;
use Mail::POP3Client;
my ($port, $user, $pass, $utf8, $out) = @ARGV;
my $pop = Mail::POP3Client->new(HOST => "127.0.0.1", PORT => $port, TIMEOUT => 20);
$pop->Connect;
$pop->State eq "AUTHORIZATION" or die "connect: " . $pop->Message . "\n";
$pop->UTF8 if $utf8;
$pop->User($user);
$pop->Pass($pass);
$pop->AuthMode("PASS");
$pop->Login or die "login: " . $pop->Message . "\n";
open(my $fh, ">:raw", $out) or die "$out: $!\n";
my $msg = $pop->HeadAndBody(1);
print $fh defined $msg ? "MSG " . length($msg) . "\n" . $msg
                       : "ERR " . $pop->Message . "\n";
print $fh "\nTRANLOG " . join("|", @{$pop->{tranlog}}) . "\n";
$pop->Close;
close($fh);
'''

UTF8_MSG = ("From: J\u00f6rg <j\u00f6rg@example.org>\nSubject: Gr\u00fc\u00dfe \u2603\n"
            "\nbody\n").encode()


def run_utf8(ctx, srv, utf8):
    need_module()
    script = os.path.join(ctx.tmp, "utf8.pl")
    with open(script, "w") as f:
        f.write(UTF8_SCRIPT)
    out = os.path.join(ctx.tmp, "utf8.out")
    r = subprocess.run(["/usr/bin/perl", script, str(srv.port), "alice",
                        srv.passwords["alice"], "1" if utf8 else "0", out],
                       capture_output=True, timeout=60)
    eq(r.returncode, 0, "perl utf8 (stderr %r)" % r.stderr[-600:])
    with open(out, "rb") as f:
        data = f.read()
    head, rest = data.split(b"\n", 1)
    log = rest.rsplit(b"\nTRANLOG ", 1)[1].decode("utf-8", "replace")
    if head.startswith(b"MSG "):
        return rest[:int(head.split()[1])], log
    return head.decode("utf-8", "replace"), log


def test_utf8_both_modes(ctx):
    """utf8_legacy = send: the same octets with and without UTF8; the
    server took the UTF8 command."""
    srv = ctx.server(store=ctx.store, opts={"utf8_legacy": "send"}).start()
    msgs = srv.fill("alice", make_msgs([UTF8_MSG], ctx.store))
    got, log = run_utf8(ctx, srv, utf8=True)
    check("+OK UTF8 enabled" in log, "UTF8 accepted: %s" % log)
    eq(got, msgs[0].expected, "RETR in UTF-8 mode")
    srv.wait_unlocked("alice")
    got, log = run_utf8(ctx, srv, utf8=False)
    check("UTF8" not in log, "no UTF8 sent: %s" % log)
    eq(got, msgs[0].expected, "RETR without UTF8")


def test_utf8_wrap_default(ctx):
    """utf8_legacy = wrap, the default: without UTF8 an ASCII surrogate
    (nothing 8-bit, the Subject as encoded words), with UTF8 the octets
    as stored."""
    msgs = ctx.srv.fill("alice", make_msgs([UTF8_MSG], ctx.store))
    got, log = run_utf8(ctx, ctx.srv, utf8=False)
    check(isinstance(got, bytes) and all(b < 0x80 for b in got) and
          b"Subject: =?UTF-8?" in got, "without UTF8: %r" % (got[:200],))
    ctx.srv.wait_unlocked("alice")
    got, log = run_utf8(ctx, ctx.srv, utf8=True)
    eq(got, msgs[0].expected, "with UTF8")


def test_utf8_legacy_reject(ctx):
    """utf8_legacy = reject: without UTF8 the message is -ERR [UTF8],
    with it the octets as stored."""
    srv = ctx.server(store=ctx.store, opts={"utf8_legacy": "reject"}).start()
    msgs = srv.fill("alice", make_msgs([UTF8_MSG], ctx.store))
    got, log = run_utf8(ctx, srv, utf8=False)
    check(isinstance(got, str) and "[UTF8]" in got, "without UTF8: %r" % (got,))
    srv.wait_unlocked("alice")
    got, log = run_utf8(ctx, srv, utf8=True)
    eq(got, msgs[0].expected, "with UTF8")
