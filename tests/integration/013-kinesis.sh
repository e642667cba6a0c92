# SPDX-License-Identifier: MIT
# The Kinesis sink (sink.kind = "kinesis").
#
# Part 1, against kinesalite (an independent Kinesis implementation from the
# npm registry, in memory, on 127.0.0.1): a dry run sends nothing and prints
# PutRecords bodies whose Data is the row's JSON; a run delivers every row of
# the seed tables exactly once, in key order, equal to row_to_json (read back
# with GetShardIterator/GetRecords); PartitionKey is the row key, or the
# message_key column (the row key when that column is NULL); a second run
# sends nothing; new rows go out next time; a stream that does not exist is
# ResourceNotFoundException: exit 1, the other streams still delivered.
#
# Part 2, against tests/kinesis/fault_double.py (which checks every SigV4
# signature for service "kinesis"): retriable per-record failures are resent
# alone, without loss or duplicates; permanent ones are dead letters (exit
# 3) that replay delivers; request-level ResourceNotFoundException,
# AccessDeniedException, ExpiredTokenException, ValidationException and a
# bad signature stop the stream (exit 1, one request); 500, 503 and
# request-level throttling are retried; at most 500 records and 5 MiB per
# request, 1 MiB per record (data + partition key), a larger record is a
# dead letter.
#
# Needs node and npm for kinesalite (tests/kinesis/setup.sh installs it into
# tests/kinesis/node_modules); without them the test says "skipped", exit 0.
set -eu
. "$(dirname "$0")/lib.sh"

KDIR=$TESTS_DIR/kinesis
set +e
"$KDIR/setup.sh"
rc=$?
set -e
if [ "$rc" -eq 77 ]; then
    echo "013-kinesis: skipped: node and npm are not installed (kinesalite needs them)"
    exit 0
fi
[ "$rc" -eq 0 ] || fail "tests/kinesis/setup.sh failed (exit $rc)"

u=0e3bbd435bfb
export AWS_ACCESS_KEY_ID=AKIDKINESISTEST AWS_SECRET_ACCESS_KEY=kinesis-test-secret
unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE AWS_CONFIG_FILE \
    AWS_SHARED_CREDENTIALS_FILE 2>/dev/null || true

KL_PID='' DBL_PID=''
# stop_pid PID: SIGTERM, at most 5 s, then SIGKILL.
stop_pid() {
    [ -n "$1" ] || return 0
    kill "$1" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    stop_pid "$KL_PID"
    stop_pid "$DBL_PID"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# wait_port FILE PID WHAT: the port the server wrote to FILE (at most 10 s).
wait_port() {
    for _ in $(seq 1 200); do
        [ -s "$1" ] && { cat "$1"; return 0; }
        kill -0 "$2" 2>/dev/null || fail "$3 died: $(cat "$(dirname "$1")/stderr")"
        sleep 0.05
    done
    fail "$3 did not start within 10 s"
}

start_kinesalite() {
    KL_DIR=$(mktemp -d "$WORK/kinesalite.XXXXXX")
    mkdir -p "$KL_DIR/records"
    node "$KDIR/kinesalite.js" "$KL_DIR/port" 2>"$KL_DIR/stderr" &
    KL_PID=$!
    KL_URL=http://127.0.0.1:$(wait_port "$KL_DIR/port" "$KL_PID" kinesalite)
}

# kin ARGS...: tests/kinesis/kinesis.py against kinesalite.
kin() {
    python3 "$KDIR/kinesis.py" --endpoint "$KL_URL" --timeout 60 "$@"
}

# kread STREAM...: each stream into $KL_DIR/records/STREAM.jsonl.
kread() {
    local s
    for s in "$@"; do
        kin read "$s" --out "$KL_DIR/records/$s.jsonl" 2>/dev/null ||
            fail "reading stream $s back: $(kin read "$s" --out /dev/null 2>&1)"
    done
}

# start_double [fault_double.py options]: a fresh double and store; checks
# SigV4 with the test credentials unless options say otherwise.
start_double() {
    stop_pid "$DBL_PID"
    DBL_STORE=$(mktemp -d "$WORK/double.XXXXXX")
    [ $# -gt 0 ] ||
        set -- --require-sigv4="us-east-1:$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
    python3 "$KDIR/fault_double.py" --store "$DBL_STORE" --port-file "$DBL_STORE/port" \
        --quiet "$@" 2>"$DBL_STORE/stderr" &
    DBL_PID=$!
    DBL_URL=http://127.0.0.1:$(wait_port "$DBL_STORE/port" "$DBL_PID" "fault double")
}

double_script() {
    curl -sf -X POST --data-binary "$1" "$DBL_URL/_mock/script" >/dev/null ||
        fail "cannot set the double's script"
}

# puts STREAM: PutRecords requests the double saw for a Kinesis stream.
puts() {
    grep -c "\"stream\": \"$1\"" "$DBL_STORE/requests.jsonl" || true
}

# kconf DIR ENDPOINT [extra stream entries]: DIR/pinemit.conf for the seed
# tables, sent to Kinesis streams named like the REST topics; state in
# DIR/state.  MAX_RECORDS, MAX_BYTES, MAX_ATTEMPTS and EXTRA_SINK tune it.
kconf() {
    mkdir -p "$1"
    cat >"$1/pinemit.conf" <<CONF
user_id = "$u";
source = {
  conninfo = "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$PGUSER";
  fetch_rows = 700;
};
sink = {
  kind = "kinesis"; region = "us-east-1"; endpoint = "$2";
  timeout_ms = 20000; max_in_flight = ${MAX_IN_FLIGHT:-1};
  retry = { max_attempts = ${MAX_ATTEMPTS:-8}; initial_backoff_ms = 10; max_backoff_ms = 100; };
  ${EXTRA_SINK:-}
};
batch = { max_records = ${MAX_RECORDS:-100}; max_bytes = ${MAX_BYTES:-5242880}; };
state = { dir = "$1/state"; };
streams = (
  { name = "pin";  table = "pinterest_data";   key = "index"; topic = "$u.pin"; },
  { name = "geo";  table = "geolocation_data"; key = "ind";   topic = "$u.geo"; },
  { name = "user"; table = "user_data";        key = "ind";   topic = "$u.user"; }${3:+,
  $3}
);
CONF
    CONF=$1/pinemit.conf
    STATE=$1/state
}

# kexpect CODE [pinemit args...]: like run_expect, with $CONF.
kexpect() {
    local want=$1 rc
    shift
    set +e
    OUT=$("$PINEMIT" -c "$CONF" "$@" 2>&1 >"$WORK/stdout")
    rc=$?
    set -e
    expect_eq "exit code of pinemit $* (stderr: $OUT)" "$want" "$rc"
}

# kverify STORE TOPIC TABLE KEY [verify.py options]
kverify() {
    python3 "$TESTS_DIR/verify.py" --store "$1" --topic "$2" --table "$3" --key "$4" \
        "${@:5}" >/dev/null || fail "verify $2 against $3"
}

# check_keys STORE TOPIC KEYCOL [MESSAGE_KEY_COL]: every record's
# PartitionKey is the message_key column's text (when not NULL), else the
# row key's text, as PostgreSQL prints it.
check_keys() {
    python3 - "$TESTS_DIR" "$@" <<'PY' || fail "partition keys of $2"
import sys
sys.path.insert(0, sys.argv[1])
from verify import Num, parse
store, topic, keycol = sys.argv[2:5]
msgcol = sys.argv[5] if len(sys.argv) > 5 else None
n = 0
for line in open("%s/records/%s.jsonl" % (store, topic), encoding="utf-8"):
    rec = dict(parse(line).pairs)
    value = dict(rec["value"].pairs)
    want = value.get(msgcol) if msgcol else None
    if want is None:
        want = value[keycol]
    want = want.text if isinstance(want, Num) else want
    if rec["key"] != want:
        sys.exit("%s: PartitionKey %r, expected %r" % (topic, rec["key"], want))
    n += 1
if n == 0:
    sys.exit("%s: no records" % topic)
PY
}

# ckpt_key STREAM: the key in $STATE/STREAM.checkpoint; None when there is
# no file or no key yet (a checkpoint may hold only tracking state).
ckpt_key() {
    python3 -c 'import json, os, sys
p = sys.argv[1]
print(json.load(open(p)).get("key") if os.path.exists(p) else None)' "$STATE/$1.checkpoint"
}

# summaries: the JSON summary lines in $OUT as "stream rows requests dead_letters".
summaries() {
    printf '%s\n' "$OUT" | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if isinstance(o, dict) and o.get("event") == "summary":
        print(o["stream"], o["rows"], o["requests"], o["dead_letters"])'
}

new_db kinesis
load_seed 1500
# Rows added later must have larger keys: the seed tables already hold the
# int4 maximum, so new rows go to a table of their own.
sql "CREATE TABLE events (id bigserial PRIMARY KEY, v text);
     INSERT INTO events (v) SELECT 'e' || g FROM generate_series(1, 5) g" >/dev/null

# =====================================================================
# Part 1: kinesalite
# =====================================================================
start_kinesalite
for s in pin geo user pin-uid ev; do
    kin create "$u.$s" --shards 1 || fail "cannot create stream $u.$s"
done
k1_streams='{ name = "pinuid"; table = "pinterest_data"; key = "index"; topic = "'"$u"'.pin-uid"; message_key = "unique_id"; },
  { name = "ev"; table = "events"; key = "id"; topic = "'"$u"'.ev"; }'
kconf "$WORK/k1" "$KL_URL" "$k1_streams"

kexpect 0 check

# A dry run prints PutRecords bodies and sends nothing.
kexpect 0 -n run --stream user
python3 - "$WORK/stdout" "$u.user" "$WORK/dry" <<'PY' || fail "dry-run bodies"
import base64, json, os, sys
path, stream, store = sys.argv[1:4]
os.makedirs(store + "/records", exist_ok=True)
out = open("%s/records/%s.jsonl" % (store, stream), "w", encoding="utf-8")
n = 0
for line in open(path, encoding="utf-8"):
    body = json.loads(line)
    assert set(body) == {"StreamName", "Records"}, sorted(body)
    assert body["StreamName"] == stream, body["StreamName"]
    assert 1 <= len(body["Records"]) <= 100, len(body["Records"])
    for r in body["Records"]:
        assert set(r) == {"Data", "PartitionKey"}, sorted(r)
        data = base64.b64decode(r["Data"], validate=True).decode("utf-8")
        n += 1
        out.write('{"topic":%s,"partition":0,"offset":%d,"key":%s,"value":%s}\n'
                  % (json.dumps(stream), n, json.dumps(r["PartitionKey"]), data))
assert n > 0
PY
kverify "$WORK/dry" "$u.user" user_data ind
check_keys "$WORK/dry" "$u.user" ind
kread "$u.user"
[ ! -s "$KL_DIR/records/$u.user.jsonl" ] || fail "the dry run sent records"
expect_eq "the dry run moved no checkpoint" None "$(ckpt_key user)"

# Every row, exactly once, in key order; silent when all is well.
kexpect 0 run
expect_eq "a successful run is silent" "" "$OUT"
kread "$u.pin" "$u.geo" "$u.user" "$u.pin-uid" "$u.ev"
kverify "$KL_DIR" "$u.pin" pinterest_data index
kverify "$KL_DIR" "$u.geo" geolocation_data ind
kverify "$KL_DIR" "$u.user" user_data ind
kverify "$KL_DIR" "$u.pin-uid" pinterest_data index
kverify "$KL_DIR" "$u.ev" events id
check_keys "$KL_DIR" "$u.pin" index
check_keys "$KL_DIR" "$u.geo" ind
check_keys "$KL_DIR" "$u.user" ind
check_keys "$KL_DIR" "$u.pin-uid" index unique_id
expect_eq "pin checkpoint" "$(sql 'SELECT max(index) FROM pinterest_data')" "$(ckpt_key pin)"
# The row with a NULL unique_id went out under its row key.
grep -q '"key":"10000007"' "$KL_DIR/records/$u.pin-uid.jsonl" ||
    fail "NULL message_key: the row key is the PartitionKey"

# A second run sends nothing (the streams are unchanged), and says so in
# its JSON summaries.
mkdir -p "$KL_DIR/before"
cp "$KL_DIR"/records/*.jsonl "$KL_DIR/before/"
kexpect 0 -v --log-format json run
# (Streams are sent at once: their summaries come in any order.)
expect_eq "summaries of an idle run" \
    "ev 0 0 0
geo 0 0 0
pin 0 0 0
pinuid 0 0 0
user 0 0 0" "$(summaries | sort)"
kread "$u.pin" "$u.geo" "$u.user" "$u.pin-uid" "$u.ev"
for s in pin geo user pin-uid ev; do
    cmp -s "$KL_DIR/before/$u.$s.jsonl" "$KL_DIR/records/$u.$s.jsonl" ||
        fail "an idle run changed stream $u.$s"
done

# New rows go out on the next run, and only they.
sql "INSERT INTO events (v) VALUES ('late 1'), ('late 2'), ('Zoë 🎉')" >/dev/null
kexpect 0 -v --log-format json run --stream ev --stream user
expect_eq "summaries of the new rows" "ev 3 1 0
user 0 0 0" "$(summaries | sort)"
kread "$u.ev"
kverify "$KL_DIR" "$u.ev" events id

# A stream that does not exist: ResourceNotFoundException from kinesalite,
# exit 1 with the stream named; the other streams still run.
sql "INSERT INTO events (v) VALUES ('later')" >/dev/null
kconf "$WORK/k1" "$KL_URL" "$k1_streams"',
  { name = "nostream"; table = "user_data"; key = "ind"; topic = "'"$u"'.does-not-exist"; }'
kexpect 1 run
expect_match "missing stream named" "stream nostream" "$OUT"
expect_match "Kinesis' error type" "ResourceNotFoundException" "$OUT"
expect_eq "no key checkpointed for the missing stream" None "$(ckpt_key nostream)"
kread "$u.ev"
kverify "$KL_DIR" "$u.ev" events id
stop_pid "$KL_PID"
KL_PID=

# =====================================================================
# Part 2: the fault double
# =====================================================================

# --- retriable per-record failures: only those records are resent ---
start_double
kconf "$WORK/f1" "$DBL_URL"
double_script '[{"stream":"'"$u"'.geo","failed":{"0":"ProvisionedThroughputExceededException","3":"InternalFailure"}},
  {"stream":"'"$u"'.geo","failed":{"*":"ProvisionedThroughputExceededException"}}]'
kexpect 0 run --stream geo
kverify "$DBL_STORE" "$u.geo" geolocation_data ind --any-order
python3 - "$DBL_STORE/requests.jsonl" "$u.geo" <<'PY' || fail "per-record resends"
import json, sys
reqs = [r for r in map(json.loads, open(sys.argv[1])) if r["stream"] == sys.argv[2]]
first, again, third = reqs[:3]
assert first["failed"] == 2 and first["records"] == 100, first
failed = [first["keys"][0], first["keys"][3]]
assert again["keys"] == failed and again["failed"] == 2, again
assert third["keys"] == failed and third["failed"] == 0, third
assert all(r["failed"] == 0 and r["status"] == 200 for r in reqs[3:]), reqs[3:]
PY

# --- a permanent per-record failure is a dead letter (exit 3); replay ---
kconf "$WORK/f2" "$DBL_URL"
double_script '[{"stream":"'"$u"'.user","failed":{"2":"InvalidArgumentException"}}]'
kexpect 3 run --stream user
dl=$STATE/dead-letters.jsonl
expect_match "dead letters counted" "1 records? (was|were) dead-lettered" "$OUT"
expect_eq "one dead letter" 1 "$(wc -l <"$dl")"
third=$(sql 'SELECT ind FROM user_data ORDER BY ind OFFSET 2 LIMIT 1')
grep -q "\"stream\":\"user\"" "$dl" || fail "dead letter names the stream: $(cat "$dl")"
grep -q "\"key\":\"$third\"" "$dl" || fail "dead letter names the key $third: $(cut -c1-300 "$dl")"
grep -q "InvalidArgumentException" "$dl" || fail "dead letter says why: $(cut -c1-300 "$dl")"
sql "CREATE VIEW user_but_third AS SELECT * FROM user_data WHERE ind <> $third" >/dev/null
kverify "$DBL_STORE" "$u.user" user_but_third ind
mv "$dl" "$WORK/dl-replay.jsonl"
kexpect 0 replay --dead-letters "$WORK/dl-replay.jsonl"
[ ! -s "$dl" ] || fail "replay dead-lettered again"
kverify "$DBL_STORE" "$u.user" user_data ind --any-order
check_keys "$DBL_STORE" "$u.user" ind

# --- ResourceNotFoundException stops the stream at once; others go on ---
start_double
kconf "$WORK/f3" "$DBL_URL"
double_script '[{"stream":"'"$u"'.pin","status":400,"type":"ResourceNotFoundException"}]'
kexpect 1 run
expect_match "stream named" "stream pin" "$OUT"
expect_match "error type named" "ResourceNotFoundException" "$OUT"
expect_eq "no retry of a missing stream" 1 "$(puts "$u.pin")"
expect_eq "pin checkpoint did not move" None "$(ckpt_key pin)"
kverify "$DBL_STORE" "$u.geo" geolocation_data ind
kverify "$DBL_STORE" "$u.user" user_data ind
kexpect 0 run
kverify "$DBL_STORE" "$u.pin" pinterest_data index

# --- other request-level refusals are permanent too: one request, exit 1 ---
for t in AccessDeniedException ExpiredTokenException ValidationException; do
    start_double
    kconf "$WORK/f4-$t" "$DBL_URL"
    double_script '[{"status":400,"type":"'"$t"'"}]'
    kexpect 1 run --stream user
    expect_match "$t named" "$t" "$OUT"
    expect_eq "$t is not retried" 1 "$(puts "$u.user")"
done

# --- 500, 503 and request-level throttling are retried ---
start_double
kconf "$WORK/f5" "$DBL_URL"
double_script '[{"stream":"'"$u"'.pin","status":500,"times":2},
  {"stream":"'"$u"'.geo","status":400,"type":"ProvisionedThroughputExceededException","times":2},
  {"stream":"'"$u"'.user","status":503,"store":true}]'
kexpect 0 run
kverify "$DBL_STORE" "$u.pin" pinterest_data index
kverify "$DBL_STORE" "$u.geo" geolocation_data ind
# The 503 came after the records were written: at-least-once, one batch twice.
kverify "$DBL_STORE" "$u.user" user_data ind --allow-duplicates
expect_eq "user: the batch behind the 503 twice" \
    "$(($(sql 'SELECT count(*) FROM user_data') + 100))" "$(wc -l <"$DBL_STORE/records/$u.user.jsonl")"
python3 - "$DBL_STORE/requests.jsonl" "$u" <<'PY' || fail "retries"
import json, sys
reqs = list(map(json.loads, open(sys.argv[1])))
for stream, status, n in (("pin", 500, 2), ("geo", 400, 2), ("user", 503, 1)):
    rs = [r for r in reqs if r["stream"] == sys.argv[2] + "." + stream]
    assert [r["status"] for r in rs[:n + 1]] == [status] * n + [200], (stream, rs[:n + 1])
    assert all(r["keys"] == rs[0]["keys"] for r in rs[:n + 1]), stream  # the same batch
PY

# --- SigV4: a wrong secret is refused for good; a session token is sent ---
start_double
kconf "$WORK/f6" "$DBL_URL"
AWS_SECRET_ACCESS_KEY=not-the-secret kexpect 1 run --stream user
expect_match "bad signature" "InvalidSignatureException" "$OUT"
expect_no_match "secret never printed" "not-the-secret|kinesis-test-secret" "$OUT"
# (refused before the body is read: the double's log has no stream name)
expect_eq "a bad signature is not retried" 1 "$(wc -l <"$DBL_STORE/requests.jsonl")"
start_double --require-sigv4="us-east-1:$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY:tok-en"
kconf "$WORK/f7" "$DBL_URL"
AWS_SESSION_TOKEN=tok-en kexpect 0 run --stream user
kverify "$DBL_STORE" "$u.user" user_data ind

# --- limits: 500 records and 5 MiB per request, 1 MiB per record ---
start_double
sql "CREATE TABLE big_rows (id integer PRIMARY KEY, v text);
     INSERT INTO big_rows SELECT g, repeat(chr(96 + g), 900000) FROM generate_series(1, 12) g;
     -- {\"id\":100,\"v\":\"...\"} is 17 + n bytes; plus the key \"100\": exactly 1 MiB
     INSERT INTO big_rows VALUES (100, repeat('y', 1048556)), (101, repeat('z', 1048557));
     CREATE VIEW big_ok AS SELECT * FROM big_rows WHERE id <> 101" >/dev/null
MAX_RECORDS=1000 MAX_BYTES=10000000 kconf "$WORK/f8" "$DBL_URL" \
    '{ name = "big"; table = "big_rows"; key = "id"; topic = "'"$u"'.big"; }'
kexpect 3 run --stream pin --stream big
kverify "$DBL_STORE" "$u.pin" pinterest_data index
kverify "$DBL_STORE" "$u.big" big_ok id
expect_eq "one dead letter" 1 "$(wc -l <"$STATE/dead-letters.jsonl")"
grep -q '"key":"101"' "$STATE/dead-letters.jsonl" ||
    fail "the record over 1 MiB is the dead letter: $(cut -c1-300 "$STATE/dead-letters.jsonl")"
python3 - "$DBL_STORE/requests.jsonl" "$u" <<'PY' || fail "request limits"
import json, sys
reqs = list(map(json.loads, open(sys.argv[1])))
assert reqs and all(r["status"] == 200 for r in reqs), [r["status"] for r in reqs]
pin = [r for r in reqs if r["stream"] == sys.argv[2] + ".pin"]
assert max(r["records"] for r in pin) == 500, [r["records"] for r in pin]
big = [r for r in reqs if r["stream"] == sys.argv[2] + ".big"]
assert sum(r["records"] for r in big) == 13, [r["records"] for r in big]
assert all(r["data_bytes"] <= 5 * 1048576 for r in reqs), [r["data_bytes"] for r in big]
PY
