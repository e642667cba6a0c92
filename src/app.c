/* SPDX-License-Identifier: MIT
 * app.c - the pipeline loop of each command; the only module that logs. */
#include "app.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batch.h"
#include "checkpoint.h"
#include "deadletter.h"
#include "deliver.h"
#include "encode.h"
#include "log.h"
#include "sink_http.h"
#include "source_pg.h"

/* Set by SIGINT/SIGTERM: 1 = stop after the request in flight, 2 = now. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (stop_requested < 2)
        stop_requested++;
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
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
    struct pe_sink *sink; /* NULL in dry-run */
    struct pe_ckpt_store *store;
    struct pe_batch batch;
    int64_t *batch_xids; /* inserting transaction of each batch record */
    struct pe_buf rec;
    struct pe_ckpt_state state; /* as last saved (the checkpoint) */
    bool tracked;               /* not an ordered_writer stream */
    bool late_phase;            /* sending rows below the checkpoint */
    struct pe_snapshot snap;
    long long left; /* rows still allowed by --limit; -1 = no limit */
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

/* Adds xid to the sorted set of transactions whose rows were all sent. */
static void mark_sent(struct pe_ckpt_state *c, int64_t xid)
{
    size_t lo = 0, hi = c->n_sent;

    if (xid < c->floor)
        return; /* settled anyway */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (c->sent[mid] < xid)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < c->n_sent && c->sent[lo] == xid)
        return;
    c->sent = pe_xrealloc(c->sent, (c->n_sent + 1) * sizeof(*c->sent));
    memmove(c->sent + lo + 1, c->sent + lo, (c->n_sent - lo) * sizeof(int64_t));
    c->sent[lo] = xid;
    c->n_sent++;
}

/* Everything up to `key` (and the rows of xids) was acknowledged or
 * dead-lettered (and the dead letters synced): record it.  Rows sent in
 * the late phase lie below the checkpoint key, which stays. */
static enum pe_status advance(struct stream_run *r, const char *key,
                              const int64_t *xids, size_t n,
                              struct pe_error *err)
{
    if (r->tracked)
        for (size_t i = 0; i < n; i++)
            mark_sent(&r->state, xids[i]);
    if (!r->late_phase) {
        free(r->state.key);
        r->state.key = pe_xstrdup(key);
    }
    if (r->o->dry_run)
        return PE_OK;
    return pe_ckpt_save_state(r->store, r->sc->name, &r->state, err);
}

/* Sends the batch (or prints it in dry-run), then moves the checkpoint. */
static enum pe_status flush(struct stream_run *r, struct pe_error *err)
{
    const char *last;
    enum pe_status st;

    if (r->batch.n == 0)
        return PE_OK;
    last = pe_batch_key(&r->batch, r->batch.n - 1);
    if (r->o->dry_run) {
        size_t len;
        const char *body = pe_batch_finish(&r->batch, &len);

        if (fwrite(body, 1, len, stdout) != len || fputc('\n', stdout) == EOF)
            return pe_error_set(err, PE_ERR_IO, false, "stdout: %s",
                                strerror(errno));
        r->stats.records += (long long)r->batch.n;
        r->stats.requests++;
        r->stats.bytes += (long long)len;
    } else {
        st = pe_deliver(r->env, r->sink, r->sc->name, r->sc->topic, &r->batch,
                        NULL, r->batch.n, &r->stats, err);
        if (st != PE_OK) {
            if (st != PE_ERR_INTERRUPTED)
                pe_error_prefix(err, "topic %s: keys %s to %s", r->sc->topic,
                                pe_batch_key(&r->batch, 0), last);
            return st;
        }
    }
    if ((st = advance(r, last, r->batch_xids, r->batch.n, err)) != PE_OK)
        return st;
    pe_log(PE_LOG_DEBUG, "stream %s: %sbatch of %zu records, keys %s to %s",
           r->sc->name, r->late_phase ? "late " : "", r->batch.n,
           pe_batch_key(&r->batch, 0), last);
    pe_batch_reset(&r->batch);
    return PE_OK;
}

/* A row whose record cannot be sent (over batch.max_bytes or the proxy's
 * record limit): what came before it goes first, then it becomes a dead
 * letter and the checkpoint moves past it. */
static enum pe_status oversized(struct stream_run *r, const char *key,
                                int64_t xid, size_t limit, const char *what,
                                struct pe_error *err)
{
    struct pe_dead_letter d;
    char msg[160];
    enum pe_status st;

    if ((st = flush(r, err)) != PE_OK)
        return st;
    snprintf(msg, sizeof(msg), "record of %zu bytes is over %s (%zu)",
             r->rec.len, what, limit);
    if (r->o->dry_run) {
        pe_log(PE_LOG_WARN, "stream %s: key %s: %s; a run would dead-letter it",
               r->sc->name, key, msg);
        return PE_OK;
    }
    memset(&d, 0, sizeof(d));
    d.stream = r->sc->name;
    d.topic = r->sc->topic;
    d.key = key;
    d.error_code = 413;
    d.message = msg;
    d.record = r->rec.data;
    d.record_len = r->rec.len;
    if ((st = pe_deliver_dead_letter(r->env, &d, &r->stats, err)) != PE_OK ||
        (st = pe_dlq_sync(r->env->dlq, err)) != PE_OK)
        return st;
    return advance(r, key, &xid, 1, err);
}

/* Encodes one row and adds it, sending the batch first when it is full. */
static enum pe_status add_row(struct stream_run *r, struct pe_rows *rows,
                              size_t i, struct pe_error *err)
{
    const struct pe_config *c = r->o->cfg;
    const char *key = pe_rows_key(rows, i);
    int64_t xid = rows->has_xmin ? pe_rows_xid(rows, i) : 0;
    enum pe_status st;

    pe_buf_reset(&r->rec);
    st = pe_encode_record(rows->cols, rows->n_cols, pe_rows_values(rows, i),
                          &r->rec, err);
    if (st != PE_OK) {
        pe_error_prefix(err, "key %s", key);
        return st;
    }
    if (pe_batch_single_size(r->rec.len) > (size_t)c->batch.max_bytes)
        return oversized(r, key, xid, (size_t)c->batch.max_bytes,
                         "batch.max_bytes", err);
    if (r->rec.len > (size_t)c->sink.max_record_bytes)
        return oversized(r, key, xid, (size_t)c->sink.max_record_bytes,
                         "sink.max_record_bytes", err);
    if (pe_batch_add(&r->batch, r->rec.data, r->rec.len, key) != PE_OK) {
        if ((st = flush(r, err)) != PE_OK)
            return st;
        if (stop_requested)
            return PE_ERR_INTERRUPTED;
        if ((st = pe_deliver_check_deadline(r->env, err)) != PE_OK)
            return st;
        if ((st = pe_batch_add(&r->batch, r->rec.data, r->rec.len, key)) !=
            PE_OK)
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
               r->sc->name, err->msg, (long long)wait, *attempts,
               p->max_attempts);
        pe_batch_reset(&r->batch);
        pe_table_free(r->table);
        r->table = NULL;
        if ((st = pe_deliver_sleep(r->env, wait, err)) != PE_OK)
            return st;
        if (pe_source_reset(r->src, err) != PE_OK)
            continue;
        r->table = r->tracked
                       ? pe_table_open_tracked(r->src, r->sc->table,
                                               r->sc->key, err)
                       : pe_table_open(r->src, r->sc->table, r->sc->key, err);
        if (r->table != NULL)
            return PE_OK;
    }
    return err->status;
}

/* Sends pages of rows until a short page, the limit or a stop.  late:
 * rows below the checkpoint from transactions not settled before. */
static enum pe_status scan(struct stream_run *r, bool late,
                           struct pe_error *err)
{
    const struct pe_ckpt_state *c = &r->state;
    struct pe_rows rows;
    char *cursor = late ? (c->low ? pe_xstrdup(c->low) : NULL)
                        : (c->key ? pe_xstrdup(c->key) : NULL);
    char *high = late ? pe_xstrdup(c->key) : NULL;
    enum pe_status st = PE_OK;

    memset(&rows, 0, sizeof(rows));
    r->late_phase = late;
    while (r->left != 0 && !stop_requested) {
        long want = r->o->cfg->source.fetch_rows;

        if ((st = pe_deliver_check_deadline(r->env, err)) != PE_OK)
            break;
        if (r->left > 0 && r->left < want)
            want = (long)r->left;
        if (late)
            st = pe_table_fetch_late(r->table, cursor, high, c->floor, c->sent,
                                     c->n_sent, &r->snap, want, &rows, err);
        else if (r->tracked)
            st = pe_table_fetch_snap(r->table, cursor, want, &r->snap, &rows,
                                     err);
        else
            st = pe_table_fetch(r->table, cursor, want, &rows, err);
        if (st != PE_OK)
            break;
        for (size_t i = 0; i < rows.n_rows && st == PE_OK; i++)
            st = add_row(r, &rows, i, err);
        if (st != PE_OK)
            break;
        if (rows.n_rows > 0) {
            free(cursor);
            cursor = pe_xstrdup(pe_rows_key(&rows, rows.n_rows - 1));
        }
        if (r->left > 0)
            r->left -= (long long)rows.n_rows;
        if ((long)rows.n_rows < want)
            break; /* a short page: nothing more past the cursor */
    }
    pe_rows_cleanup(&rows);
    free(cursor);
    free(high);
    if (st == PE_OK && !stop_requested)
        st = flush(r, err);
    if (st == PE_OK && stop_requested)
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
                   r->sc->name, (long long)x, info.pid, info.age_s, max_age,
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
    if (r->o->dry_run)
        return PE_OK;
    return pe_ckpt_save_state(r->store, r->sc->name, c, err);
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

static void log_summary(const struct stream_run *r, double secs)
{
    pe_log(PE_LOG_INFO,
           "stream %s: %s %lld rows in %lld requests (%lld bytes) to topic "
           "%s; %lld retries; %lld dead letters; checkpoint %s; %.2f s, "
           "%.0f rows/s",
           r->sc->name, r->o->dry_run ? "would send" : "sent",
           r->stats.records, r->stats.requests, r->stats.bytes, r->sc->topic,
           r->stats.retries, r->stats.dead,
           r->state.key ? r->state.key : "(none)",
           secs, secs > 0 ? (double)r->stats.records / secs : 0.0);
}

static enum pe_status run_stream(const struct pe_app_opts *o,
                                 const struct pe_deliver_env *env,
                                 const struct pe_stream_config *sc,
                                 struct pe_source *src,
                                 struct pe_ckpt_store *store,
                                 struct pe_send_stats *total,
                                 struct pe_error *err)
{
    struct stream_run r;
    int64_t t0 = pe_now_mono_ms();
    long db_attempts = 0;
    enum pe_status st;

    memset(&r, 0, sizeof(r));
    r.sc = sc;
    r.o = o;
    r.env = env;
    r.src = src;
    r.store = store;
    r.tracked = !sc->ordered_writer;
    pe_batch_init(&r.batch, (size_t)o->cfg->batch.max_records,
                  (size_t)o->cfg->batch.max_bytes);
    r.batch_xids = pe_xcalloc((size_t)o->cfg->batch.max_records,
                              sizeof(int64_t));
    pe_buf_init(&r.rec, 0);
    if (store != NULL &&
        (st = pe_ckpt_load_state(store, sc->name, &r.state, err)) != PE_OK)
        goto out;
    r.table = r.tracked ? pe_table_open_tracked(src, sc->table, sc->key, err)
                        : pe_table_open(src, sc->table, sc->key, err);
    if (r.table == NULL && (st = recover_db(&r, &db_attempts, err)) != PE_OK)
        goto out;
    if (!o->dry_run) {
        struct pe_sink_opts so = {o->cfg->sink.invoke_url,
                                  o->cfg->sink.timeout_ms,
                                  o->cfg->sink.connect_timeout_ms,
                                  o->cfg->sink.ca_file, &stop_requested};

        r.sink = pe_sink_new(&so, err);
        if (r.sink == NULL) {
            st = err->status;
            goto out;
        }
    }
    pe_log(PE_LOG_DEBUG, "stream %s: %s from key %s", sc->name,
           pe_table_name(r.table), r.state.key ? r.state.key : "(start)");
    st = pump(&r, err);
    log_summary(&r, (double)(pe_now_mono_ms() - t0) / 1000.0);
out:
    if (st != PE_OK && st != PE_ERR_INTERRUPTED)
        pe_error_prefix(err, "stream %s", sc->name);
    total->records += r.stats.records;
    total->dead += r.stats.dead;
    pe_sink_free(r.sink);
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
                             const struct pe_dlq *dlq, struct pe_error *err)
{
    if (stop_requested)
        pe_log(PE_LOG_WARN, "stopped by a signal; checkpoints hold what the "
                            "proxy acknowledged%s",
               stop_requested > 1 ? " (the request in flight was abandoned "
                                    "and will be sent again)"
                                  : "");
    if (failed > 0) {
        if (pe_dlq_count(dlq) > 0)
            pe_log(PE_LOG_WARN, "%zu records were dead-lettered to %s",
                   pe_dlq_count(dlq), pe_dlq_path(dlq));
        pe_error_set(err, worst, false, "%s", ""); /* reported above */
        return worst;
    }
    if (pe_dlq_count(dlq) > 0)
        return pe_error_set(err, PE_DEAD_LETTERED, false,
                            "%zu records were dead-lettered to %s",
                            pe_dlq_count(dlq), pe_dlq_path(dlq));
    return stop_requested ? PE_ERR_INTERRUPTED : PE_OK;
}

/* Config errors outrank runtime ones in the exit code. */
static enum pe_status worse(enum pe_status a, enum pe_status b)
{
    if (a == PE_ERR_CONFIG || b == PE_ERR_CONFIG)
        return PE_ERR_CONFIG;
    return a != PE_OK ? a : b;
}

enum pe_status pe_app_run(const struct pe_app_opts *o, struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    struct pe_source_opts so = {c->source.conninfo,
                                c->source.connect_timeout_s};
    struct pe_ckpt_store *store = NULL;
    struct pe_source *src = NULL;
    struct pe_dlq *dlq = pe_dlq_new(c->dead_letter.path);
    struct pe_deliver_env env;
    struct pe_send_stats total;
    size_t rejected = 0, failed = 0;
    enum pe_status st, worst = PE_OK;

    memset(&total, 0, sizeof(total));
    env_init(&env, c, dlq, &rejected);
    if ((st = check_selection(o, err)) != PE_OK)
        goto out;
    install_signals();
    /* A dry run reads checkpoints if it can but never writes or locks. */
    store = pe_ckpt_open(c->state.dir, !o->dry_run, err);
    if (store == NULL && !o->dry_run) {
        st = err->status;
        goto out;
    }
    if (store != NULL && !o->dry_run &&
        (st = pe_ckpt_lock(store, o->wait_lock_s * 1000, &stop_requested,
                           err)) != PE_OK)
        goto out;
    src = pe_source_open(&so, err);
    if (src == NULL) {
        st = err->status;
        goto out;
    }
    for (size_t i = 0; i < c->n_streams && !stop_requested; i++) {
        struct pe_error e;

        if (!selected(o, c->streams[i].name))
            continue;
        pe_error_clear(&e);
        st = run_stream(o, &env, &c->streams[i], src, store, &total, &e);
        if (st == PE_ERR_INTERRUPTED)
            break;
        if (st != PE_OK) {
            pe_log(PE_LOG_ERROR, "%s", e.msg);
            failed++;
            worst = worse(worst, st);
            if (st == PE_ERR_ABORTED)
                break; /* a limit of the whole run */
        }
    }
    st = finish(worst, failed, dlq, err);
out:
    if (fflush(stdout) != 0 && st == PE_OK)
        st = pe_error_set(err, PE_ERR_IO, false, "stdout: %s",
                          strerror(errno));
    pe_source_free(src);
    pe_ckpt_close(store);
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

/* Reads every line once to prove the file is sound before sending. */
static enum pe_status check_dead_letters(FILE *f, const char *path,
                                         size_t *count, struct pe_error *err)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    enum pe_status st = PE_OK;

    *count = 0;
    while (getline(&line, &cap, f) >= 0) {
        struct pe_dead_letter d;

        lineno++;
        if (line[0] == '\n' || line[0] == '\0')
            continue;
        if (pe_dlq_parse_line(line, &d, err) != PE_OK) {
            st = pe_error_set(err, PE_ERR_DATA, false, "%s:%ld: %s", path,
                              lineno, err->msg);
            break;
        }
        if (!pe_topic_valid(d.topic)) {
            st = pe_error_set(err, PE_ERR_DATA, false,
                              "%s:%ld: invalid topic \"%s\"", path, lineno,
                              d.topic);
            break;
        }
        (*count)++;
    }
    free(line);
    rewind(f);
    return st;
}

/* Sends (or in dry-run prints) one replay batch and empties it. */
static enum pe_status replay_send(const struct pe_app_opts *o,
                                  const struct pe_deliver_env *env,
                                  struct pe_sink *sink, const char *stream,
                                  const char *topic, struct pe_batch *b,
                                  struct pe_send_stats *stats,
                                  struct pe_error *err)
{
    enum pe_status st = PE_OK;

    if (o->dry_run) {
        size_t len;
        const char *body = pe_batch_finish(b, &len);

        if (fwrite(body, 1, len, stdout) != len || fputc('\n', stdout) == EOF)
            st = pe_error_set(err, PE_ERR_IO, false, "stdout: %s",
                              strerror(errno));
        stats->records += (long long)b->n;
    } else if ((st = pe_deliver(env, sink, stream, topic, b, NULL, b->n,
                                stats, err)) != PE_OK &&
               st != PE_ERR_INTERRUPTED) {
        pe_error_prefix(err, "replay to topic %s", topic);
    }
    pe_batch_reset(b);
    return st;
}

/* Resends a dead-letter file: consecutive letters of one topic share
 * batches; what the proxy rejects again is dead-lettered again. */
enum pe_status pe_app_replay(const struct pe_app_opts *o, struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    struct pe_sink_opts ko = {c->sink.invoke_url, c->sink.timeout_ms,
                              c->sink.connect_timeout_ms, c->sink.ca_file,
                              &stop_requested};
    struct pe_dlq *dlq = pe_dlq_new(c->dead_letter.path);
    struct pe_deliver_env env;
    struct pe_send_stats stats;
    struct pe_batch b;
    struct pe_sink *sink = NULL;
    char *line = NULL, *topic = NULL, *stream = NULL;
    size_t cap = 0, count = 0, rejected = 0;
    enum pe_status st = PE_OK;
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
    install_signals();
    if ((st = check_dead_letters(f, o->dead_letters, &count, err)) != PE_OK)
        goto out;
    if (!o->dry_run && (sink = pe_sink_new(&ko, err)) == NULL) {
        st = err->status;
        goto out;
    }
    while (st == PE_OK) {
        struct pe_dead_letter d;
        bool eof = getline(&line, &cap, f) < 0;

        if (!eof && (line[0] == '\n' || line[0] == '\0'))
            continue;
        if (!eof)
            (void)pe_dlq_parse_line(line, &d, NULL); /* checked above */
        if (b.n > 0 && (eof || strcmp(d.topic, topic) != 0) &&
            (st = replay_send(o, &env, sink, stream, topic, &b, &stats,
                              err)) != PE_OK)
            break;
        if (eof || stop_requested)
            break;
        if (b.n == 0) {
            free(topic);
            free(stream);
            topic = pe_xstrdup(d.topic);
            stream = pe_xstrdup(d.stream);
        }
        if (pe_batch_add(&b, d.record, d.record_len, d.key) == PE_OK)
            continue;
        if (b.n > 0 && (st = replay_send(o, &env, sink, stream, topic, &b,
                                         &stats, err)) != PE_OK)
            break;
        if (pe_batch_add(&b, d.record, d.record_len, d.key) != PE_OK)
            st = pe_error_set(err, PE_ERR_DATA, false,
                              "%s: key %s: the record alone is over "
                              "batch.max_bytes (%ld)",
                              o->dead_letters, d.key, c->batch.max_bytes);
    }
    if (st == PE_OK) {
        pe_log(PE_LOG_INFO,
               "replay: %lld of %zu records %s from %s; %lld dead-lettered "
               "again",
               stats.records, count, o->dry_run ? "would be sent" : "delivered",
               o->dead_letters, stats.dead);
        st = finish(PE_OK, 0, dlq, err);
    }
out:
    if (f != NULL)
        fclose(f);
    fflush(stdout);
    free(line);
    free(topic);
    free(stream);
    pe_batch_cleanup(&b);
    pe_sink_free(sink);
    pe_dlq_free(dlq);
    return st;
}

/* Opens every selected stream's table: proves table, key and types. */
static enum pe_status check_tables(const struct pe_app_opts *o,
                                   struct pe_source *src, size_t *bad)
{
    for (size_t i = 0; i < o->cfg->n_streams; i++) {
        const struct pe_stream_config *sc = &o->cfg->streams[i];
        struct pe_error e;
        struct pe_table *t;

        if (!selected(o, sc->name))
            continue;
        pe_error_clear(&e);
        t = pe_table_open(src, sc->table, sc->key, &e);
        if (t == NULL) {
            printf("stream %s: FAILED: %s\n", sc->name, e.msg);
            (*bad)++;
            continue;
        }
        printf("stream %s: ok: %s, key \"%s\", topic %s\n", sc->name,
               pe_table_name(t), sc->key, sc->topic);
        pe_table_free(t);
    }
    return PE_OK;
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
    struct pe_sink_opts ko = {c->sink.invoke_url, c->sink.timeout_ms,
                              c->sink.connect_timeout_ms, c->sink.ca_file,
                              NULL};
    struct pe_source *src;
    struct pe_sink *sink;
    bool exists;
    struct pe_buf names;
    struct pe_error e;
    size_t bad = 0;
    enum pe_status st;

    if ((st = check_selection(o, err)) != PE_OK)
        return st;
    printf("config: ok: %s, %zu stream%s\n", c->path, c->n_streams,
           c->n_streams == 1 ? "" : "s");
    pe_error_clear(&e);
    if (pe_ckpt_probe(c->state.dir, &exists, &e) != PE_OK) {
        printf("state: FAILED: %s\n", e.msg);
        bad++;
    } else {
        printf("state: ok: %s%s\n", c->state.dir,
               exists ? "" : " (created by the first run)");
    }
    src = pe_source_open(&so, &e);
    if (src == NULL) {
        printf("database: FAILED: %s\n", e.msg);
        bad++;
    } else {
        printf("database: ok: %s\n", pe_source_describe(src));
        check_tables(o, src, &bad);
        pe_source_free(src);
    }
    pe_buf_init(&names, 0);
    sink = pe_sink_new(&ko, &e);
    if (sink == NULL || pe_sink_list_topics(sink, &names, &e) != PE_OK) {
        printf("proxy: FAILED: %s\n", e.msg);
        bad++;
    } else {
        printf("proxy: ok: %s\n", c->sink.invoke_url);
        for (size_t i = 0; i < c->n_streams; i++)
            if (selected(o, c->streams[i].name) &&
                !topic_listed(names.data ? names.data : "",
                              c->streams[i].topic))
                printf("proxy: warning: topic %s is not listed by the proxy"
                       " (it must exist, or the brokers must create it)\n",
                       c->streams[i].topic);
    }
    pe_sink_free(sink);
    pe_buf_cleanup(&names);
    fflush(stdout);
    if (bad > 0)
        return pe_error_set(err, PE_ERR_CONFIG, false,
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
    enum pe_status st;

    if ((st = check_selection(o, err)) != PE_OK)
        return st;
    store = pe_ckpt_open(c->state.dir, false, err);
    if (store == NULL)
        return err->status;
    src = pe_source_open(&so, err);
    if (src == NULL) {
        st = err->status;
        goto out;
    }
    printf("%-16s %-32s %-20s %10s %6s %s\n", "STREAM", "TOPIC",
           "CHECKPOINT", "PENDING", "XACTS", "OLDEST");
    for (size_t i = 0; i < c->n_streams && st == PE_OK; i++) {
        const struct pe_stream_config *sc = &c->streams[i];
        struct pe_table *t = NULL;
        struct pe_ckpt_state ck;
        int64_t pending = 0;
        char xacts[24] = "-", oldest[32] = "-";

        if (!selected(o, sc->name))
            continue;
        memset(&ck, 0, sizeof(ck));
        if ((st = pe_ckpt_load_state(store, sc->name, &ck, err)) == PE_OK &&
            (t = pe_table_open(src, sc->table, sc->key, err)) != NULL &&
            (st = pe_table_count(t, ck.key, &pending, err)) == PE_OK &&
            ck.tracked)
            st = pending_xacts(src, t, &ck, xacts, sizeof(xacts), oldest,
                               sizeof(oldest), err);
        if (t == NULL && st == PE_OK)
            st = err->status;
        if (st == PE_OK)
            printf("%-16s %-32s %-20s %10lld %6s %s\n", sc->name, sc->topic,
                   ck.key ? ck.key : "-", (long long)pending, xacts, oldest);
        else
            pe_error_prefix(err, "stream %s", sc->name);
        pe_table_free(t);
        pe_ckpt_state_cleanup(&ck);
    }
out:
    fflush(stdout);
    pe_source_free(src);
    pe_ckpt_close(store);
    return st;
}
