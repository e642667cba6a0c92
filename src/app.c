/* SPDX-License-Identifier: MIT
 * app.c - the pipeline loop of each command; the only module that logs. */
#include "app.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "checkpoint.h"
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

struct stream_stats {
    long long rows;
    long long batches;
    long long bytes;
};

/* What one stream's run needs; all borrowed but the batch and buffers. */
struct stream_run {
    const struct pe_stream_config *sc;
    const struct pe_app_opts *o;
    struct pe_table *table;
    struct pe_sink *sink; /* NULL in dry-run */
    struct pe_ckpt_store *store;
    struct pe_batch batch;
    struct pe_buf rec;
    char *acked; /* last acknowledged key (owned) */
    struct stream_stats stats;
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

/* Sends the batch (or prints it in dry-run), then moves the checkpoint. */
static enum pe_status flush(struct stream_run *r, struct pe_error *err)
{
    struct pe_produce_result res;
    const char *body;
    size_t len;
    enum pe_status st;

    if (r->batch.n == 0)
        return PE_OK;
    body = pe_batch_finish(&r->batch, &len);
    if (r->o->dry_run) {
        if (fwrite(body, 1, len, stdout) != len || fputc('\n', stdout) == EOF)
            return pe_error_set(err, PE_ERR_IO, false, "stdout: %s",
                                strerror(errno));
    } else {
        st = pe_sink_send(r->sink, r->sc->topic, body, len, r->batch.n, &res,
                          err);
        if (st != PE_OK) {
            pe_error_prefix(err, "keys %s to %s", r->batch.first_key,
                            r->batch.last_key);
            return st;
        }
        st = pe_ckpt_save(r->store, r->sc->name, r->batch.last_key, err);
        if (st != PE_OK)
            return st;
        free(r->acked);
        r->acked = pe_xstrdup(r->batch.last_key);
    }
    r->stats.rows += (long long)r->batch.n;
    r->stats.batches++;
    r->stats.bytes += (long long)len;
    pe_log(PE_LOG_DEBUG, "stream %s: batch of %zu records, %zu bytes, "
                         "keys %s to %s",
           r->sc->name, r->batch.n, len, r->batch.first_key,
           r->batch.last_key);
    pe_batch_reset(&r->batch);
    return PE_OK;
}

/* Encodes one row and adds it, sending the batch first when it is full. */
static enum pe_status add_row(struct stream_run *r, struct pe_rows *rows,
                              size_t i, struct pe_error *err)
{
    const char *key = pe_rows_key(rows, i);
    enum pe_status st;

    pe_buf_reset(&r->rec);
    st = pe_encode_record(rows->cols, rows->n_cols, pe_rows_values(rows, i),
                          &r->rec, err);
    if (st != PE_OK) {
        pe_error_prefix(err, "key %s", key);
        return st;
    }
    if (pe_batch_single_size(r->rec.len) >
        (size_t)r->o->cfg->batch.max_bytes) {
        /* Deliver what came before it, so the checkpoint stops right at
         * the row that cannot be sent. */
        if ((st = flush(r, err)) != PE_OK)
            return st;
        return pe_error_set(err, PE_ERR_TOO_LARGE, false,
                            "key %s: the record alone is %zu bytes, over "
                            "batch.max_bytes (%ld)",
                            key, pe_batch_single_size(r->rec.len),
                            r->o->cfg->batch.max_bytes);
    }
    if (pe_batch_add(&r->batch, r->rec.data, r->rec.len, key) == PE_OK)
        return PE_OK;
    if ((st = flush(r, err)) != PE_OK)
        return st;
    if (stop_requested)
        return PE_ERR_INTERRUPTED;
    return pe_batch_add(&r->batch, r->rec.data, r->rec.len, key);
}

static enum pe_status pump(struct stream_run *r, struct pe_error *err)
{
    struct pe_rows rows;
    char *cursor = r->acked ? pe_xstrdup(r->acked) : NULL;
    long long left = r->o->limit > 0 ? r->o->limit : -1;
    enum pe_status st = PE_OK;

    memset(&rows, 0, sizeof(rows));
    while (left != 0 && !stop_requested) {
        long want = r->o->cfg->source.fetch_rows;

        if (left > 0 && left < want)
            want = (long)left;
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
        if (left > 0)
            left -= (long long)rows.n_rows;
        if ((long)rows.n_rows < want)
            break; /* a short page: nothing more past the cursor */
    }
    pe_rows_cleanup(&rows);
    free(cursor);
    if (st == PE_OK && !stop_requested)
        st = flush(r, err);
    if (st == PE_OK && stop_requested)
        st = PE_ERR_INTERRUPTED;
    return st;
}

static enum pe_status run_stream(const struct pe_app_opts *o,
                                 const struct pe_stream_config *sc,
                                 struct pe_source *src,
                                 struct pe_ckpt_store *store,
                                 struct pe_error *err)
{
    struct stream_run r;
    int64_t t0 = pe_now_mono_ms();
    enum pe_status st;

    memset(&r, 0, sizeof(r));
    r.sc = sc;
    r.o = o;
    r.store = store;
    pe_batch_init(&r.batch, (size_t)o->cfg->batch.max_records,
                  (size_t)o->cfg->batch.max_bytes);
    pe_buf_init(&r.rec, 0);
    if (store != NULL &&
        (st = pe_ckpt_load(store, sc->name, &r.acked, err)) != PE_OK)
        goto out;
    r.table = pe_table_open(src, sc->table, sc->key, err);
    if (r.table == NULL) {
        st = err->status;
        goto out;
    }
    if (!o->dry_run) {
        struct pe_sink_opts so = {o->cfg->sink.invoke_url,
                                  o->cfg->sink.timeout_ms,
                                  o->cfg->sink.connect_timeout_ms,
                                  o->cfg->sink.ca_file};

        r.sink = pe_sink_new(&so, err);
        if (r.sink == NULL) {
            st = err->status;
            goto out;
        }
    }
    pe_log(PE_LOG_DEBUG, "stream %s: %s from key %s", sc->name,
           pe_table_name(r.table), r.acked ? r.acked : "(start)");
    st = pump(&r, err);
    {
        double secs = (double)(pe_now_mono_ms() - t0) / 1000.0;

        pe_log(PE_LOG_INFO,
               "stream %s: %s %lld rows in %lld batches (%lld bytes) to topic "
               "%s; checkpoint %s; %.2f s, %.0f rows/s",
               sc->name, o->dry_run ? "would send" : "sent", r.stats.rows,
               r.stats.batches, r.stats.bytes, sc->topic,
               r.acked ? r.acked : "(none)", secs,
               secs > 0 ? (double)r.stats.rows / secs : 0.0);
    }
out:
    if (st != PE_OK && st != PE_ERR_INTERRUPTED)
        pe_error_prefix(err, "stream %s", sc->name);
    pe_sink_free(r.sink);
    pe_table_free(r.table);
    pe_batch_cleanup(&r.batch);
    pe_buf_cleanup(&r.rec);
    free(r.acked);
    return st;
}

enum pe_status pe_app_run(const struct pe_app_opts *o, struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    struct pe_source_opts so = {c->source.conninfo,
                                c->source.connect_timeout_s};
    struct pe_ckpt_store *store = NULL;
    struct pe_source *src = NULL;
    enum pe_status st, worst = PE_OK;
    size_t failed = 0;

    if ((st = check_selection(o, err)) != PE_OK)
        return st;
    install_signals();
    /* A dry run reads checkpoints if it can but never writes or locks. */
    store = pe_ckpt_open(c->state.dir, !o->dry_run, err);
    if (store == NULL && !o->dry_run)
        return err->status;
    if (store != NULL && !o->dry_run &&
        (st = pe_ckpt_lock(store, err)) != PE_OK)
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
        st = run_stream(o, &c->streams[i], src, store, &e);
        if (st == PE_ERR_INTERRUPTED)
            break;
        if (st != PE_OK) {
            pe_log(PE_LOG_ERROR, "%s", e.msg);
            failed++;
            if (worst == PE_OK)
                worst = st;
        }
    }
    st = worst;
    if (stop_requested) {
        pe_log(PE_LOG_WARN, "stopped by a signal; checkpoints hold what the "
                            "proxy acknowledged");
    }
    if (failed > 0)
        pe_error_set(err, st, false, "%s", ""); /* reported above */
out:
    if (fflush(stdout) != 0 && st == PE_OK)
        st = pe_error_set(err, PE_ERR_IO, false, "stdout: %s",
                          strerror(errno));
    pe_source_free(src);
    pe_ckpt_close(store);
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
                              c->sink.connect_timeout_ms, c->sink.ca_file};
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
    printf("%-16s %-32s %-20s %s\n", "STREAM", "TOPIC", "CHECKPOINT",
           "PENDING");
    for (size_t i = 0; i < c->n_streams && st == PE_OK; i++) {
        const struct pe_stream_config *sc = &c->streams[i];
        struct pe_table *t = NULL;
        char *key = NULL;
        int64_t pending = 0;

        if (!selected(o, sc->name))
            continue;
        if ((st = pe_ckpt_load(store, sc->name, &key, err)) == PE_OK &&
            (t = pe_table_open(src, sc->table, sc->key, err)) != NULL &&
            (st = pe_table_count(t, key, &pending, err)) == PE_OK)
            printf("%-16s %-32s %-20s %lld\n", sc->name, sc->topic,
                   key ? key : "-", (long long)pending);
        if (t == NULL && st == PE_OK)
            st = err->status;
        if (st != PE_OK)
            pe_error_prefix(err, "stream %s", sc->name);
        pe_table_free(t);
        free(key);
    }
out:
    fflush(stdout);
    pe_source_free(src);
    pe_ckpt_close(store);
    return st;
}
