# SPDX-License-Identifier: MIT
# The database store runs several senders per instance (--jobs), each
# holding the advisory locks of the units it sends on its own connection:
# three streams go at once (their requests interleave, more than one unit's
# window is open at the mock), every row arrives once; two instances
# started together split a sharded stream without sending a row twice; a
# sender whose session is killed takes its units' locks again and loses
# no row; a unit whose lock was taken again that way and is then let go
# (follow mode, another instance joins) leaves no lock behind; a claim on
# a sender that cannot reconnect goes to another sender, and the others
# keep their sessions.
set -eu
. "$(dirname "$0")/lib.sh"
PIDS=
trap 'stop_mock; for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done' EXIT
u=0e3bbd435bfb

new_db dbjobs
load_seed 300
sql "CREATE TABLE ev (id bigserial PRIMARY KEY, who text);
     INSERT INTO ev (who) SELECT 'row ' || g FROM generate_series(1, 2000) g" >/dev/null
export MAX_RECORDS=25 MAX_IN_FLIGHT=1
to_db_store() { # FILE: state in the checkpoint table pinemit.checkpoints
    sed -i 's|^state = { dir = "\(.*\)"; };|state = { dir = "\1"; store = "database"; table = "pinemit.checkpoints"; };|' "$1"
    grep -q 'store = "database"' "$1" || fail "test setup: sed did not apply"
}
log_shows() { # WHAT FILE REGEX: waits (up to 20 s) for REGEX in FILE
    for _ in $(seq 1 400); do
        grep -Eq -- "$3" "$2" 2>/dev/null && break
        sleep 0.05
    done
    expect_match "$1" "$3" "$(cat "$2")"
}
stats() { # KEY of the mock's /_mock/stats
    curl -sf "http://127.0.0.1:$MOCK_PORT/_mock/stats" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# --- three streams, --jobs 3: all three at once, each row once ---
start_mock --auto-create
# Each answer takes 100 ms: one unit at a time keeps one request open.
mock_script '[{"delay_ms":100,"times":100000}]'
write_conf "$WORK/pinemit.conf"
to_db_store "$WORK/pinemit.conf"
run_expect 0 -v run --jobs 3 --stream pin --stream geo --stream user
expect_no_match "no one-sender notice" "one sender sends the units" "$OUT"
verify "$u.pin" pinterest_data index
verify "$u.geo" geolocation_data ind
verify "$u.user" user_data ind
peak=$(stats open_peak)
[ "$peak" -ge 2 ] || fail "more than one unit in flight: open_peak $peak (window of one unit: 1)"
# Timing-free: the produce requests of the streams interleave.  One unit
# after another would change topic twice.
changes=$(python3 - "$MOCK_STORE/requests.jsonl" <<'PY'
import json, sys
topics = [r["topic"] for r in map(json.loads, open(sys.argv[1]))
          if r["method"] == "POST" and r.get("topic")]
print(sum(1 for a, b in zip(topics, topics[1:]) if a != b))
PY
)
[ "$changes" -gt 2 ] || fail "streams not interleaved: $changes topic changes"
expect_eq "three checkpoint rows" 3 "$(sql 'SELECT count(*) FROM pinemit.checkpoints')"
# Again: nothing new, nothing sent.
before=$(mock_requests)
run_expect 0 run --jobs 3 --stream pin --stream geo --stream user
expect_eq "second run sends nothing" "$before" "$(mock_requests)"

# --- two instances at once split a stream of 4 shards ---
stop_mock
start_mock --auto-create
mock_script '[{"delay_ms":100,"times":100000}]'
ev_conf() { # SHARDS [state settings]: $WORK/ev.conf for ev alone, run.jobs 3
    EXTRA_CONF='run = { jobs = 3; };' write_conf "$WORK/ev.conf" "{ name = \"ev\"; key = \"id\"; shards = $1; }"
    sed -i '/name = "\(pin\|geo\|user\)"/d' "$WORK/ev.conf"
    to_db_store "$WORK/ev.conf"
    sed -i "s|store = \"database\";|store = \"database\"; ${2:-}|" "$WORK/ev.conf"
}
ev_conf 4 'max_shards_per_instance = 2;'
"$PINEMIT" -c "$WORK/ev.conf" --log-file "$WORK/a.log" -v run --stream ev &
A=$!
"$PINEMIT" -c "$WORK/ev.conf" --log-file "$WORK/b.log" -v run --stream ev &
B=$!
PIDS="$A $B"
# While they run: one instance's locks live on several connections.
spread=0
for _ in $(seq 1 100); do
    spread=$(sql "SELECT coalesce(max(n), 0) FROM (SELECT count(DISTINCT l.pid) AS n
                  FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                  WHERE l.locktype = 'advisory' AND l.objsubid = 2
                  AND l.classid = hashtext('pinemit:ev')::oid
                  GROUP BY a.application_name) s")
    [ "$spread" -ge 2 ] && break
    sleep 0.05
done
expect_eq "an instance holds its units on two connections" 2 "$spread"
set +e
wait "$A"; ra=$?
wait "$B"; rb=$?
set -e
PIDS=
expect_eq "instance A exit code ($(cat "$WORK/a.log"))" 0 "$ra"
expect_eq "instance B exit code ($(cat "$WORK/b.log"))" 0 "$rb"
took() { grep -o 'took ev#[0-9]' "$1" | sort; }
expect_eq "A took two shards" 2 "$(took "$WORK/a.log" | wc -l)"
expect_eq "B took two shards" 2 "$(took "$WORK/b.log" | wc -l)"
expect_eq "the shards split, none twice" 4 "$( (took "$WORK/a.log"; took "$WORK/b.log") | sort -u | wc -l)"
verify "$u.ev" ev id --any-order
expect_eq "four checkpoint rows of ev" 4 \
    "$(sql "SELECT count(*) FROM pinemit.checkpoints WHERE stream = 'ev'")"

# --- a sender's session killed mid-run: it takes its locks again ---
# The kill must land while the sender reads its first unit's pages: it
# waits for a page query on that connection, and the unit lasts seconds
# (about 14 answers of 250 ms; pages of 50 rows, one asked ahead).
pages_on() { # SQL: the backends whose last query asked for a page
    echo "SELECT a.pid FROM pg_stat_activity a WHERE a.query LIKE 'SELECT %LIMIT \$%'"
}
stop_mock
start_mock --auto-create
mock_script '[{"delay_ms":250,"times":100000}]'
sql "DELETE FROM pinemit.checkpoints" >/dev/null
FETCH_ROWS=50 ev_conf 6 # pages of 50: a lost session is seen within the unit
"$PINEMIT" -c "$WORK/ev.conf" --log-file "$WORK/k.log" -v run --stream ev &
PID=$!
PIDS=$PID
victim=
for _ in $(seq 1 200); do # a sender holding two units, reading the first
    victim=$(sql "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory'
                  AND l.objsubid = 2 AND l.classid = hashtext('pinemit:ev')::oid
                  AND l.pid IN ($(pages_on))
                  GROUP BY l.pid HAVING count(*) = 2 LIMIT 1")
    [ -n "$victim" ] && break
    sleep 0.05
done
[ -n "$victim" ] || fail "no connection holding two units' locks reading pages ($(cat "$WORK/k.log"))"
expect_eq "session killed" t "$(sql "SELECT pg_terminate_backend($victim)")"
reap
PIDS=
expect_eq "exit code after a lost session ($(cat "$WORK/k.log"))" 0 "$rc"
expect_match "the unit reconnected" "reconnecting in" "$(cat "$WORK/k.log")"
# The other unit whose lock went with that session took it again first.
expect_match "the next unit re-took its lock" "took ev#[0-5] again \(its connection was reset\)" "$(cat "$WORK/k.log")"
expect_no_match "nothing taken over" "took .* over" "$(cat "$WORK/k.log")"
verify "$u.ev" ev id --any-order --allow-duplicates
expect_eq "six checkpoint rows of ev" 6 \
    "$(sql "SELECT count(*) FROM pinemit.checkpoints WHERE stream = 'ev'")"

# --- a lock taken again mid-unit is released with the unit ---
# In follow mode a sender's session is killed during ev#1: the unit
# reconnects and takes its lock again.  Another instance joins before the
# poll ends; the next poll lets ev#1 go (fair share 1 of 2), and its lock
# goes with it, so that the other instance can take it.
stop_mock
start_mock --auto-create
mock_script '[{"delay_ms":100,"times":100000}]'
sql "DELETE FROM pinemit.checkpoints" >/dev/null
FETCH_ROWS=50 ev_conf 2
sed -i 's/jobs = 3;/jobs = 2;/' "$WORK/ev.conf"
"$PINEMIT" -c "$WORK/ev.conf" --log-file "$WORK/f.log" -v run --stream ev --follow --interval 1 &
PID=$!
PIDS=$PID
ev1_locks() { # the advisory locks on ev#1 of the instance's connections
    sql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
         WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.objid = 1
         AND l.classid = hashtext('pinemit:ev')::oid
         AND a.application_name LIKE 'pinemit/%/$PID'"
}
victim=
for _ in $(seq 1 200); do # ev#1's sender reading its pages
    victim=$(sql "SELECT l.pid FROM pg_locks l
                  WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.objid = 1
                  AND l.classid = hashtext('pinemit:ev')::oid
                  AND l.pid IN ($(pages_on))")
    [ -n "$victim" ] && break
    sleep 0.05
done
[ -n "$victim" ] || fail "no connection sending ev#1 ($(cat "$WORK/f.log"))"
expect_eq "ev#1's session killed" t "$(sql "SELECT pg_terminate_backend($victim)")"
log_shows "ev#1 reconnected" "$WORK/f.log" "stream ev#1: .*reconnecting in"
# The other instance: a session named as an instance is one.
PGAPPNAME=pinemit/other/1 psql -X -q -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
PIDS="$PID $!"
log_shows "ev#1 released" "$WORK/f.log" "released ev#1 \(fair share 1 of 2 instances\)"
expect_eq "no lock on ev#1 left with the instance" 0 "$(ev1_locks)"
kill -TERM "$PID"
reap
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
     WHERE application_name = 'pinemit/other/1'" >/dev/null
expect_eq "follow stops on SIGTERM ($(cat "$WORK/f.log"))" 0 "$rc"

# --- a claim on a sender whose connection is lost goes to another ---
# ev#1 is held elsewhere at the first poll, so sender 2 asks for it in
# vain.  Then the database takes no new connections, sender 2's session
# and the holder's end: the next poll cannot reconnect sender 2 and takes
# ev#1 on sender 1, whose session (and ev#0's lock) is kept.
stop_mock
start_mock --auto-create
sql "DELETE FROM pinemit.checkpoints" >/dev/null
ev_conf 2
sed -i 's/jobs = 3;/jobs = 2;/' "$WORK/ev.conf"
trap 'psql -X -q -d postgres -c "ALTER DATABASE dbjobs ALLOW_CONNECTIONS true" >/dev/null 2>&1;
      stop_mock; for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done' EXIT
PGAPPNAME=holder psql -X -q -c "SELECT pg_advisory_lock(hashtext('pinemit:ev'), 1), pg_sleep(60)" >/dev/null 2>&1 &
PIDS=$!
holder=
for _ in $(seq 1 100); do
    holder=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'holder'
                  AND wait_event = 'PgSleep'")
    [ -n "$holder" ] && break
    sleep 0.05
done
[ -n "$holder" ] || fail "no holder of ev#1"
"$PINEMIT" -c "$WORK/ev.conf" --log-file "$WORK/c.log" -v run --stream ev --follow --interval 2 &
PID=$!
PIDS="$PIDS $PID"
log_shows "ev#0 sent" "$WORK/c.log" "stream ev#0: sent"
expect_no_match "ev#1 held elsewhere" "took ev#1" "$(cat "$WORK/c.log")"
mine="application_name LIKE 'pinemit/%/$PID'"
sender2=$(sql "SELECT pid FROM pg_stat_activity WHERE $mine
               AND query LIKE '%pg_try_advisory_lock%'
               AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')")
sender1=$(sql "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2
               AND objid = 0 AND classid = hashtext('pinemit:ev')::oid")
[ -n "$sender2" ] && [ -n "$sender1" ] || fail "senders not found ($(cat "$WORK/c.log"))"
psql -X -q -d postgres -c "ALTER DATABASE dbjobs ALLOW_CONNECTIONS false" \
    -c "SELECT pg_terminate_backend($sender2), pg_terminate_backend($holder)" >/dev/null
for _ in $(seq 1 200); do
    [ "$(mock_records "$u.ev")" -ge 2000 ] && break
    sleep 0.05
done
psql -X -q -d postgres -c "ALTER DATABASE dbjobs ALLOW_CONNECTIONS true" >/dev/null
expect_eq "ev#1 sent on the other sender ($(cat "$WORK/c.log"))" 2000 "$(mock_records "$u.ev")"
expect_match "sender 2 passed over" "sender 2: .*claiming on another" "$(cat "$WORK/c.log")"
expect_eq "sender 1 kept its session and ev#0's lock" "$sender1" \
    "$(sql "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2
            AND objid = 0 AND classid = hashtext('pinemit:ev')::oid")"
kill -TERM "$PID"
reap
expect_eq "follow stops on SIGTERM ($(cat "$WORK/c.log"))" 0 "$rc"
