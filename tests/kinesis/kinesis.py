#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Minimal Kinesis Data Streams client for the tests (Python standard library).

  python3 tests/kinesis/kinesis.py --endpoint URL [--region R] create STREAM [--shards N]
  python3 tests/kinesis/kinesis.py --endpoint URL [--region R] read STREAM --out FILE
  python3 tests/kinesis/kinesis.py --endpoint URL [--region R] delete STREAM
  python3 tests/kinesis/kinesis.py --endpoint URL [--region R] list

URL is http://127.0.0.1:PORT (kinesalite, tests/kinesis/kinesalite.js, or the
fault double); the environment variable KINESIS_ENDPOINT may give it instead.

create   CreateStream, then DescribeStreamSummary until the stream is ACTIVE
         (at most --timeout seconds).  A stream that already exists is fine.
read     For every shard: GetShardIterator TRIM_HORIZON, then GetRecords until a
         call returns no records and MillisBehindLatest is 0 (caught up), at most
         --timeout seconds in all.  Writes FILE (a temporary file renamed into
         place) with one line per record, sorted by (partition, offset):
           {"topic":STREAM,"partition":<shard index>,"offset":<sequence number>,
            "key":<PartitionKey>,"value":<Data, base64-decoded, as JSON>}
         the store format that tests/verify.py reads (STORE/records/TOPIC.jsonl),
         numbers inside the value kept as their exact text.  Data that is not
         UTF-8 JSON is an error (pinemit sends only JSON values).
delete   DeleteStream (a missing stream is fine).
list     ListStreams: prints the names, one per line.

Every request is POST / with X-Amz-Target: Kinesis_20131202.<Operation> and
Content-Type: application/x-amz-json-1.1.  It carries a syntactically valid but
unsigned SigV4 Authorization header and an X-Amz-Date: kinesalite checks that
Credential, SignedHeaders and Signature are present and that X-Amz-Date (or Date)
is, never the signature itself.  Exit 0 on success, 1 on any error (one line on
stderr), 2 on bad usage.
"""
import argparse
import base64
import http.client
import json
import os
import sys
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from mock_proxy import dump, parse_json, quote  # noqa: E402  (exact-number JSON)

AMZ_JSON = "application/x-amz-json-1.1"
TARGET = "Kinesis_20131202."


class KinesisError(Exception):
    pass


class Client:
    def __init__(self, endpoint, region, timeout):
        u = urlsplit(endpoint)
        if u.scheme != "http" or not u.hostname:
            raise KinesisError("endpoint must be http://HOST:PORT, not %r" % endpoint)
        self.host, self.port = u.hostname, u.port or 80
        self.region, self.timeout = region, timeout
        self.conn = None

    def call(self, op, payload):
        """POST one operation; returns the decoded JSON answer of a 200."""
        body = json.dumps(payload).encode("utf-8")
        now = time.gmtime()
        headers = {
            "Content-Type": AMZ_JSON,
            "X-Amz-Target": TARGET + op,
            "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", now),
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDTEST/%s/%s/kinesis/aws4_request, "
                             "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0"
                             % (time.strftime("%Y%m%d", now), self.region),
        }
        for attempt in (1, 2):  # one reconnect if a kept-alive connection was closed
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request("POST", "/", body, headers)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (ConnectionError, http.client.HTTPException) as e:
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise KinesisError("%s: %s" % (op, e)) from None
            except OSError as e:
                raise KinesisError("%s: %s" % (op, e)) from None
        try:
            answer = json.loads(data.decode("utf-8")) if data else {}
        except ValueError:
            answer = {"message": data[:200].decode("utf-8", "replace")}
        if resp.status != 200:
            raise KinesisError("%s: HTTP %d %s: %s" % (
                op, resp.status, answer.get("__type", ""), answer.get("message", "")))
        return answer


def create(client, stream, shards, deadline):
    try:
        client.call("CreateStream", {"StreamName": stream, "ShardCount": shards})
    except KinesisError as e:
        if "ResourceInUseException" not in str(e):
            raise
    while True:
        summary = client.call("DescribeStreamSummary", {"StreamName": stream})
        status = summary["StreamDescriptionSummary"]["StreamStatus"]
        if status == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise KinesisError("stream %s is still %s" % (stream, status))
        time.sleep(0.05)


def list_shards(client, stream):
    shards, payload = [], {"StreamName": stream}
    while True:
        answer = client.call("ListShards", payload)
        shards += answer.get("Shards", [])
        token = answer.get("NextToken")
        if not token:
            return shards
        payload = {"NextToken": token}


def shard_index(shard_id):
    # shardId-000000000003 -> 3
    try:
        return int(shard_id.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        raise KinesisError("unexpected shard id %r" % shard_id) from None


def read(client, stream, out, deadline, max_calls=100000):
    lines = []
    calls = 0
    for shard in list_shards(client, stream):
        sid = shard["ShardId"]
        part = shard_index(sid)
        it = client.call("GetShardIterator", {"StreamName": stream, "ShardId": sid,
                                              "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
        while it:
            calls += 1
            if calls > max_calls or time.monotonic() > deadline:
                raise KinesisError("stream %s shard %s: not caught up in time" % (stream, sid))
            answer = client.call("GetRecords", {"ShardIterator": it, "Limit": 10000})
            records = answer.get("Records", [])
            for r in records:
                seq = r["SequenceNumber"]
                try:
                    raw = base64.b64decode(r["Data"], validate=True)
                    value = parse_json(raw)
                except Exception as e:  # binascii.Error, UnicodeDecodeError, mock_proxy.ApiError
                    raise KinesisError("stream %s shard %s sequence %s: Data is not base64 "
                                       "of UTF-8 JSON: %s" % (stream, sid, seq, e)) from None
                lines.append((part, int(seq),
                              '{"topic":%s,"partition":%d,"offset":%s,"key":%s,"value":%s}'
                              % (quote(stream), part, int(seq), quote(r["PartitionKey"]),
                                 dump(value))))
            it = answer.get("NextShardIterator")
            if not records and answer.get("MillisBehindLatest", 0) == 0:
                break
    lines.sort(key=lambda x: (x[0], x[1]))
    tmp = "%s.tmp.%d" % (out, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        for _, _, line in lines:
            f.write(line + "\n")
    os.replace(tmp, out)
    return len(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Minimal Kinesis client for the tests.")
    ap.add_argument("--endpoint", default=os.environ.get("KINESIS_ENDPOINT"))
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="seconds for the whole command (default 30)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("create")
    p.add_argument("stream")
    p.add_argument("--shards", type=int, default=1)
    p = sub.add_parser("read")
    p.add_argument("stream")
    p.add_argument("--out", required=True)
    p = sub.add_parser("delete")
    p.add_argument("stream")
    sub.add_parser("list")
    a = ap.parse_args(argv)
    if not a.endpoint:
        ap.error("--endpoint (or KINESIS_ENDPOINT) is required")
    deadline = time.monotonic() + a.timeout
    try:
        client = Client(a.endpoint, a.region, min(a.timeout, 10.0))
        if a.cmd == "create":
            create(client, a.stream, a.shards, deadline)
        elif a.cmd == "read":
            n = read(client, a.stream, a.out, deadline)
            print("kinesis.py: %s: %d records" % (a.stream, n), file=sys.stderr)
        elif a.cmd == "delete":
            try:
                client.call("DeleteStream", {"StreamName": a.stream})
            except KinesisError as e:
                if "ResourceNotFoundException" not in str(e):
                    raise
        else:
            payload = {}
            while True:
                answer = client.call("ListStreams", payload)
                for name in answer.get("StreamNames", []):
                    print(name)
                if not answer.get("HasMoreStreams") or not answer.get("StreamNames"):
                    break
                payload = {"ExclusiveStartStreamName": answer["StreamNames"][-1]}
    except KinesisError as e:
        print("kinesis.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
