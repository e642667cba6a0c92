/* SPDX-License-Identifier: MIT
 * test_tracking.c - the pending-transaction state machine, without a
 * database. */
#include "tracking.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void add_xid_keeps_a_sorted_set(void **state)
{
    int64_t *set = NULL;
    size_t n = 0;

    (void)state;
    pe_tracking_add_xid(&set, &n, 10, 30);
    pe_tracking_add_xid(&set, &n, 10, 12);
    pe_tracking_add_xid(&set, &n, 10, 20);
    pe_tracking_add_xid(&set, &n, 10, 20); /* once only */
    pe_tracking_add_xid(&set, &n, 10, 9);  /* below the floor: settled */
    assert_int_equal(n, 3);
    assert_int_equal(set[0], 12);
    assert_int_equal(set[1], 20);
    assert_int_equal(set[2], 30);
    free(set);
}

static void advance_moves_the_key_and_counts_xids(void **state)
{
    struct pe_ckpt_state c;
    const int64_t xids[] = {105, 101, 105};

    (void)state;
    memset(&c, 0, sizeof(c));
    c.floor = 100;
    pe_tracking_advance(&c, false, true, "7", xids, 3);
    assert_string_equal(c.key, "7");
    assert_int_equal(c.n_sent, 2);
    assert_int_equal(c.sent[0], 101);
    assert_int_equal(c.sent[1], 105);
    /* ordered_writer: the key moves, no transaction is counted */
    pe_tracking_advance(&c, false, false, "9", xids, 1);
    assert_string_equal(c.key, "9");
    assert_int_equal(c.n_sent, 2);
    pe_ckpt_state_cleanup(&c);
}

static void late_advance_leaves_the_checkpoint(void **state)
{
    struct pe_ckpt_state c;
    const int64_t xids[] = {102};

    (void)state;
    memset(&c, 0, sizeof(c));
    c.key = pe_xstrdup("50");
    c.floor = 100;
    pe_tracking_advance(&c, true, true, "20", xids, 1);
    assert_string_equal(c.key, "50");
    assert_string_equal(c.late_key, "20");
    assert_int_equal(c.n_late_sent, 1);
    assert_int_equal(c.late_sent[0], 102);
    assert_int_equal(c.n_sent, 0);
    pe_ckpt_state_cleanup(&c);
}

static void classify_says_what_a_transaction_means(void **state)
{
    struct pe_xact_info other = {42, true, 5.0};
    struct pe_xact_info old = {43, false, 301.0};
    struct pe_xact_info young = {44, false, 3.0};

    (void)state;
    assert_int_equal(pe_tracking_classify(&other, 300), PE_TRACKING_IGNORE);
    assert_int_equal(pe_tracking_classify(&old, 300), PE_TRACKING_STALE);
    assert_int_equal(pe_tracking_classify(&young, 300), PE_TRACKING_FLOOR);
}

static void settle_folds_the_late_phase_and_moves_the_floor(void **state)
{
    struct pe_ckpt_state c;
    const int64_t late[] = {103}, sent[] = {101, 110};

    (void)state;
    memset(&c, 0, sizeof(c));
    c.tracked = true;
    c.floor = 100;
    c.key = pe_xstrdup("50");
    pe_tracking_advance(&c, false, true, "50", sent, 2);
    pe_tracking_advance(&c, true, true, "30", late, 1);
    /* first run's snapshot: xmax 120, nothing pending below 105 */
    pe_tracking_settle(&c, 120, 105);
    assert_null(c.late_key);
    assert_int_equal(c.n_late_sent, 0);
    assert_int_equal(c.floor, 105);
    assert_int_equal(c.n_sent, 1); /* 101 and 103 are settled now */
    assert_int_equal(c.sent[0], 110);
    assert_int_equal(c.n_history, 1);
    assert_int_equal(c.history[0].xmax, 120);
    assert_string_equal(c.history[0].key, "50");
    assert_null(c.low); /* no entry at or below the floor yet */
    /* next run: key 80, xmax 140, floor 130: the first entry settles */
    free(c.key);
    c.key = pe_xstrdup("80");
    pe_tracking_settle(&c, 140, 130);
    assert_int_equal(c.n_history, 2);
    assert_string_equal(c.low, "50");
    assert_int_equal(c.n_sent, 0);
    /* a third: only the newest entry at or below the floor stays */
    pe_tracking_settle(&c, 150, 145);
    assert_int_equal(c.n_history, 2);
    assert_int_equal(c.history[0].xmax, 140);
    assert_string_equal(c.low, "80");
    assert_true(c.tracked);
    pe_ckpt_state_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_xid_keeps_a_sorted_set),
        cmocka_unit_test(advance_moves_the_key_and_counts_xids),
        cmocka_unit_test(late_advance_leaves_the_checkpoint),
        cmocka_unit_test(classify_says_what_a_transaction_means),
        cmocka_unit_test(settle_folds_the_late_phase_and_moves_the_floor),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
