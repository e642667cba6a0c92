# SPDX-License-Identifier: MIT
# check probes the checkpoint store the config names, creating nothing:
# with state.store = "database" it passes where the table can be created or
# was made by init, and fails with exit 2 where a run could not use it (no
# CREATE on its schema or the database, other columns, no INSERT), with
# exit 1 when the database is unreachable.  status reads through the same
# store API: "-" before the first run of the file store.
set -eu
. "$(dirname "$0")/lib.sh"
trap 'stop_mock' EXIT

new_db storecheck
sql "CREATE TABLE ev (id bigserial PRIMARY KEY, who text);
     INSERT INTO ev (who) SELECT 'row ' || g FROM generate_series(1, 5) g" >/dev/null
start_mock --auto-create
EXTRA_CONF='' write_conf "$WORK/file.conf" '{ name = "ev"; key = "id"; }'
sed -i '/name = "\(pin\|geo\|user\)"/d' "$WORK/file.conf" # ev alone
sed 's|^state = { dir = "\(.*\)"; };|state = { dir = "\1"; store = "database"; table = "pinemit.checkpoints"; };|' \
    "$WORK/file.conf" >"$WORK/db.conf"
grep -q 'store = "database"' "$WORK/db.conf" || fail "test setup: sed did not apply"

# run_check CONF: check; sets rc and out.
run_check() {
    set +e
    out=$("$PINEMIT" -c "$1" check 2>&1)
    rc=$?
    set -e
}
table_exists() {
    sql "SELECT to_regclass('$1') IS NOT NULL"
}

# The file store: unchanged lines, and status shows '-' before a run.
run_check "$WORK/file.conf"
expect_eq "file store: check exit" 0 "$rc"
expect_match "file store: not there yet" "^state: ok: $WORK/state \(created by the first run\)$" "$(echo "$out" | grep '^state:')"
out=$("$PINEMIT" -c "$WORK/file.conf" status --stream ev) || fail "status before a run: $out"
expect_match "status before a run" '^ev +[^ ]+ +- +5 ' "$(echo "$out" | grep '^ev ')"
[ ! -e "$WORK/state" ] || fail "status created the state directory"

# Database store, no table yet, a role that may create it: ok, nothing made.
run_check "$WORK/db.conf"
expect_eq "creatable table: check exit" 0 "$rc"
expect_match "creatable table" "^state: ok: pinemit.checkpoints \(created by the first run\)$" "$(echo "$out" | grep '^state:')"
expect_eq "check created no table" f "$(table_exists pinemit.checkpoints)"
expect_eq "check created no schema" 0 "$(sql "SELECT count(*) FROM pg_namespace WHERE nspname = 'pinemit'")"

# After init: ok, without the suffix.
"$PINEMIT" -c "$WORK/db.conf" init >/dev/null || fail "init"
run_check "$WORK/db.conf"
expect_eq "after init: check exit" 0 "$rc"
expect_match "after init" "^state: ok: pinemit.checkpoints$" "$(echo "$out" | grep '^state:')"

# A role without CREATE anywhere: a missing schema, then a missing table in
# a schema it may not create in, are config problems (exit 2).
sql "DO \$\$ BEGIN
       IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ckweak') THEN
         CREATE ROLE ckweak LOGIN;
       END IF; END \$\$;
     GRANT CONNECT ON DATABASE storecheck TO ckweak; GRANT SELECT ON ev TO ckweak;
     REVOKE CREATE ON SCHEMA public FROM PUBLIC; REVOKE CREATE ON DATABASE storecheck FROM PUBLIC;
     CREATE SCHEMA locked" >/dev/null
sed -e "s/user=$PGUSER\"/user=ckweak\"/" -e 's/pinemit\.checkpoints/nosuch.checkpoints/' \
    "$WORK/db.conf" >"$WORK/weak.conf"
run_check "$WORK/weak.conf"
expect_eq "missing schema: check exit" 2 "$rc"
expect_match "missing schema" "^state: FAILED: checkpoint table nosuch.checkpoints does not exist, nor its schema nosuch, and this role may not create them" "$out"
expect_match "only the store failed" "^database: ok" "$out"
sed -i 's/nosuch\.checkpoints/locked.checkpoints/' "$WORK/weak.conf"
run_check "$WORK/weak.conf"
expect_eq "no CREATE on the schema: check exit" 2 "$rc"
expect_match "no CREATE on the schema" "^state: FAILED: checkpoint table locked.checkpoints does not exist and this role may not create it in schema locked" "$out"

# The table exists (made by init) but the role may only read it: exit 2.
sql "GRANT USAGE ON SCHEMA pinemit TO ckweak; GRANT SELECT ON pinemit.checkpoints TO ckweak" >/dev/null
sed -i 's/locked\.checkpoints/pinemit.checkpoints/' "$WORK/weak.conf"
run_check "$WORK/weak.conf"
expect_eq "read-only table: check exit" 2 "$rc"
expect_match "read-only table" "^state: FAILED: checkpoint table pinemit.checkpoints: this role may not read and write it" "$out"
sql "GRANT INSERT, UPDATE ON pinemit.checkpoints TO ckweak" >/dev/null
run_check "$WORK/weak.conf"
expect_eq "granted: check exit" 0 "$rc"

# A table of that name with other columns: exit 2, naming what it lacks.
sql "CREATE TABLE public.other (stream text, shard int8)" >/dev/null
sed 's/pinemit\.checkpoints/public.other/' "$WORK/db.conf" >"$WORK/other.conf"
run_check "$WORK/other.conf"
expect_eq "other columns: check exit" 2 "$rc"
expect_match "other columns" "^state: FAILED: checkpoint table public.other is not a pinemit checkpoint table: it lacks shard integer, state jsonb, updated_at timestamp with time zone$" "$out"

# Unreachable database: the store line fails too, exit 1, no password.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed "s/host=[^ ]* port=[0-9]*/host=127.0.0.1 port=$port password=hunter2/" \
    "$WORK/db.conf" >"$WORK/away.conf"
grep -q "port=$port" "$WORK/away.conf" || fail "test setup: sed did not apply"
run_check "$WORK/away.conf"
expect_eq "unreachable: check exit" 1 "$rc"
expect_match "unreachable" "^state: FAILED: checkpoint table pinemit.checkpoints: cannot connect" "$out"
expect_no_match "no password" "hunter2" "$out"

# status with the database store reads the table init made.
out=$("$PINEMIT" -c "$WORK/db.conf" status --stream ev) || fail "status: $out"
expect_match "status, database store" '^ev +[^ ]+ +- +5 ' "$(echo "$out" | grep '^ev ')"
