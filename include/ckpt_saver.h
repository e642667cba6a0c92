/* SPDX-License-Identifier: MIT
 * ckpt_saver.h - saves one unit's checkpoints in the background, newest
 * first (coalesced), so the next batches are read, encoded and posted
 * while the last acknowledged state is being made durable. */
#ifndef PINEMIT_CKPT_SAVER_H
#define PINEMIT_CKPT_SAVER_H

#include <stdbool.h>
#include <stddef.h>

#include "ckpt_format.h"
#include "util.h"

struct pe_ckpt_store;
struct pe_ckpt_saver; /* opaque */

/* Starts the saver thread for (stream, shard of nshards); NULL when no
 * thread could be started (the caller then saves in its own thread).
 * Writes begin at least interval_ms apart (0: as soon as the last one is
 * done); pe_ckpt_saver_finish writes the last state without waiting.
 * Threading contract: the saver's thread is the only user of `s` until
 * pe_ckpt_saver_finish returns; the calls below come from one thread (the
 * unit's).  A save never waits: while one state is being written the
 * newest one handed over waits, and older waiting ones are dropped (each
 * state holds the ones before it).  After a crash, what was acknowledged
 * since the last completed write is sent again: what was acknowledged
 * during the longer of interval_ms and one write, and one write more. */
struct pe_ckpt_saver *pe_ckpt_saver_start(struct pe_ckpt_store *s,
                                          const char *stream, long shard,
                                          long nshards, long interval_ms);
/* Hands a copy of c over (the caller may change c at once).  Returns the
 * error of an earlier save if one failed, once; c is then not handed
 * over (a later state holds it). */
enum pe_status pe_ckpt_saver_save(struct pe_ckpt_saver *sv,
                                  const struct pe_ckpt_state *c,
                                  struct pe_error *err);
/* Writes done so far (written), or states dropped for a newer one (not
 * written); for tests. */
size_t pe_ckpt_saver_count(struct pe_ckpt_saver *sv, bool written);
/* Waits for the last save, stops the saver and frees it: PE_OK unless a
 * save failed that was not reported yet.  NULL is fine. */
enum pe_status pe_ckpt_saver_finish(struct pe_ckpt_saver *sv,
                                    struct pe_error *err);

#endif
