/* SPDX-License-Identifier: MIT
 * source_pg.c - the source: session setup, type mapping, keyset pages,
 * ownership.  Connecting, errors and quoting are pg_conn.c's. */
#include "source_pg.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pg_conn.h"

/* Built-in type OIDs (pg_type.dat); stable across releases. */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_JSON = 114,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_DATE = 1082,
    OID_TIMESTAMP = 1114,
    OID_TIMESTAMPTZ = 1184,
    OID_NUMERIC = 1700,
    OID_JSONB = 3802,
    FIRST_NORMAL_OID = 16384
};

struct pe_source {
    PGconn *conn;
    char *schemas; /* current_schemas(true) at connect, as array text */
    char desc[256];
    unsigned stmt_seq;
};

struct pe_table {
    struct pe_source *src;
    char *qname;     /* "schema"."table" */
    char *page_first; /* prepared statement names */
    char *page_after;
    char *count_all;
    char *count_after;
    char *late_first; /* tracked tables: late rows, no lower bound */
    char *late_after; /* and with one */
    struct pe_column *cols;
    size_t n_cols;
    size_t key_col;
    const char **values;
    bool tracked;
    unsigned key_type; /* the key column's type OID */
    char *key_type_name; /* as format_type prints it: "integer" */
    bool inflight;     /* a page was sent and not received yet */
    char *range_sql;   /* replay: keys in [from, to] after a cursor */
    char *range_count;
};

/* Runs a command that returns no rows or rows we ignore. */
static enum pe_status exec_ok(PGconn *c, const char *sql, const char *what,
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
    return exec_ok(s->conn,
                   "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY';"
                   " SET IntervalStyle = 'postgres';"
                   " SET extra_float_digits = 1; SET bytea_output = 'hex';"
                   " SET search_path = pg_catalog, pg_temp",
                   "cannot set session parameters", err);
}

enum pe_status pe_source_reset(struct pe_source *s, struct pe_error *err)
{
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

const char *pe_source_describe(struct pe_source *s)
{
    return s->desc;
}

/* Maps a type to its JSON kind as to_json does: domains by their base type,
 * arrays by their element.  PE_ERR_CONFIG for types to_json would render as
 * objects (composites, types with a cast to json). */
static enum pe_status type_kind(struct pe_source *s, unsigned oid, int depth,
                                enum pe_jkind *kind, enum pe_jkind *elem,
                                char *delim, struct pe_error *err)
{
    static const char sql[] =
        "SELECT t.typtype, t.typbasetype, t.typelem, t.typcategory,"
        " t.typdelim, t.typname::text, EXISTS (SELECT 1 FROM pg_catalog.pg_cast"
        " WHERE castsource = t.oid AND casttarget IN (114, 3802)),"
        " t.typinput = 'pg_catalog.array_in'::pg_catalog.regproc"
        " FROM pg_catalog.pg_type t WHERE t.oid = $1::pg_catalog.oid";
    char oidtxt[16];
    const char *params[1] = {oidtxt};
    PGresult *r;
    enum pe_status st = PE_OK;
    char typtype, category;
    unsigned base, elemoid;

    switch (oid) {
    case OID_BOOL:
        *kind = PE_J_BOOL;
        return PE_OK;
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC:
        *kind = PE_J_NUMBER;
        return PE_OK;
    case OID_JSON:
    case OID_JSONB:
        *kind = PE_J_JSON;
        return PE_OK;
    case OID_TIMESTAMP:
        *kind = PE_J_TIMESTAMP;
        return PE_OK;
    case OID_TIMESTAMPTZ:
        *kind = PE_J_TIMESTAMPTZ;
        return PE_OK;
    case OID_DATE:
        *kind = PE_J_STRING; /* ISO text is what to_json prints */
        return PE_OK;
    default:
        break;
    }
    if (depth > 8)
        return pe_error_set(err, PE_ERR_CONFIG, false,
                            "type %u: domains nested too deeply", oid);
    snprintf(oidtxt, sizeof(oidtxt), "%u", oid);
    r = PQexecParams(s->conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        st = pe_pg_error(err, s->conn, r, "cannot look up a column type");
        goto out;
    }
    typtype = PQgetvalue(r, 0, 0)[0];
    base = (unsigned)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
    elemoid = (unsigned)strtoul(PQgetvalue(r, 0, 2), NULL, 10);
    category = PQgetvalue(r, 0, 3)[0];
    if (typtype == 'd') {
        st = type_kind(s, base, depth + 1, kind, elem, delim, err);
    } else if (category == 'A' && PQgetvalue(r, 0, 7)[0] != 't') {
        /* int2vector, oidvector: arrays inside, but their text is "1 2 3",
         * not array syntax the encoder could read. */
        st = pe_error_set(err, PE_ERR_CONFIG, false,
                          "type %s prints without array syntax, which "
                          "pinemit cannot encode; cast it to an array in a "
                          "view",
                          PQgetvalue(r, 0, 5));
    } else if (category == 'A' && elemoid != 0 && elem != NULL) {
        enum pe_jkind ek = PE_J_STRING;

        st = type_kind(s, elemoid, depth + 1, &ek, NULL, NULL, err);
        if (st == PE_OK) {
            PGresult *d;

            snprintf(oidtxt, sizeof(oidtxt), "%u", elemoid);
            d = PQexecParams(s->conn, sql, 1, NULL, params, NULL, NULL, 0);
            *delim = (PQresultStatus(d) == PGRES_TUPLES_OK && PQntuples(d) == 1)
                         ? PQgetvalue(d, 0, 4)[0]
                         : ',';
            PQclear(d);
            *kind = PE_J_ARRAY;
            *elem = ek;
        }
    } else if (typtype == 'c' || (category == 'A' && elemoid != 0)) {
        st = pe_error_set(err, PE_ERR_CONFIG, false,
                          "type %s is a composite or nested array, which "
                          "pinemit cannot encode yet",
                          PQgetvalue(r, 0, 5));
    } else if (oid >= FIRST_NORMAL_OID && PQgetvalue(r, 0, 6)[0] == 't') {
        st = pe_error_set(err, PE_ERR_CONFIG, false,
                          "type %s has a cast to json, which pinemit does "
                          "not apply",
                          PQgetvalue(r, 0, 5));
    } else {
        *kind = PE_J_STRING;
    }
out:
    PQclear(r);
    return st;
}

/* Finds the relation: "schema.name" directly, "name" in the schemas of the
 * user's search_path, in order.  Sets t->qname. */
static enum pe_status resolve_table(struct pe_table *t, const char *table,
                                    char **oid_out, struct pe_error *err)
{
    static const char sql[] =
        "SELECT c.oid::text, n.nspname::text, c.relname::text,"
        " c.relkind::text"
        " FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY"
        "  AS s(nsp, ord)"
        " JOIN pg_catalog.pg_namespace n ON n.nspname = s.nsp"
        " JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid"
        " WHERE c.relname = $2 AND c.relkind IN ('r','p','v','m','f')"
        " ORDER BY s.ord LIMIT 1";
    const char *dot = strchr(table, '.');
    char *schema_arr = NULL;
    char *name = NULL;
    const char *params[2];
    PGresult *r = NULL;
    enum pe_status st = PE_OK;

    if (dot != NULL) {
        /* An array literal of one element, {"schema"}, with '"' and '\\'
         * backslash-escaped as array syntax wants. */
        char *schema = pe_xstrndup(table, (size_t)(dot - table));
        struct pe_buf b;

        pe_buf_init(&b, 0);
        pe_buf_puts(&b, "{\"");
        for (const char *p = schema; *p; p++) {
            if (*p == '"' || *p == '\\')
                pe_buf_append(&b, "\\", 1);
            pe_buf_append(&b, p, 1);
        }
        pe_buf_puts(&b, "\"}");
        schema_arr = b.data;
        free(schema);
        name = pe_xstrdup(dot + 1);
    } else {
        schema_arr = pe_xstrdup(t->src->schemas);
        name = pe_xstrdup(table);
    }
    params[0] = schema_arr;
    params[1] = name;
    r = PQexecParams(t->src->conn, sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st = pe_pg_error(err, t->src->conn, r, "cannot look up the table");
        goto out;
    }
    if (PQntuples(r) != 1) {
        st = pe_error_set(err, PE_ERR_CONFIG, false,
                          "table \"%s\" does not exist%s", table,
                          dot ? "" : " in the search_path");
        goto out;
    }
    {
        char *qs = pe_pg_quote_ident(PQgetvalue(r, 0, 1));
        char *qt = pe_pg_quote_ident(PQgetvalue(r, 0, 2));

        t->qname = pe_xasprintf("%s.%s", qs, qt);
        free(qs);
        free(qt);
    }
    *oid_out = pe_xstrdup(PQgetvalue(r, 0, 0));
    /* Views and foreign tables have no xmin to track transactions by. */
    if (t->tracked && strchr("rpm", PQgetvalue(r, 0, 3)[0]) == NULL)
        st = pe_error_set(err, PE_ERR_CONFIG, false,
                          "\"%s\" is a view or foreign table: it has no xmin "
                          "to track transactions by; set ordered_writer = "
                          "true for it",
                          table);
out:
    PQclear(r);
    free(schema_arr);
    free(name);
    return st;
}

static enum pe_status prepare(struct pe_table *t, char **name, const char *sql,
                              int nparams, struct pe_error *err)
{
    PGresult *r;
    enum pe_status st = PE_OK;

    *name = pe_xasprintf("pinemit_%u", ++t->src->stmt_seq);
    r = PQprepare(t->src->conn, *name, sql, nparams, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        st = pe_pg_error(err, t->src->conn, r, "cannot prepare a query");
    PQclear(r);
    return st;
}

static enum pe_status load_columns(struct pe_table *t, const char *reloid,
                                   const char *key, struct pe_buf *select,
                                   struct pe_error *err)
{
    static const char sql[] =
        "SELECT a.attname::text, a.atttypid::text,"
        " pg_catalog.format_type(a.atttypid, a.atttypmod)"
        " FROM pg_catalog.pg_attribute a"
        " WHERE a.attrelid = $1::pg_catalog.oid AND a.attnum > 0"
        " AND NOT a.attisdropped ORDER BY a.attnum";
    const char *params[1] = {reloid};
    PGresult *r = PQexecParams(t->src->conn, sql, 1, NULL, params, NULL, NULL, 0);
    enum pe_status st = PE_OK;
    size_t n;
    bool have_key = false;

    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st = pe_pg_error(err, t->src->conn, r, "cannot read the columns");
        goto out;
    }
    n = (size_t)PQntuples(r);
    t->cols = pe_xcalloc(n, sizeof(*t->cols));
    for (size_t i = 0; i < n; i++) {
        struct pe_column *c = &t->cols[i];
        char *q;

        t->n_cols = i + 1;
        c->name = pe_xstrdup(PQgetvalue(r, (int)i, 0));
        c->delim = ',';
        st = type_kind(t->src, (unsigned)strtoul(PQgetvalue(r, (int)i, 1),
                                                  NULL, 10),
                       0, &c->kind, &c->elem, &c->delim, err);
        if (st != PE_OK) {
            pe_error_prefix(err, "column \"%s\"", c->name);
            goto out;
        }
        if (strcmp(c->name, key) == 0) {
            t->key_col = i;
            t->key_type = (unsigned)strtoul(PQgetvalue(r, (int)i, 1), NULL, 10);
            t->key_type_name = pe_xstrdup(PQgetvalue(r, (int)i, 2));
            have_key = true;
        }
        q = pe_pg_quote_ident(c->name);
        pe_buf_printf(select, "%s%s", i ? ", " : "", q);
        free(q);
    }
    if (!have_key)
        st = pe_error_set(err, PE_ERR_CONFIG, false,
                          "key column \"%s\" does not exist", key);
out:
    PQclear(r);
    return st;
}

/* Keyset pages read "key > last", so a key that two rows share loses the
 * rows of that value that fall on the next page.  The key must be proven
 * unique by a valid, non-partial unique index on exactly that column
 * (primary keys and unique constraints have one; a partitioned table's
 * own index covers its partitions), or vouched for by the user
 * (unique_key), the only way for a view or a foreign table. */
static enum pe_status key_unique(struct pe_table *t, const char *reloid,
                                 const char *table, const char *key,
                                 bool vouched, struct pe_error *err)
{
    static const char sql[] =
        "SELECT c.relkind::text, EXISTS (SELECT 1 FROM pg_catalog.pg_index i"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid"
        "  AND a.attnum = i.indkey[0]"
        " WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid"
        "  AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = 1"
        "  AND a.attname = $2)"
        " FROM pg_catalog.pg_class c WHERE c.oid = $1::pg_catalog.oid";
    const char *params[2] = {reloid, key};
    PGresult *r;
    enum pe_status st = PE_OK;

    if (vouched)
        return PE_OK;
    r = PQexecParams(t->src->conn, sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        st = pe_pg_error(err, t->src->conn, r, "cannot look up the key's indexes");
    else if (strchr("vf", PQgetvalue(r, 0, 0)[0]) != NULL)
        st = pe_error_set(err, PE_ERR_CONFIG, false,
                          "\"%s\" is a %s: no index can show that key \"%s\" "
                          "is unique, and rows that share a key value would "
                          "be skipped; set unique_key = true for the stream "
                          "if it is unique",
                          table,
                          PQgetvalue(r, 0, 0)[0] == 'v' ? "view"
                                                         : "foreign table",
                          key);
    else if (PQgetvalue(r, 0, 1)[0] != 't') {
        char *qkey = pe_pg_quote_ident(key);

        st = pe_error_set(err, PE_ERR_CONFIG, false,
                          "key \"%s\" is not unique: no primary key, unique "
                          "constraint or unique index covers exactly that "
                          "column, and rows that share a key value would be "
                          "skipped; add one (CREATE UNIQUE INDEX ON %s "
                          "(%s)), or choose a unique key column (composite "
                          "keys are not supported yet)",
                          key, t->qname, qkey);
        free(qkey);
    }
    PQclear(r);
    return st;
}

/* xmin widened to an xid8 with the epoch of the snapshot's xmax ($E is
 * that epoch << 32, $X the xmax): rows in the late range are younger than
 * 2^31 transactions, so one epoch back at most. */
#define WIDE_XMIN(E, X)                                                       \
    "(" E "::int8 + xmin::text::int8 - CASE WHEN " E "::int8 + "              \
    "xmin::text::int8 > " X "::int8 THEN 4294967296 ELSE 0 END)"

/* require_unique: refuse a key not proven unique (see key_unique). */
static struct pe_table *open_table(struct pe_source *s, const char *table,
                                   const char *key, bool tracked, long shard,
                                   long nshards, bool require_unique,
                                   bool vouched, struct pe_error *err)
{
    struct pe_table *t = pe_xcalloc(1, sizeof(*t));
    struct pe_buf cols;
    char *reloid = NULL;
    char *qkey = pe_pg_quote_ident(key);
    char *sql[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    char *pred = NULL;
    enum pe_status st;

    t->src = s;
    t->tracked = tracked;
    pe_buf_init(&cols, 0);
    if ((st = resolve_table(t, table, &reloid, err)) != PE_OK ||
        (st = load_columns(t, reloid, key, &cols, err)) != PE_OK ||
        (require_unique &&
         (st = key_unique(t, reloid, table, key, vouched, err)) != PE_OK))
        goto out;
    if (tracked)
        pe_buf_puts(&cols, ", xmin::text");
    /* Shard s of n: a hash of the key's text, the same on every instance
     * (documented); a filter on the key's index range scan. */
    pred = nshards > 1
               ? pe_xasprintf("(pg_catalog.hashtextextended(%s::text, 0)"
                              " & 9223372036854775807) %% %ld = %ld AND ",
                              qkey, nshards, shard)
               : pe_xstrdup("");
    t->values = pe_xcalloc(t->n_cols, sizeof(*t->values));
    /* Keyset pages: each one an index range scan on the key. */
    sql[0] = pe_xasprintf("SELECT %s FROM %s WHERE %s%s IS NOT NULL"
                          " ORDER BY %s LIMIT $1",
                          cols.data, t->qname, pred, qkey, qkey);
    sql[1] = pe_xasprintf("SELECT %s FROM %s WHERE %s%s > $1 ORDER BY %s"
                          " LIMIT $2",
                          cols.data, t->qname, pred, qkey, qkey);
    sql[2] = pe_xasprintf("SELECT count(*) FROM %s WHERE %s%s IS NOT NULL",
                          t->qname, pred, qkey);
    sql[3] = pe_xasprintf("SELECT count(*) FROM %s WHERE %s%s > $1", t->qname, pred,
                          qkey);
    /* Replays bind every bound with the key's own type, so NULL means "no
     * bound" and the planner still sees an index range per call. */
    t->range_sql = pe_xasprintf(
        "SELECT %s FROM %s WHERE %s($1::text IS NULL OR %s >= $4)"
        " AND ($2::text IS NULL OR %s <= $5) AND ($3::text IS NULL OR %s > $6)"
        " ORDER BY %s LIMIT $7",
        cols.data, t->qname, pred, qkey, qkey, qkey, qkey);
    t->range_count = pe_xasprintf(
        "SELECT count(*) FROM %s WHERE %s($1::text IS NULL OR %s >= $3)"
        " AND ($2::text IS NULL OR %s <= $4)",
        t->qname, pred, qkey, qkey);
    if ((st = prepare(t, &t->page_first, sql[0], 1, err)) != PE_OK ||
        (st = prepare(t, &t->page_after, sql[1], 2, err)) != PE_OK ||
        (st = prepare(t, &t->count_all, sql[2], 0, err)) != PE_OK ||
        (st = prepare(t, &t->count_after, sql[3], 1, err)) != PE_OK)
        goto out;
    if (tracked) {
        /* Late rows: a key range below the checkpoint, filtered by the
         * inserting transaction; still an index range scan on the key. */
        /* $7/$8 (after: $8/$9): rows up to a key from transactions already
         * sent by an interrupted late scan. */
        sql[4] = pe_xasprintf(
            "SELECT %s FROM %s WHERE %s%s <= $1 AND " WIDE_XMIN("$3", "$4")
            " >= $2 AND " WIDE_XMIN("$3", "$4") " <> ALL($5::int8[])"
            " AND NOT (%s <= $7 AND " WIDE_XMIN("$3", "$4")
            " = ANY($8::int8[])) ORDER BY %s LIMIT $6",
            cols.data, t->qname, pred, qkey, qkey, qkey);
        sql[5] = pe_xasprintf(
            "SELECT %s FROM %s WHERE %s%s > $9 AND %s <= $1 AND "
            WIDE_XMIN("$3", "$4") " >= $2 AND " WIDE_XMIN("$3", "$4")
            " <> ALL($5::int8[]) AND NOT (%s <= $7 AND "
            WIDE_XMIN("$3", "$4") " = ANY($8::int8[])) ORDER BY %s LIMIT $6",
            cols.data, t->qname, pred, qkey, qkey, qkey, qkey);
        if ((st = prepare(t, &t->late_first, sql[4], 8, err)) != PE_OK ||
            (st = prepare(t, &t->late_after, sql[5], 9, err)) != PE_OK)
            goto out;
    }
out:
    for (size_t i = 0; i < 6; i++)
        free(sql[i]);
    free(qkey);
    free(pred);
    free(reloid);
    pe_buf_cleanup(&cols);
    if (st != PE_OK) {
        pe_error_prefix(err, "table %s", table);
        pe_table_free(t);
        return NULL;
    }
    return t;
}

struct pe_table *pe_table_open(struct pe_source *s, const char *table,
                               const char *key, struct pe_error *err)
{
    return open_table(s, table, key, false, 0, 1, false, false, err);
}

struct pe_table *pe_table_open_shard(struct pe_source *s, const char *table,
                                     const char *key, bool tracked, long shard,
                                     long nshards, struct pe_error *err)
{
    return open_table(s, table, key, tracked, shard, nshards, false, false,
                      err);
}

struct pe_table *pe_table_open_stream(struct pe_source *s,
                                      const struct pe_table_spec *spec,
                                      struct pe_error *err)
{
    return open_table(s, spec->table, spec->key, spec->tracked, spec->shard,
                      spec->nshards, true, spec->unique_key, err);
}

const char *pe_table_key_type(const struct pe_table *t)
{
    return t->key_type_name;
}

/* A bound of the key's type that does not read as one: SQLSTATE class 22
 * (data exception), or 23 (a domain's check). */
static bool bad_value(const PGresult *r)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

    return state != NULL &&
           (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0);
}

enum pe_status pe_table_key_compare(struct pe_table *t, const char *a,
                                    const char *b, int *cmp,
                                    struct pe_error *err)
{
    const char *params[2] = {a, b ? b : a};
    Oid types[2] = {t->key_type, t->key_type};
    PGresult *r;
    enum pe_status st = PE_OK;

    r = PQexecParams(t->src->conn,
                     "SELECT CASE WHEN $1 < $2 THEN -1 WHEN $1 > $2 THEN 1"
                     " ELSE 0 END",
                     2, types, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        *cmp = atoi(PQgetvalue(r, 0, 0));
    } else if (bad_value(r)) {
        const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

        st = pe_error_set(err, PE_ERR_DATA, false, "%s", m ? m : "invalid");
    } else {
        st = pe_pg_error(err, t->src->conn, r, "cannot compare keys");
    }
    PQclear(r);
    return st;
}

void pe_table_free(struct pe_table *t)
{
    if (t == NULL)
        return;
    pe_table_drain(t);
    for (size_t i = 0; i < t->n_cols; i++)
        free((char *)t->cols[i].name);
    free(t->cols);
    free(t->values);
    free(t->qname);
    free(t->key_type_name);
    free(t->page_first);
    free(t->page_after);
    free(t->count_all);
    free(t->count_after);
    free(t->late_first);
    free(t->late_after);
    free(t->range_sql);
    free(t->range_count);
    free(t);
}

long pe_table_column(const struct pe_table *t, const char *name)
{
    for (size_t i = 0; i < t->n_cols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return (long)i;
    return -1;
}

const char *pe_table_name(const struct pe_table *t)
{
    return t->qname;
}

/* Pages are sent and received apart, so the next page can be on its way
 * while the current one is encoded and posted.  libpq builds the whole
 * message in the send call, so params may go right after it. */
static enum pe_status sent(struct pe_table *t, int ok, struct pe_error *err)
{
    if (!ok) {
        enum pe_status st =
            pe_pg_error(err, t->src->conn, NULL, "cannot read rows");

        pe_error_prefix(err, "%s", t->qname);
        return st;
    }
    t->inflight = true;
    return PE_OK;
}

static enum pe_status send_prepared(struct pe_table *t, const char *stmt,
                                    int nparams, const char *const *params,
                                    struct pe_error *err)
{
    return sent(t,
                PQsendQueryPrepared(t->src->conn, stmt, nparams, params, NULL,
                                    NULL, 0),
                err);
}

enum pe_status pe_table_recv(struct pe_table *t, const struct pe_snapshot *snap,
                             struct pe_rows *rows, struct pe_error *err)
{
    PGresult *r, *extra;

    pe_rows_cleanup(rows);
    if (!t->inflight)
        return pe_error_set(err, PE_ERR_DB, false, "%s: no page requested",
                            t->qname);
    r = PQgetResult(t->src->conn);
    while ((extra = PQgetResult(t->src->conn)) != NULL)
        PQclear(extra);
    t->inflight = false;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        enum pe_status st = pe_pg_error(err, t->src->conn, r, "cannot read rows");

        pe_error_prefix(err, "%s", t->qname);
        PQclear(r);
        return st;
    }
    rows->res = r;
    rows->n_rows = (size_t)PQntuples(r);
    rows->n_cols = t->n_cols;
    rows->cols = t->cols;
    rows->values = t->values;
    rows->key_col = t->key_col;
    rows->has_xmin = t->tracked;
    rows->epoch_base = snap ? (int64_t)((uint64_t)snap->xmax >> 32 << 32) : 0;
    rows->xmax = snap ? snap->xmax : INT64_MAX;
    return PE_OK;
}

void pe_table_drain(struct pe_table *t)
{
    PGresult *r;

    if (t == NULL || !t->inflight)
        return;
    while ((r = PQgetResult(t->src->conn)) != NULL)
        PQclear(r);
    t->inflight = false;
}

enum pe_status pe_table_send_page(struct pe_table *t, const char *after,
                                  long limit, struct pe_error *err)
{
    char lim[24];
    const char *params[2];

    snprintf(lim, sizeof(lim), "%ld", limit);
    if (after == NULL) {
        params[0] = lim;
        return send_prepared(t, t->page_first, 1, params, err);
    }
    params[0] = after;
    params[1] = lim;
    return send_prepared(t, t->page_after, 2, params, err);
}

/* {1,2,3} */
static char *int8_array(const int64_t *v, size_t n)
{
    struct pe_buf arr;

    pe_buf_init(&arr, 0);
    pe_buf_puts(&arr, "{");
    for (size_t i = 0; i < n; i++)
        pe_buf_printf(&arr, "%s%lld", i ? "," : "", (long long)v[i]);
    pe_buf_puts(&arr, "}");
    return arr.data;
}

enum pe_status pe_table_send_late(struct pe_table *t, const char *after,
                                  const struct pe_late_filter *f,
                                  const struct pe_snapshot *snap, long limit,
                                  struct pe_error *err)
{
    char floor_s[24], epoch_s[24], xmax_s[24], lim[24];
    char *sent_arr, *late_arr;
    const char *params[9];
    enum pe_status st;

    if (!t->tracked)
        return pe_error_set(err, PE_ERR_CONFIG, false,
                            "%s: not opened for tracking", t->qname);
    snprintf(floor_s, sizeof(floor_s), "%lld", (long long)f->floor);
    snprintf(epoch_s, sizeof(epoch_s), "%lld",
             (long long)((uint64_t)snap->xmax >> 32 << 32));
    snprintf(xmax_s, sizeof(xmax_s), "%lld", (long long)snap->xmax);
    snprintf(lim, sizeof(lim), "%ld", limit);
    sent_arr = int8_array(f->sent, f->n_sent);
    late_arr = int8_array(f->late_sent, f->n_late_sent);
    params[0] = f->high;
    params[1] = floor_s;
    params[2] = epoch_s;
    params[3] = xmax_s;
    params[4] = sent_arr;
    params[5] = lim;
    params[6] = f->late_key;
    params[7] = late_arr;
    params[8] = after;
    st = send_prepared(t, after ? t->late_after : t->late_first, after ? 9 : 8,
                       params, err);
    free(sent_arr);
    free(late_arr);
    return st;
}

/* A count(*) result into *count; clears r. */
static enum pe_status count_result(struct pe_table *t, PGresult *r,
                                   int64_t *count, struct pe_error *err)
{
    enum pe_status st = PE_OK;

    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        st = pe_pg_error(err, t->src->conn, r, "cannot count rows");
        pe_error_prefix(err, "%s", t->qname);
    } else {
        *count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    return st;
}

/* Parameter types for the range statements: text flags, then the key's
 * own type for the bounds. */
static void range_types(const struct pe_table *t, Oid *types, int n_flags,
                        int n)
{
    for (int i = 0; i < n; i++)
        types[i] = i < n_flags ? 25 /* text */ : t->key_type;
}

enum pe_status pe_table_send_range(struct pe_table *t, const char *from,
                                   const char *to, const char *after,
                                   long limit, struct pe_error *err)
{
    char lim[24];
    const char *params[7] = {from, to, after, from, to, after, lim};
    Oid types[7];

    snprintf(lim, sizeof(lim), "%ld", limit);
    range_types(t, types, 3, 6);
    types[6] = 20; /* int8 */
    return sent(t,
                PQsendQueryParams(t->src->conn, t->range_sql, 7, types, params,
                                  NULL, NULL, 0),
                err);
}

enum pe_status pe_table_count_range(struct pe_table *t, const char *from,
                                    const char *to, int64_t *count,
                                    struct pe_error *err)
{
    const char *params[4] = {from, to, from, to};
    Oid types[4];
    PGresult *r;

    range_types(t, types, 2, 4);
    r = PQexecParams(t->src->conn, t->range_count, 4, types, params, NULL,
                     NULL, 0);
    return count_result(t, r, count, err);
}

int64_t pe_rows_xid(const struct pe_rows *rows, size_t i)
{
    int64_t x = strtoll(PQgetvalue(rows->res, (int)i, (int)rows->n_cols), NULL,
                        10);
    int64_t w = rows->epoch_base + x;

    return w > rows->xmax ? w - ((int64_t)1 << 32) : w;
}

void pe_snapshot_cleanup(struct pe_snapshot *snap)
{
    if (snap == NULL)
        return;
    free(snap->xip);
    memset(snap, 0, sizeof(*snap));
}

/* "xmin:xmax:xip,xip,..." */
static bool parse_snapshot(const char *text, struct pe_snapshot *snap)
{
    char *end;
    const char *p = text;

    memset(snap, 0, sizeof(*snap));
    snap->xmin = strtoll(p, &end, 10);
    if (*end != ':')
        return false;
    snap->xmax = strtoll(end + 1, &end, 10);
    if (*end != ':')
        return false;
    p = end + 1;
    snap->xip = pe_xcalloc(strlen(p) / 2 + 1, sizeof(int64_t));
    while (*p != '\0') {
        snap->xip[snap->n_xip++] = strtoll(p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0'))
            return false;
        p = *end == ',' ? end + 1 : end;
    }
    return true;
}

enum pe_status pe_table_begin(struct pe_table *t, struct pe_snapshot *snap,
                              struct pe_error *err)
{
    PGconn *c = t->src->conn;
    PGresult *r;
    enum pe_status st;

    memset(snap, 0, sizeof(*snap));
    if ((st = exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                      "cannot start a transaction", err)) != PE_OK)
        return st;
    r = PQexec(c, "SELECT pg_catalog.pg_current_snapshot()::text");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        st = pe_pg_error(err, c, r, "cannot read the snapshot");
    } else if (!parse_snapshot(PQgetvalue(r, 0, 0), snap)) {
        pe_snapshot_cleanup(snap);
        st = pe_error_set(err, PE_ERR_DB, false, "unexpected snapshot \"%s\"",
                          PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    if (st != PE_OK)
        pe_table_end(t);
    return st;
}

void pe_table_end(struct pe_table *t)
{
    pe_table_drain(t);
    if (t != NULL && t->src->conn != NULL &&
        PQtransactionStatus(t->src->conn) != PQTRANS_IDLE &&
        PQtransactionStatus(t->src->conn) != PQTRANS_UNKNOWN)
        (void)exec_ok(t->src->conn, "COMMIT", "commit", NULL);
}

enum pe_status pe_source_xact_info(struct pe_source *s, int64_t xid,
                                   struct pe_xact_info *info,
                                   struct pe_error *err)
{
    static const char sql[] =
        "SELECT pid, datname IS DISTINCT FROM pg_catalog.current_database(),"
        " extract(epoch FROM pg_catalog.now() - xact_start)::float8"
        " FROM pg_catalog.pg_stat_activity WHERE backend_xid::text = $1"
        " UNION ALL"
        " SELECT 0, database IS DISTINCT FROM pg_catalog.current_database(),"
        " extract(epoch FROM pg_catalog.now() - prepared)::float8"
        " FROM pg_catalog.pg_prepared_xacts WHERE transaction::text = $1"
        " LIMIT 1";
    char x32[16];
    const char *params[1] = {x32};
    PGresult *r;
    enum pe_status st = PE_OK;

    memset(info, 0, sizeof(*info));
    snprintf(x32, sizeof(x32), "%llu",
             (unsigned long long)((uint64_t)xid & 0xffffffffu));
    r = PQexecParams(s->conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st = pe_pg_error(err, s->conn, r, "cannot look up a transaction");
    } else if (PQntuples(r) == 1) {
        info->pid = atoi(PQgetvalue(r, 0, 0));
        info->other_database = PQgetvalue(r, 0, 1)[0] == 't';
        info->age_s = PQgetisnull(r, 0, 2) ? 0 : atof(PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    return st;
}

const char *const *pe_rows_values(struct pe_rows *rows, size_t i)
{
    PGresult *r = rows->res;

    for (size_t c = 0; c < rows->n_cols; c++)
        rows->values[c] = PQgetisnull(r, (int)i, (int)c)
                              ? NULL
                              : PQgetvalue(r, (int)i, (int)c);
    return rows->values;
}

const char *pe_rows_key(const struct pe_rows *rows, size_t i)
{
    return PQgetvalue(rows->res, (int)i, (int)rows->key_col);
}

void pe_rows_cleanup(struct pe_rows *rows)
{
    if (rows == NULL)
        return;
    PQclear(rows->res);
    memset(rows, 0, sizeof(*rows));
}

enum pe_status pe_table_count(struct pe_table *t, const char *after,
                              int64_t *count, struct pe_error *err)
{
    const char *params[1] = {after};
    PGresult *r;

    r = after ? PQexecPrepared(t->src->conn, t->count_after, 1, params, NULL,
                               NULL, 0)
              : PQexecPrepared(t->src->conn, t->count_all, 0, NULL, NULL,
                               NULL, 0);
    return count_result(t, r, count, err);
}

/* Ownership of (stream, shard) between instances: a session-level advisory
 * lock on (hashtext('pinemit:' || stream), shard), released when the
 * session ends, whatever ends it. */
enum pe_status pe_source_try_own(struct pe_source *s, const char *stream,
                                 long shard, bool *got, struct pe_error *err)
{
    char shard_s[24];
    const char *params[2] = {stream, shard_s};
    PGresult *r;
    enum pe_status st = PE_OK;

    snprintf(shard_s, sizeof(shard_s), "%ld", shard);
    r = PQexecParams(s->conn,
                     "SELECT pg_catalog.pg_try_advisory_lock("
                     "pg_catalog.hashtext('pinemit:' || $1), $2::int4)",
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
