/* SPDX-License-Identifier: MIT
 * sink_kinesis.c - the Kinesis Data Streams backend: a record is
 * {"Data":"<base64 of the row's value>","PartitionKey":...}, a batch a
 * PutRecords request {"StreamName":...,"Records":[...]} POSTed to the
 * endpoint and signed with SigV4 for "kinesis"; its limits (1 MiB of data
 * plus key, 1 to 256 characters of partition key) are counted here.  It
 * owns its http handle; it must not know another backend or the dry run. */
#include "sink_kinesis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define KINESIS_RECORD_MAX 1048576

static const char *const post_headers[] = {
    "Content-Type: application/x-amz-json-1.1",
    "X-Amz-Target: Kinesis_20131202.PutRecords"};
/* Listing is ListStreams, a POST too. */
static const char *const get_headers[] = {
    "Content-Type: application/x-amz-json-1.1",
    "X-Amz-Target: Kinesis_20131202.ListStreams"};

static enum pe_status kinesis_open(struct pe_sink *s, const struct pe_config *c,
                                   struct pe_error *err)
{
    struct pe_sink_http_spec spec = {
        c->sink.region, "kinesis", "sink.kind = kinesis", post_headers, 2,
        get_headers,    2};

    return pe_sink_http_open(s, c, &spec, err);
}

/* {"StreamName":"<stream>","Records":[ ... ]}, whose batch.max_bytes
 * counts what Kinesis counts: data before base64, plus the partition
 * keys (alone when stream is NULL). */
static void kinesis_frame(struct pe_batch *b, const char *stream)
{
    struct pe_buf head;

    pe_batch_count_sizes(b);
    if (stream == NULL)
        return;
    pe_buf_init(&head, 0);
    pe_buf_puts(&head, "{\"StreamName\":");
    pe_buf_json_string(&head, stream);
    pe_buf_puts(&head, ",\"Records\":[");
    pe_batch_set_frame(b, head.data, "]}");
    pe_buf_cleanup(&head);
}

/* The partition key is the message_key column, else the row key; the
 * size counted is the data plus the partition key. */
static enum pe_status kinesis_entry(struct pe_sink *s,
                                    const struct pe_sink_row *row,
                                    struct pe_buf *rec, size_t *counted,
                                    char *why, size_t why_len,
                                    struct pe_error *err)
{
    const char *const *values = row->values;
    const char *pk = row->key_col >= 0 && values[row->key_col] != NULL &&
                             values[row->key_col][0] != '\0'
                         ? values[row->key_col]
                         : row->key;
    struct pe_buf *value = &s->scratch;
    size_t chars = 0;
    enum pe_status st;

    pe_buf_reset(value);
    pe_buf_reset(rec);
    *counted = 0;
    if ((st = pe_encode_value(row->cols, row->n_cols, values, value, err)) !=
        PE_OK)
        return st;
    pe_buf_puts(rec, "{\"Data\":\"");
    pe_buf_base64(rec, value->data, value->len);
    pe_buf_puts(rec, "\",\"PartitionKey\":");
    pe_buf_json_string(rec, pk);
    pe_buf_puts(rec, "}");
    *counted = value->len + strlen(pk);
    /* Kinesis wants 1 to 256 Unicode characters. */
    for (const unsigned char *p = (const unsigned char *)pk; *p; p++)
        chars += (*p & 0xc0) != 0x80;
    if (chars == 0 || chars > 256)
        snprintf(why, why_len,
                 "partition key of %zu characters: Kinesis takes 1 to 256",
                 chars);
    return PE_OK;
}

static size_t kinesis_record_limit(size_t configured, const char **what)
{
    *what = "sink.max_record_bytes";
    if (configured > KINESIS_RECORD_MAX) {
        *what = "Kinesis' record limit";
        return KINESIS_RECORD_MAX;
    }
    return configured;
}

static enum pe_status
kinesis_send(struct pe_sink *s, const char *topic, const char *body, size_t len,
             size_t n_records, struct pe_record_status *per,
             struct pe_produce_result *res, struct pe_error *err)
{
    char *url = pe_xasprintf("%s/", pe_http_base(s->impl));
    enum pe_status st =
        pe_sink_http_send(s->impl, url, topic, body, len, n_records, per, res,
                          pe_kinesis_classify, err);

    free(url);
    return st;
}

static enum pe_status kinesis_list(struct pe_sink *s, struct pe_buf *names,
                                   struct pe_error *err)
{
    char *url = pe_xasprintf("%s/", pe_http_base(s->impl));
    enum pe_status st =
        pe_http_list(s->impl, url, "{}", "ListStreams", names, err);

    free(url);
    return st;
}

const struct pe_sink_ops pe_sink_kinesis_ops = {
    .name = "kinesis",
    .open = kinesis_open,
    .frame = kinesis_frame,
    .encode = kinesis_entry,
    .record_limit = kinesis_record_limit,
    .dlq_format = PE_DLQ_KINESIS,
    .delivers = true,
    .send = kinesis_send,
    .list_topics = kinesis_list,
    .close = pe_sink_http_close,
};
