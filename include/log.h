/* SPDX-License-Identifier: MIT
 * log.h - messages on stderr, as text or one JSON object per line.
 * Only app.c and main.c log; lower modules return errors instead. */
#ifndef PINEMIT_LOG_H
#define PINEMIT_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

enum pe_log_level { PE_LOG_ERROR = 0, PE_LOG_WARN, PE_LOG_INFO, PE_LOG_DEBUG };
enum pe_log_format { PE_LOG_TEXT = 0, PE_LOG_JSON };

/* level: messages above it are dropped.  Default: WARN, text. */
void pe_log_setup(enum pe_log_level level, enum pe_log_format format);
enum pe_log_level pe_log_level(void);
enum pe_log_format pe_log_format(void);
void pe_log(enum pe_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Logs err's message at `level`; with `always`, even when the level is
 * below the threshold (-q keeps the dead-letter line).  As JSON, err's
 * stream, topic, status (HTTP) and error_code are members of their own
 * when known. */
void pe_log_error(enum pe_log_level level, bool always,
                  const struct pe_error *err);
/* Sends messages to `path` (appended) instead of stderr; -1 with errno on
 * failure.  pe_log_reopen opens the same path again (after a rotation). */
int pe_log_open(const char *path);
int pe_log_reopen(void);
/* Starts a JSON log object in b: {"time":"<RFC 3339 UTC, ms>","level":..
 * (the caller adds members and the closing "}\n"). */
void pe_log_json_open(struct pe_buf *b, enum pe_log_level level);
/* Writes one preformatted line (e.g. a JSON summary) where messages go,
 * invalid UTF-8 replaced by U+FFFD. */
void pe_log_raw(const char *line, size_t len);
/* True when messages go to a terminal. */
int pe_log_is_tty(void);

#endif
