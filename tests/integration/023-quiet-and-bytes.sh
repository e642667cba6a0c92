# SPDX-License-Identifier: MIT
# Review fixes of issue #12: what the summary and the metrics count, what
# -q keeps, and how a sink message counts.
#
# - Bytes and requests count only requests that got an HTTP answer: a
#   proxy that refuses the connection leaves "0 requests (0 bytes)" in the
#   summary and pinemit_bytes_total 0; a batch with per-record rejections
#   was answered, so its bytes count.
# - -q keeps the dead-letter line when the run also fails (exit 1).
# - "1 of 1 record failed", not "1 of 1 records failed".
set -eu
. "$(dirname "$0")/lib.sh"
trap stop_mock EXIT

new_db quietbytes
load_seed 50
start_mock --auto-create
u=0e3bbd435bfb
dl=$WORK/state/dead-letters.jsonl

# --- connection refused: nothing was answered, nothing counts ---
port=$MOCK_PORT
stop_mock
MOCK_URL="http://127.0.0.1:$port/test"
MAX_ATTEMPTS=2 write_conf "$WORK/pinemit.conf"
run_expect 1 -v --metrics-file "$WORK/refused.prom" run --stream geo --limit 5
expect_match "summary counts no request" \
    "stream geo: sent 0 rows in 0 requests \(0 bytes\)" "$OUT"
expect_match "refused" "gave up after 2 attempts" "$OUT"
expect_match "bytes metric" '^pinemit_bytes_total\{stream="geo"\} 0$' \
    "$(cat "$WORK/refused.prom")"
expect_match "requests metric" '^pinemit_requests_total\{stream="geo"\} 0$' \
    "$(cat "$WORK/refused.prom")"

# --- an answered batch with a per-record rejection: its bytes count ---
start_mock --auto-create
MAX_RECORDS=5 write_conf "$WORK/pinemit.conf"
mock_script '[{"record_errors":{"2":50002}}]'
run_expect 3 -v --metrics-file "$WORK/rej.prom" run --stream geo --limit 5
b=$(python3 -c 'import json,sys; print(sum(json.loads(l)["body_bytes"] for l in open(sys.argv[1]) if json.loads(l)["method"] == "POST"))' \
    "$MOCK_STORE/requests.jsonl")
expect_match "summary counts the answered request" \
    "stream geo: sent 4 rows in 1 request \($b bytes\)" "$OUT"
expect_match "bytes metric" "^pinemit_bytes_total\{stream=\"geo\"\} $b$" \
    "$(cat "$WORK/rej.prom")"
rm -f "$dl"

# --- -q: a run that fails and dead-letters keeps the dead-letter line ---
mock_script '[{"topic":"'$u'.geo","record_errors":{"0":50002}},
  {"topic":"'$u'.pin","proxy_error":422,"error_code":422,"message":"Unrecognized field: x"}]'
run_expect 1 -q run --jobs 1 --stream geo --stream pin --limit 5
expect_match "-q keeps the dead-letter line" \
    "^pinemit: warning: 1 record was dead-lettered to $dl$" "$OUT"
expect_match "and the failure" "HTTP 422: error_code 422: Unrecognized field: x" "$OUT"
expect_eq "dead letters" 1 "$(wc -l <"$dl")"
# The same without -q: the same two lines.
rm -f "$dl"
mock_script '[{"topic":"'$u'.geo","record_errors":{"0":50002}},
  {"topic":"'$u'.pin","proxy_error":422,"error_code":422,"message":"Unrecognized field: x"}]'
run_expect 1 run --jobs 1 --stream geo --stream pin --limit 5
expect_match "the dead-letter line" \
    "^pinemit: warning: 1 record was dead-lettered to $dl$" "$OUT"
expect_match "the failure" "HTTP 422: error_code 422" "$OUT"

# --- one record refused by a 401 with an offsets body: singular ---
mock_script '[{"topic":"'$u'.user","record_errors":{"0":40101}}]'
run_expect 1 run --stream user --limit 1
expect_match "singular" "HTTP 401: 1 of 1 record failed, first at index 0" "$OUT"
expect_no_match "no '1 of 1 records'" "1 of 1 records" "$OUT"
MAX_RECORDS=5 write_conf "$WORK/pinemit.conf"
mock_script '[{"topic":"'$u'.user","record_errors":{"1":40101}}]'
run_expect 1 run --stream user --limit 5
expect_match "plural" "HTTP 401: 1 of 5 records failed, first at index 1" "$OUT"
