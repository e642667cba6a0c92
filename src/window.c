/* SPDX-License-Identifier: MIT
 * window.c - the cumulative acknowledgement and the adaptive limit of a
 * unit's batches in flight.  Owns nothing but numbers: must not know the
 * batches, the threads or the clock. */
#include "window.h"

#include <string.h>

void pe_window_init(struct pe_window *w, long max, size_t max_bytes)
{
    memset(w, 0, sizeof(*w));
    w->max = max < 1 ? 1 : max > PE_WINDOW_MAX ? PE_WINDOW_MAX : max;
    w->max_bytes = max_bytes;
    w->limit = w->max < PE_WINDOW_START ? w->max : PE_WINDOW_START;
    w->slow_start = true;
}

size_t pe_window_open_count(const struct pe_window *w)
{
    return (size_t)(w->next - w->base);
}

bool pe_window_room(const struct pe_window *w, size_t size)
{
    size_t open = pe_window_open_count(w);

    if (open == 0)
        return true;
    return open < (size_t)w->limit && w->bytes + size <= w->max_bytes;
}

uint64_t pe_window_open(struct pe_window *w, size_t size)
{
    uint64_t seq = w->next++;

    w->acked[seq % PE_WINDOW_MAX] = false;
    w->size_of[seq % PE_WINDOW_MAX] = size;
    w->bytes += size;
    return seq;
}

void pe_window_ack(struct pe_window *w, uint64_t seq)
{
    if (seq >= w->base && seq < w->next)
        w->acked[seq % PE_WINDOW_MAX] = true;
}

bool pe_window_pop(struct pe_window *w, uint64_t *seq)
{
    size_t i = (size_t)(w->base % PE_WINDOW_MAX);

    if (w->base == w->next || !w->acked[i])
        return false;
    w->acked[i] = false;
    w->bytes -= w->size_of[i];
    *seq = w->base++;
    return true;
}

void pe_window_note_limited(struct pe_window *w)
{
    w->limited = true;
}

void pe_window_clear(struct pe_window *w)
{
    w->base = w->next;
    w->bytes = 0;
}

void pe_window_note_gap(struct pe_window *w, double ms)
{
    /* The mean over the run: batches come in bursts (a page of rows read
     * at once, then encoded batch by batch); the mean is the pace. */
    w->gaps++;
    w->gap_ms += (ms - w->gap_ms) / (double)w->gaps;
}

/* What a pipe of round trip rtt_ms holds, by Little's law: a round
 * trip's worth of batches at the unit's pace, plus the one being made.
 * Negative while the pace is unknown. */
static double pipe_holds(const struct pe_window *w, double rtt_ms)
{
    if (w->gaps == 0 || w->gap_ms <= 0)
        return -1;
    return rtt_ms / w->gap_ms + 1;
}

/* Would one more batch in flight fill the pipe better?  The round trip
 * counted is the smoothed one, but at most twice the fastest: a round
 * trip swollen by a queue (a stall of the machine, a burst of the unit's
 * own requests) is no longer pipe to fill. */
static bool worth_growing(const struct pe_window *w)
{
    double rtt = w->rtt_ms < 2 * w->base_rtt_ms ? w->rtt_ms
                                                : 2 * w->base_rtt_ms;
    double holds = pipe_holds(w, rtt);

    return holds < 0 || (double)w->limit < holds;
}

/* Latency counts as rising when an answer takes over twice the smoothed
 * round trip and 20 ms more: a sink's own jitter stays below that, a
 * queue building up in front of it does not. */
static bool rising(const struct pe_window *w, double rtt_ms)
{
    return w->rtt_ms > 0 && rtt_ms > 2 * w->rtt_ms + 20;
}

/* Once the first window of answers has measured the pipe, slow start
 * leaps to what it holds, if the stream waited for room: the fastest
 * round trip's worth of batches at the stream's pace, plus one (at most
 * max).  Over a gateway 100 ms away that is the whole window at once,
 * not after three round trips of doubling; a 429 still halves it. */
static void leap(struct pe_window *w)
{
    double fits = pipe_holds(w, w->base_rtt_ms);

    if (!w->slow_start || !w->limited || fits < 0)
        return;
    if (fits > (double)w->max)
        fits = (double)w->max;
    if ((long)fits > w->limit) {
        w->limit = (long)fits;
        w->limited = false;
    }
}

/* A round trip counts as flat within half the fastest one seen, and a
 * millisecond: more requests in flight did not make each one wait
 * longer.  Where the answers are quick and the machine is the limit (a
 * sink on the same host), each request more only queues behind the
 * others, the round trip grows with the window, and growing stops. */
static bool flat(const struct pe_window *w, double rtt_ms)
{
    return rtt_ms <= 1.5 * w->base_rtt_ms + 1;
}

long pe_window_feedback(struct pe_window *w, uint64_t seq, double rtt_ms,
                        bool congested)
{
    /* A batch opened before the last decrease was sent under the old
     * limit: its answer, clean or not, says nothing about the new one.
     * So the batches of one overfull flight halve the limit once, not
     * once each. */
    if (seq < w->recover)
        return w->limit;
    if (congested || rising(w, rtt_ms)) {
        w->limit = w->limit / 2 > 1 ? w->limit / 2 : 1;
        w->good = 0;
        w->slow_start = false;
        w->recover = w->next;
        return w->limit;
    }
    w->rtt_ms = w->rtt_ms > 0 ? 0.8 * w->rtt_ms + 0.2 * rtt_ms : rtt_ms;
    if (w->base_rtt_ms <= 0 || rtt_ms < w->base_rtt_ms)
        w->base_rtt_ms = rtt_ms;
    /* The first window of answers only measures: they went out together
     * on new connections, and the slowest of them says nothing of the
     * pipe. */
    if (w->measured < PE_WINDOW_START) {
        if (++w->measured == PE_WINDOW_START)
            leap(w);
        return w->limit;
    }
    if (!flat(w, rtt_ms))
        return w->limit;
    if (++w->good >= (w->slow_start ? 1 : w->limit) && w->limit < w->max &&
        w->limited && worth_growing(w)) {
        w->limit++;
        w->good = 0;
        w->limited = false;
    }
    return w->limit;
}
