/* SPDX-License-Identifier: MIT
 * deliver.h - get one batch into Kafka, whatever the proxy answers:
 * resend only the records that may succeed, split what the gateway finds
 * too large, back off between attempts, and dead-letter what the proxy
 * rejects for good.  Used by `run` and by `replay`. */
#ifndef PINEMIT_DELIVER_H
#define PINEMIT_DELIVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "deadletter.h"
#include "retry.h"
#include "sink.h"
#include "util.h"

/* What every sender of one run shares. */
struct pe_deliver_env {
    struct pe_retry_policy policy;
    struct pe_dlq *dlq;
    long dead_letter_max;  /* -1: no cap */
    size_t *rejected;      /* dead letters so far in this run (shared) */
    int64_t deadline_ms;   /* monotonic; 0 = none */
    const volatile sig_atomic_t *stop; /* 1: stop soon, 2: stop now */
    /* Called by the delivering thread before each retry's backoff, so the
     * first sign of congestion reaches the window of requests in flight
     * at once, not after the backoff.  NULL: none. */
    void (*on_retry)(void *arg);
    void *retry_arg;
};

struct pe_send_stats {
    long long records;  /* acknowledged */
    long long requests; /* requests that got an HTTP answer (any status) */
    long long bytes;    /* of the bodies of those requests */
    long long retries;  /* requests sent again */
    long long dead;     /* records dead-lettered */
    long long window;   /* requests allowed in flight at the unit's end
                           (sink.max_in_flight adapted; a stream's shards
                           add up); 0: nothing delivered (dry run) */
};

/* Delivers records idx[0..n) of batch b to topic (all of them when idx is
 * NULL).  PE_OK when each was acknowledged or dead-lettered (and the
 * dead letters synced).  Otherwise: PE_ERR_PROXY (a permanent refusal, or
 * retries exhausted), PE_ERR_INTERRUPTED (a stop signal), PE_ERR_IO (the
 * dead-letter file), PE_ERR_ABORTED (dead_letter.max exceeded, or the
 * deadline passed); the caller keeps its checkpoint where it was. */
enum pe_status pe_deliver(const struct pe_deliver_env *env,
                          struct pe_sink *sink, const char *stream,
                          const char *topic, struct pe_batch *b,
                          const size_t *idx, size_t n,
                          struct pe_send_stats *stats, struct pe_error *err);

/* Writes one dead letter and counts it against dead_letter.max. */
enum pe_status pe_deliver_dead_letter(const struct pe_deliver_env *env,
                                      const struct pe_dead_letter *d,
                                      struct pe_send_stats *stats,
                                      struct pe_error *err);

/* Sleeps ms, waking early for a stop request or the deadline:
 * PE_OK, PE_ERR_INTERRUPTED or PE_ERR_ABORTED (deadline). */
enum pe_status pe_deliver_sleep(const struct pe_deliver_env *env, int64_t ms,
                                struct pe_error *err);
/* PE_ERR_ABORTED with a message once the deadline has passed. */
enum pe_status pe_deliver_check_deadline(const struct pe_deliver_env *env,
                                         struct pe_error *err);

#endif
