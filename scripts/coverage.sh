#!/bin/sh
# SPDX-License-Identifier: MIT
# coverage.sh BUILD_DIR - the share of src/ lines that the tests executed,
# from the .gcda files a `--coverage` build left in BUILD_DIR.  Prints one
# line per file and a total line: "coverage: N.N% of M lines in src/".
set -eu
build=${1:?usage: coverage.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for src in "$top"/src/*.c; do
    obj="$build/$(basename "$src" .c).o"
    [ -f "${obj%.o}.gcda" ] || { echo "$(basename "$src"): not run" >&2; continue; }
    (cd "$out" && gcov -n -o "$top/$obj" "$src" 2>/dev/null) |
        awk -v f="$(basename "$src")" '
            /^File / { cur = $2; gsub(/\x27/, "", cur) }
            /^Lines executed:/ && cur ~ "src/" f "$" {
                split($2, a, ":"); pct = a[2]; sub(/%/, "", pct)
                printf "%s %s %s\n", f, pct, $4; exit
            }'
done | awk '
    { hit += $2 * $3 / 100; all += $3; printf "  %-16s %6.1f%% of %5d lines\n", $1, $2, $3 }
    END { if (all == 0) { print "coverage: no data"; exit 1 }
          printf "coverage: %.1f%% of %d lines in src/\n", 100 * hit / all, all }'
