/* SPDX-License-Identifier: MIT
 * batch.h - packs encoded records for one REST v2 request,
 * {"records":[r1,r2,...]}, never over max_records or max_bytes.  Records
 * are kept apart so that a subset (the ones to resend, half of a batch the
 * gateway found too large) can be sent again. */
#ifndef PINEMIT_BATCH_H
#define PINEMIT_BATCH_H

#include <stddef.h>

#include "util.h"

struct pe_batch {
    struct pe_buf body; /* a subset's body, built by pe_batch_build */
    struct pe_buf recs; /* the head, then the records joined by commas
                           (and the tail, when tailed) */
    size_t tailed;      /* bytes of the tail now at the end of recs */
    struct pe_buf keys; /* their keys, each NUL-terminated */
    size_t *rec_off;    /* n + 1 offsets into recs */
    size_t *key_off;    /* n offsets into keys */
    size_t n;           /* records held */
    size_t max_records;
    size_t max_bytes;  /* of a body holding every record (or see
                          pe_batch_count_sizes) */
    size_t body_bytes; /* what that body would take now: what counts */
    int sized;         /* pe_batch_count_sizes was called */
    char *head;        /* opens the body; NULL: the REST v2 one */
    const char *tail;
};

void pe_batch_init(struct pe_batch *b, size_t max_records, size_t max_bytes);
/* Replaces what opens the body ({"records":[ by default) and its
 * closing; only while the batch is empty.  head is copied. */
void pe_batch_set_frame(struct pe_batch *b, const char *head,
                        const char *tail);
/* Kinesis limits a request by its records' data as sent before base64
 * (plus their partition keys), not by the JSON text: from now on max_bytes
 * bounds the sum of the sizes given to pe_batch_add_sized, and the frame
 * and the commas count nothing.  Only while the batch is empty. */
void pe_batch_count_sizes(struct pe_batch *b);
void pe_batch_cleanup(struct pe_batch *b);
/* Empties the batch for reuse. */
void pe_batch_reset(struct pe_batch *b);

/* Adds one encoded record.  PE_ERR_TOO_LARGE and the batch unchanged when
 * it does not fit: send the batch, reset it and add again.  When the batch
 * is empty, PE_ERR_TOO_LARGE means the record alone exceeds max_bytes. */
enum pe_status pe_batch_add(struct pe_batch *b, const char *rec, size_t len,
                            const char *key);
/* The same, with the size max_bytes counts for the record (its len unless
 * pe_batch_count_sizes was called). */
enum pe_status pe_batch_add_sized(struct pe_batch *b, const char *rec,
                                  size_t len, size_t size, const char *key);
/* The body holding every record; valid until the next call on b.  It is
 * the batch's own storage, not a copy. */
const char *pe_batch_finish(struct pe_batch *b, size_t *len);
/* The body holding records idx[0..n) in that order (idx NULL: records
 * 0..n), into b->body. */
const char *pe_batch_build(struct pe_batch *b, const size_t *idx, size_t n,
                           size_t *len);
/* Record i's bytes and key (NULL when i >= n). */
const char *pe_batch_record(const struct pe_batch *b, size_t i, size_t *len);
const char *pe_batch_key(const struct pe_batch *b, size_t i);
/* Would a body of this batch's frame holding only this record fit?
 * record_len is the size that counts (see pe_batch_count_sizes). */
int pe_batch_fits_alone(const struct pe_batch *b, size_t record_len);
/* Bytes a REST v2 body holding only this record would take. */
size_t pe_batch_single_size(size_t record_len);

#endif
