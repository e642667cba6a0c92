/* SPDX-License-Identifier: MIT
 * tracking.c - owns the rules that move a tracked stream's state (sent
 * transactions, floor, history, low key).  Pure: it must not query the
 * database, log, save a checkpoint or know a sink. */
#include "tracking.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void pe_tracking_add_xid(int64_t **set, size_t *n, int64_t floor,
                         int64_t xid)
{
    size_t lo = 0, hi = *n;

    if (xid < floor)
        return;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if ((*set)[mid] < xid)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < *n && (*set)[lo] == xid)
        return;
    *set = pe_xrealloc(*set, (*n + 1) * sizeof(**set));
    memmove(*set + lo + 1, *set + lo, (*n - lo) * sizeof(int64_t));
    (*set)[lo] = xid;
    (*n)++;
}

void pe_tracking_advance(struct pe_ckpt_state *c, bool late, bool tracked,
                         const char *key, const int64_t *xids, size_t n)
{
    if (late) {
        /* A late transaction may have more rows further up the range:
         * it counts as sent only up to this key, until the late scan is
         * over (settle). */
        for (size_t i = 0; i < n; i++)
            pe_tracking_add_xid(&c->late_sent, &c->n_late_sent, c->floor,
                                xids[i]);
        free(c->late_key);
        c->late_key = pe_xstrdup(key);
    } else {
        if (tracked)
            for (size_t i = 0; i < n; i++)
                pe_tracking_add_xid(&c->sent, &c->n_sent, c->floor, xids[i]);
        free(c->key);
        c->key = pe_xstrdup(key);
    }
}

enum pe_tracking_xact pe_tracking_classify(const struct pe_xact_info *info,
                                           long max_age_s)
{
    if (info->other_database)
        return PE_TRACKING_IGNORE;
    if (info->age_s > (double)max_age_s)
        return PE_TRACKING_STALE;
    return PE_TRACKING_FLOOR;
}

void pe_tracking_settle(struct pe_ckpt_state *c, int64_t xmax, int64_t floor)
{
    size_t keep = 0, first = 0;

    /* The late scan is over: its transactions' rows are all sent. */
    for (size_t i = 0; i < c->n_late_sent; i++)
        pe_tracking_add_xid(&c->sent, &c->n_sent, c->floor, c->late_sent[i]);
    free(c->late_sent);
    c->late_sent = NULL;
    c->n_late_sent = 0;
    free(c->late_key);
    c->late_key = NULL;
    /* This run's entry: transactions that get an id from now on took
     * their keys after the previous run's snapshot, so above the key this
     * run starts from (one run of margin: a key is taken a moment before
     * the inserting transaction gets its id). */
    c->history = pe_xrealloc(c->history,
                             (c->n_history + 1) * sizeof(*c->history));
    c->history[c->n_history].xmax = xmax;
    c->history[c->n_history].key = c->key ? pe_xstrdup(c->key) : NULL;
    c->n_history++;
    /* Only the newest entry at or below the floor still matters. */
    while (first + 1 < c->n_history && c->history[first + 1].xmax <= floor)
        first++;
    for (size_t i = 0; i < first; i++)
        free(c->history[i].key);
    memmove(c->history, c->history + first,
            (c->n_history - first) * sizeof(*c->history));
    c->n_history -= first;
    free(c->low);
    c->low = c->history[0].xmax <= floor && c->history[0].key
                 ? pe_xstrdup(c->history[0].key)
                 : NULL;
    for (size_t i = 0; i < c->n_sent; i++)
        if (c->sent[i] >= floor)
            c->sent[keep++] = c->sent[i];
    c->n_sent = keep;
    c->floor = floor;
    c->tracked = true;
}
