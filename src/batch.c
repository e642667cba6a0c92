/* SPDX-License-Identifier: MIT
 * batch.c - request bodies under both limits, by construction. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

static const char head[] = "{\"records\":[";
static const char tail[] = "]}";
#define HEAD_LEN (sizeof(head) - 1)
#define TAIL_LEN (sizeof(tail) - 1)

void pe_batch_init(struct pe_batch *b, size_t max_records, size_t max_bytes)
{
    memset(b, 0, sizeof(*b));
    b->max_records = max_records;
    b->max_bytes = max_bytes;
    /* The cap keeps room for the tail, so finishing never fails. */
    pe_buf_init(&b->body, max_bytes > TAIL_LEN ? max_bytes - TAIL_LEN : 1);
    pe_batch_reset(b);
}

void pe_batch_cleanup(struct pe_batch *b)
{
    if (b == NULL)
        return;
    pe_buf_cleanup(&b->body);
    free(b->first_key);
    free(b->last_key);
    b->first_key = b->last_key = NULL;
    b->n = 0;
}

void pe_batch_reset(struct pe_batch *b)
{
    pe_buf_reset(&b->body);
    (void)pe_buf_append(&b->body, head, HEAD_LEN);
    b->n = 0;
    free(b->first_key);
    free(b->last_key);
    b->first_key = b->last_key = NULL;
}

size_t pe_batch_single_size(size_t record_len)
{
    return HEAD_LEN + record_len + TAIL_LEN;
}

enum pe_status pe_batch_add(struct pe_batch *b, const char *rec, size_t len,
                            const char *key)
{
    size_t mark = b->body.len;

    if (b->n >= b->max_records)
        return PE_ERR_TOO_LARGE;
    if ((b->n > 0 && pe_buf_append(&b->body, ",", 1) != PE_OK) ||
        pe_buf_append(&b->body, rec, len) != PE_OK) {
        pe_buf_truncate(&b->body, mark);
        return PE_ERR_TOO_LARGE;
    }
    if (b->n == 0)
        b->first_key = pe_xstrdup(key);
    free(b->last_key);
    b->last_key = pe_xstrdup(key);
    b->n++;
    return PE_OK;
}

const char *pe_batch_finish(struct pe_batch *b, size_t *len)
{
    /* Lift the cap for the tail only: the cap reserved room for it. */
    size_t cap = b->body.cap;

    b->body.cap = 0;
    (void)pe_buf_append(&b->body, tail, TAIL_LEN);
    b->body.cap = cap;
    *len = b->body.len;
    return b->body.data;
}
