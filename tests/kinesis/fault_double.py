#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A small Kinesis PutRecords double for the faults kinesalite cannot make.

  python3 tests/kinesis/fault_double.py --store DIR [--port N] [--port-file FILE]
      [--require-sigv4 REGION:ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]] [--quiet]

Listens on 127.0.0.1 only; the bound port goes to --port-file (temp file +
rename).  SIGTERM/SIGINT, or the end of the parent process, stop it with
exit 0.  Every stream exists, has one shard (shardId-000000000000,
partition 0) and is ACTIVE.

Kinesis operations (POST / with X-Amz-Target: Kinesis_20131202.<Op> and
Content-Type: application/x-amz-json-1.1; anything else is a 400):
  PutRecords             checked as Kinesis does: 1..500 records, StreamName
                         [a-zA-Z0-9_.-]{1,128}, PartitionKey 1..256 characters,
                         Data strict padded base64, Data + PartitionKey at
                         most 1 MiB per record (ValidationException) and 5 MiB
                         for the request (InvalidArgumentException).  Then the
                         script decides; records that do not fail are stored.
  DescribeStreamSummary  ACTIVE, one shard;  ListStreams  the streams seen so far.
With --require-sigv4 every operation needs a valid SigV4 signature for service
"kinesis" and that region (the SigV4 helpers of tests/mock_proxy.py); failures
answer 400 MissingAuthenticationTokenException, IncompleteSignatureException,
UnrecognizedClientException or InvalidSignatureException.

Script (POST /_mock/script, a JSON array; GET /_mock/stats): for each PutRecords
the first action whose "stream" (absent = any) matches and whose "times"
(default 1) is > 0 is used, and its times decremented.  Any action may carry
"delay_ms".  Kinds:
  {"failed":{"0":"ProvisionedThroughputExceededException","3":"InternalFailure"}}
        HTTP 200, FailedRecordCount > 0: those record indexes ("*" = every
        record) get that ErrorCode and an ErrorMessage and are not stored.
  {"status":400,"type":"ResourceNotFoundException","message":".."}
        a request-level error {"__type":..,"message":..} (x-amzn-ErrorType too);
        type defaults to InternalFailure (500), ServiceUnavailable (503),
        ValidationException otherwise.  "store":true stores the records first
        (the outcome a client cannot know: it must resend, duplicates follow).
  {"drop":"before"} / {"drop":"after"}   close without an answer ("after" stores)
  {"delay_ms":N}                          only the delay

Store (reset at startup), the format tests/verify.py reads:
  DIR/records/<stream>.jsonl  {"topic":STREAM,"partition":0,"offset":<sequence
      number>,"key":<PartitionKey>,"value":<Data as JSON, numbers exact>}
  DIR/requests.jsonl  {"seq","target","stream","status","records","failed",
      "stored","body_bytes","data_bytes","action","auth","keys"}; keys = the
      PartitionKeys of the request in order, data_bytes = the sum of Data plus
      PartitionKey bytes, what Kinesis limits (status null when dropped).
"""
import argparse
import base64
import calendar
import hashlib
import hmac
import json
import os
import re
import signal
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from mock_proxy import (dump, parse_json, quote, sigv4_canonical_request,  # noqa: E402
                        sigv4_signature)

AMZ_JSON = "application/x-amz-json-1.1"
SHARD = "shardId-000000000000"
STREAM_RE = re.compile(r"[a-zA-Z0-9_.-]{1,128}\Z")
B64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")
MESSAGES = {  # per-record ErrorMessage (shard, stream)
    "ProvisionedThroughputExceededException":
        "Rate exceeded for shard %s in stream %s under account 123456789012.",
    "InternalFailure": "Internal service failure.",
}
REQUEST_MESSAGES = {  # request-level message (stream)
    "ResourceNotFoundException": "Stream %s under account 123456789012 not found.",
    "AccessDeniedException": "User: arn:aws:iam::123456789012:user/pinemit is not authorized "
                             "to perform: kinesis:PutRecords on resource: %s",
    "ExpiredTokenException": "The security token included in the request is expired",
    "ProvisionedThroughputExceededException": "Rate exceeded for stream %s.",
    "InternalFailure": "Internal service failure.",
}
DEFAULT_TYPE = {500: "InternalFailure", 503: "ServiceUnavailable"}


class Refused(Exception):
    def __init__(self, status, type_, message):
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message


class State:
    def __init__(self, store, sigv4):
        self.store, self.sigv4 = store, sigv4
        self.lock = threading.Lock()
        self.script, self.seq, self.requests, self.records = [], 0, 0, 0
        self.next_sequence = 49590338271490256608559692538361571095921575989136588898
        self.streams = set()
        os.makedirs(os.path.join(store, "records"), exist_ok=True)
        for name in os.listdir(os.path.join(store, "records")):
            os.unlink(os.path.join(store, "records", name))
        open(os.path.join(store, "requests.jsonl"), "w").close()

    def take(self, stream):
        with self.lock:
            for a in self.script:
                if a.get("times", 1) > 0 and a.get("stream", stream) == stream:
                    a["times"] = a.get("times", 1) - 1
                    return dict(a)
        return {}

    def store_records(self, stream, records, keep):
        """Stores records[i] for i in keep; returns {i: sequence number}."""
        seqs = {}
        with self.lock, open(os.path.join(self.store, "records", stream + ".jsonl"), "a",
                             encoding="utf-8") as f:
            for i in keep:
                pk, data = records[i]
                seq, self.next_sequence = self.next_sequence, self.next_sequence + 1
                try:
                    value = dump(parse_json(data))
                except Exception:  # not JSON: stored so that verify.py reports it
                    value = quote(data.decode("utf-8", "replace"))
                f.write('{"topic":%s,"partition":0,"offset":%d,"key":%s,"value":%s}\n'
                        % (quote(stream), seq, quote(pk), value))
                seqs[i] = str(seq)
            f.flush()
            self.records += len(seqs)
        return seqs

    def log(self, entry):
        with self.lock:
            self.seq += 1
            entry = dict(entry, seq=self.seq)
            with open(os.path.join(self.store, "requests.jsonl"), "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def check_sigv4(cfg, headers, path, body):
    """None when the SigV4 signature is right, else (type, message)."""
    auth = (headers.get("Authorization") or "").strip()
    if not auth:
        return "MissingAuthenticationTokenException", "Missing Authentication Token"
    alg, _, rest = auth.partition(" ")
    fields = dict(p.strip().split("=", 1) for p in rest.split(",") if "=" in p)
    amz_date = (headers.get("X-Amz-Date") or "").strip()
    cred = fields.get("Credential", "").split("/")
    if alg != "AWS4-HMAC-SHA256" or len(cred) != 5 or not amz_date or not all(
            fields.get(k) for k in ("SignedHeaders", "Signature")):
        return "IncompleteSignatureException", "Incomplete SigV4 Authorization: " + auth[:200]
    akid, day, region, service, term = cred
    token = headers.get("X-Amz-Security-Token")
    if akid != cfg[1] or (token or None) != (cfg[3] if len(cfg) > 3 else None):
        return "UnrecognizedClientException", "The security token included in the request is invalid."
    if (day, region, service, term) != (amz_date[:8], cfg[0], "kinesis", "aws4_request"):
        return "InvalidSignatureException", "Credential should be scoped to %s/%s/kinesis/aws4_request, not %s" % (
            amz_date[:8], cfg[0], "/".join(cred[1:]))
    try:
        skew = abs(calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")) - time.time())
    except ValueError:
        return "IncompleteSignatureException", "Bad X-Amz-Date " + amz_date
    if skew > 300:
        return "InvalidSignatureException", "Signature expired: " + amz_date
    signed = sorted({n.strip().lower() for n in fields["SignedHeaders"].split(";")})
    if "host" not in signed or (token and "x-amz-security-token" not in signed):
        return "InvalidSignatureException", "host (and a session token) must be signed"
    creq = sigv4_canonical_request("POST", path.partition("?")[0], path.partition("?")[2],
                                   lambda n: headers.get_all(n) or [], signed,
                                   hashlib.sha256(body).hexdigest())
    expected = sigv4_signature(cfg[2], amz_date, region, "kinesis", creq).encode("ascii")
    if not hmac.compare_digest(expected, fields["Signature"].encode("latin-1", "replace")):
        return "InvalidSignatureException", ("The request signature we calculated does not "
                                             "match the signature you provided.")
    return None


def parse_put(payload):
    """-> (stream, [(partition key, data bytes)]) or raises Refused like Kinesis."""
    if not isinstance(payload, dict):
        raise Refused(400, "SerializationException", "body is not a JSON object")
    stream, recs = payload.get("StreamName"), payload.get("Records")
    bad = []
    if not isinstance(stream, str) or not STREAM_RE.match(stream):
        bad.append("Value at 'streamName' failed to satisfy constraint")
    if not isinstance(recs, list) or not 1 <= len(recs) <= 500:
        bad.append("Value at 'records' failed to satisfy constraint: Member must have length "
                   "less than or equal to 500 and greater than or equal to 1")
        recs = []
    out = []
    for i, r in enumerate(recs):
        pk, data = (r.get("PartitionKey"), r.get("Data")) if isinstance(r, dict) else (None, None)
        if not isinstance(pk, str) or not 1 <= len(pk) <= 256:
            bad.append("Value at 'records.%d.member.partitionKey' failed to satisfy constraint: "
                       "Member must have length between 1 and 256" % (i + 1))
        if not isinstance(data, str) or not B64_RE.match(data):
            raise Refused(400, "SerializationException", "records.%d: Data is not base64" % i)
        raw = base64.b64decode(data)
        if len(raw) + len((pk if isinstance(pk, str) else "").encode("utf-8")) > 1048576:
            bad.append("records.%d: Data plus PartitionKey is over 1 MiB" % (i + 1))
        out.append((pk if isinstance(pk, str) else "", raw))
    if bad:
        raise Refused(400, "ValidationException", "%d validation error%s detected: %s" % (
            len(bad), "s" if len(bad) > 1 else "", "; ".join(bad[:10])))
    if sum(len(pk.encode("utf-8")) + len(d) for pk, d in out) > 5 * 1048576:
        raise Refused(400, "InvalidArgumentException", "Records size exceeds 5 MB limit")
    return stream, out


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):  # no reverse DNS lookup of the address
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("fault_double: " + fmt % args + "\n")

    def send_json(self, status, obj, error_type=None):
        body = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", AMZ_JSON)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-%012d" % self.server.state.seq)
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        st = self.server.state
        if self.path != "/_mock/stats":
            return self.send_json(404, {"message": "not found"})
        with st.lock:
            stats = {"requests": st.requests, "records": st.records, "script": st.script}
        self.send_json(200, stats)

    def do_POST(self):
        st = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_mock/script":
            try:
                script = json.loads(body)
                assert isinstance(script, list) and all(isinstance(a, dict) for a in script)
                for a in script:  # "failed" indexes: integers or "*"
                    [int(i) for i in a.get("failed", {}) if i != "*"]
            except (ValueError, AssertionError, AttributeError, TypeError):
                return self.send_json(400, {"message": "script: a JSON array of actions"})
            with st.lock:
                st.script = script
            return self.send_json(200, {"ok": True})
        target = self.headers.get("X-Amz-Target", "")
        entry = {"target": target, "stream": None, "status": None, "records": None,
                 "failed": 0, "stored": 0, "body_bytes": len(body), "action": None,
                 "auth": (self.headers.get("Authorization") or "").split(" ")[0] or None}
        with st.lock:
            st.requests += 1
        try:
            self.operation(st, target, body, entry)
        except Refused as e:
            entry["status"] = e.status
            self.send_json(e.status, {"__type": e.type, "message": e.message}, e.type)
        st.log(entry)

    def operation(self, st, target, body, entry):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != AMZ_JSON or not target.startswith("Kinesis_20131202."):
            raise Refused(400, "UnknownOperationException", "Content-Type %r, target %r" % (ctype, target))
        if st.sigv4 is not None:
            problem = check_sigv4(st.sigv4, self.headers, self.path, body)
            if problem:
                raise Refused(400, *problem)
        try:
            payload = json.loads(body.decode("utf-8"))
        except ValueError:
            raise Refused(400, "SerializationException", "body is not JSON") from None
        op = target.split(".", 1)[1]
        if op == "ListStreams":
            entry["status"] = 200
            return self.send_json(200, {"StreamNames": sorted(st.streams), "HasMoreStreams": False})
        if op == "DescribeStreamSummary" and isinstance(payload, dict):
            entry["status"] = 200
            return self.send_json(200, {"StreamDescriptionSummary": {
                "StreamName": payload.get("StreamName"), "StreamStatus": "ACTIVE",
                "OpenShardCount": 1, "RetentionPeriodHours": 24, "EncryptionType": "NONE"}})
        if op != "PutRecords":
            raise Refused(400, "UnknownOperationException", op)
        stream, recs = parse_put(payload)
        entry.update(stream=stream, records=len(recs), keys=[pk for pk, _ in recs],
                     data_bytes=sum(len(pk.encode("utf-8")) + len(d) for pk, d in recs))
        with st.lock:
            st.streams.add(stream)
        a = st.take(stream)
        entry["action"] = next((k for k in ("failed", "status", "drop") if k in a), None)
        time.sleep(a.get("delay_ms", 0) / 1000.0)
        if a.get("drop") or "status" in a:
            if a.get("drop") == "after" or a.get("store"):
                entry["stored"] = len(st.store_records(stream, recs, range(len(recs))))
            if a.get("drop"):
                self.close_connection = True
                return
            status = int(a["status"])
            type_ = a.get("type") or DEFAULT_TYPE.get(status, "ValidationException")
            msg = a.get("message") or REQUEST_MESSAGES.get(type_, type_)
            raise Refused(status, type_, msg % stream if "%s" in msg else msg)
        failed = {int(i) if i != "*" else i: code for i, code in a.get("failed", {}).items()}
        codes = [failed.get(i, failed.get("*")) for i in range(len(recs))]
        seqs = st.store_records(stream, recs, [i for i, c in enumerate(codes) if c is None])
        out = []
        for i, c in enumerate(codes):
            if c is None:
                out.append({"SequenceNumber": seqs[i], "ShardId": SHARD})
            else:
                msg = MESSAGES.get(c, c)
                out.append({"ErrorCode": c,
                            "ErrorMessage": msg % (SHARD, stream) if "%s" in msg else msg})
        entry.update(status=200, failed=len(recs) - len(seqs), stored=len(seqs))
        self.send_json(200, {"FailedRecordCount": len(recs) - len(seqs), "Records": out,
                             "EncryptionType": "NONE"})


def main(argv=None):
    ap = argparse.ArgumentParser(description="Kinesis PutRecords fault double.")
    ap.add_argument("--store", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--require-sigv4", metavar="REGION:AKID:SECRET[:TOKEN]")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    sigv4 = None
    if a.require_sigv4:
        sigv4 = a.require_sigv4.split(":", 3)
        if len(sigv4) < 3 or not all(sigv4):
            ap.error("--require-sigv4 wants REGION:ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]")
    server = Server(("127.0.0.1", a.port), Handler)
    server.state, server.quiet = State(a.store, sigv4), a.quiet
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              daemon=True)
    thread.start()
    port = server.server_address[1]
    if a.port_file:
        tmp = "%s.tmp.%d" % (a.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, a.port_file)
    if not a.quiet:
        print("fault_double: listening on 127.0.0.1:%d" % port, file=sys.stderr, flush=True)
    parent = os.getppid()
    while not stop.wait(0.5) and thread.is_alive() and os.getppid() == parent:
        pass  # (a test that died cannot stop us: stop with it)
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
