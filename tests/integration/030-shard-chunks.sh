# SPDX-License-Identifier: MIT
# Chunked shards (shard_chunk) and the shard assignment kept in the
# checkpoints.  (a) shards = 8, shard_chunk = 1024: init builds the chunk
# index, every row arrives exactly once, the page query walks that index
# and the whole stream reads at most 1.5x the heap and index blocks of the
# same stream unsharded.  (b) shard_chunk on a text or timestamptz key is
# a configuration error.  (c) a checkpoint written for other shards or
# another shard_chunk is refused (file and database stores), nothing
# sent.  (d) a checkpoint from before the assignment was recorded is
# accepted as ever.
set -eu
. "$(dirname "$0")/lib.sh"
PID=
trap 'stop_mock; [ -z "$PID" ] || kill "$PID" 2>/dev/null || true' EXIT

new_db chunks
# About 24 rows a heap block, in key order, as a table filled by a serial.
sql "CREATE TABLE ev (id int PRIMARY KEY, pad text, ts timestamptz UNIQUE,
                      name text UNIQUE);
     INSERT INTO ev SELECT g, repeat('x', 280),
            '2024-01-01'::timestamptz + g * interval '1 s', 'n' || g
     FROM generate_series(1, 20000) g" >/dev/null
sql "VACUUM ANALYZE ev" >/dev/null
start_mock --auto-create
u=0e3bbd435bfb

# conf FILE STREAMS...: the test config with only the given streams.
conf() {
    local file=$1
    shift
    mkdir -p "$(dirname "$file")"
    FETCH_ROWS=200 MAX_RECORDS=500 write_conf "$file" "$(IFS=,; echo "$*")"
    sed -i '/name = "pin"\|name = "geo"\|name = "user"/d' "$file"
}

# flushed: pinemit's sessions are gone, so their statistics reached the
# views (a backend reports them as it exits, before it leaves
# pg_stat_activity); bounded.
flushed() {
    for _ in $(seq 1 100); do
        [ "$(sql "SELECT count(*) FROM pg_stat_activity
                  WHERE application_name LIKE 'pinemit%'")" = 0 ] && return 0
        sleep 0.1
    done
    fail "pinemit's sessions did not end"
}

# blocks: heap + index blocks of ev read since the last reset.
blocks() {
    flushed
    sql "SELECT heap_blks_read + heap_blks_hit + idx_blks_read + idx_blks_hit
         FROM pg_statio_user_tables WHERE relname = 'ev'"
}

# exactly_once TOPIC: the mock holds ids 1..20000 once each.
exactly_once() {
    python3 - "$MOCK_STORE/records/$u.$1.jsonl" <<'PY' || fail "exactly once: $1"
import json, sys
ids = [json.loads(l)["value"]["id"] for l in open(sys.argv[1])]
assert len(ids) == 20000, len(ids)
assert sorted(ids) == list(range(1, 20001)), "missing or duplicate rows"
PY
}

# (a) ------------------------------------------------------------------
conf "$WORK/a/pinemit.conf" \
    '{ name = "ev"; table = "ev"; key = "id"; }' \
    '{ name = "evc"; table = "ev"; key = "id"; shards = 8; shard_chunk = 1024; }'
A="$WORK/a/pinemit.conf"
idx=pinemit_shard8c1024_ev_id
out=$("$PINEMIT" -c "$A" check 2>&1) || fail "check: $out"
expect_match "check warns" "stream evc: warning: no shard index $idx: each of the 8 shards" "$out"
out=$("$PINEMIT" -c "$A" init 2>&1) || fail "init: $out"
expect_match "init names the chunk index" "stream evc: shard index $idx: ready" "$out"
case $(sql "SELECT pg_get_indexdef('$idx'::regclass)") in
*"USING btree ((((hashtextextended(((id / 1024))::text, (0)::bigint) & '9223372036854775807'::bigint) % (8)::bigint)), id)") ;;
*) fail "index definition: $(sql "SELECT pg_get_indexdef('$idx'::regclass)")" ;;
esac
out=$("$PINEMIT" -c "$A" check 2>&1) || fail "check: $out"
expect_no_match "check quiet with the index" "stream evc: warning" "$out"

plan=$(psql -X -A -t -v ON_ERROR_STOP=1 <<'SQL'
PREPARE p(int4, int8) AS SELECT id, pad FROM public.ev
  WHERE ((pg_catalog.hashtextextended((id / 1024)::text, 0) & 9223372036854775807) % 8, id) > (3, $1)
  AND (pg_catalog.hashtextextended((id / 1024)::text, 0) & 9223372036854775807) % 8 < 4
  ORDER BY (pg_catalog.hashtextextended((id / 1024)::text, 0) & 9223372036854775807) % 8, id LIMIT $2;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE p(100, 200);
SQL
)
expect_match "page query uses the chunk index" "Index Scan using $idx on ev" "$plan"

sql "VACUUM ANALYZE ev" >/dev/null
sql "SELECT pg_stat_reset()" >/dev/null
out=$("$PINEMIT" -c "$A" run --stream ev 2>&1) || fail "unsharded run: $out"
plain=$(blocks)
exactly_once ev
sql "SELECT pg_stat_reset()" >/dev/null
out=$("$PINEMIT" -c "$A" run --stream evc 2>&1) || fail "chunked run: $out"
chunked=$(blocks)
exactly_once evc
scans=$(sql "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = '$idx'")
[ "$scans" -ge 8 ] || fail "the chunk index was scanned $scans times, want >= 8"
echo "blocks: unsharded $plain, 8 shards of 1024-key chunks $chunked"
[ $((chunked * 2)) -le $((plain * 3)) ] ||
    fail "8 chunked shards read $chunked blocks, more than 1.5 x $plain"
python3 - "$WORK/a/state/evc.3.checkpoint" <<'PY' || fail "assignment recorded"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["shards"] == 8 and c["shard_chunk"] == 1024, c
PY

# (b) ------------------------------------------------------------------
conf "$WORK/b/pinemit.conf" \
    '{ name = "evt"; table = "ev"; key = "name"; shards = 2; shard_chunk = 64; }'
CONF="$WORK/b/pinemit.conf" run_expect 2 run --stream evt
expect_match "text key refused" 'stream evt#0: table ev: .*pinemit.conf:[0-9]+: streams.evt.shard_chunk = 64 needs a key of one smallint, integer or bigint column, but key "name" is text' "$OUT"
conf "$WORK/b/pinemit.conf" \
    '{ name = "evts"; table = "ev"; key = "ts"; shards = 2; shard_chunk = 10; }'
set +e
out=$("$PINEMIT" -c "$WORK/b/pinemit.conf" check 2>&1)
rc=$?
set -e
expect_eq "check exit code ($out)" 2 "$rc"
expect_match "check names it" 'stream evts: FAILED: .*streams.evts.shard_chunk = 10 needs a key of one smallint, integer or bigint column, but key "ts" is timestamp with time zone' "$out"
expect_eq "nothing sent" 0 "$(mock_records "$u.evt")"

# (c) ------------------------------------------------------------------
C="$WORK/c/pinemit.conf"
conf "$C" '{ name = "ev4"; table = "ev"; key = "id"; shards = 4; }'
out=$("$PINEMIT" -c "$C" run --stream ev4 2>&1) || fail "4 shards: $out"
expect_eq "4 shards sent" 20000 "$(mock_records "$u.ev4")"
sed -i 's/shards = 4;/shards = 2;/' "$C"
sql "INSERT INTO ev SELECT g, 'late' FROM generate_series(20001, 20100) g" >/dev/null
CONF="$C" run_expect 2 run --stream ev4
expect_match "4 -> 2 refused" "stream ev4#[01]: $WORK/c/state/ev4\.[01]\.checkpoint: written for shards = 4, shard_chunk = 1, but the configuration says shards = 2, shard_chunk = 1: .*would skip rows; put shards and shard_chunk back, or, to re-shard, remove all of stream ev4's checkpoints" "$OUT"
expect_eq "nothing sent after 4 -> 2" 20000 "$(mock_records "$u.ev4")"
CONF="$C" run_expect 2 status
expect_match "status refuses too" "ev4\.0\.checkpoint: written for shards = 4" "$OUT"
set +e
out=$("$PINEMIT" -c "$C" check 2>/dev/null)
rc=$?
set -e
expect_eq "check fails on the changed split" 2 "$rc"
expect_match "check names it" "stream ev4: FAILED: .*ev4\.0\.checkpoint: written for shards = 4, shard_chunk = 1, but the configuration says shards = 2" "$out"
# 4 -> 8: shards 4 to 7 have no checkpoint, but nothing is sent while
# shards 0 to 3 are refused.
sed -i 's/shards = 2;/shards = 8;/' "$C"
CONF="$C" run_expect 2 run --stream ev4
expect_match "4 -> 8 refused" "stream ev4#[0-3]: .*written for shards = 4, shard_chunk = 1, but the configuration says shards = 8" "$OUT"
expect_eq "nothing sent after 4 -> 8" 20000 "$(mock_records "$u.ev4")"
sed -i 's/shards = 8;/shards = 2;/' "$C"
sed -i 's/shards = 2;/shards = 4; shard_chunk = 512;/' "$C"
CONF="$C" run_expect 2 run --stream ev4
expect_match "chunk change refused" "written for shards = 4, shard_chunk = 1, but the configuration says shards = 4, shard_chunk = 512" "$OUT"
expect_eq "nothing sent after the chunk change" 20000 "$(mock_records "$u.ev4")"

# The database store: shard 0 shares the unsharded stream's row, so going
# from 4 shards back to 1 would skip the other shards' rows.
sql "DELETE FROM ev WHERE id > 20000" >/dev/null
stop_mock
start_mock --auto-create
D="$WORK/d/pinemit.conf"
conf "$D" '{ name = "ev4"; table = "ev"; key = "id"; shards = 4; }'
sed -i 's|^state = { dir = "\(.*\)"; };|state = { dir = "\1"; store = "database"; table = "pinemit.ck30"; };|' "$D"
grep -q 'store = "database"' "$D" || fail "test setup: sed did not apply"
out=$("$PINEMIT" -c "$D" run --stream ev4 2>&1) || fail "database store, 4 shards: $out"
expect_eq "4 shards sent (database store)" 20000 "$(mock_records "$u.ev4")"
sed -i 's/shards = 4;/shards = 1;/' "$D"
CONF="$D" run_expect 2 run --stream ev4
expect_match "4 -> 1 refused (database store)" 'pinemit.ck30 \(stream ev4, shard 0\): written for shards = 4, shard_chunk = 1, but the configuration says shards = 1' "$OUT"
expect_eq "nothing sent after 4 -> 1" 20000 "$(mock_records "$u.ev4")"

# (d) ------------------------------------------------------------------
# A checkpoint without the members (as written before them) is taken as
# it is: shard 0 resumes from its key and records the assignment again.
stop_mock
start_mock --auto-create
conf "$C" '{ name = "ev4"; table = "ev"; key = "id"; shards = 4; }'
python3 - "$WORK/c/state/ev4.0.checkpoint" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
del c["shards"], c["shard_chunk"]
c["key"] = "19000"
c.pop("tracking", None)
json.dump(c, open(sys.argv[1], "w"))
PY
want=$(sql "SELECT count(*) FROM ev WHERE id > 19000 AND
            (hashtextextended(id::text, 0) & 9223372036854775807) % 4 = 0")
out=$("$PINEMIT" -c "$C" run --stream ev4 2>&1) || fail "old checkpoint: $out"
expect_eq "shard 0 resent from 19000" "$want" "$(mock_records "$u.ev4")"
python3 - "$WORK/c/state/ev4.0.checkpoint" <<'PY' || fail "recorded again"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["shards"] == 4 and c["shard_chunk"] == 1, c
PY
# Such a checkpoint was written by per-key shards: a chunked split would
# skip rows from it (upgrade, then add shard_chunk), so it is refused.
python3 - "$WORK"/c/state/ev4.[0-3].checkpoint <<'PY'
import json, sys
for f in sys.argv[1:]:
    c = json.load(open(f))
    del c["shards"], c["shard_chunk"]
    json.dump(c, open(f, "w"))
PY
sed -i 's/shards = 4;/shards = 4; shard_chunk = 1024;/' "$C"
before=$(mock_records "$u.ev4")
CONF="$C" run_expect 2 run --stream ev4
expect_match "old checkpoint, new chunk: refused" "ev4\.[0-3]\.checkpoint: written before pinemit recorded its shard split, so for shard_chunk = 1, but the configuration says shards = 4, shard_chunk = 1024" "$OUT"
expect_eq "nothing sent with the old checkpoint and a chunk" "$before" "$(mock_records "$u.ev4")"

# (e) ------------------------------------------------------------------
# A long multibyte table name: the shard index name is cut to 63 bytes at
# a character's start, as PostgreSQL cuts it (a byte 63 inside "é" was
# kept as a stray lead byte, and init failed on the invalid name).
long=$(python3 -c 'print("é" * 25)')
sql "CREATE TABLE \"$long\" (id integer PRIMARY KEY, v text);
     INSERT INTO \"$long\" SELECT g, 'x' FROM generate_series(1, 100) g" >/dev/null
E="$WORK/e/pinemit.conf"
conf "$E" "{ name = \"evl\"; table = \"$long\"; key = \"id\"; shards = 8; shard_chunk = 1024; }"
out=$("$PINEMIT" -c "$E" init 2>&1) || fail "init, long name: $out"
expect_match "index of a long name built" "shard index pinemit_shard8c1024_(é)+: ready" "$out"
out=$("$PINEMIT" -c "$E" check 2>&1) || fail "check, long name: $out"
expect_no_match "check finds the index" "no shard index|cannot look up" "$out"

# (f) ------------------------------------------------------------------
# SIGHUP with a changed split: refused before any shard starts, the
# running config kept (shards 4 to 7 would have sent their whole part).
stop_mock
start_mock --auto-create
F="$WORK/f/pinemit.conf"
conf "$F" '{ name = "ev4"; table = "ev"; key = "id"; shards = 4; }'
"$PINEMIT" -c "$F" --log-file "$WORK/f/follow.log" run --stream ev4 --follow --interval 1 &
PID=$!
for _ in $(seq 1 200); do
    [ "$(mock_records "$u.ev4")" -ge 20000 ] && break
    sleep 0.05
done
expect_eq "first poll" 20000 "$(mock_records "$u.ev4")"
sed -i 's/shards = 4;/shards = 8;/' "$F"
kill -HUP "$PID"
for _ in $(seq 1 100); do
    grep -q 'SIGHUP: .*keeping the running config' "$WORK/f/follow.log" && break
    sleep 0.05
done
expect_match "changed split refused on SIGHUP" "SIGHUP: stream ev4#[0-3]: .*written for shards = 4, shard_chunk = 1, but the configuration says shards = 8.*; keeping the running config" "$(cat "$WORK/f/follow.log")"
sleep 1.5 # a poll of the kept config
kill -0 "$PID" || fail "follow mode died on a changed split"
expect_eq "nothing sent again after the refused reload" 20000 "$(mock_records "$u.ev4")"
kill -TERM "$PID"
wait "$PID" || true
PID=
