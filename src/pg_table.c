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
#include "pg_shard.h"
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

/* {"a","b"}: an array literal, '"' and '\\' backslash-escaped as array
 * syntax wants. */
static char *text_array(const char *const *v, size_t n)
{
    struct pe_buf b;

    pe_buf_init(&b, 0);
    pe_buf_puts(&b, "{");
    for (size_t i = 0; i < n; i++) {
        pe_buf_puts(&b, i ? ",\"" : "\"");
        for (const char *p = v[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                pe_buf_append(&b, "\\", 1);
            pe_buf_append(&b, p, 1);
        }
        pe_buf_puts(&b, "\"");
    }
    pe_buf_puts(&b, "}");
    return b.data;
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
        char *schema = pe_xstrndup(table, (size_t)(dot - table));

        schema_arr = text_array((const char *const *)&schema, 1);
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

/* Column i of r is key column k: its type. */
static void note_key(struct pe_table *t, const PGresult *r, int i, size_t k)
{
    free(t->key_types[k]);
    t->key_types[k] = pe_xstrdup(PQgetvalue(r, i, 2));
    if (t->n_keys == 1)
        t->key_type = (unsigned)strtoul(PQgetvalue(r, i, 1), NULL, 10);
}

/* The key's SQL forms (t->key_lhs, key_order, key_type_name) and, for
 * several columns, the key text appended to `select`: a JSON array of
 * each column's text, as PostgreSQL prints it (one key column that is not
 * a member of the record: that column). */
static void key_forms(struct pe_table *t, struct pe_buf *select)
{
    struct pe_buf lhs, ord, types, arr;

    pe_buf_init(&lhs, 0);
    pe_buf_init(&ord, 0);
    pe_buf_init(&types, 0);
    pe_buf_init(&arr, 0);
    for (size_t i = 0; i < t->n_keys; i++) {
        char *q = pe_pg_quote_ident(t->key_cols[i]);

        pe_buf_printf(&ord, "%s%s", i ? ", " : "", q);
        pe_buf_printf(&types, "%s%s", i ? ", " : "", t->key_types[i]);
        pe_buf_printf(&arr, "%s%s::text", i ? ", " : "", q);
        free(q);
    }
    if (t->n_keys == 1) {
        t->key_lhs = pe_xstrdup(ord.data);
        t->key_type_name = pe_xstrdup(types.data);
        if (t->key_col == SIZE_MAX)
            pe_buf_printf(select, ", %s", ord.data);
    } else {
        t->key_lhs = pe_xasprintf("(%s)", ord.data);
        t->key_type_name = pe_xasprintf("(%s)", types.data);
        t->key_type = 25; /* text: a JSON array */
        pe_buf_printf(select, ", pg_catalog.json_build_array(%s)::text",
                      arr.data);
    }
    t->key_order = ord.data;
    pe_buf_cleanup(&types);
    pe_buf_cleanup(&arr);
    pe_buf_cleanup(&lhs);
}

/* Row i of the attribute list r becomes the record's next member, named
 * `as`; its text joins the select list. */
static enum pe_status add_column(struct pe_table *t, const PGresult *r, int i,
                                 const char *as, struct pe_buf *select,
                                 struct pe_error *err)
{
    struct pe_column *c = &t->cols[t->n_cols];
    char *q = pe_pg_quote_ident(PQgetvalue(r, i, 0));
    enum pe_status st;

    c->name = pe_xstrdup(as);
    c->delim = ',';
    t->n_cols++;
    st = type_kind(t->src, (unsigned)strtoul(PQgetvalue(r, i, 1), NULL, 10), 0,
                   &c->kind, &c->elem, &c->delim, err);
    if (st != PE_OK)
        pe_error_prefix(err, "column \"%s\"", PQgetvalue(r, i, 0));
    if (t->n_keys == 1 && strcmp(PQgetvalue(r, i, 0), t->key_cols[0]) == 0 &&
        t->key_col == SIZE_MAX)
        t->key_col = t->n_cols - 1;
    pe_buf_printf(select, "%s%s", t->n_cols > 1 ? ", " : "", q);
    free(q);
    return st;
}

/* The attribute named `name` in r, or -1. */
static int find_attr(const PGresult *r, const char *name)
{
    for (int i = 0; i < PQntuples(r); i++)
        if (strcmp(PQgetvalue(r, i, 0), name) == 0)
            return i;
    return -1;
}

/* The record's members: spec's columns (default: all, in table order),
 * their select list, and the key columns' types. */
static enum pe_status load_columns(struct pe_table *t, const char *reloid,
                                   const struct pe_table_spec *spec,
                                   struct pe_buf *select, struct pe_error *err)
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

    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st = pe_pg_error(err, t->src->conn, r, "cannot read the columns");
        goto out;
    }
    for (size_t k = 0; k < t->n_keys; k++) {
        int i = find_attr(r, t->key_cols[k]);

        if (i < 0) {
            st = pe_error_set(err, PE_ERR_CONFIG, false,
                              "key column \"%s\" does not exist",
                              t->key_cols[k]);
            goto out;
        }
        note_key(t, r, i, k);
    }
    n = spec->n_columns ? spec->n_columns : (size_t)PQntuples(r);
    t->cols = pe_xcalloc(n, sizeof(*t->cols));
    t->key_col = SIZE_MAX;
    for (size_t j = 0; j < n && st == PE_OK; j++) {
        const struct pe_column_pick *p =
            spec->n_columns ? &spec->columns[j] : NULL;
        int i = p ? find_attr(r, p->column) : (int)j;

        if (i < 0 && p != NULL)
            st = pe_error_set(err, PE_ERR_CONFIG, false,
                              "%s: column \"%s\" does not exist in %s",
                              p->where, p->column, t->qname);
        else if (i >= 0)
            st = add_column(t, r, i, p ? p->as : PQgetvalue(r, i, 0), select,
                            err);
    }
out:
    PQclear(r);
    return st;
}

/* Keyset pages read "key > last", so a key that two rows share loses the
 * rows of that value that fall on the next page.  The key must be proven
 * unique by a valid, non-partial unique index on exactly the key's
 * columns, in any order (primary keys and unique constraints have one; a
 * partitioned table's own index covers its partitions), or vouched for by
 * the user (unique_key), the only way for a view or a foreign table.
 * Column 1: that index's name, or NULL. */
static const char key_index_sql[] =
    "SELECT c.relkind::text, (SELECT i.indexrelid::pg_catalog.regclass::text"
    " FROM pg_catalog.pg_index i"
    " WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid"
    "  AND i.indpred IS NULL AND i.indexprs IS NULL"
    "  AND i.indnkeyatts = pg_catalog.cardinality($2::text[])"
    "  AND (SELECT pg_catalog.array_agg(a.attname::text ORDER BY"
    "   a.attname::text) FROM pg_catalog.generate_series(0,"
    "   i.indnkeyatts - 1) g JOIN pg_catalog.pg_attribute a"
    "   ON a.attrelid = i.indrelid AND a.attnum = i.indkey[g])"
    "  = (SELECT pg_catalog.array_agg(x ORDER BY x)"
    "   FROM pg_catalog.unnest($2::text[]) x)"
    " ORDER BY i.indisprimary DESC, i.indexrelid LIMIT 1)"
    " FROM pg_catalog.pg_class c WHERE c.oid = $1::pg_catalog.oid";

static enum pe_status key_unique(struct pe_table *t, const char *reloid,
                                 const char *table, const char *key,
                                 bool vouched, struct pe_error *err)
{
    char *keys = text_array((const char *const *)t->key_cols, t->n_keys);
    const char *params[2] = {reloid, keys};
    PGresult *r;
    enum pe_status st = PE_OK;

    r = PQexecParams(t->src->conn, key_index_sql, 2, NULL, params, NULL, NULL,
                     0);
    free(keys);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        st = pe_pg_error(err, t->src->conn, r,
                         "cannot look up the key's indexes");
    } else if (!PQgetisnull(r, 0, 1)) {
        t->key_index = pe_xstrdup(PQgetvalue(r, 0, 1));
    } else if (vouched) {
        /* unique_key: the user's word. */
    } else if (strchr("vf", PQgetvalue(r, 0, 0)[0]) != NULL) {
        st = pe_error_set(err, PE_ERR_CONFIG, false,
                          "\"%s\" is a %s: no index can show that key \"%s\" "
                          "is unique, and rows that share a key value would "
                          "be skipped; set unique_key = true for the stream "
                          "if it is unique",
                          table,
                          PQgetvalue(r, 0, 0)[0] == 'v' ? "view"
                                                         : "foreign table",
                          key);
    } else {
        st = pe_error_set(err, PE_ERR_CONFIG, false,
                          "key \"%s\" is not unique: no primary key, unique "
                          "constraint or unique index covers exactly %s, "
                          "and rows that share a key value would be "
                          "skipped; add one (CREATE UNIQUE INDEX ON %s "
                          "(%s)), or choose a unique key (a list of "
                          "columns is one)",
                          key, t->n_keys == 1 ? "that column" : "those columns",
                          t->qname, t->key_order);
    }
    PQclear(r);
    return st;
}

/* require_unique: refuse a key not proven unique (see key_unique). */
static struct pe_table *open_table(struct pe_source *s,
                                   const struct pe_table_spec *spec,
                                   bool require_unique, struct pe_error *err)
{
    struct pe_table *t = pe_xcalloc(1, sizeof(*t));
    struct pe_buf cols, shown;
    char *reloid = NULL;
    enum pe_status st;

    t->src = s;
    t->tracked = spec->tracked;
    t->filter = spec->filter;
    t->filter_at = spec->filter_at ? spec->filter_at : "where";
    t->n_keys = spec->n_keys;
    t->key_cols = pe_xcalloc(t->n_keys, sizeof(*t->key_cols));
    t->key_types = pe_xcalloc(t->n_keys, sizeof(*t->key_types));
    pe_buf_init(&shown, 0);
    for (size_t i = 0; i < t->n_keys; i++) {
        t->key_cols[i] = pe_xstrdup(spec->keys[i]);
        pe_buf_printf(&shown, "%s%s", i ? ", " : "", spec->keys[i]);
    }
    pe_buf_init(&cols, 0);
    if ((st = resolve_table(t, spec->table, &reloid, err)) != PE_OK ||
        (st = load_columns(t, reloid, spec, &cols, err)) != PE_OK)
        goto out;
    if (spec->tracked)
        pe_buf_puts(&cols, ", xmin::text");
    key_forms(t, &cols);
    if (t->n_keys > 1 || t->key_col == SIZE_MAX)
        t->key_col = t->n_cols + (spec->tracked ? 1 : 0);
    if (require_unique && (st = key_unique(t, reloid, spec->table, shown.data,
                                           spec->unique_key, err)) != PE_OK)
        goto out;
    t->values = pe_xcalloc(t->n_cols, sizeof(*t->values));
    t->shard_chunk = spec->shard_chunk > 1 ? spec->shard_chunk : 1;
    if ((st = pe_shard_check_key(t, t->shard_chunk, spec->shard_chunk_at,
                                 err)) == PE_OK)
        st = pe_pages_prepare(t, cols.data, spec->shard, spec->nshards, err);
    t->filter = t->filter_at = NULL; /* borrowed */
out:
    free(reloid);
    pe_buf_cleanup(&cols);
    pe_buf_cleanup(&shown);
    if (st != PE_OK) {
        pe_error_prefix(err, "table %s", spec->table);
        pe_table_free(t);
        return NULL;
    }
    return t;
}

struct pe_table *pe_table_open(struct pe_source *s, const char *table,
                               const char *key, struct pe_error *err)
{
    struct pe_table_spec spec = {.table = table, .keys = &key, .n_keys = 1,
                                 .nshards = 1};

    return open_table(s, &spec, false, err);
}

struct pe_table *pe_table_open_shard(struct pe_source *s,
                                     const struct pe_table_spec *spec,
                                     struct pe_error *err)
{
    return open_table(s, spec, false, err);
}

struct pe_table *pe_table_open_stream(struct pe_source *s,
                                      const struct pe_table_spec *spec,
                                      struct pe_error *err)
{
    return open_table(s, spec, true, err);
}

const char *pe_table_key_type(const struct pe_table *t)
{
    return t->key_type_name;
}

const char *pe_table_key_index(const struct pe_table *t)
{
    return t->key_index;
}

/* A bound of the key's type that does not read as one: SQLSTATE class 22
 * (data exception), or 23 (a domain's check). */
static bool bad_value(const PGresult *r)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

    return state != NULL &&
           (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0);
}

/* Several key columns: a and b must be JSON arrays of n texts (else
 * -2), then compare as rows of the key's types. */
static char *compare_sql(const struct pe_table *t)
{
    char *a, *b, *sql;

    if (t->n_keys == 1)
        return pe_xstrdup("SELECT CASE WHEN $1 < $2 THEN -1 WHEN $1 > $2"
                          " THEN 1 ELSE 0 END");
    a = pe_key_rhs(t, 1);
    b = pe_key_rhs(t, 2);
    sql = pe_xasprintf(
        "SELECT CASE WHEN pg_catalog.json_array_length($1::pg_catalog.json)"
        " <> %zu OR pg_catalog.json_array_length($2::pg_catalog.json) <> %zu"
        " OR EXISTS (SELECT 1 FROM pg_catalog.json_array_elements($1::"
        "pg_catalog.json) e WHERE pg_catalog.json_typeof(e) <> 'string')"
        " OR EXISTS (SELECT 1 FROM pg_catalog.json_array_elements($2::"
        "pg_catalog.json) e WHERE pg_catalog.json_typeof(e) <> 'string')"
        " THEN -2"
        " WHEN %s < %s THEN -1 WHEN %s > %s THEN 1 ELSE 0 END",
        t->n_keys, t->n_keys, a, b, a, b);
    free(a);
    free(b);
    return sql;
}

enum pe_status pe_table_key_compare(struct pe_table *t, const char *a,
                                    const char *b, int *cmp,
                                    struct pe_error *err)
{
    const char *params[2] = {a, b ? b : a};
    Oid types[2] = {t->key_type, t->key_type};
    char *sql = compare_sql(t);
    PGresult *r;
    enum pe_status st = PE_OK;

    r = PQexecParams(t->src->conn, sql, 2, types, params, NULL, NULL, 0);
    free(sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        *cmp = atoi(PQgetvalue(r, 0, 0));
        if (*cmp == -2)
            st = pe_error_set(err, PE_ERR_DATA, false,
                              "expected a JSON array of %zu strings, one "
                              "per key column",
                              t->n_keys);
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
    for (size_t i = 0; i < t->n_keys; i++) {
        free(t->key_cols[i]);
        free(t->key_types[i]);
    }
    free(t->key_cols);
    free(t->key_types);
    free(t->key_lhs);
    free(t->key_order);
    free(t->key_index);
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

const struct pe_column *pe_table_columns(const struct pe_table *t, size_t *n)
{
    *n = t->n_cols;
    return t->cols;
}

const char *pe_table_name(const struct pe_table *t)
{
    return t->qname;
}
