# SPDX-License-Identifier: MIT
# Issue #15: composite keys (key = ["updated_at", "id"]): keyset pages by a
# row comparison lose nothing when ties in the first column cross page
# boundaries; rows an UPDATE trigger moves past the checkpoint go out
# again; the checkpoint holds every component as PostgreSQL prints it;
# replay's bounds are JSON arrays; shards and the database store work.
set -eu
. "$(dirname "$0")/lib.sh"
LATE=
trap 'stop_mock; [ -z "$LATE" ] || kill "$LATE" 2>/dev/null || true' EXIT

new_db keys15
start_mock --auto-create
u=0e3bbd435bfb

# 20,000 rows, 7 per updated_at value: with fetch_rows = 100 nearly every
# page boundary falls inside a run of equal updated_at.
sql "CREATE TABLE ev (id int PRIMARY KEY, updated_at timestamp NOT NULL,
       note text, n numeric);
     INSERT INTO ev SELECT g, timestamp '2024-01-01' + ((g - 1) / 7) * interval '1 s',
       'row ' || g, g * 1.5 FROM generate_series(1, 20000) g" >/dev/null
FETCH_ROWS=100 write_conf "$WORK/pinemit.conf" \
    '{ name = "ev"; table = "ev"; key = ["updated_at", "id"]; }'

# --- the key must be proven unique: the primary key on id alone is not ---
run_expect 2 run --stream ev
expect_match "composite key not covered" \
    'stream ev: table ev: key "updated_at, id" is not unique: no primary key, unique constraint or unique index covers exactly those columns' "$OUT"
expect_match "what to create" 'CREATE UNIQUE INDEX ON "public"."ev" \("updated_at", "id"\)' "$OUT"
expect_eq "nothing sent" 0 "$(mock_records $u.ev)"
sql "CREATE UNIQUE INDEX ev_ts_id ON ev (updated_at, id)" >/dev/null

# --- every row exactly once, values equal to row_to_json ---
run_expect 0 run --stream ev
expect_eq "every row of ev" 20000 "$(mock_records $u.ev)"
verify $u.ev ev id --expect-count 20000
want=$(sql "SELECT json_build_array(updated_at::text, id::text)::text FROM ev
            ORDER BY updated_at DESC, id DESC LIMIT 1")
expect_eq "checkpoint: each component as PostgreSQL prints it" "$want" "$(ckpt ev)"
expect_eq "that is" '["2024-01-01 00:47:37", "20000"]' "$want"
out=$("$PINEMIT" -c "$WORK/pinemit.conf" status --stream ev)
expect_match "status shows the composite checkpoint" \
    '^ev +0e3bbd435bfb.ev +\["2024-01-01 00:47:37", "20000"\] +0 ' "$out"
run_expect 0 run --stream ev
expect_eq "a second run sends nothing" 20000 "$(mock_records $u.ev)"

# --- updated rows go out again, in their new state, exactly once ---
sql "CREATE FUNCTION ev_touch() RETURNS trigger LANGUAGE plpgsql AS
       \$\$ BEGIN NEW.updated_at := now(); RETURN NEW; END \$\$;
     CREATE TRIGGER ev_touch BEFORE UPDATE ON ev FOR EACH ROW
       EXECUTE FUNCTION ev_touch();
     UPDATE ev SET note = 'updated ' || id WHERE id % 40 = 0" >/dev/null
run_expect 0 run --stream ev
expect_eq "exactly 500 more records" 20500 "$(mock_records $u.ev)"
tail -n 500 "$MOCK_STORE/records/$u.ev.jsonl" >"$WORK/updated.jsonl"
sql "COPY (SELECT row_to_json(e) FROM ev e WHERE id % 40 = 0
           ORDER BY updated_at, id) TO STDOUT" >"$WORK/want.jsonl"
python3 - "$WORK/updated.jsonl" "$WORK/want.jsonl" <<'PY' || fail "updated rows"
import json, sys
got = [json.loads(l)["value"] for l in open(sys.argv[1])]
want = [json.loads(l) for l in open(sys.argv[2])]
if got != want:
    sys.exit("updated records differ: %r vs %r" % (got[:2], want[:2]))
if any(not v["note"].startswith("updated ") for v in got):
    sys.exit("an old state was sent")
PY

# --- replay: bounds are JSON arrays of the key's texts ---
run_expect 0 replay --stream ev --from '["2024-01-01 00:00:01", "8"]' \
    --to '["2024-01-01 00:00:02", "20"]' --topic scratch.ev
expect_eq "13 rows replayed" 13 "$(mock_records scratch.ev)"
run_expect 2 replay --stream ev --from '["2024-01-01 00:00:01"]'
expect_match "one component short" \
    '--from: .* is not a valid \(timestamp without time zone, integer\).*expected a JSON array of 2 strings' "$OUT"
run_expect 2 replay --stream ev --from '["2024-01-01 00:00:01", "x"]'
expect_match "a component of the wrong type" \
    'invalid input syntax for type integer: "x"' "$OUT"
run_expect 2 replay --stream ev --from '["2024-01-02", "1"]' \
    --to '["2024-01-01", "1"]'
expect_match "an empty range" '--from .* is after --to' "$OUT"

# --- no row left behind: an UPDATE whose transaction began (now()) before
#     another commits, and commits after a run moved past its key ---
psql -X -q -c "BEGIN; UPDATE ev SET note = 'late A' WHERE id = 7;
               SELECT pg_sleep(4); COMMIT" >/dev/null 2>&1 &
LATE=$!
for _ in $(seq 1 100); do
    [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL
              AND query LIKE '%late A%' AND pid <> pg_backend_pid()")" = 1 ] && break
    sleep 0.05
done
sql "UPDATE ev SET note = 'B' WHERE id = 9" >/dev/null
run_expect 0 run --stream ev
expect_eq "B's row sent, A's still open" 20501 "$(mock_records $u.ev)"
expect_match "checkpoint past A's key" '"9"\]$' "$(ckpt ev)"
set +e; wait "$LATE"; rc=$?; set -e; LATE=
expect_eq "A committed" 0 "$rc"
run_expect 0 run --stream ev
expect_eq "A's row too, once" 20502 "$(mock_records $u.ev)"
expect_match "A's row in its new state" '"id":7,.*"note":"late A"' \
    "$(tail -n 1 "$MOCK_STORE/records/$u.ev.jsonl")"

# --- shards and the database store, with the same key ---
FETCH_ROWS=100 write_conf "$WORK/pinemit.conf" \
    '{ name = "evs"; table = "ev"; key = ["updated_at", "id"]; shards = 3; }'
sed -i 's|^state = { dir = "\(.*\)"; };|state = { dir = "\1"; store = "database"; table = "pinemit.checkpoints"; };|' "$WORK/pinemit.conf"
grep -q 'store = "database"' "$WORK/pinemit.conf" || fail "config edit"
run_expect 0 init
run_expect 0 run --stream evs
expect_eq "every row once over 3 shards" 20000 "$(mock_records $u.evs)"
verify $u.evs ev id --expect-count 20000 --any-order
sql "UPDATE ev SET note = 'again ' || id WHERE id <= 30" >/dev/null
run_expect 0 run --stream evs
expect_eq "the 30 updated rows again" 20030 "$(mock_records $u.evs)"
stored=$(sql "SELECT count(*) FROM pinemit.checkpoints WHERE stream = 'evs'
              AND ((state->>'key')::json->>1) ~ '^[0-9]+$'")
expect_eq "each shard's checkpoint holds both components" 3 "$stored"

# --- columns: exactly these members, in this order, renamed as asked ---
sql "CREATE TABLE pins (index int PRIMARY KEY, category text, title text,
       secret text, at timestamptz);
     INSERT INTO pins SELECT g, CASE WHEN g % 4 = 0 THEN 'spam' ELSE 'c' || g % 3 END,
       'title ' || g, 'hidden', timestamptz '2024-01-01' + g * interval '1 min'
     FROM generate_series(1, 250) g" >/dev/null
FETCH_ROWS=40 write_conf "$WORK/pinemit.conf" \
    '{ name = "shaped"; table = "pins"; key = "index";
    columns = ( "index", "category", { column = "title"; as = "pin_title"; } ); },
  { name = "nokey"; table = "pins"; key = "index"; columns = ( "title", "at" ); },
  { name = "evnote"; table = "ev"; key = ["updated_at", "id"]; columns = ( "note" ); }'
run_expect 0 run --stream shaped --stream nokey --stream evnote
# check reports each stream's effective shape.
set +e; out=$("$PINEMIT" -c "$WORK/pinemit.conf" check 2>&1); set -e
expect_match "check: composite key, its types and index" \
    'stream evnote: key \(updated_at, id\) \(timestamp without time zone, integer\), unique by public.ev_ts_id' "$out"
expect_match "check: members with a rename" \
    'stream shaped: columns \(3\): index, category, title AS pin_title' "$out"
expect_match "check: the key need not be sent" 'stream nokey: columns \(2\): title, at' "$out"
expect_match "check: no filter" 'stream shaped: where: -' "$out"
expect_eq "every pin, shaped" 250 "$(mock_records $u.shaped)"
expect_eq "every pin, key not sent" 250 "$(mock_records $u.nokey)"
expect_eq "every ev row, one member" 20000 "$(mock_records $u.evnote)"
sql "COPY (SELECT json_build_object('index', index, 'category', category,
             'pin_title', title) FROM pins ORDER BY index) TO STDOUT" >"$WORK/want.jsonl"
sql "COPY (SELECT json_build_object('title', title, 'at', at) FROM pins
           ORDER BY index) TO STDOUT" >"$WORK/want2.jsonl"
python3 - "$MOCK_STORE/records/$u.shaped.jsonl" "$WORK/want.jsonl" \
    "$MOCK_STORE/records/$u.nokey.jsonl" "$WORK/want2.jsonl" \
    "$MOCK_STORE/records/$u.evnote.jsonl" <<'PY' || fail "shaped records"
import json, sys
def pairs(path, value=True):
    out = []
    for line in open(path):
        v = json.loads(line, object_pairs_hook=list)
        out.append(dict(v)["value"] if value else v)
    return out
for got, want in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):
    g, w = pairs(got), pairs(want, False)
    if g != w:
        sys.exit("%s: %r != %r" % (got, g[:2], w[:2]))
names = {tuple(k for k, _ in v) for v in pairs(sys.argv[5])}
if names != {("note",)}:
    sys.exit("evnote members: %r" % names)
PY

# --- bad columns: exit 2 with FILE:LINE ---
bad_conf() {
    FETCH_ROWS=40 write_conf "$WORK/pinemit.conf" "$1"
    line=$(grep -n "$2" "$WORK/pinemit.conf" | head -n 1 | cut -d: -f1)
}
bad_conf '{ name = "bad"; table = "pins"; key = "index";
    columns = ( "index", "nope" ); }' '"nope"'
run_expect 2 run --stream bad
expect_match "unknown column" \
    "$WORK/pinemit.conf:$line: streams.bad.columns: column \"nope\" does not exist in \"public\".\"pins\"" "$OUT"
bad_conf '{ name = "bad"; table = "pins"; key = "index";
    columns = ( "category",
      { column = "title"; as = "category"; } ); }' 'as = "category"'
run_expect 2 run --stream bad
expect_match "a rename to a duplicate name" \
    "$WORK/pinemit.conf:$line: streams.bad.columns: \"category\" would be the name of two members of the record" "$OUT"
bad_conf '{ name = "bad"; table = "pins"; key = "index"; columns = ( ); }' 'columns = ( )'
run_expect 2 run --stream bad
expect_match "an empty list" \
    "$WORK/pinemit.conf:$line: streams.bad.columns: at least one column is needed" "$OUT"

# --- where: ANDed into every read; check runs it through EXPLAIN ---
FETCH_ROWS=40 write_conf "$WORK/pinemit.conf" \
    '{ name = "clean"; table = "pins"; key = "index"; where = "category <> '"'spam'"' OR title = '"'title 4'"'";
    columns = ( "index", { column = "title"; as = "pin_title"; } ); }'
# (check also reports the seed streams, whose tables this database lacks)
set +e; out=$("$PINEMIT" -c "$WORK/pinemit.conf" check 2>&1); set -e
expect_match "check passes the filter" 'stream clean: ok' "$out"
expect_match "check shows the filter" "stream clean: where: category <> 'spam' OR title = 'title 4'" "$out"
expect_match "check shows the key's index" 'stream clean: key \(index\) integer, unique by public.pins_pkey' "$out"
run_expect 0 run --stream clean
sql "COPY (SELECT json_build_object('index', index, 'pin_title', title) FROM pins
           WHERE category <> 'spam' OR title = 'title 4' ORDER BY index) TO STDOUT" >"$WORK/want.jsonl"
expect_eq "the matching rows only" 189 "$(wc -l <"$WORK/want.jsonl")"
python3 - "$MOCK_STORE/records/$u.clean.jsonl" "$WORK/want.jsonl" <<'PY' || fail "filtered records"
import json, sys
got = [json.loads(l)["value"] for l in open(sys.argv[1])]
want = [json.loads(l) for l in open(sys.argv[2])]
if got != want or [list(g) for g in got] != [list(w) for w in want]:
    sys.exit("filtered records differ: %d vs %d" % (len(got), len(want)))
PY
# A row that starts to match later goes out on the next run (key order).
sql "INSERT INTO pins VALUES (251, 'spam', 'no', 'x', now()), (252, 'ok', 'yes', 'x', now())" >/dev/null
run_expect 0 run --stream clean
expect_eq "only the new matching row" 190 "$(mock_records $u.clean)"
bad_conf '{ name = "bad"; table = "pins"; key = "index";
    where = "category <>"; }' 'category <>"'
run_expect 2 run --stream bad
expect_match "a filter that does not parse" \
    "$WORK/pinemit.conf:$line: streams.bad.where: syntax error at or near \"\\)\" \(in \"category <>\"\)" "$OUT"
set +e; out=$("$PINEMIT" -c "$WORK/pinemit.conf" check 2>&1); rc=$?; set -e
expect_eq "check refuses it too" 2 "$rc"
expect_match "check names file and line" "stream bad: FAILED: table pins: $WORK/pinemit.conf:$line: streams.bad.where: syntax error" "$out"
bad_conf '{ name = "bad"; table = "pins"; key = "index";
    where = "colour = '"'red'"'"; }' 'colour'
run_expect 2 run --stream bad
expect_match "a filter naming a missing column" \
    "$WORK/pinemit.conf:$line: streams.bad.where: column \"colour\" does not exist" "$OUT"
bad_conf '{ name = "bad"; table = "pins"; key = "index"; where = "title"; }' 'where = "title"'
run_expect 2 run --stream bad
expect_match "a filter that is not boolean" \
    "$WORK/pinemit.conf:$line: streams.bad.where: argument of AND must be type boolean, not type text" "$OUT"
