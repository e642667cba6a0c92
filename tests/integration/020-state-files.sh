# SPDX-License-Identifier: MIT
# Issue 12.3: a symbolic link planted in state.dir (the lock file, a
# checkpoint or its temp file) or beside the metrics file is never
# followed: the run refuses with a message naming the link, and the link's
# target is left exactly as it was.
set -eu
. "$(dirname "$0")/lib.sh"
trap 'stop_mock' EXIT

new_db statefiles
load_seed 50
start_mock --topics 0e3bbd435bfb.pin,0e3bbd435bfb.geo,0e3bbd435bfb.user
write_conf "$WORK/pinemit.conf"
mkdir -p "$WORK/state"
printf 'precious\n' >"$WORK/victim"

# The lock file is a link to a file the user can write.
ln -s "$WORK/victim" "$WORK/state/pinemit.lock"
run_expect 1 run
expect_match "lock link named" "pinemit.lock is a symbolic link" "$OUT"
expect_eq "lock target untouched" precious "$(cat "$WORK/victim")"
expect_eq "nothing sent with a lock link" 0 "$(mock_requests)"
rm "$WORK/state/pinemit.lock"

# The checkpoint's temp file is a link: the save refuses, the target
# keeps its content.
ln -s "$WORK/victim" "$WORK/state/pin.checkpoint.tmp"
run_expect 1 run --stream pin
expect_match "temp link named" "pin.checkpoint.tmp is a symbolic link" "$OUT"
expect_eq "temp target untouched" precious "$(cat "$WORK/victim")"
rm "$WORK/state/pin.checkpoint.tmp"

# The checkpoint itself is a link: refused when read.
ln -s "$WORK/victim" "$WORK/state/geo.checkpoint"
run_expect 1 run --stream geo
expect_match "checkpoint link named" "geo.checkpoint is a symbolic link" "$OUT"
expect_eq "checkpoint target untouched" precious "$(cat "$WORK/victim")"
rm "$WORK/state/geo.checkpoint"

# The metrics file's temp name is a link.  The name carries pinemit's
# pid: a shell plants the link for its own pid and then execs pinemit,
# which keeps that pid.  The run still delivers (a metrics file is never
# worth failing a run for); the metrics write is refused with a warning
# and the target is untouched.
set +e
OUT=$(sh -c 'ln -s "$1/victim" "$1/m.prom.tmp.$$" && exec "$2" -c "$1/pinemit.conf" \
    --metrics-file "$1/m.prom" run --stream user' sh "$WORK" "$PINEMIT" 2>&1)
rc=$?
set -e
expect_eq "metrics link exit code ($OUT)" 0 "$rc"
expect_match "metrics link refused" "warning: metrics file .*m.prom.*symbolic links" "$OUT"
expect_eq "metrics target untouched" precious "$(cat "$WORK/victim")"

# With the links gone, everything is delivered; pin's first batch was
# acknowledged but its checkpoint could not be saved, so it goes again
# (at least once).
rm -f "$WORK"/m.prom.tmp.*
run_expect 0 run
verify 0e3bbd435bfb.pin pinterest_data index --allow-duplicates
verify 0e3bbd435bfb.geo geolocation_data ind
verify 0e3bbd435bfb.user user_data ind
