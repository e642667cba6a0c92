#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# psql_curl.sh - benchmark contender, a shell pipeline: PostgreSQL builds the
# REST v2 bodies itself (json_agg of row_to_json, 500 rows per body, one
# body per line) and curl POSTs them, one curl process per 40 bodies (20,000
# rows) so the connection is kept alive while memory stays bounded.
#
#   psql_curl.sh URL TOPIC_PREFIX NAME=TABLE:KEY... [LIMIT]
#
#   e.g. psql_curl.sh http://127.0.0.1:PORT/bench 0e3bbd435bfb \
#            pin=pinterest_data:index geo=geolocation_data:ind 5000
#
# PostgreSQL comes from the libpq environment (PGHOST, PGPORT, ...).  A
# trailing number sends only the first LIMIT rows (in key order) of each
# table.  Table and key names must be plain identifiers.
set -euo pipefail

# Filter mode (split runs it for each group of lines): the bodies on stdin,
# one per line, go to files, and one curl process POSTs them all, reading
# a config with one request per body ("next" between them).  A config
# line is limited to 100 KiB, so bodies are passed as @file.
if [ "${1:-}" = --post ]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/psql_curl.XXXXXX")
    trap 'rm -rf "$dir"' EXIT
    split -l 1 -a 3 - "$dir/b."
    for f in "$dir"/b.*; do
        printf 'next\nurl = "%s"\noutput = "/dev/null"\nfail\n' "$2"
        printf 'header = "Content-Type: application/vnd.kafka.json.v2+json"\n'
        printf 'data-binary = "@%s"\n' "$f"
    done | sed 1d | curl -sS --fail-early -K -
    exit
fi

url=$1 prefix=$2
shift 2
limit=
for last in "$@"; do :; done
case ${last:-} in
    *[!0-9]*|'') ;;
    *) limit="LIMIT $last" ;;
esac

for spec in "$@"; do
    case $spec in *=*:*) ;; *) continue ;; esac
    name=${spec%%=*} rest=${spec#*=}
    table=${rest%%:*} key=${rest#*:}
    # One line per body: {"records" : [{"value" : {...}}, ...]}
    psql -X -q -A -t -v ON_ERROR_STOP=1 -c "
        SELECT json_build_object('records',
                   json_agg(json_build_object('value', j) ORDER BY n))
        FROM (SELECT row_number() OVER (ORDER BY $key) - 1 AS n,
                     row_to_json(t) AS j
              FROM (SELECT * FROM $table ORDER BY $key $limit) AS t) AS s
        GROUP BY n / 500
        ORDER BY n / 500" |
        split -l 40 --filter="bash '$0' --post '$url/topics/$prefix.$name'"
done
