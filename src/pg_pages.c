/* SPDX-License-Identifier: MIT
 * pg_pages.c - reading a table: the page, count, range and late-row
 * statements, keyset pages sent and received apart, snapshots and the
 * transactions in them, the rows of a page.  Must not resolve tables or
 * map types (pg_table.c does), spell the shard expression or touch the
 * shard index (pg_shard.c does) nor know checkpoints or sinks. */
#include "source_pg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pg_conn.h"
#include "pg_shard.h"
#include "source_pg_int.h"

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

/* xmin widened to an xid8 with the epoch of the snapshot's xmax ($E is
 * that epoch << 32, $X the xmax): rows in the late range are younger than
 * 2^31 transactions, so one epoch back at most. */
#define WIDE_XMIN(E, X)                                                       \
    "(" E "::int8 + xmin::text::int8 - CASE WHEN " E "::int8 + "              \
    "xmin::text::int8 > " X "::int8 THEN 4294967296 ELSE 0 END)"

/* Where and in what order a page reads: the first page, the ones after
 * a cursor ($1). */
struct page_sql {
    const char *first, *after, *order;
};

char *pe_key_rhs(const struct pe_table *t, int n)
{
    struct pe_buf b;

    if (t->n_keys == 1)
        return pe_xasprintf("$%d", n);
    pe_buf_init(&b, 0);
    for (size_t i = 0; i < t->n_keys; i++)
        pe_buf_printf(&b, "%s(($%d::text::pg_catalog.json ->> %zu)::%s)",
                      i ? ", " : "(", n, i, t->key_types[i]);
    pe_buf_puts(&b, ")");
    return b.data;
}

/* Keyset pages, counts and replay ranges: each one an index range scan
 * on the key (a row comparison for several columns, which an index on
 * them in that order reads as one range), `pred` (the shard and stream
 * filters) ahead of it.  The pages read as f says (a shard through its
 * shard index), with `fpred` (the stream's filter alone) ahead.  k[i] is
 * the key bound as $i. */
static enum pe_status page_statements(struct pe_table *t, const char *cols,
                                      const char *pred, const char *fpred,
                                      const struct page_sql *f,
                                      struct pe_error *err)
{
    const char *lhs = t->key_lhs, *ord = t->key_order;
    char *k[8], *sql[4];
    enum pe_status st;

    for (int i = 1; i < 8; i++)
        k[i] = pe_key_rhs(t, i);
    k[0] = NULL;
    sql[0] = pe_xasprintf("SELECT %s FROM %s WHERE %s%s ORDER BY %s LIMIT $1",
                          cols, t->qname, fpred, f->first, f->order);
    sql[1] = pe_xasprintf("SELECT %s FROM %s WHERE %s%s ORDER BY %s LIMIT $2",
                          cols, t->qname, fpred, f->after, f->order);
    sql[2] = pe_xasprintf("SELECT count(*) FROM %s WHERE %s%s IS NOT NULL",
                          t->qname, pred, lhs);
    sql[3] = pe_xasprintf("SELECT count(*) FROM %s WHERE %s%s > %s", t->qname,
                          pred, lhs, k[1]);
    /* Replays bind every bound with the key's own type, so NULL means "no
     * bound" and the planner still sees an index range per call. */
    t->range_sql = pe_xasprintf(
        "SELECT %s FROM %s WHERE %s($1::text IS NULL OR %s >= %s)"
        " AND ($2::text IS NULL OR %s <= %s) AND ($3::text IS NULL OR %s > %s)"
        " ORDER BY %s LIMIT $7",
        cols, t->qname, pred, lhs, k[4], lhs, k[5], lhs, k[6], ord);
    t->range_count = pe_xasprintf(
        "SELECT count(*) FROM %s WHERE %s($1::text IS NULL OR %s >= %s)"
        " AND ($2::text IS NULL OR %s <= %s)",
        t->qname, pred, lhs, k[3], lhs, k[4]);
    if ((st = prepare(t, &t->page_first, sql[0], 1, err)) == PE_OK &&
        (st = prepare(t, &t->page_after, sql[1], 2, err)) == PE_OK &&
        (st = prepare(t, &t->count_all, sql[2], 0, err)) == PE_OK)
        st = prepare(t, &t->count_after, sql[3], 1, err);
    for (size_t i = 0; i < 4; i++)
        free(sql[i]);
    for (size_t i = 0; i < 8; i++)
        free(k[i]);
    return st;
}

/* Late rows: a key range below the checkpoint, filtered by the inserting
 * transaction; still an index range scan on the key.  $7/$8 (after:
 * $8/$9): rows up to a key from transactions already sent by an
 * interrupted late scan. */
static enum pe_status late_statements(struct pe_table *t, const char *cols,
                                      const char *pred, struct pe_error *err)
{
    const char *lhs = t->key_lhs, *ord = t->key_order;
    char *k1 = pe_key_rhs(t, 1), *k7 = pe_key_rhs(t, 7),
         *k9 = pe_key_rhs(t, 9);
    char *first, *after;
    enum pe_status st;

    first = pe_xasprintf(
        "SELECT %s FROM %s WHERE %s%s <= %s AND " WIDE_XMIN("$3", "$4")
        " >= $2 AND " WIDE_XMIN("$3", "$4") " <> ALL($5::int8[])"
        " AND NOT (%s <= %s AND " WIDE_XMIN("$3", "$4")
        " = ANY($8::int8[])) ORDER BY %s LIMIT $6",
        cols, t->qname, pred, lhs, k1, lhs, k7, ord);
    after = pe_xasprintf(
        "SELECT %s FROM %s WHERE %s%s > %s AND %s <= %s AND "
        WIDE_XMIN("$3", "$4") " >= $2 AND " WIDE_XMIN("$3", "$4")
        " <> ALL($5::int8[]) AND NOT (%s <= %s AND "
        WIDE_XMIN("$3", "$4") " = ANY($8::int8[])) ORDER BY %s LIMIT $6",
        cols, t->qname, pred, lhs, k9, lhs, k1, lhs, k7, ord);
    if ((st = prepare(t, &t->late_first, first, 8, err)) == PE_OK)
        st = prepare(t, &t->late_after, after, 9, err);
    free(first);
    free(after);
    free(k1);
    free(k7);
    free(k9);
    return st;
}

/* The stream's filter, from the config owner (trusted like the conninfo),
 * checked by EXPLAIN of the first page's query: planned, no row read.  A
 * filter that does not parse, names a missing column, is not boolean or
 * holds a bad constant is the config's fault. */
static enum pe_status explain_filter(struct pe_table *t, const char *cols,
                                     const char *pred, struct pe_error *err)
{
    char *sql = pe_xasprintf("EXPLAIN SELECT %s FROM %s WHERE %s%s IS NOT NULL"
                             " ORDER BY %s LIMIT $1",
                             cols, t->qname, pred, t->key_lhs, t->key_order);
    const char *params[1] = {"1"};
    PGresult *r = PQexecParams(t->src->conn, sql, 1, NULL, params, NULL, NULL,
                               0);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    enum pe_status st = PE_OK;

    free(sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        /* planned: the filter is sound */
    } else if (state != NULL && (strncmp(state, "42", 2) == 0 ||
                                 strncmp(state, "22", 2) == 0)) {
        const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

        st = pe_error_set(err, PE_ERR_CONFIG, false, "%s: %s (in \"%s\")",
                          t->filter_at, m ? m : "invalid", t->filter);
    } else {
        st = pe_pg_error(err, t->src->conn, r, "cannot check the filter");
    }
    PQclear(r);
    return st;
}

enum pe_status pe_pages_prepare(struct pe_table *t, const char *cols,
                                long shard, long nshards,
                                struct pe_error *err)
{
    struct pe_buf pred, fpred;
    char *page[3], *k1 = pe_key_rhs(t, 1), *expr = NULL;
    bool by_index = nshards > 1 && t->n_keys == 1;
    struct page_sql f;
    enum pe_status st = PE_OK;

    /* The shard index is on the key's columns after the shard hash. */
    free(t->qkey);
    t->qkey = pe_xstrdup(t->n_keys == 1 ? t->key_lhs : t->key_order);
    t->nshards = nshards;
    /* pred, ahead of counts, ranges and late rows: shard s of n (a hash
     * of the key's text or its chunk's, the same on every instance:
     * documented; pg_shard.c spells it), then
     * the stream's filter.  fpred, ahead of the pages: the filter, and the
     * shard too unless the pages read through the shard index (one key
     * column only). */
    pe_buf_init(&pred, 0);
    pe_buf_puts(&pred, "");
    pe_buf_init(&fpred, 0);
    pe_buf_puts(&fpred, "");
    if (nshards > 1) {
        expr = pe_shard_expr(t->key_lhs, nshards, t->shard_chunk);
        pe_buf_printf(&pred, "%s = %ld AND ", expr, shard);
        if (!by_index)
            pe_buf_printf(&fpred, "%s = %ld AND ", expr, shard);
    }
    if (t->filter != NULL) {
        pe_buf_printf(&pred, "(%s) AND ", t->filter);
        pe_buf_printf(&fpred, "(%s) AND ", t->filter);
    }
    if (by_index) {
        pe_shard_page_sql(expr, t->key_lhs, shard, page);
    } else {
        page[0] = pe_xasprintf("%s IS NOT NULL", t->key_lhs);
        page[1] = pe_xasprintf("%s > %s", t->key_lhs, k1);
        page[2] = pe_xstrdup(t->key_order);
    }
    f.first = page[0];
    f.after = page[1];
    f.order = page[2];
    if (t->filter != NULL)
        st = explain_filter(t, cols, pred.data, err);
    if (st == PE_OK)
        st = page_statements(t, cols, pred.data, fpred.data, &f, err);
    for (size_t i = 0; i < 3; i++)
        free(page[i]);
    if (st == PE_OK && t->tracked)
        st = late_statements(t, cols, pred.data, err);
    pe_buf_cleanup(&pred);
    pe_buf_cleanup(&fpred);
    free(expr);
    free(k1);
    return st;
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
    if ((st = pe_src_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
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
        (void)pe_src_exec(t->src->conn, "COMMIT", "commit", NULL);
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
