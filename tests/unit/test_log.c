/* SPDX-License-Identifier: MIT
 * test_log.c - log lines: every JSON object has time and level, errors
 * carry their context as members, and what is written is valid UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cJSON.h>

#include "log.h"
#include "util.h"

static char log_path[64];

/* Messages go to a fresh file. */
static int setup(void **state)
{
    int fd;

    (void)state;
    snprintf(log_path, sizeof(log_path), "/tmp/test_log.XXXXXX");
    fd = mkstemp(log_path);
    if (fd < 0)
        return -1;
    close(fd);
    return pe_log_open(log_path);
}

static int teardown(void **state)
{
    (void)state;
    unlink(log_path);
    return 0;
}

/* What was logged since the last call (the file is emptied). */
static char *take_log(void)
{
    FILE *f = fopen(log_path, "r");
    char *text = calloc(1, 16384);
    size_t n;

    assert_non_null(f);
    n = fread(text, 1, 16383, f);
    text[n] = '\0';
    fclose(f);
    assert_int_equal(truncate(log_path, 0), 0);
    return text;
}

/* One line, a JSON object with time (RFC 3339 UTC, ms) and level. */
static cJSON *one_object(const char *text, const char *level)
{
    cJSON *o;
    const cJSON *t;
    const char *nl = strchr(text, '\n');

    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    assert_true(pe_utf8_valid(text, strlen(text)));
    o = cJSON_Parse(text);
    assert_non_null(o);
    t = cJSON_GetObjectItemCaseSensitive(o, "time");
    assert_true(cJSON_IsString(t));
    /* 2026-12-03T13:04:09.123Z */
    assert_int_equal(strlen(t->valuestring), 24);
    assert_int_equal(t->valuestring[10], 'T');
    assert_int_equal(t->valuestring[19], '.');
    assert_int_equal(t->valuestring[23], 'Z');
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(o, "level")->valuestring, level);
    return o;
}

/* Issue #12 item 17: errors carried only msg; stream, topic, status and
 * error_code are members of their own. */
static void json_error_has_context(void **state)
{
    struct pe_error err;
    char *text;
    cJSON *o;

    (void)state;
    pe_log_setup(PE_LOG_WARN, PE_LOG_JSON);
    pe_error_set(&err, PE_ERR_PROXY, false, "gave up");
    snprintf(err.stream, sizeof(err.stream), "pin");
    snprintf(err.topic, sizeof(err.topic), "u.pin");
    err.http_status = 500;
    err.error_code = 50001;
    pe_log_error(PE_LOG_ERROR, false, &err);
    text = take_log();
    o = one_object(text, "error");
    assert_string_equal(cJSON_GetObjectItem(o, "msg")->valuestring,
                        "gave up");
    assert_string_equal(cJSON_GetObjectItem(o, "stream")->valuestring, "pin");
    assert_string_equal(cJSON_GetObjectItem(o, "topic")->valuestring,
                        "u.pin");
    assert_int_equal(cJSON_GetObjectItem(o, "status")->valueint, 500);
    assert_int_equal(cJSON_GetObjectItem(o, "error_code")->valueint, 50001);
    cJSON_Delete(o);
    free(text);

    /* Unknown context: no members for it. */
    pe_error_set(&err, PE_ERR_IO, false, "disk");
    pe_log_error(PE_LOG_ERROR, false, &err);
    text = take_log();
    o = one_object(text, "error");
    assert_null(cJSON_GetObjectItem(o, "stream"));
    assert_null(cJSON_GetObjectItem(o, "status"));
    assert_null(cJSON_GetObjectItem(o, "error_code"));
    cJSON_Delete(o);
    free(text);

    /* Under the threshold only with `always`. */
    pe_log_setup(PE_LOG_ERROR, PE_LOG_JSON);
    pe_log_error(PE_LOG_WARN, false, &err);
    text = take_log();
    assert_string_equal(text, "");
    free(text);
    pe_log_error(PE_LOG_WARN, true, &err);
    text = take_log();
    cJSON_Delete(one_object(text, "warning"));
    free(text);
}

/* Invalid bytes (a body cut mid-character, binary) come out as U+FFFD, in
 * JSON and in text; a message cut at the buffer keeps characters whole. */
static void output_is_valid_utf8(void **state)
{
    char big[3000];
    char *text;
    cJSON *o;

    (void)state;
    pe_log_setup(PE_LOG_WARN, PE_LOG_JSON);
    pe_log(PE_LOG_WARN, "body: caf\xc3 \x1f\x8b\x08\xff end");
    text = take_log();
    o = one_object(text, "warning");
    assert_string_equal(cJSON_GetObjectItem(o, "msg")->valuestring,
                        "body: caf\xef\xbf\xbd \x1f\xef\xbf\xbd\x08\xef\xbf\xbd end");
    cJSON_Delete(o);
    free(text);

    pe_log_setup(PE_LOG_WARN, PE_LOG_TEXT);
    pe_log(PE_LOG_ERROR, "x\xe2\x82 y");
    text = take_log();
    assert_string_equal(text, "pinemit: x\xef\xbf\xbd\xef\xbf\xbd y\n");
    free(text);

    memset(big, 'a', sizeof(big));
    memcpy(big + 2045, "\xe2\x82\xac", 3); /* crosses byte 2047 */
    big[sizeof(big) - 1] = '\0';
    pe_log(PE_LOG_ERROR, "%s", big);
    text = take_log();
    assert_int_equal(strlen(text), strlen("pinemit: ") + 2045 + 1);
    assert_null(strstr(text, "\xef\xbf\xbd"));
    free(text);

    /* A preformatted line (the summary) too. */
    pe_log_raw("k=\xc0\n", 4);
    text = take_log();
    assert_string_equal(text, "k=\xef\xbf\xbd\n");
    free(text);
}

/* The JSON summary starts with the same time and level. */
static void json_open_has_time_and_level(void **state)
{
    struct pe_buf b;
    cJSON *o;

    (void)state;
    pe_buf_init(&b, 0);
    pe_log_json_open(&b, PE_LOG_INFO);
    pe_buf_puts(&b, ",\"event\":\"summary\"}\n");
    o = one_object(b.data, "info");
    assert_string_equal(cJSON_GetObjectItem(o, "event")->valuestring,
                        "summary");
    cJSON_Delete(o);
    pe_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_error_has_context),
        cmocka_unit_test(output_is_valid_utf8),
        cmocka_unit_test(json_open_has_time_and_level),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
