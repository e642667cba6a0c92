# SPDX-License-Identifier: MIT
# SIGHUP refuses a change of the checkpoint store (state.store, state.table)
# as it refuses a move of state.dir: the running config is kept and the
# run goes on writing where it started.
set -eu
. "$(dirname "$0")/lib.sh"
PID=
trap 'stop_mock; [ -z "$PID" ] || kill "$PID" 2>/dev/null || true' EXIT

new_db reloadstore
sql "CREATE TABLE ev (id bigserial PRIMARY KEY, who text);
     INSERT INTO ev (who) SELECT 'seed' FROM generate_series(1, 5)" >/dev/null
start_mock --auto-create
write_conf "$WORK/pinemit.conf" '{ name = "ev"; key = "id"; }'
u=0e3bbd435bfb

follow_ev 5

# state.store = "database": refused by name, old config kept.
sed -i 's|^state = { dir = \(.*\); };|state = { dir = \1; store = "database"; };|' "$WORK/pinemit.conf"
grep -q 'store = "database"' "$WORK/pinemit.conf" || fail "test setup: sed did not apply"
kill -HUP "$PID"
for _ in $(seq 1 60); do grep -q 'state.store and state.table cannot change' "$WORK/follow.log" && break; sleep 0.05; done
expect_match "store change refused" "SIGHUP: .*pinemit.conf: state.store and state.table cannot change while running; restart pinemit; keeping the running config" "$(cat "$WORK/follow.log")"
kill -0 "$PID" || fail "follow mode died on a store change"

# Still writing to the file store it started with.
sql "INSERT INTO ev (who) VALUES ('after hup')" >/dev/null
for _ in $(seq 1 100); do [ "$(mock_records $u.ev)" -ge 6 ] && break; sleep 0.05; done
expect_eq "still polling after the refused reload" 6 "$(mock_records $u.ev)"
expect_eq "no checkpoint table was made" "" \
    "$(sql "SELECT to_regclass('pinemit.checkpoints')" | tr -d '[:space:]')"
kill -TERM "$PID"
wait "$PID" || true
PID=
