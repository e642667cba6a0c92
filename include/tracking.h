/* SPDX-License-Identifier: MIT
 * tracking.h - the pending-transaction bookkeeping of a tracked stream,
 * as a pure state machine over a struct pe_ckpt_state: which rows count
 * as sent, and where the next run starts.  No I/O: the unit's pass
 * (stream.c) asks the database, applies these decisions and saves. */
#ifndef PINEMIT_TRACKING_H
#define PINEMIT_TRACKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "source_pg.h"

/* Adds xid (if >= floor; below it all is settled) to the sorted set
 * *set of *n ids, growing it. */
void pe_tracking_add_xid(int64_t **set, size_t *n, int64_t floor,
                         int64_t xid);

/* Rows up to `key`, of transactions xids[0..n), were acknowledged or
 * dead-lettered.  late: they lie below the checkpoint (sent in the late
 * phase), whose key stays; tracked: not an ordered_writer stream. */
void pe_tracking_advance(struct pe_ckpt_state *c, bool late, bool tracked,
                         const char *key, const int64_t *xids, size_t n);

/* What a transaction in progress (below the snapshot's xmax) means for
 * the floor. */
enum pe_tracking_xact {
    PE_TRACKING_IGNORE, /* of another database: it cannot write here */
    PE_TRACKING_STALE,  /* open longer than max_age_s: no longer waited for */
    PE_TRACKING_FLOOR   /* the oldest that counts: the new floor */
};
enum pe_tracking_xact pe_tracking_classify(const struct pe_xact_info *info,
                                           long max_age_s);

/* The late scan of the snapshot with xmax `xmax` is over and `floor` is
 * the oldest transaction rows may still come from: fold the late phase
 * into the sent set, add this run's history entry, drop what the floor
 * settles and set c->low, the key the next late scan starts after. */
void pe_tracking_settle(struct pe_ckpt_state *c, int64_t xmax, int64_t floor);

#endif
