/* SPDX-License-Identifier: MIT
 * cmd_replay.c - owns the replay command: a key range sent again through
 * the pool, or a dead-letter file checked whole, then resent in batches.
 * It must not move a checkpoint. */
#include "cmd_replay.h"

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

        if (!pe_opts_selected(o, sc->name))
            continue;
        t = pe_stream_open_table(src, sc, false, 0, 1, &key_col, err);
        if (t == NULL) {
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
    struct pe_source_opts so = pe_source_opts_from_config(c);
    struct pe_dlq *dlq = pe_dlq_new(c->dead_letter.path);
    struct pe_senders senders;
    struct pe_deliver_env env;
    struct pe_units units;
    struct pe_sink_plan plan;
    struct pe_pass p;
    size_t rejected = 0;
    enum pe_status st;

    memset(&senders, 0, sizeof(senders));
    memset(&units, 0, sizeof(units));
    senders.so = so;
    pe_pool_env_init(&env, c, dlq, &rejected);
    if ((st = pe_opts_check_selection(o, err)) != PE_OK)
        goto out;
    if (o->topic != NULL && !pe_topic_valid(o->topic)) {
        st = pe_error_set(err, PE_ERR_USAGE, false,
                          "--topic: \"%s\" is not a valid Kafka topic name",
                          o->topic);
        goto out;
    }
    pe_signals_install();
    pe_rate_init(o->rate);
    if ((senders.src[0] = pe_source_open(&so, err)) == NULL) {
        st = err->status;
        goto out;
    }
    if ((st = replay_plan(o, senders.src[0], err)) != PE_OK)
        goto out;
    pe_units_build(o, true, &units);
    plan = pe_sink_plan(c, o->dry_run);
    pe_pass_begin(&p, o, &plan, &env, NULL, &units, &senders, true);
    pe_pass_send_all(&p);
    st = pe_pool_finish(p.worst, p.failed, dlq, 0, err);
    pe_pass_end(&p);
out:
    fflush(stdout);
    pe_senders_close(&senders);
    pe_source_free(senders.src[0]);
    pe_units_free(c, NULL, &units);
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

/* Sends the letters of f in batches, consecutive letters of one topic
 * together. */
static enum pe_status resend_letters(const struct pe_app_opts *o,
                                     const struct pe_deliver_env *env,
                                     struct pe_sink *sink, struct pe_batch *b,
                                     FILE *f, struct pe_send_stats *stats,
                                     struct pe_error *err)
{
    const struct pe_config *c = o->cfg;
    char *line = NULL, *topic = NULL, *stream = NULL;
    size_t cap = 0, size = 0;
    enum pe_status st = PE_OK;

    while (st == PE_OK) {
        struct pe_dead_letter d;
        bool eof = getline(&line, &cap, f) < 0;

        if (!eof && (line[0] == '\n' || line[0] == '\0'))
            continue;
        /* Checked above; again in case the file changed since. */
        if (!eof && check_letter(c, sink, b, line, &d, &size, err) != PE_OK) {
            pe_error_prefix(err, "%s changed during the replay",
                            o->dead_letters);
            st = err->status;
            break;
        }
        if (b->n > 0 && (eof || strcmp(d.topic, topic) != 0) &&
            (st = replay_send(env, sink, stream, topic, b, stats, err)) !=
                PE_OK)
            break;
        if (eof || pe_signals_stop_level())
            break;
        if (b->n == 0) {
            free(topic);
            free(stream);
            topic = pe_xstrdup(d.topic);
            stream = pe_xstrdup(d.stream);
            pe_sink_frame(sink, b, topic);
        }
        if (pe_batch_add_sized(b, d.record, d.record_len, size, d.key) ==
            PE_OK)
            continue;
        if (b->n > 0 && (st = replay_send(env, sink, stream, topic, b, stats,
                                         err)) != PE_OK)
            break;
        if (pe_batch_add_sized(b, d.record, d.record_len, size, d.key) !=
            PE_OK)
            st = pe_error_set(err, PE_ERR_DATA, false,
                              "%s: key %s: the record alone is over "
                              "batch.max_bytes (%ld)",
                              o->dead_letters, d.key, c->batch.max_bytes);
    }
    free(line);
    free(topic);
    free(stream);
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
    size_t count = 0, rejected = 0;
    enum pe_status st = PE_OK;
    struct stat fst;
    FILE *f = NULL;

    memset(&stats, 0, sizeof(stats));
    pe_pool_env_init(&env, c, dlq, &rejected);
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
    pe_signals_install();
    if ((sink = pe_sink_open(c, o->dry_run, pe_signals_stop_flag(), err)) ==
        NULL) {
        st = err->status;
        goto out;
    }
    pe_sink_frame(sink, &b, NULL); /* sizes as the sink counts them */
    if ((st = check_dead_letters(c, sink, &b, f, o->dead_letters, &count,
                                 err)) != PE_OK)
        goto out;
    st = resend_letters(o, &env, sink, &b, f, &stats, err);
    if (st == PE_OK) {
        pe_log(PE_LOG_INFO,
               "replay: %lld of %zu records %s from %s; %lld dead-lettered "
               "again",
               stats.records, count,
               pe_sink_delivers(sink) ? "delivered" : "would be sent",
               o->dead_letters, stats.dead);
        st = pe_pool_finish(PE_OK, 0, dlq, 0, err);
    }
out:
    if (f != NULL)
        fclose(f);
    fflush(stdout);
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
