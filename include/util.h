/* SPDX-License-Identifier: MIT
 * util.h - status codes, the error record, a capped growable buffer and
 * allocation helpers shared by every module. */
#ifndef PINEMIT_UTIL_H
#define PINEMIT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every fallible function returns one of these; main.c maps them to exit
 * codes (see pe_status_exit_code). */
enum pe_status {
    PE_OK = 0,
    PE_ERR_USAGE,     /* bad command line */
    PE_ERR_CONFIG,    /* bad configuration file or value */
    PE_ERR_DB,        /* database unreachable or a query failed */
    PE_ERR_PROXY,     /* the REST proxy refused or could not be reached */
    PE_ERR_IO,        /* local file system */
    PE_ERR_TOO_LARGE, /* a cap was reached (buffer, record, body) */
    PE_ERR_DATA,      /* a value that cannot be encoded */
    PE_ERR_LOCKED,    /* another run holds the lock */
    PE_ERR_INTERRUPTED, /* stopped by a signal */
    PE_ERR_ABORTED,   /* stopped by a limit: max_runtime_s, dead_letter.max */
    PE_DEAD_LETTERED  /* finished, but records went to the dead-letter file */
};

struct pe_error {
    enum pe_status status;
    bool retriable; /* the same operation may succeed if tried again */
    char msg[512];
    /* Optional context for structured logs ("" or 0 when unknown); filled
     * by the delivery path, reset by pe_error_set and pe_error_clear. */
    char stream[96];
    char topic[256];
    long http_status; /* the proxy's answer to the failed request */
    long error_code;  /* the proxy's error_code, or the first record's */
};

/* Fills err (which may be NULL) and returns status, so callers can write
 * `return pe_error_set(err, PE_ERR_IO, false, "...")`. */
enum pe_status pe_error_set(struct pe_error *err, enum pe_status status,
                            bool retriable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prepends "prefix: " to an existing message. */
void pe_error_prefix(struct pe_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pe_error_clear(struct pe_error *err);
int pe_status_exit_code(enum pe_status st);
const char *pe_status_name(enum pe_status st);

/* A growable byte buffer, always NUL-terminated, that refuses to grow past
 * `cap` bytes of content (0 = no cap).  A refused append leaves the buffer
 * unchanged and returns PE_ERR_TOO_LARGE. */
struct pe_buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap;
};

void pe_buf_init(struct pe_buf *b, size_t cap);
void pe_buf_cleanup(struct pe_buf *b);
void pe_buf_reset(struct pe_buf *b); /* len = 0, keeps memory */
enum pe_status pe_buf_append(struct pe_buf *b, const void *p, size_t n);
enum pe_status pe_buf_puts(struct pe_buf *b, const char *s);
enum pe_status pe_buf_printf(struct pe_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Makes room for n more bytes of content (alloc > len + n), or as many as
 * the cap allows, without changing the content. */
void pe_buf_reserve(struct pe_buf *b, size_t n);
/* Cuts the content back to n bytes (n <= len). */
void pe_buf_truncate(struct pe_buf *b, size_t n);

/* Allocation that aborts on out-of-memory: callers never see NULL. */
void *pe_xmalloc(size_t n);
void *pe_xcalloc(size_t n, size_t size);
void *pe_xrealloc(void *p, size_t n);
char *pe_xstrdup(const char *s);
char *pe_xstrndup(const char *s, size_t n);
char *pe_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic and wall clocks in milliseconds. */
int64_t pe_now_mono_ms(void);
/* The same clock with its fraction: for round trips under a millisecond. */
double pe_now_mono_msf(void);
int64_t pe_now_wall_ms(void);

/* Writes all n bytes, retrying on EINTR and short writes; -1 with errno. */
int pe_write_all(int fd, const void *p, size_t n);

/* Appends the standard base64 (with padding) of p[0..n) to b. */
enum pe_status pe_buf_base64(struct pe_buf *b, const void *p, size_t n);

/* UTF-8 for logs.  pe_utf8_sanitize writes s[0..n) to out (size bytes,
 * NUL-terminated) as valid UTF-8: each byte that does not begin a
 * well-formed character (stray continuation, overlong form, surrogate,
 * above U+10FFFF, cut short) becomes U+FFFD; when out is too small it
 * stops before the first character that does not fit.  Returns the length
 * written.  pe_utf8_cut returns n less a character cut short at the end of
 * s[0..n) (after a truncation), so the rest can be kept whole. */
size_t pe_utf8_sanitize(char *out, size_t size, const char *s, size_t n);
size_t pe_utf8_cut(const char *s, size_t n);
/* True when s[0..n) is valid UTF-8. */
bool pe_utf8_valid(const char *s, size_t n);

/* Appends s as a JSON string literal (quotes included) to b. */
enum pe_status pe_buf_json_string(struct pe_buf *b, const char *s);

#endif
