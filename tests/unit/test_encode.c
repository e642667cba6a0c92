/* SPDX-License-Identifier: MIT
 * test_encode.c - pe_encode_record against PostgreSQL 15's to_json output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cJSON.h>

#include "encode.h"

/* Encodes one column named "c" and returns the record (caller frees);
 * *st receives the status. */
static char *encode_one(enum pe_jkind kind, enum pe_jkind elem, char delim,
                        const char *value, enum pe_status *st,
                        struct pe_error *err)
{
    struct pe_column col = {"c", kind, elem, delim};
    const char *values[1] = {value};
    struct pe_buf b;
    char *out;

    pe_buf_init(&b, 0);
    pe_error_clear(err);
    *st = pe_encode_record(&col, 1, values, &b, err);
    out = pe_xstrdup(b.data ? b.data : "");
    pe_buf_cleanup(&b);
    return out;
}

/* Asserts that `value` of kind/elem encodes to {"value":{"c":want}} and
 * that the whole record is valid JSON. */
static void expect_col(enum pe_jkind kind, enum pe_jkind elem, char delim,
                       const char *value, const char *want)
{
    struct pe_error err;
    enum pe_status st;
    char *got = encode_one(kind, elem, delim, value, &st, &err);
    char *full = pe_xasprintf("{\"value\":{\"c\":%s}}", want);
    cJSON *doc;

    if (st != PE_OK)
        print_error("value [%s]: %s\n", value ? value : "(null)", err.msg);
    assert_int_equal(st, PE_OK);
    assert_string_equal(got, full);
    doc = cJSON_Parse(got);
    assert_non_null(doc);
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "value")));
    cJSON_Delete(doc);
    free(full);
    free(got);
}

static void expect_scalar(enum pe_jkind kind, const char *value,
                          const char *want)
{
    expect_col(kind, PE_J_STRING, ',', value, want);
}

static void expect_array(enum pe_jkind elem, const char *value,
                         const char *want)
{
    expect_col(PE_J_ARRAY, elem, ',', value, want);
}

/* ---- pe_json_is_number ---- */

static void is_number_accepts_rfc8259(void **state)
{
    static const char *const ok[] = {
        "0",           "-0",
        "1.10",        "9007199254740993",
        "1e+100",      "5e-324",
        "1E5",         "-1.5e-3",
        "123",         "0.0",
        "-2147483648", "1e0",
        "0e-0",        "12345678901234567890123456789.000000001",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!pe_json_is_number(ok[i]))
            fail_msg("rejected valid number \"%s\"", ok[i]);
    }
}

static void is_number_rejects_others(void **state)
{
    static const char *const bad[] = {
        "01",   "1.",  ".5",  "+1",    "1e",       "",
        "0x10", " 1",  "1 ",  "NaN",   "Infinity", "-Infinity",
        "-",    "-01", "1e+", "--1",   "1.5.2",    "1e5.0",
        "1,5",  "00",  "-.5", "1e++1", "\t1",      "1\n",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (pe_json_is_number(bad[i]))
            fail_msg("accepted invalid number \"%s\"", bad[i]);
    }
}

/* ---- scalars ---- */

static void numbers_stay_raw(void **state)
{
    (void)state;
    /* 2^53 + 1: a double would print 9007199254740992 or 9.0072e+15. */
    expect_scalar(PE_J_NUMBER, "9007199254740993", "9007199254740993");
    expect_scalar(PE_J_NUMBER, "1.10", "1.10"); /* trailing zero kept */
    expect_scalar(PE_J_NUMBER, "-0", "-0");
    expect_scalar(PE_J_NUMBER, "1e+100", "1e+100");
    expect_scalar(PE_J_NUMBER, "5e-324", "5e-324");
    expect_scalar(PE_J_NUMBER, "-9223372036854775808", "-9223372036854775808");
    expect_scalar(PE_J_NUMBER, "12345678.90", "12345678.90");
}

static void non_finite_numbers_are_strings(void **state)
{
    (void)state;
    expect_scalar(PE_J_NUMBER, "NaN", "\"NaN\"");
    expect_scalar(PE_J_NUMBER, "Infinity", "\"Infinity\"");
    expect_scalar(PE_J_NUMBER, "-Infinity", "\"-Infinity\"");
}

static void booleans(void **state)
{
    (void)state;
    expect_scalar(PE_J_BOOL, "t", "true");
    expect_scalar(PE_J_BOOL, "f", "false");
}

static void null_for_every_kind(void **state)
{
    static const enum pe_jkind kinds[] = {
        PE_J_STRING, PE_J_NUMBER,    PE_J_BOOL,        PE_J_JSON,
        PE_J_ARRAY,  PE_J_TIMESTAMP, PE_J_TIMESTAMPTZ,
    };

    (void)state;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        expect_col(kinds[i], PE_J_NUMBER, ',', NULL, "null");
}

static void timestamps(void **state)
{
    (void)state;
    expect_scalar(PE_J_TIMESTAMP, "2024-02-29 13:45:07.5",
                  "\"2024-02-29T13:45:07.5\"");
    expect_scalar(PE_J_TIMESTAMP, "0044-03-15 12:00:00.000001 BC",
                  "\"0044-03-15T12:00:00.000001 BC\"");
    expect_scalar(PE_J_TIMESTAMP, "infinity", "\"infinity\"");
    expect_scalar(PE_J_TIMESTAMP, "-infinity", "\"-infinity\"");
    expect_scalar(PE_J_TIMESTAMP, "294276-12-31 23:59:59.999999",
                  "\"294276-12-31T23:59:59.999999\"");
    expect_scalar(PE_J_TIMESTAMP, "2000-01-01 00:00:00",
                  "\"2000-01-01T00:00:00\"");
}

static void timestamps_with_zone(void **state)
{
    (void)state;
    expect_scalar(PE_J_TIMESTAMPTZ, "2024-02-29 13:45:07.123456+00",
                  "\"2024-02-29T13:45:07.123456+00:00\"");
    expect_scalar(PE_J_TIMESTAMPTZ, "4713-01-01 00:00:00+00 BC",
                  "\"4713-01-01T00:00:00+00:00 BC\"");
    expect_scalar(PE_J_TIMESTAMPTZ, "-infinity", "\"-infinity\"");
    expect_scalar(PE_J_TIMESTAMPTZ, "infinity", "\"infinity\"");
    expect_scalar(PE_J_TIMESTAMPTZ, "2024-02-29 13:45:07+05:30",
                  "\"2024-02-29T13:45:07+05:30\"");
    expect_scalar(PE_J_TIMESTAMPTZ, "2024-02-29 13:45:07-08",
                  "\"2024-02-29T13:45:07-08:00\"");
    expect_scalar(PE_J_TIMESTAMPTZ, "294276-12-31 23:59:59.999999+00",
                  "\"294276-12-31T23:59:59.999999+00:00\"");
}

static void json_embedded_as_is(void **state)
{
    (void)state;
    expect_scalar(PE_J_JSON, "{\"a\": 1, \"b\": [1, 2.50, \"x\"]}",
                  "{\"a\": 1, \"b\": [1, 2.50, \"x\"]}");
    expect_scalar(PE_J_JSON, "\"just a string\"", "\"just a string\"");
    expect_scalar(PE_J_JSON, "null", "null");
    expect_scalar(PE_J_JSON, "[]", "[]");
}

static void string_short_escapes(void **state)
{
    (void)state;
    expect_scalar(PE_J_STRING, "plain text", "\"plain text\"");
    expect_scalar(PE_J_STRING, "a\"b\\c", "\"a\\\"b\\\\c\"");
    expect_scalar(PE_J_STRING, "\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
    expect_scalar(PE_J_STRING, "/slash/", "\"/slash/\""); /* not escaped */
    expect_scalar(PE_J_STRING, "", "\"\"");
}

/* PostgreSQL's escape_json writes the other control characters as
 * \u00XX with lowercase hex, e.g. chr(27) -> \u001b. */
static void string_control_characters(void **state)
{
    static const char hex[] = "0123456789abcdef";
    char in[2];
    char want[16];

    (void)state;
    for (int c = 1; c < 32; c++) {
        in[0] = (char)c;
        in[1] = '\0';
        switch (c) {
        case '\b':
            strcpy(want, "\"\\b\"");
            break;
        case '\f':
            strcpy(want, "\"\\f\"");
            break;
        case '\n':
            strcpy(want, "\"\\n\"");
            break;
        case '\r':
            strcpy(want, "\"\\r\"");
            break;
        case '\t':
            strcpy(want, "\"\\t\"");
            break;
        default:
            snprintf(want, sizeof(want), "\"\\u00%c%c\"", hex[c >> 4],
                     hex[c & 15]);
        }
        expect_scalar(PE_J_STRING, in, want);
    }
    expect_scalar(PE_J_STRING, "esc\x1b[0m", "\"esc\\u001b[0m\"");
}

static void string_raw_bytes(void **state)
{
    (void)state;
    expect_scalar(PE_J_STRING, "del\x7f", "\"del\x7f\"");
    /* U+1F600 (4-byte UTF-8) and U+2028 LINE SEPARATOR stay raw. */
    expect_scalar(PE_J_STRING, "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
    expect_scalar(PE_J_STRING, "a\xe2\x80\xa8z", "\"a\xe2\x80\xa8z\"");
    expect_scalar(PE_J_STRING, "tr\xc3\xa8s \"content\"",
                  "\"tr\xc3\xa8s \\\"content\\\"\"");
}

/* ---- arrays (PostgreSQL array_out text -> array_to_json) ---- */

static void arrays_of_numbers(void **state)
{
    (void)state;
    expect_array(PE_J_NUMBER, "{1,2,3}", "[1,2,3]");
    expect_array(PE_J_NUMBER, "{NULL,-2147483648}", "[null,-2147483648]");
    expect_array(PE_J_NUMBER, "{NaN,-1.5,0}", "[\"NaN\",-1.5,0]");
    expect_array(PE_J_NUMBER, "{9007199254740993,1.10}",
                 "[9007199254740993,1.10]");
}

static void arrays_of_text(void **state)
{
    (void)state;
    expect_array(
        PE_J_STRING,
        "{NULL,\"has \\\"quotes\\\"\",\"has,comma\",\"has{brace}\","
        "\"back\\\\slash\",\"NULL\",\"\",\" sp \",\"\xc3\xbcn\xc3\xaf\"}",
        "[null,\"has \\\"quotes\\\"\",\"has,comma\",\"has{brace}\","
        "\"back\\\\slash\",\"NULL\",\"\",\" sp \",\"\xc3\xbcn\xc3\xaf\"]");
    /* A quoted element holding a raw newline and tab. */
    expect_array(PE_J_STRING, "{\"a\nb\",\"c\td\"}", "[\"a\\nb\",\"c\\td\"]");
    expect_array(PE_J_STRING, "{plain,null,Null}", "[\"plain\",null,null]");
}

static void arrays_multi_dimensional(void **state)
{
    (void)state;
    expect_array(PE_J_NUMBER, "{{1,2},{3,4}}", "[[1,2],[3,4]]");
    expect_array(PE_J_NUMBER, "{{{1},{2}},{{3},{4}}}", "[[[1],[2]],[[3],[4]]]");
    expect_array(PE_J_STRING, "{{a,NULL},{\"}\",\"{\"}}",
                 "[[\"a\",null],[\"}\",\"{\"]]");
}

static void arrays_empty_and_bounds(void **state)
{
    (void)state;
    expect_array(PE_J_NUMBER, "{}", "[]");
    expect_array(PE_J_NUMBER, "[0:1]={1,2}", "[1,2]");
    expect_array(PE_J_NUMBER, "[-2:-1][1:2]={{1,2},{3,4}}", "[[1,2],[3,4]]");
}

static void arrays_of_other_kinds(void **state)
{
    (void)state;
    expect_array(PE_J_TIMESTAMP, "{\"2024-01-01 00:00:00\",infinity}",
                 "[\"2024-01-01T00:00:00\",\"infinity\"]");
    expect_array(PE_J_TIMESTAMPTZ, "{\"2024-01-01 00:00:00+00\",NULL}",
                 "[\"2024-01-01T00:00:00+00:00\",null]");
    expect_array(PE_J_BOOL, "{t,f,NULL}", "[true,false,null]");
    expect_array(PE_J_JSON, "{\"{\\\"k\\\": 1}\",\"[1, \\\"two\\\"]\"}",
                 "[{\"k\": 1},[1, \"two\"]]");
    /* SQL NULL element vs JSON null element of a jsonb[]. */
    expect_array(PE_J_JSON, "{NULL,\"null\"}", "[null,null]");
}

static void arrays_custom_delimiter(void **state)
{
    (void)state;
    /* box[] uses ';' because a box's own text contains commas. */
    expect_col(PE_J_ARRAY, PE_J_STRING, ';', "{(1,1),(0,0);(3,4),(2,2)}",
               "[\"(1,1),(0,0)\",\"(3,4),(2,2)\"]");
    expect_col(PE_J_ARRAY, PE_J_NUMBER, ';', "{1;NULL;3}", "[1,null,3]");
    /* With ';' a comma is part of the element. */
    expect_col(PE_J_ARRAY, PE_J_STRING, ';', "{a,b;c}", "[\"a,b\",\"c\"]");
    /* delim 0 means the usual ','. */
    expect_col(PE_J_ARRAY, PE_J_NUMBER, '\0', "{1,2}", "[1,2]");
}

static void arrays_malformed_are_data_errors(void **state)
{
    static const char *const bad[] = {
        "{1,2",       "{\"abc}", "1,2}",   "{1}}",     "",
        "[0:1]{1,2}", "{{1,2}",  "{1,2}x", "{\"a\"b}",
    };
    struct pe_column cols[2] = {
        {"id", PE_J_NUMBER, PE_J_STRING, ','},
        {"tags_col", PE_J_ARRAY, PE_J_NUMBER, ','},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *values[2] = {"1", bad[i]};
        struct pe_buf b;
        struct pe_error err;

        pe_buf_init(&b, 0);
        assert_int_equal(pe_buf_puts(&b, "before,"), PE_OK);
        pe_error_clear(&err);
        if (pe_encode_record(cols, 2, values, &b, &err) != PE_ERR_DATA)
            fail_msg("array text \"%s\" was accepted: %s", bad[i], b.data);
        assert_int_equal(err.status, PE_ERR_DATA);
        assert_non_null(strstr(err.msg, "tags_col"));
        assert_int_equal(b.len, 7);
        assert_string_equal(b.data, "before,");
        pe_buf_cleanup(&b);
    }
}

/* ---- whole records ---- */

static void record_shape_and_order(void **state)
{
    struct pe_column cols[] = {
        {"id", PE_J_NUMBER, PE_J_STRING, ','},
        {"name", PE_J_STRING, PE_J_STRING, ','},
        {"ok", PE_J_BOOL, PE_J_STRING, ','},
        {"tags", PE_J_ARRAY, PE_J_STRING, ','},
        {"doc", PE_J_JSON, PE_J_STRING, ','},
        {"gone", PE_J_STRING, PE_J_STRING, ','},
        {"at", PE_J_TIMESTAMPTZ, PE_J_STRING, ','},
    };
    const char *values[] = {
        "42", "x", "t", "{a,b}", "{\"z\": [1]}", NULL, "2024-02-29 13:45:07+00",
    };
    struct pe_buf b;
    struct pe_error err;
    cJSON *doc, *v, *item;
    int i = 0;

    (void)state;
    pe_buf_init(&b, 0);
    assert_int_equal(pe_encode_record(cols, 7, values, &b, &err), PE_OK);
    assert_string_equal(b.data,
                        "{\"value\":{\"id\":42,\"name\":\"x\",\"ok\":true,"
                        "\"tags\":[\"a\",\"b\"],\"doc\":{\"z\": [1]},"
                        "\"gone\":null,\"at\":\"2024-02-29T13:45:07+00:00\"}}");
    doc = cJSON_Parse(b.data);
    assert_non_null(doc);
    assert_int_equal(cJSON_GetArraySize(doc), 1);
    v = cJSON_GetObjectItemCaseSensitive(doc, "value");
    assert_int_equal(cJSON_GetArraySize(v), 7);
    cJSON_ArrayForEach(item, v)
    {
        assert_string_equal(item->string, cols[i].name);
        i++;
    }
    cJSON_Delete(doc);
    pe_buf_cleanup(&b);
}

static void record_escapes_column_names(void **state)
{
    struct pe_column cols[] = {
        {"we\"ird\\name", PE_J_NUMBER, PE_J_STRING, ','},
        {"\xc3\xbcn\xc3\xaf\xf0\x9f\x98\x80", PE_J_STRING, PE_J_STRING, ','},
        {"tab\there", PE_J_BOOL, PE_J_STRING, ','},
    };
    const char *values[] = {"1", "v", "f"};
    struct pe_buf b;
    struct pe_error err;
    cJSON *doc, *v;

    (void)state;
    pe_buf_init(&b, 0);
    assert_int_equal(pe_encode_record(cols, 3, values, &b, &err), PE_OK);
    assert_string_equal(b.data, "{\"value\":{\"we\\\"ird\\\\name\":1,"
                                "\"\xc3\xbcn\xc3\xaf\xf0\x9f\x98\x80\":\"v\","
                                "\"tab\\there\":false}}");
    doc = cJSON_Parse(b.data);
    assert_non_null(doc);
    v = cJSON_GetObjectItemCaseSensitive(doc, "value");
    assert_true(
        cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(v, cols[0].name)));
    assert_true(
        cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, cols[1].name)));
    assert_true(
        cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(v, cols[2].name)));
    cJSON_Delete(doc);
    pe_buf_cleanup(&b);
}

static void record_with_no_columns(void **state)
{
    struct pe_buf b;
    struct pe_error err;

    (void)state;
    pe_buf_init(&b, 0);
    assert_int_equal(pe_encode_record(NULL, 0, NULL, &b, &err), PE_OK);
    assert_string_equal(b.data, "{\"value\":{}}");
    pe_buf_cleanup(&b);
}

static void record_appends_to_existing_content(void **state)
{
    struct pe_column col = {"n", PE_J_NUMBER, PE_J_STRING, ','};
    const char *v1[] = {"1"};
    const char *v2[] = {"2"};
    struct pe_buf b;
    struct pe_error err;

    (void)state;
    pe_buf_init(&b, 0);
    assert_int_equal(pe_encode_record(&col, 1, v1, &b, &err), PE_OK);
    assert_int_equal(pe_buf_puts(&b, ","), PE_OK);
    assert_int_equal(pe_encode_record(&col, 1, v2, &b, &err), PE_OK);
    assert_string_equal(b.data, "{\"value\":{\"n\":1}},{\"value\":{\"n\":2}}");
    pe_buf_cleanup(&b);
}

static void record_over_cap_leaves_buffer(void **state)
{
    struct pe_column col = {"n", PE_J_NUMBER, PE_J_STRING, ','};
    const char *values[] = {"1"};
    struct pe_buf b;
    struct pe_error err;

    (void)state;
    pe_buf_init(&b, 10);
    pe_error_clear(&err);
    assert_int_equal(pe_encode_record(&col, 1, values, &b, &err),
                     PE_ERR_TOO_LARGE);
    assert_int_equal(err.status, PE_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    pe_buf_cleanup(&b);

    /* With content already there: still untouched. */
    pe_buf_init(&b, 20);
    assert_int_equal(pe_buf_puts(&b, "abcd"), PE_OK);
    /* {"value":{"n":1}} is 17 bytes: 4 + 17 > 20. */
    assert_int_equal(pe_encode_record(&col, 1, values, &b, &err),
                     PE_ERR_TOO_LARGE);
    assert_string_equal(b.data, "abcd");
    pe_buf_truncate(&b, 3);
    assert_int_equal(pe_encode_record(&col, 1, values, &b, &err), PE_OK);
    assert_int_equal(b.len, 20);
    pe_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(is_number_accepts_rfc8259),
        cmocka_unit_test(is_number_rejects_others),
        cmocka_unit_test(numbers_stay_raw),
        cmocka_unit_test(non_finite_numbers_are_strings),
        cmocka_unit_test(booleans),
        cmocka_unit_test(null_for_every_kind),
        cmocka_unit_test(timestamps),
        cmocka_unit_test(timestamps_with_zone),
        cmocka_unit_test(json_embedded_as_is),
        cmocka_unit_test(string_short_escapes),
        cmocka_unit_test(string_control_characters),
        cmocka_unit_test(string_raw_bytes),
        cmocka_unit_test(arrays_of_numbers),
        cmocka_unit_test(arrays_of_text),
        cmocka_unit_test(arrays_multi_dimensional),
        cmocka_unit_test(arrays_empty_and_bounds),
        cmocka_unit_test(arrays_of_other_kinds),
        cmocka_unit_test(arrays_custom_delimiter),
        cmocka_unit_test(arrays_malformed_are_data_errors),
        cmocka_unit_test(record_shape_and_order),
        cmocka_unit_test(record_escapes_column_names),
        cmocka_unit_test(record_with_no_columns),
        cmocka_unit_test(record_appends_to_existing_content),
        cmocka_unit_test(record_over_cap_leaves_buffer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
