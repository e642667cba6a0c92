/* SPDX-License-Identifier: MIT
 * http.c - libcurl for the HTTP sinks: owns the curl handle, its header
 * lists, TLS and auth settings and the secrets they hold.  It must not
 * know what a body or an answer means: the backends (sink_rest.c,
 * sink_kinesis.c) build URLs and bodies and classify the answers. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "conninfo.h"
#include "retry.h"

/* An answer larger than this is not a produce answer; stop reading. */
#define MAX_RESPONSE_BYTES (8u << 20)

struct pe_http {
    CURL *curl;
    char *base;
    struct curl_slist *post_headers;
    struct curl_slist *get_headers;
    struct pe_buf resp;
    char curl_err[CURL_ERROR_SIZE];
    long timeout_ms;
    long connect_timeout_ms;
    char *ca_file;
    char *client_cert;
    char *client_key;
    bool insecure;
    char *userpwd; /* basic auth or SigV4 credentials (a secret) */
    char *sigv4;   /* "aws:amz:<region>:<service>" */
    const volatile sig_atomic_t *abort_flag;
    char retry_after[64]; /* the last answer's Retry-After, or "" */
};

enum pe_status pe_http_global_init(struct pe_error *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return pe_error_set(err, PE_ERR_PROXY, false,
                            "cannot initialise libcurl");
    return PE_OK;
}

void pe_http_global_cleanup(void)
{
    curl_global_cleanup();
}

/* Keeps the Retry-After header of the final answer. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct pe_http *h = arg;
    size_t len = size * n;

    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        h->retry_after[0] = '\0'; /* a new answer (after 100, or a retry) */
    } else if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        size_t v = len - 12;

        if (v >= sizeof(h->retry_after))
            v = sizeof(h->retry_after) - 1;
        memcpy(h->retry_after, p + 12, v);
        h->retry_after[v] = '\0';
        h->retry_after[strcspn(h->retry_after, "\r\n")] = '\0';
    }
    return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    const struct pe_http *h = arg;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return h->abort_flag != NULL &&
           __atomic_load_n(h->abort_flag, __ATOMIC_RELAXED) >= 2;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct pe_buf *b = arg;

    if (pe_buf_append(b, p, size * n) != PE_OK)
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    return size * n;
}

/* Adds "name: value" to both header lists, wiping the temporary copy. */
static void add_secret_header(struct pe_http *h, const char *name,
                              const char *value)
{
    char *line = pe_xasprintf("%s: %s", name, value);

    h->post_headers = curl_slist_append(h->post_headers, line);
    h->get_headers = curl_slist_append(h->get_headers, line);
    explicit_bzero(line, strlen(line));
    free(line);
}

static struct curl_slist *add_all(struct curl_slist *l,
                                  const char *const *lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        l = curl_slist_append(l, lines[i]);
    return l;
}

static void set_headers(struct pe_http *h, const struct pe_http_opts *o)
{
    h->post_headers = add_all(NULL, o->post_headers, o->n_post_headers);
    h->get_headers = add_all(NULL, o->get_headers, o->n_get_headers);
    /* No "Expect: 100-continue": API Gateway does not need the round trip. */
    h->post_headers = curl_slist_append(h->post_headers, "Expect:");
    h->get_headers = curl_slist_append(h->get_headers, "Expect:");
    h->post_headers = add_all(h->post_headers, o->headers, o->n_headers);
    h->get_headers = add_all(h->get_headers, o->headers, o->n_headers);
    if (o->api_key != NULL)
        add_secret_header(h, "x-api-key", o->api_key);
    if (o->sigv4_region != NULL && o->aws_session_token != NULL)
        add_secret_header(h, "x-amz-security-token", o->aws_session_token);
}

struct pe_http *pe_http_new(const struct pe_http_opts *o, struct pe_error *err)
{
    struct pe_http *h = pe_xcalloc(1, sizeof(*h));

    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        pe_error_set(err, PE_ERR_PROXY, false, "cannot create a curl handle");
        pe_http_free(h);
        return NULL;
    }
    h->base = pe_xstrdup(o->base_url);
    h->timeout_ms = o->timeout_ms;
    h->connect_timeout_ms = o->connect_timeout_ms;
    h->ca_file = o->ca_file ? pe_xstrdup(o->ca_file) : NULL;
    h->client_cert = o->client_cert ? pe_xstrdup(o->client_cert) : NULL;
    h->client_key = o->client_key ? pe_xstrdup(o->client_key) : NULL;
    h->insecure = o->insecure;
    h->abort_flag = o->abort_flag;
    if (o->sigv4_region != NULL) {
        h->sigv4 =
            pe_xasprintf("aws:amz:%s:%s", o->sigv4_region,
                         o->sigv4_service ? o->sigv4_service : "execute-api");
        h->userpwd = pe_xasprintf("%s:%s", o->aws_access_key_id,
                                  o->aws_secret_access_key);
    } else if (o->basic_auth != NULL) {
        h->userpwd = pe_xstrdup(o->basic_auth);
    }
    pe_buf_init(&h->resp, MAX_RESPONSE_BYTES);
    set_headers(h, o);
    return h;
}

void pe_http_free(struct pe_http *h)
{
    if (h == NULL)
        return;
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->post_headers);
    curl_slist_free_all(h->get_headers);
    pe_buf_cleanup(&h->resp);
    free(h->base);
    free(h->ca_file);
    free(h->client_cert);
    free(h->client_key);
    if (h->userpwd != NULL)
        explicit_bzero(h->userpwd, strlen(h->userpwd));
    free(h->userpwd);
    free(h->sigv4);
    free(h);
}

const char *pe_http_base(const struct pe_http *h)
{
    return h->base;
}

/* Options every request shares; the handle keeps its connection cache. */
static void common_opts(struct pe_http *h, const char *url)
{
    CURL *c = h->curl;

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->insecure ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->insecure ? 0L : 2L);
    if (h->ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
    if (h->client_cert != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, h->client_cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, h->client_key);
    }
    if (h->sigv4 != NULL) {
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, h->sigv4);
        curl_easy_setopt(c, CURLOPT_USERPWD, h->userpwd);
    } else if (h->userpwd != NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, h->userpwd);
    }
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "pinemit/" PINEMIT_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &h->resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    /* Each handle (one per request in flight) keeps an upload buffer of
     * 64 KiB by default; the smallest, 16 KiB, sends a body of hundreds
     * of KiB as well (docs/performance.md, peak memory). */
    curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
    h->curl_err[0] = '\0';
    h->retry_after[0] = '\0';
    pe_buf_reset(&h->resp);
}

/* A transport failure.  Before the request left (no connection) nothing
 * can have been written; after it, the outcome is unknown.  Both may be
 * resent: at-least-once is the contract.  The URL, and whatever libcurl
 * quotes of it, are shown with the user info's password masked. */
static enum pe_status transport_error(struct pe_http *h, CURLcode rc,
                                      const char *what,
                                      struct pe_produce_result *res,
                                      struct pe_error *err)
{
    char *m = pe_url_mask_message(
        h->base, h->curl_err[0] ? h->curl_err : curl_easy_strerror(rc));
    char *shown = pe_url_mask_message(h->base, what);
    enum pe_status st;

    res->outcome = PE_OUT_HTTP_ERROR;
    res->retriable = true;
    res->maybe_written =
        !(rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
          rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_SSL_CONNECT_ERROR);
    snprintf(res->message, sizeof(res->message), "%s", m);
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        st = pe_error_set(err, PE_ERR_INTERRUPTED, false,
                          "%s: transfer abandoned on a second signal", shown);
    else
        st = pe_error_set(err, PE_ERR_PROXY, true, "%s: %s", shown,
                          res->message);
    free(shown);
    free(m);
    return st;
}

enum pe_status pe_http_request(struct pe_http *h, const char *url, bool list,
                               const char *body, size_t len,
                               struct pe_http_answer *a,
                               struct pe_produce_result *res,
                               struct pe_error *err)
{
    CURLcode rc;
    int64_t ms;

    memset(a, 0, sizeof(*a));
    a->retry_after_ms = -1;
    common_opts(h, url);
    if (body != NULL) {
        curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER,
                     list ? h->get_headers : h->post_headers);
    rc = curl_easy_perform(h->curl);
    if (rc != CURLE_OK)
        return transport_error(h, rc, url, res, err);
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &a->status);
    a->body = h->resp.data;
    a->len = h->resp.len;
    if (h->retry_after[0] != '\0' &&
        pe_retry_after_parse(h->retry_after, pe_now_wall_ms() / 1000, &ms) ==
            PE_OK)
        a->retry_after_ms = ms;
    return PE_OK;
}

enum pe_status pe_http_list(struct pe_http *h, const char *url,
                            const char *body, const char *verb,
                            struct pe_buf *names, struct pe_error *err)
{
    struct pe_produce_result ignored;
    struct pe_http_answer a;
    enum pe_status st;

    st = pe_http_request(h, url, true, body, body ? strlen(body) : 0, &a,
                         &ignored, err);
    if (st != PE_OK)
        return st;
    if (a.status != 200) {
        char ex[200], *shown = pe_url_mask(url);

        pe_response_excerpt(a.body, a.len, ex, sizeof(ex));
        st = pe_error_set(err, PE_ERR_PROXY, false, "%s %s: HTTP %ld: %s", verb,
                          shown, a.status, ex);
        free(shown);
        return st;
    }
    pe_buf_reset(names);
    pe_buf_append(names, a.body ? a.body : "", a.len);
    return PE_OK;
}
