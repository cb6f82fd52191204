"""Helpers for the metrics endpoint tests (test_metrics, test_control):
a scrape parsed with prometheus_client's own text parser (Debian's
python3-prometheus-client), a raw HTTP exchange, and a POP3 client that
counts every octet the server sent it."""

import socket
import time

from harness import Pop, check, free_port

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # make deps installs python3-prometheus-client
    text_string_to_metric_families = None


def metrics_server(ctx, **kw):
    """A server with metrics_listen on a port of our block."""
    port = free_port()
    config = dict(kw.pop("config", {}) or {})
    config["metrics_listen"] = "127.0.0.1:%d" % port
    srv = ctx.server(config=config, **kw)
    srv.metrics_port = port
    return srv


def http(port, request, timeout=5.0):
    """Sends request (bytes), reads to EOF: (status code, headers dict
    with lower-case names, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout)
    try:
        s.settimeout(timeout)
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, sep, body = data.partition(b"\r\n\r\n")
    check(sep, "no end of the response head in %r" % data[:200])
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    check(len(parts) >= 2 and parts[0] in ("HTTP/1.1", "HTTP/1.0"),
          "bad status line %r" % lines[0])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        check(int(headers["content-length"]) == len(body),
              "Content-Length %s but %d octets" % (headers["content-length"], len(body)))
    return int(parts[1]), headers, body


def scrape(port):
    """{(sample name, frozenset of label items): value} of GET /metrics,
    through prometheus_client's parser (which raises on bad syntax)."""
    if text_string_to_metric_families is None:
        raise AssertionError("python3-prometheus-client is missing (make deps)")
    code, headers, body = http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    check(code == 200, "GET /metrics answered %d" % code)
    check(headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
          "Content-Type %r" % headers.get("content-type"))
    out = {}
    for fam in text_string_to_metric_families(body.decode("utf-8")):
        check(fam.name.startswith("satchel_"), "metric %s not satchel_" % fam.name)
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples, name, **labels):
    key = (name, frozenset(labels.items()))
    check(key in samples, "no sample %s%s" % (name, labels or ""))
    return samples[key]


def wait_value(port, name, want, timeout=5.0, **labels):
    """Scrapes until name{labels} == want (a gauge settling after the
    clients left), or fails with what it last was."""
    deadline = time.monotonic() + timeout
    while True:
        got = value(scrape(port), name, **labels)
        if got == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError("%s%s is %s after %.0fs, want %s"
                                 % (name, labels or "", got, timeout, want))
        time.sleep(0.05)


class CountingPop(Pop):
    """A Pop that adds every received octet to a shared total."""

    def __init__(self, port, total, **kw):
        self.total = total
        super().__init__(port, **kw)

    def _fill(self):
        before = len(self.buf)
        try:
            super()._fill()
        finally:
            self.total[0] += len(self.buf) - before
