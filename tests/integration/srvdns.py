"""srvdns: a tiny scriptable DNS server, and a way to run a command that
sees only it (tests/integration/test_fetch_configure.py).

satchel's resolver reads /etc/resolv.conf, which the tests must not
change. So run() starts this file under `unshare --mount --net` (root):
in the new namespaces it brings up lo, bind-mounts a resolv.conf saying
"nameserver 127.0.0.1" over /etc/resolv.conf (private to that mount
namespace: the system's file is never touched), answers DNS on
127.0.0.1:53 (UDP) from a thread, runs the command, and writes what
happened to a JSON file: exit status, stdout, stderr, and every query
seen as [name, type].

The zone is a dict of lower-case names; a name not in it is NXDOMAIN:

  {"srv": [[priority, weight, port, "target"], ...]}   SRV answers ("."
                                                       is the root)
  {"cname": "name"}          a CNAME, then the SRV records of its target
  {"rcode": "SERVFAIL"}      that rcode (also REFUSED, NXDOMAIN, ...)
  {"drop": True}             no answer at all (a timeout)
  {"short_rdata": True}      one SRV record whose RDATA is 3 octets
  {"long_rdata": True}       one SRV record with junk after its target
  {"foreign": [[p, w, port, "target"], ...]}   SRV records owned by
                             another name, after the answer's own

A target's labels may hold any octet (latin-1), dots excepted: hostile
names for the client to escape.

Standard library only.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3,
          "NOTIMP": 4, "REFUSED": 5}
T_CNAME, T_SRV, C_IN = 5, 33, 1


def encode_name(name):
    """Wire form of a name (no compression); "." or "" is the root."""
    out = b""
    for label in name.strip(".").split(".") if name.strip(".") else []:
        raw = label.encode("latin-1")
        assert 0 < len(raw) < 64, "label length"
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def parse_query(data):
    """(id, flags, name, type, question octets), or None."""
    if len(data) < 12:
        return None
    qid, flags, qd = struct.unpack(">HHH", data[:6])
    if qd != 1 or flags & 0x8000:
        return None
    i, labels = 12, []
    while i < len(data):
        n = data[i]
        i += 1
        if n == 0:
            break
        if n & 0xC0 or i + n > len(data):
            return None
        labels.append(data[i:i + n].decode("latin-1"))
        i += n
    if i + 4 > len(data):
        return None
    qtype, _ = struct.unpack(">HH", data[i:i + 4])
    return qid, flags, ".".join(labels).lower(), qtype, data[12:i + 4]


def srv_rr(owner, prio, weight, port, target):
    rdata = struct.pack(">HHH", prio, weight, port) + encode_name(target)
    return owner + struct.pack(">HHIH", T_SRV, C_IN, 300, len(rdata)) + rdata


def respond(zone, data):
    """The answer to one query (bytes), or None to stay silent."""
    q = parse_query(data)
    if q is None:
        return None
    qid, flags, name, qtype, question = q
    entry = zone.get(name)
    rrs = []
    if entry is None:
        rcode = RCODES["NXDOMAIN"]
    elif entry.get("drop"):
        return None
    else:
        rcode = RCODES[entry.get("rcode", "NOERROR")]
    if rcode == 0 and qtype == T_SRV:
        owner = b"\xc0\x0c"         # the question's name
        if "cname" in entry:
            target = entry["cname"]
            rdata = encode_name(target)
            rrs.append(owner + struct.pack(">HHIH", T_CNAME, C_IN, 300,
                                           len(rdata)) + rdata)
            owner = encode_name(target)
            entry = zone.get(target.lower(), {})
        for prio, weight, port, tgt in entry.get("srv", []):
            rrs.append(srv_rr(owner, prio, weight, port, tgt))
        if entry.get("short_rdata"):
            rrs.append(owner + struct.pack(">HHIH", T_SRV, C_IN, 300, 3) +
                       b"\x00\x0a\x00")
        if entry.get("long_rdata"):
            rr = srv_rr(owner, 0, 0, 995, "pop.example.test")
            # RDLENGTH counts the junk too
            rdlen = struct.unpack(">H", rr[len(owner) + 8:len(owner) + 10])[0]
            rrs.append(rr[:len(owner) + 8] + struct.pack(">H", rdlen + 4) +
                       rr[len(owner) + 10:] + b"junk")
        for prio, weight, port, tgt in entry.get("foreign", []):
            rrs.append(srv_rr(encode_name("other.invalid"), prio, weight,
                              port, tgt))
    # QR, the query's opcode and RD, RA
    hflags = 0x8000 | (flags & 0x7900) | 0x0080 | rcode
    return struct.pack(">HHHHHH", qid, hflags, 1, len(rrs), 0, 0) + \
        question + b"".join(rrs)


class Responder:
    """Answers on 127.0.0.1:53 (UDP) from a thread; queries in .queries."""

    def __init__(self, zone):
        self.zone = zone
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            q = parse_query(data)
            if q is not None:
                self.queries.append([q[2], q[3]])
            answer = respond(self.zone, data)
            if answer is not None:
                self.sock.sendto(answer, peer)


def inside(spec_path):
    """The namespace side: set up, serve, run, report."""
    with open(spec_path) as f:
        spec = json.load(f)
    # never touch the system's resolv.conf: only in namespaces of our own
    for ns in ("mnt", "net"):
        if os.readlink("/proc/self/ns/" + ns) == spec["outer_ns"][ns]:
            sys.exit("srvdns: not in a %s namespace of its own" % ns)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    resolv = os.path.join(spec["dir"], "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions %s\n" % spec["options"])
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)
    dns = Responder(spec["zone"])
    t0 = time.monotonic()
    p = subprocess.run(spec["argv"], capture_output=True, env=spec["env"],
                       timeout=60)
    result = {"rc": p.returncode,
              "stdout": p.stdout.decode("latin-1"),
              "stderr": p.stderr.decode("latin-1"),
              "seconds": time.monotonic() - t0,
              "queries": dns.queries}
    with open(spec["result"], "w") as f:
        json.dump(result, f)


def run(tmp, zone, argv, env, options="timeout:1 attempts:1"):
    """Runs argv under unshare against zone; the result dict of inside()."""
    d = os.path.join(tmp, "srvdns-%d" % time.monotonic_ns())
    os.makedirs(d)
    spec = {"dir": d, "zone": {k.lower(): v for k, v in zone.items()},
            "argv": argv, "env": env, "options": options,
            "result": os.path.join(d, "result.json"),
            "outer_ns": {ns: os.readlink("/proc/self/ns/" + ns)
                         for ns in ("mnt", "net")}}
    spec_path = os.path.join(d, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    p = subprocess.run(["unshare", "--mount", "--net", sys.executable,
                        os.path.join(HERE, "srvdns.py"), spec_path],
                       capture_output=True, text=True, timeout=90)
    if p.returncode != 0 or not os.path.exists(spec["result"]):
        raise AssertionError("srvdns under unshare failed (%d): %s"
                             % (p.returncode, p.stderr.strip()[-500:]))
    with open(spec["result"]) as f:
        return json.load(f)


if __name__ == "__main__":
    inside(sys.argv[1])
