# SPDX-License-Identifier: MIT
# Every row of the seed tables, hostile rows and the type zoo arrives
# exactly once, in key order, equal to to_json, within both batch limits;
# a second run sends nothing; new rows go out on the next run.
set -eu
. "$(dirname "$0")/lib.sh"
trap stop_mock EXIT

new_db e2e
load_seed 3000
sql "CREATE TABLE events (id bigserial PRIMARY KEY, v text);
     INSERT INTO events (v) SELECT 'e' || g FROM generate_series(1, 5) g" >/dev/null
start_mock --auto-create
write_conf "$WORK/pinemit.conf" \
    '{ name = "zoo"; table = "type_zoo"; key = "id"; topic = "zoo"; },
  { name = "big"; table = "public.big_keys"; key = "k"; },
  { name = "text"; table = "text_keys"; key = "k"; },
  { name = "ev"; table = "events"; key = "id"; }'

out=$("$PINEMIT" -c "$WORK/pinemit.conf" run 2>&1) || fail "run: $out"
expect_eq "a successful run is silent" "" "$out"

u=0e3bbd435bfb
verify $u.pin pinterest_data index
verify $u.geo geolocation_data ind
verify $u.user user_data ind
verify zoo type_zoo id
verify $u.big big_keys k
verify $u.text text_keys k
check_limits 100 1048576

# Checkpoints name the last key, as PostgreSQL prints it.
expect_eq "pin checkpoint" "$(sql 'SELECT max(index) FROM pinterest_data')" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' \
        "$WORK/state/pin.checkpoint")"
expect_eq "big checkpoint" "9223372036854775807" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' \
        "$WORK/state/big.checkpoint")"

# A second run sends nothing.
before=$(mock_requests)
"$PINEMIT" -c "$WORK/pinemit.conf" run || fail "second run"
expect_eq "requests after an idle run" "$before" "$(mock_requests)"

# New rows go out on the next run, and only they.
sql "INSERT INTO events (v) VALUES ('late 1'), ('late 2'), ('Zoë')" >/dev/null
out=$("$PINEMIT" -v -c "$WORK/pinemit.conf" run --stream ev --stream pin 2>&1) ||
    fail "third run: $out"
expect_match "verbose summary" "stream ev: sent 3 rows in 1 request " "$out"
expect_match "verbose summary" "stream pin: sent 0 rows in 0 requests" "$out"
verify $u.ev events id
expect_eq "ev checkpoint" 8 \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' \
        "$WORK/state/ev.checkpoint")"
