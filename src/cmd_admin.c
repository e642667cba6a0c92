/* SPDX-License-Identifier: MIT
 * cmd_admin.c - owns init, check and status: each proves or shows, and
 * prints its lines on stdout.  It must not send a record or move a
 * checkpoint. */
#include "cmd_admin.h"

#include <errno.h>
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
#include "pool.h"
#include "progress.h"
#include "ratelimit.h"
#include "signals.h"
#include "sink.h"
#include "source_opts.h"
#include "source_pg.h"
#include "stream.h"

/* init for sharded streams: the index each shard reads its rows through
 * (pe_table_shard_index), one line per stream. */
static enum pe_status init_shard_indexes(const struct pe_app_opts *o,
                                         struct pe_error *err)
{
    struct pe_source_opts so = pe_source_opts_from_config(o->cfg);
    struct pe_source *src = NULL;
    enum pe_status st = PE_OK;

    for (size_t i = 0; i < o->cfg->n_streams && st == PE_OK; i++) {
        const struct pe_stream_config *sc = &o->cfg->streams[i];
        struct pe_table *t;
        char name[64];
        bool present = false;
        long key_col;

        if (sc->shards <= 1 || !pe_opts_selected(o, sc->name))
            continue;
        if (src == NULL && (src = pe_source_open(&so, err)) == NULL)
            return err->status;
        t = pe_stream_open_table(src, sc, !sc->ordered_writer, 0, sc->shards,
                                 &key_col, err);
        if (t == NULL)
            st = err->status;
        else if ((st = pe_table_shard_index(t, true, &present, err)) == PE_OK) {
            pe_table_shard_index_name(t, name);
            printf("stream %s: shard index %s: ready\n", sc->name, name);
        }
        if (st != PE_OK)
            pe_error_prefix(err, "stream %s", sc->name);
        pe_table_free(t);
    }
    pe_source_free(src);
    return st;
}

/* init: make the checkpoint store (the state directory, or the table),
 * and the shard indexes of sharded streams. */
enum pe_status pe_app_init(const struct pe_app_opts *o, struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    struct pe_ckpt_store *store = pe_pool_open_store(c, true, err);

    if (store == NULL)
        return err->status;
    printf("%s: ready\n", pe_ckpt_name(store));
    pe_ckpt_close(store);
    return init_shard_indexes(o, err);
}

/* A sharded stream without its shard index works, but each shard reads
 * the whole key range: say so, without failing the check. */
static void check_shard_index(const struct pe_stream_config *sc,
                              struct pe_table *t)
{
    struct pe_error e;
    char name[64];
    bool present = false;

    if (sc->shards <= 1)
        return;
    pe_error_clear(&e);
    pe_table_shard_index_name(t, name);
    if (pe_table_shard_index(t, false, &present, &e) != PE_OK)
        printf("stream %s: warning: %s\n", sc->name, e.msg);
    else if (!present)
        printf("stream %s: warning: no shard index %s: each of the %ld "
               "shards reads the whole key range (pinemit init makes it)\n",
               sc->name, name, sc->shards);
}

/* The stream's effective shape: key columns and types, the index that
 * proves them unique, the members sent (renames as "column AS name"), the
 * filter. */
static void print_shape(const struct pe_stream_config *sc,
                        const struct pe_table *t)
{
    const char *index = pe_table_key_index(t);
    size_t n;
    const struct pe_column *cols = pe_table_columns(t, &n);
    struct pe_buf b;

    pe_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        const struct pe_column_config *cc =
            i < sc->n_columns ? &sc->columns[i] : NULL;

        if (cc != NULL && strcmp(cc->column, cc->as) != 0)
            pe_buf_printf(&b, "%s%s AS %s", i ? ", " : "", cc->column,
                          cc->as);
        else
            pe_buf_printf(&b, "%s%s", i ? ", " : "", cols[i].name);
    }
    printf("stream %s: key (%s) %s, unique by %s\n", sc->name, sc->key,
           pe_table_key_type(t),
           index ? index : "unique_key = true (no index)");
    printf("stream %s: columns (%zu%s): %s\n", sc->name, n,
           sc->n_columns ? "" : ", all", b.data ? b.data : "");
    printf("stream %s: where: %s\n", sc->name, sc->where ? sc->where : "-");
    pe_buf_cleanup(&b);
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

        if (!pe_opts_selected(o, sc->name))
            continue;
        pe_error_clear(&e);
        t = pe_stream_open_table(src, sc, !sc->ordered_writer, 0, sc->shards,
                                 &key_col, &e);
        if (t == NULL) {
            printf("stream %s: FAILED: %s\n", sc->name, e.msg);
            (*bad)++;
            *worst = pe_pool_worse(*worst, e.status);
            continue;
        }
        printf("stream %s: ok: %s, key \"%s\", topic %s\n", sc->name,
               pe_table_name(t), sc->key, sc->topic);
        print_shape(sc, t);
        check_shard_index(sc, t);
        pe_table_free(t);
    }
}

/* Each selected stream's checkpoints were written for the shard split
 * configured now (run refuses them otherwise, and so does check). */
static void check_splits(const struct pe_app_opts *o, size_t *bad,
                         enum pe_status *worst)
{
    struct pe_error e;
    struct pe_ckpt_store *store;

    pe_error_clear(&e);
    if (pe_ckpt_open_existing(o->cfg, &store, &e) != PE_OK) {
        printf("checkpoints: FAILED: %s\n", e.msg);
        (*bad)++;
        *worst = pe_pool_worse(*worst, e.status);
        return;
    }
    for (size_t i = 0; i < o->cfg->n_streams; i++) {
        const struct pe_stream_config *sc = &o->cfg->streams[i];

        for (long s = 0; pe_opts_selected(o, sc->name) && s < sc->shards;
             s++) {
            struct pe_ckpt_state ck;
            enum pe_status st;

            memset(&ck, 0, sizeof(ck));
            st = pe_stream_ckpt_load(store, sc, s, sc->shards, &ck, &e);
            pe_ckpt_state_cleanup(&ck);
            if (st != PE_OK) {
                printf("stream %s: FAILED: %s\n", sc->name, e.msg);
                (*bad)++;
                *worst = pe_pool_worse(*worst, st);
                break;
            }
        }
    }
    pe_ckpt_close(store);
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

/* check's line for the metrics file's directory, when one is set. */
static void metrics_line(const struct pe_app_opts *o, size_t *bad,
                         enum pe_status *worst)
{
    const char *metrics =
        o->metrics_file ? o->metrics_file : o->cfg->metrics.file;
    struct pe_error e;

    pe_error_clear(&e);
    if (metrics != NULL && check_metrics(metrics, &e) != PE_OK) {
        printf("metrics: FAILED: %s\n", e.msg);
        (*bad)++;
        *worst = pe_pool_worse(*worst, e.status);
    } else if (metrics != NULL) {
        printf("metrics: ok: %s\n", metrics);
    }
}

/* check's lines for the sink: reached, and the topics it lists. */
static void check_proxy(const struct pe_app_opts *o, size_t *bad,
                        enum pe_status *worst)
{
    const struct pe_config *c = o->cfg;
    struct pe_buf names;
    struct pe_sink *sink;
    struct pe_error e;

    pe_error_clear(&e);
    pe_buf_init(&names, 0);
    sink = pe_sink_open(c, false, pe_signals_stop_flag(), &e);
    if (sink == NULL || pe_sink_list_topics(sink, &names, &e) != PE_OK) {
        printf("proxy: FAILED: %s\n", e.msg);
        (*bad)++;
        *worst = pe_pool_worse(*worst, e.status);
    } else {
        char *shown = pe_url_mask(c->sink.invoke_url);

        printf("proxy: ok: %s\n", shown);
        free(shown);
        for (size_t i = 0; i < c->n_streams; i++)
            if (pe_opts_selected(o, c->streams[i].name) &&
                !topic_listed(names.data ? names.data : "",
                              c->streams[i].topic))
                printf("proxy: warning: topic %s is not listed by the proxy"
                       " (it must exist, or the brokers must create it)\n",
                       c->streams[i].topic);
    }
    pe_sink_close(sink);
    pe_buf_cleanup(&names);
}

/* check's verdict: main.c flushes stdout and reports a failed write.  A
 * config problem exits 2; an unreachable database or proxy 1. */
static enum pe_status check_result(size_t bad, enum pe_status worst,
                                   struct pe_error *err)
{
    if (bad > 0)
        return pe_error_set(err, worst, false, "check: %zu problem%s found",
                            bad, bad == 1 ? "" : "s");
    return PE_OK;
}

enum pe_status pe_app_check(const struct pe_app_opts *o, struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    struct pe_source_opts so = pe_source_opts_from_config(c);
    struct pe_source *src;
    char state[600];
    struct pe_error e;
    bool exists;
    size_t bad = 0;
    enum pe_status st, worst = PE_OK;

    if ((st = pe_opts_check_selection(o, err)) != PE_OK)
        return st;
    printf("config: ok: %s, %zu stream%s\n", c->path, c->n_streams,
           c->n_streams == 1 ? "" : "s");
    if (o->offline) {
        /* The config alone: nothing that connects or needs the store. */
        metrics_line(o, &bad, &worst);
        return check_result(bad, worst, err);
    }
    pe_error_clear(&e);
    if (pe_ckpt_check(c, state, sizeof(state), &exists, &e) != PE_OK) {
        printf("state: FAILED: %s\n", e.msg);
        bad++;
        worst = pe_pool_worse(worst, e.status);
    } else {
        printf("state: ok: %s\n", state);
        if (exists) /* else no checkpoint yet */
            check_splits(o, &bad, &worst);
    }
    metrics_line(o, &bad, &worst);
    src = pe_source_open(&so, &e);
    if (src == NULL) {
        printf("database: FAILED: %s\n", e.msg);
        bad++;
        worst = pe_pool_worse(worst, e.status);
    } else {
        printf("database: ok: %s\n", pe_source_describe(src));
        check_tables(o, src, &bad, &worst);
        pe_source_free(src);
    }
    check_proxy(o, &bad, &worst);
    return check_result(bad, worst, err);
}

/* For status: transactions still open that rows below the checkpoint may
 * come from (at or above the floor, in this database), and the age of the
 * oldest (-1: none). */
static enum pe_status pending_xacts(struct pe_source *src, struct pe_table *t,
                                    const struct pe_ckpt_state *ck,
                                    struct pe_unit_view *u,
                                    struct pe_error *err)
{
    struct pe_snapshot snap;
    enum pe_status st = pe_table_begin(t, &snap, err);

    u->tracked = true;
    u->open_transactions = 0;
    u->oldest_open_age_s = -1;
    for (size_t i = 0; st == PE_OK && i < snap.n_xip; i++) {
        struct pe_xact_info info;

        if (snap.xip[i] < ck->floor)
            continue;
        if ((st = pe_source_xact_info(src, snap.xip[i], &info, err)) !=
                PE_OK ||
            info.other_database)
            continue;
        u->open_transactions++;
        if (info.age_s > u->oldest_open_age_s)
            u->oldest_open_age_s = info.age_s;
    }
    pe_table_end(t);
    pe_snapshot_cleanup(&snap);
    return st;
}

/* One status line: the text table's, or a JSON object (--json). */
static void print_unit(const struct pe_unit_view *u, bool json)
{
    char unit[96], xacts[24] = "-", oldest[32] = "-";
    struct pe_buf b;

    if (json) {
        pe_buf_init(&b, 0);
        pe_metrics_unit_json(u, &b);
        fputs(b.data ? b.data : "", stdout);
        pe_buf_cleanup(&b);
        return;
    }
    if (u->shard >= 0)
        snprintf(unit, sizeof(unit), "%s#%ld", u->stream, u->shard);
    else
        snprintf(unit, sizeof(unit), "%s", u->stream);
    if (u->tracked)
        snprintf(xacts, sizeof(xacts), "%ld", u->open_transactions);
    if (u->oldest_open_age_s >= 0)
        snprintf(oldest, sizeof(oldest), "%.0fs", u->oldest_open_age_s);
    printf("%-16s %-32s %-20s %10lld %6s %-7s %s\n", unit, u->topic,
           u->checkpoint ? u->checkpoint : "-", u->rows_pending, xacts,
           oldest, u->owner ? u->owner : "-");
}

/* Where shard sh of stream sc stands; printed when all went well. */
static enum pe_status status_unit(const struct pe_app_opts *o,
                                  struct pe_source *src,
                                  struct pe_ckpt_store *store,
                                  const struct pe_stream_config *sc, long sh,
                                  struct pe_error *err)
{
    struct pe_unit_view u;
    struct pe_ckpt_state ck;
    struct pe_table *t = NULL;
    int64_t pending = -1;
    char owner[160] = "-";
    enum pe_status st;

    memset(&u, 0, sizeof(u));
    u.stream = sc->name;
    u.shard = sc->shards > 1 ? sh : -1;
    u.topic = sc->topic;
    u.oldest_open_age_s = -1;
    st = pe_stream_standing(src, store, sc, sh, &ck, &t, &pending, err);
    if (st == PE_OK && ck.tracked)
        st = pending_xacts(src, t, &ck, &u, err);
    if (st == PE_OK && store != NULL && pe_ckpt_shared(store)) {
        st = pe_source_owner(src, sc->name, sh, owner, sizeof(owner), err);
        u.owner = owner;
    }
    if (st == PE_OK) {
        u.checkpoint = ck.key;
        u.rows_pending = pending;
        u.updated_s = ck.updated_s;
        u.now_s = pe_now_wall_ms() / 1000;
        print_unit(&u, o->json);
    } else {
        pe_error_prefix(err, "stream %s", u.stream);
    }
    pe_table_free(t);
    pe_ckpt_state_cleanup(&ck);
    return st;
}

enum pe_status pe_app_status(const struct pe_app_opts *o, struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    struct pe_source_opts so = pe_source_opts_from_config(c);
    struct pe_ckpt_store *store = NULL;
    struct pe_source *src = NULL;
    enum pe_status st;

    if ((st = pe_opts_check_selection(o, err)) != PE_OK)
        return st;
    /* Before the first run there is no state directory, so no checkpoint
     * yet: every stream shows "-" (whether a run may create it is for
     * check to say). */
    if ((st = pe_ckpt_open_existing(c, &store, err)) != PE_OK)
        return st;
    src = pe_source_open(&so, err);
    if (src == NULL) {
        st = err->status;
        goto out;
    }
    if (!o->json)
        printf("%-16s %-32s %-20s %10s %6s %-7s %s\n", "STREAM", "TOPIC",
               "CHECKPOINT", "PENDING", "XACTS", "OLDEST", "OWNER");
    for (size_t i = 0; i < c->n_streams && st == PE_OK; i++) {
        const struct pe_stream_config *sc = &c->streams[i];

        if (!pe_opts_selected(o, sc->name))
            continue;
        for (long sh = 0; sh < sc->shards && st == PE_OK; sh++)
            st = status_unit(o, src, store, sc, sh, err);
    }
out:
    /* main.c flushes stdout and reports a failed write. */
    pe_source_free(src);
    pe_ckpt_close(store);
    return st;
}
