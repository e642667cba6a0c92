/* SPDX-License-Identifier: MIT
 * response.h - classify a REST proxy answer by its status and body shape.
 * The proxy answers a produce with an offsets body, one entry per record
 * in order (200; 401/403 when an entry failed authentication or
 * authorisation), and its errors with {"error_code","message"}; API
 * Gateway's own errors carry {"message"} alone; anything else (HTML,
 * text, an empty body) is judged by its status.  Pure: no network. */
#ifndef PINEMIT_RESPONSE_H
#define PINEMIT_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pe_outcome {
    PE_OUT_OK = 0,        /* 200, one offsets entry per record, no errors */
    PE_OUT_RECORD_ERRORS, /* offsets body with per-record error_code(s) */
    PE_OUT_PROXY_ERROR,   /* {"error_code":..,"message":..} */
    PE_OUT_GATEWAY_ERROR, /* API Gateway's {"message":..} */
    PE_OUT_BAD_RESPONSE,  /* 2xx that is not a valid produce answer */
    PE_OUT_HTTP_ERROR     /* any other non-2xx body (HTML, text, empty) */
};

/* What the sink learnt from one produce request. */
struct pe_produce_result {
    enum pe_outcome outcome;
    long http_status;
    bool retriable;     /* resending (all or the failed records) may work */
    bool maybe_written; /* some records may have reached Kafka anyway */
    size_t n_failed;    /* records with a per-record error */
    size_t first_failed;
    long error_code; /* proxy error_code, first per-record code, or 0 */
    int64_t retry_after_ms; /* from a Retry-After header; -1 when absent */
    char message[256];
};

/* One record's fate in an offsets body. */
struct pe_record_status {
    long code;     /* 0 acknowledged; the per-record error_code (1 and 2
                      read as 50002 and 50003); -1 neither offset nor code */
    char *message; /* the record's error text (owned), or NULL */
};

/* True when body is an answer that acknowledges each of n_records records
 * (an "offsets" array of that length, each entry with an integer offset
 * and no error_code), recognised by a strict scan that builds no tree.
 * False means "ask cJSON": the classifiers below use it as a fast path. */
bool pe_response_all_acked(const char *body, size_t len, size_t n_records);

/* Fills *r from an HTTP answer to a produce of n_records records. */
void pe_response_classify(long http_status, const char *body, size_t len,
                          size_t n_records, struct pe_produce_result *r);
/* The same, and when per is not NULL (n_records entries) each record's
 * status for an offsets body of the right length; otherwise per is left
 * all acknowledged = 0 only if r->outcome is PE_OUT_OK.  Free the messages
 * with pe_record_status_clear. */
void pe_response_classify_records(long http_status, const char *body,
                                  size_t len, size_t n_records,
                                  struct pe_record_status *per,
                                  struct pe_produce_result *r);
void pe_record_status_clear(struct pe_record_status *per, size_t n);
/* The same for a Kinesis PutRecords answer: per-record
 * ProvisionedThroughputExceededException and InternalFailure read as
 * 50003 (resend), any other ErrorCode as 50002 (dead letter); request
 * errors by their __type. */
void pe_kinesis_classify(long http_status, const char *body, size_t len,
                         size_t n_records, struct pe_record_status *per,
                         struct pe_produce_result *r);
/* Outcome as a word, for messages. */
const char *pe_outcome_name(enum pe_outcome o);
/* A one-line printable excerpt of an arbitrary body (at most max bytes). */
void pe_response_excerpt(const char *body, size_t len, char *out, size_t max);

#endif
