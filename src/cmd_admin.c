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

/* init: make the checkpoint store (the state directory, or the table). */
enum pe_status pe_app_init(const struct pe_app_opts *o, struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    struct pe_ckpt_store *store = pe_pool_open_store(c, true, err);

    if (store == NULL)
        return err->status;
    printf("%s: ready\n", pe_ckpt_name(store));
    pe_ckpt_close(store);
    return PE_OK;
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
    struct pe_source_opts so = pe_source_opts_from_config(c);
    struct pe_source *src;
    struct pe_sink *sink;
    char state[600];
    struct pe_buf names;
    struct pe_error e;
    size_t bad = 0;
    enum pe_status st, worst = PE_OK;
    const char *metrics = o->metrics_file ? o->metrics_file : c->metrics.file;

    if ((st = pe_opts_check_selection(o, err)) != PE_OK)
        return st;
    printf("config: ok: %s, %zu stream%s\n", c->path, c->n_streams,
           c->n_streams == 1 ? "" : "s");
    pe_error_clear(&e);
    if (pe_ckpt_check(c, state, sizeof(state), &e) != PE_OK) {
        printf("state: FAILED: %s\n", e.msg);
        bad++;
        worst = pe_pool_worse(worst, e.status);
    } else {
        printf("state: ok: %s\n", state);
    }
    if (metrics != NULL && check_metrics(metrics, &e) != PE_OK) {
        printf("metrics: FAILED: %s\n", e.msg);
        bad++;
        worst = pe_pool_worse(worst, e.status);
    } else if (metrics != NULL) {
        printf("metrics: ok: %s\n", metrics);
    }
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
    pe_buf_init(&names, 0);
    sink = pe_sink_open(c, false, pe_signals_stop_flag(), &e);
    if (sink == NULL || pe_sink_list_topics(sink, &names, &e) != PE_OK) {
        printf("proxy: FAILED: %s\n", e.msg);
        bad++;
        worst = pe_pool_worse(worst, e.status);
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
    printf("%-16s %-32s %-20s %10s %6s %-7s %s\n", "STREAM", "TOPIC",
           "CHECKPOINT", "PENDING", "XACTS", "OLDEST", "OWNER");
    for (size_t i = 0; i < c->n_streams && st == PE_OK; i++) {
        const struct pe_stream_config *sc = &c->streams[i];

        if (!pe_opts_selected(o, sc->name))
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
            if (st == PE_OK && store != NULL && pe_ckpt_shared(store))
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
