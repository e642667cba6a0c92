#!/bin/sh
# pgtmp.sh - throwaway PostgreSQL cluster for pinemit tests.
#
#   tests/pgtmp.sh start DIR   initdb DIR/data (if needed), start the server on a
#                              free port on 127.0.0.1 with its socket in DIR,
#                              create database "pinemit", print env lines
#   tests/pgtmp.sh stop DIR    stop the server of DIR/data (no-op if not running)
#   tests/pgtmp.sh env DIR     print the env lines again
#
# Usage:  eval "$(tests/pgtmp.sh start "$tmp")"  ...  tests/pgtmp.sh stop "$tmp"
#
# Only the "export ..." line goes to stdout; everything else goes to stderr.
# When run as root the server runs as the "postgres" OS user.  The superuser
# role is always "postgres", authentication is trust (local socket and
# 127.0.0.1 only).  The cluster is unsafe by design (fsync=off).

set -eu

PGTMP_DB=pinemit
PGTMP_ROLE=postgres

die() { echo "pgtmp: $*" >&2; exit 1; }
msg() { echo "pgtmp: $*" >&2; }

usage() {
    echo "usage: $0 start|stop|env DIR" >&2
    exit 2
}

# Print $1 as a shell word (single-quoted only when needed).
shq() {
    case $1 in
        *[!A-Za-z0-9_./:+=-]*|'')
            printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
        *) printf '%s' "$1" ;;
    esac
}

find_bindir() {
    if command -v pg_config >/dev/null 2>&1; then
        b=$(pg_config --bindir 2>/dev/null || true)
        if [ -n "$b" ] && [ -x "$b/initdb" ] && [ -x "$b/pg_ctl" ]; then
            echo "$b"; return 0
        fi
    fi
    best=""; bestv=0
    for b in /usr/lib/postgresql/*/bin /usr/pgsql-*/bin; do
        [ -x "$b/initdb" ] || continue
        v=$(echo "$b" | sed -n 's|.*/postgresql/\([0-9][0-9]*\)/bin$|\1|p; s|.*/pgsql-\([0-9][0-9]*\)/bin$|\1|p')
        [ -n "$v" ] || v=0
        if [ "$v" -gt "$bestv" ] || [ -z "$best" ]; then best=$b; bestv=$v; fi
    done
    if [ -n "$best" ]; then echo "$best"; return 0; fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"; return 0
    fi
    die "cannot find PostgreSQL server binaries (initdb, pg_ctl)"
}

# Run a command as the cluster owner (postgres when we are root), with a cwd
# the owner can read.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        (cd "$DIR" && runuser -u postgres -- "$@")
    else
        (cd "$DIR" && "$@")
    fi
}

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        # 20000..59999, derived from pid and time; collisions are retried.
        echo $(( ( $$ * 7919 + $(date +%s) % 40000 ) % 40000 + 20000 ))
    fi
}

print_env() {
    [ -f "$DIR/port" ] || die "no cluster in $DIR (run start first)"
    port=$(cat "$DIR/port")
    echo "export PGHOST=$(shq "$DIR") PGPORT=$port PGUSER=$PGTMP_ROLE PGDATABASE=$PGTMP_DB"
}

is_running() {
    [ -f "$DATA/postmaster.pid" ] || return 1
    as_owner "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

write_conf() {
    # $1 = port; rewritten on every start attempt
    cat > "$DATA/pgtmp.conf" <<EOF
# written by tests/pgtmp.sh
listen_addresses = '127.0.0.1'
port = $1
unix_socket_directories = '$DIR'
max_connections = 50
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
EOF
    # The server's default TimeZone is initdb's choice; PGTMP_TIMEZONE overrides
    # it (e.g. to check that a client really sets TimeZone=UTC itself).
    if [ -n "${PGTMP_TIMEZONE:-}" ]; then
        echo "timezone = '$PGTMP_TIMEZONE'" >> "$DATA/pgtmp.conf"
    fi
    if [ "$(id -u)" = 0 ]; then chown postgres "$DATA/pgtmp.conf"; fi
}

do_start() {
    mkdir -p "$DIR/log"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' OS user"
        chown postgres "$DIR" "$DIR/log"
        [ ! -d "$DATA" ] || chown -R postgres "$DATA"
    fi
    chmod 755 "$DIR"
    owner=$(id -un); if [ "$(id -u)" = 0 ]; then owner=postgres; fi
    as_owner test -w "$DIR" ||
        die "$DIR is not writable by $owner (are its parents traversable?)"
    # unix socket paths are limited to ~107 bytes
    [ ${#DIR} -le 90 ] || die "DIR path too long for a unix socket: $DIR"

    if is_running; then
        msg "already running ($DATA)"
        print_env
        return 0
    fi

    if [ ! -f "$DATA/PG_VERSION" ]; then
        msg "initdb $DATA ($BIN)"
        as_owner "$BIN/initdb" -D "$DATA" -U "$PGTMP_ROLE" -E UTF8 --no-locale \
            --auth=trust --no-sync >"$DIR/log/initdb.log" 2>&1 ||
            { cat "$DIR/log/initdb.log" >&2; die "initdb failed"; }
        cat > "$DATA/pg_hba.conf" <<EOF
# written by tests/pgtmp.sh: trust, local socket and 127.0.0.1 only
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
local   replication  all                 trust
host    replication  all   127.0.0.1/32  trust
EOF
        echo "include = 'pgtmp.conf'" >> "$DATA/postgresql.conf"
        if [ "$(id -u)" = 0 ]; then chown postgres "$DATA/pg_hba.conf"; fi
    fi

    started=""
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        write_conf "$port"
        if as_owner "$BIN/pg_ctl" start -D "$DATA" -w -t 30 \
                -l "$DIR/log/postgres.log" >&2; then
            started=1; break
        fi
        msg "start attempt $attempt on port $port failed"
        tail -n 5 "$DIR/log/postgres.log" >&2 2>/dev/null || true
        # make sure a half-started server is gone before retrying
        as_owner "$BIN/pg_ctl" stop -D "$DATA" -m immediate -w -t 10 >/dev/null 2>&1 || true
    done
    [ -n "$started" ] || die "could not start PostgreSQL (see $DIR/log/postgres.log)"
    echo "$port" > "$DIR/port"

    psql="$BIN/psql"; [ -x "$psql" ] || psql=psql
    exists=$(PGCONNECT_TIMEOUT=10 "$psql" -X -A -t -h "$DIR" -p "$port" -U "$PGTMP_ROLE" -d postgres \
        -c "SELECT 1 FROM pg_database WHERE datname = '$PGTMP_DB'") ||
        die "cannot connect to the new server"
    if [ "$exists" != 1 ]; then
        PGCONNECT_TIMEOUT=10 "$psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$port" -U "$PGTMP_ROLE" -d postgres \
            -c "CREATE DATABASE $PGTMP_DB" >&2 || die "CREATE DATABASE failed"
    fi
    msg "running on port $port, socket dir $DIR, log $DIR/log/postgres.log"
    print_env
}

do_stop() {
    if [ ! -f "$DATA/PG_VERSION" ]; then
        msg "no cluster in $DATA, nothing to stop"
        return 0
    fi
    if ! is_running; then
        msg "not running ($DATA)"
        return 0
    fi
    if ! as_owner "$BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 30 >&2; then
        msg "fast shutdown timed out, using immediate"
        as_owner "$BIN/pg_ctl" stop -D "$DATA" -m immediate -w -t 30 >&2 || die "could not stop $DATA"
    fi
}

[ $# -eq 2 ] || usage
cmd=$1
[ -n "$2" ] || usage
if [ "$cmd" = start ]; then mkdir -p "$2"; fi
if [ ! -d "$2" ]; then
    [ "$cmd" = stop ] && { msg "no such directory: $2, nothing to stop"; exit 0; }
    die "no such directory: $2"
fi
DIR=$(cd "$2" && pwd -P)
DATA=$DIR/data

case $cmd in
    start) BIN=$(find_bindir); do_start ;;
    stop)  BIN=$(find_bindir); do_stop ;;
    env)   print_env ;;
    *)     usage ;;
esac
