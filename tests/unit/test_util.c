/* SPDX-License-Identifier: MIT
 * test_util.c - pe_buf, JSON string escaping, pe_error and exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static void buf_append_grows_and_terminates(void **state)
{
    struct pe_buf b;

    (void)state;
    pe_buf_init(&b, 0);
    assert_null(b.data);
    assert_int_equal(pe_buf_append(&b, "ab", 2), PE_OK);
    assert_int_equal(pe_buf_puts(&b, "cd"), PE_OK);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "abcd");
    /* Embedded NUL bytes are content, not terminators. */
    assert_int_equal(pe_buf_append(&b, "x\0y", 3), PE_OK);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "abcdx\0y", 8);
    pe_buf_cleanup(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    pe_buf_cleanup(&b); /* twice is fine */
}

static void buf_cap_refusal_leaves_content(void **state)
{
    struct pe_buf b;

    (void)state;
    pe_buf_init(&b, 4);
    assert_int_equal(pe_buf_append(&b, "abc", 3), PE_OK);
    assert_int_equal(pe_buf_append(&b, "de", 2), PE_ERR_TOO_LARGE);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "abc");
    assert_int_equal(pe_buf_printf(&b, "%s", "xy"), PE_ERR_TOO_LARGE);
    assert_string_equal(b.data, "abc");
    /* Exactly up to the cap is accepted. */
    assert_int_equal(pe_buf_puts(&b, "d"), PE_OK);
    assert_string_equal(b.data, "abcd");
    assert_int_equal(pe_buf_append(&b, "e", 1), PE_ERR_TOO_LARGE);
    assert_int_equal(pe_buf_append(&b, "", 0), PE_OK);
    assert_int_equal(b.len, 4);
    pe_buf_cleanup(&b);
}

static void buf_cap_refuses_huge_append_without_overflow(void **state)
{
    struct pe_buf b;

    (void)state;
    pe_buf_init(&b, 10);
    assert_int_equal(pe_buf_puts(&b, "12345"), PE_OK);
    /* len + n would wrap around SIZE_MAX: must still be refused. */
    assert_int_equal(pe_buf_append(&b, "x", SIZE_MAX), PE_ERR_TOO_LARGE);
    assert_string_equal(b.data, "12345");
    pe_buf_cleanup(&b);
}

static void buf_printf_grows_past_small_buffer(void **state)
{
    struct pe_buf b;
    char big[1001];

    (void)state;
    memset(big, 'z', 1000);
    big[1000] = '\0';
    pe_buf_init(&b, 0);
    assert_int_equal(pe_buf_printf(&b, "<%d>", 42), PE_OK);
    assert_int_equal(pe_buf_printf(&b, "[%s]", big), PE_OK);
    assert_int_equal(b.len, 4 + 1002);
    assert_memory_equal(b.data, "<42>[zzz", 8);
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[b.len], '\0');
    assert_true(b.alloc > b.len);
    pe_buf_cleanup(&b);
}

static void buf_printf_large_respects_cap(void **state)
{
    struct pe_buf b;
    char big[300];

    (void)state;
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pe_buf_init(&b, 299);
    assert_int_equal(pe_buf_puts(&b, "a"), PE_OK);
    assert_int_equal(pe_buf_printf(&b, "%s", big), PE_ERR_TOO_LARGE);
    assert_string_equal(b.data, "a");
    pe_buf_truncate(&b, 0);
    assert_int_equal(pe_buf_printf(&b, "%s", big), PE_OK);
    assert_int_equal(b.len, 299);
    pe_buf_cleanup(&b);
}

static void buf_truncate_and_reset(void **state)
{
    struct pe_buf b;
    char *before;

    (void)state;
    pe_buf_init(&b, 0);
    pe_buf_reset(&b); /* on an empty buffer: no crash */
    assert_int_equal(pe_buf_puts(&b, "hello world"), PE_OK);
    pe_buf_truncate(&b, 5);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    pe_buf_truncate(&b, 99); /* beyond len: no change */
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    before = b.data;
    pe_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_ptr_equal(b.data, before); /* memory kept */
    assert_int_equal(pe_buf_puts(&b, "again"), PE_OK);
    assert_string_equal(b.data, "again");
    pe_buf_cleanup(&b);
}

static void json_string_escapes(void **state)
{
    struct pe_buf b;

    (void)state;
    pe_buf_init(&b, 0);
    assert_int_equal(pe_buf_json_string(&b, "a\"b\\c/d"), PE_OK);
    assert_string_equal(b.data, "\"a\\\"b\\\\c/d\"");
    pe_buf_reset(&b);
    assert_int_equal(pe_buf_json_string(&b, "\b\f\n\r\t"), PE_OK);
    assert_string_equal(b.data, "\"\\b\\f\\n\\r\\t\"");
    pe_buf_reset(&b);
    /* Other control characters as lowercase \u00XX, like PostgreSQL. */
    assert_int_equal(pe_buf_json_string(&b, "\x01\x1b\x1f"), PE_OK);
    assert_string_equal(b.data, "\"\\u0001\\u001b\\u001f\"");
    pe_buf_reset(&b);
    /* DEL, U+2028 and 4-byte UTF-8 pass through raw. */
    assert_int_equal(pe_buf_json_string(&b, "\x7f\xe2\x80\xa8\xf0\x9f\x98\x80"),
                     PE_OK);
    assert_string_equal(b.data, "\"\x7f\xe2\x80\xa8\xf0\x9f\x98\x80\"");
    pe_buf_reset(&b);
    assert_int_equal(pe_buf_json_string(&b, ""), PE_OK);
    assert_string_equal(b.data, "\"\"");
    pe_buf_cleanup(&b);
}

static void json_string_appends_after_content(void **state)
{
    struct pe_buf b;

    (void)state;
    pe_buf_init(&b, 0);
    assert_int_equal(pe_buf_puts(&b, "{\"k\":"), PE_OK);
    assert_int_equal(pe_buf_json_string(&b, "v"), PE_OK);
    assert_int_equal(pe_buf_puts(&b, "}"), PE_OK);
    assert_string_equal(b.data, "{\"k\":\"v\"}");
    pe_buf_cleanup(&b);
}

static void json_string_cap_leaves_content(void **state)
{
    struct pe_buf b;

    (void)state;
    pe_buf_init(&b, 8);
    assert_int_equal(pe_buf_puts(&b, "ab"), PE_OK);
    /* "ab" + "\"\\n\\n\\n\"" needs 10 bytes: refused midway, rolled back. */
    assert_int_equal(pe_buf_json_string(&b, "\n\n\n"), PE_ERR_TOO_LARGE);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.data, "ab");
    /* Fits exactly: "ab" + "\"xyz\"" = 7, then one more byte. */
    assert_int_equal(pe_buf_json_string(&b, "xyz"), PE_OK);
    assert_string_equal(b.data, "ab\"xyz\"");
    assert_int_equal(pe_buf_json_string(&b, ""), PE_ERR_TOO_LARGE);
    assert_string_equal(b.data, "ab\"xyz\"");
    pe_buf_cleanup(&b);
}

static void error_set_fills_and_returns(void **state)
{
    struct pe_error err;

    (void)state;
    pe_error_clear(&err);
    assert_int_equal(err.status, PE_OK);
    assert_false(err.retriable);
    assert_string_equal(err.msg, "");
    assert_int_equal(pe_error_set(&err, PE_ERR_IO, true, "%s: %d", "f", 7),
                     PE_ERR_IO);
    assert_int_equal(err.status, PE_ERR_IO);
    assert_true(err.retriable);
    assert_string_equal(err.msg, "f: 7");
    /* NULL err is allowed and still returns the status. */
    assert_int_equal(pe_error_set(NULL, PE_ERR_DB, false, "x"), PE_ERR_DB);
    pe_error_clear(&err);
    assert_int_equal(err.status, PE_OK);
    assert_false(err.retriable);
    assert_string_equal(err.msg, "");
    pe_error_clear(NULL);
}

static void error_set_truncates_long_message(void **state)
{
    struct pe_error err;
    char big[2000];

    (void)state;
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pe_error_set(&err, PE_ERR_DATA, false, "%s", big);
    assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
}

static void error_prefix_prepends(void **state)
{
    struct pe_error err;

    (void)state;
    pe_error_set(&err, PE_ERR_DB, true, "connection refused");
    pe_error_prefix(&err, "stream %s", "orders");
    assert_string_equal(err.msg, "stream orders: connection refused");
    assert_int_equal(err.status, PE_ERR_DB);
    assert_true(err.retriable);
    pe_error_prefix(&err, "run");
    assert_string_equal(err.msg, "run: stream orders: connection refused");
    pe_error_prefix(NULL, "nothing");
}

static void error_prefix_on_full_message_stays_terminated(void **state)
{
    struct pe_error err;
    char big[600];

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pe_error_set(&err, PE_ERR_IO, false, "%s", big);
    pe_error_prefix(&err, "head");
    assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
    assert_memory_equal(err.msg, "head: xxx", 9);
}

static void status_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(pe_status_exit_code(PE_OK), 0);
    assert_int_equal(pe_status_exit_code(PE_ERR_USAGE), 2);
    assert_int_equal(pe_status_exit_code(PE_ERR_CONFIG), 2);
    assert_int_equal(pe_status_exit_code(PE_ERR_LOCKED), 75);
    assert_int_equal(pe_status_exit_code(PE_ERR_DB), 1);
    assert_int_equal(pe_status_exit_code(PE_ERR_PROXY), 1);
    assert_int_equal(pe_status_exit_code(PE_ERR_IO), 1);
    assert_int_equal(pe_status_exit_code(PE_ERR_TOO_LARGE), 1);
    assert_int_equal(pe_status_exit_code(PE_ERR_DATA), 1);
}

static void status_names(void **state)
{
    (void)state;
    assert_string_equal(pe_status_name(PE_OK), "ok");
    assert_string_equal(pe_status_name(PE_ERR_CONFIG), "config");
    assert_string_equal(pe_status_name(PE_ERR_LOCKED), "locked");
    assert_string_equal(pe_status_name(PE_ERR_INTERRUPTED), "interrupted");
    assert_string_equal(pe_status_name((enum pe_status)99), "unknown");
}

static void xalloc_helpers(void **state)
{
    char *s;
    unsigned char *z;

    (void)state;
    s = pe_xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    s = pe_xasprintf("%s-%d", "k", 12);
    assert_string_equal(s, "k-12");
    free(s);
    s = pe_xstrdup("");
    assert_string_equal(s, "");
    free(s);
    z = pe_xcalloc(16, 1);
    for (size_t i = 0; i < 16; i++)
        assert_int_equal(z[i], 0);
    free(z);
}

/* Issue #12 item 17: invalid bytes become U+FFFD, valid text passes as is,
 * and a cut never splits a character. */
static void utf8_sanitize_replaces_invalid_bytes(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"plain", 5, "plain"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"a\xff" "b", 3, "a\xef\xbf\xbd" "b"},          /* never valid */
        {"\x80", 1, "\xef\xbf\xbd"},                     /* stray continuation */
        {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},     /* overlong '/' */
        {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* D800 */
        {"\xf4\x90\x80\x80", 4,
         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > 10FFFF */
        {"x\xe2\x82", 3, "x\xef\xbf\xbd\xef\xbf\xbd"},   /* cut short */
        {"\x1f\x8b\x08", 3, "\x1f\xef\xbf\xbd\x08"},     /* gzip magic */
    };
    char out[64];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = pe_utf8_sanitize(out, sizeof(out), cases[i].in, cases[i].n);

        assert_string_equal(out, cases[i].out);
        assert_int_equal(n, strlen(cases[i].out));
        assert_true(pe_utf8_valid(out, n));
        assert_int_equal(pe_utf8_valid(cases[i].in, cases[i].n),
                         strcmp(cases[i].in, cases[i].out) == 0);
    }
    /* Too small: stops before the character that does not fit. */
    assert_int_equal(pe_utf8_sanitize(out, 4, "ab\xe2\x82\xac", 5), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(pe_utf8_sanitize(out, 4, "a\xff", 2), 1);
    assert_string_equal(out, "a");
    assert_int_equal(pe_utf8_sanitize(out, 1, "abc", 3), 0);
    assert_string_equal(out, "");
}

static void utf8_cut_keeps_characters_whole(void **state)
{
    (void)state;
    assert_int_equal(pe_utf8_cut("abc", 3), 3);
    assert_int_equal(pe_utf8_cut("a\xc3\xa9", 3), 3);
    assert_int_equal(pe_utf8_cut("a\xc3", 2), 1);
    assert_int_equal(pe_utf8_cut("a\xe2\x82", 3), 1);
    assert_int_equal(pe_utf8_cut("a\xe2", 2), 1);
    assert_int_equal(pe_utf8_cut("a\xf0\x9f\x98", 4), 1);
    assert_int_equal(pe_utf8_cut("a\xf0\x9f\x98\x80", 5), 5);
    assert_int_equal(pe_utf8_cut("", 0), 0);
}

/* A message cut at msg's size ends on a whole character, and setting an
 * error forgets the context of the one before. */
static void error_set_cut_and_context(void **state)
{
    struct pe_error err;
    char big[600];

    (void)state;
    memset(big, 'a', sizeof(big));
    memcpy(big + 509, "\xe2\x82\xac", 3); /* crosses byte 511 */
    big[sizeof(big) - 1] = '\0';
    pe_error_clear(&err);
    pe_error_set(&err, PE_ERR_PROXY, false, "%s", big);
    assert_int_equal(strlen(err.msg), 509);
    assert_true(pe_utf8_valid(err.msg, strlen(err.msg)));
    snprintf(err.stream, sizeof(err.stream), "pin");
    snprintf(err.topic, sizeof(err.topic), "t.pin");
    err.http_status = 500;
    err.error_code = 50001;
    pe_error_prefix(&err, "stream %s", "pin"); /* keeps the context */
    assert_string_equal(err.stream, "pin");
    assert_int_equal(err.http_status, 500);
    assert_true(pe_utf8_valid(err.msg, strlen(err.msg)));
    pe_error_set(&err, PE_ERR_IO, false, "other");
    assert_string_equal(err.stream, "");
    assert_string_equal(err.topic, "");
    assert_int_equal(err.http_status, 0);
    assert_int_equal(err.error_code, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_append_grows_and_terminates),
        cmocka_unit_test(buf_cap_refusal_leaves_content),
        cmocka_unit_test(buf_cap_refuses_huge_append_without_overflow),
        cmocka_unit_test(buf_printf_grows_past_small_buffer),
        cmocka_unit_test(buf_printf_large_respects_cap),
        cmocka_unit_test(buf_truncate_and_reset),
        cmocka_unit_test(json_string_escapes),
        cmocka_unit_test(json_string_appends_after_content),
        cmocka_unit_test(json_string_cap_leaves_content),
        cmocka_unit_test(error_set_fills_and_returns),
        cmocka_unit_test(error_set_truncates_long_message),
        cmocka_unit_test(error_prefix_prepends),
        cmocka_unit_test(error_prefix_on_full_message_stays_terminated),
        cmocka_unit_test(status_exit_codes),
        cmocka_unit_test(status_names),
        cmocka_unit_test(xalloc_helpers),
        cmocka_unit_test(utf8_sanitize_replaces_invalid_bytes),
        cmocka_unit_test(utf8_cut_keeps_characters_whole),
        cmocka_unit_test(error_set_cut_and_context),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
