# SPDX-License-Identifier: MIT
# run --follow under systemd's notify protocol, with a datagram socket of
# our own standing in for systemd's: READY=1 once polling, STATUS= after
# each poll, WATCHDOG=1 at half of WATCHDOG_USEC (also during a backoff,
# never while a request hangs), RELOADING=1 then READY=1 on SIGHUP,
# STOPPING=1 and exit 0 on SIGTERM.  WATCHDOG_PID naming another process
# stops the pings; '@' names an abstract socket; a plain run sends nothing.
set -eu
. "$(dirname "$0")/lib.sh"
PID= LPID= LPID2=
trap 'stop_mock; for p in $PID $LPID $LPID2; do kill "$p" 2>/dev/null || true; done' EXIT

new_db sdnotify
# The seed tables without hostile.sql, whose keys reach the int4 maximum.
psql -q -X -v ON_ERROR_STOP=1 -v rows=30 -f "$TESTS_DIR/data/seed.sql" \
    >/dev/null || fail "seed.sql"
start_mock --auto-create
write_conf "$WORK/pinemit.conf"
SOCK=$WORK/notify.sock
LOG=$WORK/notify.log

# listen ADDR LOGFILE: receives for at most 120 s; one line a datagram,
# "<monotonic seconds> <assignments joined by spaces>".
cat >"$WORK/listen.py" <<'PY'
import socket, sys, time
addr, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
s.settimeout(0.1)
open(log, "a").close()
end = time.monotonic() + 120
with open(log, "a", encoding="utf-8") as f:
    while time.monotonic() < end:
        try:
            d = s.recv(4096)
        except socket.timeout:
            continue
        text = d.decode("utf-8", "replace").replace("\n", " ")
        f.write("%.3f %s\n" % (time.monotonic(), text))
        f.flush()
PY
listen() {
    python3 "$WORK/listen.py" "$1" "$2" &
    for _ in $(seq 1 100); do [ -e "$2" ] && break; sleep 0.05; done
    [ -e "$2" ] || fail "the notify listener did not start"
}
now() { python3 -c 'import time; print("%.3f" % time.monotonic())'; }
# count REGEX [FILE]: datagrams matching REGEX (after the timestamp).
count() { grep -cE "^[0-9.]+ ($1)" "${2:-$LOG}" || true; }
# wait_for N REGEX [FILE]: until N datagrams match, for at most 10 s.
wait_for() {
    for _ in $(seq 1 200); do
        [ "$(count "$2" "${3:-}")" -ge "$1" ] && return 0
        sleep 0.05
    done
    fail "waited 10 s for $1 x /$2/; got: $(grep -v WATCHDOG "${3:-$LOG}" | tail -n 5; tail -n 5 "$WORK/follow.log")"
}
# max_gap SINCE: the longest time between two WATCHDOG=1 pings of which
# the second came after SINCE (the first may be before it).
max_gap() {
    python3 - "$LOG" "$1" <<'PY'
import sys
ts = [float(l.split()[0]) for l in open(sys.argv[1]) if l.split()[1:] == ["WATCHDOG=1"]]
gaps = [b - a for a, b in zip(ts, ts[1:]) if b >= float(sys.argv[2])]
print("%.0f" % (1000 * max(gaps)) if gaps else 99999)
PY
}

listen "$SOCK" "$LOG"
LPID=$!
env -u WATCHDOG_PID NOTIFY_SOCKET="$SOCK" WATCHDOG_USEC=1000000 \
    "$PINEMIT" -c "$WORK/pinemit.conf" --log-file "$WORK/follow.log" \
    run --follow --interval 1 &
PID=$!

wait_for 1 'READY=1$'
expect_match "first datagram" "^[0-9.]+ READY=1$" "$(head -n 1 "$LOG")"
wait_for 1 'STATUS=sent [1-9][0-9]* rows; next poll in 1 s$'
wait_for 1 'STATUS=sent 0 rows; next poll in 1 s$'
t0=$(now)
wait_for 2 'WATCHDOG=1$'
t1=$(now)
expect_match "two pings within 3 s (took $t0..$t1)" "^ok" \
    "$(python3 -c "print('ok' if $t1 - $t0 < 3 else 'slow')")"

# A 2 s Retry-After backoff is a wait, not a hang: pings go on.
mock_script '[{"status":503,"retry_after":"2","body":"busy","content_type":"text/plain"}]'
before=$(mock_requests)
t0=$(now)
sql "INSERT INTO user_data (ind, first_name) VALUES (20000001, 'backoff')" >/dev/null
for _ in $(seq 1 200); do [ "$(mock_requests)" -ge $((before + 2)) ] && break; sleep 0.05; done
expect_eq "a retry after the backoff" $((before + 2)) "$(mock_requests)"
wait_for $(($(count 'WATCHDOG=1$') + 1)) 'WATCHDOG=1$'
gap=$(max_gap "$t0")
[ "$gap" -lt 1500 ] || fail "no ping for $gap ms during a 2 s backoff"

# A request that hangs 3 s: no ping until it returns.
mock_script '[{"topic":"0e3bbd435bfb.user","delay_ms":3000}]'
before=$(mock_requests)
t0=$(now)
sql "INSERT INTO user_data (ind, first_name) VALUES (20000002, 'hang')" >/dev/null
for _ in $(seq 1 200); do [ "$(mock_requests)" -gt "$before" ] && break; sleep 0.05; done
expect_eq "the slow request" $((before + 1)) "$(mock_requests)"
wait_for $(($(count 'WATCHDOG=1$') + 1)) 'WATCHDOG=1$'
gap=$(max_gap "$t0")
[ "$gap" -ge 2500 ] || fail "pings went on during a hung request (longest gap $gap ms since $t0): $(tail -n 14 "$LOG"; tail -n 3 "$MOCK_STORE/requests.jsonl" | cut -c1-140)"

# A poll that fails says why in its status line; the next one recovers.
mock_script '[{"status":503,"body":"down","content_type":"text/plain","times":8}]'
sql "INSERT INTO user_data (ind, first_name) VALUES (20000004, 'refused')" >/dev/null
wait_for 1 'STATUS=sent 0 rows; next poll in 1 s; last poll: failed, see the log$'
wait_for 1 'STATUS=sent 1 row; next poll in 1 s$'

# SIGHUP: RELOADING=1, then READY=1 again.
kill -HUP "$PID"
wait_for 1 'RELOADING=1 MONOTONIC_USEC=[0-9]+$'
wait_for 2 'READY=1$'
reloading=$(grep -nE '^[0-9.]+ RELOADING=1' "$LOG" | head -n 1 | cut -d: -f1)
ready=$(grep -nE '^[0-9.]+ READY=1$' "$LOG" | sed -n 2p | cut -d: -f1)
[ "$ready" -gt "$reloading" ] || fail "READY=1 (line $ready) before RELOADING=1 (line $reloading)"

# SIGTERM: STOPPING=1 and exit 0.
kill -TERM "$PID"
for _ in $(seq 1 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
reap
expect_eq "exit code after SIGTERM" 0 "$rc"
wait_for 1 'STOPPING=1$'
expect_match "last datagram" "^[0-9.]+ STOPPING=1$" "$(tail -n 1 "$LOG")"

# A plain run sends nothing, even with the variables set: what arrives
# before our own marker datagram must be only the marker.
lines=$(wc -l <"$LOG")
sql "INSERT INTO user_data (ind, first_name) VALUES (20000003, 'plain')" >/dev/null
set +e
NOTIFY_SOCKET="$SOCK" WATCHDOG_USEC=1000000 "$PINEMIT" -c "$WORK/pinemit.conf" run
rc=$?
set -e
expect_eq "exit code of a plain run" 0 "$rc"
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"MARKER=1", sys.argv[1])' "$SOCK"
wait_for 1 'MARKER=1$'
expect_eq "datagrams from a plain run" "MARKER=1" \
    "$(tail -n +$((lines + 1)) "$LOG" | cut -d' ' -f2-)"

# An abstract socket ('@'), and WATCHDOG_PID naming another process: ready
# and stopping, but no pings.
ALOG=$WORK/abstract.log
listen "@pinemit-025-$$" "$ALOG"
LPID2=$!
NOTIFY_SOCKET="@pinemit-025-$$" WATCHDOG_USEC=200000 WATCHDOG_PID=1 \
    "$PINEMIT" -c "$WORK/pinemit.conf" run --follow --interval 1 &
PID=$!
wait_for 1 'READY=1$' "$ALOG"
wait_for 2 'STATUS=sent' "$ALOG"
kill -TERM "$PID"
reap
expect_eq "exit code after SIGTERM (abstract socket)" 0 "$rc"
wait_for 1 'STOPPING=1$' "$ALOG"
expect_eq "pings for another WATCHDOG_PID" 0 "$(count 'WATCHDOG=1$' "$ALOG")"

# make demo ends with the commands to try next; run them as printed, with
# the settings they say to set pointed at this test's database and mock.
set +e
demo=$(ROWS=10 "$TESTS_DIR/../scripts/demo.sh" "$PINEMIT" 2>&1)
rc=$?
set -e
expect_eq "exit code of demo.sh (output: $demo)" 0 "$rc"
steps=$(printf '%s\n' "$demo" | sed -n '/^== next: your own database$/,$p')
expect_eq "commands printed" 3 "$(printf '%s\n' "$steps" | grep -c '^  \$ ')"
expect_match "what to set" 'set source.conninfo, sink.invoke_url, streams and state.dir' "$steps"
mkdir "$WORK/try"
cd "$WORK/try"
run_step() { bash -c "$(printf '%s\n' "$steps" | grep '^  \$ ' | sed -n "$1p" | cut -c5-)"; }
run_step 1 || fail "step 1: $steps"
sed -i -e "s|conninfo = \".*\";|conninfo = \"host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$PGUSER\";|" \
    -e "s|invoke_url = \".*\";|invoke_url = \"$MOCK_URL\";|" \
    -e "s|dir = \"/var/lib/pinemit\";|dir = \"$WORK/try/state\";|" pinemit.conf
mkdir -m 700 state
out=$(run_step 2 2>&1) || fail "step 2: $out"
out=$(run_step 3 2>&1) || fail "step 3: $out"
expect_match "status after the run" 'user' "$out"
