/* SPDX-License-Identifier: MIT
 * pool.h - the units of a run (streams x shards), which of them this
 * instance owns (the database store's advisory locks), and the sender
 * threads that send them, each unit through stream.h. */
#ifndef PINEMIT_POOL_H
#define PINEMIT_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "checkpoint.h"
#include "config.h"
#include "deadletter.h"
#include "deliver.h"
#include "opts.h"
#include "sink.h"
#include "source_pg.h"
#include "stream.h"
#include "util.h"

/* The (stream, shard) units of a run, and which this instance owns.  An
 * owned unit's advisory lock lives on senders->src[conn[i]], taken in
 * that connection's session number session[i] (pe_source_session): once
 * the connection has been reset since, the lock may be gone and is taken
 * again before the unit is sent. */
struct pe_units {
    size_t n;
    size_t *stream; /* index into cfg->streams */
    long *shard;
    bool *owned;
    size_t *conn;      /* owned: the sender whose connection holds its lock */
    unsigned *session; /* owned: that connection's session when taken */
};

/* The senders of a run: up to `jobs` units at once, each sender with a
 * database connection of its own.  Which thread uses which connection:
 * src[0] is the run's connection, used by the command's thread (sender 0
 * during a pass; claims, metrics and status between passes); src[k] is
 * sender k's thread's during a pass and the command's thread's between
 * passes (claims take locks on it), never two threads at once.  Without
 * the database store a sender opens its own when first needed and any
 * sender sends any unit; with it, pe_units_claim opens them and a unit is
 * sent only by the sender whose connection holds its lock, so a lost
 * session is noticed by the one sender it matters to (stream.c takes the
 * lock again after reconnecting).  All are kept for the next poll. */
struct pe_senders {
    size_t jobs;
    struct pe_source_opts so;
    struct pe_source *src[PE_MAX_JOBS];
};

/* One pass over the units, shared by its senders.  mu guards taken,
 * failed, worst, the reports and u->owned, u->conn and u->session. */
struct pe_pass {
    const struct pe_app_opts *o;
    const struct pe_deliver_env *env;
    struct pe_ckpt_store *store;
    struct pe_units *u;
    struct pe_sink_plan plan; /* what the sink does: pe_sink_plan */
    bool shared, replay;
    struct pe_stream_report *reports; /* one per configured stream */
    struct pe_senders *senders;
    pthread_mutex_t mu;
    bool *taken; /* per unit: a sender has started it this pass */
    size_t failed;
    enum pe_status worst;
};

/* The delivery settings of config c, writing dead letters to dlq and
 * counting rejections in *rejected (both borrowed). */
void pe_pool_env_init(struct pe_deliver_env *env, const struct pe_config *c,
                      struct pe_dlq *dlq, size_t *rejected);
/* The run's final word: failures first, then dead letters, then a stop. */
enum pe_status pe_pool_finish(enum pe_status worst, size_t failed,
                              const struct pe_dlq *dlq, size_t dead_before,
                              struct pe_error *err);
/* Config errors outrank runtime ones in the exit code. */
enum pe_status pe_pool_worse(enum pe_status a, enum pe_status b);
/* The checkpoint store the config names (create: make it if missing). */
struct pe_ckpt_store *pe_pool_open_store(const struct pe_config *c,
                                         bool create, struct pe_error *err);

/* The selected units (replay: one per stream); pe_units_free gives up
 * the owned ones' locks (s may be NULL when none is owned). */
void pe_units_build(const struct pe_app_opts *o, bool replay,
                    struct pe_units *u);
void pe_units_free(const struct pe_config *c, struct pe_senders *s,
                   struct pe_units *u);
/* Takes free units up to this instance's fair share, lets go of more;
 * each new one's lock on the connection of the sender with the fewest
 * (opening it if needed), for s->jobs senders (pe_pass_begin sets it).
 * A broken connection is reset once; a sender whose reset fails is
 * passed over for another.  Runs between passes, in the command's
 * thread. */
enum pe_status pe_units_claim(const struct pe_app_opts *o,
                              struct pe_senders *s, struct pe_units *u,
                              struct pe_error *err);
/* Closes the senders' own connections (not src[0], the caller's). */
void pe_senders_close(struct pe_senders *s);

/* A pass over u: begin, send (this thread is the first sender), end.
 * plan (copied) says whether units are claimed, how many senders go and
 * whether the progress line is drawn. */
void pe_pass_begin(struct pe_pass *p, const struct pe_app_opts *o,
                   const struct pe_sink_plan *plan,
                   const struct pe_deliver_env *env,
                   struct pe_ckpt_store *store, struct pe_units *u,
                   struct pe_senders *senders, bool replay);
void pe_pass_send_all(struct pe_pass *p);
void pe_pass_end(struct pe_pass *p);

#endif
