/* SPDX-License-Identifier: MIT
 * sink.c - a fast Kafka REST Proxy v2 produce sink for the benchmark: one
 * process, epoll, keep-alive; counts records with a streaming JSON scanner.
 *
 *   sink [--port N] [--port-file FILE] [--stats FILE] [--max-body BYTES]
 *        [--delay-ms N]
 *
 * Binds 127.0.0.1 only (port 0 = any; the chosen port goes to --port-file,
 * written atomically).  Routes (any path prefix, e.g. /bench/topics/t):
 *
 *   POST .../topics/<topic>   produce; Content-Type must be
 *                             application/vnd.kafka.json.v2+json (else 415).
 *                             The body is validated and its records counted
 *                             while it streams in (never buffered whole):
 *                             200 with one offsets entry per record (offsets
 *                             grow per topic); 400 broken JSON or wrong
 *                             types (top level not an object, "records" not
 *                             an array, a record not an object); 422 empty
 *                             body, no/null/empty "records", unknown field
 *                             (top level or record).
 *   GET  .../topics           []
 *   GET  .../_stats           {"requests":N,"records":N,"bytes":N,...}
 *   GET  /                    {}
 *
 * --delay-ms N holds each produce answer N ms after its body is in (its
 * records are counted at once), as a gateway a network round trip away
 * would: the connection reads nothing more meanwhile; other connections
 * go on.
 *
 * Bodies come with Content-Length or Transfer-Encoding: chunked;
 * "Expect: 100-continue" is answered.  Pipelined requests are answered in
 * order.  On SIGTERM or SIGINT the same statistics go to --stats (atomic
 * replace) and the sink exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_CAP (256 * 1024)       /* per-connection input buffer */
#define OUT_HIGH (4 * 1024 * 1024) /* stop reading while this much waits */
#define MAX_DEPTH 512             /* JSON nesting limit */
#define MAX_EVENTS 256
#define KEY_CAP 16                /* longest field name we need to compare */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sink: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL)
        die("out of memory");
    return q;
}

/* ------------------------------------------------------------------ */
/* Growable byte buffer.                                               */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void buf_add(struct buf *b, const void *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_u64(struct buf *b, uint64_t v)
{
    char tmp[24];
    int i = (int)sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    buf_add(b, tmp + i, sizeof tmp - (size_t)i);
}

/* ------------------------------------------------------------------ */
/* Streaming JSON scanner: validates RFC 8259 JSON (UTF-8 included) fed */
/* in arbitrary pieces and counts the elements of the top-level         */
/* "records" array.  Field names are compared after unescaping, so      */
/* "rec\u006frds" is "records", as for any JSON parser.                 */

enum js_state {
    JS_VALUE,          /* a value must come */
    JS_VALUE_OR_CLOSE, /* after '[' */
    JS_KEY_OR_CLOSE,   /* after '{' */
    JS_KEY,            /* after ',' in an object */
    JS_COLON,
    JS_AFTER,          /* after a value inside a container */
    JS_DONE,           /* top-level value complete */
    JS_STR,
    JS_STR_ESC,
    JS_STR_HEX,
    JS_STR_UTF8,
    JS_LIT,
    JS_NUM_MINUS,      /* '-' seen, a digit must follow */
    JS_NUM_ZERO,       /* leading '0' */
    JS_NUM_INT,
    JS_NUM_DOT,        /* '.' seen, a digit must follow */
    JS_NUM_FRAC,
    JS_NUM_E,          /* 'e' seen, sign or digit */
    JS_NUM_ESIGN,      /* sign seen, a digit must follow */
    JS_NUM_EXP,
    JS_ERROR
};

enum { REC_ABSENT, REC_NULL, REC_ARRAY, REC_BADTYPE };

struct jscan {
    uint8_t state;
    uint8_t str_is_key;
    uint8_t capture;      /* collect this key's unescaped bytes */
    uint8_t key_len;
    uint8_t key_nomatch;  /* key longer than KEY_CAP or non-ASCII */
    uint8_t utf8_need;    /* continuation bytes still expected */
    uint8_t utf8_lo, utf8_hi;
    uint8_t hex_n;
    uint8_t lit_pos;
    uint8_t next_is_records; /* the value about to start is "records" */
    uint8_t in_records;   /* inside the records array (depth >= 2) */
    uint8_t records_state;
    uint8_t bad_type;     /* wrong JSON type: 1 body, 2 record, 4 records */
    uint8_t unknown_field;
    uint16_t hex;
    const char *lit;
    int depth;
    uint64_t count;
    char key[KEY_CAP];
    char stack[MAX_DEPTH]; /* 'o' object, 'a' array */
};

static void js_init(struct jscan *j)
{
    memset(j, 0, offsetof(struct jscan, key));
    j->state = JS_VALUE;
    j->records_state = REC_ABSENT;
}

/* Byte classes inside a string: 0 plain, 1 quote, 2 backslash,
 * 3 control (invalid), 4 non-ASCII. */
static uint8_t str_class[256];

static void js_tables(void)
{
    for (int c = 0; c < 256; c++) {
        if (c < 0x20)
            str_class[c] = 3;
        else if (c == '"')
            str_class[c] = 1;
        else if (c == '\\')
            str_class[c] = 2;
        else if (c >= 0x80)
            str_class[c] = 4;
        else
            str_class[c] = 0;
    }
}

static int is_ws(int c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

static void key_byte(struct jscan *j, unsigned c)
{
    if (!j->capture)
        return;
    if (c >= 0x80 || j->key_len >= KEY_CAP)
        j->key_nomatch = 1;
    else
        j->key[j->key_len++] = (char)c;
}

static int key_is(const struct jscan *j, const char *s)
{
    size_t n = strlen(s);
    return !j->key_nomatch && j->key_len == n && memcmp(j->key, s, n) == 0;
}

/* A field name is complete: check it against the schema of its level. */
static void key_done(struct jscan *j)
{
    if (!j->capture)
        return;
    if (j->depth == 1) {
        j->next_is_records = (uint8_t)key_is(j, "records");
        if (!j->next_is_records && !key_is(j, "key_schema") &&
            !key_is(j, "key_schema_id") && !key_is(j, "value_schema") &&
            !key_is(j, "value_schema_id"))
            j->unknown_field = 1;
    } else if (!key_is(j, "key") && !key_is(j, "value") &&
               !key_is(j, "partition")) {
        j->unknown_field = 1;
    }
}

static void value_done(struct jscan *j)
{
    j->state = j->depth == 0 ? JS_DONE : JS_AFTER;
}

static int push(struct jscan *j, char kind)
{
    if (j->depth >= MAX_DEPTH)
        return -1;
    j->stack[j->depth++] = kind;
    return 0;
}

static void pop(struct jscan *j)
{
    j->depth--;
    if (j->depth == 1)
        j->in_records = 0;
    value_done(j);
}

/* First byte of a value (whitespace already skipped).  0 or -1. */
static int begin_value(struct jscan *j, int c)
{
    if (j->depth == 0 && c != '{')
        j->bad_type = 1; /* the body must be an object */
    if (j->depth == 1) {
        /* value of a top-level field */
        if (j->next_is_records) {
            j->next_is_records = 0;
            /* A repeated "records": the last one is counted, but a
             * wrong type in any of them stays an error (as a streaming
             * parser such as Jackson fails on the first). */
            j->count = 0;
            if (c == '[') {
                j->records_state = REC_ARRAY;
                j->in_records = 1;
            } else if (c == 'n') {
                j->records_state = REC_NULL;
            } else {
                j->records_state = REC_BADTYPE;
                j->bad_type |= 4;
            }
        }
    } else if (j->depth == 2 && j->in_records) {
        /* an element of the records array: one record */
        j->count++;
        if (c != '{')
            j->bad_type |= 2;
    }
    switch (c) {
    case '{':
        if (push(j, 'o') < 0)
            return -1;
        j->state = JS_KEY_OR_CLOSE;
        return 0;
    case '[':
        if (push(j, 'a') < 0)
            return -1;
        j->state = JS_VALUE_OR_CLOSE;
        return 0;
    case '"':
        j->str_is_key = 0;
        j->capture = 0;
        j->state = JS_STR;
        return 0;
    case '-':
        j->state = JS_NUM_MINUS;
        return 0;
    case '0':
        j->state = JS_NUM_ZERO;
        return 0;
    case 't':
        j->lit = "true";
        break;
    case 'f':
        j->lit = "false";
        break;
    case 'n':
        j->lit = "null";
        break;
    default:
        if (c >= '1' && c <= '9') {
            j->state = JS_NUM_INT;
            return 0;
        }
        return -1;
    }
    j->lit_pos = 1;
    j->state = JS_LIT;
    return 0;
}

static void begin_key(struct jscan *j)
{
    j->str_is_key = 1;
    j->capture = (uint8_t)(j->depth == 1 || (j->depth == 3 && j->in_records));
    j->key_len = 0;
    j->key_nomatch = 0;
    j->state = JS_STR;
}

/* Feeds n bytes.  Returns -1 once the input cannot be JSON. */
static int js_feed(struct jscan *j, const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;

    if (j->state == JS_ERROR)
        return -1;
    while (p < end) {
        unsigned c = *p;
        switch (j->state) {
        case JS_STR:
            if (!j->capture) {
                /* fast path: skip plain bytes */
                while (p < end && str_class[*p] == 0)
                    p++;
                if (p == end)
                    return 0;
                c = *p;
            }
            switch (str_class[c]) {
            case 0:
                key_byte(j, c);
                break;
            case 1:
                if (j->str_is_key) {
                    key_done(j);
                    j->state = JS_COLON;
                } else {
                    value_done(j);
                }
                break;
            case 2:
                j->state = JS_STR_ESC;
                break;
            case 3:
                goto bad;
            default:
                j->key_nomatch = 1;
                if (c >= 0xC2 && c <= 0xDF) {
                    j->utf8_need = 1;
                    j->utf8_lo = 0x80;
                    j->utf8_hi = 0xBF;
                } else if (c >= 0xE0 && c <= 0xEF) {
                    j->utf8_need = 2;
                    j->utf8_lo = c == 0xE0 ? 0xA0 : 0x80;
                    j->utf8_hi = c == 0xED ? 0x9F : 0xBF;
                } else if (c >= 0xF0 && c <= 0xF4) {
                    j->utf8_need = 3;
                    j->utf8_lo = c == 0xF0 ? 0x90 : 0x80;
                    j->utf8_hi = c == 0xF4 ? 0x8F : 0xBF;
                } else {
                    goto bad;
                }
                j->state = JS_STR_UTF8;
            }
            p++;
            continue;
        case JS_STR_UTF8:
            if (c < j->utf8_lo || c > j->utf8_hi)
                goto bad;
            j->utf8_lo = 0x80;
            j->utf8_hi = 0xBF;
            if (--j->utf8_need == 0)
                j->state = JS_STR;
            p++;
            continue;
        case JS_STR_ESC: {
            unsigned d;
            switch (c) {
            case '"': d = '"'; break;
            case '\\': d = '\\'; break;
            case '/': d = '/'; break;
            case 'b': d = '\b'; break;
            case 'f': d = '\f'; break;
            case 'n': d = '\n'; break;
            case 'r': d = '\r'; break;
            case 't': d = '\t'; break;
            case 'u':
                j->hex = 0;
                j->hex_n = 0;
                j->state = JS_STR_HEX;
                p++;
                continue;
            default:
                goto bad;
            }
            key_byte(j, d);
            j->state = JS_STR;
            p++;
            continue;
        }
        case JS_STR_HEX: {
            unsigned v;
            if (c >= '0' && c <= '9')
                v = c - '0';
            else if (c >= 'a' && c <= 'f')
                v = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                v = c - 'A' + 10;
            else
                goto bad;
            j->hex = (uint16_t)(j->hex << 4 | v);
            if (++j->hex_n == 4) {
                key_byte(j, j->hex < 0x80 ? j->hex : 0x80);
                j->state = JS_STR;
            }
            p++;
            continue;
        }
        case JS_LIT:
            if (c != (unsigned char)j->lit[j->lit_pos])
                goto bad;
            if (j->lit[++j->lit_pos] == '\0')
                value_done(j);
            p++;
            continue;
        case JS_NUM_MINUS:
            if (c == '0')
                j->state = JS_NUM_ZERO;
            else if (c >= '1' && c <= '9')
                j->state = JS_NUM_INT;
            else
                goto bad;
            p++;
            continue;
        case JS_NUM_INT:
            while (p < end && *p >= '0' && *p <= '9')
                p++;
            if (p == end)
                return 0;
            c = *p;
            /* fall through */
        case JS_NUM_ZERO:
            if (c == '.') {
                j->state = JS_NUM_DOT;
            } else if (c == 'e' || c == 'E') {
                j->state = JS_NUM_E;
            } else {
                value_done(j);
                continue; /* the byte belongs to what follows */
            }
            p++;
            continue;
        case JS_NUM_DOT:
            if (c < '0' || c > '9')
                goto bad;
            j->state = JS_NUM_FRAC;
            p++;
            continue;
        case JS_NUM_FRAC:
            if (c >= '0' && c <= '9') {
                p++;
                continue;
            }
            if (c == 'e' || c == 'E') {
                j->state = JS_NUM_E;
                p++;
                continue;
            }
            value_done(j);
            continue;
        case JS_NUM_E:
            if (c == '+' || c == '-')
                j->state = JS_NUM_ESIGN;
            else if (c >= '0' && c <= '9')
                j->state = JS_NUM_EXP;
            else
                goto bad;
            p++;
            continue;
        case JS_NUM_ESIGN:
            if (c < '0' || c > '9')
                goto bad;
            j->state = JS_NUM_EXP;
            p++;
            continue;
        case JS_NUM_EXP:
            if (c >= '0' && c <= '9') {
                p++;
                continue;
            }
            value_done(j);
            continue;
        default:
            break;
        }

        /* structural states: whitespace is insignificant */
        if (is_ws((int)c)) {
            p++;
            continue;
        }
        switch (j->state) {
        case JS_VALUE:
            if (begin_value(j, (int)c) < 0)
                goto bad;
            break;
        case JS_VALUE_OR_CLOSE:
            if (c == ']')
                pop(j);
            else if (begin_value(j, (int)c) < 0)
                goto bad;
            break;
        case JS_KEY_OR_CLOSE:
            if (c == '}')
                pop(j);
            else if (c == '"')
                begin_key(j);
            else
                goto bad;
            break;
        case JS_KEY:
            if (c != '"')
                goto bad;
            begin_key(j);
            break;
        case JS_COLON:
            if (c != ':')
                goto bad;
            j->state = JS_VALUE;
            break;
        case JS_AFTER: {
            char top = j->stack[j->depth - 1];
            if (c == ',')
                j->state = top == 'o' ? JS_KEY : JS_VALUE;
            else if ((c == '}' && top == 'o') || (c == ']' && top == 'a'))
                pop(j);
            else
                goto bad;
            break;
        }
        default: /* JS_DONE: only whitespace may follow */
            goto bad;
        }
        p++;
    }
    return 0;
bad:
    j->state = JS_ERROR;
    return -1;
}

/* Outcome of a complete body: HTTP status, and the record count for 200. */
static int js_status(const struct jscan *j, uint64_t body_bytes)
{
    if (body_bytes == 0)
        return 422;
    if (j->state != JS_DONE || j->bad_type)
        return 400;
    if (j->unknown_field || j->records_state != REC_ARRAY || j->count == 0)
        return 422;
    return 200;
}

/* ------------------------------------------------------------------ */
/* Topics and statistics.                                              */

struct topic {
    struct topic *next;
    uint64_t next_offset, requests, records;
    char name[];
};

static struct topic *topics[64];
static unsigned ntopics;

static struct {
    uint64_t requests, records, bytes; /* accepted produce requests */
    uint64_t rejected;                 /* answers other than 2xx */
    uint64_t http_requests, connections;
} st;

static struct topic *topic_get(const char *name, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)name[i]) * 16777619u;
    struct topic **slot = &topics[h % 64];
    for (struct topic *t = *slot; t != NULL; t = t->next)
        if (strlen(t->name) == n && memcmp(t->name, name, n) == 0)
            return t;
    struct topic *t = xrealloc(NULL, sizeof *t + n + 1);
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, n);
    t->name[n] = '\0';
    t->next = *slot;
    *slot = t;
    ntopics++;
    return t;
}

/* Kafka's rule: [a-zA-Z0-9._-]{1,249}, not "." or "..". */
static int topic_valid(const char *s, size_t n)
{
    if (n == 0 || n > 249 || (n == 1 && s[0] == '.') ||
        (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static void stats_json(struct buf *b)
{
    buf_str(b, "{\"requests\":");
    buf_u64(b, st.requests);
    buf_str(b, ",\"records\":");
    buf_u64(b, st.records);
    buf_str(b, ",\"bytes\":");
    buf_u64(b, st.bytes);
    buf_str(b, ",\"rejected\":");
    buf_u64(b, st.rejected);
    buf_str(b, ",\"http_requests\":");
    buf_u64(b, st.http_requests);
    buf_str(b, ",\"connections\":");
    buf_u64(b, st.connections);
    buf_str(b, ",\"by_topic\":{");
    int first = 1;
    for (int i = 0; i < 64; i++) {
        for (struct topic *t = topics[i]; t != NULL; t = t->next) {
            /* names are validated, so they need no escaping */
            buf_str(b, first ? "\"" : ",\"");
            first = 0;
            buf_str(b, t->name);
            buf_str(b, "\":{\"requests\":");
            buf_u64(b, t->requests);
            buf_str(b, ",\"records\":");
            buf_u64(b, t->records);
            buf_str(b, "}");
        }
    }
    buf_str(b, "}}\n");
}

static void write_file_atomic(const char *path, const char *data, size_t n)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >=
        (int)sizeof tmp)
        die("path too long: %s", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fwrite(data, 1, n, f) != n || fclose(f) != 0)
        die("cannot write %s: %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0)
        die("cannot rename %s: %s", tmp, strerror(errno));
}

/* ------------------------------------------------------------------ */
/* HTTP connections.                                                   */

enum phase { P_HEAD, P_BODY_LEN, P_BODY_CHUNKED };
enum route { R_NOT_FOUND, R_PRODUCE, R_TOPICS, R_STATS, R_ROOT, R_BAD_METHOD };
enum chunk_state { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR,
                   CH_DATA_LF, CH_TRAILER, CH_TRAILER_LINE };

struct conn {
    int fd;
    enum phase phase;
    char *in;
    size_t in_off, in_len;
    struct buf out;
    size_t out_off;
    int close_after;   /* close once the output is sent */
    int epoll_out;     /* EPOLLOUT registered */
    int reading;       /* EPOLLIN registered */
    int held;          /* the answer waits until release_ms (--delay-ms) */
    uint64_t release_ms;
    struct conn *held_next;
    /* the current request */
    enum route route;
    struct topic *topic;
    int keep_alive;
    int status;        /* error decided from the headers, else 0 */
    uint64_t remaining; /* Content-Length left, or chunk bytes left */
    uint64_t body_bytes;
    enum chunk_state ch;
    int ch_digits;
    int trailer_empty;
    struct jscan js;
};

static int epfd;
static uint64_t delay_ms;       /* --delay-ms */
static struct conn *held_head;  /* connections whose answer waits */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Holds c's answer for delay_ms: nothing is sent or read meanwhile. */
static void hold(struct conn *c)
{
    c->held = 1;
    c->release_ms = now_ms() + delay_ms;
    c->held_next = held_head;
    held_head = c;
}

static void unhold(struct conn *c)
{
    for (struct conn **pp = &held_head; *pp != NULL; pp = &(*pp)->held_next)
        if (*pp == c) {
            *pp = c->held_next;
            break;
        }
    c->held = 0;
    c->held_next = NULL;
}

/* Milliseconds epoll_wait may sleep: until the first held answer is due. */
static int wait_timeout(void)
{
    uint64_t now = now_ms(), first = UINT64_MAX;
    for (struct conn *c = held_head; c != NULL; c = c->held_next)
        if (c->release_ms < first)
            first = c->release_ms;
    if (first == UINT64_MAX)
        return -1;
    return first <= now ? 0 : (int)(first - now);
}
static uint64_t max_body = 256ull * 1024 * 1024;
static struct buf scratch;

static void set_events(struct conn *c)
{
    int want_out = !c->held && c->out.len > c->out_off;
    int want_in = !c->held && !c->close_after && c->out.len - c->out_off < OUT_HIGH &&
                  !(c->in_off == 0 && c->in_len == IN_CAP);
    if (want_out == c->epoll_out && want_in == c->reading)
        return;
    struct epoll_event ev = {.events = (want_in ? EPOLLIN : 0u) |
                                       (want_out ? EPOLLOUT : 0u),
                             .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));
    c->epoll_out = want_out;
    c->reading = want_in;
}

static void conn_close(struct conn *c)
{
    if (c->held)
        unhold(c);
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out.p);
    free(c);
}

static const char *reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* Queues one response; body is JSON. */
static void respond(struct conn *c, int status, const char *body, size_t n)
{
    char head[256];
    st.http_requests++;
    if (status >= 300)
        st.rejected++;
    int len = snprintf(head, sizeof head,
                       "HTTP/1.1 %d %s\r\n"
                       "Content-Type: application/vnd.kafka.v2+json\r\n"
                       "Content-Length: %zu\r\n%s\r\n",
                       status, reason(status), n,
                       c->keep_alive ? "" : "Connection: close\r\n");
    buf_add(&c->out, head, (size_t)len);
    buf_add(&c->out, body, n);
    if (!c->keep_alive)
        c->close_after = 1;
}

static void respond_error(struct conn *c, int status, const char *msg)
{
    scratch.len = 0;
    buf_str(&scratch, "{\"error_code\":");
    buf_u64(&scratch, (uint64_t)status);
    buf_str(&scratch, ",\"message\":\"");
    buf_str(&scratch, msg); /* fixed texts without quotes */
    buf_str(&scratch, "\"}");
    respond(c, status, scratch.p, scratch.len);
}

/* The body (if any) is complete: answer the request. */
static void finish_request(struct conn *c)
{
    c->phase = P_HEAD;
    if (c->status != 0) {
        respond_error(c, c->status, reason(c->status));
        return;
    }
    switch (c->route) {
    case R_PRODUCE: {
        int status = js_status(&c->js, c->body_bytes);
        if (status != 200) {
            respond_error(c, status,
                          status == 400 ? "Bad Request: broken JSON or wrong type"
                                        : "Unprocessable Entity: no records or unknown field");
            return;
        }
        struct topic *t = c->topic;
        uint64_t n = c->js.count;
        scratch.len = 0;
        buf_reserve(&scratch, n * 64 + 64);
        buf_str(&scratch, "{\"offsets\":[");
        for (uint64_t i = 0; i < n; i++) {
            buf_str(&scratch, i ? ",{\"partition\":0,\"offset\":"
                                : "{\"partition\":0,\"offset\":");
            buf_u64(&scratch, t->next_offset++);
            buf_str(&scratch, ",\"error_code\":null,\"error\":null}");
        }
        buf_str(&scratch, "],\"key_schema_id\":null,\"value_schema_id\":null}");
        t->requests++;
        t->records += n;
        st.requests++;
        st.records += n;
        st.bytes += c->body_bytes;
        respond(c, 200, scratch.p, scratch.len);
        if (delay_ms > 0)
            hold(c);
        return;
    }
    case R_TOPICS:
        respond(c, 200, "[]", 2);
        return;
    case R_ROOT:
        respond(c, 200, "{}", 2);
        return;
    case R_STATS:
        scratch.len = 0;
        stats_json(&scratch);
        respond(c, 200, scratch.p, scratch.len);
        return;
    case R_BAD_METHOD:
        respond_error(c, 405, "HTTP 405 Method Not Allowed");
        return;
    default:
        respond_error(c, 404, "HTTP 404 Not Found");
        return;
    }
}

/* Body bytes of the current request. */
static void body_data(struct conn *c, const char *p, size_t n)
{
    c->body_bytes += n;
    if (c->status == 0 && c->route == R_PRODUCE)
        js_feed(&c->js, (const unsigned char *)p, n);
}

static int ieq(const char *a, size_t an, const char *b)
{
    return strlen(b) == an && strncasecmp(a, b, an) == 0;
}

/* Does the comma-separated header value contain token tok? */
static int has_token(const char *v, size_t n, const char *tok)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e > s && ieq(v + s, e - s, tok))
            return 1;
    }
    return 0;
}

static void route_target(struct conn *c, const char *m, size_t mn,
                         const char *t, size_t tn)
{
    int get = ieq(m, mn, "GET"), post = ieq(m, mn, "POST");
    const char *q = memchr(t, '?', tn);
    if (q != NULL)
        tn = (size_t)(q - t);
    c->route = R_NOT_FOUND;
    if (tn == 1 && t[0] == '/') {
        c->route = get ? R_ROOT : R_BAD_METHOD;
        return;
    }
    if (tn >= 7 && memcmp(t + tn - 7, "/_stats", 7) == 0) {
        c->route = get ? R_STATS : R_BAD_METHOD;
        return;
    }
    if (tn >= 7 && memcmp(t + tn - 7, "/topics", 7) == 0) {
        c->route = get ? R_TOPICS : R_BAD_METHOD;
        return;
    }
    /* .../topics/<topic>: the last path segment after "/topics/" */
    const char *slash = memrchr(t, '/', tn);
    if (slash == NULL || slash - t < 7 || memcmp(slash - 7, "/topics", 7) != 0)
        return;
    const char *name = slash + 1;
    size_t nn = tn - (size_t)(name - t);
    if (!topic_valid(name, nn))
        return;
    if (!post) {
        c->route = R_BAD_METHOD;
        return;
    }
    c->route = R_PRODUCE;
    c->topic = topic_get(name, nn);
}

/* Parses the head in c->in[c->in_off .. end) (end excludes the blank
 * line).  Sets up the body phase.  Returns 0, or -1 when the connection
 * must close after an error answer. */
static int parse_head(struct conn *c, const char *h, size_t n)
{
    const char *eol = memmem(h, n, "\r\n", 2);
    const char *line_end = eol ? eol : h + n;
    const char *sp1 = memchr(h, ' ', (size_t)(line_end - h));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;

    c->status = 0;
    c->keep_alive = 1;
    c->body_bytes = 0;
    c->remaining = 0;
    c->topic = NULL;
    js_init(&c->js);
    if (sp1 == NULL || sp2 == NULL || sp1 == h || sp2 == sp1 + 1) {
        c->keep_alive = 0;
        respond_error(c, 400, "Bad Request: request line");
        return -1;
    }
    const char *ver = sp2 + 1;
    size_t vn = (size_t)(line_end - ver);
    if (vn == 8 && memcmp(ver, "HTTP/1.1", 8) == 0) {
        c->keep_alive = 1;
    } else if (vn == 8 && memcmp(ver, "HTTP/1.0", 8) == 0) {
        c->keep_alive = 0;
    } else {
        c->keep_alive = 0;
        respond_error(c, 505, "HTTP Version Not Supported");
        return -1;
    }
    route_target(c, h, (size_t)(sp1 - h), sp1 + 1, (size_t)(sp2 - sp1 - 1));

    int have_len = 0, chunked = 0, expect = 0, ctype_ok = 0;
    uint64_t clen = 0;
    const char *p = eol ? eol + 2 : h + n;
    const char *end = h + n;
    while (p < end) {
        const char *le = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (le == NULL)
            le = end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon == NULL || colon == p) {
            c->keep_alive = 0;
            respond_error(c, 400, "Bad Request: header line");
            return -1;
        }
        const char *v = colon + 1, *ve = le;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t name_n = (size_t)(colon - p), vn2 = (size_t)(ve - v);
        if (ieq(p, name_n, "content-length")) {
            uint64_t x = 0;
            if (vn2 == 0 || vn2 > 18)
                goto bad_len;
            for (size_t i = 0; i < vn2; i++) {
                if (v[i] < '0' || v[i] > '9')
                    goto bad_len;
                x = x * 10 + (uint64_t)(v[i] - '0');
            }
            if (have_len && x != clen)
                goto bad_len;
            have_len = 1;
            clen = x;
        } else if (ieq(p, name_n, "transfer-encoding")) {
            /* chunked must be the last coding; others we cannot decode */
            if (ieq(v, vn2, "chunked")) {
                chunked = 1;
            } else {
                c->keep_alive = 0;
                respond_error(c, 501, "Not Implemented: transfer coding");
                return -1;
            }
        } else if (ieq(p, name_n, "connection")) {
            if (has_token(v, vn2, "close"))
                c->keep_alive = 0;
            else if (has_token(v, vn2, "keep-alive"))
                c->keep_alive = 1;
        } else if (ieq(p, name_n, "expect")) {
            expect = ieq(v, vn2, "100-continue");
        } else if (ieq(p, name_n, "content-type")) {
            /* type/subtype only; parameters such as charset are fine */
            size_t tn = 0;
            while (tn < vn2 && v[tn] != ';' && v[tn] != ' ' && v[tn] != '\t')
                tn++;
            ctype_ok = ieq(v, tn, "application/vnd.kafka.json.v2+json");
        }
        p = le + 2;
    }

    if (c->route == R_PRODUCE && !ctype_ok)
        c->status = 415;
    if (chunked) {
        if (have_len)
            c->keep_alive = 0; /* ambiguous framing: answer, then close */
        c->phase = P_BODY_CHUNKED;
        c->ch = CH_SIZE;
        c->ch_digits = 0;
        c->remaining = 0;
    } else if (have_len && clen > 0) {
        c->phase = P_BODY_LEN;
        c->remaining = clen;
    } else {
        if (c->route == R_PRODUCE && !have_len && c->status == 0)
            c->status = 411;
        finish_request(c);
        return 0;
    }
    if (clen > max_body) {
        c->keep_alive = 0;
        respond_error(c, 413, "Payload Too Large");
        return -1;
    }
    if (expect)
        buf_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
    return 0;
bad_len:
    c->keep_alive = 0;
    respond_error(c, 400, "Bad Request: Content-Length");
    return -1;
}

/* Consumes chunked framing from p[0..n); returns bytes used, or -1. */
static long chunked_feed(struct conn *c, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && c->phase == P_BODY_CHUNKED) {
        char ch = p[i];
        switch (c->ch) {
        case CH_SIZE: {
            int v = -1;
            if (ch >= '0' && ch <= '9')
                v = ch - '0';
            else if (ch >= 'a' && ch <= 'f')
                v = ch - 'a' + 10;
            else if (ch >= 'A' && ch <= 'F')
                v = ch - 'A' + 10;
            if (v >= 0) {
                if (++c->ch_digits > 15)
                    return -1;
                c->remaining = c->remaining * 16 + (uint64_t)v;
            } else if (c->ch_digits > 0 && (ch == ';' || ch == ' ' || ch == '\t')) {
                c->ch = CH_EXT;
            } else if (c->ch_digits > 0 && ch == '\r') {
                c->ch = CH_SIZE_LF;
            } else {
                return -1;
            }
            i++;
            break;
        }
        case CH_EXT:
            if (ch == '\r')
                c->ch = CH_SIZE_LF;
            i++;
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                return -1;
            i++;
            if (c->remaining == 0) {
                c->ch = CH_TRAILER;
                c->trailer_empty = 1;
            } else {
                if (c->body_bytes + c->remaining > max_body)
                    return -1;
                c->ch = CH_DATA;
            }
            break;
        case CH_DATA: {
            size_t take = n - i;
            if (take > c->remaining)
                take = (size_t)c->remaining;
            body_data(c, p + i, take);
            i += take;
            c->remaining -= take;
            if (c->remaining == 0)
                c->ch = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (ch != '\r')
                return -1;
            c->ch = CH_DATA_LF;
            i++;
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                return -1;
            c->ch = CH_SIZE;
            c->ch_digits = 0;
            i++;
            break;
        case CH_TRAILER: /* start of a trailer line (or the final CRLF) */
        case CH_TRAILER_LINE:
            if (ch == '\r') {
                i++;
                break;
            }
            if (ch == '\n') {
                i++;
                if (c->ch == CH_TRAILER) {
                    finish_request(c); /* empty line: body complete */
                    break;
                }
                c->ch = CH_TRAILER;
                break;
            }
            c->ch = CH_TRAILER_LINE;
            i++;
            break;
        }
    }
    return (long)i;
}

/* Handles the buffered input; returns -1 when the connection must close
 * right away (after flushing what is queued). */
static int process(struct conn *c)
{
    while (c->in_off < c->in_len && !c->close_after && !c->held &&
           c->out.len - c->out_off < OUT_HIGH) {
        char *p = c->in + c->in_off;
        size_t n = c->in_len - c->in_off;
        if (c->phase == P_HEAD) {
            /* tolerate blank lines between requests (RFC 9112 2.2) */
            if (p[0] == '\r' || p[0] == '\n') {
                c->in_off++;
                continue;
            }
            char *e = memmem(p, n, "\r\n\r\n", 4);
            if (e == NULL) {
                if (c->in_off == 0 && c->in_len == IN_CAP) {
                    c->keep_alive = 0;
                    respond_error(c, 431, "Request Header Fields Too Large");
                    return -1;
                }
                return 0; /* need more */
            }
            c->in_off += (size_t)(e - p) + 4;
            if (parse_head(c, p, (size_t)(e - p)) < 0)
                return -1;
        } else if (c->phase == P_BODY_LEN) {
            size_t take = n < c->remaining ? n : (size_t)c->remaining;
            body_data(c, p, take);
            c->in_off += take;
            c->remaining -= take;
            if (c->remaining == 0)
                finish_request(c);
        } else {
            long used = chunked_feed(c, p, n);
            if (used < 0) {
                c->keep_alive = 0;
                respond_error(c, 400, "Bad Request: chunked framing");
                return -1;
            }
            c->in_off += (size_t)used;
        }
    }
    return 0;
}

/* Sends queued output.  -1: the peer is gone. */
static int flush_out(struct conn *c)
{
    if (c->held)
        return 0;
    while (c->out_off < c->out.len) {
        ssize_t w = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off,
                         MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->out_off += (size_t)w;
    }
    c->out.len = c->out_off = 0;
    return 0;
}

static void on_readable(struct conn *c)
{
    if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    if (c->in_len == IN_CAP) { /* full: wait until process() consumes */
        set_events(c);
        return;
    }
    ssize_t r = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(c);
        return;
    }
    if (r > 0)
        c->in_len += (size_t)r;
    if (process(c) < 0)
        c->close_after = 1;
    if (flush_out(c) < 0 || (c->close_after && c->out.len == 0)) {
        conn_close(c);
        return;
    }
    set_events(c);
}

static void on_writable(struct conn *c)
{
    if (flush_out(c) < 0 || (c->close_after && c->out.len == 0)) {
        conn_close(c);
        return;
    }
    /* output drained below the mark: handle input already buffered */
    if (process(c) < 0)
        c->close_after = 1;
    if (flush_out(c) < 0 || (c->close_after && c->out.len == 0)) {
        conn_close(c);
        return;
    }
    set_events(c);
}

/* Sends the held answers that are due, then reads on as usual. */
static void release_due(void)
{
    uint64_t now = now_ms();
    struct conn *due = NULL;
    struct conn **pp = &held_head;
    while (*pp != NULL) {
        struct conn *c = *pp;
        if (c->release_ms <= now) {
            *pp = c->held_next;
            c->held_next = due;
            due = c;
        } else {
            pp = &c->held_next;
        }
    }
    while (due != NULL) {
        struct conn *c = due;
        due = c->held_next;
        c->held = 0;
        c->held_next = NULL;
        on_writable(c); /* may hold c again, or close it */
    }
}

static void on_accept(int lfd)
{
    for (int i = 0; i < 64; i++) { /* bounded: the rest on the next round */
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                fprintf(stderr, "sink: accept: %s\n", strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = xrealloc(NULL, sizeof *c);
        memset(c, 0, offsetof(struct conn, js));
        c->fd = fd;
        c->in = xrealloc(NULL, IN_CAP);
        c->phase = P_HEAD;
        c->reading = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
            die("epoll_ctl: %s", strerror(errno));
        st.connections++;
    }
}

static void usage(void)
{
    fputs("usage: sink [--port N] [--port-file FILE] [--stats FILE] "
          "[--max-body BYTES] [--delay-ms N]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"port-file", required_argument, NULL, 'f'},
        {"stats", required_argument, NULL, 's'},
        {"max-body", required_argument, NULL, 'm'},
        {"delay-ms", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *port_file = NULL, *stats_file = NULL;
    long port = 0;
    int o;
    while ((o = getopt_long(argc, argv, "p:f:s:m:d:h", opts, NULL)) != -1) {
        char *end;
        switch (o) {
        case 'p':
            port = strtol(optarg, &end, 10);
            if (*end != '\0' || port < 0 || port > 65535)
                usage();
            break;
        case 'f':
            port_file = optarg;
            break;
        case 's':
            stats_file = optarg;
            break;
        case 'm':
            max_body = strtoull(optarg, &end, 10);
            if (*end != '\0' || max_body == 0)
                usage();
            break;
        case 'd':
            delay_ms = strtoull(optarg, &end, 10);
            if (*end != '\0' || optarg[0] == '-' || delay_ms > 600000)
                usage();
            break;
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();
    js_tables();

    /* SIGTERM/SIGINT arrive through a signalfd in the event loop */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
        die("sigprocmask: %s", strerror(errno));
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        die("signalfd: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("bind 127.0.0.1:%ld: %s", port, strerror(errno));
    if (listen(lfd, 1024) != 0)
        die("listen: %s", strerror(errno));
    socklen_t sl = sizeof sa;
    if (getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0)
        die("getsockname: %s", strerror(errno));
    if (port_file != NULL) {
        char tmp[16];
        int n = snprintf(tmp, sizeof tmp, "%u\n", (unsigned)ntohs(sa.sin_port));
        write_file_atomic(port_file, tmp, (size_t)n);
    }

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1: %s", strerror(errno));
    /* the listening socket and the signalfd are told apart by data.ptr */
    static int lfd_tag, sfd_tag;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &lfd_tag};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));
    ev.data.ptr = &sfd_tag;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));

    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, evs, MAX_EVENTS, wait_timeout());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &lfd_tag) {
                on_accept(lfd);
            } else if (tag == &sfd_tag) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si)
                    continue;
                if (stats_file != NULL) {
                    scratch.len = 0;
                    stats_json(&scratch);
                    write_file_atomic(stats_file, scratch.p, scratch.len);
                }
                return 0;
            } else {
                struct conn *c = tag;
                uint32_t e = evs[i].events;
                if (e & (EPOLLERR | EPOLLHUP) && !(e & EPOLLIN)) {
                    conn_close(c);
                } else if (e & EPOLLOUT) {
                    on_writable(c);
                } else {
                    on_readable(c);
                }
            }
        }
        if (held_head != NULL)
            release_due();
    }
}
