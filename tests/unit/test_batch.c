/* SPDX-License-Identifier: MIT
 * test_batch.c - request bodies under max_records and max_bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cJSON.h>

#include "batch.h"

#define EMPTY_BODY "{\"records\":[]}"

static enum pe_status add_str(struct pe_batch *b, const char *rec,
                              const char *key)
{
    return pe_batch_add(b, rec, strlen(rec), key);
}

/* A record of exactly `len` bytes: {"v":"xxx..."} (len >= 8). */
static char *record_of_len(size_t len)
{
    char *r = pe_xmalloc(len + 1);

    assert_true(len >= 8);
    memcpy(r, "{\"v\":\"", 6);
    memset(r + 6, 'x', len - 8);
    memcpy(r + len - 2, "\"}", 3);
    return r;
}

static void body_shape(void **state)
{
    struct pe_batch b;
    size_t len = 0;
    const char *body;

    (void)state;
    pe_batch_init(&b, 10, 1000);
    assert_int_equal(b.n, 0);
    assert_int_equal(add_str(&b, "{\"value\":{\"id\":1}}", "1"), PE_OK);
    assert_int_equal(add_str(&b, "{\"value\":{\"id\":2}}", "2"), PE_OK);
    assert_int_equal(b.n, 2);
    body = pe_batch_finish(&b, &len);
    assert_string_equal(body, "{\"records\":[{\"value\":{\"id\":1}},"
                              "{\"value\":{\"id\":2}}]}");
    assert_int_equal(len, strlen(body));
    pe_batch_cleanup(&b);
}

static void single_record_body(void **state)
{
    struct pe_batch b;
    size_t len = 0;

    (void)state;
    pe_batch_init(&b, 1, 100);
    assert_int_equal(add_str(&b, "{}", "k"), PE_OK);
    assert_string_equal(pe_batch_finish(&b, &len), "{\"records\":[{}]}");
    assert_int_equal(len, pe_batch_single_size(2));
    pe_batch_cleanup(&b);
}

static void empty_batch_finishes_as_empty_list(void **state)
{
    struct pe_batch b;
    size_t len = 0;

    (void)state;
    pe_batch_init(&b, 5, 100);
    assert_string_equal(pe_batch_finish(&b, &len), EMPTY_BODY);
    assert_int_equal(len, strlen(EMPTY_BODY));
    assert_null(pe_batch_key(&b, 0));
    assert_null(pe_batch_key(&b, b.n - 1));
    pe_batch_cleanup(&b);
}

static void single_size(void **state)
{
    (void)state;
    assert_int_equal(pe_batch_single_size(0), strlen(EMPTY_BODY));
    assert_int_equal(pe_batch_single_size(2), strlen("{\"records\":[{}]}"));
    assert_int_equal(pe_batch_single_size(1000), strlen(EMPTY_BODY) + 1000);
}

static void max_records_is_a_hard_limit(void **state)
{
    struct pe_batch b;
    size_t len = 0;

    (void)state;
    pe_batch_init(&b, 3, 1 << 20);
    assert_int_equal(add_str(&b, "1", "a"), PE_OK);
    assert_int_equal(add_str(&b, "2", "b"), PE_OK);
    assert_int_equal(add_str(&b, "3", "c"), PE_OK);
    assert_int_equal(add_str(&b, "4", "d"), PE_ERR_TOO_LARGE);
    assert_int_equal(add_str(&b, "5", "e"), PE_ERR_TOO_LARGE);
    assert_int_equal(b.n, 3);
    assert_string_equal(pe_batch_key(&b, b.n - 1), "c");
    assert_string_equal(pe_batch_finish(&b, &len), "{\"records\":[1,2,3]}");
    pe_batch_cleanup(&b);
}

static void exact_fit_accepted_one_over_refused(void **state)
{
    const size_t max = 100;
    size_t fit = max - pe_batch_single_size(0); /* 86 */
    char *rec = record_of_len(fit);
    char *over = record_of_len(fit + 1);
    struct pe_batch b;
    size_t len = 0;
    const char *body;

    (void)state;
    pe_batch_init(&b, 10, max);
    /* One byte too many on an empty batch: the record alone is too big. */
    assert_int_equal(add_str(&b, over, "o"), PE_ERR_TOO_LARGE);
    assert_int_equal(b.n, 0);
    assert_true(pe_batch_single_size(strlen(over)) > max);
    assert_null(pe_batch_key(&b, 0));
    /* Exactly max bytes once finished: accepted. */
    assert_true(pe_batch_single_size(strlen(rec)) == max);
    assert_int_equal(add_str(&b, rec, "r"), PE_OK);
    body = pe_batch_finish(&b, &len);
    assert_int_equal(len, max);
    assert_int_equal(strlen(body), max);
    assert_memory_equal(body, "{\"records\":[{\"v\":\"", 18);
    assert_string_equal(body + max - 4, "\"}]}");
    pe_batch_cleanup(&b);
    free(rec);
    free(over);
}

static void exact_fit_of_second_record(void **state)
{
    const size_t max = 64;
    struct pe_batch b;
    char *second, *second_over;
    size_t room, len = 0;

    (void)state;
    pe_batch_init(&b, 10, max);
    assert_int_equal(add_str(&b, "{\"v\":\"first\"}", "1"), PE_OK);
    /* 14 (head + tail) + 13 (first) + 1 (comma) = 28: room for 36. */
    room = max - pe_batch_single_size(strlen("{\"v\":\"first\"}")) - 1;
    assert_int_equal(room, 36);
    second_over = record_of_len(room + 1);
    second = record_of_len(room);
    assert_int_equal(add_str(&b, second_over, "2"), PE_ERR_TOO_LARGE);
    assert_int_equal(b.n, 1);
    assert_string_equal(pe_batch_key(&b, b.n - 1), "1");
    assert_int_equal(add_str(&b, second, "2"), PE_OK);
    assert_int_equal(b.n, 2);
    pe_batch_finish(&b, &len);
    assert_int_equal(len, max);
    pe_batch_cleanup(&b);
    free(second);
    free(second_over);
}

static void refusal_leaves_batch_unchanged(void **state)
{
    struct pe_batch b;
    char *big = record_of_len(200);
    size_t len = 0;

    (void)state;
    pe_batch_init(&b, 10, 100);
    assert_int_equal(add_str(&b, "{\"a\":1}", "k1"), PE_OK);
    assert_int_equal(add_str(&b, big, "k2"), PE_ERR_TOO_LARGE);
    assert_int_equal(b.n, 1);
    assert_string_equal(pe_batch_key(&b, 0), "k1");
    assert_string_equal(pe_batch_key(&b, b.n - 1), "k1");
    assert_int_equal(add_str(&b, "{\"b\":2}", "k3"), PE_OK);
    assert_string_equal(pe_batch_finish(&b, &len),
                        "{\"records\":[{\"a\":1},{\"b\":2}]}");
    assert_string_equal(pe_batch_key(&b, b.n - 1), "k3");
    pe_batch_cleanup(&b);
    free(big);
}

static void first_and_last_keys(void **state)
{
    struct pe_batch b;
    char key[8];

    (void)state;
    pe_batch_init(&b, 10, 1000);
    assert_null(pe_batch_key(&b, 0));
    assert_null(pe_batch_key(&b, b.n - 1));
    assert_int_equal(add_str(&b, "1", "alpha"), PE_OK);
    assert_string_equal(pe_batch_key(&b, 0), "alpha");
    assert_string_equal(pe_batch_key(&b, b.n - 1), "alpha");
    /* Keys are copied: the caller's buffer may change. */
    strcpy(key, "beta");
    assert_int_equal(add_str(&b, "2", key), PE_OK);
    strcpy(key, "zzz");
    assert_int_equal(add_str(&b, "3", "gamma"), PE_OK);
    assert_string_equal(pe_batch_key(&b, 0), "alpha");
    assert_string_equal(pe_batch_key(&b, b.n - 1), "gamma");
    pe_batch_cleanup(&b);
    assert_null(pe_batch_key(&b, 0));
    assert_null(pe_batch_key(&b, b.n - 1));
    pe_batch_cleanup(&b); /* twice is fine */
}

static void reset_reuses_the_batch(void **state)
{
    struct pe_batch b;
    size_t len = 0;

    (void)state;
    pe_batch_init(&b, 2, 1000);
    assert_int_equal(add_str(&b, "1", "a"), PE_OK);
    assert_int_equal(add_str(&b, "2", "b"), PE_OK);
    assert_int_equal(add_str(&b, "3", "c"), PE_ERR_TOO_LARGE);
    assert_string_equal(pe_batch_finish(&b, &len), "{\"records\":[1,2]}");
    pe_batch_reset(&b);
    assert_int_equal(b.n, 0);
    assert_null(pe_batch_key(&b, 0));
    assert_null(pe_batch_key(&b, b.n - 1));
    assert_string_equal(pe_batch_finish(&b, &len), EMPTY_BODY);
    pe_batch_reset(&b);
    assert_int_equal(add_str(&b, "3", "c"), PE_OK);
    assert_string_equal(pe_batch_key(&b, 0), "c");
    assert_string_equal(pe_batch_finish(&b, &len), "{\"records\":[3]}");
    assert_int_equal(len, strlen("{\"records\":[3]}"));
    pe_batch_reset(&b);
    assert_int_equal(add_str(&b, "4", "d"), PE_OK);
    assert_int_equal(add_str(&b, "5", "e"), PE_OK);
    assert_string_equal(pe_batch_finish(&b, &len), "{\"records\":[4,5]}");
    pe_batch_cleanup(&b);
}

/* The whole body is the batch's own storage, not a copy; a record added
 * after it was asked for, a record read back and a subset's body all see
 * the records without the tail. */
static void whole_body_is_not_copied(void **state)
{
    struct pe_batch b;
    size_t len = 0, idx[] = {1, 0}, same[] = {0, 1, 2};
    const char *body, *r;

    (void)state;
    pe_batch_init(&b, 4, 1000);
    assert_int_equal(add_str(&b, "10", "a"), PE_OK);
    assert_int_equal(add_str(&b, "2", "b"), PE_OK);
    body = pe_batch_finish(&b, &len);
    assert_string_equal(body, "{\"records\":[10,2]}");
    assert_ptr_equal(body, pe_batch_record(&b, 0, &len) - strlen("{\"records\":["));
    assert_ptr_equal(pe_batch_finish(&b, &len), body); /* the tail once */
    assert_int_equal(len, strlen("{\"records\":[10,2]}"));
    r = pe_batch_record(&b, 1, &len);
    assert_int_equal(len, 1);
    assert_memory_equal(r, "2", 1);
    assert_string_equal(pe_batch_build(&b, idx, 2, &len), "{\"records\":[2,10]}");
    assert_int_equal(add_str(&b, "3", "c"), PE_OK);
    r = pe_batch_record(&b, 0, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(r, "10", 2);
    assert_string_equal(pe_batch_build(&b, same, 3, &len), "{\"records\":[10,2,3]}");
    assert_string_equal(pe_batch_build(&b, same, 2, &len), "{\"records\":[10,2]}");
    assert_string_equal(pe_batch_finish(&b, &len), "{\"records\":[10,2,3]}");
    pe_batch_cleanup(&b);
}

/* xorshift32: a fixed sequence, so a failure reproduces. */
static uint32_t next_rand(uint32_t *s)
{
    uint32_t x = *s;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

/* Checks one finished body: size, JSON, and that it holds records
 * *next, *next+1, ... in order; advances *next. */
static void check_body(const char *body, size_t len, size_t max_bytes,
                       size_t max_records, size_t *next)
{
    cJSON *doc, *list, *r;

    assert_true(len <= max_bytes);
    assert_int_equal(strlen(body), len);
    doc = cJSON_ParseWithLength(body, len);
    assert_non_null(doc);
    list = cJSON_GetObjectItemCaseSensitive(doc, "records");
    assert_true(cJSON_IsArray(list));
    assert_true(cJSON_GetArraySize(list) >= 1);
    assert_true((size_t)cJSON_GetArraySize(list) <= max_records);
    cJSON_ArrayForEach(r, list)
    {
        const cJSON *i = cJSON_GetObjectItemCaseSensitive(r, "i");

        assert_true(cJSON_IsNumber(i));
        assert_int_equal((size_t)i->valuedouble, *next);
        (*next)++;
    }
    cJSON_Delete(doc);
}

static void random_records_fill_within_limits(void **state)
{
    static const size_t limits[][2] = {
        {500, 1024}, {3, 4096}, {1000, 200}, {7, 333}, {1, 100000},
    };
    uint32_t seed = 0x9e3779b9u;

    (void)state;
    for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
        const size_t max_records = limits[l][0], max_bytes = limits[l][1];
        struct pe_batch b;
        size_t next = 0, n_bodies = 0, len = 0;
        const size_t n = 2000;
        size_t too_big = 0, sent_or_rejected = 0;
        const char *body;

        pe_batch_init(&b, max_records, max_bytes);
        for (size_t i = 0; i < n; i++) {
            size_t pad = next_rand(&seed) % 400;
            char key[24];
            char *rec = pe_xmalloc(pad + 64);
            int rlen = snprintf(rec, pad + 64, "{\"i\":%zu,\"p\":\"%*s\"}", i,
                                (int)pad, "");
            enum pe_status st;

            snprintf(key, sizeof(key), "%zu", i);
            st = pe_batch_add(&b, rec, (size_t)rlen, key);
            if (st == PE_ERR_TOO_LARGE && b.n > 0) {
                /* Refused only because it is full: check that. */
                assert_true(b.n == max_records ||
                            b.body_bytes + 1 + (size_t)rlen > max_bytes);
                body = pe_batch_finish(&b, &len);
                check_body(body, len, max_bytes, max_records, &next);
                n_bodies++;
                pe_batch_reset(&b);
                st = pe_batch_add(&b, rec, (size_t)rlen, key);
            }
            if (st == PE_ERR_TOO_LARGE) {
                /* Refused by an empty batch: too large on its own. */
                assert_int_equal(b.n, 0);
                assert_true(pe_batch_single_size((size_t)rlen) > max_bytes);
                assert_int_equal(next, i); /* nothing pending before it */
                next++;
                too_big++;
            } else {
                assert_int_equal(st, PE_OK);
                assert_true(b.n <= max_records);
                assert_string_equal(pe_batch_key(&b, b.n - 1), key);
            }
            sent_or_rejected++;
            free(rec);
        }
        if (b.n > 0) {
            body = pe_batch_finish(&b, &len);
            check_body(body, len, max_bytes, max_records, &next);
            n_bodies++;
        }
        /* Every record went into exactly one body or was refused alone. */
        assert_int_equal(next, n);
        assert_int_equal(sent_or_rejected, n);
        assert_true(n_bodies > 0);
        if (max_bytes >= 1024)
            assert_int_equal(too_big, 0);
        pe_batch_cleanup(&b);
    }
}

/* Kinesis (issue #12 item 20): max_bytes counts the sizes given, here the
 * data before base64, not the framed text, which may be larger. */
static void counted_sizes_not_text(void **state)
{
    struct pe_batch b;
    char *rec = record_of_len(3000); /* the text: over max_bytes */
    size_t len = 0;

    (void)state;
    pe_batch_init(&b, 10, 2048);
    pe_batch_count_sizes(&b);
    pe_batch_set_frame(&b, "{\"StreamName\":\"s\",\"Records\":[", "]}");
    assert_true(pe_batch_fits_alone(&b, 2048));
    assert_false(pe_batch_fits_alone(&b, 2049));
    assert_int_equal(pe_batch_add_sized(&b, rec, 3000, 1000, "1"), PE_OK);
    assert_int_equal(pe_batch_add_sized(&b, rec, 3000, 1048, "2"), PE_OK);
    assert_int_equal(b.body_bytes, 2048); /* no frame, no commas */
    assert_int_equal(pe_batch_add_sized(&b, rec, 3000, 1, "3"),
                     PE_ERR_TOO_LARGE);
    assert_int_equal(b.n, 2);
    pe_batch_finish(&b, &len);
    assert_int_equal(len, strlen("{\"StreamName\":\"s\",\"Records\":[]}") +
                              2 * 3000 + 1);
    pe_batch_reset(&b);
    assert_int_equal(b.body_bytes, 0);
    /* Without count_sizes the text counts, whatever size is given. */
    pe_batch_cleanup(&b);
    pe_batch_init(&b, 10, 2048);
    assert_int_equal(pe_batch_add_sized(&b, rec, 3000, 10, "1"),
                     PE_ERR_TOO_LARGE);
    assert_false(pe_batch_fits_alone(&b, 2048));
    pe_batch_cleanup(&b);
    free(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(body_shape),
        cmocka_unit_test(single_record_body),
        cmocka_unit_test(empty_batch_finishes_as_empty_list),
        cmocka_unit_test(single_size),
        cmocka_unit_test(max_records_is_a_hard_limit),
        cmocka_unit_test(exact_fit_accepted_one_over_refused),
        cmocka_unit_test(exact_fit_of_second_record),
        cmocka_unit_test(refusal_leaves_batch_unchanged),
        cmocka_unit_test(first_and_last_keys),
        cmocka_unit_test(reset_reuses_the_batch),
        cmocka_unit_test(whole_body_is_not_copied),
        cmocka_unit_test(random_records_fill_within_limits),
        cmocka_unit_test(counted_sizes_not_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
