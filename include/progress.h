/* SPDX-License-Identifier: MIT
 * progress.h - the progress line on a terminal: one for all the units of
 * a pass, their rows summed.  Every function may be called from any
 * sender thread. */
#ifndef PINEMIT_PROGRESS_H
#define PINEMIT_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deliver.h"

/* What one unit has already counted toward the line (its own; not
 * shared between threads). */
struct pe_progress_share {
    long long shown_done, shown_retries;
    long shown_window;
};

/* A pass begins; on: draw at all.  label: the unit's name, or "3
 * streams".  expect: the units that start at once (their totals come
 * first: no line before). */
void pe_progress_start(bool on, const char *label, size_t expect);
/* Is the line drawn in this pass? */
bool pe_progress_on(void);
/* Adds a unit's rows to send (-1: it could not count them; 0 and
 * counted false: it ended before it could count). */
void pe_progress_total(int64_t n, bool counted);
/* A unit has done `done` rows and `retries` retries in all: adds what it
 * did since it last reported, and redraws if it is time. */
void pe_progress_update(struct pe_progress_share *sh, long long done,
                        long long retries);
/* A unit's window is now `window` requests (0 when it ends): the line
 * shows the sum over the units running. */
void pe_progress_window(struct pe_progress_share *sh, long window);
/* The pass is over: the final line, ending in a newline. */
void pe_progress_finish(void);
/* Writes a whole line without tearing the progress line. */
void pe_progress_print(const char *text, size_t len);
/* The word for n things: "1 row", "2 rows", "0 rows". */
const char *pe_plural(long long n, const char *one, const char *many);

/* What a unit's end-of-stream summary says; all borrowed. */
struct pe_summary {
    const char *unit, *topic;
    bool replay, dry_run, quiet;
    struct pe_send_stats stats;
    const char *checkpoint; /* NULL: none */
};
/* The summary line: on a terminal (unless quiet) or with -v, never
 * otherwise; one JSON object with --log-format json. */
void pe_summary_log(const struct pe_summary *s, double secs);

#endif
