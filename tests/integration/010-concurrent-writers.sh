# SPDX-License-Identifier: MIT
# No row left behind: rows whose transactions commit out of key order are
# still sent, exactly once; rollbacks, savepoints and a transaction left
# open past source.max_pending_age_s; then 8 writers committing in random
# order while pinemit runs again and again, with a one-column key and with
# a composite key (updated_at-style: now(), the transaction's start).
set -eu
. "$(dirname "$0")/lib.sh"
SESSIONS=
trap 'stop_mock; for p in $SESSIONS; do kill "$p" 2>/dev/null || true; done' EXIT

new_db writers
sql "CREATE TABLE ev (id bigserial PRIMARY KEY, who text, at timestamptz DEFAULT now());
     INSERT INTO ev (who) SELECT 'seed' FROM generate_series(1, 20)" >/dev/null
start_mock --auto-create
write_conf "$WORK/pinemit.conf" '{ name = "ev"; key = "id"; }'
u=0e3bbd435bfb

# session NAME: a psql session fed through a fifo, commands sent with
# `say NAME SQL` and waited for.
session() {
    mkfifo "$WORK/$1.in"
    psql -X -q -v ON_ERROR_STOP=1 <"$WORK/$1.in" >"$WORK/$1.out" 2>&1 &
    SESSIONS="$SESSIONS $!"
    eval "exec {fd_$1}>\"\$WORK/\$1.in\""
}
say() {
    local fd mark="done-$RANDOM-$RANDOM"
    eval "fd=\$fd_$1"
    printf '%s\n\\echo %s\n' "$2" "$mark" >&"$fd"
    for _ in $(seq 1 200); do
        grep -q "$mark" "$WORK/$1.out" && return 0
        sleep 0.025
    done
    fail "session $1 did not answer: $(cat "$WORK/$1.out")"
}
session a
session b

run_expect 0 run --stream ev
expect_eq "the seed rows" 20 "$(wc -l <"$MOCK_STORE/records/$u.ev.jsonl")"

# 1. The classic hole: A takes key 21, B takes 22 and commits first.
say a "BEGIN; INSERT INTO ev (who) VALUES ('A 21');"
say b "INSERT INTO ev (who) VALUES ('B 22');"
run_expect 0 run --stream ev
expect_eq "checkpoint past A's key" 22 "$(ckpt ev)"
# status shows the open transaction and its age.
out=$("$PINEMIT" -c "$WORK/pinemit.conf" status --stream ev)
expect_match "status" "^ev +$u.ev +22 +0 +1 +[0-9]+s +-$" "$(printf '%s\n' "$out" | grep '^ev ')"
say a "COMMIT;"
run_expect 0 run --stream ev
verify $u.ev ev id --any-order

# 1b. A late transaction with many rows, read back in pages smaller than
#     its row count (the late scan must not skip the rest of it).
FETCH_ROWS=2 MAX_RECORDS=3 write_conf "$WORK/pinemit.conf" '{ name = "ev"; key = "id"; }'
say a "BEGIN; INSERT INTO ev (who) SELECT 'A many' FROM generate_series(1, 7);"
say b "INSERT INTO ev (who) VALUES ('B after many');"
run_expect 0 run --stream ev
say a "COMMIT;"
run_expect 0 run --stream ev
verify $u.ev ev id --any-order
write_conf "$WORK/pinemit.conf" '{ name = "ev"; key = "id"; }'

# 2. A rollback: its key never appears, the watermark still advances.
say a "BEGIN; INSERT INTO ev (who) VALUES ('A rolled back');"
say b "INSERT INTO ev (who) VALUES ('B 24');"
run_expect 0 run --stream ev
say a "ROLLBACK;"
run_expect 0 run --stream ev
verify $u.ev ev id --any-order
expect_eq "checkpoint" 32 "$(ckpt ev)"

# 3. A row written inside a savepoint (a subtransaction: its xid is not in
#    the snapshot's list of running transactions).
say a "BEGIN; SELECT txid_current(); SAVEPOINT s1; INSERT INTO ev (who) VALUES ('A in savepoint'); RELEASE s1;"
say b "INSERT INTO ev (who) VALUES ('B 26');"
run_expect 0 run --stream ev
say a "COMMIT;"
run_expect 0 run --stream ev
verify $u.ev ev id --any-order

# 4. A transaction open longer than max_pending_age_s: a warning names its
#    backend, and pinemit stops waiting for it.
EXTRA_CONF='' write_conf "$WORK/pinemit.conf" '{ name = "ev"; key = "id"; }'
sed -i 's/^  fetch_rows = /  max_pending_age_s = 1;\n  fetch_rows = /' "$WORK/pinemit.conf"
say a "BEGIN; INSERT INTO ev (who) VALUES ('A left open');"
apid=$(sql "SELECT pid FROM pg_stat_activity WHERE state = 'idle in transaction' AND datname = 'writers'")
say b "INSERT INTO ev (who) VALUES ('B 28');"
run_expect 0 run --stream ev
sleep 1.2
run_expect 0 -v run --stream ev
expect_match "warning names the backend" "transaction [0-9]+ \\(backend pid $apid\\) has been open [0-9]+ s, longer than source.max_pending_age_s \\(1\\)" "$OUT"
# Past the cap, status no longer counts it.
out=$("$PINEMIT" -c "$WORK/pinemit.conf" status --stream ev)
expect_match "status" "^ev +$u.ev +36 +0 +0 +- +-$" "$(printf '%s\n' "$out" | grep '^ev ')"
say a "ROLLBACK;"

# writers TABLE PER STREAM: eight psql writers, PER transactions each,
# committing in random order into TABLE (now and then a rollback, and
# for ev a savepoint) while pinemit runs STREAM again and again; then
# every committed row is there, exactly once.
writers() {
    local table=$1 per=$2 stream=$3 runs=0 alive p
    : >"$WORK/$table.pids"
    for w in $(seq 1 8); do
        {
            for i in $(seq 1 "$per"); do
                echo "BEGIN; INSERT INTO $table (who) SELECT 'w$w-$i' FROM generate_series(1, 1 + $i % 3);"
                echo "SELECT pg_sleep(random() * 0.02); COMMIT;"
                [ $((i % 17)) -eq 0 ] && echo "BEGIN; INSERT INTO $table (who) VALUES ('rb'); ROLLBACK;"
                [ "$table" = ev ] && [ $((i % 13)) -eq 0 ] && echo "BEGIN; SAVEPOINT s; INSERT INTO ev (who) VALUES ('sp$w-$i'); RELEASE s; SELECT pg_sleep(random() * 0.03); COMMIT;"
            done
        } >"$WORK/$table-writer$w.sql"
        psql -X -q -o /dev/null -f "$WORK/$table-writer$w.sql" 2>"$WORK/$table-writer$w.err" &
        echo $! >>"$WORK/$table.pids"
    done
    while [ "$runs" -lt 2000 ]; do
        alive=0
        while read -r p; do kill -0 "$p" 2>/dev/null && alive=1; done <"$WORK/$table.pids"
        run_expect 0 run --stream "$stream"
        runs=$((runs + 1))
        [ "$alive" -eq 1 ] || break
        sleep 0.1
    done
    while read -r p; do wait "$p" || fail "writer $p failed"; done <"$WORK/$table.pids"
    run_expect 0 run --stream "$stream"
    verify "$u.$stream" "$table" id --any-order
    echo "$table writers: $runs runs, $(sql "SELECT count(*) FROM $table") rows, all delivered once"
}

# 5. Eight writers committing in random order while pinemit runs again
#    and again; then every committed row is there, exactly once.
write_conf "$WORK/pinemit.conf" '{ name = "ev"; key = "id"; }'
writers ev "${WRITER_TXNS:-300}" ev

# 6. The same with a composite key, ["at", "id"]: `at` is now(), the start
#    of each writer's transaction, so rows commit below keys already sent
#    and many rows share an `at` (a transaction's rows all do).
sql "CREATE TABLE ev2 (at timestamptz NOT NULL DEFAULT now(), id bigserial, who text);
     CREATE UNIQUE INDEX ev2_at_id ON ev2 (at, id)" >/dev/null
write_conf "$WORK/pinemit.conf" '{ name = "ev2"; key = ["at", "id"]; }'
writers ev2 "${WRITER_TXNS2:-120}" ev2
