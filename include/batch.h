/* SPDX-License-Identifier: MIT
 * batch.h - packs encoded records into one REST v2 request body,
 * {"records":[r1,r2,...]}, never over max_records or max_bytes. */
#ifndef PINEMIT_BATCH_H
#define PINEMIT_BATCH_H

#include <stddef.h>

#include "util.h"

struct pe_batch {
    struct pe_buf body; /* "{\"records\":[" r1 "," r2 ... (open) */
    size_t n;           /* records in the body */
    size_t max_records;
    size_t max_bytes; /* of the finished body, "]}" included */
    char *first_key;  /* key of the first and last record added (owned) */
    char *last_key;
};

void pe_batch_init(struct pe_batch *b, size_t max_records, size_t max_bytes);
void pe_batch_cleanup(struct pe_batch *b);
/* Empties the batch for reuse. */
void pe_batch_reset(struct pe_batch *b);

/* Adds one encoded record.  PE_ERR_TOO_LARGE and the batch unchanged when
 * it does not fit: send the batch, reset it and add again.  When the batch
 * is empty, PE_ERR_TOO_LARGE means the record alone exceeds max_bytes. */
enum pe_status pe_batch_add(struct pe_batch *b, const char *rec, size_t len,
                            const char *key);
/* Closes the body ("]}") and returns it; valid until the next reset. */
const char *pe_batch_finish(struct pe_batch *b, size_t *len);
/* Bytes a body holding only this record would take. */
size_t pe_batch_single_size(size_t record_len);

#endif
