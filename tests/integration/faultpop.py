"""faultpop: a scriptable POP3 server for testing clients against faults
(satchel fetch, tests/integration/test_fetch_faults.py).

It runs in a thread of the test, on 127.0.0.1 and a port the OS picks,
one connection at a time. Its mailbox lives across connections: DELE
marks, and only a QUIT that gets its +OK removes (RFC 1939 6.), so a
client killed or cut off before that leaves the mail there. What it got
is in `commands` ((connection, line) pairs).

Faults, all optional:
  kill_at=("RETR", n)  SIGKILL client_pid when the n-th such command
                       arrives, before answering it ("QUIT", 1) too
  update_before_kill   ... but for QUIT, do the deletions first
  pipelining=False     no PIPELINING: the client sends RETR n+1 only
                       after it stored message n (kills land after it)
  drop_after=N         close once N octets were sent on a connection
  greeting=...         a greeting line of its own (b"...")
  stat=...             a STAT reply of its own
  login_error=...      the reply to PASS (b"-ERR [IN-USE] ...")
  uidls=[...]          the UIDL listing's ids (bytes), not the real ones
  no_terminator=True   RETR bodies end without the ".", then close
  trickle=secs         every reply octet by octet, secs apart
  stls_inject=True     offer STLS and answer it "+OK" plus more bytes
  hold=("RETR", n)     the n-th such command waits for `release` (an
                       Event, set by the test; 30 s at most) before its
                       answer; `held` is set once it waits
  envelopes={n: (sender, rcpt)}  SDPS: "*ENV n" answers them (bytes;
                       b"" for the null sender), -ERR for the others
  login_delay=n        "LOGIN-DELAY n" in CAPA (RFC 2449 6.8; only said,
                       not enforced: logins come in whenever they like)

When each connection was accepted (time.time()) is in `conn_times`.
"""
import os
import signal
import socket
import threading
import time


class FaultPop:
    def __init__(self, messages, password="pw", user="u", **faults):
        self.messages = list(messages)     # bytes, LF line ends
        self.user, self.password = user, password
        self.faults = faults
        self.commands = []
        self.client_pid = None
        self.counts = {}
        self.conn_no = 0
        self.conn_times = []
        self.held = threading.Event()
        self.release = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def url(self, auth=""):
        return "pop://%s%s@127.0.0.1:%d" % (self.user, auth, self.port)

    def stop(self):
        self.stopping = True
        self.release.set()
        try:
            socket.create_connection(("127.0.0.1", self.port), 2).close()
        except OSError:
            pass
        self.thread.join(10)
        self.sock.close()

    # ------------------------------------------------------------ serving
    def serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.stopping:
                c.close()
                return
            self.conn_no += 1
            self.conn_times.append(time.time())
            c.settimeout(20)
            try:
                Session(self, c).run()
            except (OSError, ConnectionError, _Dropped):
                pass
            finally:
                c.close()


class _Dropped(Exception):
    pass


def stuff(data):
    out = []
    for line in data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"):
        out.append((b"." + line if line.startswith(b".") else line) + b"\r\n")
    return b"".join(out)


class Session:
    def __init__(self, srv, c):
        self.srv, self.c = srv, c
        self.f = srv.faults
        self.sent = 0
        self.buf = b""
        self.deleted = set()
        self.authed = False

    def send(self, data):
        limit = self.f.get("drop_after")
        trickle = self.f.get("trickle")
        if limit is not None and self.sent + len(data) > limit:
            self.c.sendall(data[:max(0, limit - self.sent)])
            self.sent = limit
            raise _Dropped()
        if trickle:
            for i in range(len(data)):
                self.c.sendall(data[i:i + 1])
                time.sleep(trickle)
        else:
            self.c.sendall(data)
        self.sent += len(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.c.recv(4096)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def live(self):
        return [i for i in range(len(self.srv.messages))
                if self.srv.messages[i] is not None]

    def msg(self, arg):
        try:
            n = int(arg)
        except ValueError:
            return None
        if 1 <= n <= len(self.srv.messages) and \
                self.srv.messages[n - 1] is not None and n not in self.deleted:
            return n
        return None

    def uidl_of(self, n):
        uidls = self.f.get("uidls")
        if uidls:
            return uidls[n - 1]
        return b"uid-%d" % n

    def run(self):
        srv = self.srv
        self.send(self.f.get("greeting", b"+OK faultpop ready <1.2@faultpop>") + b"\r\n")
        while True:
            line = self.line()
            srv.commands.append((srv.conn_no, line))
            word = line.split(b" ")[0].upper().decode("ascii", "replace")
            arg = line[len(word) + 1:]
            srv.counts[word] = srv.counts.get(word, 0) + 1
            kill = self.f.get("kill_at")
            if kill and kill[0] == word and kill[1] == srv.counts[word] \
                    and srv.client_pid:
                if word == "QUIT" and self.f.get("update_before_kill"):
                    for n in self.deleted:  # the server did its UPDATE
                        srv.messages[n - 1] = None
                os.kill(srv.client_pid, signal.SIGKILL)
                return
            hold = self.f.get("hold")
            if hold and hold[0] == word and hold[1] == srv.counts[word]:
                srv.held.set()
                srv.release.wait(30)
            if not self.command(word, arg):
                return

    def command(self, word, arg):
        srv, f = self.srv, self.f
        if word == "CAPA":
            caps = [b"USER", b"UIDL", b"TOP", b"RESP-CODES"]
            if f.get("pipelining", True):
                caps.append(b"PIPELINING")
            if f.get("stls_inject"):
                caps.append(b"STLS")
            if f.get("login_delay") is not None:
                caps.append(b"LOGIN-DELAY %d" % f["login_delay"])
            self.send(b"+OK\r\n" + b"".join(c + b"\r\n" for c in caps) + b".\r\n")
        elif word == "STLS" and f.get("stls_inject"):
            self.send(b"+OK begin TLS\r\n-ERR injected before TLS\r\n")
        elif word == "USER":
            self.send(b"+OK\r\n")
        elif word == "PASS":
            if f.get("login_error"):
                self.send(f["login_error"] + b"\r\n")
            elif arg.decode() == srv.password:
                self.authed = True
                self.send(b"+OK logged in\r\n")
            else:
                self.send(b"-ERR [AUTH] wrong\r\n")
        elif word == "STAT":
            live = [n + 1 for n in self.live() if n + 1 not in self.deleted]
            size = sum(len(stuff(srv.messages[n - 1])) for n in live)
            self.send(f.get("stat", b"+OK %d %d" % (len(srv.messages), size)) + b"\r\n")
        elif word in ("UIDL", "LIST") and not arg:
            out = b"+OK\r\n"
            for i in self.live():
                n = i + 1
                if n in self.deleted:
                    continue
                val = self.uidl_of(n) if word == "UIDL" else b"%d" % len(stuff(srv.messages[i]))
                out += b"%d %s\r\n" % (n, val)
            self.send(out + b".\r\n")
        elif word == "RETR":
            n = self.msg(arg)
            if n is None:
                self.send(b"-ERR no such message\r\n")
            elif f.get("no_terminator"):
                self.send(b"+OK\r\n" + stuff(srv.messages[n - 1]))
                raise _Dropped()
            else:
                self.send(b"+OK\r\n" + stuff(srv.messages[n - 1]) + b".\r\n")
        elif word == "DELE":
            n = self.msg(arg)
            if n is None:
                self.send(b"-ERR no such message\r\n")
            else:
                self.deleted.add(n)
                self.send(b"+OK deleted\r\n")
        elif word == "TOP":
            parts = arg.split(b" ")
            n = self.msg(parts[0]) if len(parts) == 2 and parts[1] == b"0" else None
            if n is None:
                self.send(b"-ERR no such message\r\n")
            else:
                data = srv.messages[n - 1]
                head = data.split(b"\n\n", 1)[0] + b"\n\n" if b"\n\n" in data else data
                self.send(b"+OK\r\n" + stuff(head) + b".\r\n")
        elif word == "*ENV" and f.get("envelopes") is not None:
            n = self.msg(arg)
            env = f["envelopes"].get(n) if n else None
            if env is None:
                self.send(b"-ERR no envelope\r\n")
            else:
                self.send(b"+OK\r\nignored-1\r\nignored-2\r\n%s\r\n%s\r\n.\r\n" % env)
        elif word == "NOOP":
            self.send(b"+OK\r\n")
        elif word == "QUIT":
            for n in self.deleted:
                srv.messages[n - 1] = None
            self.send(b"+OK bye\r\n")
            return False
        else:
            self.send(b"-ERR unknown command\r\n")
        return True
