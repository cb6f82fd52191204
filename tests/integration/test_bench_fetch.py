"""bench/fetch.py in its QUICK mode (issue 9): the side-by-side run of
satchel fetch, mpop and fetchmail works end to end (every client stores
every message; the table and the ratios are printed). The figures of a
full run are in docs/performance.md, never asserted here."""
import subprocess

from harness import *

STORES = ()


def test_quick_run(ctx):
    env = dict(os.environ, QUICK="1", SATCHEL_BIN=SATCHEL)
    p = subprocess.run(["python3", os.path.join(REPO, "bench", "fetch.py")],
                       capture_output=True, text=True, timeout=240, env=env)
    eq(p.returncode, 0, "bench/fetch.py: %s %s" % (p.stdout[-500:], p.stderr[-800:]))
    check("ok - bench fetch" in p.stdout, p.stdout[-500:])
    check("satchel/mpop:" in p.stdout, "the mpop ratio: %s" % p.stdout[-500:])
