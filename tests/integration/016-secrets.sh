# SPDX-License-Identifier: MIT
# Secrets stay out of every message, and config values are read as
# written (issue #12): a conninfo that libpq cannot parse is a config error
# with its password masked, connection errors mask what libpq quotes from
# the conninfo (item 2).
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
out_of 2 -c "$c" check
expect_match "check" "database: FAILED: cannot connect to the database: could not translate host name \"$mask@127.0.0.1\"" "$out"
expect_no_match "check: password printed" "Tr0ub|dor3" "$out"
conf 'postgresql://pinemit:Tr0ub@dor3@127.0.0.1:1/x' 'state = { store = "database"; };'
sed -i '1d' "$c"
out_of 1 -c "$c" run
expect_match "database store connection" \
    "^pinemit: checkpoint table pinemit.checkpoints: cannot connect: could not translate host name \"$mask@127.0.0.1\"" "$out"
expect_no_match "database store: password printed" "Tr0ub|dor3" "$out"
