# SPDX-License-Identifier: MIT
# Several instances, one database: checkpoints in a table, a stream split in
# 8 shards owned through advisory locks.  Three followers deliver every row;
# kill -9 one and the others take its shards within two poll intervals;
# restart it and the shards rebalance; the table survives a database
# restart; a role without CREATE gets a clear error.
set -eu
. "$(dirname "$0")/lib.sh"
export PATH="$PATH:$(pg_config --bindir 2>/dev/null || true)"
PIDS=
trap 'stop_mock; for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done' EXIT

new_db scale
sql "CREATE TABLE ev (id bigserial PRIMARY KEY, who text);
     INSERT INTO ev (who) SELECT 'first ' || g FROM generate_series(1, 3000) g" >/dev/null
start_mock --auto-create
u=0e3bbd435bfb
EXTRA_CONF='' write_conf "$WORK/pinemit.conf" '{ name = "ev"; key = "id"; shards = 8; }'
sed -i 's|^state = { dir = "\(.*\)"; };|state = { dir = "\1"; store = "database"; table = "pinemit.checkpoints"; };|' "$WORK/pinemit.conf"
grep -q 'store = "database"' "$WORK/pinemit.conf" || fail "config edit"

# A role without CREATE cannot make the table: a clear error.
sql "CREATE ROLE weak LOGIN; GRANT CONNECT ON DATABASE scale TO weak; GRANT SELECT ON ev TO weak;
     REVOKE CREATE ON SCHEMA public FROM PUBLIC; REVOKE CREATE ON DATABASE scale FROM PUBLIC" >/dev/null
sed "s/user=$PGUSER\"/user=weak\"/" "$WORK/pinemit.conf" >"$WORK/weak.conf"
set +e
out=$("$PINEMIT" -c "$WORK/weak.conf" run --stream ev 2>&1)
rc=$?
set -e
expect_eq "exit code without CREATE" 2 "$rc"
expect_match "clear error" "checkpoint table pinemit.checkpoints does not exist and this role may not create it: permission denied" "$out"

"$PINEMIT" -c "$WORK/pinemit.conf" init >/dev/null || fail "init"
owners() { # the number of distinct instances owning ev's shards (each
    # holds its units' locks on its senders' connections, one or several)
    sql "SELECT count(DISTINCT a.application_name) FROM pg_locks l
         JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory'
         AND l.classid = hashtext('pinemit:ev')::oid AND l.objsubid = 2"
}
owned_by() { # shards held by backend of instance pid $1
    sql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
         WHERE l.locktype = 'advisory' AND l.classid = hashtext('pinemit:ev')::oid
         AND a.application_name LIKE 'pinemit/%/$1'"
}
start_instance() {
    "$PINEMIT" -c "$WORK/pinemit.conf" --log-file "$WORK/inst$1.log" -v \
        run --stream ev --follow --interval 1 &
    eval "I$1=\$!"
    PIDS="$PIDS $!"
}
start_instance 1
start_instance 2
start_instance 3
# Writers keep adding rows meanwhile.
( for i in $(seq 1 40); do
      psql -X -q -c "INSERT INTO ev (who) SELECT 'more' FROM generate_series(1, 25)" >/dev/null
      sleep 0.1
  done ) &
WRITER=$!
# fair: every instance holds 2 or 3 of the 8 shards (the first ones to
# start took more, and give the extra back at their next poll).
fair() {
    local i p n
    for i in 1 2 3; do
        eval "p=\$I$i"
        n=$(owned_by "$p")
        [ "$n" -ge 2 ] && [ "$n" -le 3 ] || return 1
    done
}
for _ in $(seq 1 60); do
    fair && break
    sleep 0.1
done
fair || fail "shards not shared fairly: $(for i in 1 2 3; do eval "p=\$I$i"; owned_by "$p"; done | tr '\n' ' ')"
expect_eq "three instances own shards" 3 "$(owners)"

# kill -9 one instance: its session ends, its locks go, others take over.
victim=$I2
kill -9 "$victim"
wait "$victim" 2>/dev/null || true
t0=$(date +%s)
for _ in $(seq 1 60); do
    total=$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
                 AND classid = hashtext('pinemit:ev')::oid AND objsubid = 2")
    [ "$total" -eq 8 ] && [ "$(owners)" -eq 2 ] && break
    sleep 0.1
done
expect_eq "all 8 shards owned again" 8 "$total"
[ $(( $(date +%s) - t0 )) -le 2 ] || fail "takeover took more than two poll intervals"

# Restart it: it gets its share back from the others.
start_instance 2
for _ in $(seq 1 80); do
    [ "$(owners)" -eq 3 ] && [ "$(owned_by "$I2")" -ge 2 ] && break
    sleep 0.1
done
expect_eq "rebalanced over three instances" 3 "$(owners)"

wait "$WRITER"
# The checkpoint table survives a database restart; the instances
# reconnect and go on.
if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- pg_ctl -D "$PGHOST/data" -m fast -w restart >/dev/null
else
    pg_ctl -D "$PGHOST/data" -m fast -w restart >/dev/null
fi
expect_eq "checkpoint rows after the restart" 8 "$(sql 'SELECT count(*) FROM pinemit.checkpoints')"
sql "INSERT INTO ev (who) SELECT 'after restart' FROM generate_series(1, 50)" >/dev/null
want=$(sql 'SELECT count(*) FROM ev')
for _ in $(seq 1 150); do
    got=$(python3 -c 'import json,sys; print(len({json.loads(l)["value"]["id"] for l in open(sys.argv[1])}))' \
        "$MOCK_STORE/records/$u.ev.jsonl")
    [ "$got" -eq "$want" ] && break
    sleep 0.1
done
expect_eq "every row delivered" "$want" "$got"
# Two config re-reads in a row in each live instance: each lets its shards
# go and claims again (under ASan this caught a use after free).
for i in 1 2 3; do
    eval "p=\${I$i:-}"
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null || continue
    before=$(grep -c 'configuration re-read' "$WORK/inst$i.log" || true)
    for n in 1 2; do
        kill -HUP "$p"
        for _ in $(seq 1 60); do
            [ "$(grep -c 'configuration re-read' "$WORK/inst$i.log")" -ge $((before + n)) ] && break
            sleep 0.05
        done
    done
    sleep 0.3
    kill -0 "$p" 2>/dev/null || fail "instance $i died on its second SIGHUP"
    expect_eq "instance $i re-read twice" $((before + 2)) "$(grep -c 'configuration re-read' "$WORK/inst$i.log")"
done
for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
for p in $PIDS; do wait "$p" 2>/dev/null || true; done
PIDS=
python3 - "$MOCK_STORE/records/$u.ev.jsonl" "$want" <<'PY' || fail "duplicates"
import json, sys
ids = [json.loads(l)["value"]["id"] for l in open(sys.argv[1])]
dups = len(ids) - len(set(ids))
# kill -9 and a database restart: at most the batches in flight (100 each)
# of the instances hit, per shard.
assert len(set(ids)) == int(sys.argv[2])
assert dups <= 8 * 100, dups
print("scale-out: %d rows, %d duplicates" % (len(set(ids)), dups))
PY
"$PINEMIT" -c "$WORK/pinemit.conf" status --stream ev >"$WORK/status.out" || fail "status"
expect_eq "status lists 8 shards" 8 "$(grep -c '^ev#' "$WORK/status.out")"
