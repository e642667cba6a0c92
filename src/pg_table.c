/* SPDX-License-Identifier: MIT
 * pg_table.c - opening a table: resolving its name in the user's
 * search_path, its columns and their JSON mapping, proving the key unique,
 * comparing key values.  The statements that read it are pg_pages.c's.
 * Must not read pages nor know checkpoints or sinks. */
#include "source_pg.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pg_conn.h"
#include "source_pg_int.h"

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

/* Built-in types the encoder maps directly; false for the others. */
static bool builtin_kind(unsigned oid, enum pe_jkind *kind)
{
    switch (oid) {
    case OID_BOOL:
        *kind = PE_J_BOOL;
        return true;
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC:
        *kind = PE_J_NUMBER;
        return true;
    case OID_JSON:
    case OID_JSONB:
        *kind = PE_J_JSON;
        return true;
    case OID_TIMESTAMP:
        *kind = PE_J_TIMESTAMP;
        return true;
    case OID_TIMESTAMPTZ:
        *kind = PE_J_TIMESTAMPTZ;
        return true;
    case OID_DATE:
        *kind = PE_J_STRING; /* ISO text is what to_json prints */
        return true;
    default:
        return false;
    }
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

    if (builtin_kind(oid, kind))
        return PE_OK;
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
    t->reloid = pe_xstrdup(PQgetvalue(r, 0, 0));
    t->relname = pe_xstrdup(PQgetvalue(r, 0, 2));
    t->relkind = PQgetvalue(r, 0, 3)[0];
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

/* require_unique: refuse a key not proven unique (see key_unique). */
static struct pe_table *open_table(struct pe_source *s, const char *table,
                                   const char *key, bool tracked, long shard,
                                   long nshards, bool require_unique,
                                   bool vouched, struct pe_error *err)
{
    struct pe_table *t = pe_xcalloc(1, sizeof(*t));
    struct pe_buf cols;
    char *reloid = NULL;
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
    t->values = pe_xcalloc(t->n_cols, sizeof(*t->values));
    st = pe_pages_prepare(t, cols.data, key, shard, nshards, err);
out:
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
    free(t->reloid);
    free(t->relname);
    free(t->qkey);
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
