#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh - the main job end to end on this machine: a throwaway PostgreSQL
# with the seed tables, the mock REST proxy on 127.0.0.1, a real
# `pinemit run`, what arrived, everything cleaned up, and the commands to
# try next on one's own database.
#   scripts/demo.sh [path/to/pinemit]       ROWS=N (default 1000)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
pinemit=${1:-$top/build/pinemit}
rows=${ROWS:-1000}
work=$(mktemp -d "${TMPDIR:-/tmp}/pinemit-demo.XXXXXX")
chmod 755 "$work"
mock_pid=

cleanup() {
    if [ -n "$mock_pid" ]; then
        kill "$mock_pid" 2>/dev/null || true
        wait "$mock_pid" 2>/dev/null || true
    fi
    "$top/tests/pgtmp.sh" stop "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }

say "starting a throwaway PostgreSQL in $work/pg"
mkdir -p "$work/pg"
eval "$("$top/tests/pgtmp.sh" start "$work/pg" 2>/dev/null)"
psql -q -X -v ON_ERROR_STOP=1 -v rows="$rows" -f "$top/tests/data/seed.sql" >/dev/null
echo "loaded $rows rows into each of pinterest_data, geolocation_data, user_data"

say "starting the mock Kafka REST proxy on 127.0.0.1"
python3 "$top/tests/mock_proxy.py" --store "$work/proxy" --base-path /demo \
    --auto-create --port-file "$work/port" --quiet &
mock_pid=$!
for _ in $(seq 1 100); do
    [ -s "$work/port" ] && break
    sleep 0.05
done
[ -s "$work/port" ] || { echo "demo: the mock proxy did not start" >&2; exit 1; }
url="http://127.0.0.1:$(cat "$work/port")/demo"
echo "invoke URL: $url"

cat >"$work/pinemit.conf" <<CONF
user_id = "0e3bbd435bfb";
source = { conninfo = "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$PGUSER"; };
sink = { invoke_url = "$url"; };
state = { dir = "$work/state"; };
streams = (
  { name = "pin";  table = "pinterest_data";   key = "index"; },
  { name = "geo";  table = "geolocation_data"; key = "ind"; },
  { name = "user"; table = "user_data";        key = "ind"; }
);
CONF

say "pinemit check"
"$pinemit" -c "$work/pinemit.conf" check

say "pinemit -v run"
"$pinemit" -v -c "$work/pinemit.conf" run

say "what arrived at the proxy"
for f in "$work"/proxy/records/*.jsonl; do
    printf '%-28s %6d records\n' "$(basename "$f" .jsonl)" "$(wc -l <"$f")"
done
echo "first pin record:"
head -n 1 "$work/proxy/records/0e3bbd435bfb.pin.jsonl"
echo "requests: $(grep -c '"POST"' "$work/proxy/requests.jsonl") POSTs"

say "pinemit status"
"$pinemit" -c "$work/pinemit.conf" status

say "a second run sends nothing"
"$pinemit" -v -c "$work/pinemit.conf" run
echo
echo "demo done; cleaning up"

# The three commands to try next, runnable as printed.
p=$(printf '%q' "$pinemit")
say "next: your own database"
echo "  \$ cp $(printf '%q' "$top/conf/pinemit.conf.example") pinemit.conf"
echo "    then set source.conninfo, sink.invoke_url, streams and state.dir in it"
echo "  \$ $p -c pinemit.conf check"
echo "  \$ $p -c pinemit.conf run && $p -c pinemit.conf status"
