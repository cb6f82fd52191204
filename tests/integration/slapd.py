"""OpenLDAP's slapd from Debian for the LDAP user database tests
(tests/integration/test_users_ldap.py), never the system instance.

Directory(dir) writes a slapd.conf (mdb, the core/cosine/nis/
inetorgperson schemas, a service account that may read userPassword)
in dir and loads an LDIF with slapadd while the server is down; start()
runs /usr/sbin/slapd in the foreground (-d 0, so the PID is the
server's) on a port of the harness's block, 127.0.0.1 only (and, with
tls=True, a certificate made by a CA of its own: ldaps on a second port,
StartTLS on the first), and waits, bounded, until ldapsearch gets an
answer. stop() ends it by its PID (SIGTERM, slapd's clean shutdown);
pause()/resume() are SIGSTOP/SIGCONT. The system instance, if the
package started one, is never touched, and nothing here depends on it."""

import os
import shutil
import signal
import subprocess

import harness

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=org"
PEOPLE = "ou=people," + SUFFIX
SERVICE_DN = "cn=satchel," + SUFFIX
SERVICE_PW = "svc-Pw.91x"

CONF = """include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
{tls}
database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "cn=admin,{suffix}"
rootpw admin-Pw.3
directory {dir}/data
access to attrs=userPassword
    by dn.exact="{service}" read
    by anonymous auth
    by * none
access to * by * read
"""

BASE_LDIF = """dn: {suffix}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: {service}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: satchel
userPassword: {service_pw}

dn: {people}
objectClass: organizationalUnit
ou: people
"""


def available():
    return os.path.exists(SLAPD) and shutil.which("slapadd") and \
        shutil.which("ldapsearch")


def person(uid, password, uid_number, gid_number, home, extra=()):
    """The LDIF of one posixAccount under ou=people."""
    lines = ["dn: uid=%s,%s" % (uid, PEOPLE), "objectClass: inetOrgPerson",
             "objectClass: posixAccount", "uid: %s" % uid, "cn: %s" % uid,
             "sn: %s" % uid, "uidNumber: %d" % uid_number,
             "gidNumber: %d" % gid_number, "homeDirectory: %s" % home]
    if password is not None:
        lines.append("userPassword: %s" % password)
    lines += list(extra)
    return "\n".join(lines) + "\n"


def make_ca(dir, host="127.0.0.1"):
    """A CA and a server certificate for host (as IP and DNS name), made
    with openssl: (ca.pem, cert.pem, key.pem)."""
    ca_key, ca = os.path.join(dir, "ca.key"), os.path.join(dir, "ca.pem")
    key, csr = os.path.join(dir, "srv.key"), os.path.join(dir, "srv.csr")
    cert, ext = os.path.join(dir, "srv.pem"), os.path.join(dir, "srv.ext")

    def run(argv):
        p = subprocess.run(argv, capture_output=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("%s: %s" % (" ".join(argv),
                                             p.stderr.decode()[-400:]))
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", ca_key, "-out", ca, "-days", "2", "-subj",
         "/CN=satchel test LDAP CA"])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", csr, "-subj", "/CN=%s" % host])
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:%s,DNS:localhost\n" % host)
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext])
    # satchel's auth process reads the CA as its own user
    os.chmod(dir, 0o755)
    os.chmod(ca, 0o644)
    return ca, cert, key


class Directory:
    def __init__(self, dir, people_ldif="", tls=False):
        self.dir = dir
        self.port = harness.free_port()
        self.tls_port = harness.free_port() if tls else None
        self.log_path = os.path.join(dir, "slapd.log")
        self.proc = None
        self.paused = False
        self.ca = None
        tls_conf = ""
        if tls:
            self.ca, cert, key = make_ca(dir)
            tls_conf = ("TLSCACertificateFile %s\nTLSCertificateFile %s\n"
                        "TLSCertificateKeyFile %s" % (self.ca, cert, key))
        os.makedirs(os.path.join(dir, "data"), exist_ok=True)
        self.conf = os.path.join(dir, "slapd.conf")
        with open(self.conf, "w") as f:
            f.write(CONF.format(dir=dir, suffix=SUFFIX, service=SERVICE_DN,
                                tls=tls_conf))
        ldif = os.path.join(dir, "data.ldif")
        with open(ldif, "w") as f:
            f.write(BASE_LDIF.format(suffix=SUFFIX, service=SERVICE_DN,
                                     service_pw=SERVICE_PW, people=PEOPLE))
            f.write("\n" + people_ldif)
        p = subprocess.run(["slapadd", "-f", self.conf, "-l", ldif],
                           capture_output=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("slapadd: %s" % p.stderr.decode()[-800:])

    def uri(self, tls=False):
        if tls:
            return "ldaps://127.0.0.1:%d/" % self.tls_port
        return "ldap://127.0.0.1:%d/" % self.port

    def start(self, timeout=20):
        urls = self.uri()
        if self.tls_port:
            urls += " " + self.uri(tls=True)
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([SLAPD, "-h", urls, "-f", self.conf,
                                      "-d", "0"], stdout=logf,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        logf.close()
        harness.wait_for(self.ready, timeout,
                         lambda: "slapd on port %d (log: %s)"
                         % (self.port, self.log_tail()))
        return self

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("slapd exited (%d): %s"
                                 % (self.proc.returncode, self.log_tail()))
        p = subprocess.run(["ldapsearch", "-x", "-LLL", "-o", "nettimeout=2",
                            "-H", self.uri(), "-b", "", "-s", "base",
                            "(objectClass=*)", "1.1"],
                           capture_output=True, timeout=10)
        return p.returncode == 0

    def modify(self, ldif):
        """ldapmodify as the root DN."""
        p = subprocess.run(["ldapmodify", "-x", "-H", self.uri(), "-D",
                            "cn=admin," + SUFFIX, "-w", "admin-Pw.3"],
                           input=ldif.encode(), capture_output=True,
                           timeout=30)
        if p.returncode != 0:
            raise AssertionError("ldapmodify: %s" % p.stderr.decode())

    def log_tail(self, n=8):
        return harness.tail_file(self.log_path, n)

    def stop(self):
        """SIGTERM (slapd's clean shutdown) by PID; waits for the exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.resume()
        harness.stop_proc(self.proc, signal.SIGTERM)

    def pause(self):
        """SIGSTOP, then a wait until every thread of slapd is stopped
        (kill() returns before the stop takes effect: under load a
        thread that is running can still answer one more request)."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True
        harness.wait_for(self.all_threads_stopped, 10,
                         "slapd's threads stopped after SIGSTOP")

    def all_threads_stopped(self):
        task_dir = "/proc/%d/task" % self.proc.pid
        for tid in os.listdir(task_dir):
            try:
                with open(os.path.join(task_dir, tid, "stat")) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except FileNotFoundError:
                continue        # a thread that just ended
            if state not in ("T", "t"):
                return False
        return True

    def resume(self):
        if self.paused and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False
