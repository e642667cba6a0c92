/* SPDX-License-Identifier: MIT
 * test_window.c - the cumulative acknowledgement and the adaptive limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "window.h"

/* Opens n batches of `size` bytes, starting the window at its maximum. */
static void open_n(struct pe_window *w, size_t n, size_t size)
{
    w->limit = w->max;
    for (size_t i = 0; i < n; i++) {
        uint64_t want = w->next;

        assert_true(pe_window_room(w, size));
        assert_int_equal(pe_window_open(w, size), want);
    }
}

/* Answers in any order: the pops follow the oldest acknowledged run. */
static void pops_only_from_the_start(void **state)
{
    struct pe_window w;
    uint64_t seq = 99;

    (void)state;
    pe_window_init(&w, 8, 1000);
    open_n(&w, 4, 10);
    assert_false(pe_window_pop(&w, &seq));
    pe_window_ack(&w, 2);
    pe_window_ack(&w, 1);
    assert_false(pe_window_pop(&w, &seq)); /* 0 is still out */
    assert_int_equal(seq, 99);
    pe_window_ack(&w, 0);
    assert_true(pe_window_pop(&w, &seq));
    assert_int_equal(seq, 0);
    assert_true(pe_window_pop(&w, &seq));
    assert_int_equal(seq, 1);
    assert_true(pe_window_pop(&w, &seq));
    assert_int_equal(seq, 2);
    assert_false(pe_window_pop(&w, &seq)); /* 3 is not acknowledged */
    assert_int_equal(pe_window_open_count(&w), 1);
    assert_int_equal(w.bytes, 10);
    pe_window_ack(&w, 3);
    pe_window_ack(&w, 7); /* never opened: ignored */
    assert_true(pe_window_pop(&w, &seq));
    assert_int_equal(seq, 3);
    assert_false(pe_window_pop(&w, &seq));
    assert_int_equal(w.bytes, 0);
}

/* Sequence numbers wrap around the ring without mixing batches up. */
static void ring_wraps(void **state)
{
    struct pe_window w;
    uint64_t seq;

    (void)state;
    pe_window_init(&w, 3, 1000);
    for (uint64_t i = 0; i < 3 * PE_WINDOW_MAX + 5; i++) {
        open_n(&w, 1, 1);
        assert_false(pe_window_pop(&w, &seq));
        pe_window_ack(&w, i);
        assert_true(pe_window_pop(&w, &seq));
        assert_int_equal(seq, i);
    }
}

/* The limit and the byte budget bound what is open; a batch alone over
 * the budget still goes. */
static void room_counts_batches_and_bytes(void **state)
{
    struct pe_window w;

    (void)state;
    pe_window_init(&w, 3, 100);
    assert_int_equal(w.limit, 3); /* starts at min(PE_WINDOW_START, max) */
    assert_true(pe_window_room(&w, 500)); /* alone */
    open_n(&w, 2, 40);
    assert_false(pe_window_room(&w, 40)); /* 120 > 100 */
    assert_true(pe_window_room(&w, 20));
    pe_window_open(&w, 20);
    assert_false(pe_window_room(&w, 0)); /* 3 = limit */
    pe_window_init(&w, 1000, 100);
    assert_int_equal(w.max, PE_WINDOW_MAX);
    assert_int_equal(w.limit, PE_WINDOW_START);
    pe_window_init(&w, 0, 100);
    assert_int_equal(w.max, 1);
    assert_int_equal(w.limit, 1);
}

/* One batch opened after everything before it, answered at once. */
static long answer(struct pe_window *w, double rtt_ms, bool congested)
{
    uint64_t seq = pe_window_open(w, 1), popped;

    pe_window_ack(w, seq);
    assert_true(pe_window_pop(w, &popped));
    assert_int_equal(popped, seq);
    return pe_window_feedback(w, seq, rtt_ms, congested);
}

/* Only answers whose round trip stayed flat (within half the fastest
 * and 1 ms) grow the window: when each request more makes the others
 * wait longer, more in flight fills nothing. */
static void grows_only_while_flat(void **state)
{
    struct pe_window w;

    (void)state;
    pe_window_init(&w, 16, 1000);
    /* The first window of answers only measures, however slow. */
    pe_window_note_limited(&w);
    assert_int_equal(answer(&w, 30, false), PE_WINDOW_START);
    for (int i = 1; i < PE_WINDOW_START; i++)
        assert_int_equal(answer(&w, 10, false), PE_WINDOW_START);
    assert_true(w.limited);
    assert_int_equal(answer(&w, 10, false), PE_WINDOW_START + 1);
    for (int i = 0; i < 10; i++) {
        pe_window_note_limited(&w);
        assert_int_equal(answer(&w, 16.5, false), PE_WINDOW_START + 1);
    }
    pe_window_note_limited(&w);
    assert_int_equal(answer(&w, 16, false), PE_WINDOW_START + 2);
    /* A faster answer lowers the bar. */
    pe_window_note_limited(&w);
    assert_int_equal(answer(&w, 4, false), PE_WINDOW_START + 3);
    pe_window_note_limited(&w);
    assert_int_equal(answer(&w, 8, false), PE_WINDOW_START + 3);
}

/* Little's law: no more batches in flight than a round trip's worth of
 * the unit's pace, plus one. */
static void grows_no_further_than_the_pipe(void **state)
{
    struct pe_window w;

    (void)state;
    pe_window_init(&w, 16, 1000);
    for (int i = 0; i < PE_WINDOW_START; i++)
        answer(&w, 10, false);
    /* A batch takes 5 ms to make, an answer 10: 3 in flight would do,
     * and the window has 4 already. */
    pe_window_note_gap(&w, 5);
    for (int i = 0; i < 10; i++) {
        pe_window_note_limited(&w);
        assert_int_equal(answer(&w, 10, false), PE_WINDOW_START);
    }
    /* Faster batches: the mean of 5, 0, 0, 0 and 0 ms is 1 ms; up to
     * 10 / 1 + 1 = 11. */
    for (int i = 0; i < 4; i++)
        pe_window_note_gap(&w, 0);
    for (int i = 0; i < 20; i++) {
        pe_window_note_limited(&w);
        answer(&w, 10, false);
    }
    assert_int_equal(w.limit, 11);
}

/* A round trip swollen by a queue is not pipe to fill: after a stall the
 * smoothed round trip stays high for a while, but the pipe counted is at
 * most twice the fastest round trip.  Made every 1 ms, answered in 1 ms:
 * 2 * 1 / 1 + 1 = 3 in flight would do, and the window has 4 already. */
static void a_stall_is_not_pipe(void **state)
{
    struct pe_window w;

    (void)state;
    pe_window_init(&w, 16, 1000);
    pe_window_note_gap(&w, 1);
    for (int i = 0; i < PE_WINDOW_START; i++)
        answer(&w, 1, false);
    /* A stall: answers of 20 ms, neither flat nor rising. */
    for (int i = 0; i < 10; i++)
        answer(&w, 20, false);
    assert_true(w.rtt_ms > 10);
    for (int i = 0; i < 20; i++) {
        pe_window_note_limited(&w);
        assert_int_equal(answer(&w, 1, false), PE_WINDOW_START);
    }
}

/* Once measured, slow start leaps to what the pipe holds: 100 ms round
 * trips, a batch made every 10 ms: 11 in flight, not 4 plus one per
 * answer; never above max; and not when no batch waited for room. */
static void leaps_to_the_pipe(void **state)
{
    struct pe_window w;

    (void)state;
    pe_window_init(&w, 16, 1000);
    pe_window_note_gap(&w, 10);
    pe_window_note_limited(&w);
    for (int i = 1; i < PE_WINDOW_START; i++)
        assert_int_equal(answer(&w, 100, false), PE_WINDOW_START);
    assert_int_equal(answer(&w, 100, false), 11);
    pe_window_init(&w, 8, 1000);
    pe_window_note_gap(&w, 10);
    pe_window_note_limited(&w);
    for (int i = 0; i < PE_WINDOW_START; i++)
        answer(&w, 100, false);
    assert_int_equal(w.limit, 8);
    pe_window_init(&w, 16, 1000);
    pe_window_note_gap(&w, 10);
    for (int i = 0; i < PE_WINDOW_START; i++)
        answer(&w, 100, false);
    assert_int_equal(w.limit, PE_WINDOW_START);
}

/* The 429s of one overfull flight halve the window once; a batch sent
 * after the decrease teaches it again. */
static void one_decrease_per_flight(void **state)
{
    struct pe_window w;
    uint64_t seq[8], popped;

    (void)state;
    pe_window_init(&w, 8, 1000);
    for (int i = 0; i < 20; i++) {
        pe_window_note_limited(&w);
        answer(&w, 20, false);
    }
    assert_int_equal(w.limit, 8);
    for (int i = 0; i < 8; i++)
        seq[i] = pe_window_open(&w, 1);
    /* Answers in any order: the first 429 halves, the others of the
     * flight (clean or not) change nothing. */
    assert_int_equal(pe_window_feedback(&w, seq[5], 20, true), 4);
    for (int i = 0; i < 8; i++) {
        pe_window_ack(&w, seq[i]);
        if (i != 5)
            assert_int_equal(pe_window_feedback(&w, seq[i], 20, i % 2 == 0), 4);
    }
    for (int i = 0; i < 8; i++)
        assert_true(pe_window_pop(&w, &popped));
    assert_int_equal(answer(&w, 20, true), 2);
}

/* Slow start doubles per round trip, congestion halves, then one more
 * per window of clean answers, never above max nor below 1. */
static void aimd(void **state)
{
    struct pe_window w;

    (void)state;
    pe_window_init(&w, 8, 1000);
    /* Never full: a fast sink keeps the window where it starts. */
    for (int i = 0; i < 20; i++)
        answer(&w, 20, false);
    assert_int_equal(w.limit, PE_WINDOW_START);
    for (int i = 0; i < 20; i++) {
        pe_window_note_limited(&w);
        answer(&w, 20, false);
    }
    assert_int_equal(w.limit, 8);
    assert_int_equal(answer(&w, 20, true), 4);
    assert_int_equal(answer(&w, 20, true), 2);
    assert_int_equal(answer(&w, 20, true), 1);
    assert_int_equal(answer(&w, 20, true), 1);
    pe_window_note_limited(&w);
    assert_int_equal(answer(&w, 20, false), 2);
    pe_window_note_limited(&w);
    assert_int_equal(answer(&w, 20, false), 2);
    assert_int_equal(answer(&w, 20, false), 3);
    /* A round trip far above the smoothed one counts as congestion. */
    assert_int_equal(answer(&w, 200, false), 1);
    assert_int_equal(answer(&w, 25, false), 1); /* not full */
    pe_window_note_limited(&w);
    assert_int_equal(answer(&w, 25, false), 2);
    /* Forgetting what is open keeps what was learnt. */
    pe_window_open(&w, 30);
    pe_window_open(&w, 30);
    pe_window_clear(&w);
    assert_int_equal(pe_window_open_count(&w), 0);
    assert_int_equal(w.bytes, 0);
    assert_int_equal(w.limit, 2);
    assert_true(pe_window_room(&w, 1000)); /* alone again */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pops_only_from_the_start),
        cmocka_unit_test(ring_wraps),
        cmocka_unit_test(room_counts_batches_and_bytes),
        cmocka_unit_test(aimd),
        cmocka_unit_test(one_decrease_per_flight),
        cmocka_unit_test(grows_only_while_flat),
        cmocka_unit_test(grows_no_further_than_the_pipe),
        cmocka_unit_test(a_stall_is_not_pipe),
        cmocka_unit_test(leaps_to_the_pipe),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
