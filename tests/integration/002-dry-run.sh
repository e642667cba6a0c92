# SPDX-License-Identifier: MIT
# --dry-run prints the request bodies on stdout, one JSON document per line,
# sends nothing and moves no checkpoint.
set -eu
. "$(dirname "$0")/lib.sh"
trap stop_mock EXIT

new_db dry
load_seed 500
start_mock --auto-create
MAX_RECORDS=50 write_conf "$WORK/pinemit.conf"

"$PINEMIT" -c "$WORK/pinemit.conf" --dry-run run --stream geo >"$WORK/out" ||
    fail "dry run"
expect_eq "requests sent" 0 "$(mock_requests)"
[ ! -e "$WORK/state/geo.checkpoint" ] || fail "dry run wrote a checkpoint"
rows=$(sql 'SELECT count(*) FROM geolocation_data')
python3 - "$WORK/out" "$rows" <<'PY' || fail "dry-run bodies"
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
assert lines[-1] == "", "output must end in a newline"
total, last = 0, None
for line in lines[:-1]:
    body = json.loads(line)
    assert list(body) == ["records"], body.keys()
    assert 1 <= len(body["records"]) <= 50
    for r in body["records"]:
        assert list(r) == ["value"]
        k = r["value"]["ind"]
        assert last is None or k > last, (last, k)
        last = k
    total += len(body["records"])
assert total == int(sys.argv[2]), (total, sys.argv[2])
PY

# After a real run of part of it, a dry run shows only what is left.
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream geo --limit 120 || fail "run"
"$PINEMIT" -c "$WORK/pinemit.conf" -n run --stream geo >"$WORK/out2" ||
    fail "second dry run"
left=$(python3 -c 'import json,sys; print(sum(len(json.loads(l)["records"]) for l in open(sys.argv[1])))' "$WORK/out2")
expect_eq "rows left after --limit 120" "$((rows - 120))" "$left"
