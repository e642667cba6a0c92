/* SPDX-License-Identifier: MIT
 * pool.c - owns the units of a pass, their ownership claims, the sender
 * threads and their connections, and what the units' outcomes add up
 * to.  It must not look inside a unit's pass (stream.c) nor call back
 * into a command. */
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonarena.h"
#include "log.h"
#include "progress.h"
#include "signals.h"

void pe_pool_env_init(struct pe_deliver_env *env, const struct pe_config *c,
                      struct pe_dlq *dlq, size_t *rejected)
{
    memset(env, 0, sizeof(*env));
    env->policy.max_attempts = c->sink.retry.max_attempts;
    env->policy.initial_backoff_ms = c->sink.retry.initial_backoff_ms;
    env->policy.max_backoff_ms = c->sink.retry.max_backoff_ms;
    env->policy.max_retry_after_ms = c->sink.retry.max_retry_after_ms;
    env->dlq = dlq;
    env->dead_letter_max = c->dead_letter.max;
    env->rejected = rejected;
    env->deadline_ms = c->run.max_runtime_s > 0
                           ? pe_now_mono_ms() + c->run.max_runtime_s * 1000
                           : 0;
    env->stop = pe_signals_stop_flag();
}

/* The run's final word: failures first, then dead letters, then a stop. */
enum pe_status pe_pool_finish(enum pe_status worst, size_t failed,
                              const struct pe_dlq *dlq, size_t dead_before,
                              struct pe_error *err)
{
    size_t dead = pe_dlq_count(dlq) - dead_before;

    if (pe_dlq_repaired(dlq) > 0)
        pe_log(PE_LOG_WARN,
               "%s ended in a torn line (%zu bytes, from a write cut short); "
               "it was removed before appending (its record was never "
               "synced, so no checkpoint moved past it)",
               pe_dlq_path(dlq), pe_dlq_repaired(dlq));
    if (pe_signals_stop_level())
        pe_log(PE_LOG_WARN, "stopped by a signal; checkpoints hold what the "
                            "proxy acknowledged%s",
               pe_signals_stop_level() > 1
                   ? " (the request in flight was abandoned and will be "
                     "sent again)"
                   : "");
    if (dead > 0)
        pe_error_set(err, PE_DEAD_LETTERED, false, "%zu %s dead-lettered to %s",
                     dead,
                     pe_plural((long long)dead, "record was", "records were"),
                     pe_dlq_path(dlq));
    if (failed > 0) {
        /* The failure's exit code wins, but the dead-letter line stays,
         * even with -q: those records did not arrive either. */
        if (dead > 0)
            pe_log_error(PE_LOG_WARN, true, err);
        pe_error_set(err, worst, false, "%s", ""); /* reported above */
        return worst;
    }
    if (dead > 0)
        return PE_DEAD_LETTERED;
    return pe_signals_stop_level() ? PE_ERR_INTERRUPTED : PE_OK;
}

/* Config errors outrank runtime ones in the exit code. */
enum pe_status pe_pool_worse(enum pe_status a, enum pe_status b)
{
    if (a == PE_ERR_CONFIG || b == PE_ERR_CONFIG)
        return PE_ERR_CONFIG;
    return a != PE_OK ? a : b;
}

/* The checkpoint store the config names. */
struct pe_ckpt_store *pe_pool_open_store(const struct pe_config *c,
                                         bool create, struct pe_error *err)
{
    return pe_ckpt_open_config(c, create, err);
}

/* A replay takes each stream whole: one unit per stream. */
void pe_units_build(const struct pe_app_opts *o, bool replay,
                    struct pe_units *u)
{
    const struct pe_config *c = o->cfg;
    size_t n = 0;

    memset(u, 0, sizeof(*u));
    for (size_t i = 0; i < c->n_streams; i++)
        if (pe_opts_selected(o, c->streams[i].name))
            n += replay ? 1 : (size_t)c->streams[i].shards;
    u->stream = pe_xcalloc(n, sizeof(*u->stream));
    u->shard = pe_xcalloc(n, sizeof(*u->shard));
    u->owned = pe_xcalloc(n, sizeof(*u->owned));
    for (size_t i = 0; i < c->n_streams; i++) {
        if (!pe_opts_selected(o, c->streams[i].name))
            continue;
        for (long s = 0; s < (replay ? 1 : c->streams[i].shards); s++) {
            u->stream[u->n] = i;
            u->shard[u->n] = s;
            u->n++;
        }
    }
}

/* Gives up every unit (their locks too) and frees the list. */
void pe_units_free(const struct pe_config *c, struct pe_source *src,
                   struct pe_units *u)
{
    for (size_t i = 0; src != NULL && i < u->n; i++)
        if (u->owned[i])
            pe_source_disown(src, c->streams[u->stream[i]].name, u->shard[i]);
    free(u->stream);
    free(u->shard);
    free(u->owned);
    memset(u, 0, sizeof(*u));
}

/* With the database store, instances share the units: each takes what is
 * free, up to its fair share of the live instances (in follow mode) and
 * state.max_shards_per_instance, and lets go of what is over it. */
enum pe_status pe_units_claim(const struct pe_app_opts *o,
                              struct pe_source *src, struct pe_units *u,
                              struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    size_t cap = u->n, held = 0;
    long live = 1;
    enum pe_status st;

    if (o->follow && (st = pe_source_instances(src, &live, err)) != PE_OK)
        return st;
    if (live > 1)
        cap = (u->n + (size_t)live - 1) / (size_t)live;
    if (c->state.max_shards_per_instance > 0 &&
        cap > (size_t)c->state.max_shards_per_instance)
        cap = (size_t)c->state.max_shards_per_instance;
    for (size_t i = 0; i < u->n; i++)
        held += u->owned[i];
    for (size_t i = u->n; i-- > 0 && held > cap;)
        if (u->owned[i]) {
            pe_source_disown(src, c->streams[u->stream[i]].name, u->shard[i]);
            u->owned[i] = false;
            held--;
            pe_log(PE_LOG_INFO, "released %s#%ld (fair share %zu of %ld "
                                "instances)",
                   c->streams[u->stream[i]].name, u->shard[i], cap, live);
        }
    for (size_t i = 0; i < u->n && held < cap; i++) {
        bool got = false;

        if (u->owned[i])
            continue;
        if ((st = pe_source_try_own(src, c->streams[u->stream[i]].name,
                                    u->shard[i], &got, err)) != PE_OK)
            return st;
        if (got) {
            u->owned[i] = true;
            held++;
            pe_log(PE_LOG_INFO, "took %s#%ld", c->streams[u->stream[i]].name,
                   u->shard[i]);
        }
    }
    return PE_OK;
}

/* How many units go at once.  A sink that prints its bodies prints them
 * in order, one sender; so does the database store, whose advisory locks
 * belong to the run's one connection. */
static size_t jobs_for(const struct pe_pass *p, size_t units)
{
    long j = p->o->jobs > 0 ? p->o->jobs : p->o->cfg->run.jobs;

    if (p->plan.prints || p->shared)
        return 1;
    if (j <= 0)
        j = 4;
    if ((size_t)j > units)
        j = (long)units;
    return j < 1 ? 1 : (size_t)j;
}

void pe_senders_close(struct pe_senders *s)
{
    for (size_t i = 1; i < PE_MAX_JOBS; i++) {
        pe_source_free(s->src[i]);
        s->src[i] = NULL;
    }
}

void pe_pass_begin(struct pe_pass *p, const struct pe_app_opts *o,
                   const struct pe_sink_plan *plan,
                   const struct pe_deliver_env *env,
                   struct pe_ckpt_store *store, struct pe_units *u,
                   struct pe_senders *senders, bool replay)
{
    memset(p, 0, sizeof(*p));
    p->o = o;
    p->env = env;
    p->store = store;
    p->u = u;
    p->plan = *plan;
    /* A sink that keeps no state writes no checkpoint, so it claims
     * nothing either. */
    p->shared = store != NULL && pe_ckpt_shared(store) && plan->keeps_state;
    p->replay = replay;
    p->reports = pe_xcalloc(o->cfg->n_streams, sizeof(*p->reports));
    p->senders = senders;
    pthread_mutex_init(&p->mu, NULL);
    senders->jobs = jobs_for(p, u->n);
}

void pe_pass_end(struct pe_pass *p)
{
    for (size_t i = 0; i < p->o->cfg->n_streams; i++)
        free(p->reports[i].checkpoint);
    free(p->reports);
    pthread_mutex_destroy(&p->mu);
}

struct sender {
    struct pe_pass *p;
    size_t k; /* its connection: p->senders->src[k] */
    pthread_t thread;
};

/* The next unit this instance sends, or false when none is left. */
static bool next_unit(struct pe_pass *p, size_t *unit)
{
    bool got = false;

    pthread_mutex_lock(&p->mu);
    while (!pe_signals_stopping() && p->next < p->u->n && !got) {
        *unit = p->next++;
        got = !p->shared || p->u->owned[*unit]; /* else another's */
    }
    pthread_mutex_unlock(&p->mu);
    return got;
}

/* What a unit's run came to, under p->mu. */
static void unit_done(struct pe_pass *p, size_t i, enum pe_status st,
                      struct pe_stream_report *rep, const struct pe_error *e)
{
    struct pe_stream_report *to = &p->reports[p->u->stream[i]];

    /* Shards of a stream add up in its report. */
    to->stats.records += rep->stats.records;
    to->stats.requests += rep->stats.requests;
    to->stats.bytes += rep->stats.bytes;
    to->stats.retries += rep->stats.retries;
    to->stats.dead += rep->stats.dead;
    to->stats.window += rep->stats.window;
    if (rep->checkpoint != NULL) {
        free(to->checkpoint);
        to->checkpoint = rep->checkpoint;
        rep->checkpoint = NULL;
    }
    if (st == PE_OK || st == PE_ERR_INTERRUPTED)
        return;
    if (st == PE_ERR_ABORTED && pe_signals_halted())
        return; /* the run limit another unit reported (one line) */
    if (st == PE_ERR_LOCKED && p->shared) {
        p->u->owned[i] = false; /* taken over while the database was away */
        pe_log(PE_LOG_WARN, "%s", e->msg);
        return;
    }
    {
        struct pe_error shown = *e; /* with its stream, topic, status */

        if (p->replay)
            pe_error_prefix(&shown, "replay");
        pe_log_error(PE_LOG_ERROR, false, &shown);
    }
    p->failed++;
    p->worst = pe_pool_worse(p->worst, st);
    if (st == PE_ERR_ABORTED) /* a limit of the whole run */
        pe_signals_halt();
}

static void *send_units(void *arg)
{
    struct sender *w = arg;
    struct pe_pass *p = w->p;
    struct pe_source **src = &p->senders->src[w->k];
    size_t i = 0;

    if (*src == NULL) {
        struct pe_error e;

        pe_error_clear(&e);
        if ((*src = pe_source_open(&p->senders->so, &e)) == NULL) {
            /* The others take its share; the run's own sender is there.
             * The progress line need not wait for a unit it won't count. */
            pe_log(PE_LOG_WARN, "sender %zu: %s", w->k + 1, e.msg);
            pe_progress_total(0, false);
            return NULL;
        }
    }
    while (next_unit(p, &i)) {
        const struct pe_config *c = p->o->cfg;
        struct pe_stream_report rep;
        struct pe_error e;
        enum pe_status st;

        pe_error_clear(&e);
        st = pe_stream_run(p->o, p->env, &c->streams[p->u->stream[i]],
                           p->u->shard[i], p->shared, *src, p->store, p->replay,
                           &rep, &e);
        pthread_mutex_lock(&p->mu);
        unit_done(p, i, st, &rep, &e);
        pthread_mutex_unlock(&p->mu);
        free(rep.checkpoint);
    }
    if (w->k > 0)
        pe_json_arena_release();
    return NULL;
}

/* "pin", or "pin#2" for a shard (as pe_stream_run names it). */
static void unit_name(const struct pe_pass *p, size_t i, char *buf, size_t n)
{
    const struct pe_stream_config *sc = &p->o->cfg->streams[p->u->stream[i]];

    if (sc->shards > 1 && !p->replay)
        snprintf(buf, n, "%s#%ld", sc->name, p->u->shard[i]);
    else
        snprintf(buf, n, "%s", sc->name);
}

/* Sends the units with up to s->jobs senders; this thread is the first. */
void pe_pass_send_all(struct pe_pass *p)
{
    struct pe_senders *s = p->senders;
    struct sender w[PE_MAX_JOBS];
    size_t n = 0, started = 1;
    char label[64];

    for (size_t i = 0; i < p->u->n; i++)
        n += !p->shared || p->u->owned[i];
    snprintf(label, sizeof(label), "%zu streams", n);
    for (size_t i = 0; i < p->u->n; i++) {
        if (n == 1 && (!p->shared || p->u->owned[i]))
            unit_name(p, i, label, sizeof(label));
        else if (p->o->cfg->streams[p->u->stream[i]].shards > 1 && !p->replay)
            snprintf(label, sizeof(label), "%zu units", n);
    }
    pe_progress_start(pe_log_is_tty() && !p->o->quiet && !p->plan.prints &&
                    pe_log_format() == PE_LOG_TEXT && n > 0,
                label, n < s->jobs ? n : s->jobs);
    pe_signals_unhalt();
    for (size_t k = 0; k < PE_MAX_JOBS; k++) {
        w[k].p = p;
        w[k].k = k;
    }
    for (size_t k = 1; k < s->jobs && k < n; k++) {
        int rc = pthread_create(&w[k].thread, NULL, send_units, &w[k]);

        if (rc != 0) {
            pe_log(PE_LOG_WARN, "cannot start sender %zu: %s", k + 1,
                   strerror(rc));
            break;
        }
        started++;
    }
    for (size_t k = started; k < n && k < s->jobs; k++)
        /* senders that did not start count nothing */
        pe_progress_total(0, false);
    send_units(&w[0]);
    for (size_t k = 1; k < started; k++)
        pthread_join(w[k].thread, NULL);
    pe_progress_finish();
}
