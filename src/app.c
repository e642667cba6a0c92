/* SPDX-License-Identifier: MIT
 * app.c - the pipeline loop of each command; the only module that logs. */
#include "app.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
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
#include "encode.h"
#include "jsonarena.h"
#include "log.h"
#include "metrics.h"
#include "sink.h"
#include "source_pg.h"

/* Set by SIGINT/SIGTERM: 1 = stop after the request in flight, 2 = now. */
static volatile sig_atomic_t stop_requested;

/* The flags are read by every sender thread, and the handler may run in
 * any of them: lock-free atomics (async-signal-safe) on both sides. */
static void on_stop_signal(int sig)
{
    int level = __atomic_load_n(&stop_requested, __ATOMIC_RELAXED);

    (void)sig;
    /* Two signals at once in two threads both count. */
    while (level < 2 &&
           !__atomic_compare_exchange_n(&stop_requested, &level, level + 1,
                                        false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
}

static int stop_level(void)
{
    return __atomic_load_n(&stop_requested, __ATOMIC_RELAXED);
}

/* Set when a unit's failure ends the whole run (a run limit): the units
 * being sent beside it stop too, as for a signal. */
static int halted;

static bool stopping(void)
{
    return stop_level() || __atomic_load_n(&halted, __ATOMIC_RELAXED);
}

/* Set by SIGHUP in follow mode: reopen the log, re-read the config. */
static volatile sig_atomic_t hup_requested;

static void on_hup(int sig)
{
    (void)sig;
    __atomic_store_n(&hup_requested, 1, __ATOMIC_RELAXED);
}

static int hup_pending(void)
{
    return __atomic_load_n(&hup_requested, __ATOMIC_RELAXED);
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

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
    long long shown_done, shown_retries; /* already counted there */
    struct pe_send_stats stats;
};

static bool selected(const struct pe_app_opts *o, const char *name)
{
    if (o->n_streams == 0)
        return true;
    for (size_t i = 0; i < o->n_streams; i++)
        if (strcmp(o->streams[i], name) == 0)
            return true;
    return false;
}

/* Rejects --stream names the config does not define. */
static enum pe_status check_selection(const struct pe_app_opts *o,
                                      struct pe_error *err)
{
    for (size_t i = 0; i < o->n_streams; i++)
        if (pe_config_stream(o->cfg, o->streams[i]) == NULL)
            return pe_error_set(err, PE_ERR_USAGE, false,
                                "--stream %s: no such stream in %s",
                                o->streams[i], o->cfg->path);
    return PE_OK;
}

/* --rate: a token bucket shared by every stream, one second deep. */
static struct {
    pthread_mutex_t mu; /* tokens and last_ms, taken by senders at once */
    double rate;        /* rows per second; 0 = no limit */
    double tokens;
    int64_t last_ms;
} bucket = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void rate_init(double rate)
{
    bucket.rate = rate;
    bucket.tokens = 0;
    bucket.last_ms = pe_now_mono_ms();
}

static enum pe_status rate_take(const struct pe_deliver_env *env, size_t n,
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
            /* (A batch is never larger than the bucket; see run_stream.) */
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

/* The progress line on a terminal: one for all the units of a pass,
 * their rows summed, redrawn at most 4 times a second: rows sent of rows
 * to send, rate, ETA, retries.  Senders running at once share it. */
static struct {
    pthread_mutex_t mu;
    bool on;
    char label[64]; /* the unit's name, or "3 streams" */
    int64_t t0_ms, drawn_ms;
    long long done, retries;
    int64_t total; /* rows the units started so far have to send; -1
                    * when one of them could not count */
    size_t counting; /* first units yet to count: no line before */
    bool shown;      /* an unfinished line is on the screen */
} meter = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* expect: the units that start at once (their totals come first). */
static void meter_start(bool on, const char *label, size_t expect)
{
    pthread_mutex_lock(&meter.mu);
    meter.on = on;
    meter.counting = expect;
    snprintf(meter.label, sizeof(meter.label), "%s", label);
    meter.t0_ms = pe_now_mono_ms();
    meter.drawn_ms = 0;
    meter.done = meter.retries = 0;
    meter.total = 0;
    meter.shown = false;
    pthread_mutex_unlock(&meter.mu);
}

/* Draws the line; meter.mu is held. */
static void meter_draw(bool last)
{
    int64_t now = pe_now_mono_ms();
    double secs = (double)(now - meter.t0_ms) / 1000.0;
    long long done = meter.done;
    double rate = secs > 0 ? (double)done / secs : 0;
    char bar[21], eta[32] = "";
    struct pe_buf line;
    int fill = 0;

    meter.drawn_ms = now;
    if (meter.total > 0) {
        fill = (int)(20 * (done < meter.total ? done : meter.total) /
                     meter.total);
        if (rate > 0 && done < meter.total)
            snprintf(eta, sizeof(eta), ", ETA %.0f s",
                     (double)(meter.total - done) / rate);
    }
    for (int i = 0; i < 20; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[20] = '\0';
    pe_buf_init(&line, 0);
    if (meter.total >= 0)
        pe_buf_printf(&line, "\r\033[K%s [%s] %lld/%lld rows, %.0f rows/s%s, "
                             "%lld retries%s",
                      meter.label, bar, done, (long long)meter.total, rate,
                      eta, meter.retries, last ? "\n" : "");
    else
        pe_buf_printf(&line, "\r\033[K%s %lld rows, %.0f rows/s, %lld "
                             "retries%s",
                      meter.label, done, rate, meter.retries,
                      last ? "\n" : "");
    pe_log_raw(line.data, line.len);
    pe_buf_cleanup(&line);
    meter.shown = !last;
}

/* Adds a unit's rows to send (-1: it could not count them; 0 and
 * counted false: it ended before it could count). */
static void meter_total(int64_t n, bool counted)
{
    pthread_mutex_lock(&meter.mu);
    if (meter.total >= 0 && counted)
        meter.total = n < 0 ? -1 : meter.total + n;
    if (meter.counting > 0)
        meter.counting--;
    pthread_mutex_unlock(&meter.mu);
}

/* Counts what r did since it last reported, and redraws if it is time. */
static void draw_progress(struct stream_run *r)
{
    long long done = r->stats.records + r->stats.dead;

    if (!r->progress)
        return;
    pthread_mutex_lock(&meter.mu);
    meter.done += done - r->shown_done;
    meter.retries += r->stats.retries - r->shown_retries;
    r->shown_done = done;
    r->shown_retries = r->stats.retries;
    if (meter.on && meter.counting == 0 &&
        pe_now_mono_ms() - meter.drawn_ms >= 250)
        meter_draw(false);
    pthread_mutex_unlock(&meter.mu);
}

/* The pass is over: the final line, ending in a newline. */
static void meter_finish(void)
{
    pthread_mutex_lock(&meter.mu);
    if (meter.on)
        meter_draw(true);
    meter.on = false;
    pthread_mutex_unlock(&meter.mu);
}

/* Writes a whole line without tearing the progress line: it is cleared
 * first, and drawn again below at the next update. */
static void meter_print(const char *text, size_t len)
{
    pthread_mutex_lock(&meter.mu);
    if (meter.shown)
        pe_log_raw("\r\033[K", 4);
    meter.shown = false;
    pe_log_raw(text, len);
    pthread_mutex_unlock(&meter.mu);
}

/* Adds xid (if >= floor; below it all is settled) to a sorted set. */
static void add_xid(int64_t **set, size_t *n, int64_t floor, int64_t xid)
{
    size_t lo = 0, hi = *n;

    if (xid < floor)
        return;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if ((*set)[mid] < xid)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < *n && (*set)[lo] == xid)
        return;
    *set = pe_xrealloc(*set, (*n + 1) * sizeof(**set));
    memmove(*set + lo + 1, *set + lo, (*n - lo) * sizeof(int64_t));
    (*set)[lo] = xid;
    (*n)++;
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
    struct pe_ckpt_state *c = &r->state;

    draw_progress(r);
    if (r->replay)
        return PE_OK; /* a replay moves no checkpoint */
    if (r->late_phase) {
        /* A late transaction may have more rows further up the range:
         * it counts as sent only up to this key, until the late scan is
         * over (settle). */
        for (size_t i = 0; i < n; i++)
            add_xid(&c->late_sent, &c->n_late_sent, c->floor, xids[i]);
        free(c->late_key);
        c->late_key = pe_xstrdup(key);
    } else {
        if (r->tracked)
            for (size_t i = 0; i < n; i++)
                add_xid(&c->sent, &c->n_sent, c->floor, xids[i]);
        free(c->key);
        c->key = pe_xstrdup(key);
    }
    if (!pe_sink_delivers(r->sink))
        return PE_OK;
    return save_state(r, err);
}

/* Sends the batch (or prints it in dry-run), then moves the checkpoint. */
static enum pe_status flush(struct stream_run *r, struct pe_error *err)
{
    const char *last;
    enum pe_status st;

    if (r->batch.n == 0)
        return PE_OK;
    last = pe_batch_key(&r->batch, r->batch.n - 1);
    if (pe_sink_delivers(r->sink) &&
        (st = rate_take(r->env, r->batch.n, err)) != PE_OK)
        return st;
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

    if ((st = flush(r, err)) != PE_OK)
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
        if (stopping())
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

/* What run, replay and check open for a stream: the table (its key
 * unique, every type encodable, no view unless ordered_writer when
 * tracked) and the message_key column in *key_col (-1: none). */
static struct pe_table *open_stream_table(struct pe_source *src,
                                          const struct pe_stream_config *sc,
                                          bool tracked, long shard,
                                          long nshards, long *key_col,
                                          struct pe_error *err)
{
    struct pe_table_spec spec = {sc->table,  sc->key, sc->unique_key,
                                 tracked,    shard,   nshards};
    struct pe_table *t = pe_table_open_stream(src, &spec, err);

    *key_col = -1;
    if (t == NULL || sc->message_key == NULL)
        return t;
    if ((*key_col = pe_table_column(t, sc->message_key)) < 0) {
        pe_error_set(err, PE_ERR_CONFIG, false,
                     "message_key: column \"%s\" does not exist in %s",
                     sc->message_key, pe_table_name(t));
        pe_table_free(t);
        return NULL;
    }
    return t;
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
        r->table = open_stream_table(r->src, r->sc, r->tracked, r->shard,
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
    while (st == PE_OK && more && !stopping()) {
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
    if (st == PE_OK && !stopping())
        st = flush(r, err);
    if (st == PE_OK && stopping())
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
        int64_t x = r->snap.xip[i];

        if (x >= *floor)
            continue;
        if (pe_source_xact_info(r->src, x, &info, err) != PE_OK)
            return err->status;
        if (info.other_database)
            continue;
        if (info.age_s > (double)max_age) {
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
    struct pe_ckpt_state *c = &r->state;
    int64_t floor;
    size_t keep = 0, first = 0;
    enum pe_status st;

    if ((st = new_floor(r, &floor, err)) != PE_OK)
        return st;
    /* The late scan is over: its transactions' rows are all sent. */
    for (size_t i = 0; i < c->n_late_sent; i++)
        add_xid(&c->sent, &c->n_sent, c->floor, c->late_sent[i]);
    free(c->late_sent);
    c->late_sent = NULL;
    c->n_late_sent = 0;
    free(c->late_key);
    c->late_key = NULL;
    /* This run's entry: transactions that get an id from now on took
     * their keys after the previous run's snapshot, so above the key this
     * run starts from (one run of margin: a key is taken a moment before
     * the inserting transaction gets its id). */
    c->history = pe_xrealloc(c->history,
                             (c->n_history + 1) * sizeof(*c->history));
    c->history[c->n_history].xmax = r->snap.xmax;
    c->history[c->n_history].key = c->key ? pe_xstrdup(c->key) : NULL;
    c->n_history++;
    /* Only the newest entry at or below the floor still matters. */
    while (first + 1 < c->n_history && c->history[first + 1].xmax <= floor)
        first++;
    for (size_t i = 0; i < first; i++)
        free(c->history[i].key);
    memmove(c->history, c->history + first,
            (c->n_history - first) * sizeof(*c->history));
    c->n_history -= first;
    free(c->low);
    c->low = c->history[0].xmax <= floor && c->history[0].key
                 ? pe_xstrdup(c->history[0].key)
                 : NULL;
    for (size_t i = 0; i < c->n_sent; i++)
        if (c->sent[i] >= floor)
            c->sent[keep++] = c->sent[i];
    c->n_sent = keep;
    c->floor = floor;
    c->tracked = true;
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

/* The word for n things: "1 row", "2 rows", "0 rows". */
static const char *plural(long long n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* The end-of-stream summary: on a terminal or with -v, never otherwise
 * (a cron run that succeeds stays silent); one JSON object per line with
 * --log-format json. */
static void log_summary(const struct stream_run *r, double secs)
{
    bool want = pe_log_level() >= PE_LOG_INFO ||
                (pe_log_is_tty() && !r->o->quiet);
    double rate = secs > 0 ? (double)r->stats.records / secs : 0.0;
    struct pe_buf b;

    if (!want)
        return;
    pe_buf_init(&b, 0);
    if (pe_log_format() == PE_LOG_JSON) {
        pe_log_json_open(&b, PE_LOG_INFO);
        pe_buf_puts(&b, ",\"event\":\"summary\",\"command\":");
        pe_buf_json_string(&b, r->replay ? "replay" : "run");
        pe_buf_puts(&b, ",\"stream\":");
        pe_buf_json_string(&b, r->unit);
        pe_buf_puts(&b, ",\"topic\":");
        pe_buf_json_string(&b, r->topic);
        pe_buf_printf(&b,
                      ",\"dry_run\":%s,\"rows\":%lld,\"requests\":%lld,"
                      "\"bytes\":%lld,\"retries\":%lld,\"dead_letters\":%lld,"
                      "\"elapsed_s\":%.3f,\"rows_per_s\":%.1f,\"checkpoint\":",
                      pe_sink_delivers(r->sink) ? "false" : "true",
                      r->stats.records,
                      r->stats.requests, r->stats.bytes, r->stats.retries,
                      r->stats.dead, secs, rate);
        if (r->state.key != NULL && !r->replay)
            pe_buf_json_string(&b, r->state.key);
        else
            pe_buf_puts(&b, "null");
        pe_buf_puts(&b, "}\n");
    } else {
        const struct pe_send_stats *t = &r->stats;

        pe_buf_printf(&b,
                      "pinemit: stream %s: %s %lld %s in %lld %s (%lld %s) "
                      "to topic %s; %lld %s; %lld %s; checkpoint %s; %.2f s, "
                      "%.0f rows/s\n",
                      r->unit,
                      !pe_sink_delivers(r->sink) ? "would send"
                      : r->replay                ? "replayed"
                                                 : "sent",
                      t->records, plural(t->records, "row", "rows"),
                      t->requests, plural(t->requests, "request", "requests"),
                      t->bytes, plural(t->bytes, "byte", "bytes"), r->topic,
                      t->retries, plural(t->retries, "retry", "retries"),
                      t->dead, plural(t->dead, "dead letter", "dead letters"),
                      r->replay        ? "(unchanged)"
                      : r->state.key   ? r->state.key
                                       : "(none)",
                      secs, rate);
    }
    meter_print(b.data, b.len);
    pe_buf_cleanup(&b);
}

/* Every key the checkpoint holds must read as the key's type; one that
 * does not (the file edited by hand, the key column changed) is a damaged
 * checkpoint, named as the store names it. */
static enum pe_status ckpt_keys_fit(struct stream_run *r, struct pe_error *err)
{
    const struct pe_ckpt_state *c = &r->state;
    const struct pe_config *cfg = r->o->cfg;
    const char *fixed[3] = {c->key, c->low, c->late_key};
    size_t n = 3 + c->n_history;
    char where[512], why[sizeof(err->msg)];
    int cmp;

    for (size_t i = 0; i < n; i++) {
        const char *k = i < 3 ? fixed[i] : c->history[i - 3].key;
        enum pe_status st;

        if (k == NULL ||
            (st = pe_table_key_compare(r->table, k, NULL, &cmp, err)) ==
                PE_OK)
            continue;
        if (st != PE_ERR_DATA)
            return st;
        if (cfg->state.database)
            snprintf(where, sizeof(where), "%s (stream %s, shard %ld)",
                     cfg->state.table, r->sc->name, r->shard);
        else if (r->nshards > 1)
            snprintf(where, sizeof(where), "%s/%s.%ld.checkpoint",
                     cfg->state.dir, r->sc->name, r->shard);
        else
            snprintf(where, sizeof(where), "%s/%s.checkpoint",
                     cfg->state.dir, r->sc->name);
        snprintf(why, sizeof(why), "%s", err->msg);
        return pe_error_set(err, PE_ERR_CONFIG, false,
                            "%s: damaged checkpoint (key \"%s\" is not a "
                            "valid %s: %s); fix or remove it by hand",
                            where, k, pe_table_key_type(r->table), why);
    }
    return PE_OK;
}

/* What a stream's run leaves for the metrics file. */
struct stream_report {
    struct pe_send_stats stats;
    char *checkpoint; /* owned */
};

static enum pe_status run_stream(const struct pe_app_opts *o,
                                 const struct pe_deliver_env *env,
                                 const struct pe_stream_config *sc, long shard,
                                 bool owned, struct pe_source *src,
                                 struct pe_ckpt_store *store, bool replay,
                                 struct stream_report *report,
                                 struct pe_error *err)
{
    struct stream_run r;
    int64_t t0 = pe_now_mono_ms();
    long db_attempts = 0;
    bool counted = false; /* toward the progress line's total */
    enum pe_status st;

    memset(&r, 0, sizeof(r));
    r.sc = sc;
    r.o = o;
    r.env = env;
    r.src = src;
    r.store = store;
    r.replay = replay;
    r.tracked = !sc->ordered_writer && !replay;
    r.shard = replay ? 0 : shard;
    r.nshards = replay ? 1 : sc->shards;
    r.owned = owned;
    if (r.nshards > 1)
        snprintf(r.unit, sizeof(r.unit), "%s#%ld", sc->name, r.shard);
    else
        snprintf(r.unit, sizeof(r.unit), "%s", sc->name);
    r.topic = replay && o->topic ? o->topic : sc->topic;
    r.progress = meter.on;
    {
        /* With --rate, a batch holds about a second of rows, so rows go
         * out at the pace asked for rather than in bursts. */
        long max = o->cfg->batch.max_records;

        if (bucket.rate > 0 && bucket.rate < (double)max)
            max = bucket.rate < 1 ? 1 : (long)bucket.rate;
        pe_batch_init(&r.batch, (size_t)max, (size_t)o->cfg->batch.max_bytes);
        r.batch_xids = pe_xcalloc((size_t)max, sizeof(int64_t));
    }
    pe_buf_init(&r.rec, 0);
    if (store != NULL && !replay &&
        (st = pe_ckpt_load_shard(store, sc->name, r.shard, r.nshards,
                                 &r.state, err)) != PE_OK)
        goto out;
    r.table = open_stream_table(src, sc, r.tracked, r.shard, r.nshards,
                                &r.key_col, err);
    if (r.table == NULL && (st = recover_db(&r, &db_attempts, err)) != PE_OK)
        goto out;
    if (!replay && (st = ckpt_keys_fit(&r, err)) != PE_OK)
        goto out;
    r.sink = pe_sink_open(o->cfg, o->dry_run, &stop_requested, err);
    if (r.sink == NULL) {
        st = err->status;
        goto out;
    }
    pe_sink_frame(r.sink, &r.batch, r.topic);
    pe_log(PE_LOG_DEBUG, "stream %s: %s from key %s", r.unit,
           pe_table_name(r.table), r.state.key ? r.state.key : "(start)");
    if (r.progress) {
        /* An exact count: an index-only range scan on the key. */
        int64_t total = -1;

        if ((replay ? pe_table_count_range(r.table, o->from_key, o->to_key,
                                           &total, err)
                    : pe_table_count(r.table, r.state.key, &total, err)) !=
            PE_OK)
            total = -1;
        if (o->limit > 0 && total > o->limit)
            total = o->limit;
        meter_total(total, true);
        counted = true;
    }
    if (store != NULL && !replay && pe_sink_delivers(r.sink))
        r.saver = pe_ckpt_saver_start(store, sc->name, r.shard, r.nshards);
    st = pump(&r, err);
    if (r.saver != NULL) {
        /* Every state handed over is durable before the unit ends. */
        struct pe_error e;
        enum pe_status saved = pe_ckpt_saver_finish(r.saver, &e);

        r.saver = NULL;
        if (saved != PE_OK && (st == PE_OK || st == PE_ERR_INTERRUPTED)) {
            st = saved;
            *err = e;
        } else if (saved != PE_OK) {
            /* The unit failed anyway; say that its checkpoint lags too. */
            pe_log(PE_LOG_WARN, "stream %s: the last checkpoint was not "
                                "saved: %s",
                   r.unit, e.msg);
        }
    }
    draw_progress(&r);
    log_summary(&r, (double)(pe_now_mono_ms() - t0) / 1000.0);
out:
    if (r.progress && !counted)
        meter_total(0, false);
    if (st != PE_OK && st != PE_ERR_INTERRUPTED)
        pe_error_prefix(err, "stream %s", r.unit);
    /* The unit's own figures; its sender adds them to the stream's. */
    report->stats = r.stats;
    report->checkpoint = r.nshards == 1 && r.state.key != NULL
                             ? pe_xstrdup(r.state.key)
                             : NULL;
    pe_sink_close(r.sink);
    pe_table_free(r.table);
    pe_batch_cleanup(&r.batch);
    free(r.batch_xids);
    pe_buf_cleanup(&r.rec);
    pe_ckpt_state_cleanup(&r.state);
    return st;
}

static void env_init(struct pe_deliver_env *env, const struct pe_config *c,
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
    env->stop = &stop_requested;
}

/* The run's final word: failures first, then dead letters, then a stop. */
static enum pe_status finish(enum pe_status worst, size_t failed,
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
    if (stop_level())
        pe_log(PE_LOG_WARN, "stopped by a signal; checkpoints hold what the "
                            "proxy acknowledged%s",
               stop_level() > 1 ? " (the request in flight was abandoned "
                                    "and will be sent again)"
                                  : "");
    if (failed > 0) {
        if (dead > 0)
            pe_log(PE_LOG_WARN, "%zu %s dead-lettered to %s", dead,
                   plural((long long)dead, "record was", "records were"),
                   pe_dlq_path(dlq));
        pe_error_set(err, worst, false, "%s", ""); /* reported above */
        return worst;
    }
    if (dead > 0)
        return pe_error_set(err, PE_DEAD_LETTERED, false,
                            "%zu %s dead-lettered to %s", dead,
                            plural((long long)dead, "record was",
                                   "records were"),
                            pe_dlq_path(dlq));
    return stop_level() ? PE_ERR_INTERRUPTED : PE_OK;
}

/* Config errors outrank runtime ones in the exit code. */
static enum pe_status worse(enum pe_status a, enum pe_status b)
{
    if (a == PE_ERR_CONFIG || b == PE_ERR_CONFIG)
        return PE_ERR_CONFIG;
    return a != PE_OK ? a : b;
}

/* The checkpoint store the config names. */
static struct pe_ckpt_store *open_store(const struct pe_config *c, bool create,
                                        struct pe_error *err)
{
    if (c->state.database)
        return pe_ckpt_open_db(c->source.conninfo, c->source.connect_timeout_s,
                               c->state.table, create, err);
    return pe_ckpt_open(c->state.dir, create, err);
}

/* init: make the checkpoint store (the state directory, or the table). */
enum pe_status pe_app_init(const struct pe_app_opts *o, struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    struct pe_ckpt_store *store = open_store(c, true, err);

    if (store == NULL)
        return err->status;
    pe_ckpt_close(store);
    printf("%s: ready\n", c->state.database ? c->state.table : c->state.dir);
    return PE_OK;
}

/* Writes the metrics file for one run (or one poll of --follow). */
static void write_metrics(const struct pe_app_opts *o, double start_s,
                          enum pe_status st, struct stream_report *reports)
{
    const struct pe_config *c = o->cfg;
    const char *path = o->metrics_file ? o->metrics_file : c->metrics.file;
    struct pe_metrics_stream *ms;
    struct pe_metrics_run run;
    struct pe_error e;
    size_t n = 0;

    if (path == NULL || o->dry_run)
        return;
    ms = pe_xcalloc(c->n_streams, sizeof(*ms));
    for (size_t i = 0; i < c->n_streams; i++) {
        if (!selected(o, c->streams[i].name))
            continue;
        ms[n].name = c->streams[i].name;
        ms[n].topic = c->streams[i].topic;
        ms[n].checkpoint = reports[i].checkpoint;
        ms[n].rows = reports[i].stats.records;
        ms[n].requests = reports[i].stats.requests;
        ms[n].bytes = reports[i].stats.bytes;
        ms[n].retries = reports[i].stats.retries;
        ms[n].dead_letters = reports[i].stats.dead;
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

/* The (stream, shard) units of a run, and which this instance owns. */
struct units {
    size_t n;
    size_t *stream; /* index into cfg->streams */
    long *shard;
    bool *owned;
};

/* A replay takes each stream whole: one unit per stream. */
static void units_build(const struct pe_app_opts *o, bool replay,
                        struct units *u)
{
    const struct pe_config *c = o->cfg;
    size_t n = 0;

    memset(u, 0, sizeof(*u));
    for (size_t i = 0; i < c->n_streams; i++)
        if (selected(o, c->streams[i].name))
            n += replay ? 1 : (size_t)c->streams[i].shards;
    u->stream = pe_xcalloc(n, sizeof(*u->stream));
    u->shard = pe_xcalloc(n, sizeof(*u->shard));
    u->owned = pe_xcalloc(n, sizeof(*u->owned));
    for (size_t i = 0; i < c->n_streams; i++) {
        if (!selected(o, c->streams[i].name))
            continue;
        for (long s = 0; s < (replay ? 1 : c->streams[i].shards); s++) {
            u->stream[u->n] = i;
            u->shard[u->n] = s;
            u->n++;
        }
    }
}

/* Gives up every unit (their locks too) and frees the list. */
static void units_free(const struct pe_config *c, struct pe_source *src,
                       struct units *u)
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
static enum pe_status claim(const struct pe_app_opts *o, struct pe_source *src,
                            struct units *u, struct pe_error *err)
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

/* The senders of a run: up to `jobs` units at once, each sender with a
 * database connection of its own.  src[0] is the run's connection (the one
 * holding the advisory locks of the database store); the others are opened
 * by their sender when first needed and kept for the next poll. */
struct senders {
    size_t jobs;
    struct pe_source_opts so;
    struct pe_source *src[PE_MAX_JOBS];
};

/* How many units go at once.  A dry run prints its bodies in order, one
 * sender; so does the database store, whose advisory locks belong to the
 * run's one connection. */
static size_t jobs_for(const struct pe_app_opts *o, size_t units, bool shared)
{
    long j = o->jobs > 0 ? o->jobs : o->cfg->run.jobs;

    if (o->dry_run || shared)
        return 1;
    if (j <= 0)
        j = 4;
    if ((size_t)j > units)
        j = (long)units;
    return j < 1 ? 1 : (size_t)j;
}

static void senders_close(struct senders *s)
{
    for (size_t i = 1; i < PE_MAX_JOBS; i++) {
        pe_source_free(s->src[i]);
        s->src[i] = NULL;
    }
}

/* One pass over the units, shared by its senders.  mu guards next,
 * failed, worst, the reports and u->owned. */
struct pass {
    const struct pe_app_opts *o;
    const struct pe_deliver_env *env;
    struct pe_ckpt_store *store;
    struct units *u;
    bool shared, replay;
    struct stream_report *reports; /* one per configured stream */
    struct senders *senders;
    pthread_mutex_t mu;
    size_t next, failed;
    enum pe_status worst;
};

static void pass_begin(struct pass *p, const struct pe_app_opts *o,
                       const struct pe_deliver_env *env,
                       struct pe_ckpt_store *store, struct units *u,
                       struct senders *senders, bool shared, bool replay)
{
    memset(p, 0, sizeof(*p));
    p->o = o;
    p->env = env;
    p->store = store;
    p->u = u;
    p->shared = shared;
    p->replay = replay;
    p->reports = pe_xcalloc(o->cfg->n_streams, sizeof(*p->reports));
    p->senders = senders;
    pthread_mutex_init(&p->mu, NULL);
    senders->jobs = jobs_for(o, u->n, shared);
}

static void pass_end(struct pass *p)
{
    for (size_t i = 0; i < p->o->cfg->n_streams; i++)
        free(p->reports[i].checkpoint);
    free(p->reports);
    pthread_mutex_destroy(&p->mu);
}

struct sender {
    struct pass *p;
    size_t k; /* its connection: p->senders->src[k] */
    pthread_t thread;
};

/* The next unit this instance sends, or false when none is left. */
static bool next_unit(struct pass *p, size_t *unit)
{
    bool got = false;

    pthread_mutex_lock(&p->mu);
    while (!stopping() && p->next < p->u->n && !got) {
        *unit = p->next++;
        got = !p->shared || p->u->owned[*unit]; /* else another's */
    }
    pthread_mutex_unlock(&p->mu);
    return got;
}

/* What a unit's run came to, under p->mu. */
static void unit_done(struct pass *p, size_t i, enum pe_status st,
                      struct stream_report *rep, const struct pe_error *e)
{
    struct stream_report *to = &p->reports[p->u->stream[i]];

    /* Shards of a stream add up in its report. */
    to->stats.records += rep->stats.records;
    to->stats.requests += rep->stats.requests;
    to->stats.bytes += rep->stats.bytes;
    to->stats.retries += rep->stats.retries;
    to->stats.dead += rep->stats.dead;
    if (rep->checkpoint != NULL) {
        free(to->checkpoint);
        to->checkpoint = rep->checkpoint;
        rep->checkpoint = NULL;
    }
    if (st == PE_OK || st == PE_ERR_INTERRUPTED)
        return;
    if (st == PE_ERR_ABORTED && __atomic_load_n(&halted, __ATOMIC_RELAXED))
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
    p->worst = worse(p->worst, st);
    if (st == PE_ERR_ABORTED) /* a limit of the whole run */
        __atomic_store_n(&halted, 1, __ATOMIC_RELAXED);
}

static void *send_units(void *arg)
{
    struct sender *w = arg;
    struct pass *p = w->p;
    struct pe_source **src = &p->senders->src[w->k];
    size_t i = 0;

    if (*src == NULL) {
        struct pe_error e;

        pe_error_clear(&e);
        if ((*src = pe_source_open(&p->senders->so, &e)) == NULL) {
            /* The others take its share; the run's own sender is there.
             * The progress line need not wait for a unit it won't count. */
            pe_log(PE_LOG_WARN, "sender %zu: %s", w->k + 1, e.msg);
            meter_total(0, false);
            return NULL;
        }
    }
    while (next_unit(p, &i)) {
        const struct pe_config *c = p->o->cfg;
        struct stream_report rep;
        struct pe_error e;
        enum pe_status st;

        pe_error_clear(&e);
        st = run_stream(p->o, p->env, &c->streams[p->u->stream[i]],
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

/* "pin", or "pin#2" for a shard (as run_stream names it). */
static void unit_name(const struct pass *p, size_t i, char *buf, size_t n)
{
    const struct pe_stream_config *sc = &p->o->cfg->streams[p->u->stream[i]];

    if (sc->shards > 1 && !p->replay)
        snprintf(buf, n, "%s#%ld", sc->name, p->u->shard[i]);
    else
        snprintf(buf, n, "%s", sc->name);
}

/* Sends the units with up to s->jobs senders; this thread is the first. */
static void send_all(struct pass *p)
{
    struct senders *s = p->senders;
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
    meter_start(pe_log_is_tty() && !p->o->quiet && !p->o->dry_run &&
                    pe_log_format() == PE_LOG_TEXT && n > 0,
                label, n < s->jobs ? n : s->jobs);
    __atomic_store_n(&halted, 0, __ATOMIC_RELAXED);
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
        meter_total(0, false); /* senders that did not start count nothing */
    send_units(&w[0]);
    for (size_t k = 1; k < started; k++)
        pthread_join(w[k].thread, NULL);
    meter_finish();
}

/* Every selected unit once: a run, or one poll of --follow. */
static enum pe_status one_pass(const struct pe_app_opts *o,
                               const struct pe_deliver_env *env,
                               struct senders *senders,
                               struct pe_ckpt_store *store, struct units *u,
                               struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    struct pe_source *src = senders->src[0];
    double start_s = (double)pe_now_wall_ms() / 1000.0;
    size_t dead_before = pe_dlq_count(env->dlq);
    struct pass p;
    enum pe_status st = PE_OK;

    pass_begin(&p, o, env, store, u, senders,
               c->state.database && !o->dry_run, false);
    if (p.shared && o->jobs > 1)
        pe_log(PE_LOG_INFO, "--jobs %ld: with state.store = \"database\" "
                            "one sender sends the units one after another",
               o->jobs);
    if (p.shared && (st = claim(o, src, u, err)) == PE_ERR_DB &&
        err->retriable && pe_source_reset(src, err) == PE_OK) {
        /* A new session holds no lock: claim again from scratch. */
        memset(u->owned, 0, u->n * sizeof(*u->owned));
        st = claim(o, src, u, err);
    }
    if (st != PE_OK) {
        /* Without knowing what is ours, send nothing this time. */
        pe_log(PE_LOG_ERROR, "%s", err->msg);
        p.failed++;
        p.worst = st;
    } else {
        send_all(&p);
    }
    st = finish(p.worst, p.failed, env->dlq, dead_before, err);
    write_metrics(o, start_s, st, p.reports);
    pass_end(&p);
    return st;
}

/* Between polls: sleep, waking at once for a stop, or for SIGHUP. */
static void follow_sleep(long seconds)
{
    int64_t until = pe_now_mono_ms() + seconds * 1000;

    while (!stop_level() && !hup_pending() && pe_now_mono_ms() < until) {
        struct timespec ts = {0, 50 * 1000000L};

        nanosleep(&ts, NULL);
    }
}

/* SIGHUP: reopen the log file and re-read the config.  A config that
 * does not load, or moves state.dir, is refused and the old one kept. */
static void reload(const char *path, const struct pe_config **live,
                   struct pe_config **owned,
                   struct pe_config **retired)
{
    struct pe_config *next = pe_xcalloc(1, sizeof(*next));
    struct pe_error e;

    __atomic_store_n(&hup_requested, 0, __ATOMIC_RELAXED);
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
    if (strcmp(next->state.dir, (*live)->state.dir) != 0 ||
        strcmp(next->source.conninfo, (*live)->source.conninfo) != 0) {
        pe_log(PE_LOG_ERROR, "SIGHUP: %s: state.dir and source.conninfo "
                             "cannot change while running; restart "
                             "pinemit; keeping the running config",
               path);
        pe_config_cleanup(next);
        free(next);
        return;
    }
    *retired = *owned; /* the caller frees it once done with it */
    *owned = next;
    *live = next;
    pe_log(PE_LOG_INFO, "SIGHUP: configuration re-read from %s", path);
}

enum pe_status pe_app_run(const struct pe_app_opts *o, struct pe_error *err)
{
    struct pe_app_opts cur = *o;
    const struct pe_config *c = o->cfg;
    struct pe_config *owned = NULL; /* a config re-read on SIGHUP */
    struct pe_source_opts so = {c->source.conninfo,
                                c->source.connect_timeout_s};
    struct pe_ckpt_store *store = NULL;
    struct pe_source *src = NULL;
    struct senders senders;
    struct pe_dlq *dlq = NULL;
    struct pe_deliver_env env;
    struct units units;
    size_t rejected = 0;
    enum pe_status st;

    memset(&units, 0, sizeof(units));
    memset(&senders, 0, sizeof(senders));
    senders.so = so;
    if ((st = check_selection(o, err)) != PE_OK)
        return st;
    install_signals();
    rate_init(o->rate);
    /* A dry run reads checkpoints if it can but never writes or locks. */
    store = open_store(c, !o->dry_run, err);
    if (store == NULL && !o->dry_run)
        return err->status;
    if (store != NULL && !o->dry_run &&
        (st = pe_ckpt_lock(store, o->wait_lock_s * 1000, &stop_requested,
                           err)) != PE_OK)
        goto out;
    if (c->sink.insecure && !o->dry_run)
        pe_log(PE_LOG_WARN, "sink.insecure = true: the proxy's TLS "
                            "certificate is not verified");
    src = pe_source_open(&so, err);
    if (src == NULL) {
        st = err->status;
        goto out;
    }
    senders.src[0] = src;
    units_build(&cur, false, &units);
    for (;;) {
        dlq = pe_dlq_new(cur.cfg->dead_letter.path);
        env_init(&env, cur.cfg, dlq, &rejected);
        st = one_pass(&cur, &env, &senders, store, &units, err);
        pe_dlq_free(dlq);
        dlq = NULL;
        if (!o->follow || stop_level() || st == PE_ERR_ABORTED ||
            st == PE_ERR_CONFIG)
            break;
        /* A daemon keeps going after a failed poll; it was reported. */
        rejected = 0;
        follow_sleep(o->interval_s);
        if (hup_pending()) {
            const struct pe_config *before = cur.cfg;
            struct pe_config *retired = NULL; /* `before`, if re-read */

            reload(c->path, &cur.cfg, &owned, &retired);
            if (cur.cfg != before) {
                /* Streams may have changed: let go and claim anew. */
                units_free(before, src, &units);
                units_build(&cur, false, &units);
            }
            if (retired != NULL) {
                pe_config_cleanup(retired);
                free(retired);
            }
        }
        if (stop_level()) {
            st = PE_ERR_INTERRUPTED;
            break;
        }
    }
    if (o->follow && st == PE_ERR_INTERRUPTED)
        pe_log(PE_LOG_INFO, "follow: stopped by a signal");
    units_free(cur.cfg, src, &units);
out:
    if (fflush(stdout) != 0 && st == PE_OK)
        st = pe_error_set(err, PE_ERR_IO, false, "stdout: %s",
                          strerror(errno));
    senders_close(&senders);
    pe_source_free(src);
    pe_ckpt_close(store);
    pe_dlq_free(dlq);
    if (owned != NULL) {
        pe_config_cleanup(owned);
        free(owned);
    }
    return st;
}

/* --from/--to as the key's type, one bound at a time (for the message). */
static enum pe_status replay_bound(struct pe_table *t,
                                   const struct pe_stream_config *sc,
                                   const char *opt, const char *value,
                                   struct pe_error *err)
{
    char why[sizeof(err->msg)];
    enum pe_status st;
    int cmp;

    if (value == NULL ||
        (st = pe_table_key_compare(t, value, NULL, &cmp, err)) == PE_OK)
        return PE_OK;
    if (st != PE_ERR_DATA)
        return st;
    snprintf(why, sizeof(why), "%s", err->msg);
    return pe_error_set(err, PE_ERR_USAGE, false,
                        "%s: \"%s\" is not a valid %s, the type of stream "
                        "%s's key \"%s\" (%s)",
                        opt, value, pe_table_key_type(t), sc->name, sc->key,
                        why);
}

/* Before a replay sends anything: each stream's table opens as for a run,
 * its range reads as the key's type and is not empty by construction
 * (--from after --to); on a terminal, one line says what goes where. */
static enum pe_status replay_plan(const struct pe_app_opts *o,
                                  struct pe_source *src, struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    bool tell = pe_log_is_tty() && !o->quiet && pe_log_format() == PE_LOG_TEXT;
    enum pe_status st = PE_OK;

    for (size_t i = 0; i < c->n_streams && st == PE_OK; i++) {
        const struct pe_stream_config *sc = &c->streams[i];
        struct pe_table *t;
        int64_t rows;
        long key_col;
        int cmp = 0;

        if (!selected(o, sc->name))
            continue;
        if ((t = open_stream_table(src, sc, false, 0, 1, &key_col, err)) ==
            NULL) {
            pe_error_prefix(err, "stream %s", sc->name);
            return err->status;
        }
        if ((st = replay_bound(t, sc, "--from", o->from_key, err)) == PE_OK &&
            (st = replay_bound(t, sc, "--to", o->to_key, err)) == PE_OK &&
            o->from_key != NULL && o->to_key != NULL &&
            (st = pe_table_key_compare(t, o->from_key, o->to_key, &cmp,
                                       err)) == PE_OK &&
            cmp > 0)
            st = pe_error_set(err, PE_ERR_USAGE, false,
                              "--from %s is after --to %s (stream %s, key "
                              "\"%s\", %s): the range holds no row",
                              o->from_key, o->to_key, sc->name, sc->key,
                              pe_table_key_type(t));
        if (st == PE_OK && tell) {
            char *line, n[24] = "?";

            if (pe_table_count_range(t, o->from_key, o->to_key, &rows,
                                     err) == PE_OK)
                snprintf(n, sizeof(n), "%lld", (long long)rows);
            line = pe_xasprintf("pinemit: replay: stream %s: keys %s to %s "
                                "(%s rows) to topic %s\n",
                                sc->name,
                                o->from_key ? o->from_key : "(start)",
                                o->to_key ? o->to_key : "(end)", n,
                                o->topic ? o->topic : sc->topic);
            pe_log_raw(line, strlen(line));
            free(line);
        }
        pe_table_free(t);
    }
    return st;
}

/* replay --stream/--from/--to/--topic: a key range, sent again. */
static enum pe_status replay_range(const struct pe_app_opts *o,
                                   struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    struct pe_source_opts so = {c->source.conninfo,
                                c->source.connect_timeout_s};
    struct pe_dlq *dlq = pe_dlq_new(c->dead_letter.path);
    struct senders senders;
    struct pe_deliver_env env;
    struct units units;
    struct pass p;
    size_t rejected = 0;
    enum pe_status st;

    memset(&senders, 0, sizeof(senders));
    memset(&units, 0, sizeof(units));
    senders.so = so;
    env_init(&env, c, dlq, &rejected);
    if ((st = check_selection(o, err)) != PE_OK)
        goto out;
    if (o->topic != NULL && !pe_topic_valid(o->topic)) {
        st = pe_error_set(err, PE_ERR_USAGE, false,
                          "--topic: \"%s\" is not a valid Kafka topic name",
                          o->topic);
        goto out;
    }
    install_signals();
    rate_init(o->rate);
    if ((senders.src[0] = pe_source_open(&so, err)) == NULL) {
        st = err->status;
        goto out;
    }
    if ((st = replay_plan(o, senders.src[0], err)) != PE_OK)
        goto out;
    units_build(o, true, &units);
    pass_begin(&p, o, &env, NULL, &units, &senders, false, true);
    send_all(&p);
    st = finish(p.worst, p.failed, dlq, 0, err);
    pass_end(&p);
out:
    fflush(stdout);
    senders_close(&senders);
    pe_source_free(senders.src[0]);
    units_free(c, NULL, &units);
    pe_dlq_free(dlq);
    return st;
}

/* Same file?  Replaying into the file being read would never end. */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;

    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Parses a letter and checks that its record is one record the sink takes
 * within the limits; *size gets what max_bytes counts for it.  The reason
 * goes to err. */
static enum pe_status check_letter(const struct pe_config *c,
                                   const struct pe_sink *sink,
                                   const struct pe_batch *b, char *line,
                                   struct pe_dead_letter *d, size_t *size,
                                   struct pe_error *err)
{
    const char *what;
    size_t limit = pe_sink_record_limit(sink, &what);
    enum pe_status st;

    if ((st = pe_dlq_parse_line(line, d, err)) != PE_OK)
        return st;
    if (!pe_topic_valid(d->topic))
        return pe_error_set(err, PE_ERR_DATA, false, "invalid topic \"%s\"",
                            d->topic);
    if ((st = pe_sink_check_letter(sink, d, size, err)) != PE_OK)
        return st;
    if (!pe_batch_fits_alone(b, *size))
        return pe_error_set(err, PE_ERR_DATA, false,
                            "record of %zu bytes is over batch.max_bytes "
                            "(%ld)",
                            *size, c->batch.max_bytes);
    if (*size > limit)
        return pe_error_set(err, PE_ERR_DATA, false,
                            "record of %zu bytes is over %s (%zu)", *size,
                            what, limit);
    return PE_OK;
}

/* Reads every line once to prove the file is sound before sending: each
 * one a dead letter whose record the sink takes.  A refusal names
 * FILE:LINE and why (exit 2). */
static enum pe_status check_dead_letters(const struct pe_config *c,
                                         const struct pe_sink *sink,
                                         const struct pe_batch *b, FILE *f,
                                         const char *path, size_t *count,
                                         struct pe_error *err)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    enum pe_status st = PE_OK;

    *count = 0;
    while (getline(&line, &cap, f) >= 0) {
        struct pe_dead_letter d;
        size_t size;

        lineno++;
        if (line[0] == '\n' || line[0] == '\0')
            continue;
        if (check_letter(c, sink, b, line, &d, &size, err) != PE_OK) {
            pe_error_prefix(err, "%s:%ld", path, lineno);
            st = err->status = PE_ERR_USAGE;
            break;
        }
        (*count)++;
    }
    if (st == PE_OK && ferror(f))
        st = pe_error_set(err, PE_ERR_IO, false, "%s: %s", path,
                          strerror(errno));
    free(line);
    rewind(f);
    return st;
}

/* Sends (or in dry-run prints) one replay batch and empties it. */
static enum pe_status replay_send(const struct pe_deliver_env *env,
                                  struct pe_sink *sink, const char *stream,
                                  const char *topic, struct pe_batch *b,
                                  struct pe_send_stats *stats,
                                  struct pe_error *err)
{
    enum pe_status st;

    if ((st = pe_deliver(env, sink, stream, topic, b, NULL, b->n, stats,
                         err)) != PE_OK &&
        st != PE_ERR_INTERRUPTED)
        pe_error_prefix(err, "replay to topic %s", topic);
    pe_batch_reset(b);
    return st;
}

/* Resends a dead-letter file: consecutive letters of one topic share
 * batches; what the proxy rejects again is dead-lettered again. */
static enum pe_status replay_dead_letters(const struct pe_app_opts *o,
                                          struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    struct pe_dlq *dlq = pe_dlq_new(c->dead_letter.path);
    struct pe_deliver_env env;
    struct pe_send_stats stats;
    struct pe_batch b;
    struct pe_sink *sink = NULL;
    char *line = NULL, *topic = NULL, *stream = NULL;
    size_t cap = 0, count = 0, rejected = 0, size = 0;
    enum pe_status st = PE_OK;
    struct stat fst;
    FILE *f = NULL;

    memset(&stats, 0, sizeof(stats));
    env_init(&env, c, dlq, &rejected);
    pe_batch_init(&b, (size_t)c->batch.max_records, (size_t)c->batch.max_bytes);
    if (same_file(o->dead_letters, c->dead_letter.path)) {
        st = pe_error_set(err, PE_ERR_USAGE, false,
                          "%s is the dead-letter file this replay would write "
                          "to; move it aside first",
                          o->dead_letters);
        goto out;
    }
    if ((f = fopen(o->dead_letters, "r")) == NULL) {
        st = pe_error_set(err, errno == ENOENT ? PE_ERR_USAGE : PE_ERR_IO,
                          false, "%s: %s", o->dead_letters, strerror(errno));
        goto out;
    }
    if (fstat(fileno(f), &fst) != 0 || !S_ISREG(fst.st_mode)) {
        st = pe_error_set(err, PE_ERR_USAGE, false,
                          "%s: not a regular file (a dead-letter file)",
                          o->dead_letters);
        goto out;
    }
    install_signals();
    if ((sink = pe_sink_open(c, o->dry_run, &stop_requested, err)) == NULL) {
        st = err->status;
        goto out;
    }
    pe_sink_frame(sink, &b, NULL); /* sizes as the sink counts them */
    if ((st = check_dead_letters(c, sink, &b, f, o->dead_letters, &count,
                                 err)) != PE_OK)
        goto out;
    while (st == PE_OK) {
        struct pe_dead_letter d;
        bool eof = getline(&line, &cap, f) < 0;

        if (!eof && (line[0] == '\n' || line[0] == '\0'))
            continue;
        /* Checked above; again in case the file changed since. */
        if (!eof && check_letter(c, sink, &b, line, &d, &size, err) != PE_OK) {
            pe_error_prefix(err, "%s changed during the replay",
                            o->dead_letters);
            st = err->status;
            break;
        }
        if (b.n > 0 && (eof || strcmp(d.topic, topic) != 0) &&
            (st = replay_send(&env, sink, stream, topic, &b, &stats,
                              err)) != PE_OK)
            break;
        if (eof || stop_level())
            break;
        if (b.n == 0) {
            free(topic);
            free(stream);
            topic = pe_xstrdup(d.topic);
            stream = pe_xstrdup(d.stream);
            pe_sink_frame(sink, &b, topic);
        }
        if (pe_batch_add_sized(&b, d.record, d.record_len, size, d.key) ==
            PE_OK)
            continue;
        if (b.n > 0 && (st = replay_send(&env, sink, stream, topic, &b,
                                         &stats, err)) != PE_OK)
            break;
        if (pe_batch_add_sized(&b, d.record, d.record_len, size, d.key) !=
            PE_OK)
            st = pe_error_set(err, PE_ERR_DATA, false,
                              "%s: key %s: the record alone is over "
                              "batch.max_bytes (%ld)",
                              o->dead_letters, d.key, c->batch.max_bytes);
    }
    if (st == PE_OK) {
        pe_log(PE_LOG_INFO,
               "replay: %lld of %zu records %s from %s; %lld dead-lettered "
               "again",
               stats.records, count,
               pe_sink_delivers(sink) ? "delivered" : "would be sent",
               o->dead_letters, stats.dead);
        st = finish(PE_OK, 0, dlq, 0, err);
    }
out:
    if (f != NULL)
        fclose(f);
    fflush(stdout);
    free(line);
    free(topic);
    free(stream);
    pe_batch_cleanup(&b);
    pe_sink_close(sink);
    pe_dlq_free(dlq);
    return st;
}

enum pe_status pe_app_replay(const struct pe_app_opts *o, struct pe_error *err)
{
    if (o->dead_letters == NULL)
        return replay_range(o, err);
    return replay_dead_letters(o, err);
}

/* Opens every selected stream's table as run does: proves table, key
 * (unique), types, message_key, and a view only with ordered_writer.
 * *worst gets the worst status. */
static void check_tables(const struct pe_app_opts *o, struct pe_source *src,
                         size_t *bad, enum pe_status *worst)
{
    for (size_t i = 0; i < o->cfg->n_streams; i++) {
        const struct pe_stream_config *sc = &o->cfg->streams[i];
        struct pe_error e;
        struct pe_table *t;
        long key_col;

        if (!selected(o, sc->name))
            continue;
        pe_error_clear(&e);
        t = open_stream_table(src, sc, !sc->ordered_writer, 0, sc->shards,
                              &key_col, &e);
        if (t == NULL) {
            printf("stream %s: FAILED: %s\n", sc->name, e.msg);
            (*bad)++;
            *worst = worse(*worst, e.status);
            continue;
        }
        printf("stream %s: ok: %s, key \"%s\", topic %s\n", sc->name,
               pe_table_name(t), sc->key, sc->topic);
        pe_table_free(t);
    }
}

/* The metrics file's directory must exist and take new files (the file
 * is written to a temporary name beside it, then renamed). */
static enum pe_status check_metrics(const char *path, struct pe_error *err)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash == NULL    ? pe_xstrdup(".")
                : slash == path ? pe_xstrdup("/")
                                : pe_xstrndup(path, (size_t)(slash - path));
    struct stat st;
    enum pe_status rc = PE_OK;

    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = pe_error_set(err, PE_ERR_CONFIG, false,
                          "%s: directory %s does not exist", path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        rc = pe_error_set(err, PE_ERR_CONFIG, false,
                          "%s: directory %s is not writable: %s", path, dir,
                          strerror(errno));
    free(dir);
    return rc;
}

/* Is `topic` in the JSON array text `names`?  A plain scan is enough:
 * legal topic names need no JSON escaping. */
static bool topic_listed(const char *names, const char *topic)
{
    size_t n = strlen(topic);

    for (const char *p = strchr(names, '"'); p != NULL;
         p = strchr(p + 1, '"')) {
        if (strncmp(p + 1, topic, n) == 0 && p[1 + n] == '"')
            return true;
    }
    return false;
}

enum pe_status pe_app_check(const struct pe_app_opts *o, struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    struct pe_source_opts so = {c->source.conninfo,
                                c->source.connect_timeout_s};
    struct pe_source *src;
    struct pe_sink *sink;
    bool exists;
    struct pe_buf names;
    struct pe_error e;
    size_t bad = 0;
    enum pe_status st, worst = PE_OK;
    const char *metrics = o->metrics_file ? o->metrics_file : c->metrics.file;

    if ((st = check_selection(o, err)) != PE_OK)
        return st;
    printf("config: ok: %s, %zu stream%s\n", c->path, c->n_streams,
           c->n_streams == 1 ? "" : "s");
    pe_error_clear(&e);
    if (pe_ckpt_probe(c->state.dir, &exists, &e) != PE_OK) {
        printf("state: FAILED: %s\n", e.msg);
        bad++;
        worst = worse(worst, e.status);
    } else {
        printf("state: ok: %s%s\n", c->state.dir,
               exists ? "" : " (created by the first run)");
    }
    if (metrics != NULL && check_metrics(metrics, &e) != PE_OK) {
        printf("metrics: FAILED: %s\n", e.msg);
        bad++;
        worst = worse(worst, e.status);
    } else if (metrics != NULL) {
        printf("metrics: ok: %s\n", metrics);
    }
    src = pe_source_open(&so, &e);
    if (src == NULL) {
        printf("database: FAILED: %s\n", e.msg);
        bad++;
        worst = worse(worst, e.status);
    } else {
        printf("database: ok: %s\n", pe_source_describe(src));
        check_tables(o, src, &bad, &worst);
        pe_source_free(src);
    }
    pe_buf_init(&names, 0);
    sink = pe_sink_open(c, false, &stop_requested, &e);
    if (sink == NULL || pe_sink_list_topics(sink, &names, &e) != PE_OK) {
        printf("proxy: FAILED: %s\n", e.msg);
        bad++;
        worst = worse(worst, e.status);
    } else {
        char *shown = pe_url_mask(c->sink.invoke_url);

        printf("proxy: ok: %s\n", shown);
        free(shown);
        for (size_t i = 0; i < c->n_streams; i++)
            if (selected(o, c->streams[i].name) &&
                !topic_listed(names.data ? names.data : "",
                              c->streams[i].topic))
                printf("proxy: warning: topic %s is not listed by the proxy"
                       " (it must exist, or the brokers must create it)\n",
                       c->streams[i].topic);
    }
    pe_sink_close(sink);
    pe_buf_cleanup(&names);
    /* main.c flushes stdout and reports a failed write.  A config
     * problem exits 2; an unreachable database or proxy 1. */
    if (bad > 0)
        return pe_error_set(err, worst, false,
                            "check: %zu problem%s found", bad,
                            bad == 1 ? "" : "s");
    return PE_OK;
}

/* For status: transactions still open that rows below the checkpoint may
 * come from (at or above the floor, in this database), and the age of the
 * oldest. */
static enum pe_status pending_xacts(struct pe_source *src, struct pe_table *t,
                                    const struct pe_ckpt_state *ck,
                                    char *count, size_t count_len,
                                    char *oldest, size_t oldest_len,
                                    struct pe_error *err)
{
    struct pe_snapshot snap;
    double max_age = -1;
    size_t n = 0;
    enum pe_status st = pe_table_begin(t, &snap, err);

    for (size_t i = 0; st == PE_OK && i < snap.n_xip; i++) {
        struct pe_xact_info info;

        if (snap.xip[i] < ck->floor)
            continue;
        if ((st = pe_source_xact_info(src, snap.xip[i], &info, err)) !=
                PE_OK ||
            info.other_database)
            continue;
        n++;
        if (info.age_s > max_age)
            max_age = info.age_s;
    }
    pe_table_end(t);
    pe_snapshot_cleanup(&snap);
    snprintf(count, count_len, "%zu", n);
    if (max_age >= 0)
        snprintf(oldest, oldest_len, "%.0fs", max_age);
    return st;
}

enum pe_status pe_app_status(const struct pe_app_opts *o, struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    struct pe_source_opts so = {c->source.conninfo,
                                c->source.connect_timeout_s};
    struct pe_ckpt_store *store = NULL;
    struct pe_source *src = NULL;
    bool exists = true;
    enum pe_status st;

    if ((st = check_selection(o, err)) != PE_OK)
        return st;
    /* Before the first run there is no state directory, so no checkpoint
     * yet: every stream shows "-" (whether a run may create it is for
     * check to say). */
    if (!c->state.database)
        (void)pe_ckpt_probe(c->state.dir, &exists, NULL);
    if (exists && (store = open_store(c, false, err)) == NULL)
        return err->status;
    src = pe_source_open(&so, err);
    if (src == NULL) {
        st = err->status;
        goto out;
    }
    printf("%-16s %-32s %-20s %10s %6s %-7s %s\n", "STREAM", "TOPIC",
           "CHECKPOINT", "PENDING", "XACTS", "OLDEST", "OWNER");
    for (size_t i = 0; i < c->n_streams && st == PE_OK; i++) {
        const struct pe_stream_config *sc = &c->streams[i];

        if (!selected(o, sc->name))
            continue;
        for (long sh = 0; sh < sc->shards && st == PE_OK; sh++) {
            struct pe_table *t = NULL;
            struct pe_ckpt_state ck;
            int64_t pending = 0;
            char xacts[24] = "-", oldest[32] = "-", owner[160] = "-";
            char unit[96];

            if (sc->shards > 1)
                snprintf(unit, sizeof(unit), "%s#%ld", sc->name, sh);
            else
                snprintf(unit, sizeof(unit), "%s", sc->name);
            memset(&ck, 0, sizeof(ck));
            if ((st = store == NULL ? PE_OK
                                    : pe_ckpt_load_shard(store, sc->name, sh,
                                                         sc->shards, &ck,
                                                         err)) == PE_OK &&
                (t = pe_table_open_shard(src, sc->table, sc->key, false, sh,
                                         sc->shards, err)) != NULL &&
                (st = pe_table_count(t, ck.key, &pending, err)) == PE_OK &&
                ck.tracked)
                st = pending_xacts(src, t, &ck, xacts, sizeof(xacts), oldest,
                                   sizeof(oldest), err);
            if (t == NULL && st == PE_OK)
                st = err->status;
            if (st == PE_OK && c->state.database)
                st = pe_source_owner(src, sc->name, sh, owner, sizeof(owner),
                                     err);
            if (st == PE_OK)
                printf("%-16s %-32s %-20s %10lld %6s %-7s %s\n", unit,
                       sc->topic, ck.key ? ck.key : "-", (long long)pending,
                       xacts, oldest, owner);
            else
                pe_error_prefix(err, "stream %s", unit);
            pe_table_free(t);
            pe_ckpt_state_cleanup(&ck);
        }
    }
out:
    /* main.c flushes stdout and reports a failed write. */
    pe_source_free(src);
    pe_ckpt_close(store);
    return st;
}
