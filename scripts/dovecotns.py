"""dovecotns.py: running Debian's Dovecot without installing it, for the
tests and the benchmarks (import it with scripts/ on sys.path).

An installed dovecot-core starts a system service, so `make deps` only
unpacks dovecot-core, dovecot-pop3d and dovecot-lmtpd into build-dovecot/
(scripts/fetch-deb). The unpacked binaries look for everything under
their compiled-in /usr paths: RUNPATH /usr/lib/dovecot (libdovecot*.so),
the services in /usr/lib/dovecot, /usr/bin/doveconf (which the master
execs to parse its config) and the SSL module every login process loads
from /usr/lib/dovecot/modules (no setting moves that one, even with
ssl = no). So each Dovecot command runs in a private mount namespace
(unshare -m) where an overlay lays build-dovecot/usr over /usr: there,
and only for Dovecot's processes, those paths are the unpacked ones;
nothing outside sees it. The command is exec'd in place, so the PID a
caller's Popen knows is Dovecot's own.

The unpacked copy has no postinst either: no dovecot or dovenull user
or group. Configs run Dovecot's own processes as an existing user
instead (settings() says what to write).
"""
import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.join(REPO, "build-dovecot")
FETCH_DEB = os.path.join(REPO, "scripts", "fetch-deb")
# package -> a file inside ROOT that shows it is unpacked
PACKAGES = {
    "dovecot-core": "usr/sbin/dovecot",
    "dovecot-pop3d": "usr/lib/dovecot/pop3",
    "dovecot-lmtpd": "usr/lib/dovecot/lmtp",
}
# 99: the overlay could not be mounted (see argv)
MOUNT_FAILED = 99
_SCRIPT = ('mount -t overlay -o ro,lowerdir="$1/usr:/usr" satchel-dovecot '
           '/usr || exit %d; shift; exec "$@"' % MOUNT_FAILED)


def settings(user):
    """The config lines (top level) an unpacked Dovecot needs: user and
    its group in place of Debian's dovenull and dovecot, which only the
    package's postinst creates, and anvil without its chroot (which
    wants a directory owned by root that an unpacked tree lacks)."""
    return ("default_login_user = {u}\ndefault_internal_user = {u}\n"
            "default_internal_group = {u}\n"
            "service anvil {{\n  chroot =\n}}\n").format(u=user)


def unpacked(package="dovecot-core"):
    return os.path.exists(os.path.join(ROOT, PACKAGES[package]))


def fetch(packages=("dovecot-core", "dovecot-pop3d")):
    """Unpacks whichever of packages is missing (needs root and Debian's
    archive, as `make deps`)."""
    for pkg in packages:
        if not unpacked(pkg):
            subprocess.run([FETCH_DEB, pkg, ROOT, PACKAGES[pkg]], check=True)


def host_path(path):
    """Where a /usr path of the unpacked copy is seen from outside the
    namespace (for existence checks: a config may only name what is
    there, e.g. /usr/share/dovecot/dh.pem)."""
    return os.path.join(ROOT, path.lstrip("/"))


def argv(path, *args):
    """The command that runs path (a /usr path: /usr/sbin/dovecot,
    /usr/bin/doveadm) with args from the unpacked copy. Raises
    RuntimeError when it cannot: not root (a mount namespace needs it),
    or build-dovecot/ missing or unusable as an overlay layer."""
    if not unpacked():
        raise RuntimeError("dovecot is not unpacked in %s (make deps)" % ROOT)
    if os.geteuid() != 0:
        raise RuntimeError("the unpacked dovecot needs root (a mount "
                           "namespace)")
    if ":" in ROOT or "," in ROOT:
        raise RuntimeError("%s: no ':' or ',' allowed in an overlay "
                           "lowerdir" % ROOT)
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            _SCRIPT, "sh", ROOT, path] + list(args)


def version():
    r = subprocess.run(argv("/usr/sbin/dovecot", "--version"),
                       capture_output=True, text=True)
    return r.stdout.strip() or "unknown (%s)" % r.stderr.strip()
