/* SPDX-License-Identifier: MIT
 * ckpt_saver.c - the background checkpoint saver: one thread per unit,
 * one state being written and one waiting (the newest handed over; older
 * waiting ones are dropped: coalesced).  Owns its thread, mutex and those
 * texts; must not know which kind of store it writes to (it writes
 * printed text through checkpoint.c) nor read checkpoints. */
#include "ckpt_saver.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "ckpt_backend.h"
#include "log.h"

/* mu guards next, busy, quit, written, skipped, st and err.  A state is
 * only handed over once acknowledged, and each state holds every earlier
 * one (the checkpoint only moves forward), so writing the newest waiting
 * state and dropping older ones loses nothing but writes. */
struct pe_ckpt_saver {
    struct pe_ckpt_store *store;
    char *stream;
    long shard, nshards;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *next; /* the newest state not yet being written (owned) */
    bool busy;  /* a state is being written */
    bool quit;
    long interval_ms;          /* the least time from one write to the next */
    struct timespec last;      /* when the last write began (monotonic) */
    size_t written, skipped; /* states written; dropped for a newer one */
    enum pe_status st; /* the first failure */
    struct pe_error err;
};

/* Lets interval_ms pass since the last write began (mu held), unless the
 * unit is finishing: the states handed over meanwhile are coalesced. */
static void pause_locked(struct pe_ckpt_saver *sv)
{
    struct timespec until = sv->last;

    if (sv->interval_ms <= 0 || (until.tv_sec == 0 && until.tv_nsec == 0))
        return;
    until.tv_sec += sv->interval_ms / 1000;
    until.tv_nsec += (sv->interval_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!sv->quit &&
           pthread_cond_timedwait(&sv->cv, &sv->mu, &until) != ETIMEDOUT)
        ;
}

static void *saver_main(void *arg)
{
    struct pe_ckpt_saver *sv = arg;

    pthread_mutex_lock(&sv->mu);
    for (;;) {
        struct pe_error e;
        enum pe_status st;

        char *text;

        while (sv->next == NULL && !sv->quit)
            pthread_cond_wait(&sv->cv, &sv->mu);
        if (sv->next == NULL)
            break; /* quit, nothing left */
        pause_locked(sv);
        text = sv->next;
        sv->next = NULL;
        sv->busy = true;
        clock_gettime(CLOCK_MONOTONIC, &sv->last);
        pthread_mutex_unlock(&sv->mu);
        pe_error_clear(&e);
        st = pe_ckpt_write_text(sv->store, sv->stream, sv->shard,
                                sv->nshards, text, &e);
        free(text);
        pthread_mutex_lock(&sv->mu);
        if (st != PE_OK && sv->st == PE_OK) {
            sv->st = st;
            sv->err = e;
        }
        sv->written++;
        sv->busy = false;
        pthread_cond_broadcast(&sv->cv);
    }
    pthread_mutex_unlock(&sv->mu);
    return NULL;
}

struct pe_ckpt_saver *pe_ckpt_saver_start(struct pe_ckpt_store *s,
                                          const char *stream, long shard,
                                          long nshards, long interval_ms)
{
    struct pe_ckpt_saver *sv = pe_xcalloc(1, sizeof(*sv));
    pthread_condattr_t ca;

    sv->store = s;
    sv->stream = pe_xstrdup(stream);
    sv->shard = shard;
    sv->nshards = nshards;
    sv->interval_ms = interval_ms;
    pthread_mutex_init(&sv->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sv->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&sv->thread, NULL, saver_main, sv) != 0) {
        pthread_cond_destroy(&sv->cv);
        pthread_mutex_destroy(&sv->mu);
        free(sv->stream);
        free(sv);
        return NULL; /* the caller saves in its own thread */
    }
    return sv;
}

/* Waits until the saver has written everything handed over; mu held. */
static void saver_wait(struct pe_ckpt_saver *sv)
{
    while (sv->busy || sv->next != NULL)
        pthread_cond_wait(&sv->cv, &sv->mu);
}

enum pe_status pe_ckpt_saver_save(struct pe_ckpt_saver *sv,
                                  const struct pe_ckpt_state *c,
                                  struct pe_error *err)
{
    char *text = pe_ckpt_format_print(sv->stream, c);
    enum pe_status st;

    pthread_mutex_lock(&sv->mu);
    st = sv->st;
    if (st == PE_OK) {
        /* Never waits: a state still waiting is older than this one.  The
         * saver waits for a state only while none is waiting: wake it
         * then, not for every one (it may be pausing). */
        if (sv->next != NULL) {
            free(sv->next);
            sv->skipped++;
        } else {
            pthread_cond_broadcast(&sv->cv);
        }
        sv->next = text;
    } else {
        /* Reported once: the caller may recover (a database store
         * reconnects) and hand over a later state, which holds this one. */
        *err = sv->err;
        sv->st = PE_OK;
        free(text);
    }
    pthread_mutex_unlock(&sv->mu);
    return st;
}

enum pe_status pe_ckpt_saver_finish(struct pe_ckpt_saver *sv,
                                    struct pe_error *err)
{
    enum pe_status st;

    if (sv == NULL)
        return PE_OK;
    pthread_mutex_lock(&sv->mu);
    sv->quit = true; /* the last state is written without a pause */
    pthread_cond_broadcast(&sv->cv);
    saver_wait(sv);
    st = sv->st;
    if (st != PE_OK && err != NULL)
        *err = sv->err;
    pthread_mutex_unlock(&sv->mu);
    pthread_join(sv->thread, NULL);
    pe_log(PE_LOG_DEBUG,
           "stream %s: %zu checkpoint saves written, %zu coalesced",
           sv->stream, sv->written, sv->skipped);
    pthread_cond_destroy(&sv->cv);
    pthread_mutex_destroy(&sv->mu);
    free(sv->stream);
    free(sv);
    return st;
}

size_t pe_ckpt_saver_count(struct pe_ckpt_saver *sv, bool written)
{
    size_t n;

    pthread_mutex_lock(&sv->mu);
    n = written ? sv->written : sv->skipped;
    pthread_mutex_unlock(&sv->mu);
    return n;
}
