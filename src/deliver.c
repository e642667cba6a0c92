/* SPDX-License-Identifier: MIT
 * deliver.c - one batch, every answer of rest-proxy-v2.md section 9. */
#include "deliver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notify.h"

enum pe_status pe_deliver_check_deadline(const struct pe_deliver_env *env,
                                         struct pe_error *err)
{
    /* A pass checks its deadline wherever it moves on (each page, each
     * attempt, every 50 ms of a backoff): alive there, so the watchdog
     * is pinged there (nothing is sent outside follow mode). */
    pe_notify_watchdog();
    if (env->deadline_ms > 0 && pe_now_mono_ms() >= env->deadline_ms)
        return pe_error_set(err, PE_ERR_ABORTED, false,
                            "run.max_runtime_s reached; stopped with "
                            "checkpoints at what was acknowledged");
    return PE_OK;
}

enum pe_status pe_deliver_sleep(const struct pe_deliver_env *env, int64_t ms,
                                struct pe_error *err)
{
    int64_t until = pe_now_mono_ms() + ms;

    for (;;) {
        int64_t left = until - pe_now_mono_ms();
        struct timespec ts;

        if (env->stop != NULL && __atomic_load_n(env->stop, __ATOMIC_RELAXED))
            return pe_error_set(err, PE_ERR_INTERRUPTED, false,
                                "stopped by a signal");
        if (pe_deliver_check_deadline(env, err) != PE_OK)
            return PE_ERR_ABORTED;
        if (left <= 0)
            return PE_OK;
        if (left > 50)
            left = 50; /* wake up often enough to see a signal */
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        nanosleep(&ts, NULL);
    }
}

enum pe_status pe_deliver_dead_letter(const struct pe_deliver_env *env,
                                      const struct pe_dead_letter *d,
                                      struct pe_send_stats *stats,
                                      struct pe_error *err)
{
    enum pe_status st = pe_dlq_write(env->dlq, d, err);

    if (st != PE_OK)
        return st;
    stats->dead++;
    /* Units running at once share the count. */
    if (__atomic_add_fetch(env->rejected, 1, __ATOMIC_SEQ_CST) >
            (size_t)env->dead_letter_max &&
        env->dead_letter_max >= 0) {
        (void)pe_dlq_sync(env->dlq, NULL);
        return pe_error_set(err, PE_ERR_ABORTED, false,
                            "more than %ld records rejected in this run "
                            "(dead_letter.max); stopping; see %s",
                            env->dead_letter_max, pe_dlq_path(env->dlq));
    }
    return PE_OK;
}

/* Dead-letters record i of b. */
static enum pe_status reject(const struct pe_deliver_env *env,
                             const char *stream, const char *topic,
                             struct pe_batch *b, size_t i, long code,
                             const char *message, struct pe_send_stats *stats,
                             struct pe_error *err)
{
    struct pe_dead_letter d;

    memset(&d, 0, sizeof(d));
    d.stream = stream;
    d.topic = topic;
    d.key = pe_batch_key(b, i);
    d.error_code = code;
    d.message = message;
    d.record = pe_batch_record(b, i, &d.record_len);
    return pe_deliver_dead_letter(env, &d, stats, err);
}

/* err's structured members: where it happened and, when the error is
 * about the proxy's answer (res given), that answer. */
static void error_context(struct pe_error *err, const char *stream,
                          const char *topic,
                          const struct pe_produce_result *res)
{
    if (err == NULL)
        return;
    snprintf(err->stream, sizeof(err->stream), "%s", stream);
    snprintf(err->topic, sizeof(err->topic), "%s", topic);
    if (res != NULL) {
        err->http_status = res->http_status;
        err->error_code = res->error_code;
    }
}

/* How long to wait before attempt number `attempt` + 1. */
static int64_t wait_ms(const struct pe_deliver_env *env, long attempt,
                       const struct pe_produce_result *res)
{
    /* A Retry-After the policy accepts replaces the backoff; a longer one
     * just counts as the failed attempt it already is. */
    if (res->retry_after_ms >= 0 &&
        res->retry_after_ms <= env->policy.max_retry_after_ms)
        return res->retry_after_ms;
    return pe_backoff_ms(&env->policy, attempt - 1, pe_random64());
}

static enum pe_status deliver(const struct pe_deliver_env *env,
                              struct pe_sink *sink, const char *stream,
                              const char *topic, struct pe_batch *b,
                              size_t *pending, size_t np,
                              struct pe_send_stats *stats,
                              struct pe_error *err)
{
    size_t nalloc = np;
    struct pe_record_status *per = pe_xcalloc(nalloc, sizeof(*per));
    struct pe_produce_result res;
    struct pe_error e;
    enum pe_status st = PE_OK;
    long attempt = 0;

    for (;;) {
        const char *body;
        size_t len, keep = 0;

        if ((st = pe_deliver_check_deadline(env, err)) != PE_OK)
            break;
        body = pe_batch_build(b, pending, np, &len);
        pe_error_clear(&e);
        pe_record_status_clear(per, nalloc);
        st = pe_sink_send(sink, topic, body, len, np, per, &res, &e);
        attempt++;
        /* Bytes of every request, whatever its answer (a batch with
         * per-record rejections was sent too), like the request count. */
        stats->requests++;
        stats->bytes += (long long)len;
        if (st == PE_OK) {
            stats->records += (long long)np;
            break;
        }
        if (st == PE_ERR_INTERRUPTED) {
            *err = e;
            break;
        }
        if (res.outcome == PE_OUT_RECORD_ERRORS && res.http_status == 200) {
            /* Keep the records that may still go through, in order;
             * dead-letter the ones the proxy refused for good. */
            for (size_t j = 0; j < np; j++) {
                long c = per[j].code;

                if (c == 0)
                    stats->records++;
                else if (c == 50003 || c == -1)
                    pending[keep++] = pending[j];
                else if ((st = reject(env, stream, topic, b, pending[j], c,
                                      per[j].message, stats, err)) != PE_OK)
                    goto out;
            }
            st = PE_OK;
            if (keep == 0)
                break;
            np = keep;
        } else if (res.http_status == 413) {
            /* The gateway forwarded nothing: halve until it fits. */
            if (np == 1) {
                char msg[300];

                snprintf(msg, sizeof(msg), "request too large: %s",
                         res.message);
                st = reject(env, stream, topic, b, pending[0], 413, msg,
                            stats, err);
                break;
            }
            st = deliver(env, sink, stream, topic, b, pending, np / 2, stats,
                         err);
            if (st == PE_OK)
                st = deliver(env, sink, stream, topic, b, pending + np / 2,
                             np - np / 2, stats, err);
            break;
        } else if (!e.retriable) {
            *err = e;
            error_context(err, stream, topic, &res);
            break;
        }
        if (attempt >= env->policy.max_attempts) {
            st = pe_error_set(err, PE_ERR_PROXY, false,
                              "gave up after %ld attempts: %s", attempt,
                              e.msg);
            error_context(err, stream, topic, &res);
            break;
        }
        stats->retries++;
        if ((st = pe_deliver_sleep(env, wait_ms(env, attempt, &res), err)) !=
            PE_OK)
            break;
    }
out:
    if (st == PE_OK)
        st = pe_dlq_sync(env->dlq, err);
    if (st != PE_OK && err != NULL && err->stream[0] == '\0')
        error_context(err, stream, topic, NULL);
    pe_record_status_clear(per, nalloc);
    free(per);
    return st;
}

enum pe_status pe_deliver(const struct pe_deliver_env *env,
                          struct pe_sink *sink, const char *stream,
                          const char *topic, struct pe_batch *b,
                          const size_t *idx, size_t n,
                          struct pe_send_stats *stats, struct pe_error *err)
{
    size_t *pending = pe_xmalloc((n ? n : 1) * sizeof(*pending));
    enum pe_status st;

    for (size_t i = 0; i < n; i++)
        pending[i] = idx ? idx[i] : i;
    st = deliver(env, sink, stream, topic, b, pending, n, stats, err);
    free(pending);
    return st;
}
