/* SPDX-License-Identifier: MIT
 * sink_http.h - POST batches to the Kafka REST proxy (API v2) with libcurl.
 * One sink per stream: it owns a curl handle, so its connection is kept
 * alive between batches.  Bodies are borrowed per call. */
#ifndef PINEMIT_SINK_HTTP_H
#define PINEMIT_SINK_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "response.h"
#include "util.h"

struct pe_sink; /* opaque */

struct pe_sink_opts {
    const char *invoke_url; /* base, no trailing slash */
    long timeout_ms;
    long connect_timeout_ms;
    const char *ca_file; /* NULL: system store */
    const char *client_cert; /* mutual TLS; NULL: none */
    const char *client_key;
    bool insecure;           /* skip TLS verification */
    const char *api_key;     /* x-api-key value (a secret); NULL: none */
    const char *basic_auth;  /* "user:password" (a secret); NULL: none */
    const char *sigv4_region;  /* SigV4 signing when not NULL */
    const char *sigv4_service;
    const char *aws_access_key_id; /* secrets, for SigV4 */
    const char *aws_secret_access_key;
    const char *aws_session_token; /* NULL: none */
    const char *const *headers;    /* extra "Name: value" headers */
    size_t n_headers;
    /* Kinesis Data Streams instead of the REST proxy: invoke_url is the
     * endpoint, topics are stream names, bodies are PutRecords requests,
     * requests are signed for service "kinesis" in sigv4_region. */
    bool kinesis;
    /* When not NULL and *abort_flag >= 2, a transfer in progress stops at
     * once (a second SIGINT/SIGTERM). */
    const volatile sig_atomic_t *abort_flag;
};

/* Call once before any thread starts (wraps curl_global_init). */
enum pe_status pe_sink_global_init(struct pe_error *err);
void pe_sink_global_cleanup(void);

struct pe_sink *pe_sink_new(const struct pe_sink_opts *o, struct pe_error *err);
void pe_sink_free(struct pe_sink *s);

/* POSTs body (n_records records) to {invoke_url}/topics/{topic} and
 * classifies the answer into *res, and per record into per (n_records
 * entries, may be NULL; clear with pe_record_status_clear).  Returns PE_OK
 * when every record was acknowledged; PE_ERR_PROXY otherwise, with
 * err->retriable and a one-line message naming status, error code and
 * text; PE_ERR_INTERRUPTED when abort_flag stopped the transfer. */
enum pe_status pe_sink_send(struct pe_sink *s, const char *topic,
                            const char *body, size_t len, size_t n_records,
                            struct pe_record_status *per,
                            struct pe_produce_result *res,
                            struct pe_error *err);

/* GET {invoke_url}/topics; *names receives the JSON array text. */
enum pe_status pe_sink_list_topics(struct pe_sink *s, struct pe_buf *names,
                                   struct pe_error *err);

#endif
