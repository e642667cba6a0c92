# SPDX-License-Identifier: MIT
# Fault classes of the delivery issue, one at a time, then random chaos over
# repeated runs: every row ends up delivered (or dead-lettered when marked),
# duplicates stay within the batches that were in flight, exit codes match.
set -eu
. "$(dirname "$0")/lib.sh"
trap stop_mock EXIT

new_db faults
load_seed 400
u=0e3bbd435bfb
recs() { wc -l <"$MOCK_STORE/records/$u.$1.jsonl"; }
rows() { sql "SELECT count(*) FROM $1"; }

# --- 504 with the records written anyway; 500 after part of the batch ---
start_mock --auto-create
MAX_RECORDS=40 write_conf "$WORK/pinemit.conf"
mock_script '[{"delay_ms":0},
  {"gateway":"Endpoint request timed out","status":504,"store":true},
  {"delay_ms":0},
  {"proxy_error":500,"error_code":500,"message":"Internal Server Error","partial":15}]'
run_expect 0 run --stream user
verify $u.user user_data ind --allow-duplicates
expect_eq "duplicates: one batch behind the 504, 15 records behind the 500" \
    "$(($(rows user_data) + 40 + 15))" "$(recs user)"

# --- 413 for a body above a size: split until it fits ---
stop_mock
start_mock --auto-create --max-body-bytes 6000
MAX_RECORDS=100 write_conf "$WORK/pinemit.conf"
sql "CREATE TABLE small AS SELECT g AS id, repeat('x', 100 + g % 50) AS v
     FROM generate_series(1, 500) g; ALTER TABLE small ADD PRIMARY KEY (id);
     INSERT INTO small VALUES (501, repeat('y', 7000))" >/dev/null
write_conf "$WORK/pinemit.conf" '{ name = "small"; key = "id"; }'
run_expect 3 run --stream small
expect_eq "every 413 was split, nothing written twice" 500 "$(recs small)"
python3 - "$MOCK_STORE/requests.jsonl" <<'PY' || fail "no 413 seen"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert any(r["status"] == 413 for r in reqs)
assert all(r["body_bytes"] <= 6000 for r in reqs if r["status"] == 200)
PY
grep -q '"key":"501","error_code":413' "$WORK/state/dead-letters.jsonl" ||
    fail "the row too large for the gateway is a dead letter"
rm -f "$WORK/state/dead-letters.jsonl"

# --- a response slower than the client timeout: resent ---
stop_mock
start_mock --auto-create
TIMEOUT_MS=500 MAX_RECORDS=40 write_conf "$WORK/pinemit.conf"
mock_script '[{"delay_ms":0},{"delay_ms":1500}]'
run_expect 0 run --stream geo
verify $u.geo geolocation_data ind --allow-duplicates
# The slow request was written after pinemit gave up on it.
for _ in $(seq 1 40); do
    [ "$(recs geo)" -eq "$(($(rows geolocation_data) + 40))" ] && break
    sleep 0.1
done
expect_eq "one batch resent after the timeout" "$(($(rows geolocation_data) + 40))" "$(recs geo)"

# --- chaos: random faults of every kind over repeated runs ---
stop_mock
start_mock --auto-create --chaos 0.35 --chaos-seed 11 --reject-marker 'REJECT-ME'
sql "UPDATE geolocation_data SET country = 'REJECT-ME ' || country WHERE ind % 37 = 0" >/dev/null
rm -rf "$WORK/state"
MAX_ATTEMPTS=4 MAX_RECORDS=25 write_conf "$WORK/pinemit.conf"
runs=0 codes=
for _ in $(seq 1 30); do
    runs=$((runs + 1))
    set +e
    "$PINEMIT" -q -c "$WORK/pinemit.conf" run --stream pin --stream geo --stream user \
        2>>"$WORK/chaos.err" >/dev/null
    rc=$?
    set -e
    codes="$codes $rc"
    case $rc in 0|1|3) ;; *) fail "unexpected exit code $rc" ;; esac
    [ "$rc" -eq 0 ] && break
done
marked=$(sql "SELECT count(*) FROM geolocation_data WHERE country LIKE 'REJECT-ME%'")
python3 - "$MOCK_STORE" "$WORK/state/dead-letters.jsonl" "$marked" \
    "$(rows pinterest_data)" "$(rows geolocation_data)" "$(rows user_data)" \
    "$runs" "$codes" <<'PY' || fail "chaos accounting"
import json, sys, os
store, dl, marked = sys.argv[1], sys.argv[2], int(sys.argv[3])
expected = dict(zip(("pin", "geo", "user"), map(int, sys.argv[4:7])))
letters = [json.loads(l) for l in open(dl)] if os.path.exists(dl) else []
faults = sum(1 for l in open(os.path.join(store, "requests.jsonl"))
             if '"action": "chaos:' in l or '"action":"chaos:' in l)
total_dups = 0
for name, n in expected.items():
    keys = [json.dumps(json.loads(l)["value"]["ind" if name != "pin" else "index"])
            for l in open(os.path.join(store, "records", "0e3bbd435bfb.%s.jsonl" % name))]
    dead = {l["key"] for l in letters if l["stream"] == name}
    uniq = set(keys)
    assert len(uniq) + len(dead) == n, (name, len(uniq), len(dead), n)
    assert not uniq & dead
    total_dups += len(keys) - len(uniq)
# A marked record is dead-lettered again when its batch had to be resent
# by a later run (retries ran out on the other records): count keys.
assert len({(l["stream"], l["key"]) for l in letters}) == marked, (len(letters), marked)
assert all(l["error_code"] == 50002 for l in letters)
# Each fault can cost at most the one batch in flight (25 records).
assert total_dups <= faults * 25, (total_dups, faults)
print("chaos: %s runs (exit codes%s), %d faults injected, %d rows delivered, "
      "%d duplicates, %d dead letters (%d distinct)" % (sys.argv[7], sys.argv[8],
      faults, sum(expected.values()) - marked, total_dups, len(letters), marked))
PY
