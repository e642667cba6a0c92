#!/bin/sh
# SPDX-License-Identifier: MIT
# setup.sh - install kinesalite, the test dependency pinned in package.json,
# into tests/kinesis/node_modules, if it is not there yet.  Idempotent and
# quiet: prints nothing when all is well, npm's output when the install
# fails.
#
#   tests/kinesis/setup.sh      exit 0 ready, 77 node or npm missing, 1 failed
#
# Without install scripts: kinesalite needs none (its default store is in
# memory; leveldown is never loaded).  With a package-lock.json beside
# package.json, `npm ci` installs exactly what it lists; without one (the
# repository keeps none), `npm install --no-package-lock` resolves
# kinesalite's own dependency ranges.  The install is bounded by a timeout.
# A marker file records which package.json (and lock file) the tree was
# installed from, so an interrupted install or a changed pin leads to a
# fresh install.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
: "${KINESIS_SETUP_TIMEOUT:=300}"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "tests/kinesis/setup.sh: node and npm are needed for the Kinesis" \
        "tests (apt-get install nodejs npm); skipped" >&2
    exit 77
fi

marker=$here/node_modules/.pinemit-installed
want=$(cat "$here/package.json" "$here/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] &&
    [ -f "$here/node_modules/kinesalite/index.js" ]; then
    exit 0
fi

log=$(mktemp "${TMPDIR:-/tmp}/kinesis-setup.XXXXXX")
trap 'rm -f "$log"' EXIT
rm -f "$marker"
if [ -f "$here/package-lock.json" ]; then
    set -- ci
else
    set -- install --no-package-lock
fi
# npm reads tests/kinesis/.npmrc when run from here.
if ! (cd "$here" && timeout "$KINESIS_SETUP_TIMEOUT" npm "$@" --no-audit --no-fund \
    --ignore-scripts --loglevel=error) >"$log" 2>&1; then
    echo "tests/kinesis/setup.sh: npm $* failed:" >&2
    cat "$log" >&2
    exit 1
fi
# Check that what was installed loads, and is the pinned version.
got=$(cd "$here" && node -e 'process.stdout.write(require("kinesalite/package.json").version)' 2>>"$log") || {
    echo "tests/kinesis/setup.sh: kinesalite does not load after npm $*:" >&2
    cat "$log" >&2
    exit 1
}
pinned=$(sed -n 's/^ *"kinesalite": *"\([^"]*\)".*/\1/p' "$here/package.json")
if [ "$got" != "$pinned" ]; then
    echo "tests/kinesis/setup.sh: installed kinesalite $got, package.json pins $pinned" >&2
    exit 1
fi
echo "$want" >"$marker"
