/* SPDX-License-Identifier: MIT
 * source_pg_int.h - private to the source files (source_pg.c, pg_table.c,
 * pg_pages.c, pg_shard.c, pg_own.c): the structs behind source_pg.h's
 * opaque handles and the helpers they share.  Nothing else includes it;
 * callers use source_pg.h. */
#ifndef PINEMIT_SOURCE_PG_INT_H
#define PINEMIT_SOURCE_PG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "encode.h"
#include "util.h"

struct pe_source {
    PGconn *conn;
    char *schemas; /* current_schemas(true) at connect, as array text */
    char desc[256];
    unsigned stmt_seq;
    unsigned session; /* counts pe_source_reset calls: see pe_source_session */
};

struct pe_table {
    struct pe_source *src;
    char *qname;     /* "schema"."table" */
    char *reloid;    /* the relation's oid, as text */
    char *relname;   /* its name and kind (pg_class.relkind) */
    char relkind;
    char *qkey;      /* the quoted key column */
    long nshards;    /* > 1: a shard's pages, through the shard index */
    long shard_chunk; /* 1: each key hashed; C: key / C (pg_shard.h) */
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
    unsigned key_type; /* one key column: its type OID; composite: text */
    char *key_type_name; /* as format_type prints it: "integer", or
                            "(timestamp with time zone, integer)" */
    char **key_cols;   /* n_keys key column names */
    char **key_types;  /* and their types as format_type prints them */
    size_t n_keys;
    char *key_lhs;     /* "k" or ("k1", "k2"), quoted */
    char *key_order;   /* "k1", "k2" */
    char *key_index;   /* the unique index proving the key, or NULL */
    const char *filter;    /* borrowed for pe_pages_prepare: the stream's */
    const char *filter_at; /* where, and its "FILE:LINE: setting" */
    bool inflight;     /* a page was sent and not received yet */
    char *range_sql;   /* replay: keys in [from, to] after a cursor */
    char *range_count;
};

/* source_pg.c: runs a command that returns no rows or rows we ignore;
 * err may be NULL. */
enum pe_status pe_src_exec(PGconn *c, const char *sql, const char *what,
                           struct pe_error *err);

/* pg_pages.c: prepares t's page, count, range (and, tracked, late)
 * statements over the select list `cols` (t->qname, t->src and the key
 * fields set).  Shard `shard` of nshards filters by a hash of the key
 * (of its chunk: t->shard_chunk, set before). */
enum pe_status pe_pages_prepare(struct pe_table *t, const char *cols,
                                long shard, long nshards,
                                struct pe_error *err);
/* The key value bound as parameter $n, comparable with t->key_lhs: "$n"
 * for one column; for several, each element of the JSON array of texts
 * in $n read as its column's type. */
char *pe_key_rhs(const struct pe_table *t, int n);

#endif
