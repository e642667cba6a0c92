# SPDX-License-Identifier: MIT
# test_sink.py - checks the benchmark sink: HTTP framing, routes, and its
# record count against Python's json module on random (and broken) bodies.
#
#   SINK=build/bench/sink python3 -m unittest tests/bench/test_sink.py
#   SINK_FUZZ_N=20000 ... for a longer random run (default 3000)
#
# Standard library only.  The sink binds 127.0.0.1; every wait is bounded.

import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SINK = os.environ.get("SINK", os.path.join(HERE, "..", "..", "build", "bench", "sink"))
CT = "application/vnd.kafka.json.v2+json"
TOP_FIELDS = {"records", "key_schema", "key_schema_id", "value_schema", "value_schema_id"}
RECORD_FIELDS = {"key", "value", "partition"}


class Pairs:
    """A JSON object as its list of (name, value) pairs, duplicates kept."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __iter__(self):
        return iter(self.pairs)


def _reject_constant(name):
    raise ValueError("not JSON: " + name)


def oracle(body):
    """(status, record count) the sink must answer for body (bytes)."""
    if not body:
        return 422, None
    try:
        doc = json.loads(body.decode("utf-8"), object_pairs_hook=Pairs,
                         parse_constant=_reject_constant)
    except ValueError:
        return 400, None
    if not isinstance(doc, Pairs):
        return 400, None
    bad = unknown = False
    last = None
    for name, value in doc:
        if name == "records":
            last = value
            if isinstance(value, list):
                for rec in value:
                    if not isinstance(rec, Pairs):
                        bad = True
                    elif any(k not in RECORD_FIELDS for k, _ in rec):
                        unknown = True
            elif value is not None:
                bad = True
        elif name not in TOP_FIELDS:
            unknown = True
    if bad:
        return 400, None
    if unknown or not isinstance(last, list) or not last:
        return 422, None
    return 200, len(last)


# ---------------------------------------------------------------- random JSON

WORDS = ["records", "value", "key", "partition", "a", "", "]", "}", "{", "[",
         "\"", "\\", ",", ":", "réunion", "Zoë", "\U0001F600", "\u2028", "日本",
         "key_schema", "value_schema_id", "headers", "recordss", "record"]


def rand_ws(r):
    return "".join(r.choice(" \t\r\n") for _ in range(r.choice([0, 0, 0, 1, 2])))


def rand_str(r, s=None):
    """s serialized as a JSON string, with random escaping."""
    if s is None:
        s = "".join(r.choice(WORDS + [chr(r.randrange(0x20, 0x7f)), chr(r.randrange(0, 0x20))])
                    for _ in range(r.randrange(0, 4)))
    out = []
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\" or o < 0x20 or r.random() < 0.05:
            if o > 0xFFFF:
                v = o - 0x10000
                out.append("\\u%04x\\u%04X" % (0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)))
            elif ch in '"\\' and r.random() < 0.5:
                out.append("\\" + ch)
            elif ch == "/" and r.random() < 0.5:
                out.append("\\/")
            else:
                out.append(r.choice(["\\u%04x", "\\u%04X"]) % o)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def rand_number(r):
    return r.choice(["0", "-0", "1", "-12", "3.25", "1e5", "-2.5E-3", "1E+2",
                     "123456789012345678901234567890", "0.000", "9" * 40,
                     str(r.randrange(-10**9, 10**9)), repr(r.random() * 1e10)])


def rand_value(r, depth):
    k = r.randrange(0, 10 if depth < 5 else 6)
    if k == 0:
        return rand_number(r)
    if k == 1:
        return r.choice(["true", "false", "null"])
    if k < 6:
        return rand_str(r)
    if k < 8:
        items = [rand_value(r, depth + 1) for _ in range(r.randrange(0, 4))]
        return "[" + rand_ws(r) + ("," + rand_ws(r)).join(items) + rand_ws(r) + "]"
    fields = [rand_str(r, r.choice(WORDS)) + rand_ws(r) + ":" + rand_ws(r) + rand_value(r, depth + 1)
              for _ in range(r.randrange(0, 4))]
    return "{" + rand_ws(r) + ("," + rand_ws(r)).join(fields) + rand_ws(r) + "}"


def rand_record(r):
    if r.random() < 0.03:
        return rand_value(r, 2)  # often not an object: 400
    names = ["value"] if r.random() < 0.7 else r.sample(["key", "value", "partition"], r.randrange(0, 3))
    if r.random() < 0.03:
        names.append(r.choice(["headers", "timestamp", "Value"]))
    fields = []
    for n in names:
        v = str(r.randrange(0, 5)) if n == "partition" else rand_value(r, 3)
        fields.append(rand_str(r, n) + rand_ws(r) + ":" + rand_ws(r) + v)
    return "{" + rand_ws(r) + ("," + rand_ws(r)).join(fields) + rand_ws(r) + "}"


def rand_body(r):
    fields = []
    nrec = r.choice([0, 1, 1, 2, 3, 5, 20, r.randrange(0, 300)])
    recs = "[" + rand_ws(r) + ("," + rand_ws(r)).join(rand_record(r) for _ in range(nrec)) + rand_ws(r) + "]"
    if r.random() < 0.03:
        recs = r.choice(["null", "{}", "1", '"x"', "true"])
    fields.append(rand_str(r, "records") + rand_ws(r) + ":" + rand_ws(r) + recs)
    for _ in range(r.choice([0, 0, 0, 1, 2])):
        name = r.choice(["key_schema", "value_schema_id", "records", "x", "recordz"])
        val = rand_value(r, 1) if name != "records" else \
            "[" + ",".join(rand_record(r) for _ in range(r.randrange(0, 3))) + "]"
        fields.append(rand_str(r, name) + ":" + val)
    r.shuffle(fields)
    body = rand_ws(r) + "{" + rand_ws(r) + ("," + rand_ws(r)).join(fields) + rand_ws(r) + "}" + rand_ws(r)
    if r.random() < 0.02:
        body = rand_value(r, 0)  # not an object at top level
    return body.encode("utf-8", "surrogatepass")


def mutate(r, b):
    """A random small corruption (the result may still be valid JSON)."""
    b = bytearray(b)
    k = r.randrange(0, 7)
    i = r.randrange(0, len(b) + 1)
    if k == 0 and b:
        del b[min(i, len(b) - 1)]
    elif k == 1:
        b[i:i] = r.choice([b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"x", b"\x00", b"1", b"-"])
    elif k == 2:
        b = b[:i]
    elif k == 3:
        b[i:i] = r.choice([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80",
                           b"\x80", b"\xef\xbb\xbf", b"\xf0\x9f\x98\x80"])
    elif k == 4:
        b += r.choice([b"x", b"{}", b" ", b"\n", b"0"])
    elif k == 5 and b:
        j = min(i, len(b) - 1)
        b[j] = r.randrange(0, 256)
    else:
        b[i:i] = r.choice([b"NaN", b"01", b"1.", b".5", b"1e", b"tru", b"nul", b"\\u12G4", b"\t"])
    return bytes(b)


# ---------------------------------------------------------------- HTTP helpers

def read_response(sock, buf=b""):
    """(status, headers dict, body, rest of the buffer); bounded by timeouts."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response head")
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if status == 100:
        return read_response(sock, buf)
    n = int(headers.get("content-length", "0"))
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a response body")
        buf += chunk
    return status, headers, buf[:n], buf[n:]


def request_bytes(method, path, body=None, chunked=False, headers=()):
    h = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    h += list(headers)
    if body is not None:
        if chunked:
            h.append("Transfer-Encoding: chunked")
        else:
            h.append("Content-Length: %d" % len(body))
    out = ("\r\n".join(h) + "\r\n\r\n").encode()
    if body is not None and chunked:
        pos = 0
        r = random.Random(len(body))
        while pos < len(body):
            n = r.randrange(1, 4000)
            part = body[pos:pos + n]
            out += b"%x%s\r\n" % (len(part), b";ext=1" if r.random() < 0.1 else b"") + part + b"\r\n"
            pos += n
        out += b"0\r\nX-Trailer: 1\r\n\r\n" if r.random() < 0.3 else b"0\r\n\r\n"
    elif body is not None:
        out += body
    return out


NO_SINK = "no sink binary at %s (make -f Makefile -f tests/bench/bench.mk build/bench/sink)" % SINK


@unittest.skipUnless(os.access(SINK, os.X_OK), NO_SINK)
def wait_port(port_file):
    """The port a starting sink wrote to port_file (waits at most 2 s)."""
    for _ in range(200):
        if os.path.exists(port_file):
            break
        time.sleep(0.01)
    with open(port_file) as f:
        return int(f.read())


class SinkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.port_file = os.path.join(cls.tmp.name, "port")
        cls.stats_file = os.path.join(cls.tmp.name, "stats.json")
        cls.proc = subprocess.Popen([SINK, "--port-file", cls.port_file,
                                     "--stats", cls.stats_file, "--max-body", "10000000"])
        cls.port = wait_port(cls.port_file)

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.kill()
            cls.proc.wait(timeout=10)
        cls.tmp.cleanup()

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stats(self):
        with self.connect() as s:
            s.sendall(request_bytes("GET", "/_stats"))
            status, _, body, _ = read_response(s)
        self.assertEqual(status, 200)
        return json.loads(body)

    def produce(self, sock, body, topic="t", chunked=False, ctype=CT, split=None):
        req = request_bytes("POST", "/x/topics/" + topic, body, chunked,
                            ["Content-Type: " + ctype])
        if split:  # send in pieces so the sink sees the body in parts
            for i in range(0, len(req), split):
                sock.sendall(req[i:i + split])
                if i % (split * 64) == 0:
                    time.sleep(0.0002)
        else:
            sock.sendall(req)
        status, headers, resp, rest = read_response(sock)
        self.assertEqual(rest, b"")
        return status, headers, resp

    def test_random_bodies_match_python_json(self):
        r = random.Random(int(os.environ.get("SINK_FUZZ_SEED", "1")))
        n = int(os.environ.get("SINK_FUZZ_N", "3000"))
        seen = {200: 0, 400: 0, 422: 0}
        offsets = {}
        sock = self.connect()
        try:
            for i in range(n):
                body = rand_body(r)
                if r.random() < 0.35:
                    body = mutate(r, body)
                want, count = oracle(body)
                topic = "fz%d" % r.randrange(0, 3)
                split = r.choice([None, None, None, 1, 7, 100, 1000])
                if split == 1 and len(body) > 300:
                    split = 7  # byte by byte only for short bodies (slow)
                status, _, resp = self.produce(sock, body, topic, chunked=r.random() < 0.3,
                                               split=split)
                self.assertEqual(status, want, "case %d body %r" % (i, body[:300]))
                seen[want] += 1
                if want == 200:
                    got = json.loads(resp)
                    self.assertEqual(len(got["offsets"]), count)
                    first = offsets.get(topic, 0)
                    self.assertEqual([o["offset"] for o in got["offsets"]],
                                     list(range(first, first + count)))
                    self.assertTrue(all(o["error_code"] is None and o["partition"] == 0
                                        for o in got["offsets"]))
                    offsets[topic] = first + count
        finally:
            sock.close()
        # the generator must exercise every outcome
        self.assertTrue(all(v > n // 50 for v in seen.values()), seen)

    def test_routes_and_statuses(self):
        with self.connect() as s:
            for req, want, body in [
                (request_bytes("GET", "/bench/topics"), 200, b"[]"),
                (request_bytes("GET", "/"), 200, b"{}"),
                (request_bytes("GET", "/nope"), 404, None),
                (request_bytes("GET", "/b/topics/t"), 405, None),
                (request_bytes("POST", "/b/topics/bad%20name", b"{}", headers=["Content-Type: " + CT]), 404, None),
                (request_bytes("POST", "/b/topics/t", b'{"records":[{"value":1}]}',
                               headers=["Content-Type: application/json"]), 415, None),
                (request_bytes("POST", "/b/topics/t", b'{"records":[{"value":1}]}',
                               headers=["Content-Type: " + CT + "; charset=utf-8"]), 200, None),
                (request_bytes("POST", "/b/topics/t", b"", headers=["Content-Type: " + CT]), 422, None),
            ]:
                s.sendall(req)
                status, _, resp, rest = read_response(s)
                self.assertEqual((status, rest), (want, b""), req)
                if body is not None:
                    self.assertEqual(resp, body)

    def test_pipelined_and_expect_continue(self):
        one = b'{"records":[{"value":{"a":"b"}}]}'
        two = b'{"records":[{"value":1},{"value":2}]}'
        with self.connect() as s:
            s.sendall(request_bytes("POST", "/p/topics/pl", one, headers=["Content-Type: " + CT]) +
                      request_bytes("POST", "/p/topics/pl", two, True, ["Content-Type: " + CT]) +
                      request_bytes("GET", "/p/topics"))
            buf = b""
            got = []
            for _ in range(3):
                status, _, resp, buf = read_response(s, buf)
                got.append((status, resp))
            self.assertEqual([g[0] for g in got], [200, 200, 200])
            self.assertEqual(len(json.loads(got[1][1])["offsets"]), 2)
            # Expect: 100-continue: the interim answer comes before the body is sent
            head = request_bytes("POST", "/p/topics/pl", one,
                                 headers=["Content-Type: " + CT, "Expect: 100-continue"])
            cut = head.index(b"\r\n\r\n") + 4
            s.sendall(head[:cut])
            interim = s.recv(64)
            self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim)
            s.sendall(head[cut:])
            status, _, resp, _ = read_response(s, interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):])
            self.assertEqual(status, 200)

    def test_connection_close_and_http10(self):
        for extra, version in [(["Connection: close"], "1.1"), ([], "1.0")]:
            with self.connect() as s:
                req = request_bytes("GET", "/_stats", headers=extra).replace(b"HTTP/1.1", b"HTTP/" + version.encode(), 1)
                s.sendall(req)
                status, headers, _, rest = read_response(s)
                self.assertEqual(status, 200)
                self.assertEqual(headers.get("connection"), "close")
                self.assertEqual(rest + s.recv(10), b"")  # the sink closed

    def test_bad_framing_closes(self):
        for req, want in [(b"GARBAGE\r\n\r\n", 400),
                          (b"POST /t/topics/t HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
                          (b"POST /t/topics/t HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
                          (b"POST /t/topics/t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                           b"Content-Type: " + CT.encode() + b"\r\n\r\nzz\r\n", 400),
                          (b"GET / HTTP/1.1\r\nX: " + b"a" * 300000 + b"\r\n\r\n", 431)]:
            with self.connect() as s:
                try:
                    s.sendall(req)
                except OSError:
                    pass  # the sink may close while we still send
                status, _, _, _ = read_response(s)
                self.assertEqual(status, want, req[:60])

    def test_counts_and_stats(self):
        before = self.stats()
        body = b'{"records":[' + b",".join(b'{"value":{"i":%d}}' % i for i in range(500)) + b"]}"
        with self.connect() as s:
            for _ in range(4):
                status, _, resp = self.produce(s, body, "cnt")
                self.assertEqual(status, 200)
        after = self.stats()
        self.assertEqual(after["records"] - before["records"], 2000)
        self.assertEqual(after["requests"] - before["requests"], 4)
        self.assertEqual(after["bytes"] - before["bytes"], 4 * len(body))
        self.assertEqual(after["by_topic"]["cnt"], {"requests": 4, "records": 2000})


@unittest.skipUnless(os.access(SINK, os.X_OK), NO_SINK)
class DelayTest(unittest.TestCase):
    """--delay-ms: each produce answer waits that long; connections wait
    side by side, not one after another; every record is counted."""

    def test_answers_held_in_parallel(self):
        with tempfile.TemporaryDirectory() as tmp:
            port_file = os.path.join(tmp, "port")
            p = subprocess.Popen([SINK, "--port-file", port_file, "--delay-ms", "300"])
            try:
                port = wait_port(port_file)
                socks = [socket.create_connection(("127.0.0.1", port), timeout=10)
                         for _ in range(4)]
                body = b'{"records":[{"value":1},{"value":2}]}'
                t0 = time.monotonic()
                for s in socks:
                    s.sendall(request_bytes("POST", "/topics/d", body,
                                            headers=["Content-Type: " + CT]))
                statuses = [read_response(s)[0] for s in socks]
                elapsed = time.monotonic() - t0
                self.assertEqual(statuses, [200] * 4)
                self.assertGreaterEqual(elapsed, 0.29)
                self.assertLess(elapsed, 1.0)  # not 4 x 300 ms
                # The same connection again: held again (keep-alive).
                t0 = time.monotonic()
                socks[0].sendall(request_bytes("POST", "/topics/d", body,
                                               headers=["Content-Type: " + CT]))
                self.assertEqual(read_response(socks[0])[0], 200)
                self.assertGreaterEqual(time.monotonic() - t0, 0.29)
                socks[1].close()  # a client gone: the sink goes on
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(request_bytes("GET", "/_stats"))
                    st = json.loads(read_response(s)[2])
                self.assertEqual((st["requests"], st["records"]), (5, 10))
                for s in socks:
                    s.close()
            finally:
                p.kill()
                p.wait(timeout=10)

    def test_bad_delay_exits_2(self):
        proc = subprocess.run([SINK, "--delay-ms", "-5"], capture_output=True, timeout=10)
        self.assertEqual(proc.returncode, 2)


@unittest.skipUnless(os.access(SINK, os.X_OK), NO_SINK)
class ShutdownTest(unittest.TestCase):
    """SIGTERM and SIGINT: the statistics go to --stats and the exit code is 0."""

    def test_signals_write_stats(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with tempfile.TemporaryDirectory() as tmp:
                port_file = os.path.join(tmp, "port")
                stats_file = os.path.join(tmp, "stats.json")
                p = subprocess.Popen([SINK, "--port", "0", "--port-file", port_file,
                                      "--stats", stats_file])
                try:
                    port = wait_port(port_file)
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                        s.sendall(request_bytes("POST", "/topics/sig", b'{"records":[{"value":1},{"value":2}]}',
                                                headers=["Content-Type: " + CT]))
                        self.assertEqual(read_response(s)[0], 200)
                    p.send_signal(sig)
                    self.assertEqual(p.wait(timeout=10), 0)
                finally:
                    if p.poll() is None:
                        p.kill()
                        p.wait(timeout=10)
                with open(stats_file) as f:
                    st = json.load(f)
                self.assertEqual((st["requests"], st["records"]), (1, 2))
                self.assertEqual(st["by_topic"], {"sig": {"requests": 1, "records": 2}})


if __name__ == "__main__":
    unittest.main()
