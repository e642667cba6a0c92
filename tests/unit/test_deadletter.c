/* SPDX-License-Identifier: MIT
 * test_deadletter.c - the dead-letter file: whole lines only (a torn tail
 * is cut, a short write is undone), and the record check of a replay. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "deadletter.h"

static char dir[] = "/tmp/test_deadletter.XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[64];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *path_of(const char *name)
{
    return pe_xasprintf("%s/%s", dir, name);
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static char *get_file(const char *path)
{
    struct pe_buf b;
    char chunk[4096];
    size_t n;
    FILE *f = fopen(path, "r");

    assert_non_null(f);
    pe_buf_init(&b, 0);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        pe_buf_append(&b, chunk, n);
    fclose(f);
    return b.data ? b.data : pe_xstrdup("");
}

static struct pe_dead_letter letter(const char *key, const char *record)
{
    struct pe_dead_letter d;

    memset(&d, 0, sizeof(d));
    d.stream = "geo";
    d.topic = "t.geo";
    d.key = key;
    d.error_code = 50002;
    d.message = "m";
    d.record = record;
    d.record_len = strlen(record);
    return d;
}

/* Every line of text parses as a dead letter; returns how many. */
static size_t whole_lines(char *text)
{
    size_t n = 0;
    char *save = NULL;

    assert_true(text[0] == '\0' || text[strlen(text) - 1] == '\n');
    for (char *l = strtok_r(text, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        struct pe_dead_letter d;
        struct pe_error err;

        assert_int_equal(pe_dlq_parse_line(l, &d, &err), PE_OK);
        n++;
    }
    return n;
}

static void torn_tail_is_cut_before_appending(void **state)
{
    static const char *const before[] = {
        "{\"time\":\"x\",\"stream\":\"geo\",\"topic\":\"t.geo\",\"key\":\"1\","
        "\"error_code\":1,\"message\":\"m\",\"record\":{\"value\":1}}\n"
        "{\"time\":\"x\",\"str",
        "{\"time\":\"x\",\"str", /* no newline at all */
        "",
    };
    static const size_t cut[] = {16, 16, 0}, kept[] = {1, 0, 0};

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        char *path = path_of("torn.jsonl");
        struct pe_dlq *q = pe_dlq_new(path);
        struct pe_dead_letter d = letter("2", "{\"value\":2}");
        struct pe_error err;
        char *text;

        put_file(path, before[i]);
        assert_int_equal(pe_dlq_write(q, &d, &err), PE_OK);
        assert_int_equal(pe_dlq_write(q, &d, &err), PE_OK);
        assert_int_equal(pe_dlq_repaired(q), cut[i]);
        assert_int_equal(pe_dlq_count(q), 2);
        text = get_file(path);
        assert_int_equal(whole_lines(text), kept[i] + 2);
        free(text);
        pe_dlq_free(q);
        free(path);
    }
}

/* A write cut short (here by RLIMIT_FSIZE, as a full disk would) leaves
 * the file as it was. */
static void short_write_is_undone(void **state)
{
    char *path = path_of("short.jsonl");
    struct pe_dlq *q = pe_dlq_new(path);
    struct pe_dead_letter d = letter("1", "{\"value\":1}");
    char *big = pe_xmalloc(20000);
    struct rlimit old, lim;
    struct pe_error err;
    struct stat st;
    off_t size;
    char *text;

    (void)state;
    memcpy(big, "{\"value\":\"", 10);
    memset(big + 10, 'x', 20000 - 13);
    memcpy(big + 20000 - 3, "\"}", 3);
    assert_int_equal(pe_dlq_write(q, &d, &err), PE_OK);
    assert_int_equal(stat(path, &st), 0);
    size = st.st_size;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)size + 10000;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    d = letter("2", big);
    assert_int_equal(pe_dlq_write(q, &d, &err), PE_ERR_IO);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, size);
    assert_int_equal(pe_dlq_count(q), 1);
    /* and the next letter goes on after the whole one */
    d = letter("3", "{\"value\":3}");
    assert_int_equal(pe_dlq_write(q, &d, &err), PE_OK);
    text = get_file(path);
    assert_int_equal(whole_lines(text), 2);
    free(text);
    pe_dlq_free(q);
    free(big);
    free(path);
}

struct record_case {
    enum pe_dlq_sink sink;
    const char *record;
    enum pe_status want;
    size_t size;     /* when PE_OK */
    const char *why; /* in the message when refused */
};

static void records_are_checked_for_the_sink(void **state)
{
    static const struct record_case cases[] = {
        {PE_DLQ_REST, "{\"value\":{\"a\":1}}", PE_OK, 17, NULL},
        {PE_DLQ_REST, "{\"value\":null,\"key\":\"k\",\"partition\":3}", PE_OK,
         38, NULL},
        {PE_DLQ_REST, "{\"value\":1} \n", PE_OK, 13, NULL},
        {PE_DLQ_REST, "{\"value\":1},{\"value\":2}", PE_ERR_DATA, 0,
         "more than one JSON value"},
        {PE_DLQ_REST, "xyz", PE_ERR_DATA, 0, "not JSON"},
        {PE_DLQ_REST, "", PE_ERR_DATA, 0, "not JSON"},
        {PE_DLQ_REST, "[{\"value\":1}]", PE_ERR_DATA, 0, "not a JSON object"},
        {PE_DLQ_REST, "{\"key\":1}", PE_ERR_DATA, 0, "no \"value\""},
        {PE_DLQ_REST, "{\"value\":1,\"value\":2}", PE_ERR_DATA, 0,
         "\"value\" twice"},
        {PE_DLQ_REST, "{\"value\":1,\"headers\":[]}", PE_ERR_DATA, 0,
         "unknown member \"headers\""},
        {PE_DLQ_REST, "{\"value\":1,\"partition\":-1}", PE_ERR_DATA, 0,
         "\"partition\""},
        {PE_DLQ_REST, "{\"value\":1,\"partition\":2147483648}", PE_ERR_DATA,
         0, "\"partition\""},
        {PE_DLQ_REST, "{\"value\":1,\"partition\":\"1\"}", PE_ERR_DATA, 0,
         "\"partition\""},
        {PE_DLQ_REST, "{\"value\":1,\"partition\":0.5}", PE_ERR_DATA, 0,
         "\"partition\""},
        /* {"id":1} is 8 bytes, plus the key's 1 */
        {PE_DLQ_KINESIS, "{\"Data\":\"eyJpZCI6MX0=\",\"PartitionKey\":\"1\"}",
         PE_OK, 9, NULL},
        {PE_DLQ_KINESIS, "{\"Data\":\"\",\"PartitionKey\":\"k\"}", PE_OK, 1,
         NULL},
        {PE_DLQ_KINESIS, "{\"Data\":\"YQ==\",\"PartitionKey\":\"\"}",
         PE_ERR_DATA, 0, "1 to 256"},
        {PE_DLQ_KINESIS, "{\"Data\":\"YQ=\",\"PartitionKey\":\"k\"}",
         PE_ERR_DATA, 0, "not base64"},
        {PE_DLQ_KINESIS, "{\"Data\":\"Y=Q=\",\"PartitionKey\":\"k\"}",
         PE_ERR_DATA, 0, "not base64"},
        {PE_DLQ_KINESIS, "{\"Data\":\"YQ==\"}", PE_ERR_DATA, 0,
         "no \"PartitionKey\""},
        {PE_DLQ_KINESIS, "{\"Data\":1,\"PartitionKey\":\"k\"}", PE_ERR_DATA,
         0, "strings"},
        {PE_DLQ_KINESIS, "{\"value\":1}", PE_ERR_DATA, 0,
         "unknown member \"value\""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct record_case *c = &cases[i];
        struct pe_dead_letter d = letter("1", c->record);
        struct pe_error err;
        size_t size = 12345;
        enum pe_status st;

        memset(&err, 0, sizeof(err));
        st = pe_dlq_check_record(&d, c->sink, &size, &err);
        if (st != c->want || (st == PE_OK && size != c->size) ||
            (c->why != NULL && strstr(err.msg, c->why) == NULL))
            fail_msg("case %zu (%s): status %d size %zu: %s", i, c->record,
                     (int)st, size, err.msg);
    }
}

/* A PartitionKey of 256 characters (here 2-byte ones) is the most. */
static void kinesis_key_counts_characters(void **state)
{
    struct pe_buf rec;
    struct pe_dead_letter d;
    struct pe_error err;
    size_t size = 0;

    (void)state;
    for (int n = 256; n <= 257; n++) {
        pe_buf_init(&rec, 0);
        pe_buf_puts(&rec, "{\"Data\":\"YWJj\",\"PartitionKey\":\"");
        for (int i = 0; i < n; i++)
            pe_buf_puts(&rec, "\xc3\xa9");
        pe_buf_puts(&rec, "\"}");
        d = letter("1", rec.data);
        assert_int_equal(pe_dlq_check_record(&d, PE_DLQ_KINESIS, &size, &err),
                         n == 256 ? PE_OK : PE_ERR_DATA);
        if (n == 256)
            assert_int_equal(size, 3 + 512);
        pe_buf_cleanup(&rec);
    }
}

/* Found by fuzz_deadletter: an error_code beyond long was converted
 * anyway (undefined behaviour). */
static void huge_error_code_is_not_a_letter(void **state)
{
    char line[] = "{\"time\":\"x\",\"stream\":\"g\",\"topic\":\"t\","
                  "\"key\":\"1\",\"error_code\":1e30,\"message\":\"m\","
                  "\"record\":{\"value\":1}}";
    struct pe_dead_letter d;
    struct pe_error err;

    (void)state;
    assert_int_equal(pe_dlq_parse_line(line, &d, &err), PE_ERR_DATA);
    assert_string_equal(err.msg, "not a dead-letter line");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torn_tail_is_cut_before_appending),
        cmocka_unit_test(short_write_is_undone),
        cmocka_unit_test(records_are_checked_for_the_sink),
        cmocka_unit_test(kinesis_key_counts_characters),
        cmocka_unit_test(huge_error_code_is_not_a_letter),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
