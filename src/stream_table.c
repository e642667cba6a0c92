/* SPDX-License-Identifier: MIT
 * stream_table.c - what a unit opens before its pass, and where it stands:
 * the stream's table (key unique, types encodable, message_key found), the
 * check that a checkpoint fits the key's type, and the standing that
 * status and the metrics file report.  Must not send anything (stream.c
 * owns the pass). */
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opens sc's table with its key, record members and filter: as a stream
 * (the key proven unique) or, for status, only to read it. */
static struct pe_table *open_spec(struct pe_source *src,
                                  const struct pe_stream_config *sc,
                                  bool tracked, long shard, long nshards,
                                  bool as_stream, struct pe_error *err)
{
    struct pe_column_pick *picks =
        pe_xcalloc(sc->n_columns + 1, sizeof(*picks));
    struct pe_table_spec spec = {.table = sc->table,
                                 .keys = (const char *const *)sc->keys,
                                 .n_keys = sc->n_keys,
                                 .columns = picks,
                                 .n_columns = sc->n_columns,
                                 .filter = sc->where,
                                 .filter_at = sc->where_at,
                                 .unique_key = sc->unique_key,
                                 .tracked = tracked,
                                 .shard = shard,
                                 .nshards = nshards,
                                 .shard_chunk = sc->shard_chunk,
                                 .shard_chunk_at = sc->shard_chunk_at};
    struct pe_table *t;

    for (size_t i = 0; i < sc->n_columns; i++) {
        picks[i].column = sc->columns[i].column;
        picks[i].as = sc->columns[i].as;
        picks[i].where = sc->columns[i].where;
    }
    t = as_stream ? pe_table_open_stream(src, &spec, err)
                  : pe_table_open_shard(src, &spec, err);
    free(picks);
    return t;
}

/* What run, replay and check open for a stream: the table (its key
 * unique, every type encodable, no view unless ordered_writer when
 * tracked) and the message_key column in *key_col (-1: none). */
struct pe_table *pe_stream_open_table(struct pe_source *src,
                                      const struct pe_stream_config *sc,
                                      bool tracked, long shard, long nshards,
                                      long *key_col, struct pe_error *err)
{
    struct pe_table *t = open_spec(src, sc, tracked, shard, nshards, true, err);

    *key_col = -1;
    if (t == NULL || sc->message_key == NULL)
        return t;
    if ((*key_col = pe_table_column(t, sc->message_key)) < 0) {
        pe_error_set(err, PE_ERR_CONFIG, false,
                     "message_key: column \"%s\" does not exist in %s",
                     sc->message_key, pe_table_name(t));
        pe_table_free(t);
        return NULL;
    }
    return t;
}

/* May a checkpoint written for ck's split resume shard of a stream split
 * into nshards by chunk?  An unsharded stream's checkpoint holds every row
 * up to its key, so it fits any shard (the database store keys the
 * unsharded stream's row as shard 0).  One written before pinemit
 * recorded the split (ck->shards 0) was an unsharded stream's or a shard
 * of per-key hashing: it fits as ever, but not a chunked split.  No
 * checkpoint at all (or one that has not moved) fits any split. */
static bool split_fits(const struct pe_ckpt_state *ck, long nshards,
                       long chunk)
{
    if (ck->shards == 0)
        return nshards == 1 || chunk == 1 ||
               (ck->key == NULL && ck->late_key == NULL &&
                ck->n_history == 0); /* none: nothing to skip */
    if (ck->shards == 1)
        return true;
    return ck->shards == nshards && ck->shard_chunk == chunk;
}

enum pe_status pe_stream_ckpt_split(const struct pe_ckpt_store *store,
                                    const struct pe_stream_config *sc,
                                    long shard, long nshards,
                                    struct pe_ckpt_state *ck,
                                    struct pe_error *err)
{
    long chunk = sc->shard_chunk > 1 ? sc->shard_chunk : 1;
    char *where, was[96];

    if (split_fits(ck, nshards, chunk)) {
        ck->shards = nshards;
        ck->shard_chunk = nshards > 1 ? chunk : 0;
        return PE_OK;
    }
    where = pe_ckpt_where(store, sc->name, shard, nshards);
    if (ck->shards == 0)
        snprintf(was, sizeof(was), "before pinemit recorded its shard "
                                   "split, so for shard_chunk = 1");
    else
        snprintf(was, sizeof(was), "for shards = %ld, shard_chunk = %ld",
                 ck->shards, ck->shard_chunk);
    pe_error_set(err, PE_ERR_CONFIG, false,
                 "%s: written %s, but the "
                 "configuration says shards = %ld, shard_chunk = %ld: this "
                 "shard's rows are not the ones it counted, and resuming "
                 "from it would skip rows; put shards and shard_chunk back, "
                 "or, to re-shard, remove all of stream %s's checkpoints "
                 "and run again (the whole stream is sent again: "
                 "duplicates, no loss)",
                 where, was, nshards, chunk, sc->name);
    free(where);
    pe_ckpt_state_cleanup(ck);
    return PE_ERR_CONFIG;
}

enum pe_status pe_stream_ckpt_load(struct pe_ckpt_store *store,
                                   const struct pe_stream_config *sc,
                                   long shard, long nshards,
                                   struct pe_ckpt_state *ck,
                                   struct pe_error *err)
{
    enum pe_status st = pe_ckpt_load_shard(store, sc->name, shard, nshards,
                                           ck, err);

    if (st != PE_OK)
        return st;
    return pe_stream_ckpt_split(store, sc, shard, nshards, ck, err);
}

enum pe_status pe_stream_ckpt_fits(struct pe_table *t,
                                   const struct pe_ckpt_store *store,
                                   const char *stream, long shard,
                                   long nshards,
                                   const struct pe_ckpt_state *c,
                                   struct pe_error *err)
{
    const char *fixed[3] = {c->key, c->low, c->late_key};
    size_t n = 3 + c->n_history;
    char *where, why[sizeof(err->msg)];
    int cmp;

    for (size_t i = 0; i < n; i++) {
        const char *k = i < 3 ? fixed[i] : c->history[i - 3].key;
        enum pe_status st;

        if (k == NULL ||
            (st = pe_table_key_compare(t, k, NULL, &cmp, err)) == PE_OK)
            continue;
        if (st != PE_ERR_DATA)
            return st;
        where = pe_ckpt_where(store, stream, shard, nshards);
        snprintf(why, sizeof(why), "%s", err->msg);
        pe_error_set(err, PE_ERR_CONFIG, false,
                     "%s: damaged checkpoint (key \"%s\" is not a valid %s: "
                     "%s); fix or remove it by hand",
                     where, k, pe_table_key_type(t), why);
        free(where);
        return PE_ERR_CONFIG;
    }
    return PE_OK;
}

enum pe_status pe_stream_standing(struct pe_source *src,
                                  struct pe_ckpt_store *store,
                                  const struct pe_stream_config *sc,
                                  long shard, struct pe_ckpt_state *ck,
                                  struct pe_table **table, int64_t *pending,
                                  struct pe_error *err)
{
    enum pe_status st = PE_OK;

    memset(ck, 0, sizeof(*ck));
    *table = NULL;
    *pending = -1;
    if (store != NULL && (st = pe_stream_ckpt_load(store, sc, shard,
                                                   sc->shards, ck, err)) !=
                             PE_OK)
        return st;
    *table = open_spec(src, sc, false, shard, sc->shards, false, err);
    if (*table == NULL)
        return err->status;
    if (store != NULL &&
        (st = pe_stream_ckpt_fits(*table, store, sc->name, shard, sc->shards,
                                  ck, err)) != PE_OK)
        return st;
    return pe_table_count(*table, ck->key, pending, err);
}
