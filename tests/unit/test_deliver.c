/* SPDX-License-Identifier: MIT
 * test_deliver.c - pe_deliver against a fake sink: a backend written here
 * through the sink ops table that answers from a script and keeps what
 * it was sent.  No network, no database. */
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
#include "deliver.h"
#include "response.h"
#include "sink.h"
#include "util.h"

#define MAX_SENDS 8
#define N_RECORDS 4

/* One scripted answer.  st PE_OK: all acknowledged (HTTP 200). */
struct answer {
    enum pe_status st;
    long http;    /* 0: no HTTP answer (a transport error) */
    bool retriable;
    long codes[N_RECORDS]; /* per-record codes: an offsets body */
    int64_t retry_after_ms;
};

struct fake {
    const struct answer *script;
    size_t n_script, calls;
    char *bodies[MAX_SENDS];
    size_t lens[MAX_SENDS];
};

static struct fake fake;

static enum pe_status fake_send(struct pe_sink *s, const char *topic,
                                const char *body, size_t len, size_t n,
                                struct pe_record_status *per,
                                struct pe_produce_result *res,
                                struct pe_error *err)
{
    struct fake *f = s->impl;
    const struct answer *a;
    bool per_record = false;

    (void)topic;
    assert_true(f->calls < f->n_script);
    a = &f->script[f->calls];
    f->bodies[f->calls] = pe_xstrdup(body);
    f->lens[f->calls] = len;
    f->calls++;
    res->http_status = a->http;
    res->retry_after_ms = a->retry_after_ms;
    res->retriable = a->retriable;
    for (size_t i = 0; i < n && i < N_RECORDS; i++) {
        per[i].code = a->codes[i];
        if (a->codes[i] != 0) {
            per[i].message = pe_xstrdup("scripted record error");
            per_record = true;
            res->n_failed++;
        }
    }
    if (a->st == PE_OK) {
        res->outcome = PE_OUT_OK;
        return PE_OK;
    }
    res->outcome = per_record ? PE_OUT_RECORD_ERRORS
                   : a->http == 0 ? PE_OUT_HTTP_ERROR
                                  : PE_OUT_GATEWAY_ERROR;
    snprintf(res->message, sizeof(res->message), "scripted");
    return pe_error_set(err, a->st, a->retriable, "fake: HTTP %ld", a->http);
}

static void fake_close(struct pe_sink *s)
{
    s->impl = NULL;
}

static const struct pe_sink_ops fake_ops = {
    .name = "fake",
    .delivers = true,
    .dlq_format = PE_DLQ_REST,
    .send = fake_send,
    .close = fake_close,
};

/* A batch of records {"value":1} .. {"value":4}, keys "1" .. "4", a
 * dead-letter file in a fresh directory, and the fake sink. */
struct fixture {
    char dir[64], path[96];
    struct pe_batch b;
    struct pe_dlq *dlq;
    size_t rejected;
    struct pe_deliver_env env;
    struct pe_sink sink;
    struct pe_send_stats stats;
    struct pe_error err;
};

static void setup(struct fixture *x, const struct answer *script, size_t n)
{
    memset(x, 0, sizeof(*x));
    memset(&fake, 0, sizeof(fake));
    fake.script = script;
    fake.n_script = n;
    snprintf(x->dir, sizeof(x->dir), "/tmp/pe-deliver.XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->path, sizeof(x->path), "%s/dead.jsonl", x->dir);
    pe_batch_init(&x->b, 100, 1 << 20);
    for (int i = 1; i <= N_RECORDS; i++) {
        char rec[32], key[8];

        snprintf(rec, sizeof(rec), "{\"value\":%d}", i);
        snprintf(key, sizeof(key), "%d", i);
        assert_int_equal(pe_batch_add(&x->b, rec, strlen(rec), key), PE_OK);
    }
    x->dlq = pe_dlq_new(x->path);
    x->env.policy.max_attempts = 4;
    x->env.policy.initial_backoff_ms = 1;
    x->env.policy.max_backoff_ms = 2;
    x->env.policy.max_retry_after_ms = 5000;
    x->env.dlq = x->dlq;
    x->env.dead_letter_max = -1;
    x->env.rejected = &x->rejected;
    x->sink.ops = &fake_ops;
    x->sink.format = &fake_ops;
    x->sink.impl = &fake;
    pe_error_clear(&x->err);
}

static enum pe_status deliver_all(struct fixture *x)
{
    return pe_deliver(&x->env, &x->sink, "pin", "t", &x->b, NULL, N_RECORDS,
                      &x->stats, &x->err);
}

/* Delivers the batch against the script: the status must be `want` and
 * every answer of the script used. */
#define RUN(x, script, want)                                                 \
    do {                                                                     \
        size_t n_ = sizeof(script) / sizeof(script[0]);                      \
                                                                             \
        setup((x), (script), n_);                                            \
        assert_int_equal(deliver_all(x), (want));                            \
        assert_int_equal(fake.calls, n_);                                    \
    } while (0)

static void teardown(struct fixture *x)
{
    for (size_t i = 0; i < fake.calls; i++)
        free(fake.bodies[i]);
    pe_dlq_free(x->dlq);
    pe_batch_cleanup(&x->b);
    unlink(x->path);
    rmdir(x->dir);
}

#define BODY(...) "{\"records\":[" __VA_ARGS__ "]}"
#define ALL4 BODY("{\"value\":1},{\"value\":2},{\"value\":3},{\"value\":4}")

static void all_acked(void **state)
{
    static const struct answer script[] = {{PE_OK, 200, false, {0}, -1}};
    struct fixture x;

    (void)state;
    RUN(&x, script, PE_OK);
    assert_string_equal(fake.bodies[0], ALL4);
    assert_int_equal(x.stats.records, 4);
    assert_int_equal(x.stats.requests, 1);
    assert_int_equal(x.stats.bytes, (long long)strlen(ALL4));
    assert_int_equal(x.stats.retries, 0);
    assert_int_equal(x.stats.dead, 0);
    teardown(&x);
}

/* 50003 for records 2 and 4: only those go again, in order. */
static void retriable_records_resent(void **state)
{
    static const struct answer script[] = {
        {PE_ERR_PROXY, 200, true, {0, 50003, 0, 50003}, -1},
        {PE_OK, 200, false, {0}, -1},
    };
    struct fixture x;

    (void)state;
    RUN(&x, script, PE_OK);
    assert_string_equal(fake.bodies[1],
                        BODY("{\"value\":2},{\"value\":4}"));
    assert_int_equal(x.stats.records, 4);
    assert_int_equal(x.stats.requests, 2);
    /* A batch with per-record rejections got its answer: its bytes count. */
    assert_int_equal(x.stats.bytes,
                     (long long)(fake.lens[0] + fake.lens[1]));
    assert_int_equal(x.stats.retries, 1);
    assert_int_equal(x.stats.dead, 0);
    teardown(&x);
}

/* 50002 for record 3: dead-lettered, the rest acknowledged, no resend. */
static void permanent_records_dead_lettered(void **state)
{
    static const struct answer script[] = {
        {PE_ERR_PROXY, 200, false, {0, 0, 50002, 0}, -1},
    };
    struct fixture x;
    char line[512];
    FILE *f;

    (void)state;
    RUN(&x, script, PE_OK);
    assert_int_equal(x.stats.records, 3);
    assert_int_equal(x.stats.dead, 1);
    assert_int_equal(x.rejected, 1);
    assert_int_equal(pe_dlq_count(x.dlq), 1);
    f = fopen(x.path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_non_null(strstr(line, "\"key\":\"3\""));
    assert_non_null(strstr(line, "\"error_code\":50002"));
    assert_non_null(strstr(line, "\"record\":{\"value\":3}"));
    teardown(&x);
}

/* A 429 with Retry-After: the wait is the header's, not the backoff's
 * (1 to 2 ms here). */
static void retry_after_honoured(void **state)
{
    static const struct answer script[] = {
        {PE_ERR_PROXY, 429, true, {0}, 60},
        {PE_OK, 200, false, {0}, -1},
    };
    struct fixture x;
    int64_t t0;

    (void)state;
    t0 = pe_now_mono_ms();
    RUN(&x, script, PE_OK);
    assert_true(pe_now_mono_ms() - t0 >= 60);
    assert_string_equal(fake.bodies[1], ALL4);
    assert_int_equal(x.stats.records, 4);
    assert_int_equal(x.stats.requests, 2);
    assert_int_equal(x.stats.retries, 1);
    teardown(&x);
}

/* A 413: the batch is halved and each half sent; nothing counts as a
 * retry. */
static void too_large_split(void **state)
{
    static const struct answer script[] = {
        {PE_ERR_PROXY, 413, false, {0}, -1},
        {PE_OK, 200, false, {0}, -1},
        {PE_OK, 200, false, {0}, -1},
    };
    struct fixture x;

    (void)state;
    RUN(&x, script, PE_OK);
    assert_string_equal(fake.bodies[1], BODY("{\"value\":1},{\"value\":2}"));
    assert_string_equal(fake.bodies[2], BODY("{\"value\":3},{\"value\":4}"));
    assert_int_equal(x.stats.records, 4);
    assert_int_equal(x.stats.requests, 3);
    assert_int_equal(x.stats.retries, 0);
    assert_int_equal(x.stats.dead, 0);
    teardown(&x);
}

/* A transport error (no HTTP answer), then success: the same body again
 * (issue #12 review: bytes of a request that never left do not count). */
static void transport_error_then_success(void **state)
{
    static const struct answer script[] = {
        {PE_ERR_PROXY, 0, true, {0}, -1},
        {PE_OK, 200, false, {0}, -1},
    };
    struct fixture x;

    (void)state;
    RUN(&x, script, PE_OK);
    assert_string_equal(fake.bodies[0], ALL4);
    assert_string_equal(fake.bodies[1], ALL4);
    assert_int_equal(x.stats.records, 4);
    assert_int_equal(x.stats.retries, 1);
    /* Only the answered request counts, and only its bytes. */
    assert_int_equal(x.stats.requests, 1);
    assert_int_equal(x.stats.bytes, (long long)strlen(ALL4));
    teardown(&x);
}

/* A permanent refusal: the error names the stream, topic and status. */
static void permanent_refusal_fails(void **state)
{
    static const struct answer script[] = {
        {PE_ERR_PROXY, 403, false, {0}, -1},
    };
    struct fixture x;

    (void)state;
    RUN(&x, script, PE_ERR_PROXY);
    assert_string_equal(x.err.msg, "fake: HTTP 403");
    assert_string_equal(x.err.stream, "pin");
    assert_string_equal(x.err.topic, "t");
    assert_int_equal(x.err.http_status, 403);
    assert_int_equal(x.stats.records, 0);
    teardown(&x);
}

/* Retriable answers until max_attempts: gives up, saying how often. */
static void retries_exhausted(void **state)
{
    static const struct answer script[] = {
        {PE_ERR_PROXY, 503, true, {0}, -1},
        {PE_ERR_PROXY, 503, true, {0}, -1},
        {PE_ERR_PROXY, 503, true, {0}, -1},
        {PE_ERR_PROXY, 503, true, {0}, -1},
    };
    struct fixture x;

    (void)state;
    RUN(&x, script, PE_ERR_PROXY);
    assert_string_equal(x.err.msg, "gave up after 4 attempts: fake: HTTP 503");
    assert_int_equal(x.stats.retries, 3);
    assert_int_equal(x.stats.requests, 4);
    teardown(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(all_acked),
        cmocka_unit_test(retriable_records_resent),
        cmocka_unit_test(permanent_records_dead_lettered),
        cmocka_unit_test(retry_after_honoured),
        cmocka_unit_test(too_large_split),
        cmocka_unit_test(transport_error_then_success),
        cmocka_unit_test(permanent_refusal_fails),
        cmocka_unit_test(retries_exhausted),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
