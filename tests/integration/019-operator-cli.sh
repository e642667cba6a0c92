# SPDX-License-Identifier: MIT
# What operators hit first (issue #12 items 11, 15-19, 21): global options
# after the command and per-command help; status and check on a full
# stdout, status before the first run; -q keeps the dead-letter line; JSON
# log objects with time/level and structured errors, valid UTF-8; the
# checkpoint gauge only for integer keys; bytes counted for a batch with
# per-record rejections; singular counts in the summary.
set -eu
. "$(dirname "$0")/lib.sh"
HOLD=
trap 'stop_mock; [ -z "$HOLD" ] || kill "$(cat "$WORK/held")" "$HOLD" 2>/dev/null || true' EXIT
u=0e3bbd435bfb

# pe CODE ARGS...: runs pinemit (no -c added); exit code must be CODE;
# stdout in $OUT, stderr in $ERR.
pe() {
    local want=$1 rc
    shift
    set +e
    "$PINEMIT" "$@" >"$WORK/out" 2>"$WORK/err"
    rc=$?
    set -e
    OUT=$(cat "$WORK/out")
    ERR=$(cat "$WORK/err")
    expect_eq "exit code of pinemit $* (stderr: $ERR)" "$want" "$rc"
}

new_db opcli
load_seed 200
start_mock --topics $u.pin,$u.geo,$u.user
write_conf "$WORK/pinemit.conf"
C=$WORK/pinemit.conf

# --- 21: the global help names every command and Kinesis ---
pe 0 --help
expect_match "init in Commands" '^  init ' "$OUT"
expect_match "Kinesis in --help" 'Kinesis' "$OUT"
pe 2
expect_match "no command hint" 'no command given: run, replay, init, check or status' "$ERR"
expect_eq "nothing on stdout" "" "$OUT"

# --- 11: status before the first run shows "-" (no state dir yet) ---
[ ! -e "$WORK/state" ] || fail "state dir exists before the first run"
pe 0 -c "$C" status
expect_match "status pin before the first run" \
    "^pin +$u.pin +- +$(sql 'SELECT count(*) FROM pinterest_data') " \
    "$(printf '%s\n' "$OUT" | grep '^pin ')"
[ ! -e "$WORK/state" ] || fail "status created the state dir"

# --- 16: global options after the command; per-command help ---
pe 0 run -c "$C" --stream user --limit 5 -q
expect_eq "run -c FILE: quiet" "" "$ERR"
expect_eq "user checkpoint" "$(sql 'SELECT ind FROM user_data ORDER BY ind LIMIT 1 OFFSET 4')" "$(ckpt user)"
pe 0 status --stream user -c "$C"
expect_match "status -c after the command" "^user +$u.user +$(ckpt user) " "$OUT"
pe 2 run --stream user -x
expect_match "unknown option names the command's help" \
    '^pinemit: run: unknown option -x \(try pinemit run --help\)$' "$ERR"
for cmd in run replay init check status; do
    pe 0 "$cmd" --help
    expect_match "$cmd --help synopsis" "^Usage: pinemit \[OPTIONS\] $cmd" "$OUT"
    expect_no_match "$cmd --help is not the global help" 'Commands:|--log-format' "$OUT"
done
pe 0 -c "$C" run --help
expect_match "run --help options" '--wait-lock S' "$OUT"
expect_eq "run --help ran nothing" "$(sql 'SELECT ind FROM user_data ORDER BY ind LIMIT 1 OFFSET 4')" "$(ckpt user)"

# --- 11: a failed write to stdout is an error naming standard output ---
[ -w /dev/full ] || fail "the test needs /dev/full"
for cmd in status check; do
    pe 0 -c "$C" "$cmd"
    set +e
    "$PINEMIT" -c "$C" "$cmd" >/dev/full 2>"$WORK/err"
    rc=$?
    set -e
    expect_eq "$cmd > /dev/full exit code" 1 "$rc"
    expect_match "$cmd > /dev/full message" \
        '^pinemit: standard output: No space left on device$' "$(cat "$WORK/err")"
done

# --- 15: -q keeps the dead-letter line (exit 3), drops the lock line (75) ---
stop_mock
start_mock --auto-create --reject-marker REJECTME
sql "CREATE TABLE dl (id bigint PRIMARY KEY, v text);
     INSERT INTO dl SELECT g, CASE WHEN g IN (3, 7) THEN 'REJECTME' ELSE 'ok' END
     FROM generate_series(1, 10) g" >/dev/null
write_conf "$C" '{ name = "dl"; table = "dl"; key = "id"; }'
pe 3 -q -c "$C" run --stream dl
expect_eq "-q dead-letter line" \
    "pinemit: warning: 2 records were dead-lettered to $WORK/state/dead-letters.jsonl" "$ERR"
expect_eq "dl checkpoint past the rejected rows" 10 "$(ckpt dl)"
# flock(1) holds the lock (-o: not its child); the child says it started.
flock -o "$WORK/state/pinemit.lock" sh -c 'echo $$ >"$1.tmp"; mv "$1.tmp" "$1"; exec sleep 30' \
    sh "$WORK/held" &
HOLD=$!
for _ in $(seq 1 100); do
    [ -s "$WORK/held" ] && break
    sleep 0.05
done
[ -s "$WORK/held" ] || fail "could not take the lock for the test"
pe 75 -q -c "$C" run
expect_eq "-q drops the lock line" "" "$ERR"
pe 75 -c "$C" run
expect_match "without -q the lock line stays" "another pinemit run .*holds .*pinemit.lock" "$ERR"
kill "$(cat "$WORK/held")"
wait "$HOLD" 2>/dev/null || true
HOLD=

# --- 19: bytes of a batch with per-record rejections; singular counts ---
sql "CREATE TABLE one (id bigint PRIMARY KEY, v text);
     INSERT INTO one VALUES (1, 'ok'), (2, 'REJECTME'), (3, 'ok')" >/dev/null
sql "CREATE TABLE single (id bigint PRIMARY KEY, v text);
     INSERT INTO single VALUES (1, 'ok')" >/dev/null
write_conf "$C" '{ name = "dl"; table = "dl"; key = "id"; },
  { name = "one"; table = "one"; key = "id"; },
  { name = "single"; table = "single"; key = "id"; }'
# body_bytes TOPIC: bytes of the produce bodies the mock got for TOPIC.
body_bytes() {
    python3 - "$MOCK_STORE/requests.jsonl" "$1" <<'PY'
import json, sys
print(sum(r["body_bytes"] for r in map(json.loads, open(sys.argv[1]))
          if r["method"] == "POST" and r["topic"] == sys.argv[2]))
PY
}
pe 3 -v -c "$C" --metrics-file "$WORK/m.prom" run --stream one --stream single
b=$(body_bytes $u.one)
[ "$b" -gt 0 ] || fail "no bytes reached the mock for $u.one"
expect_match "summary of a batch with a rejection" \
    "pinemit: stream one: sent 2 rows in 1 request \($b bytes\) to topic $u.one; 0 retries; 1 dead letter; checkpoint 3; " "$ERR"
expect_match "singular summary" \
    "pinemit: stream single: sent 1 row in 1 request \($(body_bytes $u.single) bytes\) to topic $u.single; 0 retries; 0 dead letters; checkpoint 1; " "$ERR"
expect_match "singular dead-letter line" \
    "pinemit: warning: 1 record was dead-lettered to $WORK/state/dead-letters.jsonl$" "$ERR"
expect_match "bytes metric" "^pinemit_bytes_total\{stream=\"one\"\} $b$" "$(cat "$WORK/m.prom")"

# --- 18: the checkpoint gauge only for integer keys ---
sql "CREATE TABLE hexkey (k text PRIMARY KEY, v text);
     INSERT INTO hexkey VALUES ('0x19', 'a'), ('0x1A', 'b')" >/dev/null
write_conf "$C" '{ name = "hexkey"; table = "hexkey"; key = "k"; }'
pe 0 -c "$C" --metrics-file "$WORK/h.prom" run --stream hexkey --stream user
expect_eq "hexkey checkpoint" 0x1A "$(ckpt hexkey)"
m=$(cat "$WORK/h.prom")
expect_no_match "no gauge for a text key" 'pinemit_checkpoint_key\{stream="hexkey"\}' "$m"
expect_match "gauge for an integer key" "^pinemit_checkpoint_key\{stream=\"user\"\} $(ckpt user)$" "$m"
expect_match "counters for the text-key stream" '^pinemit_rows_total\{stream="hexkey"\} 2$' "$m"

# --- 17: JSON log objects: time, level, structured errors, valid UTF-8 ---
sql "CREATE TABLE ev (id bigint PRIMARY KEY, v text);
     INSERT INTO ev SELECT g, 'v' FROM generate_series(1, 3) g" >/dev/null
write_conf "$C" '{ name = "ev"; table = "ev"; key = "id"; }'
# json_check WHAT PY_EXPR: each stderr line is a JSON object with time and
# level; PY_EXPR holds for the list `o` of them.
json_check() {
    python3 - "$WORK/err" "$2" <<'PY' || fail "$1: $(cat "$WORK/err")"
import json, re, sys
raw = open(sys.argv[1], "rb").read()
o = [json.loads(l) for l in raw.decode("utf-8").splitlines()]  # strict UTF-8
for x in o:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", x["time"]), x
    assert x["level"] in ("error", "warning", "info", "debug"), x
assert eval(sys.argv[2]), o
PY
}
# A body whose 200-byte excerpt ends inside a euro sign.
body=$(printf 'x%.0s' $(seq 1 199))€€€
mock_script "[{\"status\":400,\"body\":\"$body\",\"content_type\":\"text/plain\"}]"
pe 1 --log-format json -c "$C" run --stream ev
json_check "error object with its context" \
    'len(o) == 1 and o[0]["level"] == "error" and o[0]["stream"] == "ev" and o[0]["topic"] == "'$u'.ev" and o[0]["status"] == 400 and "error_code" not in o[0] and o[0]["msg"].endswith("x" * 199) and "\ufffd" not in o[0]["msg"]'
mock_script '[{"proxy_error":422,"error_code":42201,"message":"schema \u00e9chou\u00e9"}]'
pe 1 --log-format json -c "$C" run --stream ev
json_check "proxy error_code member" \
    'o[0]["status"] == 422 and o[0]["error_code"] == 42201 and o[0]["msg"].endswith("schema \u00e9chou\u00e9")'
# The text log of the cut body is valid UTF-8 too.
mock_script "[{\"status\":400,\"body\":\"$body\",\"content_type\":\"text/plain\"}]"
pe 1 -c "$C" run --stream ev
python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$WORK/err" ||
    fail "text log is not UTF-8: $ERR"
expect_match "text error" "^pinemit: stream ev: .*HTTP 400: .*x{199}$" "$ERR"
# The summary object has time and level as well.
pe 0 -v --log-format json -c "$C" run --stream ev --limit 1
json_check "summary object" \
    '[x["level"] for x in o if x.get("event") == "summary"] == ["info"]'
