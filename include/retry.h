/* SPDX-License-Identifier: MIT
 * retry.h - when to try again: exponential backoff with full jitter, and
 * the Retry-After header.  Pure: the random source and the clock are
 * passed in, so tests and fuzzers need neither. */
#ifndef PINEMIT_RETRY_H
#define PINEMIT_RETRY_H

#include <stdint.h>

#include "util.h"

struct pe_retry_policy {
    long max_attempts;       /* attempts per request, the first included */
    long initial_backoff_ms; /* cap of the first wait */
    long max_backoff_ms;     /* cap of any wait */
    long max_retry_after_ms; /* a longer Retry-After counts as a failure */
};

/* Full jitter: a uniform wait in [0, min(max, initial * 2^retry)], where
 * retry counts from 0.  `rnd` is a uniform 64-bit random value. */
int64_t pe_backoff_ms(const struct pe_retry_policy *p, long retry,
                      uint64_t rnd);

/* Parses a Retry-After value: delta-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT", also the RFC 850 and asctime forms).
 * *ms is the wait from now_s (never negative).  PE_ERR_DATA when the
 * value is neither. */
enum pe_status pe_retry_after_parse(const char *value, int64_t now_s,
                                    int64_t *ms);

/* A random 64-bit value (getrandom, else the clock); for pe_backoff_ms. */
uint64_t pe_random64(void);

#endif
