#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh - runs one libFuzzer harness on a scratch copy of its seed corpus.
# usage: run.sh NAME SECONDS MAX_LEN OUTDIR [libFuzzer flags...]
# The seeds in tests/fuzz/corpus/NAME are copied to OUTDIR/run/NAME, so new
# inputs never land in the repository; crashes go to OUTDIR/artifacts and
# the full log to OUTDIR/logs/NAME.log.  Exits non-zero on any finding.
set -u
name=$1 secs=$2 maxlen=$3 out=$4
shift 4
here=$(dirname "$0")
bin=$out/fuzz_$name
work=$out/run/$name
log=$out/logs/$name.log
dict=

rm -rf "$work"
mkdir -p "$work" "$out/artifacts" "$out/logs" || exit 2
cp "$here/corpus/$name/"* "$work/" || exit 2
if [ -f "$here/$name.dict" ]; then
    dict=-dict=$here/$name.dict
fi
# UBSan findings abort (the objects use -fno-sanitize-recover); ask for
# stacks so a report names the line.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export UBSAN_OPTIONS

echo "== fuzz_$name: ${secs}s, max_len $maxlen"
"$bin" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 \
    -error_exitcode=1 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$name-" $dict "$@" "$work" \
    >"$log" 2>&1
st=$?
stats='^stat::(number_of_executed_units|average_exec_per_sec'
stats="$stats|new_units_added|peak_rss_mb)"
finds='^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*check failed'
finds="$finds|artifact_prefix|Test unit written)"
grep -a -E "$stats" "$log" | sed "s/^/   /"
if [ "$st" -ne 0 ]; then
    grep -a -E "$finds" "$log" | head -n 20 | sed "s/^/   /"
    echo "== fuzz_$name: FAILED (exit $st); log: $log"
fi
exit "$st"
