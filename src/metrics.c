/* SPDX-License-Identifier: MIT
 * metrics.c - the Prometheus textfile: read the old counters, add this
 * run's and the lag gauges, write a new file, rename it over the old one;
 * and status --json's line per unit.  Pure: it is handed the figures and
 * must not query a database or a store. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

/* Per-stream counters, in output order. */
static const struct {
    const char *name;
    const char *help;
    size_t offset;
} counters[] = {
    {"pinemit_rows_total", "Records acknowledged by the proxy.",
     offsetof(struct pe_metrics_stream, rows)},
    {"pinemit_requests_total", "Produce requests sent.",
     offsetof(struct pe_metrics_stream, requests)},
    {"pinemit_bytes_total", "Bytes of produce request bodies sent.",
     offsetof(struct pe_metrics_stream, bytes)},
    {"pinemit_retries_total", "Requests sent again after a failure.",
     offsetof(struct pe_metrics_stream, retries)},
    {"pinemit_dead_letters_total", "Records written to the dead-letter file.",
     offsetof(struct pe_metrics_stream, dead_letters)},
};
#define N_COUNTERS (sizeof(counters) / sizeof(counters[0]))

/* The value of `metric{stream="name"}` (or of a bare metric when stream is
 * NULL) in the old file's text, or 0. */
static double old_value(const char *text, const char *metric,
                        const char *stream)
{
    char head[256];
    const char *p = text;
    size_t n;

    if (text == NULL)
        return 0;
    if (stream)
        snprintf(head, sizeof(head), "%s{stream=\"%s\"} ", metric, stream);
    else
        snprintf(head, sizeof(head), "%s ", metric);
    n = strlen(head);
    while (p != NULL && *p != '\0') {
        if (strncmp(p, head, n) == 0)
            return strtod(p + n, NULL);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return 0;
}

static char *read_old(const char *path)
{
    FILE *f = fopen(path, "r");
    struct pe_buf b;
    char chunk[4096];
    size_t n;

    if (f == NULL)
        return NULL;
    pe_buf_init(&b, 4u << 20);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (pe_buf_append(&b, chunk, n) != PE_OK)
            break;
    fclose(f);
    pe_buf_append(&b, "", 0);
    return b.data;
}

/* A stream name as a label value: names are [A-Za-z0-9_-], no escaping
 * needed, but be safe. */
static int label_ok(const char *s)
{
    return strpbrk(s, "\"\\\n") == NULL;
}

/* A decimal integer, optionally signed: the only keys the gauge takes.
 * strtod would also take "0x1A", "inf" or "1e5", which Prometheus' text
 * parser refuses (or which are no key's value), failing the whole file. */
static int integer_key(const char *s)
{
    if (s == NULL)
        return 0;
    if (*s == '-' || *s == '+')
        s++;
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* The window each stream ended with: how many requests the proxy took
 * at once (sink.max_in_flight, halved on throttling, grown back while
 * round trips stay flat). */
static void window_gauge(struct pe_buf *b, const struct pe_metrics_run *r)
{
    pe_buf_puts(b, "# HELP pinemit_window Requests in flight the stream's "
                   "adaptive window allowed at the end of the run.\n"
                   "# TYPE pinemit_window gauge\n");
    for (size_t i = 0; i < r->n_streams; i++)
        if (label_ok(r->streams[i].name) && r->streams[i].window > 0)
            pe_buf_printf(b, "pinemit_window{stream=\"%s\"} %lld\n",
                          r->streams[i].name, r->streams[i].window);
}

/* The lag an operator alerts on: gauges only for the streams whose
 * figure is known. */
static void lag_gauges(struct pe_buf *b, const struct pe_metrics_run *r)
{
    pe_buf_puts(b, "# HELP pinemit_rows_pending Rows past the stream's "
                   "checkpoint when the run ended.\n"
                   "# TYPE pinemit_rows_pending gauge\n");
    for (size_t i = 0; i < r->n_streams; i++)
        if (label_ok(r->streams[i].name) && r->streams[i].has_pending)
            pe_buf_printf(b, "pinemit_rows_pending{stream=\"%s\"} %lld\n",
                          r->streams[i].name, r->streams[i].rows_pending);
    pe_buf_puts(b, "# HELP pinemit_checkpoint_age_seconds Seconds since the "
                   "stream's checkpoint was last saved, when the run "
                   "ended.\n"
                   "# TYPE pinemit_checkpoint_age_seconds gauge\n");
    for (size_t i = 0; i < r->n_streams; i++)
        if (label_ok(r->streams[i].name) && r->streams[i].has_age)
            pe_buf_printf(b,
                          "pinemit_checkpoint_age_seconds{stream=\"%s\"} "
                          "%.0f\n",
                          r->streams[i].name, r->streams[i].checkpoint_age_s);
}

enum pe_status pe_metrics_write(const char *path, const struct pe_metrics_run *r,
                                struct pe_error *err)
{
    char *old = read_old(path);
    char *tmp = pe_xasprintf("%s.tmp.%ld", path, (long)getpid());
    struct pe_buf b;
    double success = r->exit_code == 0 ? r->end_s
                                       : old_value(old, "pinemit_last_success_timestamp_seconds", NULL);
    enum pe_status st = PE_OK;
    int fd;

    pe_buf_init(&b, 0);
    pe_buf_printf(&b,
                  "# HELP pinemit_last_run_start_timestamp_seconds When the "
                  "last run started.\n"
                  "# TYPE pinemit_last_run_start_timestamp_seconds gauge\n"
                  "pinemit_last_run_start_timestamp_seconds %.3f\n"
                  "# HELP pinemit_last_run_end_timestamp_seconds When the "
                  "last run ended.\n"
                  "# TYPE pinemit_last_run_end_timestamp_seconds gauge\n"
                  "pinemit_last_run_end_timestamp_seconds %.3f\n"
                  "# HELP pinemit_last_run_duration_seconds How long the "
                  "last run took.\n"
                  "# TYPE pinemit_last_run_duration_seconds gauge\n"
                  "pinemit_last_run_duration_seconds %.3f\n"
                  "# HELP pinemit_last_success_timestamp_seconds When a run "
                  "last ended with exit code 0.\n"
                  "# TYPE pinemit_last_success_timestamp_seconds gauge\n"
                  "pinemit_last_success_timestamp_seconds %.3f\n"
                  "# HELP pinemit_last_exit_code Exit code of the last run.\n"
                  "# TYPE pinemit_last_exit_code gauge\n"
                  "pinemit_last_exit_code %d\n",
                  r->start_s, r->end_s, r->end_s - r->start_s, success,
                  r->exit_code);
    for (size_t c = 0; c < N_COUNTERS; c++) {
        pe_buf_printf(&b, "# HELP %s %s\n# TYPE %s counter\n",
                      counters[c].name, counters[c].help, counters[c].name);
        for (size_t i = 0; i < r->n_streams; i++) {
            const struct pe_metrics_stream *s = &r->streams[i];
            long long v =
                *(const long long *)((const char *)s + counters[c].offset);

            if (!label_ok(s->name))
                continue;
            pe_buf_printf(&b, "%s{stream=\"%s\"} %.0f\n", counters[c].name,
                          s->name,
                          old_value(old, counters[c].name, s->name) +
                              (double)v);
        }
    }
    pe_buf_puts(&b, "# HELP pinemit_checkpoint_key The stream's checkpoint "
                    "key, when it is an integer.\n"
                    "# TYPE pinemit_checkpoint_key gauge\n");
    for (size_t i = 0; i < r->n_streams; i++)
        if (label_ok(r->streams[i].name) &&
            integer_key(r->streams[i].checkpoint))
            pe_buf_printf(&b, "pinemit_checkpoint_key{stream=\"%s\"} %s\n",
                          r->streams[i].name, r->streams[i].checkpoint);
    lag_gauges(&b, r);
    window_gauge(&b, r);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
              0644);
    if (fd < 0 || pe_write_all(fd, b.data, b.len) != 0 || fsync(fd) != 0 ||
        close(fd) != 0 || (fd = -1, rename(tmp, path) != 0)) {
        st = pe_error_set(err, PE_ERR_IO, false, "metrics file %s: %s", path,
                          strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
    }
    pe_buf_cleanup(&b);
    free(old);
    free(tmp);
    return st;
}

void pe_metrics_unit_json(const struct pe_unit_view *u, struct pe_buf *out)
{
    cJSON *o = cJSON_CreateObject();
    char when[32];
    char *text;

    cJSON_AddStringToObject(o, "stream", u->stream);
    if (u->shard >= 0)
        cJSON_AddNumberToObject(o, "shard", (double)u->shard);
    cJSON_AddStringToObject(o, "topic", u->topic);
    if (u->checkpoint != NULL)
        cJSON_AddStringToObject(o, "checkpoint", u->checkpoint);
    else
        cJSON_AddNullToObject(o, "checkpoint");
    if (u->rows_pending >= 0)
        cJSON_AddNumberToObject(o, "rows_pending", (double)u->rows_pending);
    else
        cJSON_AddNullToObject(o, "rows_pending");
    if (u->tracked) {
        cJSON_AddNumberToObject(o, "open_transactions",
                                (double)u->open_transactions);
        if (u->oldest_open_age_s >= 0)
            cJSON_AddNumberToObject(o, "oldest_open_age_s",
                                    u->oldest_open_age_s);
        else
            cJSON_AddNullToObject(o, "oldest_open_age_s");
    }
    if (u->owner != NULL && strcmp(u->owner, "-") != 0)
        cJSON_AddStringToObject(o, "owner", u->owner);
    else if (u->owner != NULL)
        cJSON_AddNullToObject(o, "owner");
    if (u->updated_s > 0) {
        time_t t = (time_t)u->updated_s;
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        cJSON_AddStringToObject(o, "last_success", when);
        cJSON_AddNumberToObject(o, "checkpoint_age_s",
                                (double)(u->now_s - u->updated_s));
    } else {
        cJSON_AddNullToObject(o, "last_success");
        cJSON_AddNullToObject(o, "checkpoint_age_s");
    }
    text = cJSON_PrintUnformatted(o);
    if (text != NULL) {
        pe_buf_puts(out, text);
        pe_buf_puts(out, "\n");
    }
    cJSON_free(text);
    cJSON_Delete(o);
}
