/* SPDX-License-Identifier: MIT
 * log.c - one line per message on stderr, written with a single write(2)
 * so lines from a crash or signal never interleave. */
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static enum pe_log_level cur_level = PE_LOG_WARN;
static enum pe_log_format cur_format = PE_LOG_TEXT;
static int log_fd = STDERR_FILENO;
static char *log_path;

int pe_log_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

    if (fd < 0)
        return -1;
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = fd;
    if (log_path != path) {
        free(log_path);
        log_path = pe_xstrdup(path);
    }
    return 0;
}

int pe_log_reopen(void)
{
    return log_path ? pe_log_open(log_path) : 0;
}

void pe_log_raw(const char *line, size_t len)
{
    char *clean = NULL;

    /* Whatever went into the line (a proxy's body, a key), what comes out
     * is UTF-8; U+FFFD takes at most three times the room of a byte. */
    if (!pe_utf8_valid(line, len)) {
        clean = pe_xmalloc(3 * len + 1);
        len = pe_utf8_sanitize(clean, 3 * len + 1, line, len);
        line = clean;
    }
    if (pe_write_all(log_fd, line, len) != 0) {
        /* Nowhere left to report it. */
    }
    free(clean);
}

int pe_log_is_tty(void)
{
    return isatty(log_fd);
}

void pe_log_setup(enum pe_log_level level, enum pe_log_format format)
{
    cur_level = level;
    cur_format = format;
}

enum pe_log_level pe_log_level(void)
{
    return cur_level;
}

enum pe_log_format pe_log_format(void)
{
    return cur_format;
}

static const char *const level_names[] = {"error", "warning", "info",
                                          "debug"};

void pe_log_json_open(struct pe_buf *b, enum pe_log_level level)
{
    char ts[40];
    struct timespec now;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    pe_buf_printf(b, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\"", ts,
                  now.tv_nsec / 1000000L, level_names[level]);
}

/* One message as one line: text or a JSON object, with err's context as
 * members of their own when err is given. */
static void emit(enum pe_log_level level, const char *msg,
                 const struct pe_error *err)
{
    struct pe_buf line;

    pe_buf_init(&line, 0);
    if (cur_format == PE_LOG_JSON) {
        pe_log_json_open(&line, level);
        pe_buf_puts(&line, ",\"msg\":");
        pe_buf_json_string(&line, msg);
        if (err != NULL && err->stream[0] != '\0') {
            pe_buf_puts(&line, ",\"stream\":");
            pe_buf_json_string(&line, err->stream);
        }
        if (err != NULL && err->topic[0] != '\0') {
            pe_buf_puts(&line, ",\"topic\":");
            pe_buf_json_string(&line, err->topic);
        }
        if (err != NULL && err->http_status != 0)
            pe_buf_printf(&line, ",\"status\":%ld", err->http_status);
        if (err != NULL && err->error_code != 0)
            pe_buf_printf(&line, ",\"error_code\":%ld", err->error_code);
        pe_buf_puts(&line, "}\n");
    } else if (level == PE_LOG_ERROR || level == PE_LOG_WARN) {
        pe_buf_printf(&line, "pinemit: %s%s\n",
                      level == PE_LOG_WARN ? "warning: " : "", msg);
    } else {
        pe_buf_printf(&line, "pinemit: %s\n", msg);
    }
    pe_log_raw(line.data, line.len);
    pe_buf_cleanup(&line);
}

void pe_log(enum pe_log_level level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    int n;

    if (level > cur_level)
        return;
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(msg)) /* truncated: keep characters whole */
        msg[pe_utf8_cut(msg, sizeof(msg) - 1)] = '\0';
    emit(level, msg, NULL);
}

void pe_log_error(enum pe_log_level level, bool always,
                  const struct pe_error *err)
{
    if (level > cur_level && !always)
        return;
    emit(level, err->msg, err);
}
