/* SPDX-License-Identifier: MIT
 * checkpoint.h - where each stream stands: the last key the proxy
 * acknowledged (and the transaction tracking), per stream and shard, in a
 * store opened by one of the backends (ckpt_file.h: files under state.dir
 * with a run lock; ckpt_db.h: rows of a table shared by instances).
 * Callers ask the store what they need to know (pe_ckpt_shared), never the
 * configuration.
 *
 * Threading: a store is not locked inside.  One thread uses it at a
 * time: the unit that opened it, or that unit's saver (ckpt_saver.h)
 * between pe_ckpt_saver_start and pe_ckpt_saver_finish. */
#ifndef PINEMIT_CHECKPOINT_H
#define PINEMIT_CHECKPOINT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt_db.h"
#include "ckpt_file.h"
#include "ckpt_format.h"
#include "ckpt_saver.h"
#include "util.h"

struct pe_ckpt_store; /* opaque; opened by pe_ckpt_open_config */
struct pe_config;

/* Opens the store the config names (state.store: files under state.dir,
 * or state.table in the source database); create: make it when missing.
 * NULL with err set when it cannot. */
struct pe_ckpt_store *pe_ckpt_open_config(const struct pe_config *c,
                                          bool create, struct pe_error *err);
/* For readers (status): *store as above, or NULL with PE_OK when the
 * store is not made yet and that means "no checkpoint yet" (a state
 * directory before the first run).  A missing checkpoint table is an
 * error (PE_ERR_CONFIG). */
enum pe_status pe_ckpt_open_existing(const struct pe_config *c,
                                     struct pe_ckpt_store **store,
                                     struct pe_error *err);
/* For check: could a run use the store the config names?  Creates and
 * keeps nothing.  `what` gets its directory or table, with " (created by
 * the first run)" when it is not there yet (*exists false).  PE_ERR_CONFIG
 * when a run could not use it (a table it may not create, read or write,
 * or of other columns); PE_ERR_DB when the database is unreachable; PE_ERR_IO for a
 * directory it cannot write. */
enum pe_status pe_ckpt_check(const struct pe_config *c, char *what,
                             size_t len, bool *exists, struct pe_error *err);

void pe_ckpt_close(struct pe_ckpt_store *s); /* releases the lock; NULL ok */

/* Shared between instances: each unit is owned through the source's
 * advisory locks (the store has no run lock of its own). */
bool pe_ckpt_shared(const struct pe_ckpt_store *s);

/* The store's directory or table, for messages. */
const char *pe_ckpt_name(const struct pe_ckpt_store *s);
/* Names one checkpoint as load errors do (caller frees): the file, or the
 * table with stream and shard. */
char *pe_ckpt_where(const struct pe_ckpt_store *s, const char *stream,
                    long shard, long nshards);

/* Takes the run lock of a store that is not shared, waiting up to wait_ms
 * (0: not at all) unless *stop becomes set.  PE_ERR_LOCKED, naming the
 * holder, when another process still holds it.  PE_OK at once for a
 * shared store. */
enum pe_status pe_ckpt_lock(struct pe_ckpt_store *s, long wait_ms,
                            const volatile sig_atomic_t *stop,
                            struct pe_error *err);

/* Loads where shard `shard` of a stream split in nshards stands (nshards
 * 1: the whole stream); all zero when it has no checkpoint yet.
 * PE_ERR_CONFIG naming the checkpoint when it is damaged: never silently
 * start again from zero. */
enum pe_status pe_ckpt_load_shard(struct pe_ckpt_store *s, const char *stream,
                                  long shard, long nshards,
                                  struct pe_ckpt_state *out,
                                  struct pe_error *err);
/* Durably replaces it: readers see the old or the new state. */
enum pe_status pe_ckpt_save_shard(struct pe_ckpt_store *s, const char *stream,
                                  long shard, long nshards,
                                  const struct pe_ckpt_state *c,
                                  struct pe_error *err);

#endif
