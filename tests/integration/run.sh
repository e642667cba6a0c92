#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh - run the integration tests: one throwaway PostgreSQL cluster for
# all of them, each NNN-*.sh in its own subshell and work directory.
#   tests/integration/run.sh [PATTERN...]  PINEMIT=path/to/pinemit
# With patterns, only the tests whose name contains one of them run.
set -u
here=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pinemit-it.XXXXXX")
chmod 755 "$WORK"
export WORK
export PINEMIT=${PINEMIT:-$here/../../build/pinemit}
[ -x "$PINEMIT" ] || { echo "run.sh: $PINEMIT is not built" >&2; exit 1; }

cleanup() {
    "$here/../pgtmp.sh" stop "$WORK/pg" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK/pg"
env_lines=$("$here/../pgtmp.sh" start "$WORK/pg" 2>"$WORK/pgtmp.log") || {
    cat "$WORK/pgtmp.log" >&2
    exit 1
}
eval "$env_lines"

passed=0 failed=0 failures=
for t in "$here"/[0-9][0-9][0-9]-*.sh; do
    name=$(basename "$t" .sh)
    if [ $# -gt 0 ]; then
        match=0
        for p in "$@"; do
            case "$name" in *"$p"*) match=1 ;; esac
        done
        [ "$match" -eq 1 ] || continue
    fi
    dir="$WORK/$name"
    mkdir -p "$dir"
    chmod 777 "$dir"
    start=$(date +%s)
    if (cd "$dir" && WORK="$dir" timeout 600 bash "$t") >"$dir/log" 2>&1; then
        passed=$((passed + 1))
        echo "ok   $name ($(($(date +%s) - start)) s)"
    else
        failed=$((failed + 1))
        failures="$failures $name"
        echo "FAIL $name"
        sed 's/^/    /' "$dir/log" | tail -n 30
    fi
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || { echo "failed:$failures"; exit 1; }
