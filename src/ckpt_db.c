/* SPDX-License-Identifier: MIT
 * ckpt_db.c - the database checkpoint store: one row per (stream, shard)
 * in state.table, on a connection of its own (autocommit).  Owns that
 * table and connection; must not parse or print the state (ckpt_format.c
 * does) nor touch the source's connections. */
#include "ckpt_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ckpt_backend.h"
#include "pg_conn.h"

struct db_store {
    PGconn *conn;
    char *qtable; /* "schema"."table" */
    char *table;  /* as configured, for messages */
};

static const struct pe_ckpt_ops db_ops;

static enum pe_status db_fail(struct db_store *s, const PGresult *r,
                              const char *what, struct pe_error *err);

static void db_close(void *impl)
{
    struct db_store *s = impl;

    if (s->conn != NULL)
        PQfinish(s->conn);
    free(s->qtable);
    free(s->table);
    free(s);
}

struct pe_ckpt_store *pe_ckpt_open_db(const char *conninfo, long timeout_s,
                                      const char *table, bool create,
                                      struct pe_error *err)
{
    struct db_store *s = pe_xcalloc(1, sizeof(*s));
    const char *params[1] = {NULL};
    char *schema = pe_xstrndup(table, strcspn(table, "."));
    char *qschema = pe_pg_quote_ident(schema);
    char *sql = NULL, *what;
    PGresult *r = NULL;

    s->table = pe_xstrdup(table);
    s->qtable = pe_pg_quote_qualified(table);
    what = pe_xasprintf("checkpoint table %s: cannot connect", table);
    s->conn = pe_pg_connect(conninfo, timeout_s, "pinemit-state", what, err);
    free(what);
    if (s->conn == NULL)
        goto fail;
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
    return pe_ckpt_store_new(&db_ops, s);
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
    (void)nshards; /* rows are keyed by shard whatever their number */
    return db_load(impl, stream, shard, text, len, err);
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
    (void)nshards;
    return db_save(impl, stream, shard, text, err);
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

static const struct pe_ckpt_ops db_ops = {
    .shared = true,
    .read = db_read,
    .where = db_where,
    .name = db_name,
    .write = db_write,
    .lock = db_lock,
    .close = db_close,
};
