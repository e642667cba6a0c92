/* SPDX-License-Identifier: MIT
 * test_retry.c - backoff with full jitter and Retry-After parsing. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "retry.h"
#include "util.h"

/* 2015-10-21 07:28:00 UTC, the date in RFC 9110's examples. */
#define T_2015 INT64_C(1445412480)
/* 1994-11-06 08:49:37 UTC, the date in RFC 9110's asctime example. */
#define T_1994 INT64_C(784111777)

/* xorshift64: a small deterministic generator, so failures reproduce. */
static uint64_t next_rnd(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static struct pe_retry_policy policy(long initial, long max)
{
    struct pe_retry_policy p = {8, initial, max, 300000};

    return p;
}

/* min(max, initial * 2^retry), saturating instead of overflowing. */
static int64_t want_cap(const struct pe_retry_policy *p, long retry)
{
    int64_t cap = p->initial_backoff_ms;

    for (long i = 0; i < retry && cap < p->max_backoff_ms; i++)
        cap = cap > INT64_MAX / 2 ? INT64_MAX : cap * 2;
    return cap < p->max_backoff_ms ? cap : p->max_backoff_ms;
}

/* ---- pe_backoff_ms ---- */

static const long policies[][2] = {
    {1, 1},       {1, 1000},  {100, 30000},       {200, 30000}, {250, 3600000},
    {1000, 1000}, {500, 700}, {3600000, 3600000}, {1, 3600000}, {999, 1000000},
};
#define N_POLICIES (sizeof(policies) / sizeof(policies[0]))

static void backoff_within_bounds(void **state)
{
    uint64_t seed = 0x2545F4914F6CDD1Dull;

    (void)state;
    for (size_t k = 0; k < N_POLICIES; k++) {
        struct pe_retry_policy p = policy(policies[k][0], policies[k][1]);

        for (long retry = 0; retry <= 70; retry++) {
            int64_t cap = want_cap(&p, retry);

            for (int i = 0; i < 200; i++) {
                uint64_t rnd = next_rnd(&seed);
                int64_t v = pe_backoff_ms(&p, retry, rnd);

                if (v < 0 || v > cap)
                    fail_msg("initial %ld max %ld retry %ld rnd %llu: %lld "
                             "not in [0, %lld]",
                             p.initial_backoff_ms, p.max_backoff_ms, retry,
                             (unsigned long long)rnd, (long long)v,
                             (long long)cap);
            }
        }
    }
}

static void backoff_doubles_until_the_cap(void **state)
{
    struct pe_retry_policy p = policy(100, 30000);
    uint64_t seed = 42;

    (void)state;
    /* 100, 200, ... 25600, then 30000 for good: the largest of many draws
     * lands just under each step's cap, never above it. */
    for (long retry = 0; retry <= 12; retry++) {
        int64_t cap = want_cap(&p, retry), top = 0;

        for (int i = 0; i < 20000; i++) {
            int64_t v = pe_backoff_ms(&p, retry, next_rnd(&seed));

            if (v > top)
                top = v;
        }
        assert_true(top <= cap);
        assert_true(top >= cap - cap / 100 - 1);
    }
    assert_int_equal(want_cap(&p, 8), 25600);
    assert_int_equal(want_cap(&p, 9), 30000);
}

static void backoff_cap_held_for_large_retry_counts(void **state)
{
    static const long retries[] = {9,  10,  30,   62,      63,
                                   64, 100, 1000, 1000000, LONG_MAX};
    struct pe_retry_policy p = policy(100, 30000);
    uint64_t seed = 7;

    (void)state;
    for (size_t i = 0; i < sizeof(retries) / sizeof(retries[0]); i++) {
        int64_t top = 0;

        for (int j = 0; j < 20000; j++) {
            int64_t v = pe_backoff_ms(&p, retries[i], next_rnd(&seed));

            assert_true(v >= 0 && v <= 30000);
            if (v > top)
                top = v;
        }
        assert_true(top >= 29700); /* the cap, not something smaller */
        assert_true(pe_backoff_ms(&p, retries[i], UINT64_MAX) <= 30000);
    }
}

static void backoff_rnd_zero_is_zero(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_POLICIES; k++) {
        struct pe_retry_policy p = policy(policies[k][0], policies[k][1]);

        for (long retry = 0; retry <= 100; retry++)
            assert_int_equal(pe_backoff_ms(&p, retry, 0), 0);
        assert_int_equal(pe_backoff_ms(&p, 1000, 0), 0);
    }
}

static void backoff_rnd_max_within_cap(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_POLICIES; k++) {
        struct pe_retry_policy p = policy(policies[k][0], policies[k][1]);

        for (long retry = 0; retry <= 100; retry++) {
            int64_t v = pe_backoff_ms(&p, retry, UINT64_MAX);

            assert_true(v >= 0);
            assert_true(v <= want_cap(&p, retry));
        }
    }
}

static void backoff_is_roughly_uniform(void **state)
{
    enum { DRAWS = 10000, BUCKETS = 10 };
    struct pe_retry_policy p = policy(100, 30000);
    const int64_t cap = 30000;
    long counts[BUCKETS] = {0};
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    double sum = 0, mean;

    (void)state;
    for (int i = 0; i < DRAWS; i++) {
        int64_t v = pe_backoff_ms(&p, 20, next_rnd(&seed));

        assert_true(v >= 0 && v <= cap);
        sum += (double)v;
        counts[v * BUCKETS / (cap + 1)]++;
    }
    /* Uniform on [0, 30000]: mean 15000, standard error about 87. */
    mean = sum / DRAWS;
    if (mean < 14400 || mean > 15600)
        fail_msg("mean %.1f is far from %lld", mean, (long long)cap / 2);
    /* 1000 per bucket expected, standard deviation about 30. */
    for (int b = 0; b < BUCKETS; b++)
        if (counts[b] < 850 || counts[b] > 1150)
            fail_msg("bucket %d holds %ld of %d draws", b, counts[b], DRAWS);
}

/* Regression (src/retry.c, pe_backoff_ms, found by fuzz_retry_after): the
 * doubling only stopped once cap >= max_backoff_ms, so a max above 2^62
 * doubled cap past INT64_MAX (signed overflow; in practice every wait
 * became 0).  config.c bounds max_backoff_ms to one hour, but the function
 * takes any long. */
static void backoff_huge_max_does_not_overflow(void **state)
{
    static const long retries[] = {63, 64, 100, 1000};
    struct pe_retry_policy p = policy(1, LONG_MAX);
    uint64_t seed = 99;

    (void)state;
    for (size_t i = 0; i < sizeof(retries) / sizeof(retries[0]); i++) {
        int nonzero = 0;

        for (int j = 0; j < 100; j++) {
            int64_t v = pe_backoff_ms(&p, retries[i], next_rnd(&seed));

            assert_true(v >= 0);
            nonzero += v > 0;
        }
        if (nonzero == 0)
            fail_msg("retry %ld: 100 draws in [0, LONG_MAX] all gave 0",
                     retries[i]);
    }
}

/* ---- pe_retry_after_parse ---- */

static void expect_ms(const char *value, int64_t now, int64_t want)
{
    int64_t ms = -12345;
    enum pe_status st = pe_retry_after_parse(value, now, &ms);

    if (st != PE_OK)
        fail_msg("\"%s\": %s, want %lld ms", value, pe_status_name(st),
                 (long long)want);
    if (ms != want)
        fail_msg("\"%s\": %lld ms, want %lld", value, (long long)ms,
                 (long long)want);
}

static void expect_rejected(const char *value)
{
    int64_t ms = -12345;
    enum pe_status st = pe_retry_after_parse(value, T_2015, &ms);

    if (st != PE_ERR_DATA)
        fail_msg("\"%s\": %s (%lld ms), want data", value, pe_status_name(st),
                 (long long)ms);
}

static void delta_seconds(void **state)
{
    (void)state;
    expect_ms("120", T_2015, 120000);
    expect_ms("0", T_2015, 0);
    expect_ms(" 5 ", T_2015, 5000);
    expect_ms("\t7\t", T_2015, 7000);
    expect_ms("007", T_2015, 7000);
    expect_ms("86400", 0, 86400000);
    /* Seconds are seconds from now, whatever now is. */
    expect_ms("30", 0, 30000);
}

static void imf_fixdate(void **state)
{
    (void)state;
    expect_ms("Wed, 21 Oct 2015 07:28:00 GMT", T_2015 - 30, 30000);
    expect_ms("Wed, 21 Oct 2015 07:28:00 GMT", T_2015 - 3600, 3600000);
    expect_ms("Wed, 21 Oct 2015 07:28:00 GMT", T_2015, 0);
    expect_ms("Sun, 06 Nov 1994 08:49:37 GMT", T_1994 - 1, 1000);
    expect_ms("Thu, 01 Jan 1970 00:00:10 GMT", 0, 10000);
}

static void date_in_the_past_is_zero(void **state)
{
    (void)state;
    expect_ms("Wed, 21 Oct 2015 07:28:00 GMT", T_2015 + 1, 0);
    expect_ms("Wed, 21 Oct 2015 07:28:00 GMT", T_2015 + 86400 * 365, 0);
    expect_ms("Sun, 06 Nov 1994 08:49:37 GMT", T_2015, 0);
    expect_ms("Wednesday, 21-Oct-15 07:28:00 GMT", T_2015 + 5, 0);
    expect_ms("Wed Oct 21 07:28:00 2015", T_2015 + 5, 0);
}

static void rfc850_date(void **state)
{
    (void)state;
    expect_ms("Wednesday, 21-Oct-15 07:28:00 GMT", T_2015 - 30, 30000);
    expect_ms("Sunday, 06-Nov-94 08:49:37 GMT", T_1994 - 2, 2000);
}

static void asctime_date(void **state)
{
    (void)state;
    expect_ms("Wed Oct 21 07:28:00 2015", T_2015 - 30, 30000);
    expect_ms("Sun Nov  6 08:49:37 1994", T_1994 - 5, 5000);
}

static void malformed_values_rejected(void **state)
{
    static const char *const bad[] = {
        "",
        " ",
        "abc",
        "-5",
        "+5",
        "1.5",
        "12abc",
        "12 34",
        "0x10",
        "Wed, 32 Oct 2015 07:28:00 GMT",
        "Wed, 00 Oct 2015 07:28:00 GMT",
        "Wed, 21 Foo 2015 07:28:00 GMT",
        "Wed, 21 Oct 2015 25:28:00 GMT",
        "Wed, 21 Oct 2015 07:60:00 GMT",
        "Wed, 21 Oct 2015 07:28 GMT",
        "Wed, 21 Oct 2015 07:28:00 UTC",
        "Wed, 21 Oct 2015 07:28:00",
        "Wed, 21 Oct 15 07:28:00 GMT x",
        "Wed Foo 21 07:28:00 2015",
        "Wed Oct 21 07:28:00 15",
        "Wed Oct 21 07:28:00 2015 GMT",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_rejected(bad[i]);
}

/* A run of nines of every length: refused, or a non-negative wait that is
 * exactly the number of seconds times 1000. */
static void huge_delta_never_negative(void **state)
{
    char digits[64];

    (void)state;
    for (size_t n = 1; n < sizeof(digits); n++) {
        int64_t ms = -1;
        enum pe_status st;

        memset(digits, '9', n);
        digits[n] = '\0';
        st = pe_retry_after_parse(digits, T_2015, &ms);
        assert_true(st == PE_OK || st == PE_ERR_DATA);
        if (st == PE_OK)
            assert_true(ms >= 0 && ms % 1000 == 0);
    }
    expect_rejected("99999999999999999999999999999999999999");
}

/* Regression (src/retry.c, pe_retry_after_parse, delta-seconds branch,
 * found by fuzz_retry_after): the guard `secs > INT64_MAX / 10000` ran
 * before the last digit was added, so 16-digit values from
 * 9223372036854776 up passed it and `secs * 1000` overflowed into a
 * negative wait.  The largest value that fits must still parse exactly. */
static void delta_just_past_int64_ms_is_refused(void **state)
{
    static const char *const over[] = {"9223372036854776", "9223372036854779",
                                       "9999999999999999"};

    (void)state;
    expect_ms("9223372036854775", T_2015, INT64_C(9223372036854775000));
    for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
        int64_t ms = 0;
        enum pe_status st = pe_retry_after_parse(over[i], T_2015, &ms);

        if (st == PE_OK && ms < 0)
            fail_msg("\"%s\" gave a negative wait: %lld ms", over[i],
                     (long long)ms);
    }
}

/* Regression (src/retry.c, http_date, RFC 850 year test
 * `isdigit(p[2]) && isdigit(p[3])`, found by fuzz_retry_after): a value
 * that ends right after the month ("Fri, 31 Dec ") made it read 2 and 3
 * bytes past the end, beyond the NUL.  Run from an exact-size heap copy so
 * valgrind and ASan see any over-read; plain builds would pass by luck. */
static void date_cut_after_month_stays_in_bounds(void **state)
{
    static const char *const cut[] = {"Fri, 31 Dec ", "Fri, 31 Dec 2",
                                      "Wednesday, 21-Oct-"};

    (void)state;
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        char *copy = pe_xstrdup(cut[i]);

        expect_rejected(copy);
        free(copy);
    }
}

static void random64_varies(void **state)
{
    uint64_t a = pe_random64();
    int same = 1;

    (void)state;
    for (int i = 0; i < 8; i++)
        same &= pe_random64() == a;
    assert_false(same);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_within_bounds),
        cmocka_unit_test(backoff_doubles_until_the_cap),
        cmocka_unit_test(backoff_cap_held_for_large_retry_counts),
        cmocka_unit_test(backoff_rnd_zero_is_zero),
        cmocka_unit_test(backoff_rnd_max_within_cap),
        cmocka_unit_test(backoff_is_roughly_uniform),
        cmocka_unit_test(delta_seconds),
        cmocka_unit_test(imf_fixdate),
        cmocka_unit_test(date_in_the_past_is_zero),
        cmocka_unit_test(rfc850_date),
        cmocka_unit_test(asctime_date),
        cmocka_unit_test(malformed_values_rejected),
        cmocka_unit_test(huge_delta_never_negative),
        cmocka_unit_test(random64_varies),
        /* Regressions of bugs the fuzz targets found. */
        cmocka_unit_test(date_cut_after_month_stays_in_bounds),
        cmocka_unit_test(delta_just_past_int64_ms_is_refused),
        cmocka_unit_test(backoff_huge_max_does_not_overflow),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
