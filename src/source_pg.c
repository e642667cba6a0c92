/* SPDX-License-Identifier: MIT
 * source_pg.c - the source object: its connection's lifecycle (connect,
 * session setup, reset, describe).  Tables and their columns are
 * pg_table.c's, pages and snapshots pg_pages.c's, ownership pg_own.c's;
 * connecting, errors and quoting are pg_conn.c's.  Must not know tables,
 * pages, checkpoints or sinks. */
#include "source_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pg_conn.h"
#include "source_pg_int.h"

/* Runs a command that returns no rows or rows we ignore. */
enum pe_status pe_src_exec(PGconn *c, const char *sql, const char *what,
                           struct pe_error *err)
{
    PGresult *r = PQexec(c, sql);
    enum pe_status st = PE_OK;

    if (PQresultStatus(r) != PGRES_COMMAND_OK &&
        PQresultStatus(r) != PGRES_TUPLES_OK)
        st = pe_pg_error(err, c, r, what);
    PQclear(r);
    return st;
}

/* Describes the connection, keeps the user's search_path schemas, then
 * pins every setting the encoder depends on. */
static enum pe_status setup_session(struct pe_source *s, struct pe_error *err)
{
    PGresult *r;

    snprintf(s->desc, sizeof(s->desc), "%s:%s/%s", PQhost(s->conn),
             PQport(s->conn), PQdb(s->conn));
    /* The schemas the user's search_path names, kept to resolve unqualified
     * table names; afterwards only pg_catalog is searched. */
    r = PQexec(s->conn, "SELECT pg_catalog.current_schemas(true)::text");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        pe_pg_error(err, s->conn, r, "cannot read search_path");
        PQclear(r);
        return PE_ERR_DB;
    }
    free(s->schemas);
    s->schemas = pe_xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return pe_src_exec(s->conn,
                   "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY';"
                   " SET IntervalStyle = 'postgres';"
                   " SET extra_float_digits = 1; SET bytea_output = 'hex';"
                   " SET search_path = pg_catalog, pg_temp",
                   "cannot set session parameters", err);
}

enum pe_status pe_source_reset(struct pe_source *s, struct pe_error *err)
{
    s->session++; /* the old session, and what it held, is gone */
    PQreset(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK)
        return pe_pg_error(err, s->conn, NULL, "cannot reconnect to the database");
    return setup_session(s, err);
}

struct pe_source *pe_source_open(const struct pe_source_opts *o,
                                 struct pe_error *err)
{
    char appname[128], host[64] = "?";
    struct pe_source *s;

    /* pinemit/<host>/<pid>: who owns what, in pg_stat_activity. */
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "?");
    host[sizeof(host) - 1] = '\0';
    snprintf(appname, sizeof(appname), "pinemit/%s/%ld", host,
             (long)getpid());
    s = pe_xcalloc(1, sizeof(*s));
    s->conn = pe_pg_connect(o->conninfo, o->connect_timeout_s, appname,
                            "cannot connect to the database", err);
    if (s->conn == NULL || setup_session(s, err) != PE_OK) {
        pe_source_free(s);
        return NULL;
    }
    return s;
}

void pe_source_free(struct pe_source *s)
{
    if (s == NULL)
        return;
    if (s->conn != NULL)
        PQfinish(s->conn);
    free(s->schemas);
    free(s);
}

unsigned pe_source_session(const struct pe_source *s)
{
    return s->session;
}

const char *pe_source_describe(struct pe_source *s)
{
    return s->desc;
}
