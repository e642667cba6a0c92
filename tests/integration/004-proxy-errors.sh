# SPDX-License-Identifier: MIT
# A failed delivery stops the stream with exit 1 and one clear line; the
# checkpoint stays at the last acknowledged key; the next run resumes.
set -eu
. "$(dirname "$0")/lib.sh"
trap stop_mock EXIT

new_db proxyerr
load_seed 300
start_mock --auto-create
MAX_RECORDS=40 write_conf "$WORK/pinemit.conf"
u=0e3bbd435bfb
ckpt() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' \
        "$WORK/state/$1.checkpoint"
}
# run_fail REGEX: a run must exit 1 with one line matching REGEX.
run_fail() {
    set +e
    out=$("$PINEMIT" -c "$WORK/pinemit.conf" run --stream user 2>&1)
    rc=$?
    set -e
    expect_eq "exit code" 1 "$rc"
    expect_match "message" "$1" "$out"
    expect_eq "one line" 1 "$(printf '%s\n' "$out" | wc -l)"
}

# Third batch: one record rejected permanently.
mock_script '[{"delay_ms":0,"times":2},{"record_errors":{"5":50002}}]'
run_fail "stream user: keys [0-9]+ to [0-9]+: topic $u.user: HTTP 200: 1 of 40 records failed, first at index 5: error_code 50002"
keys=$(sql "SELECT ind FROM user_data ORDER BY ind LIMIT 1 OFFSET 79")
expect_eq "checkpoint after two acknowledged batches" "$keys" "$(ckpt user)"

# Gateway throttling, a proxy error, garbage, a short offsets array and a
# dropped connection all stop the stream without moving the checkpoint.
for script in \
    '[{"gateway":"Too Many Requests","status":429}]|HTTP 429: gateway error: Too Many Requests' \
    '[{"proxy_error":500,"error_code":50001,"message":"boom"}]|HTTP 500: error_code 50001: boom' \
    '[{"garbage":true}]|HTTP 200: malformed response: <html>oops' \
    '[{"short_offsets":true}]|offsets has 39 entries for 40 records' \
    '[{"drop":"before"}]|Empty reply from server|Connection' \
    '[{"status":502,"body":"<html>Bad Gateway</html>","content_type":"text/html"}]|HTTP 502: http error: <html>Bad Gateway'; do
    mock_script "${script%%|*}"
    run_fail "${script#*|}"
    expect_eq "checkpoint unchanged" "$keys" "$(ckpt user)"
done

# The partly rejected batch left its 39 other records in Kafka, as the real
# proxy does; none of the other failures stored anything.
expect_eq "records stored so far" 119 \
    "$(wc -l <"$MOCK_STORE/records/$u.user.jsonl")"

# Nothing in the way: the rest goes out, from the checkpoint, exactly once
# and in key order.
stop_mock
start_mock --auto-create
MAX_RECORDS=40 write_conf "$WORK/pinemit.conf"
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream user || fail "resume"
verify $u.user user_data ind --min-key "$keys"

# An unknown topic (no auto-creation) is a per-record 50003.
stop_mock
start_mock --topics other
MAX_RECORDS=40 write_conf "$WORK/pinemit.conf"
set +e
out=$("$PINEMIT" -c "$WORK/pinemit.conf" run --stream pin 2>&1)
rc=$?
set -e
expect_eq "unknown topic exit" 1 "$rc"
expect_match "unknown topic" "error_code 50003: Topic $u.pin not present in metadata" "$out"
