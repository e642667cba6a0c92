# SPDX-License-Identifier: MIT
# SIGTERM mid-run: the request in flight completes, its checkpoint is saved,
# exit 0; the next run sends the rest with no duplicate.  The database going
# away mid-run: exit 1 with one line, checkpoint intact, next run resumes.
set -eu
export PATH="$PATH:$(pg_config --bindir 2>/dev/null || true)"
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
reap
[ "$rc" = 0 ] || cat "$WORK/err" >&2
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

# --- the database connection is killed mid-run: reconnect and resume ---
mock_script '[{"delay_ms":200,"times":100}]'
FETCH_ROWS=100 MAX_RECORDS=50 write_conf "$WORK/pinemit.conf"
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream user 2>"$WORK/err" &
PID=$!
wait_requests "$(($(mock_requests) + 1))"
sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
     WHERE application_name LIKE 'pinemit/%' AND datname = 'sig'" >/dev/null
reap
expect_eq "exit code after a lost connection" 0 "$rc"
expect_match "warning" "^pinemit: warning: stream user: .*reconnecting in [0-9]+ ms \\(attempt 1 of 8\\)" "$(cat "$WORK/err")"
verify $u.user user_data ind

# --- the database restarts mid-run ---
mock_script '[{"delay_ms":200,"times":100}]'
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream pin 2>"$WORK/err" &
PID=$!
wait_requests "$(($(mock_requests) + 1))"
if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- pg_ctl -D "$PGHOST/data" -m fast -w restart >/dev/null
else
    pg_ctl -D "$PGHOST/data" -m fast -w restart >/dev/null
fi
reap
expect_eq "exit code after a database restart" 0 "$rc"
verify $u.pin pinterest_data index

# --- the database stays away: give up after the retry budget ---
mock_script '[{"delay_ms":200,"times":100}]'
sql "CREATE TABLE t3 AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000) g;
     ALTER TABLE t3 ADD PRIMARY KEY (id)" >/dev/null
MAX_ATTEMPTS=3 FETCH_ROWS=50 MAX_RECORDS=50 write_conf "$WORK/pinemit.conf" \
    '{ name = "t3"; key = "id"; }'
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream t3 2>"$WORK/err" &
PID=$!
wait_requests "$(($(mock_requests) + 1))"
psql -X -q -d postgres -c "ALTER DATABASE sig ALLOW_CONNECTIONS false" >/dev/null
psql -X -q -d postgres -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
     WHERE application_name LIKE 'pinemit/%' AND datname = 'sig'" >/dev/null
reap
psql -X -q -d postgres -c "ALTER DATABASE sig ALLOW_CONNECTIONS true" >/dev/null
expect_eq "exit code when the database stays away" 1 "$rc"
expect_match "last line" "^pinemit: stream t3: cannot reconnect to the database: .*not currently accepting connections" "$(tail -n 1 "$WORK/err")"
expect_eq "three reconnect warnings" 3 "$(grep -c 'reconnecting in' "$WORK/err")"
run_expect 0 run --stream t3
verify $u.t3 t3 id

# --- a second signal abandons the request in flight at once ---
sql "CREATE TABLE t4 AS SELECT g AS id FROM generate_series(1, 200) g;
     ALTER TABLE t4 ADD PRIMARY KEY (id)" >/dev/null
write_conf "$WORK/pinemit.conf" '{ name = "t4"; key = "id"; }'
mock_script '[{"delay_ms":0},{"delay_ms":8000}]'
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream t4 2>"$WORK/err" &
PID=$!
for _ in $(seq 1 100); do
    [ -e "$WORK/state/t4.checkpoint" ] && break
    sleep 0.05
done
sleep 0.3 # now inside the slow second request
kill -INT "$PID"
sleep 0.2
kill -INT "$PID"
for _ in $(seq 1 40); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$PID" 2>/dev/null && fail "still running 2 s after the second signal"
reap
expect_eq "exit code after two signals" 0 "$rc"
expect_match "note" "in flight was abandoned" "$(cat "$WORK/err")"
expect_eq "checkpoint at the first batch" 100 "$(ckpt t4)"

# --- SIGTERM while three streams are sent at once: each finishes its
# request in flight and saves its checkpoint; the next run sends the rest,
# and nothing arrives twice ---
write_conf "$WORK/pinemit.conf" '{ name = "s1"; table = "pinterest_data"; key = "index"; topic = "sig.s1"; },
  { name = "s2"; table = "geolocation_data"; key = "ind"; topic = "sig.s2"; },
  { name = "s3"; table = "user_data"; key = "ind"; topic = "sig.s3"; }'
mock_script '[{"delay_ms":150,"times":100000}]'
before=$(mock_requests)
"$PINEMIT" -c "$WORK/pinemit.conf" run --jobs 3 --stream s1 --stream s2 --stream s3 \
    2>"$WORK/err" &
PID=$!
wait_requests "$((before + 6))"
kill -TERM "$PID"
reap
expect_eq "exit code after SIGTERM, streams at once" 0 "$rc"
for s in s1 s2 s3; do
    n=$(if [ -f "$MOCK_STORE/records/sig.$s.jsonl" ]; then wc -l <"$MOCK_STORE/records/sig.$s.jsonl"; else echo 0; fi)
    [ "$n" -gt 0 ] || fail "stream $s sent nothing before the signal"
done
mock_script '[]'
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream s1 --stream s2 --stream s3 ||
    fail "resume after SIGTERM, streams at once"
verify sig.s1 pinterest_data index
verify sig.s2 geolocation_data ind
verify sig.s3 user_data ind
