# SPDX-License-Identifier: MIT
# Operating pinemit: follow mode (new rows picked up, SIGTERM within a
# second, SIGHUP re-reads the config and refuses a bad one), replay of a key
# range, record keys, --rate, the progress bar on a terminal, summaries,
# the metrics file.
set -eu
. "$(dirname "$0")/lib.sh"
PID=
trap 'stop_mock; [ -z "$PID" ] || kill "$PID" 2>/dev/null || true' EXIT

new_db ops
load_seed 300
sql "CREATE TABLE ev (id bigserial PRIMARY KEY, who text);
     INSERT INTO ev (who) SELECT 'seed' FROM generate_series(1, 10)" >/dev/null
start_mock --auto-create
write_conf "$WORK/pinemit.conf" '{ name = "ev"; key = "id"; }'
u=0e3bbd435bfb

# --- follow mode ---
follow_ev 10
sql "INSERT INTO ev (who) SELECT 'later' FROM generate_series(1, 5)" >/dev/null
for _ in $(seq 1 100); do [ "$(mock_records $u.ev)" -ge 15 ] && break; sleep 0.05; done
expect_eq "rows inserted while it runs" 15 "$(mock_records $u.ev)"
# SIGHUP with a broken config: refused, the old one kept, still running.
cp "$WORK/pinemit.conf" "$WORK/good.conf"
echo 'this is not a config' >>"$WORK/pinemit.conf"
kill -HUP "$PID"
for _ in $(seq 1 60); do grep -q 'keeping the running config' "$WORK/follow.log" && break; sleep 0.05; done
expect_match "bad config refused" "SIGHUP: .*pinemit.conf:[0-9]+: .*keeping the running config" "$(cat "$WORK/follow.log")"
kill -0 "$PID" || fail "follow mode died on a bad config"
cp "$WORK/good.conf" "$WORK/pinemit.conf"
sql "INSERT INTO ev (who) VALUES ('after hup')" >/dev/null
for _ in $(seq 1 100); do [ "$(mock_records $u.ev)" -ge 16 ] && break; sleep 0.05; done
expect_eq "still polling after SIGHUP" 16 "$(mock_records $u.ev)"
# Two good re-reads in a row: the second replaces a config that was itself
# re-read (under ASan this caught a use after free).
for n in 1 2; do
    kill -HUP "$PID"
    for _ in $(seq 1 60); do
        [ "$(grep -c 'configuration re-read' "$WORK/follow.log")" -ge "$n" ] && break
        sleep 0.05
    done
    expect_eq "re-read number $n" "$n" "$(grep -c 'configuration re-read' "$WORK/follow.log")"
done
sql "INSERT INTO ev (who) VALUES ('after two re-reads')" >/dev/null
for _ in $(seq 1 100); do [ "$(mock_records $u.ev)" -ge 17 ] && break; sleep 0.05; done
expect_eq "still polling after two re-reads" 17 "$(mock_records $u.ev)"
# SIGTERM ends it within a second.
t0=$(date +%s%N)
kill -TERM "$PID"
reap
t1=$(date +%s%N)
expect_eq "exit code after SIGTERM" 0 "$rc"
[ $(( (t1 - t0) / 1000000 )) -lt 1000 ] || fail "took $(( (t1 - t0) / 1000000 )) ms to stop"
verify $u.ev ev id

# --- replay of a key range: exactly that range, checkpoint untouched ---
before=$(ckpt ev)
run_expect 0 replay --stream ev --from 3 --to 7 --topic replayed.ev
python3 - "$MOCK_STORE/records/replayed.ev.jsonl" <<'PY' || fail "replayed range"
import json, sys
keys = [json.loads(l)["value"]["id"] for l in open(sys.argv[1])]
assert keys == [3, 4, 5, 6, 7], keys
PY
expect_eq "checkpoint untouched by replay" "$before" "$(ckpt ev)"
# Two streams replayed at once, each its own range of keys (the bounds
# apply to each stream's key).
run_expect 0 replay --jobs 2 --stream geo --stream user --from 2 --to 4
for t in geo user; do
    python3 - "$MOCK_STORE/records/$u.$t.jsonl" <<'PY' || fail "replayed range of $t"
import json, sys
keys = [json.loads(l)["value"]["ind"] for l in open(sys.argv[1])]
assert keys[-3:] == [2, 3, 4], keys[-5:]
PY
done
run_expect 2 replay --stream ev --topic 'bad topic'
run_expect 2 replay --stream ev --from abc
expect_match "bad bound" "invalid input syntax for type bigint" "$OUT"

# --- record keys: message_key ---
write_conf "$WORK/pinemit.conf" '{ name = "pk"; table = "pinterest_data"; key = "index"; message_key = "unique_id"; topic = "keyed"; }'
run_expect 0 run --stream pk
python3 - "$MOCK_STORE/records/keyed.jsonl" <<'PY' || fail "record keys"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert recs and all(r["key"] == r["value"]["unique_id"] for r in recs)
assert any(r["key"] is not None for r in recs)
PY
write_conf "$WORK/pinemit.conf" '{ name = "bad"; table = "ev"; key = "id"; message_key = "nope"; }'
run_expect 2 run --stream bad
expect_match "missing key column" 'message_key: column "nope" does not exist' "$OUT"

# --- --rate: 30 rows at 20 rows/s take at least a second ---
write_conf "$WORK/pinemit.conf" '{ name = "ev"; key = "id"; }'
sql "INSERT INTO ev (who) SELECT 'rated' FROM generate_series(1, 30)" >/dev/null
t0=$(date +%s%N)
run_expect 0 run --stream ev --rate 20
t1=$(date +%s%N)
[ $(( (t1 - t0) / 1000000 )) -ge 900 ] || fail "--rate 20 sent 30 rows in $(( (t1 - t0) / 1000000 )) ms"
python3 - "$MOCK_STORE/requests.jsonl" <<'PY' || fail "--rate batches"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if '0e3bbd435bfb.ev' in l]
assert max(r["records"] for r in reqs[-3:]) <= 20, [r["records"] for r in reqs[-3:]]
PY

# --- summaries: silent in cron, a line with -v, JSON with --log-format json ---
sql "INSERT INTO ev (who) VALUES ('s1')" >/dev/null
run_expect 0 run --stream ev
expect_eq "silent when not a terminal" "" "$OUT"
sql "INSERT INTO ev (who) VALUES ('s2')" >/dev/null
run_expect 0 -v --log-format json run --stream ev
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["event"]=="summary" and d["stream"]=="ev" and d["rows"]==1, d' \
    "$(printf '%s\n' "$OUT" | grep '"summary"')" || fail "JSON summary: $OUT"

# --- the progress bar, seen through a pseudo-terminal ---
sql "INSERT INTO ev (who) SELECT 'tty' FROM generate_series(1, 50)" >/dev/null
script -qec "$PINEMIT -c $WORK/pinemit.conf run --stream ev" /dev/null >"$WORK/tty.out" 2>&1 </dev/null ||
    fail "run under script: $(cat "$WORK/tty.out")"
expect_match "progress bar" "ev \\[#+\\] 50/50 rows" "$(tr '\r' '\n' <"$WORK/tty.out")"
expect_match "summary on a terminal" "stream ev: sent 50 rows" "$(cat "$WORK/tty.out")"
# Several streams at once share one line, their rows summed; it is only
# drawn once each of them has counted its rows.
sql "INSERT INTO ev (who) SELECT 'tty2' FROM generate_series(1, 7)" >/dev/null
sql "INSERT INTO user_data (ind, first_name, last_name, age, date_joined)
     SELECT 900000 + g, 'n', 'm', 30, now() FROM generate_series(1, 5) g" >/dev/null
script -qec "$PINEMIT -c $WORK/pinemit.conf run --jobs 4" /dev/null >"$WORK/tty.out" 2>&1 </dev/null ||
    fail "run of 4 streams under script: $(cat "$WORK/tty.out")"
bars=$(tr '\r' '\n' <"$WORK/tty.out" | grep -E '^.\[K4 streams \[' || true)
expect_match "one line for 4 streams" "4 streams \\[#{20}\\] [0-9]+/[0-9]+ rows" "$bars"
python3 - "$WORK/tty.out" <<'PY' || fail "the line counts every stream's rows from the start: $bars"
import re, sys
text = open(sys.argv[1]).read().replace("\r", "\n")
bars = [tuple(map(int, m)) for m in re.findall(r"4 streams \[[#.]{20}\] (\d+)/(\d+) rows", text)]
sent = sum(map(int, re.findall(r"stream \w+: sent (\d+) rows", text)))
assert bars and sent >= 12, (bars, sent)
assert all(total == sent for _, total in bars), (bars, sent)  # from the first line on
assert bars[-1][0] == sent, (bars, sent)
PY
for s in ev user; do
    expect_match "summary of $s" "stream $s: sent" "$(cat "$WORK/tty.out")"
done

# --- --jobs ---
run_expect 2 run --jobs 0
expect_match "--jobs 0" "--jobs: \"0\" is not a whole number from 1 to 16" "$OUT"
run_expect 2 run --jobs 17

# --- metrics file ---
sql "INSERT INTO ev (who) SELECT 'm' FROM generate_series(1, 4)" >/dev/null
run_expect 0 --metrics-file "$WORK/pinemit.prom" run --stream ev
sql "INSERT INTO ev (who) SELECT 'm' FROM generate_series(1, 3)" >/dev/null
run_expect 0 --metrics-file "$WORK/pinemit.prom" run --stream ev
python3 - "$WORK/pinemit.prom" "$(sql 'SELECT max(id) FROM ev')" <<'PY' || fail "metrics: $(cat "$WORK/pinemit.prom")"
import re, sys
text = open(sys.argv[1]).read()
vals, types = {}, {}
for line in text.splitlines():
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split()
        types[name] = kind
    elif line and not line.startswith("#"):
        m = re.fullmatch(r'([a-z_]+)(\{stream="([^"]+)"\})? (\S+)', line)
        assert m, line
        vals[(m.group(1), m.group(3))] = float(m.group(4))
assert vals[("pinemit_rows_total", "ev")] == 7, vals     # counters carry on
assert vals[("pinemit_last_exit_code", None)] == 0
assert vals[("pinemit_checkpoint_key", "ev")] == int(sys.argv[2])
assert vals[("pinemit_last_success_timestamp_seconds", None)] > 1.7e9
assert types["pinemit_rows_total"] == "counter"
assert types["pinemit_last_run_end_timestamp_seconds"] == "gauge"
for name in types:
    assert "# HELP " + name + " " in text, name
PY
