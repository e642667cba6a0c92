/* SPDX-License-Identifier: MIT
 * test_ckpt_format.c - the checkpoint text, parsed and printed without a
 * store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ckpt_format.h"
#include "util.h"

static enum pe_status parse(const char *text, struct pe_ckpt_state *out,
                            struct pe_error *err)
{
    pe_error_clear(err);
    return pe_ckpt_format_parse(text, strlen(text), "here", out, err);
}

static void key_only_is_untracked(void **state)
{
    struct pe_ckpt_state c;
    struct pe_error err;

    (void)state;
    assert_int_equal(parse("{\"version\":1,\"key\":\"42\",\"x\":[1]}", &c,
                           &err),
                     PE_OK);
    assert_string_equal(c.key, "42");
    assert_false(c.tracked);
    pe_ckpt_state_cleanup(&c);
    assert_null(c.key);
    pe_ckpt_state_cleanup(&c); /* twice is fine */
}

static void tracked_round_trip_keeps_exact_xids(void **state)
{
    int64_t sent[] = {INT64_C(9007199254740993), 7};
    int64_t late[] = {12};
    char k1[] = "k1", k9[] = "k9", k0[] = "k0";
    struct pe_ckpt_history hist[] = {{INT64_C(9007199254740995), k1},
                                     {3, NULL}};
    struct pe_ckpt_state in = {
        .key = k9, .tracked = true, .floor = INT64_C(9007199254740991),
        .low = NULL, .sent = sent, .n_sent = 2, .late_key = k0,
        .late_sent = late, .n_late_sent = 1, .history = hist,
        .n_history = 2,
    };
    struct pe_ckpt_state out;
    struct pe_error err;
    char *text = pe_ckpt_format_print("orders", &in);

    (void)state;
    assert_non_null(text);
    assert_non_null(strstr(text, "\"9007199254740993\""));
    assert_int_equal(parse(text, &out, &err), PE_OK);
    assert_string_equal(out.key, "k9");
    assert_true(out.tracked);
    assert_true(out.floor == INT64_C(9007199254740991));
    assert_null(out.low);
    assert_int_equal(out.n_sent, 2);
    assert_true(out.sent[0] == INT64_C(9007199254740993));
    assert_true(out.sent[1] == 7);
    assert_string_equal(out.late_key, "k0");
    assert_int_equal(out.n_late_sent, 1);
    assert_true(out.late_sent[0] == 12);
    assert_int_equal(out.n_history, 2);
    assert_true(out.history[0].xmax == INT64_C(9007199254740995));
    assert_string_equal(out.history[0].key, "k1");
    assert_null(out.history[1].key);
    pe_ckpt_state_cleanup(&out);
    free(text);
}

static void null_key_needs_tracking(void **state)
{
    struct pe_ckpt_state c;
    struct pe_error err;
    struct pe_ckpt_state none = {.tracked = true};
    char *text = pe_ckpt_format_print("s", &none);

    (void)state;
    assert_int_equal(parse(text, &c, &err), PE_OK);
    assert_null(c.key);
    assert_true(c.tracked);
    pe_ckpt_state_cleanup(&c);
    free(text);
    assert_int_equal(parse("{\"key\":null}", &c, &err), PE_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "no \"key\" string"));
}

static void damage_is_named(void **state)
{
    static const char *const bad[] = {
        "",
        "{",
        "{\"key\":1}",
        "{\"key\":\"1\",\"tracking\":{\"floor\":5,\"sent_xids\":[],"
        "\"history\":[]}}",
        "{\"key\":\"1\",\"tracking\":{\"floor\":\"5\",\"sent_xids\":[\"-1\"],"
        "\"history\":[]}}",
        "{\"key\":\"1\",\"tracking\":{\"floor\":\"5\",\"sent_xids\":[],"
        "\"history\":[{\"xmax\":\"x\"}]}}",
        "{\"key\":\"1\",\"shards\":\"8\"}",
        "{\"key\":\"1\",\"shards\":0}",
        "{\"key\":\"1\",\"shards\":8,\"shard_chunk\":2.5}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pe_ckpt_state c;
        struct pe_error err;

        if (parse(bad[i], &c, &err) != PE_ERR_CONFIG)
            fail_msg("[%s] was not PE_ERR_CONFIG", bad[i]);
        assert_null(c.key);
        assert_null(c.history);
        assert_non_null(strstr(err.msg, "here: damaged checkpoint"));
    }
}

/* A sharded state records its assignment, and reads it back; an
 * unsharded one records none, and a text without it reads as unknown. */
static void shard_assignment_round_trip(void **state)
{
    char k[] = "2048";
    struct pe_ckpt_state in = {.key = k, .shards = 8, .shard_chunk = 1024};
    struct pe_ckpt_state plain = {.key = k};
    struct pe_ckpt_state out;
    struct pe_error err;
    char *text = pe_ckpt_format_print("pin", &in);

    (void)state;
    assert_non_null(strstr(text, "\"shards\":\t8"));
    assert_non_null(strstr(text, "\"shard_chunk\":\t1024"));
    assert_int_equal(parse(text, &out, &err), PE_OK);
    assert_int_equal(out.shards, 8);
    assert_int_equal(out.shard_chunk, 1024);
    assert_string_equal(out.key, "2048");
    pe_ckpt_state_cleanup(&out);
    assert_int_equal(out.shards, 0);
    free(text);
    in.shard_chunk = 0; /* per key: written as 1 */
    text = pe_ckpt_format_print("pin", &in);
    assert_int_equal(parse(text, &out, &err), PE_OK);
    assert_int_equal(out.shards, 8);
    assert_int_equal(out.shard_chunk, 1);
    pe_ckpt_state_cleanup(&out);
    free(text);
    text = pe_ckpt_format_print("pin", &plain);
    assert_null(strstr(text, "shard"));
    free(text);
    plain.shards = 1; /* unsharded, recorded: no chunk */
    text = pe_ckpt_format_print("pin", &plain);
    assert_non_null(strstr(text, "\"shards\":\t1"));
    assert_null(strstr(text, "shard_chunk"));
    assert_int_equal(parse(text, &out, &err), PE_OK);
    assert_int_equal(out.shards, 1);
    pe_ckpt_state_cleanup(&out);
    free(text);
    assert_int_equal(parse("{\"key\":\"5\"}", &out, &err), PE_OK);
    assert_int_equal(out.shards, 0);
    assert_int_equal(out.shard_chunk, 0);
    pe_ckpt_state_cleanup(&out);
    assert_int_equal(parse("{\"key\":\"5\",\"shards\":4}", &out, &err),
                     PE_OK);
    assert_int_equal(out.shards, 4);
    assert_int_equal(out.shard_chunk, 1);
    pe_ckpt_state_cleanup(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_only_is_untracked),
        cmocka_unit_test(tracked_round_trip_keeps_exact_xids),
        cmocka_unit_test(null_key_needs_tracking),
        cmocka_unit_test(damage_is_named),
        cmocka_unit_test(shard_assignment_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
