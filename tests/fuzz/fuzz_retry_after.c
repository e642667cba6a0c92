/* SPDX-License-Identifier: MIT
 * fuzz_retry_after.c - libFuzzer target: Retry-After values and backoff
 * policies. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retry.h"
#include "util.h"
#include "fuzz.h"


/* 2015-10-21 07:28:00 UTC, the date in RFC 9110's examples. */
#define EXAMPLE_S INT64_C(1445412480)

/* Reads 8 bytes from the end of the input backwards (zeros once it runs
 * out), so the front stays a readable Retry-After value. */
static uint64_t take64(const uint8_t *data, size_t *left)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v <<= 8;
        if (*left > 0)
            v |= data[--*left];
    }
    return v;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The delta-seconds form written out again: OWS digits OWS. */
static int delta_oracle(const char *s, int64_t *secs, int *too_big)
{
    int64_t v = 0;

    *too_big = 0;
    while (is_ows(*s))
        s++;
    if (*s < '0' || *s > '9')
        return 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        int d = *s - '0';

        /* Too big: the wait in milliseconds would not fit in 64 bits. */
        if (*too_big || v > (INT64_MAX / 1000 - d) / 10)
            *too_big = 1;
        else
            v = v * 10 + d;
    }
    while (is_ows(*s))
        s++;
    *secs = v;
    return *s == '\0';
}

static void check_parse(const char *s)
{
    static const int64_t nows[] = {0, EXAMPLE_S - 30, EXAMPLE_S,
                                   INT64_C(1800000000), INT64_C(253402300799)};
    int64_t secs;
    int too_big;
    int delta = delta_oracle(s, &secs, &too_big);

    for (size_t i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
        int64_t ms = -12345, later = -12345;
        enum pe_status st = pe_retry_after_parse(s, nows[i], &ms);

        CHECK(st == PE_OK || st == PE_ERR_DATA);
        /* Any sane number of seconds (here below 10^12) is accepted. */
        if (delta && !too_big && secs < INT64_C(1000000000000))
            CHECK(st == PE_OK);
        if (st != PE_OK)
            continue;
        if (ms < 0) {
            fprintf(
                stderr,
                "check failed: Retry-After \"%s\" (now %lld) gave %lld ms\n", s,
                (long long)nows[i], (long long)ms);
            abort();
        }
        if (delta) {
            /* Seconds from now, whatever now is. */
            CHECK(!too_big && ms == secs * 1000);
            continue;
        }
        /* A date: whole seconds, and one second later is one less. */
        CHECK(ms % 1000 == 0);
        CHECK(pe_retry_after_parse(s, nows[i] + 1, &later) == PE_OK);
        CHECK(later == (ms >= 1000 ? ms - 1000 : 0));
    }
}

/* min(max, initial * 2^retry) without overflow; initial <= 0 counts as 1
 * (retry.c). */
static int64_t bound_oracle(const struct pe_retry_policy *p, long retry)
{
    int64_t cap = p->initial_backoff_ms > 0 ? p->initial_backoff_ms : 1;

    for (long i = 0; i < retry && cap < p->max_backoff_ms; i++)
        cap = cap > INT64_MAX / 2 ? INT64_MAX : cap * 2;
    return cap < p->max_backoff_ms ? cap : p->max_backoff_ms;
}

static void check_backoff(const struct pe_retry_policy *p, long retry,
                          uint64_t rnd)
{
    int64_t bound = bound_oracle(p, retry);
    int64_t v = pe_backoff_ms(p, retry, rnd);

    if (bound <= 0) {
        CHECK(v == 0);
        return;
    }
    if (v < 0 || v > bound) {
        fprintf(
            stderr,
            "check failed: backoff %lld outside [0, %lld]: initial %ld max %ld "
            "retry %ld rnd %llu\n",
            (long long)v, (long long)bound, p->initial_backoff_ms,
            p->max_backoff_ms, retry, (unsigned long long)rnd);
        abort();
    }
    /* The extremes of rnd reach the ends of the range.  Above 2^62 ms
     * (146 million years) retry.c may stop doubling short of max; only
     * the bounds above matter there. */
    CHECK(pe_backoff_ms(p, retry, 0) == 0);
    if (bound <= INT64_MAX / 2)
        CHECK(pe_backoff_ms(p, retry, (uint64_t)bound) == bound);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pe_retry_policy p;
    size_t left = size;
    long retry;
    uint64_t rnd;
    char *s;

    s = malloc(size + 1);
    CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    check_parse(s);
    free(s);

    /* A policy from the same bytes, read from the end. */
    p.initial_backoff_ms = (long)take64(data, &left);
    p.max_backoff_ms = (long)take64(data, &left);
    p.max_attempts = 8;
    p.max_retry_after_ms = 300000;
    retry = (long)(take64(data, &left) & 0x7ff); /* 0 .. 2047 */
    rnd = take64(data, &left);
    check_backoff(&p, retry, rnd);
    check_backoff(&p, retry, UINT64_MAX);
    /* The same policy squeezed into config.c's bounds (1 .. 3600000). */
    p.initial_backoff_ms = 1 + (long)((uint64_t)p.initial_backoff_ms % 3600000);
    p.max_backoff_ms = 1 + (long)((uint64_t)p.max_backoff_ms % 3600000);
    check_backoff(&p, retry, rnd);
    check_backoff(&p, 1000, rnd);
    return 0;
}
