"""Tests for tests/mock_proxy.py (stdlib only).

Run from the project root:  python3 -m unittest tests/test_mock_proxy.py -v
Each test class starts its own mock as a subprocess on port 0 with a temporary store and
stops only that process (by its Popen handle) afterwards.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK = os.path.join(HERE, "mock_proxy.py")
sys.path.insert(0, HERE)
import mock_proxy  # noqa: E402  (pure helpers only)

JSON_CT = "application/vnd.kafka.json.v2+json"
V2 = "application/vnd.kafka.v2+json"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
TIMEOUT = 10


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


if __name__ == "__main__":
    unittest.main()
