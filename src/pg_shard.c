/* SPDX-License-Identifier: MIT
 * pg_shard.c - the shard of a row, in SQL: the shard expression (a hash of
 * the key, or of its chunk: key / shard_chunk), the key types a chunk
 * needs, the page conditions that read a shard through its shard index,
 * and that index itself (its name, whether it is there, building it).
 * Owns every spelling of the shard expression: the page, count, range and
 * late-row statements (pg_pages.c) and the index take it from here, so
 * the planner sees one expression.  Must not read pages nor resolve
 * tables (pg_pages.c, pg_table.c). */
#include "pg_shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pg_conn.h"

/* Built-in type OIDs (pg_type.dat): the integer keys a chunk divides. */
enum { OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23 };

char *pe_shard_expr(const char *qkey, long nshards, long chunk)
{
    /* A hash of the key's text (or of its chunk number's), the same on
     * every instance (documented).  The shard index is on exactly this
     * expression: the planner matches it only when the query spells it
     * the same way.  chunk 1 is the first form, unchanged. */
    if (chunk > 1)
        return pe_xasprintf("(pg_catalog.hashtextextended((%s / %ld)::text, 0)"
                            " & 9223372036854775807) %% %ld",
                            qkey, chunk, nshards);
    return pe_xasprintf("(pg_catalog.hashtextextended(%s::text, 0)"
                        " & 9223372036854775807) %% %ld",
                        qkey, nshards);
}

enum pe_status pe_shard_check_key(const struct pe_table *t, long chunk,
                                  const char *chunk_at, struct pe_error *err)
{
    if (chunk <= 1)
        return PE_OK;
    if (t->n_keys == 1 && (t->key_type == OID_INT2 ||
                           t->key_type == OID_INT4 || t->key_type == OID_INT8))
        return PE_OK;
    /* key / C on text or time would fail or mean nothing: say so now,
     * not in the first page's query. */
    return pe_error_set(err, PE_ERR_CONFIG, false,
                        "%s = %ld needs a key of one smallint, integer or "
                        "bigint column, but key %s is %s; remove "
                        "shard_chunk (each key is then hashed alone)",
                        chunk_at ? chunk_at : "shard_chunk", chunk,
                        t->key_order, t->key_type_name);
}

/* Shard s of n reads its pages through the shard index, ((expr), key):
 * "expr >= s AND expr < s + 1 ... ORDER BY expr, key", the cursor a row
 * comparison on both columns.  The same rows in the same order as
 * "expr = s AND key > $1 ORDER BY key", but only the shard index gives
 * that order without a sort; with "key > $1" the planner may prefer the
 * key's own index (the heap is in key order there) and read every
 * shard's rows to drop 7 in 8. */
void pe_shard_page_sql(const char *expr, const char *qkey, long shard,
                       char *out[3])
{
    out[0] = pe_xasprintf("%s >= %ld AND %s < %ld AND %s IS NOT NULL", expr,
                          shard, expr, shard + 1, qkey);
    out[1] = pe_xasprintf("(%s, %s) > (%ld, $1) AND %s < %ld", expr, qkey,
                          shard, expr, shard + 1);
    out[2] = pe_xasprintf("%s, %s", expr, qkey);
}

void pe_table_shard_index_name(const struct pe_table *t, char name[64])
{
    char *key = t->qkey ? pe_xstrndup(t->qkey + 1, strlen(t->qkey) - 2)
                        : pe_xstrdup("");
    char shards[48], *full;
    size_t n;

    /* The chunk is in the name: an index on another expression must not
     * pass for this one. */
    if (t->shard_chunk > 1)
        snprintf(shards, sizeof(shards), "%ldc%ld", t->nshards,
                 t->shard_chunk);
    else
        snprintf(shards, sizeof(shards), "%ld", t->nshards);
    /* PostgreSQL cuts names to 63 bytes; cut here the same way, at a
     * character's start, so the name looked up is the name made. */
    full = pe_xasprintf("pinemit_shard%s_%s_%s", shards, t->relname, key);
    n = strlen(full);
    if (n > 63) {
        /* Back to the start of the character that byte 63 is in. */
        n = 63;
        while (n > 0 && ((unsigned char)full[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(name, full, n);
    name[n] = '\0';
    free(full);
    free(key);
}

/* 1: a valid index of that name on t; 0: none; -1: an invalid one (a
 * concurrent build that failed); -2: the query failed (err set). */
static int shard_index_state(struct pe_table *t, const char *name,
                             struct pe_error *err)
{
    const char *params[2] = {name, t->reloid};
    PGresult *r;
    int state = -2;

    r = PQexecParams(t->src->conn,
                     "SELECT i.indisvalid FROM pg_catalog.pg_index i"
                     " JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
                     " WHERE c.relname = $1 AND i.indrelid = $2::oid",
                     2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        pe_pg_error(err, t->src->conn, r, "cannot look up the shard index");
    else
        state = PQntuples(r) == 0 ? 0
                : PQgetvalue(r, 0, 0)[0] == 't' ? 1
                                                : -1;
    PQclear(r);
    return state;
}

/* CREATE INDEX CONCURRENTLY: writers go on while it builds.  A
 * partitioned table cannot build one concurrently (PostgreSQL 15). */
static enum pe_status shard_index_create(struct pe_table *t, const char *name,
                                         bool drop_first,
                                         struct pe_error *err)
{
    char *qname = pe_pg_quote_ident(name);
    char *expr = pe_shard_expr(t->qkey, t->nshards, t->shard_chunk);
    char *sql = NULL;
    enum pe_status st = PE_OK;

    if (drop_first) {
        char *qs = pe_xstrndup(t->qname, strlen(t->qname) -
                                             strlen(strrchr(t->qname, '.')));

        sql = pe_xasprintf("DROP INDEX CONCURRENTLY IF EXISTS %s.%s", qs,
                           qname);
        free(qs);
        st = pe_src_exec(t->src->conn, sql, "cannot drop an invalid index",
                         err);
        free(sql);
    }
    if (st == PE_OK) {
        sql = pe_xasprintf("CREATE INDEX %sIF NOT EXISTS %s ON %s ((%s), %s)",
                           t->relkind == 'p' ? "" : "CONCURRENTLY ", qname,
                           t->qname, expr, t->qkey);
        st = pe_src_exec(t->src->conn, sql, "cannot create the shard index",
                         err);
        free(sql);
    }
    if (st == PE_OK) {
        /* Statistics on the new expression, so the planner knows each
         * shard holds 1/N of the rows. */
        sql = pe_xasprintf("ANALYZE %s", t->qname);
        st = pe_src_exec(t->src->conn, sql, "cannot analyze the table", err);
        free(sql);
    }
    free(qname);
    free(expr);
    return st;
}

enum pe_status pe_table_shard_index(struct pe_table *t, bool create,
                                    bool *present, struct pe_error *err)
{
    char name[64];
    int state;
    enum pe_status st;

    *present = false;
    if (t->nshards <= 1)
        return PE_OK;
    if (t->n_keys > 1) {
        /* Several key columns: shards filter the key's own range scan
         * (pe_pages_prepare), so there is no shard index to build. */
        *present = true;
        return PE_OK;
    }
    if (strchr("rpm", t->relkind) == NULL)
        return pe_error_set(err, PE_ERR_CONFIG, false,
                            "%s is a view or foreign table: it cannot have "
                            "a shard index",
                            t->qname);
    pe_table_shard_index_name(t, name);
    if ((state = shard_index_state(t, name, err)) == -2)
        return err->status;
    if (state == 1 || !create) {
        *present = state == 1;
        return PE_OK;
    }
    if ((st = shard_index_create(t, name, state == -1, err)) != PE_OK) {
        pe_error_prefix(err, "%s", t->qname);
        return st;
    }
    if ((state = shard_index_state(t, name, err)) == -2)
        return err->status;
    *present = state == 1;
    return PE_OK;
}
