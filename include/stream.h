/* SPDX-License-Identifier: MIT
 * stream.h - one unit's pass (a stream, or one shard of it): pages ->
 * rows -> records -> batches -> deliver -> acknowledge -> checkpoint. */
#ifndef PINEMIT_STREAM_H
#define PINEMIT_STREAM_H

#include <stdbool.h>

#include "checkpoint.h"
#include "config.h"
#include "deliver.h"
#include "opts.h"
#include "source_pg.h"
#include "util.h"

/* What a stream's run leaves for the metrics file. */
struct pe_stream_report {
    struct pe_send_stats stats;
    char *checkpoint; /* owned */
};

/* What run, replay and check open for a stream: the table (its key
 * unique, every type encodable, no view unless ordered_writer when
 * tracked) and the message_key column in *key_col (-1: none).  NULL on
 * error; the caller frees the table. */
struct pe_table *pe_stream_open_table(struct pe_source *src,
                                      const struct pe_stream_config *sc,
                                      bool tracked, long shard, long nshards,
                                      long *key_col, struct pe_error *err);
/* Proves that a loaded checkpoint *ck of shard `shard` of nshards of
 * stream sc was written for this shard split (as pe_stream_ckpt_load
 * does after loading); on PE_ERR_CONFIG, ck is cleaned up. */
enum pe_status pe_stream_ckpt_split(const struct pe_ckpt_store *store,
                                    const struct pe_stream_config *sc,
                                    long shard, long nshards,
                                    struct pe_ckpt_state *ck,
                                    struct pe_error *err);
/* Loads the checkpoint of shard `shard` of nshards of stream sc (nshards
 * 1: the whole stream) into *ck, as pe_ckpt_load_shard, and proves it was
 * written for this shard assignment: PE_ERR_CONFIG naming it, what it was
 * written for, what the configuration says and what to do, when it
 * records other shards or shard_chunk (one that records none is taken as
 * it is).  On success ck records this assignment for its next save. */
enum pe_status pe_stream_ckpt_load(struct pe_ckpt_store *store,
                                   const struct pe_stream_config *sc,
                                   long shard, long nshards,
                                   struct pe_ckpt_state *ck,
                                   struct pe_error *err);
/* Every key checkpoint c holds must read as table t's key type; one that
 * does not (the file edited by hand, the key column changed) is a damaged
 * checkpoint: PE_ERR_CONFIG naming it as store names it (run and status
 * alike).  PE_ERR_DB when the query fails otherwise. */
enum pe_status pe_stream_ckpt_fits(struct pe_table *t,
                                   const struct pe_ckpt_store *store,
                                   const char *stream, long shard,
                                   long nshards,
                                   const struct pe_ckpt_state *c,
                                   struct pe_error *err);
/* Where shard `shard` of stream sc stands, for status and the metrics
 * file: its checkpoint in *ck (all zero when store is NULL or it has none
 * yet; proved to fit the key, as run does), its table opened read-only in
 * *table (the caller frees it, NULL on error) and the rows past the
 * checkpoint in *pending (-1 until counted).  The caller cleans up *ck in
 * every case. */
enum pe_status pe_stream_standing(struct pe_source *src,
                                  struct pe_ckpt_store *store,
                                  const struct pe_stream_config *sc,
                                  long shard, struct pe_ckpt_state *ck,
                                  struct pe_table **table, int64_t *pending,
                                  struct pe_error *err);
/* Sends one unit: stream sc's shard `shard` (replay: the whole stream,
 * the key range of o, no checkpoint), on connection src, its checkpoint
 * in store (NULL: none).  owned: it holds the unit's advisory lock.
 * *report is filled in every case; report->checkpoint is the caller's. */
enum pe_status pe_stream_run(const struct pe_app_opts *o,
                             const struct pe_deliver_env *env,
                             const struct pe_stream_config *sc, long shard,
                             bool owned, struct pe_source *src,
                             struct pe_ckpt_store *store, bool replay,
                             struct pe_stream_report *report,
                             struct pe_error *err);

#endif
