/* SPDX-License-Identifier: MIT
 * deadletter.c - the dead-letter file: append, sync, parse. */
#include "deadletter.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
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
    size_t repaired; /* bytes of a torn last line cut on open */
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

/* One of q's counters, read under its lock. */
static size_t read_locked(const struct pe_dlq *q, const size_t *field)
{
    struct pe_dlq *m = (struct pe_dlq *)(uintptr_t)q; /* for its lock */
    size_t n;

    pthread_mutex_lock(&m->mu);
    n = *field;
    pthread_mutex_unlock(&m->mu);
    return n;
}

size_t pe_dlq_count(const struct pe_dlq *q)
{
    return q == NULL ? 0 : read_locked(q, &q->count);
}

size_t pe_dlq_repaired(const struct pe_dlq *q)
{
    return q == NULL ? 0 : read_locked(q, &q->repaired);
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

static enum pe_status io_error(const struct pe_dlq *q, const char *what,
                               struct pe_error *err)
{
    return pe_error_set(err, PE_ERR_IO, false, "dead-letter file %s: %s%s",
                        q->path, what, strerror(errno));
}

/* Where the file's last whole line ends: size when it ends in '\n' (or is
 * empty), else just after the last '\n' before the end (0: none). */
static int whole_end(int fd, off_t size, off_t *end)
{
    char chunk[4096];
    off_t pos = size;

    while (pos > 0) {
        size_t n = pos < (off_t)sizeof(chunk) ? (size_t)pos : sizeof(chunk);
        ssize_t got = pread(fd, chunk, n, pos - (off_t)n);

        if (got != (ssize_t)n) {
            if (got >= 0)
                errno = EIO;
            return -1;
        }
        for (size_t i = n; i > 0; i--) {
            if (chunk[i - 1] == '\n') {
                *end = pos - (off_t)(n - i);
                return 0;
            }
        }
        pos -= (off_t)n;
    }
    *end = 0;
    return 0;
}

/* The largest tail whole_letter reads: beyond any record a sink takes. */
#define TAIL_MAX ((off_t)128 << 20)

/* Is the text from end to size (no newline in it) one whole dead-letter
 * line that only lacks its '\n' (a file edited by hand, or written by a
 * tool that ends without one)?  Such a line is kept, not cut.  A tail
 * too large to be a line is not. */
static bool whole_letter(int fd, off_t end, off_t size)
{
    size_t n = (size_t)(size - end);
    struct pe_dead_letter d;
    struct pe_error e;
    char *text;
    bool ok;

    if (size - end > TAIL_MAX)
        return false;
    text = pe_xmalloc(n + 1);
    ok = pread(fd, text, n, end) == (ssize_t)n;
    text[n] = '\0';
    ok = ok && pe_dlq_parse_line(text, &d, &e) == PE_OK;
    free(text);
    return ok;
}

/* Opens the file and cuts a torn last line (see deadletter.h); the caller
 * holds the flock.  A symbolic link is refused (O_NOFOLLOW), as for the
 * files in state.dir: the repair must never cut the file a link points
 * to. */
static enum pe_status dlq_open(struct pe_dlq *q, struct pe_error *err)
{
    struct stat st;
    off_t end;

    q->fd = open(q->path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
                 0640);
    if (q->fd < 0 && errno == ELOOP)
        return pe_error_set(err, PE_ERR_IO, false,
                            "dead-letter file %s is a symbolic link; "
                            "pinemit does not follow it (remove it, or set "
                            "dead_letter.path to the real file)",
                            q->path);
    if (q->fd < 0)
        return io_error(q, "", err);
    if (flock(q->fd, LOCK_EX) != 0 || fstat(q->fd, &st) != 0)
        return io_error(q, "", err);
    if (!S_ISREG(st.st_mode))
        return pe_error_set(err, PE_ERR_IO, false,
                            "dead-letter file %s is not a regular file",
                            q->path);
    if (whole_end(q->fd, st.st_size, &end) != 0)
        return io_error(q, "reading its end: ", err);
    if (end < st.st_size && whole_letter(q->fd, end, st.st_size)) {
        if (pe_write_all(q->fd, "\n", 1) != 0)
            return io_error(q, "ending its last line: ", err);
    } else if (end < st.st_size) {
        if (ftruncate(q->fd, end) != 0)
            return io_error(q, "cutting a torn last line: ", err);
        q->repaired = (size_t)(st.st_size - end);
    }
    (void)flock(q->fd, LOCK_UN);
    return PE_OK;
}

/* One write(2) of the whole line; a short or failed one is cut off again,
 * so the file never holds a fragment to append onto. */
static enum pe_status append_line(struct pe_dlq *q, const char *p, size_t n,
                                  struct pe_error *err)
{
    struct stat st;
    ssize_t w;
    int saved;

    if (flock(q->fd, LOCK_EX) != 0 || fstat(q->fd, &st) != 0)
        return io_error(q, "", err);
    do
        w = write(q->fd, p, n);
    while (w < 0 && errno == EINTR);
    if (w == (ssize_t)n) {
        (void)flock(q->fd, LOCK_UN);
        return PE_OK;
    }
    saved = w < 0 ? errno : ENOSPC; /* a short write: the disk is full */
    if (ftruncate(q->fd, st.st_size) != 0) {
        pe_error_set(err, PE_ERR_IO, false,
                     "dead-letter file %s: %s; cutting the partial line "
                     "failed too: %s",
                     q->path, strerror(saved), strerror(errno));
    } else {
        errno = saved;
        io_error(q, "", err);
    }
    (void)flock(q->fd, LOCK_UN);
    return PE_ERR_IO;
}

static enum pe_status dlq_write(struct pe_dlq *q,
                                const struct pe_dead_letter *d,
                                struct pe_error *err)
{
    char when[40];
    time_t now = time(NULL);
    struct tm tm;
    struct pe_buf *b = &q->line;
    enum pe_status st;

    if (q->fd < 0 && (st = dlq_open(q, err)) != PE_OK) {
        if (q->fd >= 0)
            close(q->fd);
        q->fd = -1;
        return st;
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
    if ((st = append_line(q, b->data, b->len, err)) != PE_OK)
        return st;
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
    /* error_code: an HTTP status or a proxy code; a wider one would not
     * convert to long. */
    if (!cJSON_IsObject(meta) || !cJSON_IsNumber(v) ||
        !(v->valuedouble >= -2147483648.0 && v->valuedouble <= 2147483647.0)) {
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

/* The length of the bytes strict padded base64 text decodes to; -1 when it
 * is not that (a character outside the alphabet, a length not a multiple
 * of 4, padding anywhere but at the end). */
static long long base64_decoded_len(const char *s, size_t n)
{
    size_t pad = 0;

    if (n % 4 != 0)
        return -1;
    if (n > 0 && s[n - 1] == '=')
        pad = n > 1 && s[n - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < n - pad; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '+' || c == '/'))
            return -1;
    }
    return (long long)(n / 4 * 3 - pad);
}

/* The members a record of this sink may have; the first is required. */
static const char *const rest_members[] = {"value", "key", "partition"};
static const char *const kinesis_members[] = {"Data", "PartitionKey"};

/* Every member of o is one of names[0..n), at most once; names[0] and, for
 * Kinesis, every name is there.  seen[i] gets member names[i]. */
static enum pe_status check_members(const cJSON *o, const char *const *names,
                                    size_t n, bool all, const cJSON **seen,
                                    struct pe_error *err)
{
    for (const cJSON *m = o->child; m != NULL; m = m->next) {
        size_t i = 0;

        while (i < n && strcmp(m->string, names[i]) != 0)
            i++;
        if (i == n)
            return pe_error_set(err, PE_ERR_DATA, false,
                                "record: unknown member \"%s\"", m->string);
        if (seen[i] != NULL)
            return pe_error_set(err, PE_ERR_DATA, false,
                                "record: \"%s\" twice", names[i]);
        seen[i] = m;
    }
    for (size_t i = 0; i < (all ? n : 1); i++)
        if (seen[i] == NULL)
            return pe_error_set(err, PE_ERR_DATA, false,
                                "record: no \"%s\"", names[i]);
    return PE_OK;
}

static enum pe_status check_rest(const cJSON *o, size_t *size,
                                 size_t record_len, struct pe_error *err)
{
    const cJSON *seen[3] = {NULL, NULL, NULL};
    const cJSON *part;
    enum pe_status st;

    if ((st = check_members(o, rest_members, 3, false, seen, err)) != PE_OK)
        return st;
    part = seen[2];
    if (part != NULL &&
        (!cJSON_IsNumber(part) || part->valuedouble < 0 ||
         part->valuedouble > 2147483647.0 ||
         part->valuedouble != (double)(long)part->valuedouble))
        return pe_error_set(err, PE_ERR_DATA, false,
                            "record: \"partition\" is not an integer from 0 "
                            "to 2147483647");
    *size = record_len;
    return PE_OK;
}

static enum pe_status check_kinesis(const cJSON *o, size_t *size,
                                    struct pe_error *err)
{
    const cJSON *seen[2] = {NULL, NULL};
    const char *data, *pk;
    long long data_len;
    size_t chars = 0;
    enum pe_status st;

    if ((st = check_members(o, kinesis_members, 2, true, seen, err)) != PE_OK)
        return st;
    if (!cJSON_IsString(seen[0]) || !cJSON_IsString(seen[1]))
        return pe_error_set(err, PE_ERR_DATA, false,
                            "record: \"Data\" and \"PartitionKey\" must be "
                            "strings");
    data = seen[0]->valuestring;
    pk = seen[1]->valuestring;
    if ((data_len = base64_decoded_len(data, strlen(data))) < 0)
        return pe_error_set(err, PE_ERR_DATA, false,
                            "record: \"Data\" is not base64");
    for (const unsigned char *p = (const unsigned char *)pk; *p; p++)
        chars += (*p & 0xc0) != 0x80;
    if (chars == 0 || chars > 256)
        return pe_error_set(err, PE_ERR_DATA, false,
                            "record: \"PartitionKey\" of %zu characters: "
                            "Kinesis takes 1 to 256",
                            chars);
    *size = (size_t)data_len + strlen(pk);
    return PE_OK;
}

enum pe_status pe_dlq_check_record(const struct pe_dead_letter *d,
                                   enum pe_dlq_sink sink, size_t *size,
                                   struct pe_error *err)
{
    const char *end = NULL;
    cJSON *o;
    enum pe_status st;

    *size = 0;
    o = cJSON_ParseWithLengthOpts(d->record, d->record_len, &end, false);
    if (o == NULL)
        return pe_error_set(err, PE_ERR_DATA, false, "record: not JSON");
    while (end < d->record + d->record_len &&
           (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end != d->record + d->record_len)
        st = pe_error_set(err, PE_ERR_DATA, false,
                          "record: more than one JSON value");
    else if (!cJSON_IsObject(o))
        st = pe_error_set(err, PE_ERR_DATA, false,
                          "record: not a JSON object");
    else if (sink == PE_DLQ_KINESIS)
        st = check_kinesis(o, size, err);
    else
        st = check_rest(o, size, d->record_len, err);
    cJSON_Delete(o);
    return st;
}
