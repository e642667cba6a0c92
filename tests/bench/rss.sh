#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rss.sh - where pinemit's peak memory goes: one `pinemit run` of three
# streams against the benchmark sink, /proc/PID/status sampled every 5 ms,
# and /proc/PID/smaps at the largest VmRSS summed by mapping (shared
# libraries by name, anonymous mappings by size).
#
#   make bench-rss [ROWS=60000] [DELAY_MS=0] [MAX_IN_FLIGHT=N] [FETCH_ROWS=N]
#
# Starts its own throwaway PostgreSQL (tests/pgtmp.sh) and sink on
# 127.0.0.1, and stops them, by PID, on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
PINEMIT=${PINEMIT:-$BUILD/pinemit}
SINK=${SINK:-$BUILD/bench/sink}
ROWS=${ROWS:-60000}
DELAY_MS=${DELAY_MS:-0}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-}
for v in ROWS DELAY_MS; do
    case ${!v} in '' | *[!0-9]*) echo "rss: $v must be a number" >&2; exit 2 ;; esac
done
FETCH_ROWS=${FETCH_ROWS:-}
case $MAX_IN_FLIGHT$FETCH_ROWS in *[!0-9]*) echo "rss: MAX_IN_FLIGHT and FETCH_ROWS must be numbers" >&2; exit 2 ;; esac
[ -x "$PINEMIT" ] && [ -x "$SINK" ] || { echo "rss: build pinemit and $SINK first" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pinemit-rss.XXXXXX")
chmod 755 "$TMP"
mkdir -m 777 "$TMP/pg"
SINK_PID= PM_PID=
cleanup() {
    [ -z "$PM_PID" ] || kill "$PM_PID" 2>/dev/null || true
    [ -z "$SINK_PID" ] || kill "$SINK_PID" 2>/dev/null || true
    "$ROOT/tests/pgtmp.sh" stop "$TMP/pg" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT
eval "$("$ROOT/tests/pgtmp.sh" start "$TMP/pg" 2>"$TMP/pg.log")"
psql -q -X -v ON_ERROR_STOP=1 -v rows="$ROWS" -f "$ROOT/tests/data/seed.sql" >/dev/null
psql -q -X -c "VACUUM ANALYZE" >/dev/null
"$SINK" --port-file "$TMP/port" --delay-ms "$DELAY_MS" 2>"$TMP/sink.err" &
SINK_PID=$!
for _ in $(seq 1 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
[ -s "$TMP/port" ] || { echo "rss: the sink did not start" >&2; exit 1; }
cat >"$TMP/p.conf" <<CONF
user_id = "0e3bbd435bfb";
source = { conninfo = "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$PGUSER";${FETCH_ROWS:+ fetch_rows = $FETCH_ROWS;} };
sink = { invoke_url = "http://127.0.0.1:$(cat "$TMP/port")";${MAX_IN_FLIGHT:+ max_in_flight = $MAX_IN_FLIGHT;} };
state = { dir = "$TMP/state"; };
streams = (
  { name = "pin";  table = "pinterest_data";   key = "index"; },
  { name = "geo";  table = "geolocation_data"; key = "ind"; },
  { name = "user"; table = "user_data";        key = "ind"; }
);
CONF
"$PINEMIT" -c "$TMP/p.conf" --metrics-file "$TMP/m.prom" run &
PM_PID=$!
peak=0 threads=0
# Bounded: the run itself is bounded by its rows; 60 s of samples at most.
for _ in $(seq 1 12000); do
    r=$(awk '/^VmRSS/ {print $2}' "/proc/$PM_PID/status" 2>/dev/null) || break
    if [ "${r:-0}" -gt "$peak" ]; then
        peak=$r
        cp "/proc/$PM_PID/smaps" "$TMP/smaps" 2>/dev/null || true
        threads=$(ls "/proc/$PM_PID/task" 2>/dev/null | wc -l)
    fi
    sleep 0.005
done
rc=0
wait "$PM_PID" || rc=$?
PM_PID=
[ "$rc" -eq 0 ] || { echo "rss: pinemit exited $rc" >&2; exit 1; }
echo "peak VmRSS $peak KiB with $threads threads; ROWS=$ROWS DELAY_MS=$DELAY_MS" \
    "max_in_flight=${MAX_IN_FLIGHT:-default}; windows at the end:" \
    "$(awk '/^pinemit_window/ {printf "%s ", $2}' "$TMP/m.prom")"
python3 - "$TMP/smaps" <<'PY'
import re, sys
maps, cur = [], None
for line in open(sys.argv[1]):
    m = re.match(r'^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$', line)
    if m:
        cur = [m.group(3) or "[anon]", (int(m.group(2), 16) - int(m.group(1), 16)) // 1024, 0]
        maps.append(cur)
    elif line.startswith("Rss:") and cur:
        cur[2] = int(line.split()[1])
by = {}
for name, size, rss in maps:
    key = name.rsplit("/", 1)[-1] if name.startswith("/") else name
    by[key] = by.get(key, 0) + rss
files = sum(r for n, s, r in maps if n.startswith("/"))
print("file-backed (libraries) %d KiB, anonymous and heap %d KiB" %
      (files, sum(r for n, s, r in maps if not n.startswith("/"))))
for key, rss in sorted(by.items(), key=lambda kv: -kv[1])[:10]:
    print("%8d KiB  %s" % (rss, key))
anon = sorted(((s, r) for n, s, r in maps if n == "[anon]" and r >= 64), key=lambda x: -x[1])
print("anonymous mappings of 64 KiB or more (size/resident KiB):",
      " ".join("%d/%d" % a for a in anon))
PY
