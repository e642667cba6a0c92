# SPDX-License-Identifier: MIT
# Bad configs exit 2 with FILE:LINE: key: message; secrets never printed.
set -eu
. "$(dirname "$0")/lib.sh"

c=$WORK/bad.conf
base='source = { conninfo = "dbname=x"; };
sink = { invoke_url = "http://127.0.0.1:9/test"; };
state = { dir = "'$WORK'/state"; };'

# try CONFIG_TEXT REGEX: pinemit must exit 2 and say REGEX on stderr.
try() {
    printf '%s\n' "$1" >"$c"
    set +e
    out=$("$PINEMIT" -c "$c" run 2>&1)
    rc=$?
    set -e
    expect_eq "exit code for: $2" 2 "$rc"
    expect_match "message" "$2" "$out"
    expect_eq "one line" 1 "$(printf '%s\n' "$out" | wc -l)"
}

try "$base streams = ( { name = \"a\"; table = \"t\"; key = \"k\"; } ); bogus = 1;" \
    "^pinemit: $c:3: bogus: unknown setting$"
try "$base
streams = ( { name = \"a\"; table = \"t\"; key = \"k\"; topic = \"bad topic!\"; } );" \
    "$c:4: streams.a.topic: \"bad topic!\" is not a valid Kafka topic name"
try "$base
streams = ( { name = \"a\"; },
            { name = \"a\"; } );" \
    "$c:5: streams.name: duplicate stream name \"a\""
try "$base
batch = { max_records = 0; };
streams = ( { name = \"a\"; } );" \
    "$c:4: batch.max_records: 0 is out of range"
try "$base
sink2 = 1;" "$c:4: sink2: unknown setting"
try 'source = { conninfo = "dbname=x"; };
sink = { invoke_url = "http://127.0.0.1:9/test"; timeout_ms = "fast"; };
streams = ( { name = "a"; } );' "$c:2: sink.timeout_ms: expected an integer"
try 'source = { conninfo = "dbname=x"; }
sink = { ' "$c:3: syntax error"
try 'sink = { invoke_url = "http://x"; }; streams = ({name="a";});' \
    "$c: source: required group is missing"
try "$base" "$c: streams: required setting is missing"
try '@include "/tmp"' "$c:1: @include is not supported"

# A missing file is a config error too.
set +e
out=$("$PINEMIT" -c "$WORK/nope.conf" check 2>&1)
rc=$?
set -e
expect_eq "missing file exit" 2 "$rc"
expect_match "missing file" "nope.conf: cannot open config file" "$out"

# Usage errors exit 2.
set +e
"$PINEMIT" frobnicate >/dev/null 2>&1; rc=$?
set -e
expect_eq "unknown command" 2 "$rc"
"$PINEMIT" --help | grep -q '^Usage: pinemit' || fail "--help"
expect_match "--version" '^pinemit [0-9]+\.[0-9]+\.[0-9]+$' "$("$PINEMIT" --version)"

# A password in conninfo is never printed, whatever fails.
cat >"$c" <<CONF
source = { conninfo = "postgresql://postgres:supersecret@127.0.0.1:1/nodb"; connect_timeout_s = 2; };
sink = { invoke_url = "http://127.0.0.1:9/test"; };
state = { dir = "$WORK/state"; };
streams = ( { name = "a"; } );
CONF
set +e
out=$("$PINEMIT" -v -c "$c" run 2>&1)
rc=$?
out2=$("$PINEMIT" -v -c "$c" check 2>&1)
set -e
expect_eq "database down exit" 1 "$rc"
expect_match "database down message" "cannot connect to the database" "$out"
expect_no_match "password leaked by run" "supersecret" "$out"
expect_no_match "password leaked by check" "supersecret" "$out2"
