"""The default build's hardening (Makefile HARDEN_CFLAGS/HARDEN_LDFLAGS,
issue 13): the binary under test is a PIE with full RELRO (a
PT_GNU_RELRO segment and BIND_NOW) and stack canaries, checked with
readelf from binutils. The sanitizer build keeps PIE and RELRO but has no
FORTIFY (it hides accesses from ASan), so only the default build is held
to the FORTIFY check."""
import os
import subprocess

from harness import *

STORES = ("maildir",)


def readelf(*args):
    r = subprocess.run(["readelf", "-W"] + list(args) + [SATCHEL],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "readelf %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


def test_pie(ctx):
    out = readelf("-h")
    check("DYN (Position-Independent Executable file)" in out,
          "ELF type is not a PIE: %s" % short(out))


def test_full_relro(ctx):
    check("GNU_RELRO" in readelf("-l"), "no PT_GNU_RELRO segment")
    dyn = readelf("-d")
    check("BIND_NOW" in dyn and "FLAGS_1" in dyn and "NOW" in dyn,
          "no BIND_NOW (lazy binding: partial RELRO only)")


def test_stack_protector(ctx):
    check("__stack_chk_fail" in readelf("--dyn-syms"),
          "no __stack_chk_fail: built without -fstack-protector-strong")


def test_fortify(ctx):
    if "build-asan" in SATCHEL:
        raise Skip("the sanitizer build has no FORTIFY")
    syms = readelf("--dyn-syms")
    check("_chk@" in syms, "no *_chk symbols: built without "
          "_FORTIFY_SOURCE")
