"""The login name's one normalisation (issue 10, item 7; loginname.h):
with default_domain, login_percent_domain, login_sdps and
login_lowercase, `joe`, `joe@a.example`, `JOE@A.EXAMPLE`, `joe%a.example`
and `joe+a.example` all log in as joe@a.example, over USER/PASS (Python's
poplib), AUTH PLAIN (curl) and APOP, and hold the same maildrop (one
lock: a second login by another form is [IN-USE]); without the options
only the domain is folded; names that are no names fail as unknown
users do."""

import hashlib
import poplib
import subprocess

from harness import *

STORES = ("maildir",)
EXTRA_USERS = {"joe@a.example": "{PLAIN}joe-Pw.Lg5"}
EXTRA_SECRETS = ("joe-Pw.Lg5",)
CONFIG = {
    "default_domain": "a.example",
    "login_percent_domain": "yes",
    "login_sdps": "yes",
    "login_lowercase": "yes",
    "apop": "yes",
    "sasl_mechanisms": "PLAIN",
}
FORMS = ("joe", "joe@a.example", "JOE@A.EXAMPLE", "joe%a.example",
         "Joe+A.Example")


def test_every_form_is_joe(ctx):
    srv = ctx.srv
    srv.fill("joe@a.example", make_msgs([simple_msg(1)], "maildir"))
    for form in FORMS:
        c = poplib.POP3("127.0.0.1", srv.port, timeout=10)
        c.user(form)
        c.pass_("joe-Pw.Lg5")
        eq(c.stat()[0], 1, "joe's maildrop as %s" % form)
        c.quit()
        srv.wait_unlocked("joe@a.example")
    check("user=joe@a.example" in srv.log_text(), "the canonical name is "
          "logged: %s" % srv.log_tail(4))


def test_one_lock_for_every_form(ctx):
    srv = ctx.srv
    srv.fill("joe@a.example", [])
    first = srv.connect()
    first.ok("USER JOE%A.EXAMPLE")
    first.ok("PASS joe-Pw.Lg5")
    second = srv.connect()
    second.ok("USER joe")
    check("[IN-USE]" in second.cmd("PASS joe-Pw.Lg5"),
          "another form of the name got the same maildrop twice")
    first.quit()


def test_apop_and_auth_plain(ctx):
    srv = ctx.srv
    srv.fill("joe@a.example", [])
    p = srv.connect()
    ts = p.greeting[p.greeting.index("<"):p.greeting.index(">") + 1]
    p.ok("APOP JOE " + hashlib.md5((ts + "joe-Pw.Lg5").encode()).hexdigest())
    p.quit()
    srv.wait_unlocked("joe@a.example")
    r = subprocess.run(["curl", "-s", "--max-time", "10",
                        "pop3://127.0.0.1:%d/" % srv.port,
                        "--login-options", "AUTH=PLAIN",
                        "-u", "joe%a.example:joe-Pw.Lg5"],
                       capture_output=True, timeout=20)
    eq(r.returncode, 0, "curl AUTH PLAIN as joe%%a.example (%s)" % r.stderr)


def test_no_names(ctx):
    srv = ctx.srv
    answers = set()
    for form in ("joe@a.example@b.example", "joe%", "../joe", "joe@x",
                 "nosuch"):
        p = srv.connect()
        p.ok("USER " + form)
        answers.add(p.cmd("PASS joe-Pw.Lg5"))
    eq(answers, {"-ERR [AUTH] invalid user name or password"},
       "what names that are no names get")


def test_without_the_options(ctx):
    srv = ctx.server(users=EXTRA_USERS, secrets=EXTRA_SECRETS)
    srv.start()
    srv.fill("joe@a.example", [])
    p = srv.connect()
    p.ok("USER joe@A.EXAMPLE")          # the domain is folded always
    p.ok("PASS joe-Pw.Lg5")
    p.quit()
    for form in ("joe", "joe%a.example", "JOE@a.example"):
        p = srv.connect()
        p.ok("USER " + form)
        check(p.cmd("PASS joe-Pw.Lg5").startswith("-ERR [AUTH]"),
              "%s logged in without the options" % form)
