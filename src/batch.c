/* SPDX-License-Identifier: MIT
 * batch.c - request bodies under both limits, by construction.
 *
 * The records are kept as the body of the whole batch is sent: the frame's
 * head, then the records joined by commas (recs).  The whole body is then
 * recs plus the tail, appended when asked and taken off again before the
 * next change, so the common request, every record in order, costs no
 * second copy; only a subset (resends, 413 halves) is built apart, in
 * body. */
#include "batch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char rest_head[] = "{\"records\":[";
static const char rest_tail[] = "]}";
#define HEAD(b) ((b)->head ? (b)->head : rest_head)
#define TAIL(b) ((b)->tail ? (b)->tail : rest_tail)

void pe_batch_init(struct pe_batch *b, size_t max_records, size_t max_bytes)
{
    memset(b, 0, sizeof(*b));
    b->max_records = max_records;
    b->max_bytes = max_bytes;
    pe_buf_init(&b->body, 0);
    pe_buf_init(&b->recs, 0);
    pe_buf_init(&b->keys, 0);
    b->rec_off = pe_xcalloc(max_records + 1, sizeof(size_t));
    b->key_off = pe_xcalloc(max_records, sizeof(size_t));
    pe_batch_reset(b);
}

void pe_batch_cleanup(struct pe_batch *b)
{
    if (b == NULL)
        return;
    pe_buf_cleanup(&b->body);
    pe_buf_cleanup(&b->recs);
    pe_buf_cleanup(&b->keys);
    free(b->rec_off);
    free(b->key_off);
    free(b->head);
    b->head = NULL;
    b->rec_off = b->key_off = NULL;
    b->n = 0;
}

void pe_batch_set_frame(struct pe_batch *b, const char *head, const char *tail)
{
    if (b->n != 0)
        return;
    free(b->head);
    b->head = pe_xstrdup(head);
    b->tail = tail;
    pe_batch_reset(b);
}

void pe_batch_count_sizes(struct pe_batch *b)
{
    if (b->n != 0)
        return;
    b->sized = 1;
    pe_batch_reset(b);
}

/* The bytes the frame counts against max_bytes. */
static size_t frame_bytes(const struct pe_batch *b)
{
    return b->sized ? 0 : strlen(HEAD(b)) + strlen(TAIL(b));
}

/* Takes off the tail pe_batch_build appended to recs. */
static void untail(struct pe_batch *b)
{
    if (b->tailed != 0)
        pe_buf_truncate(&b->recs, b->recs.len - b->tailed);
    b->tailed = 0;
}

void pe_batch_reset(struct pe_batch *b)
{
    pe_buf_reset(&b->recs);
    pe_buf_puts(&b->recs, HEAD(b));
    b->tailed = 0;
    pe_buf_reset(&b->keys);
    b->n = 0;
    b->body_bytes = frame_bytes(b);
}

int pe_batch_fits_alone(const struct pe_batch *b, size_t record_len)
{
    size_t frame = frame_bytes(b);

    return record_len <= b->max_bytes && frame <= b->max_bytes - record_len;
}

size_t pe_batch_single_size(size_t record_len)
{
    /* The REST frame; a Kinesis one is checked by the caller. */
    return sizeof(rest_head) - 1 + record_len + sizeof(rest_tail) - 1;
}

enum pe_status pe_batch_add(struct pe_batch *b, const char *rec, size_t len,
                            const char *key)
{
    return pe_batch_add_sized(b, rec, len, len, key);
}

enum pe_status pe_batch_add_sized(struct pe_batch *b, const char *rec,
                                  size_t len, size_t size, const char *key)
{
    /* The comma, unless only the sizes count. */
    size_t grow = b->sized ? size : len + (b->n > 0 ? 1 : 0);

    if (b->n >= b->max_records || grow > b->max_bytes ||
        b->body_bytes > b->max_bytes - grow)
        return PE_ERR_TOO_LARGE;
    untail(b);
    b->key_off[b->n] = b->keys.len;
    pe_buf_append(&b->keys, key, strlen(key) + 1);
    if (b->n > 0)
        pe_buf_append(&b->recs, ",", 1);
    b->rec_off[b->n] = b->recs.len;
    pe_buf_append(&b->recs, rec, len);
    b->n++;
    b->rec_off[b->n] = b->recs.len;
    b->body_bytes += grow;
    return PE_OK;
}

const char *pe_batch_record(const struct pe_batch *b, size_t i, size_t *len)
{
    if (i >= b->n)
        return NULL;
    /* rec_off[i + 1] is where record i ends (the next starts after the
     * comma). */
    *len = b->rec_off[i + 1] - b->rec_off[i] - (i + 1 < b->n ? 1 : 0);
    return b->recs.data + b->rec_off[i];
}

const char *pe_batch_key(const struct pe_batch *b, size_t i)
{
    return i < b->n ? b->keys.data + b->key_off[i] : NULL;
}

/* Are idx[0..n) every record in order? */
static bool all_in_order(const struct pe_batch *b, const size_t *idx, size_t n)
{
    if (n != b->n)
        return false;
    for (size_t j = 0; idx != NULL && j < n; j++)
        if (idx[j] != j)
            return false;
    return true;
}

const char *pe_batch_build(struct pe_batch *b, const size_t *idx, size_t n,
                           size_t *len)
{
    if (all_in_order(b, idx, n)) {
        if (b->tailed == 0) {
            b->tailed = strlen(TAIL(b));
            pe_buf_puts(&b->recs, TAIL(b));
        }
        *len = b->recs.len;
        return b->recs.data;
    }
    pe_buf_reset(&b->body);
    pe_buf_puts(&b->body, HEAD(b));
    for (size_t j = 0; j < n; j++) {
        size_t rl = 0;
        const char *r = pe_batch_record(b, idx ? idx[j] : j, &rl);

        if (j > 0)
            pe_buf_append(&b->body, ",", 1);
        pe_buf_append(&b->body, r, rl);
    }
    pe_buf_puts(&b->body, TAIL(b));
    *len = b->body.len;
    return b->body.data;
}

const char *pe_batch_finish(struct pe_batch *b, size_t *len)
{
    return pe_batch_build(b, NULL, b->n, len);
}
