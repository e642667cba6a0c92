# SPDX-License-Identifier: MIT
# Each class of proxy answer (rest-proxy-v2.md section 9): retriable ones are
# retried until delivered, permanent per-record rejections become dead
# letters (exit 3), permanent request errors and exhausted retries stop the
# stream (exit 1, one line, checkpoint unchanged).
set -eu
. "$(dirname "$0")/lib.sh"
trap stop_mock EXIT

new_db proxyerr
load_seed 300
start_mock --auto-create
MAX_RECORDS=40 write_conf "$WORK/pinemit.conf"
u=0e3bbd435bfb
recs() { wc -l <"$MOCK_STORE/records/$u.$1.jsonl"; }

# --- retriable answers, one after the other, on the user stream ---
mock_script '[{"delay_ms":0},
  {"gateway":"Too Many Requests","status":429},
  {"proxy_error":500,"error_code":50001,"message":"boom"},
  {"status":502,"body":"<html>Bad Gateway</html>","content_type":"text/html"},
  {"status":503,"body":"<html>unavailable</html>","content_type":"text/html"},
  {"garbage":true},
  {"short_offsets":true},
  {"drop":"before"},
  {"record_errors":{"1":50003,"7":50003,"30":2}},
  {"drop":"after"}]'
run_expect 0 run --stream user
verify $u.user user_data ind --allow-duplicates --any-order
# The three 50003 records were resent alone, and that resend met "drop
# after": written, but unacknowledged, so sent once more.  3 duplicates,
# nothing else repeated.
rows=$(sql 'SELECT count(*) FROM user_data')
expect_eq "records stored (rows + the 3 resent twice)" "$((rows + 3))" "$(recs user)"
expect_eq "checkpoint at the end" "$(sql 'SELECT max(ind) FROM user_data')" "$(ckpt user)"

# --- permanent per-record rejections are dead letters: exit 3 ---
# (The first answer is a 429 whose Retry-After must be honoured.)
mock_script '[{"gateway":"Too Many Requests","status":429,"retry_after":"1"},
  {"record_errors":{"3":50002,"9":1}}]'
run_expect 3 run --stream geo
python3 - "$MOCK_STORE/requests.jsonl" <<'PY' || fail "Retry-After not honoured"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
a, b = [r for r in reqs if r["topic"] == "0e3bbd435bfb.geo"][:2]
assert a["status"] == 429 and b["status"] == 200, (a, b)
assert b["time"] - a["time"] >= 0.9, b["time"] - a["time"]
PY
expect_match "says how many and where" \
    "^pinemit: warning: 2 records were dead-lettered to $WORK/state/dead-letters.jsonl$" "$OUT"
dl=$WORK/state/dead-letters.jsonl
expect_eq "dead letters" 2 "$(wc -l <"$dl")"
python3 - "$dl" "$(sql 'SELECT ind FROM geolocation_data ORDER BY ind LIMIT 1 OFFSET 3')" \
    "$(sql 'SELECT ind FROM geolocation_data ORDER BY ind LIMIT 1 OFFSET 9')" <<'PY' || fail "dead-letter content"
import json, sys
letters = [json.loads(l) for l in open(sys.argv[1])]
assert [l["key"] for l in letters] == [sys.argv[2], sys.argv[3]], letters
assert [l["error_code"] for l in letters] == [50002, 50002]
for l in letters:
    assert l["stream"] == "geo" and l["topic"] == "0e3bbd435bfb.geo"
    assert str(l["record"]["value"]["ind"]) == l["key"]
PY
expect_eq "geo checkpoint past the rejected records" \
    "$(sql 'SELECT max(ind) FROM geolocation_data')" "$(ckpt geo)"
expect_eq "geo records delivered" "$(($(sql 'SELECT count(*) FROM geolocation_data') - 2))" "$(recs geo)"

# Replaying the dead letters once the cause is gone delivers them.
mv "$dl" "$WORK/dl-replay.jsonl"
run_expect 2 replay --dead-letters "$WORK/nope.jsonl"
expect_match "missing file" "nope.jsonl: No such file or directory" "$OUT"
touch "$dl"
run_expect 2 replay --dead-letters "$dl"
expect_match "refuses the live file" "is the dead-letter file this replay would write to" "$OUT"
"$PINEMIT" -c "$WORK/pinemit.conf" replay --dead-letters "$WORK/dl-replay.jsonl" ||
    fail "replay"
verify $u.geo geolocation_data ind --any-order
expect_eq "geo records after replay" "$(sql 'SELECT count(*) FROM geolocation_data')" "$(recs geo)"
[ ! -s "$dl" ] || fail "replay dead-lettered again"

# --- permanent request errors stop the stream at once ---
for script in \
    '[{"proxy_error":422,"error_code":422,"message":"Unrecognized field: headers"}]|HTTP 422: error_code 422: Unrecognized field: headers' \
    '[{"gateway":"Forbidden","status":403}]|HTTP 403: gateway error: Forbidden' \
    '[{"status":404,"body":"{\"error_code\":404,\"message\":\"HTTP 404 Not Found\"}","content_type":"application/vnd.kafka.v2+json"}]|HTTP 404: error_code 404'; do
    before=$(mock_requests)
    mock_script "${script%%|*}"
    run_expect 1 run --stream pin
    expect_match "message" "^pinemit: stream pin: keys [0-9]+ to [0-9]+: topic $u.pin: ${script#*|}" "$OUT"
    expect_eq "one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"
    expect_eq "not retried" "$((before + 1))" "$(mock_requests)"
    expect_eq "checkpoint unchanged" None "$(ckpt pin)"
done

# --- retries run out ---
mock_script '[{"status":503,"body":"down","content_type":"text/plain","times":50}]'
MAX_ATTEMPTS=3 MAX_RECORDS=40 write_conf "$WORK/pinemit.conf"
run_expect 1 run --stream pin
expect_match "gave up" "stream pin: keys [0-9]+ to [0-9]+: gave up after 3 attempts: topic $u.pin: HTTP 503: http error: down" "$OUT"
expect_eq "checkpoint unchanged" None "$(ckpt pin)"
mock_script '[]'
run_expect 0 run --stream pin
verify $u.pin pinterest_data index

# --- an unknown topic (no auto-creation) is a retriable 50003 that lasts ---
stop_mock
start_mock --topics other
MAX_ATTEMPTS=2 write_conf "$WORK/pinemit.conf"
rm -f "$WORK/state/geo.checkpoint"
run_expect 1 run --stream geo
expect_match "unknown topic" "gave up after 2 attempts: .*error_code 50003: Topic $u.geo not present in metadata" "$OUT"
