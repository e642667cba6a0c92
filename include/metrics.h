/* SPDX-License-Identifier: MIT
 * metrics.h - Prometheus text-format metrics for node_exporter's textfile
 * collector, written atomically after each run.  Counters carry on from
 * the previous file, so they only grow. */
#ifndef PINEMIT_METRICS_H
#define PINEMIT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct pe_metrics_stream {
    const char *name;
    const char *topic;
    const char *checkpoint; /* may be NULL */
    long long rows, requests, bytes, retries, dead_letters;
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

#endif
