/* SPDX-License-Identifier: MIT
 * inflight.c - a unit's window of requests in flight: one sender thread
 * per slot, each with its own sink (its own keep-alive connection) and
 * batch.  Owns the slots, their threads and the window's lock; must not
 * know the checkpoint, the source or which kind of sink is in use.
 *
 * Why a thread per slot and not libcurl's multi interface: a batch's
 * delivery (pe_deliver: retries with backoff and Retry-After, per-record
 * resends, 413 splits, dead letters) is a blocking sequence of requests.
 * A thread per slot runs it unchanged, for every backend (REST proxy,
 * Kinesis with SigV4) through the same sink ops; the multi interface would
 * need all of it rewritten as a state machine.  The slots are few
 * (sink.max_in_flight, at most 64), opened only when the window first
 * reaches them, and spend their time waiting for answers. */
#include "inflight.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jsonarena.h"
#include "window.h"

enum slot_state { SLOT_FREE, SLOT_BUSY, SLOT_DONE };

struct slot {
    struct pe_inflight *f;
    pthread_t thread;
    bool started;
    struct pe_sink *sink; /* opened with the thread */
    struct pe_batch batch;
    int64_t *xids;
    uint64_t seq;
    enum slot_state state;
    enum pe_status st; /* of the delivery, once done */
    struct pe_error err;
    struct pe_send_stats stats;
    bool taught; /* the window has heard of this delivery's congestion */
};

/* mu guards the slots' state (the rest of a slot belongs to its thread
 * while BUSY, to the unit's thread otherwise), the window, quit and the
 * failure. */
struct pe_inflight {
    struct pe_inflight_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;  /* for the unit's thread: a slot is done */
    pthread_cond_t *go; /* one per slot: it has a batch to send, or quit
                           (a broadcast on one cv woke every idle slot) */
    struct pe_window w;
    struct slot *slots; /* o.max of them */
    bool quit;
    double made_from; /* when the unit began making its next batch (ms,
                         with its fraction); 0: not yet known */
    enum pe_status failed; /* of the oldest failed batch */
    uint64_t failed_seq;
    struct pe_error ferr;
};

/* A delivery ended (mu held): acknowledge it, or remember the failure of
 * the oldest failed batch; either way it teaches the window. */
static void slot_done(struct pe_inflight *f, struct slot *s, enum pe_status st,
                      double ms)
{
    s->st = st;
    s->state = SLOT_DONE;
    if (st == PE_OK)
        pe_window_ack(&f->w, s->seq);
    else if (f->failed == PE_OK || s->seq < f->failed_seq) {
        f->failed = st;
        f->failed_seq = s->seq;
        f->ferr = s->err;
    }
    if (!s->taught)
        pe_window_feedback(&f->w, s->seq, ms, st != PE_OK);
    pthread_cond_broadcast(&f->cv);
}

/* A retry is coming (a 429, a 5xx, a timeout or a lost connection): the
 * window learns it now, while the batch backs off, not when it is done. */
static void slot_retry(void *arg)
{
    struct slot *s = arg;
    struct pe_inflight *f = s->f;

    pthread_mutex_lock(&f->mu);
    if (!s->taught)
        pe_window_feedback(&f->w, s->seq, 0, true);
    s->taught = true;
    pthread_mutex_unlock(&f->mu);
}

static void *slot_main(void *arg)
{
    struct slot *s = arg;
    struct pe_inflight *f = s->f;

    pthread_mutex_lock(&f->mu);
    for (;;) {
        struct pe_deliver_env env;
        double t0;
        enum pe_status st;

        while (s->state != SLOT_BUSY && !f->quit)
            pthread_cond_wait(&f->go[s - f->slots], &f->mu);
        if (s->state != SLOT_BUSY)
            break;
        s->taught = false;
        env = *f->o.env;
        env.on_retry = slot_retry;
        env.retry_arg = s;
        pthread_mutex_unlock(&f->mu);
        t0 = pe_now_mono_msf();
        memset(&s->stats, 0, sizeof(s->stats));
        pe_error_clear(&s->err);
        st = pe_deliver(&env, s->sink, f->o.stream, f->o.topic, &s->batch,
                        NULL, s->batch.n, &s->stats, &s->err);
        if (st != PE_OK && st != PE_ERR_INTERRUPTED)
            pe_error_prefix(&s->err, "keys %s to %s",
                            pe_batch_key(&s->batch, 0),
                            pe_batch_key(&s->batch, s->batch.n - 1));
        pthread_mutex_lock(&f->mu);
        slot_done(f, s, st, pe_now_mono_msf() - t0);
    }
    pthread_mutex_unlock(&f->mu);
    pe_json_arena_release(); /* the answers' parses kept a chunk */
    return NULL;
}

struct pe_inflight *pe_inflight_new(const struct pe_inflight_opts *o)
{
    struct pe_inflight *f = pe_xcalloc(1, sizeof(*f));

    f->o = *o;
    pe_window_init(&f->w, o->max, o->max_bytes);
    f->o.max = f->w.max;
    f->slots = pe_xcalloc((size_t)f->o.max, sizeof(*f->slots));
    f->go = pe_xcalloc((size_t)f->o.max, sizeof(*f->go));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    for (long i = 0; i < f->o.max; i++)
        pthread_cond_init(&f->go[i], NULL);
    return f;
}

static void add_stats(struct pe_send_stats *t, const struct pe_send_stats *s)
{
    t->records += s->records;
    t->requests += s->requests;
    t->bytes += s->bytes;
    t->retries += s->retries;
    t->dead += s->dead;
}

/* The slot in `state` (and holding batch seq, unless FREE); one is there
 * by construction: a free one whenever the window has room. */
static struct slot *slot_with(struct pe_inflight *f, enum slot_state state,
                              uint64_t seq)
{
    for (long i = 0; i < f->o.max; i++)
        if (f->slots[i].state == state &&
            (state == SLOT_FREE || f->slots[i].seq == seq))
            return &f->slots[i];
    abort(); /* the window and the slots disagree: a bug */
}

/* Hands the acknowledged batches from the start to done (mu held; released
 * around done, whose slot no other thread touches meanwhile). */
static enum pe_status pop_acked(struct pe_inflight *f,
                                const struct pe_inflight_done *done,
                                struct pe_error *err)
{
    enum pe_status st = PE_OK;
    uint64_t seq;

    while (st == PE_OK && pe_window_pop(&f->w, &seq)) {
        struct slot *s = slot_with(f, SLOT_DONE, seq);

        add_stats(f->o.total, &s->stats);
        pthread_mutex_unlock(&f->mu);
        st = done->fn(done->arg, &s->batch, s->xids, err);
        pthread_mutex_lock(&f->mu);
        pe_batch_reset(&s->batch);
        s->state = SLOT_FREE;
    }
    return st;
}

static bool any_busy(const struct pe_inflight *f)
{
    for (long i = 0; i < f->o.max; i++)
        if (f->slots[i].state == SLOT_BUSY)
            return true;
    return false;
}

/* Waits for every batch in flight (mu held).  After st (a failure so far)
 * nothing more is handed to done: the batches behind are sent again. */
static enum pe_status drain_locked(struct pe_inflight *f,
                                   const struct pe_inflight_done *done,
                                   enum pe_status st, struct pe_error *err)
{
    for (;;) {
        if (st == PE_OK && f->failed == PE_OK)
            st = pop_acked(f, done, err);
        if (!any_busy(f))
            break;
        pthread_cond_wait(&f->cv, &f->mu);
    }
    if (st == PE_OK)
        st = pop_acked(f, done, err);
    if (st == PE_OK && f->failed != PE_OK) {
        st = f->failed;
        *err = f->ferr;
    }
    for (long i = 0; i < f->o.max; i++) {
        struct slot *s = &f->slots[i];

        if (s->state == SLOT_DONE) {
            add_stats(f->o.total, &s->stats);
            pe_batch_reset(&s->batch);
            s->state = SLOT_FREE;
        }
    }
    pe_window_clear(&f->w);
    f->failed = PE_OK;
    return st;
}

/* Gives slot s its batch, thread and sink the first time (mu held). */
static enum pe_status slot_start(struct pe_inflight *f, struct slot *s,
                                 struct pe_error *err)
{
    if (s->started)
        return PE_OK;
    s->sink = pe_sink_open(f->o.cfg, false, f->o.env->stop, err);
    if (s->sink == NULL)
        return err->status;
    s->f = f;
    pe_batch_init(&s->batch, f->o.batch_records, f->o.batch_bytes);
    pe_sink_frame(f->o.format, &s->batch, f->o.topic);
    s->xids = pe_xcalloc(f->o.batch_records, sizeof(int64_t));
    if (pthread_create(&s->thread, NULL, slot_main, s) != 0) {
        pe_sink_close(s->sink);
        pe_batch_cleanup(&s->batch);
        free(s->xids);
        memset(s, 0, sizeof(*s));
        return pe_error_set(err, PE_ERR_IO, false,
                            "cannot start a sender thread");
    }
    s->started = true;
    return PE_OK;
}

enum pe_status pe_inflight_send(struct pe_inflight *f, struct pe_batch *b,
                                int64_t **xids,
                                const struct pe_inflight_done *done,
                                struct pe_error *err)
{
    size_t size = b->body_bytes;
    enum pe_status st = PE_OK;
    struct slot *s;

    pthread_mutex_lock(&f->mu);
    if (f->made_from != 0)
        pe_window_note_gap(&f->w, pe_now_mono_msf() - f->made_from);
    while ((st = pop_acked(f, done, err)) == PE_OK && f->failed == PE_OK &&
           !pe_window_room(&f->w, size)) {
        pe_window_note_limited(&f->w);
        pthread_cond_wait(&f->cv, &f->mu);
    }
    if (st == PE_OK && f->failed == PE_OK) {
        s = slot_with(f, SLOT_FREE, 0);
        if ((st = slot_start(f, s, err)) == PE_OK) {
            struct pe_batch tb = *b;
            int64_t *tx = *xids;

            *b = s->batch;
            s->batch = tb;
            *xids = s->xids;
            s->xids = tx;
            s->seq = pe_window_open(&f->w, size);
            s->state = SLOT_BUSY;
            pthread_cond_signal(&f->go[s - f->slots]);
            f->made_from = pe_now_mono_msf();
            pthread_mutex_unlock(&f->mu);
            return PE_OK;
        }
    }
    st = drain_locked(f, done, st, err);
    pthread_mutex_unlock(&f->mu);
    return st;
}

enum pe_status pe_inflight_drain(struct pe_inflight *f,
                                 const struct pe_inflight_done *done,
                                 struct pe_error *err)
{
    enum pe_status st;

    pthread_mutex_lock(&f->mu);
    st = drain_locked(f, done, PE_OK, err);
    pthread_mutex_unlock(&f->mu);
    return st;
}

long pe_inflight_window(struct pe_inflight *f)
{
    long n;

    pthread_mutex_lock(&f->mu);
    n = f->w.limit;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void pe_inflight_free(struct pe_inflight *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    f->quit = true;
    for (long i = 0; i < f->o.max; i++)
        pthread_cond_signal(&f->go[i]);
    pthread_mutex_unlock(&f->mu);
    for (long i = 0; i < f->o.max; i++) {
        struct slot *s = &f->slots[i];

        if (!s->started)
            continue;
        pthread_join(s->thread, NULL);
        pe_sink_close(s->sink);
        pe_batch_cleanup(&s->batch);
        free(s->xids);
    }
    for (long i = 0; i < f->o.max; i++)
        pthread_cond_destroy(&f->go[i]);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f->go);
    free(f->slots);
    free(f);
}
