/* SPDX-License-Identifier: MIT
 * checkpoint.h - where each stream stands: the last key the proxy
 * acknowledged, one small JSON file per stream under state.dir, replaced
 * atomically; plus the lock that keeps two runs apart.
 * The store is behind this interface so a database store can join later. */
#ifndef PINEMIT_CHECKPOINT_H
#define PINEMIT_CHECKPOINT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct pe_ckpt_store; /* opaque */

/* Opens the file store in `dir`.  With `create`, makes the directory
 * (mode 0750) when missing. */
struct pe_ckpt_store *pe_ckpt_open(const char *dir, bool create,
                                   struct pe_error *err);
void pe_ckpt_close(struct pe_ckpt_store *s); /* releases the lock too */
/* The database store: checkpoints as rows (stream, shard, state jsonb) of
 * `table` ("schema.table") in the source database, each saved in a short
 * transaction of its own on a connection of the store's.  With create,
 * makes the table (and schema) when missing; PE_ERR_CONFIG naming the
 * table when the role may not. */
struct pe_ckpt_store *pe_ckpt_open_db(const char *conninfo, long timeout_s,
                                      const char *table, bool create,
                                      struct pe_error *err);
/* For `check`: can a run use `dir`?  *exists tells whether it is there yet
 * (a run creates it when its parent is writable). */
enum pe_status pe_ckpt_probe(const char *dir, bool *exists,
                             struct pe_error *err);

/* Takes the run lock (dir/pinemit.lock, flock), waiting up to wait_ms
 * (0: not at all) unless *stop becomes set.  PE_ERR_LOCKED, naming the
 * holder's pid, when another process still holds it.  The kernel releases
 * the lock when the holder dies. */
enum pe_status pe_ckpt_lock(struct pe_ckpt_store *s, long wait_ms,
                            const volatile sig_atomic_t *stop,
                            struct pe_error *err);

/* Where a stream stands when it tracks transactions (the no-row-left-
 * behind reads; see source_pg.h).  Transaction ids are 64-bit (xid8). */
struct pe_ckpt_history {
    int64_t xmax; /* a run's snapshot xmax */
    char *key;    /* the checkpoint key when that run started; NULL = none */
};

struct pe_ckpt_state {
    char *key;       /* last key sent or dead-lettered; NULL = none yet */
    bool tracked;    /* the fields below are meaningful */
    int64_t floor;   /* transactions below this are settled */
    char *low;       /* rows of unsettled transactions have keys > low;
                        NULL = no lower bound known */
    int64_t *sent;   /* transactions >= floor whose rows were all sent */
    size_t n_sent;
    /* While rows below the checkpoint are being sent: those up to
     * late_key from transactions late_sent[] are sent (NULL: none). */
    char *late_key;
    int64_t *late_sent;
    size_t n_late_sent;
    struct pe_ckpt_history *history;
    size_t n_history;
};

void pe_ckpt_state_cleanup(struct pe_ckpt_state *c);
/* Loads the whole state.  A file from an older version (a key only) loads
 * with tracked = false. */
enum pe_status pe_ckpt_load_state(struct pe_ckpt_store *s, const char *stream,
                                  struct pe_ckpt_state *out,
                                  struct pe_error *err);
enum pe_status pe_ckpt_save_state(struct pe_ckpt_store *s, const char *stream,
                                  const struct pe_ckpt_state *c,
                                  struct pe_error *err);
/* The same for shard `shard` of a stream split in nshards (files are
 * "<stream>.<shard>.checkpoint" when nshards > 1). */
enum pe_status pe_ckpt_load_shard(struct pe_ckpt_store *s, const char *stream,
                                  long shard, long nshards,
                                  struct pe_ckpt_state *out,
                                  struct pe_error *err);
enum pe_status pe_ckpt_save_shard(struct pe_ckpt_store *s, const char *stream,
                                  long shard, long nshards,
                                  const struct pe_ckpt_state *c,
                                  struct pe_error *err);

/* Saves in the background, one unit's states in order, so the next batch
 * is read, encoded and posted while the last acknowledged one is being
 * made durable.  A save waits for the one before it: at most one state
 * is acknowledged but not yet durable when the next batch goes out.  The
 * store must not be used otherwise until pe_ckpt_saver_finish. */
struct pe_ckpt_saver;

struct pe_ckpt_saver *pe_ckpt_saver_start(struct pe_ckpt_store *s,
                                          const char *stream, long shard,
                                          long nshards);
/* Hands a copy of c over (the caller may change c at once).  Returns the
 * error of an earlier save if one failed, once; c is then not handed
 * over (a later state holds it). */
enum pe_status pe_ckpt_saver_save(struct pe_ckpt_saver *sv,
                                  const struct pe_ckpt_state *c,
                                  struct pe_error *err);
/* Waits for the last save, stops the saver and frees it: PE_OK unless a
 * save failed that was not reported yet. */
enum pe_status pe_ckpt_saver_finish(struct pe_ckpt_saver *sv,
                                    struct pe_error *err);

/* *key receives the stored key (caller frees), or NULL when the stream has
 * no checkpoint yet.  PE_ERR_CONFIG naming the file when it is damaged:
 * never silently start again from zero. */
enum pe_status pe_ckpt_load(struct pe_ckpt_store *s, const char *stream,
                            char **key, struct pe_error *err);
/* Durably replaces the stream's checkpoint: temp file, fsync, rename,
 * fsync of the directory.  Readers see the old or the new file. */
enum pe_status pe_ckpt_save(struct pe_ckpt_store *s, const char *stream,
                            const char *key, struct pe_error *err);
/* The file that holds a stream's checkpoint (caller frees). */
char *pe_ckpt_path(const struct pe_ckpt_store *s, const char *stream);

#endif
