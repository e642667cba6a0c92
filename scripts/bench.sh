#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench.sh - `make bench`: pinemit beside the alternatives a user has, in one
# run on the same machine, the same data and the same sink; prints a table
# and writes build/bench/results.csv and build/bench/rows_per_s.png.
#
# Contenders (all read the seed tables pinterest_data, geolocation_data and
# user_data of a throwaway PostgreSQL cluster and, except the first, POST to
# tests/bench/sink, a C REST Proxy v2 sink that counts what it receives):
#   copy_floor      psql: COPY (SELECT * FROM t) TO STDOUT into /dev/null
#   one_per_post    tests/bench/one_per_post.py: a POST per row (the seed way)
#   batched_python  tests/bench/batched.py: named cursor, 500 rows per POST
#   psql_curl       tests/bench/psql_curl.sh: JSON built by the server, curl
#   pinemit         build/pinemit run (3 streams, 500 records per request)
#   pinemit_big     pinemit again at BIG_ROWS rows per table
#
# Settings (environment):
#   ROWS=100000        rows per table
#   REPS=3             repetitions of each contender; the fastest one counts
#   SUBSET=5000        rows per table for one_per_post (slow; rates are per row)
#   BIG=1              run pinemit_big (0: skip; it adds ~1.5 min of loading)
#   BIG_ROWS=1000000   rows per table for pinemit_big
#   UPDATE_DOCS=1      copy the plot to docs/bench-rows-per-s.png and the
#                      table to docs/bench-results.md
#   PYTHON=/usr/bin/python3   Debian's Python (python3-psycopg2/-requests)
#   RUN_TIMEOUT=900    seconds one run may take before it is killed
#   SINK_SELFTEST=1    check the sink against Python's json first (0: skip)
#   CONTENDERS="..."   only these (names above; default: all of them)
#   DELAY_MS=0         the sink holds each produce answer this long (a
#                      gateway a network round trip away); it still counts
#                      every record
#   MAX_IN_FLIGHT=N    pinemit's sink.max_in_flight (default: its default)
#   FETCH_ROWS=N       pinemit's source.fetch_rows (default: its default)
#   STATE_DIR=DIR      put pinemit's state (checkpoints) under DIR, e.g.
#                      /dev/shm to leave out the disk's fsync latency
#                      (default: the temporary directory under /tmp)
#   NICE=-10           run everything (cluster, sink, contenders) at this
#                      nice value: steadier timings on a machine shared with
#                      other work (root only; default: unchanged)
#
# Installs its own Debian packages if missing (python3-psycopg2,
# python3-requests, gnuplot-nox, curl, time); pinemit's build dependencies
# come from `make deps`.  Everything binds 127.0.0.1; every wait is bounded;
# the sink, the cluster and the temporary directory go away on exit, also on
# failure or interruption.
set -euo pipefail

# NICE: start again under nice(1); every process started from here on
# (PostgreSQL included) inherits the priority.
if [ -n "${NICE:-}" ] && [ -z "${BENCH_NICED:-}" ]; then
    BENCH_NICED=1 exec nice -n "$NICE" "$0" "$@"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
OUT=$BUILD/bench
PINEMIT=${PINEMIT:-$BUILD/pinemit}
SINK=${SINK:-$OUT/sink}
LOADGEN=${LOADGEN:-$OUT/loadgen}
PYTHON=${PYTHON:-/usr/bin/python3}
ROWS=${ROWS:-100000}
REPS=${REPS:-3}
SUBSET=${SUBSET:-5000}
BIG=${BIG:-1}
BIG_ROWS=${BIG_ROWS:-1000000}
UPDATE_DOCS=${UPDATE_DOCS:-0}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
SINK_SELFTEST=${SINK_SELFTEST:-1}
DELAY_MS=${DELAY_MS:-0}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-}
FETCH_ROWS=${FETCH_ROWS:-}
case $MAX_IN_FLIGHT$FETCH_ROWS in *[!0-9]*) echo "bench: MAX_IN_FLIGHT and FETCH_ROWS must be numbers" >&2; exit 2 ;; esac
case $DELAY_MS in '' | *[!0-9]*) echo "bench: DELAY_MS must be a number of ms" >&2; exit 2 ;; esac
CONTENDERS=${CONTENDERS:-copy_floor one_per_post batched_python psql_curl pinemit pinemit_big}
USER_ID=0e3bbd435bfb
BENCH_CFLAGS="-std=c11 -O2 -Wall -Wextra -Werror"

T0=$(date +%s)
msg() { echo "bench: $*" >&2; }
die() {
    echo "bench: FAILED: $*" >&2
    exit 1
}

for v in ROWS REPS SUBSET BIG_ROWS RUN_TIMEOUT; do
    case ${!v} in
        '' | *[!0-9]*) die "$v must be a positive integer, not '${!v}'" ;;
    esac
    [ "${!v}" -gt 0 ] || die "$v must be positive"
done
[ "$REPS" -le 20 ] || die "REPS must be at most 20"
for c in $CONTENDERS; do
    case $c in
        copy_floor | one_per_post | batched_python | psql_curl | pinemit | pinemit_big) ;;
        *) die "unknown contender '$c'" ;;
    esac
done
want() { case " $CONTENDERS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------- packages

install_packages() {
    local p missing=
    for p in python3-psycopg2 python3-requests gnuplot-nox curl time; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed'; then
            missing="$missing $p"
        fi
    done
    [ -n "$missing" ] || return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "missing:$missing (no apt-get here: install them by hand)"
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    msg "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# ---------------------------------------------------------------- cleanup

TMP='' PGDIR='' SINK_PID='' RUN_PID='' PM_STATE=''
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$RUN_PID" ]; then
        # timeout(1) runs its command in its own process group and passes
        # the signal on to all of it
        kill -TERM "$RUN_PID" 2>/dev/null || true
        wait "$RUN_PID" 2>/dev/null || true
    fi
    if [ -n "$SINK_PID" ]; then
        kill -TERM "$SINK_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SINK_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SINK_PID" 2>/dev/null || true
        wait "$SINK_PID" 2>/dev/null || true
    fi
    if [ -n "$PGDIR" ]; then
        "$ROOT/tests/pgtmp.sh" stop "$PGDIR" >/dev/null 2>&1 || true
    fi
    [ -z "$PM_STATE" ] || rm -rf "$PM_STATE"
    [ -z "$TMP" ] || rm -rf "$TMP"
    if [ "$rc" -ne 0 ]; then
        msg "exit $rc after $(($(date +%s) - T0)) s"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

# Machine-wide busy share (percent) over one second, from /proc/stat.
cpu_busy_pct() {
    local a b
    a=$(head -1 /proc/stat)
    sleep 1
    b=$(head -1 /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ");
        for (i = 2; i <= n; i++) { t += y[i] - x[i]; if (i == 5 || i == 6) idle += y[i] - x[i] }
        printf "%d\n", (t > 0) ? 100 * (t - idle) / t : 0 }'
}

# CPU ticks of the cluster: the postmaster, its reaped children (finished
# backends) and its live children.
pg_ticks() {
    local pm
    pm=$(head -1 "$PGDIR/data/postmaster.pid")
    {
        cat "/proc/$pm/stat"
        for c in $(pgrep -P "$pm"); do cat "/proc/$c/stat" 2>/dev/null || true; done
    } | awk -v pm="$pm" '{ t += $14 + $15; if ($1 == pm) t += $16 + $17 } END { print t + 0 }'
}

sink_ticks() { awk '{ print $14 + $15 }' "/proc/$SINK_PID/stat"; }

# Busy CPU ticks of the whole machine (all cores), from /proc/stat.
machine_ticks() {
    awk 'NR == 1 { for (i = 2; i <= NF; i++) if (i != 5 && i != 6) t += $i; print t; exit }' /proc/stat
}

# Records the sink has accepted so far, per stream: "pin geo user".
sink_counts() {
    local stats t n out=
    stats=$(curl -sS --max-time 10 "http://127.0.0.1:$SINK_PORT/_stats") ||
        die "cannot read the sink's statistics"
    for t in pin geo user; do
        n=$(printf '%s' "$stats" |
            sed -n "s/.*\"$USER_ID\\.$t\":{\"requests\":[0-9]*,\"records\":\([0-9]*\)}.*/\1/p")
        out="$out ${n:-0}"
    done
    echo "${out# }"
}

# run_measured NAME ROWS REP EXPECTED STDOUT CMD...: one timed run of CMD,
# measured by /usr/bin/time (wall, user+sys CPU, peak RSS of CMD and its
# waited-for children), with the cluster's and the sink's CPU.  EXPECTED
# is the number of records the sink must receive for each of the three
# streams ("" for none).
run_measured() {
    local name=$1 rows=$2 rep=$3 expected=$4 stdout=$5
    shift 5
    local tf=$TMP/time.out err=$TMP/run.err before after pg0 pg1 sk0 sk1 m0 m1 rc
    before=$(sink_counts)
    pg0=$(pg_ticks)
    sk0=$(sink_ticks)
    m0=$(machine_ticks)
    rm -f "$tf"
    timeout -k 5 "$RUN_TIMEOUT" /usr/bin/time -f '%e %U %S %M' -o "$tf" \
        "$@" >"$stdout" 2>"$err" </dev/null &
    RUN_PID=$!
    rc=0
    wait "$RUN_PID" || rc=$?
    RUN_PID=
    if [ "$rc" -ne 0 ]; then
        tail -n 20 "$err" >&2
        [ "$rc" -ne 124 ] || die "$name: killed after RUN_TIMEOUT=$RUN_TIMEOUT s"
        die "$name (rep $rep): exit status $rc"
    fi
    m1=$(machine_ticks)
    sleep 0.2 # the postmaster reaps the finished backend
    pg1=$(pg_ticks)
    sk1=$(sink_ticks)
    after=$(sink_counts)
    if [ -n "$expected" ]; then
        local b a got
        read -r -a b <<<"$before"
        read -r -a a <<<"$after"
        got="$((a[0] - b[0])) $((a[1] - b[1])) $((a[2] - b[2]))"
        if [ "$got" != "$expected $expected $expected" ]; then
            tail -n 20 "$err" >&2
            die "$name (rep $rep): the sink received $got records for pin geo user," \
                "expected $expected each"
        fi
    fi
    local wall user sys rss
    read -r wall user sys rss < <(tail -n 1 "$tf")
    # columns: see tests/bench/report.py; the last one is the CPU time
    # the rest of the machine (other work) used during the run
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rows" "$rep" \
        "$wall" "$user" "$sys" "$rss" \
        "$(awk -v t=$((pg1 - pg0)) -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')" \
        "$(awk -v t=$((sk1 - sk0)) -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')" \
        "$(awk -v m=$((m1 - m0)) -v p=$((pg1 - pg0)) -v k=$((sk1 - sk0)) -v hz="$HZ" \
            -v u="$user" -v s="$sys" 'BEGIN { o = (m - p - k) / hz - u - s
                printf "%.2f", (o > 0) ? o : 0 }')" \
        >>"$RAW"
    msg "  $name rep $rep: ${wall} s wall, $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') s CPU, ${rss} KiB"
}

load_seed() {
    local t
    t=$(date +%s)
    psql -q -X -v ON_ERROR_STOP=1 -v rows="$1" -f "$ROOT/tests/data/seed.sql" >/dev/null ||
        die "loading tests/data/seed.sql"
    psql -q -X -v ON_ERROR_STOP=1 -c "VACUUM ANALYZE" >/dev/null || die "VACUUM ANALYZE"
    msg "loaded $1 rows per table in $(($(date +%s) - t)) s"
}

# pinemit's config, like tests/integration/lib.sh writes it.
write_pinemit_conf() {
    cat >"$TMP/pinemit.conf" <<CONF
user_id = "$USER_ID";
source = {
  conninfo = "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$PGUSER";${FETCH_ROWS:+ fetch_rows = $FETCH_ROWS;}
};
sink = {
  invoke_url = "$URL"; timeout_ms = 35000;${MAX_IN_FLIGHT:+ max_in_flight = $MAX_IN_FLIGHT;}
};
batch = { max_records = 500; max_bytes = 1048576; };
state = { dir = "$PM_STATE"; };
streams = (
  { name = "pin";  table = "pinterest_data";   key = "index"; },
  { name = "geo";  table = "geolocation_data"; key = "ind"; },
  { name = "user"; table = "user_data";        key = "ind"; }
);
CONF
}

run_pinemit() { # NAME ROWS_PER_TABLE REP
    rm -rf "$PM_STATE"
    run_measured "$1" "$((3 * $2))" "$3" "$2" "$TMP/run.out" \
        "$PINEMIT" -c "$TMP/pinemit.conf" --metrics-file "$OUT/pinemit.prom" run
}

# ---------------------------------------------------------------- setup

install_packages
[ -x "$PYTHON" ] || die "no $PYTHON (Debian's python3)"
"$PYTHON" -c 'import psycopg2, requests' ||
    die "$PYTHON cannot import psycopg2 and requests"
command -v psql >/dev/null 2>&1 || die "no psql: run make deps"

msg "building pinemit and the sink"
${MAKE:-make} -s -C "$ROOT" BUILD="$BUILD" all >&2 ||
    die "building pinemit (are the build dependencies there? make deps)"
mkdir -p "$OUT"
if [ ! -x "$SINK" ] || [ "$ROOT/tests/bench/sink.c" -nt "$SINK" ]; then
    # shellcheck disable=SC2086
    cc $BENCH_CFLAGS -o "$SINK" "$ROOT/tests/bench/sink.c"
fi
if [ ! -x "$LOADGEN" ] || [ "$ROOT/tests/bench/loadgen.c" -nt "$LOADGEN" ]; then
    # shellcheck disable=SC2086
    cc $BENCH_CFLAGS -pthread -o "$LOADGEN" "$ROOT/tests/bench/loadgen.c"
fi

if [ "$SINK_SELFTEST" = 1 ]; then
    msg "sink self-test (its record count against Python's json)"
    SINK=$SINK SINK_FUZZ_N=1000 "$PYTHON" "$ROOT/tests/bench/test_sink.py" \
        >"$OUT/sink-selftest.log" 2>&1 ||
        { tail -n 30 "$OUT/sink-selftest.log" >&2; die "sink self-test"; }
fi

HZ=$(getconf CLK_TCK)
BUSY_BEFORE=$(cpu_busy_pct)
if [ "$BUSY_BEFORE" -gt 15 ]; then
    msg "WARNING: the machine is ${BUSY_BEFORE}% busy before the benchmark;" \
        "timings will be low and noisy (see the 'other load' column; NICE=-10 helps)"
fi

TMP=$(mktemp -d /tmp/pinemit-bench.XXXXXX)
chmod 755 "$TMP" # the cluster runs as postgres when we are root
PGDIR=$TMP/pg
if [ -n "${STATE_DIR:-}" ]; then
    [ -d "$STATE_DIR" ] || die "STATE_DIR=$STATE_DIR is not a directory"
    PM_STATE=$(mktemp -d "$STATE_DIR/pinemit-bench-state.XXXXXX")
else
    PM_STATE=$TMP/state
fi
eval "$("$ROOT/tests/pgtmp.sh" start "$PGDIR" 2>"$TMP/pgtmp.log")" ||
    { cat "$TMP/pgtmp.log" >&2; die "starting PostgreSQL"; }
load_seed "$ROWS"

"$SINK" --port-file "$TMP/sink.port" --stats "$OUT/sink-stats.json" \
    --delay-ms "$DELAY_MS" 2>"$TMP/sink.err" &
SINK_PID=$!
for _ in $(seq 1 100); do
    [ -s "$TMP/sink.port" ] && break
    kill -0 "$SINK_PID" 2>/dev/null || die "sink died: $(cat "$TMP/sink.err")"
    sleep 0.05
done
[ -s "$TMP/sink.port" ] || die "the sink did not start"
SINK_PORT=$(cat "$TMP/sink.port")
URL=http://127.0.0.1:$SINK_PORT/bench
write_pinemit_conf

STREAMS=(--stream pin=pinterest_data:index --stream geo=geolocation_data:ind
    --stream user=user_data:ind)
SPECS=(pin=pinterest_data:index geo=geolocation_data:ind user=user_data:ind)
printf 'COPY (SELECT * FROM %s) TO STDOUT;\n' pinterest_data geolocation_data \
    user_data >"$TMP/copy.sql"
RAW=$OUT/raw.tsv
: >"$RAW"
SUB=$((SUBSET < ROWS ? SUBSET : ROWS))

# ---------------------------------------------------------------- runs

# Repetitions go round-robin over the contenders, so a slow phase of the
# machine hits them all alike rather than one of them.
for rep in $(seq 1 "$REPS"); do
    msg "repetition $rep of $REPS"
    ! want copy_floor ||
        run_measured copy_floor $((3 * ROWS)) "$rep" "" /dev/null \
            psql -X -q -v ON_ERROR_STOP=1 -f "$TMP/copy.sql"
    ! want one_per_post ||
        run_measured one_per_post $((3 * SUB)) "$rep" "$SUB" "$TMP/run.out" \
            "$PYTHON" "$ROOT/tests/bench/one_per_post.py" --url "$URL" \
            --topic-prefix "$USER_ID" "${STREAMS[@]}" --limit "$SUBSET"
    ! want batched_python ||
        run_measured batched_python $((3 * ROWS)) "$rep" "$ROWS" "$TMP/run.out" \
            "$PYTHON" "$ROOT/tests/bench/batched.py" --url "$URL" \
            --topic-prefix "$USER_ID" "${STREAMS[@]}"
    ! want psql_curl ||
        run_measured psql_curl $((3 * ROWS)) "$rep" "$ROWS" "$TMP/run.out" \
            bash "$ROOT/tests/bench/psql_curl.sh" "$URL" "$USER_ID" "${SPECS[@]}"
    ! want pinemit || run_pinemit pinemit "$ROWS" "$rep"
done

# What the sink sustains with pinemit's own bodies (500 pinterest rows),
# with the load generator on the same 2 cores.
rm -rf "$PM_STATE"
"$PINEMIT" -c "$TMP/pinemit.conf" --dry-run run --stream pin --limit 500 \
    2>/dev/null | head -n 1 >"$TMP/body.json" || true
[ -s "$TMP/body.json" ] || die "pinemit --dry-run gave no body for the load generator"
"$LOADGEN" --port "$SINK_PORT" --body "$TMP/body.json" --conns 2 --seconds 3 \
    >"$OUT/sink-capacity.json" || die "load generator"
SINK_CAPACITY=$(sed -n 's/.*"records_per_s":\([0-9]*\).*/\1/p' "$OUT/sink-capacity.json")
msg "sink capacity: $SINK_CAPACITY records/s (500-record pinterest bodies, 2 connections)"

if want pinemit_big && [ "$BIG" = 1 ] && [ "$BIG_ROWS" -ne "$ROWS" ]; then
    msg "pinemit at $BIG_ROWS rows per table"
    load_seed "$BIG_ROWS"
    for rep in $(seq 1 "$REPS"); do
        run_pinemit pinemit_big "$BIG_ROWS" "$rep"
    done
fi

BUSY_AFTER=$(cpu_busy_pct)

# ---------------------------------------------------------------- report

PGVER=$(psql -X -A -t -c "SHOW server_version" | cut -d' ' -f1)
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
"$PYTHON" "$ROOT/tests/bench/report.py" --raw "$RAW" --csv "$OUT/results.csv" \
    --dat "$OUT/rows_per_s.dat" --md "$OUT/results.md" \
    --rows "$ROWS" --subset "$SUBSET" --reps "$REPS" --cores "$(nproc)" \
    --sink-capacity "$SINK_CAPACITY" --busy "$BUSY_BEFORE,$BUSY_AFTER" \
    --machine "$(nproc) cores, ${CPU:-unknown CPU}, PostgreSQL $PGVER, $("$PINEMIT" --version 2>&1 | head -1), nice $(nice), sink delay $DELAY_MS ms, pinemit state on $(df --output=fstype "$(dirname "$PM_STATE")" | tail -1)"

gnuplot -e "datafile='$OUT/rows_per_s.dat'; outfile='$OUT/rows_per_s.png'" \
    -e "subtitle='$ROWS rows per table (one_per_post: first $SUBSET), best of $REPS runs, $(nproc) cores'" \
    "$ROOT/tests/bench/rows_per_s.gp" || die "gnuplot"
msg "wrote $OUT/results.csv, $OUT/results.md and $OUT/rows_per_s.png"
if [ "$UPDATE_DOCS" = 1 ]; then
    mkdir -p "$ROOT/docs"
    cp "$OUT/rows_per_s.png" "$ROOT/docs/bench-rows-per-s.png"
    cp "$OUT/results.md" "$ROOT/docs/bench-results.md"
    msg "updated docs/bench-rows-per-s.png and docs/bench-results.md"
fi
msg "done in $(($(date +%s) - T0)) s"
