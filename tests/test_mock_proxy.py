"""Tests for tests/mock_proxy.py (stdlib only).

Run from the project root:  python3 -m unittest tests/test_mock_proxy.py -v
Each test class starts its own mock as a subprocess on port 0 with a temporary store and
stops only that process (by its Popen handle) afterwards.
"""

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK = os.path.join(HERE, "mock_proxy.py")
sys.path.insert(0, HERE)
import mock_proxy  # noqa: E402  (pure helpers only)

JSON_CT = "application/vnd.kafka.json.v2+json"
V2 = "application/vnd.kafka.v2+json"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
TIMEOUT = 10
MKCERTS = os.path.join(HERE, "tls", "mkcerts.sh")


class Mock:
    """One mock_proxy.py subprocess with its own temporary store."""

    def __init__(self, *extra):
        self.dir = tempfile.mkdtemp(prefix="mock_proxy_test.")
        self.store = os.path.join(self.dir, "store")
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "stderr.txt"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, MOCK, "--store", self.store, "--port-file", port_file, "--quiet",
             *extra], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("mock did not start: " + self.stderr())
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read().strip())

    def stderr(self):
        with open(os.path.join(self.dir, "stderr.txt"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)

    def request(self, method, path, body=None, headers=None, conn=None):
        c = conn or self.conn()
        try:
            if isinstance(body, str):
                body = body.encode("utf-8")
            c.request(method, path, body=body, headers=headers or {})
            resp = c.getresponse()
            data = resp.read()
            return resp.status, resp.headers, data
        finally:
            if conn is None:
                c.close()

    def produce(self, topic, body, ctype=JSON_CT, path=None, extra=None):
        headers = {"Accept": V2}
        if ctype is not None:
            headers["Content-Type"] = ctype
        headers.update(extra or {})
        if not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        return self.request("POST", path or "/test/topics/" + topic, body, headers)

    def stored(self, topic):
        path = os.path.join(self.store, "records", topic + ".jsonl")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return f.read().split("\n")[:-1]

    def requests_log(self):
        with open(os.path.join(self.store, "requests.jsonl"), encoding="utf-8") as f:
            return [json.loads(line) for line in f.read().split("\n")[:-1]]

    def set_script(self, actions):
        status, _, data = self.request("POST", "/_mock/script", json.dumps(actions))
        return status, json.loads(data)


class PureHelpersTest(unittest.TestCase):
    def test_murmur2_matches_kafka_vectors(self):
        for text, expected in (("21", -973932308), ("foobar", -790332482), ("abc", 479470107)):
            self.assertEqual(mock_proxy.murmur2(text.encode()), expected & 0xFFFFFFFF)

    def test_dump_keeps_number_text(self):
        src = '{"a":9007199254740993,"b":1.10,"c":1e+100,"d":-0,"e":[true,false,null]}'
        self.assertEqual(mock_proxy.dump(mock_proxy.parse_json(src.encode())), src)


class MockProxyTest(unittest.TestCase):
    TOPICS = ("happy", "keep", "big", "bin", "chunk", "errs", "part", "neg", "meta", "log",
              "charset", "avro", "s_status", "s_gateway", "s_delay", "s_drop_before",
              "s_drop_after", "s_rec", "s_auth", "s_proxy", "s_garbage", "s_short", "s_raw",
              "s_match", "conc")

    @classmethod
    def setUpClass(cls):
        cls.mock = Mock("--base-path", "/test", "--topics", ",".join(cls.TOPICS),
                        "--max-body-bytes", "3000000")

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def setUp(self):
        self.assertEqual(self.mock.set_script([]), (200, {"ok": True}))

    def assertError(self, result, status, code=None, message=None):
        st, headers, data = result
        self.assertEqual(st, status, data)
        self.assertEqual(headers["Content-Type"], V2)
        body = json.loads(data)
        self.assertEqual(body["error_code"], status if code is None else code)
        if message is not None:
            self.assertEqual(body["message"], message)
        return body

    # ---- happy path ----------------------------------------------------------------------
    def test_happy_path_exact_numbers(self):
        value0 = ('{"big":9007199254740993,"dec":1.10,"exp":1e+100,"negz":-0,"neg":-12.50E-3,'
                  '"nested":{"a":[1,2,{"b":null}],"t":true,"f":false}}')
        body = ('{"records":[{"key":"u1","value":%s},'
                '{"key":null,"value":"h\u00e9llo \u2713 \U0001F600 emoji"},'
                r'{"value":"ctl:\u0001\t\n\"q\\ \u2028 end"},'
                '{"key":{"id":42},"value":null,"partition":0}]}' % value0)
        st, headers, data = self.mock.produce("happy", body)
        self.assertEqual(st, 200, data)
        self.assertEqual(headers["Content-Type"], V2)
        self.assertEqual(headers["Content-Length"], str(len(data)))
        resp = json.loads(data)
        self.assertEqual(set(resp), {"offsets", "key_schema_id", "value_schema_id"})
        self.assertIsNone(resp["key_schema_id"])
        self.assertIsNone(resp["value_schema_id"])
        self.assertEqual(resp["offsets"], [{"partition": 0, "offset": i, "error_code": None,
                                            "error": None} for i in range(4)])
        lines = self.mock.stored("happy")
        self.assertEqual(len(lines), 4)
        self.assertEqual(lines[0], '{"topic":"happy","partition":0,"offset":0,"key":"u1","value":%s}'
                         % value0)
        self.assertEqual(json.loads(lines[1])["value"], "h\u00e9llo \u2713 \U0001F600 emoji")
        self.assertIsNone(json.loads(lines[1])["key"])
        self.assertEqual(json.loads(lines[2])["value"], 'ctl:\x01\t\n"q\\ \u2028 end')
        self.assertTrue(all(ord(c) >= 0x20 and c != "\u2028" for c in lines[2]))
        rec3 = json.loads(lines[3])
        self.assertEqual((rec3["key"], rec3["value"], rec3["offset"]), ({"id": 42}, None, 3))
        # offsets continue per partition
        st, _, data = self.mock.produce("happy", {"records": [{"value": 1}]})
        self.assertEqual(json.loads(data)["offsets"][0]["offset"], 4)

    def test_content_type_parameters_ignored(self):
        st, _, data = self.mock.produce("charset", {"records": [{"value": 1}]},
                                        ctype=JSON_CT + "; charset=utf-8")
        self.assertEqual(st, 200, data)
        st, _, data = self.mock.produce("charset", {"records": [{"value": 2}]},
                                        extra={"Accept": "*/*"})
        self.assertEqual(st, 200, data)
        self.assertEqual(len(self.mock.stored("charset")), 2)

    def test_keep_alive(self):
        c = self.mock.conn()
        try:
            st, h1, _ = self.mock.request("POST", "/test/topics/keep", '{"records":[{"value":1}]}',
                                          {"Content-Type": JSON_CT}, conn=c)
            sock = c.sock
            self.assertEqual(st, 200)
            self.assertIsNotNone(sock)
            st, h2, data = self.mock.request("GET", "/test/topics/keep", conn=c)
            self.assertEqual(st, 200)
            self.assertIs(c.sock, sock)
            self.assertEqual(json.loads(data)["name"], "keep")
            self.assertIsNotNone(h1["Content-Length"])
            self.assertIsNotNone(h2["Content-Length"])
        finally:
            c.close()

    def test_concurrent_requests_do_not_interleave(self):
        errors = []

        def worker(n):
            try:
                for i in range(10):
                    recs = [{"value": {"w": n, "i": i, "j": j, "pad": "z" * 2000}} for j in range(5)]
                    if self.mock.produce("conc", {"records": recs})[0] != 200:
                        errors.append((n, i))
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(errors, [])
        recs = [json.loads(line) for line in self.mock.stored("conc")]
        self.assertEqual(sorted(r["offset"] for r in recs), list(range(400)))
        self.assertEqual([r["offset"] for r in recs], list(range(400)))  # acceptance order

    def test_chunked_request_body(self):
        c = self.mock.conn()
        try:
            c.request("POST", "/test/topics/chunk", body=iter([b'{"records":[{"val', b'ue":7}]}']),
                      headers={"Content-Type": JSON_CT}, encode_chunked=True)
            resp = c.getresponse()
            self.assertEqual(resp.status, 200, resp.read())
            resp.read()
        finally:
            c.close()
        self.assertEqual(json.loads(self.mock.stored("chunk")[0])["value"], 7)

    def test_binary_format_and_missing_content_type(self):
        bin_ct = "application/vnd.kafka.binary.v2+json"
        st, _, data = self.mock.produce("bin", {"records": [{"key": "dTE=", "value": "/wBhYmM="}]},
                                        ctype=bin_ct)
        self.assertEqual(st, 200, data)
        rec = json.loads(self.mock.stored("bin")[0])
        self.assertEqual(rec["key"], "u1")
        self.assertEqual(rec["value"].encode("utf-8", "surrogateescape"), b"\xff\x00abc")
        self.assertError(self.mock.produce("bin", {"records": [{"value": "not base64!"}]},
                                           ctype=bin_ct),
                         400, message='Bad Request: data="not base64!" is not a base64 string.')
        # missing Content-Type behaves as binary: a JSON object value is not base64
        self.assertError(self.mock.produce("bin", {"records": [{"value": {"a": 1}}]}, ctype=None), 400)
        self.assertEqual(len(self.mock.stored("bin")), 1)

    def test_schema_format_without_schema(self):
        self.assertError(self.mock.produce("avro", {"records": [{"value": 1}]},
                                           ctype="application/vnd.kafka.avro.v2+json"), 422, 42202)

    # ---- request errors --------------------------------------------------------------------
    def test_unsupported_media_type_415(self):
        for ctype in ("application/json", V2, "application/octet-stream", "text/plain"):
            st, headers, data = self.mock.produce("errs", {"records": [{"value": 1}]}, ctype=ctype)
            self.assertEqual(st, 415, ctype)
            self.assertEqual(json.loads(data),
                             {"error_code": 415, "message": "HTTP 415 Unsupported Media Type"})
            self.assertEqual(headers["Content-Type"], V2)
        self.assertEqual(self.mock.stored("errs"), [])

    def test_not_acceptable_406(self):
        for path, method in (("/test/topics/errs", "POST"), ("/test/", "GET")):
            headers = {"Accept": "application/json"}
            if method == "POST":
                headers["Content-Type"] = JSON_CT
            st, h, data = self.mock.request(method, path, '{"records":[{"value":1}]}'
                                            if method == "POST" else None, headers)
            self.assertEqual((st, data), (406, b""))
            self.assertIsNone(h["Content-Type"])
            self.assertEqual(h["Content-Length"], "0")

    def test_unprocessable_422(self):
        for body in (b"", b"{}", b"null", b'{"records":[]}', b'{"records":null}'):
            self.assertError(self.mock.produce("errs", body), 422)
        for body, field in ((b'{"records":[{"value":1,"headers":[]}]}', "headers"),
                            (b'{"records":[{"value":1,"timestamp":5}]}', "timestamp"),
                            (b'{"records":[{"value":1}],"extra":1}', "extra")):
            self.assertError(self.mock.produce("errs", body), 422,
                             message="Unrecognized field: " + field)
        self.assertEqual(self.mock.stored("errs"), [])

    def test_bad_request_400(self):
        for body in (b"{", b'{"records":[{"value":NaN}]}', b'{"records":[{"value":-Infinity}]}',
                     b'{"records":{}}', b'{"records":[{"value":1,"partition":"0"}]}',
                     b'{"records":[{"value":1,"partition":1.5}]}', b"[1]", b"\xff",
                     b'{"records":[5]}', b'{"records":[{"value":1}],"value_schema_id":"x"}'):
            self.assertError(self.mock.produce("errs", body), 400)
        self.assertEqual(self.mock.stored("errs"), [])

    def test_unknown_topic_50003_per_record(self):
        st, _, data = self.mock.produce("nope", {"records": [{"value": 1}, {"key": "k", "value": 2}]})
        self.assertEqual(st, 200)
        msg = "Topic nope not present in metadata after 60000 ms."
        self.assertEqual(json.loads(data)["offsets"], [
            {"partition": None, "offset": None, "error_code": 50003, "error": msg}] * 2)
        self.assertFalse(os.path.exists(os.path.join(self.mock.store, "records", "nope.jsonl")))

    def test_partition_out_of_range_and_path_partition(self):
        st, _, data = self.mock.produce("part", {"records": [{"value": 1}, {"value": 2, "partition": 0}]},
                                        path="/test/topics/part/partitions/3")
        self.assertEqual(st, 200)
        offsets = json.loads(data)["offsets"]
        self.assertEqual(offsets[0]["error_code"], 50003)
        self.assertEqual(offsets[0]["error"], "Partition 3 of topic part with partition count 1 "
                                              "is not present in metadata after 60000 ms.")
        self.assertEqual(offsets[1], {"partition": 0, "offset": 0, "error_code": None, "error": None})
        self.assertEqual(len(self.mock.stored("part")), 1)

    def test_negative_partition_500(self):
        self.assertError(self.mock.produce("neg", {"records": [{"value": 1, "partition": -1}]}),
                         500, message="Internal Server Error")
        self.assertError(self.mock.produce("neg", {"records": [{"value": 1}]},
                                           path="/test/topics/neg/partitions/-1"), 500)
        self.assertEqual(self.mock.stored("neg"), [])

    def test_record_too_large_50002(self):
        big = {"value": "x" * 1100000}
        st, _, data = self.mock.produce("big", {"records": [big, {"value": "small"}]})
        self.assertEqual(st, 200)
        offsets = json.loads(data)["offsets"]
        self.assertEqual(offsets[0]["error_code"], 50002)
        m = re.fullmatch(r"The message is (\d+) bytes when serialized which is larger than 1048576, "
                         r"which is the value of the max\.request\.size configuration\.",
                         offsets[0]["error"])
        self.assertIsNotNone(m, offsets[0]["error"])
        self.assertGreater(int(m.group(1)), 1100000)
        self.assertEqual(offsets[1]["offset"], 0)
        self.assertEqual([json.loads(x)["value"] for x in self.mock.stored("big")], ["small"])

    def test_body_too_large_413(self):
        st, headers, data = self.mock.produce("big", b'{"records":[{"value":"' + b"y" * 3000000 + b'"}]}')
        self.assertEqual((st, json.loads(data)), (413, {"message": "Request Too Long"}))

    def test_base_path_403(self):
        for method, path in (("GET", "/topics"), ("POST", "/prod/topics/happy"), ("GET", "/testx/topics")):
            st, headers, data = self.mock.request(method, path, b"{}" if method == "POST" else None,
                                                  {"Content-Type": JSON_CT} if method == "POST" else {})
            self.assertEqual(st, 403)
            self.assertEqual(json.loads(data), {"message": "Missing Authentication Token"})
            self.assertEqual(headers["x-amzn-ErrorType"], "MissingAuthenticationTokenException")
            self.assertRegex(headers["x-amzn-RequestId"], UUID_RE)

    def test_get_endpoints(self):
        req = self.mock.request
        self.assertEqual(req("GET", "/test/")[::2], (200, b"{}"))
        st, h, data = req("GET", "/test/topics")
        self.assertEqual((st, h["Content-Type"]), (200, V2))
        self.assertEqual(sorted(json.loads(data)), sorted(self.TOPICS))
        st, _, data = req("GET", "/test/topics/meta")
        self.assertEqual(json.loads(data), {"name": "meta", "configs": {}, "partitions": [
            {"partition": 0, "leader": 1, "replicas": [{"broker": 1, "leader": True, "in_sync": True}]}]})
        self.assertEqual(req("GET", "/test/topics/meta/partitions/0")[0], 200)
        self.assertError(req("GET", "/test/topics/meta/partitions/5"), 404, 40402)
        self.assertError(req("GET", "/test/topics/none"), 404, 40403,
                         "This server does not host this topic-partition.")
        self.assertError(req("DELETE", "/test/topics/meta"), 405)
        self.assertError(req("PUT", "/test/topics", b"{}"), 405)
        self.assertError(req("GET", "/test/nothing"), 404, message="HTTP 404 Not Found")
        self.assertError(req("GET", "/test/topics/meta/partitions/x"), 404)
        st, _, _ = req("GET", "/test/topics", headers={"Content-Type": "application/json"})
        self.assertEqual(st, 415)
        for result in (req("GET", "/test/"), req("GET", "/test/nothing")):
            self.assertRegex(result[1]["x-amzn-RequestId"], UUID_RE)

    def test_requests_log(self):
        body = '{"records":[{"value":1},{"value":2}]}'
        self.mock.produce("log", body)
        entry = [e for e in self.mock.requests_log() if e["topic"] == "log"][-1]
        expected = {"method": "POST", "path": "/test/topics/log", "status": 200, "content_type": JSON_CT,
                    "accept": V2, "body_bytes": len(body), "records": 2, "accepted": 2, "action": None}
        self.assertEqual({k: entry[k] for k in expected}, expected)
        self.assertIsInstance(entry["seq"], int)
        self.assertIsInstance(entry["time"], float)
        st, _, data = self.mock.request("GET", "/_mock/stats")
        stats = json.loads(data)
        self.assertEqual(stats["by_topic"]["log"], 2)
        self.assertGreaterEqual(stats["records"], sum(stats["by_topic"].values()))
        self.assertGreaterEqual(stats["requests"], entry["seq"])

    # ---- script actions ----------------------------------------------------------------------
    def test_script_status(self):
        self.mock.set_script([{"topic": "s_status", "status": 503, "body": "<html>busy</html>",
                               "content_type": "text/html"}])
        st, h, data = self.mock.produce("s_status", {"records": [{"value": 1}]})
        self.assertEqual((st, data, h["Content-Type"]), (503, b"<html>busy</html>", "text/html"))
        self.assertEqual(self.mock.stored("s_status"), [])
        self.assertEqual(self.mock.produce("s_status", {"records": [{"value": 2}]})[0], 200)
        self.assertEqual(len(self.mock.stored("s_status")), 1)

    def test_script_gateway(self):
        self.mock.set_script([{"gateway": "Too Many Requests", "status": 429, "retry_after": "5"},
                              {"gateway": "Forbidden"}])
        st, h, data = self.mock.produce("s_gateway", {"records": [{"value": 1}]})
        self.assertEqual((st, json.loads(data), h["Retry-After"]),
                         (429, {"message": "Too Many Requests"}, "5"))
        st, h, data = self.mock.produce("s_gateway", {"records": [{"value": 1}]})
        self.assertEqual((st, json.loads(data), h["x-amzn-ErrorType"]),
                         (403, {"message": "Forbidden"}, "ForbiddenException"))
        self.assertEqual(self.mock.stored("s_gateway"), [])

    def test_script_delay(self):
        self.mock.set_script([{"delay_ms": 300}])
        t0 = time.monotonic()
        st, _, _ = self.mock.produce("s_delay", {"records": [{"value": 1}]})
        self.assertEqual(st, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)
        self.assertEqual(len(self.mock.stored("s_delay")), 1)

    def test_script_drop_before_and_after(self):
        self.mock.set_script([{"topic": "s_drop_before", "drop": "before"},
                              {"topic": "s_drop_after", "drop": "after"}])
        for topic, stored in (("s_drop_before", 0), ("s_drop_after", 2)):
            with self.assertRaises((http.client.RemoteDisconnected, ConnectionError,
                                    http.client.BadStatusLine)):
                self.mock.produce(topic, {"records": [{"value": 1}, {"value": 2}]})
            self.assertEqual(len(self.mock.stored(topic)), stored)
            entry = [e for e in self.mock.requests_log() if e["topic"] == topic][-1]
            self.assertIsNone(entry["status"])
            self.assertEqual(entry["action"], topic[2:])

    def test_script_record_errors(self):
        self.mock.set_script([{"record_errors": {"0": 50002, "2": 50003}}])
        st, _, data = self.mock.produce("s_rec", {"records": [{"value": i} for i in range(3)]})
        self.assertEqual(st, 200)
        offsets = json.loads(data)["offsets"]
        self.assertEqual([o["error_code"] for o in offsets], [50002, None, 50003])
        self.assertTrue(offsets[0]["error"] and offsets[2]["error"])
        self.assertEqual(offsets[1], {"partition": 0, "offset": 0, "error_code": None, "error": None})
        self.assertEqual([json.loads(x)["value"] for x in self.mock.stored("s_rec")], [1])

    def test_script_record_error_authorization(self):
        self.mock.set_script([{"record_errors": {"1": 40301}}])
        st, _, data = self.mock.produce("s_auth", {"records": [{"value": 1}, {"value": 2}]})
        self.assertEqual(st, 403)
        self.assertEqual([o["error_code"] for o in json.loads(data)["offsets"]], [None, 40301])

    def test_script_proxy_error(self):
        self.mock.set_script([{"proxy_error": 500, "error_code": 50001, "message": "boom"}])
        self.assertError(self.mock.produce("s_proxy", {"records": [{"value": 1}]}), 500, 50001, "boom")
        self.assertEqual(self.mock.stored("s_proxy"), [])

    def test_script_garbage(self):
        self.mock.set_script([{"garbage": True}])
        st, h, data = self.mock.produce("s_garbage", {"records": [{"value": 1}]})
        self.assertEqual((st, data, h["Content-Type"]), (200, b"<html>oops", "text/html"))
        self.assertEqual(self.mock.stored("s_garbage"), [])

    def test_script_short_offsets(self):
        self.mock.set_script([{"short_offsets": True}])
        st, _, data = self.mock.produce("s_short", {"records": [{"value": i} for i in range(3)]})
        self.assertEqual(st, 200)
        self.assertEqual(len(json.loads(data)["offsets"]), 2)
        self.assertEqual(self.mock.stored("s_short"), [])

    def test_script_raw(self):
        raw = '{"offsets":[{"partition":0,"offset":"x"}]}'
        self.mock.set_script([{"status": 200, "raw": raw}])
        st, h, data = self.mock.produce("s_raw", {"records": [{"value": 1}]})
        self.assertEqual((st, data.decode()), (200, raw))
        self.assertEqual(self.mock.stored("s_raw"), [])

    def test_script_topic_match_and_times(self):
        self.mock.set_script([{"topic": "other", "status": 500},
                              {"topic": "s_match", "status": 502, "times": 2}])
        statuses = [self.mock.produce("s_match", {"records": [{"value": 1}]})[0] for _ in range(3)]
        self.assertEqual(statuses, [502, 502, 200])
        st, _, data = self.mock.request("GET", "/_mock/stats")
        self.assertEqual([a["times"] for a in json.loads(data)["script"]], [1, 0])

    def test_invalid_script_rejected(self):
        for bad in ({"status": 503}, [{"bogus": 1}], [{"drop": "sideways"}], [{"topic": "x"}]):
            st, body = self.mock.set_script(bad)
            self.assertEqual((st, body["ok"]), (400, False))


class MaxOpenTest(unittest.TestCase):
    """--max-open K: the (K+1)th request open at once gets 429, nothing stored."""

    def setUp(self):
        self.mock = Mock("--base-path", "/test", "--auto-create", "--max-open", "2")
        self.addCleanup(self.mock.cleanup)

    def test_over_k_open_gets_429(self):
        self.assertEqual(self.mock.set_script([{"delay_ms": 400, "times": 100}]),
                         (200, {"ok": True}))
        results = []

        def worker(n):
            st, headers, data = self.mock.produce("mo", {"records": [{"value": {"n": n}}]})
            results.append((st, headers.get("x-amzn-ErrorType"), json.loads(data)))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
            time.sleep(0.05)  # all four open at once: each takes 400 ms
        for t in threads:
            t.join(30)
        self.assertFalse(any(t.is_alive() for t in threads))
        statuses = sorted(r[0] for r in results)
        self.assertEqual(statuses, [200, 200, 429, 429])
        for st, etype, body in results:
            if st == 429:
                self.assertEqual(etype, "TooManyRequestsException")
                self.assertEqual(body, {"message": "Too Many Requests"})
        self.assertEqual(len(self.mock.stored("mo")), 2)
        _, _, data = self.mock.request("GET", "/_mock/stats")
        stats = json.loads(data)
        self.assertEqual(stats["throttled"], 2)
        self.assertGreaterEqual(stats["open_peak"], 3)  # a 429 leaves at once
        actions = [e["action"] for e in self.mock.requests_log() if e["method"] == "POST"]
        self.assertEqual(actions.count("max_open"), 2)
        # One at a time is never throttled.
        self.assertEqual(self.mock.produce("mo", {"records": [{"value": 1}]})[0], 200)

    def test_bad_value_exits_2(self):
        proc = subprocess.run([sys.executable, MOCK, "--store", self.mock.dir + "/x",
                               "--max-open", "-1"], capture_output=True, timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 2)
        self.assertIn(b"--max-open must be >= 0", proc.stderr)


class AutoCreateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.script_dir = tempfile.mkdtemp(prefix="mock_proxy_script.")
        script = os.path.join(cls.script_dir, "script.json")
        with open(script, "w") as f:
            json.dump([{"topic": "scripted", "status": 503, "body": "busy"}], f)
        cls.mock = Mock("--auto-create", "--partitions", "4", "--script", script)

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()
        shutil.rmtree(cls.script_dir, ignore_errors=True)

    def test_key_hash_and_round_robin(self):
        records = [{"key": "k%d" % (i % 4), "value": i} for i in range(8)]
        st, _, data = self.mock.produce("fresh", {"records": records}, path="/topics/fresh")
        self.assertEqual(st, 200, data)
        offsets = json.loads(data)["offsets"]
        for i in range(4):
            self.assertEqual(offsets[i]["partition"], offsets[i + 4]["partition"])
        seen = {}
        for o in offsets:
            self.assertEqual(o["offset"], seen.get(o["partition"], 0))
            seen[o["partition"]] = o["offset"] + 1
        expected = (mock_proxy.murmur2(b'"k0"') & 0x7FFFFFFF) % 4
        self.assertEqual(offsets[0]["partition"], expected)
        st, _, data = self.mock.produce("rr", {"records": [{"value": i} for i in range(4)]},
                                        path="/topics/rr")
        self.assertEqual(sorted(o["partition"] for o in json.loads(data)["offsets"]), [0, 1, 2, 3])
        self.assertIn("fresh", json.loads(self.mock.request("GET", "/topics")[2]))
        self.assertEqual(len(self.mock.stored("fresh")), 8)

    def test_invalid_topic_name(self):
        st, _, data = self.mock.produce("x", {"records": [{"value": 1}]}, path="/topics/bad%20topic")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(data)["offsets"][0]["error_code"], 50002)

    def test_script_file(self):
        st, _, data = self.mock.produce("scripted", {"records": [{"value": 1}]}, path="/topics/scripted")
        self.assertEqual((st, data), (503, b"busy"))
        st, _, _ = self.mock.produce("scripted", {"records": [{"value": 1}]}, path="/topics/scripted")
        self.assertEqual(st, 200)


DROPPED = (http.client.RemoteDisconnected, ConnectionError, http.client.BadStatusLine)


def values(mock, topic):
    return [json.loads(line)["value"] for line in mock.stored(topic)]


class ErrorStoreTest(unittest.TestCase):
    """"store", "partial" and "retry_after" on error actions; --reject-marker."""

    @classmethod
    def setUpClass(cls):
        cls.mock = Mock("--auto-create", "--reject-marker", "REJECT-ME")

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def setUp(self):
        self.assertEqual(self.mock.set_script([]), (200, {"ok": True}))

    def batch(self, topic, n, start=0):
        return self.mock.produce(topic, {"records": [{"value": start + i} for i in range(n)]},
                                 path="/topics/" + topic)

    def last_log(self, topic):
        return [e for e in self.mock.requests_log() if e["topic"] == topic][-1]

    def test_store_on_gateway_504(self):
        self.mock.set_script([{"gateway": "Endpoint request timed out", "store": True}])
        st, h, data = self.batch("st504", 3)
        self.assertEqual((st, json.loads(data), h["Content-Type"]),
                         (504, {"message": "Endpoint request timed out"}, "application/json"))
        lines = [json.loads(x) for x in self.mock.stored("st504")]
        self.assertEqual([(r["offset"], r["value"]) for r in lines], [(0, 0), (1, 1), (2, 2)])
        entry = self.last_log("st504")
        self.assertEqual((entry["status"], entry["records"], entry["accepted"], entry["action"]),
                         (504, 3, 3, "gateway"))
        # offsets keep advancing after the stored-behind-a-504 batch
        st, _, data = self.batch("st504", 1, 3)
        self.assertEqual((st, json.loads(data)["offsets"][0]["offset"]), (200, 3))

    def test_store_on_every_error_kind(self):
        cases = [({"status": 503, "body": "busy", "store": True}, 503),
                 ({"proxy_error": 500, "store": True}, 500),
                 ({"garbage": True, "store": True}, 200),
                 ({"raw": "{}", "status": 502, "store": True}, 502),
                 ({"gateway": "Too Many Requests", "store": True}, 429)]
        for i, (action, status) in enumerate(cases):
            topic = "stkind%d" % i
            self.mock.set_script([action])
            self.assertEqual(self.batch(topic, 2)[0], status, action)
            self.assertEqual(values(self.mock, topic), [0, 1], action)
            self.assertEqual(self.last_log(topic)["accepted"], 2)
        # short_offsets + store: the real offsets, one entry too few
        self.mock.set_script([])
        self.batch("stshort", 1)
        self.mock.set_script([{"short_offsets": True, "store": True}])
        st, _, data = self.batch("stshort", 3, 1)
        self.assertEqual(st, 200)
        self.assertEqual([o["offset"] for o in json.loads(data)["offsets"]], [1, 2])
        self.assertEqual(values(self.mock, "stshort"), [0, 1, 2, 3])

    def test_store_false_or_invalid_request_stores_nothing(self):
        self.mock.set_script([{"gateway": "Endpoint request timed out", "store": False},
                              {"gateway": "Endpoint request timed out", "store": True}])
        self.assertEqual(self.batch("stnone", 2)[0], 504)
        st, _, _ = self.mock.produce("stnone", b'{"records":[{"value":1}', path="/topics/stnone")
        self.assertEqual(st, 504)  # the scripted answer still wins over the 400
        self.assertEqual(self.mock.stored("stnone"), [])
        self.assertEqual(self.last_log("stnone")["accepted"], 0)

    def test_partial(self):
        self.mock.set_script([{"proxy_error": 500, "partial": 2,
                               "message": "Unexpected non-Kafka exception returned by Kafka"},
                              {"status": 503, "partial": 0},
                              {"status": 502, "partial": 10, "body": "<html>bad</html>"}])
        st, h, data = self.batch("partial", 5)
        self.assertEqual((st, json.loads(data)),
                         (500, {"error_code": 500,
                                "message": "Unexpected non-Kafka exception returned by Kafka"}))
        self.assertEqual(values(self.mock, "partial"), [0, 1])
        entry = self.last_log("partial")
        self.assertEqual((entry["records"], entry["accepted"], entry["action"]), (5, 2, "proxy_error"))
        self.assertEqual(self.batch("partial", 3, 10)[0], 503)
        self.assertEqual(self.last_log("partial")["accepted"], 0)
        self.assertEqual(self.batch("partial", 2, 20)[0], 502)  # N beyond the batch: all of it
        self.assertEqual(values(self.mock, "partial"), [0, 1, 20, 21])
        self.assertEqual([json.loads(x)["offset"] for x in self.mock.stored("partial")], [0, 1, 2, 3])

    def test_status_retry_after(self):
        date = "Wed, 21 Oct 2026 07:28:00 GMT"
        self.mock.set_script([{"status": 503, "retry_after": "7"},
                              {"status": 429, "retry_after": date, "body": "slow down",
                               "content_type": "text/plain"},
                              {"status": 503}])
        st, h, _ = self.batch("retry", 1)
        self.assertEqual((st, h["Retry-After"]), (503, "7"))
        st, h, data = self.batch("retry", 1)
        self.assertEqual((st, h["Retry-After"], data), (429, date, b"slow down"))
        st, h, _ = self.batch("retry", 1)
        self.assertEqual(st, 503)
        self.assertIsNone(h["Retry-After"])

    def test_store_and_partial_validation(self):
        for bad in ([{"drop": "after", "store": True}], [{"record_errors": {}, "store": True}],
                    [{"delay_ms": 1, "store": True}], [{"gateway": "Forbidden", "partial": 1}],
                    [{"garbage": True, "partial": 1}], [{"status": 500, "partial": -1}],
                    [{"status": 500, "store": 1}], [{"status": 500, "partial": True}],
                    [{"status": 500, "partial": 1.5}]):
            st, body = self.mock.set_script(bad)
            self.assertEqual((st, body["ok"]), (400, False), bad)

    def test_reject_marker(self):
        body = {"records": [{"value": {"id": 1}}, {"key": "k", "value": {"note": "x REJECT-ME y"}},
                            {"value": "REJECT-ME"}, {"value": 4}, {"key": "REJECT-ME", "value": 5}]}
        before = json.loads(self.mock.request("GET", "/_mock/stats")[2])["rejected"]
        st, _, data = self.mock.produce("marker", body, path="/topics/marker")
        self.assertEqual(st, 200)
        offsets = json.loads(data)["offsets"]
        self.assertEqual([o["error_code"] for o in offsets], [None, 50002, 50002, None, None])
        self.assertEqual(offsets[1], {"partition": None, "offset": None, "error_code": 50002,
                                      "error": "Record rejected: marker"})
        self.assertEqual(values(self.mock, "marker"), [{"id": 1}, 4, 5])  # only values are checked
        self.assertEqual(self.last_log("marker")["accepted"], 3)
        # binary format: the decoded value is checked
        st, _, data = self.mock.produce("marker", {"records": [{"value": "UkVKRUNULU1F"}]},
                                        ctype="application/vnd.kafka.binary.v2+json",
                                        path="/topics/marker")
        self.assertEqual(json.loads(data)["offsets"][0]["error_code"], 50002)
        # marker wins over script record errors, and is never stored behind an error answer
        self.mock.set_script([{"record_errors": {"0": 50003}},
                              {"gateway": "Endpoint request timed out", "store": True}])
        st, _, data = self.mock.produce("marker", {"records": [{"value": "REJECT-ME"}, {"value": 7}]},
                                        path="/topics/marker")
        self.assertEqual([o["error_code"] for o in json.loads(data)["offsets"]], [50002, None])
        st, _, _ = self.mock.produce("marker", {"records": [{"value": "REJECT-ME"}, {"value": 8}]},
                                     path="/topics/marker")
        self.assertEqual(st, 504)
        self.assertEqual(values(self.mock, "marker"), [{"id": 1}, 4, 5, 7, 8])
        stats = json.loads(self.mock.request("GET", "/_mock/stats")[2])
        self.assertEqual(stats["rejected"] - before, 5)
        self.assertEqual(stats["chaos"], {k: 0 for k in mock_proxy.CHAOS_KINDS})


class BodyLimitTest(unittest.TestCase):
    """--max-body-bytes: API Gateway's 413, answered early, never a reset."""

    @classmethod
    def setUpClass(cls):
        cls.mock = Mock("--topics", "t", "--max-body-bytes", "100000")

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    BIG = b'{"records":[{"value":"' + b"y" * 2000000 + b'"}]}'

    def test_large_body_413_seen_by_client(self):
        t0 = time.monotonic()
        st, h, data = self.mock.produce("t", self.BIG, path="/topics/t")
        self.assertEqual((st, json.loads(data)), (413, {"message": "Request Too Long"}))
        self.assertEqual(h["Connection"], "close")
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(self.mock.stored("t"), [])
        entry = self.mock.requests_log()[-1]
        self.assertEqual((entry["status"], entry["body_bytes"]), (413, len(self.BIG)))
        # a body at the limit still goes through
        small = b'{"records":[{"value":"' + b"s" * 1000 + b'"}]}'
        self.assertEqual(self.mock.produce("t", small, path="/topics/t")[0], 200)

    def test_413_before_the_body_is_sent(self):
        with socket.create_connection(("127.0.0.1", self.mock.port), timeout=TIMEOUT) as s:
            s.sendall(b"POST /topics/t HTTP/1.1\r\nHost: x\r\nContent-Type: " + JSON_CT.encode() +
                      b"\r\nContent-Length: %d\r\n\r\n" % len(self.BIG))
            resp = http.client.HTTPResponse(s)
            resp.begin()  # no body sent yet: the answer must not wait for it
            self.assertEqual((resp.status, json.loads(resp.read())),
                             (413, {"message": "Request Too Long"}))
            s.sendall(self.BIG)  # the mock drains it instead of resetting
            self.assertEqual(s.recv(10), b"")

    def test_expect_100_continue_gets_413(self):
        with socket.create_connection(("127.0.0.1", self.mock.port), timeout=TIMEOUT) as s:
            s.sendall(b"POST /topics/t HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Content-Type: " + JSON_CT.encode() +
                      b"\r\nContent-Length: %d\r\n\r\n" % len(self.BIG))
            resp = http.client.HTTPResponse(s)
            resp.begin()
            self.assertEqual(resp.status, 413)

    def test_chunked_large_body_413(self):
        c = self.mock.conn()
        try:
            c.request("POST", "/topics/t", body=iter([b"z" * 50000] * 40),
                      headers={"Content-Type": JSON_CT}, encode_chunked=True)
            resp = c.getresponse()
            self.assertEqual((resp.status, json.loads(resp.read())),
                             (413, {"message": "Request Too Long"}))
        finally:
            c.close()


CHAOS_STATUS = {"proxy_500_partial": 500, "html_502": 502, "html_503": 503,
                "gateway_504_stored": 504, "gateway_504": 504, "gateway_429": 429,
                "gateway_429_retry_after": 429, "drop_before": None, "drop_after": None,
                "record_50003": 200, "garbage": 200, "delay": 200}


class ChaosTest(unittest.TestCase):
    MARK = "CHAOS-REJECT"

    def run_requests(self, *args, count=50):
        """Start a mock with args, send count produce requests in order; return (per-request
        client results, requests.jsonl entries, stored lines, stats)."""
        mock = Mock("--topics", "c", "--partitions", "2", "--reject-marker", self.MARK, *args)
        try:
            results = []
            for i in range(count):
                recs = [{"key": "k%d" % j, "value": {"i": i, "j": j}} for j in range(i % 5 + 1)]
                if i % 3 == 0:
                    recs.append({"value": {"i": i, "m": self.MARK}})
                t0 = time.monotonic()
                try:
                    st, h, data = mock.produce("c", {"records": recs}, path="/topics/c")
                except DROPPED:
                    st, h, data = None, {}, b""
                results.append({"n": len(recs), "status": st, "headers": h, "data": data,
                                "secs": time.monotonic() - t0, "marked": i % 3 == 0})
            stats = json.loads(mock.request("GET", "/_mock/stats")[2])
            return results, mock.requests_log(), mock.stored("c"), stats
        finally:
            mock.cleanup()

    def test_reproducible_with_seed(self):
        first = self.run_requests("--chaos", "0.5", "--chaos-seed", "42")
        second = self.run_requests("--chaos", "0.5", "--chaos-seed", "42")
        key = [(e["action"], e["status"], e["records"], e["accepted"]) for e in first[1]]
        self.assertEqual(len(key), 50)
        self.assertEqual(key, [(e["action"], e["status"], e["records"], e["accepted"])
                               for e in second[1]])
        self.assertEqual(first[2], second[2])  # same records, same offsets
        self.assertEqual(first[3]["chaos"], second[3]["chaos"])
        actions = [k[0] for k in key]
        self.assertIn(None, actions)
        self.assertTrue(any(a and a.startswith("chaos:") for a in actions))
        self.assertEqual(sum(first[3]["chaos"].values()), sum(1 for a in actions if a))
        other = self.run_requests("--chaos", "0.5", "--chaos-seed", "43")
        self.assertNotEqual(actions, [e["action"] for e in other[1]])

    def test_rate_one_only_faults(self):
        results, log, stored, stats = self.run_requests("--chaos", "1.0", "--chaos-seed", "7",
                                                        count=60)
        self.assertEqual(len(log), 60)
        kinds = []
        for res, entry in zip(results, log):
            action = entry["action"] or ""
            self.assertTrue(action.startswith("chaos:"), entry)
            kind = action[len("chaos:"):]
            kinds.append(kind)
            self.assertEqual(res["status"], CHAOS_STATUS[kind], entry)
            self.assertEqual(entry["status"], CHAOS_STATUS[kind], entry)
            n, accepted = res["n"], entry["accepted"]
            good = n - 1 if res["marked"] else n  # records the marker leaves
            if kind in ("html_502", "html_503", "gateway_504", "gateway_429",
                        "gateway_429_retry_after", "drop_before", "garbage"):
                self.assertEqual(accepted, 0, entry)
            elif kind in ("gateway_504_stored", "drop_after", "delay"):
                self.assertEqual(accepted, good, entry)
            elif kind == "proxy_500_partial":
                self.assertLessEqual(accepted, good, entry)
                self.assertEqual(json.loads(res["data"]), {
                    "error_code": 500, "message": "Unexpected non-Kafka exception returned by Kafka"})
            elif kind == "record_50003":
                codes = [o["error_code"] for o in json.loads(res["data"])["offsets"]]
                self.assertEqual(len(codes), n)
                self.assertIn(50003, codes)
                self.assertEqual(codes[-1] == 50002, res["marked"])
                self.assertEqual(accepted, codes.count(None))
            if kind.startswith("html_"):
                self.assertEqual(res["headers"]["Content-Type"], "text/html")
                self.assertIn(b"<html>", res["data"])
            if kind.startswith("gateway_504"):
                self.assertEqual(json.loads(res["data"]), {"message": "Endpoint request timed out"})
            if kind.startswith("gateway_429"):
                self.assertEqual(json.loads(res["data"]), {"message": "Too Many Requests"})
                self.assertEqual(res["headers"]["Retry-After"],
                                 "1" if kind.endswith("retry_after") else None)
            if kind == "garbage":
                self.assertEqual(res["data"], b"<html>oops")
            if kind == "delay":
                self.assertGreaterEqual(res["secs"], 0.29)
                offsets = json.loads(res["data"])["offsets"]
                self.assertEqual(offsets[-1]["error_code"] == 50002, res["marked"])
        self.assertEqual(set(kinds), set(mock_proxy.CHAOS_KINDS))  # seed 7 covers every kind
        self.assertEqual(stats["chaos"], {k: kinds.count(k) for k in mock_proxy.CHAOS_KINDS})
        self.assertEqual(len(stored), sum(e["accepted"] for e in log))
        self.assertTrue(all(self.MARK not in line for line in stored))

    def test_script_action_takes_precedence(self):
        mock = Mock("--topics", "c", "--chaos", "1.0")
        try:
            mock.set_script([{"status": 503, "times": 2}])
            statuses = []
            for _ in range(2):
                statuses.append(mock.produce("c", {"records": [{"value": 1}]}, path="/topics/c")[0])
            self.assertEqual(statuses, [503, 503])
            self.assertEqual([e["action"] for e in mock.requests_log()], ["status", "status"])
            # GETs are never chaos'd
            self.assertEqual(mock.request("GET", "/topics/c")[0], 200)
            stats = json.loads(mock.request("GET", "/_mock/stats")[2])
            self.assertEqual(sum(stats["chaos"].values()), 0)
        finally:
            mock.cleanup()

    def test_chaos_rate_validated(self):
        with tempfile.TemporaryDirectory() as d:
            for rate in ("1.5", "-0.1", "x"):
                proc = subprocess.run([sys.executable, MOCK, "--store", d, "--chaos", rate],
                                      stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
                self.assertEqual(proc.returncode, 2, rate)


class SignalTest(unittest.TestCase):
    def test_sigterm_and_sigint_stop_cleanly(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            mock = Mock("--topics", "t")
            try:
                c = mock.conn()  # an idle keep-alive connection must not block shutdown
                st, _, _ = mock.request("POST", "/topics/t", '{"records":[{"value":1}]}',
                                        {"Content-Type": JSON_CT}, conn=c)
                self.assertEqual(st, 200)
                t0 = time.monotonic()
                mock.proc.send_signal(sig)
                self.assertEqual(mock.proc.wait(5), 0, mock.stderr())
                self.assertLess(time.monotonic() - t0, 5)
                c.close()
                self.assertEqual(len(mock.stored("t")), 1)
            finally:
                mock.cleanup()


# ---- authentication and TLS ----------------------------------------------------------------
SIGV4_MISMATCH = mock_proxy.SIGV4_MISMATCH
AKID, SECRET, TOKEN = "AKIDMOCKTEST", "mock/Secret+Key=1", "FwoGZXIvYXdzEXAMPLETOKEN"
BODY = '{"records":[{"key":"k","value":{"n":1}}]}'


def amz_now(offset=0.0):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() + offset))


def sigv4_headers(mock, method, path, body, headers=None, secret=SECRET, akid=AKID,
                  region="us-east-1", amz_date=None, unsigned=()):
    """Headers for a request signed with the module's SigV4 functions (the functions are
    checked on their own against AWS's published vector and against curl's signer)."""
    body = body.encode("utf-8") if isinstance(body, str) else body
    h = {"Host": "127.0.0.1:%d" % mock.port, "X-Amz-Date": amz_date or amz_now()}
    if body:
        h["Content-Type"] = JSON_CT
    h.update(headers or {})
    names = sorted(k.lower() for k in h if k.lower() not in unsigned)
    path, _, query = path.partition("?")
    creq = mock_proxy.sigv4_canonical_request(
        method, path, query, lambda n: [v for k, v in h.items() if k.lower() == n], names,
        hashlib.sha256(body).hexdigest())
    sig = mock_proxy.sigv4_signature(secret, h["X-Amz-Date"], region, "execute-api", creq)
    h["Authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s/%s/execute-api/aws4_request, "
                          "SignedHeaders=%s, Signature=%s"
                          % (akid, h["X-Amz-Date"][:8], region, ";".join(names), sig))
    return h


def curl_sigv4(mock, path, secret=SECRET, body=None, headers=()):
    """Have curl (libcurl's own SigV4 signer) send the request; returns (status, body)."""
    if shutil.which("curl") is None:
        raise unittest.SkipTest("curl not installed")
    out = os.path.join(mock.dir, "curl.out")
    cmd = ["curl", "-sS", "-o", out, "-w", "%{http_code}", "--max-time", str(TIMEOUT),
           "--aws-sigv4", "aws:amz:us-east-1:execute-api", "--user", "%s:%s" % (AKID, secret)]
    for h in headers:
        cmd += ["-H", h]
    if body is not None:
        body_file = os.path.join(mock.dir, "curl.body")
        with open(body_file, "wb") as f:
            f.write(body.encode("utf-8"))
        cmd += ["-H", "Content-Type: " + JSON_CT, "--data-binary", "@" + body_file]
    proc = subprocess.run(cmd + ["http://127.0.0.1:%d%s" % (mock.port, path)],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT + 5)
    if proc.returncode == 2 and b"aws-sigv4" in proc.stderr:
        raise unittest.SkipTest("curl without --aws-sigv4")
    if proc.returncode != 0:
        raise AssertionError("curl failed: %r" % proc.stderr)
    with open(out, "rb") as f:
        return int(proc.stdout), f.read()


class SigV4HelpersTest(unittest.TestCase):
    def test_known_vector_iam_list_users(self):
        # AWS General Reference SigV4 example: GET https://iam.amazonaws.com/?Action=ListUsers&
        # Version=2010-05-08 signed with the documentation's example credentials.
        headers = {"content-type": ["application/x-www-form-urlencoded; charset=utf-8"],
                   "host": ["iam.amazonaws.com"], "x-amz-date": ["20150830T123600Z"]}
        creq = mock_proxy.sigv4_canonical_request(
            "GET", "/", "Action=ListUsers&Version=2010-05-08", lambda n: headers.get(n, []),
            ["content-type", "host", "x-amz-date"], hashlib.sha256(b"").hexdigest())
        self.assertEqual(creq, "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
                         "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
                         "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                         "content-type;host;x-amz-date\n"
                         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        self.assertEqual(hashlib.sha256(creq.encode()).hexdigest(),
                         "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59")
        secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        self.assertEqual(mock_proxy.sigv4_signing_key(secret, "20150830", "us-east-1", "iam").hex(),
                         "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
        self.assertEqual(mock_proxy.sigv4_signature(secret, "20150830T123600Z", "us-east-1", "iam",
                                                    creq),
                         "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")

    def test_canonical_uri_and_query(self):
        uri = mock_proxy.sigv4_canonical_uri
        self.assertEqual(uri(""), "/")
        self.assertEqual(uri("/test/topics/t.x-1_~"), "/test/topics/t.x-1_~")
        self.assertEqual(uri("/a%20b/c:d"), "/a%2520b/c%3Ad")  # wire path encoded once more
        self.assertEqual(uri("/a/./b/../c//d/"), "/a/c/d/")
        query = mock_proxy.sigv4_canonical_query
        self.assertEqual(query("z=1&a=b%2Fc&a&b=+~ x"), "a=&a=b%2Fc&b=%2B~%20x&z=1")
        self.assertEqual(query(""), "")


class ApiKeyAndBasicTest(unittest.TestCase):
    def test_api_key(self):
        mock = Mock("--base-path", "/test", "--topics", "t", "--require-api-key", "k-123")
        try:
            for extra in ({}, {"x-api-key": "wrong"}, {"X-API-Key": "k-1234"}):
                st, h, data = mock.produce("t", BODY, extra=extra)
                self.assertEqual((st, json.loads(data)), (403, {"message": "Forbidden"}))
                self.assertEqual(h["x-amzn-ErrorType"], "ForbiddenException")
                self.assertEqual(h["Content-Type"], "application/json")
            self.assertEqual(mock.request("GET", "/test/topics/t")[0], 403)
            st, _, data = mock.produce("t", BODY, extra={"x-api-key": "k-123"})
            self.assertEqual(st, 200, data)
            st, _, _ = mock.request("GET", "/test/topics/t", headers={"X-Api-Key": "k-123"})
            self.assertEqual(st, 200)
            self.assertEqual(len(mock.stored("t")), 1)
            log = mock.requests_log()
            self.assertEqual([e["auth"] for e in log], [None, "api-key", "api-key", None,
                                                        "api-key", "api-key"])
            self.assertEqual([e["status"] for e in log], [403] * 4 + [200] * 2)
            # outside the base path: Missing Authentication Token comes first
            st, _, data = mock.request("GET", "/other", headers={"x-api-key": "k-123"})
            self.assertEqual((st, json.loads(data)["message"]),
                             (403, "Missing Authentication Token"))
            with open(os.path.join(mock.store, "requests.jsonl"), encoding="utf-8") as f:
                self.assertNotIn("k-123", f.read())
        finally:
            mock.cleanup()

    def test_basic(self):
        mock = Mock("--topics", "t", "--require-basic", "alice:s3:cret")

        def basic(cred):
            return {"Authorization": "Basic " + base64.b64encode(cred.encode()).decode()}

        try:
            for extra in ({}, basic("alice:wrong"), basic("bob:s3:cret"),
                          {"Authorization": "Basic !!notbase64"}, {"x-api-key": "s3:cret"}):
                st, h, data = mock.produce("t", BODY, path="/topics/t", extra=extra)
                self.assertEqual((st, json.loads(data)),
                                 (401, {"error_code": 40101, "message": "Unauthorized"}), extra)
                self.assertEqual(h["WWW-Authenticate"], 'Basic realm="kafka-rest"')
                self.assertEqual(h["Content-Type"], V2)
            self.assertEqual(mock.request("GET", "/topics")[0], 401)
            st, _, data = mock.produce("t", BODY, path="/topics/t", extra=basic("alice:s3:cret"))
            self.assertEqual(st, 200, data)
            st, _, data = mock.request("GET", "/topics", headers={
                "authorization": "basic " + base64.b64encode(b"alice:s3:cret").decode()})
            self.assertEqual((st, json.loads(data)), (200, ["t"]))
            self.assertEqual(len(mock.stored("t")), 1)
            log = mock.requests_log()
            self.assertEqual([e["auth"] for e in log],
                             [None, "basic", "basic", "basic", "api-key", None, "basic", "basic"])
            with open(os.path.join(mock.store, "requests.jsonl"), encoding="utf-8") as f:
                text = f.read()
            self.assertNotIn("s3:cret", text)
            self.assertNotIn(base64.b64encode(b"alice:s3:cret").decode(), text)
        finally:
            mock.cleanup()

    def test_headers_recorded(self):
        mock = Mock("--topics", "t")
        try:
            st, _, _ = mock.produce("t", BODY, path="/topics/t", extra={
                "User-Agent": "pg-export/1.0", "X-Request-Source": "unit-test",
                "X-Custom-Run": "r42", "x-custom-empty": "", "X-Api-Key": "secret-key",
                "Authorization": "Basic c2VjcmV0", "X-Other": "not logged", "Cookie": "c=1"})
            self.assertEqual(st, 200)
            entry = mock.requests_log()[-1]
            self.assertEqual(entry["headers"], {
                "user-agent": "pg-export/1.0", "x-request-source": "unit-test",
                "x-custom-run": "r42", "x-custom-empty": "", "content-type": JSON_CT,
                "accept": V2})
            self.assertEqual(entry["auth"], "basic")
            st, _, _ = mock.request("GET", "/topics")
            entry = mock.requests_log()[-1]
            self.assertIsNone(entry["auth"])
            self.assertEqual(entry["headers"], {})  # http.client sends none of the list
        finally:
            mock.cleanup()

    def test_option_errors_exit_2(self):
        with tempfile.TemporaryDirectory() as d:
            for args in (["--require-basic", "nocolon"],
                         ["--require-sigv4", "us-east-1:AKID"],
                         ["--require-sigv4", "us-east-1::SECRET"],
                         ["--require-basic", "a:b", "--require-sigv4", "r:a:s"],
                         ["--tls-cert", os.path.join(d, "none.pem")],
                         ["--tls-client-ca", os.path.join(d, "none.pem")],
                         ["--tls-cert", os.path.join(d, "none.pem"),
                          "--tls-key", os.path.join(d, "none.key")]):
                proc = subprocess.run([sys.executable, MOCK, "--store", d, *args],
                                      stdin=subprocess.DEVNULL, capture_output=True,
                                      timeout=TIMEOUT)
                self.assertEqual(proc.returncode, 2, args)


class SigV4Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock("--base-path", "/test", "--topics", "t",
                        "--require-sigv4", "us-east-1:%s:%s" % (AKID, SECRET))

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def send(self, path, body, headers, method="POST"):
        return self.mock.request(method, path, body, headers)

    def assertDenied(self, result, message, error_type=None):
        st, h, data = result
        self.assertEqual(st, 403, data)
        self.assertEqual(h["Content-Type"], "application/json")
        msg = json.loads(data)["message"]
        if message.endswith("..."):
            self.assertTrue(msg.startswith(message[:-3]), msg)
        else:
            self.assertEqual(msg, message)
        self.assertEqual(h["x-amzn-ErrorType"], error_type)

    def test_curl_signed_accepted_wrong_secret_refused(self):
        before = len(self.mock.stored("t"))
        st, data = curl_sigv4(self.mock, "/test/topics/t", body=BODY)
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data)["offsets"][0]["error_code"], None)
        st, data = curl_sigv4(self.mock, "/test/topics/t")  # GET, empty payload
        self.assertEqual(st, 200, data)
        st, data = curl_sigv4(self.mock, "/test/topics/t", body=BODY,
                              headers=["X-Custom-Trace: abc"])  # curl signs -H headers too
        self.assertEqual(st, 200, data)
        st, data = curl_sigv4(self.mock, "/test/topics/t", secret="wrong-secret", body=BODY)
        self.assertEqual((st, json.loads(data)), (403, {"message": SIGV4_MISMATCH}))
        self.assertEqual(len(self.mock.stored("t")), before + 2)
        log = self.mock.requests_log()[-4:]
        self.assertEqual([e["auth"] for e in log], ["sigv4"] * 4)
        self.assertEqual([e["status"] for e in log], [200, 200, 200, 403])
        self.assertEqual(log[2]["headers"]["x-custom-trace"], "abc")

    def test_python_signed_and_tampering(self):
        path = "/test/topics/t"
        h = sigv4_headers(self.mock, "POST", path, BODY, {"Content-Type": JSON_CT})
        self.assertEqual(self.send(path, BODY, h)[0], 200)
        # the exact body bytes are signed
        self.assertDenied(self.send(path, BODY + " ", h), SIGV4_MISMATCH,
                          "InvalidSignatureException")
        # so are the method, path and the signed headers
        self.assertDenied(self.send("/test/topics/t/partitions/0", BODY, h), SIGV4_MISMATCH,
                          "InvalidSignatureException")
        self.assertDenied(self.send(path, BODY, dict(h, **{"Content-Type": JSON_CT + ";x=1"})),
                          SIGV4_MISMATCH, "InvalidSignatureException")
        # an unsigned extra header is fine
        self.assertEqual(self.send(path, BODY, dict(h, **{"X-Custom-Late": "1"}))[0], 200)
        # x-amz-content-sha256, when sent, must be the body's SHA-256
        good = hashlib.sha256(BODY.encode()).hexdigest()
        h2 = sigv4_headers(self.mock, "POST", path, BODY, {"X-Amz-Content-Sha256": good})
        self.assertEqual(self.send(path, BODY, h2)[0], 200)
        h3 = sigv4_headers(self.mock, "POST", path, BODY + "x", {"X-Amz-Content-Sha256": good})
        self.assertDenied(self.send(path, BODY + "x", h3), SIGV4_MISMATCH,
                          "InvalidSignatureException")
        # a query string is signed in canonical (sorted, encoded) form
        qpath = "/test/topics/t?z=1&a=b%2Fc"
        h4 = sigv4_headers(self.mock, "GET", qpath, b"")
        self.assertEqual(self.send(qpath, None, h4, "GET")[0], 200)

    def test_expired_and_future_dates(self):
        path = "/test/topics/t"
        old = sigv4_headers(self.mock, "POST", path, BODY, amz_date=amz_now(-6 * 60))
        self.assertDenied(self.send(path, BODY, old), "Signature expired: %s is now earlier than..."
                          % old["X-Amz-Date"], "InvalidSignatureException")
        new = sigv4_headers(self.mock, "POST", path, BODY, amz_date=amz_now(6 * 60))
        self.assertDenied(self.send(path, BODY, new), "Signature not yet current: %s is still..."
                          % new["X-Amz-Date"], "InvalidSignatureException")
        ok = sigv4_headers(self.mock, "POST", path, BODY, amz_date=amz_now(-4 * 60))
        self.assertEqual(self.send(path, BODY, ok)[0], 200)

    def test_malformed_and_unsigned(self):
        path = "/test/topics/t"
        self.assertDenied(self.send(path, BODY, {}), "Missing Authentication Token",
                          "MissingAuthenticationTokenException")
        self.assertDenied(self.send(path, BODY, {"Authorization": "Bearer abc"}),
                          "Invalid key=value pair (missing equal-sign) in Authorization header...",
                          "IncompleteSignatureException")
        h = sigv4_headers(self.mock, "POST", path, BODY)
        no_date = {k: v for k, v in h.items() if k != "X-Amz-Date"}
        self.assertDenied(self.send(path, BODY, no_date), "Authorization header requires "
                          "existence of either a 'X-Amz-Date' or a 'Date' header.",
                          "IncompleteSignatureException")
        self.assertDenied(self.send(path, BODY, sigv4_headers(self.mock, "POST", path, BODY,
                                                              akid="AKIDOTHER")),
                          "The security token included in the request is invalid.",
                          mock_proxy.GATEWAY_ERRORS[mock_proxy.INVALID_TOKEN][1])
        self.assertDenied(self.send(path, BODY, sigv4_headers(self.mock, "POST", path, BODY,
                                                              region="eu-west-1")),
                          "Credential should be scoped to a valid region, not 'eu-west-1'. ",
                          "InvalidSignatureException")
        self.assertDenied(self.send(path, BODY, sigv4_headers(self.mock, "POST", path, BODY,
                                                              unsigned=("host",))),
                          "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                          "Authorization.", "IncompleteSignatureException")
        # a session token that was not configured is refused
        self.assertDenied(self.send(path, BODY, sigv4_headers(
            self.mock, "POST", path, BODY, {"X-Amz-Security-Token": TOKEN})),
            "The security token included in the request is invalid.",
            mock_proxy.GATEWAY_ERRORS[mock_proxy.INVALID_TOKEN][1])


class SigV4SessionTokenTest(unittest.TestCase):
    def test_session_token_required_and_signed(self):
        mock = Mock("--topics", "t", "--require-sigv4", "us-east-1:%s:%s:%s" % (AKID, SECRET, TOKEN))
        try:
            path = "/topics/t"
            invalid = {"message": "The security token included in the request is invalid."}
            st, data = curl_sigv4(mock, path, body=BODY)
            self.assertEqual((st, json.loads(data)), (403, invalid))
            st, data = curl_sigv4(mock, path, body=BODY,
                                  headers=["x-amz-security-token: wrong" + TOKEN])
            self.assertEqual((st, json.loads(data)), (403, invalid))
            st, data = curl_sigv4(mock, path, body=BODY,
                                  headers=["x-amz-security-token: " + TOKEN])
            self.assertEqual(st, 200, data)
            # present but left out of SignedHeaders: the signature does not cover it
            h = sigv4_headers(mock, "POST", path, BODY, {"X-Amz-Security-Token": TOKEN},
                              unsigned=("x-amz-security-token",))
            st, _, data = mock.request("POST", path, BODY, h)
            self.assertEqual((st, json.loads(data)), (403, {"message": SIGV4_MISMATCH}))
            h = sigv4_headers(mock, "POST", path, BODY, {"X-Amz-Security-Token": TOKEN,
                                                         "Content-Type": JSON_CT})
            self.assertEqual(mock.request("POST", path, BODY, h)[0], 200)
            self.assertEqual(len(mock.stored("t")), 2)
            with open(os.path.join(mock.store, "requests.jsonl"), encoding="utf-8") as f:
                text = f.read()
            self.assertNotIn(TOKEN, text)
            self.assertNotIn(SECRET, text)
        finally:
            mock.cleanup()


def make_certs(testcase_cls):
    """Run tests/tls/mkcerts.sh into a fresh directory; skip when openssl is missing."""
    d = tempfile.mkdtemp(prefix="mock_proxy_tls.")
    proc = subprocess.run(["bash", MKCERTS, d], stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=60)
    if proc.returncode == 77:
        shutil.rmtree(d, ignore_errors=True)
        raise unittest.SkipTest("openssl not available")
    if proc.returncode != 0:
        shutil.rmtree(d, ignore_errors=True)
        raise RuntimeError("mkcerts.sh failed: %r" % proc.stderr)
    testcase_cls.certs = d
    return d


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = make_certs(cls)
        try:
            cls.mock = Mock("--base-path", "/test", "--topics", "t",
                            "--tls-cert", os.path.join(d, "server.pem"),
                            "--tls-key", os.path.join(d, "server.key"))
        except Exception:
            shutil.rmtree(d, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()
        shutil.rmtree(cls.certs, ignore_errors=True)

    def context(self):
        return ssl.create_default_context(cafile=os.path.join(self.certs, "ca.pem"))

    def test_mkcerts_idempotent(self):
        before = {f: os.stat(os.path.join(self.certs, f)).st_mtime_ns for f in os.listdir(self.certs)}
        proc = subprocess.run(["bash", MKCERTS, self.certs], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=60)
        self.assertEqual((proc.returncode, proc.stdout, proc.stderr), (0, b"", b""))
        after = {f: os.stat(os.path.join(self.certs, f)).st_mtime_ns for f in os.listdir(self.certs)}
        self.assertEqual(before, after)
        self.assertEqual(sorted(after), ["ca.key", "ca.pem", "client.key", "client.pem",
                                         "server.key", "server.pem"])

    def test_https_with_ca_and_keep_alive(self):
        url = "https://127.0.0.1:%d/test/topics/t" % self.mock.port
        req = urllib.request.Request(url, BODY.encode(), {"Content-Type": JSON_CT, "Accept": V2})
        with urllib.request.urlopen(req, context=self.context(), timeout=TIMEOUT) as resp:
            self.assertEqual(resp.status, 200)
            self.assertIsNone(json.loads(resp.read())["offsets"][0]["error_code"])
        localhost = url.replace("127.0.0.1", "localhost")
        with urllib.request.urlopen(localhost, context=self.context(), timeout=TIMEOUT) as resp:
            self.assertEqual(resp.status, 200)
        c = http.client.HTTPSConnection("127.0.0.1", self.mock.port, timeout=TIMEOUT,
                                        context=self.context())
        try:
            st, _, _ = self.mock.request("POST", "/test/topics/t", BODY,
                                         {"Content-Type": JSON_CT}, conn=c)
            sock = c.sock
            self.assertEqual(st, 200)
            st, _, data = self.mock.request("GET", "/_mock/stats", conn=c)
            self.assertEqual(st, 200)
            self.assertIs(c.sock, sock)  # same TLS connection reused
            self.assertGreaterEqual(json.loads(data)["records"], 2)
        finally:
            c.close()

    def test_https_refused_without_ca(self):
        url = "https://127.0.0.1:%d/test/topics/t" % self.mock.port
        with self.assertRaises(urllib.error.URLError) as cm:
            urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=TIMEOUT)
        self.assertIsInstance(cm.exception.reason, ssl.SSLCertVerificationError)
        # plain HTTP to the TLS port gets no HTTP answer
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.mock.request("GET", "/test/topics/t")

    def test_stalled_handshake_does_not_block(self):
        idle = socket.create_connection(("127.0.0.1", self.mock.port), timeout=TIMEOUT)
        try:
            url = "https://127.0.0.1:%d/test/" % self.mock.port
            with urllib.request.urlopen(url, context=self.context(), timeout=5) as resp:
                self.assertEqual(resp.status, 200)
        finally:
            idle.close()

    def test_curl_https(self):
        if shutil.which("curl") is None:
            self.skipTest("curl not installed")
        proc = subprocess.run(
            ["curl", "-sS", "-o", os.devnull, "-w", "%{http_code}", "--max-time", str(TIMEOUT),
             "--cacert", os.path.join(self.certs, "ca.pem"),
             "https://localhost:%d/test/topics/t" % self.mock.port],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT + 5)
        self.assertEqual((proc.returncode, proc.stdout), (0, b"200"), proc.stderr)


class MutualTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = make_certs(cls)
        try:
            cls.mock = Mock("--topics", "t", "--tls-cert", os.path.join(d, "server.pem"),
                            "--tls-key", os.path.join(d, "server.key"),
                            "--tls-client-ca", os.path.join(d, "ca.pem"))
        except Exception:
            shutil.rmtree(d, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()
        shutil.rmtree(cls.certs, ignore_errors=True)

    def context(self, client_cert):
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.pem"))
        if client_cert:
            ctx.load_cert_chain(os.path.join(self.certs, "client.pem"),
                                os.path.join(self.certs, "client.key"))
        return ctx

    def post(self, ctx):
        req = urllib.request.Request("https://127.0.0.1:%d/topics/t" % self.mock.port,
                                     BODY.encode(), {"Content-Type": JSON_CT})
        with urllib.request.urlopen(req, context=ctx, timeout=TIMEOUT) as resp:
            return resp.status, resp.read()

    def test_with_client_certificate(self):
        st, data = self.post(self.context(True))
        self.assertEqual(st, 200, data)
        if shutil.which("curl") is not None:
            proc = subprocess.run(
                ["curl", "-sS", "-o", os.devnull, "-w", "%{http_code}", "--max-time",
                 str(TIMEOUT), "--cacert", os.path.join(self.certs, "ca.pem"),
                 "--cert", os.path.join(self.certs, "client.pem"),
                 "--key", os.path.join(self.certs, "client.key"),
                 "https://127.0.0.1:%d/topics/t" % self.mock.port],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT + 5)
            self.assertEqual((proc.returncode, proc.stdout), (0, b"200"), proc.stderr)

    def test_without_client_certificate(self):
        count = len(self.mock.requests_log())
        # TLS 1.3: the client may finish its side of the handshake and only see the
        # server's "certificate required" alert when it reads.
        with self.assertRaises((urllib.error.URLError, ssl.SSLError, ConnectionError,
                                http.client.HTTPException)):
            self.post(self.context(False))
        self.assertEqual(len(self.mock.requests_log()), count)  # never reached HTTP
        # a certificate from another CA is refused too
        other = tempfile.mkdtemp(prefix="mock_proxy_tls_other.")
        try:
            subprocess.run(["bash", MKCERTS, other], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=60, check=True)
            ctx = self.context(False)
            ctx.load_cert_chain(os.path.join(other, "client.pem"),
                                os.path.join(other, "client.key"))
            with self.assertRaises((urllib.error.URLError, ssl.SSLError, ConnectionError,
                                    http.client.HTTPException)):
                self.post(ctx)
        finally:
            shutil.rmtree(other, ignore_errors=True)
        self.assertEqual(len(self.mock.requests_log()), count)


if __name__ == "__main__":
    unittest.main()
