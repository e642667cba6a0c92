# SPDX-License-Identifier: MIT
# The dead-letter file stays replayable, and a replay refuses what it cannot
# send before it sends anything (issue #12, items 6, 7, 8, 11 and 20).
#
# - A damaged line is refused as FILE:LINE once, not "FILE:1: FILE:1: e"
#   (exit 2); a directory is refused by name (exit 2), not "0 of 0".
# - Each line's record must be one JSON object the sink takes as one
#   record, within batch.max_bytes and the record limit: two records in one
#   slot, a record that is not JSON, a member the proxy refuses, an
#   oversized record, a Kinesis record without base64 Data are refused with
#   FILE:LINE and why (exit 2) and nothing at all is sent.
# - On a full disk (a 64 KiB tmpfs, mounted here as root; skipped
#   otherwise) the file holds only whole lines: run 1 stops (exit 1), run 2
#   appends whole lines, and both files replay to the proxy, every
#   dead-lettered row exactly once.
# - A torn last line (left by a writer that died mid-line) is cut before
#   appending, with a warning.
# - Kinesis counts batch.max_bytes on the data before base64: a 232 KB
#   record goes out under a 256 KiB limit (tests/kinesis/fault_double.py,
#   Python only).
set -eu
. "$(dirname "$0")/lib.sh"

u=0e3bbd435bfb
MNT=$WORK/small
DBL_PID=''
cleanup() {
    stop_mock
    if [ -n "$DBL_PID" ]; then
        kill "$DBL_PID" 2>/dev/null || true
        wait "$DBL_PID" 2>/dev/null || true
    fi
    if mountpoint -q "$MNT" 2>/dev/null; then
        umount "$MNT" || umount -l "$MNT" || true
    fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

new_db deadletters
load_seed 50
# 40 rows whose records (about 2 KB) are each over batch.max_bytes below.
sql "CREATE TABLE fat (id integer PRIMARY KEY, v text);
     INSERT INTO fat SELECT g, repeat(chr(96 + g % 26), 2000)
     FROM generate_series(1, 40) g" >/dev/null
start_mock --auto-create
FAT='{ name = "fat"; table = "fat"; key = "id"; }'
MAX_BYTES=1024 write_conf "$WORK/pinemit.conf" "$FAT"

# letter TOPIC KEY RECORD: one dead-letter line.
letter() {
    printf '{"time":"2026-01-01T00:00:00Z","stream":"geo","topic":"%s","key":"%s","error_code":50002,"message":"m","record":%s}\n' \
        "$1" "$2" "$3"
}
G=$u.geo

# --- item 8: a damaged line is named once ---
cd "$WORK"
printf '{"time":"x","stream":"geo","topic":"%s","key":"1","e' "$G" >torn.jsonl
run_expect 2 replay --dead-letters torn.jsonl
expect_eq "torn line message" "pinemit: torn.jsonl:1: not a dead-letter line" "$OUT"

# --- item 11: a directory is an error naming it ---
mkdir -p "$WORK/adir"
run_expect 2 replay --dead-letters "$WORK/adir"
expect_eq "directory refused" \
    "pinemit: $WORK/adir: not a regular file (a dead-letter file)" "$OUT"

# --- item 7: every record is checked before anything is sent ---
# refused FILE LINE REASON-REGEX: replay refuses FILE at LINE, sends nothing.
refused() {
    run_expect 2 replay --dead-letters "$1"
    expect_match "$1 refused" "^pinemit: $1:$2: $3\$" "$OUT"
    expect_eq "$1: nothing sent" 0 "$(mock_requests)"
}
good1=$(letter "$G" 1 '{"value":{"ind":1}}')
good2=$(letter "$G" 2 '{"value":{"ind":2},"key":"k2","partition":0}')
printf '%s\n' "$(letter "$G" 3 '{"value":1},{"value":2}')" >two.jsonl
refused two.jsonl 1 'record: more than one JSON value'
printf '%s\n%s\n%s\n' "$good1" "$good2" "$(letter "$G" 3 'xyz')" >xyz.jsonl
refused xyz.jsonl 3 'record: not JSON'
printf '%s\n\n%s\n' "$good1" "$(letter "$G" 3 '{"value":1,"headers":[]}')" >hdr.jsonl
refused hdr.jsonl 3 'record: unknown member "headers"'
printf '%s\n' "$(letter "$G" 3 '{"value":1,"partition":-1}')" >part.jsonl
refused part.jsonl 1 'record: "partition" is not an integer from 0 to 2147483647'
printf '%s\n' "$(letter "$G" 3 '[{"value":1}]')" >arr.jsonl
refused arr.jsonl 1 'record: not a JSON object'
big=$(python3 -c 'print("{\"value\":\"" + "x" * 1100 + "\"}")')
printf '%s\n%s\n' "$good1" "$(letter "$G" 3 "$big")" >big.jsonl
refused big.jsonl 2 'record of 1112 bytes is over batch.max_bytes \(1024\)'
# The sound file goes out whole.
printf '%s\n%s\n' "$good1" "$good2" >ok.jsonl
run_expect 0 replay --dead-letters ok.jsonl
expect_eq "both records sent" 2 "$(wc -l <"$MOCK_STORE/records/$G.jsonl")"

# --- item 6: a torn tail is cut before appending, with a warning ---
dl=$WORK/state/dead-letters.jsonl
mkdir -p "$WORK/state"
{ printf '%s\n' "$good1"; printf '{"time":"x","stream":"geo","top'; } >"$dl"
run_expect 3 run --stream fat
expect_match "torn tail warned" \
    "pinemit: warning: $dl ended in a torn line \(31 bytes" "$OUT"
# every line is whole JSON: the old one and the 40 new ones
python3 - "$dl" <<'PY' || fail "dead-letter file after the repair"
import json, sys
data = open(sys.argv[1], encoding="utf-8").read()
assert data.endswith("\n"), data[-80:]
keys = [json.loads(l)["key"] for l in data.splitlines()]
assert keys == ["1"] + [str(k) for k in range(1, 41)], keys
PY

# --- a whole last letter that only lacks its newline is kept, not cut ---
printf '%s' "$good1" >"$dl"
rm -f "$WORK/state/fat.checkpoint" # send the 40 fat rows again
run_expect 3 run --stream fat
expect_no_match "no repair warned" "torn line" "$OUT"
python3 - "$dl" <<'PY' || fail "dead-letter file after a missing newline"
import json, sys
data = open(sys.argv[1], encoding="utf-8").read()
keys = [json.loads(l)["key"] for l in data.splitlines()]
assert keys[0] == "1" and len(keys) == 1 + 40, keys[:3]
PY

# --- the dead-letter file is never followed through a link (item 3) ---
printf 'line1\nimportant tail' >"$WORK/victim"
rm -f "$dl" "$WORK/state/fat.checkpoint"
ln -s "$WORK/victim" "$dl"
run_expect 1 run --stream fat
expect_match "link refused" "dead-letter file $dl is a symbolic link" "$OUT"
expect_eq "link target untouched" "$(printf 'line1\nimportant tail')" "$(cat "$WORK/victim")"
rm -f "$dl"

# --- item 6: a full disk leaves whole lines only ---
mkdir -p "$MNT"
if [ "$(id -u)" -ne 0 ]; then
    echo "017: full-disk part skipped: not root (mount -t tmpfs needs it)"
elif ! mount -t tmpfs -o size=64k tmpfs "$MNT" 2>"$WORK/mount.err"; then
    echo "017: full-disk part skipped: mount failed: $(cat "$WORK/mount.err")"
else
    rm -rf "$WORK/state"
    MAX_BYTES=1024 EXTRA_CONF="dead_letter = { path = \"$MNT/dl.jsonl\"; };" \
        write_conf "$WORK/pinemit.conf" "$FAT"
    run_expect 1 run --stream fat
    expect_match "disk full named" \
        "dead-letter file $MNT/dl.jsonl: No space left on device" "$OUT"
    run_expect 1 run --stream fat # still full: nothing torn either
    # whole FILE: ends in a newline, every line a dead letter; prints keys
    whole() {
        python3 - "$1" <<'PY' || fail "$1 is not whole lines"
import json, sys
data = open(sys.argv[1], encoding="utf-8").read()
assert data == "" or data.endswith("\n"), "torn: %r" % data[-80:]
print(" ".join(json.loads(l)["key"] for l in data.splitlines()))
PY
    }
    first=$(whole "$MNT/dl.jsonl")
    [ -n "$first" ] || fail "run 1 wrote no dead letter"
    mv "$MNT/dl.jsonl" "$WORK/dl-1.jsonl"
    run_expect 3 run --stream fat # room again: the rest
    second=$(whole "$MNT/dl.jsonl")
    expect_eq "each row dead-lettered once" "$(seq -s ' ' 1 40)" "$first $second"
    mv "$MNT/dl.jsonl" "$WORK/dl-2.jsonl"
    umount "$MNT"
    # Both files replay whole once the cause (the small limit) is gone.
    stop_mock
    start_mock --auto-create
    MAX_BYTES=1048576 write_conf "$WORK/pinemit.conf" "$FAT"
    run_expect 0 replay --dead-letters "$WORK/dl-1.jsonl"
    run_expect 0 replay --dead-letters "$WORK/dl-2.jsonl"
    verify "$u.fat" fat id --any-order
fi

# --- item 20: Kinesis counts max_bytes before base64 ---
export AWS_ACCESS_KEY_ID=AKIDDEADLETTERTEST AWS_SECRET_ACCESS_KEY=dead-letter-test-secret
unset AWS_SESSION_TOKEN AWS_PROFILE 2>/dev/null || true
DBL_STORE=$(mktemp -d "$WORK/double.XXXXXX")
python3 "$TESTS_DIR/kinesis/fault_double.py" --store "$DBL_STORE" \
    --port-file "$DBL_STORE/port" --quiet 2>"$DBL_STORE/stderr" &
DBL_PID=$!
timeout 10 sh -c 'until [ -s "$1" ]; do sleep 0.05; done' - "$DBL_STORE/port" ||
    fail "fault double did not start: $(cat "$DBL_STORE/stderr")"
sql "CREATE TABLE kbig (id integer PRIMARY KEY, v text);
     INSERT INTO kbig VALUES (1, repeat('a', 232000)), (2, repeat('b', 232000))" >/dev/null
mkdir -p "$WORK/k"
cat >"$WORK/k/pinemit.conf" <<CONF
user_id = "$u";
source = { conninfo = "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$PGUSER"; };
sink = {
  kind = "kinesis"; region = "us-east-1";
  endpoint = "http://127.0.0.1:$(cat "$DBL_STORE/port")";
  retry = { max_attempts = 3; initial_backoff_ms = 10; max_backoff_ms = 100; };
};
batch = { max_records = 100; max_bytes = 262144; };
state = { dir = "$WORK/k/state"; };
streams = ( { name = "kbig"; table = "kbig"; key = "id"; topic = "$u.kbig"; } );
CONF
set +e
OUT=$("$PINEMIT" -c "$WORK/k/pinemit.conf" run 2>&1 >/dev/null)
rc=$?
set -e
expect_eq "kinesis: 232 KB records under 256 KiB (stderr: $OUT)" 0 "$rc"
[ ! -s "$WORK/k/state/dead-letters.jsonl" ] || fail "kinesis: a record was dead-lettered"
# One record a request: two would be 464 KB of data, over 256 KiB.
python3 - "$DBL_STORE/requests.jsonl" <<'PY' || fail "kinesis requests"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert [r["records"] for r in reqs] == [1, 1], reqs
assert all(r["status"] == 200 and 232000 < r["data_bytes"] <= 262144 for r in reqs), reqs
PY
# A Kinesis dead letter is checked as Kinesis takes it.
cat >"$WORK/k/bad.jsonl" <<'EOF'
{"time":"x","stream":"kbig","topic":"0e3bbd435bfb.kbig","key":"1","error_code":0,"message":"m","record":{"Data":"eyJpZCI6MX0=","PartitionKey":"1"}}
{"time":"x","stream":"kbig","topic":"0e3bbd435bfb.kbig","key":"2","error_code":0,"message":"m","record":{"Data":"not base64!","PartitionKey":"2"}}
EOF
set +e
OUT=$("$PINEMIT" -c "$WORK/k/pinemit.conf" replay --dead-letters "$WORK/k/bad.jsonl" 2>&1 >/dev/null)
rc=$?
set -e
expect_eq "kinesis bad letter exit (stderr: $OUT)" 2 "$rc"
expect_eq "kinesis bad letter" \
    "pinemit: $WORK/k/bad.jsonl:2: record: \"Data\" is not base64" "$OUT"
expect_eq "kinesis: nothing more sent" 2 "$(wc -l <"$DBL_STORE/requests.jsonl")"
echo "017: ok"
