/* SPDX-License-Identifier: MIT
 * util.c - errors, buffers, allocation, clocks. */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The length of the well-formed UTF-8 character at p[0..n), or 0 (RFC
 * 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_char(const unsigned char *p, size_t n)
{
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        len = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        len = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (p[0] == 0xe0)
        lo = 0xa0;
    else if (p[0] == 0xed)
        hi = 0x9f;
    else if (p[0] == 0xf0)
        lo = 0x90;
    else if (p[0] == 0xf4)
        hi = 0x8f;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

size_t pe_utf8_sanitize(char *out, size_t size, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;

    if (size == 0)
        return 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_char(p + i, n - i);
        const char *from = len ? s + i : "\xef\xbf\xbd"; /* U+FFFD */
        size_t w = len ? len : 3;

        if (o + w >= size)
            break;
        memcpy(out + o, from, w);
        o += w;
        i += len ? len : 1;
    }
    out[o] = '\0';
    return o;
}

size_t pe_utf8_cut(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;

    /* A lead byte among the last three whose character needs more bytes
     * than are left, with only continuation bytes after it. */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = p[n - back];
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;

        if (c >= 0x80 && c < 0xc0)
            continue;
        return need > back ? n - back : n;
    }
    return n;
}

bool pe_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;

    for (size_t i = 0; i < n;) {
        size_t len = utf8_char(p + i, n - i);

        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

/* The structured members are about the error being set: none yet. */
static void error_context_clear(struct pe_error *err)
{
    err->stream[0] = '\0';
    err->topic[0] = '\0';
    err->http_status = 0;
    err->error_code = 0;
}

enum pe_status pe_error_set(struct pe_error *err, enum pe_status status,
                            bool retriable, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (err == NULL)
        return status;
    err->status = status;
    err->retriable = retriable;
    error_context_clear(err);
    va_start(ap, fmt);
    n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(err->msg)) /* truncated: keep characters whole */
        err->msg[pe_utf8_cut(err->msg, sizeof(err->msg) - 1)] = '\0';
    return status;
}

void pe_error_prefix(struct pe_error *err, const char *fmt, ...)
{
    char head[256];
    char old[sizeof(err->msg)];
    va_list ap;
    int n;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    n = snprintf(err->msg, sizeof(err->msg), "%s: %s", head, old);
    if (n < 0)
        err->msg[0] = '\0';
    else if (n >= (int)sizeof(err->msg)) /* keep characters whole */
        err->msg[pe_utf8_cut(err->msg, sizeof(err->msg) - 1)] = '\0';
}

void pe_error_clear(struct pe_error *err)
{
    if (err == NULL)
        return;
    err->status = PE_OK;
    err->retriable = false;
    err->msg[0] = '\0';
    error_context_clear(err);
}

int pe_status_exit_code(enum pe_status st)
{
    switch (st) {
    case PE_OK:
        return 0;
    case PE_ERR_USAGE:
    case PE_ERR_CONFIG:
        return 2;
    case PE_ERR_LOCKED:
        return 75;
    case PE_ERR_INTERRUPTED:
        return 0; /* a requested stop; checkpoints are consistent */
    case PE_DEAD_LETTERED:
        return 3;
    default:
        return 1;
    }
}

const char *pe_status_name(enum pe_status st)
{
    static const char *const names[] = {
        "ok",       "usage", "config",    "database",      "proxy",
        "io",       "too large", "data", "locked", "interrupted",
        "aborted",  "dead-lettered",
    };

    if ((size_t)st < sizeof(names) / sizeof(names[0]))
        return names[st];
    return "unknown";
}

void pe_buf_init(struct pe_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void pe_buf_cleanup(struct pe_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void pe_buf_reset(struct pe_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void pe_buf_truncate(struct pe_buf *b, size_t n)
{
    if (n < b->len) {
        b->len = n;
        b->data[n] = '\0';
    }
}

static void buf_reserve(struct pe_buf *b, size_t need)
{
    size_t want;

    if (need + 1 <= b->alloc)
        return;
    want = b->alloc ? b->alloc : 256;
    while (want < need + 1)
        want *= 2;
    b->data = pe_xrealloc(b->data, want);
    b->alloc = want;
}

void pe_buf_reserve(struct pe_buf *b, size_t n)
{
    if (b->cap != 0 && (n > b->cap || b->len > b->cap - n))
        n = b->cap > b->len ? b->cap - b->len : 0;
    buf_reserve(b, b->len + n);
}

enum pe_status pe_buf_append(struct pe_buf *b, const void *p, size_t n)
{
    if (b->cap != 0 && (n > b->cap || b->len > b->cap - n))
        return PE_ERR_TOO_LARGE;
    buf_reserve(b, b->len + n);
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return PE_OK;
}

enum pe_status pe_buf_puts(struct pe_buf *b, const char *s)
{
    return pe_buf_append(b, s, strlen(s));
}

enum pe_status pe_buf_printf(struct pe_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    char small[256];
    char *big;
    enum pe_status st;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return PE_ERR_DATA;
    if ((size_t)n < sizeof(small))
        return pe_buf_append(b, small, (size_t)n);
    big = pe_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    st = pe_buf_append(b, big, (size_t)n);
    free(big);
    return st;
}

enum pe_status pe_buf_base64(struct pe_buf *b, const void *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = p;
    size_t start = b->len, out_len = (n + 2) / 3 * 4;
    char *o;

    if (b->cap != 0 && (out_len > b->cap || b->len > b->cap - out_len))
        return PE_ERR_TOO_LARGE;
    buf_reserve(b, b->len + out_len);
    o = b->data + start;
    for (size_t i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (n % 3 != 0) {
        unsigned v = (unsigned)in[n - n % 3] << 16;

        if (n % 3 == 2)
            v |= (unsigned)in[n - 1] << 8;
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = n % 3 == 2 ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len = start + out_len;
    b->data[b->len] = '\0';
    return PE_OK;
}

enum pe_status pe_buf_json_string(struct pe_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = b->len;
    const unsigned char *p = (const unsigned char *)s;
    enum pe_status st = pe_buf_append(b, "\"", 1);

    for (; st == PE_OK && *p != '\0'; p++) {
        char esc[7];
        const char *rep = NULL;
        size_t rlen = 2;

        switch (*p) {
        case '"': rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\b': rep = "\\b"; break;
        case '\f': rep = "\\f"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        default:
            if (*p < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                rep = esc;
                rlen = 6;
            }
        }
        st = rep ? pe_buf_append(b, rep, rlen) : pe_buf_append(b, p, 1);
    }
    if (st == PE_OK)
        st = pe_buf_append(b, "\"", 1);
    if (st != PE_OK)
        pe_buf_truncate(b, start);
    return st;
}

static void oom(void)
{
    static const char msg[] = "pinemit: out of memory\n";
    ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);

    (void)r;
    abort();
}

void *pe_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        oom();
    return p;
}

void *pe_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL)
        oom();
    return p;
}

void *pe_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        oom();
    return q;
}

char *pe_xstrdup(const char *s)
{
    return pe_xstrndup(s, strlen(s));
}

char *pe_xstrndup(const char *s, size_t n)
{
    char *p = pe_xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *pe_xasprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom();
    p = pe_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pe_now_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

double pe_now_mono_msf(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

int64_t pe_now_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int pe_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}
