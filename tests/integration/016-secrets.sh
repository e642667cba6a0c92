# SPDX-License-Identifier: MIT
# Secrets stay out of every message, and config values are read as
# written (issue #12): a conninfo that libpq cannot parse is a config error
# with its password masked, connection errors mask what libpq quotes from
# the conninfo (item 2); a line break in a secret from the environment
# cannot start a header of its own (item 4); a password in invoke_url is
# masked in `check` and in transport errors, and warned about (item 5);
# an integer beyond libconfig's range is reported as written (item 13);
# `-c DIRECTORY` is a config error (item 11).
set -eu
. "$(dirname "$0")/lib.sh"
trap stop_mock EXIT

new_db secrets
sql "CREATE TABLE ev (id bigserial PRIMARY KEY, who text);
     INSERT INTO ev (who) SELECT 'row ' || g FROM generate_series(1, 20) g" >/dev/null
db="host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$PGUSER"
c=$WORK/secrets.conf
mask='\*\*\*\*\*\*\*\*'

# conf CONNINFO [MORE SETTINGS]: source.conninfo on line 2; the sink from
# $URL and $SINK; readable by its owner only (no warning).
conf() {
    cat >"$c" <<CONF
state = { dir = "$WORK/state"; };
source = { conninfo = "$1"; connect_timeout_s = 2; };
sink = { invoke_url = "${URL:-http://127.0.0.1:9/test}"; ${SINK:-} };
streams = ( { name = "ev"; key = "id"; } );
${2:-}
CONF
    chmod 600 "$c"
}

# out_of CODE ARGS...: runs pinemit with ARGS; stdout and stderr land in
# $out; the exit code must be CODE.
out_of() {
    local want=$1 rc
    shift
    set +e
    out=$("$PINEMIT" "$@" 2>&1)
    rc=$?
    set -e
    expect_eq "exit code of pinemit $* (output: $out)" "$want" "$rc"
}

# --- item 2: libpq's parse errors quote the password, or the whole URI ---
conf 'postgresql://pinemit:Tr0ub%dor&3@db.internal:5432/pinterest'
for cmd in run check status; do
    out_of 2 -c "$c" $cmd
    expect_eq "$cmd: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
    expect_match "$cmd: config error naming the key" \
        "^pinemit: $c:2: source.conninfo: invalid percent-encoded token: \"$mask\"\$" "$out"
    expect_no_match "$cmd: password printed" "Tr0ub|dor&3" "$out"
done
out_of 2 --log-format json -c "$c" run
expect_match "JSON log" "\"level\":\"error\",\"msg\":\"$c:2: source.conninfo: invalid percent-encoded token: .\"$mask.\"\"" "$out"
expect_no_match "JSON log: password printed" "Tr0ub|dor&3" "$out"

conf 'postgresql://u:pw0rd@[::1'
out_of 2 -c "$c" check
expect_match "malformed URI: masked copy" \
    "^pinemit: $c:2: source.conninfo: end of string reached .* in URI: \"postgresql://u:$mask@\[::1\"\$" "$out"
expect_no_match "malformed URI: password printed" "pw0rd" "$out"

# A password with an unencoded '@' parses, but libpq then takes its end
# for the host name and quotes it when the name does not resolve: in the
# source's connection error and in the database store's.
conf 'postgresql://pinemit:Tr0ub@dor3@127.0.0.1:1/x'
out_of 1 -c "$c" run
expect_match "source connection" \
    "^pinemit: cannot connect to the database: could not translate host name \"$mask@127.0.0.1\"" "$out"
expect_no_match "source connection: password printed" "Tr0ub|dor3" "$out"
out_of 1 -c "$c" check  # unreachable database and proxy: exit 1 (item 9)
expect_match "check" "database: FAILED: cannot connect to the database: could not translate host name \"$mask@127.0.0.1\"" "$out"
expect_no_match "check: password printed" "Tr0ub|dor3" "$out"
conf 'postgresql://pinemit:Tr0ub@dor3@127.0.0.1:1/x' 'state = { store = "database"; };'
sed -i '1d' "$c"
out_of 1 -c "$c" run
expect_match "database store connection" \
    "^pinemit: checkpoint table pinemit.checkpoints: cannot connect: could not translate host name \"$mask@127.0.0.1\"" "$out"
expect_no_match "database store: password printed" "Tr0ub|dor3" "$out"

# --- item 4: a secret from the environment cannot inject a header ---
start_mock --auto-create
URL=$MOCK_URL
SINK='api_key_env = "K";' conf "$db"
# inject_refused WHAT KEY VAR: the value of VAR was refused, by config key
# KEY, before any request.
inject_refused() {
    expect_match "$1: refused" "$2: environment variable $3 holds a line break \(CR or LF\)" "$out"
    expect_no_match "$1: secret printed" "X-Injected" "$out"
    expect_eq "$1: nothing sent" 0 "$(mock_requests)"
}
K=$'abc\r\nX-Injected: yes' out_of 2 -c "$c" run
expect_eq "run: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
inject_refused run sink.api_key_env K
K=$'abc\nX-Injected: yes' out_of 2 -c "$c" check
expect_match "check" "^proxy: FAILED: sink.api_key_env: environment variable K holds a line break" "$(printf '%s\n' "$out" | grep '^proxy:')"
inject_refused check sink.api_key_env K
SINK='basic_auth_env = "B";' conf "$db"
B=$'u:p\r\nX-Injected: yes' out_of 2 -c "$c" run
inject_refused "basic auth" sink.basic_auth_env B
SINK='aws_sigv4 = { region = "us-east-1"; };' conf "$db"
AWS_ACCESS_KEY_ID=AKID AWS_SECRET_ACCESS_KEY=sk \
    AWS_SESSION_TOKEN=$'tok\r\nX-Injected: yes' out_of 2 -c "$c" run
inject_refused "session token" sink.aws_sigv4 AWS_SESSION_TOKEN
# A clean key still goes out as the one header.
SINK='api_key_env = "K";' conf "$db"
K=abc out_of 0 -c "$c" run
expect_eq "sent" 1 "$(mock_requests)"
grep -qi 'x-injected' "$MOCK_STORE/requests.jsonl" && fail "a header was injected"
stop_mock

# --- item 5: a password in invoke_url ---
start_mock --auto-create
URL="http://bob:pw0rd@127.0.0.1:$MOCK_PORT/test" conf "$db"
out_of 0 -c "$c" check
expect_match "check" "^proxy: ok: http://bob:$mask@127.0.0.1:$MOCK_PORT/test\$" "$(printf '%s\n' "$out" | grep '^proxy:')"
expect_no_match "check: password printed" "pw0rd" "$out"
expect_no_match "no warning for a private file" "^pinemit: warning" "$out"
chmod 644 "$c"
out_of 0 -c "$c" check
expect_match "warned" "^pinemit: warning: $c holds a password in sink.invoke_url and others can read it; chmod o-r it, or use sink.basic_auth_env\$" "$out"
expect_no_match "warning: password printed" "pw0rd" "$out"
stop_mock
rm -rf "$WORK/state"
URL="http://bob:pw0rd@127.0.0.1:9/test" SINK='retry = { max_attempts = 1; };' conf "$db"
out_of 1 -c "$c" run
expect_match "transport error" "^pinemit: .*http://bob:$mask@127.0.0.1:9/test/topics/[^ ]*: .*(Couldn't connect|Connection refused)" "$out"
expect_no_match "transport error: password printed" "pw0rd" "$out"
out_of 1 -c "$c" check  # proxy unreachable: exit 1 (item 9)
expect_match "check: transport error" "^proxy: FAILED: http://bob:$mask@127.0.0.1:9/test/topics: " "$(printf '%s\n' "$out" | grep '^proxy:')"
expect_no_match "check: password printed" "pw0rd" "$out"

# --- an unencoded '/' in a password (review): libpq and libcurl take what
# follows for a port or a path, and quote the piece before it ---
URL="http://bob:Tr0ub/dor3x@127.0.0.1:9/test" SINK='retry = { max_attempts = 1; };' \
    conf 'postgresql://pinemit:Tr0ub/dor3x@127.0.0.1:1/x'
chmod 644 "$c"
out_of 2 -c "$c" check # libpq reads "Tr0ub" as the port: a config error
expect_no_match "slash: password printed" "Tr0ub|dor3x" "$out"
expect_match "slash: conninfo warned" "warning: $c holds a password in source.conninfo" "$out"
expect_match "slash: URL warned" "warning: $c holds a password in sink.invoke_url" "$out"
out_of 2 -c "$c" run
expect_no_match "slash: run: password printed" "Tr0ub|dor3x" "$out"

# --- a value libpq refuses only when it connects is a config error (2) ---
URL=http://127.0.0.1:9/test conf "$db sslmode=bogus"
out_of 2 -c "$c" run
expect_eq "sslmode: one line" "pinemit: source.conninfo: invalid sslmode value: \"bogus\"" "$out"
out_of 2 -c "$c" check
expect_match "check: sslmode" "^database: FAILED: source.conninfo: invalid sslmode value" "$out"

# --- item 13: integers beyond libconfig's range do not wrap silently ---
for v in 4294967396 99999999999999999999; do
    conf "$db" "batch = { max_records = $v; };"
    out_of 2 -c "$c" run
    expect_eq "$v: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
    expect_match "$v as written" "^pinemit: $c:5: batch.max_records: $v is out of range \(1 to 100000\)\$" "$out"
done

# --- item 11: a directory as the config file ---
for cmd in run check; do
    out_of 2 -c "$WORK" $cmd
    expect_eq "directory: $cmd" "pinemit: $WORK: is a directory" "$out"
done
