# SPDX-License-Identifier: MIT
# SIGTERM mid-run: the request in flight completes, its checkpoint is saved,
# exit 0; the next run sends the rest with no duplicate.  The database going
# away mid-run: exit 1 with one line, checkpoint intact, next run resumes.
set -eu
. "$(dirname "$0")/lib.sh"
PID=
trap 'stop_mock; [ -z "$PID" ] || kill "$PID" 2>/dev/null || true' EXIT

new_db sig
load_seed 1000
start_mock --auto-create
MAX_RECORDS=50 write_conf "$WORK/pinemit.conf"
u=0e3bbd435bfb

# wait_requests N: until the mock has seen N produce requests (bounded).
wait_requests() {
    for _ in $(seq 1 200); do
        [ "$(mock_requests)" -ge "$1" ] && return 0
        sleep 0.05
    done
    fail "the mock never saw $1 requests"
}

# --- SIGTERM ---
mock_script '[{"delay_ms":300,"times":100}]'
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream geo 2>"$WORK/err" &
PID=$!
wait_requests 2
kill -TERM "$PID"
set +e
wait "$PID"
rc=$?
set -e
PID=
expect_eq "exit code after SIGTERM" 0 "$rc"
expect_match "note" "stopped by a signal" "$(cat "$WORK/err")"
sent=$(wc -l <"$MOCK_STORE/records/$u.geo.jsonl")
[ "$sent" -lt "$(sql 'SELECT count(*) FROM geolocation_data')" ] ||
    fail "the run was not interrupted"
last=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])["value"]["ind"])' \
    "$MOCK_STORE/records/$u.geo.jsonl")
expect_eq "checkpoint = last acknowledged key" "$last" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$WORK/state/geo.checkpoint")"
mock_script '[]'
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream geo || fail "resume after SIGTERM"
verify $u.geo geolocation_data ind

# --- the database goes away ---
mock_script '[{"delay_ms":300,"times":100}]'
FETCH_ROWS=100 MAX_RECORDS=50 write_conf "$WORK/pinemit.conf"
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream user 2>"$WORK/err" &
PID=$!
wait_requests "$(($(mock_requests) + 1))"
sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
     WHERE application_name = 'pinemit' AND datname = 'sig'" >/dev/null
set +e
wait "$PID"
rc=$?
set -e
PID=
expect_eq "exit code after losing the database" 1 "$rc"
expect_match "message" "^pinemit: stream user: .*(terminat|connection|server closed)" "$(cat "$WORK/err")"
expect_eq "one line" 1 "$(wc -l <"$WORK/err")"
mock_script '[]'
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream user || fail "resume after database loss"
verify $u.user user_data ind
