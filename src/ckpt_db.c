/* SPDX-License-Identifier: MIT
 * ckpt_db.c - the database checkpoint store: one row per (stream, shard)
 * in state.table, on a connection of its own (autocommit).  Owns that
 * table and connection; must not parse or print the state (ckpt_format.c
 * does) nor touch the source's connections.  Several threads use the one
 * connection (each unit's sender loads, each unit's background saver,
 * ckpt_saver.c, writes): a mutex makes them take turns, one statement
 * and its result at a time. */
#include "ckpt_db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ckpt_backend.h"
#include "pg_conn.h"

struct db_store {
    pthread_mutex_t mu; /* guards conn, from a statement to its result */
    PGconn *conn;
    char *qtable; /* "schema"."table" */
    char *table;  /* as configured, for messages */
};

static enum pe_status db_fail(struct db_store *s, const PGresult *r,
                              const char *what, struct pe_error *err);

static void db_close(void *impl)
{
    struct db_store *s = impl;

    if (s->conn != NULL)
        PQfinish(s->conn);
    pthread_mutex_destroy(&s->mu);
    free(s->qtable);
    free(s->table);
    free(s);
}

/* A store with its connection; NULL (freed) when it cannot connect. */
static struct db_store *db_new(const char *conninfo, long timeout_s,
                               const char *table, struct pe_error *err)
{
    struct db_store *s = pe_xcalloc(1, sizeof(*s));
    char *what;

    pthread_mutex_init(&s->mu, NULL);
    s->table = pe_xstrdup(table);
    s->qtable = pe_pg_quote_qualified(table);
    what = pe_xasprintf("checkpoint table %s: cannot connect", table);
    s->conn = pe_pg_connect(conninfo, timeout_s, "pinemit-state", what, err);
    free(what);
    if (s->conn == NULL) {
        db_close(s);
        return NULL;
    }
    return s;
}

struct pe_ckpt_store *pe_ckpt_open_db(const char *conninfo, long timeout_s,
                                      const char *table, bool create,
                                      struct pe_error *err)
{
    struct db_store *s = db_new(conninfo, timeout_s, table, err);
    const char *params[1] = {NULL};
    char *schema, *qschema, *sql = NULL;
    PGresult *r = NULL;

    if (s == NULL)
        return NULL;
    schema = pe_xstrndup(table, strcspn(table, "."));
    qschema = pe_pg_quote_ident(schema);
    /* Is it there?  Only create it (and its schema) when it is not, so a
     * role without CREATE can use a table made by someone else. */
    params[0] = s->qtable;
    r = PQexecParams(s->conn, "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
                     1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_fail(s, r, "cannot look it up", err);
        goto fail;
    }
    if (PQgetvalue(r, 0, 0)[0] != 't') {
        if (!create) {
            pe_error_set(err, PE_ERR_CONFIG, false,
                         "checkpoint table %s does not exist (pinemit init "
                         "or a first run creates it)",
                         table);
            goto fail;
        }
        PQclear(r);
        sql = pe_xasprintf(
            "CREATE SCHEMA IF NOT EXISTS %s;"
            " CREATE TABLE IF NOT EXISTS %s (stream text NOT NULL,"
            " shard int4 NOT NULL, state jsonb NOT NULL,"
            " updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),"
            " PRIMARY KEY (stream, shard))",
            qschema, s->qtable);
        r = PQexec(s->conn, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

            if (state != NULL && strcmp(state, "42501") == 0)
                pe_error_set(err, PE_ERR_CONFIG, false,
                             "checkpoint table %s does not exist and this "
                             "role may not create it: %s; run `pinemit init` "
                             "as a role that may, or GRANT CREATE",
                             table, PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
            else
                db_fail(s, r, "cannot create it", err);
            goto fail;
        }
    }
    PQclear(r);
    free(sql);
    free(schema);
    free(qschema);
    return pe_ckpt_store_new(&pe_ckpt_db_ops, s);
fail:
    PQclear(r);
    free(sql);
    free(schema);
    free(qschema);
    db_close(s);
    return NULL;
}

/* "checkpoint table T: <what>: <libpq message>", classified as the
 * source's errors are. */
static enum pe_status db_fail(struct db_store *s, const PGresult *r,
                              const char *what, struct pe_error *err)
{
    char *full = pe_xasprintf("checkpoint table %s: %s", s->table, what);
    enum pe_status st = pe_pg_error(err, s->conn, r, full);

    free(full);
    return st;
}

/* The store's connection broke (a database restart, say): one new try. */
static PGresult *db_exec(struct db_store *s, const char *sql, int n,
                         const char *const *params)
{
    PGresult *r = PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);

    if (PQstatus(s->conn) != CONNECTION_OK) {
        PQclear(r);
        PQreset(s->conn);
        r = PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);
    }
    return r;
}

/* The row's text into *text (caller frees); NULL when there is none. */
static enum pe_status db_load(struct db_store *s, const char *stream,
                              long shard, char **text, size_t *len,
                              struct pe_error *err)
{
    char *sql = pe_xasprintf("SELECT state::text FROM %s WHERE stream = $1"
                             " AND shard = $2::int4",
                             s->qtable);
    char shard_s[24];
    const char *params[2] = {stream, shard_s};
    PGresult *r;
    enum pe_status st = PE_OK;

    snprintf(shard_s, sizeof(shard_s), "%ld", shard);
    r = db_exec(s, sql, 2, params);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st = db_fail(s, r, "cannot read a checkpoint", err);
    } else if (PQntuples(r) == 1) {
        *len = (size_t)PQgetlength(r, 0, 0);
        *text = pe_xstrndup(PQgetvalue(r, 0, 0), *len);
    }
    PQclear(r);
    free(sql);
    return st;
}

/* One short transaction of its own (autocommit): durable when it returns. */
static enum pe_status db_save(struct db_store *s, const char *stream,
                              long shard, const char *text,
                              struct pe_error *err)
{
    char *sql = pe_xasprintf(
        "INSERT INTO %s (stream, shard, state, updated_at)"
        " VALUES ($1, $2::int4, $3::jsonb, pg_catalog.now())"
        " ON CONFLICT (stream, shard) DO UPDATE"
        " SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at",
        s->qtable);
    char shard_s[24];
    const char *params[3] = {stream, shard_s, text};
    PGresult *r;
    enum pe_status st = PE_OK;

    snprintf(shard_s, sizeof(shard_s), "%ld", shard);
    r = db_exec(s, sql, 3, params);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        st = db_fail(s, r, "cannot save a checkpoint", err);
    PQclear(r);
    free(sql);
    return st;
}

static enum pe_status db_read(void *impl, const char *stream, long shard,
                              long nshards, char **text, size_t *len,
                              struct pe_error *err)
{
    struct db_store *s = impl;
    enum pe_status st;

    (void)nshards; /* rows are keyed by shard whatever their number */
    pthread_mutex_lock(&s->mu);
    st = db_load(s, stream, shard, text, len, err);
    pthread_mutex_unlock(&s->mu);
    return st;
}

static char *db_where(const void *impl, const char *stream, long shard,
                      long nshards)
{
    (void)nshards;
    return pe_xasprintf("%s (stream %s, shard %ld)",
                        ((const struct db_store *)impl)->table, stream, shard);
}

static const char *db_name(const void *impl)
{
    return ((const struct db_store *)impl)->table;
}

static enum pe_status db_write(void *impl, const char *stream, long shard,
                               long nshards, const char *text,
                               struct pe_error *err)
{
    struct db_store *s = impl;
    enum pe_status st;

    (void)nshards;
    pthread_mutex_lock(&s->mu);
    st = db_save(s, stream, shard, text, err);
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* Instances coordinate by the source's advisory locks, per stream and
 * shard: the store itself has no run lock. */
static enum pe_status db_lock(void *impl, long wait_ms,
                              const volatile sig_atomic_t *stop,
                              struct pe_error *err)
{
    (void)impl;
    (void)wait_ms;
    (void)stop;
    (void)err;
    return PE_OK;
}

/* For check: what a run would find, looked up by name ($1 schema, $2
 * table) so that a schema without USAGE is an answer, not an error.  One
 * row: the table exists, its schema exists, this role may create the
 * table (in the schema, or the schema in the database), may read and
 * write it, and which of the columns the store writes it lacks (NULL:
 * none, or no table). */
static const char probe_sql[] =
    "SELECT c.oid IS NOT NULL, n.oid IS NOT NULL,"
    " CASE WHEN n.oid IS NULL THEN pg_catalog.has_database_privilege("
    "  pg_catalog.current_database(), 'CREATE')"
    "  ELSE pg_catalog.has_schema_privilege(n.oid, 'USAGE')"
    "  AND pg_catalog.has_schema_privilege(n.oid, 'CREATE') END,"
    " c.oid IS NULL OR (pg_catalog.has_schema_privilege(n.oid, 'USAGE')"
    "  AND pg_catalog.has_table_privilege(c.oid, 'SELECT')"
    "  AND pg_catalog.has_table_privilege(c.oid, 'INSERT')"
    "  AND pg_catalog.has_table_privilege(c.oid, 'UPDATE')),"
    " (SELECT pg_catalog.string_agg(w.col || ' ' || w.typ, ', '"
    "   ORDER BY w.ord) FROM (VALUES (1, 'stream', 'text'),"
    "   (2, 'shard', 'integer'), (3, 'state', 'jsonb'),"
    "   (4, 'updated_at', 'timestamp with time zone')) AS w(ord, col, typ)"
    "  WHERE c.oid IS NOT NULL AND NOT EXISTS (SELECT 1"
    "   FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid"
    "   AND a.attname = w.col AND a.attnum > 0 AND NOT a.attisdropped"
    "   AND pg_catalog.format_type(a.atttypid, NULL) = w.typ))"
    " FROM (SELECT 1) one"
    " LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = $1"
    " LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid"
    "  AND c.relname = $2 AND c.relkind IN ('r', 'p')";

/* The probe's row as a verdict; see pe_ckpt_ops.probe. */
static enum pe_status probe_verdict(const struct db_store *s,
                                    const PGresult *r, const char *schema,
                                    bool *exists, struct pe_error *err)
{
    bool have_schema = PQgetvalue(r, 0, 1)[0] == 't';

    *exists = PQgetvalue(r, 0, 0)[0] == 't';
    if (!*exists && PQgetvalue(r, 0, 2)[0] != 't' && have_schema)
        return pe_error_set(err, PE_ERR_CONFIG, false,
                            "checkpoint table %s does not exist and this "
                            "role may not create it in schema %s; run "
                            "`pinemit init` as a role that may, or GRANT "
                            "CREATE ON SCHEMA",
                            s->table, schema);
    if (!*exists && PQgetvalue(r, 0, 2)[0] != 't')
        return pe_error_set(err, PE_ERR_CONFIG, false,
                            "checkpoint table %s does not exist, nor its "
                            "schema %s, and this role may not create them; "
                            "run `pinemit init` as a role that may, or GRANT "
                            "CREATE ON DATABASE",
                            s->table, schema);
    if (*exists && !PQgetisnull(r, 0, 4))
        return pe_error_set(err, PE_ERR_CONFIG, false,
                            "checkpoint table %s is not a pinemit checkpoint "
                            "table: it lacks %s",
                            s->table, PQgetvalue(r, 0, 4));
    if (*exists && PQgetvalue(r, 0, 3)[0] != 't')
        return pe_error_set(err, PE_ERR_CONFIG, false,
                            "checkpoint table %s: this role may not read and "
                            "write it; GRANT SELECT, INSERT, UPDATE on it",
                            s->table);
    return PE_OK;
}

/* Connects and looks, creating nothing. */
static enum pe_status db_probe(const struct pe_ckpt_opts *o, bool *exists,
                               char *what, size_t len, struct pe_error *err)
{
    struct db_store *s;
    char *schema = pe_xstrndup(o->table, strcspn(o->table, "."));
    const char *params[2];
    PGresult *r;
    enum pe_status st;

    snprintf(what, len, "%s", o->table);
    *exists = false;
    s = db_new(o->conninfo, o->timeout_s, o->table, err);
    if (s == NULL) {
        free(schema);
        return err != NULL ? err->status : PE_ERR_DB;
    }
    params[0] = schema;
    params[1] = o->table + strlen(schema) + 1; /* config: one dot */
    r = PQexecParams(s->conn, probe_sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        st = db_fail(s, r, "cannot look it up", err);
    else
        st = probe_verdict(s, r, schema, exists, err);
    PQclear(r);
    free(schema);
    db_close(s);
    return st;
}

static struct pe_ckpt_store *db_open(const struct pe_ckpt_opts *o,
                                     bool create, struct pe_error *err)
{
    return pe_ckpt_open_db(o->conninfo, o->timeout_s, o->table, create, err);
}

const struct pe_ckpt_ops pe_ckpt_db_ops = {
    .open = db_open,
    .probe = db_probe,
    .missing_is_empty = false, /* status says the table is missing */
    .shared = true,
    .read = db_read,
    .where = db_where,
    .name = db_name,
    .write = db_write,
    .lock = db_lock,
    .close = db_close,
};
