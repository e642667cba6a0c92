/* SPDX-License-Identifier: MIT
 * progress.c - owns the progress meter (its lock, its figures, the line
 * it draws on stderr).  It counts rows; it must not know streams,
 * batches or sinks. */
#include "progress.h"

#include <pthread.h>
#include <stdio.h>

#include "log.h"
#include "util.h"

/* The progress line on a terminal: one for all the units of a pass,
 * their rows summed, redrawn at most 4 times a second: rows sent of rows
 * to send, rate, ETA, retries.  Senders running at once share it. */
static struct {
    pthread_mutex_t mu;
    bool on;
    char label[64]; /* the unit's name, or "3 streams" */
    int64_t t0_ms, drawn_ms;
    long long done, retries;
    long window; /* the running units' windows, summed */
    int64_t total; /* rows the units started so far have to send; -1
                    * when one of them could not count */
    size_t counting; /* first units yet to count: no line before */
    bool shown;      /* an unfinished line is on the screen */
} meter = {.mu = PTHREAD_MUTEX_INITIALIZER};

void pe_progress_start(bool on, const char *label, size_t expect)
{
    pthread_mutex_lock(&meter.mu);
    meter.on = on;
    meter.counting = expect;
    snprintf(meter.label, sizeof(meter.label), "%s", label);
    meter.t0_ms = pe_now_mono_ms();
    meter.drawn_ms = 0;
    meter.done = meter.retries = 0;
    meter.window = 0;
    meter.total = 0;
    meter.shown = false;
    pthread_mutex_unlock(&meter.mu);
}

/* Draws the line; meter.mu is held. */
static void meter_draw(bool last)
{
    int64_t now = pe_now_mono_ms();
    double secs = (double)(now - meter.t0_ms) / 1000.0;
    long long done = meter.done;
    double rate = secs > 0 ? (double)done / secs : 0;
    char bar[21], eta[32] = "", win[40] = "";
    struct pe_buf line;
    int fill = 0;

    meter.drawn_ms = now;
    if (meter.total > 0) {
        fill = (int)(20 * (done < meter.total ? done : meter.total) /
                     meter.total);
        if (rate > 0 && done < meter.total)
            snprintf(eta, sizeof(eta), ", ETA %.0f s",
                     (double)(meter.total - done) / rate);
    }
    if (meter.window > 0)
        snprintf(win, sizeof(win), ", window %ld", meter.window);
    for (int i = 0; i < 20; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[20] = '\0';
    pe_buf_init(&line, 0);
    if (meter.total >= 0)
        pe_buf_printf(&line, "\r\033[K%s [%s] %lld/%lld rows, %.0f rows/s%s, "
                             "%lld retries%s%s",
                      meter.label, bar, done, (long long)meter.total, rate,
                      eta, meter.retries, win, last ? "\n" : "");
    else
        pe_buf_printf(&line, "\r\033[K%s %lld rows, %.0f rows/s, %lld "
                             "retries%s%s",
                      meter.label, done, rate, meter.retries, win,
                      last ? "\n" : "");
    pe_log_raw(line.data, line.len);
    pe_buf_cleanup(&line);
    meter.shown = !last;
}

void pe_progress_total(int64_t n, bool counted)
{
    pthread_mutex_lock(&meter.mu);
    if (meter.total >= 0 && counted)
        meter.total = n < 0 ? -1 : meter.total + n;
    if (meter.counting > 0)
        meter.counting--;
    pthread_mutex_unlock(&meter.mu);
}

void pe_progress_update(struct pe_progress_share *sh, long long done,
                        long long retries)
{
    pthread_mutex_lock(&meter.mu);
    meter.done += done - sh->shown_done;
    meter.retries += retries - sh->shown_retries;
    sh->shown_done = done;
    sh->shown_retries = retries;
    if (meter.on && meter.counting == 0 &&
        pe_now_mono_ms() - meter.drawn_ms >= 250)
        meter_draw(false);
    pthread_mutex_unlock(&meter.mu);
}

void pe_progress_window(struct pe_progress_share *sh, long window)
{
    pthread_mutex_lock(&meter.mu);
    meter.window += window - sh->shown_window;
    sh->shown_window = window;
    pthread_mutex_unlock(&meter.mu);
}

bool pe_progress_on(void)
{
    bool on;

    pthread_mutex_lock(&meter.mu);
    on = meter.on;
    pthread_mutex_unlock(&meter.mu);
    return on;
}

void pe_progress_finish(void)
{
    pthread_mutex_lock(&meter.mu);
    if (meter.on)
        meter_draw(true);
    meter.on = false;
    pthread_mutex_unlock(&meter.mu);
}

/* Writes a whole line without tearing the progress line: it is cleared
 * first, and drawn again below at the next update. */
void pe_progress_print(const char *text, size_t len)
{
    pthread_mutex_lock(&meter.mu);
    if (meter.shown)
        pe_log_raw("\r\033[K", 4);
    meter.shown = false;
    pe_log_raw(text, len);
    pthread_mutex_unlock(&meter.mu);
}
const char *pe_plural(long long n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* The end-of-stream summary: on a terminal or with -v, never otherwise
 * (a cron run that succeeds stays silent); one JSON object per line with
 * --log-format json. */
void pe_summary_log(const struct pe_summary *r, double secs)
{
    bool want = pe_log_level() >= PE_LOG_INFO ||
                (pe_log_is_tty() && !r->quiet);
    double rate = secs > 0 ? (double)r->stats.records / secs : 0.0;
    struct pe_buf b;

    if (!want)
        return;
    pe_buf_init(&b, 0);
    if (pe_log_format() == PE_LOG_JSON) {
        pe_log_json_open(&b, PE_LOG_INFO);
        pe_buf_puts(&b, ",\"event\":\"summary\",\"command\":");
        pe_buf_json_string(&b, r->replay ? "replay" : "run");
        pe_buf_puts(&b, ",\"stream\":");
        pe_buf_json_string(&b, r->unit);
        pe_buf_puts(&b, ",\"topic\":");
        pe_buf_json_string(&b, r->topic);
        pe_buf_printf(&b,
                      ",\"dry_run\":%s,\"rows\":%lld,\"requests\":%lld,"
                      "\"bytes\":%lld,\"retries\":%lld,\"dead_letters\":%lld,"
                      "\"window\":%lld,\"elapsed_s\":%.3f,\"rows_per_s\":%.1f,"
                      "\"checkpoint\":",
                      r->dry_run ? "true" : "false", r->stats.records,
                      r->stats.requests, r->stats.bytes, r->stats.retries,
                      r->stats.dead, r->stats.window, secs, rate);
        if (r->checkpoint != NULL && !r->replay)
            pe_buf_json_string(&b, r->checkpoint);
        else
            pe_buf_puts(&b, "null");
        pe_buf_puts(&b, "}\n");
    } else {
        const struct pe_send_stats *t = &r->stats;

        pe_buf_printf(&b,
                      "pinemit: stream %s: %s %lld %s in %lld %s (%lld %s) "
                      "to topic %s; %lld %s; %lld %s; checkpoint %s; %.2f s, "
                      "%.0f rows/s\n",
                      r->unit,
                      r->dry_run ? "would send"
                      : r->replay   ? "replayed"
                                    : "sent",
                      t->records, pe_plural(t->records, "row", "rows"),
                      t->requests,
                      pe_plural(t->requests, "request", "requests"),
                      t->bytes, pe_plural(t->bytes, "byte", "bytes"), r->topic,
                      t->retries, pe_plural(t->retries, "retry", "retries"),
                      t->dead,
                      pe_plural(t->dead, "dead letter", "dead letters"),
                      r->replay        ? "(unchanged)"
                      : r->checkpoint   ? r->checkpoint
                                       : "(none)",
                      secs, rate);
    }
    pe_progress_print(b.data, b.len);
    pe_buf_cleanup(&b);
}
