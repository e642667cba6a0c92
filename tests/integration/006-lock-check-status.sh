# SPDX-License-Identifier: MIT
# One run at a time (exit 75); check and status report what they see.
set -eu
. "$(dirname "$0")/lib.sh"
trap 'stop_mock; [ -z "${HOLD:-}" ] || kill "$HOLD" 2>/dev/null || true' EXIT

new_db lockdb
load_seed 200
start_mock --topics 0e3bbd435bfb.pin,0e3bbd435bfb.geo
write_conf "$WORK/pinemit.conf"
mkdir -p "$WORK/state"

# Another process holds the lock.
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(30)' "$WORK/state/pinemit.lock" "$WORK/held" &
HOLD=$!
for _ in $(seq 1 100); do
    [ -e "$WORK/held" ] && break
    sleep 0.05
done
[ -e "$WORK/held" ] || fail "could not take the lock for the test"
set +e
out=$("$PINEMIT" -c "$WORK/pinemit.conf" run 2>&1)
rc=$?
set -e
expect_eq "locked exit code" 75 "$rc"
expect_match "locked message" "another pinemit run holds .*pinemit.lock" "$out"
expect_eq "nothing sent while locked" 0 "$(mock_requests)"
# A dry run needs no lock.
"$PINEMIT" -c "$WORK/pinemit.conf" -n run --stream user --limit 1 >/dev/null ||
    fail "dry run under lock"
kill "$HOLD"
wait "$HOLD" 2>/dev/null || true
HOLD=

# check: config, state, database, every table, the proxy, missing topics.
out=$("$PINEMIT" -c "$WORK/pinemit.conf" check) || fail "check: $out"
expect_match "check database" "database: ok" "$out"
expect_match "check table" 'stream pin: ok: "public"."pinterest_data", key "index"' "$out"
expect_match "check proxy" "proxy: ok" "$out"
expect_match "check topic" "topic 0e3bbd435bfb.user is not listed" "$out"

# A missing table fails check with exit 1... as a config problem (2).
write_conf "$WORK/pinemit.conf" '{ name = "ghost"; table = "no_such_table"; }'
set +e
out=$("$PINEMIT" -c "$WORK/pinemit.conf" check 2>&1)
rc=$?
set -e
expect_eq "check with a missing table" 2 "$rc"
expect_match "missing table" 'stream ghost: FAILED: table no_such_table: table "no_such_table" does not exist' "$out"

# status: checkpoint and pending rows per stream.
write_conf "$WORK/pinemit.conf"
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream pin --limit 50 || fail "partial run"
out=$("$PINEMIT" -c "$WORK/pinemit.conf" status)
total=$(sql 'SELECT count(*) FROM pinterest_data')
k=$(sql 'SELECT index FROM pinterest_data ORDER BY index LIMIT 1 OFFSET 49')
expect_match "status pin" "^pin +0e3bbd435bfb.pin +$k +$((total - 50)) +0 +- +-$" \
    "$(printf '%s\n' "$out" | grep '^pin ')"
expect_match "status geo" "^geo +0e3bbd435bfb.geo +- +$(sql 'SELECT count(*) FROM geolocation_data') +- +- +-$" \
    "$(printf '%s\n' "$out" | grep '^geo ')"

# A damaged checkpoint stops its stream with exit 2 and names the file; it
# never silently starts again from zero.
echo 'garbage{' >"$WORK/state/pin.checkpoint"
before=$(mock_requests)
run_expect 2 run --stream pin
expect_match "names the file" "$WORK/state/pin.checkpoint: damaged checkpoint" "$OUT"
expect_eq "nothing sent" "$before" "$(mock_requests)"
