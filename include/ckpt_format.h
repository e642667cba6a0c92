/* SPDX-License-Identifier: MIT
 * ckpt_format.h - the checkpoint state and its JSON text, parsed and
 * printed without touching a store: both stores keep the same text. */
#ifndef PINEMIT_CKPT_FORMAT_H
#define PINEMIT_CKPT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Where a stream stands when it tracks transactions (the no-row-left-
 * behind reads; see source_pg.h).  Transaction ids are 64-bit (xid8). */
struct pe_ckpt_history {
    int64_t xmax; /* a run's snapshot xmax */
    char *key;    /* the checkpoint key when that run started; NULL = none */
};

struct pe_ckpt_state {
    char *key;       /* last key sent or dead-lettered; NULL = none yet */
    bool tracked;    /* the fields below are meaningful */
    int64_t floor;   /* transactions below this are settled */
    char *low;       /* rows of unsettled transactions have keys > low;
                        NULL = no lower bound known */
    int64_t *sent;   /* transactions >= floor whose rows were all sent */
    size_t n_sent;
    /* While rows below the checkpoint are being sent: those up to
     * late_key from transactions late_sent[] are sent (NULL: none). */
    char *late_key;
    int64_t *late_sent;
    size_t n_late_sent;
    struct pe_ckpt_history *history;
    size_t n_history;
    int64_t updated_s; /* when it was saved (its "updated_at"), Unix time;
                          0 = unknown.  Read only: printing stamps now. */
    /* The shard assignment the state was written for ("shards",
     * "shard_chunk"): printed when shards > 1; 0 when not recorded (an
     * unsharded stream, or a text from before they were). */
    long shards;
    long shard_chunk;
};

/* Frees what c owns and zeroes it; NULL or a cleaned state is fine. */
void pe_ckpt_state_cleanup(struct pe_ckpt_state *c);

/* Parses `len` bytes of checkpoint text into *out (overwritten; the
 * caller cleans it up).  A text from an older version (a key only) gives
 * tracked = false; one without "shards" gives shards = shard_chunk = 0
 * (and "shards" without "shard_chunk", shard_chunk = 1).  PE_ERR_CONFIG
 * naming `where` when it is damaged: never silently start again from
 * zero; *out is then empty. */
enum pe_status pe_ckpt_format_parse(const char *text, size_t len,
                                    const char *where,
                                    struct pe_ckpt_state *out,
                                    struct pe_error *err);
/* The text of c for `stream`, stamped with the current UTC time (caller
 * frees); NULL only when cJSON could not print it. */
char *pe_ckpt_format_print(const char *stream, const struct pe_ckpt_state *c);

#endif
