# SPDX-License-Identifier: MIT
# The operator's state as data (issue #16): status --json, the lag gauges
# of the metrics file, check --offline; and status on a damaged
# checkpoint (issue #12 item 10).
set -eu
. "$(dirname "$0")/lib.sh"
trap 'stop_mock' EXIT

new_db opsdb
load_seed 200
start_mock --topics 0e3bbd435bfb.pin,0e3bbd435bfb.geo,0e3bbd435bfb.user
write_conf "$WORK/pinemit.conf"
total=$(sql 'SELECT count(*) FROM pinterest_data')
geo_total=$(sql 'SELECT count(*) FROM geolocation_data')

# --- status --json: one object per stream a line, same data as the text ---
json=$("$PINEMIT" -c "$WORK/pinemit.conf" status --json) || fail "status --json before a run: $json"
python3 - "$geo_total" <<PY || fail "status --json before a run: $json"
import json, sys
lines = """$json""".splitlines()
units = [json.loads(l) for l in lines]
assert [u["stream"] for u in units] == ["pin", "geo", "user"], units
geo = units[1]
assert geo["topic"] == "0e3bbd435bfb.geo", geo
assert geo["checkpoint"] is None, geo
assert geo["rows_pending"] == int(sys.argv[1]), geo
assert geo["last_success"] is None and geo["checkpoint_age_s"] is None, geo
assert "shard" not in geo and "owner" not in geo, geo
PY
"$PINEMIT" -c "$WORK/pinemit.conf" run --stream pin --limit 50 2>/dev/null || fail "partial run"
k=$(sql 'SELECT index FROM pinterest_data ORDER BY index LIMIT 1 OFFSET 49')
json=$("$PINEMIT" -c "$WORK/pinemit.conf" status --json --stream pin) || fail "status --json: $json"
text=$("$PINEMIT" -c "$WORK/pinemit.conf" status --stream pin) || fail "status: $text"
expect_match "text status unchanged" "^pin +0e3bbd435bfb.pin +$k +$((total - 50)) +0 +- +-$" \
    "$(printf '%s\n' "$text" | grep '^pin ')"
python3 - "$k" "$((total - 50))" <<PY || fail "status --json after a run: $json"
import json, sys, time, datetime
lines = """$json""".splitlines()
assert len(lines) == 1, lines
u = json.loads(lines[0])
assert u["stream"] == "pin" and u["checkpoint"] == sys.argv[1], u
assert u["rows_pending"] == int(sys.argv[2]), u
assert u["open_transactions"] == 0 and u["oldest_open_age_s"] is None, u
when = datetime.datetime.strptime(u["last_success"], "%Y-%m-%dT%H:%M:%SZ")
when = when.replace(tzinfo=datetime.timezone.utc).timestamp()
assert abs(time.time() - when) < 120, u
assert 0 <= u["checkpoint_age_s"] < 120, u
PY

# A sharded stream: a line per shard, with its number.
write_conf "$WORK/pinemit.conf" '{ name = "ev4"; table = "pinterest_data"; key = "index"; topic = "t.ev4"; shards = 2; }'
json=$("$PINEMIT" -c "$WORK/pinemit.conf" status --json --stream ev4) || fail "sharded status --json: $json"
python3 - "$total" <<PY || fail "sharded status --json: $json"
import json, sys
units = [json.loads(l) for l in """$json""".splitlines()]
assert [u["shard"] for u in units] == [0, 1], units
assert sum(u["rows_pending"] for u in units) == int(sys.argv[1]), units
PY
run_expect 2 run --json
expect_match "--json is status's" "option --json does not apply" "$OUT"

# The database store: every line has an owner (null when no instance runs).
sed 's|^state = { dir = "\(.*\)"; };|state = { dir = "\1"; store = "database"; };|' \
    "$WORK/pinemit.conf" >"$WORK/db.conf"
"$PINEMIT" -c "$WORK/db.conf" run --stream geo --limit 10 2>/dev/null || fail "database store run"
json=$("$PINEMIT" -c "$WORK/db.conf" status --json --stream geo) || fail "database store status --json: $json"
python3 - "$((geo_total - 10))" <<PY || fail "database store status --json: $json"
import json, sys
u = json.loads("""$json""")
assert "owner" in u and u["owner"] is None, u
assert u["rows_pending"] == int(sys.argv[1]) and u["last_success"], u
PY

# --- the metrics file: rows pending and checkpoint age per stream ---
write_conf "$WORK/pinemit.conf"
run_expect 0 --metrics-file "$WORK/m.prom" run --stream geo --limit 30
python3 - "$WORK/m.prom" "$((geo_total - 30))" <<'PY' || fail "metrics gauges: $(cat "$WORK/m.prom")"
import sys
text = open(sys.argv[1]).read()
assert "# TYPE pinemit_rows_pending gauge\n" in text, text
assert "# TYPE pinemit_checkpoint_age_seconds gauge\n" in text, text
assert '\npinemit_rows_pending{stream="geo"} %s\n' % sys.argv[2] in text, text
age = [l for l in text.splitlines()
       if l.startswith('pinemit_checkpoint_age_seconds{stream="geo"} ')]
assert len(age) == 1 and 0 <= float(age[0].split()[1]) < 120, age
# Only the selected stream is in the file.
assert 'stream="pin"' not in text, text
PY
run_expect 0 --metrics-file "$WORK/m.prom" run --stream geo
expect_match "caught up" '^pinemit_rows_pending\{stream="geo"\} 0$' "$(cat "$WORK/m.prom")"

# --- check --offline: the config alone, no database, no proxy ---
# conf_expect CODE CONF [args...]: stdout and stderr in $out.
conf_expect() {
    local want=$1 conf=$2 rc
    shift 2
    set +e
    out=$("$PINEMIT" -c "$conf" "$@" 2>&1)
    rc=$?
    set -e
    expect_eq "exit code of pinemit -c $conf $* ($out)" "$want" "$rc"
}
sed -e "s/port=$PGPORT/port=1/" -e "s|$MOCK_URL|http://127.0.0.1:1/dead|" \
    "$WORK/pinemit.conf" >"$WORK/offline.conf"
conf_expect 0 "$WORK/offline.conf" check --offline
expect_match "config line" "^config: ok: $WORK/offline.conf, 3 streams" "$out"
expect_no_match "no database line" "database|proxy|state" "$out"
# Without --offline the same config fails (exit 1): the dead ends are real.
conf_expect 1 "$WORK/offline.conf" check
expect_match "database down" "database: FAILED" "$out"
# A config error still exits 2, and a metrics directory that is not there.
write_conf "$WORK/pinemit.conf" '{ name = "x"; table = "t"; topic = "bad topic"; }'
sed -e "s/port=$PGPORT/port=1/" "$WORK/pinemit.conf" >"$WORK/offline.conf"
conf_expect 2 "$WORK/offline.conf" check --offline
expect_match "names the topic" "streams.*topic.*bad topic" "$out"
write_conf "$WORK/pinemit.conf"
sed -e "s/port=$PGPORT/port=1/" "$WORK/pinemit.conf" >"$WORK/offline.conf"
conf_expect 2 "$WORK/offline.conf" --metrics-file "$WORK/nowhere/m.prom" check --offline
expect_match "metrics line" "metrics: FAILED: .*directory $WORK/nowhere does not exist" "$out"
run_expect 2 status --offline
expect_match "--offline is check's" "option --offline does not apply" "$OUT"

# --- ${VAR} in string settings, expanded at load ---
sed -e "s/dbname=$PGDATABASE/dbname=\${OPS_DB}/" "$WORK/pinemit.conf" >"$WORK/env.conf"
OPS_DB=$PGDATABASE conf_expect 0 "$WORK/env.conf" status --stream geo
expect_match "database from the environment" "^geo +0e3bbd435bfb.geo " "$out"
conf_expect 2 "$WORK/env.conf" check --offline
expect_match "names file, line, key and variable" \
    "$WORK/env.conf:3: source.conninfo: environment variable OPS_DB is not set" "$out"

# --- status on a damaged checkpoint: exit 2 naming the file, as run ---
printf '{"version": 1, "stream": "pin", "key": "abc"}\n' >"$WORK/state/pin.checkpoint"
run_expect 2 run --stream pin
expect_match "run names the file" "$WORK/state/pin.checkpoint: damaged checkpoint \\(key \"abc\" is not a valid integer" "$OUT"
run_expect 2 status --stream pin
expect_match "status names the file" "$WORK/state/pin.checkpoint: damaged checkpoint \\(key \"abc\" is not a valid integer" "$OUT"
expect_no_match "no raw PostgreSQL error" "ERROR: +invalid input syntax" "$OUT"
run_expect 2 status --json
expect_match "status --json names the file" "$WORK/state/pin.checkpoint: damaged checkpoint" "$OUT"
