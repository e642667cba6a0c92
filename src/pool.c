/* SPDX-License-Identifier: MIT
 * pool.c - owns the units of a pass, their ownership claims, the sender
 * threads and their connections, and what the units' outcomes add up
 * to.  It must not look inside a unit's pass (stream.c) nor call back
 * into a command.  Connections and threads: sender k's thread alone uses
 * senders->src[k] during a pass (sender 0 is the command's thread);
 * between passes the command's thread uses them all (pe_units_claim,
 * pe_units_free).  With the database store a unit's advisory lock lives
 * on the connection of the sender that sends it (see pool.h). */
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
    u->conn = pe_xcalloc(n, sizeof(*u->conn));
    u->session = pe_xcalloc(n, sizeof(*u->session));
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

/* Lets unit i go, its lock too: whatever session of its connection took
 * it last (stream.c takes it again after a reconnect).  try_own never
 * stacks it, so one unlock frees it; one not held unlocks nothing. */
static void disown(const struct pe_config *c, struct pe_senders *s,
                   struct pe_units *u, size_t i)
{
    struct pe_source *src = s->src[u->conn[i]];

    if (src != NULL)
        pe_source_disown(src, c->streams[u->stream[i]].name, u->shard[i]);
    u->owned[i] = false;
}

/* Gives up every unit (their locks too) and frees the list. */
void pe_units_free(const struct pe_config *c, struct pe_senders *s,
                   struct pe_units *u)
{
    for (size_t i = 0; s != NULL && i < u->n; i++)
        if (u->owned[i])
            disown(c, s, u, i);
    free(u->stream);
    free(u->shard);
    free(u->owned);
    free(u->conn);
    free(u->session);
    memset(u, 0, sizeof(*u));
}

/* Takes unit i's lock on src (again, after a reset: idempotent); a
 * connection found broken is reset and asked once more. */
static enum pe_status own_on(const struct pe_config *c, struct pe_source *src,
                             const struct pe_units *u, size_t i, bool *got,
                             struct pe_error *err)
{
    const char *name = c->streams[u->stream[i]].name;
    enum pe_status st = pe_source_try_own(src, name, u->shard[i], got, err);

    if (st == PE_ERR_DB && err->retriable &&
        pe_source_reset(src, err) == PE_OK)
        st = pe_source_try_own(src, name, u->shard[i], got, err);
    return st;
}

/* The sender that takes the next unit: the one with the fewest whose
 * connection is open or opens (a refused one is marked in dead[]). */
static bool pick_sender(struct pe_senders *s, const size_t *load, bool *dead,
                        size_t *k)
{
    for (;;) {
        bool any = false;

        for (size_t j = 0; j < s->jobs; j++)
            if (!dead[j] && (!any || load[j] < load[*k])) {
                *k = j;
                any = true;
            }
        if (!any)
            return false;
        if (s->src[*k] == NULL) {
            struct pe_error e;

            pe_error_clear(&e);
            if ((s->src[*k] = pe_source_open(&s->so, &e)) == NULL) {
                pe_log(PE_LOG_WARN, "sender %zu: %s", *k + 1, e.msg);
                dead[*k] = true;
                continue;
            }
        }
        return true;
    }
}

/* How many live instances share the units (follow mode counts them):
 * asked on the run's connection, reset once if it broke. */
static enum pe_status live_instances(const struct pe_app_opts *o,
                                     struct pe_senders *s, long *live,
                                     struct pe_error *err)
{
    enum pe_status st;

    *live = 1;
    if (!o->follow)
        return PE_OK;
    st = pe_source_instances(s->src[0], live, err);
    if (st == PE_ERR_DB && err->retriable &&
        pe_source_reset(s->src[0], err) == PE_OK)
        /* Its units' locks went with the old session: their senders take
         * them again (pe_source_session tells them). */
        st = pe_source_instances(s->src[0], live, err);
    return st;
}

/* Takes what is free of the units, up to cap, each on the sender with
 * the fewest; a sender whose connection fails (own_on reset it once) is
 * left out of this claim and another one asked. */
static enum pe_status claim_free(const struct pe_config *c,
                                 struct pe_senders *s, struct pe_units *u,
                                 size_t cap, size_t held, size_t *load,
                                 bool *dead, struct pe_error *err)
{
    bool failed = false;

    for (size_t i = 0; i < u->n && held < cap; i++) {
        bool got = false;
        size_t k = 0;

        if (u->owned[i])
            continue;
        for (;;) {
            if (!pick_sender(s, load, dead, &k))
                return failed ? err->status
                              : pe_error_set(err, PE_ERR_DB, true,
                                             "no database connection to "
                                             "claim units on");
            if (own_on(c, s->src[k], u, i, &got, err) == PE_OK)
                break;
            pe_log(PE_LOG_WARN, "sender %zu: %s; claiming on another", k + 1,
                   err->msg);
            dead[k] = failed = true;
        }
        if (got) {
            u->owned[i] = true;
            u->conn[i] = k;
            u->session[i] = pe_source_session(s->src[k]);
            load[k]++;
            held++;
            pe_log(PE_LOG_INFO, "took %s#%ld", c->streams[u->stream[i]].name,
                   u->shard[i]);
        }
    }
    return PE_OK;
}

/* With the database store, instances share the units: each takes what is
 * free, up to its fair share of the live instances (in follow mode) and
 * state.max_shards_per_instance, and lets go of what is over it. */
enum pe_status pe_units_claim(const struct pe_app_opts *o,
                              struct pe_senders *s, struct pe_units *u,
                              struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    size_t cap = u->n, held = 0, load[PE_MAX_JOBS] = {0};
    bool dead[PE_MAX_JOBS] = {false};
    long live = 1;
    enum pe_status st;

    if ((st = live_instances(o, s, &live, err)) != PE_OK)
        return st;
    if (live > 1)
        cap = (u->n + (size_t)live - 1) / (size_t)live;
    if (c->state.max_shards_per_instance > 0 &&
        cap > (size_t)c->state.max_shards_per_instance)
        cap = (size_t)c->state.max_shards_per_instance;
    for (size_t i = 0; i < u->n; i++)
        if (u->owned[i] && u->conn[i] >= s->jobs)
            disown(c, s, u, i); /* fewer senders since a reload */
    for (size_t i = 0; i < u->n; i++)
        if (u->owned[i]) {
            held++;
            load[u->conn[i]]++;
        }
    for (size_t i = u->n; i-- > 0 && held > cap;)
        if (u->owned[i]) {
            disown(c, s, u, i);
            load[u->conn[i]]--;
            held--;
            pe_log(PE_LOG_INFO, "released %s#%ld (fair share %zu of %ld "
                                "instances)",
                   c->streams[u->stream[i]].name, u->shard[i], cap, live);
        }
    return claim_free(c, s, u, cap, held, load, dead, err);
}

/* How many units go at once.  A sink that prints its bodies prints them
 * in order, one sender.  With the database store each sender holds the
 * advisory locks of the units it sends on its own connection, so several
 * go at once there too. */
static size_t jobs_for(const struct pe_pass *p, size_t units)
{
    long j = p->o->jobs > 0 ? p->o->jobs : p->o->cfg->run.jobs;

    if (p->plan.prints)
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
    p->taken = pe_xcalloc(u->n > 0 ? u->n : 1, sizeof(*p->taken));
    p->senders = senders;
    pthread_mutex_init(&p->mu, NULL);
    senders->jobs = jobs_for(p, u->n);
}

void pe_pass_end(struct pe_pass *p)
{
    for (size_t i = 0; i < p->o->cfg->n_streams; i++)
        free(p->reports[i].checkpoint);
    free(p->reports);
    free(p->taken);
    pthread_mutex_destroy(&p->mu);
}

struct sender {
    struct pe_pass *p;
    size_t k; /* its connection: p->senders->src[k] */
    pthread_t thread;
};

/* Whether sender k sends unit i: any unit, or with the database store
 * one this instance owns on k's connection; under p->mu. */
static bool sends(const struct pe_pass *p, size_t k, size_t i)
{
    return !p->shared || (p->u->owned[i] && p->u->conn[i] == k);
}

/* The next unit sender k sends, or false when none is left.  *recheck:
 * its lock was taken in an earlier session of k's connection. */
static bool next_unit(struct pe_pass *p, size_t k, size_t *unit,
                      bool *recheck)
{
    bool got = false;

    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->u->n && !got && !pe_signals_stopping(); i++)
        if (!p->taken[i] && sends(p, k, i)) {
            p->taken[i] = got = true;
            *unit = i;
            *recheck = p->shared &&
                       p->u->session[i] !=
                           pe_source_session(p->senders->src[k]);
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

/* "pin", or "pin#2" for a shard (as pe_stream_run names it). */
static void unit_name(const struct pe_pass *p, size_t i, char *buf, size_t n)
{
    const struct pe_stream_config *sc = &p->o->cfg->streams[p->u->stream[i]];

    if (sc->shards > 1 && !p->replay)
        snprintf(buf, n, "%s#%ld", sc->name, p->u->shard[i]);
    else
        snprintf(buf, n, "%s", sc->name);
}

/* Unit i's lock went with an earlier session of src (a reconnect during
 * another unit): take it again, or leave the unit to whoever has it now.
 * False: not ours (any failure counted). */
static bool still_ours(struct pe_pass *p, struct pe_source *src, size_t i)
{
    struct pe_stream_report rep;
    struct pe_error e;
    char name[96];
    bool got = false;
    enum pe_status st;

    pe_error_clear(&e);
    memset(&rep, 0, sizeof(rep));
    unit_name(p, i, name, sizeof(name));
    st = own_on(p->o->cfg, src, p->u, i, &got, &e);
    if (st == PE_OK && !got)
        st = pe_error_set(&e, PE_ERR_LOCKED, false,
                          "another instance took %s over while the "
                          "database was away",
                          name);
    else if (st != PE_OK)
        pe_error_prefix(&e, "stream %s", name);
    pthread_mutex_lock(&p->mu);
    if (st == PE_OK) {
        p->u->session[i] = pe_source_session(src);
        pe_log(PE_LOG_INFO, "took %s again (its connection was reset)", name);
    } else
        unit_done(p, i, st, &rep, &e); /* PE_ERR_LOCKED: no longer ours */
    pthread_mutex_unlock(&p->mu);
    if (st != PE_OK)
        pe_progress_total(0, false); /* the progress line counts units */
    return st == PE_OK;
}

static void *send_units(void *arg)
{
    struct sender *w = arg;
    struct pe_pass *p = w->p;
    struct pe_source **src = &p->senders->src[w->k];
    size_t i = 0;
    bool recheck = false;

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
    while (next_unit(p, w->k, &i, &recheck)) {
        const struct pe_config *c = p->o->cfg;
        struct pe_stream_report rep;
        struct pe_error e;
        enum pe_status st;

        if (recheck && !still_ours(p, *src, i))
            continue;
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

/* Which senders have units: any (up to one per unit), or with the
 * database store those holding some; how many in all. */
static size_t busy_senders(const struct pe_pass *p, size_t n,
                           bool busy[PE_MAX_JOBS])
{
    size_t count = 0;

    for (size_t k = 0; k < PE_MAX_JOBS; k++) {
        busy[k] = false;
        for (size_t i = 0; k < p->senders->jobs && i < p->u->n && !busy[k];
             i++)
            busy[k] = p->shared ? sends(p, k, i) : k < n;
        count += busy[k];
    }
    return count;
}

/* Sender k did not start: without the database store the others take
 * its share; with it the units only it may send wait, a failure. */
static void sender_lost(struct pe_pass *p, size_t k, int rc)
{
    if (!p->shared) {
        pe_log(PE_LOG_WARN, "cannot start sender %zu: %s", k + 1,
               strerror(rc));
        return;
    }
    pe_log(PE_LOG_ERROR, "cannot start sender %zu: %s; the units it holds "
                         "wait for the next run",
           k + 1, strerror(rc));
    p->failed++;
    p->worst = pe_pool_worse(p->worst, PE_ERR_IO);
}

/* Sends the units with up to s->jobs senders; this thread is the first. */
void pe_pass_send_all(struct pe_pass *p)
{
    struct sender w[PE_MAX_JOBS];
    bool busy[PE_MAX_JOBS], started[PE_MAX_JOBS] = {false}, lost = false;
    size_t n = 0, going;
    char label[64];

    for (size_t i = 0; i < p->u->n; i++)
        n += !p->shared || p->u->owned[i];
    going = busy_senders(p, n, busy);
    snprintf(label, sizeof(label), "%zu streams", n);
    for (size_t i = 0; i < p->u->n; i++) {
        if (n == 1 && (!p->shared || p->u->owned[i]))
            unit_name(p, i, label, sizeof(label));
        else if (p->o->cfg->streams[p->u->stream[i]].shards > 1 && !p->replay)
            snprintf(label, sizeof(label), "%zu units", n);
    }
    pe_progress_start(pe_log_is_tty() && !p->o->quiet && !p->plan.prints &&
                    pe_log_format() == PE_LOG_TEXT && n > 0,
                label, going);
    pe_signals_unhalt();
    for (size_t k = 0; k < PE_MAX_JOBS; k++) {
        w[k].p = p;
        w[k].k = k;
    }
    for (size_t k = 1; k < PE_MAX_JOBS; k++) {
        int rc;

        if (!busy[k])
            continue;
        /* Without the store the first failure ends the starting. */
        if (!lost || p->shared) {
            rc = pthread_create(&w[k].thread, NULL, send_units, &w[k]);
            if (rc == 0) {
                started[k] = true;
                continue;
            }
            sender_lost(p, k, rc);
            lost = true;
        }
        pe_progress_total(0, false); /* senders not started count nothing */
    }
    send_units(&w[0]);
    for (size_t k = 1; k < PE_MAX_JOBS; k++)
        if (started[k])
            pthread_join(w[k].thread, NULL);
    pe_progress_finish();
}
