/* SPDX-License-Identifier: MIT
 * ratelimit.c - owns the --rate token bucket and its lock.  It knows
 * nothing of streams or batches beyond a count of rows. */
#include "ratelimit.h"

#include <pthread.h>
#include <stdint.h>

/* --rate: a token bucket shared by every stream, one second deep. */
static struct {
    pthread_mutex_t mu; /* tokens and last_ms, taken by senders at once */
    double rate;        /* rows per second; 0 = no limit */
    double tokens;
    int64_t last_ms;
} bucket = {.mu = PTHREAD_MUTEX_INITIALIZER};

void pe_rate_init(double rate)
{
    bucket.rate = rate;
    bucket.tokens = 0;
    bucket.last_ms = pe_now_mono_ms();
}

enum pe_status pe_rate_take(const struct pe_deliver_env *env, size_t n,
                            struct pe_error *err)
{
    double need = (double)n;
    enum pe_status st;

    if (bucket.rate <= 0)
        return PE_OK;
    for (;;) {
        int64_t now = pe_now_mono_ms(), wait;
        double cap = bucket.rate < 1 ? 1 : bucket.rate;

        pthread_mutex_lock(&bucket.mu);
        bucket.tokens += (double)(now - bucket.last_ms) * bucket.rate / 1000.0;
        if (bucket.tokens > cap)
            bucket.tokens = cap;
        bucket.last_ms = now;
        if (bucket.tokens >= need || need > cap) {
            /* (A batch is never larger than the bucket: pe_rate_batch_max.) */
            bucket.tokens -= need;
            pthread_mutex_unlock(&bucket.mu);
            return PE_OK;
        }
        wait = (int64_t)((need - bucket.tokens) * 1000.0 / bucket.rate) + 1;
        pthread_mutex_unlock(&bucket.mu);
        if ((st = pe_deliver_sleep(env, wait, err)) != PE_OK)
            return st;
    }
}

long pe_rate_batch_max(long max)
{
    /* With --rate, a batch holds about a second of rows, so rows go
     * out at the pace asked for rather than in bursts. */
    if (bucket.rate > 0 && bucket.rate < (double)max)
        max = bucket.rate < 1 ? 1 : (long)bucket.rate;
    return max;
}
