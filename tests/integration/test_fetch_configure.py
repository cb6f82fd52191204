"""satchel fetch --configure ADDRESS (issue #9, src/fetch/fetch_configure.h):
the POP3 server of an address from its domain's SRV records (RFC 6186,
RFC 8314 5.1: _pop3s before _pop3; RFC 2782 priority, weight, "."),
printed as an account block for review, every record as a comment.

satchel runs under `unshare --mount --net` against a DNS server of the
test's own (tests/integration/srvdns.py): /etc/resolv.conf is replaced
only inside that mount namespace. Every run also checks what was asked:
the two SRV names and nothing else (no guessed host, no A or AAAA
lookup, so no connection either). The block must parse with
`satchel fetch -c FILE` (an account name not in it: 64 after a good
parse, 78 for a bad file).
"""
import os
import subprocess

import srvdns
from harness import *

STORES = None
DOMAIN = "example.test"
SRV_NAMES = ["_pop3s._tcp." + DOMAIN, "_pop3._tcp." + DOMAIN]
T_SRV = 33
EX_USAGE, EX_UNAVAILABLE, EX_TEMPFAIL = 64, 69, 75


def configure(ctx, zone, *args, options="timeout:1 attempts:1"):
    if not is_root():
        raise Skip("unshare --mount --net needs root")
    env = {"HOME": ctx.tmp, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    return srvdns.run(ctx.tmp, zone, [SATCHEL, "fetch", "--configure"] +
                      list(args), env)


def asked_only_srv(r, names=SRV_NAMES):
    got = sorted(set((n, t) for n, t in r["queries"]))
    eq(got, sorted((n, T_SRV) for n in names), "the DNS queries")


def settings(out):
    """{key: value} of the block's lines that are not comments."""
    kv = {}
    for line in out.splitlines():
        if line and not line.startswith("#") and not line.startswith("["):
            key, _, value = line.partition("=")
            check(key.strip() not in kv, "key twice: %r" % line)
            kv[key.strip()] = value.strip()
    return kv


def sections(out):
    return [l for l in out.splitlines() if l.startswith("[")]


def records(out):
    return [l for l in out.splitlines() if "  SRV " in l]


def parses(ctx, text, name="block"):
    """Exit and stderr of `satchel fetch -c FILE` over text: the account
    asked for is not in it, so 64 means the file was read fine."""
    path = os.path.join(ctx.tmp, name + ".conf")
    with open(path, "w") as f:
        f.write(text)
    p = run_satchel(["fetch", "-c", path, "--state-dir",
                     os.path.join(ctx.tmp, "state"), "no-such-account"])
    return p.returncode, p.stderr


def check_parses(ctx, out):
    rc, err = parses(ctx, out)
    check(rc == EX_USAGE and "no such account" in err,
          "the block does not parse (%d): %s" % (rc, err.strip()))


BOTH = {
    "_pop3s._tcp." + DOMAIN: {"srv": [
        [20, 0, 995, "backup.example.test"],
        [10, 10, 995, "pop2.example.test"],
        [10, 60, 995, "pop.example.test"],
    ]},
    "_pop3._tcp." + DOMAIN: {"srv": [[0, 0, 110, "plain.example.test"]]},
}


def test_pop3s_chosen_by_priority_then_weight(ctx):
    r = configure(ctx, BOTH, "alice@" + DOMAIN)
    eq(r["rc"], 0, "exit (stderr %r)" % r["stderr"])
    asked_only_srv(r)
    kv = settings(r["stdout"])
    # pop3 has the lower priority, but implicit TLS comes first
    eq(kv.get("url"), "pops://alice@pop.example.test:995", "url")
    eq(kv.get("to"), "maildir:%s/Maildir" % ctx.tmp, "to")
    eq(kv.get("keep"), "yes", "keep")
    eq(sections(r["stdout"]), ["[alice@example.test]"], "the section")
    recs = records(r["stdout"])
    eq([l.split("  SRV ")[1].split("  ")[0] for l in recs],
       ["10 60 995 pop.example.test", "10 10 995 pop2.example.test",
        "20 0 995 backup.example.test", "0 0 110 plain.example.test"],
       "every record, each service in its order")
    eq([l for l in recs if "<- the url below" in l],
       ["# _pop3s._tcp.example.test  SRV 10 60 995 pop.example.test"
        "  <- the url below"], "the record marked as chosen")
    check("# url = pops://alice%40example.test@pop.example.test:995"
          in r["stdout"].splitlines(), "the whole-address URL as a comment")
    check_parses(ctx, r["stdout"])


def test_only_pop3_is_stls(ctx):
    zone = {"_pop3._tcp." + DOMAIN: {"srv": [
        [5, 0, 1110, "mail.example.test"], [7, 100, 110, "b.example.test"]]}}
    r = configure(ctx, zone, "bob@" + DOMAIN)
    eq(r["rc"], 0, "exit (stderr %r)" % r["stderr"])
    asked_only_srv(r)
    eq(settings(r["stdout"]).get("url"), "pop://bob@mail.example.test:1110",
       "url: pop:// (STLS required) with the record's port")
    check("# _pop3s._tcp.example.test  no SRV record" in r["stdout"],
          "the missing pop3s said")
    check(any("STLS" in l for l in r["stdout"].splitlines()
              if l.startswith("#")), "STLS said")
    check_parses(ctx, r["stdout"])


def test_pop3s_not_offered_falls_back(ctx):
    zone = {"_pop3s._tcp." + DOMAIN: {"srv": [[0, 0, 0, "."]]},
            "_pop3._tcp." + DOMAIN: {"srv": [[0, 0, 110, "pop.example.test"]]}}
    r = configure(ctx, zone, "carol@" + DOMAIN)
    eq(r["rc"], 0, "exit (stderr %r)" % r["stderr"])
    eq(settings(r["stdout"]).get("url"), "pop://carol@pop.example.test:110",
       "url")
    check("# _pop3s._tcp.example.test  SRV 0 0 0 .  not offered (RFC 2782)"
          in r["stdout"].splitlines(), "the '.' record shown")


def test_not_offered(ctx):
    zone = {n: {"srv": [[0, 0, 0, "."]]} for n in SRV_NAMES}
    r = configure(ctx, zone, "dave@" + DOMAIN)
    eq(r["rc"], EX_UNAVAILABLE, "exit (stderr %r)" % r["stderr"])
    eq(r["stdout"], "", "stdout")
    check("offers no POP3" in r["stderr"], "stderr: %r" % r["stderr"])
    asked_only_srv(r)


def test_no_records(ctx):
    # NXDOMAIN for one, NOERROR without an answer for the other
    zone = {"_pop3._tcp." + DOMAIN: {"srv": []}}
    r = configure(ctx, zone, "erin@" + DOMAIN)
    eq(r["rc"], EX_UNAVAILABLE, "exit (stderr %r)" % r["stderr"])
    eq(r["stdout"], "", "stdout")
    check("no SRV record of POP3" in r["stderr"], "stderr: %r" % r["stderr"])
    # no guessing: pop.example.test, mail.example.test... never asked
    asked_only_srv(r)


def test_dns_failures(ctx):
    good = {"srv": [[0, 0, 995, "pop.example.test"]]}
    cases = [
        ("SERVFAIL for pop3s", {SRV_NAMES[0]: {"rcode": "SERVFAIL"},
                                SRV_NAMES[1]: good}),
        # pop3s found, but no choice is made from half the answers
        ("SERVFAIL for pop3", {SRV_NAMES[0]: good,
                               SRV_NAMES[1]: {"rcode": "SERVFAIL"}}),
        ("REFUSED", {SRV_NAMES[0]: {"rcode": "REFUSED"}}),
        ("a malformed SRV record", {SRV_NAMES[0]: {"short_rdata": True}}),
        ("junk after an SRV target", {SRV_NAMES[0]: {"long_rdata": True}}),
    ]
    for what, zone in cases:
        r = configure(ctx, zone, "frank@" + DOMAIN)
        eq(r["rc"], EX_TEMPFAIL, "%s: exit (stderr %r)" % (what, r["stderr"]))
        eq(r["stdout"], "", "%s: stdout" % what)
        check("try again later" in r["stderr"], "%s: stderr %r"
              % (what, r["stderr"]))


def test_timeout(ctx):
    r = configure(ctx, {SRV_NAMES[0]: {"drop": True}}, "gina@" + DOMAIN)
    eq(r["rc"], EX_TEMPFAIL, "exit (stderr %r)" % r["stderr"])
    eq(r["stdout"], "", "stdout")
    check(r["seconds"] < 10, "took %.1fs" % r["seconds"])


def test_bad_addresses(ctx):
    bad = ["", DOMAIN, "@" + DOMAIN, "alice@", "a@b@" + DOMAIN,
           "a..b@" + DOMAIN, ".a@" + DOMAIN, "a.@" + DOMAIN,
           "a b@" + DOMAIN, '"a"@' + DOMAIN, "<a@example.test>",
           "x" * 65 + "@" + DOMAIN, "a@exa_mple.test", "a@-x.test",
           "a@x-.test", "a@example..test", "a@" + "b" * 64 + ".test",
           "a@" + ".".join(["c" * 60] * 4), "\xe4@" + DOMAIN,
           "a@b\xfccher.test", "a@example.test\nurl = pop://evil",
           "a@."]
    for addr in bad:
        r = configure(ctx, {}, addr)
        eq(r["rc"], EX_USAGE, "%r: exit (stderr %r)" % (addr, r["stderr"]))
        eq(r["stdout"], "", "%r: stdout" % addr)
        eq(r["queries"], [], "%r: no DNS query" % addr)
    # nothing else may come along
    r = configure(ctx, BOTH, "alice@" + DOMAIN, "pops://a@b")
    eq(r["rc"], EX_USAGE, "an extra argument")


def test_odd_addresses(ctx):
    """A dot-atom local part keeps its case and is %-encoded in the URL;
    the domain is lower-cased, its final dot dropped."""
    zone = {n.replace(DOMAIN, "sub.example.test"): v for n, v in BOTH.items()}
    addr = "Jo.O'Neil+x%y/z=w@Sub.Example.TEST."
    r = configure(ctx, zone, addr)
    eq(r["rc"], 0, "exit (stderr %r)" % r["stderr"])
    asked_only_srv(r, [n.replace(DOMAIN, "sub.example.test")
                       for n in SRV_NAMES])
    eq(sections(r["stdout"]), ["[Jo.O'Neil+x%y/z=w@sub.example.test]"],
       "the section")
    eq(settings(r["stdout"]).get("url"),
       "pops://Jo.O'Neil+x%25y%2Fz%3Dw@pop.example.test:995", "url")
    # pop.example.test is outside sub.example.test: said for review
    check("# pop.example.test is not in sub.example.test: make sure it "
          "serves your mail." in r["stdout"].splitlines(), "the warning")
    check_parses(ctx, r["stdout"])


def test_block_parses_and_bad_block_does_not(ctx):
    r = configure(ctx, BOTH, "alice@" + DOMAIN, "--to",
                  "mda:/usr/bin/procmail -d alice")
    eq(r["rc"], 0, "exit (stderr %r)" % r["stderr"])
    eq(settings(r["stdout"]).get("to"), "mda:/usr/bin/procmail -d alice", "to")
    check_parses(ctx, r["stdout"])
    # the check can fail: an unknown key, a broken URL, no url at all
    for what, text in [
            ("unknown key", r["stdout"] + "bogus_key = 1\n"),
            ("bad url", r["stdout"].replace("url = pops://", "url = http://")),
            ("no url", "\n".join(l for l in r["stdout"].splitlines()
                                 if not l.startswith("url")) + "\n")]:
        rc, err = parses(ctx, text, what.replace(" ", "_"))
        eq(rc, EX_CONFIG, "%s: exit (%s)" % (what, err.strip()))
    # a destination that would break the block is refused
    for dest in ["maildir:/x\nkeep = no", " maildir:/x", ""]:
        r = configure(ctx, BOTH, "alice@" + DOMAIN, "--to", dest)
        eq(r["rc"], EX_USAGE, "--to %r: exit" % dest)
        eq(r["queries"], [], "--to %r: no DNS query" % dest)


def test_hostile_answers(ctx):
    """Targets that are no host names, port 0, records of another owner:
    shown escaped, never used; a CNAME is followed."""
    zone = {
        SRV_NAMES[0]: {"srv": [
            [0, 0, 995, "evil\nurl = pop://x.example.test"],
            [1, 0, 0, "zero.example.test"],
            [2, 0, 995, "under_score.example.test"],
            [9, 0, 995, "good.example.test"]],
            "foreign": [[0, 0, 995, "foreign.example.test"]]},
    }
    r = configure(ctx, zone, "hal@" + DOMAIN)
    eq(r["rc"], 0, "exit (stderr %r)" % r["stderr"])
    lines = r["stdout"].splitlines()
    eq(settings(r["stdout"]).get("url"), "pops://hal@good.example.test:995",
       "url")
    check(all(l.startswith("#") or l.startswith("[") or "=" in l
              for l in lines if l), "no line injected: %r" % lines)
    check(not any("foreign" in l for l in lines), "another owner's record")
    check("# _pop3s._tcp.example.test  SRV 0 0 995 "
          "evil\\010url\\032=\\032pop://x.example.test  not a host name: "
          "ignored" in lines, "the odd name escaped: %r" % records(r["stdout"]))
    check(any("zero.example.test  port 0: ignored" in l for l in lines),
          "port 0")
    check_parses(ctx, r["stdout"])

    zone = {SRV_NAMES[0]: {"cname": "_pop3s._tcp.hosting.test"},
            "_pop3s._tcp.hosting.test": {"srv": [[0, 0, 995, "pop.hosting.test"]]}}
    r = configure(ctx, zone, "hal@" + DOMAIN)
    eq(r["rc"], 0, "CNAME: exit (stderr %r)" % r["stderr"])
    eq(settings(r["stdout"]).get("url"), "pops://hal@pop.hosting.test:995",
       "CNAME: url")

    # every record unusable: nothing to offer, and said why
    zone = {SRV_NAMES[0]: {"srv": [[0, 0, 995, "bad_name.test"]]}}
    r = configure(ctx, zone, "hal@" + DOMAIN)
    eq(r["rc"], EX_UNAVAILABLE, "unusable only: exit")
    check("usable" in r["stderr"] and "bad_name.test" in r["stderr"],
          "unusable only: stderr %r" % r["stderr"])
