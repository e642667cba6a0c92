/* SPDX-License-Identifier: MIT
 * stream.c - owns one unit's pass: its pages, rows, records and batch,
 * the delivery of each batch (one at a time, or through the unit's window
 * of requests in flight, inflight.c) and the checkpoint it moves.  It
 * must not know the other units, the threads that run it, or the
 * commands: the tracking rules are tracking.c's, the pool is pool.c's. */
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "encode.h"
#include "inflight.h"
#include "log.h"
#include "progress.h"
#include "ratelimit.h"
#include "signals.h"
#include "sink.h"
#include "tracking.h"

/* What one stream's run needs; all borrowed but the batch and buffers. */
struct stream_run {
    const struct pe_stream_config *sc;
    const struct pe_app_opts *o;
    const struct pe_deliver_env *env;
    struct pe_source *src;
    struct pe_table *table;
    struct pe_sink *sink; /* the dry run's prints to stdout */
    struct pe_ckpt_store *store;
    struct pe_ckpt_saver *saver; /* saves in the background; NULL: here */
    struct pe_inflight *fl;      /* the window; NULL: one batch at a time */
    struct pe_batch batch;
    int64_t *batch_xids; /* inserting transaction of each batch record */
    struct pe_buf rec;
    struct pe_ckpt_state state; /* as last saved (the checkpoint) */
    bool tracked;               /* not an ordered_writer stream */
    bool late_phase;            /* sending rows below the checkpoint */
    struct pe_snapshot snap;
    long long left; /* rows still allowed by --limit; -1 = no limit */
    long key_col;   /* message_key column, or -1 */
    const char *topic; /* the stream's, or replay's --topic */
    long shard, nshards; /* this run's part of the stream */
    bool owned;          /* holds the unit's advisory lock (database store) */
    char unit[96];       /* "pin", or "pin#2" for a shard */
    bool replay;       /* a key range: no checkpoint, no tracking */
    bool progress;     /* count toward the progress line */
    struct pe_progress_share shown; /* already counted there */
    struct pe_send_stats stats;
};

/* Counts what r did since it last reported, and redraws if it is time. */
static void draw_progress(struct stream_run *r)
{
    if (!r->progress)
        return;
    pe_progress_update(&r->shown, r->stats.records + r->stats.dead,
                       r->stats.retries);
    if (r->fl != NULL)
        pe_progress_window(&r->shown, pe_inflight_window(r->fl));
}

/* Saves r->state: handed to the saver (durable before the next save, and
 * at the end of the unit), or here when there is none. */
static enum pe_status save_state(struct stream_run *r, struct pe_error *err)
{
    if (r->saver != NULL)
        return pe_ckpt_saver_save(r->saver, &r->state, err);
    return pe_ckpt_save_shard(r->store, r->sc->name, r->shard, r->nshards,
                              &r->state, err);
}

/* Everything up to `key` (and the rows of xids) was acknowledged or
 * dead-lettered (and the dead letters synced): record it.  Rows sent in
 * the late phase lie below the checkpoint key, which stays. */
static enum pe_status advance(struct stream_run *r, const char *key,
                              const int64_t *xids, size_t n,
                              struct pe_error *err)
{
    draw_progress(r);
    if (r->replay)
        return PE_OK; /* a replay moves no checkpoint */
    pe_tracking_advance(&r->state, r->late_phase, r->tracked, key, xids, n);
    if (!pe_sink_delivers(r->sink))
        return PE_OK;
    return save_state(r, err);
}

/* A batch acknowledged through the window, oldest first: the checkpoint
 * moves over it. */
static enum pe_status acked(void *arg, const struct pe_batch *b,
                            const int64_t *xids, struct pe_error *err)
{
    struct stream_run *r = arg;

    pe_log(PE_LOG_DEBUG, "stream %s: %sbatch of %zu records, keys %s to %s",
           r->unit, r->late_phase ? "late " : "", b->n, pe_batch_key(b, 0),
           pe_batch_key(b, b->n - 1));
    return advance(r, pe_batch_key(b, b->n - 1), xids, b->n, err);
}

/* Waits for the batches in flight, moving the checkpoint over them. */
static enum pe_status drain(struct stream_run *r, struct pe_error *err)
{
    struct pe_inflight_done d = {acked, r};

    return r->fl != NULL ? pe_inflight_drain(r->fl, &d, err) : PE_OK;
}

/* Sends the batch (or prints it in dry-run), then moves the checkpoint;
 * with a window, posts it and moves on (acked moves the checkpoint). */
static enum pe_status flush(struct stream_run *r, struct pe_error *err)
{
    const char *last;
    enum pe_status st;

    if (r->batch.n == 0)
        return PE_OK;
    last = pe_batch_key(&r->batch, r->batch.n - 1);
    if (pe_sink_delivers(r->sink) &&
        (st = pe_rate_take(r->env, r->batch.n, err)) != PE_OK)
        return st;
    if (r->fl != NULL) {
        struct pe_inflight_done d = {acked, r};

        return pe_inflight_send(r->fl, &r->batch, &r->batch_xids, &d, err);
    }
    st = pe_deliver(r->env, r->sink, r->sc->name, r->topic, &r->batch, NULL,
                    r->batch.n, &r->stats, err);
    if (st != PE_OK) {
        if (st != PE_ERR_INTERRUPTED)
            pe_error_prefix(err, "keys %s to %s", pe_batch_key(&r->batch, 0),
                            last);
        return st;
    }
    if ((st = advance(r, last, r->batch_xids, r->batch.n, err)) != PE_OK)
        return st;
    pe_log(PE_LOG_DEBUG, "stream %s: %sbatch of %zu records, keys %s to %s",
           r->unit, r->late_phase ? "late " : "", r->batch.n,
           pe_batch_key(&r->batch, 0), last);
    pe_batch_reset(&r->batch);
    return PE_OK;
}

/* A row that cannot be sent (a record over batch.max_bytes or the sink's
 * record limit, a partition key Kinesis refuses): what came before it goes
 * first, then it becomes a dead letter and the checkpoint moves past it. */
static enum pe_status dead_row(struct stream_run *r, const char *key,
                               int64_t xid, const char *msg,
                               struct pe_error *err)
{
    struct pe_dead_letter d;
    enum pe_status st;

    if ((st = flush(r, err)) != PE_OK || (st = drain(r, err)) != PE_OK)
        return st;
    if (!pe_sink_delivers(r->sink)) {
        pe_log(PE_LOG_WARN, "stream %s: key %s: %s; a run would dead-letter it",
               r->unit, key, msg);
        return PE_OK;
    }
    memset(&d, 0, sizeof(d));
    d.stream = r->sc->name;
    d.topic = r->topic;
    d.key = key;
    d.error_code = 413;
    d.message = msg;
    d.record = r->rec.data ? r->rec.data : "null";
    d.record_len = r->rec.data ? r->rec.len : 4;
    if ((st = pe_deliver_dead_letter(r->env, &d, &r->stats, err)) != PE_OK ||
        (st = pe_dlq_sync(r->env->dlq, err)) != PE_OK)
        return st;
    return advance(r, key, &xid, 1, err);
}

static enum pe_status oversized(struct stream_run *r, const char *key,
                                int64_t xid, size_t len, size_t limit,
                                const char *what, struct pe_error *err)
{
    char msg[160];

    snprintf(msg, sizeof(msg), "record of %zu bytes is over %s (%zu)", len,
             what, limit);
    return dead_row(r, key, xid, msg, err);
}

/* Encodes one row and adds it, sending the batch first when it is full. */
static enum pe_status add_row(struct stream_run *r, struct pe_rows *rows,
                              size_t i, struct pe_error *err)
{
    const struct pe_config *c = r->o->cfg;
    const char *key = pe_rows_key(rows, i);
    int64_t xid = rows->has_xmin ? pe_rows_xid(rows, i) : 0;
    enum pe_status st;

    const char *what;
    size_t record_len = 0, limit = pe_sink_record_limit(r->sink, &what);
    char why[128] = "";
    struct pe_sink_row row = {rows->cols, rows->n_cols,
                              pe_rows_values(rows, i), r->key_col, key};

    st = pe_sink_encode(r->sink, &row, &r->rec, &record_len, why, sizeof(why),
                        err);
    if (st != PE_OK) {
        pe_error_prefix(err, "key %s", key);
        return st;
    }
    if (why[0] != '\0')
        return dead_row(r, key, xid, why, err);
    /* record_len is what the limits count (Kinesis: data, not base64). */
    if (!pe_batch_fits_alone(&r->batch, record_len))
        return oversized(r, key, xid, record_len, (size_t)c->batch.max_bytes,
                         "batch.max_bytes", err);
    if (record_len > limit)
        return oversized(r, key, xid, record_len, limit, what, err);
    if (pe_batch_add_sized(&r->batch, r->rec.data, r->rec.len, record_len,
                           key) != PE_OK) {
        if ((st = flush(r, err)) != PE_OK)
            return st;
        if (pe_signals_stopping())
            return PE_ERR_INTERRUPTED;
        if ((st = pe_deliver_check_deadline(r->env, err)) != PE_OK)
            return st;
        if ((st = pe_batch_add_sized(&r->batch, r->rec.data, r->rec.len,
                                     record_len, key)) != PE_OK)
            return st;
    }
    r->batch_xids[r->batch.n - 1] = xid;
    return PE_OK;
}

/* After a database error worth retrying: drop the unsent batch, back off,
 * reconnect and reopen the table; the caller starts over from the
 * checkpoint. */
static enum pe_status recover_db(struct stream_run *r, long *attempts,
                                 struct pe_error *err)
{
    const struct pe_retry_policy *p = &r->env->policy;
    enum pe_status st;

    while (err->status == PE_ERR_DB && err->retriable &&
           *attempts < p->max_attempts) {
        int64_t wait = pe_backoff_ms(p, *attempts, pe_random64());

        (*attempts)++;
        pe_log(PE_LOG_WARN, "stream %s: %s; reconnecting in %lld ms "
                            "(attempt %ld of %ld)",
               r->unit, err->msg, (long long)wait, *attempts,
               p->max_attempts);
        pe_batch_reset(&r->batch);
        pe_table_free(r->table);
        r->table = NULL;
        if ((st = pe_deliver_sleep(r->env, wait, err)) != PE_OK)
            return st;
        if (pe_source_reset(r->src, err) != PE_OK)
            continue;
        if (r->owned) {
            /* The old session's advisory lock went with it: take it again,
             * or leave the unit to the instance that has it now. */
            bool got = false;

            if (pe_source_try_own(r->src, r->sc->name, r->shard, &got, err) !=
                PE_OK)
                continue;
            if (!got)
                return pe_error_set(err, PE_ERR_LOCKED, false,
                                    "another instance took %s over while "
                                    "the database was away",
                                    r->unit);
        }
        r->table = pe_stream_open_table(r->src, r->sc, r->tracked, r->shard,
                                        r->nshards, &r->key_col, err);
        if (r->table != NULL)
            return PE_OK;
    }
    return err->status;
}

/* Asks for the page after `cursor`. */
static enum pe_status request_page(struct stream_run *r, bool late,
                                   const char *cursor, const char *high,
                                   long want, struct pe_error *err)
{
    const struct pe_ckpt_state *c = &r->state;

    if (r->replay)
        return pe_table_send_range(r->table, r->o->from_key, r->o->to_key,
                                   cursor, want, err);
    if (late) {
        struct pe_late_filter f = {high,        c->floor,      c->sent,
                                   c->n_sent,   c->late_key,   c->late_sent,
                                   c->n_late_sent};

        return pe_table_send_late(r->table, cursor, &f, &r->snap, want, err);
    }
    return pe_table_send_page(r->table, cursor, want, err);
}

/* Rows allowed in the next page. */
static long page_size(const struct stream_run *r, long long left)
{
    long want = r->o->cfg->source.fetch_rows;

    return left > 0 && left < want ? (long)left : want;
}

/* Sends pages of rows until a short page, the limit or a stop.  late:
 * rows below the checkpoint from transactions not settled before.  The
 * next page is requested before this one is encoded and posted, so the
 * database and the proxy work at the same time. */
static enum pe_status scan(struct stream_run *r, bool late,
                           struct pe_error *err)
{
    const struct pe_ckpt_state *c = &r->state;
    struct pe_rows rows;
    char *cursor = r->replay ? NULL
                   : late    ? (c->low ? pe_xstrdup(c->low) : NULL)
                             : (c->key ? pe_xstrdup(c->key) : NULL);
    char *high = late ? pe_xstrdup(c->key) : NULL;
    long want = page_size(r, r->left);
    bool more = r->left != 0;
    enum pe_status st = PE_OK;

    memset(&rows, 0, sizeof(rows));
    r->late_phase = late;
    if (more)
        st = request_page(r, late, cursor, high, want, err);
    while (st == PE_OK && more && !pe_signals_stopping()) {
        if ((st = pe_table_recv(r->table, late || r->tracked ? &r->snap : NULL,
                                &rows, err)) != PE_OK)
            break;
        if (r->left > 0)
            r->left -= (long long)rows.n_rows;
        /* A short page: nothing more past the cursor. */
        more = (long)rows.n_rows == want && r->left != 0;
        if (more) {
            free(cursor);
            cursor = pe_xstrdup(pe_rows_key(&rows, rows.n_rows - 1));
            want = page_size(r, r->left);
            if ((st = request_page(r, late, cursor, high, want, err)) != PE_OK)
                break;
        }
        for (size_t i = 0; i < rows.n_rows && st == PE_OK; i++)
            st = add_row(r, &rows, i, err);
        if (st == PE_OK)
            st = pe_deliver_check_deadline(r->env, err);
    }
    pe_table_drain(r->table); /* a page requested but not wanted now */
    pe_rows_cleanup(&rows);
    free(cursor);
    free(high);
    if (st == PE_OK && !pe_signals_stopping())
        st = flush(r, err);
    {
        /* What is in flight is answered (and checkpointed) even when the
         * pass failed: a later pass starts from the checkpoint. */
        struct pe_error e;
        enum pe_status d = drain(r, st == PE_OK ? err : &e);

        st = st == PE_OK ? d : st;
    }
    if (st == PE_OK && pe_signals_stopping())
        st = PE_ERR_INTERRUPTED;
    return st;
}

/* The oldest transaction rows may still come from, after this snapshot:
 * the oldest one in progress, skipping those of other databases (they
 * cannot write this table) and those open longer than max_pending_age_s
 * (with a warning: rows they commit below the checkpoint are not sent). */
static enum pe_status new_floor(struct stream_run *r, int64_t *floor,
                                struct pe_error *err)
{
    long max_age = r->o->cfg->source.max_pending_age_s;

    *floor = r->snap.xmax;
    for (size_t i = 0; i < r->snap.n_xip; i++) {
        struct pe_xact_info info;
        enum pe_tracking_xact verdict;
        int64_t x = r->snap.xip[i];

        if (x >= *floor)
            continue;
        if (pe_source_xact_info(r->src, x, &info, err) != PE_OK)
            return err->status;
        verdict = pe_tracking_classify(&info, max_age);
        if (verdict == PE_TRACKING_IGNORE)
            continue;
        if (verdict == PE_TRACKING_STALE) {
            pe_log(PE_LOG_WARN,
                   "stream %s: transaction %lld (backend pid %d) has been "
                   "open %.0f s, longer than source.max_pending_age_s (%ld); "
                   "no longer waiting for it: rows it commits with keys up "
                   "to %s will not be sent",
                   r->unit, (long long)x, info.pid, info.age_s, max_age,
                   r->state.key ? r->state.key : "(none)");
            continue;
        }
        *floor = x; /* xip is ascending: the oldest that counts */
        break;
    }
    return PE_OK;
}

/* Once every row below the checkpoint that this snapshot can see is sent:
 * the state that the rest of the run (and the next run) starts from. */
static enum pe_status settle(struct stream_run *r, struct pe_error *err)
{
    int64_t floor;
    enum pe_status st;

    if ((st = new_floor(r, &floor, err)) != PE_OK)
        return st;
    pe_tracking_settle(&r->state, r->snap.xmax, floor);
    if (!pe_sink_delivers(r->sink))
        return PE_OK;
    return save_state(r, err);
}

/* One pass over the stream in one snapshot: late rows, then new ones. */
static enum pe_status stream_pass(struct stream_run *r, struct pe_error *err)
{
    enum pe_status st;

    if (!r->tracked)
        return scan(r, false, err);
    if ((st = pe_table_begin(r->table, &r->snap, err)) != PE_OK)
        return st;
    if (r->state.tracked && r->state.key != NULL)
        st = scan(r, true, err);
    if (st == PE_OK)
        st = settle(r, err);
    if (st == PE_OK)
        st = scan(r, false, err);
    pe_table_end(r->table);
    pe_snapshot_cleanup(&r->snap);
    r->late_phase = false;
    return st;
}

static enum pe_status pump(struct stream_run *r, struct pe_error *err)
{
    long db_attempts = 0;
    enum pe_status st;

    r->left = r->o->limit > 0 ? r->o->limit : -1;
    for (;;) {
        long long before = r->stats.records + r->stats.dead;

        st = stream_pass(r, err);
        if (st != PE_ERR_DB || !err->retriable)
            return st;
        if (r->stats.records + r->stats.dead > before)
            db_attempts = 0; /* progress: a fresh budget */
        if ((st = recover_db(r, &db_attempts, err)) != PE_OK)
            return st;
    }
}

/* Fills r for a unit of stream sc; the batch and buffers are its own. */
static void unit_init(struct stream_run *r, const struct pe_app_opts *o,
                      const struct pe_deliver_env *env,
                      const struct pe_stream_config *sc, long shard,
                      bool owned, struct pe_source *src,
                      struct pe_ckpt_store *store, bool replay)
{
    memset(r, 0, sizeof(*r));
    r->sc = sc;
    r->o = o;
    r->env = env;
    r->src = src;
    r->store = store;
    r->replay = replay;
    r->tracked = !sc->ordered_writer && !replay;
    r->shard = replay ? 0 : shard;
    r->nshards = replay ? 1 : sc->shards;
    r->owned = owned;
    if (r->nshards > 1)
        snprintf(r->unit, sizeof(r->unit), "%s#%ld", sc->name, r->shard);
    else
        snprintf(r->unit, sizeof(r->unit), "%s", sc->name);
    r->topic = replay && o->topic ? o->topic : sc->topic;
    r->progress = pe_progress_on();
    {
        long max = pe_rate_batch_max(o->cfg->batch.max_records);

        pe_batch_init(&r->batch, (size_t)max,
                      (size_t)o->cfg->batch.max_bytes);
        r->batch_xids = pe_xcalloc((size_t)max, sizeof(int64_t));
    }
    pe_buf_init(&r->rec, 0);
}

/* Adds the unit's rows to send to the progress line's total. */
static void unit_count(struct stream_run *r, struct pe_error *err)
{
    const struct pe_app_opts *o = r->o;
    int64_t total = -1;

    /* An exact count: an index-only range scan on the key. */
    if ((r->replay ? pe_table_count_range(r->table, o->from_key,
                                          o->to_key, &total, err)
                   : pe_table_count(r->table, r->state.key, &total, err)) !=
        PE_OK)
        total = -1;
    if (o->limit > 0 && total > o->limit)
        total = o->limit;
    pe_progress_total(total, true);
}

/* The unit's window: up to sink.max_in_flight batches at once. */
static struct pe_inflight *window_open(struct stream_run *r)
{
    const struct pe_config *c = r->o->cfg;
    struct pe_inflight_opts fo = {c,
                                  r->env,
                                  r->sink,
                                  r->sc->name,
                                  r->topic,
                                  &r->stats,
                                  c->sink.max_in_flight,
                                  (size_t)c->sink.max_in_flight_bytes,
                                  r->batch.max_records,
                                  r->batch.max_bytes};

    return pe_inflight_new(&fo);
}

/* Every state handed over is durable before the unit ends: st, or the
 * saver's error when the unit itself went well. */
static enum pe_status unit_finish_saver(struct stream_run *r,
                                        enum pe_status st,
                                        struct pe_error *err)
{
    struct pe_error e;
    enum pe_status saved = pe_ckpt_saver_finish(r->saver, &e);

    r->saver = NULL;
    if (saved != PE_OK && (st == PE_OK || st == PE_ERR_INTERRUPTED)) {
        st = saved;
        *err = e;
    } else if (saved != PE_OK) {
        /* The unit failed anyway; say that its checkpoint lags too. */
        pe_log(PE_LOG_WARN, "stream %s: the last checkpoint was not "
                            "saved: %s",
               r->unit, e.msg);
    }
    return st;
}

/* Fills the unit's report and frees what the unit held. */
static void unit_cleanup(struct stream_run *r,
                         struct pe_stream_report *report)
{
    /* The unit's own figures; its sender adds them to the stream's. */
    report->stats = r->stats;
    report->checkpoint = r->nshards == 1 && r->state.key != NULL
                             ? pe_xstrdup(r->state.key)
                             : NULL;
    pe_sink_close(r->sink);
    pe_table_free(r->table);
    pe_batch_cleanup(&r->batch);
    free(r->batch_xids);
    pe_buf_cleanup(&r->rec);
    pe_ckpt_state_cleanup(&r->state);
}

enum pe_status pe_stream_run(const struct pe_app_opts *o,
                             const struct pe_deliver_env *env,
                             const struct pe_stream_config *sc, long shard,
                             bool owned, struct pe_source *src,
                             struct pe_ckpt_store *store, bool replay,
                             struct pe_stream_report *report,
                             struct pe_error *err)
{
    struct stream_run r;
    int64_t t0 = pe_now_mono_ms();
    long db_attempts = 0;
    bool counted = false; /* toward the progress line's total */
    enum pe_status st;

    unit_init(&r, o, env, sc, shard, owned, src, store, replay);
    if (store != NULL && !replay &&
        (st = pe_stream_ckpt_load(store, sc, r.shard, r.nshards, &r.state,
                                  err)) != PE_OK)
        goto out;
    r.table = pe_stream_open_table(src, sc, r.tracked, r.shard, r.nshards,
                                   &r.key_col, err);
    if (r.table == NULL && (st = recover_db(&r, &db_attempts, err)) != PE_OK)
        goto out;
    if (!replay &&
        (st = pe_stream_ckpt_fits(r.table, store, sc->name, r.shard,
                                  r.nshards, &r.state, err)) != PE_OK)
        goto out;
    r.sink = pe_sink_open(o->cfg, o->dry_run, pe_signals_stop_flag(), err);
    if (r.sink == NULL) {
        st = err->status;
        goto out;
    }
    pe_sink_frame(r.sink, &r.batch, r.topic);
    pe_log(PE_LOG_DEBUG, "stream %s: %s from key %s", r.unit,
           pe_table_name(r.table), r.state.key ? r.state.key : "(start)");
    if (r.progress) {
        unit_count(&r, err);
        counted = true;
    }
    if (store != NULL && !replay && pe_sink_delivers(r.sink))
        r.saver = pe_ckpt_saver_start(store, sc->name, r.shard, r.nshards,
                                      o->cfg->state.save_interval_ms);
    if (pe_sink_delivers(r.sink) && o->cfg->sink.max_in_flight > 1)
        r.fl = window_open(&r);
    st = pump(&r, err);
    if (pe_sink_delivers(r.sink))
        r.stats.window = r.fl != NULL ? pe_inflight_window(r.fl) : 1;
    pe_inflight_free(r.fl); /* pump drained it */
    r.fl = NULL;
    if (r.progress)
        pe_progress_window(&r.shown, 0);
    if (r.saver != NULL)
        st = unit_finish_saver(&r, st, err);
    draw_progress(&r);
    {
        struct pe_summary sum = {r.unit,
                                 r.topic,
                                 r.replay,
                                 !pe_sink_delivers(r.sink),
                                 o->quiet,
                                 r.stats,
                                 r.state.key};

        pe_summary_log(&sum, (double)(pe_now_mono_ms() - t0) / 1000.0);
    }
out:
    if (r.progress && !counted)
        pe_progress_total(0, false);
    if (st != PE_OK && st != PE_ERR_INTERRUPTED)
        pe_error_prefix(err, "stream %s", r.unit);
    unit_cleanup(&r, report);
    return st;
}
