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
