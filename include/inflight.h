/* SPDX-License-Identifier: MIT
 * inflight.h - a unit's requests in flight: the next batches are posted
 * while earlier ones wait for their answers, and acknowledged batches are
 * handed back in the order they were sent (the checkpoint moves over the
 * longest acknowledged run from the start).  Each batch still goes
 * through pe_deliver, so retries, resends, 413 splits and dead letters
 * keep their meaning per batch. */
#ifndef PINEMIT_INFLIGHT_H
#define PINEMIT_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "config.h"
#include "deliver.h"
#include "sink.h"
#include "util.h"

struct pe_inflight; /* opaque */

/* All borrowed; they outlive the object. */
struct pe_inflight_opts {
    const struct pe_config *cfg; /* to open each slot's sink */
    const struct pe_deliver_env *env;
    struct pe_sink *format; /* frames the slots' batches as the unit's */
    const char *stream, *topic;
    struct pe_send_stats *total; /* each batch's figures are added here */
    long max;                    /* sink.max_in_flight, 2 .. 64 */
    size_t max_bytes;            /* sink.max_in_flight_bytes */
    size_t batch_records, batch_bytes; /* as the unit's batch */
};

/* Called on the unit's thread for each acknowledged batch (every record
 * acknowledged or dead-lettered), oldest first, with its records' xids. */
struct pe_inflight_done {
    enum pe_status (*fn)(void *arg, const struct pe_batch *b,
                         const int64_t *xids, struct pe_error *err);
    void *arg;
};

struct pe_inflight *pe_inflight_new(const struct pe_inflight_opts *o);
/* Posts *b: swaps *b and *xids with a free slot's empty ones.  First
 * waits for room in the window, handing acknowledged batches to done.
 * Once a batch failed, waits for the others and returns its error (the
 * first one sent that failed); *b is then left as it was. */
enum pe_status pe_inflight_send(struct pe_inflight *f, struct pe_batch *b,
                                int64_t **xids,
                                const struct pe_inflight_done *done,
                                struct pe_error *err);
/* Waits for every batch in flight and hands the acknowledged ones to
 * done; the first failure, as pe_inflight_send.  The window is empty
 * afterwards and may be used again. */
enum pe_status pe_inflight_drain(struct pe_inflight *f,
                                 const struct pe_inflight_done *done,
                                 struct pe_error *err);
/* The current window (1 .. max). */
long pe_inflight_window(struct pe_inflight *f);
/* Stops the slots' threads; call after pe_inflight_drain.  NULL is fine. */
void pe_inflight_free(struct pe_inflight *f);

#endif
