/* SPDX-License-Identifier: MIT
 * http.h - the libcurl plumbing the HTTP sinks share: one handle kept
 * alive between requests, TLS, auth headers (API key, basic, SigV4), the
 * Retry-After of the last answer, and transport errors with the URL's
 * password masked.  It knows no body format and no answer format. */
#ifndef PINEMIT_HTTP_H
#define PINEMIT_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "response.h"
#include "util.h"

struct pe_http; /* opaque */

struct pe_http_opts {
    const char *base_url; /* no trailing slash */
    long timeout_ms;
    long connect_timeout_ms;
    const char *ca_file;     /* NULL: system store */
    const char *client_cert; /* mutual TLS; NULL: none */
    const char *client_key;
    bool insecure;            /* skip TLS verification */
    const char *api_key;      /* x-api-key value (a secret); NULL: none */
    const char *basic_auth;   /* "user:password" (a secret); NULL: none */
    const char *sigv4_region; /* SigV4 signing when not NULL */
    const char *sigv4_service;
    const char *aws_access_key_id; /* secrets, for SigV4 */
    const char *aws_secret_access_key;
    const char *aws_session_token; /* NULL: none */
    /* The backend's own headers first, then the user's extra ones. */
    const char *const *post_headers; /* for sending */
    size_t n_post_headers;
    const char *const *get_headers; /* for listing */
    size_t n_get_headers;
    const char *const *headers; /* extra "Name: value" headers */
    size_t n_headers;
    /* When not NULL and *abort_flag >= 2, a transfer in progress stops at
     * once (a second SIGINT/SIGTERM). */
    const volatile sig_atomic_t *abort_flag;
};

/* Call once before any thread starts (wraps curl_global_init). */
enum pe_status pe_http_global_init(struct pe_error *err);
void pe_http_global_cleanup(void);

/* The options are copied; secrets are wiped when freed. */
struct pe_http *pe_http_new(const struct pe_http_opts *o, struct pe_error *err);
void pe_http_free(struct pe_http *h); /* NULL is fine */

/* The answer of a request that got one. */
struct pe_http_answer {
    long status;
    const char *body; /* valid until the next request; may be NULL */
    size_t len;
    int64_t retry_after_ms; /* -1 when absent or unreadable */
};

/* One request to url: a POST of body with the send headers when `list`
 * is false, else with the listing headers (a GET when body is NULL).
 * On a transport failure res->outcome, retriable, maybe_written and
 * message are filled and the status is PE_ERR_PROXY (retriable) or
 * PE_ERR_INTERRUPTED (abort_flag); the message names the URL masked. */
enum pe_status pe_http_request(struct pe_http *h, const char *url, bool list,
                               const char *body, size_t len,
                               struct pe_http_answer *a,
                               struct pe_produce_result *res,
                               struct pe_error *err);

/* A listing request (body NULL: a GET) whose answer must be 200: its
 * body goes to *names.  Otherwise PE_ERR_PROXY, "VERB URL: HTTP n: text"
 * with the URL masked (verb names the request in that message). */
enum pe_status pe_http_list(struct pe_http *h, const char *url,
                            const char *body, const char *verb,
                            struct pe_buf *names, struct pe_error *err);

/* The base URL given to pe_http_new. */
const char *pe_http_base(const struct pe_http *h);

#endif
