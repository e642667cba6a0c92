#!/usr/bin/env python3
"""Strict mock of the Confluent Kafka REST Proxy v2 produce API behind AWS API Gateway.

Python 3.11 standard library only. Behaviour follows /work/shared/docs/rest-proxy-v2.md.

Usage:
    python3 tests/mock_proxy.py --store DIR [--port N] [--port-file FILE]
        [--base-path /test] [--topics a,b,c] [--auto-create] [--partitions N]
        [--max-record-bytes N] [--max-body-bytes N] [--script FILE]
        [--chaos RATE] [--chaos-seed N] [--reject-marker TEXT] [--max-open K]
        [--require-api-key VALUE] [--require-basic USER:PASSWORD]
        [--require-sigv4 REGION:ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]]
        [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--quiet]

Listens on 127.0.0.1 only. After binding, the port is written to --port-file (temp file +
rename) and "listening on 127.0.0.1:PORT" goes to stderr (unless --quiet). SIGTERM/SIGINT
stop it cleanly with exit status 0. Bad options exit with status 2.

Endpoints (after --base-path; anything outside it gets API Gateway's 403
"Missing Authentication Token"): GET /, GET /topics, GET /topics/T,
GET /topics/T/partitions[/P], POST /topics/T, POST /topics/T/partitions/P.
Bodies over --max-body-bytes get API Gateway's 413 {"message":"Request Too Long"} with
"Connection: close", sent as soon as the Content-Length (or the chunked data read so far)
exceeds the limit, without waiting for the body and without "100 Continue" to an
"Expect: 100-continue". The body is then read and discarded after the answer (lingering
close: half-close, drain until the client closes, at most 10 s, 2 s idle), so the client
reads the 413 rather than a connection reset. Its requests.jsonl body_bytes is the declared
Content-Length (chunked: the bytes counted up to the limit).
Mock control at the root (never under the base path, never logged):
    GET /_mock/stats     {"requests":n,"records":n,"by_topic":{...},"script":[...],
                          "chaos":{"<kind>":n,... every chaos kind},"rejected":n}
                         (rejected = records refused by --reject-marker)
    POST /_mock/script   replace the script (JSON array) -> {"ok":true}

Store (reset at startup):
    DIR/records/<topic>.jsonl  one line per accepted record, written and flushed before the
        response: {"topic":T,"partition":P,"offset":O,"key":K,"value":V}. K and V are the
        JSON sent, numbers kept byte-exact (json format), or for the binary format the
        decoded bytes as a string (bytes that are not UTF-8 become \\udcXX escapes).
    DIR/requests.jsonl  one line per request: {"seq","time","method","path","topic","status",
        "content_type","accept","body_bytes","records","accepted","action","auth","headers"};
        status is null when the connection was dropped; accepted = records stored by this
        request (also when they were stored behind an error answer); action = the script
        action's kind, "chaos:<kind>" for a chaos fault, or null. auth = what the client sent,
        never a secret: "sigv4" (Authorization: AWS4-HMAC-SHA256 ...), "basic" (Authorization:
        Basic ...), else "api-key" (an x-api-key header), else null. headers = the request's
        user-agent, x-request-source, content-type, accept and x-custom-* headers (lower-case
        name -> value, repeats joined by ", "); no other header is ever logged.

Script: a JSON array of actions for produce requests. The first action whose "topic" (absent
= any) matches and whose "times" (default 1) is > 0 is used and its times decremented.
Any action may carry "delay_ms" (sleep first). Kinds:
    {"delay_ms":N}                               sleep, then process normally
    {"status":503,"body":"..","content_type":"text/html","retry_after":"5"}
                                                 answer that (Retry-After only if given:
                                                 seconds or an HTTP date, sent as is)
    {"gateway":"Too Many Requests","status":429,"retry_after":"5","error_type":".."}
                                                 {"message":..} body
    {"drop":"before"} / {"drop":"after"}         close without answer; "after" stores first
    {"record_errors":{"0":50002,"3":50003}}      per-record errors at those indexes; HTTP 200
                                                 (40101 / 40301 turn the status into 401 / 403)
    {"proxy_error":500,"error_code":50001,"message":".."}   proxy error body
    {"garbage":true}                             200 text/html "<html>oops"
    {"short_offsets":true}                       200, one offsets entry too few
    {"raw":"<body>","status":200}                that exact body
By default the error answers (status, gateway, proxy_error, garbage, short_offsets, raw) store
nothing. Options on them:
    "store":true    first store the request's records exactly as a successful produce would
                    (offsets advance; per-record failures such as unknown topic, too large
                    or the reject marker are not stored), then send the error answer:
                    "504 from API Gateway but the proxy wrote the records anyway". With
                    short_offsets the answer then holds the real offsets minus the last.
    "partial":N     (status and proxy_error only; implies store) store only the first N
                    records of the batch (all if N >= batch size), then answer: "500 after
                    some records were written" (a batch is not atomic).
    Storing needs a request the proxy would take (produce Content-Type, Accept, valid
    body); for any other request nothing is stored and the scripted answer is still sent.
"store" on other kinds, "partial" on other kinds or < 0, and unknown fields are rejected.

Chaos (--chaos RATE, 0..1, default 0 = off; --chaos-seed N, default 1): each produce request
that no script action matched gets, with probability RATE, one fault drawn uniformly from the
kinds below by random.Random(seed) under the lock. Every produce request consumes the same
three draws (hit, kind, a seed for the fault's own choices such as partial count, subset and
delay), so a run is reproducible given the same request order. GETs, 403s outside the base
path and 413s are never chaos'd. requests.jsonl action: "chaos:<kind>". Kinds:
    proxy_500_partial        500 {"error_code":500,"message":"Unexpected non-Kafka exception
                             returned by Kafka"} after storing a random 0..n of the records
    html_502 / html_503      502 / 503 text/html page (load balancer); nothing stored
    gateway_504_stored       504 {"message":"Endpoint request timed out"}, all records stored
    gateway_504              the same 504, nothing stored
    gateway_429              429 {"message":"Too Many Requests"}, no Retry-After, nothing stored
    gateway_429_retry_after  the same 429 with "Retry-After: 1"
    drop_before / drop_after close without an answer; "after" stores first
    record_50003             HTTP 200, per-record 50003 on a random non-empty subset of the
                             records (chosen among those the reject marker leaves, if any);
                             the others stored
    garbage                  200 text/html "<html>oops", nothing stored
    delay                    sleep 300-800 ms, then normal processing
proxy_500_partial and gateway_504_stored store like "partial"/"store" above (a request the
proxy would reject stores nothing, the fault is still answered); drop_after, record_50003
and delay go through normal processing, so such a request gets its normal 4xx.

Throttling (--max-open K, default 0 = off): a produce request that finds K others still
being answered (a client with more than K requests open at once) gets API Gateway's 429
{"message":"Too Many Requests"} (x-amzn-ErrorType: TooManyRequestsException, no
Retry-After) at once, before any script action or chaos draw; nothing is stored.
requests.jsonl action: "max_open". /_mock/stats gains "open_peak" (the most produce
requests open at once, throttled ones included) and "throttled".

Reject marker (--reject-marker TEXT, independent of chaos): a record whose serialized value
(json: the JSON text; binary: the decoded bytes) contains TEXT gets per-record
50002 "Record rejected: marker" (permanent) and is never stored, whatever else happens to
the batch (normal success, script record_errors, chaos record_50003, store/partial); the
other records are treated as usual. Counted in /_mock/stats "rejected".

Authentication (each off by default; checked after the base-path 403 and the 413, before
routing, on every request under the base path; /_mock/ never needs it). Order: SigV4, API
key (both API Gateway), then Basic (the proxy). Secrets are compared with
hmac.compare_digest.
    --require-api-key VALUE   no x-api-key header, or another value: API Gateway's 403
                              {"message":"Forbidden"}, x-amzn-ErrorType: ForbiddenException.
    --require-basic USER:PASSWORD   no "Authorization: Basic base64(USER:PASSWORD)" (scheme
                              case-insensitive, strict base64): 401 {"error_code":40101,
                              "message":"Unauthorized"}, WWW-Authenticate: Basic
                              realm="kafka-rest". Cannot be combined with --require-sigv4
                              (both use the Authorization header; exit 2).
    --require-sigv4 REGION:AKID:SECRET[:TOKEN]   API Gateway IAM authorization, AWS Signature
        Version 4 in the Authorization header (not presigned query strings), service
        execute-api. 403 answers (body {"message":..}, x-amzn-ErrorType in brackets):
          no Authorization                    Missing Authentication Token
                                              [MissingAuthenticationTokenException]
          not key=value pairs (Bearer, Basic) Invalid key=value pair (missing equal-sign) in
                                              Authorization header (hashed with SHA-256 and
                                              encoded with Base64): '<b64 sha256>'.
                                              [IncompleteSignatureException]
          algorithm not AWS4-HMAC-SHA256, missing Credential / Signature / SignedHeaders /
          X-Amz-Date (a Date header is not accepted instead), X-Amz-Date not YYYYMMDDTHHMMSSZ,
          Credential not 5 "/" parts, host not in SignedHeaders
                                              AWS-style texts [IncompleteSignatureException]
          other access key id; X-Amz-Security-Token missing or different when TOKEN is
          configured, or sent when it is not  The security token included in the request is
                                              invalid. [AccessDeniedException, as in
                                              GATEWAY_ERRORS]
          scope terminator not aws4_request, service not execute-api, region not REGION,
          scope date not the X-Amz-Date day  AWS-style "Credential should be scoped ..." /
                                              "Date in Credential scope does not match ..."
                                              [InvalidSignatureException]
          X-Amz-Date over 5 minutes in the past  Signature expired: <date> is now earlier than
                                              <now-5min> (<now> - 5 min.)
          ... over 5 minutes in the future    Signature not yet current: <date> is still later
                                              than <now+5min> (<now> + 5 min.) (AWS's text)
                                              [both InvalidSignatureException]
          wrong signature; X-Amz-Content-Sha256 sent but not the body's SHA-256; TOKEN
          configured but x-amz-security-token not in SignedHeaders
                                              The request signature we calculated does not
                                              match the signature you provided. Check your AWS
                                              Secret Access Key and signing method. Consult the
                                              service documentation for details.
                                              [InvalidSignatureException]
        The signature is recomputed exactly as for AWS services other than S3:
          canonical request = method, canonical URI, canonical query, canonical headers,
            signed headers, hex SHA-256 of the exact body bytes (always; X-Amz-Content-Sha256
            is only compared, UNSIGNED-PAYLOAD is not accepted);
          canonical URI = the path as sent on the wire (already percent-encoded once),
            dot segments and empty segments ("//") removed, then URI-encoded again with "/"
            kept (unreserved A-Za-z0-9-._~ stay, other bytes %XX upper-case): AWS's "each
            segment encoded twice", so /a%20b signs as /a%2520b and /a:b as /a%3Ab. libcurl
            7.88's signer uses the path and query verbatim, which agrees whenever the path
            holds only unreserved characters and "/" (stage and legal topic names) and there
            is no query; otherwise its signature is refused here, as it would be by AWS;
          canonical query = each name and value percent-decoded ("+" stays a plus) and
            re-encoded, "name=" for a bare name, sorted by name then value;
          canonical headers = SignedHeaders lower-cased and sorted; "name:value\n" with the
            request's values for that name joined by ",", each trimmed, inner whitespace runs
            collapsed to one space (a signed header that is absent has an empty value);
          string to sign = AWS4-HMAC-SHA256, X-Amz-Date, DATE/REGION/execute-api/aws4_request,
            hex SHA-256 of the canonical request; key = HMAC-SHA256 chain "AWS4"+SECRET ->
            date -> region -> service -> "aws4_request"; compared with hmac.compare_digest.
        Unless --quiet, a mismatch prints the expected canonical request and string to sign
        to stderr. sigv4_signature() etc. are plain functions (service is a parameter).

TLS (off by default): --tls-cert FILE --tls-key FILE (PEM, both or neither) serve HTTPS on the
same port, mock control included; keep-alive works as over HTTP. The handshake runs in each
connection's thread (at most 10 s), so a stalled client cannot block others. With
--tls-client-ca FILE a client certificate signed by that CA is required (mutual TLS); without
one the handshake fails and the connection is closed before any HTTP (nothing logged; with
TLS 1.3 the client sees the alert when it reads). Unreadable or bad files exit 2.
tests/tls/mkcerts.sh DIR makes a throwaway CA, server (127.0.0.1, localhost) and client
certificate.

Record size check: key+value bytes plus Kafka's batch/record overhead (about 85 bytes) must
not exceed --max-record-bytes, else per-record 50002. Records without partition go by Kafka's
murmur2 hash of the key bytes, or round-robin for null keys.
"""

import argparse
import base64
import binascii
import calendar
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
import uuid
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote as url_quote, unquote, unquote_to_bytes, urlsplit

KAFKA_V2 = "application/vnd.kafka.v2+json"
PRODUCE_TYPES = {"application/vnd.kafka.%s.v2+json" % f: f
                 for f in ("binary", "json", "avro", "jsonschema", "protobuf")}
SCHEMA_FORMATS = ("avro", "jsonschema", "protobuf")
TOPIC_RE = re.compile(r"[A-Za-z0-9._-]{1,249}\Z")
INT_RE = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
TOP_FIELDS = ("records", "key_schema", "key_schema_id", "value_schema", "value_schema_id")
RECORD_FIELDS = ("key", "value", "partition")
TOO_LARGE = object()

# message -> (status, x-amzn-ErrorType); only types the fact sheet pins are filled in.
GATEWAY_ERRORS = {
    "Missing Authentication Token": (403, "MissingAuthenticationTokenException"),
    "Forbidden": (403, "ForbiddenException"),
    "The security token included in the request is invalid.": (403, "AccessDeniedException"),
    "Signature expired": (403, "InvalidSignatureException"),
    "Too Many Requests": (429, None),
    "Limit Exceeded": (429, None),
    "Request Too Long": (413, None),
    "Endpoint request timed out": (504, None),
    "Internal server error": (500, None),
}
FORCED_MESSAGES = {
    50002: "The request included a message larger than the max message size the server will accept.",
    50003: "Expiring 1 record(s) for {topic}-{partition}:120000 ms has passed since batch creation",
    40101: "Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN",
    40301: "Not authorized to access topics: [{topic}]",
}
ACTION_KINDS = ("gateway", "drop", "record_errors", "proxy_error", "garbage",
                "short_offsets", "raw", "status", "delay_ms")
ACTION_TYPES = {"topic": (str, type(None)), "times": int, "delay_ms": (int, float),
                "status": int, "body": str, "content_type": str, "gateway": str, "retry_after": str, "error_type": str,
                "drop": str, "record_errors": dict, "proxy_error": int, "error_code": int,
                "message": str, "garbage": bool, "short_offsets": bool, "raw": str,
                "store": bool, "partial": int}
STORE_KINDS = ("status", "gateway", "proxy_error", "garbage", "raw", "short_offsets")
PARTIAL_KINDS = ("status", "proxy_error")
REJECT_MESSAGE = "Record rejected: marker"
HTML_PAGES = {
    502: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
         "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
    503: "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
         "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n",
}
# Chaos faults, drawn uniformly; each maps to an action like a script's (see the docstring).
CHAOS_KINDS = ("proxy_500_partial", "html_502", "html_503", "gateway_504_stored", "gateway_504",
               "gateway_429", "gateway_429_retry_after", "drop_before", "drop_after",
               "record_50003", "garbage", "delay")
RANDOM = "random"  # placeholder in a chaos action: drawn from the request's own generator
DRAIN_SECONDS, DRAIN_IDLE_SECONDS, DRAIN_MAX_BYTES = 10.0, 2.0, 1 << 30
SHORTCUT_KINDS = ("status", "gateway", "drop_before", "proxy_error", "garbage",
                  "short_offsets", "raw")

Record = namedtuple("Record", "key_text value_text key_bytes value_bytes partition")

# ---- authentication -----------------------------------------------------------------------
SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"
SIGV4_SERVICE = "execute-api"
SIGV4_MAX_SKEW = 300  # seconds either way, as AWS allows
SIGV4_MISMATCH = ("The request signature we calculated does not match the signature you "
                  "provided. Check your AWS Secret Access Key and signing method. Consult the "
                  "service documentation for details.")
INVALID_TOKEN = "The security token included in the request is invalid."
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
AMZ_DATE_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z\Z")
SigV4Config = namedtuple("SigV4Config", "region access_key_id secret session_token")
# request headers copied into requests.jsonl "headers" (plus any x-custom-*)
LOGGED_HEADERS = ("user-agent", "x-request-source", "content-type", "accept")
TLS_HANDSHAKE_SECONDS = 10


class RawNumber(str):
    """A JSON number kept as its exact source text (e.g. 1.10, 1e+100, -0)."""

    def is_int32(self):
        return INT_RE.match(self) is not None and -2**31 <= int(self) < 2**31


class ApiError(Exception):
    def __init__(self, status, message, error_code=None):
        super().__init__(message)
        self.status, self.message = status, message
        self.error_code = status if error_code is None else error_code


def _reject_constant(name):
    raise ValueError("Non-standard token '%s': NaN and Infinity are not JSON" % name)


def parse_json(data):
    """Parse a request body, keeping every number's text; malformed input -> ApiError 400."""
    try:
        return json.loads(data.decode("utf-8"), parse_int=RawNumber, parse_float=RawNumber,
                          parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ApiError(400, "JSON parse error: %s" % e) from None


_ESCAPE_RE = re.compile(r'["\\\x00-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]')
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                  "\b": "\\b", "\f": "\\f"}


def quote(s):
    """JSON string literal. Escapes controls, line separators Python's splitlines() splits on
    and lone surrogates, so the result is one valid UTF-8 line."""
    return '"' + _ESCAPE_RE.sub(lambda m: _SHORT_ESCAPES.get(m.group())
                                or "\\u%04x" % ord(m.group()), s) + '"'


def dump(v):
    """Compact JSON for a parse_json() result; RawNumber text is written unchanged."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, RawNumber):
        return str.__str__(v)
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ",".join(dump(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(quote(k) + ":" + dump(x) for k, x in v.items()) + "}"
    raise TypeError("cannot serialize %r" % type(v))


def murmur2(data):
    """Kafka's default partitioner hash (32-bit MurmurHash2, seed 0x9747b28c)."""
    m, n, mask = 0x5BD1E995, len(data), 0xFFFFFFFF
    h = 0x9747B28C ^ n
    whole = n - n % 4
    for i in range(0, whole, 4):
        k = (int.from_bytes(data[i:i + 4], "little") * m) & mask
        k = ((k ^ (k >> 24)) * m) & mask
        h = ((h * m) & mask) ^ k
    tail = n % 4
    if tail == 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h = ((h ^ data[whole]) * m) & mask
    h = ((h ^ (h >> 13)) * m) & mask
    return h ^ (h >> 15)


def _varint_size(n):
    v, size = ((n << 1) ^ (n >> 31)) & 0xFFFFFFFF, 1
    while v >= 0x80:
        v, size = v >> 7, size + 1
    return size


def serialized_size(key, value):
    """Upper-bound size Kafka's producer checks against max.request.size: 61 bytes of batch
    header, 21 of record header, 1 for the header count, and length-prefixed key/value."""
    size = 61 + 21 + 1
    for b in (key, value):
        size += 1 if b is None else _varint_size(len(b)) + len(b)
    return size


def media_type(header):
    return header.split(";", 1)[0].strip().lower()


def validate_action(a):
    """Check one script action; return a copy with "times" and "kind" filled in."""
    if not isinstance(a, dict):
        raise ValueError("each action must be a JSON object")
    for key, value in a.items():
        want = ACTION_TYPES.get(key)
        if want is None:
            raise ValueError("unknown action field: %s" % key)
        if not isinstance(value, want) or (isinstance(value, bool) and want is not bool):
            raise ValueError("action field %s has the wrong type" % key)
    kind = next((k for k in ACTION_KINDS if k in a), None)
    if kind is None:
        raise ValueError("action has no effect: %s" % json.dumps(a))
    if a.get("drop", "before") not in ("before", "after") or a.get("delay_ms", 0) < 0:
        raise ValueError('drop must be "before" or "after"; delay_ms must be >= 0')
    if "store" in a and kind not in STORE_KINDS:
        raise ValueError('"store" only applies to %s actions' % "/".join(STORE_KINDS))
    if "partial" in a and (kind not in PARTIAL_KINDS or a["partial"] < 0):
        raise ValueError('"partial" must be >= 0 and only applies to %s actions'
                         % "/".join(PARTIAL_KINDS))
    a = dict(a, times=a.get("times", 1))
    if kind == "record_errors":
        errs = a["record_errors"]
        if not all(re.fullmatch(r"[0-9]+", k) and type(v) is int for k, v in errs.items()):
            raise ValueError('record_errors must look like {"0":50002}')
        a["record_errors"] = {int(k): v for k, v in errs.items()}
    a["kind"] = {"drop": "drop_" + a.get("drop", ""), "delay_ms": "delay"}.get(kind, kind)
    return a


def wire_bytes(text):
    """Bytes of a request-line or header string (http.server decodes them as latin-1);
    other text (unit tests) as UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def aws_uri_encode(data, keep_slash=False):
    """AWS SigV4 URI encoding: the RFC 3986 unreserved characters A-Z a-z 0-9 - . _ ~ stay,
    every other byte becomes %XX with upper-case hex ("/" too, unless keep_slash)."""
    if isinstance(data, str):
        data = wire_bytes(data)
    return url_quote(data, safe="/" if keep_slash else "")


def normalize_path(path):
    """RFC 3986 dot-segment removal plus AWS's collapsing of empty segments ("//");
    a trailing slash is kept; an empty path is "/"."""
    segs = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segs:
                segs.pop()
            continue
        segs.append(seg)
    return "/" + "/".join(segs) + ("/" if segs and path.endswith("/") else "")


def sigv4_canonical_uri(wire_path):
    """Canonical URI for every service but S3: the path as sent on the wire (already
    percent-encoded once by the client), normalized, then URI-encoded again with "/" kept.
    Relative to the unencoded path that is AWS's "each segment URI-encoded twice":
    a wire path /a%20b gives /a%2520b, /a:b gives /a%3Ab."""
    return aws_uri_encode(normalize_path(wire_path), keep_slash=True)


def sigv4_canonical_query(query):
    """Each name and value percent-decoded (a "+" stays a literal plus) and AWS-URI-encoded,
    a missing "=" meaning an empty value; pairs sorted by name, then value."""
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((aws_uri_encode(unquote_to_bytes(wire_bytes(name))),
                          aws_uri_encode(unquote_to_bytes(wire_bytes(value)))))
    return "&".join("%s=%s" % p for p in sorted(pairs))


def sigv4_canonical_request(method, path, query, header_values, signed_headers, payload_hash):
    """The SigV4 canonical request. header_values(name) -> list of the request's values of a
    header (lower-case name); several values are joined with ",", each trimmed with its inner
    whitespace runs collapsed to one space. signed_headers: lower-case names, sorted."""
    lines = "".join("%s:%s\n" % (n, ",".join(" ".join(v.split()) for v in header_values(n)))
                    for n in signed_headers)
    return "\n".join((method, sigv4_canonical_uri(path), sigv4_canonical_query(query), lines,
                      ";".join(signed_headers), payload_hash))


def sigv4_signing_key(secret, date, region, service):
    """kSigning = HMAC chain over date (YYYYMMDD), region, service, "aws4_request"."""
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def sigv4_string_to_sign(amz_date, scope, canonical_request):
    return "\n".join((SIGV4_ALGORITHM, amz_date, scope,
                      hashlib.sha256(wire_bytes(canonical_request)).hexdigest()))


def sigv4_signature(secret, amz_date, region, service, canonical_request):
    """Hex SigV4 signature of a canonical request (amz_date like 20150830T123600Z)."""
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    return hmac.new(sigv4_signing_key(secret, amz_date[:8], region, service),
                    sigv4_string_to_sign(amz_date, scope, canonical_request).encode("utf-8"),
                    hashlib.sha256).hexdigest()


def parse_sigv4_option(text):
    """REGION:ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN] -> SigV4Config."""
    parts = text.split(":", 3)
    if len(parts) < 3 or not all(parts):
        raise ValueError("--require-sigv4 wants REGION:ACCESS_KEY_ID:SECRET_ACCESS_KEY"
                         "[:SESSION_TOKEN], all non-empty")
    return SigV4Config(parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else None)


def make_tls_context(cert, key, client_ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=client_ca)
    return ctx


class State:
    """Topics, offsets, script and store files; everything guarded by one lock."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.base_path = args.base_path.rstrip("/")
        if self.base_path and not self.base_path.startswith("/"):
            self.base_path = "/" + self.base_path
        self.auto_create, self.partitions = args.auto_create, args.partitions
        self.max_record, self.max_body = args.max_record_bytes, args.max_body_bytes
        self.topics = {}
        for t in filter(None, (s.strip() for s in args.topics.split(","))):
            if not TOPIC_RE.match(t) or t in (".", ".."):
                raise ValueError("invalid topic name %r" % t)
            self.topics[t] = args.partitions
        self.next_offset, self.round_robin = {}, {}
        self.script, self.seq, self.total, self.by_topic = [], 0, 0, {}
        self.marker = args.reject_marker.encode("utf-8") if args.reject_marker else None
        self.rejected = 0
        self.max_open, self.open, self.open_peak, self.throttled = args.max_open, 0, 0, 0
        self.chaos_rate = args.chaos
        self.chaos_rng = random.Random(args.chaos_seed)
        self.chaos_counts = {k: 0 for k in CHAOS_KINDS}
        self.api_key = None if args.require_api_key is None else \
            args.require_api_key.encode("utf-8")
        self.basic = None
        if args.require_basic is not None:
            if ":" not in args.require_basic:
                raise ValueError("--require-basic wants USER:PASSWORD")
            self.basic = args.require_basic.encode("utf-8")
        self.sigv4 = None if args.require_sigv4 is None else parse_sigv4_option(args.require_sigv4)
        if self.basic is not None and self.sigv4 is not None:
            raise ValueError("--require-basic and --require-sigv4 both need the Authorization "
                             "header; use one of them")
        self.rec_dir = os.path.join(args.store, "records")
        os.makedirs(self.rec_dir, exist_ok=True)
        for name in os.listdir(self.rec_dir):
            if name.endswith(".jsonl"):
                os.remove(os.path.join(self.rec_dir, name))
        self.rec_files = {}
        self.req_log = open(os.path.join(args.store, "requests.jsonl"), "wb")

    def set_script(self, actions):
        if not isinstance(actions, list):
            raise ValueError("script must be a JSON array")
        checked = [validate_action(a) for a in actions]
        with self.lock:
            self.script = checked

    def script_view(self):
        with self.lock:
            return [{k: v for k, v in a.items() if k != "kind"} for a in self.script]

    def take_action(self, topic):
        with self.lock:
            for a in self.script:
                if a.get("topic") in (None, topic) and a["times"] > 0:
                    a["times"] -= 1
                    return a
        return None

    def chaos_draw(self):
        """Chaos decision for one produce request no script action matched: None, or
        (kind, generator for the fault's own random choices). Every request consumes the
        same three values of the seeded generator, so a run is reproducible given the same
        request order, whatever the batches hold."""
        if self.chaos_rate <= 0:
            return None
        with self.lock:
            rng = self.chaos_rng
            hit, kind, sub = rng.random() < self.chaos_rate, rng.choice(CHAOS_KINDS), rng.getrandbits(64)
            if not hit:
                return None
            self.chaos_counts[kind] += 1
        return kind, random.Random(sub)

    def is_marked(self, rec):
        return self.marker is not None and rec.value_bytes is not None and \
            self.marker in rec.value_bytes

    def log_request(self, entry):
        with self.lock:
            self.seq += 1
            line = json.dumps(dict({"seq": self.seq}, **entry), separators=(",", ":"))
            self.req_log.write(line.encode("utf-8") + b"\n")
            self.req_log.flush()

    def stats(self):
        with self.lock:
            return {"requests": self.seq, "records": self.total, "by_topic": dict(self.by_topic),
                    "chaos": dict(self.chaos_counts), "rejected": self.rejected,
                    "open_peak": self.open_peak, "throttled": self.throttled}

    def enter(self):
        """One more produce request open: False when over --max-open (throttled)."""
        with self.lock:
            self.open += 1
            self.open_peak = max(self.open_peak, self.open)
            over = 0 < self.max_open < self.open
            self.throttled += over
            return not over

    def leave(self):
        with self.lock:
            self.open -= 1

    def topic_partitions(self, topic):
        with self.lock:
            return self.topics.get(topic)

    def topic_names(self):
        with self.lock:
            return sorted(self.topics)

    def produce(self, topic, path_partition, records, forced):
        """Offsets entries for records, in order; stores accepted ones before returning.
        Returns (offsets, failed); failed means a negative partition aborted the batch
        (records before it stay written, as with the real proxy)."""
        offsets, lines, failed = [], [], False
        with self.lock:
            for i, rec in enumerate(records):
                p = rec.partition if rec.partition is not None else path_partition
                if p is not None and p < 0:
                    failed = True
                    break
                if self.is_marked(rec):
                    self.rejected += 1
                    offsets.append(_record_error(50002, REJECT_MESSAGE))
                    continue
                if i in forced:
                    code = forced[i]
                    text = FORCED_MESSAGES.get(code, "Mock record error %d" % code)
                    offsets.append(_record_error(code, text.format(topic=topic, partition=p or 0)))
                    continue
                offsets.append(self._produce_one(topic, p, rec, lines))
            if lines:
                f = self.rec_files.get(topic)
                if f is None:
                    f = self.rec_files[topic] = open(os.path.join(self.rec_dir, topic + ".jsonl"), "ab")
                f.write("".join(lines).encode("utf-8"))
                f.flush()
                self.total += len(lines)
                self.by_topic[topic] = self.by_topic.get(topic, 0) + len(lines)
        return offsets, failed

    def _produce_one(self, topic, p, rec, lines):
        if not TOPIC_RE.match(topic) or topic in (".", ".."):
            return _record_error(50002, "Invalid topics: [%s]" % topic)
        count = self.topics.get(topic)
        if count is None:
            if not self.auto_create:
                return _record_error(50003, "Topic %s not present in metadata after 60000 ms." % topic)
            count = self.topics[topic] = self.partitions
        if p is None:
            if rec.key_bytes is not None:
                p = (murmur2(rec.key_bytes) & 0x7FFFFFFF) % count
            else:
                n = self.round_robin.get(topic, 0)
                self.round_robin[topic] = n + 1
                p = n % count
        elif p >= count:
            return _record_error(50003, "Partition %d of topic %s with partition count %d is not "
                                 "present in metadata after 60000 ms." % (p, topic, count))
        size = serialized_size(rec.key_bytes, rec.value_bytes)
        if size > self.max_record:
            return _record_error(50002, "The message is %d bytes when serialized which is larger "
                                 "than %d, which is the value of the max.request.size "
                                 "configuration." % (size, self.max_record))
        offset = self.next_offset.get((topic, p), 0)
        self.next_offset[(topic, p)] = offset + 1
        lines.append('{"topic":%s,"partition":%d,"offset":%d,"key":%s,"value":%s}\n'
                     % (quote(topic), p, offset, rec.key_text, rec.value_text))
        return {"partition": p, "offset": offset, "error_code": None, "error": None}

    def close(self):
        got = self.lock.acquire(timeout=5)
        try:
            for f in list(self.rec_files.values()) + [self.req_log]:
                f.close()
        finally:
            if got:
                self.lock.release()


def _record_error(code, text):
    return {"partition": None, "offset": None, "error_code": code, "error": text}


def _binary_field(v):
    """Binary format: base64 string -> (stored text, bytes)."""
    if v is None:
        return "null", None
    try:
        if type(v) is not str:
            raise ValueError
        raw = base64.b64decode(v, validate=True)
    except (ValueError, binascii.Error):
        raise ApiError(400, "Bad Request: data=%s is not a base64 string." % dump(v)) from None
    return quote(raw.decode("utf-8", "surrogateescape")), raw


def parse_produce(body, fmt):
    """Validate a v2 produce body like Jackson + bean validation would; return Records."""
    if not body.strip():
        raise ApiError(422, "Request body is empty: records must not be empty")
    doc = parse_json(body)
    if doc is None:
        raise ApiError(422, "Request body must not be null")
    if not isinstance(doc, dict):
        raise ApiError(400, "Cannot deserialize ProduceRequest from a JSON %s"
                       % type(doc).__name__)
    for name, v in doc.items():
        if name not in TOP_FIELDS:
            raise ApiError(422, "Unrecognized field: " + name)
        if name == "records":
            if v is not None and not isinstance(v, list):
                raise ApiError(400, "Cannot deserialize records: expected an array")
            for i, r in enumerate(v or []):
                if not isinstance(r, dict):
                    raise ApiError(400, "Cannot deserialize records[%d]: expected an object" % i)
                for field, fv in r.items():
                    if field not in RECORD_FIELDS:
                        raise ApiError(422, "Unrecognized field: " + field)
                    if field == "partition" and fv is not None and not (
                            isinstance(fv, RawNumber) and fv.is_int32()):
                        raise ApiError(400, "Cannot deserialize value of type `java.lang.Integer` "
                                       "from %s at records[%d].partition" % (dump(fv), i))
        elif name.endswith("_id"):
            if v is not None and not (isinstance(v, RawNumber) and v.is_int32()):
                raise ApiError(400, "Cannot deserialize %s: expected an integer" % name)
        elif v is not None and type(v) is not str:
            raise ApiError(400, "Cannot deserialize %s: expected a string" % name)
    records = doc.get("records")
    if not records:
        raise ApiError(422, "records must not be empty (was %s)" % ("null" if records is None else "[]"))
    if fmt in SCHEMA_FORMATS:
        if doc.get("key_schema") is None and doc.get("key_schema_id") is None and \
                any(r.get("key") is not None for r in records):
            raise ApiError(422, "Request includes keys but does not include key schema", 42201)
        if doc.get("value_schema") is None and doc.get("value_schema_id") is None and \
                any(r.get("value") is not None for r in records):
            raise ApiError(422, "Request includes values but does not include value schema", 42202)
    out = []
    for r in records:
        part = r.get("partition")
        part = int(part) if part is not None else None
        if fmt == "binary":
            (kt, kb), (vt, vb) = _binary_field(r.get("key")), _binary_field(r.get("value"))
        else:
            kt, vt = dump(r.get("key")), dump(r.get("value"))
            kb = None if r.get("key") is None else kt.encode("utf-8", "surrogatepass")
            vb = None if r.get("value") is None else vt.encode("utf-8", "surrogatepass")
        out.append(Record(kt, vt, kb, vb, part))
    return out


class MockServer(ThreadingHTTPServer):
    daemon_threads = True

    ssl_context = None  # set for --tls-cert: every accepted connection is TLS

    def server_bind(self):  # skip HTTPServer's reverse DNS lookup
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def finish_request(self, request, client_address):
        """With TLS, the handshake runs here, in the connection's own thread (bounded by
        TLS_HANDSHAKE_SECONDS), so a client that never completes it cannot stall accept().
        A failed handshake (no or untrusted client certificate under --tls-client-ca, plain
        HTTP, ...) just closes the connection; nothing is logged to requests.jsonl."""
        if self.ssl_context is None:
            return super().finish_request(request, client_address)
        request.settimeout(TLS_HANDSHAKE_SECONDS)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            if not self.quiet:
                sys.stderr.write("mock_proxy: %s TLS handshake failed: %s\n"
                                 % (client_address[0], e))
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    holding_open = False  # a produce request counted open (--max-open)
    timeout = 30  # idle keep-alive connections are closed, like Jetty's idle.timeout.ms

    def version_string(self):
        return "mock-kafka-rest-v2"

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("mock_proxy: %s %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        st = self.state = self.server.state
        self.rid = self.headers.get("x-amzn-RequestId") or str(uuid.uuid4())
        self.info = {"topic": None, "records": None, "accepted": 0, "action": None}
        self.body_len, self.logged, self.responded, self.is_mock = 0, False, False, False
        self.unread_body = False
        try:
            path = urlsplit(self.path).path
            self.is_mock = path.startswith("/_mock/")
            body = self.read_body(st.max_body)
            if body is None:
                return
            if self.is_mock:
                return self.mock_endpoint(path, body)
            if st.base_path:
                if path != st.base_path and not path.startswith(st.base_path + "/"):
                    return self.gateway_error(403, "Missing Authentication Token",
                                              "MissingAuthenticationTokenException")
                path = path[len(st.base_path):] or "/"
            if body is TOO_LARGE:
                return self.gateway_error(413, "Request Too Long", None)
            if self.check_auth(body):
                return
            self.route(path, body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            if self.responded:
                self.close_connection = True
            else:
                self.error(500, "Internal Server Error")
        finally:
            if self.unread_body:
                self.linger()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # ---- plumbing -------------------------------------------------------------------
    def handle_expect_100(self):
        """No "100 Continue" for a body declared over --max-body-bytes: the 413 is the answer."""
        cl = (self.headers.get("Content-Length") or "").strip()
        if re.fullmatch(r"[0-9]+", cl) and int(cl) > self.server.state.max_body:
            return True
        return super().handle_expect_100()

    def too_large(self):
        """Body over the limit: answer without reading (the rest), close, drain afterwards."""
        self.unread_body = self.close_connection = True
        return TOO_LARGE

    def linger(self):
        """Lingering close for a body left unread: half-close after the answer, then read and
        discard until the client closes (at most DRAIN_SECONDS, DRAIN_IDLE_SECONDS idle), so
        the client gets to read the answer instead of a connection reset."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(DRAIN_IDLE_SECONDS)
            deadline, total = time.monotonic() + DRAIN_SECONDS, 0
            while time.monotonic() < deadline and total < DRAIN_MAX_BYTES:
                chunk = self.rfile.read1(1 << 16)
                if not chunk:
                    break
                total += len(chunk)
        except (OSError, ValueError):
            pass

    def read_body(self, limit):
        """Request body as bytes, TOO_LARGE (answer first, body drained after the answer),
        or None if already answered/closed."""
        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            if te.split(",")[-1].strip().lower() != "chunked":
                return self.bad_framing("unsupported Transfer-Encoding")
            return self.read_chunked(limit)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        if not re.fullmatch(r"[0-9]+", cl.strip()):
            return self.bad_framing("invalid Content-Length")
        left, parts = int(cl), []
        if left > limit:
            self.body_len = left  # logged as declared; the body is drained after the 413
            return self.too_large()
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:  # client went away mid-body
                self.close_connection = True
                return None
            left -= len(chunk)
            self.body_len += len(chunk)
            parts.append(chunk)
        return b"".join(parts)

    def read_chunked(self, limit):
        parts = []
        while True:
            line = self.rfile.readline(1 << 16)
            size = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size):
                return self.bad_framing("malformed chunked body")
            if int(size, 16) == 0:
                break
            if self.body_len + int(size, 16) > limit:
                self.body_len += int(size, 16)
                return self.too_large()
            data = self.rfile.read(int(size, 16))
            if len(data) != int(size, 16) or self.rfile.read(2) != b"\r\n":
                return self.bad_framing("malformed chunked body")
            self.body_len += len(data)
            parts.append(data)
        while self.rfile.readline(1 << 16) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)

    def bad_framing(self, what):
        self.close_connection = True
        self.error(400, "Bad Request: " + what)
        return None

    def log_entry(self, status):
        if self.logged or self.is_mock:
            return
        self.logged = True
        self.state.log_request({
            "time": time.time(), "method": self.command, "path": self.path,
            "topic": self.info["topic"], "status": status,
            "content_type": self.headers.get("Content-Type"), "accept": self.headers.get("Accept"),
            "body_bytes": self.body_len, "records": self.info["records"],
            "accepted": self.info["accepted"], "action": self.info["action"],
            "auth": self.auth_kind(), "headers": self.logged_headers()})

    def auth_kind(self):
        """What the client sent (never the secret): "sigv4" / "basic" for those Authorization
        schemes, else "api-key" for an x-api-key header, else None."""
        scheme = (self.headers.get("Authorization") or "").strip().partition(" ")[0].lower()
        if scheme == SIGV4_ALGORITHM.lower():
            return "sigv4"
        if scheme == "basic":
            return "basic"
        return "api-key" if self.headers.get("x-api-key") is not None else None

    def logged_headers(self):
        """Allow-listed request headers, lower-case name -> value (repeats joined by ", ")."""
        out = {}
        for name, value in self.headers.items():
            name = name.lower()
            if name in LOGGED_HEADERS or name.startswith("x-custom-"):
                out[name] = out[name] + ", " + value if name in out else value
        return out

    def respond(self, status, body=b"", ctype=None, headers=()):
        self.leave_open()
        self.log_entry(status)
        self.responded = True
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", self.rid)
        self.send_header("x-amz-apigw-id", base64.b64encode(os.urandom(11)).decode())
        for k, v in headers:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def send_json(self, status, obj, ctype=KAFKA_V2, headers=()):
        self.respond(status, json.dumps(obj, separators=(",", ":")).encode("utf-8"), ctype, headers)

    def error(self, status, message, code=None, ctype=KAFKA_V2, headers=()):
        self.send_json(status, {"error_code": status if code is None else code,
                                "message": message}, ctype, headers)

    def gateway_error(self, status, message, error_type, retry_after=None):
        headers = [("x-amzn-ErrorType", error_type)] if error_type else []
        if retry_after:
            headers.append(("Retry-After", retry_after))
        self.send_json(status, {"message": message}, "application/json", headers)

    def drop(self):
        """Close the connection without writing any response."""
        self.log_entry(None)
        self.responded = self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def accept_ok(self):
        """Accept absent, or listing */*, application/* or the v2 type (q > 0)."""
        accept = self.headers.get("Accept")
        if accept is None or not accept.strip():
            return True
        for entry in accept.split(","):
            if re.search(r";\s*q\s*=\s*0(\.0*)?\s*(;|$)", entry):
                continue
            if media_type(entry) in ("*/*", "application/*", KAFKA_V2):
                return True
        return False

    def unsupported(self):
        # Content-Type: first Accept entry equal to application/json or the v2 type, else json.
        ctype = "application/json"
        for entry in (self.headers.get("Accept") or "").split(","):
            if entry.strip().lower() in ("application/json", KAFKA_V2):
                ctype = entry.strip().lower()
                break
        self.error(415, "HTTP 415 Unsupported Media Type", ctype=ctype)

    # ---- authentication ---------------------------------------------------------------
    def check_auth(self, body):
        """API Gateway's IAM (SigV4) then API key checks, then the proxy's Basic auth.
        Returns True when the request was refused (answer sent)."""
        st = self.state
        if st.sigv4 is not None and self.check_sigv4(body):
            return True
        if st.api_key is not None:
            got = self.headers.get("x-api-key")
            if got is None or not hmac.compare_digest(wire_bytes(got.strip()), st.api_key):
                self.gateway_error(403, "Forbidden", "ForbiddenException")
                return True
        if st.basic is not None:
            scheme, _, cred = (self.headers.get("Authorization") or "").strip().partition(" ")
            try:
                given = base64.b64decode(cred.strip(), validate=True) \
                    if scheme.lower() == "basic" else None
            except (ValueError, binascii.Error):
                given = None
            if given is None or not hmac.compare_digest(given, st.basic):
                self.error(401, "Unauthorized", 40101,
                           headers=[("WWW-Authenticate", 'Basic realm="kafka-rest"')])
                return True
        return False

    def deny(self, message, error_type):
        self.gateway_error(403, message, error_type)
        return True

    def check_sigv4(self, body):
        """API Gateway IAM authorization: AWS Signature Version 4, service execute-api.
        Returns True when refused (403 sent). See the module docstring."""
        cfg = self.state.sigv4
        auth = self.headers.get("Authorization")
        if auth is None or not auth.strip():
            return self.deny("Missing Authentication Token", "MissingAuthenticationTokenException")
        algorithm, _, rest = auth.strip().partition(" ")
        fields = {}
        for part in rest.split(","):
            if not part.strip():
                continue
            name, eq, value = part.partition("=")
            if not eq:
                digest = base64.b64encode(hashlib.sha256(wire_bytes(auth)).digest()).decode()
                return self.deny("Invalid key=value pair (missing equal-sign) in Authorization "
                                 "header (hashed with SHA-256 and encoded with Base64): '%s'."
                                 % digest, "IncompleteSignatureException")
            fields[name.strip()] = value.strip()
        if algorithm != SIGV4_ALGORITHM:
            return self.deny("Unsupported AWS 'algorithm': '%s'." % algorithm,
                             "IncompleteSignatureException")
        amz_date = (self.headers.get("X-Amz-Date") or "").strip()
        problems = ["Authorization header requires '%s' parameter." % p
                    for p in ("Credential", "Signature", "SignedHeaders") if not fields.get(p)]
        if not amz_date:
            problems.append("Authorization header requires existence of either a 'X-Amz-Date' "
                            "or a 'Date' header.")
        if problems:
            return self.deny(" ".join(problems), "IncompleteSignatureException")
        try:
            if not AMZ_DATE_RE.match(amz_date):
                raise ValueError
            signed_at = calendar.timegm(time.strptime(amz_date, AMZ_DATE_FORMAT))
        except ValueError:
            return self.deny("Date must be in ISO-8601 'basic format'. Got '%s'. See "
                             "http://en.wikipedia.org/wiki/ISO_8601" % amz_date,
                             "IncompleteSignatureException")
        cred = fields["Credential"].split("/")
        if len(cred) != 5:
            return self.deny("Credential must have exactly 5 slash-delimited elements, e.g. "
                             "keyid/date/region/service/term, got '%s'" % fields["Credential"],
                             "IncompleteSignatureException")
        akid, scope_date, region, service, terminator = cred
        if not hmac.compare_digest(wire_bytes(akid), cfg.access_key_id.encode("utf-8")):
            return self.deny(INVALID_TOKEN, GATEWAY_ERRORS[INVALID_TOKEN][1])
        invalid = "InvalidSignatureException"
        if terminator != "aws4_request":
            return self.deny("Credential should be scoped with a valid terminator: "
                             "'aws4_request', not '%s'. " % terminator, invalid)
        if service != SIGV4_SERVICE:
            return self.deny("Credential should be scoped to correct service: '%s'. "
                             % SIGV4_SERVICE, invalid)
        if region != cfg.region:
            return self.deny("Credential should be scoped to a valid region, not '%s'. "
                             % region, invalid)
        if scope_date != amz_date[:8]:
            return self.deny("Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                             "version of date from HTTP: '%s' != '%s', from '%s'."
                             % (scope_date, amz_date[:8], amz_date), invalid)
        token = self.headers.get("X-Amz-Security-Token")
        if (token is not None) != (cfg.session_token is not None) or (token is not None and (
                not hmac.compare_digest(wire_bytes(token.strip()),
                                        cfg.session_token.encode("utf-8")))):
            return self.deny(INVALID_TOKEN, GATEWAY_ERRORS[INVALID_TOKEN][1])
        signed = sorted({n.strip().lower() for n in fields["SignedHeaders"].split(";")})
        if "host" not in signed:
            return self.deny("'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                             "Authorization.", "IncompleteSignatureException")
        now = time.time()
        if abs(signed_at - now) > SIGV4_MAX_SKEW:
            stamp = lambda t: time.strftime(AMZ_DATE_FORMAT, time.gmtime(t))
            if signed_at < now:
                return self.deny("Signature expired: %s is now earlier than %s (%s - 5 min.)"
                                 % (amz_date, stamp(now - SIGV4_MAX_SKEW), stamp(now)), invalid)
            return self.deny("Signature not yet current: %s is still later than %s (%s + 5 min.)"
                             % (amz_date, stamp(now + SIGV4_MAX_SKEW), stamp(now)), invalid)
        payload_hash = hashlib.sha256(body).hexdigest()
        sent_hash = self.headers.get("X-Amz-Content-Sha256")
        target = self.path
        if not target.startswith("/"):  # absolute-form request target
            parts = urlsplit(target)
            target = parts.path + ("?" + parts.query if parts.query else "")
        path, _, query = target.partition("#")[0].partition("?")
        creq = sigv4_canonical_request(self.command, path, query,
                                       lambda n: self.headers.get_all(n) or [], signed,
                                       payload_hash)
        expected = sigv4_signature(cfg.secret, amz_date, region, SIGV4_SERVICE, creq)
        ok = hmac.compare_digest(expected.encode("ascii"), wire_bytes(fields["Signature"]))
        if sent_hash is not None and sent_hash.strip() != payload_hash:
            ok = False  # the body is not the one the client hashed
        if cfg.session_token is not None and "x-amz-security-token" not in signed:
            ok = False  # the token must be covered by the signature
        if not ok:
            if not self.server.quiet:
                scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, SIGV4_SERVICE)
                sys.stderr.write("mock_proxy: SigV4 mismatch; canonical request:\n%s\n"
                                 "string to sign:\n%s\n"
                                 % (creq, sigv4_string_to_sign(amz_date, scope, creq)))
            return self.deny(SIGV4_MISMATCH, invalid)
        return False

    # ---- routing ----------------------------------------------------------------------
    def route(self, path, body):
        segs = [unquote(s) for s in path.strip("/").split("/")] if path.strip("/") else []
        routes = {}
        if not segs:
            routes["GET"] = lambda: self.send_json(200, {})
        elif segs == ["topics"]:
            routes["GET"] = lambda: self.send_json(200, self.state.topic_names())
        elif len(segs) == 2 and segs[0] == "topics":
            routes["GET"] = lambda: self.get_topic(segs[1], None, False)
            routes["POST"] = lambda: self.produce(segs[1], None, body)
        elif len(segs) == 3 and segs[0] == "topics" and segs[2] == "partitions":
            routes["GET"] = lambda: self.get_topic(segs[1], None, True)
        elif len(segs) == 4 and segs[0] == "topics" and segs[2] == "partitions" and \
                INT_RE.match(segs[3]) and RawNumber(segs[3]).is_int32():
            routes["GET"] = lambda: self.get_topic(segs[1], int(segs[3]), True)
            routes["POST"] = lambda: self.produce(segs[1], int(segs[3]), body)
        else:
            return self.error(404, "HTTP 404 Not Found")
        method = "GET" if self.command == "HEAD" else self.command
        if method not in routes:
            allow = ", ".join(sorted(routes) + (["HEAD"] if "GET" in routes else []))
            return self.error(405, "HTTP 405 Method Not Allowed", headers=[("Allow", allow)])
        if method == "GET":
            ctype = self.headers.get("Content-Type")
            if ctype is not None and media_type(ctype) != KAFKA_V2:
                return self.unsupported()
            if not self.accept_ok():
                return self.respond(406)  # empty body, no Content-Type
        routes[method]()

    def get_topic(self, topic, partition, partitions_only):
        count = self.state.topic_partitions(topic)
        if count is None:
            return self.error(404, "This server does not host this topic-partition.", 40403)
        parts = [{"partition": i, "leader": 1,
                  "replicas": [{"broker": 1, "leader": True, "in_sync": True}]} for i in range(count)]
        if partition is not None:
            if not 0 <= partition < count:
                return self.error(404, "Partition not found.", 40402)
            return self.send_json(200, parts[partition])
        self.send_json(200, parts if partitions_only else
                       {"name": topic, "configs": {}, "partitions": parts})

    def produce(self, topic, path_partition, body):
        self.info["topic"] = topic
        # Open from here until its answer starts (respond() leaves), so a
        # client that sends the next request as soon as it has an answer
        # never finds the previous one still counted.
        self.holding_open = True
        try:
            if not self.state.enter():
                self.info["action"] = "max_open"
                return self.gateway_error(429, "Too Many Requests", "TooManyRequestsException")
            return self.produce_open(topic, path_partition, body)
        finally:
            self.leave_open()

    def leave_open(self):
        if self.holding_open:
            self.holding_open = False
            self.state.leave()

    def produce_open(self, topic, path_partition, body):
        action = self.state.take_action(topic)
        if action is None:
            action = self.chaos_action()
        if action is not None:
            self.info["action"] = action.get("label", action["kind"])
            if action.get("delay_ms"):
                time.sleep(action["delay_ms"] / 1000.0)
            if action["kind"] in SHORTCUT_KINDS:
                return self.apply_shortcut(action, topic, path_partition, body)
        records, answer = self.produce_records(body)
        if records is None:
            return answer()
        self.info["records"] = len(records)
        forced = {}
        if action is not None and action["kind"] == "record_errors":
            forced = action["record_errors"]
            if forced == RANDOM:
                forced = self.random_record_errors(records, action["rng"])
        offsets, failed = self.state.produce(topic, path_partition, records, forced)
        self.info["accepted"] = sum(1 for o in offsets if o["error_code"] is None)
        if failed:
            return self.error(500, "Internal Server Error")
        if action is not None and action["kind"] == "drop_after":
            return self.drop()
        status = 200
        for o in offsets:
            if o["error_code"] in (40101, 40301):
                status = 401 if o["error_code"] == 40101 else 403
                break
        self.send_json(status, {"offsets": offsets, "key_schema_id": None, "value_schema_id": None})

    def produce_records(self, body):
        """(records, None) for a produce request the proxy would take, else (None, answer)
        where answer() sends the proxy's 4xx for it."""
        ctype = self.headers.get("Content-Type")
        fmt = "binary" if ctype is None else PRODUCE_TYPES.get(media_type(ctype))
        if fmt is None:
            return None, self.unsupported
        if not self.accept_ok():
            return None, lambda: self.respond(406)  # empty body, no Content-Type
        try:
            return parse_produce(body, fmt), None
        except ApiError as e:
            return None, lambda e=e: self.error(e.status, e.message, e.error_code)
        except RecursionError:
            return None, lambda: self.error(400, "JSON nesting too deep")

    def random_record_errors(self, records, rng):
        """Chaos: 50003 on a random non-empty subset of the records the marker leaves."""
        left = [i for i, r in enumerate(records) if not self.state.is_marked(r)]
        left = left or list(range(len(records)))
        return {i: 50003 for i in rng.sample(left, rng.randint(1, len(left)))}

    def chaos_action(self):
        """A chaos fault as an action (same effects as the script action it names), or None."""
        drawn = self.state.chaos_draw()
        if drawn is None:
            return None
        kind, rng = drawn
        a = {"label": "chaos:" + kind, "rng": rng}
        if kind == "proxy_500_partial":
            a.update(kind="proxy_error", proxy_error=500, error_code=500, partial=RANDOM,
                     message="Unexpected non-Kafka exception returned by Kafka")
        elif kind in ("html_502", "html_503"):
            code = int(kind[-3:])
            a.update(kind="status", status=code, body=HTML_PAGES[code], content_type="text/html")
        elif kind.startswith("gateway_504"):
            a.update(kind="gateway", gateway="Endpoint request timed out",
                     store=kind == "gateway_504_stored")
        elif kind.startswith("gateway_429"):
            a.update(kind="gateway", gateway="Too Many Requests")
            if kind == "gateway_429_retry_after":
                a["retry_after"] = "1"
        elif kind == "record_50003":
            a.update(kind="record_errors", record_errors=RANDOM)
        elif kind == "delay":
            a.update(kind="delay", delay_ms=rng.randint(300, 800))
        else:  # drop_before, drop_after, garbage
            a["kind"] = kind
        return a

    def store_first(self, a, topic, path_partition, body):
        """"store"/"partial" on an error action: store the request's records (the first
        "partial" of them) as a successful produce would, before the error answer. Returns
        the offsets entries, or None when nothing was to be stored or the request is one the
        proxy would reject (then nothing is stored and the scripted error is still sent)."""
        if not a.get("store") and "partial" not in a:
            return None
        records, _ = self.produce_records(body)
        if records is None:
            return None
        self.info["records"] = n = len(records)
        limit = a.get("partial", n)
        if limit == RANDOM:
            limit = a["rng"].randint(0, n)
        offsets, _ = self.state.produce(topic, path_partition, records[:limit], {})
        self.info["accepted"] = sum(1 for o in offsets if o["error_code"] is None)
        return offsets

    def apply_shortcut(self, a, topic, path_partition, body):
        kind = a["kind"]
        if kind == "drop_before":
            return self.drop()
        stored = self.store_first(a, topic, path_partition, body)
        if kind == "gateway":
            status, etype = GATEWAY_ERRORS.get(a["gateway"], (500, None))
            return self.gateway_error(a.get("status", status), a["gateway"],
                                      a.get("error_type", etype), a.get("retry_after"))
        if kind == "proxy_error":
            return self.error(a["proxy_error"], a.get("message", "Internal Server Error"),
                              a.get("error_code", a["proxy_error"]))
        if kind == "garbage":
            return self.respond(200, b"<html>oops", "text/html")
        if kind == "short_offsets":
            if stored is not None:
                offsets = stored[:max(self.info["records"] - 1, 0)]
            else:
                try:
                    doc = parse_json(body)
                    n = len(doc["records"]) if isinstance(doc, dict) and \
                        isinstance(doc.get("records"), list) else 1
                except (ApiError, RecursionError):
                    n = 1
                self.info["records"] = n
                offsets = [{"partition": 0, "offset": i, "error_code": None, "error": None}
                           for i in range(max(n - 1, 0))]
            return self.send_json(200, {"offsets": offsets, "key_schema_id": None,
                                        "value_schema_id": None})
        if kind == "raw":
            return self.respond(a.get("status", 200), a["raw"].encode("utf-8"),
                                a.get("content_type", KAFKA_V2))
        headers = [("Retry-After", a["retry_after"])] if a.get("retry_after") else []
        return self.respond(a["status"], a.get("body", "").encode("utf-8"),
                            a.get("content_type", "text/html"), headers)

    def mock_endpoint(self, path, body):
        if body is TOO_LARGE:
            return self.send_json(413, {"ok": False, "error": "body too large"}, "application/json")
        if path == "/_mock/stats" and self.command == "GET":
            stats = dict(self.state.stats(), script=self.state.script_view())
            return self.send_json(200, stats, "application/json")
        if path == "/_mock/script" and self.command == "POST":
            try:
                self.state.set_script(json.loads(body.decode("utf-8")))
            except (ValueError, UnicodeDecodeError) as e:
                return self.send_json(400, {"ok": False, "error": str(e)}, "application/json")
            return self.send_json(200, {"ok": True}, "application/json")
        self.send_json(404, {"ok": False, "error": "unknown mock endpoint"}, "application/json")


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Strict mock of the Kafka REST Proxy v2 produce API.")
    ap.add_argument("--store", required=True, help="directory for records/ and requests.jsonl")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free)")
    ap.add_argument("--port-file", help="write the bound port here (atomically)")
    ap.add_argument("--base-path", default="", help="API Gateway stage prefix, e.g. /test")
    ap.add_argument("--topics", default="", help="comma-separated known topics")
    ap.add_argument("--auto-create", action="store_true", help="create topics on first produce")
    ap.add_argument("--partitions", type=int, default=1, help="partitions per topic")
    ap.add_argument("--max-record-bytes", type=int, default=1048576)
    ap.add_argument("--max-body-bytes", type=int, default=10485760)
    ap.add_argument("--script", help="JSON array of misbehaviour actions")
    ap.add_argument("--chaos", type=float, default=0.0, metavar="RATE",
                    help="probability (0..1) of a random fault per unscripted produce request")
    ap.add_argument("--chaos-seed", type=int, default=1, metavar="N", help="chaos random seed")
    ap.add_argument("--reject-marker", metavar="TEXT",
                    help="records whose value contains TEXT get per-record 50002")
    ap.add_argument("--require-api-key", metavar="VALUE",
                    help="API Gateway API key: requests without x-api-key: VALUE get 403")
    ap.add_argument("--require-basic", metavar="USER:PASSWORD",
                    help="proxy Basic auth: requests without it get 401")
    ap.add_argument("--require-sigv4", metavar="REGION:ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]",
                    help="API Gateway IAM auth: verify AWS SigV4 (service execute-api)")
    ap.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", metavar="FILE", help="private key for --tls-cert (PEM)")
    ap.add_argument("--tls-client-ca", metavar="FILE",
                    help="require a client certificate signed by this CA (mutual TLS)")
    ap.add_argument("--max-open", type=int, default=0, metavar="K",
                    help="answer 429 to a produce request while K others are open (0 = off)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        ap.error("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        ap.error("--tls-client-ca needs --tls-cert and --tls-key")
    if args.partitions < 1:
        ap.error("--partitions must be >= 1")
    if args.max_open < 0:
        ap.error("--max-open must be >= 0")
    if not 0.0 <= args.chaos <= 1.0:
        ap.error("--chaos must be between 0 and 1")
    try:
        tls = make_tls_context(args.tls_cert, args.tls_key, args.tls_client_ca) \
            if args.tls_cert else None
        state = State(args)
        if args.script:
            with open(args.script, encoding="utf-8") as f:
                state.set_script(json.load(f))
    except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
        print("mock_proxy: %s" % e, file=sys.stderr)
        return 2

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = MockServer(("127.0.0.1", args.port), Handler)
    server.state, server.quiet, server.ssl_context = state, args.quiet, tls
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              daemon=True)
    thread.start()
    if args.port_file:
        write_port_file(args.port_file, port)
    if not args.quiet:
        print("listening on 127.0.0.1:%d" % port, file=sys.stderr, flush=True)
    while not stop.wait(0.5) and thread.is_alive():
        pass
    server.shutdown()
    server.server_close()
    state.close()
    if not args.quiet:
        print("mock_proxy: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
