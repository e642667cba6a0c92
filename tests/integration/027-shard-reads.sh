# SPDX-License-Identifier: MIT
# Sharded reads through the shard index: check warns while it is missing,
# init makes it (and says so), check is then quiet about it; every row of
# an 8-shard stream arrives exactly once, the page query is an index scan
# on the shard index and pinemit's own reads never scanned the table.
set -eu
. "$(dirname "$0")/lib.sh"
trap stop_mock EXIT

new_db shards
sql "CREATE TABLE ev (id bigserial PRIMARY KEY, who text);
     INSERT INTO ev (who) SELECT 'row ' || g FROM generate_series(1, 50000) g;
     ANALYZE ev" >/dev/null
start_mock --auto-create
FETCH_ROWS=200 MAX_RECORDS=500 write_conf "$WORK/pinemit.conf" \
    '{ name = "ev"; table = "ev"; key = "id"; shards = 8; }'
# ev alone (check takes no --stream).
sed -i '/name = "pin"\|name = "geo"\|name = "user"/d' "$WORK/pinemit.conf"
idx=pinemit_shard8_ev_id

set +e
out=$("$PINEMIT" -c "$WORK/pinemit.conf" check 2>&1)
rc=$?
set -e
expect_eq "check without the index still passes: $out" 0 "$rc"
expect_match "check warns" "stream ev: warning: no shard index $idx: each of the 8 shards reads the whole key range \(pinemit init makes it\)" "$out"

out=$("$PINEMIT" -c "$WORK/pinemit.conf" init 2>&1) || fail "init: $out"
expect_match "init names the index" "stream ev: shard index $idx: ready" "$out"
expect_eq "index valid" "t" "$(sql "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = '$idx'")"
case $(sql "SELECT pg_get_indexdef('$idx'::regclass)") in
*"USING btree ((((hashtextextended((id)::text, (0)::bigint) & '9223372036854775807'::bigint) % (8)::bigint)), id)") ;;
*) fail "index definition: $(sql "SELECT pg_get_indexdef('$idx'::regclass)")" ;;
esac
out=$("$PINEMIT" -c "$WORK/pinemit.conf" init 2>&1) || fail "second init: $out"
expect_match "init is idempotent" "stream ev: shard index $idx: ready" "$out"
out=$("$PINEMIT" -c "$WORK/pinemit.conf" check 2>&1) || fail "check: $out"
expect_no_match "check quiet with the index" "stream ev: warning" "$out"

# The page query, as pinemit prepares it, walks the shard index.
plan=$(psql -X -A -t -v ON_ERROR_STOP=1 <<'SQL'
PREPARE p(int8, int8) AS SELECT id, who FROM public.ev
  WHERE ((pg_catalog.hashtextextended(id::text, 0) & 9223372036854775807) % 8, id) > (3, $1)
  AND (pg_catalog.hashtextextended(id::text, 0) & 9223372036854775807) % 8 < 4
  ORDER BY (pg_catalog.hashtextextended(id::text, 0) & 9223372036854775807) % 8, id LIMIT $2;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE p(100, 200);
SQL
)
expect_match "page query uses the shard index" "Index Scan using $idx on ev" "$plan"
expect_no_match "no sequential scan" "Seq Scan" "$plan"

sql "SELECT pg_stat_reset()" >/dev/null
out=$("$PINEMIT" -c "$WORK/pinemit.conf" run --stream ev 2>&1) || fail "run: $out"
u=0e3bbd435bfb
python3 - "$MOCK_STORE/records/$u.ev.jsonl" <<'PY' || fail "exactly once"
import json, sys
ids = [json.loads(l)["value"]["id"] for l in open(sys.argv[1])]
assert len(ids) == 50000, len(ids)
assert sorted(ids) == list(range(1, 50001)), "missing or duplicate rows"
PY
# Statistics reach the views when pinemit's sessions end.
for _ in $(seq 1 50); do
    scans=$(sql "SELECT coalesce(idx_scan, 0) FROM pg_stat_user_indexes WHERE indexrelname = '$idx'")
    [ "$scans" -gt 0 ] && break
    sleep 0.1
done
[ "$scans" -ge 8 ] || fail "the shard index was scanned $scans times, want >= 8"
expect_eq "no sequential scan of ev" 0 "$(sql "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'ev'")"
# Each shard fetched only its own rows from the heap.
fetched=$(sql "SELECT idx_tup_fetch FROM pg_stat_user_tables WHERE relname = 'ev'")
[ "$fetched" -le 51000 ] || fail "heap tuples fetched: $fetched, want about 50000"
