# SPDX-License-Identifier: MIT
# lib.sh - helpers for the integration tests; sourced by run.sh and each
# NNN-*.sh.  Every server binds 127.0.0.1; every wait is bounded; only
# processes started here are stopped, by PID.

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${PINEMIT:=$TESTS_DIR/../build/pinemit}"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
    [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

# expect_match WHAT REGEX TEXT
expect_match() {
    printf '%s' "$3" | grep -Eq -- "$2" || fail "$1: '$3' does not match /$2/"
}

# expect_no_match WHAT REGEX TEXT
expect_no_match() {
    if printf '%s' "$3" | grep -Eq -- "$2"; then
        fail "$1: '$3' matches /$2/"
    fi
}

# new_db NAME: a fresh database in the shared cluster; sets PGDATABASE.
new_db() {
    dropdb --if-exists "$1" >/dev/null 2>&1
    createdb "$1" || fail "createdb $1"
    export PGDATABASE="$1"
}

# load_seed ROWS: seed tables with ROWS rows each, hostile rows, type zoo.
load_seed() {
    psql -q -X -v ON_ERROR_STOP=1 -v rows="$1" -f "$TESTS_DIR/data/seed.sql" \
        >/dev/null || fail "seed.sql"
    psql -q -X -v ON_ERROR_STOP=1 -f "$TESTS_DIR/data/hostile.sql" \
        >/dev/null || fail "hostile.sql"
    psql -q -X -v ON_ERROR_STOP=1 -f "$TESTS_DIR/data/types.sql" \
        >/dev/null || fail "types.sql"
}

# sql QUERY: one value, unaligned.
sql() {
    psql -X -A -t -v ON_ERROR_STOP=1 -c "$1"
}

# start_mock [mock_proxy.py options...]: starts a fresh mock with its own
# store; sets MOCK_PID, MOCK_PORT, MOCK_STORE, MOCK_URL.
start_mock() {
    MOCK_STORE=$(mktemp -d "$WORK/mock.XXXXXX")
    python3 "$TESTS_DIR/mock_proxy.py" --store "$MOCK_STORE" \
        --port-file "$MOCK_STORE/port" --base-path /test --quiet "$@" \
        2>"$MOCK_STORE/stderr" &
    MOCK_PID=$!
    for _ in $(seq 1 100); do
        [ -s "$MOCK_STORE/port" ] && break
        kill -0 "$MOCK_PID" 2>/dev/null || fail "mock proxy died: $(cat "$MOCK_STORE/stderr")"
        sleep 0.05
    done
    [ -s "$MOCK_STORE/port" ] || fail "mock proxy did not start"
    MOCK_PORT=$(cat "$MOCK_STORE/port")
    MOCK_URL="http://127.0.0.1:$MOCK_PORT/test"
}

stop_mock() {
    if [ -n "${MOCK_PID:-}" ]; then
        kill "$MOCK_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$MOCK_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill -9 "$MOCK_PID" 2>/dev/null || true
        wait "$MOCK_PID" 2>/dev/null || true
        MOCK_PID=
    fi
}

# mock_script JSON: replaces the mock's misbehaviour script.
mock_script() {
    curl -sf -X POST --data-binary "$1" \
        "http://127.0.0.1:$MOCK_PORT/_mock/script" >/dev/null ||
        fail "cannot set the mock script"
}

# mock_requests: number of produce requests the mock has seen.
mock_requests() {
    if [ -f "$MOCK_STORE/requests.jsonl" ]; then
        # grep -c prints 0 but exits 1 when nothing matches: not a failure.
        grep -c '"method": *"POST"' "$MOCK_STORE/requests.jsonl" || true
    else
        echo 0
    fi
}

# mock_records TOPIC: number of records the mock stored for TOPIC (0 when
# none yet).
mock_records() {
    if [ -f "$MOCK_STORE/records/$1.jsonl" ]; then
        wc -l <"$MOCK_STORE/records/$1.jsonl"
    else
        echo 0
    fi
}

# follow_ev N: starts `run --stream ev --follow --interval 1` in the
# background (PID set, -v messages in $WORK/follow.log) and waits, bounded,
# until the mock holds N records of ev: its first poll.
follow_ev() {
    "$PINEMIT" -c "$WORK/pinemit.conf" --log-file "$WORK/follow.log" -v \
        run --stream ev --follow --interval 1 &
    PID=$!
    for _ in $(seq 1 100); do
        [ "$(mock_records "$u.ev")" -ge "$1" ] && break
        sleep 0.05
    done
    expect_eq "first poll" "$1" "$(mock_records "$u.ev")"
}

# write_conf FILE [extra stream entries]: config for the seed tables
# pointing at the shared cluster and the current mock.
write_conf() {
    local file=$1 state
    state=$(dirname "$file")/state
    cat >"$file" <<CONF
user_id = "0e3bbd435bfb";
source = {
  conninfo = "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$PGUSER";
  fetch_rows = ${FETCH_ROWS:-700};
};
sink = {
  invoke_url = "$MOCK_URL"; timeout_ms = ${TIMEOUT_MS:-10000};
  max_in_flight = ${MAX_IN_FLIGHT:-1};
  retry = { max_attempts = ${MAX_ATTEMPTS:-8}; initial_backoff_ms = 10; max_backoff_ms = 100; };
};
${EXTRA_CONF:-}
batch = { max_records = ${MAX_RECORDS:-100}; max_bytes = ${MAX_BYTES:-1048576}; };
state = { dir = "$state"; };
streams = (
  { name = "pin";  table = "pinterest_data";   key = "index"; },
  { name = "geo";  table = "geolocation_data"; key = "ind"; },
  { name = "user"; table = "user_data";        key = "ind"; }${2:+,
  $2}
);
CONF
}

# ckpt STREAM: the stream's checkpointed key.
ckpt() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' \
        "$WORK/state/$1.checkpoint"
}

# reap: waits for the background run $PID; its exit code goes to rc, and
# PID is cleared (for the EXIT traps that kill what is left).
reap() {
    set +e
    wait "$PID"
    rc=$?
    set -e
    PID=
}

# run_expect CODE [pinemit args...]: runs pinemit with the test config
# ($CONF when set); the exit code must be CODE; stderr lands in $OUT.
run_expect() {
    local want=$1 rc
    shift
    set +e
    OUT=$("$PINEMIT" -c "${CONF:-$WORK/pinemit.conf}" "$@" 2>&1 >/dev/null)
    rc=$?
    set -e
    expect_eq "exit code of pinemit $* (stderr: $OUT)" "$want" "$rc"
}

# verify TOPIC TABLE KEY [verify.py options]
verify() {
    python3 "$TESTS_DIR/verify.py" --store "$MOCK_STORE" --topic "$1" \
        --table "$2" --key "$3" "${@:4}" >/dev/null ||
        fail "verify $1 against $2"
}

# check_limits MAX_RECORDS MAX_BYTES: every produce request within both.
check_limits() {
    python3 - "$MOCK_STORE/requests.jsonl" "$1" "$2" <<'PY' || fail "batch limits"
import json, sys
path, max_rec, max_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
n = 0
for line in open(path, encoding="utf-8"):
    r = json.loads(line)
    if r["method"] != "POST" or r.get("records") is None:
        continue
    n += 1
    if r["records"] > max_rec or r["body_bytes"] > max_bytes:
        sys.exit("request %d: %d records, %d bytes" % (r["seq"], r["records"], r["body_bytes"]))
if n == 0:
    sys.exit("no produce requests")
PY
}
