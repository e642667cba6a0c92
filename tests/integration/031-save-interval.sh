# SPDX-License-Identifier: MIT
# state.save_interval_ms: a unit's checkpoint saves start at least that far
# apart, the states acknowledged meanwhile coalesced; the first is saved at
# once, and so is the last of a run.  After kill -9 the next run resends
# what was acknowledged since the last completed save: the crash bound
# grows with the interval, and nothing is lost.
set -eu
. "$(dirname "$0")/lib.sh"
PID=
trap 'stop_mock; [ -z "$PID" ] || kill -9 "$PID" 2>/dev/null || true' EXIT

new_db saveinterval
sql "CREATE TABLE ev (id bigint PRIMARY KEY, v text);
     INSERT INTO ev SELECT g, 'x' FROM generate_series(1, 3000) g" >/dev/null
start_mock --auto-create
u=0e3bbd435bfb
MAX_RECORDS=10 write_conf "$WORK/pinemit.conf" '{ name = "ev"; table = "ev"; key = "id"; }'
sed -i 's|^state = { dir = \(.*\); };|state = { dir = \1; save_interval_ms = 60000; };|' "$WORK/pinemit.conf"
grep -q 'save_interval_ms = 60000' "$WORK/pinemit.conf" || fail "test setup: sed did not apply"

# 3,000 rows at 1,000 a second: 3 s of answers, and one save in them.
"$PINEMIT" -q -c "$WORK/pinemit.conf" run --stream ev --rate 1000 &
PID=$!
for _ in $(seq 1 200); do # bounded: 10 s
    [ -e "$WORK/state/ev.checkpoint" ] && [ "$(mock_records "$u.ev")" -ge 1000 ] && break
    sleep 0.05
done
first=$(ckpt ev)
[ "$first" != None ] || first=0 # saved before the first row (a tracked stream settles first)
sent=$(mock_records "$u.ev")
[ "$sent" -ge 1000 ] || fail "only $sent rows sent in 10 s"
# The first acknowledged state was saved at once, the later ones wait
# out the interval (without it the checkpoint would be near $sent).
[ "$first" -le 100 ] || fail "checkpoint at $first after $sent rows: saved again within the interval"
kill -9 "$PID" 2>/dev/null || true
reap

# The next run resends from the saved key: every row arrives, those
# acknowledged after the first save twice; its last state is saved at
# once at the end, not after the 60 s interval.
start=$SECONDS
out=$("$PINEMIT" -c "$WORK/pinemit.conf" run --stream ev 2>&1) || fail "rerun: $out"
[ $((SECONDS - start)) -lt 30 ] || fail "the rerun waited out the save interval"
expect_eq "last state saved at the end" 3000 "$(ckpt ev)"
verify "$u.ev" ev id --allow-duplicates
total=$(mock_records "$u.ev")
[ $((total - 3000)) -ge $((sent - first - 10)) ] ||
    fail "$((total - 3000)) duplicates, fewer than the $((sent - first)) rows acknowledged after the first save"
[ $((total - 3000)) -le $((3000 - first)) ] || fail "$((total - 3000)) duplicates: more than resent"
echo "save interval: checkpoint $first after $sent rows; $((total - 3000)) sent twice"
