/* SPDX-License-Identifier: MIT
 * sink.h - where batches go: one ops table, filled by each backend
 * (sink_rest.c: the Kafka REST proxy v2; sink_kinesis.c: Kinesis
 * PutRecords; sink_stdout.c: the dry run, which prints the bodies the
 * configured kind would send).  pe_sink_open is the one place that picks
 * the backend; callers ask the sink, never the config, what it does.
 * One sink per sender thread: it is not shared.  Bodies and rows are
 * borrowed per call. */
#ifndef PINEMIT_SINK_H
#define PINEMIT_SINK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "batch.h"
#include "config.h"
#include "deadletter.h"
#include "encode.h"
#include "response.h"
#include "util.h"

/* One row as the sink encodes it; all borrowed. */
struct pe_sink_row {
    const struct pe_column *cols;
    size_t n_cols;
    const char *const *values;
    long key_col;    /* message_key column, or -1 */
    const char *key; /* the row's key, as text */
};

struct pe_sink;

/* A backend.  The format members (frame .. dlq_format) say what a batch
 * looks like; the transport members (delivers .. close) where it goes.
 * The dry run takes the format of the configured kind. */
struct pe_sink_ops {
    const char *name;
    /* Opens the backend's own part (s->impl) from the config. */
    enum pe_status (*open)(struct pe_sink *s, const struct pe_config *c,
                           struct pe_error *err);
    /* Sets the frame of b, a batch for `topic`, before its first record;
     * with topic NULL, only how b counts sizes (the frame comes later). */
    void (*frame)(struct pe_batch *b, const char *topic);
    /* One record into rec (reset first); *counted is the size the limits
     * count; why receives a reason to dead-letter the row ("" if none). */
    enum pe_status (*encode)(struct pe_sink *s, const struct pe_sink_row *row,
                             struct pe_buf *rec, size_t *counted, char *why,
                             size_t why_len, struct pe_error *err);
    /* The largest record taken, given sink.max_record_bytes, and its name
     * for messages. */
    size_t (*record_limit)(size_t configured, const char **what);
    enum pe_dlq_sink dlq_format;
    /* False for a sink that only shows what would be sent: nothing is
     * acknowledged downstream, so no checkpoint moves, no dead letter is
     * written and no rate applies. */
    bool delivers;
    /* See pe_sink_send and pe_sink_list_topics. */
    enum pe_status (*send)(struct pe_sink *s, const char *topic,
                           const char *body, size_t len, size_t n_records,
                           struct pe_record_status *per,
                           struct pe_produce_result *res, struct pe_error *err);
    enum pe_status (*list_topics)(struct pe_sink *s, struct pe_buf *names,
                                  struct pe_error *err);
    void (*close)(struct pe_sink *s); /* frees s->impl */
};

/* Plain, for the backends; callers use the functions below. */
struct pe_sink {
    const struct pe_sink_ops *ops;    /* transport */
    const struct pe_sink_ops *format; /* the configured kind's */
    void *impl;                       /* the transport backend's */
    size_t max_record_bytes;          /* sink.max_record_bytes */
    struct pe_buf scratch;            /* for encode */
    const volatile sig_atomic_t *abort_flag;
};

/* Call once before any thread starts (libcurl's global state). */
enum pe_status pe_sink_global_init(struct pe_error *err);
void pe_sink_global_cleanup(void);

/* The sink the config names, or the dry run's (stdout) when dry_run.
 * Secrets are read from the environment here (PE_ERR_CONFIG when one is
 * missing).  When abort_flag is not NULL and *abort_flag >= 2, a transfer
 * in progress stops at once (a second SIGINT/SIGTERM). */
struct pe_sink *pe_sink_open(const struct pe_config *c, bool dry_run,
                             const volatile sig_atomic_t *abort_flag,
                             struct pe_error *err);
void pe_sink_close(struct pe_sink *s); /* NULL is fine */

/* What the sink pe_sink_open would open does to a run, known before any
 * sink is open: the commands and the pool ask it, never the dry-run flag.
 * pe_sink_plan reads the same choice pe_sink_open makes. */
struct pe_sink_plan {
    bool delivers;       /* records reach the far side, acknowledged */
    bool keeps_state;    /* lock, create and write the checkpoint store,
                            write the metrics file */
    bool prints;         /* bodies go to stdout in order: one sender, no
                            progress line */
    bool unverified_tls; /* talks to a far side whose TLS certificate is
                            not verified (sink.insecure) */
};
struct pe_sink_plan pe_sink_plan(const struct pe_config *c, bool dry_run);

bool pe_sink_delivers(const struct pe_sink *s);
void pe_sink_frame(struct pe_sink *s, struct pe_batch *b, const char *topic);
enum pe_status pe_sink_encode(struct pe_sink *s, const struct pe_sink_row *row,
                              struct pe_buf *rec, size_t *counted, char *why,
                              size_t why_len, struct pe_error *err);
size_t pe_sink_record_limit(const struct pe_sink *s, const char **what);
/* pe_dlq_check_record in this sink's record format. */
enum pe_status pe_sink_check_letter(const struct pe_sink *s,
                                    const struct pe_dead_letter *d,
                                    size_t *size, struct pe_error *err);

/* Sends body (n_records records) to topic and classifies the answer into
 * *res, and per record into per (n_records entries, may be NULL; clear
 * with pe_record_status_clear).  Returns PE_OK when every record was
 * acknowledged; PE_ERR_PROXY otherwise, with err->retriable and a
 * one-line message naming status, error code and text;
 * PE_ERR_INTERRUPTED when abort_flag stopped the transfer; PE_ERR_IO when
 * the dry run cannot write stdout. */
enum pe_status pe_sink_send(struct pe_sink *s, const char *topic,
                            const char *body, size_t len, size_t n_records,
                            struct pe_record_status *per,
                            struct pe_produce_result *res,
                            struct pe_error *err);

/* The topics (streams) the far side knows, as its JSON answer text. */
enum pe_status pe_sink_list_topics(struct pe_sink *s, struct pe_buf *names,
                                   struct pe_error *err);

/* For the HTTP backends: opens s->impl, a struct pe_http with the
 * config's transport settings and secrets (from the environment), the
 * backend's own headers for sending (post) and listing (get), and SigV4
 * for `service` in `region` when region is not NULL (`who` names the
 * setting in errors).  pe_sink_http_close frees it. */
struct pe_sink_http_spec {
    const char *region;
    const char *service;
    const char *who;
    const char *const *post_headers;
    size_t n_post_headers;
    const char *const *get_headers;
    size_t n_get_headers;
};
enum pe_status pe_sink_http_open(struct pe_sink *s, const struct pe_config *c,
                                 const struct pe_sink_http_spec *spec,
                                 struct pe_error *err);
void pe_sink_http_close(struct pe_sink *s);

/* Posts body to url with h and classifies the answer with `classify`
 * (pe_response_classify_records or pe_kinesis_classify): what
 * pe_sink_send promises, for the HTTP backends. */
struct pe_http;
typedef void pe_sink_classify_fn(long http_status, const char *body, size_t len,
                                 size_t n_records, struct pe_record_status *per,
                                 struct pe_produce_result *r);
enum pe_status
pe_sink_http_send(struct pe_http *h, const char *url, const char *topic,
                  const char *body, size_t len, size_t n_records,
                  struct pe_record_status *per, struct pe_produce_result *res,
                  pe_sink_classify_fn *classify, struct pe_error *err);

#endif
