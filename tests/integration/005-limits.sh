# SPDX-License-Identifier: MIT
# A row whose record alone exceeds batch.max_bytes (or sink.max_record_bytes)
# becomes a dead letter; the stream goes on and the run exits 3.  Batches
# always respect max_bytes; --limit stops after N rows.
set -eu
. "$(dirname "$0")/lib.sh"
trap stop_mock EXIT

new_db limits
load_seed 400
start_mock --auto-create
MAX_BYTES=8192 MAX_RECORDS=1000 write_conf "$WORK/pinemit.conf"
u=0e3bbd435bfb
dl=$WORK/state/dead-letters.jsonl

run_expect 3 run --stream pin
check_limits 1000 8192
big=$(sql "SELECT string_agg(index::text, ',' ORDER BY index) FROM pinterest_data p
           WHERE octet_length(convert_to(row_to_json(p)::text, 'UTF8')) > 8150")
expect_match "says how many and where" \
    "dead-lettered to $dl" "$OUT"
# Exactly the big rows are dead letters, whole, with the reason; every
# other row arrived once, in order.
python3 - "$dl" "$MOCK_STORE/records/$u.pin.jsonl" "$big" \
    "$(sql 'SELECT count(*) FROM pinterest_data')" <<'PY' || fail "dead letters"
import json, sys
letters = [json.loads(l) for l in open(sys.argv[1])]
sent = [json.loads(l)["value"]["index"] for l in open(sys.argv[2])]
big = [int(k) for k in sys.argv[3].split(",")]
assert [int(l["key"]) for l in letters] == big, ([l["key"] for l in letters], big)
for l in letters:
    assert l["error_code"] == 413 and "batch.max_bytes (8192)" in l["message"], l["message"]
    assert l["record"]["value"]["index"] == int(l["key"])
assert sent == sorted(sent) and not set(sent) & set(big)
assert len(sent) + len(big) == int(sys.argv[4]), (len(sent), len(big))
PY
expect_eq "checkpoint at the end" "$(sql 'SELECT max(index) FROM pinterest_data')" "$(ckpt pin)"

# sink.max_record_bytes: the proxy's own record limit, checked before sending.
rm -f "$dl"
EXTRA_CONF='' MAX_RECORDS=1000 write_conf "$WORK/pinemit.conf"
sed -i 's/^  retry = /  max_record_bytes = 2048;\n  retry = /' "$WORK/pinemit.conf"
run_expect 3 run --stream user
n=$(sql "SELECT count(*) FROM user_data u
         WHERE octet_length(convert_to(row_to_json(u)::text, 'UTF8')) + 11 > 2048")
expect_eq "user dead letters" "$n" "$(wc -l <"$dl")"
grep -q 'sink.max_record_bytes (2048)' "$dl" || fail "reason in the dead letter"

# --limit
run_expect 0 run --stream geo --limit 25
expect_eq "rows sent with --limit 25" 25 "$(wc -l <"$MOCK_STORE/records/$u.geo.jsonl")"
expect_eq "checkpoint after --limit" \
    "$(sql 'SELECT ind FROM geolocation_data ORDER BY ind LIMIT 1 OFFSET 24')" "$(ckpt geo)"

# dead_letter.max: more rejections than allowed abort the run (exit 1).
rm -f "$WORK/state/pin.checkpoint" "$dl"
MAX_BYTES=8192 MAX_RECORDS=1000 EXTRA_CONF='dead_letter = { max = 0; };' \
    write_conf "$WORK/pinemit.conf"
run_expect 1 run --stream pin
expect_match "dead_letter.max" "more than 0 records rejected in this run \\(dead_letter.max\\)" "$OUT"
expect_eq "the letters written so far" 1 "$(wc -l <"$dl")"

# run.max_runtime_s with three streams at once against a slow proxy: every
# stream stops at the deadline with its checkpoint at what was
# acknowledged; one error line, exit 1; the next run sends the rest.
rm -rf "$WORK/state"
mock_script '[{"delay_ms":300,"times":100000}]'
MAX_RECORDS=20 EXTRA_CONF='run = { max_runtime_s = 1; jobs = 3; };' \
    write_conf "$WORK/pinemit.conf"
t0=$(date +%s%N)
run_expect 1 run
t1=$(date +%s%N)
[ $(( (t1 - t0) / 1000000 )) -lt 3000 ] || fail "the run limit took $(( (t1 - t0) / 1000000 )) ms"
expect_eq "one line for the run limit" 1 \
    "$(printf '%s\n' "$OUT" | grep -c 'max_runtime_s reached')"
for s in pin geo user; do
    [ -f "$WORK/state/$s.checkpoint" ] || fail "stream $s saved no checkpoint before the limit"
done
mock_script '[]'
MAX_RECORDS=20 write_conf "$WORK/pinemit.conf"
run_expect 0 run
# (The topics hold the earlier parts' records too: order and duplicates
# are theirs; what counts is that every row is there.)
for s in "pin pinterest_data index" "geo geolocation_data ind" "user user_data ind"; do
    set -- $s
    verify "$u.$1" "$2" "$3" --allow-duplicates --any-order
done
