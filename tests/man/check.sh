#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check.sh - the man pages: mandoc lint without a warning, every option
# of `pinemit --help` and `pinemit CMD --help` in docs/pinemit.1, and
# every setting src/config.c reads in docs/pinemit.conf.5.  Prints what
# is missing and exits 1.  `make man-lint` runs it.
# Usage: tests/man/check.sh [PINEMIT]   (default: $PINEMIT, else build/pinemit)
set -euo pipefail
cd "$(dirname "$0")/../.."

pinemit=${1:-${PINEMIT:-build/pinemit}}
page1=docs/pinemit.1
page5=docs/pinemit.conf.5
fail=0

# Fails when LIST (one a line) has fewer than N entries: the extraction
# below no longer finds what it looks for.
at_least() {
    if [ "$(printf '%s\n' "$3" | grep -c .)" -lt "$1" ]; then
        echo "man: found only these $2: $(printf '%s\n' "$3" | tr '\n' ' ')" >&2
        fail=1
    fi
}

# Each name of LIST (one a line) must match FORMAT (an ERE with %s for
# the name) in PAGE.
documented() {
    local page=$1 what=$2 format=$3 n
    for n in $4; do
        # shellcheck disable=SC2059
        grep -qE "$(printf "$format" "$n")" "$page" ||
            { echo "man: $page: $what$n is not documented" >&2; fail=1; }
    done
}

# 1. Lint: mandoc prints nothing when there is no warning.
for p in "$page1" "$page5"; do
    out=$(mandoc -T lint -W warning "$p" 2>&1) || true
    if [ -n "$out" ]; then
        printf '%s\n' "$out"
        echo "man: $p: mandoc lint is not clean" >&2
        fail=1
    fi
done

# 2. Options: every one the help prints is documented with Fl.
help=$("$pinemit" --help)
for cmd in run replay init check status; do
    help+=$'\n'$("$pinemit" "$cmd" --help)
done
longs=$(printf '%s\n' "$help" | grep -oE '(^|[^[:alnum:]_-])--[a-z][a-z-]*' |
    sed 's/^[^-]*--//' | sort -u)
shorts=$(printf '%s\n' "$help" | sed -nE 's/^ +-([[:alpha:]]), --.*/\1/p' |
    sort -u)
at_least 15 "long options in the help" "$longs"
documented "$page1" "option --" 'Fl \\\\-%s([^[:alnum:]-]|$)' "$longs"
documented "$page1" "option -" 'Fl %s([^[:alnum:]-]|$)' "$shorts"

# 3. Settings: the names of the member lists (the keys check_members
# accepts) and of every get_string/get_long/get_group call and member
# lookup, from the source as one line.
src="src/config*.c"
flat=$(cat src/config*.c | tr "\n" " " | tr -s " ")
names=$( {
    printf '%s\n' "$flat" |
        grep -oE 'static const char \*const [a-z_]+\[\] = \{[^}]*\}' |
        grep -oE '"[a-z_]+"'
    printf '%s\n' "$flat" |
        grep -oE 'get_(string|long|group)\(r, [a-z_]+, ("[a-z_.]*", )?"[a-z_]+"' |
        grep -oE '"[a-z_]+"$'
    printf '%s\n' "$flat" |
        grep -oE 'config_setting_get_member\([a-z_]+, "[a-z_]+"' |
        grep -oE '"[a-z_]+"$'
} | tr -d '"' | sort -u)
at_least 40 "settings in $src" "$names"
documented "$page5" "setting " '^\\.It Cm %s( |$)' "$names"

if [ "$fail" -ne 0 ]; then
    exit 1
fi
echo "man: ok: $(printf '%s\n' "$longs" | grep -c .) long options," \
    "$(printf '%s\n' "$names" | grep -c .) settings, lint clean"
