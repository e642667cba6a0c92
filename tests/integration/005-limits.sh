# SPDX-License-Identifier: MIT
# A row whose record alone exceeds batch.max_bytes stops the stream, naming
# stream and key, after everything before it was delivered; batches always
# respect max_bytes; --limit stops after N rows.
set -eu
. "$(dirname "$0")/lib.sh"
trap stop_mock EXIT

new_db limits
load_seed 400
start_mock --auto-create
MAX_BYTES=8192 MAX_RECORDS=1000 write_conf "$WORK/pinemit.conf"
u=0e3bbd435bfb

set +e
out=$("$PINEMIT" -c "$WORK/pinemit.conf" run --stream pin 2>&1)
rc=$?
set -e
expect_eq "exit code" 1 "$rc"
big=$(printf '%s' "$out" | sed -n 's/.*stream pin: key \([0-9]*\): the record alone is [0-9]* bytes, over batch.max_bytes (8192)$/\1/p')
[ -n "$big" ] || fail "message names stream and key: $out"
expect_eq "the named row is bigger than a batch" t \
    "$(sql "SELECT octet_length(convert_to(row_to_json(p)::text, 'UTF8')) > 8000 FROM pinterest_data p WHERE index = $big")"
check_limits 1000 8192
python3 - "$MOCK_STORE/records/$u.pin.jsonl" \
    "$(sql "SELECT string_agg(index::text, ',' ORDER BY index) FROM pinterest_data WHERE index < $big")" \
    <<'PY' || fail "every row before the big one, once, in order"
import json, sys
keys = [json.loads(l)["value"]["index"] for l in open(sys.argv[1])]
want = [int(k) for k in sys.argv[2].split(",")]
assert keys == want, (len(keys), len(want))
PY
# --limit
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream geo --limit 25 || fail "limit run"
n=$(wc -l <"$MOCK_STORE/records/$u.geo.jsonl")
expect_eq "rows sent with --limit 25" 25 "$n"
expect_eq "checkpoint after --limit" \
    "$(sql 'SELECT ind FROM geolocation_data ORDER BY ind LIMIT 1 OFFSET 24')" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$WORK/state/geo.checkpoint")"
