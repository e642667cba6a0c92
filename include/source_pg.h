/* SPDX-License-Identifier: MIT
 * source_pg.h - rows from PostgreSQL, one keyset page at a time.
 * Owns the libpq connection; results never leave this module except as
 * borrowed text pointers in struct pe_rows. */
#ifndef PINEMIT_SOURCE_PG_H
#define PINEMIT_SOURCE_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encode.h"
#include "util.h"

struct pe_source; /* opaque: one connection */
struct pe_table;  /* opaque: one table with its key, statements prepared */

struct pe_source_opts {
    const char *conninfo; /* libpq conninfo string or URI; may be "" */
    long connect_timeout_s;
};

/* One page of rows.  Text pointers are valid until the next fetch on the
 * same table or pe_rows_cleanup. */
struct pe_rows {
    size_t n_rows;
    size_t n_cols;
    const struct pe_column *cols; /* n_cols, owned by the table */
    void *res;                    /* private */
    const char **values;          /* scratch: one row's values */
    size_t key_col;
    bool has_xmin; /* a tracking table: column n_cols holds xmin */
    int64_t epoch_base; /* to widen xmin (see pe_rows_xid) */
    int64_t xmax;
};

/* A snapshot, as pg_current_snapshot() reports it (xid8 values). */
struct pe_snapshot {
    int64_t xmin;
    int64_t xmax;
    int64_t *xip; /* in progress, ascending */
    size_t n_xip;
};

/* The backend running an in-progress transaction, if one is found. */
struct pe_xact_info {
    int pid;             /* 0 = not found (finished, or prepared) */
    bool other_database; /* it cannot write this table */
    double age_s;        /* since the transaction started */
};

/* Errors are PE_ERR_DB with err->retriable set when another try may work
 * (a broken connection, a transient SQLSTATE).
 * Connects and sets the session up (UTC, ISO dates, UTF8, application_name,
 * search_path).  PE_ERR_DB on failure, with libpq's message. */
struct pe_source *pe_source_open(const struct pe_source_opts *o,
                                 struct pe_error *err);
void pe_source_free(struct pe_source *s);
/* Reconnects with the same parameters and sets the session up again.
 * Tables opened before are invalid afterwards: free and reopen them. */
enum pe_status pe_source_reset(struct pe_source *s, struct pe_error *err);
/* Which session the connection is on: changes with each pe_source_reset,
 * after which the advisory locks of the old session are gone. */
unsigned pe_source_session(const struct pe_source *s);
/* "host:port/dbname" of the live connection, for messages (no secrets). */
const char *pe_source_describe(struct pe_source *s);

/* Resolves `table` ("name" or "schema.name", exact spelling) and its `key`
 * column, works out each column's JSON mapping and prepares the page query.
 * PE_ERR_CONFIG when the table or column does not exist or a column's type
 * cannot be encoded. */
struct pe_table *pe_table_open(struct pe_source *s, const char *table,
                               const char *key, struct pe_error *err);
/* The same for shard `shard` of nshards of the table: only rows whose key
 * hashes to it, (hashtextextended(key::text, 0) & 9223372036854775807) %
 * nshards, or with spec->shard_chunk C > 1 whose key / C does (an integer
 * key only: PE_ERR_CONFIG naming shard_chunk_at, the key and its type).
 * With tracked, every row carries its inserting transaction (xmin) and
 * late rows can be requested; PE_ERR_CONFIG when the relation has no xmin
 * (a view, a foreign table). */
struct pe_table_spec;
struct pe_table *pe_table_open_shard(struct pe_source *s,
                                     const struct pe_table_spec *spec,
                                     struct pe_error *err);

/* What run, replay and check open for a stream.  A key of several columns
 * pages by a row comparison, (k1, k2) > (v1, v2), and its value (rows'
 * keys, checkpoints, bounds) is a JSON array of each column's text as
 * PostgreSQL prints it: ["2024-01-01 00:00:00+00", "17"]. */
/* One member of the record: table column `column`, sent as `as`. */
struct pe_column_pick {
    const char *column;
    const char *as;
    const char *where; /* "FILE:LINE: setting" that named it, for messages */
};

/* The shard index of a table opened for nshards > 1: a btree on
 * ((shard expression), key), the expression exactly as the page queries
 * spell it, so each shard reads only its own rows.  Its name,
 * "pinemit_shard<N>_<table>_<key>" ("pinemit_shard<N>c<C>_..." with a
 * shard_chunk C > 1) cut to 63 bytes, is in the table's
 * schema.  *present: a valid one exists (always false unsharded; true
 * for a key of several columns, whose shards need none).  With
 * create, builds it when missing (CREATE INDEX CONCURRENTLY; an invalid
 * one left by a failed build is dropped first).  PE_ERR_CONFIG for a view
 * or a foreign table; PE_ERR_DB when a statement fails (no privilege). */
enum pe_status pe_table_shard_index(struct pe_table *t, bool create,
                                    bool *present, struct pe_error *err);
void pe_table_shard_index_name(const struct pe_table *t, char name[64]);

struct pe_table_spec {
    const char *table;
    const char *const *keys; /* n_keys column names, in key order */
    size_t n_keys;
    const struct pe_column_pick *columns; /* the record's members */
    size_t n_columns;                     /* 0: every column, table order */
    const char *filter;    /* SQL condition ANDed into every read; NULL */
    const char *filter_at; /* "FILE:LINE: setting" of it, for messages */
    bool unique_key; /* the user vouches that no two rows share a key */
    bool tracked;
    long shard, nshards;
    long shard_chunk; /* <= 1: each key hashed alone; C: key / C */
    const char *shard_chunk_at; /* "FILE:LINE: setting" of it; NULL */
};

/* As pe_table_open_shard, and the key must be unique: keyset pages would
 * skip rows that share a key value.  PE_ERR_CONFIG unless a valid,
 * non-partial unique index (a primary key, a unique constraint) covers
 * exactly the key's columns (in any order), or spec->unique_key is set
 * (the only way for a view or a foreign table). */
struct pe_table *pe_table_open_stream(struct pe_source *s,
                                      const struct pe_table_spec *spec,
                                      struct pe_error *err);
/* The key column's type as PostgreSQL names it ("integer"; several:
 * "(timestamp with time zone, integer)"). */
const char *pe_table_key_type(const struct pe_table *t);
/* The unique index that proves the key ("orders_pkey"), or NULL (a key
 * vouched for with unique_key, or a table not opened as a stream). */
const char *pe_table_key_index(const struct pe_table *t);
/* Reads a and b (NULL: a again) as the key's type and compares them:
 * *cmp < 0, 0 or > 0.  PE_ERR_DATA, with PostgreSQL's reason, when one is
 * not a value of that type; PE_ERR_DB when the query fails otherwise. */
enum pe_status pe_table_key_compare(struct pe_table *t, const char *a,
                                    const char *b, int *cmp,
                                    struct pe_error *err);

/* Instances share (stream, shard) units through session-level advisory
 * locks on (hashtext('pinemit:' || stream), shard); the session's end
 * releases them.  Connections are named pinemit/<host>/<pid>.  try_own
 * is idempotent: a session that holds the lock already gets true without
 * taking it twice (so one disown lets it go). */
enum pe_status pe_source_try_own(struct pe_source *s, const char *stream,
                                 long shard, bool *got, struct pe_error *err);
void pe_source_disown(struct pe_source *s, const char *stream, long shard);
/* "pinemit/<host>/<pid> (backend N)" of the owner, or "-". */
enum pe_status pe_source_owner(struct pe_source *s, const char *stream,
                               long shard, char *owner, size_t len,
                               struct pe_error *err);
/* How many pinemit instances are connected to this database. */
enum pe_status pe_source_instances(struct pe_source *s, long *n,
                                   struct pe_error *err);

/* Starts a REPEATABLE READ, READ ONLY transaction: every fetch until
 * pe_table_end sees one snapshot, returned in *snap (free with
 * pe_snapshot_cleanup). */
enum pe_status pe_table_begin(struct pe_table *t, struct pe_snapshot *snap,
                              struct pe_error *err);
void pe_table_end(struct pe_table *t); /* ends it; safe when none is open */
void pe_snapshot_cleanup(struct pe_snapshot *snap);

/* Which rows below the checkpoint are late: key <= high, written by a
 * transaction >= floor that is not in sent[], and not (key <= late_key and
 * a transaction in late_sent[]). */
struct pe_late_filter {
    const char *high;
    int64_t floor;
    const int64_t *sent;
    size_t n_sent;
    const char *late_key; /* NULL: none */
    const int64_t *late_sent;
    size_t n_late_sent;
};

/* Pages are requested and received apart (one request at a time per
 * connection), so the next page travels while this one is sent on.
 * Every page is in key order and holds at most `limit` rows.
 * - send_page: key > after (NULL: from the start).
 * - send_late: late rows, key > after (NULL: no lower bound); needs a
 *   tracked table inside pe_table_begin.
 * - send_range (replays): from <= key <= to (NULL: no bound), key > after;
 *   bounds are read as the key's type (a bad one is PE_ERR_DB, not
 *   retriable).
 * pe_table_recv puts the page into *rows (cleaned up first; snap, when
 * given, widens xmin); pe_table_drain discards a request not received
 * (before other queries). */
enum pe_status pe_table_send_page(struct pe_table *t, const char *after,
                                  long limit, struct pe_error *err);
enum pe_status pe_table_send_late(struct pe_table *t, const char *after,
                                  const struct pe_late_filter *f,
                                  const struct pe_snapshot *snap, long limit,
                                  struct pe_error *err);
enum pe_status pe_table_send_range(struct pe_table *t, const char *from,
                                   const char *to, const char *after,
                                   long limit, struct pe_error *err);
enum pe_status pe_table_recv(struct pe_table *t, const struct pe_snapshot *snap,
                             struct pe_rows *rows, struct pe_error *err);
void pe_table_drain(struct pe_table *t);
/* Rows a replay range holds. */
enum pe_status pe_table_count_range(struct pe_table *t, const char *from,
                                    const char *to, int64_t *count,
                                    struct pe_error *err);
/* Row i's inserting transaction as an xid8 (tracked tables only). */
int64_t pe_rows_xid(const struct pe_rows *rows, size_t i);
/* Who runs transaction xid, and for how long. */
enum pe_status pe_source_xact_info(struct pe_source *s, int64_t xid,
                                   struct pe_xact_info *info,
                                   struct pe_error *err);
void pe_table_free(struct pe_table *t);
/* The index of column `name` in the rows, or -1. */
long pe_table_column(const struct pe_table *t, const char *name);
/* The record's members as sent (names after renaming), *n of them. */
const struct pe_column *pe_table_columns(const struct pe_table *t, size_t *n);
/* The quoted, schema-qualified name. */
const char *pe_table_name(const struct pe_table *t);

/* Row i's values (NULL = SQL NULL), valid until the next fetch. */
const char *const *pe_rows_values(struct pe_rows *rows, size_t i);
const char *pe_rows_key(const struct pe_rows *rows, size_t i);
void pe_rows_cleanup(struct pe_rows *rows);

/* Rows with key > after (all rows when after is NULL). */
enum pe_status pe_table_count(struct pe_table *t, const char *after,
                              int64_t *count, struct pe_error *err);

#endif
