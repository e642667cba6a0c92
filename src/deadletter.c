/* SPDX-License-Identifier: MIT
 * deadletter.c - the dead-letter file: append, sync, parse. */
#include "deadletter.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

/* Shared by the units a run sends at once: mu guards fd, count and
 * line. */
struct pe_dlq {
    pthread_mutex_t mu;
    char *path;
    int fd;
    size_t count;
    struct pe_buf line;
};

static const char record_tag[] = ",\"record\":";

struct pe_dlq *pe_dlq_new(const char *path)
{
    struct pe_dlq *q = pe_xcalloc(1, sizeof(*q));

    pthread_mutex_init(&q->mu, NULL);
    q->path = pe_xstrdup(path);
    q->fd = -1;
    pe_buf_init(&q->line, 0);
    return q;
}

void pe_dlq_free(struct pe_dlq *q)
{
    if (q == NULL)
        return;
    if (q->fd >= 0)
        close(q->fd);
    pe_buf_cleanup(&q->line);
    free(q->path);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

const char *pe_dlq_path(const struct pe_dlq *q)
{
    return q->path;
}

size_t pe_dlq_count(const struct pe_dlq *q)
{
    struct pe_dlq *m = (struct pe_dlq *)(uintptr_t)q; /* for its lock */
    size_t n;

    if (q == NULL)
        return 0;
    pthread_mutex_lock(&m->mu);
    n = q->count;
    pthread_mutex_unlock(&m->mu);
    return n;
}

static enum pe_status dlq_write(struct pe_dlq *q,
                                const struct pe_dead_letter *d,
                                struct pe_error *err);

enum pe_status pe_dlq_write(struct pe_dlq *q, const struct pe_dead_letter *d,
                            struct pe_error *err)
{
    enum pe_status st;

    pthread_mutex_lock(&q->mu);
    st = dlq_write(q, d, err);
    pthread_mutex_unlock(&q->mu);
    return st;
}

static enum pe_status dlq_write(struct pe_dlq *q,
                                const struct pe_dead_letter *d,
                                struct pe_error *err)
{
    char when[40];
    time_t now = time(NULL);
    struct tm tm;
    struct pe_buf *b = &q->line;

    if (q->fd < 0) {
        q->fd = open(q->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                     0640);
        if (q->fd < 0)
            return pe_error_set(err, PE_ERR_IO, false,
                                "dead-letter file %s: %s", q->path,
                                strerror(errno));
    }
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    pe_buf_reset(b);
    pe_buf_printf(b, "{\"time\":\"%s\",\"stream\":", when);
    pe_buf_json_string(b, d->stream);
    pe_buf_puts(b, ",\"topic\":");
    pe_buf_json_string(b, d->topic);
    pe_buf_puts(b, ",\"key\":");
    pe_buf_json_string(b, d->key);
    pe_buf_printf(b, ",\"error_code\":%ld,\"message\":", d->error_code);
    pe_buf_json_string(b, d->message);
    pe_buf_puts(b, record_tag);
    pe_buf_append(b, d->record, d->record_len);
    pe_buf_puts(b, "}\n");
    if (pe_write_all(q->fd, b->data, b->len) != 0)
        return pe_error_set(err, PE_ERR_IO, false, "dead-letter file %s: %s",
                            q->path, strerror(errno));
    q->count++;
    return PE_OK;
}

enum pe_status pe_dlq_sync(struct pe_dlq *q, struct pe_error *err)
{
    int fd;

    if (q == NULL)
        return PE_OK;
    pthread_mutex_lock(&q->mu);
    fd = q->fd;
    pthread_mutex_unlock(&q->mu);
    /* The fd stays open until pe_dlq_free, after every sender is done. */
    if (fd >= 0 && fsync(fd) != 0)
        return pe_error_set(err, PE_ERR_IO, false, "dead-letter file %s: %s",
                            q->path, strerror(errno));
    return PE_OK;
}

/* The metadata is parsed as JSON; the record is cut out as text, so its
 * numbers stay exactly as they were sent.  The tag cannot occur earlier in
 * the line: every earlier value is a string, where quotes are escaped. */
enum pe_status pe_dlq_parse_line(char *line, struct pe_dead_letter *d,
                                 struct pe_error *err)
{
    char *tag = strstr(line, record_tag);
    size_t n = strlen(line);
    cJSON *meta = NULL;
    const cJSON *v;
    enum pe_status st = PE_OK;
    static const char *const names[] = {"stream", "topic", "key", "message"};
    const char **slots[] = {&d->stream, &d->topic, &d->key, &d->message};
    char *strings;
    size_t used = 0;

    memset(d, 0, sizeof(*d));
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (line[0] != '{' || tag == NULL || n < 2 || line[n - 1] != '}')
        return pe_error_set(err, PE_ERR_DATA, false,
                            "not a dead-letter line");
    /* "{...meta...}" alone: close the object where the tag starts. */
    d->record = tag + strlen(record_tag);
    d->record_len = (size_t)(line + n - 1 - d->record);
    tag[0] = '}';
    tag[1] = '\0';
    meta = cJSON_Parse(line);
    v = cJSON_GetObjectItemCaseSensitive(meta, "error_code");
    if (!cJSON_IsObject(meta) || !cJSON_IsNumber(v)) {
        st = pe_error_set(err, PE_ERR_DATA, false, "not a dead-letter line");
        goto out;
    }
    d->error_code = (long)v->valuedouble;
    /* Copy the strings over the metadata text, which is no longer needed:
     * each unescaped string is shorter than the JSON that held it. */
    strings = line;
    for (size_t i = 0; i < 4; i++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(meta, names[i]);
        size_t len;

        if (!cJSON_IsString(s)) {
            st = pe_error_set(err, PE_ERR_DATA, false,
                              "dead-letter line without \"%s\"", names[i]);
            goto out;
        }
        len = strlen(s->valuestring);
        memmove(strings + used, s->valuestring, len + 1);
        *slots[i] = strings + used;
        used += len + 1;
    }
out:
    cJSON_Delete(meta);
    return st;
}
