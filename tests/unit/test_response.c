/* SPDX-License-Identifier: MIT
 * test_response.c - REST proxy answers (rest-proxy-v2.md 4, 5, 7, 9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "response.h"
#include "util.h"

static void classify(long status, const char *body, size_t n_records,
                     struct pe_produce_result *r)
{
    /* Poison first: classify must set every field it reports. */
    memset(r, 0xa5, sizeof(*r));
    pe_response_classify(status, body, body ? strlen(body) : 0, n_records, r);
    assert_int_equal(r->http_status, status);
    assert_non_null(memchr(r->message, '\0', sizeof(r->message)));
}

static void assert_printable(const char *s)
{
    for (; *s != '\0'; s++)
        assert_true((unsigned char)*s >= 0x20 && (unsigned char)*s != 0x7f);
}

/* ---- 200 with offsets (section 4) ---- */

static void ok_with_nulls_written(void **state)
{
    struct pe_produce_result r;

    (void)state;
    classify(200,
             "{\"offsets\":[{\"partition\":0,\"offset\":42,\"error_code\":null,"
             "\"error\":null},{\"partition\":1,\"offset\":9007199254740993,"
             "\"error_code\":null,\"error\":null}],\"key_schema_id\":null,"
             "\"value_schema_id\":null}",
             2, &r);
    assert_int_equal(r.outcome, PE_OUT_OK);
    assert_int_equal(r.n_failed, 0);
    assert_int_equal(r.error_code, 0);
    assert_false(r.retriable);
}

static void ok_with_error_fields_absent(void **state)
{
    struct pe_produce_result r;

    (void)state;
    /* Old documentation examples omit the null members. */
    classify(200,
             "{\"offsets\":[{\"partition\":0,\"offset\":1},"
             "{\"offset\":2,\"partition\":0},{\"partition\":2,\"offset\":0}]}",
             3, &r);
    assert_int_equal(r.outcome, PE_OUT_OK);
    assert_int_equal(r.n_failed, 0);
}

static void ok_with_whitespace_and_pretty_print(void **state)
{
    struct pe_produce_result r;

    (void)state;
    classify(200,
             "{\n  \"offsets\" : [ { \"partition\" : 0 ,\n"
             "  \"offset\" : 7 } ]\n}\n",
             1, &r);
    assert_int_equal(r.outcome, PE_OUT_OK);
}

static void offsets_count_mismatch(void **state)
{
    static const char one[] = "{\"offsets\":[{\"partition\":0,\"offset\":1}]}";
    static const char three[] =
        "{\"offsets\":[{\"partition\":0,\"offset\":1},"
        "{\"partition\":0,\"offset\":2},{\"partition\":0,\"offset\":3}]}";
    struct pe_produce_result r;

    (void)state;
    classify(200, one, 2, &r); /* shorter */
    assert_int_equal(r.outcome, PE_OUT_BAD_RESPONSE);
    assert_true(r.maybe_written);
    assert_non_null(strstr(r.message, "1"));
    classify(200, three, 2, &r); /* longer */
    assert_int_equal(r.outcome, PE_OUT_BAD_RESPONSE);
    assert_true(r.maybe_written);
    classify(200, "{\"offsets\":[]}", 1, &r);
    assert_int_equal(r.outcome, PE_OUT_BAD_RESPONSE);
    /* The same bodies with the right count are fine. */
    classify(200, three, 3, &r);
    assert_int_equal(r.outcome, PE_OUT_OK);
}

static void record_error_non_retriable(void **state)
{
    struct pe_produce_result r;

    (void)state;
    classify(200,
             "{\"offsets\":[{\"partition\":0,\"offset\":5,\"error_code\":null,"
             "\"error\":null},{\"partition\":null,\"offset\":null,"
             "\"error_code\":50002,\"error\":\"The message is 2000000 bytes "
             "when serialized which is larger than 1048576\"}],"
             "\"key_schema_id\":null,\"value_schema_id\":null}",
             2, &r);
    assert_int_equal(r.outcome, PE_OUT_RECORD_ERRORS);
    assert_int_equal(r.n_failed, 1);
    assert_int_equal(r.first_failed, 1);
    assert_int_equal(r.error_code, 50002);
    assert_string_equal(r.message, "The message is 2000000 bytes when "
                                   "serialized which is larger than 1048576");
    assert_false(r.retriable);
}

static void record_error_retriable(void **state)
{
    struct pe_produce_result r;

    (void)state;
    classify(200,
             "{\"offsets\":[{\"partition\":0,\"offset\":5,\"error_code\":null,"
             "\"error\":null},{\"partition\":null,\"offset\":null,"
             "\"error_code\":50003,\"error\":\"Topic t not present in "
             "metadata after 60000 ms.\"},{\"partition\":null,\"offset\":null,"
             "\"error_code\":50003,\"error\":\"second\"}]}",
             3, &r);
    assert_int_equal(r.outcome, PE_OUT_RECORD_ERRORS);
    assert_int_equal(r.n_failed, 2);
    assert_int_equal(r.first_failed, 1);
    assert_int_equal(r.error_code, 50003);
    assert_string_equal(r.message,
                        "Topic t not present in metadata after 60000 ms.");
    assert_true(r.retriable);
}

static void record_errors_mixed_are_not_retriable(void **state)
{
    struct pe_produce_result r;

    (void)state;
    /* 50003 first, then 50002: one permanent failure spoils the lot. */
    classify(200,
             "{\"offsets\":[{\"error_code\":50003,\"error\":\"a\"},"
             "{\"error_code\":50002,\"error\":\"b\"}]}",
             2, &r);
    assert_int_equal(r.outcome, PE_OUT_RECORD_ERRORS);
    assert_int_equal(r.n_failed, 2);
    assert_int_equal(r.first_failed, 0);
    assert_int_equal(r.error_code, 50003);
    assert_string_equal(r.message, "a");
    assert_false(r.retriable);
    /* 50002 first, then 50003. */
    classify(200,
             "{\"offsets\":[{\"error_code\":50002,\"error\":\"a\"},"
             "{\"error_code\":50003,\"error\":\"b\"}]}",
             2, &r);
    assert_int_equal(r.error_code, 50002);
    assert_false(r.retriable);
}

static void old_style_codes_are_normalized(void **state)
{
    struct pe_produce_result r;

    (void)state;
    classify(200,
             "{\"offsets\":[{\"partition\":0,\"offset\":1},"
             "{\"error_code\":1,\"error\":\"old permanent\"}]}",
             2, &r);
    assert_int_equal(r.outcome, PE_OUT_RECORD_ERRORS);
    assert_int_equal(r.error_code, 50002);
    assert_int_equal(r.first_failed, 1);
    assert_false(r.retriable);
    classify(200,
             "{\"offsets\":[{\"error_code\":2,\"error\":\"old retriable\"},"
             "{\"error_code\":2}]}",
             2, &r);
    assert_int_equal(r.outcome, PE_OUT_RECORD_ERRORS);
    assert_int_equal(r.error_code, 50003);
    assert_int_equal(r.n_failed, 2);
    assert_true(r.retriable);
    /* 2 then 1: normalized to 50003 then 50002, not retriable. */
    classify(200, "{\"offsets\":[{\"error_code\":2},{\"error_code\":1}]}", 2,
             &r);
    assert_false(r.retriable);
}

static void record_error_without_message(void **state)
{
    struct pe_produce_result r;

    (void)state;
    classify(200, "{\"offsets\":[{\"error_code\":50002}]}", 1, &r);
    assert_int_equal(r.outcome, PE_OUT_RECORD_ERRORS);
    assert_int_equal(r.error_code, 50002);
    assert_true(strlen(r.message) > 0);
}

static void entry_without_offset_or_error_is_not_ok(void **state)
{
    struct pe_produce_result r;

    (void)state;
    classify(200,
             "{\"offsets\":[{\"partition\":0,\"offset\":1},"
             "{\"partition\":0,\"offset\":null,\"error_code\":null}]}",
             2, &r);
    assert_int_not_equal(r.outcome, PE_OUT_OK);
    assert_int_equal(r.n_failed, 1);
    assert_int_equal(r.first_failed, 1);
}

static void auth_failures_with_offsets_body(void **state)
{
    struct pe_produce_result r;

    (void)state;
    classify(401,
             "{\"offsets\":[{\"partition\":null,\"offset\":null,"
             "\"error_code\":40101,\"error\":\"Authentication failed\"}],"
             "\"key_schema_id\":null,\"value_schema_id\":null}",
             1, &r);
    assert_int_equal(r.outcome, PE_OUT_RECORD_ERRORS);
    assert_int_equal(r.error_code, 40101);
    assert_int_equal(r.n_failed, 1);
    assert_false(r.retriable);
    classify(403,
             "{\"offsets\":[{\"partition\":0,\"offset\":3,\"error_code\":null,"
             "\"error\":null},{\"partition\":null,\"offset\":null,"
             "\"error_code\":40301,\"error\":\"Not authorized to access "
             "topics: [t]\"}]}",
             2, &r);
    assert_int_equal(r.outcome, PE_OUT_RECORD_ERRORS);
    assert_int_equal(r.error_code, 40301);
    assert_int_equal(r.first_failed, 1);
    assert_string_equal(r.message, "Not authorized to access topics: [t]");
    assert_false(r.retriable);
    /* A 50003 before the 40301 must not make the answer retriable. */
    classify(403,
             "{\"offsets\":[{\"error_code\":50003,\"error\":\"x\"},"
             "{\"error_code\":40301,\"error\":\"y\"}]}",
             2, &r);
    assert_int_equal(r.outcome, PE_OUT_RECORD_ERRORS);
    assert_false(r.retriable);
    /* 401 whose offsets show no error still is not success. */
    classify(401, "{\"offsets\":[{\"partition\":0,\"offset\":1}]}", 1, &r);
    assert_int_equal(r.outcome, PE_OUT_RECORD_ERRORS);
    assert_false(r.retriable);
}

/* ---- proxy error bodies (section 5) ---- */

static void proxy_errors(void **state)
{
    static const struct {
        long status;
        const char *body;
        long code;
        const char *msg;
        bool retriable;
        bool maybe_written;
    } cases[] = {
        {415,
         "{\"error_code\":415,\"message\":\"HTTP 415 Unsupported Media "
         "Type\"}",
         415, "HTTP 415 Unsupported Media Type", false, false},
        {422,
         "{\"error_code\":422,\"message\":\"Unrecognized field: "
         "headers\"}",
         422, "Unrecognized field: headers", false, false},
        {400,
         "{\"error_code\":400,\"message\":\"Bad Request: data=1 is not "
         "a base64 string.\"}",
         400, "Bad Request: data=1 is not a base64 string.", false, false},
        {404,
         "{\"error_code\":40403,\"message\":\"This server does not "
         "host this topic-partition.\"}",
         40403, "This server does not host this topic-partition.", false,
         false},
        /* Proxy limiter: rejected before Kafka, safe to resend. */
        {429,
         "{\"error_code\":429,\"message\":\"Request rate limit "
         "exceeded: The rate limit of requests per second has been "
         "exceeded.\"}",
         429, NULL, true, false},
        /* Outcome unknown: some records may have been written. */
        {500, "{\"error_code\":500,\"message\":\"Internal Server Error\"}", 500,
         "Internal Server Error", true, true},
        {500,
         "{\"error_code\":500,\"message\":\"Unexpected non-Kafka "
         "exception returned by Kafka\"}",
         500, NULL, true, true},
    };
    struct pe_produce_result r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        classify(cases[i].status, cases[i].body, 3, &r);
        assert_int_equal(r.outcome, PE_OUT_PROXY_ERROR);
        assert_int_equal(r.error_code, cases[i].code);
        if (cases[i].msg != NULL)
            assert_string_equal(r.message, cases[i].msg);
        assert_int_equal(r.retriable, cases[i].retriable);
        assert_int_equal(r.maybe_written, cases[i].maybe_written);
        assert_int_equal(r.n_failed, 0);
    }
}

static void proxy_error_long_message_truncated(void **state)
{
    struct pe_produce_result r;
    char *body, big[1000];

    (void)state;
    memset(big, 'w', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    body = pe_xasprintf("{\"error_code\":500,\"message\":\"%s\"}", big);
    classify(500, body, 1, &r);
    assert_int_equal(r.outcome, PE_OUT_PROXY_ERROR);
    assert_int_equal(strlen(r.message), sizeof(r.message) - 1);
    free(body);
}

/* ---- API Gateway bodies (section 7) ---- */

static void gateway_errors(void **state)
{
    static const struct {
        long status;
        const char *body;
        const char *msg;
        bool retriable;
        bool maybe_written;
    } cases[] = {
        {403, "{\"message\":\"Forbidden\"}", "Forbidden", false, false},
        {403, "{\"message\":\"Missing Authentication Token\"}",
         "Missing Authentication Token", false, false},
        {403,
         "{\"message\":\"User: arn:aws:iam::1:user/u is not authorized "
         "to perform: execute-api:Invoke on resource: arn\"}",
         NULL, false, false},
        {429, "{\"message\":\"Too Many Requests\"}", "Too Many Requests", true,
         false},
        {429, "{\"message\":\"Limit Exceeded\"}", "Limit Exceeded", true,
         false},
        /* The proxy may go on writing after the gateway gave up. */
        {504, "{\"message\":\"Endpoint request timed out\"}",
         "Endpoint request timed out", true, true},
        /* Nothing forwarded: split the batch and resend. */
        {413, "{\"message\":\"Request Too Long\"}", "Request Too Long", true,
         false},
        {500, "{\"message\":\"Internal server error\"}",
         "Internal server error", true, true},
    };
    struct pe_produce_result r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        classify(cases[i].status, cases[i].body, 2, &r);
        assert_int_equal(r.outcome, PE_OUT_GATEWAY_ERROR);
        if (cases[i].msg != NULL)
            assert_string_equal(r.message, cases[i].msg);
        assert_int_equal(r.retriable, cases[i].retriable);
        assert_int_equal(r.maybe_written, cases[i].maybe_written);
        assert_int_equal(r.error_code, 0);
    }
}

/* ---- other non-2xx bodies ---- */

static void plain_http_errors(void **state)
{
    struct pe_produce_result r;

    (void)state;
    classify(400,
             "Unexpected character ('x' (code 120)): expected a valid value\n"
             " at [Source: (org.glassfish.jersey.message.internal."
             "ReaderInterceptorExecutor$UnCloseableInputStream); line: 1]",
             1, &r);
    assert_int_equal(r.outcome, PE_OUT_HTTP_ERROR);
    assert_false(r.retriable);
    assert_false(r.maybe_written);
    assert_non_null(strstr(r.message, "Unexpected character"));
    assert_printable(r.message);

    classify(502,
             "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
             "<body><center><h1>502 Bad Gateway</h1></center></body>\r\n"
             "</html>\r\n",
             4, &r);
    assert_int_equal(r.outcome, PE_OUT_HTTP_ERROR);
    assert_true(r.retriable);
    assert_true(r.maybe_written);
    assert_non_null(strstr(r.message, "502 Bad Gateway"));
    assert_printable(r.message);

    classify(503, "<html><body>Service Unavailable</body></html>", 1, &r);
    assert_int_equal(r.outcome, PE_OUT_HTTP_ERROR);
    assert_true(r.retriable);

    /* 406: empty body, no Content-Type. */
    classify(406, "", 1, &r);
    assert_int_equal(r.outcome, PE_OUT_HTTP_ERROR);
    assert_false(r.retriable);
    assert_string_equal(r.message, "(empty)");
    classify(406, NULL, 1, &r);
    assert_int_equal(r.outcome, PE_OUT_HTTP_ERROR);
    assert_string_equal(r.message, "(empty)");

    /* JSON, but neither proxy nor gateway shape. */
    classify(404, "[\"not\",\"an\",\"object\"]", 1, &r);
    assert_int_equal(r.outcome, PE_OUT_HTTP_ERROR);
    classify(405, "{\"detail\":\"nope\"}", 1, &r);
    assert_int_equal(r.outcome, PE_OUT_HTTP_ERROR);
}

/* ---- 2xx that are not produce answers ---- */

static void ok_status_with_garbage(void **state)
{
    static const char *const bodies[] = {
        "<html>",
        "{}",
        "[]",
        "{\"offsets\":\"x\"}",
        "{\"offsets\":null}",
        "{\"offsets\":{\"0\":{\"offset\":1}}}",
        "{\"offsets\":[{\"partition\":0,\"offset\":1}",
        "{\"offsets\":[{\"partition\":0,\"off",
        "",
        "null",
        "42",
        "\"offsets\"",
        "{\"message\":\"OK\"}",
    };
    struct pe_produce_result r;

    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        classify(200, bodies[i], 1, &r);
        if (r.outcome != PE_OUT_BAD_RESPONSE)
            fail_msg("200 [%s]: outcome %s", bodies[i],
                     pe_outcome_name(r.outcome));
        /* The proxy took the request: records may be in Kafka. */
        assert_true(r.maybe_written);
        assert_int_equal(r.n_failed, 0);
        assert_printable(r.message);
    }
}

/* Regression (src/response.c, parse_offsets, the `!cJSON_IsObject(e)` branch):
 * a 200 whose offsets array has the right length but holds a non-object
 * entry, e.g. {"offsets":[5]}, is PE_OUT_BAD_RESPONSE with maybe_written
 * and retriable left false, while every other malformed 200 (wrong count,
 * offsets not an array, not JSON) sets both true.  A 200 means the proxy
 * accepted the batch, so records may well be in Kafka. */
static void regression_non_object_offsets_entry_maybe_written(void **state)
{
    struct pe_produce_result r, ref;

    (void)state;
    classify(200, "{\"offsets\":\"x\"}", 1, &ref);
    classify(200, "{\"offsets\":[5]}", 1, &r);
    assert_int_equal(r.outcome, PE_OUT_BAD_RESPONSE);
    assert_true(r.maybe_written);
    assert_int_equal(r.retriable, ref.retriable);
}

/* ---- hostile bodies ---- */

static void huge_bodies_do_not_crash(void **state)
{
    const size_t n = 5u << 20;
    char *big = pe_xmalloc(n + 1);
    struct pe_produce_result r;

    (void)state;
    memset(big, 'A', n);
    big[n] = '\0';
    classify(502, big, 1, &r);
    assert_int_equal(r.outcome, PE_OUT_HTTP_ERROR);
    assert_true(strlen(r.message) < sizeof(r.message));
    classify(200, big, 1, &r);
    assert_int_equal(r.outcome, PE_OUT_BAD_RESPONSE);

    /* Deep nesting must not overflow the stack. */
    memset(big, '[', n);
    classify(200, big, 1, &r);
    assert_int_equal(r.outcome, PE_OUT_BAD_RESPONSE);
    memset(big, '{', n);
    classify(500, big, 1, &r);
    assert_int_equal(r.outcome, PE_OUT_HTTP_ERROR);
    free(big);
}

static void many_offsets(void **state)
{
    const size_t n = 100000;
    struct pe_buf b;
    struct pe_produce_result r;

    (void)state;
    pe_buf_init(&b, 0);
    pe_buf_puts(&b, "{\"offsets\":[");
    for (size_t i = 0; i < n; i++)
        pe_buf_printf(&b, "%s{\"partition\":0,\"offset\":%zu}", i ? "," : "",
                      i);
    pe_buf_puts(&b, "]}");
    pe_response_classify(200, b.data, b.len, n, &r);
    assert_int_equal(r.outcome, PE_OUT_OK);
    /* Make the last one fail. */
    pe_buf_truncate(&b, b.len - 2);
    pe_buf_puts(&b, ",{\"error_code\":50002,\"error\":\"last\"}]}");
    pe_response_classify(200, b.data, b.len, n + 1, &r);
    assert_int_equal(r.outcome, PE_OUT_RECORD_ERRORS);
    assert_int_equal(r.first_failed, n);
    assert_int_equal(r.n_failed, 1);
    pe_buf_cleanup(&b);
}

static void binary_bodies_do_not_crash(void **state)
{
    char bin[4096];
    uint32_t x = 12345;
    struct pe_produce_result r;
    static const long statuses[] = {200, 400, 403, 500, 502};

    (void)state;
    for (size_t i = 0; i < sizeof(bin); i++) {
        x = x * 1103515245u + 12345u;
        bin[i] = (char)(x >> 16);
    }
    bin[0] = '\0'; /* a NUL first: len, not strlen, counts */
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        memset(&r, 0xa5, sizeof(r));
        pe_response_classify(statuses[i], bin, sizeof(bin), 1, &r);
        assert_true(r.outcome == PE_OUT_BAD_RESPONSE ||
                    r.outcome == PE_OUT_HTTP_ERROR);
        assert_non_null(memchr(r.message, '\0', sizeof(r.message)));
        assert_printable(r.message);
        assert_true(strlen(r.message) > 0);
    }
    /* A valid answer followed by junk bytes outside len is ignored. */
    {
        static const char ok[] =
            "{\"offsets\":[{\"partition\":0,\"offset\":1}]}GARBAGE";

        pe_response_classify(200, ok, sizeof(ok) - 1 - 7, 1, &r);
        assert_int_equal(r.outcome, PE_OUT_OK);
    }
}

/* ---- excerpt ---- */

static void excerpt_replaces_control_bytes(void **state)
{
    char out[64];
    static const char body[] = "a\r\nb\tc\x1b[0m\x7fz\0e";

    (void)state;
    pe_response_excerpt(body, sizeof(body) - 1, out, sizeof(out));
    assert_string_equal(out, "a  b c [0m z e");
}

static void excerpt_truncates(void **state)
{
    char out[8];
    char big[32];

    (void)state;
    memset(big, 'z', sizeof(big));
    memset(out, 'X', sizeof(out));
    pe_response_excerpt(big, sizeof(big), out, sizeof(out));
    assert_string_equal(out, "zzzzzzz");
    pe_response_excerpt("abc", 3, out, 4);
    assert_string_equal(out, "abc");
    pe_response_excerpt("abcd", 4, out, 4);
    assert_string_equal(out, "abc");
    pe_response_excerpt("abcd", 2, out, sizeof(out)); /* len counts */
    assert_string_equal(out, "ab");
    pe_response_excerpt("abc", 3, out, 1);
    assert_string_equal(out, "");
    /* max 0: nothing written at all. */
    memset(out, 'X', sizeof(out));
    pe_response_excerpt("abc", 3, out, 0);
    assert_int_equal(out[0], 'X');
}

static void excerpt_of_empty_body(void **state)
{
    char out[32];

    (void)state;
    pe_response_excerpt("", 0, out, sizeof(out));
    assert_string_equal(out, "(empty)");
    pe_response_excerpt(NULL, 0, out, sizeof(out));
    assert_string_equal(out, "(empty)");
    /* Too small for the word: empty string, still terminated. */
    pe_response_excerpt("", 0, out, 4);
    assert_string_equal(out, "");
}

/* Issue #12 item 17: a body cut at 200 bytes mid-character, or a binary
 * (gzip) body, gave a message that was not UTF-8. */
static void excerpt_is_valid_utf8(void **state)
{
    char body[300];
    struct pe_produce_result r;
    char out[16];

    (void)state;
    memset(body, 'h', sizeof(body));
    memcpy(body + 198, "\xe2\x82\xac", 3); /* bytes 198..200 */
    pe_response_classify(502, body, sizeof(body), 1, &r);
    assert_int_equal(strlen(r.message), 198); /* the euro is not split */
    assert_true(pe_utf8_valid(r.message, strlen(r.message)));

    pe_response_excerpt("\x1f\x8b\x08\x00\xff", 5, out, sizeof(out));
    assert_string_equal(out, " \xef\xbf\xbd  \xef\xbf\xbd");
    /* Cut by max between characters, never inside one. */
    pe_response_excerpt("ab\xe2\x82\xac", 5, out, 5);
    assert_string_equal(out, "ab");
}

static void outcome_names_are_distinct(void **state)
{
    const char *names[6];

    (void)state;
    for (int i = 0; i < 6; i++) {
        names[i] = pe_outcome_name((enum pe_outcome)i);
        assert_non_null(names[i]);
        assert_true(strlen(names[i]) > 0);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(names[i], names[j]);
    }
    assert_string_equal(pe_outcome_name(PE_OUT_OK), "ok");
}

/* The fast path says yes only for answers that acknowledge every record,
 * and leaves anything unusual to cJSON (which then decides). */
static void fast_path_yes_and_no(void **state)
{
    static const struct {
        const char *body;
        size_t n;
        bool yes;
    } cases[] = {
        {"{\"offsets\":[{\"partition\":0,\"offset\":1,\"error_code\":null,"
         "\"error\":null}],\"key_schema_id\":null,\"value_schema_id\":null}",
         1, true},
        {" {\"offsets\" : [ {\"offset\":-5} , {\"offset\":0,\"x\":[1,{\"a\":"
         "\"\\u00e9\\n\"},true,false,null,-0.5e-3]} ] }\n",
         2, true},
        {"{\"offsets\":[]}", 0, true},
        /* the first of duplicate names counts, as in cJSON */
        {"{\"offsets\":[{\"offset\":1,\"error_code\":null,\"error_code\":2}]}",
         1, true},
        {"{\"offsets\":[{\"offset\":1}],\"offsets\":[]}", 1, true},
        /* no */
        {"{\"offsets\":[{\"offset\":1}]}", 2, false},
        {"{\"offsets\":[{\"offset\":1,\"error_code\":50002}]}", 1, false},
        {"{\"offsets\":[{\"offset\":1,\"error_code\":0}]}", 1, false},
        {"{\"offsets\":[{\"offset\":1.5}]}", 1, false},
        {"{\"offsets\":[{\"offset\":1e3}]}", 1, false},
        {"{\"offsets\":[{\"offset\":\"1\"}]}", 1, false},
        {"{\"offsets\":[{\"offset\":12345678901234567890}]}", 1, false},
        {"{\"offsets\":[{\"partition\":0}]}", 1, false},
        {"{\"offsets\":[{}]}", 1, false},
        {"{\"offsets\":[1]}", 1, false},
        {"{\"offsets\":[{\"offset\":1}]}x", 1, false},
        {"{\"offsets\":[{\"offset\":1},]}", 1, false},
        {"{\"offsets\":[{\"offset\":1}],}", 1, false},
        {"{\"offsets\":[{\"offset\":01}]}", 1, false},
        {"{\"off\\u0073ets\":[{\"offset\":1}]}", 1, false},
        {"{\"offsets\":[{\"offset\":1,\"a\":\"\x01\"}]}", 1, false},
        {"{\"offsets\":[{\"offset\":1,\"a\":tru}]}", 1, false},
        /* lone surrogates, high and low: cJSON refuses the body */
        {"{\"offsets\":[{\"offset\":1}],\"x\":\"\\ud800\"}", 1, false},
        {"{\"offsets\":[{\"offset\":1}],\"x\":\"\\uDC00\"}", 1, false},
        {"{\"offsets\":[{\"offset\":1,\"error\":\"\\udfff\"}]}", 1, false},
        {"{\"offsets\":[{\"offset\":1}]", 1, false},
        {"[{\"offset\":1}]", 1, false},
        {"", 0, false},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got = pe_response_all_acked(cases[i].body, strlen(cases[i].body),
                                         cases[i].n);

        if (got != cases[i].yes)
            fail_msg("case %zu (%s): got %d", i, cases[i].body, got);
    }
    /* Cut short anywhere, a yes becomes a no. */
    {
        const char *ok = "{\"offsets\":[{\"offset\":1,\"error_code\":null}]}";

        for (size_t n = 0; n < strlen(ok); n++)
            assert_false(pe_response_all_acked(ok, n, 1));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ok_with_nulls_written),
        cmocka_unit_test(ok_with_error_fields_absent),
        cmocka_unit_test(ok_with_whitespace_and_pretty_print),
        cmocka_unit_test(offsets_count_mismatch),
        cmocka_unit_test(record_error_non_retriable),
        cmocka_unit_test(record_error_retriable),
        cmocka_unit_test(record_errors_mixed_are_not_retriable),
        cmocka_unit_test(old_style_codes_are_normalized),
        cmocka_unit_test(record_error_without_message),
        cmocka_unit_test(entry_without_offset_or_error_is_not_ok),
        cmocka_unit_test(auth_failures_with_offsets_body),
        cmocka_unit_test(proxy_errors),
        cmocka_unit_test(proxy_error_long_message_truncated),
        cmocka_unit_test(gateway_errors),
        cmocka_unit_test(plain_http_errors),
        cmocka_unit_test(ok_status_with_garbage),
        cmocka_unit_test(huge_bodies_do_not_crash),
        cmocka_unit_test(many_offsets),
        cmocka_unit_test(binary_bodies_do_not_crash),
        cmocka_unit_test(excerpt_replaces_control_bytes),
        cmocka_unit_test(excerpt_truncates),
        cmocka_unit_test(excerpt_of_empty_body),
        cmocka_unit_test(excerpt_is_valid_utf8),
        cmocka_unit_test(outcome_names_are_distinct),
        cmocka_unit_test(regression_non_object_offsets_entry_maybe_written),
        cmocka_unit_test(fast_path_yes_and_no),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
