/* SPDX-License-Identifier: MIT
 * pg_own.c - ownership of (stream, shard) units between instances through
 * session-level advisory locks on a source connection, and who holds
 * them.  Each call runs on the connection it is given, in the caller's
 * thread (pool.c: the sender's own connection, see pool.h).  Must not
 * know tables, pages or checkpoints. */
#include "source_pg.h"

#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "pg_conn.h"
#include "source_pg_int.h"

/* Ownership of (stream, shard) between instances: a session-level advisory
 * lock on (hashtext('pinemit:' || stream), shard), released when the
 * session ends, whatever ends it.  Advisory locks stack within a session,
 * so one this session holds already is not taken again (CASE evaluates
 * the volatile pg_try_advisory_lock only when it is not). */
enum pe_status pe_source_try_own(struct pe_source *s, const char *stream,
                                 long shard, bool *got, struct pe_error *err)
{
    char shard_s[24];
    const char *params[2] = {stream, shard_s};
    PGresult *r;
    enum pe_status st = PE_OK;

    snprintf(shard_s, sizeof(shard_s), "%ld", shard);
    r = PQexecParams(s->conn,
                     "SELECT CASE WHEN EXISTS (SELECT 1"
                     " FROM pg_catalog.pg_locks l"
                     " WHERE l.locktype = 'advisory' AND l.granted"
                     " AND l.pid = pg_catalog.pg_backend_pid()"
                     " AND l.classid = pg_catalog.hashtext('pinemit:' ||"
                     " $1)::oid AND l.objid = $2::int4::oid"
                     " AND l.objsubid = 2) THEN true"
                     " ELSE pg_catalog.pg_try_advisory_lock("
                     "pg_catalog.hashtext('pinemit:' || $1), $2::int4) END",
                     2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        st = pe_pg_error(err, s->conn, r, "cannot take an advisory lock");
    else
        *got = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return st;
}

void pe_source_disown(struct pe_source *s, const char *stream, long shard)
{
    char shard_s[24];
    const char *params[2] = {stream, shard_s};

    snprintf(shard_s, sizeof(shard_s), "%ld", shard);
    PQclear(PQexecParams(s->conn,
                         "SELECT pg_catalog.pg_advisory_unlock("
                         "pg_catalog.hashtext('pinemit:' || $1), $2::int4)",
                         2, NULL, params, NULL, NULL, 0));
}

enum pe_status pe_source_owner(struct pe_source *s, const char *stream,
                               long shard, char *owner, size_t len,
                               struct pe_error *err)
{
    char shard_s[24];
    const char *params[2] = {stream, shard_s};
    PGresult *r;
    enum pe_status st = PE_OK;

    snprintf(shard_s, sizeof(shard_s), "%ld", shard);
    r = PQexecParams(
        s->conn,
        "SELECT a.application_name || ' (backend ' || a.pid || ')'"
        " FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a"
        " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
        " AND l.database = (SELECT oid FROM pg_catalog.pg_database"
        "  WHERE datname = pg_catalog.current_database())"
        " AND l.classid = pg_catalog.hashtext('pinemit:' || $1)::oid"
        " AND l.objid = $2::int4::oid AND l.objsubid = 2 LIMIT 1",
        2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        st = pe_pg_error(err, s->conn, r, "cannot look up owners");
    else
        snprintf(owner, len, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "-");
    PQclear(r);
    return st;
}

enum pe_status pe_source_instances(struct pe_source *s, long *n,
                                   struct pe_error *err)
{
    PGresult *r = PQexec(
        s->conn, "SELECT count(DISTINCT application_name)"
                 " FROM pg_catalog.pg_stat_activity"
                 " WHERE application_name LIKE 'pinemit/%'"
                 " AND datname = pg_catalog.current_database()");
    enum pe_status st = PE_OK;

    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        st = pe_pg_error(err, s->conn, r, "cannot count instances");
    else
        *n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return st;
}
