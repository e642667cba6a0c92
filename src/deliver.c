/* SPDX-License-Identifier: MIT
 * deliver.c - one batch through every answer a produce may get: all
 * acknowledged; per-record 50003 (resend only those records) or 50002
 * (dead-letter them); API Gateway's 413 (nothing was forwarded: halve the
 * batch); 429, 5xx or no answer (back off, or wait what Retry-After says,
 * and send again: at-least-once); any other refusal (stop the stream). */
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

/* One batch on its way; all borrowed. */
struct job {
    const struct pe_deliver_env *env;
    struct pe_sink *sink;
    const char *stream, *topic;
    struct pe_batch *b;
    struct pe_send_stats *stats;
};

/* The records of one deliver() still pending and what the last attempt
 * learnt of them. */
struct flight {
    size_t *pending; /* indexes into the batch, in order */
    size_t np;
    struct pe_record_status *per; /* nalloc entries, np in use */
    size_t nalloc;
    struct pe_produce_result res;
    struct pe_error e; /* the last attempt's error */
    long attempt;
};

static enum pe_status deliver(const struct job *j, size_t *pending, size_t np,
                              struct pe_error *err);

/* Sends the pending records once and counts the request. */
static enum pe_status send_once(const struct job *j, struct flight *f)
{
    size_t len;
    const char *body = pe_batch_build(j->b, f->pending, f->np, &len);
    enum pe_status st;

    pe_error_clear(&f->e);
    pe_record_status_clear(f->per, f->nalloc);
    f->attempt++;
    st = pe_sink_send(j->sink, j->topic, body, len, f->np, f->per, &f->res,
                      &f->e);
    /* A request and its bytes count once the far side answered, whatever
     * the status (a batch with per-record rejections was sent too); one
     * that never got an answer (connection refused, a timeout) does not. */
    if (f->res.http_status > 0) {
        j->stats->requests++;
        j->stats->bytes += (long long)len;
    }
    return st;
}

/* A 200 with per-record errors: keeps the records that may still go
 * through, in order, and dead-letters the ones refused for good.  *again
 * when some are kept. */
static enum pe_status sort_records(const struct job *j, struct flight *f,
                                   bool *again, struct pe_error *err)
{
    size_t keep = 0;
    enum pe_status st;

    for (size_t i = 0; i < f->np; i++) {
        long c = f->per[i].code;

        if (c == 0)
            j->stats->records++;
        else if (c == 50003 || c == -1)
            f->pending[keep++] = f->pending[i];
        else if ((st = reject(j->env, j->stream, j->topic, j->b,
                              f->pending[i], c, f->per[i].message, j->stats,
                              err)) != PE_OK)
            return st;
    }
    f->np = keep;
    *again = keep > 0;
    return PE_OK;
}

/* A 413: the gateway forwarded nothing; halve until it fits. */
static enum pe_status split(const struct job *j, struct flight *f,
                            struct pe_error *err)
{
    size_t half = f->np / 2;
    enum pe_status st;

    if (f->np == 1) {
        char msg[300];

        snprintf(msg, sizeof(msg), "request too large: %s", f->res.message);
        return reject(j->env, j->stream, j->topic, j->b, f->pending[0], 413,
                      msg, j->stats, err);
    }
    st = deliver(j, f->pending, half, err);
    if (st == PE_OK)
        st = deliver(j, f->pending + half, f->np - half, err);
    return st;
}

/* After a send (its status `sent`) that did not deliver everything: the
 * outcome, or *again when what is pending may be sent again. */
static enum pe_status after_failure(const struct job *j, struct flight *f,
                                    enum pe_status sent, bool *again,
                                    struct pe_error *err)
{
    *again = false;
    if (sent == PE_ERR_INTERRUPTED) {
        *err = f->e;
        return sent;
    }
    if (f->res.outcome == PE_OUT_RECORD_ERRORS && f->res.http_status == 200)
        return sort_records(j, f, again, err);
    if (f->res.http_status == 413)
        return split(j, f, err);
    if (!f->e.retriable) {
        *err = f->e;
        error_context(err, j->stream, j->topic, &f->res);
        return sent;
    }
    *again = true;
    return PE_OK;
}

/* Before the next attempt: gives up after the last one, else waits. */
static enum pe_status back_off(const struct job *j, const struct flight *f,
                               struct pe_error *err)
{
    if (f->attempt >= j->env->policy.max_attempts) {
        pe_error_set(err, PE_ERR_PROXY, false, "gave up after %ld attempts: %s",
                     f->attempt, f->e.msg);
        error_context(err, j->stream, j->topic, &f->res);
        return PE_ERR_PROXY;
    }
    j->stats->retries++;
    if (j->env->on_retry != NULL)
        j->env->on_retry(j->env->retry_arg);
    return pe_deliver_sleep(j->env, wait_ms(j->env, f->attempt, &f->res), err);
}

static enum pe_status deliver(const struct job *j, size_t *pending, size_t np,
                              struct pe_error *err)
{
    struct flight f;
    enum pe_status st;
    bool again = true;

    memset(&f, 0, sizeof(f));
    f.pending = pending;
    f.np = np;
    f.nalloc = np;
    f.per = pe_xcalloc(np, sizeof(*f.per));
    while (again) {
        if ((st = pe_deliver_check_deadline(j->env, err)) != PE_OK)
            break;
        if ((st = send_once(j, &f)) == PE_OK) {
            j->stats->records += (long long)f.np;
            break;
        }
        st = after_failure(j, &f, st, &again, err);
        if (st == PE_OK && again)
            st = back_off(j, &f, err);
        if (st != PE_OK)
            break;
    }
    if (st == PE_OK)
        st = pe_dlq_sync(j->env->dlq, err);
    if (st != PE_OK && err != NULL && err->stream[0] == '\0')
        error_context(err, j->stream, j->topic, NULL);
    pe_record_status_clear(f.per, f.nalloc);
    free(f.per);
    return st;
}

enum pe_status pe_deliver(const struct pe_deliver_env *env,
                          struct pe_sink *sink, const char *stream,
                          const char *topic, struct pe_batch *b,
                          const size_t *idx, size_t n,
                          struct pe_send_stats *stats, struct pe_error *err)
{
    struct job j = {env, sink, stream, topic, b, stats};
    size_t *pending = pe_xmalloc((n ? n : 1) * sizeof(*pending));
    enum pe_status st;

    for (size_t i = 0; i < n; i++)
        pending[i] = idx ? idx[i] : i;
    st = deliver(&j, pending, n, err);
    free(pending);
    return st;
}
