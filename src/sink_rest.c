/* SPDX-License-Identifier: MIT
 * sink_rest.c - the Kafka REST proxy v2 backend: a record is the row's
 * JSON, a batch is {"records":[...]} (the batch's default frame), POSTed
 * to {invoke_url}/topics/{topic}, its answer read by response.c.  It owns
 * its http handle; it must not know another backend or the dry run. */
#include "sink_rest.h"

#include <stdlib.h>

#include "http.h"

static const char *const post_headers[] = {
    "Content-Type: application/vnd.kafka.json.v2+json",
    "Accept: application/vnd.kafka.v2+json"};
static const char *const get_headers[] = {
    "Accept: application/vnd.kafka.v2+json"};

static enum pe_status rest_open(struct pe_sink *s, const struct pe_config *c,
                                struct pe_error *err)
{
    struct pe_sink_http_spec spec = {c->sink.sigv4_region,
                                     c->sink.sigv4_service,
                                     "sink.aws_sigv4",
                                     post_headers,
                                     2,
                                     get_headers,
                                     1};

    return pe_sink_http_open(s, c, &spec, err);
}

static void rest_frame(struct pe_batch *b, const char *topic)
{
    (void)b; /* the batch's own frame is the REST one */
    (void)topic;
}

static enum pe_status rest_encode(struct pe_sink *s,
                                  const struct pe_sink_row *row,
                                  struct pe_buf *rec, size_t *counted,
                                  char *why, size_t why_len,
                                  struct pe_error *err)
{
    enum pe_status st;

    (void)s;
    (void)why;
    (void)why_len;
    pe_buf_reset(rec);
    st = pe_encode_record_keyed(row->cols, row->n_cols, row->values,
                                row->key_col, rec, err);
    *counted = rec->len;
    return st;
}

static size_t rest_record_limit(size_t configured, const char **what)
{
    *what = "sink.max_record_bytes";
    return configured;
}

static enum pe_status rest_send(struct pe_sink *s, const char *topic,
                                const char *body, size_t len, size_t n_records,
                                struct pe_record_status *per,
                                struct pe_produce_result *res,
                                struct pe_error *err)
{
    char *url = pe_xasprintf("%s/topics/%s", pe_http_base(s->impl), topic);
    enum pe_status st =
        pe_sink_http_send(s->impl, url, topic, body, len, n_records, per, res,
                          pe_response_classify_records, err);

    free(url);
    return st;
}

static enum pe_status rest_list(struct pe_sink *s, struct pe_buf *names,
                                struct pe_error *err)
{
    char *url = pe_xasprintf("%s/topics", pe_http_base(s->impl));
    enum pe_status st = pe_http_list(s->impl, url, NULL, "GET", names, err);

    free(url);
    return st;
}

const struct pe_sink_ops pe_sink_rest_ops = {
    .name = "rest_proxy",
    .open = rest_open,
    .frame = rest_frame,
    .encode = rest_encode,
    .record_limit = rest_record_limit,
    .dlq_format = PE_DLQ_REST,
    .delivers = true,
    .send = rest_send,
    .list_topics = rest_list,
    .close = pe_sink_http_close,
};
