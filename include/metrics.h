/* SPDX-License-Identifier: MIT
 * metrics.h - pinemit's state as data for the operator's tools: the
 * Prometheus text-format metrics for node_exporter's textfile collector,
 * written atomically after each run (counters carry on from the previous
 * file, so they only grow), and status --json's line per unit. */
#ifndef PINEMIT_METRICS_H
#define PINEMIT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct pe_metrics_stream {
    const char *name;
    const char *topic;
    const char *checkpoint; /* may be NULL */
    long long rows, requests, bytes, retries, dead_letters;
    long long window; /* the pinemit_window gauge; 0: none */
    /* The lag, as at the end of the run; each gauge only when known. */
    bool has_pending;
    long long rows_pending; /* rows past the checkpoint(s) */
    bool has_age;
    double checkpoint_age_s; /* since the (oldest shard's) last save */
};

struct pe_metrics_run {
    double start_s, end_s; /* Unix time */
    int exit_code;
    const struct pe_metrics_stream *streams;
    size_t n_streams;
};

/* Writes `path` (temp file and rename) from run r and the counters of the
 * file already there. */
enum pe_status pe_metrics_write(const char *path, const struct pe_metrics_run *r,
                                struct pe_error *err);

/* Where one unit (a stream, or one shard of it) stands, as status shows
 * it; strings are borrowed. */
struct pe_unit_view {
    const char *stream;
    long shard; /* -1: the stream is not sharded */
    const char *topic;
    const char *checkpoint; /* NULL before the first run */
    long long rows_pending; /* -1: unknown */
    bool tracked;           /* open transactions are tracked */
    long open_transactions;
    double oldest_open_age_s; /* -1: none open */
    const char *owner;        /* NULL: not a shared store; "-": none */
    int64_t updated_s;        /* the checkpoint's last save; 0: none */
    int64_t now_s;
};

/* u as one JSON object on one line, with a newline, appended to out:
 * stream, shard (when sharded), topic, checkpoint, rows_pending,
 * open_transactions and oldest_open_age_s (when tracked), owner (shared
 * store), last_success (RFC 3339) and checkpoint_age_s; null when
 * unknown. */
void pe_metrics_unit_json(const struct pe_unit_view *u, struct pe_buf *out);

#endif
