/* SPDX-License-Identifier: MIT
 * sink_http.c - libcurl transport for the REST v2 produce API. */
#include "sink_http.h"

#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "conninfo.h"
#include "retry.h"

/* An answer larger than this is not a produce answer; stop reading. */
#define MAX_RESPONSE_BYTES (8u << 20)

struct pe_sink {
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
    bool kinesis;
    char retry_after[64]; /* the last answer's Retry-After, or "" */
};

enum pe_status pe_sink_global_init(struct pe_error *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return pe_error_set(err, PE_ERR_PROXY, false,
                            "cannot initialise libcurl");
    return PE_OK;
}

void pe_sink_global_cleanup(void)
{
    curl_global_cleanup();
}

/* Keeps the Retry-After header of the final answer. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct pe_sink *s = arg;
    size_t len = size * n;

    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        s->retry_after[0] = '\0'; /* a new answer (after 100, or a retry) */
    } else if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        size_t v = len - 12;

        if (v >= sizeof(s->retry_after))
            v = sizeof(s->retry_after) - 1;
        memcpy(s->retry_after, p + 12, v);
        s->retry_after[v] = '\0';
        s->retry_after[strcspn(s->retry_after, "\r\n")] = '\0';
    }
    return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    const struct pe_sink *s = arg;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return s->abort_flag != NULL &&
           __atomic_load_n(s->abort_flag, __ATOMIC_RELAXED) >= 2;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct pe_buf *b = arg;

    if (pe_buf_append(b, p, size * n) != PE_OK)
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    return size * n;
}

/* Adds "name: value" to both header lists, wiping the temporary copy. */
static void add_secret_header(struct pe_sink *s, const char *name,
                              const char *value)
{
    char *h = pe_xasprintf("%s: %s", name, value);

    s->post_headers = curl_slist_append(s->post_headers, h);
    s->get_headers = curl_slist_append(s->get_headers, h);
    explicit_bzero(h, strlen(h));
    free(h);
}

struct pe_sink *pe_sink_new(const struct pe_sink_opts *o, struct pe_error *err)
{
    struct pe_sink *s = pe_xcalloc(1, sizeof(*s));

    s->curl = curl_easy_init();
    if (s->curl == NULL) {
        pe_error_set(err, PE_ERR_PROXY, false, "cannot create a curl handle");
        pe_sink_free(s);
        return NULL;
    }
    s->base = pe_xstrdup(o->invoke_url);
    s->timeout_ms = o->timeout_ms;
    s->connect_timeout_ms = o->connect_timeout_ms;
    s->ca_file = o->ca_file ? pe_xstrdup(o->ca_file) : NULL;
    s->client_cert = o->client_cert ? pe_xstrdup(o->client_cert) : NULL;
    s->client_key = o->client_key ? pe_xstrdup(o->client_key) : NULL;
    s->insecure = o->insecure;
    s->abort_flag = o->abort_flag;
    if (o->sigv4_region != NULL) {
        s->sigv4 = pe_xasprintf("aws:amz:%s:%s", o->sigv4_region,
                                o->sigv4_service ? o->sigv4_service
                                                 : "execute-api");
        s->userpwd = pe_xasprintf("%s:%s", o->aws_access_key_id,
                                  o->aws_secret_access_key);
    } else if (o->basic_auth != NULL) {
        s->userpwd = pe_xstrdup(o->basic_auth);
    }
    pe_buf_init(&s->resp, MAX_RESPONSE_BYTES);
    s->kinesis = o->kinesis;
    if (s->kinesis) {
        /* get_headers serve ListStreams, a POST too. */
        s->post_headers = curl_slist_append(
            NULL, "Content-Type: application/x-amz-json-1.1");
        s->post_headers = curl_slist_append(
            s->post_headers, "X-Amz-Target: Kinesis_20131202.PutRecords");
        s->get_headers = curl_slist_append(
            NULL, "Content-Type: application/x-amz-json-1.1");
        s->get_headers = curl_slist_append(
            s->get_headers, "X-Amz-Target: Kinesis_20131202.ListStreams");
    } else {
        s->post_headers = curl_slist_append(
            NULL, "Content-Type: application/vnd.kafka.json.v2+json");
        s->post_headers = curl_slist_append(
            s->post_headers, "Accept: application/vnd.kafka.v2+json");
        s->get_headers =
            curl_slist_append(NULL, "Accept: application/vnd.kafka.v2+json");
    }
    /* No "Expect: 100-continue": API Gateway does not need the round trip. */
    s->post_headers = curl_slist_append(s->post_headers, "Expect:");
    s->get_headers = curl_slist_append(s->get_headers, "Expect:");
    for (size_t i = 0; i < o->n_headers; i++) {
        s->post_headers = curl_slist_append(s->post_headers, o->headers[i]);
        s->get_headers = curl_slist_append(s->get_headers, o->headers[i]);
    }
    if (o->api_key != NULL)
        add_secret_header(s, "x-api-key", o->api_key);
    if (o->sigv4_region != NULL && o->aws_session_token != NULL)
        add_secret_header(s, "x-amz-security-token", o->aws_session_token);
    return s;
}

void pe_sink_free(struct pe_sink *s)
{
    if (s == NULL)
        return;
    if (s->curl != NULL)
        curl_easy_cleanup(s->curl);
    curl_slist_free_all(s->post_headers);
    curl_slist_free_all(s->get_headers);
    pe_buf_cleanup(&s->resp);
    free(s->base);
    free(s->ca_file);
    free(s->client_cert);
    free(s->client_key);
    if (s->userpwd != NULL)
        explicit_bzero(s->userpwd, strlen(s->userpwd));
    free(s->userpwd);
    free(s->sigv4);
    free(s);
}

/* Options every request shares; the handle keeps its connection cache. */
static void common_opts(struct pe_sink *s, const char *url)
{
    CURL *c = s->curl;

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, s->insecure ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, s->insecure ? 0L : 2L);
    if (s->ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    if (s->client_cert != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, s->client_cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, s->client_key);
    }
    if (s->sigv4 != NULL) {
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
        curl_easy_setopt(c, CURLOPT_USERPWD, s->userpwd);
    } else if (s->userpwd != NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, s->userpwd);
    }
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "pinemit/" PINEMIT_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s->resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    s->curl_err[0] = '\0';
    s->retry_after[0] = '\0';
    pe_buf_reset(&s->resp);
}

/* A transport failure.  Before the request left (no connection) nothing
 * can have been written; after it, the outcome is unknown.  Both may be
 * resent: at-least-once is the contract.  The URL, and whatever libcurl
 * quotes of it, are shown with the user info's password masked. */
static enum pe_status transport_error(struct pe_sink *s, CURLcode rc,
                                      const char *what,
                                      struct pe_produce_result *res,
                                      struct pe_error *err)
{
    char *m = pe_url_mask_message(
        s->base, s->curl_err[0] ? s->curl_err : curl_easy_strerror(rc));
    char *shown = pe_url_mask_message(s->base, what);
    enum pe_status st;

    res->outcome = PE_OUT_HTTP_ERROR;
    res->retriable = true;
    res->maybe_written = !(rc == CURLE_COULDNT_CONNECT ||
                           rc == CURLE_COULDNT_RESOLVE_HOST ||
                           rc == CURLE_COULDNT_RESOLVE_PROXY ||
                           rc == CURLE_SSL_CONNECT_ERROR);
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

enum pe_status pe_sink_send(struct pe_sink *s, const char *topic,
                            const char *body, size_t len, size_t n_records,
                            struct pe_record_status *per,
                            struct pe_produce_result *res,
                            struct pe_error *err)
{
    char *url = s->kinesis ? pe_xasprintf("%s/", s->base)
                           : pe_xasprintf("%s/topics/%s", s->base, topic);
    enum pe_status st = PE_OK;
    CURLcode rc;
    long status = 0;

    memset(res, 0, sizeof(*res));
    res->retry_after_ms = -1;
    common_opts(s, url);
    curl_easy_setopt(s->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->post_headers);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    rc = curl_easy_perform(s->curl);
    if (rc != CURLE_OK) {
        st = transport_error(s, rc, url, res, err);
        goto out;
    }
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (s->kinesis)
        pe_kinesis_classify(status, s->resp.data, s->resp.len, n_records, per,
                            res);
    else
        pe_response_classify_records(status, s->resp.data, s->resp.len,
                                     n_records, per, res);
    if (s->retry_after[0] != '\0') {
        int64_t ms;

        if (pe_retry_after_parse(s->retry_after, pe_now_wall_ms() / 1000,
                                 &ms) == PE_OK)
            res->retry_after_ms = ms;
    }
    if (res->outcome == PE_OUT_OK)
        goto out;
    if (res->outcome == PE_OUT_RECORD_ERRORS)
        st = pe_error_set(err, PE_ERR_PROXY, res->retriable,
                          "topic %s: HTTP %ld: %zu of %zu records failed, "
                          "first at index %zu: error_code %ld: %s",
                          topic, status, res->n_failed, n_records,
                          res->first_failed, res->error_code, res->message);
    else if (res->outcome == PE_OUT_PROXY_ERROR)
        st = pe_error_set(err, PE_ERR_PROXY, res->retriable,
                          "topic %s: HTTP %ld: error_code %ld: %s", topic,
                          status, res->error_code, res->message);
    else
        st = pe_error_set(err, PE_ERR_PROXY, res->retriable,
                          "topic %s: HTTP %ld: %s: %s", topic, status,
                          pe_outcome_name(res->outcome), res->message);
out:
    free(url);
    return st;
}

enum pe_status pe_sink_list_topics(struct pe_sink *s, struct pe_buf *names,
                                   struct pe_error *err)
{
    char *url = s->kinesis ? pe_xasprintf("%s/", s->base)
                           : pe_xasprintf("%s/topics", s->base);
    enum pe_status st = PE_OK;
    CURLcode rc;
    long status = 0;

    common_opts(s, url);
    if (s->kinesis) {
        curl_easy_setopt(s->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, "{}");
        curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)2);
    } else {
        curl_easy_setopt(s->curl, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->get_headers);
    rc = curl_easy_perform(s->curl);
    if (rc != CURLE_OK) {
        struct pe_produce_result ignored;

        st = transport_error(s, rc, url, &ignored, err);
        goto out;
    }
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        char ex[200], *shown = pe_url_mask(url);

        pe_response_excerpt(s->resp.data, s->resp.len, ex, sizeof(ex));
        st = pe_error_set(err, PE_ERR_PROXY, false, "%s %s: HTTP %ld: %s",
                          s->kinesis ? "ListStreams" : "GET", shown, status,
                          ex);
        free(shown);
        goto out;
    }
    pe_buf_reset(names);
    pe_buf_append(names, s->resp.data ? s->resp.data : "", s->resp.len);
out:
    free(url);
    return st;
}
