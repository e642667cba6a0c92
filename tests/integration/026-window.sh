# SPDX-License-Identifier: MIT
# A window of requests in flight per unit (sink.max_in_flight): batches go
# out while earlier ones wait for their answers, every row arrives exactly
# once, the checkpoint moves over the acknowledged run from the start; the
# window adapts to a proxy that throttles (429 over K open requests) and
# shows in the JSON summary, the metrics file and the progress line; a
# kill -9 with a full window resends at most the stated bound.
set -eu
. "$(dirname "$0")/lib.sh"
PID=
trap 'stop_mock; [ -z "$PID" ] || kill -9 "$PID" 2>/dev/null || true' EXIT
u=0e3bbd435bfb

new_db window
load_seed 1500
start_mock --auto-create
export MAX_RECORDS=25 FETCH_ROWS=200
# Each answer takes 40 ms: one request at a time would take 61 x 40 ms.
mock_script '[{"delay_ms":40,"times":100000}]'

# --- max_in_flight = 1: one request of the stream open at a time ---
MAX_IN_FLIGHT=1 write_conf "$WORK/pinemit.conf"
run_expect 0 -v --log-format json run --stream pin
peak=$(curl -sf "http://127.0.0.1:$MOCK_PORT/_mock/stats" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["open_peak"])')
expect_eq "one request open at a time with max_in_flight = 1" 1 "$peak"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["window"]==1, d' \
    "$(printf '%s\n' "$OUT" | grep '"summary"')" || fail "window 1 in the summary: $OUT"
verify "$u.pin" pinterest_data index

# --- max_in_flight = 8: several open, each row once, checkpoint at the end ---
stop_mock
start_mock --auto-create
mock_script '[{"delay_ms":40,"times":100000}]'
MAX_IN_FLIGHT=8 write_conf "$WORK/pinemit.conf"
rm -rf "$WORK/state"
t0=$(date +%s%N)
run_expect 0 -v --log-format json --metrics-file "$WORK/w.prom" run --stream pin
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
verify "$u.pin" pinterest_data index --any-order
expect_eq "checkpoint at the last key" "$(sql 'SELECT max(index) FROM pinterest_data')" "$(ckpt pin)"
curl -sf "http://127.0.0.1:$MOCK_PORT/_mock/stats" >"$WORK/stats.json"
python3 - "$WORK/stats.json" "$ms" "$WORK/w.prom" "$OUT" <<'PY' || fail "window of 8: $(cat "$WORK/stats.json") $OUT"
import json, re, sys
stats, ms = json.load(open(sys.argv[1])), int(sys.argv[2])
assert stats["open_peak"] >= 4, stats          # the window grew past 1
assert stats["requests"] == -(-stats["records"] // 25), stats  # no resends
# One at a time would take 61 x 40 ms = 2.4 s of answers alone.
assert ms < 2400, ms
prom = open(sys.argv[3]).read()
m = re.search(r'^pinemit_window\{stream="pin"\} (\d+)$', prom, re.M)
assert m and 2 <= int(m.group(1)) <= 8, prom
summary = [json.loads(l) for l in sys.argv[4].splitlines() if '"summary"' in l][0]
assert summary["window"] == int(m.group(1)), summary
assert summary["rows"] == stats["records"], summary
PY

# --- a proxy that throttles over K = 3 open requests: the window adapts ---
stop_mock
start_mock --auto-create --max-open 3
mock_script '[{"delay_ms":40,"times":100000}]'
rm -rf "$WORK/state"
MAX_IN_FLIGHT=8 write_conf "$WORK/pinemit.conf"
run_expect 0 --metrics-file "$WORK/t.prom" run --stream pin
verify "$u.pin" pinterest_data index --any-order   # once each: a 429 stores nothing
[ ! -e "$WORK/state/dead-letters.jsonl" ] || fail "dead letters: $(cat "$WORK/state/dead-letters.jsonl")"
curl -sf "http://127.0.0.1:$MOCK_PORT/_mock/stats" >"$WORK/stats.json"
python3 - "$WORK/stats.json" "$WORK/t.prom" <<'PY' || fail "throttled: $(cat "$WORK/stats.json") $(grep window "$WORK/t.prom")"
import json, re, sys
stats = json.load(open(sys.argv[1]))
prom = open(sys.argv[2]).read()
# The window went above K (it was probed), then settled near it: a saw
# tooth from about K/2 to K + 2 (a probe over K can pass when an answer
# leaves just before it arrives), halved once per overfull flight, so
# about one 429 per tooth.  A fixed window of 8 would draw five 429s for
# every three requests taken.
batches = stats["records"] / 25
assert stats["throttled"] >= 1, stats
assert stats["throttled"] <= batches / 2, stats
m = re.search(r'^pinemit_window\{stream="pin"\} (\d+)$', prom, re.M)
assert m and 1 <= int(m.group(1)) <= 5, prom
assert re.search(r'^pinemit_dead_letters_total\{stream="pin"\} 0$', prom, re.M), prom
PY

# --- kill -9 with a full window: the stated crash bound ---
# Each answer takes 300 ms, so the window fills (8 batches of 25 open) and
# a kill lands with requests in flight.  Bound: what was in flight (8
# batches) plus what was acknowledged since the last completed save
# (saves start state.save_interval_ms = 100 ms apart and take one fsync,
# both shorter than the 300 ms round trip: at most the answers of one
# window, 8 batches): 16 x 25 records per kill.
stop_mock
start_mock --auto-create
mock_script '[{"delay_ms":300,"times":100000}]'
rm -rf "$WORK/state"
MAX_IN_FLIGHT=8 write_conf "$WORK/pinemit.conf"
kills=0
for i in 1 2 3; do
    "$PINEMIT" -q -c "$WORK/pinemit.conf" run --stream pin 2>/dev/null &
    PID=$!
    # Until the window is full (8 requests open) or 5 s.
    for _ in $(seq 1 100); do
        open=$(curl -sf "http://127.0.0.1:$MOCK_PORT/_mock/stats" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["open_peak"])')
        [ "$open" -ge 8 ] && [ -e "$WORK/state/pin.checkpoint" ] && break
        sleep 0.05
    done
    sleep "0.$((i * 2))"
    kill -9 "$PID" 2>/dev/null && kills=$((kills + 1))
    wait "$PID" 2>/dev/null || true
    PID=
done
expect_eq "kills" 3 "$kills"
mock_script '[]'
run_expect 0 run --stream pin
verify "$u.pin" pinterest_data index --any-order --allow-duplicates
python3 - "$MOCK_STORE" "$kills" <<'PY' || fail "duplicates beyond the crash bound"
import json, os, sys
store, kills = sys.argv[1], int(sys.argv[2])
keys = [json.loads(l)["value"]["index"] for l in
        open(os.path.join(store, "records", "0e3bbd435bfb.pin.jsonl"))]
dups = len(keys) - len(set(keys))
assert dups <= kills * 16 * 25, (dups, kills)
print("kill -9 with a full window: %d kills, %d duplicates" % (kills, dups))
PY
