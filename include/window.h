/* SPDX-License-Identifier: MIT
 * window.h - a unit's window of batches in flight, as numbers only: which
 * are acknowledged from the oldest on (a cumulative acknowledgement: the
 * checkpoint moves over those only), the bytes not yet acknowledged, and
 * how many may be open at once (adaptive: additive increase,
 * multiplicative decrease between 1 and the configured maximum).  Pure:
 * no threads, no I/O, no clock; the caller locks and measures. */
#ifndef PINEMIT_WINDOW_H
#define PINEMIT_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest sink.max_in_flight. */
#define PE_WINDOW_MAX 64
/* Where the window starts (at most sink.max_in_flight): a short run
 * spends no round trips ramping up, and the first sign of trouble halves
 * it as any other time. */
#define PE_WINDOW_START 4

struct pe_window {
    uint64_t base; /* sequence number of the oldest batch not popped */
    uint64_t next; /* of the next batch opened */
    bool acked[PE_WINDOW_MAX];     /* by sequence number % PE_WINDOW_MAX */
    size_t size_of[PE_WINDOW_MAX]; /* bytes, likewise */
    size_t bytes;                  /* of the batches open (not popped) */
    size_t max_bytes;              /* sink.max_in_flight_bytes */
    long max;                      /* sink.max_in_flight */
    long limit;                    /* the current window, 1..max */
    long good;        /* clean answers since the limit last changed */
    bool slow_start;  /* no congestion seen yet: grow per answer */
    bool limited;     /* a batch waited for room since the last growth */
    double rtt_ms;    /* smoothed round trip of clean answers; 0: none */
    double base_rtt_ms; /* the fastest clean answer's; 0: none */
    long measured;      /* clean answers seen, up to PE_WINDOW_START */
    double gap_ms;      /* mean time the unit takes to make a batch */
    long gaps;          /* batches that mean is over; 0: none yet */
    uint64_t recover; /* batches numbered below were opened before the
                         last decrease */
};

/* max is clamped to 1..PE_WINDOW_MAX.  The window starts at
 * min(PE_WINDOW_START, max). */
void pe_window_init(struct pe_window *w, long max, size_t max_bytes);
/* Batches open: sent and not yet popped (acknowledged or not). */
size_t pe_window_open_count(const struct pe_window *w);
/* May a batch of `size` bytes be opened now?  Below the current limit and
 * within the byte budget; a batch alone always may (one over the budget
 * goes by itself). */
bool pe_window_room(const struct pe_window *w, size_t size);
/* Opens a batch: its sequence number.  Only when pe_window_room. */
uint64_t pe_window_open(struct pe_window *w, size_t size);
/* Marks open batch seq acknowledged (in any order). */
void pe_window_ack(struct pe_window *w, uint64_t seq);
/* Pops the oldest open batch when it is acknowledged: true and its
 * number in *seq; false when it is not (or none is open). */
bool pe_window_pop(struct pe_window *w, uint64_t *seq);
/* Forgets every open batch (after a failure: they are sent again from
 * the checkpoint); keeps the limit and what it learnt. */
void pe_window_clear(struct pe_window *w);
/* A batch had to wait for room: the window, not the reading, is what
 * holds the unit back. */
void pe_window_note_limited(struct pe_window *w);
/* The unit took ms (reading and encoding, not waiting for room) to make
 * its last batch: the window grows no further than a round trip's worth
 * of batches plus one (Little's law: more would wait, not fill the
 * pipe). */
void pe_window_note_gap(struct pe_window *w, double ms);
/* The lesson of batch seq's answer: congested (a 429, a 503, a timeout,
 * any retry) or a round trip well above the smoothed one (twice, and
 * 20 ms) halves the limit.  The first PE_WINDOW_START clean answers
 * only measure the round trip; after them, if batches waited for room,
 * the limit leaps to what the pipe holds (the fastest round trip's worth
 * of batches at the unit's pace, plus one, at most max).  Later clean
 * answers whose round trip
 * stayed flat (within half the fastest one seen, and 1 ms: as TCP Vegas,
 * more in flight did not make each wait longer) grow it: by one per answer until
 * the first congestion, then by one per window of them; and only while
 * the window is what holds the unit back (a batch waited for room since
 * the last growth: as TCP does not grow a window the sender does not
 * fill, RFC 7661) and the pipe holds more (pe_window_note_gap).  So a
 * sink that answers at once, or a machine that is itself the limit,
 * keeps a small window and its memory.  The answer of
 * a batch opened before the last decrease is ignored: one overfull
 * flight halves the limit once (as TCP reduces once per round trip, RFC
 * 6582).  Returns the new limit. */
long pe_window_feedback(struct pe_window *w, uint64_t seq, double rtt_ms,
                        bool congested);

#endif
