/* SPDX-License-Identifier: MIT
 * cmd_run.c - owns the run command start to end: store, lock, the run's
 * connection, one pass or --follow's polls, SIGHUP reloads, the metrics
 * file.  It must not send a unit itself (pool.c, stream.c do).  This
 * thread uses the run's connection (senders.src[0]) and, between passes,
 * the senders' (claims, releases); during a pass each sender thread uses
 * its own (pool.h). */
#include "cmd_run.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "checkpoint.h"
#include "conninfo.h"
#include "deadletter.h"
#include "deliver.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "pool.h"
#include "progress.h"
#include "ratelimit.h"
#include "signals.h"
#include "source_opts.h"
#include "source_pg.h"
#include "stream.h"

/* The lag of stream sc as the run ends, as status counts it: rows past
 * the checkpoints of all its shards, and the age of the oldest save.  A
 * count query per unit, so only for the metrics file; what cannot be
 * known is left out of the file (and said at -v). */
static void stream_lag(struct pe_source *src, struct pe_ckpt_store *store,
                       const struct pe_stream_config *sc,
                       struct pe_metrics_stream *ms)
{
    int64_t now_s = pe_now_wall_ms() / 1000, oldest = INT64_MAX;
    struct pe_error e;

    ms->has_pending = ms->has_age = true;
    for (long sh = 0; sh < sc->shards; sh++) {
        struct pe_ckpt_state ck;
        struct pe_table *t = NULL;
        int64_t pending = -1;

        pe_error_clear(&e);
        if (pe_stream_standing(src, store, sc, sh, &ck, &t, &pending, &e) !=
            PE_OK) {
            pe_log(PE_LOG_INFO, "metrics: stream %s: lag unknown: %s",
                   sc->name, e.msg);
            ms->has_pending = false;
        }
        ms->rows_pending += pending > 0 ? pending : 0;
        if (ck.updated_s <= 0)
            ms->has_age = false;
        else if (ck.updated_s < oldest)
            oldest = ck.updated_s;
        pe_table_free(t);
        pe_ckpt_state_cleanup(&ck);
    }
    if (ms->has_age)
        ms->checkpoint_age_s = (double)(now_s - oldest);
}

/* Writes the metrics file for one run (or one poll of --follow). */
static void write_metrics(const struct pe_app_opts *o, double start_s,
                          enum pe_status st, struct pe_stream_report *reports,
                          struct pe_source *src, struct pe_ckpt_store *store)
{
    const struct pe_config *c = o->cfg;
    const char *path = o->metrics_file ? o->metrics_file : c->metrics.file;
    struct pe_metrics_stream *ms;
    struct pe_metrics_run run;
    struct pe_error e;
    size_t n = 0;

    if (path == NULL)
        return;
    ms = pe_xcalloc(c->n_streams, sizeof(*ms));
    for (size_t i = 0; i < c->n_streams; i++) {
        if (!pe_opts_selected(o, c->streams[i].name))
            continue;
        ms[n].name = c->streams[i].name;
        ms[n].topic = c->streams[i].topic;
        ms[n].checkpoint = reports[i].checkpoint;
        ms[n].rows = reports[i].stats.records;
        ms[n].requests = reports[i].stats.requests;
        ms[n].bytes = reports[i].stats.bytes;
        ms[n].retries = reports[i].stats.retries;
        ms[n].dead_letters = reports[i].stats.dead;
        ms[n].window = reports[i].stats.window;
        stream_lag(src, store, &c->streams[i], &ms[n]);
        n++;
    }
    run.start_s = start_s;
    run.end_s = (double)pe_now_wall_ms() / 1000.0;
    run.exit_code = pe_status_exit_code(st);
    run.streams = ms;
    run.n_streams = n;
    pe_error_clear(&e);
    if (pe_metrics_write(path, &run, &e) != PE_OK)
        pe_log(PE_LOG_WARN, "%s", e.msg);
    free(ms);
}

/* Every selected unit once: a run, or one poll of --follow. */
static enum pe_status one_pass(const struct pe_app_opts *o,
                               const struct pe_sink_plan *plan,
                               const struct pe_deliver_env *env,
                               struct pe_senders *senders,
                               struct pe_ckpt_store *store, struct pe_units *u,
                               long long *sent, struct pe_error *err)
{
    struct pe_source *src = senders->src[0];
    double start_s = (double)pe_now_wall_ms() / 1000.0;
    size_t dead_before = pe_dlq_count(env->dlq);
    struct pe_pass p;
    enum pe_status st = PE_OK;

    pe_pass_begin(&p, o, plan, env, store, u, senders, false);
    if (p.shared)
        st = pe_units_claim(o, senders, u, err);
    if (st != PE_OK) {
        /* Without knowing what is ours, send nothing this time. */
        pe_log(PE_LOG_ERROR, "%s", err->msg);
        p.failed++;
        p.worst = st;
    } else {
        pe_pass_send_all(&p);
    }
    st = pe_pool_finish(p.worst, p.failed, env->dlq, dead_before, err);
    if (plan->keeps_state) /* a dry run's figures are no run's */
        write_metrics(o, start_s, st, p.reports, src, store);
    *sent = 0;
    for (size_t i = 0; i < o->cfg->n_streams; i++)
        *sent += p.reports[i].stats.records;
    pe_pass_end(&p);
    return st;
}

/* Between polls: sleep, waking at once for a stop, or for SIGHUP. */
static void follow_sleep(long seconds)
{
    int64_t until = pe_now_mono_ms() + seconds * 1000;

    while (!pe_signals_stop_level() && !pe_signals_hup_pending() &&
           pe_now_mono_ms() < until) {
        struct timespec ts = {0, 50 * 1000000L};

        pe_notify_watchdog();
        nanosleep(&ts, NULL);
    }
}

/* --follow under a service manager: ready once the lock is held and the
 * connection open, before the first poll (a long backfill must not count
 * against TimeoutStartSec; the watchdog covers it). */
static void notify_ready(const struct pe_app_opts *o)
{
    if (!o->follow)
        return;
    pe_notify_open();
    pe_notify_send("READY=1");
    pe_notify_status("first poll; then one every %ld s", o->interval_s);
}

/* After a poll that the follow loop goes on from: the status line. */
static void notify_pass(const struct pe_app_opts *o, enum pe_status st,
                        const struct pe_error *err, long long sent)
{
    const char *why = st == PE_OK          ? NULL
                      : err->msg[0] != '\0' ? err->msg
                                            : "failed, see the log";

    /* The message last: a long one is what the 200-byte cut takes. */
    pe_notify_status("sent %lld %s; next poll in %ld s%s%s", sent,
                     pe_plural(sent, "row", "rows"), o->interval_s,
                     why ? "; last poll: " : "", why ? why : "");
}

/* Leaving follow mode, for a signal or an error: no more pings. */
static void notify_stopping(const struct pe_app_opts *o)
{
    if (!o->follow)
        return;
    pe_notify_send("STOPPING=1");
    pe_notify_close();
}

/* Before anything is sent: every unit's checkpoint was written for the
 * shard split configured now.  Each unit checks its own when it starts,
 * but after a change from 2 shards to 4, shards 2 and 3 have none, and
 * would send their whole part while shards 0 and 1 are refused. */
static enum pe_status shards_agree(const struct pe_config *c,
                                   struct pe_ckpt_store *store,
                                   const struct pe_units *u,
                                   struct pe_error *err)
{
    for (size_t i = 0; store != NULL && i < u->n; i++) {
        const struct pe_stream_config *sc = &c->streams[u->stream[i]];
        struct pe_ckpt_state ck;
        enum pe_status st;

        memset(&ck, 0, sizeof(ck));
        /* A checkpoint that cannot be read fails its own unit, as ever;
         * here only a changed split stops the whole run. */
        if (pe_ckpt_load_shard(store, sc->name, u->shard[i], sc->shards, &ck,
                               err) != PE_OK) {
            pe_ckpt_state_cleanup(&ck);
            pe_error_clear(err);
            continue;
        }
        st = pe_stream_ckpt_split(store, sc, u->shard[i], sc->shards, &ck,
                                  err);
        pe_ckpt_state_cleanup(&ck);
        if (st != PE_OK) {
            if (sc->shards > 1)
                pe_error_prefix(err, "stream %s#%ld", sc->name, u->shard[i]);
            else
                pe_error_prefix(err, "stream %s", sc->name);
            return st;
        }
    }
    return PE_OK;
}

/* SIGHUP: reopen the log file and re-read the config.  A config that
 * does not load, moves state.dir or changes the checkpoint store (kind or
 * table) is refused and the old one kept. */
static void reload(const char *path, struct pe_app_opts *cur,
                   struct pe_ckpt_store *store, struct pe_config **owned,
                   struct pe_config **retired)
{
    const struct pe_config **live = &cur->cfg;
    struct pe_app_opts want = *cur;
    struct pe_units units;
    struct pe_config *next = pe_xcalloc(1, sizeof(*next));
    struct pe_error e;
    const char *fixed = NULL; /* settings that may not change */

    pe_signals_hup_clear();
    if (pe_log_reopen() != 0)
        pe_log(PE_LOG_WARN, "cannot reopen the log file: %s",
               strerror(errno));
    pe_error_clear(&e);
    if (pe_config_load(path, next, &e) != PE_OK) {
        pe_log(PE_LOG_ERROR, "SIGHUP: %s; keeping the running config",
               e.msg);
        free(next);
        return;
    }
    if (next->state.database != (*live)->state.database ||
        strcmp(next->state.table, (*live)->state.table) != 0)
        fixed = "state.store and state.table";
    else if (strcmp(next->state.dir, (*live)->state.dir) != 0 ||
             strcmp(next->source.conninfo, (*live)->source.conninfo) != 0)
        fixed = "state.dir and source.conninfo";
    if (fixed != NULL) {
        pe_log(PE_LOG_ERROR, "SIGHUP: %s: %s cannot change while running; "
                             "restart pinemit; keeping the running config",
               path, fixed);
        pe_config_cleanup(next);
        free(next);
        return;
    }
    /* A changed shard split must not start the shards it adds. */
    want.cfg = next;
    pe_units_build(&want, false, &units);
    if (shards_agree(next, store, &units, &e) != PE_OK) {
        pe_log(PE_LOG_ERROR, "SIGHUP: %s; keeping the running config",
               e.msg);
        pe_units_free(next, NULL, &units);
        pe_config_cleanup(next);
        free(next);
        return;
    }
    pe_units_free(next, NULL, &units);
    *retired = *owned; /* the caller frees it once done with it */
    *owned = next;
    *live = next;
    pe_log(PE_LOG_INFO, "SIGHUP: configuration re-read from %s", path);
}

/* SIGHUP in follow mode: reload, and rebuild the units if it took. */
static void on_hup(const char *path, struct pe_app_opts *cur,
                   struct pe_ckpt_store *store, struct pe_config **owned,
                   struct pe_senders *senders, struct pe_units *units)
{
    const struct pe_config *before = cur->cfg;
    struct pe_config *retired = NULL; /* `before`, if re-read */

    pe_notify_reloading();
    reload(path, cur, store, owned, &retired);
    if (cur->cfg != before) {
        /* Streams may have changed: let go and claim anew. */
        pe_units_free(before, senders, units);
        pe_units_build(cur, false, units);
    }
    if (retired != NULL) {
        pe_config_cleanup(retired);
        free(retired);
    }
    pe_notify_send("READY=1"); /* the new config, or the old one kept */
}

/* The checkpoint store, locked when the sink keeps state.  A sink that
 * keeps none (the dry run's) reads checkpoints if it can but never writes
 * or locks. */
static enum pe_status open_state(const struct pe_app_opts *o,
                                 const struct pe_sink_plan *plan,
                                 struct pe_ckpt_store **store,
                                 struct pe_error *err)
{
    enum pe_status st;

    *store = pe_pool_open_store(o->cfg, plan->keeps_state, err);
    if (*store == NULL && plan->keeps_state)
        return err->status;
    if (*store != NULL && plan->keeps_state &&
        (st = pe_ckpt_lock(*store, o->wait_lock_s * 1000,
                           pe_signals_stop_flag(), err)) != PE_OK)
        return st;
    if (plan->unverified_tls)
        pe_log(PE_LOG_WARN, "sink.insecure = true: the proxy's TLS "
                            "certificate is not verified");
    return PE_OK;
}

enum pe_status pe_app_run(const struct pe_app_opts *o, struct pe_error *err)
{
    struct pe_app_opts cur = *o;
    const struct pe_config *c = o->cfg;
    struct pe_config *owned = NULL; /* a config re-read on SIGHUP */
    struct pe_source_opts so = pe_source_opts_from_config(c);
    struct pe_sink_plan plan = pe_sink_plan(c, o->dry_run);
    struct pe_ckpt_store *store = NULL;
    struct pe_source *src = NULL;
    struct pe_senders senders;
    struct pe_dlq *dlq = NULL;
    struct pe_deliver_env env;
    struct pe_units units;
    size_t rejected = 0;
    long long sent;
    enum pe_status st;

    memset(&units, 0, sizeof(units));
    memset(&senders, 0, sizeof(senders));
    senders.so = so;
    if ((st = pe_opts_check_selection(o, err)) != PE_OK)
        return st;
    pe_signals_install();
    pe_rate_init(o->rate);
    if ((st = open_state(o, &plan, &store, err)) != PE_OK)
        goto out;
    src = pe_source_open(&so, err);
    if (src == NULL) {
        st = err->status;
        goto out;
    }
    senders.src[0] = src;
    pe_units_build(&cur, false, &units);
    if ((st = shards_agree(c, store, &units, err)) != PE_OK) {
        pe_units_free(cur.cfg, &senders, &units);
        goto out;
    }
    notify_ready(o);
    for (;;) {
        dlq = pe_dlq_new(cur.cfg->dead_letter.path);
        pe_pool_env_init(&env, cur.cfg, dlq, &rejected);
        st = one_pass(&cur, &plan, &env, &senders, store, &units, &sent,
                      err);
        pe_dlq_free(dlq);
        dlq = NULL;
        if (!o->follow || pe_signals_stop_level() || st == PE_ERR_ABORTED ||
            st == PE_ERR_CONFIG)
            break;
        /* A daemon keeps going after a failed poll; it was reported. */
        rejected = 0;
        notify_pass(o, st, err, sent);
        follow_sleep(o->interval_s);
        if (pe_signals_hup_pending())
            on_hup(c->path, &cur, store, &owned, &senders, &units);
        if (pe_signals_stop_level()) {
            st = PE_ERR_INTERRUPTED;
            break;
        }
    }
    if (o->follow && st == PE_ERR_INTERRUPTED)
        pe_log(PE_LOG_INFO, "follow: stopped by a signal");
    notify_stopping(o);
    pe_units_free(cur.cfg, &senders, &units);
out:
    if (fflush(stdout) != 0 && st == PE_OK)
        st = pe_error_set(err, PE_ERR_IO, false, "stdout: %s",
                          strerror(errno));
    pe_senders_close(&senders);
    pe_source_free(src);
    pe_ckpt_close(store);
    pe_dlq_free(dlq);
    if (owned != NULL) {
        pe_config_cleanup(owned);
        free(owned);
    }
    return st;
}
