/* SPDX-License-Identifier: MIT
 * test_sinks.c - the pieces of the second sink and of delivery: base64,
 * Kinesis answers, batch frames, dead-letter lines, the metrics file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch.h"
#include "deadletter.h"
#include "metrics.h"
#include "response.h"
#include "sink.h"
#include "util.h"

static void base64_rfc4648_vectors(void **state)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba",
                                     "foobar"};
    static const char *const out[] = {"",         "Zg==",     "Zm8=",
                                      "Zm9v",     "Zm9vYg==", "Zm9vYmE=",
                                      "Zm9vYmFy"};
    struct pe_buf b;

    (void)state;
    for (size_t i = 0; i < 7; i++) {
        pe_buf_init(&b, 0);
        assert_int_equal(pe_buf_base64(&b, in[i], strlen(in[i])), PE_OK);
        assert_string_equal(b.data ? b.data : "", out[i]);
        pe_buf_cleanup(&b);
    }
    /* Binary, and a cap that refuses without changing the buffer. */
    pe_buf_init(&b, 6);
    assert_int_equal(pe_buf_base64(&b, "\xff\x00\xfe", 3), PE_OK);
    assert_string_equal(b.data, "/wD+");
    assert_int_equal(pe_buf_base64(&b, "abc", 3), PE_ERR_TOO_LARGE);
    assert_string_equal(b.data, "/wD+");
    pe_buf_cleanup(&b);
}

static void kinesis_all_ok(void **state)
{
    static const char body[] =
        "{\"FailedRecordCount\":0,\"Records\":[{\"SequenceNumber\":\"1\","
        "\"ShardId\":\"shardId-000000000000\"},{\"SequenceNumber\":\"2\","
        "\"ShardId\":\"shardId-000000000000\"}],\"EncryptionType\":\"NONE\"}";
    struct pe_produce_result r;
    struct pe_record_status per[2];

    (void)state;
    memset(per, 0, sizeof(per));
    pe_kinesis_classify(200, body, strlen(body), 2, per, &r);
    assert_int_equal(r.outcome, PE_OUT_OK);
    assert_int_equal(r.n_failed, 0);
    assert_int_equal(per[0].code, 0);
    assert_int_equal(per[1].code, 0);
}

static void kinesis_partial_failure(void **state)
{
    static const char body[] =
        "{\"FailedRecordCount\":2,\"Records\":["
        "{\"ErrorCode\":\"ProvisionedThroughputExceededException\","
        "\"ErrorMessage\":\"Rate exceeded for shard\"},"
        "{\"SequenceNumber\":\"7\",\"ShardId\":\"s\"},"
        "{\"ErrorCode\":\"InvalidArgumentException\",\"ErrorMessage\":\"bad\"}]}";
    struct pe_produce_result r;
    struct pe_record_status per[3];

    (void)state;
    memset(per, 0, sizeof(per));
    pe_kinesis_classify(200, body, strlen(body), 3, per, &r);
    assert_int_equal(r.outcome, PE_OUT_RECORD_ERRORS);
    assert_int_equal(r.n_failed, 2);
    assert_int_equal(r.first_failed, 0);
    assert_int_equal(per[0].code, 50003); /* resent */
    assert_int_equal(per[1].code, 0);
    assert_int_equal(per[2].code, 50002); /* dead letter */
    assert_non_null(strstr(per[0].message, "ProvisionedThroughput"));
    assert_false(r.retriable); /* not every failure is retriable */
    pe_record_status_clear(per, 3);
}

static void kinesis_request_errors(void **state)
{
    static const struct {
        long status;
        const char *body;
        bool retriable;
    } cases[] = {
        {400, "{\"__type\":\"ResourceNotFoundException\",\"message\":\"no\"}",
         false},
        {400, "{\"__type\":\"com.amazon.coral#ValidationException\"}", false},
        {400, "{\"__type\":\"AccessDeniedException\",\"Message\":\"x\"}", false},
        {400, "{\"__type\":\"ExpiredTokenException\",\"message\":\"x\"}", false},
        {400, "{\"__type\":\"ProvisionedThroughputExceededException\"}", true},
        {400, "{\"__type\":\"LimitExceededException\"}", true},
        {500, "{\"__type\":\"InternalFailure\"}", true},
        {503, "<html>down</html>", true},
    };
    struct pe_produce_result r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pe_kinesis_classify(cases[i].status, cases[i].body,
                            strlen(cases[i].body), 1, NULL, &r);
        assert_int_not_equal(r.outcome, PE_OUT_OK);
        assert_int_equal(r.retriable, cases[i].retriable);
    }
    /* The __type's name, without its namespace, leads the message. */
    pe_kinesis_classify(400, cases[1].body, strlen(cases[1].body), 1, NULL,
                        &r);
    assert_memory_equal(r.message, "ValidationException", 19);
    /* A count that does not match is not an acknowledgement. */
    pe_kinesis_classify(200, "{\"FailedRecordCount\":0,\"Records\":[]}", 35, 1,
                        NULL, &r);
    assert_int_equal(r.outcome, PE_OUT_BAD_RESPONSE);
    assert_true(r.retriable);
}

static void batch_frame_kinesis(void **state)
{
    struct pe_batch b;
    size_t len;
    const char *body;

    (void)state;
    pe_batch_init(&b, 10, 100);
    pe_batch_set_frame(&b, "{\"StreamName\":\"s\",\"Records\":[", "]}");
    assert_int_equal(pe_batch_add(&b, "{\"a\":1}", 7, "1"), PE_OK);
    assert_int_equal(pe_batch_add(&b, "{\"b\":2}", 7, "2"), PE_OK);
    body = pe_batch_finish(&b, &len);
    assert_string_equal(body,
                        "{\"StreamName\":\"s\",\"Records\":[{\"a\":1},{\"b\":2}]}");
    assert_int_equal(len, strlen(body));
    /* The frame counts against max_bytes: 31 bytes of frame. */
    pe_batch_reset(&b);
    assert_true(pe_batch_fits_alone(&b, 69));
    assert_false(pe_batch_fits_alone(&b, 70));
    pe_batch_cleanup(&b);
}

static void dead_letter_round_trip(void **state)
{
    char path[] = "/tmp/pinemit-dlq-XXXXXX";
    int fd = mkstemp(path);
    const char record[] = "{\"value\":{\"n\":9007199254740993,\"s\":\"a\\\"b\"}}";
    struct pe_dead_letter d = {"pin", "t.pin", "key \"7\"", 50002,
                               "rejected: \"record\":{x}", record,
                               sizeof(record) - 1};
    struct pe_dead_letter back;
    struct pe_error err;
    struct pe_dlq *q;
    char line[4096];
    FILE *f;

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    q = pe_dlq_new(path);
    assert_int_equal(pe_dlq_write(q, &d, &err), PE_OK);
    assert_int_equal(pe_dlq_sync(q, &err), PE_OK);
    assert_int_equal(pe_dlq_count(q), 1);
    pe_dlq_free(q);
    f = fopen(path, "r");
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    unlink(path);
    assert_int_equal(pe_dlq_parse_line(line, &back, &err), PE_OK);
    assert_string_equal(back.stream, "pin");
    assert_string_equal(back.topic, "t.pin");
    assert_string_equal(back.key, "key \"7\"");
    assert_string_equal(back.message, "rejected: \"record\":{x}");
    assert_int_equal(back.error_code, 50002);
    /* The record comes back byte for byte, big number included. */
    assert_int_equal(back.record_len, sizeof(record) - 1);
    assert_memory_equal(back.record, record, sizeof(record) - 1);
    strcpy(line, "{\"time\":\"x\"}\n");
    assert_int_equal(pe_dlq_parse_line(line, &back, &err), PE_ERR_DATA);
    strcpy(line, "garbage");
    assert_int_equal(pe_dlq_parse_line(line, &back, &err), PE_ERR_DATA);
}

static void metrics_counters_carry_on(void **state)
{
    char path[] = "/tmp/pinemit-prom-XXXXXX";
    int fd = mkstemp(path);
    struct pe_metrics_stream s = {.name = "pin", .topic = "t.pin",
                                  .checkpoint = "42", .rows = 10,
                                  .requests = 1, .bytes = 500, .retries = 2,
                                  .dead_letters = 1};
    struct pe_metrics_run run = {1000.0, 1002.5, 0, &s, 1};
    struct pe_error err;
    char text[8192];
    size_t n;
    FILE *f;

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pe_metrics_write(path, &run, &err), PE_OK);
    s.rows = 5;
    run.exit_code = 1; /* a failed run keeps the last success time */
    run.end_s = 2000.0;
    assert_int_equal(pe_metrics_write(path, &run, &err), PE_OK);
    f = fopen(path, "r");
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    unlink(path);
    text[n] = '\0';
    assert_non_null(strstr(text, "pinemit_rows_total{stream=\"pin\"} 15\n"));
    assert_non_null(strstr(text, "pinemit_dead_letters_total{stream=\"pin\"} 2\n"));
    assert_non_null(strstr(text, "pinemit_last_exit_code 1\n"));
    assert_non_null(strstr(text, "pinemit_last_success_timestamp_seconds 1002.500\n"));
    assert_non_null(strstr(text, "pinemit_checkpoint_key{stream=\"pin\"} 42\n"));
    assert_non_null(strstr(text, "# TYPE pinemit_rows_total counter\n"));
}

/* A config with only what the sinks read. */
static void sink_config(struct pe_config *c, enum pe_sink_kind kind)
{
    memset(c, 0, sizeof(*c));
    c->sink.kind = kind;
    c->sink.invoke_url = (char *)"http://127.0.0.1:1";
    c->sink.region = (char *)"eu-west-1";
    c->sink.timeout_ms = 1000;
    c->sink.connect_timeout_ms = 1000;
    c->sink.max_record_bytes = 2000000;
}

static void dry_run_takes_the_configured_format(void **state)
{
    static const struct pe_column cols[] = {{"n", PE_J_NUMBER, PE_J_NUMBER,
                                             ','}};
    const char *values[] = {"7"};
    struct pe_sink_row row = {cols, 1, values, -1, "k1"};
    struct pe_config c;
    struct pe_error err;
    struct pe_sink *s;
    struct pe_batch b;
    struct pe_buf rec;
    const char *what;
    char why[128];
    size_t counted, len;

    (void)state;
    sink_config(&c, PE_SINK_KINESIS);
    s = pe_sink_open(&c, true, NULL, &err); /* no AWS secrets needed */
    assert_non_null(s);
    assert_false(pe_sink_delivers(s));
    assert_int_equal(pe_sink_record_limit(s, &what), 1048576);
    assert_string_equal(what, "Kinesis' record limit");
    pe_buf_init(&rec, 0);
    assert_int_equal(pe_sink_encode(s, &row, &rec, &counted, why, sizeof(why),
                                    &err),
                     PE_OK);
    /* {"n":7} is 7 bytes of data, plus the 2 of the partition key. */
    assert_string_equal(rec.data, "{\"Data\":\"eyJuIjo3fQ==\","
                                  "\"PartitionKey\":\"k1\"}");
    assert_int_equal(counted, 9);
    assert_string_equal(why, "");
    row.key = "";
    assert_int_equal(pe_sink_encode(s, &row, &rec, &counted, why, sizeof(why),
                                    &err),
                     PE_OK);
    assert_non_null(strstr(why, "Kinesis takes 1 to 256"));
    pe_batch_init(&b, 10, 1000);
    pe_sink_frame(s, &b, "s1");
    assert_int_equal(pe_batch_add(&b, "{}", 2, "1"), PE_OK);
    assert_string_equal(pe_batch_finish(&b, &len),
                        "{\"StreamName\":\"s1\",\"Records\":[{}]}");
    pe_batch_cleanup(&b);
    pe_buf_cleanup(&rec);
    pe_sink_close(s);
}

static void rest_sink_reads_its_secrets(void **state)
{
    struct pe_config c;
    struct pe_error err;
    struct pe_sink *s;
    const char *what;

    (void)state;
    sink_config(&c, PE_SINK_REST_PROXY);
    c.sink.api_key_env = (char *)"PINEMIT_TEST_NO_SUCH_VARIABLE";
    unsetenv("PINEMIT_TEST_NO_SUCH_VARIABLE");
    assert_null(pe_sink_open(&c, false, NULL, &err));
    assert_int_equal(err.status, PE_ERR_CONFIG);
    assert_string_equal(err.msg, "sink.api_key_env: environment variable "
                                 "PINEMIT_TEST_NO_SUCH_VARIABLE is not set");
    c.sink.api_key_env = NULL;
    s = pe_sink_open(&c, false, NULL, &err);
    assert_non_null(s);
    assert_true(pe_sink_delivers(s));
    assert_int_equal(pe_sink_record_limit(s, &what), 2000000);
    assert_string_equal(what, "sink.max_record_bytes");
    pe_sink_close(s);
    pe_sink_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(base64_rfc4648_vectors),
        cmocka_unit_test(kinesis_all_ok),
        cmocka_unit_test(kinesis_partial_failure),
        cmocka_unit_test(kinesis_request_errors),
        cmocka_unit_test(batch_frame_kinesis),
        cmocka_unit_test(dead_letter_round_trip),
        cmocka_unit_test(metrics_counters_carry_on),
        cmocka_unit_test(dry_run_takes_the_configured_format),
        cmocka_unit_test(rest_sink_reads_its_secrets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
