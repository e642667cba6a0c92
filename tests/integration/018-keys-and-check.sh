# SPDX-License-Identifier: MIT
# Issue #12: a key that no unique index covers is refused (pages read
# "key > last" and would skip rows that share a value); check runs the
# validation run does and exits 1, not 2, for an unreachable database or
# proxy; a checkpoint key that is not of the key's type is a damaged
# checkpoint; replay's --from/--to are read as the key's type and --topic
# needs --stream.
set -eu
. "$(dirname "$0")/lib.sh"
trap 'stop_mock' EXIT

new_db keys
load_seed 50
start_mock --auto-create
u=0e3bbd435bfb

# check_expect CODE: runs check; the exit code must be CODE; stdout and
# stderr land in $OUT.
check_expect() {
    local want=$1 rc
    shift
    set +e
    OUT=$("$PINEMIT" -c "$WORK/pinemit.conf" "$@" check 2>&1)
    rc=$?
    set -e
    expect_eq "exit code of check (output: $OUT)" "$want" "$rc"
}

# --- item 1: keys that are not unique ---
# A timestamptz key, 7 rows per value (the reported case: 2 rows lost).
sql "CREATE TABLE ts_ev AS SELECT g AS id,
       timestamptz '2024-01-01' + ((g - 1) / 7) * interval '1 s' AS at
     FROM generate_series(1, 3010) g" >/dev/null
write_conf "$WORK/pinemit.conf" '{ name = "tsdup"; table = "ts_ev"; key = "at"; }'
before=$(mock_requests)
run_expect 2 run --stream tsdup
expect_match "run names stream and key" \
    'stream tsdup: table ts_ev: key "at" is not unique: no primary key, unique constraint or unique index covers exactly that column' "$OUT"
expect_match "run says what to do" 'CREATE UNIQUE INDEX ON "public"."ts_ev" \("at"\)' "$OUT"
expect_eq "nothing sent" "$before" "$(mock_requests)"
check_expect 2 --metrics-file "$WORK/m.prom"
expect_match "check refuses it" 'stream tsdup: FAILED: table ts_ev: key "at" is not unique' "$OUT"
expect_match "other streams still ok" 'stream pin: ok' "$OUT"
expect_match "metrics directory ok" "metrics: ok: $WORK/m.prom" "$OUT"

# An integer key with 3 copies per value and fetch_rows = 4 (10 of 30 lost).
sql "CREATE TABLE dup3 AS SELECT g / 3 AS k, g AS v FROM generate_series(0, 29) g" >/dev/null
FETCH_ROWS=4 write_conf "$WORK/pinemit.conf" '{ name = "dup3"; key = "k"; }'
run_expect 2 run --stream dup3
expect_match "integer key refused" 'stream dup3: table dup3: key "k" is not unique' "$OUT"
# Indexes that do not prove the key unique: partial, on an expression, on
# two columns, or not unique at all.
sql "CREATE UNIQUE INDEX dup3_partial ON dup3 (k) WHERE v % 3 = 0;
     CREATE UNIQUE INDEX dup3_expr ON dup3 ((k + v));
     CREATE UNIQUE INDEX dup3_two ON dup3 (k, v);
     CREATE INDEX dup3_plain ON dup3 (k)" >/dev/null
run_expect 2 run --stream dup3
expect_match "partial, expression, two-column indexes do not count" 'key "k" is not unique' "$OUT"
# A unique constraint does; then all 30 rows go, 4 to a page.
sql "DROP INDEX dup3_partial, dup3_expr, dup3_two; TRUNCATE dup3;
     INSERT INTO dup3 SELECT g, g FROM generate_series(0, 29) g;
     ALTER TABLE dup3 ADD CONSTRAINT dup3_k UNIQUE (k)" >/dev/null
run_expect 0 run --stream dup3
expect_eq "every row of dup3" 30 "$(mock_records $u.dup3)"
verify $u.dup3 dup3 k

# A unique index alone, and a partitioned table's primary key.
sql "CREATE TABLE uidx (k text, v int); CREATE UNIQUE INDEX ON uidx (k);
     INSERT INTO uidx SELECT 'k' || g, g FROM generate_series(1, 9) g;
     CREATE TABLE parted (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
     CREATE TABLE parted_a PARTITION OF parted FOR VALUES FROM (0) TO (10);
     CREATE TABLE parted_b PARTITION OF parted FOR VALUES FROM (10) TO (100);
     INSERT INTO parted SELECT g, 'p' || g FROM generate_series(1, 25) g" >/dev/null
FETCH_ROWS=4 write_conf "$WORK/pinemit.conf" '{ name = "uidx"; key = "k"; },
  { name = "parted"; key = "id"; }'
run_expect 0 run --stream uidx --stream parted
verify $u.uidx uidx k
verify $u.parted parted id

# A view has no index to ask: refused unless the stream vouches for it.
sql "CREATE VIEW user_v AS SELECT * FROM user_data" >/dev/null
write_conf "$WORK/pinemit.conf" '{ name = "uv"; table = "user_v"; key = "ind"; ordered_writer = true; }'
run_expect 2 run --stream uv
expect_match "view refused" \
    'stream uv: table user_v: "user_v" is a view: no index can show that key "ind" is unique.*set unique_key = true' "$OUT"
write_conf "$WORK/pinemit.conf" '{ name = "uv"; table = "user_v"; key = "ind"; ordered_writer = true; unique_key = true; }'
check_expect 0
expect_match "vouched view passes check" 'stream uv: ok: "public"."user_v", key "ind"' "$OUT"
run_expect 0 run --stream uv
verify $u.uv user_data ind

# --- item 12: check refuses what run refuses ---
sql "CREATE TABLE vec (id int PRIMARY KEY, iv int2vector, ov oidvector);
     INSERT INTO vec VALUES (1, '1 2', '3 4')" >/dev/null
write_conf "$WORK/pinemit.conf" '{ name = "vec"; key = "id"; },
  { name = "mk"; table = "user_data"; key = "ind"; message_key = "nope"; },
  { name = "vw"; table = "user_v"; key = "ind"; unique_key = true; }'
check_expect 2
expect_match "int2vector" 'stream vec: FAILED: table vec: column "iv": type int2vector prints without array syntax' "$OUT"
expect_match "message_key" 'stream mk: FAILED: message_key: column "nope" does not exist in "public"."user_data"' "$OUT"
expect_match "view without ordered_writer" 'stream vw: FAILED: table user_v: "user_v" is a view or foreign table: it has no xmin' "$OUT"
expect_match "three problems" 'check: 3 problems found' "$OUT"
before=$(mock_requests)
run_expect 2 run --stream vec
expect_match "run refuses int2vector the same way" 'stream vec: table vec: column "iv": type int2vector' "$OUT"
expect_eq "nothing sent for vec" "$before" "$(mock_requests)"
# A metrics file whose directory is missing, from the config or the CLI.
EXTRA_CONF="metrics = { file = \"$WORK/no-such-dir/pinemit.prom\"; };" \
    write_conf "$WORK/pinemit.conf"
check_expect 2
expect_match "metrics from the config" "metrics: FAILED: $WORK/no-such-dir/pinemit.prom: directory $WORK/no-such-dir does not exist" "$OUT"
write_conf "$WORK/pinemit.conf"
check_expect 2 --metrics-file "$WORK/gone/m.prom"
expect_match "metrics from --metrics-file" "metrics: FAILED: $WORK/gone/m.prom: directory $WORK/gone does not exist" "$OUT"

# --- item 9: an unreachable database or proxy is not a config problem ---
dead_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PGPORT=$dead_port write_conf "$WORK/pinemit.conf"
check_expect 1
expect_match "database down" 'database: FAILED: cannot connect to the database' "$OUT"
expect_match "one problem" 'check: 1 problem found' "$OUT"
write_conf "$WORK/pinemit.conf"
MOCK_URL="http://127.0.0.1:$dead_port/test" write_conf "$WORK/pinemit.conf"
check_expect 1
expect_match "proxy down" 'proxy: FAILED: ' "$OUT"
# Both a config problem and a dead proxy: the config problem decides (2).
MOCK_URL="http://127.0.0.1:$dead_port/test" write_conf "$WORK/pinemit.conf" \
    '{ name = "ghost"; table = "no_such_table"; }'
check_expect 2
expect_match "two problems" 'check: 2 problems found' "$OUT"

# --- item 10: a checkpoint key that is not of the key's type ---
write_conf "$WORK/pinemit.conf"
run_expect 0 run --stream pin --limit 10
python3 - "$WORK/state/pin.checkpoint" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["key"] = "abc"
json.dump(doc, open(sys.argv[1], "w"))
PY
before=$(mock_requests)
run_expect 2 run --stream pin
expect_match "names the file and the type" \
    "stream pin: $WORK/state/pin.checkpoint: damaged checkpoint \(key \"abc\" is not a valid integer: invalid input syntax for type integer: \"abc\"\); fix or remove it by hand" "$OUT"
expect_eq "nothing sent from a damaged checkpoint" "$before" "$(mock_requests)"
rm "$WORK/state/pin.checkpoint"

# --- item 14: replay ranges and topics ---
sql "CREATE TABLE rp (id int PRIMARY KEY, v text);
     INSERT INTO rp SELECT g, 'r' || g FROM generate_series(1, 30) g" >/dev/null
write_conf "$WORK/pinemit.conf" '{ name = "rp"; key = "id"; }'
before=$(mock_requests)
run_expect 2 replay --stream rp --from 20 --to 10
expect_match "empty range" '--from 20 is after --to 10 \(stream rp, key "id", integer\)' "$OUT"
run_expect 2 replay --stream rp --from abc
expect_match "--from of the wrong type" \
    '^pinemit: --from: "abc" is not a valid integer, the type of stream rp.s key "id" \(invalid input syntax for type integer: "abc"\)$' "$OUT"
run_expect 2 replay --stream rp --to 99999999999
expect_match "--to out of range" '--to: "99999999999" is not a valid integer.*out of range' "$OUT"
run_expect 2 replay --topic scratch
expect_match "--topic alone" 'replay: --topic needs --stream' "$OUT"
expect_eq "nothing replayed" "$before" "$(mock_requests)"
# Not on a terminal: silent.  On one: one line says what goes where.
run_expect 0 replay --stream rp --from 3 --to 7 --topic scratch.rp
expect_eq "no plan line off a terminal" "" "$OUT"
expect_eq "five rows replayed" 5 "$(mock_records scratch.rp)"
script -qec "$PINEMIT -c $WORK/pinemit.conf replay --stream rp --from 3 --to 7 --topic scratch.rp" \
    /dev/null >"$WORK/tty.out" 2>&1 </dev/null || fail "replay on a terminal: $(cat "$WORK/tty.out")"
expect_match "plan line on a terminal" \
    'pinemit: replay: stream rp: keys 3 to 7 \(5 rows\) to topic scratch.rp' "$(cat "$WORK/tty.out")"
expect_eq "ten rows replayed in all" 10 "$(mock_records scratch.rp)"
